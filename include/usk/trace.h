/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tracepoints: fixed-size records (tsc, tracepoint, object id, two arguments) in a per-core
 * lock-free ring in shared memory (/dev/shm/<app>_trace.pid<PID>), read by usk_trace while the
 * app runs or from a copy of the file. Off, a tracepoint costs one load and a predictable
 * branch; groups are enabled by -e / --tpoint-group or trace_enable_tpoint_group.
 */
#ifndef USK_TRACE_H
#define USK_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Groups: bit i of the mask enables group i. */
enum usk_trace_group {
	USK_TRACE_GROUP_BDEV = 0,     /* bdev I/O submitted / completed */
	USK_TRACE_GROUP_NVMF_TCP = 1, /* NVMe/TCP PDUs received / sent, request states */
	USK_TRACE_GROUP_THREAD = 2,   /* poller runs longer than the threshold */
	USK_TRACE_GROUP_COUNT
};

enum usk_tpoint {
	USK_TPOINT_BDEV_IO_START = 0, /* obj bdev_io; a1 io type, a2 offset_blocks */
	USK_TPOINT_BDEV_IO_DONE,      /* obj bdev_io; a1 status */
	USK_TPOINT_TCP_PDU_RECV,      /* obj qpair; a1 PDU type, a2 PDU length */
	USK_TPOINT_TCP_PDU_SEND,      /* obj qpair; a1 iovec count, a2 bytes */
	USK_TPOINT_TCP_REQ_NEW,	      /* obj request; a1 cid, a2 opcode */
	USK_TPOINT_TCP_REQ_EXEC,      /* obj request; a1 cid */
	USK_TPOINT_TCP_REQ_DONE,      /* obj request (back on its free list) */
	USK_TPOINT_POLLER_SLOW,	      /* obj poller; a1 run time in ticks, a2 thread id */
	USK_TPOINT_OBJECT_NAME,	      /* obj any; a1, a2: its name's first 16 bytes (NUL-padded) */
	USK_TPOINT_COUNT
};

/* On-file layout (version 1). Fields only grow at the end. */
#define USK_TRACE_MAGIC	    0x31435254534b5355ULL /* "USKSTRC1" */
#define USK_TRACE_MAX_CORES 128

struct usk_trace_entry {
	uint64_t tsc;
	uint16_t tpoint;
	uint16_t core;
	uint32_t reserved;
	uint64_t object_id;
	uint64_t arg1;
	uint64_t arg2;
};

struct usk_trace_ring {
	/* Records written so far; entry i lives at entries[i % num_entries]. Incremented with
	 * fetch_add (several threads may share a core's ring); readers load it with acquire. */
	uint64_t head;
	uint8_t pad[56];
	struct usk_trace_entry entries[];
};

struct usk_trace_header {
	uint64_t magic;
	uint64_t tsc_rate;
	uint32_t num_cores;   /* rings that follow the header */
	uint32_t num_entries; /* per ring, a power of two */
	uint64_t tpoint_mask; /* groups enabled now (informational for readers) */
	char app_name[32];
	uint64_t pid;
	uint8_t pad[8];
};

_Static_assert(sizeof(struct usk_trace_entry) == 40, "trace file layout: entry");
_Static_assert(sizeof(struct usk_trace_ring) == 64, "trace file layout: ring header");
_Static_assert(sizeof(struct usk_trace_header) == 80, "trace file layout: header");

extern uint64_t g_usk_trace_mask;

/** Bit of the group of tpoint. */
uint64_t usk_trace_tpoint_group_bit(enum usk_tpoint tpoint);
/** Slow path of usk_trace_record: write one entry to the calling core's ring. Any thread. */
void usk_trace_record_slow(enum usk_tpoint tpoint, uint64_t object_id, uint64_t arg1,
			   uint64_t arg2);

static inline bool
usk_trace_group_enabled(enum usk_trace_group group)
{
	uint64_t mask = __atomic_load_n(&g_usk_trace_mask, __ATOMIC_RELAXED);

	return __builtin_expect((mask >> group) & 1, 0);
}

/** Record a tracepoint of group if that group is on. Any thread; never blocks or allocates. */
#define USK_TRACE(group, tpoint, obj, a1, a2) \
	do { \
		if (usk_trace_group_enabled(group)) { \
			usk_trace_record_slow((tpoint), (uint64_t)(obj), (uint64_t)(a1), \
					      (uint64_t)(a2)); \
		} \
	} while (0)

/**
 * Create the trace file /dev/shm/<name>_trace.pid<PID> with num_entries (rounded up to a
 * power of two) records per core for num_cores cores, and enable mask. Call once before the
 * reactors start. Returns 0 or -errno.
 */
int usk_trace_init(const char *name, uint32_t num_cores, uint32_t num_entries, uint64_t mask);
/** Unmap and remove the trace file. */
void usk_trace_fini(void);
/** The trace file's path, or NULL when tracing was not initialised. */
const char *usk_trace_get_path(void);
/** Enable (on) or disable the groups in mask. -ENODEV when usk_trace_init was not called. */
int usk_trace_set_mask(uint64_t mask, bool on);
uint64_t usk_trace_get_mask(void);
/** Group name ("bdev", "nvmf_tcp", "thread") and back; -1 for an unknown name. */
const char *usk_trace_group_name(enum usk_trace_group group);
int usk_trace_group_from_name(const char *name);
/** Tracepoint name for printing. */
const char *usk_trace_tpoint_name(enum usk_tpoint tpoint);
/**
 * Parse an -e argument: a hex/decimal mask or a comma list of group names ("all" allowed).
 * Returns 0 with *mask set, or -EINVAL.
 */
int usk_trace_parse_mask(const char *arg, uint64_t *mask);
/** Poller runs at least this long are traced (USK_TRACE_GROUP_THREAD); default 100 µs. */
void usk_trace_set_poller_threshold_us(uint64_t us);
uint64_t usk_trace_get_poller_threshold_ticks(void);

#ifdef __cplusplus
}
#endif
#endif
