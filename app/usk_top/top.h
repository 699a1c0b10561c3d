/* SPDX-License-Identifier: BSD-3-Clause */
/* usk_top: tables built from JSON-RPC snapshots (top_model.c), shown by usk_top.c. */
#ifndef USK_TOP_H
#define USK_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

enum top_tab {
	TOP_TAB_THREADS,
	TOP_TAB_POLLERS,
	TOP_TAB_CORES,
	TOP_TAB_BDEVS,
	TOP_TAB_NVMF,
	TOP_TAB_COUNT,
};

#define TOP_MAX_COLS 12
#define TOP_CELL     224 /* an NQN is up to 223 bytes */

struct top_col {
	const char *name;
	int width;    /* characters */
	bool numeric; /* right-aligned, sorted by value (descending first) */
};

struct top_row {
	char cell[TOP_MAX_COLS][TOP_CELL];
	double key[TOP_MAX_COLS];
};

struct top_table {
	const char *title;
	const struct top_col *cols;
	int ncols;
	struct top_row *rows;
	int nrows;
	int cap;
	char note[320]; /* shown under the table (why it is empty, ...) */
};

/* JSON-RPC client on a Unix socket; one request at a time. */
struct top_client;
struct top_client *top_client_connect(const char *path, char *err, size_t err_len);
void top_client_close(struct top_client *c);
/** Call method (params may be NULL); the result (new reference) or NULL with err filled. */
json_t *top_client_call(struct top_client *c, const char *method, json_t *params, char *err,
			size_t err_len);

/* Snapshots of every source RPC, two kept so rates come from the difference. */
struct top_model;
struct top_model *top_model_create(struct top_client *c);
void top_model_free(struct top_model *m);
/** Take a new snapshot (the previous one is kept for deltas). 0 or -1 with err filled. */
int top_model_refresh(struct top_model *m, char *err, size_t err_len);
/** Fill t with the rows of tab from the last two snapshots (rates over their interval). */
void top_model_table(struct top_model *m, enum top_tab tab, struct top_table *t);
const char *top_tab_name(enum top_tab tab);
/** Sort t's rows by column col (numeric: descending; text: ascending), reversed if rev. */
void top_table_sort(struct top_table *t, int col, bool rev);
void top_table_free(struct top_table *t);

#endif
