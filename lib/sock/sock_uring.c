/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * io_uring socket groups. One ring per group, used only by the group's thread:
 *  - each socket has one multishot recv armed, selecting buffers from its own provided
 *    buffer ring (buf_count x buf_size, a buffer group per socket); completed chunks queue on
 *    the socket and usk_sock_readv copies out of them (a buffer goes back to the ring as soon
 *    as it is consumed). A ring per socket rather than one per group: a multishot recv takes
 *    up to 32 buffers per pass before its first completion is seen, so with a shared ring a
 *    socket whose reader does not read (a request waiting for data buffers) took every buffer
 *    and starved the other sockets (their recvs ended with ENOBUFS until it read). Now such a
 *    socket only exhausts its own ring; its recv is then re-armed only once the reader has
 *    consumed a buffer (no ENOBUFS re-arm loop), and its data waits in the kernel meanwhile;
 *  - a send is one IORING_OP_SENDMSG per socket (at most one in flight), its completion
 *    reports the bytes sent, the caller resubmits the rest (partial sends);
 *  - usk_sock_group_poll is one io_uring_submit_and_get_events for all sockets of the group;
 *    usk_sock_group_flush submits the sends queued by the poll's callbacks.
 * The sockets are switched to blocking mode while in the group so that a send to a full socket
 * waits inside the kernel (poll-armed by io_uring) instead of failing: the group never blocks.
 * In interrupt mode the group's fd is an eventfd registered with the ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "usk/log.h"
#include "usk/util.h"
#include "sock_internal.h"

#define UR_SQ_ENTRIES 512
#define UR_CQ_ENTRIES 4096
/* low bits of user_data: which operation of the connection completed */
#define UR_OP_RECV 1u
#define UR_OP_SEND 2u
#define UR_OP_MASK 7u
/* bounded wait for the kernel to drop a removed socket's operations */
#define UR_CANCEL_WAIT_ROUNDS 1000

struct ur_chunk {
	uint16_t bid;
	uint32_t off;
	uint32_t len;
};

struct ur_conn {
	struct usk_sock *sock;
	struct ur_group *ug;
	int fd;
	int fd_flags; /* file status flags before the group changed them */
	/* the socket's provided buffer ring: ug->nbufs buffers of ug->buf_size, group bgid */
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	uint16_t bgid;
	bool br_registered;
	/* received chunks in order (a FIFO of capacity ug->nbufs) */
	struct ur_chunk *rq;
	uint32_t rq_head;
	uint32_t rq_count;
	bool recv_armed;
	bool eof;
	int rx_err;
	/* async send */
	bool send_inflight;
	bool send_done;
	ssize_t send_res;
	usk_sock_write_cb wcb;
	void *warg;
	struct msghdr msg;
	struct iovec iov[USK_SOCK_MAX_IOV];
	int inflight; /* operations the kernel still holds */
	bool removed;
	bool zombie; /* removed, and still held by the kernel after the cancel wait */
	bool in_ready;
	bool in_arm;
	TAILQ_ENTRY(ur_conn) ready_link;
	TAILQ_ENTRY(ur_conn) arm_link;
};

struct ur_group {
	struct io_uring ring;
	/* per socket: buffers in its ring, their size, the ring's mapping size */
	uint32_t nbufs;
	uint32_t buf_size;
	size_t br_len;
	/* buffer group ids in use (bit per id; 0 is never used) */
	uint8_t bgid_used[65536 / 8];
	uint16_t bgid_next;
	int evfd;
	TAILQ_HEAD(, ur_conn) ready;
	uint32_t nready;
	/* the connection whose callbacks ur_poll is running (NULL once it is removed) */
	struct ur_conn *cur;
	TAILQ_HEAD(, ur_conn) arm;
	/* connections removed while the kernel still held one of their operations */
	uint32_t zombies;
};

static int g_uring_probe = -1;

bool
sock_uring_available(void)
{
	struct io_uring ring;
	struct io_uring_probe *probe;
	bool ok = false;

	if (g_uring_probe >= 0) {
		return g_uring_probe == 1;
	}
	if (io_uring_queue_init(8, &ring, 0) != 0) {
		g_uring_probe = 0;
		return false;
	}
	probe = io_uring_get_probe_ring(&ring);
	if (probe != NULL) {
		/* multishot recv and buffer rings came with 6.0; PROVIDE_BUFFERS marks the op table
		 */
		ok = io_uring_opcode_supported(probe, IORING_OP_RECV) &&
		     io_uring_opcode_supported(probe, IORING_OP_SENDMSG) &&
		     io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL) &&
		     (ring.features & IORING_FEAT_NODROP) != 0;
		io_uring_free_probe(probe);
	}
	io_uring_queue_exit(&ring);
	g_uring_probe = ok ? 1 : 0;
	return ok;
}

