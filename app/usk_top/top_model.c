/* SPDX-License-Identifier: BSD-3-Clause */
/* usk_top data: a JSON-RPC client, snapshots of the stats RPCs, tables of rates between two. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "usk/histogram.h"

#include "top.h"

#define TOP_RPC_TIMEOUT_MS 5000
#define TOP_MAX_RESPONSE   (64 * 1024 * 1024)

struct top_client {
	int fd;
	int next_id;
};

struct top_client *
top_client_connect(const char *path, char *err, size_t err_len)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct top_client *c;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, err_len, "socket path too long: %s", path);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		snprintf(err, err_len, "cannot connect to %s: %s", path, strerror(errno));
		if (c->fd >= 0) {
			close(c->fd);
		}
		free(c);
		return NULL;
	}
	return c;
}

void
top_client_close(struct top_client *c)
{
	if (c != NULL) {
		close(c->fd);
		free(c);
	}
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

json_t *
top_client_call(struct top_client *c, const char *method, json_t *params, char *err, size_t err_len)
{
	json_t *req = json_pack("{s:s, s:s, s:i}", "jsonrpc", "2.0", "method", method, "id",
				++c->next_id);
	json_t *resp = NULL, *res = NULL, *e;
	int64_t deadline = now_ms() + TOP_RPC_TIMEOUT_MS;
	size_t len = 0, cap = 65536, off = 0, slen;
	char *buf = NULL, *s = NULL;
	json_error_t jerr;

	if (req == NULL) {
		goto out_nomem;
	}
	if (params != NULL) {
		json_object_set(req, "params", params);
	}
	s = json_dumps(req, JSON_COMPACT);
	buf = malloc(cap);
	if (s == NULL || buf == NULL) {
		goto out_nomem;
	}
	slen = strlen(s);
	while (off < slen) {
		ssize_t n = send(c->fd, s + off, slen - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			snprintf(err, err_len, "%s: send: %s", method, strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	for (;;) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			snprintf(err, err_len, "%s: no reply within %d ms", method,
				 TOP_RPC_TIMEOUT_MS);
			goto out;
		}
		if (poll(&pfd, 1, (int)left) <= 0) {
			continue;
		}
		if (len == cap) {
			char *nb = cap < TOP_MAX_RESPONSE ? realloc(buf, cap * 2) : NULL;

			if (nb == NULL) {
				snprintf(err, err_len, "%s: reply too large", method);
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		n = recv(c->fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			snprintf(err, err_len, "%s: connection closed", method);
			goto out;
		}
		len += (size_t)n;
		resp = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &jerr);
		if (resp != NULL) {
			break;
		}
		if (json_error_code(&jerr) != json_error_premature_end_of_input) {
			snprintf(err, err_len, "%s: invalid reply: %s", method, jerr.text);
			goto out;
		}
	}
	e = json_object_get(resp, "error");
	if (e != NULL) {
		snprintf(err, err_len, "%s: %s", method,
			 json_string_value(json_object_get(e, "message")) ?: "error");
		goto out;
	}
	res = json_incref(json_object_get(resp, "result"));
	if (res == NULL) {
		snprintf(err, err_len, "%s: reply without result", method);
	}
	goto out;
out_nomem:
	snprintf(err, err_len, "out of memory");
out:
	json_decref(resp);
	json_decref(req);
	free(s);
	free(buf);
	return res;
}

/* ---- model ---- */

enum {
	SRC_THREADS,  /* thread_get_stats */
	SRC_POLLERS,  /* thread_get_pollers */
	SRC_REACTORS, /* framework_get_reactors */
	SRC_IOSTAT,   /* bdev_get_iostat */
	SRC_SUBSYS,   /* nvmf_get_subsystems + qpairs per subsystem (array of {nqn, qpairs}) */
	SRC_COUNT,
};

