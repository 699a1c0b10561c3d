/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe-oF admin commands: Identify, Get Log Page, Get/Set Features, Abort, Keep Alive, AER
 * dispatch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvmf_internal.h"

static int
status(struct usk_nvmf_request *req, uint8_t sct, uint8_t sc)
{
	nvmf_req_set_status(req, sct, sc);
	return NVMF_REQ_EXEC_COMPLETE;
}

static int
invalid_field(struct usk_nvmf_request *req)
{
	return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_FIELD);
}

/* Copy a data structure to the host: zero-fills the rest of the buffer. */
void
nvmf_req_copy_to_host(struct usk_nvmf_request *req, const void *src, size_t len)
{
	size_t copied;

	if (req->iovcnt == 0) {
		return;
	}
	copied = usk_iov_from_buf(req->iov, (int)req->iovcnt, src, USK_MIN(len, req->length));
	if (copied < req->length) {
		/* zero the tail: walk the iovecs past what was copied */
		size_t skip = copied;
		uint32_t i;

		for (i = 0; i < req->iovcnt; i++) {
			size_t l = req->iov[i].iov_len;

			if (skip >= l) {
				skip -= l;
				continue;
			}
			memset((uint8_t *)req->iov[i].iov_base + skip, 0, l - skip);
			skip = 0;
		}
	}
}

/* ---- Identify ---- */

void
nvmf_ctrlr_build_cdata(struct usk_nvmf_ctrlr *ctrlr, struct usk_nvme_ctrlr_data *cdata)
{
	struct usk_nvmf_subsystem *subsystem = ctrlr->subsys;
	struct usk_nvmf_transport *transport = ctrlr->admin_qpair ? ctrlr->admin_qpair->transport :
								    NULL;
	bool discovery = nvmf_ctrlr_is_discovery(ctrlr);
	uint32_t max_io_size, mdts_units;

	memset(cdata, 0, sizeof(*cdata));
	usk_strcpy_pad(cdata->sn, subsystem->sn, sizeof(cdata->sn), ' ');
	usk_strcpy_pad(cdata->mn, subsystem->mn, sizeof(cdata->mn), ' ');
	usk_strcpy_pad(cdata->fr, NVMF_FW_REVISION, sizeof(cdata->fr), ' ');
	cdata->rab = 6;
	cdata->cntlid = ctrlr->cntlid;
	cdata->ver = ctrlr->vs.raw;
	cdata->cntrltype = discovery ? USK_NVME_CTRLR_TYPE_DISCOVERY : USK_NVME_CTRLR_TYPE_IO;
	cdata->acl = 3;
	cdata->aerl = NVMF_MAX_ASYNC_EVENTS - 1;
	cdata->frmw = 0x3; /* slot 1 read-only, one slot */
	cdata->lpa = USK_NVME_LPA_EDLP | USK_NVME_LPA_CELP;
	cdata->elpe = NVMF_ERROR_LOG_ENTRIES - 1;
	cdata->wctemp = 0x157;
	cdata->cctemp = 0x175;
	cdata->kas = 1; /* 100 ms granularity */
	cdata->sqes = 0x66;
	cdata->cqes = 0x44;
	cdata->sgls = USK_NVME_SGLS_SUPPORTED;
	snprintf((char *)cdata->subnqn, sizeof(cdata->subnqn), "%s", subsystem->subnqn);
	cdata->nvmf_specific.iorcsz = sizeof(struct usk_nvme_cpl) / 16;
	cdata->nvmf_specific.msdbd = 1;
	if (transport) {
		const struct usk_nvmf_transport_opts *opts = &transport->opts;

		cdata->maxcmd = opts->max_queue_depth;
		max_io_size = opts->max_io_size;
		mdts_units = max_io_size / 4096;
		cdata->mdts = mdts_units > 1 ? (uint8_t)usk_u32log2(mdts_units) : 0;
		if (opts->in_capsule_data_size) {
			cdata->sgls |= USK_NVME_SGLS_ADDRESS_AS_OFFSET;
		}
		cdata->nvmf_specific.ioccsz =
			(uint32_t)(sizeof(struct usk_nvme_cmd) + opts->in_capsule_data_size) / 16;
	}
	if (discovery) {
		cdata->oaes = USK_NVME_OAES_DISCOVERY_LOG_CHANGE;
	} else {
		cdata->cmic = USK_NVME_CMIC_MULTI_CTRLR;
		if (subsystem->ana_reporting) {
			cdata->cmic |= USK_NVME_CMIC_ANA;
			cdata->anatt = 10;	     /* seconds */
			cdata->anacap = 0x01 | 0x40; /* optimized state; ANAGRPID fixed */
			cdata->anagrpmax = subsystem->max_nsid;
			cdata->nanagrpid = subsystem->max_nsid;
		}
		cdata->oaes = USK_NVME_OAES_NS_ATTR;
		cdata->nn = subsystem->max_nsid;
		cdata->mnan = subsystem->max_nsid;
		cdata->oncs = USK_NVME_ONCS_COMPARE | USK_NVME_ONCS_DSM |
			      USK_NVME_ONCS_WRITE_ZEROES;
		cdata->vwc = USK_NVME_VWC_PRESENT | USK_NVME_VWC_FLUSH_BROADCAST_NOT_SUPPORTED;
		cdata->awun = 0;
		cdata->awupf = 0;
	}
	cdata->psd[0].mp = 1000; /* 10 W, centiwatts */
	cdata->crdt1 = subsystem->tgt->crdt[0];
	cdata->crdt2 = subsystem->tgt->crdt[1];
	cdata->crdt3 = subsystem->tgt->crdt[2];
	if (transport && transport->ops->cdata_init) {
		transport->ops->cdata_init(transport, subsystem, cdata);
	}
}

