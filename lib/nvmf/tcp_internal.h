/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe/TCP transport internals shared by tcp.c (transport, listeners, groups) and tcp_qpair.c. */
#ifndef USK_NVMF_TCP_INTERNAL_H
#define USK_NVMF_TCP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "usk/nvme_tcp.h"
#include "usk/nvmf_transport.h"
#include "usk/sock.h"
#include "usk_internal/nvme_tcp_pdu.h"

#define TCP_DEFAULT_MAX_QUEUE_DEPTH	 128
#define TCP_DEFAULT_MAX_QPAIRS_PER_CTRLR 128
#define TCP_DEFAULT_IN_CAPSULE_DATA_SIZE 4096
#define TCP_DEFAULT_MAX_IO_SIZE		 131072
#define TCP_DEFAULT_IO_UNIT_SIZE	 131072
#define TCP_DEFAULT_MAX_AQ_DEPTH	 128
#define TCP_DEFAULT_NUM_SHARED_BUFFERS	 511
#define TCP_DEFAULT_BUF_CACHE_SIZE	 32
#define TCP_DEFAULT_ABORT_TIMEOUT_SEC	 1
#define TCP_DEFAULT_ACCEPTOR_POLL_RATE	 10000
/* Data asked for with an R2T that does not come within this fails and closes the connection. */
#define TCP_DEFAULT_R2T_TIMEOUT_MS 5000
/* ICReq and a successful Connect must complete within this after the TCP accept. */
#define TCP_DEFAULT_CONNECT_TIMEOUT_MS	   10000
#define TCP_DEFAULT_MAX_CONNS_PER_LISTENER 1024
/* Period of each poll group's timeout check. */
#define TCP_TIMEOUT_POLL_US	     100000
#define TCP_DEFAULT_C2H_SUCCESS	     true
#define TCP_DEFAULT_SOCK_PRIORITY    0
#define TCP_MAX_SOCK_PRIORITY	     16
#define TCP_MAX_IN_CAPSULE_DATA_SIZE 131072
/* Linux hosts send up to 8 KiB capsules on the admin queue (NVME_TCP_ADMIN_CCSZ). */
#define TCP_ADMIN_ICD_SIZE 8192
/* MAXH2CDATA we announce in ICResp. */
#define TCP_MAXH2CDATA 131072
/* Receive buffer of a connection: several PDUs are parsed from one recv(). */
#define TCP_RECV_BUF_SIZE 65536
/* Payloads at least this large are read straight into the request's buffers. */
#define TCP_DIRECT_READ_MIN 8192
/* Reads per connection per poll before giving other connections a turn. */
#define TCP_RECV_BUDGET 8
/* iovecs of one request's send: PDU header, data buffers, data digest, CapsuleResp. */
#define TCP_REQ_TX_IOV (USK_NVMF_REQ_MAX_BUFFERS + 3)
/* Room for a C2HData/R2T header, its digest and padding up to the host's alignment (HPDA). */
#define TCP_TX_HDR_MAX (24 + 4 + USK_NVME_TCP_PDO_MAX_ALIGN)

extern struct usk_log_flag USK_LOG_nvmf_tcp;

/*
 * Request life cycle. A request is FREE on the qpair's free list, or in exactly one of the
 * other states; the transport owns it except in EXECUTING (the core owns it).
 */
enum tcp_req_state {
	TCP_REQ_STATE_FREE = 0,
	/* capsule header received; in-capsule data (if any) is being received */
	TCP_REQ_STATE_NEW,
	/* over its qpair's or controller's share of buffers for host data (qpair's share_wait) */
	TCP_REQ_STATE_NEED_SHARE,
	/* waiting for data buffers (on the group's pending_buf_queue) */
	TCP_REQ_STATE_NEED_BUFFER,
	/* (TRANSFERRING_HOST_TO_CONTROLLER: also on the qpair's r2t_wait, oldest R2T first) */
	/* R2T queued/sent, receiving H2CData */
	TCP_REQ_STATE_TRANSFERRING_HOST_TO_CONTROLLER,
	/* given to usk_nvmf_request_exec */
	TCP_REQ_STATE_EXECUTING,
	/* C2HData and/or CapsuleResp queued on the qpair's send queue */
	TCP_REQ_STATE_TRANSFERRING_CONTROLLER_TO_HOST,
};

