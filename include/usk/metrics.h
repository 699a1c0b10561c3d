/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prometheus metrics: collectors registered by the libraries (threads, bdevs, NVMe-oF) fill a
 * writer per scrape; the app framework serves the result as GET /metrics (text exposition
 * format 0.0.4) on the --metrics listener. lib/event owns the registry and the HTTP side; a
 * library above it registers its own collector, so lib/event depends on none of them.
 */
#ifndef USK_METRICS_H
#define USK_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum usk_metric_type {
	USK_METRIC_COUNTER, /* monotonic; the name should end in _total */
	USK_METRIC_GAUGE,
	USK_METRIC_SUMMARY, /* _sum and _count samples, no quantiles */
};

struct usk_metrics_label {
	const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]* */
	const char *value; /* any bytes; escaped on output */
};

/* One scrape's output under construction, samples grouped by family. */
struct usk_metrics_writer;

/**
 * Add one sample of family name (created on first use with type and help; a later call with
 * another type is refused). Samples come out grouped by family, in first-use order, so
 * collectors may add them in any order. Returns 0, -EINVAL for an invalid metric or label
 * name or a type mismatch, -ENOMEM. Call from the thread the collector currently runs on.
 */
int usk_metrics_add(struct usk_metrics_writer *w, const char *name, enum usk_metric_type type,
		    const char *help, const struct usk_metrics_label *labels, size_t nlabels,
		    double value);
/** As usk_metrics_add for an integer value (printed exactly, no rounding above 2^53). */
int usk_metrics_add_u64(struct usk_metrics_writer *w, const char *name, enum usk_metric_type type,
			const char *help, const struct usk_metrics_label *labels, size_t nlabels,
			uint64_t value);
/** A USK_METRIC_SUMMARY sample pair: name_sum (sum) and name_count (count). */
int usk_metrics_add_summary(struct usk_metrics_writer *w, const char *name, const char *help,
			    const struct usk_metrics_label *labels, size_t nlabels, double sum,
			    uint64_t count);

struct usk_metrics_collector {
	const char *name;
	/*
	 * Called on the app thread once per scrape. Add samples to w (possibly from other threads,
	 * one at a time, handing w on by message), then call usk_metrics_collect_done(w) exactly
	 * once, on the app thread.
	 */
	void (*collect)(struct usk_metrics_writer *w);
	struct usk_metrics_collector *next; /* registry link */
};

/** Register a collector (constructor time, through USK_METRICS_COLLECTOR_REGISTER). */
void usk_metrics_register_collector(struct usk_metrics_collector *collector);
#define USK_METRICS_COLLECTOR_REGISTER(_c) \
	__attribute__((constructor)) static void _c##_metrics_register(void) \
	{ \
		usk_metrics_register_collector(&_c); \
	}

/** End of a collector's collect(); the next collector runs. App thread only. */
void usk_metrics_collect_done(struct usk_metrics_writer *w);

/**
 * Start serving GET /metrics on addr ("IP:PORT", IPv4; port 0 picks one) from the calling
 * (app) thread. Returns 0, -EBUSY when already listening, -EINVAL for a malformed address, or
 * the -errno of socket/bind/listen. The bound port is in usk_metrics_get_port().
 */
int usk_metrics_listen(const char *addr);
/** Close the listener and every connection (scrapes in flight are discarded). App thread. */
void usk_metrics_close(void);
/** The listening TCP port, 0 when not listening. */
uint16_t usk_metrics_get_port(void);
/**
 * The bound listener as "IP:PORT" (the port the kernel chose when 0 was asked for) in buf.
 * 0, -ENOTCONN when not listening, -ENOSPC when len is too small. App thread.
 */
int usk_metrics_get_address(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
