/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP transport over real loopback sockets with the target core mocked: ICReq/ICResp,
 * in-capsule writes, R2T + H2CData, C2HData (SUCCESS flag and digests), buffer-pool exhaustion,
 * fatal errors answered with C2HTermReq, connection teardown.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "usk/env.h"
#include "usk/nvmf.h"
#include "usk/nvmf_transport.h"
#include "usk/sock.h"
#include "usk/thread.h"
#include "usk/util.h"
#include "../../../../../lib/nvmf/tcp_internal.h"

#include "tcp_mock.h"

/* ------------------------------------------------------------------ test client */

struct env {
	struct usk_nvmf_transport *t;
	struct usk_nvmf_transport_poll_group *tg;
	struct usk_nvme_transport_id trid;
	int port;
};

struct conn {
	struct usk_sock *sock;
	struct usk_nvmf_qpair *qpair;
	bool hdgst, ddgst;
	uint8_t buf[300000];
	uint32_t len;
};

static struct env g_env;
static uint8_t g_hpda;
static int g_client_rcvbuf;
static uint32_t g_sq_entries = 32;
static json_t *g_extra_spec; /* more transport-specific options for env_setup */

static void
pump(void)
{
	if (g_accept_fn != NULL) {
		g_accept_fn(g_accept_arg);
	}
	if (g_env.tg != NULL) {
		g_ops->poll_group_poll(g_env.tg);
	}
	if (g_msg_fn != NULL) {
		usk_msg_fn fn = g_msg_fn;

		g_msg_fn = NULL;
		fn(g_msg_arg);
	}
}

static void
env_setup(uint32_t icd, bool c2h_success)
{
	struct usk_nvmf_transport_opts opts = {.opts_size = sizeof(opts)};
	struct usk_sock *probe;
	json_t *spec = json_pack("{s:b}", "c2h_success", c2h_success);

	if (g_extra_spec != NULL) {
		json_object_update(spec, g_extra_spec);
	}
	char err[256];
	uint16_t port;

	assert_non_null(g_ops);
	g_ops->opts_init(&opts);
	opts.in_capsule_data_size = icd;
	opts.io_unit_size = 16384;
	opts.transport_specific = spec;
	assert_int_equal(g_ops->create(&opts, &g_env.t, err, sizeof(err)), 0);
	json_decref(spec);
	opts.transport_specific = NULL;
	g_env.t->opts = opts;
	g_env.t->ops = g_ops;
	/* a free port */
	assert_int_equal(usk_sock_listen("127.0.0.1", 0, NULL, &probe), 0);
	usk_sock_getaddr(probe, NULL, 0, &port, NULL, 0, NULL);
	usk_sock_close(&probe);
	memset(&g_env.trid, 0, sizeof(g_env.trid));
	snprintf(g_env.trid.traddr, sizeof(g_env.trid.traddr), "127.0.0.1");
	snprintf(g_env.trid.trsvcid, sizeof(g_env.trid.trsvcid), "%u", port);
	g_env.port = port;
	assert_int_equal(g_ops->listen(g_env.t, &g_env.trid, NULL), 0);
	g_env.tg = g_ops->poll_group_create(g_env.t, NULL);
	assert_non_null(g_env.tg);
	g_env.tg->transport = g_env.t;
}

static void
env_teardown(void)
{
	g_ops->poll_group_destroy(g_env.tg);
	g_env.tg = NULL;
	g_ops->stop_listen(g_env.t, &g_env.trid);
	assert_int_equal(g_ops->destroy(g_env.t, NULL, NULL), 0);
	assert_int_equal(g_pool_avail, 64);
}