struct tcp_qpair;

/* A unit on a qpair's send queue: iovecs written in order; done() runs once all are sent. */
/* zero-copy sends of a connection whose completion may be outstanding at once */
#define TCP_ZC_WINDOW 4096

struct tcp_tx {
	STAILQ_ENTRY(tcp_tx) link;
	struct iovec *iov;
	int iovcnt;
	int idx;    /* first iovec not fully sent */
	size_t off; /* bytes of iov[idx] already sent */
	/* some bytes went out with MSG_ZEROCOPY, the last of them in send number zc_seq: done()
	 * waits (on the qpair's zc_wait) until the kernel has released that send */
	bool zc;
	uint32_t zc_seq;
	void (*done)(struct tcp_qpair *tq, struct tcp_tx *tx);
};

struct tcp_req {
	struct usk_nvmf_request req;
	union usk_nvmf_h2c_msg cmd;
	union usk_nvmf_c2h_msg rsp;
	enum tcp_req_state state;
	uint16_t ttag;	       /* index + 1, the R2T transfer tag */
	bool tx_queued;	       /* tx is on the qpair's send queue */
	bool uses_big_icd;     /* in-capsule data is in the qpair's big_icd_buf */
	uint32_t h2c_offset;   /* host data received so far */
	uint32_t wait_bufs;    /* reserved with usk_nvmf_qpair_data_wait_reserve until data came */
	uint64_t r2t_deadline; /* ticks: the host data must be in by then */
	uint8_t *icd_buf;      /* in-capsule data slot (in_capsule_data_size) */
	/* free list, group's pending_buf_queue, qpair's share_wait or r2t_wait (by state) */
	TAILQ_ENTRY(tcp_req) link;
	struct tcp_tx tx;
	/* ---- send staging; only touched when a response is built ---- */
	uint8_t tx_hdr[TCP_TX_HDR_MAX];
	uint8_t tx_rsp[sizeof(struct usk_nvme_tcp_rsp) + USK_NVME_TCP_DIGEST_LEN];
	uint8_t tx_ddgst[USK_NVME_TCP_DIGEST_LEN];
	struct iovec tx_iov[TCP_REQ_TX_IOV];
};

enum tcp_qpair_state {
	TCP_QPAIR_AWAIT_ICREQ = 0,
	TCP_QPAIR_RUNNING,
	/* fatal error or peer gone: nothing more is read; the core tears the qpair down */
	TCP_QPAIR_EXITING,
};

struct tcp_poll_group;
struct tcp_transport;

