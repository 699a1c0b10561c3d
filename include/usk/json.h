/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON helpers over libjansson: table-driven decoding of RPC params that reports which field
 * was wrong and why, and small builders for config output.
 */
#ifndef USK_JSON_H
#define USK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Decode val into out. Return 0, or -EINVAL with a reason in err (what was expected). */
typedef int (*usk_json_decode_fn)(const json_t *val, void *out, char *err, size_t err_len);

struct usk_json_object_decoder {
	const char *name;
	size_t offset;
	usk_json_decode_fn decode_func;
	bool optional;
};

/**
 * Decode the members of obj listed in decoders into out (+offset each).
 * Unknown members and missing required ones are errors. On error, err gets a message that
 * names the field, e.g. "block_size: must be a power of two >= 512" or
 * "num_blocks: missing required field". Returns 0 or -EINVAL.
 * Strings decoded by usk_json_decode_string are strdup'ed; free them with free().
 * obj NULL (no params) decodes like {}. Error forms: "<field>: missing required field",
 * "<field>: unknown member", "<field>: wrong type: expected an unsigned integer, got a string",
 * "<field>: out of range: 300 is not in 0..255", or "<field>: <reason from a custom decoder>".
 * On error, fields decoded before the failing one may already hold allocations (strings):
 * the caller frees them as usual (zero-initialise out first).
 * A custom decode_func writes only the reason (no field name); the field name is prefixed.
 */
int usk_json_decode_object(const json_t *obj, const struct usk_json_object_decoder *decoders,
			   size_t num_decoders, void *out, char *err, size_t err_len);
/** Same, but members not in decoders are ignored. */
int usk_json_decode_object_relaxed(const json_t *obj,
				   const struct usk_json_object_decoder *decoders,
				   size_t num_decoders, void *out, char *err, size_t err_len);

/**
 * Decoders for usk_json_object_decoder.decode_func: each checks the JSON type and range of val,
 * writes the C value to out (the type in the comment) and returns 0, or -EINVAL with a reason in
 * err. Pure functions, any thread.
 */
int usk_json_decode_string(const json_t *val, void *out, char *err, size_t err_len); /* char ** */
int usk_json_decode_bool(const json_t *val, void *out, char *err, size_t err_len);   /* bool * */
int usk_json_decode_int32(const json_t *val, void *out, char *err, size_t err_len);  /* int32_t * */
int usk_json_decode_uint8(const json_t *val, void *out, char *err, size_t err_len);  /* uint8_t * */
int usk_json_decode_uint16(const json_t *val, void *out, char *err, size_t err_len); /* uint16_t *
										      */
int usk_json_decode_uint32(const json_t *val, void *out, char *err, size_t err_len); /* uint32_t *
										      */
int usk_json_decode_uint64(const json_t *val, void *out, char *err, size_t err_len); /* uint64_t *
										      */
int usk_json_decode_double(const json_t *val, void *out, char *err, size_t err_len); /* double * */
/**
 * A transport service ID such as trsvcid (char **, strdup'ed): a JSON string as
 * usk_json_decode_string, or an integer port 0..65535 as its decimal string (SPDK's schema has a
 * string; usk_rpc trsvcid=4420 sends a number). Returns -ENOMEM when out of memory.
 */
int usk_json_decode_trsvcid(const json_t *val, void *out, char *err, size_t err_len);
/** Decodes an object or array as-is (json_t **, a new reference). */
int usk_json_decode_json(const json_t *val, void *out, char *err, size_t err_len);

/**
 * Append {"method": method, "params": params} to array; params is stolen. A failure (no
 * memory) is recorded as usk_json_set's are.
 */
void usk_json_config_add(json_t *array, const char *method, json_t *params);

/*
 * Checked builders for replies and configuration JSON. jansson's constructors (json_object,
 * json_string, json_pack, ...) return NULL when memory runs out, and json_object_set_new /
 * json_array_append_new then drop the member silently: a reply would go out truncated.
 * usk_json_set / usk_json_append steal value exactly like the _new setters, and on any failure
 * (value or container NULL, no memory) count it process-wide and remember what failed. The
 * JSON-RPC layer compares the count at dispatch and at reply and answers -32603 "Internal
 * error" naming the member instead of sending an incomplete result (lib/rpc/jsonrpc.c).
 * Any thread may call them.
 */

/** json_object_set_new(obj, key, value), counted on failure. Returns 0 or -ENOMEM. */
int usk_json_set(json_t *obj, const char *key, json_t *value);
/** json_array_append_new(arr, value), counted on failure (what = "array element"). */
int usk_json_append(json_t *arr, json_t *value);
/** Count a failure to build what (copied, may be NULL) that the helpers above did not see. */
void usk_json_note_failure(const char *what);
/**
 * Failures counted since the process started (monotonic). what (may be NULL) gets up to
 * what_len bytes of the member name of the latest one ("" if none). The count is
 * process-wide: a request whose reply was built while another failed is failed too; under
 * memory pressure that errs on the side of an error reply, never a truncated one.
 */
uint64_t usk_json_build_failures(char *what, size_t what_len);

#ifdef __cplusplus
}
#endif
#endif
