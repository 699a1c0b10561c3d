/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe over PCIe queue pairs: rings and trackers, Create/Delete I/O CQ/SQ, PRP lists and SGLs,
 * submission with one doorbell write per batch, shadow doorbells, phase-bit completions.
 *
 * A qpair belongs to one thread; nothing here locks except the admin commands that create and
 * delete I/O queues (under ctrlr_lock, as every admin command).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/util.h"
#include "pcie_internal.h"

#define PAGE_MASK  ((uint64_t)NVME_HOST_PAGE_SIZE - 1)
#define LIST_SLOTS (NVME_PCIE_LIST_PAGES * NVME_PCIE_PRPS_PER_PAGE)
/* With a chained list, slot 511 of page 0 holds the pointer to page 1. */
#define CHAIN_SLOT (NVME_PCIE_PRPS_PER_PAGE - 1)

/* ---- PRP lists and SGLs (pure functions, see pcie_internal.h) ---- */

int
nvme_pcie_build_prps(struct usk_nvme_cmd *cmd, struct nvme_pcie_tracker *tr, uint32_t total,
		     nvme_pcie_next_seg_fn next, void *ctx, nvme_pcie_vtop_fn vtop)
{
	uint32_t remaining = total, seg_left, chunk, page_left, nentries, k = 0;
	uint64_t npages, pa;
	uintptr_t va;
	void *addr;
	bool chained;
	int rc;

	cmd->psdt = USK_NVME_PSDT_PRP;
	cmd->dptr.prp.prp1 = 0;
	cmd->dptr.prp.prp2 = 0;
	if (total == 0) {
		return 0;
	}
	rc = next(ctx, &addr, &seg_left);
	if (rc != 0) {
		return rc;
	}
	va = (uintptr_t)addr;
	/* PRP1 may start anywhere in a page but must be dword aligned. */
	if ((va & 3) != 0 || seg_left == 0) {
		return -EINVAL;
	}
	npages = ((va & PAGE_MASK) + (uint64_t)total + PAGE_MASK) / NVME_HOST_PAGE_SIZE;
	nentries = (uint32_t)(npages - 1);
	chained = nentries > NVME_PCIE_PRPS_PER_PAGE;
	if (nentries > LIST_SLOTS - 1) {
		return -E2BIG;
	}
	while (remaining > 0) {
		if (seg_left == 0) {
			rc = next(ctx, &addr, &seg_left);
			if (rc != 0) {
				return rc;
			}
			va = (uintptr_t)addr;
			/* Every segment after the first starts a page. */
			if ((va & PAGE_MASK) != 0 || seg_left == 0) {
				return -EINVAL;
			}
		}
		page_left = NVME_HOST_PAGE_SIZE - (uint32_t)(va & PAGE_MASK);
		chunk = USK_MIN(USK_MIN(page_left, seg_left), remaining);
		/* A segment may only end mid-page when it is the last one. */
		if (chunk < page_left && chunk == seg_left && remaining > chunk) {
			return -EINVAL;
		}
		pa = vtop((const void *)va, NULL);
		if (pa == USK_VTOPHYS_ERROR) {
			return -EFAULT;
		}
		if (remaining == total) {
			cmd->dptr.prp.prp1 = pa;
		} else {
			if ((pa & PAGE_MASK) != 0) {
				return -EINVAL;
			}
			if (k >= nentries) {
				return -EINVAL; /* segments longer than total said */
			}
			tr->list[chained && k >= CHAIN_SLOT ? k + 1 : k] = pa;
			k++;
		}
		va += chunk;
		seg_left -= chunk;
		remaining -= chunk;
	}
	if (nentries == 1) {
		cmd->dptr.prp.prp2 = tr->list[0];
	} else if (nentries > 1) {
		if (chained) {
			tr->list[CHAIN_SLOT] = tr->list_bus[1];
		}
		cmd->dptr.prp.prp2 = tr->list_bus[0];
	}
	return 0;
}

