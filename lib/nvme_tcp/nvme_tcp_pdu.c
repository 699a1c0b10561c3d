/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP PDU receive state machine and header validator for both ends of a connection
 * (pure, fuzzable; see include/usk_internal/nvme_tcp_pdu.h). What differs between host and
 * target is data: the table of PDU types each side may receive and their header rules.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "usk/util.h"
#include "usk_internal/nvme_tcp_pdu.h"

#define CH_LEN	     ((uint32_t)sizeof(struct usk_nvme_tcp_common_pdu_hdr))
#define FEI_PDU_TYPE offsetof(struct usk_nvme_tcp_common_pdu_hdr, pdu_type)
#define FEI_FLAGS    offsetof(struct usk_nvme_tcp_common_pdu_hdr, flags)
#define FEI_HLEN     offsetof(struct usk_nvme_tcp_common_pdu_hdr, hlen)
#define FEI_PDO	     offsetof(struct usk_nvme_tcp_common_pdu_hdr, pdo)
#define FEI_PLEN     offsetof(struct usk_nvme_tcp_common_pdu_hdr, plen)
#define FEI_DATAL    offsetof(struct usk_nvme_tcp_h2c_data_hdr, datal)
static_assert(offsetof(struct usk_nvme_tcp_c2h_data_hdr, datal) == FEI_DATAL,
	      "H2CData and C2HData carry datal at the same offset");

/* How a received PDU type is checked. */
enum pdu_kind {
	PDU_NOT_ACCEPTED = 0, /* this side never receives it */
	PDU_IC,		      /* ICReq/ICResp: 128 bytes, only before initialization */
	PDU_TERM,	      /* TermReq: 24-byte header and up to 128 bytes of the bad PDU */
	PDU_FIXED,	      /* 24-byte header and nothing else but the header digest */
	PDU_DATA,	      /* header, header digest, pad to PDO, data, data digest */
};

/* The negotiated cap on a data PDU's payload. */
enum pdu_limit {
	LIMIT_NONE,
	LIMIT_MAX_ICD,	  /* in_capsule_data_size */
	LIMIT_MAXH2CDATA, /* MAXH2CDATA from our ICResp */
};

struct pdu_rule {
	enum pdu_kind kind;
	uint8_t hlen;	    /* the header length the type has */
	bool data_required; /* PDU_DATA: a PDU without data is an error */
	enum pdu_limit limit;
	const char *hlen_msg;  /* wrong hlen (PDU_FIXED: wrong hlen or plen) */
	const char *plen_msg;  /* PDU_IC, PDU_TERM: wrong plen */
	const char *seq_msg;   /* PDU_IC: after initialization */
	const char *limit_msg; /* data above the limit */
	const char *datal_msg; /* non-NULL: datal in the header must equal the data length */
};

#define NTYPES (USK_NVME_TCP_PDU_TYPE_R2T + 1)

/* What a host receives: ICResp, C2HTermReq, CapsuleResp, R2T, C2HData. */
static const struct pdu_rule g_host_rules[NTYPES] = {
	[USK_NVME_TCP_PDU_TYPE_IC_RESP] = {.kind = PDU_IC,
					   .hlen = sizeof(struct usk_nvme_tcp_ic_resp),
					   .hlen_msg = "ICResp hlen is not 128",
					   .plen_msg = "ICResp plen is not 128",
					   .seq_msg = "second ICResp"},
	[USK_NVME_TCP_PDU_TYPE_C2H_TERM_REQ] = {.kind = PDU_TERM,
						.hlen = sizeof(struct usk_nvme_tcp_term_req_hdr),
						.hlen_msg = "C2HTermReq hlen is not 24",
						.plen_msg = "C2HTermReq plen out of range"},
	[USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP] =
		{.kind = PDU_FIXED,
		 .hlen = sizeof(struct usk_nvme_tcp_rsp),
		 .hlen_msg = "CapsuleResp hlen/plen is not 24 (+ digest)"},
	[USK_NVME_TCP_PDU_TYPE_R2T] = {.kind = PDU_FIXED,
				       .hlen = sizeof(struct usk_nvme_tcp_r2t_hdr),
				       .hlen_msg = "R2T hlen/plen is not 24 (+ digest)"},
	[USK_NVME_TCP_PDU_TYPE_C2H_DATA] = {.kind = PDU_DATA,
					    .hlen = sizeof(struct usk_nvme_tcp_c2h_data_hdr),
					    .data_required = true,
					    .hlen_msg = "C2HData hlen is not 24",
					    .datal_msg = "C2HData datal does not match plen"},
};

