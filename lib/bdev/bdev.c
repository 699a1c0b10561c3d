/* SPDX-License-Identifier: BSD-3-Clause */
/* bdev registry: modules, init/fini, register/unregister, examine, descriptors, claims, aliases. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "bdev_internal.h"
#include "usk/json.h"

USK_LOG_REGISTER_COMPONENT(bdev)

struct bdev_mgr g_bdev_mgr = {
	.bdevs = TAILQ_HEAD_INITIALIZER(g_bdev_mgr.bdevs),
	.mgmt_mutex = PTHREAD_MUTEX_INITIALIZER,
	.mgmt_channels = TAILQ_HEAD_INITIALIZER(g_bdev_mgr.mgmt_channels),
};

struct usk_bdev_opts g_bdev_opts = {
	.opts_size = sizeof(struct usk_bdev_opts),
	/* SPDK's default is 65535 (~52 MiB of pinned memory here); exhaustion only queues I/O
	 * (usk_bdev_queue_io_wait) and is counted, so start smaller. Raised at init to cover
	 * every core's cache. */
	.bdev_io_pool_size = 8191,
	.bdev_io_cache_size = 256,
	.bdev_auto_examine = true,
	.small_buf_pool_size = 8191,
	.large_buf_pool_size = 1023,
};

/* Callers compiled against an older header pass a smaller opts_size; new fields go at the end. */
USK_STATIC_ASSERT(sizeof(struct usk_bdev_opts) == 32, "struct usk_bdev_opts layout changed");

/* Registry lock: the bdev list and names may be looked up from any thread. */
static pthread_mutex_t g_bdev_list_mutex = PTHREAD_MUTEX_INITIALIZER;

static struct usk_bdev_module *g_modules_head;
static struct usk_bdev_module *g_modules_tail;
static struct usk_bdev_module *g_fini_module; /* module whose fini is running */

static usk_bdev_init_cb g_init_cb;
static void *g_init_cb_arg;
static bool g_init_started;
static bool g_init_in_modules; /* synchronous module_init loop still running */
static usk_bdev_fini_cb g_fini_cb;
static void *g_fini_cb_arg;
static struct usk_thread *g_app_thread;

/* Bdevs whose examine has been scheduled but not dispatched yet. */
static uint32_t g_examine_scheduled;

struct examine_waiter {
	usk_bdev_wait_for_examine_cb cb_fn;
	void *cb_arg;
	struct usk_thread *thread;
	TAILQ_ENTRY(examine_waiter) link;
};
static TAILQ_HEAD(, examine_waiter) g_examine_waiters = TAILQ_HEAD_INITIALIZER(g_examine_waiters);

struct examine_allow {
	char *name;
	TAILQ_ENTRY(examine_allow) link;
};
static TAILQ_HEAD(, examine_allow) g_examine_allow = TAILQ_HEAD_INITIALIZER(g_examine_allow);

static const char *const g_io_type_names[USK_BDEV_NUM_IO_TYPES] = {
	[USK_BDEV_IO_TYPE_READ] = "read",
	[USK_BDEV_IO_TYPE_WRITE] = "write",
	[USK_BDEV_IO_TYPE_UNMAP] = "unmap",
	[USK_BDEV_IO_TYPE_FLUSH] = "flush",
	[USK_BDEV_IO_TYPE_RESET] = "reset",
	[USK_BDEV_IO_TYPE_NVME_ADMIN] = "nvme_admin",
	[USK_BDEV_IO_TYPE_NVME_IO] = "nvme_io",
	[USK_BDEV_IO_TYPE_NVME_IO_MD] = "nvme_io_md",
	[USK_BDEV_IO_TYPE_WRITE_ZEROES] = "write_zeroes",
	[USK_BDEV_IO_TYPE_ZCOPY] = "zcopy",
	[USK_BDEV_IO_TYPE_GET_ZONE_INFO] = "get_zone_info",
	[USK_BDEV_IO_TYPE_ZONE_MANAGEMENT] = "zone_management",
	[USK_BDEV_IO_TYPE_ZONE_APPEND] = "zone_append",
	[USK_BDEV_IO_TYPE_COMPARE] = "compare",
	[USK_BDEV_IO_TYPE_COMPARE_AND_WRITE] = "compare_and_write",
	[USK_BDEV_IO_TYPE_ABORT] = "abort",
	[USK_BDEV_IO_TYPE_SEEK_HOLE] = "seek_hole",
	[USK_BDEV_IO_TYPE_SEEK_DATA] = "seek_data",
	[USK_BDEV_IO_TYPE_COPY] = "copy",
};

const char *
usk_bdev_io_type_name(enum usk_bdev_io_type type)
{
	if ((int)type <= 0 || type >= USK_BDEV_NUM_IO_TYPES) {
		return NULL;
	}
	return g_io_type_names[type];
}

/* ---- options ---- */

void
usk_bdev_get_opts(struct usk_bdev_opts *opts, size_t opts_size)
{
	struct usk_bdev_opts tmp = g_bdev_opts;

	if (opts == NULL) {
		return;
	}
	tmp.opts_size = opts_size;
	memcpy(opts, &tmp, USK_MIN(opts_size, sizeof(tmp)));
}

