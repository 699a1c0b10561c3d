/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe-oF target JSON-RPC methods (SPDK names and parameters) and the save_config writer. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "usk/env.h"
#include "usk/rpc.h"
#include "nvmf_internal.h"

#define DECODER(name, type, field, fn, opt) { name, offsetof(type, field), fn, opt }

static void
reply_invalid(struct usk_jsonrpc_request *request, const char *fmt, const char *a, const char *b)
{
	usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS, fmt, a, b);
}

static struct usk_nvmf_tgt *
rpc_get_tgt(struct usk_jsonrpc_request *request, const char *tgt_name)
{
	struct usk_nvmf_tgt *tgt = usk_nvmf_get_tgt(tgt_name);

	if (tgt == NULL) {
		if (tgt_name) {
			reply_invalid(request, "tgt_name: no target named '%s'%s", tgt_name, "");
		} else {
			usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_STATE,
							"the NVMe-oF target is not running");
		}
	}
	return tgt;
}

static struct usk_nvmf_subsystem *
rpc_get_subsystem(struct usk_jsonrpc_request *request, struct usk_nvmf_tgt *tgt, const char *nqn)
{
	struct usk_nvmf_subsystem *subsystem = usk_nvmf_tgt_find_subsystem(tgt, nqn);

	if (subsystem == NULL) {
		reply_invalid(request, "nqn: subsystem '%s' not found%s", nqn, "");
	}
	return subsystem;
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
	DECODER("max_io_size", struct rpc_create_transport, opts.max_io_size, usk_json_decode_uint32,
		true),
	DECODER("io_unit_size", struct rpc_create_transport, opts.io_unit_size, usk_json_decode_uint32,
		true),
	DECODER("max_aq_depth", struct rpc_create_transport, opts.max_aq_depth, usk_json_decode_uint32,
		true),
	DECODER("num_shared_buffers", struct rpc_create_transport, opts.num_shared_buffers,
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
		usk_jsonrpc_send_error_response_fmt(ctx->request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "cannot add the %s transport to the poll groups: %s",
						    ctx->trtype, strerror(-status));
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
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
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
	if (!usk_nvmf_transport_opts_init(json_string_value(trtype), &ctx->opts, sizeof(ctx->opts))) {
		reply_invalid(request, "trtype: transport '%s' is not available%s",
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
	tgt = rpc_get_tgt(request, ctx->tgt_name);
	if (tgt == NULL) {
		goto err_free;
	}
	if (usk_nvmf_tgt_get_transport(tgt, ctx->trtype) != NULL) {
		reply_invalid(request, "trtype: transport %s already exists%s", ctx->trtype, "");
		goto err_free;
	}
	ctx->opts.transport_specific = params;
	rc = usk_nvmf_transport_create(ctx->trtype, &ctx->opts, &ctx->transport, err, sizeof(err));
	ctx->opts.transport_specific = NULL;
	if (rc != 0) {
		usk_jsonrpc_send_error_response(request, rc == -ENOMEM ? USK_JSONRPC_ERROR_INTERNAL_ERROR :
						USK_JSONRPC_ERROR_INVALID_PARAMS, err);
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
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL) {
		goto out;
	}
	if (req.trtype && usk_nvmf_tgt_get_transport(tgt, req.trtype) == NULL) {
		reply_invalid(request, "trtype: transport %s not found%s", req.trtype, "");
		goto out;
	}
	result = json_array();
	for (transport = usk_nvmf_transport_get_first(tgt); transport;
	     transport = usk_nvmf_transport_get_next(transport)) {
		if (req.trtype && strcasecmp(req.trtype, transport->ops->name) != 0) {
			continue;
		}
		json_array_append_new(result, usk_nvmf_transport_opts_to_json(transport));
	}
	usk_jsonrpc_send_result(request, result);
out:
	free(req.trtype);
	free(req.tgt_name);
}
USK_RPC_REGISTER("nvmf_get_transports", rpc_nvmf_get_transports, USK_RPC_RUNTIME)

/* ---- subsystems ---- */

struct rpc_create_subsystem {
	char *nqn;
	char *serial_number;
	char *model_number;
	char *tgt_name;
	uint32_t max_namespaces;
	bool allow_any_host;
	bool ana_reporting;
	uint16_t min_cntlid;
	uint16_t max_cntlid;
	struct usk_jsonrpc_request *request;
};

static const struct usk_json_object_decoder g_create_subsystem_decoders[] = {
	DECODER("nqn", struct rpc_create_subsystem, nqn, usk_json_decode_string, false),
	DECODER("serial_number", struct rpc_create_subsystem, serial_number, usk_json_decode_string,
		true),
	DECODER("model_number", struct rpc_create_subsystem, model_number, usk_json_decode_string,
		true),
	DECODER("tgt_name", struct rpc_create_subsystem, tgt_name, usk_json_decode_string, true),
	DECODER("max_namespaces", struct rpc_create_subsystem, max_namespaces, usk_json_decode_uint32,
		true),
	DECODER("allow_any_host", struct rpc_create_subsystem, allow_any_host, usk_json_decode_bool,
		true),
	DECODER("ana_reporting", struct rpc_create_subsystem, ana_reporting, usk_json_decode_bool,
		true),
	DECODER("min_cntlid", struct rpc_create_subsystem, min_cntlid, usk_json_decode_uint16, true),
	DECODER("max_cntlid", struct rpc_create_subsystem, max_cntlid, usk_json_decode_uint16, true),
};

static void
create_subsystem_free(struct rpc_create_subsystem *req)
{
	free(req->nqn);
	free(req->serial_number);
	free(req->model_number);
	free(req->tgt_name);
	free(req);
}

static void
create_subsystem_started(struct usk_nvmf_subsystem *subsystem, void *cb_arg, int status)
{
	struct rpc_create_subsystem *req = cb_arg;

	if (status != 0) {
		usk_jsonrpc_send_error_response_fmt(req->request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "cannot start subsystem %s: %s", req->nqn,
						    strerror(-status));
	} else {
		usk_jsonrpc_send_bool_response(req->request, true);
	}
	create_subsystem_free(req);
}

static void
rpc_nvmf_create_subsystem(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_create_subsystem *req = calloc(1, sizeof(*req));
	struct usk_nvmf_subsystem *subsystem = NULL;
	struct usk_nvmf_tgt *tgt;
	char reason[128];
	int rc;

	if (req == NULL) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
		return;
	}
	req->request = request;
	req->min_cntlid = USK_NVMF_CNTLID_MIN;
	req->max_cntlid = USK_NVMF_CNTLID_MAX;
	if (!usk_rpc_decode_params(request, params, g_create_subsystem_decoders,
				   USK_COUNTOF(g_create_subsystem_decoders), req)) {
		goto err_free;
	}
	tgt = rpc_get_tgt(request, req->tgt_name);
	if (tgt == NULL) {
		goto err_free;
	}
	if (!usk_nvmf_nqn_is_valid(req->nqn, reason, sizeof(reason))) {
		reply_invalid(request, "nqn: '%s' is not a valid NQN: %s", req->nqn, reason);
		goto err_free;
	}
	if (strcmp(req->nqn, USK_NVMF_DISCOVERY_NQN) == 0 ||
	    usk_nvmf_tgt_find_subsystem(tgt, req->nqn) != NULL) {
		reply_invalid(request, "nqn: subsystem %s already exists%s", req->nqn, "");
		goto err_free;
	}
	if (req->min_cntlid < USK_NVMF_CNTLID_MIN || req->max_cntlid > USK_NVMF_CNTLID_MAX ||
	    req->min_cntlid > req->max_cntlid) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "min_cntlid, max_cntlid: need %u <= min_cntlid <= max_cntlid <= %u",
						    USK_NVMF_CNTLID_MIN, USK_NVMF_CNTLID_MAX);
		goto err_free;
	}
	rc = usk_nvmf_subsystem_create(tgt, req->nqn, USK_NVMF_SUBTYPE_NVME, req->max_namespaces,
				       &subsystem);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc == -ENOSPC ?
						    USK_JSONRPC_ERROR_INVALID_STATE : USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "cannot create subsystem %s: %s", req->nqn,
						    rc == -ENOSPC ? "too many subsystems" : strerror(-rc));
		goto err_free;
	}
	if (req->serial_number && usk_nvmf_subsystem_set_sn(subsystem, req->serial_number) != 0) {
		reply_invalid(request, "serial_number: '%s' must be printable ASCII of at most 20 characters%s",
			      req->serial_number, "");
		goto err_destroy;
	}
	if (req->model_number && usk_nvmf_subsystem_set_mn(subsystem, req->model_number) != 0) {
		reply_invalid(request, "model_number: '%s' must be printable ASCII of at most 40 characters%s",
			      req->model_number, "");
		goto err_destroy;
	}
	usk_nvmf_subsystem_set_cntlid_range(subsystem, req->min_cntlid, req->max_cntlid);
	usk_nvmf_subsystem_set_ana_reporting(subsystem, req->ana_reporting);
	usk_nvmf_subsystem_set_allow_any_host(subsystem, req->allow_any_host);
	rc = usk_nvmf_subsystem_start(subsystem, create_subsystem_started, req);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "cannot start subsystem %s: %s", req->nqn, strerror(-rc));
		goto err_destroy;
	}
	return;