static inline struct ur_conn *
conn_of(struct usk_sock *sock)
{
	return sock->impl_ctx;
}

static void
ur_mark_ready(struct ur_group *ug, struct ur_conn *c)
{
	if (!c->in_ready && !c->removed) {
		c->in_ready = true;
		TAILQ_INSERT_TAIL(&ug->ready, c, ready_link);
		ug->nready++;
	}
}

static void
ur_mark_arm(struct ur_group *ug, struct ur_conn *c)
{
	/* with its ring empty a recv would only end with ENOBUFS: usk_sock_readv marks the
	 * socket again once it has handed a buffer back */
	if (!c->in_arm && !c->removed && !c->eof && c->rx_err == 0 && !c->recv_armed &&
	    c->rq_count < ug->nbufs) {
		c->in_arm = true;
		TAILQ_INSERT_TAIL(&ug->arm, c, arm_link);
	}
}

static void
ur_buf_return(struct ur_group *ug, struct ur_conn *c, uint16_t bid)
{
	io_uring_buf_ring_add(c->br, c->bufs + (size_t)bid * ug->buf_size, ug->buf_size, bid,
			      io_uring_buf_ring_mask(ug->nbufs), 0);
	io_uring_buf_ring_advance(c->br, 1);
}

/* Map and register c's buffer ring under a free buffer group id. */
static int
ur_conn_ring_init(struct ur_group *ug, struct ur_conn *c)
{
	struct io_uring_buf_reg reg = {0};
	uint32_t i;
	int rc;

	c->br = mmap(NULL, ug->br_len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (c->br == MAP_FAILED) {
		c->br = NULL;
		return -errno;
	}
	c->bufs = mmap(NULL, (size_t)ug->nbufs * ug->buf_size, PROT_READ | PROT_WRITE,
		       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (c->bufs == MAP_FAILED) {
		c->bufs = NULL;
		return -errno;
	}
	for (i = 0; i < 65536; i++) {
		uint16_t id = (uint16_t)(ug->bgid_next + i);

		if (id != 0 && (ug->bgid_used[id / 8] & (1u << (id % 8))) == 0) {
			c->bgid = id;
			break;
		}
	}
	if (c->bgid == 0) {
		return -ENOSPC;
	}
	io_uring_buf_ring_init(c->br);
	reg.ring_addr = (uint64_t)(uintptr_t)c->br;
	reg.ring_entries = ug->nbufs;
	reg.bgid = c->bgid;
	rc = io_uring_register_buf_ring(&ug->ring, &reg, 0);
	if (rc != 0) {
		return rc;
	}
	c->br_registered = true;
	ug->bgid_used[c->bgid / 8] |= (uint8_t)(1u << (c->bgid % 8));
	ug->bgid_next = (uint16_t)(c->bgid + 1);
	for (i = 0; i < ug->nbufs; i++) {
		io_uring_buf_ring_add(c->br, c->bufs + (size_t)i * ug->buf_size, ug->buf_size,
				      (uint16_t)i, io_uring_buf_ring_mask(ug->nbufs), (int)i);
	}
	io_uring_buf_ring_advance(c->br, (int)ug->nbufs);
	return 0;
}

static struct io_uring_sqe *
ur_get_sqe(struct ur_group *ug)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ug->ring);

	if (sqe == NULL) {
		/* SQ full: hand what is queued to the kernel and take a fresh entry */
		io_uring_submit(&ug->ring);
		sqe = io_uring_get_sqe(&ug->ring);
	}
	return sqe;
}

static int
ur_arm_recv(struct ur_group *ug, struct ur_conn *c)
{
	struct io_uring_sqe *sqe = ur_get_sqe(ug);

	if (sqe == NULL) {
		return -EAGAIN;
	}
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = c->bgid;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | UR_OP_RECV);
	c->recv_armed = true;
	c->inflight++;
	return 0;
}

