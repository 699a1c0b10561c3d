/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe-oF target transports: registry, option validation, shared data buffers, listener refcounts.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "usk/env.h"
#include "usk/json.h"
#include "nvmf_internal.h"
#include "usk_internal/nvme_trid_names.h"

#define NVMF_MAX_TRANSPORT_OPS 8

/*
 * Grows a transport's pool on the thread that created it. Separate from the transport so that
 * a grow message still queued when the transport is destroyed (on that same thread) finds it.
 */
struct nvmf_pool_grower {
	struct usk_nvmf_transport *transport; /* NULL: destroyed, the message frees this */
	struct usk_thread *thread;
	_Atomic bool pending; /* a grow message is in flight */
};

static const struct usk_nvmf_transport_ops *g_transport_ops[NVMF_MAX_TRANSPORT_OPS];
static int g_num_transport_ops;

void
usk_nvmf_transport_register(const struct usk_nvmf_transport_ops *ops)
{
	if (nvmf_transport_find_ops(ops->name) != NULL) {
		USK_ERRLOG("transport %s registered twice\n", ops->name);
		return;
	}
	if (g_num_transport_ops == NVMF_MAX_TRANSPORT_OPS) {
		USK_ERRLOG("too many transports, %s ignored\n", ops->name);
		return;
	}
	g_transport_ops[g_num_transport_ops++] = ops;
}

const struct usk_nvmf_transport_ops *
nvmf_transport_find_ops(const char *name)
{
	int i;

	for (i = 0; i < g_num_transport_ops; i++) {
		if (strcasecmp(g_transport_ops[i]->name, name) == 0) {
			return g_transport_ops[i];
		}
	}
	return NULL;
}

bool
usk_nvmf_transport_opts_init(const char *transport_name, struct usk_nvmf_transport_opts *opts,
			     size_t opts_size)
{
	const struct usk_nvmf_transport_ops *ops = nvmf_transport_find_ops(transport_name);
	struct usk_nvmf_transport_opts defaults = {.opts_size = sizeof(defaults)};

	if (ops == NULL) {
		return false;
	}
	ops->opts_init(&defaults);
	defaults.opts_size = sizeof(defaults);
	memset(opts, 0, opts_size);
	memcpy(opts, &defaults, USK_MIN(opts_size, sizeof(defaults)));
	opts->opts_size = opts_size;
	return true;
}

static int
validate_opts(const struct usk_nvmf_transport_opts *o, char *err, size_t err_len)
{
	if (o->max_queue_depth < 2) {
		snprintf(err, err_len, "max_queue_depth: must be at least 2 (got %u)",
			 o->max_queue_depth);
		return -EINVAL;
	}
	if (o->max_qpairs_per_ctrlr < 2) {
		snprintf(err, err_len, "max_io_qpairs_per_ctrlr: must be at least 1");
		return -EINVAL;
	}
	if (o->max_aq_depth < USK_NVME_ADMIN_QUEUE_MIN_ENTRIES || o->max_aq_depth > 4096) {
		snprintf(err, err_len, "max_aq_depth: must be in 2..4096 (got %u)",
			 o->max_aq_depth);
		return -EINVAL;
	}
	if (o->io_unit_size == 0 || o->io_unit_size % 512 != 0) {
		snprintf(err, err_len, "io_unit_size: must be a non-zero multiple of 512 (got %u)",
			 o->io_unit_size);
		return -EINVAL;
	}
	if (o->max_io_size < 4096 || !USK_IS_POW2(o->max_io_size)) {
		snprintf(err, err_len, "max_io_size: must be a power of two >= 4096 (got %u)",
			 o->max_io_size);
		return -EINVAL;
	}
	if (o->io_unit_size > o->max_io_size) {
		snprintf(err, err_len, "io_unit_size: must not exceed max_io_size (%u > %u)",
			 o->io_unit_size, o->max_io_size);
		return -EINVAL;
	}
	if (o->max_io_size / o->io_unit_size + 1 > USK_NVMF_REQ_MAX_BUFFERS) {
		snprintf(err, err_len, "io_unit_size: max_io_size / io_unit_size must be below %d",
			 USK_NVMF_REQ_MAX_BUFFERS);
		return -EINVAL;
	}
	if (o->in_capsule_data_size % 16 != 0 || o->in_capsule_data_size > 128 * 1024) {
		snprintf(err, err_len,
			 "in_capsule_data_size: must be a multiple of 16 up to 131072 (got %u)",
			 o->in_capsule_data_size);
		return -EINVAL;
	}
	if (o->num_shared_buffers && o->num_shared_buffers < o->max_io_size / o->io_unit_size) {
		snprintf(err, err_len,
			 "num_shared_buffers: must hold at least one max_io_size I/O (%u)",
			 o->max_io_size / o->io_unit_size);
		return -EINVAL;
	}
	if (o->max_shared_buffers != 0 && o->max_shared_buffers < o->num_shared_buffers) {
		snprintf(err, err_len,
			 "max_shared_buffers: must be 0 or at least num_shared_buffers "
			 "(%u < %u)",
			 o->max_shared_buffers, o->num_shared_buffers);
		return -EINVAL;
	}
	if (o->max_shared_buffers > (1u << 20)) {
		snprintf(err, err_len, "max_shared_buffers: at most %u (got %u)", 1u << 20,
			 o->max_shared_buffers);
		return -EINVAL;
	}
	if (o->num_shared_buffers && o->buf_cache_size > o->num_shared_buffers) {
		snprintf(err, err_len,
			 "buf_cache_size: must not exceed num_shared_buffers (%u > %u)",
			 o->buf_cache_size, o->num_shared_buffers);
		return -EINVAL;
	}
	return 0;
}

