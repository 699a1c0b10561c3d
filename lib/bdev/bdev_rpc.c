/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON-RPC methods of the bdev layer (SPDK names and params): bdev_get_bdevs, iostat, QoS, options.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "bdev_internal.h"
#include "usk/json.h"
#include "usk/rpc.h"
#include "usk_internal/bdev_rpc.h"

/* ---- bdev_get_bdevs ---- */

static void
add_alias(const char *alias, void *ctx)
{
	usk_json_append(ctx, json_string(alias));
}

static json_t *
bdev_info_json(struct usk_bdev *bdev)
{
	json_t *o = json_object(), *a = json_array(), *limits = json_object(),
	       *types = json_object();
	json_t *ds = json_object();
	uint64_t qos[USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	char uuid_str[37];
	int i;

	usk_json_set(o, "name", json_string(bdev->name));
	usk_bdev_foreach_alias(bdev, add_alias, a);
	usk_json_set(o, "aliases", a);
	usk_json_set(o, "product_name", json_string(usk_bdev_get_product_name(bdev)));
	usk_json_set(o, "block_size", json_integer(bdev->blocklen));
	usk_json_set(o, "num_blocks", json_integer((json_int_t)bdev->blockcnt));
	uuid_unparse_lower(bdev->uuid, uuid_str);
	usk_json_set(o, "uuid", json_string(uuid_str));
	if (bdev->optimal_io_boundary) {
		usk_json_set(o, "optimal_io_boundary", json_integer(bdev->optimal_io_boundary));
	}
	usk_bdev_get_qos_rate_limits(bdev, qos);
	for (i = 0; i < USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		uint64_t v = i == USK_BDEV_QOS_RW_IOPS_RATE_LIMIT ? qos[i] : qos[i] / (1024 * 1024);

		usk_json_set(limits, usk_bdev_get_qos_rpc_type(i), json_integer((json_int_t)v));
	}
	usk_json_set(o, "assigned_rate_limits", limits);
	usk_json_set(o, "claimed", json_boolean(usk_bdev_get_claim_module(bdev) != NULL));
	if (usk_bdev_get_claim_module(bdev)) {
		usk_json_set(o, "claim_type", json_string("exclusive_write"));
	}
	usk_json_set(o, "zoned", json_false());
	usk_json_set(o, "write_cache", json_boolean(bdev->write_cache));
	usk_json_set(o, "md_size", json_integer(0));
	for (i = 1; i < USK_BDEV_NUM_IO_TYPES; i++) {
		usk_json_set(types, usk_bdev_io_type_name(i),
			     json_boolean(usk_bdev_io_type_supported(bdev, i)));
	}
	usk_json_set(o, "supported_io_types", types);
	usk_bdev_dump_info_json(bdev, ds);
	usk_json_set(o, "driver_specific", ds);
	return o;
}

struct get_bdevs_ctx {
	struct usk_jsonrpc_request *request;
	char *name;
	uint64_t deadline;
	struct usk_poller *poller;
};

static int
get_bdevs_wait_poll(void *arg)
{
	struct get_bdevs_ctx *ctx = arg;
	struct usk_bdev *bdev = usk_bdev_get_by_name(ctx->name);
	json_t *res;

	if (bdev == NULL && usk_get_ticks() < ctx->deadline) {
		return USK_POLLER_IDLE;
	}
	usk_poller_unregister(&ctx->poller);
	if (bdev == NULL) {
		usk_jsonrpc_send_error_response_fmt(ctx->request, -ENODEV,
						    "bdev not found: %s (name)", ctx->name);
	} else {
		res = json_array();
		usk_json_append(res, bdev_info_json(bdev));
		usk_jsonrpc_send_result(ctx->request, res);
	}
	free(ctx->name);
	free(ctx);
	return USK_POLLER_BUSY;
}

struct rpc_get_bdevs_params {
	char *name;
	uint64_t timeout;
};

static void
rpc_bdev_get_bdevs(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_get_bdevs_params p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_get_bdevs_params, name), usk_json_decode_string, true},
		{"timeout", offsetof(struct rpc_get_bdevs_params, timeout), usk_json_decode_uint64,
		 true},
	};
	struct usk_bdev *bdev;
	json_t *res;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		free(p.name);
		return;
	}
	res = json_array();
	if (p.name) {
		bdev = usk_bdev_get_by_name(p.name);
		if (bdev == NULL && p.timeout > 0) {
			struct get_bdevs_ctx *ctx = calloc(1, sizeof(*ctx));

			json_decref(res);
			if (ctx == NULL) {
				usk_jsonrpc_send_error_response(request, -ENOMEM, "out of memory");
				free(p.name);
				return;
			}
			ctx->request = request;
			ctx->name = p.name;
			ctx->deadline = usk_get_ticks() + p.timeout * usk_get_ticks_hz() / 1000;
			ctx->poller = usk_poller_register_named(get_bdevs_wait_poll, ctx, 1000,
								"bdev_get_bdevs_wait");
			return;
		}
		if (bdev == NULL) {
			json_decref(res);
			usk_jsonrpc_send_error_response_fmt(request, -ENODEV,
							    "bdev not found: %s (name)", p.name);
			free(p.name);
			return;
		}
		usk_json_append(res, bdev_info_json(bdev));
	} else {
		for (bdev = usk_bdev_first(); bdev; bdev = usk_bdev_next(bdev)) {
			usk_json_append(res, bdev_info_json(bdev));
		}
	}
	free(p.name);
	usk_jsonrpc_send_result(request, res);
}
USK_RPC_REGISTER("bdev_get_bdevs", rpc_bdev_get_bdevs, USK_RPC_RUNTIME)

