/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe Base 2.0 / NVMe-oF 1.1 wire structures: SQE/CQE, status codes, registers, identify data,
 * log pages (incl. the discovery log), features, fabrics commands. Little-endian hosts only.
 * Field names follow the specification; every size is static_assert'ed.
 */
#ifndef USK_NVME_SPEC_H
#define USK_NVME_SPEC_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USK_NVME_NQN_FIELD_SIZE		 256
#define USK_NVMF_NQN_MAX_LEN		 223
#define USK_NVMF_NQN_MIN_LEN		 11
#define USK_NVMF_NQN_UUID_PRE		 "nqn.2014-08.org.nvmexpress:uuid:"
#define USK_NVMF_NQN_UUID_PRE_LEN	 32
#define USK_NVMF_DISCOVERY_NQN		 "nqn.2014-08.org.nvmexpress.discovery"
#define USK_NVMF_TRSTRING_MAX_LEN	 32
#define USK_NVMF_TRADDR_MAX_LEN		 256
#define USK_NVMF_TRSVCID_MAX_LEN	 32
#define USK_NVME_CTRLR_SN_LEN		 20
#define USK_NVME_CTRLR_MN_LEN		 40
#define USK_NVME_CTRLR_FR_LEN		 8
#define USK_NVME_MAX_IO_QUEUES		 65535
#define USK_NVME_ADMIN_QUEUE_MIN_ENTRIES 2
#define USK_NVME_IO_QUEUE_MIN_ENTRIES	 2
#define USK_NVMF_CNTLID_MIN		 1
#define USK_NVMF_CNTLID_MAX		 0xffef
#define USK_NVMF_CNTLID_DYNAMIC		 0xffff

/* ---- transport identifiers (shared by host driver and target) ---- */

/** Transport type. Values of the fabrics ones equal the wire TRTYPE. */
enum usk_nvme_transport_type {
	USK_NVME_TRANSPORT_RDMA = 0x1,
	USK_NVME_TRANSPORT_FC = 0x2,
	USK_NVME_TRANSPORT_TCP = 0x3,
	USK_NVME_TRANSPORT_PCIE = 0x100,
	USK_NVME_TRANSPORT_VFIOUSER = 0x400,
	USK_NVME_TRANSPORT_CUSTOM = 0x1000,
};

/** Wire TRTYPE in discovery log entries. */
enum usk_nvmf_trtype {
	USK_NVMF_TRTYPE_RDMA = 0x1,
	USK_NVMF_TRTYPE_FC = 0x2,
	USK_NVMF_TRTYPE_TCP = 0x3,
	USK_NVMF_TRTYPE_INTRA_HOST = 0xfe,
};

enum usk_nvmf_adrfam {
	USK_NVMF_ADRFAM_IPV4 = 0x1,
	USK_NVMF_ADRFAM_IPV6 = 0x2,
	USK_NVMF_ADRFAM_IB = 0x3,
	USK_NVMF_ADRFAM_FC = 0x4,
	USK_NVMF_ADRFAM_INTRA_HOST = 0xfe,
};

enum usk_nvmf_subtype {
	USK_NVMF_SUBTYPE_DISCOVERY = 0x1, /* referral to another discovery service */
	USK_NVMF_SUBTYPE_NVME = 0x2,
	USK_NVMF_SUBTYPE_DISCOVERY_CURRENT = 0x3,
};

/* TREQ: secure channel bits 1:0, SQ flow control disable bit 2 */
#define USK_NVMF_TREQ_SECURE_CHANNEL_NOT_SPECIFIED 0x0
#define USK_NVMF_TREQ_SECURE_CHANNEL_REQUIRED	   0x1
#define USK_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED  0x2
#define USK_NVMF_TREQ_DISABLE_SQFLOW		   0x4

/** Address of a controller or listener, as SPDK's spdk_nvme_transport_id. Strings NUL-terminated.
 */
struct usk_nvme_transport_id {
	char trstring[USK_NVMF_TRSTRING_MAX_LEN + 1];
	enum usk_nvme_transport_type trtype;
	enum usk_nvmf_adrfam adrfam;
	char traddr[USK_NVMF_TRADDR_MAX_LEN + 1];
	char trsvcid[USK_NVMF_TRSVCID_MAX_LEN + 1];
	char subnqn[USK_NVME_NQN_FIELD_SIZE];
	int priority;
};

/* ---- SGL ---- */

enum usk_nvme_sgl_descriptor_type {
	USK_NVME_SGL_TYPE_DATA_BLOCK = 0x0,
	USK_NVME_SGL_TYPE_BIT_BUCKET = 0x1,
	USK_NVME_SGL_TYPE_SEGMENT = 0x2,
	USK_NVME_SGL_TYPE_LAST_SEGMENT = 0x3,
	USK_NVME_SGL_TYPE_KEYED_DATA_BLOCK = 0x4,
	USK_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK = 0x5,
	USK_NVME_SGL_TYPE_VENDOR_SPECIFIC = 0xf,
};

enum usk_nvme_sgl_descriptor_subtype {
	USK_NVME_SGL_SUBTYPE_ADDRESS = 0x0,
	USK_NVME_SGL_SUBTYPE_OFFSET = 0x1,
	USK_NVME_SGL_SUBTYPE_TRANSPORT = 0xa,
	USK_NVME_SGL_SUBTYPE_INVALIDATE_KEY = 0xf,
};

struct __attribute__((packed)) usk_nvme_sgl_descriptor {
	uint64_t address;
	union {
		struct {
			uint8_t reserved[7];
			uint8_t subtype : 4;
			uint8_t type : 4;
		} generic;
		struct {
			uint32_t length;
			uint8_t reserved[3];
			uint8_t subtype : 4;
			uint8_t type : 4;
		} unkeyed;
		struct {
			uint64_t length : 24;
			uint64_t key : 32;
			uint64_t subtype : 4;
			uint64_t type : 4;
		} keyed;
	};
};
static_assert(sizeof(struct usk_nvme_sgl_descriptor) == 16, "sgl descriptor size");

/* ---- submission queue entry ---- */

enum usk_nvme_psdt_value {
	USK_NVME_PSDT_PRP = 0x0,
	USK_NVME_PSDT_SGL_MPTR_CONTIG = 0x1,
	USK_NVME_PSDT_SGL_MPTR_SGL = 0x2,
};

