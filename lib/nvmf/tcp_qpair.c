/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe/TCP connection: PDU receive/dispatch, request state machine, batched sends. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "usk/trace.h"
#include "usk/util.h"
#include "tcp_internal.h"

static void req_exec(struct tcp_qpair *tq, struct tcp_req *r);
static void req_tx_done(struct tcp_qpair *tq, struct tcp_tx *tx);

/* ---------------------------------------------------------------- setup / teardown */

static void
req_init(struct tcp_qpair *tq, struct tcp_req *r, uint32_t idx, uint8_t *icd_buf)
{
	r->ttag = (uint16_t)(idx + 1);
	r->req.qpair = &tq->qpair;
	r->req.cmd = &r->cmd;
	r->req.rsp = &r->rsp;
	r->icd_buf = icd_buf;
	r->tx.iov = r->tx_iov;
	tq->reqs[idx] = r;
	TAILQ_INSERT_TAIL(&tq->free_reqs, r, link);
}

/*
 * Before Connect the queue size is unknown and only Connect may come: one request. Connect
 * then sizes the qpair to what the host negotiated (tcp_qpair_set_sq_size), so an idle or
 * never-connecting socket costs little and a 16-entry queue holds 16 requests, not 128.
 */
int
tcp_qpair_create(struct tcp_transport *tt, struct usk_sock *sock,
		 const struct usk_nvme_transport_id *listen_trid, struct tcp_qpair **out)
{
	const struct usk_nvmf_transport_opts *o = &tt->transport.opts;
	struct tcp_qpair *tq;
	uint32_t icd = o->in_capsule_data_size;

	tq = calloc(1, sizeof(*tq));
	if (tq == NULL) {
		return -ENOMEM;
	}
	tq->qpair.transport = &tt->transport;
	tq->ttransport = tt;
	tq->sock = sock;
	tq->listen_trid = *listen_trid;
	tq->num_reqs = 1;
	tq->sq_limit = 1;
	tq->reqs = calloc(1, sizeof(*tq->reqs));
	tq->first_req = calloc(1, sizeof(*tq->first_req));
	tq->rbuf = malloc(TCP_RECV_BUF_SIZE);
	if (tq->reqs == NULL || tq->first_req == NULL || tq->rbuf == NULL) {
		goto err_free;
	}
	if (icd != 0) {
		tq->icd_bufs = usk_dma_zmalloc(icd, USK_CACHE_LINE_SIZE, NULL);
		if (tq->icd_bufs == NULL) {
			goto err_free;
		}
	}
	tq->big_icd_buf =
		usk_dma_zmalloc(USK_MAX(TCP_ADMIN_ICD_SIZE, icd), USK_CACHE_LINE_SIZE, NULL);
	if (tq->big_icd_buf == NULL) {
		goto err_free;
	}
	TAILQ_INIT(&tq->free_reqs);
	TAILQ_INIT(&tq->r2t_wait);
	TAILQ_INIT(&tq->share_wait);
	STAILQ_INIT(&tq->send_queue);
	STAILQ_INIT(&tq->zc_wait);
	req_init(tq, tq->first_req, 0, tq->icd_bufs);
	tq->icresp_tx.iov = tq->icresp_iov;
	tq->term_tx.iov = tq->term_iov;
	tq->params.max_icd = USK_MAX(TCP_ADMIN_ICD_SIZE, icd);
	tq->params.maxh2cdata = TCP_MAXH2CDATA;
	tq->params.pda = 0;
	tq->accept_tsc = usk_get_ticks();
	nvme_tcp_rx_init(&tq->rx, NVME_TCP_RX_TARGET);
	usk_sock_getaddr(sock, tq->local_addr, sizeof(tq->local_addr), &tq->local_port,
			 tq->peer_addr, sizeof(tq->peer_addr), &tq->peer_port);
	*out = tq;
	return 0;

err_free:
	usk_dma_free(tq->big_icd_buf);
	usk_dma_free(tq->icd_bufs);
	free(tq->rbuf);
	free(tq->first_req);
	free(tq->reqs);
	free(tq);
	return -ENOMEM;
}

int
tcp_qpair_set_sq_size(struct usk_nvmf_qpair *qpair, uint32_t entries)
{
	struct tcp_qpair *tq = tcp_qpair_from(qpair);
	uint32_t icd = qpair->transport->opts.in_capsule_data_size, i, slots;
	struct tcp_req **reqs, *sq_reqs;
	uint8_t *icd_bufs = NULL;

	if (tq->sq_sized) {
		/* a second Connect after a failed one: the slots already handed out stay */
		return entries == tq->sq_limit ? 0 : -EINVAL;
	}
	if (entries < 2 || entries > 65535) {
		return -EINVAL;
	}
	/* zero-copy sends: a request answered but not yet released by the kernel keeps its slot
	 * (its header and data are still referenced) while the host may already reuse the SQ
	 * entry, so twice the slots; the SQ limit stays SQSIZE + 1 (see handle_header) */
	slots = usk_sock_zerocopy_enabled(tq->sock) ? USK_MIN(2 * entries, 65535u) : entries;
	reqs = calloc(slots, sizeof(*reqs));
	sq_reqs = calloc(slots - 1, sizeof(*sq_reqs));
	if (icd != 0) {
		icd_bufs = usk_dma_zmalloc((size_t)(slots - 1) * icd, USK_CACHE_LINE_SIZE, NULL);
	}
	if (reqs == NULL || sq_reqs == NULL || (icd != 0 && icd_bufs == NULL)) {
		free(reqs);
		free(sq_reqs);
		usk_dma_free(icd_bufs);
		return -ENOMEM;
	}
	/* slot 0 (the Connect itself, executing now) keeps its place and its ttag */
	reqs[0] = tq->reqs[0];
	free(tq->reqs);
	tq->reqs = reqs;
	tq->sq_reqs = sq_reqs;
	tq->sq_icd_bufs = icd_bufs;
	for (i = 1; i < slots; i++) {
		req_init(tq, &sq_reqs[i - 1], i,
			 icd != 0 ? icd_bufs + (size_t)(i - 1) * icd : NULL);
	}
	tq->num_reqs = slots;
	tq->sq_limit = entries;
	tq->sq_sized = true;
	USK_DEBUGLOG(nvmf_tcp, "qpair %s:%u sized for %u commands\n", tq->peer_addr, tq->peer_port,
		     entries);
	return 0;
}

void
tcp_qpair_destroy(struct tcp_qpair *tq)
{
	if (tq->listener != NULL) {
		/*
		 * Our last touch of the listener. Release pairs with the acquire load in
		 * tcp_stop_listen, which may free a stopped listener once the count is 0.
		 */
		atomic_fetch_sub_explicit(&tq->listener->num_conns, 1, memory_order_release);
	}
	usk_sock_close(&tq->sock);
	usk_dma_free(tq->big_icd_buf);
	usk_dma_free(tq->icd_bufs);
	usk_dma_free(tq->sq_icd_bufs);
	free(tq->rbuf);
	free(tq->sq_reqs);
	free(tq->first_req);
	free(tq->reqs);
	free(tq->zc_bits);
	free(tq);
}

