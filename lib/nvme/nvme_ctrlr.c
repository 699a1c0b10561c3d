/* SPDX-License-Identifier: BSD-3-Clause */
/* Controller: init state machine, admin polling, keep-alive, AER, reset, shutdown. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "nvme_internal.h"

/* Host NQN and host ID generated once per process unless the caller sets its own. */
static pthread_once_t g_hostid_once = PTHREAD_ONCE_INIT;
static uint8_t g_default_hostid[16];
static char g_default_hostnqn[USK_NVME_NQN_FIELD_SIZE];

static void
hostid_init(void)
{
	char str[37];

	uuid_generate(g_default_hostid);
	uuid_unparse_lower(g_default_hostid, str);
	snprintf(g_default_hostnqn, sizeof(g_default_hostnqn), "%s%s", USK_NVMF_NQN_UUID_PRE, str);
}

void
usk_nvme_ctrlr_get_default_ctrlr_opts(struct usk_nvme_ctrlr_opts *opts, size_t opts_size)
{
	struct usk_nvme_ctrlr_opts d = {0};

	pthread_once(&g_hostid_once, hostid_init);
	d.opts_size = opts_size;
	d.num_io_queues = 1024;
	d.io_queue_size = 256;
	d.io_queue_requests = 512;
	d.admin_queue_size = 32;
	d.keep_alive_timeout_ms = 10000;
	d.admin_timeout_ms = 30000;
	snprintf(d.hostnqn, sizeof(d.hostnqn), "%s", g_default_hostnqn);
	memcpy(d.extended_host_id, g_default_hostid, sizeof(d.extended_host_id));
	d.transport_connect_timeout_ms = 10000;
	d.arb_burst = 7;
	memcpy(opts, &d, USK_MIN(opts_size, sizeof(d)));
}

const char *
nvme_ctrlr_state_string(enum nvme_ctrlr_state state)
{
	static const char *const names[] = {
		[NVME_CTRLR_STATE_INIT_DELAY] = "delay init",
		[NVME_CTRLR_STATE_CONNECT_ADMINQ] = "connect adminq",
		[NVME_CTRLR_STATE_WAIT_FOR_CONNECT_ADMINQ] = "wait for connect adminq",
		[NVME_CTRLR_STATE_READ_VS] = "read vs",
		[NVME_CTRLR_STATE_READ_VS_WAIT_FOR_VS] = "read vs wait for vs",
		[NVME_CTRLR_STATE_READ_CAP] = "read cap",
		[NVME_CTRLR_STATE_READ_CAP_WAIT_FOR_CAP] = "read cap wait for cap",
		[NVME_CTRLR_STATE_CHECK_EN] = "check en",
		[NVME_CTRLR_STATE_CHECK_EN_WAIT_FOR_CC] = "check en wait for cc",
		[NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_1] = "disable and wait for CSTS.RDY = 1",
		[NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_1_WAIT_FOR_CSTS] =
			"disable and wait for CSTS.RDY = 1 reg",
		[NVME_CTRLR_STATE_SET_EN_0] = "set CC.EN = 0",
		[NVME_CTRLR_STATE_SET_EN_0_WAIT_FOR_CC] = "set CC.EN = 0 wait for cc",
		[NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0] = "disable and wait for CSTS.RDY = 0",
		[NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0_WAIT_FOR_CSTS] =
			"disable and wait for CSTS.RDY = 0 reg",
		[NVME_CTRLR_STATE_DISABLED] = "controller is disabled",
		[NVME_CTRLR_STATE_ENABLE] = "enable controller by writing CC.EN = 1",
		[NVME_CTRLR_STATE_ENABLE_WAIT_FOR_CC] =
			"enable controller by writing CC.EN = 1 reg",
		[NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1] = "wait for CSTS.RDY = 1",
		[NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1_WAIT_FOR_CSTS] =
			"wait for CSTS.RDY = 1 reg",
		[NVME_CTRLR_STATE_RESET_ADMIN_QUEUE] = "reset admin queue",
		[NVME_CTRLR_STATE_IDENTIFY] = "identify controller",
		[NVME_CTRLR_STATE_WAIT_FOR_IDENTIFY] = "wait for identify controller",
		[NVME_CTRLR_STATE_CONFIGURE_AER] = "configure AER",
		[NVME_CTRLR_STATE_WAIT_FOR_CONFIGURE_AER] = "wait for configure aer",
		[NVME_CTRLR_STATE_SET_KEEP_ALIVE_TIMEOUT] = "set keep alive timeout",
		[NVME_CTRLR_STATE_WAIT_FOR_KEEP_ALIVE_TIMEOUT] = "wait for set keep alive timeout",
		[NVME_CTRLR_STATE_SET_NUM_QUEUES] = "set number of queues",
		[NVME_CTRLR_STATE_WAIT_FOR_SET_NUM_QUEUES] = "wait for set number of queues",
		[NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS] = "identify active ns",
		[NVME_CTRLR_STATE_WAIT_FOR_IDENTIFY_ACTIVE_NS] = "wait for identify active ns",
		[NVME_CTRLR_STATE_IDENTIFY_NS] = "identify ns",
		[NVME_CTRLR_STATE_WAIT_FOR_IDENTIFY_NS] = "wait for identify ns",
		[NVME_CTRLR_STATE_IDENTIFY_ID_DESCS] = "identify namespace id descriptors",
		[NVME_CTRLR_STATE_WAIT_FOR_IDENTIFY_ID_DESCS] =
			"wait for identify namespace id descriptors",
		[NVME_CTRLR_STATE_SET_SUPPORTED_LOG_PAGES] = "set supported log pages",
		[NVME_CTRLR_STATE_SET_SUPPORTED_FEATURES] = "set supported features",
		[NVME_CTRLR_STATE_SET_DB_BUF_CFG] = "set doorbell buffer config",
		[NVME_CTRLR_STATE_WAIT_FOR_DB_BUF_CFG] = "wait for doorbell buffer config",
		[NVME_CTRLR_STATE_SET_HOST_ID] = "set host ID",
		[NVME_CTRLR_STATE_WAIT_FOR_HOST_ID] = "wait for set host ID",
		[NVME_CTRLR_STATE_TRANSPORT_READY] = "transport ready",
		[NVME_CTRLR_STATE_READY] = "ready",
		[NVME_CTRLR_STATE_ERROR] = "error",
		[NVME_CTRLR_STATE_DISCONNECTED] = "disconnected",
	};

	if ((size_t)state < USK_COUNTOF(names) && names[state] != NULL) {
		return names[state];
	}
	return "unknown";
}

int
nvme_ctrlr_construct(struct usk_nvme_ctrlr *ctrlr, const struct usk_nvme_transport_id *trid,
		     const struct usk_nvme_ctrlr_opts *opts)
{
	pthread_mutexattr_t attr;

	ctrlr->trid = *trid;
	usk_nvme_ctrlr_get_default_ctrlr_opts(&ctrlr->opts, sizeof(ctrlr->opts));
	if (opts != NULL) {
		memcpy(&ctrlr->opts, opts,
		       USK_MIN(opts->opts_size ? opts->opts_size : sizeof(*opts),
			       sizeof(ctrlr->opts)));
		ctrlr->opts.opts_size = sizeof(ctrlr->opts);
	}
	if (ctrlr->opts.admin_queue_size < USK_NVME_ADMIN_QUEUE_MIN_ENTRIES) {
		ctrlr->opts.admin_queue_size = USK_NVME_ADMIN_QUEUE_MIN_ENTRIES;
	}
	if (ctrlr->transport == NULL) {
		ctrlr->transport = nvme_get_transport(trid);
	}
	if (trid->trtype == USK_NVME_TRANSPORT_PCIE) {
		snprintf(ctrlr->log_name, sizeof(ctrlr->log_name), "PCIe %.200s", trid->traddr);
	} else {
		snprintf(ctrlr->log_name, sizeof(ctrlr->log_name), "%.16s %.200s:%.32s",
			 trid->trstring, trid->traddr, trid->trsvcid);
	}
	if (pthread_mutexattr_init(&attr) != 0) {
		return -ENOMEM;
	}
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&ctrlr->ctrlr_lock, &attr);
	pthread_mutexattr_destroy(&attr);
	TAILQ_INIT(&ctrlr->active_io_qpairs);
	ctrlr->state = NVME_CTRLR_STATE_INIT_DELAY;
	ctrlr->state_timeout_tsc = NVME_TIMEOUT_INFINITE;
	ctrlr->cntlid = 0xffff;
	ctrlr->page_size = NVME_HOST_PAGE_SIZE;
	ctrlr->min_page_size = NVME_HOST_PAGE_SIZE;
	return 0;
}

