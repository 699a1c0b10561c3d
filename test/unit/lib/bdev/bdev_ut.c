/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of lib/bdev with a mock module defined here; threads stepped by ut_multithread. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uuid/uuid.h>
#include <cmocka.h>

#include "usk/bdev.h"
#include "usk/bdev_module.h"
#include "usk/env.h"
#include "bdev_ut_helpers.h"
#include "ut_multithread.h"

/* ---- mock module ---- */

#define MAX_LOG 256

struct ut_bdev {
	struct usk_bdev bdev;
	bool no_write_zeroes;
	bool destructed;
};

struct log_entry {
	uint8_t type;
	uint64_t offset;
	uint64_t num;
	int iovcnt;
	void *base0;
	size_t len0;
	size_t total_len;
	bool fua;
};

static struct log_entry g_log[MAX_LOG];
static int g_log_n;
static struct usk_bdev_io *g_held[1024];
static int g_held_n;
static bool g_complete_inline;
static bool g_reset_inline = true;
static int g_nvme_sct, g_nvme_sc;
static int g_nomem_count;
static int g_fail_nth = -1; /* fail the nth submission (0-based) with the NVMe status */
static bool g_use_get_buf;
static int g_destruct_count;
static int g_mock_dev;
static bool g_examine_hold;
static struct usk_bdev *g_examined;
static int g_examine_disk_calls;

static int mock_init(void);
static void mock_fini(void);
static void mock_examine_disk(struct usk_bdev *bdev);

static int
mock_ctx_size(void)
{
	return 16;
}

static struct usk_bdev_module g_mock_module = {
	.name = "ut_mock",
	.module_init = mock_init,
	.module_fini = mock_fini,
	.get_ctx_size = mock_ctx_size,
	.examine_disk = mock_examine_disk,
};
USK_BDEV_MODULE_REGISTER(ut_mock, &g_mock_module)

static struct usk_bdev_module g_claimer = {.name = "ut_claimer"};
USK_BDEV_MODULE_REGISTER(ut_claimer, &g_claimer)

static void
mock_examine_disk(struct usk_bdev *bdev)
{
	g_examine_disk_calls++;
	if (g_examine_hold) {
		g_examined = bdev;
		return;
	}
	usk_bdev_module_examine_done(&g_mock_module);
}

static int
mock_ch_create(void *dev, void *ctx)
{
	return 0;
}

static void
mock_ch_destroy(void *dev, void *ctx)
{
}

static int
mock_init(void)
{
	return usk_io_device_register(&g_mock_dev, mock_ch_create, mock_ch_destroy, 0, "ut_mock");
}

static void
mock_fini(void)
{
	usk_io_device_unregister(&g_mock_dev, NULL);
}

static void
mock_complete(struct usk_bdev_io *io)
{
	if (g_fail_nth == g_log_n - 1) {
		usk_bdev_io_complete_nvme_status(io, 0x1234, g_nvme_sct, g_nvme_sc);
		return;
	}
	usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_SUCCESS);
}

static void
mock_get_buf_cb(struct usk_io_channel *ch, struct usk_bdev_io *io, bool success)
{
	assert_true(success);
	assert_non_null(io->u.bdev.iovs[0].iov_base);
	assert_int_equal((uintptr_t)io->u.bdev.iovs[0].iov_base % USK_BDEV_BUF_ALIGN, 0);
	if (g_complete_inline) {
		mock_complete(io);
	} else {
		g_held[g_held_n++] = io;
	}
}

static void
mock_submit(struct usk_io_channel *ch, struct usk_bdev_io *io)
{
	struct log_entry *e = &g_log[g_log_n < MAX_LOG ? g_log_n : MAX_LOG - 1];

	memset(e, 0, sizeof(*e));
	e->type = io->type;
	if (io->type != USK_BDEV_IO_TYPE_RESET) {
		e->offset = io->u.bdev.offset_blocks;
		e->num = io->u.bdev.num_blocks;
		e->iovcnt = io->u.bdev.iovcnt;
		e->fua = io->u.bdev.fua;
		if (io->u.bdev.iovcnt > 0) {
			e->base0 = io->u.bdev.iovs[0].iov_base;
			e->len0 = io->u.bdev.iovs[0].iov_len;
			e->total_len = 0;
			for (int i = 0; i < io->u.bdev.iovcnt; i++) {
				e->total_len += io->u.bdev.iovs[i].iov_len;
			}
		}
	}
	if (g_log_n < MAX_LOG) {
		g_log_n++;
	}
	if (io->type == USK_BDEV_IO_TYPE_RESET) {
		if (g_reset_inline) {
			usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_SUCCESS);
		} else {
			g_held[g_held_n++] = io;
		}
		return;
	}
	if (g_nomem_count > 0) {
		g_nomem_count--;
		usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_NOMEM);
		return;
	}
	if (g_use_get_buf && io->type == USK_BDEV_IO_TYPE_READ) {
		usk_bdev_io_get_buf(io, mock_get_buf_cb,
				    io->u.bdev.num_blocks * io->bdev->blocklen);
		return;
	}
	if (g_complete_inline) {
		mock_complete(io);
	} else {
		g_held[g_held_n++] = io;
	}
}

static bool
mock_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	struct ut_bdev *ub = ctx;

	switch (type) {
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		return !ub->no_write_zeroes;
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_RESET:
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_FLUSH:
		return true;
	default:
		return false;
	}
}

static struct usk_io_channel *
mock_get_io_channel(void *ctx)
{
	return usk_get_io_channel(&g_mock_dev);
}

static int
mock_destruct(void *ctx)
{
	struct ut_bdev *ub = ctx;

	g_destruct_count++;
	free(ub->bdev.name);
	free(ub);
	return 0;
}

static const struct usk_bdev_fn_table g_mock_fn = {
	.destruct = mock_destruct,
	.submit_request = mock_submit,
	.io_type_supported = mock_io_type_supported,
	.get_io_channel = mock_get_io_channel,
};

static struct ut_bdev *
mock_bdev_new(const char *name, uint64_t blocks, uint32_t bs)
{
	struct ut_bdev *ub = calloc(1, sizeof(*ub));

	ub->bdev.name = strdup(name);
	ub->bdev.product_name = "mock";
	ub->bdev.blockcnt = blocks;
	ub->bdev.blocklen = bs;
	ub->bdev.ctxt = ub;
	ub->bdev.fn_table = &g_mock_fn;
	ub->bdev.module = &g_mock_module;
	return ub;
}

static struct ut_bdev *
mock_bdev_create(const char *name, uint64_t blocks, uint32_t bs)
{
	struct ut_bdev *ub = mock_bdev_new(name, blocks, bs);

	assert_int_equal(usk_bdev_register(&ub->bdev), 0);
	ut_poll_threads();
	return ub;
}

/* ---- completion helpers ---- */

static int g_done_count;
static int g_done_success;
static int g_done_fail;
static bool g_in_submit;
static struct usk_thread *g_done_thread;
static int g_last_sct, g_last_sc;
static uint32_t g_last_cdw0;
static void *g_last_read_base;

static void
io_done(struct usk_bdev_io *io, bool success, void *arg)
{
	assert_false(g_in_submit); /* never called from inside the submit call */
	g_done_count++;
	if (success) {
		g_done_success++;
	} else {
		g_done_fail++;
	}
	g_done_thread = usk_get_thread();
	usk_bdev_io_get_nvme_status(io, &g_last_cdw0, &g_last_sct, &g_last_sc);
	if (io->type == USK_BDEV_IO_TYPE_READ && io->u.bdev.iovcnt > 0) {
		g_last_read_base = io->u.bdev.iovs[0].iov_base;
	}
	usk_bdev_free_io(io);
}

static void
reset_counters(void)
{
	g_done_count = g_done_success = g_done_fail = 0;
	g_log_n = 0;
	g_held_n = 0;
	g_complete_inline = false;
	g_reset_inline = true;
	g_nomem_count = 0;
	g_fail_nth = -1;
	g_use_get_buf = false;
	g_done_thread = NULL;
}

