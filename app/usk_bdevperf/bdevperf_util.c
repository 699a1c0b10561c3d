/* SPDX-License-Identifier: BSD-3-Clause */
/* usk_bdevperf helpers that need no bdev: workload names, size parsing, PRNG, data patterns. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdevperf_util.h"

static const char *const g_workload_names[] = {
	[BDEVPERF_RW_READ] = "read",
	[BDEVPERF_RW_WRITE] = "write",
	[BDEVPERF_RW_RANDREAD] = "randread",
	[BDEVPERF_RW_RANDWRITE] = "randwrite",
	[BDEVPERF_RW_RW] = "rw",
	[BDEVPERF_RW_RANDRW] = "randrw",
	[BDEVPERF_RW_VERIFY] = "verify",
	[BDEVPERF_RW_RESET] = "reset",
	[BDEVPERF_RW_UNMAP] = "unmap",
	[BDEVPERF_RW_FLUSH] = "flush",
	[BDEVPERF_RW_WRITE_ZEROES] = "write_zeroes",
};

enum bdevperf_workload
bdevperf_workload_parse(const char *name)
{
	for (int i = 0; i < BDEVPERF_RW_INVALID; i++) {
		if (strcmp(name, g_workload_names[i]) == 0) {
			return (enum bdevperf_workload)i;
		}
	}
	return BDEVPERF_RW_INVALID;
}

const char *
bdevperf_workload_name(enum bdevperf_workload w)
{
	return w < BDEVPERF_RW_INVALID ? g_workload_names[w] : "invalid";
}

int
bdevperf_parse_size(const char *str, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (str == NULL || !isdigit((unsigned char)str[0])) {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(str, &end, 10);
	if (errno != 0) {
		return -EINVAL;
	}
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (shift != 0 &&
	    (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0 || strcmp(end, "b") == 0)) {
		end += strlen(end);
	}
	if (*end != '\0') {
		return -EINVAL;
	}
	if (shift != 0 && v > (UINT64_MAX >> shift)) {
		return -EINVAL;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

uint64_t
bdevperf_seed(uint64_t v)
{
	/* splitmix64 finaliser spreads nearby seeds apart. */
	v += 0x9E3779B97F4A7C15ULL;
	v = (v ^ (v >> 30)) * 0xBF58476D1CE4E5B9ULL;
	v = (v ^ (v >> 27)) * 0x94D049BB133111EBULL;
	v ^= v >> 31;
	return v != 0 ? v : 0x1234567ULL;
}

static inline uint64_t
block_base(uint64_t lba, uint64_t generation)
{
	return bdevperf_seed(lba * 0xD6E8FEB86659FD93ULL ^ generation);
}

void
bdevperf_pattern_fill(void *buf, uint32_t block_size, uint64_t lba, uint32_t num_blocks,
		      uint64_t generation)
{
	uint64_t *w = buf;
	uint32_t words = block_size / 8;

	for (uint32_t b = 0; b < num_blocks; b++) {
		uint64_t base = block_base(lba + b, generation);

		w[0] = lba + b;
		w[1] = generation ^ BDEVPERF_PATTERN_MAGIC;
		for (uint32_t i = 2; i < words; i++) {
			w[i] = base + i * 0x9E3779B97F4A7C15ULL;
		}
		w += words;
	}
}

int64_t
bdevperf_pattern_check(const void *buf, uint32_t block_size, uint64_t lba, uint32_t num_blocks,
		       uint32_t *bad_byte)
{
	const uint64_t *w = buf;
	uint32_t words = block_size / 8;

	for (uint32_t b = 0; b < num_blocks; b++) {
		uint64_t generation = w[1] ^ BDEVPERF_PATTERN_MAGIC;
		uint64_t base = block_base(lba + b, generation);

		if (w[0] != lba + b) {
			*bad_byte = 0;
			return b;
		}
		for (uint32_t i = 2; i < words; i++) {
			if (w[i] != base + i * 0x9E3779B97F4A7C15ULL) {
				*bad_byte = i * 8;
				return b;
			}
		}
		w += words;
	}
	return -1;
}

int64_t
bdevperf_buf_compare(const void *expect, const void *got, size_t len)
{
	const uint64_t *a = expect, *b = got;

	if (memcmp(expect, got, len) == 0) {
		return -1;
	}
	for (size_t i = 0; i < len / 8; i++) {
		if (a[i] != b[i]) {
			return (int64_t)(i * 8);
		}
	}
	return (int64_t)(len & ~(size_t)7);
}
