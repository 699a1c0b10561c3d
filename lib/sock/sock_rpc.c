/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "sock" subsystem and its RPCs (SPDK names): sock_impl_set_options, sock_impl_get_options,
 * sock_set_default_impl, sock_get_default_impl. Set them before nvmf_create_transport: a
 * transport's poll groups read the implementation and its options when they are created.
 */
#include <stdlib.h>
#include <string.h>

#include "usk/event.h"
#include "usk/json.h"
#include "usk/rpc.h"
#include "usk/sock.h"
#include "usk/util.h"

static const char *const g_impl_names[] = {"posix", "uring"};

static bool
impl_name_ok(struct usk_jsonrpc_request *request, const char *name)
{
	if (name == NULL || (strcmp(name, "posix") != 0 && strcmp(name, "uring") != 0)) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"impl_name: must be \"posix\" or \"uring\"");
		return false;
	}
	return true;
}

struct rpc_impl_name {
	char *impl_name;
};

/* Decode params {"impl_name": ...}: the name (free() it), or NULL after an error reply. */
static char *
decode_impl_name(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct usk_json_object_decoder d[] = {
		{"impl_name", offsetof(struct rpc_impl_name, impl_name), usk_json_decode_string,
		 false},
	};
	struct rpc_impl_name p = {0};

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		return NULL;
	}
	if (!impl_name_ok(request, p.impl_name)) {
		free(p.impl_name);
		return NULL;
	}
	return p.impl_name;
}

static void
rpc_sock_set_default_impl(struct usk_jsonrpc_request *request, const json_t *params)
{
	char *name = decode_impl_name(request, params);

	if (name != NULL) {
		usk_sock_set_default_impl(name);
		usk_jsonrpc_send_bool_response(request, true);
		free(name);
	}
}
USK_RPC_REGISTER("sock_set_default_impl", rpc_sock_set_default_impl,
		 USK_RPC_STARTUP | USK_RPC_RUNTIME)

static void
rpc_sock_get_default_impl(struct usk_jsonrpc_request *request, const json_t *params)
{
	json_t *res = json_object();

	usk_json_set(res, "impl_name", json_string(usk_sock_get_default_impl()));
	usk_jsonrpc_send_result(request, res);
}
USK_RPC_REGISTER("sock_get_default_impl", rpc_sock_get_default_impl,
		 USK_RPC_STARTUP | USK_RPC_RUNTIME)

static json_t *
impl_opts_json(const char *name)
{
	struct usk_sock_impl_opts o;
	json_t *res = json_object();

	usk_sock_impl_get_opts(name, &o, sizeof(o));
	usk_json_set(res, "recv_buf_size", json_integer(o.recv_buf_size));
	usk_json_set(res, "send_buf_size", json_integer(o.send_buf_size));
	if (strcmp(name, "posix") == 0) {
		usk_json_set(res, "enable_zerocopy_send_server",
			     json_boolean(o.enable_zerocopy_send_server));
		usk_json_set(res, "zerocopy_threshold", json_integer(o.zerocopy_threshold));
	}
	if (strcmp(name, "uring") == 0) {
		usk_json_set(res, "buf_count", json_integer(o.buf_count));
		usk_json_set(res, "buf_size", json_integer(o.buf_size));
		usk_json_set(res, "available", json_boolean(usk_sock_impl_is_available(name)));
	}
	return res;
}

static void
rpc_sock_impl_get_options(struct usk_jsonrpc_request *request, const json_t *params)
{
	char *name = decode_impl_name(request, params);

	if (name != NULL) {
		usk_jsonrpc_send_result(request, impl_opts_json(name));
		free(name);
	}
}
USK_RPC_REGISTER("sock_impl_get_options", rpc_sock_impl_get_options,
		 USK_RPC_STARTUP | USK_RPC_RUNTIME)

struct rpc_impl_opts {
	char *impl_name;
	struct usk_sock_impl_opts o;
};

