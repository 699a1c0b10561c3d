/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usk_trace: print the tracepoint records of a running usk app (-p PID) or of a saved trace
 * file (-f FILE) in time order, timestamps in µs, with per-object latency (I/O start to done,
 * request new to done) and a latency summary, as spdk_trace does.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usk/trace.h"

/* Open-addressing map object id -> start tsc (per pairing kind). */
struct start_map {
	uint64_t *keys;
	uint64_t *tsc;
	size_t cap; /* power of two */
};

struct lat_sum {
	const char *name;
	uint64_t count;
	double sum_us;
	double max_us;
};

static int
map_init(struct start_map *m, size_t n)
{
	m->cap = 1024;
	while (m->cap < 2 * n) {
		m->cap <<= 1;
	}
	m->keys = calloc(m->cap, sizeof(*m->keys));
	m->tsc = calloc(m->cap, sizeof(*m->tsc));
	return m->keys && m->tsc ? 0 : -ENOMEM;
}

static size_t
map_slot(struct start_map *m, uint64_t key)
{
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & (m->cap - 1);

	while (m->keys[i] != 0 && m->keys[i] != key) {
		i = (i + 1) & (m->cap - 1);
	}
	return i;
}

static void
map_put(struct start_map *m, uint64_t key, uint64_t tsc)
{
	size_t i = map_slot(m, key | 1); /* key 0 marks an empty slot */

	m->keys[i] = key | 1;
	m->tsc[i] = tsc;
}

/* Start tsc of key (and forget it), or 0. Deleting by tombstone would be exact; keeping the
 * key with tsc 0 is enough here since objects (I/O, requests) are reused. */
static uint64_t
map_take(struct start_map *m, uint64_t key)
{
	size_t i = map_slot(m, key | 1);
	uint64_t t = m->keys[i] ? m->tsc[i] : 0;

	if (m->keys[i]) {
		m->tsc[i] = 0;
	}
	return t;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct usk_trace_entry *x = a, *y = b;

	return x->tsc < y->tsc ? -1 : x->tsc > y->tsc ? 1 : 0;
}

static const char *
io_type_name(uint64_t t)
{
	static const char *const names[] = {"invalid",	  "read",    "write",
					    "unmap",	  "flush",   "reset",
					    "nvme_admin", "nvme_io", "write_zeroes",
					    "zcopy",	  "compare", "compare_and_write",
					    "abort",	  "copy"};

	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

static void
usage(const char *prog)
{
	fprintf(stderr,
		"Usage: %s (-p PID | -f FILE) [-n MAX] [-q]\n"
		"  -p PID   trace of a running app (/dev/shm/*_trace.pid<PID>)\n"
		"  -f FILE  a trace file (e.g. a copy of /dev/shm/usk_tgt_trace.pid<PID>)\n"
		"  -n MAX   print at most the last MAX records (default all)\n"
		"  -q       summary only\n",
		prog);
}

static char *
find_pid_file(const char *pid)
{
	char pattern[128];
	glob_t g;
	char *path = NULL;

	snprintf(pattern, sizeof(pattern), "/dev/shm/*_trace.pid%s", pid);
	if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0) {
		path = strdup(g.gl_pathv[0]);
	}
	globfree(&g);
	return path;
}

