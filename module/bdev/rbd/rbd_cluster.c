/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rbd bdev module, connections: the worker pthread that runs every blocking librados / librbd
 * call off the reactors (FIFO; results come back as messages), registered clusters (one
 * rados_t shared by many bdevs), client option defaults, and the module's fini.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <rados/librados.h>

#include "usk/bdev_module.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "usk/util.h"

#include "rbd_internal.h"

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
		USK_WARNLOG(
			"rbd: cannot unpin the worker thread; librbd's threads share its cores\n");
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

int
rbd_worker_submit(void (*work)(void *ctx), usk_msg_fn done, void *ctx)
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

static TAILQ_HEAD(, rbd_cluster) g_clusters = TAILQ_HEAD_INITIALIZER(g_clusters);

struct rbd_cluster *
rbd_cluster_find(const char *name)
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

int
rbd_rados_connect(rados_t *out, const char *who, const char *user_id, const json_t *config,
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
			snprintf(err, err_len, "%s: key_file '%s': %s", who, key_file,
				 strerror(-rc));
			goto err_shutdown;
		}
	}
	json_object_foreach((json_t *)config, key, val)
	{
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
	c->rc = rbd_rados_connect(&c->rados, who, c->user_id, c->config, c->config_file,
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

char *
rbd_strdup_opt(const char *s, bool *fail)
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
	if (rbd_cluster_find(opts->name) != NULL) {
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return -ENOMEM;
	}
	c->name = rbd_strdup_opt(opts->name, &fail);
	c->user_id = rbd_strdup_opt(opts->user_id, &fail);
	c->config_file = rbd_strdup_opt(opts->config_file, &fail);
	c->key_file = rbd_strdup_opt(opts->key_file, &fail);
	c->core_mask = rbd_strdup_opt(opts->core_mask, &fail);
	c->config = opts->config ? json_deep_copy(opts->config) : NULL;
	if (fail || (opts->config && c->config == NULL)) {
		cluster_free(c);
		return -ENOMEM;
	}
	c->state = RBD_CLUSTER_CONNECTING;
	c->cb = cb;
	c->cb_arg = cb_arg;
	rc = rbd_worker_submit(cluster_connect_work, cluster_connect_done, c);
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
	struct rbd_cluster *c = rbd_cluster_find(name);
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
	rc = rbd_worker_submit(cluster_shutdown_work, cluster_shutdown_done, c);
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
		usk_json_set(o, "user_id", json_string(c->user_id));
	}
	if (c->config) {
		json_object_set(o, "config_param", c->config);
	}
	if (c->config_file) {
		usk_json_set(o, "config_file", json_string(c->config_file));
	}
	if (c->key_file) {
		usk_json_set(o, "key_file", json_string(c->key_file));
	}
	if (c->core_mask) {
		usk_json_set(o, "core_mask", json_string(c->core_mask));
	}
	return o;
}

json_t *
usk_rbd_get_clusters_info(const char *name)
{
	struct rbd_cluster *c;
	json_t *arr;

	if (name != NULL) {
		c = rbd_cluster_find(name);
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

void
rbd_clusters_config_json(json_t *config_array)
{
	struct rbd_cluster *c;

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
	if (rbd_worker_submit(fini_shutdown_work, fini_shutdown_done, NULL) != 0) {
		fini_shutdown_work(NULL);
		fini_shutdown_done(NULL);
	}
}

void
rbd_clusters_fini(void)
{
	if (TAILQ_EMPTY(&g_clusters) && !g_worker.running) {
		usk_bdev_module_fini_done();
		return;
	}
	if (rbd_worker_submit(fini_nop_work, fini_barrier_done, NULL) != 0) {
		fini_barrier_done(NULL);
	}
}
