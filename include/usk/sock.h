/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Thin non-blocking TCP sockets and per-poll-group socket groups.
 *
 * A group has an implementation ("impl"): "posix" (one epoll fd; recv/sendmsg syscalls per
 * socket) or "uring" (one io_uring per group: multishot recv into a provided buffer ring and
 * async sendmsg, all connections of the group served by one io_uring_enter per poll). A socket
 * takes the implementation of the group it is added to; outside a group it is plain POSIX.
 *
 * A usk_sock and a usk_sock_group are owned by one thread; nothing here takes a lock. A group
 * is polled with usk_sock_group_poll() (epoll_wait with timeout 0) once per poller iteration, or
 * its fd (usk_sock_group_get_fd) is registered with usk_interrupt_register() in interrupt mode.
 * Every function returns 0 / a byte count or a negative errno; errno itself is left alone.
 */
#ifndef USK_SOCK_H
#define USK_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct usk_sock;
struct usk_sock_group;

/* Largest iovec count accepted by usk_sock_writev/readv in one call. */
#define USK_SOCK_MAX_IOV 64
/* Longest textual address written by usk_sock_getaddr (IPv6 + NUL). */
#define USK_SOCK_ADDR_LEN 46

struct usk_sock_opts {
	/* sizeof(struct usk_sock_opts) as known by the caller */
	size_t opts_size;
	/* SO_PRIORITY for the socket (and accepted sockets of a listener); 0 = leave as is */
	int priority;
	/* TCP_NODELAY; default true */
	bool nodelay;
	/* SO_RCVBUF / SO_SNDBUF in bytes; 0 = kernel default */
	int recv_buf_size;
	int send_buf_size;
};

/** Fill opts with the defaults (priority 0, nodelay true, kernel buffer sizes). */
void usk_sock_get_default_opts(struct usk_sock_opts *opts, size_t opts_size);

/**
 * Listen on ip:port (numeric IPv4 or IPv6 address, "0.0.0.0"/"::" for any). SO_REUSEADDR is set;
 * the socket is non-blocking. port 0 picks a free port (read it with usk_sock_getaddr).
 * opts may be NULL for defaults. Returns 0 and *out, or -errno (-EINVAL for a bad address).
 */
int usk_sock_listen(const char *ip, int port, const struct usk_sock_opts *opts,
		    struct usk_sock **out);

/**
 * Accept one connection from a listening socket. The new socket is non-blocking and inherits
 * the listener's options (priority, nodelay). Returns 0 and *out, -EAGAIN when none is pending,
 * or another -errno.
 */
int usk_sock_accept(struct usk_sock *lsock, struct usk_sock **out);

/**
 * Connect to ip:port: usk_sock_connect_async() plus a blocking wait (bounded by the kernel's SYN
 * retries; meant for tests, tools and benchmarks, never a reactor); the socket is non-blocking.
 * Returns 0 and *out or -errno (-ECONNREFUSED ...).
 */
int usk_sock_connect(const char *ip, int port, const struct usk_sock_opts *opts,
		     struct usk_sock **out);

/**
 * Start a non-blocking connect to ip:port (numeric address only: nothing here resolves names,
 * so nothing blocks). *out is returned at once, usually with the connect still in progress:
 * drive it with usk_sock_connect_poll() before sending. Safe on a reactor.
 * Returns 0 and *out, or -errno when the connect failed at once (-ECONNREFUSED, -EINVAL ...).
 */
int usk_sock_connect_async(const char *ip, int port, const struct usk_sock_opts *opts,
			   struct usk_sock **out);
/**
 * Check a connect started by usk_sock_connect_async() without waiting (poll for writability,
 * then SO_ERROR). Returns 0 once connected (and on every later call), -EAGAIN while still in
 * progress, or the connect's -errno (-ECONNREFUSED, -ETIMEDOUT ...). The caller owns any
 * timeout: close the socket to give up. Socket's thread.
 */
int usk_sock_connect_poll(struct usk_sock *sock);

/** Close *psock (it is first removed from its group, if any) and set it to NULL. */
void usk_sock_close(struct usk_sock **psock);

/**
 * Receive up to len bytes. Returns the byte count (> 0), -EAGAIN when nothing is available,
 * -ECONNRESET when the peer closed the connection, or another -errno.
 */
ssize_t usk_sock_recv(struct usk_sock *sock, void *buf, size_t len);
/** As usk_sock_recv into an iovec array (iovcnt <= USK_SOCK_MAX_IOV). */
ssize_t usk_sock_readv(struct usk_sock *sock, const struct iovec *iov, int iovcnt);
/**
 * Send an iovec array with one sendmsg(MSG_NOSIGNAL | MSG_DONTWAIT). Returns bytes sent (may be
 * fewer than asked: resend the rest later), -EAGAIN when the send buffer is full, or -errno
 * (-EPIPE/-ECONNRESET when the peer is gone). iovcnt is capped at USK_SOCK_MAX_IOV.
 * For a socket with usk_sock_has_async_writev() use usk_sock_writev_async instead: a direct
 * send would overtake one still in flight.
 */