int
usk_bdev_set_opts(const struct usk_bdev_opts *opts)
{
	struct usk_bdev_opts tmp = g_bdev_opts;
	uint32_t min_pool;

	if (opts == NULL || opts->opts_size == 0) {
		return -EINVAL;
	}
	if (g_init_started) {
		return -EBUSY;
	}
	memcpy(&tmp, opts, USK_MIN(opts->opts_size, sizeof(tmp)));
	tmp.opts_size = sizeof(tmp);
	min_pool = tmp.bdev_io_cache_size * (usk_thread_get_count() + 1);
	if (tmp.bdev_io_pool_size == 0 || tmp.bdev_io_pool_size < min_pool) {
		USK_ERRLOG(
			"bdev_io_pool_size %u must be >= bdev_io_cache_size * (threads + 1) = %u\n",
			tmp.bdev_io_pool_size, min_pool);
		return -EINVAL;
	}
	if (tmp.small_buf_pool_size == 0 || tmp.large_buf_pool_size == 0) {
		return -EINVAL;
	}
	g_bdev_opts = tmp;
	return 0;
}

/* ---- modules ---- */

void
usk_bdev_module_list_add(struct usk_bdev_module *bdev_module)
{
	if (usk_bdev_module_list_find(bdev_module->name) != NULL) {
		USK_ERRLOG("bdev module %s registered twice\n", bdev_module->name);
		return;
	}
	bdev_module->internal.next = NULL;
	if (g_modules_tail) {
		g_modules_tail->internal.next = bdev_module;
	} else {
		g_modules_head = bdev_module;
	}
	g_modules_tail = bdev_module;
}

