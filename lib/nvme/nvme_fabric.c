/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe over Fabrics commands for every fabrics transport: Property Get/Set and Connect. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_internal.h"

struct prop_ctx {
	nvme_reg_cb cb;
	void *cb_arg;
	uint64_t value; /* set: the value written */
	bool is_get;
};

static void
prop_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct prop_ctx *ctx = arg;
	uint64_t value = ctx->value;

	if (ctx->is_get) {
		value = (uint64_t)cpl->cdw0 | ((uint64_t)cpl->cdw1 << 32);
	}
	ctx->cb(ctx->cb_arg, value, cpl);
	free(ctx);
}

static int
prop_cmd(struct usk_nvme_ctrlr *ctrlr, bool is_get, uint32_t offset, uint8_t size, uint64_t value,
	 nvme_reg_cb cb, void *cb_arg)
{
	struct prop_ctx *ctx = calloc(1, sizeof(*ctx));
	struct nvme_request *req;
	int rc;

	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	ctx->value = value;
	ctx->is_get = is_get;
	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	req = nvme_allocate_request_null(ctrlr->adminq, prop_done, ctx);
	if (req == NULL) {
		pthread_mutex_unlock(&ctrlr->ctrlr_lock);
		free(ctx);
		return -ENOMEM;
	}
	if (is_get) {
		struct usk_nvmf_fabric_prop_get_cmd *cmd = (void *)&req->cmd;

		cmd->opcode = USK_NVME_OPC_FABRIC;
		cmd->fctype = USK_NVMF_FABRIC_COMMAND_PROPERTY_GET;
		cmd->attrib.size = size;
		cmd->ofst = offset;
	} else {
		struct usk_nvmf_fabric_prop_set_cmd *cmd = (void *)&req->cmd;

		cmd->opcode = USK_NVME_OPC_FABRIC;
		cmd->fctype = USK_NVMF_FABRIC_COMMAND_PROPERTY_SET;
		cmd->attrib.size = size;
		cmd->ofst = offset;
		cmd->value.u64 = value;
	}
	rc = nvme_qpair_submit_request(ctrlr->adminq, req);
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
	if (rc != 0) {
		free(ctx);
	}
	return rc;
}

int
nvme_fabric_ctrlr_set_reg_4_async(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t value,
				  nvme_reg_cb cb, void *cb_arg)
{
	return prop_cmd(ctrlr, false, offset, USK_NVMF_PROP_SIZE_4, value, cb, cb_arg);
}

int
nvme_fabric_ctrlr_set_reg_8_async(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t value,
				  nvme_reg_cb cb, void *cb_arg)
{
	return prop_cmd(ctrlr, false, offset, USK_NVMF_PROP_SIZE_8, value, cb, cb_arg);
}

int
nvme_fabric_ctrlr_get_reg_4_async(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, nvme_reg_cb cb,
				  void *cb_arg)
{
	return prop_cmd(ctrlr, true, offset, USK_NVMF_PROP_SIZE_4, 0, cb, cb_arg);
}

int
nvme_fabric_ctrlr_get_reg_8_async(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, nvme_reg_cb cb,
				  void *cb_arg)
{
	return prop_cmd(ctrlr, true, offset, USK_NVMF_PROP_SIZE_8, 0, cb, cb_arg);
}

/* ---- Connect ---- */

enum connect_status {
	CONNECT_PENDING = 0,
	CONNECT_DONE,
	CONNECT_FAILED,
};

struct connect_ctx {
	enum connect_status status;
	struct usk_nvme_cpl cpl;
	struct usk_nvmf_fabric_connect_data data;
};

static void
connect_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct connect_ctx *ctx = arg;

	ctx->cpl = *cpl;
	ctx->status = usk_nvme_cpl_is_error(cpl) ? CONNECT_FAILED : CONNECT_DONE;
}