static void
conn_send(struct conn *c, const void *buf, size_t len)
{
	struct iovec iov = {(void *)buf, len};
	ssize_t n;

	while (iov.iov_len > 0) {
		n = usk_sock_writev(c->sock, &iov, 1);
		if (n == -EAGAIN) {
			pump();
			continue;
		}
		assert_true(n > 0);
		iov.iov_base = (uint8_t *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
	}
}

/* Send a PDU: header (hlen bytes in hdr), optional data; digests per connection. */
static void
conn_send_pdu(struct conn *c, void *hdr, const void *data, uint32_t dlen)
{
	struct usk_nvme_tcp_common_pdu_hdr *ch = hdr;
	uint8_t dg[4];
	bool hd = c->hdgst && ch->pdu_type != USK_NVME_TCP_PDU_TYPE_IC_REQ;
	bool dd = c->ddgst && dlen && ch->pdu_type != USK_NVME_TCP_PDU_TYPE_IC_REQ;

	ch->flags |= (hd ? USK_NVME_TCP_CH_FLAGS_HDGSTF : 0) |
		     (dd ? USK_NVME_TCP_CH_FLAGS_DDGSTF : 0);
	ch->pdo = dlen ? (uint8_t)(ch->hlen + (hd ? 4 : 0)) : 0;
	ch->plen = ch->hlen + (hd ? 4 : 0) + dlen + (dd ? 4 : 0);
	conn_send(c, hdr, ch->hlen);
	if (hd) {
		nvme_tcp_put_le32(dg, nvme_tcp_hdgst(hdr, ch->hlen));
		conn_send(c, dg, 4);
	}
	if (dlen) {
		conn_send(c, data, dlen);
		if (dd) {
			nvme_tcp_put_le32(dg, usk_crc32c_update(data, dlen, ~0u) ^ ~0u);
			conn_send(c, dg, 4);
		}
	}
}

/* Receive one whole PDU into c->buf (pumping the target meanwhile). Returns 0, or -1 on EOF. */
static int
conn_recv_pdu(struct conn *c)
{
	uint32_t need = 8;
	ssize_t n;
	int spins;

	c->len = 0;
	for (spins = 0; spins < 200000; spins++) {
		if (c->len >= 8) {
			need = ((struct usk_nvme_tcp_common_pdu_hdr *)c->buf)->plen;
			assert_true(need <= sizeof(c->buf));
		}
		if (c->len >= need) {
			return 0;
		}
		pump();
		n = usk_sock_recv(c->sock, c->buf + c->len, need - c->len);
		if (n == -ECONNRESET) {
			return -1;
		}
		if (n > 0) {
			c->len += (uint32_t)n;
		} else {
			assert_int_equal(n, -EAGAIN);
			usleep(10);
		}
	}
	fail_msg("no PDU from the target");
	return -1;
}

static void
conn_open(struct conn *c, bool hdgst, bool ddgst)
{
	struct usk_nvme_tcp_ic_req ic = {0};
	const struct usk_nvme_tcp_ic_resp *rsp = (const void *)c->buf;
	struct usk_sock_opts sopts;
	int i;

	memset(c, 0, offsetof(struct conn, buf));
	c->hdgst = hdgst;
	c->ddgst = ddgst;
	usk_sock_get_default_opts(&sopts, sizeof(sopts));
	sopts.recv_buf_size = g_client_rcvbuf;
	assert_int_equal(usk_sock_connect("127.0.0.1", g_env.port, &sopts, &c->sock), 0);
	g_new_qpair = NULL;
	for (i = 0; i < 10000 && g_new_qpair == NULL; i++) {
		pump();
		usleep(10);
	}
	assert_non_null(g_new_qpair);
	c->qpair = g_new_qpair;
	assert_int_equal(g_ops->poll_group_add(g_env.tg, c->qpair), 0);
	ic.common.pdu_type = USK_NVME_TCP_PDU_TYPE_IC_REQ;
	ic.common.hlen = sizeof(ic);
	ic.dgst = (hdgst ? 1 : 0) | (ddgst ? 2 : 0);
	ic.hpda = g_hpda;
	conn_send_pdu(c, &ic, NULL, 0);
	assert_int_equal(conn_recv_pdu(c), 0);
	assert_int_equal(rsp->common.pdu_type, USK_NVME_TCP_PDU_TYPE_IC_RESP);
	assert_int_equal(rsp->common.plen, 128);
	assert_int_equal(rsp->dgst, ic.dgst);
	assert_int_equal(rsp->maxh2cdata, 131072);
	assert_int_equal(rsp->pfv, 0);
	/* what the core does on Connect: these tests then send commands without one */
	if (g_sq_entries != 0) {
		assert_int_equal(g_ops->qpair_set_sq_size(c->qpair, g_sq_entries), 0);
	}
}

/* The core's part of a teardown: remove from the group and fini (free by message). */
static void
conn_core_teardown(struct conn *c)
{
	if (c->qpair != NULL) {
		g_ops->poll_group_remove(g_env.tg, c->qpair);
		g_ops->qpair_fini(c->qpair, NULL, NULL);
		pump();
		c->qpair = NULL;
	}
	usk_sock_close(&c->sock);
}

static void
make_cmd(struct usk_nvme_tcp_cmd *pdu, uint8_t opc, uint16_t cid, uint32_t lba, uint32_t len,
	 bool icd)
{
	memset(pdu, 0, sizeof(*pdu));
	pdu->common.pdu_type = USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD;
	pdu->common.hlen = sizeof(*pdu);
	pdu->ccsqe.opc = opc;
	pdu->ccsqe.cid = cid;
	pdu->ccsqe.nsid = 1;
	pdu->ccsqe.cdw10 = lba;
	pdu->ccsqe.dptr.sgl1.unkeyed.length = len;
	pdu->ccsqe.dptr.sgl1.unkeyed.type = icd ? USK_NVME_SGL_TYPE_DATA_BLOCK :
						  USK_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
	pdu->ccsqe.dptr.sgl1.unkeyed.subtype = icd ? USK_NVME_SGL_SUBTYPE_OFFSET :
						     USK_NVME_SGL_SUBTYPE_TRANSPORT;
}

static void
expect_resp(struct conn *c, uint16_t cid, uint16_t status)
{
	const struct usk_nvme_tcp_rsp *r = (const void *)c->buf;

	assert_int_equal(conn_recv_pdu(c), 0);
	assert_int_equal(r->common.pdu_type, USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	assert_int_equal(r->common.plen, 24 + (c->hdgst ? 4 : 0));
	if (c->hdgst) {
		assert_int_equal(nvme_tcp_get_le32(c->buf + 24), nvme_tcp_hdgst(c->buf, 24));
	}
	assert_int_equal(r->rccqe.cid, cid);
	assert_int_equal(r->rccqe.status_raw >> 1, status);
}

/* Read len bytes at lba; check C2HData (+ digests) against g_disk. Returns whether SUCCESS was set.
 */
static bool
do_read(struct conn *c, uint16_t cid, uint32_t lba, uint32_t len)
{
	struct usk_nvme_tcp_cmd cmd;
	const struct usk_nvme_tcp_c2h_data_hdr *h = (const void *)c->buf;
	bool success;

	make_cmd(&cmd, 0x02, cid, lba, len, false);
	conn_send_pdu(c, &cmd, NULL, 0);
	assert_int_equal(conn_recv_pdu(c), 0);
	assert_int_equal(h->common.pdu_type, USK_NVME_TCP_PDU_TYPE_C2H_DATA);
	assert_int_equal(h->cccid, cid);
	assert_int_equal(h->datal, len);
	assert_int_equal(h->datao, 0);
	assert_true(h->common.flags & USK_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU);
	assert_int_equal(h->common.pdo,
			 USK_ALIGN_CEIL(24u + (c->hdgst ? 4 : 0), (g_hpda + 1u) * 4));
	assert_int_equal(h->common.plen, h->common.pdo + len + (c->ddgst ? 4 : 0));
	assert_memory_equal(c->buf + h->common.pdo, g_disk + lba * 512, len);
	if (c->ddgst) {
		assert_true(h->common.flags & USK_NVME_TCP_CH_FLAGS_DDGSTF);
		assert_int_equal(nvme_tcp_get_le32(c->buf + h->common.pdo + len),
				 usk_crc32c_update(c->buf + h->common.pdo, len, ~0u) ^ ~0u);
	}
	success = h->common.flags & USK_NVME_TCP_C2H_DATA_FLAGS_SUCCESS;
	if (!success) {
		expect_resp(c, cid, 0);
	}
	return success;
}

/* ------------------------------------------------------------------ tests */

static void
test_opts_validation(void **state)
{
	struct usk_nvmf_transport_opts opts = {.opts_size = sizeof(opts)};
	struct usk_nvmf_transport *t;
	json_t *spec;
	char err[256];

	g_ops->opts_init(&opts);
	assert_int_equal(opts.max_queue_depth, 128);
	assert_int_equal(opts.in_capsule_data_size, 4096);
	assert_int_equal(opts.max_io_size, 131072);
	assert_int_equal(opts.io_unit_size, 131072);
	assert_int_equal(opts.num_shared_buffers, 511);
	assert_int_equal(opts.buf_cache_size, 32);
	opts.io_unit_size = 1024;
	assert_int_equal(g_ops->create(&opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "io_unit_size"));
	g_ops->opts_init(&opts);
	opts.in_capsule_data_size = 1000;
	assert_int_equal(g_ops->create(&opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "in_capsule_data_size"));
	g_ops->opts_init(&opts);
	spec = json_pack("{s:i}", "sock_priority", 99);
	opts.transport_specific = spec;
	assert_int_equal(g_ops->create(&opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "sock_priority"));
	json_decref(spec);
	spec = json_pack("{s:s}", "c2h_success", "yes");
	opts.transport_specific = spec;
	assert_int_equal(g_ops->create(&opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "c2h_success"));
	json_decref(spec);
	spec = json_pack("{s:s}", "sock_impl", "rdma");
	opts.transport_specific = spec;
	assert_int_equal(g_ops->create(&opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "sock_impl"));
	json_decref(spec);
	/* a transport's own backend beats the default and is reported */
	spec = json_pack("{s:s}", "sock_impl", "posix");
	opts.transport_specific = spec;
	assert_int_equal(g_ops->create(&opts, &t, err, sizeof(err)), 0);
	json_decref(spec);
	opts.transport_specific = NULL;
	t->opts = opts;
	t->ops = g_ops;
	{
		struct usk_nvmf_transport_poll_group *tg = g_ops->poll_group_create(t, NULL);
		json_t *st = json_object(), *params = json_object();

		assert_non_null(tg);
		tg->transport = t;
		g_ops->poll_group_dump_stat(tg, st);
		assert_string_equal(json_string_value(json_object_get(st, "sock_impl")), "posix");
		g_ops->dump_opts(t, params);
		assert_string_equal(json_string_value(json_object_get(params, "sock_impl")),
				    "posix");
		json_decref(st);
		json_decref(params);
		g_ops->poll_group_destroy(tg);
	}
	assert_int_equal(g_ops->destroy(t, NULL, NULL), 0);
}

static void
test_io_digests(void **state)
{
	static struct conn c;
	static uint8_t data[65536];
	struct usk_nvme_tcp_cmd cmd;
	struct usk_nvme_tcp_h2c_data_hdr h2c;
	const struct usk_nvme_tcp_r2t_hdr *r2t = (const void *)c.buf;
	uint32_t i;

	env_setup(4096, true);
	conn_open(&c, true, true);
	for (i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i * 13 + 1);
	}
	/* 4 KiB in-capsule write */
	make_cmd(&cmd, 0x01, 1, 8, 4096, true);
	conn_send_pdu(&c, &cmd, data, 4096);
	expect_resp(&c, 1, 0);
	assert_memory_equal(g_disk + 8 * 512, data, 4096);

	/* 64 KiB write: R2T, then two H2CData PDUs */
	make_cmd(&cmd, 0x01, 2, 100, sizeof(data), false);
	conn_send_pdu(&c, &cmd, NULL, 0);
	assert_int_equal(conn_recv_pdu(&c), 0);
	assert_int_equal(r2t->common.pdu_type, USK_NVME_TCP_PDU_TYPE_R2T);
	assert_int_equal(r2t->cccid, 2);
	assert_int_equal(r2t->r2to, 0);
	assert_int_equal(r2t->r2tl, sizeof(data));
	assert_int_equal(nvme_tcp_get_le32(c.buf + 24), nvme_tcp_hdgst(c.buf, 24));
	for (i = 0; i < 2; i++) {
		memset(&h2c, 0, sizeof(h2c));
		h2c.common.pdu_type = USK_NVME_TCP_PDU_TYPE_H2C_DATA;
		h2c.common.hlen = sizeof(h2c);
		h2c.common.flags = i == 1 ? USK_NVME_TCP_H2C_DATA_FLAGS_LAST_PDU : 0;
		h2c.cccid = 2;
		h2c.ttag = ((const struct usk_nvme_tcp_r2t_hdr *)c.buf)->ttag;
		h2c.datao = i * 32768;
		h2c.datal = 32768;
		conn_send_pdu(&c, &h2c, data + i * 32768, 32768);
	}
	expect_resp(&c, 2, 0);
	assert_memory_equal(g_disk + 100 * 512, data, sizeof(data));

	/* reads with a data digest keep the CapsuleResp */
	assert_false(do_read(&c, 3, 100, sizeof(data)));
	assert_false(do_read(&c, 4, 8, 4096));
	conn_core_teardown(&c);
	env_teardown();
}

static void
test_c2h_success_and_pool_exhaustion(void **state)
{
	static struct conn c;
	struct usk_nvme_tcp_cmd cmd[3];
	const struct usk_nvme_tcp_c2h_data_hdr *h = (const void *)c.buf;
	json_t *stats;
	int i;

	env_setup(4096, true);
	conn_open(&c, false, false);
	memset(g_disk, 0x77, 65536);
	assert_true(do_read(&c, 9, 0, 8192));

	/* only 2 buffers of 16 KiB: the third 16 KiB read waits for one */
	g_pool_avail = 2;
	for (i = 0; i < 3; i++) {
		make_cmd(&cmd[i], 0x02, (uint16_t)(20 + i), (uint32_t)i * 32, 16384, false);
		cmd[i].common.plen = sizeof(cmd[i]);
	}
	conn_send(&c, cmd, sizeof(cmd));
	for (i = 0; i < 3; i++) {
		assert_int_equal(conn_recv_pdu(&c), 0);
		assert_int_equal(h->common.pdu_type, USK_NVME_TCP_PDU_TYPE_C2H_DATA);
		assert_int_equal(h->cccid, 20 + i);
		assert_true(h->common.flags & USK_NVME_TCP_C2H_DATA_FLAGS_SUCCESS);
	}
	/* the host asks for 16-byte data alignment: C2HData data starts at PDO 32 */
	conn_core_teardown(&c);
	g_hpda = 3;
	conn_open(&c, true, false);
	assert_true(do_read(&c, 30, 0, 4096));
	g_hpda = 0;

	stats = json_object();
	g_ops->poll_group_dump_stat(g_env.tg, stats);
	assert_true(json_integer_value(json_object_get(stats, "data_buffer_waits")) >= 1);
	assert_int_equal(json_integer_value(json_object_get(stats, "pending_data_buffer")), 0);
	json_decref(stats);
	g_pool_avail = 64;
	conn_core_teardown(&c);
	env_teardown();
}

static void
test_fatal_errors(void **state)
{
	static struct conn c, good;
	struct usk_nvme_tcp_cmd cmd;
	const struct usk_nvme_tcp_term_req_hdr *t = (const void *)c.buf;
	uint8_t dg[4];

	env_setup(4096, true);
	conn_open(&good, false, false);

	/* header digest mismatch */
	conn_open(&c, true, false);
	make_cmd(&cmd, 0x02, 1, 0, 4096, false);
	cmd.common.flags = USK_NVME_TCP_CH_FLAGS_HDGSTF;
	cmd.common.plen = 76;
	conn_send(&c, &cmd, sizeof(cmd));
	nvme_tcp_put_le32(dg, nvme_tcp_hdgst(&cmd, 72) ^ 1);
	g_disconnects = 0;
	conn_send(&c, dg, 4);
	assert_int_equal(conn_recv_pdu(&c), 0);
	assert_int_equal(t->common.pdu_type, USK_NVME_TCP_PDU_TYPE_C2H_TERM_REQ);
	assert_int_equal(t->fes, USK_NVME_TCP_FES_HDGST_ERROR);
	assert_int_equal(t->common.plen, 24 + 72);
	assert_int_equal(g_disconnects, 1);
	conn_core_teardown(&c);

	/* wrong PDU length on an ICReq */
	conn_open(&c, false, false);
	memset(&cmd, 0, sizeof(cmd));
	cmd.common.pdu_type = USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD;
	cmd.common.hlen = 72;
	cmd.common.plen = 30;
	conn_send(&c, &cmd, sizeof(cmd));
	assert_int_equal(conn_recv_pdu(&c), 0);
	assert_int_equal(t->common.pdu_type, USK_NVME_TCP_PDU_TYPE_C2H_TERM_REQ);
	assert_int_equal(t->fes, USK_NVME_TCP_FES_INVALID_HEADER_FIELD);
	assert_int_equal(nvme_tcp_get_le32(t->fei), 4);
	conn_core_teardown(&c);

	/* the host gives up with an H2CTermReq: the connection just goes, no C2HTermReq */
	conn_open(&c, false, false);
	{
		uint8_t term[24 + 8] = {
			USK_NVME_TCP_PDU_TYPE_H2C_TERM_REQ, 0, 24, 0, 32, 0, 0, 0, 0x02};
		int spins;

		g_disconnects = 0;
		conn_send(&c, term, sizeof(term));
		for (spins = 0; spins < 100000 && g_disconnects == 0; spins++) {
			pump();
		}
		assert_int_equal(g_disconnects, 1);
	}
	conn_core_teardown(&c);

	/* Abort of a command waiting for a data buffer completes it with ABORTED_BY_REQUEST */
	conn_open(&c, false, false);
	g_pool_avail = 0;
	make_cmd(&cmd, 0x02, 77, 0, 4096, false);
	conn_send_pdu(&c, &cmd, NULL, 0);
	{
		int spins;

		for (spins = 0; spins < 1000; spins++) {
			pump();
		}
	}
	assert_false(g_ops->qpair_abort_request(c.qpair, 78));
	assert_true(g_ops->qpair_abort_request(c.qpair, 77));
	expect_resp(&c, 77, (1u << 14) /* DNR */ | USK_NVME_SC_ABORTED_BY_REQUEST);
	g_pool_avail = 64;
	conn_core_teardown(&c);

	/* the other connection is unaffected */
	memset(g_disk, 0x12, 4096);
	assert_true(do_read(&good, 5, 0, 4096));

	/* a host closing its socket ends in a disconnect */
	g_disconnects = 0;
	usk_sock_close(&good.sock);
	while (g_disconnects == 0) {
		pump();
	}
	conn_core_teardown(&good);
	env_teardown();
}

/* A host that does not read: sends hit a full socket and resume later, byte-exact. */
static void
test_partial_sends(void **state)
{
	static struct conn c;
	static struct usk_nvme_tcp_cmd cmd[64];
	const struct usk_nvme_tcp_c2h_data_hdr *h = (const void *)c.buf;
	uint32_t i, lba;

	env_setup(4096, true);
	g_client_rcvbuf = 4096;
	g_sq_entries = 64;
	conn_open(&c, true, true);
	g_sq_entries = 32;
	g_client_rcvbuf = 0;
	g_pool_avail = 64 * 8;
	for (i = 0; i < sizeof(g_disk); i++) {
		g_disk[i] = (uint8_t)(i * 7 + (i >> 16));
	}
	/* 64 reads of 128 KiB = 8 MiB, more than the kernel buffers between the two sockets */
	for (i = 0; i < 64; i++) {
		make_cmd(&cmd[i], 0x02, (uint16_t)(100 + i), (i * 64) % 1792, 131072, false);
		cmd[i].common.flags = USK_NVME_TCP_CH_FLAGS_HDGSTF;
		cmd[i].common.plen = sizeof(cmd[i]) + 4;
	}
	for (i = 0; i < 64; i++) {
		uint8_t dg[4];

		conn_send(&c, &cmd[i], sizeof(cmd[i]));
		nvme_tcp_put_le32(dg, nvme_tcp_hdgst(&cmd[i], 72));
		conn_send(&c, dg, 4);
	}
	for (i = 0; i < 2000; i++) {
		pump();
	}
	/* the socket is full: the rest waits on the qpair's send queue */
	assert_false(STAILQ_EMPTY(&tcp_qpair_from(c.qpair)->send_queue));
	for (i = 0; i < 64; i++) {
		lba = (i * 64) % 1792;
		assert_int_equal(conn_recv_pdu(&c), 0);
		assert_int_equal(h->common.pdu_type, USK_NVME_TCP_PDU_TYPE_C2H_DATA);
		assert_int_equal(h->cccid, 100 + i);
		assert_memory_equal(c.buf + h->common.pdo, g_disk + lba * 512, 131072);
		assert_int_equal(nvme_tcp_get_le32(c.buf + h->common.pdo + 131072),
				 usk_crc32c_update(c.buf + h->common.pdo, 131072, ~0u) ^ ~0u);
		expect_resp(&c, (uint16_t)(100 + i), 0);
	}
	conn_core_teardown(&c);
	assert_int_equal(g_pool_avail, 64 * 8);
	g_pool_avail = 64;
	env_teardown();
}

/* ------------------------------------------------------------------ queue size, shares, timeouts
 */

static int64_t
stat_of(const char *name)
{
	json_t *stats = json_object();
	int64_t v;

	g_ops->poll_group_dump_stat(g_env.tg, stats);
	v = json_integer_value(json_object_get(stats, name));
	json_decref(stats);
	return v;
}

/* A write needing an R2T; returns the R2T's ttag (asserts the R2T came). */
static uint16_t
send_write_expect_r2t(struct conn *c, uint16_t cid, uint32_t lba, uint32_t len)
{
	struct usk_nvme_tcp_cmd cmd;
	const struct usk_nvme_tcp_r2t_hdr *r2t = (const void *)c->buf;

	make_cmd(&cmd, 0x01, cid, lba, len, false);
	conn_send_pdu(c, &cmd, NULL, 0);
	assert_int_equal(conn_recv_pdu(c), 0);
	assert_int_equal(r2t->common.pdu_type, USK_NVME_TCP_PDU_TYPE_R2T);
	assert_int_equal(r2t->cccid, cid);
	assert_int_equal(r2t->r2tl, len);
	return r2t->ttag;
}

static void
send_h2c(struct conn *c, uint16_t cid, uint16_t ttag, const void *data, uint32_t len)
{
	struct usk_nvme_tcp_h2c_data_hdr h2c;

	memset(&h2c, 0, sizeof(h2c));
	h2c.common.pdu_type = USK_NVME_TCP_PDU_TYPE_H2C_DATA;
	h2c.common.hlen = sizeof(h2c);
	h2c.common.flags = USK_NVME_TCP_H2C_DATA_FLAGS_LAST_PDU;
	h2c.cccid = cid;
	h2c.ttag = ttag;
	h2c.datal = len;
	conn_send_pdu(c, &h2c, data, len);
}

static void
expect_term_req(struct conn *c, uint8_t fes)
{
	const struct usk_nvme_tcp_term_req_hdr *t = (const void *)c->buf;

	assert_int_equal(conn_recv_pdu(c), 0);
	assert_int_equal(t->common.pdu_type, USK_NVME_TCP_PDU_TYPE_C2H_TERM_REQ);
	assert_int_equal(t->fes, fes);
}

/*
 * The qpair holds what Connect negotiated: one request before Connect, SQSIZE + 1 after; one
 * command more is a fatal transport error for that connection only, counted in the stats.
 */
static void
test_sq_size_enforced(void **state)
{
	static struct conn c, other;
	struct usk_nvme_tcp_cmd cmd;
	struct tcp_qpair *tq;
	uint16_t i;

	env_setup(4096, true);
	conn_open(&other, false, false);
	g_sq_entries = 16;
	conn_open(&c, false, false);
	g_sq_entries = 32;
	tq = tcp_qpair_from(c.qpair);
	assert_int_equal(tq->num_reqs, 16);
	/* a second sizing (a Connect retried with another SQSIZE) is refused, the same is fine */
	assert_int_equal(g_ops->qpair_set_sq_size(c.qpair, 16), 0);
	assert_int_equal(g_ops->qpair_set_sq_size(c.qpair, 64), -EINVAL);
	/* 16 writes waiting for their data fill the queue ... */
	for (i = 0; i < 16; i++) {
		send_write_expect_r2t(&c, (uint16_t)(i + 1), i * 8, 4096);
	}
	assert_int_equal(tq->outstanding, 16);
	assert_int_equal(g_pool_avail, 64 - 16);
	/* ... and a 17th is one more than the host may have outstanding */
	g_disconnects = 0;
	make_cmd(&cmd, 0x02, 99, 0, 4096, false);
	conn_send_pdu(&c, &cmd, NULL, 0);
	expect_term_req(&c, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR);
	assert_int_equal(g_disconnects, 1);
	assert_int_equal(stat_of("sq_overflows"), 1);
	/* its buffers are back at once and the other connection is untouched */
	assert_int_equal(g_pool_avail, 64);
	conn_core_teardown(&c);
	assert_true(do_read(&other, 5, 0, 4096));
	conn_core_teardown(&other);
	env_teardown();
}

/* Before Connect: one command slot (the Connect), a second capsule is fatal. */
static void
test_one_command_before_connect(void **state)
{
	static struct conn c;
	struct usk_nvme_tcp_cmd cmd;

	env_setup(4096, true);
	g_sq_entries = 0;
	conn_open(&c, false, false);
	g_sq_entries = 32;
	assert_int_equal(tcp_qpair_from(c.qpair)->num_reqs, 1);
	send_write_expect_r2t(&c, 1, 0, 4096);
	make_cmd(&cmd, 0x01, 2, 8, 4096, false);
	conn_send_pdu(&c, &cmd, NULL, 0);
	expect_term_req(&c, USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR);
	assert_int_equal(stat_of("sq_overflows"), 1);
	conn_core_teardown(&c);
	env_teardown();
}

/*
 * A qpair may hold only its share of buffers in commands waiting for data; more wait aside
 * (not in the group's FIFO, so other qpairs go on) and get their R2T once data comes. Data
 * that never comes fails the command with a transport error and closes that connection.
 */
static void
test_r2t_share_and_timeout(void **state)
{
	static struct conn c, other;
	static uint8_t data[65536];
	const struct usk_nvme_tcp_r2t_hdr *r2t = (const void *)c.buf;
	struct usk_nvme_tcp_cmd cmd;
	uint16_t t1, t3;
	int i;

	/* io_unit 16 KiB, max_io 128 KiB: 8 buffers per qpair = two 64 KiB writes */
	g_extra_spec = json_pack("{s:i,s:i,s:i}", "max_r2t_buffers_per_qpair", 8, "r2t_timeout_ms",
				 2000, "connect_timeout_ms", 0);
	env_setup(4096, true);
	json_decref(g_extra_spec);
	g_extra_spec = NULL;
	conn_open(&c, false, false);
	conn_open(&other, false, false);
	memset(data, 0x5a, sizeof(data));
	t1 = send_write_expect_r2t(&c, 1, 0, 65536);
	send_write_expect_r2t(&c, 2, 200, 65536);
	make_cmd(&cmd, 0x01, 3, 400, 65536, false);
	conn_send_pdu(&c, &cmd, NULL, 0);
	make_cmd(&cmd, 0x01, 4, 800, 65536, false);
	conn_send_pdu(&c, &cmd, NULL, 0);
	for (i = 0; i < 100; i++) {
		pump();
	}
	/* over the share: no R2T, no buffers taken */
	assert_int_equal(stat_of("r2t_share_waiting"), 2);
	assert_int_equal(stat_of("r2t_share_waits"), 2);
	assert_int_equal(g_pool_avail, 64 - 8);
	/* another qpair is not held up by it */
	send_write_expect_r2t(&other, 7, 600, 16384);
	send_h2c(&other, 7, ((const struct usk_nvme_tcp_r2t_hdr *)other.buf)->ttag, data, 16384);
	expect_resp(&other, 7, 0);
	/* data for the first write: it runs, and the waiting one gets its R2T */
	send_h2c(&c, 1, t1, data, 65536);
	expect_resp(&c, 1, 0);
	assert_int_equal(conn_recv_pdu(&c), 0);
	assert_int_equal(r2t->common.pdu_type, USK_NVME_TCP_PDU_TYPE_R2T);
	assert_int_equal(r2t->cccid, 3);
	t3 = r2t->ttag;
	/* only one fits: cid 4 still waits, and holds nothing */
	assert_int_equal(stat_of("r2t_share_waiting"), 1);
	assert_int_equal(g_pool_avail, 64 - 8);
	assert_memory_equal(g_disk, data, 65536);
	/* cid 3's data: cid 4 gets its R2T */
	send_h2c(&c, 3, t3, data, 65536);
	expect_resp(&c, 3, 0);
	assert_int_equal(conn_recv_pdu(&c), 0);
	assert_int_equal(r2t->common.pdu_type, USK_NVME_TCP_PDU_TYPE_R2T);
	assert_int_equal(r2t->cccid, 4);
	assert_int_equal(stat_of("r2t_share_waiting"), 0);

	/* not late yet: nothing happens */
	g_disconnects = 0;
	g_ticks += 1000;
	g_timeout_fn(g_timeout_arg);
	assert_int_equal(g_disconnects, 0);
	/* cid 2's data never comes: transient transport error, buffers freed, connection closed */
	g_ticks += 1500;
	g_hostnqn = "nqn.2014-08.org.example:hoarder\n[forged]";
	g_timeout_fn(g_timeout_arg);
	g_hostnqn = NULL;
	expect_resp(&c, 2, USK_NVME_SC_TRANSIENT_TRANSPORT_ERROR);
	assert_int_equal(g_disconnects, 1);
	assert_int_equal(stat_of("r2t_timeouts"), 1);
	assert_int_equal(g_pool_avail, 64);
	conn_core_teardown(&c);
	/* the other connection lives on */
	assert_true(do_read(&other, 8, 600, 16384));
	assert_int_equal(g_disconnects, 1);
	conn_core_teardown(&other);
	env_teardown();
}

/* The automatic shares are a quarter (qpair) and half (controller) of the pool as it is now. */
static void
test_auto_share_follows_pool(void **state)
{
	static struct conn c;
	struct usk_nvme_tcp_cmd cmd;
	uint16_t i;
	int k;

	env_setup(4096, true);
	conn_open(&c, false, false);
	/* 48 buffers now: a qpair may hold 12 (more than one 128 KiB I/O = 8 buffers) */
	g_pool_size = 48;
	for (i = 0; i < 12; i++) {
		send_write_expect_r2t(&c, (uint16_t)(i + 1), i * 32, 16384);
	}
	make_cmd(&cmd, 0x01, 13, 800, 16384, false);
	conn_send_pdu(&c, &cmd, NULL, 0);
	for (k = 0; k < 100; k++) {
		pump();
	}
	assert_int_equal(stat_of("r2t_share_waiting"), 1);
	/* the pool grew: the waiting write fits now and gets its R2T */
	g_pool_size = 64;
	assert_int_equal(conn_recv_pdu(&c), 0);
	assert_int_equal(((const struct usk_nvme_tcp_r2t_hdr *)c.buf)->common.pdu_type,
			 USK_NVME_TCP_PDU_TYPE_R2T);
	assert_int_equal(((const struct usk_nvme_tcp_r2t_hdr *)c.buf)->cccid, 13);
	assert_int_equal(stat_of("r2t_share_waiting"), 0);
	send_write_expect_r2t(&c, 14, 900, 16384);
	g_pool_size = 511;
	conn_core_teardown(&c);
	env_teardown();
}

/* No ICReq (or no Connect) within connect_timeout_ms: closed; a listener caps its connections. */
static void
test_connect_timeout_and_listener_cap(void **state)
{
	static struct conn a, b;
	struct tcp_transport *tt;
	struct usk_sock *idle, *third;
	uint8_t byte;
	ssize_t n;
	int i;

	g_extra_spec = json_pack("{s:i,s:i}", "connect_timeout_ms", 3000,
				 "max_connections_per_listener", 2);
	env_setup(4096, true);
	json_decref(g_extra_spec);
	g_extra_spec = NULL;
	tt = USK_CONTAINEROF(g_env.t, struct tcp_transport, transport);
	/* one connection that sends nothing at all, one that did ICReq */
	assert_int_equal(usk_sock_connect("127.0.0.1", g_env.port, NULL, &idle), 0);
	g_new_qpair = NULL;
	for (i = 0; i < 10000 && g_new_qpair == NULL; i++) {
		pump();
		usleep(10);
	}
	assert_non_null(g_new_qpair);
	a.qpair = g_new_qpair;
	assert_int_equal(g_ops->poll_group_add(g_env.tg, a.qpair), 0);
	conn_open(&b, false, false);
	assert_int_equal(TAILQ_FIRST(&tt->listeners)->num_conns, 2);

	/* a third is refused at accept */
	assert_int_equal(usk_sock_connect("127.0.0.1", g_env.port, NULL, &third), 0);
	for (i = 0; i < 10000; i++) {
		pump();
		n = usk_sock_recv(third, &byte, 1);
		if (n != -EAGAIN) {
			break;
		}
		usleep(10);
	}
	assert_true(n == 0 || n == -ECONNRESET);
	assert_int_equal(TAILQ_FIRST(&tt->listeners)->refused, 1);
	usk_sock_close(&third);

	g_disconnects = 0;
	g_ticks += 2000;
	g_timeout_fn(g_timeout_arg);
	assert_int_equal(g_disconnects, 0);
	g_ticks += 1001;
	g_timeout_fn(g_timeout_arg);
	/* neither got a controller (the mock has no Connect): both go */
	assert_int_equal(g_disconnects, 2);
	assert_int_equal(stat_of("connect_timeouts"), 2);
	conn_core_teardown(&a);
	usk_sock_close(&idle);
	conn_core_teardown(&b);
	/* the slots are free again */
	assert_int_equal(TAILQ_FIRST(&tt->listeners)->num_conns, 0);
	env_teardown();
}

/* Each test runs once per socket backend (poll groups take the default impl). */
static int
use_posix(void **state)
{
	return usk_sock_set_default_impl("posix");
}

static int
use_uring(void **state)
{
	if (!usk_sock_impl_is_available("uring")) {
		return -1; /* reported as a failed setup: CI machines have io_uring */
	}
	return usk_sock_set_default_impl("uring");
}

#define BOTH_IMPLS(t) \
	{.name = #t " (posix)", .test_func = t, .setup_func = use_posix}, \
	{ \
		.name = #t " (uring)", .test_func = t, .setup_func = use_uring \
	}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH_IMPLS(test_opts_validation),
		BOTH_IMPLS(test_io_digests),
		BOTH_IMPLS(test_c2h_success_and_pool_exhaustion),
		BOTH_IMPLS(test_fatal_errors),
		BOTH_IMPLS(test_partial_sends),
		BOTH_IMPLS(test_sq_size_enforced),
		BOTH_IMPLS(test_one_command_before_connect),
		BOTH_IMPLS(test_r2t_share_and_timeout),
		BOTH_IMPLS(test_auto_share_follows_pool),
		BOTH_IMPLS(test_connect_timeout_and_listener_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
