/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the NVMe-oF target core (lib/nvmf without transports): a fake transport and a
 * mock bdev module defined here, the real bdev layer, threads stepped by ut_multithread.
 * Thread 0 runs the target; threads 1 and 2 run poll groups.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "usk/bdev.h"
#include "usk/bdev_module.h"
#include "usk/env.h"
#include "usk/nvmf.h"
#include "usk/nvmf_transport.h"
#include "ut_multithread.h"

#define SUBNQN "nqn.2016-06.io.usk:cnode1"
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
#define HOSTNQN2 "nqn.2014-08.org.nvmexpress:uuid:99999999-2222-3333-4444-555555555555"
#define NUM_BLOCKS 1024
#define BLOCK_SIZE 512

/* ---- mock bdev module ---- */

struct io_log {
	uint8_t type;
	uint64_t offset;
	uint64_t num;
};

static int g_mock_dev;
static struct io_log g_log[64];
static int g_log_n;
static struct usk_bdev_io *g_held[512];
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

static void
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

/* ---- fixture ---- */

static struct usk_nvmf_tgt *g_tgt;
static struct usk_nvmf_transport *g_transport;
static struct usk_nvmf_subsystem *g_subsystem;
static struct usk_nvmf_poll_group *g_groups[2];
static struct usk_bdev *g_bdev0, *g_bdev1;
static int g_cb_status;
static bool g_cb_done;

static void init_cb(void *arg, int rc) { *(int *)arg = rc; }
static void fini_cb(void *arg) { *(bool *)arg = true; }
static void add_transport_cb(void *arg, int status) { g_cb_status = status; g_cb_done = true; }

static void
state_cb(struct usk_nvmf_subsystem *subsystem, void *arg, int status)
{
	g_cb_status = status;
	g_cb_done = true;
}

static void
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
wait_state_change(int rc)
{
	assert_int_equal(rc, 0);
	ut_poll_threads();
	assert_true(g_cb_done);
	assert_int_equal(g_cb_status, 0);
	g_cb_done = false;
}

static int
setup(void **state)
{
	struct usk_bdev_opts bopts;
	struct usk_nvmf_target_opts topts = { .opts_size = sizeof(topts), .name = "ut" };
	struct usk_nvmf_transport_opts opts;
	struct usk_nvme_transport_id trid;
	char err[128] = "";
	int rc = 1, i;
	uint32_t nsid;

	assert_int_equal(ut_allocate_threads(3), 0);
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
	g_bdev0 = mock_bdev_create("Mock0");
	g_bdev1 = mock_bdev_create("Mock1");

	assert_int_equal(usk_nvmf_tgt_create(&topts, &g_tgt), 0);
	for (i = 0; i < 2; i++) {
		ut_set_thread(i + 1);
		g_groups[i] = usk_nvmf_poll_group_create(g_tgt);
		assert_non_null(g_groups[i]);
	}
	ut_set_thread(0);
	assert_true(usk_nvmf_transport_opts_init("fake", &opts, sizeof(opts)));
	assert_int_equal(usk_nvmf_transport_create("FAKE", &opts, &g_transport, err, sizeof(err)), 0);
	usk_nvmf_tgt_add_transport(g_tgt, g_transport, add_transport_cb, NULL);
	ut_poll_threads();
	assert_true(g_cb_done);
	assert_int_equal(g_cb_status, 0);
	g_cb_done = false;

	assert_int_equal(usk_nvmf_subsystem_create(g_tgt, SUBNQN, USK_NVMF_SUBTYPE_NVME, 8, &g_subsystem), 0);
	assert_int_equal(usk_nvmf_subsystem_set_sn(g_subsystem, "USK00000000000001"), 0);
	assert_int_equal(usk_nvmf_subsystem_set_mn(g_subsystem, "usk Controller"), 0);
	usk_nvmf_subsystem_set_allow_any_host(g_subsystem, true);
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock0", NULL, 0, &nsid), 0);
	assert_int_equal(nsid, 1);
	fake_trid(&trid, "4420");
	assert_int_equal(usk_nvmf_subsystem_add_listener(g_subsystem, &trid, NULL), 0);
	wait_state_change(usk_nvmf_subsystem_start(g_subsystem, state_cb, NULL));
	assert_int_equal(usk_nvmf_subsystem_get_state(g_subsystem), USK_NVMF_SUBSYSTEM_ACTIVE);
	g_log_n = 0;
	g_hold_io = false;
	g_fail_sct = -1;
	return 0;
}

static void poll_group_destroyed(void *ctx, int status) { (*(int *)ctx)++; }
static void tgt_destroyed(void *ctx, int status) { *(bool *)ctx = true; }

static int
teardown(void **state)
{
	struct usk_nvmf_subsystem *subsystem;
	bool done = false;
	int destroyed = 0, i;

	release_held();
	ut_poll_threads();
	ut_set_thread(0);
	for (subsystem = usk_nvmf_subsystem_get_first(g_tgt); subsystem;
	     subsystem = usk_nvmf_subsystem_get_next(subsystem)) {
		if (usk_nvmf_subsystem_get_state(subsystem) != USK_NVMF_SUBSYSTEM_INACTIVE) {
			wait_state_change(usk_nvmf_subsystem_stop(subsystem, state_cb, NULL));
		}
	}
	for (i = 0; i < 2; i++) {
		ut_set_thread(i + 1);
		usk_nvmf_poll_group_destroy(g_groups[i], poll_group_destroyed, &destroyed);
	}
	ut_poll_threads();
	assert_int_equal(destroyed, 2);
	ut_set_thread(0);
	usk_nvmf_tgt_destroy(g_tgt, tgt_destroyed, &done);
	ut_poll_threads();
	assert_true(done);
	done = false;
	usk_bdev_finish(fini_cb, &done);
	ut_poll_threads();
	assert_true(done);
	ut_free_threads();
	return 0;
}

/* ---- command helpers ---- */

static int
group_thread_idx(struct usk_nvmf_qpair *qpair)
{
	int i;

	for (i = 0; i < 3; i++) {
		if (ut_get_thread(i) == usk_nvmf_poll_group_get_thread(qpair->group)) {
			return i;
		}
	}
	fail();
	return -1;
}

