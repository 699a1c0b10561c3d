/* SPDX-License-Identifier: BSD-3-Clause */
/* usk_thread: lifecycle, message passing, pollers and the poll loop. */

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usk/trace.h"
#include "thread_internal.h"

pthread_mutex_t g_devlist_mutex = PTHREAD_MUTEX_INITIALIZER;
bool g_interrupt_mode;
uint64_t g_ticks_hz;
usk_thread_get_ticks_fn g_get_ticks_fn;
uint64_t g_ticks_real_per_us = 1;

/* g_threads, g_thread_count and g_app_thread are protected by g_devlist_mutex. */
static TAILQ_HEAD(, usk_thread) g_threads = TAILQ_HEAD_INITIALIZER(g_threads);
static uint32_t g_thread_count;
static uint64_t g_thread_id = 1;
static struct usk_thread *g_app_thread;
static struct usk_mempool *g_msg_mempool;
static usk_thread_op_fn g_thread_op_fn;
static usk_thread_op_supported_fn g_thread_op_supported_fn;
static size_t g_ctx_sz;

static __thread struct usk_thread *tls_thread;

static void poller_free(struct usk_thread *thread, struct usk_poller *poller);

/* ---- library ---- */

void
usk_thread_lib_opts_init(struct usk_thread_lib_opts *opts, size_t opts_size)
{
	struct usk_thread_lib_opts defaults = {
		.opts_size = USK_MIN(opts_size, sizeof(defaults)),
	};

	if (opts == NULL || opts_size == 0) {
		return;
	}
	memset(opts, 0, opts_size);
	memcpy(opts, &defaults, USK_MIN(opts_size, sizeof(defaults)));
}

int
usk_thread_lib_init_opts(const struct usk_thread_lib_opts *user_opts)
{
	struct usk_thread_lib_opts opts;

	usk_thread_lib_opts_init(&opts, sizeof(opts));
	if (user_opts != NULL) {
		if (user_opts->opts_size == 0 || user_opts->opts_size > sizeof(opts)) {
			USK_ERRLOG("thread: opts_size %zu is invalid\n", user_opts->opts_size);
			return -EINVAL;
		}
		memcpy(&opts, user_opts, user_opts->opts_size);
	}
	if (g_msg_mempool != NULL) {
		USK_ERRLOG("thread library already initialised\n");
		return -EALREADY;
	}
	if ((opts.thread_op_fn == NULL) != (opts.is_supported == NULL)) {
		USK_ERRLOG("thread_op_fn and is_supported must be both set or both NULL\n");
		return -EINVAL;
	}
	if (opts.msg_mempool_size == 0) {
		opts.msg_mempool_size = USK_DEFAULT_MSG_MEMPOOL_SIZE;
	}
	g_msg_mempool = usk_mempool_create("usk_msg_pool", opts.msg_mempool_size,
					   sizeof(struct usk_msg), USK_MEMPOOL_DEFAULT_CACHE_SIZE,
					   USK_ENV_SOCKET_ID_ANY);
	if (g_msg_mempool == NULL) {
		USK_ERRLOG("cannot create the message pool (%zu entries)\n", opts.msg_mempool_size);
		return -ENOMEM;
	}
	g_thread_op_fn = opts.thread_op_fn;
	g_thread_op_supported_fn = opts.is_supported;
	g_ctx_sz = opts.ctx_sz;
	g_get_ticks_fn = opts.get_ticks;
	g_ticks_hz = opts.ticks_hz != 0 ? opts.ticks_hz : usk_get_ticks_hz();
	if (g_ticks_hz == 0) {
		g_ticks_hz = 1;
	}
	g_ticks_real_per_us = USK_MAX(usk_get_ticks_hz() / USK_SEC_TO_USEC, (uint64_t)1);
	return 0;
}

void
thread_slow_report(struct usk_thread *thread, const char *kind, const char *name, const void *fn,
		   uint64_t ticks, uint64_t *logged)
{
	*logged = ticks;
	if (name != NULL) {
		USK_WARNLOG("slow %s '%s' on thread %s: %" PRIu64
			    " us (limit %d us); a reactor must "
			    "not block\n",
			    kind, name, thread->name, ticks / g_ticks_real_per_us,
			    USK_SLOW_POLL_WARN_US);
	} else {
		/* Binary + offset, so that addr2line -f -e <binary> <offset> names it under PIE. */
		Dl_info info = {0};
		const char *obj = "?";
		uintptr_t off = (uintptr_t)fn;

		if (dladdr(fn, &info) != 0 && info.dli_fname != NULL) {
			obj = strrchr(info.dli_fname, '/') ? strrchr(info.dli_fname, '/') + 1 :
							     info.dli_fname;
			off = (uintptr_t)fn - (uintptr_t)info.dli_fbase;
		}
		USK_WARNLOG("slow %s %s+0x%" PRIxPTR " (%s) on thread %s: %" PRIu64 " us (limit %d "
			    "us); a reactor must not block\n",
			    kind, obj, off, info.dli_sname != NULL ? info.dli_sname : "static",
			    thread->name, ticks / g_ticks_real_per_us, USK_SLOW_POLL_WARN_US);
	}
}

