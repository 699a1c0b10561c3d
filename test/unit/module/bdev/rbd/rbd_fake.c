/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fake librados / librbd for rbd_ut: pools "rbd" only, in-memory images, aio performed at
 * submission and completed from one completion thread of its own, as librbd completes on its
 * threads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "rbd_fake.h"

int g_fake_connect_rc;
int g_fake_next_io_rc;
pthread_t g_fake_cb_thread;

struct fake_image {
	char pool[32];
	char name[64];
	uint64_t size;
	uint8_t *data;
	int opens;
};

#define MAX_IMAGES 8
static struct fake_image g_images[MAX_IMAGES];

struct fake_comp {
	rbd_callback_t cb;
	void *arg;
	ssize_t ret;
	struct fake_comp *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static struct fake_comp *g_head, *g_tail;
static bool g_thread_started;

static void *
cb_thread(void *arg)
{
	struct fake_comp *c;

	(void)arg;
	pthread_mutex_lock(&g_lock);
	for (;;) {
		while (g_head == NULL) {
			pthread_cond_wait(&g_cond, &g_lock);
		}
		c = g_head;
		g_head = c->next;
		if (g_head == NULL) {
			g_tail = NULL;
		}
		pthread_mutex_unlock(&g_lock);
		g_fake_cb_thread = pthread_self();
		c->cb(c, c->arg);
		pthread_mutex_lock(&g_lock);
	}
	return NULL;
}

static void
complete_later(struct fake_comp *c, ssize_t ret)
{
	pthread_t t;

	if (g_fake_next_io_rc != 0) {
		ret = g_fake_next_io_rc;
		g_fake_next_io_rc = 0;
	}
	c->ret = ret;
	c->next = NULL;
	pthread_mutex_lock(&g_lock);
	if (!g_thread_started) {
		pthread_create(&t, NULL, cb_thread, NULL);
		pthread_detach(t);
		g_thread_started = true;
	}
	if (g_tail) {
		g_tail->next = c;
	} else {
		g_head = c;
	}
	g_tail = c;
	pthread_cond_signal(&g_cond);
	pthread_mutex_unlock(&g_lock);
}

static struct fake_image *
find(const char *pool, const char *name)
{
	for (int i = 0; i < MAX_IMAGES; i++) {
		if (g_images[i].data && strcmp(g_images[i].pool, pool) == 0 &&
		    strcmp(g_images[i].name, name) == 0) {
			return &g_images[i];
		}
	}
	return NULL;
}

void
fake_image_add(const char *pool, const char *name, uint64_t size)
{
	for (int i = 0; i < MAX_IMAGES; i++) {
		if (g_images[i].data == NULL) {
			snprintf(g_images[i].pool, sizeof(g_images[i].pool), "%s", pool);
			snprintf(g_images[i].name, sizeof(g_images[i].name), "%s", name);
			g_images[i].size = size;
			g_images[i].data = calloc(1, size);
			return;
		}
	}
}

uint8_t *
fake_image_data(const char *pool, const char *name)
{
	return find(pool, name)->data;
}

uint64_t
fake_image_size(const char *pool, const char *name)
{
	return find(pool, name)->size;
}

int
fake_open_images(void)
{
	int n = 0;

	for (int i = 0; i < MAX_IMAGES; i++) {
		n += g_images[i].opens;
	}
	return n;
}

void
fake_reset(void)
{
	for (int i = 0; i < MAX_IMAGES; i++) {
		free(g_images[i].data);
		memset(&g_images[i], 0, sizeof(g_images[i]));
	}
	g_fake_connect_rc = 0;
	g_fake_next_io_rc = 0;
}

/* ---- librados ---- */

struct fake_rados {
	char mon_host[64];
};

int
rados_create(rados_t *cluster, const char *const id)
{
	*cluster = calloc(1, sizeof(struct fake_rados));
	return 0;
}

int
rados_conf_read_file(rados_t cluster, const char *path)
{
	return path && strcmp(path, "/nonexistent") == 0 ? -ENOENT : 0;
}

int
rados_conf_set(rados_t cluster, const char *option, const char *value)
{
	struct fake_rados *r = cluster;

	if (strcmp(option, "bogus_option") == 0) {
		return -ENOENT;
	}
	if (strcmp(option, "mon_host") == 0) {
		snprintf(r->mon_host, sizeof(r->mon_host), "%s", value);
	}
	return 0;
}

int
rados_conf_get(rados_t cluster, const char *option, char *buf, size_t len)
{
	struct fake_rados *r = cluster;

	if (strcmp(option, "mon_host") == 0) {
		snprintf(buf, len, "%s", r->mon_host);
	} else if (strcmp(option, "rbd_cache") == 0) {
		snprintf(buf, len, "true");
	} else {
		snprintf(buf, len, "0");
	}
	return 0;
}

int
rados_connect(rados_t cluster)
{
	return g_fake_connect_rc;
}

void
rados_shutdown(rados_t cluster)
{
	free(cluster);
}

int
rados_ioctx_create(rados_t cluster, const char *pool_name, rados_ioctx_t *ioctx)
{
	if (strcmp(pool_name, "rbd") != 0) {
		return -ENOENT;
	}
	*ioctx = strdup(pool_name);
	return 0;
}

void
rados_ioctx_destroy(rados_ioctx_t io)
{
	free(io);
}

/* ---- librbd ---- */

int
rbd_open(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name)
{
	struct fake_image *img = find(io, name);

	if (img == NULL) {
		return -ENOENT;
	}
	img->opens++;
	*image = img;
	return 0;
}

int
rbd_close(rbd_image_t image)
{
	((struct fake_image *)image)->opens--;
	return 0;
}

int
rbd_get_size(rbd_image_t image, uint64_t *size)
{
	*size = ((struct fake_image *)image)->size;
	return 0;
}

int
rbd_resize(rbd_image_t image, uint64_t size)
{
	struct fake_image *img = image;
	uint8_t *d = realloc(img->data, size);

	if (d == NULL) {
		return -ENOMEM;
	}
	if (size > img->size) {
		memset(d + img->size, 0, size - img->size);
	}
	img->data = d;
	img->size = size;
	return 0;
}

int
rbd_aio_create_completion(void *cb_arg, rbd_callback_t complete_cb, rbd_completion_t *c)
{
	struct fake_comp *fc = calloc(1, sizeof(*fc));

	fc->cb = complete_cb;
	fc->arg = cb_arg;
	*c = fc;
	return 0;
}

void
rbd_aio_release(rbd_completion_t c)
{
	free(c);
}

ssize_t
rbd_aio_get_return_value(rbd_completion_t c)
{
	return ((struct fake_comp *)c)->ret;
}

static int
rw(rbd_image_t image, const struct iovec *iov, int iovcnt, uint64_t off, rbd_completion_t c,
   bool write)
{
	struct fake_image *img = image;
	size_t total = 0;

	for (int i = 0; i < iovcnt; i++) {
		if (off + total + iov[i].iov_len > img->size) {
			return -EINVAL;
		}
		if (write) {
			memcpy(img->data + off + total, iov[i].iov_base, iov[i].iov_len);
		} else {
			memcpy(iov[i].iov_base, img->data + off + total, iov[i].iov_len);
		}
		total += iov[i].iov_len;
	}
	/* Like librbd: reads return their length, writes 0. */
	complete_later(c, write ? 0 : (ssize_t)total);
	return 0;
}

int
rbd_aio_readv(rbd_image_t image, const struct iovec *iov, int iovcnt, uint64_t off,
	      rbd_completion_t c)
{
	return rw(image, iov, iovcnt, off, c, false);
}

int
rbd_aio_writev(rbd_image_t image, const struct iovec *iov, int iovcnt, uint64_t off,
	       rbd_completion_t c)
{
	return rw(image, iov, iovcnt, off, c, true);
}

int
rbd_aio_discard(rbd_image_t image, uint64_t off, uint64_t len, rbd_completion_t c)
{
	memset(((struct fake_image *)image)->data + off, 0, len);
	complete_later(c, 0);
	return 0;
}

int
rbd_aio_write_zeroes(rbd_image_t image, uint64_t off, size_t len, rbd_completion_t c,
		     int zero_flags, int op_flags)
{
	memset(((struct fake_image *)image)->data + off, 0, len);
	complete_later(c, 0);
	return 0;
}

int
rbd_aio_flush(rbd_image_t image, rbd_completion_t c)
{
	complete_later(c, 0);
	return 0;
}

int
rbd_update_watch(rbd_image_t image, uint64_t *handle, rbd_update_callback_t watch_cb, void *arg)
{
	*handle = 1;
	return 0;
}

int
rbd_update_unwatch(rbd_image_t image, uint64_t handle)
{
	return 0;
}
