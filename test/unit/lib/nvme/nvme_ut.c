/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the transport-independent NVMe host core: transport ID parsing, the controller
 * init state machine against a fake transport (registers and admin commands answered in
 * process_completions), request splitting at MDTS / NOIOB, pool exhaustion, aborts.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../../../lib/nvme/nvme_internal.h"

/* ---- transport ID parsing ---- */

static void
test_trid_parse_tcp(void **state)
{
	struct usk_nvme_transport_id t = {0};
	struct usk_nvme_trid_extra x = {0};
	char err[128];

	assert_int_equal(usk_nvme_transport_id_parse(
				 &t, &x,
				 "TrType:tcp  ADRFAM:ipv4 traddr:127.0.0.1 "
				 "trsvcid:4420 subnqn:nqn.2016-06.io.usk:cnode1 hostnqn:nqn.h ns:3",
				 err, sizeof(err)),
			 0);
	assert_int_equal(t.trtype, USK_NVME_TRANSPORT_TCP);
	assert_string_equal(t.trstring, "TCP");
	assert_int_equal(t.adrfam, USK_NVMF_ADRFAM_IPV4);
	assert_string_equal(t.traddr, "127.0.0.1");
	assert_string_equal(t.trsvcid, "4420");
	assert_string_equal(t.subnqn, "nqn.2016-06.io.usk:cnode1");
	assert_string_equal(x.hostnqn, "nqn.h");
	assert_int_equal(x.nsid, 3);
}

static void
test_trid_parse_pcie(void **state)
{
	struct usk_nvme_transport_id t = {0};
	char err[128];

	assert_int_equal(usk_nvme_transport_id_parse(&t, NULL, "trtype:PCIe traddr:00:04.0", err,
						     sizeof(err)),
			 0);
	assert_int_equal(t.trtype, USK_NVME_TRANSPORT_PCIE);
	assert_string_equal(t.traddr, "0000:00:04.0");
	memset(&t, 0, sizeof(t));
	assert_int_equal(usk_nvme_transport_id_parse(&t, NULL, "trtype=pcie traddr=0000:AF:00.1",
						     err, sizeof(err)),
			 0);
	assert_string_equal(t.traddr, "0000:af:00.1");
	/* IPv6 values keep their colons; adrfam is inferred */
	memset(&t, 0, sizeof(t));
	assert_int_equal(usk_nvme_transport_id_parse(&t, NULL,
						     "trtype:TCP traddr:::1 trsvcid:4420 subnqn:n",
						     err, sizeof(err)),
			 0);
	assert_string_equal(t.traddr, "::1");
	assert_int_equal(t.adrfam, USK_NVMF_ADRFAM_IPV6);
}

static void
expect_bad(const char *str, const char *msg)
{
	struct usk_nvme_transport_id t = {0};
	char err[160] = "";

	assert_int_equal(usk_nvme_transport_id_parse(&t, NULL, str, err, sizeof(err)), -EINVAL);
	if (strstr(err, msg) == NULL) {
		fail_msg("'%s': expected '%s' in '%s'", str, msg, err);
	}
}

