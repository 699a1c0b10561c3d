/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON-RPC 2.0 connection core: framing of a byte stream into requests, dispatch, ordered replies.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/json.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "rpc_internal.h"

#define RECV_BUF_MIN 4096
/* The error sent for a protocol failure carries at most this much of jansson's text. */
#define ERR_MSG_LEN 256

static void request_complete(struct usk_jsonrpc_request *req);

static int
buf_reserve(char **buf, size_t *cap, size_t need)
{
	size_t ncap;
	char *nbuf;

	if (need <= *cap) {
		return 0;
	}
	ncap = *cap ? *cap : RECV_BUF_MIN;
	while (ncap < need) {
		ncap *= 2;
	}
	nbuf = realloc(*buf, ncap);
	if (nbuf == NULL) {
		return -ENOMEM;
	}
	*buf = nbuf;
	*cap = ncap;
	return 0;
}

struct jsonrpc_conn *
jsonrpc_conn_create(const struct jsonrpc_conn_ops *ops, void *ctx)
{
	struct jsonrpc_conn *conn = calloc(1, sizeof(*conn));

	if (conn == NULL) {
		return NULL;
	}
	conn->ops = ops;
	conn->ctx = ctx;
	TAILQ_INIT(&conn->pending);
	return conn;
}

static void
conn_free(struct jsonrpc_conn *conn)
{
	struct usk_jsonrpc_request *req;

	while ((req = TAILQ_FIRST(&conn->pending)) != NULL) {
		/* Only completed requests can remain here once outstanding is 0. */
		TAILQ_REMOVE(&conn->pending, req, link);
		json_decref(req->id);
		json_decref(req->response);
		free(req);
	}
	free(conn->recv_buf);
	free(conn->send_buf);
	free(conn);
}

void
jsonrpc_conn_close(struct jsonrpc_conn *conn)
{
	if (conn == NULL) {
		return;
	}
	conn->closed = true;
	conn->ctx = NULL;
	conn->fatal = true;
	conn->send_off = conn->send_len = 0;
	if (conn->outstanding == 0) {
		conn_free(conn);
	}
}

const char *
jsonrpc_conn_output(struct jsonrpc_conn *conn, size_t *len)
{
	*len = conn->send_len - conn->send_off;
	/* No buffer yet: NULL + 0 is undefined behaviour in C. */
	return conn->send_buf == NULL ? NULL : conn->send_buf + conn->send_off;
}

void
jsonrpc_conn_consume_output(struct jsonrpc_conn *conn, size_t n)
{
	conn->send_off += n;
	if (conn->send_off >= conn->send_len) {
		conn->send_off = conn->send_len = 0;
	}
}

static bool
conn_append_raw(struct jsonrpc_conn *conn, const char *text, size_t len)
{
	if (conn->send_off > 0 && conn->send_off == conn->send_len) {
		conn->send_off = conn->send_len = 0;
	}
	if (buf_reserve(&conn->send_buf, &conn->send_cap, conn->send_len + len) != 0) {
		USK_ERRLOG("out of memory for a JSON-RPC response of %zu bytes\n", len);
		return false;
	}
	memcpy(conn->send_buf + conn->send_len, text, len);
	conn->send_len += len;
	return true;
}

/*
 * The reply for a request whose response could not be built or serialised (no memory): an
 * Internal error with the request's id, formatted without allocating, so the client gets an
 * answer instead of waiting for one. An id that would need escaping becomes null.
 */
static void
conn_append_oom(struct jsonrpc_conn *conn, const json_t *id)
{
	char idtxt[96] = "null", text[256];
	int n;

	if (json_is_integer(id)) {
		snprintf(idtxt, sizeof(idtxt), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
	} else if (json_is_string(id) && json_string_length(id) < sizeof(idtxt) - 2) {
		const char *s = json_string_value(id);
		bool plain = true;

		for (size_t i = 0; s[i] != '\0'; i++) {
			if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ||
			    s[i] == '"' || s[i] == '\\') {
				plain = false;
				break;
			}
		}
		if (plain && strlen(s) == json_string_length(id)) {
			snprintf(idtxt, sizeof(idtxt), "\"%s\"", s);
		}
	}
	n = snprintf(text, sizeof(text),
		     "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":%d,\"message\":"
		     "\"Internal error: out of memory building the reply\"}}",
		     idtxt, USK_JSONRPC_ERROR_INTERNAL_ERROR);
	conn_append_raw(conn, text, (size_t)n);
}