static int
identify_ns(struct usk_nvmf_request *req, uint32_t nsid)
{
	struct usk_nvmf_subsystem *subsystem = req->qpair->ctrlr->subsys;
	struct usk_nvme_ns_data nsdata;
	struct usk_nvmf_ns *ns;

	if (nsid == 0 || nsid > subsystem->max_nsid) {
		return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	}
	memset(&nsdata, 0, sizeof(nsdata));
	ns = subsystem->ns[nsid - 1];
	if (ns) {
		nvmf_bdev_ctrlr_identify_ns(ns, &nsdata);
	}
	/* An inactive namespace ID returns all zeroes. */
	nvmf_req_copy_to_host(req, &nsdata, sizeof(nsdata));
	return NVMF_REQ_EXEC_COMPLETE;
}

static int
identify_active_ns_list(struct usk_nvmf_request *req, uint32_t start)
{
	struct usk_nvmf_subsystem *subsystem = req->qpair->ctrlr->subsys;
	struct usk_nvme_ns_list *list;
	uint32_t i, n = 0;

	if (start >= 0xfffffffeu) {
		return invalid_field(req);
	}
	list = calloc(1, sizeof(*list));
	if (list == NULL) {
		return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
	}
	for (i = start; i < subsystem->max_nsid && n < USK_NVME_MAX_NS_LIST_ENTRIES; i++) {
		if (subsystem->ns[i]) {
			list->ns_list[n++] = i + 1;
		}
	}
	nvmf_req_copy_to_host(req, list, sizeof(*list));
	free(list);
	return NVMF_REQ_EXEC_COMPLETE;
}

static size_t
add_ns_id_desc(uint8_t *buf, size_t off, uint8_t type, const void *data, uint8_t len)
{
	struct usk_nvme_ns_id_desc *desc = (struct usk_nvme_ns_id_desc *)(buf + off);
	static const uint8_t zero[16];

	if (memcmp(data, zero, len) == 0 || off + sizeof(*desc) + len > USK_NVME_IDENTIFY_BUFLEN) {
		return off;
	}
	desc->nidt = type;
	desc->nidl = len;
	memcpy(desc->nid, data, len);
	return off + sizeof(*desc) + len;
}

