/* SPDX-License-Identifier: BSD-3-Clause */
/* Logging: levels, per-component flags (-L), print level for stderr. */
#ifndef USK_LOG_H
#define USK_LOG_H

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum usk_log_level {
	USK_LOG_DISABLED = -1,
	USK_LOG_ERROR,
	USK_LOG_WARN,
	USK_LOG_NOTICE,
	USK_LOG_INFO,
	USK_LOG_DEBUG,
};

struct usk_log_flag {
	const char *name;
	bool enabled;
	struct usk_log_flag *next; /* registry link, filled by the constructor */
};

/**
 * Add flag to the registry under name (USK_LOG_REGISTER_COMPONENT does it from a constructor).
 * Before main() or from one thread; flags are never removed.
 */
void usk_log_register_flag(const char *name, struct usk_log_flag *flag);

/** Register a log component, e.g. USK_LOG_REGISTER_COMPONENT(nvmf) then USK_DEBUGLOG(nvmf, ...). */
#define USK_LOG_REGISTER_COMPONENT(FLAG) \
	struct usk_log_flag USK_LOG_##FLAG = {.name = #FLAG, .enabled = false}; \
	__attribute__((constructor)) static void usk_log_register_##FLAG(void) \
	{ \
		usk_log_register_flag(#FLAG, &USK_LOG_##FLAG); \
	}

/**
 * Log one message (USK_ERRLOG and friends call it). Any thread; one fprintf per line, so lines
 * do not interleave; also to syslog at or below the log level. Blocks if stderr does
 * (docs/architecture.md, "Blocking calls and reactors").
 */
void usk_log(enum usk_log_level level, const char *file, int line, const char *func,
	     const char *format, ...) __attribute__((format(printf, 5, 6)));
/** usk_log with a va_list. */
void usk_vlog(enum usk_log_level level, const char *file, int line, const char *func,
	      const char *format, va_list ap);

#define USK_ERRLOG(...)	   usk_log(USK_LOG_ERROR, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define USK_WARNLOG(...)   usk_log(USK_LOG_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define USK_NOTICELOG(...) usk_log(USK_LOG_NOTICE, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define USK_INFOLOG(FLAG, ...) \
	do { \
		extern struct usk_log_flag USK_LOG_##FLAG; \
		if (USK_LOG_##FLAG.enabled) \
			usk_log(USK_LOG_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__); \
	} while (0)
#define USK_DEBUGLOG(FLAG, ...) \
	do { \
		extern struct usk_log_flag USK_LOG_##FLAG; \
		if (USK_LOG_##FLAG.enabled) \
			usk_log(USK_LOG_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__); \
	} while (0)

/* Messages at or below the log level are recorded (syslog); at or below print level, printed to
 * stderr. */
void usk_log_set_level(enum usk_log_level level);
/** The level set by usk_log_set_level. Any thread. */
enum usk_log_level usk_log_get_level(void);
/** Print messages at or below level to stderr. Any thread. */
void usk_log_set_print_level(enum usk_log_level level);
/** The level set by usk_log_set_print_level. Any thread. */
enum usk_log_level usk_log_get_print_level(void);
/** Name ("ERROR", "WARNING", "NOTICE", "INFO", "DEBUG") to level; -EINVAL if unknown. */
int usk_log_level_from_name(const char *name, enum usk_log_level *level);
/** Name of level ("ERROR" ...); "UNKNOWN" for a value out of range. */
const char *usk_log_level_name(enum usk_log_level level);

/** "all" toggles every flag. Returns 0 or -EINVAL for an unknown flag. */
int usk_log_set_flag(const char *flag);
/**
 * For a tool's -L option: enable flag (as usk_log_set_flag) and print DEBUG messages to stderr
 * so that its messages show. Returns 0, or -EINVAL for an unknown flag (nothing changed).
 * Any thread; meant for argument parsing.
 */
int usk_log_enable_debug(const char *flag);
/** Disable a flag ("all": every flag). Returns 0 or -EINVAL for an unknown flag. */
int usk_log_clear_flag(const char *flag);
/** Whether flag is enabled (false if unknown). Any thread. */
bool usk_log_get_flag(const char *flag);
/** Iterate registered flags: pass NULL to get the first. */
struct usk_log_flag *usk_log_get_next_flag(struct usk_log_flag *prev);
/** Print the flag names to stderr (usage text). */
void usk_log_usage(void);

/**
 * Optional sink that replaces stderr/syslog output (tests capture messages with it).
 * Called for every message regardless of level; the sink filters.
 */
typedef void (*usk_log_fn)(int level, const char *file, int line, const char *func,
			   const char *format, va_list ap);
/** Route messages to fn (NULL = back to stderr/syslog). */
void usk_log_open(usk_log_fn fn);
/** Same as usk_log_open(NULL). */
void usk_log_close(void);

#ifdef __cplusplus
}
#endif
#endif
