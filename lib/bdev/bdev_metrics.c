/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Metrics collector of the bdev layer: per-bdev bytes, ops, errors and latency from the iostat
 * the layer keeps per channel (summed by usk_bdev_get_device_stat, one message per channel
 * thread, no locks), and the data-buffer pool counters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usk/bdev.h"
#include "usk/metrics.h"
#include "usk/util.h"

struct bdev_metrics_ctx {
	struct usk_metrics_writer *w;
	char **names; /* snapshot of the registry: a bdev may go away meanwhile */
	size_t count;
	size_t idx;
	struct usk_bdev_desc *desc;
	struct usk_bdev_io_stat stat;
};

static void collect_next(struct bdev_metrics_ctx *ctx);

static void
desc_event_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *event_ctx)
{
	/* The descriptor is closed as soon as the stats are read. */
}

struct io_kind {
	const char *op; /* read, write, unmap, copy */
	size_t bytes_off, ops_off, lat_off;
	enum usk_bdev_io_type type;
};

#define KIND(_op, _b, _n, _l, _t) \
	{ \
		_op, offsetof(struct usk_bdev_io_stat, _b), offsetof(struct usk_bdev_io_stat, _n), \
			offsetof(struct usk_bdev_io_stat, _l), _t \
	}
static const struct io_kind g_kinds[] = {
	KIND("read", bytes_read, num_read_ops, read_latency_ticks, USK_BDEV_IO_TYPE_READ),
	KIND("write", bytes_written, num_write_ops, write_latency_ticks, USK_BDEV_IO_TYPE_WRITE),
	KIND("unmap", bytes_unmapped, num_unmap_ops, unmap_latency_ticks, USK_BDEV_IO_TYPE_UNMAP),
	KIND("copy", bytes_copied, num_copy_ops, copy_latency_ticks, USK_BDEV_IO_TYPE_COPY),
};

#define FIELD(_st, _off) (*(const uint64_t *)((const char *)(_st) + (_off)))

static void
emit_bdev(struct usk_metrics_writer *w, const char *name, const struct usk_bdev_io_stat *st)
{
	struct usk_metrics_label l[] = {{"bdev", name}};
	double hz = st->ticks_rate ? (double)st->ticks_rate : 1.0;
	char metric[64], help[96];
	size_t i;

	/* One family per op kind and quantity, as Prometheus names them (no op label), so
	 * usk_bdev_read_ops_total is a plain counter that rate() applies to directly. */
	for (i = 0; i < USK_COUNTOF(g_kinds); i++) {
		const struct io_kind *k = &g_kinds[i];

		snprintf(metric, sizeof(metric), "usk_bdev_%s_bytes_total", k->op);
		snprintf(help, sizeof(help), "Bytes of completed %s I/O", k->op);
		usk_metrics_add_u64(w, metric, USK_METRIC_COUNTER, help, l, 1,
				    FIELD(st, k->bytes_off));
		snprintf(metric, sizeof(metric), "usk_bdev_%s_ops_total", k->op);
		snprintf(help, sizeof(help), "Completed %s I/O", k->op);
		usk_metrics_add_u64(w, metric, USK_METRIC_COUNTER, help, l, 1,
				    FIELD(st, k->ops_off));
		snprintf(metric, sizeof(metric), "usk_bdev_%s_latency_seconds", k->op);
		snprintf(help, sizeof(help), "Submit-to-completion time of %s I/O", k->op);
		usk_metrics_add_summary(w, metric, help, l, 1, (double)FIELD(st, k->lat_off) / hz,
					FIELD(st, k->ops_off));
		snprintf(metric, sizeof(metric), "usk_bdev_%s_errors_total", k->op);
		snprintf(help, sizeof(help), "Failed %s I/O", k->op);
		usk_metrics_add_u64(w, metric, USK_METRIC_COUNTER, help, l, 1,
				    st->io_error[k->type]);
	}
}

static void
collect_finish_one(struct bdev_metrics_ctx *ctx)
{
	usk_bdev_close(ctx->desc);
	ctx->desc = NULL;
	ctx->idx++;
	collect_next(ctx);
}

