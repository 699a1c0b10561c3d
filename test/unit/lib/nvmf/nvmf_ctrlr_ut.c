/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the NVMe-oF target core's controllers: Connect, properties, admin and I/O
 * commands, asynchronous events, keep alive, pause with I/O in flight, ENOMEM retry, ANA log.
 * Fixture and command helpers: nvmf_ut.h (fake transport and mock bdev: test/common/nvmf_fake.h).
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

	r = prop_cmd(admin, true, USK_NVME_REG_CC, USK_NVMF_PROP_SIZE_4,
		     1 | (6u << 16) | (4u << 20));
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
	assert_int_equal(cdata->mdts, 5); /* 128 KiB / 4 KiB = 2^5 */
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
	r = connect_cmd(io2, 4, 127, cntlid, SUBNQN, HOSTNQN, 0); /* max_qpairs_per_ctrlr 4 */
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
	r = connect_cmd(fq, 0, 0, 0xffff, SUBNQN, HOSTNQN2, 0); /* SQSIZE 0 */
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	assert_int_equal(r->rsp.connect_rsp.status_code_specific.invalid.ipo, 44);
	free(r);
	r = connect_cmd(fq, 0, 32, 0xffff, SUBNQN, HOSTNQN2, 0); /* max_aq_depth 32 */
	assert_int_equal(sct_sc(r), SC(1, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	free(r);
	r = connect_cmd(fq, 0, 31, 5, SUBNQN, HOSTNQN2, 0); /* static controller model */
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
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 1, USK_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, 0, 0,
		     4096);
	assert_int_equal(sct_sc(r), 0);
	desc = (struct usk_nvme_ns_id_desc *)r->buf;
	assert_int_equal(desc->nidt, USK_NVME_NIDT_UUID); /* the bdev's UUID */
	assert_int_equal(desc->nidl, 16);
	assert_int_equal(desc->nid[0], 0xab);
	assert_int_equal(desc->nid[15], 0xcd);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 0, 0x15, 0, 0, 4096); /* unsupported CNS */
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
	assert_int_equal(r->rsp.nvme_cpl.cdw0, (2u << 16) | 2u); /* 3 I/O queues, 0's based */
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_NUMBER_OF_QUEUES,
		     0x00100010, 0, 0);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(r->rsp.nvme_cpl.cdw0, (2u << 16) | 2u);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_VOLATILE_WRITE_CACHE, 0, 0,
		     0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_FEATURES, 0, USK_NVME_FEAT_VOLATILE_WRITE_CACHE, 0, 0,
		     0);
	assert_int_equal(r->rsp.nvme_cpl.cdw0, 0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_KEEP_ALIVE_TIMER, 1050, 0,
		     0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_FEATURES, 0, USK_NVME_FEAT_KEEP_ALIVE_TIMER, 0, 0, 0);
	assert_int_equal(r->rsp.nvme_cpl.cdw0, 1100); /* rounded up to 100 ms */
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION,
		     0x100, 0, 0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_FEATURES, 0, USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION,
		     0, 0, 0);
	assert_int_equal(r->rsp.nvme_cpl.cdw0, 0x100);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_ARBITRATION, 3, 0, 0);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_POWER_MANAGEMENT, 1, 0, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_FIELD)); /* no power state 1 */
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_ARBITRATION | (1u << 31), 3,
		     0, 0);
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
	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0,
		     USK_NVME_LOG_HEALTH_INFORMATION | (127u << 16), 0, 0, 512);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(((struct usk_nvme_health_information_page *)r->buf)->available_spare, 100);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_FIRMWARE_SLOT | (127u << 16),
		     0, 0, 512);
	assert_int_equal(((struct usk_nvme_firmware_page *)r->buf)->afi, 1);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_ERROR | (15u << 16), 0, 0,
		     64);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	/* log length larger than the buffer */
	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0,
		     USK_NVME_LOG_HEALTH_INFORMATION | (1023u << 16), 0, 0, 512);
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

/* The FUA bit of Write / Write Zeroes reaches the bdev; with the host's VWC off every write is FUA.
 */
