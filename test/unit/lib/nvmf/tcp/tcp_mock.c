/* SPDX-License-Identifier: BSD-3-Clause */
/* Mocks of the target core, env and thread layers for the NVMe/TCP transport tests and fuzzer. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_mock.h"
#include "usk/trace.h"

const struct usk_nvmf_transport_ops *g_ops;
struct usk_nvmf_qpair *g_new_qpair;
int g_disconnects;
uint8_t g_disk[1 << 20];
uint32_t g_pool_avail = 64;
usk_poller_fn g_accept_fn;
void *g_accept_arg;
usk_msg_fn g_msg_fn;
void *g_msg_arg;
usk_poller_fn g_timeout_fn;
void *g_timeout_arg;
uint64_t g_ticks = 1000000;
const char *g_hostnqn;
uint32_t g_pool_size = 511;

uint64_t
usk_get_ticks(void)
{
	return g_ticks;
}

uint64_t
usk_get_ticks_hz(void)
{
	return 1000;
}

uint32_t
usk_nvmf_transport_pool_size(struct usk_nvmf_transport *transport)
{
	return g_pool_size;
}

const char *
usk_nvmf_qpair_get_hostnqn(const struct usk_nvmf_qpair *qpair)
{
	return g_hostnqn;
}

/* The core's share accounting, per qpair only (no controller in these tests). */
int
usk_nvmf_qpair_data_wait_reserve(struct usk_nvmf_qpair *qpair, uint32_t n, uint32_t qpair_cap,
				 uint32_t ctrlr_cap)
{
	if (qpair->data_wait_bufs + n > qpair_cap) {
		return -EAGAIN;
	}
	qpair->data_wait_bufs += n;
	return 0;
}

void
usk_nvmf_qpair_data_wait_release(struct usk_nvmf_qpair *qpair, uint32_t n)
{
	if (n > qpair->data_wait_bufs) {
		abort();
	}
	qpair->data_wait_bufs -= n;
}

/* Tracing stays off here: the tracepoints in the transport only need these two symbols. */
uint64_t g_usk_trace_mask;
void
usk_trace_record_slow(enum usk_tpoint tpoint, uint64_t object_id, uint64_t arg1, uint64_t arg2)
{
}

void
usk_nvmf_transport_register(const struct usk_nvmf_transport_ops *ops)
{
	g_ops = ops;
}

void *
usk_dma_zmalloc(size_t size, size_t align, uint64_t *phys)
{
	return calloc(1, size);
}

void
usk_dma_free(void *buf)
{
	free(buf);
}

struct usk_thread *
usk_get_thread(void)
{
	return (struct usk_thread *)(uintptr_t)0x1;
}

int
usk_thread_send_msg(const struct usk_thread *thread, usk_msg_fn fn, void *ctx)
{
	if (g_msg_fn != NULL) {
		return -ENOMEM;
	}
	g_msg_fn = fn;
	g_msg_arg = ctx;
	return 0;
}

struct usk_poller *
usk_poller_register_named(usk_poller_fn fn, void *arg, uint64_t period, const char *name)
{
	if (strcmp(name, "nvmf_tcp_timeout") == 0) {
		g_timeout_fn = fn;
		g_timeout_arg = arg;
		return (struct usk_poller *)(uintptr_t)0x3;
	}
	g_accept_fn = fn;
	g_accept_arg = arg;
	return (struct usk_poller *)(uintptr_t)0x2;
}

void
usk_poller_unregister(struct usk_poller **p)
{
	if (*p == (struct usk_poller *)(uintptr_t)0x3) {
		g_timeout_fn = NULL;
	} else if (*p != NULL) {
		g_accept_fn = NULL;
	}
	*p = NULL;
}

bool
usk_interrupt_mode_is_enabled(void)
{
	return false;
}

struct usk_interrupt *
usk_interrupt_register(int fd, usk_interrupt_fn fn, void *arg, const char *name)
{
	return NULL;
}

void
usk_interrupt_unregister(struct usk_interrupt **p)
{
	*p = NULL;
}

bool
usk_nvmf_trid_equal(const struct usk_nvme_transport_id *a, const struct usk_nvme_transport_id *b)
{
	return strcmp(a->traddr, b->traddr) == 0 && strcmp(a->trsvcid, b->trsvcid) == 0;
}

void
usk_nvmf_tgt_new_qpair(struct usk_nvmf_tgt *tgt, struct usk_nvmf_qpair *qpair)
{
	g_new_qpair = qpair;
}

int
usk_nvmf_qpair_disconnect(struct usk_nvmf_qpair *qpair)
{
	g_disconnects++;
	return 0;
}

enum usk_nvme_data_transfer
usk_nvmf_req_get_xfer(struct usk_nvmf_request *req)
{
	const struct usk_nvme_cmd *cmd = &req->cmd->nvme_cmd;
	uint8_t opc = cmd->opc == 0x7f ? req->cmd->nvmf_cmd.fctype : cmd->opc;

	if (cmd->dptr.sgl1.unkeyed.length == 0) {
		return USK_NVME_DATA_NONE;
	}
	return (enum usk_nvme_data_transfer)(opc & 3);
}

int
usk_nvmf_request_complete(struct usk_nvmf_request *req)
{
	req->rsp->nvme_cpl.cid = req->cmd->nvme_cmd.cid;
	return g_ops->req_complete(req);
}

/* A tiny controller: reads return the disk, writes fill it (512-byte blocks). */
void
usk_nvmf_request_exec(struct usk_nvmf_request *req)
{
	const struct usk_nvme_cmd *cmd = &req->cmd->nvme_cmd;
	uint64_t off = (uint64_t)cmd->cdw10 * 512;

	memset(&req->rsp->nvme_cpl, 0, sizeof(req->rsp->nvme_cpl));
	if (off + req->length > sizeof(g_disk)) {
		req->rsp->nvme_cpl.status.sc = 0x80; /* LBA out of range */
		usk_nvmf_request_complete(req);
		return;
	}
	if (cmd->opc == 0x02) {
		usk_iov_from_buf(req->iov, (int)req->iovcnt, g_disk + off, req->length);
	} else if (cmd->opc == 0x01) {
		usk_iov_to_buf(req->iov, (int)req->iovcnt, g_disk + off, req->length);
	}
	usk_nvmf_request_complete(req);
}

int
usk_nvmf_request_get_buffers(struct usk_nvmf_request *req, struct usk_nvmf_transport_poll_group *tg,
			     struct usk_nvmf_transport *transport, uint32_t length)
{
	uint32_t unit = transport->opts.io_unit_size, n = (length + unit - 1) / unit, i;

	if (n > g_pool_avail) {
		return -ENOMEM;
	}
	g_pool_avail -= n;
	for (i = 0; i < n; i++) {
		req->buffers[i] = malloc(unit);
		req->iov[i].iov_base = req->buffers[i];
		req->iov[i].iov_len = USK_MIN(unit, length);
		length -= (uint32_t)req->iov[i].iov_len;
	}
	req->iovcnt = n;
	req->data = req->iov[0].iov_base;
	req->data_from_pool = true;
	return 0;
}

void
usk_nvmf_request_free_buffers(struct usk_nvmf_request *req,
			      struct usk_nvmf_transport_poll_group *tg,
			      struct usk_nvmf_transport *transport)
{
	uint32_t i;

	for (i = 0; i < req->iovcnt; i++) {
		free(req->buffers[i]);
		g_pool_avail++;
	}
	req->iovcnt = 0;
	req->data_from_pool = false;
}
