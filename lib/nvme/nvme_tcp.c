/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe/TCP host transport: controllers, qpair objects, connection set-up (ICReq/ICResp, Connect).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_tcp_internal.h"

struct nvme_tcp_ctrlr {
	struct usk_nvme_ctrlr base;
};

static const struct usk_nvme_transport_ops g_tcp_ops;

static int
tcp_qpair_init(struct nvme_tcp_qpair *tq, struct usk_nvme_ctrlr *ctrlr, uint16_t qid,
	       uint32_t entries, uint32_t requests)
{
	int rc;

	rc = nvme_qpair_init(&tq->base, qid, ctrlr, 0, entries, requests);
	if (rc != 0) {
		return rc;
	}
	TAILQ_INIT(&tq->send_queue);
	tq->rbuf = malloc(NVME_TCP_RBUF_SIZE);
	if (tq->rbuf == NULL) {
		nvme_qpair_deinit(&tq->base);
		return -ENOMEM;
	}
	rc = nvme_tcp_qpair_alloc_reqs(tq, entries);
	if (rc != 0) {
		free(tq->rbuf);
		nvme_qpair_deinit(&tq->base);
		return rc;
	}
	return 0;
}

static void
tcp_qpair_fini(struct nvme_tcp_qpair *tq)
{
	usk_sock_close(&tq->sock);
	nvme_tcp_qpair_free_reqs(tq);
	free(tq->rbuf);
	nvme_qpair_deinit(&tq->base);
}

static struct usk_nvme_ctrlr *
tcp_ctrlr_construct(const struct usk_nvme_transport_id *trid,
		    const struct usk_nvme_ctrlr_opts *opts, void *devhandle)
{
	struct nvme_tcp_ctrlr *tc;
	struct nvme_tcp_qpair *aq;
	long port;
	char *end;

	if (trid->trsvcid[0] == '\0') {
		USK_ERRLOG("TCP transport ID %s has no trsvcid\n", trid->traddr);
		return NULL;
	}
	port = strtol(trid->trsvcid, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535) {
		USK_ERRLOG("TCP transport ID has a bad trsvcid '%s'\n", trid->trsvcid);
		return NULL;
	}
	if (trid->subnqn[0] == '\0') {
		USK_ERRLOG("TCP transport ID %s:%s has no subnqn\n", trid->traddr, trid->trsvcid);
		return NULL;
	}
	tc = calloc(1, sizeof(*tc));
	aq = calloc(1, sizeof(*aq));
	if (tc == NULL || aq == NULL) {
		goto err_free;
	}
	tc->base.transport = &g_tcp_ops;
	if (nvme_ctrlr_construct(&tc->base, trid, opts) != 0) {
		goto err_free;
	}
	if (tcp_qpair_init(aq, &tc->base, 0, tc->base.opts.admin_queue_size, NVME_ADMIN_REQUESTS) !=
	    0) {
		nvme_ctrlr_destruct_base(&tc->base);
		goto err_free;
	}
	tc->base.adminq = &aq->base;
	return &tc->base;

err_free:
	free(aq);
	free(tc);
	return NULL;
}

static void
tcp_ctrlr_destruct(struct usk_nvme_ctrlr *ctrlr)
{
	struct nvme_tcp_ctrlr *tc = USK_CONTAINEROF(ctrlr, struct nvme_tcp_ctrlr, base);

	if (ctrlr->adminq != NULL) {
		struct nvme_tcp_qpair *aq = nvme_tcp_qpair(ctrlr->adminq);

		tcp_qpair_fini(aq);
		free(aq);
	}
	free(tc);
}

static uint32_t
tcp_ctrlr_get_max_xfer_size(struct usk_nvme_ctrlr *ctrlr)
{
	return NVME_TCP_MAX_XFER_SIZE;
}

static uint16_t
tcp_ctrlr_get_max_sges(struct usk_nvme_ctrlr *ctrlr)
{
	return NVME_TCP_MAX_SGE;
}

static struct usk_nvme_qpair *
tcp_ctrlr_create_io_qpair(struct usk_nvme_ctrlr *ctrlr, uint16_t qid,
			  const struct usk_nvme_io_qpair_opts *opts)
{
	struct nvme_tcp_qpair *tq = calloc(1, sizeof(*tq));

	if (tq == NULL) {
		return NULL;
	}
	if (tcp_qpair_init(tq, ctrlr, qid, opts->io_queue_size, opts->io_queue_requests) != 0) {
		free(tq);
		return NULL;
	}
	tq->base.qprio = (uint8_t)opts->qprio;
	return &tq->base;
}

