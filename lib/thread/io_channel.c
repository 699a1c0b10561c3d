/* SPDX-License-Identifier: BSD-3-Clause */
/* io_device registry, per-thread io_channels, usk_for_each_channel and usk_for_each_thread. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thread_internal.h"

struct io_device {
	void *io_device;
	usk_io_channel_create_cb create_cb;
	usk_io_channel_destroy_cb destroy_cb;
	usk_io_device_unregister_cb unregister_cb;
	struct usk_thread *unregister_thread;
	uint32_t ctx_size;
	/* Channels alive (protected by g_devlist_mutex). */
	uint32_t refcnt;
	/* usk_for_each_channel walks in progress (g_devlist_mutex). */
	uint32_t for_each_count;
	/* Set under g_devlist_mutex; read without it by a channel owner (the device outlives it).
	 */
	bool unregistered;
	TAILQ_ENTRY(io_device) tailq;
	char name[64];
};

struct usk_io_channel_iter {
	void *io_device;
	struct io_device *dev;
	usk_channel_msg fn;
	int status;
	void *ctx;
	struct usk_io_channel *ch;
	struct usk_thread *cur_thread;
	struct usk_thread *orig_thread;
	usk_channel_for_each_cpl cpl;
};

struct thread_iter {
	usk_msg_fn fn;
	void *ctx;
	usk_msg_fn cpl;
	struct usk_thread *cur_thread;
	struct usk_thread *orig_thread;
};

/* Protected by g_devlist_mutex. */
static TAILQ_HEAD(, io_device) g_io_devices = TAILQ_HEAD_INITIALIZER(g_io_devices);

static struct io_device *
io_device_find_locked(void *io_device)
{
	struct io_device *dev;

	TAILQ_FOREACH(dev, &g_io_devices, tailq) {
		if (dev->io_device == io_device) {
			return dev;
		}
	}
	return NULL;
}

static struct usk_io_channel *
thread_find_channel(struct usk_thread *thread, struct io_device *dev)
{
	struct usk_io_channel *ch;

	TAILQ_FOREACH(ch, &thread->io_channels, tailq) {
		if (ch->dev == dev) {
			return ch;
		}
	}
	return NULL;
}

int
usk_io_device_register(void *io_device, usk_io_channel_create_cb create_cb,
		       usk_io_channel_destroy_cb destroy_cb, uint32_t ctx_size, const char *name)
{
	struct io_device *dev;

	assert(io_device != NULL && create_cb != NULL && destroy_cb != NULL);
	if (usk_get_thread() == NULL) {
		USK_ERRLOG("io_device registered from a non-usk thread\n");
		assert(false);
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		USK_ERRLOG("cannot allocate io_device\n");
		return -ENOMEM;
	}
	dev->io_device = io_device;
	dev->create_cb = create_cb;
	dev->destroy_cb = destroy_cb;
	dev->ctx_size = ctx_size;
	if (name != NULL) {
		snprintf(dev->name, sizeof(dev->name), "%s", name);
	} else {
		snprintf(dev->name, sizeof(dev->name), "%p", io_device);
	}

	pthread_mutex_lock(&g_devlist_mutex);
	if (io_device_find_locked(io_device) != NULL) {
		pthread_mutex_unlock(&g_devlist_mutex);
		USK_ERRLOG("io_device %s (%p) already registered\n", dev->name, io_device);
		free(dev);
		return -EEXIST;
	}
	TAILQ_INSERT_TAIL(&g_io_devices, dev, tailq);
	pthread_mutex_unlock(&g_devlist_mutex);
	return 0;
}

static void
finish_unregister(void *arg)
{
	struct io_device *dev = arg;

	dev->unregister_cb(dev->io_device);
	free(dev);
}

