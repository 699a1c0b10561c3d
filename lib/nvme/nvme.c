/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe host driver entry points: transport registry, transport IDs, probe/attach/detach. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nvme_internal.h"
#include "usk_internal/nvme_trid_names.h"

USK_LOG_REGISTER_COMPONENT(nvme)

#define MAX_TRANSPORTS 8

static const struct usk_nvme_transport_ops *g_transports[MAX_TRANSPORTS];
static int g_num_transports;

void
usk_nvme_transport_register(const struct usk_nvme_transport_ops *ops)
{
	if (g_num_transports == MAX_TRANSPORTS) {
		USK_ERRLOG("too many NVMe transports, %s not registered\n", ops->name);
		return;
	}
	g_transports[g_num_transports++] = ops;
}

const struct usk_nvme_transport_ops *
nvme_get_transport(const struct usk_nvme_transport_id *trid)
{
	for (int i = 0; i < g_num_transports; i++) {
		if (g_transports[i]->type == trid->trtype &&
		    (trid->trtype != USK_NVME_TRANSPORT_CUSTOM ||
		     strcasecmp(trid->trstring, g_transports[i]->name) == 0)) {
			return g_transports[i];
		}
	}
	return NULL;
}

uint64_t
nvme_ticks_after_ms(uint64_t ms)
{
	if (ms == 0) {
		return NVME_TIMEOUT_INFINITE;
	}
	return usk_get_ticks() + ms * usk_get_ticks_hz() / 1000;
}

/* ---- transport IDs ---- */

int
usk_nvme_transport_id_parse_trtype(enum usk_nvme_transport_type *trtype, const char *str)
{
	return usk_nvme_trtype_from_name(str, trtype);
}

int
usk_nvme_transport_id_parse_adrfam(enum usk_nvmf_adrfam *adrfam, const char *str)
{
	return usk_nvmf_adrfam_from_name(str, adrfam);
}

const char *
usk_nvme_transport_id_trtype_str(enum usk_nvme_transport_type trtype)
{
	return usk_nvme_trtype_name(trtype);
}

const char *
usk_nvme_transport_id_adrfam_str(enum usk_nvmf_adrfam adrfam)
{
	return usk_nvmf_adrfam_name(adrfam);
}

void
usk_nvme_trid_populate_transport(struct usk_nvme_transport_id *trid,
				 enum usk_nvme_transport_type trtype)
{
	const char *name = usk_nvme_transport_id_trtype_str(trtype);

	trid->trtype = trtype;
	snprintf(trid->trstring, sizeof(trid->trstring), "%s", name ? name : "CUSTOM");
}

/* Copy value into dst (size bytes incl. NUL); false if it does not fit. */
static bool
copy_value(char *dst, size_t size, const char *val, size_t len)
{
	if (len >= size) {
		return false;
	}
	memcpy(dst, val, len);
	dst[len] = '\0';
	return true;
}

/* "dddd:bb:dd.f" or "bb:dd.f" -> "dddd:bb:dd.f" (lower case); false if not a BDF. */
static bool
normalize_pci_addr(char *addr, size_t size)
{
	unsigned int dom = 0, bus, dev, func;
	char tail;

	if (sscanf(addr, "%x:%x:%x.%x%c", &dom, &bus, &dev, &func, &tail) != 4) {
		dom = 0;
		if (sscanf(addr, "%x:%x.%x%c", &bus, &dev, &func, &tail) != 3) {
			return false;
		}
	}
	if (dom > 0xffff || bus > 0xff || dev > 0x1f || func > 7) {
		return false;
	}
	snprintf(addr, size, "%04x:%02x:%02x.%x", dom, bus, dev, func);
	return true;
}

