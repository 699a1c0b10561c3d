/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rbd bdev module: Ceph RBD images through librbd. Blocking librados/librbd calls (connect,
 * open, close, resize, shutdown) run on one worker pthread; their results come back to the
 * caller's usk thread as messages. I/O is librbd aio: librbd completes it on its own threads,
 * which only store the result and push the task onto the submitting channel's lockless MPSC
 * ring (plus an eventfd kick in interrupt mode); the bdev_io is completed by the channel's
 * poller or interrupt handler on the channel's thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "usk/bdev_module.h"
#include "usk/env.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "usk/util.h"

#include "rbd.h"

/* Most I/O a channel has at librbd at once (more completes as NOMEM and is retried). */
#define RBD_CHANNEL_DEPTH 1024
/* Completion ring: room for every in-flight task, so a librbd thread never finds it full. */
#define RBD_RING_SIZE (2 * RBD_CHANNEL_DEPTH)
#define RBD_REAP_BATCH 64
#define RBD_ERR_LEN 512

/* ---------------------------------------------------------------- worker thread */

/*
 * One blocking job: work(ctx) on the worker, then done(ctx) on thread. Jobs run in FIFO
 * order, so a job queued after others (module fini) runs once they are over.
 */
struct rbd_job {
	void (*work)(void *ctx);
	usk_msg_fn done;
	void *ctx;
	struct usk_thread *thread;
	STAILQ_ENTRY(rbd_job) link;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	STAILQ_HEAD(, rbd_job) jobs;
	pthread_t tid;
	bool running;
	bool stop;
} g_worker = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.jobs = STAILQ_HEAD_INITIALIZER(g_worker.jobs),
};

/*
 * The worker is started from a reactor, pinned to its core; librados and librbd threads are
 * started from the worker (connect, open) and inherit its affinity. Unpin it, as SPDK's
 * spdk_call_unaffinitized does: librbd's threads pinned to the reactor's core would get only
 * what the busy-polling reactor leaves (measured: 33 IOPS at QD 1). core_mask narrows it again.
 */
static void
worker_unaffinitize(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	cpu_set_t all;

	CPU_ZERO(&all);
	for (long i = 0; i < ncpu && i < CPU_SETSIZE; i++) {
		CPU_SET(i, &all);
	}
	if (pthread_setaffinity_np(pthread_self(), sizeof(all), &all) != 0) {
		USK_WARNLOG("rbd: cannot unpin the worker thread; librbd's threads share its cores\n");
	}
}

static void *
worker_main(void *arg)
{
	struct rbd_job *job;

	(void)arg;
	worker_unaffinitize();
	pthread_mutex_lock(&g_worker.lock);
	for (;;) {
		while (STAILQ_EMPTY(&g_worker.jobs) && !g_worker.stop) {
			pthread_cond_wait(&g_worker.cond, &g_worker.lock);
		}
		job = STAILQ_FIRST(&g_worker.jobs);
		if (job == NULL) {
			break;
		}
		STAILQ_REMOVE_HEAD(&g_worker.jobs, link);
		pthread_mutex_unlock(&g_worker.lock);
		job->work(job->ctx);
		if (usk_thread_send_msg(job->thread, job->done, job->ctx) != 0) {
			USK_ERRLOG("rbd: cannot hand a finished job back to thread %s\n",
				   usk_thread_get_name(job->thread));
		}
		free(job);
		pthread_mutex_lock(&g_worker.lock);
	}
	pthread_mutex_unlock(&g_worker.lock);
	return NULL;
}

/* Queue work(ctx) on the worker; done(ctx) then runs on the calling usk thread. 0 or -errno. */
static int
worker_submit(void (*work)(void *ctx), usk_msg_fn done, void *ctx)
{
	struct rbd_job *job = calloc(1, sizeof(*job));
	int rc = 0;

	if (job == NULL) {
		return -ENOMEM;
	}
	job->work = work;
	job->done = done;
	job->ctx = ctx;
	job->thread = usk_get_thread();
	pthread_mutex_lock(&g_worker.lock);
	if (!g_worker.running) {
		g_worker.stop = false;
		rc = -pthread_create(&g_worker.tid, NULL, worker_main, NULL);
		if (rc == 0) {
			pthread_setname_np(g_worker.tid, "usk_rbd_worker");
			g_worker.running = true;
		}
	}
	if (rc == 0) {
		STAILQ_INSERT_TAIL(&g_worker.jobs, job, link);
		pthread_cond_signal(&g_worker.cond);
	}
	pthread_mutex_unlock(&g_worker.lock);
	if (rc != 0) {
		USK_ERRLOG("rbd: cannot start the worker thread: %s\n", strerror(-rc));
		free(job);
	}
	return rc;
}

static void
worker_stop(void)
{
	pthread_mutex_lock(&g_worker.lock);
	if (!g_worker.running) {
		pthread_mutex_unlock(&g_worker.lock);
		return;
	}
	g_worker.stop = true;
	pthread_cond_signal(&g_worker.cond);
	pthread_mutex_unlock(&g_worker.lock);
	pthread_join(g_worker.tid, NULL);
	g_worker.running = false;
}

/* ---------------------------------------------------------------- connections */

enum rbd_cluster_state {
	RBD_CLUSTER_CONNECTING,
	RBD_CLUSTER_READY,
	RBD_CLUSTER_CLOSING,
};

/* A registered cluster. App thread only, except rados (thread-safe) and the worker's connect. */
struct rbd_cluster {
	char *name;
	char *user_id;
	json_t *config; /* object of strings, or NULL */
	char *config_file;
	char *key_file;
	char *core_mask;
	rados_t rados;
	enum rbd_cluster_state state;
	uint32_t refcnt; /* bdevs on it */
	/* Pending register / unregister. */
	usk_rbd_cb cb;
	void *cb_arg;
	int rc;
	char err[RBD_ERR_LEN];
	TAILQ_ENTRY(rbd_cluster) link;
};