static void
test_write_fua(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_qpair *io = io_qpair_up(cntlid, 1);
	struct fake_req *r;

	g_log_n = 0;
	r = nvme_cmd(io, USK_NVME_OPC_WRITE, 1, 100, 0, 7 | USK_NVME_IO_FLAGS_FORCE_UNIT_ACCESS,
		     4096);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	r = nvme_cmd(io, USK_NVME_OPC_WRITE, 1, 100, 0, 7, 4096);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	assert_int_equal(g_log_n, 2);
	assert_int_equal(g_log[0].type, USK_BDEV_IO_TYPE_WRITE);
	assert_true(g_log[0].fua);
	assert_false(g_log[1].fua);

	/* Write Zeroes FUA on a bdev with a write cache: zeroes, then a flush. */
	g_bdev0->write_cache = true;
	g_log_n = 0;
	r = nvme_cmd(io, USK_NVME_OPC_WRITE_ZEROES, 1, 10, 0,
		     3 | USK_NVME_IO_FLAGS_FORCE_UNIT_ACCESS, 0);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	assert_int_equal(g_log_n, 2);
	assert_int_equal(g_log[0].type, USK_BDEV_IO_TYPE_WRITE_ZEROES);
	assert_int_equal(g_log[1].type, USK_BDEV_IO_TYPE_FLUSH);

	/* The host turns the volatile write cache off: writes become write-through. */
	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_VOLATILE_WRITE_CACHE, 0, 0,
		     0);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	r = nvme_cmd(admin, USK_NVME_OPC_GET_FEATURES, 0, USK_NVME_FEAT_VOLATILE_WRITE_CACHE, 0, 0,
		     0);
	assert_int_equal(r->rsp.nvme_cpl.cdw0, 0);
	free(r);
	g_log_n = 0;
	r = nvme_cmd(io, USK_NVME_OPC_WRITE, 1, 100, 0, 7, 4096);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	assert_true(g_log[0].fua);
	g_bdev0->write_cache = false;
	qpair_drop(io);
	qpair_drop(admin);
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
	r = nvme_cmd(io, USK_NVME_OPC_READ, 1, 0, 1, 0, 512); /* SLBA above 2^32 */
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_LBA_OUT_OF_RANGE));
	free(r);
	r = nvme_cmd(io, USK_NVME_OPC_READ, 1, 0, 0, 15, 4096); /* 8 KiB into 4 KiB */
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
	assert_int_equal(sct_sc(r),
			 SC(USK_NVME_SCT_MEDIA_ERROR, USK_NVME_SC_UNRECOVERED_READ_ERROR));
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

static void
test_ns_change_aen(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_req *aer[5], *r;
	union usk_nvme_async_event_completion ev;
	uint32_t nsid;
	int i;

	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION,
		     0x100, 0, 0);
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

	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0,
		     USK_NVME_LOG_CHANGED_NS_LIST | (1023u << 16), 0, 0, 4096);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(((uint32_t *)r->buf)[0], 2);
	assert_int_equal(((uint32_t *)r->buf)[1], 0);
	free(r);
	/* after the read the list is empty and events fire again */
	r = nvme_cmd(admin, USK_NVME_OPC_GET_LOG_PAGE, 0,
		     USK_NVME_LOG_CHANGED_NS_LIST | (1023u << 16), 0, 0, 4096);
	assert_int_equal(((uint32_t *)r->buf)[0], 0);
	free(r);
	ut_set_thread(0);
	wait_state_change(usk_nvmf_subsystem_pause(g_subsystem, state_cb, NULL));
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock1", NULL, 0, &nsid), 0);
	wait_state_change(usk_nvmf_subsystem_resume(g_subsystem, state_cb, NULL));
	assert_int_equal(aer[1]->completions, 1);

	/* Abort an outstanding AER */
	r = nvme_cmd(admin, USK_NVME_OPC_ABORT, 0, (uint32_t)aer[2]->cmd.nvme_cmd.cid << 16, 0, 0,
		     0);
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
	assert_false(g_cb_done); /* waits for the write */
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
test_enomem_retry(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_qpair *io = io_qpair_up(cntlid, 1);
	enum {
		N = 200
	}; /* more than the 128 bdev_io of the pool */
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
	assert_true(g_held_n > 0 && g_held_n < N); /* the rest wait for a bdev_io */
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
	assert_int_equal(v32, 1); /* ANAGRPID */
	memcpy(&v32, r->buf + 20, 4);
	assert_int_equal(v32, 1);	    /* NNSIDS */
	assert_int_equal(r->buf[32], 0x01); /* optimized */
	memcpy(&v32, r->buf + 48, 4);
	assert_int_equal(v32, 1); /* NSID */
	free(r);
	qpair_drop(admin);
}

