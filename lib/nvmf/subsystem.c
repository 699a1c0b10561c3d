/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe-oF subsystems: NQN rules, hosts, listeners, namespaces and the inactive/active/paused state
 * machine. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "nvmf_internal.h"

/* ---- NQN validation (NVMe Base 2.0, 4.5) ---- */

static bool
domain_label_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63 || !isalpha((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[len - 1])) {
		return false;
	}
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-') {
			return false;
		}
	}
	return true;
}

bool
usk_nvmf_nqn_is_valid(const char *nqn, char *err, size_t err_len)
{
	char dummy[8];
	size_t len, dom_len, i;
	const char *dom, *end, *p;
	uuid_t uuid;
	int month;

	if (err == NULL) {
		err = dummy;
		err_len = sizeof(dummy);
	}
	err[0] = '\0';
	if (nqn == NULL) {
		snprintf(err, err_len, "missing");
		return false;
	}
	len = strnlen(nqn, USK_NVME_NQN_FIELD_SIZE);
	if (len > USK_NVMF_NQN_MAX_LEN) {
		snprintf(err, err_len, "longer than %d bytes", USK_NVMF_NQN_MAX_LEN);
		return false;
	}
	if (len < USK_NVMF_NQN_MIN_LEN) {
		snprintf(err, err_len, "shorter than %d bytes", USK_NVMF_NQN_MIN_LEN);
		return false;
	}
	if (strncmp(nqn, USK_NVMF_NQN_UUID_PRE, USK_NVMF_NQN_UUID_PRE_LEN) == 0) {
		if (len != USK_NVMF_NQN_UUID_PRE_LEN + 36 ||
		    uuid_parse(nqn + USK_NVMF_NQN_UUID_PRE_LEN, uuid) != 0) {
			snprintf(err, err_len, "UUID form needs a valid UUID after '%s'",
				 USK_NVMF_NQN_UUID_PRE);
			return false;
		}
		return true;
	}
	if (strncmp(nqn, "nqn.", 4) != 0) {
		snprintf(err, err_len, "must start with 'nqn.'");
		return false;
	}
	/* yyyy-mm. */
	for (i = 4; i < 8; i++) {
		if (!isdigit((unsigned char)nqn[i])) {
			snprintf(err, err_len, "needs a date 'yyyy-mm' after 'nqn.'");
			return false;
		}
	}
	if (nqn[8] != '-' || !isdigit((unsigned char)nqn[9]) || !isdigit((unsigned char)nqn[10]) ||
	    nqn[11] != '.') {
		snprintf(err, err_len, "needs a date 'yyyy-mm.' after 'nqn.'");
		return false;
	}
	month = (nqn[9] - '0') * 10 + (nqn[10] - '0');
	if (month < 1 || month > 12) {
		snprintf(err, err_len, "month %02d in the date is not 01..12", month);
		return false;
	}
	/* reverse domain name up to ':' or the end */
	dom = nqn + 12;
	end = strchr(dom, ':');
	dom_len = end ? (size_t)(end - dom) : strlen(dom);
	if (dom_len == 0) {
		snprintf(err, err_len, "needs a reverse domain name after the date");
		return false;
	}
	p = dom;
	while (p < dom + dom_len) {
		const char *dot = memchr(p, '.', (size_t)(dom + dom_len - p));
		size_t label_len = dot ? (size_t)(dot - p) : (size_t)(dom + dom_len - p);

		if (!domain_label_ok(p, label_len)) {
			snprintf(err, err_len, "reverse domain label '%.*s' is invalid",
				 (int)label_len, p);
			return false;
		}
		p += label_len + (dot ? 1 : 0);
		if (dot && p == dom + dom_len) {
			snprintf(err, err_len, "reverse domain ends with '.'");
			return false;
		}
	}
	if (end && end[1] == '\0') {
		snprintf(err, err_len, "user string after ':' is empty");
		return false;
	}
	return true;
}

/* ---- create / destroy ---- */

bool
nvmf_subsystem_is_discovery(const struct usk_nvmf_subsystem *subsystem)
{
	return subsystem->subtype == USK_NVMF_SUBTYPE_DISCOVERY ||
	       subsystem->subtype == USK_NVMF_SUBTYPE_DISCOVERY_CURRENT;
}

void
nvmf_tgt_discovery_changed(struct usk_nvmf_tgt *tgt)
{
	struct usk_nvmf_ctrlr *ctrlr;

	tgt->discovery_genctr++;
	if (tgt->discovery_subsystem == NULL) {
		return;
	}
	TAILQ_FOREACH(ctrlr, &tgt->discovery_subsystem->ctrlrs, link) {
		usk_thread_send_msg(ctrlr->thread,
				    (usk_msg_fn)nvmf_ctrlr_async_event_discovery_change, ctrlr);
	}
}