static TAILQ_HEAD(, rbd_cluster) g_clusters = TAILQ_HEAD_INITIALIZER(g_clusters);

static struct rbd_cluster *
cluster_find(const char *name)
{
	struct rbd_cluster *c;

	TAILQ_FOREACH(c, &g_clusters, link) {
		if (strcmp(c->name, name) == 0) {
			return c;
		}
	}
	return NULL;
}

static int
parse_core_mask(const char *mask, cpu_set_t *set)
{
	const char *p = mask;
	size_t len;
	int bit = 0;

	CPU_ZERO(set);
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
	}
	len = strlen(p);
	if (len == 0 || len > 64) {
		return -EINVAL;
	}
	for (size_t i = len; i-- > 0; bit += 4) {
		int v;
		char ch = p[i];

		if (ch >= '0' && ch <= '9') {
			v = ch - '0';
		} else if (ch >= 'a' && ch <= 'f') {
			v = ch - 'a' + 10;
		} else if (ch >= 'A' && ch <= 'F') {
			v = ch - 'A' + 10;
		} else {
			return -EINVAL;
		}
		for (int b = 0; b < 4; b++) {
			if (v & (1 << b)) {
				CPU_SET(bit + b, set);
			}
		}
	}
	return CPU_COUNT(set) > 0 ? 0 : -EINVAL;
}

/* Set key to value unless the config file or the caller's map already changed it. */
static void
conf_default(rados_t r, const char *key, double builtin, const char *value)
{
	char cur[64];

	/* librados prints seconds as "300" or "300.000000" depending on the option type. */
	if (rados_conf_get(r, key, cur, sizeof(cur)) == 0 && strtod(cur, NULL) != builtin) {
		return;
	}
	rados_conf_set(r, key, value);
}

/*
 * Create and connect a librados handle (worker thread). who names it in err ("cluster 'c1'"
 * or "bdev 'Ceph0'"). Returns 0 or -errno with err set.
 */
static int
rados_connect_opts(rados_t *out, const char *who, const char *user_id, const json_t *config,
		   const char *config_file, const char *key_file, const char *core_mask, char *err,
		   size_t err_len)
{
	rados_t r;
	const char *key;
	json_t *val;
	cpu_set_t old_set, set;
	bool pinned = false;
	char mon_host[256] = "";
	int rc;

	rc = rados_create(&r, user_id);
	if (rc < 0) {
		snprintf(err, err_len, "%s: rados_create: %s", who, strerror(-rc));
		return rc;
	}
	if (config_file != NULL) {
		rc = rados_conf_read_file(r, config_file);
		if (rc < 0) {
			snprintf(err, err_len, "%s: config_file '%s': %s", who, config_file,
				 strerror(-rc));
			goto err_shutdown;
		}
	} else if (config == NULL) {
		/* The default search path, as librados' own tools do; no file is not an error. */
		rados_conf_read_file(r, NULL);
	}
	if (key_file != NULL) {
		rc = rados_conf_set(r, "keyring", key_file);
		if (rc < 0) {
			snprintf(err, err_len, "%s: key_file '%s': %s", who, key_file, strerror(-rc));
			goto err_shutdown;
		}
	}
	json_object_foreach((json_t *)config, key, val) {
		rc = rados_conf_set(r, key, json_string_value(val));
		if (rc < 0) {
			snprintf(err, err_len, "%s: config key '%s': %s", who, key, strerror(-rc));
			goto err_shutdown;
		}
	}
	conf_default(r, "client_mount_timeout", 300, USK_RBD_DEFAULT_MOUNT_TIMEOUT);
	conf_default(r, "rados_mon_op_timeout", 0, USK_RBD_DEFAULT_MON_OP_TIMEOUT);
	conf_default(r, "rados_osd_op_timeout", 0, USK_RBD_DEFAULT_OSD_OP_TIMEOUT);
	if (core_mask != NULL) {
		/* librados' threads, started by connect, inherit the affinity of this thread. */
		if (parse_core_mask(core_mask, &set) == 0 &&
		    pthread_getaffinity_np(pthread_self(), sizeof(old_set), &old_set) == 0 &&
		    pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0) {
			pinned = true;
		} else {
			USK_WARNLOG("rbd: %s: cannot apply core_mask %s\n", who, core_mask);
		}
	}
	rc = rados_connect(r);
	if (pinned) {
		pthread_setaffinity_np(pthread_self(), sizeof(old_set), &old_set);
	}
	if (rc < 0) {
		rados_conf_get(r, "mon_host", mon_host, sizeof(mon_host));
		snprintf(err, err_len, "%s: cannot connect to the cluster (mon_host '%s'): %s", who,
			 mon_host, strerror(-rc));
		goto err_shutdown;
	}
	*out = r;
	return 0;

err_shutdown:
	rados_shutdown(r);
	return rc;
}

static void
cluster_free(struct rbd_cluster *c)
{
	free(c->name);
	free(c->user_id);
	json_decref(c->config);
	free(c->config_file);
	free(c->key_file);
	free(c->core_mask);
	free(c);
}

static void
cluster_connect_work(void *ctx)
{
	struct rbd_cluster *c = ctx;
	char who[300];

	snprintf(who, sizeof(who), "cluster '%s'", c->name);
	c->rc = rados_connect_opts(&c->rados, who, c->user_id, c->config, c->config_file,
				   c->key_file, c->core_mask, c->err, sizeof(c->err));
}

static void
cluster_connect_done(void *ctx)
{
	struct rbd_cluster *c = ctx;
	usk_rbd_cb cb = c->cb;
	void *cb_arg = c->cb_arg;
	int rc = c->rc;
	char err[RBD_ERR_LEN];

	snprintf(err, sizeof(err), "%s", c->err);
	if (rc != 0) {
		USK_ERRLOG("rbd: %s\n", err);
		TAILQ_REMOVE(&g_clusters, c, link);
		cluster_free(c);
	} else {
		c->state = RBD_CLUSTER_READY;
		USK_NOTICELOG("rbd: cluster '%s' connected\n", c->name);
	}
	cb(cb_arg, rc, err);
}

