/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe/TCP host-side load generator (one core, one connection): ICReq, Fabrics Connect of the
 * admin and one I/O queue, CC.EN, then random reads or writes at a fixed queue depth, pipelined
 * on one socket. Prints IOPS, MiB/s and mean latency. Used by bench/nvmf/run_nvmf_bench.sh.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "usk/nvme_tcp.h"

#define HOSTNQN	  "nqn.2014-08.org.nvmexpress:uuid:5e2f6a52-0d4b-4c1e-9c39-4b7e6c1d7a02"
#define RBUF_SIZE (1u << 20)
#define MAX_QD	  1024

struct slot {
	uint64_t start_ns;
	bool busy;
};

static int g_fd = -1;
static int g_epfd = -1;
static uint8_t *g_rbuf;
static uint32_t g_rlen, g_roff;
static uint8_t *g_wdata;
static uint32_t g_maxh2c = 131072;
static struct slot g_slots[MAX_QD];
static uint16_t g_free_cids[MAX_QD];
static uint32_t g_nfree;
static bool g_busy_poll;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
die(const char *msg)
{
	fprintf(stderr, "nvmf_tcp_load: %s (%s)\n", msg, strerror(errno));
	exit(1);
}

static void
send_all(const struct iovec *iov, int cnt)
{
	struct iovec v[64];
	struct msghdr msg = {0};
	ssize_t n;
	int i = 0;

	memcpy(v, iov, sizeof(*iov) * (size_t)cnt);
	while (i < cnt) {
		msg.msg_iov = &v[i];
		msg.msg_iovlen = (size_t)(cnt - i);
		n = sendmsg(g_fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			die("send");
		}
		while (i < cnt && (size_t)n >= v[i].iov_len) {
			n -= (ssize_t)v[i].iov_len;
			i++;
		}
		if (i < cnt) {
			v[i].iov_base = (uint8_t *)v[i].iov_base + n;
			v[i].iov_len -= (size_t)n;
		}
	}
}

/* Make at least need bytes available at g_rbuf + g_roff. */
static void
fill(uint32_t need)
{
	ssize_t n;

	if (g_rlen - g_roff >= need) {
		return;
	}
	memmove(g_rbuf, g_rbuf + g_roff, g_rlen - g_roff);
	g_rlen -= g_roff;
	g_roff = 0;
	while (g_rlen < need) {
		if (g_busy_poll && g_epfd >= 0) {
			/* -B: busy-poll like a polled-mode initiator (no wakeup per batch; needs an
			 * idle core). Readiness comes from epoll (lockless tcp_poll); spinning on
			 * recv itself would take the socket lock every turn and fight the sender
			 * for it. */
			struct epoll_event ev;

			if (epoll_wait(g_epfd, &ev, 1, 0) <= 0) {
				continue;
			}
		}
		n = recv(g_fd, g_rbuf + g_rlen, RBUF_SIZE - g_rlen, g_busy_poll ? MSG_DONTWAIT : 0);
		if (n <= 0) {
			if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
				continue;
			}
			errno = n == 0 ? ECONNRESET : errno;
			die("recv");
		}
		g_rlen += (uint32_t)n;
	}
}

/* Next whole PDU (or for C2HData: header only, the data is skipped in place). */
static const union usk_nvme_tcp_pdu_hdr *
next_pdu(uint32_t *plen)
{
	const struct usk_nvme_tcp_common_pdu_hdr *ch;

	fill(sizeof(*ch));
	ch = (const void *)(g_rbuf + g_roff);
	if (ch->plen > RBUF_SIZE || ch->plen < sizeof(*ch)) {
		errno = EPROTO;
		die("bad PDU from target");
	}
	fill(ch->plen);
	ch = (const void *)(g_rbuf + g_roff);
	*plen = ch->plen;
	return (const void *)ch;
}

