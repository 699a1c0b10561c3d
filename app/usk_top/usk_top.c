/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usk_top: a live view of a usk app over its JSON-RPC socket (tabs threads, pollers, cores,
 * bdevs, nvmf; rates from the difference of two snapshots), ncurses or batch text (-b -n N).
 */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <ncurses.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "top.h"

#define DEFAULT_SOCK "/var/tmp/usk.sock"

struct top_opts {
	const char *sock;
	double interval_s;
	bool batch;
	int iterations;	  /* batch: 0 = until interrupted */
	int tab;	  /* -1: all tabs (batch) */
	const char *sort; /* column name */
	bool reverse;
};

static volatile sig_atomic_t g_stop;

static void
on_signal(int sig)
{
	g_stop = 1;
}

static void
usage(const char *prog)
{
	fprintf(stderr,
		"Usage: %s [-r SOCK] [-d SECONDS] [-t TAB] [-s COLUMN] [-R] [-b [-n N]]\n"
		"  -r SOCK     RPC socket of the app (default %s)\n"
		"  -d SECONDS  refresh interval (default 1; decimals allowed)\n"
		"  -t TAB      threads, pollers, cores, bdevs or nvmf (batch default: all)\n"
		"  -s COLUMN   sort by this column (e.g. BUSY%%, R_IOPS); -R reverses\n"
		"  -b          batch mode: plain text to stdout, no terminal needed\n"
		"  -n N        batch: stop after N screens (default 1)\n"
		"Keys: 1-5 or Tab/Left/Right switch tab, < > sort column, r reverse, + - interval, q quit\n",
		prog, DEFAULT_SOCK);
}

static int
tab_from_name(const char *s)
{
	int i;

	for (i = 0; i < TOP_TAB_COUNT; i++) {
		if (strcmp(s, top_tab_name(i)) == 0) {
			return i;
		}
	}
	return -1;
}

static int
col_from_name(const struct top_table *t, const char *name)
{
	int i;

	for (i = 0; name != NULL && i < t->ncols; i++) {
		if (strcasecmp(t->cols[i].name, name) == 0) {
			return i;
		}
	}
	return -1;
}

/* The default sort: the first rate/percentage column (busiest first), else the first. */
static int
default_sort_col(const struct top_table *t)
{
	static const char *const prefs[] = {"BUSY%", "RUNS/s", "R_IOPS"};
	size_t i;
	int c;

	for (i = 0; i < sizeof(prefs) / sizeof(prefs[0]); i++) {
		c = col_from_name(t, prefs[i]);
		if (c >= 0) {
			return c;
		}
	}
	return 0;
}

static void
sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s,
			      .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_stop) {
	}
}

static void
print_table(FILE *f, const struct top_table *t, int sort_col)
{
	int i, c;

	fprintf(f, "--- %s ---\n", t->title);
	for (c = 0; c < t->ncols; c++) {
		fprintf(f, t->cols[c].numeric ? "%*s%s " : "%-*s%s ", t->cols[c].width,
			t->cols[c].name, c == sort_col ? "*" : "");
	}
	fprintf(f, "\n");
	for (i = 0; i < t->nrows; i++) {
		for (c = 0; c < t->ncols; c++) {
			fprintf(f, t->cols[c].numeric ? "%*s%s " : "%-*s%s ", t->cols[c].width,
				t->rows[i].cell[c], c == sort_col ? " " : "");
		}
		fprintf(f, "\n");
	}
	if (t->note[0] != '\0') {
		fprintf(f, "(%s)\n", t->note);
	}
}

static int
run_batch(struct top_model *m, const struct top_opts *o)
{
	struct top_table t = {};
	char err[256];
	int it, tab, col;

	if (top_model_refresh(m, err, sizeof(err)) != 0) {
		fprintf(stderr, "usk_top: %s\n", err);
		return 1;
	}
	for (it = 1; !g_stop && (o->iterations == 0 || it <= o->iterations); it++) {
		sleep_s(o->interval_s);
		if (top_model_refresh(m, err, sizeof(err)) != 0) {
			fprintf(stderr, "usk_top: %s\n", err);
			top_table_free(&t);
			return 1;
		}
		printf("=== usk_top %d (interval %.2f s)\n", it, o->interval_s);
		for (tab = 0; tab < TOP_TAB_COUNT; tab++) {
			if (o->tab >= 0 && tab != o->tab) {
				continue;
			}
			top_model_table(m, tab, &t);
			col = col_from_name(&t, o->sort);
			if (col < 0) {
				col = default_sort_col(&t);
			}
			top_table_sort(&t, col, o->reverse);
			print_table(stdout, &t, col);
		}
		fflush(stdout);
	}
	top_table_free(&t);
	return 0;
}

/* ---- interactive ---- */

