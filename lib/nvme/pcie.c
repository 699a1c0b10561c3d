/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe over PCIe, controller side: probe (PCI devices of class 01:08:02 bound to vfio-pci or
 * uio_pci_generic), claim and map BAR0, Bus Master + INTx Disable, MMIO register access, the
 * admin queue registers (AQA/ASQ/ACQ), shadow doorbells (Doorbell Buffer Config) and hot-remove
 * detection. Queues live in pcie_qpair.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/pci.h"
#include "pcie_internal.h"

/* Registers below the doorbells; BAR0 must be at least this large plus one doorbell pair. */
#define NVME_PCIE_DOORBELL_OFFSET 0x1000

static const struct usk_nvme_transport_ops g_pcie_ops;

/*
 * The device is gone: fail the controller as removed (every qpair then aborts what it holds;
 * the core calls the probe's remove callback, once). Runs on the thread polling the admin queue.
 */
static void
report_removed(struct usk_nvme_ctrlr *ctrlr)
{
	if (ctrlr->is_removed) {
		return;
	}
	NVME_CTRLR_ERRLOG(ctrlr, "the PCI device was removed\n");
	nvme_ctrlr_fail(ctrlr, true);
}

/* ---- registers ---- */

static inline volatile void *
reg_addr(struct usk_nvme_ctrlr *ctrlr, uint32_t offset)
{
	return nvme_pcie_ctrlr(ctrlr)->regs + offset;
}

static int
pcie_set_reg_4(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t value)
{
	if (offset + 4 > NVME_PCIE_DOORBELL_OFFSET) {
		return -EINVAL;
	}
	*(volatile uint32_t *)reg_addr(ctrlr, offset) = value;
	return 0;
}

static int
pcie_set_reg_8(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t value)
{
	if (offset + 8 > NVME_PCIE_DOORBELL_OFFSET) {
		return -EINVAL;
	}
	/* Two dword writes, low first: some controllers (and QEMU before 2.x) reject qword MMIO. */
	*(volatile uint32_t *)reg_addr(ctrlr, offset) = (uint32_t)value;
	*(volatile uint32_t *)reg_addr(ctrlr, offset + 4) = (uint32_t)(value >> 32);
	return 0;
}

static int
pcie_get_reg_4(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint32_t *value)
{
	if (offset + 4 > NVME_PCIE_DOORBELL_OFFSET) {
		return -EINVAL;
	}
	*value = *(volatile uint32_t *)reg_addr(ctrlr, offset);
	/* A removed device reads as all ones. */
	if (*value == UINT32_MAX && !ctrlr->is_removed &&
	    usk_pci_device_is_removed(nvme_pcie_ctrlr(ctrlr)->devhandle)) {
		report_removed(ctrlr);
	}
	return ctrlr->is_removed ? -ENODEV : 0;
}

static int
pcie_get_reg_8(struct usk_nvme_ctrlr *ctrlr, uint32_t offset, uint64_t *value)
{
	uint32_t lo, hi;

	if (offset + 8 > NVME_PCIE_DOORBELL_OFFSET) {
		return -EINVAL;
	}
	lo = *(volatile uint32_t *)reg_addr(ctrlr, offset);
	hi = *(volatile uint32_t *)reg_addr(ctrlr, offset + 4);
	*value = ((uint64_t)hi << 32) | lo;
	if (*value == UINT64_MAX && !ctrlr->is_removed &&
	    usk_pci_device_is_removed(nvme_pcie_ctrlr(ctrlr)->devhandle)) {
		report_removed(ctrlr);
	}
	return ctrlr->is_removed ? -ENODEV : 0;
}

/* ---- probe ---- */

#define MAX_SCAN 64

struct scan_list {
	struct usk_pci_addr addr[MAX_SCAN];
	int n;
};

static int
scan_collect(void *ctx, const struct usk_pci_addr *addr, const struct usk_pci_id *id)
{
	struct scan_list *l = ctx;

	if (l->n < MAX_SCAN) {
		l->addr[l->n++] = *addr;
	}
	return 0;
}