/* ---------------------------------------------------------------- send path */

static void
qpair_want_flush(struct tcp_qpair *tq)
{
	if (!tq->in_flush_list && tq->tgroup != NULL) {
		tq->in_flush_list = true;
		TAILQ_INSERT_TAIL(&tq->tgroup->flush_list, tq, flush_link);
		tcp_group_wake(tq->tgroup);
	}
}

static void
tx_queue(struct tcp_qpair *tq, struct tcp_tx *tx, int iovcnt,
	 void (*done)(struct tcp_qpair *, struct tcp_tx *))
{
	tx->iovcnt = iovcnt;
	tx->idx = 0;
	tx->off = 0;
	tx->zc = false;
	tx->done = done;
	USK_TRACE(USK_TRACE_GROUP_NVMF_TCP, USK_TPOINT_TCP_PDU_SEND, (uintptr_t)tq, iovcnt,
		  iovcnt > 0 ? tx->iov[0].iov_len : 0);
	STAILQ_INSERT_TAIL(&tq->send_queue, tx, link);
	qpair_want_flush(tq);
}

/*
 * A tx that may go out zero-copy: a response that ends its request (C2HData, CapsuleResp),
 * whose memory stays untouched until done(). Not R2T (its request goes on, and its H2CData
 * may come before the kernel reports the send), ICResp or C2HTermReq.
 */
static bool
tx_zc_ok(const struct tcp_tx *tx)
{
	const struct tcp_req *r;

	if (tx->done != req_tx_done) {
		return false;
	}
	r = USK_CONTAINEROF(tx, const struct tcp_req, tx);
	return r->state == TCP_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST;
}

/*
 * Gather the queued txs' unsent bytes into iov (at most USK_SOCK_MAX_IOV entries); *want gets
 * their total. zc_only: stop at the first tx that may not go out zero-copy, or after max_tx
 * of them (each may then hold its request slot until the kernel's completion).
 */
static int
tx_gather_some(struct tcp_qpair *tq, struct iovec *iov, size_t *want, bool zc_only, uint32_t max_tx)
{
	struct tcp_tx *tx;
	int n = 0, i;

	*want = 0;
	STAILQ_FOREACH(tx, &tq->send_queue, link) {
		if (zc_only && (max_tx == 0 || !tx_zc_ok(tx))) {
			break;
		}
		max_tx--;
		for (i = tx->idx; i < tx->iovcnt && n < USK_SOCK_MAX_IOV; i++) {
			size_t off = i == tx->idx ? tx->off : 0;

			if (tx->iov[i].iov_len == off) {
				continue;
			}
			iov[n].iov_base = (uint8_t *)tx->iov[i].iov_base + off;
			iov[n].iov_len = tx->iov[i].iov_len - off;
			*want += iov[n].iov_len;
			n++;
		}
		if (n == USK_SOCK_MAX_IOV) {
			break;
		}
	}
	return n;
}

static int
tx_gather(struct tcp_qpair *tq, struct iovec *iov, size_t *want)
{
	return tx_gather_some(tq, iov, want, false, 0);
}

static int
tx_gather_zc(struct tcp_qpair *tq, struct iovec *iov, size_t *want, uint32_t max_tx)
{
	return tx_gather_some(tq, iov, want, true, max_tx);
}

/* Every zero-copy send up to and including seq has completed. */
static bool
zc_seq_done(const struct tcp_qpair *tq, uint32_t seq)
{
	return (int32_t)(seq - tq->zc_base) < 0;
}

#define ZC_BIT(tq, s) ((tq)->zc_bits[((s) % TCP_ZC_WINDOW) / 64])
#define ZC_MASK(s)    (1ull << ((s) % 64))

/*
 * The kernel released zero-copy sends lo..hi of tq's socket. Ranges may come out of order, so
 * each number is marked and only the completed prefix counts: a tx (which waits for the last
 * send that carried its bytes) is finished once every send up to that one has completed.
 */
static void
tcp_qpair_zc_done(void *arg, struct usk_sock *sock, uint32_t lo, uint32_t hi)
{
	struct tcp_qpair *tq = arg;
	struct tcp_tx *tx;
	uint32_t s;

	if (tq->tgroup != NULL) {
		tq->tgroup->zcopy_done += hi - lo + 1;
	}
	for (s = lo; (int32_t)(hi - s) >= 0; s++) {
		if ((int32_t)(s - tq->zc_base) >= 0 && (int32_t)(tq->zc_next - s) > 0) {
			ZC_BIT(tq, s) |= ZC_MASK(s);
		}
	}
	while (tq->zc_base != tq->zc_next && (ZC_BIT(tq, tq->zc_base) & ZC_MASK(tq->zc_base))) {
		ZC_BIT(tq, tq->zc_base) &= ~ZC_MASK(tq->zc_base);
		tq->zc_base++;
	}
	while ((tx = STAILQ_FIRST(&tq->zc_wait)) != NULL && zc_seq_done(tq, tx->zc_seq)) {
		STAILQ_REMOVE_HEAD(&tq->zc_wait, link);
		tq->zc_held--;
		tx->zc = false;
		tx->done(tq, tx);
	}
}

void
tcp_qpair_zc_setup(struct tcp_qpair *tq)
{
	if (!usk_sock_zerocopy_enabled(tq->sock) || tq->zc_bits != NULL) {
		return;
	}
	tq->zc_bits = calloc(TCP_ZC_WINDOW / 64, sizeof(uint64_t));
	if (tq->zc_bits == NULL) {
		/* no zero-copy for this connection: its sends are copied */
		return;
	}
	/* cannot fail: zero-copy is on */
	(void)usk_sock_set_zerocopy_cb(tq->sock, tcp_qpair_zc_done, tq);
}

/*
 * Retire sent bytes from the head of the send queue; done() may recycle the request. zc: the
 * bytes went out zero-copy as send number seq: the txs they finish wait for its completion.
 */
static void
tx_retire(struct tcp_qpair *tq, size_t left, bool zc, uint32_t seq)
{
	struct tcp_tx *tx;

	while ((tx = STAILQ_FIRST(&tq->send_queue)) != NULL) {
		if (zc && left > 0) {
			tx->zc = true;
			tx->zc_seq = seq;
		}
		while (tx->idx < tx->iovcnt) {
			size_t rest = tx->iov[tx->idx].iov_len - tx->off;

			if (rest > left) {
				tx->off += left;
				left = 0;
				break;
			}
			left -= rest;
			tx->idx++;
			tx->off = 0;
		}
		if (tx->idx < tx->iovcnt) {
			break;
		}
		STAILQ_REMOVE_HEAD(&tq->send_queue, link);
		if (tx->zc && !zc_seq_done(tq, tx->zc_seq)) {
			/* answered as far as the host is concerned; the slot waits for the kernel
			 */
			STAILQ_INSERT_TAIL(&tq->zc_wait, tx, link);
			tq->zc_held++;
			continue;
		}
		tx->zc = false;
		tx->done(tq, tx);
	}
}

