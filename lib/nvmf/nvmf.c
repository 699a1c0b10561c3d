/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe-oF target core: targets, per-thread poll groups, qpair placement and teardown, request
 * dispatch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nvmf_internal.h"

USK_LOG_REGISTER_COMPONENT(nvmf)

static TAILQ_HEAD(, usk_nvmf_tgt) g_nvmf_tgts = TAILQ_HEAD_INITIALIZER(g_nvmf_tgts);

/* ---- poll groups ---- */

static int
poll_group_poll(void *ctx)
{
	struct usk_nvmf_poll_group *group = ctx;
	struct usk_nvmf_transport_poll_group *tgroup;
	int rc, count = 0;

	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		rc = tgroup->transport->ops->poll_group_poll(tgroup);
		if (rc > 0) {
			count += rc;
		}
	}
	return count > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}

static void
poll_group_set_interrupt_mode(struct usk_poller *poller, void *cb_arg, bool interrupt_mode)
{
	/* Nothing to switch: see usk_poller_register_interrupt in poll_group_create_cb. */
}

/* Destroy a poll group's transport poll groups and subsystem groups. */
static void
poll_group_release(struct usk_nvmf_poll_group *group)
{
	struct usk_nvmf_transport_poll_group *tgroup;
	uint32_t i;

	while ((tgroup = TAILQ_FIRST(&group->tgroups)) != NULL) {
		TAILQ_REMOVE(&group->tgroups, tgroup, link);
		nvmf_transport_poll_group_destroy(tgroup);
	}
	for (i = 0; i < group->num_sgroups; i++) {
		nvmf_sgroup_release(&group->sgroups[i]);
	}
	free(group->sgroups);
	group->sgroups = NULL;
}

static int
poll_group_create_cb(void *io_device, void *ctx_buf)
{
	struct usk_nvmf_tgt *tgt = io_device;
	struct usk_nvmf_poll_group *group = ctx_buf;
	struct usk_nvmf_transport *transport;
	struct usk_nvmf_transport_poll_group *tgroup;
	uint32_t i;

	group->tgt = tgt;
	group->thread = usk_get_thread();
	TAILQ_INIT(&group->tgroups);
	TAILQ_INIT(&group->qpairs);
	group->num_sgroups = tgt->max_subsystems;
	group->sgroups = calloc(group->num_sgroups, sizeof(*group->sgroups));
	if (group->sgroups == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < group->num_sgroups; i++) {
		TAILQ_INIT(&group->sgroups[i].queued);
	}
	TAILQ_FOREACH(transport, &tgt->transports, link) {
		tgroup = nvmf_transport_poll_group_create(transport, group);
		if (tgroup == NULL) {
			USK_ERRLOG("cannot create %s poll group\n", transport->ops->name);
			goto err_tgroups;
		}
		TAILQ_INSERT_TAIL(&group->tgroups, tgroup, link);
	}
	for (i = 0; i < tgt->max_subsystems; i++) {
		struct usk_nvmf_subsystem *subsystem = tgt->subsystems[i];

		if (subsystem == NULL || subsystem->state == USK_NVMF_SUBSYSTEM_INACTIVE) {
			continue;
		}
		if (nvmf_sgroup_update(group, subsystem) != 0) {
			goto err_tgroups;
		}
		group->sgroups[i].state = subsystem->state == USK_NVMF_SUBSYSTEM_ACTIVE ?
						  USK_NVMF_SUBSYSTEM_ACTIVE :
						  USK_NVMF_SUBSYSTEM_PAUSED;
	}
	group->poller = USK_POLLER_REGISTER(poll_group_poll, group, 0);
	if (group->poller == NULL) {
		goto err_tgroups;
	}
	/* In interrupt mode the transports register their own fds (and wake themselves for
	 * work no fd announces), so this poller need not spin. */
	usk_poller_register_interrupt(group->poller, poll_group_set_interrupt_mode, group);
	pthread_mutex_lock(&tgt->mutex);
	TAILQ_INSERT_TAIL(&tgt->poll_groups, group, link);
	pthread_mutex_unlock(&tgt->mutex);
	return 0;

err_tgroups:
	poll_group_release(group);
	return -ENOMEM;
}

