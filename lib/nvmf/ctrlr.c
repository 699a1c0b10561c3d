/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe-oF controllers: Connect, Property Get/Set, enable/shutdown, keep alive, asynchronous events.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvmf_internal.h"

bool
nvmf_ctrlr_is_discovery(const struct usk_nvmf_ctrlr *ctrlr)
{
	return nvmf_subsystem_is_discovery(ctrlr->subsys);
}

const char *
usk_nvmf_qpair_get_hostnqn(const struct usk_nvmf_qpair *qpair)
{
	return qpair->ctrlr != NULL ? qpair->ctrlr->hostnqn : NULL;
}

/* ---- Connect ---- */

static void
connect_set_invalid_param(union usk_nvmf_c2h_msg *rsp, uint8_t iattr, uint16_t ipo)
{
	rsp->connect_rsp.status_code_specific.invalid.iattr = iattr;
	rsp->connect_rsp.status_code_specific.invalid.ipo = ipo;
	rsp->nvme_cpl.status.sct = USK_NVME_SCT_COMMAND_SPECIFIC;
	rsp->nvme_cpl.status.sc = USK_NVMF_FABRIC_SC_INVALID_PARAM;
	rsp->nvme_cpl.status.dnr = 1;
}

static void
connect_complete_msg(void *arg)
{
	struct nvmf_connect_ctx *ctx = arg;
	struct usk_nvmf_qpair *qpair = ctx->qpair;

	if (ctx->req->rsp->nvme_cpl.status.sc != USK_NVME_SC_SUCCESS ||
	    ctx->req->rsp->nvme_cpl.status.sct != USK_NVME_SCT_GENERIC) {
		if (qpair->state == USK_NVMF_QPAIR_CONNECTING) {
			qpair->state = USK_NVMF_QPAIR_UNINITIALIZED;
		}
		qpair->connect_received = false;
	}
	usk_nvmf_request_complete(ctx->req);
	free(ctx);
}

static void
connect_reply(struct nvmf_connect_ctx *ctx)
{
	if (usk_thread_send_msg(ctx->qpair_thread, connect_complete_msg, ctx) != 0) {
		USK_ERRLOG("cannot send the connect reply\n");
	}
}

void
nvmf_connect_ctx_fail(struct nvmf_connect_ctx *ctx, uint8_t sct, uint8_t sc)
{
	nvmf_req_set_status(ctx->req, sct, sc);
	if (sct == USK_NVME_SCT_COMMAND_SPECIFIC && sc == USK_NVMF_FABRIC_SC_INVALID_PARAM) {
		/* the subsystem went away: point at SUBNQN */
		connect_set_invalid_param(ctx->req->rsp, 1,
					  offsetof(struct usk_nvmf_fabric_connect_data, subnqn));
	}
	connect_reply(ctx);
}

static void
connect_fail_param(struct nvmf_connect_ctx *ctx, uint8_t iattr, uint16_t ipo)
{
	connect_set_invalid_param(ctx->req->rsp, iattr, ipo);
	connect_reply(ctx);
}

static void
connect_done_msg(void *arg)
{
	struct nvmf_connect_ctx *ctx = arg;
	struct usk_nvmf_qpair *qpair = ctx->qpair;
	struct usk_nvmf_ctrlr *ctrlr = ctx->ctrlr;

	qpair->ctrlr = ctrlr;
	qpair->core_priv[0] = (uintptr_t)&qpair->group->sgroups[ctrlr->subsys->id];
	qpair->qid = ctx->qid;
	qpair->sq_head_max = ctx->sqsize;
	if (qpair->state == USK_NVMF_QPAIR_CONNECTING) {
		qpair->state = USK_NVMF_QPAIR_ENABLED;
	}
	nvmf_qpair_set_ctrlr_done(qpair);
	if (ctx->qid == 0 && qpair->state == USK_NVMF_QPAIR_ENABLED) {
		nvmf_ctrlr_keep_alive_touch(ctrlr);
		if (ctrlr->feat.keep_alive_timer) {
			ctrlr->keep_alive_poller =
				usk_poller_register(nvmf_ctrlr_keep_alive_poll, ctrlr,
						    (uint64_t)ctrlr->feat.keep_alive_timer * 1000);
		}
	}
	ctx->req->rsp->connect_rsp.status_code_specific.success.cntlid = ctrlr->cntlid;
	usk_nvmf_request_complete(ctx->req);
	free(ctx);
}