int
usk_nvmf_transport_create(const char *transport_name, struct usk_nvmf_transport_opts *opts,
			  struct usk_nvmf_transport **out, char *err, size_t err_len)
{
	const struct usk_nvmf_transport_ops *ops = nvmf_transport_find_ops(transport_name);
	struct usk_nvmf_transport *transport = NULL;
	struct usk_nvmf_transport_opts o;
	char pool_name[64];
	int rc;

	if (ops == NULL) {
		snprintf(err, err_len, "trtype: transport '%s' is not available", transport_name);
		return -ENOENT;
	}
	memset(&o, 0, sizeof(o));
	memcpy(&o, opts, USK_MIN(opts->opts_size ? opts->opts_size : sizeof(o), sizeof(o)));
	o.opts_size = sizeof(o);
	rc = validate_opts(&o, err, err_len);
	if (rc != 0) {
		return rc;
	}
	rc = ops->create(&o, &transport, err, err_len);
	if (rc != 0) {
		if (err[0] == '\0') {
			snprintf(err, err_len, "trtype: cannot create %s transport: %s", ops->name,
				 strerror(-rc));
		}
		return rc;
	}
	transport->ops = ops;
	transport->opts = o;
	transport->opts.transport_specific = NULL;
	TAILQ_INIT(&transport->listeners);
	if (o.num_shared_buffers) {
		snprintf(pool_name, sizeof(pool_name), "nvmf_%s_%p", ops->name, (void *)transport);
		if (o.max_shared_buffers == 0) {
			transport->opts.max_shared_buffers = o.num_shared_buffers;
		}
		transport->data_buf_pool = usk_mempool_create_growable(
			pool_name, o.num_shared_buffers, transport->opts.max_shared_buffers,
			o.io_unit_size, 0, -1);
		if (transport->opts.max_shared_buffers > o.num_shared_buffers) {
			transport->pool_grower = calloc(1, sizeof(*transport->pool_grower));
			if (transport->pool_grower == NULL) {
				snprintf(err, err_len, "max_shared_buffers: out of memory");
				usk_mempool_free(transport->data_buf_pool);
				ops->destroy(transport, NULL, NULL);
				return -ENOMEM;
			}
			transport->pool_grower->transport = transport;
			transport->pool_grower->thread = usk_get_thread();
		}
		if (transport->data_buf_pool == NULL) {
			snprintf(err, err_len,
				 "num_shared_buffers: cannot allocate %u buffers of %u bytes",
				 o.num_shared_buffers, o.io_unit_size);
			ops->destroy(transport, NULL, NULL);
			return -ENOMEM;
		}
	}
	*out = transport;
	return 0;
}