err_destroy:
	usk_nvmf_subsystem_destroy(subsystem);
err_free:
	create_subsystem_free(req);
}
USK_RPC_REGISTER("nvmf_create_subsystem", rpc_nvmf_create_subsystem, USK_RPC_RUNTIME)

struct rpc_nqn_only {
	char *nqn;
	char *tgt_name;
	struct usk_jsonrpc_request *request;
};

static const struct usk_json_object_decoder g_nqn_decoders[] = {
	DECODER("nqn", struct rpc_nqn_only, nqn, usk_json_decode_string, false),
	DECODER("tgt_name", struct rpc_nqn_only, tgt_name, usk_json_decode_string, true),
};

static void
nqn_only_free(struct rpc_nqn_only *req)
{
	free(req->nqn);
	free(req->tgt_name);
	free(req);
}

static void
delete_subsystem_stopped(struct usk_nvmf_subsystem *subsystem, void *cb_arg, int status)
{
	struct rpc_nqn_only *req = cb_arg;

	if (status != 0 || usk_nvmf_subsystem_destroy(subsystem) != 0) {
		usk_jsonrpc_send_error_response_fmt(req->request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "cannot delete subsystem %s", req->nqn);
	} else {
		usk_jsonrpc_send_bool_response(req->request, true);
	}
	nqn_only_free(req);
}

static void
rpc_nvmf_delete_subsystem(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_nqn_only *req = calloc(1, sizeof(*req));
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_tgt *tgt;
	int rc;

	if (req == NULL) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
		return;
	}
	req->request = request;
	if (!usk_rpc_decode_params(request, params, g_nqn_decoders, USK_COUNTOF(g_nqn_decoders), req)) {
		goto err_free;
	}
	tgt = rpc_get_tgt(request, req->tgt_name);
	if (tgt == NULL || (subsystem = rpc_get_subsystem(request, tgt, req->nqn)) == NULL) {
		goto err_free;
	}
	if (nvmf_subsystem_is_discovery(subsystem)) {
		reply_invalid(request, "nqn: the discovery subsystem %s cannot be deleted%s", req->nqn, "");
		goto err_free;
	}
	if (subsystem->state == USK_NVMF_SUBSYSTEM_INACTIVE && !subsystem->changing_state) {
		delete_subsystem_stopped(subsystem, req, 0);
		return;
	}
	rc = usk_nvmf_subsystem_stop(subsystem, delete_subsystem_stopped, req);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_STATE,
						    "subsystem %s is busy changing state, try again",
						    req->nqn);
		goto err_free;
	}
	return;

err_free:
	nqn_only_free(req);
}
USK_RPC_REGISTER("nvmf_delete_subsystem", rpc_nvmf_delete_subsystem, USK_RPC_RUNTIME)

/* ---- namespaces (pause, change, resume) ---- */

struct rpc_ns_params {
	char *bdev_name;
	uint32_t nsid;
	char *uuid;
	char *nguid;
	char *eui64;
	uint32_t anagrpid;
	char *ptpl_file;
	bool no_auto_visible;
};

struct rpc_ns_change {
	char *nqn;
	char *tgt_name;
	json_t *namespace;
	uint32_t nsid;		/* remove_ns */
	struct rpc_ns_params ns;
	struct usk_nvmf_ns_opts opts;
	bool add;
	bool was_active;
	int rc;
	struct usk_jsonrpc_request *request;
};

