/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared between rbd.c (bdevs, I/O) and rbd_cluster.c (worker thread, connections, fini). */
#ifndef USK_MODULE_BDEV_RBD_INTERNAL_H
#define USK_MODULE_BDEV_RBD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <jansson.h>
#include <rados/librados.h>

#include "usk/thread.h"
#include "rbd.h"

#define RBD_ERR_LEN 512

enum rbd_cluster_state {
	RBD_CLUSTER_CONNECTING,
	RBD_CLUSTER_READY,
	RBD_CLUSTER_CLOSING,
};

/* A registered cluster. App thread only, except rados (thread-safe) and the worker's connect. */
struct rbd_cluster {
	char *name;
	char *user_id;
	json_t *config; /* object of strings, or NULL */
	char *config_file;
	char *key_file;
	char *core_mask;
	rados_t rados;
	enum rbd_cluster_state state;
	uint32_t refcnt; /* bdevs on it */
	/* Pending register / unregister. */
	usk_rbd_cb cb;
	void *cb_arg;
	int rc;
	char err[RBD_ERR_LEN];
	TAILQ_ENTRY(rbd_cluster) link;
};

/*
 * Queue work(ctx) on the module's worker pthread (FIFO); done(ctx) then runs on the calling usk
 * thread. Returns 0 or -errno (then neither runs).
 */
int rbd_worker_submit(void (*work)(void *ctx), usk_msg_fn done, void *ctx);

/* Registered cluster by name, or NULL (app thread). */
struct rbd_cluster *rbd_cluster_find(const char *name);

/*
 * Create and connect a librados handle (worker thread only: blocks). who names it in err
 * ("cluster 'c1'" or "bdev 'Ceph0'"). Returns 0 or -errno with err set.
 */
int rbd_rados_connect(rados_t *out, const char *who, const char *user_id, const json_t *config,
		      const char *config_file, const char *key_file, const char *core_mask,
		      char *err, size_t err_len);

/* strdup(s), NULL for NULL; sets *fail when out of memory. */
char *rbd_strdup_opt(const char *s, bool *fail);

/* save_config entries of the connected clusters (module config_json). */
void rbd_clusters_config_json(json_t *config_array);

/* Module fini: shut every cluster down off the reactors, then usk_bdev_module_fini_done(). */
void rbd_clusters_fini(void);

#endif