static int
tcp_ctrlr_delete_io_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair)
{
	struct nvme_tcp_qpair *tq = nvme_tcp_qpair(qpair);

	tcp_qpair_fini(tq);
	free(tq);
	return 0;
}

/* ---- connection set-up ---- */

static void
build_icreq(struct nvme_tcp_qpair *tq)
{
	struct nvme_tcp_pdu_tx *pdu = &tq->ctrl_pdu;
	struct usk_nvme_tcp_ic_req *ic = (void *)pdu->hdr;
	const struct usk_nvme_ctrlr_opts *o = &tq->base.ctrlr->opts;

	memset(pdu->hdr, 0, sizeof(*ic));
	ic->common.pdu_type = USK_NVME_TCP_PDU_TYPE_IC_REQ;
	ic->common.hlen = sizeof(*ic);
	ic->common.plen = sizeof(*ic);
	ic->pfv = USK_NVME_TCP_PFV_1_0;
	ic->hpda = 0;
	ic->dgst = (o->header_digest ? USK_NVME_TCP_DGST_HDGST_ENABLE : 0) |
		   (o->data_digest ? USK_NVME_TCP_DGST_DDGST_ENABLE : 0);
	/* One outstanding R2T per command (0's based), as Linux and SPDK hosts. */
	ic->maxr2t = 0;
	pdu->hdr_len = sizeof(*ic);
	pdu->iovcnt = 0;
	pdu->has_ddgst = false;
	pdu->total = sizeof(*ic);
}

/* The TCP connection is up: send ICReq (ICResp arrives through process_completions). */
static int
tcp_send_icreq(struct nvme_tcp_qpair *tq)
{
	int rc;

	build_icreq(tq);
	tq->conn_state = NVME_TCP_CONN_ICREQ_SENT;
	nvme_tcp_pdu_queue(tq, &tq->ctrl_pdu);
	rc = nvme_tcp_flush(tq);
	if (rc != 0) {
		nvme_tcp_qpair_fail(tq, "sending ICReq");
	}
	return rc;
}

/*
 * Never blocks: the TCP connect is started non-blocking here and completed from
 * process_completions (nvme_tcp_sock_connect_poll), within connect_deadline like the rest of the
 * connection set-up (ICReq/ICResp, Fabrics Connect).
 */
static int
tcp_ctrlr_connect_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair)
{
	struct nvme_tcp_qpair *tq = nvme_tcp_qpair(qpair);
	struct usk_sock_opts sopts;
	int rc;

	usk_sock_close(&tq->sock);
	usk_sock_get_default_opts(&sopts, sizeof(sopts));
	sopts.nodelay = true;
	sopts.priority = ctrlr->trid.priority;
	rc = usk_sock_connect_async(ctrlr->trid.traddr, atoi(ctrlr->trid.trsvcid), &sopts,
				    &tq->sock);
	if (rc != 0) {
		NVME_CTRLR_ERRLOG(ctrlr, "connecting qpair %u to %s:%s failed: %s\n", qpair->id,
				  ctrlr->trid.traddr, ctrlr->trid.trsvcid, strerror(-rc));
		return rc;
	}
	memset(&tq->params, 0, sizeof(tq->params));
	nvme_tcp_rx_init(&tq->rx, NVME_TCP_RX_HOST);
	tq->rbuf_off = tq->rbuf_end = 0;
	tq->rx_req = NULL;
	TAILQ_INIT(&tq->send_queue);
	tq->ctrl_pdu.queued = false;
	tq->connect_deadline = nvme_ticks_after_ms(ctrlr->opts.transport_connect_timeout_ms);
	tq->conn_state = NVME_TCP_CONN_SOCK_CONNECTING;
	nvme_qpair_set_state(qpair, NVME_QPAIR_CONNECTING);
	/* Loopback usually connects at once: send ICReq now rather than on the next poll. */
	rc = nvme_tcp_sock_connect_poll(tq);
	if (rc != 0) {
		usk_sock_close(&tq->sock);
		tq->conn_state = NVME_TCP_CONN_IDLE;
		nvme_qpair_set_state(qpair, NVME_QPAIR_DISCONNECTED);
		return rc;
	}
	return 0;
}