static const struct usk_json_object_decoder g_ns_decoders[] = {
	DECODER("bdev_name", struct rpc_ns_params, bdev_name, usk_json_decode_string, false),
	DECODER("nsid", struct rpc_ns_params, nsid, usk_json_decode_uint32, true),
	DECODER("uuid", struct rpc_ns_params, uuid, usk_json_decode_string, true),
	DECODER("nguid", struct rpc_ns_params, nguid, usk_json_decode_string, true),
	DECODER("eui64", struct rpc_ns_params, eui64, usk_json_decode_string, true),
	DECODER("anagrpid", struct rpc_ns_params, anagrpid, usk_json_decode_uint32, true),
	DECODER("ptpl_file", struct rpc_ns_params, ptpl_file, usk_json_decode_string, true),
	DECODER("no_auto_visible", struct rpc_ns_params, no_auto_visible, usk_json_decode_bool, true),
};

static const struct usk_json_object_decoder g_add_ns_decoders[] = {
	DECODER("nqn", struct rpc_ns_change, nqn, usk_json_decode_string, false),
	DECODER("namespace", struct rpc_ns_change, namespace, usk_json_decode_json, false),
	DECODER("tgt_name", struct rpc_ns_change, tgt_name, usk_json_decode_string, true),
};

static const struct usk_json_object_decoder g_remove_ns_decoders[] = {
	DECODER("nqn", struct rpc_ns_change, nqn, usk_json_decode_string, false),
	DECODER("nsid", struct rpc_ns_change, nsid, usk_json_decode_uint32, false),
	DECODER("tgt_name", struct rpc_ns_change, tgt_name, usk_json_decode_string, true),
};

static void
ns_change_free(struct rpc_ns_change *ctx)
{
	free(ctx->nqn);
	free(ctx->tgt_name);
	json_decref(ctx->namespace);
	free(ctx->ns.bdev_name);
	free(ctx->ns.uuid);
	free(ctx->ns.nguid);
	free(ctx->ns.eui64);
	free(ctx->ns.ptpl_file);
	free(ctx);
}

/* Hex digits (dashes ignored) into out[len]. */
static int
parse_hex(const char *s, uint8_t *out, size_t len)
{
	size_t n = 0;
	int hi = -1, v;

	for (; *s; s++) {
		if (*s == '-') {
			continue;
		}
		if (!isxdigit((unsigned char)*s)) {
			return -EINVAL;
		}
		v = isdigit((unsigned char)*s) ? *s - '0' : (tolower((unsigned char)*s) - 'a' + 10);
		if (hi < 0) {
			hi = v;
		} else {
			if (n == len) {
				return -EINVAL;
			}
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return n == len && hi < 0 ? 0 : -EINVAL;
}

static void
ns_change_reply(struct rpc_ns_change *ctx)
{
	const char *what = ctx->add ? ctx->ns.bdev_name : "";

	switch (ctx->rc) {
	case 0:
		if (ctx->add) {
			usk_jsonrpc_send_result(ctx->request, json_integer(ctx->nsid));
		} else {
			usk_jsonrpc_send_bool_response(ctx->request, true);
		}
		break;
	case -ENODEV:
		reply_invalid(ctx->request, "namespace.bdev_name: bdev '%s' not found%s", what, "");
		break;
	case -EEXIST:
		usk_jsonrpc_send_error_response_fmt(ctx->request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "namespace.nsid: namespace %u already exists",
						    ctx->opts.nsid);
		break;
	case -EINVAL:
		usk_jsonrpc_send_error_response_fmt(ctx->request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "namespace.nsid: %u is above the subsystem's max_namespaces",
						    ctx->opts.nsid);
		break;
	case -ENOSPC:
		usk_jsonrpc_send_error_response(ctx->request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"nqn: the subsystem has no free namespace ID (max_namespaces)");
		break;
	case -ENOENT:
		usk_jsonrpc_send_error_response_fmt(ctx->request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "nsid: namespace %u not found", ctx->nsid);
		break;
	case -EPERM:
		reply_invalid(ctx->request, "bdev_name: bdev '%s' cannot be opened for writing (claimed)%s",
			      what, "");
		break;
	default:
		usk_jsonrpc_send_error_response_fmt(ctx->request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "namespace change failed: %s", strerror(-ctx->rc));
		break;
	}
	ns_change_free(ctx);
}

static void
ns_change_resumed(struct usk_nvmf_subsystem *subsystem, void *cb_arg, int status)
{
	struct rpc_ns_change *ctx = cb_arg;

	if (ctx->rc == 0 && status != 0) {
		ctx->rc = status;
	}
	ns_change_reply(ctx);
}

static void
ns_change_apply(struct usk_nvmf_subsystem *subsystem, void *cb_arg, int status)
{
	struct rpc_ns_change *ctx = cb_arg;

	if (status != 0) {
		ctx->rc = status;
		ns_change_reply(ctx);
		return;
	}
	if (ctx->add) {
		ctx->rc = usk_nvmf_subsystem_add_ns_ext(subsystem, ctx->ns.bdev_name, &ctx->opts,
						       sizeof(ctx->opts), &ctx->nsid);
	} else {
		ctx->rc = usk_nvmf_subsystem_remove_ns(subsystem, ctx->nsid);
	}
	if (ctx->was_active) {
		if (usk_nvmf_subsystem_resume(subsystem, ns_change_resumed, ctx) == 0) {
			return;
		}
	}
	ns_change_reply(ctx);
}

static void
ns_change_start(struct usk_jsonrpc_request *request, struct rpc_ns_change *ctx)
{
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_tgt *tgt;
	int rc;

	tgt = rpc_get_tgt(request, ctx->tgt_name);
	if (tgt == NULL || (subsystem = rpc_get_subsystem(request, tgt, ctx->nqn)) == NULL) {
		ns_change_free(ctx);
		return;
	}
	if (nvmf_subsystem_is_discovery(subsystem)) {
		reply_invalid(request, "nqn: the discovery subsystem %s has no namespaces%s", ctx->nqn, "");
		ns_change_free(ctx);
		return;
	}
	if (subsystem->changing_state) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_STATE,
						    "subsystem %s is busy changing state, try again",
						    ctx->nqn);
		ns_change_free(ctx);
		return;
	}
	if (subsystem->state == USK_NVMF_SUBSYSTEM_ACTIVE) {
		ctx->was_active = true;
		rc = usk_nvmf_subsystem_pause(subsystem, ns_change_apply, ctx);
		if (rc != 0) {
			ctx->rc = rc;
			ns_change_reply(ctx);
		}
		return;
	}
	ns_change_apply(subsystem, ctx, 0);
}