static void
send_capsule(const struct usk_nvme_cmd *cmd, const void *data, uint32_t len)
{
	struct usk_nvme_tcp_cmd pdu = {0};
	struct iovec iov[2];

	pdu.common.pdu_type = USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD;
	pdu.common.hlen = sizeof(pdu);
	pdu.common.pdo = len ? sizeof(pdu) : 0;
	pdu.common.plen = sizeof(pdu) + len;
	pdu.ccsqe = *cmd;
	iov[0].iov_base = &pdu;
	iov[0].iov_len = sizeof(pdu);
	iov[1].iov_base = (void *)data;
	iov[1].iov_len = len;
	send_all(iov, len ? 2 : 1);
}

static void
send_h2c(uint16_t cid, uint16_t ttag, uint32_t off, uint32_t len)
{
	struct usk_nvme_tcp_h2c_data_hdr h;
	struct iovec iov[2];
	uint32_t done = 0, n;

	while (done < len) {
		n = len - done < g_maxh2c ? len - done : g_maxh2c;
		memset(&h, 0, sizeof(h));
		h.common.pdu_type = USK_NVME_TCP_PDU_TYPE_H2C_DATA;
		h.common.hlen = sizeof(h);
		h.common.pdo = sizeof(h);
		h.common.plen = sizeof(h) + n;
		h.common.flags = done + n == len ? USK_NVME_TCP_H2C_DATA_FLAGS_LAST_PDU : 0;
		h.cccid = cid;
		h.ttag = ttag;
		h.datao = off + done;
		h.datal = n;
		iov[0].iov_base = &h;
		iov[0].iov_len = sizeof(h);
		iov[1].iov_base = g_wdata + off + done;
		iov[1].iov_len = n;
		send_all(iov, 2);
		done += n;
	}
}

/* Synchronous admin/fabrics command: returns the CQE. */
static struct usk_nvme_cpl
sync_cmd(struct usk_nvme_cmd *cmd, const void *data, uint32_t len)
{
	const union usk_nvme_tcp_pdu_hdr *p;
	struct usk_nvme_cpl cpl;
	uint32_t plen;

	send_capsule(cmd, data, len);
	for (;;) {
		p = next_pdu(&plen);
		g_roff += plen;
		if (p->common.pdu_type == USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP) {
			cpl = p->capsule_resp.rccqe;
			return cpl;
		}
		if (p->common.pdu_type == USK_NVME_TCP_PDU_TYPE_C2H_TERM_REQ) {
			errno = EPROTO;
			die("target sent C2HTermReq");
		}
		if (p->common.pdu_type == USK_NVME_TCP_PDU_TYPE_C2H_DATA &&
		    (p->common.flags & USK_NVME_TCP_C2H_DATA_FLAGS_SUCCESS)) {
			memset(&cpl, 0, sizeof(cpl));
			return cpl;
		}
	}
}

static void
fabric_connect(const char *nqn, uint16_t qid, uint16_t sqsize, uint16_t *cntlid)
{
	struct usk_nvme_cmd cmd = {0};
	uint8_t data[1024] = {0};
	uint8_t *c = (uint8_t *)&cmd;
	struct usk_nvme_cpl cpl;

	c[0] = 0x7f;
	c[4] = 0x01; /* fctype Connect */
	cmd.dptr.sgl1.unkeyed.length = sizeof(data);
	cmd.dptr.sgl1.unkeyed.type = USK_NVME_SGL_TYPE_DATA_BLOCK;
	cmd.dptr.sgl1.unkeyed.subtype = USK_NVME_SGL_SUBTYPE_OFFSET;
	cmd.cdw10 = (uint32_t)qid << 16;
	cmd.cdw11 = (uint32_t)(sqsize - 1);
	cmd.cdw12 = qid == 0 ? 30000 : 0;
	memset(data, 0x5a, 16);
	memcpy(data + 16, cntlid, 2);
	snprintf((char *)data + 256, 256, "%s", nqn);
	snprintf((char *)data + 512, 256, "%s", HOSTNQN);
	cpl = sync_cmd(&cmd, data, sizeof(data));
	if (cpl.status_raw >> 1) {
		errno = EACCES;
		die("Fabrics Connect failed");
	}
	*cntlid = (uint16_t)cpl.cdw0;
}

