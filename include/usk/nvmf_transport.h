/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF target transport interface: what a transport (TCP, RDMA, vfio-user) implements and
 * the core functions it calls. Mirrors SPDK's spdk/nvmf_transport.h.
 *
 * Life of a connection:
 *  1. The transport accepts a connection on its own poller (registered in create()/listen() on
 *     the target's thread), allocates its qpair object (embedding struct usk_nvmf_qpair, fields
 *     zeroed, ->transport set) and calls usk_nvmf_tgt_new_qpair(transport->tgt, qpair).
 *  2. The core picks a poll group (ops->get_optimal_poll_group, else round robin) and, on that
 *     group's thread, calls ops->poll_group_add(tgroup, qpair). From then on everything about the
 *     qpair happens on that thread.
 *  3. For each command capsule the transport fills a request (embedding struct usk_nvmf_request):
 *     qpair, cmd, rsp, length, xfer and, when data moves, iov/iovcnt (the data of a host-to-
 *     controller command must already be in the buffers), then calls usk_nvmf_request_exec().
 *     The core completes it exactly once by filling rsp and calling ops->req_complete(req);
 *     the transport then sends data/response and recycles the request. The transport may
 *     complete a request it will not execute (bad SGL...) by setting rsp->nvme_cpl.status and
 *     calling usk_nvmf_request_complete().
 *  4. When the connection dies the transport calls usk_nvmf_qpair_disconnect(qpair). The core
 *     waits for the qpair's outstanding requests, releases the ones it holds (pending AERs) with
 *     ops->req_free(), calls ops->poll_group_remove() and finally ops->qpair_fini(); after
 *     qpair_fini's callback the qpair memory belongs to the transport again.
 */
#ifndef USK_NVMF_TRANSPORT_H
#define USK_NVMF_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>
#include <jansson.h>
#include "usk/nvme_spec.h"
#include "usk/nvmf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Maximum data buffers (iovecs) per request: max_io_size / io_unit_size must stay below it. */
#define USK_NVMF_REQ_MAX_BUFFERS 33
/* Alignment of data buffers handed out by usk_nvmf_request_get_buffers() (mempool stride). */
#define USK_NVMF_DATA_BUFFER_ALIGNMENT 64

struct usk_nvmf_transport;
struct usk_nvmf_transport_poll_group;
struct usk_nvmf_poll_group;
struct usk_nvmf_ctrlr;
struct usk_mempool;
struct nvmf_pool_grower;

/** Command capsule as the host sent it (SQE). */
union usk_nvmf_h2c_msg {
	struct usk_nvmf_capsule_cmd nvmf_cmd;
	struct usk_nvme_cmd nvme_cmd;
	struct usk_nvmf_fabric_prop_set_cmd prop_set_cmd;
	struct usk_nvmf_fabric_prop_get_cmd prop_get_cmd;
	struct usk_nvmf_fabric_connect_cmd connect_cmd;
};
static_assert(sizeof(union usk_nvmf_h2c_msg) == 64, "h2c msg size");

/** Response capsule (CQE). */
union usk_nvmf_c2h_msg {
	struct usk_nvme_cpl nvme_cpl;
	struct usk_nvmf_fabric_prop_get_rsp prop_get_rsp;
	struct usk_nvmf_fabric_connect_rsp connect_rsp;
};
static_assert(sizeof(union usk_nvmf_c2h_msg) == 16, "c2h msg size");

/**
 * One command. The transport embeds it in its own request object (one per queue slot, allocated
 * when the qpair is created) and owns it except between usk_nvmf_request_exec() and
 * ops->req_complete().
 */
struct usk_nvmf_request {
	/* Filled by the transport before usk_nvmf_request_exec(). */
	struct usk_nvmf_qpair *qpair;
	uint32_t length;     /* data length from the SGL, bytes */
	uint8_t xfer;	     /* enum usk_nvme_data_transfer (usk_nvmf_req_get_xfer) */
	bool data_from_pool; /* buffers came from usk_nvmf_request_get_buffers */
	uint16_t reserved0;
	void *data; /* == iov[0].iov_base when iovcnt == 1 (admin data) */
	union usk_nvmf_h2c_msg *cmd;
	union usk_nvmf_c2h_msg *rsp;
	uint32_t iovcnt;
	struct iovec iov[USK_NVMF_REQ_MAX_BUFFERS];
	void *buffers[USK_NVMF_REQ_MAX_BUFFERS]; /* pool buffers to return (data_from_pool) */

