/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fakes for tests of the NVMe-oF target core, shared by the unit tests (test/unit/lib/nvmf) and
 * the fuzz target (test/fuzz/nvmf_cmd): a mock bdev module that logs, holds or fails I/O, and a
 * fake transport ("FAKE") whose qpairs and requests are plain structs the test fills in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvmf_fake.h"
#include "ut_multithread.h"

/* ---- mock bdev module ---- */

static int g_mock_dev;
struct io_log g_log[64];
int g_log_n;
struct usk_bdev_io *g_held[512];
int g_held_n;
bool g_hold_io;
int g_fail_sct = -1, g_fail_sc;

static int mock_init(void);
static void mock_fini(void);
static int
mock_ctx_size(void)
{
	return 0;
}

static struct usk_bdev_module g_mock_module = {
	.name = "nvmf_ut_mock",
	.module_init = mock_init,
	.module_fini = mock_fini,
	.get_ctx_size = mock_ctx_size,
};
USK_BDEV_MODULE_REGISTER(nvmf_ut_mock, &g_mock_module)

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
	return usk_io_device_register(&g_mock_dev, mock_ch_create, mock_ch_destroy, 0,
				      "nvmf_ut_mock");
}

static void
mock_fini(void)
{
	usk_io_device_unregister(&g_mock_dev, NULL);
}

void
mock_complete(struct usk_bdev_io *io)
{
	if (g_fail_sct >= 0) {
		usk_bdev_io_complete_nvme_status(io, 0, g_fail_sct, g_fail_sc);
	} else {
		usk_bdev_io_complete(io, USK_BDEV_IO_STATUS_SUCCESS);
	}
}

static void
mock_submit(struct usk_io_channel *ch, struct usk_bdev_io *io)
{
	if (g_log_n < 64) {
		g_log[g_log_n].type = io->type;
		g_log[g_log_n].offset = io->u.bdev.offset_blocks;
		g_log[g_log_n].num = io->u.bdev.num_blocks;
		g_log[g_log_n].fua = io->u.bdev.fua;
		g_log_n++;
	}
	if (g_hold_io) {
		g_held[g_held_n++] = io;
		return;
	}
	mock_complete(io);
}

static bool
mock_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	switch (type) {
	case USK_BDEV_IO_TYPE_READ:
	case USK_BDEV_IO_TYPE_WRITE:
	case USK_BDEV_IO_TYPE_UNMAP:
	case USK_BDEV_IO_TYPE_FLUSH:
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
	case USK_BDEV_IO_TYPE_COMPARE:
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
	struct usk_bdev *bdev = ctx;

	free(bdev->name);
	free(bdev);
	return 0;
}

static const struct usk_bdev_fn_table g_mock_fn = {
	.destruct = mock_destruct,
	.submit_request = mock_submit,
	.io_type_supported = mock_io_type_supported,
	.get_io_channel = mock_get_io_channel,
};

struct usk_bdev *
mock_bdev_create(const char *name)
{
	struct usk_bdev *bdev = calloc(1, sizeof(*bdev));

	if (bdev == NULL) {
		return NULL;
	}
	bdev->name = strdup(name);
	bdev->product_name = "mock";
	bdev->blockcnt = NUM_BLOCKS;
	bdev->blocklen = BLOCK_SIZE;
	bdev->ctxt = bdev;
	bdev->fn_table = &g_mock_fn;
	bdev->module = &g_mock_module;
	bdev->fua_supported = true;
	bdev->uuid[0] = 0xab;
	bdev->uuid[1] = (uint8_t)name[strlen(name) - 1];
	bdev->uuid[15] = 0xcd;
	if (usk_bdev_register(bdev) != 0) {
		free(bdev->name);
		free(bdev);
		return NULL;
	}
	ut_poll_threads();
	return bdev;
}

void
release_held(void)
{
	int i, n = g_held_n;

	g_held_n = 0;
	for (i = 0; i < n; i++) {
		mock_complete(g_held[i]);
	}
}

