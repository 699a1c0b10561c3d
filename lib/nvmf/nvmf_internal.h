/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe-oF target core: private structures shared by the files of lib/nvmf (not the transports). */
#ifndef USK_NVMF_INTERNAL_H
#define USK_NVMF_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "usk/bdev.h"
#include "usk/log.h"
#include "usk/nvme_spec.h"
#include "usk/nvmf.h"
#include "usk/nvmf_transport.h"
#include "usk/thread.h"

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar) \
	for ((var) = TAILQ_FIRST((head)); (var) && ((tvar) = TAILQ_NEXT((var), field), 1); \
	     (var) = (tvar))
#endif

#define NVMF_MAX_ASYNC_EVENTS	 4 /* outstanding AERs per controller (AERL + 1) */
#define NVMF_MAX_PENDING_EVENTS	 16
#define NVMF_MAX_CHANGED_NS	 1024
#define NVMF_KAS_GRANULARITY_MS	 100 /* Identify KAS unit */
#define NVMF_CC_TIMEOUT_UNITS	 30  /* CAP.TO, 500 ms units */
#define NVMF_ERROR_LOG_ENTRIES	 1
#define NVMF_FW_REVISION	 "usk0.1"
#define NVMF_VENDOR_ID		 0
#define NVMF_DEFAULT_SN		 "00000000000000000000"
#define NVMF_DEFAULT_MN		 "usk Controller"
#define NVMF_SUBSYSTEM_MAX_HOSTS 1024

/* req->core_flags */
#define NVMF_REQ_OUTSTANDING (1u << 0) /* on qpair->outstanding */
#define NVMF_REQ_COUNTED     (1u << 1) /* counted in sgroup->io_outstanding */

struct usk_nvmf_host {
	char nqn[USK_NVME_NQN_FIELD_SIZE];
	TAILQ_ENTRY(usk_nvmf_host) link;
};

/* A transport address the target listens on, shared by the subsystems that use it. */
struct usk_nvmf_listener {
	struct usk_nvme_transport_id trid;
	uint32_t ref;
	TAILQ_ENTRY(usk_nvmf_listener) link;
};

struct usk_nvmf_subsystem_listener {
	struct usk_nvme_transport_id trid;
	struct usk_nvmf_transport *transport;
	struct usk_nvmf_subsystem *subsystem;
	TAILQ_ENTRY(usk_nvmf_subsystem_listener) link;
};

struct usk_nvmf_ns {
	uint32_t nsid;
	struct usk_nvmf_subsystem *subsystem;
	struct usk_bdev *bdev;
	struct usk_bdev_desc *desc;
	struct usk_nvmf_ns_opts opts;
	bool removing;		       /* hot remove requested */
	TAILQ_ENTRY(usk_nvmf_ns) link; /* subsystem->removed_ns until channels are gone */
};

/* A connect waiting for a paused subsystem (target thread). */
struct nvmf_connect_ctx;

struct usk_nvmf_subsystem {
	struct usk_nvmf_tgt *tgt;
	uint32_t id; /* index into tgt->subsystems and poll group sgroups */
	enum usk_nvmf_subsystem_state state;
	bool changing_state;
	bool destroying;
	enum usk_nvmf_subtype subtype;
	bool allow_any_host;
	bool ana_reporting;
	uint16_t min_cntlid;
	uint16_t max_cntlid;
	uint16_t next_cntlid;
	char subnqn[USK_NVME_NQN_FIELD_SIZE];
	char sn[USK_NVME_CTRLR_SN_LEN + 1];
	char mn[USK_NVME_CTRLR_MN_LEN + 1];
	uint32_t max_nsid;
	struct usk_nvmf_ns **ns; /* [max_nsid], nsid - 1 */
	uint32_t num_hosts;
	TAILQ_HEAD(, usk_nvmf_ctrlr) ctrlrs;
	TAILQ_HEAD(, usk_nvmf_host) hosts;
	TAILQ_HEAD(, usk_nvmf_subsystem_listener) listeners;
	TAILQ_HEAD(, nvmf_connect_ctx) pending_connects;
	TAILQ_HEAD(, usk_nvmf_ns) removed_ns; /* closed once no poll group holds a channel */
	/* state change in progress */
	enum usk_nvmf_subsystem_state target_state;
	usk_nvmf_subsystem_state_change_done state_cb;
	void *state_cb_arg;
};