int
usk_thread_lib_init_ext(usk_thread_op_fn thread_op_fn, usk_thread_op_supported_fn is_supported,
			size_t ctx_sz, size_t msg_mempool_size)
{
	struct usk_thread_lib_opts opts;

	usk_thread_lib_opts_init(&opts, sizeof(opts));
	opts.thread_op_fn = thread_op_fn;
	opts.is_supported = is_supported;
	opts.ctx_sz = ctx_sz;
	opts.msg_mempool_size = msg_mempool_size;
	return usk_thread_lib_init_opts(&opts);
}

int
usk_thread_lib_init(void)
{
	return usk_thread_lib_init_opts(NULL);
}

void
usk_thread_lib_fini(void)
{
	io_device_lib_fini();
	if (g_thread_count != 0) {
		USK_WARNLOG("%" PRIu32 " threads still exist at library fini\n", g_thread_count);
	}
	if (g_msg_mempool != NULL) {
		usk_mempool_free(g_msg_mempool);
		g_msg_mempool = NULL;
	}
	g_thread_op_fn = NULL;
	g_thread_op_supported_fn = NULL;
	g_ctx_sz = 0;
	g_get_ticks_fn = NULL;
	g_interrupt_mode = false;
}

int
usk_interrupt_mode_enable(void)
{
	if (g_msg_mempool != NULL) {
		USK_ERRLOG("interrupt mode must be enabled before usk_thread_lib_init\n");
		return -EBUSY;
	}
	g_interrupt_mode = true;
	return 0;
}

bool
usk_interrupt_mode_is_enabled(void)
{
	return g_interrupt_mode;
}

/* ---- threads ---- */

static void
default_cpumask(struct usk_cpuset *mask)
{
	uint32_t core;

	usk_cpuset_zero(mask);
	USK_ENV_FOREACH_CORE(core) {
		usk_cpuset_set_cpu(mask, core, true);
	}
	if (usk_cpuset_count(mask) == 0) {
		/* Environment not initialised (tools, tests): any core. */
		usk_cpuset_negate(mask);
	}
}

static void
thread_free_msgs(struct usk_thread *thread)
{
	struct usk_msg *msg;
	void *msgs[64];
	size_t n;

	while ((msg = SLIST_FIRST(&thread->msg_cache)) != NULL) {
		SLIST_REMOVE_HEAD(&thread->msg_cache, link);
		usk_mempool_put(g_msg_mempool, msg);
	}
	thread->msg_cache_count = 0;
	if (thread->messages == NULL) {
		return;
	}
	while ((n = usk_ring_dequeue(thread->messages, msgs, USK_COUNTOF(msgs))) > 0) {
		usk_mempool_put_bulk(g_msg_mempool, msgs, n);
	}
}

static void
thread_release(struct usk_thread *thread)
{
	thread_free_msgs(thread);
	if (thread->messages != NULL) {
		usk_ring_free(thread->messages);
	}
	if (thread->in_interrupt) {
		thread_interrupt_fini(thread);
	}
	free(thread);
}

struct usk_thread *
usk_thread_create(const char *name, const struct usk_cpuset *cpumask)
{
	struct usk_thread *thread;
	void *cache[USK_MSG_CACHE_SIZE];
	void *mem = NULL;
	int rc;

	if (g_msg_mempool == NULL) {
		USK_ERRLOG("thread library not initialised\n");
		return NULL;
	}
	if (posix_memalign(&mem, USK_CACHE_LINE_SIZE, sizeof(*thread) + g_ctx_sz) != 0) {
		USK_ERRLOG("cannot allocate thread\n");
		return NULL;
	}
	thread = mem;
	memset(thread, 0, sizeof(*thread) + g_ctx_sz);
	thread->epfd = thread->msg_fd = thread->timer_fd = thread->busy_fd = -1;
	TAILQ_INIT(&thread->active_pollers);
	TAILQ_INIT(&thread->paused_pollers);
	TAILQ_INIT(&thread->io_channels);
	TAILQ_INIT(&thread->interrupts);
	TAILQ_INIT(&thread->dead_interrupts);
	SLIST_INIT(&thread->msg_cache);
	if (cpumask != NULL) {
		usk_cpuset_copy(&thread->cpumask, cpumask);
	} else {
		default_cpumask(&thread->cpumask);
	}
	if (name != NULL) {
		snprintf(thread->name, sizeof(thread->name), "%s", name);
	} else {
		snprintf(thread->name, sizeof(thread->name), "%p", (void *)thread);
	}

	thread->messages =
		usk_ring_create(USK_RING_TYPE_MP_SC, USK_MSG_RING_SIZE, USK_ENV_SOCKET_ID_ANY);
	if (thread->messages == NULL) {
		USK_ERRLOG("cannot allocate the message ring of thread %s\n", thread->name);
		free(thread);
		return NULL;
	}
	/* Fill the private message cache; not fatal when the pool is short. */
	if (usk_mempool_get_bulk(g_msg_mempool, cache, USK_MSG_CACHE_SIZE) == 0) {
		for (uint32_t i = 0; i < USK_MSG_CACHE_SIZE; i++) {
			SLIST_INSERT_HEAD(&thread->msg_cache, (struct usk_msg *)cache[i], link);
		}
		thread->msg_cache_count = USK_MSG_CACHE_SIZE;
	}
	thread->tsc_last = thread_ticks();
	thread->state = THREAD_STATE_RUNNING;

	if (g_interrupt_mode) {
		rc = thread_interrupt_init(thread);
		if (rc != 0) {
			USK_ERRLOG("cannot set up interrupt mode for thread %s: %s\n", thread->name,
				   strerror(-rc));
			thread_release(thread);
			return NULL;
		}
	}

	pthread_mutex_lock(&g_devlist_mutex);
	thread->id = g_thread_id++;
	TAILQ_INSERT_TAIL(&g_threads, thread, tailq);
	g_thread_count++;
	if (g_app_thread == NULL) {
		g_app_thread = thread;
	}
	pthread_mutex_unlock(&g_devlist_mutex);

	if (g_thread_op_fn != NULL) {
		rc = g_thread_op_fn(thread, USK_THREAD_OP_NEW);
		if (rc != 0) {
			USK_ERRLOG("framework refused thread %s: %s\n", thread->name,
				   strerror(-rc));
			pthread_mutex_lock(&g_devlist_mutex);
			TAILQ_REMOVE(&g_threads, thread, tailq);
			g_thread_count--;
			if (g_app_thread == thread) {
				g_app_thread = NULL;
			}
			pthread_mutex_unlock(&g_devlist_mutex);
			thread_release(thread);
			return NULL;
		}
	}
	return thread;
}