int
nvme_pcie_build_sgl(struct usk_nvme_cmd *cmd, struct nvme_pcie_tracker *tr, uint32_t total,
		    nvme_pcie_next_seg_fn next, void *ctx, nvme_pcie_vtop_fn vtop)
{
	struct usk_nvme_sgl_descriptor *sgl = (struct usk_nvme_sgl_descriptor *)tr->list;
	uint32_t remaining = total, seg_left = 0, n = 0;
	uint64_t pa, len;
	uintptr_t va = 0;
	void *addr;
	int rc;

	cmd->psdt = USK_NVME_PSDT_SGL_MPTR_CONTIG;
	memset(&cmd->dptr, 0, sizeof(cmd->dptr));
	if (total == 0) {
		return 0;
	}
	while (remaining > 0) {
		if (seg_left == 0) {
			rc = next(ctx, &addr, &seg_left);
			if (rc != 0) {
				return rc;
			}
			if (seg_left == 0) {
				return -EINVAL;
			}
			va = (uintptr_t)addr;
		}
		/* One descriptor per physically contiguous run. */
		len = USK_MIN(seg_left, remaining);
		pa = vtop((const void *)va, &len);
		if (pa == USK_VTOPHYS_ERROR || len == 0) {
			return -EFAULT;
		}
		if (n == NVME_PCIE_SGLS_PER_TRACKER) {
			return -E2BIG;
		}
		sgl[n].address = pa;
		sgl[n].unkeyed.length = (uint32_t)len;
		memset(sgl[n].unkeyed.reserved, 0, sizeof(sgl[n].unkeyed.reserved));
		sgl[n].unkeyed.subtype = USK_NVME_SGL_SUBTYPE_ADDRESS;
		sgl[n].unkeyed.type = USK_NVME_SGL_TYPE_DATA_BLOCK;
		n++;
		va += len;
		seg_left -= (uint32_t)len;
		remaining -= (uint32_t)len;
	}
	if (n == 1) {
		cmd->dptr.sgl1 = sgl[0];
		return 0;
	}
	cmd->dptr.sgl1.address = tr->list_bus[0];
	cmd->dptr.sgl1.unkeyed.length = n * (uint32_t)sizeof(*sgl);
	cmd->dptr.sgl1.unkeyed.subtype = USK_NVME_SGL_SUBTYPE_ADDRESS;
	cmd->dptr.sgl1.unkeyed.type = USK_NVME_SGL_TYPE_LAST_SEGMENT;
	return 0;
}

/* Segment iterators over a request's payload. */
struct contig_iter {
	void *buf;
	uint32_t len;
	bool done;
};

static int
contig_next(void *ctx, void **addr, uint32_t *len)
{
	struct contig_iter *it = ctx;

	if (it->done) {
		return -EINVAL;
	}
	it->done = true;
	*addr = it->buf;
	*len = it->len;
	return 0;
}

static int
sgl_next(void *ctx, void **addr, uint32_t *len)
{
	struct nvme_request *req = ctx;

	return req->payload.next_sge_fn(req->payload.contig_or_cb_arg, addr, len);
}

static int
build_payload(struct nvme_pcie_qpair *pq, struct nvme_request *req, struct nvme_pcie_tracker *tr)
{
	struct contig_iter it;
	nvme_pcie_next_seg_fn next;
	void *ctx;

	if (req->payload_size == 0) {
		return 0;
	}
	if (nvme_payload_type(&req->payload) == NVME_PAYLOAD_TYPE_CONTIG) {
		it.buf = (uint8_t *)req->payload.contig_or_cb_arg + req->payload_offset;
		it.len = req->payload_size;
		it.done = false;
		next = contig_next;
		ctx = &it;
	} else {
		req->payload.reset_sgl_fn(req->payload.contig_or_cb_arg, req->payload_offset);
		next = sgl_next;
		ctx = req;
	}
	if (pq->use_sgl && !pq->qpair.is_admin) {
		return nvme_pcie_build_sgl(&req->cmd, tr, req->payload_size, next, ctx,
					   usk_vtophys);
	}
	return nvme_pcie_build_prps(&req->cmd, tr, req->payload_size, next, ctx, usk_vtophys);
}

