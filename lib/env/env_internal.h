/* SPDX-License-Identifier: BSD-3-Clause */
/* Private declarations shared by the lib/env source files. */
#ifndef USK_ENV_INTERNAL_H
#define USK_ENV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "usk/env.h"

#define VALUE_2MB   USK_MEM_MAP_PAGE_SIZE
#define MASK_2MB    (VALUE_2MB - 1)
#define SHIFT_2MB   USK_MEM_MAP_PAGE_SHIFT
#define SHIFT_1GB   30
#define SHIFT_256TB 48
/* User-space virtual addresses fit in 48 bits on x86-64 (4-level paging) and arm64. */
#define MAX_VADDR (1ULL << SHIFT_256TB)

enum env_phys_mode {
	ENV_PHYS_IOVA_VA, /* "physical" address == virtual address */
	ENV_PHYS_PAGEMAP, /* real physical addresses from /proc/self/pagemap */
};

/* memory.c */
int env_mem_maps_init(enum env_phys_mode mode);
enum env_phys_mode env_phys_mode(void);
/* A translation table that is not on the notify list (no callbacks, never freed). */
struct usk_mem_map *env_mem_map_create_private(uint64_t default_translation);

/* dma.c: sets up memory with defaults on first use when usk_env_init was not called. */
int env_dma_init(const struct usk_env_opts *opts);
bool env_dma_hugepages(void);

/* pci.c: whether any PCI device is bound to uio_pci_generic (which needs physical addresses). */
bool env_pci_uio_bound(void);

#endif
