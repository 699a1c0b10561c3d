/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user back-end side of one controller (its thread only): the unix socket, message
 * reception with their fds, the request handlers, queue start and stop, connection teardown.
 * A malformed message closes this connection only, with a log line; the controller listens on.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "usk/log.h"
#include "vhost_internal.h"

#define VHOST_CONN_POLL_US  100
#define VHOST_DRAIN_POLL_US 50

#define VHOST_PROTOCOL_FEATURES \
	((1ULL << USK_VHOST_USER_PROTOCOL_F_MQ) | (1ULL << USK_VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	 (1ULL << USK_VHOST_USER_PROTOCOL_F_CONFIG) | \
	 (1ULL << USK_VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))

static int conn_readable(void *arg);
static int listen_readable(void *arg);
static void conn_close(struct vhost_blk_dev *dev, bool error, const char *why);

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static void
rx_reset(struct vhost_blk_dev *dev)
{
	int i;

	for (i = 0; i < dev->rx_nfds; i++) {
		close_fd(&dev->rx_fds[i]);
	}
	dev->rx_nfds = 0;
	dev->rx_got = 0;
	dev->rx_state = VHOST_RX_HDR;
}

/* ---- replies ---- */

static int
send_reply(struct vhost_blk_dev *dev, const void *payload, uint32_t size, int fd)
{
	struct usk_vhost_user_hdr hdr = {
		.request = dev->rx_hdr.request,
		.flags = USK_VHOST_USER_VERSION | USK_VHOST_USER_REPLY_MASK,
		.size = size,
	};
	char cbuf[CMSG_SPACE(sizeof(int))] = {};
	struct iovec iov[2] = {
		{.iov_base = &hdr, .iov_len = sizeof(hdr)},
		{.iov_base = (void *)payload, .iov_len = size},
	};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(dev->conn_fd, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)(sizeof(hdr) + size)) {
		return n < 0 ? -errno : -EIO;
	}
	return 0;
}

static int
reply_u64(struct vhost_blk_dev *dev, uint64_t v)
{
	return send_reply(dev, &v, sizeof(v), -1);
}

/* ---- queues ---- */

static size_t
inflight_queue_region(uint16_t queue_size)
{
	/* Sized for the packed layout (the larger one) whatever the features say: QEMU before 5.2
	 * asks for the region before SET_FEATURES, and a split ring simply uses less of it. */
	static_assert(sizeof(struct usk_vhost_inflight_desc_packed) >=
			      sizeof(struct usk_vhost_inflight_desc_split),
		      "packed entries are the larger");
	return USK_ALIGN_CEIL(sizeof(struct usk_vhost_inflight_packed) +
				      (size_t)queue_size *
					      sizeof(struct usk_vhost_inflight_desc_packed),
			      (size_t)USK_VHOST_INFLIGHT_ALIGNMENT);
}

static void
vq_reset(struct vhost_vq *vq)
{
	uint16_t index = vq->index;

	close_fd(&vq->kickfd);
	close_fd(&vq->callfd);
	close_fd(&vq->errfd);
	free(vq->tasks);
	memset(vq, 0, sizeof(*vq));
	vq->index = index;
	vq->kickfd = vq->callfd = vq->errfd = -1;
}

/* The ring position as SET/GET_VRING_BASE carry it. */
static uint32_t
vq_base(const struct vhost_vq *vq)
{
	if (!vq->packed) {
		return vq->last_avail_idx;
	}
	return (uint32_t)(vq->last_avail_idx | (vq->avail_wrap << 15)) |
	       (uint32_t)(vq->last_used_idx | (vq->used_wrap << 15)) << 16;
}

