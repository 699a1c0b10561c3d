/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe/TCP PDU receive state machine and header validator (pure, fuzzable). */
#include <errno.h>
#include <string.h>

#include "usk/util.h"
#include "tcp_pdu.h"

#define CH_LEN	     ((uint32_t)sizeof(struct usk_nvme_tcp_common_pdu_hdr))
#define FEI_PDU_TYPE offsetof(struct usk_nvme_tcp_common_pdu_hdr, pdu_type)
#define FEI_FLAGS    offsetof(struct usk_nvme_tcp_common_pdu_hdr, flags)
#define FEI_HLEN     offsetof(struct usk_nvme_tcp_common_pdu_hdr, hlen)
#define FEI_PDO	     offsetof(struct usk_nvme_tcp_common_pdu_hdr, pdo)
#define FEI_PLEN     offsetof(struct usk_nvme_tcp_common_pdu_hdr, plen)

void
tcp_pdu_rx_init(struct tcp_pdu_rx *rx)
{
	rx->state = TCP_PDU_RX_AWAIT_CH;
	rx->have = 0;
	rx->fes = 0;
	rx->fei = 0;
	rx->reason = NULL;
}

void
tcp_pdu_rx_fail(struct tcp_pdu_rx *rx, uint16_t fes, uint32_t fei, const char *reason)
{
	rx->state = TCP_PDU_RX_ERROR;
	rx->fes = fes;
	rx->fei = fei;
	rx->reason = reason;
}

static int
ch_fail(struct tcp_pdu_rx *rx, uint16_t fes, uint32_t fei, const char *reason)
{
	tcp_pdu_rx_fail(rx, fes, fei, reason);
	return -EPROTO;
}

const char *
tcp_pdu_type_name(uint8_t type)
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

/*
 * Digest-carrying PDUs (CapsuleCmd, H2CData): HDGSTF must match the negotiated header digest;
 * DDGSTF must match the negotiated data digest when there is data. pdo locates the data.
 */
static int
validate_data_pdu(struct tcp_pdu_rx *rx, const struct usk_nvme_tcp_common_pdu_hdr *ch,
		  const struct tcp_pdu_params *p, bool data_required)
{
	uint32_t hlen = ch->hlen, plen = ch->plen, align;
	bool has_hdgst = (ch->flags & USK_NVME_TCP_CH_FLAGS_HDGSTF) != 0;
	bool has_ddgst = (ch->flags & USK_NVME_TCP_CH_FLAGS_DDGSTF) != 0;

	if (has_hdgst != p->hdgst) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_FLAGS,
			       p->hdgst ? "header digest flag missing" :
					  "header digest flag set but not negotiated");
	}
	rx->hdgst_len = has_hdgst ? USK_NVME_TCP_DIGEST_LEN : 0;
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
	align = ((uint32_t)p->cpda + 1) * 4;
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