static struct fake_qpair *
qpair_new(const char *svc)
{
	struct fake_qpair *fq = calloc(1, sizeof(*fq));

	fq->qpair.transport = g_transport;
	fake_trid(&fq->listen_trid, svc);
	ut_set_thread(0);
	usk_nvmf_tgt_new_qpair(g_tgt, &fq->qpair);
	ut_poll_threads();
	assert_true(fq->added);
	return fq;
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

static void
req_exec(struct fake_req *r)
{
	ut_set_thread(group_thread_idx(r->req.qpair));
	usk_nvmf_request_exec(&r->req);
	ut_poll_threads();
}

static uint16_t
sct_sc(struct fake_req *r)
{
	return (uint16_t)(r->rsp.nvme_cpl.status.sct << 8 | r->rsp.nvme_cpl.status.sc);
}

#define SC(sct, sc) ((uint16_t)((sct) << 8 | (sc)))

static struct fake_req *
connect_cmd(struct fake_qpair *fq, uint16_t qid, uint16_t sqsize, uint16_t cntlid,
	    const char *subnqn, const char *hostnqn, uint32_t kato)
{
	struct fake_req *r = req_new(fq, sizeof(struct usk_nvmf_fabric_connect_data));
	struct usk_nvmf_fabric_connect_data *data = (void *)r->buf;

	r->cmd.connect_cmd.opcode = USK_NVME_OPC_FABRIC;
	r->cmd.connect_cmd.fctype = USK_NVMF_FABRIC_COMMAND_CONNECT;
	r->cmd.connect_cmd.cid = 1;
	r->cmd.connect_cmd.qid = qid;
	r->cmd.connect_cmd.sqsize = sqsize;
	r->cmd.connect_cmd.kato = kato;
	data->cntlid = cntlid;
	data->hostid[0] = 0x11;
	snprintf((char *)data->subnqn, sizeof(data->subnqn), "%s", subnqn);
	snprintf((char *)data->hostnqn, sizeof(data->hostnqn), "%s", hostnqn);
	req_exec(r);
	assert_int_equal(r->completions, 1);
	return r;
}

static struct fake_req *
prop_cmd(struct fake_qpair *fq, bool set, uint32_t ofst, uint8_t size, uint64_t value)
{
	struct fake_req *r = req_new(fq, 0);

	r->cmd.prop_get_cmd.opcode = USK_NVME_OPC_FABRIC;
	r->cmd.prop_get_cmd.fctype = set ? USK_NVMF_FABRIC_COMMAND_PROPERTY_SET :
				     USK_NVMF_FABRIC_COMMAND_PROPERTY_GET;
	r->cmd.prop_get_cmd.attrib.size = size;
	r->cmd.prop_get_cmd.ofst = ofst;
	if (set) {
		r->cmd.prop_set_cmd.value.u64 = value;
	}
	req_exec(r);
	assert_int_equal(r->completions, 1);
	return r;
}

static struct fake_req *
nvme_cmd(struct fake_qpair *fq, uint8_t opc, uint32_t nsid, uint32_t cdw10, uint32_t cdw11,
	 uint32_t cdw12, uint32_t len)
{
	struct fake_req *r = req_new(fq, len);

	r->cmd.nvme_cmd.opc = opc;
	r->cmd.nvme_cmd.cid = 7;
	r->cmd.nvme_cmd.nsid = nsid;
	r->cmd.nvme_cmd.cdw10 = cdw10;
	r->cmd.nvme_cmd.cdw11 = cdw11;
	r->cmd.nvme_cmd.cdw12 = cdw12;
	req_exec(r);
	return r;
}

/* Admin queue connected and enabled; returns the admin qpair and the cntlid. */
static struct fake_qpair *
ctrlr_up(const char *subnqn, const char *hostnqn, uint32_t kato, uint16_t *cntlid)
{
	struct fake_qpair *fq = qpair_new("4420");
	struct fake_req *r = connect_cmd(fq, 0, 31, 0xffff, subnqn, hostnqn, kato);

	assert_int_equal(sct_sc(r), 0);
	*cntlid = r->rsp.connect_rsp.status_code_specific.success.cntlid;
	assert_true(*cntlid >= 1 && *cntlid <= 0xffef);
	free(r);
	r = prop_cmd(fq, true, USK_NVME_REG_CC, USK_NVMF_PROP_SIZE_4,
		     1 | (6u << 16) | (4u << 20));
	assert_int_equal(sct_sc(r), 0);
	free(r);
	r = prop_cmd(fq, false, USK_NVME_REG_CSTS, USK_NVMF_PROP_SIZE_4, 0);
	assert_int_equal(r->rsp.prop_get_rsp.value.u32.low & 1, 1);
	free(r);
	return fq;
}

static void
qpair_drop(struct fake_qpair *fq)
{
	ut_set_thread(group_thread_idx(&fq->qpair));
	usk_nvmf_qpair_disconnect(&fq->qpair);
	ut_poll_threads();
	assert_true(fq->finied);
	free(fq);
}

/* ---- tests ---- */

static void
test_nqn_validation(void **state)
{
	char err[128];
	char longnqn[300];

	assert_true(usk_nvmf_nqn_is_valid(SUBNQN, err, sizeof(err)));
	assert_true(usk_nvmf_nqn_is_valid(USK_NVMF_DISCOVERY_NQN, err, sizeof(err)));
	assert_true(usk_nvmf_nqn_is_valid(HOSTNQN, err, sizeof(err)));
	assert_true(usk_nvmf_nqn_is_valid("nqn.2016-06.io.spdk:cnode1", NULL, 0));
	assert_false(usk_nvmf_nqn_is_valid("nqn.2016-06.io.", err, sizeof(err)));
	assert_false(usk_nvmf_nqn_is_valid("nqn.2016-13.io.usk:x", err, sizeof(err)));
	assert_non_null(strstr(err, "month"));
	assert_false(usk_nvmf_nqn_is_valid("iqn.2016-06.io.usk:x", err, sizeof(err)));
	assert_false(usk_nvmf_nqn_is_valid("nqn.16-06.io.usk:x", err, sizeof(err)));
	assert_false(usk_nvmf_nqn_is_valid("nqn.2016-06.1io.usk:x", err, sizeof(err)));
	assert_false(usk_nvmf_nqn_is_valid("nqn.2016-06.io.usk:", err, sizeof(err)));
	assert_false(usk_nvmf_nqn_is_valid("nqn.2014-08.org.nvmexpress:uuid:not-a-uuid", err, sizeof(err)));
	assert_false(usk_nvmf_nqn_is_valid("nqn.1", err, sizeof(err)));
	memset(longnqn, 'a', sizeof(longnqn));
	memcpy(longnqn, "nqn.2016-06.io.usk:", 19);
	longnqn[224] = '\0';
	assert_false(usk_nvmf_nqn_is_valid(longnqn, err, sizeof(err)));
	assert_non_null(strstr(err, "223"));
	longnqn[223] = '\0';
	assert_true(usk_nvmf_nqn_is_valid(longnqn, err, sizeof(err)));
	/* subsystem creation enforces it */
	struct usk_nvmf_subsystem *s;
	assert_int_equal(usk_nvmf_subsystem_create(g_tgt, "bad", USK_NVMF_SUBTYPE_NVME, 0, &s), -EINVAL);
	assert_int_equal(usk_nvmf_subsystem_create(g_tgt, SUBNQN, USK_NVMF_SUBTYPE_NVME, 0, &s), -EEXIST);
}

static void
test_connect_admin_and_io(void **state)
{
	struct fake_qpair *admin, *io, *io2;
	struct fake_req *r;
	struct usk_nvme_ctrlr_data *cdata;
	union usk_nvme_cap_register cap;
	uint16_t cntlid;

	/* Admin commands before CC.EN are refused. */
	admin = qpair_new("4420");
	r = connect_cmd(admin, 0, 31, 0xffff, SUBNQN, HOSTNQN, 0);
	assert_int_equal(sct_sc(r), 0);
	cntlid = r->rsp.connect_rsp.status_code_specific.success.cntlid;
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 0, USK_NVME_IDENTIFY_CTRLR, 0, 0, 4096);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_COMMAND_SEQUENCE_ERROR));
	free(r);
	/* A second Connect on the same queue is a sequence error. */
	r = connect_cmd(admin, 0, 31, 0xffff, SUBNQN, HOSTNQN, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_COMMAND_SEQUENCE_ERROR));
	free(r);

	r = prop_cmd(admin, false, USK_NVME_REG_CAP, USK_NVMF_PROP_SIZE_8, 0);
	cap.raw = r->rsp.prop_get_rsp.value.u64;
	assert_int_equal(cap.bits.mqes, 127);
	assert_int_equal(cap.bits.cqr, 1);
	assert_true(cap.bits.to > 0);
	assert_int_equal(cap.bits.css & USK_NVME_CAP_CSS_NVM, USK_NVME_CAP_CSS_NVM);
	free(r);
	r = prop_cmd(admin, false, USK_NVME_REG_VS, USK_NVMF_PROP_SIZE_4, 0);
	assert_int_equal(r->rsp.prop_get_rsp.value.u32.low, USK_NVME_VERSION(1, 3, 0));
	free(r);

	/* An I/O queue before enable: sequence error. */
	io = qpair_new("4420");
	r = connect_cmd(io, 1, 127, cntlid, SUBNQN, HOSTNQN, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_COMMAND_SEQUENCE_ERROR));
	free(r);

	r = prop_cmd(admin, true, USK_NVME_REG_CC, USK_NVMF_PROP_SIZE_4, 1 | (6u << 16) | (4u << 20));
	assert_int_equal(sct_sc(r), 0);
	free(r);
	r = prop_cmd(admin, false, USK_NVME_REG_CSTS, USK_NVMF_PROP_SIZE_4, 0);
	assert_int_equal(r->rsp.prop_get_rsp.value.u32.low & 1, 1);
	free(r);

	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 0, USK_NVME_IDENTIFY_CTRLR, 0, 0, 4096);
	assert_int_equal(sct_sc(r), 0);
	cdata = (struct usk_nvme_ctrlr_data *)r->buf;
	assert_int_equal(cdata->cntlid, cntlid);
	assert_memory_equal(cdata->sn, "USK00000000000001   ", 20);
	assert_memory_equal(cdata->mn, "usk Controller", 14);
	assert_string_equal((char *)cdata->subnqn, SUBNQN);
	assert_int_equal(cdata->mdts, 5);	/* 128 KiB / 4 KiB = 2^5 */
	assert_int_equal(cdata->nn, 8);
	assert_int_equal(cdata->maxcmd, 128);
	assert_int_equal(cdata->sqes, 0x66);
	assert_int_equal(cdata->cqes, 0x44);
	assert_int_equal(cdata->kas, 1);
	assert_int_equal(cdata->aerl, 3);
	assert_int_equal(cdata->nvmf_specific.ioccsz, (64 + 4096) / 16);
	assert_int_equal(cdata->nvmf_specific.iorcsz, 1);
	assert_true(cdata->sgls & USK_NVME_SGLS_SUPPORTED);
	assert_true(cdata->oncs & USK_NVME_ONCS_DSM);
	assert_true(cdata->vwc & USK_NVME_VWC_PRESENT);
	assert_int_equal(cdata->cntrltype, USK_NVME_CTRLR_TYPE_IO);
	assert_int_equal(cdata->ver, USK_NVME_VERSION(1, 3, 0));
	free(r);

	/* I/O queues: unknown cntlid, wrong host, too deep, OK, duplicate, qid beyond the limit. */
	r = connect_cmd(io, 1, 127, cntlid + 100, SUBNQN, HOSTNQN, 0);
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	assert_int_equal(r->rsp.connect_rsp.status_code_specific.invalid.iattr, 1);
	assert_int_equal(r->rsp.connect_rsp.status_code_specific.invalid.ipo, 16);
	free(r);
	r = connect_cmd(io, 1, 128, cntlid, SUBNQN, HOSTNQN, 0);
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	assert_int_equal(r->rsp.connect_rsp.status_code_specific.invalid.ipo, 44);
	free(r);
	r = connect_cmd(io, 1, 127, cntlid, SUBNQN, HOSTNQN2, 0);
	assert_int_not_equal(sct_sc(r), 0);
	free(r);
	r = connect_cmd(io, 1, 127, cntlid, SUBNQN, HOSTNQN, 0);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(r->rsp.connect_rsp.status_code_specific.success.cntlid, cntlid);
	free(r);
	io2 = qpair_new("4420");
	r = connect_cmd(io2, 1, 127, cntlid, SUBNQN, HOSTNQN, 0);
	assert_int_equal(sct_sc(r), SC(1, USK_NVME_SC_INVALID_QUEUE_IDENTIFIER));
	free(r);
	r = connect_cmd(io2, 4, 127, cntlid, SUBNQN, HOSTNQN, 0);	/* max_qpairs_per_ctrlr 4 */
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	free(r);

	/* Property Get on an I/O queue is not an I/O command. */
	r = prop_cmd(io, false, USK_NVME_REG_CAP, USK_NVMF_PROP_SIZE_8, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_OPCODE));
	free(r);

	/* Dropping the admin queue tears the I/O queues down too. */
	ut_set_thread(group_thread_idx(&admin->qpair));
	usk_nvmf_qpair_disconnect(&admin->qpair);
	ut_poll_threads();
	assert_true(admin->finied);
	assert_true(io->finied);
	free(admin);
	free(io);
	qpair_drop(io2);
}

