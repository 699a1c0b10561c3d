/* SPDX-License-Identifier: BSD-3-Clause */
/* Namespaces: geometry from Identify data, and the NVM commands (with MDTS/NOIOB splitting). */
#include <errno.h>
#include <string.h>

#include "nvme_internal.h"

/* Write Zeroes and the NLB field of Read/Write carry a 16-bit, 0's based block count. */
#define NVME_MAX_NLB 65536u

static bool
all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

void
nvme_ns_update(struct usk_nvme_ns *ns)
{
	const struct usk_nvme_ns_data *d = &ns->nsdata;
	struct usk_nvme_ctrlr *ctrlr = ns->ctrlr;
	uint32_t fmt = d->flbas & 0xf;
	uint32_t lbads;

	if (fmt > d->nlbaf) {
		fmt = 0;
	}
	lbads = d->lbaf[fmt].lbads;
	/* 512 B .. 2 MiB blocks; anything else from a target is nonsense and gets 512. */
	if (lbads < 9 || lbads > 21) {
		lbads = 9;
	}
	ns->sector_size = 1u << lbads;
	ns->md_size = d->lbaf[fmt].ms;
	ns->extended_lba_size = ns->sector_size + ((d->flbas & 0x10) ? ns->md_size : 0);
	ns->num_sectors = d->nsze;
	ns->sectors_per_max_io = ctrlr->max_xfer_size / ns->extended_lba_size;
	if (ns->sectors_per_max_io == 0) {
		ns->sectors_per_max_io = 1;
	}
	ns->sectors_per_stripe = d->noiob;
	ns->flags = USK_NVME_NS_FLUSH_SUPPORTED;
	if (ctrlr->cdata.oncs & USK_NVME_ONCS_COMPARE) {
		ns->flags |= USK_NVME_NS_COMPARE_SUPPORTED;
	}
	if (ctrlr->cdata.oncs & USK_NVME_ONCS_DSM) {
		ns->flags |= USK_NVME_NS_DSM_SUPPORTED;
	}
	if (ctrlr->cdata.oncs & USK_NVME_ONCS_WRITE_ZEROES) {
		ns->flags |= USK_NVME_NS_WRITE_ZEROES_SUPPORTED;
	}
	if (!all_zero(d->nguid, sizeof(d->nguid))) {
		memcpy(ns->nguid, d->nguid, sizeof(ns->nguid));
		ns->has_nguid = true;
	}
	if (d->eui64 != 0) {
		memcpy(ns->eui64, &d->eui64, sizeof(ns->eui64));
		ns->has_eui64 = true;
	}
}

void
nvme_ns_parse_id_descs(struct usk_nvme_ns *ns, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	/* Walk the list; every length is checked against the buffer (data from the controller). */
	while (off + sizeof(struct usk_nvme_ns_id_desc) <= len) {
		const struct usk_nvme_ns_id_desc *desc = (const void *)(buf + off);
		size_t nidl = desc->nidl;

		if (desc->nidt == 0 || off + sizeof(*desc) + nidl > len) {
			break;
		}
		switch (desc->nidt) {
		case USK_NVME_NIDT_UUID:
			if (nidl == USK_NVME_NIDT_UUID_LEN) {
				memcpy(ns->uuid, desc->nid, sizeof(ns->uuid));
				ns->has_uuid = true;
			}
			break;
		case USK_NVME_NIDT_NGUID:
			if (nidl == USK_NVME_NIDT_NGUID_LEN) {
				memcpy(ns->nguid, desc->nid, sizeof(ns->nguid));
				ns->has_nguid = true;
			}
			break;
		case USK_NVME_NIDT_EUI64:
			if (nidl == USK_NVME_NIDT_EUI64_LEN) {
				memcpy(ns->eui64, desc->nid, sizeof(ns->eui64));
				ns->has_eui64 = true;
			}
			break;
		default:
			break;
		}
		off += sizeof(*desc) + nidl;
	}
}

uint32_t
usk_nvme_ns_get_id(struct usk_nvme_ns *ns)
{
	return ns->id;
}

struct usk_nvme_ctrlr *
usk_nvme_ns_get_ctrlr(struct usk_nvme_ns *ns)
{
	return ns->ctrlr;
}

const struct usk_nvme_ns_data *
usk_nvme_ns_get_data(struct usk_nvme_ns *ns)
{
	return &ns->nsdata;
}

uint32_t
usk_nvme_ns_get_sector_size(struct usk_nvme_ns *ns)
{
	return ns->sector_size;
}

uint32_t
usk_nvme_ns_get_md_size(struct usk_nvme_ns *ns)
{
	return ns->md_size;
}