/* ---- doorbells ---- */

/*
 * Shadow doorbells (NVMe 1.3 Doorbell Buffer Config): the host writes the new value to the
 * shadow slot and rings the MMIO doorbell only when the controller's EventIdx says it is not
 * polling past it: the spec's "need event" test, as Linux and SPDK do.
 */
static inline bool
need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

static inline bool
shadow_update(volatile uint32_t *db, volatile uint32_t *ei, uint16_t value)
{
	uint16_t old = (uint16_t)*db;

	*db = value;
	/* The shadow store must be visible before EventIdx is read: a full fence (store-load). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return need_event((uint16_t)*ei, value, old);
}

static inline void
ring_sq_doorbell(struct nvme_pcie_qpair *pq)
{
	bool mmio = true;

	pq->sq_doorbell_pending = false;
	if (pq->sq_tail == pq->last_sq_tail) {
		return;
	}
	/* SQ entries must reach memory before the controller sees the new tail. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (pq->has_shadow) {
		mmio = shadow_update(pq->shadow.sq_tdbl, pq->shadow.sq_eventidx, pq->sq_tail);
	}
	if (mmio) {
		pq->sq_mmio_doorbell_updates++;
		*pq->sq_tdbl = pq->sq_tail;
	}
	pq->last_sq_tail = pq->sq_tail;
}

static inline void
ring_cq_doorbell(struct nvme_pcie_qpair *pq)
{
	bool mmio = true;

	if (pq->has_shadow) {
		mmio = shadow_update(pq->shadow.cq_hdbl, pq->shadow.cq_eventidx, pq->cq_head);
	}
	if (mmio) {
		pq->cq_mmio_doorbell_updates++;
		*pq->cq_hdbl = pq->cq_head;
	}
}

/* ---- submit / complete ---- */

int
nvme_pcie_qpair_submit_request(struct usk_nvme_qpair *qpair, struct nvme_request *req)
{
	struct nvme_pcie_qpair *pq = nvme_pcie_qpair(qpair);
	struct nvme_pcie_tracker *tr;
	uint16_t cid;
	int rc;

	if (usk_unlikely(pq->num_free_tr == 0)) {
		return -EAGAIN;
	}
	cid = pq->free_tr[--pq->num_free_tr];
	tr = &pq->tr[cid];
	rc = build_payload(pq, req, tr);
	if (usk_unlikely(rc != 0)) {
		pq->free_tr[pq->num_free_tr++] = cid;
		NVME_CTRLR_ERRLOG(qpair->ctrlr,
				  "qid %u: cannot describe the payload of %s (%u bytes) "
				  "for DMA: %s\n",
				  qpair->id, usk_nvme_opc_get_string(qpair->is_admin, req->cmd.opc),
				  req->payload_size, strerror(-rc));
		return rc;
	}
	tr->req = req;
	req->cid = cid;
	req->cmd.cid = cid;
	memcpy(&pq->cmd[pq->sq_tail], &req->cmd, sizeof(req->cmd));
	if (++pq->sq_tail == qpair->num_entries) {
		pq->sq_tail = 0;
	}
	if (qpair->delay_cmd_submit) {
		pq->sq_doorbell_pending = true;
	} else {
		ring_sq_doorbell(pq);
	}
	return 0;
}

static void
fail_dead_qpair(struct nvme_pcie_qpair *pq)
{
	nvme_pcie_qpair_abort_reqs(&pq->qpair, 1);
	nvme_qpair_set_state(&pq->qpair, NVME_QPAIR_DISCONNECTED);
	if (pq->qpair.transport_failure_reason == NVME_QPAIR_FAILURE_NONE) {
		pq->qpair.transport_failure_reason = NVME_QPAIR_FAILURE_REMOTE;
	}
}

int32_t
nvme_pcie_qpair_process_completions(struct usk_nvme_qpair *qpair, uint32_t max_completions)
{
	struct nvme_pcie_qpair *pq = nvme_pcie_qpair(qpair);
	struct usk_nvme_ctrlr *ctrlr = qpair->ctrlr;
	volatile struct usk_nvme_cpl *slot;
	struct nvme_pcie_tracker *tr;
	struct nvme_request *req;
	struct usk_nvme_cpl cpl;
	uint32_t n = 0;

	if (usk_unlikely(ctrlr->is_removed || (ctrlr->is_failed && !qpair->is_admin))) {
		if (pq->num_free_tr != qpair->num_entries - 1 ||
		    nvme_qpair_get_state(qpair) != NVME_QPAIR_DISCONNECTED) {
			fail_dead_qpair(pq);
		}
		return -ENXIO;
	}
	if (usk_unlikely(pq->connect_pending)) {
		/* Create I/O CQ/SQ still in flight (the admin queue's poller moves it on). */
		return -EAGAIN;
	}
	if (pq->efd >= 0) {
		uint64_t v;

		/* Before reaping: an interrupt for entries posted after this read wakes us again.
		 */
		if (read(pq->efd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
			NVME_CTRLR_ERRLOG(ctrlr, "qid %u: reading its interrupt eventfd: %s\n",
					  qpair->id, strerror(errno));
		}
	}
	if (max_completions == 0 || max_completions > pq->max_completions_cap) {
		max_completions = pq->max_completions_cap;
	}
	while (n < max_completions) {
		slot = &pq->cpl[pq->cq_head];
		if (slot->status.p != pq->phase) {
			break;
		}
		/* Read the rest of the entry only after seeing its phase (pairs with the DMA
		 * write). */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		cpl = *(const struct usk_nvme_cpl *)(uintptr_t)slot;
		if (++pq->cq_head == qpair->num_entries) {
			pq->cq_head = 0;
			pq->phase ^= 1;
		}
		pq->sq_head = cpl.sqhd;
		n++;
		if (usk_unlikely(cpl.cid >= qpair->num_entries || pq->tr[cpl.cid].req == NULL)) {
			NVME_CTRLR_ERRLOG(ctrlr,
					  "qid %u: completion for cid %u, which is not "
					  "outstanding (sqhd %u status 0x%04x); ignored\n",
					  qpair->id, cpl.cid, cpl.sqhd, cpl.status_raw);
			continue;
		}
		tr = &pq->tr[cpl.cid];
		req = tr->req;
		tr->req = NULL;
		pq->free_tr[pq->num_free_tr++] = cpl.cid;
		nvme_complete_request(req, &cpl);
	}
	if (n > 0) {
		ring_cq_doorbell(pq);
	}
	if (pq->sq_doorbell_pending) {
		ring_sq_doorbell(pq);
	}
	return (int32_t)n;
}

void
nvme_pcie_qpair_abort_reqs(struct usk_nvme_qpair *qpair, uint32_t dnr)
{
	struct nvme_pcie_qpair *pq = nvme_pcie_qpair(qpair);
	struct nvme_request *req;
	struct usk_nvme_cpl cpl;
	uint16_t cid;

	for (cid = 0; cid < qpair->num_entries; cid++) {
		req = pq->tr[cid].req;
		if (req == NULL) {
			continue;
		}
		pq->tr[cid].req = NULL;
		pq->free_tr[pq->num_free_tr++] = cid;
		nvme_cpl_set_abort(&cpl, cid, dnr);
		cpl.sqid = qpair->id;
		nvme_complete_request(req, &cpl);
	}
}

/* ---- construction ---- */

void
nvme_pcie_qpair_reset(struct nvme_pcie_qpair *pq)
{
	uint32_t n = pq->qpair.num_entries;

	pq->sq_tail = pq->sq_head = pq->cq_head = pq->last_sq_tail = 0;
	pq->phase = 1;
	pq->sq_doorbell_pending = false;
	memset(pq->cmd, 0, n * sizeof(*pq->cmd));
	memset((void *)(uintptr_t)pq->cpl, 0, n * sizeof(*pq->cpl));
}

/* Ring memory must be physically contiguous: CAP.CQR and the spec's PRP1-only queues. */
static void *
alloc_ring(size_t size, uint64_t *bus)
{
	uint64_t len = size;
	void *p;

	p = usk_dma_zmalloc(size, USK_MAX(usk_align64pow2(size), (uint64_t)NVME_HOST_PAGE_SIZE),
			    NULL);
	if (p == NULL) {
		return NULL;
	}
	*bus = usk_vtophys(p, &len);
	if (*bus == USK_VTOPHYS_ERROR || len < size) {
		usk_dma_free(p);
		return NULL;
	}
	return p;
}

int
nvme_pcie_qpair_construct(struct nvme_pcie_qpair *pq, struct nvme_pcie_ctrlr *pctrlr)
{
	struct usk_nvme_qpair *qpair = &pq->qpair;
	uint32_t n = qpair->num_entries, i, p;
	uint8_t *list;

	pq->cmd = alloc_ring(n * sizeof(struct usk_nvme_cmd), &pq->cmd_bus_addr);
	pq->cpl = alloc_ring(n * sizeof(struct usk_nvme_cpl), &pq->cpl_bus_addr);
	pq->tr = calloc(n, sizeof(*pq->tr));
	pq->free_tr = calloc(n, sizeof(*pq->free_tr));
	/* One slot stays empty so a full SQ is told from an empty one: n - 1 trackers. */
	pq->list_mem = usk_dma_zmalloc((size_t)(n - 1) * NVME_PCIE_LIST_PAGES * NVME_HOST_PAGE_SIZE,
				       NVME_HOST_PAGE_SIZE, NULL);
	if (pq->cmd == NULL || pq->cpl == NULL || pq->tr == NULL || pq->free_tr == NULL ||
	    pq->list_mem == NULL) {
		NVME_CTRLR_ERRLOG(&pctrlr->ctrlr, "qid %u: no DMA memory for %u entries\n",
				  qpair->id, n);
		nvme_pcie_qpair_destroy(pq);
		return -ENOMEM;
	}
	list = pq->list_mem;
	for (i = 0; i < n - 1; i++) {
		pq->tr[i].list =
			(uint64_t *)(list + (size_t)i * NVME_PCIE_LIST_PAGES * NVME_HOST_PAGE_SIZE);
		for (p = 0; p < NVME_PCIE_LIST_PAGES; p++) {
			pq->tr[i].list_bus[p] = usk_vtophys(
				(uint8_t *)pq->tr[i].list + p * NVME_HOST_PAGE_SIZE, NULL);
			if (pq->tr[i].list_bus[p] == USK_VTOPHYS_ERROR) {
				nvme_pcie_qpair_destroy(pq);
				return -EFAULT;
			}
		}
		/* Lowest cids are handed out first (pop from the end). */
		pq->free_tr[i] = (uint16_t)(n - 2 - i);
	}
	pq->num_free_tr = (uint16_t)(n - 1);
	pq->max_completions_cap = USK_MIN((uint32_t)NVME_PCIE_MAX_COMPLETIONS_CAP, n - 1);
	pq->sq_tdbl = pctrlr->doorbell_base + (2u * qpair->id + 0) * pctrlr->doorbell_stride_u32;
	pq->cq_hdbl = pctrlr->doorbell_base + (2u * qpair->id + 1) * pctrlr->doorbell_stride_u32;
	nvme_pcie_qpair_reset(pq);
	USK_DEBUGLOG(nvme, "qid %u: %u entries, SQ bus 0x%" PRIx64 " CQ bus 0x%" PRIx64 "\n",
		     qpair->id, n, pq->cmd_bus_addr, pq->cpl_bus_addr);
	return 0;
}

void
nvme_pcie_qpair_destroy(struct nvme_pcie_qpair *pq)
{
	usk_dma_free(pq->cmd);
	usk_dma_free((void *)(uintptr_t)pq->cpl);
	usk_dma_free(pq->list_mem);
	free(pq->tr);
	free(pq->free_tr);
	pq->cmd = NULL;
	pq->cpl = NULL;
	pq->list_mem = NULL;
	pq->tr = NULL;
	pq->free_tr = NULL;
}

/* ---- I/O qpairs: Create / Delete on the admin queue ---- */

struct usk_nvme_qpair *
nvme_pcie_ctrlr_create_io_qpair(struct usk_nvme_ctrlr *ctrlr, uint16_t qid,
				const struct usk_nvme_io_qpair_opts *opts)
{
	struct nvme_pcie_ctrlr *pctrlr = nvme_pcie_ctrlr(ctrlr);
	struct nvme_pcie_qpair *pq;
	uint32_t entries = opts->io_queue_size;

	entries = USK_MIN(entries, (uint32_t)ctrlr->cap.bits.mqes + 1);
	entries = USK_MIN(entries, 65536u);
	if (entries < 2) {
		entries = 2;
	}
	pq = calloc(1, sizeof(*pq));
	if (pq == NULL) {
		return NULL;
	}
	if (nvme_qpair_init(&pq->qpair, qid, ctrlr, (uint8_t)opts->qprio, entries,
			    USK_MAX(opts->io_queue_requests, entries)) != 0) {
		free(pq);
		return NULL;
	}
	pq->qpair.delay_cmd_submit = opts->delay_cmd_submit;
	pq->use_sgl = pctrlr->sgl_supported && ctrlr->opts.prefer_sgl;
	/* Interrupt mode: the vector of the same number, when the device has that many. */
	pq->efd = qid < pctrlr->msix_nvec ? pctrlr->msix_efds[qid] : -1;
	if (nvme_pcie_qpair_construct(pq, pctrlr) != 0) {
		nvme_qpair_deinit(&pq->qpair);
		free(pq);
		return NULL;
	}
	return &pq->qpair;
}

int
nvme_pcie_qpair_get_fd(struct usk_nvme_qpair *qpair)
{
	struct nvme_pcie_qpair *pq = nvme_pcie_qpair(qpair);

	return pq->efd >= 0 ? pq->efd : -ENOTSUP;
}

int
nvme_pcie_ctrlr_delete_io_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair)
{
	struct nvme_pcie_qpair *pq = nvme_pcie_qpair(qpair);

	nvme_pcie_qpair_destroy(pq);
	nvme_qpair_deinit(qpair);
	free(pq);
	return 0;
}

static int
admin_cmd(struct usk_nvme_ctrlr *ctrlr, uint8_t opc, uint32_t cdw10, uint32_t cdw11, uint64_t prp1,
	  usk_nvme_cmd_cb cb, void *cb_arg)
{
	struct nvme_request *req;
	int rc;

	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	req = nvme_allocate_request_null(ctrlr->adminq, cb, cb_arg);
	if (req == NULL) {
		pthread_mutex_unlock(&ctrlr->ctrlr_lock);
		return -ENOMEM;
	}
	req->cmd.opc = opc;
	req->cmd.cdw10 = cdw10;
	req->cmd.cdw11 = cdw11;
	req->cmd.dptr.prp.prp1 = prp1;
	rc = nvme_qpair_submit_request(ctrlr->adminq, req);
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
	return rc;
}

static void
connect_failed(struct nvme_pcie_qpair *pq, const char *what, const struct usk_nvme_cpl *cpl)
{
	pq->connect_pending = false;
	NVME_CTRLR_ERRLOG(pq->qpair.ctrlr, "qid %u: %s failed: %s (sct %u sc 0x%02x)\n",
			  pq->qpair.id, what, usk_nvme_cpl_get_status_string(&cpl->status),
			  cpl->status.sct, cpl->status.sc);
	pq->qpair.transport_failure_reason = NVME_QPAIR_FAILURE_REMOTE;
	/* Release pairs with the owner thread's read of the state. */
	__atomic_store_n(&pq->qpair.state, (uint8_t)NVME_QPAIR_DISCONNECTED, __ATOMIC_RELEASE);
}

static void
attach_shadow(struct nvme_pcie_qpair *pq)
{
	struct nvme_pcie_ctrlr *pctrlr = nvme_pcie_ctrlr(pq->qpair.ctrlr);
	uint32_t s = pctrlr->doorbell_stride_u32, qid = pq->qpair.id;

	pq->has_shadow = false;
	if (!pctrlr->shadow_doorbell_enabled || qid == 0) {
		return;
	}
	/* Same layout as the doorbell registers: 2 * qid * stride for the SQ, +stride for the CQ.
	 */
	pq->shadow.sq_tdbl = pctrlr->shadow_dbs + 2 * qid * s;
	pq->shadow.cq_hdbl = pctrlr->shadow_dbs + (2 * qid + 1) * s;
	pq->shadow.sq_eventidx = pctrlr->eventidx + 2 * qid * s;
	pq->shadow.cq_eventidx = pctrlr->eventidx + (2 * qid + 1) * s;
	*pq->shadow.sq_tdbl = 0;
	*pq->shadow.cq_hdbl = 0;
	pq->has_shadow = true;
}

static void
create_sq_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct nvme_pcie_qpair *pq = arg;

	if (usk_nvme_cpl_is_error(cpl)) {
		connect_failed(pq, "Create I/O SQ", cpl);
		/* Give the CQ back; nobody waits for this. */
		admin_cmd(pq->qpair.ctrlr, USK_NVME_OPC_DELETE_IO_CQ, pq->qpair.id, 0, 0, NULL,
			  NULL);
		return;
	}
	attach_shadow(pq);
	pq->connect_pending = false;
	__atomic_store_n(&pq->qpair.state, (uint8_t)NVME_QPAIR_CONNECTED, __ATOMIC_RELEASE);
}

