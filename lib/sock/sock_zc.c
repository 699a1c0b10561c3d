/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MSG_ZEROCOPY sends of posix sockets. A server socket joining a posix group gets SO_ZEROCOPY
 * when the posix options enable it; sends of at least the threshold then go out with
 * MSG_ZEROCOPY, each successful one numbered by the kernel's per-socket counter (0, 1, ...).
 * The kernel reports ranges of numbers whose pages it has released on the socket's error queue
 * (SO_EE_ORIGIN_ZEROCOPY, ee_info..ee_data); only then may the caller reuse the data. The
 * poll reads the queue when epoll reports EPOLLERR for the socket.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* after time.h: linux/errqueue.h needs struct timespec */
#include <linux/errqueue.h>
#include <unistd.h>

#include "usk/log.h"
#include "usk/util.h"
#include "sock_internal.h"

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif

void
sock_zc_setup(struct usk_sock *sock)
{
	const struct usk_sock_impl_opts *io = sock_impl_opts("posix");
	int one = 1;

	if (io == NULL || !io->enable_zerocopy_send_server || sock->zc) {
		return;
	}
	if (setsockopt(sock->fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) != 0) {
		USK_NOTICELOG("sock: SO_ZEROCOPY refused (%s): sends are copied\n",
			      strerror(errno));
		return;
	}
	sock->zc = true;
	sock->zc_threshold = io->zerocopy_threshold;
}

bool
usk_sock_zerocopy_enabled(const struct usk_sock *sock)
{
	return sock->zc;
}

int
usk_sock_set_zerocopy_cb(struct usk_sock *sock, usk_sock_zc_cb cb, void *cb_arg)
{
	if (!sock->zc) {
		return -ENOTSUP;
	}
	sock->zc_cb = cb;
	sock->zc_arg = cb_arg;
	return 0;
}

uint32_t
usk_sock_zerocopy_pending(const struct usk_sock *sock)
{
	return sock->zc_pending;
}

ssize_t
usk_sock_writev_zc(struct usk_sock *sock, const struct iovec *iov, int iovcnt, bool *zc,
		   uint32_t *seq)
{
	struct msghdr msg = {0};
	ssize_t n;

	*zc = false;
	if (iovcnt > USK_SOCK_MAX_IOV) {
		iovcnt = USK_SOCK_MAX_IOV;
	}
	if (!sock->zc || usk_iov_length(iov, iovcnt) < sock->zc_threshold) {
		return usk_sock_writev(sock, iov, iovcnt);
	}
	msg.msg_iov = (struct iovec *)iov;
	msg.msg_iovlen = (size_t)iovcnt;
	n = sendmsg(sock->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_ZEROCOPY);
	if (n > 0) {
		*zc = true;
		*seq = sock->zc_next++;
		sock->zc_pending++;
		return n;
	}
	if (n < 0 && errno == ENOBUFS) {
		/* out of option memory for completions: this one goes out copied */
		return usk_sock_writev(sock, iov, iovcnt);
	}
	if (n == 0) {
		return 0;
	}
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

int
usk_sock_zerocopy_reap(struct usk_sock *sock)
{
	char control[CMSG_SPACE(sizeof(struct sock_extended_err)) + 64];
	int ranges = 0;

	for (;;) {
		struct msghdr msg = {.msg_control = control, .msg_controllen = sizeof(control)};
		struct cmsghdr *cm;

		if (recvmsg(sock->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				return ranges;
			}
			return -errno;
		}
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
			struct sock_extended_err serr;
			uint32_t lo, hi, count;

			if (!((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
			      (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR))) {
				continue;
			}
			memcpy(&serr, CMSG_DATA(cm), sizeof(serr));
			if (serr.ee_origin != SO_EE_ORIGIN_ZEROCOPY || serr.ee_errno != 0) {
				continue;
			}
			lo = serr.ee_info;
			hi = serr.ee_data;
			count = hi - lo + 1;
			if (count > sock->zc_pending) {
				USK_WARNLOG(
					"sock: fd %d: zero-copy completion %u..%u for %u pending "
					"sends\n",
					sock->fd, lo, hi, sock->zc_pending);
				count = sock->zc_pending;
			}
			sock->zc_pending -= count;
			if (serr.ee_code & SO_EE_CODE_ZEROCOPY_COPIED) {
				sock->zc_copied += count;
			}
			ranges++;
			if (sock->zc_cb != NULL) {
				sock->zc_cb(sock->zc_arg, sock, lo, hi);
			}
		}
	}
}

void
usk_sock_abort(struct usk_sock *sock)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct sockaddr sa = {.sa_family = AF_UNSPEC};

	setsockopt(sock->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	/* AF_UNSPEC connect: tcp_disconnect, which sends RST and purges the send queue */
	if (connect(sock->fd, &sa, sizeof(sa)) != 0) {
		USK_NOTICELOG("sock: fd %d: reset failed: %s\n", sock->fd, strerror(errno));
	}
}
