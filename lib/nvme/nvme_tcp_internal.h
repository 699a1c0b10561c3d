/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe/TCP host transport internals shared by nvme_tcp.c (connection) and nvme_tcp_qpair.c (data).
 */
#ifndef USK_NVME_TCP_INTERNAL_H
#define USK_NVME_TCP_INTERNAL_H

#include <sys/queue.h>
#include <sys/uio.h>

#include "usk/nvme_tcp.h"
#include "usk/sock.h"
#include "nvme_internal.h"
#include "usk_internal/nvme_tcp_pdu.h"

/* Data segments per request (caller SGEs). */
#define NVME_TCP_MAX_SGE 32
/* Largest transfer per command; MDTS of the target usually limits it further. */
#define NVME_TCP_MAX_XFER_SIZE (1u << 20)
/* Admin queues take in-capsule data up to 8 KiB (NVMe/TCP 1.0, 3.3.1). */
#define NVME_TCP_ADMIN_ICD 8192u
/* Receive staging buffer: one recv per poll picks up many small PDUs. */
#define NVME_TCP_RBUF_SIZE (64u * 1024)
/* Payloads this large are read straight into the caller's buffers (no staging copy). */
#define NVME_TCP_DIRECT_READ_MIN 8192u

/* One outgoing PDU: header (+ digest + pad), optional data iovecs, optional data digest. */
struct nvme_tcp_pdu_tx {
	TAILQ_ENTRY(nvme_tcp_pdu_tx) link;
	/* bytes already written to the socket */
	uint32_t sent;
	uint32_t total;
	uint16_t hdr_len; /* header + header digest + padding */
	bool has_ddgst;
	bool queued;
	int iovcnt;
	uint8_t ddgst[USK_NVME_TCP_DIGEST_LEN];
	struct iovec iov[NVME_TCP_MAX_SGE];
	/* CapsuleCmd (72) + digest + pad to PDO; ICReq 128 */
	uint8_t hdr[sizeof(struct usk_nvme_tcp_ic_req) + USK_NVME_TCP_DIGEST_LEN +
		    USK_NVME_TCP_PDO_MAX_ALIGN];
};

enum nvme_tcp_req_state {
	NVME_TCP_REQ_FREE = 0,
	NVME_TCP_REQ_ACTIVE,
};

/* Per-slot request state; the slot index is the cid. */
struct nvme_tcp_req {
	struct nvme_request *req;
	uint16_t cid;
	uint8_t state; /* enum nvme_tcp_req_state */
	bool c2h;      /* data flows controller to host */
	bool in_capsule;
	/* the capsule (or an H2CData PDU) is still being written */
	bool send_pending;
	/* a CapsuleResp arrived while send_pending: complete once the send ends */
	bool resp_pending;
	int iovcnt;
	uint32_t len;	       /* data bytes */
	uint32_t c2h_received; /* C2HData bytes placed so far (in order) */
	/* R2T being served */
	uint16_t ttag;
	uint32_t r2t_end;    /* r2to + r2tl */
	uint32_t h2c_offset; /* next H2CData offset to send */
	struct usk_nvme_cpl rsp;
	TAILQ_ENTRY(nvme_tcp_req) link; /* free list */
	struct iovec iov[NVME_TCP_MAX_SGE];
	struct nvme_tcp_pdu_tx pdu;
};

enum nvme_tcp_conn_state {
	NVME_TCP_CONN_IDLE = 0,	       /* no socket */
	NVME_TCP_CONN_SOCK_CONNECTING, /* non-blocking TCP connect in progress */
	NVME_TCP_CONN_ICREQ_SENT,      /* waiting for ICResp */
	NVME_TCP_CONN_FABRIC_CONNECT,  /* Fabrics Connect outstanding */
	NVME_TCP_CONN_RUNNING,
	NVME_TCP_CONN_FAILED,
};

struct nvme_tcp_qpair {
	struct usk_nvme_qpair base;
	struct usk_sock *sock;
	enum nvme_tcp_conn_state conn_state;
	struct nvme_tcp_rx_params params;
	/* negotiated at ICResp */
	uint32_t maxh2cdata;
	uint8_t cpda;
	uint32_t max_icd; /* in-capsule data bytes we may send */
	uint64_t connect_deadline;

	TAILQ_HEAD(, nvme_tcp_pdu_tx) send_queue;
	struct nvme_tcp_req *reqs;
	uint32_t num_reqs;
	TAILQ_HEAD(, nvme_tcp_req) free_reqs;

	/* receive */
	struct nvme_tcp_rx rx;
	uint8_t *rbuf;
	uint32_t rbuf_off; /* first unparsed byte */
	uint32_t rbuf_end; /* end of valid bytes */
	/* the request whose C2HData payload is being received */
	struct nvme_tcp_req *rx_req;
	uint8_t discard[USK_NVME_TCP_TERM_REQ_PDU_MAX_SIZE];

	struct nvme_tcp_pdu_tx ctrl_pdu; /* ICReq, H2CTermReq */
};

static inline struct nvme_tcp_qpair *
nvme_tcp_qpair(struct usk_nvme_qpair *qpair)
{
	return USK_CONTAINEROF(qpair, struct nvme_tcp_qpair, base);
}

/* nvme_tcp_qpair.c */
int nvme_tcp_qpair_alloc_reqs(struct nvme_tcp_qpair *tq, uint32_t n);
void nvme_tcp_qpair_free_reqs(struct nvme_tcp_qpair *tq);
int nvme_tcp_qpair_submit_request(struct usk_nvme_qpair *qpair, struct nvme_request *req);
int32_t nvme_tcp_qpair_process_completions(struct usk_nvme_qpair *qpair, uint32_t max);
void nvme_tcp_qpair_abort_reqs(struct usk_nvme_qpair *qpair, uint32_t dnr);
/* Queue a PDU for sending (hdr and iov already filled). */
void nvme_tcp_pdu_queue(struct nvme_tcp_qpair *tq, struct nvme_tcp_pdu_tx *pdu);
/* One writev of the send queue. Returns 0 or -errno (connection dead). */
int nvme_tcp_flush(struct nvme_tcp_qpair *tq);
/* Mark the connection dead (logged once). */
void nvme_tcp_qpair_fail(struct nvme_tcp_qpair *tq, const char *why);

/* nvme_tcp.c: connection set-up steps driven from process_completions */
int nvme_tcp_handle_icresp(struct nvme_tcp_qpair *tq, const struct usk_nvme_tcp_ic_resp *icresp);
int nvme_tcp_connect_progress(struct nvme_tcp_qpair *tq);
/* While SOCK_CONNECTING: 0 (still connecting, or connected and ICReq sent) or -errno (failed). */
int nvme_tcp_sock_connect_poll(struct nvme_tcp_qpair *tq);

#endif
