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

#include "nvmf_fake.h"
#include "ut_multithread.h"

/* cmocka-style asserts: abort so libFuzzer reports a crash. */
#define assert_int_equal(a, b) \
	do { \
		if ((long long)(a) != (long long)(b)) { \
			fprintf(stderr, "%s:%d: %lld != %lld\n", __FILE__, __LINE__, \
				(long long)(a), (long long)(b)); \
			abort(); \
		} \
	} while (0)
#define assert_true(c) \
	do { \
		if (!(c)) { \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort(); \
		} \
	} while (0)

static struct usk_nvmf_tgt *g_tgt;
static struct usk_nvmf_transport *g_transport;
static struct usk_nvmf_subsystem *g_subsystem;

static void
add_cb(void *arg, int status)
{
	*(int *)arg = status;
}
static void
state_cb(struct usk_nvmf_subsystem *s, void *arg, int status)
{
	*(int *)arg = status;
}

static void
setup_once(void)
{
	struct usk_nvmf_target_opts topts = {.opts_size = sizeof(topts), .name = "fuzz"};
	struct usk_nvmf_transport_opts opts;
	struct usk_nvme_transport_id trid;
	char err[128];
	int rc = 1;
	uint32_t nsid;

	assert_int_equal(ut_allocate_threads(2), 0);
	ut_set_thread(0);
	assert_int_equal(fake_bdev_layer_init(), 0);
	assert_true(mock_bdev_create("Mock0") != NULL);
	assert_int_equal(usk_nvmf_tgt_create(&topts, &g_tgt), 0);
	ut_set_thread(1);
	assert_true(usk_nvmf_poll_group_create(g_tgt) != NULL);
	ut_set_thread(0);
	usk_nvmf_transport_opts_init("FAKE", &opts, sizeof(opts));
	assert_int_equal(usk_nvmf_transport_create("FAKE", &opts, &g_transport, err, sizeof(err)),
			 0);
	rc = 1;
	usk_nvmf_tgt_add_transport(g_tgt, g_transport, add_cb, &rc);
	ut_poll_threads();
	assert_int_equal(rc, 0);
	assert_int_equal(usk_nvmf_subsystem_create(g_tgt, SUBNQN, USK_NVMF_SUBTYPE_NVME, 4,
						   &g_subsystem),
			 0);
	usk_nvmf_subsystem_set_allow_any_host(g_subsystem, true);
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock0", NULL, 0, &nsid), 0);
	fake_trid(&trid, "4420");
	assert_int_equal(usk_nvmf_subsystem_add_listener(g_subsystem, &trid, NULL), 0);
	rc = 1;
	usk_nvmf_subsystem_start(g_subsystem, state_cb, &rc);
	ut_poll_threads();
	assert_int_equal(rc, 0);
}

static struct fake_qpair *
qpair_new(void)
{
	struct fake_qpair *fq = fake_qpair_new(g_tgt, g_transport, "4420");

	assert_true(fq != NULL && fq->added);
	return fq;
}

static void
exec(struct fake_req *r)
{
	ut_set_thread(1);
	usk_nvmf_request_exec(&r->req);
	ut_poll_threads();
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
		target = qpair_new(); /* nothing connected yet */
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
