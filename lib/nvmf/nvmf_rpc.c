/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF target JSON-RPC methods (SPDK names and parameters): helpers shared by nvmf_rpc*.c
 * (nvmf_rpc_internal.h), the transport RPCs, the RPCs that walk the poll groups (statistics,
 * qpairs) and the save_config writer.
 * Subsystems, listeners and hosts: nvmf_rpc_subsystem.c; namespaces: nvmf_rpc_ns.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "usk/env.h"
#include "usk/rpc.h"
#include "nvmf_rpc_internal.h"

/* ---- helpers ---- */

const struct usk_json_object_decoder g_nqn_decoders[2] = {
	DECODER("nqn", struct rpc_nqn_only, nqn, usk_json_decode_string, false),
	DECODER("tgt_name", struct rpc_nqn_only, tgt_name, usk_json_decode_string, true),
};

const struct usk_json_object_decoder g_nqn_optional_decoders[2] = {
	DECODER("nqn", struct rpc_nqn_only, nqn, usk_json_decode_string, true),
	DECODER("tgt_name", struct rpc_nqn_only, tgt_name, usk_json_decode_string, true),
};

const struct usk_json_object_decoder g_tgt_name_decoders[1] = {
	DECODER("tgt_name", struct rpc_nqn_only, tgt_name, usk_json_decode_string, true),
};

void
nvmf_rpc_nqn_only_clear(struct rpc_nqn_only *req)
{
	free(req->nqn);
	free(req->tgt_name);
}

void
nvmf_rpc_reply_invalid(struct usk_jsonrpc_request *request, const char *fmt, const char *a,
		       const char *b)
{
	usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS, fmt, a, b);
}

void
nvmf_rpc_reply_nomem(struct usk_jsonrpc_request *request)
{
	usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
}

void
nvmf_rpc_reply_busy(struct usk_jsonrpc_request *request, const char *nqn)
{
	usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_STATE,
					    "subsystem %s is busy changing state, try again", nqn);
}

struct usk_nvmf_tgt *
nvmf_rpc_get_tgt(struct usk_jsonrpc_request *request, const char *tgt_name)
{
	struct usk_nvmf_tgt *tgt = usk_nvmf_get_tgt(tgt_name);

	if (tgt == NULL) {
		if (tgt_name) {
			nvmf_rpc_reply_invalid(request, "tgt_name: no target named '%s'%s",
					       tgt_name, "");
		} else {
			usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_STATE,
							"the NVMe-oF target is not running");
		}
	}
	return tgt;
}

struct usk_nvmf_subsystem *
nvmf_rpc_find_subsystem(struct usk_jsonrpc_request *request, const char *tgt_name, const char *nqn,
			struct usk_nvmf_tgt **tgt_out)
{
	struct usk_nvmf_tgt *tgt = nvmf_rpc_get_tgt(request, tgt_name);
	struct usk_nvmf_subsystem *subsystem;

	if (tgt_out) {
		*tgt_out = tgt;
	}
	if (tgt == NULL) {
		return NULL;
	}
	subsystem = usk_nvmf_tgt_find_subsystem(tgt, nqn);
	if (subsystem == NULL) {
		nvmf_rpc_reply_invalid(request, "nqn: subsystem '%s' not found%s", nqn, "");
	}
	return subsystem;
}

struct usk_nvmf_subsystem *
nvmf_rpc_decode_subsystem(struct usk_jsonrpc_request *request, const json_t *params,
			  struct rpc_nqn_only *req, struct usk_nvmf_tgt **tgt)
{
	if (!usk_rpc_decode_params(request, params, g_nqn_decoders, USK_COUNTOF(g_nqn_decoders),
				   req)) {
		return NULL;
	}
	return nvmf_rpc_find_subsystem(request, req->tgt_name, req->nqn, tgt);
}

