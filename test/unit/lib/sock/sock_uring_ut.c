/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the io_uring socket groups (lib/sock/sock_uring.c) and the implementation
 * registry, over loopback TCP pairs: stream integrity through the buffer ring with short reads,
 * partial async sends to a stalled peer (the group keeps serving other sockets), a socket whose
 * reader stalls (it cannot starve the others of receive buffers; its ring runs out, ENOBUFS, and
 * it resumes intact once read), peer close,
 * removal with a send in flight, the interrupt-mode eventfd. Skipped where io_uring is missing.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "usk/sock.h"

static struct usk_sock *
accept_wait(struct usk_sock *l)
{
	struct usk_sock *s = NULL;
	int i;

	for (i = 0; i < 1000; i++) {
		if (usk_sock_accept(l, &s) == 0) {
			return s;
		}
		usleep(1000);
	}
	fail_msg("accept timed out");
	return NULL;
}

static void
make_pair(struct usk_sock **l, struct usk_sock **c, struct usk_sock **s)
{
	uint16_t port;

	assert_int_equal(usk_sock_listen("127.0.0.1", 0, NULL, l), 0);
	assert_int_equal(usk_sock_getaddr(*l, NULL, 0, &port, NULL, 0, NULL), 0);
	assert_int_equal(usk_sock_connect("127.0.0.1", port, NULL, c), 0);
	*s = accept_wait(*l);
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint8_t
pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 11));
}

static int
setup_uring(void **state)
{
	if (!usk_sock_impl_is_available("uring")) {
		skip();
	}
	return 0;
}

/* ---- registry ---- */

static void
test_impl_registry(void **state)
{
	struct usk_sock_impl_opts o, bad;
	struct usk_sock_group *g = NULL;

	assert_string_equal(usk_sock_get_default_impl(), "posix");
	assert_int_equal(usk_sock_set_default_impl("bogus"), -EINVAL);
	assert_int_equal(usk_sock_set_default_impl(NULL), -EINVAL);
	assert_string_equal(usk_sock_get_default_impl(), "posix");
	assert_int_equal(usk_sock_impl_get_opts("bogus", &o, sizeof(o)), -EINVAL);
	assert_int_equal(usk_sock_impl_get_opts("uring", &o, sizeof(o)), 0);
	assert_true(o.buf_count >= 16 && o.buf_size >= 4096);
	bad = o;
	bad.buf_count = 100; /* not a power of two */
	assert_int_equal(usk_sock_impl_set_opts("uring", &bad), -EINVAL);
	bad = o;
	bad.buf_size = 100;
	assert_int_equal(usk_sock_impl_set_opts("uring", &bad), -EINVAL);
	assert_int_equal(usk_sock_impl_set_opts("uring", &o), 0);
	assert_true(usk_sock_impl_is_available("posix"));
	assert_false(usk_sock_impl_is_available("bogus"));
	assert_int_equal(usk_sock_group_create_impl(NULL, "bogus", &g), -EINVAL);
	assert_null(g);
	assert_int_equal(usk_sock_group_create_impl(NULL, "posix", &g), 0);
	assert_string_equal(usk_sock_group_get_impl(g), "posix");
	assert_int_equal(usk_sock_group_close(&g), 0);
}

/* ---- receive through the buffer ring, in short reads ---- */

struct rx_ctx {
	uint8_t *buf;
	size_t len;
	size_t chunk; /* bytes read per callback: short reads leave data queued */
	int calls;
	int last_rc;
};

static void
rx_cb(void *arg, struct usk_sock_group *group, struct usk_sock *sock)
{
	struct rx_ctx *ctx = arg;
	ssize_t rc;

	ctx->calls++;
	rc = usk_sock_recv(sock, ctx->buf + ctx->len, ctx->chunk);
	if (rc > 0) {
		ctx->len += (size_t)rc;
	}
	ctx->last_rc = (int)rc;
}

