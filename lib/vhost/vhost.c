/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user-blk controllers: registry (app thread), creation on a thread of the controller's
 * cpumask, removal, coalescing settings, JSON dumps, and the "vhost_blk" usk_subsystem.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/env.h"
#include "usk/event.h"
#include "usk/json.h"
#include "usk/log.h"
#include "vhost_internal.h"

static TAILQ_HEAD(, vhost_blk_dev) g_vhost_devs = TAILQ_HEAD_INITIALIZER(g_vhost_devs);
static char g_socket_dir[PATH_MAX] = USK_VHOST_DEFAULT_SOCKET_DIR;
static struct usk_thread *g_app_thread;

int
usk_vhost_set_socket_dir(const char *dir)
{
	size_t len = strlen(dir);

	if (!TAILQ_EMPTY(&g_vhost_devs)) {
		return -EBUSY;
	}
	while (len > 1 && dir[len - 1] == '/') {
		len--;
	}
	if (len == 0 || len >= sizeof(g_socket_dir)) {
		return -ENAMETOOLONG;
	}
	memcpy(g_socket_dir, dir, len);
	g_socket_dir[len] = '\0';
	return 0;
}

const char *
usk_vhost_get_socket_dir(void)
{
	return g_socket_dir;
}

static struct vhost_blk_dev *
dev_find(const char *name)
{
	struct vhost_blk_dev *dev;

	TAILQ_FOREACH(dev, &g_vhost_devs, link) {
		if (strcmp(dev->name, name) == 0) {
			return dev;
		}
	}
	return NULL;
}

static void
dev_free(struct vhost_blk_dev *dev)
{
	free(dev->socket_path);
	free(dev);
}

/* ---- creation ---- */

struct construct_ctx {
	struct vhost_blk_dev *dev;
	usk_vhost_cb cb;
	void *cb_arg;
	int rc;
};

static void
bdev_event_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *ctx)
{
	struct vhost_blk_dev *dev = ctx;

	if (type != USK_BDEV_EVENT_REMOVE) {
		if (type == USK_BDEV_EVENT_RESIZE) {
			/* The guest sees the new capacity on its next config read. */
			dev->num_blocks = usk_bdev_get_num_blocks(bdev);
		}
		return;
	}
	USK_WARNLOG("vhost %s: bdev %s is being removed\n", dev->name, dev->bdev_name);
	dev->bdev_removed = true;
	if (dev->conn_state == VHOST_CONN_NONE) {
		vhost_dev_release_bdev(dev);
	} else {
		vhost_user_close_conn(dev, "bdev hot-removed");
	}
}

void
vhost_dev_release_bdev(struct vhost_blk_dev *dev)
{
	if (dev->ch != NULL) {
		usk_put_io_channel(dev->ch);
		dev->ch = NULL;
	}
	if (dev->bdev_desc != NULL) {
		usk_bdev_close(dev->bdev_desc);
		dev->bdev_desc = NULL;
	}
	dev->bdev = NULL;
}

static void
construct_done_on_app(void *arg)
{
	struct construct_ctx *ctx = arg;

	if (ctx->rc != 0) {
		TAILQ_REMOVE(&g_vhost_devs, ctx->dev, link);
		dev_free(ctx->dev);
	} else {
		USK_NOTICELOG("vhost %s: controller on %s, socket %s\n", ctx->dev->name,
			      ctx->dev->bdev_name, ctx->dev->socket_path);
	}
	ctx->cb(ctx->cb_arg, ctx->rc);
	free(ctx);
}