/* Free c once the kernel holds none of its operations (so none uses its buffer ring). */
static void
ur_conn_free(struct ur_group *ug, struct ur_conn *c)
{
	if (c->br_registered) {
		io_uring_unregister_buf_ring(&ug->ring, c->bgid);
		ug->bgid_used[c->bgid / 8] &= (uint8_t) ~(1u << (c->bgid % 8));
	}
	if (c->bufs != NULL) {
		munmap(c->bufs, (size_t)ug->nbufs * ug->buf_size);
	}
	if (c->br != NULL) {
		munmap(c->br, ug->br_len);
	}
	free(c->rq);
	free(c);
}

static void
ur_handle_cqe(struct ur_group *ug, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	struct ur_conn *c = (struct ur_conn *)(uintptr_t)(ud & ~(uint64_t)UR_OP_MASK);
	uint32_t op = (uint32_t)(ud & UR_OP_MASK);

	if (c == NULL) {
		/* a cancel request's own completion */
		return;
	}
	if (op == UR_OP_RECV) {
		bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;

		if (cqe->flags & IORING_CQE_F_BUFFER) {
			uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);

			if (c->removed || cqe->res <= 0) {
				ur_buf_return(ug, c, bid);
			} else {
				uint32_t tail = (c->rq_head + c->rq_count) % ug->nbufs;

				/* cannot overflow: a connection holds at most its nbufs buffers */
				c->rq[tail].bid = bid;
				c->rq[tail].off = 0;
				c->rq[tail].len = (uint32_t)cqe->res;
				c->rq_count++;
			}
		}
		if (!more) {
			c->recv_armed = false;
			c->inflight--;
		}
		if (c->removed) {
			goto zombie;
		}
		if (cqe->res == 0) {
			c->eof = true;
		} else if (cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED &&
			   cqe->res != -EAGAIN && cqe->res != -EINTR) {
			c->rx_err = cqe->res;
		}
		if (!more) {
			/* the kernel ended the multishot (ENOBUFS: this socket's ring is empty):
			 * re-arm on the next poll, or once the reader hands a buffer back */
			ur_mark_arm(ug, c);
		}
		ur_mark_ready(ug, c);
		return;
	}
	/* UR_OP_SEND */
	c->inflight--;
	if (c->removed) {
		goto zombie;
	}
	c->send_res = cqe->res == -EAGAIN || cqe->res == -EINTR ? 0 : cqe->res;
	c->send_done = true;
	ur_mark_ready(ug, c);
	return;
zombie:
	/* during ur_remove's own wait the conn is freed there; later, here */
	if (c->zombie && c->inflight == 0) {
		ug->zombies--;
		ur_conn_free(ug, c);
	}
}

static int
ur_reap(struct ur_group *ug)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&ug->ring, head, cqe)
	{
		ur_handle_cqe(ug, cqe);
		n++;
	}
	io_uring_cq_advance(&ug->ring, n);
	return (int)n;
}

/* ---- ops ---- */

static int
ur_create(struct usk_sock_group *group)
{
	const struct usk_sock_impl_opts *io = sock_impl_opts("uring");
	struct io_uring_params p = {0};
	struct ur_group *ug = calloc(1, sizeof(*ug));
	int rc;

	if (ug == NULL) {
		return -ENOMEM;
	}
	ug->evfd = -1;
	ug->nbufs = io->buf_count;
	ug->buf_size = io->buf_size;
	ug->br_len = (size_t)ug->nbufs * sizeof(struct io_uring_buf);
	ug->bgid_next = 1;
	TAILQ_INIT(&ug->ready);
	TAILQ_INIT(&ug->arm);
	/*
	 * No DEFER_TASKRUN: with it the socket work runs only inside our enters and the kernel
	 * signals the eventfd only when its task work list turns non-empty; measured here (6.18),
	 * an interrupt-mode target then slept 30-60 ms per QD 1 I/O (a missed wakeup). Without it
	 * the task work runs when it is queued (waking an epoll_wait), at no measurable cost to
	 * the polled mode (docs/performance.md).
	 */
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	p.cq_entries = UR_CQ_ENTRIES;
	rc = io_uring_queue_init_params(UR_SQ_ENTRIES, &ug->ring, &p);
	if (rc == -EINVAL) {
		/* before 5.18: no SUBMIT_ALL */
		p.flags = IORING_SETUP_CQSIZE;
		rc = io_uring_queue_init_params(UR_SQ_ENTRIES, &ug->ring, &p);
	}
	if (rc != 0) {
		free(ug);
		return rc;
	}
	group->impl = ug;
	return 0;
}

