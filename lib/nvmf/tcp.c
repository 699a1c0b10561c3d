/* SPDX-License-Identifier: BSD-3-Clause */
/* NVMe/TCP transport: options, listeners and acceptor, poll groups, qpair hand-off to the core. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "usk/env.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/nvmf.h"
#include "usk/thread.h"
#include "usk/util.h"
#include "tcp_internal.h"

USK_LOG_REGISTER_COMPONENT(nvmf_tcp)

static const struct usk_nvmf_transport_ops g_tcp_ops;

static void
tcp_opts_init(struct usk_nvmf_transport_opts *opts)
{
	opts->max_queue_depth = TCP_DEFAULT_MAX_QUEUE_DEPTH;
	opts->max_qpairs_per_ctrlr = TCP_DEFAULT_MAX_QPAIRS_PER_CTRLR;
	opts->in_capsule_data_size = TCP_DEFAULT_IN_CAPSULE_DATA_SIZE;
	opts->max_io_size = TCP_DEFAULT_MAX_IO_SIZE;
	opts->io_unit_size = TCP_DEFAULT_IO_UNIT_SIZE;
	opts->max_aq_depth = TCP_DEFAULT_MAX_AQ_DEPTH;
	opts->num_shared_buffers = TCP_DEFAULT_NUM_SHARED_BUFFERS;
	opts->buf_cache_size = TCP_DEFAULT_BUF_CACHE_SIZE;
	opts->dif_insert_or_strip = false;
	opts->zcopy = false;
	opts->abort_timeout_sec = TCP_DEFAULT_ABORT_TIMEOUT_SEC;
	opts->acceptor_poll_rate = TCP_DEFAULT_ACCEPTOR_POLL_RATE;
}

/* TCP-specific limits on the generic options; err gets "field: reason". */
static int
tcp_opts_check(const struct usk_nvmf_transport_opts *o, char *err, size_t err_len)
{
	if (o->max_queue_depth < 2) {
		snprintf(err, err_len, "max_queue_depth: must be at least 2, got %u",
			 o->max_queue_depth);
		return -EINVAL;
	}
	if (o->max_aq_depth < 2 || o->max_aq_depth > 4096) {
		snprintf(err, err_len, "max_aq_depth: must be 2..4096, got %u", o->max_aq_depth);
		return -EINVAL;
	}
	if (o->in_capsule_data_size > TCP_MAX_IN_CAPSULE_DATA_SIZE ||
	    o->in_capsule_data_size % 16 != 0) {
		snprintf(err, err_len,
			 "in_capsule_data_size: must be a multiple of 16 up to %u, got %u",
			 TCP_MAX_IN_CAPSULE_DATA_SIZE, o->in_capsule_data_size);
		return -EINVAL;
	}
	if (o->io_unit_size == 0 || o->io_unit_size % 512 != 0) {
		snprintf(err, err_len, "io_unit_size: must be a non-zero multiple of 512, got %u",
			 o->io_unit_size);
		return -EINVAL;
	}
	if (o->max_io_size == 0 || o->max_io_size % 512 != 0) {
		snprintf(err, err_len, "max_io_size: must be a non-zero multiple of 512, got %u",
			 o->max_io_size);
		return -EINVAL;
	}
	if ((o->max_io_size + o->io_unit_size - 1) / o->io_unit_size >
	    USK_NVMF_REQ_MAX_BUFFERS - 1) {
		snprintf(err, err_len,
			 "io_unit_size: %u is too small for max_io_size %u "
			 "(at most %u buffers per I/O)",
			 o->io_unit_size, o->max_io_size, USK_NVMF_REQ_MAX_BUFFERS - 1);
		return -EINVAL;
	}
	if (o->num_shared_buffers == 0) {
		snprintf(err, err_len, "num_shared_buffers: must be > 0 for TCP");
		return -EINVAL;
	}
	if (o->buf_cache_size > o->num_shared_buffers) {
		snprintf(err, err_len, "buf_cache_size: %u is larger than num_shared_buffers %u",
			 o->buf_cache_size, o->num_shared_buffers);
		return -EINVAL;
	}
	return 0;
}

