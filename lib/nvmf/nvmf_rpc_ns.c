/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe-oF target JSON-RPC methods adding and removing namespaces (pause, change, resume). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "usk/rpc.h"
#include "nvmf_rpc_internal.h"

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
	uint32_t nsid; /* remove_ns */
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
	DECODER("no_auto_visible", struct rpc_ns_params, no_auto_visible, usk_json_decode_bool,
		true),
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
		nvmf_rpc_reply_invalid(ctx->request, "namespace.bdev_name: bdev '%s' not found%s",
				       what, "");
		break;
	case -EEXIST:
		usk_jsonrpc_send_error_response_fmt(ctx->request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "namespace.nsid: namespace %u already exists",
						    ctx->opts.nsid);
		break;
	case -EINVAL:
		usk_jsonrpc_send_error_response_fmt(
			ctx->request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"namespace.nsid: %u is above the subsystem's max_namespaces",
			ctx->opts.nsid);
		break;
	case -ENOSPC:
		usk_jsonrpc_send_error_response(
			ctx->request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"nqn: the subsystem has no free namespace ID (max_namespaces)");
		break;
	case -ENOENT:
		usk_jsonrpc_send_error_response_fmt(ctx->request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "nsid: namespace %u not found", ctx->nsid);
		break;
	case -EPERM:
		nvmf_rpc_reply_invalid(
			ctx->request,
			"bdev_name: bdev '%s' cannot be opened for writing (claimed)%s", what, "");
		break;
	default:
		usk_jsonrpc_send_error_response_fmt(ctx->request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "namespace change failed: %s",
						    strerror(-ctx->rc));
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
	int rc;

	subsystem = nvmf_rpc_find_subsystem(request, ctx->tgt_name, ctx->nqn, NULL);
	if (subsystem == NULL) {
		ns_change_free(ctx);
		return;
	}
	if (nvmf_subsystem_is_discovery(subsystem)) {
		nvmf_rpc_reply_invalid(request,
				       "nqn: the discovery subsystem %s has no namespaces%s",
				       ctx->nqn, "");
		ns_change_free(ctx);
		return;
	}
	if (subsystem->changing_state) {
		nvmf_rpc_reply_busy(request, ctx->nqn);
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
		nvmf_rpc_reply_nomem(request);
		return;
	}
	ctx->request = request;
	ctx->add = true;
	if (!usk_rpc_decode_params(request, params, g_add_ns_decoders,
				   USK_COUNTOF(g_add_ns_decoders), ctx)) {
		ns_change_free(ctx);
		return;
	}
	if (usk_json_decode_object(ctx->namespace, g_ns_decoders, USK_COUNTOF(g_ns_decoders),
				   &ctx->ns, err, sizeof(err)) != 0) {
		nvmf_rpc_reply_invalid(request, "namespace.%s%s", err, "");
		ns_change_free(ctx);
		return;
	}
	usk_nvmf_ns_opts_get_defaults(&ctx->opts, sizeof(ctx->opts));
	ctx->opts.nsid = ctx->ns.nsid;
	ctx->opts.anagrpid = ctx->ns.anagrpid;
	if (ctx->ns.uuid) {
		if (uuid_parse(ctx->ns.uuid, uuid) != 0) {
			nvmf_rpc_reply_invalid(request, "namespace.uuid: '%s' is not a UUID%s",
					       ctx->ns.uuid, "");
			ns_change_free(ctx);
			return;
		}
		memcpy(ctx->opts.uuid, uuid, 16);
	}
	if (ctx->ns.nguid && parse_hex(ctx->ns.nguid, ctx->opts.nguid, 16) != 0) {
		nvmf_rpc_reply_invalid(request, "namespace.nguid: '%s' must be 32 hex digits%s",
				       ctx->ns.nguid, "");
		ns_change_free(ctx);
		return;
	}
	if (ctx->ns.eui64) {
		uint8_t b[8];
		int i;

		if (parse_hex(ctx->ns.eui64, b, 8) != 0) {
			nvmf_rpc_reply_invalid(request,
					       "namespace.eui64: '%s' must be 16 hex digits%s",
					       ctx->ns.eui64, "");
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
		nvmf_rpc_reply_nomem(request);
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
