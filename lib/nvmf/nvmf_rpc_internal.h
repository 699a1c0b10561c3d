/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers shared by the NVMe-oF target's JSON-RPC files (nvmf_rpc.c: helpers, transports, stats,
 * save_config; nvmf_rpc_subsystem.c: subsystems, listeners, hosts, queries; nvmf_rpc_ns.c:
 * namespaces). Private to lib/nvmf.
 */
#ifndef USK_NVMF_RPC_INTERNAL_H
#define USK_NVMF_RPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "usk/rpc.h"
#include "nvmf_internal.h"

#define DECODER(name, type, field, fn, opt) \
	{ \
		name, offsetof(type, field), fn, opt \
	}

/* Params of the RPCs that name a subsystem and nothing else ("nqn", optional "tgt_name"). */
struct rpc_nqn_only {
	char *nqn;
	char *tgt_name;
	struct usk_jsonrpc_request *request;
};

/* Decoders of struct rpc_nqn_only: nqn required / nqn optional / tgt_name only. */
extern const struct usk_json_object_decoder g_nqn_decoders[2];
extern const struct usk_json_object_decoder g_nqn_optional_decoders[2];
extern const struct usk_json_object_decoder g_tgt_name_decoders[1];

/* Free the strings of a struct rpc_nqn_only (not the struct). */
void nvmf_rpc_nqn_only_clear(struct rpc_nqn_only *req);

/* Reply INVALID_PARAMS with fmt, which takes two strings. */
void nvmf_rpc_reply_invalid(struct usk_jsonrpc_request *request, const char *fmt, const char *a,
			    const char *b);

/* Reply INTERNAL_ERROR "out of memory". */
void nvmf_rpc_reply_nomem(struct usk_jsonrpc_request *request);

/* Reply INVALID_STATE "subsystem <nqn> is busy changing state, try again". */
void nvmf_rpc_reply_busy(struct usk_jsonrpc_request *request, const char *nqn);

/* The target named tgt_name (NULL: the default one); replies with the error if there is none. */
struct usk_nvmf_tgt *nvmf_rpc_get_tgt(struct usk_jsonrpc_request *request, const char *tgt_name);

/* The subsystem `nqn` of the target `tgt_name`; replies with the error and returns NULL if
 * either is not found. *tgt (may be NULL) is set to the target. */
struct usk_nvmf_subsystem *nvmf_rpc_find_subsystem(struct usk_jsonrpc_request *request,
						   const char *tgt_name, const char *nqn,
						   struct usk_nvmf_tgt **tgt);

/* Decode params into req (struct rpc_nqn_only with g_nqn_decoders) and find its subsystem; on
 * any error replies and returns NULL. The caller clears req in both cases. */
struct usk_nvmf_subsystem *nvmf_rpc_decode_subsystem(struct usk_jsonrpc_request *request,
						     const json_t *params, struct rpc_nqn_only *req,
						     struct usk_nvmf_tgt **tgt);

/* A transport id as the RPCs show it: trtype, adrfam, traddr, trsvcid. */
json_t *nvmf_rpc_trid_to_json(const struct usk_nvme_transport_id *trid);

/* Add a namespace's set identifiers ("nguid", "eui64", "uuid"; the zero ones left out) to o. */
void nvmf_rpc_ns_ids_to_json(json_t *o, const struct usk_nvmf_ns *ns);

#endif