static void
tx_async_done(void *arg, struct usk_sock *sock, ssize_t rc)
{
	struct tcp_qpair *tq = arg;

	tq->send_inflight = false;
	if (rc < 0) {
		USK_NOTICELOG("NVMe/TCP send to %s:%u failed: %s\n", tq->peer_addr, tq->peer_port,
			      strerror((int)-rc));
		tcp_qpair_disconnect(tq);
		return;
	}
	tx_retire(tq, (size_t)rc, false, 0);
	if (!STAILQ_EMPTY(&tq->send_queue)) {
		/* partial send, or PDUs queued meanwhile: the next flush sends them */
		qpair_want_flush(tq);
	}
}

int
tcp_qpair_flush(struct tcp_qpair *tq)
{
	struct iovec iov[USK_SOCK_MAX_IOV];
	size_t want;
	ssize_t rc;
	int n, total = 0;

	if (usk_sock_has_async_writev(tq->sock)) {
		/* one send in flight per connection; its completion retires what went out */
		if (tq->send_inflight) {
			return 0;
		}
		n = tx_gather(tq, iov, &want);
		if (n == 0) {
			return 0;
		}
		rc = usk_sock_writev_async(tq->sock, iov, n, tx_async_done, tq);
		if (rc < 0) {
			return rc == -EAGAIN ? 0 : (int)rc;
		}
		tq->send_inflight = true;
		return 0;
	}
	while (!STAILQ_EMPTY(&tq->send_queue)) {
		bool zc = false;
		uint32_t seq = 0;

		n = 0;
		rc = 0;
		if (usk_unlikely(tq->zc_bits != NULL) &&
		    tq->zc_next - tq->zc_base < TCP_ZC_WINDOW &&
		    tq->num_reqs > tq->sq_limit + tq->zc_held) {
			/* large responses zero-copy (usk_sock_writev_zc applies the threshold), as
			 * many as there are spare slots to hold them: the host may reuse the SQ
			 * entries of all of them (and a late completion holds the later ones too)
			 */
			n = tx_gather_zc(tq, iov, &want, tq->num_reqs - tq->sq_limit - tq->zc_held);
			if (n > 0) {
				rc = usk_sock_writev_zc(tq->sock, iov, n, &zc, &seq);
			}
		}
		if (n == 0) {
			/* everything else (R2T, ICResp, ...) is copied: never held by the kernel */
			n = tx_gather(tq, iov, &want);
			if (n > 0) {
				rc = usk_sock_writev(tq->sock, iov, n);
			}
		}
		if (n > 0) {
			if (rc == -EAGAIN) {
				break;
			}
			if (rc < 0) {
				return (int)rc;
			}
			if (zc) {
				/* the kernel numbers a socket's zero-copy sends 0, 1, ... */
				tq->zc_next = seq + 1;
				tq->tgroup->zcopy_sends++;
			}
		}
		total += (int)rc;
		tx_retire(tq, (size_t)rc, zc, seq);
		if ((size_t)rc < want) {
			/* socket buffer full: the rest goes on a later poll */
			break;
		}
	}
	return total;
}

static void
hdr_digest_append(struct tcp_qpair *tq, uint8_t *hdr, uint32_t hlen)
{
	if (tq->params.hdgst) {
		nvme_tcp_put_le32(hdr + hlen, nvme_tcp_hdgst(hdr, hlen));
	}
}

/* ---------------------------------------------------------------- requests */

/* The data a request asked for came (or never will): its buffers no longer count as held. */
static void
req_data_wait_done(struct tcp_qpair *tq, struct tcp_req *r)
{
	if (r->wait_bufs != 0) {
		usk_nvmf_qpair_data_wait_release(&tq->qpair, r->wait_bufs);
		r->wait_bufs = 0;
	}
}

static void
req_release(struct tcp_qpair *tq, struct tcp_req *r)
{
	if (r->state == TCP_REQ_STATE_FREE) {
		return;
	}
	if (r->state == TCP_REQ_STATE_NEED_BUFFER) {
		TAILQ_REMOVE(&tq->tgroup->pending_buf_queue, r, link);
		tq->tgroup->pending_buf_now--;
	} else if (r->state == TCP_REQ_STATE_NEED_SHARE) {
		TAILQ_REMOVE(&tq->share_wait, r, link);
		tq->tgroup->share_wait_now--;
	} else if (r->state == TCP_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER) {
		TAILQ_REMOVE(&tq->r2t_wait, r, link);
	}
	req_data_wait_done(tq, r);
	if (r->req.data_from_pool) {
		usk_nvmf_request_free_buffers(&r->req, &tq->tgroup->group, tq->qpair.transport);
	}
	if (r->uses_big_icd) {
		r->uses_big_icd = false;
		tq->big_icd_busy = false;
	}
	if (tq->rx_req == r) {
		tq->rx_req = NULL;
	}
	r->req.iovcnt = 0;
	r->req.data = NULL;
	r->tx_queued = false;
	r->state = TCP_REQ_STATE_FREE;
	USK_TRACE(USK_TRACE_GROUP_NVMF_TCP, USK_TPOINT_TCP_REQ_DONE, (uintptr_t)r,
		  r->cmd.nvme_cmd.cid, 0);
	tq->outstanding--;
	TAILQ_INSERT_HEAD(&tq->free_reqs, r, link);
}

static void
req_tx_done(struct tcp_qpair *tq, struct tcp_tx *tx)
{
	struct tcp_req *r = USK_CONTAINEROF(tx, struct tcp_req, tx);

	r->tx_queued = false;
	if (r->state == TCP_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST) {
		req_release(tq, r);
	}
	/* an R2T: the request stays in TRANSFERRING_HOST_TO_CONTROLLER */
}

/* Complete a request the transport rejects itself (bad SGL and the like). */
static void
req_fail(struct tcp_qpair *tq, struct tcp_req *r, uint8_t sct, uint8_t sc)
{
	struct usk_nvme_cpl *cpl = &r->rsp.nvme_cpl;

	USK_DEBUGLOG(nvmf_tcp, "qpair %s:%u cid %u failed sct %u sc 0x%x\n", tq->peer_addr,
		     tq->peer_port, r->cmd.nvme_cmd.cid, sct, sc);
	cpl->cid = r->cmd.nvme_cmd.cid;
	cpl->status.sct = sct & 7;
	cpl->status.sc = sc;
	cpl->status.dnr = 1;
	r->state = TCP_REQ_STATE_EXECUTING;
	usk_nvmf_request_complete(&r->req);
}