void
nvme_ctrlr_destruct_base(struct usk_nvme_ctrlr *ctrlr)
{
	free(ctrlr->ns);
	ctrlr->ns = NULL;
	free(ctrlr->active_ns_list);
	ctrlr->active_ns_list = NULL;
	free(ctrlr->free_io_qids);
	ctrlr->free_io_qids = NULL;
	pthread_mutex_destroy(&ctrlr->ctrlr_lock);
}

void
nvme_ctrlr_fail(struct usk_nvme_ctrlr *ctrlr, bool hot_remove)
{
	bool newly_removed = hot_remove && !ctrlr->is_removed;

	if (hot_remove) {
		ctrlr->is_removed = true;
	}
	if (!ctrlr->is_failed) {
		NVME_CTRLR_ERRLOG(ctrlr, "controller failed%s\n", hot_remove ? " (removed)" : "");
		/* Pairs with the relaxed loads in the I/O path: a late reader notices one poll
		 * later. */
		__atomic_store_n(&ctrlr->is_failed, true, __ATOMIC_RELEASE);
	}
	/*
	 * A removed controller will not come back (a failed one may be reset): tell the probe's
	 * remove callback, once, whichever transport noticed. The callback must not detach the
	 * controller from inside (it may mark it and detach once the poll returns).
	 */
	if (newly_removed && ctrlr->remove_cb != NULL) {
		ctrlr->remove_cb(ctrlr->remove_cb_ctx, ctrlr);
	}
}

void
usk_nvme_ctrlr_fail(struct usk_nvme_ctrlr *ctrlr)
{
	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	nvme_ctrlr_fail(ctrlr, false);
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
}

/* ---- register access: the async op if the transport has one, else the sync one ---- */

static int
reg_get_4(struct usk_nvme_ctrlr *ctrlr, uint32_t off, nvme_reg_cb cb, void *arg)
{
	const struct usk_nvme_transport_ops *t = ctrlr->transport;
	struct usk_nvme_cpl cpl = {0};
	uint32_t v;
	int rc;

	if (t->ctrlr_get_reg_4_async != NULL) {
		return t->ctrlr_get_reg_4_async(ctrlr, off, cb, arg);
	}
	rc = t->ctrlr_get_reg_4(ctrlr, off, &v);
	if (rc == 0) {
		cb(arg, v, &cpl);
	}
	return rc;
}

static int
reg_get_8(struct usk_nvme_ctrlr *ctrlr, uint32_t off, nvme_reg_cb cb, void *arg)
{
	const struct usk_nvme_transport_ops *t = ctrlr->transport;
	struct usk_nvme_cpl cpl = {0};
	uint64_t v;
	int rc;

	if (t->ctrlr_get_reg_8_async != NULL) {
		return t->ctrlr_get_reg_8_async(ctrlr, off, cb, arg);
	}
	rc = t->ctrlr_get_reg_8(ctrlr, off, &v);
	if (rc == 0) {
		cb(arg, v, &cpl);
	}
	return rc;
}

static int
reg_set_4(struct usk_nvme_ctrlr *ctrlr, uint32_t off, uint32_t value, nvme_reg_cb cb, void *arg)
{
	const struct usk_nvme_transport_ops *t = ctrlr->transport;
	struct usk_nvme_cpl cpl = {0};
	int rc;

	if (t->ctrlr_set_reg_4_async != NULL) {
		return t->ctrlr_set_reg_4_async(ctrlr, off, value, cb, arg);
	}
	rc = t->ctrlr_set_reg_4(ctrlr, off, value);
	if (rc == 0) {
		cb(arg, value, &cpl);
	}
	return rc;
}

/* ---- init state machine ---- */

static void
set_state(struct usk_nvme_ctrlr *ctrlr, enum nvme_ctrlr_state state, uint64_t timeout_ms)
{
	NVME_CTRLR_DEBUGLOG(ctrlr, "setting state to %s (timeout %" PRIu64 " ms)\n",
			    nvme_ctrlr_state_string(state), timeout_ms);
	ctrlr->state = state;
	ctrlr->state_timeout_tsc = nvme_ticks_after_ms(timeout_ms);
}

/* Timeout of register waits: CAP.TO in 500 ms units (the spec's worst case for CSTS.RDY). */
static uint64_t
ready_timeout_ms(struct usk_nvme_ctrlr *ctrlr)
{
	uint64_t to = (uint64_t)ctrlr->cap.bits.to * 500;

	return to ? to : 500;
}

static uint64_t
admin_timeout_ms(struct usk_nvme_ctrlr *ctrlr)
{
	return ctrlr->opts.admin_timeout_ms;
}

static void
init_fail(struct usk_nvme_ctrlr *ctrlr, int err, const char *what, const struct usk_nvme_cpl *cpl)
{
	if (cpl != NULL) {
		NVME_CTRLR_ERRLOG(ctrlr, "%s failed: %s (sct 0x%x sc 0x%x)\n", what,
				  usk_nvme_cpl_get_status_string(&cpl->status), cpl->status.sct,
				  cpl->status.sc);
	} else {
		NVME_CTRLR_ERRLOG(ctrlr, "%s failed: %s\n", what, strerror(-err));
	}
	ctrlr->init_error = err;
	set_state(ctrlr, NVME_CTRLR_STATE_ERROR, 0);
}

static void
read_vs_done(void *arg, uint64_t value, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;

	if (usk_nvme_cpl_is_error(cpl)) {
		init_fail(ctrlr, -EIO, "reading VS", cpl);
		return;
	}
	ctrlr->vs.raw = (uint32_t)value;
	set_state(ctrlr, NVME_CTRLR_STATE_READ_CAP, admin_timeout_ms(ctrlr));
}

static void
read_cap_done(void *arg, uint64_t value, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;

	if (usk_nvme_cpl_is_error(cpl)) {
		init_fail(ctrlr, -EIO, "reading CAP", cpl);
		return;
	}
	ctrlr->cap.raw = value;
	ctrlr->min_page_size = 1u << (12 + ctrlr->cap.bits.mpsmin);
	/* Host pages are 4 KiB; a controller whose minimum is larger gets its minimum. */
	ctrlr->page_size = USK_MAX(ctrlr->min_page_size, NVME_HOST_PAGE_SIZE);
	if (ctrlr->opts.io_queue_size > (uint32_t)ctrlr->cap.bits.mqes + 1) {
		ctrlr->opts.io_queue_size = (uint32_t)ctrlr->cap.bits.mqes + 1;
	}
	if (ctrlr->opts.io_queue_requests < ctrlr->opts.io_queue_size) {
		ctrlr->opts.io_queue_requests = ctrlr->opts.io_queue_size;
	}
	set_state(ctrlr, NVME_CTRLR_STATE_CHECK_EN, ready_timeout_ms(ctrlr));
}

static void
check_en_done(void *arg, uint64_t value, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;

	if (usk_nvme_cpl_is_error(cpl)) {
		init_fail(ctrlr, -EIO, "reading CC", cpl);
		return;
	}
	ctrlr->cc.raw = (uint32_t)value;
	if (ctrlr->cc.bits.en) {
		/* Enabled: wait for RDY = 1 before clearing EN (clearing EN while RDY = 0 is
		 * undefined). */
		set_state(ctrlr, NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_1,
			  ready_timeout_ms(ctrlr));
	} else {
		set_state(ctrlr, NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0,
			  ready_timeout_ms(ctrlr));
	}
}

static void
csts_ready1_before_disable(void *arg, uint64_t value, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;

	if (usk_nvme_cpl_is_error(cpl)) {
		init_fail(ctrlr, -EIO, "reading CSTS", cpl);
		return;
	}
	ctrlr->csts.raw = (uint32_t)value;
	if (ctrlr->csts.bits.rdy || ctrlr->csts.bits.cfs) {
		set_state(ctrlr, NVME_CTRLR_STATE_SET_EN_0, ready_timeout_ms(ctrlr));
	} else {
		/* Poll again, keeping the deadline. */
		ctrlr->state = NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_1;
	}
}

static void
set_en_0_done(void *arg, uint64_t value, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;

	if (usk_nvme_cpl_is_error(cpl)) {
		init_fail(ctrlr, -EIO, "writing CC.EN = 0", cpl);
		return;
	}
	set_state(ctrlr, NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0, ready_timeout_ms(ctrlr));
}

