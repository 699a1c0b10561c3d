/* SPDX-License-Identifier: BSD-3-Clause */
/* usk_bench_env: ring and mempool throughput, with a memcpy bandwidth reference from the same run.
 */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <sys/sysinfo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/env.h"
#include "usk/util.h"

static double g_seconds = 1.0;

/* Pin the calling thread to cpu (modulo the online count); best effort. */
static void
pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % get_nprocs(), &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static double
now_s(void)
{
	return (double)usk_get_ticks() / (double)usk_get_ticks_hz();
}

static void
report(const char *what, double objs, double secs)
{
	printf("%-44s %10.2f Mops/s  %7.2f ns/obj\n", what, objs / secs / 1e6, secs * 1e9 / objs);
}

/* One thread: enqueue a burst, dequeue it. Each object passes through the ring once. */
static void
bench_ring_st(enum usk_ring_type type, const char *name, size_t burst)
{
	struct usk_ring *r = usk_ring_create(type, 4096, USK_ENV_SOCKET_ID_ANY);
	void *objs[64], *out[64];
	double t0, t;
	uint64_t n = 0, i;
	char label[96];

	for (i = 0; i < burst; i++) {
		objs[i] = (void *)(uintptr_t)(i + 1);
	}
	t0 = now_s();
	do {
		for (i = 0; i < 1024; i++) {
			usk_ring_enqueue(r, objs, burst, NULL);
			usk_ring_dequeue(r, out, burst);
		}
		n += 1024 * burst;
		t = now_s() - t0;
	} while (t < g_seconds);
	snprintf(label, sizeof(label), "ring %s 1 thread, burst %zu (enq+deq)", name, burst);
	report(label, (double)n, t);
	usk_ring_free(r);
}

struct mp_prod {
	struct usk_ring *ring;
	size_t burst;
	_Atomic bool *stop;
	uint64_t sent;
	int cpu;
	pthread_t tid;
};

static void *
mp_prod_fn(void *arg)
{
	struct mp_prod *p = arg;
	void *objs[64];
	size_t i;

	pin(p->cpu);
	for (i = 0; i < p->burst; i++) {
		objs[i] = (void *)(uintptr_t)(i + 1);
	}
	while (!atomic_load_explicit(p->stop, memory_order_relaxed)) {
		p->sent += usk_ring_enqueue(p->ring, objs, p->burst, NULL);
	}
	return NULL;
}

/* nprod producer threads, the main thread consumes. */
static void
bench_ring_mp(size_t nprod, size_t burst)
{
	struct usk_ring *r = usk_ring_create(USK_RING_TYPE_MP_SC, 4096, USK_ENV_SOCKET_ID_ANY);
	struct mp_prod prod[8];
	_Atomic bool stop = false;
	void *out[64];
	uint64_t got = 0;
	double t0, t;
	size_t i;
	char label[96];

	for (i = 0; i < nprod; i++) {
		/* consumer on cpu 0, producers from cpu 1 on (wrapping on small machines) */
		prod[i] = (struct mp_prod){
			.ring = r, .burst = burst, .stop = &stop, .cpu = (int)(i + 1)};
		pthread_create(&prod[i].tid, NULL, mp_prod_fn, &prod[i]);
	}
	t0 = now_s();
	do {
		for (i = 0; i < 256; i++) {
			got += usk_ring_dequeue(r, out, 64);
		}
		t = now_s() - t0;
	} while (t < g_seconds);
	atomic_store(&stop, true);
	for (i = 0; i < nprod; i++) {
		pthread_join(prod[i].tid, NULL);
	}
	pin(0);
	snprintf(label, sizeof(label), "ring MP_SC %zu producer%s + 1 consumer, burst %zu", nprod,
		 nprod > 1 ? "s" : "", burst);
	report(label, (double)got, t);
	usk_ring_free(r);
}

struct mp_worker {
	struct usk_mempool *mp;
	size_t burst;
	uint64_t ops;
	double secs;
	int cpu;
	pthread_t tid;
};

static void *
mempool_worker(void *arg)
{
	struct mp_worker *w = arg;
	void *objs[64];
	double t0, t;
	uint64_t i;

	pin(w->cpu);
	t0 = now_s();
	do {
		for (i = 0; i < 1024; i++) {
			if (w->burst == 1) {
				objs[0] = usk_mempool_get(w->mp);
				usk_mempool_put(w->mp, objs[0]);
			} else {
				if (usk_mempool_get_bulk(w->mp, objs, w->burst) == 0) {
					usk_mempool_put_bulk(w->mp, objs, w->burst);
				}
			}
		}
		w->ops += 1024 * w->burst;
		t = now_s() - t0;
	} while (t < g_seconds);
	w->secs = t;
	return NULL;
}