static void
conn_append_json(struct jsonrpc_conn *conn, const json_t *resp, const json_t *id)
{
	char *text = json_dumps(resp, JSON_COMPACT);

	/*
	 * jansson 2.14 can drop a byte and still return text when an allocation fails inside
	 * json_dumps (seen: a key's closing quote). Check the length against a dump that only
	 * counts (no output buffer): any difference means the text is damaged.
	 */
	if (text == NULL || strlen(text) != json_dumpb(resp, NULL, 0, JSON_COMPACT)) {
		USK_ERRLOG("cannot serialise a JSON-RPC response (out of memory)\n");
		free(text);
		conn_append_oom(conn, id);
		return;
	}
	conn_append_raw(conn, text, strlen(text));
	free(text);
}

/* Write out every completed request at the head of the queue (replies stay in order). */
static void
conn_flush_ready(struct jsonrpc_conn *conn)
{
	struct usk_jsonrpc_request *req;
	bool appended = false;

	while ((req = TAILQ_FIRST(&conn->pending)) != NULL && req->done) {
		TAILQ_REMOVE(&conn->pending, req, link);
		if (req->response != NULL && !conn->closed) {
			conn_append_json(conn, req->response, req->id);
			appended = true;
		} else if (req->id != NULL && !conn->closed) {
			/* A reply was due but could not be built. */
			conn_append_oom(conn, req->id);
			appended = true;
		}
		json_decref(req->id);
		json_decref(req->response);
		json_decref(req->batch);
		free(req);
	}
	if (appended && conn->ops != NULL && conn->ops->output_ready != NULL && conn->ctx != NULL) {
		conn->ops->output_ready(conn);
	}
}

static struct usk_jsonrpc_request *
request_alloc(struct jsonrpc_conn *conn, struct usk_jsonrpc_request *parent, size_t index)
{
	struct usk_jsonrpc_request *req = calloc(1, sizeof(*req));

	if (req == NULL) {
		return NULL;
	}
	req->thread = usk_get_thread();
	req->parent = parent;
	req->batch_index = index;
	req->json_failures = usk_json_build_failures(NULL, 0);
	if (parent == NULL && conn != NULL) {
		req->conn = conn;
		conn->outstanding++;
		TAILQ_INSERT_TAIL(&conn->pending, req, link);
	}
	return req;
}

struct usk_jsonrpc_request *
jsonrpc_request_local(usk_rpc_local_cb cb, void *ctx)
{
	struct usk_jsonrpc_request *req = request_alloc(NULL, NULL, 0);

	if (req == NULL) {
		return NULL;
	}
	req->local_cb = cb;
	req->local_ctx = ctx;
	/* A local call always wants the response, whatever the id. */
	req->id = json_integer(0);
	return req;
}

/* NULL when out of memory (the flush then writes conn_append_oom's reply). value is stolen. */
static json_t *
make_response(json_t *id, const char *key, json_t *value)
{
	json_t *resp = value != NULL ? json_object() : NULL;

	if (resp == NULL || json_object_set_new(resp, "jsonrpc", json_string("2.0")) != 0 ||
	    json_object_set(resp, "id", id ? id : json_null()) != 0) {
		json_decref(resp);
		json_decref(value);
		return NULL;
	}
	if (json_object_set_new(resp, key, value) != 0) {
		/* json_object_set_new released value. */
		json_decref(resp);
		return NULL;
	}
	return resp;
}

static json_t *
make_error(int code, const char *msg)
{
	json_t *err = json_object();

	if (err == NULL || json_object_set_new(err, "code", json_integer(code)) != 0 ||
	    json_object_set_new(err, "message", json_string(msg ? msg : "")) != 0) {
		json_decref(err);
		return NULL;
	}
	return err;
}

/* One child (or the parent's own hold) is done; the last one completes the batch. */
static void
batch_put(struct usk_jsonrpc_request *parent)
{
	json_t *arr, *v;
	size_t i;

	if (--parent->batch_outstanding > 0) {
		return;
	}
	/* Drop the notifications' placeholders; an all-notification batch gets no reply. */
	arr = parent->batch_failed ? NULL : json_array();
	if (arr != NULL) {
		json_array_foreach(parent->batch, i, v)
		{
			if (!json_is_null(v) && json_array_append(arr, v) != 0) {
				json_decref(arr);
				arr = NULL;
				break;
			}
		}
	}
	if (arr == NULL) {
		/* Out of memory somewhere in the batch: one Internal error (null id) for all of it.
		 */
		parent->batch_failed = true;
		parent->id = json_null();
	} else if (json_array_size(arr) > 0) {
		parent->response = arr;
	} else {
		json_decref(arr);
	}
	request_complete(parent);
}

