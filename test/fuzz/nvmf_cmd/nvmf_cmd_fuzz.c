/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target on the NVMe-oF target core's command path: every input is one command (an SQE
 * and its data) sent on a fresh controller's admin queue, I/O queue, or a queue before Connect,
 * through usk_nvmf_request_exec() with a fake transport and a mock bdev. The command must complete
 * exactly once (an Asynchronous Event Request may stay parked) and teardown must finish.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/bdev.h"
#include "usk/bdev_module.h"
#include "usk/env.h"
#include "usk/nvmf.h"
#include "usk/nvmf_transport.h"
#include "ut_multithread.h"

#define SUBNQN "nqn.2016-06.io.usk:cnode1"
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
#define NUM_BLOCKS 1024
#define BLOCK_SIZE 512

/* cmocka-style asserts for the shared helpers: abort so libFuzzer reports a crash. */
#define assert_int_equal(a, b) do { if ((long long)(a) != (long long)(b)) { \
	fprintf(stderr, "%s:%d: %lld != %lld\n", __FILE__, __LINE__, (long long)(a), (long long)(b)); \
	abort(); } } while (0)
#define assert_true(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

/* ---- mock bdev module ---- */

struct io_log {
	uint8_t type;
	uint64_t offset;
	uint64_t num;
};

static int g_mock_dev;
static struct io_log g_log[64];
static int g_log_n;
static struct usk_bdev_io *g_held[512] __attribute__((unused));
static int g_held_n;
static bool g_hold_io;
static int g_fail_sct = -1, g_fail_sc;

static int mock_init(void);
static void mock_fini(void);
static int mock_ctx_size(void) { return 0; }

static struct usk_bdev_module g_mock_module = {
	.name = "nvmf_ut_mock",
	.module_init = mock_init,
	.module_fini = mock_fini,
	.get_ctx_size = mock_ctx_size,
};
USK_BDEV_MODULE_REGISTER(nvmf_ut_mock, &g_mock_module)

static int mock_ch_create(void *dev, void *ctx) { return 0; }
static void mock_ch_destroy(void *dev, void *ctx) { }

static int
mock_init(void)
{
	usk_io_device_register(&g_mock_dev, mock_ch_create, mock_ch_destroy, 0, "nvmf_ut_mock");
	return 0;
}

static void
mock_fini(void)
{
	usk_io_device_unregister(&g_mock_dev, NULL);
}

static void
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

static struct usk_bdev *
mock_bdev_create(const char *name)
{
	struct usk_bdev *bdev = calloc(1, sizeof(*bdev));

	bdev->name = strdup(name);
	bdev->product_name = "mock";
	bdev->blockcnt = NUM_BLOCKS;
	bdev->blocklen = BLOCK_SIZE;
	bdev->ctxt = bdev;
	bdev->fn_table = &g_mock_fn;
	bdev->module = &g_mock_module;
	bdev->uuid[0] = 0xab;
	bdev->uuid[1] = (uint8_t)name[strlen(name) - 1];
	bdev->uuid[15] = 0xcd;
	assert_int_equal(usk_bdev_register(bdev), 0);
	ut_poll_threads();
	return bdev;
}

static void __attribute__((unused))
release_held(void)
{
	int i, n = g_held_n;

	g_held_n = 0;
	for (i = 0; i < n; i++) {
		mock_complete(g_held[i]);
	}
}

/* ---- fake transport ---- */

struct fake_transport {
	struct usk_nvmf_transport transport;
	uint32_t knob;
	int listens;
};

struct fake_pg {
	struct usk_nvmf_transport_poll_group tgroup;
	int qpairs;
};

struct fake_qpair {
	struct usk_nvmf_qpair qpair;
	struct usk_nvme_transport_id listen_trid;
	bool added;
	bool finied;
};

