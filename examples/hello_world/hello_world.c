/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hello_world: the first program of the NVMe driver, as SPDK's examples/nvme/hello_world.
 * Probe controllers (every NVMe PCI device bound to vfio-pci/uio_pci_generic, or the one -r
 * names: PCIe or TCP), attach, allocate an I/O qpair per namespace, write "Hello world!" to
 * LBA 0, read it back, print it, detach. Exit 0 only when every namespace read back what was
 * written.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/nvme.h"
#include "usk/pci.h"
#include "usk/util.h"

#define HELLO	   "Hello world!\n"
#define MAX_CTRLRS 16
#define MAX_NS	   64

struct ctrlr_entry {
	struct usk_nvme_ctrlr *ctrlr;
	char name[USK_NVMF_TRADDR_MAX_LEN + 48];
};

struct ns_entry {
	struct usk_nvme_ctrlr *ctrlr;
	struct usk_nvme_ns *ns;
	struct usk_nvme_qpair *qpair;
};

static struct ctrlr_entry g_ctrlrs[MAX_CTRLRS];
static int g_num_ctrlrs;
static struct ns_entry g_ns[MAX_NS];
static int g_num_ns;
static struct usk_nvme_transport_id g_trid;
static uint32_t g_nsid; /* ns:N of the TRID, 0 = all */
/* --interrupts: sleep in poll() on the qpair's fd (MSI-X eventfd under vfio) between polls */
static bool g_interrupts;

/* I/O sequence of one namespace: write, then read into a fresh buffer. */
struct hello_seq {
	struct ns_entry *ns_entry;
	char *buf;
	uint32_t buf_len;
	bool using_cmb_io;
	int is_completed; /* 0 running, 1 done, -1 failed */
};

static bool
probe_cb(void *cb_ctx, const struct usk_nvme_transport_id *trid, struct usk_nvme_ctrlr_opts *opts)
{
	printf("Attaching to %s\n", trid->traddr);
	opts->enable_interrupts = g_interrupts;
	return true;
}

static void
register_ns(struct usk_nvme_ctrlr *ctrlr, struct usk_nvme_ns *ns)
{
	if (g_num_ns == MAX_NS) {
		return;
	}
	g_ns[g_num_ns].ctrlr = ctrlr;
	g_ns[g_num_ns].ns = ns;
	g_num_ns++;
	printf("  Namespace ID: %u size: %" PRIu64 "GB\n", usk_nvme_ns_get_id(ns),
	       usk_nvme_ns_get_size(ns) / 1000000000);
}

static void
attach_cb(void *cb_ctx, const struct usk_nvme_transport_id *trid, struct usk_nvme_ctrlr *ctrlr,
	  const struct usk_nvme_ctrlr_opts *opts)
{
	const struct usk_nvme_ctrlr_data *cdata = usk_nvme_ctrlr_get_data(ctrlr);
	struct ctrlr_entry *e;
	uint32_t nsid;

	printf("Attached to %s\n", trid->traddr);
	if (g_num_ctrlrs == MAX_CTRLRS) {
		usk_nvme_detach(ctrlr);
		return;
	}
	e = &g_ctrlrs[g_num_ctrlrs++];
	e->ctrlr = ctrlr;
	snprintf(e->name, sizeof(e->name), "%-20.20s (%-20.20s)", (const char *)cdata->mn,
		 (const char *)cdata->sn);
	for (nsid = usk_nvme_ctrlr_get_first_active_ns(ctrlr); nsid != 0;
	     nsid = usk_nvme_ctrlr_get_next_active_ns(ctrlr, nsid)) {
		if (g_nsid != 0 && nsid != g_nsid) {
			continue;
		}
		register_ns(ctrlr, usk_nvme_ctrlr_get_ns(ctrlr, nsid));
	}
}

static void
read_complete(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct hello_seq *seq = arg;

	if (usk_nvme_cpl_is_error(cpl)) {
		fprintf(stderr, "I/O error status: %s\n",
			usk_nvme_cpl_get_status_string(&cpl->status));
		fprintf(stderr, "Read I/O failed, aborting run\n");
		seq->is_completed = -1;
		return;
	}
	/* What the device returned, as SPDK prints it. */
	printf("%s", seq->buf);
	seq->is_completed = memcmp(seq->buf, HELLO, sizeof(HELLO)) == 0 ? 1 : -1;
	if (seq->is_completed < 0) {
		fprintf(stderr, "read back data differs from what was written\n");
	}
}