static int
vq_try_start(struct vhost_blk_dev *dev, struct vhost_vq *vq)
{
	bool enabled = vq->enabled ||
		       !(dev->features & (1ULL << USK_VHOST_USER_F_PROTOCOL_FEATURES));
	int rc;

	if (vq->live || dev->mem.nregions == 0 || !vq->addr_set || !vq->kick_received ||
	    vq->size == 0 || !enabled || dev->bdev_desc == NULL) {
		return 0;
	}
	vq->inflight = NULL;
	if (dev->inflight_addr != NULL && vq->index < dev->inflight_num_queues &&
	    vq->size == dev->inflight_queue_size) {
		vq->inflight = (void *)((uint8_t *)dev->inflight_addr +
					vq->index * inflight_queue_region(vq->size));
	}
	rc = vhost_blk_vq_start(dev, vq);
	if (rc != 0) {
		char why[96];

		snprintf(why, sizeof(why), "cannot start queue %u: %s", vq->index,
			 rc == -EFAULT ? "rings outside guest memory or misaligned" :
					 strerror(-rc));
		vhost_user_close_conn(dev, why);
		return rc;
	}
	USK_INFOLOG(vhost, "vhost %s: queue %u started (%s ring, %u entries)\n", dev->name,
		    vq->index, vq->packed ? "packed" : "split", vq->size);
	return 0;
}

static void
stop_all_queues(struct vhost_blk_dev *dev)
{
	uint32_t i;

	for (i = 0; i < VHOST_MAX_QUEUES; i++) {
		vhost_blk_vq_stop(dev, &dev->vqs[i]);
	}
}

/* ---- the requests ---- */

static bool
needs_drain(const struct vhost_blk_dev *dev, uint32_t request)
{
	/* These change or hand back ring state and memory that in-flight requests still use. */
	return (request == USK_VHOST_USER_GET_VRING_BASE ||
		request == USK_VHOST_USER_SET_MEM_TABLE || request == USK_VHOST_USER_RESET_OWNER) &&
	       vhost_blk_inflight(dev) > 0;
}

static int
vq_index(struct vhost_blk_dev *dev, uint32_t index, char *err, size_t err_len)
{
	if (index >= VHOST_MAX_QUEUES) {
		snprintf(err, err_len, "%s: queue index %u >= %u",
			 vhost_user_req_name(dev->rx_hdr.request), index, VHOST_MAX_QUEUES);
		return -EINVAL;
	}
	return 0;
}

static int
handle_mem_table(struct vhost_blk_dev *dev, char *err, size_t err_len)
{
	const struct usk_vhost_user_memory *m = &dev->rx_payload.memory;
	bool was_live[VHOST_MAX_QUEUES];
	uint32_t i;
	int rc;

	if (m->nregions == 0 || m->nregions > USK_VHOST_USER_MEMORY_MAX_NREGIONS ||
	    dev->rx_hdr.size != 8 + m->nregions * sizeof(struct usk_vhost_user_memory_region)) {
		snprintf(err, err_len, "SET_MEM_TABLE: %u regions in %u bytes", m->nregions,
			 dev->rx_hdr.size);
		return -EINVAL;
	}
	/* Drained (needs_drain): running queues keep their positions across the new table. */
	for (i = 0; i < VHOST_MAX_QUEUES; i++) {
		struct vhost_vq *vq = &dev->vqs[i];

		was_live[i] = vq->live;
		if (vq->live) {
			vq->base_idx = vq_base(vq);
			vhost_blk_vq_stop(dev, vq);
		}
	}
	vhost_mem_unmap(&dev->mem);
	rc = vhost_mem_map(&dev->mem, m, dev->rx_fds, dev->rx_nfds, err, err_len);
	dev->rx_nfds = 0; /* closed by vhost_mem_map */
	if (rc != 0) {
		return rc;
	}
	USK_INFOLOG(vhost, "vhost %s: memory table with %u regions\n", dev->name, m->nregions);
	for (i = 0; i < VHOST_MAX_QUEUES; i++) {
		if (was_live[i] && vq_try_start(dev, &dev->vqs[i]) != 0) {
			return -EFAULT;
		}
	}
	return 0;
}

static void
inflight_unmap(struct vhost_blk_dev *dev)
{
	uint32_t i;

	if (dev->inflight_addr != NULL) {
		munmap(dev->inflight_addr, dev->inflight_size);
	}
	dev->inflight_addr = NULL;
	dev->inflight_size = 0;
	for (i = 0; i < VHOST_MAX_QUEUES; i++) {
		dev->vqs[i].inflight = NULL;
	}
}

