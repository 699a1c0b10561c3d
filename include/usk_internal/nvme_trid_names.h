/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The names of NVMe transport types and address families as SPDK spells them ("TCP", "PCIe",
 * "IPv4", ...), shared by the host driver's transport-ID parser (lib/nvme/nvme.c) and the
 * target's RPCs (lib/nvmf/transport.c); the tables are in lib/util/nvme_trid_names.c.
 * Pure lookups: any thread, any time.
 */
#ifndef USK_INTERNAL_NVME_TRID_NAMES_H
#define USK_INTERNAL_NVME_TRID_NAMES_H

#include "usk/nvme_spec.h"

/** Parse a transport type name (case-insensitive) into *trtype: 0, or -EINVAL if unknown. */
int usk_nvme_trtype_from_name(const char *str, enum usk_nvme_transport_type *trtype);
/** The name of a transport type, or NULL if it has none (CUSTOM, out of range). */
const char *usk_nvme_trtype_name(enum usk_nvme_transport_type trtype);
/** Parse an address family name (case-insensitive) into *adrfam: 0, or -EINVAL if unknown. */
int usk_nvmf_adrfam_from_name(const char *str, enum usk_nvmf_adrfam *adrfam);
/** The name of an address family, or NULL if it has none. */
const char *usk_nvmf_adrfam_name(enum usk_nvmf_adrfam adrfam);

#endif