int
nvme_fabric_qpair_connect_async(struct usk_nvme_qpair *qpair, uint32_t num_entries)
{
	struct usk_nvme_ctrlr *ctrlr = qpair->ctrlr;
	struct usk_nvmf_fabric_connect_cmd *cmd;
	struct connect_ctx *ctx;
	struct nvme_request *req;
	int rc;

	if (qpair->fabric_connect_ctx != NULL) {
		return -EALREADY;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	memcpy(ctx->data.hostid, ctrlr->opts.extended_host_id, sizeof(ctx->data.hostid));
	ctx->data.cntlid = qpair->is_admin ? USK_NVMF_CNTLID_DYNAMIC : ctrlr->cntlid;
	snprintf((char *)ctx->data.subnqn, sizeof(ctx->data.subnqn), "%s", ctrlr->trid.subnqn);
	snprintf((char *)ctx->data.hostnqn, sizeof(ctx->data.hostnqn), "%s", ctrlr->opts.hostnqn);

	req = nvme_allocate_request_contig(qpair, &ctx->data, sizeof(ctx->data), connect_done, ctx);
	if (req == NULL) {
		free(ctx);
		return -ENOMEM;
	}
	cmd = (void *)&req->cmd;
	cmd->opcode = USK_NVME_OPC_FABRIC;
	cmd->fctype = USK_NVMF_FABRIC_COMMAND_CONNECT;
	cmd->recfmt = 0;
	cmd->qid = qpair->id;
	cmd->sqsize = (uint16_t)(num_entries - 1);
	cmd->kato = qpair->is_admin ? ctrlr->opts.keep_alive_timeout_ms : 0;
	qpair->fabric_connect_ctx = ctx;
	rc = nvme_qpair_submit_request_raw(qpair, req);
	if (rc != 0) {
		nvme_free_request(req);
		qpair->fabric_connect_ctx = NULL;
		free(ctx);
	}
	return rc;
}

int
nvme_fabric_qpair_connect_poll(struct usk_nvme_qpair *qpair)
{
	struct connect_ctx *ctx = qpair->fabric_connect_ctx;
	struct usk_nvme_ctrlr *ctrlr = qpair->ctrlr;
	int rc = 0;

	if (ctx == NULL) {
		return -EINVAL;
	}
	switch (ctx->status) {
	case CONNECT_PENDING:
		return -EAGAIN;
	case CONNECT_FAILED: {
		const struct usk_nvmf_fabric_connect_rsp *rsp = (const void *)&ctx->cpl;

		bool ipo = ctx->cpl.status.sct == USK_NVME_SCT_COMMAND_SPECIFIC &&
			   ctx->cpl.status.sc == USK_NVMF_FABRIC_SC_INVALID_PARAM;

		NVME_CTRLR_ERRLOG(
			ctrlr, "Fabrics Connect on qpair %u failed: %s (sct 0x%x sc 0x%x)%s%u%s\n",
			qpair->id, usk_nvme_cpl_get_status_string(&ctx->cpl.status),
			ctx->cpl.status.sct, ctx->cpl.status.sc,
			ipo ? ", invalid parameter at offset " : "",
			ipo ? rsp->status_code_specific.invalid.ipo : 0,
			ipo ? (rsp->status_code_specific.invalid.iattr ? " of the connect data" :
									 " of the command") :
			      "");
		rc = -ECONNREFUSED;
		break;
	}
	case CONNECT_DONE:
		if (qpair->is_admin) {
			ctrlr->cntlid = ((const struct usk_nvmf_fabric_connect_rsp *)&ctx->cpl)
						->status_code_specific.success.cntlid;
			NVME_CTRLR_DEBUGLOG(ctrlr, "admin queue connected, CNTLID 0x%04x\n",
					    ctrlr->cntlid);
		}
		break;
	}
	qpair->fabric_connect_ctx = NULL;
	free(ctx);
	return rc;
}

/* A Connect still pending when the qpair dies: its request was aborted, free the context. */
void
nvme_fabric_qpair_connect_abandon(struct usk_nvme_qpair *qpair)
{
	struct connect_ctx *ctx = qpair->fabric_connect_ctx;

	if (ctx != NULL && ctx->status != CONNECT_PENDING) {
		qpair->fabric_connect_ctx = NULL;
		free(ctx);
	}
}
