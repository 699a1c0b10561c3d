/* SPDX-License-Identifier: BSD-3-Clause */
/* Queue pairs: request pool, submission (with queueing), completion, timeouts, polling. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_internal.h"

int
nvme_qpair_init(struct usk_nvme_qpair *qpair, uint16_t id, struct usk_nvme_ctrlr *ctrlr,
		uint8_t qprio, uint32_t num_entries, uint32_t num_requests)
{
	qpair->ctrlr = ctrlr;
	qpair->transport = ctrlr->transport;
	qpair->id = id;
	qpair->qprio = qprio;
	qpair->is_admin = id == 0;
	qpair->num_entries = num_entries;
	nvme_qpair_set_state(qpair, NVME_QPAIR_DISCONNECTED);
	STAILQ_INIT(&qpair->free_req);
	STAILQ_INIT(&qpair->queued_req);
	TAILQ_INIT(&qpair->outstanding);
	qpair->num_requests = num_requests;
	qpair->req_buf = calloc(num_requests, sizeof(struct nvme_request));
	if (qpair->req_buf == NULL) {
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < num_requests; i++) {
		struct nvme_request *req = &qpair->req_buf[i];

		req->qpair = qpair;
		TAILQ_INIT(&req->children);
		STAILQ_INSERT_TAIL(&qpair->free_req, req, stailq);
	}
	return 0;
}

void
nvme_qpair_deinit(struct usk_nvme_qpair *qpair)
{
	free(qpair->req_buf);
	qpair->req_buf = NULL;
	STAILQ_INIT(&qpair->free_req);
}

void
nvme_free_request(struct nvme_request *req)
{
	STAILQ_INSERT_HEAD(&req->qpair->free_req, req, stailq);
}

struct nvme_request *
nvme_allocate_request_user_copy(struct usk_nvme_qpair *qpair, void *buffer, uint32_t payload_size,
				usk_nvme_cmd_cb cb_fn, void *cb_arg, bool host_to_controller)
{
	struct nvme_request *req;
	void *dma = NULL;

	if (buffer != NULL && payload_size > 0) {
		dma = usk_dma_zmalloc(payload_size, 4096, NULL);
		if (dma == NULL) {
			return NULL;
		}
		if (host_to_controller) {
			memcpy(dma, buffer, payload_size);
		}
	}
	req = nvme_allocate_request_contig(qpair, dma, dma ? payload_size : 0, cb_fn, cb_arg);
	if (req == NULL) {
		usk_dma_free(dma);
		return NULL;
	}
	req->user_buffer = dma ? buffer : NULL;
	return req;
}

/* Copy a bounce buffer back (controller-to-host commands) and free it. */
static void
user_copy_finish(struct nvme_request *req)
{
	void *dma = req->payload.contig_or_cb_arg;
	enum usk_nvme_data_transfer xfer = usk_nvme_opc_get_data_transfer(req->cmd.opc);

	if (xfer == USK_NVME_DATA_CONTROLLER_TO_HOST || xfer == USK_NVME_DATA_BIDIRECTIONAL) {
		memcpy(req->user_buffer, dma, req->payload_size);
	}
	usk_dma_free(dma);
	req->user_buffer = NULL;
}

void
nvme_complete_request(struct nvme_request *req, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_qpair *qpair = req->qpair;
	struct nvme_request *parent = req->parent;
	usk_nvme_cmd_cb cb_fn = req->cb_fn;
	void *cb_arg = req->cb_arg;
	struct usk_nvme_cpl local = *cpl;

	TAILQ_REMOVE(&qpair->outstanding, req, outstanding);
	qpair->num_outstanding--;
	local.cid = req->cid;
	if (usk_unlikely(req->user_buffer != NULL)) {
		user_copy_finish(req);
	}
	/* Free first so that the callback can reuse the slot for its next command. */
	nvme_free_request(req);
	if (parent != NULL) {
		TAILQ_REMOVE(&parent->children, req, child_tailq);
		req->parent = NULL;
		if (usk_nvme_cpl_is_error(&local) &&
		    !usk_nvme_cpl_is_error(&parent->parent_status)) {
			parent->parent_status = local;
		}
		if (--parent->num_children > 0) {
			return;
		}
		local = parent->parent_status;
		cb_fn = parent->cb_fn;
		cb_arg = parent->cb_arg;
		nvme_free_request(parent);
	}
	if (cb_fn != NULL) {
		cb_fn(cb_arg, &local);
	}
}

