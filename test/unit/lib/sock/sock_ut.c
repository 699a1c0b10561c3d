/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of lib/sock over the loopback interface: listen/accept/connect, I/O, groups. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "usk/sock.h"

/* Wait (bounded) until accept succeeds. */
static struct usk_sock *
accept_wait(struct usk_sock *l)
{
	struct usk_sock *s = NULL;
	int i, rc;

	for (i = 0; i < 1000; i++) {
		rc = usk_sock_accept(l, &s);
		if (rc == 0) {
			return s;
		}
		assert_int_equal(rc, -EAGAIN);
		usleep(1000);
	}
	fail_msg("accept timed out");
	return NULL;
}

static void
make_pair(const char *ip, struct usk_sock **l, struct usk_sock **c, struct usk_sock **s)
{
	struct usk_sock_opts opts;
	uint16_t port;
	char addr[USK_SOCK_ADDR_LEN];

	usk_sock_get_default_opts(&opts, sizeof(opts));
	opts.priority = 1;
	assert_int_equal(usk_sock_listen(ip, 0, &opts, l), 0);
	assert_int_equal(usk_sock_getaddr(*l, addr, sizeof(addr), &port, NULL, 0, NULL), 0);
	assert_true(port != 0);
	assert_int_equal(usk_sock_connect(ip, port, NULL, c), 0);
	*s = accept_wait(*l);
}

static void
test_listen_bad_address(void **state)
{
	struct usk_sock *l = NULL;

	assert_int_equal(usk_sock_listen("not-an-ip", 4420, NULL, &l), -EINVAL);
	assert_int_equal(usk_sock_listen("127.0.0.1", 70000, NULL, &l), -EINVAL);
	assert_null(l);
}

static void
test_accept_connect_io(void **state)
{
	struct usk_sock *l, *c, *s;
	char buf[64], caddr[USK_SOCK_ADDR_LEN], saddr[USK_SOCK_ADDR_LEN];
	struct iovec iov[3];
	uint16_t cport, sport;
	ssize_t n;
	int val = 0, i;
	socklen_t len = sizeof(val);

	make_pair("127.0.0.1", &l, &c, &s);
	assert_false(usk_sock_is_ipv6(s));
	assert_int_equal(
		usk_sock_getaddr(s, saddr, sizeof(saddr), &sport, caddr, sizeof(caddr), &cport), 0);
	assert_string_equal(saddr, "127.0.0.1");
	assert_string_equal(caddr, "127.0.0.1");
	/* accepted sockets get TCP_NODELAY and the listener's priority */
	assert_int_equal(getsockopt(usk_sock_get_fd(s), IPPROTO_TCP, TCP_NODELAY, &val, &len), 0);
	assert_int_equal(val, 1);
	assert_int_equal(getsockopt(usk_sock_get_fd(s), SOL_SOCKET, SO_PRIORITY, &val, &len), 0);
	assert_int_equal(val, 1);

	/* nothing to read yet */
	assert_int_equal(usk_sock_recv(s, buf, sizeof(buf)), -EAGAIN);
	iov[0].iov_base = "abc";
	iov[0].iov_len = 3;
	iov[1].iov_base = "";
	iov[1].iov_len = 0;
	iov[2].iov_base = "defgh";
	iov[2].iov_len = 5;
	assert_int_equal(usk_sock_writev(c, iov, 3), 8);
	for (i = 0, n = -EAGAIN; i < 1000 && n == -EAGAIN; i++) {
		n = usk_sock_recv(s, buf, sizeof(buf));
		if (n == -EAGAIN) {
			usleep(1000);
		}
	}
	assert_int_equal(n, 8);
	assert_memory_equal(buf, "abcdefgh", 8);

	/* readv scatters */
	assert_int_equal(usk_sock_writev(s, iov, 3), 8);
	iov[0].iov_base = buf;
	iov[0].iov_len = 2;
	iov[1].iov_base = buf + 10;
	iov[1].iov_len = 10;
	for (i = 0, n = -EAGAIN; i < 1000 && n == -EAGAIN; i++) {
		n = usk_sock_readv(c, iov, 2);
		if (n == -EAGAIN) {
			usleep(1000);
		}
	}
	assert_int_equal(n, 8);
	assert_memory_equal(buf, "ab", 2);
	assert_memory_equal(buf + 10, "cdefgh", 6);

	/* peer close: recv reports -ECONNRESET, send fails without SIGPIPE */
	usk_sock_close(&c);
	assert_null(c);
	for (i = 0, n = -EAGAIN; i < 1000 && n == -EAGAIN; i++) {
		n = usk_sock_recv(s, buf, sizeof(buf));
		if (n == -EAGAIN) {
			usleep(1000);
		}
	}
	assert_int_equal(n, -ECONNRESET);
	iov[0].iov_base = buf;
	iov[0].iov_len = sizeof(buf);
	for (i = 0; i < 10; i++) {
		n = usk_sock_writev(s, iov, 1);
		if (n < 0) {
			break;
		}
		usleep(1000);
	}
	assert_true(n == -EPIPE || n == -ECONNRESET);
	usk_sock_close(&s);
	usk_sock_close(&l);
}