static void
rpc_nvmf_subsystem_add_ns(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_ns_change *ctx = calloc(1, sizeof(*ctx));
	char err[256];
	uuid_t uuid;

	if (ctx == NULL) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
		return;
	}
	ctx->request = request;
	ctx->add = true;
	if (!usk_rpc_decode_params(request, params, g_add_ns_decoders, USK_COUNTOF(g_add_ns_decoders),
				   ctx)) {
		ns_change_free(ctx);
		return;
	}
	if (usk_json_decode_object(ctx->namespace, g_ns_decoders, USK_COUNTOF(g_ns_decoders), &ctx->ns,
				   err, sizeof(err)) != 0) {
		reply_invalid(request, "namespace.%s%s", err, "");
		ns_change_free(ctx);
		return;
	}
	usk_nvmf_ns_opts_get_defaults(&ctx->opts, sizeof(ctx->opts));
	ctx->opts.nsid = ctx->ns.nsid;
	ctx->opts.anagrpid = ctx->ns.anagrpid;
	if (ctx->ns.uuid) {
		if (uuid_parse(ctx->ns.uuid, uuid) != 0) {
			reply_invalid(request, "namespace.uuid: '%s' is not a UUID%s", ctx->ns.uuid, "");
			ns_change_free(ctx);
			return;
		}
		memcpy(ctx->opts.uuid, uuid, 16);
	}
	if (ctx->ns.nguid && parse_hex(ctx->ns.nguid, ctx->opts.nguid, 16) != 0) {
		reply_invalid(request, "namespace.nguid: '%s' must be 32 hex digits%s", ctx->ns.nguid, "");
		ns_change_free(ctx);
		return;
	}
	if (ctx->ns.eui64) {
		uint8_t b[8];
		int i;

		if (parse_hex(ctx->ns.eui64, b, 8) != 0) {
			reply_invalid(request, "namespace.eui64: '%s' must be 16 hex digits%s", ctx->ns.eui64,
				      "");
			ns_change_free(ctx);
			return;
		}
		for (i = 0; i < 8; i++) {
			ctx->opts.eui64_be = ctx->opts.eui64_be << 8 | b[i];
		}
	}
	ns_change_start(request, ctx);
}
USK_RPC_REGISTER("nvmf_subsystem_add_ns", rpc_nvmf_subsystem_add_ns, USK_RPC_RUNTIME)

static void
rpc_nvmf_subsystem_remove_ns(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_ns_change *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
		return;
	}
	ctx->request = request;
	if (!usk_rpc_decode_params(request, params, g_remove_ns_decoders,
				   USK_COUNTOF(g_remove_ns_decoders), ctx)) {
		ns_change_free(ctx);
		return;
	}
	ns_change_start(request, ctx);
}
USK_RPC_REGISTER("nvmf_subsystem_remove_ns", rpc_nvmf_subsystem_remove_ns, USK_RPC_RUNTIME)

/* ---- listeners ---- */

struct rpc_listen_address {
	char *trtype;
	char *adrfam;
	char *traddr;
	char *trsvcid;
};

struct rpc_listener {
	char *nqn;
	char *tgt_name;
	json_t *listen_address;
	bool secure_channel;
	char *ana_state;
	struct rpc_listen_address addr;
};

/* trsvcid is a string in SPDK's schema; a port given as a JSON number (usk_rpc trsvcid=4420)
 * is accepted too and converted. */
static int
decode_trsvcid(const json_t *val, void *out, char *err, size_t err_len)
{
	char **s = out;

	if (json_is_integer(val)) {
		if (json_integer_value(val) < 0 || json_integer_value(val) > 65535) {
			snprintf(err, err_len, "out of range: a port is 0..65535");
			return -EINVAL;
		}
		*s = usk_sprintf_alloc("%lld", (long long)json_integer_value(val));
		return *s == NULL ? -ENOMEM : 0;
	}
	return usk_json_decode_string(val, out, err, err_len);
}

static const struct usk_json_object_decoder g_listen_address_decoders[] = {
	DECODER("trtype", struct rpc_listen_address, trtype, usk_json_decode_string, false),
	DECODER("adrfam", struct rpc_listen_address, adrfam, usk_json_decode_string, true),
	DECODER("traddr", struct rpc_listen_address, traddr, usk_json_decode_string, false),
	DECODER("trsvcid", struct rpc_listen_address, trsvcid, decode_trsvcid, true),
};

static const struct usk_json_object_decoder g_listener_decoders[] = {
	DECODER("nqn", struct rpc_listener, nqn, usk_json_decode_string, false),
	DECODER("listen_address", struct rpc_listener, listen_address, usk_json_decode_json, false),
	DECODER("tgt_name", struct rpc_listener, tgt_name, usk_json_decode_string, true),
	DECODER("secure_channel", struct rpc_listener, secure_channel, usk_json_decode_bool, true),
	DECODER("ana_state", struct rpc_listener, ana_state, usk_json_decode_string, true),
};

static void
listener_free(struct rpc_listener *req)
{
	free(req->nqn);
	free(req->tgt_name);
	json_decref(req->listen_address);
	free(req->ana_state);
	free(req->addr.trtype);
	free(req->addr.adrfam);
	free(req->addr.traddr);
	free(req->addr.trsvcid);
}

/* Decode params into req and trid; on error reply and return false. */
static bool
decode_listener(struct usk_jsonrpc_request *request, const json_t *params, struct rpc_listener *req,
		struct usk_nvme_transport_id *trid)
{
	char err[256];

