/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe-oF target: targets, transports, poll groups, subsystems, namespaces, hosts, listeners.
 * Mirrors SPDK's spdk/nvmf.h. Unless said otherwise functions run on the target's thread (the
 * app thread); asynchronous ones return 0 and call their callback exactly once, or return a
 * negative errno and never call it.
 */
#ifndef USK_NVMF_H
#define USK_NVMF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "usk/nvme_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define USK_NVMF_TGT_NAME_MAX_LENGTH	256
#define USK_NVMF_DEFAULT_MAX_SUBSYSTEMS 1024
#define USK_NVMF_DEFAULT_MAX_NAMESPACES 32

struct usk_nvmf_tgt;
struct usk_nvmf_transport;
struct usk_nvmf_transport_opts;
struct usk_nvmf_subsystem;
struct usk_nvmf_ns;
struct usk_nvmf_host;
struct usk_nvmf_listener;
struct usk_nvmf_subsystem_listener;
struct usk_bdev;
struct usk_nvmf_poll_group;
struct usk_nvmf_ctrlr;
struct usk_nvmf_qpair;
struct usk_thread;

struct usk_nvmf_target_opts {
	size_t opts_size;
	char name[USK_NVMF_TGT_NAME_MAX_LENGTH];
	uint32_t max_subsystems; /* 0 = USK_NVMF_DEFAULT_MAX_SUBSYSTEMS */
	uint16_t crdt[3];	 /* command retry delay times, 100 ms units */
};

/* Completion callbacks of the asynchronous calls below; status 0 or -errno. */
typedef void (*usk_nvmf_tgt_destroy_done_fn)(void *ctx, int status);
typedef void (*usk_nvmf_tgt_add_transport_done_fn)(void *ctx, int status);
typedef void (*usk_nvmf_transport_destroy_done_fn)(void *ctx);
typedef void (*usk_nvmf_subsystem_state_change_done)(struct usk_nvmf_subsystem *subsystem,
						     void *cb_arg, int status);
typedef void (*usk_nvmf_poll_group_destroy_done_fn)(void *ctx, int status);

/* ---- target ---- */

/**
 * Create a target and register it as an io_device: each thread that calls
 * usk_nvmf_poll_group_create() gets a poll group. The discovery subsystem is created with it.
 * Returns 0 and *tgt, -EEXIST (name in use), -EINVAL or -ENOMEM.
 */
int usk_nvmf_tgt_create(const struct usk_nvmf_target_opts *opts, struct usk_nvmf_tgt **tgt);
/**
 * Destroy tgt: subsystems, transports (poll groups must be destroyed first).
 * cb_fn(ctx, 0) runs when done.
 */
void usk_nvmf_tgt_destroy(struct usk_nvmf_tgt *tgt, usk_nvmf_tgt_destroy_done_fn cb_fn, void *ctx);
/** Name given at creation ("nvmf_tgt" by default). */
const char *usk_nvmf_tgt_get_name(struct usk_nvmf_tgt *tgt);
/** Target by name; NULL name returns the first (default) target. */
struct usk_nvmf_tgt *usk_nvmf_get_tgt(const char *name);
/** Iterate the targets in creation order: first, then next(prev) until NULL. App thread. */
struct usk_nvmf_tgt *usk_nvmf_get_first_tgt(void);
/** The target after prev, or NULL. App thread. */
struct usk_nvmf_tgt *usk_nvmf_get_next_tgt(struct usk_nvmf_tgt *prev);
/** Append the config RPCs that recreate tgt (transports, subsystems, ns, listeners, hosts). */
void usk_nvmf_tgt_write_config_json(json_t *config_array, struct usk_nvmf_tgt *tgt);

/* ---- poll groups (one per thread) ---- */

/** Create the calling thread's poll group for tgt (with a group of each transport). NULL on
 * failure. */
struct usk_nvmf_poll_group *usk_nvmf_poll_group_create(struct usk_nvmf_tgt *tgt);
/**
 * Destroy a poll group on its thread: disconnects its qpairs, then cb_fn(ctx, 0).
 */
