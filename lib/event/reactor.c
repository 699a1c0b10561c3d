/* SPDX-License-Identifier: BSD-3-Clause */
/* Reactors: one pinned OS thread per core that polls its usk_threads, or sleeps in interrupt mode.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include "usk/env.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "event_internal.h"

/* Longest sleep in interrupt mode; a safety net, wake-ups normally come from the fds. */
#define REACTOR_MAX_SLEEP_MS 1000
#define REACTOR_MAX_EVENTS   32

/* Framework context of every usk_thread (usk_thread_get_ctx). */
struct lw_thread {
	struct usk_reactor *reactor;
	uint64_t tsc_start;
	bool in_epoll;
	bool resched; /* cpumask changed: move after this poll (set on the thread itself) */
	TAILQ_ENTRY(lw_thread) link;
};

/*
 * threads is walked without the lock by the reactor itself (its only writer); the lock is held
 * for every change and by readers on other threads (framework_get_reactors). New threads come
 * in through incoming, from any thread.
 */
struct usk_reactor {
	uint32_t core;
	pthread_mutex_t lock;
	TAILQ_HEAD(, lw_thread) threads;
	TAILQ_HEAD(, lw_thread) incoming;
	atomic_uint nincoming;
	uint32_t nthreads;
	int wake_fd;
	int epfd;
	_Atomic uint64_t busy_tsc;
	_Atomic uint64_t idle_tsc;
	_Atomic uint64_t irq_count;
	atomic_bool in_interrupt;
};

static struct usk_reactor *g_reactors;
static uint32_t g_num_reactors;
static struct usk_reactor *g_main_reactor;
static bool g_interrupt;
static atomic_bool g_stop;
static atomic_uint g_rr_next;
static __thread struct usk_reactor *tls_reactor;

size_t
reactor_thread_ctx_size(void)
{
	return sizeof(struct lw_thread);
}

uint32_t
usk_reactor_get_current_core(void)
{
	return tls_reactor ? tls_reactor->core : UINT32_MAX;
}

uint32_t
usk_app_get_core_count(void)
{
	return g_num_reactors;
}

static void
reactor_wake(struct usk_reactor *r)
{
	uint64_t one = 1;
	ssize_t rc;

	if (r->wake_fd >= 0) {
		rc = write(r->wake_fd, &one, sizeof(one));
		(void)rc;
	}
}

void
reactors_wake_main(void)
{
	if (g_main_reactor != NULL) {
		reactor_wake(g_main_reactor);
	}
}

int
reactors_init(bool interrupt_mode)
{
	struct epoll_event ev = {.events = EPOLLIN};
	uint32_t core, i = 0;

	g_num_reactors = usk_env_get_core_count();
	if (g_num_reactors == 0) {
		return -EINVAL;
	}
	g_reactors = calloc(g_num_reactors, sizeof(*g_reactors));
	if (g_reactors == NULL) {
		return -ENOMEM;
	}
	g_interrupt = interrupt_mode;
	atomic_store(&g_stop, false);
	USK_ENV_FOREACH_CORE(core) {
		struct usk_reactor *r = &g_reactors[i++];

		r->core = core;
		pthread_mutex_init(&r->lock, NULL);
		TAILQ_INIT(&r->threads);
		TAILQ_INIT(&r->incoming);
		r->epfd = -1;
		r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (r->wake_fd < 0) {
			return -errno;
		}
		if (interrupt_mode) {
			r->epfd = epoll_create1(EPOLL_CLOEXEC);
			if (r->epfd < 0) {
				return -errno;
			}
			ev.data.ptr = NULL; /* NULL marks the wake fd */
			if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wake_fd, &ev) != 0) {
				return -errno;
			}
		}
		if (core == usk_env_get_main_core()) {
			g_main_reactor = r;
		}
		if (i == g_num_reactors) {
			break;
		}
	}
	g_num_reactors = i;
	if (g_main_reactor == NULL) {
		g_main_reactor = &g_reactors[0];
	}
	return 0;
}