/* ---- fake transport ---- */

static void
fake_opts_init(struct usk_nvmf_transport_opts *opts)
{
	opts->max_queue_depth = 128;
	opts->max_qpairs_per_ctrlr = 4;
	opts->in_capsule_data_size = 4096;
	opts->max_io_size = 131072;
	opts->io_unit_size = 8192;
	opts->max_aq_depth = 32;
	opts->num_shared_buffers = 64;
	opts->buf_cache_size = 8;
}

static int
fake_create(const struct usk_nvmf_transport_opts *opts, struct usk_nvmf_transport **out, char *err,
	    size_t err_len)
{
	struct fake_transport *ft;
	json_t *knob =
		opts->transport_specific ? json_object_get(opts->transport_specific, "knob") : NULL;

	if (knob && !json_is_integer(knob)) {
		snprintf(err, err_len, "knob: must be an integer");
		return -EINVAL;
	}
	ft = calloc(1, sizeof(*ft));
	ft->knob = knob ? (uint32_t)json_integer_value(knob) : 7;
	*out = &ft->transport;
	return 0;
}

static void
fake_dump_opts(struct usk_nvmf_transport *transport, json_t *params)
{
	struct fake_transport *ft = (struct fake_transport *)transport;

	json_object_set_new(params, "knob", json_integer(ft->knob));
}

static int
fake_destroy(struct usk_nvmf_transport *transport, usk_nvmf_transport_destroy_done_cb cb, void *arg)
{
	free(transport);
	if (cb) {
		cb(arg);
	}
	return 0;
}

static int
fake_listen(struct usk_nvmf_transport *transport, const struct usk_nvme_transport_id *trid,
	    const struct usk_nvmf_listen_opts *opts)
{
	((struct fake_transport *)transport)->listens++;
	return strcmp(trid->trsvcid, "9") == 0 ? -EADDRINUSE : 0;
}

static void
fake_stop_listen(struct usk_nvmf_transport *transport, const struct usk_nvme_transport_id *trid)
{
	((struct fake_transport *)transport)->listens--;
}

static void
fake_listener_discover(struct usk_nvmf_transport *transport,
		       const struct usk_nvme_transport_id *trid,
		       struct usk_nvmf_discovery_log_page_entry *entry)
{
	entry->trtype = USK_NVMF_TRTYPE_TCP;
}

static struct usk_nvmf_transport_poll_group *
fake_pg_create(struct usk_nvmf_transport *transport, struct usk_nvmf_poll_group *group)
{
	struct fake_pg *pg = calloc(1, sizeof(*pg));

	return &pg->tgroup;
}

static void
fake_pg_destroy(struct usk_nvmf_transport_poll_group *tgroup)
{
	free(tgroup);
}

static int
fake_pg_add(struct usk_nvmf_transport_poll_group *tgroup, struct usk_nvmf_qpair *qpair)
{
	((struct fake_pg *)tgroup)->qpairs++;
	((struct fake_qpair *)qpair)->added = true;
	return 0;
}

static int
fake_pg_remove(struct usk_nvmf_transport_poll_group *tgroup, struct usk_nvmf_qpair *qpair)
{
	((struct fake_pg *)tgroup)->qpairs--;
	return 0;
}

static int
fake_pg_poll(struct usk_nvmf_transport_poll_group *tgroup)
{
	return 0;
}

static int
fake_req_free(struct usk_nvmf_request *req)
{
	((struct fake_req *)req)->freed = true;
	return 0;
}

static int
fake_req_complete(struct usk_nvmf_request *req)
{
	((struct fake_req *)req)->completions++;
	return 0;
}

static void
fake_qpair_fini(struct usk_nvmf_qpair *qpair, usk_nvmf_transport_qpair_fini_cb cb, void *arg)
{
	((struct fake_qpair *)qpair)->finied = true;
	if (cb) {
		cb(arg);
	}
}