static char *
strdup_opt(const char *s, bool *fail)
{
	char *d;

	if (s == NULL) {
		return NULL;
	}
	d = strdup(s);
	if (d == NULL) {
		*fail = true;
	}
	return d;
}

int
usk_rbd_register_cluster(const struct usk_rbd_cluster_opts *opts, usk_rbd_cb cb, void *cb_arg)
{
	struct rbd_cluster *c;
	cpu_set_t set;
	bool fail = false;
	int rc;

	if (opts->name == NULL || opts->name[0] == '\0') {
		return -EINVAL;
	}
	if (opts->core_mask != NULL && parse_core_mask(opts->core_mask, &set) != 0) {
		return -EINVAL;
	}
	if (cluster_find(opts->name) != NULL) {
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return -ENOMEM;
	}
	c->name = strdup_opt(opts->name, &fail);
	c->user_id = strdup_opt(opts->user_id, &fail);
	c->config_file = strdup_opt(opts->config_file, &fail);
	c->key_file = strdup_opt(opts->key_file, &fail);
	c->core_mask = strdup_opt(opts->core_mask, &fail);
	c->config = opts->config ? json_deep_copy(opts->config) : NULL;
	if (fail || (opts->config && c->config == NULL)) {
		cluster_free(c);
		return -ENOMEM;
	}
	c->state = RBD_CLUSTER_CONNECTING;
	c->cb = cb;
	c->cb_arg = cb_arg;
	rc = worker_submit(cluster_connect_work, cluster_connect_done, c);
	if (rc != 0) {
		cluster_free(c);
		return rc;
	}
	/* Listed while connecting so the name stays reserved. */
	TAILQ_INSERT_TAIL(&g_clusters, c, link);
	return 0;
}

static void
cluster_shutdown_work(void *ctx)
{
	struct rbd_cluster *c = ctx;

	rados_shutdown(c->rados);
}

static void
cluster_shutdown_done(void *ctx)
{
	struct rbd_cluster *c = ctx;
	usk_rbd_cb cb = c->cb;
	void *cb_arg = c->cb_arg;

	USK_NOTICELOG("rbd: cluster '%s' disconnected\n", c->name);
	cluster_free(c);
	if (cb != NULL) {
		cb(cb_arg, 0, "");
	}
}

int
usk_rbd_unregister_cluster(const char *name, usk_rbd_cb cb, void *cb_arg)
{
	struct rbd_cluster *c = cluster_find(name);
	int rc;

	if (c == NULL) {
		return -ENOENT;
	}
	if (c->state != RBD_CLUSTER_READY || c->refcnt != 0) {
		return -EBUSY;
	}
	c->state = RBD_CLUSTER_CLOSING;
	c->cb = cb;
	c->cb_arg = cb_arg;
	rc = worker_submit(cluster_shutdown_work, cluster_shutdown_done, c);
	if (rc != 0) {
		c->state = RBD_CLUSTER_READY;
		return rc;
	}
	TAILQ_REMOVE(&g_clusters, c, link);
	return 0;
}

static json_t *
cluster_info(const struct rbd_cluster *c)
{
	json_t *o = json_pack("{s:s}", "cluster_name", c->name);

	if (c->user_id) {
		json_object_set_new(o, "user_id", json_string(c->user_id));
	}
	if (c->config) {
		json_object_set(o, "config_param", c->config);
	}
	if (c->config_file) {
		json_object_set_new(o, "config_file", json_string(c->config_file));
	}
	if (c->key_file) {
		json_object_set_new(o, "key_file", json_string(c->key_file));
	}
	if (c->core_mask) {
		json_object_set_new(o, "core_mask", json_string(c->core_mask));
	}
	return o;
}

json_t *
usk_rbd_get_clusters_info(const char *name)
{
	struct rbd_cluster *c;
	json_t *arr;

	if (name != NULL) {
		c = cluster_find(name);
		if (c == NULL || c->state == RBD_CLUSTER_CONNECTING) {
			return NULL;
		}
		return cluster_info(c);
	}
	arr = json_array();
	TAILQ_FOREACH(c, &g_clusters, link) {
		if (c->state != RBD_CLUSTER_CONNECTING) {
			json_array_append_new(arr, cluster_info(c));
		}
	}
	return arr;
}

/* ---------------------------------------------------------------- bdev and channels */

/*
 * Completion queue of one channel: librbd threads push finished tasks (MPSC), the channel's
 * thread pops them. Allocated apart from the channel so that a channel destroyed with I/O
 * still at librbd (which the bdev layer does not do) leaves librbd nothing freed to write to:
 * the queue is then parked on the disk until the image is closed.
 */
struct rbd_cq {
	struct usk_ring *ring;
	int efd; /* -1 in polled mode */
	TAILQ_ENTRY(rbd_cq) link;
};

struct rbd_disk {
	struct usk_bdev bdev;
	char *pool_name;
	char *rbd_name;
	char *user_id;
	json_t *config;
	struct rbd_cluster *cluster; /* shared connection, or NULL: own rados */
	rados_t rados;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	uint64_t size; /* bytes, as last read */
	struct usk_thread *app_thread; /* where create ran: lifecycle and watch messages go there */
	uint64_t watch_handle;
	bool watching;
	atomic_bool watch_pending; /* a look at a header update is queued (librbd / worker) */
	/* Create / resize / delete in progress (app thread). */
	void *cb;
	void *cb_arg;
	int rc;
	uint64_t new_size;
	char err[RBD_ERR_LEN];
	pthread_mutex_t orphan_lock;
	TAILQ_HEAD(, rbd_cq) orphans;
	TAILQ_ENTRY(rbd_disk) link;
};

struct rbd_channel {
	struct rbd_disk *disk;
	struct rbd_cq *cq;
	uint32_t inflight;
	bool intr_mode;
	struct usk_poller *poller;
	struct usk_interrupt *intr;
};