static int
tcp_create(const struct usk_nvmf_transport_opts *opts, struct usk_nvmf_transport **transport,
	   char *err, size_t err_len)
{
	struct tcp_transport *tt;
	bool c2h_success = TCP_DEFAULT_C2H_SUCCESS;
	int sock_priority = TCP_DEFAULT_SOCK_PRIORITY;
	uint32_t r2t_timeout_ms = TCP_DEFAULT_R2T_TIMEOUT_MS;
	uint32_t connect_timeout_ms = TCP_DEFAULT_CONNECT_TIMEOUT_MS;
	uint32_t max_conns = TCP_DEFAULT_MAX_CONNS_PER_LISTENER;
	uint32_t qpair_share = 0, ctrlr_share = 0, ceiling, io_bufs;
	const char *sock_impl = "";
	const json_t *v;
	int rc;

	rc = tcp_opts_check(opts, err, err_len);
	if (rc != 0) {
		return rc;
	}
	struct {
		const char *name;
		uint32_t *val;
		uint32_t max;
	} u32_opts[] = {
		{"r2t_timeout_ms", &r2t_timeout_ms, 3600000},
		{"connect_timeout_ms", &connect_timeout_ms, 3600000},
		{"max_connections_per_listener", &max_conns, 1u << 20},
		{"max_r2t_buffers_per_qpair", &qpair_share, 1u << 20},
		{"max_r2t_buffers_per_ctrlr", &ctrlr_share, 1u << 20},
	};
	size_t k;

	if (opts->transport_specific != NULL) {
		for (k = 0; k < USK_COUNTOF(u32_opts); k++) {
			v = json_object_get(opts->transport_specific, u32_opts[k].name);
			if (v == NULL) {
				continue;
			}
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > u32_opts[k].max) {
				snprintf(err, err_len, "%s: must be an integer 0..%u",
					 u32_opts[k].name, u32_opts[k].max);
				return -EINVAL;
			}
			*u32_opts[k].val = (uint32_t)json_integer_value(v);
		}
		v = json_object_get(opts->transport_specific, "c2h_success");
		if (v != NULL) {
			if (!json_is_boolean(v)) {
				snprintf(err, err_len, "c2h_success: must be a boolean");
				return -EINVAL;
			}
			c2h_success = json_is_true(v);
		}
		v = json_object_get(opts->transport_specific, "sock_priority");
		if (v != NULL) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > TCP_MAX_SOCK_PRIORITY) {
				snprintf(err, err_len, "sock_priority: must be an integer 0..%d",
					 TCP_MAX_SOCK_PRIORITY);
				return -EINVAL;
			}
			sock_priority = (int)json_integer_value(v);
		}
		v = json_object_get(opts->transport_specific, "sock_impl");
		if (v != NULL) {
			if (!json_is_string(v) || (strcmp(json_string_value(v), "posix") != 0 &&
						   strcmp(json_string_value(v), "uring") != 0)) {
				snprintf(err, err_len, "sock_impl: must be \"posix\" or \"uring\"");
				return -EINVAL;
			}
			sock_impl = json_string_value(v);
		}
	}
	if (max_conns == 0) {
		snprintf(err, err_len, "max_connections_per_listener: must be at least 1");
		return -EINVAL;
	}
	/*
	 * Buffers held by commands waiting for host data: by default a qpair may hold a quarter
	 * and a controller half of the pool as it is now (it may grow), never less than one
	 * max_io_size I/O, so one host can always make progress and the rest of the pool stays
	 * for the others even when the pool cannot grow.
	 */
	ceiling = USK_MAX(opts->max_shared_buffers, opts->num_shared_buffers);
	io_bufs = (opts->max_io_size + opts->io_unit_size - 1) / opts->io_unit_size;
	if ((qpair_share != 0 && qpair_share < io_bufs) ||
	    (ctrlr_share != 0 && ctrlr_share < io_bufs)) {
		snprintf(err, err_len,
			 "%s: must be 0 (automatic) or at least %u buffers (one "
			 "max_io_size I/O)",
			 qpair_share != 0 && qpair_share < io_bufs ? "max_r2t_buffers_per_qpair" :
								     "max_r2t_buffers_per_ctrlr",
			 io_bufs);
		return -EINVAL;
	}
	tt = calloc(1, sizeof(*tt));
	if (tt == NULL) {
		return -ENOMEM;
	}
	tt->c2h_success = c2h_success;
	tt->sock_priority = sock_priority;
	tt->r2t_timeout_ms = r2t_timeout_ms;
	tt->connect_timeout_ms = connect_timeout_ms;
	tt->max_conns_per_listener = max_conns;
	tt->max_r2t_bufs_per_qpair = qpair_share;
	tt->max_r2t_bufs_per_ctrlr = ctrlr_share;
	tt->io_bufs = io_bufs;
	snprintf(tt->sock_impl, sizeof(tt->sock_impl), "%s", sock_impl);
	TAILQ_INIT(&tt->listeners);
	TAILQ_INIT(&tt->closed_listeners);
	*transport = &tt->transport;
	USK_NOTICELOG(
		"TCP transport created: max_queue_depth %u max_io_size %u io_unit_size %u "
		"in_capsule_data_size %u num_shared_buffers %u max_shared_buffers %u "
		"buf_cache_size %u; data-wait share %u per qpair, %u per controller (0: of the "
		"pool now); r2t_timeout_ms %u connect_timeout_ms %u "
		"max_connections_per_listener %u\n",
		opts->max_queue_depth, opts->max_io_size, opts->io_unit_size,
		opts->in_capsule_data_size, opts->num_shared_buffers, ceiling, opts->buf_cache_size,
		qpair_share, ctrlr_share, r2t_timeout_ms, connect_timeout_ms, max_conns);
	return 0;
}