int
usk_nvmf_subsystem_create(struct usk_nvmf_tgt *tgt, const char *nqn, enum usk_nvmf_subtype subtype,
			  uint32_t num_ns, struct usk_nvmf_subsystem **out)
{
	struct usk_nvmf_subsystem *subsystem;
	uint32_t id;

	if (!usk_nvmf_nqn_is_valid(nqn, NULL, 0)) {
		return -EINVAL;
	}
	if (usk_nvmf_tgt_find_subsystem(tgt, nqn) != NULL) {
		return -EEXIST;
	}
	if ((subtype == USK_NVMF_SUBTYPE_NVME) == (strcmp(nqn, USK_NVMF_DISCOVERY_NQN) == 0)) {
		return -EINVAL;
	}
	for (id = 0; id < tgt->max_subsystems; id++) {
		if (tgt->subsystems[id] == NULL) {
			break;
		}
	}
	if (id == tgt->max_subsystems) {
		return -ENOSPC;
	}
	subsystem = calloc(1, sizeof(*subsystem));
	if (subsystem == NULL) {
		return -ENOMEM;
	}
	subsystem->tgt = tgt;
	subsystem->id = id;
	subsystem->subtype = subtype;
	subsystem->state = USK_NVMF_SUBSYSTEM_INACTIVE;
	subsystem->min_cntlid = USK_NVMF_CNTLID_MIN;
	subsystem->max_cntlid = USK_NVMF_CNTLID_MAX;
	subsystem->next_cntlid = USK_NVMF_CNTLID_MIN;
	snprintf(subsystem->subnqn, sizeof(subsystem->subnqn), "%s", nqn);
	snprintf(subsystem->sn, sizeof(subsystem->sn), "%s", NVMF_DEFAULT_SN);
	snprintf(subsystem->mn, sizeof(subsystem->mn), "%s", NVMF_DEFAULT_MN);
	TAILQ_INIT(&subsystem->ctrlrs);
	TAILQ_INIT(&subsystem->hosts);
	TAILQ_INIT(&subsystem->listeners);
	TAILQ_INIT(&subsystem->pending_connects);
	TAILQ_INIT(&subsystem->removed_ns);
	if (subtype == USK_NVMF_SUBTYPE_NVME) {
		subsystem->max_nsid = num_ns ? num_ns : USK_NVMF_DEFAULT_MAX_NAMESPACES;
		subsystem->ns = calloc(subsystem->max_nsid, sizeof(*subsystem->ns));
		if (subsystem->ns == NULL) {
			free(subsystem);
			return -ENOMEM;
		}
	}
	tgt->subsystems[id] = subsystem;
	nvmf_tgt_discovery_changed(tgt);
	*out = subsystem;
	return 0;
}

static void
ns_free(struct usk_nvmf_ns *ns)
{
	if (ns->desc) {
		usk_bdev_close(ns->desc);
	}
	free(ns);
}

static void
subsystem_free_removed_ns(struct usk_nvmf_subsystem *subsystem)
{
	struct usk_nvmf_ns *ns;

	while ((ns = TAILQ_FIRST(&subsystem->removed_ns)) != NULL) {
		TAILQ_REMOVE(&subsystem->removed_ns, ns, link);
		ns_free(ns);
	}
}

static void
subsystem_free(struct usk_nvmf_subsystem *subsystem)
{
	struct usk_nvmf_tgt *tgt = subsystem->tgt;
	struct usk_nvmf_subsystem_listener *listener;
	struct usk_nvmf_host *host;
	uint32_t i;

	while ((listener = TAILQ_FIRST(&subsystem->listeners)) != NULL) {
		TAILQ_REMOVE(&subsystem->listeners, listener, link);
		nvmf_transport_stop_listen(listener->transport, &listener->trid);
		free(listener);
	}
	while ((host = TAILQ_FIRST(&subsystem->hosts)) != NULL) {
		TAILQ_REMOVE(&subsystem->hosts, host, link);
		free(host);
	}
	for (i = 0; i < subsystem->max_nsid; i++) {
		if (subsystem->ns[i]) {
			ns_free(subsystem->ns[i]);
		}
	}
	subsystem_free_removed_ns(subsystem);
	free(subsystem->ns);
	if (tgt->subsystems[subsystem->id] == subsystem) {
		tgt->subsystems[subsystem->id] = NULL;
	}
	if (tgt->discovery_subsystem == subsystem) {
		tgt->discovery_subsystem = NULL;
	}
	nvmf_tgt_discovery_changed(tgt);
	free(subsystem);
}

int
usk_nvmf_subsystem_destroy(struct usk_nvmf_subsystem *subsystem)
{
	struct nvmf_connect_ctx *ctx;

	if (subsystem->state != USK_NVMF_SUBSYSTEM_INACTIVE || subsystem->changing_state) {
		return -EBUSY;
	}
	while ((ctx = TAILQ_FIRST(&subsystem->pending_connects)) != NULL) {
		TAILQ_REMOVE(&subsystem->pending_connects, ctx, link);
		nvmf_connect_ctx_fail(ctx, USK_NVME_SCT_COMMAND_SPECIFIC,
				      USK_NVMF_FABRIC_SC_INVALID_PARAM);
	}
	/* Subsystem leaves the target now; the memory goes when the last controller is gone. */
	subsystem->tgt->subsystems[subsystem->id] = NULL;
	subsystem->destroying = true;
	if (TAILQ_EMPTY(&subsystem->ctrlrs)) {
		subsystem_free(subsystem);
	}
	return 0;
}

void
nvmf_subsystem_ctrlr_gone(struct usk_nvmf_subsystem *subsystem)
{
	if (subsystem->destroying && TAILQ_EMPTY(&subsystem->ctrlrs)) {
		subsystem_free(subsystem);
	}
}

/* ---- state machine ---- */

struct state_change_ctx {
	struct usk_nvmf_subsystem *subsystem;
	enum usk_nvmf_subsystem_state requested; /* ACTIVE, PAUSED or INACTIVE */
	bool deactivate_pass;			 /* second pass of a stop */
};

void
nvmf_sgroup_release(struct nvmf_sgroup *sgroup)
{
	uint32_t i;

	for (i = 0; i < sgroup->num_ns; i++) {
		if (sgroup->ns_info[i].ch) {
			usk_put_io_channel(sgroup->ns_info[i].ch);
		}
	}
	free(sgroup->ns_info);
	sgroup->ns_info = NULL;
	sgroup->num_ns = 0;
}

