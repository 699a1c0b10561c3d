/* SPDX-License-Identifier: BSD-3-Clause */
/* Logging: levels, constructor-registered component flags, stderr printing with timestamps. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <sys/time.h>
#include <time.h>

#include "usk/log.h"

static const char *const g_level_names[] = {
	[USK_LOG_ERROR] = "ERROR", [USK_LOG_WARN] = "WARNING", [USK_LOG_NOTICE] = "NOTICE",
	[USK_LOG_INFO] = "INFO",   [USK_LOG_DEBUG] = "DEBUG",
};

static const int g_syslog_prio[] = {
	[USK_LOG_ERROR] = LOG_ERR, [USK_LOG_WARN] = LOG_WARNING, [USK_LOG_NOTICE] = LOG_NOTICE,
	[USK_LOG_INFO] = LOG_INFO, [USK_LOG_DEBUG] = LOG_DEBUG,
};

/* Levels are read without a lock on every log call; a stale value only mis-filters one line. */
static enum usk_log_level g_log_level = USK_LOG_NOTICE;
static enum usk_log_level g_print_level = USK_LOG_NOTICE;
static usk_log_fn g_log_fn;

/* Registry sorted by name; filled by constructors before main(), so no lock is needed. */
static struct usk_log_flag *g_flags;

void
usk_log_register_flag(const char *name, struct usk_log_flag *flag)
{
	struct usk_log_flag **pp;

	if (name == NULL || flag == NULL) {
		return;
	}
	flag->name = name;
	for (pp = &g_flags; *pp != NULL; pp = &(*pp)->next) {
		int c = strcasecmp((*pp)->name, name);

		if (*pp == flag) {
			return;
		}
		if (c >= 0) {
			break;
		}
	}
	flag->next = *pp;
	*pp = flag;
}

static struct usk_log_flag *
find_flag(const char *name)
{
	struct usk_log_flag *f;

	for (f = g_flags; f != NULL; f = f->next) {
		if (strcasecmp(f->name, name) == 0) {
			return f;
		}
	}
	return NULL;
}

static int
set_flag(const char *name, bool value)
{
	struct usk_log_flag *f;

	if (name == NULL) {
		return -EINVAL;
	}
	if (strcasecmp(name, "all") == 0) {
		for (f = g_flags; f != NULL; f = f->next) {
			f->enabled = value;
		}
		return 0;
	}
	f = find_flag(name);
	if (f == NULL) {
		return -EINVAL;
	}
	f->enabled = value;
	return 0;
}

int
usk_log_set_flag(const char *flag)
{
	return set_flag(flag, true);
}

int
usk_log_enable_debug(const char *flag)
{
	int rc = usk_log_set_flag(flag);

	if (rc == 0) {
		usk_log_set_print_level(USK_LOG_DEBUG);
	}
	return rc;
}

int
usk_log_clear_flag(const char *flag)
{
	return set_flag(flag, false);
}

bool
usk_log_get_flag(const char *flag)
{
	struct usk_log_flag *f = flag ? find_flag(flag) : NULL;

	return f != NULL && f->enabled;
}

struct usk_log_flag *
usk_log_get_next_flag(struct usk_log_flag *prev)
{
	return prev == NULL ? g_flags : prev->next;
}

void
usk_log_usage(void)
{
	struct usk_log_flag *f;

	fprintf(stderr, " -L, --logflag <flag>    enable a log flag (all");
	for (f = g_flags; f != NULL; f = f->next) {
		fprintf(stderr, ", %s", f->name);
	}
	fprintf(stderr, ")\n");
}

void
usk_log_set_level(enum usk_log_level level)
{
	g_log_level = level;
}

enum usk_log_level
usk_log_get_level(void)
{
	return g_log_level;
}

void
usk_log_set_print_level(enum usk_log_level level)
{
	g_print_level = level;
}

enum usk_log_level
usk_log_get_print_level(void)
{
	return g_print_level;
}

int
usk_log_level_from_name(const char *name, enum usk_log_level *level)
{
	int i;

	if (name == NULL || level == NULL) {
		return -EINVAL;
	}
	if (strcasecmp(name, "DISABLED") == 0) {
		*level = USK_LOG_DISABLED;
		return 0;
	}
	if (strcasecmp(name, "WARN") == 0) {
		*level = USK_LOG_WARN;
		return 0;
	}
	for (i = USK_LOG_ERROR; i <= USK_LOG_DEBUG; i++) {
		if (strcasecmp(name, g_level_names[i]) == 0) {
			*level = (enum usk_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
usk_log_level_name(enum usk_log_level level)
{
	if (level < USK_LOG_ERROR || level > USK_LOG_DEBUG) {
		return level == USK_LOG_DISABLED ? "DISABLED" : "UNKNOWN";
	}
	return g_level_names[level];
}

void
usk_log_open(usk_log_fn fn)
{
	g_log_fn = fn;
}

void
usk_log_close(void)
{
	g_log_fn = NULL;
}

static const char *
basename_of(const char *file)
{
	const char *slash = file ? strrchr(file, '/') : NULL;

	return slash ? slash + 1 : (file ? file : "?");
}

void
usk_vlog(enum usk_log_level level, const char *file, int line, const char *func, const char *format,
	 va_list ap)
{
	char buf[1024];
	char ts[64];
	struct timeval tv;
	struct tm tm;
	bool do_print, do_syslog;
	va_list ap2;

	if (level < USK_LOG_ERROR || level > USK_LOG_DEBUG) {
		return;
	}
	if (g_log_fn != NULL) {
		va_copy(ap2, ap);
		g_log_fn(level, file, line, func, format, ap2);
		va_end(ap2);
		return;
	}
	do_print = level <= g_print_level;
	do_syslog = level <= g_log_level;
	if (!do_print && !do_syslog) {
		return;
	}
	vsnprintf(buf, sizeof(buf), format, ap);
	if (do_print) {
		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
		/* One fprintf so lines from different threads do not interleave. */
		fprintf(stderr, "[%s.%06ld] %s:%4d:%s: *%s*: %s", ts, (long)tv.tv_usec,
			basename_of(file), line, func ? func : "?", g_level_names[level], buf);
	}
	if (do_syslog) {
		syslog(g_syslog_prio[level], "%s:%4d:%s: *%s*: %s", basename_of(file), line,
		       func ? func : "?", g_level_names[level], buf);
	}
}

void
usk_log(enum usk_log_level level, const char *file, int line, const char *func, const char *format,
	...)
{
	va_list ap;

	va_start(ap, format);
	usk_vlog(level, file, line, func, format, ap);
	va_end(ap);
}