void
reactors_fini(void)
{
	uint32_t i;

	for (i = 0; i < g_num_reactors; i++) {
		if (g_reactors[i].wake_fd >= 0) {
			close(g_reactors[i].wake_fd);
		}
		if (g_reactors[i].epfd >= 0) {
			close(g_reactors[i].epfd);
		}
		pthread_mutex_destroy(&g_reactors[i].lock);
	}
	free(g_reactors);
	g_reactors = NULL;
	g_main_reactor = NULL;
	g_num_reactors = 0;
}

bool
reactor_thread_op_supported(enum usk_thread_op op)
{
	return op == USK_THREAD_OP_NEW || op == USK_THREAD_OP_RESCHED;
}

/* Round-robin over the reactors whose core is in the thread's cpumask. */
static struct usk_reactor *
reactor_pick(const struct usk_cpuset *mask)
{
	uint32_t start = atomic_fetch_add(&g_rr_next, 1), i;

	for (i = 0; i < g_num_reactors; i++) {
		struct usk_reactor *r = &g_reactors[(start + i) % g_num_reactors];

		if (mask == NULL || usk_cpuset_get_cpu(mask, r->core)) {
			return r;
		}
	}
	return NULL;
}

int
reactor_thread_op(struct usk_thread *thread, enum usk_thread_op op)
{
	struct lw_thread *lw = usk_thread_get_ctx(thread);
	struct usk_reactor *r;

	if (g_reactors == NULL) {
		return -EINVAL;
	}
	if (op == USK_THREAD_OP_RESCHED) {
		/* Called on the thread itself, inside its poll: the reactor moves it afterwards. */
		lw->resched = true;
		return 0;
	}
	if (op != USK_THREAD_OP_NEW) {
		return -ENOTSUP;
	}
	r = reactor_pick(usk_thread_get_cpumask(thread));
	if (r == NULL) {
		USK_WARNLOG("thread %s: cpumask %s matches no reactor; placing it anyway\n",
			    usk_thread_get_name(thread),
			    usk_cpuset_fmt(usk_thread_get_cpumask(thread)));
		r = reactor_pick(NULL);
	}
	lw->reactor = r;
	lw->tsc_start = usk_get_ticks();
	pthread_mutex_lock(&r->lock);
	TAILQ_INSERT_TAIL(&r->incoming, lw, link);
	atomic_fetch_add_explicit(&r->nincoming, 1, memory_order_release);
	pthread_mutex_unlock(&r->lock);
	reactor_wake(r);
	return 0;
}

static void
reactor_take_incoming(struct usk_reactor *r)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct lw_thread *lw;
	int fd;

	pthread_mutex_lock(&r->lock);
	while ((lw = TAILQ_FIRST(&r->incoming)) != NULL) {
		TAILQ_REMOVE(&r->incoming, lw, link);
		TAILQ_INSERT_TAIL(&r->threads, lw, link);
		r->nthreads++;
		atomic_fetch_sub_explicit(&r->nincoming, 1, memory_order_relaxed);
		if (g_interrupt) {
			fd = usk_thread_get_interrupt_fd(usk_thread_get_from_ctx(lw));
			ev.data.ptr = lw;
			if (fd >= 0 && epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
				lw->in_epoll = true;
			}
		}
	}
	pthread_mutex_unlock(&r->lock);
}

static void
reactor_detach_thread(struct usk_reactor *r, struct lw_thread *lw)
{
	struct usk_thread *thread = usk_thread_get_from_ctx(lw);

	pthread_mutex_lock(&r->lock);
	TAILQ_REMOVE(&r->threads, lw, link);
	r->nthreads--;
	pthread_mutex_unlock(&r->lock);
	if (lw->in_epoll) {
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, usk_thread_get_interrupt_fd(thread), NULL);
		lw->in_epoll = false;
	}
}

static void
reactor_remove_thread(struct usk_reactor *r, struct lw_thread *lw)
{
	reactor_detach_thread(r, lw);
	usk_thread_destroy(usk_thread_get_from_ctx(lw));
}