/* Per (poll group, subsystem): the namespaces' channels and the pause machinery. */
struct nvmf_ns_info {
	struct usk_nvmf_ns *ns; /* NULL: no namespace at this nsid */
	struct usk_bdev_desc *desc;
	struct usk_io_channel *ch;
	uint32_t block_size;
	uint64_t num_blocks;
};

struct nvmf_sgroup {
	enum usk_nvmf_subsystem_state state; /* INACTIVE, ACTIVE, PAUSING, PAUSED */
	uint32_t num_ns;
	struct nvmf_ns_info *ns_info;
	uint64_t io_outstanding;
	TAILQ_HEAD(, usk_nvmf_request) queued;
	struct usk_io_channel_iter *pause_iter; /* continue it when io_outstanding drops to 0 */
};

struct nvmf_poll_group_stat {
	uint64_t admin_qpairs;
	uint64_t io_qpairs;
	uint64_t current_admin_qpairs;
	uint64_t current_io_qpairs;
	uint64_t pending_bdev_io;
	uint64_t completed_nvme_io;
};

/* One per thread; the context of the target's io_channel on that thread. */
struct usk_nvmf_poll_group {
	struct usk_thread *thread;
	struct usk_nvmf_tgt *tgt;
	struct usk_poller *poller;
	TAILQ_HEAD(, usk_nvmf_transport_poll_group) tgroups;
	TAILQ_HEAD(, usk_nvmf_qpair) qpairs;
	struct nvmf_sgroup *sgroups; /* [tgt->max_subsystems] */
	uint32_t num_sgroups;
	struct nvmf_poll_group_stat stat;
	bool destroying;
	usk_nvmf_poll_group_destroy_done_fn destroy_cb;
	void *destroy_cb_arg;
	TAILQ_ENTRY(usk_nvmf_poll_group) link; /* tgt->poll_groups, under tgt->mutex */
};

struct usk_nvmf_tgt {
	char name[USK_NVMF_TGT_NAME_MAX_LENGTH];
	struct usk_thread *thread; /* where it was created; management happens there */
	uint32_t max_subsystems;
	uint16_t crdt[3];
	uint64_t discovery_genctr;
	struct usk_nvmf_subsystem **subsystems; /* [max_subsystems] */
	struct usk_nvmf_subsystem *discovery_subsystem;
	TAILQ_HEAD(, usk_nvmf_transport) transports;
	pthread_mutex_t mutex; /* poll_groups list and next_poll_group */
	TAILQ_HEAD(, usk_nvmf_poll_group) poll_groups;
	struct usk_nvmf_poll_group *next_poll_group;
	usk_nvmf_tgt_destroy_done_fn destroy_cb;
	void *destroy_cb_arg;
	TAILQ_ENTRY(usk_nvmf_tgt) link;
};

struct nvmf_ctrlr_features {
	uint32_t arbitration;
	uint32_t power_management;
	uint32_t temperature_threshold;
	uint32_t error_recovery;
	uint32_t volatile_write_cache;
	uint32_t number_of_queues;
	uint32_t write_atomicity;
	union usk_nvme_async_event_config async_event_configuration;
	uint32_t keep_alive_timer; /* ms */
};

struct usk_nvmf_ctrlr {
	uint16_t cntlid;
	bool dynamic;
	bool in_destruct;   /* target thread */
	bool disconnecting; /* controller thread */
	struct usk_nvmf_subsystem *subsys;
	struct usk_thread *thread; /* the admin qpair's poll group thread */
	struct usk_nvmf_qpair *admin_qpair;
	char hostnqn[USK_NVME_NQN_FIELD_SIZE];
	uint8_t hostid[16];
	struct usk_nvme_transport_id listen_trid;
	uint16_t max_qpairs;			/* admin + I/O */
	uint8_t *qpair_mask;			/* [max_qpairs] qids in use; target thread */
	uint32_t num_io_qpairs;			/* target thread */
	TAILQ_HEAD(, usk_nvmf_qpair) io_qpairs; /* target thread */
	/* Data buffers held by commands waiting for host data, all qpairs (any thread). */
	_Atomic uint32_t data_wait_bufs;

