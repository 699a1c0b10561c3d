/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fakes for tests of the NVMe-oF target core (see nvmf_fake.c): a mock bdev module and a fake
 * "FAKE" transport, both registered by constructors when nvmf_fake.c is linked in.
 */
#ifndef USK_TEST_NVMF_FAKE_H
#define USK_TEST_NVMF_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "usk/bdev.h"
#include "usk/bdev_module.h"
#include "usk/env.h"
#include "usk/nvmf.h"
#include "usk/nvmf_transport.h"

#define SUBNQN	"nqn.2016-06.io.usk:cnode1"
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
/* Size of every mock bdev. */
#define NUM_BLOCKS 1024
#define BLOCK_SIZE 512

/* One I/O the mock bdev saw. */
struct io_log {
	uint8_t type;
	uint64_t offset;
	uint64_t num;
	bool fua; /* u.bdev.fua (the mock bdev takes FUA natively) */
};

/* Mock bdev state, reset by the tests: the first 64 I/Os are logged in g_log; with g_hold_io
 * set, I/Os are parked in g_held until release_held(); with g_fail_sct >= 0 they complete with
 * that NVMe status (g_fail_sct, g_fail_sc) instead of success. */
extern struct io_log g_log[64];
extern int g_log_n;
extern struct usk_bdev_io *g_held[512];
extern int g_held_n;
extern bool g_hold_io;
extern int g_fail_sct, g_fail_sc;

/* A fake transport's transport, poll group, qpair and request. */
struct fake_transport {
	struct usk_nvmf_transport transport;
	uint32_t knob;
	int listens;
};

struct fake_pg {
	struct usk_nvmf_transport_poll_group tgroup;
	int qpairs;
};

struct fake_qpair {
	struct usk_nvmf_qpair qpair;
	struct usk_nvme_transport_id listen_trid;
	bool added;
	bool finied;
	uint32_t sq_entries; /* what Connect asked qpair_set_sq_size for (0: not called) */
	int sq_size_rc;	     /* what qpair_set_sq_size returns */
};

struct fake_req {
	struct usk_nvmf_request req;
	union usk_nvmf_h2c_msg cmd;
	union usk_nvmf_c2h_msg rsp;
	uint8_t buf[8192];
	int completions;
	bool freed;
};

/* Complete one mock bdev I/O as g_fail_sct/g_fail_sc say. */
void mock_complete(struct usk_bdev_io *io);

/* Complete every I/O parked in g_held. */
void release_held(void);

/* Register a NUM_BLOCKS x BLOCK_SIZE mock bdev named `name` (on the current ut thread) and poll
 * the threads; returns NULL if registration failed. Unregistering frees it. */
struct usk_bdev *mock_bdev_create(const char *name);

/* Initialize the bdev layer with small pools and poll the threads; returns its status. */
int fake_bdev_layer_init(void);

/* A FAKE transport id on 127.0.0.1 port `svc` ("9" makes listen() fail with -EADDRINUSE). */
void fake_trid(struct usk_nvme_transport_id *trid, const char *svc);

/* A new qpair of `transport` handed to `tgt` on ut thread 0, listen trid port `svc`; the
 * threads are polled, so fq->added says whether a poll group took it. NULL if out of memory. */
struct fake_qpair *fake_qpair_new(struct usk_nvmf_tgt *tgt, struct usk_nvmf_transport *transport,
				  const char *svc);

/* A zeroed request on `fq` with `len` bytes of data in its buffer (NULL if out of memory). */
struct fake_req *req_new(struct fake_qpair *fq, uint32_t len);

#endif