static void
tcp_dump_opts(struct usk_nvmf_transport *transport, json_t *params)
{
	struct tcp_transport *tt = USK_CONTAINEROF(transport, struct tcp_transport, transport);

	usk_json_set(params, "c2h_success", json_boolean(tt->c2h_success));
	usk_json_set(params, "sock_priority", json_integer(tt->sock_priority));
	usk_json_set(params, "r2t_timeout_ms", json_integer(tt->r2t_timeout_ms));
	usk_json_set(params, "connect_timeout_ms", json_integer(tt->connect_timeout_ms));
	usk_json_set(params, "max_connections_per_listener",
		     json_integer(tt->max_conns_per_listener));
	usk_json_set(params, "max_r2t_buffers_per_qpair", json_integer(tt->max_r2t_bufs_per_qpair));
	usk_json_set(params, "max_r2t_buffers_per_ctrlr", json_integer(tt->max_r2t_bufs_per_ctrlr));
	if (tt->sock_impl[0] != '\0') {
		usk_json_set(params, "sock_impl", json_string(tt->sock_impl));
	}
}

static int
tcp_destroy(struct usk_nvmf_transport *transport, usk_nvmf_transport_destroy_done_cb cb_fn,
	    void *cb_arg)
{
	struct tcp_transport *tt = USK_CONTAINEROF(transport, struct tcp_transport, transport);
	struct tcp_listener *l;

	while ((l = TAILQ_FIRST(&tt->listeners)) != NULL) {
		TAILQ_REMOVE(&tt->listeners, l, link);
		usk_interrupt_unregister(&l->intr);
		usk_sock_close(&l->sock);
		free(l);
	}
	/* every connection is gone by now (the core destroys the transport last) */
	while ((l = TAILQ_FIRST(&tt->closed_listeners)) != NULL) {
		TAILQ_REMOVE(&tt->closed_listeners, l, link);
		free(l);
	}
	usk_poller_unregister(&tt->accept_poller);
	free(tt);
	if (cb_fn != NULL) {
		cb_fn(cb_arg);
	}
	return 0;
}

/* Over max_connections_per_listener: close at once; one log line a second at most. */
static void
listener_refuse(struct tcp_transport *tt, struct tcp_listener *l, struct usk_sock *sock)
{
	char addr[USK_SOCK_ADDR_LEN] = "";
	uint16_t port = 0;
	uint64_t now = usk_get_ticks();

	l->refused++;
	if (l->refused == 1 || now - l->refused_logged >= usk_get_ticks_hz()) {
		usk_sock_getaddr(sock, NULL, 0, NULL, addr, sizeof(addr), &port);
		USK_ERRLOG(
			"NVMe/TCP listener %s:%s has %u connections (max_connections_per_listener): "
			"refusing %s:%u (%" PRIu64 " refused so far)\n",
			l->trid.traddr, l->trid.trsvcid, tt->max_conns_per_listener, addr, port,
			l->refused);
		l->refused_logged = now;
	}
	usk_sock_close(&sock);
}

