/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON-RPC unix-socket server: listener, non-blocking connections, pollers or interrupts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "usk/log.h"
#include "usk/thread.h"
#include "rpc_internal.h"

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar) \
	for ((var) = TAILQ_FIRST((head)); (var) && ((tvar) = TAILQ_NEXT((var), field), 1); \
	     (var) = (tvar))
#endif

#define RPC_POLL_PERIOD_US 4000
#define RPC_RECV_CHUNK	   (64 * 1024)
/*
 * Unread replies a client may leave queued here. A client that sends more requests while this
 * much is still unread does not read its replies: it is closed (it would hold the connection
 * and the memory forever otherwise).
 */
#define RPC_SEND_BACKLOG_MAX (8 * 1024 * 1024)
#define RPC_MAX_CONNS	     1024
/* Bound the work one connection gets per wake-up so one client cannot starve the others. */
#define RPC_RECV_BUDGET 16

struct rpc_sconn {
	int fd;
	struct jsonrpc_conn *core;
	struct usk_interrupt *intr;
	uint32_t events; /* events registered with intr (0: not registered) */
	bool peer_eof;
	bool in_service;
	bool dead; /* I/O error: close at the end of service */
	TAILQ_ENTRY(rpc_sconn) link;
};

struct rpc_server {
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct usk_poller *poller;
	struct usk_interrupt *listen_intr;
	struct usk_thread *thread;
	TAILQ_HEAD(, rpc_sconn) conns;
	size_t nconns;
	int in_service; /* >0 while handlers may run from the server's own stack */
	bool close_pending;
	bool interrupt;
};

static struct rpc_server g_srv = {.listen_fd = -1, .conns = TAILQ_HEAD_INITIALIZER(g_srv.conns)};

static void sconn_service(struct rpc_sconn *sc);
static void server_close_now(void);

static void
sconn_close(struct rpc_sconn *sc)
{
	usk_interrupt_unregister(&sc->intr);
	close(sc->fd);
	jsonrpc_conn_close(sc->core);
	TAILQ_REMOVE(&g_srv.conns, sc, link);
	g_srv.nconns--;
	free(sc);
}

static void
sconn_output_ready(struct jsonrpc_conn *core)
{
	struct rpc_sconn *sc = core->ctx;

	/* Replies made inside sconn_service are flushed by it once the handler returns. */
	if (sc != NULL && !sc->in_service) {
		g_srv.in_service++;
		sconn_service(sc);
		g_srv.in_service--;
		if (g_srv.in_service == 0 && g_srv.close_pending) {
			server_close_now();
		}
	}
}

static const struct jsonrpc_conn_ops g_sconn_ops = {
	.output_ready = sconn_output_ready,
};

static int sconn_intr_fn(void *arg);

/* Make the registered events match what the connection waits for (interrupt mode only). */
static void
sconn_update_events(struct rpc_sconn *sc)
{
	uint32_t want = 0;
	size_t out;

	if (!g_srv.interrupt) {
		return;
	}
	jsonrpc_conn_output(sc->core, &out);
	if (!sc->peer_eof && !sc->core->fatal) {
		want |= EPOLLIN;
	}
	if (out > 0) {
		want |= EPOLLOUT;
	}
	if (want == sc->events) {
		return;
	}
	if (want == 0) {
		usk_interrupt_unregister(&sc->intr);
	} else if (sc->intr == NULL) {
		sc->intr = usk_interrupt_register_for_events(sc->fd, want, sconn_intr_fn, sc,
							     "rpc_conn");
		if (sc->intr == NULL) {
			USK_ERRLOG("cannot watch RPC connection fd %d\n", sc->fd);
			sc->dead = true;
			want = 0;
		}
	} else if (usk_interrupt_set_event_types(sc->intr, want) != 0) {
		sc->dead = true;
	}
	sc->events = want;
}