ssize_t usk_sock_writev(struct usk_sock *sock, const struct iovec *iov, int iovcnt);

/** The file descriptor (for interrupt registration or diagnostics). */
int usk_sock_get_fd(const struct usk_sock *sock);
/**
 * Local (saddr, sport) and peer (caddr, cport) numeric address and port. Any output pointer may
 * be NULL; buffers should hold USK_SOCK_ADDR_LEN bytes. Returns 0 or -errno.
 */
int usk_sock_getaddr(struct usk_sock *sock, char *saddr, int slen, uint16_t *sport, char *caddr,
		     int clen, uint16_t *cport);
/** true if the socket is bound to an IPv6 address. */
bool usk_sock_is_ipv6(const struct usk_sock *sock);
/** Opaque per-socket user context. */
void usk_sock_set_ctx(struct usk_sock *sock, void *ctx);
/** The context set by usk_sock_set_ctx (NULL if none). Socket's thread. */
void *usk_sock_get_ctx(const struct usk_sock *sock);

/* ---- socket groups ---- */

/** Called from usk_sock_group_poll() for a socket that is readable or in error/hangup state. */
typedef void (*usk_sock_cb)(void *cb_arg, struct usk_sock_group *group, struct usk_sock *sock);

/** Create an empty group (one epoll fd). ctx is returned by usk_sock_group_get_ctx. */
int usk_sock_group_create(void *ctx, struct usk_sock_group **out);
/** The ctx given to usk_sock_group_create. Any thread while the group exists. */
void *usk_sock_group_get_ctx(const struct usk_sock_group *group);
/**
 * Add sock to group: cb(cb_arg, group, sock) runs from usk_sock_group_poll when sock is
 * readable. A socket belongs to at most one group. Returns 0, -EBUSY if already in a group, -errno.
 */
int usk_sock_group_add_sock(struct usk_sock_group *group, struct usk_sock *sock, usk_sock_cb cb,
			    void *cb_arg);
/**
 * Remove sock from its group. Safe from inside a callback of the same poll (even for another
 * socket whose event is still pending: that event is dropped). Returns 0 or -EINVAL.
 */
int usk_sock_group_remove_sock(struct usk_sock_group *group, struct usk_sock *sock);
/**
 * Also report sock (to its callback) when it becomes writable: for interrupt mode, where a send
 * that hit a full socket buffer must be retried without polling. Level-triggered, so turn it off
 * once the pending data is out. Returns 0, -EINVAL if sock is not in group, or -errno.
 */
int usk_sock_group_want_write(struct usk_sock_group *group, struct usk_sock *sock, bool want);
/**
 * One epoll_wait(timeout 0) of up to 32 events; runs the callbacks. Returns the number of
 * sockets handled (0 when idle) or -errno.
 */
int usk_sock_group_poll(struct usk_sock_group *group);
/** As usk_sock_group_poll with a limit of max_events (<= 128). */
int usk_sock_group_poll_count(struct usk_sock_group *group, int max_events);
/** The group's epoll fd: readable when a member socket is (for usk_interrupt_register). */
int usk_sock_group_get_fd(const struct usk_sock_group *group);
/** Number of sockets in the group. */
uint32_t usk_sock_group_count(const struct usk_sock_group *group);
/** Close the group; it must be empty (-EBUSY otherwise, and *pgroup is kept). */
int usk_sock_group_close(struct usk_sock_group **pgroup);

/* ---- implementations ("posix", "uring") ---- */

/* Longest implementation name, NUL included. */
#define USK_SOCK_IMPL_NAME_MAX 16

struct usk_sock_impl_opts {
	/* sizeof(struct usk_sock_impl_opts) as known by the caller */
	size_t opts_size;
	/* SO_RCVBUF / SO_SNDBUF set on a socket added to a group of this impl; 0 = leave as is */
	uint32_t recv_buf_size;
	uint32_t send_buf_size;
	/* uring only: provided receive buffers per connection (each has its own buffer ring; power
	 * of two, 16..32768) and their size in bytes (4096..1048576); headers, capsules and
	 * payloads are received into them */
	uint32_t buf_count;
	uint32_t buf_size;
	/* posix only: SO_ZEROCOPY on accepted (server) sockets added to a group, and sends of at
	 * least zerocopy_threshold bytes through usk_sock_writev_zc go out with MSG_ZEROCOPY
	 * (default off: on loopback the kernel copies anyway, docs/performance.md) */
	bool enable_zerocopy_send_server;
	uint32_t zerocopy_threshold;
};

/**
 * Make name the implementation of groups created from now on with usk_sock_group_create (and
 * usk_sock_group_create_impl with NULL). App thread, before the groups are created (config
 * time). Returns 0, or -EINVAL for an unknown name. "uring" is accepted even where io_uring is
 * unusable: such groups fall back to posix with a log line.
 */