static void
req_send_r2t(struct tcp_qpair *tq, struct tcp_req *r)
{
	struct usk_nvme_tcp_r2t_hdr *h = (struct usk_nvme_tcp_r2t_hdr *)r->tx_hdr;
	uint32_t hlen = sizeof(*h), dg = tq->params.hdgst ? USK_NVME_TCP_DIGEST_LEN : 0;

	memset(h, 0, hlen);
	h->common.pdu_type = USK_NVME_TCP_PDU_TYPE_R2T;
	h->common.flags = dg ? USK_NVME_TCP_CH_FLAGS_HDGSTF : 0;
	h->common.hlen = (uint8_t)hlen;
	h->common.plen = hlen + dg;
	h->cccid = r->cmd.nvme_cmd.cid;
	h->ttag = r->ttag;
	h->r2to = 0;
	h->r2tl = r->req.length;
	hdr_digest_append(tq, r->tx_hdr, hlen);
	r->tx_iov[0].iov_base = r->tx_hdr;
	r->tx_iov[0].iov_len = hlen + dg;
	r->h2c_offset = 0;
	r->state = TCP_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER;
	/* one timeout for all: appending keeps r2t_wait ordered by deadline */
	r->r2t_deadline = usk_get_ticks() +
			  (uint64_t)tq->ttransport->r2t_timeout_ms * usk_get_ticks_hz() / 1000;
	TAILQ_INSERT_TAIL(&tq->r2t_wait, r, link);
	r->tx_queued = true;
	tx_queue(tq, &r->tx, 1, req_tx_done);
}

/* Buffers are there: a write asks for its data, anything else runs. */
static void
req_buffers_ready(struct tcp_qpair *tq, struct tcp_req *r)
{
	if (r->req.xfer == USK_NVME_DATA_HOST_TO_CONTROLLER) {
		req_send_r2t(tq, r);
	} else {
		req_exec(tq, r);
	}
}

/*
 * Reserve a write's buffers against its qpair's and controller's share, so that no host can
 * park the whole pool in commands whose data it never sends. Reads and in-capsule data are
 * not capped: their buffers are held only while the bdev works.
 */
static bool
req_take_share(struct tcp_qpair *tq, struct tcp_req *r)
{
	struct tcp_transport *tt = tq->ttransport;
	uint32_t unit = tq->qpair.transport->opts.io_unit_size;
	uint32_t n = (r->req.length + unit - 1) / unit;
	uint32_t qcap = tt->max_r2t_bufs_per_qpair, ccap = tt->max_r2t_bufs_per_ctrlr, pool;

	if (r->req.xfer != USK_NVME_DATA_HOST_TO_CONTROLLER || r->wait_bufs != 0) {
		return true;
	}
	if (qcap == 0 || ccap == 0) {
		/* a share of the pool as it is now: an atomic load, it grows meanwhile */
		pool = usk_nvmf_transport_pool_size(tq->qpair.transport);
		qcap = qcap != 0 ? qcap : USK_MAX(pool / 4, tt->io_bufs);
		ccap = ccap != 0 ? ccap : USK_MAX(pool / 2, tt->io_bufs);
	}
	if (usk_nvmf_qpair_data_wait_reserve(&tq->qpair, n, qcap, ccap) != 0) {
		return false;
	}
	r->wait_bufs = n;
	return true;
}

/* Within its share (or not capped): take buffers from the pool, or queue for them. */
static void
req_get_buffers(struct tcp_qpair *tq, struct tcp_req *r)
{
	struct tcp_poll_group *tg = tq->tgroup;
	int rc;

	if (TAILQ_EMPTY(&tg->pending_buf_queue)) {
		rc = usk_nvmf_request_get_buffers(&r->req, &tg->group, tq->qpair.transport,
						  r->req.length);
		if (rc == 0) {
			req_buffers_ready(tq, r);
			return;
		}
		if (rc != -ENOMEM) {
			req_data_wait_done(tq, r);
			req_fail(tq, r, USK_NVME_SCT_GENERIC, USK_NVME_SC_DATA_SGL_LENGTH_INVALID);
			return;
		}
	}
	/* pool exhausted (or others wait already, keep FIFO order): retried from the poll */
	r->state = TCP_REQ_STATE_NEED_BUFFER;
	TAILQ_INSERT_TAIL(&tg->pending_buf_queue, r, link);
	tg->pending_buf_waits++;
	tg->pending_buf_now++;
}

static void
req_need_buffers(struct tcp_qpair *tq, struct tcp_req *r)
{
	struct tcp_poll_group *tg = tq->tgroup;

	if (!TAILQ_EMPTY(&tq->share_wait) || !req_take_share(tq, r)) {
		/* over its share (or older ones of this qpair are): wait without blocking others */
		r->state = TCP_REQ_STATE_NEED_SHARE;
		TAILQ_INSERT_TAIL(&tq->share_wait, r, link);
		tg->share_waits++;
		tg->share_wait_now++;
		return;
	}
	req_get_buffers(tq, r);
}

int
tcp_group_process_share_wait(struct tcp_poll_group *tg)
{
	struct tcp_qpair *tq;
	struct tcp_req *r;
	int n = 0;

	TAILQ_FOREACH(tq, &tg->qpairs, link) {
		while ((r = TAILQ_FIRST(&tq->share_wait)) != NULL &&
		       tq->state != TCP_QPAIR_EXITING) {
			if (!req_take_share(tq, r)) {
				break;
			}
			TAILQ_REMOVE(&tq->share_wait, r, link);
			tg->share_wait_now--;
			r->state = TCP_REQ_STATE_NEW;
			n++;
			/* it holds its share now: straight on, not behind the others again */
			req_get_buffers(tq, r);
		}
	}
	return n;
}

int
tcp_group_process_pending(struct tcp_poll_group *tg)
{
	struct tcp_req *r;
	struct tcp_qpair *tq;
	int rc, n = 0;

	while ((r = TAILQ_FIRST(&tg->pending_buf_queue)) != NULL) {
		tq = tcp_qpair_from(r->req.qpair);
		rc = usk_nvmf_request_get_buffers(&r->req, &tg->group, tq->qpair.transport,
						  r->req.length);
		if (rc == -ENOMEM) {
			break;
		}
		TAILQ_REMOVE(&tg->pending_buf_queue, r, link);
		tg->pending_buf_now--;
		n++;
		if (rc != 0) {
			req_data_wait_done(tq, r);
			req_fail(tq, r, USK_NVME_SCT_GENERIC, USK_NVME_SC_DATA_SGL_LENGTH_INVALID);
			continue;
		}
		req_buffers_ready(tq, r);
	}
	return n;
}

static void
req_exec(struct tcp_qpair *tq, struct tcp_req *r)
{
	r->state = TCP_REQ_STATE_EXECUTING;
	USK_TRACE(USK_TRACE_GROUP_NVMF_TCP, USK_TPOINT_TCP_REQ_EXEC, (uintptr_t)r,
		  r->cmd.nvme_cmd.cid, 0);
	usk_nvmf_request_exec(&r->req);
}