struct top_model {
	struct top_client *c;
	json_t *cur[SRC_COUNT];
	json_t *prev[SRC_COUNT];
	double interval_s; /* between the two snapshots */
	int64_t cur_ms;
	char nvmf_err[256];
};

static const char *const g_tab_names[TOP_TAB_COUNT] = {
	"threads", "pollers", "cores", "bdevs", "nvmf",
};

const char *
top_tab_name(enum top_tab tab)
{
	return tab < TOP_TAB_COUNT ? g_tab_names[tab] : "?";
}

struct top_model *
top_model_create(struct top_client *c)
{
	struct top_model *m = calloc(1, sizeof(*m));

	if (m != NULL) {
		m->c = c;
	}
	return m;
}

void
top_model_free(struct top_model *m)
{
	int i;

	if (m == NULL) {
		return;
	}
	for (i = 0; i < SRC_COUNT; i++) {
		json_decref(m->cur[i]);
		json_decref(m->prev[i]);
	}
	free(m);
}

/* nvmf_get_subsystems, then nvmf_subsystem_get_qpairs of each: [{"nqn", "hosts", "qpairs"}]. */
static json_t *
fetch_nvmf(struct top_model *m)
{
	json_t *subs, *out, *s, *q, *p;
	size_t i;
	char err[256];

	subs = top_client_call(m->c, "nvmf_get_subsystems", NULL, err, sizeof(err));
	if (subs == NULL) {
		snprintf(m->nvmf_err, sizeof(m->nvmf_err), "%s", err);
		return json_array();
	}
	m->nvmf_err[0] = '\0';
	out = json_array();
	json_array_foreach(subs, i, s)
	{
		const char *nqn = json_string_value(json_object_get(s, "nqn"));

		if (nqn == NULL) {
			continue;
		}
		p = json_pack("{s:s}", "nqn", nqn);
		q = top_client_call(m->c, "nvmf_subsystem_get_qpairs", p, err, sizeof(err));
		json_decref(p);
		json_array_append_new(out, json_pack("{s:s, s:O?, s:o}", "nqn", nqn, "subtype",
						     json_object_get(s, "subtype"), "qpairs",
						     q ? q : json_array()));
	}
	json_decref(subs);
	return out;
}

int
top_model_refresh(struct top_model *m, char *err, size_t err_len)
{
	static const char *const methods[] = {
		"thread_get_stats",
		"thread_get_pollers",
		"framework_get_reactors",
		"bdev_get_iostat",
	};
	json_t *snap[SRC_COUNT] = {};
	int64_t now;
	int i;

	for (i = 0; i < SRC_SUBSYS; i++) {
		snap[i] = top_client_call(m->c, methods[i], NULL, err, err_len);
		if (snap[i] == NULL) {
			goto err_free;
		}
	}
	snap[SRC_SUBSYS] = fetch_nvmf(m);
	now = now_ms();
	for (i = 0; i < SRC_COUNT; i++) {
		json_decref(m->prev[i]);
		m->prev[i] = m->cur[i];
		m->cur[i] = snap[i];
	}
	m->interval_s = m->cur_ms ? (double)(now - m->cur_ms) / 1000.0 : 0;
	m->cur_ms = now;
	return 0;

err_free:
	for (i = 0; i < SRC_COUNT; i++) {
		json_decref(snap[i]);
	}
	return -1;
}

/* ---- tables ---- */

static struct top_row *
add_row(struct top_table *t)
{
	if (t->nrows == t->cap) {
		int cap = t->cap ? t->cap * 2 : 32;
		struct top_row *r = realloc(t->rows, (size_t)cap * sizeof(*r));

		if (r == NULL) {
			return NULL;
		}
		t->rows = r;
		t->cap = cap;
	}
	memset(&t->rows[t->nrows], 0, sizeof(t->rows[0]));
	return &t->rows[t->nrows++];
}

static void
set_text(struct top_row *r, int col, const char *s)
{
	snprintf(r->cell[col], TOP_CELL, "%s", s ? s : "-");
}

