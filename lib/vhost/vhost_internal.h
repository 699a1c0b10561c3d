/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/vhost private structures: guest memory table, virtqueues, vhost-user connection, blk device.
 */
#ifndef USK_VHOST_INTERNAL_H
#define USK_VHOST_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include "usk/bdev.h"
#include "usk/thread.h"
#include "usk/util.h"
#include "usk/vhost.h"
#include "usk/virtio_spec.h"

/* Virtqueues per controller (GET_QUEUE_NUM answer). */
#define VHOST_MAX_QUEUES 16
/* iovecs one request may use (header and status included); seg_max = this - 2. */
#define VHOST_MAX_IOVS 128
/* Longest direct packed chain taken (descriptors; each usually one iovec). */
#define VHOST_MAX_PACKED_CHAIN VHOST_MAX_IOVS
/* Requests taken from one queue per poll (the merge window, as QEMU's VIRTIO_BLK_MAX_MERGE_REQS).
 */
#define VHOST_BATCH 32
/* Merged I/O limits (QEMU: blk_get_max_iov, max_transfer). */
#define VHOST_MERGE_MAX_IOVS  256
#define VHOST_MERGE_MAX_BYTES (1u << 20)
#define VHOST_MERGE_SLOTS     8
/* Coalescing statistics window (SPDK's SPDK_VHOST_STATS_CHECK_INTERVAL_MS). */
#define VHOST_STATS_CHECK_INTERVAL_MS 10
#define VHOST_DEFAULT_IOPS_THRESHOLD  60000

/* ---- guest memory (vhost_mem.c) ---- */

struct vhost_mem_region {
	uint64_t gpa; /* guest physical start */
	uint64_t size;
	uint64_t uva;	 /* front-end (QEMU) virtual start: ring addresses use these */
	uint8_t *host;	 /* our mapping of gpa */
	void *mmap_addr; /* what munmap gets */
	size_t mmap_size;
};

struct vhost_mem {
	uint32_t nregions;
	struct vhost_mem_region regions[USK_VHOST_USER_MEMORY_MAX_NREGIONS];
};

/* Map the regions of msg with fds (nfds == nregions); fds are closed (mapped or not). */
int vhost_mem_map(struct vhost_mem *mem, const struct usk_vhost_user_memory *msg, const int *fds,
		  int nfds, char *err, size_t err_len);
void vhost_mem_unmap(struct vhost_mem *mem);
/* Host pointer of [gpa, gpa + len) when it lies inside one region, else NULL. */
void *vhost_gpa_to_vva(const struct vhost_mem *mem, uint64_t gpa, uint64_t len);
/* Same for a front-end virtual address (SET_VRING_ADDR). */
void *vhost_uva_to_vva(const struct vhost_mem *mem, uint64_t uva, uint64_t len);
/*
 * Append [gpa, gpa + len) as iovecs (split where it crosses regions). Returns 0, -EFAULT (not
 * all in guest memory), -E2BIG (more than max_iovs in total).
 */
int vhost_gpa_to_iovs(const struct vhost_mem *mem, uint64_t gpa, uint32_t len, struct iovec *iovs,
		      uint16_t *iovcnt, uint16_t max_iovs);

/* ---- virtqueue (vring.c: pure ring logic over mapped memory) ---- */