int
nvme_tcp_sock_connect_poll(struct nvme_tcp_qpair *tq)
{
	struct usk_nvme_ctrlr *ctrlr = tq->base.ctrlr;
	int rc;

	rc = usk_sock_connect_poll(tq->sock);
	if (rc == -EAGAIN) {
		return 0;
	}
	if (rc != 0) {
		NVME_CTRLR_ERRLOG(ctrlr, "qpair %u: TCP connect to %s:%s failed: %s\n", tq->base.id,
				  ctrlr->trid.traddr, ctrlr->trid.trsvcid, strerror(-rc));
		tq->base.transport_failure_reason = rc == -ETIMEDOUT ? NVME_QPAIR_FAILURE_TIMEOUT :
								       NVME_QPAIR_FAILURE_REMOTE;
		nvme_tcp_qpair_fail(tq, "TCP connect failed");
		return rc;
	}
	NVME_CTRLR_DEBUGLOG(ctrlr, "qpair %u: TCP connected\n", tq->base.id);
	return tcp_send_icreq(tq);
}

static void
tcp_ctrlr_disconnect_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair)
{
	struct nvme_tcp_qpair *tq = nvme_tcp_qpair(qpair);

	usk_sock_close(&tq->sock);
	tq->conn_state = NVME_TCP_CONN_IDLE;
	/* PDUs reference requests the core is about to abort: forget them. */
	TAILQ_INIT(&tq->send_queue);
	for (uint32_t i = 0; i < tq->num_reqs; i++) {
		tq->reqs[i].send_pending = false;
		tq->reqs[i].pdu.queued = false;
	}
	tq->ctrl_pdu.queued = false;
	tq->rx_req = NULL;
	nvme_tcp_rx_init(&tq->rx, NVME_TCP_RX_HOST);
	tq->rbuf_off = tq->rbuf_end = 0;
}

int
nvme_tcp_handle_icresp(struct nvme_tcp_qpair *tq, const struct usk_nvme_tcp_ic_resp *ic)
{
	struct usk_nvme_ctrlr *ctrlr = tq->base.ctrlr;
	bool want_h = ctrlr->opts.header_digest, want_d = ctrlr->opts.data_digest;
	uint32_t ioccsz;
	int rc;

	if (tq->conn_state != NVME_TCP_CONN_ICREQ_SENT) {
		nvme_tcp_qpair_fail(tq, "unexpected ICResp");
		return -EPROTO;
	}
	if (ic->pfv != USK_NVME_TCP_PFV_1_0) {
		NVME_CTRLR_ERRLOG(ctrlr, "ICResp: unsupported PFV %u\n", ic->pfv);
		nvme_tcp_qpair_fail(tq, "ICResp PFV");
		return -EPROTO;
	}
	if (ic->maxh2cdata < 4096 || ic->maxh2cdata % 4 != 0) {
		NVME_CTRLR_ERRLOG(ctrlr, "ICResp: invalid MAXH2CDATA %u\n", ic->maxh2cdata);
		nvme_tcp_qpair_fail(tq, "ICResp MAXH2CDATA");
		return -EPROTO;
	}
	if (ic->cpda > USK_NVME_TCP_CPDA_MAX) {
		NVME_CTRLR_ERRLOG(ctrlr, "ICResp: invalid CPDA %u\n", ic->cpda);
		nvme_tcp_qpair_fail(tq, "ICResp CPDA");
		return -EPROTO;
	}
	/* The controller may only turn off digests we asked for (it answers with what it uses). */
	if (((ic->dgst & USK_NVME_TCP_DGST_HDGST_ENABLE) && !want_h) ||
	    ((ic->dgst & USK_NVME_TCP_DGST_DDGST_ENABLE) && !want_d) || (ic->dgst & ~3u)) {
		NVME_CTRLR_ERRLOG(ctrlr, "ICResp: digests 0x%x not requested\n", ic->dgst);
		nvme_tcp_qpair_fail(tq, "ICResp DGST");
		return -EPROTO;
	}
	tq->params.hdgst = (ic->dgst & USK_NVME_TCP_DGST_HDGST_ENABLE) != 0;
	tq->params.ddgst = (ic->dgst & USK_NVME_TCP_DGST_DDGST_ENABLE) != 0;
	tq->params.ic_done = true;
	tq->maxh2cdata = ic->maxh2cdata;
	tq->cpda = ic->cpda;
	if (tq->base.is_admin) {
		tq->max_icd = NVME_TCP_ADMIN_ICD;
	} else {
		/* IOCCSZ counts the 64-byte SQE; ICDOFF != 0 puts data at an offset we do not use.
		 */
		ioccsz = ctrlr->cdata.nvmf_specific.ioccsz * 16;
		tq->max_icd =
			(ioccsz > 64 && ctrlr->cdata.nvmf_specific.icdoff == 0) ? ioccsz - 64 : 0;
	}
	NVME_CTRLR_DEBUGLOG(ctrlr,
			    "qpair %u: ICResp hdgst %d ddgst %d cpda %u maxh2cdata %u icd %u\n",
			    tq->base.id, tq->params.hdgst, tq->params.ddgst, tq->cpda,
			    tq->maxh2cdata, tq->max_icd);
	tq->conn_state = NVME_TCP_CONN_FABRIC_CONNECT;
	rc = nvme_fabric_qpair_connect_async(&tq->base, tq->base.num_entries);
	if (rc != 0) {
		nvme_tcp_qpair_fail(tq, "sending Fabrics Connect");
		return rc;
	}
	return 0;
}

