/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe bdev module: one bdev "<name>n<nsid>" per active namespace of an attached controller. */
#ifndef USK_BDEV_NVME_H
#define USK_BDEV_NVME_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "usk/nvme.h"

/* Module-wide options (bdev_nvme_set_options, SPDK's names). */
struct bdev_nvme_opts {
	uint64_t timeout_us;	   /* I/O timeout; 0 = none */
	uint64_t timeout_admin_us; /* admin timeout; 0 = none */
	/* "none", "reset" or "abort" */
	char action_on_timeout[8];
	uint32_t keep_alive_timeout_ms;
	uint64_t nvme_adminq_poll_period_us;
	uint64_t nvme_ioq_poll_period_us;
	int32_t bdev_retry_count;
	int32_t ctrlr_loss_timeout_sec; /* -1 = reconnect forever, 0 = fail at the first loss */
	uint32_t reconnect_delay_sec;
	uint32_t fast_io_fail_timeout_sec;
};

/* Parameters of bdev_nvme_attach_controller. */
struct bdev_nvme_attach_opts {
	const char *name;
	struct usk_nvme_transport_id trid;
	char hostnqn[USK_NVME_NQN_FIELD_SIZE];
	bool hdgst;
	bool ddgst;
	int32_t ctrlr_loss_timeout_sec;
	uint32_t reconnect_delay_sec;
	uint32_t fast_io_fail_timeout_sec;
};

typedef void (*bdev_nvme_attach_cb)(void *cb_arg, int rc, json_t *bdev_names);

/** Current module options (copy). App thread. */
void bdev_nvme_get_opts(struct bdev_nvme_opts *opts);
/** Replace the module options; -EINVAL (with err naming the field) if inconsistent. */
int bdev_nvme_set_opts(const struct bdev_nvme_opts *opts, char *err, size_t err_len);

/**
 * Connect (non-blocking, polled) and create one bdev per active namespace. cb gets 0 and a JSON
 * array of bdev names (cb owns it), or -errno (-EEXIST: name taken; -ECONNREFUSED...). 0 return:
 * cb runs later exactly once. App thread.
 */
int bdev_nvme_attach_controller(const struct bdev_nvme_attach_opts *opts, bdev_nvme_attach_cb cb,
				void *cb_arg);

/** Unregister the bdevs and detach. cb(cb_arg, rc) when done. -ENODEV if name is unknown. */
int bdev_nvme_detach_controller(const char *name, void (*cb)(void *cb_arg, int rc), void *cb_arg);

/** Append controller objects (SPDK's bdev_nvme_get_controllers) to array; name NULL = all. */
int bdev_nvme_get_controllers(const char *name, json_t *array);

#endif