/* ---- bdev_wait_for_examine ---- */

static void
wait_for_examine_done(void *arg)
{
	usk_jsonrpc_send_bool_response(arg, true);
}

static void
rpc_bdev_wait_for_examine(struct usk_jsonrpc_request *request, const json_t *params)
{
	int rc;

	if (params && json_is_object(params) && json_object_size(params) > 0) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"bdev_wait_for_examine takes no parameters");
		return;
	}
	rc = usk_bdev_wait_for_examine(wait_for_examine_done, request);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc, "wait_for_examine failed: %s",
						    strerror(-rc));
	}
}
USK_RPC_REGISTER("bdev_wait_for_examine", rpc_bdev_wait_for_examine, USK_RPC_RUNTIME)

/* ---- bdev_set_options ---- */

static void
rpc_bdev_set_options(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct usk_bdev_opts opts;
	const struct usk_json_object_decoder d[] = {
		{"bdev_io_pool_size", offsetof(struct usk_bdev_opts, bdev_io_pool_size),
		 usk_json_decode_uint32, true},
		{"bdev_io_cache_size", offsetof(struct usk_bdev_opts, bdev_io_cache_size),
		 usk_json_decode_uint32, true},
		{"bdev_auto_examine", offsetof(struct usk_bdev_opts, bdev_auto_examine),
		 usk_json_decode_bool, true},
		{"small_buf_pool_size", offsetof(struct usk_bdev_opts, small_buf_pool_size),
		 usk_json_decode_uint32, true},
		{"large_buf_pool_size", offsetof(struct usk_bdev_opts, large_buf_pool_size),
		 usk_json_decode_uint32, true},
		{"buf_pools_at_init", offsetof(struct usk_bdev_opts, buf_pools_at_init),
		 usk_json_decode_bool, true},
	};
	int rc;

	usk_bdev_get_opts(&opts, sizeof(opts));
	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &opts)) {
		return;
	}
	rc = usk_bdev_set_opts(&opts);
	if (rc == -EBUSY) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_STATE,
			"bdev_set_options is only allowed before the bdev layer starts");
		return;
	}
	if (rc != 0) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: bdev_io_pool_size must be >= bdev_io_cache_size * (threads + 1) "
			"and the buffer pool sizes > 0");
		return;
	}
	usk_jsonrpc_send_bool_response(request, true);
}
USK_RPC_REGISTER("bdev_set_options", rpc_bdev_set_options, USK_RPC_STARTUP)

/* ---- bdev_examine ---- */

static void
rpc_bdev_examine(struct usk_jsonrpc_request *request, const json_t *params)
{
	char *name = NULL;
	int rc;

	if (!usk_bdev_rpc_decode_name(request, params, &name)) {
		free(name);
		return;
	}
	rc = usk_bdev_examine(name);
	if (rc == -EINVAL) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_STATE,
						"bdev_examine needs bdev_auto_examine=false");
	} else if (rc == -EEXIST) {
		usk_jsonrpc_send_error_response_fmt(
			request, -EEXIST, "name: %s is already on the examine list", name);
	} else if (rc != 0) {
		usk_jsonrpc_send_error_response(request, rc, strerror(-rc));
	} else {
		usk_jsonrpc_send_bool_response(request, true);
	}
	free(name);
}
USK_RPC_REGISTER("bdev_examine", rpc_bdev_examine, USK_RPC_RUNTIME)

