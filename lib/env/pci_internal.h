/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to lib/env's PCI files: the device object and the vfio / uio back ends. */
#ifndef USK_ENV_PCI_INTERNAL_H
#define USK_ENV_PCI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "usk/pci.h"

#define PCI_SYSFS_DEVICES "/sys/bus/pci/devices"

struct pci_bar {
	void *addr;	   /* NULL until mapped */
	uint64_t size;	   /* from sysfs resource (uio) or region info (vfio) */
	uint64_t phys;	   /* bus address from sysfs resource */
	bool is_mem;	   /* memory BAR (IO-port BARs are not mappable) */
	uint64_t vfio_off; /* offset of the region in the vfio device fd */
	bool vfio_mmap;	   /* region may be mmapped */
};

struct vfio_group;

/*
 * One attached device. Owned by whoever the enum callback kept it for; lib/env keeps it on
 * g_attached (under g_pci_lock) only to refuse attaching it twice.
 */
struct usk_pci_device {
	struct usk_pci_addr addr;
	struct usk_pci_id id;
	char name[USK_PCI_ADDR_STRLEN];
	enum usk_pci_kdriver kdriver;
	int numa_node;
	int lock_fd; /* claim: fcntl write lock on USK_PCI_LOCK_PREFIX<name> */
	struct pci_bar bars[USK_PCI_MAX_BARS];
	/* uio */
	int uio_fd; /* /dev/uioN, held open while attached */
	int cfg_fd; /* sysfs config (uio) */
	/* vfio */
	struct vfio_group *group;
	int vfio_fd;	       /* device fd */
	uint64_t vfio_cfg_off; /* config region offset in vfio_fd */
	int req_efd;	       /* eventfd the kernel signals when it wants the device back */
	/* hot remove */
	bool removed;
	uint64_t next_check_tick;
	TAILQ_ENTRY(usk_pci_device) link;
};

/* pci.c */
/* Read a sysfs attribute of dev name as a number (base 0). Returns 0 or -errno. */
int pci_sysfs_read_u64(const char *name, const char *attr, uint64_t *value);
/* Fill bars[].phys/size/is_mem from the sysfs "resource" file. */
int pci_sysfs_read_resources(struct usk_pci_device *dev);
enum usk_pci_kdriver pci_sysfs_kdriver(const char *name, char *drv, size_t drv_len);
/* Take / release the cross-process claim on dev->name (sets / closes dev->lock_fd). */
int pci_claim(struct usk_pci_device *dev);
void pci_unclaim(struct usk_pci_device *dev);

/* pci_uio.c */
int pci_uio_open(struct usk_pci_device *dev);
void pci_uio_close(struct usk_pci_device *dev);
int pci_uio_map_bar(struct usk_pci_device *dev, uint32_t bar);

/* pci_vfio.c */
int pci_vfio_open(struct usk_pci_device *dev);
void pci_vfio_close(struct usk_pci_device *dev);
int pci_vfio_map_bar(struct usk_pci_device *dev, uint32_t bar);
/* True when the kernel signalled the device's request eventfd (non-blocking read). */
bool pci_vfio_req_pending(struct usk_pci_device *dev);

#endif
