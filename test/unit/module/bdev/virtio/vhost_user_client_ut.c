/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the vhost-user front-end messages over a socketpair: the test queues the
 * back-end's reply before the call (the client sends, then reads), then checks what the client
 * sent. Covers GET_CONFIG asking only for what it will use, REPLY_ACK, SET_MEM_TABLE fds, and
 * malformed replies refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "vhost_user_client.h"

static int g_peer;

static void
client_open(struct vhu_client *c)
{
	int sv[2];
	struct timeval tv = {.tv_sec = 1};

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(c, 0, sizeof(*c));
	c->fd = sv[0];
	c->timeout_ms = 1000;
	pthread_mutex_init(&c->lock, NULL);
	g_peer = sv[1];
}

static void
client_done(struct vhu_client *c)
{
	vhu_client_close(c);
	close(g_peer);
}

/* Queue a reply: header + payload bytes. */
static void
reply(uint32_t req, uint32_t flags, const void *payload, uint32_t size)
{
	struct usk_vhost_user_hdr h = {.request = req, .flags = flags, .size = size};

	assert_int_equal(write(g_peer, &h, sizeof(h)), sizeof(h));
	if (size > 0) {
		assert_int_equal(write(g_peer, payload, size), (ssize_t)size);
	}
}

#define OKF (USK_VHOST_USER_VERSION | USK_VHOST_USER_REPLY_MASK)

/* Read what the client sent: one message, with the fds it carried. */
static int
peer_read(struct usk_vhost_user_msg *msg, int *fds, int max_fds)
{
	char control[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(*msg)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = control,
			    .msg_controllen = sizeof(control)};
	struct cmsghdr *cm;
	int nfds = 0;
	ssize_t n;

	memset(msg, 0, sizeof(*msg));
	n = recvmsg(g_peer, &mh, MSG_DONTWAIT);
	assert_true(n >= (ssize_t)sizeof(msg->hdr));
	assert_int_equal(n, sizeof(msg->hdr) + msg->hdr.size);
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		assert_true(k <= max_fds);
		memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)k);
		nfds = k;
	}
	return nfds;
}

static void
test_get_config_size(void **state)
{
	struct vhu_client c;
	struct usk_vhost_user_msg m;
	struct usk_vhost_user_config cfg = {.offset = 0, .size = 60};
	uint8_t buf[60];

	client_open(&c);
	memset(cfg.region, 0xab, 60);
	reply(USK_VHOST_USER_GET_CONFIG, OKF, &cfg, USK_VHOST_USER_CONFIG_HDR_SIZE + 60);
	assert_int_equal(vhu_client_get_config(&c, buf, 60), 0);
	assert_int_equal(buf[59], 0xab);
	peer_read(&m, NULL, 0);
	assert_int_equal(m.hdr.request, USK_VHOST_USER_GET_CONFIG);
	assert_int_equal(m.hdr.size, USK_VHOST_USER_CONFIG_HDR_SIZE + 60);
	assert_int_equal(m.payload.config.size, 60);
	assert_int_equal(m.payload.config.offset, 0);

	/* A reply with a different window, or the failure form (no payload), is refused. */
	cfg.size = 72;
	reply(USK_VHOST_USER_GET_CONFIG, OKF, &cfg, USK_VHOST_USER_CONFIG_HDR_SIZE + 72);
	assert_int_equal(vhu_client_get_config(&c, buf, 60), -EPROTO);
	client_done(&c);
	client_open(&c);
	reply(USK_VHOST_USER_GET_CONFIG, OKF, NULL, 0);
	assert_int_equal(vhu_client_get_config(&c, buf, 60), -EPROTO);
	assert_int_equal(vhu_client_get_config(&c, buf, 300), -EINVAL);
	client_done(&c);
}