/*
 * An empty traddr means every NVMe device usk may use; otherwise that one device (errors such
 * as "bound to the kernel nvme driver" are reported by the attach in ctrlr_construct).
 * Devices are claimed only when the probe callback accepts them.
 */
static int
pcie_ctrlr_scan(struct usk_nvme_probe_ctx *probe_ctx, const struct usk_nvme_transport_id *trid)
{
	struct usk_nvme_transport_id t;
	struct scan_list list = {.n = 0};
	int i, rc, first_rc = 0;

	if (trid->traddr[0] != '\0') {
		/* (The core ignores a discovery subnqn on PCIe: nvme_probe_ctx_add_ctrlr.) */
		if (nvme_probe_ctx_is_attached(probe_ctx, trid)) {
			return 0;
		}
		return nvme_probe_ctx_add_ctrlr(probe_ctx, trid, NULL);
	}
	/* Collect first: the scan holds lib/env's PCI lock, which attaching needs. */
	rc = usk_pci_scan(USK_PCI_CLASS_NVME, scan_collect, &list);
	if (rc < 0) {
		return rc;
	}
	for (i = 0; i < list.n; i++) {
		memset(&t, 0, sizeof(t));
		usk_nvme_trid_populate_transport(&t, USK_NVME_TRANSPORT_PCIE);
		usk_pci_addr_fmt(t.traddr, sizeof(t.traddr), &list.addr[i]);
		if (nvme_probe_ctx_is_attached(probe_ctx, &t)) {
			continue;
		}
		rc = nvme_probe_ctx_add_ctrlr(probe_ctx, &t, NULL);
		if (rc != 0 && first_rc == 0) {
			first_rc = rc;
		}
	}
	return first_rc;
}

static int
keep_device(void *ctx, struct usk_pci_device *dev)
{
	*(struct usk_pci_device **)ctx = dev;
	return 0;
}

static int
map_bars(struct nvme_pcie_ctrlr *pctrlr)
{
	uint64_t phys, size;
	void *addr;
	int rc;

	rc = usk_pci_device_map_bar(pctrlr->devhandle, 0, &addr, &phys, &size);
	if (rc != 0) {
		return rc;
	}
	if (size < NVME_PCIE_DOORBELL_OFFSET + 8) {
		NVME_CTRLR_ERRLOG(&pctrlr->ctrlr, "BAR0 is only %" PRIu64 " bytes\n", size);
		return -ENODEV;
	}
	pctrlr->regs = addr;
	pctrlr->regs_size = size;
	pctrlr->doorbell_base = (volatile uint32_t *)(pctrlr->regs + NVME_PCIE_DOORBELL_OFFSET);
	USK_DEBUGLOG(nvme, "%s: BAR0 phys 0x%" PRIx64 " size 0x%" PRIx64 " mapped at %p\n",
		     usk_pci_device_get_name(pctrlr->devhandle), phys, size, addr);
	return 0;
}

/* Bus Master on (the device does DMA) and legacy INTx off (usk polls or uses MSI-X). */
static int
enable_bus_master(struct nvme_pcie_ctrlr *pctrlr)
{
	uint16_t cmd;
	int rc;

	rc = usk_pci_device_cfg_read16(pctrlr->devhandle, &cmd, USK_PCI_CFG_COMMAND);
	if (rc != 0) {
		return rc;
	}
	cmd |= USK_PCI_CMD_BUS_MASTER | USK_PCI_CMD_INTX_DISABLE | USK_PCI_CMD_MEMORY;
	return usk_pci_device_cfg_write16(pctrlr->devhandle, cmd, USK_PCI_CFG_COMMAND);
}

static void pcie_ctrlr_destruct(struct usk_nvme_ctrlr *ctrlr);