	if (!usk_rpc_decode_params(request, params, g_listener_decoders,
				   USK_COUNTOF(g_listener_decoders), req)) {
		return false;
	}
	if (req->secure_channel) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"secure_channel: TLS listeners are not supported by usk yet");
		return false;
	}
	/* Relaxed: a transport may read its own members from listen_address. */
	if (usk_json_decode_object_relaxed(req->listen_address, g_listen_address_decoders,
					   USK_COUNTOF(g_listen_address_decoders), &req->addr, err,
					   sizeof(err)) != 0) {
		reply_invalid(request, "listen_address.%s%s", err, "");
		return false;
	}
	memset(trid, 0, sizeof(*trid));
	if (usk_nvmf_trtype_parse(req->addr.trtype, &trid->trtype) != 0) {
		reply_invalid(request, "listen_address.trtype: unknown transport type '%s'%s",
			      req->addr.trtype, "");
		return false;
	}
	snprintf(trid->trstring, sizeof(trid->trstring), "%s", usk_nvmf_trtype_str(trid->trtype));
	trid->adrfam = USK_NVMF_ADRFAM_IPV4;
	if (req->addr.adrfam && usk_nvmf_adrfam_parse(req->addr.adrfam, &trid->adrfam) != 0) {
		reply_invalid(request, "listen_address.adrfam: unknown address family '%s' (IPv4, IPv6, IB, FC)%s",
			      req->addr.adrfam, "");
		return false;
	}
	if (strlen(req->addr.traddr) == 0 || strlen(req->addr.traddr) > USK_NVMF_TRADDR_MAX_LEN) {
		reply_invalid(request, "listen_address.traddr: '%s' must be 1..256 characters%s",
			      req->addr.traddr, "");
		return false;
	}
	snprintf(trid->traddr, sizeof(trid->traddr), "%s", req->addr.traddr);
	if (req->addr.trsvcid == NULL && (trid->trtype == USK_NVME_TRANSPORT_TCP ||
					  trid->trtype == USK_NVME_TRANSPORT_RDMA)) {
		reply_invalid(request, "listen_address.trsvcid: missing required field for %s%s",
			      trid->trstring, "");
		return false;
	}
	if (req->addr.trsvcid) {
		if (strlen(req->addr.trsvcid) == 0 || strlen(req->addr.trsvcid) > USK_NVMF_TRSVCID_MAX_LEN) {
			reply_invalid(request, "listen_address.trsvcid: '%s' must be 1..32 characters%s",
				      req->addr.trsvcid, "");
			return false;
		}
		snprintf(trid->trsvcid, sizeof(trid->trsvcid), "%s", req->addr.trsvcid);
	}
	return true;
}

static void
rpc_nvmf_subsystem_add_listener(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_listener req = {};
	struct usk_nvme_transport_id trid;
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_tgt *tgt;
	int rc;

	if (!decode_listener(request, params, &req, &trid)) {
		goto out;
	}
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL || (subsystem = rpc_get_subsystem(request, tgt, req.nqn)) == NULL) {
		goto out;
	}
	rc = usk_nvmf_subsystem_add_listener(subsystem, &trid, req.listen_address);
	switch (rc) {
	case 0:
		usk_jsonrpc_send_bool_response(request, true);
		break;
	case -ENOENT:
		reply_invalid(request, "listen_address.trtype: transport %s has not been created (nvmf_create_transport)%s",
			      trid.trstring, "");
		break;
	case -EEXIST:
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "listen_address: %s already listens on %s:%s", req.nqn,
						    trid.traddr, trid.trsvcid);
		break;
	default:
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "listen_address: cannot listen on %s %s:%s: %s",
						    trid.trstring, trid.traddr, trid.trsvcid, strerror(-rc));
		break;
	}
out:
	listener_free(&req);
}
USK_RPC_REGISTER("nvmf_subsystem_add_listener", rpc_nvmf_subsystem_add_listener, USK_RPC_RUNTIME)

static void
rpc_nvmf_subsystem_remove_listener(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_listener req = {};
	struct usk_nvme_transport_id trid;
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_tgt *tgt;

	if (!decode_listener(request, params, &req, &trid)) {
		goto out;
	}
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL || (subsystem = rpc_get_subsystem(request, tgt, req.nqn)) == NULL) {
		goto out;
	}
	if (usk_nvmf_subsystem_remove_listener(subsystem, &trid) != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "listen_address: %s has no listener on %s %s:%s",
						    req.nqn, trid.trstring, trid.traddr, trid.trsvcid);
	} else {
		usk_jsonrpc_send_bool_response(request, true);
	}
out:
	listener_free(&req);
}
USK_RPC_REGISTER("nvmf_subsystem_remove_listener", rpc_nvmf_subsystem_remove_listener,
		 USK_RPC_RUNTIME)

/* ---- hosts ---- */

struct rpc_host {
	char *nqn;
	char *host;
	char *tgt_name;
	char *psk;
	char *dhchap_key;
	char *dhchap_ctrlr_key;
	bool allow_any_host;
};

static const struct usk_json_object_decoder g_host_decoders[] = {
	DECODER("nqn", struct rpc_host, nqn, usk_json_decode_string, false),
	DECODER("host", struct rpc_host, host, usk_json_decode_string, false),
	DECODER("tgt_name", struct rpc_host, tgt_name, usk_json_decode_string, true),
};

static const struct usk_json_object_decoder g_allow_any_host_decoders[] = {
	DECODER("nqn", struct rpc_host, nqn, usk_json_decode_string, false),
	DECODER("allow_any_host", struct rpc_host, allow_any_host, usk_json_decode_bool, false),
	DECODER("tgt_name", struct rpc_host, tgt_name, usk_json_decode_string, true),
};

static void
host_free(struct rpc_host *req)
{
	free(req->nqn);
	free(req->host);
	free(req->tgt_name);
	free(req->psk);
	free(req->dhchap_key);
	free(req->dhchap_ctrlr_key);
}

static struct usk_nvmf_subsystem *
host_rpc_subsystem(struct usk_jsonrpc_request *request, struct rpc_host *req)
{
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_tgt *tgt = rpc_get_tgt(request, req->tgt_name);

	if (tgt == NULL || (subsystem = rpc_get_subsystem(request, tgt, req->nqn)) == NULL) {
		return NULL;
	}
	if (nvmf_subsystem_is_discovery(subsystem)) {
		reply_invalid(request, "nqn: the discovery subsystem %s admits every host%s", req->nqn, "");
		return NULL;
	}
	return subsystem;
}