static int g_event_count[3];
static struct usk_thread *g_event_thread;

static void
ev_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *ctx)
{
	g_event_count[type]++;
	g_event_thread = usk_get_thread();
}

static int g_unreg_count;
static int g_unreg_rc;

static void
unreg_cb(void *arg, int rc)
{
	g_unreg_count++;
	g_unreg_rc = rc;
}

static void
complete_held(int i, enum usk_bdev_io_status st)
{
	usk_bdev_io_complete(g_held[i], st);
}

/* ---- suite setup ---- */

static int
setup(void **state)
{
	ut_bdev_layer_init(3, 256, 16, 32, 8);
	reset_counters();
	g_destruct_count = 0;
	memset(g_event_count, 0, sizeof(g_event_count));
	g_unreg_count = 0;
	return 0;
}

struct io_env {
	struct usk_bdev_desc *desc;
	struct usk_io_channel *ch;
};

static void
env_open(struct io_env *e, const char *name, bool write)
{
	assert_int_equal(usk_bdev_open_ext(name, write, ev_cb, NULL, &e->desc), 0);
	e->ch = usk_bdev_get_io_channel(e->desc);
	assert_non_null(e->ch);
}

static void
env_close(struct io_env *e)
{
	usk_put_io_channel(e->ch);
	ut_poll_threads();
	usk_bdev_close(e->desc);
	ut_poll_threads();
}

static int
submit_read(struct io_env *e, void *buf, uint64_t off, uint64_t n)
{
	int rc;

	g_in_submit = true;
	rc = usk_bdev_read_blocks(e->desc, e->ch, buf, off, n, io_done, NULL);
	g_in_submit = false;
	return rc;
}

static int
submit_write(struct io_env *e, void *buf, uint64_t off, uint64_t n)
{
	int rc;

	g_in_submit = true;
	rc = usk_bdev_write_blocks(e->desc, e->ch, buf, off, n, io_done, NULL);
	g_in_submit = false;
	return rc;
}

/* ---- tests ---- */

static void
test_register_names(void **state)
{
	struct ut_bdev *a = mock_bdev_create("a", 100, 512), *b;
	char uuid_str[37];
	uint8_t zero[16] = {0};

	assert_memory_not_equal(a->bdev.uuid, zero, 16);
	assert_ptr_equal(usk_bdev_get_by_name("a"), &a->bdev);
	assert_int_equal(usk_bdev_alias_add(&a->bdev, "a_alias"), 0);
	assert_int_equal(usk_bdev_alias_add(&a->bdev, "a_alias"), -EEXIST);
	assert_int_equal(usk_bdev_alias_add(&a->bdev, "a"), -EEXIST);
	assert_ptr_equal(usk_bdev_get_by_name("a_alias"), &a->bdev);
	uuid_unparse_lower(a->bdev.uuid, uuid_str);
	assert_ptr_equal(usk_bdev_get_by_name(uuid_str), &a->bdev);

	/* Duplicate name and a name equal to an existing alias. */
	b = mock_bdev_new("a", 10, 512);
	assert_int_equal(usk_bdev_register(&b->bdev), -EEXIST);
	free(b->bdev.name);
	b->bdev.name = strdup("a_alias");
	assert_int_equal(usk_bdev_register(&b->bdev), -EEXIST);
	/* Duplicate UUID. */
	free(b->bdev.name);
	b->bdev.name = strdup("b");
	memcpy(b->bdev.uuid, a->bdev.uuid, 16);
	assert_int_equal(usk_bdev_register(&b->bdev), -EEXIST);
	/* Invalid: block size 0. */
	memset(b->bdev.uuid, 0, 16);
	b->bdev.blocklen = 0;
	assert_int_equal(usk_bdev_register(&b->bdev), -EINVAL);
	b->bdev.blocklen = 512;
	assert_int_equal(usk_bdev_register(&b->bdev), 0);
	ut_poll_threads();
	assert_int_equal(usk_bdev_alias_del(&a->bdev, "nope"), -ENOENT);
	assert_int_equal(usk_bdev_alias_del(&a->bdev, "a_alias"), 0);
	assert_null(usk_bdev_get_by_name("a_alias"));
	assert_true(usk_bdev_io_type_supported(&a->bdev, USK_BDEV_IO_TYPE_WRITE_ZEROES));
	assert_false(usk_bdev_io_type_supported(&a->bdev, USK_BDEV_IO_TYPE_COMPARE));

	usk_bdev_unregister(&a->bdev, unreg_cb, NULL);
	usk_bdev_unregister(&b->bdev, unreg_cb, NULL);
	ut_poll_threads();
	assert_int_equal(g_unreg_count, 2);
	assert_int_equal(g_destruct_count, 2);
	assert_null(usk_bdev_get_by_name("a"));
}

static int g_examine_done_flag;

static void
examine_done_cb(void *arg)
{
	g_examine_done_flag++;
}

static void
test_examine(void **state)
{
	struct ut_bdev *a;

	g_examine_hold = true;
	g_examine_disk_calls = 0;
	g_examine_done_flag = 0;
	a = mock_bdev_create("ex", 10, 512);
	assert_int_equal(g_examine_disk_calls, 1);
	assert_ptr_equal(g_examined, &a->bdev);
	assert_int_equal(usk_bdev_wait_for_examine(examine_done_cb, NULL), 0);
	ut_poll_threads();
	assert_int_equal(g_examine_done_flag, 0); /* module has not finished examining */
	g_examine_hold = false;
	usk_bdev_module_examine_done(&g_mock_module);
	ut_poll_threads();
	assert_int_equal(g_examine_done_flag, 1);
	usk_bdev_unregister(&a->bdev, NULL, NULL);
	ut_poll_threads();
}

static void
test_claims(void **state)
{
	struct ut_bdev *a = mock_bdev_create("c", 10, 512);
	struct usk_bdev_desc *d1, *d2;

	assert_int_equal(usk_bdev_open_ext("c", false, ev_cb, NULL, &d1), 0);
	assert_int_equal(usk_bdev_module_claim_bdev(&a->bdev, d1, &g_claimer), 0);
	assert_int_equal(usk_bdev_module_claim_bdev(&a->bdev, NULL, &g_mock_module), -EPERM);
	assert_ptr_equal(usk_bdev_get_claim_module(&a->bdev), &g_claimer);
	assert_int_equal(usk_bdev_open_ext("c", true, ev_cb, NULL, &d2), -EPERM);
	assert_int_equal(usk_bdev_open_ext("c", false, ev_cb, NULL, &d2), 0);
	usk_bdev_close(d2);
	assert_int_equal(usk_bdev_open_ext("nope", false, ev_cb, NULL, &d2), -ENODEV);
	assert_int_equal(usk_bdev_open_ext("c", false, NULL, NULL, &d2), -EINVAL);
	usk_bdev_module_release_bdev(&a->bdev);
	assert_int_equal(usk_bdev_open_ext("c", true, ev_cb, NULL, &d2), 0);
	usk_bdev_close(d2);
	/* Closing the claiming descriptor releases the claim too. */
	assert_int_equal(usk_bdev_module_claim_bdev(&a->bdev, d1, &g_claimer), 0);
	usk_bdev_close(d1);
	assert_null(usk_bdev_get_claim_module(&a->bdev));
	usk_bdev_unregister(&a->bdev, NULL, NULL);
	ut_poll_threads();
}