static void
write_complete(void *arg, const struct usk_nvme_cpl *cpl)
{
	struct hello_seq *seq = arg;
	struct ns_entry *ns_entry = seq->ns_entry;
	int rc;

	if (usk_nvme_cpl_is_error(cpl)) {
		fprintf(stderr, "I/O error status: %s\n",
			usk_nvme_cpl_get_status_string(&cpl->status));
		fprintf(stderr, "Write I/O failed, aborting run\n");
		seq->is_completed = -1;
		return;
	}
	/* Read into a fresh, zeroed buffer so the data printed comes from the device. */
	memset(seq->buf, 0, seq->buf_len);
	rc = usk_nvme_ns_cmd_read(ns_entry->ns, ns_entry->qpair, seq->buf, 0,
				  seq->buf_len / usk_nvme_ns_get_sector_size(ns_entry->ns),
				  read_complete, seq, 0);
	if (rc != 0) {
		fprintf(stderr, "starting read I/O failed: %s\n", strerror(-rc));
		seq->is_completed = -1;
	}
}

static unsigned g_wakeups, g_spurious;

/* Sleep until the qpair's interrupt fd fires (at most 5 s: a lost interrupt is an error). */
static int
wait_for_interrupt(struct usk_nvme_qpair *qpair)
{
	struct pollfd pfd = {.fd = usk_nvme_qpair_get_fd(qpair), .events = POLLIN};
	int n;

	if (pfd.fd < 0) {
		fprintf(stderr, "ERROR: --interrupts: the qpair has no interrupt fd (%s)\n",
			strerror(-pfd.fd));
		return -1;
	}
	n = poll(&pfd, 1, 5000);
	if (n <= 0) {
		fprintf(stderr, "ERROR: no interrupt within 5 s%s\n",
			n < 0 ? " (poll failed)" : "");
		return -1;
	}
	g_wakeups++;
	if (usk_nvme_qpair_get_num_outstanding(qpair) == 0) {
		g_spurious++;
	}
	return 0;
}

static int
hello_world(void)
{
	struct hello_seq seq;
	struct ns_entry *ns_entry;
	uint32_t sector;
	int i, rc, failures = 0;

	for (i = 0; i < g_num_ns; i++) {
		ns_entry = &g_ns[i];
		ns_entry->qpair = usk_nvme_ctrlr_alloc_io_qpair(ns_entry->ctrlr, NULL, 0);
		if (ns_entry->qpair == NULL) {
			fprintf(stderr, "ERROR: usk_nvme_ctrlr_alloc_io_qpair() failed\n");
			failures++;
			continue;
		}
		sector = usk_nvme_ns_get_sector_size(ns_entry->ns);
		memset(&seq, 0, sizeof(seq));
		seq.ns_entry = ns_entry;
		/* One sector, at least a page: the DMA buffer the device reads and writes. */
		seq.buf_len = USK_MAX(sector, 4096u);
		seq.buf = usk_dma_zmalloc(seq.buf_len, 4096, NULL);
		if (seq.buf == NULL) {
			fprintf(stderr, "ERROR: write buffer allocation failed\n");
			usk_nvme_ctrlr_free_io_qpair(ns_entry->qpair);
			failures++;
			continue;
		}
		printf("INFO: using host memory buffer for IO\n");
		snprintf(seq.buf, seq.buf_len, "%s", HELLO);
		rc = usk_nvme_ns_cmd_write(ns_entry->ns, ns_entry->qpair, seq.buf, 0,
					   seq.buf_len / sector, write_complete, &seq, 0);
		if (rc != 0) {
			fprintf(stderr, "starting write I/O failed: %s\n", strerror(-rc));
			seq.is_completed = -1;
		}
		/* Poll until the read completes (the callbacks advance the sequence). */
		while (seq.is_completed == 0) {
			if (g_interrupts && wait_for_interrupt(ns_entry->qpair) != 0) {
				seq.is_completed = -1;
				break;
			}
			if (usk_nvme_qpair_process_completions(ns_entry->qpair, 0) < 0) {
				fprintf(stderr, "the qpair failed\n");
				seq.is_completed = -1;
			}
		}
		if (g_interrupts) {
			printf("INFO: interrupt mode: %u wakeups, %u polls that found nothing\n",
			       g_wakeups, g_spurious);
		}
		if (seq.is_completed < 0) {
			failures++;
		}
		usk_nvme_ctrlr_free_io_qpair(ns_entry->qpair);
		usk_dma_free(seq.buf);
	}
	return failures;
}

