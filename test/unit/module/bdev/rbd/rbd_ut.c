/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the rbd bdev against a fake librbd whose completions come from a thread of its
 * own: clusters (register, duplicate, unreachable, unregister while used), create errors naming
 * the cluster / pool / image, data through the MPSC completion ring on the channel's thread,
 * a failed I/O, unmap / write_zeroes / flush / reset, resize, delete, module fini.
 */
#include <pthread.h>
#include <unistd.h>

#include "vbdev_ut_helpers.h"
#include "rbd.h"
#include "rbd_fake.h"
#include "usk/thread.h"

static int g_cb_rc;
static int g_cb_count;
static char g_cb_err[512];
static struct usk_bdev *g_cb_bdev;

static void
rbd_cb(void *arg, int rc, const char *err)
{
	g_cb_rc = rc;
	g_cb_count++;
	snprintf(g_cb_err, sizeof(g_cb_err), "%s", err);
}

static void
create_cb(void *arg, struct usk_bdev *bdev, int rc, const char *err)
{
	g_cb_bdev = bdev;
	rbd_cb(arg, rc, err);
}

static void
del_cb(void *arg, int rc)
{
	rbd_cb(arg, rc, "");
}

/* Poll the usk threads until *counter reaches want (the worker / fake librbd run meanwhile). */
static void
wait_for(int *counter, int want)
{
	for (int i = 0; i < 10000 && *counter < want; i++) {
		ut_poll_threads();
		if (*counter < want) {
			usleep(200);
		}
	}
	assert_int_equal(*counter, want);
}

static int
setup(void **state)
{
	fake_reset();
	g_cb_count = 0;
	return ut_setup(state);
}

static void
fini_cb(void *arg)
{
	*(bool *)arg = true;
}

static int
teardown(void **state)
{
	int done = 0;

	ut_set_thread(0);
	usk_bdev_finish(fini_cb, &done);
	/* The module's fini shuts the clusters down on its worker: wait for it. */
	wait_for(&done, 1);
	ut_free_threads();
	assert_int_equal(fake_open_images(), 0);
	return 0;
}

static int
register_c0(void)
{
	struct usk_rbd_cluster_opts o = {.name = "c0", .config_file = "/etc/ceph/ceph.conf"};
	int before = g_cb_count;
	int rc = usk_rbd_register_cluster(&o, rbd_cb, NULL);

	if (rc == 0) {
		wait_for(&g_cb_count, before + 1);
		rc = g_cb_rc;
	}
	return rc;
}

static struct usk_bdev *
create(const char *name, const char *cluster, const char *pool, const char *image)
{
	struct usk_rbd_bdev_opts o = {.name = name,
				      .pool_name = pool,
				      .rbd_name = image,
				      .block_size = 512,
				      .cluster_name = cluster};
	int before = g_cb_count;

	g_cb_bdev = NULL;
	assert_int_equal(usk_rbd_bdev_create(&o, create_cb, NULL), 0);
	wait_for(&g_cb_count, before + 1);
	return g_cb_bdev;
}

static void
test_clusters(void **state)
{
	struct usk_rbd_cluster_opts o = {.name = "c0"};
	json_t *info;

	assert_int_equal(register_c0(), 0);
	assert_int_equal(usk_rbd_register_cluster(&o, rbd_cb, NULL), -EEXIST);
	o.name = "";
	assert_int_equal(usk_rbd_register_cluster(&o, rbd_cb, NULL), -EINVAL);
	o.name = "c9";
	o.core_mask = "0xZ";
	assert_int_equal(usk_rbd_register_cluster(&o, rbd_cb, NULL), -EINVAL);
	info = usk_rbd_get_clusters_info("c0");
	assert_non_null(info);
	assert_string_equal(json_string_value(json_object_get(info, "config_file")),
			    "/etc/ceph/ceph.conf");
	json_decref(info);
	assert_null(usk_rbd_get_clusters_info("nope"));

	/* Unreachable: the error names the cluster, the monitors and the reason; not listed. */
	g_fake_connect_rc = -ETIMEDOUT;
	json_t *cfg = json_pack("{s:s}", "mon_host", "127.0.0.1:1");
	o = (struct usk_rbd_cluster_opts){.name = "down", .config = cfg};
	assert_int_equal(usk_rbd_register_cluster(&o, rbd_cb, NULL), 0);
	wait_for(&g_cb_count, 2);
	assert_int_equal(g_cb_rc, -ETIMEDOUT);
	assert_non_null(strstr(g_cb_err, "cluster 'down'"));
	assert_non_null(strstr(g_cb_err, "127.0.0.1:1"));
	assert_non_null(strstr(g_cb_err, "timed out"));
	assert_null(usk_rbd_get_clusters_info("down"));
	g_fake_connect_rc = 0;
	/* A bad config key is named. */
	json_object_set_new(cfg, "bogus_option", json_string("1"));
	o.name = "bad";
	assert_int_equal(usk_rbd_register_cluster(&o, rbd_cb, NULL), 0);
	wait_for(&g_cb_count, 3);
	assert_non_null(strstr(g_cb_err, "config key 'bogus_option'"));
	json_decref(cfg);

	assert_int_equal(usk_rbd_unregister_cluster("nope", rbd_cb, NULL), -ENOENT);
	assert_int_equal(usk_rbd_unregister_cluster("c0", rbd_cb, NULL), 0);
	wait_for(&g_cb_count, 4);
	assert_int_equal(g_cb_rc, 0);
	assert_null(usk_rbd_get_clusters_info("c0"));
}

