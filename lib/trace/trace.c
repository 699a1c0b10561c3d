/* SPDX-License-Identifier: BSD-3-Clause */
/* Tracepoint rings in shared memory: creation, group masks, the record slow path. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/trace.h"

/* Read by every tracepoint (relaxed load); written by usk_trace_set_mask. */
uint64_t g_usk_trace_mask;

struct trace_state {
	struct usk_trace_header *hdr; /* NULL until usk_trace_init */
	size_t map_len;
	size_t ring_size; /* bytes per ring */
	uint32_t entry_mask;
	char path[128];
	uint64_t poller_threshold_ticks;
};

static struct trace_state g_trace;

static const char *const g_group_names[USK_TRACE_GROUP_COUNT] = {
	[USK_TRACE_GROUP_BDEV] = "bdev",
	[USK_TRACE_GROUP_NVMF_TCP] = "nvmf_tcp",
	[USK_TRACE_GROUP_THREAD] = "thread",
};

static const struct {
	const char *name;
	enum usk_trace_group group;
} g_tpoints[USK_TPOINT_COUNT] = {
	[USK_TPOINT_BDEV_IO_START] = {"BDEV_IO_START", USK_TRACE_GROUP_BDEV},
	[USK_TPOINT_BDEV_IO_DONE] = {"BDEV_IO_DONE", USK_TRACE_GROUP_BDEV},
	[USK_TPOINT_TCP_PDU_RECV] = {"TCP_PDU_RECV", USK_TRACE_GROUP_NVMF_TCP},
	[USK_TPOINT_TCP_PDU_SEND] = {"TCP_PDU_SEND", USK_TRACE_GROUP_NVMF_TCP},
	[USK_TPOINT_TCP_REQ_NEW] = {"TCP_REQ_NEW", USK_TRACE_GROUP_NVMF_TCP},
	[USK_TPOINT_TCP_REQ_EXEC] = {"TCP_REQ_EXEC", USK_TRACE_GROUP_NVMF_TCP},
	[USK_TPOINT_TCP_REQ_DONE] = {"TCP_REQ_DONE", USK_TRACE_GROUP_NVMF_TCP},
	[USK_TPOINT_POLLER_SLOW] = {"POLLER_SLOW", USK_TRACE_GROUP_THREAD},
	[USK_TPOINT_OBJECT_NAME] = {"OBJECT_NAME", USK_TRACE_GROUP_THREAD},
};

const char *
usk_trace_group_name(enum usk_trace_group group)
{
	return group < USK_TRACE_GROUP_COUNT ? g_group_names[group] : NULL;
}

int
usk_trace_group_from_name(const char *name)
{
	int i;

	for (i = 0; i < USK_TRACE_GROUP_COUNT; i++) {
		if (strcmp(name, g_group_names[i]) == 0) {
			return i;
		}
	}
	return -1;
}

const char *
usk_trace_tpoint_name(enum usk_tpoint tpoint)
{
	return tpoint < USK_TPOINT_COUNT ? g_tpoints[tpoint].name : "UNKNOWN";
}

uint64_t
usk_trace_tpoint_group_bit(enum usk_tpoint tpoint)
{
	return tpoint < USK_TPOINT_COUNT ? 1ULL << g_tpoints[tpoint].group : 0;
}

int
usk_trace_parse_mask(const char *arg, uint64_t *mask)
{
	uint64_t m = 0;
	char *copy, *tok, *save = NULL, *end;
	int g;

	if (arg == NULL || arg[0] == '\0') {
		return -EINVAL;
	}
	if (arg[0] >= '0' && arg[0] <= '9') {
		errno = 0;
		m = strtoull(arg, &end, 0);
		if (errno != 0 || *end != '\0' || (m >> USK_TRACE_GROUP_COUNT) != 0) {
			return -EINVAL;
		}
		*mask = m;
		return 0;
	}
	copy = strdup(arg);
	if (copy == NULL) {
		return -ENOMEM;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "all") == 0) {
			m |= (1ULL << USK_TRACE_GROUP_COUNT) - 1;
			continue;
		}
		g = usk_trace_group_from_name(tok);
		if (g < 0) {
			free(copy);
			return -EINVAL;
		}
		m |= 1ULL << g;
	}
	free(copy);
	*mask = m;
	return 0;
}