static int
identify_ns_id_desc_list(struct usk_nvmf_request *req, uint32_t nsid)
{
	struct usk_nvmf_subsystem *subsystem = req->qpair->ctrlr->subsys;
	struct usk_nvmf_ns *ns = nsid && nsid <= subsystem->max_nsid ? subsystem->ns[nsid - 1] :
								       NULL;
	uint8_t buf[USK_NVME_IDENTIFY_BUFLEN];
	uint8_t eui64[8];
	size_t off = 0;
	int i;

	if (ns == NULL) {
		return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	}
	memset(buf, 0, sizeof(buf));
	for (i = 0; i < 8; i++) {
		eui64[i] = (uint8_t)(ns->opts.eui64_be >> (56 - 8 * i));
	}
	off = add_ns_id_desc(buf, off, USK_NVME_NIDT_EUI64, eui64, USK_NVME_NIDT_EUI64_LEN);
	off = add_ns_id_desc(buf, off, USK_NVME_NIDT_NGUID, ns->opts.nguid,
			     USK_NVME_NIDT_NGUID_LEN);
	add_ns_id_desc(buf, off, USK_NVME_NIDT_UUID, ns->opts.uuid, USK_NVME_NIDT_UUID_LEN);
	nvmf_req_copy_to_host(req, buf, sizeof(buf));
	return NVMF_REQ_EXEC_COMPLETE;
}

static int
cmd_identify(struct usk_nvmf_request *req)
{
	struct usk_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	struct usk_nvme_cmd *cmd = &req->cmd->nvme_cmd;
	uint8_t cns = cmd->cdw10 & 0xff;
	struct usk_nvme_ctrlr_data *cdata;

	if (req->length < USK_NVME_IDENTIFY_BUFLEN || req->iovcnt == 0) {
		return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_DATA_SGL_LENGTH_INVALID);
	}
	if (nvmf_ctrlr_is_discovery(ctrlr) && cns != USK_NVME_IDENTIFY_CTRLR) {
		return invalid_field(req);
	}
	switch (cns) {
	case USK_NVME_IDENTIFY_NS:
		return identify_ns(req, cmd->nsid);
	case USK_NVME_IDENTIFY_CTRLR:
		cdata = malloc(sizeof(*cdata));
		if (cdata == NULL) {
			return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
		}
		nvmf_ctrlr_build_cdata(ctrlr, cdata);
		nvmf_req_copy_to_host(req, cdata, sizeof(*cdata));
		free(cdata);
		return NVMF_REQ_EXEC_COMPLETE;
	case USK_NVME_IDENTIFY_ACTIVE_NS_LIST:
		return identify_active_ns_list(req, cmd->nsid);
	case USK_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST:
		return identify_ns_id_desc_list(req, cmd->nsid);
	default:
		return invalid_field(req);
	}
}

/* ---- Get Log Page ---- */

static int
copy_log(struct usk_nvmf_request *req, const void *page, size_t page_size, uint64_t offset,
	 uint32_t len)
{
	uint8_t *tmp;

	if (offset > page_size) {
		return invalid_field(req);
	}
	tmp = calloc(1, len);
	if (tmp == NULL) {
		return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
	}
	memcpy(tmp, (const uint8_t *)page + offset,
	       USK_MIN((size_t)len, page_size - (size_t)offset));
	nvmf_req_copy_to_host(req, tmp, len);
	free(tmp);
	return NVMF_REQ_EXEC_COMPLETE;
}

static int
log_health(struct usk_nvmf_request *req, uint64_t offset, uint32_t len)
{
	struct usk_nvme_health_information_page page;

	/*
	 * A healthy device. I/O counters are not kept: I/O runs on every poll group and counting it
	 * per controller would need cross-thread updates on the hot path.
	 */
	memset(&page, 0, sizeof(page));
	page.temperature = 0x127; /* 295 K */
	page.available_spare = 100;
	page.available_spare_threshold = 10;
	page.percentage_used = 0;
	page.power_cycles[0] = 1;
	return copy_log(req, &page, sizeof(page), offset, len);
}

static int
log_firmware(struct usk_nvmf_request *req, uint64_t offset, uint32_t len)
{
	struct usk_nvme_firmware_page page;

	memset(&page, 0, sizeof(page));
	page.afi = 1;
	usk_strcpy_pad(page.revision[0], NVMF_FW_REVISION, sizeof(page.revision[0]), ' ');
	return copy_log(req, &page, sizeof(page), offset, len);
}

static int
log_changed_ns(struct usk_nvmf_request *req, uint64_t offset, uint32_t len, bool rae)
{
	struct usk_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	struct usk_nvme_changed_ns_list *list = calloc(1, sizeof(*list));
	int rc;

	if (list == NULL) {
		return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
	}
	if (ctrlr->changed_ns_overflow) {
		list->ns_list[0] = 0xffffffffu;
	} else {
		memcpy(list->ns_list, ctrlr->changed_ns, ctrlr->num_changed_ns * sizeof(uint32_t));
	}
	rc = copy_log(req, list, sizeof(*list), offset, len);
	free(list);
	if (!rae) {
		ctrlr->num_changed_ns = 0;
		ctrlr->changed_ns_overflow = false;
		nvmf_ctrlr_clear_notice(ctrlr, USK_NVME_ASYNC_EVENT_NS_ATTR_CHANGED);
	}
	return rc;
}

