/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usk_nvme_perf: drive NVMe namespaces (PCIe or NVMe/TCP) with a fixed queue depth from one
 * pinned worker per core and print spdk_nvme_perf's table (IOPS, MiB/s, latency per namespace
 * and core, then Total). Each worker owns its qpairs; a helper thread polls the admin queues
 * (keep-alive) meanwhile.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <unistd.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/nvme.h"
#include "usk/util.h"
#include "perf_latency.h"

#define MAX_TRIDS 16
#define MAX_NS	  64

struct trid_entry {
	struct usk_nvme_transport_id trid;
	struct usk_nvme_trid_extra extra;
};

struct ctrlr_entry {
	struct usk_nvme_ctrlr *ctrlr;
	struct trid_entry *te;
};

struct ns_entry {
	struct usk_nvme_ctrlr *ctrlr;
	struct usk_nvme_ns *ns;
	uint32_t block_size;
	uint64_t size_in_ios;
	uint32_t io_size_blocks;
	char name[640];
};

struct perf_task;

struct ns_worker_ctx {
	struct ns_entry *entry;
	struct usk_nvme_qpair **qpairs;
	uint32_t num_qpairs;
	uint32_t next_qpair;
	uint64_t offset_in_ios; /* sequential patterns */
	uint64_t io_completed;
	uint64_t io_failed;
	uint64_t current_queue_depth;
	uint64_t total_tsc;
	uint64_t min_tsc;
	uint64_t max_tsc;
	uint64_t seed;
	bool is_draining;
	struct perf_task *tasks;
	struct perf_hist *hist;
	struct worker *worker;
	TAILQ_ENTRY(ns_worker_ctx) link;
};

struct perf_task {
	struct ns_worker_ctx *ns_ctx;
	void *buf;
	uint64_t submit_tsc;
	bool is_read;
};

struct worker {
	uint32_t lcore;
	TAILQ_HEAD(, ns_worker_ctx) ns_ctxs;
	double cpu_sec;
	TAILQ_ENTRY(worker) link;
};

static struct trid_entry g_trids[MAX_TRIDS];
static int g_num_trids;
static struct ctrlr_entry g_ctrlrs[MAX_TRIDS * 4];
static int g_num_ctrlrs;
static struct ns_entry g_ns[MAX_NS];
static int g_num_ns;
static TAILQ_HEAD(, worker) g_workers = TAILQ_HEAD_INITIALIZER(g_workers);

static uint32_t g_queue_depth;
static uint32_t g_io_size;
static int g_rw_percentage = -1;
static bool g_is_random;
static uint32_t g_time_sec;
static uint32_t g_warmup_sec;
static uint32_t g_nr_qpairs = 1;
static uint64_t g_number_ios;
static int g_latency_level;
static bool g_hdgst, g_ddgst;
static uint32_t g_keep_alive_ms = 10000;
static uint32_t g_io_queue_size;
static const char *g_core_mask = "0x1";
static bool g_no_huge;
static uint64_t g_tsc_hz;
static volatile bool g_exit;
static volatile bool g_admin_stop;
static pthread_barrier_t g_start_barrier;