static int
handle_get_inflight(struct vhost_blk_dev *dev, char *err, size_t err_len)
{
	struct usk_vhost_user_inflight inf = dev->rx_payload.inflight;
	size_t size;
	void *addr;
	int fd, rc;

	if (inf.num_queues == 0 || inf.num_queues > VHOST_MAX_QUEUES || inf.queue_size == 0 ||
	    inf.queue_size > USK_VIRTQ_MAX_SIZE) {
		snprintf(err, err_len, "GET_INFLIGHT_FD: %u queues of %u entries", inf.num_queues,
			 inf.queue_size);
		return -EINVAL;
	}
	size = inflight_queue_region(inf.queue_size) * inf.num_queues;
	fd = memfd_create("usk-vhost-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
		rc = -errno;
		snprintf(err, err_len, "GET_INFLIGHT_FD: memfd of %zu bytes: %s", size,
			 strerror(errno));
		if (fd >= 0) {
			close(fd);
		}
		return rc;
	}
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED) {
		rc = -errno;
		close(fd);
		snprintf(err, err_len, "GET_INFLIGHT_FD: mmap: %s", strerror(-rc));
		return rc;
	}
	inflight_unmap(dev);
	dev->inflight_addr = addr;
	dev->inflight_size = size;
	dev->inflight_num_queues = inf.num_queues;
	dev->inflight_queue_size = inf.queue_size;
	inf.mmap_size = size;
	inf.mmap_offset = 0;
	rc = send_reply(dev, &inf, sizeof(inf), fd);
	close(fd);
	return rc;
}

static int
handle_set_inflight(struct vhost_blk_dev *dev, char *err, size_t err_len)
{
	const struct usk_vhost_user_inflight *inf = &dev->rx_payload.inflight;
	void *addr;

	if (inf->num_queues == 0 || inf->num_queues > VHOST_MAX_QUEUES || inf->queue_size == 0 ||
	    inf->queue_size > USK_VIRTQ_MAX_SIZE || inf->mmap_size > SIZE_MAX ||
	    inf->mmap_size < inflight_queue_region(inf->queue_size) * inf->num_queues ||
	    inf->mmap_offset % (uint64_t)sysconf(_SC_PAGESIZE) != 0) {
		snprintf(err, err_len,
			 "SET_INFLIGHT_FD: %u queues of %u entries in %llu bytes at %llu",
			 inf->num_queues, inf->queue_size, (unsigned long long)inf->mmap_size,
			 (unsigned long long)inf->mmap_offset);
		return -EINVAL;
	}
	addr = mmap(NULL, inf->mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->rx_fds[0],
		    (off_t)inf->mmap_offset);
	if (addr == MAP_FAILED) {
		snprintf(err, err_len, "SET_INFLIGHT_FD: mmap: %s", strerror(errno));
		return -EINVAL;
	}
	inflight_unmap(dev);
	dev->inflight_addr = addr;
	dev->inflight_size = inf->mmap_size;
	dev->inflight_num_queues = inf->num_queues;
	dev->inflight_queue_size = inf->queue_size;
	USK_INFOLOG(vhost, "vhost %s: inflight region of %u queues set\n", dev->name,
		    inf->num_queues);
	return 0;
}

static int
handle_config(struct vhost_blk_dev *dev, char *err, size_t err_len)
{
	struct usk_vhost_user_config *c = &dev->rx_payload.config;
	struct usk_virtio_blk_config cfg;
	uint8_t space[USK_VHOST_USER_MAX_CONFIG_SIZE] = {};

	if (c->size > USK_VHOST_USER_MAX_CONFIG_SIZE ||
	    c->offset > USK_VHOST_USER_MAX_CONFIG_SIZE - c->size ||
	    dev->rx_hdr.size < USK_VHOST_USER_CONFIG_HDR_SIZE + c->size) {
		snprintf(err, err_len, "%s: window %u+%u in a %u-byte payload",
			 vhost_user_req_name(dev->rx_hdr.request), c->offset, c->size,
			 dev->rx_hdr.size);
		return -EINVAL;
	}
	if (dev->rx_hdr.request == USK_VHOST_USER_SET_CONFIG) {
		/* Only "writeback" is writable, with CONFIG_WCE, which usk does not offer. */
		USK_INFOLOG(vhost, "vhost %s: SET_CONFIG %u+%u ignored\n", dev->name, c->offset,
			    c->size);
		return 0;
	}
	vhost_blk_get_config(dev, &cfg);
	memcpy(space, &cfg, sizeof(cfg));
	memcpy(c->region, space + c->offset, c->size);
	return send_reply(dev, c, USK_VHOST_USER_CONFIG_HDR_SIZE + c->size, -1);
}