/* Per-I/O context in bdev_io->driver_ctx. */
struct rbd_task {
	struct rbd_cq *cq;
	ssize_t rc;      /* librbd's return value, written by a librbd thread before the push */
	uint64_t expect; /* bytes a read must return (0: any non-negative value) */
};

static TAILQ_HEAD(, rbd_disk) g_disks = TAILQ_HEAD_INITIALIZER(g_disks);
static uint32_t g_disk_seq;

static int rbd_module_init(void);
static void rbd_module_fini(void);
static int rbd_config_json(json_t *config_array);
static int rbd_get_ctx_size(void);

static struct usk_bdev_module g_rbd_if = {
	.name = "rbd",
	.module_init = rbd_module_init,
	.module_fini = rbd_module_fini,
	.config_json = rbd_config_json,
	.get_ctx_size = rbd_get_ctx_size,
	.async_fini = true,
};
USK_BDEV_MODULE_REGISTER(rbd, &g_rbd_if)

static int
rbd_module_init(void)
{
	return 0;
}

static int
rbd_get_ctx_size(void)
{
	return sizeof(struct rbd_task);
}

static const char *
io_type_name(uint8_t type)
{
	switch (type) {
	case USK_BDEV_IO_TYPE_READ: return "read";
	case USK_BDEV_IO_TYPE_WRITE: return "write";
	case USK_BDEV_IO_TYPE_FLUSH: return "flush";
	case USK_BDEV_IO_TYPE_UNMAP: return "unmap";
	case USK_BDEV_IO_TYPE_WRITE_ZEROES: return "write_zeroes";
	case USK_BDEV_IO_TYPE_RESET: return "reset";
	default: return "io";
	}
}

/* librbd thread: never touches the bdev_io, only the task and the queue. */
static void
rbd_io_done(rbd_completion_t comp, void *arg)
{
	struct rbd_task *task = arg;
	struct rbd_cq *cq = task->cq;
	void *obj = task;
	uint64_t one = 1;

	task->rc = rbd_aio_get_return_value(comp);
	rbd_aio_release(comp);
	/* The enqueue is a release: the consumer's dequeue (acquire) sees task->rc. The ring has
	 * room for every in-flight task (RBD_RING_SIZE > RBD_CHANNEL_DEPTH), so it cannot fail. */
	if (usk_unlikely(usk_ring_enqueue(cq->ring, &obj, 1, NULL) != 1)) {
		abort();
	}
	if (cq->efd >= 0 && write(cq->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, the consumer is awake anyway. */
	}
}

static int
rbd_reap(struct rbd_channel *ch)
{
	void *objs[RBD_REAP_BATCH];
	size_t n, total = 0;

	do {
		n = usk_ring_dequeue(ch->cq->ring, objs, RBD_REAP_BATCH);
		ch->inflight -= (uint32_t)n;
		for (size_t i = 0; i < n; i++) {
			struct rbd_task *task = objs[i];
			struct usk_bdev_io *bdev_io = usk_bdev_io_from_ctx(task);

			if (usk_likely(task->rc >= 0 && (task->expect == 0 ||
							 (uint64_t)task->rc == task->expect))) {
				usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_SUCCESS);
				continue;
			}
			USK_ERRLOG("rbd: %s: %s of %" PRIu64 " blocks at %" PRIu64 " failed: %s\n",
				   bdev_io->bdev->name, io_type_name(bdev_io->type),
				   bdev_io->u.bdev.num_blocks, bdev_io->u.bdev.offset_blocks,
				   task->rc < 0 ? strerror((int)-task->rc) : "short transfer");
			usk_bdev_io_complete_aio_status(bdev_io, task->rc < 0 ? (int)task->rc : -EIO);
		}
		total += n;
	} while (n == RBD_REAP_BATCH);
	return (int)total;
}

static int
rbd_poll(void *arg)
{
	struct rbd_channel *ch = arg;
	int n;

	if (ch->inflight == 0) {
		return USK_POLLER_IDLE;
	}
	n = rbd_reap(ch);
	if (n == 0) {
		/*
		 * I/O is at librbd and nothing came back: librbd's messenger and io_context
		 * threads must run for it to finish, possibly on this core. A busy-polling
		 * reactor would leave them the scraps of its time slice (as with uring's io-wq
		 * workers); sched_yield returns at once when nothing else is runnable, and an
		 * RBD I/O (hundreds of microseconds) dwarfs the syscall.
		 */
		sched_yield();
		return USK_POLLER_IDLE;
	}
	return USK_POLLER_BUSY;
}

static int
rbd_intr(void *arg)
{
	struct rbd_channel *ch = arg;
	uint64_t cnt;

	/* Reset the counter before reaping: a push after the read kicks the eventfd again. */
	if (read(ch->cq->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN) {
		USK_ERRLOG("rbd: read of eventfd failed: %s\n", strerror(errno));
	}
	return rbd_reap(ch);
}

static void
rbd_submit(struct rbd_channel *ch, struct usk_bdev_io *bdev_io)
{
	struct rbd_disk *disk = ch->disk;
	struct rbd_task *task = (struct rbd_task *)bdev_io->driver_ctx;
	uint64_t off = bdev_io->u.bdev.offset_blocks * disk->bdev.blocklen;
	uint64_t len = bdev_io->u.bdev.num_blocks * disk->bdev.blocklen;
	rbd_completion_t comp;
	int rc;

	if (usk_unlikely(ch->inflight >= RBD_CHANNEL_DEPTH)) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_NOMEM);
		return;
	}
	task->cq = ch->cq;
	task->rc = 0;
	task->expect = 0;
	rc = rbd_aio_create_completion(task, rbd_io_done, &comp);
	if (usk_unlikely(rc < 0)) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_NOMEM);
		return;
	}
	switch (bdev_io->type) {
	case USK_BDEV_IO_TYPE_READ:
		task->expect = len;
		rc = rbd_aio_readv(disk->image, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, off,
				   comp);
		break;
	case USK_BDEV_IO_TYPE_WRITE:
		/* A write's return value is 0 or its length depending on the librbd version. */
		rc = rbd_aio_writev(disk->image, bdev_io->u.bdev.iovs, bdev_io->u.bdev.iovcnt, off,
				    comp);
		break;
	case USK_BDEV_IO_TYPE_UNMAP:
		rc = rbd_aio_discard(disk->image, off, len, comp);
		break;
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		rc = rbd_aio_write_zeroes(disk->image, off, len, comp, 0, 0);
		break;
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
		/*
		 * librbd cannot abort I/O it has; a flush completes once every write issued
		 * before it is durable, which is what a reset of a network disk can promise.
		 */
		rc = rbd_aio_flush(disk->image, comp);
		break;
	default:
		rc = -ENOTSUP;
		break;
	}
	if (usk_unlikely(rc < 0)) {
		rbd_aio_release(comp);
		usk_bdev_io_complete_aio_status(bdev_io, rc);
		return;
	}
	ch->inflight++;
}