static void
test_create_errors(void **state)
{
	struct usk_rbd_bdev_opts o = {.pool_name = "rbd", .rbd_name = "i0", .block_size = 1000};

	fake_image_add("rbd", "i0", 1 << 20);
	assert_int_equal(usk_rbd_bdev_create(&o, create_cb, NULL), -EINVAL);
	o.block_size = 512;
	o.cluster_name = "nope";
	assert_int_equal(usk_rbd_bdev_create(&o, create_cb, NULL), -ENODEV);
	assert_int_equal(register_c0(), 0);
	assert_null(create("R0", "c0", "rbd", "missing"));
	assert_int_equal(g_cb_rc, -ENOENT);
	assert_non_null(strstr(g_cb_err, "cluster 'c0': rbd_name 'rbd/missing'"));
	assert_null(create("R0", "c0", "nopool", "i0"));
	assert_non_null(strstr(g_cb_err, "pool_name 'nopool'"));
	/* A bdev with its own connection to an unreachable cluster names the bdev. */
	g_fake_connect_rc = -ETIMEDOUT;
	assert_null(create("R0", NULL, "rbd", "i0"));
	assert_non_null(strstr(g_cb_err, "bdev 'R0': cannot connect"));
	g_fake_connect_rc = 0;
	assert_int_equal(fake_open_images(), 0);
	/* Default name, and the cluster cannot go while a bdev uses it. */
	assert_non_null(create(NULL, "c0", "rbd", "i0"));
	assert_string_equal(g_cb_bdev->name, "Ceph0");
	assert_true(g_cb_bdev->write_cache);
	assert_int_equal(usk_rbd_unregister_cluster("c0", rbd_cb, NULL), -EBUSY);
	o = (struct usk_rbd_bdev_opts){.name = "Ceph0",
				       .pool_name = "rbd",
				       .rbd_name = "i0",
				       .block_size = 512,
				       .cluster_name = "c0"};
	assert_int_equal(usk_rbd_bdev_create(&o, create_cb, NULL), -EEXIST);
	assert_int_equal(fake_open_images(), 1);
}

