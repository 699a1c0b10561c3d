/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * User-space NVMe host driver (PCIe and NVMe/TCP): controllers, namespaces, queue pairs.
 * Mirrors SPDK's spdk/nvme.h.
 *
 * Threading:
 *  - A controller's admin side (init, admin commands, AER, keep-alive, reset) is driven by
 *    usk_nvme_ctrlr_process_admin_completions(). Admin functions take the controller's admin lock,
 *    so they may be called from any thread, but callbacks of admin commands run on the thread that
 *    calls usk_nvme_ctrlr_process_admin_completions().
 *  - An I/O qpair belongs to exactly one thread at a time: submit on it and poll it
 *    (usk_nvme_qpair_process_completions) from that thread only; nothing on the I/O path locks.
 *    Callbacks of I/O commands run from inside usk_nvme_qpair_process_completions on that thread.
 *  - Nothing here blocks except the functions documented as synchronous (usk_nvme_probe,
 *    usk_nvme_connect, usk_nvme_detach, usk_nvme_ctrlr_reset, usk_nvme_ctrlr_alloc_io_qpair with
 *    create_only false), which poll until done (bounded by the controller's timeouts); they are
 *    meant for tools and set-up, never for a reactor's hot path. Each has an _async variant.
 *
 * Callback contract: a function that takes a callback and returns 0 runs the callback exactly
 * once; a negative return means it never runs. -ENOMEM from a command submission means the
 * qpair's request pool is empty (flow control: poll and retry); -ENXIO means the qpair or the
 * controller has failed.
 */
#ifndef USK_NVME_H
#define USK_NVME_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "usk/nvme_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

struct usk_nvme_ctrlr;
struct usk_nvme_ns;
struct usk_nvme_qpair;
struct usk_nvme_probe_ctx;

/* ---- transport IDs ---- */

/** Extra keys of a transport ID string that are not part of the address itself. */
struct usk_nvme_trid_extra {
	/* hostnqn:... ("" if absent) */
	char hostnqn[USK_NVME_NQN_FIELD_SIZE];
	/* ns:N (0 if absent = all namespaces) */
	uint32_t nsid;
};

/**
 * Parse SPDK's transport ID string form: whitespace-separated key:value pairs, keys and the
 * trtype/adrfam values case-insensitive, e.g.
 *   "trtype:PCIe traddr:0000:00:04.0"
 *   "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn.2016-06.io.usk:cnode1"
 * Keys: trtype, adrfam, traddr, trsvcid, subnqn, priority, hostnqn, ns (hostnqn and ns go to
 * extra, which may be NULL: then they are accepted and ignored). Keys absent from str keep the
 * value trid already has (so callers can pre-fill defaults). For PCIe, traddr is normalised to
 * "dddd:bb:dd.f" ("00:04.0" gets domain 0000).
 * On error returns -EINVAL and, if err is not NULL, writes a message naming the bad key or value
 * into err (err_len bytes, NUL-terminated), e.g. "unknown key 'traddrx'" or
 * "bad value 'TCPX' for key 'trtype'". Any thread.
 */
int usk_nvme_transport_id_parse(struct usk_nvme_transport_id *trid,
				struct usk_nvme_trid_extra *extra, const char *str, char *err,
				size_t err_len);

/** Parse a trtype name ("PCIe", "TCP", case-insensitive). Returns 0 or -EINVAL. */
int usk_nvme_transport_id_parse_trtype(enum usk_nvme_transport_type *trtype, const char *str);
/** Parse an adrfam name ("IPv4", "IPv6", "IB", "FC", "INTRA_HOST"). Returns 0 or -EINVAL. */
int usk_nvme_transport_id_parse_adrfam(enum usk_nvmf_adrfam *adrfam, const char *str);
/** "PCIe", "TCP", "RDMA", ... or NULL for an unknown value. */
const char *usk_nvme_transport_id_trtype_str(enum usk_nvme_transport_type trtype);
/** "IPv4", "IPv6", ... or NULL. */
const char *usk_nvme_transport_id_adrfam_str(enum usk_nvmf_adrfam adrfam);
/** Set trtype and trstring together. */
void usk_nvme_trid_populate_transport(struct usk_nvme_transport_id *trid,
				      enum usk_nvme_transport_type trtype);
/** Compare two IDs (trtype, traddr (case-insensitive for PCIe), trsvcid, subnqn); 0 if equal. */
int usk_nvme_transport_id_compare(const struct usk_nvme_transport_id *a,
				  const struct usk_nvme_transport_id *b);
/** Format "trtype:TCP adrfam:IPv4 traddr:... trsvcid:... subnqn:..." into buf. Returns buf. */
const char *usk_nvme_transport_id_fmt(const struct usk_nvme_transport_id *trid, char *buf,
				      size_t len);

/* ---- controller options ---- */

struct usk_nvme_ctrlr_opts {
	/* sizeof(struct usk_nvme_ctrlr_opts) as known by the caller */
	size_t opts_size;
	/* I/O queues to ask for (Set Features Number of Queues); default 1024 */
	uint32_t num_io_queues;
	/* default entries per I/O queue (capped by CAP.MQES+1); default 256 */
	uint32_t io_queue_size;
	/* default requests preallocated per I/O queue (>= io_queue_size); default 512 */
	uint32_t io_queue_requests;
	/* admin queue entries; default 32 */
	uint32_t admin_queue_size;
	/* keep-alive timeout in ms, sent in Connect (fabrics) / Set Features; 0 = off; default
	 * 10000 */
	uint32_t keep_alive_timeout_ms;
	/* default timeout of admin commands during init and of sync admin helpers; default 30000 */
	uint32_t admin_timeout_ms;
	/* host NQN; default nqn.2014-08.org.nvmexpress:uuid:<generated> */
	char hostnqn[USK_NVME_NQN_FIELD_SIZE];
	/* host identifier (Connect data / Set Features Host Identifier); default random */
	uint8_t extended_host_id[16];
	/* NVMe/TCP header and data digests; default off */
	bool header_digest;
	bool data_digest;
	/* TCP: connect timeout in ms; default 10000 */
	uint32_t transport_connect_timeout_ms;
	/* fail the controller when an AER cannot be submitted; default false */
	bool disable_error_logging;
	/* TCP source address (may be ""); default "" */
	char src_addr[USK_NVMF_TRADDR_MAX_LEN + 1];
	/* ask for the discovery controller type (set by probe for discovery NQNs) */
	bool is_discovery;
	/* arbitration burst, 7 = no limit */
	uint8_t arb_burst;
	/* PCIe: use a controller memory buffer for SQs when offered; default false */
	bool use_cmb_sqs;
	/* PCIe: do not use shadow doorbells even when offered; default false */
	bool disable_shadow_doorbells;
	/* PCIe: prefer SGLs over PRPs where the controller supports them; default false */
	bool prefer_sgl;
	/* interrupt mode: I/O qpairs expose a pollable fd (usk_nvme_qpair_get_fd); default false */
	bool enable_interrupts;
};
static_assert(sizeof(struct usk_nvme_ctrlr_opts) == 576,
	      "usk_nvme_ctrlr_opts grew: bump deliberately");

/** Fill opts (opts_size bytes known by the caller) with the defaults. Any thread. */
void usk_nvme_ctrlr_get_default_ctrlr_opts(struct usk_nvme_ctrlr_opts *opts, size_t opts_size);

/* ---- probe / attach / detach ---- */

/**
 * Called for every controller found at trid before it is attached; may edit opts.
 * Return true to attach it. Runs on the thread polling the probe.
 */
typedef bool (*usk_nvme_probe_cb)(void *cb_ctx, const struct usk_nvme_transport_id *trid,
				  struct usk_nvme_ctrlr_opts *opts);
/** Called once a controller finished initialisation (state READY). */
typedef void (*usk_nvme_attach_cb)(void *cb_ctx, const struct usk_nvme_transport_id *trid,
				   struct usk_nvme_ctrlr *ctrlr,
				   const struct usk_nvme_ctrlr_opts *opts);
/**
 * Called once when an attached controller is gone for good: its transport reported it removed
 * (PCIe hot-remove: the device left sysfs or reads as all ones). A controller that merely failed
 * (a lost TCP connection) is not removed: it may be reset. Runs on the thread polling the admin
 * queue, from inside that poll: do not detach from the callback (detach after the poll returns).
 */
typedef void (*usk_nvme_remove_cb)(void *cb_ctx, struct usk_nvme_ctrlr *ctrlr);

/**
 * Find controllers at trid (PCIe: trid NULL or traddr "" means every NVMe PCI device; TCP: the
 * one controller at the address), call probe_cb for each, initialise the accepted ones
 * concurrently and call attach_cb for each that reaches READY. Synchronous: returns once every
 * controller is attached or failed. Controllers that fail to initialise are logged and freed.
 * Returns 0 if the scan ran (even if nothing attached), or -errno. Any thread.
 */
int usk_nvme_probe(const struct usk_nvme_transport_id *trid, void *cb_ctx,
		   usk_nvme_probe_cb probe_cb, usk_nvme_attach_cb attach_cb,
		   usk_nvme_remove_cb remove_cb);

/**
 * Start a probe and return a context to poll with usk_nvme_probe_poll_async(); same callbacks as
 * usk_nvme_probe. NULL on error (bad trid, no such transport, out of memory).
 */
struct usk_nvme_probe_ctx *usk_nvme_probe_async(const struct usk_nvme_transport_id *trid,
						void *cb_ctx, usk_nvme_probe_cb probe_cb,
						usk_nvme_attach_cb attach_cb,
						usk_nvme_remove_cb remove_cb);

/**
 * Connect to the one controller at trid with opts (NULL = defaults; opts_size = sizeof of the
 * caller's struct) and start initialising it. Poll with usk_nvme_probe_poll_async().
 * attach_cb runs when it is READY. NULL on error.
 */
struct usk_nvme_probe_ctx *usk_nvme_connect_async(const struct usk_nvme_transport_id *trid,
						  const struct usk_nvme_ctrlr_opts *opts,
						  size_t opts_size, usk_nvme_attach_cb attach_cb,
						  void *cb_ctx);

/**
 * Advance every controller of probe_ctx through its init state machine (non-blocking). Returns
 * -EAGAIN while some are still initialising, 0 when all are done; probe_ctx is then freed and
 * must not be used again. Call from the thread that started the probe.
 */
int usk_nvme_probe_poll_async(struct usk_nvme_probe_ctx *probe_ctx);

/**
 * Synchronous connect: returns the READY controller or NULL (the reason is logged).
 * opts may be NULL for defaults.
 */
struct usk_nvme_ctrlr *usk_nvme_connect(const struct usk_nvme_transport_id *trid,
					const struct usk_nvme_ctrlr_opts *opts, size_t opts_size);

/**
 * Detach and free a controller: every outstanding request (admin and I/O) is completed with
 * ABORTED - SQ DELETION, a normal shutdown (CC.SHN) is done (bounded by RTD3E / 10 s), the I/O
 * qpairs still allocated are freed. Synchronous. I/O qpairs must not be in use by other threads.
 * Returns 0 or -errno (the controller is freed anyway).
 */
int usk_nvme_detach(struct usk_nvme_ctrlr *ctrlr);

/* ---- controller ---- */

/** Identify Controller data (cached at init; refreshed by reset). */
const struct usk_nvme_ctrlr_data *usk_nvme_ctrlr_get_data(struct usk_nvme_ctrlr *ctrlr);
union usk_nvme_cap_register usk_nvme_ctrlr_get_regs_cap(struct usk_nvme_ctrlr *ctrlr);
union usk_nvme_vs_register usk_nvme_ctrlr_get_regs_vs(struct usk_nvme_ctrlr *ctrlr);
/** Reads CSTS now (PCIe: MMIO; fabrics: the last value seen, refreshed by keep-alive). */
union usk_nvme_csts_register usk_nvme_ctrlr_get_regs_csts(struct usk_nvme_ctrlr *ctrlr);
const struct usk_nvme_transport_id *usk_nvme_ctrlr_get_transport_id(struct usk_nvme_ctrlr *ctrlr);
const struct usk_nvme_ctrlr_opts *usk_nvme_ctrlr_get_opts(struct usk_nvme_ctrlr *ctrlr);
/** Largest NN (number of namespace IDs) the controller reports. */
uint32_t usk_nvme_ctrlr_get_num_ns(struct usk_nvme_ctrlr *ctrlr);
/** First / next active namespace ID, 0 when there is none. */
uint32_t usk_nvme_ctrlr_get_first_active_ns(struct usk_nvme_ctrlr *ctrlr);
uint32_t usk_nvme_ctrlr_get_next_active_ns(struct usk_nvme_ctrlr *ctrlr, uint32_t prev_nsid);
bool usk_nvme_ctrlr_is_active_ns(struct usk_nvme_ctrlr *ctrlr, uint32_t nsid);
/** The namespace object for an active nsid, or NULL. */
struct usk_nvme_ns *usk_nvme_ctrlr_get_ns(struct usk_nvme_ctrlr *ctrlr, uint32_t nsid);
/** Largest data transfer per command in bytes (MDTS and the transport's limit). */
uint32_t usk_nvme_ctrlr_get_max_xfer_size(struct usk_nvme_ctrlr *ctrlr);
/** Number of I/O queues the controller granted (Set Features Number of Queues). */
uint32_t usk_nvme_ctrlr_get_num_io_queues(struct usk_nvme_ctrlr *ctrlr);
/** true once the controller is failed (dead transport, CSTS.CFS, init error) until a reset. */
bool usk_nvme_ctrlr_is_failed(struct usk_nvme_ctrlr *ctrlr);
/** Mark the controller failed: every qpair fails its outstanding requests with aborts. */
void usk_nvme_ctrlr_fail(struct usk_nvme_ctrlr *ctrlr);
/** Controller ID (fabrics CNTLID from Connect; PCIe from Identify). */
uint16_t usk_nvme_ctrlr_get_id(struct usk_nvme_ctrlr *ctrlr);

/**
 * Poll the admin queue: completes admin commands (their callbacks run here), delivers AERs,
 * sends keep-alives when due, checks admin timeouts, and drives a controller that is still
 * initialising or reconnecting. Returns the number of completions (>= 0) or -ENXIO if the
 * controller has failed. Call periodically from one thread (bdev_nvme: every 10 ms or so).
 */
int32_t usk_nvme_ctrlr_process_admin_completions(struct usk_nvme_ctrlr *ctrlr);

/** Asynchronous event callback: cpl->cdw0 is a union usk_nvme_async_event_completion. */
typedef void (*usk_nvme_aer_cb)(void *aer_cb_arg, const struct usk_nvme_cpl *cpl);
/** Register (or clear with NULL) the AER callback. Runs from process_admin_completions. */
void usk_nvme_ctrlr_register_aer_callback(struct usk_nvme_ctrlr *ctrlr, usk_nvme_aer_cb cb,
					  void *arg);

/**
 * A command has been outstanding longer than its timeout. qpair is NULL for the admin queue.
 * The command is not aborted by the driver: the callback may call usk_nvme_ctrlr_cmd_abort() or
 * reset the controller. Runs on the thread polling that qpair (admin: the admin poller).
 */
typedef void (*usk_nvme_timeout_cb)(void *cb_arg, struct usk_nvme_ctrlr *ctrlr,
				    struct usk_nvme_qpair *qpair, uint16_t cid);
/**
 * Report commands outstanding longer than timeout_io_us (I/O) / timeout_admin_us (admin) to cb;
 * 0 disables that check. Each command is reported once. Call before allocating I/O qpairs.
 */
void usk_nvme_ctrlr_register_timeout_callback(struct usk_nvme_ctrlr *ctrlr, uint64_t timeout_io_us,
					      uint64_t timeout_admin_us, usk_nvme_timeout_cb cb,
					      void *cb_arg);

/**
 * Reset synchronously: disconnect every qpair (outstanding requests complete with ABORTED - SQ
 * DELETION), re-run controller init (fabrics: a new admin connection), then reconnect the I/O
 * qpairs (PCIe: recreate the SQ/CQs). Returns 0, or -errno with the controller failed.
 * I/O qpairs must not be polled by other threads meanwhile.
 */
int usk_nvme_ctrlr_reset(struct usk_nvme_ctrlr *ctrlr);

/**
 * Non-blocking reset in three steps (as SPDK's): usk_nvme_ctrlr_disconnect() fails outstanding
 * admin requests and disconnects the admin queue (I/O qpairs become disconnected; their owners
 * see -ENXIO from process_completions and must reconnect them with
 * usk_nvme_ctrlr_reconnect_io_qpair() after the controller is back);
 * usk_nvme_ctrlr_reconnect_async() starts init again; usk_nvme_ctrlr_reconnect_poll_async()
 * returns -EAGAIN while in progress, 0 when READY, another -errno if it failed (the controller is
 * then failed and may be disconnected and retried later). Admin thread only.
 */
int usk_nvme_ctrlr_disconnect(struct usk_nvme_ctrlr *ctrlr);
void usk_nvme_ctrlr_reconnect_async(struct usk_nvme_ctrlr *ctrlr);
int usk_nvme_ctrlr_reconnect_poll_async(struct usk_nvme_ctrlr *ctrlr);

/* ---- admin commands ---- */

/** Completion callback of any command; cpl is valid only during the call. */
typedef void (*usk_nvme_cmd_cb)(void *cb_arg, const struct usk_nvme_cpl *cpl);

/**
 * Send a raw admin command. buf (len bytes, may be NULL) need not be DMA memory: the driver
 * copies through a DMA bounce buffer where the transport needs one. cmd->cid is ignored.
 * Returns 0 (cb runs once from process_admin_completions) or -errno.
 */
int usk_nvme_ctrlr_cmd_admin_raw(struct usk_nvme_ctrlr *ctrlr, const struct usk_nvme_cmd *cmd,
				 void *buf, uint32_t len, usk_nvme_cmd_cb cb, void *cb_arg);
/** Identify with CNS cns, CNTID cntid, NSID nsid, CSI csi into payload (usually 4096 bytes). */
int usk_nvme_ctrlr_cmd_identify(struct usk_nvme_ctrlr *ctrlr, uint8_t cns, uint16_t cntid,
				uint32_t nsid, uint8_t csi, void *payload, size_t payload_size,
				usk_nvme_cmd_cb cb, void *cb_arg);
/** Get Log Page (NUMD from payload_size, offset in bytes). */
int usk_nvme_ctrlr_cmd_get_log_page(struct usk_nvme_ctrlr *ctrlr, uint8_t log_page, uint32_t nsid,
				    void *payload, uint32_t payload_size, uint64_t offset,
				    usk_nvme_cmd_cb cb, void *cb_arg);
int usk_nvme_ctrlr_cmd_set_feature(struct usk_nvme_ctrlr *ctrlr, uint8_t feature, uint32_t cdw11,
				   uint32_t cdw12, void *payload, uint32_t payload_size,
				   usk_nvme_cmd_cb cb, void *cb_arg);
int usk_nvme_ctrlr_cmd_get_feature(struct usk_nvme_ctrlr *ctrlr, uint8_t feature, uint32_t cdw11,
				   void *payload, uint32_t payload_size, usk_nvme_cmd_cb cb,
				   void *cb_arg);
/**
 * Abort command cid on qpair (NULL = admin queue). cb gets the Abort command's completion
 * (cdw0 bit 0 = 1: the command was not aborted).
 */
int usk_nvme_ctrlr_cmd_abort(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair,
			     uint16_t cid, usk_nvme_cmd_cb cb, void *cb_arg);

/* ---- I/O qpairs ---- */

struct usk_nvme_io_qpair_opts {
	size_t opts_size;
	/* queue priority (PCIe weighted round robin); 0 = urgent .. 3 = low; default 0 */
	uint32_t qprio;
	/* entries; default ctrlr opts io_queue_size */
	uint32_t io_queue_size;
	/* preallocated requests (split children count); default ctrlr opts io_queue_requests */
	uint32_t io_queue_requests;
	/* allocate only: connect later with usk_nvme_ctrlr_connect_io_qpair(); default false */
	bool create_only;
	/* do not ring the doorbell per command: once per process_completions (PCIe); default false
	 */
	bool delay_cmd_submit;
	uint8_t reserved[6];
};
static_assert(sizeof(struct usk_nvme_io_qpair_opts) == 32,
	      "usk_nvme_io_qpair_opts grew: bump deliberately");

void usk_nvme_ctrlr_get_default_io_qpair_opts(struct usk_nvme_ctrlr *ctrlr,
					      struct usk_nvme_io_qpair_opts *opts,
					      size_t opts_size);
/**
 * Allocate an I/O qpair (opts NULL = defaults). Unless opts->create_only, it is also connected
 * synchronously (PCIe: Create I/O CQ/SQ; TCP: a new connection, ICReq and Fabrics Connect).
 * The calling thread then owns it. NULL on error (logged).
 */
struct usk_nvme_qpair *usk_nvme_ctrlr_alloc_io_qpair(struct usk_nvme_ctrlr *ctrlr,
						     const struct usk_nvme_io_qpair_opts *opts,
						     size_t opts_size);
/** Connect a create_only or disconnected qpair synchronously. Returns 0 or -errno. */
int usk_nvme_ctrlr_connect_io_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair);
/**
 * Start reconnecting a failed/disconnected I/O qpair on a READY controller without blocking.
 * Returns 0 (poll with usk_nvme_qpair_process_completions: it returns -EAGAIN while connecting,
 * >= 0 once connected, -ENXIO on failure) or -errno.
 */
