/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The --metrics HTTP endpoint: a non-blocking TCP listener polled on the app thread. One
 * request per connection (Connection: close); a request head is bounded, a connection that
 * has not been answered within METRICS_CONN_DEADLINE_S is closed, as is one that sends a
 * malformed request (after a 4xx reply). Reactors are never blocked: sockets are
 * non-blocking, and a scrape gathers per-thread data by message.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/metrics.h"
#include "usk/thread.h"
#include "usk/util.h"
#include "metrics_internal.h"

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar) \
	for ((var) = TAILQ_FIRST((head)); (var) && ((tvar) = TAILQ_NEXT((var), field), 1); \
	     (var) = (tvar))
#endif

#define METRICS_POLL_PERIOD_US	5000
#define METRICS_MAX_CONNS	64
#define METRICS_CONN_DEADLINE_S 10

enum mconn_state {
	MCONN_READING,	   /* collecting the request head */
	MCONN_WAIT_SCRAPE, /* GET /metrics parsed; waiting for the scrape in flight */
	MCONN_WRITING,	   /* sending out[out_off..out_len), then close */
};

struct mconn {
	int fd;
	enum mconn_state state;
	bool head_only;
	bool dead;	   /* out of memory replying: closed by the poller, never in place */
	uint64_t deadline; /* tick count after which the connection is dropped */
	char in[METRICS_HTTP_MAX_REQUEST];
	size_t in_len;
	char *out;
	size_t out_len;
	size_t out_off;
	char peer[INET_ADDRSTRLEN + 8];
	TAILQ_ENTRY(mconn) link;
};

struct metrics_server {
	int listen_fd;
	uint16_t port;
	struct in_addr addr; /* bound address */
	struct usk_poller *poller;
	TAILQ_HEAD(, mconn) conns;
	size_t nconns;
	bool scrape_in_flight;
	uint64_t generation; /* bumped at close: a scrape of an older one is discarded */
};

static struct metrics_server g_msrv = {.listen_fd = -1,
				       .conns = TAILQ_HEAD_INITIALIZER(g_msrv.conns)};

uint16_t
usk_metrics_get_port(void)
{
	return g_msrv.listen_fd >= 0 ? g_msrv.port : 0;
}

int
usk_metrics_get_address(char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	if (g_msrv.listen_fd < 0) {
		return -ENOTCONN;
	}
	if (inet_ntop(AF_INET, &g_msrv.addr, ip, sizeof(ip)) == NULL ||
	    (size_t)snprintf(buf, len, "%s:%u", ip, g_msrv.port) >= len) {
		return -ENOSPC;
	}
	return 0;
}

static void
mconn_close(struct mconn *c)
{
	TAILQ_REMOVE(&g_msrv.conns, c, link);
	g_msrv.nconns--;
	close(c->fd);
	free(c->out);
	free(c);
}

/* Queue a reply (status line, headers, body) and switch to writing. */
static void
mconn_reply(struct mconn *c, const char *status, const char *ctype, const char *body,
	    size_t body_len)
{
	char *hdr;
	size_t hlen;

	hdr = usk_sprintf_alloc("HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
				"Connection: close\r\n\r\n",
				status, ctype, body_len);
	if (hdr == NULL) {
		c->dead = true;
		return;
	}
	hlen = strlen(hdr);
	if (c->head_only) {
		body_len = 0;
	}
	c->out = malloc(hlen + body_len);
	if (c->out == NULL) {
		free(hdr);
		c->dead = true;
		return;
	}
	memcpy(c->out, hdr, hlen);
	if (body_len > 0) {
		memcpy(c->out + hlen, body, body_len);
	}
	free(hdr);
	c->out_len = hlen + body_len;
	c->out_off = 0;
	c->state = MCONN_WRITING;
}

