/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio 1.2 (split and packed virtqueues, virtio-blk) and vhost-user (QEMU
 * docs/interop/vhost-user.rst) wire structures. Little-endian hosts only: every "le" field is
 * used as a native integer. Field names follow the specifications; every size is
 * static_assert'ed. Shared by lib/vhost (the device side) and module/bdev/virtio (the driver).
 */
#ifndef USK_VIRTIO_SPEC_H
#define USK_VIRTIO_SPEC_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- device-independent feature bits (virtio 1.2 section 6) ---- */
#define USK_VIRTIO_F_NOTIFY_ON_EMPTY	24
#define USK_VIRTIO_F_ANY_LAYOUT		27
#define USK_VIRTIO_F_RING_INDIRECT_DESC 28
#define USK_VIRTIO_F_RING_EVENT_IDX	29
#define USK_VIRTIO_F_VERSION_1		32
#define USK_VIRTIO_F_ACCESS_PLATFORM	33
#define USK_VIRTIO_F_RING_PACKED	34
#define USK_VIRTIO_F_IN_ORDER		35
#define USK_VIRTIO_F_ORDER_PLATFORM	36
#define USK_VIRTIO_F_SR_IOV		37
#define USK_VIRTIO_F_NOTIFICATION_DATA	38
#define USK_VIRTIO_F_RING_RESET		40

/* Device status bits (virtio 1.2 2.1). */
#define USK_VIRTIO_CONFIG_S_ACKNOWLEDGE 1
#define USK_VIRTIO_CONFIG_S_DRIVER	2
#define USK_VIRTIO_CONFIG_S_DRIVER_OK	4
#define USK_VIRTIO_CONFIG_S_FEATURES_OK 8
#define USK_VIRTIO_CONFIG_S_NEEDS_RESET 0x40
#define USK_VIRTIO_CONFIG_S_FAILED	0x80

/* ---- split virtqueue (virtio 1.2 2.7) ---- */
#define USK_VRING_DESC_F_NEXT	  1
#define USK_VRING_DESC_F_WRITE	  2
#define USK_VRING_DESC_F_INDIRECT 4

#define USK_VRING_AVAIL_F_NO_INTERRUPT 1
#define USK_VRING_USED_F_NO_NOTIFY     1

/** Maximum queue size of a split ring (2^15). */
#define USK_VIRTQ_MAX_SIZE 32768

/** Split-ring alignment requirements (virtio 1.2 2.7, table "Virtqueue Part Alignment"). */
#define USK_VRING_DESC_ALIGN  16
#define USK_VRING_AVAIL_ALIGN 2
#define USK_VRING_USED_ALIGN  4

struct usk_vring_desc {
	uint64_t addr; /* guest-physical address */
	uint32_t len;
	uint16_t flags; /* USK_VRING_DESC_F_* */
	uint16_t next;
};
static_assert(sizeof(struct usk_vring_desc) == 16, "vring desc size");

/** Driver area. With EVENT_IDX, ring[num] is used_event. */
struct usk_vring_avail {
	uint16_t flags; /* USK_VRING_AVAIL_F_* */
	uint16_t idx;
	uint16_t ring[];
};
static_assert(sizeof(struct usk_vring_avail) == 4, "vring avail header size");

struct usk_vring_used_elem {
	uint32_t id;  /* head of the chain (32 bits for padding reasons) */
	uint32_t len; /* bytes written into device-writable buffers */
};
static_assert(sizeof(struct usk_vring_used_elem) == 8, "vring used elem size");

/** Device area. With EVENT_IDX, *(uint16_t *)&ring[num] is avail_event. */
struct usk_vring_used {
	uint16_t flags; /* USK_VRING_USED_F_* */
	uint16_t idx;
	struct usk_vring_used_elem ring[];
};
static_assert(sizeof(struct usk_vring_used) == 4, "vring used header size");

/** Bytes of each split-ring part for a queue of num entries (EVENT_IDX words included). */
static inline size_t
usk_vring_desc_size(uint32_t num)
{
	return (size_t)num * sizeof(struct usk_vring_desc);
}

static inline size_t
usk_vring_avail_size(uint32_t num)
{
	return sizeof(struct usk_vring_avail) + (size_t)num * sizeof(uint16_t) + sizeof(uint16_t);
}