int usk_nvme_ctrlr_reconnect_io_qpair(struct usk_nvme_qpair *qpair);
/** Disconnect: outstanding requests complete with ABORTED - SQ DELETION. */
void usk_nvme_ctrlr_disconnect_io_qpair(struct usk_nvme_qpair *qpair);
/** Free an I/O qpair (disconnects first). Safe from inside one of its completion callbacks. */
int usk_nvme_ctrlr_free_io_qpair(struct usk_nvme_qpair *qpair);

/**
 * Reap up to max_completions completions (0 = as many as there are, bounded by the queue size)
 * on qpair, run their callbacks, resubmit queued requests, check I/O timeouts. One transport
 * receive and one send per call where the transport can. Returns the number of completions,
 * -EAGAIN while a (re)connect is in progress, or -ENXIO when the qpair has failed (every
 * outstanding request has then been completed with an abort status).
 */
int32_t usk_nvme_qpair_process_completions(struct usk_nvme_qpair *qpair, uint32_t max_completions);
/**
 * A file descriptor that becomes readable when process_completions has work (TCP: the socket;
 * PCIe under vfio with interrupts: an eventfd bound to the qpair's MSI-X vector), or -ENOTSUP.
 */
int usk_nvme_qpair_get_fd(struct usk_nvme_qpair *qpair);
/** true if the qpair is failed or disconnected. */
bool usk_nvme_qpair_is_failed(struct usk_nvme_qpair *qpair);
/** Number of requests submitted and not yet completed. */
uint32_t usk_nvme_qpair_get_num_outstanding(struct usk_nvme_qpair *qpair);
uint16_t usk_nvme_qpair_get_id(struct usk_nvme_qpair *qpair);
struct usk_nvme_ctrlr *usk_nvme_qpair_get_ctrlr(struct usk_nvme_qpair *qpair);

