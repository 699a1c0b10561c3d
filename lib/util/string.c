/* SPDX-License-Identifier: BSD-3-Clause */
/* String helpers: strdup, allocating sprintf, padded fixed-width fields. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
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

int
usk_set_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && err_len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
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

static size_t
escape_one(uint8_t c, char esc[4])
{
	static const char hex[] = "0123456789abcdef";

	if (c == '\\') {
		esc[0] = '\\';
		esc[1] = '\\';
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		esc[0] = (char)c;
		return 1;
	}
	esc[0] = '\\';
	esc[1] = 'x';
	esc[2] = hex[c >> 4];
	esc[3] = hex[c & 0xf];
	return 4;
}

char *
usk_str_escape(char *dst, size_t dst_size, const void *src, size_t src_len)
{
	const uint8_t *p = src;
	size_t i, o = 0, need, total = 0, limit;
	char esc[4];

	assert(dst_size >= 4);
	for (i = 0; i < src_len && p[i] != '\0'; i++) {
		total += escape_one(p[i], esc);
	}
	src_len = i;
	/* all of it, or whole escapes up to room for "..." and the NUL */
	limit = total + 1 <= dst_size ? total : dst_size - 4;
	for (i = 0; i < src_len; i++) {
		need = escape_one(p[i], esc);
		if (o + need > limit) {
			break;
		}
		memcpy(dst + o, esc, need);
		o += need;
	}
	if (i < src_len) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}
