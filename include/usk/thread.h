/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Lightweight threads, pollers, messages and io_device/io_channel.
 *
 * A usk_thread is not an OS thread: it is a context that some OS thread (a reactor) polls with
 * usk_thread_poll(). Everything owned by a thread (pollers, channels) is only touched on it;
 * other threads talk to it with messages. The API follows SPDK's spdk/thread.h.
 */
#ifndef USK_THREAD_H
#define USK_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "usk/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct usk_thread;
struct usk_poller;
struct usk_io_channel;
struct usk_io_channel_iter;
struct usk_interrupt;

enum usk_thread_poller_rc {
	USK_POLLER_IDLE = 0,
	USK_POLLER_BUSY = 1,
};

#define USK_MAX_THREAD_NAME_LEN 256
#define USK_MAX_POLLER_NAME_LEN 256
/* Messages handled per usk_thread_poll() call when max_msgs is 0. */
#define USK_MSG_BATCH_SIZE 8
/* Default message pool size for the whole process. */
#define USK_DEFAULT_MSG_MEMPOOL_SIZE (262144 - 1)

typedef void (*usk_msg_fn)(void *ctx);
typedef int (*usk_poller_fn)(void *ctx);
typedef void (*usk_thread_pass_msg)(usk_msg_fn fn, void *ctx, void *thread_ctx);

enum usk_thread_op {
	/* Called when a new thread is created: the framework should schedule it on a reactor. */
	USK_THREAD_OP_NEW,
	/* The thread's cpumask changed: the framework may move it. */
	USK_THREAD_OP_RESCHED,
};
typedef int (*usk_thread_op_fn)(struct usk_thread *thread, enum usk_thread_op op);
typedef bool (*usk_thread_op_supported_fn)(enum usk_thread_op op);

typedef int (*usk_io_channel_create_cb)(void *io_device, void *ctx_buf);
typedef void (*usk_io_channel_destroy_cb)(void *io_device, void *ctx_buf);
typedef void (*usk_io_device_unregister_cb)(void *io_device);
typedef void (*usk_channel_msg)(struct usk_io_channel_iter *i);
typedef void (*usk_channel_for_each_cpl)(struct usk_io_channel_iter *i, int status);
typedef void (*usk_poller_set_interrupt_mode_cb)(struct usk_poller *poller, void *cb_arg,
						 bool interrupt_mode);
/** Interrupt handler: return > 0 if it did work, 0 if not, < 0 on error. */
typedef int (*usk_interrupt_fn)(void *ctx);

struct usk_thread_stats {
	uint64_t busy_tsc;
	uint64_t idle_tsc;
};

/** Tick source: a monotonic counter that advances ticks_hz times per second. */
typedef uint64_t (*usk_thread_get_ticks_fn)(void);

struct usk_thread_lib_opts {
	/* sizeof(struct usk_thread_lib_opts) as the caller knows it; lets the struct grow. */
	size_t opts_size;
	/*
	 * Called for every new thread so the framework can schedule it (USK_THREAD_OP_NEW) and
	 * when its cpumask changes (USK_THREAD_OP_RESCHED). NULL: the creator polls the thread
	 * itself. Set both or neither of thread_op_fn and is_supported.
	 */
	usk_thread_op_fn thread_op_fn;
	usk_thread_op_supported_fn is_supported;
	/* Bytes of per-thread framework context (usk_thread_get_ctx). */
	size_t ctx_sz;
	/* Entries of the process-wide message pool; 0 = USK_DEFAULT_MSG_MEMPOOL_SIZE. */
	size_t msg_mempool_size;
	/*
	 * Clock for poller periods, thread stats and the exit timeout. NULL = usk_get_ticks()
	 * at usk_get_ticks_hz(). A non-NULL get_ticks must be callable from every thread that
	 * polls; ticks_hz is its rate (0 = usk_get_ticks_hz()). Set once, at init: a stepped
	 * clock makes timed pollers deterministic (test/common/ut_multithread.c).
	 */
	usk_thread_get_ticks_fn get_ticks;
	uint64_t ticks_hz;
};