static void
test_uring_recv_short_reads(void **state)
{
	const size_t total = 300000;
	struct usk_sock_group *g;
	struct usk_sock *l, *c, *s;
	struct rx_ctx ctx = {.chunk = 1000};
	uint8_t *src = malloc(total);
	size_t sent = 0, i;
	int n;

	ctx.buf = calloc(1, total + 4096);
	for (i = 0; i < total; i++) {
		src[i] = pattern(i);
	}
	assert_int_equal(usk_sock_group_create_impl(NULL, "uring", &g), 0);
	assert_string_equal(usk_sock_group_get_impl(g), "uring");
	make_pair(&l, &c, &s);
	assert_int_equal(usk_sock_group_add_sock(g, s, rx_cb, &ctx), 0);
	assert_true(usk_sock_has_async_writev(s));
	assert_false(usk_sock_has_async_writev(c));
	for (n = 0; n < 20000 && ctx.len < total; n++) {
		if (sent < total) {
			struct iovec iov = {.iov_base = src + sent, .iov_len = total - sent};
			ssize_t rc = usk_sock_writev(c, &iov, 1);

			if (rc > 0) {
				sent += (size_t)rc;
			} else {
				assert_int_equal(rc, -EAGAIN);
			}
		}
		assert_true(usk_sock_group_poll(g) >= 0);
		if (ctx.last_rc == -EAGAIN) {
			usleep(100);
		}
	}
	assert_int_equal(ctx.len, total);
	assert_memory_equal(ctx.buf, src, total);
	/* at most 1000 bytes a callback: every short read left the rest queued for a later poll */
	assert_true(ctx.calls >= (int)(total / 1000));

	/* peer close: queued data first, then -ECONNRESET */
	usk_sock_close(&c);
	ctx.last_rc = 0;
	for (n = 0; n < 2000 && ctx.last_rc != -ECONNRESET; n++) {
		usk_sock_group_poll(g);
		usleep(500);
	}
	assert_int_equal(ctx.last_rc, -ECONNRESET);
	usk_sock_close(&s);
	assert_int_equal(usk_sock_group_count(g), 0);
	assert_int_equal(usk_sock_group_close(&g), 0);
	usk_sock_close(&l);
	free(src);
	free(ctx.buf);
}

/* ---- partial sends to a stalled peer ---- */

struct tx_ctx {
	int done;
	ssize_t rc;
};

static void
tx_cb(void *arg, struct usk_sock *sock, ssize_t rc)
{
	struct tx_ctx *ctx = arg;

	ctx->done++;
	ctx->rc = rc;
}