static void
test_connect_refused(void **state)
{
	struct fake_qpair *fq = qpair_new("4420");
	struct fake_req *r;

	r = connect_cmd(fq, 0, 31, 0xffff, "nqn.2016-06.io.usk:nothere", HOSTNQN, 0);
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	assert_int_equal(r->rsp.connect_rsp.status_code_specific.invalid.iattr, 1);
	assert_int_equal(r->rsp.connect_rsp.status_code_specific.invalid.ipo, 256);
	free(r);

	usk_nvmf_subsystem_set_allow_any_host(g_subsystem, false);
	assert_int_equal(usk_nvmf_subsystem_add_host(g_subsystem, HOSTNQN2), 0);
	r = connect_cmd(fq, 0, 31, 0xffff, SUBNQN, HOSTNQN, 0);
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_HOST));
	free(r);
	r = connect_cmd(fq, 0, 31, 0xffff, SUBNQN, HOSTNQN2, 0);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	qpair_drop(fq);

	fq = qpair_new("4420");
	r = connect_cmd(fq, 0, 0, 0xffff, SUBNQN, HOSTNQN2, 0);	/* SQSIZE 0 */
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	assert_int_equal(r->rsp.connect_rsp.status_code_specific.invalid.ipo, 44);
	free(r);
	r = connect_cmd(fq, 0, 32, 0xffff, SUBNQN, HOSTNQN2, 0);	/* max_aq_depth 32 */
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	free(r);
	r = connect_cmd(fq, 0, 31, 5, SUBNQN, HOSTNQN2, 0);	/* static controller model */
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	free(r);
	qpair_drop(fq);

	/* The subsystem is not reachable on a port it does not listen on. */
	fq = qpair_new("4421");
	r = connect_cmd(fq, 0, 31, 0xffff, SUBNQN, HOSTNQN2, 0);
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	free(r);
	/* ... but the discovery service is, on every port. */
	r = connect_cmd(fq, 0, 31, 0xffff, USK_NVMF_DISCOVERY_NQN, HOSTNQN, 0);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	qpair_drop(fq);

	/* Commands before Connect */
	fq = qpair_new("4420");
	r = nvme_cmd(fq, USK_NVME_OPC_READ, 1, 0, 0, 0, 512);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_COMMAND_SEQUENCE_ERROR));
	free(r);
	qpair_drop(fq);
}

