/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usk_bench_thread: message rate and latency between usk_threads (two cores and one core),
 * and the cost of usk_thread_poll (empty, per active poller, with timed pollers waiting).
 * Prints figures only; never fails on time.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/thread.h"

static double g_duration = 1.0;
/* Each figure is the best of g_reps runs (the machine may be shared). */
static int g_reps = 3;
static int g_core_a = 0;
static int g_core_b = 1;

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
pin(int core)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(core, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void
thread_teardown(struct usk_thread *t)
{
	usk_set_thread(t);
	usk_thread_exit(t);
	while (!usk_thread_is_exited(t)) {
		usk_thread_poll(t, 0, 0);
	}
	usk_thread_destroy(t);
}

/* ---- one-way streaming between two OS threads ---- */

#define WINDOW 16384

struct stream {
	struct usk_thread *a;
	struct usk_thread *b;
	atomic_bool stop;
	/* Written only by the consumer; padded away from the producer's fields. */
	_Atomic uint64_t consumed __attribute__((aligned(64)));
	uint64_t pad[7];
};

static void
stream_msg(void *ctx)
{
	struct stream *s = ctx;

	atomic_store_explicit(&s->consumed,
			      atomic_load_explicit(&s->consumed, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static void *
consumer_main(void *arg)
{
	struct stream *s = arg;

	pin(g_core_b);
	usk_set_thread(s->b);
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		usk_thread_poll(s->b, 0, 0);
	}
	while (usk_thread_poll(s->b, 0, 0) > 0) {
	}
	usk_set_thread(NULL);
	return NULL;
}

static double
bench_stream_cross(void)
{
	struct stream s = {0};
	pthread_t tid;
	uint64_t sent = 0;
	double t0, t1;

	s.a = usk_thread_create("bench_a", NULL);
	s.b = usk_thread_create("bench_b", NULL);
	pin(g_core_a);
	usk_set_thread(s.a);
	pthread_create(&tid, NULL, consumer_main, &s);
	t0 = now_sec();
	t1 = t0;
	while (t1 - t0 < g_duration) {
		/* Read the consumer's counter once per 256 sends, not per message. */
		if (sent - atomic_load_explicit(&s.consumed, memory_order_relaxed) <=
		    WINDOW - 256) {
			for (int k = 0; k < 256; k++) {
				if (usk_thread_send_msg(s.b, stream_msg, &s) == 0) {
					sent++;
				}
			}
		}
		t1 = now_sec();
	}
	while (atomic_load_explicit(&s.consumed, memory_order_relaxed) < sent) {
	}
	t1 = now_sec();
	atomic_store(&s.stop, true);
	pthread_join(tid, NULL);
	thread_teardown(s.a);
	thread_teardown(s.b);
	return (double)sent / (t1 - t0) / 1e6;
}

static double
bench_stream_same_core(void)
{
	struct stream s = {0};
	uint64_t sent = 0;
	double t0, t1;

	pin(g_core_a);
	s.a = usk_thread_create("bench_a", NULL);
	s.b = usk_thread_create("bench_b", NULL);
	t0 = now_sec();
	t1 = t0;
	while (t1 - t0 < g_duration) {
		for (int k = 0; k < 4096; k++) {
			usk_set_thread(s.a);
			for (int j = 0; j < USK_MSG_BATCH_SIZE; j++) {
				if (usk_thread_send_msg(s.b, stream_msg, &s) == 0) {
					sent++;
				}
			}
			usk_thread_poll(s.b, 0, 0);
		}
		t1 = now_sec();
	}
	while (usk_thread_poll(s.b, 0, 0) > 0) {
	}
	t1 = now_sec();
	thread_teardown(s.a);
	thread_teardown(s.b);
	return (double)sent / (t1 - t0) / 1e6;
}

/* ---- ping-pong (round trip, one message in flight) ---- */

struct pingpong {
	struct usk_thread *a;
	struct usk_thread *b;
	atomic_bool stop;
	uint64_t round_trips;
};

static void pong(void *ctx);

static void
ping(void *ctx)
{
	struct pingpong *p = ctx;

	/* Runs on a: count and send the next one. */
	p->round_trips++;
	if (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		usk_thread_send_msg(p->b, pong, p);
	}
}

static void
pong(void *ctx)
{
	struct pingpong *p = ctx;

	if (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		usk_thread_send_msg(p->a, ping, p);
	}
}

static void *
pong_main(void *arg)
{
	struct pingpong *p = arg;

	pin(g_core_b);
	usk_set_thread(p->b);
	while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		usk_thread_poll(p->b, 0, 0);
	}
	usk_set_thread(NULL);
	return NULL;
}

static double
bench_pingpong(bool cross)
{
	struct pingpong p = {0};
	pthread_t tid;
	double t0, t1;

	pin(g_core_a);
	p.a = usk_thread_create("bench_a", NULL);
	p.b = usk_thread_create("bench_b", NULL);
	usk_set_thread(p.a);
	if (cross) {
		pthread_create(&tid, NULL, pong_main, &p);
	}
	usk_thread_send_msg(p.b, pong, &p);
	t0 = now_sec();
	t1 = t0;
	while (t1 - t0 < g_duration) {
		for (int k = 0; k < 1024; k++) {
			usk_thread_poll(p.a, 0, 0);
			if (!cross) {
				usk_thread_poll(p.b, 0, 0);
			}
		}
		t1 = now_sec();
	}
	atomic_store(&p.stop, true);
	if (cross) {
		pthread_join(tid, NULL);
	}
	/* Drain what is left in flight. */
	usk_thread_poll(p.a, 0, 0);
	usk_thread_poll(p.b, 0, 0);
	usk_thread_poll(p.a, 0, 0);
	thread_teardown(p.a);
	thread_teardown(p.b);
	return (t1 - t0) * 1e9 / (double)p.round_trips;
}

/* ---- poll loop cost ---- */

static uint64_t g_sink;

static int
idle_poller(void *arg)
{
	g_sink++;
	return USK_POLLER_IDLE;
}

/* ns per usk_thread_poll with `active` active pollers and `timed` timed pollers waiting. */
static double
poll_cost(int active, int timed, bool chain_ticks)
{
	struct usk_poller *pollers[256];
	struct usk_thread *t;
	const uint64_t iters = 5000000;
	double t0, t1;
	int n = 0;

	t = usk_thread_create("bench_poll", NULL);
	usk_set_thread(t);
	for (int i = 0; i < active; i++) {
		pollers[n++] = usk_poller_register(idle_poller, NULL, 0);
	}
	for (int i = 0; i < timed; i++) {
		pollers[n++] = usk_poller_register(idle_poller, NULL, 1000000 + (uint64_t)i);
	}
	/* Warm up. */
	for (int i = 0; i < 10000; i++) {
		usk_thread_poll(t, 0, 0);
	}
	t0 = now_sec();
	if (chain_ticks) {
		/* Reactor style: reuse the previous poll's end tick (one tick read per poll). */
		for (uint64_t i = 0; i < iters; i++) {
			usk_thread_poll(t, 0, usk_thread_get_last_tsc(t));
		}
	} else {
		for (uint64_t i = 0; i < iters; i++) {
			usk_thread_poll(t, 0, 0);
		}
	}
	t1 = now_sec();
	for (int i = 0; i < n; i++) {
		usk_poller_unregister(&pollers[i]);
	}
	thread_teardown(t);
	return (t1 - t0) * 1e9 / (double)iters;
}

static double
best_poll_cost(int active, int timed, bool chain_ticks)
{
	double best = 1e18;

	for (int r = 0; r < g_reps; r++) {
		double v = poll_cost(active, timed, chain_ticks);

		best = v < best ? v : best;
	}
	return best;
}

static void
bench_poll(void)
{
	double empty, empty_now, p1, p16, p128, timed;

	pin(g_core_a);
	empty_now = best_poll_cost(0, 0, false);
	empty = best_poll_cost(0, 0, true);
	p1 = best_poll_cost(1, 0, true);
	p16 = best_poll_cost(16, 0, true);
	p128 = best_poll_cost(128, 0, true);
	timed = best_poll_cost(0, 64, true);
	printf("empty usk_thread_poll (now=0)      : %8.2f ns\n", empty_now);
	printf("empty usk_thread_poll (chained now): %8.2f ns\n", empty);
	printf("poll with 1 active poller          : %8.2f ns  (%.2f ns/poller)\n", p1, p1 - empty);
	printf("poll with 16 active pollers        : %8.2f ns  (%.2f ns/poller)\n", p16,
	       (p16 - empty) / 16);
	printf("poll with 128 active pollers       : %8.2f ns  (%.2f ns/poller)\n", p128,
	       (p128 - empty) / 128);
	printf("poll with 64 timed pollers waiting : %8.2f ns\n", timed);
}

/* ---- interrupt mode: idle CPU and wake-up round trip ---- */

static uint64_t g_timer_runs;

static int
housekeeping_poller(void *arg)
{
	g_timer_runs++;
	return USK_POLLER_BUSY;
}

static double
thread_cpu_sec(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
bench_interrupt_idle(void)
{
	struct usk_thread *t;
	struct usk_poller *p;
	double t0, t1, c0, c1;

	pin(g_core_a);
	t = usk_thread_create("bench_intr_idle", NULL);
	usk_set_thread(t);
	/* A typical housekeeping poller (100 ms) keeps firing through the timerfd. */
	p = usk_poller_register(housekeeping_poller, NULL, 100000);
	g_timer_runs = 0;
	t0 = now_sec();
	c0 = thread_cpu_sec();
	t1 = t0;
	while (t1 - t0 < 2 * g_duration) {
		usk_thread_process_interrupts(t, 1000);
		t1 = now_sec();
	}
	c1 = thread_cpu_sec();
	printf("interrupt mode, idle thread        : %8.3f %% CPU (100 ms poller ran %" PRIu64
	       " times in %.1f s)\n",
	       (c1 - c0) / (t1 - t0) * 100.0, g_timer_runs, t1 - t0);
	usk_poller_unregister(&p);
	thread_teardown(t);
}

static void *
intr_pong_main(void *arg)
{
	struct pingpong *p = arg;

	pin(g_core_b);
	usk_set_thread(p->b);
	while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
		usk_thread_process_interrupts(p->b, 100);
	}
	usk_set_thread(NULL);
	return NULL;
}

static double
bench_interrupt_pingpong(void)
{
	struct pingpong p = {0};
	pthread_t tid;
	double t0, t1;

	pin(g_core_a);
	p.a = usk_thread_create("bench_a", NULL);
	p.b = usk_thread_create("bench_b", NULL);
	usk_set_thread(p.a);
	pthread_create(&tid, NULL, intr_pong_main, &p);
	usk_thread_send_msg(p.b, pong, &p);
	t0 = now_sec();
	t1 = t0;
	while (t1 - t0 < g_duration) {
		/* Sleeps in epoll_wait until the reply's eventfd write wakes it. */
		usk_thread_process_interrupts(p.a, 100);
		t1 = now_sec();
	}
	atomic_store(&p.stop, true);
	pthread_join(tid, NULL);
	usk_thread_process_interrupts(p.b, 0);
	usk_thread_process_interrupts(p.a, 0);
	thread_teardown(p.a);
	thread_teardown(p.b);
	return (t1 - t0) * 1e9 / (double)p.round_trips;
}

static void
usage(const char *prog)
{
	printf("usage: %s [-t seconds per run] [-r runs per figure, best kept] [-a core] [-b core]\n",
	       prog);
}

#define BEST_OF(expr, better, out) \
	do { \
		(out) = (expr); \
		for (int r_ = 1; r_ < g_reps; r_++) { \
			double v_ = (expr); \
			if (v_ better(out)) { \
				(out) = v_; \
			} \
		} \
	} while (0)

int
main(int argc, char **argv)
{
	double best;
	int ch, rc;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	while ((ch = getopt(argc, argv, "t:r:a:b:h")) != -1) {
		switch (ch) {
		case 't':
			g_duration = atof(optarg);
			break;
		case 'r':
			g_reps = atoi(optarg);
			break;
		case 'a':
			g_core_a = atoi(optarg);
			break;
		case 'b':
			g_core_b = atoi(optarg);
			break;
		default:
			usage(argv[0]);
			return ch == 'h' ? 0 : 1;
		}
	}
	if (g_duration <= 0 || g_reps <= 0 || g_core_a < 0 || g_core_b < 0 || g_core_a >= ncpu ||
	    g_core_b >= ncpu) {
		fprintf(stderr, "invalid -t/-a/-b (cores online: %ld)\n", ncpu);
		return 1;
	}
	usk_log_set_print_level(USK_LOG_WARN);
	rc = usk_thread_lib_init();
	if (rc != 0) {
		fprintf(stderr, "usk_thread_lib_init: %s\n", strerror(-rc));
		return 1;
	}
	printf("usk_bench_thread: best of %d runs of %.1f s, cores %d and %d, batch %d msgs/poll\n",
	       g_reps, g_duration, g_core_a, g_core_b, USK_MSG_BATCH_SIZE);
	if (g_core_a != g_core_b) {
		BEST_OF(bench_stream_cross(), >, best);
		printf("msg one-way, 2 cores (%d->%d)        : %8.2f M msgs/s\n", g_core_a,
		       g_core_b, best);
	}
	BEST_OF(bench_stream_same_core(), >, best);
	printf("msg one-way, 1 core (send+run)     : %8.2f M msgs/s\n", best);
	if (g_core_a != g_core_b) {
		BEST_OF(bench_pingpong(true), <, best);
		printf("msg round trip, 2 cores            : %8.1f ns\n", best);
	}
	BEST_OF(bench_pingpong(false), <, best);
	printf("msg round trip, 1 core             : %8.1f ns\n", best);
	bench_poll();
	usk_thread_lib_fini();

	/* Interrupt mode is chosen before the library is initialised. */
	if (usk_interrupt_mode_enable() != 0 || usk_thread_lib_init() != 0) {
		fprintf(stderr, "cannot restart the thread library in interrupt mode\n");
		return 1;
	}
	bench_interrupt_idle();
	if (g_core_a != g_core_b) {
		BEST_OF(bench_interrupt_pingpong(), <, best);
		printf("interrupt mode round trip, 2 cores : %8.1f ns\n", best);
	}
	usk_thread_lib_fini();
	return 0;
}
