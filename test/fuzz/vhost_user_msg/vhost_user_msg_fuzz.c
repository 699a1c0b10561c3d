/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the vhost-user back-end (vhost_user.c) and the blk data path behind it
 * (vhost_blk.c, vring.c), fed a stream of messages over a real socketpair. Input: records of
 * [fd control byte][12-byte header][payload]; the control byte attaches 0-3 fds (dups of a memfd
 * holding the start of the input, so SET_MEM_TABLE maps it and rings in it carry fuzz data).
 * The bdev is mocked and completes I/O between messages. Nothing may crash, leak or hang; a bad
 * message must close the connection.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "usk/log.h"
#include "../../../lib/vhost/vhost_internal.h"

#define GUEST_SIZE (256 * 1024)

/* ---- mocks: bdev (completions queued), pollers (captured), thread ---- */

struct pending_io {
	usk_bdev_io_completion_cb cb;
	void *cb_arg;
};
static struct pending_io g_pending[4096];
static int g_npending;

static uint64_t g_total_ios;

static int
queue_io(usk_bdev_io_completion_cb cb, void *arg)
{
	g_total_ios++;
	if (g_npending == (int)USK_COUNTOF(g_pending)) {
		return -ENOMEM;
	}
	g_pending[g_npending++] = (struct pending_io){cb, arg};
	return 0;
}

bool
usk_bdev_io_type_supported(struct usk_bdev *b, enum usk_bdev_io_type t)
{
	return true;
}
int
usk_bdev_readv_blocks(struct usk_bdev_desc *d, struct usk_io_channel *c, struct iovec *iov, int n,
		      uint64_t o, uint64_t b, usk_bdev_io_completion_cb cb, void *a)
{
	if (usk_iov_length(iov, n) != b * 512) {
		abort();
	}
	return queue_io(cb, a);
}
int
usk_bdev_writev_blocks(struct usk_bdev_desc *d, struct usk_io_channel *c, struct iovec *iov, int n,
		       uint64_t o, uint64_t b, usk_bdev_io_completion_cb cb, void *a)
{
	if (usk_iov_length(iov, n) != b * 512) {
		abort();
	}
	return queue_io(cb, a);
}
int
usk_bdev_flush_blocks(struct usk_bdev_desc *d, struct usk_io_channel *c, uint64_t o, uint64_t b,
		      usk_bdev_io_completion_cb cb, void *a)
{
	return queue_io(cb, a);
}
int
usk_bdev_unmap_blocks(struct usk_bdev_desc *d, struct usk_io_channel *c, uint64_t o, uint64_t b,
		      usk_bdev_io_completion_cb cb, void *a)
{
	return queue_io(cb, a);
}
int
usk_bdev_write_zeroes_blocks(struct usk_bdev_desc *d, struct usk_io_channel *c, uint64_t o,
			     uint64_t b, usk_bdev_io_completion_cb cb, void *a)
{
	return queue_io(cb, a);
}
void
usk_bdev_free_io(struct usk_bdev_io *io)
{
}
int
usk_bdev_queue_io_wait(struct usk_bdev *b, struct usk_io_channel *c,
		       struct usk_bdev_io_wait_entry *e)
{
	return -EINVAL;
}
uint64_t
usk_get_ticks(void)
{
	return 1;
}
uint64_t
usk_get_ticks_hz(void)
{
	return 1000000;
}
bool
usk_interrupt_mode_is_enabled(void)
{
	return false;
}
int
usk_thread_send_msg(const struct usk_thread *t, usk_msg_fn fn, void *ctx)
{
	return -EIO;
}
struct usk_interrupt *
usk_interrupt_register(int fd, usk_interrupt_fn fn, void *arg, const char *n)
{
	return NULL;
}
void
usk_interrupt_unregister(struct usk_interrupt **p)
{
	*p = NULL;
}

struct usk_poller {
	usk_poller_fn fn;
	void *arg;
	bool live;
};
static struct usk_poller g_pollers[8];

struct usk_poller *
usk_poller_register_named(usk_poller_fn fn, void *arg, uint64_t us, const char *name)
{
	for (size_t i = 0; i < USK_COUNTOF(g_pollers); i++) {
		if (!g_pollers[i].live) {
			g_pollers[i] = (struct usk_poller){fn, arg, true};
			return &g_pollers[i];
		}
	}
	abort();
}

void
usk_poller_unregister(struct usk_poller **p)
{
	if (*p) {
		(*p)->live = false;
	}
	*p = NULL;
}

static bool g_removed;
void
vhost_dev_remove_continue(struct vhost_blk_dev *dev)
{
	g_removed = true;
}
void
vhost_dev_release_bdev(struct vhost_blk_dev *dev)
{
	dev->bdev_desc = NULL;
}

static void
run_pollers(void)
{
	int round, i;

	for (round = 0; round < 64; round++) {
		int n = g_npending;

		g_npending = 0;
		for (i = 0; i < n; i++) {
			g_pending[i].cb((void *)1, (i & 1) == 0, g_pending[i].cb_arg);
		}
		for (i = 0; i < (int)USK_COUNTOF(g_pollers); i++) {
			if (g_pollers[i].live) {
				g_pollers[i].fn(g_pollers[i].arg);
			}
		}
	}
}