/* What a target receives: ICReq, H2CTermReq, CapsuleCmd, H2CData. */
static const struct pdu_rule g_target_rules[NTYPES] = {
	[USK_NVME_TCP_PDU_TYPE_IC_REQ] = {.kind = PDU_IC,
					  .hlen = sizeof(struct usk_nvme_tcp_ic_req),
					  .hlen_msg = "ICReq hlen is not 128",
					  .plen_msg = "ICReq plen is not 128",
					  .seq_msg = "ICReq after connection initialization"},
	[USK_NVME_TCP_PDU_TYPE_H2C_TERM_REQ] = {.kind = PDU_TERM,
						.hlen = sizeof(struct usk_nvme_tcp_term_req_hdr),
						.hlen_msg = "H2CTermReq hlen is not 24",
						.plen_msg = "H2CTermReq plen out of range"},
	[USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD] = {.kind = PDU_DATA,
					       .hlen = sizeof(struct usk_nvme_tcp_cmd),
					       .limit = LIMIT_MAX_ICD,
					       .hlen_msg = "CapsuleCmd hlen is not 72",
					       .limit_msg = "in-capsule data larger than "
							    "in_capsule_data_size"},
	[USK_NVME_TCP_PDU_TYPE_H2C_DATA] = {.kind = PDU_DATA,
					    .hlen = sizeof(struct usk_nvme_tcp_h2c_data_hdr),
					    .data_required = true,
					    .limit = LIMIT_MAXH2CDATA,
					    .hlen_msg = "H2CData hlen is not 24",
					    .limit_msg = "H2CData larger than MAXH2CDATA",
					    .datal_msg = "H2CData datal does not match plen"},
};

struct side_rules {
	const struct pdu_rule *type; /* NTYPES entries */
	const char *before_ic_msg;   /* any other PDU before initialization */
};

static const struct side_rules g_side_rules[] = {
	[NVME_TCP_RX_HOST] = {g_host_rules, "PDU before ICResp"},
	[NVME_TCP_RX_TARGET] = {g_target_rules, "PDU before ICReq"},
};

void
nvme_tcp_rx_init(struct nvme_tcp_rx *rx, enum nvme_tcp_rx_side side)
{
	rx->state = NVME_TCP_RX_AWAIT_CH;
	rx->side = side;
	rx->have = 0;
	rx->fes = 0;
	rx->fei = 0;
	rx->reason = NULL;
}

void
nvme_tcp_rx_fail(struct nvme_tcp_rx *rx, uint16_t fes, uint32_t fei, const char *reason)
{
	rx->state = NVME_TCP_RX_ERROR;
	rx->fes = fes;
	rx->fei = fei;
	rx->reason = reason;
}

static int
ch_fail(struct nvme_tcp_rx *rx, uint16_t fes, uint32_t fei, const char *reason)
{
	nvme_tcp_rx_fail(rx, fes, fei, reason);
	return -EPROTO;
}