struct usk_bdev_module *
usk_bdev_module_list_find(const char *name)
{
	struct usk_bdev_module *m;

	for (m = g_modules_head; m; m = m->internal.next) {
		if (name && strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

struct usk_bdev_module *
bdev_module_first(void)
{
	return g_modules_head;
}

struct usk_bdev_module *
bdev_module_next(struct usk_bdev_module *m)
{
	return m->internal.next;
}

/* ---- init ---- */

static void
bdev_init_complete(int rc)
{
	struct usk_bdev_module *m;
	usk_bdev_init_cb cb = g_init_cb;

	g_init_cb = NULL;
	if (rc == 0) {
		g_bdev_mgr.init_done = true;
		for (m = g_modules_head; m; m = m->internal.next) {
			if (m->init_complete) {
				m->init_complete();
			}
		}
	}
	if (cb) {
		cb(g_init_cb_arg, rc);
	}
}

static bool
bdev_modules_busy(void)
{
	struct usk_bdev_module *m;

	for (m = g_modules_head; m; m = m->internal.next) {
		if (m->internal.action_in_progress > 0) {
			return true;
		}
	}
	return false;
}

static void examine_check_waiters(void);

static void
bdev_module_action_done(struct usk_bdev_module *module)
{
	if (module->internal.action_in_progress == 0) {
		USK_ERRLOG("module %s reported more examine/init completions than started\n",
			   module->name);
		return;
	}
	module->internal.action_in_progress--;
	if (g_init_cb != NULL && !g_init_in_modules && !bdev_modules_busy()) {
		bdev_init_complete(0);
	}
	examine_check_waiters();
}

static void
module_action_done_msg(void *ctx)
{
	bdev_module_action_done(ctx);
}

static void
forward_action_done(struct usk_bdev_module *module)
{
	if (g_app_thread && usk_get_thread() != g_app_thread) {
		if (usk_thread_send_msg(g_app_thread, module_action_done_msg, module) == 0) {
			return;
		}
	}
	bdev_module_action_done(module);
}

void
usk_bdev_module_init_done(struct usk_bdev_module *module)
{
	forward_action_done(module);
}

void
usk_bdev_module_examine_done(struct usk_bdev_module *module)
{
	forward_action_done(module);
}

static void bdev_init_fail_cleanup(void);

void
usk_bdev_initialize(usk_bdev_init_cb cb_fn, void *cb_arg)
{
	struct usk_bdev_module *m;
	size_t ctx_size = 0;
	int rc;

	g_init_started = true;
	g_init_cb = cb_fn;
	g_init_cb_arg = cb_arg;
	g_app_thread = usk_get_thread();

	for (m = g_modules_head; m; m = m->internal.next) {
		if (m->get_ctx_size && (size_t)m->get_ctx_size() > ctx_size) {
			ctx_size = (size_t)m->get_ctx_size();
		}
	}
	g_bdev_mgr.bdev_io_size =
		USK_ALIGN_CEIL(sizeof(struct usk_bdev_io) + ctx_size, (size_t)USK_CACHE_LINE_SIZE);
	/* Every core's mgmt channel cache must fit, with room to spare. */
	g_bdev_opts.bdev_io_pool_size =
		USK_MAX(g_bdev_opts.bdev_io_pool_size,
			g_bdev_opts.bdev_io_cache_size * (usk_env_get_core_count() + 1));
	/* Each thread's mgmt channel keeps its own cache, so the pool needs no per-thread cache. */
	g_bdev_mgr.bdev_io_pool = usk_mempool_create("bdev_io", g_bdev_opts.bdev_io_pool_size,
						     g_bdev_mgr.bdev_io_size, 0,
						     USK_ENV_SOCKET_ID_ANY);
	/* The data buffer pools are created off the reactors on the first usk_bdev_io_get_buf()
	 * (most setups never need them), or here at start-up with buf_pools_at_init. */
	g_bdev_mgr.zero_buffer = usk_dma_zmalloc(BDEV_ZERO_BUFFER_SIZE, USK_BDEV_BUF_ALIGN, NULL);
	if (!g_bdev_mgr.bdev_io_pool || !g_bdev_mgr.zero_buffer ||
	    (g_bdev_opts.buf_pools_at_init && bdev_buf_pools_create() != 0)) {
		USK_ERRLOG("could not allocate bdev pools\n");
		bdev_init_fail_cleanup();
		g_init_cb = NULL;
		cb_fn(cb_arg, -ENOMEM);
		return;
	}
	rc = usk_io_device_register(&g_bdev_mgr, bdev_mgmt_channel_create,
				    bdev_mgmt_channel_destroy, sizeof(struct bdev_mgmt_channel),
				    "bdev_mgr");
	if (rc != 0) {
		bdev_init_fail_cleanup();
		g_init_cb = NULL;
		cb_fn(cb_arg, rc);
		return;
	}

	g_init_in_modules = true;
	for (m = g_modules_head; m; m = m->internal.next) {
		if (m->async_init) {
			m->internal.action_in_progress++;
		}
		if (m->module_init) {
			rc = m->module_init();
			if (rc != 0) {
				USK_ERRLOG("bdev module %s failed to initialise: %d\n", m->name,
					   rc);
				g_init_in_modules = false;
				bdev_init_complete(rc);
				return;
			}
		} else if (m->async_init) {
			m->internal.action_in_progress--;
		}
	}
	g_init_in_modules = false;
	if (!bdev_modules_busy()) {
		bdev_init_complete(0);
	}
}

static void
bdev_init_fail_cleanup(void)
{
	usk_mempool_free(g_bdev_mgr.bdev_io_pool);
	bdev_buf_pools_free();
	usk_dma_free(g_bdev_mgr.zero_buffer);
	g_bdev_mgr.bdev_io_pool = NULL;
	g_bdev_mgr.zero_buffer = NULL;
}

/* ---- finish ---- */

static void bdev_finish_unregister_next(void);
static void bdev_finish_unregister_next_msg(void *ctx);

static void
bdev_mgr_unregistered(void *io_device)
{
	usk_bdev_fini_cb cb = g_fini_cb;
	struct examine_allow *a;

	bdev_init_fail_cleanup();
	while ((a = TAILQ_FIRST(&g_examine_allow)) != NULL) {
		TAILQ_REMOVE(&g_examine_allow, a, link);
		free(a->name);
		free(a);
	}
	g_bdev_mgr.init_done = false;
	g_bdev_mgr.finishing = false;
	g_init_started = false;
	g_fini_cb = NULL;
	if (cb) {
		cb(g_fini_cb_arg);
	}
}

static struct usk_bdev_module *
module_prev(struct usk_bdev_module *m)
{
	struct usk_bdev_module *p;

	for (p = g_modules_head; p; p = p->internal.next) {
		if (p->internal.next == m) {
			return p;
		}
	}
	return NULL;
}

static void
bdev_module_fini_iter(void *unused)
{
	struct usk_bdev_module *m;

	/* Walk the modules from last to first. */
	m = g_fini_module ? module_prev(g_fini_module) : g_modules_tail;
	while (m) {
		g_fini_module = m;
		if (m->module_fini) {
			m->module_fini();
			if (m->async_fini) {
				return; /* continues in usk_bdev_module_fini_done */
			}
		}
		m = module_prev(m);
	}
	g_fini_module = NULL;
	usk_io_device_unregister(&g_bdev_mgr, bdev_mgr_unregistered);
}

void
usk_bdev_module_fini_done(void)
{
	if (g_app_thread && usk_get_thread() != g_app_thread) {
		usk_thread_send_msg(g_app_thread, bdev_module_fini_iter, NULL);
		return;
	}
	bdev_module_fini_iter(NULL);
}

static void
bdev_finish_unregistered(void *ctx, int rc)
{
	if (rc != 0) {
		USK_ERRLOG("unregister during finish failed: %d\n", rc);
	}
	bdev_finish_unregister_next();
}

static void
bdev_finish_unregister_next(void)
{
	struct usk_bdev_internal *bi, *pick = NULL;

	pthread_mutex_lock(&g_bdev_list_mutex);
	/* Last registered leaf first: a vbdev goes before the bdev it claimed. */
	TAILQ_FOREACH_REVERSE(bi, &g_bdev_mgr.bdevs, usk_bdev_internal_list, link) {
		if (bi->status == BDEV_STATUS_READY && bi->claim_module == NULL) {
			pick = bi;
			break;
		}
	}
	if (pick == NULL) {
		TAILQ_FOREACH_REVERSE(bi, &g_bdev_mgr.bdevs, usk_bdev_internal_list, link) {
			if (bi->status == BDEV_STATUS_READY) {
				pick = bi;
				break;
			}
		}
	}
	pthread_mutex_unlock(&g_bdev_list_mutex);
	if (pick) {
		usk_bdev_unregister(pick->bdev, bdev_finish_unregistered, NULL);
		return;
	}
	if (!TAILQ_EMPTY(&g_bdev_mgr.bdevs)) {
		/* Some are still unregistering (waiting for descriptors); their completion
		 * callbacks are not ours, so poll again shortly. */
		usk_thread_send_msg(usk_get_thread(), bdev_finish_unregister_next_msg, NULL);
		return;
	}
	g_fini_module = NULL;
	bdev_module_fini_iter(NULL);
}

static void
bdev_finish_unregister_next_msg(void *ctx)
{
	bdev_finish_unregister_next();
}

void
usk_bdev_finish(usk_bdev_fini_cb cb_fn, void *cb_arg)
{
	struct usk_bdev_module *m;

	g_fini_cb = cb_fn;
	g_fini_cb_arg = cb_arg;
	if (!g_bdev_mgr.bdev_io_pool) {
		/* Never initialised (or init failed). */
		g_init_started = false;
		cb_fn(cb_arg);
		return;
	}
	g_bdev_mgr.finishing = true;
	for (m = g_modules_head; m; m = m->internal.next) {
		if (m->fini_start) {
			m->fini_start();
		}
	}
	bdev_finish_unregister_next();
}

/* ---- registry lookups ---- */

static bool
bdev_name_matches(struct usk_bdev_internal *bi, const char *name)
{
	struct bdev_alias *a;
	char uuid_str[37];

	if (strcmp(bi->bdev->name, name) == 0) {
		return true;
	}
	TAILQ_FOREACH(a, &bi->aliases, link) {
		if (strcmp(a->name, name) == 0) {
			return true;
		}
	}
	uuid_unparse_lower(bi->bdev->uuid, uuid_str);
	return strcasecmp(uuid_str, name) == 0;
}

static struct usk_bdev_internal *
bdev_lookup_locked(const char *name)
{
	struct usk_bdev_internal *bi;

	TAILQ_FOREACH(bi, &g_bdev_mgr.bdevs, link) {
		if (bdev_name_matches(bi, name)) {
			return bi;
		}
	}
	return NULL;
}

struct usk_bdev *
usk_bdev_get_by_name(const char *bdev_name)
{
	struct usk_bdev_internal *bi;

	if (bdev_name == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_bdev_list_mutex);
	bi = bdev_lookup_locked(bdev_name);
	pthread_mutex_unlock(&g_bdev_list_mutex);
	return bi ? bi->bdev : NULL;
}

struct usk_bdev *
usk_bdev_first(void)
{
	struct usk_bdev_internal *bi = TAILQ_FIRST(&g_bdev_mgr.bdevs);

	return bi ? bi->bdev : NULL;
}

struct usk_bdev *
usk_bdev_next(struct usk_bdev *prev)
{
	struct usk_bdev_internal *bi = TAILQ_NEXT(prev->internal, link);

	return bi ? bi->bdev : NULL;
}

static struct usk_bdev *
next_leaf(struct usk_bdev_internal *bi)
{
	for (; bi; bi = TAILQ_NEXT(bi, link)) {
		if (bi->claim_module == NULL) {
			return bi->bdev;
		}
	}
	return NULL;
}

struct usk_bdev *
usk_bdev_first_leaf(void)
{
	return next_leaf(TAILQ_FIRST(&g_bdev_mgr.bdevs));
}

struct usk_bdev *
usk_bdev_next_leaf(struct usk_bdev *prev)
{
	return next_leaf(TAILQ_NEXT(prev->internal, link));
}

/* ---- examine ---- */

static void
examine_waiter_run(void *ctx)
{
	struct examine_waiter *w = ctx;

	w->cb_fn(w->cb_arg);
	free(w);
}

static void
examine_check_waiters(void)
{
	struct examine_waiter *w;

	if (g_examine_scheduled > 0 || bdev_modules_busy()) {
		return;
	}
	while ((w = TAILQ_FIRST(&g_examine_waiters)) != NULL) {
		TAILQ_REMOVE(&g_examine_waiters, w, link);
		if (usk_thread_send_msg(w->thread, examine_waiter_run, w) != 0) {
			examine_waiter_run(w);
		}
	}
}

static void
examine_check_msg(void *ctx)
{
	examine_check_waiters();
}

int
usk_bdev_wait_for_examine(usk_bdev_wait_for_examine_cb cb_fn, void *cb_arg)
{
	struct examine_waiter *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		return -ENOMEM;
	}
	w->cb_fn = cb_fn;
	w->cb_arg = cb_arg;
	w->thread = usk_get_thread();
	TAILQ_INSERT_TAIL(&g_examine_waiters, w, link);
	/* Checked from a message so cb never runs inside this call. */
	if (usk_thread_send_msg(g_app_thread ? g_app_thread : w->thread, examine_check_msg, NULL) !=
	    0) {
		TAILQ_REMOVE(&g_examine_waiters, w, link);
		free(w);
		return -ENOMEM;
	}
	return 0;
}

static bool
bdev_examine_allowed(struct usk_bdev *bdev)
{
	struct examine_allow *a;

	if (g_bdev_opts.bdev_auto_examine) {
		return true;
	}
	TAILQ_FOREACH(a, &g_examine_allow, link) {
		if (bdev_name_matches(bdev->internal, a->name)) {
			return true;
		}
	}
	return false;
}

static void
bdev_do_examine(struct usk_bdev *bdev)
{
	struct usk_bdev_module *m;

	for (m = g_modules_head; m; m = m->internal.next) {
		if (m->examine_config && bdev->internal->status == BDEV_STATUS_READY) {
			uint32_t before = m->internal.action_in_progress;

			m->internal.action_in_progress++;
			m->examine_config(bdev);
			if (m->internal.action_in_progress > before) {
				USK_ERRLOG(
					"module %s did not call usk_bdev_module_examine_done in examine_config\n",
					m->name);
				m->internal.action_in_progress = before;
			}
		}
	}
	for (m = g_modules_head; m; m = m->internal.next) {
		if (!m->examine_disk || bdev->internal->status != BDEV_STATUS_READY) {
			continue;
		}
		if (bdev->internal->claim_module && bdev->internal->claim_module != m) {
			continue;
		}
		m->internal.action_in_progress++;
		m->examine_disk(bdev);
	}
}

static void
bdev_examine_msg(void *ctx)
{
	struct usk_bdev_internal *bi = ctx;

	bi->examine_pending = false;
	g_examine_scheduled--;
	if (bi->status == BDEV_STATUS_READY && bdev_examine_allowed(bi->bdev)) {
		bdev_do_examine(bi->bdev);
	}
	examine_check_waiters();
}

int
usk_bdev_examine(const char *bdev_name)
{
	struct examine_allow *a;
	struct usk_bdev *bdev;

	if (g_bdev_opts.bdev_auto_examine) {
		return -EINVAL;
	}
	TAILQ_FOREACH(a, &g_examine_allow, link) {
		if (strcmp(a->name, bdev_name) == 0) {
			return -EEXIST;
		}
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->name = strdup(bdev_name)) == NULL) {
		free(a);
		return -ENOMEM;
	}
	TAILQ_INSERT_TAIL(&g_examine_allow, a, link);
	bdev = usk_bdev_get_by_name(bdev_name);
	if (bdev && !bdev->internal->examine_pending) {
		bdev_do_examine(bdev);
	}
	return 0;
}

/* ---- register ---- */

static bool
bdev_name_taken_locked(const char *name)
{
	return bdev_lookup_locked(name) != NULL;
}

int
usk_bdev_register(struct usk_bdev *bdev)
{
	struct usk_bdev_internal *bi, *o;
	uint8_t zero[16] = {0};
	char uuid_str[37];
	int rc;

	if (bdev == NULL || bdev->name == NULL || bdev->name[0] == '\0' || bdev->blocklen == 0 ||
	    bdev->fn_table == NULL || bdev->fn_table->submit_request == NULL ||
	    bdev->fn_table->get_io_channel == NULL || bdev->fn_table->destruct == NULL ||
	    bdev->fn_table->io_type_supported == NULL || bdev->module == NULL) {
		USK_ERRLOG(
			"bdev_register: invalid bdev (name, blocklen, module and fn_table required)\n");
		return -EINVAL;
	}
	if (strlen(bdev->name) >= USK_BDEV_MAX_NAME_LEN) {
		USK_ERRLOG("bdev name %s too long\n", bdev->name);
		return -EINVAL;
	}
	if (g_bdev_mgr.bdev_io_pool == NULL || g_bdev_mgr.finishing) {
		USK_ERRLOG("bdev layer not initialised (or finishing)\n");
		return -EINVAL;
	}
	if (memcmp(bdev->uuid, zero, sizeof(zero)) == 0) {
		uuid_generate(bdev->uuid);
	}
	bi = calloc(1, sizeof(*bi));
	if (bi == NULL) {
		return -ENOMEM;
	}
	bi->bdev = bdev;
	bi->status = BDEV_STATUS_READY;
	TAILQ_INIT(&bi->aliases);
	TAILQ_INIT(&bi->descs);
	TAILQ_INIT(&bi->channels);
	pthread_mutex_init(&bi->mutex, NULL);
	bdev_stat_reset(&bi->stat_closed, USK_BDEV_RESET_STAT_ALL);

	/* The io_device is bi, known to nobody before it goes on the list below. */
	rc = usk_io_device_register(bi, bdev_channel_create, bdev_channel_destroy,
				    sizeof(struct usk_bdev_channel *), bdev->name);
	if (rc != 0) {
		pthread_mutex_destroy(&bi->mutex);
		free(bi);
		return rc;
	}

	uuid_unparse_lower(bdev->uuid, uuid_str);
	pthread_mutex_lock(&g_bdev_list_mutex);
	if (bdev_name_taken_locked(bdev->name)) {
		pthread_mutex_unlock(&g_bdev_list_mutex);
		USK_ERRLOG("bdev name %s already exists\n", bdev->name);
		goto err_free_bi;
	}
	TAILQ_FOREACH(o, &g_bdev_mgr.bdevs, link) {
		if (memcmp(o->bdev->uuid, bdev->uuid, 16) == 0) {
			pthread_mutex_unlock(&g_bdev_list_mutex);
			USK_ERRLOG("bdev UUID %s already exists\n", uuid_str);
			goto err_free_bi;
		}
	}
	bdev->internal = bi;
	TAILQ_INSERT_TAIL(&g_bdev_mgr.bdevs, bi, link);
	pthread_mutex_unlock(&g_bdev_list_mutex);

	bi->io_device_registered = true;

	bi->examine_pending = true;
	g_examine_scheduled++;
	if (usk_thread_send_msg(usk_get_thread(), bdev_examine_msg, bi) != 0) {
		bdev_examine_msg(bi);
	}
	USK_DEBUGLOG(bdev, "registered bdev %s\n", bdev->name);
	return 0;

err_free_bi:
	/* No channel exists: freed at once. */
	usk_io_device_unregister(bi, NULL);
	pthread_mutex_destroy(&bi->mutex);
	free(bi);
	return -EEXIST;
}

/* ---- unregister ---- */

struct unregister_done_ctx {
	usk_bdev_unregister_cb cb;
	void *cb_arg;
	int rc;
};

static void
unregister_done_msg(void *ctx)
{
	struct unregister_done_ctx *d = ctx;

	if (d->cb) {
		d->cb(d->cb_arg, d->rc);
	}
	free(d);
}

static void
bdev_unregister_finish(struct usk_bdev_internal *bi, int rc)
{
	struct unregister_done_ctx *d = calloc(1, sizeof(*d));
	struct usk_thread *thread = bi->unregister_thread;

	if (d) {
		d->cb = bi->unregister_cb;
		d->cb_arg = bi->unregister_ctx;
		d->rc = rc;
	}
	pthread_mutex_destroy(&bi->mutex);
	free(bi);
	if (d == NULL) {
		return;
	}
	if (thread == NULL || usk_thread_send_msg(thread, unregister_done_msg, d) != 0) {
		unregister_done_msg(d);
	}
}

void
usk_bdev_destruct_done(struct usk_bdev *bdev, int bdeverrno)
{
	struct usk_bdev_internal *bi = bdev->internal;

	bdev->internal = NULL;
	bdev_unregister_finish(bi, bdeverrno);
}

static void
bdev_destruct(struct usk_bdev_internal *bi)
{
	struct usk_bdev *bdev = bi->bdev;
	int rc;

	bdev_qos_destroy(bdev);
	usk_bdev_alias_del_all(bdev);
	rc = bdev->fn_table->destruct(bdev->ctxt);
	if (rc > 0) {
		return; /* module calls usk_bdev_destruct_done */
	}
	/* The module may have freed bdev: only bi is ours now. */
	bdev_unregister_finish(bi, rc);
}

static void
zombies_gone_msg(void *ctx)
{
	bdev_destruct(ctx);
}

void
bdev_zombies_gone(struct usk_bdev_internal *bi)
{
	struct usk_thread *t = bi->unregister_thread ? bi->unregister_thread : usk_get_thread();

	if (usk_thread_send_msg(t, zombies_gone_msg, bi) != 0) {
		bdev_destruct(bi);
	}
}

static void
bdev_io_device_unregistered(void *io_device)
{
	struct usk_bdev_internal *bi = io_device;

	pthread_mutex_lock(&bi->mutex);
	if (bi->zombies > 0) {
		/* Channels put with I/O in flight: destruct once that I/O is done. */
		bi->destruct_waiting = true;
		pthread_mutex_unlock(&bi->mutex);
		return;
	}
	pthread_mutex_unlock(&bi->mutex);
	bdev_destruct(bi);
}

/* All descriptors are closed: take the bdev off the list and tear it down. */
static void
bdev_unregister_descs_closed(void *ctx)
{
	struct usk_bdev_internal *bi = ctx;

	pthread_mutex_lock(&g_bdev_list_mutex);
	TAILQ_REMOVE(&g_bdev_mgr.bdevs, bi, link);
	pthread_mutex_unlock(&g_bdev_list_mutex);
	bi->status = BDEV_STATUS_REMOVING;
	usk_io_device_unregister(bdev_io_device(bi->bdev), bdev_io_device_unregistered);
}

static void bdev_desc_send_event(struct usk_bdev_desc *desc, enum usk_bdev_event_type type);

void
usk_bdev_unregister(struct usk_bdev *bdev, usk_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct usk_bdev_internal *bi = bdev->internal;
	struct usk_bdev_desc *desc;
	bool empty;

	if (bi == NULL || bi->status != BDEV_STATUS_READY) {
		struct unregister_done_ctx *d = calloc(1, sizeof(*d));

		if (d == NULL) {
			return;
		}
		d->cb = cb_fn;
		d->cb_arg = cb_arg;
		d->rc = -EBUSY;
		if (usk_thread_send_msg(usk_get_thread(), unregister_done_msg, d) != 0) {
			unregister_done_msg(d);
		}
		return;
	}
	pthread_mutex_lock(&bi->mutex);
	bi->status = BDEV_STATUS_UNREGISTERING;
	bi->unregister_cb = cb_fn;
	bi->unregister_ctx = cb_arg;
	bi->unregister_thread = usk_get_thread();
	TAILQ_FOREACH(desc, &bi->descs, link) {
		if (!desc->remove_sent) {
			desc->remove_sent = true;
			bdev_desc_send_event(desc, USK_BDEV_EVENT_REMOVE);
		}
	}
	empty = TAILQ_EMPTY(&bi->descs);
	pthread_mutex_unlock(&bi->mutex);
	if (empty) {
		/* Deferred so the caller's cb never runs inside this call and examine is done. */
		if (usk_thread_send_msg(usk_get_thread(), bdev_unregister_descs_closed, bi) != 0) {
			bdev_unregister_descs_closed(bi);
		}
	}
}

int
usk_bdev_unregister_by_name(const char *bdev_name, struct usk_bdev_module *module,
			    usk_bdev_unregister_cb cb_fn, void *cb_arg)
{
	struct usk_bdev *bdev = usk_bdev_get_by_name(bdev_name);

	if (bdev == NULL || bdev->module != module || strcmp(bdev->name, bdev_name) != 0) {
		return -ENODEV;
	}
	if (bdev->internal->status != BDEV_STATUS_READY) {
		return -EBUSY;
	}
	usk_bdev_unregister(bdev, cb_fn, cb_arg);
	return 0;
}

/* ---- descriptors ---- */

struct desc_event {
	struct usk_bdev_desc *desc;
	enum usk_bdev_event_type type;
};

static void
desc_put(struct usk_bdev_desc *desc)
{
	if (--desc->refs == 0 && desc->closed) {
		free(desc);
	}
}

static void
desc_event_msg(void *ctx)
{
	struct desc_event *ev = ctx;
	struct usk_bdev_desc *desc = ev->desc;

	if (!desc->closed) {
		desc->event_cb(ev->type, desc->bdev, desc->event_ctx);
	}
	desc_put(desc);
	free(ev);
}

/* Called with the bdev mutex held. */
static void
bdev_desc_send_event(struct usk_bdev_desc *desc, enum usk_bdev_event_type type)
{
	struct desc_event *ev = calloc(1, sizeof(*ev));

	if (ev == NULL) {
		USK_ERRLOG("no memory for a bdev event\n");
		return;
	}
	ev->desc = desc;
	ev->type = type;
	desc->refs++;
	if (usk_thread_send_msg(desc->thread, desc_event_msg, ev) != 0) {
		desc->refs--;
		free(ev);
		USK_ERRLOG("could not send bdev event to thread\n");
	}
}

int
usk_bdev_open_ext(const char *bdev_name, bool write, usk_bdev_event_cb_t event_cb, void *event_ctx,
		  struct usk_bdev_desc **_desc)
{
	struct usk_bdev_internal *bi;
	struct usk_bdev_desc *desc;
	struct usk_thread *thread = usk_get_thread();

	if (event_cb == NULL || _desc == NULL || bdev_name == NULL || thread == NULL) {
		return -EINVAL;
	}
	desc = calloc(1, sizeof(*desc));
	if (desc == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_bdev_list_mutex);
	bi = bdev_lookup_locked(bdev_name);
	if (bi == NULL) {
		pthread_mutex_unlock(&g_bdev_list_mutex);
		free(desc);
		return -ENODEV;
	}
	pthread_mutex_lock(&bi->mutex);
	pthread_mutex_unlock(&g_bdev_list_mutex);
	if (bi->status != BDEV_STATUS_READY) {
		pthread_mutex_unlock(&bi->mutex);
		free(desc);
		return -ENODEV;
	}
	if (write && bi->claim_module != NULL) {
		pthread_mutex_unlock(&bi->mutex);
		USK_ERRLOG("bdev %s is claimed by module %s: cannot open for write\n",
			   bi->bdev->name, bi->claim_module->name);
		free(desc);
		return -EPERM;
	}
	desc->bdev = bi->bdev;
	desc->thread = thread;
	desc->event_cb = event_cb;
	desc->event_ctx = event_ctx;
	desc->write = write;
	desc->refs = 1;
	TAILQ_INSERT_TAIL(&bi->descs, desc, link);
	bi->open_descs++;
	pthread_mutex_unlock(&bi->mutex);
	*_desc = desc;
	return 0;
}

void
usk_bdev_close(struct usk_bdev_desc *desc)
{
	struct usk_bdev_internal *bi = desc->bdev->internal;
	bool last;

	if (desc->thread != usk_get_thread()) {
		USK_ERRLOG(
			"descriptor of %s closed on a thread other than the one that opened it\n",
			desc->bdev->name);
	}
	pthread_mutex_lock(&bi->mutex);
	TAILQ_REMOVE(&bi->descs, desc, link);
	bi->open_descs--;
	if (bi->claim_desc == desc) {
		bi->claim_desc = NULL;
		bi->claim_module = NULL;
	}
	last = TAILQ_EMPTY(&bi->descs) && bi->status == BDEV_STATUS_UNREGISTERING;
	pthread_mutex_unlock(&bi->mutex);
	desc->closed = true;
	desc_put(desc);
	if (last) {
		struct usk_thread *t = bi->unregister_thread ? bi->unregister_thread :
							       usk_get_thread();

		if (usk_thread_send_msg(t, bdev_unregister_descs_closed, bi) != 0) {
			bdev_unregister_descs_closed(bi);
		}
	}
}

struct usk_bdev *
usk_bdev_desc_get_bdev(struct usk_bdev_desc *desc)
{
	return desc->bdev;
}

struct usk_io_channel *
usk_bdev_get_io_channel(struct usk_bdev_desc *desc)
{
	return usk_get_io_channel(bdev_io_device(desc->bdev));
}

/* ---- claims ---- */

int
usk_bdev_module_claim_bdev(struct usk_bdev *bdev, struct usk_bdev_desc *desc,
			   struct usk_bdev_module *module)
{
	struct usk_bdev_internal *bi = bdev->internal;
	int rc = 0;

	pthread_mutex_lock(&bi->mutex);
	if (bi->claim_module != NULL) {
		USK_ERRLOG("bdev %s already claimed by module %s\n", bdev->name,
			   bi->claim_module->name);
		rc = -EPERM;
	} else {
		bi->claim_module = module;
		bi->claim_desc = desc;
		if (desc) {
			desc->write = true;
		}
	}
	pthread_mutex_unlock(&bi->mutex);
	return rc;
}

void
usk_bdev_module_release_bdev(struct usk_bdev *bdev)
{
	struct usk_bdev_internal *bi = bdev->internal;

	pthread_mutex_lock(&bi->mutex);
	bi->claim_module = NULL;
	bi->claim_desc = NULL;
	pthread_mutex_unlock(&bi->mutex);
}

struct usk_bdev_module *
usk_bdev_get_claim_module(const struct usk_bdev *bdev)
{
	return bdev->internal->claim_module;
}

/* ---- aliases ---- */

int
usk_bdev_alias_add(struct usk_bdev *bdev, const char *alias)
{
	struct bdev_alias *a;

	if (alias == NULL || alias[0] == '\0' || strlen(alias) >= USK_BDEV_MAX_NAME_LEN) {
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->name = strdup(alias)) == NULL) {
		free(a);
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_bdev_list_mutex);
	if (bdev_name_taken_locked(alias) || strcmp(alias, bdev->name) == 0) {
		pthread_mutex_unlock(&g_bdev_list_mutex);
		USK_ERRLOG("bdev name or alias %s already exists\n", alias);
		free(a->name);
		free(a);
		return -EEXIST;
	}
	TAILQ_INSERT_TAIL(&bdev->internal->aliases, a, link);
	pthread_mutex_unlock(&g_bdev_list_mutex);
	return 0;
}

