/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI devices: addresses, allow/block lists, sysfs enumeration, the per-device claim (lock file)
 * and the calls that dispatch to the vfio or uio back end (pci_vfio.c, pci_uio.c).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "usk/log.h"
#include "usk/util.h"
#include "env_internal.h"
#include "pci_internal.h"

USK_LOG_REGISTER_COMPONENT(pci)

#define REMOVED_CHECK_MS 100
#define MAX_LIST	 128

/* Serialises enumerate/attach/detach and guards the lists and g_attached. */
static pthread_mutex_t g_pci_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, usk_pci_device) g_attached = TAILQ_HEAD_INITIALIZER(g_attached);
static struct usk_pci_addr g_allowed[MAX_LIST];
static size_t g_num_allowed;
static struct usk_pci_addr g_blocked[MAX_LIST];
static size_t g_num_blocked;

/* ---- addresses ---- */

/* Hex number of 1..8 digits at *s; advances *s. */
static int
parse_hex(const char **s, uint32_t *out)
{
	const char *p = *s;
	uint32_t v = 0;
	int n = 0;

	while (isxdigit((unsigned char)*p)) {
		if (++n > 8) {
			return -EINVAL;
		}
		v = v * 16 + (uint32_t)(isdigit((unsigned char)*p) ?
						*p - '0' :
						tolower((unsigned char)*p) - 'a' + 10);
		p++;
	}
	if (n == 0) {
		return -EINVAL;
	}
	*s = p;
	*out = v;
	return 0;
}

int
usk_pci_addr_parse(struct usk_pci_addr *addr, const char *str)
{
	uint32_t tok[4], domain, bus, dev, func = 0;
	char sep[3] = {0};
	const char *p = str;
	int n = 0;

	if (addr == NULL || str == NULL) {
		return -EINVAL;
	}
	for (;;) {
		if (parse_hex(&p, &tok[n]) != 0) {
			return -EINVAL;
		}
		n++;
		if (*p == '\0') {
			break;
		}
		if ((*p != ':' && *p != '.') || n == 4) {
			return -EINVAL;
		}
		sep[n - 1] = *p++;
	}
	switch (n) {
	case 4: /* dddd:bb:dd.f or dddd.bb.dd.f */
		domain = tok[0], bus = tok[1], dev = tok[2], func = tok[3];
		break;
	case 3:
		if (sep[0] == ':' && sep[1] == '.') { /* bb:dd.f */
			domain = 0, bus = tok[0], dev = tok[1], func = tok[2];
		} else if (sep[0] == sep[1]) { /* dddd:bb:dd or dddd.bb.dd */
			domain = tok[0], bus = tok[1], dev = tok[2];
		} else {
			return -EINVAL;
		}
		break;
	case 2: /* bb:dd or bb.dd */
		domain = 0, bus = tok[0], dev = tok[1];
		break;
	default:
		return -EINVAL;
	}
	if (bus > 0xff || dev > 0x1f || func > 7) {
		return -EINVAL;
	}
	addr->domain = domain;
	addr->bus = (uint8_t)bus;
	addr->dev = (uint8_t)dev;
	addr->func = (uint8_t)func;
	return 0;
}

int
usk_pci_addr_fmt(char *buf, size_t len, const struct usk_pci_addr *addr)
{
	int n;

	if (buf == NULL || addr == NULL || addr->domain > 0xffff) {
		return -EINVAL;
	}
	n = snprintf(buf, len, "%04x:%02x:%02x.%x", addr->domain, addr->bus, addr->dev, addr->func);
	return n > 0 && (size_t)n < len ? 0 : -EINVAL;
}