static void
test_basic_io_and_iostat(void **state)
{
	struct io_env e;
	char buf[4096];
	struct usk_bdev_io_stat stat;
	int rc;

	mock_bdev_create("io", 1000, 512);
	env_open(&e, "io", true);
	g_complete_inline = true; /* completes inside submit: the layer must defer the callback */
	assert_int_equal(submit_read(&e, buf, 0, 8), 0);
	assert_int_equal(g_done_count, 0);
	ut_poll_threads();
	assert_int_equal(g_done_success, 1);
	assert_int_equal(submit_write(&e, buf, 10, 4), 0);
	assert_int_equal(usk_bdev_write(e.desc, e.ch, buf, 512 * 3, 1024, io_done, NULL), 0);
	assert_int_equal(usk_bdev_write(e.desc, e.ch, buf, 100, 1024, io_done, NULL), -EINVAL);
	assert_int_equal(usk_bdev_unmap_blocks(e.desc, e.ch, 0, 10, io_done, NULL), 0);
	assert_int_equal(usk_bdev_flush_blocks(e.desc, e.ch, 0, 10, io_done, NULL), 0);
	assert_int_equal(submit_read(&e, buf, 999, 2), -EINVAL); /* past the end */
	assert_int_equal(submit_read(&e, buf, UINT64_MAX, 2), -EINVAL);
	ut_poll_threads();
	assert_int_equal(g_done_success, 5);

	/* Read-only descriptor cannot write. */
	{
		struct usk_bdev_desc *ro;

		assert_int_equal(usk_bdev_open_ext("io", false, ev_cb, NULL, &ro), 0);
		rc = usk_bdev_write_blocks(ro, e.ch, buf, 0, 1, io_done, NULL);
		assert_int_equal(rc, -EBADF);
		usk_bdev_close(ro);
	}

	usk_bdev_get_io_stat(NULL, e.ch, &stat);
	assert_int_equal(stat.num_read_ops, 1);
	assert_int_equal(stat.bytes_read, 8 * 512);
	assert_int_equal(stat.num_write_ops, 2);
	assert_int_equal(stat.bytes_written, 6 * 512);
	assert_int_equal(stat.num_unmap_ops, 1);
	assert_int_equal(stat.bytes_unmapped, 10 * 512);
	assert_true(stat.min_read_latency_ticks <= stat.max_read_latency_ticks);
	/* the one read's latency is counted in its bucket, the two writes in theirs */
	assert_int_equal(
		stat.read_latency_hist.bucket[usk_histogram_bucket_index(stat.read_latency_ticks)],
		1);
	assert_int_equal(
		usk_histogram_total(stat.read_latency_hist.bucket, USK_HISTOGRAM_NUM_BUCKETS), 1);
	assert_int_equal(
		usk_histogram_total(stat.write_latency_hist.bucket, USK_HISTOGRAM_NUM_BUCKETS), 2);

	/* Errors are counted per type. */
	g_fail_nth = g_log_n;
	g_nvme_sct = 0;
	g_nvme_sc = 6;
	assert_int_equal(submit_read(&e, buf, 0, 1), 0);
	ut_poll_threads();
	usk_bdev_get_io_stat(NULL, e.ch, &stat);
	assert_int_equal(stat.io_error[USK_BDEV_IO_TYPE_READ], 1);
	assert_int_equal(stat.num_read_ops, 1);
	env_close(&e);
	usk_bdev_unregister(usk_bdev_get_by_name("io"), NULL, NULL);
	ut_poll_threads();
}

/*
 * The byte-offset variants (usk_bdev_readv/writev/unmap/flush/write_zeroes) convert to blocks
 * and reach the module with the same iovecs; a length or offset that is not a multiple of the
 * block size, or a range past the end, is -EINVAL and never calls back.
 */
static void
test_byte_api(void **state)
{
	struct io_env e;
	char a[1024], b[512];
	struct iovec iov[2] = {{.iov_base = a, .iov_len = sizeof(a)},
			       {.iov_base = b, .iov_len = sizeof(b)}};

	mock_bdev_create("bytes", 100, 512);
	env_open(&e, "bytes", true);
	g_complete_inline = true;
	assert_int_equal(usk_bdev_readv(e.desc, e.ch, iov, 2, 512 * 4, 1536, io_done, NULL), 0);
	assert_int_equal(usk_bdev_writev(e.desc, e.ch, iov, 2, 512 * 7, 1536, io_done, NULL), 0);
	assert_int_equal(usk_bdev_unmap(e.desc, e.ch, 512 * 10, 512 * 20, io_done, NULL), 0);
	assert_int_equal(usk_bdev_flush(e.desc, e.ch, 0, 512 * 100, io_done, NULL), 0);
	assert_int_equal(usk_bdev_write_zeroes(e.desc, e.ch, 512 * 50, 512 * 2, io_done, NULL), 0);
	ut_poll_threads();
	assert_int_equal(g_done_success, 5);
	assert_int_equal(g_log_n, 5);
	assert_int_equal(g_log[0].type, USK_BDEV_IO_TYPE_READ);
	assert_int_equal(g_log[0].offset, 4);
	assert_int_equal(g_log[0].num, 3);
	assert_int_equal(g_log[0].iovcnt, 2);
	assert_ptr_equal(g_log[0].base0, a);
	assert_int_equal(g_log[0].total_len, 1536);
	assert_int_equal(g_log[1].type, USK_BDEV_IO_TYPE_WRITE);
	assert_int_equal(g_log[1].offset, 7);
	assert_int_equal(g_log[1].num, 3);
	assert_int_equal(g_log[2].type, USK_BDEV_IO_TYPE_UNMAP);
	assert_int_equal(g_log[2].offset, 10);
	assert_int_equal(g_log[2].num, 20);
	assert_int_equal(g_log[3].type, USK_BDEV_IO_TYPE_FLUSH);
	assert_int_equal(g_log[3].num, 100);
	assert_int_equal(g_log[4].type, USK_BDEV_IO_TYPE_WRITE_ZEROES);
	assert_int_equal(g_log[4].offset, 50);
	assert_int_equal(g_log[4].num, 2);

	/* Unaligned or out of range: rejected synchronously, no callback. */
	assert_int_equal(usk_bdev_readv(e.desc, e.ch, iov, 2, 100, 1536, io_done, NULL), -EINVAL);
	assert_int_equal(usk_bdev_writev(e.desc, e.ch, iov, 2, 0, 1000, io_done, NULL), -EINVAL);
	assert_int_equal(usk_bdev_unmap(e.desc, e.ch, 512 * 99, 512 * 2, io_done, NULL), -EINVAL);
	assert_int_equal(usk_bdev_flush(e.desc, e.ch, 1, 512, io_done, NULL), -EINVAL);
	assert_int_equal(usk_bdev_write_zeroes(e.desc, e.ch, 0, 513, io_done, NULL), -EINVAL);
	ut_poll_threads();
	assert_int_equal(g_done_count, 5);
	assert_int_equal(g_log_n, 5);

	/* Read-only descriptor: every write-type byte call is -EBADF. */
	{
		struct usk_bdev_desc *ro;

		assert_int_equal(usk_bdev_open_ext("bytes", false, ev_cb, NULL, &ro), 0);
		assert_int_equal(usk_bdev_writev(ro, e.ch, iov, 2, 0, 1536, io_done, NULL), -EBADF);
		assert_int_equal(usk_bdev_unmap(ro, e.ch, 0, 512, io_done, NULL), -EBADF);
		assert_int_equal(usk_bdev_write_zeroes(ro, e.ch, 0, 512, io_done, NULL), -EBADF);
		usk_bdev_close(ro);
	}
	env_close(&e);
	usk_bdev_unregister(usk_bdev_get_by_name("bytes"), NULL, NULL);
	ut_poll_threads();
}

static struct usk_bdev_io_stat g_dev_stat;
static int g_dev_stat_done;

static void
dev_stat_cb(struct usk_bdev *bdev, struct usk_bdev_io_stat *stat, void *arg, int rc)
{
	assert_int_equal(rc, 0);
	g_dev_stat_done++;
}

static int g_hist_cb_rc;

static void
hist_cb(void *arg, int rc)
{
	g_hist_cb_rc = rc;
}

