/* SPDX-License-Identifier: BSD-3-Clause */
/* Interrupt mode: per-thread epoll fd group with a message eventfd, a timerfd and user fds. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "thread_internal.h"

#define INTR_EVENTS_PER_WAIT 32

static void
fd_drain(int fd)
{
	uint64_t v;
	ssize_t rc = read(fd, &v, sizeof(v));

	(void)rc;
}

static void
fd_signal(int fd)
{
	uint64_t one = 1;
	ssize_t rc = write(fd, &one, sizeof(one));

	(void)rc;
}

static int
msg_intr_fn(void *arg)
{
	struct usk_thread *thread = arg;

	fd_drain(thread->msg_fd);
	/* Busy now: senders need not write the eventfd until we arm again. */
	atomic_store_explicit(&thread->may_sleep, false, memory_order_relaxed);
	return thread_msg_queue_run(thread, 0);
}

static int
timer_intr_fn(void *arg)
{
	struct usk_thread *thread = arg;
	int rc = 0;

	fd_drain(thread->timer_fd);
	/* The timer is spent: force thread_interrupt_rearm_timer to arm it again. */
	thread->timer_armed_tick = 0;
	thread_run_timed_pollers(thread, thread_ticks(), &rc);
	return rc;
}

static int
busy_intr_fn(void *arg)
{
	struct usk_thread *thread = arg;
	int rc = 0;

	thread_run_active_pollers(thread, true, &rc);
	return rc;
}

static struct usk_interrupt *
intr_add(struct usk_thread *thread, int efd, uint32_t events, usk_interrupt_fn fn, void *arg,
	 const char *name)
{
	struct usk_interrupt *intr;
	struct epoll_event ev = {.events = events};

	intr = calloc(1, sizeof(*intr));
	if (intr == NULL) {
		return NULL;
	}
	intr->thread = thread;
	intr->efd = efd;
	intr->events = events;
	intr->fn = fn;
	intr->arg = arg;
	snprintf(intr->name, sizeof(intr->name), "%s", name != NULL ? name : "");
	ev.data.ptr = intr;
	if (epoll_ctl(thread->epfd, EPOLL_CTL_ADD, efd, &ev) != 0) {
		int err = errno;

		USK_ERRLOG("cannot add fd %d (%s) to thread %s: %s\n", efd, intr->name,
			   thread->name, strerror(err));
		free(intr);
		errno = err;
		return NULL;
	}
	TAILQ_INSERT_TAIL(&thread->interrupts, intr, tailq);
	return intr;
}

int
thread_interrupt_init(struct usk_thread *thread)
{
	thread->epfd = epoll_create1(EPOLL_CLOEXEC);
	thread->msg_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	thread->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	thread->busy_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	thread->in_interrupt = true;
	if (thread->epfd < 0 || thread->msg_fd < 0 || thread->timer_fd < 0 || thread->busy_fd < 0) {
		goto err_fini;
	}
	thread->msg_intr = intr_add(thread, thread->msg_fd, EPOLLIN, msg_intr_fn, thread, "msg");
	if (thread->msg_intr == NULL) {
		goto err_fini;
	}
	thread->timer_intr =
		intr_add(thread, thread->timer_fd, EPOLLIN, timer_intr_fn, thread, "timer");
	if (thread->timer_intr == NULL) {
		goto err_fini;
	}
	thread->busy_intr =
		intr_add(thread, thread->busy_fd, EPOLLIN, busy_intr_fn, thread, "busy");
	if (thread->busy_intr == NULL) {
		goto err_fini;
	}
	return 0;

err_fini : {
	int err = errno != 0 ? errno : ENOMEM;

	thread_interrupt_fini(thread);
	return -err;
}
}

