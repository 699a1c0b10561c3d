/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SPDK's latency histogram RPCs over the bdev iostat histograms (on by default in usk):
 * bdev_get_histogram returns reads and writes summed over every channel in SPDK's format
 * (base64 of the little-endian bucket array, granularity, min_range, max_range, tsc_rate), so
 * SPDK's scripts/histogram.py reads it; bdev_enable_histogram switches them per bdev.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "usk/env.h"
#include "usk/json.h"
#include "usk/rpc.h"

/* Standard base64 (RFC 4648, padded) of n bytes; NULL on allocation failure. */
static char *
base64_encode(const uint8_t *in, size_t n)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (out == NULL) {
		return NULL;
	}
	for (i = 0; i + 2 < n; i += 3) {
		*o++ = tbl[in[i] >> 2];
		*o++ = tbl[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*o++ = tbl[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*o++ = tbl[in[i + 2] & 63];
	}
	if (i < n) {
		*o++ = tbl[in[i] >> 2];
		if (i + 1 < n) {
			*o++ = tbl[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			*o++ = tbl[(in[i + 1] & 15) << 2];
		} else {
			*o++ = tbl[(in[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

struct histogram_ctx {
	struct usk_jsonrpc_request *request;
	struct usk_bdev_desc *desc;
	struct usk_bdev_io_stat stat;
};

static void
histogram_event_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *event_ctx)
{
	/* The descriptor is closed as soon as the stats are read. */
}

static void
histogram_stat_done(struct usk_bdev *bdev, struct usk_bdev_io_stat *stat, void *cb_arg, int rc)
{
	struct histogram_ctx *ctx = cb_arg;
	uint8_t raw[USK_HISTOGRAM_NUM_BUCKETS * 8];
	json_t *res;
	char *b64;
	uint32_t i;
	int k;

	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(ctx->request, rc, "cannot read the stats: %s",
						    strerror(-rc));
		goto out;
	}
	usk_histogram_merge(&stat->read_latency_hist, &stat->write_latency_hist);
	for (i = 0; i < USK_HISTOGRAM_NUM_BUCKETS; i++) {
		for (k = 0; k < 8; k++) {
			raw[i * 8 + k] = (uint8_t)(stat->read_latency_hist.bucket[i] >> (8 * k));
		}
	}
	b64 = base64_encode(raw, sizeof(raw));
	if (b64 == NULL) {
		usk_jsonrpc_send_error_response(ctx->request, -ENOMEM, "out of memory");
		goto out;
	}
	res = json_object();
	usk_json_set(res, "histogram", json_string(b64));
	usk_json_set(res, "granularity", json_integer(USK_HISTOGRAM_BUCKET_SHIFT));
	usk_json_set(res, "bucket_shift", json_integer(USK_HISTOGRAM_BUCKET_SHIFT));
	usk_json_set(res, "min_range", json_integer(0));
	usk_json_set(res, "max_range", json_integer(USK_HISTOGRAM_NUM_RANGES));
	usk_json_set(res, "tsc_rate", json_integer((json_int_t)usk_get_ticks_hz()));
	usk_jsonrpc_send_result(ctx->request, res);
	free(b64);
out:
	usk_bdev_close(ctx->desc);
	free(ctx);
}

struct rpc_histogram_params {
	char *name;
	bool enable;
};

static bool
histogram_open(struct usk_jsonrpc_request *request, const char *name, struct usk_bdev_desc **desc)
{
	if (usk_bdev_open_ext(name, false, histogram_event_cb, NULL, desc) != 0) {
		usk_jsonrpc_send_error_response_fmt(request, -ENODEV, "bdev not found: %s (name)",
						    name);
		return false;
	}
	return true;
}

static void
rpc_bdev_get_histogram(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_histogram_params p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_histogram_params, name), usk_json_decode_string},
	};
	struct histogram_ctx *ctx = NULL;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		usk_jsonrpc_send_error_response(request, -ENOMEM, "out of memory");
		goto out;
	}
	if (!histogram_open(request, p.name, &ctx->desc)) {
		free(ctx);
		goto out;
	}
	ctx->request = request;
	usk_bdev_get_device_stat(ctx->desc->bdev, &ctx->stat, histogram_stat_done, ctx);
out:
	free(p.name);
}
USK_RPC_REGISTER("bdev_get_histogram", rpc_bdev_get_histogram, USK_RPC_RUNTIME)

static void
histogram_enable_done(void *cb_arg, int status)
{
	struct usk_jsonrpc_request *request = cb_arg;

	if (status != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, status, "cannot switch the histograms: %s", strerror(-status));
		return;
	}
	usk_jsonrpc_send_bool_response(request, true);
}

static void
rpc_bdev_enable_histogram(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_histogram_params p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_histogram_params, name), usk_json_decode_string},
		{"enable", offsetof(struct rpc_histogram_params, enable), usk_json_decode_bool},
	};
	struct usk_bdev_desc *desc;

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	if (!histogram_open(request, p.name, &desc)) {
		goto out;
	}
	/* The channels switch by message; the bdev cannot go away before the walk is done
	 * (unregistration waits for its channels). */
	usk_bdev_histogram_enable(desc->bdev, p.enable, histogram_enable_done, request);
	usk_bdev_close(desc);
out:
	free(p.name);
}
USK_RPC_REGISTER("bdev_enable_histogram", rpc_bdev_enable_histogram, USK_RPC_RUNTIME)
