/* SPDX-License-Identifier: BSD-3-Clause */
/* Table-driven JSON decoding over libjansson with errors that name the field and the reason. */
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/json.h"
#include "usk/util.h"

static const char *
type_name(const json_t *val)
{
	switch (json_typeof(val)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

static int
wrong_type(const json_t *val, const char *expected, char *err, size_t err_len)
{
	return usk_set_err(err, err_len, "wrong type: expected %s, got %s", expected,
			   val ? type_name(val) : "nothing");
}

int
usk_json_decode_string(const json_t *val, void *out, char *err, size_t err_len)
{
	char *s;

	if (val == NULL || !json_is_string(val)) {
		return wrong_type(val, "a string", err, err_len);
	}
	s = strdup(json_string_value(val));
	if (s == NULL) {
		return usk_set_err(err, err_len, "out of memory");
	}
	*(char **)out = s;
	return 0;
}

int
usk_json_decode_trsvcid(const json_t *val, void *out, char *err, size_t err_len)
{
	char **s = out;

	if (json_is_integer(val)) {
		if (json_integer_value(val) < 0 || json_integer_value(val) > 65535) {
			return usk_set_err(err, err_len, "out of range: a port is 0..65535");
		}
		*s = usk_sprintf_alloc("%lld", (long long)json_integer_value(val));
		return *s == NULL ? -ENOMEM : 0;
	}
	return usk_json_decode_string(val, out, err, err_len);
}

int
usk_json_decode_bool(const json_t *val, void *out, char *err, size_t err_len)
{
	if (val == NULL || !json_is_boolean(val)) {
		return wrong_type(val, "a boolean", err, err_len);
	}
	*(bool *)out = json_is_true(val);
	return 0;
}

static int
decode_int_range(const json_t *val, json_int_t min, json_int_t max, const char *what, json_int_t *v,
		 char *err, size_t err_len)
{
	if (val == NULL || !json_is_integer(val)) {
		return wrong_type(val, what, err, err_len);
	}
	*v = json_integer_value(val);
	if (*v < min || *v > max) {
		return usk_set_err(err, err_len,
				   "out of range: %" JSON_INTEGER_FORMAT
				   " is not in %" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT,
				   *v, min, max);
	}
	return 0;
}

int
usk_json_decode_int32(const json_t *val, void *out, char *err, size_t err_len)
{
	json_int_t v = 0;
	int rc = decode_int_range(val, INT32_MIN, INT32_MAX, "an integer", &v, err, err_len);

	if (rc == 0) {
		*(int32_t *)out = (int32_t)v;
	}
	return rc;
}

int
usk_json_decode_uint8(const json_t *val, void *out, char *err, size_t err_len)
{
	json_int_t v = 0;
	int rc = decode_int_range(val, 0, UINT8_MAX, "an unsigned integer", &v, err, err_len);

	if (rc == 0) {
		*(uint8_t *)out = (uint8_t)v;
	}
	return rc;
}

int
usk_json_decode_uint16(const json_t *val, void *out, char *err, size_t err_len)
{
	json_int_t v = 0;
	int rc = decode_int_range(val, 0, UINT16_MAX, "an unsigned integer", &v, err, err_len);

	if (rc == 0) {
		*(uint16_t *)out = (uint16_t)v;
	}
	return rc;
}

int
usk_json_decode_uint32(const json_t *val, void *out, char *err, size_t err_len)
{
	json_int_t v = 0;
	int rc = decode_int_range(val, 0, UINT32_MAX, "an unsigned integer", &v, err, err_len);

	if (rc == 0) {
		*(uint32_t *)out = (uint32_t)v;
	}
	return rc;
}

int
usk_json_decode_uint64(const json_t *val, void *out, char *err, size_t err_len)
{
	json_int_t v = 0;
	/* jansson stores integers as long long, so values above INT64_MAX never reach us. */
	int rc = decode_int_range(val, 0, INT64_MAX, "an unsigned integer", &v, err, err_len);

	if (rc == 0) {
		*(uint64_t *)out = (uint64_t)v;
	}
	return rc;
}

int
usk_json_decode_double(const json_t *val, void *out, char *err, size_t err_len)
{
	if (val == NULL || !json_is_number(val)) {
		return wrong_type(val, "a number", err, err_len);
	}
	*(double *)out = json_number_value(val);
	return 0;
}

int
usk_json_decode_json(const json_t *val, void *out, char *err, size_t err_len)
{
	if (val == NULL || !(json_is_object(val) || json_is_array(val))) {
		return wrong_type(val, "an object or an array", err, err_len);
	}
	*(json_t **)out = json_incref((json_t *)val);
	return 0;
}

static int
decode_object(const json_t *obj, const struct usk_json_object_decoder *decoders,
	      size_t num_decoders, void *out, char *err, size_t err_len, bool relaxed)
{
	char reason[256];
	const char *key;
	json_t *member;
	size_t i;

	if (err != NULL && err_len > 0) {
		err[0] = '\0';
	}
	/* A missing params object decodes like {}: fine when every field is optional. */
	if (obj != NULL && !json_is_object(obj)) {
		return wrong_type(obj, "an object", err, err_len);
	}
	if (obj != NULL && !relaxed) {
		json_object_foreach((json_t *)obj, key, member)
		{
			for (i = 0; i < num_decoders; i++) {
				if (strcmp(decoders[i].name, key) == 0) {
					break;
				}
			}
			if (i == num_decoders) {
				return usk_set_err(err, err_len, "%s: unknown member", key);
			}
		}
	}
	for (i = 0; i < num_decoders; i++) {
		member = obj ? json_object_get(obj, decoders[i].name) : NULL;
		if (member == NULL) {
			if (!decoders[i].optional) {
				return usk_set_err(err, err_len, "%s: missing required field",
						   decoders[i].name);
			}
			continue;
		}
		reason[0] = '\0';
		if (decoders[i].decode_func(member, (char *)out + decoders[i].offset, reason,
					    sizeof(reason)) != 0) {
			return usk_set_err(err, err_len, "%s: %s", decoders[i].name,
					   reason[0] ? reason : "invalid value");
		}
	}
	return 0;
}

int
usk_json_decode_object(const json_t *obj, const struct usk_json_object_decoder *decoders,
		       size_t num_decoders, void *out, char *err, size_t err_len)
{
	return decode_object(obj, decoders, num_decoders, out, err, err_len, false);
}

int
usk_json_decode_object_relaxed(const json_t *obj, const struct usk_json_object_decoder *decoders,
			       size_t num_decoders, void *out, char *err, size_t err_len)
{
	return decode_object(obj, decoders, num_decoders, out, err, err_len, true);
}

void
usk_json_config_add(json_t *array, const char *method, json_t *params)
{
	json_t *entry;

	entry = json_object();
	if (entry == NULL) {
		json_decref(params);
		usk_json_note_failure(method);
		return;
	}
	usk_json_set(entry, "method", json_string(method));
	if (params != NULL) {
		usk_json_set(entry, "params", params);
	}
	/* On failure entry (and the stolen params) were released. */
	usk_json_append(array, entry);
}

/* Failures are rare (out of memory): one mutex for the count and the name is enough. */
static pthread_mutex_t g_json_fail_mutex = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_json_failures;
static char g_json_last_failure[64];

void
usk_json_note_failure(const char *what)
{
	pthread_mutex_lock(&g_json_fail_mutex);
	g_json_failures++;
	snprintf(g_json_last_failure, sizeof(g_json_last_failure), "%s", what != NULL ? what : "?");
	pthread_mutex_unlock(&g_json_fail_mutex);
}

uint64_t
usk_json_build_failures(char *what, size_t what_len)
{
	uint64_t n;

	pthread_mutex_lock(&g_json_fail_mutex);
	n = g_json_failures;
	if (what != NULL && what_len > 0) {
		snprintf(what, what_len, "%s", g_json_last_failure);
	}
	pthread_mutex_unlock(&g_json_fail_mutex);
	return n;
}

int
usk_json_set(json_t *obj, const char *key, json_t *value)
{
	if (obj == NULL || value == NULL) {
		json_decref(value);
		usk_json_note_failure(key);
		return -ENOMEM;
	}
	if (json_object_set_new(obj, key, value) != 0) {
		usk_json_note_failure(key);
		return -ENOMEM;
	}
	return 0;
}

int
usk_json_append(json_t *arr, json_t *value)
{
	if (arr == NULL || value == NULL) {
		json_decref(value);
		usk_json_note_failure("array element");
		return -ENOMEM;
	}
	if (json_array_append_new(arr, value) != 0) {
		usk_json_note_failure("array element");
		return -ENOMEM;
	}
	return 0;
}
