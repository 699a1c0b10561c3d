/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio-pci back end: one container per process, IOMMU groups opened once and shared by their
 * devices, BARs and config space through the device fd's regions, and a memory map whose
 * notify callback gives every registered DMA region an IOMMU mapping (VFIO_IOMMU_MAP_DMA) and
 * takes it away on unregister. IOVA = virtual address, or = physical address when memory runs
 * in physical mode (a uio device is used by the same process).
 *
 * Everything here runs under pci.c's g_pci_lock, except vfio_dma_notify (under the memory
 * registry lock, from whichever thread registers memory) and pci_vfio_req_pending (the
 * device's owner thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/queue.h>

#include "usk/log.h"
#include "usk/util.h"
#include "env_internal.h"
#include "pci_internal.h"

#define MAX_IOVA_RANGES 16

struct vfio_group {
	int num;
	int fd;
	int refs; /* devices of this process in the group */
	TAILQ_ENTRY(vfio_group) link;
};

struct iova_range {
	uint64_t start;
	uint64_t end; /* inclusive */
};

static struct {
	int container_fd;
	int iommu_type;
	/* Written before dma_map exists and read-only afterwards (the notify reads them). */
	struct iova_range ranges[MAX_IOVA_RANGES];
	int num_ranges; /* 0: the kernel did not say; every IOVA is tried */
	struct usk_mem_map *dma_map;
	TAILQ_HEAD(, vfio_group) groups;
} g_vfio = {
	.container_fd = -1,
	.groups = TAILQ_HEAD_INITIALIZER(g_vfio.groups),
};

/* ---- DMA mappings ---- */

static bool
iova_fits(uint64_t iova, uint64_t size)
{
	int i;

	if (g_vfio.num_ranges == 0) {
		return true;
	}
	for (i = 0; i < g_vfio.num_ranges; i++) {
		if (iova >= g_vfio.ranges[i].start && iova + size - 1 <= g_vfio.ranges[i].end) {
			return true;
		}
	}
	return false;
}

static int
dma_map_one(uint64_t vaddr, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = vaddr,
		.iova = iova,
		.size = size,
	};

	if (!iova_fits(iova, size)) {
		USK_ERRLOG("vfio: IOVA 0x%" PRIx64 "+0x%" PRIx64 " is outside what the IOMMU can "
			   "address (first range 0x%" PRIx64 "-0x%" PRIx64 "); the memory at that "
			   "virtual address cannot be used for DMA\n",
			   iova, size, g_vfio.ranges[0].start, g_vfio.ranges[0].end);
		return -ERANGE;
	}
	if (ioctl(g_vfio.container_fd, VFIO_IOMMU_MAP_DMA, &m) != 0) {
		int rc = -errno;

		USK_ERRLOG("vfio: VFIO_IOMMU_MAP_DMA vaddr 0x%" PRIx64 " iova 0x%" PRIx64
			   " size 0x%" PRIx64 ": %s\n",
			   vaddr, iova, size, strerror(errno));
		return rc;
	}
	return 0;
}

static int
dma_unmap_one(uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u),
		.iova = iova,
		.size = size,
	};

	if (ioctl(g_vfio.container_fd, VFIO_IOMMU_UNMAP_DMA, &u) != 0) {
		int rc = -errno;

		USK_ERRLOG("vfio: VFIO_IOMMU_UNMAP_DMA iova 0x%" PRIx64 " size 0x%" PRIx64 ": %s\n",
			   iova, size, strerror(errno));
		return rc;
	}
	return 0;
}

/*
 * IOVA of each 2 MiB page: the virtual address, or its physical address in physical mode
 * (hugepages are physically contiguous per 2 MiB, so a page at a time).
 */
