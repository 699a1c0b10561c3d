/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests shared by the file bdevs (aio, uring): create errors, data reaches the file,
 * flush, rescan, delete. The includer defines FILE_CREATE(name, filename, block_size,
 * readonly, err, err_len), FILE_DELETE, FILE_RESCAN and MODULE_NAME first.
 */
#ifndef USK_FILE_BDEV_UT_H
#define USK_FILE_BDEV_UT_H

#include <fcntl.h>
#include <unistd.h>

#include "vbdev_ut_helpers.h"
#include "file_common.h"

static char g_path[64];
static int g_del_rc = 1;

static void
del_cb(void *arg, int rc)
{
	g_del_rc = rc;
}

/* Completions come from the kernel: poll until the I/O is done (bounded). */
static bool
wait_done(void)
{
	assert_int_equal(ut_poll_threads_until(&g_io_done, 1, 1000), 1);
	return g_io_success;
}

/* Poll until n I/O are done (bounded); true when all succeeded. */
static bool
wait_n(int n)
{
	static int ok;

	assert_int_equal(ut_poll_threads_until(&g_io_done, n, 2000), n);
	ok = g_io_success;
	return ok;
}

static int g_flush_ok;

static void
count_cb(struct usk_bdev_io *io, bool success, void *arg)
{
	g_io_done++;
	g_flush_ok += success;
	usk_bdev_free_io(io);
}

static int
file_setup(void **state)
{
	int fd;

	snprintf(g_path, sizeof(g_path), "/tmp/usk_%s_ut.%d.img", MODULE_NAME, (int)getpid());
	fd = open(g_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1024 * 1024), 0);
	close(fd);
	return ut_setup(state);
}

static int
file_teardown(void **state)
{
	int rc = ut_teardown(state);

	unlink(g_path);
	return rc;
}

static void
test_create_errors(void **state)
{
	char err[256];

	assert_int_equal(FILE_CREATE("F0", "/nonexistent/x.img", 0, false, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "filename"));
	assert_int_equal(FILE_CREATE("F0", g_path, 513, false, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "block_size"));
	assert_int_equal(FILE_CREATE("F0", "/tmp", 0, false, err, sizeof(err)) < 0, 1);
	assert_non_null(strstr(err, "filename"));
	assert_int_equal(FILE_CREATE("F0", g_path, 0, false, err, sizeof(err)), 0);
	assert_int_equal(FILE_CREATE("F0", g_path, 0, false, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "name"));
	assert_string_equal(usk_bdev_get_module_name(usk_bdev_get_by_name("F0")), MODULE_NAME);
	assert_int_equal(FILE_DELETE("nope", del_cb, NULL), -ENODEV);
	assert_int_equal(FILE_RESCAN("nope"), -ENODEV);
	g_del_rc = 1;
	assert_int_equal(FILE_DELETE("F0", del_cb, NULL), 0);
	ut_poll_threads();
	assert_int_equal(g_del_rc, 0);
	assert_null(usk_bdev_get_by_name("F0"));
}

static void
test_io_reaches_file(void **state)
{
	struct usk_bdev_desc *d = NULL;
	struct usk_io_channel *ch;
	struct usk_bdev *b;
	char err[256], fbuf[4096];
	uint8_t *buf;
	int fd;

	assert_int_equal(FILE_CREATE("F1", g_path, 4096, false, err, sizeof(err)), 0);
	b = usk_bdev_get_by_name("F1");
	assert_int_equal(usk_bdev_get_num_blocks(b), 256);
	assert_int_equal(usk_bdev_open_ext("F1", true, ut_ev_cb, NULL, &d), 0);
	ch = usk_bdev_get_io_channel(d);
	buf = usk_dma_zmalloc(8192, 4096, NULL);
	memset(buf, 'u', 8192);
	g_io_done = 0;
	assert_int_equal(usk_bdev_write_blocks(d, ch, buf, 3, 2, ut_io_cb, NULL), 0);
	assert_true(wait_done());
	g_io_done = 0;
	assert_int_equal(usk_bdev_flush_blocks(d, ch, 0, 256, ut_io_cb, NULL), 0);
	assert_true(wait_done());
	/* Another reader of the file sees the data at 3 * 4096. */
	fd = open(g_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, fbuf, sizeof(fbuf), 4 * 4096), sizeof(fbuf));
	close(fd);
	assert_memory_equal(fbuf, buf, sizeof(fbuf));
	/* And the bdev reads it back. */
	memset(buf, 0, 8192);
	g_io_done = 0;
	assert_int_equal(usk_bdev_read_blocks(d, ch, buf, 3, 2, ut_io_cb, NULL), 0);
	assert_true(wait_done());
	assert_memory_equal(buf + 4096, fbuf, 4096);

	/* Growing the file and rescanning resizes the bdev. */
	fd = open(g_path, O_RDWR);
	assert_int_equal(ftruncate(fd, 2 * 1024 * 1024), 0);
	close(fd);
	assert_int_equal(FILE_RESCAN("F1"), 0);
	ut_poll_threads();
	assert_int_equal(usk_bdev_get_num_blocks(b), 512);

	usk_put_io_channel(ch);
	ut_poll_threads();
	usk_bdev_close(d);
	usk_dma_free(buf);
}