static void
test_property_shutdown(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_req *r;

	r = prop_cmd(admin, true, USK_NVME_REG_CC, USK_NVMF_PROP_SIZE_4,
		     1 | (6u << 16) | (4u << 20) | (USK_NVME_SHN_NORMAL << 14));
	assert_int_equal(sct_sc(r), 0);
	free(r);
	r = prop_cmd(admin, false, USK_NVME_REG_CSTS, USK_NVMF_PROP_SIZE_4, 0);
	assert_int_equal((r->rsp.prop_get_rsp.value.u32.low >> 2) & 3, USK_NVME_SHST_COMPLETE);
	free(r);
	r = prop_cmd(admin, false, USK_NVME_REG_CC, USK_NVMF_PROP_SIZE_4, 0);
	assert_int_equal((r->rsp.prop_get_rsp.value.u32.low >> 14) & 3, USK_NVME_SHN_NORMAL);
	free(r);
	/* CC.EN = 0: not ready any more */
	r = prop_cmd(admin, true, USK_NVME_REG_CC, USK_NVMF_PROP_SIZE_4, 0);
	free(r);
	r = prop_cmd(admin, false, USK_NVME_REG_CSTS, USK_NVMF_PROP_SIZE_4, 0);
	assert_int_equal(r->rsp.prop_get_rsp.value.u32.low & 1, 0);
	free(r);
	/* Unknown register offsets, AQA (not on fabrics), writes to read-only CAP */
	r = prop_cmd(admin, false, 0x100, USK_NVMF_PROP_SIZE_4, 0);
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	free(r);
	r = prop_cmd(admin, true, USK_NVME_REG_CAP, USK_NVMF_PROP_SIZE_8, 0);
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	free(r);
	r = prop_cmd(admin, false, USK_NVME_REG_AQA, USK_NVMF_PROP_SIZE_4, 0);
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	free(r);
	qpair_drop(admin);
}

static void
test_identify_ns(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct usk_nvme_ns_data *nsdata;
	struct usk_nvme_ns_list *list;
	struct usk_nvme_ns_id_desc *desc;
	struct fake_req *r;

	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 1, USK_NVME_IDENTIFY_NS, 0, 0, 4096);
	assert_int_equal(sct_sc(r), 0);
	nsdata = (struct usk_nvme_ns_data *)r->buf;
	assert_int_equal(nsdata->nsze, NUM_BLOCKS);
	assert_int_equal(nsdata->ncap, NUM_BLOCKS);
	assert_int_equal(nsdata->lbaf[0].lbads, 9);
	assert_int_equal(nsdata->nlbaf, 0);
	assert_true(nsdata->nsfeat & USK_NVME_NSFEAT_THIN_PROV);
	free(r);
	/* an inactive NSID gives zeroes, one beyond NN is an error */
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 2, USK_NVME_IDENTIFY_NS, 0, 0, 4096);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(((struct usk_nvme_ns_data *)r->buf)->nsze, 0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 9, USK_NVME_IDENTIFY_NS, 0, 0, 4096);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_NAMESPACE_OR_FORMAT));
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 0, USK_NVME_IDENTIFY_ACTIVE_NS_LIST, 0, 0, 4096);
	list = (struct usk_nvme_ns_list *)r->buf;
	assert_int_equal(list->ns_list[0], 1);
	assert_int_equal(list->ns_list[1], 0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 1, USK_NVME_IDENTIFY_ACTIVE_NS_LIST, 0, 0, 4096);
	assert_int_equal(((struct usk_nvme_ns_list *)r->buf)->ns_list[0], 0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 1, USK_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, 0, 0, 4096);
	assert_int_equal(sct_sc(r), 0);
	desc = (struct usk_nvme_ns_id_desc *)r->buf;
	assert_int_equal(desc->nidt, USK_NVME_NIDT_UUID);	/* the bdev's UUID */
	assert_int_equal(desc->nidl, 16);
	assert_int_equal(desc->nid[0], 0xab);
	assert_int_equal(desc->nid[15], 0xcd);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 0, 0x15, 0, 0, 4096);	/* unsupported CNS */
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_FIELD));
	free(r);
	qpair_drop(admin);
}

static void
test_features_and_opcodes(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_req *r;

	r = nvme_cmd(admin, USK_NVME_OPC_GET_FEATURES, 0, USK_NVME_FEAT_NUMBER_OF_QUEUES, 0, 0, 0);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(r->rsp.nvme_cpl.cdw0, (2u << 16) | 2u);	/* 3 I/O queues, 0's based */
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_NUMBER_OF_QUEUES, 0x00100010, 0, 0);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(r->rsp.nvme_cpl.cdw0, (2u << 16) | 2u);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_VOLATILE_WRITE_CACHE, 0, 0, 0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_FEATURES, 0, USK_NVME_FEAT_VOLATILE_WRITE_CACHE, 0, 0, 0);
	assert_int_equal(r->rsp.nvme_cpl.cdw0, 0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_KEEP_ALIVE_TIMER, 1050, 0, 0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_FEATURES, 0, USK_NVME_FEAT_KEEP_ALIVE_TIMER, 0, 0, 0);
	assert_int_equal(r->rsp.nvme_cpl.cdw0, 1100);	/* rounded up to 100 ms */
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION, 0x100, 0, 0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_FEATURES, 0, USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION, 0, 0, 0);
	assert_int_equal(r->rsp.nvme_cpl.cdw0, 0x100);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_ARBITRATION, 3, 0, 0);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_POWER_MANAGEMENT, 1, 0, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_FIELD));	/* no power state 1 */
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_ARBITRATION | (1u << 31), 3, 0, 0);
	assert_int_equal(sct_sc(r), SC(1, USK_NVME_SC_FEATURE_ID_NOT_SAVEABLE));
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_FEATURES, 0, 0x7e, 0, 0, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_FIELD));
	free(r);
	/* Unsupported admin opcodes, logs, and an unknown fabrics command type */
	r = nvme_cmd(admin, USK_NVME_OPC_FORMAT_NVM, 1, 0, 0, 0, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_OPCODE));
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_CREATE_IO_SQ, 0, 0, 0, 0, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_OPCODE));
	free(r);
	r = nvme_cmd(admin, 0xc1, 0, 0, 0, 0, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_OPCODE));
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0, 0x42 | (127u << 16), 0, 0, 512);
	assert_int_equal(sct_sc(r), SC(1, USK_NVME_SC_INVALID_LOG_PAGE));
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_HEALTH_INFORMATION | (127u << 16), 0, 0, 512);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(((struct usk_nvme_health_information_page *)r->buf)->available_spare, 100);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_FIRMWARE_SLOT | (127u << 16), 0, 0, 512);
	assert_int_equal(((struct usk_nvme_firmware_page *)r->buf)->afi, 1);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_ERROR | (15u << 16), 0, 0, 64);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	/* log length larger than the buffer */
	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_HEALTH_INFORMATION | (1023u << 16), 0, 0, 512);
	assert_int_not_equal(sct_sc(r), 0);
	free(r);
	r = req_new(admin, 0);
	r->cmd.nvmf_cmd.opcode = USK_NVME_OPC_FABRIC;
	r->cmd.nvmf_cmd.fctype = 0x7;
	req_exec(r);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_OPCODE));
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_KEEP_ALIVE, 0, 0, 0, 0, 0);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	qpair_drop(admin);
}