void usk_nvmf_poll_group_destroy(struct usk_nvmf_poll_group *group,
				 usk_nvmf_poll_group_destroy_done_fn cb_fn, void *ctx);

/* ---- transports ---- */

/**
 * Fill opts with the defaults of the transport named transport_name ("TCP", case-insensitive).
 * Returns true, or false when no such transport is registered.
 */
bool usk_nvmf_transport_opts_init(const char *transport_name, struct usk_nvmf_transport_opts *opts,
				  size_t opts_size);
/**
 * Validate opts and create a transport (not yet part of a target). On bad input err gets
 * "field: reason". Returns 0 and *transport, -ENOENT (no such transport), -EINVAL, -ENOMEM.
 */
int usk_nvmf_transport_create(const char *transport_name, struct usk_nvmf_transport_opts *opts,
			      struct usk_nvmf_transport **transport, char *err, size_t err_len);
/** Destroy a transport not added to a target (or after its poll groups are gone). */
int usk_nvmf_transport_destroy(struct usk_nvmf_transport *transport,
			       usk_nvmf_transport_destroy_done_fn cb_fn, void *cb_arg);
/** Add transport to tgt and to every poll group; cb_fn(ctx, status) when done. */
void usk_nvmf_tgt_add_transport(struct usk_nvmf_tgt *tgt, struct usk_nvmf_transport *transport,
				usk_nvmf_tgt_add_transport_done_fn cb_fn, void *ctx);
/** Transport of tgt named transport_name (case-insensitive) or NULL. */
struct usk_nvmf_transport *usk_nvmf_tgt_get_transport(struct usk_nvmf_tgt *tgt,
						      const char *transport_name);
/** Iterate tgt's transports in creation order (NULL at the end). Target thread. */
struct usk_nvmf_transport *usk_nvmf_transport_get_first(struct usk_nvmf_tgt *tgt);
/** The transport after transport, or NULL. Target thread. */
struct usk_nvmf_transport *usk_nvmf_transport_get_next(struct usk_nvmf_transport *transport);
/** The transport's ops name, type and validated generic options. */
const char *usk_nvmf_get_transport_name(struct usk_nvmf_transport *transport);
/** The transport's type (TCP). Any thread while it exists. */
enum usk_nvme_transport_type usk_nvmf_get_transport_type(struct usk_nvmf_transport *transport);
/** Its validated generic options; read-only, valid while the transport exists. */
const struct usk_nvmf_transport_opts *
usk_nvmf_get_transport_opts(struct usk_nvmf_transport *transport);
/** Generic + transport-specific opts as nvmf_create_transport params (new object). */
json_t *usk_nvmf_transport_opts_to_json(struct usk_nvmf_transport *transport);

/* ---- transport ids ---- */

/** "TCP"/"RDMA"/"PCIe"/"VFIOUSER" (case-insensitive) to type; -EINVAL if unknown. */
int usk_nvmf_trtype_parse(const char *str, enum usk_nvme_transport_type *trtype);
/** Canonical name of a transport type ("TCP"; "CUSTOM" when unknown). */
const char *usk_nvmf_trtype_str(enum usk_nvme_transport_type trtype);
/** "IPv4"/"IPv6"/"IB"/"FC"/"INTRA_HOST" (case-insensitive); -EINVAL if unknown. */
int usk_nvmf_adrfam_parse(const char *str, enum usk_nvmf_adrfam *adrfam);
/** Canonical name of an address family ("IPv4"; "unknown"). */
const char *usk_nvmf_adrfam_str(enum usk_nvmf_adrfam adrfam);
/** Whether two trids name the same address (trtype, adrfam, traddr, trsvcid). */
bool usk_nvmf_trid_equal(const struct usk_nvme_transport_id *a,
			 const struct usk_nvme_transport_id *b);

/* ---- subsystems ---- */

enum usk_nvmf_subtype_api {
	USK_NVMF_SUBTYPE_API_DISCOVERY = USK_NVMF_SUBTYPE_DISCOVERY,
	USK_NVMF_SUBTYPE_API_NVME = USK_NVMF_SUBTYPE_NVME,
	USK_NVMF_SUBTYPE_API_DISCOVERY_CURRENT = USK_NVMF_SUBTYPE_DISCOVERY_CURRENT,
};