/* Hand a thread whose cpumask changed to a reactor in its new mask (maybe this one again). */
static void
reactor_move_thread(struct usk_reactor *r, struct lw_thread *lw)
{
	struct usk_thread *thread = usk_thread_get_from_ctx(lw);
	struct usk_reactor *to;

	lw->resched = false;
	if (usk_cpuset_get_cpu(usk_thread_get_cpumask(thread), r->core)) {
		return;
	}
	to = reactor_pick(usk_thread_get_cpumask(thread));
	if (to == NULL || to == r) {
		return;
	}
	reactor_detach_thread(r, lw);
	lw->reactor = to;
	pthread_mutex_lock(&to->lock);
	TAILQ_INSERT_TAIL(&to->incoming, lw, link);
	atomic_fetch_add_explicit(&to->nincoming, 1, memory_order_release);
	pthread_mutex_unlock(&to->lock);
	reactor_wake(to);
}

/*
 * One pass over the reactor's threads, starting at tick now; *end gets the tick the pass ended
 * at (each thread's poll reads the clock once at its end and the next starts there: a TSC read
 * costs ~25 ns in a VM). Returns > 0 when any did work.
 */
static int
reactor_poll_once(struct usk_reactor *r, uint64_t now, uint64_t *end)
{
	struct lw_thread *lw, *tmp;
	bool polled = false;
	int busy = 0;

	if (atomic_load_explicit(&r->nincoming, memory_order_acquire) > 0) {
		reactor_take_incoming(r);
	}
	for (lw = TAILQ_FIRST(&r->threads); lw != NULL; lw = tmp) {
		struct usk_thread *thread = usk_thread_get_from_ctx(lw);

		tmp = TAILQ_NEXT(lw, link);
		if (usk_thread_poll(thread, 0, now) > 0) {
			busy = 1;
		}
		now = usk_thread_get_last_tsc(thread);
		polled = true;
		if (usk_thread_is_exited(thread)) {
			reactor_remove_thread(r, lw);
		} else if (usk_unlikely(lw->resched)) {
			reactor_move_thread(r, lw);
		}
	}
	*end = polled ? now : usk_get_ticks();
	return busy;
}

static void
reactor_sleep(struct usk_reactor *r)
{
	struct epoll_event events[REACTOR_MAX_EVENTS];
	uint64_t val;
	ssize_t rc;
	int n, i;

	atomic_store(&r->in_interrupt, true);
	n = epoll_wait(r->epfd, events, REACTOR_MAX_EVENTS, REACTOR_MAX_SLEEP_MS);
	atomic_store(&r->in_interrupt, false);
	for (i = 0; i < n; i++) {
		if (events[i].data.ptr == NULL) {
			rc = read(r->wake_fd, &val, sizeof(val));
			(void)rc;
		}
	}
	if (n > 0) {
		atomic_fetch_add_explicit(&r->irq_count, (uint64_t)n, memory_order_relaxed);
	}
}

/* Exit every thread of the reactor and poll until they are gone. */
static void
reactor_drain(struct usk_reactor *r)
{
	struct lw_thread *lw;

	reactor_take_incoming(r);
	TAILQ_FOREACH(lw, &r->threads, link) {
		struct usk_thread *thread = usk_thread_get_from_ctx(lw);

		if (!usk_thread_is_exited(thread)) {
			usk_set_thread(thread);
			usk_thread_exit(thread);
			usk_set_thread(NULL);
		}
	}
	/* lib/thread forces a thread out after its exit timeout, so this ends. */
	while (!TAILQ_EMPTY(&r->threads) || atomic_load(&r->nincoming) > 0) {
		if (atomic_load(&r->nincoming) > 0) {
			reactor_take_incoming(r);
			TAILQ_FOREACH(lw, &r->threads, link) {
				struct usk_thread *thread = usk_thread_get_from_ctx(lw);

				if (usk_thread_is_running(thread)) {
					usk_set_thread(thread);
					usk_thread_exit(thread);
					usk_set_thread(NULL);
				}
			}
		}
		uint64_t end;

		if (reactor_poll_once(r, usk_get_ticks(), &end) == 0 && g_interrupt) {
			usk_delay_us(100);
		}
	}
}

