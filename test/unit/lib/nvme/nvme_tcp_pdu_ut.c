/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the host-side NVMe/TCP PDU parser: what a controller may send, and what not. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "usk/util.h"
#include "usk_internal/nvme_tcp_pdu.h"

static const struct nvme_tcp_rx_params g_plain = {.ic_done = true};

/* Feed buf in chunks of step bytes; set the destination at HEADER. Returns the last event. */
static enum nvme_tcp_rx_event
feed_all(struct nvme_tcp_rx *rx, const struct nvme_tcp_rx_params *p, const uint8_t *buf, size_t len,
	 size_t step, uint8_t *dest, size_t dest_len)
{
	size_t off = 0;

	for (;;) {
		size_t used = 0, n = USK_MIN(step, len - off);
		enum nvme_tcp_rx_event ev = nvme_tcp_rx_feed(rx, p, buf + off, n, &used);

		off += used;
		if (ev == NVME_TCP_RX_EV_HEADER) {
			struct iovec iov = {dest, rx->data_len};

			assert_true(rx->data_len <= dest_len);
			assert_int_equal(nvme_tcp_rx_set_dest(rx, &iov, rx->data_len ? 1 : 0), 0);
			continue;
		}
		if (ev != NVME_TCP_RX_EV_NEED_MORE || off == len) {
			return ev;
		}
	}
}

static size_t
build_rsp(uint8_t *buf, uint16_t cid, bool hdgst)
{
	struct usk_nvme_tcp_rsp *r = (void *)buf;

	memset(r, 0, sizeof(*r));
	r->common.pdu_type = USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP;
	r->common.hlen = sizeof(*r);
	r->common.flags = hdgst ? USK_NVME_TCP_CH_FLAGS_HDGSTF : 0;
	r->common.plen = sizeof(*r) + (hdgst ? 4 : 0);
	r->rccqe.cid = cid;
	if (hdgst) {
		nvme_tcp_put_le32(buf + sizeof(*r), nvme_tcp_hdgst(buf, sizeof(*r)));
	}
	return r->common.plen;
}

static void
test_capsule_resp(void **state)
{
	struct nvme_tcp_rx rx;
	uint8_t buf[64];
	size_t len = build_rsp(buf, 7, false);

	for (size_t step = 1; step <= len; step++) {
		nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
		assert_int_equal(feed_all(&rx, &g_plain, buf, len, step, NULL, 0),
				 NVME_TCP_RX_EV_PDU);
		assert_int_equal(rx.hdr.capsule_resp.rccqe.cid, 7);
	}
}

static void
test_header_digest(void **state)
{
	struct nvme_tcp_rx_params p = {.ic_done = true, .hdgst = true};
	struct nvme_tcp_rx rx;
	uint8_t buf[64];
	size_t len = build_rsp(buf, 3, true);

	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	assert_int_equal(feed_all(&rx, &p, buf, len, len, NULL, 0), NVME_TCP_RX_EV_PDU);
	/* a flipped bit in the header is caught by the digest */
	buf[16] ^= 1;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	assert_int_equal(feed_all(&rx, &p, buf, len, len, NULL, 0), NVME_TCP_RX_EV_ERROR);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_HDGST_ERROR);
	/* digest flag missing although negotiated */
	len = build_rsp(buf, 3, false);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	assert_int_equal(feed_all(&rx, &p, buf, len, len, NULL, 0), NVME_TCP_RX_EV_ERROR);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_INVALID_HEADER_FIELD);
	assert_int_equal(rx.fei, offsetof(struct usk_nvme_tcp_common_pdu_hdr, flags));
}

static size_t
build_c2h(uint8_t *buf, uint16_t cid, uint32_t datao, const uint8_t *data, uint32_t datal,
	  bool ddgst, uint8_t pad)
{
	struct usk_nvme_tcp_c2h_data_hdr *h = (void *)buf;
	uint32_t pdo = sizeof(*h) + pad;

	memset(buf, 0, pdo);
	h->common.pdu_type = USK_NVME_TCP_PDU_TYPE_C2H_DATA;
	h->common.hlen = sizeof(*h);
	h->common.flags = ddgst ? USK_NVME_TCP_CH_FLAGS_DDGSTF : 0;
	h->common.pdo = (uint8_t)pdo;
	h->common.plen = pdo + datal + (ddgst ? 4 : 0);
	h->cccid = cid;
	h->datao = datao;
	h->datal = datal;
	memcpy(buf + pdo, data, datal);
	if (ddgst) {
		nvme_tcp_put_le32(buf + pdo + datal, usk_crc32c_update(data, datal, ~0u) ^ ~0u);
	}
	return h->common.plen;
}