static void
rbd_get_buf_cb(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io, bool success)
{
	if (!success) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	rbd_submit(usk_io_channel_get_ctx(_ch), bdev_io);
}

static void
rbd_submit_request(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io)
{
	struct rbd_channel *ch = usk_io_channel_get_ctx(_ch);

	if (bdev_io->type == USK_BDEV_IO_TYPE_READ &&
	    usk_unlikely(bdev_io->u.bdev.iovs == NULL || bdev_io->u.bdev.iovs[0].iov_base == NULL)) {
		usk_bdev_io_get_buf(bdev_io, rbd_get_buf_cb,
				    bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
		return;
	}
	rbd_submit(ch, bdev_io);
}

static bool
rbd_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	(void)ctx;
	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
	case USK_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

static void
cq_free(struct rbd_cq *cq)
{
	if (cq->efd >= 0) {
		close(cq->efd);
	}
	usk_ring_free(cq->ring);
	free(cq);
}

static int
rbd_channel_create(void *io_device, void *ctx_buf)
{
	struct rbd_channel *ch = ctx_buf;
	int rc;

	ch->disk = io_device;
	ch->cq = calloc(1, sizeof(*ch->cq));
	if (ch->cq == NULL) {
		return -ENOMEM;
	}
	ch->cq->efd = -1;
	ch->cq->ring = usk_ring_create(USK_RING_TYPE_MP_SC, RBD_RING_SIZE, -1);
	if (ch->cq->ring == NULL) {
		rc = -ENOMEM;
		goto err_free_cq;
	}
	if (usk_interrupt_mode_is_enabled()) {
		ch->cq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (ch->cq->efd < 0) {
			rc = -errno;
			goto err_free_cq;
		}
		ch->intr = usk_interrupt_register(ch->cq->efd, rbd_intr, ch, "rbd_intr");
		if (ch->intr == NULL) {
			rc = -ENOMEM;
			goto err_free_cq;
		}
		ch->intr_mode = true;
		return 0;
	}
	ch->poller = usk_poller_register_named(rbd_poll, ch, 0, "rbd_poll");
	if (ch->poller == NULL) {
		rc = -ENOMEM;
		goto err_free_cq;
	}
	return 0;

err_free_cq:
	if (ch->cq->ring != NULL) {
		usk_ring_free(ch->cq->ring);
	}
	if (ch->cq->efd >= 0) {
		close(ch->cq->efd);
	}
	free(ch->cq);
	return rc;
}

static void
rbd_channel_destroy(void *io_device, void *ctx_buf)
{
	struct rbd_channel *ch = ctx_buf;
	struct rbd_disk *disk = io_device;

	usk_poller_unregister(&ch->poller);
	if (ch->intr != NULL) {
		usk_interrupt_unregister(&ch->intr);
	}
	if (ch->inflight != 0) {
		USK_WARNLOG("rbd: %s: channel destroyed with %u I/O at librbd; freed at close\n",
			    disk->bdev.name, ch->inflight);
		pthread_mutex_lock(&disk->orphan_lock);
		TAILQ_INSERT_TAIL(&disk->orphans, ch->cq, link);
		pthread_mutex_unlock(&disk->orphan_lock);
		return;
	}
	cq_free(ch->cq);
}

static struct usk_io_channel *
rbd_get_io_channel(void *ctx)
{
	return usk_get_io_channel(ctx);
}

static void
disk_free(struct rbd_disk *disk)
{
	struct rbd_cq *cq;

	while ((cq = TAILQ_FIRST(&disk->orphans)) != NULL) {
		TAILQ_REMOVE(&disk->orphans, cq, link);
		cq_free(cq);
	}
	pthread_mutex_destroy(&disk->orphan_lock);
	free(disk->bdev.name);
	free(disk->pool_name);
	free(disk->rbd_name);
	free(disk->user_id);
	json_decref(disk->config);
	free(disk);
}

/* Worker: close whatever the open got to. rbd_close waits for librbd's in-flight I/O. */
static void
disk_close_work(void *ctx)
{
	struct rbd_disk *disk = ctx;

	if (disk->watching) {
		/* Returns once no watch callback runs any more. */
		rbd_update_unwatch(disk->image, disk->watch_handle);
		disk->watching = false;
	}
	if (disk->image != NULL) {
		rbd_close(disk->image);
		disk->image = NULL;
	}
	if (disk->ioctx != NULL) {
		rados_ioctx_destroy(disk->ioctx);
		disk->ioctx = NULL;
	}
	if (disk->cluster == NULL && disk->rados != NULL) {
		rados_shutdown(disk->rados);
		disk->rados = NULL;
	}
}

static void
disk_destruct_done(void *ctx)
{
	struct rbd_disk *disk = ctx;

	if (disk->cluster != NULL) {
		disk->cluster->refcnt--;
	}
	usk_bdev_destruct_done(&disk->bdev, 0);
	disk_free(disk);
}

static void
disk_io_device_unregistered(void *io_device)
{
	struct rbd_disk *disk = io_device;

	if (worker_submit(disk_close_work, disk_destruct_done, disk) != 0) {
		/* No worker: close here rather than leak the image's lock and watch. */
		disk_close_work(disk);
		disk_destruct_done(disk);
	}
}

static int
rbd_destruct(void *ctx)
{
	struct rbd_disk *disk = ctx;

	TAILQ_REMOVE(&g_disks, disk, link);
	usk_io_device_unregister(disk, disk_io_device_unregistered);
	return 1;
}

static int
rbd_dump_info_json(void *ctx, json_t *obj)
{
	struct rbd_disk *disk = ctx;
	json_t *o = json_pack("{s:s, s:s}", "pool_name", disk->pool_name, "rbd_name",
			      disk->rbd_name);

	if (disk->cluster != NULL) {
		json_object_set_new(o, "cluster_name", json_string(disk->cluster->name));
	} else {
		if (disk->user_id) {
			json_object_set_new(o, "user_id", json_string(disk->user_id));
		}
		if (disk->config) {
			json_object_set(o, "config", disk->config);
		}
	}
	json_object_set_new(obj, "rbd", o);
	return 0;
}

static void
rbd_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	struct rbd_disk *disk = bdev->ctxt;
	char uuid[37];
	json_t *p = json_pack("{s:s, s:s, s:s, s:I}", "name", bdev->name, "pool_name",
			      disk->pool_name, "rbd_name", disk->rbd_name, "block_size",
			      (json_int_t)bdev->blocklen);

	uuid_unparse_lower(bdev->uuid, uuid);
	json_object_set_new(p, "uuid", json_string(uuid));
	if (disk->cluster != NULL) {
		json_object_set_new(p, "cluster_name", json_string(disk->cluster->name));
	} else {
		if (disk->user_id) {
			json_object_set_new(p, "user_id", json_string(disk->user_id));
		}
		if (disk->config) {
			json_object_set(p, "config", disk->config);
		}
	}
	usk_json_config_add(config_array, "bdev_rbd_create", p);
}

