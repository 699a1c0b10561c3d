/* SPDX-License-Identifier: BSD-3-Clause */
/* usk_identify: attach to NVMe controllers (PCIe or TCP) and print their Identify data. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usk/env.h"
#include "usk/log.h"
#include "usk/nvme.h"
#include "usk/util.h"

static struct usk_nvme_transport_id g_trid;
static struct usk_nvme_trid_extra g_extra;
static bool g_have_trid;
static int g_num_ctrlrs;
static int g_failed;

static void
usage(const char *prog)
{
	printf("usage: %s [options]\n", prog);
	printf("  -r, --transport <fmt>  transport ID of the controller, e.g.\n");
	printf("                         'trtype:PCIe traddr:0000:04:00.0' or\n");
	printf("                         'trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 "
	       "subnqn:nqn.2016-06.io.spdk:cnode1'\n");
	printf("                         (default: every PCIe NVMe device)\n");
	printf("  -L, --logflag <flag>   enable a debug log flag (nvme)\n");
	printf("  -H, --hdgst / -D, --ddgst  NVMe/TCP header / data digest\n");
	printf("  --no-huge              do not use hugepages\n");
	printf("  -h, --help             this help\n");
}

static void
print_str(const char *label, const void *s, size_t len)
{
	printf("%-39s%.*s\n", label, (int)usk_strlen_pad(s, len, ' '), (const char *)s);
}

static const char *
yes_no(bool b)
{
	return b ? "Supported" : "Not Supported";
}

static void
print_ns(struct usk_nvme_ns *ns)
{
	const struct usk_nvme_ns_data *d = usk_nvme_ns_get_data(ns);
	const uint8_t *uuid = usk_nvme_ns_get_uuid(ns);
	const uint8_t *nguid = usk_nvme_ns_get_nguid(ns);
	uint64_t ss = usk_nvme_ns_get_sector_size(ns);

	printf("Namespace ID:%u\n", usk_nvme_ns_get_id(ns));
	printf("Deallocate:                            %s\n", yes_no(usk_nvme_ns_supports_dsm(ns)));
	printf("Size (in LBAs):                        %" PRIu64 " (%" PRIu64 "GiB)\n",
	       (uint64_t)d->nsze, d->nsze * ss / (uint64_t)(1024 * 1024 * 1024));
	printf("Capacity (in LBAs):                    %" PRIu64 " (%" PRIu64 "GiB)\n",
	       (uint64_t)d->ncap, d->ncap * ss / (uint64_t)(1024 * 1024 * 1024));
	printf("Utilization (in LBAs):                 %" PRIu64 " (%" PRIu64 "GiB)\n",
	       (uint64_t)d->nuse, d->nuse * ss / (uint64_t)(1024 * 1024 * 1024));
	if (nguid != NULL) {
		printf("NGUID:                                 ");
		for (int i = 0; i < 16; i++) {
			printf("%02X", nguid[i]);
		}
		printf("\n");
	}
	if (uuid != NULL) {
		printf("UUID:                                  ");
		for (int i = 0; i < 16; i++) {
			printf("%02x%s", uuid[i],
			       (i == 3 || i == 5 || i == 7 || i == 9) ? "-" : "");
		}
		printf("\n");
	}
	printf("Thin Provisioning:                     %s\n",
	       yes_no(d->nsfeat & USK_NVME_NSFEAT_THIN_PROV));
	printf("Optimal I/O Boundary:                  %u blocks\n", d->noiob);
	printf("Number of LBA Formats:                 %u\n", d->nlbaf + 1u);
	printf("Current LBA Format:                    LBA Format #%02u\n", d->flbas & 0xfu);
	for (uint32_t i = 0; i <= d->nlbaf && i < 64; i++) {
		printf("LBA Format #%02u: Data Size: %5u  Metadata Size: %5u\n", i,
		       1u << d->lbaf[i].lbads, d->lbaf[i].ms);
	}
	printf("\n");
}

static void
print_ctrlr(struct usk_nvme_ctrlr *ctrlr, const struct usk_nvme_transport_id *trid)
{
	const struct usk_nvme_ctrlr_data *c = usk_nvme_ctrlr_get_data(ctrlr);
	union usk_nvme_cap_register cap = usk_nvme_ctrlr_get_regs_cap(ctrlr);
	union usk_nvme_vs_register vs = usk_nvme_ctrlr_get_regs_vs(ctrlr);
	uint32_t nsid;

	printf("=====================================================\n");
	if (trid->trtype == USK_NVME_TRANSPORT_PCIE) {
		printf("NVMe Controller at %s [%04x:%04x]\n", trid->traddr, c->vid, c->ssvid);
	} else {
		printf("NVMe over Fabrics controller at %s:%s: %s\n", trid->traddr, trid->trsvcid,
		       trid->subnqn);
	}
	printf("=====================================================\n");
	printf("Controller Capabilities/Features\n");
	printf("================================\n");
	printf("Vendor ID:                             %04x\n", c->vid);
	printf("Subsystem Vendor ID:                   %04x\n", c->ssvid);
	print_str("Serial Number:", c->sn, sizeof(c->sn));
	print_str("Model Number:", c->mn, sizeof(c->mn));
	print_str("Firmware Version:", c->fr, sizeof(c->fr));
	printf("Recommended Arb Burst:                 %u\n", c->rab);
	printf("IEEE OUI Identifier:                   %02x %02x %02x\n", c->ieee[0], c->ieee[1],
	       c->ieee[2]);
	printf("Multi-path I/O\n");
	printf("  May have multiple subsystem ports:   %s\n",
	       (c->cmic & USK_NVME_CMIC_MULTI_PORT) ? "Yes" : "No");
	printf("  May have multiple controllers:       %s\n",
	       (c->cmic & USK_NVME_CMIC_MULTI_CTRLR) ? "Yes" : "No");
	printf("Controller ID:                         0x%04x\n", c->cntlid);
	if (c->mdts == 0) {
		printf("Max Data Transfer Size:                Unlimited\n");
	} else {
		printf("Max Data Transfer Size:                %" PRIu64 "\n",
		       (uint64_t)(1u << (12 + cap.bits.mpsmin)) << c->mdts);
	}
	printf("Max Data Transfer Size (driver):       %u\n",
	       usk_nvme_ctrlr_get_max_xfer_size(ctrlr));
	printf("Max Number of Namespaces:              %u\n", c->nn);
	printf("Max Number of I/O Queues:              %u\n",
	       usk_nvme_ctrlr_get_num_io_queues(ctrlr));
	printf("NVMe Specification Version (VS):       %u.%u", vs.bits.mjr, vs.bits.mnr);
	if (vs.bits.ter) {
		printf(".%u", vs.bits.ter);
	}
	printf("\n");
	if (c->ver != 0) {
		printf("NVMe Specification Version (Identify): %u.%u\n", c->ver >> 16,
		       (c->ver >> 8) & 0xff);
	}
	printf("Maximum Queue Entries:                 %u\n", cap.bits.mqes + 1u);
	printf("Contiguous Queues Required:            %s\n", cap.bits.cqr ? "Yes" : "No");
	printf("Doorbell Stride:                       %" PRIu64 " bytes\n",
	       (uint64_t)4 << cap.bits.dstrd);
	printf("Reset Timeout:                         %u ms\n", cap.bits.to * 500u);
	printf("Memory Page Size Minimum:              %u bytes\n", 1u << (12 + cap.bits.mpsmin));
	printf("Memory Page Size Maximum:              %u bytes\n", 1u << (12 + cap.bits.mpsmax));
	printf("Keep Alive:                            %s\n",
	       yes_no(c->kas != 0 || trid->trtype != USK_NVME_TRANSPORT_PCIE));
	printf("Keep Alive Granularity:                %u ms\n", c->kas * 100u);
	printf("\nAdmin Command Set Attributes\n");
	printf("============================\n");
	printf("Security Send/Receive:                 %s\n",
	       yes_no(c->oacs & USK_NVME_OACS_SECURITY));
	printf("Format NVM:                            %s\n",
	       yes_no(c->oacs & USK_NVME_OACS_FORMAT));
	printf("Firmware Activate/Download:            %s\n",
	       yes_no(c->oacs & USK_NVME_OACS_FIRMWARE));
	printf("Namespace Management:                  %s\n",
	       yes_no(c->oacs & USK_NVME_OACS_NS_MANAGE));
	printf("Doorbell Buffer Config:                %s\n",
	       yes_no(c->oacs & USK_NVME_OACS_DB_BUF_CONFIG));
	printf("Abort Command Limit:                   %u\n", c->acl + 1u);
	printf("Async Event Request Limit:             %u\n", c->aerl + 1u);
	printf("\nNVM Command Set Attributes\n");
	printf("==========================\n");
	printf("Submission Queue Entry Size\n  Max:                       %u\n  Min:                       %u\n",
	       1u << (c->sqes >> 4), 1u << (c->sqes & 0xf));
	printf("Completion Queue Entry Size\n  Max:                       %u\n  Min:                       %u\n",
	       1u << (c->cqes >> 4), 1u << (c->cqes & 0xf));
	printf("Number of Namespaces:                  %u\n", c->nn);
	printf("Compare Command:                       %s\n",
	       yes_no(c->oncs & USK_NVME_ONCS_COMPARE));
	printf("Write Uncorrectable Command:           %s\n",
	       yes_no(c->oncs & USK_NVME_ONCS_WRITE_UNC));
	printf("Dataset Management Command:            %s\n", yes_no(c->oncs & USK_NVME_ONCS_DSM));
	printf("Write Zeroes Command:                  %s\n",
	       yes_no(c->oncs & USK_NVME_ONCS_WRITE_ZEROES));
	printf("Reservation:                           %s\n",
	       yes_no(c->oncs & USK_NVME_ONCS_RESERVATIONS));
	printf("Volatile Write Cache:                  %s\n",
	       (c->vwc & USK_NVME_VWC_PRESENT) ? "Present" : "Not Present");
	printf("SGL Supported:                         %s\n", (c->sgls & 3) ? "Yes" : "No");
	if (c->subnqn[0] != '\0') {
		printf("NVM Subsystem NQN:                     %.*s\n",
		       (int)strnlen((const char *)c->subnqn, sizeof(c->subnqn)),
		       (const char *)c->subnqn);
	}
	if (trid->trtype != USK_NVME_TRANSPORT_PCIE) {
		printf("\nNVMe over Fabrics Attributes\n");
		printf("============================\n");
		printf("I/O Queue Command Capsule Size:        %u bytes\n",
		       c->nvmf_specific.ioccsz * 16);
		printf("I/O Queue Response Capsule Size:       %u bytes\n",
		       c->nvmf_specific.iorcsz * 16);
		printf("In Capsule Data Offset:                %u bytes\n",
		       c->nvmf_specific.icdoff * 16);
		printf("Max SGL Data Block Descriptors:        %u\n", c->nvmf_specific.msdbd);
	}
	printf("\nActive Namespaces\n");
	printf("=================\n");
	for (nsid = usk_nvme_ctrlr_get_first_active_ns(ctrlr); nsid != 0;
	     nsid = usk_nvme_ctrlr_get_next_active_ns(ctrlr, nsid)) {
		if (g_extra.nsid != 0 && nsid != g_extra.nsid) {
			continue;
		}
		print_ns(usk_nvme_ctrlr_get_ns(ctrlr, nsid));
	}
}

static bool
probe_cb(void *ctx, const struct usk_nvme_transport_id *trid, struct usk_nvme_ctrlr_opts *opts)
{
	const struct usk_nvme_ctrlr_opts *want = ctx;

	opts->header_digest = want->header_digest;
	opts->data_digest = want->data_digest;
	opts->keep_alive_timeout_ms = want->keep_alive_timeout_ms;
	if (want->hostnqn[0] != '\0') {
		snprintf(opts->hostnqn, sizeof(opts->hostnqn), "%s", want->hostnqn);
	}
	return true;
}

static void
attach_cb(void *ctx, const struct usk_nvme_transport_id *trid, struct usk_nvme_ctrlr *ctrlr,
	  const struct usk_nvme_ctrlr_opts *opts)
{
	g_num_ctrlrs++;
	print_ctrlr(ctrlr, trid);
	if (usk_nvme_detach(ctrlr) != 0) {
		g_failed = 1;
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"transport", required_argument, NULL, 'r'},
		{"logflag", required_argument, NULL, 'L'},
		{"hdgst", no_argument, NULL, 'H'},
		{"ddgst", no_argument, NULL, 'D'},
		{"no-huge", no_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct usk_nvme_ctrlr_opts want;
	struct usk_env_opts eopts;
	char err[160];
	int ch, rc;

	usk_nvme_ctrlr_get_default_ctrlr_opts(&want, sizeof(want));
	want.hostnqn[0] = '\0';
	usk_env_opts_init(&eopts, sizeof(eopts));
	eopts.name = "identify";
	while ((ch = getopt_long(argc, argv, "r:L:HDh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			memset(&g_trid, 0, sizeof(g_trid));
			if (usk_nvme_transport_id_parse(&g_trid, &g_extra, optarg, err,
							sizeof(err)) != 0) {
				fprintf(stderr, "invalid transport ID '%s': %s\n", optarg, err);
				return 1;
			}
			g_have_trid = true;
			break;
		case 'L':
			if (usk_log_enable_debug(optarg) != 0) {
				fprintf(stderr, "unknown log flag '%s'\n", optarg);
				return 1;
			}
			break;
		case 'H':
			want.header_digest = true;
			break;
		case 'D':
			want.data_digest = true;
			break;
		case 'N':
			eopts.no_huge = true;
			break;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 1;
		}
	}
	if (g_extra.hostnqn[0] != '\0') {
		snprintf(want.hostnqn, sizeof(want.hostnqn), "%s", g_extra.hostnqn);
	}
	rc = usk_env_init(&eopts);
	if (rc != 0) {
		fprintf(stderr, "usk_env_init failed: %s\n", strerror(-rc));
		return 1;
	}
	if (!g_have_trid) {
		usk_nvme_trid_populate_transport(&g_trid, USK_NVME_TRANSPORT_PCIE);
	}
	rc = usk_nvme_probe(&g_trid, &want, probe_cb, attach_cb, NULL);
	if (rc != 0) {
		fprintf(stderr, "usk_nvme_probe failed: %s\n", strerror(-rc));
		return 1;
	}
	if (g_num_ctrlrs == 0) {
		fprintf(stderr, "no NVMe controller found\n");
		return 1;
	}
	return g_failed;
}