static void
mconn_reply_text(struct mconn *c, const char *status, const char *text)
{
	mconn_reply(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void
scrape_done(struct usk_metrics_writer *w, void *ctx)
{
	uint64_t gen = (uint64_t)(uintptr_t)ctx;
	struct mconn *c, *tmp;
	const char *text = NULL;
	size_t len = 0;

	if (gen != g_msrv.generation) {
		metrics_writer_free(w);
		return;
	}
	g_msrv.scrape_in_flight = false;
	if (w != NULL) {
		text = metrics_writer_text(w, &len);
	}
	/* Everyone who asked before the scrape finished gets its result. */
	TAILQ_FOREACH_SAFE(c, &g_msrv.conns, link, tmp) {
		if (c->state != MCONN_WAIT_SCRAPE) {
			continue;
		}
		if (text == NULL) {
			mconn_reply_text(c, "500 Internal Server Error", "out of memory\n");
		} else {
			mconn_reply(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", text,
				    len);
		}
	}
	metrics_writer_free(w);
}

/* Log at most 64 bytes of what a client sent, non-printable bytes as \xNN. */
static void
log_bad_request(struct mconn *c, int rc)
{
	char esc[64 * 4 + 1];
	size_t i, o = 0;

	for (i = 0; i < c->in_len && i < 64 && c->in[i] != '\n'; i++) {
		unsigned char b = (unsigned char)c->in[i];

		if (b >= 0x20 && b < 0x7f && b != '\\') {
			esc[o++] = (char)b;
		} else {
			o += (size_t)snprintf(esc + o, sizeof(esc) - o, "\\x%02x", b);
		}
	}
	esc[o] = '\0';
	USK_ERRLOG("metrics: closing %s: %s request \"%s\"\n", c->peer,
		   rc == -E2BIG	  ? "oversized" :
		   rc == -ENOTSUP ? "unsupported HTTP version in" :
				    "malformed",
		   esc);
}

static void
mconn_handle_request(struct mconn *c)
{
	struct metrics_http_request req;
	int rc;

	rc = metrics_http_parse(c->in, c->in_len, &req);
	if (rc == -EAGAIN) {
		return;
	}
	if (rc != 0) {
		log_bad_request(c, rc);
		mconn_reply_text(c,
				 rc == -E2BIG	? "431 Request Header Fields Too Large" :
				 rc == -ENOTSUP ? "505 HTTP Version Not Supported" :
						  "400 Bad Request",
				 "bad request\n");
		return;
	}
	if (req.method == METRICS_HTTP_OTHER) {
		mconn_reply_text(c, "405 Method Not Allowed", "only GET and HEAD\n");
		return;
	}
	c->head_only = req.method == METRICS_HTTP_HEAD;
	if (strcmp(req.path, "/") == 0) {
		static const char index_html[] =
			"<html><body><a href=\"/metrics\">/metrics</a></body></html>\n";

		mconn_reply(c, "200 OK", "text/html; charset=utf-8", index_html,
			    sizeof(index_html) - 1);
		return;
	}
	if (strcmp(req.path, "/metrics") != 0) {
		mconn_reply_text(c, "404 Not Found", "not found; try /metrics\n");
		return;
	}
	c->state = MCONN_WAIT_SCRAPE;
	if (!g_msrv.scrape_in_flight) {
		g_msrv.scrape_in_flight = true;
		metrics_scrape(scrape_done, (void *)(uintptr_t)g_msrv.generation);
	}
}

/* Returns work done; closes c (and returns 1) when it is finished or failed. */
static int
mconn_service(struct mconn *c, uint64_t now)
{
	ssize_t n;

	if (c->dead) {
		mconn_close(c);
		return 1;
	}
	if (now > c->deadline) {
		USK_NOTICELOG("metrics: closing %s: no complete exchange within %d s\n", c->peer,
			      METRICS_CONN_DEADLINE_S);
		mconn_close(c);
		return 1;
	}
	if (c->state == MCONN_READING) {
		n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
		if (n == 0 ||
		    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			mconn_close(c);
			return 1;
		}
		if (n < 0) {
			return 0;
		}
		c->in_len += (size_t)n;
		mconn_handle_request(c);
		if (c->dead) {
			mconn_close(c);
			return 1;
		}
		/* a scrape may have answered synchronously: fall through to writing */
	}
	if (c->state == MCONN_WRITING) {
		while (c->out_off < c->out_len) {
			n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
					return 1;
				}
				mconn_close(c);
				return 1;
			}
			c->out_off += (size_t)n;
		}
		/* Done: half-close so the client sees EOF after the body, then drop it. */
		shutdown(c->fd, SHUT_WR);
		mconn_close(c);
	}
	return 1;
}

