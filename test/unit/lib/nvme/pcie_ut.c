/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the PCIe transport's queue pair (lib/nvme/pcie_qpair.c, included directly so
 * the core is replaced by the stubs below): PRP lists (unaligned first entry, chained list
 * pages, scattered payloads, the invalid shapes), SGL descriptors, submission (SQ entry, cid,
 * doorbell per command or once per batch), completions (phase bit across the ring wrap, CQ
 * doorbell once per poll, unknown cid), shadow doorbells with EventIdx, abort of outstanding.
 * Rings live in ordinary DMA memory; "doorbell registers" are an array.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../../../lib/nvme/pcie_qpair.c"

/* ---- stubs of the transport-independent core ---- */

USK_LOG_REGISTER_COMPONENT(nvme)

#define MAX_DONE 512
static struct {
	struct nvme_request *req;
	struct usk_nvme_cpl cpl;
} g_done[MAX_DONE];
static int g_num_done;

void
nvme_complete_request(struct nvme_request *req, const struct usk_nvme_cpl *cpl)
{
	assert_true(g_num_done < MAX_DONE);
	g_done[g_num_done].req = req;
	g_done[g_num_done].cpl = *cpl;
	g_num_done++;
}

const char *
usk_nvme_opc_get_string(bool admin, uint8_t opc)
{
	return "OPC";
}

const char *
usk_nvme_cpl_get_status_string(const struct usk_nvme_status *status)
{
	return "STATUS";
}

int
nvme_qpair_init(struct usk_nvme_qpair *qpair, uint16_t id, struct usk_nvme_ctrlr *ctrlr,
		uint8_t qprio, uint32_t num_entries, uint32_t num_requests)
{
	qpair->ctrlr = ctrlr;
	qpair->id = id;
	qpair->is_admin = id == 0;
	qpair->num_entries = num_entries;
	STAILQ_INIT(&qpair->free_req);
	return 0;
}

void
nvme_qpair_deinit(struct usk_nvme_qpair *qpair)
{
}

int
nvme_qpair_submit_request(struct usk_nvme_qpair *qpair, struct nvme_request *req)
{
	return -ENOTSUP;
}

int32_t
usk_nvme_ctrlr_process_admin_completions(struct usk_nvme_ctrlr *ctrlr)
{
	return 0;
}

void
nvme_ctrlr_fail(struct usk_nvme_ctrlr *ctrlr, bool hot_remove)
{
	ctrlr->is_failed = true;
}

/* ---- PRP / SGL builders with a fake translation ---- */

#define PA_OFFSET 0x100000000000ULL
static uintptr_t g_bad_lo, g_bad_hi; /* untranslatable range */

static uint64_t
fake_vtop(const void *vaddr, uint64_t *size)
{
	uintptr_t va = (uintptr_t)vaddr;

	if (va >= g_bad_lo && va < g_bad_hi) {
		return USK_VTOPHYS_ERROR;
	}
	/* everything is contiguous */
	return va + PA_OFFSET;
}

struct segs {
	void *addr[8];
	uint32_t len[8];
	int n, i;
};

static int
segs_next(void *ctx, void **addr, uint32_t *len)
{
	struct segs *s = ctx;

	if (s->i >= s->n) {
		return -EINVAL;
	}
	*addr = s->addr[s->i];
	*len = s->len[s->i];
	s->i++;
	return 0;
}

static uint64_t g_list[NVME_PCIE_LIST_PAGES * NVME_PCIE_PRPS_PER_PAGE];
static struct nvme_pcie_tracker g_tr = {
	.list = g_list,
	.list_bus = {0xa0000000, 0xb0000000},
};

static int
build(struct usk_nvme_cmd *cmd, uintptr_t va, uint32_t len)
{
	struct segs s = {.addr = {(void *)va}, .len = {len}, .n = 1};

	memset(cmd, 0, sizeof(*cmd));
	memset(g_list, 0, sizeof(g_list));
	return nvme_pcie_build_prps(cmd, &g_tr, len, segs_next, &s, fake_vtop);
}

#define BASE ((uintptr_t)0x7f0000000000ULL) /* page aligned; never dereferenced */