/* ---- bdev_get_iostat / bdev_reset_iostat ---- */

/* The non-zero buckets as [[index, count], ...] (the layout of include/usk/histogram.h). */
static json_t *
hist_to_json(const struct usk_histogram *h)
{
	json_t *a = json_array();
	uint32_t i;

	for (i = 0; i < USK_HISTOGRAM_NUM_BUCKETS; i++) {
		if (h->bucket[i]) {
			usk_json_append(a, json_pack("[I, I]", (json_int_t)i,
						     (json_int_t)h->bucket[i]));
		}
	}
	return a;
}

static void
percentiles_to_json(json_t *o, const char *kind, const struct usk_histogram *h)
{
	static const struct {
		const char *name;
		double pct;
	} pcts[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p999", 99.9}};
	char key[64];
	size_t i;

	for (i = 0; i < USK_COUNTOF(pcts); i++) {
		snprintf(key, sizeof(key), "%s_latency_%s_ticks", kind, pcts[i].name);
		usk_json_set(o, key,
			     json_integer((json_int_t)usk_histogram_percentile(
				     h->bucket, USK_HISTOGRAM_NUM_BUCKETS, pcts[i].pct)));
	}
}

static void
stat_to_json(json_t *o, const struct usk_bdev_io_stat *s, struct usk_bdev *bdev)
{
#define SET(f)	  usk_json_set(o, #f, json_integer((json_int_t)s->f))
#define SETMIN(f) usk_json_set(o, #f, json_integer((json_int_t)(s->f == UINT64_MAX ? 0 : s->f)))
	SET(bytes_read);
	SET(num_read_ops);
	SET(bytes_written);
	SET(num_write_ops);
	SET(bytes_unmapped);
	SET(num_unmap_ops);
	SET(bytes_copied);
	SET(num_copy_ops);
	SET(read_latency_ticks);
	SET(max_read_latency_ticks);
	SETMIN(min_read_latency_ticks);
	SET(write_latency_ticks);
	SET(max_write_latency_ticks);
	SETMIN(min_write_latency_ticks);
	SET(unmap_latency_ticks);
	SET(max_unmap_latency_ticks);
	SETMIN(min_unmap_latency_ticks);
	SET(copy_latency_ticks);
	SET(max_copy_latency_ticks);
	SETMIN(min_copy_latency_ticks);
#undef SET
#undef SETMIN
	{
		json_t *err = json_object();
		int i;

		for (i = 1; i < USK_BDEV_NUM_IO_TYPES; i++) {
			if (s->io_error[i]) {
				usk_json_set(err, usk_bdev_io_type_name(i),
					     json_integer((json_int_t)s->io_error[i]));
			}
		}
		usk_json_set(o, "io_error", err);
	}
	percentiles_to_json(o, "read", &s->read_latency_hist);
	percentiles_to_json(o, "write", &s->write_latency_hist);
	{
		json_t *h = json_object();

		if (bdev != NULL) {
			usk_json_set(h, "enabled",
				     json_boolean(usk_bdev_histogram_is_enabled(bdev)));
		}
		usk_json_set(h, "bucket_shift", json_integer(USK_HISTOGRAM_BUCKET_SHIFT));
		usk_json_set(h, "num_buckets", json_integer(USK_HISTOGRAM_NUM_BUCKETS));
		usk_json_set(h, "read", hist_to_json(&s->read_latency_hist));
		usk_json_set(h, "write", hist_to_json(&s->write_latency_hist));
		usk_json_set(o, "latency_histogram", h);
	}
}

struct iostat_ctx {
	struct usk_jsonrpc_request *request;
	json_t *bdevs;
	char **names;
	size_t count;
	size_t idx;
	bool per_channel;
	struct usk_bdev_desc *desc;
	struct usk_bdev_io_stat stat;
	json_t *channels;
};

static void iostat_next(struct iostat_ctx *ctx);

static void
iostat_event_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *event_ctx)
{
	/* The descriptor is closed as soon as the stats are read. */
}