static int
take_vring_fd(struct vhost_blk_dev *dev, int *slot, char *err, size_t err_len)
{
	uint64_t v = dev->rx_payload.u64;
	bool nofd = v & USK_VHOST_USER_VRING_NOFD_MASK;

	if ((v & ~(uint64_t)(USK_VHOST_USER_VRING_IDX_MASK | USK_VHOST_USER_VRING_NOFD_MASK)) ||
	    nofd != (dev->rx_nfds == 0)) {
		snprintf(err, err_len, "%s: payload 0x%llx with %d fds",
			 vhost_user_req_name(dev->rx_hdr.request), (unsigned long long)v,
			 dev->rx_nfds);
		return -EINVAL;
	}
	close_fd(slot);
	if (!nofd) {
		*slot = dev->rx_fds[0];
		dev->rx_fds[0] = -1;
		dev->rx_nfds = 0;
		fcntl(*slot, F_SETFL, fcntl(*slot, F_GETFL) | O_NONBLOCK);
	}
	return 0;
}

/*
 * Run the received message. Returns 0 (done; ack sent if asked), 1 (waiting for in-flight
 * requests: run again later), or -errno with a reason in err (close the connection).
 */
static int
dispatch(struct vhost_blk_dev *dev, char *err, size_t err_len)
{
	union usk_vhost_user_payload *p = &dev->rx_payload;
	uint32_t req = dev->rx_hdr.request;
	bool replied = false;
	struct vhost_vq *vq = NULL;
	uint32_t idx = 0;
	int rc = 0;

	if (needs_drain(dev, req)) {
		return 1;
	}
	USK_DEBUGLOG(vhost, "vhost %s: %s size %u\n", dev->name, vhost_user_req_name(req),
		     dev->rx_hdr.size);
	switch (req) {
	case USK_VHOST_USER_SET_VRING_NUM:
	case USK_VHOST_USER_SET_VRING_ADDR:
	case USK_VHOST_USER_SET_VRING_BASE:
	case USK_VHOST_USER_GET_VRING_BASE:
	case USK_VHOST_USER_SET_VRING_ENABLE:
		idx = p->state.index;
		goto with_index;
	case USK_VHOST_USER_SET_VRING_KICK:
	case USK_VHOST_USER_SET_VRING_CALL:
	case USK_VHOST_USER_SET_VRING_ERR:
		idx = p->u64 & USK_VHOST_USER_VRING_IDX_MASK;
with_index:
		rc = vq_index(dev, idx, err, err_len);
		if (rc != 0) {
			return rc;
		}
		vq = &dev->vqs[idx];
		break;
	default:
		break;
	}
	switch (req) {
	case USK_VHOST_USER_GET_FEATURES:
		rc = reply_u64(dev, vhost_blk_features(dev));
		replied = true;
		break;
	case USK_VHOST_USER_SET_FEATURES:
		if (p->u64 & ~vhost_blk_features(dev)) {
			snprintf(err, err_len, "SET_FEATURES: 0x%llx has bits not offered (0x%llx)",
				 (unsigned long long)p->u64,
				 (unsigned long long)vhost_blk_features(dev));
			return -EINVAL;
		}
		dev->features = p->u64;
		dev->features_set = true;
		break;
	case USK_VHOST_USER_SET_OWNER:
		dev->owner_set = true;
		break;
	case USK_VHOST_USER_RESET_OWNER:
		stop_all_queues(dev);
		dev->features = 0;
		break;
	case USK_VHOST_USER_GET_PROTOCOL_FEATURES:
		rc = reply_u64(dev, VHOST_PROTOCOL_FEATURES);
		replied = true;
		break;
	case USK_VHOST_USER_SET_PROTOCOL_FEATURES:
		if (p->u64 & ~VHOST_PROTOCOL_FEATURES) {
			snprintf(err, err_len, "SET_PROTOCOL_FEATURES: 0x%llx has bits not offered",
				 (unsigned long long)p->u64);
			return -EINVAL;
		}
		dev->protocol_features = p->u64;
		break;
	case USK_VHOST_USER_GET_QUEUE_NUM:
		rc = reply_u64(dev, VHOST_MAX_QUEUES);
		replied = true;
		break;
	case USK_VHOST_USER_SET_MEM_TABLE:
		rc = handle_mem_table(dev, err, err_len);
		break;
	case USK_VHOST_USER_SET_VRING_NUM:
		if (p->state.num == 0 || p->state.num > USK_VIRTQ_MAX_SIZE || vq->live) {
			snprintf(err, err_len, "SET_VRING_NUM: queue %u size %u%s", idx,
				 p->state.num, vq->live ? " while running" : "");
			return -EINVAL;
		}
		if (vq->size != p->state.num) {
			free(vq->tasks);
			vq->tasks = NULL;
		}
		vq->size = (uint16_t)p->state.num;
		break;
	case USK_VHOST_USER_SET_VRING_ADDR:
		if (vq->live) {
			snprintf(err, err_len, "SET_VRING_ADDR: queue %u is running", idx);
			return -EINVAL;
		}
		vq->desc_uva = p->addr.desc_user_addr;
		vq->avail_uva = p->addr.avail_user_addr;
		vq->used_uva = p->addr.used_user_addr;
		vq->addr_set = true;
		break;
	case USK_VHOST_USER_SET_VRING_BASE:
		if (vq->live || (p->state.num > UINT16_MAX &&
				 !(dev->features & (1ULL << USK_VIRTIO_F_RING_PACKED)))) {
			snprintf(err, err_len, "SET_VRING_BASE: queue %u base %u%s", idx,
				 p->state.num, vq->live ? " while running" : "");
			return -EINVAL;
		}
		vq->base_idx = p->state.num;
		break;
	case USK_VHOST_USER_GET_VRING_BASE: {
		struct usk_vhost_vring_state st = {.index = idx};

		st.num = vq->live ? vq_base(vq) : vq->base_idx;
		vhost_blk_vq_stop(dev, vq);
		vq->base_idx = st.num;
		vq->kick_received = false;
		close_fd(&vq->kickfd);
		rc = send_reply(dev, &st, sizeof(st), -1);
		replied = true;
		break;
	}
	case USK_VHOST_USER_SET_VRING_KICK:
		rc = take_vring_fd(dev, &vq->kickfd, err, err_len);
		if (rc == 0) {
			vq->kick_received = true;
			rc = vq_try_start(dev, vq);
		}
		break;
	case USK_VHOST_USER_SET_VRING_CALL:
		rc = take_vring_fd(dev, &vq->callfd, err, err_len);
		break;
	case USK_VHOST_USER_SET_VRING_ERR:
		rc = take_vring_fd(dev, &vq->errfd, err, err_len);
		break;
	case USK_VHOST_USER_SET_VRING_ENABLE:
		if (p->state.num > 1) {
			snprintf(err, err_len, "SET_VRING_ENABLE: queue %u value %u", idx,
				 p->state.num);
			return -EINVAL;
		}
		vq->enabled = p->state.num;
		if (vq->enabled) {
			rc = vq_try_start(dev, vq);
		} else {
			vhost_blk_vq_stop(dev, vq);
		}
		break;
	case USK_VHOST_USER_GET_CONFIG:
		rc = handle_config(dev, err, err_len);
		replied = true;
		break;
	case USK_VHOST_USER_SET_CONFIG:
		rc = handle_config(dev, err, err_len);
		break;
	case USK_VHOST_USER_GET_INFLIGHT_FD:
		rc = handle_get_inflight(dev, err, err_len);
		replied = true;
		break;
	case USK_VHOST_USER_SET_INFLIGHT_FD:
		rc = handle_set_inflight(dev, err, err_len);
		break;
	default:
		snprintf(err, err_len, "%s is not supported", vhost_user_req_name(req));
		return -ENOTSUP;
	}
	if (rc != 0 && err[0] == '\0') {
		snprintf(err, err_len, "%s failed: %s", vhost_user_req_name(req), strerror(-rc));
	}
	if (!replied && dev->conn_state != VHOST_CONN_CLOSING &&
	    (dev->protocol_features & (1ULL << USK_VHOST_USER_PROTOCOL_F_REPLY_ACK)) &&
	    (dev->rx_hdr.flags & USK_VHOST_USER_NEED_REPLY_MASK)) {
		int arc = reply_u64(dev, rc == 0 ? 0 : 1);

		if (rc == 0) {
			rc = arc;
		}
	}
	return rc;
}

