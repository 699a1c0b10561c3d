/* SPDX-License-Identifier: BSD-3-Clause */
/* Environment setup: options, init/fini, tick counter, core mask and pinned OS threads. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/sysinfo.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

#include "usk/log.h"
#include "usk/util.h"
#include "env_internal.h"

USK_LOG_REGISTER_COMPONENT(env)

/* Grows only at the end; old callers pass their smaller opts_size. */
USK_STATIC_ASSERT(sizeof(struct usk_env_opts) == 48, "usk_env_opts layout changed");

/* ---- ticks ---- */

static bool g_use_tsc;
static uint64_t g_ticks_hz;
static pthread_once_t g_ticks_once = PTHREAD_ONCE_INIT;

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * USK_SEC_TO_NSEC + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__) || defined(__i386__)
static bool
tsc_invariant(void)
{
	unsigned a, b, c, d;

	if (__get_cpuid(0x80000000, &a, &b, &c, &d) == 0 || a < 0x80000007) {
		return false;
	}
	__get_cpuid(0x80000007, &a, &b, &c, &d);
	return (d >> 8) & 1; /* CPUID.80000007H:EDX[8] invariant TSC */
}
#endif

static void
ticks_init(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint64_t t0, c0, t1, c1, hz;

	if (tsc_invariant()) {
		/* Calibrate over ~20 ms of CLOCK_MONOTONIC_RAW; error well below 0.1%. */
		t0 = mono_ns();
		c0 = __rdtsc();
		do {
			t1 = mono_ns();
		} while (t1 - t0 < 20 * 1000 * 1000);
		c1 = __rdtsc();
		hz = (uint64_t)((double)(c1 - c0) * 1e9 / (double)(t1 - t0));
		/* Round to 100 kHz so repeated runs agree. */
		hz = (hz + 50000) / 100000 * 100000;
		g_use_tsc = true;
		/* Release pairs with the acquire loads in usk_get_ticks*(): g_use_tsc is seen set.
		 */
		__atomic_store_n(&g_ticks_hz, hz, __ATOMIC_RELEASE);
		return;
	}
#endif
	g_use_tsc = false;
	__atomic_store_n(&g_ticks_hz, USK_SEC_TO_NSEC, __ATOMIC_RELEASE);
}

uint64_t
usk_get_ticks(void)
{
	if (usk_unlikely(__atomic_load_n(&g_ticks_hz, __ATOMIC_ACQUIRE) == 0)) {
		pthread_once(&g_ticks_once, ticks_init);
	}
#if defined(__x86_64__) || defined(__i386__)
	if (usk_likely(g_use_tsc)) {
		return __rdtsc();
	}
#endif
	return mono_ns();
}

uint64_t
usk_get_ticks_hz(void)
{
	if (usk_unlikely(__atomic_load_n(&g_ticks_hz, __ATOMIC_ACQUIRE) == 0)) {
		pthread_once(&g_ticks_once, ticks_init);
	}
	return g_ticks_hz;
}

void
usk_delay_us(unsigned int us)
{
	uint64_t end;
	struct timespec ts;

	if (us >= 1000) {
		/* Long waits sleep: burning a core for milliseconds helps nobody. */
		ts.tv_sec = us / USK_SEC_TO_USEC;
		ts.tv_nsec = (long)(us % USK_SEC_TO_USEC) * 1000;
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
		}
		return;
	}
	end = usk_get_ticks() + (uint64_t)us * usk_get_ticks_hz() / USK_SEC_TO_USEC;
	while (usk_get_ticks() < end) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
}

/* ---- init ---- */

static struct usk_cpuset g_core_mask = {.cpus = {1}};
static uint32_t g_main_core;
static bool g_env_initialized;
static __thread uint32_t tls_core = USK_ENV_LCORE_ID_ANY;

void
usk_env_opts_init(struct usk_env_opts *opts, size_t opts_size)
{
	struct usk_env_opts defaults = {
		.opts_size = USK_MIN(opts_size, sizeof(defaults)),
		.name = "usk",
		.core_mask = "0x1",
		.shm_id = -1,
		.mem_size = 0,
		.main_core = -1,
		.no_huge = false,
		.hugedir = NULL,
	};

	if (opts == NULL || opts_size == 0) {
		return;
	}
	memset(opts, 0, opts_size);
	memcpy(opts, &defaults, USK_MIN(opts_size, sizeof(defaults)));
}

