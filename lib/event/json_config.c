/* SPDX-License-Identifier: BSD-3-Clause */
/* --json config files: load and check the save_config format, replay it through the method table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "usk/log.h"
#include "usk/rpc.h"
#include "usk/thread.h"
#include "event_internal.h"

#define JSON_CONFIG_MAX_SIZE (64 * 1024 * 1024)

int
json_config_load(const char *path, json_t **config, char *err, size_t err_len)
{
	json_error_t jerr;
	json_t *root, *subsystems, *s, *cfg, *e;
	struct stat st;
	size_t i, j;

	*config = NULL;
	if (stat(path, &st) != 0) {
		int rc = -errno;

		snprintf(err, err_len, "cannot read: %s", strerror(-rc));
		return rc;
	}
	if (st.st_size > JSON_CONFIG_MAX_SIZE) {
		snprintf(err, err_len, "file larger than %d bytes", JSON_CONFIG_MAX_SIZE);
		return -EFBIG;
	}
	if (st.st_size == 0) {
		return 0; /* an empty file configures nothing */
	}
	root = json_load_file(path, 0, &jerr);
	if (root == NULL) {
		snprintf(err, err_len, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(err, err_len, "top level must be an object with \"subsystems\"");
		goto err_free;
	}
	subsystems = json_object_get(root, "subsystems");
	if (!json_is_array(subsystems)) {
		snprintf(err, err_len, "\"subsystems\": missing or not an array");
		goto err_free;
	}
	json_array_foreach(subsystems, i, s)
	{
		if (!json_is_object(s) || !json_is_string(json_object_get(s, "subsystem"))) {
			snprintf(err, err_len,
				 "subsystems[%zu]: \"subsystem\": missing or not a string", i);
			goto err_free;
		}
		cfg = json_object_get(s, "config");
		if (cfg != NULL && !json_is_null(cfg) && !json_is_array(cfg)) {
			snprintf(err, err_len,
				 "subsystem '%s': \"config\" must be an array or null",
				 json_string_value(json_object_get(s, "subsystem")));
			goto err_free;
		}
		json_array_foreach(cfg, j, e)
		{
			json_t *params = json_object_get(e, "params");

			if (!json_is_object(e) || !json_is_string(json_object_get(e, "method"))) {
				snprintf(
					err, err_len,
					"subsystem '%s': config[%zu]: \"method\": missing or not a string",
					json_string_value(json_object_get(s, "subsystem")), j);
				goto err_free;
			}
			if (params != NULL && !json_is_object(params) && !json_is_array(params) &&
			    !json_is_null(params)) {
				snprintf(
					err, err_len,
					"subsystem '%s': config[%zu] (%s): \"params\" must be an object",
					json_string_value(json_object_get(s, "subsystem")), j,
					json_string_value(json_object_get(e, "method")));
				goto err_free;
			}
		}
	}
	*config = root;
	return 0;

err_free:
	json_decref(root);
	return -EINVAL;
}

struct replay_ctx {
	json_t *subsystems;
	const char *path;
	uint32_t phase;
	bool ignore_errors;
	size_t sub_idx;
	size_t entry_idx;
	int rc;
	void (*cb)(int rc, void *arg);
	void *arg;
	struct usk_thread *thread;
};

static void replay_next(void *arg);

static bool
entry_in_phase(const char *method, uint32_t phase)
{
	bool startup = usk_rpc_is_method_allowed(method, USK_RPC_STARTUP) == 0;

	/* Methods callable at start-up run then (before subsystems init); the rest at runtime. */
	return phase == USK_RPC_STARTUP ? startup : !startup;
}

static void
replay_done(struct replay_ctx *ctx)
{
	void (*cb)(int, void *) = ctx->cb;
	void *arg = ctx->arg;
	int rc = ctx->rc;

	free(ctx);
	cb(rc, arg);
}

static void
replay_response(void *arg, const json_t *response)
{
	struct replay_ctx *ctx = arg;
	json_t *sub = json_array_get(ctx->subsystems, ctx->sub_idx);
	json_t *entry = json_array_get(json_object_get(sub, "config"), ctx->entry_idx);
	json_t *error = json_object_get(response, "error");

	if (error != NULL) {
		USK_ERRLOG(
			"--json %s: subsystem '%s' config[%zu]: method '%s' failed: %s (code %lld)\n",
			ctx->path, json_string_value(json_object_get(sub, "subsystem")),
			ctx->entry_idx, json_string_value(json_object_get(entry, "method")),
			json_string_value(json_object_get(error, "message")),
			(long long)json_integer_value(json_object_get(error, "code")));
		if (!ctx->ignore_errors) {
			ctx->rc = -EINVAL;
		}
	} else if (!json_is_object(response)) {
		/* No response object: it could not be built (out of memory). */
		USK_ERRLOG(
			"--json %s: subsystem '%s' config[%zu]: method '%s': no response (out of "
			"memory)\n",
			ctx->path, json_string_value(json_object_get(sub, "subsystem")),
			ctx->entry_idx, json_string_value(json_object_get(entry, "method")));
		if (!ctx->ignore_errors) {
			ctx->rc = -ENOMEM;
		}
	}
	ctx->entry_idx++;
	/* Continue from the message loop: keeps the stack flat whatever the handler did. */
	if (ctx->thread == NULL || usk_thread_send_msg(ctx->thread, replay_next, ctx) != 0) {
		replay_next(ctx);
	}
}

static void
replay_next(void *arg)
{
	struct replay_ctx *ctx = arg;
	json_t *sub, *cfg, *entry, *params;
	const char *method;
	int rc;

	while (ctx->rc == 0 && ctx->sub_idx < json_array_size(ctx->subsystems)) {
		sub = json_array_get(ctx->subsystems, ctx->sub_idx);
		cfg = json_object_get(sub, "config");
		if (ctx->entry_idx >= json_array_size(cfg)) {
			ctx->sub_idx++;
			ctx->entry_idx = 0;
			continue;
		}
		entry = json_array_get(cfg, ctx->entry_idx);
		method = json_string_value(json_object_get(entry, "method"));
		if (!entry_in_phase(method, ctx->phase)) {
			ctx->entry_idx++;
			continue;
		}
		params = json_object_get(entry, "params");
		USK_DEBUGLOG(app_config, "replaying %s\n", method);
		rc = usk_rpc_call_local(method, params, replay_response, ctx);
		if (rc == 0) {
			return;
		}
		USK_ERRLOG("--json %s: subsystem '%s' config[%zu]: cannot call '%s': %s\n",
			   ctx->path, json_string_value(json_object_get(sub, "subsystem")),
			   ctx->entry_idx, method, strerror(-rc));
		if (!ctx->ignore_errors) {
			ctx->rc = rc;
		}
		ctx->entry_idx++;
	}
	replay_done(ctx);
}

USK_LOG_REGISTER_COMPONENT(app_config)

void
json_config_replay(json_t *config, const char *path, uint32_t phase, bool ignore_errors,
		   void (*cb)(int rc, void *arg), void *arg)
{
	struct replay_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		cb(-ENOMEM, arg);
		return;
	}
	ctx->subsystems = json_object_get(config, "subsystems");
	ctx->path = path ? path : "(config)";
	ctx->phase = phase;
	ctx->ignore_errors = ignore_errors;
	ctx->cb = cb;
	ctx->arg = arg;
	ctx->thread = usk_get_thread();
	replay_next(ctx);
}