/** Fill opts (of opts_size bytes, normally sizeof(*opts)) with defaults. Any thread. */
void usk_thread_lib_opts_init(struct usk_thread_lib_opts *opts, size_t opts_size);

/**
 * Initialise the thread library with opts (NULL = defaults). Call once per process lifetime
 * of the library, from the thread that will create the first usk_thread, before any other
 * function of this header except usk_interrupt_mode_enable. Returns 0, -EALREADY (already
 * initialised), -EINVAL (bad opts_size, thread_op_fn without is_supported) or -ENOMEM.
 */
int usk_thread_lib_init_opts(const struct usk_thread_lib_opts *opts);
/**
 * usk_thread_lib_init_opts() with these fields set and the rest defaulted (the SPDK call).
 * msg_mempool_size: 0 = USK_DEFAULT_MSG_MEMPOOL_SIZE. Returns 0 or -errno as above.
 */
int usk_thread_lib_init_ext(usk_thread_op_fn thread_op_fn, usk_thread_op_supported_fn is_supported,
			    size_t ctx_sz, size_t msg_mempool_size);
/** usk_thread_lib_init_opts(NULL). */
int usk_thread_lib_init(void);
/**
 * Free the message pool and any io_device left registered (logged), forget the clock and turn
 * interrupt mode off, so that the library may be initialised again. Call after every thread
 * is destroyed, from the thread that initialised it.
 */
void usk_thread_lib_fini(void);

/**
 * Create a thread. cpumask NULL = every core. The first thread created is the app thread.
 * Returns NULL on failure.
 */
struct usk_thread *usk_thread_create(const char *name, const struct usk_cpuset *cpumask);
/** Bind the calling OS thread to thread (NULL to unbind); usk_get_thread() then returns it. */
void usk_set_thread(struct usk_thread *thread);
/**
 * Mark the thread as exiting; it must be called on that thread. The thread keeps being polled
 * until its pollers are unregistered, its channels released and its messages drained; then
 * usk_thread_is_exited() turns true. Returns 0.
 */
int usk_thread_exit(struct usk_thread *thread);
/** True once an exiting thread has released everything (or hit the exit timeout). */
bool usk_thread_is_exited(struct usk_thread *thread);
/** True until usk_thread_exit() is called. */
bool usk_thread_is_running(struct usk_thread *thread);
/** Free an exited thread. */
void usk_thread_destroy(struct usk_thread *thread);
/** The framework's ctx_sz bytes of per-thread context (NULL when ctx_sz was 0). */
void *usk_thread_get_ctx(struct usk_thread *thread);
/** Inverse of usk_thread_get_ctx. */
struct usk_thread *usk_thread_get_from_ctx(void *ctx);
/** Cores the thread may run on. */
const struct usk_cpuset *usk_thread_get_cpumask(struct usk_thread *thread);
/**
 * Change the current thread's cpumask and ask the framework to move it (USK_THREAD_OP_RESCHED).
 * Returns 0, -EPERM off a usk_thread, -ENOTSUP when the framework cannot reschedule.
 */
int usk_thread_set_cpumask(struct usk_cpuset *cpumask);
/** The first thread created (NULL once it is destroyed). */
struct usk_thread *usk_thread_get_app_thread(void);
/** Whether thread (NULL = the current one) is the app thread. */
bool usk_thread_is_app_thread(struct usk_thread *thread);