const char *
nvme_tcp_pdu_type_name(uint8_t type)
{
	switch (type) {
	case USK_NVME_TCP_PDU_TYPE_IC_REQ:
		return "ICReq";
	case USK_NVME_TCP_PDU_TYPE_IC_RESP:
		return "ICResp";
	case USK_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
		return "H2CTermReq";
	case USK_NVME_TCP_PDU_TYPE_C2H_TERM_REQ:
		return "C2HTermReq";
	case USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		return "CapsuleCmd";
	case USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP:
		return "CapsuleResp";
	case USK_NVME_TCP_PDU_TYPE_H2C_DATA:
		return "H2CData";
	case USK_NVME_TCP_PDU_TYPE_C2H_DATA:
		return "C2HData";
	case USK_NVME_TCP_PDU_TYPE_R2T:
		return "R2T";
	default:
		return "unknown";
	}
}

static const struct pdu_rule *
rule_of(const struct nvme_tcp_rx *rx, uint8_t type)
{
	const struct side_rules *side = &g_side_rules[rx->side];

	if (type >= NTYPES || side->type[type].kind == PDU_NOT_ACCEPTED) {
		return NULL;
	}
	return &side->type[type];
}

/* HDGSTF must match the negotiated header digest. */
static int
check_hdgst_flag(struct nvme_tcp_rx *rx, const struct usk_nvme_tcp_common_pdu_hdr *ch,
		 const struct nvme_tcp_rx_params *p)
{
	bool has = (ch->flags & USK_NVME_TCP_CH_FLAGS_HDGSTF) != 0;

	if (has != p->hdgst) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_FLAGS,
			       p->hdgst ? "header digest flag missing" :
					  "header digest flag set but not negotiated");
	}
	rx->hdgst_len = has ? USK_NVME_TCP_DIGEST_LEN : 0;
	return 0;
}

/*
 * Data-carrying PDUs (host: C2HData; target: CapsuleCmd, H2CData), hlen already checked:
 * HDGSTF must match the negotiated header digest; DDGSTF must match the negotiated data digest
 * when there is data. pdo locates the data.
 */
static int
validate_data_pdu(struct nvme_tcp_rx *rx, const struct usk_nvme_tcp_common_pdu_hdr *ch,
		  const struct nvme_tcp_rx_params *p, bool data_required)
{
	uint32_t hlen = ch->hlen, plen = ch->plen, align;
	bool has_ddgst = (ch->flags & USK_NVME_TCP_CH_FLAGS_DDGSTF) != 0;

	if (check_hdgst_flag(rx, ch, p) != 0) {
		return -EPROTO;
	}
	if (plen < hlen + rx->hdgst_len) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PLEN,
			       "plen shorter than the header");
	}
	if (plen == hlen + rx->hdgst_len) {
		if (data_required) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PLEN,
				       "data PDU without data");
		}
		rx->pad_len = 0;
		rx->ddgst_len = 0;
		rx->data_len = 0;
		rx->psh_len = hlen + rx->hdgst_len - CH_LEN;
		return 0;
	}
	if (has_ddgst != p->ddgst) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_FLAGS,
			       p->ddgst ? "data digest flag missing" :
					  "data digest flag set but not negotiated");
	}
	rx->ddgst_len = has_ddgst ? USK_NVME_TCP_DIGEST_LEN : 0;
	align = ((uint32_t)p->pda + 1) * 4;
	if (ch->pdo < hlen + rx->hdgst_len || ch->pdo % align != 0 ||
	    ch->pdo - hlen - rx->hdgst_len >= USK_NVME_TCP_PDO_MAX_ALIGN) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PDO,
			       "pdo out of range or misaligned");
	}
	if (plen <= (uint32_t)ch->pdo + rx->ddgst_len) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PLEN,
			       "plen does not cover the data");
	}
	rx->pad_len = (uint16_t)(ch->pdo - hlen - rx->hdgst_len);
	rx->data_len = plen - ch->pdo - rx->ddgst_len;
	rx->psh_len = (uint32_t)ch->pdo - CH_LEN;
	return 0;
}