static void
batch_child_done(struct usk_jsonrpc_request *child)
{
	struct usk_jsonrpc_request *parent = child->parent;

	if (child->response != NULL) {
		if (json_array_set(parent->batch, child->batch_index, child->response) != 0) {
			parent->batch_failed = true;
		}
	} else if (child->id != NULL) {
		/* Its reply could not be built. */
		parent->batch_failed = true;
	}
	json_decref(child->id);
	json_decref(child->response);
	free(child);
	batch_put(parent);
}

/* The response is in req->response (or NULL for none); finish on the receiving thread. */
static void
request_finish(struct usk_jsonrpc_request *req)
{
	struct jsonrpc_conn *conn = req->conn;

	if (req->local_cb != NULL) {
		json_t *resp = req->response ? req->response : json_null();

		req->local_cb(req->local_ctx, resp);
		json_decref(req->id);
		json_decref(req->response);
		free(req);
		return;
	}
	if (req->parent != NULL) {
		batch_child_done(req);
		return;
	}
	if (conn == NULL) {
		json_decref(req->id);
		json_decref(req->response);
		json_decref(req->batch);
		free(req);
		return;
	}
	req->done = true;
	conn->outstanding--;
	conn_flush_ready(conn);
	if (conn->closed && conn->outstanding == 0) {
		conn_free(conn);
	}
}

static void
request_finish_msg(void *ctx)
{
	request_finish(ctx);
}

static void
request_complete(struct usk_jsonrpc_request *req)
{
	struct usk_thread *cur = usk_get_thread();

	/* Connections are single-threaded: a reply made elsewhere is carried back as a message. */
	if (req->thread != NULL && cur != req->thread) {
		if (usk_thread_send_msg(req->thread, request_finish_msg, req) == 0) {
			return;
		}
		USK_ERRLOG("cannot send a JSON-RPC reply back to its thread; completing here\n");
	}
	request_finish(req);
}

static void
request_reply(struct usk_jsonrpc_request *req, const char *key, json_t *value)
{
	if (req->replied) {
		USK_ERRLOG("JSON-RPC handler replied twice; second reply dropped\n");
		json_decref(value);
		return;
	}
	req->replied = true;
	if (req->id != NULL) {
		req->response = make_response(req->id, key, value);
	} else {
		json_decref(value);
	}
	request_complete(req);
}

void
usk_jsonrpc_send_result(struct usk_jsonrpc_request *request, json_t *result)
{
	char what[64];

	/*
	 * A result built while a usk_json_set/append failed is incomplete (a member was dropped);
	 * a NULL result is a constructor that failed outright. Either way: Internal error.
	 */
	if (result == NULL ||
	    usk_json_build_failures(what, sizeof(what)) != request->json_failures) {
		if (result == NULL) {
			snprintf(what, sizeof(what), "result");
		}
		json_decref(result);
		USK_ERRLOG("JSON-RPC reply incomplete: cannot build '%s' (out of memory)\n", what);
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						    "Internal error: out of memory building '%s'",
						    what);
		return;
	}
	request_reply(request, "result", result);
}

void
usk_jsonrpc_send_bool_response(struct usk_jsonrpc_request *request, bool value)
{
	request_reply(request, "result", json_boolean(value));
}

void
usk_jsonrpc_send_error_response(struct usk_jsonrpc_request *request, int code, const char *msg)
{
	request_reply(request, "error", make_error(code, msg));
}

void
usk_jsonrpc_send_error_response_fmt(struct usk_jsonrpc_request *request, int code, const char *fmt,
				    ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	usk_jsonrpc_send_error_response(request, code, msg);
}

/* Validate a request object and dispatch it. req already has its queue slot. */
static void
handle_request(struct usk_jsonrpc_request *req, json_t *obj)
{
	json_t *id, *version, *method, *params;

	if (!json_is_object(obj)) {
		req->id = json_null();
		usk_jsonrpc_send_error_response(req, USK_JSONRPC_ERROR_INVALID_REQUEST,
						"Invalid request: not a JSON object");
		return;
	}
	id = json_object_get(obj, "id");
	if (id != NULL) {
		if (!json_is_string(id) && !json_is_number(id) && !json_is_null(id)) {
			/* The id cannot be echoed: reply with a null id, as the spec says. */
			req->id = json_null();
			usk_jsonrpc_send_error_response(
				req, USK_JSONRPC_ERROR_INVALID_REQUEST,
				"Invalid request: id must be a string, number or null");
			return;
		}
		req->id = json_incref(id);
	}
	version = json_object_get(obj, "jsonrpc");
	if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0) {
		if (req->id == NULL) {
			req->id = json_null();
		}
		usk_jsonrpc_send_error_response(req, USK_JSONRPC_ERROR_INVALID_REQUEST,
						"Invalid request: jsonrpc must be \"2.0\"");
		return;
	}
	method = json_object_get(obj, "method");
	if (!json_is_string(method)) {
		if (req->id == NULL) {
			req->id = json_null();
		}
		usk_jsonrpc_send_error_response(req, USK_JSONRPC_ERROR_INVALID_REQUEST,
						"Invalid request: method must be a string");
		return;
	}
	params = json_object_get(obj, "params");
	if (json_is_null(params)) {
		params = NULL;
	}
	if (params != NULL && !json_is_object(params) && !json_is_array(params)) {
		if (req->id == NULL) {
			req->id = json_null();
		}
		usk_jsonrpc_send_error_response(
			req, USK_JSONRPC_ERROR_INVALID_REQUEST,
			"Invalid request: params must be an object or an array");
		return;
	}
	rpc_dispatch(req, json_string_value(method), params);
}