static void
ur_destroy(struct usk_sock_group *group)
{
	struct ur_group *ug = group->impl;

	if (ug->zombies != 0) {
		USK_WARNLOG(
			"sock: uring group closed with %u connections still held by the kernel\n",
			ug->zombies);
	}
	/* exiting the ring completes (and frees) whatever the kernel still held */
	io_uring_queue_exit(&ug->ring);
	if (ug->evfd >= 0) {
		close(ug->evfd);
	}
	free(ug);
	group->impl = NULL;
}

static int
ur_add(struct usk_sock_group *group, struct usk_sock *sock)
{
	struct ur_group *ug = group->impl;
	struct ur_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL) {
		return -ENOMEM;
	}
	c->rq = calloc(ug->nbufs, sizeof(*c->rq));
	if (c->rq == NULL) {
		free(c);
		return -ENOMEM;
	}
	c->sock = sock;
	c->ug = ug;
	rc = ur_conn_ring_init(ug, c);
	if (rc != 0) {
		goto err;
	}
	c->fd = usk_sock_get_fd(sock);
	c->fd_flags = fcntl(c->fd, F_GETFL);
	if (c->fd_flags < 0 || fcntl(c->fd, F_SETFL, c->fd_flags & ~O_NONBLOCK) != 0) {
		rc = -errno;
		goto err;
	}
	c->msg.msg_iov = c->iov;
	rc = ur_arm_recv(ug, c);
	if (rc != 0) {
		fcntl(c->fd, F_SETFL, c->fd_flags);
		goto err;
	}
	/* submit now: in interrupt mode no poll may come until this socket's first data */
	io_uring_submit(&ug->ring);
	sock->impl_ctx = c;
	return 0;
err:
	ur_conn_free(ug, c);
	return rc;
}

static void
ur_remove(struct usk_sock_group *group, struct usk_sock *sock)
{
	struct ur_group *ug = group->impl;
	struct ur_conn *c = conn_of(sock);
	struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int i;

	c->removed = true;
	if (ug->cur == c) {
		ug->cur = NULL;
	}
	if (c->in_ready) {
		TAILQ_REMOVE(&ug->ready, c, ready_link);
		c->in_ready = false;
		ug->nready--;
	}
	if (c->in_arm) {
		TAILQ_REMOVE(&ug->arm, c, arm_link);
		c->in_arm = false;
	}
	sock->impl_ctx = NULL;
	if (c->inflight > 0) {
		sqe = ur_get_sqe(ug);
		if (sqe != NULL) {
			io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
			io_uring_sqe_set_data64(sqe, 0);
		}
		/* the send's data belongs to the caller once we return: wait (bounded) until the
		 * kernel has completed or cancelled every operation of this socket */
		for (i = 0; i < UR_CANCEL_WAIT_ROUNDS && c->inflight > 0; i++) {
			io_uring_submit_and_wait_timeout(&ug->ring, &cqe, 1, &ts, NULL);
			ur_reap(ug);
		}
	}
	fcntl(c->fd, F_SETFL, c->fd_flags);
	if (c->inflight > 0) {
		USK_WARNLOG("sock: fd %d still has %d io_uring operations after cancel\n", c->fd,
			    c->inflight);
		c->zombie = true;
		ug->zombies++;
		return;
	}
	ur_conn_free(ug, c);
}