static void
set_num(struct top_row *r, int col, double v, const char *fmt)
{
	r->key[col] = v;
	snprintf(r->cell[col], TOP_CELL, fmt, v);
}

static double
jnum(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : 0;
}

/* The element of array arr whose field key equals the string or integer of like[key]. */
static json_t *
find_like(json_t *arr, const char *key, json_t *like)
{
	json_t *v = json_object_get(like, key), *e;
	size_t i;

	json_array_foreach(arr, i, e)
	{
		if (json_equal(json_object_get(e, key), v)) {
			return e;
		}
	}
	return NULL;
}

/* thread id -> lcore, from framework_get_reactors */
static int
thread_core(json_t *reactors, json_int_t id)
{
	json_t *r, *t;
	size_t i, j;

	json_array_foreach(json_object_get(reactors, "reactors"), i, r)
	{
		json_array_foreach(json_object_get(r, "lw_threads"), j, t)
		{
			if (json_integer_value(json_object_get(t, "id")) == id) {
				return (int)json_integer_value(json_object_get(r, "lcore"));
			}
		}
	}
	return -1;
}

static const struct top_col g_thread_cols[] = {
	{"THREAD", 26, false}, {"ID", 4, true},	    {"CORE", 4, true},	{"BUSY%", 6, true},
	{"IDLE%", 6, true},    {"ACTIVE", 6, true}, {"TIMED", 5, true}, {"PAUSED", 6, true},
};

static void
table_threads(struct top_model *m, struct top_table *t)
{
	json_t *th, *prev;
	size_t i;

	json_array_foreach(json_object_get(m->cur[SRC_THREADS], "threads"), i, th)
	{
		struct top_row *r = add_row(t);
		double busy = jnum(th, "busy"), idle = jnum(th, "idle"), tot;

		if (r == NULL) {
			return;
		}
		prev = find_like(json_object_get(m->prev[SRC_THREADS], "threads"), "id", th);
		if (prev != NULL) {
			busy -= jnum(prev, "busy");
			idle -= jnum(prev, "idle");
		}
		tot = busy + idle;
		set_text(r, 0, json_string_value(json_object_get(th, "name")));
		set_num(r, 1, jnum(th, "id"), "%.0f");
		set_num(r, 2, thread_core(m->cur[SRC_REACTORS], (json_int_t)jnum(th, "id")),
			"%.0f");
		set_num(r, 3, tot > 0 ? 100.0 * busy / tot : 0, "%.1f");
		set_num(r, 4, tot > 0 ? 100.0 * idle / tot : 0, "%.1f");
		set_num(r, 5, jnum(th, "active_pollers_count"), "%.0f");
		set_num(r, 6, jnum(th, "timed_pollers_count"), "%.0f");
		set_num(r, 7, jnum(th, "paused_pollers_count"), "%.0f");
	}
}

static const struct top_col g_poller_cols[] = {
	{"POLLER", 28, false}, {"THREAD", 24, false}, {"TYPE", 6, false},     {"RUNS/s", 10, true},
	{"BUSY/s", 10, true},  {"RUNS", 12, true},    {"PERIOD_us", 9, true},
};