static void
effects_set(struct usk_nvme_cmds_and_effect_entry *e, bool lbcc)
{
	e->csupp = 1;
	e->lbcc = lbcc;
}

static int
log_cmd_effects(struct usk_nvmf_request *req, uint64_t offset, uint32_t len)
{
	struct usk_nvme_cmds_and_effect_log_page *page = calloc(1, sizeof(*page));
	static const uint8_t admin[] = {
		USK_NVME_OPC_GET_LOG_PAGE, USK_NVME_OPC_IDENTIFY,
		USK_NVME_OPC_ABORT,	   USK_NVME_OPC_SET_FEATURES,
		USK_NVME_OPC_GET_FEATURES, USK_NVME_OPC_ASYNC_EVENT_REQUEST,
		USK_NVME_OPC_KEEP_ALIVE,
	};
	size_t i;
	int rc;

	if (page == NULL) {
		return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
	}
	for (i = 0; i < USK_COUNTOF(admin); i++) {
		effects_set(&page->admin_cmds_supported[admin[i]], false);
	}
	effects_set(&page->io_cmds_supported[USK_NVME_OPC_READ], false);
	effects_set(&page->io_cmds_supported[USK_NVME_OPC_COMPARE], false);
	effects_set(&page->io_cmds_supported[USK_NVME_OPC_FLUSH], true);
	effects_set(&page->io_cmds_supported[USK_NVME_OPC_WRITE], true);
	effects_set(&page->io_cmds_supported[USK_NVME_OPC_WRITE_ZEROES], true);
	effects_set(&page->io_cmds_supported[USK_NVME_OPC_DATASET_MANAGEMENT], true);
	rc = copy_log(req, page, sizeof(*page), offset, len);
	free(page);
	return rc;
}

/*
 * Asymmetric Namespace Access log: one group per distinct ANAGRPID (the NSID unless the namespace
 * was given one), every group optimized. LSP bit 0 (RGO) leaves the NSID lists out.
 */
static int
log_ana(struct usk_nvmf_request *req, uint64_t offset, uint32_t len, bool rgo)
{
	struct usk_nvmf_subsystem *subsystem = req->qpair->ctrlr->subsys;
	uint32_t max = subsystem->max_nsid, ngrps = 0, i, j;
	uint32_t *grps = calloc(max ? max : 1, sizeof(uint32_t));
	size_t size = 16 + (size_t)max * (32 + 4), off = 16;
	uint8_t *page = calloc(1, size);
	int rc;

	if (grps == NULL || page == NULL) {
		free(grps);
		free(page);
		return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
	}
	for (i = 0; i < max; i++) {
		struct usk_nvmf_ns *ns = subsystem->ns[i];
		uint32_t grp;

		if (ns == NULL) {
			continue;
		}
		grp = ns->opts.anagrpid ? ns->opts.anagrpid : ns->nsid;
		for (j = 0; j < ngrps && grps[j] != grp; j++) {
		}
		if (j == ngrps) {
			grps[ngrps++] = grp;
		}
	}
	/* header: CHGCNT (8), NGRPS (2), reserved (6) */
	memcpy(page + 8, &(uint16_t){(uint16_t)ngrps}, 2);
	for (j = 0; j < ngrps; j++) {
		uint8_t *desc = page + off;
		uint32_t nnsids = 0;

		memcpy(desc, &grps[j], 4); /* ANAGRPID */
		desc[16] = 0x01;	   /* ANA state: optimized */
		off += 32;
		for (i = 0; i < max && !rgo; i++) {
			struct usk_nvmf_ns *ns = subsystem->ns[i];

			if (ns && (ns->opts.anagrpid ? ns->opts.anagrpid : ns->nsid) == grps[j]) {
				memcpy(page + off, &ns->nsid, 4);
				off += 4;
				nnsids++;
			}
		}
		memcpy(desc + 4, &nnsids, 4); /* NNSIDS */
	}
	rc = copy_log(req, page, off, offset, len);
	free(grps);
	free(page);
	return rc;
}