static void
csts_ready0(void *arg, uint64_t value, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;

	if (usk_nvme_cpl_is_error(cpl)) {
		init_fail(ctrlr, -EIO, "reading CSTS", cpl);
		return;
	}
	ctrlr->csts.raw = (uint32_t)value;
	if (!ctrlr->csts.bits.rdy) {
		set_state(ctrlr, NVME_CTRLR_STATE_DISABLED, ready_timeout_ms(ctrlr));
	} else {
		ctrlr->state = NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0;
	}
}

static void
enable_done(void *arg, uint64_t value, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;

	if (usk_nvme_cpl_is_error(cpl)) {
		init_fail(ctrlr, -EIO, "writing CC.EN = 1", cpl);
		return;
	}
	set_state(ctrlr, NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1, ready_timeout_ms(ctrlr));
}

static void
csts_ready1(void *arg, uint64_t value, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;

	if (usk_nvme_cpl_is_error(cpl)) {
		init_fail(ctrlr, -EIO, "reading CSTS", cpl);
		return;
	}
	ctrlr->csts.raw = (uint32_t)value;
	if (ctrlr->csts.bits.cfs) {
		init_fail(ctrlr, -EIO, "enable (CSTS.CFS set)", NULL);
	} else if (ctrlr->csts.bits.rdy) {
		set_state(ctrlr, NVME_CTRLR_STATE_RESET_ADMIN_QUEUE, admin_timeout_ms(ctrlr));
	} else {
		ctrlr->state = NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1;
	}
}

static int
ctrlr_enable(struct usk_nvme_ctrlr *ctrlr)
{
	union usk_nvme_cc_register cc = {.raw = 0};
	int rc;

	if (ctrlr->transport->ctrlr_enable != NULL) {
		rc = ctrlr->transport->ctrlr_enable(ctrlr);
		if (rc != 0) {
			return rc;
		}
	}
	cc.bits.en = 1;
	cc.bits.css = 0; /* NVM command set */
	cc.bits.shn = 0;
	cc.bits.iosqes = 6; /* 64-byte SQEs */
	cc.bits.iocqes = 4; /* 16-byte CQEs */
	cc.bits.mps = usk_u32log2(ctrlr->page_size) - 12;
	cc.bits.ams = 0; /* round robin */
	ctrlr->cc = cc;
	return reg_set_4(ctrlr, USK_NVME_REG_CC, cc.raw, enable_done, ctrlr);
}

/* Admin command of an init state, with its data bounced through DMA memory. */
static int
init_admin_cmd(struct usk_nvme_ctrlr *ctrlr, const struct usk_nvme_cmd *cmd, void *buf,
	       uint32_t len, usk_nvme_cmd_cb cb)
{
	return usk_nvme_ctrlr_cmd_admin_raw(ctrlr, cmd, buf, len, cb, ctrlr);
}

static void
identify_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;
	uint32_t max = ctrlr->transport->ctrlr_get_max_xfer_size ?
			       ctrlr->transport->ctrlr_get_max_xfer_size(ctrlr) :
			       NVME_MAX_XFER_SIZE_DEFAULT;

	if (usk_nvme_cpl_is_error(cpl)) {
		init_fail(ctrlr, -EIO, "Identify Controller", cpl);
		return;
	}
	if (ctrlr->cdata.mdts > 0) {
		uint64_t mdts = (uint64_t)ctrlr->min_page_size << ctrlr->cdata.mdts;

		max = (uint32_t)USK_MIN((uint64_t)max, mdts);
	}
	ctrlr->max_xfer_size = max;
	if (ctrlr->trid.trtype == USK_NVME_TRANSPORT_PCIE) {
		ctrlr->cntlid = ctrlr->cdata.cntlid;
	}
	ctrlr->max_sges = ctrlr->transport->ctrlr_get_max_sges ?
				  ctrlr->transport->ctrlr_get_max_sges(ctrlr) :
				  1;
	NVME_CTRLR_DEBUGLOG(ctrlr, "MDTS max_xfer_size %u, cntlid 0x%04x\n", max, ctrlr->cntlid);
	set_state(ctrlr, NVME_CTRLR_STATE_CONFIGURE_AER, admin_timeout_ms(ctrlr));
}

static void aer_submit(struct usk_nvme_ctrlr *ctrlr);

static void
aer_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;
	union usk_nvme_async_event_completion ev;

	ctrlr->num_aers--;
	if (usk_nvme_cpl_is_abort(cpl) || ctrlr->is_failed || ctrlr->is_resetting) {
		/* Aborted by a reset/detach: init posts fresh ones. */
		return;
	}
	if (usk_nvme_cpl_is_error(cpl)) {
		/* AER limit exceeded or unsupported: keep the ones we have. */
		NVME_CTRLR_NOTICELOG(ctrlr, "AER completed with %s\n",
				     usk_nvme_cpl_get_status_string(&cpl->status));
		return;
	}
	ev.raw = cpl->cdw0;
	if (ev.bits.async_event_type == USK_NVME_ASYNC_EVENT_TYPE_NOTICE &&
	    ev.bits.async_event_info == USK_NVME_ASYNC_EVENT_NS_ATTR_CHANGED &&
	    nvme_ctrlr_ns_rescan_start(ctrlr, cpl) == 0) {
		/* The AER callback runs once the namespaces are up to date. */
	} else if (ctrlr->aer_cb_fn != NULL) {
		ctrlr->aer_cb_fn(ctrlr->aer_cb_arg, cpl);
	}
	aer_submit(ctrlr);
}

static void
aer_submit(struct usk_nvme_ctrlr *ctrlr)
{
	uint32_t limit = USK_MIN((uint32_t)ctrlr->cdata.aerl + 1, (uint32_t)NVME_MAX_ASYNC_EVENTS);

	while (ctrlr->num_aers < limit) {
		struct nvme_request *req =
			nvme_allocate_request_null(ctrlr->adminq, aer_done, ctrlr);

		if (req == NULL) {
			return;
		}
		req->cmd.opc = USK_NVME_OPC_ASYNC_EVENT_REQUEST;
		ctrlr->num_aers++;
		if (nvme_qpair_submit_request(ctrlr->adminq, req) != 0) {
			ctrlr->num_aers--;
			return;
		}
	}
}

static void
configure_aer_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;

	if (usk_nvme_cpl_is_error(cpl)) {
		NVME_CTRLR_NOTICELOG(ctrlr,
				     "Set Features - Async Event Configuration failed: %s; "
				     "continuing without AERs\n",
				     usk_nvme_cpl_get_status_string(&cpl->status));
	} else {
		aer_submit(ctrlr);
	}
	set_state(ctrlr, NVME_CTRLR_STATE_SET_KEEP_ALIVE_TIMEOUT, admin_timeout_ms(ctrlr));
}

static void
configure_aer(struct usk_nvme_ctrlr *ctrlr)
{
	union usk_nvme_async_event_config cfg = {.raw = 0};
	struct usk_nvme_cmd cmd = {0};

	if (ctrlr->opts.is_discovery || ctrlr->cdata.oaes == 0) {
		cfg.bits.crit_warn = ctrlr->opts.is_discovery ? 0 : 0xff;
	} else {
		cfg.bits.crit_warn = 0xff;
	}
	if (ctrlr->cdata.oaes & USK_NVME_OAES_NS_ATTR) {
		cfg.bits.ns_attr_notice = 1;
	}
	if (ctrlr->cdata.oaes & USK_NVME_OAES_FW_ACTIVATION) {
		cfg.bits.fw_activation_notice = 1;
	}
	if (ctrlr->cdata.oaes & USK_NVME_OAES_DISCOVERY_LOG_CHANGE) {
		cfg.bits.discovery_log_change_notice = 1;
	}
	cmd.opc = USK_NVME_OPC_SET_FEATURES;
	cmd.cdw10 = USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION;
	cmd.cdw11 = cfg.raw;
	set_state(ctrlr, NVME_CTRLR_STATE_WAIT_FOR_CONFIGURE_AER, admin_timeout_ms(ctrlr));
	if (init_admin_cmd(ctrlr, &cmd, NULL, 0, configure_aer_done) != 0) {
		init_fail(ctrlr, -ENOMEM, "submitting Set Features - AER", NULL);
	}
}