/* Called from every poll while CONNECTING; 0 to continue, -errno when the connect failed. */
int
nvme_tcp_connect_progress(struct nvme_tcp_qpair *tq)
{
	int rc;

	if (tq->conn_state == NVME_TCP_CONN_FABRIC_CONNECT) {
		rc = nvme_fabric_qpair_connect_poll(&tq->base);
		if (rc == 0) {
			tq->conn_state = NVME_TCP_CONN_RUNNING;
			nvme_qpair_set_state(&tq->base, NVME_QPAIR_CONNECTED);
			return 0;
		}
		if (rc != -EAGAIN) {
			nvme_tcp_qpair_fail(tq, "Fabrics Connect rejected");
			return rc;
		}
	}
	if (tq->connect_deadline != NVME_TIMEOUT_INFINITE &&
	    usk_get_ticks() > tq->connect_deadline) {
		NVME_CTRLR_ERRLOG(tq->base.ctrlr, "qpair %u: connect timed out\n", tq->base.id);
		tq->base.transport_failure_reason = NVME_QPAIR_FAILURE_TIMEOUT;
		nvme_tcp_qpair_fail(tq, "connect timeout");
		return -ETIMEDOUT;
	}
	return 0;
}

static int
tcp_qpair_get_fd(struct usk_nvme_qpair *qpair)
{
	struct nvme_tcp_qpair *tq = nvme_tcp_qpair(qpair);

	return tq->sock ? usk_sock_get_fd(tq->sock) : -ENOTCONN;
}

static const struct usk_nvme_transport_ops g_tcp_ops = {
	.name = "TCP",
	.type = USK_NVME_TRANSPORT_TCP,
	.ctrlr_construct = tcp_ctrlr_construct,
	.ctrlr_destruct = tcp_ctrlr_destruct,
	.ctrlr_set_reg_4_async = nvme_fabric_ctrlr_set_reg_4_async,
	.ctrlr_set_reg_8_async = nvme_fabric_ctrlr_set_reg_8_async,
	.ctrlr_get_reg_4_async = nvme_fabric_ctrlr_get_reg_4_async,
	.ctrlr_get_reg_8_async = nvme_fabric_ctrlr_get_reg_8_async,
	.ctrlr_get_max_xfer_size = tcp_ctrlr_get_max_xfer_size,
	.ctrlr_get_max_sges = tcp_ctrlr_get_max_sges,
	.ctrlr_create_io_qpair = tcp_ctrlr_create_io_qpair,
	.ctrlr_delete_io_qpair = tcp_ctrlr_delete_io_qpair,
	.ctrlr_connect_qpair = tcp_ctrlr_connect_qpair,
	.ctrlr_disconnect_qpair = tcp_ctrlr_disconnect_qpair,
	.qpair_abort_reqs = nvme_tcp_qpair_abort_reqs,
	.qpair_submit_request = nvme_tcp_qpair_submit_request,
	.qpair_process_completions = nvme_tcp_qpair_process_completions,
	.qpair_get_fd = tcp_qpair_get_fd,
};

USK_NVME_TRANSPORT_REGISTER(tcp, &g_tcp_ops)