	/* ---- below: owned by the core while the request executes; transports don't touch ---- */
	TAILQ_ENTRY(usk_nvmf_request)
	link; /* qpair outstanding list / ctrlr AER slots / pause queue */
	struct usk_nvmf_request *req_to_abort;
	uint32_t core_flags;
	uint32_t core_count;  /* sub-I/Os in flight (DSM ranges) */
	uint16_t core_status; /* first sub-I/O error, raw NVMe status */
	uint16_t reserved1;
	uint32_t reserved2;
	/* Storage for the core's struct usk_bdev_io_wait_entry (ENOMEM retry); size checked there.
	 */
	uint64_t bdev_io_wait[8];
};

enum usk_nvmf_qpair_state {
	USK_NVMF_QPAIR_UNINITIALIZED = 0, /* accepted, before Connect */
	USK_NVMF_QPAIR_CONNECTING,	  /* Connect in progress */
	USK_NVMF_QPAIR_ENABLED,		  /* Connect succeeded */
	USK_NVMF_QPAIR_DEACTIVATING,	  /* usk_nvmf_qpair_disconnect() was called */
	USK_NVMF_QPAIR_ERROR,
};

/**
 * A queue pair (one connection for TCP). The transport embeds it in its own object, zeroes it and
 * sets ->transport before usk_nvmf_tgt_new_qpair(); all other fields are the core's.
 */
struct usk_nvmf_qpair {
	struct usk_nvmf_transport *transport;
	struct usk_nvmf_ctrlr *ctrlr;	   /* set by a successful Connect */
	struct usk_nvmf_poll_group *group; /* set before poll_group_add */
	enum usk_nvmf_qpair_state state;
	uint16_t qid; /* from Connect: 0 = admin */
	uint16_t sq_head;
	uint16_t sq_head_max; /* SQSIZE from Connect (0's based) */
	bool connect_received;
	bool disconnect_started;
	bool data_wait_detached;       /* core: the controller no longer counts ours */
	uint32_t data_wait_bufs;       /* usk_nvmf_qpair_data_wait_reserve, qpair thread */
	uint32_t data_wait_ctrlr_bufs; /* the part added to the controller's count */
	TAILQ_HEAD(, usk_nvmf_request) outstanding; /* executing in the core */
	TAILQ_ENTRY(usk_nvmf_qpair) link;	    /* core's poll group list */
	TAILQ_ENTRY(usk_nvmf_qpair) ctrlr_link;	    /* core's controller list */
	uint64_t core_priv[4];
};

/**
 * Generic transport options (nvmf_create_transport params). Transport-specific params are read
 * by the transport's create() from transport_specific.
 */
struct usk_nvmf_transport_opts {
	size_t opts_size;
	uint16_t max_queue_depth;      /* I/O queue entries */
	uint16_t max_qpairs_per_ctrlr; /* admin + I/O */
	uint32_t in_capsule_data_size;
	uint32_t max_io_size;
	uint32_t io_unit_size;
	uint32_t max_aq_depth;	     /* admin queue entries */
	uint32_t num_shared_buffers; /* data buffers in the shared pool (0 = no pool) */
	uint32_t buf_cache_size;     /* buffers each poll group keeps for itself */
	bool dif_insert_or_strip;
	bool zcopy;
	uint16_t reserved;
	uint32_t abort_timeout_sec;
	uint32_t association_timeout; /* ms */
	uint32_t acceptor_poll_rate;  /* us */
	/*
	 * Ceiling of the shared data buffer pool: it starts with num_shared_buffers and grows by
	 * chunks, off the I/O path, while requests wait for buffers. 0 = num_shared_buffers
	 * (fixed).
	 */
	uint32_t max_shared_buffers;
	/*
	 * The nvmf_create_transport params object (generic members included) or NULL. Borrowed:
	 * valid only during ops->create(), which decodes its own members from it (relaxed).
	 */
	const json_t *transport_specific;
};
static_assert(sizeof(struct usk_nvmf_transport_opts) == 64, "transport opts size");

/** Options of one listen call. */
struct usk_nvmf_listen_opts {
	size_t opts_size;
	/* The listen_address params (borrowed, may be NULL) for transport-specific members. */
	const json_t *transport_specific;
	bool secure_channel;
};