static void
bench_mempool(size_t cache, size_t burst, size_t threads)
{
	struct usk_mempool *mp =
		usk_mempool_create("bench", 8192, 64, cache, USK_ENV_SOCKET_ID_ANY);
	struct mp_worker w[8];
	double ops = 0, secs = 0;
	size_t i;
	char label[96];

	for (i = 0; i < threads; i++) {
		w[i] = (struct mp_worker){.mp = mp, .burst = burst, .cpu = (int)i};
		pthread_create(&w[i].tid, NULL, mempool_worker, &w[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(w[i].tid, NULL);
		ops += (double)w[i].ops;
		secs = USK_MAX(secs, w[i].secs);
	}
	snprintf(label, sizeof(label), "mempool %s, %zu thread%s, burst %zu (get+put)",
		 cache ? "cache 256" : "no cache", threads, threads > 1 ? "s" : "", burst);
	report(label, ops, secs);
	usk_mempool_free(mp);
}

static void
bench_dma_malloc(size_t size)
{
	void *p[64];
	double t0, t;
	uint64_t n = 0;
	size_t i;
	char label[96];

	t0 = now_s();
	do {
		for (i = 0; i < 64; i++) {
			p[i] = usk_dma_malloc(size, 0, NULL);
		}
		for (i = 0; i < 64; i++) {
			usk_dma_free(p[i]);
		}
		n += 64;
		t = now_s() - t0;
	} while (t < g_seconds);
	snprintf(label, sizeof(label), "usk_dma_malloc+free %zu B, 1 thread", size);
	report(label, (double)n, t);
}

static void
bench_memcpy(void)
{
	size_t len = 64u << 20;
	char *a = malloc(len), *b = malloc(len);
	double t0, t;
	uint64_t bytes = 0;

	memset(a, 1, len);
	memset(b, 2, len);
	t0 = now_s();
	do {
		memcpy(b, a, len);
		bytes += len;
		t = now_s() - t0;
	} while (t < g_seconds);
	printf("%-44s %10.2f GB/s (64 MiB buffers, reference)\n", "memcpy 1 thread",
	       (double)bytes / t / 1e9);
	t0 = now_s();
	bytes = 0;
	do {
		size_t off;

		for (off = 0; off + 4096 <= 1u << 20; off += 4096) {
			memcpy(b + off, a + off, 4096);
		}
		bytes += 1u << 20;
		t = now_s() - t0;
	} while (t < g_seconds);
	printf("%-44s %10.2f GB/s (4 KiB copies within 1 MiB, cache-resident)\n", "memcpy 1 thread",
	       (double)bytes / t / 1e9);
	free(a);
	free(b);
}

int
main(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "t:h")) != -1) {
		switch (c) {
		case 't':
			g_seconds = atof(optarg);
			if (g_seconds <= 0) {
				g_seconds = 1.0;
			}
			break;
		default:
			fprintf(stderr, "usage: %s [-t seconds per test (default 1)]\n", argv[0]);
			return c == 'h' ? 0 : 1;
		}
	}
	pin(0);
	printf("usk_bench_env: %d cpus online, tsc %.3f GHz, %.1f s per test\n", get_nprocs(),
	       (double)usk_get_ticks_hz() / 1e9, g_seconds);
	bench_ring_st(USK_RING_TYPE_SP_SC, "SP_SC", 1);
	bench_ring_st(USK_RING_TYPE_SP_SC, "SP_SC", 32);
	bench_ring_st(USK_RING_TYPE_MP_SC, "MP_SC", 1);
	bench_ring_st(USK_RING_TYPE_MP_MC, "MP_MC", 32);
	bench_ring_mp(1, 1);
	bench_ring_mp(1, 32);
	bench_ring_mp(2, 1);
	bench_ring_mp(2, 32);
	bench_mempool(256, 1, 1);
	bench_mempool(256, 32, 1);
	bench_mempool(0, 1, 1);
	bench_mempool(256, 1, 2);
	bench_dma_malloc(64);
	bench_dma_malloc(4096);
	bench_memcpy();
	return 0;
}