static inline size_t
usk_vring_used_size(uint32_t num)
{
	return sizeof(struct usk_vring_used) + (size_t)num * sizeof(struct usk_vring_used_elem) +
	       sizeof(uint16_t);
}

/**
 * EVENT_IDX rule (virtio 1.2 2.7.7.2 / 2.7.10): notify when new_idx has passed event_idx
 * since old_idx. All arithmetic is modulo 2^16.
 */
static inline int
usk_vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* ---- packed virtqueue (virtio 1.2 2.8) ---- */
#define USK_VRING_PACKED_DESC_F_AVAIL (1u << 7)
#define USK_VRING_PACKED_DESC_F_USED  (1u << 15)

#define USK_VRING_PACKED_EVENT_FLAG_ENABLE  0x0
#define USK_VRING_PACKED_EVENT_FLAG_DISABLE 0x1
#define USK_VRING_PACKED_EVENT_FLAG_DESC    0x2

/** off_wrap: bits 0-14 descriptor offset, bit 15 wrap counter. */
#define USK_VRING_PACKED_EVENT_F_WRAP_CTR 15

struct usk_vring_packed_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;	/* buffer id */
	uint16_t flags; /* USK_VRING_DESC_F_* | AVAIL | USED */
};
static_assert(sizeof(struct usk_vring_packed_desc) == 16, "packed desc size");

/** Driver and device event suppression areas. */
struct usk_vring_packed_desc_event {
	uint16_t off_wrap;
	uint16_t flags; /* USK_VRING_PACKED_EVENT_FLAG_* */
};
static_assert(sizeof(struct usk_vring_packed_desc_event) == 4, "packed event size");

/* ---- virtio-blk (virtio 1.2 5.2) ---- */
#define USK_VIRTIO_ID_BLOCK 2

#define USK_VIRTIO_BLK_F_SIZE_MAX     1
#define USK_VIRTIO_BLK_F_SEG_MAX      2
#define USK_VIRTIO_BLK_F_GEOMETRY     4
#define USK_VIRTIO_BLK_F_RO	      5
#define USK_VIRTIO_BLK_F_BLK_SIZE     6
#define USK_VIRTIO_BLK_F_FLUSH	      9
#define USK_VIRTIO_BLK_F_TOPOLOGY     10
#define USK_VIRTIO_BLK_F_CONFIG_WCE   11
#define USK_VIRTIO_BLK_F_MQ	      12
#define USK_VIRTIO_BLK_F_DISCARD      13
#define USK_VIRTIO_BLK_F_WRITE_ZEROES 14
#define USK_VIRTIO_BLK_F_LIFETIME     15
#define USK_VIRTIO_BLK_F_SECURE_ERASE 16

#define USK_VIRTIO_BLK_T_IN	      0
#define USK_VIRTIO_BLK_T_OUT	      1
#define USK_VIRTIO_BLK_T_FLUSH	      4
#define USK_VIRTIO_BLK_T_GET_ID	      8
#define USK_VIRTIO_BLK_T_GET_LIFETIME 10
#define USK_VIRTIO_BLK_T_DISCARD      11
#define USK_VIRTIO_BLK_T_WRITE_ZEROES 13
#define USK_VIRTIO_BLK_T_SECURE_ERASE 14

#define USK_VIRTIO_BLK_S_OK	0
#define USK_VIRTIO_BLK_S_IOERR	1
#define USK_VIRTIO_BLK_S_UNSUPP 2

/** Sector size of every virtio-blk sector field, whatever blk_size is. */
#define USK_VIRTIO_BLK_SECTOR_SIZE 512
/** GET_ID answer length: a serial string, not NUL-terminated when it fills all 20 bytes. */
#define USK_VIRTIO_BLK_ID_BYTES 20

/** Flag of struct usk_virtio_blk_discard_write_zeroes.flags. */
#define USK_VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1

struct usk_virtio_blk_geometry {
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
};

struct usk_virtio_blk_topology {
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
};

/**
 * Device configuration space as of virtio 1.2 (72 bytes, up to the secure-erase fields).
 * Drivers read only as many bytes as they know; QEMU 7.2's own server (qemu-storage-daemon)
 * rejects GET_CONFIG requests larger than its struct.
 */