struct usk_nvme_cmd {
	/* dword 0 */
	uint16_t opc : 8;
	uint16_t fuse : 2;
	uint16_t rsvd1 : 4;
	uint16_t psdt : 2;
	uint16_t cid;
	/* dword 1 */
	uint32_t nsid;
	/* dwords 2-3 */
	uint32_t cdw2;
	uint32_t cdw3;
	/* dwords 4-5 */
	uint64_t mptr;
	/* dwords 6-9 */
	union {
		struct {
			uint64_t prp1;
			uint64_t prp2;
		} prp;
		struct usk_nvme_sgl_descriptor sgl1;
	} dptr;
	/* dwords 10-15 */
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
static_assert(sizeof(struct usk_nvme_cmd) == 64, "nvme cmd size");

/* ---- completion queue entry ---- */

struct usk_nvme_status {
	uint16_t p : 1;	  /* phase tag */
	uint16_t sc : 8;  /* status code */
	uint16_t sct : 3; /* status code type */
	uint16_t crd : 2; /* command retry delay */
	uint16_t m : 1;	  /* more */
	uint16_t dnr : 1; /* do not retry */
};
static_assert(sizeof(struct usk_nvme_status) == 2, "nvme status size");

struct usk_nvme_cpl {
	/* dword 0 */
	uint32_t cdw0;
	/* dword 1 */
	uint32_t cdw1;
	/* dword 2 */
	uint16_t sqhd;
	uint16_t sqid;
	/* dword 3 */
	uint16_t cid;
	union {
		uint16_t status_raw;
		struct usk_nvme_status status;
	};
};
static_assert(sizeof(struct usk_nvme_cpl) == 16, "nvme cpl size");

/* ---- status codes ---- */

enum usk_nvme_status_code_type {
	USK_NVME_SCT_GENERIC = 0x0,
	USK_NVME_SCT_COMMAND_SPECIFIC = 0x1,
	USK_NVME_SCT_MEDIA_ERROR = 0x2,
	USK_NVME_SCT_PATH = 0x3,
	USK_NVME_SCT_VENDOR_SPECIFIC = 0x7,
};

enum usk_nvme_generic_command_status_code {
	USK_NVME_SC_SUCCESS = 0x00,
	USK_NVME_SC_INVALID_OPCODE = 0x01,
	USK_NVME_SC_INVALID_FIELD = 0x02,
	USK_NVME_SC_COMMAND_ID_CONFLICT = 0x03,
	USK_NVME_SC_DATA_TRANSFER_ERROR = 0x04,
	USK_NVME_SC_ABORTED_POWER_LOSS = 0x05,
	USK_NVME_SC_INTERNAL_DEVICE_ERROR = 0x06,
	USK_NVME_SC_ABORTED_BY_REQUEST = 0x07,
	USK_NVME_SC_ABORTED_SQ_DELETION = 0x08,
	USK_NVME_SC_ABORTED_FAILED_FUSED = 0x09,
	USK_NVME_SC_ABORTED_MISSING_FUSED = 0x0a,
	USK_NVME_SC_INVALID_NAMESPACE_OR_FORMAT = 0x0b,
	USK_NVME_SC_COMMAND_SEQUENCE_ERROR = 0x0c,
	USK_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR = 0x0d,
	USK_NVME_SC_INVALID_NUM_SGL_DESCIRPTORS = 0x0e,
	USK_NVME_SC_DATA_SGL_LENGTH_INVALID = 0x0f,
	USK_NVME_SC_METADATA_SGL_LENGTH_INVALID = 0x10,
	USK_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID = 0x11,
	USK_NVME_SC_INVALID_CONTROLLER_MEM_BUF = 0x12,
	USK_NVME_SC_INVALID_PRP_OFFSET = 0x13,
	USK_NVME_SC_ATOMIC_WRITE_UNIT_EXCEEDED = 0x14,
	USK_NVME_SC_OPERATION_DENIED = 0x15,
	USK_NVME_SC_INVALID_SGL_OFFSET = 0x16,
	USK_NVME_SC_HOSTID_INCONSISTENT_FORMAT = 0x18,
	USK_NVME_SC_KEEP_ALIVE_EXPIRED = 0x19,
	USK_NVME_SC_KEEP_ALIVE_INVALID = 0x1a,
	USK_NVME_SC_ABORTED_PREEMPT = 0x1b,
	USK_NVME_SC_SANITIZE_FAILED = 0x1c,
	USK_NVME_SC_SANITIZE_IN_PROGRESS = 0x1d,
	USK_NVME_SC_SGL_DATA_BLOCK_GRANULARITY_INVALID = 0x1e,
	USK_NVME_SC_COMMAND_INVALID_IN_CMB = 0x1f,
	USK_NVME_SC_NAMESPACE_IS_WRITE_PROTECTED = 0x20,
	USK_NVME_SC_COMMAND_INTERRUPTED = 0x21,
	USK_NVME_SC_TRANSIENT_TRANSPORT_ERROR = 0x22,
	/* NVM command set */
	USK_NVME_SC_LBA_OUT_OF_RANGE = 0x80,
	USK_NVME_SC_CAPACITY_EXCEEDED = 0x81,
	USK_NVME_SC_NAMESPACE_NOT_READY = 0x82,
	USK_NVME_SC_RESERVATION_CONFLICT = 0x83,
	USK_NVME_SC_FORMAT_IN_PROGRESS = 0x84,
};

enum usk_nvme_command_specific_status_code {
	USK_NVME_SC_COMPLETION_QUEUE_INVALID = 0x00,
	USK_NVME_SC_INVALID_QUEUE_IDENTIFIER = 0x01,
	USK_NVME_SC_INVALID_QUEUE_SIZE = 0x02,
	USK_NVME_SC_ABORT_COMMAND_LIMIT_EXCEEDED = 0x03,
	USK_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED = 0x05,
	USK_NVME_SC_INVALID_FIRMWARE_SLOT = 0x06,
	USK_NVME_SC_INVALID_FIRMWARE_IMAGE = 0x07,
	USK_NVME_SC_INVALID_INTERRUPT_VECTOR = 0x08,
	USK_NVME_SC_INVALID_LOG_PAGE = 0x09,
	USK_NVME_SC_INVALID_FORMAT = 0x0a,
	USK_NVME_SC_FEATURE_ID_NOT_SAVEABLE = 0x0d,
	USK_NVME_SC_FEATURE_NOT_CHANGEABLE = 0x0e,
	USK_NVME_SC_FEATURE_NOT_NAMESPACE_SPECIFIC = 0x0f,
	USK_NVME_SC_NAMESPACE_ID_UNAVAILABLE = 0x16,
	USK_NVME_SC_NAMESPACE_ALREADY_ATTACHED = 0x18,
	USK_NVME_SC_NAMESPACE_NOT_ATTACHED = 0x1a,
	/* NVM command set */
	USK_NVME_SC_CONFLICTING_ATTRIBUTES = 0x80,
	USK_NVME_SC_INVALID_PROTECTION_INFO = 0x81,
	USK_NVME_SC_ATTEMPTED_WRITE_TO_RO_RANGE = 0x82,
};

/* Fabrics command status codes (SCT = command specific) */
enum usk_nvmf_fabric_command_status_code {
	USK_NVMF_FABRIC_SC_INCOMPATIBLE_FORMAT = 0x80,
	USK_NVMF_FABRIC_SC_CONTROLLER_BUSY = 0x81,
	USK_NVMF_FABRIC_SC_INVALID_PARAM = 0x82,
	USK_NVMF_FABRIC_SC_RESTART_DISCOVERY = 0x83,
	USK_NVMF_FABRIC_SC_INVALID_HOST = 0x84,
	USK_NVMF_FABRIC_SC_LOG_RESTART_DISCOVERY = 0x90,
	USK_NVMF_FABRIC_SC_AUTH_REQUIRED = 0x91,
};

enum usk_nvme_media_error_status_code {
	USK_NVME_SC_WRITE_FAULTS = 0x80,
	USK_NVME_SC_UNRECOVERED_READ_ERROR = 0x81,
	USK_NVME_SC_GUARD_CHECK_ERROR = 0x82,
	USK_NVME_SC_APPLICATION_TAG_CHECK_ERROR = 0x83,
	USK_NVME_SC_REFERENCE_TAG_CHECK_ERROR = 0x84,
	USK_NVME_SC_COMPARE_FAILURE = 0x85,
	USK_NVME_SC_ACCESS_DENIED = 0x86,
	USK_NVME_SC_DEALLOCATED_OR_UNWRITTEN_BLOCK = 0x87,
};

enum usk_nvme_path_status_code {
	USK_NVME_SC_INTERNAL_PATH_ERROR = 0x00,
	USK_NVME_SC_ASYMMETRIC_ACCESS_PERSISTENT_LOSS = 0x01,
	USK_NVME_SC_ASYMMETRIC_ACCESS_INACCESSIBLE = 0x02,
	USK_NVME_SC_ASYMMETRIC_ACCESS_TRANSITION = 0x03,
	USK_NVME_SC_CONTROLLER_PATH_ERROR = 0x60,
	USK_NVME_SC_HOST_PATH_ERROR = 0x70,
	USK_NVME_SC_ABORTED_BY_HOST = 0x71,
};

/* ---- opcodes ---- */

enum usk_nvme_admin_opcode {
	USK_NVME_OPC_DELETE_IO_SQ = 0x00,
	USK_NVME_OPC_CREATE_IO_SQ = 0x01,
	USK_NVME_OPC_GET_LOG_PAGE = 0x02,
	USK_NVME_OPC_DELETE_IO_CQ = 0x04,
	USK_NVME_OPC_CREATE_IO_CQ = 0x05,
	USK_NVME_OPC_IDENTIFY = 0x06,
	USK_NVME_OPC_ABORT = 0x08,
	USK_NVME_OPC_SET_FEATURES = 0x09,
	USK_NVME_OPC_GET_FEATURES = 0x0a,
	USK_NVME_OPC_ASYNC_EVENT_REQUEST = 0x0c,
	USK_NVME_OPC_NS_MANAGEMENT = 0x0d,
	USK_NVME_OPC_FIRMWARE_COMMIT = 0x10,
	USK_NVME_OPC_FIRMWARE_IMAGE_DOWNLOAD = 0x11,
	USK_NVME_OPC_DEVICE_SELF_TEST = 0x14,
	USK_NVME_OPC_NS_ATTACHMENT = 0x15,
	USK_NVME_OPC_KEEP_ALIVE = 0x18,
	USK_NVME_OPC_DIRECTIVE_SEND = 0x19,
	USK_NVME_OPC_DIRECTIVE_RECEIVE = 0x1a,
	USK_NVME_OPC_VIRTUALIZATION_MANAGEMENT = 0x1c,
	USK_NVME_OPC_NVME_MI_SEND = 0x1d,
	USK_NVME_OPC_NVME_MI_RECEIVE = 0x1e,
	USK_NVME_OPC_DOORBELL_BUFFER_CONFIG = 0x7c,
	USK_NVME_OPC_FORMAT_NVM = 0x80,
	USK_NVME_OPC_SECURITY_SEND = 0x81,
	USK_NVME_OPC_SECURITY_RECEIVE = 0x82,
	USK_NVME_OPC_SANITIZE = 0x84,
	USK_NVME_OPC_GET_LBA_STATUS = 0x86,
};

enum usk_nvme_nvm_opcode {
	USK_NVME_OPC_FLUSH = 0x00,
	USK_NVME_OPC_WRITE = 0x01,
	USK_NVME_OPC_READ = 0x02,
	USK_NVME_OPC_WRITE_UNCORRECTABLE = 0x04,
	USK_NVME_OPC_COMPARE = 0x05,
	USK_NVME_OPC_WRITE_ZEROES = 0x08,
	USK_NVME_OPC_DATASET_MANAGEMENT = 0x09,
	USK_NVME_OPC_VERIFY = 0x0c,
	USK_NVME_OPC_RESERVATION_REGISTER = 0x0d,
	USK_NVME_OPC_RESERVATION_REPORT = 0x0e,
	USK_NVME_OPC_RESERVATION_ACQUIRE = 0x11,
	USK_NVME_OPC_RESERVATION_RELEASE = 0x15,
	USK_NVME_OPC_COPY = 0x19,
};

/* Fabrics commands all use this opcode; the type is in fctype. */
#define USK_NVME_OPC_FABRIC 0x7f

enum usk_nvmf_fabric_cmd_types {
	USK_NVMF_FABRIC_COMMAND_PROPERTY_SET = 0x00,
	USK_NVMF_FABRIC_COMMAND_CONNECT = 0x01,
	USK_NVMF_FABRIC_COMMAND_PROPERTY_GET = 0x04,
	USK_NVMF_FABRIC_COMMAND_AUTHENTICATION_SEND = 0x05,
	USK_NVMF_FABRIC_COMMAND_AUTHENTICATION_RECV = 0x06,
	USK_NVMF_FABRIC_COMMAND_DISCONNECT = 0x08,
	USK_NVMF_FABRIC_COMMAND_START_VENDOR_SPECIFIC = 0xc0,
};

/** Direction of data transfer, from the opcode's two low bits. */
enum usk_nvme_data_transfer {
	USK_NVME_DATA_NONE = 0,
	USK_NVME_DATA_HOST_TO_CONTROLLER = 1,
	USK_NVME_DATA_CONTROLLER_TO_HOST = 2,
	USK_NVME_DATA_BIDIRECTIONAL = 3,
};

static inline enum usk_nvme_data_transfer
usk_nvme_opc_get_data_transfer(uint8_t opc)
{
	return (enum usk_nvme_data_transfer)(opc & 3);
}

/* ---- controller registers ---- */

#define USK_NVME_REG_CAP   0x00
#define USK_NVME_REG_VS	   0x08
#define USK_NVME_REG_INTMS 0x0c
#define USK_NVME_REG_INTMC 0x10
#define USK_NVME_REG_CC	   0x14
#define USK_NVME_REG_CSTS  0x1c
#define USK_NVME_REG_NSSR  0x20
#define USK_NVME_REG_AQA   0x24
#define USK_NVME_REG_ASQ   0x28
#define USK_NVME_REG_ACQ   0x30

union usk_nvme_cap_register {
	uint64_t raw;
	struct {
		uint32_t mqes : 16; /* maximum queue entries supported, 0's based */
		uint32_t cqr : 1;   /* contiguous queues required */
		uint32_t ams : 2;   /* arbitration mechanism supported */
		uint32_t reserved1 : 5;
		uint32_t to : 8; /* timeout, 500 ms units */
		uint32_t dstrd : 4;
		uint32_t nssrs : 1;
		uint32_t css : 8; /* command sets supported; bit 0 NVM */
		uint32_t bps : 1;
		uint32_t reserved2 : 2;
		uint32_t mpsmin : 4;
		uint32_t mpsmax : 4;
		uint32_t pmrs : 1;
		uint32_t cmbs : 1;
		uint32_t reserved3 : 6;
	} bits;
};
static_assert(sizeof(union usk_nvme_cap_register) == 8, "cap size");

#define USK_NVME_CAP_CSS_NVM  (1u << 0)
#define USK_NVME_CAP_CSS_IOCS (1u << 6)
#define USK_NVME_CAP_CSS_NOIO (1u << 7)

union usk_nvme_vs_register {
	uint32_t raw;
	struct {
		uint32_t ter : 8;
		uint32_t mnr : 8;
		uint32_t mjr : 16;
	} bits;
};
static_assert(sizeof(union usk_nvme_vs_register) == 4, "vs size");
#define USK_NVME_VERSION(mjr, mnr, ter) \
	(((uint32_t)(mjr) << 16) | ((uint32_t)(mnr) << 8) | (uint32_t)(ter))

enum usk_nvme_shn_value {
	USK_NVME_SHN_NORMAL = 0x1,
	USK_NVME_SHN_ABRUPT = 0x2,
};

enum usk_nvme_shst_value {
	USK_NVME_SHST_NORMAL = 0x0,
	USK_NVME_SHST_OCCURRING = 0x1,
	USK_NVME_SHST_COMPLETE = 0x2,
};

union usk_nvme_cc_register {
	uint32_t raw;
	struct {
		uint32_t en : 1;
		uint32_t reserved1 : 3;
		uint32_t css : 3;
		uint32_t mps : 4;
		uint32_t ams : 3;
		uint32_t shn : 2;
		uint32_t iosqes : 4;
		uint32_t iocqes : 4;
		uint32_t crime : 1;
		uint32_t reserved2 : 7;
	} bits;
};
static_assert(sizeof(union usk_nvme_cc_register) == 4, "cc size");

union usk_nvme_csts_register {
	uint32_t raw;
	struct {
		uint32_t rdy : 1;
		uint32_t cfs : 1;
		uint32_t shst : 2;
		uint32_t nssro : 1;
		uint32_t pp : 1;
		uint32_t st : 1;
		uint32_t reserved1 : 25;
	} bits;
};
static_assert(sizeof(union usk_nvme_csts_register) == 4, "csts size");

union usk_nvme_aqa_register {
	uint32_t raw;
	struct {
		uint32_t asqs : 12;
		uint32_t reserved1 : 4;
		uint32_t acqs : 12;
		uint32_t reserved2 : 4;
	} bits;
};
static_assert(sizeof(union usk_nvme_aqa_register) == 4, "aqa size");

/* ---- identify ---- */

enum usk_nvme_identify_cns {
	USK_NVME_IDENTIFY_NS = 0x00,
	USK_NVME_IDENTIFY_CTRLR = 0x01,
	USK_NVME_IDENTIFY_ACTIVE_NS_LIST = 0x02,
	USK_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST = 0x03,
	USK_NVME_IDENTIFY_NVMSET_LIST = 0x04,
	USK_NVME_IDENTIFY_NS_IOCS = 0x05,
	USK_NVME_IDENTIFY_CTRLR_IOCS = 0x06,
	USK_NVME_IDENTIFY_ACTIVE_NS_LIST_IOCS = 0x07,
	USK_NVME_IDENTIFY_ALLOCATED_NS_LIST = 0x10,
	USK_NVME_IDENTIFY_IOCS = 0x1c,
};

struct usk_nvme_power_state {
	uint16_t mp;
	uint8_t reserved1;
	uint8_t mps : 1;
	uint8_t nops : 1;
	uint8_t reserved2 : 6;
	uint32_t enlat;
	uint32_t exlat;
	uint8_t rrt : 5;
	uint8_t reserved3 : 3;
	uint8_t rrl : 5;
	uint8_t reserved4 : 3;
	uint8_t rwt : 5;
	uint8_t reserved5 : 3;
	uint8_t rwl : 5;
	uint8_t reserved6 : 3;
	uint16_t idlp;
	uint8_t reserved7 : 6;
	uint8_t ips : 2;
	uint8_t reserved8;
	uint16_t actp;
	uint8_t apw : 3;
	uint8_t reserved9 : 3;
	uint8_t aps : 2;
	uint8_t reserved10[9];
};
static_assert(sizeof(struct usk_nvme_power_state) == 32, "power state size");

/* OACS bits */
#define USK_NVME_OACS_SECURITY	       (1u << 0)
#define USK_NVME_OACS_FORMAT	       (1u << 1)
#define USK_NVME_OACS_FIRMWARE	       (1u << 2)
#define USK_NVME_OACS_NS_MANAGE	       (1u << 3)
#define USK_NVME_OACS_DEVICE_SELF_TEST (1u << 4)
#define USK_NVME_OACS_DIRECTIVES       (1u << 5)
#define USK_NVME_OACS_NVME_MI	       (1u << 6)
#define USK_NVME_OACS_VIRT_MGMT	       (1u << 7)
#define USK_NVME_OACS_DB_BUF_CONFIG    (1u << 8)
/* LPA bits */
#define USK_NVME_LPA_NS_SMART  (1u << 0)
#define USK_NVME_LPA_CELP      (1u << 1)
#define USK_NVME_LPA_EDLP      (1u << 2)
#define USK_NVME_LPA_TELEMETRY (1u << 3)
/* ONCS bits */
#define USK_NVME_ONCS_COMPARE		(1u << 0)
#define USK_NVME_ONCS_WRITE_UNC		(1u << 1)
#define USK_NVME_ONCS_DSM		(1u << 2)
#define USK_NVME_ONCS_WRITE_ZEROES	(1u << 3)
#define USK_NVME_ONCS_SET_FEATURES_SAVE (1u << 4)
#define USK_NVME_ONCS_RESERVATIONS	(1u << 5)
#define USK_NVME_ONCS_TIMESTAMP		(1u << 6)
#define USK_NVME_ONCS_VERIFY		(1u << 7)
#define USK_NVME_ONCS_COPY		(1u << 8)
/* OAES bits */
#define USK_NVME_OAES_NS_ATTR		   (1u << 8)
#define USK_NVME_OAES_FW_ACTIVATION	   (1u << 9)
#define USK_NVME_OAES_ANA_CHANGE	   (1u << 11)
#define USK_NVME_OAES_DISCOVERY_LOG_CHANGE (1u << 31)
/* SGLS bits */
#define USK_NVME_SGLS_SUPPORTED		   (1u << 0) /* byte-aligned contiguous; 2 = dword aligned */
#define USK_NVME_SGLS_KEYED		   (1u << 2)
#define USK_NVME_SGLS_BIT_BUCKET	   (1u << 16)
#define USK_NVME_SGLS_METADATA_BYTE	   (1u << 17)
#define USK_NVME_SGLS_OVERSIZED		   (1u << 18)
#define USK_NVME_SGLS_MPTR_SGL		   (1u << 19)
#define USK_NVME_SGLS_ADDRESS_AS_OFFSET	   (1u << 20)
#define USK_NVME_SGLS_TRANSPORT_DATA_BLOCK (1u << 21)
/* CMIC bits */
#define USK_NVME_CMIC_MULTI_PORT  (1u << 0)
#define USK_NVME_CMIC_MULTI_CTRLR (1u << 1)
#define USK_NVME_CMIC_SRIOV	  (1u << 2)
#define USK_NVME_CMIC_ANA	  (1u << 3)
/* VWC bits */
#define USK_NVME_VWC_PRESENT			   (1u << 0)
#define USK_NVME_VWC_FLUSH_BROADCAST_NOT_SUPPORTED (2u << 1)
/* FUSES */
#define USK_NVME_FUSES_COMPARE_WRITE (1u << 0)

/* Controller type (CNTRLTYPE) */
#define USK_NVME_CTRLR_TYPE_IO	      1
#define USK_NVME_CTRLR_TYPE_DISCOVERY 2
#define USK_NVME_CTRLR_TYPE_ADMIN     3

struct __attribute__((packed)) usk_nvme_ctrlr_data {
	/* bytes 0-255: controller capabilities and features */
	uint16_t vid;
	uint16_t ssvid;
	int8_t sn[USK_NVME_CTRLR_SN_LEN];
	int8_t mn[USK_NVME_CTRLR_MN_LEN];
	uint8_t fr[USK_NVME_CTRLR_FR_LEN];
	uint8_t rab;
	uint8_t ieee[3];
	uint8_t cmic;
	uint8_t mdts; /* 2^n units of CAP.MPSMIN; 0 = no limit */
	uint16_t cntlid;
	uint32_t ver;
	uint32_t rtd3r;
	uint32_t rtd3e;
	uint32_t oaes;
	uint32_t ctratt;
	uint16_t rrls;
	uint8_t reserved_102[9];
	uint8_t cntrltype;
	uint8_t fguid[16];
	uint16_t crdt1;
	uint16_t crdt2;
	uint16_t crdt3;
	uint8_t reserved_134[106];
	uint8_t reserved_240[16]; /* NVMe-MI */