static void
test_uring_partial_send_stalled_peer(void **state)
{
	const size_t total = 8u << 20;
	struct usk_sock_impl_opts o, saved;
	struct usk_sock_group *g;
	struct usk_sock *l, *l2, *c, *s, *c2, *s2;
	struct rx_ctx rx2 = {.chunk = 64};
	struct tx_ctx tx = {0};
	uint8_t *src = malloc(total), *dst = malloc(total);
	struct iovec iov[2];
	size_t sent = 0, got = 0, i;
	uint64_t t0, worst = 0;
	int n;

	rx2.buf = calloc(1, 4096);
	for (i = 0; i < total; i++) {
		src[i] = pattern(i);
	}
	/* small kernel buffers so that the peer stalls the send early */
	assert_int_equal(usk_sock_impl_get_opts("uring", &saved, sizeof(saved)), 0);
	o = saved;
	o.send_buf_size = 16384;
	assert_int_equal(usk_sock_impl_set_opts("uring", &o), 0);
	assert_int_equal(usk_sock_group_create_impl(NULL, "uring", &g), 0);
	make_pair(&l, &c, &s);
	make_pair(&l2, &c2, &s2);
	usk_sock_close(&l);
	usk_sock_close(&l2);
	assert_int_equal(usk_sock_group_add_sock(g, s, rx_cb, &rx2), 0);
	assert_int_equal(usk_sock_group_add_sock(g, s2, rx_cb, &rx2), 0);
	assert_int_equal(usk_sock_impl_set_opts("uring", &saved), 0);

	/* two iovecs: the kernel takes what fits, the rest is the caller's to resubmit */
	iov[0].iov_base = src;
	iov[0].iov_len = total / 2;
	iov[1].iov_base = src + total / 2;
	iov[1].iov_len = total / 2;
	assert_int_equal(usk_sock_writev_async(s, iov, 2, tx_cb, &tx), 0);
	assert_int_equal(usk_sock_writev_async(s, iov, 2, tx_cb, &tx), -EBUSY);
	assert_int_equal(usk_sock_group_flush(g), 0);
	/* the peer reads nothing: the group keeps polling quickly and serves the other socket */
	for (n = 0; n < 200; n++) {
		t0 = now_us();
		usk_sock_group_poll(g);
		usk_sock_group_flush(g);
		if (now_us() - t0 > worst) {
			worst = now_us() - t0;
		}
		if (n == 50) {
			struct iovec one = {.iov_base = "ping", .iov_len = 4};

			assert_int_equal(usk_sock_writev(c2, &one, 1), 4);
		}
		usleep(200);
	}
	assert_int_equal(rx2.len, 4);
	assert_memory_equal(rx2.buf, "ping", 4);
	/* 40 ms would mean a poll waited on the stalled send */
	assert_true(worst < 40000);
	/* what the kernel could take has completed as a partial send */
	assert_int_equal(tx.done, 1);
	assert_true(tx.rc > 0 && (size_t)tx.rc < total);

	/* the peer drains; resubmit the rest after each completion until all is out */
	for (n = 0; n < 200000 && got < total; n++) {
		struct iovec r = {.iov_base = dst + got, .iov_len = total - got};
		ssize_t rc = usk_sock_readv(c, &r, 1);

		if (rc > 0) {
			got += (size_t)rc;
		}
		usk_sock_group_poll(g);
		if (tx.done) {
			assert_true(tx.rc >= 0);
			sent += (size_t)tx.rc;
			tx.done = 0;
			if (sent < total) {
				struct iovec rest = {.iov_base = src + sent,
						     .iov_len = total - sent};

				assert_int_equal(usk_sock_writev_async(s, &rest, 1, tx_cb, &tx), 0);
			}
		}
		usk_sock_group_flush(g);
		if (rc == -EAGAIN) {
			usleep(50);
		}
	}
	assert_int_equal(got, total);
	assert_int_equal(sent, total);
	assert_memory_equal(dst, src, total);

	/* removal with a send in flight to a stalled peer: returns, and no callback follows */
	assert_int_equal(usk_sock_writev_async(s, iov, 2, tx_cb, &tx), 0);
	usk_sock_group_flush(g);
	usk_sock_group_poll(g);
	tx.done = 0;
	t0 = now_us();
	usk_sock_close(&s);
	assert_true(now_us() - t0 < 1000000);
	for (n = 0; n < 20; n++) {
		usk_sock_group_poll(g);
	}
	assert_int_equal(tx.done, 0);
	usk_sock_close(&s2);
	assert_int_equal(usk_sock_group_close(&g), 0);
	usk_sock_close(&c);
	usk_sock_close(&c2);
	free(src);
	free(dst);
	free(rx2.buf);
}

/* ---- buffer-ring hoarding: a socket whose reader stalls holds at most its share ---- */

struct hoard_ctx {
	bool reading; /* false: the callback reads nothing (a request waiting for buffers) */
	struct rx_ctx rx;
};

static void
hoard_cb(void *arg, struct usk_sock_group *group, struct usk_sock *sock)
{
	struct hoard_ctx *h = arg;

	if (h->reading) {
		rx_cb(&h->rx, group, sock);
	}
}

/* write what the socket takes of src[*sent..total) */
static void
push(struct usk_sock *c, const uint8_t *src, size_t total, size_t *sent)
{
	struct iovec iov = {.iov_base = (void *)(src + *sent), .iov_len = total - *sent};
	ssize_t rc;

	if (*sent == total) {
		return;
	}
	rc = usk_sock_writev(c, &iov, 1);
	if (rc > 0) {
		*sent += (size_t)rc;
	} else {
		assert_int_equal(rc, -EAGAIN);
	}
}

