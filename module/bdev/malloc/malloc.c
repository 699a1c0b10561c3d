/* SPDX-License-Identifier: BSD-3-Clause */
/* malloc bdev module: data in DMA memory, copied with memcpy; read, write, unmap, write_zeroes,
 * flush, reset, compare. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "malloc.h"
#include "usk/env.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "usk/util.h"

struct malloc_disk {
	struct usk_bdev disk;
	uint8_t *buf;
	TAILQ_ENTRY(malloc_disk) link;
};

static TAILQ_HEAD(, malloc_disk) g_malloc_disks = TAILQ_HEAD_INITIALIZER(g_malloc_disks);

/*
 * A usk_bdev_malloc_create_async in flight: a helper pthread allocates and zeroes the buffer
 * (where the memory is pinned it faults in every page: seconds for GiBs) so that the creating
 * thread's reactor keeps running, then sends malloc_create_done to that thread, which
 * registers the bdev. Only the creating thread touches the list and the fields but orphaned.
 */
struct malloc_create {
	struct malloc_disk *md;
	usk_bdev_malloc_create_cb cb_fn;
	void *cb_arg;
	struct usk_thread *thread;
	pthread_t tid;
	bool joined;
	bool orphaned; /* atomic: the helper could not send malloc_create_done */
	TAILQ_ENTRY(malloc_create) link;
};

static TAILQ_HEAD(, malloc_create) g_malloc_pending = TAILQ_HEAD_INITIALIZER(g_malloc_pending);
static bool g_malloc_fini_started;

static int malloc_module_init(void);
static void malloc_module_fini(void);

static struct usk_bdev_module g_malloc_module = {
	.name = "malloc",
	.module_init = malloc_module_init,
	.module_fini = malloc_module_fini,
};

USK_BDEV_MODULE_REGISTER(malloc, &g_malloc_module)

static int
malloc_ch_create(void *io_device, void *ctx_buf)
{
	return 0;
}

static void
malloc_ch_destroy(void *io_device, void *ctx_buf)
{
}

static int
malloc_module_init(void)
{
	g_malloc_fini_started = false;
	return usk_io_device_register(&g_malloc_disks, malloc_ch_create, malloc_ch_destroy, 0,
				      "malloc");
}

static void malloc_disk_free(struct malloc_disk *md);

static void
malloc_module_fini(void)
{
	struct malloc_create *c, *tmp;

	/* Creates in flight: wait for their helpers. A done message that was sent runs later
	 * (messages are drained) and fails the create; one that could not be sent never will. */
	g_malloc_fini_started = true;
	for (c = TAILQ_FIRST(&g_malloc_pending); c != NULL; c = tmp) {
		tmp = TAILQ_NEXT(c, link);
		pthread_join(c->tid, NULL);
		c->joined = true;
		if (__atomic_load_n(&c->orphaned, __ATOMIC_ACQUIRE)) {
			TAILQ_REMOVE(&g_malloc_pending, c, link);
			malloc_disk_free(c->md);
			c->cb_fn(c->cb_arg, NULL, -ESHUTDOWN);
			free(c);
		}
	}
	usk_io_device_unregister(&g_malloc_disks, NULL);
}

static void
malloc_disk_free(struct malloc_disk *md)
{
	usk_dma_free(md->buf);
	free(md->disk.name);
	free(md);
}

static int
malloc_destruct(void *ctx)
{
	struct malloc_disk *md = ctx;

	TAILQ_REMOVE(&g_malloc_disks, md, link);
	malloc_disk_free(md);
	return 0;
}

static bool
malloc_iov_equal(const struct iovec *iovs, int iovcnt, const uint8_t *buf, uint64_t len)
{
	int i;

	for (i = 0; i < iovcnt && len > 0; i++) {
		uint64_t n = USK_MIN(len, (uint64_t)iovs[i].iov_len);

		if (memcmp(iovs[i].iov_base, buf, n) != 0) {
			return false;
		}
		buf += n;
		len -= n;
	}
	return len == 0;
}