struct fake_req {
	struct usk_nvmf_request req;
	union usk_nvmf_h2c_msg cmd;
	union usk_nvmf_c2h_msg rsp;
	uint8_t buf[8192];
	int completions;
	bool freed;
};

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
	json_t *knob = opts->transport_specific ? json_object_get(opts->transport_specific, "knob") : NULL;

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
fake_listener_discover(struct usk_nvmf_transport *transport, const struct usk_nvme_transport_id *trid,
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
	.qpair_get_peer_trid = fake_get_trid,
	.qpair_get_local_trid = fake_get_trid,
	.qpair_get_listen_trid = fake_get_trid,
};
USK_NVMF_TRANSPORT_REGISTER(fake, &g_fake_ops)


static struct usk_nvmf_tgt *g_tgt;
static struct usk_nvmf_transport *g_transport;
static struct usk_nvmf_subsystem *g_subsystem;

static void init_cb(void *arg, int rc) { *(int *)arg = rc; }
static void add_cb(void *arg, int status) { *(int *)arg = status; }
static void state_cb(struct usk_nvmf_subsystem *s, void *arg, int status) { *(int *)arg = status; }

static void
fake_trid(struct usk_nvme_transport_id *trid)
{
	memset(trid, 0, sizeof(*trid));
	snprintf(trid->trstring, sizeof(trid->trstring), "FAKE");
	trid->trtype = USK_NVME_TRANSPORT_CUSTOM;
	trid->adrfam = USK_NVMF_ADRFAM_IPV4;
	snprintf(trid->traddr, sizeof(trid->traddr), "127.0.0.1");
	snprintf(trid->trsvcid, sizeof(trid->trsvcid), "4420");
}

static void
setup_once(void)
{
	struct usk_bdev_opts bopts;
	struct usk_nvmf_target_opts topts = { .opts_size = sizeof(topts), .name = "fuzz" };
	struct usk_nvmf_transport_opts opts;
	struct usk_nvme_transport_id trid;
	char err[128];
	int rc = 1;
	uint32_t nsid;

	assert_int_equal(ut_allocate_threads(2), 0);
	ut_set_thread(0);
	usk_bdev_get_opts(&bopts, sizeof(bopts));
	bopts.bdev_io_pool_size = 128;
	bopts.bdev_io_cache_size = 8;
	bopts.small_buf_pool_size = 16;
	bopts.large_buf_pool_size = 4;
	usk_bdev_set_opts(&bopts);
	usk_bdev_initialize(init_cb, &rc);
	ut_poll_threads();
	assert_int_equal(rc, 0);
	mock_bdev_create("Mock0");
	assert_int_equal(usk_nvmf_tgt_create(&topts, &g_tgt), 0);
	ut_set_thread(1);
	assert_true(usk_nvmf_poll_group_create(g_tgt) != NULL);
	ut_set_thread(0);
	usk_nvmf_transport_opts_init("FAKE", &opts, sizeof(opts));
	assert_int_equal(usk_nvmf_transport_create("FAKE", &opts, &g_transport, err, sizeof(err)), 0);
	rc = 1;
	usk_nvmf_tgt_add_transport(g_tgt, g_transport, add_cb, &rc);
	ut_poll_threads();
	assert_int_equal(rc, 0);
	assert_int_equal(usk_nvmf_subsystem_create(g_tgt, SUBNQN, USK_NVMF_SUBTYPE_NVME, 4, &g_subsystem), 0);
	usk_nvmf_subsystem_set_allow_any_host(g_subsystem, true);
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock0", NULL, 0, &nsid), 0);
	fake_trid(&trid);
	assert_int_equal(usk_nvmf_subsystem_add_listener(g_subsystem, &trid, NULL), 0);
	rc = 1;
	usk_nvmf_subsystem_start(g_subsystem, state_cb, &rc);
	ut_poll_threads();
	assert_int_equal(rc, 0);
}

static struct fake_qpair *
qpair_new(void)
{
	struct fake_qpair *fq = calloc(1, sizeof(*fq));

	fq->qpair.transport = g_transport;
	fake_trid(&fq->listen_trid);
	ut_set_thread(0);
	usk_nvmf_tgt_new_qpair(g_tgt, &fq->qpair);
	ut_poll_threads();
	assert_true(fq->added);
	return fq;
}