static void
test_prp_single_page(void **state)
{
	struct usk_nvme_cmd cmd;

	/* 512 bytes at a page start: PRP1 only (seed 001's hello_world write) */
	assert_int_equal(build(&cmd, BASE, 512), 0);
	assert_int_equal(cmd.psdt, USK_NVME_PSDT_PRP);
	assert_int_equal(cmd.dptr.prp.prp1, BASE + PA_OFFSET);
	assert_int_equal(cmd.dptr.prp.prp2, 0);
	/* a whole page */
	assert_int_equal(build(&cmd, BASE, 4096), 0);
	assert_int_equal(cmd.dptr.prp.prp2, 0);
	/* unaligned start within one page */
	assert_int_equal(build(&cmd, BASE + 0x800, 0x800), 0);
	assert_int_equal(cmd.dptr.prp.prp1, BASE + 0x800 + PA_OFFSET);
	assert_int_equal(cmd.dptr.prp.prp2, 0);
	/* no data */
	assert_int_equal(build(&cmd, BASE, 0), 0);
	assert_int_equal(cmd.dptr.prp.prp1, 0);
}

static void
test_prp_two_pages(void **state)
{
	struct usk_nvme_cmd cmd;

	/* two pages: PRP2 is the second page itself, no list */
	assert_int_equal(build(&cmd, BASE, 8192), 0);
	assert_int_equal(cmd.dptr.prp.prp1, BASE + PA_OFFSET);
	assert_int_equal(cmd.dptr.prp.prp2, BASE + 4096 + PA_OFFSET);
	/* 4 KiB starting mid-page also spans two pages */
	assert_int_equal(build(&cmd, BASE + 0x200, 4096), 0);
	assert_int_equal(cmd.dptr.prp.prp1, BASE + 0x200 + PA_OFFSET);
	assert_int_equal(cmd.dptr.prp.prp2, BASE + 4096 + PA_OFFSET);
}

static void
test_prp_list(void **state)
{
	struct usk_nvme_cmd cmd;

	/* unaligned first PRP, then a list of whole pages (the last partial) */
	assert_int_equal(build(&cmd, BASE + 0x200, 3 * 4096), 0);
	assert_int_equal(cmd.dptr.prp.prp1, BASE + 0x200 + PA_OFFSET);
	assert_int_equal(cmd.dptr.prp.prp2, g_tr.list_bus[0]);
	assert_int_equal(g_list[0], BASE + 4096 + PA_OFFSET);
	assert_int_equal(g_list[1], BASE + 2 * 4096 + PA_OFFSET);
	assert_int_equal(g_list[2], BASE + 3 * 4096 + PA_OFFSET);
	assert_int_equal(g_list[3], 0);
}

static void
test_prp_chained(void **state)
{
	struct usk_nvme_cmd cmd;
	uint32_t k;

	/* 4 MiB aligned = 1024 pages: PRP1 + 1023 entries, more than a list page holds */
	assert_int_equal(build(&cmd, BASE, 4u << 20), 0);
	assert_int_equal(cmd.dptr.prp.prp2, g_tr.list_bus[0]);
	for (k = 0; k < 511; k++) {
		assert_int_equal(g_list[k], BASE + (k + 1) * 4096ULL + PA_OFFSET);
	}
	/* the last slot of the first list page points to the next list page */
	assert_int_equal(g_list[511], g_tr.list_bus[1]);
	for (k = 511; k < 1023; k++) {
		assert_int_equal(g_list[k + 1], BASE + (k + 1) * 4096ULL + PA_OFFSET);
	}
	/* exactly 513 pages = 512 entries: still one list page, no chain */
	assert_int_equal(build(&cmd, BASE, 513 * 4096), 0);
	assert_int_equal(g_list[511], BASE + 512 * 4096ULL + PA_OFFSET);
	/* 514 pages: 513 entries, chained */
	assert_int_equal(build(&cmd, BASE, 514 * 4096), 0);
	assert_int_equal(g_list[511], g_tr.list_bus[1]);
	assert_int_equal(g_list[512], BASE + 512 * 4096ULL + PA_OFFSET);
	assert_int_equal(g_list[513], BASE + 513 * 4096ULL + PA_OFFSET);
	/* 4 MiB starting mid-page needs 1025 pages: more than two list pages describe */
	assert_int_equal(build(&cmd, BASE + 0x200, 4u << 20), -E2BIG);
}

static void
test_prp_bad(void **state)
{
	struct usk_nvme_cmd cmd;

	/* PRP1 must be dword aligned */
	assert_int_equal(build(&cmd, BASE + 2, 512), -EINVAL);
	/* untranslatable memory */
	g_bad_lo = BASE + 4096;
	g_bad_hi = BASE + 8192;
	assert_int_equal(build(&cmd, BASE, 3 * 4096), -EFAULT);
	g_bad_lo = g_bad_hi = 0;
}

static int
build_segs(struct usk_nvme_cmd *cmd, struct segs *s, uint32_t total, bool sgl)
{
	memset(cmd, 0, sizeof(*cmd));
	memset(g_list, 0, sizeof(g_list));
	s->i = 0;
	return sgl ? nvme_pcie_build_sgl(cmd, &g_tr, total, segs_next, s, fake_vtop) :
		     nvme_pcie_build_prps(cmd, &g_tr, total, segs_next, s, fake_vtop);
}