	/* bytes 256-511: admin command set attributes */
	uint16_t oacs;
	uint8_t acl;  /* abort command limit, 0's based */
	uint8_t aerl; /* async event request limit, 0's based */
	uint8_t frmw;
	uint8_t lpa;
	uint8_t elpe; /* error log page entries, 0's based */
	uint8_t npss;
	uint8_t avscc;
	uint8_t apsta;
	uint16_t wctemp;
	uint16_t cctemp;
	uint16_t mtfa;
	uint32_t hmpre;
	uint32_t hmmin;
	uint64_t tnvmcap[2];
	uint64_t unvmcap[2];
	uint32_t rpmbs;
	uint16_t edstt;
	uint8_t dsto;
	uint8_t fwug;
	uint16_t kas; /* keep alive support, 100 ms granularity */
	uint16_t hctma;
	uint16_t mntmt;
	uint16_t mxtmt;
	uint32_t sanicap;
	uint32_t hmminds;
	uint16_t hmmaxd;
	uint16_t nsetidmax;
	uint16_t endgidmax;
	uint8_t anatt;
	uint8_t anacap;
	uint32_t anagrpmax;
	uint32_t nanagrpid;
	uint32_t pels;
	uint16_t domainid;
	uint8_t reserved_358[10];
	uint64_t megcap[2];
	uint8_t reserved_384[128];