int
usk_pci_addr_compare(const struct usk_pci_addr *a, const struct usk_pci_addr *b)
{
	uint64_t ka = ((uint64_t)a->domain << 24) | ((uint32_t)a->bus << 16) | (a->dev << 8) |
		      a->func;
	uint64_t kb = ((uint64_t)b->domain << 24) | ((uint32_t)b->bus << 16) | (b->dev << 8) |
		      b->func;

	return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/* ---- allow / block lists ---- */

static int
set_list(const char *what, const char *list, struct usk_pci_addr *arr, size_t *count)
{
	struct usk_pci_addr tmp[MAX_LIST];
	char *copy, *tok, *save = NULL;
	size_t n = 0;
	int rc = 0;

	if (list != NULL) {
		copy = strdup(list);
		if (copy == NULL) {
			return -ENOMEM;
		}
		for (tok = strtok_r(copy, ", \t\n", &save); tok != NULL;
		     tok = strtok_r(NULL, ", \t\n", &save)) {
			if (n == MAX_LIST) {
				USK_ERRLOG("PCI %s list: more than %d addresses\n", what, MAX_LIST);
				rc = -EINVAL;
				break;
			}
			if (usk_pci_addr_parse(&tmp[n], tok) != 0) {
				USK_ERRLOG(
					"PCI %s list: '%s' is not a PCI address (dddd:bb:dd.f)\n",
					what, tok);
				rc = -EINVAL;
				break;
			}
			n++;
		}
		free(copy);
		if (rc != 0) {
			return rc;
		}
	}
	pthread_mutex_lock(&g_pci_lock);
	memcpy(arr, tmp, n * sizeof(tmp[0]));
	*count = n;
	pthread_mutex_unlock(&g_pci_lock);
	return 0;
}

int
usk_pci_set_allowed(const char *list)
{
	return set_list("allowed", list, g_allowed, &g_num_allowed);
}

int
usk_pci_set_blocked(const char *list)
{
	return set_list("blocked", list, g_blocked, &g_num_blocked);
}

static bool
in_list(const struct usk_pci_addr *addr, const struct usk_pci_addr *arr, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (usk_pci_addr_compare(addr, &arr[i]) == 0) {
			return true;
		}
	}
	return false;
}

/* Caller holds g_pci_lock. */
static bool
allowed_locked(const struct usk_pci_addr *addr)
{
	if (in_list(addr, g_blocked, g_num_blocked)) {
		return false;
	}
	return g_num_allowed == 0 || in_list(addr, g_allowed, g_num_allowed);
}

bool
usk_pci_addr_is_allowed(const struct usk_pci_addr *addr)
{
	bool ok;

	pthread_mutex_lock(&g_pci_lock);
	ok = allowed_locked(addr);
	pthread_mutex_unlock(&g_pci_lock);
	return ok;
}

/* ---- sysfs ---- */

int
pci_sysfs_read_u64(const char *name, const char *attr, uint64_t *value)
{
	char path[256], buf[64], *end;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), PCI_SYSFS_DEVICES "/%s/%s", name, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return n < 0 ? -errno : -EIO;
	}
	buf[n] = '\0';
	errno = 0;
	*value = strtoull(buf, &end, 0);
	if (errno != 0 || end == buf) {
		return -EINVAL;
	}
	return 0;
}

int
pci_sysfs_read_resources(struct usk_pci_device *dev)
{
	char path[256], line[128];
	unsigned long long start, end, flags;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), PCI_SYSFS_DEVICES "/%s/resource", dev->name);
	f = fopen(path, "re");
	if (f == NULL) {
		return -errno;
	}
	for (i = 0; i < USK_PCI_MAX_BARS && fgets(line, sizeof(line), f) != NULL; i++) {
		if (sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3) {
			break;
		}
		/* IORESOURCE_MEM = 0x200 */
		if (start != 0 && end > start && (flags & 0x200)) {
			dev->bars[i].phys = start;
			dev->bars[i].size = end - start + 1;
			dev->bars[i].is_mem = true;
		}
	}
	fclose(f);
	return 0;
}

enum usk_pci_kdriver
pci_sysfs_kdriver(const char *name, char *drv, size_t drv_len)
{
	char path[256], link[256];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), PCI_SYSFS_DEVICES "/%s/driver", name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		if (drv != NULL) {
			snprintf(drv, drv_len, "none");
		}
		return USK_PCI_KDRIVER_NONE;
	}
	link[n] = '\0';
	base = strrchr(link, '/');
	base = base != NULL ? base + 1 : link;
	if (drv != NULL) {
		snprintf(drv, drv_len, "%s", base);
	}
	if (strcmp(base, "vfio-pci") == 0) {
		return USK_PCI_KDRIVER_VFIO;
	}
	if (strcmp(base, "uio_pci_generic") == 0) {
		return USK_PCI_KDRIVER_UIO;
	}
	return USK_PCI_KDRIVER_OTHER;
}

