/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the NVMe/TCP PDU receive state machine and header validator. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "usk/util.h"
#include "usk_internal/nvme_tcp_pdu.h"

static struct nvme_tcp_rx_params g_params;
static uint8_t g_dest[65536];
static uint8_t g_pdu[70000];

static void
params_reset(void)
{
	memset(&g_params, 0, sizeof(g_params));
	g_params.ic_done = true;
	g_params.max_icd = 4096;
	g_params.maxh2cdata = 131072;
}

/* Build a PDU into g_pdu: header of hlen (type set), optional hdgst, pad, data, ddgst. */
static size_t
build_pdu(uint8_t type, uint8_t hlen, bool hdgst, bool ddgst, uint8_t pad, const uint8_t *data,
	  uint32_t data_len)
{
	struct usk_nvme_tcp_common_pdu_hdr *ch = (void *)g_pdu;
	size_t off;

	memset(g_pdu, 0, hlen);
	ch->pdu_type = type;
	ch->hlen = hlen;
	ch->flags = (hdgst ? USK_NVME_TCP_CH_FLAGS_HDGSTF : 0) |
		    (ddgst && data_len ? USK_NVME_TCP_CH_FLAGS_DDGSTF : 0);
	off = hlen + (hdgst ? 4 : 0);
	if (data_len != 0) {
		off += pad;
		ch->pdo = (uint8_t)off;
	}
	if (type == USK_NVME_TCP_PDU_TYPE_H2C_DATA) {
		((struct usk_nvme_tcp_h2c_data_hdr *)g_pdu)->datal = data_len;
	}
	memset(g_pdu + hlen, 0, off - hlen);
	if (data_len != 0) {
		memcpy(g_pdu + off, data, data_len);
	}
	off += data_len;
	if (ddgst && data_len) {
		nvme_tcp_put_le32(g_pdu + off, usk_crc32c_update(data, data_len, ~0u) ^ ~0u);
		off += 4;
	}
	ch->plen = (uint32_t)off;
	if (hdgst) {
		nvme_tcp_put_le32(g_pdu + hlen, nvme_tcp_hdgst(g_pdu, hlen));
	}
	return off;
}

/*
 * Feed buf in chunks of step bytes (0 = all at once), giving g_dest as the payload destination.
 * Returns the number of PDUs completed, or -1 on error.
 */
static int
feed_all(struct nvme_tcp_rx *rx, const uint8_t *buf, size_t len, size_t step)
{
	size_t off = 0, c, n;
	int pdus = 0;
	enum nvme_tcp_rx_event ev;

	while (off < len || rx->state == NVME_TCP_RX_AWAIT_PAYLOAD) {
		n = step == 0 ? len - off : USK_MIN(step, len - off);
		ev = nvme_tcp_rx_feed(rx, &g_params, buf + off, n, &c);
		assert_true(c <= n);
		off += c;
		switch (ev) {
		case NVME_TCP_RX_EV_HEADER: {
			struct iovec iov = {g_dest, rx->data_len};

			assert_int_equal(nvme_tcp_rx_set_dest(rx, &iov, rx->data_len ? 1 : 0), 0);
			break;
		}
		case NVME_TCP_RX_EV_PDU:
			pdus++;
			break;
		case NVME_TCP_RX_EV_ERROR:
			return -1;
		case NVME_TCP_RX_EV_NEED_MORE:
			if (off == len) {
				return pdus;
			}
			break;
		}
	}
	return pdus;
}

static size_t
build_icreq(void)
{
	struct usk_nvme_tcp_ic_req *ic = (void *)g_pdu;

	memset(ic, 0, sizeof(*ic));
	ic->common.pdu_type = USK_NVME_TCP_PDU_TYPE_IC_REQ;
	ic->common.hlen = 128;
	ic->common.plen = 128;
	ic->dgst = USK_NVME_TCP_DGST_HDGST_ENABLE;
	ic->maxr2t = 3;
	return 128;
}

static void
test_icreq_valid_and_split(void **state)
{
	struct nvme_tcp_rx rx;
	size_t len, step;

	params_reset();
	g_params.ic_done = false;
	for (step = 0; step <= 129; step += (step < 10 ? 1 : 37)) {
		len = build_icreq();
		nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
		assert_int_equal(feed_all(&rx, g_pdu, len, step), 1);
		assert_int_equal(rx.hdr.ic_req.maxr2t, 3);
		assert_int_equal(rx.hdr.ic_req.dgst, USK_NVME_TCP_DGST_HDGST_ENABLE);
		assert_int_equal(rx.data_len, 0);
	}
}

static void
test_icreq_bad_fields(void **state)
{
	struct nvme_tcp_rx rx;
	size_t len;

	params_reset();
	g_params.ic_done = false;
	len = build_icreq();
	g_pdu[2] = 127; /* hlen */
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_INVALID_HEADER_FIELD);
	assert_int_equal(rx.fei, 2);

	len = build_icreq();
	((struct usk_nvme_tcp_ic_req *)g_pdu)->common.plen = 200;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_INVALID_HEADER_FIELD);
	assert_int_equal(rx.fei, 4);

	/* second ICReq is a sequence error */
	g_params.ic_done = true;
	len = build_icreq();
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR);
	/* errors are sticky */
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
}