static const struct usk_bdev_fn_table g_rbd_fn_table = {
	.destruct = rbd_destruct,
	.submit_request = rbd_submit_request,
	.io_type_supported = rbd_io_type_supported,
	.get_io_channel = rbd_get_io_channel,
	.dump_info_json = rbd_dump_info_json,
	.write_config_json = rbd_write_config_json,
};

static int
rbd_config_json(json_t *config_array)
{
	struct rbd_cluster *c;

	/* Clusters first: the bdevs' entries (written after the modules') name them. */
	TAILQ_FOREACH(c, &g_clusters, link) {
		json_t *p;

		if (c->state != RBD_CLUSTER_READY) {
			continue;
		}
		p = cluster_info(c);
		/* The info calls it cluster_name; the register RPC calls it name. */
		json_object_set(p, "name", json_object_get(p, "cluster_name"));
		json_object_del(p, "cluster_name");
		usk_json_config_add(config_array, "bdev_rbd_register_cluster", p);
	}
	return 0;
}

/* ---------------------------------------------------------------- create */

static struct rbd_disk *
disk_find(const char *name)
{
	struct rbd_disk *d;

	TAILQ_FOREACH(d, &g_disks, link) {
		if (strcmp(d->bdev.name, name) == 0) {
			return d;
		}
	}
	return NULL;
}

/*
 * Header updates (a resize by another client, snapshots, features). The callback runs on a
 * librbd thread: it only posts a message to the app thread. Lifetime: rbd_update_unwatch (in
 * the close job) waits for running callbacks, and the close job's completion message is
 * enqueued after theirs, so the disk outlives every watch message; a watch message that finds
 * the disk no longer listed (being deleted) drops the update. The size is read on the worker,
 * FIFO before any close job queued later.
 */
static bool
disk_listed(const struct rbd_disk *disk)
{
	const struct rbd_disk *d;

	TAILQ_FOREACH(d, &g_disks, link) {
		if (d == disk) {
			return true;
		}
	}
	return false;
}

struct rbd_watch_look {
	struct rbd_disk *disk;
	uint64_t size;
};

static void
watch_size_work(void *ctx)
{
	struct rbd_watch_look *look = ctx;
	struct rbd_disk *disk = look->disk;

	/* Cleared before the read: an update after this point posts a look of its own. */
	atomic_store(&disk->watch_pending, false);
	if (rbd_get_size(disk->image, &look->size) < 0) {
		look->size = 0;
	}
}

static void
watch_size_done(void *ctx)
{
	struct rbd_watch_look *look = ctx;
	struct rbd_disk *disk = look->disk;
	uint64_t blocks;
	int rc;

	if (look->size == 0 || !disk_listed(disk) || look->size == disk->size) {
		goto out;
	}
	blocks = look->size / disk->bdev.blocklen;
	rc = usk_bdev_notify_blockcnt_change(&disk->bdev, blocks);
	if (rc != 0) {
		USK_ERRLOG("rbd: %s: image resized to %" PRIu64 " bytes by another client, but the "
			   "bdev cannot follow: %s\n", disk->bdev.name, look->size, strerror(-rc));
		goto out;
	}
	USK_NOTICELOG("rbd: %s: image resized by another client: %" PRIu64 " blocks\n",
		      disk->bdev.name, blocks);
	disk->size = look->size;
out:
	free(look);
}

static void
watch_msg(void *ctx)
{
	struct rbd_disk *disk = ctx;
	struct rbd_watch_look *look;

	if (!disk_listed(disk) || (look = calloc(1, sizeof(*look))) == NULL) {
		atomic_store(&disk->watch_pending, false);
		return;
	}
	look->disk = disk;
	if (worker_submit(watch_size_work, watch_size_done, look) != 0) {
		free(look);
		atomic_store(&disk->watch_pending, false);
	}
}