/** Raw I/O command on qpair; buf contiguous (may be NULL with len 0). cmd->cid is ignored. */
int usk_nvme_ctrlr_cmd_io_raw(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair,
			      struct usk_nvme_cmd *cmd, void *buf, uint32_t len, usk_nvme_cmd_cb cb,
			      void *cb_arg);

/* ---- namespaces ---- */

uint32_t usk_nvme_ns_get_id(struct usk_nvme_ns *ns);
struct usk_nvme_ctrlr *usk_nvme_ns_get_ctrlr(struct usk_nvme_ns *ns);
const struct usk_nvme_ns_data *usk_nvme_ns_get_data(struct usk_nvme_ns *ns);
/** Size of a logical block in bytes (data only, without metadata). */
uint32_t usk_nvme_ns_get_sector_size(struct usk_nvme_ns *ns);
uint32_t usk_nvme_ns_get_md_size(struct usk_nvme_ns *ns);
uint64_t usk_nvme_ns_get_num_sectors(struct usk_nvme_ns *ns);
uint64_t usk_nvme_ns_get_size(struct usk_nvme_ns *ns);
uint32_t usk_nvme_ns_get_max_io_xfer_size(struct usk_nvme_ns *ns);
/** Optimal I/O boundary in blocks (NOIOB), 0 if none: requests crossing it are split. */
uint32_t usk_nvme_ns_get_optimal_io_boundary(struct usk_nvme_ns *ns);
/** Namespace UUID from the ID descriptor list, or NULL. */
const uint8_t *usk_nvme_ns_get_uuid(struct usk_nvme_ns *ns);
/** NGUID (16 bytes) / EUI64 (8 bytes), or NULL when the controller did not report it. */
const uint8_t *usk_nvme_ns_get_nguid(struct usk_nvme_ns *ns);
const uint8_t *usk_nvme_ns_get_eui64(struct usk_nvme_ns *ns);
bool usk_nvme_ns_supports_compare(struct usk_nvme_ns *ns);
bool usk_nvme_ns_supports_dsm(struct usk_nvme_ns *ns);
bool usk_nvme_ns_supports_write_zeroes(struct usk_nvme_ns *ns);
bool usk_nvme_ns_has_volatile_write_cache(struct usk_nvme_ns *ns);

