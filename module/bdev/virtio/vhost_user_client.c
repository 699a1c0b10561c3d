/* SPDX-License-Identifier: BSD-3-Clause */
/* vhost-user front-end messages over a unix socket (see vhost_user_client.h). */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "vhost_user_client.h"
#include "usk_internal/vhost_user_names.h"
#include "usk/env.h"
#include "usk/log.h"
#include "usk/util.h"

const char *
vhu_request_name(uint32_t req)
{
	return usk_vhost_user_req_name(req, "?");
}

int
vhu_check_reply(const struct usk_vhost_user_hdr *hdr, uint32_t req, uint32_t min_size,
		uint32_t max_size)
{
	if (hdr->request != req) {
		USK_ERRLOG("vhost-user: reply to %s carries request %u\n", vhu_request_name(req),
			   hdr->request);
		return -EPROTO;
	}
	if ((hdr->flags & USK_VHOST_USER_VERSION_MASK) != USK_VHOST_USER_VERSION ||
	    !(hdr->flags & USK_VHOST_USER_REPLY_MASK)) {
		USK_ERRLOG(
			"vhost-user: reply to %s has flags 0x%x (version 1 and REPLY expected)\n",
			vhu_request_name(req), hdr->flags);
		return -EPROTO;
	}
	if (hdr->size < min_size || hdr->size > max_size) {
		USK_ERRLOG("vhost-user: reply to %s has %u payload bytes (%u..%u expected)\n",
			   vhu_request_name(req), hdr->size, min_size, max_size);
		return -EPROTO;
	}
	return 0;
}

int
vhu_check_config_reply(const struct usk_vhost_user_config *cfg, uint32_t len, uint32_t size)
{
	if (len != USK_VHOST_USER_CONFIG_HDR_SIZE + size || cfg->offset != 0 || cfg->size != size) {
		USK_ERRLOG("vhost-user: GET_CONFIG reply of %u bytes for offset %u size %u "
			   "(asked offset 0 size %u)\n",
			   len, cfg->offset, cfg->size, size);
		return -EPROTO;
	}
	return 0;
}

int
vhu_check_ack(uint64_t val, uint32_t req)
{
	if (val != 0) {
		USK_ERRLOG("vhost-user: back-end failed %s (ack %lu)\n", vhu_request_name(req),
			   (unsigned long)val);
		return -EIO;
	}
	return 0;
}

int
vhu_client_connect(struct vhu_client *c, const char *path, int timeout_ms)
{
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	struct timeval tv;
	int fd, rc;

	c->fd = -1;
	c->protocol_features = 0;
	c->timeout_ms = timeout_ms;
	pthread_mutex_init(&c->lock, NULL);
	if (strlen(path) >= sizeof(un.sun_path)) {
		return -ENAMETOOLONG;
	}
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	c->fd = fd;
	return 0;
}

void
vhu_client_close(struct vhu_client *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
		pthread_mutex_destroy(&c->lock);
	}
}

static int
send_msg(struct vhu_client *c, struct usk_vhost_user_msg *msg, const int *fds, int nfds)
{
	char control[CMSG_SPACE(sizeof(int) * USK_VHOST_USER_MAX_FDS)] = {0};
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg->hdr) + msg->hdr.size};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	ssize_t n;

	if (nfds > 0) {
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	do {
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)iov.iov_len) {
		USK_ERRLOG("vhost-user: sending %s failed: %s\n",
			   vhu_request_name(msg->hdr.request),
			   n < 0 ? strerror(errno) : "short write");
		return n < 0 ? -errno : -EIO;
	}
	return 0;
}

