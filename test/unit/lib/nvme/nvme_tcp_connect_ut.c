/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NVMe/TCP host's TCP connect is non-blocking and runs inside the controller init state
 * machine: a refused connect fails at once, a black-holed one (a 127.0.0.1 listener whose accept
 * queue is full, so SYNs are dropped) fails after transport_connect_timeout_ms while the thread
 * keeps running its other pollers, and a good one goes on to send ICReq.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/nvme.h"

#define NQN "nqn.2016-06.io.usk:cnode1"

static char g_log[8192];

static void
log_sink(int level, const char *file, int line, const char *func, const char *fmt, va_list ap)
{
	size_t len = strlen(g_log);

	if (len < sizeof(g_log) - 1) {
		vsnprintf(g_log + len, sizeof(g_log) - len, fmt, ap);
	}
}

static int g_attached;

static void
attach_cb(void *cb_ctx, const struct usk_nvme_transport_id *trid, struct usk_nvme_ctrlr *ctrlr,
	  const struct usk_nvme_ctrlr_opts *opts)
{
	g_attached++;
}

static double
now_ms(void)
{
	return (double)usk_get_ticks() * 1000.0 / (double)usk_get_ticks_hz();
}

/* A 127.0.0.1 listener with backlog 0 that never accepts; returns its fd and port. */
static int
listener(int backlog, uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A port that nothing listens on (bound, then closed). */
static uint16_t
closed_port(void)
{
	uint16_t port;
	int fd = listener(1, &port);

	close(fd);
	return port;
}

/*
 * Fill the accept queue of a never-accepting listener with completed connections: once it is
 * full, the kernel drops further SYNs and a connect stays in progress. Returns how many fds
 * were put in fills[].
 */
static int
fill_backlog(uint16_t port, int *fills, int max)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int n;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (n = 0; n < max; n++) {
		struct pollfd pfd;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		assert_true(fd >= 0);
		fills[n] = fd;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			continue;
		}
		assert_int_equal(errno, EINPROGRESS);
		pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
		if (poll(&pfd, 1, 200) == 0) {
			/* This one is black-holed: the queue is full. */
			return n + 1;
		}
	}
	fail_msg("the accept queue never filled");
	return n;
}

static void
make_trid(struct usk_nvme_transport_id *trid, uint16_t port)
{
	char str[256];

	snprintf(str, sizeof(str), "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%u subnqn:%s",
		 port, NQN);
	memset(trid, 0, sizeof(*trid));
	assert_int_equal(usk_nvme_transport_id_parse(trid, NULL, str, NULL, 0), 0);
}

struct run_result {
	double elapsed_ms;
	double max_poll_ms;   /* longest single probe poll: the reactor stall */
	uint64_t other_polls; /* iterations of the "other poller" */
};

/* Poll the connect like a reactor would, with another poller in the same loop. */
static void
run_connect(uint16_t port, uint32_t timeout_ms, struct run_result *res, int accept_fd,
	    int *accepted)
{
	struct usk_nvme_transport_id trid;
	struct usk_nvme_ctrlr_opts opts;
	struct usk_nvme_probe_ctx *ctx;
	double start, t0, t1;
	int rc;

	memset(res, 0, sizeof(*res));
	make_trid(&trid, port);
	usk_nvme_ctrlr_get_default_ctrlr_opts(&opts, sizeof(opts));
	opts.transport_connect_timeout_ms = timeout_ms;
	opts.admin_timeout_ms = timeout_ms;
	g_attached = 0;
	g_log[0] = '\0';
	start = now_ms();
	ctx = usk_nvme_connect_async(&trid, &opts, sizeof(opts), attach_cb, NULL);
	assert_non_null(ctx);
	do {
		t0 = now_ms();
		rc = usk_nvme_probe_poll_async(ctx);
		t1 = now_ms();
		if (t1 - t0 > res->max_poll_ms) {
			res->max_poll_ms = t1 - t0;
		}
		/* the other poller */
		res->other_polls++;
		if (accept_fd >= 0 && *accepted < 0) {
			*accepted = accept4(accept_fd, NULL, NULL, SOCK_CLOEXEC);
		}
		assert_true(t1 - start < timeout_ms + 5000.0);
	} while (rc == -EAGAIN);
	res->elapsed_ms = now_ms() - start;
}

static void
test_refused(void **state)
{
	struct run_result res;

	run_connect(closed_port(), 5000, &res, -1, NULL);
	assert_int_equal(g_attached, 0);
	assert_true(res.elapsed_ms < 1000.0);
	assert_non_null(strstr(g_log, "Connection refused"));
	assert_null(strstr(g_log, "timed out"));
}

static void
test_black_hole_times_out(void **state)
{
	struct run_result res;
	int fills[16], nfill, lfd, i;
	uint16_t port;

	lfd = listener(0, &port);
	nfill = fill_backlog(port, fills, 16);
	run_connect(port, 1000, &res, -1, NULL);
	assert_int_equal(g_attached, 0);
	/* Failed by the connect timeout, not by the kernel's SYN retries (~2 min) or at once. */
	assert_true(res.elapsed_ms >= 950.0);
	assert_true(res.elapsed_ms < 1000.0 + 2000.0);
	assert_non_null(strstr(g_log, "Connection timed out"));
	/*
	 * The thread was never stalled: a blocking connect would sit in one poll for the whole
	 * timeout (and beyond); here each poll returns at once (allowing for a loaded machine's
	 * scheduling delays) and the other poller kept going.
	 */
	assert_true(res.max_poll_ms < 400.0);
	assert_true(res.other_polls > 1000);
	print_message(
		"# black hole: failed after %.0f ms, longest poll %.2f ms, %llu other polls\n",
		res.elapsed_ms, res.max_poll_ms, (unsigned long long)res.other_polls);
	for (i = 0; i < nfill; i++) {
		close(fills[i]);
	}
	close(lfd);
}

static void
test_connected_sends_icreq(void **state)
{
	struct run_result res;
	uint8_t buf[128];
	int lfd, afd = -1;
	ssize_t n = 0, r;
	uint16_t port;

	/* Accepts but never answers the ICReq: init times out after the ICReq went out. */
	lfd = listener(16, &port);
	assert_int_equal(fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
	run_connect(port, 400, &res, lfd, &afd);
	assert_int_equal(g_attached, 0);
	assert_true(afd >= 0);
	while (n < (ssize_t)sizeof(buf)) {
		r = recv(afd, buf + n, sizeof(buf) - (size_t)n, 0);
		if (r <= 0) {
			break;
		}
		n += r;
	}
	assert_int_equal(n, 128);
	assert_int_equal(buf[0], 0x00); /* ICReq */
	assert_int_equal(buf[2], 128);	/* hlen */
	close(afd);
	close(lfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_black_hole_times_out),
		cmocka_unit_test(test_connected_sends_icreq),
	};
	int rc;

	usk_log_open(log_sink);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	usk_log_close();
	return rc;
}
