/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the NVMe-oF target core's targets and subsystems: NQN validation, discovery
 * log, transport options, hosts and namespaces, listeners, bdev hot remove.
 * Fixture and command helpers: nvmf_ut.h (fake transport and mock bdev: test/common/nvmf_fake.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "nvmf_ut.h"
#include "ut_multithread.h"

static void
test_nqn_validation(void **state)
{
	char err[128];
	char longnqn[300];

	assert_true(usk_nvmf_nqn_is_valid(SUBNQN, err, sizeof(err)));
	assert_true(usk_nvmf_nqn_is_valid(USK_NVMF_DISCOVERY_NQN, err, sizeof(err)));
	assert_true(usk_nvmf_nqn_is_valid(HOSTNQN, err, sizeof(err)));
	assert_true(usk_nvmf_nqn_is_valid("nqn.2016-06.io.spdk:cnode1", NULL, 0));
	assert_false(usk_nvmf_nqn_is_valid("nqn.2016-06.io.", err, sizeof(err)));
	assert_false(usk_nvmf_nqn_is_valid("nqn.2016-13.io.usk:x", err, sizeof(err)));
	assert_non_null(strstr(err, "month"));
	assert_false(usk_nvmf_nqn_is_valid("iqn.2016-06.io.usk:x", err, sizeof(err)));
	assert_false(usk_nvmf_nqn_is_valid("nqn.16-06.io.usk:x", err, sizeof(err)));
	assert_false(usk_nvmf_nqn_is_valid("nqn.2016-06.1io.usk:x", err, sizeof(err)));
	assert_false(usk_nvmf_nqn_is_valid("nqn.2016-06.io.usk:", err, sizeof(err)));
	assert_false(usk_nvmf_nqn_is_valid("nqn.2014-08.org.nvmexpress:uuid:not-a-uuid", err,
					   sizeof(err)));
	assert_false(usk_nvmf_nqn_is_valid("nqn.1", err, sizeof(err)));
	memset(longnqn, 'a', sizeof(longnqn));
	memcpy(longnqn, "nqn.2016-06.io.usk:", 19);
	longnqn[224] = '\0';
	assert_false(usk_nvmf_nqn_is_valid(longnqn, err, sizeof(err)));
	assert_non_null(strstr(err, "223"));
	longnqn[223] = '\0';
	assert_true(usk_nvmf_nqn_is_valid(longnqn, err, sizeof(err)));
	/* subsystem creation enforces it */
	struct usk_nvmf_subsystem *s;
	assert_int_equal(usk_nvmf_subsystem_create(g_tgt, "bad", USK_NVMF_SUBTYPE_NVME, 0, &s),
			 -EINVAL);
	assert_int_equal(usk_nvmf_subsystem_create(g_tgt, SUBNQN, USK_NVMF_SUBTYPE_NVME, 0, &s),
			 -EEXIST);
}

static void
test_discovery_log(void **state)
{
	struct usk_nvmf_subsystem *s2;
	struct usk_nvme_transport_id trid;
	struct usk_nvmf_discovery_log_page *log;
	struct usk_nvme_ctrlr_data *cdata;
	struct fake_qpair *disc;
	struct fake_req *r;
	uint16_t cntlid;
	uint64_t genctr;

	ut_set_thread(0);
	assert_int_equal(usk_nvmf_subsystem_create(g_tgt, "nqn.2016-06.io.usk:cnode2",
						   USK_NVMF_SUBTYPE_NVME, 0, &s2),
			 0);
	assert_int_equal(usk_nvmf_subsystem_add_host(s2, HOSTNQN2), 0);
	fake_trid(&trid, "4430");
	assert_int_equal(usk_nvmf_subsystem_add_listener(s2, &trid, NULL), 0);
	assert_int_equal(usk_nvmf_subsystem_add_listener(s2, &trid, NULL), -EEXIST);
	fake_trid(&trid, "9");
	assert_int_not_equal(usk_nvmf_subsystem_add_listener(s2, &trid, NULL), 0);
	wait_state_change(usk_nvmf_subsystem_start(s2, state_cb, NULL));

	disc = ctrlr_up(USK_NVMF_DISCOVERY_NQN, HOSTNQN, 0, &cntlid);
	r = nvme_cmd(disc, USK_NVME_OPC_IDENTIFY, 0, USK_NVME_IDENTIFY_CTRLR, 0, 0, 4096);
	cdata = (struct usk_nvme_ctrlr_data *)r->buf;
	assert_int_equal(cdata->cntrltype, USK_NVME_CTRLR_TYPE_DISCOVERY);
	assert_int_equal(cdata->nn, 0);
	assert_string_equal((char *)cdata->subnqn, USK_NVMF_DISCOVERY_NQN);
	free(r);
	/* I/O commands and namespaces do not exist there */
	r = nvme_cmd(disc, USK_NVME_OPC_IDENTIFY, 1, USK_NVME_IDENTIFY_NS, 0, 0, 4096);
	assert_int_equal(sct_sc(r), SC(0, USK_NVME_SC_INVALID_FIELD));
	free(r);

	/* HOSTNQN sees cnode1 (any host) but not cnode2 (HOSTNQN2 only) */
	r = nvme_cmd(disc, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_DISCOVERY | (1023u << 16), 0,
		     0, 4096);
	assert_int_equal(sct_sc(r), 0);
	log = (struct usk_nvmf_discovery_log_page *)r->buf;
	assert_int_equal(log->numrec, 1);
	assert_int_equal(log->recfmt, 0);
	genctr = log->genctr;
	assert_int_equal(log->entries[0].trtype, USK_NVMF_TRTYPE_TCP);
	assert_int_equal(log->entries[0].adrfam, USK_NVMF_ADRFAM_IPV4);
	assert_int_equal(log->entries[0].subtype, USK_NVMF_SUBTYPE_NVME);
	assert_int_equal(log->entries[0].cntlid, 0xffff);
	assert_int_equal(log->entries[0].asqsz, 32);
	assert_string_equal((char *)log->entries[0].subnqn, SUBNQN);
	assert_memory_equal(log->entries[0].traddr, "127.0.0.1 ", 10);
	assert_memory_equal(log->entries[0].trsvcid, "4420 ", 5);
	free(r);

	/* allow HOSTNQN on cnode2: genctr moves, both are listed */
	ut_set_thread(0);
	assert_int_equal(usk_nvmf_subsystem_add_host(s2, HOSTNQN), 0);
	fake_trid(&trid, "4420");
	assert_int_equal(usk_nvmf_subsystem_add_listener(
				 usk_nvmf_tgt_find_subsystem(g_tgt, USK_NVMF_DISCOVERY_NQN), &trid,
				 NULL),
			 0);
	r = nvme_cmd(disc, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_DISCOVERY | (1023u << 16), 0,
		     0, 4096);
	log = (struct usk_nvmf_discovery_log_page *)r->buf;
	assert_int_equal(log->numrec, 3);
	assert_true(log->genctr > genctr);
	assert_int_equal(log->entries[0].subtype, USK_NVMF_SUBTYPE_DISCOVERY_CURRENT);
	assert_string_equal((char *)log->entries[0].subnqn, USK_NVMF_DISCOVERY_NQN);
	assert_string_equal((char *)log->entries[2].subnqn, "nqn.2016-06.io.usk:cnode2");
	assert_memory_equal(log->entries[2].trsvcid, "4430", 4);
	free(r);
	/* header only, and an offset into the entries */
	r = nvme_cmd(disc, USK_NVME_OPC_GET_LOG_PAGE, 0, USK_NVME_LOG_DISCOVERY | (255u << 16), 0,
		     1024, 1024);
	assert_int_equal(sct_sc(r), 0);
	assert_int_equal(r->buf[0], USK_NVMF_TRTYPE_TCP);
	free(r);
	/* other logs are not on a discovery controller */
	r = nvme_cmd(disc, USK_NVME_OPC_GET_LOG_PAGE, 0,
		     USK_NVME_LOG_HEALTH_INFORMATION | (127u << 16), 0, 0, 512);
	assert_int_equal(sct_sc(r), SC(1, USK_NVME_SC_INVALID_LOG_PAGE));
	free(r);
	qpair_drop(disc);
}

static void
test_transport_opts_and_buffers(void **state)
{
	struct usk_nvmf_transport_opts opts;
	struct usk_nvmf_transport *t = NULL;
	struct usk_nvmf_transport_poll_group tg = {};
	struct fake_req *r;
	json_t *params, *dump;
	char err[256] = "";

	ut_set_thread(0);
	assert_false(usk_nvmf_transport_opts_init("nope", &opts, sizeof(opts)));
	assert_int_equal(usk_nvmf_transport_create("nope", &opts, &t, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "trtype"));
	assert_true(usk_nvmf_transport_opts_init("FAKE", &opts, sizeof(opts)));
	opts.max_io_size = 3000;
	assert_int_equal(usk_nvmf_transport_create("FAKE", &opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "max_io_size"));
	usk_nvmf_transport_opts_init("FAKE", &opts, sizeof(opts));
	opts.io_unit_size = 1024; /* 128 buffers per I/O: too many */
	assert_int_equal(usk_nvmf_transport_create("FAKE", &opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "io_unit_size"));
	usk_nvmf_transport_opts_init("FAKE", &opts, sizeof(opts));
	opts.max_queue_depth = 1;
	assert_int_equal(usk_nvmf_transport_create("FAKE", &opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "max_queue_depth"));
	/* transport-specific members reach the transport's create() */
	usk_nvmf_transport_opts_init("FAKE", &opts, sizeof(opts));
	params = json_pack("{s:s, s:s}", "trtype", "FAKE", "knob", "x");
	opts.transport_specific = params;
	assert_int_equal(usk_nvmf_transport_create("FAKE", &opts, &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "knob"));
	json_decref(params);

	/* the registered transport dumps its opts */
	dump = usk_nvmf_transport_opts_to_json(g_transport);
	assert_string_equal(json_string_value(json_object_get(dump, "trtype")), "FAKE");
	assert_int_equal(json_integer_value(json_object_get(dump, "max_io_qpairs_per_ctrlr")), 3);
	assert_int_equal(json_integer_value(json_object_get(dump, "knob")), 7);
	json_decref(dump);
	assert_int_equal(usk_nvmf_tgt_get_transport(g_tgt, "fake"), g_transport);

	/* buffers: 20000 bytes = 3 x 8 KiB from the pool */
	tg.transport = g_transport;
	STAILQ_INIT(&tg.buf_cache);
	tg.buf_cache_size = 2;
	r = calloc(1, sizeof(*r));
	assert_int_equal(usk_nvmf_request_get_buffers(&r->req, &tg, g_transport, 20000), 0);
	assert_int_equal(r->req.iovcnt, 3);
	assert_int_equal(r->req.iov[2].iov_len, 20000 - 2 * 8192);
	assert_true(r->req.data_from_pool);
	assert_int_equal(usk_nvmf_request_get_buffers(&r->req, &tg, g_transport, 200000), -EINVAL);
	usk_nvmf_request_free_buffers(&r->req, &tg, g_transport);
	assert_int_equal(r->req.iovcnt, 0);
	assert_int_equal(tg.buf_cache_count, 2); /* cache refilled, the rest back in the pool */
	assert_int_equal(usk_nvmf_request_get_buffers(&r->req, &tg, g_transport, 8192), 0);
	assert_int_equal(tg.buf_cache_count, 1);
	usk_nvmf_request_free_buffers(&r->req, &tg, g_transport);
	while (!STAILQ_EMPTY(&tg.buf_cache)) {
		void *b = STAILQ_FIRST(&tg.buf_cache);

		STAILQ_REMOVE_HEAD(&tg.buf_cache, link);
		usk_mempool_put(g_transport->data_buf_pool, b);
	}
	free(r);
}

static void
test_subsystem_hosts_and_ns(void **state)
{
	struct usk_nvmf_ns_opts nopts;
	struct usk_nvmf_host *host;
	uint32_t nsid;

	ut_set_thread(0);
	/* changes need a paused or inactive subsystem */
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock1", NULL, 0, &nsid),
			 -EPERM);
	wait_state_change(usk_nvmf_subsystem_pause(g_subsystem, state_cb, NULL));
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "NoSuch", NULL, 0, &nsid),
			 -ENODEV);
	usk_nvmf_ns_opts_get_defaults(&nopts, sizeof(nopts));
	nopts.nsid = 1;
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock1", &nopts, sizeof(nopts),
						       &nsid),
			 -EEXIST);
	nopts.nsid = 9;
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock1", &nopts, sizeof(nopts),
						       &nsid),
			 -EINVAL);
	nopts.nsid = 5;
	nopts.eui64_be = 0x0011223344556677ULL;
	assert_int_equal(usk_nvmf_subsystem_add_ns_ext(g_subsystem, "Mock1", &nopts, sizeof(nopts),
						       &nsid),
			 0);
	assert_int_equal(nsid, 5);
	assert_int_equal(usk_nvmf_ns_get_id(usk_nvmf_subsystem_get_next_ns(
				 g_subsystem, usk_nvmf_subsystem_get_first_ns(g_subsystem))),
			 5);
	assert_int_equal(usk_nvmf_subsystem_remove_ns(g_subsystem, 3), -ENOENT);
	assert_int_equal(usk_nvmf_subsystem_remove_ns(g_subsystem, 5), 0);
	wait_state_change(usk_nvmf_subsystem_resume(g_subsystem, state_cb, NULL));

	assert_int_equal(usk_nvmf_subsystem_add_host(g_subsystem, "bad nqn"), -EINVAL);
	assert_int_equal(usk_nvmf_subsystem_add_host(g_subsystem, HOSTNQN), 0);
	assert_int_equal(usk_nvmf_subsystem_add_host(g_subsystem, HOSTNQN), -EEXIST);
	host = usk_nvmf_subsystem_get_first_host(g_subsystem);
	assert_string_equal(usk_nvmf_host_get_nqn(host), HOSTNQN);
	usk_nvmf_subsystem_set_allow_any_host(g_subsystem, false);
	assert_true(usk_nvmf_subsystem_host_allowed(g_subsystem, HOSTNQN));
	assert_false(usk_nvmf_subsystem_host_allowed(g_subsystem, HOSTNQN2));
	assert_int_equal(usk_nvmf_subsystem_remove_host(g_subsystem, HOSTNQN), 0);
	assert_int_equal(usk_nvmf_subsystem_remove_host(g_subsystem, HOSTNQN), -ENOENT);
	assert_false(usk_nvmf_subsystem_host_allowed(g_subsystem, HOSTNQN));
	assert_int_equal(usk_nvmf_subsystem_set_sn(g_subsystem, "this serial is far too long"),
			 -EINVAL);
	assert_int_equal(usk_nvmf_subsystem_set_cntlid_range(g_subsystem, 1, 10), -EPERM);
}