static void
rpc_nvmf_subsystem_add_host(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_host req = {};
	struct usk_nvmf_subsystem *subsystem;
	char reason[128];
	int rc;

	if (!usk_rpc_decode_params(request, params, g_host_decoders, USK_COUNTOF(g_host_decoders), &req) ||
	    (subsystem = host_rpc_subsystem(request, &req)) == NULL) {
		goto out;
	}
	if (!usk_nvmf_nqn_is_valid(req.host, reason, sizeof(reason))) {
		reply_invalid(request, "host: '%s' is not a valid NQN: %s", req.host, reason);
		goto out;
	}
	rc = usk_nvmf_subsystem_add_host(subsystem, req.host);
	if (rc == 0) {
		usk_jsonrpc_send_bool_response(request, true);
	} else if (rc == -EEXIST) {
		reply_invalid(request, "host: %s is already allowed on %s", req.host, req.nqn);
	} else {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "cannot add host %s: %s", req.host, strerror(-rc));
	}
out:
	host_free(&req);
}
USK_RPC_REGISTER("nvmf_subsystem_add_host", rpc_nvmf_subsystem_add_host, USK_RPC_RUNTIME)

static void
rpc_nvmf_subsystem_remove_host(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_host req = {};
	struct usk_nvmf_subsystem *subsystem;

	if (!usk_rpc_decode_params(request, params, g_host_decoders, USK_COUNTOF(g_host_decoders), &req) ||
	    (subsystem = host_rpc_subsystem(request, &req)) == NULL) {
		goto out;
	}
	if (usk_nvmf_subsystem_remove_host(subsystem, req.host) != 0) {
		reply_invalid(request, "host: %s is not in the host list of %s", req.host, req.nqn);
	} else {
		usk_jsonrpc_send_bool_response(request, true);
	}
out:
	host_free(&req);
}
USK_RPC_REGISTER("nvmf_subsystem_remove_host", rpc_nvmf_subsystem_remove_host, USK_RPC_RUNTIME)

static void
rpc_nvmf_subsystem_allow_any_host(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_host req = {};
	struct usk_nvmf_subsystem *subsystem;

	if (!usk_rpc_decode_params(request, params, g_allow_any_host_decoders,
				   USK_COUNTOF(g_allow_any_host_decoders), &req) ||
	    (subsystem = host_rpc_subsystem(request, &req)) == NULL) {
		goto out;
	}
	usk_nvmf_subsystem_set_allow_any_host(subsystem, req.allow_any_host);
	usk_jsonrpc_send_bool_response(request, true);
out:
	host_free(&req);
}
USK_RPC_REGISTER("nvmf_subsystem_allow_any_host", rpc_nvmf_subsystem_allow_any_host,
		 USK_RPC_RUNTIME)

/* ---- queries ---- */

static json_t *
trid_to_json(const struct usk_nvme_transport_id *trid)
{
	json_t *o = json_object();

	json_object_set_new(o, "trtype", json_string(usk_nvmf_trtype_str(trid->trtype)));
	json_object_set_new(o, "adrfam", json_string(usk_nvmf_adrfam_str(trid->adrfam)));
	json_object_set_new(o, "traddr", json_string(trid->traddr));
	json_object_set_new(o, "trsvcid", json_string(trid->trsvcid));
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

static json_t *
subsystem_to_json(struct usk_nvmf_subsystem *subsystem)
{
	json_t *o = json_object(), *arr;
	struct usk_nvmf_subsystem_listener *listener;
	struct usk_nvmf_host *host;
	struct usk_nvmf_ns *ns;
	static const uint8_t zero[16];
	char buf[64];

	json_object_set_new(o, "nqn", json_string(subsystem->subnqn));
	json_object_set_new(o, "subtype", json_string(nvmf_subsystem_is_discovery(subsystem) ?
			    "Discovery" : "NVMe"));
	arr = json_array();
	TAILQ_FOREACH(listener, &subsystem->listeners, link) {
		json_t *l = trid_to_json(&listener->trid);

		json_object_set_new(l, "transport", json_string(listener->transport->ops->name));
		json_array_append_new(arr, l);
	}
	json_object_set_new(o, "listen_addresses", arr);
	json_object_set_new(o, "allow_any_host", json_boolean(subsystem->allow_any_host));
	arr = json_array();
	TAILQ_FOREACH(host, &subsystem->hosts, link) {
		json_t *h = json_object();

		json_object_set_new(h, "nqn", json_string(host->nqn));
		json_array_append_new(arr, h);
	}
	json_object_set_new(o, "hosts", arr);
	if (nvmf_subsystem_is_discovery(subsystem)) {
		return o;
	}
	json_object_set_new(o, "serial_number", json_string(subsystem->sn));
	json_object_set_new(o, "model_number", json_string(subsystem->mn));
	json_object_set_new(o, "max_namespaces", json_integer(subsystem->max_nsid));
	json_object_set_new(o, "min_cntlid", json_integer(subsystem->min_cntlid));
	json_object_set_new(o, "max_cntlid", json_integer(subsystem->max_cntlid));
	json_object_set_new(o, "ana_reporting", json_boolean(subsystem->ana_reporting));
	arr = json_array();
	for (ns = usk_nvmf_subsystem_get_first_ns(subsystem); ns;
	     ns = usk_nvmf_subsystem_get_next_ns(subsystem, ns)) {
		json_t *n = json_object();

		json_object_set_new(n, "nsid", json_integer(ns->nsid));
		json_object_set_new(n, "bdev_name", json_string(usk_bdev_get_name(ns->bdev)));
		json_object_set_new(n, "name", json_string(usk_bdev_get_name(ns->bdev)));
		if (memcmp(ns->opts.nguid, zero, 16) != 0) {
			hex_string(buf, ns->opts.nguid, 16);
			json_object_set_new(n, "nguid", json_string(buf));
		}
		if (ns->opts.eui64_be) {
			snprintf(buf, sizeof(buf), "%016" PRIX64, ns->opts.eui64_be);
			json_object_set_new(n, "eui64", json_string(buf));
		}
		if (memcmp(ns->opts.uuid, zero, 16) != 0) {
			uuid_unparse_lower(ns->opts.uuid, buf);
			json_object_set_new(n, "uuid", json_string(buf));
		}
		if (ns->opts.anagrpid) {
			json_object_set_new(n, "anagrpid", json_integer(ns->opts.anagrpid));
		}
		json_array_append_new(arr, n);
	}
	json_object_set_new(o, "namespaces", arr);
	return o;
}

static const struct usk_json_object_decoder g_get_subsystems_decoders[] = {
	DECODER("nqn", struct rpc_nqn_only, nqn, usk_json_decode_string, true),
	DECODER("tgt_name", struct rpc_nqn_only, tgt_name, usk_json_decode_string, true),
};

static void
rpc_nvmf_get_subsystems(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_nqn_only req = {};
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_tgt *tgt;
	json_t *result;

	if (!usk_rpc_decode_params(request, params, g_get_subsystems_decoders,
				   USK_COUNTOF(g_get_subsystems_decoders), &req)) {
		goto out;
	}
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL) {
		goto out;
	}
	if (req.nqn && rpc_get_subsystem(request, tgt, req.nqn) == NULL) {
		goto out;
	}
	result = json_array();
	for (subsystem = usk_nvmf_subsystem_get_first(tgt); subsystem;
	     subsystem = usk_nvmf_subsystem_get_next(subsystem)) {
		if (req.nqn && strcmp(req.nqn, subsystem->subnqn) != 0) {
			continue;
		}
		json_array_append_new(result, subsystem_to_json(subsystem));
	}
	usk_jsonrpc_send_result(request, result);
out:
	free(req.nqn);
	free(req.tgt_name);
}
USK_RPC_REGISTER("nvmf_get_subsystems", rpc_nvmf_get_subsystems, USK_RPC_RUNTIME)

