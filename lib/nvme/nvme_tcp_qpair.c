/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP host data path: CapsuleCmd (with in-capsule data), H2CData after R2T, C2HData into the
 * caller's buffers, CapsuleResp. Per poll: one recv (or one readv straight into a large payload's
 * buffers), parse everything received, one writev of whatever the callbacks queued.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_tcp_internal.h"

int
nvme_tcp_qpair_alloc_reqs(struct nvme_tcp_qpair *tq, uint32_t n)
{
	tq->reqs = calloc(n, sizeof(*tq->reqs));
	if (tq->reqs == NULL) {
		return -ENOMEM;
	}
	tq->num_reqs = n;
	TAILQ_INIT(&tq->free_reqs);
	for (uint32_t i = 0; i < n; i++) {
		tq->reqs[i].cid = (uint16_t)i;
		TAILQ_INSERT_TAIL(&tq->free_reqs, &tq->reqs[i], link);
	}
	return 0;
}

void
nvme_tcp_qpair_free_reqs(struct nvme_tcp_qpair *tq)
{
	free(tq->reqs);
	tq->reqs = NULL;
	tq->num_reqs = 0;
}

void
nvme_tcp_qpair_fail(struct nvme_tcp_qpair *tq, const char *why)
{
	if (tq->conn_state == NVME_TCP_CONN_FAILED) {
		return;
	}
	NVME_CTRLR_ERRLOG(tq->base.ctrlr, "qpair %u: %s; closing the connection\n", tq->base.id,
			  why);
	tq->conn_state = NVME_TCP_CONN_FAILED;
	if (tq->base.transport_failure_reason == NVME_QPAIR_FAILURE_NONE) {
		tq->base.transport_failure_reason = NVME_QPAIR_FAILURE_REMOTE;
	}
	usk_sock_close(&tq->sock);
}

/* ---- send ---- */

void
nvme_tcp_pdu_queue(struct nvme_tcp_qpair *tq, struct nvme_tcp_pdu_tx *pdu)
{
	pdu->sent = 0;
	pdu->queued = true;
	TAILQ_INSERT_TAIL(&tq->send_queue, pdu, link);
}

static inline int
iov_add(struct iovec *iov, int n, void *base, uint32_t len, uint32_t *skip)
{
	if (*skip >= len) {
		*skip -= len;
		return n;
	}
	iov[n].iov_base = (uint8_t *)base + *skip;
	iov[n].iov_len = len - *skip;
	*skip = 0;
	return n + 1;
}

static void send_h2c_chunk(struct nvme_tcp_qpair *tq, struct nvme_tcp_req *treq);
static void req_complete(struct nvme_tcp_qpair *tq, struct nvme_tcp_req *treq,
			 const struct usk_nvme_cpl *cpl);

/* A PDU left completely: move the request on (next H2CData chunk, or a deferred completion). */
static void
pdu_sent(struct nvme_tcp_qpair *tq, struct nvme_tcp_pdu_tx *pdu)
{
	struct nvme_tcp_req *treq;

	if (pdu == &tq->ctrl_pdu) {
		return;
	}
	treq = USK_CONTAINEROF(pdu, struct nvme_tcp_req, pdu);
	treq->send_pending = false;
	if (treq->state != NVME_TCP_REQ_ACTIVE) {
		return;
	}
	if (treq->h2c_offset < treq->r2t_end) {
		send_h2c_chunk(tq, treq);
	} else if (treq->resp_pending) {
		req_complete(tq, treq, &treq->rsp);
	}
}