void
usk_set_thread(struct usk_thread *thread)
{
	tls_thread = thread;
}

struct usk_thread *
usk_get_thread(void)
{
	return tls_thread;
}

int
usk_thread_exit(struct usk_thread *thread)
{
	assert(thread != NULL);
	if (tls_thread != thread) {
		USK_ERRLOG("thread %s must exit on itself\n", thread->name);
		assert(false);
	}
	if (thread->state != THREAD_STATE_RUNNING) {
		USK_INFOLOG(thread, "thread %s is already exiting\n", thread->name);
		return 0;
	}
	thread->exit_timeout_tsc = thread_ticks() + g_ticks_hz * USK_THREAD_EXIT_TIMEOUT_SEC;
	thread->state = THREAD_STATE_EXITING;
	if (thread->in_interrupt) {
		/* Make sure a sleeping reactor polls the thread so it can finish exiting. */
		uint64_t one = 1;
		ssize_t rc = write(thread->msg_fd, &one, sizeof(one));
		(void)rc;
	}
	return 0;
}

USK_LOG_REGISTER_COMPONENT(thread)

/* Returns true once the thread may be marked exited (see usk_thread_exit). */
bool
thread_exit_check(struct usk_thread *thread, uint64_t now)
{
	struct usk_poller *poller;

	if (now >= thread->exit_timeout_tsc) {
		USK_ERRLOG("thread %s got timeout, and move it to the exited state forcefully\n",
			   thread->name);
		goto exited;
	}
	TAILQ_FOREACH(poller, &thread->active_pollers, tailq) {
		if (poller->state != POLLER_STATE_UNREGISTERED) {
			USK_INFOLOG(thread, "thread %s still has active poller %s\n", thread->name,
				    poller->name);
			return false;
		}
	}
	if (thread->timed_count > 0) {
		USK_INFOLOG(thread, "thread %s still has timed poller %s\n", thread->name,
			    thread->timed[0]->name);
		return false;
	}
	if (!TAILQ_EMPTY(&thread->paused_pollers)) {
		USK_INFOLOG(thread, "thread %s still has paused poller %s\n", thread->name,
			    TAILQ_FIRST(&thread->paused_pollers)->name);
		return false;
	}
	if (!TAILQ_EMPTY(&thread->io_channels)) {
		USK_INFOLOG(thread, "thread %s still has io channels\n", thread->name);
		return false;
	}
	if (thread->for_each_count > 0) {
		USK_INFOLOG(thread, "thread %s still has for_each_channel calls in flight\n",
			    thread->name);
		return false;
	}
	if (usk_ring_count(thread->messages) > 0 ||
	    atomic_load_explicit(&thread->critical_msg, memory_order_relaxed) != NULL) {
		USK_INFOLOG(thread, "thread %s still has messages\n", thread->name);
		return false;
	}
exited:
	thread->state = THREAD_STATE_EXITED;
	return true;
}

bool
usk_thread_is_exited(struct usk_thread *thread)
{
	return thread->state == THREAD_STATE_EXITED;
}

bool
usk_thread_is_running(struct usk_thread *thread)
{
	return thread->state == THREAD_STATE_RUNNING;
}

void
usk_thread_destroy(struct usk_thread *thread)
{
	struct usk_poller *poller;
	struct usk_io_channel *ch;

	if (thread == NULL) {
		return;
	}
	if (thread->state != THREAD_STATE_EXITED) {
		USK_ERRLOG("thread %s destroyed before it exited\n", thread->name);
		assert(false);
	}
	while ((poller = TAILQ_FIRST(&thread->active_pollers)) != NULL) {
		if (poller->state != POLLER_STATE_UNREGISTERED) {
			USK_WARNLOG("poller %s still registered at thread %s exit\n", poller->name,
				    thread->name);
		}
		TAILQ_REMOVE(&thread->active_pollers, poller, tailq);
		poller_free(thread, poller);
	}
	while (thread->timed_count > 0) {
		poller = thread->timed[--thread->timed_count];
		USK_WARNLOG("timed poller %s still registered at thread %s exit\n", poller->name,
			    thread->name);
		poller_free(thread, poller);
	}
	free(thread->timed);
	while ((poller = TAILQ_FIRST(&thread->paused_pollers)) != NULL) {
		USK_WARNLOG("paused poller %s still registered at thread %s exit\n", poller->name,
			    thread->name);
		TAILQ_REMOVE(&thread->paused_pollers, poller, tailq);
		poller_free(thread, poller);
	}
	TAILQ_FOREACH(ch, &thread->io_channels, tailq) {
		USK_ERRLOG("thread %s still has a channel for io_device %p\n", thread->name,
			   usk_io_channel_get_io_device(ch));
	}

	pthread_mutex_lock(&g_devlist_mutex);
	TAILQ_REMOVE(&g_threads, thread, tailq);
	g_thread_count--;
	if (g_app_thread == thread) {
		g_app_thread = NULL;
	}
	pthread_mutex_unlock(&g_devlist_mutex);
	if (tls_thread == thread) {
		tls_thread = NULL;
	}
	thread_release(thread);
}

