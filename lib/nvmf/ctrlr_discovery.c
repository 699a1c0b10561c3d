/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe-oF discovery service: the discovery log page, built per host on the target thread. */
#include <stdlib.h>
#include <string.h>

#include "nvmf_internal.h"

static uint16_t
listener_portid(struct usk_nvmf_tgt *tgt, const struct usk_nvme_transport_id *trid)
{
	struct usk_nvmf_transport *transport;
	struct usk_nvmf_listener *listener;
	uint16_t id = 0;

	TAILQ_FOREACH(transport, &tgt->transports, link) {
		TAILQ_FOREACH(listener, &transport->listeners, link) {
			if (usk_nvmf_trid_equal(&listener->trid, trid)) {
				return id;
			}
			id++;
		}
	}
	return id;
}

static size_t
add_entries(struct usk_nvmf_tgt *tgt, struct usk_nvmf_subsystem *subsystem,
	    struct usk_nvmf_discovery_log_page *log, size_t numrec, size_t max)
{
	struct usk_nvmf_subsystem_listener *listener;
	struct usk_nvmf_discovery_log_page_entry *entry;

	TAILQ_FOREACH(listener, &subsystem->listeners, link) {
		if (numrec < max) {
			entry = &log->entries[numrec];
			memset(entry, 0, sizeof(*entry));
			nvmf_transport_listener_discover(listener->transport, &listener->trid,
							 entry);
			entry->subtype = nvmf_subsystem_is_discovery(subsystem) ?
						 USK_NVMF_SUBTYPE_DISCOVERY_CURRENT :
						 USK_NVMF_SUBTYPE_NVME;
			entry->portid = listener_portid(tgt, &listener->trid);
			entry->cntlid = USK_NVMF_CNTLID_DYNAMIC;
			entry->asqsz = (uint16_t)listener->transport->opts.max_aq_depth;
			snprintf((char *)entry->subnqn, sizeof(entry->subnqn), "%s",
				 subsystem->subnqn);
		}
		numrec++;
	}
	return numrec;
}

void *
nvmf_discovery_log_build(struct usk_nvmf_tgt *tgt, const char *hostnqn, size_t *size)
{
	struct usk_nvmf_discovery_log_page *log;
	struct usk_nvmf_subsystem *subsystem;
	size_t numrec = 0, max = 0;

	/* First pass counts, second fills. */
	for (int pass = 0; pass < 2; pass++) {
		log = NULL;
		if (pass == 1) {
			log = calloc(1, sizeof(*log) + max * sizeof(log->entries[0]));
			if (log == NULL) {
				return NULL;
			}
		}
		numrec = 0;
		for (subsystem = usk_nvmf_subsystem_get_first(tgt); subsystem;
		     subsystem = usk_nvmf_subsystem_get_next(subsystem)) {
			if (subsystem->state == USK_NVMF_SUBSYSTEM_INACTIVE &&
			    !nvmf_subsystem_is_discovery(subsystem)) {
				continue;
			}
			if (!nvmf_subsystem_is_discovery(subsystem) &&
			    !usk_nvmf_subsystem_host_allowed(subsystem, hostnqn)) {
				continue;
			}
			numrec = add_entries(tgt, subsystem, log, numrec, max);
		}
		max = numrec;
	}
	log->genctr = tgt->discovery_genctr;
	log->numrec = numrec;
	log->recfmt = 0;
	*size = sizeof(*log) + numrec * sizeof(log->entries[0]);
	return log;
}

struct discovery_ctx {
	struct usk_nvmf_request *req;
	struct usk_nvmf_tgt *tgt;
	struct usk_thread *thread;
	uint64_t offset;
	uint32_t length;
	char hostnqn[USK_NVME_NQN_FIELD_SIZE];
	uint8_t *data; /* length bytes to send */
	bool failed;
};

static void
discovery_reply(void *arg)
{
	struct discovery_ctx *ctx = arg;

	if (ctx->failed) {
		nvmf_req_set_status(ctx->req, USK_NVME_SCT_GENERIC,
				    USK_NVME_SC_INTERNAL_DEVICE_ERROR);
	} else {
		nvmf_req_copy_to_host(ctx->req, ctx->data, ctx->length);
	}
	usk_nvmf_request_complete(ctx->req);
	free(ctx->data);
	free(ctx);
}

static void
discovery_build_on_tgt(void *arg)
{
	struct discovery_ctx *ctx = arg;
	size_t size = 0;
	uint8_t *log = nvmf_discovery_log_build(ctx->tgt, ctx->hostnqn, &size);

	ctx->data = calloc(1, ctx->length);
	if (log == NULL || ctx->data == NULL) {
		ctx->failed = true;
	} else if (ctx->offset < size) {
		memcpy(ctx->data, log + ctx->offset,
		       USK_MIN((size_t)ctx->length, size - ctx->offset));
	}
	free(log);
	if (usk_thread_send_msg(ctx->thread, discovery_reply, ctx) != 0) {
		USK_ERRLOG("cannot send the discovery log reply\n");
	}
}

void
nvmf_discovery_get_log_page(struct usk_nvmf_request *req, uint64_t offset, uint32_t length)
{
	struct usk_nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	struct discovery_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		nvmf_req_set_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
		usk_nvmf_request_complete(req);
		return;
	}
	ctx->req = req;
	ctx->tgt = ctrlr->subsys->tgt;
	ctx->thread = usk_get_thread();
	ctx->offset = offset;
	ctx->length = length;
	memcpy(ctx->hostnqn, ctrlr->hostnqn, sizeof(ctx->hostnqn));
	if (usk_thread_send_msg(ctx->tgt->thread, discovery_build_on_tgt, ctx) != 0) {
		free(ctx);
		nvmf_req_set_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_INTERNAL_DEVICE_ERROR);
		usk_nvmf_request_complete(req);
	}
}