int
nvmf_sgroup_update(struct usk_nvmf_poll_group *group, struct usk_nvmf_subsystem *subsystem)
{
	struct nvmf_sgroup *sgroup = &group->sgroups[subsystem->id];
	struct nvmf_ns_info *info;
	struct usk_nvmf_ns *ns;
	uint32_t i;

	if (sgroup->num_ns != subsystem->max_nsid) {
		info = calloc(subsystem->max_nsid ? subsystem->max_nsid : 1, sizeof(*info));
		if (info == NULL) {
			return -ENOMEM;
		}
		if (sgroup->ns_info) {
			memcpy(info, sgroup->ns_info,
			       USK_MIN(sgroup->num_ns, subsystem->max_nsid) * sizeof(*info));
		}
		for (i = subsystem->max_nsid; i < sgroup->num_ns; i++) {
			if (sgroup->ns_info[i].ch) {
				usk_put_io_channel(sgroup->ns_info[i].ch);
			}
		}
		free(sgroup->ns_info);
		sgroup->ns_info = info;
		sgroup->num_ns = subsystem->max_nsid;
	}
	for (i = 0; i < sgroup->num_ns; i++) {
		info = &sgroup->ns_info[i];
		ns = subsystem->ns[i];
		if (info->ns != ns) {
			if (info->ch) {
				usk_put_io_channel(info->ch);
			}
			memset(info, 0, sizeof(*info));
			if (ns == NULL) {
				continue;
			}
			info->ch = usk_bdev_get_io_channel(ns->desc);
			if (info->ch == NULL) {
				USK_ERRLOG("no I/O channel for namespace %u of %s\n", ns->nsid,
					   subsystem->subnqn);
				return -ENOMEM;
			}
			info->ns = ns;
			info->desc = ns->desc;
		}
		if (ns) {
			info->block_size = usk_bdev_get_block_size(ns->bdev);
			info->num_blocks = usk_bdev_get_num_blocks(ns->bdev);
		}
	}
	return 0;
}

static void
state_change_on_group(struct usk_io_channel_iter *i)
{
	struct state_change_ctx *ctx = usk_io_channel_iter_get_ctx(i);
	struct usk_nvmf_poll_group *group =
		usk_io_channel_get_ctx(usk_io_channel_iter_get_channel(i));
	struct usk_nvmf_subsystem *subsystem = ctx->subsystem;
	struct nvmf_sgroup *sgroup = &group->sgroups[subsystem->id];
	struct usk_nvmf_qpair *qpair, *tmp;
	struct usk_nvmf_request *req;
	int rc;

	if (ctx->deactivate_pass) {
		/* I/O drained already: drop the connections and the channels. */
		TAILQ_FOREACH_SAFE(qpair, &group->qpairs, link, tmp) {
			if (qpair->ctrlr && qpair->ctrlr->subsys == subsystem) {
				usk_nvmf_qpair_disconnect(qpair);
			}
		}
		while ((req = TAILQ_FIRST(&sgroup->queued)) != NULL) {
			TAILQ_REMOVE(&sgroup->queued, req, link);
			nvmf_req_set_status(req, USK_NVME_SCT_GENERIC,
					    USK_NVME_SC_ABORTED_SQ_DELETION);
			usk_nvmf_request_complete(req);
		}
		nvmf_sgroup_release(sgroup);
		sgroup->state = USK_NVMF_SUBSYSTEM_INACTIVE;
		usk_for_each_channel_continue(i, 0);
		return;
	}
	switch (ctx->requested) {
	case USK_NVMF_SUBSYSTEM_ACTIVE:
		rc = nvmf_sgroup_update(group, subsystem);
		sgroup->state = USK_NVMF_SUBSYSTEM_ACTIVE;
		nvmf_sgroup_run_queued(sgroup);
		usk_for_each_channel_continue(i, rc);
		return;
	case USK_NVMF_SUBSYSTEM_PAUSED:
	case USK_NVMF_SUBSYSTEM_INACTIVE:
		if (sgroup->state == USK_NVMF_SUBSYSTEM_INACTIVE) {
			usk_for_each_channel_continue(i, 0);
			return;
		}
		sgroup->state = USK_NVMF_SUBSYSTEM_PAUSING;
		if (sgroup->io_outstanding == 0) {
			sgroup->state = USK_NVMF_SUBSYSTEM_PAUSED;
			usk_for_each_channel_continue(i, 0);
		} else {
			sgroup->pause_iter = i; /* nvmf_sgroup_request_done continues */
		}
		return;
	default:
		usk_for_each_channel_continue(i, -EINVAL);
		return;
	}
}

static void state_change_done(struct usk_io_channel_iter *i, int status);

static void
state_change_finish(struct state_change_ctx *ctx, int status)
{
	struct usk_nvmf_subsystem *subsystem = ctx->subsystem;
	usk_nvmf_subsystem_state_change_done cb = subsystem->state_cb;
	void *cb_arg = subsystem->state_cb_arg;

	if (status == 0) {
		subsystem->state = ctx->requested;
	} else if (ctx->requested == USK_NVMF_SUBSYSTEM_ACTIVE) {
		/* Leave it paused: poll groups that could not open a channel queue its I/O. */
		subsystem->state = USK_NVMF_SUBSYSTEM_PAUSED;
	}
	subsystem->changing_state = false;
	subsystem->state_cb = NULL;
	free(ctx);
	if (subsystem->state != USK_NVMF_SUBSYSTEM_PAUSED) {
		subsystem_free_removed_ns(subsystem);
	}
	if (subsystem->state == USK_NVMF_SUBSYSTEM_ACTIVE) {
		nvmf_subsystem_process_pending_connects(subsystem);
	}
	if (cb) {
		cb(subsystem, cb_arg, status);
	}
}

