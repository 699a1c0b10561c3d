/* SPDX-License-Identifier: BSD-3-Clause */
/* RPCs of the NVMe bdev module, with SPDK's names and parameters. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_nvme.h"
#include "usk_internal/bdev_rpc.h"
#include "usk/rpc.h"
#include "usk/util.h"

struct rpc_attach {
	char *name;
	char *trtype;
	char *traddr;
	char *adrfam;
	char *trsvcid;
	char *subnqn;
	char *hostnqn;
	char *multipath;
	bool hdgst;
	bool ddgst;
	int32_t priority;
	int32_t ctrlr_loss_timeout_sec;
	uint32_t reconnect_delay_sec;
	uint32_t fast_io_fail_timeout_sec;
};

static void
rpc_attach_free(struct rpc_attach *p)
{
	free(p->name);
	free(p->trtype);
	free(p->traddr);
	free(p->adrfam);
	free(p->trsvcid);
	free(p->subnqn);
	free(p->hostnqn);
	free(p->multipath);
}

static void
attach_done(void *cb_arg, int rc, json_t *names)
{
	struct usk_jsonrpc_request *request = cb_arg;

	if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, rc, "could not attach the NVMe controller: %s", strerror(-rc));
		return;
	}
	usk_jsonrpc_send_result(request, names);
}

static bool
copy_field(struct usk_jsonrpc_request *request, char *dst, size_t size, const char *val,
	   const char *field)
{
	if (val == NULL) {
		return true;
	}
	if (strlen(val) >= size) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameters: %s: too long (max %zu)",
						    field, size - 1);
		return false;
	}
	memcpy(dst, val, strlen(val) + 1);
	return true;
}

static void
rpc_bdev_nvme_attach_controller(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct bdev_nvme_opts mod;
	struct rpc_attach p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_attach, name), usk_json_decode_string, false},
		{"trtype", offsetof(struct rpc_attach, trtype), usk_json_decode_string, false},
		{"traddr", offsetof(struct rpc_attach, traddr), usk_json_decode_string, false},
		{"adrfam", offsetof(struct rpc_attach, adrfam), usk_json_decode_string, true},
		{"trsvcid", offsetof(struct rpc_attach, trsvcid), usk_json_decode_trsvcid, true},
		{"subnqn", offsetof(struct rpc_attach, subnqn), usk_json_decode_string, true},
		{"hostnqn", offsetof(struct rpc_attach, hostnqn), usk_json_decode_string, true},
		{"multipath", offsetof(struct rpc_attach, multipath), usk_json_decode_string, true},
		{"hdgst", offsetof(struct rpc_attach, hdgst), usk_json_decode_bool, true},
		{"ddgst", offsetof(struct rpc_attach, ddgst), usk_json_decode_bool, true},
		{"priority", offsetof(struct rpc_attach, priority), usk_json_decode_int32, true},
		{"ctrlr_loss_timeout_sec", offsetof(struct rpc_attach, ctrlr_loss_timeout_sec),
		 usk_json_decode_int32, true},
		{"reconnect_delay_sec", offsetof(struct rpc_attach, reconnect_delay_sec),
		 usk_json_decode_uint32, true},
		{"fast_io_fail_timeout_sec", offsetof(struct rpc_attach, fast_io_fail_timeout_sec),
		 usk_json_decode_uint32, true},
	};
	struct bdev_nvme_attach_opts o;
	int rc;

	bdev_nvme_get_opts(&mod);
	p.ctrlr_loss_timeout_sec = mod.ctrlr_loss_timeout_sec;
	p.reconnect_delay_sec = mod.reconnect_delay_sec;
	p.fast_io_fail_timeout_sec = mod.fast_io_fail_timeout_sec;
	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	if (!usk_bdev_rpc_check_name(request, p.name)) {
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.name = p.name;
	if (usk_nvme_transport_id_parse_trtype(&o.trid.trtype, p.trtype) != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: trtype: unknown transport '%s'", p.trtype);
		goto out;
	}
	usk_nvme_trid_populate_transport(&o.trid, o.trid.trtype);
	if (p.adrfam != NULL && usk_nvme_transport_id_parse_adrfam(&o.trid.adrfam, p.adrfam) != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: adrfam: unknown address family '%s'", p.adrfam);
		goto out;
	}
	if (!copy_field(request, o.trid.traddr, sizeof(o.trid.traddr), p.traddr, "traddr") ||
	    !copy_field(request, o.trid.trsvcid, sizeof(o.trid.trsvcid), p.trsvcid, "trsvcid") ||
	    !copy_field(request, o.trid.subnqn, USK_NVMF_NQN_MAX_LEN + 1, p.subnqn, "subnqn") ||
	    !copy_field(request, o.hostnqn, USK_NVMF_NQN_MAX_LEN + 1, p.hostnqn, "hostnqn")) {
		goto out;
	}
	if (o.trid.trtype == USK_NVME_TRANSPORT_TCP) {
		if (o.trid.trsvcid[0] == '\0') {
			snprintf(o.trid.trsvcid, sizeof(o.trid.trsvcid), "4420");
		}
		if (o.trid.adrfam == 0) {
			o.trid.adrfam = strchr(o.trid.traddr, ':') ? USK_NVMF_ADRFAM_IPV6 :
								     USK_NVMF_ADRFAM_IPV4;
		}
		if (o.trid.subnqn[0] == '\0') {
			usk_jsonrpc_send_error_response(
				request, USK_JSONRPC_ERROR_INVALID_PARAMS,
				"Invalid parameters: subnqn: required for TCP");
			goto out;
		}
	}
	if (p.multipath != NULL && strcmp(p.multipath, "disable") != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: multipath: '%s' is not supported (only disable)",
			p.multipath);
		goto out;
	}
	if (p.ctrlr_loss_timeout_sec < -1) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: ctrlr_loss_timeout_sec: must be -1 or >= 0");
		goto out;
	}
	if (p.ctrlr_loss_timeout_sec != 0 && p.reconnect_delay_sec == 0) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: reconnect_delay_sec: must be non-zero when "
			"ctrlr_loss_timeout_sec is non-zero");
		goto out;
	}
	if (p.ctrlr_loss_timeout_sec > 0 &&
	    p.reconnect_delay_sec > (uint32_t)p.ctrlr_loss_timeout_sec) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: reconnect_delay_sec: must not exceed "
			"ctrlr_loss_timeout_sec");
		goto out;
	}
	o.trid.priority = p.priority;
	o.hdgst = p.hdgst;
	o.ddgst = p.ddgst;
	o.ctrlr_loss_timeout_sec = p.ctrlr_loss_timeout_sec;
	o.reconnect_delay_sec = p.reconnect_delay_sec;
	o.fast_io_fail_timeout_sec = p.fast_io_fail_timeout_sec;
	rc = bdev_nvme_attach_controller(&o, attach_done, request);
	if (rc == -EEXIST) {
		usk_jsonrpc_send_error_response_fmt(
			request, rc, "name: a controller named %s already exists", p.name);
	} else if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(
			request, rc, "could not attach the NVMe controller: %s", strerror(-rc));
	}
out:
	rpc_attach_free(&p);
}
USK_RPC_REGISTER("bdev_nvme_attach_controller", rpc_bdev_nvme_attach_controller, USK_RPC_RUNTIME)

static void
detach_done(void *cb_arg, int rc)
{
	usk_bdev_rpc_delete_done(cb_arg, rc);
}

static void
rpc_bdev_nvme_detach_controller(struct usk_jsonrpc_request *request, const json_t *params)
{
	char *name = NULL;
	int rc;

	if (!usk_bdev_rpc_decode_name(request, params, &name)) {
		free(name);
		return;
	}
	rc = bdev_nvme_detach_controller(name, detach_done, request);
	if (rc == -ENODEV) {
		usk_jsonrpc_send_error_response_fmt(request, rc,
						    "name: no NVMe controller named %s", name);
	} else if (rc != 0) {
		usk_jsonrpc_send_error_response_fmt(request, rc,
						    "name: %s is being detached already", name);
	}
	free(name);
}
USK_RPC_REGISTER("bdev_nvme_detach_controller", rpc_bdev_nvme_detach_controller, USK_RPC_RUNTIME)

struct rpc_get {
	char *name;
};

static void
rpc_bdev_nvme_get_controllers(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_get p = {0};
	const struct usk_json_object_decoder d[] = {
		{"name", offsetof(struct rpc_get, name), usk_json_decode_string, true},
	};
	json_t *arr;

	if (params != NULL && !usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	arr = json_array();
	if (bdev_nvme_get_controllers(p.name, arr) != 0) {
		json_decref(arr);
		usk_jsonrpc_send_error_response_fmt(request, -ENODEV,
						    "name: no NVMe controller named %s", p.name);
		goto out;
	}
	usk_jsonrpc_send_result(request, arr);
out:
	free(p.name);
}
USK_RPC_REGISTER("bdev_nvme_get_controllers", rpc_bdev_nvme_get_controllers, USK_RPC_RUNTIME)

struct rpc_set_opts {
	char *action_on_timeout;
	struct bdev_nvme_opts o;
	uint32_t keep_alive_timeout_ms;
	int32_t transport_retry_count;
};

static void
rpc_bdev_nvme_set_options(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct rpc_set_opts p = {0};
	const struct usk_json_object_decoder d[] = {
		{"action_on_timeout", offsetof(struct rpc_set_opts, action_on_timeout),
		 usk_json_decode_string, true},
		{"timeout_us", offsetof(struct rpc_set_opts, o.timeout_us), usk_json_decode_uint64,
		 true},
		{"timeout_admin_us", offsetof(struct rpc_set_opts, o.timeout_admin_us),
		 usk_json_decode_uint64, true},
		{"keep_alive_timeout_ms", offsetof(struct rpc_set_opts, o.keep_alive_timeout_ms),
		 usk_json_decode_uint32, true},
		{"transport_retry_count", offsetof(struct rpc_set_opts, transport_retry_count),
		 usk_json_decode_int32, true},
		{"nvme_adminq_poll_period_us",
		 offsetof(struct rpc_set_opts, o.nvme_adminq_poll_period_us),
		 usk_json_decode_uint64, true},
		{"nvme_ioq_poll_period_us",
		 offsetof(struct rpc_set_opts, o.nvme_ioq_poll_period_us), usk_json_decode_uint64,
		 true},
		{"bdev_retry_count", offsetof(struct rpc_set_opts, o.bdev_retry_count),
		 usk_json_decode_int32, true},
		{"ctrlr_loss_timeout_sec", offsetof(struct rpc_set_opts, o.ctrlr_loss_timeout_sec),
		 usk_json_decode_int32, true},
		{"reconnect_delay_sec", offsetof(struct rpc_set_opts, o.reconnect_delay_sec),
		 usk_json_decode_uint32, true},
		{"fast_io_fail_timeout_sec",
		 offsetof(struct rpc_set_opts, o.fast_io_fail_timeout_sec), usk_json_decode_uint32,
		 true},
	};
	char err[160];

	bdev_nvme_get_opts(&p.o);
	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		goto out;
	}
	if (p.action_on_timeout != NULL) {
		if (strlen(p.action_on_timeout) >= sizeof(p.o.action_on_timeout)) {
			usk_jsonrpc_send_error_response(
				request, USK_JSONRPC_ERROR_INVALID_PARAMS,
				"Invalid parameters: action_on_timeout: must be none, reset or abort");
			goto out;
		}
		snprintf(p.o.action_on_timeout, sizeof(p.o.action_on_timeout), "%s",
			 p.action_on_timeout);
	}
	if (p.o.nvme_adminq_poll_period_us == 0) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"Invalid parameters: nvme_adminq_poll_period_us: must be > 0");
		goto out;
	}
	if (bdev_nvme_set_opts(&p.o, err, sizeof(err)) != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameters: %s", err);
		goto out;
	}
	usk_jsonrpc_send_bool_response(request, true);
out:
	free(p.action_on_timeout);
}
USK_RPC_REGISTER("bdev_nvme_set_options", rpc_bdev_nvme_set_options,
		 USK_RPC_STARTUP | USK_RPC_RUNTIME)