static void
draw(struct top_model *m, const struct top_opts *o, int tab, int col, bool rev, const char *err)
{
	struct top_table t = {};
	int rows, cols, i, c, y;

	getmaxyx(stdscr, rows, cols);
	erase();
	attron(A_BOLD);
	mvprintw(0, 0, "usk_top  %s  every %.1f s", o->sock, o->interval_s);
	attroff(A_BOLD);
	move(1, 0);
	for (i = 0; i < TOP_TAB_COUNT; i++) {
		if (i == tab) {
			attron(A_REVERSE);
		}
		printw("[%d] %s", i + 1, top_tab_name(i));
		if (i == tab) {
			attroff(A_REVERSE);
		}
		printw("  ");
	}
	mvprintw(2, 0, "keys: 1-5/Tab tabs  < > sort  r reverse  + - interval  q quit");
	if (err != NULL && err[0] != '\0') {
		mvprintw(3, 0, "error: %s", err);
	}
	top_model_table(m, tab, &t);
	if (col >= t.ncols) {
		col = t.ncols - 1;
	}
	top_table_sort(&t, col, rev);
	y = 4;
	move(y, 0);
	for (c = 0; c < t.ncols; c++) {
		if (c == col) {
			attron(A_REVERSE);
		}
		printw(t.cols[c].numeric ? "%*s" : "%-*s", t.cols[c].width, t.cols[c].name);
		if (c == col) {
			attroff(A_REVERSE);
		}
		printw(" ");
	}
	for (i = 0; i < t.nrows && y + 1 + i < rows - 1; i++) {
		move(y + 1 + i, 0);
		for (c = 0; c < t.ncols; c++) {
			if (t.cols[c].numeric) {
				printw("%*s ", t.cols[c].width, t.rows[i].cell[c]);
			} else {
				printw("%-*.*s ", t.cols[c].width, t.cols[c].width,
				       t.rows[i].cell[c]);
			}
		}
	}
	if (t.note[0] != '\0') {
		mvprintw(rows - 1, 0, "(%s)", t.note);
	}
	(void)cols;
	refresh();
	top_table_free(&t);
}

static int
run_interactive(struct top_model *m, struct top_opts *o)
{
	int tab = o->tab >= 0 ? o->tab : TOP_TAB_THREADS, col = -1, ch;
	int sort_cols[TOP_TAB_COUNT];
	bool rev = o->reverse, redraw = true;
	char err[256] = "";
	struct top_table t = {};
	int i;

	if (top_model_refresh(m, err, sizeof(err)) != 0) {
		fprintf(stderr, "usk_top: %s\n", err);
		return 1;
	}
	for (i = 0; i < TOP_TAB_COUNT; i++) {
		top_model_table(m, i, &t);
		sort_cols[i] = col_from_name(&t, o->sort);
		if (sort_cols[i] < 0) {
			sort_cols[i] = default_sort_col(&t);
		}
	}
	top_table_free(&t);
	setlocale(LC_ALL, "");
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	while (!g_stop) {
		col = sort_cols[tab];
		if (redraw) {
			draw(m, o, tab, col, rev, err);
			redraw = false;
		}
		timeout((int)(o->interval_s * 1000));
		ch = getch();
		switch (ch) {
		case ERR: /* interval elapsed */
			err[0] = '\0';
			if (top_model_refresh(m, err, sizeof(err)) != 0 &&
			    strstr(err, "connection") != NULL) {
				g_stop = 1;
			}
			redraw = true;
			break;
		case 'q':
		case 'Q':
			g_stop = 1;
			break;
		case '\t':
		case KEY_RIGHT:
			tab = (tab + 1) % TOP_TAB_COUNT;
			redraw = true;
			break;
		case KEY_BTAB:
		case KEY_LEFT:
			tab = (tab + TOP_TAB_COUNT - 1) % TOP_TAB_COUNT;
			redraw = true;
			break;
		case '<':
			top_model_table(m, tab, &t);
			sort_cols[tab] = (col + t.ncols - 1) % t.ncols;
			top_table_free(&t);
			redraw = true;
			break;
		case '>':
			top_model_table(m, tab, &t);
			sort_cols[tab] = (col + 1) % t.ncols;
			top_table_free(&t);
			redraw = true;
			break;
		case 'r':
			rev = !rev;
			redraw = true;
			break;
		case '+':
			o->interval_s = o->interval_s < 60 ? o->interval_s * 2 : o->interval_s;
			redraw = true;
			break;
		case '-':
			o->interval_s = o->interval_s > 0.2 ? o->interval_s / 2 : o->interval_s;
			redraw = true;
			break;
		case KEY_RESIZE:
			redraw = true;
			break;
		default:
			if (ch >= '1' && ch < '1' + TOP_TAB_COUNT) {
				tab = ch - '1';
				redraw = true;
			}
			break;
		}
	}
	endwin();
	if (err[0] != '\0') {
		fprintf(stderr, "usk_top: %s\n", err);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct top_opts o = {.sock = DEFAULT_SOCK, .interval_s = 1, .iterations = 1, .tab = -1};
	struct top_client *c;
	struct top_model *m;
	char err[256], *end;
	int ch, rc;

	while ((ch = getopt(argc, argv, "bd:hn:r:Rs:t:")) != -1) {
		switch (ch) {
		case 'b':
			o.batch = true;
			break;
		case 'd':
			o.interval_s = strtod(optarg, &end);
			if (*end != '\0' || !(o.interval_s >= 0.05 && o.interval_s <= 3600)) {
				fprintf(stderr,
					"usk_top: -d: want seconds between 0.05 and 3600, got '%s'\n",
					optarg);
				return 1;
			}
			break;
		case 'n':
			o.iterations = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || o.iterations < 0) {
				fprintf(stderr, "usk_top: -n: want a count >= 0, got '%s'\n",
					optarg);
				return 1;
			}
			break;
		case 'r':
			o.sock = optarg;
			break;
		case 'R':
			o.reverse = true;
			break;
		case 's':
			o.sort = optarg;
			break;
		case 't':
			o.tab = tab_from_name(optarg);
			if (o.tab < 0) {
				fprintf(stderr, "usk_top: -t: unknown tab '%s'\n", optarg);
				return 1;
			}
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "usk_top: unexpected argument '%s'\n", argv[optind]);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	c = top_client_connect(o.sock, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "usk_top: %s\n", err);
		return 1;
	}
	m = top_model_create(c);
	if (m == NULL) {
		top_client_close(c);
		return 1;
	}
	rc = o.batch ? run_batch(m, &o) : run_interactive(m, &o);
	top_model_free(m);
	top_client_close(c);
	return rc;
}
