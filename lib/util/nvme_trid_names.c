/* SPDX-License-Identifier: BSD-3-Clause */
/* Transport type and address family names (see include/usk_internal/nvme_trid_names.h). */
#include <errno.h>
#include <strings.h>

#include "usk/util.h"
#include "usk_internal/nvme_trid_names.h"

struct name_value {
	const char *name;
	int value;
};

static const struct name_value g_trtypes[] = {
	{"PCIe", USK_NVME_TRANSPORT_PCIE},	   {"TCP", USK_NVME_TRANSPORT_TCP},
	{"RDMA", USK_NVME_TRANSPORT_RDMA},	   {"FC", USK_NVME_TRANSPORT_FC},
	{"VFIOUSER", USK_NVME_TRANSPORT_VFIOUSER},
};

static const struct name_value g_adrfams[] = {
	{"IPv4", USK_NVMF_ADRFAM_IPV4},
	{"IPv6", USK_NVMF_ADRFAM_IPV6},
	{"IB", USK_NVMF_ADRFAM_IB},
	{"FC", USK_NVMF_ADRFAM_FC},
	{"INTRA_HOST", USK_NVMF_ADRFAM_INTRA_HOST},
};

static int
value_of(const struct name_value *t, size_t n, const char *str, int *value)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(str, t[i].name) == 0) {
			*value = t[i].value;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *
name_of(const struct name_value *t, size_t n, int value)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i].value == value) {
			return t[i].name;
		}
	}
	return NULL;
}

int
usk_nvme_trtype_from_name(const char *str, enum usk_nvme_transport_type *trtype)
{
	int v, rc = value_of(g_trtypes, USK_COUNTOF(g_trtypes), str, &v);

	if (rc == 0) {
		*trtype = (enum usk_nvme_transport_type)v;
	}
	return rc;
}

const char *
usk_nvme_trtype_name(enum usk_nvme_transport_type trtype)
{
	return name_of(g_trtypes, USK_COUNTOF(g_trtypes), (int)trtype);
}

int
usk_nvmf_adrfam_from_name(const char *str, enum usk_nvmf_adrfam *adrfam)
{
	int v, rc = value_of(g_adrfams, USK_COUNTOF(g_adrfams), str, &v);

	if (rc == 0) {
		*adrfam = (enum usk_nvmf_adrfam)v;
	}
	return rc;
}

const char *
usk_nvmf_adrfam_name(enum usk_nvmf_adrfam adrfam)
{
	return name_of(g_adrfams, USK_COUNTOF(g_adrfams), (int)adrfam);
}
