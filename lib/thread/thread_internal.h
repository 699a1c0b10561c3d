/* SPDX-License-Identifier: BSD-3-Clause */
/* Private layout of usk_thread, usk_poller and io_channel state shared by lib/thread's files. */
#ifndef USK_THREAD_INTERNAL_H
#define USK_THREAD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/queue.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/thread.h"

/* Messages a thread keeps in its private free list before returning them to the pool. */
#define USK_MSG_CACHE_SIZE 1024
/* Slots of a thread's message ring (power of two; holds one less). */
#define USK_MSG_RING_SIZE 65536
/* A thread that cannot finish exiting within this many seconds is forced out (with a log). */
#define USK_THREAD_EXIT_TIMEOUT_SEC 5

struct usk_msg {
	usk_msg_fn fn;
	void *arg;
	SLIST_ENTRY(usk_msg) link;
};

/*
 * Where a poller is: WAITING: in active_pollers (period 0) or the timed heap. PAUSED: in
 * paused_pollers. PAUSING / UNREGISTERED: requested while the poller was running or while the
 * active list was being walked; it stays where it is (active list, or popped off the heap while
 * running) and the poll loop finishes the move / frees it. `running` is orthogonal.
 */
enum poller_state {
	POLLER_STATE_WAITING,
	POLLER_STATE_PAUSING,
	POLLER_STATE_PAUSED,
	POLLER_STATE_UNREGISTERED,
};

struct usk_poller {
	/* Hot: read on every poll. */
	usk_poller_fn fn;
	void *arg;
	enum poller_state state;
	bool running;
	/* Counted in thread->busy_pollers (interrupt mode, active, no interrupt callback). */
	bool busy_counted;
	bool notice_logged;
	/* Index in thread->timed heap while it is there, UINT32_MAX otherwise. */
	uint32_t heap_idx;
	uint64_t period_ticks;
	uint64_t next_run_tick;
	/* Tie breaker for timed pollers with the same expiry: registration/reschedule order. */
	uint64_t seq;
	uint64_t run_count;
	uint64_t busy_count;
	TAILQ_ENTRY(usk_poller) tailq;
	/* Cold. */
	struct usk_thread *thread;
	usk_poller_set_interrupt_mode_cb set_intr_cb_fn;
	void *set_intr_cb_arg;
	/* Longest run logged by slow_check (debug builds), in ticks. */
	uint64_t slow_logged;
	char name[USK_MAX_POLLER_NAME_LEN];
};

enum thread_state {
	THREAD_STATE_RUNNING,
	THREAD_STATE_EXITING,
	THREAD_STATE_EXITED,
};

struct io_device;

struct usk_io_channel {
	struct usk_thread *thread;
	struct io_device *dev;
	uint32_t ref;
	/* Destroy messages in flight for this channel (ref fell to 0 at least once). */
	uint32_t destroy_ref;
	TAILQ_ENTRY(usk_io_channel) tailq;
	usk_io_channel_destroy_cb destroy_cb;
	/* ctx_size bytes of device context follow, cache-line aligned. */
} __attribute__((aligned(USK_CACHE_LINE_SIZE)));

struct usk_interrupt {
	struct usk_thread *thread;
	int efd;
	uint32_t events;
	bool dead;
	usk_interrupt_fn fn;
	void *arg;
	TAILQ_ENTRY(usk_interrupt) tailq;
	uint64_t slow_logged; /* see slow_check */
	char name[64];
};

TAILQ_HEAD(poller_list, usk_poller);

/*
 * Invariants:
 * - Everything except `messages`, `critical_msg`, `may_sleep` and the global-list link is only
 *   touched by the OS thread that currently polls this thread (usk_set_thread).
 * - io_channels is modified only by the owning thread, while holding g_devlist_mutex, so that
 *   usk_for_each_channel can read other threads' lists under that mutex; the owner reads its own
 *   list without the lock.
 * - A timed poller is in the heap iff state is WAITING or RUNNING (popped lazily on run).
 */
struct usk_thread {
	/*
	 * ---- read by senders on other cores: written only at create and exit, so this line
	 * stays shared in every sender's cache (no false sharing with the poll loop) ----
	 */
	struct usk_ring *messages;
	enum thread_state state;
	bool in_interrupt;
	int msg_fd;

	/* ---- owner-only hot fields: touched by every usk_thread_poll() ---- */
	uint64_t tsc_last __attribute__((aligned(USK_CACHE_LINE_SIZE)));
	struct poller_list active_pollers;
	/* Min-heap of timed pollers ordered by (next_run_tick, seq). */
	struct usk_poller **timed;
	uint32_t timed_count;
	uint32_t timed_cap;
	uint32_t msg_cache_count;
	SLIST_HEAD(, usk_msg) msg_cache;
	struct usk_thread_stats stats;
	/* Written by usk_thread_send_critical_msg (possibly from a signal handler); rare. */
	_Atomic(usk_msg_fn) critical_msg;
	/* ---- cold ---- */
	uint64_t timed_seq;
	/* The active list is being walked: unregister/pause of its members is deferred. */
	bool active_iter;
	/* usk_for_each_channel walks started here and not completed yet. */
	uint32_t for_each_count;
	struct poller_list paused_pollers;
	TAILQ_HEAD(, usk_io_channel) io_channels;
	TAILQ_ENTRY(usk_thread) tailq;
	uint64_t id;
	uint64_t exit_timeout_tsc;
	struct usk_cpuset cpumask;
	char name[USK_MAX_THREAD_NAME_LEN];