static int
validate_after_ic(struct nvme_tcp_rx *rx, const struct usk_nvme_tcp_common_pdu_hdr *ch,
		  const struct nvme_tcp_rx_params *p, const struct pdu_rule *r)
{
	uint32_t limit;
	int rc;

	if (ch->hlen != r->hlen) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_HLEN, r->hlen_msg);
	}
	if (r->kind == PDU_FIXED) {
		if (check_hdgst_flag(rx, ch, p) != 0) {
			return -EPROTO;
		}
		if (ch->plen != (uint32_t)r->hlen + rx->hdgst_len) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PLEN,
				       r->hlen_msg);
		}
		rx->psh_len = r->hlen + rx->hdgst_len - CH_LEN;
		return 0;
	}
	rc = validate_data_pdu(rx, ch, p, r->data_required);
	if (rc != 0 || r->limit == LIMIT_NONE) {
		return rc;
	}
	limit = r->limit == LIMIT_MAX_ICD ? p->max_icd : p->maxh2cdata;
	if (rx->data_len > limit) {
		return ch_fail(rx, USK_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0, r->limit_msg);
	}
	return 0;
}

int
nvme_tcp_ch_validate(struct nvme_tcp_rx *rx, const struct usk_nvme_tcp_common_pdu_hdr *ch,
		     const struct nvme_tcp_rx_params *p)
{
	const struct pdu_rule *r = rule_of(rx, ch->pdu_type);

	rx->hdgst_len = 0;
	rx->ddgst_len = 0;
	rx->pad_len = 0;
	rx->data_len = 0;

	if (r == NULL) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PDU_TYPE,
			       "unexpected PDU type");
	}
	switch (r->kind) {
	case PDU_IC:
		if (p->ic_done) {
			return ch_fail(rx, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, r->seq_msg);
		}
		if (ch->hlen != r->hlen) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_HLEN,
				       r->hlen_msg);
		}
		if (ch->plen != r->hlen) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PLEN,
				       r->plen_msg);
		}
		rx->psh_len = ch->hlen - CH_LEN;
		return 0;
	case PDU_TERM:
		if (ch->hlen != r->hlen) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_HLEN,
				       r->hlen_msg);
		}
		if (ch->plen < ch->hlen || ch->plen > USK_NVME_TCP_TERM_REQ_PDU_MAX_SIZE) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PLEN,
				       r->plen_msg);
		}
		rx->psh_len = ch->hlen - CH_LEN;
		rx->data_len = ch->plen - ch->hlen;
		return 0;
	default:
		break;
	}
	if (!p->ic_done) {
		return ch_fail(rx, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0,
			       g_side_rules[rx->side].before_ic_msg);
	}
	return validate_after_ic(rx, ch, p, r);
}

uint32_t
nvme_tcp_hdgst(const void *hdr, uint32_t hlen)
{
	return usk_crc32c_update(hdr, hlen, ~0u) ^ ~0u;
}

/* Header fully received: check the header digest and type-specific fields. */
static enum nvme_tcp_rx_event
psh_done(struct nvme_tcp_rx *rx)
{
	const struct usk_nvme_tcp_common_pdu_hdr *ch = &rx->hdr.common;
	const struct pdu_rule *r;

	if (rx->hdgst_len != 0 &&
	    nvme_tcp_get_le32(rx->hdgst) != nvme_tcp_hdgst(rx->hdr.raw, ch->hlen)) {
		nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_HDGST_ERROR, 0, "header digest mismatch");
		return NVME_TCP_RX_EV_ERROR;
	}
	r = rule_of(rx, ch->pdu_type);
	if (r->datal_msg != NULL && rx->hdr.h2c_data.datal != rx->data_len) {
		nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_DATAL,
				 r->datal_msg);
		return NVME_TCP_RX_EV_ERROR;
	}
	rx->state = NVME_TCP_RX_AWAIT_DEST;
	rx->iovcnt = 0;
	return NVME_TCP_RX_EV_HEADER;
}

