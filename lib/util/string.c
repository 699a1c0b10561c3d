/* SPDX-License-Identifier: BSD-3-Clause */
/* String helpers: strdup, allocating sprintf, padded fixed-width fields. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/util.h"

char *
usk_strdup(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

char *
usk_sprintf_alloc(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	return rc < 0 ? NULL : s;
}

void
usk_strcpy_pad(void *dst, const char *src, size_t dst_len, int pad)
{
	size_t len = src ? strlen(src) : 0;

	if (len > dst_len) {
		len = dst_len;
	}
	if (len > 0) {
		memcpy(dst, src, len);
	}
	memset((char *)dst + len, pad, dst_len - len);
}

size_t
usk_strlen_pad(const void *str, size_t size, int pad)
{
	const unsigned char *s = str;

	while (size > 0 && s[size - 1] == (unsigned char)pad) {
		size--;
	}
	return size;
}