/* True when cpu is online on this machine. */
static bool
core_exists(uint32_t cpu)
{
	char path[96];

	if (cpu >= (uint32_t)get_nprocs_conf()) {
		return false;
	}
	if (cpu == 0) {
		return true; /* cpu0 has no "online" file on most kernels and is always online */
	}
	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/online", cpu);
	{
		FILE *f = fopen(path, "re");
		int c;

		if (f == NULL) {
			return true; /* not hot-pluggable: present means online */
		}
		c = fgetc(f);
		fclose(f);
		return c == '1';
	}
}

static int
check_core(uint32_t core, const char *what)
{
	if (core >= USK_ENV_MAX_CORES || !core_exists(core)) {
		USK_ERRLOG("%s: core %u does not exist on this machine (%d cores online)\n", what,
			   core, get_nprocs());
		return -EINVAL;
	}
	return 0;
}

int
usk_env_init(const struct usk_env_opts *user_opts)
{
	struct usk_env_opts opts;
	struct usk_cpuset mask;
	uint32_t core;
	int rc;

	usk_env_opts_init(&opts, sizeof(opts));
	if (user_opts != NULL) {
		if (user_opts->opts_size == 0 || user_opts->opts_size > sizeof(opts)) {
			USK_ERRLOG("env: opts_size %zu is invalid\n", user_opts->opts_size);
			return -EINVAL;
		}
		memcpy(&opts, user_opts, user_opts->opts_size);
	}
	if (g_env_initialized) {
		USK_ERRLOG("env: already initialised\n");
		return -EALREADY;
	}
	if (opts.core_mask == NULL || usk_cpuset_parse(&mask, opts.core_mask) != 0) {
		USK_ERRLOG("env: invalid core mask '%s' (use hex like 0x3 or a list like [0,1] or "
			   "[0-3,5])\n",
			   opts.core_mask ? opts.core_mask : "(null)");
		return -EINVAL;
	}
	if (usk_cpuset_count(&mask) == 0) {
		USK_ERRLOG("env: core mask '%s' selects no core\n", opts.core_mask);
		return -EINVAL;
	}
	for (core = 0; core < USK_ENV_MAX_CORES; core++) {
		if (usk_cpuset_get_cpu(&mask, core) && check_core(core, "env: core mask") != 0) {
			return -EINVAL;
		}
	}
	if (opts.main_core >= 0) {
		if (!usk_cpuset_get_cpu(&mask, (uint32_t)opts.main_core)) {
			USK_ERRLOG("env: main core %d is not in core mask %s\n", opts.main_core,
				   opts.core_mask);
			return -EINVAL;
		}
		g_main_core = (uint32_t)opts.main_core;
	} else {
		for (core = 0; !usk_cpuset_get_cpu(&mask, core); core++) {
		}
		g_main_core = core;
	}
	usk_cpuset_copy(&g_core_mask, &mask);
	rc = env_dma_init(&opts);
	if (rc != 0) {
		return rc;
	}
	rc = usk_env_pin_current(g_main_core);
	if (rc != 0) {
		return rc;
	}
	usk_get_ticks_hz();
	g_env_initialized = true;
	USK_INFOLOG(env, "env: cores %s main %u, %s, tsc %" PRIu64 " Hz\n", usk_cpuset_fmt(&mask),
		    g_main_core, env_dma_hugepages() ? "hugepages" : "no hugepages", g_ticks_hz);
	return 0;
}

void
usk_env_fini(void)
{
	/*
	 * DMA memory stays mapped: objects may still point into it (and the process is about to
	 * exit in practice). A later usk_env_init() may choose a new core mask.
	 */
	usk_env_thread_wait_all();
	usk_cpuset_zero(&g_core_mask);
	usk_cpuset_set_cpu(&g_core_mask, 0, true);
	g_main_core = 0;
	g_env_initialized = false;
}

bool
usk_env_hugepages_enabled(void)
{
	return env_dma_hugepages();
}

/* ---- cores ---- */