static void
malloc_submit_request(struct usk_io_channel *ch, struct usk_bdev_io *io)
{
	struct malloc_disk *md = io->bdev->ctxt;
	uint32_t bs = md->disk.blocklen;
	uint8_t *p = md->buf + io->u.bdev.offset_blocks * bs;
	uint64_t len = io->u.bdev.num_blocks * bs;

	switch (io->type) {
	case USK_BDEV_IO_TYPE_READ:
		if (io->u.bdev.iovs[0].iov_base == NULL) {
			/* No buffer given: hand out the data in place (zero copy). */
			io->u.bdev.iovs[0].iov_base = p;
			io->u.bdev.iovs[0].iov_len = len;
			io->u.bdev.iovcnt = 1;
		} else if (usk_iov_from_buf(io->u.bdev.iovs, io->u.bdev.iovcnt, p, len) != len) {
			usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_FAILED);
			return;
		}
		break;
	case USK_BDEV_IO_TYPE_WRITE:
		if (usk_iov_to_buf(io->u.bdev.iovs, io->u.bdev.iovcnt, p, len) != len) {
			usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_FAILED);
			return;
		}
		break;
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		memset(p, 0, len);
		break;
	case USK_BDEV_IO_TYPE_COMPARE:
		if (!malloc_iov_equal(io->u.bdev.iovs, io->u.bdev.iovcnt, p, len)) {
			usk_bdev_io_complete_nvme_status(io, 0, 2, 0x85); /* Compare Failure */
			return;
		}
		break;
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
		break;
	default:
		usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_SUCCESS);
}

static bool
malloc_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_RESET:
	case USK_BDEV_IO_TYPE_COMPARE:
		return true;
	default:
		return false;
	}
}

static struct usk_io_channel *
malloc_get_io_channel(void *ctx)
{
	return usk_get_io_channel(&g_malloc_disks);
}

static int
malloc_dump_info_json(void *ctx, json_t *driver_specific)
{
	struct malloc_disk *md = ctx;
	json_t *o = json_object();

	usk_json_set(o, "num_blocks", json_integer((json_int_t)md->disk.blockcnt));
	usk_json_set(o, "block_size", json_integer(md->disk.blocklen));
	usk_json_set(driver_specific, "malloc", o);
	return 0;
}

const struct usk_mem_bdev_rules usk_bdev_malloc_rules = {
	.module_name = "malloc",
	.create_method = "bdev_malloc_create",
	.block_size_pow2 = true,
	.name_required = false,
	.optimal_io_boundary = true,
};

static void
malloc_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	usk_mem_bdev_write_config_json(&usk_bdev_malloc_rules, bdev, config_array);
}

static const struct usk_bdev_fn_table g_malloc_fn_table = {
	.destruct = malloc_destruct,
	.submit_request = malloc_submit_request,
	.io_type_supported = malloc_io_type_supported,
	.get_io_channel = malloc_get_io_channel,
	.dump_info_json = malloc_dump_info_json,
	.write_config_json = malloc_write_config_json,
};

/* A name given or picked must be free among the bdevs and the creates in flight. */
static bool
malloc_name_free(const char *name)
{
	struct malloc_create *c;

	if (usk_bdev_get_by_name(name) != NULL) {
		return false;
	}
	TAILQ_FOREACH(c, &g_malloc_pending, link) {
		if (strcmp(c->md->disk.name, name) == 0) {
			return false;
		}
	}
	return true;
}

/* Check opts and build the disk (no buffer yet, not registered). */
static int
malloc_disk_prepare(const struct usk_mem_bdev_opts *opts, struct malloc_disk **out)
{
	struct malloc_disk *md;
	char name[32], err[160];
	int n;

	if (usk_mem_bdev_check(&usk_bdev_malloc_rules, opts, err, sizeof(err)) != 0) {
		USK_ERRLOG("malloc bdev: %s\n", err);
		return -EINVAL;
	}
	if (opts->name != NULL && !malloc_name_free(opts->name)) {
		return usk_bdev_get_by_name(opts->name) != NULL ? -EEXIST : -EBUSY;
	}
	snprintf(name, sizeof(name), "%s", opts->name ? opts->name : "");
	for (n = 0; opts->name == NULL; n++) {
		snprintf(name, sizeof(name), "Malloc%d", n);
		if (malloc_name_free(name)) {
			break;
		}
	}
	md = calloc(1, sizeof(*md));
	if (md == NULL) {
		return -ENOMEM;
	}
	if (usk_mem_bdev_init(&md->disk, opts, opts->name ? opts->name : name) != 0) {
		free(md);
		return -ENOMEM;
	}
	md->disk.product_name = "Malloc disk";
	md->disk.ctxt = md;
	md->disk.fn_table = &g_malloc_fn_table;
	md->disk.module = &g_malloc_module;
	*out = md;
	return 0;
}