static void
test_device_stat_multi_channel(void **state)
{
	struct io_env e0, e1;
	char buf[512];

	mock_bdev_create("st", 100, 512);
	g_complete_inline = true;
	env_open(&e0, "st", true);
	ut_set_thread(1);
	env_open(&e1, "st", true);
	assert_int_equal(submit_read(&e1, buf, 0, 1), 0);
	assert_int_equal(submit_read(&e1, buf, 1, 1), 0);
	ut_poll_threads();
	ut_set_thread(0);
	assert_int_equal(submit_read(&e0, buf, 0, 1), 0);
	ut_poll_threads();
	g_dev_stat_done = 0;
	usk_bdev_get_device_stat(usk_bdev_desc_get_bdev(e0.desc), &g_dev_stat, dev_stat_cb, NULL);
	ut_poll_threads();
	assert_int_equal(g_dev_stat_done, 1);
	assert_int_equal(g_dev_stat.num_read_ops, 3);
	/* the latency histograms of both channels are summed: one count per read */
	assert_int_equal(usk_histogram_total(g_dev_stat.read_latency_hist.bucket,
					     USK_HISTOGRAM_NUM_BUCKETS),
			 3);
	assert_int_equal(usk_histogram_total(g_dev_stat.write_latency_hist.bucket,
					     USK_HISTOGRAM_NUM_BUCKETS),
			 0);
	/* Closing a channel keeps its counts. */
	ut_set_thread(1);
	env_close(&e1);
	ut_set_thread(0);
	usk_bdev_get_device_stat(usk_bdev_desc_get_bdev(e0.desc), &g_dev_stat, dev_stat_cb, NULL);
	ut_poll_threads();
	assert_int_equal(g_dev_stat.num_read_ops, 3);
	assert_int_equal(usk_histogram_total(g_dev_stat.read_latency_hist.bucket,
					     USK_HISTOGRAM_NUM_BUCKETS),
			 3);
	usk_bdev_reset_device_stat(usk_bdev_desc_get_bdev(e0.desc), USK_BDEV_RESET_STAT_ALL, NULL,
				   NULL);
	ut_poll_threads();
	usk_bdev_get_device_stat(usk_bdev_desc_get_bdev(e0.desc), &g_dev_stat, dev_stat_cb, NULL);
	ut_poll_threads();
	assert_int_equal(g_dev_stat.num_read_ops, 0);
	assert_int_equal(usk_histogram_total(g_dev_stat.read_latency_hist.bucket,
					     USK_HISTOGRAM_NUM_BUCKETS),
			 0);
	/* histograms off: reads are counted, not binned; a channel opened later starts off too */
	assert_true(usk_bdev_histogram_is_enabled(usk_bdev_desc_get_bdev(e0.desc)));
	g_hist_cb_rc = 1;
	usk_bdev_histogram_enable(usk_bdev_desc_get_bdev(e0.desc), false, hist_cb, NULL);
	ut_poll_threads();
	assert_int_equal(g_hist_cb_rc, 0);
	assert_false(usk_bdev_histogram_is_enabled(usk_bdev_desc_get_bdev(e0.desc)));
	ut_set_thread(1);
	env_open(&e1, "st", true);
	assert_int_equal(submit_read(&e1, buf, 0, 1), 0);
	ut_poll_threads();
	ut_set_thread(0);
	assert_int_equal(submit_read(&e0, buf, 0, 1), 0);
	ut_poll_threads();
	usk_bdev_get_device_stat(usk_bdev_desc_get_bdev(e0.desc), &g_dev_stat, dev_stat_cb, NULL);
	ut_poll_threads();
	assert_int_equal(g_dev_stat.num_read_ops, 2);
	assert_int_equal(usk_histogram_total(g_dev_stat.read_latency_hist.bucket,
					     USK_HISTOGRAM_NUM_BUCKETS),
			 0);
	/* on again: both channels bin */
	usk_bdev_histogram_enable(usk_bdev_desc_get_bdev(e0.desc), true, hist_cb, NULL);
	ut_poll_threads();
	assert_int_equal(submit_read(&e0, buf, 0, 1), 0);
	ut_poll_threads();
	ut_set_thread(1);
	assert_int_equal(submit_read(&e1, buf, 0, 1), 0);
	ut_poll_threads();
	env_close(&e1);
	ut_set_thread(0);
	usk_bdev_get_device_stat(usk_bdev_desc_get_bdev(e0.desc), &g_dev_stat, dev_stat_cb, NULL);
	ut_poll_threads();
	assert_int_equal(g_dev_stat.num_read_ops, 4);
	assert_int_equal(usk_histogram_total(g_dev_stat.read_latency_hist.bucket,
					     USK_HISTOGRAM_NUM_BUCKETS),
			 2);
	env_close(&e0);
	usk_bdev_unregister(usk_bdev_get_by_name("st"), NULL, NULL);
	ut_poll_threads();
}

static int g_wait_cb_count;
static struct io_env *g_wait_env;

static void
io_wait_cb(void *arg)
{
	char *buf = arg;

	g_wait_cb_count++;
	assert_int_equal(submit_read(g_wait_env, buf, 0, 1), 0);
}