static int
cmd_get_log_page(struct usk_nvmf_request *req)
{
	struct usk_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	struct usk_nvme_cmd *cmd = &req->cmd->nvme_cmd;
	uint8_t lid = cmd->cdw10 & 0xff;
	bool rae = (cmd->cdw10 & USK_NVME_LOG_PAGE_RAE) != 0;
	uint64_t numd = ((uint64_t)(cmd->cdw11 & 0xffff) << 16 | (cmd->cdw10 >> 16)) + 1;
	uint64_t offset = (uint64_t)cmd->cdw13 << 32 | cmd->cdw12;
	uint64_t len = numd * 4;

	if (offset & 3) {
		return invalid_field(req);
	}
	if (len > req->length || req->iovcnt == 0) {
		return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_DATA_SGL_LENGTH_INVALID);
	}
	if (nvmf_ctrlr_is_discovery(ctrlr)) {
		switch (lid) {
		case USK_NVME_LOG_DISCOVERY:
			if (!rae) {
				nvmf_ctrlr_clear_notice(ctrlr,
							USK_NVME_ASYNC_EVENT_DISCOVERY_LOG_CHANGE);
			}
			nvmf_discovery_get_log_page(req, offset, (uint32_t)len);
			return NVMF_REQ_EXEC_ASYNC;
		case USK_NVME_LOG_ERROR:
			return copy_log(req, "", 0, 0, (uint32_t)len);
		default:
			return status(req, USK_NVME_SCT_COMMAND_SPECIFIC,
				      USK_NVME_SC_INVALID_LOG_PAGE);
		}
	}
	switch (lid) {
	case USK_NVME_LOG_ERROR:
		/* No errors are recorded: an all-zero page. */
		return copy_log(req, "", 0, 0, (uint32_t)len);
	case USK_NVME_LOG_HEALTH_INFORMATION:
		return log_health(req, offset, (uint32_t)len);
	case USK_NVME_LOG_FIRMWARE_SLOT:
		return log_firmware(req, offset, (uint32_t)len);
	case USK_NVME_LOG_CHANGED_NS_LIST:
		return log_changed_ns(req, offset, (uint32_t)len, rae);
	case USK_NVME_LOG_COMMAND_EFFECTS_LOG:
		return log_cmd_effects(req, offset, (uint32_t)len);
	case USK_NVME_LOG_ASYMMETRIC_NAMESPACE_ACCESS:
		if (!ctrlr->subsys->ana_reporting) {
			break;
		}
		return log_ana(req, offset, (uint32_t)len, (cmd->cdw10 >> 8) & 1);
	default:
		break;
	}
	return status(req, USK_NVME_SCT_COMMAND_SPECIFIC, USK_NVME_SC_INVALID_LOG_PAGE);
}

/* ---- Features ---- */

static bool
feature_allowed_on_discovery(uint8_t fid)
{
	return fid == USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION ||
	       fid == USK_NVME_FEAT_KEEP_ALIVE_TIMER;
}