struct usk_virtio_blk_config {
	uint64_t capacity; /* in 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	struct usk_virtio_blk_geometry geometry;
	uint32_t blk_size;
	struct usk_virtio_blk_topology topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
	uint32_t max_secure_erase_sectors;
	uint32_t max_secure_erase_seg;
	uint32_t secure_erase_sector_alignment;
};
static_assert(sizeof(struct usk_virtio_blk_config) == 72, "virtio_blk_config size");
static_assert(offsetof(struct usk_virtio_blk_config, blk_size) == 20, "blk_size offset");
static_assert(offsetof(struct usk_virtio_blk_config, num_queues) == 34, "num_queues offset");
static_assert(offsetof(struct usk_virtio_blk_config, max_discard_sectors) == 36, "discard offset");
static_assert(offsetof(struct usk_virtio_blk_config, write_zeroes_may_unmap) == 56, "wz offset");

/** Request header: the first device-readable bytes of every request. */
struct usk_virtio_blk_outhdr {
	uint32_t type; /* USK_VIRTIO_BLK_T_* */
	uint32_t ioprio;
	uint64_t sector; /* 512-byte units */
};
static_assert(sizeof(struct usk_virtio_blk_outhdr) == 16, "virtio_blk_outhdr size");

/** Payload segment of DISCARD / WRITE_ZEROES / SECURE_ERASE (one per range). */
struct usk_virtio_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags; /* USK_VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP */
};
static_assert(sizeof(struct usk_virtio_blk_discard_write_zeroes) == 16, "discard seg size");

/* The status byte is the last device-writable byte of every request. */

/* ---- vhost-user (QEMU docs/interop/vhost-user.rst) ---- */
enum usk_vhost_user_request {
	USK_VHOST_USER_NONE = 0,
	USK_VHOST_USER_GET_FEATURES = 1,
	USK_VHOST_USER_SET_FEATURES = 2,
	USK_VHOST_USER_SET_OWNER = 3,
	USK_VHOST_USER_RESET_OWNER = 4,
	USK_VHOST_USER_SET_MEM_TABLE = 5,
	USK_VHOST_USER_SET_LOG_BASE = 6,
	USK_VHOST_USER_SET_LOG_FD = 7,
	USK_VHOST_USER_SET_VRING_NUM = 8,
	USK_VHOST_USER_SET_VRING_ADDR = 9,
	USK_VHOST_USER_SET_VRING_BASE = 10,
	USK_VHOST_USER_GET_VRING_BASE = 11,
	USK_VHOST_USER_SET_VRING_KICK = 12,
	USK_VHOST_USER_SET_VRING_CALL = 13,
	USK_VHOST_USER_SET_VRING_ERR = 14,
	USK_VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	USK_VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	USK_VHOST_USER_GET_QUEUE_NUM = 17,
	USK_VHOST_USER_SET_VRING_ENABLE = 18,
	USK_VHOST_USER_SEND_RARP = 19,
	USK_VHOST_USER_NET_SET_MTU = 20,
	USK_VHOST_USER_SET_BACKEND_REQ_FD = 21,
	USK_VHOST_USER_IOTLB_MSG = 22,
	USK_VHOST_USER_SET_VRING_ENDIAN = 23,
	USK_VHOST_USER_GET_CONFIG = 24,
	USK_VHOST_USER_SET_CONFIG = 25,
	USK_VHOST_USER_CREATE_CRYPTO_SESSION = 26,
	USK_VHOST_USER_CLOSE_CRYPTO_SESSION = 27,
	USK_VHOST_USER_POSTCOPY_ADVISE = 28,
	USK_VHOST_USER_POSTCOPY_LISTEN = 29,
	USK_VHOST_USER_POSTCOPY_END = 30,
	USK_VHOST_USER_GET_INFLIGHT_FD = 31,
	USK_VHOST_USER_SET_INFLIGHT_FD = 32,
	USK_VHOST_USER_GPU_SET_SOCKET = 33,
	USK_VHOST_USER_RESET_DEVICE = 34,
	USK_VHOST_USER_VRING_KICK = 35,
	USK_VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	USK_VHOST_USER_ADD_MEM_REG = 37,
	USK_VHOST_USER_REM_MEM_REG = 38,
	USK_VHOST_USER_SET_STATUS = 39,
	USK_VHOST_USER_GET_STATUS = 40,
	USK_VHOST_USER_MAX
};