static void
table_pollers(struct top_model *m, struct top_table *t)
{
	static const char *const kinds[] = {"active_pollers", "timed_pollers", "paused_pollers"};
	static const char *const kind_names[] = {"active", "timed", "paused"};
	double hz = jnum(m->cur[SRC_POLLERS], "tick_rate");
	json_t *th, *pth, *p, *pp;
	size_t i, j;
	int k;

	json_array_foreach(json_object_get(m->cur[SRC_POLLERS], "threads"), i, th)
	{
		pth = find_like(json_object_get(m->prev[SRC_POLLERS], "threads"), "id", th);
		for (k = 0; k < 3; k++) {
			json_array_foreach(json_object_get(th, kinds[k]), j, p)
			{
				struct top_row *r = add_row(t);
				double runs = jnum(p, "run_count"), busy = jnum(p, "busy_count");

				if (r == NULL) {
					return;
				}
				pp = pth ? find_like(json_object_get(pth, kinds[k]), "name", p) :
					   NULL;
				set_text(r, 0, json_string_value(json_object_get(p, "name")));
				set_text(r, 1, json_string_value(json_object_get(th, "name")));
				set_text(r, 2, kind_names[k]);
				set_num(r, 3,
					pp && m->interval_s > 0 ?
						(runs - jnum(pp, "run_count")) / m->interval_s :
						0,
					"%.0f");
				set_num(r, 4,
					pp && m->interval_s > 0 ?
						(busy - jnum(pp, "busy_count")) / m->interval_s :
						0,
					"%.0f");
				set_num(r, 5, runs, "%.0f");
				set_num(r, 6, hz > 0 ? jnum(p, "period_ticks") * 1e6 / hz : 0,
					"%.0f");
			}
		}
	}
}

static const struct top_col g_core_cols[] = {
	{"CORE", 4, true},  {"BUSY%", 6, true}, {"THREADS", 7, true},
	{"MODE", 9, false}, {"IRQ/s", 8, true}, {"THREAD NAMES", 40, false},
};

static void
table_cores(struct top_model *m, struct top_table *t)
{
	json_t *re, *pre, *lw;
	size_t i, j;

	json_array_foreach(json_object_get(m->cur[SRC_REACTORS], "reactors"), i, re)
	{
		struct top_row *r = add_row(t);
		double busy = jnum(re, "busy"), idle = jnum(re, "idle"),
		       irq = jnum(re, "irq_count");
		char names[TOP_CELL] = "";
		bool intr = json_is_true(json_object_get(re, "in_interrupt"));

		if (r == NULL) {
			return;
		}
		pre = find_like(json_object_get(m->prev[SRC_REACTORS], "reactors"), "lcore", re);
		if (pre != NULL) {
			busy -= jnum(pre, "busy");
			idle -= jnum(pre, "idle");
			irq -= jnum(pre, "irq_count");
		}
		json_array_foreach(json_object_get(re, "lw_threads"), j, lw)
		{
			size_t n = strlen(names);

			snprintf(names + n, sizeof(names) - n, "%s%s", n ? "," : "",
				 json_string_value(json_object_get(lw, "name")) ?: "?");
		}
		set_num(r, 0, jnum(re, "lcore"), "%.0f");
		set_num(r, 1, busy + idle > 0 ? 100.0 * busy / (busy + idle) : 0, "%.1f");
		set_num(r, 2, (double)json_array_size(json_object_get(re, "lw_threads")), "%.0f");
		/* a reactor with wake-ups runs in interrupt mode; in_interrupt: asleep right now */
		set_text(r, 3, intr || jnum(re, "irq_count") > 0 ? "interrupt" : "poll");
		set_num(r, 4, pre && m->interval_s > 0 ? irq / m->interval_s : 0, "%.0f");
		set_text(r, 5, names);
	}
}

static const struct top_col g_bdev_cols[] = {
	{"BDEV", 20, false},   {"R_IOPS", 10, true},  {"W_IOPS", 10, true},  {"R_MB/s", 9, true},
	{"W_MB/s", 9, true},   {"R_LAT_us", 9, true}, {"R_P99_us", 9, true}, {"W_LAT_us", 9, true},
	{"W_P99_us", 9, true}, {"R_MAX_us", 9, true}, {"W_MAX_us", 9, true},
};

/*
 * Add the latency histogram kind ("read", "write") of bdev_get_iostat entry b to bucket (sign
 * +1 or -1, for the difference of two snapshots). false if b has none in our layout.
 */