static int
cmd_get_features(struct usk_nvmf_request *req)
{
	struct usk_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	struct usk_nvme_cmd *cmd = &req->cmd->nvme_cmd;
	uint8_t fid = cmd->cdw10 & 0xff;
	uint8_t sel = (cmd->cdw10 >> 8) & 0x7;
	uint32_t *cdw0 = &req->rsp->nvme_cpl.cdw0;

	if (nvmf_ctrlr_is_discovery(ctrlr) && !feature_allowed_on_discovery(fid)) {
		return invalid_field(req);
	}
	if (sel > USK_NVME_FEAT_SUPPORTED) {
		return invalid_field(req);
	}
	switch (fid) {
	case USK_NVME_FEAT_ARBITRATION:
		*cdw0 = ctrlr->feat.arbitration;
		break;
	case USK_NVME_FEAT_POWER_MANAGEMENT:
		*cdw0 = ctrlr->feat.power_management;
		break;
	case USK_NVME_FEAT_TEMPERATURE_THRESHOLD:
		*cdw0 = ctrlr->feat.temperature_threshold;
		break;
	case USK_NVME_FEAT_ERROR_RECOVERY:
		*cdw0 = ctrlr->feat.error_recovery;
		break;
	case USK_NVME_FEAT_VOLATILE_WRITE_CACHE:
		*cdw0 = ctrlr->feat.volatile_write_cache;
		break;
	case USK_NVME_FEAT_NUMBER_OF_QUEUES:
		*cdw0 = ctrlr->feat.number_of_queues;
		break;
	case USK_NVME_FEAT_WRITE_ATOMICITY:
		*cdw0 = ctrlr->feat.write_atomicity;
		break;
	case USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
		*cdw0 = ctrlr->feat.async_event_configuration.raw;
		break;
	case USK_NVME_FEAT_KEEP_ALIVE_TIMER:
		*cdw0 = ctrlr->feat.keep_alive_timer;
		break;
	case USK_NVME_FEAT_HOST_IDENTIFIER:
		if (!(cmd->cdw11 & 1)) {
			/* only the 128-bit host identifier exists */
			return invalid_field(req);
		}
		if (req->length < sizeof(ctrlr->hostid) || req->iovcnt == 0) {
			return status(req, USK_NVME_SCT_GENERIC,
				      USK_NVME_SC_DATA_SGL_LENGTH_INVALID);
		}
		nvmf_req_copy_to_host(req, ctrlr->hostid, sizeof(ctrlr->hostid));
		break;
	default:
		return invalid_field(req);
	}
	if (sel == USK_NVME_FEAT_SUPPORTED) {
		/* Capabilities: nothing is saveable or namespace specific; all are changeable. */
		*cdw0 = 1u << 2;
	}
	return NVMF_REQ_EXEC_COMPLETE;
}

static int
cmd_set_features(struct usk_nvmf_request *req)
{
	struct usk_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	struct usk_nvme_cmd *cmd = &req->cmd->nvme_cmd;
	uint8_t fid = cmd->cdw10 & 0xff;
	bool save = (cmd->cdw10 >> 31) & 1;
	uint32_t v = cmd->cdw11;

	if (nvmf_ctrlr_is_discovery(ctrlr) && !feature_allowed_on_discovery(fid)) {
		return invalid_field(req);
	}
	if (save) {
		return status(req, USK_NVME_SCT_COMMAND_SPECIFIC,
			      USK_NVME_SC_FEATURE_ID_NOT_SAVEABLE);
	}
	switch (fid) {
	case USK_NVME_FEAT_ARBITRATION:
		ctrlr->feat.arbitration = v;
		break;
	case USK_NVME_FEAT_POWER_MANAGEMENT:
		if ((v & 0x1f) != 0) { /* only power state 0 exists */
			return invalid_field(req);
		}
		ctrlr->feat.power_management = v & 0xff;
		break;
	case USK_NVME_FEAT_TEMPERATURE_THRESHOLD:
		if (((v >> 16) & 0xf) != 0 && ((v >> 16) & 0xf) != 0xf) {
			return invalid_field(req); /* TMPSEL: composite only */
		}
		if (((v >> 20) & 0x3) > 1) {
			return invalid_field(req); /* THSEL */
		}
		if (((v >> 20) & 0x3) == 0) {
			ctrlr->feat.temperature_threshold = v & 0xffff;
		}
		break;
	case USK_NVME_FEAT_ERROR_RECOVERY:
		ctrlr->feat.error_recovery = v;
		break;
	case USK_NVME_FEAT_VOLATILE_WRITE_CACHE:
		ctrlr->feat.volatile_write_cache = v & 1;
		break;
	case USK_NVME_FEAT_NUMBER_OF_QUEUES:
		if ((v & 0xffff) == 0xffff || (v >> 16) == 0xffff) {
			return invalid_field(req);
		}
		if (ctrlr->num_io_qpairs > 0) {
			return status(req, USK_NVME_SCT_GENERIC,
				      USK_NVME_SC_COMMAND_SEQUENCE_ERROR);
		}
		/* The number is fixed by the transport; report what is allocated. */
		req->rsp->nvme_cpl.cdw0 = ctrlr->feat.number_of_queues;
		break;
	case USK_NVME_FEAT_WRITE_ATOMICITY:
		ctrlr->feat.write_atomicity = v & 1;
		break;
	case USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
		ctrlr->feat.async_event_configuration.raw = v;
		break;
	case USK_NVME_FEAT_KEEP_ALIVE_TIMER:
		if (v == 0) {
			return invalid_field(req);
		}
		ctrlr->feat.keep_alive_timer = (v + NVMF_KAS_GRANULARITY_MS - 1) /
					       NVMF_KAS_GRANULARITY_MS * NVMF_KAS_GRANULARITY_MS;
		usk_poller_unregister(&ctrlr->keep_alive_poller);
		nvmf_ctrlr_keep_alive_touch(ctrlr);
		ctrlr->keep_alive_poller =
			usk_poller_register(nvmf_ctrlr_keep_alive_poll, ctrlr,
					    (uint64_t)ctrlr->feat.keep_alive_timer * 1000);
		break;
	case USK_NVME_FEAT_HOST_IDENTIFIER:
		/* Fabrics hosts give their identifier in Connect. */
		return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_COMMAND_SEQUENCE_ERROR);
	default:
		return invalid_field(req);
	}
	return NVMF_REQ_EXEC_COMPLETE;
}