static void
test_trid_parse_errors(void **state)
{
	char longv[400];

	expect_bad("trtype:TCP traddrx:1.2.3.4", "unknown key 'traddrx'");
	expect_bad("trtype:FOO traddr:1.2.3.4", "bad value 'FOO' for key 'trtype'");
	expect_bad("trtype:TCP adrfam:IPv7 traddr:1.2.3.4", "bad value 'IPv7' for key 'adrfam'");
	expect_bad("trtype:TCP traddr:1.2.3.4 trsvcid:0", "bad value '0' for key 'trsvcid'");
	expect_bad("trtype:TCP traddr:1.2.3.4 trsvcid:44x", "bad value '44x' for key 'trsvcid'");
	expect_bad("trtype:TCP traddr", "key 'traddr' has no value");
	expect_bad("trtype:TCP traddr:", "empty value for key 'traddr'");
	expect_bad("traddr:1.2.3.4", "missing key 'trtype'");
	expect_bad("trtype:TCP subnqn:x", "missing key 'traddr'");
	expect_bad("trtype:PCIe traddr:zz:04.0", "for key 'traddr'");
	expect_bad("trtype:TCP traddr:1.2.3.4 ns:0", "bad value '0' for key 'ns'");
	expect_bad("trtype:TCP traddr:1.2.3.4 priority:-1", "bad value '-1' for key 'priority'");
	expect_bad(":x", "empty key");
	memset(longv, 'a', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	{
		char s[500];

		snprintf(s, sizeof(s), "trtype:TCP traddr:1.2.3.4 subnqn:%.*s", 240, longv);
		expect_bad(s, "value too long for key 'subnqn'");
		snprintf(s, sizeof(s), "trtype:TCP traddr:%s", longv);
		expect_bad(s, "value too long for key 'traddr'");
	}
}

static void
test_trid_compare_fmt(void **state)
{
	struct usk_nvme_transport_id a = {0}, b = {0};
	char buf[600];

	usk_nvme_transport_id_parse(&a, NULL, "trtype:PCIe traddr:0000:00:04.0", NULL, 0);
	usk_nvme_transport_id_parse(&b, NULL, "trtype:pcie traddr:00:04.0", NULL, 0);
	assert_int_equal(usk_nvme_transport_id_compare(&a, &b), 0);
	usk_nvme_transport_id_parse(&b, NULL, "trtype:pcie traddr:00:05.0", NULL, 0);
	assert_int_not_equal(usk_nvme_transport_id_compare(&a, &b), 0);
	usk_nvme_transport_id_fmt(&a, buf, sizeof(buf));
	assert_string_equal(buf, "trtype:PCIe traddr:0000:00:04.0");
}

/* ---- fake transport ---- */

#define FAKE_SLOTS 64

struct fake_ctrlr {
	struct usk_nvme_ctrlr base;
	/* registers */
	union usk_nvme_cap_register cap;
	union usk_nvme_cc_register cc;
	uint32_t csts_rdy;
	int polls_until_ready; /* CSTS.RDY follows CC.EN after this many CSTS reads; < 0 never */
	int csts_reads;
	/* behaviour */
	bool fail_identify;
	uint32_t nn;
	uint8_t mdts;
	uint16_t noiob;
	uint32_t granted_queues;
	uint32_t shutdowns;
	/* qpair connects stay CONNECTING (process returns -EAGAIN) for this many polls */
	int connect_polls;
	bool connect_fails; /* ... and then fail instead of connecting */
	uint32_t eagain_returned;
	/* namespaces: active_mask bit (nsid - 1) (0 = all of 1..nn), nsze[nsid] (0 = 1 Mi blocks)
	 */
	uint32_t active_mask;
	uint64_t nsze[8];
	bool fire_ns_aen; /* complete one outstanding AER with Namespace Attribute Changed */
	uint32_t changed_log_reads;
	uint32_t states_seen[NVME_CTRLR_STATE_DISCONNECTED + 1];
};

struct fake_qpair {
	struct usk_nvme_qpair base;
	struct nvme_request *slots[FAKE_SLOTS];
	uint32_t num_slots; /* slots this qpair offers (-EAGAIN above) */
	/* I/O commands seen (for splitting tests) */
	struct usk_nvme_cmd seen[FAKE_SLOTS];
	uint32_t seen_payload_offset[FAKE_SLOTS];
	uint32_t seen_payload_size[FAKE_SLOTS];
	uint32_t num_seen;
	bool auto_complete; /* admin: complete in the next poll */
	bool dead;
	int connect_polls_left;
};

static struct fake_ctrlr *g_fake;
static const struct usk_nvme_transport_ops g_fake_ops;

static struct fake_qpair *
fq(struct usk_nvme_qpair *q)
{
	return USK_CONTAINEROF(q, struct fake_qpair, base);
}

static struct usk_nvme_ctrlr *
fake_ctrlr_construct(const struct usk_nvme_transport_id *trid,
		     const struct usk_nvme_ctrlr_opts *opts, void *devhandle)
{
	struct fake_qpair *aq = calloc(1, sizeof(*aq));

	assert_non_null(g_fake);
	g_fake->base.transport = &g_fake_ops;
	assert_int_equal(nvme_ctrlr_construct(&g_fake->base, trid, opts), 0);
	assert_int_equal(nvme_qpair_init(&aq->base, 0, &g_fake->base, 0, 32, NVME_ADMIN_REQUESTS),
			 0);
	aq->num_slots = FAKE_SLOTS;
	aq->auto_complete = true;
	g_fake->base.adminq = &aq->base;
	return &g_fake->base;
}

static void
fake_ctrlr_destruct(struct usk_nvme_ctrlr *ctrlr)
{
	struct fake_qpair *aq = fq(ctrlr->adminq);

	nvme_qpair_deinit(&aq->base);
	free(aq);
	/* g_fake itself belongs to the test */
}

static int
fake_get_reg_4(struct usk_nvme_ctrlr *ctrlr, uint32_t off, uint32_t *v)
{
	struct fake_ctrlr *f = g_fake;

	f->states_seen[ctrlr->state]++;
	switch (off) {
	case USK_NVME_REG_VS:
		*v = USK_NVME_VERSION(1, 3, 0);
		return 0;
	case USK_NVME_REG_CC:
		*v = f->cc.raw;
		return 0;
	case USK_NVME_REG_CSTS:
		if (f->polls_until_ready >= 0 && ++f->csts_reads > f->polls_until_ready) {
			f->csts_rdy = f->cc.bits.en;
		}
		*v = f->csts_rdy;
		if (f->cc.bits.shn == USK_NVME_SHN_NORMAL) {
			f->shutdowns++;
			*v |= (uint32_t)USK_NVME_SHST_COMPLETE << 2;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

static int
fake_get_reg_8(struct usk_nvme_ctrlr *ctrlr, uint32_t off, uint64_t *v)
{
	assert_int_equal(off, USK_NVME_REG_CAP);
	*v = g_fake->cap.raw;
	return 0;
}

static int
fake_set_reg_4(struct usk_nvme_ctrlr *ctrlr, uint32_t off, uint32_t v)
{
	if (off == USK_NVME_REG_CC) {
		g_fake->cc.raw = v;
		g_fake->csts_reads = 0;
	}
	return 0;
}

static int
fake_set_reg_8(struct usk_nvme_ctrlr *ctrlr, uint32_t off, uint64_t v)
{
	return 0;
}

static uint32_t
fake_max_xfer(struct usk_nvme_ctrlr *ctrlr)
{
	return 1u << 20;
}

static struct usk_nvme_qpair *
fake_create_io_qpair(struct usk_nvme_ctrlr *ctrlr, uint16_t qid,
		     const struct usk_nvme_io_qpair_opts *opts)
{
	struct fake_qpair *q = calloc(1, sizeof(*q));

	assert_int_equal(nvme_qpair_init(&q->base, qid, ctrlr, 0, opts->io_queue_size,
					 opts->io_queue_requests),
			 0);
	q->num_slots = FAKE_SLOTS;
	return &q->base;
}

static int
fake_delete_io_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair)
{
	nvme_qpair_deinit(qpair);
	free(fq(qpair));
	return 0;
}

static int
fake_connect_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair)
{
	fq(qpair)->dead = false;
	if (g_fake->connect_polls > 0) {
		fq(qpair)->connect_polls_left = g_fake->connect_polls;
		nvme_qpair_set_state(qpair, NVME_QPAIR_CONNECTING);
		return 0;
	}
	nvme_qpair_set_state(qpair, NVME_QPAIR_CONNECTED);
	return 0;
}

static void
fake_disconnect_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair)
{
}

static void
fake_abort_reqs(struct usk_nvme_qpair *qpair, uint32_t dnr)
{
	struct fake_qpair *q = fq(qpair);
	struct usk_nvme_cpl cpl;

	for (uint32_t i = 0; i < FAKE_SLOTS; i++) {
		struct nvme_request *req = q->slots[i];

		if (req != NULL) {
			q->slots[i] = NULL;
			nvme_cpl_set_abort(&cpl, (uint16_t)i, dnr);
			nvme_complete_request(req, &cpl);
		}
	}
}

static int
fake_submit(struct usk_nvme_qpair *qpair, struct nvme_request *req)
{
	struct fake_qpair *q = fq(qpair);

	for (uint32_t i = 0; i < q->num_slots; i++) {
		if (q->slots[i] == NULL) {
			q->slots[i] = req;
			req->cid = (uint16_t)i;
			if (!qpair->is_admin && q->num_seen < FAKE_SLOTS) {
				q->seen[q->num_seen] = req->cmd;
				q->seen_payload_offset[q->num_seen] = req->payload_offset;
				q->seen_payload_size[q->num_seen] = req->payload_size;
				q->num_seen++;
			}
			return 0;
		}
	}
	return -EAGAIN;
}

/* Answer an admin command as a small NVMe 1.3 controller would. */
static void
fake_admin_answer(struct nvme_request *req, struct usk_nvme_cpl *cpl)
{
	struct fake_ctrlr *f = g_fake;
	void *buf = req->payload.contig_or_cb_arg;

	memset(cpl, 0, sizeof(*cpl));
	switch (req->cmd.opc) {
	case USK_NVME_OPC_IDENTIFY:
		switch (req->cmd.cdw10 & 0xff) {
		case USK_NVME_IDENTIFY_CTRLR: {
			struct usk_nvme_ctrlr_data *cd = buf;

			if (f->fail_identify) {
				cpl->status.sc = USK_NVME_SC_INVALID_FIELD;
				return;
			}
			memset(cd, 0, sizeof(*cd));
			cd->nn = f->nn;
			cd->mdts = f->mdts;
			cd->aerl = 3;
			cd->oncs = USK_NVME_ONCS_DSM | USK_NVME_ONCS_WRITE_ZEROES;
			cd->kas = 1;
			memcpy(cd->mn, "fake model", 10);
			return;
		}
		case USK_NVME_IDENTIFY_ACTIVE_NS_LIST: {
			uint32_t *list = buf;

			memset(list, 0, 4096);
			for (uint32_t i = 0, n = 0; i < f->nn; i++) {
				if (f->active_mask == 0 || (f->active_mask & (1u << i))) {
					list[n++] = i + 1;
				}
			}
			return;
		}
		case USK_NVME_IDENTIFY_NS: {
			struct usk_nvme_ns_data *nd = buf;

			memset(nd, 0, sizeof(*nd));
			nd->nsze = req->cmd.nsid < 8 && f->nsze[req->cmd.nsid] ?
					   f->nsze[req->cmd.nsid] :
					   1 << 20;
			nd->lbaf[0].lbads = 9;
			nd->noiob = f->noiob;
			return;
		}
		default:
			cpl->status.sc = USK_NVME_SC_INVALID_FIELD;
			return;
		}
	case USK_NVME_OPC_SET_FEATURES:
		if ((req->cmd.cdw10 & 0xff) == USK_NVME_FEAT_NUMBER_OF_QUEUES) {
			cpl->cdw0 = (f->granted_queues - 1) | ((f->granted_queues - 1) << 16);
		} else if ((req->cmd.cdw10 & 0xff) == USK_NVME_FEAT_KEEP_ALIVE_TIMER) {
			cpl->cdw0 = 0;
		}
		return;
	case USK_NVME_OPC_ASYNC_EVENT_REQUEST:
		if (f->fire_ns_aen) {
			union usk_nvme_async_event_completion ev = {.raw = 0};

			f->fire_ns_aen = false;
			ev.bits.async_event_type = USK_NVME_ASYNC_EVENT_TYPE_NOTICE;
			ev.bits.async_event_info = USK_NVME_ASYNC_EVENT_NS_ATTR_CHANGED;
			ev.bits.log_page_identifier = USK_NVME_LOG_CHANGED_NS_LIST;
			cpl->cdw0 = ev.raw;
			return;
		}
		/* stays outstanding: not answered here */
		cpl->status.sc = 0xff;
		return;
	case USK_NVME_OPC_GET_LOG_PAGE:
		if ((req->cmd.cdw10 & 0xff) == USK_NVME_LOG_CHANGED_NS_LIST) {
			f->changed_log_reads++;
		}
		return;
	default:
		return;
	}
}

static int32_t
fake_process(struct usk_nvme_qpair *qpair, uint32_t max)
{
	struct fake_qpair *q = fq(qpair);
	struct usk_nvme_cpl cpl;
	int32_t n = 0;

	if (q->dead) {
		return -ENXIO;
	}
	if (q->connect_polls_left > 0) {
		if (--q->connect_polls_left > 0) {
			g_fake->eagain_returned++;
			return -EAGAIN;
		}
		if (g_fake->connect_fails) {
			q->dead = true;
			nvme_qpair_set_state(qpair, NVME_QPAIR_DISCONNECTED);
			return -ENXIO;
		}
		nvme_qpair_set_state(qpair, NVME_QPAIR_CONNECTED);
	}
	if (!q->auto_complete) {
		return 0;
	}
	for (uint32_t i = 0; i < FAKE_SLOTS; i++) {
		struct nvme_request *req = q->slots[i];

		if (req == NULL) {
			continue;
		}
		fake_admin_answer(req, &cpl);
		if (cpl.status.sc == 0xff) {
			continue;
		}
		q->slots[i] = NULL;
		nvme_complete_request(req, &cpl);
		n++;
	}
	return n;
}

static const struct usk_nvme_transport_ops g_fake_ops = {
	.name = "CUSTOM",
	.type = USK_NVME_TRANSPORT_CUSTOM,
	.ctrlr_construct = fake_ctrlr_construct,
	.ctrlr_destruct = fake_ctrlr_destruct,
	.ctrlr_get_reg_4 = fake_get_reg_4,
	.ctrlr_get_reg_8 = fake_get_reg_8,
	.ctrlr_set_reg_4 = fake_set_reg_4,
	.ctrlr_set_reg_8 = fake_set_reg_8,
	.ctrlr_get_max_xfer_size = fake_max_xfer,
	.ctrlr_create_io_qpair = fake_create_io_qpair,
	.ctrlr_delete_io_qpair = fake_delete_io_qpair,
	.ctrlr_connect_qpair = fake_connect_qpair,
	.ctrlr_disconnect_qpair = fake_disconnect_qpair,
	.qpair_abort_reqs = fake_abort_reqs,
	.qpair_submit_request = fake_submit,
	.qpair_process_completions = fake_process,
};
USK_NVME_TRANSPORT_REGISTER(fake, &g_fake_ops)

static struct fake_ctrlr *
fake_new(void)
{
	struct fake_ctrlr *f = calloc(1, sizeof(*f));

	f->cap.bits.mqes = 127;
	f->cap.bits.to = 1; /* 500 ms */
	f->cap.bits.css = 1;
	f->polls_until_ready = 2;
	f->nn = 2;
	f->mdts = 5; /* 4 KiB << 5 = 128 KiB */
	f->granted_queues = 4;
	g_fake = f;
	return f;
}

static struct usk_nvme_ctrlr *
fake_connect(void)
{
	struct usk_nvme_transport_id trid = {0};

	usk_nvme_trid_populate_transport(&trid, USK_NVME_TRANSPORT_CUSTOM);
	snprintf(trid.trstring, sizeof(trid.trstring), "CUSTOM");
	snprintf(trid.traddr, sizeof(trid.traddr), "fake0");
	return usk_nvme_connect(&trid, NULL, 0);
}

static void
test_init_ready(void **state)
{
	struct fake_ctrlr *f = fake_new();
	struct usk_nvme_ctrlr *ctrlr;
	struct usk_nvme_ns *ns;

	/* Controller left enabled by a previous owner: init must disable it first. */
	f->cc.bits.en = 1;
	f->csts_rdy = 1;
	ctrlr = fake_connect();
	assert_non_null(ctrlr);
	assert_int_equal(ctrlr->state, NVME_CTRLR_STATE_READY);
	/* disabled (CC.EN = 0 written, RDY = 0 seen) before enabling again */
	assert_true(f->states_seen[NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_1_WAIT_FOR_CSTS] > 0);
	assert_true(f->states_seen[NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0_WAIT_FOR_CSTS] > 0);
	assert_true(f->states_seen[NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1_WAIT_FOR_CSTS] > 0);
	assert_int_equal(f->cc.bits.en, 1);
	assert_int_equal(f->cc.bits.iosqes, 6);
	assert_int_equal(f->cc.bits.iocqes, 4);
	assert_int_equal(usk_nvme_ctrlr_get_max_xfer_size(ctrlr), 128 * 1024);
	assert_int_equal(usk_nvme_ctrlr_get_num_io_queues(ctrlr), 4);
	assert_int_equal(usk_nvme_ctrlr_get_num_ns(ctrlr), 2);
	assert_int_equal(usk_nvme_ctrlr_get_first_active_ns(ctrlr), 1);
	assert_int_equal(usk_nvme_ctrlr_get_next_active_ns(ctrlr, 1), 2);
	assert_int_equal(usk_nvme_ctrlr_get_next_active_ns(ctrlr, 2), 0);
	ns = usk_nvme_ctrlr_get_ns(ctrlr, 2);
	assert_non_null(ns);
	assert_int_equal(usk_nvme_ns_get_sector_size(ns), 512);
	assert_int_equal(usk_nvme_ns_get_num_sectors(ns), 1 << 20);
	assert_true(usk_nvme_ns_supports_dsm(ns));
	assert_false(usk_nvme_ns_supports_compare(ns));
	assert_null(usk_nvme_ctrlr_get_ns(ctrlr, 3));
	/* AERs posted: aerl + 1 = 4 outstanding on the admin queue */
	assert_int_equal(ctrlr->num_aers, 4);
	assert_int_equal(usk_nvme_detach(ctrlr), 0);
	/* detach did a normal shutdown (CC.SHN = 1, waited for SHST complete) */
	assert_int_equal(f->shutdowns, 1);
	free(f);
}

static void
test_init_ready_timeout(void **state)
{
	struct fake_ctrlr *f = fake_new();
	uint64_t t0 = usk_get_ticks();
	double sec;

	f->polls_until_ready = -1; /* CSTS.RDY never becomes 1 */
	assert_null(fake_connect());
	sec = (double)(usk_get_ticks() - t0) / (double)usk_get_ticks_hz();
	/* CAP.TO = 1 is 500 ms: the wait must give up after about that long */
	assert_true(sec >= 0.45);
	assert_true(sec < 5.0);
	free(f);
}

static void
test_init_identify_fails(void **state)
{
	struct fake_ctrlr *f = fake_new();

	f->fail_identify = true;
	assert_null(fake_connect());
	free(f);
}

/* ---- splitting ---- */

struct cb_count {
	int calls;
	struct usk_nvme_cpl last;
};

static void
count_cb(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct cb_count *c = arg;

	c->calls++;
	c->last = *cpl;
}

static void
complete_all_io(struct fake_qpair *q, uint8_t sc_for_first)
{
	struct usk_nvme_cpl cpl;
	bool first = true;

	for (uint32_t i = 0; i < FAKE_SLOTS; i++) {
		struct nvme_request *req = q->slots[i];

		if (req != NULL) {
			memset(&cpl, 0, sizeof(cpl));
			if (first) {
				cpl.status.sc = sc_for_first;
				first = false;
			}
			q->slots[i] = NULL;
			nvme_complete_request(req, &cpl);
		}
	}
}

static void
test_split_mdts(void **state)
{
	struct fake_ctrlr *f = fake_new();
	struct usk_nvme_ctrlr *ctrlr = fake_connect();
	struct usk_nvme_qpair *qp;
	struct usk_nvme_ns *ns;
	struct fake_qpair *q;
	struct cb_count c = {0};
	static uint8_t buf[600 * 512];

	assert_non_null(ctrlr);
	ns = usk_nvme_ctrlr_get_ns(ctrlr, 1);
	qp = usk_nvme_ctrlr_alloc_io_qpair(ctrlr, NULL, 0);
	assert_non_null(qp);
	q = fq(qp);
	/* 600 blocks of 512 B with 128 KiB (256 blocks) per command: 256 + 256 + 88 */
	assert_int_equal(usk_nvme_ns_cmd_read(ns, qp, buf, 1000, 600, count_cb, &c, 0), 0);
	assert_int_equal(q->num_seen, 3);
	assert_int_equal(q->seen[0].cdw10, 1000);
	assert_int_equal(q->seen[0].cdw12 & 0xffff, 255);
	assert_int_equal(q->seen[1].cdw10, 1256);
	assert_int_equal(q->seen[2].cdw10, 1512);
	assert_int_equal(q->seen[2].cdw12 & 0xffff, 87);
	assert_int_equal(q->seen_payload_offset[1], 256 * 512);
	assert_int_equal(q->seen_payload_size[2], 88 * 512);
	assert_int_equal(q->seen[0].opc, USK_NVME_OPC_READ);
	assert_int_equal(q->seen[0].nsid, 1);
	assert_int_equal(usk_nvme_qpair_get_num_outstanding(qp), 3);
	/* one child fails: the parent completes once, with that error */
	complete_all_io(q, USK_NVME_SC_DATA_TRANSFER_ERROR);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.last.status.sc, USK_NVME_SC_DATA_TRANSFER_ERROR);
	assert_int_equal(usk_nvme_qpair_get_num_outstanding(qp), 0);

	/* an unsplit command: one submission, FUA carried in cdw12 */
	q->num_seen = 0;
	memset(&c, 0, sizeof(c));
	assert_int_equal(usk_nvme_ns_cmd_write(ns, qp, buf, 7, 8, count_cb, &c,
					       USK_NVME_IO_FLAGS_FORCE_UNIT_ACCESS),
			 0);
	assert_int_equal(q->num_seen, 1);
	assert_int_equal(q->seen[0].cdw12, 7u | USK_NVME_IO_FLAGS_FORCE_UNIT_ACCESS);
	complete_all_io(q, 0);
	assert_int_equal(c.calls, 1);
	assert_false(usk_nvme_cpl_is_error(&c.last));

	/* bad arguments */
	assert_int_equal(usk_nvme_ns_cmd_read(ns, qp, buf, 0, 0, count_cb, &c, 0), -EINVAL);
	assert_int_equal(usk_nvme_ns_cmd_read(ns, qp, buf, UINT64_MAX, 2, count_cb, &c, 0),
			 -EINVAL);
	usk_nvme_ctrlr_free_io_qpair(qp);
	usk_nvme_detach(ctrlr);
	free(f);
}

