/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target: the NVMe/TCP PDU receive path (header validation, digests, split reads). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "usk/util.h"
#include "../../../lib/nvmf/tcp_pdu.h"

/* payload destinations: in-capsule buffer and two halves of a "data buffer" */
static uint8_t g_icd[8192];
static uint8_t g_data[65536];
static uint8_t g_term[USK_NVME_TCP_TERM_REQ_ERROR_DATA_MAX_SIZE];

static int
set_dest(struct tcp_pdu_rx *rx)
{
	struct iovec iov[3];
	uint32_t len = rx->data_len;

	switch (rx->hdr.common.pdu_type) {
	case USK_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
		iov[0].iov_base = g_term;
		iov[0].iov_len = len;
		return tcp_pdu_rx_set_dest(rx, iov, len ? 1 : 0);
	case USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		iov[0].iov_base = g_icd;
		iov[0].iov_len = len;
		return tcp_pdu_rx_set_dest(rx, iov, len ? 1 : 0);
	case USK_NVME_TCP_PDU_TYPE_H2C_DATA:
		/* like a request buffer split over two pool buffers */
		if (len > sizeof(g_data)) {
			tcp_pdu_rx_fail(rx, USK_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 0, "too long");
			return -1;
		}
		iov[0].iov_base = g_data;
		iov[0].iov_len = len / 3;
		iov[1].iov_base = g_data + len / 3;
		iov[1].iov_len = len - len / 3;
		return tcp_pdu_rx_set_dest(rx, iov, 2);
	default:
		return tcp_pdu_rx_set_dest(rx, NULL, 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tcp_pdu_params p = {0};
	struct tcp_pdu_rx rx;
	struct iovec iov[TCP_PDU_MAX_DATA_IOV + 1];
	size_t off = 0, c, step;
	uint8_t ctl;
	bool direct;
	enum tcp_pdu_rx_event ev;

	if (size < 2) {
		return 0;
	}
	/* first two bytes choose the negotiated params and the read split */
	ctl = data[0];
	p.ic_done = ctl & 1;
	p.hdgst = ctl & 2;
	p.ddgst = ctl & 4;
	p.cpda = (ctl >> 3) & 3;
	p.max_icd = sizeof(g_icd);
	p.maxh2cdata = sizeof(g_data);
	step = data[1] == 0 ? SIZE_MAX : data[1];
	direct = ctl & 0x80;
	data += 2;
	size -= 2;

	tcp_pdu_rx_init(&rx);
	while (off < size || rx.state == TCP_PDU_RX_AWAIT_PAYLOAD) {
		size_t n = USK_MIN(step, size - off);

		if (direct && rx.state == TCP_PDU_RX_AWAIT_PAYLOAD && n > 0) {
			/* emulate readv straight into the payload destination */
			int cnt = tcp_pdu_rx_payload_iovs(&rx, iov, (int)USK_COUNTOF(iov));
			size_t got = usk_iov_from_buf(iov, cnt, data + off, n);

			off += got;
			ev = tcp_pdu_rx_payload_advance(&rx, got);
		} else {
			ev = tcp_pdu_rx_feed(&rx, &p, data + off, n, &c);
			off += c;
		}
		switch (ev) {
		case TCP_PDU_RX_EV_HEADER:
			if (rx.hdr.common.pdu_type == USK_NVME_TCP_PDU_TYPE_IC_REQ) {
				p.ic_done = true;
			}
			if (set_dest(&rx) != 0) {
				return 0;
			}
			break;
		case TCP_PDU_RX_EV_PDU:
			break;
		case TCP_PDU_RX_EV_ERROR:
			return 0;
		case TCP_PDU_RX_EV_NEED_MORE:
			if (off >= size) {
				return 0;
			}
			break;
		}
	}
	return 0;
}