struct tcp_qpair {
	struct usk_nvmf_qpair qpair;
	struct tcp_transport *ttransport;
	struct tcp_poll_group *tgroup;
	struct usk_sock *sock;
	enum tcp_qpair_state state;
	bool in_flush_list;
	bool send_inflight; /* an async send (usk_sock_writev_async) is with the kernel */
	bool disconnect_started;
	bool close_after_send; /* a C2HTermReq is queued: close once it is out */
	uint8_t hpda;
	uint32_t maxr2t;
	struct nvme_tcp_rx_params params;
	struct nvme_tcp_rx rx;
	/* request whose payload rx is receiving (CapsuleCmd ICD or H2CData) */
	struct tcp_req *rx_req;
	bool rx_big_icd;
	/* receive buffer: bytes [rbuf_off, rbuf_len) are not parsed yet */
	uint8_t *rbuf;
	uint32_t rbuf_off;
	uint32_t rbuf_len;
	STAILQ_HEAD(, tcp_tx) send_queue;
	/* sent zero-copy, waiting for the kernel's completion (in send-number order) */
	STAILQ_HEAD(, tcp_tx) zc_wait;
	uint32_t zc_held; /* requests answered whose slot waits on zc_wait */
	/* zero-copy send numbers: [zc_base, zc_next) not all completed yet; the kernel may
	 * report them out of order (seen on loopback), so one bit per number in a window */
	uint32_t zc_base;
	uint32_t zc_next;
	uint64_t *zc_bits; /* TCP_ZC_WINDOW bits, allocated when zero-copy is on */
	TAILQ_HEAD(, tcp_req) free_reqs;
	TAILQ_HEAD(, tcp_req) r2t_wait;	   /* R2T sent, data not all in; oldest first */
	TAILQ_HEAD(, tcp_req) share_wait;  /* NEED_SHARE, FIFO */
	TAILQ_ENTRY(tcp_qpair) link;	   /* group's qpairs */
	TAILQ_ENTRY(tcp_qpair) flush_link; /* group's flush list */
	/* ---- cold ---- */
	/*
	 * reqs[ttag - 1]: one request until Connect (only Connect may come first), then the host's
	 * SQSIZE + 1 (tcp_qpair_set_sq_size): slot 0 stays the first request, the others live in
	 * sq_reqs / sq_icd_bufs.
	 */
	struct tcp_req **reqs;
	uint32_t num_reqs;
	uint32_t sq_limit; /* commands the host may have outstanding: SQSIZE + 1 */
	bool sq_sized;
	uint32_t outstanding; /* requests not FREE: the host's queue depth at the target */
	uint64_t completed;   /* commands the core completed (tcp_req_complete) */
	struct tcp_req *first_req;
	struct tcp_req *sq_reqs;
	uint8_t *sq_icd_bufs;
	uint8_t *icd_bufs;	       /* the first request's in-capsule buffer */
	uint64_t accept_tsc;	       /* connect timeout runs from here */
	struct tcp_listener *listener; /* counts this connection */
	uint8_t *big_icd_buf; /* one larger in-capsule buffer (admin capsules up to 8 KiB) */
	bool big_icd_busy;
	struct tcp_tx icresp_tx;
	struct iovec icresp_iov[1];
	struct usk_nvme_tcp_ic_resp icresp;
	struct tcp_tx term_tx;
	struct iovec term_iov[1];
	uint8_t term_buf[USK_NVME_TCP_TERM_REQ_PDU_MAX_SIZE];
	uint8_t term_data[USK_NVME_TCP_TERM_REQ_ERROR_DATA_MAX_SIZE];
	struct usk_nvme_transport_id listen_trid;
	char peer_addr[USK_SOCK_ADDR_LEN];
	uint16_t peer_port;
	char local_addr[USK_SOCK_ADDR_LEN];
	uint16_t local_port;
};

struct tcp_poll_group {
	struct usk_nvmf_transport_poll_group group;
	struct usk_sock_group *sock_group;
	struct usk_interrupt *intr;
	TAILQ_HEAD(, tcp_qpair) qpairs;
	TAILQ_HEAD(, tcp_qpair) flush_list;
	TAILQ_HEAD(, tcp_req) pending_buf_queue;
	/* Interrupt mode: work that no fd event will announce (a response queued by a bdev
	 * completion, a request waiting for a buffer) is picked up by a message to this thread. */
	bool in_poll;
	bool wake_pending; /* a tcp_group_wake message is in flight */
	bool destroyed;	   /* destroy ran while wake_pending: the message frees the group */
	struct usk_poller *timeout_poller; /* R2T data and connect timeouts */
	uint32_t share_wait_now;	   /* requests in NEED_SHARE on this group's qpairs */
	/* statistics (nvmf_get_stats) */
	uint64_t pending_buf_waits; /* times a request had to wait for a data buffer */
	uint32_t pending_buf_now;
	uint64_t share_waits; /* times a request waited for its qpair's/ctrlr's share */
	uint64_t r2t_timeouts;
	uint64_t connect_timeouts;
	uint64_t sq_overflows; /* hosts that sent more commands than SQSIZE + 1 */
	uint64_t fatal_errors;
	uint64_t qpairs_accepted;
	uint64_t zcopy_sends; /* sendmsg calls with MSG_ZEROCOPY */
	uint64_t zcopy_done;  /* their completions */
};