static struct fake_qpair *
io_qpair_up(uint16_t cntlid, uint16_t qid)
{
	struct fake_qpair *io = qpair_new("4420");
	struct fake_req *r = connect_cmd(io, qid, 127, cntlid, SUBNQN, HOSTNQN, 0);

	assert_int_equal(sct_sc(r), 0);
	free(r);
	return io;
}

static void
test_io_commands(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_qpair *io = io_qpair_up(cntlid, 1);
	struct usk_nvme_dsm_range *ranges;
	struct fake_req *r;

	r = nvme_cmd(io, USK_NVME_OPC_WRITE, 1, 100, 0, 7, 4096);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(r->rsp.nvme_cpl.cid, 7);
	assert_int_equal(g_log[0].type, USK_BDEV_IO_TYPE_WRITE);
	assert_int_equal(g_log[0].offset, 100);
	assert_int_equal(g_log[0].num, 8);
	free(r);
	r = nvme_cmd(io, USK_NVME_OPC_READ, 1, 1016, 0, 7, 4096);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(g_log[1].type, USK_BDEV_IO_TYPE_READ);
	assert_int_equal(g_log[1].offset, 1016);
	free(r);
	r = nvme_cmd(io, USK_NVME_OPC_READ, 1, 1017, 0, 7, 4096);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_LBA_OUT_OF_RANGE));
	free(r);
	r = nvme_cmd(io, USK_NVME_OPC_READ, 1, 0, 1, 0, 512);	/* SLBA above 2^32 */
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_LBA_OUT_OF_RANGE));
	free(r);
	r = nvme_cmd(io, USK_NVME_OPC_READ, 1, 0, 0, 15, 4096);	/* 8 KiB into 4 KiB */
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_DATA_SGL_LENGTH_INVALID));
	free(r);
	r = nvme_cmd(io, USK_NVME_OPC_COMPARE, 1, 0, 0, 0, 512);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(g_log[2].type, USK_BDEV_IO_TYPE_COMPARE);
	free(r);
	r = nvme_cmd(io, USK_NVME_OPC_FLUSH, 1, 0, 0, 0, 0);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(g_log[3].type, USK_BDEV_IO_TYPE_FLUSH);
	free(r);
	r = nvme_cmd(io, USK_NVME_OPC_WRITE_ZEROES, 1, 10, 0, 99, 0);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(g_log[4].type, USK_BDEV_IO_TYPE_WRITE_ZEROES);
	assert_int_equal(g_log[4].num, 100);
	free(r);
	r = nvme_cmd(io, USK_NVME_OPC_WRITE_ZEROES, 1, 1000, 0, 99, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_LBA_OUT_OF_RANGE));
	free(r);

	/* DSM deallocate with two ranges (one empty) maps to unmaps */
	g_log_n = 0;
	r = req_new(io, 48);
	ranges = (struct usk_nvme_dsm_range *)r->buf;
	ranges[0].starting_lba = 8;
	ranges[0].length = 16;
	ranges[1].length = 0;
	ranges[2].starting_lba = 512;
	ranges[2].length = 100;
	r->cmd.nvme_cmd.opc = USK_NVME_OPC_DATASET_MANAGEMENT;
	r->cmd.nvme_cmd.nsid = 1;
	r->cmd.nvme_cmd.cdw10 = 2;
	r->cmd.nvme_cmd.cdw11 = USK_NVME_DSM_ATTR_DEALLOCATE;
	req_exec(r);
	assert_int_equal(r->completions, 1);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(g_log_n, 2);
	assert_int_equal(g_log[0].type, USK_BDEV_IO_TYPE_UNMAP);
	assert_int_equal(g_log[0].offset, 8);
	assert_int_equal(g_log[0].num, 16);
	assert_int_equal(g_log[1].offset, 512);
	assert_int_equal(g_log[1].num, 100);
	free(r);
	/* DSM with a range beyond the namespace */
	r = req_new(io, 16);
	ranges = (struct usk_nvme_dsm_range *)r->buf;
	ranges[0].starting_lba = 1000;
	ranges[0].length = 100;
	r->cmd.nvme_cmd.opc = USK_NVME_OPC_DATASET_MANAGEMENT;
	r->cmd.nvme_cmd.nsid = 1;
	r->cmd.nvme_cmd.cdw11 = USK_NVME_DSM_ATTR_DEALLOCATE;
	req_exec(r);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_LBA_OUT_OF_RANGE));
	free(r);

	/* bdev errors come back as NVMe status */
	g_fail_sct = USK_NVME_SCT_MEDIA_ERROR;
	g_fail_sc = USK_NVME_SC_UNRECOVERED_READ_ERROR;
	r = nvme_cmd(io, USK_NVME_OPC_READ, 1, 0, 0, 0, 512);
	assert_int_equal(sct_sc(r), SC(USK_NVME_SCT_MEDIA_ERROR, USK_NVME_SC_UNRECOVERED_READ_ERROR));
	free(r);
	g_fail_sct = -1;

	/* bad namespaces and opcodes */
	r = nvme_cmd(io, USK_NVME_OPC_READ, 2, 0, 0, 0, 512);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_NAMESPACE_OR_FORMAT));
	free(r);
	r = nvme_cmd(io, USK_NVME_OPC_READ, 0xffffffff, 0, 0, 0, 512);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_NAMESPACE_OR_FORMAT));
	free(r);
	r = nvme_cmd(io, 0x7d, 1, 0, 0, 0, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_OPCODE));
	free(r);
	r = nvme_cmd(io, USK_NVME_OPC_RESERVATION_REPORT, 1, 0, 0, 0, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_OPCODE));
	free(r);

	qpair_drop(io);
	qpair_drop(admin);
}

static struct fake_req *
aer_submit(struct fake_qpair *admin)
{
	struct fake_req *r = nvme_cmd(admin, USK_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0, 0, 0);

	assert_int_equal(r->completions, 0);
	return r;
}