/**
 * Base of every transport instance. The transport allocates its own object embedding this,
 * zeroed; after create() returns, the core fills ops, opts and data_buf_pool, and tgt when the
 * transport is added to a target (before any listen() or poll_group_create()).
 */
struct usk_nvmf_transport {
	struct usk_nvmf_tgt *tgt;
	const struct usk_nvmf_transport_ops *ops;
	struct usk_nvmf_transport_opts opts;
	struct usk_mempool *data_buf_pool; /* io_unit_size buffers, NULL when none */
	/* core-private */
	struct nvmf_pool_grower *pool_grower; /* grows data_buf_pool on the creating thread */
	_Atomic uint64_t pool_grows;	      /* chunks added */
	_Atomic uint64_t pool_grow_failures;  /* at the ceiling or out of memory */
	TAILQ_HEAD(, usk_nvmf_listener) listeners;
	TAILQ_ENTRY(usk_nvmf_transport) link;
};

/** A cached data buffer (the buffer itself is the element). */
struct usk_nvmf_transport_pg_cache_buf {
	STAILQ_ENTRY(usk_nvmf_transport_pg_cache_buf) link;
};

/**
 * Per-thread part of a transport. The transport allocates its object embedding this, zeroed,
 * in poll_group_create(); the core fills transport, group and the buffer cache.
 */
struct usk_nvmf_transport_poll_group {
	struct usk_nvmf_transport *transport;
	struct usk_nvmf_poll_group *group;
	STAILQ_HEAD(, usk_nvmf_transport_pg_cache_buf) buf_cache;
	uint32_t buf_cache_count;
	uint32_t buf_cache_size;
	TAILQ_ENTRY(usk_nvmf_transport_poll_group) link;
};

/* Completions of ops->destroy and ops->qpair_fini. */
typedef void (*usk_nvmf_transport_destroy_done_cb)(void *cb_arg);
typedef void (*usk_nvmf_transport_qpair_fini_cb)(void *cb_arg);

/**
 * Operations of a transport. Every member is required unless marked "may be NULL".
 * All run on the target's (app) thread unless said otherwise.
 */
struct usk_nvmf_transport_ops {
	/* "TCP", "RDMA", "VFIOUSER": matched case-insensitively against trtype. */
	const char *name;
	enum usk_nvme_transport_type type;

	/* Fill transport defaults into opts (generic members only). */
	void (*opts_init)(struct usk_nvmf_transport_opts *opts);

	/*
	 * Create an instance from validated generic opts; decode and validate the
	 * transport-specific members of opts->transport_specific (relaxed: generic members are
	 * present too). On a bad value write "field: reason" into err and return -EINVAL. Return 0
	 * and *transport, or -errno.
	 */
	int (*create)(const struct usk_nvmf_transport_opts *opts,
		      struct usk_nvmf_transport **transport, char *err, size_t err_len);

	/* Add the transport-specific members to params (nvmf_get_transports, save_config). May be
	 * NULL. */
	void (*dump_opts)(struct usk_nvmf_transport *transport, json_t *params);

	/*
	 * Destroy the instance (all poll groups and qpairs are gone already). Return 0 and call
	 * cb_fn(cb_arg) when done (may be synchronous), or -errno (then cb_fn is not called).
	 */
	int (*destroy)(struct usk_nvmf_transport *transport,
		       usk_nvmf_transport_destroy_done_cb cb_fn, void *cb_arg);

	/* Start listening on trid. The core calls it once per distinct trid. 0 or -errno. */
	int (*listen)(struct usk_nvmf_transport *transport,
		      const struct usk_nvme_transport_id *trid,
		      const struct usk_nvmf_listen_opts *opts);

	/* Stop listening on trid; connections already accepted stay. */
	void (*stop_listen)(struct usk_nvmf_transport *transport,
			    const struct usk_nvme_transport_id *trid);

	/* A subsystem was associated with a listener (vfio-user needs this). May be NULL. */
	int (*listen_associate)(struct usk_nvmf_transport *transport,
				const struct usk_nvmf_subsystem *subsystem,
				const struct usk_nvme_transport_id *trid);

	/* Adjust Identify Controller data for this transport (ioccsz, sgls...). May be NULL. */
	void (*cdata_init)(struct usk_nvmf_transport *transport,
			   const struct usk_nvmf_subsystem *subsystem,
			   struct usk_nvme_ctrlr_data *cdata);