static int
read_ids(const char *name, struct usk_pci_id *id)
{
	uint64_t v[5];
	static const char *const attrs[] = {"class", "vendor", "device", "subsystem_vendor",
					    "subsystem_device"};
	size_t i;
	int rc;

	for (i = 0; i < USK_COUNTOF(attrs); i++) {
		rc = pci_sysfs_read_u64(name, attrs[i], &v[i]);
		if (rc != 0) {
			/* Subsystem ids are optional (bridges). */
			if (i >= 3) {
				v[i] = 0;
				continue;
			}
			return rc;
		}
	}
	id->class_id = (uint32_t)v[0] & 0xffffff;
	id->vendor_id = (uint16_t)v[1];
	id->device_id = (uint16_t)v[2];
	id->subvendor_id = (uint16_t)v[3];
	id->subdevice_id = (uint16_t)v[4];
	return 0;
}

bool
usk_pci_iommu_present(void)
{
	struct dirent *e;
	bool found = false;
	DIR *d;

	d = opendir("/sys/kernel/iommu_groups");
	if (d == NULL) {
		return false;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.') {
			found = true;
			break;
		}
	}
	closedir(d);
	return found;
}

bool
env_pci_uio_bound(void)
{
	struct usk_pci_addr addr;
	struct dirent *e;
	bool found = false;
	DIR *d;

	d = opendir("/sys/bus/pci/drivers/uio_pci_generic");
	if (d == NULL) {
		return false;
	}
	while ((e = readdir(d)) != NULL) {
		if (usk_pci_addr_parse(&addr, e->d_name) == 0) {
			found = true;
			break;
		}
	}
	closedir(d);
	return found;
}

/* ---- claim ---- */

/*
 * One owner per device across processes, as SPDK: an fcntl write lock on a lock file named
 * after the BDF. The kernel drops the lock when the owner dies, so a crashed process never
 * leaves a device claimed. The file holds the owner's pid for humans.
 */
int
pci_claim(struct usk_pci_device *dev)
{
	char path[64], pid[24];
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	struct stat a, b;
	int fd, tries;

	snprintf(path, sizeof(path), USK_PCI_LOCK_PREFIX "%s", dev->name);
	for (tries = 0; tries < 3; tries++) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			USK_ERRLOG("%s: cannot create lock file %s: %s\n", dev->name, path,
				   strerror(errno));
			return -errno;
		}
		if (fcntl(fd, F_SETLK, &fl) != 0) {
			struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

			if (fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK) {
				USK_ERRLOG("%s: cannot claim the device: process %d holds %s\n",
					   dev->name, (int)who.l_pid, path);
			} else {
				USK_ERRLOG("%s: cannot lock %s: %s\n", dev->name, path,
					   strerror(errno));
			}
			close(fd);
			return -EBUSY;
		}
		/*
		 * The previous owner unlinks the file on release: if it did so between our open
		 * and our lock, we hold a lock on a dead inode. Retry with the new file.
		 */
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
			if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, strlen(pid), 0) < 0) {
				/* Only informational. */
			}
			dev->lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	USK_ERRLOG("%s: lock file %s keeps changing\n", dev->name, path);
	return -EBUSY;
}

void
pci_unclaim(struct usk_pci_device *dev)
{
	char path[64];

	if (dev->lock_fd < 0) {
		return;
	}
	snprintf(path, sizeof(path), USK_PCI_LOCK_PREFIX "%s", dev->name);
	/* Unlink while still holding the lock (see claim()). */
	unlink(path);
	close(dev->lock_fd);
	dev->lock_fd = -1;
}

/* ---- open / close ---- */

static void
device_close(struct usk_pci_device *dev)
{
	uint32_t i;

	for (i = 0; i < USK_PCI_MAX_BARS; i++) {
		if (dev->bars[i].addr != NULL) {
			munmap(dev->bars[i].addr, dev->bars[i].size);
			dev->bars[i].addr = NULL;
		}
	}
	if (dev->kdriver == USK_PCI_KDRIVER_VFIO) {
		pci_vfio_close(dev);
	} else if (dev->kdriver == USK_PCI_KDRIVER_UIO) {
		pci_uio_close(dev);
	}
	pci_unclaim(dev);
	free(dev);
}