int
nvme_tcp_flush(struct nvme_tcp_qpair *tq)
{
	struct iovec iov[USK_SOCK_MAX_IOV];
	struct nvme_tcp_pdu_tx *pdu;
	int n = 0;
	ssize_t w;

	if (tq->sock == NULL) {
		return -ENOTCONN;
	}
	TAILQ_FOREACH(pdu, &tq->send_queue, link) {
		uint32_t skip = pdu->sent;

		/* Each PDU needs at most 2 + iovcnt entries; stop before overflowing. */
		if (n + 2 + pdu->iovcnt > USK_SOCK_MAX_IOV) {
			break;
		}
		n = iov_add(iov, n, pdu->hdr, pdu->hdr_len, &skip);
		for (int i = 0; i < pdu->iovcnt; i++) {
			n = iov_add(iov, n, pdu->iov[i].iov_base, (uint32_t)pdu->iov[i].iov_len,
				    &skip);
		}
		if (pdu->has_ddgst) {
			n = iov_add(iov, n, pdu->ddgst, USK_NVME_TCP_DIGEST_LEN, &skip);
		}
	}
	if (n == 0) {
		return 0;
	}
	w = usk_sock_writev(tq->sock, iov, n);
	if (w == -EAGAIN) {
		return 0;
	}
	if (w < 0) {
		return (int)w;
	}
	while (w > 0 && (pdu = TAILQ_FIRST(&tq->send_queue)) != NULL) {
		uint32_t left = pdu->total - pdu->sent;

		if ((size_t)w < left) {
			pdu->sent += (uint32_t)w;
			break;
		}
		w -= left;
		pdu->sent = pdu->total;
		TAILQ_REMOVE(&tq->send_queue, pdu, link);
		pdu->queued = false;
		pdu_sent(tq, pdu);
	}
	return 0;
}

/* Header digest after hlen bytes, zero padding up to pdo; returns the bytes before the data. */
static uint16_t
pdu_hdr_finish(struct nvme_tcp_qpair *tq, struct nvme_tcp_pdu_tx *pdu, uint8_t hlen, bool has_data)
{
	struct usk_nvme_tcp_common_pdu_hdr *ch = (void *)pdu->hdr;
	uint32_t len = hlen;

	if (tq->params.hdgst) {
		nvme_tcp_put_le32(pdu->hdr + hlen, nvme_tcp_hdgst(pdu->hdr, hlen));
		len += USK_NVME_TCP_DIGEST_LEN;
	}
	if (has_data && ch->pdo > len) {
		memset(pdu->hdr + len, 0, ch->pdo - len);
		len = ch->pdo;
	}
	return (uint16_t)len;
}

static uint8_t
data_pdo(struct nvme_tcp_qpair *tq, uint8_t hlen)
{
	uint32_t align = ((uint32_t)tq->cpda + 1) * 4;
	uint32_t start = hlen + (tq->params.hdgst ? USK_NVME_TCP_DIGEST_LEN : 0);

	return (uint8_t)USK_ALIGN_CEIL(start, align);
}

static void
pdu_set_ddgst(struct nvme_tcp_qpair *tq, struct nvme_tcp_pdu_tx *pdu)
{
	pdu->has_ddgst = tq->params.ddgst && pdu->iovcnt > 0;
	if (pdu->has_ddgst) {
		nvme_tcp_put_le32(pdu->ddgst,
				  usk_crc32c_iov_update(pdu->iov, pdu->iovcnt, ~0u) ^ ~0u);
	}
}