/* Accept every pending connection and hand it to the core. */
static int
tcp_accept_poll(void *arg)
{
	struct tcp_transport *tt = arg;
	struct tcp_listener *l;
	struct usk_sock *sock;
	struct tcp_qpair *tq;
	int count = 0, rc;

	TAILQ_FOREACH(l, &tt->listeners, link) {
		for (;;) {
			rc = usk_sock_accept(l->sock, &sock);
			if (rc != 0) {
				if (rc != -EAGAIN) {
					USK_ERRLOG("accept on %s:%s failed: %s\n", l->trid.traddr,
						   l->trid.trsvcid, strerror(-rc));
				}
				break;
			}
			/* relaxed: only a limit (a connection closing meanwhile is seen next time)
			 */
			if (atomic_load_explicit(&l->num_conns, memory_order_relaxed) >=
			    tt->max_conns_per_listener) {
				listener_refuse(tt, l, sock);
				continue;
			}
			rc = tcp_qpair_create(tt, sock, &l->trid, &tq);
			if (rc != 0) {
				USK_ERRLOG("no memory for a new NVMe/TCP connection on %s:%s\n",
					   l->trid.traddr, l->trid.trsvcid);
				usk_sock_close(&sock);
				continue;
			}
			tq->listener = l;
			atomic_fetch_add_explicit(&l->num_conns, 1, memory_order_relaxed);
			USK_DEBUGLOG(nvmf_tcp, "new connection %s:%u -> %s:%u\n", tq->peer_addr,
				     tq->peer_port, tq->local_addr, tq->local_port);
			count++;
			usk_nvmf_tgt_new_qpair(tt->transport.tgt, &tq->qpair);
		}
	}
	return count > 0 ? USK_POLLER_BUSY : USK_POLLER_IDLE;
}

static int
tcp_listen(struct usk_nvmf_transport *transport, const struct usk_nvme_transport_id *trid,
	   const struct usk_nvmf_listen_opts *lopts)
{
	struct tcp_transport *tt = USK_CONTAINEROF(transport, struct tcp_transport, transport);
	struct usk_sock_opts sopts;
	struct tcp_listener *l;
	char *end;
	long port;
	int rc;

	port = strtol(trid->trsvcid, &end, 10);
	if (trid->trsvcid[0] == '\0' || *end != '\0' || port <= 0 || port > 65535) {
		USK_ERRLOG("trsvcid: '%s' is not a TCP port\n", trid->trsvcid);
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return -ENOMEM;
	}
	usk_sock_get_default_opts(&sopts, sizeof(sopts));
	sopts.priority = tt->sock_priority;
	rc = usk_sock_listen(trid->traddr, (int)port, &sopts, &l->sock);
	if (rc != 0) {
		USK_ERRLOG("cannot listen on %s:%s: %s\n", trid->traddr, trid->trsvcid,
			   strerror(-rc));
		free(l);
		return rc;
	}
	l->trid = *trid;
	if (usk_interrupt_mode_is_enabled()) {
		/* no periodic accept poll: wake only when a connection arrives */
		l->intr = usk_interrupt_register(usk_sock_get_fd(l->sock), tcp_accept_poll, tt,
						 "nvmf_tcp_accept");
		if (l->intr == NULL) {
			goto err_close;
		}
	} else if (tt->accept_poller == NULL) {
		tt->accept_poller = usk_poller_register_named(
			tcp_accept_poll, tt, transport->opts.acceptor_poll_rate, "nvmf_tcp_accept");
		if (tt->accept_poller == NULL) {
			goto err_close;
		}
	}
	TAILQ_INSERT_TAIL(&tt->listeners, l, link);
	USK_NOTICELOG("NVMe/TCP target listening on %s port %s\n", trid->traddr, trid->trsvcid);
	return 0;

err_close:
	usk_sock_close(&l->sock);
	free(l);
	return -ENOMEM;
}