/* Caller holds g_pci_lock. Logs why it fails. */
static int
device_open(const struct usk_pci_addr *addr, struct usk_pci_device **out)
{
	struct usk_pci_device *dev;
	char drv[64];
	uint64_t numa;
	int rc;

	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		return -ENOMEM;
	}
	dev->addr = *addr;
	dev->lock_fd = dev->uio_fd = dev->cfg_fd = dev->vfio_fd = dev->req_efd = -1;
	usk_pci_addr_fmt(dev->name, sizeof(dev->name), addr);
	rc = read_ids(dev->name, &dev->id);
	if (rc != 0) {
		free(dev);
		return rc == -ENOENT ? -ENODEV : rc;
	}
	dev->numa_node =
		pci_sysfs_read_u64(dev->name, "numa_node", &numa) == 0 ? (int)(int64_t)numa : -1;
	dev->kdriver = pci_sysfs_kdriver(dev->name, drv, sizeof(drv));
	if (dev->kdriver != USK_PCI_KDRIVER_VFIO && dev->kdriver != USK_PCI_KDRIVER_UIO) {
		USK_ERRLOG("%s: bound to %s, not to vfio-pci or uio_pci_generic; run "
			   "scripts/setup.sh (as root) to bind it\n",
			   dev->name, drv);
		free(dev);
		return -ENXIO;
	}
	rc = pci_sysfs_read_resources(dev);
	if (rc != 0) {
		USK_ERRLOG("%s: cannot read its resources: %s\n", dev->name, strerror(-rc));
		free(dev);
		return rc;
	}
	rc = pci_claim(dev);
	if (rc != 0) {
		free(dev);
		return rc;
	}
	if (dev->kdriver == USK_PCI_KDRIVER_UIO) {
		/* uio devices do DMA to physical addresses, which only hugepage memory has. */
		rc = env_dma_init(NULL);
		if (rc == 0 && env_phys_mode() != ENV_PHYS_PAGEMAP) {
			USK_ERRLOG(
				"%s: uio_pci_generic needs physical addresses, which usk only has "
				"for hugepage memory: reserve hugepages and mount hugetlbfs "
				"(scripts/setup.sh), or bind the device to vfio-pci\n",
				dev->name);
			rc = -EFAULT;
		}
		if (rc == 0) {
			rc = pci_uio_open(dev);
		}
	} else {
		rc = pci_vfio_open(dev);
	}
	if (rc != 0) {
		pci_unclaim(dev);
		free(dev);
		return rc;
	}
	dev->next_check_tick = usk_get_ticks();
	*out = dev;
	return 0;
}

/* Caller holds g_pci_lock. */
static bool
attached_locked(const struct usk_pci_addr *addr)
{
	struct usk_pci_device *dev;

	TAILQ_FOREACH(dev, &g_attached, link) {
		if (usk_pci_addr_compare(&dev->addr, addr) == 0) {
			return true;
		}
	}
	return false;
}

/* Caller holds g_pci_lock; dev is open. Returns cb's verdict; dev is kept or closed. */
static int
hand_over(struct usk_pci_device *dev, usk_pci_enum_cb cb, void *ctx)
{
	int rc;

	TAILQ_INSERT_TAIL(&g_attached, dev, link);
	rc = cb(ctx, dev);
	if (rc != 0) {
		TAILQ_REMOVE(&g_attached, dev, link);
		device_close(dev);
	}
	return rc;
}

static int
cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/*
 * Visit the usable devices of class_id in address order; visit(ctx, addr, id) returns 0 to go
 * on, non-zero to stop with it. Caller holds g_pci_lock.
 */
typedef int (*visit_fn)(void *ctx, const struct usk_pci_addr *addr, const struct usk_pci_id *id);

static int
for_each_usable_locked(uint32_t class_id, visit_fn visit, void *ctx)
{
	struct dirent **names = NULL;
	struct usk_pci_addr addr;
	struct usk_pci_id id;
	enum usk_pci_kdriver kd;
	char drv[64];
	int n, i, rc = 0;

	n = scandir(PCI_SYSFS_DEVICES, &names, NULL, cmp_names);
	if (n < 0) {
		rc = -errno;
		USK_ERRLOG("cannot read " PCI_SYSFS_DEVICES ": %s\n", strerror(errno));
		return rc;
	}
	for (i = 0; i < n; i++) {
		const char *name = names[i]->d_name;

		if (rc != 0 || name[0] == '.' || usk_pci_addr_parse(&addr, name) != 0) {
			continue;
		}
		if (read_ids(name, &id) != 0 ||
		    (class_id != USK_PCI_ANY_CLASS && id.class_id != (class_id & 0xffffff))) {
			continue;
		}
		if (!allowed_locked(&addr)) {
			USK_DEBUGLOG(pci, "%s: skipped by the allow/block lists\n", name);
			continue;
		}
		if (attached_locked(&addr)) {
			continue;
		}
		kd = pci_sysfs_kdriver(name, drv, sizeof(drv));
		if (kd != USK_PCI_KDRIVER_VFIO && kd != USK_PCI_KDRIVER_UIO) {
			USK_DEBUGLOG(pci, "%s: bound to %s, skipped\n", name, drv);
			continue;
		}
		rc = visit(ctx, &addr, &id);
	}
	for (i = 0; i < n; i++) {
		free(names[i]);
	}
	free(names);
	return rc;
}

