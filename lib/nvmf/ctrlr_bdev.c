/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe-oF I/O commands mapped onto the bdev API (zero-copy on the transport's buffers). */
#include <errno.h>
#include <string.h>

#include "nvmf_internal.h"

static_assert(sizeof(struct usk_bdev_io_wait_entry) <=
		      sizeof(((struct usk_nvmf_request *)0)->bdev_io_wait),
	      "bdev_io_wait storage too small");

static inline struct usk_bdev_io_wait_entry *
req_wait_entry(struct usk_nvmf_request *req)
{
	return (struct usk_bdev_io_wait_entry *)(void *)req->bdev_io_wait;
}

static inline int
req_status(struct usk_nvmf_request *req, uint8_t sct, uint8_t sc)
{
	nvmf_req_set_status(req, sct, sc);
	return NVMF_REQ_EXEC_COMPLETE;
}

void
nvmf_bdev_ctrlr_identify_ns(struct usk_nvmf_ns *ns, struct usk_nvme_ns_data *nsdata)
{
	struct usk_bdev *bdev = ns->bdev;
	uint64_t num_blocks = usk_bdev_get_num_blocks(bdev);
	uint32_t block_size = usk_bdev_get_block_size(bdev);
	uint32_t boundary = usk_bdev_get_optimal_io_boundary(bdev);
	int i;

	nsdata->nsze = num_blocks;
	nsdata->ncap = num_blocks;
	nsdata->nuse = num_blocks;
	nsdata->nlbaf = 0;
	nsdata->flbas = 0;
	nsdata->lbaf[0].lbads = (uint8_t)usk_u32log2(block_size);
	nsdata->lbaf[0].ms = 0;
	nsdata->nmic = USK_NVME_NMIC_SHARED;
	if (usk_bdev_io_type_supported(bdev, USK_BDEV_IO_TYPE_UNMAP)) {
		nsdata->nsfeat |= USK_NVME_NSFEAT_THIN_PROV;
	}
	nsdata->nsfeat |= USK_NVME_NSFEAT_GUID_NEVER_REUSED;
	if (boundary && boundary <= 0xffff) {
		nsdata->noiob = (uint16_t)boundary;
	}
	memcpy(nsdata->nguid, ns->opts.nguid, sizeof(nsdata->nguid));
	/* EUI-64 is stored as bytes in the order they appear in the structure (big-endian). */
	for (i = 0; i < 8; i++) {
		((uint8_t *)&nsdata->eui64)[i] = (uint8_t)(ns->opts.eui64_be >> (56 - 8 * i));
	}
	if (ns->subsystem->ana_reporting) {
		nsdata->anagrpid = ns->opts.anagrpid ? ns->opts.anagrpid : ns->nsid;
	}
}

static void
bdev_io_done(struct usk_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct usk_nvmf_request *req = cb_arg;
	struct usk_nvme_cpl *rsp = &req->rsp->nvme_cpl;
	uint32_t cdw0 = 0;
	int sct = 0, sc = 0;

	if (usk_likely(success)) {
		usk_bdev_free_io(bdev_io);
		usk_nvmf_request_complete(req);
		return;
	}
	usk_bdev_io_get_nvme_status(bdev_io, &cdw0, &sct, &sc);
	usk_bdev_free_io(bdev_io);
	rsp->cdw0 = cdw0;
	if (sct == USK_NVME_SCT_GENERIC && sc == USK_NVME_SC_SUCCESS) {
		sc = USK_NVME_SC_INTERNAL_DEVICE_ERROR;
	}
	nvmf_req_set_status(req, (uint8_t)sct, (uint8_t)sc);
	usk_nvmf_request_complete(req);
}

static void io_retry(void *arg);

/* After a bdev call failed: -ENOMEM waits for a bdev_io and retries, others fail the command. */
static int
handle_submit_rc(struct usk_nvmf_request *req, struct nvmf_ns_info *info, int rc)
{
	struct usk_bdev_io_wait_entry *entry;

	if (usk_likely(rc == 0)) {
		return NVMF_REQ_EXEC_ASYNC;
	}
	if (rc == -ENOMEM) {
		entry = req_wait_entry(req);
		memset(entry, 0, sizeof(*entry));
		entry->bdev = usk_bdev_desc_get_bdev(info->desc);
		entry->cb_fn = io_retry;
		entry->cb_arg = req;
		req->qpair->group->stat.pending_bdev_io++;
		if (usk_bdev_queue_io_wait(entry->bdev, info->ch, entry) == 0) {
			return NVMF_REQ_EXEC_ASYNC;
		}
		/* a bdev_io is free again: retry right away */
		return nvmf_ctrlr_process_io_cmd(req);
	}
	if (rc == -EINVAL) {
		return req_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_FIELD);
	}
	if (rc == -ENOTSUP) {
		return req_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_OPCODE);
	}
	return req_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
}