struct vhost_vq {
	/* Hot: read on every poll. */
	uint16_t size;
	bool packed;
	bool event_idx;
	bool live;		 /* addresses translated, kick received, enabled */
	uint16_t last_avail_idx; /* split: free-running; packed: ring position */
	uint16_t last_used_idx;
	bool avail_wrap; /* packed: driver wrap counter we expect */
	bool used_wrap;	 /* packed: device wrap counter */
	union {
		struct {
			struct usk_vring_desc *desc;
			struct usk_vring_avail *avail;
			struct usk_vring_used *used;
		} split;
		struct {
			struct usk_vring_packed_desc *desc;
			struct usk_vring_packed_desc_event *driver_event;
			struct usk_vring_packed_desc_event *device_event;
		} pk;
	};
	uint16_t used_since_signal; /* completions not yet signalled */
	uint16_t signalled_used;    /* used idx at the last signal (EVENT_IDX) */
	bool signalled_used_valid;
	uint32_t inflight_cnt; /* requests fetched and not completed */
	/* Coalescing (SPDK check_dev_io_stats). */
	uint64_t next_event_time;
	uint64_t irq_delay_ticks;
	uint32_t req_cnt;
	/* Cold: set by messages. */
	uint64_t desc_uva, avail_uva, used_uva;
	bool addr_set;
	bool enabled;
	bool kick_received;
	int kickfd;
	int callfd;
	int errfd;
	uint32_t base_idx; /* SET_VRING_BASE value (packed: avail in bits 0-15, used in 16-31) */
	struct usk_interrupt *kick_intr;
	/* Inflight tracking region of this queue (NULL without INFLIGHT_SHMFD). */
	union {
		struct usk_vhost_inflight_split *inflight;
		struct usk_vhost_inflight_packed *inflight_pk; /* same pointer, packed layout */
	};
	uint64_t inflight_counter;
	uint32_t inflight_descs; /* packed: ring slots fetched and not used */
	uint16_t index;
	struct vhost_blk_task *tasks; /* size entries, indexed by head / buffer id */
};

/* One descriptor chain as walked: device-readable iovecs first, then device-writable ones. */
struct vring_chain {
	uint16_t id;	 /* split: head index; packed: buffer id */
	uint16_t ndescs; /* packed: ring slots consumed */
	uint16_t iovcnt;
	uint16_t out_iovcnt; /* leading device-readable iovecs */
	uint32_t out_len;    /* bytes readable */
	uint32_t in_len;     /* bytes writable */
	bool writable_seen;
};

/*
 * Walk the split chain starting at head: every descriptor checked (index < size, len, no loops,
 * no device-readable after device-writable, one level of indirection, addresses in guest
 * memory). Returns 0, -EINVAL (malformed), -EFAULT (outside guest memory), -E2BIG.
 */
int vring_split_get_chain(const struct vhost_vq *vq, const struct vhost_mem *mem, uint16_t head,
			  struct iovec *iovs, uint16_t max_iovs, struct vring_chain *chain);
/* Number of new avail entries (0 when none); -EINVAL when avail->idx ran more than size ahead. */
int vring_split_avail_count(const struct vhost_vq *vq);
/* Next avail head (call after avail_count > 0); advances last_avail_idx. -EINVAL if >= size. */
int vring_split_next_head(struct vhost_vq *vq, uint16_t *head);
void vring_split_prefetch(const struct vhost_vq *vq, const struct vhost_mem *mem, int n);
void vring_split_push_used(struct vhost_vq *vq, uint16_t id, uint32_t len);

/* Whether the packed descriptor at last_avail_idx is available. */
bool vring_packed_avail(const struct vhost_vq *vq);
/* Walk the packed chain at last_avail_idx (same checks); does not advance. */
int vring_packed_get_chain(const struct vhost_vq *vq, const struct vhost_mem *mem,
			   struct iovec *iovs, uint16_t max_iovs, struct vring_chain *chain);
/* The same, storing each descriptor as read in copies (at most max_copies: else -E2BIG). */
int vring_packed_get_chain_copy(const struct vhost_vq *vq, const struct vhost_mem *mem,
				struct usk_vring_packed_desc *copies, uint16_t max_copies,
				struct iovec *iovs, uint16_t max_iovs, struct vring_chain *chain);
/* Walk a chain of ndescs private descriptors (an inflight record); it must end at the last one. */
int vring_packed_walk_descs(const struct vhost_vq *vq, const struct vhost_mem *mem,
			    const struct usk_vring_packed_desc *descs, uint16_t ndescs,
			    struct iovec *iovs, uint16_t max_iovs, struct vring_chain *chain);
