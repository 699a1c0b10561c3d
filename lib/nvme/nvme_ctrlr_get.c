/* SPDX-License-Identifier: BSD-3-Clause */
/* Controller accessors: Identify data, registers, namespaces, limits, state. */
#include "nvme_internal.h"

const struct usk_nvme_ctrlr_data *
usk_nvme_ctrlr_get_data(struct usk_nvme_ctrlr *ctrlr)
{
	return &ctrlr->cdata;
}

union usk_nvme_cap_register
usk_nvme_ctrlr_get_regs_cap(struct usk_nvme_ctrlr *ctrlr)
{
	return ctrlr->cap;
}

union usk_nvme_vs_register
usk_nvme_ctrlr_get_regs_vs(struct usk_nvme_ctrlr *ctrlr)
{
	return ctrlr->vs;
}

union usk_nvme_csts_register
usk_nvme_ctrlr_get_regs_csts(struct usk_nvme_ctrlr *ctrlr)
{
	uint32_t v;

	if (ctrlr->transport->ctrlr_get_reg_4 != NULL &&
	    ctrlr->transport->ctrlr_get_reg_4(ctrlr, USK_NVME_REG_CSTS, &v) == 0) {
		ctrlr->csts.raw = v;
	}
	return ctrlr->csts;
}

const struct usk_nvme_transport_id *
usk_nvme_ctrlr_get_transport_id(struct usk_nvme_ctrlr *ctrlr)
{
	return &ctrlr->trid;
}

const struct usk_nvme_ctrlr_opts *
usk_nvme_ctrlr_get_opts(struct usk_nvme_ctrlr *ctrlr)
{
	return &ctrlr->opts;
}

uint32_t
usk_nvme_ctrlr_get_num_ns(struct usk_nvme_ctrlr *ctrlr)
{
	return ctrlr->num_ns;
}

uint32_t
usk_nvme_ctrlr_get_first_active_ns(struct usk_nvme_ctrlr *ctrlr)
{
	return ctrlr->active_ns_count ? ctrlr->active_ns_list[0] : 0;
}

uint32_t
usk_nvme_ctrlr_get_next_active_ns(struct usk_nvme_ctrlr *ctrlr, uint32_t prev_nsid)
{
	for (uint32_t i = 0; i < ctrlr->active_ns_count; i++) {
		if (ctrlr->active_ns_list[i] > prev_nsid) {
			return ctrlr->active_ns_list[i];
		}
	}
	return 0;
}

bool
usk_nvme_ctrlr_is_active_ns(struct usk_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	return nsid >= 1 && nsid <= ctrlr->ns_array_size && ctrlr->ns[nsid - 1].active;
}

struct usk_nvme_ns *
usk_nvme_ctrlr_get_ns(struct usk_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	return usk_nvme_ctrlr_is_active_ns(ctrlr, nsid) ? &ctrlr->ns[nsid - 1] : NULL;
}

uint32_t
usk_nvme_ctrlr_get_max_xfer_size(struct usk_nvme_ctrlr *ctrlr)
{
	return ctrlr->max_xfer_size;
}

uint32_t
usk_nvme_ctrlr_get_num_io_queues(struct usk_nvme_ctrlr *ctrlr)
{
	return ctrlr->num_io_queues;
}

bool
usk_nvme_ctrlr_is_failed(struct usk_nvme_ctrlr *ctrlr)
{
	return __atomic_load_n(&ctrlr->is_failed, __ATOMIC_ACQUIRE);
}

uint16_t
usk_nvme_ctrlr_get_id(struct usk_nvme_ctrlr *ctrlr)
{
	return ctrlr->cntlid;
}