enum usk_nvmf_subsystem_state {
	USK_NVMF_SUBSYSTEM_INACTIVE = 0,
	USK_NVMF_SUBSYSTEM_ACTIVATING,
	USK_NVMF_SUBSYSTEM_ACTIVE,
	USK_NVMF_SUBSYSTEM_PAUSING,
	USK_NVMF_SUBSYSTEM_PAUSED,
	USK_NVMF_SUBSYSTEM_RESUMING,
	USK_NVMF_SUBSYSTEM_DEACTIVATING,
};

/**
 * Whether nqn is valid (NVMe Base 2.0 4.5): 11..223 bytes, "nqn.yyyy-mm.reverse.domain[:...]"
 * with a plausible date and domain, or "nqn.2014-08.org.nvmexpress:uuid:" + a UUID.
 * err (may be NULL) gets the reason.
 */
bool usk_nvmf_nqn_is_valid(const char *nqn, char *err, size_t err_len);

/**
 * Create a subsystem (inactive) in tgt. num_ns: maximum namespaces (0 = default).
 * Returns 0 and *subsystem, -EINVAL (bad nqn), -EEXIST, -ENOSPC (max_subsystems), -ENOMEM.
 */
int usk_nvmf_subsystem_create(struct usk_nvmf_tgt *tgt, const char *nqn,
			      enum usk_nvmf_subtype subtype, uint32_t num_ns,
			      struct usk_nvmf_subsystem **subsystem);
/** Destroy an inactive subsystem (namespaces, hosts and listeners go with it). 0 or -EBUSY. */
int usk_nvmf_subsystem_destroy(struct usk_nvmf_subsystem *subsystem);

/* State changes travel every poll group; cb_fn runs on the caller's thread. -EBUSY if another
 * change is in progress, -EINVAL if not allowed in the current state. */
int usk_nvmf_subsystem_start(struct usk_nvmf_subsystem *subsystem,
			     usk_nvmf_subsystem_state_change_done cb_fn, void *cb_arg);
/** Stop: wait for in-flight I/O, disconnect the subsystem's qpairs, close channels -> INACTIVE. */
int usk_nvmf_subsystem_stop(struct usk_nvmf_subsystem *subsystem,
			    usk_nvmf_subsystem_state_change_done cb_fn, void *cb_arg);
/** Pause: new I/O is queued, cb_fn runs once no I/O of the subsystem is in flight anywhere. */
int usk_nvmf_subsystem_pause(struct usk_nvmf_subsystem *subsystem,
			     usk_nvmf_subsystem_state_change_done cb_fn, void *cb_arg);
/** Resume: poll groups pick up namespace changes, queued I/O runs. */
int usk_nvmf_subsystem_resume(struct usk_nvmf_subsystem *subsystem,
			      usk_nvmf_subsystem_state_change_done cb_fn, void *cb_arg);
/** Current state (a transitional one while a change runs). */
enum usk_nvmf_subsystem_state usk_nvmf_subsystem_get_state(struct usk_nvmf_subsystem *subsystem);