/* Read exactly len bytes; closes any fd the back-end attaches (none is expected). */
static int
recv_exact(struct vhu_client *c, void *buf, size_t len)
{
	char control[CMSG_SPACE(sizeof(int) * USK_VHOST_USER_MAX_FDS)];
	size_t got = 0;
	struct cmsghdr *cm;
	ssize_t n;

	while (got < len) {
		struct iovec iov = {.iov_base = (uint8_t *)buf + got, .iov_len = len - got};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = control,
				    .msg_controllen = sizeof(control)};

		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return n == 0 ? -ECONNRESET : (errno == EAGAIN ? -ETIMEDOUT : -errno);
		}
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				int *fds = (int *)CMSG_DATA(cm);
				size_t i, nf = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

				for (i = 0; i < nf; i++) {
					close(fds[i]);
				}
			}
		}
		got += (size_t)n;
	}
	return 0;
}

/* Read one reply to req with a payload of min..max bytes into msg. */
static int
recv_reply(struct vhu_client *c, struct usk_vhost_user_msg *msg, uint32_t req, uint32_t min,
	   uint32_t max)
{
	struct usk_vhost_user_hdr hdr;
	int rc;

	rc = recv_exact(c, &hdr, sizeof(hdr));
	if (rc == 0) {
		/* Size checked before the payload is read: never past the message buffer. */
		rc = vhu_check_reply(&hdr, req, min,
				     USK_MIN(max, (uint32_t)USK_VHOST_USER_MAX_PAYLOAD_SIZE));
		msg->hdr = hdr;
	}
	if (rc == 0 && msg->hdr.size > 0) {
		rc = recv_exact(c, &msg->payload, msg->hdr.size);
	}
	if (rc != 0 && rc != -EPROTO) {
		USK_ERRLOG("vhost-user: no reply to %s: %s\n", vhu_request_name(req),
			   strerror(-rc));
	}
	return rc;
}

static bool
want_ack(const struct vhu_client *c)
{
	return c->protocol_features & (1ULL << USK_VHOST_USER_PROTOCOL_F_REPLY_ACK);
}

/* Send a message that has no reply of its own; with REPLY_ACK wait for the ack. */
static int
send_no_reply(struct vhu_client *c, struct usk_vhost_user_msg *msg, const int *fds, int nfds)
{
	uint32_t req = msg->hdr.request;
	bool ack = want_ack(c);
	int rc;

	msg->hdr.flags = USK_VHOST_USER_VERSION | (ack ? USK_VHOST_USER_NEED_REPLY_MASK : 0);
	rc = send_msg(c, msg, fds, nfds);
	if (rc != 0 || !ack) {
		return rc;
	}
	rc = recv_reply(c, msg, req, sizeof(uint64_t), sizeof(uint64_t));
	return rc != 0 ? rc : vhu_check_ack(msg->payload.u64, req);
}