int
usk_trace_init(const char *name, uint32_t num_cores, uint32_t num_entries, uint64_t mask)
{
	uint32_t n = 1;
	size_t len;
	void *p;
	int fd, rc;

	if (g_trace.hdr != NULL) {
		return -EALREADY;
	}
	if (num_cores == 0 || num_cores > USK_TRACE_MAX_CORES || num_entries == 0 ||
	    num_entries > (1U << 24)) {
		return -EINVAL;
	}
	while (n < num_entries) {
		n <<= 1;
	}
	g_trace.ring_size =
		sizeof(struct usk_trace_ring) + (size_t)n * sizeof(struct usk_trace_entry);
	len = sizeof(struct usk_trace_header) + (size_t)num_cores * g_trace.ring_size;
	snprintf(g_trace.path, sizeof(g_trace.path), "/dev/shm/%s_trace.pid%d", name,
		 (int)getpid());
	fd = open(g_trace.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		USK_ERRLOG("trace: cannot create %s: %s\n", g_trace.path, strerror(errno));
		return rc;
	}
	if (ftruncate(fd, (off_t)len) != 0) {
		rc = -errno;
		goto err_close;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		goto err_close;
	}
	close(fd);
	g_trace.hdr = p;
	g_trace.map_len = len;
	g_trace.entry_mask = n - 1;
	g_trace.hdr->tsc_rate = usk_get_ticks_hz();
	g_trace.hdr->num_cores = num_cores;
	g_trace.hdr->num_entries = n;
	g_trace.hdr->pid = (uint64_t)getpid();
	snprintf(g_trace.hdr->app_name, sizeof(g_trace.hdr->app_name), "%s", name);
	if (g_trace.poller_threshold_ticks == 0) {
		g_trace.poller_threshold_ticks = usk_get_ticks_hz() / 10000; /* 100 µs */
	}
	/* Release: a reader that sees the magic sees the fields above. */
	__atomic_store_n(&g_trace.hdr->magic, USK_TRACE_MAGIC, __ATOMIC_RELEASE);
	usk_trace_set_mask(mask, true);
	USK_NOTICELOG("trace: %s, %u entries per core, groups 0x%llx\n", g_trace.path, n,
		      (unsigned long long)mask);
	return 0;

err_close:
	close(fd);
	unlink(g_trace.path);
	return rc;
}

void
usk_trace_fini(void)
{
	if (g_trace.hdr == NULL) {
		return;
	}
	__atomic_store_n(&g_usk_trace_mask, 0, __ATOMIC_RELAXED);
	munmap(g_trace.hdr, g_trace.map_len);
	g_trace.hdr = NULL;
	unlink(g_trace.path);
	g_trace.path[0] = '\0';
}

const char *
usk_trace_get_path(void)
{
	return g_trace.hdr != NULL ? g_trace.path : NULL;
}

int
usk_trace_set_mask(uint64_t mask, bool on)
{
	uint64_t m;

	if (g_trace.hdr == NULL) {
		return -ENODEV;
	}
	mask &= (1ULL << USK_TRACE_GROUP_COUNT) - 1;
	if (on) {
		m = __atomic_or_fetch(&g_usk_trace_mask, mask, __ATOMIC_RELAXED);
	} else {
		m = __atomic_and_fetch(&g_usk_trace_mask, ~mask, __ATOMIC_RELAXED);
	}
	g_trace.hdr->tpoint_mask = m;
	return 0;
}

uint64_t
usk_trace_get_mask(void)
{
	return __atomic_load_n(&g_usk_trace_mask, __ATOMIC_RELAXED);
}

void
usk_trace_set_poller_threshold_us(uint64_t us)
{
	g_trace.poller_threshold_ticks = us * usk_get_ticks_hz() / 1000000;
}

uint64_t
usk_trace_get_poller_threshold_ticks(void)
{
	return g_trace.poller_threshold_ticks;
}

void
usk_trace_record_slow(enum usk_tpoint tpoint, uint64_t object_id, uint64_t arg1, uint64_t arg2)
{
	struct usk_trace_header *hdr = g_trace.hdr;
	struct usk_trace_ring *ring;
	struct usk_trace_entry *e;
	uint32_t core;
	uint64_t idx;

	if (hdr == NULL) {
		return;
	}
	core = usk_env_get_current_core();
	if (core >= hdr->num_cores) {
		core = 0; /* a non-reactor thread: share ring 0 (fetch_add keeps it safe) */
	}
	ring = (struct usk_trace_ring *)((char *)(hdr + 1) + (size_t)core * g_trace.ring_size);
	idx = __atomic_fetch_add(&ring->head, 1, __ATOMIC_RELAXED);
	e = &ring->entries[idx & g_trace.entry_mask];
	/* tsc 0 marks the slot as being written; the final release store of tsc publishes it
	 * (pairs with the acquire load of tsc in usk_trace). */
	__atomic_store_n(&e->tsc, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	e->tpoint = (uint16_t)tpoint;
	e->core = (uint16_t)core;
	e->object_id = object_id;
	e->arg1 = arg1;
	e->arg2 = arg2;
	__atomic_store_n(&e->tsc, usk_get_ticks(), __ATOMIC_RELEASE);
}