static void
test_prp_scattered(void **state)
{
	struct usk_nvme_cmd cmd;
	/* tail of one page, two whole pages elsewhere, 100 bytes of a third buffer */
	struct segs ok = {
		.addr = {(void *)(BASE + 0xe00), (void *)(BASE + 0x10000),
			 (void *)(BASE + 0x20000)},
		.len = {0x200, 0x2000, 100},
		.n = 3,
	};
	struct segs mid_unaligned = {
		.addr = {(void *)BASE, (void *)(BASE + 0x10100)},
		.len = {4096, 4096},
		.n = 2,
	};
	struct segs short_middle = {
		.addr = {(void *)BASE, (void *)(BASE + 0x10000), (void *)(BASE + 0x20000)},
		.len = {4096, 1000, 4096},
		.n = 3,
	};

	assert_int_equal(build_segs(&cmd, &ok, 0x200 + 0x2000 + 100, false), 0);
	assert_int_equal(cmd.dptr.prp.prp1, BASE + 0xe00 + PA_OFFSET);
	assert_int_equal(cmd.dptr.prp.prp2, g_tr.list_bus[0]);
	assert_int_equal(g_list[0], BASE + 0x10000 + PA_OFFSET);
	assert_int_equal(g_list[1], BASE + 0x11000 + PA_OFFSET);
	assert_int_equal(g_list[2], BASE + 0x20000 + PA_OFFSET);
	/* a segment after the first must start a page */
	assert_int_equal(build_segs(&cmd, &mid_unaligned, 8192, false), -EINVAL);
	/* and every segment but the last must end one */
	assert_int_equal(build_segs(&cmd, &short_middle, 4096 + 1000 + 4096, false), -EINVAL);
	/* SGLs describe both */
	assert_int_equal(build_segs(&cmd, &short_middle, 4096 + 1000 + 4096, true), 0);
	assert_int_equal(cmd.psdt, USK_NVME_PSDT_SGL_MPTR_CONTIG);
	assert_int_equal(cmd.dptr.sgl1.unkeyed.type, USK_NVME_SGL_TYPE_LAST_SEGMENT);
	assert_int_equal(cmd.dptr.sgl1.address, g_tr.list_bus[0]);
	assert_int_equal(cmd.dptr.sgl1.unkeyed.length, 3 * 16);
	{
		struct usk_nvme_sgl_descriptor *d = (struct usk_nvme_sgl_descriptor *)g_list;

		assert_int_equal(d[1].address, BASE + 0x10000 + PA_OFFSET);
		assert_int_equal(d[1].unkeyed.length, 1000);
		assert_int_equal(d[1].unkeyed.type, USK_NVME_SGL_TYPE_DATA_BLOCK);
	}
}

static void
test_sgl_single(void **state)
{
	struct usk_nvme_cmd cmd;
	struct segs one = {.addr = {(void *)(BASE + 3)}, .len = {777}, .n = 1};

	assert_int_equal(build_segs(&cmd, &one, 777, true), 0);
	assert_int_equal(cmd.dptr.sgl1.unkeyed.type, USK_NVME_SGL_TYPE_DATA_BLOCK);
	assert_int_equal(cmd.dptr.sgl1.address, BASE + 3 + PA_OFFSET);
	assert_int_equal(cmd.dptr.sgl1.unkeyed.length, 777);
}

/* ---- a whole qpair against fake registers ---- */

static uint32_t g_regs[0x2000 / 4];
static struct nvme_pcie_ctrlr g_pctrlr;

static struct nvme_pcie_qpair *
make_qpair(uint32_t entries, bool delay)
{
	struct nvme_pcie_qpair *pq = calloc(1, sizeof(*pq));

	memset(&g_pctrlr, 0, sizeof(g_pctrlr));
	memset(g_regs, 0, sizeof(g_regs));
	g_pctrlr.regs = (volatile uint8_t *)g_regs;
	g_pctrlr.doorbell_base = (volatile uint32_t *)((uint8_t *)g_regs + 0x1000);
	g_pctrlr.doorbell_stride_u32 = 1;
	snprintf(g_pctrlr.ctrlr.log_name, sizeof(g_pctrlr.ctrlr.log_name), "PCIe ut");
	nvme_qpair_init(&pq->qpair, 1, &g_pctrlr.ctrlr, 0, entries, entries);
	pq->qpair.delay_cmd_submit = delay;
	pq->efd = -1;
	nvme_qpair_set_state(&pq->qpair, NVME_QPAIR_ENABLED);
	assert_int_equal(nvme_pcie_qpair_construct(pq, &g_pctrlr), 0);
	g_num_done = 0;
	return pq;
}