uint64_t
usk_nvme_ns_get_num_sectors(struct usk_nvme_ns *ns)
{
	return ns->num_sectors;
}

uint64_t
usk_nvme_ns_get_size(struct usk_nvme_ns *ns)
{
	return ns->num_sectors * ns->sector_size;
}

uint32_t
usk_nvme_ns_get_max_io_xfer_size(struct usk_nvme_ns *ns)
{
	return ns->ctrlr->max_xfer_size;
}

uint32_t
usk_nvme_ns_get_optimal_io_boundary(struct usk_nvme_ns *ns)
{
	return ns->sectors_per_stripe;
}

const uint8_t *
usk_nvme_ns_get_uuid(struct usk_nvme_ns *ns)
{
	return ns->has_uuid ? ns->uuid : NULL;
}

const uint8_t *
usk_nvme_ns_get_nguid(struct usk_nvme_ns *ns)
{
	return ns->has_nguid ? ns->nguid : NULL;
}

const uint8_t *
usk_nvme_ns_get_eui64(struct usk_nvme_ns *ns)
{
	return ns->has_eui64 ? ns->eui64 : NULL;
}

bool
usk_nvme_ns_supports_compare(struct usk_nvme_ns *ns)
{
	return (ns->flags & USK_NVME_NS_COMPARE_SUPPORTED) != 0;
}

bool
usk_nvme_ns_supports_dsm(struct usk_nvme_ns *ns)
{
	return (ns->flags & USK_NVME_NS_DSM_SUPPORTED) != 0;
}

bool
usk_nvme_ns_supports_write_zeroes(struct usk_nvme_ns *ns)
{
	return (ns->flags & USK_NVME_NS_WRITE_ZEROES_SUPPORTED) != 0;
}

bool
usk_nvme_ns_has_volatile_write_cache(struct usk_nvme_ns *ns)
{
	return (ns->ctrlr->cdata.vwc & USK_NVME_VWC_PRESENT) != 0;
}

/* ---- commands ---- */

static inline void
rw_cmd_fill(struct usk_nvme_cmd *cmd, uint8_t opc, uint32_t nsid, uint64_t lba, uint32_t count,
	    uint32_t io_flags)
{
	cmd->opc = opc;
	cmd->nsid = nsid;
	cmd->cdw10 = (uint32_t)lba;
	cmd->cdw11 = (uint32_t)(lba >> 32);
	cmd->cdw12 = (count - 1) | (io_flags & 0xffff0000u);
}

/* Blocks the child starting at lba may carry: the transfer limit and the NOIOB boundary. */
static inline uint32_t
child_blocks(const struct usk_nvme_ns *ns, uint64_t lba, uint32_t remaining, uint32_t max_per_io)
{
	uint32_t n = USK_MIN(remaining, max_per_io);

	if (ns->sectors_per_stripe != 0) {
		uint32_t to_boundary =
			ns->sectors_per_stripe - (uint32_t)(lba % ns->sectors_per_stripe);

		n = USK_MIN(n, to_boundary);
	}
	return n;
}

/*
 * Split a request into children and submit them. The parent is not submitted itself; it
 * completes (its callback runs) when the last child completes. If a child cannot be allocated
 * or submitted the children already built are dropped and the error returned, provided none has
 * been handed to the transport; otherwise the rest fail with an abort status so that the parent
 * still completes exactly once.
 */