static void
test_uring_hoarding_cap(void **state)
{
	const size_t big = 1u << 20, small = 96 * 1024;
	struct usk_sock_impl_opts o, saved;
	struct usk_sock_group *g;
	struct usk_sock *l, *c1, *s1, *c2, *s2, *l3, *c3, *s3;
	struct hoard_ctx h1 = {.reading = false}, h2 = {.reading = true}, h3 = {.reading = true};
	uint8_t *src = malloc(big);
	size_t sent1 = 0, sent2 = 0, sent3 = 0, i;
	int n;

	for (i = 0; i < big; i++) {
		src[i] = pattern(i);
	}
	h1.rx.buf = calloc(1, big);
	h1.rx.chunk = big;
	h2.rx.buf = calloc(1, small);
	h2.rx.chunk = 4096;
	h3.rx.buf = calloc(1, small);
	h3.rx.chunk = 4096;
	/* small rings: 16 x 4 KiB per socket (a shared ring of 16 was taken whole by socket 1) */
	assert_int_equal(usk_sock_impl_get_opts("uring", &saved, sizeof(saved)), 0);
	o = saved;
	o.buf_count = 16;
	o.buf_size = 4096;
	assert_int_equal(usk_sock_impl_set_opts("uring", &o), 0);
	assert_int_equal(usk_sock_group_create_impl(NULL, "uring", &g), 0);
	assert_int_equal(usk_sock_impl_set_opts("uring", &saved), 0);
	make_pair(&l, &c1, &s1);
	c2 = NULL;
	{
		uint16_t port;

		assert_int_equal(usk_sock_getaddr(l, NULL, 0, &port, NULL, 0, NULL), 0);
		assert_int_equal(usk_sock_connect("127.0.0.1", port, NULL, &c2), 0);
		s2 = accept_wait(l);
	}
	make_pair(&l3, &c3, &s3);
	usk_sock_close(&l);
	usk_sock_close(&l3);
	assert_int_equal(usk_sock_group_add_sock(g, s1, hoard_cb, &h1), 0);
	assert_int_equal(usk_sock_group_add_sock(g, s2, hoard_cb, &h2), 0);
	assert_int_equal(usk_sock_group_add_sock(g, s3, hoard_cb, &h3), 0);

	/* socket 1's peer fills its socket while its reader reads nothing */
	for (n = 0; n < 200; n++) {
		push(c1, src, big, &sent1);
		usk_sock_group_poll(g);
		usk_sock_group_flush(g);
		usleep(200);
	}
	assert_true(sent1 > 16 * 4096); /* more than its ring holds: the rest waits in the kernel */
	/* the other two still receive everything their peers send, intact */
	for (n = 0; n < 20000 && (h2.rx.len < small || h3.rx.len < small); n++) {
		push(c1, src, big, &sent1);
		push(c2, src, small, &sent2);
		push(c3, src, small, &sent3);
		usk_sock_group_poll(g);
		usk_sock_group_flush(g);
		if (n % 16 == 0) {
			usleep(100);
		}
	}
	assert_int_equal(h2.rx.len, small);
	assert_int_equal(h3.rx.len, small);
	assert_memory_equal(h2.rx.buf, src, small);
	assert_memory_equal(h3.rx.buf, src, small);
	/* socket 1's reader resumes: its stream comes out whole and in order */
	h1.reading = true;
	for (n = 0; n < 200000 && h1.rx.len < big; n++) {
		push(c1, src, big, &sent1);
		usk_sock_group_poll(g);
		usk_sock_group_flush(g);
		if (h1.rx.last_rc == -EAGAIN) {
			usleep(50);
		}
	}
	assert_int_equal(h1.rx.len, big);
	assert_memory_equal(h1.rx.buf, src, big);
	usk_sock_close(&s1);
	usk_sock_close(&s2);
	usk_sock_close(&s3);
	assert_int_equal(usk_sock_group_close(&g), 0);
	usk_sock_close(&c1);
	usk_sock_close(&c2);
	usk_sock_close(&c3);
	free(src);
	free(h1.rx.buf);
	free(h2.rx.buf);
	free(h3.rx.buf);
}

/* ---- a write callback that closes its own socket (the NVMe/TCP send-error path) ---- */

struct close_ctx {
	struct usk_sock *sock;
	int calls;
};

