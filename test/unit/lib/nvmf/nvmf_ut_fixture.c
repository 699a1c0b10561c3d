/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fixture of the NVMe-oF target core's unit tests (nvmf_ut.h): a target with two poll groups,
 * the FAKE transport, subsystem SUBNQN with Mock0 as namespace 1, and command helpers.
 * Thread 0 runs the target; threads 1 and 2 run poll groups.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nvmf_ut.h"
#include "ut_multithread.h"

/* ---- fixture ---- */

struct usk_nvmf_tgt *g_tgt;
struct usk_nvmf_transport *g_transport;
struct usk_nvmf_subsystem *g_subsystem;
struct usk_nvmf_poll_group *g_groups[2];
struct usk_bdev *g_bdev0, *g_bdev1;
int g_cb_status;
bool g_cb_done;

static void
fini_cb(void *arg)
{
	*(bool *)arg = true;
}
static void
add_transport_cb(void *arg, int status)
{
	g_cb_status = status;
	g_cb_done = true;
}

void
state_cb(struct usk_nvmf_subsystem *subsystem, void *arg, int status)
{
	g_cb_status = status;
	g_cb_done = true;
}

void
wait_state_change(int rc)
{
	assert_int_equal(rc, 0);
	ut_poll_threads();
	assert_true(g_cb_done);
	assert_int_equal(g_cb_status, 0);
	g_cb_done = false;
}

int
setup(void **state)
{
	struct usk_nvmf_target_opts topts = {.opts_size = sizeof(topts), .name = "ut"};
	struct usk_nvmf_transport_opts opts;
	struct usk_nvme_transport_id trid;
	char err[128] = "";
	int i;
	uint32_t nsid;

	assert_int_equal(ut_allocate_threads(3), 0);
	ut_set_thread(0);
	assert_int_equal(fake_bdev_layer_init(), 0);
	g_bdev0 = mock_bdev_create("Mock0");
	assert_non_null(g_bdev0);
	g_bdev1 = mock_bdev_create("Mock1");
	assert_non_null(g_bdev1);

	assert_int_equal(usk_nvmf_tgt_create(&topts, &g_tgt), 0);
	for (i = 0; i < 2; i++) {
		ut_set_thread(i + 1);
		g_groups[i] = usk_nvmf_poll_group_create(g_tgt);
		assert_non_null(g_groups[i]);
	}
	ut_set_thread(0);
	assert_true(usk_nvmf_transport_opts_init("fake", &opts, sizeof(opts)));
	assert_int_equal(usk_nvmf_transport_create("FAKE", &opts, &g_transport, err, sizeof(err)),
			 0);
	usk_nvmf_tgt_add_transport(g_tgt, g_transport, add_transport_cb, NULL);
	ut_poll_threads();
	assert_true(g_cb_done);
	assert_int_equal(g_cb_status, 0);
	g_cb_done = false;

	assert_int_equal(usk_nvmf_subsystem_create(g_tgt, SUBNQN, USK_NVMF_SUBTYPE_NVME, 8,
						   &g_subsystem),
			 0);
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

static void
poll_group_destroyed(void *ctx, int status)
{
	(*(int *)ctx)++;
}
static void
tgt_destroyed(void *ctx, int status)
{
	*(bool *)ctx = true;
}

int
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

int
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

struct fake_qpair *
qpair_new(const char *svc)
{
	struct fake_qpair *fq = fake_qpair_new(g_tgt, g_transport, svc);

	assert_non_null(fq);
	assert_true(fq->added);
	return fq;
}

void
req_exec(struct fake_req *r)
{
	ut_set_thread(group_thread_idx(r->req.qpair));
	usk_nvmf_request_exec(&r->req);
	ut_poll_threads();
}

uint16_t
sct_sc(struct fake_req *r)
{
	return (uint16_t)(r->rsp.nvme_cpl.status.sct << 8 | r->rsp.nvme_cpl.status.sc);
}

struct fake_req *
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

struct fake_req *
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

struct fake_req *
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

struct fake_qpair *
ctrlr_up(const char *subnqn, const char *hostnqn, uint32_t kato, uint16_t *cntlid)
{
	struct fake_qpair *fq = qpair_new("4420");
	struct fake_req *r = connect_cmd(fq, 0, 31, 0xffff, subnqn, hostnqn, kato);

	assert_int_equal(sct_sc(r), 0);
	*cntlid = r->rsp.connect_rsp.status_code_specific.success.cntlid;
	assert_true(*cntlid >= 1 && *cntlid <= 0xffef);
	free(r);
	r = prop_cmd(fq, true, USK_NVME_REG_CC, USK_NVMF_PROP_SIZE_4, 1 | (6u << 16) | (4u << 20));
	assert_int_equal(sct_sc(r), 0);
	free(r);
	r = prop_cmd(fq, false, USK_NVME_REG_CSTS, USK_NVMF_PROP_SIZE_4, 0);
	assert_int_equal(r->rsp.prop_get_rsp.value.u32.low & 1, 1);
	free(r);
	return fq;
}

void
qpair_drop(struct fake_qpair *fq)
{
	ut_set_thread(group_thread_idx(&fq->qpair));
	usk_nvmf_qpair_disconnect(&fq->qpair);
	ut_poll_threads();
	assert_true(fq->finied);
	free(fq);
}

struct fake_qpair *
io_qpair_up(uint16_t cntlid, uint16_t qid)
{
	struct fake_qpair *io = qpair_new("4420");
	struct fake_req *r = connect_cmd(io, qid, 127, cntlid, SUBNQN, HOSTNQN, 0);

	assert_int_equal(sct_sc(r), 0);
	free(r);
	return io;
}

struct fake_req *
aer_submit(struct fake_qpair *admin)
{
	struct fake_req *r = nvme_cmd(admin, USK_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0, 0, 0);

	assert_int_equal(r->completions, 0);
	return r;
}