static void
keep_alive_timeout_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;
	uint32_t kato = ctrlr->opts.keep_alive_timeout_ms;

	if (!usk_nvme_cpl_is_error(cpl)) {
		if (cpl->cdw0 != kato) {
			NVME_CTRLR_NOTICELOG(ctrlr,
					     "controller adjusted keep alive timeout to %u ms\n",
					     cpl->cdw0);
		}
		kato = cpl->cdw0;
	} else if (ctrlr->trid.trtype == USK_NVME_TRANSPORT_PCIE) {
		/* A PCIe controller that cannot keep a timer: no keep-alive. */
		kato = 0;
	}
	ctrlr->opts.keep_alive_timeout_ms = kato;
	if (kato != 0) {
		ctrlr->keep_alive_interval_ticks =
			(uint64_t)kato * usk_get_ticks_hz() / 1000 / NVME_KEEP_ALIVE_DIVISOR;
		if (ctrlr->keep_alive_interval_ticks == 0) {
			ctrlr->keep_alive_interval_ticks = 1;
		}
		ctrlr->next_keep_alive_tick = usk_get_ticks() + ctrlr->keep_alive_interval_ticks;
	} else {
		ctrlr->keep_alive_interval_ticks = 0;
	}
	set_state(ctrlr, NVME_CTRLR_STATE_SET_NUM_QUEUES, admin_timeout_ms(ctrlr));
}

static void
set_keep_alive_timeout(struct usk_nvme_ctrlr *ctrlr)
{
	struct usk_nvme_cmd cmd = {0};
	bool fabrics = ctrlr->trid.trtype != USK_NVME_TRANSPORT_PCIE;

	if (ctrlr->opts.keep_alive_timeout_ms == 0 || (!fabrics && ctrlr->cdata.kas == 0)) {
		ctrlr->opts.keep_alive_timeout_ms = 0;
		ctrlr->keep_alive_interval_ticks = 0;
		set_state(ctrlr, NVME_CTRLR_STATE_SET_NUM_QUEUES, admin_timeout_ms(ctrlr));
		return;
	}
	if (fabrics) {
		/* KATO went in the Connect command; read back what the controller uses. */
		cmd.opc = USK_NVME_OPC_GET_FEATURES;
		cmd.cdw10 = USK_NVME_FEAT_KEEP_ALIVE_TIMER;
	} else {
		cmd.opc = USK_NVME_OPC_SET_FEATURES;
		cmd.cdw10 = USK_NVME_FEAT_KEEP_ALIVE_TIMER;
		cmd.cdw11 = ctrlr->opts.keep_alive_timeout_ms;
	}
	set_state(ctrlr, NVME_CTRLR_STATE_WAIT_FOR_KEEP_ALIVE_TIMEOUT, admin_timeout_ms(ctrlr));
	if (init_admin_cmd(ctrlr, &cmd, NULL, 0, keep_alive_timeout_done) != 0) {
		init_fail(ctrlr, -ENOMEM, "submitting keep alive timer feature", NULL);
	}
}

static void
set_num_queues_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;
	uint32_t nsq, ncq, n;

	if (usk_nvme_cpl_is_error(cpl)) {
		NVME_CTRLR_NOTICELOG(ctrlr,
				     "Set Features - Number of Queues failed: %s; using %u\n",
				     usk_nvme_cpl_get_status_string(&cpl->status),
				     ctrlr->opts.num_io_queues);
		n = ctrlr->opts.num_io_queues;
	} else {
		nsq = (cpl->cdw0 & 0xffff) + 1;
		ncq = (cpl->cdw0 >> 16) + 1;
		n = USK_MIN(USK_MIN(nsq, ncq), ctrlr->opts.num_io_queues);
	}
	if (n > USK_NVME_MAX_IO_QUEUES) {
		n = USK_NVME_MAX_IO_QUEUES;
	}
	ctrlr->num_io_queues = n;
	free(ctrlr->free_io_qids);
	ctrlr->free_io_qids_words = (n + 1 + 63) / 64;
	ctrlr->free_io_qids = calloc(ctrlr->free_io_qids_words, sizeof(uint64_t));
	if (ctrlr->free_io_qids == NULL) {
		init_fail(ctrlr, -ENOMEM, "allocating the qid bitmap", NULL);
		return;
	}
	for (uint32_t q = 1; q <= n; q++) {
		ctrlr->free_io_qids[q / 64] |= 1ull << (q % 64);
	}
	/* Reconnected I/O qpairs keep their qids: mark them used again. */
	struct usk_nvme_qpair *qp;
	TAILQ_FOREACH(qp, &ctrlr->active_io_qpairs, tailq) {
		if (qp->id <= n) {
			ctrlr->free_io_qids[qp->id / 64] &= ~(1ull << (qp->id % 64));
		}
	}
	set_state(ctrlr, NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS, admin_timeout_ms(ctrlr));
}

static void
set_num_queues(struct usk_nvme_ctrlr *ctrlr)
{
	struct usk_nvme_cmd cmd = {0};
	uint32_t n = ctrlr->opts.num_io_queues;

	if (n == 0 || ctrlr->opts.is_discovery) {
		ctrlr->num_io_queues = 0;
		set_state(ctrlr, NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS, admin_timeout_ms(ctrlr));
		return;
	}
	if (n > USK_NVME_MAX_IO_QUEUES) {
		n = USK_NVME_MAX_IO_QUEUES;
	}
	cmd.opc = USK_NVME_OPC_SET_FEATURES;
	cmd.cdw10 = USK_NVME_FEAT_NUMBER_OF_QUEUES;
	cmd.cdw11 = (n - 1) | ((n - 1) << 16);
	set_state(ctrlr, NVME_CTRLR_STATE_WAIT_FOR_SET_NUM_QUEUES, admin_timeout_ms(ctrlr));
	if (init_admin_cmd(ctrlr, &cmd, NULL, 0, set_num_queues_done) != 0) {
		init_fail(ctrlr, -ENOMEM, "submitting Set Features - Number of Queues", NULL);
	}
}

/* Active NS list: one 4 KiB page per command (1024 IDs), continued from the last ID seen. */
struct active_ns_ctx {
	struct usk_nvme_ctrlr *ctrlr;
	uint32_t page[USK_NVME_MAX_NS_LIST_ENTRIES];
	uint32_t *list;
	uint32_t count;
	uint32_t cap;
};

static void identify_active_ns_page(struct usk_nvme_ctrlr *ctrlr, struct active_ns_ctx *ctx,
				    uint32_t start);

/*
 * Namespace objects stay where they are across resets (users hold pointers to them): the array
 * is reused when the active IDs still fit, and only reallocated (contents moved) when a larger
 * nsid appears, which only namespace attachment after a rescan can cause.
 */
int
nvme_ctrlr_ns_array_build(struct usk_nvme_ctrlr *ctrlr, uint32_t *list, uint32_t count)
{
	uint32_t want = USK_MAX(count ? list[count - 1] : 0, USK_MIN(ctrlr->num_ns, 1024u));
	struct usk_nvme_ns *ns = ctrlr->ns;

	if (ns == NULL || want > ctrlr->ns_array_size) {
		ns = calloc(want ? want : 1, sizeof(*ns));
		if (ns == NULL) {
			return -ENOMEM;
		}
		if (ctrlr->ns != NULL) {
			memcpy(ns, ctrlr->ns, sizeof(*ns) * ctrlr->ns_array_size);
			free(ctrlr->ns);
		}
		ctrlr->ns = ns;
		ctrlr->ns_array_size = want;
	}
	for (uint32_t i = 0; i < ctrlr->ns_array_size; i++) {
		ns[i].ctrlr = ctrlr;
		ns[i].id = i + 1;
		ns[i].active = false;
	}
	for (uint32_t i = 0; i < count; i++) {
		ns[list[i] - 1].active = true;
	}
	free(ctrlr->active_ns_list);
	ctrlr->active_ns_list = list;
	ctrlr->active_ns_count = count;
	return 0;
}

