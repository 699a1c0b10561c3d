/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for lib/thread: messages, pollers, io_channels, thread exit, interrupt mode. */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "usk/thread.h"
#include "usk/util.h"
#include "ut_multithread.h"

/* ---- helpers ---- */

#define MAX_LOG 256
static int g_log[MAX_LOG];
static int g_log_n;

static void
log_reset(void)
{
	g_log_n = 0;
}

static void
log_push(int v)
{
	assert_true(g_log_n < MAX_LOG);
	g_log[g_log_n++] = v;
}

static int
setup_threads3(void **state)
{
	log_reset();
	return ut_allocate_threads(3);
}

static int
teardown_threads(void **state)
{
	ut_free_threads();
	return 0;
}

static bool
fd_readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/* ---- threads ---- */

static void
test_thread_basics(void **state)
{
	struct usk_thread *t0 = ut_get_thread(0), *t1 = ut_get_thread(1);
	struct usk_thread *t;
	int n = 0;

	assert_ptr_equal(usk_thread_get_app_thread(), t0);
	assert_true(usk_thread_is_app_thread(t0));
	assert_false(usk_thread_is_app_thread(t1));
	assert_int_equal(usk_thread_get_count(), 3);
	assert_string_equal(usk_thread_get_name(t1), "ut_thread1");
	assert_ptr_equal(usk_thread_get_by_id(usk_thread_get_id(t1)), t1);
	assert_null(usk_thread_get_by_id(UINT64_MAX));
	assert_null(usk_thread_get_ctx(t0));
	for (t = usk_thread_get_first(); t != NULL; t = usk_thread_get_next(t)) {
		n++;
	}
	assert_int_equal(n, 3);
	assert_true(usk_thread_is_running(t0));
	assert_true(usk_thread_is_idle(t1));
	ut_set_thread(1);
	assert_ptr_equal(usk_get_thread(), t1);
	assert_int_equal(ut_current_thread(), 1);
	/* No framework hook: rescheduling is not supported. */
	assert_int_equal(usk_thread_set_cpumask(NULL), -ENOTSUP);
}

/* ---- messages ---- */

static void
msg_log(void *ctx)
{
	log_push((int)(intptr_t)ctx);
}

static void
test_msg_order_and_batch(void **state)
{
	struct usk_thread *t1 = ut_get_thread(1);

	log_reset();
	ut_set_thread(0);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(usk_thread_send_msg(t1, msg_log, (void *)(intptr_t)i), 0);
	}
	assert_false(usk_thread_is_idle(t1));
	/* Default batch: USK_MSG_BATCH_SIZE per poll. */
	assert_int_equal(ut_poll_thread(1), 1);
	assert_int_equal(g_log_n, USK_MSG_BATCH_SIZE);
	/* Explicit smaller budget. */
	ut_set_thread(1);
	assert_int_equal(usk_thread_poll(t1, 3, 0), 1);
	assert_int_equal(g_log_n, USK_MSG_BATCH_SIZE + 3);
	/* Larger budget than the batch is honoured in batches. */
	assert_int_equal(usk_thread_poll(t1, 100, 0), 1);
	assert_int_equal(g_log_n, 20);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(g_log[i], i);
	}
	assert_int_equal(usk_thread_poll(t1, 0, 0), 0);
	assert_true(usk_thread_is_idle(t1));
}

static void
msg_forward(void *ctx)
{
	/* Runs on thread 1, bounces to thread 2. */
	assert_ptr_equal(usk_get_thread(), ut_get_thread(1));
	log_push(1);
	assert_int_equal(usk_thread_send_msg(ut_get_thread(2), msg_log, (void *)(intptr_t)2), 0);
}

static void
test_msg_cross_thread(void **state)
{
	log_reset();
	ut_set_thread(0);
	assert_int_equal(usk_thread_send_msg(ut_get_thread(1), msg_forward, NULL), 0);
	assert_int_equal(ut_poll_thread(2), 0);
	assert_int_equal(ut_poll_thread(1), 1);
	assert_int_equal(g_log_n, 1);
	ut_poll_threads();
	assert_int_equal(g_log_n, 2);
	assert_int_equal(g_log[1], 2);
}

#define PRODUCER_MSGS 20000
static _Atomic int g_consumed;
static int g_last_seen[2];
static bool g_order_ok = true;

static void
msg_count(void *ctx)
{
	uintptr_t v = (uintptr_t)ctx;
	int producer = (int)(v >> 32);
	int seq = (int)(v & 0xffffffff);

	if (seq != g_last_seen[producer] + 1) {
		g_order_ok = false;
	}
	g_last_seen[producer] = seq;
	g_consumed++;
}

static void *
producer_main(void *arg)
{
	uintptr_t producer = (uintptr_t)arg;

	/* No usk_thread on this OS thread: messages come straight from the pool. */
	for (int i = 1; i <= PRODUCER_MSGS; i++) {
		void *ctx = (void *)((producer << 32) | (uintptr_t)i);

		while (usk_thread_send_msg(ut_get_thread(0), msg_count, ctx) != 0) {
			sched_yield();
		}
	}
	return NULL;
}