/**
 * Run one iteration: up to max_msgs messages (0 = USK_MSG_BATCH_SIZE; larger values are run in
 * batches of USK_MSG_BATCH_SIZE), every active poller once, expired timed pollers (earliest
 * deadline first, ties in the order they were scheduled). now = usk_get_ticks() or 0 to read
 * it; the call reads the ticks once more at its end for the busy/idle statistics, so a reactor
 * that passes usk_thread_get_last_tsc() of the thread it polled before reads the clock once per
 * thread. The thread is made current (usk_get_thread) for the call and restored afterwards.
 *
 * In interrupt mode this instead dispatches the ready handlers of the thread's fd group without
 * blocking (see usk_thread_process_interrupts). A reactor may sleep on
 * usk_thread_get_interrupt_fd() only after this returned 0: that call armed the wake-up, so a
 * message sent afterwards makes the fd readable.
 *
 * Returns > 0 if it did work, 0 if idle, < 0 on error. Must be called by the OS thread that
 * polls the thread (one at a time).
 */
int usk_thread_poll(struct usk_thread *thread, uint32_t max_msgs, uint64_t now);
/** Tick at which the next timed poller expires, 0 when none. */
uint64_t usk_thread_next_poller_expiration(struct usk_thread *thread);
/** 1 if the thread has a running (not paused) active poller, else 0. */
int usk_thread_has_active_pollers(struct usk_thread *thread);
/** Whether the thread has active or timed pollers (paused ones excluded). */
bool usk_thread_has_pollers(struct usk_thread *thread);
/** No message queued and no poller: a reactor may stop polling it. */
bool usk_thread_is_idle(struct usk_thread *thread);
/** Number of threads created and not destroyed. */
uint32_t usk_thread_get_count(void);
/** The usk_thread bound to the calling OS thread, or NULL. */
struct usk_thread *usk_get_thread(void);
/** Name given at creation. */
const char *usk_thread_get_name(const struct usk_thread *thread);
/** Unique id (1, 2, ...; never reused). */
uint64_t usk_thread_get_id(const struct usk_thread *thread);
/** Thread with that id, or NULL. Thread safe. */
struct usk_thread *usk_thread_get_by_id(uint64_t id);
/** Busy/idle ticks of the current thread. Returns 0 or -EINVAL off a usk_thread. */
int usk_thread_get_stats(struct usk_thread_stats *stats);
/** Tick at which the last usk_thread_poll of thread (NULL = current) ended. */
uint64_t usk_thread_get_last_tsc(struct usk_thread *thread);
/** Iterate all threads (only from the app thread, or when no thread is being created). */
struct usk_thread *usk_thread_get_first(void);
/** The thread after prev, or NULL; same rules as usk_thread_get_first. */
struct usk_thread *usk_thread_get_next(struct usk_thread *prev);

/**
 * Send a message: fn(ctx) runs on thread, after the messages sent to it before by the same
 * sender. Lock-free (MPSC ring), allocation-free (message objects come from the sender
 * thread's cache or the pool's per-thread cache). From any OS thread, usk_thread or not.
 * Returns 0 (fn will run exactly once), -ENOMEM if no message object, -EIO if thread is
 * exited or its ring is full (fn never runs).
 */
int usk_thread_send_msg(const struct usk_thread *thread, usk_msg_fn fn, void *ctx);
/**
 * Post fn(NULL) to thread through a single reserved slot, without the pool: usable from a
 * signal handler. Returns 0, or -EIO when a critical message is already pending.
 */
int usk_thread_send_critical_msg(struct usk_thread *thread, usk_msg_fn fn);
/**
 * Run fn(ctx) on every running thread in turn (each on that thread), then cpl(ctx) (may be
 * NULL) on the calling thread. Call from a usk thread. Returns 0: cpl runs exactly once
 * (unless a later hop cannot be sent, which is logged); -ENOMEM (no iterator or message) or
 * -EINVAL (not on a usk thread): neither fn nor cpl runs.
 */
int usk_for_each_thread(usk_msg_fn fn, void *ctx, usk_msg_fn cpl);

/**
 * Register a poller on the current thread. period_microseconds 0 = active (every poll),
 * else timed. Returns NULL on failure.
 */