static void
test_ns_change_aen(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_req *aer[5], *r;
	union usk_nvme_async_event_completion ev;
	uint32_t nsid;
	int i;

	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION, 0x100, 0, 0);
	free(r);
	for (i = 0; i < 4; i++) {
		aer[i] = aer_submit(admin);
	}
	/* a fifth exceeds AERL */
	aer[4] = nvme_cmd(admin, USK_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0, 0, 0);
	assert_int_equal(aer[4]->completions, 1);
	assert_int_equal(sct_sc(aer[4]), SC(1, USK_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED));
	free(aer[4]);

	/* add a namespace at runtime: pause, add, resume */
	ut_set_thread(0);
	wait_state_change(usk_nvmf_subsystem_pause(g_subsystem, state_cb, NULL));
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock1", NULL, 0, &nsid), 0);
	assert_int_equal(nsid, 2);
	wait_state_change(usk_nvmf_subsystem_resume(g_subsystem, state_cb, NULL));
	assert_int_equal(aer[0]->completions, 1);
	ev.raw = aer[0]->rsp.nvme_cpl.cdw0;
	assert_int_equal(ev.bits.async_event_type, USK_NVME_ASYNC_EVENT_TYPE_NOTICE);
	assert_int_equal(ev.bits.async_event_info, USK_NVME_ASYNC_EVENT_NS_ATTR_CHANGED);
	assert_int_equal(ev.bits.log_page_identifier, USK_NVME_LOG_CHANGED_NS_LIST);
	assert_int_equal(aer[1]->completions, 0);

	/* A second change before the log is read raises no new event. */
	ut_set_thread(0);
	wait_state_change(usk_nvmf_subsystem_pause(g_subsystem, state_cb, NULL));
	assert_int_equal(usk_nvmf_subsystem_remove_ns(g_subsystem, 2), 0);
	wait_state_change(usk_nvmf_subsystem_resume(g_subsystem, state_cb, NULL));
	assert_int_equal(aer[1]->completions, 0);

	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_CHANGED_NS_LIST | (1023u << 16),
		     0, 0, 4096);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(((uint32_t *)r->buf)[0], 2);
	assert_int_equal(((uint32_t *)r->buf)[1], 0);
	free(r);
	/* after the read the list is empty and events fire again */
	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_CHANGED_NS_LIST | (1023u << 16),
		     0, 0, 4096);
	assert_int_equal(((uint32_t *)r->buf)[0], 0);
	free(r);
	ut_set_thread(0);
	wait_state_change(usk_nvmf_subsystem_pause(g_subsystem, state_cb, NULL));
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock1", NULL, 0, &nsid), 0);
	wait_state_change(usk_nvmf_subsystem_resume(g_subsystem, state_cb, NULL));
	assert_int_equal(aer[1]->completions, 1);

	/* Abort an outstanding AER */
	r = nvme_cmd(admin, USK_NVME_OPC_ABORT, 0, (uint32_t)aer[2]->cmd.nvme_cmd.cid << 16, 0, 0, 0);
	assert_int_equal(r->rsp.nvme_cpl.cdw0, 0);
	assert_int_equal(aer[2]->completions, 1);
	assert_int_equal(sct_sc(aer[2]), SC(0, USK_NVME_SC_ABORTED_BY_REQUEST));
	free(r);

	/* Teardown frees the parked AER through req_free */
	qpair_drop(admin);
	assert_true(aer[3]->freed);
	for (i = 0; i < 4; i++) {
		free(aer[i]);
	}
}

static void
test_discovery_log(void **state)
{
	struct usk_nvmf_subsystem *s2;
	struct usk_nvme_transport_id trid;
	struct usk_nvmf_discovery_log_page *log;
	struct usk_nvme_ctrlr_data *cdata;
	struct fake_qpair *disc;
	struct fake_req *r;
	uint16_t cntlid;
	uint64_t genctr;

	ut_set_thread(0);
	assert_int_equal(usk_nvmf_subsystem_create(g_tgt, "nqn.2016-06.io.usk:cnode2", USK_NVMF_SUBTYPE_NVME,
			 0, &s2), 0);
	assert_int_equal(usk_nvmf_subsystem_add_host(s2, HOSTNQN2), 0);
	fake_trid(&trid, "4430");
	assert_int_equal(usk_nvmf_subsystem_add_listener(s2, &trid, NULL), 0);
	assert_int_equal(usk_nvmf_subsystem_add_listener(s2, &trid, NULL), -EEXIST);
	fake_trid(&trid, "9");
	assert_int_not_equal(usk_nvmf_subsystem_add_listener(s2, &trid, NULL), 0);
	wait_state_change(usk_nvmf_subsystem_start(s2, state_cb, NULL));

	disc = ctrlr_up(USK_NVMF_DISCOVERY_NQN, HOSTNQN, 0, &cntlid);
	r = nvme_cmd(disc, USK_NVME_OPC_IDENTIFY, 0, USK_NVME_IDENTIFY_CTRLR, 0, 0, 4096);
	cdata = (struct usk_nvme_ctrlr_data *)r->buf;
	assert_int_equal(cdata->cntrltype, USK_NVME_CTRLR_TYPE_DISCOVERY);
	assert_int_equal(cdata->nn, 0);
	assert_string_equal((char *)cdata->subnqn, USK_NVMF_DISCOVERY_NQN);
	free(r);
	/* I/O commands and namespaces do not exist there */
	r = nvme_cmd(disc, USK_NVME_OPC_IDENTIFY, 1, USK_NVME_IDENTIFY_NS, 0, 0, 4096);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_FIELD));
	free(r);

	/* HOSTNQN sees cnode1 (any host) but not cnode2 (HOSTNQN2 only) */
	r = nvme_cmd(disc, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_DISCOVERY | (1023u << 16), 0, 0, 4096);
	assert_int_equal(sct_sc(r), 0);
	log = (struct usk_nvmf_discovery_log_page *)r->buf;
	assert_int_equal(log->numrec, 1);
	assert_int_equal(log->recfmt, 0);
	genctr = log->genctr;
	assert_int_equal(log->entries[0].trtype, USK_NVMF_TRTYPE_TCP);
	assert_int_equal(log->entries[0].adrfam, USK_NVMF_ADRFAM_IPV4);
	assert_int_equal(log->entries[0].subtype, USK_NVMF_SUBTYPE_NVME);
	assert_int_equal(log->entries[0].cntlid, 0xffff);
	assert_int_equal(log->entries[0].asqsz, 32);
	assert_string_equal((char *)log->entries[0].subnqn, SUBNQN);
	assert_memory_equal(log->entries[0].traddr, "127.0.0.1 ", 10);
	assert_memory_equal(log->entries[0].trsvcid, "4420 ", 5);
	free(r);

	/* allow HOSTNQN on cnode2: genctr moves, both are listed */
	ut_set_thread(0);
	assert_int_equal(usk_nvmf_subsystem_add_host(s2, HOSTNQN), 0);
	fake_trid(&trid, "4420");
	assert_int_equal(usk_nvmf_subsystem_add_listener(usk_nvmf_tgt_find_subsystem(g_tgt,
			 USK_NVMF_DISCOVERY_NQN), &trid, NULL), 0);
	r = nvme_cmd(disc, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_DISCOVERY | (1023u << 16), 0, 0, 4096);
	log = (struct usk_nvmf_discovery_log_page *)r->buf;
	assert_int_equal(log->numrec, 3);
	assert_true(log->genctr > genctr);
	assert_int_equal(log->entries[0].subtype, USK_NVMF_SUBTYPE_DISCOVERY_CURRENT);
	assert_string_equal((char *)log->entries[0].subnqn, USK_NVMF_DISCOVERY_NQN);
	assert_string_equal((char *)log->entries[2].subnqn, "nqn.2016-06.io.usk:cnode2");
	assert_memory_equal(log->entries[2].trsvcid, "4430", 4);
	free(r);
	/* header only, and an offset into the entries */
	r = nvme_cmd(disc, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_DISCOVERY | (255u << 16), 0, 1024, 1024);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(r->buf[0], USK_NVMF_TRTYPE_TCP);
	free(r);
	/* other logs are not on a discovery controller */
	r = nvme_cmd(disc, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_HEALTH_INFORMATION | (127u << 16), 0, 0, 512);
	assert_int_equal(sct_sc(r), SC(1, USK_NVME_SC_INVALID_LOG_PAGE));
	free(r);
	qpair_drop(disc);
}