static void
poll_group_destroy_cb(void *io_device, void *ctx_buf)
{
	struct usk_nvmf_tgt *tgt = io_device;
	struct usk_nvmf_poll_group *group = ctx_buf;

	pthread_mutex_lock(&tgt->mutex);
	if (tgt->next_poll_group == group) {
		tgt->next_poll_group = TAILQ_NEXT(group, link);
	}
	TAILQ_REMOVE(&tgt->poll_groups, group, link);
	pthread_mutex_unlock(&tgt->mutex);

	usk_poller_unregister(&group->poller);
	poll_group_release(group);
}

struct usk_nvmf_poll_group *
usk_nvmf_poll_group_create(struct usk_nvmf_tgt *tgt)
{
	struct usk_io_channel *ch = usk_get_io_channel(tgt);

	return ch ? usk_io_channel_get_ctx(ch) : NULL;
}

struct usk_thread *
usk_nvmf_poll_group_get_thread(struct usk_nvmf_poll_group *group)
{
	return group->thread;
}

static void
poll_group_destroy_finish(struct usk_nvmf_poll_group *group)
{
	usk_nvmf_poll_group_destroy_done_fn cb = group->destroy_cb;
	void *arg = group->destroy_cb_arg;

	group->destroy_cb = NULL;
	usk_put_io_channel(usk_io_channel_from_ctx(group));
	if (cb) {
		cb(arg, 0);
	}
}

void
usk_nvmf_poll_group_destroy(struct usk_nvmf_poll_group *group,
			    usk_nvmf_poll_group_destroy_done_fn cb_fn, void *ctx)
{
	struct usk_nvmf_qpair *qpair, *tmp;

	group->destroying = true;
	group->destroy_cb = cb_fn;
	group->destroy_cb_arg = ctx;
	if (TAILQ_EMPTY(&group->qpairs)) {
		poll_group_destroy_finish(group);
		return;
	}
	TAILQ_FOREACH_SAFE(qpair, &group->qpairs, link, tmp) {
		usk_nvmf_qpair_disconnect(qpair);
	}
}

/* ---- target ---- */

int
usk_nvmf_tgt_create(const struct usk_nvmf_target_opts *opts, struct usk_nvmf_tgt **out)
{
	struct usk_nvmf_tgt *tgt;
	const char *name = opts && opts->name[0] ? opts->name : "nvmf_tgt";
	int rc;

	if (usk_nvmf_get_tgt(name) != NULL) {
		return -EEXIST;
	}
	tgt = calloc(1, sizeof(*tgt));
	if (tgt == NULL) {
		return -ENOMEM;
	}
	snprintf(tgt->name, sizeof(tgt->name), "%s", name);
	tgt->max_subsystems = opts && opts->max_subsystems ? opts->max_subsystems :
							     USK_NVMF_DEFAULT_MAX_SUBSYSTEMS;
	if (opts) {
		memcpy(tgt->crdt, opts->crdt, sizeof(tgt->crdt));
	}
	tgt->thread = usk_get_thread();
	tgt->discovery_genctr = 0;
	TAILQ_INIT(&tgt->transports);
	TAILQ_INIT(&tgt->poll_groups);
	pthread_mutex_init(&tgt->mutex, NULL);
	tgt->subsystems = calloc(tgt->max_subsystems, sizeof(*tgt->subsystems));
	if (tgt->subsystems == NULL) {
		rc = -ENOMEM;
		goto err_free_tgt;
	}
	rc = usk_nvmf_subsystem_create(tgt, USK_NVMF_DISCOVERY_NQN,
				       USK_NVMF_SUBTYPE_DISCOVERY_CURRENT, 0,
				       &tgt->discovery_subsystem);
	if (rc != 0) {
		goto err_free_subsystems;
	}
	tgt->discovery_subsystem->allow_any_host = true;
	/* No poll group exists yet, so the discovery subsystem is active at once. */
	tgt->discovery_subsystem->state = USK_NVMF_SUBSYSTEM_ACTIVE;
	rc = usk_io_device_register(tgt, poll_group_create_cb, poll_group_destroy_cb,
				    sizeof(struct usk_nvmf_poll_group), tgt->name);
	if (rc != 0) {
		goto err_destroy_discovery;
	}
	TAILQ_INSERT_TAIL(&g_nvmf_tgts, tgt, link);
	*out = tgt;
	return 0;

err_destroy_discovery:
	tgt->discovery_subsystem->state = USK_NVMF_SUBSYSTEM_INACTIVE;
	usk_nvmf_subsystem_destroy(tgt->discovery_subsystem);
err_free_subsystems:
	free(tgt->subsystems);
err_free_tgt:
	pthread_mutex_destroy(&tgt->mutex);
	free(tgt);
	return rc;
}

