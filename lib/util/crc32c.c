/* SPDX-License-Identifier: BSD-3-Clause */
/* CRC32C (Castagnoli) through ISA-L's crc32_iscsi, which neither pre- nor post-inverts. */
#include <limits.h>
#include <isa-l/crc.h>

#include "usk/util.h"

uint32_t
usk_crc32c_update(const void *buf, size_t len, uint32_t crc)
{
	unsigned char *p = (unsigned char *)(uintptr_t)buf;

	/* ISA-L takes an int length. */
	while (len > (size_t)INT_MAX) {
		crc = crc32_iscsi(p, INT_MAX & ~63, crc);
		p += INT_MAX & ~63;
		len -= INT_MAX & ~63;
	}
	return crc32_iscsi(p, (int)len, crc);
}

uint32_t
usk_crc32c_iov_update(const struct iovec *iov, int iovcnt, uint32_t crc)
{
	int i;

	for (i = 0; i < iovcnt; i++) {
		crc = usk_crc32c_update(iov[i].iov_base, iov[i].iov_len, crc);
	}
	return crc;
}