void
thread_interrupt_fini(struct usk_thread *thread)
{
	struct usk_interrupt *intr;

	while ((intr = TAILQ_FIRST(&thread->interrupts)) != NULL) {
		if (intr != thread->msg_intr && intr != thread->timer_intr &&
		    intr != thread->busy_intr) {
			USK_WARNLOG("interrupt %s (fd %d) still registered on thread %s\n",
				    intr->name, intr->efd, thread->name);
		}
		TAILQ_REMOVE(&thread->interrupts, intr, tailq);
		free(intr);
	}
	while ((intr = TAILQ_FIRST(&thread->dead_interrupts)) != NULL) {
		TAILQ_REMOVE(&thread->dead_interrupts, intr, tailq);
		free(intr);
	}
	thread->msg_intr = thread->timer_intr = thread->busy_intr = NULL;
	if (thread->epfd >= 0) {
		close(thread->epfd);
	}
	if (thread->msg_fd >= 0) {
		close(thread->msg_fd);
	}
	if (thread->timer_fd >= 0) {
		close(thread->timer_fd);
	}
	if (thread->busy_fd >= 0) {
		close(thread->busy_fd);
	}
	thread->epfd = thread->msg_fd = thread->timer_fd = thread->busy_fd = -1;
	thread->in_interrupt = false;
}

/*
 * Sender side of the wakeup protocol, called after the message is in the ring.
 * The ring enqueue publishes the message with a release store of the producer tail; the
 * seq_cst fence orders that store before the load of may_sleep. It pairs with the fence in
 * thread_interrupt_arm (store may_sleep; fence; load ring tail): either we see may_sleep set
 * and write the eventfd, or the receiver sees our message and does not sleep. The exchange
 * makes only one sender pay for the write() per sleep; a busy receiver costs no syscall.
 */
void
thread_interrupt_wake(const struct usk_thread *cthread)
{
	struct usk_thread *thread = (struct usk_thread *)cthread;

	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&thread->may_sleep, memory_order_relaxed) &&
	    atomic_exchange(&thread->may_sleep, false)) {
		fd_signal(thread->msg_fd);
	}
}

/*
 * Receiver side: announce that the thread may sleep, then look for messages that raced with
 * the announcement. Returns true if work is pending (the eventfd has been made readable so a
 * following epoll_wait returns at once).
 */
static bool
thread_interrupt_arm(struct usk_thread *thread)
{
	atomic_store_explicit(&thread->may_sleep, true, memory_order_relaxed);
	/* Pairs with the fence in thread_interrupt_wake. */
	atomic_thread_fence(memory_order_seq_cst);
	if (usk_ring_count(thread->messages) == 0 &&
	    atomic_load_explicit(&thread->critical_msg, memory_order_relaxed) == NULL) {
		return false;
	}
	if (atomic_exchange(&thread->may_sleep, false)) {
		fd_signal(thread->msg_fd);
	}
	return true;
}

void
thread_interrupt_rearm_timer(struct usk_thread *thread, uint64_t now)
{
	uint64_t next = thread->timed_count > 0 ? thread->timed[0]->next_run_tick : 0;
	struct itimerspec its = {0};

	if (next == thread->timer_armed_tick) {
		return;
	}
	if (next != 0) {
		uint64_t delta = next > now ? next - now : 1;
		/* Round up so the timer never fires before the poller is due. */
		unsigned __int128 ns =
			((unsigned __int128)delta * USK_SEC_TO_NSEC + g_ticks_hz - 1) / g_ticks_hz;

		if (ns == 0) {
			ns = 1;
		}
		its.it_value.tv_sec = (time_t)(ns / USK_SEC_TO_NSEC);
		its.it_value.tv_nsec = (long)(ns % USK_SEC_TO_NSEC);
	}
	if (timerfd_settime(thread->timer_fd, 0, &its, NULL) != 0) {
		USK_ERRLOG("timerfd_settime on thread %s: %s\n", thread->name, strerror(errno));
		return;
	}
	thread->timer_armed_tick = next;
}

void
thread_interrupt_busy_poller_add(struct usk_thread *thread)
{
	if (thread->busy_pollers++ == 0) {
		/* Left readable: the fd group never sleeps while such a poller exists. */
		fd_signal(thread->busy_fd);
	}
}

