/* SPDX-License-Identifier: BSD-3-Clause */
/* Guest memory table: mmap of SET_MEM_TABLE regions and guest-physical / front-end address
 * translation. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usk/log.h"
#include "vhost_internal.h"

void
vhost_mem_unmap(struct vhost_mem *mem)
{
	uint32_t i;

	for (i = 0; i < mem->nregions; i++) {
		if (mem->regions[i].mmap_addr != NULL) {
			munmap(mem->regions[i].mmap_addr, mem->regions[i].mmap_size);
		}
	}
	memset(mem, 0, sizeof(*mem));
}

int
vhost_mem_map(struct vhost_mem *mem, const struct usk_vhost_user_memory *msg, const int *fds,
	      int nfds, char *err, size_t err_len)
{
	uint32_t i, j;
	int rc = 0;

	memset(mem, 0, sizeof(*mem));
	if (msg->nregions == 0 || msg->nregions > USK_VHOST_USER_MEMORY_MAX_NREGIONS ||
	    (int)msg->nregions != nfds) {
		snprintf(err, err_len, "SET_MEM_TABLE: %u regions with %d fds", msg->nregions,
			 nfds);
		rc = -EINVAL;
		goto out_close;
	}
	for (i = 0; i < msg->nregions; i++) {
		const struct usk_vhost_user_memory_region *r = &msg->regions[i];
		uint64_t end;

		if (r->memory_size == 0 ||
		    __builtin_add_overflow(r->guest_phys_addr, r->memory_size, &end) ||
		    __builtin_add_overflow(r->userspace_addr, r->memory_size, &end) ||
		    __builtin_add_overflow(r->mmap_offset, r->memory_size, &end) ||
		    r->mmap_offset + r->memory_size > SIZE_MAX) {
			snprintf(err, err_len, "SET_MEM_TABLE: region %u has a bad size or offset",
				 i);
			rc = -EINVAL;
			goto out_close;
		}
		for (j = 0; j < i; j++) {
			const struct usk_vhost_user_memory_region *o = &msg->regions[j];

			if (r->guest_phys_addr < o->guest_phys_addr + o->memory_size &&
			    o->guest_phys_addr < r->guest_phys_addr + r->memory_size) {
				snprintf(err, err_len, "SET_MEM_TABLE: regions %u and %u overlap",
					 j, i);
				rc = -EINVAL;
				goto out_close;
			}
		}
	}
	for (i = 0; i < msg->nregions; i++) {
		const struct usk_vhost_user_memory_region *r = &msg->regions[i];
		struct vhost_mem_region *m = &mem->regions[i];
		size_t len = (size_t)(r->mmap_offset + r->memory_size);
		struct stat st;
		void *addr;
		int seals;

		/* Touching a mapping past the end of its file is SIGBUS: the file must hold it all.
		 */
		if (fstat(fds[i], &st) != 0 ||
		    (uint64_t)st.st_size < r->mmap_offset + r->memory_size) {
			snprintf(err, err_len,
				 "SET_MEM_TABLE: region %u (%llu bytes at offset %llu) is "
				 "beyond the end of its file (%lld bytes)",
				 i, (unsigned long long)r->memory_size,
				 (unsigned long long)r->mmap_offset, (long long)st.st_size);
			rc = -EINVAL;
			mem->nregions = i;
			vhost_mem_unmap(mem);
			goto out_close;
		}
		/* A file the front-end can still shrink could SIGBUS us later; QEMU's memfd backend
		 * seals it (seal=on). Only noted: hugetlbfs files cannot be sealed. */
		seals = fcntl(fds[i], F_GET_SEALS);
		if (seals >= 0 && !(seals & F_SEAL_SHRINK)) {
			USK_INFOLOG(vhost, "memory region %u: memfd not sealed against shrinking\n",
				    i);
		}

		/* The offset need not be page aligned: map from 0 and skip it. */
		addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fds[i],
			    0);
		if (addr == MAP_FAILED) {
			rc = -errno;
			snprintf(err, err_len,
				 "SET_MEM_TABLE: mmap of region %u (%zu bytes) failed: %s", i, len,
				 strerror(errno));
			mem->nregions = i;
			vhost_mem_unmap(mem);
			goto out_close;
		}
		m->gpa = r->guest_phys_addr;
		m->size = r->memory_size;
		m->uva = r->userspace_addr;
		m->mmap_addr = addr;
		m->mmap_size = len;
		m->host = (uint8_t *)addr + r->mmap_offset;
	}
	mem->nregions = msg->nregions;
out_close:
	for (i = 0; i < (uint32_t)nfds; i++) {
		close(fds[i]);
	}
	return rc;
}

static const struct vhost_mem_region *
region_of_gpa(const struct vhost_mem *mem, uint64_t gpa)
{
	uint32_t i;

	for (i = 0; i < mem->nregions; i++) {
		const struct vhost_mem_region *r = &mem->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size) {
			return r;
		}
	}
	return NULL;
}

void *
vhost_gpa_to_vva(const struct vhost_mem *mem, uint64_t gpa, uint64_t len)
{
	const struct vhost_mem_region *r = region_of_gpa(mem, gpa);

	if (r == NULL || len > r->size - (gpa - r->gpa)) {
		return NULL;
	}
	return r->host + (gpa - r->gpa);
}

void *
vhost_uva_to_vva(const struct vhost_mem *mem, uint64_t uva, uint64_t len)
{
	uint32_t i;

	for (i = 0; i < mem->nregions; i++) {
		const struct vhost_mem_region *r = &mem->regions[i];

		if (uva >= r->uva && uva - r->uva < r->size) {
			if (len > r->size - (uva - r->uva)) {
				return NULL;
			}
			return r->host + (uva - r->uva);
		}
	}
	return NULL;
}

int
vhost_gpa_to_iovs(const struct vhost_mem *mem, uint64_t gpa, uint32_t len, struct iovec *iovs,
		  uint16_t *iovcnt, uint16_t max_iovs)
{
	while (len > 0) {
		const struct vhost_mem_region *r = region_of_gpa(mem, gpa);
		uint64_t n;

		if (r == NULL) {
			return -EFAULT;
		}
		if (*iovcnt >= max_iovs) {
			return -E2BIG;
		}
		n = USK_MIN((uint64_t)len, r->size - (gpa - r->gpa));
		iovs[*iovcnt].iov_base = r->host + (gpa - r->gpa);
		iovs[*iovcnt].iov_len = n;
		(*iovcnt)++;
		gpa += n;
		len -= (uint32_t)n;
	}
	return 0;
}