static void
test_split_noiob(void **state)
{
	struct fake_ctrlr *f = fake_new();
	struct usk_nvme_ctrlr *ctrlr;
	struct usk_nvme_qpair *qp;
	struct fake_qpair *q;
	struct cb_count c = {0};
	static uint8_t buf[64 * 512];

	f->noiob = 16;
	ctrlr = fake_connect();
	assert_non_null(ctrlr);
	qp = usk_nvme_ctrlr_alloc_io_qpair(ctrlr, NULL, 0);
	q = fq(qp);
	/* blocks 10..41 cross boundaries 16 and 32: 6 + 16 + 10 */
	assert_int_equal(usk_nvme_ns_cmd_read(usk_nvme_ctrlr_get_ns(ctrlr, 1), qp, buf, 10, 32,
					      count_cb, &c, 0),
			 0);
	assert_int_equal(q->num_seen, 3);
	assert_int_equal(q->seen[0].cdw12 & 0xffff, 5);
	assert_int_equal(q->seen[1].cdw10, 16);
	assert_int_equal(q->seen[1].cdw12 & 0xffff, 15);
	assert_int_equal(q->seen[2].cdw10, 32);
	assert_int_equal(q->seen[2].cdw12 & 0xffff, 9);
	complete_all_io(q, 0);
	assert_int_equal(c.calls, 1);
	usk_nvme_ctrlr_free_io_qpair(qp);
	usk_nvme_detach(ctrlr);
	free(f);
}