/* Queue an error reply with a null id, in order with the other replies. */
static void
conn_error(struct jsonrpc_conn *conn, int code, const char *msg)
{
	struct usk_jsonrpc_request *req = request_alloc(conn, NULL, 0);

	if (req == NULL) {
		return;
	}
	req->id = json_null();
	usk_jsonrpc_send_error_response(req, code, msg);
}

static void
conn_handle_value(struct jsonrpc_conn *conn, json_t *val)
{
	struct usk_jsonrpc_request *req, *child;
	size_t i, n;

	if (!json_is_array(val)) {
		req = request_alloc(conn, NULL, 0);
		if (req == NULL) {
			return;
		}
		handle_request(req, val);
		return;
	}
	n = json_array_size(val);
	if (n == 0) {
		conn_error(conn, USK_JSONRPC_ERROR_INVALID_REQUEST, "Invalid request: empty batch");
		return;
	}
	req = request_alloc(conn, NULL, 0);
	if (req == NULL) {
		return;
	}
	req->batch = json_array();
	for (i = 0; i < n && req->batch != NULL; i++) {
		if (json_array_append_new(req->batch, json_null()) != 0) {
			json_decref(req->batch);
			req->batch = NULL;
		}
	}
	if (req->batch == NULL) {
		req->id = json_null();
		usk_jsonrpc_send_error_response(req, USK_JSONRPC_ERROR_INTERNAL_ERROR,
						"Internal error: out of memory for the batch");
		return;
	}
	/* +1 keeps the batch open until every child has been started. */
	req->batch_outstanding = n + 1;
	req->replied = true;
	req->id = NULL;
	for (i = 0; i < n; i++) {
		child = request_alloc(NULL, req, i);
		if (child == NULL) {
			req->batch_failed = true;
			req->batch_outstanding--;
			continue;
		}
		handle_request(child, json_array_get(val, i));
	}
	/* Drop the +1: needs no allocation, so the batch always completes. */
	batch_put(req);
}

/*
 * Advance the scanner over conn's input. Returns 1 when a complete object/array ends at
 * scan.pos, 0 when more input is needed, -1 when the value does not start with { or [.
 */
static int
scan_value(struct jsonrpc_conn *conn)
{
	struct jsonrpc_scan *s = &conn->scan;
	const char *p = conn->recv_buf + conn->recv_off;
	size_t avail = conn->recv_len - conn->recv_off;

	if (!s->started) {
		while (s->pos < avail && (p[s->pos] == ' ' || p[s->pos] == '\t' ||
					  p[s->pos] == '\n' || p[s->pos] == '\r')) {
			s->pos++;
		}
		/* Leading blanks are consumed right away so they never count as a value. */
		conn->recv_off += s->pos;
		p += s->pos;
		avail -= s->pos;
		s->pos = 0;
		if (avail == 0) {
			return 0;
		}
		if (p[0] != '{' && p[0] != '[') {
			return -1;
		}
		s->started = true;
	}
	for (; s->pos < avail; s->pos++) {
		char c = p[s->pos];

		if (s->in_string) {
			if (s->escape) {
				s->escape = false;
			} else if (c == '\\') {
				s->escape = true;
			} else if (c == '"') {
				s->in_string = false;
			}
			continue;
		}
		if (c == '"') {
			s->in_string = true;
		} else if (c == '{' || c == '[') {
			s->depth++;
		} else if ((c == '}' || c == ']') && --s->depth == 0) {
			s->pos++;
			return 1;
		}
	}
	return 0;
}

static int
conn_fail(struct jsonrpc_conn *conn, int code, const char *msg)
{
	conn_error(conn, code, msg);
	conn->fatal = true;
	conn->recv_off = conn->recv_len = 0;
	return -EPROTO;
}