static void
test_io(void **state)
{
	struct usk_bdev_desc *d = NULL;
	struct usk_io_channel *ch;
	uint8_t *buf, *img;
	uint8_t zero[1024] = {0};

	fake_image_add("rbd", "io", 1 << 20);
	assert_int_equal(register_c0(), 0);
	assert_non_null(create("R1", "c0", "rbd", "io"));
	assert_int_equal(usk_bdev_get_num_blocks(g_cb_bdev), 2048);
	for (int t = USK_BDEV_IO_TYPE_READ; t <= USK_BDEV_IO_TYPE_RESET; t++) {
		assert_true(usk_bdev_io_type_supported(g_cb_bdev, t));
	}
	assert_true(usk_bdev_io_type_supported(g_cb_bdev, USK_BDEV_IO_TYPE_WRITE_ZEROES));
	assert_false(usk_bdev_io_type_supported(g_cb_bdev, USK_BDEV_IO_TYPE_COMPARE));
	assert_int_equal(usk_bdev_open_ext("R1", true, ut_ev_cb, NULL, &d), 0);
	ch = usk_bdev_get_io_channel(d);
	buf = usk_dma_zmalloc(1024, 4096, NULL);
	img = fake_image_data("rbd", "io");

	/* Write: the data reaches the image; the completion came from the fake's thread and
	 * the bdev_io was completed here, on the channel's thread. */
	memset(buf, 'r', 1024);
	g_io_done = 0;
	assert_int_equal(usk_bdev_write_blocks(d, ch, buf, 10, 2, ut_io_cb, NULL), 0);
	assert_int_equal(g_io_done, 0);
	wait_for(&g_io_done, 1);
	assert_true(g_io_success);
	assert_memory_equal(img + 10 * 512, buf, 1024);
	assert_false(pthread_equal(g_fake_cb_thread, pthread_self()));
	/* Read back. */
	memset(buf, 0, 1024);
	g_io_done = 0;
	assert_int_equal(usk_bdev_read_blocks(d, ch, buf, 10, 2, ut_io_cb, NULL), 0);
	wait_for(&g_io_done, 1);
	assert_true(g_io_success);
	assert_memory_equal(img + 10 * 512, buf, 1024);
	/* A failed I/O (librbd's -ETIMEDOUT after an OSD loss) fails the bdev_io. */
	g_fake_next_io_rc = -ETIMEDOUT;
	g_io_done = 0;
	assert_int_equal(usk_bdev_read_blocks(d, ch, buf, 10, 2, ut_io_cb, NULL), 0);
	wait_for(&g_io_done, 1);
	assert_false(g_io_success);
	/* A short read fails too. */
	g_fake_next_io_rc = 100;
	g_io_done = 0;
	assert_int_equal(usk_bdev_read_blocks(d, ch, buf, 10, 2, ut_io_cb, NULL), 0);
	wait_for(&g_io_done, 1);
	assert_false(g_io_success);
	/* Unmap and write_zeroes clear; flush and reset succeed. */
	g_io_done = 0;
	assert_int_equal(usk_bdev_unmap_blocks(d, ch, 10, 1, ut_io_cb, NULL), 0);
	wait_for(&g_io_done, 1);
	assert_true(g_io_success);
	assert_memory_equal(img + 10 * 512, zero, 512);
	g_io_done = 0;
	assert_int_equal(usk_bdev_write_zeroes_blocks(d, ch, 11, 1, ut_io_cb, NULL), 0);
	wait_for(&g_io_done, 1);
	assert_true(g_io_success);
	assert_memory_equal(img + 11 * 512, zero, 512);
	g_io_done = 0;
	assert_int_equal(usk_bdev_flush_blocks(d, ch, 0, 2048, ut_io_cb, NULL), 0);
	wait_for(&g_io_done, 1);
	assert_true(g_io_success);
	g_io_done = 0;
	assert_int_equal(usk_bdev_reset(d, ch, ut_io_cb, NULL), 0);
	wait_for(&g_io_done, 1);
	assert_true(g_io_success);
	/* Many at once through the ring. */
	g_io_done = 0;
	for (int i = 0; i < 64; i++) {
		assert_int_equal(usk_bdev_write_blocks(d, ch, buf, i, 1, ut_io_cb, NULL), 0);
	}
	wait_for(&g_io_done, 64);

	/* Resize: grows the image, the bdev layer sees it, open descriptors get RESIZE. */
	assert_int_equal(usk_rbd_bdev_resize("R1", 1, rbd_cb, NULL), -EINVAL);
	assert_int_equal(usk_rbd_bdev_resize("nope", 4, rbd_cb, NULL), -ENODEV);
	g_events = 0;
	g_cb_count = 0;
	assert_int_equal(usk_rbd_bdev_resize("R1", 4, rbd_cb, NULL), 0);
	wait_for(&g_cb_count, 1);
	assert_int_equal(g_cb_rc, 0);
	assert_int_equal(usk_bdev_get_num_blocks(g_cb_bdev), 8192);
	assert_int_equal(fake_image_size("rbd", "io"), 4 << 20);
	assert_int_equal(g_last_event, USK_BDEV_EVENT_RESIZE);

	usk_put_io_channel(ch);
	ut_poll_threads();
	usk_bdev_close(d);
	usk_dma_free(buf);
	/* Delete closes the image. */
	g_cb_count = 0;
	assert_int_equal(usk_rbd_bdev_delete("nope", del_cb, NULL), -ENODEV);
	assert_int_equal(usk_rbd_bdev_delete("R1", del_cb, NULL), 0);
	wait_for(&g_cb_count, 1);
	assert_int_equal(g_cb_rc, 0);
	assert_null(usk_bdev_get_by_name("R1"));
	assert_int_equal(fake_open_images(), 0);
	assert_int_equal(usk_rbd_unregister_cluster("c0", rbd_cb, NULL), 0);
	wait_for(&g_cb_count, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clusters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
