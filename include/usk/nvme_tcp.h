/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe/TCP Transport Specification 1.0 wire format: PDU headers, flags, FES codes. */
#ifndef USK_NVME_TCP_H
#define USK_NVME_TCP_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "usk/nvme_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PDU types (NVMe/TCP 1.0, 3.6.1) */
enum usk_nvme_tcp_pdu_type {
	USK_NVME_TCP_PDU_TYPE_IC_REQ = 0x00,
	USK_NVME_TCP_PDU_TYPE_IC_RESP = 0x01,
	USK_NVME_TCP_PDU_TYPE_H2C_TERM_REQ = 0x02,
	USK_NVME_TCP_PDU_TYPE_C2H_TERM_REQ = 0x03,
	USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD = 0x04,
	USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP = 0x05,
	USK_NVME_TCP_PDU_TYPE_H2C_DATA = 0x06,
	USK_NVME_TCP_PDU_TYPE_C2H_DATA = 0x07,
	USK_NVME_TCP_PDU_TYPE_R2T = 0x09,
};

/* Common header flags */
#define USK_NVME_TCP_CH_FLAGS_HDGSTF (1u << 0)
#define USK_NVME_TCP_CH_FLAGS_DDGSTF (1u << 1)
/* H2CData / C2HData: last PDU of a data transfer */
#define USK_NVME_TCP_H2C_DATA_FLAGS_LAST_PDU (1u << 2)
#define USK_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU (1u << 2)
/* C2HData: the command completed successfully, no CapsuleResp follows */
#define USK_NVME_TCP_C2H_DATA_FLAGS_SUCCESS (1u << 3)

/* ICReq/ICResp DGST field */
#define USK_NVME_TCP_DGST_HDGST_ENABLE (1u << 0)
#define USK_NVME_TCP_DGST_DDGST_ENABLE (1u << 1)

#define USK_NVME_TCP_DIGEST_LEN 4
#define USK_NVME_TCP_PFV_1_0	0
#define USK_NVME_TCP_CPDA_MAX	31
#define USK_NVME_TCP_HPDA_MAX	31
/* Max PDU data alignment pad: (CPDA+1)*4 */
#define USK_NVME_TCP_PDO_MAX_ALIGN ((USK_NVME_TCP_CPDA_MAX + 1) * 4)
/* H2CTermReq/C2HTermReq: header + at most 128 bytes of the offending PDU header */
#define USK_NVME_TCP_TERM_REQ_ERROR_DATA_MAX_SIZE 128
#define USK_NVME_TCP_TERM_REQ_PDU_MAX_SIZE	  152
#define USK_NVME_TCP_IN_CAPSULE_DATA_MIN	  4096

/* Fatal Error Status of a TermReq (NVMe/TCP 1.0, Figure 26/29) */
enum usk_nvme_tcp_term_req_fes {
	USK_NVME_TCP_FES_INVALID_HEADER_FIELD = 0x01,
	USK_NVME_TCP_FES_PDU_SEQUENCE_ERROR = 0x02,
	USK_NVME_TCP_FES_HDGST_ERROR = 0x03,
	USK_NVME_TCP_FES_DATA_TRANSFER_OUT_OF_RANGE = 0x04,
	USK_NVME_TCP_FES_R2T_LIMIT_EXCEEDED = 0x05,
	USK_NVME_TCP_FES_DATA_TRANSFER_LIMIT_EXCEEDED = 0x05,
	USK_NVME_TCP_FES_UNSUPPORTED_PARAMETER = 0x06,
};

/* Common header of every PDU (8 bytes). All multi-byte fields are little endian. */
struct usk_nvme_tcp_common_pdu_hdr {
	uint8_t pdu_type;
	uint8_t flags;
	uint8_t hlen;  /* PDU header length, without header digest */
	uint8_t pdo;   /* PDU data offset from the start of the PDU */
	uint32_t plen; /* total PDU length incl. header, digests, padding and data */
} __attribute__((packed));
static_assert(sizeof(struct usk_nvme_tcp_common_pdu_hdr) == 8, "common header is 8 bytes");
static_assert(offsetof(struct usk_nvme_tcp_common_pdu_hdr, hlen) == 2, "hlen offset");
static_assert(offsetof(struct usk_nvme_tcp_common_pdu_hdr, pdo) == 3, "pdo offset");
static_assert(offsetof(struct usk_nvme_tcp_common_pdu_hdr, plen) == 4, "plen offset");