static int
vfio_dma_notify(void *cb_ctx, struct usk_mem_map *map, enum usk_mem_map_notify_action action,
		void *vaddr, size_t size)
{
	uint64_t va = (uint64_t)(uintptr_t)vaddr, off, iova;
	int rc = 0, r;

	if (env_phys_mode() == ENV_PHYS_IOVA_VA) {
		if (action == USK_MEM_MAP_NOTIFY_REGISTER) {
			return dma_map_one(va, va, size);
		}
		return dma_unmap_one(va, size);
	}
	for (off = 0; off < size; off += USK_MEM_MAP_PAGE_SIZE) {
		iova = usk_vtophys((void *)(uintptr_t)(va + off), NULL);
		if (iova == USK_VTOPHYS_ERROR) {
			rc = -EFAULT;
		} else if (action == USK_MEM_MAP_NOTIFY_REGISTER) {
			rc = dma_map_one(va + off, iova, USK_MEM_MAP_PAGE_SIZE);
		} else {
			r = dma_unmap_one(iova, USK_MEM_MAP_PAGE_SIZE);
			rc = rc != 0 ? rc : r;
			continue;
		}
		if (rc != 0) {
			/* Undo the pages mapped so far; the registry undoes nothing for us. */
			while (off > 0) {
				off -= USK_MEM_MAP_PAGE_SIZE;
				dma_unmap_one(usk_vtophys((void *)(uintptr_t)(va + off), NULL),
					      USK_MEM_MAP_PAGE_SIZE);
			}
			return rc;
		}
	}
	return rc;
}

static const struct usk_mem_map_ops g_vfio_map_ops = {
	.notify_cb = vfio_dma_notify,
};

/* ---- container ---- */

/*
 * Walk a vfio capability chain in buf (len bytes) for id; copies the capability's first
 * cap_len bytes into cap. The kernel packs capabilities without 8-byte alignment, so they are
 * copied out rather than accessed in place. Returns the capability's offset or 0.
 */
static uint32_t
find_cap(const void *buf, uint32_t len, uint32_t first, uint16_t id, void *cap, size_t cap_len)
{
	struct vfio_info_cap_header hdr;
	uint32_t off, hops = 0;

	for (off = first; off != 0 && off + sizeof(hdr) <= len && hops < 64;
	     off = hdr.next, hops++) {
		memcpy(&hdr, (const char *)buf + off, sizeof(hdr));
		if (hdr.id == id) {
			if (off + cap_len > len) {
				return 0;
			}
			memcpy(cap, (const char *)buf + off, cap_len);
			return off;
		}
	}
	return 0;
}

static void
read_iova_ranges(void)
{
	struct vfio_iommu_type1_info probe = {.argsz = sizeof(probe)}, *info;
	struct vfio_iommu_type1_info_cap_iova_range cap;
	struct vfio_iova_range r;
	uint32_t off, i;

	g_vfio.num_ranges = 0;
	if (ioctl(g_vfio.container_fd, VFIO_IOMMU_GET_INFO, &probe) != 0 ||
	    !(probe.flags & VFIO_IOMMU_INFO_CAPS) || probe.argsz <= sizeof(probe)) {
		return;
	}
	info = calloc(1, probe.argsz);
	if (info == NULL) {
		return;
	}
	info->argsz = probe.argsz;
	if (ioctl(g_vfio.container_fd, VFIO_IOMMU_GET_INFO, info) != 0) {
		free(info);
		return;
	}
	off = find_cap(info, info->argsz, info->cap_offset, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
		       &cap, sizeof(cap));
	for (i = 0; off != 0 && i < cap.nr_iovas && g_vfio.num_ranges < MAX_IOVA_RANGES; i++) {
		size_t at = off + sizeof(cap) + (size_t)i * sizeof(r);

		if (at + sizeof(r) > info->argsz) {
			break;
		}
		memcpy(&r, (char *)info + at, sizeof(r));
		g_vfio.ranges[g_vfio.num_ranges].start = r.start;
		g_vfio.ranges[g_vfio.num_ranges].end = r.end;
		USK_INFOLOG(pci, "vfio: IOVA range 0x%" PRIx64 "-0x%" PRIx64 "\n",
			    (uint64_t)r.start, (uint64_t)r.end);
		g_vfio.num_ranges++;
	}
	free(info);
}

static int
container_open(void)
{
	int fd, rc;

	if (g_vfio.container_fd >= 0) {
		return 0;
	}
	fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		USK_ERRLOG("vfio: cannot open /dev/vfio/vfio: %s (is the vfio module loaded?)\n",
			   strerror(errno));
		return rc;
	}
	if (ioctl(fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		USK_ERRLOG("vfio: unsupported API version\n");
		close(fd);
		return -ENOTSUP;
	}
	if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1) {
		g_vfio.iommu_type = VFIO_TYPE1v2_IOMMU;
	} else if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) == 1) {
		g_vfio.iommu_type = VFIO_TYPE1_IOMMU;
	} else {
		USK_ERRLOG("vfio: no type1 IOMMU support (load vfio_iommu_type1)\n");
		close(fd);
		return -ENOTSUP;
	}
	g_vfio.container_fd = fd;
	return 0;
}