/* ---- NVM commands ----
 * Common rules: lba_count is in logical blocks (1-based); buffers are at least
 * lba_count * sector_size bytes; io_flags are USK_NVME_IO_FLAGS_* (FUA, limited retry) ORed into
 * CDW12. Requests above the max transfer size or crossing the optimal I/O boundary are split into
 * children; cb runs once when all have completed (with the first error seen). Returns 0, -EINVAL
 * (bad arguments: zero or too large lba_count...), -ENOMEM (request pool empty: poll and retry)
 * or -ENXIO (qpair failed). Only from the thread that owns qpair.
 */

/** Position a scattered payload at byte offset: the next next_sge() returns that byte. */
typedef void (*usk_nvme_req_reset_sgl_cb)(void *cb_arg, uint32_t offset);
/** Return the next segment (address and length) of a scattered payload. 0 or -errno. */
typedef int (*usk_nvme_req_next_sge_cb)(void *cb_arg, void **address, uint32_t *length);

int usk_nvme_ns_cmd_read(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, void *buf,
			 uint64_t lba, uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg,
			 uint32_t io_flags);
int usk_nvme_ns_cmd_write(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, void *buf,
			  uint64_t lba, uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg,
			  uint32_t io_flags);
int usk_nvme_ns_cmd_compare(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, void *buf,
			    uint64_t lba, uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg,
			    uint32_t io_flags);