int
usk_nvme_transport_id_parse(struct usk_nvme_transport_id *trid, struct usk_nvme_trid_extra *extra,
			    const char *str, char *err, size_t err_len)
{
	const char *p = str;
	bool have_trtype = trid->trtype != 0;

	if (str == NULL) {
		return usk_set_err(err, err_len, "empty transport ID");
	}
	if (err != NULL && err_len > 0) {
		err[0] = '\0';
	}
	for (;;) {
		char key[32], val[USK_NVME_NQN_FIELD_SIZE + 1];
		const char *kstart, *vstart;
		size_t klen, vlen;

		while (*p != '\0' && isspace((unsigned char)*p)) {
			p++;
		}
		if (*p == '\0') {
			break;
		}
		kstart = p;
		while (*p != '\0' && *p != ':' && *p != '=' && !isspace((unsigned char)*p)) {
			p++;
		}
		klen = (size_t)(p - kstart);
		if (*p != ':' && *p != '=') {
			return usk_set_err(err, err_len,
					   "key '%.*s' has no value (expected key:value)",
					   (int)USK_MIN(klen, 64), kstart);
		}
		if (klen == 0) {
			return usk_set_err(err, err_len, "empty key before '%c'", *p);
		}
		if (klen >= sizeof(key)) {
			return usk_set_err(err, err_len, "unknown key '%.*s'",
					   (int)USK_MIN(klen, 64), kstart);
		}
		memcpy(key, kstart, klen);
		key[klen] = '\0';
		p++;
		vstart = p;
		while (*p != '\0' && !isspace((unsigned char)*p)) {
			p++;
		}
		vlen = (size_t)(p - vstart);
		if (vlen == 0) {
			return usk_set_err(err, err_len, "empty value for key '%s'", key);
		}
		if (vlen >= sizeof(val)) {
			return usk_set_err(err, err_len, "value too long for key '%s'", key);
		}
		memcpy(val, vstart, vlen);
		val[vlen] = '\0';

		if (strcasecmp(key, "trtype") == 0) {
			enum usk_nvme_transport_type t;

			if (usk_nvme_transport_id_parse_trtype(&t, val) != 0) {
				return usk_set_err(err, err_len, "bad value '%s' for key 'trtype'",
						   val);
			}
			usk_nvme_trid_populate_transport(trid, t);
			have_trtype = true;
		} else if (strcasecmp(key, "adrfam") == 0) {
			if (usk_nvme_transport_id_parse_adrfam(&trid->adrfam, val) != 0) {
				return usk_set_err(err, err_len, "bad value '%s' for key 'adrfam'",
						   val);
			}
		} else if (strcasecmp(key, "traddr") == 0) {
			if (!copy_value(trid->traddr, sizeof(trid->traddr), val, vlen)) {
				return usk_set_err(err, err_len, "value too long for key 'traddr'");
			}
		} else if (strcasecmp(key, "trsvcid") == 0) {
			if (!copy_value(trid->trsvcid, sizeof(trid->trsvcid), val, vlen)) {
				return usk_set_err(err, err_len,
						   "value too long for key 'trsvcid'");
			}
		} else if (strcasecmp(key, "subnqn") == 0) {
			if (vlen > USK_NVMF_NQN_MAX_LEN) {
				return usk_set_err(err, err_len,
						   "value too long for key 'subnqn' (max %d)",
						   USK_NVMF_NQN_MAX_LEN);
			}
			copy_value(trid->subnqn, sizeof(trid->subnqn), val, vlen);
		} else if (strcasecmp(key, "priority") == 0) {
			char *end;
			long v = strtol(val, &end, 10);

			if (*end != '\0' || v < 0 || v > 0xffff) {
				return usk_set_err(err, err_len,
						   "bad value '%s' for key 'priority'", val);
			}
			trid->priority = (int)v;
		} else if (strcasecmp(key, "hostnqn") == 0) {
			if (vlen > USK_NVMF_NQN_MAX_LEN) {
				return usk_set_err(err, err_len,
						   "value too long for key 'hostnqn' (max %d)",
						   USK_NVMF_NQN_MAX_LEN);
			}
			if (extra != NULL) {
				copy_value(extra->hostnqn, sizeof(extra->hostnqn), val, vlen);
			}
		} else if (strcasecmp(key, "ns") == 0) {
			char *end;
			unsigned long v = strtoul(val, &end, 0);

			if (*end != '\0' || v == 0 || v > 0xfffffffeUL || val[0] == '-') {
				return usk_set_err(err, err_len, "bad value '%s' for key 'ns'",
						   val);
			}
			if (extra != NULL) {
				extra->nsid = (uint32_t)v;
			}
		} else {
			return usk_set_err(err, err_len, "unknown key '%s'", key);
		}
	}
	if (!have_trtype) {
		return usk_set_err(err, err_len, "missing key 'trtype'");
	}
	if (trid->trtype == USK_NVME_TRANSPORT_PCIE) {
		if (trid->traddr[0] != '\0' &&
		    !normalize_pci_addr(trid->traddr, sizeof(trid->traddr))) {
			return usk_set_err(err, err_len,
					   "bad value '%s' for key 'traddr' (PCI address "
					   "dddd:bb:dd.f)",
					   trid->traddr);
		}
	} else if (trid->trtype == USK_NVME_TRANSPORT_TCP ||
		   trid->trtype == USK_NVME_TRANSPORT_RDMA) {
		if (trid->traddr[0] == '\0') {
			return usk_set_err(err, err_len, "missing key 'traddr'");
		}
		if (trid->adrfam == 0) {
			trid->adrfam = strchr(trid->traddr, ':') ? USK_NVMF_ADRFAM_IPV6 :
								   USK_NVMF_ADRFAM_IPV4;
		}
		if (trid->trsvcid[0] != '\0') {
			char *end;
			unsigned long port = strtoul(trid->trsvcid, &end, 10);

			if (*end != '\0' || port == 0 || port > 65535) {
				return usk_set_err(
					err, err_len,
					"bad value '%s' for key 'trsvcid' (port 1-65535)",
					trid->trsvcid);
			}
		}
	}
	return 0;
}