struct scan_ctx {
	usk_pci_scan_cb cb;
	void *ctx;
	int count;
};

static int
scan_visit(void *ctx, const struct usk_pci_addr *addr, const struct usk_pci_id *id)
{
	struct scan_ctx *s = ctx;

	s->count++;
	return s->cb(s->ctx, addr, id);
}

int
usk_pci_scan(uint32_t class_id, usk_pci_scan_cb cb, void *ctx)
{
	struct scan_ctx s = {.cb = cb, .ctx = ctx};
	int rc;

	if (cb == NULL) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_pci_lock);
	rc = for_each_usable_locked(class_id, scan_visit, &s);
	pthread_mutex_unlock(&g_pci_lock);
	return rc != 0 ? rc : s.count;
}

struct enum_ctx {
	usk_pci_enum_cb cb;
	void *ctx;
	int kept;
};

static int
enum_visit(void *ctx, const struct usk_pci_addr *addr, const struct usk_pci_id *id)
{
	struct enum_ctx *e = ctx;
	struct usk_pci_device *dev;
	int rc;

	if (device_open(addr, &dev) != 0) {
		return 0; /* logged; go on with the next device */
	}
	rc = hand_over(dev, e->cb, e->ctx);
	if (rc == 0) {
		e->kept++;
	}
	return rc < 0 ? rc : 0;
}

int
usk_pci_enumerate(uint32_t class_id, usk_pci_enum_cb cb, void *ctx)
{
	struct enum_ctx e = {.cb = cb, .ctx = ctx};
	int rc;

	if (cb == NULL) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_pci_lock);
	rc = for_each_usable_locked(class_id, enum_visit, &e);
	pthread_mutex_unlock(&g_pci_lock);
	return rc < 0 ? rc : e.kept;
}

int
usk_pci_device_attach(const struct usk_pci_addr *addr, usk_pci_enum_cb cb, void *ctx)
{
	struct usk_pci_device *dev;
	char name[USK_PCI_ADDR_STRLEN];
	int rc;

	if (addr == NULL || cb == NULL || usk_pci_addr_fmt(name, sizeof(name), addr) != 0) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_pci_lock);
	if (!allowed_locked(addr)) {
		pthread_mutex_unlock(&g_pci_lock);
		USK_ERRLOG("%s: not allowed by the PCI allow/block lists\n", name);
		return -EPERM;
	}
	if (attached_locked(addr)) {
		pthread_mutex_unlock(&g_pci_lock);
		USK_ERRLOG("%s: already attached in this process\n", name);
		return -EALREADY;
	}
	rc = device_open(addr, &dev);
	if (rc == -ENODEV) {
		USK_ERRLOG("%s: no such PCI device\n", name);
	}
	if (rc == 0) {
		rc = hand_over(dev, cb, ctx);
		rc = rc > 0 ? 1 : rc;
	}
	pthread_mutex_unlock(&g_pci_lock);
	return rc;
}

void
usk_pci_device_detach(struct usk_pci_device *dev)
{
	if (dev == NULL) {
		return;
	}
	pthread_mutex_lock(&g_pci_lock);
	TAILQ_REMOVE(&g_attached, dev, link);
	device_close(dev);
	pthread_mutex_unlock(&g_pci_lock);
}

/* ---- properties ---- */

const struct usk_pci_addr *
usk_pci_device_get_addr(const struct usk_pci_device *dev)
{
	return &dev->addr;
}

const struct usk_pci_id *
usk_pci_device_get_id(const struct usk_pci_device *dev)
{
	return &dev->id;
}

const char *
usk_pci_device_get_name(const struct usk_pci_device *dev)
{
	return dev->name;
}

enum usk_pci_kdriver
usk_pci_device_get_kdriver(const struct usk_pci_device *dev)
{
	return dev->kdriver;
}

const char *
usk_pci_device_get_type(const struct usk_pci_device *dev)
{
	return dev->kdriver == USK_PCI_KDRIVER_VFIO ? "vfio" : "uio";
}

int
usk_pci_device_get_numa_node(const struct usk_pci_device *dev)
{
	return dev->numa_node;
}

/* ---- BARs and config space ---- */