static void
construct_on_thread(void *arg)
{
	struct construct_ctx *ctx = arg;
	struct vhost_blk_dev *dev = ctx->dev;
	int rc;

	rc = usk_bdev_open_ext(dev->bdev_name, !dev->readonly, bdev_event_cb, dev, &dev->bdev_desc);
	if (rc != 0) {
		USK_ERRLOG("vhost %s: cannot open bdev %s: %s\n", dev->name, dev->bdev_name,
			   strerror(-rc));
		goto err;
	}
	dev->bdev = usk_bdev_desc_get_bdev(dev->bdev_desc);
	dev->block_size = usk_bdev_get_block_size(dev->bdev);
	dev->num_blocks = usk_bdev_get_num_blocks(dev->bdev);
	if (dev->block_size < USK_VIRTIO_BLK_SECTOR_SIZE ||
	    dev->block_size % USK_VIRTIO_BLK_SECTOR_SIZE) {
		USK_ERRLOG("vhost %s: block size %u is not a multiple of 512\n", dev->name,
			   dev->block_size);
		rc = -EINVAL;
		goto err;
	}
	dev->ch = usk_bdev_get_io_channel(dev->bdev_desc);
	if (dev->ch == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	vhost_blk_set_coalescing_ticks(dev);
	rc = vhost_user_listen(dev);
	if (rc != 0) {
		USK_ERRLOG("vhost %s: cannot listen on %s: %s\n", dev->name, dev->socket_path,
			   strerror(-rc));
		goto err;
	}
	ctx->rc = 0;
	usk_thread_send_msg(g_app_thread, construct_done_on_app, ctx);
	return;
err:
	vhost_dev_release_bdev(dev);
	ctx->rc = rc;
	usk_thread_exit(dev->thread);
	usk_thread_send_msg(g_app_thread, construct_done_on_app, ctx);
}

static int
parse_cpumask(const char *mask, struct usk_cpuset *out, char *err, size_t err_len)
{
	struct usk_cpuset app, tmp;
	uint32_t core;

	usk_cpuset_zero(&app);
	for (core = usk_env_get_first_core(); core != UINT32_MAX;
	     core = usk_env_get_next_core(core)) {
		usk_cpuset_set_cpu(&app, core, true);
	}
	if (mask == NULL) {
		*out = app;
		return 0;
	}
	if (usk_cpuset_parse(out, mask) != 0 || usk_cpuset_count(out) == 0) {
		snprintf(err, err_len, "cpumask: '%s' is not a CPU mask", mask);
		return -EINVAL;
	}
	tmp = *out;
	usk_cpuset_and(&tmp, &app);
	if (!usk_cpuset_equal(&tmp, out)) {
		snprintf(err, err_len, "cpumask: '%s' is not a subset of the reactor mask 0x%s",
			 mask, usk_cpuset_fmt(&app));
		return -EINVAL;
	}
	return 0;
}

int
usk_vhost_blk_construct(const struct usk_vhost_blk_opts *opts, usk_vhost_cb cb, void *cb_arg,
			char *err, size_t err_len)
{
	struct construct_ctx *ctx;
	struct vhost_blk_dev *dev;
	char tname[USK_VHOST_MAX_NAME_LEN + 8];
	size_t nlen;
	int rc;

	err[0] = '\0';
	g_app_thread = usk_get_thread();
	nlen = opts->name ? strlen(opts->name) : 0;
	if (nlen == 0 || nlen >= USK_VHOST_MAX_NAME_LEN || strchr(opts->name, '/') != NULL ||
	    strcmp(opts->name, ".") == 0 || strcmp(opts->name, "..") == 0) {
		snprintf(err, err_len, "ctrlr: must be 1..%d characters without '/'",
			 USK_VHOST_MAX_NAME_LEN - 1);
		return -EINVAL;
	}
	if (dev_find(opts->name) != NULL) {
		snprintf(err, err_len, "ctrlr: controller %s already exists", opts->name);
		return -EEXIST;
	}
	if (opts->bdev_name == NULL || usk_bdev_get_by_name(opts->bdev_name) == NULL) {
		snprintf(err, err_len, "dev_name: no bdev named %s",
			 opts->bdev_name ? opts->bdev_name : "(null)");
		return -ENODEV;
	}
	dev = calloc(1, sizeof(*dev));
	ctx = calloc(1, sizeof(*ctx));
	if (dev == NULL || ctx == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	rc = parse_cpumask(opts->cpumask, &dev->cpumask, err, err_len);
	if (rc != 0) {
		goto err_free;
	}
	snprintf(dev->name, sizeof(dev->name), "%s", opts->name);
	snprintf(dev->bdev_name, sizeof(dev->bdev_name), "%s", opts->bdev_name);
	dev->socket_path = usk_sprintf_alloc("%s/%s", g_socket_dir, opts->name);
	if (dev->socket_path == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	if (strlen(dev->socket_path) >= 108) {
		snprintf(err, err_len, "ctrlr: socket path %s is longer than 107 bytes",
			 dev->socket_path);
		rc = -ENAMETOOLONG;
		goto err_free;
	}
	dev->readonly = opts->readonly;
	dev->packed_ring = opts->packed_ring;
	dev->iops_threshold = VHOST_DEFAULT_IOPS_THRESHOLD;
	dev->cfg_iops_threshold = VHOST_DEFAULT_IOPS_THRESHOLD;
	dev->listen_fd = dev->conn_fd = -1;
	snprintf(tname, sizeof(tname), "vhost.%s", dev->name);
	dev->thread = usk_thread_create(tname, &dev->cpumask);
	if (dev->thread == NULL) {
		snprintf(err, err_len, "cannot create thread %s", tname);
		rc = -ENOMEM;
		goto err_free;
	}
	ctx->dev = dev;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	TAILQ_INSERT_TAIL(&g_vhost_devs, dev, link);
	if (usk_thread_send_msg(dev->thread, construct_on_thread, ctx) != 0) {
		/* Cannot happen with a fresh thread; the thread is left to the framework's exit. */
		TAILQ_REMOVE(&g_vhost_devs, dev, link);
		snprintf(err, err_len, "cannot reach thread %s", tname);
		rc = -ENOMEM;
		goto err_free;
	}
	return 0;
err_free:
	if (dev != NULL) {
		dev_free(dev);
	}
	free(ctx);
	return rc;
}

/* ---- removal ---- */

struct remove_ctx {
	struct vhost_blk_dev *dev;
	usk_vhost_cb cb;
	void *cb_arg;
};

static void
remove_done_on_app(void *arg)
{
	struct remove_ctx *ctx = arg;

	USK_NOTICELOG("vhost %s: controller removed\n", ctx->dev->name);
	TAILQ_REMOVE(&g_vhost_devs, ctx->dev, link);
	dev_free(ctx->dev);
	ctx->cb(ctx->cb_arg, 0);
	free(ctx);
}

void
vhost_dev_remove_continue(struct vhost_blk_dev *dev)
{
	struct remove_ctx *ctx = dev->remove_cb_arg;

	vhost_dev_release_bdev(dev);
	for (uint32_t i = 0; i < VHOST_MAX_QUEUES; i++) {
		free(dev->vqs[i].tasks);
		dev->vqs[i].tasks = NULL;
	}
	usk_thread_exit(dev->thread);
	usk_thread_send_msg(g_app_thread, remove_done_on_app, ctx);
}

static void
remove_on_thread(void *arg)
{
	struct remove_ctx *ctx = arg;
	struct vhost_blk_dev *dev = ctx->dev;

	dev->remove_cb_arg = ctx;
	dev->removing = true;
	vhost_user_shutdown(dev);
}

int
usk_vhost_dev_remove(const char *name, usk_vhost_cb cb, void *cb_arg)
{
	struct vhost_blk_dev *dev = dev_find(name);
	struct remove_ctx *ctx;

	if (dev == NULL || dev->app_removing) {
		return -ENODEV;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	g_app_thread = usk_get_thread();
	ctx->dev = dev;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	/* App-side mark (the thread sets its own): a second delete is -ENODEV at once. */
	dev->app_removing = true;
	if (usk_thread_send_msg(dev->thread, remove_on_thread, ctx) != 0) {
		dev->app_removing = false;
		free(ctx);
		return -ENOMEM;
	}
	return 0;
}

/* ---- coalescing ---- */

struct coalescing_ctx {
	struct vhost_blk_dev *dev;
	uint32_t delay_base_us;
	uint32_t iops_threshold;
};

static void
coalescing_on_thread(void *arg)
{
	struct coalescing_ctx *ctx = arg;

	ctx->dev->delay_base_us = ctx->delay_base_us;
	ctx->dev->iops_threshold = ctx->iops_threshold;
	vhost_blk_set_coalescing_ticks(ctx->dev);
	free(ctx);
}

int
usk_vhost_set_coalescing(const char *name, uint32_t delay_base_us, uint32_t iops_threshold)
{
	struct vhost_blk_dev *dev = dev_find(name);
	struct coalescing_ctx *ctx;

	if (dev == NULL || dev->app_removing) {
		return -ENODEV;
	}
	/* SPDK's limits: delay_base_us <= 1 s, iops_threshold in 1..1M when coalescing is on. */
	if (delay_base_us > 1000000 ||
	    (delay_base_us > 0 && (iops_threshold == 0 || iops_threshold > 1000000))) {
		return -EINVAL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->dev = dev;
	ctx->delay_base_us = delay_base_us;
	ctx->iops_threshold = iops_threshold;
	if (usk_thread_send_msg(dev->thread, coalescing_on_thread, ctx) != 0) {
		free(ctx);
		return -ENOMEM;
	}
	dev->cfg_delay_base_us = delay_base_us;
	dev->cfg_iops_threshold = iops_threshold;
	return 0;
}

/* ---- dumps and config ---- */

static json_t *
dev_json(const struct vhost_blk_dev *dev)
{
	char mask[USK_CPUSET_SIZE / 4 + 3];

	snprintf(mask, sizeof(mask), "0x%s", usk_cpuset_fmt(&dev->cpumask));
	return json_pack("{s:s, s:s, s:i, s:i, s:s, s:{s:{s:b, s:s, s:b, s:s}}}", "ctrlr",
			 dev->name, "cpumask", mask, "delay_base_us",
			 (json_int_t)dev->cfg_delay_base_us, "iops_threshold",
			 (json_int_t)dev->cfg_iops_threshold, "socket", dev->socket_path,
			 "backend_specific", "block", "readonly", dev->readonly, "bdev",
			 dev->bdev_name, "packed_ring", dev->packed_ring, "transport",
			 "vhost_user_blk");
}

int
usk_vhost_dump_controllers(const char *name, json_t *array)
{
	struct vhost_blk_dev *dev;

	if (name != NULL) {
		dev = dev_find(name);
		if (dev == NULL) {
			return -ENODEV;
		}
		json_array_append_new(array, dev_json(dev));
		return 0;
	}
	TAILQ_FOREACH(dev, &g_vhost_devs, link) {
		json_array_append_new(array, dev_json(dev));
	}
	return 0;
}

void
usk_vhost_write_config_json(json_t *config)
{
	struct vhost_blk_dev *dev;
	char mask[USK_CPUSET_SIZE / 4 + 3];

	TAILQ_FOREACH(dev, &g_vhost_devs, link) {
		if (dev->app_removing) {
			continue;
		}
		snprintf(mask, sizeof(mask), "0x%s", usk_cpuset_fmt(&dev->cpumask));
		usk_json_config_add(config, "vhost_create_blk_controller",
				    json_pack("{s:s, s:s, s:s, s:b, s:b}", "ctrlr", dev->name,
					      "dev_name", dev->bdev_name, "cpumask", mask,
					      "readonly", dev->readonly, "packed_ring",
					      dev->packed_ring));
		if (dev->cfg_delay_base_us != 0) {
			usk_json_config_add(
				config, "vhost_controller_set_coalescing",
				json_pack("{s:s, s:i, s:i}", "ctrlr", dev->name, "delay_base_us",
					  (json_int_t)dev->cfg_delay_base_us, "iops_threshold",
					  (json_int_t)dev->cfg_iops_threshold));
		}
	}
}

/* ---- fini ---- */

static usk_vhost_cb g_fini_cb;
static void *g_fini_cb_arg;

static void fini_next(void *arg, int rc);

static void
fini_retry(void *arg)
{
	fini_next(arg, 0);
}

static void
fini_next(void *arg, int rc)
{
	struct vhost_blk_dev *dev;

	TAILQ_FOREACH(dev, &g_vhost_devs, link) {
		if (!dev->app_removing && usk_vhost_dev_remove(dev->name, fini_next, NULL) == 0) {
			return;
		}
	}
	if (TAILQ_EMPTY(&g_vhost_devs)) {
		g_fini_cb(g_fini_cb_arg, 0);
		return;
	}
	/* A removal started elsewhere (an RPC) is still running and its callback is not ours:
	 * look again from a message until the list is empty. */
	usk_thread_send_msg(usk_get_thread(), fini_retry, NULL);
}

void
usk_vhost_fini(usk_vhost_cb cb, void *cb_arg)
{
	g_fini_cb = cb;
	g_fini_cb_arg = cb_arg;
	g_app_thread = usk_get_thread();
	fini_next(NULL, 0);
}

/* ---- subsystem ---- */

static void
vhost_subsystem_init(void)
{
	g_app_thread = usk_get_thread();
	usk_subsystem_init_next(0);
}

static void
vhost_fini_done(void *arg, int rc)
{
	usk_subsystem_fini_next();
}

static void
vhost_subsystem_fini(void)
{
	usk_vhost_fini(vhost_fini_done, NULL);
}

static struct usk_subsystem g_usk_subsystem_vhost_blk = {
	.name = "vhost_blk",
	.init = vhost_subsystem_init,
	.fini = vhost_subsystem_fini,
	.write_config_json = usk_vhost_write_config_json,
};

USK_SUBSYSTEM_REGISTER(g_usk_subsystem_vhost_blk)
USK_SUBSYSTEM_DEPEND(vhost_blk, bdev)