static void
tcp_stop_listen(struct usk_nvmf_transport *transport, const struct usk_nvme_transport_id *trid)
{
	struct tcp_transport *tt = USK_CONTAINEROF(transport, struct tcp_transport, transport);
	struct tcp_listener *l, *tmp;

	for (l = TAILQ_FIRST(&tt->listeners); l != NULL; l = tmp) {
		tmp = TAILQ_NEXT(l, link);
		if (usk_nvmf_trid_equal(&l->trid, trid)) {
			TAILQ_REMOVE(&tt->listeners, l, link);
			usk_interrupt_unregister(&l->intr);
			usk_sock_close(&l->sock);
			/* its connections still point at it to give back their count */
			TAILQ_INSERT_TAIL(&tt->closed_listeners, l, link);
		}
	}
	for (l = TAILQ_FIRST(&tt->closed_listeners); l != NULL; l = tmp) {
		tmp = TAILQ_NEXT(l, link);
		/* acquire pairs with the release in tcp_qpair_destroy: its last use is done */
		if (atomic_load_explicit(&l->num_conns, memory_order_acquire) == 0) {
			TAILQ_REMOVE(&tt->closed_listeners, l, link);
			free(l);
		}
	}
	if (TAILQ_EMPTY(&tt->listeners)) {
		usk_poller_unregister(&tt->accept_poller);
	}
}

static void
tcp_cdata_init(struct usk_nvmf_transport *transport, const struct usk_nvmf_subsystem *subsystem,
	       struct usk_nvme_ctrlr_data *cdata)
{
	/* SGL data block with offset (in-capsule) and transport data blocks */
	cdata->sgls = USK_NVME_SGLS_SUPPORTED | USK_NVME_SGLS_ADDRESS_AS_OFFSET |
		      USK_NVME_SGLS_TRANSPORT_DATA_BLOCK;
	cdata->nvmf_specific.ioccsz =
		(uint32_t)(sizeof(struct usk_nvme_cmd) + transport->opts.in_capsule_data_size) / 16;
	cdata->nvmf_specific.iorcsz = sizeof(struct usk_nvme_cpl) / 16;
	cdata->nvmf_specific.icdoff = 0;
	cdata->nvmf_specific.msdbd = 1;
}

static void
tcp_listener_discover(struct usk_nvmf_transport *transport,
		      const struct usk_nvme_transport_id *trid,
		      struct usk_nvmf_discovery_log_page_entry *entry)
{
	entry->trtype = USK_NVMF_TRTYPE_TCP;
	entry->adrfam = (uint8_t)trid->adrfam;
	entry->treq = USK_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED;
	usk_strcpy_pad(entry->trsvcid, trid->trsvcid, sizeof(entry->trsvcid), ' ');
	usk_strcpy_pad(entry->traddr, trid->traddr, sizeof(entry->traddr), ' ');
	entry->tsas.tcp.sectype = 0;
}

/* ---- poll groups ---- */

static int
tcp_group_intr(void *arg)
{
	struct tcp_poll_group *tg = arg;

	return tg->group.transport->ops->poll_group_poll(&tg->group);
}

static struct usk_nvmf_transport_poll_group *
tcp_poll_group_create(struct usk_nvmf_transport *transport, struct usk_nvmf_poll_group *group)
{
	struct tcp_transport *tt = USK_CONTAINEROF(transport, struct tcp_transport, transport);
	struct tcp_poll_group *tg = calloc(1, sizeof(*tg));

	if (tg == NULL) {
		return NULL;
	}
	if (usk_sock_group_create_impl(tg, tt->sock_impl[0] != '\0' ? tt->sock_impl : NULL,
				       &tg->sock_group) != 0) {
		free(tg);
		return NULL;
	}
	TAILQ_INIT(&tg->qpairs);
	TAILQ_INIT(&tg->flush_list);
	TAILQ_INIT(&tg->pending_buf_queue);
	tg->group.transport = transport;
	tg->timeout_poller = usk_poller_register_named(tcp_group_timeout_poll, tg,
						       TCP_TIMEOUT_POLL_US, "nvmf_tcp_timeout");
	if (tg->timeout_poller == NULL) {
		usk_sock_group_close(&tg->sock_group);
		free(tg);
		return NULL;
	}
	if (usk_interrupt_mode_is_enabled()) {
		tg->intr = usk_interrupt_register(usk_sock_group_get_fd(tg->sock_group),
						  tcp_group_intr, tg, "nvmf_tcp_group");
		if (tg->intr == NULL) {
			usk_poller_unregister(&tg->timeout_poller);
			usk_sock_group_close(&tg->sock_group);
			free(tg);
			return NULL;
		}
	}
	return &tg->group;
}