static void
tgt_unregistered(void *io_device)
{
	struct usk_nvmf_tgt *tgt = io_device;
	usk_nvmf_tgt_destroy_done_fn cb = tgt->destroy_cb;
	void *arg = tgt->destroy_cb_arg;
	uint32_t i;

	for (i = 0; i < tgt->max_subsystems; i++) {
		struct usk_nvmf_subsystem *subsystem = tgt->subsystems[i];

		if (subsystem) {
			subsystem->state = USK_NVMF_SUBSYSTEM_INACTIVE;
			usk_nvmf_subsystem_destroy(subsystem);
		}
	}
	nvmf_transport_free_all(tgt);
	free(tgt->subsystems);
	pthread_mutex_destroy(&tgt->mutex);
	free(tgt);
	if (cb) {
		cb(arg, 0);
	}
}

void
usk_nvmf_tgt_destroy(struct usk_nvmf_tgt *tgt, usk_nvmf_tgt_destroy_done_fn cb_fn, void *ctx)
{
	tgt->destroy_cb = cb_fn;
	tgt->destroy_cb_arg = ctx;
	TAILQ_REMOVE(&g_nvmf_tgts, tgt, link);
	usk_io_device_unregister(tgt, tgt_unregistered);
}

const char *
usk_nvmf_tgt_get_name(struct usk_nvmf_tgt *tgt)
{
	return tgt->name;
}

struct usk_nvmf_tgt *
usk_nvmf_get_tgt(const char *name)
{
	struct usk_nvmf_tgt *tgt;

	if (name == NULL) {
		return TAILQ_FIRST(&g_nvmf_tgts);
	}
	TAILQ_FOREACH(tgt, &g_nvmf_tgts, link) {
		if (strcmp(tgt->name, name) == 0) {
			return tgt;
		}
	}
	return NULL;
}

struct usk_nvmf_tgt *
usk_nvmf_get_first_tgt(void)
{
	return TAILQ_FIRST(&g_nvmf_tgts);
}

struct usk_nvmf_tgt *
usk_nvmf_get_next_tgt(struct usk_nvmf_tgt *prev)
{
	return TAILQ_NEXT(prev, link);
}

/* ---- qpairs ---- */

static struct usk_nvmf_transport_poll_group *
group_find_tgroup(struct usk_nvmf_poll_group *group, struct usk_nvmf_transport *transport)
{
	struct usk_nvmf_transport_poll_group *tgroup;

	TAILQ_FOREACH(tgroup, &group->tgroups, link) {
		if (tgroup->transport == transport) {
			return tgroup;
		}
	}
	return NULL;
}

static void
poll_group_add_qpair(void *ctx)
{
	struct usk_nvmf_qpair *qpair = ctx;
	struct usk_nvmf_poll_group *group = qpair->group;
	struct usk_nvmf_transport_poll_group *tgroup = group_find_tgroup(group, qpair->transport);

	if (tgroup == NULL || group->destroying ||
	    qpair->transport->ops->poll_group_add(tgroup, qpair) != 0) {
		USK_ERRLOG("cannot add a new qpair to poll group\n");
		qpair->group = NULL;
		qpair->transport->ops->qpair_fini(qpair, NULL, NULL);
		return;
	}
	TAILQ_INSERT_TAIL(&group->qpairs, qpair, link);
}