static int
server_accept(uint64_t now)
{
	struct sockaddr_in peer;
	socklen_t plen;
	struct mconn *c;
	int fd, n = 0;

	for (;;) {
		plen = sizeof(peer);
		fd = accept4(g_msrv.listen_fd, (struct sockaddr *)&peer, &plen,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				USK_ERRLOG("metrics: accept failed: %s\n", strerror(errno));
			}
			return n;
		}
		n++;
		if (g_msrv.nconns >= METRICS_MAX_CONNS) {
			USK_ERRLOG("metrics: %d connections open; refusing one\n",
				   METRICS_MAX_CONNS);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = MCONN_READING;
		c->deadline = now + METRICS_CONN_DEADLINE_S * usk_get_ticks_hz();
		if (inet_ntop(AF_INET, &peer.sin_addr, c->peer, INET_ADDRSTRLEN) != NULL) {
			snprintf(c->peer + strlen(c->peer), sizeof(c->peer) - strlen(c->peer),
				 ":%u", ntohs(peer.sin_port));
		}
		TAILQ_INSERT_TAIL(&g_msrv.conns, c, link);
		g_msrv.nconns++;
	}
}

static int
server_poll(void *arg)
{
	struct mconn *c, *tmp;
	uint64_t now = usk_get_ticks();
	int work;

	work = server_accept(now);
	TAILQ_FOREACH_SAFE(c, &g_msrv.conns, link, tmp) {
		/* Waiting connections are only watched for their deadline. */
		if (c->state == MCONN_WAIT_SCRAPE && !c->dead) {
			if (now > c->deadline) {
				mconn_close(c);
			}
			continue;
		}
		work += mconn_service(c, now);
	}
	return work > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}

static int
parse_addr(const char *addr, struct sockaddr_in *sin)
{
	const char *colon = strrchr(addr, ':');
	char host[INET_ADDRSTRLEN];
	char *end;
	unsigned long port;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host) || colon[1] == '\0') {
		return -EINVAL;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port > 65535 || colon[1] == '-' || colon[1] == '+') {
		return -EINVAL;
	}
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		return -EINVAL;
	}
	return 0;
}

int
usk_metrics_listen(const char *addr)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int one = 1, rc;

	if (g_msrv.listen_fd >= 0) {
		return -EBUSY;
	}
	if (addr == NULL || parse_addr(addr, &sin) != 0) {
		USK_ERRLOG("metrics: invalid listen address '%s' (want IPv4:PORT)\n",
			   addr ? addr : "");
		return -EINVAL;
	}
	g_msrv.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g_msrv.listen_fd < 0) {
		return -errno;
	}
	setsockopt(g_msrv.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(g_msrv.listen_fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(g_msrv.listen_fd, 64) != 0 ||
	    getsockname(g_msrv.listen_fd, (struct sockaddr *)&sin, &slen) != 0) {
		rc = -errno;
		USK_ERRLOG("metrics: cannot listen on %s: %s\n", addr, strerror(errno));
		goto err_close;
	}
	g_msrv.port = ntohs(sin.sin_port);
	g_msrv.addr = sin.sin_addr;
	/* A timed poller serves both modes: in interrupt mode it is driven by the thread's timerfd.
	 */
	g_msrv.poller = usk_poller_register_named(server_poll, NULL, METRICS_POLL_PERIOD_US,
						  "metrics_http_poll");
	if (g_msrv.poller == NULL) {
		rc = -ENOMEM;
		goto err_close;
	}
	USK_NOTICELOG("metrics: serving http://%s:%u/metrics\n",
		      inet_ntop(AF_INET, &sin.sin_addr, (char[INET_ADDRSTRLEN]){0},
				INET_ADDRSTRLEN),
		      g_msrv.port);
	return 0;

err_close:
	close(g_msrv.listen_fd);
	g_msrv.listen_fd = -1;
	return rc;
}

void
usk_metrics_close(void)
{
	struct mconn *c;

	if (g_msrv.listen_fd < 0) {
		return;
	}
	while ((c = TAILQ_FIRST(&g_msrv.conns)) != NULL) {
		mconn_close(c);
	}
	usk_poller_unregister(&g_msrv.poller);
	close(g_msrv.listen_fd);
	g_msrv.listen_fd = -1;
	g_msrv.port = 0;
	g_msrv.generation++;
	g_msrv.scrape_in_flight = false;
}