void *
usk_thread_get_ctx(struct usk_thread *thread)
{
	return g_ctx_sz > 0 ? thread->ctx : NULL;
}

struct usk_thread *
usk_thread_get_from_ctx(void *ctx)
{
	if (ctx == NULL) {
		return NULL;
	}
	return USK_CONTAINEROF(ctx, struct usk_thread, ctx);
}

const struct usk_cpuset *
usk_thread_get_cpumask(struct usk_thread *thread)
{
	return &thread->cpumask;
}

int
usk_thread_set_cpumask(struct usk_cpuset *cpumask)
{
	struct usk_thread *thread = tls_thread;

	if (thread == NULL) {
		USK_ERRLOG("called from a non-usk thread\n");
		return -EPERM;
	}
	if (g_thread_op_supported_fn == NULL || !g_thread_op_supported_fn(USK_THREAD_OP_RESCHED)) {
		USK_ERRLOG("the framework does not support rescheduling threads\n");
		return -ENOTSUP;
	}
	usk_cpuset_copy(&thread->cpumask, cpumask);
	return g_thread_op_fn(thread, USK_THREAD_OP_RESCHED);
}

struct usk_thread *
usk_thread_get_app_thread(void)
{
	return g_app_thread;
}

bool
usk_thread_is_app_thread(struct usk_thread *thread)
{
	if (thread == NULL) {
		thread = tls_thread;
	}
	return thread != NULL && thread == g_app_thread;
}

uint32_t
usk_thread_get_count(void)
{
	return g_thread_count;
}

const char *
usk_thread_get_name(const struct usk_thread *thread)
{
	return thread->name;
}

uint64_t
usk_thread_get_id(const struct usk_thread *thread)
{
	return thread->id;
}

struct usk_thread *
usk_thread_get_by_id(uint64_t id)
{
	struct usk_thread *thread;

	pthread_mutex_lock(&g_devlist_mutex);
	TAILQ_FOREACH(thread, &g_threads, tailq) {
		if (thread->id == id) {
			break;
		}
	}
	pthread_mutex_unlock(&g_devlist_mutex);
	return thread;
}

struct usk_thread *
thread_list_first_locked(void)
{
	return TAILQ_FIRST(&g_threads);
}

struct usk_thread *
thread_list_next_locked(struct usk_thread *t)
{
	return TAILQ_NEXT(t, tailq);
}

struct usk_thread *
usk_thread_get_first(void)
{
	return TAILQ_FIRST(&g_threads);
}

struct usk_thread *
usk_thread_get_next(struct usk_thread *prev)
{
	return prev != NULL ? TAILQ_NEXT(prev, tailq) : NULL;
}

int
usk_thread_get_stats(struct usk_thread_stats *stats)
{
	if (tls_thread == NULL) {
		USK_ERRLOG("called from a non-usk thread\n");
		return -EINVAL;
	}
	if (stats == NULL) {
		return -EINVAL;
	}
	*stats = tls_thread->stats;
	return 0;
}

void
usk_thread_get_stats_of(struct usk_thread *thread, struct usk_thread_stats *stats)
{
	*stats = thread->stats;
}

uint64_t
usk_thread_get_last_tsc(struct usk_thread *thread)
{
	if (thread == NULL) {
		thread = tls_thread;
	}
	return thread != NULL ? thread->tsc_last : 0;
}

/* ---- messages ---- */

int
usk_thread_send_msg(const struct usk_thread *thread, usk_msg_fn fn, void *ctx)
{
	struct usk_thread *local = tls_thread;
	struct usk_msg *msg;

	assert(thread != NULL);
	if (usk_unlikely(thread->state == THREAD_STATE_EXITED)) {
		USK_ERRLOG("thread %s is exited\n", thread->name);
		return -EIO;
	}
	if (local != NULL && local->msg_cache_count > 0) {
		msg = SLIST_FIRST(&local->msg_cache);
		SLIST_REMOVE_HEAD(&local->msg_cache, link);
		local->msg_cache_count--;
	} else {
		msg = usk_mempool_get(g_msg_mempool);
		if (usk_unlikely(msg == NULL)) {
			USK_ERRLOG("message pool is empty\n");
			return -ENOMEM;
		}
	}
	msg->fn = fn;
	msg->arg = ctx;
	if (usk_unlikely(usk_ring_enqueue(thread->messages, (void **)&msg, 1, NULL) != 1)) {
		USK_ERRLOG("message ring of thread %s is full\n", thread->name);
		usk_mempool_put(g_msg_mempool, msg);
		return -EIO;
	}
	if (thread->in_interrupt) {
		thread_interrupt_wake(thread);
	}
	return 0;
}

