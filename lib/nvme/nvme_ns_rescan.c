/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Namespace rescan on a Namespace Attribute Changed AEN: read the Changed Namespace List log
 * (which re-arms the event), Identify the Active Namespace List again, then Identify Namespace
 * (and the ID descriptors) of every active one, and only then hand the AEN to the
 * application's AER callback, which finds the controller's namespaces up to date (new ones
 * active, removed ones inactive, resized ones with their new size). Non-blocking: a chain of
 * admin commands on the admin queue, run from its poller with ctrlr_lock held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_internal.h"

struct ns_rescan {
	struct usk_nvme_ctrlr *ctrlr;
	struct usk_nvme_cpl aen; /* the AEN, given to the AER callback at the end */
	uint32_t page[USK_NVME_MAX_NS_LIST_ENTRIES]; /* log page / active list page */
	uint32_t *list;
	uint32_t count, cap;
	uint32_t idx; /* namespace being identified */
	bool descs;   /* idx is at the ID descriptor step */
	uint8_t buf[USK_NVME_IDENTIFY_BUFLEN];
};

void nvme_ns_update(struct usk_nvme_ns *ns);
void nvme_ns_parse_id_descs(struct usk_nvme_ns *ns, const uint8_t *buf, size_t len);

static void rescan_next_ns(struct ns_rescan *r);
static void rescan_active_page(struct ns_rescan *r, uint32_t start);

static void
rescan_finish(struct ns_rescan *r, int rc)
{
	struct usk_nvme_ctrlr *ctrlr = r->ctrlr;
	struct usk_nvme_cpl aen = r->aen;

	free(r->list);
	free(r);
	ctrlr->ns_rescan = NULL;
	if (rc != 0) {
		NVME_CTRLR_ERRLOG(ctrlr, "namespace rescan failed: %s\n", strerror(-rc));
	}
	if (ctrlr->ns_rescan_again && rc == 0 && !ctrlr->is_failed) {
		/* Another change arrived meanwhile: scan again before telling the application. */
		ctrlr->ns_rescan_again = false;
		if (nvme_ctrlr_ns_rescan_start(ctrlr, &aen) == 0) {
			return;
		}
	}
	ctrlr->ns_rescan_again = false;
	if (ctrlr->aer_cb_fn != NULL && rc != -ECANCELED) {
		ctrlr->aer_cb_fn(ctrlr->aer_cb_arg, &aen);
	}
}

static bool
rescan_cpl_ok(struct ns_rescan *r, const struct usk_nvme_cpl *cpl, const char *what)
{
	if (usk_nvme_cpl_is_abort(cpl) || r->ctrlr->is_failed) {
		rescan_finish(r, -ECANCELED); /* detach / reset: init scans again */
		return false;
	}
	if (usk_nvme_cpl_is_error(cpl)) {
		NVME_CTRLR_ERRLOG(r->ctrlr, "namespace rescan: %s failed: %s\n", what,
				  usk_nvme_cpl_get_status_string(&cpl->status));
		rescan_finish(r, -EIO);
		return false;
	}
	return true;
}

static void
rescan_id_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct ns_rescan *r = arg;
	struct usk_nvme_ns *ns;

	if (usk_nvme_cpl_is_abort(cpl) || r->ctrlr->is_failed) {
		rescan_finish(r, -ECANCELED);
		return;
	}
	ns = &r->ctrlr->ns[r->ctrlr->active_ns_list[r->idx] - 1];
	if (!r->descs) {
		if (!rescan_cpl_ok(r, cpl, "Identify Namespace")) {
			return;
		}
		memcpy(&ns->nsdata, r->buf, sizeof(ns->nsdata));
		nvme_ns_update(ns);
		r->descs = r->ctrlr->vs.raw >= USK_NVME_VERSION(1, 3, 0);
		if (!r->descs) {
			r->idx++;
		}
	} else {
		/* Optional data: a controller that rejects CNS 3 just has no UUID. */
		if (!usk_nvme_cpl_is_error(cpl)) {
			nvme_ns_parse_id_descs(ns, r->buf, sizeof(r->buf));
		}
		r->descs = false;
		r->idx++;
	}
	rescan_next_ns(r);
}