static void
usage(const char *prog)
{
	printf("usage: %s [options]\n", prog);
	printf("  -r, --transport <trid>  controller to use, e.g. 'trtype:PCIe traddr:0000:00:04.0'\n");
	printf("                          or 'trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420\n");
	printf("                          subnqn:nqn.2016-06.io.usk:cnode1' (default: every local\n");
	printf("                          NVMe device bound by scripts/setup.sh)\n");
	printf("  -A, --pci-allowed <bdf> use only these PCI devices (repeatable)\n");
	printf("  -B, --pci-blocked <bdf> never use these PCI devices (repeatable)\n");
	printf("  -L, --logflag <flag>    enable a debug log flag (nvme, pci, env, ...)\n");
	printf("      --no-huge           do not use hugepages (vfio-pci and TCP work without)\n");
	printf("      --interrupts        sleep on the qpair's interrupt fd instead of busy polling\n");
	printf("                          (PCIe under vfio-pci: MSI-X; TCP: the socket)\n");
	printf("  -h, --help\n");
}

/* Append arg to a comma-separated list in *list (freed by the caller). */
static int
list_append(char **list, const char *arg)
{
	char *n = *list ? usk_sprintf_alloc("%s,%s", *list, arg) : strdup(arg);

	if (n == NULL) {
		return -ENOMEM;
	}
	free(*list);
	*list = n;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"transport", required_argument, NULL, 'r'},
		{"pci-allowed", required_argument, NULL, 'A'},
		{"pci-blocked", required_argument, NULL, 'B'},
		{"logflag", required_argument, NULL, 'L'},
		{"no-huge", no_argument, NULL, 'H'},
		{"interrupts", no_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct usk_nvme_trid_extra extra = {.nsid = 0};
	struct usk_env_opts env_opts;
	char err[256], *allowed = NULL, *blocked = NULL;
	bool have_trid = false;
	int ch, i, rc = 1;

	usk_env_opts_init(&env_opts, sizeof(env_opts));
	env_opts.name = "hello_world";
	usk_nvme_trid_populate_transport(&g_trid, USK_NVME_TRANSPORT_PCIE);
	while ((ch = getopt_long(argc, argv, "r:A:B:L:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			if (usk_nvme_transport_id_parse(&g_trid, &extra, optarg, err,
							sizeof(err)) != 0) {
				fprintf(stderr, "-r '%s': %s\n", optarg, err);
				return 1;
			}
			g_nsid = extra.nsid;
			have_trid = true;
			break;
		case 'A':
			if (list_append(&allowed, optarg) != 0) {
				return 1;
			}
			break;
		case 'B':
			if (list_append(&blocked, optarg) != 0) {
				return 1;
			}
			break;
		case 'L':
			if (usk_log_enable_debug(optarg) != 0) {
				fprintf(stderr, "unknown log flag '%s'\n", optarg);
				return 1;
			}
			break;
		case 'H':
			env_opts.no_huge = true;
			break;
		case 'I':
			g_interrupts = true;
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 1;
		}
	}
	if (usk_pci_set_allowed(allowed) != 0 || usk_pci_set_blocked(blocked) != 0) {
		goto out;
	}
	if (usk_env_init(&env_opts) != 0) {
		fprintf(stderr, "Unable to initialize the environment\n");
		goto out;
	}
	printf("Initializing NVMe Controllers\n");
	if (usk_nvme_probe(have_trid ? &g_trid : NULL, NULL, probe_cb, attach_cb, NULL) != 0) {
		fprintf(stderr, "usk_nvme_probe() failed\n");
		goto detach;
	}
	if (g_num_ctrlrs == 0) {
		fprintf(stderr, "no NVMe controllers found\n");
		goto detach;
	}
	if (g_num_ns == 0) {
		fprintf(stderr, "no active namespaces found\n");
		goto detach;
	}
	printf("Initialization complete.\n");
	rc = hello_world() == 0 ? 0 : 1;

detach:
	for (i = 0; i < g_num_ctrlrs; i++) {
		usk_nvme_detach(g_ctrlrs[i].ctrlr);
	}
	usk_env_fini();
out:
	free(allowed);
	free(blocked);
	return rc;
}