static void
usage(const char *prog)
{
	printf("%s options\n", prog);
	printf("\t[-q, --io-depth <val> io depth]\n");
	printf("\t[-o, --io-size <val> io size in bytes]\n");
	printf("\t[-w, --io-pattern <pattern> io pattern type, must be one of\n");
	printf("\t\t(read, write, randread, randwrite, rw, randrw)]\n");
	printf("\t[-M, --rwmixread <0-100> rwmixread (100 for reads, 0 for writes)]\n");
	printf("\t[-t, --time <sec> time in seconds]\n");
	printf("\t[-a, --warmup-time <sec> warmup time in seconds]\n");
	printf("\t[-c, --core-mask <mask> core mask for I/O submission/completion]\n");
	printf("\t\t(default: 1)\n");
	printf("\t[-r, --transport <fmt> Transport ID for local PCIe NVMe or NVMeoF]\n");
	printf("\t Format: 'key:value [key:value] ...'\n");
	printf("\t Keys:\n");
	printf("\t  trtype      Transport type (e.g. PCIe, TCP)\n");
	printf("\t  adrfam      Address family (e.g. IPv4, IPv6)\n");
	printf("\t  traddr      Transport address (e.g. 0000:04:00.0 for PCIe or 192.168.100.8 for TCP)\n");
	printf("\t  trsvcid     Transport service identifier (e.g. 4420)\n");
	printf("\t  subnqn      Subsystem NQN\n");
	printf("\t  ns          NVMe namespace ID (all active namespaces are used by default)\n");
	printf("\t  hostnqn     Host NQN\n");
	printf("\t Example: -r 'trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 "
	       "subnqn:nqn.2016-06.io.spdk:cnode1'\n");
	printf("\t  (may be given more than once)\n");
	printf("\t[-P, --num-qpairs <val> number of io queues per namespace. default: 1]\n");
	printf("\t[-d, --number-ios <val> number of I/O to perform per thread on each namespace "
	       "(0: unlimited)]\n");
	printf("\t[-L, --enable-sw-latency-tracking enable latency tracking via sw, default: disabled]\n");
	printf("\t\t-L for latency summary, -LL for detailed histogram\n");
	printf("\t[-H, --enable-tcp-hdgst enable header digest for TCP transport, default: disabled]\n");
	printf("\t[-I, --enable-tcp-ddgst enable data digest for TCP transport, default: disabled]\n");
	printf("\t[-k, --keepalive <ms> keep alive timeout period in millisecond]\n");
	printf("\t[-Q, --io-queue-size <val> entries per I/O queue (default: as deep as -q needs)]\n");
	printf("\t[-i, --shmem-grp-index <id> shared memory group ID (accepted; usk needs none)]\n");
	printf("\t[-G, --enable-debug enable debug logging (flag nvme)]\n");
	printf("\t[--no-huge do not use hugepages]\n");
	printf("\t[-h, --help]\n");
}