static void
active_ns_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct active_ns_ctx *ctx = arg;
	struct usk_nvme_ctrlr *ctrlr = ctx->ctrlr;
	uint32_t n = 0, last = 0;

	if (usk_nvme_cpl_is_error(cpl)) {
		init_fail(ctrlr, -EIO, "Identify Active Namespace List", cpl);
		free(ctx->list);
		free(ctx);
		return;
	}
	for (n = 0; n < USK_NVME_MAX_NS_LIST_ENTRIES && ctx->page[n] != 0; n++) {
		uint32_t id = ctx->page[n];

		/* IDs must ascend and stay within NN; a hostile target gets no out-of-range index.
		 */
		if (id <= last || (ctrlr->num_ns != 0 && id > ctrlr->num_ns) || id == 0xffffffffu) {
			NVME_CTRLR_ERRLOG(ctrlr, "active namespace list has bad nsid %u (NN %u)\n",
					  id, ctrlr->num_ns);
			init_fail(ctrlr, -EPROTO, "Identify Active Namespace List", NULL);
			free(ctx->list);
			free(ctx);
			return;
		}
		last = id;
		if (ctx->count == ctx->cap) {
			uint32_t ncap = ctx->cap ? ctx->cap * 2 : 64;
			uint32_t *nl = realloc(ctx->list, ncap * sizeof(uint32_t));

			if (nl == NULL) {
				init_fail(ctrlr, -ENOMEM, "Identify Active Namespace List", NULL);
				free(ctx->list);
				free(ctx);
				return;
			}
			ctx->list = nl;
			ctx->cap = ncap;
		}
		ctx->list[ctx->count++] = id;
	}
	if (n == USK_NVME_MAX_NS_LIST_ENTRIES) {
		identify_active_ns_page(ctrlr, ctx, last);
		return;
	}
	if (nvme_ctrlr_ns_array_build(ctrlr, ctx->list, ctx->count) != 0) {
		free(ctx->list);
		init_fail(ctrlr, -ENOMEM, "allocating namespaces", NULL);
	} else {
		ctrlr->init_ns_idx = 0;
		set_state(ctrlr, NVME_CTRLR_STATE_IDENTIFY_NS, admin_timeout_ms(ctrlr));
	}
	free(ctx);
}

static void
identify_active_ns_page(struct usk_nvme_ctrlr *ctrlr, struct active_ns_ctx *ctx, uint32_t start)
{
	int rc;

	memset(ctx->page, 0, sizeof(ctx->page));
	rc = usk_nvme_ctrlr_cmd_identify(ctrlr, USK_NVME_IDENTIFY_ACTIVE_NS_LIST, 0, start, 0,
					 ctx->page, sizeof(ctx->page), active_ns_done, ctx);
	if (rc != 0) {
		free(ctx->list);
		free(ctx);
		init_fail(ctrlr, rc, "submitting Identify Active Namespace List", NULL);
	}
}

static void
identify_active_ns(struct usk_nvme_ctrlr *ctrlr)
{
	struct active_ns_ctx *ctx;

	ctrlr->num_ns = ctrlr->cdata.nn;
	if (ctrlr->num_ns == 0 || ctrlr->opts.is_discovery) {
		if (nvme_ctrlr_ns_array_build(ctrlr, NULL, 0) != 0) {
			init_fail(ctrlr, -ENOMEM, "allocating namespaces", NULL);
			return;
		}
		set_state(ctrlr, NVME_CTRLR_STATE_SET_SUPPORTED_LOG_PAGES, admin_timeout_ms(ctrlr));
		return;
	}
	if (ctrlr->vs.raw < USK_NVME_VERSION(1, 1, 0)) {
		/* Before 1.1 there is no active list: every ID up to NN is active. */
		uint32_t n = USK_MIN(ctrlr->num_ns, 1024u);
		uint32_t *list = calloc(n, sizeof(uint32_t));

		if (list == NULL) {
			init_fail(ctrlr, -ENOMEM, "allocating namespaces", NULL);
			return;
		}
		for (uint32_t i = 0; i < n; i++) {
			list[i] = i + 1;
		}
		if (nvme_ctrlr_ns_array_build(ctrlr, list, n) != 0) {
			free(list);
			init_fail(ctrlr, -ENOMEM, "allocating namespaces", NULL);
			return;
		}
		ctrlr->init_ns_idx = 0;
		set_state(ctrlr, NVME_CTRLR_STATE_IDENTIFY_NS, admin_timeout_ms(ctrlr));
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		init_fail(ctrlr, -ENOMEM, "allocating namespaces", NULL);
		return;
	}
	ctx->ctrlr = ctrlr;
	set_state(ctrlr, NVME_CTRLR_STATE_WAIT_FOR_IDENTIFY_ACTIVE_NS, admin_timeout_ms(ctrlr));
	identify_active_ns_page(ctrlr, ctx, 0);
}

void nvme_ns_update(struct usk_nvme_ns *ns);
void nvme_ns_parse_id_descs(struct usk_nvme_ns *ns, const uint8_t *buf, size_t len);

static struct usk_nvme_ns *
init_cur_ns(struct usk_nvme_ctrlr *ctrlr)
{
	if (ctrlr->init_ns_idx >= ctrlr->active_ns_count) {
		return NULL;
	}
	return &ctrlr->ns[ctrlr->active_ns_list[ctrlr->init_ns_idx] - 1];
}

static void
identify_ns_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;
	struct usk_nvme_ns *ns = init_cur_ns(ctrlr);

	if (usk_nvme_cpl_is_error(cpl)) {
		init_fail(ctrlr, -EIO, "Identify Namespace", cpl);
		return;
	}
	nvme_ns_update(ns);
	ctrlr->init_ns_idx++;
	if (ctrlr->init_ns_idx < ctrlr->active_ns_count) {
		set_state(ctrlr, NVME_CTRLR_STATE_IDENTIFY_NS, admin_timeout_ms(ctrlr));
	} else {
		ctrlr->init_ns_idx = 0;
		set_state(ctrlr, NVME_CTRLR_STATE_IDENTIFY_ID_DESCS, admin_timeout_ms(ctrlr));
	}
}

static void
identify_ns(struct usk_nvme_ctrlr *ctrlr)
{
	struct usk_nvme_ns *ns = init_cur_ns(ctrlr);
	int rc;

	if (ns == NULL) {
		ctrlr->init_ns_idx = 0;
		set_state(ctrlr, NVME_CTRLR_STATE_IDENTIFY_ID_DESCS, admin_timeout_ms(ctrlr));
		return;
	}
	set_state(ctrlr, NVME_CTRLR_STATE_WAIT_FOR_IDENTIFY_NS, admin_timeout_ms(ctrlr));
	rc = usk_nvme_ctrlr_cmd_identify(ctrlr, USK_NVME_IDENTIFY_NS, 0, ns->id, 0, &ns->nsdata,
					 sizeof(ns->nsdata), identify_ns_done, ctrlr);
	if (rc != 0) {
		init_fail(ctrlr, rc, "submitting Identify Namespace", NULL);
	}
}

struct id_descs_ctx {
	struct usk_nvme_ctrlr *ctrlr;
	uint8_t buf[USK_NVME_IDENTIFY_BUFLEN];
};

static void
id_descs_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct id_descs_ctx *ctx = arg;
	struct usk_nvme_ctrlr *ctrlr = ctx->ctrlr;
	struct usk_nvme_ns *ns = init_cur_ns(ctrlr);

	/* Optional data: a controller that rejects CNS 3 just has no UUID. */
	if (!usk_nvme_cpl_is_error(cpl) && ns != NULL) {
		nvme_ns_parse_id_descs(ns, ctx->buf, sizeof(ctx->buf));
	}
	free(ctx);
	ctrlr->init_ns_idx++;
	set_state(ctrlr, NVME_CTRLR_STATE_IDENTIFY_ID_DESCS, admin_timeout_ms(ctrlr));
}

static void
identify_id_descs(struct usk_nvme_ctrlr *ctrlr)
{
	struct usk_nvme_ns *ns = init_cur_ns(ctrlr);
	struct id_descs_ctx *ctx;
	int rc;

	if (ns == NULL || ctrlr->vs.raw < USK_NVME_VERSION(1, 3, 0)) {
		set_state(ctrlr, NVME_CTRLR_STATE_SET_SUPPORTED_LOG_PAGES, admin_timeout_ms(ctrlr));
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		init_fail(ctrlr, -ENOMEM, "Identify NS ID descriptors", NULL);
		return;
	}
	ctx->ctrlr = ctrlr;
	set_state(ctrlr, NVME_CTRLR_STATE_WAIT_FOR_IDENTIFY_ID_DESCS, admin_timeout_ms(ctrlr));
	rc = usk_nvme_ctrlr_cmd_identify(ctrlr, USK_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, 0, ns->id,
					 0, ctx->buf, sizeof(ctx->buf), id_descs_done, ctx);
	if (rc != 0) {
		free(ctx);
		init_fail(ctrlr, rc, "submitting Identify NS ID descriptors", NULL);
	}
}