int
usk_nvme_transport_id_compare(const struct usk_nvme_transport_id *a,
			      const struct usk_nvme_transport_id *b)
{
	int c;

	if (a->trtype != b->trtype) {
		return a->trtype < b->trtype ? -1 : 1;
	}
	c = a->trtype == USK_NVME_TRANSPORT_PCIE ? strcasecmp(a->traddr, b->traddr) :
						   strcmp(a->traddr, b->traddr);
	if (c != 0 || a->trtype == USK_NVME_TRANSPORT_PCIE) {
		return c;
	}
	c = strcmp(a->trsvcid, b->trsvcid);
	if (c != 0) {
		return c;
	}
	return strcmp(a->subnqn, b->subnqn);
}

const char *
usk_nvme_transport_id_fmt(const struct usk_nvme_transport_id *trid, char *buf, size_t len)
{
	const char *af = usk_nvme_transport_id_adrfam_str(trid->adrfam);

	if (trid->trtype == USK_NVME_TRANSPORT_PCIE) {
		snprintf(buf, len, "trtype:PCIe traddr:%s", trid->traddr);
	} else {
		snprintf(buf, len, "trtype:%s adrfam:%s traddr:%s trsvcid:%s subnqn:%s",
			 trid->trstring, af ? af : "?", trid->traddr, trid->trsvcid, trid->subnqn);
	}
	return buf;
}

/* ---- probe ---- */

struct usk_nvme_probe_ctx {
	struct usk_nvme_transport_id trid;
	const struct usk_nvme_transport_ops *transport;
	void *cb_ctx;
	usk_nvme_probe_cb probe_cb;
	usk_nvme_attach_cb attach_cb;
	usk_nvme_remove_cb remove_cb;
	/* connect_async: use these opts instead of asking probe_cb */
	bool has_opts;
	struct usk_nvme_ctrlr_opts opts;
	TAILQ_HEAD(, usk_nvme_ctrlr) init_ctrlrs;
};

/* Controllers attached by any probe (PCIe scans skip them). */
static TAILQ_HEAD(, usk_nvme_ctrlr) g_attached_ctrlrs = TAILQ_HEAD_INITIALIZER(g_attached_ctrlrs);
static pthread_mutex_t g_attached_lock = PTHREAD_MUTEX_INITIALIZER;