void
nvme_complete_request_status(struct nvme_request *req, uint8_t sct, uint8_t sc)
{
	struct usk_nvme_cpl cpl = {0};

	cpl.status.sct = sct;
	cpl.status.sc = sc;
	cpl.status.dnr = 1;
	/* Treat it as outstanding for one instant so that the completion bookkeeping is uniform. */
	TAILQ_INSERT_TAIL(&req->qpair->outstanding, req, outstanding);
	req->qpair->num_outstanding++;
	nvme_complete_request(req, &cpl);
}

void
nvme_qpair_abort_queued_reqs(struct usk_nvme_qpair *qpair)
{
	STAILQ_HEAD(, nvme_request) tmp = STAILQ_HEAD_INITIALIZER(tmp);
	struct nvme_request *req;

	/* Move them away first: callbacks may submit again (and be queued or failed anew). */
	STAILQ_CONCAT(&tmp, &qpair->queued_req);
	while ((req = STAILQ_FIRST(&tmp)) != NULL) {
		STAILQ_REMOVE_HEAD(&tmp, stailq);
		nvme_complete_request_status(req, USK_NVME_SCT_GENERIC,
					     USK_NVME_SC_ABORTED_SQ_DELETION);
	}
}

static inline bool
ctrlr_io_blocked(const struct usk_nvme_ctrlr *ctrlr)
{
	/* Written by the admin thread; a stale read only delays noticing by one poll. */
	return __atomic_load_n(&ctrlr->is_failed, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&ctrlr->is_resetting, __ATOMIC_RELAXED);
}

int
nvme_qpair_submit_request_raw(struct usk_nvme_qpair *qpair, struct nvme_request *req)
{
	int rc;

	TAILQ_INSERT_TAIL(&qpair->outstanding, req, outstanding);
	qpair->num_outstanding++;
	if (usk_unlikely(qpair->ctrlr->timeout_cb_fn != NULL)) {
		req->submit_tick = usk_get_ticks();
	}
	rc = qpair->transport->qpair_submit_request(qpair, req);
	if (usk_likely(rc == 0)) {
		return 0;
	}
	TAILQ_REMOVE(&qpair->outstanding, req, outstanding);
	qpair->num_outstanding--;
	return rc;
}

int
nvme_qpair_submit_request(struct usk_nvme_qpair *qpair, struct nvme_request *req)
{
	enum nvme_qpair_state state = nvme_qpair_get_state(qpair);
	int rc;

	if (usk_unlikely(state != NVME_QPAIR_ENABLED)) {
		if (state == NVME_QPAIR_CONNECTING || state == NVME_QPAIR_CONNECTED ||
		    state == NVME_QPAIR_ENABLING ||
		    (qpair->is_admin && state != NVME_QPAIR_DESTROYING &&
		     qpair->ctrlr->state < NVME_CTRLR_STATE_READY)) {
			STAILQ_INSERT_TAIL(&qpair->queued_req, req, stailq);
			return 0;
		}
		nvme_free_request(req);
		return -ENXIO;
	}
	if (usk_unlikely(!qpair->is_admin && ctrlr_io_blocked(qpair->ctrlr))) {
		nvme_free_request(req);
		return -ENXIO;
	}
	if (usk_unlikely(!STAILQ_EMPTY(&qpair->queued_req))) {
		/* Keep submission order behind the ones waiting for a transport slot. */
		STAILQ_INSERT_TAIL(&qpair->queued_req, req, stailq);
		return 0;
	}
	rc = nvme_qpair_submit_request_raw(qpair, req);
	if (usk_likely(rc == 0)) {
		return 0;
	}
	if (rc == -EAGAIN) {
		STAILQ_INSERT_TAIL(&qpair->queued_req, req, stailq);
		return 0;
	}
	nvme_free_request(req);
	return rc;
}

