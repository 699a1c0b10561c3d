/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uio_pci_generic back end: BARs through sysfs resourceN, config space through sysfs config.
 * The device does DMA to physical addresses (pci.c refuses uio unless memory has them).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "usk/log.h"
#include "pci_internal.h"

/* /sys/bus/pci/devices/<bdf>/uio/uioN -> "uioN" */
static int
find_uio_name(const char *bdf, char *out, size_t len)
{
	char path[256];
	struct dirent *e;
	DIR *d;
	int rc = -ENOENT;

	snprintf(path, sizeof(path), PCI_SYSFS_DEVICES "/%s/uio", bdf);
	d = opendir(path);
	if (d == NULL) {
		return -errno;
	}
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "uio", 3) == 0 && strlen(e->d_name) < len) {
			memcpy(out, e->d_name, strlen(e->d_name) + 1);
			rc = 0;
			break;
		}
	}
	closedir(d);
	return rc;
}

int
pci_uio_open(struct usk_pci_device *dev)
{
	char path[256], uio[32];
	int rc;

	rc = find_uio_name(dev->name, uio, sizeof(uio));
	if (rc != 0) {
		USK_ERRLOG("%s: bound to uio_pci_generic but has no uio device: %s\n", dev->name,
			   strerror(-rc));
		return rc;
	}
	/* Holding /dev/uioN keeps the uio device (and its interrupt line) ours. */
	snprintf(path, sizeof(path), "/dev/%s", uio);
	dev->uio_fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->uio_fd < 0) {
		rc = -errno;
		USK_ERRLOG("%s: cannot open %s: %s\n", dev->name, path, strerror(errno));
		return rc;
	}
	snprintf(path, sizeof(path), PCI_SYSFS_DEVICES "/%s/config", dev->name);
	dev->cfg_fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->cfg_fd < 0) {
		rc = -errno;
		USK_ERRLOG("%s: cannot open %s: %s\n", dev->name, path, strerror(errno));
		close(dev->uio_fd);
		dev->uio_fd = -1;
		return rc;
	}
	USK_INFOLOG(pci, "%s: opened through uio_pci_generic (/dev/%s)\n", dev->name, uio);
	return 0;
}

void
pci_uio_close(struct usk_pci_device *dev)
{
	if (dev->cfg_fd >= 0) {
		close(dev->cfg_fd);
		dev->cfg_fd = -1;
	}
	if (dev->uio_fd >= 0) {
		close(dev->uio_fd);
		dev->uio_fd = -1;
	}
}

int
pci_uio_map_bar(struct usk_pci_device *dev, uint32_t bar)
{
	struct pci_bar *b = &dev->bars[bar];
	char path[256];
	void *p;
	int fd, rc;

	if (!b->is_mem) {
		return -EINVAL;
	}
	snprintf(path, sizeof(path), PCI_SYSFS_DEVICES "/%s/resource%u", dev->name, bar);
	fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		USK_ERRLOG("%s: cannot open %s: %s\n", dev->name, path, strerror(errno));
		return rc;
	}
	p = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	rc = p == MAP_FAILED ? -errno : 0;
	close(fd);
	if (rc != 0) {
		USK_ERRLOG("%s: cannot map BAR%u: %s\n", dev->name, bar, strerror(-rc));
		return rc;
	}
	b->addr = p;
	return 0;
}