static void
state_change_done(struct usk_io_channel_iter *i, int status)
{
	struct state_change_ctx *ctx = usk_io_channel_iter_get_ctx(i);

	if (status == 0 && ctx->requested == USK_NVMF_SUBSYSTEM_INACTIVE && !ctx->deactivate_pass) {
		ctx->deactivate_pass = true;
		status = usk_for_each_channel(ctx->subsystem->tgt, state_change_on_group, ctx,
					      state_change_done);
		if (status == 0) {
			return;
		}
	}
	state_change_finish(ctx, status);
}

static int
subsystem_change_state(struct usk_nvmf_subsystem *subsystem, enum usk_nvmf_subsystem_state from_a,
		       enum usk_nvmf_subsystem_state from_b, enum usk_nvmf_subsystem_state transit,
		       enum usk_nvmf_subsystem_state requested,
		       usk_nvmf_subsystem_state_change_done cb_fn, void *cb_arg)
{
	struct state_change_ctx *ctx;
	enum usk_nvmf_subsystem_state prev;
	int rc;

	if (subsystem->changing_state) {
		return -EBUSY;
	}
	if (subsystem->state != from_a && subsystem->state != from_b) {
		return -EINVAL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->subsystem = subsystem;
	ctx->requested = requested;
	prev = subsystem->state;
	subsystem->changing_state = true;
	subsystem->state = transit;
	subsystem->state_cb = cb_fn;
	subsystem->state_cb_arg = cb_arg;
	rc = usk_for_each_channel(subsystem->tgt, state_change_on_group, ctx, state_change_done);
	if (rc != 0) {
		/* No poll group was told: back to where it was, cb_fn never runs. */
		subsystem->state = prev;
		subsystem->changing_state = false;
		subsystem->state_cb = NULL;
		free(ctx);
		return rc;
	}
	return 0;
}

int
usk_nvmf_subsystem_start(struct usk_nvmf_subsystem *subsystem,
			 usk_nvmf_subsystem_state_change_done cb_fn, void *cb_arg)
{
	return subsystem_change_state(subsystem, USK_NVMF_SUBSYSTEM_INACTIVE,
				      USK_NVMF_SUBSYSTEM_INACTIVE, USK_NVMF_SUBSYSTEM_ACTIVATING,
				      USK_NVMF_SUBSYSTEM_ACTIVE, cb_fn, cb_arg);
}

int
usk_nvmf_subsystem_stop(struct usk_nvmf_subsystem *subsystem,
			usk_nvmf_subsystem_state_change_done cb_fn, void *cb_arg)
{
	return subsystem_change_state(subsystem, USK_NVMF_SUBSYSTEM_ACTIVE,
				      USK_NVMF_SUBSYSTEM_PAUSED, USK_NVMF_SUBSYSTEM_DEACTIVATING,
				      USK_NVMF_SUBSYSTEM_INACTIVE, cb_fn, cb_arg);
}

int
usk_nvmf_subsystem_pause(struct usk_nvmf_subsystem *subsystem,
			 usk_nvmf_subsystem_state_change_done cb_fn, void *cb_arg)
{
	return subsystem_change_state(subsystem, USK_NVMF_SUBSYSTEM_ACTIVE,
				      USK_NVMF_SUBSYSTEM_ACTIVE, USK_NVMF_SUBSYSTEM_PAUSING,
				      USK_NVMF_SUBSYSTEM_PAUSED, cb_fn, cb_arg);
}

int
usk_nvmf_subsystem_resume(struct usk_nvmf_subsystem *subsystem,
			  usk_nvmf_subsystem_state_change_done cb_fn, void *cb_arg)
{
	return subsystem_change_state(subsystem, USK_NVMF_SUBSYSTEM_PAUSED,
				      USK_NVMF_SUBSYSTEM_PAUSED, USK_NVMF_SUBSYSTEM_RESUMING,
				      USK_NVMF_SUBSYSTEM_ACTIVE, cb_fn, cb_arg);
}

enum usk_nvmf_subsystem_state
usk_nvmf_subsystem_get_state(struct usk_nvmf_subsystem *subsystem)
{
	return subsystem->state;
}

/* ---- lookups and attributes ---- */

struct usk_nvmf_subsystem *
usk_nvmf_tgt_find_subsystem(struct usk_nvmf_tgt *tgt, const char *nqn)
{
	uint32_t i;

	if (nqn == NULL) {
		return NULL;
	}
	for (i = 0; i < tgt->max_subsystems; i++) {
		if (tgt->subsystems[i] && strcmp(tgt->subsystems[i]->subnqn, nqn) == 0) {
			return tgt->subsystems[i];
		}
	}
	return NULL;
}

static struct usk_nvmf_subsystem *
next_subsystem_from(struct usk_nvmf_tgt *tgt, uint32_t id)
{
	for (; id < tgt->max_subsystems; id++) {
		if (tgt->subsystems[id]) {
			return tgt->subsystems[id];
		}
	}
	return NULL;
}

struct usk_nvmf_subsystem *
usk_nvmf_subsystem_get_first(struct usk_nvmf_tgt *tgt)
{
	return next_subsystem_from(tgt, 0);
}

struct usk_nvmf_subsystem *
usk_nvmf_subsystem_get_next(struct usk_nvmf_subsystem *subsystem)
{
	return next_subsystem_from(subsystem->tgt, subsystem->id + 1);
}

struct usk_nvmf_tgt *
usk_nvmf_subsystem_get_tgt(struct usk_nvmf_subsystem *subsystem)
{
	return subsystem->tgt;
}

const char *
usk_nvmf_subsystem_get_nqn(const struct usk_nvmf_subsystem *subsystem)
{
	return subsystem->subnqn;
}

enum usk_nvmf_subtype
usk_nvmf_subsystem_get_type(struct usk_nvmf_subsystem *subsystem)
{
	return subsystem->subtype;
}

static bool
ascii_printable(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len > max) {
		return false;
	}
	for (; *s; s++) {
		if (*s < 0x20 || *s > 0x7e) {
			return false;
		}
	}
	return true;
}