static void
set_supported_log_pages(struct usk_nvme_ctrlr *ctrlr)
{
	memset(ctrlr->log_page_supported, 0, sizeof(ctrlr->log_page_supported));
	ctrlr->log_page_supported[USK_NVME_LOG_ERROR] = true;
	ctrlr->log_page_supported[USK_NVME_LOG_HEALTH_INFORMATION] = true;
	ctrlr->log_page_supported[USK_NVME_LOG_FIRMWARE_SLOT] = true;
	if (ctrlr->cdata.lpa & USK_NVME_LPA_CELP) {
		ctrlr->log_page_supported[USK_NVME_LOG_COMMAND_EFFECTS_LOG] = true;
	}
	if (ctrlr->cdata.oaes & USK_NVME_OAES_NS_ATTR) {
		ctrlr->log_page_supported[USK_NVME_LOG_CHANGED_NS_LIST] = true;
	}
	if (ctrlr->opts.is_discovery) {
		ctrlr->log_page_supported[USK_NVME_LOG_DISCOVERY] = true;
	}
	set_state(ctrlr, NVME_CTRLR_STATE_SET_SUPPORTED_FEATURES, admin_timeout_ms(ctrlr));
}

static void
set_supported_features(struct usk_nvme_ctrlr *ctrlr)
{
	static const uint8_t mandatory[] = {
		USK_NVME_FEAT_ARBITRATION,
		USK_NVME_FEAT_POWER_MANAGEMENT,
		USK_NVME_FEAT_TEMPERATURE_THRESHOLD,
		USK_NVME_FEAT_ERROR_RECOVERY,
		USK_NVME_FEAT_NUMBER_OF_QUEUES,
		USK_NVME_FEAT_INTERRUPT_COALESCING,
		USK_NVME_FEAT_INTERRUPT_VECTOR_CONFIGURATION,
		USK_NVME_FEAT_WRITE_ATOMICITY,
		USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION,
	};

	memset(ctrlr->feature_supported, 0, sizeof(ctrlr->feature_supported));
	for (size_t i = 0; i < USK_COUNTOF(mandatory); i++) {
		ctrlr->feature_supported[mandatory[i]] = true;
	}
	if (ctrlr->cdata.vwc & USK_NVME_VWC_PRESENT) {
		ctrlr->feature_supported[USK_NVME_FEAT_VOLATILE_WRITE_CACHE] = true;
	}
	if (ctrlr->cdata.kas || ctrlr->trid.trtype != USK_NVME_TRANSPORT_PCIE) {
		ctrlr->feature_supported[USK_NVME_FEAT_KEEP_ALIVE_TIMER] = true;
	}
	ctrlr->feature_supported[USK_NVME_FEAT_HOST_IDENTIFIER] = true;
	set_state(ctrlr, NVME_CTRLR_STATE_SET_DB_BUF_CFG, admin_timeout_ms(ctrlr));
}

static void
transport_ready(struct usk_nvme_ctrlr *ctrlr)
{
	int rc = 0;

	if (ctrlr->transport->ctrlr_ready != NULL) {
		rc = ctrlr->transport->ctrlr_ready(ctrlr);
	}
	if (rc != 0) {
		init_fail(ctrlr, rc, "transport ready", NULL);
		return;
	}
	set_state(ctrlr, NVME_CTRLR_STATE_READY, 0);
	NVME_CTRLR_DEBUGLOG(ctrlr, "controller ready: %u namespaces, %u I/O queues\n",
			    ctrlr->active_ns_count, ctrlr->num_io_queues);
}

int
nvme_ctrlr_process_init(struct usk_nvme_ctrlr *ctrlr)
{
	enum nvme_ctrlr_state state;
	int rc = 0;

	if (ctrlr->state == NVME_CTRLR_STATE_READY) {
		return 0;
	}
	if (ctrlr->state == NVME_CTRLR_STATE_ERROR) {
		return ctrlr->init_error ? ctrlr->init_error : -EIO;
	}
	/* Reap admin completions (and advance the admin connection) first. */
	if (ctrlr->state >= NVME_CTRLR_STATE_WAIT_FOR_CONNECT_ADMINQ &&
	    nvme_qpair_get_state(ctrlr->adminq) != NVME_QPAIR_DISCONNECTED) {
		rc = nvme_qpair_poll(ctrlr->adminq, 0);
		if (rc < 0 && rc != -EAGAIN) {
			if (ctrlr->state != NVME_CTRLR_STATE_WAIT_FOR_CONNECT_ADMINQ) {
				init_fail(ctrlr, -ECONNRESET, "admin queue", NULL);
			} else if (ctrlr->adminq->transport_failure_reason ==
				   NVME_QPAIR_FAILURE_TIMEOUT) {
				init_fail(ctrlr, -ETIMEDOUT, "connecting the admin queue", NULL);
			} else {
				init_fail(ctrlr, -ECONNREFUSED, "connecting the admin queue", NULL);
			}
			return ctrlr->init_error;
		}
		rc = 0;
	}
	if (ctrlr->state == NVME_CTRLR_STATE_WAIT_FOR_CONNECT_ADMINQ &&
	    nvme_qpair_get_state(ctrlr->adminq) == NVME_QPAIR_DISCONNECTED) {
		init_fail(ctrlr, -ECONNREFUSED, "connecting the admin queue", NULL);
		return ctrlr->init_error;
	}
	if (ctrlr->state_timeout_tsc != NVME_TIMEOUT_INFINITE &&
	    usk_get_ticks() > ctrlr->state_timeout_tsc) {
		NVME_CTRLR_ERRLOG(ctrlr, "initialisation timed out in state '%s'\n",
				  nvme_ctrlr_state_string(ctrlr->state));
		ctrlr->init_error = -ETIMEDOUT;
		set_state(ctrlr, NVME_CTRLR_STATE_ERROR, 0);
		return -ETIMEDOUT;
	}

	state = ctrlr->state;
	switch (state) {
	case NVME_CTRLR_STATE_INIT_DELAY:
		set_state(ctrlr, NVME_CTRLR_STATE_CONNECT_ADMINQ, admin_timeout_ms(ctrlr));
		break;
	case NVME_CTRLR_STATE_CONNECT_ADMINQ:
		set_state(ctrlr, NVME_CTRLR_STATE_WAIT_FOR_CONNECT_ADMINQ,
			  USK_MAX(admin_timeout_ms(ctrlr),
				  ctrlr->opts.transport_connect_timeout_ms));
		rc = ctrlr->transport->ctrlr_connect_qpair(ctrlr, ctrlr->adminq);
		if (rc != 0) {
			init_fail(ctrlr, rc, "connecting the admin queue", NULL);
		} else if (nvme_qpair_get_state(ctrlr->adminq) == NVME_QPAIR_CONNECTED) {
			nvme_qpair_set_state(ctrlr->adminq, NVME_QPAIR_ENABLED);
		}
		break;
	case NVME_CTRLR_STATE_WAIT_FOR_CONNECT_ADMINQ:
		if (nvme_qpair_get_state(ctrlr->adminq) == NVME_QPAIR_ENABLED) {
			set_state(ctrlr, NVME_CTRLR_STATE_READ_VS, admin_timeout_ms(ctrlr));
		}
		break;
	case NVME_CTRLR_STATE_READ_VS:
		set_state(ctrlr, NVME_CTRLR_STATE_READ_VS_WAIT_FOR_VS, admin_timeout_ms(ctrlr));
		rc = reg_get_4(ctrlr, USK_NVME_REG_VS, read_vs_done, ctrlr);
		break;
	case NVME_CTRLR_STATE_READ_CAP:
		set_state(ctrlr, NVME_CTRLR_STATE_READ_CAP_WAIT_FOR_CAP, admin_timeout_ms(ctrlr));
		rc = reg_get_8(ctrlr, USK_NVME_REG_CAP, read_cap_done, ctrlr);
		break;
	case NVME_CTRLR_STATE_CHECK_EN:
		ctrlr->state = NVME_CTRLR_STATE_CHECK_EN_WAIT_FOR_CC;
		rc = reg_get_4(ctrlr, USK_NVME_REG_CC, check_en_done, ctrlr);
		break;
	case NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_1:
		ctrlr->state = NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_1_WAIT_FOR_CSTS;
		rc = reg_get_4(ctrlr, USK_NVME_REG_CSTS, csts_ready1_before_disable, ctrlr);
		break;
	case NVME_CTRLR_STATE_SET_EN_0:
		ctrlr->cc.bits.en = 0;
		ctrlr->state = NVME_CTRLR_STATE_SET_EN_0_WAIT_FOR_CC;
		rc = reg_set_4(ctrlr, USK_NVME_REG_CC, ctrlr->cc.raw, set_en_0_done, ctrlr);
		break;
	case NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0:
		ctrlr->state = NVME_CTRLR_STATE_DISABLE_WAIT_FOR_READY_0_WAIT_FOR_CSTS;
		rc = reg_get_4(ctrlr, USK_NVME_REG_CSTS, csts_ready0, ctrlr);
		break;
	case NVME_CTRLR_STATE_DISABLED:
		set_state(ctrlr, NVME_CTRLR_STATE_ENABLE, ready_timeout_ms(ctrlr));
		break;
	case NVME_CTRLR_STATE_ENABLE:
		ctrlr->state = NVME_CTRLR_STATE_ENABLE_WAIT_FOR_CC;
		rc = ctrlr_enable(ctrlr);
		break;
	case NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1:
		ctrlr->state = NVME_CTRLR_STATE_ENABLE_WAIT_FOR_READY_1_WAIT_FOR_CSTS;
		rc = reg_get_4(ctrlr, USK_NVME_REG_CSTS, csts_ready1, ctrlr);
		break;
	case NVME_CTRLR_STATE_RESET_ADMIN_QUEUE:
		set_state(ctrlr, NVME_CTRLR_STATE_IDENTIFY, admin_timeout_ms(ctrlr));
		break;
	case NVME_CTRLR_STATE_IDENTIFY:
		set_state(ctrlr, NVME_CTRLR_STATE_WAIT_FOR_IDENTIFY, admin_timeout_ms(ctrlr));
		rc = usk_nvme_ctrlr_cmd_identify(ctrlr, USK_NVME_IDENTIFY_CTRLR, 0, 0, 0,
						 &ctrlr->cdata, sizeof(ctrlr->cdata), identify_done,
						 ctrlr);
		break;
	case NVME_CTRLR_STATE_CONFIGURE_AER:
		configure_aer(ctrlr);
		break;
	case NVME_CTRLR_STATE_SET_KEEP_ALIVE_TIMEOUT:
		set_keep_alive_timeout(ctrlr);
		break;
	case NVME_CTRLR_STATE_SET_NUM_QUEUES:
		set_num_queues(ctrlr);
		break;
	case NVME_CTRLR_STATE_IDENTIFY_ACTIVE_NS:
		identify_active_ns(ctrlr);
		break;
	case NVME_CTRLR_STATE_IDENTIFY_NS:
		identify_ns(ctrlr);
		break;
	case NVME_CTRLR_STATE_IDENTIFY_ID_DESCS:
		identify_id_descs(ctrlr);
		break;
	case NVME_CTRLR_STATE_SET_SUPPORTED_LOG_PAGES:
		set_supported_log_pages(ctrlr);
		break;
	case NVME_CTRLR_STATE_SET_SUPPORTED_FEATURES:
		set_supported_features(ctrlr);
		break;
	case NVME_CTRLR_STATE_SET_DB_BUF_CFG:
		/* Shadow doorbells are the PCIe transport's business (ops->ctrlr_ready). */
		set_state(ctrlr, NVME_CTRLR_STATE_SET_HOST_ID, admin_timeout_ms(ctrlr));
		break;
	case NVME_CTRLR_STATE_SET_HOST_ID:
		/* Fabrics send the host ID in Connect; PCIe hosts have no use for one here. */
		set_state(ctrlr, NVME_CTRLR_STATE_TRANSPORT_READY, admin_timeout_ms(ctrlr));
		break;
	case NVME_CTRLR_STATE_TRANSPORT_READY:
		transport_ready(ctrlr);
		break;
	default:
		/* A WAIT_FOR state: its callback moves on. */
		break;
	}
	if (rc != 0 && ctrlr->state != NVME_CTRLR_STATE_ERROR) {
		init_fail(ctrlr, rc, nvme_ctrlr_state_string(state), NULL);
	}
	if (ctrlr->state == NVME_CTRLR_STATE_ERROR) {
		return ctrlr->init_error ? ctrlr->init_error : -EIO;
	}
	return 0;
}