/** Scattered variants: cb_arg is passed to reset_sgl/next_sge as well. */
int usk_nvme_ns_cmd_readv(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, uint64_t lba,
			  uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags,
			  usk_nvme_req_reset_sgl_cb reset_sgl, usk_nvme_req_next_sge_cb next_sge);
int usk_nvme_ns_cmd_writev(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, uint64_t lba,
			   uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags,
			   usk_nvme_req_reset_sgl_cb reset_sgl, usk_nvme_req_next_sge_cb next_sge);
int usk_nvme_ns_cmd_comparev(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, uint64_t lba,
			     uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg,
			     uint32_t io_flags, usk_nvme_req_reset_sgl_cb reset_sgl,
			     usk_nvme_req_next_sge_cb next_sge);
/** Write Zeroes (io_flags may carry USK_NVME_IO_FLAGS_DEALLOCATE); at most 65536 blocks per command
 * (split above). */
int usk_nvme_ns_cmd_write_zeroes(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, uint64_t lba,
				 uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg,
				 uint32_t io_flags);
/** Flush the volatile write cache. */
int usk_nvme_ns_cmd_flush(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, usk_nvme_cmd_cb cb,
			  void *cb_arg);
/**
 * Dataset Management: type is USK_NVME_DSM_ATTR_* (deallocate...); ranges (1..256) is copied
 * by the driver before return.
 */