static void
exec(struct fake_req *r)
{
	ut_set_thread(1);
	usk_nvmf_request_exec(&r->req);
	ut_poll_threads();
}

static struct fake_req *
req_new(struct fake_qpair *fq, uint32_t len)
{
	struct fake_req *r = calloc(1, sizeof(*r));

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

static uint16_t
connect(struct fake_qpair *fq, uint16_t qid, uint16_t cntlid)
{
	struct fake_req *r = req_new(fq, 1024);
	struct usk_nvmf_fabric_connect_data *data = (void *)r->buf;
	uint16_t out;

	r->cmd.connect_cmd.opcode = USK_NVME_OPC_FABRIC;
	r->cmd.connect_cmd.fctype = USK_NVMF_FABRIC_COMMAND_CONNECT;
	r->cmd.connect_cmd.qid = qid;
	r->cmd.connect_cmd.sqsize = 31;
	data->cntlid = cntlid;
	snprintf((char *)data->subnqn, sizeof(data->subnqn), "%s", SUBNQN);
	snprintf((char *)data->hostnqn, sizeof(data->hostnqn), "%s", HOSTNQN);
	exec(r);
	assert_int_equal(r->completions, 1);
	assert_int_equal(r->rsp.nvme_cpl.status.sc, 0);
	out = r->rsp.connect_rsp.status_code_specific.success.cntlid;
	free(r);
	if (qid == 0) {
		r = req_new(fq, 0);
		r->cmd.prop_set_cmd.opcode = USK_NVME_OPC_FABRIC;
		r->cmd.prop_set_cmd.fctype = USK_NVMF_FABRIC_COMMAND_PROPERTY_SET;
		r->cmd.prop_set_cmd.ofst = USK_NVME_REG_CC;
		r->cmd.prop_set_cmd.value.u64 = 1 | (6u << 16) | (4u << 20);
		exec(r);
		assert_int_equal(r->completions, 1);
		free(r);
	}
	return out;
}

static void
drop(struct fake_qpair *fq)
{
	ut_set_thread(1);
	usk_nvmf_qpair_disconnect(&fq->qpair);
	ut_poll_threads();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool inited;
	struct fake_qpair *admin, *io, *target;
	struct fake_req *r;
	uint16_t cntlid;
	uint32_t len;
	bool is_aer;

	if (!inited) {
		setup_once();
		inited = true;
	}
	if (size < 1 + sizeof(struct usk_nvme_cmd)) {
		return 0;
	}
	admin = qpair_new();
	cntlid = connect(admin, 0, 0xffff);
	io = qpair_new();
	connect(io, 1, cntlid);
	switch (data[0] % 3) {
	case 0:
		target = admin;
		break;
	case 1:
		target = io;
		break;
	default:
		target = qpair_new();	/* nothing connected yet */
		break;
	}
	len = (uint32_t)USK_MIN(size - 1 - sizeof(struct usk_nvme_cmd), sizeof(r->buf));
	/* the data length the SGL claims may exceed what arrived: the transport checks that */
	r = req_new(target, len);
	memcpy(&r->cmd, data + 1, sizeof(struct usk_nvme_cmd));
	memcpy(r->buf, data + 1 + sizeof(struct usk_nvme_cmd), len);
	is_aer = target == admin && r->cmd.nvme_cmd.opc == USK_NVME_OPC_ASYNC_EVENT_REQUEST &&
		 r->cmd.nvmf_cmd.opcode != USK_NVME_OPC_FABRIC;
	exec(r);
	if (is_aer && r->completions == 0) {
		/* parked: teardown frees it */
		drop(io);
		drop(admin);
		assert_true(r->freed);
	} else {
		assert_int_equal(r->completions, 1);
		drop(io);
		drop(admin);
	}
	if (target != admin && target != io) {
		drop(target);
		assert_true(target->finied);
		free(target);
	}
	assert_true(admin->finied && io->finied);
	free(r);
	free(admin);
	free(io);
	return 0;
}