static void
tcp_poll_group_destroy(struct usk_nvmf_transport_poll_group *group)
{
	struct tcp_poll_group *tg = USK_CONTAINEROF(group, struct tcp_poll_group, group);

	usk_interrupt_unregister(&tg->intr);
	usk_poller_unregister(&tg->timeout_poller);
	usk_sock_group_close(&tg->sock_group);
	if (tg->wake_pending) {
		tg->destroyed = true; /* tcp_group_wake_msg frees it */
		return;
	}
	free(tg);
}

static void
tcp_group_wake_msg(void *arg)
{
	struct tcp_poll_group *tg = arg;

	tg->wake_pending = false;
	if (tg->destroyed) {
		free(tg);
		return;
	}
	tcp_group_intr(tg);
}

void
tcp_group_wake(struct tcp_poll_group *tg)
{
	/* A message to our own thread costs no syscall while the thread is running, and keeps
	 * it from sleeping until the message ran (see usk_thread_send_msg). */
	if (tg->intr == NULL || tg->in_poll || tg->wake_pending) {
		return;
	}
	if (usk_thread_send_msg(usk_get_thread(), tcp_group_wake_msg, tg) == 0) {
		tg->wake_pending = true;
	}
}

static int
tcp_poll_group_add(struct usk_nvmf_transport_poll_group *group, struct usk_nvmf_qpair *qpair)
{
	struct tcp_poll_group *tg = USK_CONTAINEROF(group, struct tcp_poll_group, group);
	struct tcp_qpair *tq = tcp_qpair_from(qpair);
	int rc;

	rc = usk_sock_group_add_sock(tg->sock_group, tq->sock, tcp_qpair_sock_cb, tq);
	if (rc != 0) {
		USK_ERRLOG("cannot add the connection from %s:%u to its poll group: %s\n",
			   tq->peer_addr, tq->peer_port, strerror(-rc));
		return rc;
	}
	tq->tgroup = tg;
	tcp_qpair_zc_setup(tq);
	tg->qpairs_accepted++;
	TAILQ_INSERT_TAIL(&tg->qpairs, tq, link);
	return 0;
}

static int
tcp_poll_group_remove(struct usk_nvmf_transport_poll_group *group, struct usk_nvmf_qpair *qpair)
{
	struct tcp_poll_group *tg = USK_CONTAINEROF(group, struct tcp_poll_group, group);
	struct tcp_qpair *tq = tcp_qpair_from(qpair);

	if (tq->tgroup != tg) {
		return -EINVAL;
	}
	usk_sock_group_remove_sock(tg->sock_group, tq->sock);
	if (tq->in_flush_list) {
		TAILQ_REMOVE(&tg->flush_list, tq, flush_link);
		tq->in_flush_list = false;
	}
	tcp_qpair_release_all(tq);
	TAILQ_REMOVE(&tg->qpairs, tq, link);
	tq->tgroup = NULL;
	return 0;
}