static void
rpc_nvmf_subsystem_get_controllers(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_nqn_only req = {};
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_ctrlr *ctrlr;
	struct usk_nvmf_tgt *tgt;
	json_t *result;
	char uuid_str[37];

	if (!usk_rpc_decode_params(request, params, g_nqn_decoders, USK_COUNTOF(g_nqn_decoders), &req)) {
		goto out;
	}
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL || (subsystem = rpc_get_subsystem(request, tgt, req.nqn)) == NULL) {
		goto out;
	}
	result = json_array();
	TAILQ_FOREACH(ctrlr, &subsystem->ctrlrs, link) {
		json_t *c = json_object();

		json_object_set_new(c, "cntlid", json_integer(ctrlr->cntlid));
		json_object_set_new(c, "hostnqn", json_string(ctrlr->hostnqn));
		uuid_unparse_lower(ctrlr->hostid, uuid_str);
		json_object_set_new(c, "hostid", json_string(uuid_str));
		json_object_set_new(c, "num_io_qpairs", json_integer(ctrlr->num_io_qpairs));
		json_object_set_new(c, "listen_address", trid_to_json(&ctrlr->listen_trid));
		json_array_append_new(result, c);
	}
	usk_jsonrpc_send_result(request, result);
out:
	free(req.nqn);
	free(req.tgt_name);
}
USK_RPC_REGISTER("nvmf_subsystem_get_controllers", rpc_nvmf_subsystem_get_controllers,
		 USK_RPC_RUNTIME)

static void
rpc_nvmf_subsystem_get_listeners(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_nqn_only req = {};
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_subsystem_listener *listener;
	struct usk_nvmf_tgt *tgt;
	json_t *result;

	if (!usk_rpc_decode_params(request, params, g_nqn_decoders, USK_COUNTOF(g_nqn_decoders), &req)) {
		goto out;
	}
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL || (subsystem = rpc_get_subsystem(request, tgt, req.nqn)) == NULL) {
		goto out;
	}
	result = json_array();
	TAILQ_FOREACH(listener, &subsystem->listeners, link) {
		json_t *l = json_object();

		json_object_set_new(l, "address", trid_to_json(&listener->trid));
		json_object_set_new(l, "ana_state", json_string("optimized"));
		json_array_append_new(result, l);
	}
	usk_jsonrpc_send_result(request, result);
out:
	free(req.nqn);
	free(req.tgt_name);
}
USK_RPC_REGISTER("nvmf_subsystem_get_listeners", rpc_nvmf_subsystem_get_listeners,
		 USK_RPC_RUNTIME)