static void
device_stat_done(struct usk_bdev *bdev, struct usk_bdev_io_stat *stat, void *cb_arg, int rc)
{
	struct bdev_metrics_ctx *ctx = cb_arg;

	if (rc == 0) {
		emit_bdev(ctx->w, usk_bdev_get_name(bdev), stat);
	}
	collect_finish_one(ctx);
}

static void
emit_buf_stats(struct usk_metrics_writer *w)
{
	struct usk_bdev_buf_stats bs = {};
	struct usk_metrics_label small[] = {{"pool", "small"}}, large[] = {{"pool", "large"}};

	usk_bdev_get_buf_stats(&bs);
	usk_metrics_add_u64(w, "usk_bdev_buf_pool_size", USK_METRIC_GAUGE,
			    "Data buffers in the pool", small, 1, bs.small_pool_size);
	usk_metrics_add_u64(w, "usk_bdev_buf_pool_size", USK_METRIC_GAUGE,
			    "Data buffers in the pool", large, 1, bs.large_pool_size);
	usk_metrics_add_u64(w, "usk_bdev_buf_pool_available", USK_METRIC_GAUGE,
			    "Data buffers free in the pool", small, 1, bs.small_available);
	usk_metrics_add_u64(w, "usk_bdev_buf_pool_available", USK_METRIC_GAUGE,
			    "Data buffers free in the pool", large, 1, bs.large_available);
	usk_metrics_add_u64(w, "usk_bdev_buf_pool_exhausted_total", USK_METRIC_COUNTER,
			    "Requests that found the pool empty and waited", small, 1,
			    bs.small_exhausted);
	usk_metrics_add_u64(w, "usk_bdev_buf_pool_exhausted_total", USK_METRIC_COUNTER,
			    "Requests that found the pool empty and waited", large, 1,
			    bs.large_exhausted);
	usk_metrics_add_u64(w, "usk_bdev_buf_wait_retries_total", USK_METRIC_COUNTER,
			    "Waiting buffer requests served later", NULL, 0, bs.retries);
}

static void
collect_next(struct bdev_metrics_ctx *ctx)
{
	size_t i;

	while (ctx->idx < ctx->count) {
		if (usk_bdev_open_ext(ctx->names[ctx->idx], false, desc_event_cb, NULL,
				      &ctx->desc) != 0) {
			ctx->idx++; /* removed meanwhile */
			continue;
		}
		usk_bdev_get_device_stat(usk_bdev_desc_get_bdev(ctx->desc), &ctx->stat,
					 device_stat_done, ctx);
		return;
	}
	emit_buf_stats(ctx->w);
	usk_metrics_collect_done(ctx->w);
	for (i = 0; i < ctx->count; i++) {
		free(ctx->names[i]);
	}
	free(ctx->names);
	free(ctx);
}

static void
bdev_collect(struct usk_metrics_writer *w)
{
	struct bdev_metrics_ctx *ctx = calloc(1, sizeof(*ctx));
	struct usk_bdev *bdev;
	size_t n = 0;

	if (ctx == NULL) {
		usk_metrics_collect_done(w);
		return;
	}
	ctx->w = w;
	for (bdev = usk_bdev_first(); bdev != NULL; bdev = usk_bdev_next(bdev)) {
		n++;
	}
	ctx->names = calloc(n + 1, sizeof(char *));
	if (ctx->names == NULL) {
		free(ctx);
		usk_metrics_collect_done(w);
		return;
	}
	for (bdev = usk_bdev_first(); bdev != NULL && ctx->count < n; bdev = usk_bdev_next(bdev)) {
		ctx->names[ctx->count] = strdup(usk_bdev_get_name(bdev));
		if (ctx->names[ctx->count] != NULL) {
			ctx->count++;
		}
	}
	collect_next(ctx);
}

static struct usk_metrics_collector g_bdev_collector = {
	.name = "bdev",
	.collect = bdev_collect,
};
USK_METRICS_COLLECTOR_REGISTER(g_bdev_collector)