/* Copy the [off, off + len) byte range of src into dst; returns the entry count. */
static int
iov_subrange(struct iovec *dst, int max, const struct iovec *src, int srccnt, uint32_t off,
	     uint32_t len)
{
	int n = 0;

	for (int i = 0; i < srccnt && len > 0; i++) {
		uint32_t l = (uint32_t)src[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		if (n == max) {
			return -1;
		}
		dst[n].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[n].iov_len = USK_MIN(l - off, len);
		len -= (uint32_t)dst[n].iov_len;
		off = 0;
		n++;
	}
	return len == 0 ? n : -1;
}

static void
send_h2c_chunk(struct nvme_tcp_qpair *tq, struct nvme_tcp_req *treq)
{
	struct nvme_tcp_pdu_tx *pdu = &treq->pdu;
	struct usk_nvme_tcp_h2c_data_hdr *h = (void *)pdu->hdr;
	uint32_t off = treq->h2c_offset;
	uint32_t chunk = USK_MIN(treq->r2t_end - off, tq->maxh2cdata);
	int n;

	n = iov_subrange(pdu->iov, NVME_TCP_MAX_SGE, treq->iov, treq->iovcnt, off, chunk);
	if (n < 0) {
		nvme_tcp_qpair_fail(tq, "internal: H2CData range");
		return;
	}
	memset(h, 0, sizeof(*h));
	h->common.pdu_type = USK_NVME_TCP_PDU_TYPE_H2C_DATA;
	h->common.flags = (tq->params.hdgst ? USK_NVME_TCP_CH_FLAGS_HDGSTF : 0) |
			  (tq->params.ddgst ? USK_NVME_TCP_CH_FLAGS_DDGSTF : 0) |
			  (off + chunk == treq->r2t_end ? USK_NVME_TCP_H2C_DATA_FLAGS_LAST_PDU : 0);
	h->common.hlen = sizeof(*h);
	h->common.pdo = data_pdo(tq, sizeof(*h));
	h->cccid = treq->cid;
	h->ttag = treq->ttag;
	h->datao = off;
	h->datal = chunk;
	pdu->iovcnt = n;
	pdu_set_ddgst(tq, pdu);
	h->common.plen = h->common.pdo + chunk + (pdu->has_ddgst ? USK_NVME_TCP_DIGEST_LEN : 0);
	pdu->hdr_len = pdu_hdr_finish(tq, pdu, sizeof(*h), true);
	pdu->total = h->common.plen;
	treq->h2c_offset += chunk;
	treq->send_pending = true;
	nvme_tcp_pdu_queue(tq, pdu);
}

/* ---- submit ---- */

static int
build_iov(struct nvme_tcp_req *treq, struct nvme_request *req)
{
	uint32_t remaining = req->payload_size;

	treq->iovcnt = 0;
	if (remaining == 0) {
		return 0;
	}
	if (nvme_payload_type(&req->payload) == NVME_PAYLOAD_TYPE_CONTIG) {
		treq->iov[0].iov_base =
			(uint8_t *)req->payload.contig_or_cb_arg + req->payload_offset;
		treq->iov[0].iov_len = remaining;
		treq->iovcnt = 1;
		return 0;
	}
	req->payload.reset_sgl_fn(req->payload.contig_or_cb_arg, req->payload_offset);
	while (remaining > 0) {
		void *addr;
		uint32_t len;

		if (treq->iovcnt == NVME_TCP_MAX_SGE ||
		    req->payload.next_sge_fn(req->payload.contig_or_cb_arg, &addr, &len) != 0 ||
		    len == 0) {
			return -EINVAL;
		}
		len = USK_MIN(len, remaining);
		treq->iov[treq->iovcnt].iov_base = addr;
		treq->iov[treq->iovcnt].iov_len = len;
		treq->iovcnt++;
		remaining -= len;
	}
	return 0;
}

int
nvme_tcp_qpair_submit_request(struct usk_nvme_qpair *qpair, struct nvme_request *req)
{
	struct nvme_tcp_qpair *tq = nvme_tcp_qpair(qpair);
	struct nvme_tcp_req *treq = TAILQ_FIRST(&tq->free_reqs);
	struct nvme_tcp_pdu_tx *pdu;
	struct usk_nvme_tcp_cmd *capsule;
	struct usk_nvme_sgl_descriptor *sgl;
	enum usk_nvme_data_transfer xfer;
	bool has_icd;

	if (usk_unlikely(tq->conn_state == NVME_TCP_CONN_FAILED || tq->sock == NULL)) {
		return -ENXIO;
	}
	if (usk_unlikely(treq == NULL)) {
		return -EAGAIN;
	}
	if (usk_unlikely(build_iov(treq, req) != 0)) {
		NVME_CTRLR_ERRLOG(qpair->ctrlr, "payload of %u bytes needs more than %d segments\n",
				  req->payload_size, NVME_TCP_MAX_SGE);
		return -EINVAL;
	}
	TAILQ_REMOVE(&tq->free_reqs, treq, link);
	treq->state = NVME_TCP_REQ_ACTIVE;
	treq->req = req;
	treq->len = req->payload_size;
	treq->c2h_received = 0;
	treq->h2c_offset = 0;
	treq->r2t_end = 0;
	treq->resp_pending = false;
	req->cid = treq->cid;
	req->cmd.cid = treq->cid;

	/* Fabrics commands carry data only for Connect (host to controller). */
	xfer = req->cmd.opc == USK_NVME_OPC_FABRIC ? USK_NVME_DATA_HOST_TO_CONTROLLER :
						     usk_nvme_opc_get_data_transfer(req->cmd.opc);
	treq->c2h = treq->len > 0 && xfer == USK_NVME_DATA_CONTROLLER_TO_HOST;
	treq->in_capsule = treq->len > 0 && !treq->c2h && treq->len <= tq->max_icd;
	has_icd = treq->in_capsule;

	req->cmd.psdt = USK_NVME_PSDT_SGL_MPTR_CONTIG;
	sgl = &req->cmd.dptr.sgl1;
	memset(sgl, 0, sizeof(*sgl));
	sgl->unkeyed.length = treq->len;
	if (has_icd) {
		sgl->unkeyed.type = USK_NVME_SGL_TYPE_DATA_BLOCK;
		sgl->unkeyed.subtype = USK_NVME_SGL_SUBTYPE_OFFSET;
		sgl->address = 0;
	} else {
		sgl->unkeyed.type = USK_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
		sgl->unkeyed.subtype = USK_NVME_SGL_SUBTYPE_TRANSPORT;
	}

	pdu = &treq->pdu;
	capsule = (void *)pdu->hdr;
	memset(&capsule->common, 0, sizeof(capsule->common));
	capsule->common.pdu_type = USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD;
	capsule->common.hlen = sizeof(*capsule);
	capsule->ccsqe = req->cmd;
	pdu->iovcnt = 0;
	if (has_icd) {
		memcpy(pdu->iov, treq->iov, sizeof(struct iovec) * (size_t)treq->iovcnt);
		pdu->iovcnt = treq->iovcnt;
		capsule->common.pdo = data_pdo(tq, sizeof(*capsule));
	}
	pdu_set_ddgst(tq, pdu);
	capsule->common.flags = (tq->params.hdgst ? USK_NVME_TCP_CH_FLAGS_HDGSTF : 0) |
				(pdu->has_ddgst ? USK_NVME_TCP_CH_FLAGS_DDGSTF : 0);
	pdu->hdr_len = pdu_hdr_finish(tq, pdu, sizeof(*capsule), has_icd);
	capsule->common.plen = pdu->hdr_len + (has_icd ? treq->len : 0) +
			       (pdu->has_ddgst ? USK_NVME_TCP_DIGEST_LEN : 0);
	if (tq->params.hdgst) {
		/* plen changed after the digest was computed over the header: redo it. */
		nvme_tcp_put_le32(pdu->hdr + sizeof(*capsule),
				  nvme_tcp_hdgst(pdu->hdr, sizeof(*capsule)));
	}
	pdu->total = capsule->common.plen;
	treq->send_pending = true;
	nvme_tcp_pdu_queue(tq, pdu);
	/* Inside process_completions the send is batched into the one writev at its end. */
	if (!qpair->in_completion_context && nvme_tcp_flush(tq) != 0) {
		nvme_tcp_qpair_fail(tq, "send failed");
	}
	return 0;
}

/* ---- completion ---- */

static void
req_complete(struct nvme_tcp_qpair *tq, struct nvme_tcp_req *treq, const struct usk_nvme_cpl *cpl)
{
	struct nvme_request *req = treq->req;

	treq->state = NVME_TCP_REQ_FREE;
	treq->req = NULL;
	treq->resp_pending = false;
	/* LIFO: the slot just used is still warm in cache. */
	TAILQ_INSERT_HEAD(&tq->free_reqs, treq, link);
	nvme_complete_request(req, cpl);
}

void
nvme_tcp_qpair_abort_reqs(struct usk_nvme_qpair *qpair, uint32_t dnr)
{
	struct nvme_tcp_qpair *tq = nvme_tcp_qpair(qpair);
	struct usk_nvme_cpl cpl;

	/* Queued PDUs point into the requests: the connection is gone, drop them. */
	TAILQ_INIT(&tq->send_queue);
	tq->rx_req = NULL;
	for (uint32_t i = 0; i < tq->num_reqs; i++) {
		struct nvme_tcp_req *treq = &tq->reqs[i];

		treq->send_pending = false;
		treq->pdu.queued = false;
		if (treq->state != NVME_TCP_REQ_ACTIVE) {
			continue;
		}
		nvme_cpl_set_abort(&cpl, treq->cid, dnr);
		req_complete(tq, treq, &cpl);
	}
	nvme_fabric_qpair_connect_abandon(qpair);
}

static struct nvme_tcp_req *
active_req(struct nvme_tcp_qpair *tq, uint16_t cid)
{
	if (cid >= tq->num_reqs || tq->reqs[cid].state != NVME_TCP_REQ_ACTIVE) {
		return NULL;
	}
	return &tq->reqs[cid];
}

/* Send an H2CTermReq (best effort, one write) and close: the target broke the protocol. */
static void
protocol_error(struct nvme_tcp_qpair *tq, uint16_t fes, uint32_t fei, const char *reason)
{
	struct nvme_tcp_pdu_tx *pdu = &tq->ctrl_pdu;
	struct usk_nvme_tcp_term_req_hdr *t = (void *)pdu->hdr;
	uint32_t copy = USK_MIN((uint32_t)tq->rx.hdr.common.hlen,
				USK_NVME_TCP_TERM_REQ_ERROR_DATA_MAX_SIZE);
	struct iovec iov[2];

	NVME_CTRLR_ERRLOG(tq->base.ctrlr,
			  "qpair %u: protocol error from the controller: %s "
			  "(PDU type 0x%02x, FES 0x%x, FEI %u)\n",
			  tq->base.id, reason, tq->rx.hdr.common.pdu_type, fes, fei);
	tq->base.transport_failure_reason = NVME_QPAIR_FAILURE_PROTOCOL;
	if (tq->sock != NULL && tq->params.ic_done) {
		memset(t, 0, sizeof(*t));
		t->common.pdu_type = USK_NVME_TCP_PDU_TYPE_H2C_TERM_REQ;
		t->common.hlen = sizeof(*t);
		t->common.plen = sizeof(*t) + copy;
		t->fes = fes;
		nvme_tcp_put_le32(t->fei, fei);
		iov[0].iov_base = t;
		iov[0].iov_len = sizeof(*t);
		iov[1].iov_base = tq->rx.hdr.raw;
		iov[1].iov_len = copy;
		(void)usk_sock_writev(tq->sock, iov, 2);
	}
	nvme_tcp_qpair_fail(tq, "protocol error");
}

/* Header validated: say where its payload goes. Returns 0 or -EPROTO (connection failed). */
static int
on_header(struct nvme_tcp_qpair *tq)
{
	struct nvme_tcp_rx *rx = &tq->rx;
	const struct usk_nvme_tcp_c2h_data_hdr *c2h;
	struct iovec iov[NVME_TCP_RX_MAX_IOV];
	struct nvme_tcp_req *treq;
	int n;

	switch (rx->hdr.common.pdu_type) {
	case USK_NVME_TCP_PDU_TYPE_C2H_TERM_REQ:
		iov[0].iov_base = tq->discard;
		iov[0].iov_len = rx->data_len;
		return nvme_tcp_rx_set_dest(rx, iov, rx->data_len ? 1 : 0) == 0 ? 0 : -EPROTO;
	case USK_NVME_TCP_PDU_TYPE_C2H_DATA:
		c2h = &rx->hdr.c2h_data;
		treq = active_req(tq, c2h->cccid);
		if (treq == NULL || !treq->c2h) {
			protocol_error(tq, USK_NVME_TCP_FES_INVALID_HEADER_FIELD,
				       offsetof(struct usk_nvme_tcp_c2h_data_hdr, cccid),
				       "C2HData for a command that is not an outstanding read");
			return -EPROTO;
		}
		if (c2h->datao != treq->c2h_received ||
		    (uint64_t)c2h->datao + c2h->datal > treq->len) {
			protocol_error(tq, USK_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
				       "C2HData offset/length outside the command's data");
			return -EPROTO;
		}
		n = iov_subrange(iov, NVME_TCP_RX_MAX_IOV, treq->iov, treq->iovcnt, c2h->datao,
				 c2h->datal);
		if (n < 0 || nvme_tcp_rx_set_dest(rx, iov, n) != 0) {
			protocol_error(tq, USK_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
				       "C2HData destination");
			return -EPROTO;
		}
		tq->rx_req = treq;
		return 0;
	default:
		/* ICResp, CapsuleResp, R2T: no payload */
		return nvme_tcp_rx_set_dest(rx, NULL, 0) == 0 ? 0 : -EPROTO;
	}
}

/* A whole PDU arrived. Returns completions (0/1) or -errno (connection failed). */
static int
on_pdu(struct nvme_tcp_qpair *tq)
{
	struct nvme_tcp_rx *rx = &tq->rx;
	struct nvme_tcp_req *treq;
	struct usk_nvme_cpl cpl;

	switch (rx->hdr.common.pdu_type) {
	case USK_NVME_TCP_PDU_TYPE_IC_RESP:
		return nvme_tcp_handle_icresp(tq, &rx->hdr.ic_resp);
	case USK_NVME_TCP_PDU_TYPE_C2H_TERM_REQ:
		NVME_CTRLR_ERRLOG(tq->base.ctrlr,
				  "qpair %u: controller terminated the connection "
				  "(C2HTermReq FES 0x%x FEI %u)\n",
				  tq->base.id, rx->hdr.term_req.fes,
				  nvme_tcp_get_le32(rx->hdr.term_req.fei));
		nvme_tcp_qpair_fail(tq, "C2HTermReq");
		return -ECONNRESET;
	case USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP:
		treq = active_req(tq, rx->hdr.capsule_resp.rccqe.cid);
		if (treq == NULL) {
			protocol_error(tq, USK_NVME_TCP_FES_INVALID_HEADER_FIELD,
				       sizeof(struct usk_nvme_tcp_common_pdu_hdr) +
					       offsetof(struct usk_nvme_cpl, cid),
				       "CapsuleResp for an unknown command");
			return -EPROTO;
		}
		treq->rsp = rx->hdr.capsule_resp.rccqe;
		if (treq->send_pending) {
			/* The response overtook our send accounting; finish once the PDU is out. */
			treq->resp_pending = true;
			return 0;
		}
		req_complete(tq, treq, &treq->rsp);
		return 1;
	case USK_NVME_TCP_PDU_TYPE_C2H_DATA:
		treq = tq->rx_req;
		tq->rx_req = NULL;
		if (treq == NULL) {
			return 0;
		}
		treq->c2h_received += rx->hdr.c2h_data.datal;
		if (rx->hdr.c2h_data.common.flags & USK_NVME_TCP_C2H_DATA_FLAGS_SUCCESS) {
			if (!(rx->hdr.c2h_data.common.flags &
			      USK_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU) ||
			    treq->c2h_received != treq->len) {
				protocol_error(tq, USK_NVME_TCP_FES_INVALID_HEADER_FIELD,
					       offsetof(struct usk_nvme_tcp_common_pdu_hdr, flags),
					       "C2HData SUCCESS before all data");
				return -EPROTO;
			}
			memset(&cpl, 0, sizeof(cpl));
			cpl.cid = treq->cid;
			req_complete(tq, treq, &cpl);
			return 1;
		}
		return 0;
	case USK_NVME_TCP_PDU_TYPE_R2T: {
		const struct usk_nvme_tcp_r2t_hdr *r2t = &rx->hdr.r2t;

		treq = active_req(tq, r2t->cccid);
		if (treq == NULL || treq->c2h || treq->in_capsule || treq->len == 0) {
			protocol_error(tq, USK_NVME_TCP_FES_INVALID_HEADER_FIELD,
				       offsetof(struct usk_nvme_tcp_r2t_hdr, cccid),
				       "R2T for a command that has no data to send");
			return -EPROTO;
		}
		if (r2t->r2tl == 0 || r2t->r2to != treq->h2c_offset ||
		    (uint64_t)r2t->r2to + r2t->r2tl > treq->len ||
		    treq->h2c_offset < treq->r2t_end) {
			protocol_error(tq, USK_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
				       "R2T offset/length outside the command's data");
			return -EPROTO;
		}
		treq->ttag = r2t->ttag;
		treq->r2t_end = r2t->r2to + r2t->r2tl;
		if (!treq->send_pending) {
			send_h2c_chunk(tq, treq);
		}
		return 0;
	}
	default:
		protocol_error(tq, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, 0, "unexpected PDU");
		return -EPROTO;
	}
}

static int
handle_event(struct nvme_tcp_qpair *tq, enum nvme_tcp_rx_event ev, int *completions)
{
	int rc;

	switch (ev) {
	case NVME_TCP_RX_EV_HEADER:
		return on_header(tq);
	case NVME_TCP_RX_EV_PDU:
		rc = on_pdu(tq);
		if (rc < 0) {
			return rc;
		}
		*completions += rc;
		return 0;
	case NVME_TCP_RX_EV_ERROR:
		protocol_error(tq, tq->rx.fes, tq->rx.fei,
			       tq->rx.reason ? tq->rx.reason : "bad PDU");
		return -EPROTO;
	default:
		return 0;
	}
}

/* Parse what is staged; stop after max completions (0: no limit). */
static int
parse(struct nvme_tcp_qpair *tq, uint32_t max, int *completions)
{
	for (;;) {
		size_t consumed = 0;
		enum nvme_tcp_rx_event ev;
		int rc;

		if (max != 0 && (uint32_t)*completions >= max) {
			return 0;
		}
		ev = nvme_tcp_rx_feed(&tq->rx, &tq->params, tq->rbuf + tq->rbuf_off,
				      tq->rbuf_end - tq->rbuf_off, &consumed);
		tq->rbuf_off += (uint32_t)consumed;
		if (ev == NVME_TCP_RX_EV_NEED_MORE) {
			return 0;
		}
		rc = handle_event(tq, ev, completions);
		if (rc < 0 || tq->conn_state == NVME_TCP_CONN_FAILED) {
			return rc < 0 ? rc : -ECONNRESET;
		}
	}
}

/* One socket read. Returns bytes read (0 if none) or -errno. */
static int
do_recv(struct nvme_tcp_qpair *tq, int *completions)
{
	ssize_t r;

	if (tq->rbuf_off == tq->rbuf_end) {
		tq->rbuf_off = tq->rbuf_end = 0;
	}
	if (tq->rx.state == NVME_TCP_RX_AWAIT_PAYLOAD && tq->rbuf_off == tq->rbuf_end &&
	    nvme_tcp_rx_payload_remaining(&tq->rx) >= NVME_TCP_DIRECT_READ_MIN) {
		/* Large payload: read it straight into the caller's buffers, the rest into rbuf. */
		struct iovec iov[USK_SOCK_MAX_IOV];
		uint32_t remaining = nvme_tcp_rx_payload_remaining(&tq->rx);
		int n = nvme_tcp_rx_payload_iovs(&tq->rx, iov, USK_SOCK_MAX_IOV - 1);
		enum nvme_tcp_rx_event ev;

		iov[n].iov_base = tq->rbuf;
		iov[n].iov_len = NVME_TCP_RBUF_SIZE;
		r = usk_sock_readv(tq->sock, iov, n + 1);
		if (r == -EAGAIN) {
			return 0;
		}
		if (r < 0) {
			return (int)r;
		}
		ev = nvme_tcp_rx_payload_advance(&tq->rx, USK_MIN((size_t)r, (size_t)remaining));
		if ((size_t)r > remaining) {
			tq->rbuf_end = (uint32_t)((size_t)r - remaining);
		}
		if (ev != NVME_TCP_RX_EV_NEED_MORE) {
			int rc = handle_event(tq, ev, completions);

			if (rc < 0) {
				return rc;
			}
		}
		return (int)r;
	}
	if (tq->rbuf_off > 0) {
		memmove(tq->rbuf, tq->rbuf + tq->rbuf_off, tq->rbuf_end - tq->rbuf_off);
		tq->rbuf_end -= tq->rbuf_off;
		tq->rbuf_off = 0;
	}
	if (tq->rbuf_end == NVME_TCP_RBUF_SIZE) {
		/* Still full of unparsed bytes (max completions reached): parse before reading. */
		return 0;
	}
	r = usk_sock_recv(tq->sock, tq->rbuf + tq->rbuf_end, NVME_TCP_RBUF_SIZE - tq->rbuf_end);
	if (r == -EAGAIN) {
		return 0;
	}
	if (r < 0) {
		return (int)r;
	}
	tq->rbuf_end += (uint32_t)r;
	return (int)r;
}

int32_t
nvme_tcp_qpair_process_completions(struct usk_nvme_qpair *qpair, uint32_t max)
{
	struct nvme_tcp_qpair *tq = nvme_tcp_qpair(qpair);
	int completions = 0;
	int rc;

	if (usk_unlikely(tq->sock == NULL || tq->conn_state == NVME_TCP_CONN_FAILED)) {
		return -ENXIO;
	}
	if (usk_unlikely(tq->conn_state == NVME_TCP_CONN_SOCK_CONNECTING)) {
		/* Nothing to send or receive before the TCP connect completes. */
		if (nvme_tcp_sock_connect_poll(tq) != 0) {
			return -ENXIO;
		}
		if (tq->conn_state == NVME_TCP_CONN_SOCK_CONNECTING) {
			return nvme_tcp_connect_progress(tq) != 0 ? -ENXIO : -EAGAIN;
		}
	}
	if (usk_unlikely(!TAILQ_EMPTY(&tq->send_queue))) {
		/* Left over from a partial write or queued from a previous batch. */
		if (nvme_tcp_flush(tq) != 0) {
			nvme_tcp_qpair_fail(tq, "send failed");
			return -ENXIO;
		}
	}
	rc = do_recv(tq, &completions);
	if (rc < 0) {
		if (tq->conn_state != NVME_TCP_CONN_FAILED) {
			nvme_tcp_qpair_fail(tq, rc == -ECONNRESET ?
							"connection closed by the controller" :
							"receive failed");
		}
		return -ENXIO;
	}
	if (tq->rbuf_off < tq->rbuf_end && parse(tq, max, &completions) < 0) {
		return -ENXIO;
	}
	if (usk_unlikely(tq->conn_state != NVME_TCP_CONN_RUNNING)) {
		if (nvme_tcp_connect_progress(tq) != 0) {
			return -ENXIO;
		}
	}
	if (!TAILQ_EMPTY(&tq->send_queue) && nvme_tcp_flush(tq) != 0) {
		nvme_tcp_qpair_fail(tq, "send failed");
		return -ENXIO;
	}
	if (usk_unlikely(tq->conn_state != NVME_TCP_CONN_RUNNING)) {
		return -EAGAIN; /* ICResp or Fabrics Connect still outstanding */
	}
	return completions;
}