static void
unregister_cb(void *arg, int rc)
{
	*(bool *)arg = rc == 0;
}

static void
test_hot_remove(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_req *aer, *r;
	bool done = false;

	r = nvme_cmd(admin, USK_NVME_OPC_SET_FEATURES, 0, USK_NVME_FEAT_ASYNC_EVENT_CONFIGURATION,
		     0x100, 0, 0);
	free(r);
	aer = aer_submit(admin);
	ut_set_thread(0);
	usk_bdev_unregister(g_bdev0, unregister_cb, &done);
	ut_poll_threads();
	assert_null(usk_nvmf_subsystem_get_ns(g_subsystem, 1));
	assert_int_equal(usk_nvmf_subsystem_get_state(g_subsystem), USK_NVMF_SUBSYSTEM_ACTIVE);
	assert_int_equal(aer->completions, 1);
	r = nvme_cmd(admin, USK_NVME_OPC_IDENTIFY, 0, USK_NVME_IDENTIFY_ACTIVE_NS_LIST, 0, 0, 4096);
	assert_int_equal(((uint32_t *)r->buf)[0], 0);
	free(r);
	assert_true(done);
	free(aer);
	qpair_drop(admin);
	g_bdev0 = NULL;
}

static void
test_remove_listener_drops_connections(void **state)
{
	uint16_t cntlid;
	struct fake_qpair *admin = ctrlr_up(SUBNQN, HOSTNQN, 0, &cntlid);
	struct fake_transport *ft = (struct fake_transport *)g_transport;
	struct usk_nvme_transport_id trid;
	int listens = ft->listens;

	ut_set_thread(0);
	fake_trid(&trid, "4421");
	assert_int_equal(usk_nvmf_subsystem_remove_listener(g_subsystem, &trid), -ENOENT);
	fake_trid(&trid, "4420");
	assert_true(usk_nvmf_subsystem_listener_allowed(g_subsystem, &trid));
	assert_int_equal(usk_nvmf_subsystem_remove_listener(g_subsystem, &trid), 0);
	assert_false(usk_nvmf_subsystem_listener_allowed(g_subsystem, &trid));
	assert_int_equal(ft->listens, listens - 1);
	ut_poll_threads();
	assert_true(admin->finied);
	free(admin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nqn_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discovery_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_opts_and_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subsystem_hosts_and_ns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hot_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_listener_drops_connections, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