int
usk_nvmf_transport_destroy(struct usk_nvmf_transport *transport,
			   usk_nvmf_transport_destroy_done_fn cb_fn, void *cb_arg)
{
	struct usk_nvmf_listener *listener;
	int rc;

	while ((listener = TAILQ_FIRST(&transport->listeners)) != NULL) {
		TAILQ_REMOVE(&transport->listeners, listener, link);
		transport->ops->stop_listen(transport, &listener->trid);
		free(listener);
	}
	if (transport->pool_grower != NULL) {
		/* a grow message still queued (to this thread) frees the grower when it runs */
		if (atomic_load_explicit(&transport->pool_grower->pending, memory_order_acquire)) {
			transport->pool_grower->transport = NULL;
		} else {
			free(transport->pool_grower);
		}
		transport->pool_grower = NULL;
	}
	if (transport->data_buf_pool) {
		usk_mempool_free(transport->data_buf_pool);
		transport->data_buf_pool = NULL;
	}
	rc = transport->ops->destroy(transport, cb_fn, cb_arg);
	if (rc != 0 && cb_fn) {
		cb_fn(cb_arg);
	}
	return rc;
}

void
nvmf_transport_free_all(struct usk_nvmf_tgt *tgt)
{
	struct usk_nvmf_transport *transport;

	while ((transport = TAILQ_FIRST(&tgt->transports)) != NULL) {
		TAILQ_REMOVE(&tgt->transports, transport, link);
		usk_nvmf_transport_destroy(transport, NULL, NULL);
	}
}

struct add_transport_ctx {
	struct usk_nvmf_transport *transport;
	usk_nvmf_tgt_add_transport_done_fn cb_fn;
	void *cb_arg;
};

static void
add_transport_on_group(struct usk_io_channel_iter *i)
{
	struct add_transport_ctx *ctx = usk_io_channel_iter_get_ctx(i);
	struct usk_nvmf_poll_group *group =
		usk_io_channel_get_ctx(usk_io_channel_iter_get_channel(i));
	struct usk_nvmf_transport_poll_group *tgroup;

	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		if (tgroup->transport == ctx->transport) {
			usk_for_each_channel_continue(i, 0);
			return;
		}
	}
	tgroup = nvmf_transport_poll_group_create(ctx->transport, group);
	if (tgroup == NULL) {
		usk_for_each_channel_continue(i, -ENOMEM);
		return;
	}
	TAILQ_INSERT_TAIL(&group->tgroups, tgroup, link);
	usk_for_each_channel_continue(i, 0);
}

static void
add_transport_done(struct usk_io_channel_iter *i, int status)
{
	struct add_transport_ctx *ctx = usk_io_channel_iter_get_ctx(i);

	if (ctx->cb_fn) {
		ctx->cb_fn(ctx->cb_arg, status);
	}
	free(ctx);
}

void
usk_nvmf_tgt_add_transport(struct usk_nvmf_tgt *tgt, struct usk_nvmf_transport *transport,
			   usk_nvmf_tgt_add_transport_done_fn cb_fn, void *cb_arg)
{
	struct add_transport_ctx *ctx;
	int rc;

	if (usk_nvmf_tgt_get_transport(tgt, transport->ops->name) != NULL) {
		cb_fn(cb_arg, -EEXIST);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		cb_fn(cb_arg, -ENOMEM);
		return;
	}
	ctx->transport = transport;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	transport->tgt = tgt;
	TAILQ_INSERT_TAIL(&tgt->transports, transport, link);
	rc = usk_for_each_channel(tgt, add_transport_on_group, ctx, add_transport_done);
	if (rc != 0) {
		/* As if the walk had failed: the caller sees the error and removes the transport.
		 */
		if (cb_fn != NULL) {
			cb_fn(cb_arg, rc);
		}
		free(ctx);
	}
}

