/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to lib/event: reactors, subsystem sequencing, JSON config replay, app state. */
#ifndef USK_EVENT_INTERNAL_H
#define USK_EVENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "usk/event.h"
#include "usk/util.h"

/* ---- subsystem.c ---- */

/**
 * Order the registered subsystems so that every one comes after what it depends on (otherwise
 * registration order). Returns 0, -ENOENT for a dependency on an unknown subsystem, -ELOOP for
 * a cycle; err gets a message naming them.
 */
int subsystem_sort(char *err, size_t err_len);
/** Sort, then init every subsystem in order on the calling (app) thread; cb(rc, arg) at the end. */
void subsystem_init(void (*cb)(int rc, void *arg), void *arg);
/** Fini the initialised subsystems in reverse order; then cb(arg). */
void subsystem_fini(void (*cb)(void *arg), void *arg);
bool subsystem_init_done(void);
/** The subsystem's config array, or JSON null when it has no write_config_json. New reference. */
json_t *subsystem_config_json(struct usk_subsystem *subsystem);
/** Visit the dependencies declared for name. */
void subsystem_foreach_depend(const char *name, void (*fn)(const char *dep, void *ctx), void *ctx);
/** Forget every registration (unit tests only). */
void subsystem_registry_reset(void);

/* ---- reactor.c ---- */

struct usk_reactor;

int reactors_init(bool interrupt_mode);
/** Launch the other reactors and run the main core's reactor on the calling thread until stop. */
void reactors_start(void);
void reactors_stop(void);
void reactors_fini(void);
/** Wake the reactor of the main core (async-signal-safe). */
void reactors_wake_main(void);
/** Reactor stats as framework_get_reactors prints them (call on the app thread). */
json_t *reactors_get_info(void);
int reactor_thread_op(struct usk_thread *thread, enum usk_thread_op op);
bool reactor_thread_op_supported(enum usk_thread_op op);
size_t reactor_thread_ctx_size(void);

/* ---- app.c ---- */

/** "usk vX.Y.Z" */
const char *app_version_string(void);

/* ---- json_config.c ---- */

/** Load and check a config file. Returns 0 or -errno with a message in err. */
int json_config_load(const char *path, json_t **config, char *err, size_t err_len);
/**
 * Replay the entries of config through the method table: phase STARTUP replays methods allowed
 * at start-up, phase RUNTIME the others, in file order. cb(rc, arg) when done; with
 * ignore_errors failures are logged and skipped.
 */
void json_config_replay(json_t *config, const char *path, uint32_t phase, bool ignore_errors,
			void (*cb)(int rc, void *arg), void *arg);

/* ---- app.c ---- */

/** Start subsystem init + runtime config replay (for --wait-for-rpc). cb when done. */
int app_framework_start_init(void (*cb)(int rc, void *arg), void *arg);
/** Queue cb(arg) for when the framework is initialised (framework_wait_init). */
void app_on_init_done(void (*cb)(void *arg), void *arg);
/** Parse a reactor mask string; exposed for unit tests. */
int app_parse_mask(const char *mask, struct usk_cpuset *set);

#endif