static void
free_msix(struct nvme_pcie_ctrlr *pctrlr)
{
	uint32_t i;

	if (pctrlr->msix_efds == NULL) {
		return;
	}
	if (pctrlr->msix_nvec > 0) {
		usk_pci_device_set_msix_eventfds(pctrlr->devhandle, NULL, 0);
	}
	for (i = 0; i < pctrlr->msix_nvec; i++) {
		close(pctrlr->msix_efds[i]);
	}
	free(pctrlr->msix_efds);
	pctrlr->msix_efds = NULL;
	pctrlr->msix_nvec = 0;
}

/*
 * Interrupt mode under vfio: one eventfd per MSI-X vector, vector i for qid i (vector 0, the
 * admin queue's, stays unused: the admin queue is polled). Without vfio or MSI-X the
 * controller stays polled and says so.
 */
static void
setup_msix(struct nvme_pcie_ctrlr *pctrlr, const struct usk_nvme_ctrlr_opts *opts)
{
	uint32_t want = USK_MIN(opts->num_io_queues, 256u) + 1, n, i;
	int rc;

	n = USK_MIN(usk_pci_device_get_msix_count(pctrlr->devhandle), want);
	if (n < 2) {
		NVME_CTRLR_NOTICELOG(&pctrlr->ctrlr,
				     "no MSI-X vectors for user space (%s): I/O "
				     "qpairs stay polled\n",
				     usk_pci_device_get_type(pctrlr->devhandle));
		return;
	}
	pctrlr->msix_efds = calloc(n, sizeof(int));
	if (pctrlr->msix_efds == NULL) {
		return;
	}
	for (i = 0; i < n; i++) {
		pctrlr->msix_efds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (pctrlr->msix_efds[i] < 0) {
			break;
		}
	}
	pctrlr->msix_nvec = i;
	rc = i == n ? usk_pci_device_set_msix_eventfds(pctrlr->devhandle, pctrlr->msix_efds, n) :
		      -errno;
	if (rc != 0) {
		NVME_CTRLR_NOTICELOG(&pctrlr->ctrlr,
				     "MSI-X set-up failed (%s): I/O qpairs stay "
				     "polled\n",
				     strerror(-rc));
		for (i = 0; i < pctrlr->msix_nvec; i++) {
			close(pctrlr->msix_efds[i]);
		}
		free(pctrlr->msix_efds);
		pctrlr->msix_efds = NULL;
		pctrlr->msix_nvec = 0;
		return;
	}
	NVME_CTRLR_DEBUGLOG(&pctrlr->ctrlr, "interrupt mode: %u MSI-X vectors on eventfds\n", n);
}