struct usk_poller *usk_poller_register(usk_poller_fn fn, void *arg, uint64_t period_microseconds);
/**
 * usk_poller_register with a name (thread_get_pollers, the slow-poller warning).
 * USK_POLLER_REGISTER names it after fn.
 */
struct usk_poller *usk_poller_register_named(usk_poller_fn fn, void *arg,
					     uint64_t period_microseconds, const char *name);
#define USK_POLLER_REGISTER(fn, arg, period_us) usk_poller_register_named(fn, arg, period_us, #fn)
/** Unregister *ppoller (on its thread) and set it to NULL. Safe from inside the poller. */
void usk_poller_unregister(struct usk_poller **ppoller);
/**
 * Stop running poller until usk_poller_resume (on its thread; safe from inside the poller).
 * A resumed timed poller waits a full period again.
 */
void usk_poller_pause(struct usk_poller *poller);
/** Undo usk_poller_pause (no effect on a poller that is not paused). */
void usk_poller_resume(struct usk_poller *poller);
/** Name given at registration (the function name with USK_POLLER_REGISTER). */
const char *usk_poller_get_name(struct usk_poller *poller);
/**
 * Tell the poller how to switch between polled and interrupt mode: cb_fn is called with
 * interrupt_mode=true when the thread is in interrupt mode (at once if it already is); the
 * poller should then register an fd with usk_interrupt_register and do its work from that
 * handler. In interrupt mode an active poller without such a callback keeps its thread's fd
 * group permanently ready (the thread busy-polls; a notice is logged when it first runs).
 * Timed pollers need no callback: the thread's timerfd drives them.
 */
void usk_poller_register_interrupt(struct usk_poller *poller,
				   usk_poller_set_interrupt_mode_cb cb_fn, void *cb_arg);

/* ---- interrupt mode ---- */

/**
 * Enable interrupt mode until usk_thread_lib_fini; call before usk_thread_lib_init, from the
 * thread that will initialise it. Returns 0 or -EBUSY (the library is already initialised).
 */
int usk_interrupt_mode_enable(void);
/** Whether usk_interrupt_mode_enable() was called. */
bool usk_interrupt_mode_is_enabled(void);
/**
 * The epoll fd of thread's fd group (-1 when interrupt mode is off): readable when the thread
 * has something to do (a message, an expired timer, a registered fd). A reactor sleeps on it,
 * directly or nested in its own epoll set, after usk_thread_poll() returned 0, then polls again.
 */
int usk_thread_get_interrupt_fd(struct usk_thread *thread);
/**
 * Interrupt mode only: wait up to timeout_ms (0 = don't wait, -1 = forever) for the thread's fd
 * group, run the ready handlers (messages, expired timed pollers, registered fds, active pollers
 * that have no interrupt callback) and re-arm the timerfd for the next timed poller. Before
 * blocking it arms the message wake-up (a sender then writes the thread's eventfd; while the
 * thread is busy senders make no syscall). Returns the number of handlers that did work (0 =
 * idle), -ENOTSUP when interrupt mode is off, or another negative errno.
 */
int usk_thread_process_interrupts(struct usk_thread *thread, int timeout_ms);
/**
 * Register fd (EPOLLIN, level-triggered) on the current thread's fd group; fn(arg) runs on that
 * thread when it is readable. Interrupt mode only: returns NULL when it is off, when called off
 * a usk_thread or on an exiting thread. The handler may unregister itself or other handlers.
 */
struct usk_interrupt *usk_interrupt_register(int efd, usk_interrupt_fn fn, void *arg,
					     const char *name);
/** As above with explicit epoll events (EPOLLIN, EPOLLOUT...). */
struct usk_interrupt *usk_interrupt_register_for_events(int efd, uint32_t events,
							usk_interrupt_fn fn, void *arg,
							const char *name);