static void
sconn_flush(struct rpc_sconn *sc)
{
	const char *buf;
	size_t len;
	ssize_t n;

	for (;;) {
		buf = jsonrpc_conn_output(sc->core, &len);
		if (len == 0) {
			return;
		}
		n = send(sc->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			jsonrpc_conn_consume_output(sc->core, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		}
		/* Client gone mid-reply: drop this connection only. */
		sc->dead = true;
		return;
	}
}

static int
sconn_read(struct rpc_sconn *sc)
{
	char buf[RPC_RECV_CHUNK];
	size_t out;
	ssize_t n;
	int work = 0, i;

	for (i = 0; i < RPC_RECV_BUDGET && !sc->peer_eof && !sc->core->fatal && !sc->dead; i++) {
		jsonrpc_conn_output(sc->core, &out);
		if (out > RPC_SEND_BACKLOG_MAX) {
			char c;

			/* a big reply being read is fine; more requests on top of it are not */
			if (recv(sc->fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) > 0) {
				USK_ERRLOG(
					"RPC client on fd %d sends requests but has %zu bytes of replies "
					"unread (limit %d): closing the connection\n",
					sc->fd, out, RPC_SEND_BACKLOG_MAX);
				sc->dead = true;
			}
			break;
		}
		n = recv(sc->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			work++;
			jsonrpc_conn_recv(sc->core, buf, (size_t)n);
			sconn_flush(sc);
			continue;
		}
		if (n == 0) {
			sc->peer_eof = true;
			work++;
			break;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			sc->dead = true;
		}
		break;
	}
	return work;
}

static void
sconn_service(struct rpc_sconn *sc)
{
	size_t out;

	sc->in_service = true;
	sconn_read(sc);
	sconn_flush(sc);
	sc->in_service = false;
	jsonrpc_conn_output(sc->core, &out);
	if (sc->dead) {
		sconn_close(sc);
		return;
	}
	/* After a protocol error the error reply is sent, then the connection closes. */
	if (out == 0 && (sc->core->fatal || (sc->peer_eof && sc->core->outstanding == 0))) {
		sconn_close(sc);
		return;
	}
	sconn_update_events(sc);
	if (sc->dead) {
		sconn_close(sc);
	}
}

static int
sconn_intr_fn(void *arg)
{
	g_srv.in_service++;
	sconn_service(arg);
	g_srv.in_service--;
	if (g_srv.in_service == 0 && g_srv.close_pending) {
		server_close_now();
	}
	return 1;
}

static int
server_accept(void)
{
	struct rpc_sconn *sc;
	int fd, n = 0;

	for (;;) {
		fd = accept4(g_srv.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				USK_ERRLOG("RPC accept failed: %s\n", strerror(errno));
			}
			return n;
		}
		n++;
		if (g_srv.nconns >= RPC_MAX_CONNS) {
			USK_ERRLOG("too many RPC connections (%d); refusing one\n", RPC_MAX_CONNS);
			close(fd);
			continue;
		}
		sc = calloc(1, sizeof(*sc));
		if (sc == NULL) {
			close(fd);
			continue;
		}
		sc->fd = fd;
		sc->core = jsonrpc_conn_create(&g_sconn_ops, sc);
		if (sc->core == NULL) {
			close(fd);
			free(sc);
			continue;
		}
		TAILQ_INSERT_TAIL(&g_srv.conns, sc, link);
		g_srv.nconns++;
		sconn_update_events(sc);
		if (sc->dead) {
			sconn_close(sc);
		}
	}
}

static int
server_poll(void *arg)
{
	struct rpc_sconn *sc, *tmp;
	int work;

	g_srv.in_service++;
	work = server_accept();
	TAILQ_FOREACH_SAFE(sc, &g_srv.conns, link, tmp) {
		sconn_service(sc);
		work++;
	}
	g_srv.in_service--;
	if (g_srv.in_service == 0 && g_srv.close_pending) {
		server_close_now();
	}
	return work > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}

static int
listen_intr_fn(void *arg)
{
	int n;

	g_srv.in_service++;
	n = server_accept();
	g_srv.in_service--;
	if (g_srv.in_service == 0 && g_srv.close_pending) {
		server_close_now();
	}
	return n;
}