/* The device is off the list and has no channel left. */
static void
io_device_free(struct io_device *dev)
{
	int rc;

	if (dev->unregister_cb == NULL) {
		free(dev);
		return;
	}
	rc = usk_thread_send_msg(dev->unregister_thread, finish_unregister, dev);
	if (rc != 0) {
		USK_ERRLOG("cannot send unregister completion of io_device %s: %s\n", dev->name,
			   strerror(-rc));
	}
}

void
usk_io_device_unregister(void *io_device, usk_io_device_unregister_cb unregister_cb)
{
	struct usk_thread *thread = usk_get_thread();
	struct io_device *dev;
	uint32_t refcnt;

	if (thread == NULL) {
		USK_ERRLOG("io_device unregistered from a non-usk thread\n");
		assert(false);
		return;
	}
	pthread_mutex_lock(&g_devlist_mutex);
	dev = io_device_find_locked(io_device);
	if (dev == NULL) {
		pthread_mutex_unlock(&g_devlist_mutex);
		USK_ERRLOG("io_device %p not found\n", io_device);
		assert(false);
		return;
	}
	if (dev->for_each_count > 0) {
		pthread_mutex_unlock(&g_devlist_mutex);
		USK_ERRLOG("io_device %s has %u for_each calls outstanding\n", dev->name,
			   dev->for_each_count);
		return;
	}
	dev->unregister_cb = unregister_cb;
	dev->unregister_thread = thread;
	__atomic_store_n(&dev->unregistered, true, __ATOMIC_RELAXED);
	TAILQ_REMOVE(&g_io_devices, dev, tailq);
	refcnt = dev->refcnt;
	pthread_mutex_unlock(&g_devlist_mutex);

	if (refcnt > 0) {
		/* The last channel's destruction frees it. */
		return;
	}
	io_device_free(dev);
}

void
io_device_lib_fini(void)
{
	struct io_device *dev;

	pthread_mutex_lock(&g_devlist_mutex);
	while ((dev = TAILQ_FIRST(&g_io_devices)) != NULL) {
		USK_WARNLOG("io_device %s (%p) still registered at library fini\n", dev->name,
			    dev->io_device);
		TAILQ_REMOVE(&g_io_devices, dev, tailq);
		free(dev);
	}
	pthread_mutex_unlock(&g_devlist_mutex);
}

struct usk_io_channel *
usk_get_io_channel(void *io_device)
{
	struct usk_thread *thread = usk_get_thread();
	struct usk_io_channel *ch;
	struct io_device *dev;
	void *mem = NULL;
	int rc;

	if (thread == NULL) {
		USK_ERRLOG("io channel requested from a non-usk thread\n");
		assert(false);
		return NULL;
	}
	if (usk_unlikely(thread->state == THREAD_STATE_EXITED)) {
		USK_ERRLOG("thread %s is exited\n", thread->name);
		return NULL;
	}
	/* Fast path: only this thread changes its own list, so no lock is needed to read it. */
	TAILQ_FOREACH(ch, &thread->io_channels, tailq) {
		if (ch->dev->io_device == io_device) {
			/*
			 * A channel of an unregistered device (still waiting for its last put) is
			 * skipped: the slow path fails, or finds the device registered again.
			 */
			if (usk_unlikely(
				    __atomic_load_n(&ch->dev->unregistered, __ATOMIC_RELAXED))) {
				break;
			}
			ch->ref++;
			return ch;
		}
	}

	pthread_mutex_lock(&g_devlist_mutex);
	dev = io_device_find_locked(io_device);
	if (dev == NULL) {
		pthread_mutex_unlock(&g_devlist_mutex);
		USK_ERRLOG("io_device %p not found\n", io_device);
		return NULL;
	}
	if (posix_memalign(&mem, USK_CACHE_LINE_SIZE, sizeof(*ch) + dev->ctx_size) != 0) {
		pthread_mutex_unlock(&g_devlist_mutex);
		USK_ERRLOG("cannot allocate a channel for io_device %s\n", dev->name);
		return NULL;
	}
	ch = mem;
	memset(ch, 0, sizeof(*ch) + dev->ctx_size);
	ch->thread = thread;
	ch->dev = dev;
	ch->destroy_cb = dev->destroy_cb;
	ch->ref = 1;
	dev->refcnt++;
	TAILQ_INSERT_HEAD(&thread->io_channels, ch, tailq);
	pthread_mutex_unlock(&g_devlist_mutex);

	rc = dev->create_cb(io_device, (uint8_t *)ch + sizeof(*ch));
	if (rc != 0) {
		bool do_free;

		pthread_mutex_lock(&g_devlist_mutex);
		TAILQ_REMOVE(&thread->io_channels, ch, tailq);
		dev->refcnt--;
		do_free = dev->unregistered && dev->refcnt == 0;
		pthread_mutex_unlock(&g_devlist_mutex);
		free(ch);
		if (do_free) {
			io_device_free(dev);
		}
		return NULL;
	}
	return ch;
}