static struct usk_nvme_ctrlr *
pcie_ctrlr_construct(const struct usk_nvme_transport_id *trid,
		     const struct usk_nvme_ctrlr_opts *opts, void *devhandle)
{
	struct nvme_pcie_ctrlr *pctrlr;
	struct nvme_pcie_qpair *aq;
	struct usk_pci_device *dev = devhandle;
	struct usk_pci_addr addr;
	union usk_nvme_cap_register cap;
	uint32_t entries;
	int rc;

	if (dev == NULL) {
		if (usk_pci_addr_parse(&addr, trid->traddr) != 0) {
			USK_ERRLOG("PCIe traddr '%s' is not a PCI address (dddd:bb:dd.f)\n",
				   trid->traddr);
			return NULL;
		}
		rc = usk_pci_device_attach(&addr, keep_device, &dev);
		if (rc != 0) {
			return NULL; /* logged by lib/env */
		}
	}
	pctrlr = calloc(1, sizeof(*pctrlr));
	if (pctrlr == NULL) {
		usk_pci_device_detach(dev);
		return NULL;
	}
	pctrlr->devhandle = dev;
	rc = nvme_ctrlr_construct(&pctrlr->ctrlr, trid, opts);
	if (rc != 0) {
		usk_pci_device_detach(dev);
		free(pctrlr);
		return NULL;
	}
	pctrlr->ctrlr.transport = &g_pcie_ops;
	rc = map_bars(pctrlr);
	if (rc == 0) {
		rc = enable_bus_master(pctrlr);
	}
	if (rc != 0) {
		NVME_CTRLR_ERRLOG(&pctrlr->ctrlr, "cannot set up the PCI device: %s\n",
				  strerror(-rc));
		goto err;
	}
	pcie_get_reg_8(&pctrlr->ctrlr, USK_NVME_REG_CAP, &cap.raw);
	if (cap.raw == UINT64_MAX) {
		NVME_CTRLR_ERRLOG(&pctrlr->ctrlr,
				  "CAP reads all ones: the device does not answer\n");
		goto err;
	}
	pctrlr->ctrlr.cap = cap;
	pctrlr->doorbell_stride_u32 = 1u << cap.bits.dstrd;

	aq = calloc(1, sizeof(*aq));
	if (aq == NULL) {
		goto err;
	}
	entries = USK_MIN(
		USK_MAX(opts->admin_queue_size, (uint32_t)USK_NVME_ADMIN_QUEUE_MIN_ENTRIES), 4096u);
	entries = USK_MIN(entries, (uint32_t)cap.bits.mqes + 1);
	if (nvme_qpair_init(&aq->qpair, 0, &pctrlr->ctrlr, 0, entries, NVME_ADMIN_REQUESTS) != 0) {
		free(aq);
		goto err;
	}
	pctrlr->ctrlr.adminq = &aq->qpair;
	if (nvme_pcie_qpair_construct(aq, pctrlr) != 0) {
		goto err;
	}
	aq->efd = -1;
	if (opts->enable_interrupts) {
		setup_msix(pctrlr, opts);
	}
	NVME_CTRLR_DEBUGLOG(&pctrlr->ctrlr,
			    "%s device %04x:%04x, CAP 0x%016" PRIx64 " (MQES %u "
			    "DSTRD %u TO %u ms)\n",
			    usk_pci_device_get_type(dev), usk_pci_device_get_id(dev)->vendor_id,
			    usk_pci_device_get_id(dev)->device_id, cap.raw, cap.bits.mqes + 1,
			    cap.bits.dstrd, cap.bits.to * 500);
	return &pctrlr->ctrlr;

err:
	pcie_ctrlr_destruct(&pctrlr->ctrlr);
	return NULL;
}

static void
free_shadow(struct nvme_pcie_ctrlr *pctrlr)
{
	usk_dma_free(pctrlr->shadow_dbs);
	usk_dma_free(pctrlr->eventidx);
	pctrlr->shadow_dbs = NULL;
	pctrlr->eventidx = NULL;
	pctrlr->shadow_doorbell_enabled = false;
}

static void
pcie_ctrlr_destruct(struct usk_nvme_ctrlr *ctrlr)
{
	struct nvme_pcie_ctrlr *pctrlr = nvme_pcie_ctrlr(ctrlr);

	if (ctrlr->adminq != NULL) {
		struct nvme_pcie_qpair *aq = nvme_pcie_qpair(ctrlr->adminq);

		nvme_pcie_qpair_destroy(aq);
		nvme_qpair_deinit(&aq->qpair);
		free(aq);
		ctrlr->adminq = NULL;
	}
	free_shadow(pctrlr);
	free_msix(pctrlr);
	nvme_ctrlr_destruct_base(ctrlr);
	usk_pci_device_detach(pctrlr->devhandle);
	free(pctrlr);
}