static void
create_cq_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct nvme_pcie_qpair *pq = arg;
	struct usk_nvme_qpair *qpair = &pq->qpair;
	uint32_t cdw10 = ((qpair->num_entries - 1) << 16) | qpair->id;
	/* CQID, QPRIO (bits 2:1), PC (physically contiguous) */
	uint32_t cdw11 = ((uint32_t)qpair->id << 16) | ((qpair->qprio & 3u) << 1) | 1u;
	int rc;

	if (usk_nvme_cpl_is_error(cpl)) {
		connect_failed(pq, "Create I/O CQ", cpl);
		return;
	}
	rc = admin_cmd(qpair->ctrlr, USK_NVME_OPC_CREATE_IO_SQ, cdw10, cdw11, pq->cmd_bus_addr,
		       create_sq_done, pq);
	if (rc != 0) {
		struct usk_nvme_cpl err = {0};

		err.status.sct = USK_NVME_SCT_GENERIC;
		err.status.sc = USK_NVME_SC_INTERNAL_DEVICE_ERROR;
		connect_failed(pq, "submitting Create I/O SQ", &err);
	}
}

int
nvme_pcie_ctrlr_connect_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair)
{
	struct nvme_pcie_qpair *pq = nvme_pcie_qpair(qpair);
	/* QID, QSIZE (0's based) */
	uint32_t cdw10 = ((qpair->num_entries - 1) << 16) | qpair->id, cdw11;
	int rc;

	nvme_pcie_qpair_reset(pq);
	qpair->transport_failure_reason = NVME_QPAIR_FAILURE_NONE;
	if (qpair->is_admin) {
		/* The admin queue exists once CC.EN = 1 with AQA/ASQ/ACQ (ctrlr_enable). */
		nvme_qpair_set_state(qpair, NVME_QPAIR_CONNECTED);
		return 0;
	}
	if (ctrlr->is_removed) {
		return -ENXIO;
	}
	nvme_qpair_set_state(qpair, NVME_QPAIR_CONNECTING);
	pq->connect_pending = true;
	/* PC = 1; with an MSI-X eventfd IEN = 1 and IV = qid, otherwise polled (IEN = 0). */
	cdw11 = 1u;
	if (pq->efd >= 0) {
		cdw11 |= (1u << 1) | ((uint32_t)qpair->id << 16);
	}
	rc = admin_cmd(ctrlr, USK_NVME_OPC_CREATE_IO_CQ, cdw10, cdw11, pq->cpl_bus_addr,
		       create_cq_done, pq);
	if (rc != 0) {
		pq->connect_pending = false;
		nvme_qpair_set_state(qpair, NVME_QPAIR_DISCONNECTED);
		return rc;
	}
	return 0;
}