void
thread_interrupt_busy_poller_del(struct usk_thread *thread)
{
	assert(thread->busy_pollers > 0);
	if (--thread->busy_pollers == 0) {
		fd_drain(thread->busy_fd);
	}
}

int
thread_interrupt_poll(struct usk_thread *thread, int timeout_ms)
{
	struct epoll_event evs[INTR_EVENTS_PER_WAIT];
	struct usk_interrupt *intr;
	int n, count = 0;

	if (timeout_ms != 0 && thread_interrupt_arm(thread)) {
		timeout_ms = 0;
	}
	n = epoll_wait(thread->epfd, evs, INTR_EVENTS_PER_WAIT, timeout_ms);
	if (n < 0) {
		if (errno != EINTR) {
			return -errno;
		}
		n = 0;
	}
	thread->dispatching = true;
	for (int i = 0; i < n; i++) {
		intr = evs[i].data.ptr;
		if (intr->dead) {
			continue;
		}
		uint64_t t0 = slow_start();

		if (intr->fn(intr->arg) > 0) {
			count++;
		}
		slow_check(thread, "fd handler", intr->name, NULL, t0, &intr->slow_logged);
	}
	thread->dispatching = false;
	while ((intr = TAILQ_FIRST(&thread->dead_interrupts)) != NULL) {
		TAILQ_REMOVE(&thread->dead_interrupts, intr, tailq);
		free(intr);
	}
	thread_interrupt_rearm_timer(thread, thread_ticks());
	if (count == 0 && thread_interrupt_arm(thread)) {
		count = 1;
	}
	return count;
}

/* ---- public API ---- */

int
usk_thread_get_interrupt_fd(struct usk_thread *thread)
{
	return thread->in_interrupt ? thread->epfd : -1;
}

struct usk_interrupt *
usk_interrupt_register_for_events(int efd, uint32_t events, usk_interrupt_fn fn, void *arg,
				  const char *name)
{
	struct usk_thread *thread = usk_get_thread();

	if (thread == NULL) {
		USK_ERRLOG("interrupt registered from a non-usk thread\n");
		return NULL;
	}
	if (!thread->in_interrupt) {
		USK_ERRLOG("thread %s is not in interrupt mode\n", thread->name);
		return NULL;
	}
	if (thread->state != THREAD_STATE_RUNNING) {
		USK_ERRLOG("thread %s is exiting\n", thread->name);
		return NULL;
	}
	if (efd < 0 || fn == NULL) {
		USK_ERRLOG("invalid fd %d or NULL handler\n", efd);
		return NULL;
	}
	return intr_add(thread, efd, events, fn, arg, name);
}

struct usk_interrupt *
usk_interrupt_register(int efd, usk_interrupt_fn fn, void *arg, const char *name)
{
	return usk_interrupt_register_for_events(efd, EPOLLIN, fn, arg, name);
}

int
usk_interrupt_set_event_types(struct usk_interrupt *intr, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = intr};

	assert(usk_get_thread() == intr->thread);
	if (epoll_ctl(intr->thread->epfd, EPOLL_CTL_MOD, intr->efd, &ev) != 0) {
		return -errno;
	}
	intr->events = events;
	return 0;
}

void
usk_interrupt_unregister(struct usk_interrupt **pintr)
{
	struct usk_interrupt *intr = *pintr;
	struct usk_thread *thread;

	if (intr == NULL) {
		return;
	}
	*pintr = NULL;
	thread = intr->thread;
	if (usk_get_thread() != thread) {
		USK_ERRLOG("interrupt %s unregistered from a thread that does not own it\n",
			   intr->name);
		assert(false);
		return;
	}
	epoll_ctl(thread->epfd, EPOLL_CTL_DEL, intr->efd, NULL);
	TAILQ_REMOVE(&thread->interrupts, intr, tailq);
	if (thread->dispatching) {
		/* Its event may still be in the array being dispatched. */
		intr->dead = true;
		TAILQ_INSERT_TAIL(&thread->dead_interrupts, intr, tailq);
	} else {
		free(intr);
	}
}