int
usk_nvmf_subsystem_set_sn(struct usk_nvmf_subsystem *subsystem, const char *sn)
{
	if (!ascii_printable(sn, USK_NVME_CTRLR_SN_LEN)) {
		return -EINVAL;
	}
	snprintf(subsystem->sn, sizeof(subsystem->sn), "%s", sn);
	return 0;
}

const char *
usk_nvmf_subsystem_get_sn(const struct usk_nvmf_subsystem *subsystem)
{
	return subsystem->sn;
}

int
usk_nvmf_subsystem_set_mn(struct usk_nvmf_subsystem *subsystem, const char *mn)
{
	if (!ascii_printable(mn, USK_NVME_CTRLR_MN_LEN)) {
		return -EINVAL;
	}
	snprintf(subsystem->mn, sizeof(subsystem->mn), "%s", mn);
	return 0;
}

const char *
usk_nvmf_subsystem_get_mn(const struct usk_nvmf_subsystem *subsystem)
{
	return subsystem->mn;
}

uint32_t
usk_nvmf_subsystem_get_max_nsid(struct usk_nvmf_subsystem *subsystem)
{
	return subsystem->max_nsid;
}

int
usk_nvmf_subsystem_set_cntlid_range(struct usk_nvmf_subsystem *subsystem, uint16_t min_cntlid,
				    uint16_t max_cntlid)
{
	if (subsystem->state != USK_NVMF_SUBSYSTEM_INACTIVE) {
		return -EPERM;
	}
	if (min_cntlid < USK_NVMF_CNTLID_MIN || max_cntlid > USK_NVMF_CNTLID_MAX ||
	    min_cntlid > max_cntlid) {
		return -EINVAL;
	}
	subsystem->min_cntlid = min_cntlid;
	subsystem->max_cntlid = max_cntlid;
	subsystem->next_cntlid = min_cntlid;
	return 0;
}

uint16_t
usk_nvmf_subsystem_get_min_cntlid(const struct usk_nvmf_subsystem *subsystem)
{
	return subsystem->min_cntlid;
}

uint16_t
usk_nvmf_subsystem_get_max_cntlid(const struct usk_nvmf_subsystem *subsystem)
{
	return subsystem->max_cntlid;
}

int
usk_nvmf_subsystem_set_ana_reporting(struct usk_nvmf_subsystem *subsystem, bool ana_reporting)
{
	if (subsystem->state != USK_NVMF_SUBSYSTEM_INACTIVE) {
		return -EPERM;
	}
	subsystem->ana_reporting = ana_reporting;
	return 0;
}

bool
usk_nvmf_subsystem_get_ana_reporting(struct usk_nvmf_subsystem *subsystem)
{
	return subsystem->ana_reporting;
}

struct usk_nvmf_ctrlr *
nvmf_subsystem_get_ctrlr(struct usk_nvmf_subsystem *subsystem, uint16_t cntlid)
{
	struct usk_nvmf_ctrlr *ctrlr;

	TAILQ_FOREACH(ctrlr, &subsystem->ctrlrs, link) {
		if (ctrlr->cntlid == cntlid) {
			return ctrlr;
		}
	}
	return NULL;
}

uint16_t
nvmf_subsystem_gen_cntlid(struct usk_nvmf_subsystem *subsystem)
{
	uint32_t count = (uint32_t)subsystem->max_cntlid - subsystem->min_cntlid + 1;
	uint32_t tries;
	uint16_t cntlid;

	for (tries = 0; tries < count; tries++) {
		cntlid = subsystem->next_cntlid;
		subsystem->next_cntlid = cntlid >= subsystem->max_cntlid ? subsystem->min_cntlid :
									   cntlid + 1;
		if (nvmf_subsystem_get_ctrlr(subsystem, cntlid) == NULL) {
			return cntlid;
		}
	}
	return 0xffff; /* all in use */
}

/* ---- hosts ---- */

int
usk_nvmf_subsystem_add_host(struct usk_nvmf_subsystem *subsystem, const char *hostnqn)
{
	struct usk_nvmf_host *host;

	if (!usk_nvmf_nqn_is_valid(hostnqn, NULL, 0)) {
		return -EINVAL;
	}
	TAILQ_FOREACH(host, &subsystem->hosts, link) {
		if (strcmp(host->nqn, hostnqn) == 0) {
			return -EEXIST;
		}
	}
	if (subsystem->num_hosts >= NVMF_SUBSYSTEM_MAX_HOSTS) {
		return -ENOSPC;
	}
	host = calloc(1, sizeof(*host));
	if (host == NULL) {
		return -ENOMEM;
	}
	snprintf(host->nqn, sizeof(host->nqn), "%s", hostnqn);
	TAILQ_INSERT_TAIL(&subsystem->hosts, host, link);
	subsystem->num_hosts++;
	nvmf_tgt_discovery_changed(subsystem->tgt);
	return 0;
}

int
usk_nvmf_subsystem_remove_host(struct usk_nvmf_subsystem *subsystem, const char *hostnqn)
{
	struct usk_nvmf_host *host;

	TAILQ_FOREACH(host, &subsystem->hosts, link) {
		if (strcmp(host->nqn, hostnqn) == 0) {
			TAILQ_REMOVE(&subsystem->hosts, host, link);
			subsystem->num_hosts--;
			free(host);
			nvmf_tgt_discovery_changed(subsystem->tgt);
			return 0;
		}
	}
	return -ENOENT;
}