struct delete_wait {
	bool done;
	bool failed;
};

static void
delete_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct delete_wait *w = arg;

	w->failed = usk_nvme_cpl_is_error(cpl);
	w->done = true;
}

/* Send Delete SQ/CQ and poll the admin queue until it completes or the admin timeout. */
static int
delete_queue_sync(struct usk_nvme_ctrlr *ctrlr, uint8_t opc, uint16_t qid)
{
	struct delete_wait w = {0};
	uint64_t deadline;
	int rc;

	rc = admin_cmd(ctrlr, opc, qid, 0, 0, delete_done, &w);
	if (rc != 0) {
		return rc;
	}
	deadline = usk_get_ticks() + usk_get_ticks_hz() * ctrlr->opts.admin_timeout_ms / 1000;
	while (!w.done) {
		if (usk_nvme_ctrlr_process_admin_completions(ctrlr) < 0 && !w.done) {
			return -ENXIO; /* the core failed the admin queue: our callback ran or will
					  not */
		}
		if (!w.done && usk_get_ticks() > deadline) {
			NVME_CTRLR_ERRLOG(ctrlr, "qid %u: %s timed out\n", qid,
					  usk_nvme_opc_get_string(true, opc));
			return -ETIMEDOUT;
		}
	}
	return w.failed ? -EIO : 0;
}