/* Walks every poll group (one per thread) collecting JSON. */
struct rpc_group_walk {
	struct usk_jsonrpc_request *request;
	struct usk_nvmf_subsystem *subsystem;	/* get_qpairs */
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

static void
get_qpairs_on_group(struct usk_io_channel_iter *i)
{
	struct rpc_group_walk *ctx = usk_io_channel_iter_get_ctx(i);
	struct usk_nvmf_poll_group *group = usk_io_channel_get_ctx(usk_io_channel_iter_get_channel(i));
	struct usk_nvmf_qpair *qpair;
	struct usk_nvme_transport_id trid;

	TAILQ_FOREACH(qpair, &group->qpairs, link) {
		json_t *q;

		if (qpair->ctrlr == NULL || qpair->ctrlr->subsys != ctx->subsystem) {
			continue;
		}
		q = json_object();
		json_object_set_new(q, "cntlid", json_integer(qpair->ctrlr->cntlid));
		json_object_set_new(q, "qid", json_integer(qpair->qid));
		json_object_set_new(q, "state", json_string(qpair_state_str(qpair->state)));
		json_object_set_new(q, "thread", json_string(usk_thread_get_name(group->thread)));
		json_object_set_new(q, "hostnqn", json_string(qpair->ctrlr->hostnqn));
		if (qpair->transport->ops->qpair_get_listen_trid(qpair, &trid) == 0) {
			json_object_set_new(q, "listen_address", trid_to_json(&trid));
		}
		if (qpair->transport->ops->qpair_get_peer_trid(qpair, &trid) == 0) {
			json_object_set_new(q, "peer_address", trid_to_json(&trid));
		}
		json_array_append_new(ctx->array, q);
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

static void
rpc_nvmf_subsystem_get_qpairs(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_nqn_only req = {};
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_tgt *tgt;
	struct rpc_group_walk *ctx;

	if (!usk_rpc_decode_params(request, params, g_nqn_decoders, USK_COUNTOF(g_nqn_decoders), &req)) {
		goto out;
	}
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL || (subsystem = rpc_get_subsystem(request, tgt, req.nqn)) == NULL) {
		goto out;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
		goto out;
	}
	ctx->request = request;
	ctx->subsystem = subsystem;
	ctx->array = json_array();
	usk_for_each_channel(tgt, get_qpairs_on_group, ctx, group_walk_done);
out:
	free(req.nqn);
	free(req.tgt_name);
}
USK_RPC_REGISTER("nvmf_subsystem_get_qpairs", rpc_nvmf_subsystem_get_qpairs, USK_RPC_RUNTIME)

static void
get_stats_on_group(struct usk_io_channel_iter *i)
{
	struct rpc_group_walk *ctx = usk_io_channel_iter_get_ctx(i);
	struct usk_nvmf_poll_group *group = usk_io_channel_get_ctx(usk_io_channel_iter_get_channel(i));
	struct usk_nvmf_transport_poll_group *tgroup;
	json_t *g = json_object(), *transports = json_array();

	json_object_set_new(g, "name", json_string(usk_thread_get_name(group->thread)));
	json_object_set_new(g, "admin_qpairs", json_integer((json_int_t)group->stat.admin_qpairs));
	json_object_set_new(g, "io_qpairs", json_integer((json_int_t)group->stat.io_qpairs));
	json_object_set_new(g, "current_admin_qpairs",
			    json_integer((json_int_t)group->stat.current_admin_qpairs));
	json_object_set_new(g, "current_io_qpairs",
			    json_integer((json_int_t)group->stat.current_io_qpairs));
	json_object_set_new(g, "pending_bdev_io", json_integer((json_int_t)group->stat.pending_bdev_io));
	json_object_set_new(g, "completed_nvme_io",
			    json_integer((json_int_t)group->stat.completed_nvme_io));
	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		json_t *t = json_object();

		json_object_set_new(t, "trtype", json_string(tgroup->transport->ops->name));
		if (tgroup->transport->ops->poll_group_dump_stat) {
			tgroup->transport->ops->poll_group_dump_stat(tgroup, t);
		}
		json_array_append_new(transports, t);
	}
	json_object_set_new(g, "transports", transports);
	json_array_append_new(ctx->array, g);
	usk_for_each_channel_continue(i, 0);
}

static void
get_stats_done(struct usk_io_channel_iter *i, int status)
{
	struct rpc_group_walk *ctx = usk_io_channel_iter_get_ctx(i);
	json_t *result = json_object();

	json_object_set_new(result, "tick_rate", json_integer((json_int_t)usk_get_ticks_hz()));
	json_object_set_new(result, "poll_groups", ctx->array);
	usk_jsonrpc_send_result(ctx->request, result);
	free(ctx);
}

static const struct usk_json_object_decoder g_tgt_name_decoders[] = {
	DECODER("tgt_name", struct rpc_nqn_only, tgt_name, usk_json_decode_string, true),
};

static void
rpc_nvmf_get_stats(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_nqn_only req = {};
	struct usk_nvmf_tgt *tgt;
	struct rpc_group_walk *ctx;

	if (!usk_rpc_decode_params(request, params, g_tgt_name_decoders,
				   USK_COUNTOF(g_tgt_name_decoders), &req)) {
		goto out;
	}
	tgt = rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL) {
		goto out;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INTERNAL_ERROR, "out of memory");
		goto out;
	}
	ctx->request = request;
	ctx->array = json_array();
	usk_for_each_channel(tgt, get_stats_on_group, ctx, get_stats_done);
out:
	free(req.tgt_name);
}
USK_RPC_REGISTER("nvmf_get_stats", rpc_nvmf_get_stats, USK_RPC_RUNTIME)

/* ---- save_config ---- */

static json_t *
listener_params(struct usk_nvmf_subsystem *subsystem, struct usk_nvmf_subsystem_listener *listener)
{
	json_t *params = json_object();

	json_object_set_new(params, "nqn", json_string(subsystem->subnqn));
	json_object_set_new(params, "listen_address", trid_to_json(&listener->trid));
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
	static const uint8_t zero[16];
	char buf[64];
	json_t *params, *nsobj;

	for (transport = usk_nvmf_transport_get_first(tgt); transport;
	     transport = usk_nvmf_transport_get_next(transport)) {
		usk_json_config_add(config, "nvmf_create_transport", usk_nvmf_transport_opts_to_json(transport));
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
		json_object_set_new(params, "nqn", json_string(subsystem->subnqn));
		json_object_set_new(params, "allow_any_host", json_boolean(subsystem->allow_any_host));
		json_object_set_new(params, "serial_number", json_string(subsystem->sn));
		json_object_set_new(params, "model_number", json_string(subsystem->mn));
		json_object_set_new(params, "max_namespaces", json_integer(subsystem->max_nsid));
		json_object_set_new(params, "min_cntlid", json_integer(subsystem->min_cntlid));
		json_object_set_new(params, "max_cntlid", json_integer(subsystem->max_cntlid));
		json_object_set_new(params, "ana_reporting", json_boolean(subsystem->ana_reporting));
		usk_json_config_add(config, "nvmf_create_subsystem", params);
		for (ns = usk_nvmf_subsystem_get_first_ns(subsystem); ns;
		     ns = usk_nvmf_subsystem_get_next_ns(subsystem, ns)) {
			params = json_object();
			nsobj = json_object();
			json_object_set_new(nsobj, "nsid", json_integer(ns->nsid));
			json_object_set_new(nsobj, "bdev_name", json_string(usk_bdev_get_name(ns->bdev)));
			if (memcmp(ns->opts.nguid, zero, 16) != 0) {
				hex_string(buf, ns->opts.nguid, 16);
				json_object_set_new(nsobj, "nguid", json_string(buf));
			}
			if (ns->opts.eui64_be) {
				snprintf(buf, sizeof(buf), "%016" PRIX64, ns->opts.eui64_be);
				json_object_set_new(nsobj, "eui64", json_string(buf));
			}
			if (memcmp(ns->opts.uuid, zero, 16) != 0) {
				uuid_unparse_lower(ns->opts.uuid, buf);
				json_object_set_new(nsobj, "uuid", json_string(buf));
			}
			json_object_set_new(params, "nqn", json_string(subsystem->subnqn));
			json_object_set_new(params, "namespace", nsobj);
			usk_json_config_add(config, "nvmf_subsystem_add_ns", params);
		}
		TAILQ_FOREACH(listener, &subsystem->listeners, link) {
			usk_json_config_add(config, "nvmf_subsystem_add_listener",
					    listener_params(subsystem, listener));
		}
		TAILQ_FOREACH(host, &subsystem->hosts, link) {
			params = json_object();
			json_object_set_new(params, "nqn", json_string(subsystem->subnqn));
			json_object_set_new(params, "host", json_string(host->nqn));
			usk_json_config_add(config, "nvmf_subsystem_add_host", params);
		}
	}
}