int
usk_thread_send_critical_msg(struct usk_thread *thread, usk_msg_fn fn)
{
	usk_msg_fn expected = NULL;

	if (!atomic_compare_exchange_strong(&thread->critical_msg, &expected, fn)) {
		return -EIO;
	}
	if (thread->in_interrupt) {
		/* write() is async-signal-safe; no flag games here, this is rare. */
		uint64_t one = 1;
		ssize_t rc = write(thread->msg_fd, &one, sizeof(one));
		(void)rc;
	}
	return 0;
}

static inline void
msg_recycle(struct usk_thread *thread, struct usk_msg *msg)
{
	if (thread->msg_cache_count < USK_MSG_CACHE_SIZE) {
		SLIST_INSERT_HEAD(&thread->msg_cache, msg, link);
		thread->msg_cache_count++;
	} else {
		usk_mempool_put(g_msg_mempool, msg);
	}
}

/* Run up to max_msgs messages (0 = USK_MSG_BATCH_SIZE) and the critical message. */
int
thread_msg_queue_run(struct usk_thread *thread, uint32_t max_msgs)
{
	void *msgs[USK_MSG_BATCH_SIZE];
	usk_msg_fn critical;
	uint32_t done = 0;
	size_t n;

	critical = atomic_load_explicit(&thread->critical_msg, memory_order_relaxed);
	if (usk_unlikely(critical != NULL)) {
		critical = atomic_exchange(&thread->critical_msg, NULL);
		if (critical != NULL) {
			critical(NULL);
			done++;
		}
	}
	if (max_msgs == 0) {
		max_msgs = USK_MSG_BATCH_SIZE;
	}
	while (max_msgs > 0) {
		n = usk_ring_dequeue(thread->messages, msgs, USK_MIN(max_msgs, USK_MSG_BATCH_SIZE));
		if (n == 0) {
			break;
		}
		/* The messages were written on other cores: start every miss at once. */
		for (size_t i = 0; i < n; i++) {
			__builtin_prefetch(msgs[i]);
		}
		for (size_t i = 0; i < n; i++) {
			struct usk_msg *msg = msgs[i];
			uint64_t t0 = slow_start();

			msg->fn(msg->arg);
			/* A message has no name: reported by its function's address. */
			slow_check(thread, "message", NULL, (const void *)msg->fn, t0,
				   &thread->slow_msg_logged);
			msg_recycle(thread, msg);
		}
		done += n;
		max_msgs -= n;
		if (n < USK_MSG_BATCH_SIZE) {
			break;
		}
	}
	return (int)done;
}

/* ---- timed poller heap: min-heap on (next_run_tick, seq), heap_idx kept in the poller ---- */

static inline bool
timed_before(const struct usk_poller *a, const struct usk_poller *b)
{
	return a->next_run_tick < b->next_run_tick ||
	       (a->next_run_tick == b->next_run_tick && a->seq < b->seq);
}

static inline void
heap_set(struct usk_thread *thread, uint32_t idx, struct usk_poller *p)
{
	thread->timed[idx] = p;
	p->heap_idx = idx;
}

static void
heap_sift_up(struct usk_thread *thread, uint32_t idx)
{
	struct usk_poller *p = thread->timed[idx];

	while (idx > 0) {
		uint32_t parent = (idx - 1) / 2;

		if (!timed_before(p, thread->timed[parent])) {
			break;
		}
		heap_set(thread, idx, thread->timed[parent]);
		idx = parent;
	}
	heap_set(thread, idx, p);
}

static void
heap_sift_down(struct usk_thread *thread, uint32_t idx)
{
	struct usk_poller *p = thread->timed[idx];
	uint32_t n = thread->timed_count;

	for (;;) {
		uint32_t child = 2 * idx + 1;

		if (child >= n) {
			break;
		}
		if (child + 1 < n && timed_before(thread->timed[child + 1], thread->timed[child])) {
			child++;
		}
		if (!timed_before(thread->timed[child], p)) {
			break;
		}
		heap_set(thread, idx, thread->timed[child]);
		idx = child;
	}
	heap_set(thread, idx, p);
}

static int
heap_push(struct usk_thread *thread, struct usk_poller *p)
{
	if (thread->timed_count == thread->timed_cap) {
		uint32_t cap = thread->timed_cap ? thread->timed_cap * 2 : 16;
		struct usk_poller **timed = realloc(thread->timed, cap * sizeof(*timed));

		if (timed == NULL) {
			return -ENOMEM;
		}
		thread->timed = timed;
		thread->timed_cap = cap;
	}
	p->seq = thread->timed_seq++;
	thread->timed[thread->timed_count] = p;
	p->heap_idx = thread->timed_count++;
	heap_sift_up(thread, p->heap_idx);
	return 0;
}

static void
heap_remove(struct usk_thread *thread, struct usk_poller *p)
{
	uint32_t idx = p->heap_idx;
	struct usk_poller *last;

	assert(idx < thread->timed_count && thread->timed[idx] == p);
	p->heap_idx = UINT32_MAX;
	last = thread->timed[--thread->timed_count];
	if (last == p) {
		return;
	}
	heap_set(thread, idx, last);
	if (idx > 0 && timed_before(last, thread->timed[(idx - 1) / 2])) {
		heap_sift_up(thread, idx);
	} else {
		heap_sift_down(thread, idx);
	}
}