/*
 * Flush coalescing: a flush submitted after a sync was handed to the kernel must not be
 * completed by that sync (it may have begun before the flush's writes completed), only by the
 * next one; one submitted while the sync is still only prepared may share it.
 */
static void
test_flush_coalescing(void **state)
{
	struct usk_file_flush_queue q = {};
	struct usk_file_io io[6];
	struct usk_file_io *done;
	bool next;

	assert_true(usk_file_flush_enqueue(&q, &io[0]));  /* sync 1 prepared for io0 */
	assert_false(usk_file_flush_enqueue(&q, &io[1])); /* the kernel has not seen it: rides */
	usk_file_flush_sync_started(&q);		  /* sync 1 handed to the kernel */
	assert_false(usk_file_flush_enqueue(&q, &io[2])); /* after sync 1 began: waits */
	assert_false(usk_file_flush_enqueue(&q, &io[3]));
	done = usk_file_flush_sync_done(&q, &next); /* sync 1 covers io0, io1 only */
	assert_ptr_equal(done, &io[0]);
	assert_ptr_equal(done->next, &io[1]);
	assert_null(io[1].next);
	assert_true(next); /* sync 2 prepared for io2, io3 */
	assert_false(q.sync_started);
	usk_file_flush_sync_started(&q);
	assert_false(usk_file_flush_enqueue(&q, &io[4])); /* after sync 2 began: waits */
	done = usk_file_flush_sync_done(&q, &next);
	assert_ptr_equal(done, &io[2]);
	assert_ptr_equal(done->next, &io[3]);
	assert_null(io[3].next);
	assert_true(next); /* sync 3 for io4 */
	usk_file_flush_sync_started(&q);
	done = usk_file_flush_sync_done(&q, &next);
	assert_ptr_equal(done, &io[4]);
	assert_null(done->next);
	assert_false(next);
	assert_false(q.sync_inflight);
	assert_int_equal(q.syncs, 3);
	assert_true(usk_file_flush_enqueue(&q, &io[5])); /* idle again: starts at once */
	assert_int_equal(q.syncs, 4);
}

/*
 * Flushes and FUA writes through the module: all complete, the data is in the file. With
 * helper set, the disk is moved to the sync thread first (as after the kernel refused
 * IOCB_CMD_FDSYNC) and its fdatasync calls are counted.
 */
static void
flush_and_fua(bool helper)
{
	struct usk_bdev_ext_io_opts fua = {.size = sizeof(fua), .flags = USK_BDEV_IO_FLAG_FUA};
	struct usk_bdev_desc *d = NULL;
	struct usk_io_channel *ch;
	struct usk_file_disk *disk;
	struct usk_bdev *b;
	char err[256], fbuf[4096];
	uint8_t *buf;
	struct iovec iov;
	int fd;

	assert_int_equal(FILE_CREATE("FF", g_path, 4096, false, err, sizeof(err)), 0);
	b = usk_bdev_get_by_name("FF");
	assert_true(usk_bdev_has_write_cache(b));
	disk = b->ctxt;
	disk->kernel_sync_unsupported = helper;
	assert_int_equal(usk_bdev_open_ext("FF", true, ut_ev_cb, NULL, &d), 0);
	ch = usk_bdev_get_io_channel(d);
	buf = usk_dma_zmalloc(4096, 4096, NULL);
	memset(buf, 'f', 4096);
	iov.iov_base = buf;
	iov.iov_len = 4096;

	/* A FUA write and 8 flushes in flight together, on one channel. */
	g_io_done = 0;
	g_flush_ok = 0;
	assert_int_equal(usk_bdev_writev_blocks_ext(d, ch, &iov, 1, 9, 1, count_cb, NULL, &fua), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(usk_bdev_flush_blocks(d, ch, 0, 256, count_cb, NULL), 0);
	}
	wait_n(9);
	assert_int_equal(g_flush_ok, 9);
	if (helper) {
		/*
		 * Coalesced: the 8 flushes arrive in one burst and share at most two syncs (the
		 * helper may start the first as soon as flush 1 arrives; the rest wait for the
		 * second). The FUA write's flush comes once its write completed and may need a
		 * third. Without coalescing there would be 9.
		 */
		uint64_t syncs = __atomic_load_n(&disk->sync_helper.syncs, __ATOMIC_RELAXED);

		assert_true(syncs >= 1 && syncs <= 3);
	} else {
		assert_false(disk->sync_helper.started);
	}
	fd = open(g_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, fbuf, sizeof(fbuf), 9 * 4096), sizeof(fbuf));
	close(fd);
	assert_memory_equal(fbuf, buf, sizeof(fbuf));

	usk_put_io_channel(ch);
	ut_poll_threads();
	usk_bdev_close(d);
	assert_int_equal(FILE_DELETE("FF", NULL, NULL), 0);
	ut_poll_threads();
	usk_dma_free(buf);
}

static void
test_flush_and_fua(void **state)
{
	flush_and_fua(false);
}

static __attribute__((unused)) void
test_flush_on_sync_thread(void **state)
{
	flush_and_fua(true);
}

#endif
