/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the host side of NVMe/TCP, fed what a hostile controller may send.
 * Mode 0 (control byte bit 0 clear) drives the PDU parser and validator alone, with the input
 * split at fuzzer-chosen points. Mode 1 runs the real driver: usk_nvme_connect_async() to a
 * loopback listener whose accepted socket returns the input (optionally after a valid ICResp
 * and Connect response, so that the fuzzer starts deep in controller init: property reads,
 * Identify data through C2HData, R2Ts for unknown commands...) and is then closed. The driver
 * must fail that controller cleanly: no crash, no leak, no hang.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/log.h"
#include "usk/nvme.h"
#include "usk/sock.h"
#include "usk/util.h"
#include "usk_internal/nvme_tcp_pdu.h"

static uint8_t g_data[65536];

static void
fuzz_parser(const uint8_t *data, size_t size, uint8_t ctl)
{
	struct nvme_tcp_rx rx;
	struct nvme_tcp_rx_params p = {.ic_done = (ctl & 2) != 0,
				       .hdgst = (ctl & 4) != 0,
				       .ddgst = (ctl & 8) != 0,
				       .pda = 0};
	size_t off = 0, step = (ctl >> 4) + 1;

	nvme_tcp_rx_init(&rx, NVME_TCP_RX_HOST);
	while (off <= size) {
		size_t len = USK_MIN(step, size - off), used = 0;
		enum nvme_tcp_rx_event ev = nvme_tcp_rx_feed(&rx, &p, data + off, len, &used);

		off += used;
		if (ev == NVME_TCP_RX_EV_ERROR) {
			return;
		}
		if (ev == NVME_TCP_RX_EV_HEADER) {
			struct iovec iov[2];
			uint32_t l = rx.data_len;

			if (l > sizeof(g_data)) {
				nvme_tcp_rx_fail(&rx, USK_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE,
						 0, "too long");
				return;
			}
			/* two segments: the split must not matter */
			iov[0].iov_base = g_data;
			iov[0].iov_len = l / 2;
			iov[1].iov_base = g_data + l / 2;
			iov[1].iov_len = l - l / 2;
			if (nvme_tcp_rx_set_dest(&rx, iov, 2) != 0) {
				return;
			}
			continue;
		}
		if (ev == NVME_TCP_RX_EV_PDU) {
			if (rx.hdr.common.pdu_type == USK_NVME_TCP_PDU_TYPE_IC_RESP) {
				p.ic_done = true;
			}
			continue;
		}
		if (used == 0 && len == 0) {
			return;
		}
		if (ev == NVME_TCP_RX_EV_NEED_MORE && off == size) {
			return;
		}
	}
}

static void
attach_cb(void *ctx, const struct usk_nvme_transport_id *trid, struct usk_nvme_ctrlr *ctrlr,
	  const struct usk_nvme_ctrlr_opts *opts)
{
	/* The input managed a whole init: fine, let go of it. */
	usk_nvme_detach(ctrlr);
}

static struct usk_sock *g_listener;
static uint16_t g_port;

static void
prefix_handshake(uint8_t *buf, size_t *len)
{
	struct usk_nvme_tcp_ic_resp ic = {0};
	struct usk_nvme_tcp_rsp rsp = {0};

	ic.common.pdu_type = USK_NVME_TCP_PDU_TYPE_IC_RESP;
	ic.common.hlen = sizeof(ic);
	ic.common.plen = sizeof(ic);
	ic.maxh2cdata = 131072;
	memcpy(buf, &ic, sizeof(ic));
	/* Connect response: the Connect is the admin queue's first request (cid 0) */
	rsp.common.pdu_type = USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP;
	rsp.common.hlen = sizeof(rsp);
	rsp.common.plen = sizeof(rsp);
	rsp.rccqe.cid = 0;
	rsp.rccqe.cdw0 = 1; /* cntlid */
	memcpy(buf + sizeof(ic), &rsp, sizeof(rsp));
	*len = sizeof(ic) + sizeof(rsp);
}

static void
fuzz_driver(const uint8_t *data, size_t size, uint8_t ctl)
{
	struct usk_nvme_transport_id trid = {0};
	struct usk_nvme_ctrlr_opts opts;
	struct usk_nvme_probe_ctx *probe;
	struct usk_sock *peer = NULL;
	static uint8_t out[65536 + 256];
	size_t n = 0, sent = 0;
	bool done = false;

	usk_nvme_trid_populate_transport(&trid, USK_NVME_TRANSPORT_TCP);
	trid.adrfam = USK_NVMF_ADRFAM_IPV4;
	snprintf(trid.traddr, sizeof(trid.traddr), "127.0.0.1");
	snprintf(trid.trsvcid, sizeof(trid.trsvcid), "%u", g_port);
	snprintf(trid.subnqn, sizeof(trid.subnqn), "nqn.2016-06.io.usk:fuzz");
	usk_nvme_ctrlr_get_default_ctrlr_opts(&opts, sizeof(opts));
	opts.admin_timeout_ms = 200;
	opts.transport_connect_timeout_ms = 200;
	opts.keep_alive_timeout_ms = 0;
	opts.header_digest = (ctl & 4) != 0;
	opts.data_digest = (ctl & 8) != 0;

	if (ctl & 2) {
		prefix_handshake(out, &n);
	}
	size = USK_MIN(size, sizeof(out) - n);
	memcpy(out + n, data, size);
	n += size;

	probe = usk_nvme_connect_async(&trid, &opts, sizeof(opts), attach_cb, NULL);
	if (probe == NULL) {
		return;
	}
	/* The probe context is freed by the poll that returns 0: stop using it then. */
	for (int i = 0; i < 1000 && peer == NULL && !done; i++) {
		usk_sock_accept(g_listener, &peer);
		if (peer == NULL) {
			done = usk_nvme_probe_poll_async(probe) != -EAGAIN;
		}
	}
	/* Poll until the driver gives up on the controller; feed bytes as the socket takes them. */
	while (!done) {
		done = usk_nvme_probe_poll_async(probe) != -EAGAIN;
		if (peer != NULL && sent < n) {
			struct iovec iov = {out + sent, n - sent};
			ssize_t w = usk_sock_writev(peer, &iov, 1);

			if (w > 0) {
				sent += (size_t)w;
			}
		} else if (peer != NULL) {
			/* everything sent: close so the driver sees the end of the stream */
			usk_sock_close(&peer);
		}
	}
	/* A connection the driver made after our accept loop gave up: drain it. */
	while (usk_sock_accept(g_listener, &peer) == 0) {
		usk_sock_close(&peer);
	}
	usk_sock_close(&peer);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	uint8_t ctl;

	if (!init) {
		usk_log_set_print_level(USK_LOG_DISABLED);
		if (usk_sock_listen("127.0.0.1", 0, NULL, &g_listener) != 0 ||
		    usk_sock_getaddr(g_listener, NULL, 0, &g_port, NULL, 0, NULL) != 0) {
			abort();
		}
		init = true;
	}
	if (size < 1) {
		return 0;
	}
	ctl = data[0];
	if (ctl & 1) {
		fuzz_driver(data + 1, size - 1, ctl);
	} else {
		fuzz_parser(data + 1, size - 1, ctl);
	}
	return 0;
}