static void
test_msg_from_os_threads(void **state)
{
	pthread_t tid[2];

	g_consumed = 0;
	g_last_seen[0] = g_last_seen[1] = 0;
	for (uintptr_t i = 0; i < 2; i++) {
		assert_int_equal(pthread_create(&tid[i], NULL, producer_main, (void *)i), 0);
	}
	while (g_consumed < 2 * PRODUCER_MSGS) {
		ut_poll_thread(0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(tid[i], NULL);
	}
	ut_poll_threads();
	assert_int_equal(g_consumed, 2 * PRODUCER_MSGS);
	assert_true(g_order_ok);
}

static void
critical_fn(void *ctx)
{
	assert_null(ctx);
	log_push(99);
}

static void
test_critical_msg(void **state)
{
	struct usk_thread *t2 = ut_get_thread(2);

	log_reset();
	assert_int_equal(usk_thread_send_critical_msg(t2, critical_fn), 0);
	assert_int_equal(usk_thread_send_critical_msg(t2, critical_fn), -EIO);
	assert_false(usk_thread_is_idle(t2));
	assert_int_equal(ut_poll_thread(2), 1);
	assert_int_equal(g_log_n, 1);
	assert_int_equal(g_log[0], 99);
	assert_int_equal(usk_thread_send_critical_msg(t2, critical_fn), 0);
	ut_poll_threads();
	assert_int_equal(g_log_n, 2);
}

static int g_thread_visits[3];

static void
for_each_thread_fn(void *ctx)
{
	int idx = ut_current_thread();

	assert_true(idx >= 0);
	g_thread_visits[idx]++;
	log_push(idx);
}

static void
for_each_thread_cpl(void *ctx)
{
	assert_int_equal(ut_current_thread(), 1);
	log_push(100);
}

static void
test_for_each_thread(void **state)
{
	log_reset();
	memset(g_thread_visits, 0, sizeof(g_thread_visits));
	ut_set_thread(1);
	assert_int_equal(usk_for_each_thread(for_each_thread_fn, NULL, for_each_thread_cpl), 0);
	ut_poll_threads();
	assert_int_equal(g_log_n, 4);
	assert_int_equal(g_log[0], 0);
	assert_int_equal(g_log[1], 1);
	assert_int_equal(g_log[2], 2);
	assert_int_equal(g_log[3], 100);
}

/* ---- pollers ---- */

struct poller_ctx {
	int id;
	int runs;
	int rc;
	uint64_t advance; /* fake ticks consumed per run */
	struct usk_poller *self;
	struct usk_poller **victim;
	bool unregister_self;
	bool pause_self;
};

static int
poller_fn(void *arg)
{
	struct poller_ctx *c = arg;

	c->runs++;
	log_push(c->id);
	ut_delay_us(c->advance);
	if (c->victim != NULL) {
		usk_poller_unregister(c->victim);
	}
	if (c->unregister_self) {
		usk_poller_unregister(&c->self);
	}
	if (c->pause_self) {
		usk_poller_pause(c->self);
	}
	return c->rc;
}

static void
test_active_poller(void **state)
{
	struct poller_ctx a = {.id = 1, .rc = USK_POLLER_BUSY}, b = {.id = 2};
	struct usk_thread *t0 = ut_get_thread(0);
	struct usk_poller *pa, *pb;

	log_reset();
	ut_set_thread(0);
	pa = usk_poller_register_named(poller_fn, &a, 0, "pa");
	pb = USK_POLLER_REGISTER(poller_fn, &b, 0);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_string_equal(usk_poller_get_name(pb), "poller_fn");
	assert_int_equal(usk_thread_has_active_pollers(t0), 1);
	assert_true(usk_thread_has_pollers(t0));
	assert_int_equal(ut_poll_thread(0), 1);
	assert_int_equal(a.runs, 1);
	assert_int_equal(b.runs, 1);
	/* Only idle pollers: the poll is idle. */
	a.rc = USK_POLLER_IDLE;
	assert_int_equal(ut_poll_thread(0), 0);
	assert_int_equal(a.runs, 2);
	usk_poller_unregister(&pa);
	assert_null(pa);
	usk_poller_unregister(&pb);
	assert_int_equal(usk_thread_has_active_pollers(t0), 0);
	assert_int_equal(ut_poll_thread(0), 0);
	assert_int_equal(a.runs, 2);
}

static void
test_timed_poller_order(void **state)
{
	struct poller_ctx c[5] = {
		{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}, {.id = 4},
	};
	/* Periods in microseconds (= fake ticks). */
	const uint64_t period[5] = {300, 100, 200, 100, 250};
	struct usk_poller *p[5];
	struct usk_thread *t0 = ut_get_thread(0);
	uint64_t start = ut_now();
	static const int expect[] = {
		1, 3,	 /* t=100: both 100 us pollers, in registration order */
		2, 1, 3, /* t=200 */
		4,	 /* t=250 */
		0, 1, 3, /* t=300 */
	};

	log_reset();
	ut_set_thread(0);
	for (int i = 0; i < 5; i++) {
		p[i] = usk_poller_register(poller_fn, &c[i], period[i]);
		assert_non_null(p[i]);
	}
	assert_int_equal(usk_thread_next_poller_expiration(t0), start + 100);
	assert_int_equal(usk_thread_has_active_pollers(t0), 0);
	assert_true(usk_thread_has_pollers(t0));
	/* Not due yet. */
	ut_delay_us(99);
	assert_int_equal(ut_poll_thread(0), 0);
	assert_int_equal(g_log_n, 0);
	/* Step one microsecond at a time: the order must be exact. */
	for (int us = 99; us < 300; us++) {
		ut_delay_us(1);
		ut_poll_thread(0);
	}
	assert_int_equal(g_log_n, (int)USK_COUNTOF(expect));
	for (size_t i = 0; i < USK_COUNTOF(expect); i++) {
		assert_int_equal(g_log[i], expect[i]);
	}
	assert_int_equal(usk_thread_next_poller_expiration(t0), start + 400);
	/*
	 * A late poll runs each overdue poller once, earliest deadline first; equal deadlines in
	 * the order they were scheduled (2 was rescheduled at t=200, 1 and 3 at t=300).
	 */
	log_reset();
	ut_delay_us(1000);
	ut_poll_thread(0);
	assert_int_equal(g_log_n, 5);
	assert_int_equal(g_log[0], 2);
	assert_int_equal(g_log[1], 1);
	assert_int_equal(g_log[2], 3);
	assert_int_equal(g_log[3], 4);
	assert_int_equal(g_log[4], 0);
	for (int i = 0; i < 5; i++) {
		usk_poller_unregister(&p[i]);
	}
	assert_false(usk_thread_has_pollers(t0));
	assert_int_equal(usk_thread_next_poller_expiration(t0), 0);
}

static void
test_poller_pause_resume(void **state)
{
	struct poller_ctx a = {.id = 1}, t = {.id = 2}, s = {.id = 3};
	struct usk_poller *pa, *pt, *ps;

	ut_set_thread(0);
	pa = usk_poller_register(poller_fn, &a, 0);
	pt = usk_poller_register(poller_fn, &t, 10);
	ps = usk_poller_register(poller_fn, &s, 0);
	s.self = ps;
	s.pause_self = true;

	usk_poller_pause(pa);
	usk_poller_pause(pt);
	ut_delay_us(10);
	ut_poll_thread(0);
	assert_int_equal(a.runs, 0);
	assert_int_equal(t.runs, 0);
	/* s paused itself from inside its callback. */
	assert_int_equal(s.runs, 1);
	ut_poll_thread(0);
	assert_int_equal(s.runs, 1);

	usk_poller_resume(pa);
	usk_poller_resume(pt);
	ut_poll_thread(0);
	assert_int_equal(a.runs, 1);
	/* A resumed timed poller waits a full period again. */
	assert_int_equal(t.runs, 0);
	ut_delay_us(10);
	ut_poll_thread(0);
	assert_int_equal(t.runs, 1);
	assert_int_equal(a.runs, 2);

	/* Pausing twice and resuming a running poller are harmless. */
	usk_poller_pause(pa);
	usk_poller_pause(pa);
	usk_poller_resume(pa);
	usk_poller_resume(pa);
	ut_poll_thread(0);
	assert_int_equal(a.runs, 3);

	/* A paused poller can be unregistered. */
	usk_poller_unregister(&ps);
	usk_poller_unregister(&pa);
	usk_poller_pause(pt);
	usk_poller_unregister(&pt);
	assert_false(usk_thread_has_pollers(ut_get_thread(0)));
	assert_true(usk_thread_is_idle(ut_get_thread(0)));
}

static void
test_poller_unregister_in_callback(void **state)
{
	struct poller_ctx a = {.id = 1}, b = {.id = 2}, c = {.id = 3}, t = {.id = 4};
	struct usk_poller *pa, *pb, *pc, *pt;

	log_reset();
	ut_set_thread(0);
	pa = usk_poller_register(poller_fn, &a, 0);
	pb = usk_poller_register(poller_fn, &b, 0);
	pc = usk_poller_register(poller_fn, &c, 0);
	pt = usk_poller_register(poller_fn, &t, 5);
	/* a unregisters itself and b (the next one in the walk); c keeps going. */
	a.self = pa;
	a.unregister_self = true;
	a.victim = &pb;
	t.self = pt;
	t.unregister_self = true;
	ut_delay_us(5);
	ut_poll_thread(0);
	assert_int_equal(a.runs, 1);
	assert_int_equal(b.runs, 0);
	assert_int_equal(c.runs, 1);
	assert_int_equal(t.runs, 1);
	assert_null(a.self);
	assert_null(pb);
	ut_delay_us(5);
	ut_poll_thread(0);
	assert_int_equal(a.runs, 1);
	assert_int_equal(c.runs, 2);
	assert_int_equal(t.runs, 1);
	/* A timed poller unregistering another timed poller that is due in the same poll. */
	{
		struct poller_ctx x = {.id = 5}, y = {.id = 6};
		struct usk_poller *px = usk_poller_register(poller_fn, &x, 7);
		struct usk_poller *py = usk_poller_register(poller_fn, &y, 7);

		x.victim = &py;
		ut_delay_us(7);
		ut_poll_thread(0);
		assert_int_equal(x.runs, 1);
		assert_int_equal(y.runs, 0);
		x.victim = NULL;
		usk_poller_unregister(&px);
	}
	usk_poller_unregister(&pc);
	assert_false(usk_thread_has_pollers(ut_get_thread(0)));
}

static void
poller_info_cb(const struct usk_poller_info *info, void *ctx)
{
	int *counts = ctx;

	if (strcmp(info->state, "waiting") == 0) {
		counts[0]++;
	} else if (strcmp(info->state, "paused") == 0) {
		counts[1]++;
	}
	if (strcmp(info->name, "busy_one") == 0) {
		assert_int_equal(info->run_count, 2);
		assert_int_equal(info->busy_count, 2);
		assert_int_equal(info->period_ticks, 0);
	}
	if (strcmp(info->name, "timed_one") == 0) {
		assert_int_equal(info->period_ticks, 50);
	}
}

static void
test_poller_stats(void **state)
{
	struct poller_ctx busy = {.id = 1, .rc = USK_POLLER_BUSY, .advance = 10};
	struct poller_ctx idle = {.id = 2, .rc = USK_POLLER_IDLE, .advance = 3};
	struct usk_poller *pb, *pi, *pt, *pp;
	struct usk_thread_stats before, after;
	int counts[2] = {0};

	ut_set_thread(1);
	assert_int_equal(usk_thread_get_stats(&before), 0);
	pb = usk_poller_register_named(poller_fn, &busy, 0, "busy_one");
	ut_poll_thread(1);
	ut_poll_thread(1);
	assert_int_equal(usk_thread_get_stats(&after), 0);
	/* Two busy polls, each 10 fake ticks long. */
	assert_int_equal(after.busy_tsc - before.busy_tsc, 20);
	assert_int_equal(after.idle_tsc - before.idle_tsc, 0);
	usk_poller_pause(pb);
	pi = usk_poller_register(poller_fn, &idle, 0);
	ut_poll_thread(1);
	usk_thread_get_stats_of(ut_get_thread(1), &before);
	assert_int_equal(before.idle_tsc - after.idle_tsc, 3);
	assert_int_equal(before.busy_tsc, after.busy_tsc);
	assert_int_equal(usk_thread_get_last_tsc(ut_get_thread(1)), ut_now());

	pt = usk_poller_register_named(poller_fn, &idle, 50, "timed_one");
	pp = usk_poller_register(poller_fn, &idle, 0);
	usk_poller_pause(pp);
	usk_thread_foreach_poller(ut_get_thread(1), poller_info_cb, counts);
	assert_int_equal(counts[0], 2); /* pi, pt */
	assert_int_equal(counts[1], 2); /* pb, pp */
	usk_poller_unregister(&pb);
	usk_poller_unregister(&pi);
	usk_poller_unregister(&pt);
	usk_poller_unregister(&pp);
}

/* ---- io_device / io_channel ---- */

static int g_dev1, g_dev2;
static int g_create_calls, g_destroy_calls, g_unregister_calls;
static struct usk_thread *g_unregister_thread;
static bool g_create_fail;

struct dev_ctx {
	uint64_t magic;
	struct usk_thread *thread;
};

static int
ch_create(void *io_device, void *ctx_buf)
{
	struct dev_ctx *c = ctx_buf;

	if (g_create_fail) {
		return -ENOMEM;
	}
	assert_int_equal(c->magic, 0);
	c->magic = 0xC0FFEE;
	c->thread = usk_get_thread();
	g_create_calls++;
	return 0;
}

static void
ch_destroy(void *io_device, void *ctx_buf)
{
	struct dev_ctx *c = ctx_buf;

	assert_int_equal(c->magic, 0xC0FFEE);
	assert_ptr_equal(c->thread, usk_get_thread());
	g_destroy_calls++;
}

static void
dev_unregister_done(void *io_device)
{
	g_unregister_calls++;
	g_unregister_thread = usk_get_thread();
}

static void
io_reset(void)
{
	g_create_calls = g_destroy_calls = g_unregister_calls = 0;
	g_unregister_thread = NULL;
	g_create_fail = false;
}

static void
test_io_channel_refcount(void **state)
{
	struct usk_io_channel *ch, *ch2;
	struct dev_ctx *ctx;

	io_reset();
	ut_set_thread(0);
	assert_int_equal(usk_io_device_register(&g_dev1, ch_create, ch_destroy,
						sizeof(struct dev_ctx), "dev1"),
			 0);
	/* A second registration of the same pointer is refused. */
	assert_int_equal(usk_io_device_register(&g_dev1, ch_create, ch_destroy, 0, "dup"), -EEXIST);
	ch = usk_get_io_channel(&g_dev1);
	assert_non_null(ch);
	ch2 = usk_get_io_channel(&g_dev1);
	assert_ptr_equal(ch, ch2);
	assert_int_equal(g_create_calls, 1);
	ctx = usk_io_channel_get_ctx(ch);
	assert_ptr_equal((uint8_t *)ctx - (uint8_t *)ch, 64);
	assert_int_equal(((uintptr_t)ctx) % 64, 0);
	assert_ptr_equal(usk_io_channel_from_ctx(ctx), ch);
	assert_ptr_equal(usk_io_channel_get_thread(ch), ut_get_thread(0));
	assert_ptr_equal(usk_io_channel_get_io_device(ch), &g_dev1);

	usk_put_io_channel(ch2);
	usk_put_io_channel(ch);
	/* Destruction is deferred by one message. */
	assert_int_equal(g_destroy_calls, 0);
	assert_int_equal(ctx->magic, 0xC0FFEE);
	/* Taken again before the message ran: the pending destroy is skipped. */
	ch = usk_get_io_channel(&g_dev1);
	assert_ptr_equal(usk_io_channel_get_ctx(ch), ctx);
	ut_poll_threads();
	assert_int_equal(g_destroy_calls, 0);
	assert_int_equal(g_create_calls, 1);
	usk_put_io_channel(ch);
	ut_poll_threads();
	assert_int_equal(g_destroy_calls, 1);

	/* Per-thread channels. */
	ch = usk_get_io_channel(&g_dev1);
	ut_set_thread(1);
	ch2 = usk_get_io_channel(&g_dev1);
	assert_ptr_not_equal(ch, ch2);
	assert_int_equal(g_create_calls, 3);
	usk_put_io_channel(ch2);
	ut_set_thread(0);
	usk_put_io_channel(ch);
	ut_poll_threads();
	assert_int_equal(g_destroy_calls, 3);

	/* A failing create_cb leaves nothing behind. */
	g_create_fail = true;
	assert_null(usk_get_io_channel(&g_dev1));
	g_create_fail = false;
	assert_null(usk_get_io_channel(&g_dev2)); /* not registered */

	usk_io_device_unregister(&g_dev1, dev_unregister_done);
	assert_int_equal(g_unregister_calls, 0); /* always by message */
	ut_poll_threads();
	assert_int_equal(g_unregister_calls, 1);
	assert_ptr_equal(g_unregister_thread, ut_get_thread(0));
}

static void
test_io_device_unregister_deferred(void **state)
{
	struct usk_io_channel *ch0, *ch2;

	io_reset();
	ut_set_thread(0);
	assert_int_equal(usk_io_device_register(&g_dev2, ch_create, ch_destroy,
						sizeof(struct dev_ctx), NULL),
			 0);
	ch0 = usk_get_io_channel(&g_dev2);
	ut_set_thread(2);
	ch2 = usk_get_io_channel(&g_dev2);
	ut_set_thread(1);
	usk_io_device_unregister(&g_dev2, dev_unregister_done);
	ut_poll_threads();
	assert_int_equal(g_unregister_calls, 0);
	/* No new channels once unregistered, not even on a thread that has one. */
	ut_set_thread(2);
	assert_null(usk_get_io_channel(&g_dev2));
	/* The same pointer registered again gets fresh channels next to the old one. */
	assert_int_equal(usk_io_device_register(&g_dev2, ch_create, ch_destroy,
						sizeof(struct dev_ctx), "again"),
			 0);
	{
		struct usk_io_channel *fresh = usk_get_io_channel(&g_dev2);

		assert_non_null(fresh);
		assert_ptr_not_equal(fresh, ch2);
		assert_ptr_equal(usk_get_io_channel(&g_dev2), fresh);
		usk_put_io_channel(fresh);
		usk_put_io_channel(fresh);
		ut_poll_threads();
		usk_io_device_unregister(&g_dev2, NULL);
		assert_int_equal(g_destroy_calls, 1);
		g_destroy_calls = 0;
	}
	usk_put_io_channel(ch2);
	ut_poll_threads();
	assert_int_equal(g_destroy_calls, 1);
	assert_int_equal(g_unregister_calls, 0);
	ut_set_thread(0);
	usk_put_io_channel(ch0);
	ut_poll_threads();
	assert_int_equal(g_destroy_calls, 2);
	assert_int_equal(g_unregister_calls, 1);
	/* unregister_cb runs on the thread that called unregister. */
	assert_ptr_equal(g_unregister_thread, ut_get_thread(1));
}

static int g_fe_stop_at = -1;

static void
fe_fn(struct usk_io_channel_iter *i)
{
	struct usk_io_channel *ch = usk_io_channel_iter_get_channel(i);
	int idx = ut_current_thread();
	int *visits = usk_io_channel_iter_get_ctx(i);

	assert_ptr_equal(usk_io_channel_get_thread(ch), usk_get_thread());
	assert_ptr_equal(usk_io_channel_iter_get_io_device(i), &g_dev1);
	visits[idx]++;
	log_push(idx);
	usk_for_each_channel_continue(i, idx == g_fe_stop_at ? -EAGAIN : 0);
}

static int g_fe_status = 1;

static void
fe_cpl(struct usk_io_channel_iter *i, int status)
{
	assert_int_equal(ut_current_thread(), 1);
	g_fe_status = status;
	log_push(100);
}

static void
test_for_each_channel(void **state)
{
	struct usk_io_channel *ch0, *ch2;
	int visits[3] = {0};

	io_reset();
	log_reset();
	ut_set_thread(0);
	assert_int_equal(usk_io_device_register(&g_dev1, ch_create, ch_destroy,
						sizeof(struct dev_ctx), "dev1"),
			 0);
	ch0 = usk_get_io_channel(&g_dev1);
	ut_set_thread(2);
	ch2 = usk_get_io_channel(&g_dev1);

	/* From thread 1 (which has no channel): visits 0 then 2, then cpl on 1. */
	ut_set_thread(1);
	/* A walk over a device without channels completes, and leaves it unregisterable. */
	ut_set_thread(1);
	assert_int_equal(usk_io_device_register(&g_dev2, ch_create, ch_destroy, 0, "empty"), 0);
	g_fe_status = 1;
	log_reset();
	assert_int_equal(usk_for_each_channel(&g_dev2, fe_fn, visits, fe_cpl), 0);
	ut_poll_threads();
	assert_int_equal(g_fe_status, 0);
	assert_int_equal(g_log_n, 1);
	g_unregister_calls = 0;
	usk_io_device_unregister(&g_dev2, dev_unregister_done);
	ut_poll_threads();
	assert_int_equal(g_unregister_calls, 1);
	g_unregister_calls = 0;
	/* A walk over an unknown device fails at once and never calls back. */
	g_fe_status = 1;
	log_reset();
	assert_int_equal(usk_for_each_channel(&g_dev2, fe_fn, NULL, fe_cpl), -ENODEV);
	ut_poll_threads();
	assert_int_equal(g_fe_status, 1);
	assert_int_equal(g_log_n, 0);
	g_fe_stop_at = -1;
	assert_int_equal(usk_for_each_channel(&g_dev1, fe_fn, visits, fe_cpl), 0);
	/* Unregister is refused while a walk is in flight. */
	usk_io_device_unregister(&g_dev1, dev_unregister_done);
	ut_poll_threads();
	assert_int_equal(g_fe_status, 0);
	assert_int_equal(g_log_n, 3);
	assert_int_equal(g_log[0], 0);
	assert_int_equal(g_log[1], 2);
	assert_int_equal(g_log[2], 100);
	assert_int_equal(visits[1], 0);
	assert_int_equal(g_unregister_calls, 0);

	/* A non-zero status stops the walk. */
	log_reset();
	g_fe_stop_at = 0;
	assert_int_equal(usk_for_each_channel(&g_dev1, fe_fn, visits, fe_cpl), 0);
	ut_poll_threads();
	assert_int_equal(g_fe_status, -EAGAIN);
	assert_int_equal(g_log_n, 2);
	assert_int_equal(g_log[0], 0);
	assert_int_equal(g_log[1], 100);

	/* A channel released while the walk is queued is skipped. */
	log_reset();
	g_fe_stop_at = -1;
	assert_int_equal(usk_for_each_channel(&g_dev1, fe_fn, visits, fe_cpl), 0);
	ut_set_thread(2);
	usk_put_io_channel(ch2);
	ut_poll_thread(2); /* destroys ch2 */
	ut_poll_threads();
	assert_int_equal(g_fe_status, 0);
	assert_int_equal(g_log_n, 2);
	assert_int_equal(g_log[0], 0);
	assert_int_equal(g_log[1], 100);

	ut_set_thread(0);
	usk_put_io_channel(ch0);
	usk_io_device_unregister(&g_dev1, dev_unregister_done);
	ut_poll_threads();
	assert_int_equal(g_unregister_calls, 1);
	assert_int_equal(g_destroy_calls, 2);
}

/* ---- thread exit ---- */

static void
exit_msg(void *ctx)
{
	usk_thread_exit(usk_get_thread());
}

static void
test_thread_exit_waits(void **state)
{
	struct poller_ctx a = {.id = 1};
	struct usk_poller *pa;
	struct usk_io_channel *ch;
	struct usk_thread *t;
	int rc;

	io_reset();
	t = usk_thread_create("exiting", NULL);
	assert_non_null(t);
	usk_set_thread(t);
	assert_int_equal(usk_io_device_register(&g_dev2, ch_create, ch_destroy,
						sizeof(struct dev_ctx), "dev2"),
			 0);
	pa = usk_poller_register(poller_fn, &a, 0);
	ch = usk_get_io_channel(&g_dev2);
	assert_int_equal(usk_thread_send_msg(t, exit_msg, NULL), 0);
	usk_thread_poll(t, 0, 0);
	assert_false(usk_thread_is_running(t));
	assert_false(usk_thread_is_exited(t));
	usk_poller_unregister(&pa);
	usk_thread_poll(t, 0, 0);
	assert_false(usk_thread_is_exited(t)); /* channel still held */
	usk_put_io_channel(ch);
	usk_thread_poll(t, 0, 0); /* runs the deferred channel destroy */
	assert_int_equal(g_destroy_calls, 1);
	usk_thread_poll(t, 0, 0);
	assert_true(usk_thread_is_exited(t));
	/* Exited threads accept no messages. */
	rc = usk_thread_send_msg(t, exit_msg, NULL);
	assert_int_equal(rc, -EIO);
	usk_io_device_unregister(&g_dev2, NULL);
	usk_thread_destroy(t);
	assert_null(usk_get_thread());
	assert_int_equal(usk_thread_get_count(), 3);
}

static void
test_thread_exit_timeout(void **state)
{
	struct poller_ctx a = {.id = 1};
	struct usk_poller *pa;
	struct usk_thread *t;

	t = usk_thread_create("stuck", NULL);
	assert_non_null(t);
	usk_set_thread(t);
	pa = usk_poller_register(poller_fn, &a, 0);
	assert_non_null(pa);
	usk_thread_exit(t);
	usk_thread_poll(t, 0, 0);
	assert_false(usk_thread_is_exited(t));
	ut_delay_us(6 * USK_SEC_TO_USEC);
	usk_thread_poll(t, 0, 0);
	assert_true(usk_thread_is_exited(t));
	/* Destroy frees the leftover poller. */
	usk_thread_destroy(t);
}

/* ---- framework hook, per-thread context, pool exhaustion ---- */

static int g_op_new, g_op_resched;
static bool g_op_fail;

static int
thread_op(struct usk_thread *thread, enum usk_thread_op op)
{
	if (op == USK_THREAD_OP_NEW) {
		if (g_op_fail) {
			return -ENODEV;
		}
		g_op_new++;
		/* The framework's context is zeroed and sits with the thread. */
		assert_int_equal(*(uint64_t *)usk_thread_get_ctx(thread), 0);
		*(uint64_t *)usk_thread_get_ctx(thread) = usk_thread_get_id(thread);
		return 0;
	}
	g_op_resched++;
	return 0;
}

static bool
thread_op_supported(enum usk_thread_op op)
{
	return true;
}

static int
setup_framework(void **state)
{
	struct usk_thread_lib_opts opts;
	int rc;

	g_op_new = g_op_resched = 0;
	g_op_fail = false;
	/* Small pool: 64 messages, too few for the per-thread caches to be filled. */
	usk_thread_lib_opts_init(&opts, sizeof(opts));
	opts.thread_op_fn = thread_op;
	opts.is_supported = thread_op_supported;
	opts.ctx_sz = 64;
	opts.msg_mempool_size = 64;
	rc = ut_thread_lib_init(&opts);
	if (rc != 0) {
		return rc;
	}
	assert_int_equal(usk_thread_lib_init(), -EALREADY);
	log_reset();
	return ut_allocate_threads(2);
}

static int
teardown_framework(void **state)
{
	ut_free_threads();
	ut_thread_lib_fini();
	return 0;
}

static void
test_framework_hook(void **state)
{
	struct usk_thread *t0 = ut_get_thread(0), *t;
	struct usk_cpuset mask;
	void *ctx = usk_thread_get_ctx(t0);

	assert_int_equal(g_op_new, 2);
	assert_non_null(ctx);
	assert_int_equal(((uintptr_t)ctx) % 64, 0);
	assert_int_equal(*(uint64_t *)ctx, usk_thread_get_id(t0));
	assert_ptr_equal(usk_thread_get_from_ctx(ctx), t0);
	/* The framework refuses a thread: creation fails cleanly. */
	g_op_fail = true;
	assert_null(usk_thread_create("refused", NULL));
	g_op_fail = false;
	assert_int_equal(usk_thread_get_count(), 2);
	/* Rescheduling goes through the hook with the new mask. */
	usk_cpuset_zero(&mask);
	usk_cpuset_set_cpu(&mask, 1, true);
	ut_set_thread(1);
	assert_int_equal(usk_thread_set_cpumask(&mask), 0);
	assert_int_equal(g_op_resched, 1);
	assert_true(usk_cpuset_equal(usk_thread_get_cpumask(ut_get_thread(1)), &mask));
	/* NULL cpumask at creation: a non-empty default. */
	assert_true(usk_cpuset_count(usk_thread_get_cpumask(t0)) > 0);
	t = usk_thread_get_app_thread();
	assert_ptr_equal(t, t0);
}

static void
test_msg_pool_exhaustion(void **state)
{
	struct usk_thread *t1 = ut_get_thread(1);
	int sent = 0, rc;

	ut_set_thread(0);
	while ((rc = usk_thread_send_msg(t1, msg_log, (void *)(intptr_t)sent)) == 0) {
		sent++;
		assert_true(sent <= 64);
	}
	/* Flow control, not failure: nothing was lost and sending works again after a poll. */
	assert_int_equal(rc, -ENOMEM);
	assert_true(sent > 0);
	/* With the pool empty a thread walk cannot start: -ENOMEM and its callbacks never run. */
	memset(g_thread_visits, 0, sizeof(g_thread_visits));
	assert_int_equal(usk_for_each_thread(for_each_thread_fn, NULL, for_each_thread_cpl),
			 -ENOMEM);
	ut_poll_threads();
	assert_int_equal(g_log_n, sent);
	assert_int_equal(g_thread_visits[0] + g_thread_visits[1], 0);
	for (int i = 0; i < sent; i++) {
		assert_int_equal(g_log[i], i);
	}
	/*
	 * The objects now sit in thread 1's private message cache (as in SPDK): a message sent
	 * from thread 1 reuses them without touching the pool.
	 */
	ut_set_thread(1);
	assert_int_equal(usk_thread_send_msg(ut_get_thread(0), msg_log, (void *)(intptr_t)-1), 0);
	ut_poll_threads();
	assert_int_equal(g_log_n, sent + 1);
	assert_int_equal(g_log[sent], -1);
}

/* ---- interrupt mode ---- */

static int
setup_intr(void **state)
{
	int rc = usk_interrupt_mode_enable();

	if (rc != 0) {
		return rc;
	}
	log_reset();
	return ut_allocate_threads(2);
}

static int
teardown_intr(void **state)
{
	ut_free_threads();
	/* usk_thread_lib_fini (in ut_free_threads) turned interrupt mode off again. */
	assert_false(usk_interrupt_mode_is_enabled());
	return 0;
}

static void *
send_from_os_thread(void *arg)
{
	usk_thread_send_msg(ut_get_thread(0), msg_log, (void *)(intptr_t)7);
	return NULL;
}

static void
test_intr_msg_wakeup(void **state)
{
	struct usk_thread *t0 = ut_get_thread(0);
	int fd = usk_thread_get_interrupt_fd(t0);
	pthread_t tid;

	assert_true(usk_interrupt_mode_is_enabled());
	assert_true(fd >= 0);
	log_reset();
	/* Idle: nothing readable; the poll arms the wakeup. */
	assert_int_equal(ut_poll_thread(0), 0);
	assert_false(fd_readable(fd));
	assert_int_equal(pthread_create(&tid, NULL, send_from_os_thread, NULL), 0);
	pthread_join(tid, NULL);
	/* A sleeping thread is woken through its fd group. */
	assert_true(fd_readable(fd));
	assert_int_equal(usk_thread_process_interrupts(t0, 1000), 1);
	assert_int_equal(g_log_n, 1);
	assert_int_equal(g_log[0], 7);
	/* The thread did work, so it did not arm: a sender costs no syscall. */
	ut_set_thread(1);
	assert_int_equal(usk_thread_send_msg(t0, msg_log, (void *)(intptr_t)8), 0);
	assert_false(fd_readable(fd));
	/* The next poll picks it up through the arm-and-recheck path. */
	assert_true(ut_poll_thread(0) > 0);
	ut_poll_thread(0);
	assert_int_equal(g_log_n, 2);
	assert_false(fd_readable(fd));
	/* Idle again: armed. Two sends, one eventfd write, both handled. */
	assert_int_equal(ut_poll_thread(0), 0);
	assert_int_equal(usk_thread_send_msg(t0, msg_log, (void *)(intptr_t)9), 0);
	assert_int_equal(usk_thread_send_msg(t0, msg_log, (void *)(intptr_t)10), 0);
	assert_true(fd_readable(fd));
	assert_true(usk_thread_process_interrupts(t0, 0) > 0);
	assert_int_equal(g_log_n, 4);
	assert_int_equal(usk_thread_process_interrupts(t0, 0), 0);
	assert_false(fd_readable(fd));
}

static void
test_intr_timer(void **state)
{
	struct poller_ctx t = {.id = 1, .rc = USK_POLLER_BUSY};
	struct usk_thread *t0 = ut_get_thread(0);
	struct usk_poller *pt;
	int fd = usk_thread_get_interrupt_fd(t0);

	ut_set_thread(0);
	/* 2000 fake ticks = 2 ms of real time for the timerfd. */
	pt = usk_poller_register(poller_fn, &t, 2000);
	ut_poll_thread(0);
	assert_false(fd_readable(fd));
	assert_int_equal(t.runs, 0);
	ut_delay_us(2000);
	/* Sleep on the fd group: the timerfd wakes it. */
	{
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		assert_int_equal(poll(&pfd, 1, 2000), 1);
	}
	usk_thread_process_interrupts(t0, 0);
	assert_int_equal(t.runs, 1);
	/* Re-armed for the next period. */
	assert_false(fd_readable(fd));
	ut_delay_us(2000);
	/* Blocking wait inside lib/thread: returns when the timer fires. */
	assert_int_equal(usk_thread_process_interrupts(t0, 2000), 1);
	assert_int_equal(t.runs, 2);
	usk_poller_unregister(&pt);
	ut_poll_thread(0);
	assert_false(fd_readable(fd));
}

static int g_fd_handled;
static struct usk_interrupt *g_intr;

static int
efd_handler(void *arg)
{
	int efd = *(int *)arg;
	uint64_t v;

	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	g_fd_handled += (int)v;
	if (g_fd_handled >= 3) {
		usk_interrupt_unregister(&g_intr);
	}
	return 1;
}

static void
test_intr_registered_fd(void **state)
{
	struct usk_thread *t1 = ut_get_thread(1);
	int efd = eventfd(0, EFD_NONBLOCK);
	uint64_t one = 1;

	assert_true(efd >= 0);
	ut_set_thread(1);
	g_fd_handled = 0;
	g_intr = usk_interrupt_register(efd, efd_handler, &efd, "test_efd");
	assert_non_null(g_intr);
	assert_int_equal(ut_poll_thread(1), 0);
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	assert_true(fd_readable(usk_thread_get_interrupt_fd(t1)));
	assert_int_equal(usk_thread_process_interrupts(t1, 100), 1);
	assert_int_equal(g_fd_handled, 1);
	one = 2;
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	assert_int_equal(usk_thread_process_interrupts(t1, 100), 1);
	/* The handler unregistered itself. */
	assert_null(g_intr);
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	assert_int_equal(usk_thread_process_interrupts(t1, 0), 0);
	assert_int_equal(g_fd_handled, 3);
	close(efd);
}

static int g_mode_calls;
static bool g_mode_last;

static void
set_mode_cb(struct usk_poller *poller, void *cb_arg, bool interrupt_mode)
{
	g_mode_calls++;
	g_mode_last = interrupt_mode;
}

static void
test_intr_busy_poller(void **state)
{
	struct poller_ctx a = {.id = 1};
	struct usk_thread *t1 = ut_get_thread(1);
	struct usk_poller *pa;
	int fd = usk_thread_get_interrupt_fd(t1);

	ut_set_thread(1);
	pa = usk_poller_register(poller_fn, &a, 0);
	/* An active poller without an interrupt callback keeps the thread polling. */
	assert_true(fd_readable(fd));
	usk_thread_process_interrupts(t1, 0);
	usk_thread_process_interrupts(t1, 0);
	assert_int_equal(a.runs, 2);
	assert_true(fd_readable(fd));
	usk_poller_pause(pa);
	assert_false(fd_readable(fd));
	usk_poller_resume(pa);
	assert_true(fd_readable(fd));
	/* With a callback it switches to interrupt mode and no longer spins. */
	g_mode_calls = 0;
	usk_poller_register_interrupt(pa, set_mode_cb, NULL);
	assert_int_equal(g_mode_calls, 1);
	assert_true(g_mode_last);
	assert_false(fd_readable(fd));
	usk_thread_process_interrupts(t1, 0);
	assert_int_equal(a.runs, 2);
	usk_poller_unregister(&pa);
	assert_false(fd_readable(fd));
}

static void
test_intr_thread_exit(void **state)
{
	struct poller_ctx t = {.id = 1};
	struct usk_thread *th = usk_thread_create("intr_exit", NULL);
	struct usk_poller *pt;
	int fd;

	assert_non_null(th);
	fd = usk_thread_get_interrupt_fd(th);
	usk_set_thread(th);
	pt = usk_poller_register(poller_fn, &t, 1000);
	/* Idle and armed: nothing to do. */
	assert_int_equal(usk_thread_poll(th, 0, 0), 0);
	assert_false(fd_readable(fd));
	/* Exit makes the fd readable so a sleeping reactor polls the thread again. */
	usk_thread_exit(th);
	assert_true(fd_readable(fd));
	usk_thread_process_interrupts(th, 0);
	assert_false(usk_thread_is_exited(th));
	/* Pause + resume re-arms the timer; unregistering lets the exit finish. */
	usk_poller_pause(pt);
	usk_poller_resume(pt);
	usk_poller_unregister(&pt);
	usk_thread_process_interrupts(th, 0);
	assert_true(usk_thread_is_exited(th));
	assert_null(usk_interrupt_register(0, efd_handler, NULL, "late"));
	usk_thread_destroy(th);
}

#define INTR_PRODUCER_MSGS 50000
static _Atomic int g_producers_done;
static int g_intr_consumed;

static void
intr_count_msg(void *ctx)
{
	g_intr_consumed++;
}

static void *
intr_producer_main(void *arg)
{
	for (int i = 0; i < INTR_PRODUCER_MSGS; i++) {
		while (usk_thread_send_msg(ut_get_thread(0), intr_count_msg, NULL) != 0) {
			sched_yield();
		}
		if ((i & 1023) == 0) {
			/* Let the consumer fall asleep now and then. */
			usleep(50);
		}
	}
	g_producers_done++;
	return NULL;
}

/* Wake-up protocol under races: a sleeping consumer never misses a message. */
static void
test_intr_no_lost_wakeup(void **state)
{
	struct usk_thread *t0 = ut_get_thread(0);
	pthread_t tid[2];
	int sleeps = 0;

	g_producers_done = 0;
	g_intr_consumed = 0;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_create(&tid[i], NULL, intr_producer_main, NULL), 0);
	}
	while (g_intr_consumed < 2 * INTR_PRODUCER_MSGS) {
		bool done_before = g_producers_done == 2;
		int rc = usk_thread_process_interrupts(t0, 5000);

		assert_true(rc >= 0);
		if (rc == 0) {
			sleeps++;
			/* Idle after the senders finished means the ring was empty: all consumed.
			 */
			if (done_before) {
				assert_int_equal(g_intr_consumed, 2 * INTR_PRODUCER_MSGS);
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(tid[i], NULL);
	}
	assert_int_equal(g_intr_consumed, 2 * INTR_PRODUCER_MSGS);
	/* Idle returns happen (a wake-up write can land after its message was already run). */
	print_message("# %d idle returns\n", sleeps);
}

/* Randomised timed pollers against a reference model: same runs, same order, every tick. */
#define MODEL_POLLERS 24

struct model_poller {
	struct usk_poller *p;
	uint64_t period;
	uint64_t next;
	uint64_t seq;
	bool active; /* registered and not paused */
	bool registered;
	int runs;
	int id;
};

static struct model_poller g_model[MODEL_POLLERS];
static int g_model_log[64];
static int g_model_log_n;

static int
model_poller_fn(void *arg)
{
	struct model_poller *m = arg;

	m->runs++;
	assert_true(g_model_log_n < 64);
	g_model_log[g_model_log_n++] = m->id;
	return USK_POLLER_BUSY;
}

static uint32_t
xorshift(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static void
test_timed_poller_model(void **state)
{
	uint32_t rnd = 0x12345678;
	uint64_t seq = 0;

	ut_set_thread(2);
	memset(g_model, 0, sizeof(g_model));
	for (int i = 0; i < MODEL_POLLERS; i++) {
		g_model[i].id = i;
	}
	for (int tick = 0; tick < 20000; tick++) {
		int expect[MODEL_POLLERS], n_expect = 0;
		uint64_t now;
		struct model_poller *m = &g_model[xorshift(&rnd) % MODEL_POLLERS];

		/* One random operation per tick. */
		switch (xorshift(&rnd) % 4) {
		case 0:
			if (!m->registered) {
				m->period = 1 + xorshift(&rnd) % 40;
				m->p = usk_poller_register(model_poller_fn, m, m->period);
				m->registered = m->active = true;
				m->next = ut_now() + m->period;
				m->seq = seq++;
			}
			break;
		case 1:
			if (m->registered) {
				usk_poller_unregister(&m->p);
				m->registered = m->active = false;
			}
			break;
		case 2:
			if (m->registered && m->active) {
				usk_poller_pause(m->p);
				m->active = false;
			}
			break;
		default:
			if (m->registered && !m->active) {
				usk_poller_resume(m->p);
				m->active = true;
				m->next = ut_now() + m->period;
				m->seq = seq++;
			}
			break;
		}

		ut_delay_us(1);
		now = ut_now();
		/* Model: due pollers by (next, seq); each runs once and is rescheduled. */
		for (;;) {
			struct model_poller *best = NULL;

			for (int i = 0; i < MODEL_POLLERS; i++) {
				struct model_poller *c = &g_model[i];

				if (c->active && c->next <= now &&
				    (best == NULL || c->next < best->next ||
				     (c->next == best->next && c->seq < best->seq))) {
					best = c;
				}
			}
			if (best == NULL) {
				break;
			}
			expect[n_expect++] = best->id;
			best->next = now + best->period;
			best->seq = seq++;
		}
		g_model_log_n = 0;
		ut_poll_thread(2);
		assert_int_equal(g_model_log_n, n_expect);
		for (int i = 0; i < n_expect; i++) {
			assert_int_equal(g_model_log[i], expect[i]);
		}
	}
	for (int i = 0; i < MODEL_POLLERS; i++) {
		usk_poller_unregister(&g_model[i].p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_thread_basics, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_msg_order_and_batch, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_msg_cross_thread, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_msg_from_os_threads, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_critical_msg, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_for_each_thread, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_active_poller, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_timed_poller_order, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_poller_pause_resume, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_timed_poller_model, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_poller_unregister_in_callback, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_poller_stats, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_io_channel_refcount, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_io_device_unregister_deferred, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_for_each_channel, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_thread_exit_waits, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_thread_exit_timeout, setup_threads3,
						teardown_threads),
		cmocka_unit_test_setup_teardown(test_framework_hook, setup_framework,
						teardown_framework),
		cmocka_unit_test_setup_teardown(test_msg_pool_exhaustion, setup_framework,
						teardown_framework),
		cmocka_unit_test_setup_teardown(test_intr_msg_wakeup, setup_intr, teardown_intr),
		cmocka_unit_test_setup_teardown(test_intr_timer, setup_intr, teardown_intr),
		cmocka_unit_test_setup_teardown(test_intr_registered_fd, setup_intr, teardown_intr),
		cmocka_unit_test_setup_teardown(test_intr_busy_poller, setup_intr, teardown_intr),
		cmocka_unit_test_setup_teardown(test_intr_thread_exit, setup_intr, teardown_intr),
		cmocka_unit_test_setup_teardown(test_intr_no_lost_wakeup, setup_intr,
						teardown_intr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
