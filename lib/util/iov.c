/* SPDX-License-Identifier: BSD-3-Clause */
/* iovec helpers: gather/scatter copies, length, fill. */
#include <string.h>

#include "usk/util.h"

size_t
usk_iov_to_buf(const struct iovec *iovs, int iovcnt, void *buf, size_t buf_len)
{
	size_t done = 0, n;
	int i;

	for (i = 0; i < iovcnt && done < buf_len; i++) {
		n = USK_MIN(iovs[i].iov_len, buf_len - done);
		memcpy((char *)buf + done, iovs[i].iov_base, n);
		done += n;
	}
	return done;
}

size_t
usk_iov_from_buf(const struct iovec *iovs, int iovcnt, const void *buf, size_t buf_len)
{
	size_t done = 0, n;
	int i;

	for (i = 0; i < iovcnt && done < buf_len; i++) {
		n = USK_MIN(iovs[i].iov_len, buf_len - done);
		memcpy(iovs[i].iov_base, (const char *)buf + done, n);
		done += n;
	}
	return done;
}

size_t
usk_iov_length(const struct iovec *iovs, int iovcnt)
{
	size_t len = 0;
	int i;

	for (i = 0; i < iovcnt; i++) {
		len += iovs[i].iov_len;
	}
	return len;
}

void
usk_iov_memset(const struct iovec *iovs, int iovcnt, int c)
{
	int i;

	for (i = 0; i < iovcnt; i++) {
		memset(iovs[i].iov_base, c, iovs[i].iov_len);
	}
}