int
tcp_pdu_ch_validate(struct tcp_pdu_rx *rx, const struct usk_nvme_tcp_common_pdu_hdr *ch,
		    const struct tcp_pdu_params *p)
{
	int rc;

	rx->hdgst_len = 0;
	rx->ddgst_len = 0;
	rx->pad_len = 0;
	rx->data_len = 0;

	switch (ch->pdu_type) {
	case USK_NVME_TCP_PDU_TYPE_IC_REQ:
		if (p->ic_done) {
			return ch_fail(rx, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0,
				       "ICReq after connection initialization");
		}
		if (ch->hlen != sizeof(struct usk_nvme_tcp_ic_req)) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_HLEN,
				       "ICReq hlen is not 128");
		}
		if (ch->plen != sizeof(struct usk_nvme_tcp_ic_req)) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PLEN,
				       "ICReq plen is not 128");
		}
		rx->psh_len = ch->hlen - CH_LEN;
		return 0;
	case USK_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
		if (ch->hlen != sizeof(struct usk_nvme_tcp_term_req_hdr)) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_HLEN,
				       "H2CTermReq hlen is not 24");
		}
		if (ch->plen < ch->hlen || ch->plen > USK_NVME_TCP_TERM_REQ_PDU_MAX_SIZE) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PLEN,
				       "H2CTermReq plen out of range");
		}
		rx->psh_len = ch->hlen - CH_LEN;
		rx->data_len = ch->plen - ch->hlen;
		return 0;
	case USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
	case USK_NVME_TCP_PDU_TYPE_H2C_DATA:
		break;
	default:
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PDU_TYPE,
			       "unexpected PDU type");
	}

	if (!p->ic_done) {
		return ch_fail(rx, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, "PDU before ICReq");
	}
	if (ch->pdu_type == USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD) {
		if (ch->hlen != sizeof(struct usk_nvme_tcp_cmd)) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_HLEN,
				       "CapsuleCmd hlen is not 72");
		}
		rc = validate_data_pdu(rx, ch, p, false);
		if (rc == 0 && rx->data_len > p->max_icd) {
			return ch_fail(rx, USK_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0,
				       "in-capsule data larger than in_capsule_data_size");
		}
		return rc;
	}
	if (ch->hlen != sizeof(struct usk_nvme_tcp_h2c_data_hdr)) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_HLEN,
			       "H2CData hlen is not 24");
	}
	rc = validate_data_pdu(rx, ch, p, true);
	if (rc == 0 && rx->data_len > p->maxh2cdata) {
		return ch_fail(rx, USK_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0,
			       "H2CData larger than MAXH2CDATA");
	}
	return rc;
}

uint32_t
tcp_pdu_hdgst(const void *hdr, uint32_t hlen)
{
	return usk_crc32c_update(hdr, hlen, ~0u) ^ ~0u;
}

/* Header fully received: check the header digest and type-specific fields. */
static enum tcp_pdu_rx_event
psh_done(struct tcp_pdu_rx *rx)
{
	const struct usk_nvme_tcp_common_pdu_hdr *ch = &rx->hdr.common;

	if (rx->hdgst_len != 0 &&
	    tcp_pdu_get_le32(rx->hdgst) != tcp_pdu_hdgst(rx->hdr.raw, ch->hlen)) {
		tcp_pdu_rx_fail(rx, USK_NVME_TCP_FES_HDGST_ERROR, 0, "header digest mismatch");
		return TCP_PDU_RX_EV_ERROR;
	}
	if (ch->pdu_type == USK_NVME_TCP_PDU_TYPE_H2C_DATA &&
	    rx->hdr.h2c_data.datal != rx->data_len) {
		tcp_pdu_rx_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD,
				offsetof(struct usk_nvme_tcp_h2c_data_hdr, datal),
				"H2CData datal does not match plen");
		return TCP_PDU_RX_EV_ERROR;
	}
	rx->state = TCP_PDU_RX_AWAIT_DEST;
	rx->iovcnt = 0;
	return TCP_PDU_RX_EV_HEADER;
}

