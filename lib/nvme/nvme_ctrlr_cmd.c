/* SPDX-License-Identifier: BSD-3-Clause */
/* Admin commands and I/O qpair lifecycle (alloc, connect, reconnect, disconnect, free). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_internal.h"

int
usk_nvme_ctrlr_cmd_admin_raw(struct usk_nvme_ctrlr *ctrlr, const struct usk_nvme_cmd *cmd,
			     void *buf, uint32_t len, usk_nvme_cmd_cb cb, void *cb_arg)
{
	enum usk_nvme_data_transfer xfer = usk_nvme_opc_get_data_transfer(cmd->opc);
	struct nvme_request *req;
	int rc;

	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	req = nvme_allocate_request_user_copy(ctrlr->adminq, buf, len, cb, cb_arg,
					      xfer == USK_NVME_DATA_HOST_TO_CONTROLLER ||
						      xfer == USK_NVME_DATA_BIDIRECTIONAL);
	if (req == NULL) {
		pthread_mutex_unlock(&ctrlr->ctrlr_lock);
		return -ENOMEM;
	}
	req->cmd = *cmd;
	req->cmd.cid = 0;
	rc = nvme_qpair_submit_request(ctrlr->adminq, req);
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
	return rc;
}

int
usk_nvme_ctrlr_cmd_identify(struct usk_nvme_ctrlr *ctrlr, uint8_t cns, uint16_t cntid,
			    uint32_t nsid, uint8_t csi, void *payload, size_t payload_size,
			    usk_nvme_cmd_cb cb, void *cb_arg)
{
	struct usk_nvme_cmd cmd = {0};

	cmd.opc = USK_NVME_OPC_IDENTIFY;
	cmd.nsid = nsid;
	cmd.cdw10 = cns | ((uint32_t)cntid << 16);
	cmd.cdw11 = (uint32_t)csi << 24;
	return usk_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, payload, (uint32_t)payload_size, cb,
					    cb_arg);
}

int
usk_nvme_ctrlr_cmd_get_log_page(struct usk_nvme_ctrlr *ctrlr, uint8_t log_page, uint32_t nsid,
				void *payload, uint32_t payload_size, uint64_t offset,
				usk_nvme_cmd_cb cb, void *cb_arg)
{
	struct usk_nvme_cmd cmd = {0};
	uint32_t numd;

	if (payload_size == 0 || (payload_size & 3) || (offset & 3)) {
		return -EINVAL;
	}
	numd = payload_size / 4 - 1;
	cmd.opc = USK_NVME_OPC_GET_LOG_PAGE;
	cmd.nsid = nsid;
	cmd.cdw10 = log_page | ((numd & 0xffff) << 16);
	cmd.cdw11 = numd >> 16;
	cmd.cdw12 = (uint32_t)offset;
	cmd.cdw13 = (uint32_t)(offset >> 32);
	return usk_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, payload, payload_size, cb, cb_arg);
}

int
usk_nvme_ctrlr_cmd_set_feature(struct usk_nvme_ctrlr *ctrlr, uint8_t feature, uint32_t cdw11,
			       uint32_t cdw12, void *payload, uint32_t payload_size,
			       usk_nvme_cmd_cb cb, void *cb_arg)
{
	struct usk_nvme_cmd cmd = {0};

	cmd.opc = USK_NVME_OPC_SET_FEATURES;
	cmd.cdw10 = feature;
	cmd.cdw11 = cdw11;
	cmd.cdw12 = cdw12;
	return usk_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, payload, payload_size, cb, cb_arg);
}

int
usk_nvme_ctrlr_cmd_get_feature(struct usk_nvme_ctrlr *ctrlr, uint8_t feature, uint32_t cdw11,
			       void *payload, uint32_t payload_size, usk_nvme_cmd_cb cb,
			       void *cb_arg)
{
	struct usk_nvme_cmd cmd = {0};

	cmd.opc = USK_NVME_OPC_GET_FEATURES;
	cmd.cdw10 = feature;
	cmd.cdw11 = cdw11;
	return usk_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, payload, payload_size, cb, cb_arg);
}

int
usk_nvme_ctrlr_cmd_abort(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair, uint16_t cid,
			 usk_nvme_cmd_cb cb, void *cb_arg)
{
	struct usk_nvme_cmd cmd = {0};

	cmd.opc = USK_NVME_OPC_ABORT;
	cmd.cdw10 = (qpair ? qpair->id : 0) | ((uint32_t)cid << 16);
	return usk_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, NULL, 0, cb, cb_arg);
}

/* ---- I/O qpairs ---- */