/* Replace a stale socket file; refuse a live one. */
static int
check_stale(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0) {
		return errno == ENOENT ? 0 : -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		USK_ERRLOG("RPC address %s exists and is not a socket\n", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	close(fd);
	if (rc == 0) {
		USK_ERRLOG("RPC address %s is in use by another process\n", path);
		return -EADDRINUSE;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		return -errno;
	}
	return 0;
}

int
usk_rpc_listen(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char tmp_path[sizeof(addr.sun_path) + 32];
	mode_t old_umask;
	int rc;

	if (path == NULL) {
		path = USK_DEFAULT_RPC_ADDR;
	}
	if (g_srv.listen_fd >= 0) {
		return -EBUSY;
	}
	if (strlen(path) >= sizeof(addr.sun_path)) {
		USK_ERRLOG("RPC address %s is too long (max %zu bytes)\n", path,
			   sizeof(addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	rc = check_stale(path);
	if (rc != 0) {
		return rc;
	}
	/* Bind and listen under a temporary name, then rename into place: a client that sees
	 * the socket file can connect at once (no ECONNREFUSED window between bind and listen). */
	if (snprintf(tmp_path, sizeof(tmp_path), "%s.%d.tmp", path, (int)getpid()) >=
	    (int)sizeof(addr.sun_path)) {
		snprintf(tmp_path, sizeof(tmp_path), "%s", path); /* no room: bind in place */
	}
	memcpy(addr.sun_path, tmp_path, strlen(tmp_path) + 1); /* fits: checked above */
	unlink(tmp_path);
	g_srv.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g_srv.listen_fd < 0) {
		rc = -errno;
		USK_ERRLOG("cannot create RPC socket: %s\n", strerror(errno));
		return rc;
	}
	old_umask = umask(0177);
	rc = bind(g_srv.listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old_umask);
	if (rc != 0) {
		rc = -errno;
		USK_ERRLOG("cannot bind RPC socket %s: %s\n", path, strerror(errno));
		goto err_close;
	}
	chmod(tmp_path, 0600);
	if (listen(g_srv.listen_fd, 128) != 0) {
		rc = -errno;
		USK_ERRLOG("cannot listen on RPC socket %s: %s\n", path, strerror(errno));
		unlink(tmp_path);
		goto err_close;
	}
	if (strcmp(tmp_path, path) != 0 && rename(tmp_path, path) != 0) {
		rc = -errno;
		USK_ERRLOG("cannot move RPC socket into place at %s: %s\n", path, strerror(errno));
		unlink(tmp_path);
		goto err_close;
	}
	snprintf(g_srv.path, sizeof(g_srv.path), "%s", path);
	g_srv.thread = usk_get_thread();
	g_srv.interrupt = usk_interrupt_mode_is_enabled();
	if (g_srv.interrupt) {
		g_srv.listen_intr =
			usk_interrupt_register(g_srv.listen_fd, listen_intr_fn, NULL, "rpc_listen");
		if (g_srv.listen_intr == NULL) {
			rc = -ENOMEM;
			goto err_unlink;
		}
	} else {
		g_srv.poller = usk_poller_register_named(server_poll, NULL, RPC_POLL_PERIOD_US,
							 "rpc_subsystem_poll");
		if (g_srv.poller == NULL) {
			rc = -ENOMEM;
			goto err_unlink;
		}
	}
	USK_NOTICELOG("RPC server listening on %s\n", path);
	return 0;

err_unlink:
	unlink(path);
	g_srv.path[0] = '\0';
err_close:
	close(g_srv.listen_fd);
	g_srv.listen_fd = -1;
	return rc;
}

static void
server_close_now(void)
{
	struct rpc_sconn *sc;

	g_srv.close_pending = false;
	while ((sc = TAILQ_FIRST(&g_srv.conns)) != NULL) {
		sconn_close(sc);
	}
	usk_poller_unregister(&g_srv.poller);
	usk_interrupt_unregister(&g_srv.listen_intr);
	if (g_srv.listen_fd >= 0) {
		close(g_srv.listen_fd);
		g_srv.listen_fd = -1;
	}
	if (g_srv.path[0] != '\0') {
		unlink(g_srv.path);
		g_srv.path[0] = '\0';
	}
}

void
usk_rpc_close(void)
{
	/* Inside a handler called from the server: close once the stack unwinds. */
	if (g_srv.in_service > 0) {
		g_srv.close_pending = true;
		return;
	}
	server_close_now();
}
