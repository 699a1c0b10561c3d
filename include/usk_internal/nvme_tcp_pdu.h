/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP PDU receive state machine and header validator, shared by the host driver
 * (lib/nvme/nvme_tcp*.c) and the target transport (lib/nvmf/tcp*.c); the code is in
 * lib/nvme_tcp/nvme_tcp_pdu.c. Free of sockets and of either side's core so that unit tests and
 * the fuzzers drive exactly the code the transports run. Bytes are fed in any split; the machine
 * stops at each event the caller must handle. The only per-side difference is which PDU types
 * may arrive and their header rules: the side given to nvme_tcp_rx_init picks that table.
 * Single-threaded: an rx belongs to its connection's thread.
 */
#ifndef USK_INTERNAL_NVME_TCP_PDU_H
#define USK_INTERNAL_NVME_TCP_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "usk/nvme_tcp.h"

/* Most destination iovecs a PDU payload may be scattered into. */
#define NVME_TCP_RX_MAX_IOV 34

/* Which end of the connection receives (decides the PDU types and header rules accepted). */
enum nvme_tcp_rx_side {
	NVME_TCP_RX_HOST,   /* ICResp, C2HTermReq, CapsuleResp, C2HData, R2T */
	NVME_TCP_RX_TARGET, /* ICReq, H2CTermReq, CapsuleCmd, H2CData */
};

enum nvme_tcp_rx_state {
	NVME_TCP_RX_AWAIT_CH,	   /* the 8-byte common header */
	NVME_TCP_RX_AWAIT_PSH,	   /* rest of the header, header digest, padding up to PDO */
	NVME_TCP_RX_AWAIT_DEST,	   /* header done: the caller must set a data destination */
	NVME_TCP_RX_AWAIT_PAYLOAD, /* payload and data digest */
	NVME_TCP_RX_DONE,	   /* a whole PDU is ready; the next feed starts a new one */
	NVME_TCP_RX_ERROR,	   /* fatal: send a TermReq (fes/fei) and close */
};

enum nvme_tcp_rx_event {
	NVME_TCP_RX_EV_NEED_MORE, /* all input consumed, PDU incomplete */
	NVME_TCP_RX_EV_HEADER,	  /* header validated: call nvme_tcp_rx_set_dest or _fail */
	NVME_TCP_RX_EV_PDU,	  /* PDU complete (data and digests checked) */
	NVME_TCP_RX_EV_ERROR,	  /* fatal error: rx->fes, rx->fei, rx->reason */
};

/* What the connection negotiated (and the limits the validator enforces). */
struct nvme_tcp_rx_params {
	bool ic_done; /* host: ICResp received; target: ICReq received and answered */
	bool hdgst;   /* header digest enabled */
	bool ddgst;   /* data digest enabled */
	/* the PDA we announced (host: HPDA, target: CPDA): PDO of data PDUs we receive must be a
	 * multiple of (pda+1)*4 */
	uint8_t pda;
	uint32_t max_icd;    /* target only: in-capsule data size */
	uint32_t maxh2cdata; /* target only: MAXH2CDATA we announced */
};

struct nvme_tcp_rx {
	enum nvme_tcp_rx_state state;
	enum nvme_tcp_rx_side side;
	/* bytes of the current stage received so far */
	uint32_t have;
	/* header bytes after the common header, incl. header digest and padding */
	uint32_t psh_len;
	uint8_t hdgst_len;
	uint8_t ddgst_len;
	uint16_t pad_len;
	/* payload bytes (without data digest) and how many arrived */
	uint32_t data_len;
	uint32_t data_have;
	uint32_t data_crc;
	int iovcnt;
	int iov_idx;	  /* current destination iovec */
	uint32_t iov_off; /* offset in iov[iov_idx] */
	/* fatal error information (valid in NVME_TCP_RX_ERROR) */
	uint16_t fes;
	uint32_t fei;
	const char *reason;
	union usk_nvme_tcp_pdu_hdr hdr;
	uint8_t hdgst[USK_NVME_TCP_DIGEST_LEN];
	uint8_t ddgst[USK_NVME_TCP_DIGEST_LEN];
	struct iovec iov[NVME_TCP_RX_MAX_IOV];
};

/** Reset rx to wait for a common header (a fresh connection) received by side. */
void nvme_tcp_rx_init(struct nvme_tcp_rx *rx, enum nvme_tcp_rx_side side);

/**
 * Validate a common header received by rx->side against the negotiated params. On success
 * returns 0 and fills psh_len (bytes after the common header up to PDO, digest included),
 * data_len (payload without digest), hdgst_len, ddgst_len and pad_len in rx. On failure returns
 * -EPROTO and sets rx->fes/fei/reason (fei = byte offset of the bad field for FES 0x01).
 */
int nvme_tcp_ch_validate(struct nvme_tcp_rx *rx, const struct usk_nvme_tcp_common_pdu_hdr *ch,
			 const struct nvme_tcp_rx_params *p);

/**
 * Feed len bytes. Consumes bytes until an event; *consumed says how many. Call again with the
 * rest after handling NVME_TCP_RX_EV_HEADER / NVME_TCP_RX_EV_PDU. ERROR is sticky.
 */
enum nvme_tcp_rx_event nvme_tcp_rx_feed(struct nvme_tcp_rx *rx, const struct nvme_tcp_rx_params *p,
					const uint8_t *buf, size_t len, size_t *consumed);

/**
 * After NVME_TCP_RX_EV_HEADER: where the payload goes. The iovecs must total exactly
 * rx->data_len (iovcnt 0 when data_len is 0). Returns 0, or -EINVAL (rx enters ERROR).
 */
int nvme_tcp_rx_set_dest(struct nvme_tcp_rx *rx, const struct iovec *iov, int iovcnt);

/** Put rx into ERROR with the given FES/FEI and reason (for checks the caller makes). */
void nvme_tcp_rx_fail(struct nvme_tcp_rx *rx, uint16_t fes, uint32_t fei, const char *reason);

/**
 * Payload bytes still expected, including the data digest (0 unless AWAIT_PAYLOAD). Used to
 * read large payloads straight into the destination buffers.
 */
uint32_t nvme_tcp_rx_payload_remaining(const struct nvme_tcp_rx *rx);

/**
 * Fill iov (at most max entries) with the rest of the payload destination followed by the
 * data-digest slot; returns the count. Read into them, then call nvme_tcp_rx_payload_advance.
 */
int nvme_tcp_rx_payload_iovs(struct nvme_tcp_rx *rx, struct iovec *iov, int max);

/**
 * n bytes were placed by the caller into the iovecs from nvme_tcp_rx_payload_iovs. Returns
 * NEED_MORE, PDU (complete, digest checked) or ERROR.
 */
enum nvme_tcp_rx_event nvme_tcp_rx_payload_advance(struct nvme_tcp_rx *rx, size_t n);

/** Header digest (CRC32C) of a header of hlen bytes, as stored on the wire (little endian). */
uint32_t nvme_tcp_hdgst(const void *hdr, uint32_t hlen);

/** Human readable name of a PDU type, for logs. */
const char *nvme_tcp_pdu_type_name(uint8_t type);

static inline void
nvme_tcp_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t
nvme_tcp_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

#endif