/* The last group left: drop every DMA mapping and the container. */
static void
container_release(void)
{
	usk_mem_map_free(&g_vfio.dma_map);
	if (g_vfio.container_fd >= 0) {
		close(g_vfio.container_fd);
		g_vfio.container_fd = -1;
	}
	g_vfio.num_ranges = 0;
}

/* ---- groups ---- */

static int
group_num(const char *bdf, int *num)
{
	char path[256], link[256];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), PCI_SYSFS_DEVICES "/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		return -errno;
	}
	link[n] = '\0';
	base = strrchr(link, '/');
	*num = atoi(base != NULL ? base + 1 : link);
	return 0;
}

static void
group_put(struct vfio_group *g)
{
	if (--g->refs > 0) {
		return;
	}
	TAILQ_REMOVE(&g_vfio.groups, g, link);
	if (TAILQ_EMPTY(&g_vfio.groups)) {
		/* Unmap while the group still gives the container its IOMMU. */
		container_release();
	}
	ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
	close(g->fd);
	free(g);
}

static int
group_get(const char *bdf, struct vfio_group **out)
{
	struct vfio_group_status st = {.argsz = sizeof(st)};
	struct vfio_group *g;
	char path[64];
	int num = -1, rc;
	bool first;

	rc = group_num(bdf, &num);
	if (rc != 0) {
		USK_ERRLOG("%s: bound to vfio-pci but has no IOMMU group (%s): boot with the IOMMU "
			   "on (intel_iommu=on) or use uio_pci_generic\n",
			   bdf, strerror(-rc));
		return rc;
	}
	TAILQ_FOREACH(g, &g_vfio.groups, link) {
		if (g->num == num) {
			g->refs++;
			*out = g;
			return 0;
		}
	}
	rc = container_open();
	if (rc != 0) {
		return rc;
	}
	first = TAILQ_EMPTY(&g_vfio.groups);
	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		rc = -ENOMEM;
		goto err_container;
	}
	g->num = num;
	g->refs = 1;
	snprintf(path, sizeof(path), "/dev/vfio/%d", num);
	g->fd = open(path, O_RDWR | O_CLOEXEC);
	if (g->fd < 0) {
		rc = errno == EBUSY ? -EBUSY : -errno;
		USK_ERRLOG("%s: cannot open %s: %s%s\n", bdf, path, strerror(errno),
			   errno == EBUSY ? " (another process has the group)" : "");
		goto err_free;
	}
	if (ioctl(g->fd, VFIO_GROUP_GET_STATUS, &st) != 0 ||
	    !(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		USK_ERRLOG("%s: IOMMU group %d is not viable: bind every device in "
			   "/sys/kernel/iommu_groups/%d/devices to vfio-pci\n",
			   bdf, num, num);
		rc = -EPERM;
		goto err_close;
	}
	if (ioctl(g->fd, VFIO_GROUP_SET_CONTAINER, &g_vfio.container_fd) != 0) {
		rc = -errno;
		USK_ERRLOG("%s: VFIO_GROUP_SET_CONTAINER: %s\n", bdf, strerror(errno));
		goto err_close;
	}
	if (first) {
		if (ioctl(g_vfio.container_fd, VFIO_SET_IOMMU, g_vfio.iommu_type) != 0) {
			rc = -errno;
			USK_ERRLOG("vfio: VFIO_SET_IOMMU: %s\n", strerror(errno));
			goto err_unset;
		}
		read_iova_ranges();
		/* Maps every region registered so far, then every new one as it comes. */
		g_vfio.dma_map = usk_mem_map_alloc(0, &g_vfio_map_ops, NULL);
		if (g_vfio.dma_map == NULL) {
			USK_ERRLOG("vfio: cannot map the DMA memory into the IOMMU\n");
			rc = -ENOMEM;
			goto err_unset;
		}
	}
	TAILQ_INSERT_TAIL(&g_vfio.groups, g, link);
	*out = g;
	return 0;

err_unset:
	ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
err_close:
	close(g->fd);
err_free:
	free(g);
err_container:
	if (first) {
		container_release();
	}
	return rc;
}

/* ---- devices ---- */