int
usk_pci_device_map_bar(struct usk_pci_device *dev, uint32_t bar, void **addr, uint64_t *phys_addr,
		       uint64_t *size)
{
	int rc;

	if (bar >= USK_PCI_MAX_BARS || addr == NULL) {
		return -EINVAL;
	}
	if (dev->bars[bar].addr == NULL) {
		rc = dev->kdriver == USK_PCI_KDRIVER_VFIO ? pci_vfio_map_bar(dev, bar) :
							    pci_uio_map_bar(dev, bar);
		if (rc != 0) {
			return rc;
		}
	}
	*addr = dev->bars[bar].addr;
	if (phys_addr != NULL) {
		*phys_addr = dev->bars[bar].phys;
	}
	if (size != NULL) {
		*size = dev->bars[bar].size;
	}
	return 0;
}

int
usk_pci_device_unmap_bar(struct usk_pci_device *dev, uint32_t bar, void *addr)
{
	if (bar >= USK_PCI_MAX_BARS || dev->bars[bar].addr == NULL || dev->bars[bar].addr != addr) {
		return -EINVAL;
	}
	munmap(dev->bars[bar].addr, dev->bars[bar].size);
	dev->bars[bar].addr = NULL;
	return 0;
}

int
usk_pci_device_cfg_read(struct usk_pci_device *dev, void *buf, uint32_t len, uint32_t offset)
{
	int fd = dev->kdriver == USK_PCI_KDRIVER_VFIO ? dev->vfio_fd : dev->cfg_fd;
	off_t base = dev->kdriver == USK_PCI_KDRIVER_VFIO ? (off_t)dev->vfio_cfg_off : 0;
	ssize_t n;

	n = pread(fd, buf, len, base + offset);
	if (n < 0) {
		return -errno;
	}
	return (uint32_t)n == len ? 0 : -EIO;
}

int
usk_pci_device_cfg_write(struct usk_pci_device *dev, const void *buf, uint32_t len, uint32_t offset)
{
	int fd = dev->kdriver == USK_PCI_KDRIVER_VFIO ? dev->vfio_fd : dev->cfg_fd;
	off_t base = dev->kdriver == USK_PCI_KDRIVER_VFIO ? (off_t)dev->vfio_cfg_off : 0;
	ssize_t n;

	n = pwrite(fd, buf, len, base + offset);
	if (n < 0) {
		return -errno;
	}
	return (uint32_t)n == len ? 0 : -EIO;
}

int
usk_pci_device_cfg_read16(struct usk_pci_device *dev, uint16_t *value, uint32_t offset)
{
	return usk_pci_device_cfg_read(dev, value, sizeof(*value), offset);
}

int
usk_pci_device_cfg_write16(struct usk_pci_device *dev, uint16_t value, uint32_t offset)
{
	return usk_pci_device_cfg_write(dev, &value, sizeof(value), offset);
}

int
usk_pci_device_cfg_read32(struct usk_pci_device *dev, uint32_t *value, uint32_t offset)
{
	return usk_pci_device_cfg_read(dev, value, sizeof(*value), offset);
}

int
usk_pci_device_cfg_write32(struct usk_pci_device *dev, uint32_t value, uint32_t offset)
{
	return usk_pci_device_cfg_write(dev, &value, sizeof(value), offset);
}

/* ---- hot remove ---- */

bool
usk_pci_device_is_removed(struct usk_pci_device *dev)
{
	uint64_t now;

	if (dev->removed) {
		return true;
	}
	/* The kernel's release request is an eventfd read: cheap enough for every call. */
	if (dev->kdriver == USK_PCI_KDRIVER_VFIO && pci_vfio_req_pending(dev)) {
		USK_NOTICELOG("%s: the kernel asks for the device back (unbind or hot remove)\n",
			      dev->name);
		dev->removed = true;
		return true;
	}
	now = usk_get_ticks();
	if (now < dev->next_check_tick) {
		return false;
	}
	dev->next_check_tick = now + usk_get_ticks_hz() * REMOVED_CHECK_MS / 1000;
	if (pci_sysfs_kdriver(dev->name, NULL, 0) != dev->kdriver) {
		USK_NOTICELOG("%s: removed (gone from sysfs or no longer bound to %s)\n", dev->name,
			      dev->kdriver == USK_PCI_KDRIVER_VFIO ? "vfio-pci" :
								     "uio_pci_generic");
		dev->removed = true;
	}
	return dev->removed;
}
