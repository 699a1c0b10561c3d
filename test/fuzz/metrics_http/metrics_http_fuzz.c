/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer: metrics_http_parse on arbitrary bytes; checks the invariants of a parsed head. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../../lib/event/metrics_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct metrics_http_request req;
	/* an exact-size copy, so ASan sees any read past the end */
	char *buf = malloc(size ? size : 1);
	size_t i;
	int rc;

	if (buf == NULL) {
		return 0;
	}
	memcpy(buf, data, size);
	rc = metrics_http_parse(buf, size, &req);
	assert(rc == 0 || rc == -EAGAIN || rc == -EINVAL || rc == -E2BIG || rc == -ENOTSUP);
	if (rc == 0) {
		assert(req.header_len > 0 && req.header_len <= size);
		assert(req.header_len <= METRICS_HTTP_MAX_REQUEST);
		assert(buf[req.header_len - 1] == '\n');
		assert(req.path[0] == '/');
		for (i = 0; req.path[i] != '\0'; i++) {
			assert((unsigned char)req.path[i] > 0x20 &&
			       (unsigned char)req.path[i] < 0x7f);
		}
	}
	if (rc == -EAGAIN) {
		assert(size < METRICS_HTTP_MAX_REQUEST);
	}
	free(buf);
	return 0;
}