int
vhu_client_get_u64(struct vhu_client *c, enum usk_vhost_user_request req, uint64_t *val)
{
	struct usk_vhost_user_msg msg = {.hdr = {.request = req, .flags = USK_VHOST_USER_VERSION}};
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = send_msg(c, &msg, NULL, 0);
	if (rc == 0) {
		rc = recv_reply(c, &msg, req, sizeof(uint64_t), sizeof(uint64_t));
	}
	if (rc == 0) {
		*val = msg.payload.u64;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int
vhu_client_set_u64(struct vhu_client *c, enum usk_vhost_user_request req, uint64_t val, int fd)
{
	struct usk_vhost_user_msg msg = {.hdr = {.request = req, .size = sizeof(uint64_t)}};
	int rc;

	msg.payload.u64 = val;
	pthread_mutex_lock(&c->lock);
	rc = send_no_reply(c, &msg, &fd, fd >= 0 ? 1 : 0);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int
vhu_client_set_owner(struct vhu_client *c)
{
	struct usk_vhost_user_msg msg = {.hdr = {.request = USK_VHOST_USER_SET_OWNER}};
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = send_no_reply(c, &msg, NULL, 0);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int
vhu_client_set_vring_state(struct vhu_client *c, enum usk_vhost_user_request req, uint32_t index,
			   uint32_t num)
{
	struct usk_vhost_user_msg msg = {
		.hdr = {.request = req, .size = sizeof(struct usk_vhost_vring_state)}};
	int rc;

	msg.payload.state.index = index;
	msg.payload.state.num = num;
	pthread_mutex_lock(&c->lock);
	rc = send_no_reply(c, &msg, NULL, 0);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int
vhu_client_get_vring_base(struct vhu_client *c, uint32_t index, uint32_t *num)
{
	struct usk_vhost_user_msg msg = {.hdr = {.request = USK_VHOST_USER_GET_VRING_BASE,
						 .flags = USK_VHOST_USER_VERSION,
						 .size = sizeof(struct usk_vhost_vring_state)}};
	int rc;

	msg.payload.state.index = index;
	pthread_mutex_lock(&c->lock);
	rc = send_msg(c, &msg, NULL, 0);
	if (rc == 0) {
		rc = recv_reply(c, &msg, USK_VHOST_USER_GET_VRING_BASE,
				sizeof(struct usk_vhost_vring_state),
				sizeof(struct usk_vhost_vring_state));
	}
	if (rc == 0) {
		*num = msg.payload.state.num;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int
vhu_client_set_vring_addr(struct vhu_client *c, const struct usk_vhost_vring_addr *addr)
{
	struct usk_vhost_user_msg msg = {
		.hdr = {.request = USK_VHOST_USER_SET_VRING_ADDR, .size = sizeof(*addr)}};
	int rc;

	msg.payload.addr = *addr;
	pthread_mutex_lock(&c->lock);
	rc = send_no_reply(c, &msg, NULL, 0);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int
vhu_client_set_mem_table(struct vhu_client *c, const struct vhu_mem_region *regions, int n)
{
	struct usk_vhost_user_msg msg = {.hdr = {.request = USK_VHOST_USER_SET_MEM_TABLE}};
	int fds[USK_VHOST_USER_MEMORY_MAX_NREGIONS];
	int i, rc;

	if (n < 1 || n > USK_VHOST_USER_MEMORY_MAX_NREGIONS) {
		return -EINVAL;
	}
	msg.payload.memory.nregions = (uint32_t)n;
	for (i = 0; i < n; i++) {
		msg.payload.memory.regions[i] = (struct usk_vhost_user_memory_region){
			.guest_phys_addr = regions[i].gpa,
			.memory_size = regions[i].size,
			.userspace_addr = regions[i].uaddr,
			.mmap_offset = regions[i].offset,
		};
		fds[i] = regions[i].fd;
	}
	msg.hdr.size = (uint32_t)(offsetof(struct usk_vhost_user_memory, regions) +
				  (size_t)n * sizeof(struct usk_vhost_user_memory_region));
	pthread_mutex_lock(&c->lock);
	rc = send_no_reply(c, &msg, fds, n);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int
vhu_client_get_config(struct vhu_client *c, void *buf, uint32_t size)
{
	struct usk_vhost_user_msg msg = {
		.hdr = {.request = USK_VHOST_USER_GET_CONFIG, .flags = USK_VHOST_USER_VERSION}};
	int rc;

	if (size == 0 || size > USK_VHOST_USER_MAX_CONFIG_SIZE) {
		return -EINVAL;
	}
	/* Only size bytes: QEMU's back-ends refuse a window larger than their config struct. */
	msg.hdr.size = (uint32_t)USK_VHOST_USER_CONFIG_HDR_SIZE + size;
	msg.payload.config.offset = 0;
	msg.payload.config.size = size;
	msg.payload.config.flags = USK_VHOST_SET_CONFIG_TYPE_FRONTEND;
	pthread_mutex_lock(&c->lock);
	rc = send_msg(c, &msg, NULL, 0);
	if (rc == 0) {
		rc = recv_reply(c, &msg, USK_VHOST_USER_GET_CONFIG, 0,
				(uint32_t)USK_VHOST_USER_MAX_PAYLOAD_SIZE);
	}
	if (rc == 0) {
		struct usk_vhost_user_config cfg;

		memcpy(&cfg, &msg.payload.config, sizeof(cfg));
		rc = vhu_check_config_reply(&cfg, msg.hdr.size, size);
		if (rc == 0) {
			memcpy(buf, cfg.region, size);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}