static void
test_keep_alive_expiry(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 1000, &cntlid);
	struct fake_qpair *io = io_qpair_up(cntlid, 1);
	struct fake_req *r;

	/* Keep Alive every 600 ms keeps it up */
	for (int i = 0; i < 5; i++) {
		ut_delay_us(600 * 1000);
		r = nvme_cmd(admin, USK_NVME_OPC_KEEP_ALIVE, 0, 0, 0, 0, 0);
		assert_int_equal(sct_sc(r), 0);
		free(r);
		ut_poll_threads();
	}
	assert_false(admin->finied);
	/* silence: gone within 2 x KATO, the I/O queue with it */
	ut_delay_us(1000 * 1000);
	ut_poll_threads();
	ut_delay_us(1000 * 1000);
	ut_poll_threads();
	assert_true(admin->finied);
	assert_true(io->finied);
	free(admin);
	free(io);
}

static void
test_pause_with_io_in_flight(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_qpair *io = io_qpair_up(cntlid, 1);
	struct fake_req *w1, *w2;

	g_hold_io = true;
	w1 = req_new(io, 512);
	w1->cmd.nvme_cmd.opc = USK_NVME_OPC_WRITE;
	w1->cmd.nvme_cmd.nsid = 1;
	req_exec(w1);
	assert_int_equal(g_held_n, 1);

	ut_set_thread(0);
	g_cb_done = false;
	assert_int_equal(usk_nvmf_subsystem_pause(g_subsystem, state_cb, NULL), 0);
	ut_poll_threads();
	assert_false(g_cb_done);	/* waits for the write */
	assert_int_equal(usk_nvmf_subsystem_pause(g_subsystem, state_cb, NULL), -EBUSY);

	/* new I/O while pausing is queued, not submitted */
	w2 = req_new(io, 512);
	w2->cmd.nvme_cmd.opc = USK_NVME_OPC_READ;
	w2->cmd.nvme_cmd.nsid = 1;
	req_exec(w2);
	assert_int_equal(g_held_n, 1);
	assert_int_equal(w2->completions, 0);

	g_hold_io = false;
	release_held();
	ut_poll_threads();
	assert_int_equal(w1->completions, 1);
	assert_int_equal(sct_sc(w1), 0);
	assert_true(g_cb_done);
	g_cb_done = false;
	assert_int_equal(usk_nvmf_subsystem_get_state(g_subsystem), USK_NVMF_SUBSYSTEM_PAUSED);
	assert_int_equal(w2->completions, 0);

	ut_set_thread(0);
	wait_state_change(usk_nvmf_subsystem_resume(g_subsystem, state_cb, NULL));
	assert_int_equal(w2->completions, 1);
	assert_int_equal(sct_sc(w2), 0);
	free(w1);
	free(w2);
	qpair_drop(io);
	qpair_drop(admin);
}

static void
test_transport_opts_and_buffers(void **state)
{
	struct usk_nvmf_transport_opts opts;
	struct usk_nvmf_transport *t = NULL;
	struct usk_nvmf_transport_poll_group tg = {};
	struct fake_req *r;
	json_t *params, *dump;
	char err[256] = "";

	ut_set_thread(0);
	assert_false(usk_nvmf_transport_opts_init("nope", &opts, sizeof(opts)));
	assert_int_equal(usk_nvmf_transport_create("nope", &opts, &t, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "trtype"));
	assert_true(usk_nvmf_transport_opts_init("FAKE", &opts, sizeof(opts)));
	opts.max_io_size = 3000;
	assert_int_equal(usk_nvmf_transport_create("FAKE", &opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "max_io_size"));
	usk_nvmf_transport_opts_init("FAKE", &opts, sizeof(opts));
	opts.io_unit_size = 1024;	/* 128 buffers per I/O: too many */
	assert_int_equal(usk_nvmf_transport_create("FAKE", &opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "io_unit_size"));
	usk_nvmf_transport_opts_init("FAKE", &opts, sizeof(opts));
	opts.max_queue_depth = 1;
	assert_int_equal(usk_nvmf_transport_create("FAKE", &opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "max_queue_depth"));
	/* transport-specific members reach the transport's create() */
	usk_nvmf_transport_opts_init("FAKE", &opts, sizeof(opts));
	params = json_pack("{s:s, s:s}", "trtype", "FAKE", "knob", "x");
	opts.transport_specific = params;
	assert_int_equal(usk_nvmf_transport_create("FAKE", &opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "knob"));
	json_decref(params);

	/* the registered transport dumps its opts */
	dump = usk_nvmf_transport_opts_to_json(g_transport);
	assert_string_equal(json_string_value(json_object_get(dump, "trtype")), "FAKE");
	assert_int_equal(json_integer_value(json_object_get(dump, "max_io_qpairs_per_ctrlr")), 3);
	assert_int_equal(json_integer_value(json_object_get(dump, "knob")), 7);
	json_decref(dump);
	assert_int_equal(usk_nvmf_tgt_get_transport(g_tgt, "fake"), g_transport);

	/* buffers: 20000 bytes = 3 x 8 KiB from the pool */
	tg.transport = g_transport;
	STAILQ_INIT(&tg.buf_cache);
	tg.buf_cache_size = 2;
	r = calloc(1, sizeof(*r));
	assert_int_equal(usk_nvmf_request_get_buffers(&r->req, &tg, g_transport, 20000), 0);
	assert_int_equal(r->req.iovcnt, 3);
	assert_int_equal(r->req.iov[2].iov_len, 20000 - 2 * 8192);
	assert_true(r->req.data_from_pool);
	assert_int_equal(usk_nvmf_request_get_buffers(&r->req, &tg, g_transport, 200000), -EINVAL);
	usk_nvmf_request_free_buffers(&r->req, &tg, g_transport);
	assert_int_equal(r->req.iovcnt, 0);
	assert_int_equal(tg.buf_cache_count, 2);	/* cache refilled, the rest back in the pool */
	assert_int_equal(usk_nvmf_request_get_buffers(&r->req, &tg, g_transport, 8192), 0);
	assert_int_equal(tg.buf_cache_count, 1);
	usk_nvmf_request_free_buffers(&r->req, &tg, g_transport);
	while (!STAILQ_EMPTY(&tg.buf_cache)) {
		void *b = STAILQ_FIRST(&tg.buf_cache);

		STAILQ_REMOVE_HEAD(&tg.buf_cache, link);
		usk_mempool_put(g_transport->data_buf_pool, b);
	}
	free(r);
}