static void
test_c2h_data(void **state)
{
	struct nvme_tcp_rx_params p = {.ic_done = true, .ddgst = true};
	static uint8_t data[5000], buf[6000], dest[5000];
	struct nvme_tcp_rx rx;
	size_t len;

	for (size_t i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i * 7);
	}
	len = build_c2h(buf, 1, 0, data, sizeof(data), true, 8);
	for (size_t step = 1; step < 300; step += 37) {
		memset(dest, 0, sizeof(dest));
		nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
		assert_int_equal(feed_all(&rx, &p, buf, len, step, dest, sizeof(dest)),
				 NVME_TCP_RX_EV_PDU);
		assert_memory_equal(dest, data, sizeof(data));
	}
	/* corrupted payload: data digest mismatch */
	buf[sizeof(struct usk_nvme_tcp_c2h_data_hdr) + 8 + 100] ^= 0x80;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	assert_int_equal(feed_all(&rx, &p, buf, len, len, dest, sizeof(dest)),
			 NVME_TCP_RX_EV_ERROR);
	/* DATAL that does not match PLEN */
	len = build_c2h(buf, 1, 0, data, 100, false, 0);
	((struct usk_nvme_tcp_c2h_data_hdr *)buf)->datal = 99;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	assert_int_equal(feed_all(&rx, &g_plain, buf, len, len, dest, sizeof(dest)),
			 NVME_TCP_RX_EV_ERROR);
	/* PDO inside the header */
	len = build_c2h(buf, 1, 0, data, 100, false, 0);
	((struct usk_nvme_tcp_c2h_data_hdr *)buf)->common.pdo = 8;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	assert_int_equal(feed_all(&rx, &g_plain, buf, len, len, dest, sizeof(dest)),
			 NVME_TCP_RX_EV_ERROR);
	assert_int_equal(rx.fei, offsetof(struct usk_nvme_tcp_common_pdu_hdr, pdo));
}

static void
test_direct_read(void **state)
{
	static uint8_t data[20000], buf[21000], dest[20000];
	struct nvme_tcp_rx rx;
	struct iovec iov[8], d;
	size_t used = 0;
	int n;

	for (size_t i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i ^ (i >> 8));
	}
	build_c2h(buf, 2, 0, data, sizeof(data), false, 0);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	/* header + 10 payload bytes through feed, the rest "read" straight into the iovecs */
	assert_int_equal(nvme_tcp_rx_feed(&rx, &g_plain, buf, 24, &used), NVME_TCP_RX_EV_HEADER);
	d.iov_base = dest;
	d.iov_len = sizeof(dest);
	assert_int_equal(nvme_tcp_rx_set_dest(&rx, &d, 1), 0);
	assert_int_equal(nvme_tcp_rx_feed(&rx, &g_plain, buf + 24, 10, &used),
			 NVME_TCP_RX_EV_NEED_MORE);
	assert_int_equal(nvme_tcp_rx_payload_remaining(&rx), sizeof(data) - 10);
	n = nvme_tcp_rx_payload_iovs(&rx, iov, 8);
	assert_int_equal(n, 1);
	assert_ptr_equal(iov[0].iov_base, dest + 10);
	memcpy(iov[0].iov_base, buf + 34, iov[0].iov_len);
	assert_int_equal(nvme_tcp_rx_payload_advance(&rx, iov[0].iov_len), NVME_TCP_RX_EV_PDU);
	assert_memory_equal(dest, data, sizeof(data));
}