static void
put_io_channel_msg(void *arg)
{
	struct usk_io_channel *ch = arg;
	struct io_device *dev = ch->dev;
	bool do_free;

	assert(ch->destroy_ref > 0);
	ch->destroy_ref--;
	if (ch->ref > 0 || ch->destroy_ref > 0) {
		/* Taken again (or another destroy pending) since the last put. */
		return;
	}
	pthread_mutex_lock(&g_devlist_mutex);
	TAILQ_REMOVE(&ch->thread->io_channels, ch, tailq);
	pthread_mutex_unlock(&g_devlist_mutex);

	ch->destroy_cb(dev->io_device, (uint8_t *)ch + sizeof(*ch));

	pthread_mutex_lock(&g_devlist_mutex);
	assert(dev->refcnt > 0);
	dev->refcnt--;
	do_free = dev->unregistered && dev->refcnt == 0;
	pthread_mutex_unlock(&g_devlist_mutex);
	free(ch);
	if (do_free) {
		io_device_free(dev);
	}
}

void
usk_put_io_channel(struct usk_io_channel *ch)
{
	struct usk_thread *thread = usk_get_thread();
	int rc;

	if (thread == NULL) {
		USK_ERRLOG("io channel put from a non-usk thread\n");
		assert(false);
		return;
	}
	if (ch->thread != thread) {
		USK_ERRLOG("io channel of io_device %s put on thread %s, it belongs to %s\n",
			   ch->dev->name, thread->name, ch->thread->name);
		assert(false);
		return;
	}
	if (ch->ref == 0) {
		USK_ERRLOG("io channel of io_device %s put more times than taken\n", ch->dev->name);
		assert(false);
		return;
	}
	if (--ch->ref > 0) {
		return;
	}
	/* Deferred so that callers up the stack may still use the channel in this turn. */
	ch->destroy_ref++;
	rc = usk_thread_send_msg(thread, put_io_channel_msg, ch);
	if (rc != 0) {
		USK_ERRLOG("cannot defer destruction of a channel of %s: %s\n", ch->dev->name,
			   strerror(-rc));
		ch->destroy_ref--;
	}
}

void *
usk_io_channel_get_ctx(struct usk_io_channel *ch)
{
	return (uint8_t *)ch + sizeof(*ch);
}

struct usk_io_channel *
usk_io_channel_from_ctx(void *ctx)
{
	return (struct usk_io_channel *)((uint8_t *)ctx - sizeof(struct usk_io_channel));
}

struct usk_thread *
usk_io_channel_get_thread(struct usk_io_channel *ch)
{
	return ch->thread;
}

void *
usk_io_channel_get_io_device(struct usk_io_channel *ch)
{
	return ch->dev->io_device;
}

/* ---- usk_for_each_channel ---- */