/* librbd thread. */
static void
disk_update_cb(void *arg)
{
	struct rbd_disk *disk = arg;

	/* One look queued at a time: updates before it starts are covered by its read. */
	if (atomic_exchange(&disk->watch_pending, true)) {
		return;
	}
	if (usk_thread_send_msg(disk->app_thread, watch_msg, disk) != 0) {
		atomic_store(&disk->watch_pending, false);
	}
}

static void
disk_open_work(void *ctx)
{
	struct rbd_disk *disk = ctx;
	char who[300];
	int rc;

	if (disk->cluster == NULL) {
		snprintf(who, sizeof(who), "bdev '%s'", disk->bdev.name);
		rc = rados_connect_opts(&disk->rados, who, disk->user_id, disk->config, NULL, NULL,
					NULL, disk->err, sizeof(disk->err));
		if (rc != 0) {
			disk->rados = NULL;
			goto out;
		}
	} else {
		snprintf(who, sizeof(who), "cluster '%s'", disk->cluster->name);
	}
	rc = rados_ioctx_create(disk->cluster ? disk->cluster->rados : disk->rados,
				disk->pool_name, &disk->ioctx);
	if (rc < 0) {
		disk->ioctx = NULL;
		snprintf(disk->err, sizeof(disk->err), "%s: pool_name '%s': %s", who,
			 disk->pool_name, strerror(-rc));
		goto out;
	}
	rc = rbd_open(disk->ioctx, disk->rbd_name, &disk->image, NULL);
	if (rc < 0) {
		disk->image = NULL;
		snprintf(disk->err, sizeof(disk->err), "%s: rbd_name '%s/%s': %s", who,
			 disk->pool_name, disk->rbd_name, strerror(-rc));
		goto out;
	}
	{
		char cache[16] = "";

		/* librbd's writeback cache acknowledges writes before the OSDs have them: tell
		 * the initiators so that they send flushes (which rbd_aio_flush honours). */
		rados_conf_get(disk->cluster ? disk->cluster->rados : disk->rados, "rbd_cache",
			       cache, sizeof(cache));
		disk->bdev.write_cache = strcmp(cache, "true") == 0;
	}
	rc = rbd_get_size(disk->image, &disk->size);
	if (rc < 0) {
		snprintf(disk->err, sizeof(disk->err), "%s: size of '%s/%s': %s", who,
			 disk->pool_name, disk->rbd_name, strerror(-rc));
		goto out;
	}
	/* Resizes by other clients (rbd resize) reach us as header updates. */
	if (rbd_update_watch(disk->image, &disk->watch_handle, disk_update_cb, disk) == 0) {
		disk->watching = true;
	} else {
		USK_WARNLOG("rbd: %s: cannot watch '%s/%s' for resizes by others\n",
			    disk->bdev.name, disk->pool_name, disk->rbd_name);
	}
	if (disk->size < disk->bdev.blocklen) {
		rc = -EINVAL;
		snprintf(disk->err, sizeof(disk->err), "%s: image '%s/%s' of %" PRIu64
			 " bytes is smaller than one block", who, disk->pool_name, disk->rbd_name,
			 disk->size);
		goto out;
	}
out:
	disk->rc = rc;
	if (rc != 0) {
		disk_close_work(disk);
	}
}

static void
disk_open_done(void *ctx)
{
	struct rbd_disk *disk = ctx;
	usk_rbd_create_cb cb = (usk_rbd_create_cb)disk->cb;
	void *cb_arg = disk->cb_arg;
	char err[RBD_ERR_LEN];
	int rc = disk->rc;

	if (rc == 0) {
		disk->bdev.blockcnt = disk->size / disk->bdev.blocklen;
		usk_io_device_register(disk, rbd_channel_create, rbd_channel_destroy,
				       sizeof(struct rbd_channel), disk->bdev.name);
		rc = usk_bdev_register(&disk->bdev);
		if (rc == 0) {
			TAILQ_INSERT_TAIL(&g_disks, disk, link);
			USK_NOTICELOG("rbd: bdev %s on %s/%s: %" PRIu64 " blocks of %u\n",
				      disk->bdev.name, disk->pool_name, disk->rbd_name,
				      disk->bdev.blockcnt, disk->bdev.blocklen);
			cb(cb_arg, &disk->bdev, 0, "");
			return;
		}
		snprintf(disk->err, sizeof(disk->err), "name: cannot register bdev '%s': %s",
			 disk->bdev.name, strerror(-rc));
		usk_io_device_unregister(disk, NULL);
		/* Closing blocks, but only briefly and only on this failure path. */
		disk_close_work(disk);
	}
	snprintf(err, sizeof(err), "%s", disk->err);
	USK_ERRLOG("rbd: %s\n", err);
	if (disk->cluster != NULL) {
		disk->cluster->refcnt--;
	}
	disk_free(disk);
	cb(cb_arg, NULL, rc, err);
}