/* Advance last_avail_idx past chain (ndescs slots, wrapping). */
void vring_packed_advance(struct vhost_vq *vq, uint16_t ndescs);
void vring_packed_push_used(struct vhost_vq *vq, uint16_t id, uint32_t len, uint16_t ndescs);

/* Whether the driver wants an interrupt for the completions since the last signal. */
bool vring_need_signal(struct vhost_vq *vq);
/* Tell the driver whether to kick (enable = interrupt mode). With EVENT_IDX sets avail_event. */
void vring_set_notification(struct vhost_vq *vq, bool enable);

/* ---- vhost-user messages (vhost_msg.c: pure checks) ---- */

/* Payload bytes a request needs, with the fds it must carry. Returns 0 or -EINVAL (reason in err).
 */
int vhost_user_msg_check(const struct usk_vhost_user_hdr *hdr, int nfds, char *err, size_t err_len);
const char *vhost_user_req_name(uint32_t request);
/* Escape non-printable bytes of wire data for a log line. */
void vhost_escape(const void *data, size_t len, char *out, size_t out_len);

/* ---- blk device ---- */

enum vhost_task_state {
	VHOST_TASK_FREE = 0,
	VHOST_TASK_QUEUED,    /* collected in the merge window */
	VHOST_TASK_SUBMITTED, /* bdev I/O outstanding */
	VHOST_TASK_WAIT_IO,   /* waiting for a bdev_io (ENOMEM) */
};

struct vhost_blk_merge;

struct vhost_blk_task {
	struct vhost_blk_dev *dev;
	struct vhost_vq *vq;
	enum vhost_task_state state;
	uint16_t id;
	uint16_t ndescs;
	uint16_t inflight_head; /* packed: first inflight-region entry of the chain */
	uint16_t inflight_last; /* packed: its last entry */
	uint32_t type;
	uint64_t sector;
	uint64_t nbytes;
	uint8_t *status;
	uint32_t used_len;
	uint16_t data_iovcnt;
	struct iovec *data_iovs;
	struct vhost_blk_task *mr_next; /* merged chain: the next request of the same bdev I/O */
	struct vhost_blk_merge *merge;	/* owner of the merged iovec array (head task only) */
	struct usk_bdev_io_wait_entry wait;
	struct iovec iovs[VHOST_MAX_IOVS];
};

struct vhost_blk_merge {
	bool used;
	struct iovec iovs[VHOST_MERGE_MAX_IOVS];
};

enum vhost_conn_state {
	VHOST_CONN_NONE = 0, /* listening, no front-end */
	VHOST_CONN_ACTIVE,   /* reading messages */
	VHOST_CONN_STALLED,  /* a message waits for in-flight requests to finish */
	VHOST_CONN_CLOSING,  /* closing: draining in-flight requests before unmapping */
};

enum vhost_rx_state {
	VHOST_RX_HDR = 0,
	VHOST_RX_PAYLOAD,
};