/* ---- Abort ---- */

static int
cmd_abort(struct usk_nvmf_request *req)
{
	struct usk_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	struct usk_nvmf_qpair *qpair = req->qpair;
	uint16_t sqid = req->cmd->nvme_cmd.cdw10 & 0xffff;
	uint16_t cid = req->cmd->nvme_cmd.cdw10 >> 16;
	uint8_t i;

	req->rsp->nvme_cpl.cdw0 = 1; /* not aborted */
	if (sqid != 0) {
		/*
		 * I/O queues live on other threads and their commands complete quickly; Abort is
		 * best effort, so report "not aborted".
		 */
		return NVMF_REQ_EXEC_COMPLETE;
	}
	for (i = 0; i < ctrlr->nr_aer_reqs; i++) {
		struct usk_nvmf_request *aer = ctrlr->aer_req[i];

		if (aer->cmd->nvme_cmd.cid == cid) {
			memmove(&ctrlr->aer_req[i], &ctrlr->aer_req[i + 1],
				(size_t)(ctrlr->nr_aer_reqs - i - 1) * sizeof(ctrlr->aer_req[0]));
			ctrlr->aer_req[--ctrlr->nr_aer_reqs] = NULL;
			nvmf_req_set_status(aer, USK_NVME_SCT_GENERIC,
					    USK_NVME_SC_ABORTED_BY_REQUEST);
			usk_nvmf_request_complete(aer);
			req->rsp->nvme_cpl.cdw0 = 0;
			return NVMF_REQ_EXEC_COMPLETE;
		}
	}
	if (qpair->transport->ops->qpair_abort_request &&
	    qpair->transport->ops->qpair_abort_request(qpair, cid)) {
		req->rsp->nvme_cpl.cdw0 = 0;
	}
	return NVMF_REQ_EXEC_COMPLETE;
}

/* ---- dispatch ---- */

int
nvmf_ctrlr_process_admin_cmd(struct usk_nvmf_request *req)
{
	struct usk_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	struct usk_nvme_cmd *cmd = &req->cmd->nvme_cmd;

	nvmf_ctrlr_keep_alive_touch(ctrlr);
	if (!ctrlr->cc.bits.en || !ctrlr->csts.bits.rdy) {
		/* Only Fabrics commands are allowed before CC.EN (NVMe-oF 1.1, 3.5). */
		return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_COMMAND_SEQUENCE_ERROR);
	}
	if (cmd->fuse != 0) {
		return invalid_field(req);
	}
	switch (cmd->opc) {
	case USK_NVME_OPC_IDENTIFY:
		return cmd_identify(req);
	case USK_NVME_OPC_GET_LOG_PAGE:
		return cmd_get_log_page(req);
	case USK_NVME_OPC_GET_FEATURES:
		return cmd_get_features(req);
	case USK_NVME_OPC_SET_FEATURES:
		return cmd_set_features(req);
	case USK_NVME_OPC_ASYNC_EVENT_REQUEST:
		return nvmf_ctrlr_async_event_request(req);
	case USK_NVME_OPC_KEEP_ALIVE:
		return NVMF_REQ_EXEC_COMPLETE;
	case USK_NVME_OPC_ABORT:
		if (nvmf_ctrlr_is_discovery(ctrlr)) {
			break;
		}
		return cmd_abort(req);
	default:
		break;
	}
	return status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INVALID_OPCODE);
}
