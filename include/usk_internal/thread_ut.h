/* SPDX-License-Identifier: BSD-3-Clause */
/* Test-only hooks into lib/thread: a stepped tick source and interrupt mode reset. */
#ifndef USK_INTERNAL_THREAD_UT_H
#define USK_INTERNAL_THREAD_UT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * enable=true: lib/thread reads "now" from a counter that only moves with
 * usk_thread_ut_advance_ticks() (poller expirations, stats, exit timeout). false: real ticks.
 */
void usk_thread_ut_set_ticks(bool enable, uint64_t now);
/** Move the fake tick counter forward. */
void usk_thread_ut_advance_ticks(uint64_t delta);
/** The tick value lib/thread currently sees (fake or real). */
uint64_t usk_thread_ut_get_ticks(void);
/** Override ticks per second used to convert poller periods (0 = back to usk_get_ticks_hz()). */
void usk_thread_ut_set_ticks_hz(uint64_t hz);
/** Whether usk_thread_lib_init(_ext) has run (and usk_thread_lib_fini not yet). */
bool usk_thread_ut_lib_is_initialized(void);
/** Turn interrupt mode off again (usk_interrupt_mode_enable has no inverse); call with no thread.
 */
void usk_thread_ut_interrupt_mode_disable(void);

#ifdef __cplusplus
}
#endif
#endif