void
usk_nvme_ctrlr_get_default_io_qpair_opts(struct usk_nvme_ctrlr *ctrlr,
					 struct usk_nvme_io_qpair_opts *opts, size_t opts_size)
{
	struct usk_nvme_io_qpair_opts d = {0};

	d.opts_size = opts_size;
	d.io_queue_size = ctrlr->opts.io_queue_size;
	d.io_queue_requests = ctrlr->opts.io_queue_requests;
	memcpy(opts, &d, USK_MIN(opts_size, sizeof(d)));
}

static int
alloc_qid(struct usk_nvme_ctrlr *ctrlr)
{
	for (uint32_t w = 0; w < ctrlr->free_io_qids_words; w++) {
		if (ctrlr->free_io_qids[w] != 0) {
			int bit = __builtin_ctzll(ctrlr->free_io_qids[w]);

			ctrlr->free_io_qids[w] &= ~(1ull << bit);
			return (int)(w * 64 + (uint32_t)bit);
		}
	}
	return -EBUSY;
}

static void
free_qid(struct usk_nvme_ctrlr *ctrlr, uint16_t qid)
{
	if (qid != 0 && qid / 64 < ctrlr->free_io_qids_words && qid <= ctrlr->num_io_queues) {
		ctrlr->free_io_qids[qid / 64] |= 1ull << (qid % 64);
	}
}

struct usk_nvme_qpair *
usk_nvme_ctrlr_alloc_io_qpair(struct usk_nvme_ctrlr *ctrlr,
			      const struct usk_nvme_io_qpair_opts *user_opts, size_t opts_size)
{
	struct usk_nvme_io_qpair_opts opts;
	struct usk_nvme_qpair *qpair;
	int qid;

	usk_nvme_ctrlr_get_default_io_qpair_opts(ctrlr, &opts, sizeof(opts));
	if (user_opts != NULL) {
		memcpy(&opts, user_opts, USK_MIN(opts_size, sizeof(opts)));
		opts.opts_size = sizeof(opts);
	}
	if (opts.io_queue_size < USK_NVME_IO_QUEUE_MIN_ENTRIES) {
		opts.io_queue_size = USK_NVME_IO_QUEUE_MIN_ENTRIES;
	}
	if (opts.io_queue_size > (uint32_t)ctrlr->cap.bits.mqes + 1) {
		opts.io_queue_size = (uint32_t)ctrlr->cap.bits.mqes + 1;
	}
	if (opts.io_queue_requests < opts.io_queue_size) {
		opts.io_queue_requests = opts.io_queue_size;
	}
	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	if (ctrlr->state != NVME_CTRLR_STATE_READY || ctrlr->is_failed) {
		NVME_CTRLR_ERRLOG(ctrlr, "cannot allocate an I/O qpair: controller not ready\n");
		pthread_mutex_unlock(&ctrlr->ctrlr_lock);
		return NULL;
	}
	qid = alloc_qid(ctrlr);
	if (qid < 0) {
		NVME_CTRLR_ERRLOG(ctrlr, "no free I/O queue IDs (%u granted)\n",
				  ctrlr->num_io_queues);
		pthread_mutex_unlock(&ctrlr->ctrlr_lock);
		return NULL;
	}
	qpair = ctrlr->transport->ctrlr_create_io_qpair(ctrlr, (uint16_t)qid, &opts);
	if (qpair == NULL) {
		free_qid(ctrlr, (uint16_t)qid);
		pthread_mutex_unlock(&ctrlr->ctrlr_lock);
		return NULL;
	}
	qpair->opts = opts;
	qpair->delay_cmd_submit = opts.delay_cmd_submit;
	TAILQ_INSERT_TAIL(&ctrlr->active_io_qpairs, qpair, tailq);
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);

	if (!opts.create_only && usk_nvme_ctrlr_connect_io_qpair(ctrlr, qpair) != 0) {
		usk_nvme_ctrlr_free_io_qpair(qpair);
		return NULL;
	}
	return qpair;
}