static int
submit_split(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, struct nvme_request *parent,
	     uint8_t opc, uint64_t lba, uint32_t lba_count, uint32_t io_flags, uint32_t max_per_io,
	     bool has_data)
{
	uint32_t offset = 0, remaining = lba_count, built = 0;
	struct nvme_request *child, *tmp;
	bool any_submitted = false;
	int rc;

	memset(&parent->parent_status, 0, sizeof(parent->parent_status));
	TAILQ_INIT(&parent->children);
	while (remaining > 0) {
		uint32_t n = child_blocks(ns, lba, remaining, max_per_io);
		uint32_t bytes = has_data ? n * ns->extended_lba_size : 0;

		child = built < UINT16_MAX ?
				nvme_allocate_request(qpair, &parent->payload, bytes, NULL, NULL) :
				NULL;
		if (child == NULL) {
			/* Give back what was built: nothing is submitted yet. */
			TAILQ_FOREACH_SAFE(child, &parent->children, child_tailq, tmp) {
				TAILQ_REMOVE(&parent->children, child, child_tailq);
				nvme_free_request(child);
			}
			nvme_free_request(parent);
			return usk_nvme_qpair_is_failed(qpair) ? -ENXIO : -ENOMEM;
		}
		child->payload_offset = parent->payload_offset + offset;
		child->parent = parent;
		rw_cmd_fill(&child->cmd, opc, ns->id, lba, n, io_flags);
		TAILQ_INSERT_TAIL(&parent->children, child, child_tailq);
		built++;
		offset += bytes;
		lba += n;
		remaining -= n;
	}
	parent->num_children = (uint16_t)built;
	/* Completions run only from process_completions, so none can arrive during this loop. */
	TAILQ_FOREACH_SAFE(child, &parent->children, child_tailq, tmp) {
		rc = nvme_qpair_submit_request(qpair, child);
		if (rc == 0) {
			any_submitted = true;
			continue;
		}
		/* submit freed child. */
		TAILQ_REMOVE(&parent->children, child, child_tailq);
		parent->num_children--;
		if (!any_submitted) {
			while ((child = tmp) != NULL) {
				tmp = TAILQ_NEXT(child, child_tailq);
				TAILQ_REMOVE(&parent->children, child, child_tailq);
				nvme_free_request(child);
			}
			nvme_free_request(parent);
			return rc;
		}
		/* Some children are in flight: the parent completes later, with this error. */
		nvme_cpl_set_abort(&parent->parent_status, 0, 1);
		while ((child = tmp) != NULL) {
			tmp = TAILQ_NEXT(child, child_tailq);
			nvme_complete_request_status(child, USK_NVME_SCT_GENERIC,
						     USK_NVME_SC_ABORTED_SQ_DELETION);
		}
		return 0;
	}
	return 0;
}

static int
ns_rw(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, const struct nvme_payload *payload,
      uint8_t opc, uint64_t lba, uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg,
      uint32_t io_flags)
{
	struct nvme_request *req;
	uint32_t max = USK_MIN(ns->sectors_per_max_io, NVME_MAX_NLB);
	uint64_t bytes;

	if (usk_unlikely(lba_count == 0 || lba + lba_count < lba)) {
		return -EINVAL;
	}
	bytes = (uint64_t)lba_count * ns->extended_lba_size;
	if (usk_unlikely(bytes > UINT32_MAX)) {
		return -EINVAL;
	}
	req = nvme_allocate_request(qpair, payload, (uint32_t)bytes, cb, cb_arg);
	if (usk_unlikely(req == NULL)) {
		return usk_nvme_qpair_is_failed(qpair) ? -ENXIO : -ENOMEM;
	}
	if (usk_likely(lba_count <= max &&
		       (ns->sectors_per_stripe == 0 ||
			lba % ns->sectors_per_stripe + lba_count <= ns->sectors_per_stripe))) {
		rw_cmd_fill(&req->cmd, opc, ns->id, lba, lba_count, io_flags);
		return nvme_qpair_submit_request(qpair, req);
	}
	return submit_split(ns, qpair, req, opc, lba, lba_count, io_flags, max, true);
}

int
usk_nvme_ns_cmd_read(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, void *buf, uint64_t lba,
		     uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags)
{
	struct nvme_payload p = NVME_PAYLOAD_CONTIG(buf, NULL);

	return ns_rw(ns, qpair, &p, USK_NVME_OPC_READ, lba, lba_count, cb, cb_arg, io_flags);
}

int
usk_nvme_ns_cmd_write(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, void *buf, uint64_t lba,
		      uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags)
{
	struct nvme_payload p = NVME_PAYLOAD_CONTIG(buf, NULL);

	return ns_rw(ns, qpair, &p, USK_NVME_OPC_WRITE, lba, lba_count, cb, cb_arg, io_flags);
}

int
usk_nvme_ns_cmd_compare(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, void *buf,
			uint64_t lba, uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg,
			uint32_t io_flags)
{
	struct nvme_payload p = NVME_PAYLOAD_CONTIG(buf, NULL);

	return ns_rw(ns, qpair, &p, USK_NVME_OPC_COMPARE, lba, lba_count, cb, cb_arg, io_flags);
}

/* The scattered (SGL callback) form of ns_rw: both callbacks are required. */
static int
ns_rwv(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, uint8_t opc, uint64_t lba,
       uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags,
       usk_nvme_req_reset_sgl_cb reset_sgl, usk_nvme_req_next_sge_cb next_sge)
{
	struct nvme_payload p = NVME_PAYLOAD_SGL(reset_sgl, next_sge, cb_arg, NULL);

	if (reset_sgl == NULL || next_sge == NULL) {
		return -EINVAL;
	}
	return ns_rw(ns, qpair, &p, opc, lba, lba_count, cb, cb_arg, io_flags);
}