/* Right before CC.EN = 1: an empty admin queue at AQA/ASQ/ACQ. */
static int
pcie_ctrlr_enable(struct usk_nvme_ctrlr *ctrlr)
{
	struct nvme_pcie_qpair *aq = nvme_pcie_qpair(ctrlr->adminq);
	union usk_nvme_aqa_register aqa = {.raw = 0};
	int rc;

	nvme_pcie_qpair_abort_reqs(&aq->qpair, 1);
	nvme_pcie_qpair_reset(aq);
	/* A reset controller forgets the Doorbell Buffer Config; ctrlr_ready sets it again. */
	free_shadow(nvme_pcie_ctrlr(ctrlr));
	aqa.bits.asqs = aq->qpair.num_entries - 1;
	aqa.bits.acqs = aq->qpair.num_entries - 1;
	rc = pcie_set_reg_4(ctrlr, USK_NVME_REG_AQA, aqa.raw);
	rc = rc ? rc : pcie_set_reg_8(ctrlr, USK_NVME_REG_ASQ, aq->cmd_bus_addr);
	rc = rc ? rc : pcie_set_reg_8(ctrlr, USK_NVME_REG_ACQ, aq->cpl_bus_addr);
	return rc;
}

static uint32_t
pcie_ctrlr_get_max_xfer_size(struct usk_nvme_ctrlr *ctrlr)
{
	return NVME_PCIE_MAX_XFER_SIZE;
}

static uint16_t
pcie_ctrlr_get_max_sges(struct usk_nvme_ctrlr *ctrlr)
{
	struct nvme_pcie_ctrlr *pctrlr = nvme_pcie_ctrlr(ctrlr);

	/* PRPs: any number of page-aligned segments; SGLs: one list page of descriptors. */
	return pctrlr->sgl_supported && ctrlr->opts.prefer_sgl ?
		       NVME_PCIE_SGLS_PER_TRACKER :
		       (uint16_t)(NVME_PCIE_LIST_PAGES * NVME_PCIE_PRPS_PER_PAGE - 1);
}

/* ---- after Identify: SGL support and shadow doorbells ---- */

struct dbbc_wait {
	bool done;
	struct usk_nvme_cpl cpl;
};

static void
dbbc_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct dbbc_wait *w = arg;

	w->cpl = *cpl;
	w->done = true;
}

/*
 * Doorbell Buffer Config (NVMe 1.3, OACS bit 8; emulated controllers such as QEMU's offer it):
 * the host writes queue doorbells into a memory page and rings MMIO only when the controller
 * asks through EventIdx, which saves an exit per doorbell under virtualisation. Done before
 * any I/O queue exists (at READY), waiting for the one admin command here: it takes
 * microseconds and every later queue depends on the outcome.
 */
static void
setup_shadow_doorbells(struct nvme_pcie_ctrlr *pctrlr)
{
	struct usk_nvme_ctrlr *ctrlr = &pctrlr->ctrlr;
	struct dbbc_wait w = {.done = false};
	struct nvme_request *req;
	uint64_t deadline;
	int rc;

	if (ctrlr->opts.disable_shadow_doorbells ||
	    !(ctrlr->cdata.oacs & USK_NVME_OACS_DB_BUF_CONFIG) || pctrlr->shadow_doorbell_enabled) {
		return;
	}
	pctrlr->shadow_dbs =
		usk_dma_zmalloc(NVME_HOST_PAGE_SIZE, NVME_HOST_PAGE_SIZE, &pctrlr->shadow_dbs_bus);
	pctrlr->eventidx =
		usk_dma_zmalloc(NVME_HOST_PAGE_SIZE, NVME_HOST_PAGE_SIZE, &pctrlr->eventidx_bus);
	if (pctrlr->shadow_dbs == NULL || pctrlr->eventidx == NULL) {
		free_shadow(pctrlr);
		return;
	}
	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	req = nvme_allocate_request_null(ctrlr->adminq, dbbc_done, &w);
	if (req == NULL) {
		pthread_mutex_unlock(&ctrlr->ctrlr_lock);
		free_shadow(pctrlr);
		return;
	}
	req->cmd.opc = USK_NVME_OPC_DOORBELL_BUFFER_CONFIG;
	req->cmd.dptr.prp.prp1 = pctrlr->shadow_dbs_bus;
	req->cmd.dptr.prp.prp2 = pctrlr->eventidx_bus;
	rc = nvme_qpair_submit_request(ctrlr->adminq, req);
	deadline = usk_get_ticks() + usk_get_ticks_hz() * ctrlr->opts.admin_timeout_ms / 1000;
	while (rc == 0 && !w.done && usk_get_ticks() < deadline) {
		if (nvme_pcie_qpair_process_completions(ctrlr->adminq, 0) < 0) {
			break;
		}
	}
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
	if (rc != 0 || !w.done || usk_nvme_cpl_is_error(&w.cpl)) {
		NVME_CTRLR_NOTICELOG(ctrlr, "Doorbell Buffer Config %s; using MMIO doorbells\n",
				     !w.done ? "did not complete" : "failed");
		if (w.done || rc != 0) {
			free_shadow(pctrlr);
		} /* else the command may still DMA into the pages: leak them rather than reuse */
		return;
	}
	pctrlr->shadow_doorbell_enabled = true;
	NVME_CTRLR_DEBUGLOG(ctrlr, "shadow doorbells at 0x%" PRIx64 ", EventIdx at 0x%" PRIx64 "\n",
			    pctrlr->shadow_dbs_bus, pctrlr->eventidx_bus);
}