int
main(int argc, char **argv)
{
	const char *file = NULL, *pid = NULL;
	char *path = NULL;
	struct usk_trace_header *hdr;
	struct usk_trace_entry *all;
	struct start_map io_map = {}, req_map = {};
	struct lat_sum lat[2] = {{"bdev I/O (start to done)"}, {"NVMe/TCP request (new to done)"}};
	uint64_t counts[USK_TPOINT_COUNT] = {}, first, hz;
	size_t n = 0, i, max = SIZE_MAX, from;
	struct stat st;
	char last_name[17] = "";
	uint64_t last_name_obj = 0;
	bool quiet = false;
	uint32_t c;
	void *map;
	int ch, fd;

	while ((ch = getopt(argc, argv, "f:hn:p:q")) != -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 'p':
			pid = optarg;
			break;
		case 'n':
			max = (size_t)strtoull(optarg, NULL, 10);
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 1;
		}
	}
	if ((file == NULL) == (pid == NULL)) {
		usage(argv[0]);
		return 1;
	}
	if (pid != NULL) {
		path = find_pid_file(pid);
		if (path == NULL) {
			fprintf(stderr,
				"usk_trace: no /dev/shm/*_trace.pid%s (is the app running with -e?)\n",
				pid);
			return 1;
		}
		file = path;
	}
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "usk_trace: cannot open %s: %s\n", file, strerror(errno));
		return 1;
	}
	if ((size_t)st.st_size < sizeof(*hdr)) {
		fprintf(stderr, "usk_trace: %s: too short for a trace file\n", file);
		return 1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		fprintf(stderr, "usk_trace: mmap %s: %s\n", file, strerror(errno));
		return 1;
	}
	hdr = map;
	if (__atomic_load_n(&hdr->magic, __ATOMIC_ACQUIRE) != USK_TRACE_MAGIC ||
	    hdr->num_cores == 0 || hdr->num_cores > USK_TRACE_MAX_CORES || hdr->num_entries == 0 ||
	    (hdr->num_entries & (hdr->num_entries - 1)) != 0 ||
	    sizeof(*hdr) + (size_t)hdr->num_cores *
				    (sizeof(struct usk_trace_ring) +
				     (size_t)hdr->num_entries * sizeof(struct usk_trace_entry)) >
		    (size_t)st.st_size) {
		fprintf(stderr, "usk_trace: %s is not a usk trace file (or a truncated one)\n",
			file);
		return 1;
	}
	hz = hdr->tsc_rate ? hdr->tsc_rate : 1;
	all = calloc((size_t)hdr->num_cores * hdr->num_entries, sizeof(*all));
	if (all == NULL || map_init(&io_map, hdr->num_entries) != 0 ||
	    map_init(&req_map, hdr->num_entries) != 0) {
		fprintf(stderr, "usk_trace: out of memory\n");
		return 1;
	}
	for (c = 0; c < hdr->num_cores; c++) {
		const struct usk_trace_ring *r =
			(const void *)((const char *)(hdr + 1) +
				       (size_t)c * (sizeof(struct usk_trace_ring) +
						    (size_t)hdr->num_entries *
							    sizeof(struct usk_trace_entry)));
		uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE), k;
		uint64_t start = head > hdr->num_entries ? head - hdr->num_entries : 0;

		for (k = start; k < head; k++) {
			const struct usk_trace_entry *e = &r->entries[k & (hdr->num_entries - 1)];
			uint64_t tsc = __atomic_load_n(&e->tsc, __ATOMIC_ACQUIRE);

			if (tsc == 0 || e->tpoint >= USK_TPOINT_COUNT) {
				continue; /* being written, or garbage */
			}
			all[n] = *e;
			all[n].tsc = tsc;
			n++;
		}
	}
	qsort(all, n, sizeof(*all), entry_cmp);
	printf("%s pid %" PRIu64 ": %zu records, %u cores, tsc %" PRIu64 " Hz, groups 0x%" PRIx64
	       "\n",
	       hdr->app_name, hdr->pid, n, hdr->num_cores, hz, hdr->tpoint_mask);
	if (n == 0) {
		return 0;
	}
	first = all[0].tsc;
	from = n > max ? n - max : 0;
	if (!quiet) {
		printf("%14s %4s  %-14s %-18s %-26s %10s\n", "TIME_us", "CORE", "TPOINT", "OBJECT",
		       "ARGS", "LAT_us");
	}
	for (i = 0; i < n; i++) {
		const struct usk_trace_entry *e = &all[i];
		double t_us = (double)(e->tsc - first) * 1e6 / (double)hz, l_us = -1;
		char args[64] = "";
		uint64_t s;

		counts[e->tpoint]++;
		switch (e->tpoint) {
		case USK_TPOINT_BDEV_IO_START:
			map_put(&io_map, e->object_id, e->tsc);
			snprintf(args, sizeof(args), "%s offset %" PRIu64, io_type_name(e->arg1),
				 e->arg2);
			break;
		case USK_TPOINT_BDEV_IO_DONE:
			s = map_take(&io_map, e->object_id);
			if (s != 0) {
				l_us = (double)(e->tsc - s) * 1e6 / (double)hz;
				lat[0].count++;
				lat[0].sum_us += l_us;
				lat[0].max_us = l_us > lat[0].max_us ? l_us : lat[0].max_us;
			}
			snprintf(args, sizeof(args), "status %" PRId64, (int64_t)(int8_t)e->arg1);
			break;
		case USK_TPOINT_TCP_PDU_RECV:
			snprintf(args, sizeof(args), "type 0x%" PRIx64 " plen %" PRIu64, e->arg1,
				 e->arg2);
			break;
		case USK_TPOINT_TCP_PDU_SEND:
			snprintf(args, sizeof(args), "iovs %" PRIu64 " hdr %" PRIu64 " B", e->arg1,
				 e->arg2);
			break;
		case USK_TPOINT_TCP_REQ_NEW:
			map_put(&req_map, e->object_id, e->tsc);
			snprintf(args, sizeof(args), "cid %" PRIu64 " opc 0x%02" PRIx64, e->arg1,
				 e->arg2);
			break;
		case USK_TPOINT_TCP_REQ_EXEC:
		case USK_TPOINT_TCP_REQ_DONE:
			/* EXEC: time since NEW (kept); DONE: the request's whole life */
			if (e->tpoint == USK_TPOINT_TCP_REQ_DONE) {
				s = map_take(&req_map, e->object_id);
			} else {
				s = req_map.keys[map_slot(&req_map, e->object_id | 1)] ?
					    req_map.tsc[map_slot(&req_map, e->object_id | 1)] :
					    0;
			}
			if (s != 0) {
				l_us = (double)(e->tsc - s) * 1e6 / (double)hz;
				if (e->tpoint == USK_TPOINT_TCP_REQ_DONE) {
					lat[1].count++;
					lat[1].sum_us += l_us;
					lat[1].max_us = l_us > lat[1].max_us ? l_us : lat[1].max_us;
				}
			}
			snprintf(args, sizeof(args), "cid %" PRIu64, e->arg1);
			break;
		case USK_TPOINT_OBJECT_NAME:
			/* not printed: names the object of the record that follows */
			memcpy(last_name, &e->arg1, 8);
			memcpy(last_name + 8, &e->arg2, 8);
			last_name[16] = '\0';
			last_name_obj = e->object_id;
			continue;
		case USK_TPOINT_POLLER_SLOW:
			l_us = (double)e->arg1 * 1e6 / (double)hz;
			snprintf(args, sizeof(args), "%s thread %" PRIu64,
				 last_name_obj == e->object_id ? last_name : "?", e->arg2);
			break;
		default:
			break;
		}
		if (quiet || i < from) {
			continue;
		}
		if (l_us >= 0) {
			printf("%14.3f %4u  %-14s 0x%-16" PRIx64 " %-26s %10.3f\n", t_us, e->core,
			       usk_trace_tpoint_name(e->tpoint), e->object_id, args, l_us);
		} else {
			printf("%14.3f %4u  %-14s 0x%-16" PRIx64 " %-26s\n", t_us, e->core,
			       usk_trace_tpoint_name(e->tpoint), e->object_id, args);
		}
	}
	printf("--- summary over %.3f ms\n", (double)(all[n - 1].tsc - first) * 1e3 / (double)hz);
	for (i = 0; i < USK_TPOINT_COUNT; i++) {
		if (counts[i] != 0) {
			printf("%-16s %10" PRIu64 "\n", usk_trace_tpoint_name(i), counts[i]);
		}
	}
	for (i = 0; i < 2; i++) {
		if (lat[i].count != 0) {
			printf("latency %s: %" PRIu64 " samples, avg %.3f us, max %.3f us\n",
			       lat[i].name, lat[i].count, lat[i].sum_us / (double)lat[i].count,
			       lat[i].max_us);
		}
	}
	free(all);
	free(io_map.keys);
	free(io_map.tsc);
	free(req_map.keys);
	free(req_map.tsc);
	free(path);
	munmap(map, (size_t)st.st_size);
	return 0;
}