int
nvme_tcp_rx_set_dest(struct nvme_tcp_rx *rx, const struct iovec *iov, int iovcnt)
{
	size_t total = 0;
	int i, n = 0;

	if (rx->state != NVME_TCP_RX_AWAIT_DEST || iovcnt < 0 || iovcnt > NVME_TCP_RX_MAX_IOV) {
		nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, 0,
				 "internal: bad data destination");
		return -EINVAL;
	}
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0) {
			continue;
		}
		rx->iov[n++] = iov[i];
		total += iov[i].iov_len;
	}
	if (total != rx->data_len) {
		nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
				 "data destination does not match PDU data length");
		return -EINVAL;
	}
	rx->iovcnt = n;
	rx->iov_idx = 0;
	rx->iov_off = 0;
	rx->data_have = 0;
	rx->data_crc = ~0u;
	rx->have = 0;
	/* with no payload the next feed (even of 0 bytes) reports the PDU */
	rx->state = NVME_TCP_RX_AWAIT_PAYLOAD;
	return 0;
}

uint32_t
nvme_tcp_rx_payload_remaining(const struct nvme_tcp_rx *rx)
{
	if (rx->state != NVME_TCP_RX_AWAIT_PAYLOAD) {
		return 0;
	}
	return rx->data_len - rx->data_have + rx->ddgst_len - rx->have;
}

int
nvme_tcp_rx_payload_iovs(struct nvme_tcp_rx *rx, struct iovec *iov, int max)
{
	int n = 0, i;

	if (rx->state != NVME_TCP_RX_AWAIT_PAYLOAD) {
		return 0;
	}
	for (i = rx->iov_idx; i < rx->iovcnt && n < max; i++) {
		uint32_t off = i == rx->iov_idx ? rx->iov_off : 0;

		iov[n].iov_base = (uint8_t *)rx->iov[i].iov_base + off;
		iov[n].iov_len = rx->iov[i].iov_len - off;
		n++;
	}
	if (i == rx->iovcnt && n < max && rx->have < rx->ddgst_len) {
		iov[n].iov_base = rx->ddgst + rx->have;
		iov[n].iov_len = rx->ddgst_len - rx->have;
		n++;
	}
	return n;
}

static enum nvme_tcp_rx_event
payload_check(struct nvme_tcp_rx *rx)
{
	if (rx->data_have < rx->data_len || rx->have < rx->ddgst_len) {
		return NVME_TCP_RX_EV_NEED_MORE;
	}
	if (rx->ddgst_len != 0 && nvme_tcp_get_le32(rx->ddgst) != (rx->data_crc ^ ~0u)) {
		/* NVMe/TCP has no FES for a data digest error; SPDK and Linux use 0x03 too */
		nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_HDGST_ERROR, 0, "data digest mismatch");
		return NVME_TCP_RX_EV_ERROR;
	}
	rx->state = NVME_TCP_RX_DONE;
	return NVME_TCP_RX_EV_PDU;
}

enum nvme_tcp_rx_event
nvme_tcp_rx_payload_advance(struct nvme_tcp_rx *rx, size_t n)
{
	while (n > 0 && rx->iov_idx < rx->iovcnt) {
		struct iovec *v = &rx->iov[rx->iov_idx];
		size_t chunk = USK_MIN(n, v->iov_len - rx->iov_off);

		if (rx->ddgst_len != 0) {
			rx->data_crc = usk_crc32c_update((uint8_t *)v->iov_base + rx->iov_off,
							 chunk, rx->data_crc);
		}
		rx->iov_off += (uint32_t)chunk;
		rx->data_have += (uint32_t)chunk;
		n -= chunk;
		if (rx->iov_off == v->iov_len) {
			rx->iov_idx++;
			rx->iov_off = 0;
		}
	}
	rx->have += (uint32_t)USK_MIN(n, (size_t)(rx->ddgst_len - rx->have));
	return payload_check(rx);
}