/* ---- pollers ---- */

static void
poller_busy_account(struct usk_thread *thread, struct usk_poller *poller, bool on)
{
	if (!thread->in_interrupt || poller->busy_counted == on) {
		return;
	}
	poller->busy_counted = on;
	if (on) {
		thread_interrupt_busy_poller_add(thread);
	} else {
		thread_interrupt_busy_poller_del(thread);
	}
}

static void
poller_free(struct usk_thread *thread, struct usk_poller *poller)
{
	poller_busy_account(thread, poller, false);
	free(poller);
}

static uint64_t
us_to_ticks(uint64_t us)
{
	unsigned __int128 t = (unsigned __int128)us * g_ticks_hz / USK_SEC_TO_USEC;

	if (t == 0) {
		t = 1;
	}
	return t > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)t;
}

static int
poller_schedule_timed(struct usk_thread *thread, struct usk_poller *poller, uint64_t now)
{
	int rc;

	poller->next_run_tick = now + poller->period_ticks;
	rc = heap_push(thread, poller);
	if (rc == 0 && thread->in_interrupt && !thread->dispatching) {
		thread_interrupt_rearm_timer(thread, now);
	}
	return rc;
}

struct usk_poller *
usk_poller_register_named(usk_poller_fn fn, void *arg, uint64_t period_microseconds,
			  const char *name)
{
	struct usk_thread *thread = tls_thread;
	struct usk_poller *poller;

	if (thread == NULL) {
		USK_ERRLOG("poller registered from a non-usk thread\n");
		return NULL;
	}
	if (usk_unlikely(thread->state == THREAD_STATE_EXITED)) {
		USK_ERRLOG("thread %s is exited\n", thread->name);
		return NULL;
	}
	if (fn == NULL) {
		USK_ERRLOG("poller function is NULL\n");
		return NULL;
	}
	poller = calloc(1, sizeof(*poller));
	if (poller == NULL) {
		USK_ERRLOG("cannot allocate poller\n");
		return NULL;
	}
	poller->fn = fn;
	poller->arg = arg;
	poller->thread = thread;
	poller->heap_idx = UINT32_MAX;
	poller->state = POLLER_STATE_WAITING;
	if (name != NULL) {
		snprintf(poller->name, sizeof(poller->name), "%s", name);
	} else {
		snprintf(poller->name, sizeof(poller->name), "%p", (void *)(uintptr_t)fn);
	}
	if (period_microseconds == 0) {
		TAILQ_INSERT_TAIL(&thread->active_pollers, poller, tailq);
		poller_busy_account(thread, poller, true);
	} else {
		poller->period_ticks = us_to_ticks(period_microseconds);
		if (poller_schedule_timed(thread, poller, thread_ticks()) != 0) {
			USK_ERRLOG("cannot grow the timed poller heap\n");
			free(poller);
			return NULL;
		}
	}
	return poller;
}

struct usk_poller *
usk_poller_register(usk_poller_fn fn, void *arg, uint64_t period_microseconds)
{
	return usk_poller_register_named(fn, arg, period_microseconds, NULL);
}

void
usk_poller_unregister(struct usk_poller **ppoller)
{
	struct usk_poller *poller = *ppoller;
	struct usk_thread *thread;

	if (poller == NULL) {
		return;
	}
	*ppoller = NULL;
	thread = poller->thread;
	if (tls_thread != thread) {
		USK_ERRLOG("poller %s unregistered from a thread that does not own it\n",
			   poller->name);
		assert(false);
		return;
	}
	if (poller->state == POLLER_STATE_UNREGISTERED) {
		return;
	}
	poller_busy_account(thread, poller, false);
	if (poller->running) {
		/* The poll loop frees it when the callback returns. */
		poller->state = POLLER_STATE_UNREGISTERED;
		return;
	}
	switch (poller->state) {
	case POLLER_STATE_PAUSED:
		TAILQ_REMOVE(&thread->paused_pollers, poller, tailq);
		free(poller);
		break;
	case POLLER_STATE_WAITING:
	case POLLER_STATE_PAUSING:
		if (poller->period_ticks == 0) {
			if (thread->active_iter) {
				poller->state = POLLER_STATE_UNREGISTERED;
			} else {
				TAILQ_REMOVE(&thread->active_pollers, poller, tailq);
				free(poller);
			}
		} else {
			heap_remove(thread, poller);
			free(poller);
		}
		break;
	case POLLER_STATE_UNREGISTERED:
		break;
	}
}

void
usk_poller_pause(struct usk_poller *poller)
{
	struct usk_thread *thread = poller->thread;

	assert(tls_thread == thread);
	if (poller->state != POLLER_STATE_WAITING) {
		return;
	}
	poller_busy_account(thread, poller, false);
	if (poller->running || (poller->period_ticks == 0 && thread->active_iter)) {
		poller->state = POLLER_STATE_PAUSING;
		return;
	}
	if (poller->period_ticks == 0) {
		TAILQ_REMOVE(&thread->active_pollers, poller, tailq);
	} else {
		heap_remove(thread, poller);
	}
	TAILQ_INSERT_TAIL(&thread->paused_pollers, poller, tailq);
	poller->state = POLLER_STATE_PAUSED;
}