struct usk_nvmf_transport *
usk_nvmf_tgt_get_transport(struct usk_nvmf_tgt *tgt, const char *transport_name)
{
	struct usk_nvmf_transport *transport;

	TAILQ_FOREACH(transport, &tgt->transports, link) {
		if (strcasecmp(transport->ops->name, transport_name) == 0) {
			return transport;
		}
	}
	return NULL;
}

struct usk_nvmf_transport *
usk_nvmf_transport_get_first(struct usk_nvmf_tgt *tgt)
{
	return TAILQ_FIRST(&tgt->transports);
}

struct usk_nvmf_transport *
usk_nvmf_transport_get_next(struct usk_nvmf_transport *transport)
{
	return TAILQ_NEXT(transport, link);
}

const char *
usk_nvmf_get_transport_name(struct usk_nvmf_transport *transport)
{
	return transport->ops->name;
}

enum usk_nvme_transport_type
usk_nvmf_get_transport_type(struct usk_nvmf_transport *transport)
{
	return transport->ops->type;
}

const struct usk_nvmf_transport_opts *
usk_nvmf_get_transport_opts(struct usk_nvmf_transport *transport)
{
	return &transport->opts;
}

json_t *
usk_nvmf_transport_opts_to_json(struct usk_nvmf_transport *transport)
{
	const struct usk_nvmf_transport_opts *o = &transport->opts;
	json_t *params = json_object();

	if (params == NULL) {
		return NULL;
	}
	usk_json_set(params, "trtype", json_string(transport->ops->name));
	usk_json_set(params, "max_queue_depth", json_integer(o->max_queue_depth));
	usk_json_set(params, "max_io_qpairs_per_ctrlr", json_integer(o->max_qpairs_per_ctrlr - 1));
	usk_json_set(params, "in_capsule_data_size", json_integer(o->in_capsule_data_size));
	usk_json_set(params, "max_io_size", json_integer(o->max_io_size));
	usk_json_set(params, "io_unit_size", json_integer(o->io_unit_size));
	usk_json_set(params, "max_aq_depth", json_integer(o->max_aq_depth));
	usk_json_set(params, "num_shared_buffers", json_integer(o->num_shared_buffers));
	usk_json_set(params, "max_shared_buffers", json_integer(o->max_shared_buffers));
	usk_json_set(params, "buf_cache_size", json_integer(o->buf_cache_size));
	usk_json_set(params, "dif_insert_or_strip", json_boolean(o->dif_insert_or_strip));
	usk_json_set(params, "zcopy", json_boolean(o->zcopy));
	usk_json_set(params, "abort_timeout_sec", json_integer(o->abort_timeout_sec));
	if (transport->ops->dump_opts) {
		transport->ops->dump_opts(transport, params);
	}
	return params;
}

/* ---- poll groups and buffers ---- */

struct usk_nvmf_transport_poll_group *
nvmf_transport_poll_group_create(struct usk_nvmf_transport *transport,
				 struct usk_nvmf_poll_group *group)
{
	struct usk_nvmf_transport_poll_group *tgroup;
	struct usk_nvmf_transport_pg_cache_buf *buf;

	tgroup = transport->ops->poll_group_create(transport, group);
	if (tgroup == NULL) {
		return NULL;
	}
	tgroup->transport = transport;
	tgroup->group = group;
	STAILQ_INIT(&tgroup->buf_cache);
	tgroup->buf_cache_count = 0;
	tgroup->buf_cache_size = 0;
	if (transport->data_buf_pool) {
		tgroup->buf_cache_size = transport->opts.buf_cache_size;
		while (tgroup->buf_cache_count < tgroup->buf_cache_size) {
			buf = usk_mempool_get(transport->data_buf_pool);
			if (buf == NULL) {
				/* Others took the pool: this group just caches fewer. */
				tgroup->buf_cache_size = tgroup->buf_cache_count;
				break;
			}
			STAILQ_INSERT_HEAD(&tgroup->buf_cache, buf, link);
			tgroup->buf_cache_count++;
		}
	}
	return tgroup;
}

