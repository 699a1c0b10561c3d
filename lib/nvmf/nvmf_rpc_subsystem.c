/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe-oF target JSON-RPC methods on subsystems, their listeners and hosts, and their queries. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "usk/env.h"
#include "usk/rpc.h"
#include "nvmf_rpc_internal.h"

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
	DECODER("max_namespaces", struct rpc_create_subsystem, max_namespaces,
		usk_json_decode_uint32, true),
	DECODER("allow_any_host", struct rpc_create_subsystem, allow_any_host, usk_json_decode_bool,
		true),
	DECODER("ana_reporting", struct rpc_create_subsystem, ana_reporting, usk_json_decode_bool,
		true),
	DECODER("min_cntlid", struct rpc_create_subsystem, min_cntlid, usk_json_decode_uint16,
		true),
	DECODER("max_cntlid", struct rpc_create_subsystem, max_cntlid, usk_json_decode_uint16,
		true),
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
		nvmf_rpc_reply_nomem(request);
		return;
	}
	req->request = request;
	req->min_cntlid = USK_NVMF_CNTLID_MIN;
	req->max_cntlid = USK_NVMF_CNTLID_MAX;
	if (!usk_rpc_decode_params(request, params, g_create_subsystem_decoders,
				   USK_COUNTOF(g_create_subsystem_decoders), req)) {
		goto err_free;
	}
	tgt = nvmf_rpc_get_tgt(request, req->tgt_name);
	if (tgt == NULL) {
		goto err_free;
	}
	if (!usk_nvmf_nqn_is_valid(req->nqn, reason, sizeof(reason))) {
		nvmf_rpc_reply_invalid(request, "nqn: '%s' is not a valid NQN: %s", req->nqn,
				       reason);
		goto err_free;
	}
	if (strcmp(req->nqn, USK_NVMF_DISCOVERY_NQN) == 0 ||
	    usk_nvmf_tgt_find_subsystem(tgt, req->nqn) != NULL) {
		nvmf_rpc_reply_invalid(request, "nqn: subsystem %s already exists%s", req->nqn, "");
		goto err_free;
	}
	if (req->min_cntlid < USK_NVMF_CNTLID_MIN || req->max_cntlid > USK_NVMF_CNTLID_MAX ||
	    req->min_cntlid > req->max_cntlid) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"min_cntlid, max_cntlid: need %u <= min_cntlid <= max_cntlid <= %u",
			USK_NVMF_CNTLID_MIN, USK_NVMF_CNTLID_MAX);
		goto err_free;
	}
	rc = usk_nvmf_subsystem_create(tgt, req->nqn, USK_NVMF_SUBTYPE_NVME, req->max_namespaces,
				       &subsystem);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request,
			rc == -ENOSPC ? USK_JSONRPC_ERROR_INVALID_STATE :
					USK_JSONRPC_ERROR_INTERNAL_ERROR,
			"cannot create subsystem %s: %s", req->nqn,
			rc == -ENOSPC ? "too many subsystems" : strerror(-rc));
		goto err_free;
	}
	if (req->serial_number && usk_nvmf_subsystem_set_sn(subsystem, req->serial_number) != 0) {
		nvmf_rpc_reply_invalid(
			request,
			"serial_number: '%s' must be printable ASCII of at most 20 characters%s",
			req->serial_number, "");
		goto err_destroy;
	}
	if (req->model_number && usk_nvmf_subsystem_set_mn(subsystem, req->model_number) != 0) {
		nvmf_rpc_reply_invalid(
			request,
			"model_number: '%s' must be printable ASCII of at most 40 characters%s",
			req->model_number, "");
		goto err_destroy;
	}
	usk_nvmf_subsystem_set_cntlid_range(subsystem, req->min_cntlid, req->max_cntlid);
	usk_nvmf_subsystem_set_ana_reporting(subsystem, req->ana_reporting);
	usk_nvmf_subsystem_set_allow_any_host(subsystem, req->allow_any_host);
	rc = usk_nvmf_subsystem_start(subsystem, create_subsystem_started, req);
	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "cannot start subsystem %s: %s", req->nqn,
						    strerror(-rc));
		goto err_destroy;
	}
	return;

err_destroy:
	usk_nvmf_subsystem_destroy(subsystem);
err_free:
	create_subsystem_free(req);
}
USK_RPC_REGISTER("nvmf_create_subsystem", rpc_nvmf_create_subsystem, USK_RPC_RUNTIME)