static int
region_info(int fd, uint32_t index, struct vfio_region_info **out)
{
	struct vfio_region_info probe = {.argsz = sizeof(probe), .index = index}, *ri;

	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &probe) != 0) {
		return -errno;
	}
	ri = calloc(1, USK_MAX(probe.argsz, (uint32_t)sizeof(probe)));
	if (ri == NULL) {
		return -ENOMEM;
	}
	ri->argsz = USK_MAX(probe.argsz, (uint32_t)sizeof(probe));
	ri->index = index;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri) != 0) {
		free(ri);
		return -errno;
	}
	*out = ri;
	return 0;
}

/* Ask the kernel to signal an eventfd when it wants the device back (unbind, hot unplug). */
static void
setup_req_notifier(struct usk_pci_device *dev)
{
	struct vfio_irq_info ii = {.argsz = sizeof(ii), .index = VFIO_PCI_REQ_IRQ_INDEX};
	char buf[sizeof(struct vfio_irq_set) + sizeof(int)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
	int efd;

	if (ioctl(dev->vfio_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) != 0 || ii.count == 0) {
		return;
	}
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		return;
	}
	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_REQ_IRQ_INDEX;
	set->start = 0;
	set->count = 1;
	memcpy(set->data, &efd, sizeof(efd));
	if (ioctl(dev->vfio_fd, VFIO_DEVICE_SET_IRQS, set) != 0) {
		USK_INFOLOG(pci, "%s: no vfio request notifier: %s\n", dev->name, strerror(errno));
		close(efd);
		return;
	}
	dev->req_efd = efd;
}

int
pci_vfio_open(struct usk_pci_device *dev)
{
	struct vfio_device_info di = {.argsz = sizeof(di)};
	struct vfio_region_info *ri;
	uint32_t i;
	int rc;

	rc = group_get(dev->name, &dev->group);
	if (rc != 0) {
		return rc;
	}
	dev->vfio_fd = ioctl(dev->group->fd, VFIO_GROUP_GET_DEVICE_FD, dev->name);
	if (dev->vfio_fd < 0) {
		rc = -errno;
		USK_ERRLOG("%s: VFIO_GROUP_GET_DEVICE_FD: %s\n", dev->name, strerror(errno));
		goto err_group;
	}
	if (ioctl(dev->vfio_fd, VFIO_DEVICE_GET_INFO, &di) != 0 ||
	    !(di.flags & VFIO_DEVICE_FLAGS_PCI) || di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
		USK_ERRLOG("%s: not a vfio PCI device\n", dev->name);
		rc = -ENODEV;
		goto err_dev;
	}
	rc = region_info(dev->vfio_fd, VFIO_PCI_CONFIG_REGION_INDEX, &ri);
	if (rc != 0) {
		USK_ERRLOG("%s: no config region: %s\n", dev->name, strerror(-rc));
		goto err_dev;
	}
	dev->vfio_cfg_off = ri->offset;
	free(ri);
	for (i = 0; i < USK_PCI_MAX_BARS; i++) {
		if (region_info(dev->vfio_fd, VFIO_PCI_BAR0_REGION_INDEX + i, &ri) != 0) {
			continue;
		}
		if (ri->size != 0 && dev->bars[i].is_mem) {
			dev->bars[i].vfio_off = ri->offset;
			dev->bars[i].size = ri->size;
			dev->bars[i].vfio_mmap = (ri->flags & VFIO_REGION_INFO_FLAG_MMAP) != 0;
		}
		free(ri);
	}
	setup_req_notifier(dev);
	USK_INFOLOG(pci, "%s: opened through vfio-pci (IOMMU group %d, IOVA %s)\n", dev->name,
		    dev->group->num, env_phys_mode() == ENV_PHYS_IOVA_VA ? "= VA" : "= PA");
	return 0;

err_dev:
	close(dev->vfio_fd);
	dev->vfio_fd = -1;
err_group:
	group_put(dev->group);
	dev->group = NULL;
	return rc;
}

void
pci_vfio_close(struct usk_pci_device *dev)
{
	if (dev->req_efd >= 0) {
		close(dev->req_efd);
		dev->req_efd = -1;
	}
	if (dev->vfio_fd >= 0) {
		close(dev->vfio_fd);
		dev->vfio_fd = -1;
	}
	if (dev->group != NULL) {
		group_put(dev->group);
		dev->group = NULL;
	}
}