void
nvmf_transport_poll_group_destroy(struct usk_nvmf_transport_poll_group *tgroup)
{
	struct usk_nvmf_transport *transport = tgroup->transport;
	struct usk_nvmf_transport_pg_cache_buf *buf;

	while ((buf = STAILQ_FIRST(&tgroup->buf_cache)) != NULL) {
		STAILQ_REMOVE_HEAD(&tgroup->buf_cache, link);
		usk_mempool_put(transport->data_buf_pool, buf);
	}
	tgroup->buf_cache_count = 0;
	transport->ops->poll_group_destroy(tgroup);
}

void
usk_nvmf_request_free_buffers(struct usk_nvmf_request *req,
			      struct usk_nvmf_transport_poll_group *tgroup,
			      struct usk_nvmf_transport *transport)
{
	struct usk_nvmf_transport_pg_cache_buf *buf;
	uint32_t i;

	if (!req->data_from_pool) {
		return;
	}
	for (i = 0; i < req->iovcnt; i++) {
		buf = req->buffers[i];
		if (tgroup && tgroup->buf_cache_count < tgroup->buf_cache_size) {
			STAILQ_INSERT_HEAD(&tgroup->buf_cache, buf, link);
			tgroup->buf_cache_count++;
		} else {
			usk_mempool_put(transport->data_buf_pool, buf);
		}
		req->buffers[i] = NULL;
		req->iov[i].iov_base = NULL;
		req->iov[i].iov_len = 0;
	}
	req->iovcnt = 0;
	req->data = NULL;
	req->data_from_pool = false;
}

static void
pool_grow_msg(void *arg)
{
	struct nvmf_pool_grower *g = arg;
	struct usk_nvmf_transport *transport = g->transport;
	const struct usk_nvmf_transport_opts *o;
	uint32_t chunk;
	int rc;

	if (transport == NULL) {
		free(g);
		return;
	}
	o = &transport->opts;
	chunk = USK_MAX(o->num_shared_buffers / 4, o->max_io_size / o->io_unit_size);

	rc = usk_mempool_grow(transport->data_buf_pool, chunk);
	if (rc > 0) {
		atomic_fetch_add_explicit(&transport->pool_grows, 1, memory_order_relaxed);
		USK_NOTICELOG(
			"%s transport: shared data buffer pool grew by %d to %zu (ceiling %u)\n",
			transport->ops->name, rc, usk_mempool_get_size(transport->data_buf_pool),
			o->max_shared_buffers);
	} else {
		atomic_fetch_add_explicit(&transport->pool_grow_failures, 1, memory_order_relaxed);
	}
	/* Release pairs with the exchange in pool_want_grow: the new size is seen first. */
	atomic_store_explicit(&g->pending, false, memory_order_release);
}

/*
 * Any poll group thread, on the I/O path: the pool ran dry. The grow allocates, so it runs on
 * the transport's thread by message; at most one is in flight.
 */
static void
pool_want_grow(struct usk_nvmf_transport *transport)
{
	struct nvmf_pool_grower *g = transport->pool_grower;

	if (g == NULL ||
	    usk_mempool_get_size(transport->data_buf_pool) >= transport->opts.max_shared_buffers) {
		return;
	}
	if (atomic_exchange_explicit(&g->pending, true, memory_order_acq_rel)) {
		return;
	}
	if (usk_thread_send_msg(g->thread, pool_grow_msg, g) != 0) {
		atomic_store_explicit(&g->pending, false, memory_order_relaxed);
	}
}

uint32_t
usk_nvmf_transport_pool_size(struct usk_nvmf_transport *transport)
{
	return transport->data_buf_pool ? (uint32_t)usk_mempool_get_size(transport->data_buf_pool) :
					  0;
}