static void
test_pool_and_queueing(void **state)
{
	struct fake_ctrlr *f = fake_new();
	struct usk_nvme_ctrlr *ctrlr = fake_connect();
	struct usk_nvme_io_qpair_opts o;
	struct usk_nvme_qpair *qp;
	struct fake_qpair *q;
	struct usk_nvme_ns *ns;
	struct cb_count c = {0};
	static uint8_t buf[4096];
	int rc, n = 0;

	assert_non_null(ctrlr);
	ns = usk_nvme_ctrlr_get_ns(ctrlr, 1);
	usk_nvme_ctrlr_get_default_io_qpair_opts(ctrlr, &o, sizeof(o));
	o.io_queue_size = 8;
	o.io_queue_requests = 8;
	qp = usk_nvme_ctrlr_alloc_io_qpair(ctrlr, &o, sizeof(o));
	assert_non_null(qp);
	q = fq(qp);
	q->num_slots = 4; /* transport full after 4: the rest wait in the core's queue */
	while ((rc = usk_nvme_ns_cmd_read(ns, qp, buf, 0, 8, count_cb, &c, 0)) == 0) {
		n++;
	}
	assert_int_equal(rc, -ENOMEM);
	assert_int_equal(n, 8);
	assert_int_equal(q->num_seen, 4);
	assert_int_equal(usk_nvme_qpair_get_num_outstanding(qp), 8);
	/* completing frees slots; process_completions resubmits the queued ones */
	complete_all_io(q, 0);
	assert_int_equal(c.calls, 4);
	assert_int_equal(usk_nvme_qpair_process_completions(qp, 0), 0);
	assert_int_equal(q->num_seen, 8);
	/* the connection dies: everything outstanding completes with ABORTED - SQ DELETION */
	q->dead = true;
	assert_int_equal(usk_nvme_qpair_process_completions(qp, 0), -ENXIO);
	assert_int_equal(c.calls, 8);
	assert_true(usk_nvme_cpl_is_aborted_sq_deletion(&c.last));
	assert_true(usk_nvme_qpair_is_failed(qp));
	assert_int_equal(usk_nvme_ns_cmd_read(ns, qp, buf, 0, 8, count_cb, &c, 0), -ENXIO);
	usk_nvme_ctrlr_free_io_qpair(qp);
	usk_nvme_detach(ctrlr);
	free(f);
}

