/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe over PCIe, private to pcie.c (controller: BAR0, admin queue registers, probe, shadow
 * doorbells) and pcie_qpair.c (queues: Create I/O CQ/SQ, PRP/SGL building, submit, doorbells,
 * completions).
 */
#ifndef USK_NVME_PCIE_INTERNAL_H
#define USK_NVME_PCIE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "usk/pci.h"
#include "nvme_internal.h"

/* Per-tracker PRP list / SGL segment area: two chained 4 KiB list pages. */
#define NVME_PCIE_LIST_PAGES	   2
#define NVME_PCIE_PRPS_PER_PAGE	   (NVME_HOST_PAGE_SIZE / sizeof(uint64_t))
#define NVME_PCIE_SGLS_PER_TRACKER (NVME_HOST_PAGE_SIZE / sizeof(struct usk_nvme_sgl_descriptor))
/*
 * Largest transfer: the list holds 2 * 512 - 1 entries (one is the chain pointer), plus PRP1;
 * 4 MiB keeps every transfer (even one starting mid-page) inside that.
 */
#define NVME_PCIE_MAX_XFER_SIZE (4u * 1024 * 1024)
/* Completions reaped per call when the caller gives no limit. */
#define NVME_PCIE_MAX_COMPLETIONS_CAP 64

/*
 * One command slot: cid = index. A tracker is either on the free stack or holds req.
 * list/list_bus: this tracker's PRP list or SGL segment pages (DMA memory).
 */
struct nvme_pcie_tracker {
	struct nvme_request *req;
	uint64_t *list;				 /* NVME_PCIE_LIST_PAGES pages */
	uint64_t list_bus[NVME_PCIE_LIST_PAGES]; /* bus address of each page */
};

/* Shadow doorbell and EventIdx slots of one queue (Doorbell Buffer Config). */
struct nvme_pcie_shadow {
	volatile uint32_t *sq_tdbl;
	volatile uint32_t *cq_hdbl;
	volatile uint32_t *sq_eventidx;
	volatile uint32_t *cq_eventidx;
};

struct nvme_pcie_qpair {
	struct usk_nvme_qpair qpair;

	/* ---- hot: every submit and completion ---- */
	struct usk_nvme_cmd *cmd;	   /* SQ ring */
	volatile struct usk_nvme_cpl *cpl; /* CQ ring */
	struct nvme_pcie_tracker *tr;	   /* num_entries trackers, cid = index */
	uint16_t *free_tr;		   /* stack of free cids */
	uint16_t num_free_tr;
	uint16_t sq_tail;
	uint16_t sq_head; /* from completions' sqhd */
	uint16_t cq_head;
	uint16_t last_sq_tail; /* tail last written to the doorbell */
	uint8_t phase;
	bool sq_doorbell_pending; /* delay_cmd_submit: ring at end of poll */
	bool use_sgl;
	bool has_shadow;
	/* Create I/O CQ/SQ outstanding on the admin queue (their callbacks hold this qpair) */
	bool connect_pending;
	volatile uint32_t *sq_tdbl;
	volatile uint32_t *cq_hdbl;
	struct nvme_pcie_shadow shadow;
	uint32_t max_completions_cap;
	/* eventfd of this queue's MSI-X vector (interrupt mode), -1 when polled */
	int efd;

	/* ---- cold: set up and teardown ---- */
	uint64_t cmd_bus_addr;
	uint64_t cpl_bus_addr;
	void *list_mem; /* all trackers' list pages */
	/* stats */
	uint64_t sq_mmio_doorbell_updates;
	uint64_t cq_mmio_doorbell_updates;
};

