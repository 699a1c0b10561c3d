/* SPDX-License-Identifier: BSD-3-Clause */
/* Metrics writer (Prometheus text exposition 0.0.4), collector registry and scrape driver. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"

/* Growable byte buffer; len excludes the NUL kept after the data. */
struct mbuf {
	char *p;
	size_t len;
	size_t cap;
};

struct metric_family {
	char *name;
	enum usk_metric_type type;
	struct mbuf samples; /* sample lines of this family, in add order */
};

/*
 * Invariant: families[0..nfamilies) have distinct names, in first-use order; oom is sticky,
 * so a scrape that lost a sample is answered with an error rather than with partial data.
 */
struct usk_metrics_writer {
	struct metric_family *families;
	size_t nfamilies;
	size_t cap_families;
	char **helps; /* [cap_families]: HELP text of each family */
	struct mbuf out;
	bool oom;
	/* scrape driver */
	struct usk_metrics_collector *cur;
	metrics_scrape_cb cb;
	void *cb_ctx;
};

static struct usk_metrics_collector *g_collectors;

static int
mbuf_reserve(struct mbuf *b, size_t extra)
{
	size_t want = b->len + extra + 1;
	char *p;

	if (want <= b->cap) {
		return 0;
	}
	if (want < 2 * b->cap) {
		want = 2 * b->cap;
	}
	if (want < 256) {
		want = 256;
	}
	p = realloc(b->p, want);
	if (p == NULL) {
		return -ENOMEM;
	}
	b->p = p;
	b->cap = want;
	return 0;
}

static int
mbuf_put(struct mbuf *b, const char *s, size_t n)
{
	if (mbuf_reserve(b, n) != 0) {
		return -ENOMEM;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int
mbuf_puts(struct mbuf *b, const char *s)
{
	return mbuf_put(b, s, strlen(s));
}

/*
 * Label values escape backslash, double quote and line feed; HELP text escapes backslash and
 * line feed (the exposition format's two rules). Other bytes pass through unchanged.
 */
static int
mbuf_put_escaped(struct mbuf *b, const char *s, bool quote)
{
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		if (*s == '\\') {
			rc = mbuf_put(b, "\\\\", 2);
		} else if (*s == '\n') {
			rc = mbuf_put(b, "\\n", 2);
		} else if (*s == '"' && quote) {
			rc = mbuf_put(b, "\\\"", 2);
		} else {
			rc = mbuf_put(b, s, 1);
		}
	}
	return rc;
}

static bool
valid_name(const char *s, bool colon_ok)
{
	size_t i;

	if (s == NULL || s[0] == '\0') {
		return false;
	}
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			     (colon_ok && c == ':');

		if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
			return false;
		}
	}
	return true;
}

struct usk_metrics_writer *
metrics_writer_create(void)
{
	return calloc(1, sizeof(struct usk_metrics_writer));
}

void
metrics_writer_free(struct usk_metrics_writer *w)
{
	size_t i;

	if (w == NULL) {
		return;
	}
	for (i = 0; i < w->nfamilies; i++) {
		free(w->families[i].name);
		free(w->families[i].samples.p);
		free(w->helps[i]);
	}
	free(w->families);
	free(w->helps);
	free(w->out.p);
	free(w);
}

static struct metric_family *
family_get(struct usk_metrics_writer *w, const char *name, enum usk_metric_type type,
	   const char *help, int *rc)
{
	struct metric_family *f;
	size_t i;

	for (i = 0; i < w->nfamilies; i++) {
		if (strcmp(w->families[i].name, name) == 0) {
			if (w->families[i].type != type) {
				*rc = -EINVAL;
				return NULL;
			}
			return &w->families[i];
		}
	}
	if (w->nfamilies == w->cap_families) {
		size_t cap = w->cap_families ? 2 * w->cap_families : 32;
		struct metric_family *nf = realloc(w->families, cap * sizeof(*nf));
		char **nh;

		if (nf == NULL) {
			goto err_nomem;
		}
		w->families = nf;
		nh = realloc(w->helps, cap * sizeof(*nh));
		if (nh == NULL) {
			goto err_nomem;
		}
		w->helps = nh;
		w->cap_families = cap;
	}
	f = &w->families[w->nfamilies];
	memset(f, 0, sizeof(*f));
	f->name = strdup(name);
	w->helps[w->nfamilies] = strdup(help != NULL ? help : "");
	if (f->name == NULL || w->helps[w->nfamilies] == NULL) {
		free(f->name);
		free(w->helps[w->nfamilies]);
		goto err_nomem;
	}
	f->type = type;
	w->nfamilies++;
	return f;

err_nomem:
	*rc = -ENOMEM;
	return NULL;
}

/* Append `name[suffix]{labels} value\n` to f's samples. */
static int
put_sample(struct metric_family *f, const char *suffix, const struct usk_metrics_label *labels,
	   size_t nlabels, const char *value)
{
	struct mbuf *b = &f->samples;
	size_t i;
	int rc;

	rc = mbuf_puts(b, f->name);
	if (rc == 0 && suffix != NULL) {
		rc = mbuf_puts(b, suffix);
	}
	for (i = 0; i < nlabels && rc == 0; i++) {
		rc = mbuf_puts(b, i == 0 ? "{" : ",");
		rc = rc ? rc : mbuf_puts(b, labels[i].name);
		rc = rc ? rc : mbuf_put(b, "=\"", 2);
		rc = rc ? rc : mbuf_put_escaped(b, labels[i].value ? labels[i].value : "", true);
		rc = rc ? rc : mbuf_put(b, "\"", 1);
	}
	if (rc == 0 && nlabels > 0) {
		rc = mbuf_put(b, "}", 1);
	}
	rc = rc ? rc : mbuf_put(b, " ", 1);
	rc = rc ? rc : mbuf_puts(b, value);
	rc = rc ? rc : mbuf_put(b, "\n", 1);
	return rc;
}