int
usk_rbd_bdev_create(const struct usk_rbd_bdev_opts *opts, usk_rbd_create_cb cb, void *cb_arg)
{
	struct rbd_cluster *cluster = NULL;
	struct rbd_disk *disk;
	bool fail = false;
	int rc;

	if (opts->pool_name == NULL || opts->rbd_name == NULL || opts->block_size < 512 ||
	    !USK_IS_POW2(opts->block_size)) {
		return -EINVAL;
	}
	if (opts->cluster_name != NULL) {
		cluster = cluster_find(opts->cluster_name);
		if (cluster == NULL || cluster->state != RBD_CLUSTER_READY) {
			return -ENODEV;
		}
	}
	if (opts->name != NULL && (usk_bdev_get_by_name(opts->name) != NULL ||
				   disk_find(opts->name) != NULL)) {
		return -EEXIST;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_init(&disk->orphan_lock, NULL);
	TAILQ_INIT(&disk->orphans);
	if (opts->name != NULL) {
		disk->bdev.name = strdup(opts->name);
	} else if (asprintf(&disk->bdev.name, "Ceph%u", g_disk_seq++) < 0) {
		disk->bdev.name = NULL;
	}
	fail = disk->bdev.name == NULL;
	disk->pool_name = strdup_opt(opts->pool_name, &fail);
	disk->rbd_name = strdup_opt(opts->rbd_name, &fail);
	disk->user_id = strdup_opt(opts->user_id, &fail);
	disk->config = opts->config ? json_deep_copy(opts->config) : NULL;
	if (fail || (opts->config && disk->config == NULL)) {
		disk_free(disk);
		return -ENOMEM;
	}
	disk->bdev.product_name = "Ceph Rbd Disk";
	disk->bdev.blocklen = opts->block_size;
	disk->bdev.ctxt = disk;
	disk->bdev.module = &g_rbd_if;
	disk->bdev.fn_table = &g_rbd_fn_table;
	if (opts->uuid != NULL) {
		memcpy(disk->bdev.uuid, opts->uuid, sizeof(disk->bdev.uuid));
	}
	disk->cluster = cluster;
	disk->app_thread = usk_get_thread();
	disk->cb = (void *)cb;
	disk->cb_arg = cb_arg;
	rc = worker_submit(disk_open_work, disk_open_done, disk);
	if (rc != 0) {
		disk_free(disk);
		return rc;
	}
	if (cluster != NULL) {
		cluster->refcnt++; /* until the close: the cluster cannot go away under the open */
	}
	return 0;
}

int
usk_rbd_bdev_delete(const char *name, usk_rbd_delete_cb cb_fn, void *cb_arg)
{
	struct rbd_disk *disk = disk_find(name);

	if (disk == NULL) {
		return -ENODEV;
	}
	usk_bdev_unregister(&disk->bdev, cb_fn, cb_arg);
	return 0;
}

/* ---------------------------------------------------------------- resize */

struct rbd_resize_ctx {
	struct rbd_disk *disk;
	uint64_t new_size;
	int rc;
	char err[RBD_ERR_LEN];
	usk_rbd_cb cb;
	void *cb_arg;
};

static void
resize_work(void *ctx)
{
	struct rbd_resize_ctx *r = ctx;

	r->rc = rbd_resize(r->disk->image, r->new_size);
	if (r->rc < 0) {
		snprintf(r->err, sizeof(r->err), "bdev '%s': rbd_resize of '%s/%s': %s",
			 r->disk->bdev.name, r->disk->pool_name, r->disk->rbd_name,
			 strerror(-r->rc));
	}
}

static void
resize_done(void *ctx)
{
	struct rbd_resize_ctx *r = ctx;
	struct rbd_disk *disk;
	int rc = r->rc;

	/* The bdev may have been deleted meanwhile: look it up again. */
	TAILQ_FOREACH(disk, &g_disks, link) {
		if (disk == r->disk) {
			break;
		}
	}
	if (rc == 0 && disk != NULL) {
		disk->size = r->new_size;
		rc = usk_bdev_notify_blockcnt_change(&disk->bdev, r->new_size / disk->bdev.blocklen);
		if (rc != 0) {
			snprintf(r->err, sizeof(r->err), "bdev '%s': cannot report the new size: %s",
				 disk->bdev.name, strerror(-rc));
		}
	}
	if (rc != 0) {
		USK_ERRLOG("rbd: %s\n", r->err);
	}
	r->cb(r->cb_arg, rc, r->err);
	free(r);
}

int
usk_rbd_bdev_resize(const char *name, uint64_t new_size_mib, usk_rbd_cb cb, void *cb_arg)
{
	struct rbd_disk *disk = disk_find(name);
	struct rbd_resize_ctx *r;
	int rc;

	if (disk == NULL) {
		return -ENODEV;
	}
	if (new_size_mib > UINT64_MAX / (1024 * 1024) || new_size_mib * 1024 * 1024 <= disk->size) {
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return -ENOMEM;
	}
	r->disk = disk;
	r->new_size = new_size_mib * 1024 * 1024;
	r->cb = cb;
	r->cb_arg = cb_arg;
	/* The worker runs jobs in order: a delete's close, queued later, runs after this. */
	rc = worker_submit(resize_work, resize_done, r);
	if (rc != 0) {
		free(r);
	}
	return rc;
}

/* ---------------------------------------------------------------- fini */

/*
 * Two jobs: a barrier, whose completion on the app thread comes after every earlier job's (so
 * no connect is pending any more), then the shutdown of the clusters collected there.
 */
static TAILQ_HEAD(, rbd_cluster) g_fini_clusters = TAILQ_HEAD_INITIALIZER(g_fini_clusters);

static void
fini_nop_work(void *ctx)
{
	(void)ctx;
}

static void
fini_shutdown_work(void *ctx)
{
	struct rbd_cluster *c;

	(void)ctx;
	TAILQ_FOREACH(c, &g_fini_clusters, link) {
		rados_shutdown(c->rados);
	}
}

static void
fini_shutdown_done(void *ctx)
{
	struct rbd_cluster *c;

	(void)ctx;
	while ((c = TAILQ_FIRST(&g_fini_clusters)) != NULL) {
		TAILQ_REMOVE(&g_fini_clusters, c, link);
		cluster_free(c);
	}
	worker_stop();
	usk_bdev_module_fini_done();
}

static void
fini_barrier_done(void *ctx)
{
	struct rbd_cluster *c;

	(void)ctx;
	/* Every bdev is gone (module fini runs after them) and no job is pending. */
	while ((c = TAILQ_FIRST(&g_clusters)) != NULL) {
		TAILQ_REMOVE(&g_clusters, c, link);
		TAILQ_INSERT_TAIL(&g_fini_clusters, c, link);
	}
	if (worker_submit(fini_shutdown_work, fini_shutdown_done, NULL) != 0) {
		fini_shutdown_work(NULL);
		fini_shutdown_done(NULL);
	}
}

static void
rbd_module_fini(void)
{
	if (TAILQ_EMPTY(&g_clusters) && !g_worker.running) {
		usk_bdev_module_fini_done();
		return;
	}
	if (worker_submit(fini_nop_work, fini_barrier_done, NULL) != 0) {
		fini_barrier_done(NULL);
	}
}
