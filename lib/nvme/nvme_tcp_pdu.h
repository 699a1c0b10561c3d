/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP PDU receive state machine and header validator, host side: what a controller may
 * send (ICResp, C2HTermReq, CapsuleResp, C2HData, R2T). Free of sockets and of the driver so that
 * unit tests and the fuzzer drive exactly the code the transport runs. Bytes are fed in any
 * split; the machine stops at each event the caller must handle. The stream machinery mirrors
 * the target's lib/nvmf/tcp_pdu.c; only the validator differs (the PDU types flow the other way).
 */
#ifndef USK_NVME_TCP_PDU_H
#define USK_NVME_TCP_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "usk/nvme_tcp.h"

/* Most destination iovecs a C2HData payload may be scattered into. */
#define NVME_TCP_RX_MAX_IOV 34

enum nvme_tcp_rx_state {
	NVME_TCP_RX_AWAIT_CH,	   /* the 8-byte common header */
	NVME_TCP_RX_AWAIT_PSH,	   /* rest of the header, header digest, padding up to PDO */
	NVME_TCP_RX_AWAIT_DEST,	   /* header done: the caller must set a data destination */
	NVME_TCP_RX_AWAIT_PAYLOAD, /* payload and data digest */
	NVME_TCP_RX_DONE,	   /* a whole PDU is ready; the next feed starts a new one */
	NVME_TCP_RX_ERROR,	   /* fatal: send H2CTermReq (fes/fei) and close */
};

enum nvme_tcp_rx_event {
	NVME_TCP_RX_EV_NEED_MORE, /* all input consumed, PDU incomplete */
	NVME_TCP_RX_EV_HEADER,	  /* header validated: call nvme_tcp_rx_set_dest or _fail */
	NVME_TCP_RX_EV_PDU,	  /* PDU complete (data and digests checked) */
	NVME_TCP_RX_EV_ERROR,	  /* fatal error: rx->fes, rx->fei, rx->reason */
};

/* What the connection negotiated. */
struct nvme_tcp_rx_params {
	bool ic_done; /* ICResp received */
	bool hdgst;   /* header digest enabled */
	bool ddgst;   /* data digest enabled */
	uint8_t hpda; /* our HPDA: PDO of C2HData must be a multiple of (hpda+1)*4 */
};

struct nvme_tcp_rx {
	enum nvme_tcp_rx_state state;
	uint32_t have;
	uint32_t psh_len;
	uint8_t hdgst_len;
	uint8_t ddgst_len;
	uint16_t pad_len;
	uint32_t data_len;
	uint32_t data_have;
	uint32_t data_crc;
	int iovcnt;
	int iov_idx;
	uint32_t iov_off;
	uint16_t fes;
	uint32_t fei;
	const char *reason;
	union usk_nvme_tcp_pdu_hdr hdr;
	uint8_t hdgst[USK_NVME_TCP_DIGEST_LEN];
	uint8_t ddgst[USK_NVME_TCP_DIGEST_LEN];
	struct iovec iov[NVME_TCP_RX_MAX_IOV];
};

void nvme_tcp_rx_init(struct nvme_tcp_rx *rx);
/**
 * Validate a common header received by the host. On success returns 0 and fills psh_len,
 * data_len, hdgst_len, ddgst_len and pad_len; on failure -EPROTO with rx->fes/fei/reason.
 */
int nvme_tcp_ch_validate(struct nvme_tcp_rx *rx, const struct usk_nvme_tcp_common_pdu_hdr *ch,
			 const struct nvme_tcp_rx_params *p);
/** Feed len bytes; *consumed says how many were used before the event. ERROR is sticky. */
enum nvme_tcp_rx_event nvme_tcp_rx_feed(struct nvme_tcp_rx *rx, const struct nvme_tcp_rx_params *p,
					const uint8_t *buf, size_t len, size_t *consumed);
/** After EV_HEADER: the payload destination, totalling exactly rx->data_len. 0 or -EINVAL. */
int nvme_tcp_rx_set_dest(struct nvme_tcp_rx *rx, const struct iovec *iov, int iovcnt);
void nvme_tcp_rx_fail(struct nvme_tcp_rx *rx, uint16_t fes, uint32_t fei, const char *reason);
/** Payload bytes (incl. data digest) still expected (0 unless AWAIT_PAYLOAD). */
uint32_t nvme_tcp_rx_payload_remaining(const struct nvme_tcp_rx *rx);
/** The rest of the payload destination + digest slot as iovecs, for a direct readv. */
int nvme_tcp_rx_payload_iovs(struct nvme_tcp_rx *rx, struct iovec *iov, int max);
/** n bytes were read into the iovecs from nvme_tcp_rx_payload_iovs. */
enum nvme_tcp_rx_event nvme_tcp_rx_payload_advance(struct nvme_tcp_rx *rx, size_t n);
/** CRC32C header digest as on the wire. */
uint32_t nvme_tcp_hdgst(const void *hdr, uint32_t hlen);

static inline uint32_t
nvme_tcp_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static inline void
nvme_tcp_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

#endif