	/*
	 * Fill the transport parts of a discovery log entry (trtype, adrfam, traddr, trsvcid, treq,
	 * tsas). May be NULL: the core then fills them from trid with treq "not specified".
	 */
	void (*listener_discover)(struct usk_nvmf_transport *transport,
				  const struct usk_nvme_transport_id *trid,
				  struct usk_nvmf_discovery_log_page_entry *entry);

	/* Per-thread state; runs on the poll group's thread. NULL on failure. */
	struct usk_nvmf_transport_poll_group *(*poll_group_create)(
		struct usk_nvmf_transport *transport, struct usk_nvmf_poll_group *group);
	/* Pick the group a new qpair should go to (any thread). May be NULL; may return NULL. */
	struct usk_nvmf_transport_poll_group *(*get_optimal_poll_group)(
		struct usk_nvmf_qpair *qpair);
	/* Free per-thread state (no qpairs left); on its thread. */
	void (*poll_group_destroy)(struct usk_nvmf_transport_poll_group *tgroup);
	/* Start handling qpair on tgroup's thread. 0 or -errno (the core then calls qpair_fini). */
	int (*poll_group_add)(struct usk_nvmf_transport_poll_group *tgroup,
			      struct usk_nvmf_qpair *qpair);
	/* Stop handling qpair (before qpair_fini). May be NULL. */
	int (*poll_group_remove)(struct usk_nvmf_transport_poll_group *tgroup,
				 struct usk_nvmf_qpair *qpair);
	/* Poll every qpair of the group once. Returns work done (> 0 busy, 0 idle) or -errno. */
	int (*poll_group_poll)(struct usk_nvmf_transport_poll_group *tgroup);
	/* Add per-group statistics to obj (nvmf_get_stats). May be NULL. */
	void (*poll_group_dump_stat)(struct usk_nvmf_transport_poll_group *tgroup, json_t *obj);

	/*
	 * Connect carries the host's SQSIZE: size the qpair for entries (SQSIZE + 1) outstanding
	 * commands, the most the host may have submitted at once. On the qpair's thread while the
	 * Connect executes, before it completes; may allocate (not the I/O path). 0 or -errno: the
	 * Connect then fails (-ENOMEM internal error, otherwise invalid SQSIZE). May be NULL.
	 */
	int (*qpair_set_sq_size)(struct usk_nvmf_qpair *qpair, uint32_t entries);

	/* Release a request the core will not complete (pending AER at teardown). Returns 0. */
	int (*req_free)(struct usk_nvmf_request *req);
	/* The core finished req (rsp filled): send data (controller-to-host) and the response. 0 or
	 * -errno. */
	int (*req_complete)(struct usk_nvmf_request *req);

	/*
	 * Free the qpair: the core holds no request of it any more. Call cb_fn(cb_arg) (if not
	 * NULL) once done; the transport may then free the memory.
	 */
	void (*qpair_fini)(struct usk_nvmf_qpair *qpair, usk_nvmf_transport_qpair_fini_cb cb_fn,
			   void *cb_arg);
	/* Addresses of the connection. 0 or -errno. */
	int (*qpair_get_peer_trid)(struct usk_nvmf_qpair *qpair,
				   struct usk_nvme_transport_id *trid);
	int (*qpair_get_local_trid)(struct usk_nvmf_qpair *qpair,
				    struct usk_nvme_transport_id *trid);
	int (*qpair_get_listen_trid)(struct usk_nvmf_qpair *qpair,
				     struct usk_nvme_transport_id *trid);
	/*
	 * Add per-connection counters to obj (nvmf_subsystem_get_qpairs): TCP adds in_flight
	 * (commands the host has at the target) and completed (commands completed). On the
	 * qpair's poll group thread. May be NULL.
	 */
	void (*qpair_dump_stat)(struct usk_nvmf_qpair *qpair, json_t *obj);

	/*
	 * The host sent Abort for command cid of qpair, and the core does not hold it. If such a
	 * request is still in a transport state (waiting for data or a buffer, not yet given to
	 * usk_nvmf_request_exec), complete it with ABORTED_BY_REQUEST through
	 * usk_nvmf_request_complete() and return true; otherwise return false. May be NULL.
	 */
	bool (*qpair_abort_request)(struct usk_nvmf_qpair *qpair, uint16_t cid);
};

