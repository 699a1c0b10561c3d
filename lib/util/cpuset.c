/* SPDX-License-Identifier: BSD-3-Clause */
/* CPU sets: bit operations and parsing of "0x3", "3", "[0,1]", "[0-3,5]" core masks. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usk/util.h"

void
usk_cpuset_zero(struct usk_cpuset *set)
{
	memset(set->cpus, 0, sizeof(set->cpus));
}

void
usk_cpuset_set_cpu(struct usk_cpuset *set, uint32_t cpu, bool state)
{
	if (cpu >= USK_CPUSET_SIZE) {
		return;
	}
	if (state) {
		set->cpus[cpu / 8] |= (uint8_t)(1u << (cpu % 8));
	} else {
		set->cpus[cpu / 8] &= (uint8_t) ~(1u << (cpu % 8));
	}
}

bool
usk_cpuset_get_cpu(const struct usk_cpuset *set, uint32_t cpu)
{
	if (cpu >= USK_CPUSET_SIZE) {
		return false;
	}
	return (set->cpus[cpu / 8] >> (cpu % 8)) & 1;
}

uint32_t
usk_cpuset_count(const struct usk_cpuset *set)
{
	uint32_t n = 0;
	size_t i;

	for (i = 0; i < sizeof(set->cpus); i++) {
		n += (uint32_t)__builtin_popcount(set->cpus[i]);
	}
	return n;
}

void
usk_cpuset_copy(struct usk_cpuset *dst, const struct usk_cpuset *src)
{
	memcpy(dst->cpus, src->cpus, sizeof(dst->cpus));
}

bool
usk_cpuset_equal(const struct usk_cpuset *a, const struct usk_cpuset *b)
{
	return memcmp(a->cpus, b->cpus, sizeof(a->cpus)) == 0;
}

void
usk_cpuset_and(struct usk_cpuset *dst, const struct usk_cpuset *src)
{
	size_t i;

	for (i = 0; i < sizeof(dst->cpus); i++) {
		dst->cpus[i] &= src->cpus[i];
	}
}

void
usk_cpuset_or(struct usk_cpuset *dst, const struct usk_cpuset *src)
{
	size_t i;

	for (i = 0; i < sizeof(dst->cpus); i++) {
		dst->cpus[i] |= src->cpus[i];
	}
}

void
usk_cpuset_negate(struct usk_cpuset *set)
{
	size_t i;

	for (i = 0; i < sizeof(set->cpus); i++) {
		set->cpus[i] = (uint8_t)~set->cpus[i];
	}
}

/* "[0-3,5]" or "0-3,5": decimal cpus and ranges separated by commas. */
static int
parse_list(struct usk_cpuset *set, const char *p, const char *end)
{
	unsigned long first, last, cpu;
	char *next;

	if (p == end) {
		return -EINVAL;
	}
	while (p < end) {
		while (p < end && isspace((unsigned char)*p)) {
			p++;
		}
		if (p == end || !isdigit((unsigned char)*p)) {
			return -EINVAL;
		}
		errno = 0;
		first = strtoul(p, &next, 10);
		if (errno != 0 || first >= USK_CPUSET_SIZE) {
			return -EINVAL;
		}
		p = next;
		last = first;
		while (p < end && isspace((unsigned char)*p)) {
			p++;
		}
		if (p < end && *p == '-') {
			p++;
			while (p < end && isspace((unsigned char)*p)) {
				p++;
			}
			if (p == end || !isdigit((unsigned char)*p)) {
				return -EINVAL;
			}
			errno = 0;
			last = strtoul(p, &next, 10);
			if (errno != 0 || last >= USK_CPUSET_SIZE || last < first) {
				return -EINVAL;
			}
			p = next;
			while (p < end && isspace((unsigned char)*p)) {
				p++;
			}
		}
		for (cpu = first; cpu <= last; cpu++) {
			usk_cpuset_set_cpu(set, (uint32_t)cpu, true);
		}
		if (p == end) {
			break;
		}
		if (*p != ',' || p + 1 == end) {
			return -EINVAL;
		}
		p++;
	}
	return 0;
}

/* Hex mask, least significant digit last; "0x" prefix optional. */
static int
parse_hex(struct usk_cpuset *set, const char *p, const char *end)
{
	uint32_t bit = 0;
	int v;

	if (end - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
	}
	if (p == end) {
		return -EINVAL;
	}
	while (end > p) {
		char c = *--end;

		if (c >= '0' && c <= '9') {
			v = c - '0';
		} else if (c >= 'a' && c <= 'f') {
			v = c - 'a' + 10;
		} else if (c >= 'A' && c <= 'F') {
			v = c - 'A' + 10;
		} else {
			return -EINVAL;
		}
		if (bit >= USK_CPUSET_SIZE) {
			if (v != 0) {
				return -EINVAL;
			}
			continue;
		}
		set->cpus[bit / 8] |= (uint8_t)(v << (bit % 8));
		bit += 4;
	}
	return 0;
}

int
usk_cpuset_parse(struct usk_cpuset *set, const char *mask)
{
	struct usk_cpuset tmp;
	const char *p, *end;
	int rc;

	if (set == NULL || mask == NULL) {
		return -EINVAL;
	}
	p = mask;
	end = mask + strlen(mask);
	while (p < end && isspace((unsigned char)*p)) {
		p++;
	}
	while (end > p && isspace((unsigned char)end[-1])) {
		end--;
	}
	if (p == end) {
		return -EINVAL;
	}
	usk_cpuset_zero(&tmp);
	if (*p == '[') {
		if (end[-1] != ']') {
			return -EINVAL;
		}
		rc = parse_list(&tmp, p + 1, end - 1);
	} else if (memchr(p, ',', (size_t)(end - p)) || memchr(p, '-', (size_t)(end - p))) {
		rc = parse_list(&tmp, p, end);
	} else {
		rc = parse_hex(&tmp, p, end);
	}
	if (rc == 0) {
		usk_cpuset_copy(set, &tmp);
	}
	return rc;
}

const char *
usk_cpuset_fmt(const struct usk_cpuset *set)
{
	static __thread char buf[USK_CPUSET_SIZE / 4 + 1];
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	int i;
	bool started = false;

	for (i = (int)sizeof(set->cpus) - 1; i >= 0; i--) {
		uint8_t b = set->cpus[i];

		if (started || (b >> 4) != 0) {
			buf[n++] = hex[b >> 4];
			started = true;
		}
		if (started || (b & 0xf) != 0) {
			buf[n++] = hex[b & 0xf];
			started = true;
		}
	}
	if (n == 0) {
		buf[n++] = '0';
	}
	buf[n] = '\0';
	return buf;
}