int usk_nvme_ns_cmd_dataset_management(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair,
				       uint32_t type, const struct usk_nvme_dsm_range *ranges,
				       uint16_t num_ranges, usk_nvme_cmd_cb cb, void *cb_arg);

/* ---- completions ---- */

static inline bool
usk_nvme_cpl_is_error(const struct usk_nvme_cpl *cpl)
{
	return cpl->status.sc != USK_NVME_SC_SUCCESS || cpl->status.sct != USK_NVME_SCT_GENERIC;
}

static inline bool
usk_nvme_cpl_is_aborted_sq_deletion(const struct usk_nvme_cpl *cpl)
{
	return cpl->status.sct == USK_NVME_SCT_GENERIC &&
	       cpl->status.sc == USK_NVME_SC_ABORTED_SQ_DELETION;
}

static inline bool
usk_nvme_cpl_is_abort(const struct usk_nvme_cpl *cpl)
{
	return cpl->status.sct == USK_NVME_SCT_GENERIC &&
	       (cpl->status.sc == USK_NVME_SC_ABORTED_SQ_DELETION ||
		cpl->status.sc == USK_NVME_SC_ABORTED_BY_REQUEST);
}

/** "SUCCESS", "INVALID FIELD", "ABORTED - SQ DELETION", ... (never NULL). */
const char *usk_nvme_cpl_get_status_string(const struct usk_nvme_status *status);
/** "READ", "WRITE", "IDENTIFY", ... (never NULL). */
const char *usk_nvme_opc_get_string(bool admin, uint8_t opc);

#ifdef __cplusplus
}
#endif
#endif