/* ---- admin polling, keep-alive ---- */

static void
keep_alive_done(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct usk_nvme_ctrlr *ctrlr = arg;

	ctrlr->keep_alive_outstanding = false;
	if (usk_nvme_cpl_is_error(cpl) && !usk_nvme_cpl_is_abort(cpl)) {
		NVME_CTRLR_ERRLOG(ctrlr, "Keep Alive failed: %s\n",
				  usk_nvme_cpl_get_status_string(&cpl->status));
	}
}

static void
keep_alive_check(struct usk_nvme_ctrlr *ctrlr)
{
	uint64_t now;
	struct nvme_request *req;

	if (ctrlr->keep_alive_interval_ticks == 0) {
		return;
	}
	now = usk_get_ticks();
	if (ctrlr->keep_alive_outstanding) {
		/* No answer within the whole KATO: the controller is as good as gone. */
		if (now - ctrlr->keep_alive_sent_tick >
		    ctrlr->keep_alive_interval_ticks * NVME_KEEP_ALIVE_DIVISOR) {
			NVME_CTRLR_ERRLOG(ctrlr, "no Keep Alive response within %u ms\n",
					  ctrlr->opts.keep_alive_timeout_ms);
			nvme_ctrlr_fail(ctrlr, false);
		}
		return;
	}
	if (now < ctrlr->next_keep_alive_tick) {
		return;
	}
	req = nvme_allocate_request_null(ctrlr->adminq, keep_alive_done, ctrlr);
	if (req == NULL) {
		return;
	}
	req->cmd.opc = USK_NVME_OPC_KEEP_ALIVE;
	if (nvme_qpair_submit_request(ctrlr->adminq, req) == 0) {
		ctrlr->keep_alive_outstanding = true;
		ctrlr->keep_alive_sent_tick = now;
	}
	ctrlr->next_keep_alive_tick = now + ctrlr->keep_alive_interval_ticks;
}

int32_t
usk_nvme_ctrlr_process_admin_completions(struct usk_nvme_ctrlr *ctrlr)
{
	int32_t rc;

	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	if (ctrlr->is_failed) {
		rc = -ENXIO;
		goto out;
	}
	if (ctrlr->is_resetting) {
		rc = 0;
		goto out;
	}
	if (ctrlr->state != NVME_CTRLR_STATE_READY) {
		rc = nvme_ctrlr_process_init(ctrlr);
		if (rc < 0) {
			nvme_ctrlr_fail(ctrlr, false);
			rc = -ENXIO;
		}
		goto out;
	}
	rc = nvme_qpair_poll(ctrlr->adminq, 0);
	if (rc < 0 && rc != -EAGAIN) {
		NVME_CTRLR_ERRLOG(ctrlr, "admin queue connection lost\n");
		nvme_ctrlr_fail(ctrlr, false);
		rc = -ENXIO;
		goto out;
	}
	keep_alive_check(ctrlr);
	if (ctrlr->is_failed) {
		rc = -ENXIO;
	}
out:
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
	return rc;
}

void
usk_nvme_ctrlr_register_aer_callback(struct usk_nvme_ctrlr *ctrlr, usk_nvme_aer_cb cb, void *arg)
{
	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	ctrlr->aer_cb_fn = cb;
	ctrlr->aer_cb_arg = arg;
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
}

void
usk_nvme_ctrlr_register_timeout_callback(struct usk_nvme_ctrlr *ctrlr, uint64_t timeout_io_us,
					 uint64_t timeout_admin_us, usk_nvme_timeout_cb cb,
					 void *cb_arg)
{
	uint64_t hz = usk_get_ticks_hz();

	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	ctrlr->timeout_io_ticks = timeout_io_us * hz / USK_SEC_TO_USEC;
	ctrlr->timeout_admin_ticks = timeout_admin_us * hz / USK_SEC_TO_USEC;
	ctrlr->timeout_cb_arg = cb_arg;
	ctrlr->timeout_cb_fn = cb;
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
}

/* ---- reset ---- */

static void
adminq_disconnect(struct usk_nvme_ctrlr *ctrlr)
{
	struct usk_nvme_qpair *aq = ctrlr->adminq;

	if (nvme_qpair_get_state(aq) != NVME_QPAIR_DISCONNECTED) {
		ctrlr->transport->ctrlr_disconnect_qpair(ctrlr, aq);
		nvme_qpair_set_state(aq, NVME_QPAIR_DISCONNECTED);
	}
	nvme_qpair_fail_all(aq);
	ctrlr->keep_alive_outstanding = false;
}