static void
free_qpair(struct nvme_pcie_qpair *pq)
{
	nvme_pcie_qpair_destroy(pq);
	free(pq);
}

#define SQ_DB(qid) g_regs[0x1000 / 4 + 2 * (qid)]
#define CQ_DB(qid) g_regs[0x1000 / 4 + 2 * (qid) + 1]

static void
post_cpl(struct nvme_pcie_qpair *pq, uint32_t slot, uint16_t cid, uint8_t phase, uint8_t sc)
{
	struct usk_nvme_cpl c = {.cid = cid, .sqid = 1, .sqhd = (uint16_t)slot};

	c.status.p = phase;
	c.status.sc = sc;
	memcpy((void *)(uintptr_t)&pq->cpl[slot], &c, sizeof(c));
}

static void
test_submit_and_complete(void **state)
{
	struct nvme_pcie_qpair *pq = make_qpair(4, false);
	struct nvme_request reqs[8];
	void *buf = usk_dma_zmalloc(4096, 4096, NULL);
	int i, round;

	memset(reqs, 0, sizeof(reqs));
	/* 4 entries: 3 trackers; the 4th submit finds none */
	for (i = 0; i < 4; i++) {
		reqs[i].cmd.opc = USK_NVME_OPC_READ;
		reqs[i].cmd.nsid = 1;
		reqs[i].payload = NVME_PAYLOAD_CONTIG(buf, NULL);
		reqs[i].payload_size = 512;
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(nvme_pcie_qpair_submit_request(&pq->qpair, &reqs[i]), 0);
		/* one doorbell write per command without delay_cmd_submit */
		assert_int_equal(SQ_DB(1), (uint32_t)(i + 1) % 4);
		assert_int_equal(pq->cmd[i].cid, reqs[i].cid);
		assert_int_equal(pq->cmd[i].opc, USK_NVME_OPC_READ);
		assert_int_equal(pq->cmd[i].dptr.prp.prp1, usk_vtophys(buf, NULL));
	}
	assert_int_equal(reqs[0].cid, 0);
	assert_int_equal(reqs[1].cid, 1);
	assert_int_equal(nvme_pcie_qpair_submit_request(&pq->qpair, &reqs[3]), -EAGAIN);
	assert_int_equal(pq->sq_mmio_doorbell_updates, 3);

	/* nothing posted: nothing reaped, no CQ doorbell */
	assert_int_equal(nvme_pcie_qpair_process_completions(&pq->qpair, 0), 0);
	assert_int_equal(pq->cq_mmio_doorbell_updates, 0);
	/* completions out of order; one poll rings the CQ doorbell once */
	post_cpl(pq, 0, 2, 1, 0);
	post_cpl(pq, 1, 0, 1, USK_NVME_SC_INVALID_FIELD);
	assert_int_equal(nvme_pcie_qpair_process_completions(&pq->qpair, 0), 2);
	assert_int_equal(g_num_done, 2);
	assert_ptr_equal(g_done[0].req, &reqs[2]);
	assert_ptr_equal(g_done[1].req, &reqs[0]);
	assert_int_equal(g_done[1].cpl.status.sc, USK_NVME_SC_INVALID_FIELD);
	assert_int_equal(CQ_DB(1), 2);
	assert_int_equal(pq->cq_mmio_doorbell_updates, 1);
	/* a completion for a cid that is not outstanding is logged and dropped */
	post_cpl(pq, 2, 0, 1, 0);
	assert_int_equal(nvme_pcie_qpair_process_completions(&pq->qpair, 0), 1);
	assert_int_equal(g_num_done, 2);

	/* go round the 4-entry ring twice: the phase bit flips at each wrap */
	for (round = 0; round < 8; round++) {
		uint32_t slot = pq->cq_head;
		uint8_t phase = pq->phase;

		assert_int_equal(nvme_pcie_qpair_submit_request(&pq->qpair, &reqs[4]), 0);
		post_cpl(pq, slot, reqs[4].cid, phase, 0);
		assert_int_equal(nvme_pcie_qpair_process_completions(&pq->qpair, 0), 1);
		/* a stale entry of the old phase is not taken for a new one */
		post_cpl(pq, pq->cq_head, 1, !pq->phase, 0);
		assert_int_equal(nvme_pcie_qpair_process_completions(&pq->qpair, 0), 0);
	}
	assert_int_equal(g_num_done, 2 + 8);

	/* abort: every outstanding request completes with ABORTED - SQ DELETION */
	g_num_done = 0;
	assert_int_equal(nvme_pcie_qpair_submit_request(&pq->qpair, &reqs[5]), 0);
	nvme_pcie_qpair_abort_reqs(&pq->qpair, 1);
	assert_int_equal(g_num_done, 2); /* reqs[1] from the first batch and reqs[5] */
	assert_int_equal(g_done[0].cpl.status.sc, USK_NVME_SC_ABORTED_SQ_DELETION);
	assert_int_equal(g_done[0].cpl.status.dnr, 1);
	assert_int_equal(pq->num_free_tr, 3);
	usk_dma_free(buf);
	free_qpair(pq);
}