/** Virtio feature bit 30 in GET/SET_FEATURES: the back-end speaks protocol features. */
#define USK_VHOST_USER_F_PROTOCOL_FEATURES 30

/* Protocol feature bits (GET/SET_PROTOCOL_FEATURES). */
#define USK_VHOST_USER_PROTOCOL_F_MQ		       0
#define USK_VHOST_USER_PROTOCOL_F_LOG_SHMFD	       1
#define USK_VHOST_USER_PROTOCOL_F_RARP		       2
#define USK_VHOST_USER_PROTOCOL_F_REPLY_ACK	       3
#define USK_VHOST_USER_PROTOCOL_F_NET_MTU	       4
#define USK_VHOST_USER_PROTOCOL_F_BACKEND_REQ	       5
#define USK_VHOST_USER_PROTOCOL_F_CROSS_ENDIAN	       6
#define USK_VHOST_USER_PROTOCOL_F_CRYPTO_SESSION       7
#define USK_VHOST_USER_PROTOCOL_F_PAGEFAULT	       8
#define USK_VHOST_USER_PROTOCOL_F_CONFIG	       9
#define USK_VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD      10
#define USK_VHOST_USER_PROTOCOL_F_HOST_NOTIFIER	       11
#define USK_VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD       12
#define USK_VHOST_USER_PROTOCOL_F_RESET_DEVICE	       13
#define USK_VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS 14
#define USK_VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS  15
#define USK_VHOST_USER_PROTOCOL_F_STATUS	       16

/* Header flags. */
#define USK_VHOST_USER_VERSION_MASK    0x3
#define USK_VHOST_USER_VERSION	       0x1
#define USK_VHOST_USER_REPLY_MASK      (1u << 2)
#define USK_VHOST_USER_NEED_REPLY_MASK (1u << 3)

/** SET_VRING_KICK/CALL/ERR u64 payload: bits 0-7 vring index, bit 8 "no fd passed". */
#define USK_VHOST_USER_VRING_IDX_MASK  0xffu
#define USK_VHOST_USER_VRING_NOFD_MASK (1u << 8)

/** Maximum memory regions in SET_MEM_TABLE, and fds in one message. */
#define USK_VHOST_USER_MEMORY_MAX_NREGIONS 8
#define USK_VHOST_USER_MAX_FDS		   8
/** Largest GET/SET_CONFIG payload region. */
#define USK_VHOST_USER_MAX_CONFIG_SIZE 256

/** SET_VRING_ADDR flags: bit 0 requests dirty logging of the used ring. */
#define USK_VHOST_VRING_F_LOG 0

/** GET/SET_CONFIG flags. */
#define USK_VHOST_SET_CONFIG_TYPE_FRONTEND  0
#define USK_VHOST_SET_CONFIG_TYPE_MIGRATION 1

struct usk_vhost_user_hdr {
	uint32_t request; /* enum usk_vhost_user_request */
	uint32_t flags;	  /* version | REPLY | NEED_REPLY */
	uint32_t size;	  /* payload bytes following the header */
};
static_assert(sizeof(struct usk_vhost_user_hdr) == 12, "vhost-user header size");

/** SET_VRING_NUM, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_ENABLE. */
struct usk_vhost_vring_state {
	uint32_t index;
	uint32_t num;
};
static_assert(sizeof(struct usk_vhost_vring_state) == 8, "vring state size");

/** SET_VRING_ADDR: the three areas as user addresses in the front-end's address space. */
struct usk_vhost_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};
static_assert(sizeof(struct usk_vhost_vring_addr) == 40, "vring addr size");

struct usk_vhost_user_memory_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset; /* offset into the region's fd */
};
static_assert(sizeof(struct usk_vhost_user_memory_region) == 32, "memory region size");

/** SET_MEM_TABLE: one fd per region travels as SCM_RIGHTS ancillary data. */
struct usk_vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct usk_vhost_user_memory_region regions[USK_VHOST_USER_MEMORY_MAX_NREGIONS];
};
static_assert(sizeof(struct usk_vhost_user_memory) == 8 + 8 * 32, "memory table size");

