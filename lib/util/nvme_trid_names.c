/* SPDX-License-Identifier: BSD-3-Clause */
/* Transport type and address family names (see include/usk_internal/nvme_trid_names.h). */
#include <errno.h>
#include <strings.h>

#include "usk/util.h"
#include "usk_internal/nvme_trid_names.h"

static const struct {
	const char *name;
	enum usk_nvme_transport_type type;
} g_trtypes[] = {
	{"PCIe", USK_NVME_TRANSPORT_PCIE},	   {"TCP", USK_NVME_TRANSPORT_TCP},
	{"RDMA", USK_NVME_TRANSPORT_RDMA},	   {"FC", USK_NVME_TRANSPORT_FC},
	{"VFIOUSER", USK_NVME_TRANSPORT_VFIOUSER},
};

static const struct {
	const char *name;
	enum usk_nvmf_adrfam adrfam;
} g_adrfams[] = {
	{"IPv4", USK_NVMF_ADRFAM_IPV4},
	{"IPv6", USK_NVMF_ADRFAM_IPV6},
	{"IB", USK_NVMF_ADRFAM_IB},
	{"FC", USK_NVMF_ADRFAM_FC},
	{"INTRA_HOST", USK_NVMF_ADRFAM_INTRA_HOST},
};

int
usk_nvme_trtype_from_name(const char *str, enum usk_nvme_transport_type *trtype)
{
	for (size_t i = 0; i < USK_COUNTOF(g_trtypes); i++) {
		if (strcasecmp(str, g_trtypes[i].name) == 0) {
			*trtype = g_trtypes[i].type;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
usk_nvme_trtype_name(enum usk_nvme_transport_type trtype)
{
	for (size_t i = 0; i < USK_COUNTOF(g_trtypes); i++) {
		if (g_trtypes[i].type == trtype) {
			return g_trtypes[i].name;
		}
	}
	return NULL;
}

int
usk_nvmf_adrfam_from_name(const char *str, enum usk_nvmf_adrfam *adrfam)
{
	for (size_t i = 0; i < USK_COUNTOF(g_adrfams); i++) {
		if (strcasecmp(str, g_adrfams[i].name) == 0) {
			*adrfam = g_adrfams[i].adrfam;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
usk_nvmf_adrfam_name(enum usk_nvmf_adrfam adrfam)
{
	for (size_t i = 0; i < USK_COUNTOF(g_adrfams); i++) {
		if (g_adrfams[i].adrfam == adrfam) {
			return g_adrfams[i].name;
		}
	}
	return NULL;
}
