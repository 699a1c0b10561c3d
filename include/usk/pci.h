/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI devices for user-space drivers (part of lib/env): enumeration from sysfs, one owner per
 * device across processes, BAR and config-space access through vfio-pci or uio_pci_generic,
 * IOMMU mappings of every DMA region under vfio, allow/block lists and hot-remove detection.
 *
 * Kernel drivers: a device is usable when it is bound to vfio-pci or uio_pci_generic
 * (scripts/setup.sh binds NVMe devices). Under vfio the device does DMA to I/O virtual
 * addresses: usk maps every region that usk_mem_register() learns (usk_dma_malloc memory,
 * also regions registered after the device was attached) with VFIO_IOMMU_MAP_DMA, at
 * IOVA = virtual address (or at the physical address when memory runs in physical mode, see
 * usk_vtophys), and unmaps it when it is unregistered. That works with plain pinned anonymous
 * memory, so vfio needs no hugepages. Under uio_pci_generic the device sees physical addresses,
 * which usk only knows for hugepage memory (/proc/self/pagemap); attaching a uio device without
 * them fails with a message that says what to do.
 *
 * Threads: enumerate/attach/detach may be called from any thread (one mutex serialises them).
 * A device's BAR, config and is_removed calls are made by the thread that drives it.
 */
#ifndef USK_PCI_H
#define USK_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Class code (base class, subclass, programming interface) of an NVMe controller. */
#define USK_PCI_CLASS_NVME 0x010802u
#define USK_PCI_ANY_CLASS  UINT32_MAX
#define USK_PCI_MAX_BARS   6
/* "dddd:bb:dd.f" and a NUL */
#define USK_PCI_ADDR_STRLEN 13

/* Lock files that claim a device for one process (SPDK's scheme): <prefix><BDF>. */
#define USK_PCI_LOCK_PREFIX "/var/tmp/usk_pci_lock_"

/* PCI command register bits usk drivers set: Bus Master Enable and Interrupt Disable. */
#define USK_PCI_CMD_MEMORY	 0x0002u
#define USK_PCI_CMD_BUS_MASTER	 0x0004u
#define USK_PCI_CMD_INTX_DISABLE 0x0400u
#define USK_PCI_CFG_COMMAND	 0x04u

struct usk_pci_addr {
	uint32_t domain;
	uint8_t bus;
	uint8_t dev;
	uint8_t func;
};

struct usk_pci_id {
	uint32_t class_id; /* 24-bit class code, e.g. USK_PCI_CLASS_NVME */
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t subvendor_id;
	uint16_t subdevice_id;
};

/* The kernel driver a device is bound to, as far as usk cares. */
enum usk_pci_kdriver {
	USK_PCI_KDRIVER_NONE,  /* unbound */
	USK_PCI_KDRIVER_VFIO,  /* vfio-pci */
	USK_PCI_KDRIVER_UIO,   /* uio_pci_generic */
	USK_PCI_KDRIVER_OTHER, /* e.g. the kernel's nvme driver */
};

struct usk_pci_device;

/* ---- addresses ---- */

/**
 * Parse a PCI address: "0000:00:04.0", "00:04.0" (domain 0) or with '.' instead of ':'
 * ("0000.00.04.0", SPDK accepts it too); hex digits in either case. Returns 0 or -EINVAL.
 */
int usk_pci_addr_parse(struct usk_pci_addr *addr, const char *str);
/** Write "dddd:bb:dd.f" into buf (len >= USK_PCI_ADDR_STRLEN). Returns 0 or -EINVAL. */
int usk_pci_addr_fmt(char *buf, size_t len, const struct usk_pci_addr *addr);
/** <0, 0, >0 as a sorts before, equal to, after b. */
int usk_pci_addr_compare(const struct usk_pci_addr *a, const struct usk_pci_addr *b);

/* ---- allow / block lists ---- */

/**
 * Restrict which devices enumerate/attach may use (SPDK's -A/--pci-allowed and
 * -B/--pci-blocked). list: addresses separated by ',' or blanks; NULL or "" clears the list.
 * With an allow list only those devices are used; blocked devices are never used (an
 * address on both lists is blocked). Returns 0, -EINVAL (logged, naming the bad entry; the
 * list is unchanged) or -ENOMEM. Call before attaching devices.
 */
int usk_pci_set_allowed(const char *list);
int usk_pci_set_blocked(const char *list);
/** Whether the lists let usk use addr. */
bool usk_pci_addr_is_allowed(const struct usk_pci_addr *addr);

/* ---- discovery and ownership ---- */

/**
 * Called for each device that enumerate/attach opened for the caller. Return 0 to keep it
 * (the caller owns it until usk_pci_device_detach), a positive value to leave it (lib/env
 * closes it and releases the claim), or a negative errno to stop the enumeration with it.
 * Runs on the calling thread, inside enumerate/attach.
 */
typedef int (*usk_pci_enum_cb)(void *ctx, struct usk_pci_device *dev);

/** Called by usk_pci_scan for each usable device. Return 0 to go on, non-zero to stop with it. */
typedef int (*usk_pci_scan_cb)(void *ctx, const struct usk_pci_addr *addr,
			       const struct usk_pci_id *id);

/**
 * List, in address order, the devices of class_id (USK_PCI_ANY_CLASS: all) that are bound to
 * vfio-pci or uio_pci_generic, pass the allow/block lists and are not attached in this process,
 * without opening or claiming them (a driver's probe step; attach them with
 * usk_pci_device_attach). Returns how many were listed, cb's non-zero value, or -errno when
 * sysfs cannot be read. cb runs on the calling thread and must not attach devices itself.
 */