struct tcp_listener {
	/* Connections alive from this listener (decremented on their poll group threads). A
	 * stopped listener with connections left waits on closed_listeners until they are gone. */
	_Atomic uint32_t num_conns;
	uint64_t refused;	 /* over max_connections_per_listener */
	uint64_t refused_logged; /* ticks of the last log line about it */
	struct usk_sock *sock;
	struct usk_interrupt *intr; /* interrupt mode: accept when the listen fd is readable */
	struct usk_nvme_transport_id trid;
	TAILQ_ENTRY(tcp_listener) link;
};

struct tcp_transport {
	struct usk_nvmf_transport transport;
	bool c2h_success;
	int sock_priority;
	uint32_t r2t_timeout_ms;
	uint32_t connect_timeout_ms;
	uint32_t max_conns_per_listener;
	/* cap on buffers held by commands waiting for host data: 0 = a share of the pool ceiling */
	uint32_t max_r2t_bufs_per_qpair;
	uint32_t max_r2t_bufs_per_ctrlr;
	uint32_t io_bufs; /* buffers of one max_io_size I/O: the least a share is */
	/* socket implementation of the poll groups ("" = usk_sock_get_default_impl()) */
	char sock_impl[USK_SOCK_IMPL_NAME_MAX];
	struct usk_poller *accept_poller;
	TAILQ_HEAD(, tcp_listener) listeners;
	TAILQ_HEAD(, tcp_listener) closed_listeners;
};

static inline struct tcp_qpair *
tcp_qpair_from(struct usk_nvmf_qpair *qpair)
{
	return USK_CONTAINEROF(qpair, struct tcp_qpair, qpair);
}

static inline struct tcp_req *
tcp_req_from(struct usk_nvmf_request *req)
{
	return USK_CONTAINEROF(req, struct tcp_req, req);
}

/* tcp_qpair.c */
int tcp_qpair_set_sq_size(struct usk_nvmf_qpair *qpair, uint32_t entries);
/* fail commands whose R2T data is late, close connections that never connected */
int tcp_group_timeout_poll(void *arg);
/* retry requests over their share; returns how many got going */
int tcp_group_process_share_wait(struct tcp_poll_group *tg);
int tcp_qpair_create(struct tcp_transport *tt, struct usk_sock *sock,
		     const struct usk_nvme_transport_id *listen_trid, struct tcp_qpair **out);
void tcp_qpair_destroy(struct tcp_qpair *tq);
/* socket readable (sock group callback) */
void tcp_qpair_sock_cb(void *arg, struct usk_sock_group *group, struct usk_sock *sock);
/* write what is queued; returns bytes written or < 0 when the qpair failed */
/* Route tq's zero-copy send completions to it (when its socket has zero-copy sends on). */
void tcp_qpair_zc_setup(struct tcp_qpair *tq);
int tcp_qpair_flush(struct tcp_qpair *tq);
/* retry requests waiting for buffers; returns how many got going */
int tcp_group_process_pending(struct tcp_poll_group *tg);
int tcp_req_complete(struct usk_nvmf_request *req);
int tcp_req_free(struct usk_nvmf_request *req);
bool tcp_qpair_abort_request(struct usk_nvmf_qpair *qpair, uint16_t cid);
/* stop reading, drop transport-held requests and tell the core (idempotent) */
void tcp_qpair_disconnect(struct tcp_qpair *tq);
/* requests held by the transport (not executing) are released: called on teardown */
void tcp_qpair_release_all(struct tcp_qpair *tq);

/* Interrupt mode: make sure the group is polled soon (no-op when polled or already polling). */
void tcp_group_wake(struct tcp_poll_group *tg);

#endif