/*
 * The Create I/O CQ/SQ callbacks point at pq: before anyone may free it, let them finish (they
 * take microseconds), or, when the controller does not answer, fail it so that its admin
 * commands complete (aborted) now.
 */
static void
wait_connect_done(struct usk_nvme_ctrlr *ctrlr, struct nvme_pcie_qpair *pq)
{
	uint64_t deadline;

	if (!pq->connect_pending) {
		return;
	}
	deadline = usk_get_ticks() + usk_get_ticks_hz() * ctrlr->opts.admin_timeout_ms / 1000;
	while (pq->connect_pending && usk_get_ticks() < deadline) {
		if (usk_nvme_ctrlr_process_admin_completions(ctrlr) < 0) {
			break;
		}
	}
	if (pq->connect_pending) {
		NVME_CTRLR_ERRLOG(ctrlr,
				  "qid %u: Create I/O queue commands did not complete; failing "
				  "the controller\n",
				  pq->qpair.id);
		nvme_ctrlr_fail(ctrlr, false);
		pthread_mutex_lock(&ctrlr->ctrlr_lock);
		nvme_pcie_qpair_abort_reqs(ctrlr->adminq, 1);
		pthread_mutex_unlock(&ctrlr->ctrlr_lock);
		pq->connect_pending = false;
	}
}

void
nvme_pcie_ctrlr_disconnect_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair)
{
	struct nvme_pcie_qpair *pq = nvme_pcie_qpair(qpair);
	enum nvme_qpair_state st;

	if (!qpair->is_admin) {
		wait_connect_done(ctrlr, pq);
	}
	st = nvme_qpair_get_state(qpair);
	if (!qpair->is_admin && !ctrlr->is_removed && !ctrlr->is_failed &&
	    (st == NVME_QPAIR_CONNECTED || st == NVME_QPAIR_ENABLED || st == NVME_QPAIR_ENABLING ||
	     st == NVME_QPAIR_DISCONNECTING || st == NVME_QPAIR_DESTROYING)) {
		/* Deleting the SQ first makes the controller drop its commands; then the CQ. */
		if (delete_queue_sync(ctrlr, USK_NVME_OPC_DELETE_IO_SQ, qpair->id) == 0) {
			delete_queue_sync(ctrlr, USK_NVME_OPC_DELETE_IO_CQ, qpair->id);
		}
	}
	pq->has_shadow = false;
	nvme_qpair_set_state(qpair, NVME_QPAIR_DISCONNECTED);
}