static bool
hist_add(json_t *b, const char *kind, int64_t sign, int64_t *bucket)
{
	json_t *h = json_object_get(b, "latency_histogram"), *arr, *e;
	size_t i;

	if (jnum(h, "bucket_shift") != USK_HISTOGRAM_BUCKET_SHIFT ||
	    jnum(h, "num_buckets") != USK_HISTOGRAM_NUM_BUCKETS) {
		return false;
	}
	arr = json_object_get(h, kind);
	if (!json_is_array(arr)) {
		return false;
	}
	json_array_foreach(arr, i, e)
	{
		json_int_t idx = json_integer_value(json_array_get(e, 0));

		if (idx >= 0 && idx < USK_HISTOGRAM_NUM_BUCKETS) {
			bucket[idx] += sign * (int64_t)json_integer_value(json_array_get(e, 1));
		}
	}
	return true;
}

/* p99 in µs of the reads or writes completed between snapshots pb and b; -1 if unknown. */
static double
interval_p99_us(json_t *b, json_t *pb, const char *kind, double hz)
{
	int64_t d[USK_HISTOGRAM_NUM_BUCKETS] = {0};
	uint64_t u[USK_HISTOGRAM_NUM_BUCKETS];
	uint32_t i;

	if (hz <= 0 || !hist_add(b, kind, 1, d) || (pb != NULL && !hist_add(pb, kind, -1, d))) {
		return -1;
	}
	for (i = 0; i < USK_HISTOGRAM_NUM_BUCKETS; i++) {
		u[i] = d[i] > 0 ? (uint64_t)d[i] : 0; /* negative: the stats were reset between */
	}
	return (double)usk_histogram_percentile(u, USK_HISTOGRAM_NUM_BUCKETS, 99) * 1e6 / hz;
}

static void
table_bdevs(struct top_model *m, struct top_table *t)
{
	double hz = jnum(m->cur[SRC_IOSTAT], "tick_rate"), dt = m->interval_s;
	json_t *b, *pb;
	size_t i;

	json_array_foreach(json_object_get(m->cur[SRC_IOSTAT], "bdevs"), i, b)
	{
		struct top_row *r = add_row(t);
		double rops = jnum(b, "num_read_ops"), wops = jnum(b, "num_write_ops");
		double rb = jnum(b, "bytes_read"), wb = jnum(b, "bytes_written");
		double rl = jnum(b, "read_latency_ticks"), wl = jnum(b, "write_latency_ticks");
		double rp99 = 0, wp99 = 0;

		if (r == NULL) {
			return;
		}
		pb = find_like(json_object_get(m->prev[SRC_IOSTAT], "bdevs"), "name", b);
		if (pb == NULL || dt <= 0) {
			rops = wops = rb = wb = rl = wl = 0;
		} else {
			rops -= jnum(pb, "num_read_ops");
			wops -= jnum(pb, "num_write_ops");
			rb -= jnum(pb, "bytes_read");
			wb -= jnum(pb, "bytes_written");
			rl -= jnum(pb, "read_latency_ticks");
			wl -= jnum(pb, "write_latency_ticks");
			rp99 = interval_p99_us(b, pb, "read", hz);
			wp99 = interval_p99_us(b, pb, "write", hz);
		}
		set_text(r, 0, json_string_value(json_object_get(b, "name")));
		set_num(r, 1, dt > 0 ? rops / dt : 0, "%.0f");
		set_num(r, 2, dt > 0 ? wops / dt : 0, "%.0f");
		set_num(r, 3, dt > 0 ? rb / dt / 1e6 : 0, "%.2f");
		set_num(r, 4, dt > 0 ? wb / dt / 1e6 : 0, "%.2f");
		set_num(r, 5, rops > 0 && hz > 0 ? rl / rops * 1e6 / hz : 0, "%.1f");
		set_num(r, 6, rp99, "%.1f");
		set_num(r, 7, wops > 0 && hz > 0 ? wl / wops * 1e6 / hz : 0, "%.1f");
		set_num(r, 8, wp99, "%.1f");
		set_num(r, 9, hz > 0 ? jnum(b, "max_read_latency_ticks") * 1e6 / hz : 0, "%.1f");
		set_num(r, 10, hz > 0 ? jnum(b, "max_write_latency_ticks") * 1e6 / hz : 0, "%.1f");
		if (json_is_false(
			    json_object_get(json_object_get(b, "latency_histogram"), "enabled"))) {
			/* switched off on the target: no p99 of this interval */
			set_text(r, 6, "off");
			set_text(r, 8, "off");
			r->key[6] = r->key[8] = -1;
			snprintf(t->note, sizeof(t->note),
				 "P99 off: latency histograms disabled for %.100s "
				 "(bdev_enable_histogram name=%.100s enable=true)",
				 r->cell[0], r->cell[0]);
		} else if (rp99 < 0 || wp99 < 0) {
			if (rp99 < 0) {
				set_text(r, 6, "-");
			}
			if (wp99 < 0) {
				set_text(r, 8, "-");
			}
			snprintf(
				t->note, sizeof(t->note),
				"P99: the target's bdev_get_iostat has no latency histogram in the "
				"layout this usk_top knows");
		}
	}
}