static void
test_subsystem_hosts_and_ns(void **state)
{
	struct usk_nvmf_ns_opts nopts;
	struct usk_nvmf_host *host;
	uint32_t nsid;

	ut_set_thread(0);
	/* changes need a paused or inactive subsystem */
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock1", NULL, 0, &nsid), -EPERM);
	wait_state_change(usk_nvmf_subsystem_pause(g_subsystem, state_cb, NULL));
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "NoSuch", NULL, 0, &nsid), -ENODEV);
	usk_nvmf_ns_opts_get_defaults(&nopts, sizeof(nopts));
	nopts.nsid = 1;
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock1", &nopts, sizeof(nopts), &nsid),
			 -EEXIST);
	nopts.nsid = 9;
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock1", &nopts, sizeof(nopts), &nsid),
			 -EINVAL);
	nopts.nsid = 5;
	nopts.eui64_be = 0x0011223344556677ULL;
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock1", &nopts, sizeof(nopts), &nsid), 0);
	assert_int_equal(nsid, 5);
	assert_int_equal(usk_nvmf_ns_get_id(usk_nvmf_subsystem_get_next_ns(g_subsystem,
			 usk_nvmf_subsystem_get_first_ns(g_subsystem))), 5);
	assert_int_equal(usk_nvmf_subsystem_remove_ns(g_subsystem, 3), -ENOENT);
	assert_int_equal(usk_nvmf_subsystem_remove_ns(g_subsystem, 5), 0);
	wait_state_change(usk_nvmf_subsystem_resume(g_subsystem, state_cb, NULL));

	assert_int_equal(usk_nvmf_subsystem_add_host(g_subsystem, "bad nqn"), -EINVAL);
	assert_int_equal(usk_nvmf_subsystem_add_host(g_subsystem, HOSTNQN), 0);
	assert_int_equal(usk_nvmf_subsystem_add_host(g_subsystem, HOSTNQN), -EEXIST);
	host = usk_nvmf_subsystem_get_first_host(g_subsystem);
	assert_string_equal(usk_nvmf_host_get_nqn(host), HOSTNQN);
	usk_nvmf_subsystem_set_allow_any_host(g_subsystem, false);
	assert_true(usk_nvmf_subsystem_host_allowed(g_subsystem, HOSTNQN));
	assert_false(usk_nvmf_subsystem_host_allowed(g_subsystem, HOSTNQN2));
	assert_int_equal(usk_nvmf_subsystem_remove_host(g_subsystem, HOSTNQN), 0);
	assert_int_equal(usk_nvmf_subsystem_remove_host(g_subsystem, HOSTNQN), -ENOENT);
	assert_false(usk_nvmf_subsystem_host_allowed(g_subsystem, HOSTNQN));
	assert_int_equal(usk_nvmf_subsystem_set_sn(g_subsystem, "this serial is far too long"), -EINVAL);
	assert_int_equal(usk_nvmf_subsystem_set_cntlid_range(g_subsystem, 1, 10), -EPERM);
}

static void
test_enomem_retry(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_qpair *io = io_qpair_up(cntlid, 1);
	enum { N = 200 };	/* more than the 128 bdev_io of the pool */
	struct fake_req *r[N];
	int i, done = 0;

	g_hold_io = true;
	for (i = 0; i < N; i++) {
		r[i] = req_new(io, 512);
		r[i]->cmd.nvme_cmd.opc = USK_NVME_OPC_READ;
		r[i]->cmd.nvme_cmd.nsid = 1;
		r[i]->cmd.nvme_cmd.cdw10 = (uint32_t)i;
		ut_set_thread(group_thread_idx(&io->qpair));
		usk_nvmf_request_exec(&r[i]->req);
	}
	ut_poll_threads();
	assert_true(g_held_n > 0 && g_held_n < N);	/* the rest wait for a bdev_io */
	g_hold_io = false;
	release_held();
	ut_poll_threads();
	for (i = 0; i < N; i++) {
		assert_int_equal(r[i]->completions, 1);
		assert_int_equal(sct_sc(r[i]), 0);
		done++;
		free(r[i]);
	}
	assert_int_equal(done, N);
	qpair_drop(io);
	qpair_drop(admin);
}

static void
test_remove_listener_drops_connections(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_transport *ft = (struct fake_transport *)g_transport;
	struct usk_nvme_transport_id trid;
	int listens = ft->listens;

	ut_set_thread(0);
	fake_trid(&trid, "4421");
	assert_int_equal(usk_nvmf_subsystem_remove_listener(g_subsystem, &trid), -ENOENT);
	fake_trid(&trid, "4420");
	assert_true(usk_nvmf_subsystem_listener_allowed(g_subsystem, &trid));
	assert_int_equal(usk_nvmf_subsystem_remove_listener(g_subsystem, &trid), 0);
	assert_false(usk_nvmf_subsystem_listener_allowed(g_subsystem, &trid));
	assert_int_equal(ft->listens, listens - 1);
	ut_poll_threads();
	assert_true(admin->finied);
	free(admin);
}

static void
test_ana_log(void **state)
{
	struct usk_nvme_ctrlr_data *cdata;
	struct fake_qpair *admin;
	struct fake_req *r;
	uint16_t cntlid;
	uint32_t v32;
	uint16_t ngrps;

	ut_set_thread(0);
	r = NULL;
	assert_int_equal(usk_nvmf_subsystem_set_ana_reporting(g_subsystem, true), -EPERM);
	wait_state_change(usk_nvmf_subsystem_stop(g_subsystem, state_cb, NULL));
	assert_int_equal(usk_nvmf_subsystem_set_ana_reporting(g_subsystem, true), 0);
	wait_state_change(usk_nvmf_subsystem_start(g_subsystem, state_cb, NULL));
	admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 0, USK_NVME_IDENTIFY_CTRLR, 0, 0, 4096);
	cdata = (struct usk_nvme_ctrlr_data *)r->buf;
	assert_true(cdata->cmic & USK_NVME_CMIC_ANA);
	assert_true(cdata->anatt > 0);
	assert_int_equal(cdata->anagrpmax, 8);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 1, USK_NVME_IDENTIFY_NS, 0, 0, 4096);
	assert_int_equal(((struct usk_nvme_ns_data *)r->buf)->anagrpid, 1);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0,
		     USK_NVME_LOG_ASYMMETRIC_NAMESPACE_ACCESS | (1023u << 16), 0, 0, 4096);
	assert_int_equal(sct_sc(r), 0);
	memcpy(&ngrps, r->buf + 8, 2);
	assert_int_equal(ngrps, 1);
	memcpy(&v32, r->buf + 16, 4);
	assert_int_equal(v32, 1);		/* ANAGRPID */
	memcpy(&v32, r->buf + 20, 4);
	assert_int_equal(v32, 1);		/* NNSIDS */
	assert_int_equal(r->buf[32], 0x01);	/* optimized */
	memcpy(&v32, r->buf + 48, 4);
	assert_int_equal(v32, 1);		/* NSID */
	free(r);
	qpair_drop(admin);
}

static void
unregister_cb(void *arg, int rc)
{
	*(bool *)arg = rc == 0;
}

static void
test_hot_remove(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_req *aer, *r;
	bool done = false;

	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION, 0x100, 0, 0);
	free(r);
	aer = aer_submit(admin);
	ut_set_thread(0);
	usk_bdev_unregister(g_bdev0, unregister_cb, &done);
	ut_poll_threads();
	assert_null(usk_nvmf_subsystem_get_ns(g_subsystem, 1));
	assert_int_equal(usk_nvmf_subsystem_get_state(g_subsystem), USK_NVMF_SUBSYSTEM_ACTIVE);
	assert_int_equal(aer->completions, 1);
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 0, USK_NVME_IDENTIFY_ACTIVE_NS_LIST, 0, 0, 4096);
	assert_int_equal(((uint32_t *)r->buf)[0], 0);
	free(r);
	assert_true(done);
	free(aer);
	qpair_drop(admin);
	g_bdev0 = NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nqn_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_admin_and_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_property_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify_ns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features_and_opcodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ns_change_aen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discovery_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keep_alive_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_with_io_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_opts_and_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subsystem_hosts_and_ns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hot_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enomem_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_listener_drops_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ana_log, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