static void
rpc_sock_impl_set_options(struct usk_jsonrpc_request *request, const json_t *params)
{
	struct usk_json_object_decoder d[] = {
		{"impl_name", offsetof(struct rpc_impl_opts, impl_name), usk_json_decode_string,
		 false},
		{"recv_buf_size", offsetof(struct rpc_impl_opts, o.recv_buf_size),
		 usk_json_decode_uint32, true},
		{"send_buf_size", offsetof(struct rpc_impl_opts, o.send_buf_size),
		 usk_json_decode_uint32, true},
		{"buf_count", offsetof(struct rpc_impl_opts, o.buf_count), usk_json_decode_uint32,
		 true},
		{"buf_size", offsetof(struct rpc_impl_opts, o.buf_size), usk_json_decode_uint32,
		 true},
		{"enable_zerocopy_send_server",
		 offsetof(struct rpc_impl_opts, o.enable_zerocopy_send_server),
		 usk_json_decode_bool, true},
		{"zerocopy_threshold", offsetof(struct rpc_impl_opts, o.zerocopy_threshold),
		 usk_json_decode_uint32, true},
	};
	struct rpc_impl_opts p = {0};

	if (!usk_rpc_decode_params(request, params, d, USK_COUNTOF(d), &p)) {
		return;
	}
	if (!impl_name_ok(request, p.impl_name)) {
		goto out;
	}
	/* start from the current options: fields not given keep their value */
	{
		struct usk_sock_impl_opts cur;

		usk_sock_impl_get_opts(p.impl_name, &cur, sizeof(cur));
		if (!json_object_get(params, "recv_buf_size")) {
			p.o.recv_buf_size = cur.recv_buf_size;
		}
		if (!json_object_get(params, "send_buf_size")) {
			p.o.send_buf_size = cur.send_buf_size;
		}
		if (!json_object_get(params, "buf_count")) {
			p.o.buf_count = cur.buf_count;
		}
		if (!json_object_get(params, "buf_size")) {
			p.o.buf_size = cur.buf_size;
		}
		if (!json_object_get(params, "enable_zerocopy_send_server")) {
			p.o.enable_zerocopy_send_server = cur.enable_zerocopy_send_server;
		}
		if (!json_object_get(params, "zerocopy_threshold")) {
			p.o.zerocopy_threshold = cur.zerocopy_threshold;
		}
	}
	p.o.opts_size = sizeof(p.o);
	if (strcmp(p.impl_name, "posix") == 0 &&
	    (json_object_get(params, "buf_count") || json_object_get(params, "buf_size"))) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"buf_count/buf_size: only the uring impl has a buffer ring");
		goto out;
	}
	if (strcmp(p.impl_name, "uring") == 0 &&
	    (json_object_get(params, "enable_zerocopy_send_server") ||
	     json_object_get(params, "zerocopy_threshold"))) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"enable_zerocopy_send_server/zerocopy_threshold: only the posix impl has "
			"zero-copy sends");
		goto out;
	}
	if (usk_sock_impl_set_opts(p.impl_name, &p.o) != 0) {
		usk_jsonrpc_send_error_response(
			request, USK_JSONRPC_ERROR_INVALID_PARAMS,
			"buf_count: power of two 16..32768, buf_size: 4096..1048576, "
			"recv_buf_size/send_buf_size: at most 1 GiB");
		goto out;
	}
	usk_jsonrpc_send_bool_response(request, true);
out:
	free(p.impl_name);
}
USK_RPC_REGISTER("sock_impl_set_options", rpc_sock_impl_set_options,
		 USK_RPC_STARTUP | USK_RPC_RUNTIME)

/* ---- the "sock" subsystem: nothing to start, it writes its config ---- */

static void
sock_subsystem_init(void)
{
	usk_subsystem_init_next(0);
}

static void
sock_subsystem_fini(void)
{
	usk_subsystem_fini_next();
}

static void
sock_subsystem_config_json(json_t *config)
{
	json_t *params;
	size_t i;

	for (i = 0; i < USK_COUNTOF(g_impl_names); i++) {
		params = impl_opts_json(g_impl_names[i]);
		json_object_del(params, "available");
		usk_json_set(params, "impl_name", json_string(g_impl_names[i]));
		usk_json_config_add(config, "sock_impl_set_options", params);
	}
	params = json_object();
	usk_json_set(params, "impl_name", json_string(usk_sock_get_default_impl()));
	usk_json_config_add(config, "sock_set_default_impl", params);
}

static struct usk_subsystem g_usk_subsystem_sock = {
	.name = "sock",
	.init = sock_subsystem_init,
	.fini = sock_subsystem_fini,
	.write_config_json = sock_subsystem_config_json,
};

USK_SUBSYSTEM_REGISTER(g_usk_subsystem_sock)