/* Resubmit requests that waited for a slot; stop at the first that still does not fit. */
static void
qpair_resubmit_queued(struct usk_nvme_qpair *qpair)
{
	struct nvme_request *req;

	while ((req = STAILQ_FIRST(&qpair->queued_req)) != NULL) {
		int rc;

		if (nvme_qpair_get_state(qpair) != NVME_QPAIR_ENABLED) {
			return;
		}
		STAILQ_REMOVE_HEAD(&qpair->queued_req, stailq);
		rc = nvme_qpair_submit_request_raw(qpair, req);
		if (rc == -EAGAIN) {
			STAILQ_INSERT_HEAD(&qpair->queued_req, req, stailq);
			return;
		}
		if (rc != 0) {
			nvme_complete_request_status(req, USK_NVME_SCT_GENERIC,
						     USK_NVME_SC_ABORTED_SQ_DELETION);
		}
	}
}

void
nvme_qpair_check_timeouts(struct usk_nvme_qpair *qpair)
{
	struct usk_nvme_ctrlr *ctrlr = qpair->ctrlr;
	uint64_t now, limit;
	struct nvme_request *req, *tmp;

	if (ctrlr->timeout_cb_fn == NULL) {
		return;
	}
	limit = qpair->is_admin ? ctrlr->timeout_admin_ticks : ctrlr->timeout_io_ticks;
	if (limit == 0) {
		return;
	}
	now = usk_get_ticks();
	if (now < qpair->next_timeout_check_tick) {
		return;
	}
	qpair->next_timeout_check_tick = now + usk_get_ticks_hz() / 100;
	/* Oldest first: stop at the first request that has not expired yet. */
	TAILQ_FOREACH_SAFE(req, &qpair->outstanding, outstanding, tmp) {
		if (req->submit_tick == 0 || req->timed_out) {
			continue;
		}
		if (qpair->is_admin && req->cmd.opc == USK_NVME_OPC_ASYNC_EVENT_REQUEST) {
			continue;
		}
		if (req->submit_tick + limit > now) {
			break;
		}
		req->timed_out = true;
		NVME_CTRLR_WARNLOG(ctrlr, "%s command %s (cid %u) on qpair %u timed out\n",
				   qpair->is_admin ? "admin" : "I/O",
				   usk_nvme_opc_get_string(qpair->is_admin, req->cmd.opc), req->cid,
				   qpair->id);
		ctrlr->timeout_cb_fn(ctrlr->timeout_cb_arg, ctrlr, qpair->is_admin ? NULL : qpair,
				     req->cid);
	}
}

/* Fail every request on a dead qpair: the transport's outstanding ones and the core's queue. */
void
nvme_qpair_fail_all(struct usk_nvme_qpair *qpair)
{
	qpair->transport->qpair_abort_reqs(qpair, 0);
	nvme_qpair_abort_queued_reqs(qpair);
}

