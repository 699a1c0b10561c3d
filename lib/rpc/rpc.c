/* SPDX-License-Identifier: BSD-3-Clause */
/* RPC method table: registration (constructor time), state checks, aliases, local calls. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/log.h"
#include "usk/rpc.h"
#include "rpc_internal.h"

/*
 * Filled by constructors before main(), so nothing here may depend on initialisation.
 * Methods are kept in registration order; after start-up the table is only read, on the
 * app thread.
 */
struct rpc_method {
	char *name;
	usk_rpc_method_handler func;
	uint32_t state_mask;
	char *alias_of; /* set for a deprecated alias */
	bool warned;	/* deprecation warning printed once */
	struct rpc_method *next;
};

static struct rpc_method *g_rpc_methods;
static struct rpc_method **g_rpc_methods_tail = &g_rpc_methods;
static uint32_t g_rpc_state = USK_RPC_STARTUP;

static struct rpc_method *
method_find(const char *name)
{
	struct rpc_method *m;

	for (m = g_rpc_methods; m != NULL; m = m->next) {
		if (strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

static void
method_add(const char *name, usk_rpc_method_handler func, uint32_t state_mask, const char *alias_of)
{
	struct rpc_method *m;

	if (method_find(name) != NULL) {
		fprintf(stderr, "usk: duplicate RPC method '%s' ignored\n", name);
		return;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		return;
	}
	m->name = strdup(name);
	m->alias_of = alias_of ? strdup(alias_of) : NULL;
	if (m->name == NULL || (alias_of != NULL && m->alias_of == NULL)) {
		free(m->name);
		free(m->alias_of);
		free(m);
		return;
	}
	m->func = func;
	m->state_mask = state_mask;
	*g_rpc_methods_tail = m;
	g_rpc_methods_tail = &m->next;
}

void
usk_rpc_register_method(const char *method, usk_rpc_method_handler func, uint32_t state_mask)
{
	if (method == NULL || func == NULL) {
		return;
	}
	method_add(method, func, state_mask, NULL);
}

void
usk_rpc_register_alias_deprecated(const char *method, const char *alias)
{
	if (method == NULL || alias == NULL) {
		return;
	}
	/* The target may register later (constructor order): resolved at call time. */
	method_add(alias, NULL, 0, method);
}

/* Follow an alias to its method; NULL when the alias points nowhere. */
static struct rpc_method *
method_resolve(struct rpc_method *m)
{
	if (m != NULL && m->alias_of != NULL) {
		struct rpc_method *target = method_find(m->alias_of);

		return (target != NULL && target->alias_of == NULL) ? target : NULL;
	}
	return m;
}

int
usk_rpc_is_method_allowed(const char *method, uint32_t state_mask)
{
	struct rpc_method *m = method_resolve(method_find(method));

	if (m == NULL) {
		return -ENOENT;
	}
	return (m->state_mask & state_mask) ? 0 : -EPERM;
}

void
usk_rpc_set_state(uint32_t state)
{
	g_rpc_state = state;
}

uint32_t
usk_rpc_get_state(void)
{
	return g_rpc_state;
}

void
usk_rpc_foreach_method(bool include_aliases, uint32_t state_mask,
		       void (*fn)(const char *name, void *ctx), void *ctx)
{
	struct rpc_method *m, *target;

	for (m = g_rpc_methods; m != NULL; m = m->next) {
		if (m->alias_of != NULL && !include_aliases) {
			continue;
		}
		target = method_resolve(m);
		if (target == NULL || (target->state_mask & state_mask) == 0) {
			continue;
		}
		fn(m->name, ctx);
	}
}

void
rpc_dispatch(struct usk_jsonrpc_request *request, const char *method, const json_t *params)
{
	struct rpc_method *m = method_find(method), *target;

	target = method_resolve(m);
	if (target == NULL) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_METHOD_NOT_FOUND,
						    "Method not found: %s", method);
		return;
	}
	if (m != target && !m->warned) {
		m->warned = true;
		USK_WARNLOG("RPC method %s is deprecated, use %s instead\n", m->name, target->name);
	}
	if ((target->state_mask & g_rpc_state) == 0) {
		if (g_rpc_state == USK_RPC_STARTUP) {
			usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_STATE,
							"Method may only be called at runtime");
		} else {
			usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_STATE,
							"Method may only be called at startup");
		}
		return;
	}
	target->func(request, params);
}

bool
usk_rpc_decode_params(struct usk_jsonrpc_request *request, const json_t *params,
		      const struct usk_json_object_decoder *decoders, size_t num_decoders,
		      void *out)
{
	char err[512];
	size_t i;

	if (params == NULL) {
		for (i = 0; i < num_decoders; i++) {
			if (!decoders[i].optional) {
				usk_jsonrpc_send_error_response_fmt(
					request, USK_JSONRPC_ERROR_INVALID_PARAMS,
					"Invalid parameters: %s: missing required field",
					decoders[i].name);
				return false;
			}
		}
		return true;
	}
	if (!json_is_object(params)) {
		usk_jsonrpc_send_error_response(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						"Invalid parameters: params must be an object");
		return false;
	}
	err[0] = '\0';
	if (usk_json_decode_object(params, decoders, num_decoders, out, err, sizeof(err)) != 0) {
		usk_jsonrpc_send_error_response_fmt(request, USK_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameters: %s",
						    err[0] ? err : "cannot decode");
		return false;
	}
	return true;
}

int
usk_rpc_call_local(const char *method, const json_t *params, usk_rpc_local_cb cb, void *ctx)
{
	struct usk_jsonrpc_request *req;

	if (method == NULL || cb == NULL) {
		return -EINVAL;
	}
	if (params != NULL && json_is_null(params)) {
		params = NULL;
	}
	if (params != NULL && !json_is_object(params) && !json_is_array(params)) {
		return -EINVAL;
	}
	req = jsonrpc_request_local(cb, ctx);
	if (req == NULL) {
		return -ENOMEM;
	}
	rpc_dispatch(req, method, params);
	return 0;
}