bool
nvme_probe_ctx_is_attached(struct usk_nvme_probe_ctx *probe_ctx,
			   const struct usk_nvme_transport_id *trid)
{
	struct usk_nvme_ctrlr *c;
	bool found = false;

	pthread_mutex_lock(&g_attached_lock);
	TAILQ_FOREACH(c, &g_attached_ctrlrs, tailq) {
		if (usk_nvme_transport_id_compare(&c->trid, trid) == 0) {
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&g_attached_lock);
	return found;
}

int
nvme_probe_ctx_add_ctrlr(struct usk_nvme_probe_ctx *probe_ctx,
			 const struct usk_nvme_transport_id *trid, void *devhandle)
{
	struct usk_nvme_ctrlr_opts opts;
	struct usk_nvme_ctrlr *ctrlr;

	if (probe_ctx->has_opts) {
		opts = probe_ctx->opts;
	} else {
		usk_nvme_ctrlr_get_default_ctrlr_opts(&opts, sizeof(opts));
	}
	/* A subsystem NQN means nothing on PCIe: tools that pre-fill the discovery NQN for fabrics
	 * (as spdk_nvme_perf does) must not turn a PCIe SSD into a discovery controller. */
	if (nvme_trtype_is_fabrics(trid->trtype) &&
	    strcmp(trid->subnqn, USK_NVMF_DISCOVERY_NQN) == 0) {
		opts.is_discovery = true;
	}
	if (probe_ctx->probe_cb != NULL && !probe_ctx->probe_cb(probe_ctx->cb_ctx, trid, &opts)) {
		return 0;
	}
	ctrlr = probe_ctx->transport->ctrlr_construct(trid, &opts, devhandle);
	if (ctrlr == NULL) {
		return -ENODEV;
	}
	ctrlr->remove_cb = probe_ctx->remove_cb;
	ctrlr->remove_cb_ctx = probe_ctx->cb_ctx;
	TAILQ_INSERT_TAIL(&probe_ctx->init_ctrlrs, ctrlr, tailq);
	return 0;
}

static struct usk_nvme_probe_ctx *
probe_ctx_create(const struct usk_nvme_transport_id *trid, void *cb_ctx, usk_nvme_probe_cb probe_cb,
		 usk_nvme_attach_cb attach_cb, usk_nvme_remove_cb remove_cb)
{
	struct usk_nvme_probe_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		return NULL;
	}
	if (trid != NULL) {
		ctx->trid = *trid;
	} else {
		usk_nvme_trid_populate_transport(&ctx->trid, USK_NVME_TRANSPORT_PCIE);
	}
	ctx->transport = nvme_get_transport(&ctx->trid);
	if (ctx->transport == NULL) {
		USK_ERRLOG("NVMe transport '%s' is not available\n", ctx->trid.trstring);
		free(ctx);
		return NULL;
	}
	ctx->cb_ctx = cb_ctx;
	ctx->probe_cb = probe_cb;
	ctx->attach_cb = attach_cb;
	ctx->remove_cb = remove_cb;
	TAILQ_INIT(&ctx->init_ctrlrs);
	return ctx;
}

static int
probe_ctx_scan(struct usk_nvme_probe_ctx *ctx)
{
	if (ctx->transport->ctrlr_scan != NULL) {
		return ctx->transport->ctrlr_scan(ctx, &ctx->trid);
	}
	return nvme_probe_ctx_add_ctrlr(ctx, &ctx->trid, NULL);
}

struct usk_nvme_probe_ctx *
usk_nvme_probe_async(const struct usk_nvme_transport_id *trid, void *cb_ctx,
		     usk_nvme_probe_cb probe_cb, usk_nvme_attach_cb attach_cb,
		     usk_nvme_remove_cb remove_cb)
{
	struct usk_nvme_probe_ctx *ctx =
		probe_ctx_create(trid, cb_ctx, probe_cb, attach_cb, remove_cb);
	int rc;

	if (ctx == NULL) {
		return NULL;
	}
	rc = probe_ctx_scan(ctx);
	if (rc != 0 && TAILQ_EMPTY(&ctx->init_ctrlrs)) {
		free(ctx);
		return NULL;
	}
	return ctx;
}

struct usk_nvme_probe_ctx *
usk_nvme_connect_async(const struct usk_nvme_transport_id *trid,
		       const struct usk_nvme_ctrlr_opts *opts, size_t opts_size,
		       usk_nvme_attach_cb attach_cb, void *cb_ctx)
{
	struct usk_nvme_probe_ctx *ctx;
	int rc;

	if (trid == NULL) {
		return NULL;
	}
	ctx = probe_ctx_create(trid, cb_ctx, NULL, attach_cb, NULL);
	if (ctx == NULL) {
		return NULL;
	}
	usk_nvme_ctrlr_get_default_ctrlr_opts(&ctx->opts, sizeof(ctx->opts));
	if (opts != NULL) {
		memcpy(&ctx->opts, opts, USK_MIN(opts_size, sizeof(ctx->opts)));
		ctx->opts.opts_size = sizeof(ctx->opts);
	}
	ctx->has_opts = true;
	rc = probe_ctx_scan(ctx);
	if (rc != 0 || TAILQ_EMPTY(&ctx->init_ctrlrs)) {
		free(ctx);
		return NULL;
	}
	return ctx;
}

