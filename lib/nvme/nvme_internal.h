/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/nvme internals shared by the transport-independent core (nvme*.c) and the transports
 * (pcie*.c, tcp*.c): the transport ops table, requests, the qpair and controller base structs.
 *
 * How a transport plugs in
 *  - It defines a const struct usk_nvme_transport_ops and registers it with
 *    USK_NVME_TRANSPORT_REGISTER(name, ops). The core never names a transport.
 *  - Its controller object embeds struct usk_nvme_ctrlr (anywhere; use USK_CONTAINEROF) and its
 *    qpair objects embed struct usk_nvme_qpair. ops->ctrlr_construct allocates the controller,
 *    calls nvme_ctrlr_construct() on the base, creates the admin qpair object (calling
 *    nvme_qpair_init() with qid 0) and stores it in ctrlr->adminq. The core then connects the
 *    admin queue (ops->ctrlr_connect_qpair) and runs the init state machine, using the register
 *    ops for VS/CAP/CC/CSTS and nvme_qpair_submit_request() for admin commands.
 *  - Requests: the core allocates a struct nvme_request from the qpair's preallocated pool
 *    (qpair->free_req), fills cmd (without cid), payload and cb, and calls
 *    ops->qpair_submit_request(). The transport picks the cid (its tracker/slot index), owns the
 *    request until it calls nvme_complete_request(), exactly once, with the completion (cpl->cid
 *    set to the request's cid). It returns -EAGAIN from submit when it has no free slot: the core
 *    then queues the request and resubmits it after completions. Any other negative return fails
 *    the request (the core completes it with an error status).
 *  - ops->qpair_process_completions() runs on the thread that owns the qpair. It returns:
 *      >= 0     the number of completions reaped (up to max); the qpair is connected;
 *      -EAGAIN  the qpair is still connecting (state CONNECTING): nothing failed, poll again;
 *               completions reaped during the connect (e.g. its Fabrics Connect) are not counted;
 *      other    (-ENXIO) the transport connection is dead; on the way there the transport
 *               completes every outstanding request with ABORTED - SQ DELETION
 *               (nvme_qpair_abort_all_reqs helps) and sets the qpair state to DISCONNECTED.
 *    nvme_qpair_poll() passes -EAGAIN through and treats only the other negatives as failure;
 *    every core caller (init, admin polling, the synchronous I/O qpair connect) does the same.
 *  - Connecting a qpair is non-blocking: ops->ctrlr_connect_qpair() starts it and sets state
 *    CONNECTING; process_completions advances it (returning -EAGAIN meanwhile) and sets
 *    CONNECTED (or DISCONNECTED on failure; qpair->transport_failure_reason says why). PCIe's
 *    admin queue is CONNECTED at once; its I/O qpairs stay CONNECTING until the Create I/O CQ/SQ
 *    commands complete on the admin queue. The core waits for CONNECTED, then marks it ENABLED.
 *  - Registers: PCIe implements the synchronous get/set_reg ops (MMIO). Fabrics implement the
 *    _async variants with Property Get/Set on the admin queue (nvme_fabric.c does this for every
 *    fabrics transport). The core uses an _async op where present, else the sync one.
 *
 * Locking: ctrlr->ctrlr_lock (recursive) protects the admin queue, the list of I/O qpairs and
 * the qid bitmap, because admin commands may come from any thread. I/O qpairs are never locked.
 */
#ifndef USK_NVME_INTERNAL_H
#define USK_NVME_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/queue.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/nvme.h"
#include "usk/nvme_spec.h"
#include "usk/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct usk_nvme_transport_ops;
struct nvme_request;

/* glibc's sys/queue.h lacks the _SAFE iterators. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar) \
	for ((var) = TAILQ_FIRST((head)); (var) && ((tvar) = TAILQ_NEXT((var), field), 1); \
	     (var) = (tvar))
#endif

/* Log with the controller's address in front (trtype traddr[:trsvcid]). */
#define NVME_CTRLR_ERRLOG(ctrlr, fmt, ...) USK_ERRLOG("[%s] " fmt, (ctrlr)->log_name, ##__VA_ARGS__)
#define NVME_CTRLR_WARNLOG(ctrlr, fmt, ...) \
	USK_WARNLOG("[%s] " fmt, (ctrlr)->log_name, ##__VA_ARGS__)
#define NVME_CTRLR_NOTICELOG(ctrlr, fmt, ...) \
	USK_NOTICELOG("[%s] " fmt, (ctrlr)->log_name, ##__VA_ARGS__)
#define NVME_CTRLR_DEBUGLOG(ctrlr, fmt, ...) \
	USK_DEBUGLOG(nvme, "[%s] " fmt, (ctrlr)->log_name, ##__VA_ARGS__)

/* Sentinel for "no timeout" in state and request deadlines. */
#define NVME_TIMEOUT_INFINITE 0
/* Keep-alive is sent at half the negotiated KATO, as the spec recommends. */
#define NVME_KEEP_ALIVE_DIVISOR 2
/* Outstanding AERs the host keeps posted (capped by Identify AERL+1). */
#define NVME_MAX_ASYNC_EVENTS 8
/* Admin requests preallocated per controller (init needs a handful; AERs stay outstanding). */
#define NVME_ADMIN_REQUESTS 64
/* Largest default transfer when the controller reports MDTS = 0 (no limit). */
#define NVME_MAX_XFER_SIZE_DEFAULT (2u * 1024 * 1024)
/* Memory page size the host uses (CC.MPS = 0). */
#define NVME_HOST_PAGE_SIZE 4096u

/* ---- requests ---- */

enum nvme_payload_type {
	NVME_PAYLOAD_TYPE_INVALID = 0,
	/* one virtually contiguous buffer: contig_or_cb_arg */
	NVME_PAYLOAD_TYPE_CONTIG,
	/* scattered: reset_sgl_fn/next_sge_fn with contig_or_cb_arg as their argument */
	NVME_PAYLOAD_TYPE_SGL,
};

/** Where a request's data lives. For SGL payloads the transport walks the segments itself. */
struct nvme_payload {
	usk_nvme_req_reset_sgl_cb reset_sgl_fn; /* NULL for CONTIG */
	usk_nvme_req_next_sge_cb next_sge_fn;
	void *contig_or_cb_arg;
	void *md; /* separate metadata buffer, or NULL */
};

static inline enum nvme_payload_type
nvme_payload_type(const struct nvme_payload *payload)
{
	return payload->reset_sgl_fn ? NVME_PAYLOAD_TYPE_SGL : NVME_PAYLOAD_TYPE_CONTIG;
}

#define NVME_PAYLOAD_CONTIG(buf, md_) \
	(struct nvme_payload) \
	{ \
		.reset_sgl_fn = NULL, .next_sge_fn = NULL, .contig_or_cb_arg = (buf), .md = (md_) \
	}
#define NVME_PAYLOAD_SGL(reset, next, arg, md_) \
	(struct nvme_payload) \
	{ \
		.reset_sgl_fn = (reset), .next_sge_fn = (next), .contig_or_cb_arg = (arg), \
		.md = (md_) \
	}

/**
 * One command. Preallocated per qpair (qpair->req_buf), never allocated on the I/O path.
 * Invariants: a request is on exactly one of qpair->free_req, qpair->queued_req, the transport's
 * outstanding set (between submit and nvme_complete_request), or a parent's children list.
 * The hot fields (touched on every submit and completion) come first.
 */
struct nvme_request {
	struct usk_nvme_cmd cmd; /* cid filled in by the transport */

	/* byte offset of this request's data within payload (children of a split request) */
	uint32_t payload_offset;
	uint32_t md_offset;
	/* data bytes the command moves (0 for none) */
	uint32_t payload_size;
	/* number of children still outstanding (parent of a split request) */
	uint16_t num_children;
	/* the transport's cid for this request while outstanding */
	uint16_t cid;

	struct nvme_payload payload;
	usk_nvme_cmd_cb cb_fn;
	void *cb_arg;
	struct usk_nvme_qpair *qpair;

	/* submit time (usk_get_ticks) when a timeout callback is registered, else 0 */
	uint64_t submit_tick;
	STAILQ_ENTRY(nvme_request) stailq;     /* free_req / queued_req */
	TAILQ_ENTRY(nvme_request) outstanding; /* qpair->outstanding (core's view) */

	/* ---- cold: split requests, admin bounce buffers ---- */
	struct nvme_request *parent;
	TAILQ_HEAD(, nvme_request) children;
	TAILQ_ENTRY(nvme_request) child_tailq;
	/* first error completion of any child (parent only) */
	struct usk_nvme_cpl parent_status;
	/* caller's non-DMA buffer for admin commands: data copied via payload (a DMA bounce) */
	void *user_buffer;
	usk_nvme_cmd_cb user_cb_fn;
	void *user_cb_arg;
	/* the timeout callback already ran for this request */
	bool timed_out;
	/* retried after the transport queue was full */
	uint8_t retries;
	/* transport-private word (e.g. an index); the core never touches it */
	uint64_t transport_ctx;
};

/* ---- qpairs ---- */

enum nvme_qpair_state {
	NVME_QPAIR_DISCONNECTED = 0,
	NVME_QPAIR_DISCONNECTING,
	NVME_QPAIR_CONNECTING,
	NVME_QPAIR_CONNECTED, /* transport connected; core not yet submitting */
	NVME_QPAIR_ENABLING,
	NVME_QPAIR_ENABLED, /* commands flow */
	NVME_QPAIR_DESTROYING,
};

enum nvme_qpair_failure_reason {
	NVME_QPAIR_FAILURE_NONE = 0,
	NVME_QPAIR_FAILURE_LOCAL,    /* we disconnected it */
	NVME_QPAIR_FAILURE_REMOTE,   /* the peer closed / reset the connection */
	NVME_QPAIR_FAILURE_TIMEOUT,  /* connect or keep-alive timed out */
	NVME_QPAIR_FAILURE_PROTOCOL, /* the peer sent something invalid */
	NVME_QPAIR_FAILURE_UNKNOWN,
};

/**
 * Base of every transport's qpair. Owned by one thread (the admin qpair: under ctrlr_lock).
 */
struct usk_nvme_qpair {
	struct usk_nvme_ctrlr *ctrlr;
	const struct usk_nvme_transport_ops *transport;
	uint16_t id; /* 0 = admin */
	uint8_t qprio;
	uint8_t state;			  /* enum nvme_qpair_state */
	uint8_t transport_failure_reason; /* enum nvme_qpair_failure_reason */
	bool is_admin;
	/* inside process_completions: frees are deferred to its end */
	bool in_completion_context;
	bool delete_after_completion;
	bool delay_cmd_submit;
	/* requests submitted and not yet completed (core's count) */
	uint32_t num_outstanding;
	uint32_t num_entries; /* queue size the transport uses */

	STAILQ_HEAD(, nvme_request) free_req;
	/* requests waiting for a transport slot or for the qpair to be enabled again */
	STAILQ_HEAD(, nvme_request) queued_req;
	/* outstanding in submit order; oldest first (timeout scan, abort by cid) */
	TAILQ_HEAD(, nvme_request) outstanding;

	/* ---- cold ---- */
	struct nvme_request *req_buf;
	uint32_t num_requests;
	/* timeout check runs every ~10 ms, not per poll */
	uint64_t next_timeout_check_tick;
	TAILQ_ENTRY(usk_nvme_qpair) tailq; /* ctrlr->active_io_qpairs */
	/* Fabrics Connect in flight on this qpair (nvme_fabric.c), else NULL */
	void *fabric_connect_ctx;
	/* qpair opts it was allocated with */
	struct usk_nvme_io_qpair_opts opts;
};

/* ---- controllers ---- */

/** Init state machine (the state list of SPDK's nvme_ctrlr_process_init, seed 004). */
enum nvme_ctrlr_state {
	NVME_CTRLR_STATE_INIT_DELAY = 0,
	NVME_CTRLR_STATE_CONNECT_ADMINQ,
	NVME_CTRLR_STATE_WAIT_FOR_CONNECT_ADMINQ,
	NVME_CTRLR_STATE_READ_VS,
	NVME_CTRLR_STATE_READ_VS_WAIT_FOR_VS,
	NVME_CTRLR_STATE_READ_CAP,
	NVME_CTRLR_STATE_READ_CAP_WAIT_FOR_CAP,
	NVME_CTRLR_STATE_CHECK_EN,
	NVME_CTRLR_STATE_CHECK_EN_WAIT_FOR_CC,
	NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_1,
	NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_1_WAIT_FOR_CSTS,
	NVME_CTRLR_STATE_SET_EN_0,
	NVME_CTRLR_STATE_SET_EN_0_WAIT_FOR_CC,
	NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0,
	NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0_WAIT_FOR_CSTS,
	NVME_CTRLR_STATE_DISABLED,
	NVME_CTRLR_STATE_ENABLE,
	NVME_CTRLR_STATE_ENABLE_WAIT_FOR_CC,
	NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1,
	NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1_WAIT_FOR_CSTS,
	NVME_CTRLR_STATE_RESET_ADMIN_QUEUE,
	NVME_CTRLR_STATE_IDENTIFY,
	NVME_CTRLR_STATE_WAIT_FOR_IDENTIFY,
	NVME_CTRLR_STATE_CONFIGURE_AER,
	NVME_CTRLR_STATE_WAIT_FOR_CONFIGURE_AER,
	NVME_CTRLR_STATE_SET_KEEP_ALIVE_TIMEOUT,
	NVME_CTRLR_STATE_WAIT_FOR_KEEP_ALIVE_TIMEOUT,
	NVME_CTRLR_STATE_SET_NUM_QUEUES,
	NVME_CTRLR_STATE_WAIT_FOR_SET_NUM_QUEUES,
	NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS,
	NVME_CTRLR_STATE_WAIT_FOR_IDENTIFY_ACTIVE_NS,
	NVME_CTRLR_STATE_IDENTIFY_NS,
	NVME_CTRLR_STATE_WAIT_FOR_IDENTIFY_NS,
	NVME_CTRLR_STATE_IDENTIFY_ID_DESCS,
	NVME_CTRLR_STATE_WAIT_FOR_IDENTIFY_ID_DESCS,
	NVME_CTRLR_STATE_SET_SUPPORTED_LOG_PAGES,
	NVME_CTRLR_STATE_SET_SUPPORTED_FEATURES,
	NVME_CTRLR_STATE_SET_DB_BUF_CFG,
	NVME_CTRLR_STATE_WAIT_FOR_DB_BUF_CFG,
	NVME_CTRLR_STATE_SET_HOST_ID,
	NVME_CTRLR_STATE_WAIT_FOR_HOST_ID,
	NVME_CTRLR_STATE_TRANSPORT_READY,
	NVME_CTRLR_STATE_READY,
	NVME_CTRLR_STATE_ERROR,
	NVME_CTRLR_STATE_DISCONNECTED,
};

/** Name of a state for logs ("read vs", "wait for identify", ...). */
const char *nvme_ctrlr_state_string(enum nvme_ctrlr_state state);

/** One namespace; lives in ctrlr->ns[nsid - 1] (allocated for NN entries). */
struct usk_nvme_ns {
	struct usk_nvme_ctrlr *ctrlr;
	uint32_t id;
	bool active;
	uint32_t sector_size;	    /* data bytes per block */
	uint32_t extended_lba_size; /* data + interleaved metadata */
	uint32_t md_size;
	uint32_t sectors_per_max_io;
	uint32_t sectors_per_stripe; /* NOIOB, 0 if none */
	uint32_t flags;		     /* USK_NVME_NS_* below */
	uint64_t num_sectors;
	struct usk_nvme_ns_data nsdata;
	bool has_uuid;
	bool has_nguid;
	bool has_eui64;
	uint8_t uuid[16];
	uint8_t nguid[16];
	uint8_t eui64[8];
};

#define USK_NVME_NS_COMPARE_SUPPORTED	   (1u << 0)
#define USK_NVME_NS_DSM_SUPPORTED	   (1u << 1)
#define USK_NVME_NS_WRITE_ZEROES_SUPPORTED (1u << 2)
#define USK_NVME_NS_FLUSH_SUPPORTED	   (1u << 3)

/* Register read/write completion for the async register ops. */
typedef void (*nvme_reg_cb)(void *cb_arg, uint64_t value, const struct usk_nvme_cpl *cpl);

/**
 * Base of every transport's controller. Fields below ctrlr_lock are touched only with it held
 * (or by the admin thread before the controller is handed to the user).
 */
struct usk_nvme_ctrlr {
	struct usk_nvme_transport_id trid;
	struct usk_nvme_ctrlr_opts opts;
	const struct usk_nvme_transport_ops *transport;
	/* "TCP 127.0.0.1:4420" / "PCIe 0000:00:04.0": prefix of this controller's log lines */
	char log_name[USK_NVMF_TRADDR_MAX_LEN + 48];

	pthread_mutex_t ctrlr_lock; /* recursive */
	struct usk_nvme_qpair *adminq;

	/* ---- init state machine ---- */
	enum nvme_ctrlr_state state;
	/* usk_get_ticks() deadline of the current state, NVME_TIMEOUT_INFINITE for none */
	uint64_t state_timeout_tsc;
	/* a register read/admin command of the current state is in flight */
	bool state_cmd_pending;
	/* initialisation failed or the controller died; cleared by a successful reset */
	bool is_failed;
	bool is_resetting;
	bool is_removed;
	bool is_destructed;
	/* when init reaches READY the controller came back from a reset: reconnect I/O qpairs */
	bool in_reset;
	/* index of the next namespace in IDENTIFY_NS / IDENTIFY_ID_DESCS */
	uint32_t init_ns_idx;
	/* negative errno of the last init failure (for reconnect_poll_async) */
	int init_error;

	/* ---- values read at init ---- */
	union usk_nvme_cap_register cap;
	union usk_nvme_vs_register vs;
	union usk_nvme_csts_register csts; /* last value read */
	union usk_nvme_cc_register cc;	   /* last value written */
	struct usk_nvme_ctrlr_data cdata;
	uint16_t cntlid;
	uint32_t num_ns;	  /* NN */
	struct usk_nvme_ns *ns;	  /* num_ns entries */
	uint32_t *active_ns_list; /* sorted active nsids */
	uint32_t active_ns_count;
	uint32_t max_xfer_size; /* bytes */
	uint32_t min_page_size; /* 1 << (12 + CAP.MPSMIN) */
	uint32_t page_size;	/* host memory page size in CC.MPS */
	uint32_t num_io_queues; /* granted */
	uint32_t max_sges;
	uint16_t max_cmd_timeouts_logged;
	bool log_page_supported[256];
	bool feature_supported[256];

	/* ---- keep-alive ---- */
	uint64_t keep_alive_interval_ticks; /* 0 = off */
	uint64_t next_keep_alive_tick;
	bool keep_alive_outstanding;

	/* ---- AER ---- */
	usk_nvme_aer_cb aer_cb_fn;
	void *aer_cb_arg;
	uint32_t num_aers;

	/* ---- timeouts ---- */
	usk_nvme_timeout_cb timeout_cb_fn;
	void *timeout_cb_arg;
	uint64_t timeout_io_ticks;
	uint64_t timeout_admin_ticks;

	/* ---- I/O qpairs ---- */
	TAILQ_HEAD(, usk_nvme_qpair) active_io_qpairs;
	/* bit set = qid free; bit 0 (admin) never set */
	uint64_t *free_io_qids;
	uint32_t free_io_qids_words;

	/* remove callback of the probe that attached it */
	usk_nvme_remove_cb remove_cb;
	void *remove_cb_ctx;
	TAILQ_ENTRY(usk_nvme_ctrlr) tailq; /* probe ctx init list / global attached list */
	/* entries of ns[] (largest active nsid; <= num_ns) */
	uint32_t ns_array_size;
	/* keep-alive outstanding since (ticks), for the host-side keep-alive timeout */
	uint64_t keep_alive_sent_tick;
	/* I/O qpairs are reconnected by usk_nvme_ctrlr_reset itself (sync reset) */
	bool sync_reset;
	/* namespace rescan after a Namespace Attribute Changed AEN (nvme_ns_rescan.c) */
	struct ns_rescan *ns_rescan;
	bool ns_rescan_again; /* another AEN arrived during the rescan */
};

/* ---- transport ops ---- */

/**
 * What a transport implements. Ops marked "may be NULL" are checked by the core.
 * All run on the thread that owns the object passed (admin ops: with ctrlr_lock held).
 */
struct usk_nvme_transport_ops {
	/* "PCIe", "TCP" (matched case-insensitively against trid->trstring) */
	const char *name;
	enum usk_nvme_transport_type type;

	/**
	 * Allocate and construct a controller for trid (devhandle: transport-specific, e.g. the PCI
	 * device from ctrlr_scan; NULL for fabrics). Must call nvme_ctrlr_construct() and create
	 * ctrlr->adminq (nvme_qpair_init with qid 0, opts->admin_queue_size entries,
	 * NVME_ADMIN_REQUESTS requests). Returns the base or NULL (logged).
	 */
	struct usk_nvme_ctrlr *(*ctrlr_construct)(const struct usk_nvme_transport_id *trid,
						  const struct usk_nvme_ctrlr_opts *opts,
						  void *devhandle);

	/**
	 * Find controllers (PCIe: enumerate/claim devices matching trid, or all when traddr is "")
	 * and call nvme_probe_ctx_add_ctrlr(probe_ctx, trid, devhandle) for each.
	 * May be NULL: the core then treats trid as the one controller (fabrics direct connect).
	 */
	int (*ctrlr_scan)(struct usk_nvme_probe_ctx *probe_ctx,
			  const struct usk_nvme_transport_id *trid);

	/** Free everything of the controller, including the adminq object. Called last. */
	void (*ctrlr_destruct)(struct usk_nvme_ctrlr *ctrlr);

	/**
	 * Called in state ENABLE right before CC.EN is set to 1 (PCIe: program AQA/ASQ/ACQ from
	 * the admin queue's memory). May be NULL.
	 */
	int (*ctrlr_enable)(struct usk_nvme_ctrlr *ctrlr);

	/* Synchronous register access (PCIe MMIO). May be NULL when the _async ones are set. */
	int (*ctrlr_set_reg_4)(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t value);
	int (*ctrlr_set_reg_8)(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t value);
	int (*ctrlr_get_reg_4)(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t *value);
	int (*ctrlr_get_reg_8)(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t *value);

	/*
	 * Asynchronous register access (fabrics Property Get/Set through the admin queue). cb runs
	 * from admin queue processing exactly once if 0 is returned. May be NULL (sync ones used).
	 */
	int (*ctrlr_set_reg_4_async)(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t value,
				     nvme_reg_cb cb, void *cb_arg);
	int (*ctrlr_set_reg_8_async)(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t value,
				     nvme_reg_cb cb, void *cb_arg);
	int (*ctrlr_get_reg_4_async)(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, nvme_reg_cb cb,
				     void *cb_arg);
	int (*ctrlr_get_reg_8_async)(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, nvme_reg_cb cb,
				     void *cb_arg);

	/** Largest transfer per command the transport supports (bytes), before MDTS. */
	uint32_t (*ctrlr_get_max_xfer_size)(struct usk_nvme_ctrlr *ctrlr);
	/** Largest number of SGEs per command (payload segments). */
	uint16_t (*ctrlr_get_max_sges)(struct usk_nvme_ctrlr *ctrlr);

	/**
	 * Allocate an I/O qpair object with id qid (the core chose it), calling nvme_qpair_init().
	 * Do not connect it yet. NULL on error.
	 */
	struct usk_nvme_qpair *(*ctrlr_create_io_qpair)(struct usk_nvme_ctrlr *ctrlr, uint16_t qid,
							const struct usk_nvme_io_qpair_opts *opts);
	/** Free an I/O qpair object (already disconnected, no outstanding requests). */
	int (*ctrlr_delete_io_qpair)(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair);

	/**
	 * Start connecting qpair (admin or I/O); non-blocking (see the file comment). PCIe I/O
	 * qpairs: send Create I/O CQ/SQ on the admin queue (the admin thread polls them).
	 * Returns 0 (state CONNECTING or CONNECTED) or -errno.
	 */
	int (*ctrlr_connect_qpair)(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair);
	/**
	 * Disconnect qpair: close the connection / delete the SQ and CQ, set state DISCONNECTED.
	 * Outstanding requests are then aborted by the core with qpair_abort_reqs.
	 */
	void (*ctrlr_disconnect_qpair)(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair);

	/**
	 * Complete every request the transport holds for qpair with ABORTED - SQ DELETION (dnr set
	 * if dnr), through nvme_complete_request().
	 */
	void (*qpair_abort_reqs)(struct usk_nvme_qpair *qpair, uint32_t dnr);

	/** Submit req (see the file comment). 0, -EAGAIN (no slot: queued by the core) or -errno.
	 */
	int (*qpair_submit_request)(struct usk_nvme_qpair *qpair, struct nvme_request *req);

	/** Reap completions (see the file comment). max 0 = no limit beyond the queue size. */
	int32_t (*qpair_process_completions)(struct usk_nvme_qpair *qpair,
					     uint32_t max_completions);

	/** Interrupt-mode fd of qpair, or -ENOTSUP. May be NULL. */
	int (*qpair_get_fd)(struct usk_nvme_qpair *qpair);

	/**
	 * Called when the controller reaches READY after (re)initialisation: transports that need
	 * per-controller set-up after Identify (PCIe: shadow doorbells, CMB) do it here. May be
	 * NULL.
	 */
	int (*ctrlr_ready)(struct usk_nvme_ctrlr *ctrlr);
};

/** Register a transport (called by USK_NVME_TRANSPORT_REGISTER's constructor). */
void usk_nvme_transport_register(const struct usk_nvme_transport_ops *ops);
/** The transport for a trtype (or trstring for custom ones), NULL if none is registered. */
const struct usk_nvme_transport_ops *nvme_get_transport(const struct usk_nvme_transport_id *trid);

#define USK_NVME_TRANSPORT_REGISTER(name, ops) \
	__attribute__((constructor)) static void usk_nvme_transport_register_##name(void) \
	{ \
		usk_nvme_transport_register(ops); \
	}

/* ---- core functions for transports ---- */

/** Initialise the base of a controller (lock, lists, opts copy, log_name, state INIT_DELAY). */
int nvme_ctrlr_construct(struct usk_nvme_ctrlr *ctrlr, const struct usk_nvme_transport_id *trid,
			 const struct usk_nvme_ctrlr_opts *opts);
/** Release what nvme_ctrlr_construct allocated (called by the core before ops->ctrlr_destruct). */
void nvme_ctrlr_destruct_base(struct usk_nvme_ctrlr *ctrlr);
/**
 * (Re)build ctrlr->ns for the sorted active nsids list (taking ownership of list). The array
 * holds min(NN, 1024) entries or up to the largest active nsid, so namespaces attached later
 * within NN keep every existing struct in place. Returns 0 or -ENOMEM (list not taken).
 */
int nvme_ctrlr_ns_array_build(struct usk_nvme_ctrlr *ctrlr, uint32_t *list, uint32_t count);
/**
 * Namespace Attribute Changed AEN: rescan the namespaces (admin commands, non-blocking), then
 * pass aen to the AER callback. Admin queue thread, ctrlr_lock held. 0, or -errno (no rescan
 * started: the caller hands the AEN to the callback itself).
 */
int nvme_ctrlr_ns_rescan_start(struct usk_nvme_ctrlr *ctrlr, const struct usk_nvme_cpl *aen);
/**
 * Mark the controller failed (logged once). hot_remove: the device is gone for good; the core
 * then calls the probe's remove_cb, once (transports report removal here, never call it).
 */
void nvme_ctrlr_fail(struct usk_nvme_ctrlr *ctrlr, bool hot_remove);
/** Run one step of the init state machine. Returns 0 (call again) or -errno (failed). */
int nvme_ctrlr_process_init(struct usk_nvme_ctrlr *ctrlr);
/** Free a controller that is not attached (init failure) or after detach. */
void nvme_ctrlr_destroy(struct usk_nvme_ctrlr *ctrlr);
/** Shut down (CC.SHN), free its I/O qpairs, destroy. */
void nvme_ctrlr_shutdown_and_destroy(struct usk_nvme_ctrlr *ctrlr);

/**
 * Initialise a qpair base: lists, state DISCONNECTED, num_requests requests preallocated.
 * Returns 0 or -ENOMEM.
 */
int nvme_qpair_init(struct usk_nvme_qpair *qpair, uint16_t id, struct usk_nvme_ctrlr *ctrlr,
		    uint8_t qprio, uint32_t num_entries, uint32_t num_requests);
/** Free the request pool (call from ops->ctrlr_delete_io_qpair / ctrlr_destruct). */
void nvme_qpair_deinit(struct usk_nvme_qpair *qpair);

static inline enum nvme_qpair_state
nvme_qpair_get_state(const struct usk_nvme_qpair *qpair)
{
	return (enum nvme_qpair_state)qpair->state;
}

static inline void
nvme_qpair_set_state(struct usk_nvme_qpair *qpair, enum nvme_qpair_state state)
{
	qpair->state = (uint8_t)state;
}

/** Take a request from qpair's pool and fill payload/cb; NULL when the pool is empty. */
static inline struct nvme_request *
nvme_allocate_request(struct usk_nvme_qpair *qpair, const struct nvme_payload *payload,
		      uint32_t payload_size, usk_nvme_cmd_cb cb_fn, void *cb_arg)
{
	struct nvme_request *req = STAILQ_FIRST(&qpair->free_req);

	if (usk_unlikely(req == NULL)) {
		return NULL;
	}
	STAILQ_REMOVE_HEAD(&qpair->free_req, stailq);
	/* Only the fields every command sets; the rest are reset on free. */
	memset(&req->cmd, 0, sizeof(req->cmd));
	req->payload = *payload;
	req->payload_size = payload_size;
	req->payload_offset = 0;
	req->md_offset = 0;
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	req->qpair = qpair;
	req->num_children = 0;
	req->parent = NULL;
	req->user_buffer = NULL;
	req->timed_out = false;
	req->submit_tick = 0;
	return req;
}

static inline struct nvme_request *
nvme_allocate_request_null(struct usk_nvme_qpair *qpair, usk_nvme_cmd_cb cb_fn, void *cb_arg)
{
	struct nvme_payload payload = NVME_PAYLOAD_CONTIG(NULL, NULL);

	return nvme_allocate_request(qpair, &payload, 0, cb_fn, cb_arg);
}

static inline struct nvme_request *
nvme_allocate_request_contig(struct usk_nvme_qpair *qpair, void *buffer, uint32_t payload_size,
			     usk_nvme_cmd_cb cb_fn, void *cb_arg)
{
	struct nvme_payload payload = NVME_PAYLOAD_CONTIG(buffer, NULL);

	return nvme_allocate_request(qpair, &payload, payload_size, cb_fn, cb_arg);
}

/**
 * Admin request with a caller buffer that may not be DMA-able: a DMA bounce buffer is allocated
 * (and filled from buffer when host_to_controller); on completion the data is copied back.
 * NULL on failure.
 */
struct nvme_request *nvme_allocate_request_user_copy(struct usk_nvme_qpair *qpair, void *buffer,
						     uint32_t payload_size, usk_nvme_cmd_cb cb_fn,
						     void *cb_arg, bool host_to_controller);

/** Return req to its qpair's pool. */
void nvme_free_request(struct nvme_request *req);

/**
 * Submit req on qpair: queued if the qpair is not enabled yet (connecting/resetting) or the
 * transport is full, failed at once (callback with ABORTED - SQ DELETION, return 0) when the
 * qpair is dead... Returns 0 or -ENXIO (qpair failed and the request was freed unsubmitted).
 */
int nvme_qpair_submit_request(struct usk_nvme_qpair *qpair, struct nvme_request *req);

/**
 * The transport's completion of req: runs the callback (or the parent's accounting), removes it
 * from the outstanding list and frees it. cpl->cid need not be set. Call exactly once per
 * submitted request, on the qpair's thread.
 */
void nvme_complete_request(struct nvme_request *req, const struct usk_nvme_cpl *cpl);

/**
 * Hand req straight to the transport even though the qpair is not ENABLED yet (Fabrics Connect
 * on a CONNECTING qpair). Returns 0 or -errno (req not consumed on error).
 */
int nvme_qpair_submit_request_raw(struct usk_nvme_qpair *qpair, struct nvme_request *req);
/** One transport poll with the core's bookkeeping (state, queued, timeouts); -ENXIO if dead. */
int32_t nvme_qpair_poll(struct usk_nvme_qpair *qpair, uint32_t max_completions);
/** Fail every request of a dead qpair (transport outstanding + core queue). */
void nvme_qpair_fail_all(struct usk_nvme_qpair *qpair);
void nvme_qpair_check_timeouts(struct usk_nvme_qpair *qpair);

/** Complete req (not yet handed to the transport) with sct/sc, dnr = 1. */
void nvme_complete_request_status(struct nvme_request *req, uint8_t sct, uint8_t sc);

/**
 * Fail every request queued in the core (qpair->queued_req) with ABORTED - SQ DELETION.
 * The transport's qpair_abort_reqs handles the outstanding ones.
 */
void nvme_qpair_abort_queued_reqs(struct usk_nvme_qpair *qpair);

/** Fill a completion with an abort status (sct generic, sc ABORTED - SQ DELETION). */
static inline void
nvme_cpl_set_abort(struct usk_nvme_cpl *cpl, uint16_t cid, uint32_t dnr)
{
	memset(cpl, 0, sizeof(*cpl));
	cpl->cid = cid;
	cpl->status.sct = USK_NVME_SCT_GENERIC;
	cpl->status.sc = USK_NVME_SC_ABORTED_SQ_DELETION;
	cpl->status.dnr = dnr ? 1 : 0;
}

/** true for the fabrics transports (Connect, Property Get/Set, subsystem NQNs). */
static inline bool
nvme_trtype_is_fabrics(enum usk_nvme_transport_type trtype)
{
	return trtype == USK_NVME_TRANSPORT_RDMA || trtype == USK_NVME_TRANSPORT_FC ||
	       trtype == USK_NVME_TRANSPORT_TCP;
}

/** Called by ctrlr_scan for every controller found. Returns 0 or -errno. */
int nvme_probe_ctx_add_ctrlr(struct usk_nvme_probe_ctx *probe_ctx,
			     const struct usk_nvme_transport_id *trid, void *devhandle);
/** The remove callback (cb_ctx) of a probe, for transports that detect hot removal in scan. */
bool nvme_probe_ctx_is_attached(struct usk_nvme_probe_ctx *probe_ctx,
				const struct usk_nvme_transport_id *trid);

/* ---- fabrics helpers (nvme_fabric.c): used by TCP, usable by any fabrics transport ---- */

int nvme_fabric_ctrlr_set_reg_4_async(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t value,
				      nvme_reg_cb cb, void *cb_arg);
int nvme_fabric_ctrlr_set_reg_8_async(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t value,
				      nvme_reg_cb cb, void *cb_arg);
int nvme_fabric_ctrlr_get_reg_4_async(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, nvme_reg_cb cb,
				      void *cb_arg);
int nvme_fabric_ctrlr_get_reg_8_async(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, nvme_reg_cb cb,
				      void *cb_arg);
/**
 * Send Fabrics Connect on qpair (admin: cntlid 0xffff; I/O: ctrlr->cntlid) with the connect data
 * built from ctrlr->opts/trid. The transport calls it once its own connection is up and polls
 * nvme_fabric_qpair_connect_poll() from process_completions.
 */
int nvme_fabric_qpair_connect_async(struct usk_nvme_qpair *qpair, uint32_t num_entries);
/** -EAGAIN while the Connect is outstanding, 0 on success (cntlid stored), -errno on failure. */
int nvme_fabric_qpair_connect_poll(struct usk_nvme_qpair *qpair);
/** Free a finished (aborted) Connect context of a qpair that died while connecting. */
void nvme_fabric_qpair_connect_abandon(struct usk_nvme_qpair *qpair);

/* ---- misc ---- */

/** usk_get_ticks() + ms in ticks (0 ms = NVME_TIMEOUT_INFINITE). */
uint64_t nvme_ticks_after_ms(uint64_t ms);

/* Debug log flag: "nvme" (usk_log_set_flag("nvme") or -L nvme); registered in nvme.c. */

#ifdef __cplusplus
}
#endif
#endif