static void
compact_input(struct jsonrpc_conn *conn)
{
	if (conn->recv_off == 0) {
		return;
	}
	memmove(conn->recv_buf, conn->recv_buf + conn->recv_off, conn->recv_len - conn->recv_off);
	conn->recv_len -= conn->recv_off;
	conn->recv_off = 0;
}

/*
 * jansson reports most allocation failures as json_error_out_of_memory, but one that happens
 * before the lexer starts (its first buffer) leaves the error unset: empty text (and an
 * uninitialised code byte). Every real syntax error has a text. (Some failures inside the
 * lexer still come back as syntax errors: those requests get a Parse error.)
 */
static bool
parse_out_of_memory(const json_error_t *jerr)
{
	return jerr->text[0] == '\0' || json_error_code(jerr) == json_error_out_of_memory;
}

/* Parse every complete value in the buffer. */
static int
conn_process(struct jsonrpc_conn *conn)
{
	char msg[ERR_MSG_LEN];
	json_error_t jerr;
	json_t *val;
	size_t avail;
	int rc;

	while (!conn->fatal) {
		rc = scan_value(conn);
		avail = conn->recv_len - conn->recv_off;
		if (rc == 0) {
			if (avail > USK_JSONRPC_MAX_REQUEST) {
				snprintf(msg, sizeof(msg), "Invalid request: larger than %d bytes",
					 USK_JSONRPC_MAX_REQUEST);
				return conn_fail(conn, USK_JSONRPC_ERROR_INVALID_REQUEST, msg);
			}
			break;
		}
		if (rc < 0) {
			/* A scalar or garbage: valid JSON here is still not a request. */
			val = json_loadb(conn->recv_buf + conn->recv_off, avail,
					 JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &jerr);
			if (val == NULL &&
			    json_error_code(&jerr) == json_error_premature_end_of_input &&
			    avail <= 64) {
				break;
			}
			if (val == NULL) {
				snprintf(msg, sizeof(msg), "Parse error: %s", jerr.text);
				return conn_fail(conn, USK_JSONRPC_ERROR_PARSE_ERROR, msg);
			}
			json_decref(val);
			return conn_fail(conn, USK_JSONRPC_ERROR_INVALID_REQUEST,
					 "Invalid request: not a JSON object or array");
		}
		if (conn->scan.pos > USK_JSONRPC_MAX_REQUEST) {
			snprintf(msg, sizeof(msg), "Invalid request: larger than %d bytes",
				 USK_JSONRPC_MAX_REQUEST);
			return conn_fail(conn, USK_JSONRPC_ERROR_INVALID_REQUEST, msg);
		}
		val = json_loadb(conn->recv_buf + conn->recv_off, conn->scan.pos, 0, &jerr);
		if (val == NULL && parse_out_of_memory(&jerr)) {
			/* The framing is intact: fail this value only, go on with the next. */
			conn->recv_off += conn->scan.pos;
			memset(&conn->scan, 0, sizeof(conn->scan));
			conn_error(conn, USK_JSONRPC_ERROR_INTERNAL_ERROR,
				   "Internal error: out of memory parsing the request");
			continue;
		}
		if (val == NULL) {
			snprintf(msg, sizeof(msg), "Parse error: %s (at byte %d)", jerr.text,
				 jerr.position);
			return conn_fail(conn, USK_JSONRPC_ERROR_PARSE_ERROR, msg);
		}
		conn->recv_off += conn->scan.pos;
		memset(&conn->scan, 0, sizeof(conn->scan));
		conn_handle_value(conn, val);
		json_decref(val);
	}
	if (conn->recv_off > 0 &&
	    (conn->recv_off == conn->recv_len || conn->recv_off > conn->recv_cap / 2)) {
		compact_input(conn);
	}
	return conn->fatal ? -EPROTO : 0;
}

int
jsonrpc_conn_recv(struct jsonrpc_conn *conn, const void *data, size_t len)
{
	if (conn->fatal) {
		return -EPROTO;
	}
	if (len > 0) {
		if (conn->recv_off > 0 && conn->recv_len + len > conn->recv_cap) {
			compact_input(conn);
		}
		if (buf_reserve(&conn->recv_buf, &conn->recv_cap, conn->recv_len + len) != 0) {
			return conn_fail(conn, USK_JSONRPC_ERROR_INTERNAL_ERROR, "Out of memory");
		}
		memcpy(conn->recv_buf + conn->recv_len, data, len);
		conn->recv_len += len;
	}
	return conn_process(conn);
}
