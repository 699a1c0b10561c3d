/* SPDX-License-Identifier: BSD-3-Clause */
/* HTTP/1.x request-head parser for the metrics endpoint (wire input: strict, bounded). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "metrics_internal.h"

/* RFC 9110 tchar */
static bool
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
ci_equal(const char *a, size_t alen, const char *b)
{
	size_t i;

	if (alen != strlen(b)) {
		return false;
	}
	for (i = 0; i < alen; i++) {
		char x = a[i], y = b[i];

		if (x >= 'A' && x <= 'Z') {
			x = (char)(x - 'A' + 'a');
		}
		if (y >= 'A' && y <= 'Z') {
			y = (char)(y - 'A' + 'a');
		}
		if (x != y) {
			return false;
		}
	}
	return true;
}

/* Find the end of the line starting at buf[off]: index of '\n', or -1. */
static long
line_end(const char *buf, size_t len, size_t off)
{
	const char *nl = memchr(buf + off, '\n', len - off);

	return nl != NULL ? (long)(nl - buf) : -1;
}

/* Request line: METHOD SP request-target SP HTTP/1.x (line excludes the CR LF). */
static int
parse_request_line(const char *l, size_t n, struct metrics_http_request *req)
{
	size_t i = 0, m, t0, tlen, plen;

	while (i < n && is_tchar((unsigned char)l[i])) {
		i++;
	}
	if (i == 0 || i >= n || l[i] != ' ') {
		return -EINVAL;
	}
	m = i;
	if (m == 3 && memcmp(l, "GET", 3) == 0) {
		req->method = METRICS_HTTP_GET;
	} else if (m == 4 && memcmp(l, "HEAD", 4) == 0) {
		req->method = METRICS_HTTP_HEAD;
	} else {
		req->method = METRICS_HTTP_OTHER;
	}
	t0 = ++i;
	while (i < n && l[i] != ' ') {
		/* visible ASCII only in a target */
		if ((unsigned char)l[i] <= 0x20 || (unsigned char)l[i] >= 0x7f) {
			return -EINVAL;
		}
		i++;
	}
	tlen = i - t0;
	if (tlen == 0 || i >= n || l[t0] != '/') {
		return -EINVAL;
	}
	i++;
	if (n - i != 8 || memcmp(l + i, "HTTP/1.", 7) != 0) {
		return (n - i == 8 && memcmp(l + i, "HTTP/", 5) == 0) ? -ENOTSUP : -EINVAL;
	}
	if (l[i + 7] != '0' && l[i + 7] != '1') {
		return -ENOTSUP;
	}
	plen = tlen;
	for (m = 0; m < tlen; m++) {
		if (l[t0 + m] == '?') {
			plen = m;
			break;
		}
	}
	if (plen >= sizeof(req->path)) {
		return -E2BIG;
	}
	memcpy(req->path, l + t0, plen);
	req->path[plen] = '\0';
	return 0;
}

/* field-name ":" OWS field-value OWS; a body (Content-Length > 0, Transfer-Encoding) is refused. */
static int
parse_header(const char *l, size_t n)
{
	size_t i = 0, v;

	while (i < n && is_tchar((unsigned char)l[i])) {
		i++;
	}
	if (i == 0 || i >= n || l[i] != ':') {
		return -EINVAL; /* also refuses obsolete line folding (leading whitespace) */
	}
	for (v = i + 1; v < n; v++) {
		unsigned char c = (unsigned char)l[v];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			return -EINVAL;
		}
	}
	v = i + 1;
	while (v < n && (l[v] == ' ' || l[v] == '\t')) {
		v++;
	}
	if (ci_equal(l, i, "transfer-encoding")) {
		return -EINVAL;
	}
	if (ci_equal(l, i, "content-length")) {
		for (; v < n && l[v] != ' ' && l[v] != '\t'; v++) {
			if (l[v] != '0') {
				return -EINVAL;
			}
		}
	}
	return 0;
}

int
metrics_http_parse(const char *buf, size_t len, struct metrics_http_request *req)
{
	size_t off = 0, scan = len < METRICS_HTTP_MAX_REQUEST ? len : METRICS_HTTP_MAX_REQUEST;
	bool first = true;
	long e;
	int rc;

	memset(req, 0, sizeof(*req));
	for (;;) {
		size_t n;

		e = line_end(buf, scan, off);
		if (e < 0) {
			return len >= METRICS_HTTP_MAX_REQUEST ? -E2BIG : -EAGAIN;
		}
		n = (size_t)e - off;
		if (n > 0 && buf[off + n - 1] == '\r') {
			n--; /* CR LF, or a bare LF as RFC 9112 allows a recipient to accept */
		}
		if (memchr(buf + off, '\0', n) != NULL || memchr(buf + off, '\r', n) != NULL) {
			return -EINVAL;
		}
		if (first) {
			rc = parse_request_line(buf + off, n, req);
			if (rc != 0) {
				return rc;
			}
			first = false;
		} else if (n == 0) {
			req->header_len = (size_t)e + 1;
			return 0;
		} else {
			rc = parse_header(buf + off, n);
			if (rc != 0) {
				return rc;
			}
		}
		off = (size_t)e + 1;
	}
}