/* A whole CapsuleCmd (with its in-capsule data) arrived. */
static void
capsule_ready(struct tcp_qpair *tq, struct tcp_req *r, uint32_t icd_len)
{
	const struct usk_nvme_sgl_descriptor *sgl = &r->cmd.nvme_cmd.dptr.sgl1;
	uint8_t *icd = r->uses_big_icd ? tq->big_icd_buf : r->icd_buf;
	uint64_t offset;
	uint32_t length;

	memset(&r->rsp, 0, sizeof(r->rsp));
	r->req.length = 0;
	r->req.iovcnt = 0;
	r->req.data = NULL;
	r->req.data_from_pool = false;
	r->req.xfer = (uint8_t)usk_nvmf_req_get_xfer(&r->req);
	if (r->req.xfer == USK_NVME_DATA_NONE) {
		req_exec(tq, r);
		return;
	}
	if (sgl->generic.type == USK_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK &&
	    sgl->generic.subtype == USK_NVME_SGL_SUBTYPE_TRANSPORT) {
		length = sgl->unkeyed.length;
		if (icd_len != 0) {
			req_fail(tq, r, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_FIELD);
			return;
		}
		if (length == 0 || length > tq->qpair.transport->opts.max_io_size) {
			req_fail(tq, r, USK_NVME_SCT_GENERIC, USK_NVME_SC_DATA_SGL_LENGTH_INVALID);
			return;
		}
		r->req.length = length;
		req_need_buffers(tq, r);
		return;
	}
	if (sgl->generic.type == USK_NVME_SGL_TYPE_DATA_BLOCK &&
	    sgl->generic.subtype == USK_NVME_SGL_SUBTYPE_OFFSET) {
		offset = sgl->address;
		length = sgl->unkeyed.length;
		if (offset > icd_len) {
			req_fail(tq, r, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_SGL_OFFSET);
			return;
		}
		if (length > icd_len - offset || length == 0) {
			req_fail(tq, r, USK_NVME_SCT_GENERIC, USK_NVME_SC_DATA_SGL_LENGTH_INVALID);
			return;
		}
		if (r->req.xfer != USK_NVME_DATA_HOST_TO_CONTROLLER) {
			req_fail(tq, r, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_FIELD);
			return;
		}
		r->req.length = length;
		r->req.iov[0].iov_base = icd + offset;
		r->req.iov[0].iov_len = length;
		r->req.iovcnt = 1;
		r->req.data = icd + offset;
		req_exec(tq, r);
		return;
	}
	req_fail(tq, r, USK_NVME_SCT_GENERIC, USK_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
}

/* Build the C2HData PDU header for the whole read (one PDU; data follows in the iovecs). */
static int
build_c2h_data(struct tcp_qpair *tq, struct tcp_req *r, bool success_flag)
{
	struct usk_nvme_tcp_c2h_data_hdr *h = (struct usk_nvme_tcp_c2h_data_hdr *)r->tx_hdr;
	uint32_t hlen = sizeof(*h), dg = tq->params.hdgst ? USK_NVME_TCP_DIGEST_LEN : 0;
	uint32_t align = ((uint32_t)tq->hpda + 1) * 4, pdo, left = r->req.length, i;
	int n = 0;

	pdo = USK_ALIGN_CEIL(hlen + dg, align);
	memset(r->tx_hdr, 0, pdo);
	h->common.pdu_type = USK_NVME_TCP_PDU_TYPE_C2H_DATA;
	h->common.flags = USK_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU |
			  (dg ? USK_NVME_TCP_CH_FLAGS_HDGSTF : 0) |
			  (tq->params.ddgst ? USK_NVME_TCP_CH_FLAGS_DDGSTF : 0) |
			  (success_flag ? USK_NVME_TCP_C2H_DATA_FLAGS_SUCCESS : 0);
	h->common.hlen = (uint8_t)hlen;
	h->common.pdo = (uint8_t)pdo;
	h->common.plen = pdo + r->req.length + (tq->params.ddgst ? USK_NVME_TCP_DIGEST_LEN : 0);
	h->cccid = r->cmd.nvme_cmd.cid;
	h->datao = 0;
	h->datal = r->req.length;
	hdr_digest_append(tq, r->tx_hdr, hlen);
	r->tx_iov[n].iov_base = r->tx_hdr;
	r->tx_iov[n++].iov_len = pdo;
	for (i = 0; i < r->req.iovcnt && left > 0; i++) {
		r->tx_iov[n].iov_base = r->req.iov[i].iov_base;
		r->tx_iov[n].iov_len = USK_MIN(left, (uint32_t)r->req.iov[i].iov_len);
		left -= (uint32_t)r->tx_iov[n].iov_len;
		n++;
	}
	if (tq->params.ddgst) {
		uint32_t crc = usk_crc32c_iov_update(&r->tx_iov[1], n - 1, ~0u) ^ ~0u;

		nvme_tcp_put_le32(r->tx_ddgst, crc);
		r->tx_iov[n].iov_base = r->tx_ddgst;
		r->tx_iov[n++].iov_len = USK_NVME_TCP_DIGEST_LEN;
	}
	return n;
}

static void
build_capsule_resp(struct tcp_qpair *tq, struct tcp_req *r, struct iovec *iov)
{
	struct usk_nvme_tcp_rsp *h = (struct usk_nvme_tcp_rsp *)r->tx_rsp;
	uint32_t hlen = sizeof(*h), dg = tq->params.hdgst ? USK_NVME_TCP_DIGEST_LEN : 0;

	h->common.pdu_type = USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP;
	h->common.flags = dg ? USK_NVME_TCP_CH_FLAGS_HDGSTF : 0;
	h->common.hlen = (uint8_t)hlen;
	h->common.pdo = 0;
	h->common.plen = hlen + dg;
	h->rccqe = r->rsp.nvme_cpl;
	hdr_digest_append(tq, r->tx_rsp, hlen);
	iov->iov_base = r->tx_rsp;
	iov->iov_len = hlen + dg;
}

int
tcp_req_complete(struct usk_nvmf_request *req)
{
	struct tcp_req *r = tcp_req_from(req);
	struct tcp_qpair *tq = tcp_qpair_from(req->qpair);
	const struct usk_nvme_cpl *cpl = &r->rsp.nvme_cpl;
	bool ok = cpl->status.sc == USK_NVME_SC_SUCCESS && cpl->status.sct == USK_NVME_SCT_GENERIC;
	bool success_flag = false;
	int n = 0;

	tq->completed++; /* qpair thread only: a plain increment */
	if (tq->disconnect_started || r->tx_queued) {
		/* the connection is going away: nothing to send */
		req_release(tq, r);
		return 0;
	}
	if (ok && req->xfer == USK_NVME_DATA_CONTROLLER_TO_HOST && req->length > 0) {
		/* with a data digest the host may still fail the command: keep the response */
		success_flag = tq->ttransport->c2h_success && !tq->params.ddgst;
		n = build_c2h_data(tq, r, success_flag);
	}
	if (!success_flag) {
		build_capsule_resp(tq, r, &r->tx_iov[n++]);
	}
	r->state = TCP_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST;
	r->tx_queued = true;
	tx_queue(tq, &r->tx, n, req_tx_done);
	return 0;
}

int
tcp_req_free(struct usk_nvmf_request *req)
{
	req_release(tcp_qpair_from(req->qpair), tcp_req_from(req));
	return 0;
}

bool
tcp_qpair_abort_request(struct usk_nvmf_qpair *qpair, uint16_t cid)
{
	struct tcp_qpair *tq = tcp_qpair_from(qpair);
	uint32_t i;

	for (i = 0; i < tq->num_reqs; i++) {
		struct tcp_req *r = tq->reqs[i];

		if ((r->state == TCP_REQ_STATE_NEED_BUFFER ||
		     r->state == TCP_REQ_STATE_NEED_SHARE) &&
		    r->cmd.nvme_cmd.cid == cid) {
			if (r->state == TCP_REQ_STATE_NEED_BUFFER) {
				TAILQ_REMOVE(&tq->tgroup->pending_buf_queue, r, link);
				tq->tgroup->pending_buf_now--;
			} else {
				TAILQ_REMOVE(&tq->share_wait, r, link);
				tq->tgroup->share_wait_now--;
			}
			req_data_wait_done(tq, r);
			req_fail(tq, r, USK_NVME_SCT_GENERIC, USK_NVME_SC_ABORTED_BY_REQUEST);
			return true;
		}
	}
	return false;
}

void
tcp_qpair_release_all(struct tcp_qpair *tq)
{
	uint32_t i;

	if (!STAILQ_EMPTY(&tq->zc_wait) || usk_sock_zerocopy_pending(tq->sock) > 0) {
		/* the kernel still holds response data zero-copy: reset the connection so that it
		 * is never sent (or retransmitted) after the buffers go to other requests */
		usk_sock_abort(tq->sock);
	}
	STAILQ_INIT(&tq->send_queue);
	STAILQ_INIT(&tq->zc_wait);
	tq->zc_held = 0;
	for (i = 0; i < tq->num_reqs; i++) {
		struct tcp_req *r = tq->reqs[i];

		r->tx_queued = false;
		if (r->state != TCP_REQ_STATE_FREE && r->state != TCP_REQ_STATE_EXECUTING) {
			req_release(tq, r);
		}
	}
}

void
tcp_qpair_disconnect(struct tcp_qpair *tq)
{
	if (tq->disconnect_started) {
		return;
	}
	tq->disconnect_started = true;
	tq->state = TCP_QPAIR_EXITING;
	if (tq->tgroup != NULL) {
		usk_sock_group_remove_sock(tq->tgroup->sock_group, tq->sock);
		if (tq->in_flush_list) {
			TAILQ_REMOVE(&tq->tgroup->flush_list, tq, flush_link);
			tq->in_flush_list = false;
		}
		tcp_qpair_release_all(tq);
	}
	usk_nvmf_qpair_disconnect(&tq->qpair);
}

/* ---------------------------------------------------------------- receive path */

static void
term_tx_done(struct tcp_qpair *tq, struct tcp_tx *tx)
{
}

/* Fatal protocol error: send C2HTermReq, close this connection only. */
static void
qpair_fatal(struct tcp_qpair *tq)
{
	struct usk_nvme_tcp_term_req_hdr *h = (struct usk_nvme_tcp_term_req_hdr *)tq->term_buf;
	uint32_t copy = USK_MIN(USK_MAX((uint32_t)tq->rx.hdr.common.hlen,
					(uint32_t)sizeof(struct usk_nvme_tcp_common_pdu_hdr)),
				(uint32_t)USK_NVME_TCP_TERM_REQ_ERROR_DATA_MAX_SIZE);

	if (tq->state == TCP_QPAIR_EXITING) {
		return;
	}
	USK_ERRLOG("NVMe/TCP qpair from %s:%u: %s (PDU type 0x%02x %s, FES 0x%x, FEI %u): "
		   "sending C2HTermReq and closing the connection\n",
		   tq->peer_addr, tq->peer_port, tq->rx.reason ? tq->rx.reason : "protocol error",
		   tq->rx.hdr.common.pdu_type, nvme_tcp_pdu_type_name(tq->rx.hdr.common.pdu_type),
		   tq->rx.fes, tq->rx.fei);
	if (tq->tgroup != NULL) {
		tq->tgroup->fatal_errors++;
	}
	memset(h, 0, sizeof(*h));
	h->common.pdu_type = USK_NVME_TCP_PDU_TYPE_C2H_TERM_REQ;
	h->common.hlen = sizeof(*h);
	h->common.plen = sizeof(*h) + copy;
	h->fes = tq->rx.fes;
	nvme_tcp_put_le32(h->fei, tq->rx.fei);
	memcpy(tq->term_buf + sizeof(*h), tq->rx.hdr.raw, copy);
	tq->term_iov[0].iov_base = tq->term_buf;
	tq->term_iov[0].iov_len = h->common.plen;
	tq->state = TCP_QPAIR_EXITING;
	tx_queue(tq, &tq->term_tx, 1, term_tx_done);
	/* best effort: whatever fits in the socket now, then the connection goes */
	tcp_qpair_flush(tq);
	tcp_qpair_disconnect(tq);
}

static void
icresp_tx_done(struct tcp_qpair *tq, struct tcp_tx *tx)
{
}

static void
handle_icreq(struct tcp_qpair *tq)
{
	const struct usk_nvme_tcp_ic_req *ic = &tq->rx.hdr.ic_req;
	struct usk_nvme_tcp_ic_resp *rsp = &tq->icresp;

	if (ic->pfv != USK_NVME_TCP_PFV_1_0) {
		nvme_tcp_rx_fail(&tq->rx, USK_NVME_TCP_FES_UNSUPPORTED_PARAMETER,
				 offsetof(struct usk_nvme_tcp_ic_req, pfv), "ICReq PFV is not 0");
		qpair_fatal(tq);
		return;
	}
	if (ic->hpda > USK_NVME_TCP_HPDA_MAX) {
		nvme_tcp_rx_fail(&tq->rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD,
				 offsetof(struct usk_nvme_tcp_ic_req, hpda), "ICReq HPDA above 31");
		qpair_fatal(tq);
		return;
	}
	tq->hpda = ic->hpda;
	tq->maxr2t = ic->maxr2t + 1;
	tq->params.hdgst = (ic->dgst & USK_NVME_TCP_DGST_HDGST_ENABLE) != 0;
	tq->params.ddgst = (ic->dgst & USK_NVME_TCP_DGST_DDGST_ENABLE) != 0;
	tq->params.ic_done = true;
	tq->state = TCP_QPAIR_RUNNING;

	memset(rsp, 0, sizeof(*rsp));
	rsp->common.pdu_type = USK_NVME_TCP_PDU_TYPE_IC_RESP;
	rsp->common.hlen = sizeof(*rsp);
	rsp->common.plen = sizeof(*rsp);
	rsp->pfv = USK_NVME_TCP_PFV_1_0;
	rsp->cpda = tq->params.pda;
	rsp->dgst = ic->dgst & (USK_NVME_TCP_DGST_HDGST_ENABLE | USK_NVME_TCP_DGST_DDGST_ENABLE);
	rsp->maxh2cdata = tq->params.maxh2cdata;
	tq->icresp_iov[0].iov_base = rsp;
	tq->icresp_iov[0].iov_len = sizeof(*rsp);
	tx_queue(tq, &tq->icresp_tx, 1, icresp_tx_done);
	USK_DEBUGLOG(nvmf_tcp, "ICReq from %s:%u: hdgst %d ddgst %d hpda %u maxr2t %u\n",
		     tq->peer_addr, tq->peer_port, tq->params.hdgst, tq->params.ddgst, tq->hpda,
		     tq->maxr2t);
}

/* Slice [off, off+len) of the request's data iovecs into out. Returns the count or -1. */
static int
iov_slice(const struct usk_nvmf_request *req, uint32_t off, uint32_t len, struct iovec *out,
	  int max)
{
	uint32_t i;
	int n = 0;

	for (i = 0; i < req->iovcnt && len > 0; i++) {
		uint32_t l = (uint32_t)req->iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		if (n == max) {
			return -1;
		}
		out[n].iov_base = (uint8_t *)req->iov[i].iov_base + off;
		out[n].iov_len = USK_MIN(l - off, len);
		len -= (uint32_t)out[n].iov_len;
		off = 0;
		n++;
	}
	return len == 0 ? n : -1;
}

/* Header validated: say where its payload goes (or fail the connection). */
static int
handle_header(struct tcp_qpair *tq)
{
	struct nvme_tcp_rx *rx = &tq->rx;
	struct iovec iov[NVME_TCP_RX_MAX_IOV];
	struct tcp_req *r;
	int n;

	switch (rx->hdr.common.pdu_type) {
	case USK_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
		iov[0].iov_base = tq->term_data;
		iov[0].iov_len = rx->data_len;
		return nvme_tcp_rx_set_dest(rx, iov, rx->data_len ? 1 : 0);
	case USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		r = TAILQ_FIRST(&tq->free_reqs);
		if (r == NULL || tq->outstanding - tq->zc_held >= tq->sq_limit) {
			/* the host broke SQ flow control (nvmet_tcp: "out of commands", fatal) */
			tq->tgroup->sq_overflows++;
			nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0,
					 tq->sq_sized ?
						 "more commands outstanding than SQSIZE + 1" :
						 "a command before Connect completed");
			return -1;
		}
		TAILQ_REMOVE(&tq->free_reqs, r, link);
		tq->outstanding++;
		r->state = TCP_REQ_STATE_NEW;
		memcpy(&r->cmd, &rx->hdr.capsule_cmd.ccsqe, sizeof(r->cmd));
		USK_TRACE(USK_TRACE_GROUP_NVMF_TCP, USK_TPOINT_TCP_REQ_NEW, (uintptr_t)r,
			  r->cmd.nvme_cmd.cid, r->cmd.nvme_cmd.opc);
		tq->rx_req = r;
		if (rx->data_len == 0) {
			return nvme_tcp_rx_set_dest(rx, NULL, 0);
		}
		iov[0].iov_len = rx->data_len;
		if (rx->data_len <= tq->qpair.transport->opts.in_capsule_data_size) {
			iov[0].iov_base = r->icd_buf;
		} else if (!tq->big_icd_busy) {
			tq->big_icd_busy = true;
			r->uses_big_icd = true;
			iov[0].iov_base = tq->big_icd_buf;
		} else {
			nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0,
					 "in-capsule data larger than in_capsule_data_size");
			return -1;
		}
		return nvme_tcp_rx_set_dest(rx, iov, 1);
	case USK_NVME_TCP_PDU_TYPE_H2C_DATA: {
		const struct usk_nvme_tcp_h2c_data_hdr *h = &rx->hdr.h2c_data;

		if (h->ttag == 0 || h->ttag > tq->num_reqs) {
			nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD,
					 offsetof(struct usk_nvme_tcp_h2c_data_hdr, ttag),
					 "H2CData with an unknown transfer tag");
			return -1;
		}
		r = tq->reqs[h->ttag - 1];
		if (r->state != TCP_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER || r->tx_queued) {
			nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0,
					 "H2CData for a command that did not get an R2T");
			return -1;
		}
		if (h->cccid != r->cmd.nvme_cmd.cid) {
			nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD,
					 offsetof(struct usk_nvme_tcp_h2c_data_hdr, cccid),
					 "H2CData cccid does not match the transfer tag");
			return -1;
		}
		if (h->datao != r->h2c_offset || h->datal > r->req.length - r->h2c_offset) {
			nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
					 "H2CData offset/length outside the R2T");
			return -1;
		}
		n = iov_slice(&r->req, h->datao, h->datal, iov, NVME_TCP_RX_MAX_IOV);
		if (n < 0) {
			nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
					 "H2CData does not fit the buffers");
			return -1;
		}
		tq->rx_req = r;
		return nvme_tcp_rx_set_dest(rx, iov, n);
	}
	default:
		/* ICReq: no payload */
		return nvme_tcp_rx_set_dest(rx, NULL, 0);
	}
}

