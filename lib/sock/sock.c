/* SPDX-License-Identifier: BSD-3-Clause */
/* Non-blocking TCP sockets (POSIX), epoll-based socket groups, and the dispatch to other group
 * implementations (sock_uring.c). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "usk/sock.h"
#include "usk/util.h"
#include "usk/log.h"
#include "sock_internal.h"

void
usk_sock_get_default_opts(struct usk_sock_opts *opts, size_t opts_size)
{
	struct usk_sock_opts def = {
		.opts_size = opts_size,
		.priority = 0,
		.nodelay = true,
		.recv_buf_size = 0,
		.send_buf_size = 0,
	};

	memcpy(opts, &def, USK_MIN(opts_size, sizeof(def)));
}

static void
opts_copy(struct usk_sock_opts *dst, const struct usk_sock_opts *src)
{
	usk_sock_get_default_opts(dst, sizeof(*dst));
	if (src != NULL) {
		memcpy(dst, src, USK_MIN(src->opts_size, sizeof(*dst)));
		dst->opts_size = sizeof(*dst);
	}
}

static int
sock_apply_opts(int fd, const struct usk_sock_opts *opts, bool stream)
{
	int val;

	if (opts->recv_buf_size > 0) {
		val = opts->recv_buf_size;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &val, sizeof(val)) != 0) {
			return -errno;
		}
	}
	if (opts->send_buf_size > 0) {
		val = opts->send_buf_size;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &val, sizeof(val)) != 0) {
			return -errno;
		}
	}
	if (opts->priority != 0) {
		val = opts->priority;
		if (setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &val, sizeof(val)) != 0) {
			return -errno;
		}
	}
	if (stream && opts->nodelay) {
		val = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &val, sizeof(val)) != 0) {
			return -errno;
		}
	}
	return 0;
}

static int
set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		return -errno;
	}
	return 0;
}

static struct usk_sock *
sock_alloc(int fd, bool ipv6, const struct usk_sock_opts *opts)
{
	struct usk_sock *sock = calloc(1, sizeof(*sock));

	if (sock == NULL) {
		return NULL;
	}
	sock->fd = fd;
	sock->ipv6 = ipv6;
	opts_copy(&sock->opts, opts);
	return sock;
}

static int
resolve(const char *ip, int port, bool passive, struct addrinfo **res)
{
	struct addrinfo hints = {0};
	char portstr[16];
	const char *host = ip;
	char buf[USK_SOCK_ADDR_LEN + 2];
	size_t len;
	int rc;

	if (ip == NULL || port < 0 || port > 65535) {
		return -EINVAL;
	}
	/* accept "[::1]" as well as "::1" */
	len = strlen(ip);
	if (len >= 2 && ip[0] == '[' && ip[len - 1] == ']' && len - 2 < sizeof(buf)) {
		memcpy(buf, ip + 1, len - 2);
		buf[len - 2] = '\0';
		host = buf;
	}
	snprintf(portstr, sizeof(portstr), "%d", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* Numeric only: getaddrinfo parses the strings and never asks a name service (DNS, NSS),
	 * so it cannot block; listen() runs it on the app thread at RPC time. */
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	rc = getaddrinfo(host, portstr, &hints, res);
	if (rc != 0) {
		return rc == EAI_SYSTEM ? -errno : -EINVAL;
	}
	return 0;
}