int usk_sock_set_default_impl(const char *name);
/** The default implementation's name. Any thread. */
const char *usk_sock_get_default_impl(void);
/** true if name is a known implementation that works on this kernel. Any thread. */
bool usk_sock_impl_is_available(const char *name);
/** Copy the options of impl name into opts. Returns 0 or -EINVAL (unknown name). Any thread. */
int usk_sock_impl_get_opts(const char *name, struct usk_sock_impl_opts *opts, size_t opts_size);
/**
 * Set the options of impl name (groups created afterwards use them). App thread, config time.
 * Returns 0, -EINVAL for an unknown name or an out-of-range value.
 */
int usk_sock_impl_set_opts(const char *name, const struct usk_sock_impl_opts *opts);
/**
 * As usk_sock_group_create with implementation impl_name (NULL = the default). Where the
 * implementation cannot be set up (io_uring missing or refused) the group is posix and a notice
 * is logged. Returns 0 and *out, -EINVAL for an unknown name, or -errno.
 */
int usk_sock_group_create_impl(void *ctx, const char *impl_name, struct usk_sock_group **out);
/** The implementation a group actually runs ("posix" or "uring"). Any thread. */
const char *usk_sock_group_get_impl(const struct usk_sock_group *group);

/** Completion of usk_sock_writev_async: bytes sent (may be fewer than asked) or -errno. */
typedef void (*usk_sock_write_cb)(void *cb_arg, struct usk_sock *sock, ssize_t rc);

/**
 * true when sock's sends should go through usk_sock_writev_async (it is in a group whose
 * implementation sends asynchronously); false: use usk_sock_writev. Socket's thread.
 */
bool usk_sock_has_async_writev(const struct usk_sock *sock);
/**
 * Queue one send of the iovec array (iovcnt <= USK_SOCK_MAX_IOV; the array is copied, the data
 * must stay valid until cb). At most one send per socket is in flight. The send reaches the
 * kernel at the next usk_sock_group_flush or usk_sock_group_poll; cb runs from a later
 * usk_sock_group_poll with the bytes sent, or never if the socket is removed from its group
 * first (the removal waits until the kernel has dropped the send). Returns 0, -EBUSY when a send
 * is already in flight, -EINVAL when the socket has no async sends, or -errno.
 */
int usk_sock_writev_async(struct usk_sock *sock, const struct iovec *iov, int iovcnt,
			  usk_sock_write_cb cb, void *cb_arg);
/* ---- MSG_ZEROCOPY sends (posix groups, enable_zerocopy_send_server) ---- */

/**
 * Zero-copy completion: the kernel no longer references the data of the zero-copy sends
 * numbered lo..hi (inclusive, wrapping uint32; the numbers usk_sock_writev_zc returned).
 * Runs from usk_sock_group_poll (or usk_sock_zerocopy_reap) on the socket's thread.
 */
typedef void (*usk_sock_zc_cb)(void *cb_arg, struct usk_sock *sock, uint32_t lo, uint32_t hi);

/** true when sends of sock may go out zero-copy (SO_ZEROCOPY is on). Socket's thread. */
bool usk_sock_zerocopy_enabled(const struct usk_sock *sock);
/** Set the completion callback of sock's zero-copy sends. Returns 0 or -ENOTSUP. */
int usk_sock_set_zerocopy_cb(struct usk_sock *sock, usk_sock_zc_cb cb, void *cb_arg);
/**
 * As usk_sock_writev; when sock has zero-copy sends on and the iovecs hold at least its
 * threshold, with MSG_ZEROCOPY: then *zc is true and *seq the send's number, and the data must
 * stay unchanged until the completion callback has reported seq. Otherwise *zc is false (the
 * data was copied). Socket's thread.
 */
ssize_t usk_sock_writev_zc(struct usk_sock *sock, const struct iovec *iov, int iovcnt, bool *zc,
			   uint32_t *seq);
/**
 * Read the socket's error queue and run the completion callback for each zero-copy range
 * (usk_sock_group_poll does this when the socket reports EPOLLERR). Returns the ranges read
 * or -errno.
 */
int usk_sock_zerocopy_reap(struct usk_sock *sock);
/** Zero-copy sends of sock not completed yet. */
uint32_t usk_sock_zerocopy_pending(const struct usk_sock *sock);
/**
 * Reset the connection now (RST, the kernel's send queue dropped): for a caller that is about
 * to reuse the memory of zero-copy sends that have not completed. Socket's thread.
 */
void usk_sock_abort(struct usk_sock *sock);

/**
 * Hand the sends queued since the last poll to the kernel now (one io_uring_enter for the
 * group; nothing for posix). Call at the end of a poll. Returns 0 or -errno.
 */
int usk_sock_group_flush(struct usk_sock_group *group);

#ifdef __cplusplus
}
#endif
#endif
