/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Metrics collector of the NVMe-oF target: per-poll-group qpair and I/O counters, the
 * transports' per-group statistics (the fields nvmf_get_stats shows: buffer waits, PDU errors,
 * ...), and connections per subsystem. Each poll group is read on its own thread by
 * usk_for_each_channel; the writer travels with the iteration, one thread at a time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usk/metrics.h"
#include "usk/thread.h"
#include "nvmf_internal.h"

struct nvmf_metrics_ctx {
	struct usk_metrics_writer *w;
	struct usk_nvmf_tgt *tgt;
	uint64_t *conns; /* [tgt->max_subsystems], by subsystem id */
	uint32_t nconns;
};

static void collect_tgt(struct nvmf_metrics_ctx *ctx);

/* Transport statistics come as JSON (poll_group_dump_stat); integer fields become metrics:
 * current_* / pending_* / *_count are gauges, the rest counters with _total. */
static void
emit_transport_json(struct usk_metrics_writer *w, const struct usk_metrics_label *l, size_t nl,
		    json_t *obj)
{
	const char *key;
	json_t *v;
	char name[96];

	json_object_foreach(obj, key, v)
	{
		bool gauge;
		size_t klen = strlen(key);

		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			continue;
		}
		gauge = strncmp(key, "current_", 8) == 0 || strncmp(key, "pending_", 8) == 0 ||
			(klen > 6 && strcmp(key + klen - 6, "_count") == 0);
		snprintf(name, sizeof(name), "usk_nvmf_transport_%s%s", key, gauge ? "" : "_total");
		usk_metrics_add_u64(w, name, gauge ? USK_METRIC_GAUGE : USK_METRIC_COUNTER,
				    "Transport poll group statistic (nvmf_get_stats)", l, nl,
				    (uint64_t)json_integer_value(v));
	}
}

static void
collect_group(struct usk_io_channel_iter *i)
{
	struct nvmf_metrics_ctx *ctx = usk_io_channel_iter_get_ctx(i);
	struct usk_nvmf_poll_group *group =
		usk_io_channel_get_ctx(usk_io_channel_iter_get_channel(i));
	struct usk_nvmf_transport_poll_group *tgroup;
	struct usk_nvmf_qpair *qpair;
	struct usk_metrics_writer *w = ctx->w;
	struct usk_metrics_label l[] = {
		{"target", ctx->tgt->name},
		{"poll_group", usk_thread_get_name(group->thread)},
		{"transport", NULL},
	};

	usk_metrics_add_u64(w, "usk_nvmf_admin_qpairs_total", USK_METRIC_COUNTER,
			    "Admin queue pairs connected", l, 2, group->stat.admin_qpairs);
	usk_metrics_add_u64(w, "usk_nvmf_io_qpairs_total", USK_METRIC_COUNTER,
			    "I/O queue pairs connected", l, 2, group->stat.io_qpairs);
	usk_metrics_add_u64(w, "usk_nvmf_admin_qpairs", USK_METRIC_GAUGE, "Admin queue pairs now",
			    l, 2, group->stat.current_admin_qpairs);
	usk_metrics_add_u64(w, "usk_nvmf_io_qpairs", USK_METRIC_GAUGE, "I/O queue pairs now", l, 2,
			    group->stat.current_io_qpairs);
	usk_metrics_add_u64(w, "usk_nvmf_pending_bdev_io", USK_METRIC_GAUGE,
			    "Requests waiting for a bdev_io", l, 2, group->stat.pending_bdev_io);
	usk_metrics_add_u64(w, "usk_nvmf_completed_nvme_io_total", USK_METRIC_COUNTER,
			    "NVMe commands completed", l, 2, group->stat.completed_nvme_io);
	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		json_t *obj;

		if (tgroup->transport->ops->poll_group_dump_stat == NULL) {
			continue;
		}
		obj = json_object();
		if (obj == NULL) {
			continue;
		}
		tgroup->transport->ops->poll_group_dump_stat(tgroup, obj);
		l[2].value = tgroup->transport->ops->name;
		emit_transport_json(w, l, 3, obj);
		json_decref(obj);
	}
	TAILQ_FOREACH(qpair, &group->qpairs, link) {
		if (qpair->ctrlr != NULL && qpair->ctrlr->subsys != NULL &&
		    qpair->ctrlr->subsys->id < ctx->nconns) {
			ctx->conns[qpair->ctrlr->subsys->id]++;
		}
	}
	usk_for_each_channel_continue(i, 0);
}

static void
collect_group_done(struct usk_io_channel_iter *i, int status)
{
	struct nvmf_metrics_ctx *ctx = usk_io_channel_iter_get_ctx(i);
	struct usk_nvmf_subsystem *s;
	uint32_t id;

	for (id = 0; id < ctx->nconns && id < ctx->tgt->max_subsystems; id++) {
		s = ctx->tgt->subsystems[id];
		if (s == NULL) {
			continue;
		}
		struct usk_metrics_label l[] = {{"target", ctx->tgt->name},
						{"subsystem", s->subnqn}};

		usk_metrics_add_u64(ctx->w, "usk_nvmf_subsystem_qpairs", USK_METRIC_GAUGE,
				    "Queue pairs (admin and I/O) connected to the subsystem", l, 2,
				    ctx->conns[id]);
	}
	ctx->tgt = usk_nvmf_get_next_tgt(ctx->tgt);
	collect_tgt(ctx);
}

static void
collect_tgt(struct nvmf_metrics_ctx *ctx)
{
	free(ctx->conns);
	ctx->conns = NULL;
	if (ctx->tgt == NULL) {
		usk_metrics_collect_done(ctx->w);
		free(ctx);
		return;
	}
	ctx->nconns = ctx->tgt->max_subsystems;
	ctx->conns = calloc(ctx->nconns ? ctx->nconns : 1, sizeof(*ctx->conns));
	if (ctx->conns == NULL) {
		ctx->nconns = 0;
	}
	usk_for_each_channel(ctx->tgt, collect_group, ctx, collect_group_done);
}

static void
nvmf_collect(struct usk_metrics_writer *w)
{
	struct nvmf_metrics_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		usk_metrics_collect_done(w);
		return;
	}
	ctx->w = w;
	ctx->tgt = usk_nvmf_get_first_tgt();
	collect_tgt(ctx);
}

static struct usk_metrics_collector g_nvmf_collector = {
	.name = "nvmf",
	.collect = nvmf_collect,
};
USK_METRICS_COLLECTOR_REGISTER(g_nvmf_collector)