int
usk_bdev_alias_del(struct usk_bdev *bdev, const char *alias)
{
	struct bdev_alias *a;

	pthread_mutex_lock(&g_bdev_list_mutex);
	TAILQ_FOREACH(a, &bdev->internal->aliases, link) {
		if (strcmp(a->name, alias) == 0) {
			TAILQ_REMOVE(&bdev->internal->aliases, a, link);
			pthread_mutex_unlock(&g_bdev_list_mutex);
			free(a->name);
			free(a);
			return 0;
		}
	}
	pthread_mutex_unlock(&g_bdev_list_mutex);
	return -ENOENT;
}

void
usk_bdev_alias_del_all(struct usk_bdev *bdev)
{
	struct bdev_alias *a;

	pthread_mutex_lock(&g_bdev_list_mutex);
	while ((a = TAILQ_FIRST(&bdev->internal->aliases)) != NULL) {
		TAILQ_REMOVE(&bdev->internal->aliases, a, link);
		free(a->name);
		free(a);
	}
	pthread_mutex_unlock(&g_bdev_list_mutex);
}

void
usk_bdev_foreach_alias(const struct usk_bdev *bdev, void (*fn)(const char *alias, void *ctx),
		       void *ctx)
{
	struct bdev_alias *a;

	TAILQ_FOREACH(a, &bdev->internal->aliases, link) {
		fn(a->name, ctx);
	}
}