/** ADD_MEM_REG / REM_MEM_REG. */
struct usk_vhost_user_mem_reg {
	uint64_t padding;
	struct usk_vhost_user_memory_region region;
};
static_assert(sizeof(struct usk_vhost_user_mem_reg) == 40, "single memory region size");

/** SET_LOG_BASE. */
struct usk_vhost_user_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};
static_assert(sizeof(struct usk_vhost_user_log) == 16, "log size");

/** GET_CONFIG / SET_CONFIG: the device config space window [offset, offset + size). */
struct usk_vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[USK_VHOST_USER_MAX_CONFIG_SIZE];
};
static_assert(sizeof(struct usk_vhost_user_config) == 12 + 256, "config size");
#define USK_VHOST_USER_CONFIG_HDR_SIZE offsetof(struct usk_vhost_user_config, region)

/** GET_INFLIGHT_FD / SET_INFLIGHT_FD (fd passed with SET and with the GET reply). */
struct usk_vhost_user_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};
static_assert(sizeof(struct usk_vhost_user_inflight) == 24, "inflight size (padded)");
/** On the wire the inflight payload is 20 bytes (no tail padding); accept >= this. */
#define USK_VHOST_USER_INFLIGHT_WIRE_SIZE 20

union usk_vhost_user_payload {
	uint64_t u64;
	struct usk_vhost_vring_state state;
	struct usk_vhost_vring_addr addr;
	struct usk_vhost_user_memory memory;
	struct usk_vhost_user_mem_reg mem_reg;
	struct usk_vhost_user_log log;
	struct usk_vhost_user_config config;
	struct usk_vhost_user_inflight inflight;
};
/* The largest member (config) is 268 bytes; 8-byte alignment rounds the union to 272. */
static_assert(sizeof(union usk_vhost_user_payload) == 272, "vhost-user payload size");
#define USK_VHOST_USER_MAX_PAYLOAD_SIZE sizeof(struct usk_vhost_user_config)

/** One message as it travels on the socket (header immediately followed by the payload). */
struct usk_vhost_user_msg {
	struct usk_vhost_user_hdr hdr;
	union usk_vhost_user_payload payload;
} __attribute__((packed));
static_assert(sizeof(struct usk_vhost_user_msg) == 12 + 272, "vhost-user message size");

/*
 * Inflight I/O tracking shared-memory layout (vhost-user.rst "Inflight I/O tracking"). One
 * region per queue, each queue's region aligned to 64 bytes. The back-end sets inflight=1 when
 * it fetches a chain and clears it when the used element is visible, so that a restarted
 * back-end (or front-end) resubmits the requests that never completed.
 */
#define USK_VHOST_INFLIGHT_VERSION   1
#define USK_VHOST_INFLIGHT_ALIGNMENT 64

struct usk_vhost_inflight_desc_split {
	uint8_t inflight; /* 1 while the request is in the back-end */
	uint8_t padding[5];
	uint16_t next;	  /* link in the back-end's last batch (not used by usk) */
	uint64_t counter; /* fetch order, to resubmit in order */
};
static_assert(sizeof(struct usk_vhost_inflight_desc_split) == 16, "inflight split desc size");

struct usk_vhost_inflight_split {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx; /* used->idx as last committed by the back-end */
	struct usk_vhost_inflight_desc_split desc[];
};
static_assert(sizeof(struct usk_vhost_inflight_split) == 16, "inflight split header size");

struct usk_vhost_inflight_desc_packed {
	uint8_t inflight;
	uint8_t padding;
	uint16_t next;
	uint16_t last;
	uint16_t num;
	uint64_t counter;
	uint16_t id;
	uint16_t flags;
	uint32_t len;
	uint64_t addr;
};
static_assert(sizeof(struct usk_vhost_inflight_desc_packed) == 32, "inflight packed desc size");

struct usk_vhost_inflight_packed {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct usk_vhost_inflight_desc_packed desc[];
};
static_assert(offsetof(struct usk_vhost_inflight_packed, desc) == 32, "inflight packed header");

#ifdef __cplusplus
}
#endif

#endif /* USK_VIRTIO_SPEC_H */