int
usk_nvme_ctrlr_disconnect(struct usk_nvme_ctrlr *ctrlr)
{
	struct usk_nvme_qpair *qp;

	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	if (ctrlr->is_resetting) {
		pthread_mutex_unlock(&ctrlr->ctrlr_lock);
		return -EBUSY;
	}
	if (ctrlr->is_removed) {
		pthread_mutex_unlock(&ctrlr->ctrlr_lock);
		return -ENODEV;
	}
	NVME_CTRLR_NOTICELOG(ctrlr, "resetting controller\n");
	/* Release pairs with the relaxed loads of the I/O path: their next poll disconnects them.
	 */
	__atomic_store_n(&ctrlr->is_resetting, true, __ATOMIC_RELEASE);
	TAILQ_FOREACH(qp, &ctrlr->active_io_qpairs, tailq) {
		qp->transport_failure_reason = NVME_QPAIR_FAILURE_LOCAL;
	}
	adminq_disconnect(ctrlr);
	ctrlr->state = NVME_CTRLR_STATE_DISCONNECTED;
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
	return 0;
}

void
usk_nvme_ctrlr_reconnect_async(struct usk_nvme_ctrlr *ctrlr)
{
	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	ctrlr->in_reset = true;
	ctrlr->init_error = 0;
	ctrlr->num_aers = 0;
	ctrlr->keep_alive_interval_ticks = 0;
	ctrlr->opts.keep_alive_timeout_ms = ctrlr->opts.keep_alive_timeout_ms;
	__atomic_store_n(&ctrlr->is_failed, false, __ATOMIC_RELEASE);
	set_state(ctrlr, NVME_CTRLR_STATE_INIT_DELAY, 0);
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
}

int
usk_nvme_ctrlr_reconnect_poll_async(struct usk_nvme_ctrlr *ctrlr)
{
	int rc;

	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	rc = nvme_ctrlr_process_init(ctrlr);
	if (rc != 0) {
		NVME_CTRLR_ERRLOG(ctrlr, "reconnect failed: %s\n", strerror(-rc));
		adminq_disconnect(ctrlr);
		ctrlr->state = NVME_CTRLR_STATE_DISCONNECTED;
		__atomic_store_n(&ctrlr->is_failed, true, __ATOMIC_RELEASE);
		/* Stay "resetting" so that a later disconnect/reconnect retry is allowed. */
		__atomic_store_n(&ctrlr->is_resetting, false, __ATOMIC_RELEASE);
	} else if (ctrlr->state == NVME_CTRLR_STATE_READY) {
		ctrlr->in_reset = false;
		__atomic_store_n(&ctrlr->is_resetting, false, __ATOMIC_RELEASE);
		NVME_CTRLR_NOTICELOG(ctrlr, "controller reconnected\n");
	} else {
		rc = -EAGAIN;
	}
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
	return rc;
}

int
usk_nvme_ctrlr_reset(struct usk_nvme_ctrlr *ctrlr)
{
	struct usk_nvme_qpair *qp;
	int rc;

	rc = usk_nvme_ctrlr_disconnect(ctrlr);
	if (rc != 0) {
		return rc;
	}
	/* Disconnect the I/O qpairs here: in a sync reset nobody else polls them. */
	TAILQ_FOREACH(qp, &ctrlr->active_io_qpairs, tailq) {
		usk_nvme_ctrlr_disconnect_io_qpair(qp);
	}
	usk_nvme_ctrlr_reconnect_async(ctrlr);
	while ((rc = usk_nvme_ctrlr_reconnect_poll_async(ctrlr)) == -EAGAIN) {
	}
	if (rc != 0) {
		return rc;
	}
	TAILQ_FOREACH(qp, &ctrlr->active_io_qpairs, tailq) {
		int qrc = usk_nvme_ctrlr_connect_io_qpair(ctrlr, qp);

		if (qrc != 0) {
			NVME_CTRLR_ERRLOG(ctrlr, "reconnecting I/O qpair %u failed: %s\n", qp->id,
					  strerror(-qrc));
			rc = qrc;
		}
	}
	return rc;
}

/* ---- shutdown / destroy ---- */

struct sync_reg {
	bool done;
	bool error;
	uint64_t value;
};

static void
sync_reg_cb(void *arg, uint64_t value, const struct usk_nvme_cpl *cpl)
{
	struct sync_reg *s = arg;

	s->value = value;
	s->error = usk_nvme_cpl_is_error(cpl);
	s->done = true;
}

static int
sync_reg_wait(struct usk_nvme_ctrlr *ctrlr, struct sync_reg *s, uint64_t deadline)
{
	while (!s->done) {
		int rc = nvme_qpair_poll(ctrlr->adminq, 0);

		if (rc < 0 && rc != -EAGAIN) {
			return -ENXIO;
		}
		if (usk_get_ticks() > deadline) {
			return -ETIMEDOUT;
		}
	}
	return s->error ? -EIO : 0;
}

static void
ctrlr_shutdown(struct usk_nvme_ctrlr *ctrlr)
{
	struct sync_reg s = {0};
	uint64_t deadline;
	uint32_t rtd3e_ms = ctrlr->cdata.rtd3e / 1000;
	union usk_nvme_cc_register cc = ctrlr->cc;

	if (ctrlr->is_failed || ctrlr->is_removed || ctrlr->state != NVME_CTRLR_STATE_READY ||
	    nvme_qpair_get_state(ctrlr->adminq) != NVME_QPAIR_ENABLED) {
		return;
	}
	/* RTD3E, if the controller reports it, else 10 s, as SPDK does. */
	deadline = nvme_ticks_after_ms(rtd3e_ms ? USK_MIN(rtd3e_ms, 60000u) : 10000);
	cc.bits.shn = USK_NVME_SHN_NORMAL;
	if (reg_set_4(ctrlr, USK_NVME_REG_CC, cc.raw, sync_reg_cb, &s) != 0 ||
	    sync_reg_wait(ctrlr, &s, deadline) != 0) {
		NVME_CTRLR_WARNLOG(ctrlr, "could not request a normal shutdown\n");
		return;
	}
	for (;;) {
		union usk_nvme_csts_register csts;

		memset(&s, 0, sizeof(s));
		if (reg_get_4(ctrlr, USK_NVME_REG_CSTS, sync_reg_cb, &s) != 0 ||
		    sync_reg_wait(ctrlr, &s, deadline) != 0) {
			NVME_CTRLR_WARNLOG(ctrlr, "could not read CSTS during shutdown\n");
			return;
		}
		csts.raw = (uint32_t)s.value;
		if (csts.bits.shst == USK_NVME_SHST_COMPLETE) {
			NVME_CTRLR_DEBUGLOG(ctrlr, "shutdown complete\n");
			return;
		}
		if (usk_get_ticks() > deadline) {
			NVME_CTRLR_WARNLOG(ctrlr, "shutdown did not complete in time\n");
			return;
		}
	}
}

int nvme_ctrlr_free_io_qpair_now(struct usk_nvme_qpair *qpair);

void
nvme_ctrlr_destroy(struct usk_nvme_ctrlr *ctrlr)
{
	struct usk_nvme_qpair *qp, *tmp;

	ctrlr->is_destructed = true;
	TAILQ_FOREACH_SAFE(qp, &ctrlr->active_io_qpairs, tailq, tmp) {
		nvme_ctrlr_free_io_qpair_now(qp);
	}
	if (ctrlr->adminq != NULL) {
		adminq_disconnect(ctrlr);
	}
	nvme_ctrlr_destruct_base(ctrlr);
	ctrlr->transport->ctrlr_destruct(ctrlr);
}

void
nvme_ctrlr_shutdown_and_destroy(struct usk_nvme_ctrlr *ctrlr)
{
	struct usk_nvme_qpair *qp, *tmp;

	pthread_mutex_lock(&ctrlr->ctrlr_lock);
	TAILQ_FOREACH_SAFE(qp, &ctrlr->active_io_qpairs, tailq, tmp) {
		nvme_ctrlr_free_io_qpair_now(qp);
	}
	ctrlr_shutdown(ctrlr);
	pthread_mutex_unlock(&ctrlr->ctrlr_lock);
	nvme_ctrlr_destroy(ctrlr);
}
