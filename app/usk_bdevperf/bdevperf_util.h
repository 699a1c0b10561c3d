/* SPDX-License-Identifier: BSD-3-Clause */
/* usk_bdevperf helpers that need no bdev: workload names, size parsing, PRNG, data patterns. */
#ifndef USK_BDEVPERF_UTIL_H
#define USK_BDEVPERF_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bdevperf_workload {
	BDEVPERF_RW_READ = 0,
	BDEVPERF_RW_WRITE,
	BDEVPERF_RW_RANDREAD,
	BDEVPERF_RW_RANDWRITE,
	BDEVPERF_RW_RW,
	BDEVPERF_RW_RANDRW,
	BDEVPERF_RW_VERIFY,
	BDEVPERF_RW_RESET,
	BDEVPERF_RW_UNMAP,
	BDEVPERF_RW_FLUSH,
	BDEVPERF_RW_WRITE_ZEROES,
	BDEVPERF_RW_INVALID,
};

#define BDEVPERF_WORKLOADS_STR \
	"(read, write, randread, randwrite, rw, randrw, verify, reset, unmap, flush, write_zeroes)"

/** Workload from its -w name, BDEVPERF_RW_INVALID if unknown. */
enum bdevperf_workload bdevperf_workload_parse(const char *name);
const char *bdevperf_workload_name(enum bdevperf_workload w);

/**
 * Parse a size: a decimal number with an optional binary suffix k/K, m/M, g/G (optionally
 * followed by "B" or "iB"): "4096", "4k", "128K", "1MiB". Returns 0 or -EINVAL.
 */
int bdevperf_parse_size(const char *str, uint64_t *out);

/** xorshift64* step; the state must never be 0. */
static inline uint64_t
bdevperf_rand64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/** Uniform in [0, n) without a division (Lemire's multiply-high). */
static inline uint64_t
bdevperf_rand_below(uint64_t *state, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)bdevperf_rand64(state) * n) >> 64);
}

/** Seed a PRNG state from any value (never returns 0). */
uint64_t bdevperf_seed(uint64_t v);

/*
 * Verify pattern. Every block of an I/O is self-describing: word 0 holds the LBA, word 1 the
 * write generation xor a magic value, and every later 64-bit word is derived from
 * (lba, generation, word index). A block read back can therefore be checked on its own (a
 * block from another LBA, a stale generation, a torn or zeroed block all fail), and a second
 * process can check data that an earlier one wrote (--check-pattern).
 */
#define BDEVPERF_PATTERN_MAGIC 0x75736b2d62706621ULL /* "usk-bpf!" */

/** Fill num_blocks blocks of block_size bytes (a multiple of 8, >= 16) starting at lba. */
void bdevperf_pattern_fill(void *buf, uint32_t block_size, uint64_t lba, uint32_t num_blocks,
			   uint64_t generation);

/**
 * Check that buf holds a valid pattern for lba.. (any generation per block). Returns -1 when
 * every block is valid, else the index of the first bad block; *bad_byte gets the byte offset
 * inside that block of the first wrong word.
 */
int64_t bdevperf_pattern_check(const void *buf, uint32_t block_size, uint64_t lba,
			       uint32_t num_blocks, uint32_t *bad_byte);

/**
 * Compare what was written (expect) with what was read (got): -1 when equal, else the byte
 * offset of the first difference (8-byte granular).
 */
int64_t bdevperf_buf_compare(const void *expect, const void *got, size_t len);

#endif