void
usk_nvmf_tgt_new_qpair(struct usk_nvmf_tgt *tgt, struct usk_nvmf_qpair *qpair)
{
	struct usk_nvmf_poll_group *group = NULL;
	struct usk_nvmf_transport_poll_group *tgroup;

	TAILQ_INIT(&qpair->outstanding);
	qpair->state = USK_NVMF_QPAIR_UNINITIALIZED;
	if (qpair->transport->ops->get_optimal_poll_group) {
		tgroup = qpair->transport->ops->get_optimal_poll_group(qpair);
		if (tgroup) {
			group = tgroup->group;
		}
	}
	if (group == NULL) {
		pthread_mutex_lock(&tgt->mutex);
		group = tgt->next_poll_group ? tgt->next_poll_group :
					       TAILQ_FIRST(&tgt->poll_groups);
		if (group) {
			tgt->next_poll_group = TAILQ_NEXT(group, link);
		}
		pthread_mutex_unlock(&tgt->mutex);
	}
	if (group == NULL) {
		USK_ERRLOG("no poll group for a new qpair\n");
		qpair->transport->ops->qpair_fini(qpair, NULL, NULL);
		return;
	}
	qpair->group = group;
	if (usk_thread_send_msg(group->thread, poll_group_add_qpair, qpair) != 0) {
		qpair->group = NULL;
		qpair->transport->ops->qpair_fini(qpair, NULL, NULL);
	}
}

static void
qpair_destroy_finish(void *ctx)
{
	struct usk_nvmf_qpair *qpair = ctx;
	struct usk_nvmf_poll_group *group = qpair->group;
	struct usk_nvmf_transport_poll_group *tgroup;

	TAILQ_REMOVE(&group->qpairs, qpair, link);
	if (qpair->ctrlr) {
		if (usk_nvmf_qpair_is_admin_queue(qpair)) {
			group->stat.current_admin_qpairs--;
		} else {
			group->stat.current_io_qpairs--;
		}
	}
	tgroup = group_find_tgroup(group, qpair->transport);
	if (tgroup && qpair->transport->ops->poll_group_remove) {
		qpair->transport->ops->poll_group_remove(tgroup, qpair);
	}
	qpair->transport->ops->qpair_fini(qpair, NULL, NULL);
	if (group->destroying && TAILQ_EMPTY(&group->qpairs)) {
		poll_group_destroy_finish(group);
	}
}

static void
qpair_check_drained(struct usk_nvmf_qpair *qpair)
{
	if (qpair->state != USK_NVMF_QPAIR_DEACTIVATING || !TAILQ_EMPTY(&qpair->outstanding)) {
		return;
	}
	qpair->state = USK_NVMF_QPAIR_ERROR; /* drained: never come back here */
	if (qpair->ctrlr) {
		/* the controller may be freed once the qpair is gone: stop counting against it */
		nvmf_qpair_data_wait_detach(qpair);
		nvmf_ctrlr_qpair_gone(qpair, qpair_destroy_finish, qpair);
	} else {
		qpair_destroy_finish(qpair);
	}
}

static void
qpair_abort_queued(struct usk_nvmf_qpair *qpair)
{
	struct nvmf_sgroup *sgroup = nvmf_qpair_sgroup(qpair);
	struct usk_nvmf_request *req, *tmp;

	if (sgroup == NULL) {
		return;
	}
	TAILQ_FOREACH_SAFE(req, &sgroup->queued, link, tmp) {
		if (req->qpair == qpair) {
			TAILQ_REMOVE(&sgroup->queued, req, link);
			nvmf_req_set_status(req, USK_NVME_SCT_GENERIC,
					    USK_NVME_SC_ABORTED_SQ_DELETION);
			usk_nvmf_request_complete(req);
		}
	}
}

int
usk_nvmf_qpair_disconnect(struct usk_nvmf_qpair *qpair)
{
	if (qpair->disconnect_started) {
		return -EINPROGRESS;
	}
	qpair->disconnect_started = true;
	qpair->state = USK_NVMF_QPAIR_DEACTIVATING;
	if (qpair->group == NULL) {
		/* Not placed yet (cannot happen once poll_group_add succeeded). */
		qpair->transport->ops->qpair_fini(qpair, NULL, NULL);
		return 0;
	}
	qpair_abort_queued(qpair);
	if (qpair->ctrlr && qpair->ctrlr->admin_qpair == qpair) {
		qpair->ctrlr->disconnecting = true;
		nvmf_ctrlr_free_aers(qpair->ctrlr);
		usk_poller_unregister(&qpair->ctrlr->keep_alive_poller);
	}
	qpair_check_drained(qpair);
	return 0;
}