json_t *
nvmf_rpc_trid_to_json(const struct usk_nvme_transport_id *trid)
{
	json_t *o = json_object();

	usk_json_set(o, "trtype", json_string(usk_nvmf_trtype_str(trid->trtype)));
	usk_json_set(o, "adrfam", json_string(usk_nvmf_adrfam_str(trid->adrfam)));
	usk_json_set(o, "traddr", json_string(trid->traddr));
	usk_json_set(o, "trsvcid", json_string(trid->trsvcid));
	return o;
}

static void
hex_string(char *out, const uint8_t *in, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		sprintf(out + 2 * i, "%02X", in[i]);
	}
	out[2 * len] = '\0';
}

void
nvmf_rpc_ns_ids_to_json(json_t *o, const struct usk_nvmf_ns *ns)
{
	static const uint8_t zero[16];
	char buf[64];

	if (memcmp(ns->opts.nguid, zero, 16) != 0) {
		hex_string(buf, ns->opts.nguid, 16);
		usk_json_set(o, "nguid", json_string(buf));
	}
	if (ns->opts.eui64_be) {
		snprintf(buf, sizeof(buf), "%016" PRIX64, ns->opts.eui64_be);
		usk_json_set(o, "eui64", json_string(buf));
	}
	if (memcmp(ns->opts.uuid, zero, 16) != 0) {
		uuid_unparse_lower(ns->opts.uuid, buf);
		usk_json_set(o, "uuid", json_string(buf));
	}
}

/* ---- transports ---- */

struct rpc_create_transport {
	char *trtype;
	char *tgt_name;
	uint16_t max_io_qpairs_per_ctrlr;
	struct usk_nvmf_transport_opts opts;
	struct usk_jsonrpc_request *request;
	struct usk_nvmf_transport *transport;
};

static const struct usk_json_object_decoder g_create_transport_decoders[] = {
	DECODER("trtype", struct rpc_create_transport, trtype, usk_json_decode_string, false),
	DECODER("tgt_name", struct rpc_create_transport, tgt_name, usk_json_decode_string, true),
	DECODER("max_queue_depth", struct rpc_create_transport, opts.max_queue_depth,
		usk_json_decode_uint16, true),
	DECODER("max_qpairs_per_ctrlr", struct rpc_create_transport, opts.max_qpairs_per_ctrlr,
		usk_json_decode_uint16, true),
	DECODER("max_io_qpairs_per_ctrlr", struct rpc_create_transport, max_io_qpairs_per_ctrlr,
		usk_json_decode_uint16, true),
	DECODER("in_capsule_data_size", struct rpc_create_transport, opts.in_capsule_data_size,
		usk_json_decode_uint32, true),
	DECODER("max_io_size", struct rpc_create_transport, opts.max_io_size,
		usk_json_decode_uint32, true),
	DECODER("io_unit_size", struct rpc_create_transport, opts.io_unit_size,
		usk_json_decode_uint32, true),
	DECODER("max_aq_depth", struct rpc_create_transport, opts.max_aq_depth,
		usk_json_decode_uint32, true),
	DECODER("num_shared_buffers", struct rpc_create_transport, opts.num_shared_buffers,
		usk_json_decode_uint32, true),
	DECODER("max_shared_buffers", struct rpc_create_transport, opts.max_shared_buffers,
		usk_json_decode_uint32, true),
	DECODER("buf_cache_size", struct rpc_create_transport, opts.buf_cache_size,
		usk_json_decode_uint32, true),
	DECODER("dif_insert_or_strip", struct rpc_create_transport, opts.dif_insert_or_strip,
		usk_json_decode_bool, true),
	DECODER("zcopy", struct rpc_create_transport, opts.zcopy, usk_json_decode_bool, true),
	DECODER("abort_timeout_sec", struct rpc_create_transport, opts.abort_timeout_sec,
		usk_json_decode_uint32, true),
	DECODER("association_timeout", struct rpc_create_transport, opts.association_timeout,
		usk_json_decode_uint32, true),
	DECODER("acceptor_poll_rate", struct rpc_create_transport, opts.acceptor_poll_rate,
		usk_json_decode_uint32, true),
};

