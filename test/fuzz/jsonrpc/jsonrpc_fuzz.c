/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target: JSON-RPC request path (framing, validation, dispatch, batches) without sockets.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "usk/log.h"
#include "usk/rpc.h"
#include "usk/thread.h"
#include "../../../lib/rpc/rpc_internal.h"

/* No threads here: replies complete inline. */
struct usk_thread *
usk_get_thread(void)
{
	return NULL;
}

int
usk_thread_send_msg(const struct usk_thread *thread, usk_msg_fn fn, void *ctx)
{
	fn(ctx);
	return 0;
}

struct fuzz_params {
	char *name;
	uint32_t size;
	bool flag;
	json_t *obj;
};

static const struct usk_json_object_decoder fuzz_decoders[] = {
	{"name", offsetof(struct fuzz_params, name), usk_json_decode_string, false},
	{"size", offsetof(struct fuzz_params, size), usk_json_decode_uint32, true},
	{"flag", offsetof(struct fuzz_params, flag), usk_json_decode_bool, true},
	{"obj", offsetof(struct fuzz_params, obj), usk_json_decode_json, true},
};

static void
fuzz_method(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct fuzz_params p = {};

	if (usk_rpc_decode_params(request, params, fuzz_decoders, 4, &p)) {
		usk_jsonrpc_send_result(request,
					json_pack("{s:s, s:i, s:b, s:O?}", "name", p.name, "size",
						  (int)p.size, "flag", p.flag, "obj", p.obj));
	}
	free(p.name);
	json_decref(p.obj);
}
USK_RPC_REGISTER("fuzz_method", fuzz_method, USK_RPC_RUNTIME)

/* Replies later (when the next input arrives or the connection closes). */
static struct usk_jsonrpc_request *g_deferred[8];
static size_t g_ndeferred;

static void
fuzz_deferred(struct usk_jsonrpc_request *request, const json_t *params)
{
	if (g_ndeferred == 8) {
		usk_jsonrpc_send_error_response(request, -1, "busy");
		return;
	}
	g_deferred[g_ndeferred++] = request;
}
USK_RPC_REGISTER("fuzz_deferred", fuzz_deferred, USK_RPC_RUNTIME)
USK_RPC_REGISTER_ALIAS_DEPRECATED(fuzz_method, fuzz_old)

static void
flush_deferred(void)
{
	while (g_ndeferred > 0) {
		usk_jsonrpc_send_bool_response(g_deferred[--g_ndeferred], true);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct jsonrpc_conn *conn;
	size_t off = 1, chunk, len;

	if (!init) {
		usk_log_set_print_level(USK_LOG_DISABLED);
		usk_rpc_set_state(USK_RPC_RUNTIME);
		init = true;
	}
	if (size == 0) {
		return 0;
	}
	/* The first byte picks the read size, so split values and multi-value reads are covered. */
	chunk = (size_t)(data[0] % 17) + 1;
	conn = jsonrpc_conn_create(NULL, NULL);
	if (conn == NULL) {
		return 0;
	}
	while (off < size) {
		len = size - off < chunk ? size - off : chunk;
		if (jsonrpc_conn_recv(conn, data + off, len) != 0) {
			break;
		}
		off += len;
		if (data[0] & 0x80) {
			flush_deferred();
		}
		jsonrpc_conn_output(conn, &len);
		jsonrpc_conn_consume_output(conn, len);
	}
	if (data[0] & 0x40) {
		/* The client goes away with replies still pending. */
		jsonrpc_conn_close(conn);
		flush_deferred();
	} else {
		flush_deferred();
		jsonrpc_conn_close(conn);
	}
	return 0;
}