void
nvmf_transport_dump_pool_stat(struct usk_nvmf_transport *transport, json_t *obj)
{
	struct usk_mempool *mp = transport->data_buf_pool;

	if (mp == NULL) {
		return;
	}
	usk_json_set(obj, "shared_buffers", json_integer((json_int_t)usk_mempool_get_size(mp)));
	usk_json_set(obj, "shared_buffers_free", json_integer((json_int_t)usk_mempool_count(mp)));
	usk_json_set(obj, "max_shared_buffers", json_integer(transport->opts.max_shared_buffers));
	usk_json_set(obj, "shared_buffer_grows",
		     json_integer((json_int_t)atomic_load_explicit(&transport->pool_grows,
								   memory_order_relaxed)));
	usk_json_set(obj, "shared_buffer_grow_failures",
		     json_integer((json_int_t)atomic_load_explicit(&transport->pool_grow_failures,
								   memory_order_relaxed)));
	usk_json_set(obj, "shared_buffer_exhausted",
		     json_integer((json_int_t)usk_mempool_get_exhausted_count(mp)));
}

int
usk_nvmf_request_get_buffers(struct usk_nvmf_request *req,
			     struct usk_nvmf_transport_poll_group *tgroup,
			     struct usk_nvmf_transport *transport, uint32_t length)
{
	uint32_t io_unit = transport->opts.io_unit_size;
	uint32_t num = (length + io_unit - 1) / io_unit;
	uint32_t i, from_cache = 0;
	void *bufs[USK_NVMF_REQ_MAX_BUFFERS];

	if (length > transport->opts.max_io_size || num >= USK_NVMF_REQ_MAX_BUFFERS) {
		return -EINVAL;
	}
	if (transport->data_buf_pool == NULL) {
		return -ENOMEM;
	}
	while (from_cache < num && tgroup && !STAILQ_EMPTY(&tgroup->buf_cache)) {
		bufs[from_cache] = STAILQ_FIRST(&tgroup->buf_cache);
		STAILQ_REMOVE_HEAD(&tgroup->buf_cache, link);
		tgroup->buf_cache_count--;
		from_cache++;
	}
	if (from_cache < num && usk_mempool_get_bulk(transport->data_buf_pool, &bufs[from_cache],
						     num - from_cache) != 0) {
		/* Give back what we took and let the transport retry later. */
		for (i = 0; i < from_cache; i++) {
			struct usk_nvmf_transport_pg_cache_buf *buf = bufs[i];

			STAILQ_INSERT_HEAD(&tgroup->buf_cache, buf, link);
			tgroup->buf_cache_count++;
		}
		pool_want_grow(transport);
		return -ENOMEM;
	}
	for (i = 0; i < num; i++) {
		req->buffers[i] = bufs[i];
		req->iov[i].iov_base = bufs[i];
		req->iov[i].iov_len = USK_MIN(io_unit, length);
		length -= (uint32_t)req->iov[i].iov_len;
	}
	req->iovcnt = num;
	req->data = req->iov[0].iov_base;
	req->data_from_pool = true;
	return 0;
}

/* ---- buffers held for host data (fair share of the pool) ---- */

int
usk_nvmf_qpair_data_wait_reserve(struct usk_nvmf_qpair *qpair, uint32_t n, uint32_t qpair_cap,
				 uint32_t ctrlr_cap)
{
	struct usk_nvmf_ctrlr *ctrlr = qpair->data_wait_detached ? NULL : qpair->ctrlr;
	uint32_t prev;

	if (qpair->data_wait_bufs + n > qpair_cap) {
		return -EAGAIN;
	}
	if (ctrlr != NULL) {
		/* add first, then check: two qpairs on two threads cannot both slip under the cap
		 */
		prev = atomic_fetch_add_explicit(&ctrlr->data_wait_bufs, n, memory_order_relaxed);
		if (prev + n > ctrlr_cap) {
			atomic_fetch_sub_explicit(&ctrlr->data_wait_bufs, n, memory_order_relaxed);
			return -EAGAIN;
		}
		qpair->data_wait_ctrlr_bufs += n;
	}
	qpair->data_wait_bufs += n;
	return 0;
}

void
usk_nvmf_qpair_data_wait_release(struct usk_nvmf_qpair *qpair, uint32_t n)
{
	uint32_t c = USK_MIN(n, qpair->data_wait_ctrlr_bufs);

	assert(n <= qpair->data_wait_bufs);
	qpair->data_wait_bufs -= n;
	if (c != 0) {
		qpair->data_wait_ctrlr_bufs -= c;
		atomic_fetch_sub_explicit(&qpair->ctrlr->data_wait_bufs, c, memory_order_relaxed);
	}
}