uint32_t
usk_env_get_core_count(void)
{
	return usk_cpuset_count(&g_core_mask);
}

uint32_t
usk_env_get_current_core(void)
{
	return tls_core;
}

uint32_t
usk_env_get_main_core(void)
{
	return g_main_core;
}

uint32_t
usk_env_get_next_core(uint32_t prev_core)
{
	uint32_t core;

	for (core = prev_core + 1; core < USK_ENV_MAX_CORES; core++) {
		if (usk_cpuset_get_cpu(&g_core_mask, core)) {
			return core;
		}
	}
	return UINT32_MAX;
}

uint32_t
usk_env_get_first_core(void)
{
	return usk_cpuset_get_cpu(&g_core_mask, 0) ? 0 : usk_env_get_next_core(0);
}

uint32_t
usk_env_get_last_core(void)
{
	uint32_t core, last = UINT32_MAX;

	USK_ENV_FOREACH_CORE(core) {
		last = core;
	}
	return last;
}

int
usk_env_pin_current(uint32_t core)
{
	cpu_set_t set;
	int rc;

	rc = check_core(core, "env: pin");
	if (rc != 0) {
		return rc;
	}
	CPU_ZERO(&set);
	CPU_SET(core, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc != 0) {
		USK_ERRLOG(
			"env: cannot pin thread to core %u: %s (outside this process's cpuset?)\n",
			core, strerror(rc));
		return -rc;
	}
	tls_core = core;
	return 0;
}

int
usk_env_unpin_thread(pthread_t tid)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t all;

	CPU_ZERO(&all);
	for (long c = 0; c < ncpu && c < CPU_SETSIZE; c++) {
		CPU_SET(c, &all);
	}
	return -pthread_setaffinity_np(tid, sizeof(all), &all);
}

struct launch {
	pthread_t tid;
	uint32_t core;
	usk_thread_fn fn;
	void *arg;
	struct launch *next;
};

static pthread_mutex_t g_launch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct launch *g_launched;

static void *
launch_trampoline(void *ctx)
{
	struct launch *l = ctx;

	tls_core = l->core;
	l->fn(l->arg);
	return NULL;
}

int
usk_env_thread_launch_pinned(uint32_t core, usk_thread_fn fn, void *arg)
{
	struct launch *l, *it;
	pthread_attr_t attr;
	cpu_set_t set;
	int rc;

	if (fn == NULL) {
		return -EINVAL;
	}
	rc = check_core(core, "env: launch");
	if (rc != 0) {
		return rc;
	}
	if (!usk_cpuset_get_cpu(&g_core_mask, core)) {
		USK_ERRLOG("env: launch: core %u is not in the core mask %s\n", core,
			   usk_cpuset_fmt(&g_core_mask));
		return -EINVAL;
	}
	if (core == tls_core) {
		USK_ERRLOG("env: launch: core %u is the calling thread's core\n", core);
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return -ENOMEM;
	}
	l->core = core;
	l->fn = fn;
	l->arg = arg;
	pthread_mutex_lock(&g_launch_lock);
	for (it = g_launched; it != NULL; it = it->next) {
		if (it->core == core) {
			pthread_mutex_unlock(&g_launch_lock);
			free(l);
			USK_ERRLOG("env: launch: core %u already runs a launched thread\n", core);
			return -EBUSY;
		}
	}
	pthread_attr_init(&attr);
	CPU_ZERO(&set);
	CPU_SET(core, &set);
	pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	rc = pthread_create(&l->tid, &attr, launch_trampoline, l);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		pthread_mutex_unlock(&g_launch_lock);
		free(l);
		USK_ERRLOG("env: launch on core %u failed: %s\n", core, strerror(rc));
		return -rc;
	}
	l->next = g_launched;
	g_launched = l;
	pthread_mutex_unlock(&g_launch_lock);
	return 0;
}

void
usk_env_thread_wait_all(void)
{
	struct launch *l;

	pthread_mutex_lock(&g_launch_lock);
	l = g_launched;
	g_launched = NULL;
	pthread_mutex_unlock(&g_launch_lock);
	while (l != NULL) {
		struct launch *next = l->next;

		pthread_join(l->tid, NULL);
		free(l);
		l = next;
	}
}