/* ---- reception ---- */

static void
drain_stop(struct vhost_blk_dev *dev)
{
	if (dev->drain_poller != NULL) {
		usk_poller_unregister(&dev->drain_poller);
	}
}

static void
finish_close(struct vhost_blk_dev *dev)
{
	uint32_t i;

	drain_stop(dev);
	for (i = 0; i < VHOST_MAX_QUEUES; i++) {
		vq_reset(&dev->vqs[i]);
	}
	vhost_blk_update_poller(dev);
	vhost_mem_unmap(&dev->mem);
	inflight_unmap(dev);
	rx_reset(dev);
	if (dev->conn_intr != NULL) {
		usk_interrupt_unregister(&dev->conn_intr);
	}
	close_fd(&dev->conn_fd);
	dev->features = 0;
	dev->protocol_features = 0;
	dev->owner_set = false;
	dev->features_set = false;
	dev->paused = false;
	dev->rx_held = false;
	dev->conn_state = VHOST_CONN_NONE;
	if (dev->bdev_removed) {
		vhost_dev_release_bdev(dev);
	}
	if (!dev->removing && dev->listen_fd >= 0 && usk_interrupt_mode_is_enabled()) {
		dev->listen_intr = usk_interrupt_register(dev->listen_fd, listen_readable, dev,
							  "vhost_listen");
		if (dev->listen_intr == NULL) {
			USK_ERRLOG("vhost %s: cannot watch the socket again; no new front-end\n",
				   dev->name);
		}
	}
	if (dev->removing) {
		vhost_dev_remove_continue(dev);
	}
}