static void
io_retry(void *arg)
{
	struct usk_nvmf_request *req = arg;

	if (nvmf_ctrlr_process_io_cmd(req) == NVMF_REQ_EXEC_COMPLETE) {
		usk_nvmf_request_complete(req);
	}
}

static inline bool
lba_range_ok(const struct nvmf_ns_info *info, uint64_t slba, uint64_t nlb)
{
	return slba < info->num_blocks && nlb <= info->num_blocks - slba;
}

/*
 * A write must be durable at completion when the host set FUA, or when it turned the volatile
 * write cache off (Set Features VWC = 0): then every write is write-through.
 */
static inline bool
write_needs_fua(const struct usk_nvmf_request *req, const struct usk_nvme_cmd *cmd)
{
	return (cmd->cdw12 & USK_NVME_IO_FLAGS_FORCE_UNIT_ACCESS) ||
	       !req->qpair->ctrlr->feat.volatile_write_cache;
}

static const struct usk_bdev_ext_io_opts g_fua_opts = {
	.size = sizeof(g_fua_opts),
	.flags = USK_BDEV_IO_FLAG_FUA,
};

static int
rw_cmd(struct usk_nvmf_request *req, struct nvmf_ns_info *info, uint8_t opc)
{
	const struct usk_nvme_cmd *cmd = &req->cmd->nvme_cmd;
	uint64_t slba = (uint64_t)cmd->cdw11 << 32 | cmd->cdw10;
	uint64_t nlb = (uint64_t)(cmd->cdw12 & USK_NVME_IO_NLB_MASK) + 1;
	int rc;

	if (usk_unlikely(!lba_range_ok(info, slba, nlb))) {
		return req_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_LBA_OUT_OF_RANGE);
	}
	if (usk_unlikely(nlb * info->block_size > req->length)) {
		return req_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_DATA_SGL_LENGTH_INVALID);
	}
	switch (opc) {
	case USK_NVME_OPC_READ:
		rc = usk_bdev_readv_blocks(info->desc, info->ch, req->iov, (int)req->iovcnt, slba,
					   nlb, bdev_io_done, req);
		break;
	case USK_NVME_OPC_WRITE:
		/* Read FUA needs nothing: a read returns the latest data whatever the cache. */
		if (usk_unlikely(write_needs_fua(req, cmd))) {
			rc = usk_bdev_writev_blocks_ext(info->desc, info->ch, req->iov,
							(int)req->iovcnt, slba, nlb, bdev_io_done,
							req, &g_fua_opts);
			break;
		}
		rc = usk_bdev_writev_blocks(info->desc, info->ch, req->iov, (int)req->iovcnt, slba,
					    nlb, bdev_io_done, req);
		break;
	default:
		rc = usk_bdev_comparev_blocks(info->desc, info->ch, req->iov, (int)req->iovcnt,
					      slba, nlb, bdev_io_done, req);
		break;
	}
	return handle_submit_rc(req, info, rc);
}

static int
write_zeroes_cmd(struct usk_nvmf_request *req, struct nvmf_ns_info *info)
{
	const struct usk_nvme_cmd *cmd = &req->cmd->nvme_cmd;
	uint64_t slba = (uint64_t)cmd->cdw11 << 32 | cmd->cdw10;
	uint64_t nlb = (uint64_t)(cmd->cdw12 & USK_NVME_IO_NLB_MASK) + 1;

	if (!lba_range_ok(info, slba, nlb)) {
		return req_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_LBA_OUT_OF_RANGE);
	}
	return handle_submit_rc(
		req, info,
		usk_bdev_write_zeroes_blocks_ext(info->desc, info->ch, slba, nlb, bdev_io_done, req,
						 write_needs_fua(req, cmd) ? &g_fua_opts : NULL));
}

static int
flush_cmd(struct usk_nvmf_request *req, struct nvmf_ns_info *info)
{
	return handle_submit_rc(req, info,
				usk_bdev_flush_blocks(info->desc, info->ch, 0, info->num_blocks,
						      bdev_io_done, req));
}

/*
 * Dataset Management deallocate: one unmap per range, issued one after another (core_count is
 * the next range, core_status the first error). DSM is rare; sequential keeps -ENOMEM simple.
 */
static int dsm_next(struct usk_nvmf_request *req, struct nvmf_ns_info *info);