/* The data buffer, zeroed: faults in all of it (any thread; the slow part of a create). */
static int
malloc_disk_alloc_buf(struct malloc_disk *md)
{
	uint64_t size = md->disk.blockcnt * md->disk.blocklen;

	md->buf = usk_dma_zmalloc(size, USK_BDEV_BUF_ALIGN, NULL);
	if (md->buf == NULL) {
		USK_ERRLOG("could not allocate %lu bytes for malloc bdev %s\n", (unsigned long)size,
			   md->disk.name);
		return -ENOMEM;
	}
	return 0;
}

/* Register a prepared disk with its buffer; frees it on failure. */
static int
malloc_disk_register(struct malloc_disk *md)
{
	int rc = usk_bdev_register(&md->disk);

	if (rc != 0) {
		malloc_disk_free(md);
		return rc;
	}
	TAILQ_INSERT_TAIL(&g_malloc_disks, md, link);
	return 0;
}

int
usk_bdev_malloc_create(struct usk_bdev **bdev, const struct usk_mem_bdev_opts *opts)
{
	struct malloc_disk *md;
	int rc;

	rc = malloc_disk_prepare(opts, &md);
	if (rc != 0) {
		return rc;
	}
	rc = malloc_disk_alloc_buf(md);
	if (rc != 0) {
		malloc_disk_free(md);
		return rc;
	}
	rc = malloc_disk_register(md);
	if (rc == 0) {
		*bdev = &md->disk;
	}
	return rc;
}

/* On the creating thread, once the helper has the buffer (or failed to get it). */
static void
malloc_create_done(void *arg)
{
	struct malloc_create *c = arg;
	struct malloc_disk *md = c->md;
	int rc;

	if (!c->joined) {
		/* The helper sent this as its last act: the join waits for its return only. */
		pthread_join(c->tid, NULL);
	}
	TAILQ_REMOVE(&g_malloc_pending, c, link);
	if (g_malloc_fini_started) {
		rc = -ESHUTDOWN;
	} else {
		rc = md->buf != NULL ? 0 : -ENOMEM;
	}
	if (rc != 0) {
		malloc_disk_free(md);
	} else {
		rc = malloc_disk_register(md);
	}
	c->cb_fn(c->cb_arg, rc == 0 ? &md->disk : NULL, rc);
	free(c);
}

static void *
malloc_create_helper(void *arg)
{
	struct malloc_create *c = arg;
	unsigned int tries = 0;
	int rc;

	malloc_disk_alloc_buf(c->md); /* md->buf stays NULL on failure */
	/* The creating thread drains its messages before it exits; a full ring is transient. */
	while ((rc = usk_thread_send_msg(c->thread, malloc_create_done, c)) != 0 &&
	       ++tries < 10000) {
		usleep(100);
	}
	if (rc != 0) {
		USK_ERRLOG("malloc bdev %s: cannot return to the creating thread: %s\n",
			   c->md->disk.name, strerror(-rc));
		__atomic_store_n(&c->orphaned, true, __ATOMIC_RELEASE);
	}
	return NULL;
}

int
usk_bdev_malloc_create_async(const struct usk_mem_bdev_opts *opts, usk_bdev_malloc_create_cb cb_fn,
			     void *cb_arg)
{
	struct malloc_create *c;
	struct malloc_disk *md;
	int rc;

	if (cb_fn == NULL || usk_get_thread() == NULL) {
		return -EINVAL;
	}
	if (g_malloc_fini_started) {
		return -ESHUTDOWN;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return -ENOMEM;
	}
	rc = malloc_disk_prepare(opts, &md);
	if (rc != 0) {
		free(c);
		return rc;
	}
	c->md = md;
	c->cb_fn = cb_fn;
	c->cb_arg = cb_arg;
	c->thread = usk_get_thread();
	/* In the list before the helper starts: the name is taken from now on. */
	TAILQ_INSERT_TAIL(&g_malloc_pending, c, link);
	rc = -pthread_create(&c->tid, NULL, malloc_create_helper, c);
	if (rc != 0) {
		USK_ERRLOG("malloc bdev %s: cannot start the allocation thread: %s\n",
			   md->disk.name, strerror(-rc));
		TAILQ_REMOVE(&g_malloc_pending, c, link);
		malloc_disk_free(md);
		free(c);
		return rc;
	}
	pthread_setname_np(c->tid, "usk_malloc");
	if (usk_env_unpin_thread(c->tid) != 0) {
		USK_NOTICELOG("cannot widen the CPU affinity of the malloc allocation thread\n");
	}
	return 0;
}

int
usk_bdev_malloc_delete(const char *name, usk_bdev_unregister_cb cb_fn, void *cb_arg)
{
	return usk_bdev_unregister_by_name(name, &g_malloc_module, cb_fn, cb_arg);
}