static void
iostat_finish_one(struct iostat_ctx *ctx)
{
	usk_bdev_close(ctx->desc);
	ctx->desc = NULL;
	ctx->idx++;
	iostat_next(ctx);
}

static void
iostat_device_done(struct usk_bdev *bdev, struct usk_bdev_io_stat *stat, void *cb_arg, int rc)
{
	struct iostat_ctx *ctx = cb_arg;
	json_t *o;

	if (rc == 0) {
		o = json_object();
		usk_json_set(o, "name", json_string(bdev->name));
		stat_to_json(o, stat, bdev);
		usk_json_append(ctx->bdevs, o);
	}
	iostat_finish_one(ctx);
}

static void
iostat_channel(struct usk_io_channel_iter *i)
{
	struct iostat_ctx *ctx = usk_io_channel_iter_get_ctx(i);
	struct usk_io_channel *ch = usk_io_channel_iter_get_channel(i);
	struct usk_bdev_io_stat st;
	json_t *o = json_object();

	usk_bdev_get_io_stat(NULL, ch, &st);
	usk_json_set(o, "thread_id", json_integer((json_int_t)usk_thread_get_id(usk_get_thread())));
	stat_to_json(o, &st, ctx->desc->bdev);
	usk_json_append(ctx->channels, o);
	usk_for_each_channel_continue(i, 0);
}

static void
iostat_channels_done(struct usk_io_channel_iter *i, int status)
{
	struct iostat_ctx *ctx = usk_io_channel_iter_get_ctx(i);
	json_t *o = json_object();

	usk_json_set(o, "name", json_string(ctx->desc->bdev->name));
	usk_json_set(o, "channels", ctx->channels);
	ctx->channels = NULL;
	usk_json_append(ctx->bdevs, o);
	iostat_finish_one(ctx);
}

static void
iostat_next(struct iostat_ctx *ctx)
{
	size_t i;
	json_t *res;

	while (ctx->idx < ctx->count) {
		if (usk_bdev_open_ext(ctx->names[ctx->idx], false, iostat_event_cb, NULL,
				      &ctx->desc) != 0) {
			ctx->idx++; /* removed meanwhile */
			continue;
		}
		if (ctx->per_channel) {
			ctx->channels = json_array();
			if (ctx->channels == NULL ||
			    usk_for_each_channel(bdev_io_device(ctx->desc->bdev), iostat_channel,
						 ctx, iostat_channels_done) != 0) {
				/* Left out of the reply, as a failed device stat is. */
				json_decref(ctx->channels);
				ctx->channels = NULL;
				iostat_finish_one(ctx);
			}
		} else {
			usk_bdev_get_device_stat(ctx->desc->bdev, &ctx->stat, iostat_device_done,
						 ctx);
		}
		return;
	}
	res = json_object();
	usk_json_set(res, "tick_rate", json_integer((json_int_t)usk_get_ticks_hz()));
	usk_json_set(res, "ticks", json_integer((json_int_t)usk_get_ticks()));
	usk_json_set(res, "bdevs", ctx->bdevs);
	usk_jsonrpc_send_result(ctx->request, res);
	for (i = 0; i < ctx->count; i++) {
		free(ctx->names[i]);
	}
	free(ctx->names);
	free(ctx);
}

struct rpc_iostat_params {
	char *name;
	bool per_channel;
};

static void
rpc_bdev_get_iostat(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_iostat_params p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_iostat_params, name), usk_json_decode_string, true},
		{"per_channel", offsetof(struct rpc_iostat_params, per_channel),
		 usk_json_decode_bool, true},
	};
	struct iostat_ctx *ctx;
	struct usk_bdev *bdev;
	size_t n = 0;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		free(p.name);
		return;
	}
	if (p.name && usk_bdev_get_by_name(p.name) == NULL) {
		usk_jsonrpc_send_error_response_fmt(request, -ENODEV, "bdev not found: %s (name)",
						    p.name);
		free(p.name);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		goto err_nomem;
	}
	ctx->request = request;
	ctx->per_channel = p.per_channel;
	for (bdev = usk_bdev_first(); bdev; bdev = usk_bdev_next(bdev)) {
		n++;
	}
	ctx->names = calloc(n + 1, sizeof(char *));
	if (ctx->names == NULL) {
		free(ctx);
		goto err_nomem;
	}
	if (p.name) {
		ctx->names[ctx->count++] = p.name;
		p.name = NULL;
	} else {
		for (bdev = usk_bdev_first(); bdev && ctx->count < n; bdev = usk_bdev_next(bdev)) {
			ctx->names[ctx->count] = strdup(bdev->name);
			if (ctx->names[ctx->count]) {
				ctx->count++;
			}
		}
	}
	ctx->bdevs = json_array();
	iostat_next(ctx);
	return;