static int
pcie_ctrlr_ready(struct usk_nvme_ctrlr *ctrlr)
{
	struct nvme_pcie_ctrlr *pctrlr = nvme_pcie_ctrlr(ctrlr);
	uint32_t sgls = ctrlr->cdata.sgls & 3u;

	/* SGLS bits 1:0: 1 = byte aligned, 2 = dword aligned SGLs for NVM commands. */
	pctrlr->sgl_supported = sgls == 1 || sgls == 2;
	pctrlr->dword_aligned_sgl = sgls == 2;
	setup_shadow_doorbells(pctrlr);
	return 0;
}

static int32_t
pcie_qpair_process_completions(struct usk_nvme_qpair *qpair, uint32_t max_completions)
{
	struct usk_nvme_ctrlr *ctrlr = qpair->ctrlr;

	/* The admin poller (every few ms) is where a removed device is noticed. */
	if (qpair->is_admin && !ctrlr->is_removed &&
	    usk_pci_device_is_removed(nvme_pcie_ctrlr(ctrlr)->devhandle)) {
		report_removed(ctrlr);
	}
	return nvme_pcie_qpair_process_completions(qpair, max_completions);
}

static const struct usk_nvme_transport_ops g_pcie_ops = {
	.name = "PCIe",
	.type = USK_NVME_TRANSPORT_PCIE,
	.ctrlr_construct = pcie_ctrlr_construct,
	.ctrlr_scan = pcie_ctrlr_scan,
	.ctrlr_destruct = pcie_ctrlr_destruct,
	.ctrlr_enable = pcie_ctrlr_enable,
	.ctrlr_set_reg_4 = pcie_set_reg_4,
	.ctrlr_set_reg_8 = pcie_set_reg_8,
	.ctrlr_get_reg_4 = pcie_get_reg_4,
	.ctrlr_get_reg_8 = pcie_get_reg_8,
	.ctrlr_get_max_xfer_size = pcie_ctrlr_get_max_xfer_size,
	.ctrlr_get_max_sges = pcie_ctrlr_get_max_sges,
	.ctrlr_create_io_qpair = nvme_pcie_ctrlr_create_io_qpair,
	.ctrlr_delete_io_qpair = nvme_pcie_ctrlr_delete_io_qpair,
	.ctrlr_connect_qpair = nvme_pcie_ctrlr_connect_qpair,
	.ctrlr_disconnect_qpair = nvme_pcie_ctrlr_disconnect_qpair,
	.qpair_abort_reqs = nvme_pcie_qpair_abort_reqs,
	.qpair_submit_request = nvme_pcie_qpair_submit_request,
	.qpair_process_completions = pcie_qpair_process_completions,
	.qpair_get_fd = nvme_pcie_qpair_get_fd,
	.ctrlr_ready = pcie_ctrlr_ready,
};

USK_NVME_TRANSPORT_REGISTER(pcie, &g_pcie_ops);
