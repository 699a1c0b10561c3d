/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the NVMe/TCP PDU receive path. Mode 1 drives the PDU state machine and
 * validator directly (header validation, digests, split and direct reads). Mode 2 (control byte
 * bit 6) sends the bytes over a loopback connection into the real TCP transport (tcp.c,
 * tcp_qpair.c: capsules, R2T/H2CData, C2H, fatal errors) with the target core mocked.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "usk/log.h"
#include "usk/sock.h"
#include "usk/util.h"
#include "../../../lib/nvmf/tcp_internal.h"
#include "../../unit/lib/nvmf/tcp/tcp_mock.h"

/* payload destinations: in-capsule buffer and two halves of a "data buffer" */
static uint8_t g_icd[8192];
static uint8_t g_data[65536];
static uint8_t g_term[USK_NVME_TCP_TERM_REQ_ERROR_DATA_MAX_SIZE];

static int
set_dest(struct nvme_tcp_rx *rx)
{
	struct iovec iov[3];
	uint32_t len = rx->data_len;

	switch (rx->hdr.common.pdu_type) {
	case USK_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
		iov[0].iov_base = g_term;
		iov[0].iov_len = len;
		return nvme_tcp_rx_set_dest(rx, iov, len ? 1 : 0);
	case USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		iov[0].iov_base = g_icd;
		iov[0].iov_len = len;
		return nvme_tcp_rx_set_dest(rx, iov, len ? 1 : 0);
	case USK_NVME_TCP_PDU_TYPE_H2C_DATA:
		/* like a request buffer split over two pool buffers */
		if (len > sizeof(g_data)) {
			nvme_tcp_rx_fail(rx, USK_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
					 "too long");
			return -1;
		}
		iov[0].iov_base = g_data;
		iov[0].iov_len = len / 3;
		iov[1].iov_base = g_data + len / 3;
		iov[1].iov_len = len - len / 3;
		return nvme_tcp_rx_set_dest(rx, iov, 2);
	default:
		return nvme_tcp_rx_set_dest(rx, NULL, 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- mode 2: the whole transport ---- */

static struct usk_nvmf_transport *g_t;
static struct usk_nvmf_transport_poll_group *g_tg;
static int g_port;
static uint8_t g_sink[65536];

static void
pump(struct usk_sock *client)
{
	if (g_accept_fn != NULL) {
		g_accept_fn(g_accept_arg);
	}
	g_ops->poll_group_poll(g_tg);
	if (g_msg_fn != NULL) {
		usk_msg_fn fn = g_msg_fn;

		g_msg_fn = NULL;
		fn(g_msg_arg);
	}
	if (client != NULL) {
		while (usk_sock_recv(client, g_sink, sizeof(g_sink)) > 0) {
		}
	}
}

static int
transport_init(void)
{
	struct usk_nvmf_transport_opts opts = {.opts_size = sizeof(opts)};
	struct usk_nvme_transport_id trid = {0};
	struct usk_sock *probe;
	char err[256];
	uint16_t port;

	/* fatal PDU errors are logged: expected here by the thousand */
	usk_log_set_print_level(USK_LOG_DISABLED);
	usk_log_set_level(USK_LOG_DISABLED);
	g_ops->opts_init(&opts);
	opts.io_unit_size = 8192;
	opts.max_io_size = 65536;
	opts.max_queue_depth = 16;
	opts.max_aq_depth = 16;
	if (g_ops->create(&opts, &g_t, err, sizeof(err)) != 0) {
		return -1;
	}
	g_t->opts = opts;
	g_t->ops = g_ops;
	if (usk_sock_listen("127.0.0.1", 0, NULL, &probe) != 0) {
		return -1;
	}
	usk_sock_getaddr(probe, NULL, 0, &port, NULL, 0, NULL);
	usk_sock_close(&probe);
	snprintf(trid.traddr, sizeof(trid.traddr), "127.0.0.1");
	snprintf(trid.trsvcid, sizeof(trid.trsvcid), "%u", port);
	if (g_ops->listen(g_t, &trid, NULL) != 0) {
		return -1;
	}
	g_port = port;
	g_tg = g_ops->poll_group_create(g_t, NULL);
	if (g_tg == NULL) {
		return -1;
	}
	g_tg->transport = g_t;
	return 0;
}

static void
transport_run(uint8_t ctl, const uint8_t *data, size_t size)
{
	struct usk_sock *c;
	struct usk_nvmf_qpair *qpair;
	struct usk_nvme_tcp_ic_req ic = {0};
	struct iovec iov;
	size_t off = 0;
	ssize_t n;
	int i;

	if (g_t == NULL && transport_init() != 0) {
		abort();
	}
	if (usk_sock_connect("127.0.0.1", g_port, NULL, &c) != 0) {
		return;
	}
	g_new_qpair = NULL;
	for (i = 0; i < 100000 && g_new_qpair == NULL; i++) {
		pump(NULL);
	}
	qpair = g_new_qpair;
	if (qpair == NULL || g_ops->poll_group_add(g_tg, qpair) != 0) {
		abort();
	}
	/* ctl bit 3 clear: as after a Connect with SQSIZE 31, else the one pre-Connect slot */
	if (!(ctl & 8) && g_ops->qpair_set_sq_size(qpair, 32) != 0) {
		abort();
	}
	if (ctl & 1) {
		/* a valid ICReq first, so the input reaches the command path */
		ic.common.pdu_type = USK_NVME_TCP_PDU_TYPE_IC_REQ;
		ic.common.hlen = sizeof(ic);
		ic.common.plen = sizeof(ic);
		ic.dgst = (ctl >> 1) & 3;
		iov.iov_base = &ic;
		iov.iov_len = sizeof(ic);
		usk_sock_writev(c, &iov, 1);
	}
	for (i = 0; i < 2000 && off < size; i++) {
		iov.iov_base = (void *)(data + off);
		iov.iov_len = size - off;
		n = usk_sock_writev(c, &iov, 1);
		if (n > 0) {
			off += (size_t)n;
		} else if (n != -EAGAIN) {
			break;
		}
		pump(c);
	}
	for (i = 0; i < 20; i++) {
		pump(c);
	}
	/* ctl bit 4: time runs out (R2T data and connect timeouts fire) */
	if ((ctl & 16) && g_timeout_fn != NULL) {
		g_ticks += 60 * 1000;
		g_timeout_fn(g_timeout_arg);
		pump(c);
	}
	usk_sock_close(&c);
	for (i = 0; i < 20; i++) {
		pump(NULL);
	}
	/* the core's side of the teardown */
	g_ops->poll_group_remove(g_tg, qpair);
	g_ops->qpair_fini(qpair, NULL, NULL);
	pump(NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nvme_tcp_rx_params p = {0};
	struct nvme_tcp_rx rx;
	struct iovec iov[NVME_TCP_RX_MAX_IOV + 1];
	size_t off = 0, c, step;
	uint8_t ctl;
	bool direct;
	enum nvme_tcp_rx_event ev;

	if (size < 2) {
		return 0;
	}
	/* first two bytes choose the negotiated params and the read split */
	ctl = data[0];
	if (ctl & 0x40) {
		transport_run(data[1], data + 2, size - 2);
		return 0;
	}
	p.ic_done = ctl & 1;
	p.hdgst = ctl & 2;
	p.ddgst = ctl & 4;
	p.pda = (ctl >> 3) & 3;
	p.max_icd = sizeof(g_icd);
	p.maxh2cdata = sizeof(g_data);
	step = data[1] == 0 ? SIZE_MAX : data[1];
	direct = ctl & 0x80;
	data += 2;
	size -= 2;

	nvme_tcp_rx_init(&rx, NVME_TCP_RX_TARGET);
	while (off < size || rx.state == NVME_TCP_RX_AWAIT_PAYLOAD) {
		size_t n = USK_MIN(step, size - off);

		if (direct && rx.state == NVME_TCP_RX_AWAIT_PAYLOAD && n > 0) {
			/* emulate readv straight into the payload destination */
			int cnt = nvme_tcp_rx_payload_iovs(&rx, iov, (int)USK_COUNTOF(iov));
			size_t got = usk_iov_from_buf(iov, cnt, data + off, n);

			off += got;
			ev = nvme_tcp_rx_payload_advance(&rx, got);
		} else {
			ev = nvme_tcp_rx_feed(&rx, &p, data + off, n, &c);
			off += c;
		}
		switch (ev) {
		case NVME_TCP_RX_EV_HEADER:
			if (rx.hdr.common.pdu_type == USK_NVME_TCP_PDU_TYPE_IC_REQ) {
				p.ic_done = true;
			}
			if (set_dest(&rx) != 0) {
				return 0;
			}
			break;
		case NVME_TCP_RX_EV_PDU:
			break;
		case NVME_TCP_RX_EV_ERROR:
			return 0;
		case NVME_TCP_RX_EV_NEED_MORE:
			if (off >= size) {
				return 0;
			}
			break;
		}
	}
	return 0;
}