static void
call_completion(void *arg)
{
	struct usk_io_channel_iter *i = arg;

	assert(i->orig_thread->for_each_count > 0);
	i->orig_thread->for_each_count--;
	if (i->cpl != NULL) {
		i->cpl(i, i->status);
	}
	free(i);
}

static void
call_channel(void *arg)
{
	struct usk_io_channel_iter *i = arg;
	struct usk_io_channel *ch;

	/* The channel may have been released since the walk chose this thread. */
	ch = thread_find_channel(i->cur_thread, i->dev);
	if (ch != NULL) {
		i->ch = ch;
		i->fn(i);
	} else {
		usk_for_each_channel_continue(i, 0);
	}
}

/* Find the first thread at or after t with a channel to i->dev; lock held. */
static struct usk_thread *
next_thread_with_channel_locked(struct usk_io_channel_iter *i, struct usk_thread *t)
{
	for (; t != NULL; t = thread_list_next_locked(t)) {
		if (thread_find_channel(t, i->dev) != NULL) {
			return t;
		}
	}
	return NULL;
}

static void
for_each_channel_dispatch(struct usk_io_channel_iter *i, struct usk_thread *next)
{
	int rc;

	if (next != NULL) {
		i->cur_thread = next;
		rc = usk_thread_send_msg(next, call_channel, i);
		if (rc == 0) {
			return;
		}
		USK_ERRLOG("cannot reach thread %s for io_device %s: %s\n", next->name,
			   i->dev->name, strerror(-rc));
		i->status = rc;
	}
	pthread_mutex_lock(&g_devlist_mutex);
	i->dev->for_each_count--;
	pthread_mutex_unlock(&g_devlist_mutex);
	i->ch = NULL;
	rc = usk_thread_send_msg(i->orig_thread, call_completion, i);
	if (rc != 0) {
		USK_ERRLOG("cannot complete for_each_channel on thread %s: %s\n",
			   i->orig_thread->name, strerror(-rc));
	}
}

int
usk_for_each_channel(void *io_device, usk_channel_msg fn, void *ctx, usk_channel_for_each_cpl cpl)
{
	struct usk_io_channel_iter *i;
	struct usk_thread *next;
	struct io_device *dev;
	int rc;

	if (usk_get_thread() == NULL) {
		USK_ERRLOG("for_each_channel called from a non-usk thread\n");
		assert(false);
		return -EINVAL;
	}
	i = calloc(1, sizeof(*i));
	if (i == NULL) {
		USK_ERRLOG("cannot allocate a channel iterator\n");
		return -ENOMEM;
	}
	i->io_device = io_device;
	i->fn = fn;
	i->ctx = ctx;
	i->cpl = cpl;
	i->orig_thread = usk_get_thread();

	pthread_mutex_lock(&g_devlist_mutex);
	dev = io_device_find_locked(io_device);
	if (dev == NULL) {
		pthread_mutex_unlock(&g_devlist_mutex);
		USK_ERRLOG("io_device %p not found\n", io_device);
		free(i);
		return -ENODEV;
	}
	i->dev = dev;
	dev->for_each_count++;
	i->orig_thread->for_each_count++;
	next = next_thread_with_channel_locked(i, thread_list_first_locked());
	pthread_mutex_unlock(&g_devlist_mutex);
	/*
	 * The first hop is sent here so that its failure (message pool empty) is returned and
	 * cpl never runs; later hops that fail end the walk with their error in cpl's status.
	 */
	if (next != NULL) {
		i->cur_thread = next;
		rc = usk_thread_send_msg(next, call_channel, i);
	} else {
		/* No channel: the walk is over; the device no longer counts it (as in dispatch). */
		pthread_mutex_lock(&g_devlist_mutex);
		dev->for_each_count--;
		pthread_mutex_unlock(&g_devlist_mutex);
		rc = usk_thread_send_msg(i->orig_thread, call_completion, i);
		if (rc == 0) {
			return 0;
		}
		pthread_mutex_lock(&g_devlist_mutex);
		dev->for_each_count++;
		pthread_mutex_unlock(&g_devlist_mutex);
	}
	if (rc != 0) {
		USK_ERRLOG("for_each_channel on io_device %s cannot start: %s\n", dev->name,
			   strerror(-rc));
		pthread_mutex_lock(&g_devlist_mutex);
		dev->for_each_count--;
		pthread_mutex_unlock(&g_devlist_mutex);
		i->orig_thread->for_each_count--;
		free(i);
		return rc;
	}
	return 0;
}