/* ---- resize ---- */

int
usk_bdev_notify_blockcnt_change(struct usk_bdev *bdev, uint64_t size)
{
	struct usk_bdev_internal *bi = bdev->internal;
	struct usk_bdev_desc *desc;

	pthread_mutex_lock(&bi->mutex);
	if (size < bdev->blockcnt && !TAILQ_EMPTY(&bi->descs)) {
		pthread_mutex_unlock(&bi->mutex);
		return -EBUSY;
	}
	bdev->blockcnt = size;
	TAILQ_FOREACH(desc, &bi->descs, link) {
		bdev_desc_send_event(desc, USK_BDEV_EVENT_RESIZE);
	}
	pthread_mutex_unlock(&bi->mutex);
	return 0;
}

/* ---- properties ---- */

const char *
usk_bdev_get_name(const struct usk_bdev *bdev)
{
	return bdev->name;
}

const char *
usk_bdev_get_product_name(const struct usk_bdev *bdev)
{
	return bdev->product_name ? bdev->product_name : "";
}

const char *
usk_bdev_get_module_name(const struct usk_bdev *bdev)
{
	return bdev->module->name;
}

uint32_t
usk_bdev_get_block_size(const struct usk_bdev *bdev)
{
	return bdev->blocklen;
}

uint64_t
usk_bdev_get_num_blocks(const struct usk_bdev *bdev)
{
	return bdev->blockcnt;
}