/** Change the epoll events of intr (on its thread). Returns 0 or -errno. */
int usk_interrupt_set_event_types(struct usk_interrupt *intr, uint32_t events);
/** Remove *pintr from its thread's fd group (on that thread) and set it to NULL. */
void usk_interrupt_unregister(struct usk_interrupt **pintr);

/* ---- io_device / io_channel ---- */

/**
 * Register io_device (any unique pointer). Each thread that calls usk_get_io_channel(io_device)
 * gets one channel with ctx_size bytes of context, initialised by create_cb on that thread
 * (destroy_cb undoes it there). name (may be NULL: the pointer is printed) shows in logs and
 * thread_get_io_channels. Call from a usk thread. Returns 0, -EINVAL (not on a usk thread),
 * -ENOMEM or -EEXIST (io_device already registered).
 */
int usk_io_device_register(void *io_device, usk_io_channel_create_cb create_cb,
			   usk_io_channel_destroy_cb destroy_cb, uint32_t ctx_size,
			   const char *name);
/**
 * Unregister; unregister_cb (may be NULL) runs on the calling thread once every channel is gone.
 */
void usk_io_device_unregister(void *io_device, usk_io_device_unregister_cb unregister_cb);
/** Get (or take one more reference on) this thread's channel to io_device. NULL on failure. */
struct usk_io_channel *usk_get_io_channel(void *io_device);
/** Drop a reference; the last one destroys the channel (deferred by one message). */
void usk_put_io_channel(struct usk_io_channel *ch);
/** The ctx_size bytes of device context, right after the channel (cache-line aligned). */
void *usk_io_channel_get_ctx(struct usk_io_channel *ch);
/** Inverse of usk_io_channel_get_ctx. */
struct usk_io_channel *usk_io_channel_from_ctx(void *ctx);
/** Thread that owns the channel. */
struct usk_thread *usk_io_channel_get_thread(struct usk_io_channel *ch);
/** io_device the channel belongs to. */
void *usk_io_channel_get_io_device(struct usk_io_channel *ch);

/**
 * Call fn on every channel of io_device, each on its own thread, one after the other; each fn
 * must end with usk_for_each_channel_continue(i, status). A non-zero status stops the walk.
 * Then cpl(i, status) (may be NULL) runs on the calling thread, which must be a usk thread.
 * Returns 0: cpl runs exactly once (status -ENOMEM if a later hop could not be sent), or
 * -ENOMEM (no iterator or message), -ENODEV (io_device not registered), -EINVAL (not on a
 * usk thread): neither fn nor cpl runs.
 */
int usk_for_each_channel(void *io_device, usk_channel_msg fn, void *ctx,
			 usk_channel_for_each_cpl cpl);
/** io_device being walked. */
void *usk_io_channel_iter_get_io_device(struct usk_io_channel_iter *i);
/** Channel of the current thread (in fn); NULL in cpl. */
struct usk_io_channel *usk_io_channel_iter_get_channel(struct usk_io_channel_iter *i);
/** ctx given to usk_for_each_channel. */
void *usk_io_channel_iter_get_ctx(struct usk_io_channel_iter *i);
/** End fn's work on this channel (on its thread): status 0 goes on, non-zero stops the walk. */
void usk_for_each_channel_continue(struct usk_io_channel_iter *i, int status);

/* ---- introspection for RPC (thread_get_stats, thread_get_pollers) ---- */

struct usk_poller_info {
	const char *name;
	const char *state; /* "waiting", "running", "paused" */
	uint64_t run_count;
	uint64_t busy_count;
	uint64_t period_ticks;
};
/** Visit every poller of thread (active, timed, paused); call on that thread. */
void usk_thread_foreach_poller(struct usk_thread *thread,
			       void (*fn)(const struct usk_poller_info *info, void *ctx),
			       void *ctx);
/** Stats of a given thread (busy/idle ticks). */
void usk_thread_get_stats_of(struct usk_thread *thread, struct usk_thread_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