struct nvme_pcie_ctrlr {
	struct usk_nvme_ctrlr ctrlr;
	struct usk_pci_device *devhandle;
	volatile uint8_t *regs; /* BAR0 */
	uint64_t regs_size;
	volatile uint32_t *doorbell_base; /* regs + 0x1000 */
	uint32_t doorbell_stride_u32;	  /* 1 << CAP.DSTRD (in 4-byte units) */
	/* Doorbell Buffer Config pages (shadow doorbells and EventIdx), NULL if not in use */
	uint32_t *shadow_dbs;
	uint32_t *eventidx;
	uint64_t shadow_dbs_bus;
	uint64_t eventidx_bus;
	bool shadow_doorbell_enabled;
	bool shadow_config_pending;
	bool sgl_supported;
	bool dword_aligned_sgl;
	/* interrupt mode (vfio): eventfd per MSI-X vector; vector i serves qid i */
	int *msix_efds;
	uint32_t msix_nvec;
};

static inline struct nvme_pcie_ctrlr *
nvme_pcie_ctrlr(struct usk_nvme_ctrlr *ctrlr)
{
	return USK_CONTAINEROF(ctrlr, struct nvme_pcie_ctrlr, ctrlr);
}

static inline struct nvme_pcie_qpair *
nvme_pcie_qpair(struct usk_nvme_qpair *qpair)
{
	return USK_CONTAINEROF(qpair, struct nvme_pcie_qpair, qpair);
}

/* pcie_qpair.c */
/* Allocate rings and trackers for qpair (base already initialised). */
int nvme_pcie_qpair_construct(struct nvme_pcie_qpair *pq, struct nvme_pcie_ctrlr *pctrlr);
void nvme_pcie_qpair_destroy(struct nvme_pcie_qpair *pq);
/* Empty rings, phase 1 (admin queue before CC.EN = 1; I/O queue before Create). */
void nvme_pcie_qpair_reset(struct nvme_pcie_qpair *pq);
int nvme_pcie_qpair_submit_request(struct usk_nvme_qpair *qpair, struct nvme_request *req);
int32_t nvme_pcie_qpair_process_completions(struct usk_nvme_qpair *qpair, uint32_t max_completions);
void nvme_pcie_qpair_abort_reqs(struct usk_nvme_qpair *qpair, uint32_t dnr);
struct usk_nvme_qpair *nvme_pcie_ctrlr_create_io_qpair(struct usk_nvme_ctrlr *ctrlr, uint16_t qid,
						       const struct usk_nvme_io_qpair_opts *opts);
int nvme_pcie_ctrlr_delete_io_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair);
int nvme_pcie_ctrlr_connect_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair);
int nvme_pcie_qpair_get_fd(struct usk_nvme_qpair *qpair);
void nvme_pcie_ctrlr_disconnect_qpair(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_qpair *qpair);

/*
 * Build the PRP entries of a payload into cmd and tr's list pages (pure: no device access,
 * unit-tested). Segments come from next(); vtop() translates. Returns 0 or -EINVAL (a segment
 * that PRPs cannot describe: not dword aligned, or a middle segment not page aligned) or
 * -EFAULT (untranslatable address) or -E2BIG (more entries than the list holds).
 */
typedef int (*nvme_pcie_next_seg_fn)(void *ctx, void **addr, uint32_t *len);
/* usk_vtophys's signature: size (may be NULL) in: bytes wanted, out: contiguous bytes. */
typedef uint64_t (*nvme_pcie_vtop_fn)(const void *vaddr, uint64_t *size);
int nvme_pcie_build_prps(struct usk_nvme_cmd *cmd, struct nvme_pcie_tracker *tr, uint32_t total,
			 nvme_pcie_next_seg_fn next, void *ctx, nvme_pcie_vtop_fn vtop);
/* Same for SGL data block descriptors (one inline, or a last-segment list in tr's page). */
int nvme_pcie_build_sgl(struct usk_nvme_cmd *cmd, struct nvme_pcie_tracker *tr, uint32_t total,
			nvme_pcie_next_seg_fn next, void *ctx, nvme_pcie_vtop_fn vtop);

#endif