static void
test_detach_aborts_admin(void **state)
{
	struct fake_ctrlr *f = fake_new();
	struct usk_nvme_ctrlr *ctrlr = fake_connect();
	struct cb_count c = {0};
	uint8_t page[512];

	assert_non_null(ctrlr);
	fq(ctrlr->adminq)->auto_complete = false;
	assert_int_equal(usk_nvme_ctrlr_cmd_get_log_page(ctrlr, USK_NVME_LOG_ERROR, 0, page,
							 sizeof(page), 0, count_cb, &c),
			 0);
	assert_int_equal(c.calls, 0);
	usk_nvme_detach(ctrlr);
	assert_int_equal(c.calls, 1);
	assert_true(usk_nvme_cpl_is_aborted_sq_deletion(&c.last));
	free(f);
}

static void
timeout_cb(void *arg, struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair, uint16_t cid)
{
	(*(int *)arg)++;
}

static void
test_admin_timeout_cb(void **state)
{
	struct fake_ctrlr *f = fake_new();
	struct usk_nvme_ctrlr *ctrlr = fake_connect();
	struct cb_count c = {0};
	uint8_t page[512];
	int timeouts = 0;
	uint64_t end;

	assert_non_null(ctrlr);
	usk_nvme_ctrlr_register_timeout_callback(ctrlr, 0, 20000, timeout_cb, &timeouts);
	fq(ctrlr->adminq)->auto_complete = false;
	assert_int_equal(usk_nvme_ctrlr_cmd_get_log_page(ctrlr, USK_NVME_LOG_ERROR, 0, page,
							 sizeof(page), 0, count_cb, &c),
			 0);
	end = usk_get_ticks() + usk_get_ticks_hz() / 5; /* 200 ms */
	while (usk_get_ticks() < end) {
		usk_nvme_ctrlr_process_admin_completions(ctrlr);
	}
	/* reported once (the outstanding AERs never time out) */
	assert_int_equal(timeouts, 1);
	usk_nvme_detach(ctrlr);
	free(f);
}