int
tcp_pdu_rx_set_dest(struct tcp_pdu_rx *rx, const struct iovec *iov, int iovcnt)
{
	size_t total = 0;
	int i, n = 0;

	if (rx->state != TCP_PDU_RX_AWAIT_DEST || iovcnt < 0 || iovcnt > TCP_PDU_MAX_DATA_IOV) {
		tcp_pdu_rx_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, 0,
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
		tcp_pdu_rx_fail(rx, USK_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
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
	rx->state = TCP_PDU_RX_AWAIT_PAYLOAD;
	return 0;
}

uint32_t
tcp_pdu_rx_payload_remaining(const struct tcp_pdu_rx *rx)
{
	if (rx->state != TCP_PDU_RX_AWAIT_PAYLOAD) {
		return 0;
	}
	return rx->data_len - rx->data_have + rx->ddgst_len - rx->have;
}

int
tcp_pdu_rx_payload_iovs(struct tcp_pdu_rx *rx, struct iovec *iov, int max)
{
	int n = 0, i;

	if (rx->state != TCP_PDU_RX_AWAIT_PAYLOAD) {
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

static enum tcp_pdu_rx_event
payload_check(struct tcp_pdu_rx *rx)
{
	if (rx->data_have < rx->data_len || rx->have < rx->ddgst_len) {
		return TCP_PDU_RX_EV_NEED_MORE;
	}
	if (rx->ddgst_len != 0 && tcp_pdu_get_le32(rx->ddgst) != (rx->data_crc ^ ~0u)) {
		/* NVMe/TCP has no FES for a data digest error; SPDK and Linux use 0x03 too */
		tcp_pdu_rx_fail(rx, USK_NVME_TCP_FES_HDGST_ERROR, 0, "data digest mismatch");
		return TCP_PDU_RX_EV_ERROR;
	}
	rx->state = TCP_PDU_RX_DONE;
	return TCP_PDU_RX_EV_PDU;
}

enum tcp_pdu_rx_event
tcp_pdu_rx_payload_advance(struct tcp_pdu_rx *rx, size_t n)
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
payload_copy(struct tcp_pdu_rx *rx, const uint8_t *buf, size_t len)
{
	size_t used = 0;

	while (used < len && rx->iov_idx < rx->iovcnt) {
		struct iovec *v = &rx->iov[rx->iov_idx];
		size_t chunk = USK_MIN(len - used, v->iov_len - rx->iov_off);

		memcpy((uint8_t *)v->iov_base + rx->iov_off, buf + used, chunk);
		used += chunk;
		/* advance also folds the bytes into the running data digest */
		tcp_pdu_rx_payload_advance(rx, chunk);
	}
	if (used < len && rx->have < rx->ddgst_len) {
		size_t chunk = USK_MIN(len - used, (size_t)(rx->ddgst_len - rx->have));

		memcpy(rx->ddgst + rx->have, buf + used, chunk);
		rx->have += (uint32_t)chunk;
		used += chunk;
	}
	return used;
}

enum tcp_pdu_rx_event
tcp_pdu_rx_feed(struct tcp_pdu_rx *rx, const struct tcp_pdu_params *p, const uint8_t *buf,
		size_t len, size_t *consumed)
{
	size_t off = 0, chunk;
	enum tcp_pdu_rx_event ev;

	for (;;) {
		switch (rx->state) {
		case TCP_PDU_RX_DONE:
			rx->state = TCP_PDU_RX_AWAIT_CH;
			rx->have = 0;
		/* fallthrough */
		case TCP_PDU_RX_AWAIT_CH:
			chunk = USK_MIN(len - off, (size_t)(CH_LEN - rx->have));
			memcpy(rx->hdr.raw + rx->have, buf + off, chunk);
			rx->have += (uint32_t)chunk;
			off += chunk;
			if (rx->have < CH_LEN) {
				*consumed = off;
				return TCP_PDU_RX_EV_NEED_MORE;
			}
			if (tcp_pdu_ch_validate(rx, &rx->hdr.common, p) != 0) {
				*consumed = off;
				return TCP_PDU_RX_EV_ERROR;
			}
			rx->state = TCP_PDU_RX_AWAIT_PSH;
			rx->have = 0;
			break;
		case TCP_PDU_RX_AWAIT_PSH: {
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
				return TCP_PDU_RX_EV_NEED_MORE;
			}
			return psh_done(rx);
		}
		case TCP_PDU_RX_AWAIT_DEST:
			/* the caller has not set a destination: nothing can be consumed */
			*consumed = off;
			return TCP_PDU_RX_EV_HEADER;
		case TCP_PDU_RX_AWAIT_PAYLOAD:
			off += payload_copy(rx, buf + off, len - off);
			*consumed = off;
			ev = payload_check(rx);
			return ev;
		case TCP_PDU_RX_ERROR:
		default:
			*consumed = off;
			return TCP_PDU_RX_EV_ERROR;
		}
	}
}