static void
create_transport_free(struct rpc_create_transport *ctx)
{
	free(ctx->trtype);
	free(ctx->tgt_name);
	free(ctx);
}

static void
create_transport_added(void *arg, int status)
{
	struct rpc_create_transport *ctx = arg;

	if (status != 0) {
		usk_jsonrpc_send_error_response_fmt(
			ctx->request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
			"cannot add the %s transport to the poll groups: %s", ctx->trtype,
			strerror(-status));
	} else {
		usk_jsonrpc_send_bool_response(ctx->request, true);
	}
	create_transport_free(ctx);
}

static void
rpc_nvmf_create_transport(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_create_transport *ctx = calloc(1, sizeof(*ctx));
	struct usk_nvmf_tgt *tgt;
	char err[256] = "";
	json_t *trtype;
	int rc;

	if (ctx == NULL) {
		nvmf_rpc_reply_nomem(request);
		return;
	}
	ctx->request = request;
	trtype = params ? json_object_get(params, "trtype") : NULL;
	if (trtype == NULL || !json_is_string(trtype)) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						trtype ? "trtype: must be a string" :
							 "trtype: missing required field");
		goto err_free;
	}
	if (!usk_nvmf_transport_opts_init(json_string_value(trtype), &ctx->opts,
					  sizeof(ctx->opts))) {
		nvmf_rpc_reply_invalid(request, "trtype: transport '%s' is not available%s",
				       json_string_value(trtype), "");
		goto err_free;
	}
	ctx->max_io_qpairs_per_ctrlr = 0xffff;
	/* Relaxed: the transport decodes its own members from the same object. */
	if (usk_json_decode_object_relaxed(params, g_create_transport_decoders,
					   USK_COUNTOF(g_create_transport_decoders), ctx, err,
					   sizeof(err)) != 0) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto err_free;
	}
	if (ctx->max_io_qpairs_per_ctrlr != 0xffff) {
		ctx->opts.max_qpairs_per_ctrlr = (uint16_t)(ctx->max_io_qpairs_per_ctrlr + 1);
	}
	tgt = nvmf_rpc_get_tgt(request, ctx->tgt_name);
	if (tgt == NULL) {
		goto err_free;
	}
	if (usk_nvmf_tgt_get_transport(tgt, ctx->trtype) != NULL) {
		nvmf_rpc_reply_invalid(request, "trtype: transport %s already exists%s",
				       ctx->trtype, "");
		goto err_free;
	}
	ctx->opts.transport_specific = params;
	rc = usk_nvmf_transport_create(ctx->trtype, &ctx->opts, &ctx->transport, err, sizeof(err));
	ctx->opts.transport_specific = NULL;
	if (rc != 0) {
		usk_jsonrpc_send_error_response(request,
						rc == -ENOMEM ? USK_JSONRPC_ERROR_INTERNAL_ERROR :
								USK_JSONRPC_ERROR_INVALID_PARAMS,
						err);
		goto err_free;
	}
	usk_nvmf_tgt_add_transport(tgt, ctx->transport, create_transport_added, ctx);
	return;

err_free:
	create_transport_free(ctx);
}
USK_RPC_REGISTER("nvmf_create_transport", rpc_nvmf_create_transport, USK_RPC_RUNTIME)

struct rpc_get_transports {
	char *trtype;
	char *tgt_name;
};

static const struct usk_json_object_decoder g_get_transports_decoders[] = {
	DECODER("trtype", struct rpc_get_transports, trtype, usk_json_decode_string, true),
	DECODER("tgt_name", struct rpc_get_transports, tgt_name, usk_json_decode_string, true),
};