static void
test_bdev_io_exhaustion(void **state)
{
	struct io_env e;
	struct usk_bdev_io_wait_entry entry;
	static char buf[512];
	int n = 0, rc;

	mock_bdev_create("ex", 100, 512);
	env_open(&e, "ex", false);
	while ((rc = submit_read(&e, buf, 0, 1)) == 0) {
		n++;
		assert_true(n <= 256);
	}
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(g_held_n, n);
	entry.bdev = usk_bdev_desc_get_bdev(e.desc);
	entry.cb_fn = io_wait_cb;
	entry.cb_arg = buf;
	g_wait_env = &e;
	g_wait_cb_count = 0;
	assert_int_equal(usk_bdev_queue_io_wait(entry.bdev, e.ch, &entry), 0);
	ut_poll_threads();
	assert_int_equal(g_wait_cb_count, 0);
	complete_held(0, USK_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	assert_int_equal(g_done_count, 1);
	assert_int_equal(g_wait_cb_count, 1);
	assert_int_equal(g_held_n, n + 1); /* the retried read reached the module */
	for (int i = 1; i < g_held_n; i++) {
		complete_held(i, USK_BDEV_IO_STATUS_SUCCESS);
	}
	ut_poll_threads();
	assert_int_equal(g_done_count, n + 1);
	/* With bdev_io free again, queue_io_wait refuses (retry directly). */
	assert_int_equal(usk_bdev_queue_io_wait(entry.bdev, e.ch, &entry), -EINVAL);
	env_close(&e);
	usk_bdev_unregister(usk_bdev_get_by_name("ex"), NULL, NULL);
	ut_poll_threads();
}

static void
test_split_boundary(void **state)
{
	struct ut_bdev *ub = mock_bdev_new("sp", 1000, 512);
	static char buf[20 * 512];
	struct io_env e;
	struct usk_bdev_io_stat stat;

	ub->bdev.optimal_io_boundary = 8;
	ub->bdev.split_on_optimal_io_boundary = true;
	assert_int_equal(usk_bdev_register(&ub->bdev), 0);
	ut_poll_threads();
	env_open(&e, "sp", true);
	g_complete_inline = true;
	assert_int_equal(submit_write(&e, buf, 4, 20), 0);
	ut_poll_threads();
	assert_int_equal(g_log_n, 3);
	assert_int_equal(g_log[0].offset, 4);
	assert_int_equal(g_log[0].num, 4);
	assert_ptr_equal(g_log[0].base0, buf);
	assert_int_equal(g_log[1].offset, 8);
	assert_int_equal(g_log[1].num, 8);
	assert_ptr_equal(g_log[1].base0, buf + 4 * 512);
	assert_int_equal(g_log[2].offset, 16);
	assert_int_equal(g_log[2].num, 8);
	assert_ptr_equal(g_log[2].base0, buf + 12 * 512);
	assert_int_equal(g_done_count, 1);
	assert_int_equal(g_done_success, 1);
	/* Within one boundary: no split. */
	g_log_n = 0;
	assert_int_equal(submit_write(&e, buf, 8, 8), 0);
	ut_poll_threads();
	assert_int_equal(g_log_n, 1);
	usk_bdev_get_io_stat(NULL, e.ch, &stat);
	assert_int_equal(stat.num_write_ops, 2); /* parents only */
	assert_int_equal(stat.bytes_written, 28 * 512);

	/* A child failing with an NVMe status fails the parent with that status. */
	g_log_n = 0;
	g_fail_nth = 1;
	g_nvme_sct = 1;
	g_nvme_sc = 0x82;
	assert_int_equal(submit_write(&e, buf, 4, 20), 0);
	ut_poll_threads();
	assert_int_equal(g_done_fail, 1);
	assert_int_equal(g_last_sct, 1);
	assert_int_equal(g_last_sc, 0x82);
	assert_int_equal(g_last_cdw0, 0x1234);
	env_close(&e);
	usk_bdev_unregister(&ub->bdev, NULL, NULL);
	ut_poll_threads();
}

static void
test_split_segments(void **state)
{
	struct ut_bdev *ub = mock_bdev_new("seg", 1000, 512);
	static char buf[16 * 512];
	struct iovec iov[3];
	struct io_env e;
	int i;

	ub->bdev.max_segment_size = 1024;
	ub->bdev.max_num_segments = 2;
	assert_int_equal(usk_bdev_register(&ub->bdev), 0);
	ut_poll_threads();
	env_open(&e, "seg", true);
	g_complete_inline = true;
	/* 8 blocks in one iovec: segments of 1024 bytes, 2 per child -> 2 children of 4 blocks. */
	assert_int_equal(submit_write(&e, buf, 0, 8), 0);
	ut_poll_threads();
	assert_int_equal(g_log_n, 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(g_log[i].iovcnt, 2);
		assert_int_equal(g_log[i].len0, 1024);
		assert_int_equal(g_log[i].num, 4);
		assert_int_equal(g_log[i].offset, (uint64_t)i * 4);
		assert_ptr_equal(g_log[i].base0, buf + i * 2048);
	}
	assert_int_equal(g_done_success, 1);
	/* Three small iovecs, max 2 per child. */
	g_log_n = 0;
	iov[0].iov_base = buf;
	iov[0].iov_len = 512;
	iov[1].iov_base = buf + 4096;
	iov[1].iov_len = 512;
	iov[2].iov_base = buf + 8192;
	iov[2].iov_len = 1024;
	g_in_submit = true;
	assert_int_equal(usk_bdev_readv_blocks(e.desc, e.ch, iov, 3, 10, 4, io_done, NULL), 0);
	g_in_submit = false;
	ut_poll_threads();
	assert_int_equal(g_log_n, 2);
	assert_int_equal(g_log[0].iovcnt, 2);
	assert_int_equal(g_log[0].num, 2);
	assert_int_equal(g_log[1].iovcnt, 1);
	assert_int_equal(g_log[1].num, 2);
	assert_int_equal(g_log[1].offset, 12);
	assert_ptr_equal(g_log[1].base0, buf + 8192);
	assert_int_equal(g_done_success, 2);
	env_close(&e);
	usk_bdev_unregister(&ub->bdev, NULL, NULL);
	ut_poll_threads();
}

static void
test_split_max_rw(void **state)
{
	struct ut_bdev *ub = mock_bdev_new("rw", 1000, 512);
	static char buf[10 * 512];
	struct io_env e;

	ub->bdev.max_rw_size = 4;
	assert_int_equal(usk_bdev_register(&ub->bdev), 0);
	ut_poll_threads();
	env_open(&e, "rw", true);
	/* Children are held: the parent must not complete before them. */
	assert_int_equal(submit_read(&e, buf, 0, 10), 0);
	ut_poll_threads();
	assert_int_equal(g_held_n, 3);
	assert_int_equal(g_log[2].num, 2);
	complete_held(0, USK_BDEV_IO_STATUS_SUCCESS);
	complete_held(1, USK_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	assert_int_equal(g_done_count, 0);
	complete_held(2, USK_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	assert_int_equal(g_done_success, 1);
	env_close(&e);
	usk_bdev_unregister(&ub->bdev, NULL, NULL);
	ut_poll_threads();
}

static void
test_write_zeroes_emulation(void **state)
{
	struct ut_bdev *ub = mock_bdev_new("wz", 10000, 512);
	struct io_env e;
	size_t j;

	ub->no_write_zeroes = true;
	assert_int_equal(usk_bdev_register(&ub->bdev), 0);
	ut_poll_threads();
	assert_true(usk_bdev_io_type_supported(&ub->bdev, USK_BDEV_IO_TYPE_WRITE_ZEROES));
	env_open(&e, "wz", true);
	g_complete_inline = true;
	g_in_submit = true;
	assert_int_equal(usk_bdev_write_zeroes_blocks(e.desc, e.ch, 5, 3000, io_done, NULL), 0);
	g_in_submit = false;
	ut_poll_threads();
	/* 1 MiB zero buffer = 2048 blocks per write. */
	assert_int_equal(g_log_n, 2);
	assert_int_equal(g_log[0].type, USK_BDEV_IO_TYPE_WRITE);
	assert_int_equal(g_log[0].offset, 5);
	assert_int_equal(g_log[0].num, 2048);
	assert_int_equal(g_log[1].offset, 2053);
	assert_int_equal(g_log[1].num, 952);
	for (j = 0; j < g_log[0].len0; j++) {
		assert_int_equal(((uint8_t *)g_log[0].base0)[j], 0);
	}
	assert_int_equal(g_done_success, 1);
	/* Natively supported: passes through as WRITE_ZEROES. */
	ub->no_write_zeroes = false;
	g_log_n = 0;
	assert_int_equal(usk_bdev_write_zeroes_blocks(e.desc, e.ch, 5, 3000, io_done, NULL), 0);
	ut_poll_threads();
	assert_int_equal(g_log_n, 1);
	assert_int_equal(g_log[0].type, USK_BDEV_IO_TYPE_WRITE_ZEROES);
	env_close(&e);
	usk_bdev_unregister(&ub->bdev, NULL, NULL);
	ut_poll_threads();
}

static int
submit_write_fua(struct io_env *e, struct iovec *iov, uint64_t off, uint64_t n)
{
	struct usk_bdev_ext_io_opts opts = {.size = sizeof(opts), .flags = USK_BDEV_IO_FLAG_FUA};
	int rc;

	g_in_submit = true;
	rc = usk_bdev_writev_blocks_ext(e->desc, e->ch, iov, 1, off, n, io_done, NULL, &opts);
	g_in_submit = false;
	return rc;
}

/* FUA: native on modules that say so; else write, then flush, then the callback. */
static void
test_fua(void **state)
{
	struct ut_bdev *ub = mock_bdev_new("fua", 1000, 512);
	struct usk_bdev_ext_io_opts bad = {.size = sizeof(bad), .flags = 0x80};
	char buf[4096];
	struct iovec iov = {buf, sizeof(buf)};
	struct io_env e;

	ub->bdev.write_cache = true;
	ub->bdev.optimal_io_boundary = 4;
	ub->bdev.split_on_optimal_io_boundary = true;
	assert_int_equal(usk_bdev_register(&ub->bdev), 0);
	ut_poll_threads();
	env_open(&e, "fua", true);

	/* Unknown flags and a zero size are refused before anything is submitted. */
	assert_int_equal(usk_bdev_writev_blocks_ext(e.desc, e.ch, &iov, 1, 0, 8, io_done, NULL,
						    &bad),
			 -EINVAL);
	bad.flags = USK_BDEV_IO_FLAG_FUA;
	bad.size = 0;
	assert_int_equal(usk_bdev_writev_blocks_ext(e.desc, e.ch, &iov, 1, 0, 8, io_done, NULL,
						    &bad),
			 -EINVAL);
	assert_int_equal(g_log_n, 0);

	/* Emulated: the write reaches the module without fua; the flush only after it. */
	assert_int_equal(submit_write_fua(&e, &iov, 0, 8), 0);
	ut_poll_threads();
	assert_int_equal(g_log_n, 2); /* split in two at the 4-block boundary */
	assert_int_equal(g_log[0].type, USK_BDEV_IO_TYPE_WRITE);
	assert_false(g_log[0].fua);
	assert_false(g_log[1].fua);
	complete_held(0, USK_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	assert_int_equal(g_log_n, 2); /* half the write is still in flight: no flush yet */
	complete_held(1, USK_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	assert_int_equal(g_log_n, 3);
	assert_int_equal(g_log[2].type, USK_BDEV_IO_TYPE_FLUSH);
	assert_int_equal(g_log[2].offset, 0);
	assert_int_equal(g_log[2].num, 8);
	assert_int_equal(g_done_count, 0); /* not durable yet */
	complete_held(2, USK_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	assert_int_equal(g_done_success, 1);

	/* The flush fails: the write fails with its status. */
	reset_counters();
	assert_int_equal(submit_write_fua(&e, &iov, 0, 4), 0);
	ut_poll_threads();
	complete_held(0, USK_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	assert_int_equal(g_log[1].type, USK_BDEV_IO_TYPE_FLUSH);
	usk_bdev_io_complete_nvme_status(g_held[1], 0, 0, 0x06);
	ut_poll_threads();
	assert_int_equal(g_done_fail, 1);
	assert_int_equal(g_last_sc, 0x06);

	/* The write fails: no flush, the error as is. */
	reset_counters();
	assert_int_equal(submit_write_fua(&e, &iov, 0, 4), 0);
	ut_poll_threads();
	usk_bdev_io_complete_nvme_status(g_held[0], 0, 0, 0x80);
	ut_poll_threads();
	assert_int_equal(g_log_n, 1);
	assert_int_equal(g_done_fail, 1);
	assert_int_equal(g_last_sc, 0x80);

	/* FUA write_zeroes: zeroes, then the flush. */
	reset_counters();
	g_complete_inline = true;
	bad.size = sizeof(bad);
	assert_int_equal(usk_bdev_write_zeroes_blocks_ext(e.desc, e.ch, 0, 4, io_done, NULL, &bad),
			 0);
	ut_poll_threads();
	assert_int_equal(g_log_n, 2);
	assert_int_equal(g_log[0].type, USK_BDEV_IO_TYPE_WRITE_ZEROES);
	assert_int_equal(g_log[1].type, USK_BDEV_IO_TYPE_FLUSH);
	assert_int_equal(g_done_success, 1);

	/* Native: fua on every piece of the split write, no flush. */
	reset_counters();
	g_complete_inline = true;
	ub->bdev.fua_supported = true;
	assert_int_equal(submit_write_fua(&e, &iov, 2, 8), 0);
	ut_poll_threads();
	assert_int_equal(g_log_n, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g_log[i].type, USK_BDEV_IO_TYPE_WRITE);
		assert_true(g_log[i].fua);
	}
	assert_int_equal(g_done_success, 1);
	/* And a plain write after it is not FUA (the bdev_io is reused from the cache). */
	g_log_n = 0;
	assert_int_equal(submit_write(&e, buf, 0, 4), 0);
	ut_poll_threads();
	assert_false(g_log[0].fua);

	/* No volatile cache: nothing to flush, the write is durable when it completes. */
	reset_counters();
	g_complete_inline = true;
	ub->bdev.fua_supported = false;
	ub->bdev.write_cache = false;
	assert_int_equal(submit_write_fua(&e, &iov, 0, 4), 0);
	ut_poll_threads();
	assert_int_equal(g_log_n, 1);
	assert_false(g_log[0].fua);
	assert_int_equal(g_done_success, 1);

	env_close(&e);
	usk_bdev_unregister(&ub->bdev, NULL, NULL);
	ut_poll_threads();
}

static void
test_nvme_status_passthrough(void **state)
{
	struct io_env e;
	char buf[512];

	mock_bdev_create("nv", 100, 512);
	env_open(&e, "nv", true);
	g_complete_inline = true;
	g_fail_nth = 0;
	g_nvme_sct = 2;
	g_nvme_sc = 0x81;
	assert_int_equal(submit_read(&e, buf, 0, 1), 0);
	ut_poll_threads();
	assert_int_equal(g_done_fail, 1);
	assert_int_equal(g_last_sct, 2);
	assert_int_equal(g_last_sc, 0x81);
	assert_int_equal(g_last_cdw0, 0x1234);
	/* Plain failure maps to Internal Error; success to 0/0. */
	g_fail_nth = -1;
	assert_int_equal(submit_read(&e, buf, 0, 1), 0);
	ut_poll_threads();
	assert_int_equal(g_last_sct, 0);
	assert_int_equal(g_last_sc, 0);
	env_close(&e);
	usk_bdev_unregister(usk_bdev_get_by_name("nv"), NULL, NULL);
	ut_poll_threads();
}

static void
test_module_nomem_retry(void **state)
{
	struct io_env e;
	char buf[512];

	mock_bdev_create("nm", 100, 512);
	env_open(&e, "nm", true);
	g_complete_inline = true;
	g_nomem_count = 2;
	assert_int_equal(submit_read(&e, buf, 0, 1), 0);
	ut_poll_threads();
	assert_int_equal(g_done_count, 0);
	assert_int_equal(g_log_n, 1);
	ut_delay_us(100);
	ut_poll_threads();
	ut_delay_us(100);
	ut_poll_threads();
	assert_int_equal(g_log_n, 3);
	assert_int_equal(g_done_success, 1);
	env_close(&e);
	usk_bdev_unregister(usk_bdev_get_by_name("nm"), NULL, NULL);
	ut_poll_threads();
}

/* New I/O waits behind I/O that the module refused with NOMEM: FIFO, no starvation. */
static void
test_module_nomem_fifo(void **state)
{
	struct io_env e;
	char buf[3][512];

	mock_bdev_create("nf", 100, 512);
	env_open(&e, "nf", true);
	g_complete_inline = true;
	g_nomem_count = 1;
	assert_int_equal(submit_read(&e, buf[0], 0, 1), 0);
	ut_poll_threads();
	assert_int_equal(g_log_n, 1); /* refused, now queued */
	/* The module would accept these, but the queued one must go first. */
	assert_int_equal(submit_read(&e, buf[1], 5, 1), 0);
	assert_int_equal(submit_read(&e, buf[2], 9, 1), 0);
	assert_int_equal(g_log_n, 1);
	assert_int_equal(g_done_count, 0);
	ut_delay_us(100);
	ut_poll_threads();
	assert_int_equal(g_log_n, 4);
	assert_int_equal(g_log[1].offset, 0);
	assert_int_equal(g_log[2].offset, 5);
	assert_int_equal(g_log[3].offset, 9);
	assert_int_equal(g_done_success, 3);
	env_close(&e);
	usk_bdev_unregister(usk_bdev_get_by_name("nf"), NULL, NULL);
	ut_poll_threads();
}

static int g_reset_done;
static bool g_reset_success;

static void
reset_done(struct usk_bdev_io *io, bool success, void *arg)
{
	g_reset_done++;
	g_reset_success = success;
	usk_bdev_free_io(io);
}

static void
test_reset_with_io_in_flight(void **state)
{
	struct io_env e0, e1;
	char buf[512];
	int i;

	mock_bdev_create("rs", 100, 512);
	env_open(&e0, "rs", true);
	ut_set_thread(1);
	env_open(&e1, "rs", true);
	assert_int_equal(submit_read(&e1, buf, 0, 1), 0);
	ut_set_thread(0);
	assert_int_equal(submit_read(&e0, buf, 0, 1), 0);
	ut_poll_threads();
	assert_int_equal(g_held_n, 2);
	g_reset_done = 0;
	assert_int_equal(usk_bdev_reset(e0.desc, e0.ch, reset_done, NULL), 0);
	for (i = 0; i < 5; i++) {
		ut_delay_us(100);
		ut_poll_threads();
	}
	assert_int_equal(g_reset_done, 0); /* waits for both channels' I/O */
	assert_int_equal(g_log_n, 2);	   /* reset not yet sent to the module */
	/* New I/O during the reset is aborted. */
	assert_int_equal(submit_read(&e0, buf, 0, 1), 0);
	ut_poll_threads();
	assert_int_equal(g_done_fail, 1);
	ut_set_thread(1);
	complete_held(0, USK_BDEV_IO_STATUS_SUCCESS);
	ut_set_thread(0);
	complete_held(1, USK_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	assert_int_equal(g_done_success, 2);
	ut_delay_us(100);
	ut_poll_threads();
	ut_delay_us(100);
	ut_poll_threads();
	assert_int_equal(g_reset_done, 1);
	assert_true(g_reset_success);
	assert_int_equal(g_log[2].type, USK_BDEV_IO_TYPE_RESET);
	/* I/O flows again. */
	g_complete_inline = true;
	assert_int_equal(submit_read(&e0, buf, 0, 1), 0);
	ut_poll_threads();
	assert_int_equal(g_done_success, 3);
	ut_set_thread(1);
	env_close(&e1);
	ut_set_thread(0);
	env_close(&e0);
	usk_bdev_unregister(usk_bdev_get_by_name("rs"), NULL, NULL);
	ut_poll_threads();
}

static void
test_hot_remove_with_io(void **state)
{
	struct ut_bdev *ub = mock_bdev_create("hr", 100, 512);
	struct io_env e;
	char buf[512];

	ut_set_thread(1);
	env_open(&e, "hr", true);
	assert_int_equal(submit_read(&e, buf, 0, 1), 0);
	ut_set_thread(0);
	g_unreg_count = 0;
	memset(g_event_count, 0, sizeof(g_event_count));
	usk_bdev_unregister(&ub->bdev, unreg_cb, NULL);
	ut_poll_threads();
	assert_int_equal(g_event_count[USK_BDEV_EVENT_REMOVE], 1);
	assert_ptr_equal(g_event_thread, ut_get_thread(1));
	assert_int_equal(g_unreg_count, 0);
	/* Opening it again is refused while it is being removed. */
	{
		struct usk_bdev_desc *d;

		assert_int_equal(usk_bdev_open_ext("hr", false, ev_cb, NULL, &d), -ENODEV);
	}
	/* The in-flight I/O still completes. */
	ut_set_thread(1);
	complete_held(0, USK_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	assert_int_equal(g_done_success, 1);
	assert_ptr_equal(g_done_thread, ut_get_thread(1));
	env_close(&e);
	ut_set_thread(0);
	ut_poll_threads();
	assert_int_equal(g_unreg_count, 1);
	assert_int_equal(g_unreg_rc, 0);
	assert_int_equal(g_destruct_count, 1);
	assert_null(usk_bdev_get_by_name("hr"));
}

static void
test_hot_remove_close_with_io(void **state)
{
	struct ut_bdev *ub = mock_bdev_create("hz", 100, 512);
	struct io_env e;
	char buf[512];

	ut_set_thread(1);
	env_open(&e, "hz", true);
	assert_int_equal(submit_read(&e, buf, 0, 1), 0);
	assert_int_equal(submit_read(&e, buf, 1, 1), 0);
	ut_set_thread(0);
	g_unreg_count = 0;
	g_destruct_count = 0;
	usk_bdev_unregister(&ub->bdev, unreg_cb, NULL);
	ut_poll_threads();
	assert_int_equal(g_event_count[USK_BDEV_EVENT_REMOVE], 1);
	/* A careless user puts the channel and closes at once, I/O still in the module. */
	ut_set_thread(1);
	env_close(&e);
	ut_set_thread(0);
	ut_poll_threads();
	assert_int_equal(g_unreg_count, 0); /* waits for the in-flight I/O */
	assert_int_equal(g_destruct_count, 0);
	ut_set_thread(1);
	complete_held(0, USK_BDEV_IO_STATUS_SUCCESS);
	ut_poll_threads();
	assert_int_equal(g_done_count, 1);
	assert_int_equal(g_unreg_count, 0);
	ut_set_thread(1);
	complete_held(1, USK_BDEV_IO_STATUS_FAILED);
	ut_set_thread(0);
	ut_poll_threads();
	assert_int_equal(g_done_count, 2);
	assert_int_equal(g_done_fail, 1);
	assert_int_equal(g_unreg_count, 1);
	assert_int_equal(g_destruct_count, 1);
}

static void
test_resize_event(void **state)
{
	struct ut_bdev *ub = mock_bdev_create("rz", 100, 512);
	struct io_env e;

	ut_set_thread(2);
	env_open(&e, "rz", false);
	ut_set_thread(0);
	memset(g_event_count, 0, sizeof(g_event_count));
	assert_int_equal(usk_bdev_notify_blockcnt_change(&ub->bdev, 200), 0);
	ut_poll_threads();
	assert_int_equal(g_event_count[USK_BDEV_EVENT_RESIZE], 1);
	assert_ptr_equal(g_event_thread, ut_get_thread(2));
	assert_int_equal(usk_bdev_get_num_blocks(&ub->bdev), 200);
	assert_int_equal(usk_bdev_notify_blockcnt_change(&ub->bdev, 50), -EBUSY);
	ut_set_thread(2);
	env_close(&e);
	ut_set_thread(0);
	usk_bdev_unregister(&ub->bdev, NULL, NULL);
	ut_poll_threads();
}

static int g_qos_set;

static void
qos_set_cb(void *arg, int status)
{
	assert_int_equal(status, 0);
	g_qos_set++;
}

static void
test_qos_iops(void **state)
{
	struct ut_bdev *ub = mock_bdev_create("qos", 100, 512);
	uint64_t limits[USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES] = {1000, UINT64_MAX, UINT64_MAX,
							      UINT64_MAX};
	uint64_t got[USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	struct io_env e0, e1;
	char buf[512];
	int i;

	env_open(&e0, "qos", true);
	ut_set_thread(1);
	env_open(&e1, "qos", true);
	ut_set_thread(0);
	g_qos_set = 0;
	usk_bdev_set_qos_rate_limits(&ub->bdev, limits, qos_set_cb, NULL);
	ut_poll_threads();
	assert_int_equal(g_qos_set, 1);
	usk_bdev_get_qos_rate_limits(&ub->bdev, got);
	assert_int_equal(got[0], 1000);
	assert_int_equal(got[1], 0);
	g_complete_inline = true;
	/* 1000 IO/s = 1 I/O per 1 ms timeslice. */
	for (i = 0; i < 3; i++) {
		assert_int_equal(submit_read(&e0, buf, 0, 1), 0);
	}
	ut_set_thread(1);
	assert_int_equal(submit_read(&e1, buf, 0, 1), 0); /* forwarded to the QoS thread */
	ut_set_thread(0);
	ut_poll_threads();
	assert_int_equal(g_log_n, 1);
	assert_int_equal(g_done_success, 1);
	ut_delay_us(1000);
	ut_poll_threads();
	assert_int_equal(g_log_n, 2);
	ut_delay_us(1000);
	ut_poll_threads();
	ut_delay_us(1000);
	ut_poll_threads();
	assert_int_equal(g_log_n, 4);
	assert_int_equal(g_done_success, 4);
	/* The forwarded one completed back on thread 1 (it was last in the queue). */
	assert_ptr_equal(g_done_thread, ut_get_thread(1));
	/* Disable: everything passes at once. */
	limits[0] = 0;
	usk_bdev_set_qos_rate_limits(&ub->bdev, limits, qos_set_cb, NULL);
	ut_poll_threads();
	for (i = 0; i < 5; i++) {
		assert_int_equal(submit_read(&e0, buf, 0, 1), 0);
	}
	ut_poll_threads();
	assert_int_equal(g_done_success, 9);
	ut_set_thread(1);
	env_close(&e1);
	ut_set_thread(0);
	env_close(&e0);
	usk_bdev_unregister(&ub->bdev, NULL, NULL);
	ut_poll_threads();
}

static void
test_qos_bandwidth(void **state)
{
	struct ut_bdev *ub = mock_bdev_create("qbw", 10000, 512);
	/* 1 MiB/s write = 1048 bytes per ms slice: one 4 KiB write overdraws ~4 slices. */
	uint64_t limits[USK_BDEV_QOS_NUM_RATE_LIMIT_TYPES] = {UINT64_MAX, UINT64_MAX, UINT64_MAX,
							      1024 * 1024};
	static char buf[4096];
	struct io_env e;
	int i;

	env_open(&e, "qbw", true);
	usk_bdev_set_qos_rate_limits(&ub->bdev, limits, qos_set_cb, NULL);
	ut_poll_threads();
	g_complete_inline = true;
	assert_int_equal(submit_write(&e, buf, 0, 8), 0);
	assert_int_equal(submit_write(&e, buf, 0, 8), 0);
	assert_int_equal(submit_read(&e, buf, 0, 8), 0); /* queued behind the write (FIFO) */
	ut_poll_threads();
	assert_int_equal(g_done_success, 1);
	/* 1048 bytes per slice: the 4096-byte overdraft takes 3 slices to pay back. */
	for (i = 0; i < 2; i++) {
		ut_delay_us(1000);
		ut_poll_threads();
	}
	assert_int_equal(g_done_success, 1);
	ut_delay_us(1000);
	ut_poll_threads();
	assert_int_equal(g_done_success, 3);
	env_close(&e);
	usk_bdev_unregister(&ub->bdev, NULL, NULL);
	ut_poll_threads();
}

/* Pools created on first use: the layer set up without buf_pools_at_init. */
static int
setup_lazy_bufs(void **state)
{
	struct usk_bdev_opts opts;
	int rc = 1;

	assert_int_equal(ut_allocate_threads(3), 0);
	ut_set_thread(0);
	usk_bdev_get_opts(&opts, sizeof(opts));
	opts.bdev_io_pool_size = 256;
	opts.bdev_io_cache_size = 16;
	opts.small_buf_pool_size = 32;
	opts.large_buf_pool_size = 8;
	opts.buf_pools_at_init = false;
	assert_int_equal(usk_bdev_set_opts(&opts), 0);
	usk_bdev_initialize(ut_bdev_layer_init_cb, &rc);
	ut_poll_threads();
	assert_int_equal(rc, 0);
	reset_counters();
	return 0;
}

/*
 * The first get_buf must not create the ~230 MiB of pools on the reactor: it returns at once,
 * a helper thread creates them, and the channel's retry poller then hands the buffer out.
 */
static void
test_get_buf_lazy_pools(void **state)
{
	struct io_env e;
	int n;

	mock_bdev_create("lazy", 1000, 512);
	env_open(&e, "lazy", false);
	g_use_get_buf = true;
	g_complete_inline = true;
	g_in_submit = true;
	assert_int_equal(usk_bdev_readv_blocks(e.desc, e.ch, NULL, 0, 0, 8, io_done, NULL), 0);
	g_in_submit = false;
	/* Bounded wait for the helper thread (real time), stepping the retry poller. */
	for (n = 0; n < 10000 && g_done_count == 0; n++) {
		usleep(500);
		ut_delay_us(1000); /* > the retry poller period */
		ut_poll_threads();
	}
	assert_int_equal(g_done_success, 1);
	assert_non_null(g_last_read_base);
	/* Created now: the next one gets its buffer inline. */
	assert_int_equal(usk_bdev_readv_blocks(e.desc, e.ch, NULL, 0, 0, 16, io_done, NULL), 0);
	ut_poll_threads();
	assert_int_equal(g_done_success, 2);
	env_close(&e);
	usk_bdev_unregister(usk_bdev_get_by_name("lazy"), NULL, NULL);
	ut_poll_threads();
}

static void
test_get_buf(void **state)
{
	struct io_env e;
	struct usk_bdev_buf_stats st;
	int i, n = 40;

	mock_bdev_create("gb", 1000, 512);
	env_open(&e, "gb", false);
	g_use_get_buf = true;
	g_complete_inline = true;
	g_in_submit = true;
	assert_int_equal(usk_bdev_readv_blocks(e.desc, e.ch, NULL, 0, 0, 8, io_done, NULL), 0);
	g_in_submit = false;
	ut_poll_threads();
	assert_int_equal(g_done_success, 1);
	assert_non_null(g_last_read_base);
	/* Exhaust the 32 small buffers: held I/O keeps its buffer; the rest wait and retry. */
	g_complete_inline = false;
	for (i = 0; i < n; i++) {
		assert_int_equal(usk_bdev_readv_blocks(e.desc, e.ch, NULL, 0, 0, 8, io_done, NULL),
				 0);
	}
	ut_poll_threads();
	assert_true(g_held_n < n);
	usk_bdev_get_buf_stats(&st);
	assert_true(st.small_exhausted > 0);
	assert_true(st.queued_now > 0);
	/* Completing (and freeing) releases buffers to the waiters: nothing hangs. */
	for (i = 0; i < n * 4 && g_done_count < n + 1; i++) {
		int k, held = g_held_n;

		for (k = 0; k < held; k++) {
			complete_held(k, USK_BDEV_IO_STATUS_SUCCESS);
		}
		memmove(g_held, g_held + held, (size_t)(g_held_n - held) * sizeof(g_held[0]));
		g_held_n -= held;
		ut_delay_us(100);
		ut_poll_threads();
	}
	assert_int_equal(g_done_success, n + 1);
	usk_bdev_get_buf_stats(&st);
	assert_true(st.retries > 0);
	assert_int_equal(st.queued_now, 0);
	env_close(&e);
	usk_bdev_unregister(usk_bdev_get_by_name("gb"), NULL, NULL);
	ut_poll_threads();
}

static int g_abort_done;
static bool g_abort_success;

static void
abort_done(struct usk_bdev_io *io, bool success, void *arg)
{
	g_abort_done++;
	g_abort_success = success;
	usk_bdev_free_io(io);
}

static void
test_abort_queued(void **state)
{
	struct io_env e;
	char buf[512];
	int tag = 7;

	mock_bdev_create("ab", 100, 512);
	env_open(&e, "ab", true);
	g_complete_inline = true;
	g_nomem_count = 1;
	assert_int_equal(usk_bdev_read_blocks(e.desc, e.ch, buf, 0, 1, io_done, &tag), 0);
	ut_poll_threads(); /* now in the NOMEM retry queue */
	assert_int_equal(usk_bdev_abort(e.desc, e.ch, &tag, abort_done, NULL), 0);
	ut_poll_threads();
	assert_int_equal(g_abort_done, 1);
	assert_true(g_abort_success);
	assert_int_equal(g_done_fail, 1);
	assert_int_equal(g_last_sc, 0x07); /* Command Abort Requested */
	/* Nothing left to abort. */
	assert_int_equal(usk_bdev_abort(e.desc, e.ch, &tag, abort_done, NULL), 0);
	ut_poll_threads();
	assert_false(g_abort_success);
	env_close(&e);
	usk_bdev_unregister(usk_bdev_get_by_name("ab"), NULL, NULL);
	ut_poll_threads();
}

static void
test_opts(void **state)
{
	struct usk_bdev_opts o;

	usk_bdev_get_opts(&o, sizeof(o));
	assert_int_equal(o.bdev_io_pool_size, 256);
	/* Already initialised. */
	assert_int_equal(usk_bdev_set_opts(&o), -EBUSY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_opts, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_register_names, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_examine, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_claims, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_basic_io_and_iostat, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_byte_api, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_device_stat_multi_channel, setup,
						ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_bdev_io_exhaustion, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_split_boundary, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_split_segments, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_split_max_rw, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_write_zeroes_emulation, setup,
						ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_fua, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_nvme_status_passthrough, setup,
						ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_module_nomem_retry, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_module_nomem_fifo, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_reset_with_io_in_flight, setup,
						ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_hot_remove_with_io, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_hot_remove_close_with_io, setup,
						ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_resize_event, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_qos_iops, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_qos_bandwidth, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_get_buf, setup, ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_get_buf_lazy_pools, setup_lazy_bufs,
						ut_bdev_teardown),
		cmocka_unit_test_setup_teardown(test_abort_queued, setup, ut_bdev_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