/* The -EAGAIN contract: a qpair that is still connecting is polled on, not failed. */
static void
test_connect_eagain(void **state)
{
	struct fake_ctrlr *f = fake_new();
	struct usk_nvme_ctrlr *ctrlr;
	struct usk_nvme_qpair *qp;

	/* The admin queue (as TCP's) and I/O qpairs (as PCIe's Create CQ/SQ) take 5 polls. */
	f->connect_polls = 5;
	ctrlr = fake_connect();
	assert_non_null(ctrlr);
	assert_int_equal(ctrlr->state, NVME_CTRLR_STATE_READY);
	assert_int_equal(f->eagain_returned, 4);
	qp = usk_nvme_ctrlr_alloc_io_qpair(ctrlr, NULL, 0);
	assert_non_null(qp);
	assert_int_equal(nvme_qpair_get_state(qp), NVME_QPAIR_ENABLED);
	assert_int_equal(f->eagain_returned, 8);
	usk_nvme_ctrlr_free_io_qpair(qp);

	/* A connect that fails after a while is reported as a failure. */
	f->connect_fails = true;
	qp = usk_nvme_ctrlr_alloc_io_qpair(ctrlr, NULL, 0);
	assert_null(qp);
	usk_nvme_detach(ctrlr);
	free(f);

	/* ... and fails init when it is the admin queue's. */
	f = fake_new();
	f->connect_polls = 3;
	f->connect_fails = true;
	assert_null(fake_connect());
	free(f);
}

