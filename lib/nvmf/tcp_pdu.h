/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP PDU receive state machine and header validator (target side), free of any socket or
 * target-core dependency so that unit tests and the fuzzer drive exactly the code the transport
 * runs. Bytes are fed in any split; the machine stops at each event the caller must handle.
 */
#ifndef USK_NVMF_TCP_PDU_H
#define USK_NVMF_TCP_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "usk/nvme_tcp.h"

/* Most destination iovecs a PDU payload may be scattered into. */
#define TCP_PDU_MAX_DATA_IOV 34

enum tcp_pdu_rx_state {
	TCP_PDU_RX_AWAIT_CH,	  /* the 8-byte common header */
	TCP_PDU_RX_AWAIT_PSH,	  /* rest of the header, header digest, padding up to PDO */
	TCP_PDU_RX_AWAIT_DEST,	  /* header done: the caller must set a data destination */
	TCP_PDU_RX_AWAIT_PAYLOAD, /* payload and data digest */
	TCP_PDU_RX_DONE,	  /* a whole PDU is ready; the next feed starts a new one */
	TCP_PDU_RX_ERROR,	  /* fatal: send C2HTermReq (fes/fei) and close */
};

enum tcp_pdu_rx_event {
	TCP_PDU_RX_EV_NEED_MORE, /* all input consumed, PDU incomplete */
	TCP_PDU_RX_EV_HEADER,	 /* header validated: call tcp_pdu_rx_set_dest or _fail */
	TCP_PDU_RX_EV_PDU,	 /* PDU complete (data and digests checked) */
	TCP_PDU_RX_EV_ERROR,	 /* fatal error: rx->fes, rx->fei, rx->reason */
};

/* What the connection negotiated (and the limits the validator enforces). */
struct tcp_pdu_params {
	bool ic_done;	     /* ICReq received and answered */
	bool hdgst;	     /* header digest enabled */
	bool ddgst;	     /* data digest enabled */
	uint8_t cpda;	     /* our CPDA: PDO of host PDUs must be a multiple of (cpda+1)*4 */
	uint32_t max_icd;    /* in-capsule data size */
	uint32_t maxh2cdata; /* MAXH2CDATA we announced */
};

struct tcp_pdu_rx {
	enum tcp_pdu_rx_state state;
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
	/* fatal error information (valid in TCP_PDU_RX_ERROR) */
	uint16_t fes;
	uint32_t fei;
	const char *reason;
	union usk_nvme_tcp_pdu_hdr hdr;
	uint8_t hdgst[USK_NVME_TCP_DIGEST_LEN];
	uint8_t ddgst[USK_NVME_TCP_DIGEST_LEN];
	struct iovec iov[TCP_PDU_MAX_DATA_IOV];
};

/** Reset rx to wait for a common header (a fresh connection). */
void tcp_pdu_rx_init(struct tcp_pdu_rx *rx);

/**
 * Validate a common header received by the target against the negotiated params. On success
 * returns 0 and fills psh_len (bytes after the common header up to PDO, digest included),
 * data_len (payload without digest), hdgst_len, ddgst_len and pad_len in rx. On failure returns
 * -EPROTO and sets rx->fes/fei/reason (fei = byte offset of the bad field for FES 0x01).
 */
int tcp_pdu_ch_validate(struct tcp_pdu_rx *rx, const struct usk_nvme_tcp_common_pdu_hdr *ch,
			const struct tcp_pdu_params *p);

/**
 * Feed len bytes. Consumes bytes until an event; *consumed says how many. Call again with the
 * rest after handling TCP_PDU_RX_EV_HEADER / TCP_PDU_RX_EV_PDU. ERROR is sticky.
 */
enum tcp_pdu_rx_event tcp_pdu_rx_feed(struct tcp_pdu_rx *rx, const struct tcp_pdu_params *p,
				      const uint8_t *buf, size_t len, size_t *consumed);

/**
 * After TCP_PDU_RX_EV_HEADER: where the payload goes. The iovecs must total exactly
 * rx->data_len (iovcnt 0 when data_len is 0). Returns 0, or -EINVAL (rx enters ERROR).
 */
int tcp_pdu_rx_set_dest(struct tcp_pdu_rx *rx, const struct iovec *iov, int iovcnt);

/** Put rx into ERROR with the given FES/FEI and reason (for checks the caller makes). */
void tcp_pdu_rx_fail(struct tcp_pdu_rx *rx, uint16_t fes, uint32_t fei, const char *reason);

/**
 * Payload bytes still expected, including the data digest (0 unless AWAIT_PAYLOAD). Used to
 * read large payloads straight into the destination buffers.
 */
uint32_t tcp_pdu_rx_payload_remaining(const struct tcp_pdu_rx *rx);

/**
 * Fill iov (at most max entries) with the rest of the payload destination followed by the
 * data-digest slot; returns the count. Read into them, then call tcp_pdu_rx_payload_advance.
 */
int tcp_pdu_rx_payload_iovs(struct tcp_pdu_rx *rx, struct iovec *iov, int max);

/**
 * n bytes were placed by the caller into the iovecs from tcp_pdu_rx_payload_iovs. Returns
 * NEED_MORE, PDU (complete, digest checked) or ERROR.
 */
enum tcp_pdu_rx_event tcp_pdu_rx_payload_advance(struct tcp_pdu_rx *rx, size_t n);

/** Header digest (CRC32C) of a header of hlen bytes, as stored on the wire (little endian). */
uint32_t tcp_pdu_hdgst(const void *hdr, uint32_t hlen);

/** Human readable name of a PDU type, for logs. */
const char *tcp_pdu_type_name(uint8_t type);

static inline void
tcp_pdu_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t
tcp_pdu_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

#endif