static int
send_rec(int sock, const uint8_t *buf, size_t len, int nfds, int memfd)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 3)] = {};
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	int fds[3], i, rc;

	if (nfds > 0) {
		struct cmsghdr *c;

		for (i = 0; i < nfds; i++) {
			fds[i] = dup(memfd);
		}
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	rc = (int)sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (i = 0; i < nfds; i++) {
		close(fds[i]);
	}
	return rc;
}

static void
quiet_log(int level, const char *file, int line, const char *func, const char *format, va_list ap)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	usk_log_open(quiet_log);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vhost_blk_dev dev;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char path[64];
	int sv[2], memfd, i;
	size_t off = 0;
	void *g;

	if (size < 13) {
		return 0;
	}
	memset(&dev, 0, sizeof(dev));
	memset(g_pollers, 0, sizeof(g_pollers));
	g_npending = 0;
	g_removed = false;
	snprintf(dev.name, sizeof(dev.name), "fuzz");
	snprintf(dev.bdev_name, sizeof(dev.bdev_name), "Null0");
	dev.block_size = 512;
	dev.num_blocks = 2048;
	dev.bdev_desc = (void *)1;
	dev.bdev = (void *)1;
	dev.listen_fd = -1;
	dev.iops_threshold = 1000;
	dev.delay_base_us = data[0] & 1 ? 10 : 0;
	dev.packed_ring = data[0] & 2;
	vhost_blk_set_coalescing_ticks(&dev);
	for (i = 0; i < VHOST_MAX_QUEUES; i++) {
		dev.vqs[i].index = (uint16_t)i;
		dev.vqs[i].kickfd = dev.vqs[i].callfd = dev.vqs[i].errfd = -1;
	}
	memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, GUEST_SIZE) != 0) {
		abort();
	}
	g = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	memcpy(g, data, USK_MIN(size, (size_t)GUEST_SIZE));
	/* The real listener: its poller accepts our connection like QEMU's. */
	snprintf(path, sizeof(path), "/tmp/usk-vhost-fuzz-%d.sock", (int)getpid());
	dev.socket_path = path;
	if (vhost_user_listen(&dev) != 0) {
		abort();
	}
	sv[1] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, path);
	if (sv[1] < 0 || connect(sv[1], (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		abort();
	}
	run_pollers();
	if (dev.conn_state != VHOST_CONN_ACTIVE) {
		abort();
	}
	off = 1;
	while (off + 13 <= size && dev.conn_state != VHOST_CONN_NONE &&
	       dev.conn_state != VHOST_CONN_CLOSING) {
		struct usk_vhost_user_hdr h;
		int nfds = data[off] % 4;
		size_t len;

		/* fuzz input has no alignment: copy the header out */
		memcpy(&h, data + off + 1, sizeof(h));
		len = 12 + USK_MIN((size_t)h.size, (size_t)300);

		len = USK_MIN(len, size - off - 1);
		if (send_rec(sv[1], data + off + 1, len, nfds, memfd) < 0) {
			break;
		}
		off += 1 + len;
		run_pollers();
		/* drain replies so the back-end never blocks */
		{
			char buf[4096];
			char cbuf[CMSG_SPACE(sizeof(int) * 8)];
			struct iovec iov = {buf, sizeof(buf)};
			struct msghdr mh = {.msg_iov = &iov,
					    .msg_iovlen = 1,
					    .msg_control = cbuf,
					    .msg_controllen = sizeof(cbuf)};
			while (recvmsg(sv[1], &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) > 0) {
				struct cmsghdr *c;

				for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
					int k, nfd = (int)((c->cmsg_len - CMSG_LEN(0)) /
							   sizeof(int));

					for (k = 0; k < nfd; k++) {
						int fd;

						memcpy(&fd, CMSG_DATA(c) + k * sizeof(int),
						       sizeof(int));
						close(fd);
					}
				}
				mh.msg_controllen = sizeof(cbuf);
			}
		}
	}
	/* hang up: the back-end drains, unmaps and closes everything */
	close(sv[1]);
	run_pollers();
	if (dev.conn_state != VHOST_CONN_NONE) {
		abort(); /* a closed connection must always finish closing */
	}
	vhost_user_shutdown(&dev);
	if (!g_removed) {
		abort();
	}
	for (i = 0; i < (int)USK_COUNTOF(g_pollers); i++) {
		if (g_pollers[i].live) {
			abort(); /* every poller is gone after shutdown */
		}
	}
	munmap(g, GUEST_SIZE);
	close(memfd);
	if (getenv("VHOST_FUZZ_VERBOSE") != NULL) {
		fprintf(stderr, "vhost_user_msg_fuzz: %llu bdev I/Os so far\n",
			(unsigned long long)g_total_ios);
	}
	return 0;
}
