/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe/TCP PDU receive state machine and header validator, host side (pure, fuzzable). */
#include <errno.h>
#include <string.h>

#include "usk/util.h"
#include "nvme_tcp_pdu.h"

#define CH_LEN	     ((uint32_t)sizeof(struct usk_nvme_tcp_common_pdu_hdr))
#define FEI_PDU_TYPE offsetof(struct usk_nvme_tcp_common_pdu_hdr, pdu_type)
#define FEI_FLAGS    offsetof(struct usk_nvme_tcp_common_pdu_hdr, flags)
#define FEI_HLEN     offsetof(struct usk_nvme_tcp_common_pdu_hdr, hlen)
#define FEI_PDO	     offsetof(struct usk_nvme_tcp_common_pdu_hdr, pdo)
#define FEI_PLEN     offsetof(struct usk_nvme_tcp_common_pdu_hdr, plen)
#define HDR24	     24u

void
nvme_tcp_rx_init(struct nvme_tcp_rx *rx)
{
	rx->state = NVME_TCP_RX_AWAIT_CH;
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

/* A PDU with a fixed 24-byte header and no data (CapsuleResp, R2T). */
static int
validate_fixed(struct nvme_tcp_rx *rx, const struct usk_nvme_tcp_common_pdu_hdr *ch,
	       const struct nvme_tcp_rx_params *p, const char *what)
{
	if (ch->hlen != HDR24) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_HLEN, what);
	}
	if (check_hdgst_flag(rx, ch, p) != 0) {
		return -EPROTO;
	}
	if (ch->plen != HDR24 + rx->hdgst_len) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PLEN, what);
	}
	rx->psh_len = HDR24 + rx->hdgst_len - CH_LEN;
	return 0;
}

static int
validate_c2h_data(struct nvme_tcp_rx *rx, const struct usk_nvme_tcp_common_pdu_hdr *ch,
		  const struct nvme_tcp_rx_params *p)
{
	uint32_t align = ((uint32_t)p->hpda + 1) * 4;
	bool has_ddgst = (ch->flags & USK_NVME_TCP_CH_FLAGS_DDGSTF) != 0;

	if (ch->hlen != HDR24) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_HLEN,
			       "C2HData hlen is not 24");
	}
	if (check_hdgst_flag(rx, ch, p) != 0) {
		return -EPROTO;
	}
	if (has_ddgst != p->ddgst) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_FLAGS,
			       p->ddgst ? "data digest flag missing" :
					  "data digest flag set but not negotiated");
	}
	rx->ddgst_len = has_ddgst ? USK_NVME_TCP_DIGEST_LEN : 0;
	if (ch->pdo < HDR24 + rx->hdgst_len || ch->pdo % align != 0 ||
	    ch->pdo - HDR24 - rx->hdgst_len >= USK_NVME_TCP_PDO_MAX_ALIGN) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PDO,
			       "pdo out of range or misaligned");
	}
	if (ch->plen <= (uint32_t)ch->pdo + rx->ddgst_len) {
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PLEN,
			       "plen does not cover the data");
	}
	rx->pad_len = (uint16_t)(ch->pdo - HDR24 - rx->hdgst_len);
	rx->data_len = ch->plen - ch->pdo - rx->ddgst_len;
	rx->psh_len = (uint32_t)ch->pdo - CH_LEN;
	return 0;
}

int
nvme_tcp_ch_validate(struct nvme_tcp_rx *rx, const struct usk_nvme_tcp_common_pdu_hdr *ch,
		     const struct nvme_tcp_rx_params *p)
{
	rx->hdgst_len = 0;
	rx->ddgst_len = 0;
	rx->pad_len = 0;
	rx->data_len = 0;

	switch (ch->pdu_type) {
	case USK_NVME_TCP_PDU_TYPE_IC_RESP:
		if (p->ic_done) {
			return ch_fail(rx, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, "second ICResp");
		}
		if (ch->hlen != sizeof(struct usk_nvme_tcp_ic_resp)) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_HLEN,
				       "ICResp hlen is not 128");
		}
		if (ch->plen != sizeof(struct usk_nvme_tcp_ic_resp)) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PLEN,
				       "ICResp plen is not 128");
		}
		rx->psh_len = ch->hlen - CH_LEN;
		return 0;
	case USK_NVME_TCP_PDU_TYPE_C2H_TERM_REQ:
		if (ch->hlen != sizeof(struct usk_nvme_tcp_term_req_hdr)) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_HLEN,
				       "C2HTermReq hlen is not 24");
		}
		if (ch->plen < ch->hlen || ch->plen > USK_NVME_TCP_TERM_REQ_PDU_MAX_SIZE) {
			return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PLEN,
				       "C2HTermReq plen out of range");
		}
		rx->psh_len = ch->hlen - CH_LEN;
		rx->data_len = ch->plen - ch->hlen;
		return 0;
	case USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP:
	case USK_NVME_TCP_PDU_TYPE_C2H_DATA:
	case USK_NVME_TCP_PDU_TYPE_R2T:
		break;
	default:
		return ch_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD, FEI_PDU_TYPE,
			       "unexpected PDU type");
	}
	if (!p->ic_done) {
		return ch_fail(rx, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR, 0, "PDU before ICResp");
	}
	if (ch->pdu_type == USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP) {
		return validate_fixed(rx, ch, p, "CapsuleResp hlen/plen is not 24 (+ digest)");
	}
	if (ch->pdu_type == USK_NVME_TCP_PDU_TYPE_R2T) {
		return validate_fixed(rx, ch, p, "R2T hlen/plen is not 24 (+ digest)");
	}
	return validate_c2h_data(rx, ch, p);
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

	if (rx->hdgst_len != 0 &&
	    nvme_tcp_get_le32(rx->hdgst) != nvme_tcp_hdgst(rx->hdr.raw, ch->hlen)) {
		nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_HDGST_ERROR, 0, "header digest mismatch");
		return NVME_TCP_RX_EV_ERROR;
	}
	if (ch->pdu_type == USK_NVME_TCP_PDU_TYPE_C2H_DATA &&
	    rx->hdr.c2h_data.datal != rx->data_len) {
		nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_INVALID_HEADER_FIELD,
				 offsetof(struct usk_nvme_tcp_c2h_data_hdr, datal),
				 "C2HData datal does not match plen");
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