int
usk_nvme_ns_cmd_readv(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, uint64_t lba,
		      uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags,
		      usk_nvme_req_reset_sgl_cb reset_sgl, usk_nvme_req_next_sge_cb next_sge)
{
	return ns_rwv(ns, qpair, USK_NVME_OPC_READ, lba, lba_count, cb, cb_arg, io_flags, reset_sgl,
		      next_sge);
}

int
usk_nvme_ns_cmd_writev(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, uint64_t lba,
		       uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags,
		       usk_nvme_req_reset_sgl_cb reset_sgl, usk_nvme_req_next_sge_cb next_sge)
{
	return ns_rwv(ns, qpair, USK_NVME_OPC_WRITE, lba, lba_count, cb, cb_arg, io_flags,
		      reset_sgl, next_sge);
}

int
usk_nvme_ns_cmd_comparev(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, uint64_t lba,
			 uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags,
			 usk_nvme_req_reset_sgl_cb reset_sgl, usk_nvme_req_next_sge_cb next_sge)
{
	return ns_rwv(ns, qpair, USK_NVME_OPC_COMPARE, lba, lba_count, cb, cb_arg, io_flags,
		      reset_sgl, next_sge);
}

int
usk_nvme_ns_cmd_write_zeroes(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, uint64_t lba,
			     uint32_t lba_count, usk_nvme_cmd_cb cb, void *cb_arg,
			     uint32_t io_flags)
{
	struct nvme_payload p = NVME_PAYLOAD_CONTIG(NULL, NULL);
	struct nvme_request *req;

	if (lba_count == 0 || lba + lba_count < lba) {
		return -EINVAL;
	}
	req = nvme_allocate_request(qpair, &p, 0, cb, cb_arg);
	if (req == NULL) {
		return usk_nvme_qpair_is_failed(qpair) ? -ENXIO : -ENOMEM;
	}
	if (lba_count <= NVME_MAX_NLB) {
		rw_cmd_fill(&req->cmd, USK_NVME_OPC_WRITE_ZEROES, ns->id, lba, lba_count, io_flags);
		return nvme_qpair_submit_request(qpair, req);
	}
	/* No data moves, so only the 16-bit NLB limits a command (not MDTS). */
	return submit_split(ns, qpair, req, USK_NVME_OPC_WRITE_ZEROES, lba, lba_count, io_flags,
			    NVME_MAX_NLB, false);
}

int
usk_nvme_ns_cmd_flush(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair, usk_nvme_cmd_cb cb,
		      void *cb_arg)
{
	struct nvme_request *req = nvme_allocate_request_null(qpair, cb, cb_arg);

	if (req == NULL) {
		return usk_nvme_qpair_is_failed(qpair) ? -ENXIO : -ENOMEM;
	}
	req->cmd.opc = USK_NVME_OPC_FLUSH;
	req->cmd.nsid = ns->id;
	return nvme_qpair_submit_request(qpair, req);
}

int
usk_nvme_ns_cmd_dataset_management(struct usk_nvme_ns *ns, struct usk_nvme_qpair *qpair,
				   uint32_t type, const struct usk_nvme_dsm_range *ranges,
				   uint16_t num_ranges, usk_nvme_cmd_cb cb, void *cb_arg)
{
	struct nvme_request *req;
	void *buf;
	uint32_t len = (uint32_t)num_ranges * sizeof(*ranges);

	if (num_ranges == 0 || num_ranges > USK_NVME_DSM_MAX_RANGES || ranges == NULL) {
		return -EINVAL;
	}
	/*
	 * The range list must outlive the call: it goes into a DMA bounce buffer that the request
	 * frees on completion (the user-copy path; nothing is copied back for host-to-controller).
	 */
	buf = usk_dma_malloc(len, 4096, NULL);
	if (buf == NULL) {
		return -ENOMEM;
	}
	memcpy(buf, ranges, len);
	req = nvme_allocate_request_contig(qpair, buf, len, cb, cb_arg);
	if (req == NULL) {
		usk_dma_free(buf);
		return usk_nvme_qpair_is_failed(qpair) ? -ENXIO : -ENOMEM;
	}
	/* user_buffer == the bounce itself: nvme_complete_request frees it (no copy back: H2C). */
	req->user_buffer = buf;
	req->cmd.opc = USK_NVME_OPC_DATASET_MANAGEMENT;
	req->cmd.nsid = ns->id;
	req->cmd.cdw10 = num_ranges - 1u;
	req->cmd.cdw11 = type;
	return nvme_qpair_submit_request(qpair, req);
}