int usk_pci_scan(uint32_t class_id, usk_pci_scan_cb cb, void *ctx);

/**
 * Scan /sys/bus/pci/devices in address order for devices whose class is class_id
 * (USK_PCI_ANY_CLASS: all) that are bound to vfio-pci or uio_pci_generic, pass the
 * allow/block lists and are not attached in this process yet. Each is claimed (a lock file
 * per device: a device another process holds is skipped with an error naming its pid),
 * opened, and handed to cb. Devices bound to other kernel drivers are skipped (debug log).
 * A device that fails to open is skipped with an error log.
 * Returns how many devices cb kept, or the negative errno cb returned (devices kept until
 * then stay attached), or -errno when sysfs cannot be read.
 */
int usk_pci_enumerate(uint32_t class_id, usk_pci_enum_cb cb, void *ctx);

/**
 * Attach the device at addr and hand it to cb. Returns 0 when cb kept it, 1 when cb left it,
 * cb's negative errno, or: -ENODEV (no such device), -EPERM (allow/block lists), -ENXIO (not
 * bound to vfio-pci or uio_pci_generic; logged with the driver it has and the fix), -EALREADY
 * (attached in this process), -EBUSY (claimed by another process), -EFAULT (uio without
 * physical addresses), or another -errno from opening it (logged).
 */
int usk_pci_device_attach(const struct usk_pci_addr *addr, usk_pci_enum_cb cb, void *ctx);

/** Unmap its BARs, close it, release the claim and free dev. NULL is ignored. */
void usk_pci_device_detach(struct usk_pci_device *dev);

/* ---- device properties ---- */

const struct usk_pci_addr *usk_pci_device_get_addr(const struct usk_pci_device *dev);
const struct usk_pci_id *usk_pci_device_get_id(const struct usk_pci_device *dev);
/** "dddd:bb:dd.f" */
const char *usk_pci_device_get_name(const struct usk_pci_device *dev);
enum usk_pci_kdriver usk_pci_device_get_kdriver(const struct usk_pci_device *dev);
/** "vfio" or "uio" */
const char *usk_pci_device_get_type(const struct usk_pci_device *dev);
/** NUMA node from sysfs, or -1. */
int usk_pci_device_get_numa_node(const struct usk_pci_device *dev);

/* ---- BARs and config space ---- */

/**
 * Map BAR bar (0..5) into this process (once; later calls return the same mapping).
 * addr receives the mapping, phys_addr (may be NULL) the bus address from sysfs, size (may be
 * NULL) its length. Returns 0, -EINVAL (no such memory BAR) or -errno of the mmap.
 */
int usk_pci_device_map_bar(struct usk_pci_device *dev, uint32_t bar, void **addr,
			   uint64_t *phys_addr, uint64_t *size);
/** Unmap a BAR mapped by usk_pci_device_map_bar (detach does it too). Returns 0 or -EINVAL. */
int usk_pci_device_unmap_bar(struct usk_pci_device *dev, uint32_t bar, void *addr);

/** Read or write len bytes of config space at offset. Returns 0 or -errno (-EIO when short). */
int usk_pci_device_cfg_read(struct usk_pci_device *dev, void *buf, uint32_t len, uint32_t offset);
int usk_pci_device_cfg_write(struct usk_pci_device *dev, const void *buf, uint32_t len,
			     uint32_t offset);
int usk_pci_device_cfg_read16(struct usk_pci_device *dev, uint16_t *value, uint32_t offset);
int usk_pci_device_cfg_write16(struct usk_pci_device *dev, uint16_t value, uint32_t offset);
int usk_pci_device_cfg_read32(struct usk_pci_device *dev, uint32_t *value, uint32_t offset);
int usk_pci_device_cfg_write32(struct usk_pci_device *dev, uint32_t value, uint32_t offset);

/* ---- interrupts (vfio only) ---- */

/** MSI-X vectors the device offers to user space: the table size under vfio, 0 under uio. */
uint32_t usk_pci_device_get_msix_count(struct usk_pci_device *dev);
/**
 * Route MSI-X vectors 0..nvec-1 to the eventfds efds[0..nvec-1] (the kernel signals efds[i]
 * when vector i fires); nvec 0 turns MSI-X off again. The vectors are set all at once, as
 * vfio requires, before the device is told to use them. Returns 0, -ENOTSUP (uio: no MSI-X
 * delivery to user space), -EINVAL (nvec above usk_pci_device_get_msix_count) or -errno.
 */
int usk_pci_device_set_msix_eventfds(struct usk_pci_device *dev, const int *efds, uint32_t nvec);

/* ---- hot remove ---- */

/**
 * Whether the device went away: its sysfs directory is gone, it was rebound to another
 * driver, or (vfio) the kernel asked for it back (an unbind or a hot-unplug, which the kernel
 * holds until usk closes the device: detach it promptly). Checks sysfs at most every 100 ms,
 * so a driver may call it from its admin poller; once true it stays true.
 */
bool usk_pci_device_is_removed(struct usk_pci_device *dev);

/* ---- environment ---- */

/** Whether an IOMMU is active (/sys/kernel/iommu_groups has groups). */
bool usk_pci_iommu_present(void);

#ifdef __cplusplus
}
#endif
#endif