/* ---- requests ---- */

void
nvmf_sgroup_request_done(struct nvmf_sgroup *sgroup)
{
	struct usk_io_channel_iter *iter;

	sgroup->io_outstanding--;
	if (sgroup->io_outstanding == 0 && sgroup->state == USK_NVMF_SUBSYSTEM_PAUSING &&
	    sgroup->pause_iter) {
		sgroup->state = USK_NVMF_SUBSYSTEM_PAUSED;
		iter = sgroup->pause_iter;
		sgroup->pause_iter = NULL;
		usk_for_each_channel_continue(iter, 0);
	}
}

void
nvmf_req_set_status(struct usk_nvmf_request *req, uint8_t sct, uint8_t sc)
{
	req->rsp->nvme_cpl.status.sct = sct & 7;
	req->rsp->nvme_cpl.status.sc = sc;
	/* Conditions that go away by themselves may be retried by the host. */
	req->rsp->nvme_cpl.status.dnr =
		(sct != USK_NVME_SCT_GENERIC || sc != USK_NVME_SC_SUCCESS) &&
		!(sct == USK_NVME_SCT_GENERIC &&
		  (sc == USK_NVME_SC_NAMESPACE_NOT_READY || sc == USK_NVME_SC_COMMAND_INTERRUPTED ||
		   sc == USK_NVME_SC_TRANSIENT_TRANSPORT_ERROR));
}

int
usk_nvmf_request_complete(struct usk_nvmf_request *req)
{
	struct usk_nvmf_qpair *qpair = req->qpair;
	struct usk_nvme_cpl *rsp = &req->rsp->nvme_cpl;
	struct nvmf_sgroup *sgroup = NULL;
	uint32_t flags = req->core_flags;

	rsp->cid = req->cmd->nvme_cmd.cid;
	rsp->sqid = qpair->qid;
	if (qpair->sq_head_max) {
		qpair->sq_head = qpair->sq_head == qpair->sq_head_max ? 0 : qpair->sq_head + 1;
	}
	rsp->sqhd = qpair->sq_head;
	if (flags & NVMF_REQ_OUTSTANDING) {
		TAILQ_REMOVE(&qpair->outstanding, req, link);
	}
	if (flags & NVMF_REQ_COUNTED) {
		sgroup = nvmf_qpair_sgroup(qpair);
	}
	req->core_flags = 0;
	if (qpair->qid != 0 && qpair->group) {
		qpair->group->stat.completed_nvme_io++;
	}
	qpair->transport->ops->req_complete(req);
	/* req belongs to the transport again. */
	if (sgroup) {
		nvmf_sgroup_request_done(sgroup);
	}
	if (qpair->state == USK_NVMF_QPAIR_DEACTIVATING) {
		qpair_check_drained(qpair);
	}
	return 0;
}

enum usk_nvme_data_transfer
usk_nvmf_req_get_xfer(struct usk_nvmf_request *req)
{
	const struct usk_nvme_cmd *cmd = &req->cmd->nvme_cmd;
	enum usk_nvme_data_transfer xfer;

	if (cmd->opc == USK_NVME_OPC_FABRIC) {
		xfer = usk_nvme_opc_get_data_transfer(req->cmd->nvmf_cmd.fctype);
	} else {
		xfer = usk_nvme_opc_get_data_transfer(cmd->opc);
	}
	if (xfer == USK_NVME_DATA_NONE) {
		return xfer;
	}
	/* A zero-length SGL means no data. */
	switch (cmd->dptr.sgl1.generic.type) {
	case USK_NVME_SGL_TYPE_DATA_BLOCK:
	case USK_NVME_SGL_TYPE_LAST_SEGMENT:
	case USK_NVME_SGL_TYPE_SEGMENT:
	case USK_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK:
		if (cmd->dptr.sgl1.unkeyed.length == 0) {
			return USK_NVME_DATA_NONE;
		}
		break;
	case USK_NVME_SGL_TYPE_KEYED_DATA_BLOCK:
		if (cmd->dptr.sgl1.keyed.length == 0) {
			return USK_NVME_DATA_NONE;
		}
		break;
	default:
		break;
	}
	return xfer;
}