static const struct top_col g_nvmf_cols[] = {
	{"SUBSYSTEM", 36, false}, {"CNTLID", 6, true}, {"QID", 4, true},
	{"STATE", 8, false},	  {"QD", 4, true},     {"IOPS", 9, true},
	{"THREAD", 24, false},	  {"PEER", 22, false}, {"HOST", 68, false},
};

/* The qpair of subsystem nqn with q's cntlid and qid in snapshot snap (SRC_SUBSYS). */
static json_t *
find_qpair(json_t *snap, const char *nqn, json_t *q)
{
	json_t *s, *e;
	size_t i, j;

	json_array_foreach(snap, i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "nqn")) ?: "", nqn) != 0) {
			continue;
		}
		json_array_foreach(json_object_get(s, "qpairs"), j, e)
		{
			if (jnum(e, "cntlid") == jnum(q, "cntlid") &&
			    jnum(e, "qid") == jnum(q, "qid")) {
				return e;
			}
		}
	}
	return NULL;
}

static void
table_nvmf(struct top_model *m, struct top_table *t)
{
	json_t *s, *q, *pq, *peer;
	double dt = m->interval_s;
	size_t i, j;

	if (m->nvmf_err[0] != '\0') {
		snprintf(t->note, sizeof(t->note), "no NVMe-oF target: %s", m->nvmf_err);
	}
	json_array_foreach(m->cur[SRC_SUBSYS], i, s)
	{
		const char *nqn = json_string_value(json_object_get(s, "nqn"));
		json_t *qp = json_object_get(s, "qpairs");
		struct top_row *r, *sr;
		double sub_qd = 0, sub_iops = 0;

		/* one summary row per subsystem (its qpairs, their queue depth and IOPS summed),
		 * then its connections */
		sr = add_row(t);
		if (sr == NULL) {
			return;
		}
		set_text(sr, 0, nqn);
		set_num(sr, 1, (double)json_array_size(qp), "%.0f qp");
		set_text(sr, 3, json_string_value(json_object_get(s, "subtype")));
		json_array_foreach(qp, j, q)
		{
			char addr[TOP_CELL];
			/* in_flight (the transport's count: all the host's commands at the target)
			 * where the transport reports it, else the core's outstanding */
			double qd = json_object_get(q, "in_flight") ? jnum(q, "in_flight") :
								      jnum(q, "outstanding");
			double iops = 0;

			r = add_row(t);
			if (r == NULL) {
				return;
			}
			pq = find_qpair(m->prev[SRC_SUBSYS], nqn ?: "", q);
			if (pq != NULL && dt > 0 && json_object_get(q, "completed") &&
			    jnum(q, "completed") >= jnum(pq, "completed")) {
				iops = (jnum(q, "completed") - jnum(pq, "completed")) / dt;
			}
			sub_qd += qd;
			sub_iops += iops;
			snprintf(r->cell[0], TOP_CELL, "  %s", nqn);
			set_num(r, 1, jnum(q, "cntlid"), "%.0f");
			set_num(r, 2, jnum(q, "qid"), "%.0f");
			set_text(r, 3, json_string_value(json_object_get(q, "state")));
			set_num(r, 4, qd, "%.0f");
			set_num(r, 5, iops, "%.0f");
			if (json_object_get(q, "completed") == NULL) {
				set_text(r, 5, "-");
			}
			set_text(r, 6, json_string_value(json_object_get(q, "thread")));
			peer = json_object_get(q, "peer_address");
			snprintf(addr, sizeof(addr), "%s:%s",
				 json_string_value(json_object_get(peer, "traddr")) ?: "-",
				 json_string_value(json_object_get(peer, "trsvcid")) ?: "-");
			set_text(r, 7, addr);
			/* last: a UUID host NQN is 68 characters, shown whole on a wide screen */
			set_text(r, 8, json_string_value(json_object_get(q, "hostnqn")));
		}
		set_num(sr, 4, sub_qd, "%.0f");
		set_num(sr, 5, sub_iops, "%.0f");
	}
}