int32_t
nvme_qpair_poll(struct usk_nvme_qpair *qpair, uint32_t max_completions)
{
	int32_t rc;

	rc = qpair->transport->qpair_process_completions(qpair, max_completions);
	if (usk_unlikely(rc == -EAGAIN)) {
		/* Still connecting (see the contract in nvme_internal.h): not a failure. */
		return -EAGAIN;
	}
	if (usk_unlikely(rc < 0)) {
		/* The transport aborted its outstanding requests; fail the queued ones too. */
		if (nvme_qpair_get_state(qpair) != NVME_QPAIR_DESTROYING) {
			nvme_qpair_set_state(qpair, NVME_QPAIR_DISCONNECTED);
		}
		nvme_qpair_fail_all(qpair);
		return -ENXIO;
	}
	if (usk_unlikely(nvme_qpair_get_state(qpair) == NVME_QPAIR_CONNECTED)) {
		nvme_qpair_set_state(qpair, NVME_QPAIR_ENABLED);
	}
	if (usk_unlikely(!STAILQ_EMPTY(&qpair->queued_req))) {
		qpair_resubmit_queued(qpair);
	}
	if (usk_unlikely(qpair->ctrlr->timeout_cb_fn != NULL)) {
		nvme_qpair_check_timeouts(qpair);
	}
	return rc;
}

int nvme_ctrlr_free_io_qpair_now(struct usk_nvme_qpair *qpair);

int32_t
usk_nvme_qpair_process_completions(struct usk_nvme_qpair *qpair, uint32_t max_completions)
{
	enum nvme_qpair_state state = nvme_qpair_get_state(qpair);
	int32_t rc;

	if (usk_unlikely(state != NVME_QPAIR_ENABLED)) {
		if (state == NVME_QPAIR_DISCONNECTED || state == NVME_QPAIR_DESTROYING) {
			if (!STAILQ_EMPTY(&qpair->queued_req)) {
				nvme_qpair_abort_queued_reqs(qpair);
			}
			return -ENXIO;
		}
	} else if (usk_unlikely(!qpair->is_admin && ctrlr_io_blocked(qpair->ctrlr))) {
		/* The controller is resetting or failed: this qpair's connection is no longer
		 * valid. */
		usk_nvme_ctrlr_disconnect_io_qpair(qpair);
		return -ENXIO;
	}
	qpair->in_completion_context = true;
	rc = nvme_qpair_poll(qpair, max_completions);
	qpair->in_completion_context = false;
	if (usk_unlikely(qpair->delete_after_completion)) {
		nvme_ctrlr_free_io_qpair_now(qpair);
		return rc;
	}
	if (rc >= 0 && nvme_qpair_get_state(qpair) == NVME_QPAIR_CONNECTING) {
		return -EAGAIN;
	}
	return rc;
}

int
usk_nvme_qpair_get_fd(struct usk_nvme_qpair *qpair)
{
	if (qpair->transport->qpair_get_fd == NULL) {
		return -ENOTSUP;
	}
	return qpair->transport->qpair_get_fd(qpair);
}

bool
usk_nvme_qpair_is_failed(struct usk_nvme_qpair *qpair)
{
	enum nvme_qpair_state state = nvme_qpair_get_state(qpair);

	return state == NVME_QPAIR_DISCONNECTED || state == NVME_QPAIR_DESTROYING ||
	       state == NVME_QPAIR_DISCONNECTING;
}

uint32_t
usk_nvme_qpair_get_num_outstanding(struct usk_nvme_qpair *qpair)
{
	uint32_t queued = 0;
	struct nvme_request *req;

	STAILQ_FOREACH(req, &qpair->queued_req, stailq) {
		queued++;
	}
	return qpair->num_outstanding + queued;
}

uint16_t
usk_nvme_qpair_get_id(struct usk_nvme_qpair *qpair)
{
	return qpair->id;
}

struct usk_nvme_ctrlr *
usk_nvme_qpair_get_ctrlr(struct usk_nvme_qpair *qpair)
{
	return qpair->ctrlr;
}

int
usk_nvme_ctrlr_cmd_io_raw(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair,
			  struct usk_nvme_cmd *cmd, void *buf, uint32_t len, usk_nvme_cmd_cb cb,
			  void *cb_arg)
{
	struct nvme_request *req = nvme_allocate_request_contig(qpair, buf, len, cb, cb_arg);

	if (req == NULL) {
		return -ENOMEM;
	}
	req->cmd = *cmd;
	return nvme_qpair_submit_request(qpair, req);
}