void
nvmf_qpair_data_wait_detach(struct usk_nvmf_qpair *qpair)
{
	if (qpair->ctrlr != NULL && qpair->data_wait_ctrlr_bufs != 0) {
		atomic_fetch_sub_explicit(&qpair->ctrlr->data_wait_bufs,
					  qpair->data_wait_ctrlr_bufs, memory_order_relaxed);
	}
	qpair->data_wait_ctrlr_bufs = 0;
	qpair->data_wait_detached = true;
}

/* ---- listeners ---- */

int
nvmf_transport_listen(struct usk_nvmf_transport *transport,
		      const struct usk_nvme_transport_id *trid, const json_t *params)
{
	struct usk_nvmf_listener *listener;
	struct usk_nvmf_listen_opts opts = {.opts_size = sizeof(opts),
					    .transport_specific = params};
	int rc;

	TAILQ_FOREACH(listener, &transport->listeners, link) {
		if (usk_nvmf_trid_equal(&listener->trid, trid)) {
			listener->ref++;
			return 0;
		}
	}
	listener = calloc(1, sizeof(*listener));
	if (listener == NULL) {
		return -ENOMEM;
	}
	listener->trid = *trid;
	listener->ref = 1;
	rc = transport->ops->listen(transport, trid, &opts);
	if (rc != 0) {
		free(listener);
		return rc;
	}
	TAILQ_INSERT_TAIL(&transport->listeners, listener, link);
	return 0;
}

void
nvmf_transport_stop_listen(struct usk_nvmf_transport *transport,
			   const struct usk_nvme_transport_id *trid)
{
	struct usk_nvmf_listener *listener;

	TAILQ_FOREACH(listener, &transport->listeners, link) {
		if (usk_nvmf_trid_equal(&listener->trid, trid)) {
			if (--listener->ref == 0) {
				TAILQ_REMOVE(&transport->listeners, listener, link);
				transport->ops->stop_listen(transport, trid);
				free(listener);
			}
			return;
		}
	}
}

void
nvmf_transport_listener_discover(struct usk_nvmf_transport *transport,
				 const struct usk_nvme_transport_id *trid,
				 struct usk_nvmf_discovery_log_page_entry *entry)
{
	entry->trtype = (uint8_t)trid->trtype;
	entry->adrfam = (uint8_t)trid->adrfam;
	entry->treq = USK_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED;
	usk_strcpy_pad(entry->trsvcid, trid->trsvcid, sizeof(entry->trsvcid), ' ');
	usk_strcpy_pad(entry->traddr, trid->traddr, sizeof(entry->traddr), ' ');
	if (transport->ops->listener_discover) {
		transport->ops->listener_discover(transport, trid, entry);
	}
}

/* ---- transport ids ---- */

int
usk_nvmf_trtype_parse(const char *str, enum usk_nvme_transport_type *trtype)
{
	return usk_nvme_trtype_from_name(str, trtype);
}

const char *
usk_nvmf_trtype_str(enum usk_nvme_transport_type trtype)
{
	const char *name = usk_nvme_trtype_name(trtype);

	return name != NULL ? name : "CUSTOM";
}

int
usk_nvmf_adrfam_parse(const char *str, enum usk_nvmf_adrfam *adrfam)
{
	return usk_nvmf_adrfam_from_name(str, adrfam);
}

const char *
usk_nvmf_adrfam_str(enum usk_nvmf_adrfam adrfam)
{
	const char *name = usk_nvmf_adrfam_name(adrfam);

	return name != NULL ? name : "unknown";
}

bool
usk_nvmf_trid_equal(const struct usk_nvme_transport_id *a, const struct usk_nvme_transport_id *b)
{
	return a->trtype == b->trtype && a->adrfam == b->adrfam &&
	       strcasecmp(a->traddr, b->traddr) == 0 && strcmp(a->trsvcid, b->trsvcid) == 0;
}