uint32_t
usk_bdev_get_data_block_size(const struct usk_bdev *bdev)
{
	return bdev->blocklen;
}

uint32_t
usk_bdev_get_md_size(const struct usk_bdev *bdev)
{
	return 0;
}

uint32_t
usk_bdev_get_optimal_io_boundary(const struct usk_bdev *bdev)
{
	return bdev->optimal_io_boundary;
}

uint32_t
usk_bdev_get_write_unit_size(const struct usk_bdev *bdev)
{
	return bdev->write_unit_size ? bdev->write_unit_size : 1;
}

size_t
usk_bdev_get_buf_align(const struct usk_bdev *bdev)
{
	return (size_t)1 << bdev->required_alignment;
}

bool
usk_bdev_has_write_cache(const struct usk_bdev *bdev)
{
	return bdev->write_cache;
}

const uint8_t *
usk_bdev_get_uuid(const struct usk_bdev *bdev)
{
	return bdev->uuid;
}

bool
usk_bdev_io_type_supported(struct usk_bdev *bdev, enum usk_bdev_io_type io_type)
{
	bool supported = bdev->fn_table->io_type_supported(bdev->ctxt, io_type);

	if (!supported) {
		switch (io_type) {
		case USK_BDEV_IO_TYPE_WRITE_ZEROES:
			/* Emulated with writes of a zero buffer. */
			supported = bdev->fn_table->io_type_supported(bdev->ctxt,
								      USK_BDEV_IO_TYPE_WRITE);
			break;
		default:
			break;
		}
	}
	return supported;
}