static void
tx_close_cb(void *arg, struct usk_sock *sock, ssize_t rc)
{
	struct close_ctx *ctx = arg;

	ctx->calls++;
	assert_ptr_equal(sock, ctx->sock);
	usk_sock_close(&ctx->sock);
}

static void
rx_fail_cb(void *arg, struct usk_sock_group *group, struct usk_sock *sock)
{
	fail_msg("read callback of a socket closed by its write callback");
}

static void
test_uring_close_in_write_cb(void **state)
{
	struct usk_sock_group *g;
	struct usk_sock *l, *c;
	struct close_ctx ctx = {0};
	struct iovec iov = {.iov_base = "data", .iov_len = 4};
	char buf[8];
	int n;

	assert_int_equal(usk_sock_group_create_impl(NULL, "uring", &g), 0);
	make_pair(&l, &c, &ctx.sock);
	assert_int_equal(usk_sock_group_add_sock(g, ctx.sock, rx_fail_cb, NULL), 0);
	/* the peer's bytes and the send completion arrive for the same poll */
	assert_int_equal(usk_sock_writev(c, &iov, 1), 4);
	assert_int_equal(usk_sock_writev_async(ctx.sock, &iov, 1, tx_close_cb, &ctx), 0);
	assert_int_equal(usk_sock_group_flush(g), 0);
	usleep(20000);
	for (n = 0; n < 100 && ctx.calls == 0; n++) {
		usk_sock_group_poll(g);
		usleep(1000);
	}
	assert_int_equal(ctx.calls, 1);
	assert_null(ctx.sock);
	assert_int_equal(usk_sock_group_count(g), 0);
	assert_int_equal(usk_sock_recv(c, buf, sizeof(buf)), 4);
	assert_int_equal(usk_sock_group_close(&g), 0);
	usk_sock_close(&c);
	usk_sock_close(&l);
}

/* ---- interrupt mode: the eventfd wakes a sleeping thread ---- */

static void
test_uring_eventfd(void **state)
{
	struct usk_sock_group *g;
	struct usk_sock *l, *c, *s;
	struct rx_ctx ctx = {.chunk = 100};
	struct iovec iov = {.iov_base = "wake", .iov_len = 4};
	struct pollfd pfd;
	int fd, n;

	ctx.buf = calloc(1, 4096);
	assert_int_equal(usk_sock_group_create_impl(NULL, "uring", &g), 0);
	fd = usk_sock_group_get_fd(g);
	assert_true(fd >= 0);
	assert_int_equal(usk_sock_group_get_fd(g), fd);
	make_pair(&l, &c, &s);
	assert_int_equal(usk_sock_group_add_sock(g, s, rx_cb, &ctx), 0);
	/* arm: the recv reaches the kernel; nothing pending afterwards */
	usk_sock_group_poll(g);
	usk_sock_group_flush(g);
	pfd.fd = fd;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 50), 0);
	assert_int_equal(usk_sock_writev(c, &iov, 1), 4);
	/* the data arriving must make the eventfd readable without any call from this thread */
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	for (n = 0; n < 100 && ctx.len < 4; n++) {
		usk_sock_group_poll(g);
	}
	assert_int_equal(ctx.len, 4);
	assert_memory_equal(ctx.buf, "wake", 4);
	usk_sock_group_flush(g);
	/* drained: quiet again */
	usk_sock_group_poll(g);
	usk_sock_group_flush(g);
	assert_int_equal(poll(&pfd, 1, 50), 0);
	usk_sock_close(&s);
	usk_sock_close(&c);
	usk_sock_close(&l);
	assert_int_equal(usk_sock_group_close(&g), 0);
	free(ctx.buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_impl_registry),
		cmocka_unit_test_setup(test_uring_recv_short_reads, setup_uring),
		cmocka_unit_test_setup(test_uring_partial_send_stalled_peer, setup_uring),
		cmocka_unit_test_setup(test_uring_hoarding_cap, setup_uring),
		cmocka_unit_test_setup(test_uring_close_in_write_cb, setup_uring),
		cmocka_unit_test_setup(test_uring_eventfd, setup_uring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