int
usk_nvmf_subsystem_set_allow_any_host(struct usk_nvmf_subsystem *subsystem, bool allow_any_host)
{
	if (subsystem->allow_any_host != allow_any_host) {
		subsystem->allow_any_host = allow_any_host;
		nvmf_tgt_discovery_changed(subsystem->tgt);
	}
	return 0;
}

bool
usk_nvmf_subsystem_get_allow_any_host(const struct usk_nvmf_subsystem *subsystem)
{
	return subsystem->allow_any_host;
}

bool
usk_nvmf_subsystem_host_allowed(struct usk_nvmf_subsystem *subsystem, const char *hostnqn)
{
	struct usk_nvmf_host *host;

	if (subsystem->allow_any_host) {
		return true;
	}
	if (hostnqn == NULL) {
		return false;
	}
	TAILQ_FOREACH(host, &subsystem->hosts, link) {
		if (strcmp(host->nqn, hostnqn) == 0) {
			return true;
		}
	}
	return false;
}

struct usk_nvmf_host *
usk_nvmf_subsystem_get_first_host(struct usk_nvmf_subsystem *subsystem)
{
	return TAILQ_FIRST(&subsystem->hosts);
}

struct usk_nvmf_host *
usk_nvmf_subsystem_get_next_host(struct usk_nvmf_subsystem *subsystem, struct usk_nvmf_host *prev)
{
	return TAILQ_NEXT(prev, link);
}

const char *
usk_nvmf_host_get_nqn(const struct usk_nvmf_host *host)
{
	return host->nqn;
}

/* ---- listeners ---- */

static struct usk_nvmf_subsystem_listener *
find_listener(struct usk_nvmf_subsystem *subsystem, const struct usk_nvme_transport_id *trid)
{
	struct usk_nvmf_subsystem_listener *listener;

	TAILQ_FOREACH(listener, &subsystem->listeners, link) {
		if (usk_nvmf_trid_equal(&listener->trid, trid)) {
			return listener;
		}
	}
	return NULL;
}

int
usk_nvmf_subsystem_add_listener(struct usk_nvmf_subsystem *subsystem,
				const struct usk_nvme_transport_id *trid,
				const json_t *listen_params)
{
	struct usk_nvmf_subsystem_listener *listener;
	struct usk_nvmf_transport *transport;
	const char *name = trid->trstring[0] ? trid->trstring : usk_nvmf_trtype_str(trid->trtype);
	int rc;

	if (find_listener(subsystem, trid) != NULL) {
		return -EEXIST;
	}
	transport = usk_nvmf_tgt_get_transport(subsystem->tgt, name);
	if (transport == NULL) {
		return -ENOENT;
	}
	listener = calloc(1, sizeof(*listener));
	if (listener == NULL) {
		return -ENOMEM;
	}
	listener->trid = *trid;
	snprintf(listener->trid.trstring, sizeof(listener->trid.trstring), "%s",
		 transport->ops->name);
	listener->trid.trtype = transport->ops->type;
	listener->transport = transport;
	listener->subsystem = subsystem;
	rc = nvmf_transport_listen(transport, &listener->trid, listen_params);
	if (rc != 0) {
		free(listener);
		return rc;
	}
	if (transport->ops->listen_associate) {
		rc = transport->ops->listen_associate(transport, subsystem, &listener->trid);
		if (rc != 0) {
			nvmf_transport_stop_listen(transport, &listener->trid);
			free(listener);
			return rc;
		}
	}
	TAILQ_INSERT_TAIL(&subsystem->listeners, listener, link);
	nvmf_tgt_discovery_changed(subsystem->tgt);
	return 0;
}

struct listener_gone_ctx {
	struct usk_nvmf_subsystem *subsystem;
	struct usk_nvme_transport_id trid;
};

/* Drop the connections that came in through a removed listener (as SPDK does). */
static void
listener_gone_on_group(struct usk_io_channel_iter *i)
{
	struct listener_gone_ctx *ctx = usk_io_channel_iter_get_ctx(i);
	struct usk_nvmf_poll_group *group =
		usk_io_channel_get_ctx(usk_io_channel_iter_get_channel(i));
	struct usk_nvmf_qpair *qpair, *tmp;
	struct usk_nvme_transport_id trid;

	TAILQ_FOREACH_SAFE(qpair, &group->qpairs, link, tmp) {
		if (qpair->ctrlr == NULL || qpair->ctrlr->subsys != ctx->subsystem ||
		    qpair->transport->ops->qpair_get_listen_trid(qpair, &trid) != 0 ||
		    !usk_nvmf_trid_equal(&trid, &ctx->trid)) {
			continue;
		}
		usk_nvmf_qpair_disconnect(qpair);
	}
	usk_for_each_channel_continue(i, 0);
}

static void
listener_gone_done(struct usk_io_channel_iter *i, int status)
{
	free(usk_io_channel_iter_get_ctx(i));
}

int
usk_nvmf_subsystem_remove_listener(struct usk_nvmf_subsystem *subsystem,
				   const struct usk_nvme_transport_id *trid)
{
	struct usk_nvmf_subsystem_listener *listener = find_listener(subsystem, trid);
	struct listener_gone_ctx *ctx;

	if (listener == NULL) {
		return -ENOENT;
	}
	TAILQ_REMOVE(&subsystem->listeners, listener, link);
	nvmf_transport_stop_listen(listener->transport, &listener->trid);
	ctx = calloc(1, sizeof(*ctx));
	if (ctx != NULL && !nvmf_subsystem_is_discovery(subsystem)) {
		ctx->subsystem = subsystem;
		ctx->trid = listener->trid;
		if (usk_for_each_channel(subsystem->tgt, listener_gone_on_group, ctx,
					 listener_gone_done) != 0) {
			/* Its qpairs stay connected until they disconnect on their own. */
			USK_WARNLOG("%s: cannot disconnect the qpairs of the removed listener\n",
				    subsystem->subnqn);
			free(ctx);
		}
	} else {
		free(ctx);
	}
	free(listener);
	nvmf_tgt_discovery_changed(subsystem->tgt);
	return 0;
}