static void
format_double(char *buf, size_t len, double v)
{
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
	} else if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
	} else {
		snprintf(buf, len, "%.17g", v);
	}
}

static int
add_common(struct usk_metrics_writer *w, const char *name, enum usk_metric_type type,
	   const char *help, const struct usk_metrics_label *labels, size_t nlabels,
	   const char *value, const char *value2)
{
	struct metric_family *f;
	size_t i;
	int rc = 0;

	if (w == NULL || !valid_name(name, true) || (nlabels > 0 && labels == NULL)) {
		return -EINVAL;
	}
	for (i = 0; i < nlabels; i++) {
		if (!valid_name(labels[i].name, false)) {
			return -EINVAL;
		}
	}
	f = family_get(w, name, type, help, &rc);
	if (f == NULL) {
		goto out;
	}
	if (type == USK_METRIC_SUMMARY) {
		rc = put_sample(f, "_sum", labels, nlabels, value);
		rc = rc ? rc : put_sample(f, "_count", labels, nlabels, value2);
	} else {
		rc = put_sample(f, NULL, labels, nlabels, value);
	}
out:
	if (rc == -ENOMEM) {
		w->oom = true;
	}
	return rc;
}

int
usk_metrics_add(struct usk_metrics_writer *w, const char *name, enum usk_metric_type type,
		const char *help, const struct usk_metrics_label *labels, size_t nlabels,
		double value)
{
	char v[40];

	if (type == USK_METRIC_SUMMARY) {
		return -EINVAL;
	}
	format_double(v, sizeof(v), value);
	return add_common(w, name, type, help, labels, nlabels, v, NULL);
}

int
usk_metrics_add_u64(struct usk_metrics_writer *w, const char *name, enum usk_metric_type type,
		    const char *help, const struct usk_metrics_label *labels, size_t nlabels,
		    uint64_t value)
{
	char v[24];

	if (type == USK_METRIC_SUMMARY) {
		return -EINVAL;
	}
	snprintf(v, sizeof(v), "%" PRIu64, value);
	return add_common(w, name, type, help, labels, nlabels, v, NULL);
}

int
usk_metrics_add_summary(struct usk_metrics_writer *w, const char *name, const char *help,
			const struct usk_metrics_label *labels, size_t nlabels, double sum,
			uint64_t count)
{
	char s[40], c[24];

	format_double(s, sizeof(s), sum);
	snprintf(c, sizeof(c), "%" PRIu64, count);
	return add_common(w, name, USK_METRIC_SUMMARY, help, labels, nlabels, s, c);
}

static const char *
type_name(enum usk_metric_type type)
{
	switch (type) {
	case USK_METRIC_COUNTER:
		return "counter";
	case USK_METRIC_GAUGE:
		return "gauge";
	case USK_METRIC_SUMMARY:
		return "summary";
	}
	return "untyped";
}

const char *
metrics_writer_text(struct usk_metrics_writer *w, size_t *len)
{
	size_t i;
	int rc = 0;

	if (w->oom) {
		return NULL;
	}
	w->out.len = 0;
	rc = mbuf_reserve(&w->out, 0);
	if (rc == 0) {
		w->out.p[0] = '\0';
	}
	for (i = 0; i < w->nfamilies && rc == 0; i++) {
		struct metric_family *f = &w->families[i];

		rc = mbuf_puts(&w->out, "# HELP ");
		rc = rc ? rc : mbuf_puts(&w->out, f->name);
		rc = rc ? rc : mbuf_put(&w->out, " ", 1);
		rc = rc ? rc : mbuf_put_escaped(&w->out, w->helps[i], false);
		rc = rc ? rc : mbuf_puts(&w->out, "\n# TYPE ");
		rc = rc ? rc : mbuf_puts(&w->out, f->name);
		rc = rc ? rc : mbuf_put(&w->out, " ", 1);
		rc = rc ? rc : mbuf_puts(&w->out, type_name(f->type));
		rc = rc ? rc : mbuf_put(&w->out, "\n", 1);
		rc = rc ? rc : mbuf_put(&w->out, f->samples.p ? f->samples.p : "", f->samples.len);
	}
	if (rc != 0) {
		w->oom = true;
		return NULL;
	}
	*len = w->out.len;
	return w->out.p;
}

/* ---- registry and scrape ---- */

void
usk_metrics_register_collector(struct usk_metrics_collector *collector)
{
	struct usk_metrics_collector **p = &g_collectors;

	/* Append, so the output follows registration (link) order: framework first. */
	while (*p != NULL) {
		p = &(*p)->next;
	}
	collector->next = NULL;
	*p = collector;
}

void
metrics_registry_reset(void)
{
	g_collectors = NULL;
}

static void
scrape_run(struct usk_metrics_writer *w)
{
	if (w->cur == NULL) {
		w->cb(w, w->cb_ctx);
		return;
	}
	w->cur->collect(w);
}

void
usk_metrics_collect_done(struct usk_metrics_writer *w)
{
	w->cur = w->cur->next;
	scrape_run(w);
}

void
metrics_scrape(metrics_scrape_cb cb, void *ctx)
{
	struct usk_metrics_writer *w = metrics_writer_create();

	if (w == NULL) {
		cb(NULL, ctx);
		return;
	}
	w->cb = cb;
	w->cb_ctx = ctx;
	w->cur = g_collectors;
	scrape_run(w);
}