static int process_messages(struct vhost_blk_dev *dev);

static int
drain_poll(void *arg)
{
	struct vhost_blk_dev *dev = arg;

	if (vhost_blk_inflight(dev) > 0) {
		return USK_POLLER_IDLE;
	}
	drain_stop(dev);
	if (dev->conn_state == VHOST_CONN_CLOSING) {
		finish_close(dev);
		return USK_POLLER_BUSY;
	}
	/* STALLED: the held message can run now. */
	dev->conn_state = VHOST_CONN_ACTIVE;
	dev->paused = false;
	if (usk_interrupt_mode_is_enabled()) {
		dev->conn_intr =
			usk_interrupt_register(dev->conn_fd, conn_readable, dev, "vhost_conn");
	}
	process_messages(dev);
	if (!dev->paused) {
		vhost_blk_resume(dev);
	}
	return USK_POLLER_BUSY;
}

static void
drain_start(struct vhost_blk_dev *dev)
{
	if (dev->drain_poller == NULL) {
		dev->drain_poller = usk_poller_register_named(drain_poll, dev, VHOST_DRAIN_POLL_US,
							      "vhost_drain");
	}
}

static void
conn_close(struct vhost_blk_dev *dev, bool error, const char *why)
{
	if (dev->conn_state == VHOST_CONN_NONE || dev->conn_state == VHOST_CONN_CLOSING) {
		return;
	}
	if (error) {
		dev->protocol_errors++;
		USK_ERRLOG("vhost %s: closing the connection: %s\n", dev->name, why);
	} else {
		USK_NOTICELOG("vhost %s: %s\n", dev->name, why);
	}
	dev->conn_state = VHOST_CONN_CLOSING;
	dev->paused = true;
	stop_all_queues(dev);
	if (dev->conn_intr != NULL) {
		usk_interrupt_unregister(&dev->conn_intr);
	}
	/* Always deferred: the caller may still hold pointers into guest memory. */
	drain_start(dev);
}