static int
tcp_poll_group_poll(struct usk_nvmf_transport_poll_group *group)
{
	struct tcp_poll_group *tg = USK_CONTAINEROF(group, struct tcp_poll_group, group);
	TAILQ_HEAD(, tcp_qpair) list = TAILQ_HEAD_INITIALIZER(list);
	struct tcp_qpair *tq;
	int rc, count;

	tg->in_poll = true;
	count = usk_sock_group_poll(tg->sock_group);
	if (count < 0) {
		tg->in_poll = false;
		return count;
	}
	if (usk_unlikely(tg->share_wait_now > 0)) {
		count += tcp_group_process_share_wait(tg);
	}
	if (usk_unlikely(!TAILQ_EMPTY(&tg->pending_buf_queue))) {
		count += tcp_group_process_pending(tg);
	}
	/* one writev per connection per poll carries every PDU queued since the last one */
	TAILQ_CONCAT(&list, &tg->flush_list, flush_link);
	while ((tq = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, tq, flush_link);
		tq->in_flush_list = false;
		rc = tcp_qpair_flush(tq);
		if (rc < 0) {
			USK_NOTICELOG("NVMe/TCP send to %s:%u failed: %s\n", tq->peer_addr,
				      tq->peer_port, strerror(-rc));
			tcp_qpair_disconnect(tq);
			continue;
		}
		count += rc > 0;
		if (tq->send_inflight) {
			/* async send: its completion queues the qpair again if more is left */
		} else if (!STAILQ_EMPTY(&tq->send_queue)) {
			/* socket full: retried on the next poll (or when writable, in interrupt
			 * mode) */
			tq->in_flush_list = true;
			TAILQ_INSERT_TAIL(&tg->flush_list, tq, flush_link);
			if (tg->intr != NULL) {
				usk_sock_group_want_write(tg->sock_group, tq->sock, true);
			}
		} else if (tg->intr != NULL) {
			usk_sock_group_want_write(tg->sock_group, tq->sock, false);
		}
	}
	tg->in_poll = false;
	/* async sends queued above go to the kernel now (one io_uring_enter for the group) */
	rc = usk_sock_group_flush(tg->sock_group);
	if (usk_unlikely(rc < 0)) {
		USK_NOTICELOG("NVMe/TCP socket group flush failed: %s\n", strerror(-rc));
	}
	if (usk_unlikely(!TAILQ_EMPTY(&tg->pending_buf_queue))) {
		/* buffers released by this poll's sends: retry the waiting requests next turn */
		tcp_group_wake(tg);
	}
	return count;
}

static void
tcp_poll_group_dump_stat(struct usk_nvmf_transport_poll_group *group, json_t *obj)
{
	struct tcp_poll_group *tg = USK_CONTAINEROF(group, struct tcp_poll_group, group);
	struct tcp_qpair *tq;
	uint32_t n = 0;

	TAILQ_FOREACH(tq, &tg->qpairs, link) {
		n++;
	}
	usk_json_set(obj, "trtype", json_string("TCP"));
	usk_json_set(obj, "sock_impl", json_string(usk_sock_group_get_impl(tg->sock_group)));
	usk_json_set(obj, "current_qpairs", json_integer(n));
	usk_json_set(obj, "accepted_qpairs", json_integer((json_int_t)tg->qpairs_accepted));
	usk_json_set(obj, "zcopy_sends", json_integer((json_int_t)tg->zcopy_sends));
	usk_json_set(obj, "zcopy_done", json_integer((json_int_t)tg->zcopy_done));
	usk_json_set(obj, "pending_data_buffer", json_integer(tg->pending_buf_now));
	usk_json_set(obj, "data_buffer_waits", json_integer((json_int_t)tg->pending_buf_waits));
	usk_json_set(obj, "fatal_pdu_errors", json_integer((json_int_t)tg->fatal_errors));
	usk_json_set(obj, "sq_overflows", json_integer((json_int_t)tg->sq_overflows));
	usk_json_set(obj, "r2t_share_waits", json_integer((json_int_t)tg->share_waits));
	usk_json_set(obj, "r2t_share_waiting", json_integer(tg->share_wait_now));
	usk_json_set(obj, "r2t_timeouts", json_integer((json_int_t)tg->r2t_timeouts));
	usk_json_set(obj, "connect_timeouts", json_integer((json_int_t)tg->connect_timeouts));
	usk_json_set(obj, "buf_cache_count", json_integer(tg->group.buf_cache_count));
}

/* ---- qpairs ---- */

struct qpair_free_ctx {
	struct tcp_qpair *tq;
	usk_nvmf_transport_qpair_fini_cb cb_fn;
	void *cb_arg;
};

static void
qpair_free_msg(void *arg)
{
	struct qpair_free_ctx *ctx = arg;

	tcp_qpair_destroy(ctx->tq);
	if (ctx->cb_fn != NULL) {
		ctx->cb_fn(ctx->cb_arg);
	}
	free(ctx);
}

/*
 * The core may call this from deep inside our own receive path (a request completion that
 * drains a disconnecting qpair), so the memory is freed by a message, after the stack unwinds;
 * until then the qpair is EXITING and nothing reads it or sends on it.
 */