	/* Everything below is touched on the controller thread only. */
	union usk_nvme_cap_register cap;
	union usk_nvme_vs_register vs;
	union usk_nvme_cc_register cc;
	union usk_nvme_csts_register csts;
	struct nvmf_ctrlr_features feat;
	bool keep_alive_seen; /* a Keep Alive came during this KATO period */
	struct usk_poller *keep_alive_poller;
	struct usk_nvmf_request *aer_req[NVMF_MAX_ASYNC_EVENTS];
	uint8_t nr_aer_reqs;
	union usk_nvme_async_event_completion pending_events[NVMF_MAX_PENDING_EVENTS];
	uint8_t nr_pending_events;
	uint32_t notice_mask; /* notice types reported and not yet cleared by the log read */
	uint32_t changed_ns[NVMF_MAX_CHANGED_NS];
	uint32_t num_changed_ns;
	bool changed_ns_overflow;

	TAILQ_ENTRY(usk_nvmf_ctrlr) link; /* subsys->ctrlrs, target thread */
};

/* Connect handled on the target thread. */
struct nvmf_connect_ctx {
	struct usk_nvmf_request *req;
	struct usk_nvmf_qpair *qpair;
	struct usk_thread *qpair_thread;
	struct usk_nvmf_fabric_connect_data data;
	struct usk_nvme_transport_id listen_trid;
	uint16_t qid;
	uint16_t sqsize;
	uint32_t kato;
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvmf_ctrlr *ctrlr;
	TAILQ_ENTRY(nvmf_connect_ctx) link;
};

/*
 * The qpair's (poll group, subsystem) slot, cached in qpair->core_priv[0] by a successful Connect
 * (sgroup arrays never move), NULL before. Saves three dependent loads per I/O.
 */
static inline struct nvmf_sgroup *
nvmf_qpair_sgroup(const struct usk_nvmf_qpair *qpair)
{
	return (struct nvmf_sgroup *)(uintptr_t)qpair->core_priv[0];
}

/* ---- nvmf.c ---- */
void nvmf_qpair_set_ctrlr_done(struct usk_nvmf_qpair *qpair);
void nvmf_poll_group_for_each_qpair_disconnect(struct usk_nvmf_tgt *tgt,
					       struct usk_nvmf_subsystem *subsystem,
					       void (*cpl)(void *ctx), void *ctx);
/* Tell sgroup one counted request finished; continues a pending pause. */
void nvmf_sgroup_request_done(struct nvmf_sgroup *sgroup);
/* Run the requests queued while sgroup was paused (on the poll group thread). */
void nvmf_sgroup_run_queued(struct nvmf_sgroup *sgroup);

/* ---- transport.c ---- */
const struct usk_nvmf_transport_ops *nvmf_transport_find_ops(const char *name);
int nvmf_transport_listen(struct usk_nvmf_transport *transport,
			  const struct usk_nvme_transport_id *trid, const json_t *params);
void nvmf_transport_stop_listen(struct usk_nvmf_transport *transport,
				const struct usk_nvme_transport_id *trid);
struct usk_nvmf_transport_poll_group *
nvmf_transport_poll_group_create(struct usk_nvmf_transport *transport,
				 struct usk_nvmf_poll_group *group);
void nvmf_transport_poll_group_destroy(struct usk_nvmf_transport_poll_group *tgroup);
void nvmf_transport_listener_discover(struct usk_nvmf_transport *transport,
				      const struct usk_nvme_transport_id *trid,
				      struct usk_nvmf_discovery_log_page_entry *entry);
void nvmf_transport_free_all(struct usk_nvmf_tgt *tgt);
/* The qpair is leaving its controller: give back what it still counts there. qpair thread. */
void nvmf_qpair_data_wait_detach(struct usk_nvmf_qpair *qpair);
/* Shared data buffer pool figures (size, ceiling, grows, exhaustion) into obj. Any thread. */
void nvmf_transport_dump_pool_stat(struct usk_nvmf_transport *transport, json_t *obj);