void
top_model_table(struct top_model *m, enum top_tab tab, struct top_table *t)
{
	t->nrows = 0;
	t->note[0] = '\0';
	t->title = top_tab_name(tab);
	switch (tab) {
	case TOP_TAB_THREADS:
		t->cols = g_thread_cols;
		t->ncols = (int)(sizeof(g_thread_cols) / sizeof(g_thread_cols[0]));
		table_threads(m, t);
		break;
	case TOP_TAB_POLLERS:
		t->cols = g_poller_cols;
		t->ncols = (int)(sizeof(g_poller_cols) / sizeof(g_poller_cols[0]));
		table_pollers(m, t);
		break;
	case TOP_TAB_CORES:
		t->cols = g_core_cols;
		t->ncols = (int)(sizeof(g_core_cols) / sizeof(g_core_cols[0]));
		table_cores(m, t);
		break;
	case TOP_TAB_BDEVS:
		t->cols = g_bdev_cols;
		t->ncols = (int)(sizeof(g_bdev_cols) / sizeof(g_bdev_cols[0]));
		table_bdevs(m, t);
		break;
	case TOP_TAB_NVMF:
	default:
		t->cols = g_nvmf_cols;
		t->ncols = (int)(sizeof(g_nvmf_cols) / sizeof(g_nvmf_cols[0]));
		table_nvmf(m, t);
		break;
	}
}

static int g_sort_col;
static bool g_sort_numeric, g_sort_rev;

static int
row_cmp(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;
	int c;

	if (g_sort_numeric) {
		c = x->key[g_sort_col] < y->key[g_sort_col] ? 1 :
		    x->key[g_sort_col] > y->key[g_sort_col] ? -1 :
							      0;
	} else {
		c = strcmp(x->cell[g_sort_col], y->cell[g_sort_col]);
	}
	return g_sort_rev ? -c : c;
}

void
top_table_sort(struct top_table *t, int col, bool rev)
{
	if (col < 0 || col >= t->ncols || t->nrows < 2) {
		return;
	}
	g_sort_col = col;
	g_sort_numeric = t->cols[col].numeric;
	g_sort_rev = rev;
	/* the nvmf tab groups connections under their subsystem: keep its order */
	if (strcmp(t->title, "nvmf") == 0) {
		return;
	}
	qsort(t->rows, (size_t)t->nrows, sizeof(t->rows[0]), row_cmp);
}

void
top_table_free(struct top_table *t)
{
	free(t->rows);
	t->rows = NULL;
	t->nrows = t->cap = 0;
}