void
vhost_user_close_conn(struct vhost_blk_dev *dev, const char *why)
{
	conn_close(dev, true, why);
}

/* Read what is there of one message. Returns 1 (a whole message), 0 (need more), -errno. */
static int
rx_some(struct vhost_blk_dev *dev, char *err, size_t err_len)
{
	char cbuf[CMSG_SPACE(sizeof(int) * USK_VHOST_USER_MAX_FDS)];
	struct iovec iov;
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c;
	size_t want;
	ssize_t n;

	if (dev->rx_state == VHOST_RX_HDR) {
		want = sizeof(dev->rx_hdr) - dev->rx_got;
		iov.iov_base = (uint8_t *)&dev->rx_hdr + dev->rx_got;
	} else {
		want = sizeof(dev->rx_hdr) + dev->rx_hdr.size - dev->rx_got;
		iov.iov_base = (uint8_t *)&dev->rx_payload + (dev->rx_got - sizeof(dev->rx_hdr));
	}
	iov.iov_len = want;
	do {
		n = recvmsg(dev->conn_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return 0;
		}
		snprintf(err, err_len, "recvmsg: %s", strerror(errno));
		return -errno;
	}
	if (n == 0) {
		return -ECONNRESET;
	}
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		int k, nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			continue;
		}
		nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (k = 0; k < nfd; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
			if (dev->rx_nfds < USK_VHOST_USER_MAX_FDS) {
				dev->rx_fds[dev->rx_nfds++] = fd;
			} else {
				close(fd);
				snprintf(err, err_len, "more than %d fds with one message",
					 USK_VHOST_USER_MAX_FDS);
				return -EINVAL;
			}
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		snprintf(err, err_len, "ancillary data truncated");
		return -EINVAL;
	}
	dev->rx_got += (size_t)n;
	if ((size_t)n < want) {
		return 0;
	}
	if (dev->rx_state == VHOST_RX_HDR) {
		if (dev->rx_hdr.size > USK_VHOST_USER_MAX_PAYLOAD_SIZE) {
			char esc[64];

			vhost_escape(&dev->rx_hdr, sizeof(dev->rx_hdr), esc, sizeof(esc));
			snprintf(err, err_len, "header announces a %u-byte payload (bytes: %s)",
				 dev->rx_hdr.size, esc);
			return -EINVAL;
		}
		if (dev->rx_hdr.size > 0) {
			dev->rx_state = VHOST_RX_PAYLOAD;
			return 0;
		}
	}
	return 1;
}

/* Read and run messages until none is left, a message must wait, or the connection closed. */
static int
process_messages(struct vhost_blk_dev *dev)
{
	char err[192];
	int rc, done = 0;

	while (dev->conn_state == VHOST_CONN_ACTIVE) {
		err[0] = '\0';
		if (dev->rx_held) {
			/* The message a stall held back: complete, run it now. */
			dev->rx_held = false;
		} else {
			rc = rx_some(dev, err, sizeof(err));
			if (rc == 0) {
				break;
			}
			if (rc == -ECONNRESET) {
				conn_close(dev, false, "front-end closed the connection");
				break;
			}
			if (rc < 0) {
				conn_close(dev, true, err);
				break;
			}
		}
		rc = vhost_user_msg_check(&dev->rx_hdr, dev->rx_nfds, err, sizeof(err));
		if (rc == 0) {
			rc = dispatch(dev, err, sizeof(err));
		}
		if (rc == 1) {
			/* Hold the message until in-flight requests are done. */
			dev->conn_state = VHOST_CONN_STALLED;
			dev->rx_held = true;
			dev->paused = true;
			if (dev->conn_intr != NULL) {
				usk_interrupt_unregister(&dev->conn_intr);
			}
			drain_start(dev);
			break;
		}
		rx_reset(dev);
		if (rc != 0) {
			conn_close(dev, true, err);
			break;
		}
		done++;
	}
	return done;
}