static void
test_ipv6(void **state)
{
	struct usk_sock *l = NULL, *c, *s;
	int rc;

	rc = usk_sock_listen("::1", 0, NULL, &l);
	if (rc != 0) {
		/* no IPv6 loopback in this environment */
		skip();
	}
	usk_sock_close(&l);
	make_pair("[::1]", &l, &c, &s);
	assert_true(usk_sock_is_ipv6(s));
	usk_sock_close(&c);
	usk_sock_close(&s);
	usk_sock_close(&l);
}

struct cb_ctx {
	int calls;
	struct usk_sock *other; /* removed and closed from inside the callback */
	struct usk_sock_group *group;
};

static void
read_cb(void *arg, struct usk_sock_group *group, struct usk_sock *sock)
{
	struct cb_ctx *ctx = arg;
	char buf[16];

	ctx->calls++;
	usk_sock_recv(sock, buf, sizeof(buf));
	if (ctx->other != NULL) {
		/* the other socket's event in this same poll must be dropped */
		usk_sock_close(&ctx->other);
	}
}

static void
test_group(void **state)
{
	struct usk_sock_group *g;
	struct usk_sock *l, *c1, *s1, *c2, *s2;
	struct cb_ctx ctx1 = {0}, ctx2 = {0};
	struct iovec iov = {.iov_base = "x", .iov_len = 1};
	int i, n = 0;

	assert_int_equal(usk_sock_group_create(&ctx1, &g), 0);
	assert_ptr_equal(usk_sock_group_get_ctx(g), &ctx1);
	assert_true(usk_sock_group_get_fd(g) >= 0);
	assert_int_equal(usk_sock_group_poll(g), 0);
	make_pair("127.0.0.1", &l, &c1, &s1);
	c2 = NULL;
	assert_int_equal(usk_sock_connect("127.0.0.1", 0, NULL, &c2), -ECONNREFUSED);
	{
		uint16_t port;

		usk_sock_getaddr(l, NULL, 0, &port, NULL, 0, NULL);
		assert_int_equal(usk_sock_connect("127.0.0.1", port, NULL, &c2), 0);
	}
	s2 = accept_wait(l);
	assert_int_equal(usk_sock_group_add_sock(g, s1, read_cb, &ctx1), 0);
	assert_int_equal(usk_sock_group_add_sock(g, s1, read_cb, &ctx1), -EBUSY);
	assert_int_equal(usk_sock_group_add_sock(g, s2, read_cb, &ctx2), 0);
	assert_int_equal(usk_sock_group_count(g), 2);

	/* idle group */
	assert_int_equal(usk_sock_group_poll(g), 0);
	assert_int_equal(usk_sock_writev(c1, &iov, 1), 1);
	for (i = 0; i < 1000 && n == 0; i++) {
		n = usk_sock_group_poll(g);
		if (n == 0) {
			usleep(1000);
		}
	}
	assert_int_equal(n, 1);
	assert_int_equal(ctx1.calls, 1);
	assert_int_equal(ctx2.calls, 0);

	/* both readable; whichever runs first closes the other: exactly one callback runs */
	ctx1.other = s2;
	ctx2.other = s1;
	assert_int_equal(usk_sock_writev(c1, &iov, 1), 1);
	assert_int_equal(usk_sock_writev(c2, &iov, 1), 1);
	usleep(20000);
	ctx1.calls = 0;
	ctx2.calls = 0;
	n = usk_sock_group_poll(g);
	assert_int_equal(n, 1);
	assert_int_equal(ctx1.calls + ctx2.calls, 1);
	assert_int_equal(usk_sock_group_count(g), 1);
	/* close the survivor through its ctx pointer */
	if (ctx1.other == NULL) {
		usk_sock_close(&s1);
	} else {
		usk_sock_close(&s2);
	}
	assert_int_equal(usk_sock_group_count(g), 0);
	assert_int_equal(usk_sock_group_close(&g), 0);
	assert_null(g);
	usk_sock_close(&c1);
	usk_sock_close(&c2);
	usk_sock_close(&l);
}