static void
test_bad_types_and_sequence(void **state)
{
	static const uint8_t bad_types[] = {0x01, 0x03, 0x05, 0x07, 0x08, 0x09, 0x0a, 0xff};
	struct nvme_tcp_rx rx;
	size_t len, i;

	params_reset();
	for (i = 0; i < sizeof(bad_types); i++) {
		len = build_pdu(bad_types[i], 24, false, false, 0, NULL, 0);
		nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
		assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
		assert_int_equal(rx.fes, USK_NVME_TCP_FES_INVALID_HEADER_FIELD);
		assert_int_equal(rx.fei, 0);
		assert_non_null(rx.reason);
	}
	/* a CapsuleCmd before the ICReq */
	g_params.ic_done = false;
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, false, false, 0, NULL, 0);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR);
}

static void
test_capsule_no_data_digests(void **state)
{
	struct nvme_tcp_rx rx;
	size_t len;

	params_reset();
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, false, false, 0, NULL, 0);
	g_pdu[8] = 0x02; /* opcode read */
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), 1);
	assert_int_equal(rx.hdr.capsule_cmd.ccsqe.opc, 0x02);

	/* header digest negotiated and correct, byte by byte */
	g_params.hdgst = true;
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, true, false, 0, NULL, 0);
	assert_int_equal(len, 76);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 1), 1);

	/* corrupt one header byte: digest error */
	g_pdu[20] ^= 0x40;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_HDGST_ERROR);

	/* digest negotiated but flag missing */
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, false, false, 0, NULL, 0);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fei, 1);

	/* flag present but not negotiated */
	g_params.hdgst = false;
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, true, false, 0, NULL, 0);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_INVALID_HEADER_FIELD);
	assert_int_equal(rx.fei, 1);

	/* wrong hlen */
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 64, false, false, 0, NULL, 0);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fei, 2);
}

static void
test_capsule_in_capsule_data(void **state)
{
	uint8_t data[4096];
	struct nvme_tcp_rx rx;
	size_t len, i, steps[] = {0, 1, 3, 7, 71, 72, 73, 76, 77, 100, 1000, 4095};

	for (i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i * 7 + 3);
	}
	params_reset();
	g_params.hdgst = true;
	g_params.ddgst = true;
	for (i = 0; i < USK_COUNTOF(steps); i++) {
		len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, true, true, 0, data,
				sizeof(data));
		assert_int_equal(len, 72 + 4 + 4096 + 4);
		memset(g_dest, 0, sizeof(data));
		nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
		assert_int_equal(feed_all(&rx, g_pdu, len, steps[i]), 1);
		assert_int_equal(rx.data_len, 4096);
		assert_memory_equal(g_dest, data, sizeof(data));
	}
	/* data digest mismatch */
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, true, true, 0, data, sizeof(data));
	g_pdu[72 + 4 + 100] ^= 1;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_string_equal(rx.reason, "data digest mismatch");

	/* padding up to an aligned PDO (CPDA 7 = 32 bytes: pdo 96 = 72 + 4 + 20) */
	g_params.pda = 7;
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, true, true, 20, data, 512);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 5), 1);
	assert_memory_equal(g_dest, data, 512);
	/* misaligned pdo */
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, true, true, 4, data, 512);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fei, 3);
	g_params.pda = 0;
	/* pdo inside the header */
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, true, true, 0, data, 512);
	g_pdu[3] = 72;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fei, 3);

	/* more in-capsule data than allowed */
	g_params.max_icd = 1024;
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, true, true, 0, data, 2048);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED);
}

static void
test_h2c_data(void **state)
{
	static uint8_t data[8192];
	struct nvme_tcp_rx rx;
	size_t len;

	memset(data, 0xa5, sizeof(data));
	params_reset();
	g_params.ddgst = true;
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_H2C_DATA, 24, false, true, 0, data, sizeof(data));
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 1000), 1);
	assert_int_equal(rx.hdr.h2c_data.datal, 8192);

	/* datal disagrees with plen */
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_H2C_DATA, 24, false, true, 0, data, sizeof(data));
	((struct usk_nvme_tcp_h2c_data_hdr *)g_pdu)->datal = 4096;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);

	/* H2CData with no data */
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_H2C_DATA, 24, false, true, 0, NULL, 0);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fei, 4);

	/* larger than MAXH2CDATA */
	g_params.maxh2cdata = 4096;
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_H2C_DATA, 24, false, true, 0, data, sizeof(data));
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fes, USK_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED);

	/* plen shorter than the header */
	params_reset();
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_H2C_DATA, 24, false, false, 0, data, 16);
	((struct usk_nvme_tcp_common_pdu_hdr *)g_pdu)->plen = 10;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, len, 0), -1);
	assert_int_equal(rx.fei, 4);
}