static int
conn_readable(void *arg)
{
	return process_messages(arg);
}

static void
accept_conn(struct vhost_blk_dev *dev)
{
	int fd = accept4(dev->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		return;
	}
	assert(dev->conn_state == VHOST_CONN_NONE);
	if (dev->bdev_desc == NULL) {
		USK_ERRLOG("vhost %s: refusing a front-end: bdev %s is gone\n", dev->name,
			   dev->bdev_name);
		close(fd);
		return;
	}
	dev->conn_fd = fd;
	dev->conn_state = VHOST_CONN_ACTIVE;
	dev->connections++;
	rx_reset(dev);
	USK_NOTICELOG("vhost %s: front-end connected\n", dev->name);
	/* One front-end at a time: a second one waits in the listen backlog until this one is gone
	 * (a QEMU restarted after a crash may connect before the old connection's EOF is read). */
	if (dev->listen_intr != NULL) {
		usk_interrupt_unregister(&dev->listen_intr);
	}
	if (usk_interrupt_mode_is_enabled()) {
		dev->conn_intr = usk_interrupt_register(fd, conn_readable, dev, "vhost_conn");
		if (dev->conn_intr == NULL) {
			conn_close(dev, true, "cannot watch the connection");
		}
	}
}

static int
listen_readable(void *arg)
{
	accept_conn(arg);
	return 1;
}

static int
conn_poll(void *arg)
{
	struct vhost_blk_dev *dev = arg;

	if (dev->conn_state == VHOST_CONN_NONE) {
		accept_conn(dev);
	} else if (dev->conn_state == VHOST_CONN_ACTIVE) {
		return process_messages(dev) > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
	}
	return USK_POLLER_IDLE;
}

int
vhost_user_listen(struct vhost_blk_dev *dev)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (strlen(dev->socket_path) >= sizeof(sa.sun_path)) {
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, dev->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	if (stat(dev->socket_path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			return -EEXIST;
		}
		/* A socket file: live (someone accepts) or left by a crashed process. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			close(fd);
			return -EADDRINUSE;
		}
		if (probe >= 0) {
			close(probe);
		}
		unlink(dev->socket_path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	dev->listen_fd = fd;
	dev->conn_fd = -1;
	dev->conn_state = VHOST_CONN_NONE;
	for (uint32_t i = 0; i < VHOST_MAX_QUEUES; i++) {
		dev->vqs[i].index = (uint16_t)i;
		dev->vqs[i].kickfd = dev->vqs[i].callfd = dev->vqs[i].errfd = -1;
	}
	if (usk_interrupt_mode_is_enabled()) {
		dev->listen_intr = usk_interrupt_register(fd, listen_readable, dev, "vhost_listen");
		if (dev->listen_intr == NULL) {
			close_fd(&dev->listen_fd);
			unlink(dev->socket_path);
			return -ENOMEM;
		}
	} else {
		dev->conn_poller = usk_poller_register_named(conn_poll, dev, VHOST_CONN_POLL_US,
							     "vhost_conn_poller");
		if (dev->conn_poller == NULL) {
			close_fd(&dev->listen_fd);
			unlink(dev->socket_path);
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Stop listening; close the connection (draining). vhost_dev_remove_continue runs once the
 * connection is gone (at once when there is none).
 */
void
vhost_user_shutdown(struct vhost_blk_dev *dev)
{
	if (dev->listen_intr != NULL) {
		usk_interrupt_unregister(&dev->listen_intr);
	}
	if (dev->conn_poller != NULL) {
		usk_poller_unregister(&dev->conn_poller);
	}
	if (dev->listen_fd >= 0) {
		close_fd(&dev->listen_fd);
		unlink(dev->socket_path);
	}
	if (dev->conn_state == VHOST_CONN_NONE) {
		vhost_dev_remove_continue(dev);
		return;
	}
	if (dev->conn_state != VHOST_CONN_CLOSING) {
		conn_close(dev, false, "controller removed: closing the front-end connection");
	}
}