static void
rpc_nvmf_get_transports(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_get_transports req = {};
	struct usk_nvmf_transport *transport;
	struct usk_nvmf_tgt *tgt;
	json_t *result;

	if (!usk_rpc_decode_params(request, params, g_get_transports_decoders,
				   USK_COUNTOF(g_get_transports_decoders), &req)) {
		goto out;
	}
	tgt = nvmf_rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL) {
		goto out;
	}
	if (req.trtype && usk_nvmf_tgt_get_transport(tgt, req.trtype) == NULL) {
		nvmf_rpc_reply_invalid(request, "trtype: transport %s not found%s", req.trtype, "");
		goto out;
	}
	result = json_array();
	for (transport = usk_nvmf_transport_get_first(tgt); transport;
	     transport = usk_nvmf_transport_get_next(transport)) {
		if (req.trtype && strcasecmp(req.trtype, transport->ops->name) != 0) {
			continue;
		}
		usk_json_append(result, usk_nvmf_transport_opts_to_json(transport));
	}
	usk_jsonrpc_send_result(request, result);
out:
	free(req.trtype);
	free(req.tgt_name);
}
USK_RPC_REGISTER("nvmf_get_transports", rpc_nvmf_get_transports, USK_RPC_RUNTIME)

/* ---- statistics (and the qpairs query, which walks the poll groups too) ---- */

/* Walks every poll group (one per thread) collecting JSON. */
struct rpc_group_walk {
	struct usk_jsonrpc_request *request;
	struct usk_nvmf_subsystem *subsystem; /* get_qpairs */
	json_t *array;
};

static const char *
qpair_state_str(enum usk_nvmf_qpair_state state)
{
	switch (state) {
	case USK_NVMF_QPAIR_UNINITIALIZED:
		return "uninitialized";
	case USK_NVMF_QPAIR_CONNECTING:
		return "connecting";
	case USK_NVMF_QPAIR_ENABLED:
		return "enabled";
	case USK_NVMF_QPAIR_DEACTIVATING:
		return "deactivating";
	default:
		return "error";
	}
}

/* Requests of qpair the core is executing now (its queue depth at the target); group thread. */
static json_int_t
nvmf_rpc_qpair_outstanding(struct usk_nvmf_qpair *qpair)
{
	struct usk_nvmf_request *req;
	json_int_t n = 0;

	TAILQ_FOREACH(req, &qpair->outstanding, link) {
		n++;
	}
	return n;
}

static void
get_qpairs_on_group(struct usk_io_channel_iter *i)
{
	struct rpc_group_walk *ctx = usk_io_channel_iter_get_ctx(i);
	struct usk_nvmf_poll_group *group =
		usk_io_channel_get_ctx(usk_io_channel_iter_get_channel(i));
	struct usk_nvmf_qpair *qpair;
	struct usk_nvme_transport_id trid;

	TAILQ_FOREACH(qpair, &group->qpairs, link) {
		json_t *q;

		if (qpair->ctrlr == NULL || qpair->ctrlr->subsys != ctx->subsystem) {
			continue;
		}
		q = json_object();
		usk_json_set(q, "cntlid", json_integer(qpair->ctrlr->cntlid));
		usk_json_set(q, "qid", json_integer(qpair->qid));
		usk_json_set(q, "state", json_string(qpair_state_str(qpair->state)));
		usk_json_set(q, "thread", json_string(usk_thread_get_name(group->thread)));
		usk_json_set(q, "hostnqn", json_string(qpair->ctrlr->hostnqn));
		usk_json_set(q, "outstanding", json_integer(nvmf_rpc_qpair_outstanding(qpair)));
		if (qpair->transport->ops->qpair_dump_stat) {
			qpair->transport->ops->qpair_dump_stat(qpair, q);
		}
		if (qpair->transport->ops->qpair_get_listen_trid(qpair, &trid) == 0) {
			usk_json_set(q, "listen_address", nvmf_rpc_trid_to_json(&trid));
		}
		if (qpair->transport->ops->qpair_get_peer_trid(qpair, &trid) == 0) {
			usk_json_set(q, "peer_address", nvmf_rpc_trid_to_json(&trid));
		}
		usk_json_append(ctx->array, q);
	}
	usk_for_each_channel_continue(i, 0);
}