	/* ---- interrupt mode (in_interrupt only) ---- */
	/*
	 * may_sleep pairs a sender's "enqueue; full fence; load may_sleep" with the receiver's
	 * "store may_sleep=1; full fence; check ring": at least one side sees the other, so a
	 * message is never stranded while the thread sleeps. Set only when the thread goes idle.
	 */
	atomic_bool may_sleep __attribute__((aligned(USK_CACHE_LINE_SIZE)));
	int epfd;
	int timer_fd;
	/* Kept readable while active pollers without an interrupt callback exist. */
	int busy_fd;
	uint32_t busy_pollers;
	uint64_t timer_armed_tick;
	struct usk_interrupt *msg_intr;
	struct usk_interrupt *timer_intr;
	struct usk_interrupt *busy_intr;
	TAILQ_HEAD(, usk_interrupt) interrupts;
	/* Handlers unregistered during a dispatch, freed when it ends. */
	TAILQ_HEAD(, usk_interrupt) dead_interrupts;
	uint64_t slow_msg_logged; /* see slow_check */
	bool dispatching;

	/* Framework context (usk_thread_lib_init_ext ctx_sz) follows. */
	uint8_t ctx[] __attribute__((aligned(USK_CACHE_LINE_SIZE)));
};

/* ---- shared between the library's files ---- */

extern pthread_mutex_t g_devlist_mutex;
extern bool g_interrupt_mode;
extern uint64_t g_ticks_hz;
/* usk_thread_lib_opts.get_ticks; NULL (the default) reads usk_get_ticks() inline. */
extern usk_thread_get_ticks_fn g_get_ticks_fn;
/* usk_get_ticks_hz() / 1e6 (at least 1), for slow_check. */
extern uint64_t g_ticks_real_per_us;

static inline uint64_t
thread_ticks(void)
{
	if (usk_unlikely(g_get_ticks_fn != NULL)) {
		return g_get_ticks_fn();
	}
	return usk_get_ticks();
}

/*
 * Reactor watchdog (debug builds): a poller run, message or fd handler that holds its thread
 * longer than USK_SLOW_POLL_WARN_US is logged with its name, because everything else on that
 * reactor waited meanwhile (a blocking syscall, a big memset). Each one is logged again only
 * when it doubles its worst logged time, so a slow poller cannot flood the log. 0 compiles the
 * check out; release builds (NDEBUG) default to 0, others to 10 ms; the meson option
 * slow_poll_warn_us overrides both. Real time (usk_get_ticks), not the injected clock.
 */
#ifndef USK_SLOW_POLL_WARN_US
#ifdef NDEBUG
#define USK_SLOW_POLL_WARN_US 0
#else
#define USK_SLOW_POLL_WARN_US 10000
#endif
#endif

void thread_slow_report(struct usk_thread *thread, const char *kind, const char *name,
			const void *fn, uint64_t ticks, uint64_t *logged);

static inline uint64_t
slow_start(void)
{
	return USK_SLOW_POLL_WARN_US > 0 ? usk_get_ticks() : 0;
}

static inline void
slow_check(struct usk_thread *thread, const char *kind, const char *name, const void *fn,
	   uint64_t start, uint64_t *logged)
{
	if (USK_SLOW_POLL_WARN_US > 0) {
		uint64_t ticks = usk_get_ticks() - start;

		if (usk_unlikely(ticks > (uint64_t)USK_SLOW_POLL_WARN_US * g_ticks_real_per_us &&
				 ticks / 2 >= *logged)) {
			thread_slow_report(thread, kind, name, fn, ticks, logged);
		}
	}
}

struct usk_thread *thread_list_first_locked(void);
struct usk_thread *thread_list_next_locked(struct usk_thread *t);
void thread_run_timed_pollers(struct usk_thread *thread, uint64_t now, int *rc);
int thread_msg_queue_run(struct usk_thread *thread, uint32_t max_msgs);
bool thread_exit_check(struct usk_thread *thread, uint64_t now);
void thread_update_stats(struct usk_thread *thread, uint64_t start, uint64_t end, int rc);

/* interrupt.c */
int thread_interrupt_init(struct usk_thread *thread);
void thread_interrupt_fini(struct usk_thread *thread);
void thread_interrupt_rearm_timer(struct usk_thread *thread, uint64_t now);
void thread_interrupt_wake(const struct usk_thread *thread);
void thread_interrupt_busy_poller_add(struct usk_thread *thread);
void thread_interrupt_busy_poller_del(struct usk_thread *thread);
int thread_interrupt_poll(struct usk_thread *thread, int timeout_ms);
void thread_run_active_pollers(struct usk_thread *thread, bool only_busy, int *rc);

/* io_channel.c */
void io_device_lib_fini(void);

#endif
