/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Deterministic multi-thread stepping for unit tests (after SPDK test/common/lib/ut_multithread.c).
 *
 * ut_allocate_threads(n) initialises lib/thread (unless the test did with ut_thread_lib_init)
 * with a fake tick source (usk_thread_lib_opts.get_ticks; 1 tick = 1 us, moved only by
 * ut_delay_us) and creates n usk_threads that no OS thread polls: the test
 * picks the current one with ut_set_thread(i) and steps them by hand with ut_poll_thread(i) or
 * ut_poll_threads() (poll every thread until none does any work).
 */
#ifndef USK_UT_MULTITHREAD_H
#define USK_UT_MULTITHREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "usk/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UT_MAX_THREADS 32
/* Fake ticks per second: one tick per microsecond. */
#define UT_TICKS_HZ 1000000ULL

/**
 * usk_thread_lib_init_opts(opts) with the fake clock set in opts, for a test that needs its own
 * options (thread_op_fn, pool size). Pair with ut_thread_lib_fini after ut_free_threads.
 */
int ut_thread_lib_init(struct usk_thread_lib_opts *opts);
/** usk_thread_lib_fini() of a library set up by ut_thread_lib_init. */
void ut_thread_lib_fini(void);
/** Create count threads named "ut_thread<i>"; thread 0 is current afterwards. Returns 0 or -errno.
 */
int ut_allocate_threads(int count);
/** Exit (polling until exited) and destroy every thread, then finish lib/thread if this helper set
 * it up. */
void ut_free_threads(void);
/** Make thread idx current on the calling OS thread (-1: none). */
void ut_set_thread(int idx);
/** Thread idx (NULL if out of range). */
struct usk_thread *ut_get_thread(int idx);
/** Index of the current thread, or -1. */
int ut_current_thread(void);
/** One usk_thread_poll of thread idx (made current meanwhile, restored afterwards). */
int ut_poll_thread(int idx);
/** Poll thread idx until it is idle or max_polls (0 = no limit) polls were made; returns the polls
 * that did work. */
int ut_poll_thread_times(int idx, int max_polls);
/** Poll every thread round-robin until a full round does no work. Returns polls that did work. */
int ut_poll_threads(void);
/**
 * For completions that come from another OS thread or the kernel: ut_poll_threads, sleeping
 * 200 us between rounds, until *count (set by callbacks on these threads) reaches want or
 * about max_ms passed. Returns *count.
 */
int ut_poll_threads_until(const int *count, int want, unsigned int max_ms);
/** Move the fake clock forward by us microseconds (timed pollers become due). */
void ut_delay_us(uint64_t us);
/** Current fake tick value. */
uint64_t ut_now(void);

#ifdef __cplusplus
}
#endif
#endif