static int
parse_u32(const char *s, const char *what, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || *end != '\0' || s[0] == '-' || v > UINT32_MAX) {
		fprintf(stderr, "Invalid %s '%s'\n", what, s);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int
parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"io-depth", required_argument, NULL, 'q'},
		{"io-size", required_argument, NULL, 'o'},
		{"io-pattern", required_argument, NULL, 'w'},
		{"rwmixread", required_argument, NULL, 'M'},
		{"time", required_argument, NULL, 't'},
		{"warmup-time", required_argument, NULL, 'a'},
		{"core-mask", required_argument, NULL, 'c'},
		{"transport", required_argument, NULL, 'r'},
		{"num-qpairs", required_argument, NULL, 'P'},
		{"number-ios", required_argument, NULL, 'd'},
		{"enable-sw-latency-tracking", no_argument, NULL, 'L'},
		{"enable-tcp-hdgst", no_argument, NULL, 'H'},
		{"enable-tcp-ddgst", no_argument, NULL, 'I'},
		{"keepalive", required_argument, NULL, 'k'},
		{"io-queue-size", required_argument, NULL, 'Q'},
		{"shmem-grp-index", required_argument, NULL, 'i'},
		{"enable-debug", no_argument, NULL, 'G'},
		{"no-huge", no_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *pattern = NULL;
	uint32_t v;
	int op;

	while ((op = getopt_long(argc, argv, "q:o:w:M:t:a:c:r:P:d:LHIk:Q:i:Gh", longopts, NULL)) !=
	       -1) {
		switch (op) {
		case 'q':
			if (parse_u32(optarg, "io depth", &g_queue_depth) != 0) {
				return 1;
			}
			break;
		case 'o':
			if (parse_u32(optarg, "io size", &g_io_size) != 0) {
				return 1;
			}
			break;
		case 'w':
			pattern = optarg;
			break;
		case 'M':
			if (parse_u32(optarg, "rwmixread", &v) != 0 || v > 100) {
				fprintf(stderr, "-M must be between 0 and 100\n");
				return 1;
			}
			g_rw_percentage = (int)v;
			break;
		case 't':
			if (parse_u32(optarg, "time", &g_time_sec) != 0) {
				return 1;
			}
			break;
		case 'a':
			if (parse_u32(optarg, "warmup time", &g_warmup_sec) != 0) {
				return 1;
			}
			break;
		case 'c':
			g_core_mask = optarg;
			break;
		case 'r': {
			struct trid_entry *te;
			char err[200];

			if (g_num_trids == MAX_TRIDS) {
				fprintf(stderr, "too many -r (max %d)\n", MAX_TRIDS);
				return 1;
			}
			te = &g_trids[g_num_trids];
			memset(te, 0, sizeof(*te));
			usk_nvme_trid_populate_transport(&te->trid, USK_NVME_TRANSPORT_PCIE);
			snprintf(te->trid.subnqn, sizeof(te->trid.subnqn), "%s",
				 USK_NVMF_DISCOVERY_NQN);
			if (usk_nvme_transport_id_parse(&te->trid, &te->extra, optarg, err,
							sizeof(err)) != 0) {
				fprintf(stderr, "Invalid transport ID format '%s': %s\n", optarg,
					err);
				return 1;
			}
			g_num_trids++;
			break;
		}
		case 'P':
			if (parse_u32(optarg, "number of qpairs", &g_nr_qpairs) != 0 ||
			    g_nr_qpairs == 0) {
				return 1;
			}
			break;
		case 'd': {
			uint32_t n;

			if (parse_u32(optarg, "number of I/Os", &n) != 0) {
				return 1;
			}
			g_number_ios = n;
			break;
		}
		case 'L':
			g_latency_level++;
			break;
		case 'H':
			g_hdgst = true;
			break;
		case 'I':
			g_ddgst = true;
			break;
		case 'k':
			if (parse_u32(optarg, "keep alive timeout", &g_keep_alive_ms) != 0) {
				return 1;
			}
			break;
		case 'Q':
			if (parse_u32(optarg, "io queue size", &g_io_queue_size) != 0) {
				return 1;
			}
			break;
		case 'i':
			if (parse_u32(optarg, "shm id", &v) != 0) {
				return 1;
			}
			break;
		case 'G':
			usk_log_set_flag("nvme");
			usk_log_set_print_level(USK_LOG_DEBUG);
			break;
		case 'N':
			g_no_huge = true;
			break;
		case 'h':
			usage(argv[0]);
			exit(0);
		default:
			usage(argv[0]);
			return 1;
		}
	}
	if (g_queue_depth == 0) {
		fprintf(stderr, "missing -q (io depth)\n");
		usage(argv[0]);
		return 1;
	}
	if (g_io_size == 0) {
		fprintf(stderr, "missing -o (io size)\n");
		usage(argv[0]);
		return 1;
	}
	if (pattern == NULL) {
		fprintf(stderr, "missing -w (io pattern)\n");
		usage(argv[0]);
		return 1;
	}
	if (g_time_sec == 0 && g_number_ios == 0) {
		fprintf(stderr, "missing -t (time)\n");
		usage(argv[0]);
		return 1;
	}
	if (strncmp(pattern, "rand", 4) == 0) {
		g_is_random = true;
		pattern += 4;
	}
	if (strcmp(pattern, "read") == 0) {
		g_rw_percentage = 100;
	} else if (strcmp(pattern, "write") == 0) {
		g_rw_percentage = 0;
	} else if (strcmp(pattern, "rw") == 0) {
		if (g_rw_percentage < 0) {
			fprintf(stderr, "-M (rwmixread) must be given with -w %srw\n",
				g_is_random ? "rand" : "");
			return 1;
		}
	} else {
		fprintf(stderr,
			"io pattern must be one of read, write, randread, randwrite, rw, randrw\n");
		return 1;
	}
	if (g_num_trids == 0) {
		usk_nvme_trid_populate_transport(&g_trids[0].trid, USK_NVME_TRANSPORT_PCIE);
		g_num_trids = 1;
	}
	return 0;
}

/* ---- attach ---- */

