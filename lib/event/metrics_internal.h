/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to lib/event: metrics writer, scrape driver and the HTTP request parser. */
#ifndef USK_METRICS_INTERNAL_H
#define USK_METRICS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "usk/metrics.h"

/* ---- metrics.c: writer (libc only, so the unit test and fuzz build take it alone) ---- */

struct usk_metrics_writer *metrics_writer_create(void);
void metrics_writer_free(struct usk_metrics_writer *w);
/**
 * The exposition text of everything added so far (NUL-terminated, *len without the NUL);
 * owned by w, valid until the next add or free. NULL when an add ran out of memory.
 */
const char *metrics_writer_text(struct usk_metrics_writer *w, size_t *len);

typedef void (*metrics_scrape_cb)(struct usk_metrics_writer *w, void *ctx);
/** Run every registered collector in turn on the app thread, then cb(w, ctx); cb frees w. */
void metrics_scrape(metrics_scrape_cb cb, void *ctx);
/** Forget the registered collectors (unit tests). */
void metrics_registry_reset(void);

/* ---- metrics_http.c: request parser (libc only) ---- */

#define METRICS_HTTP_MAX_REQUEST 8192

enum metrics_http_method {
	METRICS_HTTP_GET,
	METRICS_HTTP_HEAD,
	METRICS_HTTP_OTHER,
};

struct metrics_http_request {
	enum metrics_http_method method;
	char path[256];	   /* target without the query string */
	size_t header_len; /* bytes up to and including the blank line */
};

/**
 * Parse an HTTP/1.x request head in buf[0..len). Returns 0 with req filled when the head is
 * complete, -EAGAIN when more bytes are needed, -EINVAL when malformed (bad request line,
 * header syntax, control bytes, a body announced), -E2BIG when the head exceeds
 * METRICS_HTTP_MAX_REQUEST or the target exceeds req->path, -ENOTSUP for a version other
 * than 1.0/1.1.
 */
int metrics_http_parse(const char *buf, size_t len, struct metrics_http_request *req);

#endif