int
usk_nvme_ctrlr_reconnect_io_qpair(struct usk_nvme_qpair *qpair)
{
	struct usk_nvme_ctrlr *ctrlr = qpair->ctrlr;
	int rc;

	if (usk_nvme_ctrlr_is_failed(ctrlr) ||
	    __atomic_load_n(&ctrlr->is_resetting, __ATOMIC_ACQUIRE) ||
	    ctrlr->state != NVME_CTRLR_STATE_READY) {
		return -EAGAIN;
	}
	if (nvme_qpair_get_state(qpair) == NVME_QPAIR_ENABLED ||
	    nvme_qpair_get_state(qpair) == NVME_QPAIR_CONNECTING) {
		return 0;
	}
	if (nvme_qpair_get_state(qpair) != NVME_QPAIR_DISCONNECTED) {
		usk_nvme_ctrlr_disconnect_io_qpair(qpair);
	}
	qpair->transport_failure_reason = NVME_QPAIR_FAILURE_NONE;
	rc = ctrlr->transport->ctrlr_connect_qpair(ctrlr, qpair);
	if (rc != 0) {
		nvme_qpair_set_state(qpair, NVME_QPAIR_DISCONNECTED);
		return rc;
	}
	if (nvme_qpair_get_state(qpair) == NVME_QPAIR_CONNECTED) {
		nvme_qpair_set_state(qpair, NVME_QPAIR_ENABLED);
	}
	return 0;
}

int
usk_nvme_ctrlr_connect_io_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair)
{
	uint64_t deadline = nvme_ticks_after_ms(
		USK_MAX(ctrlr->opts.admin_timeout_ms, ctrlr->opts.transport_connect_timeout_ms));
	int rc;

	rc = usk_nvme_ctrlr_reconnect_io_qpair(qpair);
	if (rc != 0) {
		return rc == -EAGAIN ? -ENXIO : rc;
	}
	while (nvme_qpair_get_state(qpair) == NVME_QPAIR_CONNECTING ||
	       nvme_qpair_get_state(qpair) == NVME_QPAIR_CONNECTED) {
		/* PCIe creates the queues with admin commands: keep the admin queue moving. */
		if (usk_nvme_ctrlr_process_admin_completions(ctrlr) < 0) {
			break;
		}
		rc = nvme_qpair_poll(qpair, 0);
		if (rc < 0 && rc != -EAGAIN) {
			break; /* the connect failed: DISCONNECTED */
		}
		if (usk_get_ticks() > deadline) {
			NVME_CTRLR_ERRLOG(ctrlr, "connecting I/O qpair %u timed out\n", qpair->id);
			usk_nvme_ctrlr_disconnect_io_qpair(qpair);
			return -ETIMEDOUT;
		}
	}
	if (nvme_qpair_get_state(qpair) != NVME_QPAIR_ENABLED) {
		NVME_CTRLR_ERRLOG(ctrlr, "connecting I/O qpair %u failed\n", qpair->id);
		return -ECONNREFUSED;
	}
	return 0;
}

void
usk_nvme_ctrlr_disconnect_io_qpair(struct usk_nvme_qpair *qpair)
{
	struct usk_nvme_ctrlr *ctrlr = qpair->ctrlr;

	if (nvme_qpair_get_state(qpair) != NVME_QPAIR_DISCONNECTED &&
	    nvme_qpair_get_state(qpair) != NVME_QPAIR_DESTROYING) {
		nvme_qpair_set_state(qpair, NVME_QPAIR_DISCONNECTING);
		ctrlr->transport->ctrlr_disconnect_qpair(ctrlr, qpair);
		nvme_qpair_set_state(qpair, NVME_QPAIR_DISCONNECTED);
	}
	nvme_qpair_fail_all(qpair);
}

int
nvme_ctrlr_free_io_qpair_now(struct usk_nvme_qpair *qpair)
{
	struct usk_nvme_ctrlr *ctrlr = qpair->ctrlr;

	if (nvme_qpair_get_state(qpair) != NVME_QPAIR_DISCONNECTED) {
		ctrlr->transport->ctrlr_disconnect_qpair(ctrlr, qpair);
	}
	nvme_qpair_set_state(qpair, NVME_QPAIR_DESTROYING);
	nvme_qpair_fail_all(qpair);
	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	TAILQ_REMOVE(&ctrlr->active_io_qpairs, qpair, tailq);
	free_qid(ctrlr, qpair->id);
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
	return ctrlr->transport->ctrlr_delete_io_qpair(ctrlr, qpair);
}

int
usk_nvme_ctrlr_free_io_qpair(struct usk_nvme_qpair *qpair)
{
	if (qpair == NULL) {
		return 0;
	}
	if (qpair->in_completion_context) {
		/* Freed at the end of the process_completions that runs this callback. */
		qpair->delete_after_completion = true;
		return 0;
	}
	return nvme_ctrlr_free_io_qpair_now(qpair);
}