void
usk_poller_resume(struct usk_poller *poller)
{
	struct usk_thread *thread = poller->thread;

	assert(tls_thread == thread);
	if (poller->state == POLLER_STATE_PAUSING) {
		/* Still where it was (active list, or popped while running). */
		poller->state = POLLER_STATE_WAITING;
	} else if (poller->state == POLLER_STATE_PAUSED) {
		TAILQ_REMOVE(&thread->paused_pollers, poller, tailq);
		poller->state = POLLER_STATE_WAITING;
		if (poller->period_ticks == 0) {
			TAILQ_INSERT_TAIL(&thread->active_pollers, poller, tailq);
		} else if (poller_schedule_timed(thread, poller, thread_ticks()) != 0) {
			USK_ERRLOG("cannot grow the timed poller heap; poller %s stays paused\n",
				   poller->name);
			TAILQ_INSERT_TAIL(&thread->paused_pollers, poller, tailq);
			poller->state = POLLER_STATE_PAUSED;
			return;
		}
	} else {
		return;
	}
	if (poller->period_ticks == 0 && poller->set_intr_cb_fn == NULL) {
		poller_busy_account(thread, poller, true);
	}
}

const char *
usk_poller_get_name(struct usk_poller *poller)
{
	return poller->name;
}

void
usk_poller_register_interrupt(struct usk_poller *poller, usk_poller_set_interrupt_mode_cb cb_fn,
			      void *cb_arg)
{
	struct usk_thread *thread = poller->thread;

	assert(tls_thread == thread);
	poller->set_intr_cb_fn = cb_fn;
	poller->set_intr_cb_arg = cb_arg;
	if (cb_fn != NULL) {
		poller_busy_account(thread, poller, false);
		if (thread->in_interrupt) {
			cb_fn(poller, cb_arg, true);
		}
	} else if (poller->period_ticks == 0 && poller->state == POLLER_STATE_WAITING) {
		poller_busy_account(thread, poller, true);
	}
}

/* Called after a poller's callback returned: finish a deferred unregister or pause. */
static inline bool
poller_after_run(struct usk_thread *thread, struct usk_poller *poller, bool in_list)
{
	poller->running = false;
	if (usk_likely(poller->state == POLLER_STATE_WAITING)) {
		return true;
	}
	if (poller->state == POLLER_STATE_UNREGISTERED) {
		if (in_list) {
			TAILQ_REMOVE(&thread->active_pollers, poller, tailq);
		}
		poller_free(thread, poller);
	} else if (poller->state == POLLER_STATE_PAUSING) {
		if (in_list) {
			TAILQ_REMOVE(&thread->active_pollers, poller, tailq);
		}
		TAILQ_INSERT_TAIL(&thread->paused_pollers, poller, tailq);
		poller->state = POLLER_STATE_PAUSED;
	}
	return false;
}

/* USK_TRACE_GROUP_THREAD: record a poller run that took at least the threshold. */
static void
poller_trace_run(struct usk_thread *thread, struct usk_poller *poller, uint64_t t0)
{
	uint64_t dt = usk_get_ticks() - t0;

	uint64_t name[2] = {0, 0};

	if (dt >= usk_trace_get_poller_threshold_ticks()) {
		/* The name first, so usk_trace can print it with the run (slow path only). */
		memcpy(name, poller->name, strnlen(poller->name, sizeof(name)));
		usk_trace_record_slow(USK_TPOINT_OBJECT_NAME, (uint64_t)(uintptr_t)poller, name[0],
				      name[1]);
		usk_trace_record_slow(USK_TPOINT_POLLER_SLOW, (uint64_t)(uintptr_t)poller, dt,
				      thread->id);
	}
}

/* Run one poller's callback: stats, slow-run log and trace; *rc is the highest result so far. */
static inline void
poller_run(struct usk_thread *thread, struct usk_poller *poller, int *rc)
{
	uint64_t t0, tt0;
	int prc;

	poller->running = true;
	t0 = slow_start();
	tt0 = usk_trace_group_enabled(USK_TRACE_GROUP_THREAD) ? usk_get_ticks() : 0;
	prc = poller->fn(poller->arg);
	slow_check(thread, "poller", poller->name, NULL, t0, &poller->slow_logged);
	if (usk_unlikely(tt0 != 0)) {
		poller_trace_run(thread, poller, tt0);
	}
	poller->run_count++;
	if (prc > 0) {
		poller->busy_count++;
	}
	if (prc > *rc) {
		*rc = prc;
	}
}

/* Run every active poller once (only_busy: only those without an interrupt callback). */
void
thread_run_active_pollers(struct usk_thread *thread, bool only_busy, int *rc)
{
	struct usk_poller *poller, *next;

	thread->active_iter = true;
	poller = TAILQ_FIRST(&thread->active_pollers);
	while (poller != NULL) {
		if (usk_unlikely(poller->state != POLLER_STATE_WAITING) ||
		    (only_busy && poller->set_intr_cb_fn != NULL)) {
			next = TAILQ_NEXT(poller, tailq);
			if (poller->state != POLLER_STATE_WAITING) {
				poller_after_run(thread, poller, true);
			}
			poller = next;
			continue;
		}
		if (usk_unlikely(only_busy && !poller->notice_logged)) {
			poller->notice_logged = true;
			USK_NOTICELOG(
				"poller %s on thread %s has no interrupt mode; the thread keeps "
				"polling\n",
				poller->name, thread->name);
		}
		poller_run(thread, poller, rc);
		next = TAILQ_NEXT(poller, tailq);
		poller_after_run(thread, poller, true);
		poller = next;
	}
	thread->active_iter = false;
}