static void
group_walk_done(struct usk_io_channel_iter *i, int status)
{
	struct rpc_group_walk *ctx = usk_io_channel_iter_get_ctx(i);

	usk_jsonrpc_send_result(ctx->request, ctx->array);
	free(ctx);
}

/* Collect JSON from every poll group of tgt (fn on each group's thread, then done); replies
 * "out of memory" if the walk cannot start. */
static void
group_walk_start(struct usk_jsonrpc_request *request, struct usk_nvmf_tgt *tgt,
		 struct usk_nvmf_subsystem *subsystem, usk_channel_msg fn,
		 usk_channel_for_each_cpl done)
{
	struct rpc_group_walk *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (ctx == NULL) {
		nvmf_rpc_reply_nomem(request);
		return;
	}
	ctx->request = request;
	ctx->subsystem = subsystem;
	ctx->array = json_array();
	if (ctx->array == NULL) {
		free(ctx);
		nvmf_rpc_reply_nomem(request);
		return;
	}
	rc = usk_for_each_channel(tgt, fn, ctx, done);
	if (rc != 0) {
		json_decref(ctx->array);
		free(ctx);
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "cannot walk the poll groups: %s",
						    strerror(-rc));
	}
}

static void
rpc_nvmf_subsystem_get_qpairs(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_nqn_only req = {};
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_tgt *tgt;

	subsystem = nvmf_rpc_decode_subsystem(request, params, &req, &tgt);
	if (subsystem != NULL) {
		group_walk_start(request, tgt, subsystem, get_qpairs_on_group, group_walk_done);
	}
	nvmf_rpc_nqn_only_clear(&req);
}
USK_RPC_REGISTER("nvmf_subsystem_get_qpairs", rpc_nvmf_subsystem_get_qpairs, USK_RPC_RUNTIME)

static void
get_stats_on_group(struct usk_io_channel_iter *i)
{
	struct rpc_group_walk *ctx = usk_io_channel_iter_get_ctx(i);
	struct usk_nvmf_poll_group *group =
		usk_io_channel_get_ctx(usk_io_channel_iter_get_channel(i));
	struct usk_nvmf_transport_poll_group *tgroup;
	json_t *g = json_object(), *transports = json_array();

	usk_json_set(g, "name", json_string(usk_thread_get_name(group->thread)));
	usk_json_set(g, "admin_qpairs", json_integer((json_int_t)group->stat.admin_qpairs));
	usk_json_set(g, "io_qpairs", json_integer((json_int_t)group->stat.io_qpairs));
	usk_json_set(g, "current_admin_qpairs",
		     json_integer((json_int_t)group->stat.current_admin_qpairs));
	usk_json_set(g, "current_io_qpairs",
		     json_integer((json_int_t)group->stat.current_io_qpairs));
	usk_json_set(g, "pending_bdev_io", json_integer((json_int_t)group->stat.pending_bdev_io));
	usk_json_set(g, "completed_nvme_io",
		     json_integer((json_int_t)group->stat.completed_nvme_io));
	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		json_t *t = json_object();

		usk_json_set(t, "trtype", json_string(tgroup->transport->ops->name));
		nvmf_transport_dump_pool_stat(tgroup->transport, t);
		if (tgroup->transport->ops->poll_group_dump_stat) {
			tgroup->transport->ops->poll_group_dump_stat(tgroup, t);
		}
		usk_json_append(transports, t);
	}
	usk_json_set(g, "transports", transports);
	usk_json_append(ctx->array, g);
	usk_for_each_channel_continue(i, 0);
}

static void
get_stats_done(struct usk_io_channel_iter *i, int status)
{
	struct rpc_group_walk *ctx = usk_io_channel_iter_get_ctx(i);
	json_t *result = json_object();

	usk_json_set(result, "tick_rate", json_integer((json_int_t)usk_get_ticks_hz()));
	usk_json_set(result, "poll_groups", ctx->array);
	usk_jsonrpc_send_result(ctx->request, result);
	free(ctx);
}