bool
usk_nvmf_subsystem_listener_allowed(struct usk_nvmf_subsystem *subsystem,
				    const struct usk_nvme_transport_id *trid)
{
	/* As Linux does, the discovery service answers on every port of the target. */
	if (nvmf_subsystem_is_discovery(subsystem)) {
		return true;
	}
	return find_listener(subsystem, trid) != NULL;
}

struct usk_nvmf_subsystem_listener *
usk_nvmf_subsystem_get_first_listener(struct usk_nvmf_subsystem *subsystem)
{
	return TAILQ_FIRST(&subsystem->listeners);
}

struct usk_nvmf_subsystem_listener *
usk_nvmf_subsystem_get_next_listener(struct usk_nvmf_subsystem *subsystem,
				     struct usk_nvmf_subsystem_listener *prev)
{
	return TAILQ_NEXT(prev, link);
}

const struct usk_nvme_transport_id *
usk_nvmf_subsystem_listener_get_trid(struct usk_nvmf_subsystem_listener *listener)
{
	return &listener->trid;
}

/* ---- namespaces ---- */

struct ns_change_msg {
	struct usk_nvmf_ctrlr *ctrlr;
	uint32_t nsid;
};

static void
ns_change_on_ctrlr(void *arg)
{
	struct ns_change_msg *msg = arg;

	nvmf_ctrlr_ns_changed(msg->ctrlr, msg->nsid);
	free(msg);
}

void
nvmf_subsystem_notify_ns_change(struct usk_nvmf_subsystem *subsystem, uint32_t nsid)
{
	struct usk_nvmf_ctrlr *ctrlr;
	struct ns_change_msg *msg;

	TAILQ_FOREACH(ctrlr, &subsystem->ctrlrs, link) {
		msg = calloc(1, sizeof(*msg));
		if (msg == NULL) {
			continue;
		}
		msg->ctrlr = ctrlr;
		msg->nsid = nsid;
		if (usk_thread_send_msg(ctrlr->thread, ns_change_on_ctrlr, msg) != 0) {
			free(msg);
		}
	}
}

void
usk_nvmf_ns_opts_get_defaults(struct usk_nvmf_ns_opts *opts, size_t opts_size)
{
	memset(opts, 0, opts_size);
	opts->opts_size = opts_size;
}

static void hot_remove_start(void *arg);

static void
ns_event_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *event_ctx)
{
	struct usk_nvmf_ns *ns = event_ctx;

	switch (type) {
	case USK_BDEV_EVENT_REMOVE:
		if (!ns->removing) {
			ns->removing = true;
			hot_remove_start(ns);
		}
		break;
	case USK_BDEV_EVENT_RESIZE:
		nvmf_subsystem_notify_ns_change(ns->subsystem, ns->nsid);
		break;
	default:
		break;
	}
}

int
usk_nvmf_subsystem_add_ns_ext(struct usk_nvmf_subsystem *subsystem, const char *bdev_name,
			      const struct usk_nvmf_ns_opts *user_opts, size_t opts_size,
			      uint32_t *nsid_out)
{
	struct usk_nvmf_ns_opts opts;
	struct usk_nvmf_ns *ns;
	uint32_t nsid, i;
	int rc;

	if (subsystem->state != USK_NVMF_SUBSYSTEM_INACTIVE &&
	    subsystem->state != USK_NVMF_SUBSYSTEM_PAUSED) {
		return -EPERM;
	}
	if (nvmf_subsystem_is_discovery(subsystem)) {
		return -EINVAL;
	}
	usk_nvmf_ns_opts_get_defaults(&opts, sizeof(opts));
	if (user_opts) {
		memcpy(&opts, user_opts, USK_MIN(opts_size, sizeof(opts)));
		opts.opts_size = sizeof(opts);
	}
	nsid = opts.nsid;
	if (nsid == 0) {
		for (i = 0; i < subsystem->max_nsid; i++) {
			if (subsystem->ns[i] == NULL) {
				break;
			}
		}
		if (i == subsystem->max_nsid) {
			return -ENOSPC;
		}
		nsid = i + 1;
	} else if (nsid > subsystem->max_nsid || nsid == 0xffffffffu) {
		return -EINVAL;
	} else if (subsystem->ns[nsid - 1] != NULL) {
		return -EEXIST;
	}
	ns = calloc(1, sizeof(*ns));
	if (ns == NULL) {
		return -ENOMEM;
	}
	ns->nsid = nsid;
	ns->subsystem = subsystem;
	rc = usk_bdev_open_ext(bdev_name, true, ns_event_cb, ns, &ns->desc);
	if (rc != 0) {
		free(ns);
		return rc == -ENODEV || rc == -ENOENT ? -ENODEV : rc;
	}
	ns->bdev = usk_bdev_desc_get_bdev(ns->desc);
	opts.nsid = nsid;
	ns->opts = opts;
	if (usk_bdev_get_uuid(ns->bdev) != NULL) {
		static const uint8_t zero[16];

		if (memcmp(ns->opts.uuid, zero, 16) == 0) {
			memcpy(ns->opts.uuid, usk_bdev_get_uuid(ns->bdev), 16);
		}
	}
	subsystem->ns[nsid - 1] = ns;
	nvmf_subsystem_notify_ns_change(subsystem, nsid);
	*nsid_out = nsid;
	return 0;
}