err_nomem:
	free(p.name);
	usk_jsonrpc_send_error_response(request, -ENOMEM, "out of memory");
}
USK_RPC_REGISTER("bdev_get_iostat", rpc_bdev_get_iostat, USK_RPC_RUNTIME)

struct reset_iostat_ctx {
	struct usk_jsonrpc_request *request;
	enum usk_bdev_reset_stat_mode mode;
	char **names;
	size_t count;
	size_t idx;
	struct usk_bdev_desc *desc;
};

static void reset_iostat_next(struct reset_iostat_ctx *ctx);

static void
reset_iostat_done(struct usk_bdev *bdev, void *cb_arg, int rc)
{
	struct reset_iostat_ctx *ctx = cb_arg;

	usk_bdev_close(ctx->desc);
	ctx->desc = NULL;
	ctx->idx++;
	reset_iostat_next(ctx);
}

static void
reset_iostat_next(struct reset_iostat_ctx *ctx)
{
	size_t i;

	while (ctx->idx < ctx->count) {
		if (usk_bdev_open_ext(ctx->names[ctx->idx], false, iostat_event_cb, NULL,
				      &ctx->desc) != 0) {
			ctx->idx++;
			continue;
		}
		usk_bdev_reset_device_stat(ctx->desc->bdev, ctx->mode, reset_iostat_done, ctx);
		return;
	}
	usk_jsonrpc_send_bool_response(ctx->request, true);
	for (i = 0; i < ctx->count; i++) {
		free(ctx->names[i]);
	}
	free(ctx->names);
	free(ctx);
}

struct rpc_reset_iostat_params {
	char *name;
	char *mode;
};

static void
rpc_bdev_reset_iostat(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_reset_iostat_params p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_reset_iostat_params, name), usk_json_decode_string,
		 true},
		{"mode", offsetof(struct rpc_reset_iostat_params, mode), usk_json_decode_string,
		 true},
	};
	struct reset_iostat_ctx *ctx;
	struct usk_bdev *bdev;
	size_t n = 0;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	if (p.mode && strcmp(p.mode, "all") != 0 && strcmp(p.mode, "maxmin") != 0) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: mode: must be \"all\" or \"maxmin\"");
		goto out;
	}
	if (p.name && usk_bdev_get_by_name(p.name) == NULL) {
		usk_jsonrpc_send_error_response_fmt(request, -ENODEV, "bdev not found: %s (name)",
						    p.name);
		goto out;
	}
	ctx = calloc(1, sizeof(*ctx));
	for (bdev = usk_bdev_first(); bdev; bdev = usk_bdev_next(bdev)) {
		n++;
	}
	if (ctx == NULL || (ctx->names = calloc(n + 1, sizeof(char *))) == NULL) {
		free(ctx);
		usk_jsonrpc_send_error_response(request, -ENOMEM, "out of memory");
		goto out;
	}
	ctx->request = request;
	ctx->mode = (p.mode && strcmp(p.mode, "maxmin") == 0) ? USK_BDEV_RESET_STAT_MAXMIN :
								USK_BDEV_RESET_STAT_ALL;
	if (p.name) {
		ctx->names[ctx->count++] = p.name;
		p.name = NULL;
	} else {
		for (bdev = usk_bdev_first(); bdev && ctx->count < n; bdev = usk_bdev_next(bdev)) {
			ctx->names[ctx->count] = strdup(bdev->name);
			if (ctx->names[ctx->count]) {
				ctx->count++;
			}
		}
	}
	reset_iostat_next(ctx);
out:
	free(p.name);
	free(p.mode);
}
USK_RPC_REGISTER("bdev_reset_iostat", rpc_bdev_reset_iostat, USK_RPC_RUNTIME)

/* ---- bdev_set_qos_limit ---- */