static void
prop_set(uint32_t off, uint64_t val)
{
	struct usk_nvme_cmd cmd = {0};
	uint8_t *c = (uint8_t *)&cmd;

	c[0] = 0x7f;
	c[4] = 0x00;
	cmd.cdw11 = off;
	cmd.cdw12 = (uint32_t)val;
	cmd.cdw13 = (uint32_t)(val >> 32);
	if (sync_cmd(&cmd, NULL, 0).status_raw >> 1) {
		errno = EIO;
		die("Property Set failed");
	}
}

static uint64_t
prop_get(uint32_t off)
{
	struct usk_nvme_cmd cmd = {0};
	uint8_t *c = (uint8_t *)&cmd;
	struct usk_nvme_cpl cpl;

	c[0] = 0x7f;
	c[4] = 0x04;
	cmd.cdw11 = off;
	cpl = sync_cmd(&cmd, NULL, 0);
	return cpl.cdw0;
}

static int
connect_to(const char *addr, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct usk_nvme_tcp_ic_req ic = {0};
	const union usk_nvme_tcp_pdu_hdr *p;
	uint32_t plen;
	int one = 1;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		errno = EINVAL;
		die("bad address");
	}
	g_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (g_fd < 0 || connect(g_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		die("connect");
	}
	setsockopt(g_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	g_rlen = g_roff = 0;
	ic.common.pdu_type = USK_NVME_TCP_PDU_TYPE_IC_REQ;
	ic.common.hlen = sizeof(ic);
	ic.common.plen = sizeof(ic);
	ic.maxr2t = 0;
	send_all(&(struct iovec){&ic, sizeof(ic)}, 1);
	p = next_pdu(&plen);
	if (p->common.pdu_type != USK_NVME_TCP_PDU_TYPE_IC_RESP) {
		errno = EPROTO;
		die("no ICResp");
	}
	g_maxh2c = p->ic_resp.maxh2cdata;
	g_roff += plen;
	return g_fd;
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: nvmf_tcp_load -p PORT -n NQN [-a 127.0.0.1] [-q QD] [-s IO_SIZE]"
		" [-t SECONDS] [-w read|write] [-c CORE] [-N NUM_BLOCKS] [-B (busy-poll)]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *nqn = NULL, *rw = "read";
	int port = 0, qd = 32, secs = 5, core = -1, op;
	uint32_t io_size = 4096, bs = 512, i;
	uint64_t nblocks = 0, ios = 0, lat_sum = 0, start, end, rnd = 88172645463325252ull;
	double cpu0_us;
	uint16_t cntlid = 0xffff, admin_cntlid;
	int admin_fd, fd;
	bool is_write;

	while ((op = getopt(argc, argv, "a:p:n:q:s:t:w:c:N:B")) != -1) {
		switch (op) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'n':
			nqn = optarg;
			break;
		case 'q':
			qd = atoi(optarg);
			break;
		case 's':
			io_size = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 't':
			secs = atoi(optarg);
			break;
		case 'w':
			rw = optarg;
			break;
		case 'c':
			core = atoi(optarg);
			break;
		case 'N':
			nblocks = strtoull(optarg, NULL, 0);
			break;
		case 'B':
			g_busy_poll = true;
			break;
		default:
			usage();
		}
	}
	if (port <= 0 || nqn == NULL || qd <= 0 || qd >= MAX_QD || io_size == 0) {
		usage();
	}
	is_write = strcmp(rw, "write") == 0;
	if (core >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(core, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	g_rbuf = malloc(RBUF_SIZE);
	g_wdata = malloc(io_size);
	if (g_rbuf == NULL || g_wdata == NULL) {
		die("malloc");
	}
	memset(g_wdata, 0xab, io_size);

	/* admin queue: Connect, enable, then an I/O queue on a second connection */
	admin_fd = connect_to(addr, port);
	fabric_connect(nqn, 0, 32, &cntlid);
	admin_cntlid = cntlid;
	prop_set(0x14, 1 | (6u << 16) | (4u << 20));
	for (i = 0; i < 1000 && !(prop_get(0x1c) & 1); i++) {
		usleep(1000);
	}
	if (nblocks == 0) {
		/* Identify Namespace 1 for its size */
		struct usk_nvme_cmd cmd = {0};
		const union usk_nvme_tcp_pdu_hdr *p;
		uint32_t plen;

		cmd.opc = 0x06;
		cmd.nsid = 1;
		cmd.cdw10 = 0;
		cmd.dptr.sgl1.unkeyed.length = 4096;
		cmd.dptr.sgl1.unkeyed.type = USK_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
		cmd.dptr.sgl1.unkeyed.subtype = USK_NVME_SGL_SUBTYPE_TRANSPORT;
		send_capsule(&cmd, NULL, 0);
		for (;;) {
			p = next_pdu(&plen);
			if (p->common.pdu_type == USK_NVME_TCP_PDU_TYPE_C2H_DATA) {
				const uint8_t *d = (const uint8_t *)p + p->common.pdo;
				uint8_t flbas = d[26] & 0xf;

				memcpy(&nblocks, d, 8);
				bs = 1u << d[128 + 4 * flbas + 2];
				g_roff += plen;
				if (p->common.flags & USK_NVME_TCP_C2H_DATA_FLAGS_SUCCESS) {
					break;
				}
				continue;
			}
			g_roff += plen;
			if (p->common.pdu_type == USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP) {
				break;
			}
		}
	}
	if (nblocks == 0 || io_size % bs != 0) {
		fprintf(stderr, "nvmf_tcp_load: namespace has %lu blocks of %u bytes; io size %u\n",
			(unsigned long)nblocks, bs, io_size);
		return 1;
	}
	fd = connect_to(addr, port);
	if (g_busy_poll) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

		g_epfd = epoll_create1(0);
		if (g_epfd < 0 || epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			die("epoll");
		}
	}
	/* SQSIZE is 0-based and at least 1: a QD 1 run still asks for two slots */
	fabric_connect(nqn, 1, (uint16_t)(qd < 2 ? 2 : qd), &cntlid);
	if (cntlid != admin_cntlid) {
		fprintf(stderr, "nvmf_tcp_load: I/O queue joined controller %u, expected %u\n",
			cntlid, admin_cntlid);
	}

	for (i = 0; i < (uint32_t)qd; i++) {
		g_free_cids[g_nfree++] = (uint16_t)i;
	}
	{
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		cpu0_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
			  (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	}
	start = now_ns();
	end = start + (uint64_t)secs * 1000000000ull;
	for (;;) {
		uint64_t t = now_ns();
		bool stop = t >= end;
		uint32_t plen;
		const union usk_nvme_tcp_pdu_hdr *p;
		static struct usk_nvme_tcp_cmd batch[MAX_QD];
		struct iovec iov[64];
		uint32_t nb = 0;
		int n = 0;

		/* refill the queue: one sendmsg for all new commands */
		while (!stop && g_nfree > 0) {
			uint16_t cid = g_free_cids[--g_nfree];
			struct usk_nvme_tcp_cmd *c = &batch[nb++];
			uint64_t lba;
			bool icd = is_write && io_size <= 4096;

			rnd ^= rnd << 13;
			rnd ^= rnd >> 7;
			rnd ^= rnd << 17;
			lba = (rnd % (nblocks / (io_size / bs))) * (io_size / bs);
			memset(c, 0, sizeof(*c));
			c->common.pdu_type = USK_NVME_TCP_PDU_TYPE_CAPSULE_CMD;
			c->common.hlen = sizeof(*c);
			c->common.pdo = icd ? sizeof(*c) : 0;
			c->common.plen = sizeof(*c) + (icd ? io_size : 0);
			c->ccsqe.opc = is_write ? 0x01 : 0x02;
			c->ccsqe.cid = cid;
			c->ccsqe.nsid = 1;
			c->ccsqe.cdw10 = (uint32_t)lba;
			c->ccsqe.cdw11 = (uint32_t)(lba >> 32);
			c->ccsqe.cdw12 = io_size / bs - 1;
			c->ccsqe.dptr.sgl1.unkeyed.length = io_size;
			if (icd) {
				c->ccsqe.dptr.sgl1.unkeyed.type = USK_NVME_SGL_TYPE_DATA_BLOCK;
				c->ccsqe.dptr.sgl1.unkeyed.subtype = USK_NVME_SGL_SUBTYPE_OFFSET;
			} else {
				c->ccsqe.dptr.sgl1.unkeyed.type =
					USK_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
				c->ccsqe.dptr.sgl1.unkeyed.subtype = USK_NVME_SGL_SUBTYPE_TRANSPORT;
			}
			g_slots[cid].start_ns = t;
			g_slots[cid].busy = true;
			if (n > 0 && !icd &&
			    (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == (uint8_t *)c) {
				/* capsules built back to back go out as one iovec */
				iov[n - 1].iov_len += sizeof(*c);
			} else {
				iov[n].iov_base = c;
				iov[n++].iov_len = sizeof(*c);
			}
			if (icd) {
				iov[n].iov_base = g_wdata;
				iov[n++].iov_len = io_size;
			}
			if (n >= 62) {
				send_all(iov, n);
				n = 0;
			}
		}
		if (n > 0) {
			send_all(iov, n);
		}
		if (g_nfree == (uint32_t)qd) {
			break;
		}
		/* reap everything that has arrived (at least one PDU) */
		do {
			uint16_t cid = 0xffff;

			p = next_pdu(&plen);
			switch (p->common.pdu_type) {
			case USK_NVME_TCP_PDU_TYPE_C2H_DATA:
				if (p->common.flags & USK_NVME_TCP_C2H_DATA_FLAGS_SUCCESS) {
					cid = p->c2h_data.cccid;
				}
				break;
			case USK_NVME_TCP_PDU_TYPE_CAPSULE_RESP:
				cid = p->capsule_resp.rccqe.cid;
				if (p->capsule_resp.rccqe.status_raw >> 1) {
					fprintf(stderr, "nvmf_tcp_load: I/O error status 0x%x\n",
						p->capsule_resp.rccqe.status_raw >> 1);
					return 1;
				}
				break;
			case USK_NVME_TCP_PDU_TYPE_R2T:
				g_roff += plen;
				send_h2c(p->r2t.cccid, p->r2t.ttag, p->r2t.r2to, p->r2t.r2tl);
				plen = 0;
				break;
			default:
				errno = EPROTO;
				die("unexpected PDU");
			}
			g_roff += plen;
			if (cid < qd && g_slots[cid].busy) {
				uint64_t t2 = now_ns();

				g_slots[cid].busy = false;
				lat_sum += t2 - g_slots[cid].start_ns;
				g_free_cids[g_nfree++] = cid;
				ios++;
			}
		} while (g_rlen - g_roff >= sizeof(struct usk_nvme_tcp_common_pdu_hdr) &&
			 g_rlen - g_roff >=
				 ((const struct usk_nvme_tcp_common_pdu_hdr *)(g_rbuf + g_roff))
					 ->plen);
	}
	{
		double el = (double)(now_ns() - start) / 1e9;
		struct rusage ru;
		double cpu;

		getrusage(RUSAGE_SELF, &ru);
		cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
		      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) - cpu0_us;
		printf("nvmf_tcp_load: %s %u B QD %d: %.0f IOPS %.1f MiB/s mean latency %.1f us "
		       "(%lu I/Os in %.2f s, host CPU %.2f us/IO)\n",
		       rw, io_size, qd, (double)ios / el, (double)ios * io_size / el / 1048576.0,
		       ios ? (double)lat_sum / (double)ios / 1000.0 : 0, (unsigned long)ios, el,
		       ios ? cpu / (double)ios : 0);
	}
	close(fd);
	close(admin_fd);
	return 0;
}