/** Subsystem of tgt with this NQN (the discovery one included), or NULL. Target thread. */
struct usk_nvmf_subsystem *usk_nvmf_tgt_find_subsystem(struct usk_nvmf_tgt *tgt, const char *nqn);
/** Iterate subsystems in ID order (the discovery subsystem first). Target thread. */
struct usk_nvmf_subsystem *usk_nvmf_subsystem_get_first(struct usk_nvmf_tgt *tgt);
/** The subsystem after subsystem in ID order, or NULL. Target thread. */
struct usk_nvmf_subsystem *usk_nvmf_subsystem_get_next(struct usk_nvmf_subsystem *subsystem);
/** Attributes. */
struct usk_nvmf_tgt *usk_nvmf_subsystem_get_tgt(struct usk_nvmf_subsystem *subsystem);
/** Its NQN. Any thread while it exists. */
const char *usk_nvmf_subsystem_get_nqn(const struct usk_nvmf_subsystem *subsystem);
/** NVMe or discovery. Any thread while it exists. */
enum usk_nvmf_subtype usk_nvmf_subsystem_get_type(struct usk_nvmf_subsystem *subsystem);
/** Serial number: printable ASCII, at most 20 bytes. 0 or -EINVAL. */
int usk_nvmf_subsystem_set_sn(struct usk_nvmf_subsystem *subsystem, const char *sn);
/** Its serial number. Target thread. */
const char *usk_nvmf_subsystem_get_sn(const struct usk_nvmf_subsystem *subsystem);
/** Model number: printable ASCII, at most 40 bytes. 0 or -EINVAL. */
int usk_nvmf_subsystem_set_mn(struct usk_nvmf_subsystem *subsystem, const char *mn);
/** Its model number. Target thread. */
const char *usk_nvmf_subsystem_get_mn(const struct usk_nvmf_subsystem *subsystem);
/** Highest NSID (max_namespaces; 0 for the discovery subsystem). */
uint32_t usk_nvmf_subsystem_get_max_nsid(struct usk_nvmf_subsystem *subsystem);
/** Controller ID range for dynamic allocation ([1, 0xffef]). 0 or -EINVAL / -EPERM if active. */
int usk_nvmf_subsystem_set_cntlid_range(struct usk_nvmf_subsystem *subsystem, uint16_t min_cntlid,
					uint16_t max_cntlid);
/** Lowest controller ID it hands out. Target thread. */
uint16_t usk_nvmf_subsystem_get_min_cntlid(const struct usk_nvmf_subsystem *subsystem);
/** Highest controller ID it hands out. Target thread. */
uint16_t usk_nvmf_subsystem_get_max_cntlid(const struct usk_nvmf_subsystem *subsystem);
/** ANA reporting (CMIC.ANA, ANA log page, ANAGRPID); set while inactive, else -EPERM. */
int usk_nvmf_subsystem_set_ana_reporting(struct usk_nvmf_subsystem *subsystem, bool ana_reporting);
/** Whether ANA reporting is on. Target thread. */
bool usk_nvmf_subsystem_get_ana_reporting(struct usk_nvmf_subsystem *subsystem);

/* ---- hosts ---- */

/** Allow hostnqn to connect. 0, -EINVAL (bad NQN), -EEXIST, -ENOMEM. */
int usk_nvmf_subsystem_add_host(struct usk_nvmf_subsystem *subsystem, const char *hostnqn);
/** Remove hostnqn from the allow list (connected controllers stay). 0 or -ENOENT. */
int usk_nvmf_subsystem_remove_host(struct usk_nvmf_subsystem *subsystem, const char *hostnqn);
/** Let every host connect (true) or only the listed ones. Returns 0. */
int usk_nvmf_subsystem_set_allow_any_host(struct usk_nvmf_subsystem *subsystem,
					  bool allow_any_host);
/** Whether every host may connect. Any thread. */
bool usk_nvmf_subsystem_get_allow_any_host(const struct usk_nvmf_subsystem *subsystem);
/** Whether hostnqn may connect to subsystem (allow_any_host or listed). Any thread. */
bool usk_nvmf_subsystem_host_allowed(struct usk_nvmf_subsystem *subsystem, const char *hostnqn);
/** Iterate the allowed hosts; usk_nvmf_host_get_nqn gives each one's NQN. */
struct usk_nvmf_host *usk_nvmf_subsystem_get_first_host(struct usk_nvmf_subsystem *subsystem);
/** The allowed host after prev, or NULL. Target thread. */
struct usk_nvmf_host *usk_nvmf_subsystem_get_next_host(struct usk_nvmf_subsystem *subsystem,
						       struct usk_nvmf_host *prev);
/** NQN of an allowed host. Target thread. */
const char *usk_nvmf_host_get_nqn(const struct usk_nvmf_host *host);

/* ---- listeners ---- */

/**
 * Make subsystem reachable on trid: the target starts listening on trid (once per address, shared
 * by subsystems) through the transport named by trid->trstring/trtype. 0, -EEXIST, -ENOENT (no
 * such transport in the target), or the transport's listen error.
 */