static int
ur_poll(struct usk_sock_group *group, int max_events)
{
	struct ur_group *ug = group->impl;
	struct ur_conn *c;
	uint64_t v;
	uint32_t n;
	int handled = 0;

	(void)max_events;
	if (ug->evfd >= 0 && read(ug->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
		return -errno;
	}
	while ((c = TAILQ_FIRST(&ug->arm)) != NULL) {
		if (ur_arm_recv(ug, c) != 0) {
			break;
		}
		TAILQ_REMOVE(&ug->arm, c, arm_link);
		c->in_arm = false;
	}
	if (group->count == 0 && io_uring_sq_ready(&ug->ring) == 0) {
		return 0;
	}
	io_uring_submit_and_get_events(&ug->ring);
	ur_reap(ug);
	/* run each connection that was ready when the poll began once; one that is still ready
	 * afterwards (data left over its callback's budget) goes to the tail for the next poll */
	for (n = ug->nready; n > 0 && (c = TAILQ_FIRST(&ug->ready)) != NULL; n--) {
		struct usk_sock *sock = c->sock;

		TAILQ_REMOVE(&ug->ready, c, ready_link);
		c->in_ready = false;
		ug->nready--;
		/* a callback may remove (and free) the socket and c: ur_remove clears ug->cur, and
		 * neither is touched again after that */
		ug->cur = c;
		if (c->send_done) {
			usk_sock_write_cb cb = c->wcb;

			c->send_done = false;
			c->send_inflight = false;
			c->wcb = NULL;
			cb(c->warg, sock, c->send_res);
		}
		if (ug->cur == c && (c->rq_count > 0 || c->eof || c->rx_err != 0)) {
			sock->cb(sock->cb_arg, group, sock);
			if (ug->cur == c && c->rq_count > 0) {
				ur_mark_ready(ug, c);
			}
		}
		ug->cur = NULL;
		handled++;
	}
	return handled;
}

static int
ur_flush(struct usk_sock_group *group)
{
	struct ur_group *ug = group->impl;
	uint64_t one = 1;
	int rc = 0;

	if (io_uring_sq_ready(&ug->ring) > 0) {
		rc = io_uring_submit(&ug->ring);
		rc = rc < 0 ? rc : 0;
	}
	if (ug->evfd >= 0 && (!TAILQ_EMPTY(&ug->ready) || !TAILQ_EMPTY(&ug->arm))) {
		/* interrupt mode: work left for the next poll must wake the thread */
		if (write(ug->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
			rc = -errno;
		}
	}
	return rc;
}

static int
ur_get_fd(struct usk_sock_group *group)
{
	struct ur_group *ug = group->impl;
	int fd;

	if (ug->evfd >= 0) {
		return ug->evfd;
	}
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	if (io_uring_register_eventfd(&ug->ring, fd) != 0) {
		close(fd);
		return -EIO;
	}
	ug->evfd = fd;
	return fd;
}

static ssize_t
ur_readv(struct usk_sock *sock, const struct iovec *iov, int iovcnt)
{
	struct ur_conn *c = conn_of(sock);
	struct ur_group *ug = c->ug;
	size_t total = 0, want = 0;
	int i = 0;
	size_t ioff = 0;

	for (i = 0; i < iovcnt; i++) {
		want += iov[i].iov_len;
	}
	if (want == 0) {
		return 0;
	}
	i = 0;
	while (c->rq_count > 0 && i < iovcnt) {
		struct ur_chunk *ch = &c->rq[c->rq_head];
		size_t n = USK_MIN((size_t)ch->len, iov[i].iov_len - ioff);

		memcpy((uint8_t *)iov[i].iov_base + ioff,
		       c->bufs + (size_t)ch->bid * ug->buf_size + ch->off, n);
		total += n;
		ioff += n;
		ch->off += (uint32_t)n;
		ch->len -= (uint32_t)n;
		if (ch->len == 0) {
			ur_buf_return(ug, c, ch->bid);
			c->rq_head = (c->rq_head + 1) % ug->nbufs;
			c->rq_count--;
			/* a recv that ended on this socket's empty ring goes again */
			ur_mark_arm(ug, c);
		}
		if (ioff == iov[i].iov_len) {
			i++;
			ioff = 0;
		}
	}
	if (total > 0) {
		return (ssize_t)total;
	}
	if (c->rx_err != 0) {
		return c->rx_err;
	}
	return c->eof ? -ECONNRESET : -EAGAIN;
}

static int
ur_writev_async(struct usk_sock *sock, const struct iovec *iov, int iovcnt, usk_sock_write_cb cb,
		void *cb_arg)
{
	struct ur_conn *c = conn_of(sock);
	struct io_uring_sqe *sqe;

	if (c->send_inflight) {
		return -EBUSY;
	}
	sqe = ur_get_sqe(c->ug);
	if (sqe == NULL) {
		return -EAGAIN;
	}
	memcpy(c->iov, iov, (size_t)iovcnt * sizeof(*iov));
	c->msg.msg_iovlen = (size_t)iovcnt;
	io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | UR_OP_SEND);
	c->send_inflight = true;
	c->wcb = cb;
	c->warg = cb_arg;
	c->inflight++;
	return 0;
}

const struct sock_group_ops g_sock_uring_ops = {
	.name = "uring",
	.create = ur_create,
	.destroy = ur_destroy,
	.add = ur_add,
	.remove = ur_remove,
	.poll = ur_poll,
	.flush = ur_flush,
	.get_fd = ur_get_fd,
	.readv = ur_readv,
	.writev_async = ur_writev_async,
};