static bool
probe_cb(void *ctx, const struct usk_nvme_transport_id *trid, struct usk_nvme_ctrlr_opts *opts)
{
	struct trid_entry *te = ctx;
	uint32_t qsize = g_io_queue_size ? g_io_queue_size : USK_MAX(g_queue_depth + 1, 128u);

	opts->header_digest = g_hdgst;
	opts->data_digest = g_ddgst;
	opts->keep_alive_timeout_ms = g_keep_alive_ms;
	opts->io_queue_size = qsize;
	/* Room for split children of every outstanding I/O. */
	opts->io_queue_requests = USK_MAX(qsize, g_queue_depth) * 4;
	opts->num_io_queues = USK_MAX(g_nr_qpairs * 64, 64u);
	if (te->extra.hostnqn[0] != '\0') {
		snprintf(opts->hostnqn, sizeof(opts->hostnqn), "%s", te->extra.hostnqn);
	}
	return true;
}

static void
register_ns(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_ns *ns,
	    const struct usk_nvme_transport_id *trid)
{
	struct ns_entry *e;
	uint32_t bs = usk_nvme_ns_get_sector_size(ns);
	uint64_t size = usk_nvme_ns_get_size(ns);

	if (g_num_ns == MAX_NS) {
		fprintf(stderr, "too many namespaces, skipping NSID %u\n", usk_nvme_ns_get_id(ns));
		return;
	}
	if (g_io_size % bs != 0 || size < g_io_size) {
		fprintf(stderr,
			"WARNING: io size %u is not a multiple of the block size %u of NSID %u "
			"(or the namespace is smaller); skipping it\n",
			g_io_size, bs, usk_nvme_ns_get_id(ns));
		return;
	}
	e = &g_ns[g_num_ns++];
	e->ctrlr = ctrlr;
	e->ns = ns;
	e->block_size = bs;
	e->size_in_ios = size / g_io_size;
	e->io_size_blocks = g_io_size / bs;
	if (trid->trtype == USK_NVME_TRANSPORT_PCIE) {
		const struct usk_nvme_ctrlr_data *c = usk_nvme_ctrlr_get_data(ctrlr);

		snprintf(e->name, sizeof(e->name), "PCIE (%s) NSID %u %.20s", trid->traddr,
			 usk_nvme_ns_get_id(ns), (const char *)c->mn);
	} else {
		snprintf(e->name, sizeof(e->name), "%-4.4s (addr:%s subnqn:%s) NSID %u",
			 trid->trstring, trid->traddr, trid->subnqn, usk_nvme_ns_get_id(ns));
	}
}

static void
attach_cb(void *ctx, const struct usk_nvme_transport_id *trid, struct usk_nvme_ctrlr *ctrlr,
	  const struct usk_nvme_ctrlr_opts *opts)
{
	struct trid_entry *te = ctx;
	uint32_t nsid;

	printf("Attached to NVMe%s Controller at %s%s%s\n",
	       trid->trtype == USK_NVME_TRANSPORT_PCIE ? "" : " over Fabrics", trid->traddr,
	       trid->trsvcid[0] ? ":" : "", trid->trsvcid);
	g_ctrlrs[g_num_ctrlrs].ctrlr = ctrlr;
	g_ctrlrs[g_num_ctrlrs].te = te;
	g_num_ctrlrs++;
	if (te->extra.nsid != 0) {
		struct usk_nvme_ns *ns = usk_nvme_ctrlr_get_ns(ctrlr, te->extra.nsid);

		if (ns == NULL) {
			fprintf(stderr, "namespace %u is not active on %s\n", te->extra.nsid,
				trid->traddr);
			return;
		}
		register_ns(ctrlr, ns, trid);
		return;
	}
	for (nsid = usk_nvme_ctrlr_get_first_active_ns(ctrlr); nsid != 0;
	     nsid = usk_nvme_ctrlr_get_next_active_ns(ctrlr, nsid)) {
		register_ns(ctrlr, usk_nvme_ctrlr_get_ns(ctrlr, nsid), trid);
	}
}

/* ---- I/O ---- */

static inline uint64_t
xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void io_complete(void *arg, const struct usk_nvme_cpl *cpl);