static void
dsm_range_done(struct usk_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct usk_nvmf_request *req = cb_arg;
	struct nvmf_sgroup *sgroup = nvmf_qpair_sgroup(req->qpair);
	struct nvmf_ns_info *info = &sgroup->ns_info[req->cmd->nvme_cmd.nsid - 1];
	uint32_t cdw0;
	int sct, sc;

	if (!success && req->core_status == 0) {
		usk_bdev_io_get_nvme_status(bdev_io, &cdw0, &sct, &sc);
		if (sct == 0 && sc == 0) {
			sc = USK_NVME_SC_INTERNAL_DEVICE_ERROR;
		}
		req->core_status = (uint16_t)((sct << 8) | sc);
	}
	usk_bdev_free_io(bdev_io);
	req->core_count++;
	if (dsm_next(req, info) == NVMF_REQ_EXEC_COMPLETE) {
		usk_nvmf_request_complete(req);
	}
}

static int
dsm_next(struct usk_nvmf_request *req, struct nvmf_ns_info *info)
{
	struct usk_nvme_dsm_range ranges[USK_NVME_DSM_MAX_RANGES];
	uint32_t nr = (req->cmd->nvme_cmd.cdw10 & 0xff) + 1;
	int rc;

	usk_iov_to_buf(req->iov, (int)req->iovcnt, ranges, nr * sizeof(ranges[0]));
	while (req->core_count < nr &&
	       (req->core_status != 0 || ranges[req->core_count].length == 0)) {
		req->core_count++;
	}
	if (req->core_count >= nr) {
		if (req->core_status) {
			nvmf_req_set_status(req, (uint8_t)(req->core_status >> 8),
					    (uint8_t)(req->core_status & 0xff));
		}
		return NVMF_REQ_EXEC_COMPLETE;
	}
	rc = usk_bdev_unmap_blocks(info->desc, info->ch, ranges[req->core_count].starting_lba,
				   ranges[req->core_count].length, dsm_range_done, req);
	return handle_submit_rc(req, info, rc);
}

static int
dsm_cmd(struct usk_nvmf_request *req, struct nvmf_ns_info *info)
{
	const struct usk_nvme_cmd *cmd = &req->cmd->nvme_cmd;
	struct usk_nvme_dsm_range ranges[USK_NVME_DSM_MAX_RANGES];
	uint32_t nr = (cmd->cdw10 & 0xff) + 1;
	uint32_t i;

	if (!(cmd->cdw11 & USK_NVME_DSM_ATTR_DEALLOCATE)) {
		return NVMF_REQ_EXEC_COMPLETE; /* hints only */
	}
	if (req->length < nr * sizeof(ranges[0]) || req->iovcnt == 0) {
		return req_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_DATA_SGL_LENGTH_INVALID);
	}
	usk_iov_to_buf(req->iov, (int)req->iovcnt, ranges, nr * sizeof(ranges[0]));
	for (i = 0; i < nr; i++) {
		if (ranges[i].length &&
		    !lba_range_ok(info, ranges[i].starting_lba, ranges[i].length)) {
			return req_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_LBA_OUT_OF_RANGE);
		}
	}
	if (!usk_bdev_io_type_supported(usk_bdev_desc_get_bdev(info->desc),
					USK_BDEV_IO_TYPE_UNMAP)) {
		return NVMF_REQ_EXEC_COMPLETE; /* deallocate is advisory */
	}
	/* core_count/core_status start at 0 (usk_nvmf_request_exec) and survive -ENOMEM retries. */
	return dsm_next(req, info);
}

int
nvmf_ctrlr_process_io_cmd(struct usk_nvmf_request *req)
{
	struct usk_nvmf_qpair *qpair = req->qpair;
	const struct usk_nvme_cmd *cmd = &req->cmd->nvme_cmd;
	struct nvmf_sgroup *sgroup = nvmf_qpair_sgroup(qpair);
	struct nvmf_ns_info *info;
	uint32_t nsid = cmd->nsid;

	if (usk_unlikely(nsid == 0 || nsid > sgroup->num_ns)) {
		return req_status(req, USK_NVME_SCT_GENERIC,
				  USK_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	}
	info = &sgroup->ns_info[nsid - 1];
	if (usk_unlikely(info->ns == NULL)) {
		return req_status(req, USK_NVME_SCT_GENERIC,
				  USK_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	}
	if (usk_unlikely(info->ns->removing)) {
		return req_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_NAMESPACE_NOT_READY);
	}
	if (usk_unlikely(cmd->fuse != 0)) {
		return req_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_FIELD);
	}
	switch (cmd->opc) {
	case USK_NVME_OPC_READ:
	case USK_NVME_OPC_WRITE:
	case USK_NVME_OPC_COMPARE:
		return rw_cmd(req, info, cmd->opc);
	case USK_NVME_OPC_FLUSH:
		return flush_cmd(req, info);
	case USK_NVME_OPC_WRITE_ZEROES:
		return write_zeroes_cmd(req, info);
	case USK_NVME_OPC_DATASET_MANAGEMENT:
		return dsm_cmd(req, info);
	default:
		return req_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_OPCODE);
	}
}
