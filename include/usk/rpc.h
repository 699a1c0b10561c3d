/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 server on a unix socket, with SPDK's method names so SPDK's rpc.py works.
 * Handlers run on the app thread; a handler may reply later (asynchronously), exactly once.
 */
#ifndef USK_RPC_H
#define USK_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "usk/json.h"

#ifdef __cplusplus
extern "C" {
#endif

#define USK_DEFAULT_RPC_ADDR "/var/tmp/usk.sock"
#define USK_JSONRPC_MAX_REQUEST \
	(1024 * 1024) /* a larger request is an error; the connection closes */

#define USK_JSONRPC_ERROR_PARSE_ERROR	   -32700
#define USK_JSONRPC_ERROR_INVALID_REQUEST  -32600
#define USK_JSONRPC_ERROR_METHOD_NOT_FOUND -32601
#define USK_JSONRPC_ERROR_INVALID_PARAMS   -32602
#define USK_JSONRPC_ERROR_INTERNAL_ERROR   -32603
#define USK_JSONRPC_ERROR_INVALID_STATE	   -1

/* States in which a method may be called (a mask). */
#define USK_RPC_STARTUP 0x1 /* before subsystems are initialised (--wait-for-rpc) */
#define USK_RPC_RUNTIME 0x2

struct usk_jsonrpc_request;

/** params is NULL when the request had none. The handler must reply exactly once. */
typedef void (*usk_rpc_method_handler)(struct usk_jsonrpc_request *request, const json_t *params);

/**
 * Add method to the table (safe from constructors: needs no initialisation). state_mask says
 * when it may be called (USK_RPC_STARTUP, USK_RPC_RUNTIME or both). A duplicate is ignored.
 */
void usk_rpc_register_method(const char *method, usk_rpc_method_handler func, uint32_t state_mask);
/**
 * Register alias as a deprecated name of method (which may be registered later). Calling it
 * runs method and logs a deprecation warning once.
 */
void usk_rpc_register_alias_deprecated(const char *method, const char *alias);
#define USK_RPC_REGISTER(method, func, state_mask) \
	__attribute__((constructor)) static void rpc_register_##func(void) \
	{ \
		usk_rpc_register_method(method, func, state_mask); \
	}
#define USK_RPC_REGISTER_ALIAS_DEPRECATED(method, alias) \
	__attribute__((constructor)) static void rpc_register_alias_##alias(void) \
	{ \
		usk_rpc_register_alias_deprecated(#method, #alias); \
	}

/** Whether method (or alias) exists (-ENOENT) and is allowed in any state of state_mask (-EPERM /
 * 0). */
int usk_rpc_is_method_allowed(const char *method, uint32_t state_mask);
/** Set the server state (USK_RPC_STARTUP or USK_RPC_RUNTIME); requests are checked against it. */
void usk_rpc_set_state(uint32_t state);
/** The current server state. */
uint32_t usk_rpc_get_state(void);
/** Visit registered methods (and aliases when include_aliases); for rpc_get_methods. */
void usk_rpc_foreach_method(bool include_aliases, uint32_t state_mask,
			    void (*fn)(const char *name, void *ctx), void *ctx);

/**
 * Listen on the unix socket at path (mode 0600; a stale socket file is replaced, a live one
 * is -EADDRINUSE). Registers pollers (or interrupts) on the current thread. Returns 0 or -errno.
 */
int usk_rpc_listen(const char *path);
/**
 * Close the listener and every connection, remove the socket file. Call on the thread that
 * listened. From inside a handler the close happens once the handler returns.
 */
void usk_rpc_close(void);

/*
 * Replies. Exactly one per request, from any thread (a reply made on another thread is carried
 * back to the server thread by a message). After the reply the request must not be touched.
 * Replies to one connection are written in request order; a notification's reply is dropped.
 */

/**
 * Reply with result (reference stolen). NULL (a constructor that ran out of memory), or a result
 * built while a usk_json_set/usk_json_append failed (see usk/json.h), is replied as -32603
 * "Internal error" naming the member instead: a reply is never sent truncated.
 */
void usk_jsonrpc_send_result(struct usk_jsonrpc_request *request, json_t *result);
/** Reply with a JSON boolean. */
void usk_jsonrpc_send_bool_response(struct usk_jsonrpc_request *request, bool value);
/** Reply with an error object {"code": code, "message": msg}. */
void usk_jsonrpc_send_error_response(struct usk_jsonrpc_request *request, int code,
				     const char *msg);
/** As usk_jsonrpc_send_error_response with a printf-style message (truncated at 1 KiB). */
void usk_jsonrpc_send_error_response_fmt(struct usk_jsonrpc_request *request, int code,
					 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * Decode params with decoders (see usk_json_decode_object); on failure reply with
 * INVALID_PARAMS naming the field and return false. params NULL with required fields is an error.
 */
bool usk_rpc_decode_params(struct usk_jsonrpc_request *request, const json_t *params,
			   const struct usk_json_object_decoder *decoders, size_t num_decoders,
			   void *out);

/**
 * Run a request in-process without a socket (used by --json config replay and tests).
 * cb(ctx, response) gets the whole response object ({"result":...} or {"error":...}), or a
 * JSON null when the response could not be built (out of memory); the response is borrowed
 * for the duration of cb. cb runs on the calling thread.
 */
typedef void (*usk_rpc_local_cb)(void *ctx, const json_t *response);
/** Returns 0 (cb will run exactly once, possibly before this returns) or -EINVAL / -ENOMEM. */
int usk_rpc_call_local(const char *method, const json_t *params, usk_rpc_local_cb cb, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