	/* bytes 512-703: NVM command set attributes */
	uint8_t sqes; /* bits 3:0 required, 7:4 maximum (log2) */
	uint8_t cqes;
	uint16_t maxcmd;
	uint32_t nn;
	uint16_t oncs;
	uint16_t fuses;
	uint8_t fna;
	uint8_t vwc;
	uint16_t awun;
	uint16_t awupf;
	uint8_t icsvscc;
	uint8_t nwpc;
	uint16_t acwu;
	uint16_t ocfs;
	uint32_t sgls;
	uint32_t mnan;
	uint64_t maxdna[2];
	uint32_t maxcna;
	uint8_t reserved_564[204];
	uint8_t subnqn[USK_NVME_NQN_FIELD_SIZE];
	uint8_t reserved_1024[768];

	/* bytes 1792-2047: NVMe over Fabrics specific */
	struct {
		uint32_t ioccsz; /* I/O queue command capsule size, 16-byte units */
		uint32_t iorcsz; /* I/O queue response capsule size, 16-byte units */
		uint16_t icdoff; /* in-capsule data offset, 16-byte units */
		uint8_t ctrattr; /* bit 0: dynamic controller model */
		uint8_t msdbd;	 /* max SGL data block descriptors */
		uint16_t ofcs;
		uint8_t reserved[242];
	} nvmf_specific;