/* Copy up to len bytes of payload (then digest) from buf; returns bytes used. */
static size_t
payload_copy(struct nvme_tcp_rx *rx, const uint8_t *buf, size_t len)
{
	size_t used = 0;

	while (used < len && rx->iov_idx < rx->iovcnt) {
		struct iovec *v = &rx->iov[rx->iov_idx];
		size_t chunk = USK_MIN(len - used, v->iov_len - rx->iov_off);

		memcpy((uint8_t *)v->iov_base + rx->iov_off, buf + used, chunk);
		used += chunk;
		/* advance also folds the bytes into the running data digest */
		nvme_tcp_rx_payload_advance(rx, chunk);
	}
	if (used < len && rx->have < rx->ddgst_len) {
		size_t chunk = USK_MIN(len - used, (size_t)(rx->ddgst_len - rx->have));

		memcpy(rx->ddgst + rx->have, buf + used, chunk);
		rx->have += (uint32_t)chunk;
		used += chunk;
	}
	return used;
}

enum nvme_tcp_rx_event
nvme_tcp_rx_feed(struct nvme_tcp_rx *rx, const struct nvme_tcp_rx_params *p, const uint8_t *buf,
		 size_t len, size_t *consumed)
{
	size_t off = 0, chunk;
	enum nvme_tcp_rx_event ev;

	for (;;) {
		switch (rx->state) {
		case NVME_TCP_RX_DONE:
			rx->state = NVME_TCP_RX_AWAIT_CH;
			rx->have = 0;
		/* fallthrough */
		case NVME_TCP_RX_AWAIT_CH:
			chunk = USK_MIN(len - off, (size_t)(CH_LEN - rx->have));
			memcpy(rx->hdr.raw + rx->have, buf + off, chunk);
			rx->have += (uint32_t)chunk;
			off += chunk;
			if (rx->have < CH_LEN) {
				*consumed = off;
				return NVME_TCP_RX_EV_NEED_MORE;
			}
			if (nvme_tcp_ch_validate(rx, &rx->hdr.common, p) != 0) {
				*consumed = off;
				return NVME_TCP_RX_EV_ERROR;
			}
			rx->state = NVME_TCP_RX_AWAIT_PSH;
			rx->have = 0;
			break;
		case NVME_TCP_RX_AWAIT_PSH: {
			/* layout after the common header: header rest, header digest, padding */
			uint32_t rest = rx->hdr.common.hlen - CH_LEN;

			while (rx->have < rx->psh_len && off < len) {
				if (rx->have < rest) {
					chunk = USK_MIN(len - off, (size_t)(rest - rx->have));
					memcpy(rx->hdr.raw + CH_LEN + rx->have, buf + off, chunk);
				} else if (rx->have < rest + rx->hdgst_len) {
					chunk = USK_MIN(len - off,
							(size_t)(rest + rx->hdgst_len - rx->have));
					memcpy(rx->hdgst + (rx->have - rest), buf + off, chunk);
				} else {
					/* padding up to PDO: skipped */
					chunk = USK_MIN(len - off,
							(size_t)(rx->psh_len - rx->have));
				}
				rx->have += (uint32_t)chunk;
				off += chunk;
			}
			*consumed = off;
			if (rx->have < rx->psh_len) {
				return NVME_TCP_RX_EV_NEED_MORE;
			}
			return psh_done(rx);
		}
		case NVME_TCP_RX_AWAIT_DEST:
			/* the caller has not set a destination: nothing can be consumed */
			*consumed = off;
			return NVME_TCP_RX_EV_HEADER;
		case NVME_TCP_RX_AWAIT_PAYLOAD:
			off += payload_copy(rx, buf + off, len - off);
			*consumed = off;
			ev = payload_check(rx);
			return ev;
		case NVME_TCP_RX_ERROR:
		default:
			*consumed = off;
			return NVME_TCP_RX_EV_ERROR;
		}
	}
}