int
usk_nvmf_subsystem_remove_ns(struct usk_nvmf_subsystem *subsystem, uint32_t nsid)
{
	struct usk_nvmf_ns *ns;

	if (subsystem->state != USK_NVMF_SUBSYSTEM_INACTIVE &&
	    subsystem->state != USK_NVMF_SUBSYSTEM_PAUSED) {
		return -EPERM;
	}
	if (nsid == 0 || nsid > subsystem->max_nsid || subsystem->ns[nsid - 1] == NULL) {
		return -ENOENT;
	}
	ns = subsystem->ns[nsid - 1];
	subsystem->ns[nsid - 1] = NULL;
	if (subsystem->state == USK_NVMF_SUBSYSTEM_INACTIVE) {
		ns_free(ns);
	} else {
		/* Poll groups still hold channels until the resume. */
		TAILQ_INSERT_TAIL(&subsystem->removed_ns, ns, link);
	}
	nvmf_subsystem_notify_ns_change(subsystem, nsid);
	return 0;
}

/* Hot remove: pause, drop the namespace, resume (retrying while another change runs). */
struct hot_remove_ctx {
	struct usk_nvmf_subsystem *subsystem;
	uint32_t nsid;
	struct usk_poller *retry;
};

static int hot_remove_retry(void *arg);

static void
hot_remove_resumed(struct usk_nvmf_subsystem *subsystem, void *cb_arg, int status)
{
	free(cb_arg);
}

static void
hot_remove_paused(struct usk_nvmf_subsystem *subsystem, void *cb_arg, int status)
{
	struct hot_remove_ctx *ctx = cb_arg;

	usk_nvmf_subsystem_remove_ns(subsystem, ctx->nsid);
	if (usk_nvmf_subsystem_resume(subsystem, hot_remove_resumed, ctx) != 0) {
		free(ctx);
	}
}

static int
hot_remove_try(struct hot_remove_ctx *ctx)
{
	struct usk_nvmf_subsystem *subsystem = ctx->subsystem;
	int rc;

	switch (subsystem->state) {
	case USK_NVMF_SUBSYSTEM_INACTIVE:
	case USK_NVMF_SUBSYSTEM_PAUSED:
		if (!subsystem->changing_state) {
			usk_nvmf_subsystem_remove_ns(subsystem, ctx->nsid);
			free(ctx);
			return 0;
		}
		return -EBUSY;
	case USK_NVMF_SUBSYSTEM_ACTIVE:
		rc = usk_nvmf_subsystem_pause(subsystem, hot_remove_paused, ctx);
		return rc;
	default:
		return -EBUSY;
	}
}

static int
hot_remove_retry(void *arg)
{
	struct hot_remove_ctx *ctx = arg;
	struct usk_poller *poller = ctx->retry;

	if (hot_remove_try(ctx) == -EBUSY) {
		return USK_POLLER_IDLE;
	}
	usk_poller_unregister(&poller);
	return USK_POLLER_BUSY;
}

static void
hot_remove_start(void *arg)
{
	struct usk_nvmf_ns *ns = arg;
	struct hot_remove_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		USK_ERRLOG("cannot remove namespace %u: out of memory\n", ns->nsid);
		return;
	}
	ctx->subsystem = ns->subsystem;
	ctx->nsid = ns->nsid;
	if (hot_remove_try(ctx) == -EBUSY) {
		ctx->retry = usk_poller_register(hot_remove_retry, ctx, 1000);
		if (ctx->retry == NULL) {
			free(ctx);
		}
	}
}

struct usk_nvmf_ns *
usk_nvmf_subsystem_get_ns(struct usk_nvmf_subsystem *subsystem, uint32_t nsid)
{
	if (nsid == 0 || nsid > subsystem->max_nsid) {
		return NULL;
	}
	return subsystem->ns[nsid - 1];
}

static struct usk_nvmf_ns *
ns_from(struct usk_nvmf_subsystem *subsystem, uint32_t idx)
{
	for (; idx < subsystem->max_nsid; idx++) {
		if (subsystem->ns[idx]) {
			return subsystem->ns[idx];
		}
	}
	return NULL;
}

struct usk_nvmf_ns *
usk_nvmf_subsystem_get_first_ns(struct usk_nvmf_subsystem *subsystem)
{
	return ns_from(subsystem, 0);
}

struct usk_nvmf_ns *
usk_nvmf_subsystem_get_next_ns(struct usk_nvmf_subsystem *subsystem, struct usk_nvmf_ns *prev)
{
	return ns_from(subsystem, prev->nsid);
}

uint32_t
usk_nvmf_ns_get_id(const struct usk_nvmf_ns *ns)
{
	return ns->nsid;
}

struct usk_bdev *
usk_nvmf_ns_get_bdev(struct usk_nvmf_ns *ns)
{
	return ns->bdev;
}

void
usk_nvmf_ns_get_opts(const struct usk_nvmf_ns *ns, struct usk_nvmf_ns_opts *opts, size_t opts_size)
{
	memset(opts, 0, opts_size);
	memcpy(opts, &ns->opts, USK_MIN(opts_size, sizeof(ns->opts)));
	opts->opts_size = opts_size;
}

/* ---- connects waiting for the subsystem ---- */

void
nvmf_subsystem_process_pending_connects(struct usk_nvmf_subsystem *subsystem)
{
	struct nvmf_connect_ctx *ctx;

	while (subsystem->state == USK_NVMF_SUBSYSTEM_ACTIVE &&
	       (ctx = TAILQ_FIRST(&subsystem->pending_connects)) != NULL) {
		TAILQ_REMOVE(&subsystem->pending_connects, ctx, link);
		nvmf_connect_ctx_run(ctx);
	}
}