void
usk_bdev_dump_info_json(struct usk_bdev *bdev, json_t *obj)
{
	if (bdev->fn_table->dump_info_json) {
		bdev->fn_table->dump_info_json(bdev->ctxt, obj);
	}
}

/* ---- configuration ---- */

void
usk_bdev_subsystem_config_json(json_t *config_array)
{
	struct usk_bdev_module *m;
	struct usk_bdev_internal *bi;
	json_t *params = json_object();

	usk_json_set(params, "bdev_io_pool_size", json_integer(g_bdev_opts.bdev_io_pool_size));
	usk_json_set(params, "bdev_io_cache_size", json_integer(g_bdev_opts.bdev_io_cache_size));
	usk_json_set(params, "bdev_auto_examine", json_boolean(g_bdev_opts.bdev_auto_examine));
	usk_json_set(params, "small_buf_pool_size", json_integer(g_bdev_opts.small_buf_pool_size));
	usk_json_set(params, "large_buf_pool_size", json_integer(g_bdev_opts.large_buf_pool_size));
	usk_json_set(params, "buf_pools_at_init", json_boolean(g_bdev_opts.buf_pools_at_init));
	usk_json_config_add(config_array, "bdev_set_options", params);

	for (m = g_modules_head; m; m = m->internal.next) {
		if (m->config_json) {
			m->config_json(config_array);
		}
	}
	pthread_mutex_lock(&g_bdev_list_mutex);
	TAILQ_FOREACH(bi, &g_bdev_mgr.bdevs, link) {
		if (bi->status != BDEV_STATUS_READY) {
			continue;
		}
		if (bi->bdev->fn_table->write_config_json) {
			bi->bdev->fn_table->write_config_json(bi->bdev, config_array);
		}
		bdev_qos_write_config(bi->bdev, config_array);
		if (!usk_bdev_histogram_is_enabled(bi->bdev)) {
			usk_json_config_add(config_array, "bdev_enable_histogram",
					    json_pack("{s:s, s:b}", "name", bi->bdev->name,
						      "enable", 0));
		}
	}
	pthread_mutex_unlock(&g_bdev_list_mutex);
	usk_json_config_add(config_array, "bdev_wait_for_examine", NULL);
}