static void
nqn_only_free(struct rpc_nqn_only *req)
{
	nvmf_rpc_nqn_only_clear(req);
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
	int rc;

	if (req == NULL) {
		nvmf_rpc_reply_nomem(request);
		return;
	}
	req->request = request;
	subsystem = nvmf_rpc_decode_subsystem(request, params, req, NULL);
	if (subsystem == NULL) {
		goto err_free;
	}
	if (nvmf_subsystem_is_discovery(subsystem)) {
		nvmf_rpc_reply_invalid(request,
				       "nqn: the discovery subsystem %s cannot be deleted%s",
				       req->nqn, "");
		goto err_free;
	}
	if (subsystem->state == USK_NVMF_SUBSYSTEM_INACTIVE && !subsystem->changing_state) {
		delete_subsystem_stopped(subsystem, req, 0);
		return;
	}
	rc = usk_nvmf_subsystem_stop(subsystem, delete_subsystem_stopped, req);
	if (rc != 0) {
		nvmf_rpc_reply_busy(request, req->nqn);
		goto err_free;
	}
	return;

err_free:
	nqn_only_free(req);
}
USK_RPC_REGISTER("nvmf_delete_subsystem", rpc_nvmf_delete_subsystem, USK_RPC_RUNTIME)

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

static const struct usk_json_object_decoder g_listen_address_decoders[] = {
	DECODER("trtype", struct rpc_listen_address, trtype, usk_json_decode_string, false),
	DECODER("adrfam", struct rpc_listen_address, adrfam, usk_json_decode_string, true),
	DECODER("traddr", struct rpc_listen_address, traddr, usk_json_decode_string, false),
	DECODER("trsvcid", struct rpc_listen_address, trsvcid, usk_json_decode_trsvcid, true),
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
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"secure_channel: TLS listeners are not supported by usk yet");
		return false;
	}
	/* Relaxed: a transport may read its own members from listen_address. */
	if (usk_json_decode_object_relaxed(req->listen_address, g_listen_address_decoders,
					   USK_COUNTOF(g_listen_address_decoders), &req->addr, err,
					   sizeof(err)) != 0) {
		nvmf_rpc_reply_invalid(request, "listen_address.%s%s", err, "");
		return false;
	}
	memset(trid, 0, sizeof(*trid));
	if (usk_nvmf_trtype_parse(req->addr.trtype, &trid->trtype) != 0) {
		nvmf_rpc_reply_invalid(request,
				       "listen_address.trtype: unknown transport type '%s'%s",
				       req->addr.trtype, "");
		return false;
	}
	snprintf(trid->trstring, sizeof(trid->trstring), "%s", usk_nvmf_trtype_str(trid->trtype));
	trid->adrfam = USK_NVMF_ADRFAM_IPV4;
	if (req->addr.adrfam && usk_nvmf_adrfam_parse(req->addr.adrfam, &trid->adrfam) != 0) {
		nvmf_rpc_reply_invalid(
			request,
			"listen_address.adrfam: unknown address family '%s' (IPv4, IPv6, IB, FC)%s",
			req->addr.adrfam, "");
		return false;
	}
	if (strlen(req->addr.traddr) == 0 || strlen(req->addr.traddr) > USK_NVMF_TRADDR_MAX_LEN) {
		nvmf_rpc_reply_invalid(request,
				       "listen_address.traddr: '%s' must be 1..256 characters%s",
				       req->addr.traddr, "");
		return false;
	}
	snprintf(trid->traddr, sizeof(trid->traddr), "%s", req->addr.traddr);
	if (req->addr.trsvcid == NULL &&
	    (trid->trtype == USK_NVME_TRANSPORT_TCP || trid->trtype == USK_NVME_TRANSPORT_RDMA)) {
		nvmf_rpc_reply_invalid(request,
				       "listen_address.trsvcid: missing required field for %s%s",
				       trid->trstring, "");
		return false;
	}
	if (req->addr.trsvcid) {
		if (strlen(req->addr.trsvcid) == 0 ||
		    strlen(req->addr.trsvcid) > USK_NVMF_TRSVCID_MAX_LEN) {
			nvmf_rpc_reply_invalid(
				request, "listen_address.trsvcid: '%s' must be 1..32 characters%s",
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
	int rc;

	if (!decode_listener(request, params, &req, &trid)) {
		goto out;
	}
	subsystem = nvmf_rpc_find_subsystem(request, req.tgt_name, req.nqn, NULL);
	if (subsystem == NULL) {
		goto out;
	}
	rc = usk_nvmf_subsystem_add_listener(subsystem, &trid, req.listen_address);
	switch (rc) {
	case 0:
		usk_jsonrpc_send_bool_response(request, true);
		break;
	case -ENOENT:
		nvmf_rpc_reply_invalid(
			request,
			"listen_address.trtype: transport %s has not been created (nvmf_create_transport)%s",
			trid.trstring, "");
		break;
	case -EEXIST:
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "listen_address: %s already listens on %s:%s",
						    req.nqn, trid.traddr, trid.trsvcid);
		break;
	default:
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "listen_address: cannot listen on %s %s:%s: %s",
						    trid.trstring, trid.traddr, trid.trsvcid,
						    strerror(-rc));
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

	if (!decode_listener(request, params, &req, &trid)) {
		goto out;
	}
	subsystem = nvmf_rpc_find_subsystem(request, req.tgt_name, req.nqn, NULL);
	if (subsystem == NULL) {
		goto out;
	}
	if (usk_nvmf_subsystem_remove_listener(subsystem, &trid) != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"listen_address: %s has no listener on %s %s:%s", req.nqn, trid.trstring,
			trid.traddr, trid.trsvcid);
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

	subsystem = nvmf_rpc_find_subsystem(request, req->tgt_name, req->nqn, NULL);
	if (subsystem == NULL) {
		return NULL;
	}
	if (nvmf_subsystem_is_discovery(subsystem)) {
		nvmf_rpc_reply_invalid(request,
				       "nqn: the discovery subsystem %s admits every host%s",
				       req->nqn, "");
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

	if (!usk_rpc_decode_params(request, params, g_host_decoders, USK_COUNTOF(g_host_decoders),
				   &req) ||
	    (subsystem = host_rpc_subsystem(request, &req)) == NULL) {
		goto out;
	}
	if (!usk_nvmf_nqn_is_valid(req.host, reason, sizeof(reason))) {
		nvmf_rpc_reply_invalid(request, "host: '%s' is not a valid NQN: %s", req.host,
				       reason);
		goto out;
	}
	rc = usk_nvmf_subsystem_add_host(subsystem, req.host);
	if (rc == 0) {
		usk_jsonrpc_send_bool_response(request, true);
	} else if (rc == -EEXIST) {
		nvmf_rpc_reply_invalid(request, "host: %s is already allowed on %s", req.host,
				       req.nqn);
	} else {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "cannot add host %s: %s", req.host,
						    strerror(-rc));
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

	if (!usk_rpc_decode_params(request, params, g_host_decoders, USK_COUNTOF(g_host_decoders),
				   &req) ||
	    (subsystem = host_rpc_subsystem(request, &req)) == NULL) {
		goto out;
	}
	if (usk_nvmf_subsystem_remove_host(subsystem, req.host) != 0) {
		nvmf_rpc_reply_invalid(request, "host: %s is not in the host list of %s", req.host,
				       req.nqn);
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
subsystem_to_json(struct usk_nvmf_subsystem *subsystem)
{
	json_t *o = json_object(), *arr;
	struct usk_nvmf_subsystem_listener *listener;
	struct usk_nvmf_host *host;
	struct usk_nvmf_ns *ns;

	usk_json_set(o, "nqn", json_string(subsystem->subnqn));
	usk_json_set(o, "subtype",
		     json_string(nvmf_subsystem_is_discovery(subsystem) ? "Discovery" : "NVMe"));
	arr = json_array();
	TAILQ_FOREACH(listener, &subsystem->listeners, link) {
		json_t *l = nvmf_rpc_trid_to_json(&listener->trid);

		usk_json_set(l, "transport", json_string(listener->transport->ops->name));
		usk_json_append(arr, l);
	}
	usk_json_set(o, "listen_addresses", arr);
	usk_json_set(o, "allow_any_host", json_boolean(subsystem->allow_any_host));
	arr = json_array();
	TAILQ_FOREACH(host, &subsystem->hosts, link) {
		json_t *h = json_object();

		usk_json_set(h, "nqn", json_string(host->nqn));
		usk_json_append(arr, h);
	}
	usk_json_set(o, "hosts", arr);
	if (nvmf_subsystem_is_discovery(subsystem)) {
		return o;
	}
	usk_json_set(o, "serial_number", json_string(subsystem->sn));
	usk_json_set(o, "model_number", json_string(subsystem->mn));
	usk_json_set(o, "max_namespaces", json_integer(subsystem->max_nsid));
	usk_json_set(o, "min_cntlid", json_integer(subsystem->min_cntlid));
	usk_json_set(o, "max_cntlid", json_integer(subsystem->max_cntlid));
	usk_json_set(o, "ana_reporting", json_boolean(subsystem->ana_reporting));
	arr = json_array();
	for (ns = usk_nvmf_subsystem_get_first_ns(subsystem); ns;
	     ns = usk_nvmf_subsystem_get_next_ns(subsystem, ns)) {
		json_t *n = json_object();

		usk_json_set(n, "nsid", json_integer(ns->nsid));
		usk_json_set(n, "bdev_name", json_string(usk_bdev_get_name(ns->bdev)));
		usk_json_set(n, "name", json_string(usk_bdev_get_name(ns->bdev)));
		nvmf_rpc_ns_ids_to_json(n, ns);
		if (ns->opts.anagrpid) {
			usk_json_set(n, "anagrpid", json_integer(ns->opts.anagrpid));
		}
		usk_json_append(arr, n);
	}
	usk_json_set(o, "namespaces", arr);
	return o;
}

static void
rpc_nvmf_get_subsystems(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_nqn_only req = {};
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_tgt *tgt;
	json_t *result;

	if (!usk_rpc_decode_params(request, params, g_nqn_optional_decoders,
				   USK_COUNTOF(g_nqn_optional_decoders), &req)) {
		goto out;
	}
	tgt = nvmf_rpc_get_tgt(request, req.tgt_name);
	if (tgt == NULL) {
		goto out;
	}
	if (req.nqn && nvmf_rpc_find_subsystem(request, req.tgt_name, req.nqn, NULL) == NULL) {
		goto out;
	}
	result = json_array();
	for (subsystem = usk_nvmf_subsystem_get_first(tgt); subsystem;
	     subsystem = usk_nvmf_subsystem_get_next(subsystem)) {
		if (req.nqn && strcmp(req.nqn, subsystem->subnqn) != 0) {
			continue;
		}
		usk_json_append(result, subsystem_to_json(subsystem));
	}
	usk_jsonrpc_send_result(request, result);
out:
	nvmf_rpc_nqn_only_clear(&req);
}
USK_RPC_REGISTER("nvmf_get_subsystems", rpc_nvmf_get_subsystems, USK_RPC_RUNTIME)

static void
rpc_nvmf_subsystem_get_controllers(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_nqn_only req = {};
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_ctrlr *ctrlr;
	json_t *result;
	char uuid_str[37];

	subsystem = nvmf_rpc_decode_subsystem(request, params, &req, NULL);
	if (subsystem == NULL) {
		goto out;
	}
	result = json_array();
	TAILQ_FOREACH(ctrlr, &subsystem->ctrlrs, link) {
		json_t *c = json_object();

		usk_json_set(c, "cntlid", json_integer(ctrlr->cntlid));
		usk_json_set(c, "hostnqn", json_string(ctrlr->hostnqn));
		uuid_unparse_lower(ctrlr->hostid, uuid_str);
		usk_json_set(c, "hostid", json_string(uuid_str));
		usk_json_set(c, "num_io_qpairs", json_integer(ctrlr->num_io_qpairs));
		usk_json_set(c, "listen_address", nvmf_rpc_trid_to_json(&ctrlr->listen_trid));
		usk_json_append(result, c);
	}
	usk_jsonrpc_send_result(request, result);
out:
	nvmf_rpc_nqn_only_clear(&req);
}
USK_RPC_REGISTER("nvmf_subsystem_get_controllers", rpc_nvmf_subsystem_get_controllers,
		 USK_RPC_RUNTIME)

static void
rpc_nvmf_subsystem_get_listeners(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_nqn_only req = {};
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_subsystem_listener *listener;
	json_t *result;

	subsystem = nvmf_rpc_decode_subsystem(request, params, &req, NULL);
	if (subsystem == NULL) {
		goto out;
	}
	result = json_array();
	TAILQ_FOREACH(listener, &subsystem->listeners, link) {
		json_t *l = json_object();

		usk_json_set(l, "address", nvmf_rpc_trid_to_json(&listener->trid));
		usk_json_set(l, "ana_state", json_string("optimized"));
		usk_json_append(result, l);
	}
	usk_jsonrpc_send_result(request, result);
out:
	nvmf_rpc_nqn_only_clear(&req);
}
USK_RPC_REGISTER("nvmf_subsystem_get_listeners", rpc_nvmf_subsystem_get_listeners, USK_RPC_RUNTIME)