static void
handle_pdu(struct tcp_qpair *tq)
{
	struct nvme_tcp_rx *rx = &tq->rx;
	struct tcp_req *r = tq->rx_req;

	USK_TRACE(USK_TRACE_GROUP_NVMF_TCP, USK_TPOINT_TCP_PDU_RECV, (uintptr_t)tq,
		  rx->hdr.common.pdu_type, rx->hdr.common.plen);
	switch (rx->hdr.common.pdu_type) {
	case USK_NVME_TCP_PDU_TYPE_IC_REQ:
		handle_icreq(tq);
		break;
	case USK_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
		USK_ERRLOG(
			"NVMe/TCP host %s:%u sent H2CTermReq (FES 0x%x): closing the connection\n",
			tq->peer_addr, tq->peer_port, rx->hdr.term_req.fes);
		tcp_qpair_disconnect(tq);
		break;
	case USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		tq->rx_req = NULL;
		capsule_ready(tq, r, rx->data_len);
		break;
	case USK_NVME_TCP_PDU_TYPE_H2C_DATA:
		tq->rx_req = NULL;
		r->h2c_offset += rx->data_len;
		if (r->h2c_offset == r->req.length) {
			TAILQ_REMOVE(&tq->r2t_wait, r, link);
			req_data_wait_done(tq, r);
			req_exec(tq, r);
		}
		break;
	default:
		break;
	}
}