int usk_nvmf_subsystem_add_listener(struct usk_nvmf_subsystem *subsystem,
				    const struct usk_nvme_transport_id *trid,
				    const json_t *listen_params);
/** Stop accepting connections for subsystem on trid (the address stops when unused). 0 or -ENOENT.
 */
int usk_nvmf_subsystem_remove_listener(struct usk_nvmf_subsystem *subsystem,
				       const struct usk_nvme_transport_id *trid);
/** Whether a connection that arrived on trid may reach subsystem. */
bool usk_nvmf_subsystem_listener_allowed(struct usk_nvmf_subsystem *subsystem,
					 const struct usk_nvme_transport_id *trid);
/** Iterate the subsystem's listeners and read their addresses. */
struct usk_nvmf_subsystem_listener *
usk_nvmf_subsystem_get_first_listener(struct usk_nvmf_subsystem *subsystem);
/** The listener after prev, or NULL. Target thread. */
struct usk_nvmf_subsystem_listener *
usk_nvmf_subsystem_get_next_listener(struct usk_nvmf_subsystem *subsystem,
				     struct usk_nvmf_subsystem_listener *prev);
/** Address of a listener; valid while it is in the subsystem. Target thread. */
const struct usk_nvme_transport_id *
usk_nvmf_subsystem_listener_get_trid(struct usk_nvmf_subsystem_listener *listener);

/* ---- namespaces ---- */

struct usk_nvmf_ns_opts {
	size_t opts_size;
	uint32_t nsid;	   /* 0 = first free */
	uint8_t nguid[16]; /* all zero = none */
	uint64_t eui64_be; /* EUI-64 as its 8 bytes read big-endian; 0 = none */
	uint8_t uuid[16];  /* all zero = the bdev's UUID */
	uint32_t anagrpid;
};

/** Defaults (nsid 0, no ids). */
void usk_nvmf_ns_opts_get_defaults(struct usk_nvmf_ns_opts *opts, size_t opts_size);
/**
 * Add bdev bdev_name as a namespace of subsystem (which must be inactive or paused). Opens the
 * bdev (hot-remove removes the namespace). Connected controllers get a Namespace Attribute
 * Changed event once the subsystem resumes. Returns 0 and *nsid, -ENODEV (no bdev), -EEXIST
 * (nsid in use), -EINVAL (nsid > max), -ENOSPC (no free nsid), -EPERM (wrong state).
 */
int usk_nvmf_subsystem_add_ns_ext(struct usk_nvmf_subsystem *subsystem, const char *bdev_name,
				  const struct usk_nvmf_ns_opts *opts, size_t opts_size,
				  uint32_t *nsid);
/** Remove namespace nsid (subsystem inactive or paused). 0, -ENOENT, -EPERM. */
int usk_nvmf_subsystem_remove_ns(struct usk_nvmf_subsystem *subsystem, uint32_t nsid);
/** Namespace nsid or NULL; iterate in NSID order. Target thread. */
struct usk_nvmf_ns *usk_nvmf_subsystem_get_ns(struct usk_nvmf_subsystem *subsystem, uint32_t nsid);
/** Lowest-NSID namespace, or NULL. Target thread. */
struct usk_nvmf_ns *usk_nvmf_subsystem_get_first_ns(struct usk_nvmf_subsystem *subsystem);
/** The namespace after prev in NSID order, or NULL. Target thread. */
struct usk_nvmf_ns *usk_nvmf_subsystem_get_next_ns(struct usk_nvmf_subsystem *subsystem,
						   struct usk_nvmf_ns *prev);
/** The namespace's NSID. */
uint32_t usk_nvmf_ns_get_id(const struct usk_nvmf_ns *ns);
/** The namespace's bdev (struct usk_bdev *). */
struct usk_bdev *usk_nvmf_ns_get_bdev(struct usk_nvmf_ns *ns);
/**
 * Copy the namespace's options (opts_size bytes, normally sizeof(*opts)) into opts. Target thread.
 */
void usk_nvmf_ns_get_opts(const struct usk_nvmf_ns *ns, struct usk_nvmf_ns_opts *opts,
			  size_t opts_size);

#ifdef __cplusplus
}
#endif
#endif