static void
test_term_req(void **state)
{
	uint8_t data[200] = {0};
	struct nvme_tcp_rx rx;

	params_reset();
	build_pdu(USK_NVME_TCP_PDU_TYPE_H2C_TERM_REQ, 24, false, false, 0, data, 0);
	((struct usk_nvme_tcp_common_pdu_hdr *)g_pdu)->plen = 24 + 8;
	memset(g_pdu + 24, 0x11, 8);
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, 32, 0), 1);
	assert_int_equal(rx.data_len, 8);

	((struct usk_nvme_tcp_common_pdu_hdr *)g_pdu)->plen = 153;
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, g_pdu, 153, 0), -1);
	assert_int_equal(rx.fei, 4);
}

static void
test_many_pdus_one_buffer_and_direct_read(void **state)
{
	static uint8_t stream[16384];
	uint8_t data[1024];
	struct nvme_tcp_rx rx;
	struct iovec iov[8];
	size_t len, off = 0, c;
	int i, n;
	enum nvme_tcp_rx_event ev;

	params_reset();
	memset(data, 0x3c, sizeof(data));
	for (i = 0; i < 10; i++) {
		len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, false, false, 0,
				i % 2 ? data : NULL, i % 2 ? sizeof(data) : 0);
		memcpy(stream + off, g_pdu, len);
		off += len;
	}
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	assert_int_equal(feed_all(&rx, stream, off, 0), 10);

	/* direct read: header fed, payload placed by the caller in two steps */
	g_params.ddgst = true;
	len = build_pdu(USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 72, false, true, 0, data, sizeof(data));
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	ev = nvme_tcp_rx_feed(&rx, &g_params, g_pdu, 72, &c);
	assert_int_equal(ev, NVME_TCP_RX_EV_HEADER);
	assert_int_equal(c, 72);
	iov[0].iov_base = g_dest;
	iov[0].iov_len = 512;
	iov[1].iov_base = g_dest + 4096;
	iov[1].iov_len = 512;
	assert_int_equal(nvme_tcp_rx_set_dest(&rx, iov, 2), 0);
	assert_int_equal(nvme_tcp_rx_payload_remaining(&rx), 1028);
	n = nvme_tcp_rx_payload_iovs(&rx, iov, 8);
	assert_int_equal(n, 3);
	/* 700 bytes arrive */
	memcpy(iov[0].iov_base, g_pdu + 72, 512);
	memcpy(iov[1].iov_base, g_pdu + 72 + 512, 188);
	assert_int_equal(nvme_tcp_rx_payload_advance(&rx, 700), NVME_TCP_RX_EV_NEED_MORE);
	n = nvme_tcp_rx_payload_iovs(&rx, iov, 8);
	assert_int_equal(n, 2);
	assert_int_equal(iov[0].iov_len, 324);
	assert_int_equal(iov[1].iov_len, 4);
	memcpy(iov[0].iov_base, g_pdu + 72 + 700, 324);
	memcpy(iov[1].iov_base, g_pdu + 72 + 1024, 4);
	assert_int_equal(nvme_tcp_rx_payload_advance(&rx, 328), NVME_TCP_RX_EV_PDU);
	assert_memory_equal(g_dest + 4096, data, 512);

	/* a destination of the wrong size is refused */
	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	ev = nvme_tcp_rx_feed(&rx, &g_params, g_pdu, len, &c);
	assert_int_equal(ev, NVME_TCP_RX_EV_HEADER);
	iov[0].iov_base = g_dest;
	iov[0].iov_len = 100;
	assert_int_equal(nvme_tcp_rx_set_dest(&rx, iov, 1), -EINVAL);
	assert_int_equal(rx.state, NVME_TCP_RX_ERROR);
}

/* Random garbage must end in an error or a clean wait, never a crash or an overrun. */
static void
test_random_garbage(void **state)
{
	static uint8_t buf[4096];
	struct nvme_tcp_rx rx;
	int i, r;
	size_t j;

	srand(1234);
	for (i = 0; i < 2000; i++) {
		for (j = 0; j < sizeof(buf); j++) {
			buf[j] = (uint8_t)rand();
		}
		/* make many headers plausible: valid types and hlen */
		buf[0] = (uint8_t)(rand() % 8);
		params_reset();
		g_params.ic_done = rand() % 2;
		g_params.hdgst = rand() % 2;
		g_params.ddgst = rand() % 2;
		g_params.maxh2cdata = 32768;
		nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
		r = feed_all(&rx, buf, (size_t)(rand() % (int)sizeof(buf)), (size_t)(rand() % 64));
		assert_true(r >= -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_icreq_valid_and_split),
		cmocka_unit_test(test_icreq_bad_fields),
		cmocka_unit_test(test_bad_types_and_sequence),
		cmocka_unit_test(test_capsule_no_data_digests),
		cmocka_unit_test(test_capsule_in_capsule_data),
		cmocka_unit_test(test_h2c_data),
		cmocka_unit_test(test_term_req),
		cmocka_unit_test(test_many_pdus_one_buffer_and_direct_read),
		cmocka_unit_test(test_random_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
