/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the two JSON parsers on the config path: the --json file loader
 * (json_config_load) and the table-driven params decoder (usk_json_decode_object) that every
 * RPC uses; also the -m core mask parser. The first byte picks the parser.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "usk/json.h"
#include "usk/util.h"
#include "event_internal.h"

struct params {
	char *name;
	bool flag;
	int32_t i32;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	double d;
	json_t *obj;
};

static const struct usk_json_object_decoder g_decoders[] = {
	{"name", offsetof(struct params, name), usk_json_decode_string, false},
	{"flag", offsetof(struct params, flag), usk_json_decode_bool, true},
	{"i32", offsetof(struct params, i32), usk_json_decode_int32, true},
	{"u8", offsetof(struct params, u8), usk_json_decode_uint8, true},
	{"u16", offsetof(struct params, u16), usk_json_decode_uint16, true},
	{"u32", offsetof(struct params, u32), usk_json_decode_uint32, true},
	{"u64", offsetof(struct params, u64), usk_json_decode_uint64, true},
	{"d", offsetof(struct params, d), usk_json_decode_double, true},
	{"obj", offsetof(struct params, obj), usk_json_decode_json, true},
};

static void
fuzz_decode(const uint8_t *data, size_t size, bool relaxed)
{
	struct params p = {0};
	char err[256];
	json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);

	if (v == NULL) {
		return;
	}
	if (relaxed) {
		usk_json_decode_object_relaxed(v, g_decoders, USK_COUNTOF(g_decoders), &p, err,
					       sizeof(err));
	} else {
		usk_json_decode_object(v, g_decoders, USK_COUNTOF(g_decoders), &p, err,
				       sizeof(err));
	}
	free(p.name);
	json_decref(p.obj);
	json_decref(v);
}

static void
fuzz_config_file(const uint8_t *data, size_t size)
{
	char path[64], err[256];
	json_t *config = NULL;
	int fd = memfd_create("json_config_fuzz", 0);

	if (fd < 0) {
		return;
	}
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (json_config_load(path, &config, err, sizeof(err)) == 0) {
			json_decref(config);
		}
	}
	close(fd);
}

static void
fuzz_cpuset(const uint8_t *data, size_t size)
{
	struct usk_cpuset set;
	char *s = strndup((const char *)data, size);

	if (s != NULL && usk_cpuset_parse(&set, s) == 0) {
		usk_cpuset_fmt(&set);
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return 0;
	}
	switch (data[0] % 4) {
	case 0:
		fuzz_config_file(data + 1, size - 1);
		break;
	case 1:
		fuzz_decode(data + 1, size - 1, false);
		break;
	case 2:
		fuzz_decode(data + 1, size - 1, true);
		break;
	default:
		fuzz_cpuset(data + 1, size - 1);
		break;
	}
	return 0;
}