/*
 * The whole region when the kernel lets us; otherwise (an MSI-X table the platform cannot
 * share) its sparse mmap areas at their offsets in one reserved range, the rest inaccessible.
 */
int
pci_vfio_map_bar(struct usk_pci_device *dev, uint32_t bar)
{
	struct pci_bar *b = &dev->bars[bar];
	struct vfio_region_info *ri = NULL;
	struct vfio_region_info_cap_sparse_mmap sp;
	struct vfio_region_sparse_mmap_area area;
	uint32_t off, i;
	void *p;
	int rc;

	if (!b->is_mem || b->size == 0 || !b->vfio_mmap) {
		return -EINVAL;
	}
	p = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->vfio_fd,
		 (off_t)b->vfio_off);
	if (p != MAP_FAILED) {
		b->addr = p;
		return 0;
	}
	rc = -errno;
	if (region_info(dev->vfio_fd, VFIO_PCI_BAR0_REGION_INDEX + bar, &ri) != 0 ||
	    !(ri->flags & VFIO_REGION_INFO_FLAG_CAPS)) {
		goto err;
	}
	off = find_cap(ri, ri->argsz, ri->cap_offset, VFIO_REGION_INFO_CAP_SPARSE_MMAP, &sp,
		       sizeof(sp));
	if (off != 0) {
		p = mmap(NULL, b->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			 0);
		if (p == MAP_FAILED) {
			rc = -errno;
			goto err;
		}
		for (i = 0; i < sp.nr_areas; i++) {
			size_t at = off + sizeof(sp) + (size_t)i * sizeof(area);

			if (at + sizeof(area) > ri->argsz) {
				break;
			}
			memcpy(&area, (char *)ri + at, sizeof(area));
			if (area.size == 0) {
				continue;
			}
			if (area.offset + area.size > b->size ||
			    mmap((char *)p + area.offset, area.size, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, dev->vfio_fd,
				 (off_t)(b->vfio_off + area.offset)) == MAP_FAILED) {
				rc = area.offset + area.size > b->size ? -EINVAL : -errno;
				munmap(p, b->size);
				goto err;
			}
		}
		free(ri);
		b->addr = p;
		return 0;
	}
err:
	free(ri);
	USK_ERRLOG("%s: cannot map BAR%u through vfio: %s\n", dev->name, bar, strerror(-rc));
	return rc;
}

bool
pci_vfio_req_pending(struct usk_pci_device *dev)
{
	uint64_t v;

	return dev->req_efd >= 0 && read(dev->req_efd, &v, sizeof(v)) == sizeof(v);
}

/* ---- MSI-X ---- */

uint32_t
usk_pci_device_get_msix_count(struct usk_pci_device *dev)
{
	struct vfio_irq_info ii = {.argsz = sizeof(ii), .index = VFIO_PCI_MSIX_IRQ_INDEX};

	if (dev->kdriver != USK_PCI_KDRIVER_VFIO || dev->vfio_fd < 0 ||
	    ioctl(dev->vfio_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) != 0 ||
	    !(ii.flags & VFIO_IRQ_INFO_EVENTFD)) {
		return 0;
	}
	return ii.count;
}

int
usk_pci_device_set_msix_eventfds(struct usk_pci_device *dev, const int *efds, uint32_t nvec)
{
	struct vfio_irq_set *set;
	size_t len;
	int rc = 0;

	if (dev->kdriver != USK_PCI_KDRIVER_VFIO) {
		return -ENOTSUP;
	}
	if (nvec > usk_pci_device_get_msix_count(dev) || (nvec > 0 && efds == NULL)) {
		return -EINVAL;
	}
	len = sizeof(*set) + (size_t)nvec * sizeof(int);
	set = calloc(1, len);
	if (set == NULL) {
		return -ENOMEM;
	}
	set->argsz = (uint32_t)len;
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = 0;
	set->count = nvec;
	set->flags = (nvec > 0 ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) |
		     VFIO_IRQ_SET_ACTION_TRIGGER;
	if (nvec > 0) {
		memcpy(set->data, efds, (size_t)nvec * sizeof(int));
	}
	if (ioctl(dev->vfio_fd, VFIO_DEVICE_SET_IRQS, set) != 0) {
		rc = -errno;
		USK_ERRLOG("%s: routing %u MSI-X vectors to eventfds: %s\n", dev->name, nvec,
			   strerror(errno));
	}
	free(set);
	return rc;
}