static void
test_bad_replies(void **state)
{
	struct vhu_client c;
	uint64_t v = 7, got = 0;

	client_open(&c);
	/* Right request, no REPLY flag. */
	reply(USK_VHOST_USER_GET_FEATURES, USK_VHOST_USER_VERSION, &v, 8);
	assert_int_equal(vhu_client_get_u64(&c, USK_VHOST_USER_GET_FEATURES, &got), -EPROTO);
	client_done(&c);
	client_open(&c);
	/* Reply to another request. */
	reply(USK_VHOST_USER_GET_QUEUE_NUM, OKF, &v, 8);
	assert_int_equal(vhu_client_get_u64(&c, USK_VHOST_USER_GET_FEATURES, &got), -EPROTO);
	client_done(&c);
	client_open(&c);
	/* A payload size larger than any message: refused before reading it. */
	reply(USK_VHOST_USER_GET_FEATURES, OKF, NULL, 0);
	assert_int_equal(vhu_client_get_u64(&c, USK_VHOST_USER_GET_FEATURES, &got), -EPROTO);
	client_done(&c);
	client_open(&c);
	{
		struct usk_vhost_user_hdr h = {
			.request = USK_VHOST_USER_GET_FEATURES, .flags = OKF, .size = 1u << 30};

		assert_int_equal(write(g_peer, &h, sizeof(h)), sizeof(h));
		assert_int_equal(vhu_client_get_u64(&c, USK_VHOST_USER_GET_FEATURES, &got),
				 -EPROTO);
	}
	client_done(&c);
	client_open(&c);
	/* The back-end closes: reset, not a hang. */
	close(g_peer);
	g_peer = -1;
	assert_int_equal(vhu_client_get_u64(&c, USK_VHOST_USER_GET_FEATURES, &got), -EPIPE);
	vhu_client_close(&c);
	/* Good one. */
	client_open(&c);
	reply(USK_VHOST_USER_GET_FEATURES, OKF, &v, 8);
	assert_int_equal(vhu_client_get_u64(&c, USK_VHOST_USER_GET_FEATURES, &got), 0);
	assert_int_equal(got, 7);
	client_done(&c);
}

static void
test_reply_ack_and_fds(void **state)
{
	struct vhu_client c;
	struct usk_vhost_user_msg m;
	struct vhu_mem_region r[2];
	uint64_t zero = 0, one = 1;
	int fds[8], efd;

	client_open(&c);
	/* No REPLY_ACK negotiated: no NEED_REPLY, nothing read. */
	assert_int_equal(vhu_client_set_owner(&c), 0);
	peer_read(&m, NULL, 0);
	assert_int_equal(m.hdr.flags, USK_VHOST_USER_VERSION);
	c.protocol_features = 1ULL << USK_VHOST_USER_PROTOCOL_F_REPLY_ACK;
	reply(USK_VHOST_USER_SET_VRING_NUM, OKF, &zero, 8);
	assert_int_equal(vhu_client_set_vring_state(&c, USK_VHOST_USER_SET_VRING_NUM, 1, 256), 0);
	peer_read(&m, NULL, 0);
	assert_int_equal(m.hdr.flags, USK_VHOST_USER_VERSION | USK_VHOST_USER_NEED_REPLY_MASK);
	assert_int_equal(m.payload.state.index, 1);
	assert_int_equal(m.payload.state.num, 256);
	/* A non-zero ack is the back-end's failure. */
	reply(USK_VHOST_USER_SET_FEATURES, OKF, &one, 8);
	assert_int_equal(vhu_client_set_u64(&c, USK_VHOST_USER_SET_FEATURES, 1, -1), -EIO);
	peer_read(&m, NULL, 0);

	/* The kick fd travels as SCM_RIGHTS. */
	efd = eventfd(0, EFD_CLOEXEC);
	reply(USK_VHOST_USER_SET_VRING_KICK, OKF, &zero, 8);
	assert_int_equal(vhu_client_set_u64(&c, USK_VHOST_USER_SET_VRING_KICK, 0, efd), 0);
	assert_int_equal(peer_read(&m, fds, 8), 1);
	assert_int_equal(m.payload.u64, 0);
	close(fds[0]);

	/* SET_MEM_TABLE: one fd per region, the table in order. */
	r[0] = (struct vhu_mem_region){
		.gpa = 0x200000, .size = 0x400000, .uaddr = 0x200000, .offset = 0, .fd = efd};
	r[1] = (struct vhu_mem_region){
		.gpa = 0x800000, .size = 0x200000, .uaddr = 0x800000, .offset = 0x1000, .fd = efd};
	reply(USK_VHOST_USER_SET_MEM_TABLE, OKF, &zero, 8);
	assert_int_equal(vhu_client_set_mem_table(&c, r, 2), 0);
	assert_int_equal(peer_read(&m, fds, 8), 2);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(m.payload.memory.nregions, 2);
	assert_int_equal(m.hdr.size, 8 + 2 * 32);
	assert_int_equal(m.payload.memory.regions[1].mmap_offset, 0x1000);
	assert_int_equal(m.payload.memory.regions[0].memory_size, 0x400000);
	assert_int_equal(vhu_client_set_mem_table(&c, r, 0), -EINVAL);
	assert_int_equal(vhu_client_set_mem_table(&c, r, 9), -EINVAL);
	close(efd);
	client_done(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_config_size),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_reply_ack_and_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