static int g_removed;

static void
remove_cb(void *cb_ctx, struct usk_nvme_ctrlr *ctrlr)
{
	g_removed++;
	*(struct usk_nvme_ctrlr **)cb_ctx = ctrlr;
}

static void
probe_attach_cb(void *cb_ctx, const struct usk_nvme_transport_id *trid,
		struct usk_nvme_ctrlr *ctrlr, const struct usk_nvme_ctrlr_opts *opts)
{
	*(struct usk_nvme_ctrlr **)cb_ctx = ctrlr;
}

/* The core calls the probe's remove_cb when a transport reports removal, once; not on failure. */
static void
test_remove_cb(void **state)
{
	struct fake_ctrlr *f = fake_new();
	struct usk_nvme_transport_id trid = {0};
	struct usk_nvme_ctrlr *ctrlr = NULL, *seen = NULL;

	usk_nvme_trid_populate_transport(&trid, USK_NVME_TRANSPORT_CUSTOM);
	snprintf(trid.trstring, sizeof(trid.trstring), "CUSTOM");
	snprintf(trid.traddr, sizeof(trid.traddr), "fake0");
	g_removed = 0;
	assert_int_equal(usk_nvme_probe(&trid, &ctrlr, NULL, probe_attach_cb, remove_cb), 0);
	assert_non_null(ctrlr);
	ctrlr->remove_cb_ctx = &seen;
	nvme_ctrlr_fail(ctrlr, false);
	assert_int_equal(g_removed, 0);
	nvme_ctrlr_fail(ctrlr, true);
	assert_int_equal(g_removed, 1);
	assert_ptr_equal(seen, ctrlr);
	nvme_ctrlr_fail(ctrlr, true);
	assert_int_equal(g_removed, 1);
	usk_nvme_detach(ctrlr);
	free(f);
}

/* The discovery NQN makes a discovery controller on fabrics only. */
static bool
probe_disc_cb(void *cb_ctx, const struct usk_nvme_transport_id *trid,
	      struct usk_nvme_ctrlr_opts *opts)
{
	*(bool *)cb_ctx = opts->is_discovery;
	return false;
}

/* Stand-ins for the PCIe and TCP transports: only the probe callback is reached. */
static const struct usk_nvme_transport_ops g_fake_pcie_ops = {
	.name = "PCIe",
	.type = USK_NVME_TRANSPORT_PCIE,
	.ctrlr_construct = fake_ctrlr_construct,
};
USK_NVME_TRANSPORT_REGISTER(fake_pcie, &g_fake_pcie_ops)
static const struct usk_nvme_transport_ops g_fake_tcp_ops = {
	.name = "TCP",
	.type = USK_NVME_TRANSPORT_TCP,
	.ctrlr_construct = fake_ctrlr_construct,
};
USK_NVME_TRANSPORT_REGISTER(fake_tcp, &g_fake_tcp_ops)