static void
rpc_nvmf_get_stats(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_nqn_only req = {};
	struct usk_nvmf_tgt *tgt;

	if (usk_rpc_decode_params(request, params, g_tgt_name_decoders,
				  USK_COUNTOF(g_tgt_name_decoders), &req) &&
	    (tgt = nvmf_rpc_get_tgt(request, req.tgt_name)) != NULL) {
		group_walk_start(request, tgt, NULL, get_stats_on_group, get_stats_done);
	}
	nvmf_rpc_nqn_only_clear(&req);
}
USK_RPC_REGISTER("nvmf_get_stats", rpc_nvmf_get_stats, USK_RPC_RUNTIME)

/* ---- save_config ---- */

static json_t *
listener_params(struct usk_nvmf_subsystem *subsystem, struct usk_nvmf_subsystem_listener *listener)
{
	json_t *params = json_object();

	usk_json_set(params, "nqn", json_string(subsystem->subnqn));
	usk_json_set(params, "listen_address", nvmf_rpc_trid_to_json(&listener->trid));
	return params;
}

void
usk_nvmf_tgt_write_config_json(json_t *config, struct usk_nvmf_tgt *tgt)
{
	struct usk_nvmf_transport *transport;
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_subsystem_listener *listener;
	struct usk_nvmf_host *host;
	struct usk_nvmf_ns *ns;
	json_t *params, *nsobj;

	for (transport = usk_nvmf_transport_get_first(tgt); transport;
	     transport = usk_nvmf_transport_get_next(transport)) {
		usk_json_config_add(config, "nvmf_create_transport",
				    usk_nvmf_transport_opts_to_json(transport));
	}
	for (subsystem = usk_nvmf_subsystem_get_first(tgt); subsystem;
	     subsystem = usk_nvmf_subsystem_get_next(subsystem)) {
		if (nvmf_subsystem_is_discovery(subsystem)) {
			TAILQ_FOREACH(listener, &subsystem->listeners, link) {
				usk_json_config_add(config, "nvmf_subsystem_add_listener",
						    listener_params(subsystem, listener));
			}
			continue;
		}
		params = json_object();
		usk_json_set(params, "nqn", json_string(subsystem->subnqn));
		usk_json_set(params, "allow_any_host", json_boolean(subsystem->allow_any_host));
		usk_json_set(params, "serial_number", json_string(subsystem->sn));
		usk_json_set(params, "model_number", json_string(subsystem->mn));
		usk_json_set(params, "max_namespaces", json_integer(subsystem->max_nsid));
		usk_json_set(params, "min_cntlid", json_integer(subsystem->min_cntlid));
		usk_json_set(params, "max_cntlid", json_integer(subsystem->max_cntlid));
		usk_json_set(params, "ana_reporting", json_boolean(subsystem->ana_reporting));
		usk_json_config_add(config, "nvmf_create_subsystem", params);
		for (ns = usk_nvmf_subsystem_get_first_ns(subsystem); ns;
		     ns = usk_nvmf_subsystem_get_next_ns(subsystem, ns)) {
			params = json_object();
			nsobj = json_object();
			usk_json_set(nsobj, "nsid", json_integer(ns->nsid));
			usk_json_set(nsobj, "bdev_name", json_string(usk_bdev_get_name(ns->bdev)));
			nvmf_rpc_ns_ids_to_json(nsobj, ns);
			usk_json_set(params, "nqn", json_string(subsystem->subnqn));
			usk_json_set(params, "namespace", nsobj);
			usk_json_config_add(config, "nvmf_subsystem_add_ns", params);
		}
		TAILQ_FOREACH(listener, &subsystem->listeners, link) {
			usk_json_config_add(config, "nvmf_subsystem_add_listener",
					    listener_params(subsystem, listener));
		}
		TAILQ_FOREACH(host, &subsystem->hosts, link) {
			params = json_object();
			usk_json_set(params, "nqn", json_string(subsystem->subnqn));
			usk_json_set(params, "host", json_string(host->nqn));
			usk_json_config_add(config, "nvmf_subsystem_add_host", params);
		}
	}
}