static void
test_delayed_doorbell(void **state)
{
	struct nvme_pcie_qpair *pq = make_qpair(16, true);
	struct nvme_request reqs[5];
	int i;

	memset(reqs, 0, sizeof(reqs));
	for (i = 0; i < 5; i++) {
		reqs[i].cmd.opc = USK_NVME_OPC_FLUSH;
		assert_int_equal(nvme_pcie_qpair_submit_request(&pq->qpair, &reqs[i]), 0);
	}
	/* nothing rung yet; one write of tail 5 at the end of the poll */
	assert_int_equal(SQ_DB(1), 0);
	assert_int_equal(nvme_pcie_qpair_process_completions(&pq->qpair, 0), 0);
	assert_int_equal(SQ_DB(1), 5);
	assert_int_equal(pq->sq_mmio_doorbell_updates, 1);
	/* no new command: no doorbell write */
	assert_int_equal(nvme_pcie_qpair_process_completions(&pq->qpair, 0), 0);
	assert_int_equal(pq->sq_mmio_doorbell_updates, 1);
	free_qpair(pq);
}

static void
test_shadow_doorbells(void **state)
{
	struct nvme_pcie_qpair *pq = make_qpair(16, false);
	uint32_t shadow[8] = {0}, eventidx[8] = {0};
	struct nvme_request reqs[3];
	int i;

	pq->has_shadow = true;
	pq->shadow.sq_tdbl = &shadow[2];
	pq->shadow.cq_hdbl = &shadow[3];
	pq->shadow.sq_eventidx = &eventidx[2];
	pq->shadow.cq_eventidx = &eventidx[3];
	memset(reqs, 0, sizeof(reqs));
	/* EventIdx 0: the controller wants to hear about moving past 0 -> MMIO */
	assert_int_equal(nvme_pcie_qpair_submit_request(&pq->qpair, &reqs[0]), 0);
	assert_int_equal(shadow[2], 1);
	assert_int_equal(SQ_DB(1), 1);
	assert_int_equal(pq->sq_mmio_doorbell_updates, 1);
	/* the controller is still polling (EventIdx far ahead): shadow only */
	eventidx[2] = 10;
	for (i = 1; i < 3; i++) {
		assert_int_equal(nvme_pcie_qpair_submit_request(&pq->qpair, &reqs[i]), 0);
	}
	assert_int_equal(shadow[2], 3);
	assert_int_equal(SQ_DB(1), 1);
	assert_int_equal(pq->sq_mmio_doorbell_updates, 1);
	/* completions: CQ head goes to the shadow; EventIdx 0 means MMIO too */
	post_cpl(pq, 0, reqs[0].cid, 1, 0);
	assert_int_equal(nvme_pcie_qpair_process_completions(&pq->qpair, 0), 1);
	assert_int_equal(shadow[3], 1);
	assert_int_equal(CQ_DB(1), 1);
	free_qpair(pq);
}

static void
test_need_event(void **state)
{
	/* the spec's formula: ring when event_idx lies in [old, new) */
	assert_true(need_event(0, 1, 0));
	assert_false(need_event(5, 3, 1));
	assert_true(need_event(2, 3, 1));
	assert_true(need_event(1, 3, 1));
	assert_false(need_event(3, 3, 1));
	/* wrap of the 16-bit index */
	assert_true(need_event(0xffff, 1, 0xfffe));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prp_single_page),	 cmocka_unit_test(test_prp_two_pages),
		cmocka_unit_test(test_prp_list),	 cmocka_unit_test(test_prp_chained),
		cmocka_unit_test(test_prp_bad),		 cmocka_unit_test(test_prp_scattered),
		cmocka_unit_test(test_sgl_single),	 cmocka_unit_test(test_submit_and_complete),
		cmocka_unit_test(test_delayed_doorbell), cmocka_unit_test(test_shadow_doorbells),
		cmocka_unit_test(test_need_event),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
