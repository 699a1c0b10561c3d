/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to lib/rpc: the JSON-RPC connection core (framing, dispatch, ordered replies). */
#ifndef USK_RPC_INTERNAL_H
#define USK_RPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <jansson.h>

#include "usk/rpc.h"

struct usk_thread;
struct jsonrpc_conn;

/*
 * One request. Top-level requests of a connection sit in conn->pending in arrival order and
 * are written out only when every request before them has its response (replies in order).
 * A batch is a parent request whose children are not queued; it completes when they all have.
 */
struct usk_jsonrpc_request {
	struct jsonrpc_conn *conn;	    /* NULL for local calls and batch children */
	struct usk_jsonrpc_request *parent; /* batch parent, or NULL */
	json_t *id;			    /* NULL: notification (no reply is sent) */
	json_t *response;		    /* set once the handler has replied */
	json_t *batch;			    /* parent only: responses, one slot per child */
	size_t batch_index;
	size_t batch_outstanding;
	struct usk_thread *thread; /* where the request was received; replies land here */
	usk_rpc_local_cb local_cb;
	void *local_ctx;
	bool done;
	bool replied;		/* guards against a second reply from a buggy handler */
	bool batch_failed;	/* parent only: a child's reply was lost (no memory) */
	uint64_t json_failures; /* usk_json_build_failures() when it arrived */
	TAILQ_ENTRY(usk_jsonrpc_request) link;
};

struct jsonrpc_conn_ops {
	/* Output was appended to the send buffer (possibly from a later async reply). May be NULL.
	 */
	void (*output_ready)(struct jsonrpc_conn *conn);
};

/* Framing state: where the current value starts and how far it has been scanned. */
struct jsonrpc_scan {
	size_t pos; /* bytes of the current value already scanned */
	size_t depth;
	bool started; /* first non-blank byte seen */
	bool in_string;
	bool escape;
};

struct jsonrpc_conn {
	const struct jsonrpc_conn_ops *ops;
	void *ctx; /* owner (the socket connection); NULL once closed */
	char *recv_buf;
	size_t recv_off; /* start of unconsumed input */
	size_t recv_len; /* end of input */
	size_t recv_cap;
	struct jsonrpc_scan scan;
	char *send_buf;
	size_t send_off;
	size_t send_len;
	size_t send_cap;
	size_t outstanding; /* requests whose handler has not replied yet */
	bool fatal;	    /* protocol error: no more input is accepted */
	bool closed;	    /* owner gone; free when outstanding reaches 0 */
	TAILQ_HEAD(, usk_jsonrpc_request) pending;
};

/** Create a connection core. ops may be NULL (tests read the send buffer directly). */
struct jsonrpc_conn *jsonrpc_conn_create(const struct jsonrpc_conn_ops *ops, void *ctx);
/**
 * Append input and process every complete JSON value in it (dispatching requests).
 * Returns 0, or -EPROTO after a fatal error (malformed or oversized input): an error response
 * has been queued and the connection should close once it is written.
 */
int jsonrpc_conn_recv(struct jsonrpc_conn *conn, const void *data, size_t len);
/** Bytes ready to send, and marking n of them as sent. */
const char *jsonrpc_conn_output(struct jsonrpc_conn *conn, size_t *len);
void jsonrpc_conn_consume_output(struct jsonrpc_conn *conn, size_t n);
/** The owner is going away: drop output; the core is freed when no request is outstanding. */
void jsonrpc_conn_close(struct jsonrpc_conn *conn);

/* rpc.c: look up and run the method for a parsed request (replies through request). */
void rpc_dispatch(struct usk_jsonrpc_request *request, const char *method, const json_t *params);
/* jsonrpc.c: build a request for a local call. */
struct usk_jsonrpc_request *jsonrpc_request_local(usk_rpc_local_cb cb, void *ctx);

#endif
