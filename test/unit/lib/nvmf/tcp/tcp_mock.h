/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Mocks of the target core (request exec/complete, buffers, qpair hand-off), env (DMA memory) and
 * thread (pollers, messages) layers under the NVMe/TCP transport. The mock controller reads and
 * writes g_disk (512-byte blocks); messages and the acceptor poller are run by the test.
 */
#ifndef USK_TEST_TCP_MOCK_H
#define USK_TEST_TCP_MOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "usk/env.h"
#include "usk/nvmf.h"
#include "usk/nvmf_transport.h"
#include "usk/thread.h"
#include "usk/util.h"

extern const struct usk_nvmf_transport_ops *g_ops; /* the registered transport */
extern struct usk_nvmf_qpair *g_new_qpair;	   /* last qpair handed to the core */
extern int g_disconnects;			   /* usk_nvmf_qpair_disconnect calls */
extern uint8_t g_disk[1 << 20];
extern uint32_t g_pool_avail; /* data buffers left in the fake pool */
extern usk_poller_fn g_accept_fn;
extern void *g_accept_arg;
extern usk_msg_fn g_msg_fn; /* one pending message */
extern void *g_msg_arg;
extern usk_poller_fn g_timeout_fn; /* the group's timeout poller */
extern void *g_timeout_arg;
extern uint64_t g_ticks;      /* usk_get_ticks(); 1000 per second */
extern const char *g_hostnqn; /* usk_nvmf_qpair_get_hostnqn */
extern uint32_t g_pool_size;  /* usk_nvmf_transport_pool_size */

#endif
