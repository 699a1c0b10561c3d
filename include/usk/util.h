/* SPDX-License-Identifier: BSD-3-Clause */
/* Small helpers shared by every usk library: macros, cpusets, string helpers. */
#ifndef USK_UTIL_H
#define USK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USK_CACHE_LINE_SIZE		   64
#define usk_likely(x)			   __builtin_expect(!!(x), 1)
#define usk_unlikely(x)			   __builtin_expect(!!(x), 0)
#define USK_COUNTOF(arr)		   (sizeof(arr) / sizeof((arr)[0]))
#define USK_CONTAINEROF(ptr, type, member) ((type *)((uintptr_t)(ptr)-offsetof(type, member)))
#define USK_MIN(a, b)			   ((a) < (b) ? (a) : (b))
#define USK_MAX(a, b)			   ((a) > (b) ? (a) : (b))
#define USK_ALIGN_CEIL(x, a)		   (((x) + (a)-1) & ~((__typeof__(x))(a)-1))
#define USK_ALIGN_FLOOR(x, a)		   ((x) & ~((__typeof__(x))(a)-1))
#define USK_IS_POW2(x)			   ((x) != 0 && (((x) & ((x)-1)) == 0))
#define USK_STATIC_ASSERT(cond, msg)	   _Static_assert(cond, msg)
#define USK_SEC_TO_USEC			   1000000ULL
#define USK_SEC_TO_NSEC			   1000000000ULL

static inline uint32_t
usk_u32log2(uint32_t x)
{
	return x == 0 ? 0 : 31u - (uint32_t)__builtin_clz(x);
}

static inline uint64_t
usk_align64pow2(uint64_t x)
{
	return x <= 1 ? 1 : 1ULL << (64 - __builtin_clzll(x - 1));
}

/* ---- cpuset ---- */

#define USK_CPUSET_SIZE 128

struct usk_cpuset {
	uint8_t cpus[USK_CPUSET_SIZE / 8];
};

/** Clear every CPU. The cpuset functions are pure: any thread, on sets it owns. */
void usk_cpuset_zero(struct usk_cpuset *set);
/** Set (state true) or clear cpu (< USK_CPUSET_SIZE; ignored otherwise). */
void usk_cpuset_set_cpu(struct usk_cpuset *set, uint32_t cpu, bool state);
/** Whether cpu is in set. */
bool usk_cpuset_get_cpu(const struct usk_cpuset *set, uint32_t cpu);
/** Number of CPUs in set. */
uint32_t usk_cpuset_count(const struct usk_cpuset *set);
/** dst = src. */
void usk_cpuset_copy(struct usk_cpuset *dst, const struct usk_cpuset *src);
/** Whether a and b hold the same CPUs. */
bool usk_cpuset_equal(const struct usk_cpuset *a, const struct usk_cpuset *b);
/** dst &= src. */
void usk_cpuset_and(struct usk_cpuset *dst, const struct usk_cpuset *src);
/** dst |= src. */
void usk_cpuset_or(struct usk_cpuset *dst, const struct usk_cpuset *src);
/** Complement set (over USK_CPUSET_SIZE CPUs). */
void usk_cpuset_negate(struct usk_cpuset *set);
/** Parse "0x3", "3" (hex), "[0,1]", "[0-3,5]". Returns 0 or -EINVAL. */
int usk_cpuset_parse(struct usk_cpuset *set, const char *mask);
/** Hex string without 0x, e.g. "3". Returns a pointer into set-owned static storage per thread. */
const char *usk_cpuset_fmt(const struct usk_cpuset *set);

/* ---- strings ---- */

/** strdup that aborts nothing: NULL in, NULL out. */
char *usk_strdup(const char *s);
/** snprintf into a fresh allocation; NULL on failure. */
char *usk_sprintf_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/**
 * For parsers that report why they failed in a caller's buffer: format the message into err
 * (nothing when err is NULL or err_len 0) and return -EINVAL, so that `return usk_set_err(...)`
 * fails the parse. Any thread.
 */
int usk_set_err(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/** Copy src into dst of dst_len, padding with pad (NVMe serial/model fields). */
void usk_strcpy_pad(void *dst, const char *src, size_t dst_len, int pad);
/** Length of a space-padded field without the padding. */
size_t usk_strlen_pad(const void *str, size_t size, int pad);
/**
 * Make untrusted bytes (wire data, RPC strings) safe to log: copy src[0..src_len) into dst as
 * a NUL-terminated string, stopping at the first NUL byte; printable ASCII is kept, a backslash
 * becomes "\\" and every other byte "\xNN", so a newline or an ANSI escape cannot forge a log
 * line. When dst is too small the result is cut at a whole escape and ends in "...".
 * dst_size must be at least 4. Returns dst (for use as a printf argument). Any thread.
 */
char *usk_str_escape(char *dst, size_t dst_size, const void *src, size_t src_len);
/** Size of a buffer that holds usk_str_escape of src_len bytes uncut. */
#define USK_STR_ESCAPE_SIZE(src_len) ((src_len)*4 + 1)

/* ---- iovecs ---- */

/** Copy from iovs into buf (up to buf_len). Returns bytes copied. */
size_t usk_iov_to_buf(const struct iovec *iovs, int iovcnt, void *buf, size_t buf_len);
/** Copy buf (up to buf_len) into iovs. Returns bytes copied. */
size_t usk_iov_from_buf(const struct iovec *iovs, int iovcnt, const void *buf, size_t buf_len);
/** Total bytes of iovs. */
size_t usk_iov_length(const struct iovec *iovs, int iovcnt);
/** Fill every byte of iovs with c. */
void usk_iov_memset(const struct iovec *iovs, int iovcnt, int c);

/* ---- CRC32C (Castagnoli, ISA-L) ---- */

/**
 * Continue a CRC32C over buf. This is ISA-L's crc32_iscsi(), which applies neither the initial
 * nor the final inversion itself, so the caller does (same convention as SPDK's
 * spdk_crc32c_update):
 *
 *     uint32_t crc = usk_crc32c_update(buf, len, ~0u) ^ ~0u;   // standard CRC32C
 *
 * e.g. "123456789" gives 0xE3069283. Chaining: pass the previous (non-inverted) return value as
 * crc; invert once at the end. NVMe/TCP header and data digests use the standard value.
 */
uint32_t usk_crc32c_update(const void *buf, size_t len, uint32_t crc);
/** usk_crc32c_update over each element of iov in order (same convention). */
uint32_t usk_crc32c_iov_update(const struct iovec *iov, int iovcnt, uint32_t crc);

#ifdef __cplusplus
}
#endif
#endif