/* Parse every complete PDU in the receive buffer. */
static void
qpair_parse(struct tcp_qpair *tq)
{
	enum nvme_tcp_rx_event ev;
	size_t c;

	while (tq->state != TCP_QPAIR_EXITING) {
		ev = nvme_tcp_rx_feed(&tq->rx, &tq->params, tq->rbuf + tq->rbuf_off,
				      tq->rbuf_len - tq->rbuf_off, &c);
		tq->rbuf_off += (uint32_t)c;
		switch (ev) {
		case NVME_TCP_RX_EV_NEED_MORE:
			tq->rbuf_off = 0;
			tq->rbuf_len = 0;
			return;
		case NVME_TCP_RX_EV_HEADER:
			if (handle_header(tq) != 0) {
				qpair_fatal(tq);
				return;
			}
			break;
		case NVME_TCP_RX_EV_PDU:
			handle_pdu(tq);
			break;
		case NVME_TCP_RX_EV_ERROR:
			qpair_fatal(tq);
			return;
		}
	}
}

static void
qpair_conn_lost(struct tcp_qpair *tq, int rc)
{
	if (rc == -ECONNRESET) {
		USK_DEBUGLOG(nvmf_tcp, "NVMe/TCP host %s:%u closed the connection\n", tq->peer_addr,
			     tq->peer_port);
	} else {
		USK_NOTICELOG("NVMe/TCP connection from %s:%u failed: %s\n", tq->peer_addr,
			      tq->peer_port, strerror(-rc));
	}
	tcp_qpair_disconnect(tq);
}