	/* bytes 2048-3071 */
	struct usk_nvme_power_state psd[32];
	/* bytes 3072-4095 */
	uint8_t vs[1024];
};
static_assert(sizeof(struct usk_nvme_ctrlr_data) == 4096, "ctrlr data size");
static_assert(offsetof(struct usk_nvme_ctrlr_data, oacs) == 256, "oacs offset");
static_assert(offsetof(struct usk_nvme_ctrlr_data, kas) == 320, "kas offset");
static_assert(offsetof(struct usk_nvme_ctrlr_data, sqes) == 512, "sqes offset");
static_assert(offsetof(struct usk_nvme_ctrlr_data, sgls) == 536, "sgls offset");
static_assert(offsetof(struct usk_nvme_ctrlr_data, subnqn) == 768, "subnqn offset");
static_assert(offsetof(struct usk_nvme_ctrlr_data, nvmf_specific) == 1792, "nvmf offset");

struct usk_nvme_lbaf {
	uint32_t ms : 16;   /* metadata size */
	uint32_t lbads : 8; /* LBA data size, log2 */
	uint32_t rp : 2;    /* relative performance */
	uint32_t reserved : 6;
};
static_assert(sizeof(struct usk_nvme_lbaf) == 4, "lbaf size");

/* NSFEAT bits */
#define USK_NVME_NSFEAT_THIN_PROV	  (1u << 0)
#define USK_NVME_NSFEAT_NS_ATOMIC	  (1u << 1)
#define USK_NVME_NSFEAT_DEALLOC_ERR	  (1u << 2)
#define USK_NVME_NSFEAT_GUID_NEVER_REUSED (1u << 3)
#define USK_NVME_NSFEAT_OPTPERF		  (1u << 4)
/* DLFEAT: bits 2:0 read behaviour of deallocated blocks (1 = zeroes), bit 3 write zeroes
 * deallocates */
#define USK_NVME_DLFEAT_READ_ZEROES	     0x1
#define USK_NVME_DLFEAT_WRITE_ZEROES_DEALLOC (1u << 3)
/* NMIC */
#define USK_NVME_NMIC_SHARED (1u << 0)

struct __attribute__((packed)) usk_nvme_ns_data {
	uint64_t nsze;
	uint64_t ncap;
	uint64_t nuse;
	uint8_t nsfeat;
	uint8_t nlbaf; /* number of LBA formats, 0's based */
	uint8_t flbas; /* bits 3:0 format index */
	uint8_t mc;
	uint8_t dpc;
	uint8_t dps;
	uint8_t nmic;
	uint8_t rescap;
	uint8_t fpi;
	uint8_t dlfeat;
	uint16_t nawun;
	uint16_t nawupf;
	uint16_t nacwu;
	uint16_t nabsn;
	uint16_t nabo;
	uint16_t nabspf;
	uint16_t noiob;
	uint64_t nvmcap[2];
	uint16_t npwg;
	uint16_t npwa;
	uint16_t npdg;
	uint16_t npda;
	uint16_t nows;
	uint16_t mssrl;
	uint32_t mcl;
	uint8_t msrc;
	uint8_t reserved_81[11];
	uint32_t anagrpid;
	uint8_t reserved_96[3];
	uint8_t nsattr;
	uint16_t nvmsetid;
	uint16_t endgid;
	uint8_t nguid[16];
	uint64_t eui64;
	struct usk_nvme_lbaf lbaf[64];
	uint8_t reserved_384[3456];
	uint8_t vendor_specific[256];
};
static_assert(sizeof(struct usk_nvme_ns_data) == 4096, "ns data size");
static_assert(offsetof(struct usk_nvme_ns_data, nguid) == 104, "nguid offset");
static_assert(offsetof(struct usk_nvme_ns_data, lbaf) == 128, "lbaf offset");

enum usk_nvme_nidt {
	USK_NVME_NIDT_EUI64 = 0x01,
	USK_NVME_NIDT_NGUID = 0x02,
	USK_NVME_NIDT_UUID = 0x03,
	USK_NVME_NIDT_CSI = 0x04,
};
#define USK_NVME_NIDT_EUI64_LEN 8
#define USK_NVME_NIDT_NGUID_LEN 16
#define USK_NVME_NIDT_UUID_LEN	16
#define USK_NVME_NIDT_CSI_LEN	1

struct usk_nvme_ns_id_desc {
	uint8_t nidt;
	uint8_t nidl;
	uint8_t reserved[2];
	uint8_t nid[];
};
static_assert(sizeof(struct usk_nvme_ns_id_desc) == 4, "ns id desc header size");

#define USK_NVME_IDENTIFY_BUFLEN     4096
#define USK_NVME_MAX_NS_LIST_ENTRIES 1024

struct usk_nvme_ns_list {
	uint32_t ns_list[USK_NVME_MAX_NS_LIST_ENTRIES];
};
static_assert(sizeof(struct usk_nvme_ns_list) == 4096, "ns list size");

/* ---- log pages ---- */

enum usk_nvme_log_page {
	USK_NVME_LOG_ERROR = 0x01,
	USK_NVME_LOG_HEALTH_INFORMATION = 0x02,
	USK_NVME_LOG_FIRMWARE_SLOT = 0x03,
	USK_NVME_LOG_CHANGED_NS_LIST = 0x04,
	USK_NVME_LOG_COMMAND_EFFECTS_LOG = 0x05,
	USK_NVME_LOG_DEVICE_SELF_TEST = 0x06,
	USK_NVME_LOG_TELEMETRY_HOST_INITIATED = 0x07,
	USK_NVME_LOG_TELEMETRY_CTRLR_INITIATED = 0x08,
	USK_NVME_LOG_ASYMMETRIC_NAMESPACE_ACCESS = 0x0c,
	USK_NVME_LOG_DISCOVERY = 0x70,
	USK_NVME_LOG_RESERVATION_NOTIFICATION = 0x80,
	USK_NVME_LOG_SANITIZE_STATUS = 0x81,
};

/* Get Log Page CDW10: LID 7:0, LSP 14:8, RAE 15, NUMDL 31:16; CDW11: NUMDU 15:0; CDW12/13: offset
 */
#define USK_NVME_LOG_PAGE_RAE (1u << 15)

struct __attribute__((packed)) usk_nvme_error_information_entry {
	uint64_t error_count;
	uint16_t sqid;
	uint16_t cid;
	struct usk_nvme_status status;
	uint16_t error_location;
	uint64_t lba;
	uint32_t nsid;
	uint8_t vendor_specific;
	uint8_t trtype;
	uint8_t reserved30[2];
	uint64_t command_specific;
	uint16_t trtype_specific;
	uint8_t reserved42[22];
};
static_assert(sizeof(struct usk_nvme_error_information_entry) == 64, "error entry size");

struct __attribute__((packed)) usk_nvme_health_information_page {
	uint8_t critical_warning;
	uint16_t temperature; /* Kelvin */
	uint8_t available_spare;
	uint8_t available_spare_threshold;
	uint8_t percentage_used;
	uint8_t endurance_group_critical_warning;
	uint8_t reserved[25];
	uint64_t data_units_read[2]; /* 1000 x 512 bytes, rounded up */
	uint64_t data_units_written[2];
	uint64_t host_read_commands[2];
	uint64_t host_write_commands[2];
	uint64_t controller_busy_time[2];
	uint64_t power_cycles[2];
	uint64_t power_on_hours[2];
	uint64_t unsafe_shutdowns[2];
	uint64_t media_errors[2];
	uint64_t num_error_info_log_entries[2];
	uint32_t warning_temp_time;
	uint32_t critical_temp_time;
	uint16_t temp_sensor[8];
	uint8_t reserved2[296];
};
static_assert(sizeof(struct usk_nvme_health_information_page) == 512, "health page size");
static_assert(offsetof(struct usk_nvme_health_information_page, data_units_read) == 32,
	      "dur offset");

struct usk_nvme_firmware_page {
	uint8_t afi; /* bits 2:0 active slot */
	uint8_t reserved[7];
	uint8_t revision[7][8];
	uint8_t reserved2[448];
};
static_assert(sizeof(struct usk_nvme_firmware_page) == 512, "firmware page size");

/* Changed namespace list: up to 1024 NSIDs; first entry 0xffffffff when more changed. */
struct usk_nvme_changed_ns_list {
	uint32_t ns_list[1024];
};
static_assert(sizeof(struct usk_nvme_changed_ns_list) == 4096, "changed ns list size");

/* Command effects log */
struct usk_nvme_cmds_and_effect_entry {
	uint16_t csupp : 1;
	uint16_t lbcc : 1;
	uint16_t ncc : 1;
	uint16_t nic : 1;
	uint16_t ccc : 1;
	uint16_t reserved1 : 11;
	uint16_t cse : 3;
	uint16_t reserved2 : 13;
};
static_assert(sizeof(struct usk_nvme_cmds_and_effect_entry) == 4, "effects entry size");

struct usk_nvme_cmds_and_effect_log_page {
	struct usk_nvme_cmds_and_effect_entry admin_cmds_supported[256];
	struct usk_nvme_cmds_and_effect_entry io_cmds_supported[256];
	uint8_t reserved0[2048];
};
static_assert(sizeof(struct usk_nvme_cmds_and_effect_log_page) == 4096, "effects log size");

/* Discovery log page (NVMe-oF 1.1, 5.3) */
union usk_nvmf_tsas {
	uint8_t raw[256];
	struct {
		uint8_t qptype;
		uint8_t prtype;
		uint8_t cms;
		uint8_t reserved0[5];
		uint16_t pkey;
		uint8_t reserved9[246];
	} rdma;
	struct {
		uint8_t sectype; /* 0 none, 1 TLS 1.2, 2 TLS 1.3 */
		uint8_t reserved1[255];
	} tcp;
};
static_assert(sizeof(union usk_nvmf_tsas) == 256, "tsas size");

struct usk_nvmf_discovery_log_page_entry {
	uint8_t trtype;
	uint8_t adrfam;
	uint8_t subtype;
	uint8_t treq;
	uint16_t portid;
	uint16_t cntlid; /* 0xffff: dynamic */
	uint16_t asqsz;
	uint16_t eflags;
	uint8_t reserved0[20];
	uint8_t trsvcid[USK_NVMF_TRSVCID_MAX_LEN]; /* space padded */
	uint8_t reserved1[192];
	uint8_t subnqn[USK_NVME_NQN_FIELD_SIZE]; /* NUL terminated */
	uint8_t traddr[USK_NVMF_TRADDR_MAX_LEN]; /* space padded */
	union usk_nvmf_tsas tsas;
};
static_assert(sizeof(struct usk_nvmf_discovery_log_page_entry) == 1024, "discovery entry size");
static_assert(offsetof(struct usk_nvmf_discovery_log_page_entry, trsvcid) == 32, "trsvcid offset");
static_assert(offsetof(struct usk_nvmf_discovery_log_page_entry, subnqn) == 256, "subnqn offset");

struct usk_nvmf_discovery_log_page {
	uint64_t genctr;
	uint64_t numrec;
	uint16_t recfmt;
	uint8_t reserved0[1006];
	struct usk_nvmf_discovery_log_page_entry entries[];
};
static_assert(sizeof(struct usk_nvmf_discovery_log_page) == 1024, "discovery header size");

/* ---- features ---- */

enum usk_nvme_feat {
	USK_NVME_FEAT_ARBITRATION = 0x01,
	USK_NVME_FEAT_POWER_MANAGEMENT = 0x02,
	USK_NVME_FEAT_LBA_RANGE_TYPE = 0x03,
	USK_NVME_FEAT_TEMPERATURE_THRESHOLD = 0x04,
	USK_NVME_FEAT_ERROR_RECOVERY = 0x05,
	USK_NVME_FEAT_VOLATILE_WRITE_CACHE = 0x06,
	USK_NVME_FEAT_NUMBER_OF_QUEUES = 0x07,
	USK_NVME_FEAT_INTERRUPT_COALESCING = 0x08,
	USK_NVME_FEAT_INTERRUPT_VECTOR_CONFIGURATION = 0x09,
	USK_NVME_FEAT_WRITE_ATOMICITY = 0x0a,
	USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION = 0x0b,
	USK_NVME_FEAT_AUTONOMOUS_POWER_STATE_TRANSITION = 0x0c,
	USK_NVME_FEAT_HOST_MEM_BUFFER = 0x0d,
	USK_NVME_FEAT_TIMESTAMP = 0x0e,
	USK_NVME_FEAT_KEEP_ALIVE_TIMER = 0x0f,
	USK_NVME_FEAT_HOST_CONTROLLED_THERMAL_MANAGEMENT = 0x10,
	USK_NVME_FEAT_NON_OPERATIONAL_POWER_STATE_CONFIG = 0x11,
	USK_NVME_FEAT_HOST_IDENTIFIER = 0x81,
	USK_NVME_FEAT_HOST_RESERVE_MASK = 0x82,
	USK_NVME_FEAT_HOST_RESERVE_PERSIST = 0x83,
};

/* Get Features select (CDW10 bits 10:8) */
enum usk_nvme_feat_sel {
	USK_NVME_FEAT_CURRENT = 0x0,
	USK_NVME_FEAT_DEFAULT = 0x1,
	USK_NVME_FEAT_SAVED = 0x2,
	USK_NVME_FEAT_SUPPORTED = 0x3,
};

/* Async event configuration (feature 0x0b, CDW11) */
union usk_nvme_async_event_config {
	uint32_t raw;
	struct {
		uint32_t crit_warn : 8;
		uint32_t ns_attr_notice : 1;
		uint32_t fw_activation_notice : 1;
		uint32_t telemetry_log_notice : 1;
		uint32_t ana_change_notice : 1;
		uint32_t reserved : 19;
		uint32_t discovery_log_change_notice : 1;
	} bits;
};
static_assert(sizeof(union usk_nvme_async_event_config) == 4, "aer config size");

/* ---- asynchronous events ---- */

enum usk_nvme_async_event_type {
	USK_NVME_ASYNC_EVENT_TYPE_ERROR = 0x0,
	USK_NVME_ASYNC_EVENT_TYPE_SMART = 0x1,
	USK_NVME_ASYNC_EVENT_TYPE_NOTICE = 0x2,
	USK_NVME_ASYNC_EVENT_TYPE_IO = 0x6,
	USK_NVME_ASYNC_EVENT_TYPE_VENDOR = 0x7,
};

enum usk_nvme_async_event_info_notice {
	USK_NVME_ASYNC_EVENT_NS_ATTR_CHANGED = 0x0,
	USK_NVME_ASYNC_EVENT_FW_ACTIVATION_START = 0x1,
	USK_NVME_ASYNC_EVENT_TELEMETRY_LOG_CHANGED = 0x2,
	USK_NVME_ASYNC_EVENT_ANA_CHANGE = 0x3,
	USK_NVME_ASYNC_EVENT_DISCOVERY_LOG_CHANGE = 0xf0,
};

/* Completion dword 0 of an Asynchronous Event Request */
union usk_nvme_async_event_completion {
	uint32_t raw;
	struct {
		uint32_t async_event_type : 3;
		uint32_t reserved1 : 5;
		uint32_t async_event_info : 8;
		uint32_t log_page_identifier : 8;
		uint32_t reserved2 : 8;
	} bits;
};
static_assert(sizeof(union usk_nvme_async_event_completion) == 4, "aer cpl size");

/* ---- NVM command fields ---- */

/* Read/Write/Compare/Write Zeroes CDW12 */
#define USK_NVME_IO_FLAGS_FORCE_UNIT_ACCESS (1u << 30)
#define USK_NVME_IO_FLAGS_LIMITED_RETRY	    (1u << 31)
#define USK_NVME_IO_FLAGS_DEALLOCATE	    (1u << 25) /* write zeroes DEAC */
#define USK_NVME_IO_NLB_MASK		    0xffffu

/* Dataset Management CDW11 attributes */
#define USK_NVME_DSM_ATTR_INTEGRAL_READ	 (1u << 0)
#define USK_NVME_DSM_ATTR_INTEGRAL_WRITE (1u << 1)
#define USK_NVME_DSM_ATTR_DEALLOCATE	 (1u << 2)
#define USK_NVME_DSM_MAX_RANGES		 256

struct usk_nvme_dsm_range {
	uint32_t attributes;
	uint32_t length; /* in logical blocks */
	uint64_t starting_lba;
};
static_assert(sizeof(struct usk_nvme_dsm_range) == 16, "dsm range size");

/* ---- fabrics commands (NVMe-oF 1.1) ---- */

struct usk_nvmf_capsule_cmd {
	uint8_t opcode;
	uint8_t reserved1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t reserved2[35];
	uint8_t fabric_specific[24];
};
static_assert(sizeof(struct usk_nvmf_capsule_cmd) == 64, "capsule cmd size");

struct usk_nvmf_fabric_connect_cmd {
	uint8_t opcode;
	uint8_t reserved1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t reserved2[19];
	struct usk_nvme_sgl_descriptor sgl1;
	uint16_t recfmt; /* connect record format, 0 */
	uint16_t qid;	 /* 0 = admin queue */
	uint16_t sqsize; /* 0's based */
	uint8_t cattr;
	uint8_t reserved3;
	uint32_t kato; /* keep alive timeout, ms */
	uint8_t reserved4[12];
};
static_assert(sizeof(struct usk_nvmf_fabric_connect_cmd) == 64, "connect cmd size");
static_assert(offsetof(struct usk_nvmf_fabric_connect_cmd, qid) == 42, "connect qid offset");

struct usk_nvmf_fabric_connect_data {
	uint8_t hostid[16];
	uint16_t cntlid;
	uint8_t reserved5[238];
	uint8_t subnqn[USK_NVME_NQN_FIELD_SIZE];
	uint8_t hostnqn[USK_NVME_NQN_FIELD_SIZE];
	uint8_t reserved6[256];
};
static_assert(sizeof(struct usk_nvmf_fabric_connect_data) == 1024, "connect data size");

struct usk_nvmf_fabric_connect_rsp {
	union {
		struct {
			uint16_t cntlid;
			uint16_t authreq;
		} success;
		struct {
			uint16_t ipo;  /* invalid parameter offset */
			uint8_t iattr; /* 0: in SQE, 1: in connect data */
			uint8_t reserved;
		} invalid;
		uint32_t raw;
	} status_code_specific;
	uint32_t reserved0;
	uint16_t sqhd;
	uint16_t reserved1;
	uint16_t cid;
	struct usk_nvme_status status;
};
static_assert(sizeof(struct usk_nvmf_fabric_connect_rsp) == 16, "connect rsp size");

#define USK_NVMF_PROP_SIZE_4 0
#define USK_NVMF_PROP_SIZE_8 1

struct usk_nvmf_fabric_prop_get_cmd {
	uint8_t opcode;
	uint8_t reserved1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t reserved2[35];
	struct {
		uint8_t size : 3;
		uint8_t reserved : 5;
	} attrib;
	uint8_t reserved3[3];
	uint32_t ofst;
	uint8_t reserved4[16];
};
static_assert(sizeof(struct usk_nvmf_fabric_prop_get_cmd) == 64, "prop get cmd size");

struct usk_nvmf_fabric_prop_get_rsp {
	union {
		uint64_t u64;
		struct {
			uint32_t low;
			uint32_t high;
		} u32;
	} value;
	uint16_t sqhd;
	uint16_t reserved0;
	uint16_t cid;
	struct usk_nvme_status status;
};
static_assert(sizeof(struct usk_nvmf_fabric_prop_get_rsp) == 16, "prop get rsp size");

struct usk_nvmf_fabric_prop_set_cmd {
	uint8_t opcode;
	uint8_t reserved0;
	uint16_t cid;
	uint8_t fctype;
	uint8_t reserved1[35];
	struct {
		uint8_t size : 3;
		uint8_t reserved : 5;
	} attrib;
	uint8_t reserved2[3];
	uint32_t ofst;
	union {
		uint64_t u64;
		struct {
			uint32_t low;
			uint32_t high;
		} u32;
	} value;
	uint8_t reserved4[8];
};
static_assert(sizeof(struct usk_nvmf_fabric_prop_set_cmd) == 64, "prop set cmd size");
static_assert(offsetof(struct usk_nvmf_fabric_prop_set_cmd, value) == 48, "prop set value offset");

#ifdef __cplusplus
}
#endif
#endif