static int
submit_single_io(struct perf_task *task)
{
	struct ns_worker_ctx *ctx = task->ns_ctx;
	struct ns_entry *e = ctx->entry;
	struct usk_nvme_qpair *qp = ctx->qpairs[ctx->next_qpair];
	uint64_t off;
	int rc;

	if (++ctx->next_qpair == ctx->num_qpairs) {
		ctx->next_qpair = 0;
	}
	if (g_is_random) {
		off = xorshift64(&ctx->seed) % e->size_in_ios;
	} else {
		off = ctx->offset_in_ios++;
		if (ctx->offset_in_ios == e->size_in_ios) {
			ctx->offset_in_ios = 0;
		}
	}
	task->is_read =
		g_rw_percentage == 100 ||
		(g_rw_percentage != 0 && (int)(xorshift64(&ctx->seed) % 100) < g_rw_percentage);
	task->submit_tsc = usk_get_ticks();
	if (task->is_read) {
		rc = usk_nvme_ns_cmd_read(e->ns, qp, task->buf, off * e->io_size_blocks,
					  e->io_size_blocks, io_complete, task, 0);
	} else {
		rc = usk_nvme_ns_cmd_write(e->ns, qp, task->buf, off * e->io_size_blocks,
					   e->io_size_blocks, io_complete, task, 0);
	}
	if (rc != 0) {
		return rc;
	}
	ctx->current_queue_depth++;
	return 0;
}

static void
io_complete(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct perf_task *task = arg;
	struct ns_worker_ctx *ctx = task->ns_ctx;
	uint64_t tsc = usk_get_ticks() - task->submit_tsc;

	ctx->current_queue_depth--;
	if (usk_unlikely(usk_nvme_cpl_is_error(cpl))) {
		if (ctx->io_failed++ == 0) {
			fprintf(stderr, "%s completed with error (sct %u, sc %u): %s\n",
				task->is_read ? "read" : "write", cpl->status.sct, cpl->status.sc,
				usk_nvme_cpl_get_status_string(&cpl->status));
		}
	} else {
		ctx->io_completed++;
	}
	ctx->total_tsc += tsc;
	if (tsc < ctx->min_tsc) {
		ctx->min_tsc = tsc;
	}
	if (tsc > ctx->max_tsc) {
		ctx->max_tsc = tsc;
	}
	if (ctx->hist != NULL) {
		perf_hist_add(ctx->hist, tsc);
	}
	if (ctx->is_draining ||
	    (g_number_ios != 0 &&
	     ctx->io_completed + ctx->io_failed + ctx->current_queue_depth >= g_number_ios)) {
		return;
	}
	if (submit_single_io(task) != 0) {
		ctx->io_failed++;
	}
}

static int
ns_ctx_init(struct ns_worker_ctx *ctx)
{
	struct usk_nvme_io_qpair_opts qopts;

	ctx->qpairs = calloc(g_nr_qpairs, sizeof(*ctx->qpairs));
	ctx->tasks = calloc(g_queue_depth, sizeof(*ctx->tasks));
	if (ctx->qpairs == NULL || ctx->tasks == NULL) {
		return -ENOMEM;
	}
	usk_nvme_ctrlr_get_default_io_qpair_opts(ctx->entry->ctrlr, &qopts, sizeof(qopts));
	for (uint32_t i = 0; i < g_nr_qpairs; i++) {
		ctx->qpairs[i] =
			usk_nvme_ctrlr_alloc_io_qpair(ctx->entry->ctrlr, &qopts, sizeof(qopts));
		if (ctx->qpairs[i] == NULL) {
			fprintf(stderr, "usk_nvme_ctrlr_alloc_io_qpair failed for %s\n",
				ctx->entry->name);
			return -EIO;
		}
		ctx->num_qpairs++;
	}
	for (uint32_t i = 0; i < g_queue_depth; i++) {
		ctx->tasks[i].ns_ctx = ctx;
		ctx->tasks[i].buf = usk_dma_zmalloc(g_io_size, 4096, NULL);
		if (ctx->tasks[i].buf == NULL) {
			return -ENOMEM;
		}
		memset(ctx->tasks[i].buf, (int)(i & 0xff), g_io_size);
	}
	if (g_latency_level > 0) {
		ctx->hist = calloc(1, sizeof(*ctx->hist));
		if (ctx->hist == NULL) {
			return -ENOMEM;
		}
	}
	ctx->min_tsc = UINT64_MAX;
	ctx->seed = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(uintptr_t)ctx << 1) ^ usk_get_ticks();
	return 0;
}