static void
ctrlr_init_props(struct usk_nvmf_ctrlr *ctrlr, const struct usk_nvmf_transport_opts *opts)
{
	ctrlr->cap.raw = 0;
	ctrlr->cap.bits.mqes = (uint16_t)(opts->max_queue_depth - 1);
	ctrlr->cap.bits.cqr = 1;
	ctrlr->cap.bits.to = NVMF_CC_TIMEOUT_UNITS;
	ctrlr->cap.bits.css = USK_NVME_CAP_CSS_NVM;
	ctrlr->cap.bits.mpsmin = 0; /* 4 KiB */
	ctrlr->cap.bits.mpsmax = 0;
	ctrlr->vs.raw = USK_NVME_VERSION(1, 3, 0);
	ctrlr->cc.raw = 0;
	ctrlr->csts.raw = 0;
	ctrlr->feat.number_of_queues = ((uint32_t)(ctrlr->max_qpairs - 2) << 16) |
				       (uint32_t)(ctrlr->max_qpairs - 2);
	ctrlr->feat.volatile_write_cache = 1;
	ctrlr->feat.temperature_threshold = 0x0157; /* 343 K */
	ctrlr->feat.arbitration = 0;
	ctrlr->feat.power_management = 0;
}

static void
connect_admin(struct nvmf_connect_ctx *ctx, struct usk_nvmf_subsystem *subsystem)
{
	struct usk_nvmf_ctrlr *ctrlr;
	struct usk_nvmf_transport *transport = ctx->qpair->transport;
	uint16_t cntlid;

	if (ctx->data.cntlid != USK_NVMF_CNTLID_DYNAMIC) {
		USK_ERRLOG("connect: static controller model (cntlid 0x%x) is not supported\n",
			   ctx->data.cntlid);
		connect_fail_param(ctx, 1, offsetof(struct usk_nvmf_fabric_connect_data, cntlid));
		return;
	}
	cntlid = nvmf_subsystem_gen_cntlid(subsystem);
	if (cntlid == 0xffff) {
		nvmf_connect_ctx_fail(ctx, USK_NVME_SCT_COMMAND_SPECIFIC,
				      USK_NVMF_FABRIC_SC_CONTROLLER_BUSY);
		return;
	}
	ctrlr = calloc(1, sizeof(*ctrlr));
	if (ctrlr == NULL) {
		nvmf_connect_ctx_fail(ctx, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	ctrlr->cntlid = cntlid;
	ctrlr->dynamic = true;
	ctrlr->subsys = subsystem;
	ctrlr->thread = ctx->qpair_thread;
	ctrlr->admin_qpair = ctx->qpair;
	memcpy(ctrlr->hostnqn, ctx->data.hostnqn, sizeof(ctrlr->hostnqn));
	memcpy(ctrlr->hostid, ctx->data.hostid, sizeof(ctrlr->hostid));
	ctrlr->listen_trid = ctx->listen_trid;
	ctrlr->max_qpairs =
		nvmf_subsystem_is_discovery(subsystem) ? 1 : transport->opts.max_qpairs_per_ctrlr;
	ctrlr->qpair_mask = calloc(ctrlr->max_qpairs, 1);
	if (ctrlr->qpair_mask == NULL) {
		free(ctrlr);
		nvmf_connect_ctx_fail(ctx, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	ctrlr->qpair_mask[0] = 1;
	TAILQ_INIT(&ctrlr->io_qpairs);
	ctrlr_init_props(ctrlr, &transport->opts);
	if (ctrlr->max_qpairs < 2) {
		ctrlr->feat.number_of_queues = 0;
	}
	/* KATO in ms, rounded up to the KAS granularity; 0 disables the timer. */
	ctrlr->feat.keep_alive_timer = (ctx->kato + NVMF_KAS_GRANULARITY_MS - 1) /
				       NVMF_KAS_GRANULARITY_MS * NVMF_KAS_GRANULARITY_MS;
	if (nvmf_subsystem_is_discovery(subsystem)) {
		ctrlr->feat.async_event_configuration.bits.discovery_log_change_notice = 0;
	}
	TAILQ_INSERT_TAIL(&subsystem->ctrlrs, ctrlr, link);
	ctx->ctrlr = ctrlr;
	{
		char host[USK_STR_ESCAPE_SIZE(USK_NVME_NQN_FIELD_SIZE)];

		USK_DEBUGLOG(nvmf, "controller %u of %s for %s\n", cntlid, subsystem->subnqn,
			     usk_str_escape(host, sizeof(host), ctrlr->hostnqn,
					    sizeof(ctrlr->hostnqn)));
	}
	if (usk_thread_send_msg(ctx->qpair_thread, connect_done_msg, ctx) != 0) {
		USK_ERRLOG("cannot send the connect reply\n");
	}
}

static void
connect_io(struct nvmf_connect_ctx *ctx, struct usk_nvmf_subsystem *subsystem)
{
	struct usk_nvmf_ctrlr *ctrlr = nvmf_subsystem_get_ctrlr(subsystem, ctx->data.cntlid);

	if (ctrlr == NULL || ctrlr->in_destruct) {
		USK_ERRLOG("connect: unknown controller %u\n", ctx->data.cntlid);
		connect_fail_param(ctx, 1, offsetof(struct usk_nvmf_fabric_connect_data, cntlid));
		return;
	}
	if (strncmp(ctrlr->hostnqn, (const char *)ctx->data.hostnqn, sizeof(ctrlr->hostnqn)) != 0) {
		connect_fail_param(ctx, 1, offsetof(struct usk_nvmf_fabric_connect_data, hostnqn));
		return;
	}
	if (memcmp(ctrlr->hostid, ctx->data.hostid, sizeof(ctrlr->hostid)) != 0) {
		connect_fail_param(ctx, 1, offsetof(struct usk_nvmf_fabric_connect_data, hostid));
		return;
	}
	if (nvmf_ctrlr_is_discovery(ctrlr) || ctx->qid >= ctrlr->max_qpairs) {
		connect_fail_param(ctx, 0, offsetof(struct usk_nvmf_fabric_connect_cmd, qid));
		return;
	}
	if (!ctrlr->cc.bits.en || !ctrlr->csts.bits.rdy) {
		USK_ERRLOG("connect: I/O queue %u before the controller was enabled\n", ctx->qid);
		nvmf_connect_ctx_fail(ctx, USK_NVME_SCT_GENERIC,
				      USK_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return;
	}
	if (ctrlr->qpair_mask[ctx->qid]) {
		USK_ERRLOG("connect: duplicate queue id %u\n", ctx->qid);
		nvmf_connect_ctx_fail(ctx, USK_NVME_SCT_COMMAND_SPECIFIC,
				      USK_NVME_SC_INVALID_QUEUE_IDENTIFIER);
		return;
	}
	ctrlr->qpair_mask[ctx->qid] = 1;
	ctrlr->num_io_qpairs++;
	TAILQ_INSERT_TAIL(&ctrlr->io_qpairs, ctx->qpair, ctrlr_link);
	ctx->ctrlr = ctrlr;
	if (usk_thread_send_msg(ctx->qpair_thread, connect_done_msg, ctx) != 0) {
		USK_ERRLOG("cannot send the connect reply\n");
	}
}

/* Target thread, subsystem active. */
void
nvmf_connect_ctx_run(struct nvmf_connect_ctx *ctx)
{
	struct usk_nvmf_subsystem *subsystem = ctx->subsystem;

	if (!usk_nvmf_subsystem_listener_allowed(subsystem, &ctx->listen_trid)) {
		USK_ERRLOG("connect: %s is not reachable on %s:%s\n", subsystem->subnqn,
			   ctx->listen_trid.traddr, ctx->listen_trid.trsvcid);
		connect_fail_param(ctx, 1, offsetof(struct usk_nvmf_fabric_connect_data, subnqn));
		return;
	}
	if (!usk_nvmf_subsystem_host_allowed(subsystem, (const char *)ctx->data.hostnqn)) {
		char host[USK_STR_ESCAPE_SIZE(USK_NVME_NQN_FIELD_SIZE)];

		/* the NQN is the host's bytes: escaped, it cannot forge log lines */
		USK_NOTICELOG("connect: host %s may not access %s\n",
			      usk_str_escape(host, sizeof(host), ctx->data.hostnqn,
					     sizeof(ctx->data.hostnqn)),
			      subsystem->subnqn);
		connect_set_invalid_param(ctx->req->rsp, 1,
					  offsetof(struct usk_nvmf_fabric_connect_data, hostnqn));
		ctx->req->rsp->nvme_cpl.status.sc = USK_NVMF_FABRIC_SC_INVALID_HOST;
		connect_reply(ctx);
		return;
	}
	if (ctx->qid == 0) {
		connect_admin(ctx, subsystem);
	} else {
		connect_io(ctx, subsystem);
	}
}

static void
connect_on_tgt(void *arg)
{
	struct nvmf_connect_ctx *ctx = arg;
	struct usk_nvmf_tgt *tgt = ctx->qpair->transport->tgt;
	struct usk_nvmf_subsystem *subsystem;

	subsystem = usk_nvmf_tgt_find_subsystem(tgt, (const char *)ctx->data.subnqn);
	if (subsystem == NULL) {
		char nqn[USK_STR_ESCAPE_SIZE(USK_NVME_NQN_FIELD_SIZE)];

		USK_ERRLOG("connect: unknown subsystem %s\n",
			   usk_str_escape(nqn, sizeof(nqn), ctx->data.subnqn,
					  sizeof(ctx->data.subnqn)));
		connect_fail_param(ctx, 1, offsetof(struct usk_nvmf_fabric_connect_data, subnqn));
		return;
	}
	ctx->subsystem = subsystem;
	switch (subsystem->state) {
	case USK_NVMF_SUBSYSTEM_ACTIVE:
		nvmf_connect_ctx_run(ctx);
		return;
	case USK_NVMF_SUBSYSTEM_ACTIVATING:
	case USK_NVMF_SUBSYSTEM_PAUSING:
	case USK_NVMF_SUBSYSTEM_PAUSED:
	case USK_NVMF_SUBSYSTEM_RESUMING:
		TAILQ_INSERT_TAIL(&subsystem->pending_connects, ctx, link);
		return;
	default:
		USK_ERRLOG("connect: subsystem %s is not active\n", subsystem->subnqn);
		connect_fail_param(ctx, 1, offsetof(struct usk_nvmf_fabric_connect_data, subnqn));
		return;
	}
}

static int
ctrlr_cmd_connect(struct usk_nvmf_request *req)
{
	struct usk_nvmf_fabric_connect_cmd *cmd = &req->cmd->connect_cmd;
	struct usk_nvmf_qpair *qpair = req->qpair;
	const struct usk_nvmf_transport_opts *opts = &qpair->transport->opts;
	struct nvmf_connect_ctx *ctx;

	if (qpair->connect_received || qpair->ctrlr) {
		nvmf_req_set_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return NVMF_REQ_EXEC_COMPLETE;
	}
	if (req->length < sizeof(struct usk_nvmf_fabric_connect_data) || req->iovcnt == 0) {
		nvmf_req_set_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_DATA_SGL_LENGTH_INVALID);
		return NVMF_REQ_EXEC_COMPLETE;
	}
	if (cmd->recfmt != 0) {
		nvmf_req_set_status(req, USK_NVME_SCT_COMMAND_SPECIFIC,
				    USK_NVMF_FABRIC_SC_INCOMPATIBLE_FORMAT);
		return NVMF_REQ_EXEC_COMPLETE;
	}
	/* SQSIZE is 0's based: at least 2 entries, at most the transport's queue depth. */
	if (cmd->sqsize == 0 || (cmd->qid == 0 && (uint32_t)cmd->sqsize + 1 > opts->max_aq_depth) ||
	    (cmd->qid != 0 && (uint32_t)cmd->sqsize + 1 > opts->max_queue_depth)) {
		USK_ERRLOG("connect: qid %u sqsize %u out of range (admin max %u, I/O max %u)\n",
			   cmd->qid, cmd->sqsize, opts->max_aq_depth, opts->max_queue_depth);
		connect_set_invalid_param(req->rsp, 0,
					  offsetof(struct usk_nvmf_fabric_connect_cmd, sqsize));
		return NVMF_REQ_EXEC_COMPLETE;
	}
	if (qpair->transport->ops->qpair_set_sq_size != NULL) {
		int rc = qpair->transport->ops->qpair_set_sq_size(qpair, (uint32_t)cmd->sqsize + 1);

		if (rc == -ENOMEM) {
			nvmf_req_set_status(req, USK_NVME_SCT_GENERIC,
					    USK_NVME_SC_INTERNAL_DEVICE_ERROR);
			return NVMF_REQ_EXEC_COMPLETE;
		}
		if (rc != 0) {
			connect_set_invalid_param(
				req->rsp, 0, offsetof(struct usk_nvmf_fabric_connect_cmd, sqsize));
			return NVMF_REQ_EXEC_COMPLETE;
		}
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		nvmf_req_set_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
		return NVMF_REQ_EXEC_COMPLETE;
	}
	usk_iov_to_buf(req->iov, (int)req->iovcnt, &ctx->data, sizeof(ctx->data));
	if (strnlen((const char *)ctx->data.subnqn, sizeof(ctx->data.subnqn)) ==
	    sizeof(ctx->data.subnqn)) {
		free(ctx);
		connect_set_invalid_param(req->rsp, 1,
					  offsetof(struct usk_nvmf_fabric_connect_data, subnqn));
		return NVMF_REQ_EXEC_COMPLETE;
	}
	if (strnlen((const char *)ctx->data.hostnqn, sizeof(ctx->data.hostnqn)) ==
	    sizeof(ctx->data.hostnqn)) {
		free(ctx);
		connect_set_invalid_param(req->rsp, 1,
					  offsetof(struct usk_nvmf_fabric_connect_data, hostnqn));
		return NVMF_REQ_EXEC_COMPLETE;
	}
	ctx->req = req;
	ctx->qpair = qpair;
	ctx->qpair_thread = usk_get_thread();
	ctx->qid = cmd->qid;
	ctx->sqsize = cmd->sqsize;
	ctx->kato = cmd->kato;
	if (qpair->transport->ops->qpair_get_listen_trid(qpair, &ctx->listen_trid) != 0) {
		memset(&ctx->listen_trid, 0, sizeof(ctx->listen_trid));
	}
	qpair->connect_received = true;
	qpair->state = USK_NVMF_QPAIR_CONNECTING;
	if (usk_thread_send_msg(qpair->transport->tgt->thread, connect_on_tgt, ctx) != 0) {
		free(ctx);
		qpair->connect_received = false;
		qpair->state = USK_NVMF_QPAIR_UNINITIALIZED;
		nvmf_req_set_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
		return NVMF_REQ_EXEC_COMPLETE;
	}
	return NVMF_REQ_EXEC_ASYNC;
}

/* ---- properties ---- */

static void
ctrlr_disconnect_io_qpairs_msg(void *arg)
{
	usk_nvmf_qpair_disconnect(arg);
}

struct ctrlr_reset_ctx {
	struct usk_nvmf_ctrlr *ctrlr;
};

static void
ctrlr_reset_on_tgt(void *arg)
{
	struct usk_nvmf_ctrlr *ctrlr = arg;
	struct usk_nvmf_qpair *qpair;

	TAILQ_FOREACH(qpair, &ctrlr->io_qpairs, ctrlr_link) {
		usk_thread_send_msg(qpair->group->thread, ctrlr_disconnect_io_qpairs_msg, qpair);
	}
}

static void
ctrlr_set_cc(struct usk_nvmf_ctrlr *ctrlr, uint32_t value)
{
	union usk_nvme_cc_register cc = {.raw = value};
	bool discovery = nvmf_ctrlr_is_discovery(ctrlr);

	if (cc.bits.en && !ctrlr->cc.bits.en) {
		if (!discovery && (cc.bits.iosqes != 6 || cc.bits.iocqes != 4)) {
			USK_ERRLOG("CC.EN with IOSQES %u IOCQES %u (need 6 and 4)\n",
				   cc.bits.iosqes, cc.bits.iocqes);
			ctrlr->csts.bits.cfs = 1;
		} else if (cc.bits.mps != 0) {
			USK_ERRLOG("CC.EN with MPS %u (only 4 KiB pages)\n", cc.bits.mps);
			ctrlr->csts.bits.cfs = 1;
		} else {
			ctrlr->csts.bits.rdy = 1;
			ctrlr->csts.bits.shst = USK_NVME_SHST_NORMAL;
		}
	} else if (!cc.bits.en && ctrlr->cc.bits.en) {
		/* Controller reset: drop the I/O queues. */
		ctrlr->csts.bits.rdy = 0;
		ctrlr->csts.bits.cfs = 0;
		usk_thread_send_msg(ctrlr->subsys->tgt->thread, ctrlr_reset_on_tgt, ctrlr);
	}
	if (cc.bits.shn && !ctrlr->cc.bits.shn) {
		/* Nothing is cached in the controller: shutdown finishes at once. */
		ctrlr->csts.bits.shst = USK_NVME_SHST_COMPLETE;
		if (!cc.bits.en) {
			ctrlr->csts.bits.rdy = 0;
		}
		usk_thread_send_msg(ctrlr->subsys->tgt->thread, ctrlr_reset_on_tgt, ctrlr);
	} else if (!cc.bits.shn && ctrlr->cc.bits.shn) {
		ctrlr->csts.bits.shst = USK_NVME_SHST_NORMAL;
	}
	ctrlr->cc.raw = cc.raw;
}

static int
ctrlr_cmd_property_get(struct usk_nvmf_request *req)
{
	struct usk_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	struct usk_nvmf_fabric_prop_get_cmd *cmd = &req->cmd->prop_get_cmd;
	struct usk_nvmf_fabric_prop_get_rsp *rsp = &req->rsp->prop_get_rsp;
	uint8_t size = cmd->attrib.size;

	rsp->value.u64 = 0;
	switch (cmd->ofst) {
	case USK_NVME_REG_CAP:
		rsp->value.u64 = ctrlr->cap.raw;
		if (size != USK_NVMF_PROP_SIZE_8) {
			rsp->value.u64 &= 0xffffffffu;
		}
		return NVMF_REQ_EXEC_COMPLETE;
	case USK_NVME_REG_CAP + 4:
		rsp->value.u32.low = (uint32_t)(ctrlr->cap.raw >> 32);
		return NVMF_REQ_EXEC_COMPLETE;
	case USK_NVME_REG_VS:
		rsp->value.u32.low = ctrlr->vs.raw;
		return NVMF_REQ_EXEC_COMPLETE;
	case USK_NVME_REG_CC:
		rsp->value.u32.low = ctrlr->cc.raw;
		return NVMF_REQ_EXEC_COMPLETE;
	case USK_NVME_REG_CSTS:
		rsp->value.u32.low = ctrlr->csts.raw;
		return NVMF_REQ_EXEC_COMPLETE;
	default:
		USK_DEBUGLOG(nvmf, "property get of unknown offset 0x%x\n", cmd->ofst);
		nvmf_req_set_status(req, USK_NVME_SCT_COMMAND_SPECIFIC,
				    USK_NVMF_FABRIC_SC_INVALID_PARAM);
		return NVMF_REQ_EXEC_COMPLETE;
	}
}

static int
ctrlr_cmd_property_set(struct usk_nvmf_request *req)
{
	struct usk_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	struct usk_nvmf_fabric_prop_set_cmd *cmd = &req->cmd->prop_set_cmd;

	switch (cmd->ofst) {
	case USK_NVME_REG_CC:
		if (cmd->attrib.size != USK_NVMF_PROP_SIZE_4) {
			break;
		}
		ctrlr_set_cc(ctrlr, cmd->value.u32.low);
		return NVMF_REQ_EXEC_COMPLETE;
	default:
		break;
	}
	USK_DEBUGLOG(nvmf, "property set of offset 0x%x size %u refused\n", cmd->ofst,
		     cmd->attrib.size);
	nvmf_req_set_status(req, USK_NVME_SCT_COMMAND_SPECIFIC, USK_NVMF_FABRIC_SC_INVALID_PARAM);
	return NVMF_REQ_EXEC_COMPLETE;
}

int
nvmf_ctrlr_process_fabrics_cmd(struct usk_nvmf_request *req)
{
	struct usk_nvmf_qpair *qpair = req->qpair;
	uint8_t fctype = req->cmd->nvmf_cmd.fctype;

	if (fctype == USK_NVMF_FABRIC_COMMAND_CONNECT) {
		return ctrlr_cmd_connect(req);
	}
	if (qpair->ctrlr == NULL || qpair->state != USK_NVMF_QPAIR_ENABLED) {
		nvmf_req_set_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return NVMF_REQ_EXEC_COMPLETE;
	}
	if (!usk_nvmf_qpair_is_admin_queue(qpair)) {
		nvmf_req_set_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_OPCODE);
		return NVMF_REQ_EXEC_COMPLETE;
	}
	switch (fctype) {
	case USK_NVMF_FABRIC_COMMAND_PROPERTY_GET:
		return ctrlr_cmd_property_get(req);
	case USK_NVMF_FABRIC_COMMAND_PROPERTY_SET:
		return ctrlr_cmd_property_set(req);
	default:
		nvmf_req_set_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_OPCODE);
		return NVMF_REQ_EXEC_COMPLETE;
	}
}

/* ---- teardown ---- */

struct qpair_gone_ctx {
	struct usk_nvmf_qpair *qpair;
	struct usk_nvmf_ctrlr *ctrlr;
	struct usk_thread *qpair_thread;
	usk_msg_fn cb;
	void *cb_arg;
};

static void
ctrlr_free_msg(void *arg)
{
	struct usk_nvmf_ctrlr *ctrlr = arg;

	usk_poller_unregister(&ctrlr->keep_alive_poller);
	free(ctrlr->qpair_mask);
	free(ctrlr);
}

static void
qpair_gone_on_tgt(void *arg)
{
	struct qpair_gone_ctx *ctx = arg;
	struct usk_nvmf_ctrlr *ctrlr = ctx->ctrlr;
	struct usk_nvmf_subsystem *subsystem = ctrlr->subsys;
	struct usk_nvmf_qpair *qpair;

	if (ctx->qpair == ctrlr->admin_qpair) {
		ctrlr->admin_qpair = NULL;
		ctrlr->in_destruct = true;
		TAILQ_FOREACH(qpair, &ctrlr->io_qpairs, ctrlr_link) {
			usk_thread_send_msg(qpair->group->thread, ctrlr_disconnect_io_qpairs_msg,
					    qpair);
		}
	} else {
		TAILQ_FOREACH(qpair, &ctrlr->io_qpairs, ctrlr_link) {
			if (qpair == ctx->qpair) {
				TAILQ_REMOVE(&ctrlr->io_qpairs, qpair, ctrlr_link);
				ctrlr->qpair_mask[qpair->qid] = 0;
				ctrlr->num_io_qpairs--;
				break;
			}
		}
	}
	usk_thread_send_msg(ctx->qpair_thread, ctx->cb, ctx->cb_arg);
	free(ctx);
	if (ctrlr->in_destruct && ctrlr->admin_qpair == NULL && TAILQ_EMPTY(&ctrlr->io_qpairs)) {
		USK_DEBUGLOG(nvmf, "controller %u of %s destroyed\n", ctrlr->cntlid,
			     subsystem->subnqn);
		TAILQ_REMOVE(&subsystem->ctrlrs, ctrlr, link);
		/* Freed on its own thread, after any message already sent there about it. */
		usk_thread_send_msg(ctrlr->thread, ctrlr_free_msg, ctrlr);
		nvmf_subsystem_ctrlr_gone(subsystem);
	}
}

void
nvmf_ctrlr_qpair_gone(struct usk_nvmf_qpair *qpair, usk_msg_fn cb, void *cb_arg)
{
	struct qpair_gone_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		/* Cannot tell the target thread: leak the controller slot rather than crash. */
		USK_ERRLOG("out of memory while freeing a qpair\n");
		cb(cb_arg);
		return;
	}
	ctx->qpair = qpair;
	ctx->ctrlr = qpair->ctrlr;
	ctx->qpair_thread = usk_get_thread();
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	if (usk_thread_send_msg(qpair->ctrlr->subsys->tgt->thread, qpair_gone_on_tgt, ctx) != 0) {
		free(ctx);
		cb(cb_arg);
	}
}

/* ---- keep alive ---- */

void
nvmf_ctrlr_keep_alive_touch(struct usk_nvmf_ctrlr *ctrlr)
{
	ctrlr->keep_alive_seen = true;
}

/*
 * Runs every KATO. A period without any Keep Alive (or other admin command) expires the
 * controller, so expiry happens between KATO and 2 x KATO after the last one; hosts send
 * Keep Alive every KATO / 2 or more often.
 */
int
nvmf_ctrlr_keep_alive_poll(void *arg)
{
	struct usk_nvmf_ctrlr *ctrlr = arg;

	if (ctrlr->admin_qpair == NULL) {
		return USK_POLLER_IDLE;
	}
	if (ctrlr->keep_alive_seen) {
		ctrlr->keep_alive_seen = false;
		return USK_POLLER_IDLE;
	}
	USK_NOTICELOG("keep alive timeout (%u ms) of controller %u of %s: disconnecting\n",
		      ctrlr->feat.keep_alive_timer, ctrlr->cntlid, ctrlr->subsys->subnqn);
	usk_poller_unregister(&ctrlr->keep_alive_poller);
	usk_nvmf_qpair_disconnect(ctrlr->admin_qpair);
	return USK_POLLER_BUSY;
}

/* ---- asynchronous events ---- */

void
nvmf_ctrlr_free_aers(struct usk_nvmf_ctrlr *ctrlr)
{
	struct usk_nvmf_request *req;
	uint8_t i;

	for (i = 0; i < ctrlr->nr_aer_reqs; i++) {
		req = ctrlr->aer_req[i];
		ctrlr->aer_req[i] = NULL;
		if (req->core_flags & NVMF_REQ_OUTSTANDING) {
			TAILQ_REMOVE(&req->qpair->outstanding, req, link);
		}
		req->core_flags = 0;
		req->qpair->transport->ops->req_free(req);
	}
	ctrlr->nr_aer_reqs = 0;
}

void
nvmf_ctrlr_queue_event(struct usk_nvmf_ctrlr *ctrlr, union usk_nvme_async_event_completion ev)
{
	struct usk_nvmf_request *req;

	if (ctrlr->admin_qpair == NULL || ctrlr->disconnecting) {
		return;
	}
	if (ctrlr->nr_aer_reqs > 0) {
		req = ctrlr->aer_req[0];
		memmove(&ctrlr->aer_req[0], &ctrlr->aer_req[1],
			(size_t)(ctrlr->nr_aer_reqs - 1) * sizeof(ctrlr->aer_req[0]));
		ctrlr->aer_req[--ctrlr->nr_aer_reqs] = NULL;
		req->rsp->nvme_cpl.cdw0 = ev.raw;
		usk_nvmf_request_complete(req);
		return;
	}
	if (ctrlr->nr_pending_events < NVMF_MAX_PENDING_EVENTS) {
		ctrlr->pending_events[ctrlr->nr_pending_events++] = ev;
	}
}

int
nvmf_ctrlr_async_event_request(struct usk_nvmf_request *req)
{
	struct usk_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	struct nvmf_sgroup *sgroup;

	if (ctrlr->nr_pending_events > 0) {
		req->rsp->nvme_cpl.cdw0 = ctrlr->pending_events[0].raw;
		memmove(&ctrlr->pending_events[0], &ctrlr->pending_events[1],
			(size_t)(ctrlr->nr_pending_events - 1) * sizeof(ctrlr->pending_events[0]));
		ctrlr->nr_pending_events--;
		return NVMF_REQ_EXEC_COMPLETE;
	}
	if (ctrlr->nr_aer_reqs >= NVMF_MAX_ASYNC_EVENTS) {
		nvmf_req_set_status(req, USK_NVME_SCT_COMMAND_SPECIFIC,
				    USK_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED);
		return NVMF_REQ_EXEC_COMPLETE;
	}
	ctrlr->aer_req[ctrlr->nr_aer_reqs++] = req;
	/* A parked AER must not hold up a subsystem pause. */
	if (req->core_flags & NVMF_REQ_COUNTED) {
		req->core_flags &= ~NVMF_REQ_COUNTED;
		sgroup = nvmf_qpair_sgroup(req->qpair);
		nvmf_sgroup_request_done(sgroup);
	}
	return NVMF_REQ_EXEC_ASYNC;
}

void
nvmf_ctrlr_clear_notice(struct usk_nvmf_ctrlr *ctrlr, uint8_t info)
{
	if (info < 32) {
		ctrlr->notice_mask &= ~(1u << info);
	} else if (info == USK_NVME_ASYNC_EVENT_DISCOVERY_LOG_CHANGE) {
		ctrlr->notice_mask &= ~(1u << 31);
	}
}

static void
raise_notice(struct usk_nvmf_ctrlr *ctrlr, uint8_t info, uint8_t lid, uint32_t bit)
{
	union usk_nvme_async_event_completion ev = {.raw = 0};

	if (ctrlr->notice_mask & bit) {
		return; /* already reported, the host has not read the log yet */
	}
	ctrlr->notice_mask |= bit;
	ev.bits.async_event_type = USK_NVME_ASYNC_EVENT_TYPE_NOTICE;
	ev.bits.async_event_info = info;
	ev.bits.log_page_identifier = lid;
	nvmf_ctrlr_queue_event(ctrlr, ev);
}

void
nvmf_ctrlr_ns_changed(struct usk_nvmf_ctrlr *ctrlr, uint32_t nsid)
{
	uint32_t i;

	for (i = 0; i < ctrlr->num_changed_ns; i++) {
		if (ctrlr->changed_ns[i] == nsid) {
			break;
		}
	}
	if (i == ctrlr->num_changed_ns) {
		if (ctrlr->num_changed_ns < NVMF_MAX_CHANGED_NS) {
			ctrlr->changed_ns[ctrlr->num_changed_ns++] = nsid;
		} else {
			ctrlr->changed_ns_overflow = true;
		}
	}
	if (ctrlr->feat.async_event_configuration.bits.ns_attr_notice) {
		raise_notice(ctrlr, USK_NVME_ASYNC_EVENT_NS_ATTR_CHANGED,
			     USK_NVME_LOG_CHANGED_NS_LIST,
			     1u << USK_NVME_ASYNC_EVENT_NS_ATTR_CHANGED);
	}
}

void
nvmf_ctrlr_async_event_discovery_change(struct usk_nvmf_ctrlr *ctrlr)
{
	if (ctrlr->feat.async_event_configuration.bits.discovery_log_change_notice) {
		raise_notice(ctrlr, USK_NVME_ASYNC_EVENT_DISCOVERY_LOG_CHANGE,
			     USK_NVME_LOG_DISCOVERY, 1u << 31);
	}
}