static int
fake_get_trid(struct usk_nvmf_qpair *qpair, struct usk_nvme_transport_id *trid)
{
	*trid = ((struct fake_qpair *)qpair)->listen_trid;
	return 0;
}

static int
fake_qpair_set_sq_size(struct usk_nvmf_qpair *qpair, uint32_t entries)
{
	struct fake_qpair *fq = (struct fake_qpair *)qpair;

	if (fq->sq_size_rc == 0) {
		fq->sq_entries = entries;
	}
	return fq->sq_size_rc;
}

static const struct usk_nvmf_transport_ops g_fake_ops = {
	.name = "FAKE",
	.type = USK_NVME_TRANSPORT_CUSTOM,
	.opts_init = fake_opts_init,
	.create = fake_create,
	.dump_opts = fake_dump_opts,
	.destroy = fake_destroy,
	.listen = fake_listen,
	.stop_listen = fake_stop_listen,
	.listener_discover = fake_listener_discover,
	.poll_group_create = fake_pg_create,
	.poll_group_destroy = fake_pg_destroy,
	.poll_group_add = fake_pg_add,
	.poll_group_remove = fake_pg_remove,
	.poll_group_poll = fake_pg_poll,
	.req_free = fake_req_free,
	.req_complete = fake_req_complete,
	.qpair_fini = fake_qpair_fini,
	.qpair_set_sq_size = fake_qpair_set_sq_size,
	.qpair_get_peer_trid = fake_get_trid,
	.qpair_get_local_trid = fake_get_trid,
	.qpair_get_listen_trid = fake_get_trid,
};
USK_NVMF_TRANSPORT_REGISTER(fake, &g_fake_ops)

void
fake_trid(struct usk_nvme_transport_id *trid, const char *svc)
{
	memset(trid, 0, sizeof(*trid));
	snprintf(trid->trstring, sizeof(trid->trstring), "FAKE");
	trid->trtype = USK_NVME_TRANSPORT_CUSTOM;
	trid->adrfam = USK_NVMF_ADRFAM_IPV4;
	snprintf(trid->traddr, sizeof(trid->traddr), "127.0.0.1");
	snprintf(trid->trsvcid, sizeof(trid->trsvcid), "%s", svc);
}

static void
bdev_init_cb(void *arg, int rc)
{
	*(int *)arg = rc;
}

int
fake_bdev_layer_init(void)
{
	struct usk_bdev_opts bopts;
	int rc = 1;

	usk_bdev_get_opts(&bopts, sizeof(bopts));
	bopts.bdev_io_pool_size = 128;
	bopts.bdev_io_cache_size = 8;
	bopts.small_buf_pool_size = 16;
	bopts.large_buf_pool_size = 4;
	bopts.buf_pools_at_init = true; /* deterministic: no helper thread */
	usk_bdev_set_opts(&bopts);
	usk_bdev_initialize(bdev_init_cb, &rc);
	ut_poll_threads();
	return rc;
}

struct fake_qpair *
fake_qpair_new(struct usk_nvmf_tgt *tgt, struct usk_nvmf_transport *transport, const char *svc)
{
	struct fake_qpair *fq = calloc(1, sizeof(*fq));

	if (fq == NULL) {
		return NULL;
	}
	fq->qpair.transport = transport;
	fake_trid(&fq->listen_trid, svc);
	ut_set_thread(0);
	usk_nvmf_tgt_new_qpair(tgt, &fq->qpair);
	ut_poll_threads();
	return fq;
}

struct fake_req *
req_new(struct fake_qpair *fq, uint32_t len)
{
	struct fake_req *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		return NULL;
	}
	r->req.qpair = &fq->qpair;
	r->req.cmd = &r->cmd;
	r->req.rsp = &r->rsp;
	r->req.length = len;
	if (len) {
		r->req.iov[0].iov_base = r->buf;
		r->req.iov[0].iov_len = len;
		r->req.iovcnt = 1;
		r->req.data = r->buf;
	}
	return r;
}