void
thread_run_timed_pollers(struct usk_thread *thread, uint64_t now, int *rc)
{
	while (thread->timed_count > 0) {
		struct usk_poller *poller = thread->timed[0];

		if (poller->next_run_tick > now) {
			break;
		}
		heap_remove(thread, poller);
		poller_run(thread, poller, rc);
		if (poller_after_run(thread, poller, false)) {
			if (poller_schedule_timed(thread, poller, now) != 0) {
				/* Cannot happen: the slot it left is free. */
				USK_ERRLOG("cannot reschedule timed poller %s\n", poller->name);
				TAILQ_INSERT_TAIL(&thread->paused_pollers, poller, tailq);
				poller->state = POLLER_STATE_PAUSED;
			}
		}
	}
}

void
thread_update_stats(struct usk_thread *thread, uint64_t start, uint64_t end, int rc)
{
	if (end < start) {
		return;
	}
	if (rc > 0) {
		thread->stats.busy_tsc += end - start;
	} else if (rc == 0) {
		thread->stats.idle_tsc += end - start;
	}
}

static inline int
thread_poll(struct usk_thread *thread, uint32_t max_msgs, uint64_t now)
{
	int rc = 0;

	if (thread_msg_queue_run(thread, max_msgs) > 0) {
		rc = 1;
	}
	if (!TAILQ_EMPTY(&thread->active_pollers)) {
		thread_run_active_pollers(thread, false, &rc);
	}
	if (thread->timed_count > 0 && thread->timed[0]->next_run_tick <= now) {
		thread_run_timed_pollers(thread, now, &rc);
	}
	return rc;
}

static int
thread_poll_common(struct usk_thread *thread, uint32_t max_msgs, uint64_t now, int timeout_ms)
{
	struct usk_thread *orig = tls_thread;
	uint64_t end;
	int rc;

	tls_thread = thread;
	if (now == 0) {
		now = thread_ticks();
	}
	if (usk_likely(!thread->in_interrupt)) {
		rc = thread_poll(thread, max_msgs, now);
	} else {
		rc = thread_interrupt_poll(thread, timeout_ms);
	}
	if (usk_unlikely(thread->state == THREAD_STATE_EXITING)) {
		thread_exit_check(thread, now);
	}
	end = thread_ticks();
	thread_update_stats(thread, now, end, rc);
	thread->tsc_last = end;
	tls_thread = orig;
	return rc;
}

int
usk_thread_poll(struct usk_thread *thread, uint32_t max_msgs, uint64_t now)
{
	return thread_poll_common(thread, max_msgs, now, 0);
}

int
usk_thread_process_interrupts(struct usk_thread *thread, int timeout_ms)
{
	if (!thread->in_interrupt) {
		return -ENOTSUP;
	}
	return thread_poll_common(thread, 0, 0, timeout_ms);
}

uint64_t
usk_thread_next_poller_expiration(struct usk_thread *thread)
{
	return thread->timed_count > 0 ? thread->timed[0]->next_run_tick : 0;
}

int
usk_thread_has_active_pollers(struct usk_thread *thread)
{
	struct usk_poller *poller;

	TAILQ_FOREACH(poller, &thread->active_pollers, tailq) {
		if (poller->state == POLLER_STATE_WAITING) {
			return 1;
		}
	}
	return 0;
}

bool
usk_thread_has_pollers(struct usk_thread *thread)
{
	return usk_thread_has_active_pollers(thread) || thread->timed_count > 0;
}

bool
usk_thread_is_idle(struct usk_thread *thread)
{
	return usk_ring_count(thread->messages) == 0 && !usk_thread_has_pollers(thread) &&
	       atomic_load_explicit(&thread->critical_msg, memory_order_relaxed) == NULL;
}

static void
poller_info_emit(struct usk_poller *poller, void (*fn)(const struct usk_poller_info *, void *),
		 void *ctx)
{
	struct usk_poller_info info = {
		.name = poller->name,
		.run_count = poller->run_count,
		.busy_count = poller->busy_count,
		.period_ticks = poller->period_ticks,
	};

	if (poller->state == POLLER_STATE_UNREGISTERED) {
		return;
	}
	if (poller->running) {
		info.state = "running";
	} else if (poller->state == POLLER_STATE_WAITING) {
		info.state = "waiting";
	} else {
		info.state = "paused";
	}
	fn(&info, ctx);
}

void
usk_thread_foreach_poller(struct usk_thread *thread,
			  void (*fn)(const struct usk_poller_info *info, void *ctx), void *ctx)
{
	struct usk_poller *poller;

	TAILQ_FOREACH(poller, &thread->active_pollers, tailq) {
		poller_info_emit(poller, fn, ctx);
	}
	for (uint32_t i = 0; i < thread->timed_count; i++) {
		poller_info_emit(thread->timed[i], fn, ctx);
	}
	TAILQ_FOREACH(poller, &thread->paused_pollers, tailq) {
		poller_info_emit(poller, fn, ctx);
	}
}