/* ---- registration ---- */

/** Register a transport (constructor time). */
void usk_nvmf_transport_register(const struct usk_nvmf_transport_ops *ops);

#define USK_NVMF_TRANSPORT_REGISTER(name, transport_ops) \
	__attribute__((constructor)) static void usk_nvmf_transport_register_##name(void) \
	{ \
		usk_nvmf_transport_register(transport_ops); \
	}

/* ---- called by transports ---- */

/**
 * Hand a newly accepted qpair to the target; the core assigns it to a poll group and calls
 * ops->poll_group_add on that group's thread. Callable from any usk thread.
 */
void usk_nvmf_tgt_new_qpair(struct usk_nvmf_tgt *tgt, struct usk_nvmf_qpair *qpair);

/**
 * Execute a command (on the qpair's poll group thread). The core completes it exactly once
 * through ops->req_complete (possibly before this returns).
 */
void usk_nvmf_request_exec(struct usk_nvmf_request *req);

/**
 * Complete req: set sqhd/cid in rsp and call ops->req_complete. Used by the core, and by a
 * transport for a request it fails itself (status set in rsp). Returns 0.
 */
int usk_nvmf_request_complete(struct usk_nvmf_request *req);

/** Data transfer direction of req->cmd (from the opcode/fctype and the SGL length). */
enum usk_nvme_data_transfer usk_nvmf_req_get_xfer(struct usk_nvmf_request *req);

/**
 * Start tearing qpair down (connection lost, fatal protocol error). On the qpair's thread.
 * Returns 0, or -EINPROGRESS when a disconnect is already under way.
 */
int usk_nvmf_qpair_disconnect(struct usk_nvmf_qpair *qpair);

/** Whether qpair is an admin queue (qid 0 after Connect). */
static inline bool
usk_nvmf_qpair_is_admin_queue(const struct usk_nvmf_qpair *qpair)
{
	return qpair->qid == 0;
}

/**
 * Get length bytes of data buffers for req from the group's cache or the transport's shared
 * pool: fills req->iov/iovcnt/buffers (io_unit_size each), sets data_from_pool and data.
 * Returns 0 or -ENOMEM (nothing taken; retry later), -EINVAL if length > max_io_size.
 */
int usk_nvmf_request_get_buffers(struct usk_nvmf_request *req,
				 struct usk_nvmf_transport_poll_group *tgroup,
				 struct usk_nvmf_transport *transport, uint32_t length);
/** Return req's pool buffers (data_from_pool) to the group's cache or the pool; resets iovcnt. */
void usk_nvmf_request_free_buffers(struct usk_nvmf_request *req,
				   struct usk_nvmf_transport_poll_group *tgroup,
				   struct usk_nvmf_transport *transport);

/**
 * Reserve n data buffers for a command of qpair that waits for host data (an R2T is about to
 * go out), within qpair_cap for the qpair and ctrlr_cap for its controller (the controller's
 * qpairs may run on other threads: lock-free atomics). On the qpair's thread. Returns 0, or
 * -EAGAIN when either cap would be exceeded (nothing reserved; retry once some are released).
 */
int usk_nvmf_qpair_data_wait_reserve(struct usk_nvmf_qpair *qpair, uint32_t n, uint32_t qpair_cap,
				     uint32_t ctrlr_cap);
/** Release n buffers reserved by usk_nvmf_qpair_data_wait_reserve (the data came, or the command
 * was dropped). On the qpair's thread. */
void usk_nvmf_qpair_data_wait_release(struct usk_nvmf_qpair *qpair, uint32_t n);

/**
 * Host NQN of the qpair's controller (as the host sent it in Connect: escape it before logging,
 * usk_str_escape), or NULL before a successful Connect. On the qpair's thread.
 */
const char *usk_nvmf_qpair_get_hostnqn(const struct usk_nvmf_qpair *qpair);

/** Data buffers the shared pool holds now (it grows up to max_shared_buffers). */
uint32_t usk_nvmf_transport_pool_size(struct usk_nvmf_transport *transport);

/** The thread a poll group runs on. */
struct usk_thread *usk_nvmf_poll_group_get_thread(struct usk_nvmf_poll_group *group);

#ifdef __cplusplus
}
#endif
#endif