static void
rescan_next_ns(struct ns_rescan *r)
{
	struct usk_nvme_ctrlr *ctrlr = r->ctrlr;
	int rc;

	if (r->idx >= ctrlr->active_ns_count) {
		rescan_finish(r, 0);
		return;
	}
	memset(r->buf, 0, sizeof(r->buf));
	rc = usk_nvme_ctrlr_cmd_identify(
		ctrlr, r->descs ? USK_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST : USK_NVME_IDENTIFY_NS, 0,
		ctrlr->active_ns_list[r->idx], 0, r->buf,
		r->descs ? sizeof(r->buf) : sizeof(struct usk_nvme_ns_data), rescan_id_done, r);
	if (rc != 0) {
		rescan_finish(r, rc);
	}
}

static void
rescan_active_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct ns_rescan *r = arg;
	struct usk_nvme_ctrlr *ctrlr = r->ctrlr;
	uint32_t n, last = r->count ? r->list[r->count - 1] : 0;

	if (!rescan_cpl_ok(r, cpl, "Identify Active Namespace List")) {
		return;
	}
	for (n = 0; n < USK_NVME_MAX_NS_LIST_ENTRIES && r->page[n] != 0; n++) {
		uint32_t id = r->page[n];

		/* IDs must ascend and stay within NN; a hostile target gets no out-of-range index.
		 */
		if (id <= last || id > ctrlr->num_ns) {
			NVME_CTRLR_ERRLOG(
				ctrlr, "namespace rescan: bad nsid %u in the active list (NN %u)\n",
				id, ctrlr->num_ns);
			rescan_finish(r, -EPROTO);
			return;
		}
		last = id;
		if (r->count == r->cap) {
			uint32_t ncap = r->cap ? r->cap * 2 : 64;
			uint32_t *nl = realloc(r->list, ncap * sizeof(uint32_t));

			if (nl == NULL) {
				rescan_finish(r, -ENOMEM);
				return;
			}
			r->list = nl;
			r->cap = ncap;
		}
		r->list[r->count++] = id;
	}
	if (n == USK_NVME_MAX_NS_LIST_ENTRIES) {
		rescan_active_page(r, last);
		return;
	}
	if (nvme_ctrlr_ns_array_build(ctrlr, r->list, r->count) != 0) {
		rescan_finish(r, -ENOMEM);
		return;
	}
	r->list = NULL; /* owned by ctrlr->active_ns_list now */
	r->idx = 0;
	r->descs = false;
	NVME_CTRLR_NOTICELOG(ctrlr, "namespace rescan: %u active namespaces\n",
			     ctrlr->active_ns_count);
	rescan_next_ns(r);
}

static void
rescan_active_page(struct ns_rescan *r, uint32_t start)
{
	int rc;

	memset(r->page, 0, sizeof(r->page));
	rc = usk_nvme_ctrlr_cmd_identify(r->ctrlr, USK_NVME_IDENTIFY_ACTIVE_NS_LIST, 0, start, 0,
					 r->page, sizeof(r->page), rescan_active_done, r);
	if (rc != 0) {
		rescan_finish(r, rc);
	}
}

static void
rescan_log_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct ns_rescan *r = arg;

	/* The log only says which IDs changed; the active list is re-read whatever it says. */
	if (usk_nvme_cpl_is_abort(cpl) || r->ctrlr->is_failed) {
		rescan_finish(r, -ECANCELED);
		return;
	}
	if (usk_nvme_cpl_is_error(cpl)) {
		NVME_CTRLR_NOTICELOG(r->ctrlr,
				     "Changed Namespace List log: %s; rescanning anyway\n",
				     usk_nvme_cpl_get_status_string(&cpl->status));
	}
	rescan_active_page(r, 0);
}

int
nvme_ctrlr_ns_rescan_start(struct usk_nvme_ctrlr *ctrlr, const struct usk_nvme_cpl *aen)
{
	struct ns_rescan *r;
	int rc;

	if (ctrlr->ns_rescan != NULL) {
		ctrlr->ns_rescan_again = true;
		return 0;
	}
	if (ctrlr->vs.raw < USK_NVME_VERSION(1, 1, 0) || ctrlr->opts.is_discovery) {
		return -ENOTSUP;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return -ENOMEM;
	}
	r->ctrlr = ctrlr;
	r->aen = *aen;
	ctrlr->ns_rescan = r;
	rc = usk_nvme_ctrlr_cmd_get_log_page(ctrlr, USK_NVME_LOG_CHANGED_NS_LIST, 0xffffffffu,
					     r->page, sizeof(r->page), 0, rescan_log_done, r);
	if (rc != 0) {
		ctrlr->ns_rescan = NULL;
		free(r);
		return rc;
	}
	return 0;
}