/* ---- subsystem.c ---- */
/* Build the sgroup of subsystem on the current poll group (channels for every namespace). */
int nvmf_sgroup_update(struct usk_nvmf_poll_group *group, struct usk_nvmf_subsystem *subsystem);
void nvmf_sgroup_release(struct nvmf_sgroup *sgroup);
uint16_t nvmf_subsystem_gen_cntlid(struct usk_nvmf_subsystem *subsystem);
struct usk_nvmf_ctrlr *nvmf_subsystem_get_ctrlr(struct usk_nvmf_subsystem *subsystem,
						uint16_t cntlid);
void nvmf_subsystem_process_pending_connects(struct usk_nvmf_subsystem *subsystem);
void nvmf_subsystem_notify_ns_change(struct usk_nvmf_subsystem *subsystem, uint32_t nsid);
void nvmf_subsystem_ctrlr_gone(struct usk_nvmf_subsystem *subsystem);
void nvmf_tgt_discovery_changed(struct usk_nvmf_tgt *tgt);
bool nvmf_subsystem_is_discovery(const struct usk_nvmf_subsystem *subsystem);

/* ---- ctrlr.c ---- */
void nvmf_ctrlr_connect(struct usk_nvmf_request *req);
void nvmf_connect_ctx_run(struct nvmf_connect_ctx *ctx);
void nvmf_connect_ctx_fail(struct nvmf_connect_ctx *ctx, uint8_t sct, uint8_t sc);
int nvmf_ctrlr_process_fabrics_cmd(struct usk_nvmf_request *req);
/* Qpair torn down: detach from its controller (any thread); then cb runs on the qpair thread. */
void nvmf_ctrlr_qpair_gone(struct usk_nvmf_qpair *qpair, usk_msg_fn cb, void *cb_arg);
void nvmf_ctrlr_free_aers(struct usk_nvmf_ctrlr *ctrlr);
/* On the controller thread: note a changed namespace and raise the notice if allowed. */
void nvmf_ctrlr_ns_changed(struct usk_nvmf_ctrlr *ctrlr, uint32_t nsid);
void nvmf_ctrlr_async_event_discovery_change(struct usk_nvmf_ctrlr *ctrlr);
void nvmf_ctrlr_queue_event(struct usk_nvmf_ctrlr *ctrlr, union usk_nvme_async_event_completion ev);
void nvmf_ctrlr_clear_notice(struct usk_nvmf_ctrlr *ctrlr, uint8_t info);
void nvmf_ctrlr_keep_alive_touch(struct usk_nvmf_ctrlr *ctrlr);
int nvmf_ctrlr_keep_alive_poll(void *arg);
int nvmf_ctrlr_async_event_request(struct usk_nvmf_request *req);
bool nvmf_ctrlr_is_discovery(const struct usk_nvmf_ctrlr *ctrlr);
void nvmf_req_set_status(struct usk_nvmf_request *req, uint8_t sct, uint8_t sc);

/* ---- ctrlr_admin.c ---- */
int nvmf_ctrlr_process_admin_cmd(struct usk_nvmf_request *req);
void nvmf_ctrlr_build_cdata(struct usk_nvmf_ctrlr *ctrlr, struct usk_nvme_ctrlr_data *cdata);

/* ---- ctrlr_discovery.c ---- */
/* Build the discovery log for hostnqn (target thread). Returns a malloc'ed buffer and its size. */
void *nvmf_discovery_log_build(struct usk_nvmf_tgt *tgt, const char *hostnqn, size_t *size);
void nvmf_discovery_get_log_page(struct usk_nvmf_request *req, uint64_t offset, uint32_t length);

/* ---- ctrlr_bdev.c ---- */
int nvmf_ctrlr_process_io_cmd(struct usk_nvmf_request *req);
void nvmf_bdev_ctrlr_identify_ns(struct usk_nvmf_ns *ns, struct usk_nvme_ns_data *nsdata);

/* Return values of the process functions */
#define NVMF_REQ_EXEC_COMPLETE 0 /* rsp filled: complete now */
#define NVMF_REQ_EXEC_ASYNC    1 /* completes later */

/* Copy len bytes to the request's data buffers (at most req->length), zero-filling the rest. */
void nvmf_req_copy_to_host(struct usk_nvmf_request *req, const void *src, size_t len);

#endif