static void
test_discovery_nqn_fabrics_only(void **state)
{
	struct usk_nvme_transport_id trid = {0};
	bool disc = true;

	usk_nvme_trid_populate_transport(&trid, USK_NVME_TRANSPORT_PCIE);
	snprintf(trid.traddr, sizeof(trid.traddr), "0000:00:04.0");
	snprintf(trid.subnqn, sizeof(trid.subnqn), "%s", USK_NVMF_DISCOVERY_NQN);
	assert_int_equal(usk_nvme_probe(&trid, &disc, probe_disc_cb, NULL, NULL), 0);
	assert_false(disc);
	usk_nvme_trid_populate_transport(&trid, USK_NVME_TRANSPORT_TCP);
	snprintf(trid.traddr, sizeof(trid.traddr), "127.0.0.1");
	snprintf(trid.trsvcid, sizeof(trid.trsvcid), "4420");
	assert_int_equal(usk_nvme_probe(&trid, &disc, probe_disc_cb, NULL, NULL), 0);
	assert_true(disc);
}

static int g_aer_calls;
static uint32_t g_aer_cdw0;
static bool g_aer_saw_ns3;

static void
aer_cb(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;

	g_aer_calls++;
	g_aer_cdw0 = cpl->cdw0;
	/* The namespaces are already rescanned when the application hears of the change. */
	g_aer_saw_ns3 = usk_nvme_ctrlr_is_active_ns(ctrlr, 3);
}

/* Namespace Attribute Changed AEN: added, removed and resized namespaces are rescanned. */
static void
test_ns_rescan(void **state)
{
	struct fake_ctrlr *f = fake_new();
	struct usk_nvme_ctrlr *ctrlr;
	struct usk_nvme_ns *ns1;
	uint64_t end;

	f->nn = 4;
	f->active_mask = 0x3; /* 1 and 2 */
	ctrlr = fake_connect();
	assert_non_null(ctrlr);
	fq(ctrlr->adminq)->auto_complete = true;
	usk_nvme_ctrlr_register_aer_callback(ctrlr, aer_cb, ctrlr);
	ns1 = usk_nvme_ctrlr_get_ns(ctrlr, 1);
	assert_true(usk_nvme_ctrlr_is_active_ns(ctrlr, 2));
	assert_false(usk_nvme_ctrlr_is_active_ns(ctrlr, 3));
	assert_int_equal(usk_nvme_ns_get_num_sectors(ns1), 1 << 20);

	/* Target side: 2 removed, 3 added, 1 grown; then the AEN. */
	g_aer_calls = 0;
	f->active_mask = 0x5;
	f->nsze[1] = 3 << 20;
	f->fire_ns_aen = true;
	end = usk_get_ticks() + usk_get_ticks_hz();
	while (g_aer_calls == 0 && usk_get_ticks() < end) {
		assert_true(usk_nvme_ctrlr_process_admin_completions(ctrlr) >= 0);
	}
	assert_int_equal(g_aer_calls, 1);
	assert_true(g_aer_saw_ns3);
	assert_int_equal(f->changed_log_reads, 1);
	assert_int_equal(g_aer_cdw0 & 7, USK_NVME_ASYNC_EVENT_TYPE_NOTICE);
	assert_false(usk_nvme_ctrlr_is_active_ns(ctrlr, 2));
	assert_true(usk_nvme_ctrlr_is_active_ns(ctrlr, 3));
	/* same object (users hold pointers), new size; a removed one has no object */
	assert_ptr_equal(usk_nvme_ctrlr_get_ns(ctrlr, 1), ns1);
	assert_null(usk_nvme_ctrlr_get_ns(ctrlr, 2));
	assert_int_equal(usk_nvme_ns_get_num_sectors(ns1), 3 << 20);
	assert_int_equal(usk_nvme_ctrlr_get_first_active_ns(ctrlr), 1);
	assert_int_equal(usk_nvme_ctrlr_get_next_active_ns(ctrlr, 1), 3);
	assert_int_equal(usk_nvme_ctrlr_get_next_active_ns(ctrlr, 3), 0);
	usk_nvme_detach(ctrlr);
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trid_parse_tcp),
		cmocka_unit_test(test_trid_parse_pcie),
		cmocka_unit_test(test_trid_parse_errors),
		cmocka_unit_test(test_trid_compare_fmt),
		cmocka_unit_test(test_init_ready),
		cmocka_unit_test(test_init_ready_timeout),
		cmocka_unit_test(test_init_identify_fails),
		cmocka_unit_test(test_split_mdts),
		cmocka_unit_test(test_split_noiob),
		cmocka_unit_test(test_pool_and_queueing),
		cmocka_unit_test(test_detach_aborts_admin),
		cmocka_unit_test(test_admin_timeout_cb),
		cmocka_unit_test(test_connect_eagain),
		cmocka_unit_test(test_remove_cb),
		cmocka_unit_test(test_discovery_nqn_fabrics_only),
		cmocka_unit_test(test_ns_rescan),
	};

	usk_log_set_print_level(USK_LOG_DISABLED);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