static void
tcp_qpair_fini(struct usk_nvmf_qpair *qpair, usk_nvmf_transport_qpair_fini_cb cb_fn, void *cb_arg)
{
	struct tcp_qpair *tq = tcp_qpair_from(qpair);
	struct usk_thread *thread = usk_get_thread();
	struct qpair_free_ctx *ctx;

	if (tq->tgroup != NULL) {
		tcp_poll_group_remove(&tq->tgroup->group, qpair);
	}
	tq->state = TCP_QPAIR_EXITING;
	tq->disconnect_started = true;
	USK_DEBUGLOG(nvmf_tcp, "connection %s:%u closed\n", tq->peer_addr, tq->peer_port);
	/* the host sees the close now */
	usk_sock_close(&tq->sock);
	ctx = calloc(1, sizeof(*ctx));
	if (ctx != NULL) {
		ctx->tq = tq;
		ctx->cb_fn = cb_fn;
		ctx->cb_arg = cb_arg;
		if (thread != NULL && usk_thread_send_msg(thread, qpair_free_msg, ctx) == 0) {
			return;
		}
		free(ctx);
	}
	tcp_qpair_destroy(tq);
	if (cb_fn != NULL) {
		cb_fn(cb_arg);
	}
}

static void
trid_fill(struct usk_nvme_transport_id *trid, const char *addr, uint16_t port)
{
	memset(trid, 0, sizeof(*trid));
	trid->trtype = USK_NVME_TRANSPORT_TCP;
	snprintf(trid->trstring, sizeof(trid->trstring), "TCP");
	trid->adrfam = strchr(addr, ':') != NULL ? USK_NVMF_ADRFAM_IPV6 : USK_NVMF_ADRFAM_IPV4;
	snprintf(trid->traddr, sizeof(trid->traddr), "%s", addr);
	snprintf(trid->trsvcid, sizeof(trid->trsvcid), "%u", port);
}

static int
tcp_qpair_get_peer_trid(struct usk_nvmf_qpair *qpair, struct usk_nvme_transport_id *trid)
{
	struct tcp_qpair *tq = tcp_qpair_from(qpair);

	trid_fill(trid, tq->peer_addr, tq->peer_port);
	return 0;
}

static int
tcp_qpair_get_local_trid(struct usk_nvmf_qpair *qpair, struct usk_nvme_transport_id *trid)
{
	struct tcp_qpair *tq = tcp_qpair_from(qpair);

	trid_fill(trid, tq->local_addr, tq->local_port);
	return 0;
}

static int
tcp_qpair_get_listen_trid(struct usk_nvmf_qpair *qpair, struct usk_nvme_transport_id *trid)
{
	*trid = tcp_qpair_from(qpair)->listen_trid;
	return 0;
}

static void
tcp_qpair_dump_stat(struct usk_nvmf_qpair *qpair, json_t *obj)
{
	struct tcp_qpair *tq = tcp_qpair_from(qpair);

	usk_json_set(obj, "in_flight", json_integer(tq->outstanding));
	usk_json_set(obj, "completed", json_integer((json_int_t)tq->completed));
}

static const struct usk_nvmf_transport_ops g_tcp_ops = {
	.name = "TCP",
	.type = USK_NVME_TRANSPORT_TCP,
	.opts_init = tcp_opts_init,
	.create = tcp_create,
	.dump_opts = tcp_dump_opts,
	.destroy = tcp_destroy,
	.listen = tcp_listen,
	.stop_listen = tcp_stop_listen,
	.cdata_init = tcp_cdata_init,
	.listener_discover = tcp_listener_discover,
	.poll_group_create = tcp_poll_group_create,
	.poll_group_destroy = tcp_poll_group_destroy,
	.poll_group_add = tcp_poll_group_add,
	.poll_group_remove = tcp_poll_group_remove,
	.poll_group_poll = tcp_poll_group_poll,
	.poll_group_dump_stat = tcp_poll_group_dump_stat,
	.req_free = tcp_req_free,
	.req_complete = tcp_req_complete,
	.qpair_fini = tcp_qpair_fini,
	.qpair_get_peer_trid = tcp_qpair_get_peer_trid,
	.qpair_get_local_trid = tcp_qpair_get_local_trid,
	.qpair_get_listen_trid = tcp_qpair_get_listen_trid,
	.qpair_dump_stat = tcp_qpair_dump_stat,
	.qpair_abort_request = tcp_qpair_abort_request,
	.qpair_set_sq_size = tcp_qpair_set_sq_size,
};

USK_NVMF_TRANSPORT_REGISTER(tcp, &g_tcp_ops)