struct usk_nvme_tcp_ic_req {
	struct usk_nvme_tcp_common_pdu_hdr common;
	uint16_t pfv;
	uint8_t hpda;	 /* host PDU data alignment: (hpda+1)*4 bytes */
	uint8_t dgst;	 /* USK_NVME_TCP_DGST_* */
	uint32_t maxr2t; /* 0's based: max outstanding R2Ts per command */
	uint8_t reserved16[112];
} __attribute__((packed));
static_assert(sizeof(struct usk_nvme_tcp_ic_req) == 128, "ICReq is 128 bytes");
static_assert(offsetof(struct usk_nvme_tcp_ic_req, maxr2t) == 12, "maxr2t offset");

struct usk_nvme_tcp_ic_resp {
	struct usk_nvme_tcp_common_pdu_hdr common;
	uint16_t pfv;
	uint8_t cpda; /* controller PDU data alignment */
	uint8_t dgst;
	uint32_t maxh2cdata; /* max bytes of data per H2CData PDU, >= 4096, multiple of 4 */
	uint8_t reserved16[112];
} __attribute__((packed));
static_assert(sizeof(struct usk_nvme_tcp_ic_resp) == 128, "ICResp is 128 bytes");
static_assert(offsetof(struct usk_nvme_tcp_ic_resp, maxh2cdata) == 12, "maxh2cdata offset");

/* H2CTermReq and C2HTermReq share a layout; the erroneous PDU header follows (up to 128 bytes). */
struct usk_nvme_tcp_term_req_hdr {
	struct usk_nvme_tcp_common_pdu_hdr common;
	uint16_t fes;
	uint8_t fei[4]; /* field error information: byte offset for 0x01, else 0 */
	uint8_t reserved14[10];
} __attribute__((packed));
static_assert(sizeof(struct usk_nvme_tcp_term_req_hdr) == 24, "TermReq header is 24 bytes");

/* CapsuleCmd: the 64-byte submission queue entry follows the common header. */
struct usk_nvme_tcp_cmd {
	struct usk_nvme_tcp_common_pdu_hdr common;
	struct usk_nvme_cmd ccsqe;
} __attribute__((packed));
static_assert(sizeof(struct usk_nvme_tcp_cmd) == 72, "CapsuleCmd header is 72 bytes");

/* CapsuleResp: the 16-byte completion queue entry follows the common header. */
struct usk_nvme_tcp_rsp {
	struct usk_nvme_tcp_common_pdu_hdr common;
	struct usk_nvme_cpl rccqe;
} __attribute__((packed));
static_assert(sizeof(struct usk_nvme_tcp_rsp) == 24, "CapsuleResp header is 24 bytes");

struct usk_nvme_tcp_h2c_data_hdr {
	struct usk_nvme_tcp_common_pdu_hdr common;
	uint16_t cccid;
	uint16_t ttag; /* transfer tag from the R2T */
	uint32_t datao;
	uint32_t datal;
	uint8_t reserved20[4];
} __attribute__((packed));
static_assert(sizeof(struct usk_nvme_tcp_h2c_data_hdr) == 24, "H2CData header is 24 bytes");

struct usk_nvme_tcp_c2h_data_hdr {
	struct usk_nvme_tcp_common_pdu_hdr common;
	uint16_t cccid;
	uint8_t reserved10[2];
	uint32_t datao;
	uint32_t datal;
	uint8_t reserved20[4];
} __attribute__((packed));
static_assert(sizeof(struct usk_nvme_tcp_c2h_data_hdr) == 24, "C2HData header is 24 bytes");

struct usk_nvme_tcp_r2t_hdr {
	struct usk_nvme_tcp_common_pdu_hdr common;
	uint16_t cccid;
	uint16_t ttag;
	uint32_t r2to;
	uint32_t r2tl;
	uint8_t reserved20[4];
} __attribute__((packed));
static_assert(sizeof(struct usk_nvme_tcp_r2t_hdr) == 24, "R2T header is 24 bytes");

/* Any PDU header, sized for the largest one (ICReq/ICResp). */
union usk_nvme_tcp_pdu_hdr {
	uint8_t raw[128];
	struct usk_nvme_tcp_common_pdu_hdr common;
	struct usk_nvme_tcp_ic_req ic_req;
	struct usk_nvme_tcp_ic_resp ic_resp;
	struct usk_nvme_tcp_term_req_hdr term_req;
	struct usk_nvme_tcp_cmd capsule_cmd;
	struct usk_nvme_tcp_rsp capsule_resp;
	struct usk_nvme_tcp_h2c_data_hdr h2c_data;
	struct usk_nvme_tcp_c2h_data_hdr c2h_data;
	struct usk_nvme_tcp_r2t_hdr r2t;
};
static_assert(sizeof(union usk_nvme_tcp_pdu_hdr) == 128, "PDU header union is 128 bytes");

#ifdef __cplusplus
}
#endif
#endif