struct vhost_blk_dev {
	/* Hot (ctrlr thread). */
	struct vhost_vq vqs[VHOST_MAX_QUEUES];
	uint16_t max_queues;  /* highest live queue + 1 */
	bool paused;	      /* no fetching (stall / close) */
	bool signal_pending;  /* a flush message is queued (interrupt mode) */
	bool yield_when_idle; /* polled on a thread pinned to one core: see vq_poller */
	uint8_t idle_polls;   /* 1 after an empty poll, 0 after a busy one */
	uint64_t features;    /* negotiated */
	struct usk_bdev_desc *bdev_desc;
	struct usk_io_channel *ch;
	struct usk_bdev *bdev;
	uint32_t block_size;
	uint64_t num_blocks;
	struct vhost_mem mem;
	struct vhost_blk_merge merges[VHOST_MERGE_SLOTS];
	/* Coalescing, ticks. */
	uint64_t coalescing_delay_ticks;
	uint32_t coalescing_io_threshold; /* requests per stats window */
	uint64_t next_stats_check_time;
	uint64_t stats_check_ticks;
	struct usk_poller *vq_poller;
	/* Cold. */
	char name[USK_VHOST_MAX_NAME_LEN];
	char bdev_name[USK_BDEV_MAX_NAME_LEN];
	char *socket_path;
	struct usk_cpuset cpumask;
	bool readonly;
	bool packed_ring;
	uint32_t delay_base_us; /* ctrlr thread's copy */
	uint32_t iops_threshold;
	uint32_t cfg_delay_base_us; /* app thread's copy (dumps, save_config) */
	uint32_t cfg_iops_threshold;
	bool app_removing; /* app thread: a removal was started */
	struct usk_thread *thread;
	int listen_fd;
	int conn_fd;
	enum vhost_conn_state conn_state;
	enum vhost_rx_state rx_state;
	struct usk_vhost_user_hdr rx_hdr;
	union usk_vhost_user_payload rx_payload;
	size_t rx_got;
	bool rx_held; /* rx_msg is complete and waits for a drain */
	int rx_fds[USK_VHOST_USER_MAX_FDS];
	int rx_nfds;
	uint64_t protocol_features;
	bool owner_set;
	bool features_set;
	uint8_t status;
	struct usk_poller *conn_poller;
	struct usk_poller *drain_poller;
	struct usk_interrupt *listen_intr;
	struct usk_interrupt *conn_intr;
	void *inflight_addr;
	size_t inflight_size;
	uint16_t inflight_num_queues;
	uint16_t inflight_queue_size;
	uint64_t connections;	  /* accepted so far */
	uint64_t protocol_errors; /* connections closed for bad input */
	bool removing;
	bool bdev_removed; /* hot-removed: released once the connection is gone */
	void (*remove_cb)(void *cb_arg, int rc);
	void *remove_cb_arg;
	TAILQ_ENTRY(vhost_blk_dev) link; /* g_vhost_devs, app thread */
};

/* vhost_user.c (ctrlr thread) */
int vhost_user_listen(struct vhost_blk_dev *dev);
void vhost_user_shutdown(struct vhost_blk_dev *dev);
/* Close the connection with a log line (bad input, EOF): drains, unmaps, listens again. */
void vhost_user_close_conn(struct vhost_blk_dev *dev, const char *why);

/* vhost.c (ctrlr thread): the connection is gone; go on removing the controller / bdev. */
void vhost_dev_remove_continue(struct vhost_blk_dev *dev);
void vhost_dev_release_bdev(struct vhost_blk_dev *dev);

/* vhost_blk.c (ctrlr thread) */
int vhost_blk_vq_start(struct vhost_blk_dev *dev, struct vhost_vq *vq);
void vhost_blk_vq_stop(struct vhost_blk_dev *dev, struct vhost_vq *vq);
uint32_t vhost_blk_inflight(const struct vhost_blk_dev *dev);
void vhost_blk_get_config(const struct vhost_blk_dev *dev, struct usk_virtio_blk_config *cfg);
uint64_t vhost_blk_features(const struct vhost_blk_dev *dev);
void vhost_blk_update_poller(struct vhost_blk_dev *dev);
/* After a held message ran: interrupt mode re-reads every live ring (kicks were consumed). */
void vhost_blk_resume(struct vhost_blk_dev *dev);
void vhost_blk_set_coalescing_ticks(struct vhost_blk_dev *dev);
int vhost_blk_vq_poll(struct vhost_blk_dev *dev, struct vhost_vq *vq);
void vhost_blk_signal_all(struct vhost_blk_dev *dev, uint64_t now);

/* Merge helpers exposed for unit tests (vhost_blk.c). */
void vhost_blk_sort_tasks(struct vhost_blk_task **tasks, int n);
bool vhost_blk_any_adjacent(struct vhost_blk_task *const *tasks, int n);

#endif