void
usk_for_each_channel_continue(struct usk_io_channel_iter *i, int status)
{
	struct usk_thread *next = NULL;

	assert(usk_get_thread() == i->cur_thread);
	i->status = status;
	if (status == 0) {
		pthread_mutex_lock(&g_devlist_mutex);
		next = next_thread_with_channel_locked(i, thread_list_next_locked(i->cur_thread));
		pthread_mutex_unlock(&g_devlist_mutex);
	}
	for_each_channel_dispatch(i, next);
}

void *
usk_io_channel_iter_get_io_device(struct usk_io_channel_iter *i)
{
	return i->io_device;
}

struct usk_io_channel *
usk_io_channel_iter_get_channel(struct usk_io_channel_iter *i)
{
	return i->ch;
}

void *
usk_io_channel_iter_get_ctx(struct usk_io_channel_iter *i)
{
	return i->ctx;
}

/* ---- usk_for_each_thread ---- */

static void
thread_iter_done(void *arg)
{
	struct thread_iter *ct = arg;

	if (ct->cpl != NULL) {
		ct->cpl(ct->ctx);
	}
	free(ct);
}

static void
thread_iter_step(void *arg)
{
	struct thread_iter *ct = arg;
	struct usk_thread *next;
	int rc;

	ct->fn(ct->ctx);
	pthread_mutex_lock(&g_devlist_mutex);
	next = thread_list_next_locked(ct->cur_thread);
	while (next != NULL && next->state != THREAD_STATE_RUNNING) {
		next = thread_list_next_locked(next);
	}
	pthread_mutex_unlock(&g_devlist_mutex);
	if (next != NULL) {
		ct->cur_thread = next;
		rc = usk_thread_send_msg(next, thread_iter_step, ct);
	} else {
		rc = usk_thread_send_msg(ct->orig_thread, thread_iter_done, ct);
	}
	if (rc != 0) {
		USK_ERRLOG("for_each_thread stopped: %s\n", strerror(-rc));
	}
}

int
usk_for_each_thread(usk_msg_fn fn, void *ctx, usk_msg_fn cpl)
{
	struct thread_iter *ct;
	struct usk_thread *first;
	int rc;

	ct = calloc(1, sizeof(*ct));
	if (ct == NULL) {
		USK_ERRLOG("cannot allocate a thread iterator\n");
		return -ENOMEM;
	}
	ct->fn = fn;
	ct->ctx = ctx;
	ct->cpl = cpl;
	ct->orig_thread = usk_get_thread();
	if (ct->orig_thread == NULL) {
		USK_ERRLOG("for_each_thread called from a non-usk thread\n");
		free(ct);
		return -EINVAL;
	}
	pthread_mutex_lock(&g_devlist_mutex);
	first = thread_list_first_locked();
	while (first != NULL && first->state != THREAD_STATE_RUNNING) {
		first = thread_list_next_locked(first);
	}
	pthread_mutex_unlock(&g_devlist_mutex);
	if (first == NULL) {
		rc = usk_thread_send_msg(ct->orig_thread, thread_iter_done, ct);
	} else {
		ct->cur_thread = first;
		rc = usk_thread_send_msg(first, thread_iter_step, ct);
	}
	if (rc != 0) {
		USK_ERRLOG("for_each_thread: %s\n", strerror(-rc));
		free(ct);
	}
	return rc;
}