static void
ns_ctx_fini(struct ns_worker_ctx *ctx)
{
	for (uint32_t i = 0; i < ctx->num_qpairs; i++) {
		usk_nvme_ctrlr_free_io_qpair(ctx->qpairs[i]);
	}
	for (uint32_t i = 0; ctx->tasks != NULL && i < g_queue_depth; i++) {
		usk_dma_free(ctx->tasks[i].buf);
	}
	free(ctx->tasks);
	free(ctx->qpairs);
}

static void
reset_stats(struct ns_worker_ctx *ctx)
{
	ctx->io_completed = 0;
	ctx->io_failed = 0;
	ctx->total_tsc = 0;
	ctx->min_tsc = UINT64_MAX;
	ctx->max_tsc = 0;
	if (ctx->hist != NULL) {
		memset(ctx->hist, 0, sizeof(*ctx->hist));
	}
}

static double
thread_cpu_sec(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static int
work_fn(void *arg)
{
	struct worker *w = arg;
	struct ns_worker_ctx *ctx;
	uint64_t tsc_end, warm_end;
	bool failed = false;
	double cpu0 = 0;
	int rc = 0;

	TAILQ_FOREACH(ctx, &w->ns_ctxs, link) {
		if (ns_ctx_init(ctx) != 0) {
			failed = true;
		}
	}
	pthread_barrier_wait(&g_start_barrier);
	if (failed) {
		g_exit = true;
		rc = -1;
		goto out;
	}
	TAILQ_FOREACH(ctx, &w->ns_ctxs, link) {
		uint32_t depth = g_number_ios ?
					 (uint32_t)USK_MIN((uint64_t)g_queue_depth, g_number_ios) :
					 g_queue_depth;

		for (uint32_t i = 0; i < depth; i++) {
			if (submit_single_io(&ctx->tasks[i]) != 0) {
				ctx->io_failed++;
			}
		}
	}
	warm_end = usk_get_ticks() + (uint64_t)g_warmup_sec * g_tsc_hz;
	tsc_end = warm_end + (uint64_t)g_time_sec * g_tsc_hz;
	if (g_warmup_sec == 0) {
		cpu0 = thread_cpu_sec();
	}
	for (;;) {
		bool active = false;
		uint64_t now;

		TAILQ_FOREACH(ctx, &w->ns_ctxs, link) {
			for (uint32_t i = 0; i < ctx->num_qpairs; i++) {
				if (usk_nvme_qpair_process_completions(ctx->qpairs[i], 0) < 0 &&
				    !ctx->is_draining) {
					fprintf(stderr, "qpair of %s failed\n", ctx->entry->name);
					ctx->is_draining = true;
				}
			}
			if (ctx->current_queue_depth > 0) {
				active = true;
			}
		}
		now = usk_get_ticks();
		if (g_warmup_sec != 0 && warm_end != 0 && now >= warm_end) {
			TAILQ_FOREACH(ctx, &w->ns_ctxs, link) {
				reset_stats(ctx);
			}
			warm_end = 0;
			cpu0 = thread_cpu_sec();
		}
		if ((g_time_sec != 0 && now >= tsc_end) || g_exit || !active) {
			break;
		}
	}
	w->cpu_sec = thread_cpu_sec() - cpu0;
	/* Drain: outstanding I/O completes (or is aborted when the qpair is freed). */
	TAILQ_FOREACH(ctx, &w->ns_ctxs, link) {
		uint64_t deadline = usk_get_ticks() + 5 * g_tsc_hz;

		ctx->is_draining = true;
		while (ctx->current_queue_depth > 0 && usk_get_ticks() < deadline) {
			for (uint32_t i = 0; i < ctx->num_qpairs; i++) {
				usk_nvme_qpair_process_completions(ctx->qpairs[i], 0);
			}
		}
	}
out:
	TAILQ_FOREACH(ctx, &w->ns_ctxs, link) {
		ns_ctx_fini(ctx);
	}
	return rc;
}

static void *
admin_poll_fn(void *arg)
{
	while (!g_admin_stop) {
		for (int i = 0; i < g_num_ctrlrs; i++) {
			usk_nvme_ctrlr_process_admin_completions(g_ctrlrs[i].ctrlr);
		}
		usleep(10000);
	}
	return NULL;
}

static void
sig_handler(int sig)
{
	g_exit = true;
}

static int
print_stats(void)
{
	struct worker *w;
	struct ns_worker_ctx *ctx;
	double total_iops = 0, total_mbps = 0, total_lat = 0, min_lat = 1e300, max_lat = 0;
	uint64_t total_ios = 0, total_failed = 0;
	double total_cpu = 0;
	size_t width = 0;
	char label[700];

	TAILQ_FOREACH(w, &g_workers, link) {
		TAILQ_FOREACH(ctx, &w->ns_ctxs, link) {
			width = USK_MAX(width, strlen(ctx->entry->name) + 14);
		}
	}
	width = USK_MAX(width, (size_t)38);
	printf("========================================================\n");
	printf("%*s\n", (int)width + 57, "Latency(us)");
	printf("%-*s:       IOPS      MiB/s    Average        min        max\n", (int)width,
	       "Device Information");
	TAILQ_FOREACH(w, &g_workers, link) {
		total_cpu += w->cpu_sec;
		TAILQ_FOREACH(ctx, &w->ns_ctxs, link) {
			double iops = g_time_sec ? (double)ctx->io_completed / g_time_sec : 0;
			double mbps = iops * g_io_size / (1024.0 * 1024.0);
			uint64_t n = ctx->io_completed + ctx->io_failed;
			double avg =
				n ? (double)ctx->total_tsc / (double)n * 1e6 / (double)g_tsc_hz : 0;
			double mn = ctx->min_tsc == UINT64_MAX ?
					    0 :
					    (double)ctx->min_tsc * 1e6 / (double)g_tsc_hz;
			double mx = (double)ctx->max_tsc * 1e6 / (double)g_tsc_hz;

			snprintf(label, sizeof(label), "%s from core %2u", ctx->entry->name,
				 w->lcore);
			printf("%-*s: %10.2f %10.2f %10.2f %10.2f %10.2f\n", (int)width, label,
			       iops, mbps, avg, mn, mx);
			total_iops += iops;
			total_mbps += mbps;
			total_lat += avg * (double)n;
			total_ios += n;
			total_failed += ctx->io_failed;
			if (n) {
				min_lat = USK_MIN(min_lat, mn);
			}
			max_lat = USK_MAX(max_lat, mx);
		}
	}
	printf("========================================================\n");
	printf("%-*s: %10.2f %10.2f %10.2f %10.2f %10.2f\n", (int)width, "Total", total_iops,
	       total_mbps, total_ios ? total_lat / (double)total_ios : 0, total_ios ? min_lat : 0,
	       max_lat);
	printf("\n");
	if (total_ios > 0) {
		printf("Initiator CPU: %.2f s on %d core(s), %.3f us per I/O\n", total_cpu,
		       (int)usk_env_get_core_count(), total_cpu * 1e6 / (double)total_ios);
	}
	if (g_latency_level > 0) {
		TAILQ_FOREACH(w, &g_workers, link) {
			TAILQ_FOREACH(ctx, &w->ns_ctxs, link) {
				snprintf(label, sizeof(label), "%s from core %u", ctx->entry->name,
					 w->lcore);
				perf_hist_print(ctx->hist, label, g_tsc_hz, g_latency_level > 1);
				free(ctx->hist);
				ctx->hist = NULL;
			}
		}
	}
	if (total_failed > 0) {
		fprintf(stderr, "%" PRIu64 " I/O failed\n", total_failed);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct usk_env_opts eopts;
	pthread_t admin_thread;
	struct worker *w, *main_worker = NULL;
	uint32_t core;
	int rc, ns_idx = 0, nworkers = 0, result = 0;

	if (parse_args(argc, argv) != 0) {
		return 1;
	}
	usk_env_opts_init(&eopts, sizeof(eopts));
	eopts.name = "perf";
	eopts.core_mask = g_core_mask;
	eopts.no_huge = g_no_huge;
	rc = usk_env_init(&eopts);
	if (rc != 0) {
		fprintf(stderr, "Unable to initialize usk env: %s\n", strerror(-rc));
		return 1;
	}
	g_tsc_hz = usk_get_ticks_hz();
	printf("Initializing NVMe Controllers\n");
	for (int i = 0; i < g_num_trids; i++) {
		if (usk_nvme_probe(&g_trids[i].trid, &g_trids[i], probe_cb, attach_cb, NULL) != 0) {
			fprintf(stderr, "usk_nvme_probe() failed for transport address '%s'\n",
				g_trids[i].trid.traddr);
			result = 1;
			goto cleanup;
		}
	}
	if (g_num_ns == 0) {
		fprintf(stderr, "No valid NVMe controllers or AIO or URING devices found\n");
		result = 1;
		goto cleanup;
	}
	/* One worker per core; namespaces are spread round robin over them. */
	for (core = usk_env_get_first_core(); core != UINT32_MAX;
	     core = usk_env_get_next_core(core)) {
		w = calloc(1, sizeof(*w));
		if (w == NULL) {
			result = 1;
			goto cleanup;
		}
		w->lcore = core;
		TAILQ_INIT(&w->ns_ctxs);
		TAILQ_INSERT_TAIL(&g_workers, w, link);
		nworkers++;
		if (core == usk_env_get_main_core()) {
			main_worker = w;
		}
	}
	{
		int count = USK_MAX(g_num_ns, nworkers);

		w = TAILQ_FIRST(&g_workers);
		for (int i = 0; i < count; i++) {
			struct ns_worker_ctx *ctx = calloc(1, sizeof(*ctx));

			if (ctx == NULL) {
				result = 1;
				goto cleanup;
			}
			ctx->entry = &g_ns[ns_idx];
			ctx->worker = w;
			TAILQ_INSERT_TAIL(&w->ns_ctxs, ctx, link);
			ns_idx = (ns_idx + 1) % g_num_ns;
			w = TAILQ_NEXT(w, link) ? TAILQ_NEXT(w, link) : TAILQ_FIRST(&g_workers);
		}
	}
	printf("Initialization complete. Launching workers.\n");
	signal(SIGINT, sig_handler);
	signal(SIGTERM, sig_handler);
	pthread_barrier_init(&g_start_barrier, NULL, (unsigned)nworkers);
	if (pthread_create(&admin_thread, NULL, admin_poll_fn, NULL) != 0) {
		result = 1;
		goto cleanup;
	}
	TAILQ_FOREACH(w, &g_workers, link) {
		if (w != main_worker && usk_env_thread_launch_pinned(w->lcore, work_fn, w) != 0) {
			fprintf(stderr, "could not start a worker on core %u\n", w->lcore);
			result = 1;
		}
	}
	if (main_worker != NULL && work_fn(main_worker) != 0) {
		result = 1;
	}
	usk_env_thread_wait_all();
	g_admin_stop = true;
	pthread_join(admin_thread, NULL);
	pthread_barrier_destroy(&g_start_barrier);
	if (result == 0 && print_stats() != 0) {
		result = 1;
	}
cleanup:
	while ((w = TAILQ_FIRST(&g_workers)) != NULL) {
		struct ns_worker_ctx *ctx;

		TAILQ_REMOVE(&g_workers, w, link);
		while ((ctx = TAILQ_FIRST(&w->ns_ctxs)) != NULL) {
			TAILQ_REMOVE(&w->ns_ctxs, ctx, link);
			free(ctx->hist);
			free(ctx);
		}
		free(w);
	}
	for (int i = 0; i < g_num_ctrlrs; i++) {
		usk_nvme_detach(g_ctrlrs[i].ctrlr);
	}
	return result;
}