struct rpc_qos_params {
	char *name;
	uint64_t v[USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
};

static void
qos_set_done(void *cb_arg, int status)
{
	if (status == 0) {
		usk_jsonrpc_send_bool_response(cb_arg, true);
	} else {
		usk_jsonrpc_send_error_response_fmt(cb_arg, status, "could not set QoS: %s",
						    strerror(-status));
	}
}

static void
rpc_bdev_set_qos_limit(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_qos_params p;
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_qos_params, name), usk_json_decode_string, false},
		{"rw_ios_per_sec", offsetof(struct rpc_qos_params, v[0]), usk_json_decode_uint64,
		 true},
		{"rw_mbytes_per_sec", offsetof(struct rpc_qos_params, v[1]), usk_json_decode_uint64,
		 true},
		{"r_mbytes_per_sec", offsetof(struct rpc_qos_params, v[2]), usk_json_decode_uint64,
		 true},
		{"w_mbytes_per_sec", offsetof(struct rpc_qos_params, v[3]), usk_json_decode_uint64,
		 true},
	};
	uint64_t limits[USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	struct usk_bdev *bdev;
	bool any = false;
	int i;

	memset(&p, 0, sizeof(p));
	for (i = 0; i < USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		p.v[i] = UINT64_MAX;
	}
	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	bdev = usk_bdev_get_by_name(p.name);
	if (bdev == NULL) {
		usk_jsonrpc_send_error_response_fmt(request, -ENODEV, "bdev not found: %s (name)",
						    p.name);
		goto out;
	}
	for (i = 0; i < USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		if (p.v[i] == UINT64_MAX) {
			limits[i] = UINT64_MAX;
			continue;
		}
		any = true;
		if (i == USK_BDEV_QOS_RW_IOPS_RATE_LIMIT) {
			if (p.v[i] % USK_BDEV_QOS_MIN_IOS_PER_SEC) {
				usk_jsonrpc_send_error_response_fmt(
					request, USK_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameters: rw_ios_per_sec: must be a multiple of %u (0 = unlimited)",
					USK_BDEV_QOS_MIN_IOS_PER_SEC);
				goto out;
			}
			limits[i] = p.v[i];
		} else {
			if (p.v[i] > UINT64_MAX / (1024 * 1024)) {
				usk_jsonrpc_send_error_response_fmt(
					request, USK_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameters: %s: too large",
					usk_bdev_get_qos_rpc_type(i));
				goto out;
			}
			limits[i] = p.v[i] * 1024 * 1024;
		}
	}
	if (!any) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: need at least one of rw_ios_per_sec, "
			"rw_mbytes_per_sec, r_mbytes_per_sec, w_mbytes_per_sec");
		goto out;
	}
	usk_bdev_set_qos_rate_limits(bdev, limits, qos_set_done, request);
out:
	free(p.name);
}
USK_RPC_REGISTER("bdev_set_qos_limit", rpc_bdev_set_qos_limit, USK_RPC_RUNTIME)

/* ---- bdev_get_buf_stats ---- */

static void
rpc_bdev_get_buf_stats(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct usk_bdev_buf_stats st;
	json_t *o = json_object(), *sp = json_object(), *lp = json_object();

	if (params && json_is_object(params) && json_object_size(params) > 0) {
		json_decref(o);
		json_decref(sp);
		json_decref(lp);
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"bdev_get_buf_stats takes no parameters");
		return;
	}
	usk_bdev_get_buf_stats(&st);
	usk_json_set(sp, "size", json_integer((json_int_t)st.small_pool_size));
	usk_json_set(sp, "available", json_integer((json_int_t)st.small_available));
	usk_json_set(sp, "exhausted", json_integer((json_int_t)st.small_exhausted));
	usk_json_set(lp, "size", json_integer((json_int_t)st.large_pool_size));
	usk_json_set(lp, "available", json_integer((json_int_t)st.large_available));
	usk_json_set(lp, "exhausted", json_integer((json_int_t)st.large_exhausted));
	usk_json_set(o, "small_pool", sp);
	usk_json_set(o, "large_pool", lp);
	usk_json_set(o, "retries", json_integer((json_int_t)st.retries));
	usk_jsonrpc_send_result(request, o);
}
USK_RPC_REGISTER("bdev_get_buf_stats", rpc_bdev_get_buf_stats, USK_RPC_RUNTIME)