static int
reactor_run(void *arg)
{
	struct usk_reactor *r = arg;
	uint64_t t0, t1;
	int busy;

	tls_reactor = r;
	USK_NOTICELOG("Reactor started on core %u\n", r->core);
	t0 = usk_get_ticks();
	while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
		busy = reactor_poll_once(r, t0, &t1);
		if (g_interrupt && !busy) {
			reactor_sleep(r);
			t1 = usk_get_ticks();
		}
		if (busy) {
			atomic_fetch_add_explicit(&r->busy_tsc, t1 - t0, memory_order_relaxed);
		} else {
			atomic_fetch_add_explicit(&r->idle_tsc, t1 - t0, memory_order_relaxed);
		}
		t0 = t1;
	}
	reactor_drain(r);
	tls_reactor = NULL;
	return 0;
}

void
reactors_start(void)
{
	uint32_t i;
	int rc;

	for (i = 0; i < g_num_reactors; i++) {
		struct usk_reactor *r = &g_reactors[i];

		if (r == g_main_reactor) {
			continue;
		}
		rc = usk_env_thread_launch_pinned(r->core, reactor_run, r);
		if (rc != 0) {
			USK_ERRLOG("cannot launch reactor on core %u: %s\n", r->core,
				   strerror(-rc));
			/* Its threads are re-homed on the main reactor. */
			pthread_mutex_lock(&r->lock);
			while (!TAILQ_EMPTY(&r->incoming)) {
				struct lw_thread *lw = TAILQ_FIRST(&r->incoming);

				TAILQ_REMOVE(&r->incoming, lw, link);
				atomic_fetch_sub(&r->nincoming, 1);
				lw->reactor = g_main_reactor;
				pthread_mutex_lock(&g_main_reactor->lock);
				TAILQ_INSERT_TAIL(&g_main_reactor->incoming, lw, link);
				atomic_fetch_add(&g_main_reactor->nincoming, 1);
				pthread_mutex_unlock(&g_main_reactor->lock);
			}
			pthread_mutex_unlock(&r->lock);
		}
	}
	usk_env_pin_current(g_main_reactor->core);
	reactor_run(g_main_reactor);
	usk_env_thread_wait_all();
}

void
reactors_stop(void)
{
	uint32_t i;

	atomic_store(&g_stop, true);
	for (i = 0; i < g_num_reactors; i++) {
		reactor_wake(&g_reactors[i]);
	}
}

json_t *
reactors_get_info(void)
{
	json_t *arr = json_array();
	uint32_t i;
	uint64_t now = usk_get_ticks();

	for (i = 0; i < g_num_reactors; i++) {
		struct usk_reactor *r = &g_reactors[i];
		json_t *threads = json_array();
		struct lw_thread *lw;

		pthread_mutex_lock(&r->lock);
		TAILQ_FOREACH(lw, &r->threads, link) {
			struct usk_thread *t = usk_thread_get_from_ctx(lw);

			usk_json_append(threads,
					json_pack("{s:s, s:I, s:s, s:I}", "name",
						  usk_thread_get_name(t), "id",
						  (json_int_t)usk_thread_get_id(t), "cpumask",
						  usk_cpuset_fmt(usk_thread_get_cpumask(t)),
						  "elapsed", (json_int_t)(now - lw->tsc_start)));
		}
		pthread_mutex_unlock(&r->lock);
		usk_json_append(arr,
				json_pack("{s:i, s:I, s:I, s:b, s:I, s:o}", "lcore", (int)r->core,
					  "busy", (json_int_t)atomic_load(&r->busy_tsc), "idle",
					  (json_int_t)atomic_load(&r->idle_tsc), "in_interrupt",
					  (int)atomic_load(&r->in_interrupt), "irq_count",
					  (json_int_t)atomic_load(&r->irq_count), "lw_threads",
					  threads));
	}
	return arr;
}