/*
 * Connect sizes the transport's qpair to SQSIZE + 1 (or fails when it cannot), and the
 * per-qpair / per-controller share of buffers for commands awaiting host data holds across the
 * controller's qpairs and is given back when a qpair leaves.
 */
static void
test_sq_size_and_data_wait(void **state)
{
	struct fake_qpair *admin, *io, *io2, *bad;
	struct fake_req *r;
	uint16_t cntlid;

	admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	assert_int_equal(admin->sq_entries, 32);
	io = io_qpair_up(cntlid, 1);
	assert_int_equal(io->sq_entries, 128);
	/* the transport cannot size it: Connect fails, nothing is created */
	bad = qpair_new("4420");
	bad->sq_size_rc = -ENOMEM;
	r = connect_cmd(bad, 2, 15, cntlid, SUBNQN, HOSTNQN, 0);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INTERNAL_DEVICE_ERROR));
	free(r);
	bad->sq_size_rc = -EINVAL;
	r = connect_cmd(bad, 2, 15, cntlid, SUBNQN, HOSTNQN, 0);
	assert_int_equal(sct_sc(r),
			 SC(USK_NVME_SCT_COMMAND_SPECIFIC, USK_NVMF_FABRIC_SC_INVALID_PARAM));
	free(r);
	bad->sq_size_rc = 0;
	io2 = bad;
	r = connect_cmd(io2, 2, 15, cntlid, SUBNQN, HOSTNQN, 0);
	assert_int_equal(sct_sc(r), 0);
	free(r);
	assert_int_equal(io2->sq_entries, 16);

	/* qpair cap 4, controller cap 6 */
	ut_set_thread(group_thread_idx(&io->qpair));
	assert_int_equal(usk_nvmf_qpair_data_wait_reserve(&io->qpair, 4, 4, 6), 0);
	assert_int_equal(usk_nvmf_qpair_data_wait_reserve(&io->qpair, 1, 4, 6), -EAGAIN);
	ut_set_thread(group_thread_idx(&io2->qpair));
	assert_int_equal(usk_nvmf_qpair_data_wait_reserve(&io2->qpair, 3, 4, 6), -EAGAIN);
	assert_int_equal(usk_nvmf_qpair_data_wait_reserve(&io2->qpair, 2, 4, 6), 0);
	assert_int_equal(usk_nvmf_qpair_data_wait_reserve(&io2->qpair, 1, 4, 6), -EAGAIN);
	usk_nvmf_qpair_data_wait_release(&io2->qpair, 1);
	assert_int_equal(usk_nvmf_qpair_data_wait_reserve(&io2->qpair, 1, 4, 6), 0);
	/* io leaves still holding 4: the controller's count drops with it */
	qpair_drop(io);
	ut_set_thread(group_thread_idx(&io2->qpair));
	assert_int_equal(usk_nvmf_qpair_data_wait_reserve(&io2->qpair, 2, 4, 6), 0);
	assert_int_equal(io2->qpair.data_wait_bufs, 4);
	usk_nvmf_qpair_data_wait_release(&io2->qpair, 4);
	assert_int_equal(io2->qpair.data_wait_bufs, 0);
	/* before Connect (no controller) only the qpair cap applies */
	bad = qpair_new("4420");
	assert_int_equal(usk_nvmf_qpair_data_wait_reserve(&bad->qpair, 4, 4, 0), 0);
	usk_nvmf_qpair_data_wait_release(&bad->qpair, 4);
	qpair_drop(bad);
	qpair_drop(io2);
	qpair_drop(admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_admin_and_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_property_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify_ns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features_and_opcodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fua, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ns_change_aen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keep_alive_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_with_io_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enomem_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ana_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sq_size_and_data_wait, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