int
usk_sock_listen(const char *ip, int port, const struct usk_sock_opts *opts, struct usk_sock **out)
{
	struct addrinfo *res, *ai;
	struct usk_sock_opts o;
	int fd = -1, rc, val = 1;

	opts_copy(&o, opts);
	rc = resolve(ip, port, true, &res);
	if (rc != 0) {
		return rc;
	}
	rc = -EINVAL;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &val, sizeof(val)) != 0 ||
		    (ai->ai_family == AF_INET6 &&
		     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &val, sizeof(val)) != 0)) {
			rc = -errno;
			goto err_close;
		}
		rc = sock_apply_opts(fd, &o, false);
		if (rc != 0) {
			goto err_close;
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 512) != 0) {
			rc = -errno;
			goto err_close;
		}
		rc = set_nonblock(fd);
		if (rc != 0) {
			goto err_close;
		}
		*out = sock_alloc(fd, ai->ai_family == AF_INET6, &o);
		if (*out == NULL) {
			rc = -ENOMEM;
			goto err_close;
		}
		(*out)->listener = true;
		freeaddrinfo(res);
		return 0;
err_close:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return rc;
}

int
usk_sock_accept(struct usk_sock *lsock, struct usk_sock **out)
{
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	int fd, rc;

	fd = accept4(lsock->fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
	rc = sock_apply_opts(fd, &lsock->opts, true);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	*out = sock_alloc(fd, sa.ss_family == AF_INET6, &lsock->opts);
	if (*out == NULL) {
		close(fd);
		return -ENOMEM;
	}
	(*out)->server = true;
	return 0;
}

int
usk_sock_connect(const char *ip, int port, const struct usk_sock_opts *opts, struct usk_sock **out)
{
	struct pollfd pfd;
	int rc;

	rc = usk_sock_connect_async(ip, port, opts, out);
	if (rc != 0) {
		return rc;
	}
	/* Blocking by contract (tests, tools): wait for the connect, bounded by the SYN retries. */
	pfd = (struct pollfd){.fd = (*out)->fd, .events = POLLOUT};
	while ((rc = usk_sock_connect_poll(*out)) == -EAGAIN) {
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
	}
	if (rc != 0) {
		usk_sock_close(out);
	}
	return rc;
}

int
usk_sock_connect_async(const char *ip, int port, const struct usk_sock_opts *opts,
		       struct usk_sock **out)
{
	struct addrinfo *res, *ai;
	struct usk_sock_opts o;
	bool in_progress;
	int fd, rc;

	opts_copy(&o, opts);
	rc = resolve(ip, port, false, &res);
	if (rc != 0) {
		return rc;
	}
	rc = -EINVAL;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		in_progress = false;
		rc = sock_apply_opts(fd, &o, true);
		if (rc == 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			if (errno == EINPROGRESS) {
				in_progress = true;
			} else {
				rc = -errno;
			}
		}
		if (rc == 0) {
			*out = sock_alloc(fd, ai->ai_family == AF_INET6, &o);
			if (*out == NULL) {
				rc = -ENOMEM;
			} else {
				(*out)->connecting = in_progress;
				freeaddrinfo(res);
				return 0;
			}
		}
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}

int
usk_sock_connect_poll(struct usk_sock *sock)
{
	struct pollfd pfd = {.fd = sock->fd, .events = POLLOUT};
	socklen_t len = sizeof(int);
	int err = 0, n;

	if (!sock->connecting) {
		return 0;
	}
	n = poll(&pfd, 1, 0);
	if (n < 0) {
		return errno == EINTR ? -EAGAIN : -errno;
	}
	if (n == 0) {
		return -EAGAIN;
	}
	/* Writable or in error: SO_ERROR says which (and clears it). */
	if (getsockopt(sock->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
		return -errno;
	}
	if (err != 0) {
		return -err;
	}
	if (!(pfd.revents & POLLOUT)) {
		/* POLLHUP/POLLERR without an error code: treat as refused. */
		return -ECONNREFUSED;
	}
	sock->connecting = false;
	return 0;
}

void
usk_sock_close(struct usk_sock **psock)
{
	struct usk_sock *sock = *psock;

	if (sock == NULL) {
		return;
	}
	if (sock->group != NULL) {
		usk_sock_group_remove_sock(sock->group, sock);
	}
	if (sock->zc_pending > 0) {
		/* the kernel still references memory the caller reuses after this: no graceful
		 * close that would send (or retransmit) it later */
		usk_sock_abort(sock);
	}
	close(sock->fd);
	free(sock);
	*psock = NULL;
}

ssize_t
usk_sock_recv(struct usk_sock *sock, void *buf, size_t len)
{
	ssize_t n;

	if (sock->impl_ctx != NULL) {
		struct iovec iov = {.iov_base = buf, .iov_len = len};

		return sock->group->ops->readv(sock, &iov, 1);
	}
	n = recv(sock->fd, buf, len, MSG_DONTWAIT);

	if (n > 0) {
		return n;
	}
	if (n == 0) {
		return len == 0 ? 0 : -ECONNRESET;
	}
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

ssize_t
usk_sock_readv(struct usk_sock *sock, const struct iovec *iov, int iovcnt)
{
	ssize_t n;

	if (iovcnt > USK_SOCK_MAX_IOV) {
		iovcnt = USK_SOCK_MAX_IOV;
	}
	if (sock->impl_ctx != NULL) {
		return sock->group->ops->readv(sock, iov, iovcnt);
	}
	n = readv(sock->fd, iov, iovcnt);
	if (n > 0) {
		return n;
	}
	if (n == 0) {
		return usk_iov_length(iov, iovcnt) == 0 ? 0 : -ECONNRESET;
	}
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

ssize_t
usk_sock_writev(struct usk_sock *sock, const struct iovec *iov, int iovcnt)
{
	struct msghdr msg = {0};
	ssize_t n;

	if (iovcnt > USK_SOCK_MAX_IOV) {
		iovcnt = USK_SOCK_MAX_IOV;
	}
	msg.msg_iov = (struct iovec *)iov;
	msg.msg_iovlen = (size_t)iovcnt;
	n = sendmsg(sock->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n >= 0) {
		return n;
	}
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

bool
usk_sock_has_async_writev(const struct usk_sock *sock)
{
	return sock->impl_ctx != NULL && sock->group->ops->writev_async != NULL;
}

int
usk_sock_writev_async(struct usk_sock *sock, const struct iovec *iov, int iovcnt,
		      usk_sock_write_cb cb, void *cb_arg)
{
	if (!usk_sock_has_async_writev(sock) || cb == NULL || iovcnt <= 0 ||
	    iovcnt > USK_SOCK_MAX_IOV) {
		return -EINVAL;
	}
	return sock->group->ops->writev_async(sock, iov, iovcnt, cb, cb_arg);
}

int
usk_sock_get_fd(const struct usk_sock *sock)
{
	return sock->fd;
}

static int
format_addr(const struct sockaddr_storage *sa, char *addr, int alen, uint16_t *port)
{
	const void *src;

	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		src = &in->sin_addr;
		if (port != NULL) {
			*port = ntohs(in->sin_port);
		}
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		src = &in6->sin6_addr;
		if (port != NULL) {
			*port = ntohs(in6->sin6_port);
		}
	} else {
		return -EINVAL;
	}
	if (addr != NULL && inet_ntop(sa->ss_family, src, addr, (socklen_t)alen) == NULL) {
		return -errno;
	}
	return 0;
}

int
usk_sock_getaddr(struct usk_sock *sock, char *saddr, int slen, uint16_t *sport, char *caddr,
		 int clen, uint16_t *cport)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	int rc;

	if (saddr != NULL || sport != NULL) {
		salen = sizeof(sa);
		if (getsockname(sock->fd, (struct sockaddr *)&sa, &salen) != 0) {
			return -errno;
		}
		rc = format_addr(&sa, saddr, slen, sport);
		if (rc != 0) {
			return rc;
		}
	}
	if (caddr != NULL || cport != NULL) {
		salen = sizeof(sa);
		if (getpeername(sock->fd, (struct sockaddr *)&sa, &salen) != 0) {
			return -errno;
		}
		rc = format_addr(&sa, caddr, clen, cport);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

bool
usk_sock_is_ipv6(const struct usk_sock *sock)
{
	return sock->ipv6;
}

void
usk_sock_set_ctx(struct usk_sock *sock, void *ctx)
{
	sock->ctx = ctx;
}

void *
usk_sock_get_ctx(const struct usk_sock *sock)
{
	return sock->ctx;
}

/* ---- groups ---- */

int
usk_sock_group_create_impl(void *ctx, const char *impl_name, struct usk_sock_group **out)
{
	struct usk_sock_group *group;
	int rc;

	if (impl_name == NULL) {
		impl_name = usk_sock_get_default_impl();
	}
	if (strcmp(impl_name, "posix") != 0 && strcmp(impl_name, "uring") != 0) {
		return -EINVAL;
	}
	group = calloc(1, sizeof(*group));
	if (group == NULL) {
		return -ENOMEM;
	}
	group->epfd = -1;
	group->ctx = ctx;
	if (strcmp(impl_name, "uring") == 0) {
		if (sock_uring_available()) {
			rc = g_sock_uring_ops.create(group);
			if (rc == 0) {
				group->ops = &g_sock_uring_ops;
				*out = group;
				return 0;
			}
			USK_NOTICELOG("sock: io_uring group setup failed (%s), using posix\n",
				      strerror(-rc));
		} else {
			USK_NOTICELOG("sock: io_uring unavailable on this kernel, using posix\n");
		}
	}
	group->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (group->epfd < 0) {
		rc = -errno;
		free(group);
		return rc;
	}
	*out = group;
	return 0;
}

int
usk_sock_group_create(void *ctx, struct usk_sock_group **out)
{
	return usk_sock_group_create_impl(ctx, NULL, out);
}

const char *
usk_sock_group_get_impl(const struct usk_sock_group *group)
{
	return group->ops != NULL ? group->ops->name : "posix";
}

static void
sock_apply_impl_bufs(struct usk_sock *sock, const char *impl)
{
	const struct usk_sock_impl_opts *io = sock_impl_opts(impl);
	int val;

	/* best effort: the kernel clamps to its limits; a failure leaves the default */
	if (io != NULL && io->recv_buf_size > 0) {
		val = (int)io->recv_buf_size;
		setsockopt(sock->fd, SOL_SOCKET, SO_RCVBUF, &val, sizeof(val));
	}
	if (io != NULL && io->send_buf_size > 0) {
		val = (int)io->send_buf_size;
		setsockopt(sock->fd, SOL_SOCKET, SO_SNDBUF, &val, sizeof(val));
	}
}

void *
usk_sock_group_get_ctx(const struct usk_sock_group *group)
{
	return group->ctx;
}

int
usk_sock_group_add_sock(struct usk_sock_group *group, struct usk_sock *sock, usk_sock_cb cb,
			void *cb_arg)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = sock};

	if (sock->group != NULL) {
		return -EBUSY;
	}
	if (cb == NULL) {
		return -EINVAL;
	}
	if (!sock->listener) {
		sock_apply_impl_bufs(sock, usk_sock_group_get_impl(group));
	}
	if (group->ops != NULL) {
		int rc;

		sock->group = group;
		sock->cb = cb;
		sock->cb_arg = cb_arg;
		rc = group->ops->add(group, sock);
		if (rc != 0) {
			sock->group = NULL;
			sock->cb = NULL;
			return rc;
		}
		group->count++;
		return 0;
	}
	if (epoll_ctl(group->epfd, EPOLL_CTL_ADD, sock->fd, &ev) != 0) {
		return -errno;
	}
	if (sock->server) {
		sock_zc_setup(sock);
	}
	sock->group = group;
	sock->cb = cb;
	sock->cb_arg = cb_arg;
	group->count++;
	return 0;
}

int
usk_sock_group_remove_sock(struct usk_sock_group *group, struct usk_sock *sock)
{
	int i;

	if (sock->group != group) {
		return -EINVAL;
	}
	if (group->ops != NULL) {
		group->ops->remove(group, sock);
		sock->group = NULL;
		sock->cb = NULL;
		sock->want_write = false;
		group->count--;
		return 0;
	}
	/* the fd may already be gone from the kernel's view; removal is best effort */
	epoll_ctl(group->epfd, EPOLL_CTL_DEL, sock->fd, NULL);
	/* drop events of this socket still pending in the poll in progress */
	for (i = group->cur + 1; i < group->nevents; i++) {
		if (group->events[i].data.ptr == sock) {
			group->events[i].data.ptr = NULL;
		}
	}
	sock->group = NULL;
	sock->cb = NULL;
	sock->want_write = false;
	group->count--;
	return 0;
}

int
usk_sock_group_want_write(struct usk_sock_group *group, struct usk_sock *sock, bool want)
{
	struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = sock};

	if (sock->group != group) {
		return -EINVAL;
	}
	if (group->ops != NULL) {
		/* async sends wait for room in the kernel; their completions wake the group */
		sock->want_write = want;
		return 0;
	}
	if (sock->want_write == want) {
		return 0;
	}
	if (epoll_ctl(group->epfd, EPOLL_CTL_MOD, sock->fd, &ev) != 0) {
		return -errno;
	}
	sock->want_write = want;
	return 0;
}

int
usk_sock_group_poll_count(struct usk_sock_group *group, int max_events)
{
	int n, handled = 0;

	if (max_events <= 0 || max_events > SOCK_GROUP_MAX_EVENTS) {
		max_events = SOCK_GROUP_MAX_EVENTS;
	}
	if (group->ops != NULL) {
		return group->ops->poll(group, max_events);
	}
	if (group->count == 0) {
		return 0;
	}
	n = epoll_wait(group->epfd, group->events, max_events, 0);
	if (n < 0) {
		return errno == EINTR ? 0 : -errno;
	}
	group->nevents = n;
	for (group->cur = 0; group->cur < n; group->cur++) {
		struct usk_sock *sock = group->events[group->cur].data.ptr;
		uint32_t ev = group->events[group->cur].events;

		if (sock == NULL || sock->cb == NULL) {
			continue;
		}
		if (usk_unlikely(sock->zc && (ev & EPOLLERR) != 0)) {
			/* zero-copy completions on the error queue; a real error has none (and the
			 * callback's recv reports it) */
			int r = usk_sock_zerocopy_reap(sock);

			if (group->events[group->cur].data.ptr == NULL) {
				continue; /* removed by the completion callback */
			}
			if (r > 0 && (ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) == 0) {
				handled++;
				continue;
			}
		}
		sock->cb(sock->cb_arg, group, sock);
		handled++;
	}
	group->nevents = 0;
	group->cur = 0;
	return handled;
}

int
usk_sock_group_poll(struct usk_sock_group *group)
{
	return usk_sock_group_poll_count(group, SOCK_GROUP_DEFAULT_EVENTS);
}

int
usk_sock_group_flush(struct usk_sock_group *group)
{
	return group->ops != NULL ? group->ops->flush(group) : 0;
}

int
usk_sock_group_get_fd(const struct usk_sock_group *group)
{
	if (group->ops != NULL) {
		return group->ops->get_fd((struct usk_sock_group *)group);
	}
	return group->epfd;
}

uint32_t
usk_sock_group_count(const struct usk_sock_group *group)
{
	return group->count;
}

int
usk_sock_group_close(struct usk_sock_group **pgroup)
{
	struct usk_sock_group *group = *pgroup;

	if (group == NULL) {
		return 0;
	}
	if (group->count != 0) {
		return -EBUSY;
	}
	if (group->ops != NULL) {
		group->ops->destroy(group);
	} else {
		close(group->epfd);
	}
	free(group);
	*pgroup = NULL;
	return 0;
}
