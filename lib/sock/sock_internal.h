/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/sock internals: the socket and group structs and the ops table of a group implementation. */
#ifndef USK_SOCK_INTERNAL_H
#define USK_SOCK_INTERNAL_H

#include <stdbool.h>
#include <sys/epoll.h>

#include "usk/sock.h"

#define SOCK_GROUP_MAX_EVENTS	  128
#define SOCK_GROUP_DEFAULT_EVENTS 32

struct sock_group_ops;

struct usk_sock {
	int fd;
	bool ipv6;
	bool listener;
	/* a usk_sock_connect_async() connect not yet seen complete */
	bool connecting;
	struct usk_sock_opts opts;
	void *ctx;
	/* group membership; group == NULL when not in a group */
	struct usk_sock_group *group;
	bool want_write;
	usk_sock_cb cb;
	void *cb_arg;
	/* the group implementation's per-socket state (NULL for posix) */
	void *impl_ctx;
	/* accepted by usk_sock_accept (a server-side socket) */
	bool server;
	/* MSG_ZEROCOPY sends (sock_zc.c): on, threshold, next send number, not completed yet */
	bool zc;
	uint32_t zc_threshold;
	uint32_t zc_next;
	uint32_t zc_pending;
	uint64_t zc_copied; /* completions the kernel reported as copied (loopback) */
	usk_sock_zc_cb zc_cb;
	void *zc_arg;
};

/* Turn on SO_ZEROCOPY for a server socket joining a posix group, if the posix opts say so. */
void sock_zc_setup(struct usk_sock *sock);

struct usk_sock_group {
	const struct sock_group_ops *ops;
	uint32_t count;
	void *ctx;
	/* posix (epoll): events of the poll in progress; entries of removed sockets are cleared */
	int epfd;
	int nevents;
	int cur;
	struct epoll_event events[SOCK_GROUP_MAX_EVENTS];
	/* another implementation's state */
	void *impl;
};

/*
 * A group implementation. Sockets outside a group, and sockets of a posix group, do their I/O
 * with plain syscalls; a socket in a group of another implementation does it through ops.
 */
struct sock_group_ops {
	const char *name;
	int (*create)(struct usk_sock_group *group);
	void (*destroy)(struct usk_sock_group *group);
	int (*add)(struct usk_sock_group *group, struct usk_sock *sock);
	void (*remove)(struct usk_sock_group *group, struct usk_sock *sock);
	int (*poll)(struct usk_sock_group *group, int max_events);
	int (*flush)(struct usk_sock_group *group);
	int (*get_fd)(struct usk_sock_group *group);
	ssize_t (*readv)(struct usk_sock *sock, const struct iovec *iov, int iovcnt);
	int (*writev_async)(struct usk_sock *sock, const struct iovec *iov, int iovcnt,
			    usk_sock_write_cb cb, void *cb_arg);
};

/* Options of an implementation (set by usk_sock_impl_set_opts), read when a group is created. */
const struct usk_sock_impl_opts *sock_impl_opts(const char *name);

extern const struct sock_group_ops g_sock_uring_ops;
/* true when io_uring with multishot recv and provided buffer rings works here (probed once) */
bool sock_uring_available(void);

#endif