static void
request_exec_in_group(struct usk_nvmf_request *req, struct nvmf_sgroup *sgroup)
{
	struct usk_nvmf_qpair *qpair = req->qpair;
	int rc;

	TAILQ_INSERT_TAIL(&qpair->outstanding, req, link);
	req->core_flags = NVMF_REQ_OUTSTANDING | NVMF_REQ_COUNTED;
	sgroup->io_outstanding++;
	if (usk_nvmf_qpair_is_admin_queue(qpair)) {
		rc = nvmf_ctrlr_process_admin_cmd(req);
	} else {
		rc = nvmf_ctrlr_process_io_cmd(req);
	}
	if (rc == NVMF_REQ_EXEC_COMPLETE) {
		usk_nvmf_request_complete(req);
	}
}

void
usk_nvmf_request_exec(struct usk_nvmf_request *req)
{
	struct usk_nvmf_qpair *qpair = req->qpair;
	struct nvmf_sgroup *sgroup;
	int rc;

	memset(&req->rsp->nvme_cpl, 0, sizeof(req->rsp->nvme_cpl));
	req->core_flags = 0;
	req->core_count = 0;
	req->core_status = 0;
	if (usk_unlikely(qpair->state == USK_NVMF_QPAIR_DEACTIVATING ||
			 qpair->state == USK_NVMF_QPAIR_ERROR)) {
		nvmf_req_set_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_ABORTED_SQ_DELETION);
		usk_nvmf_request_complete(req);
		return;
	}
	if (usk_unlikely(req->cmd->nvmf_cmd.opcode == USK_NVME_OPC_FABRIC)) {
		TAILQ_INSERT_TAIL(&qpair->outstanding, req, link);
		req->core_flags = NVMF_REQ_OUTSTANDING;
		rc = nvmf_ctrlr_process_fabrics_cmd(req);
		if (rc == NVMF_REQ_EXEC_COMPLETE) {
			usk_nvmf_request_complete(req);
		}
		return;
	}
	if (usk_unlikely(qpair->ctrlr == NULL || qpair->state != USK_NVMF_QPAIR_ENABLED)) {
		nvmf_req_set_status(req, USK_NVME_SCT_GENERIC, USK_NVME_SC_COMMAND_SEQUENCE_ERROR);
		usk_nvmf_request_complete(req);
		return;
	}
	sgroup = nvmf_qpair_sgroup(qpair);
	if (usk_unlikely(sgroup->state != USK_NVMF_SUBSYSTEM_ACTIVE)) {
		if (sgroup->state == USK_NVMF_SUBSYSTEM_INACTIVE) {
			/* Subsystem stopping: its qpairs are being disconnected. */
			nvmf_req_set_status(req, USK_NVME_SCT_GENERIC,
					    USK_NVME_SC_NAMESPACE_NOT_READY);
			usk_nvmf_request_complete(req);
			return;
		}
		/* Paused (namespace or state change in progress): run it on resume. */
		TAILQ_INSERT_TAIL(&sgroup->queued, req, link);
		return;
	}
	request_exec_in_group(req, sgroup);
}

void
nvmf_sgroup_run_queued(struct nvmf_sgroup *sgroup)
{
	struct usk_nvmf_request *req;

	while (sgroup->state == USK_NVMF_SUBSYSTEM_ACTIVE &&
	       (req = TAILQ_FIRST(&sgroup->queued)) != NULL) {
		TAILQ_REMOVE(&sgroup->queued, req, link);
		request_exec_in_group(req, sgroup);
	}
}

void
nvmf_qpair_set_ctrlr_done(struct usk_nvmf_qpair *qpair)
{
	struct usk_nvmf_poll_group *group = qpair->group;

	if (usk_nvmf_qpair_is_admin_queue(qpair)) {
		group->stat.admin_qpairs++;
		group->stat.current_admin_qpairs++;
	} else {
		group->stat.io_qpairs++;
		group->stat.current_io_qpairs++;
	}
}
