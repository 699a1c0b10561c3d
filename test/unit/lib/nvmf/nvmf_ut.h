/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fixture shared by the NVMe-oF target core's unit tests (nvmf_ctrlr_ut.c, nvmf_subsystem_ut.c):
 * setup()/teardown() build and destroy a target on the fake transport (test/common/nvmf_fake.h)
 * and the helpers below send commands on fake qpairs. Thread 0 runs the target; threads 1 and 2
 * run poll groups.
 */
#ifndef USK_NVMF_UT_H
#define USK_NVMF_UT_H

#include "nvmf_fake.h"

#define HOSTNQN2 "nqn.2014-08.org.nvmexpress:uuid:99999999-2222-3333-4444-555555555555"

/* Status code type and status code as one number, as sct_sc() returns it. */
#define SC(sct, sc) ((uint16_t)((sct) << 8 | (sc)))

/* What setup() built: SUBNQN (any host, Mock0 as nsid 1, listener FAKE 4420) is active. */
extern struct usk_nvmf_tgt *g_tgt;
extern struct usk_nvmf_transport *g_transport;
extern struct usk_nvmf_subsystem *g_subsystem;
extern struct usk_nvmf_poll_group *g_groups[2];
extern struct usk_bdev *g_bdev0, *g_bdev1;
/* Set by state_cb(). */
extern int g_cb_status;
extern bool g_cb_done;

/* cmocka group setup/teardown of every test case. */
int setup(void **state);
int teardown(void **state);

/* Subsystem state-change callback recording g_cb_status/g_cb_done. */
void state_cb(struct usk_nvmf_subsystem *subsystem, void *arg, int status);
/* Assert a state change started (rc 0), poll, and that state_cb reported success. */
void wait_state_change(int rc);

/* Index of the ut thread running the qpair's poll group. */
int group_thread_idx(struct usk_nvmf_qpair *qpair);
/* A new qpair on listener port `svc`, added to a poll group. */
struct fake_qpair *qpair_new(const char *svc);
/* Execute a request on its qpair's poll-group thread and poll. */
void req_exec(struct fake_req *r);
/* The completion's status as SC(sct, sc). */
uint16_t sct_sc(struct fake_req *r);
/* Send Connect (completed exactly once); the caller frees the request. */
struct fake_req *connect_cmd(struct fake_qpair *fq, uint16_t qid, uint16_t sqsize, uint16_t cntlid,
			     const char *subnqn, const char *hostnqn, uint32_t kato);
/* Send Property Get/Set (completed exactly once); the caller frees the request. */
struct fake_req *prop_cmd(struct fake_qpair *fq, bool set, uint32_t ofst, uint8_t size,
			  uint64_t value);
/* Send an NVMe command with `len` bytes of data buffer; the caller frees the request. */
struct fake_req *nvme_cmd(struct fake_qpair *fq, uint8_t opc, uint32_t nsid, uint32_t cdw10,
			  uint32_t cdw11, uint32_t cdw12, uint32_t len);
/* Admin queue connected and enabled; returns the admin qpair and the cntlid. */
struct fake_qpair *ctrlr_up(const char *subnqn, const char *hostnqn, uint32_t kato,
			    uint16_t *cntlid);
/* I/O queue `qid` of controller `cntlid` connected (SUBNQN, HOSTNQN). */
struct fake_qpair *io_qpair_up(uint16_t cntlid, uint16_t qid);
/* Disconnect, assert the transport saw qpair_fini, free it. */
void qpair_drop(struct fake_qpair *fq);
/* Submit an Asynchronous Event Request and assert it stays outstanding. */
struct fake_req *aer_submit(struct fake_qpair *admin);

#endif