static void
test_want_write(void **state)
{
	struct usk_sock_group *g;
	struct usk_sock *l, *c, *s;
	struct cb_ctx ctx = {0};

	assert_int_equal(usk_sock_group_create(NULL, &g), 0);
	make_pair("127.0.0.1", &l, &c, &s);
	assert_int_equal(usk_sock_group_want_write(g, s, true), -EINVAL);
	assert_int_equal(usk_sock_group_add_sock(g, s, read_cb, &ctx), 0);
	/* nothing to read: no callback */
	assert_int_equal(usk_sock_group_poll(g), 0);
	/* an empty send buffer is writable: reported while asked for */
	assert_int_equal(usk_sock_group_want_write(g, s, true), 0);
	assert_int_equal(usk_sock_group_want_write(g, s, true), 0);
	assert_int_equal(usk_sock_group_poll(g), 1);
	assert_int_equal(ctx.calls, 1);
	assert_int_equal(usk_sock_group_want_write(g, s, false), 0);
	assert_int_equal(usk_sock_group_poll(g), 0);
	usk_sock_close(&s);
	usk_sock_close(&c);
	usk_sock_close(&l);
	assert_int_equal(usk_sock_group_close(&g), 0);
}

/* Non-blocking connect: a listener's port connects (polled), a closed port is refused. */
static void
test_connect_async(void **state)
{
	struct usk_sock *l, *c = NULL, *s;
	uint16_t port;
	char addr[USK_SOCK_ADDR_LEN];
	int i, rc;

	assert_int_equal(usk_sock_listen("127.0.0.1", 0, NULL, &l), 0);
	assert_int_equal(usk_sock_getaddr(l, addr, sizeof(addr), &port, NULL, 0, NULL), 0);
	assert_int_equal(usk_sock_connect_async("127.0.0.1", port, NULL, &c), 0);
	for (i = 0; i < 1000 && (rc = usk_sock_connect_poll(c)) == -EAGAIN; i++) {
		usleep(1000);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(usk_sock_connect_poll(c), 0);
	s = accept_wait(l);
	assert_int_equal(usk_sock_writev(c, &(struct iovec){.iov_base = "x", .iov_len = 1}, 1), 1);
	usk_sock_close(&s);
	usk_sock_close(&c);
	usk_sock_close(&l);

	/* Nothing listens on port any more: refused, at once or through the poll. */
	rc = usk_sock_connect_async("127.0.0.1", port, NULL, &c);
	if (rc == 0) {
		for (i = 0; i < 1000 && (rc = usk_sock_connect_poll(c)) == -EAGAIN; i++) {
			usleep(1000);
		}
		usk_sock_close(&c);
	}
	assert_int_equal(rc, -ECONNREFUSED);
	assert_int_equal(usk_sock_connect_async("not-an-ip", port, NULL, &c), -EINVAL);
}

/* ---- MSG_ZEROCOPY sends: completions from the error queue, data intact ---- */

struct zc_ctx {
	uint32_t lo, hi;
	int calls;
	uint32_t completed; /* send numbers reported */
};

static void
zc_cb(void *arg, struct usk_sock *sock, uint32_t lo, uint32_t hi)
{
	struct zc_ctx *z = arg;

	if (z->calls == 0) {
		z->lo = lo;
	}
	z->hi = hi;
	z->calls++;
	z->completed += hi - lo + 1;
}

static void
nop_cb(void *arg, struct usk_sock_group *group, struct usk_sock *sock)
{
}

static void
test_zerocopy_send(void **state)
{
	const size_t len = 256 * 1024;
	struct usk_sock_impl_opts o, saved;
	struct usk_sock_group *g;
	struct usk_sock *l, *c, *s;
	struct zc_ctx z = {0};
	uint8_t *src = malloc(len), *dst = malloc(len);
	size_t sent = 0, got = 0, i;
	uint32_t seq, nsends = 0, expect = 0;
	bool zc;
	int n;

	for (i = 0; i < len; i++) {
		src[i] = (uint8_t)(i * 13 + (i >> 9));
	}
	assert_int_equal(usk_sock_impl_get_opts("posix", &saved, sizeof(saved)), 0);
	assert_false(saved.enable_zerocopy_send_server);
	o = saved;
	o.enable_zerocopy_send_server = true;
	o.zerocopy_threshold = 8192;
	assert_int_equal(usk_sock_impl_set_opts("posix", &o), 0);
	assert_int_equal(usk_sock_group_create(NULL, &g), 0);
	make_pair("127.0.0.1", &l, &c, &s);
	/* off outside a group and on the connecting side */
	assert_false(usk_sock_zerocopy_enabled(s));
	assert_int_equal(usk_sock_set_zerocopy_cb(s, zc_cb, &z), -ENOTSUP);
	assert_int_equal(usk_sock_group_add_sock(g, s, nop_cb, NULL), 0);
	assert_int_equal(usk_sock_impl_set_opts("posix", &saved), 0);
	if (!usk_sock_zerocopy_enabled(s)) {
		/* kernel without SO_ZEROCOPY */
		skip();
	}
	assert_int_equal(usk_sock_set_zerocopy_cb(s, zc_cb, &z), 0);
	/* below the threshold: copied, no number */
	{
		struct iovec small = {.iov_base = src, .iov_len = 100};

		assert_int_equal(usk_sock_writev_zc(s, &small, 1, &zc, &seq), 100);
		assert_false(zc);
		sent = 100;
	}
	/* the rest in 32 KiB zero-copy sends, numbered 0, 1, ... */
	for (n = 0; n < 100000 && got < len; n++) {
		if (sent < len) {
			struct iovec iov = {.iov_base = src + sent,
					    .iov_len = sent + 32768 <= len ? 32768 : len - sent};
			ssize_t rc = usk_sock_writev_zc(s, &iov, 1, &zc, &seq);

			if (rc > 0) {
				if (iov.iov_len >= 8192) {
					assert_true(zc);
				}
				if (zc) {
					assert_int_equal(seq, expect);
					expect++;
					nsends++;
				}
				sent += (size_t)rc;
			} else {
				assert_int_equal(rc, -EAGAIN);
			}
		}
		{
			struct iovec r = {.iov_base = dst + got, .iov_len = len - got};
			ssize_t rc = usk_sock_readv(c, &r, 1);

			if (rc > 0) {
				got += (size_t)rc;
			}
		}
		usk_sock_group_poll(g);
	}
	assert_int_equal(got, len);
	assert_memory_equal(dst, src, len);
	assert_true(nsends >= 7);
	/* every zero-copy send is reported (EPOLLERR on the group) and nothing else */
	for (n = 0; n < 2000 && z.completed < nsends; n++) {
		usk_sock_group_poll(g);
		usleep(500);
	}
	assert_int_equal(z.completed, nsends);
	assert_int_equal(z.lo, 0);
	assert_int_equal(z.hi, nsends - 1);
	assert_int_equal(usk_sock_zerocopy_pending(s), 0);
	assert_int_equal(usk_sock_zerocopy_reap(s), 0);
	usk_sock_close(&s);
	assert_int_equal(usk_sock_group_close(&g), 0);
	usk_sock_close(&c);
	usk_sock_close(&l);
	free(src);
	free(dst);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_bad_address),
		cmocka_unit_test(test_accept_connect_io),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_group),
		cmocka_unit_test(test_want_write),
		cmocka_unit_test(test_connect_async),
		cmocka_unit_test(test_zerocopy_send),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