static void
test_r2t(void **state)
{
	struct nvme_tcp_rx rx;
	uint8_t buf[24] = {0};
	struct usk_nvme_tcp_r2t_hdr *r = (void *)buf;

	r->common.pdu_type = USK_NVME_TCP_PDU_TYPE_R2T;
	r->common.hlen = sizeof(*r);
	r->common.plen = sizeof(*r);
	r->cccid = 5;
	r->r2tl = 8192;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	assert_int_equal(feed_all(&rx, &g_plain, buf, sizeof(buf), 5, NULL, 0), NVME_TCP_RX_EV_PDU);
	assert_int_equal(rx.hdr.r2t.cccid, 5);
	assert_int_equal(rx.hdr.r2t.r2tl, 8192);
	/* an R2T carries no data: plen beyond the header is rejected */
	r->common.plen = sizeof(*r) + 4;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	assert_int_equal(feed_all(&rx, &g_plain, buf, sizeof(buf), sizeof(buf), NULL, 0),
			 NVME_TCP_RX_EV_ERROR);
	assert_int_equal(rx.fei, offsetof(struct usk_nvme_tcp_common_pdu_hdr, plen));
}

/* The side given to nvme_tcp_rx_init decides what may arrive: a CapsuleResp is for hosts only. */
static void
test_side(void **state)
{
	struct nvme_tcp_rx_params before_ic = {.ic_done = false};
	struct nvme_tcp_rx rx;
	uint8_t buf[64];
	size_t len = build_rsp(buf, 9, false);

	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, &g_plain, buf, len, len, NULL, 0), NVME_TCP_RX_EV_ERROR);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_INVALID_HEADER_FIELD);
	assert_int_equal(rx.fei, offsetof(struct usk_nvme_tcp_common_pdu_hdr, pdu_type));
	/* before the ICResp a host takes nothing else */
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	assert_int_equal(feed_all(&rx, &before_ic, buf, len, len, NULL, 0), NVME_TCP_RX_EV_ERROR);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR);
	assert_string_equal(rx.reason, "PDU before ICResp");
}

static void
test_rejected_types(void **state)
{
	struct nvme_tcp_rx rx;
	uint8_t buf[128] = {0};
	struct usk_nvme_tcp_common_pdu_hdr *ch = (void *)buf;
	const uint8_t bad[] = {USK_NVME_TCP_PDU_TYPE_IC_REQ,
			       USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD,
			       USK_NVME_TCP_PDU_TYPE_H2C_DATA,
			       USK_NVME_TCP_PDU_TYPE_H2C_TERM_REQ,
			       0x08,
			       0x7f};

	for (size_t i = 0; i < sizeof(bad); i++) {
		ch->pdu_type = bad[i];
		ch->hlen = 24;
		ch->plen = 24;
		nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
		assert_int_equal(feed_all(&rx, &g_plain, buf, 24, 24, NULL, 0),
				 NVME_TCP_RX_EV_ERROR);
		assert_int_equal(rx.fei, offsetof(struct usk_nvme_tcp_common_pdu_hdr, pdu_type));
	}
	/* CapsuleResp before ICResp, and a second ICResp */
	build_rsp(buf, 0, false);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	struct nvme_tcp_rx_params pre = {0};
	assert_int_equal(feed_all(&rx, &pre, buf, 24, 24, NULL, 0), NVME_TCP_RX_EV_ERROR);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR);
	memset(buf, 0, sizeof(buf));
	ch->pdu_type = USK_NVME_TCP_PDU_TYPE_IC_RESP;
	ch->hlen = 128;
	ch->plen = 128;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	assert_int_equal(feed_all(&rx, &pre, buf, 128, 128, NULL, 0), NVME_TCP_RX_EV_PDU);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	assert_int_equal(feed_all(&rx, &g_plain, buf, 128, 128, NULL, 0), NVME_TCP_RX_EV_ERROR);
	/* C2HTermReq larger than allowed */
	memset(buf, 0, sizeof(buf));
	ch->pdu_type = USK_NVME_TCP_PDU_TYPE_C2H_TERM_REQ;
	ch->hlen = 24;
	ch->plen = 153;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	assert_int_equal(feed_all(&rx, &g_plain, buf, 24, 24, NULL, 0), NVME_TCP_RX_EV_ERROR);
	assert_int_equal(rx.fei, offsetof(struct usk_nvme_tcp_common_pdu_hdr, plen));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capsule_resp),
		cmocka_unit_test(test_header_digest),
		cmocka_unit_test(test_c2h_data),
		cmocka_unit_test(test_direct_read),
		cmocka_unit_test(test_r2t),
		cmocka_unit_test(test_side),
		cmocka_unit_test(test_rejected_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