int
usk_nvme_probe_poll_async(struct usk_nvme_probe_ctx *ctx)
{
	struct usk_nvme_ctrlr *ctrlr, *tmp;

	TAILQ_FOREACH_SAFE(ctrlr, &ctx->init_ctrlrs, tailq, tmp) {
		int rc;

		pthread_mutex_lock(&ctrlr->ctrlr_lock);
		rc = nvme_ctrlr_process_init(ctrlr);
		pthread_mutex_unlock(&ctrlr->ctrlr_lock);
		if (rc != 0) {
			NVME_CTRLR_ERRLOG(ctrlr, "initialisation failed in state '%s': %s\n",
					  nvme_ctrlr_state_string(ctrlr->state), strerror(-rc));
			TAILQ_REMOVE(&ctx->init_ctrlrs, ctrlr, tailq);
			nvme_ctrlr_destroy(ctrlr);
			continue;
		}
		if (ctrlr->state == NVME_CTRLR_STATE_READY) {
			TAILQ_REMOVE(&ctx->init_ctrlrs, ctrlr, tailq);
			pthread_mutex_lock(&g_attached_lock);
			TAILQ_INSERT_TAIL(&g_attached_ctrlrs, ctrlr, tailq);
			pthread_mutex_unlock(&g_attached_lock);
			if (ctx->attach_cb != NULL) {
				ctx->attach_cb(ctx->cb_ctx, &ctrlr->trid, ctrlr, &ctrlr->opts);
			}
		}
	}
	if (!TAILQ_EMPTY(&ctx->init_ctrlrs)) {
		return -EAGAIN;
	}
	free(ctx);
	return 0;
}

int
usk_nvme_probe(const struct usk_nvme_transport_id *trid, void *cb_ctx, usk_nvme_probe_cb probe_cb,
	       usk_nvme_attach_cb attach_cb, usk_nvme_remove_cb remove_cb)
{
	struct usk_nvme_probe_ctx *ctx =
		usk_nvme_probe_async(trid, cb_ctx, probe_cb, attach_cb, remove_cb);

	if (ctx == NULL) {
		return -ENODEV;
	}
	while (usk_nvme_probe_poll_async(ctx) == -EAGAIN) {
		/* Every controller's state machine has a deadline, so this ends. */
	}
	return 0;
}

struct connect_sync_ctx {
	struct usk_nvme_ctrlr *ctrlr;
};

static void
connect_sync_attach_cb(void *cb_ctx, const struct usk_nvme_transport_id *trid,
		       struct usk_nvme_ctrlr *ctrlr, const struct usk_nvme_ctrlr_opts *opts)
{
	((struct connect_sync_ctx *)cb_ctx)->ctrlr = ctrlr;
}

struct usk_nvme_ctrlr *
usk_nvme_connect(const struct usk_nvme_transport_id *trid, const struct usk_nvme_ctrlr_opts *opts,
		 size_t opts_size)
{
	struct connect_sync_ctx sctx = {0};
	struct usk_nvme_probe_ctx *ctx =
		usk_nvme_connect_async(trid, opts, opts_size, connect_sync_attach_cb, &sctx);

	if (ctx == NULL) {
		return NULL;
	}
	while (usk_nvme_probe_poll_async(ctx) == -EAGAIN) {
	}
	return sctx.ctrlr;
}

int
usk_nvme_detach(struct usk_nvme_ctrlr *ctrlr)
{
	struct usk_nvme_ctrlr *c;

	if (ctrlr == NULL) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_attached_lock);
	TAILQ_FOREACH(c, &g_attached_ctrlrs, tailq) {
		if (c == ctrlr) {
			TAILQ_REMOVE(&g_attached_ctrlrs, ctrlr, tailq);
			break;
		}
	}
	pthread_mutex_unlock(&g_attached_lock);
	nvme_ctrlr_shutdown_and_destroy(ctrlr);
	return 0;
}