void
tcp_qpair_sock_cb(void *arg, struct usk_sock_group *group, struct usk_sock *sock)
{
	struct tcp_qpair *tq = arg;
	struct iovec iov[NVME_TCP_RX_MAX_IOV + 2];
	ssize_t rc;
	size_t want;
	uint32_t rem;
	int budget, n;

	for (budget = 0; budget < TCP_RECV_BUDGET && tq->state != TCP_QPAIR_EXITING; budget++) {
		rem = nvme_tcp_rx_payload_remaining(&tq->rx);
		if (rem >= TCP_DIRECT_READ_MIN) {
			/* large payload: straight into the data buffers, what follows into rbuf */
			n = nvme_tcp_rx_payload_iovs(&tq->rx, iov, NVME_TCP_RX_MAX_IOV + 1);
			iov[n].iov_base = tq->rbuf;
			iov[n].iov_len = TCP_RECV_BUF_SIZE;
			want = rem + TCP_RECV_BUF_SIZE;
			rc = usk_sock_readv(sock, iov, n + 1);
			if (rc > 0) {
				size_t direct = USK_MIN((size_t)rc, (size_t)rem);
				enum nvme_tcp_rx_event ev =
					nvme_tcp_rx_payload_advance(&tq->rx, direct);

				if (ev == NVME_TCP_RX_EV_ERROR) {
					qpair_fatal(tq);
					return;
				}
				if (ev == NVME_TCP_RX_EV_PDU) {
					handle_pdu(tq);
				}
				tq->rbuf_off = 0;
				tq->rbuf_len = (uint32_t)((size_t)rc - direct);
			}
		} else {
			want = TCP_RECV_BUF_SIZE;
			rc = usk_sock_recv(sock, tq->rbuf, TCP_RECV_BUF_SIZE);
			if (rc > 0) {
				tq->rbuf_off = 0;
				tq->rbuf_len = (uint32_t)rc;
			}
		}
		if (rc == -EAGAIN) {
			return;
		}
		if (rc < 0) {
			qpair_conn_lost(tq, (int)rc);
			return;
		}
		qpair_parse(tq);
		if ((size_t)rc < want) {
			return;
		}
	}
}

/* ---------------------------------------------------------------- timeouts */

static const char *
qpair_host_name(struct tcp_qpair *tq, char *buf, size_t len)
{
	const char *nqn = usk_nvmf_qpair_get_hostnqn(&tq->qpair);

	if (nqn == NULL) {
		return "(not connected)";
	}
	/* the NQN came from the host's Connect data: escape it */
	return usk_str_escape(buf, len, nqn, USK_NVME_NQN_FIELD_SIZE);
}

/*
 * The host never sent the data it was asked for: fail the command with a transport error,
 * give its buffers back now and close the connection (the host reconnects and retries).
 */
static void
qpair_r2t_timeout(struct tcp_qpair *tq, struct tcp_req *r)
{
	struct usk_nvme_cpl *cpl = &r->rsp.nvme_cpl;
	char host[USK_STR_ESCAPE_SIZE(USK_NVME_NQN_FIELD_SIZE)];

	USK_ERRLOG("NVMe/TCP host %s (%s:%u): no data for cid %u within %u ms of its R2T "
		   "(%u of %u bytes came): failing it and closing the connection\n",
		   qpair_host_name(tq, host, sizeof(host)), tq->peer_addr, tq->peer_port,
		   r->cmd.nvme_cmd.cid, tq->ttransport->r2t_timeout_ms, r->h2c_offset,
		   r->req.length);
	tq->tgroup->r2t_timeouts++;
	TAILQ_REMOVE(&tq->r2t_wait, r, link);
	req_data_wait_done(tq, r);
	if (tq->rx_req == r) {
		tq->rx_req = NULL;
	}
	usk_nvmf_request_free_buffers(&r->req, &tq->tgroup->group, tq->qpair.transport);
	r->req.length = 0;
	if (!r->tx_queued) {
		/* best effort, like a C2HTermReq: what fits in the socket now goes out */
		cpl->cid = r->cmd.nvme_cmd.cid;
		cpl->status.sct = USK_NVME_SCT_GENERIC;
		cpl->status.sc = USK_NVME_SC_TRANSIENT_TRANSPORT_ERROR;
		cpl->status.dnr = 0;
		r->state = TCP_REQ_STATE_EXECUTING;
		usk_nvmf_request_complete(&r->req);
		tcp_qpair_flush(tq);
	}
	tcp_qpair_disconnect(tq);
}

int
tcp_group_timeout_poll(void *arg)
{
	struct tcp_poll_group *tg = arg;
	struct tcp_transport *tt =
		USK_CONTAINEROF(tg->group.transport, struct tcp_transport, transport);
	uint64_t now = usk_get_ticks(), hz = usk_get_ticks_hz();
	uint64_t connect_ticks = (uint64_t)tt->connect_timeout_ms * hz / 1000;
	struct tcp_qpair *tq, *next;
	struct tcp_req *r;
	int n = 0;

	for (tq = TAILQ_FIRST(&tg->qpairs); tq != NULL; tq = next) {
		next = TAILQ_NEXT(tq, link);
		if (tq->state == TCP_QPAIR_EXITING) {
			continue;
		}
		if (tq->qpair.ctrlr == NULL && connect_ticks != 0 &&
		    now - tq->accept_tsc > connect_ticks) {
			USK_ERRLOG(
				"NVMe/TCP connection from %s:%u: no %s within %u ms: closing it\n",
				tq->peer_addr, tq->peer_port,
				tq->params.ic_done ? "successful Connect" : "ICReq",
				tt->connect_timeout_ms);
			tg->connect_timeouts++;
			tcp_qpair_disconnect(tq);
			n++;
			continue;
		}
		r = TAILQ_FIRST(&tq->r2t_wait);
		if (r != NULL && tt->r2t_timeout_ms != 0 && (int64_t)(now - r->r2t_deadline) >= 0) {
			qpair_r2t_timeout(tq, r);
			n++;
		}
	}
	/* interrupt mode: a controller share freed on another thread is picked up here */
	if (tg->share_wait_now > 0) {
		n += tcp_group_process_share_wait(tg);
	}
	return n > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}
