/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared fixture of the vbdev unit tests: bdev layer on stepped threads, malloc bases, sync I/O. */
#ifndef USK_VBDEV_UT_HELPERS_H
#define USK_VBDEV_UT_HELPERS_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "malloc.h"
#include "usk/bdev.h"
#include "usk/env.h"
#include "bdev_ut_helpers.h"
#include "ut_multithread.h"

static int g_io_done;
static bool g_io_success;
static int g_events;
static enum usk_bdev_event_type g_last_event;

static __attribute__((unused)) int
ut_setup(void **state)
{
	ut_bdev_layer_init(2, UT_BDEV_POOLS_SMALL);
	g_events = 0;
	return 0;
}

/* Teardown of ut_setup(). */
#define ut_teardown ut_bdev_teardown

static __attribute__((unused)) void
ut_ev_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *ctx)
{
	struct usk_bdev_desc **desc = ctx;

	g_events++;
	g_last_event = type;
	if (type == USK_BDEV_EVENT_REMOVE && desc != NULL && *desc != NULL) {
		usk_bdev_close(*desc);
		*desc = NULL;
	}
}

static __attribute__((unused)) void
ut_io_cb(struct usk_bdev_io *io, bool success, void *arg)
{
	g_io_done++;
	g_io_success = success;
	usk_bdev_free_io(io);
}

static __attribute__((unused)) struct usk_bdev *
ut_malloc(const char *name, uint64_t num_blocks, uint32_t block_size)
{
	struct usk_mem_bdev_opts o = {
		.name = name, .num_blocks = num_blocks, .block_size = block_size};
	struct usk_bdev *b = NULL;

	assert_int_equal(usk_bdev_malloc_create(&b, &o), 0);
	ut_poll_threads();
	return b;
}

/* Submit with fn, poll until done; returns the completion status. */
#define UT_SYNC_IO(call) \
	({ \
		int _rc; \
		g_io_done = 0; \
		_rc = (call); \
		assert_int_equal(_rc, 0); \
		ut_poll_threads(); \
		assert_int_equal(g_io_done, 1); \
		g_io_success; \
	})

static __attribute__((unused)) bool
ut_write(struct usk_bdev_desc *d, struct usk_io_channel *ch, void *buf, uint64_t off, uint64_t n)
{
	return UT_SYNC_IO(usk_bdev_write_blocks(d, ch, buf, off, n, ut_io_cb, NULL));
}

static __attribute__((unused)) bool
ut_read(struct usk_bdev_desc *d, struct usk_io_channel *ch, void *buf, uint64_t off, uint64_t n)
{
	return UT_SYNC_IO(usk_bdev_read_blocks(d, ch, buf, off, n, ut_io_cb, NULL));
}

#endif