/* ---- strings ---- */

const char *
usk_nvme_cpl_get_status_string(const struct usk_nvme_status *status)
{
	if (status->sct == USK_NVME_SCT_GENERIC) {
		switch (status->sc) {
		case USK_NVME_SC_SUCCESS:
			return "SUCCESS";
		case 0x01:
			return "INVALID OPCODE";
		case 0x02:
			return "INVALID FIELD";
		case 0x03:
			return "COMMAND ID CONFLICT";
		case 0x04:
			return "DATA TRANSFER ERROR";
		case USK_NVME_SC_ABORTED_POWER_LOSS:
			return "ABORTED - POWER LOSS";
		case 0x06:
			return "INTERNAL DEVICE ERROR";
		case USK_NVME_SC_ABORTED_BY_REQUEST:
			return "ABORTED - BY REQUEST";
		case USK_NVME_SC_ABORTED_SQ_DELETION:
			return "ABORTED - SQ DELETION";
		case 0x0b:
			return "INVALID NAMESPACE OR FORMAT";
		case 0x0c:
			return "COMMAND SEQUENCE ERROR";
		case 0x0d:
			return "INVALID SGL SEGMENT DESCRIPTOR";
		case 0x0f:
			return "DATA SGL LENGTH INVALID";
		case 0x80:
			return "LBA OUT OF RANGE";
		case 0x81:
			return "CAPACITY EXCEEDED";
		case 0x82:
			return "NAMESPACE NOT READY";
		case USK_NVME_SC_KEEP_ALIVE_EXPIRED:
			return "KEEP ALIVE EXPIRED";
		default:
			return "GENERIC ERROR";
		}
	}
	switch (status->sct) {
	case USK_NVME_SCT_COMMAND_SPECIFIC:
		switch (status->sc) {
		case 0x01:
			return "INVALID QUEUE IDENTIFIER";
		case 0x02:
			return "INVALID QUEUE SIZE";
		case 0x03:
			return "ABORT COMMAND LIMIT EXCEEDED";
		case 0x05:
			return "ASYNC EVENT REQUEST LIMIT EXCEEDED";
		case 0x0b:
			return "INVALID LOG PAGE";
		case 0x80:
			return "CONFLICTING ATTRIBUTES / CONNECT INCOMPATIBLE FORMAT";
		case 0x82:
			return "CONNECT INVALID PARAMETERS / ATTEMPTED WRITE TO READ ONLY RANGE";
		case 0x84:
			return "CONNECT INVALID HOST";
		default:
			return "COMMAND SPECIFIC ERROR";
		}
	case USK_NVME_SCT_MEDIA_ERROR:
		return "MEDIA ERROR";
	case USK_NVME_SCT_PATH:
		return "PATH ERROR";
	case USK_NVME_SCT_VENDOR_SPECIFIC:
		return "VENDOR SPECIFIC";
	default:
		return "RESERVED";
	}
}

const char *
usk_nvme_opc_get_string(bool admin, uint8_t opc)
{
	if (admin) {
		switch (opc) {
		case 0x00:
			return "DELETE IO SQ";
		case 0x01:
			return "CREATE IO SQ";
		case 0x02:
			return "GET LOG PAGE";
		case 0x04:
			return "DELETE IO CQ";
		case 0x05:
			return "CREATE IO CQ";
		case 0x06:
			return "IDENTIFY";
		case 0x08:
			return "ABORT";
		case 0x09:
			return "SET FEATURES";
		case 0x0a:
			return "GET FEATURES";
		case 0x0c:
			return "ASYNC EVENT REQUEST";
		case 0x18:
			return "KEEP ALIVE";
		case 0x7c:
			return "DOORBELL BUFFER CONFIG";
		case 0x7f:
			return "FABRIC";
		default:
			return "ADMIN";
		}
	}
	switch (opc) {
	case 0x00:
		return "FLUSH";
	case 0x01:
		return "WRITE";
	case 0x02:
		return "READ";
	case 0x05:
		return "COMPARE";
	case 0x08:
		return "WRITE ZEROES";
	case 0x09:
		return "DATASET MANAGEMENT";
	case 0x7f:
		return "FABRIC";
	default:
		return "IO";
	}
}
