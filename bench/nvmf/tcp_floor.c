/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel's share of an NVMe/TCP I/O, with no NVMe in it: a minimal "target" thread and a
 * "host" thread on one loopback TCP connection, exchanging the bytes an I/O puts on the wire at a
 * fixed queue depth. Read: a 72-byte command capsule one way, a 24-byte C2HData header and the
 * payload back. Write: the capsule with the payload in it (in-capsule data), a 24-byte response
 * back. The target does only what the kernel makes any target do: one non-blocking recv per
 * poll, one sendmsg per poll with every reply that poll produced (header + payload iovecs,
 * partial sends carried over), payload from a buffer it reuses. Its CPU time per reply
 * (CLOCK_THREAD_CPUTIME_ID over the window) is the floor under usk_tgt's CPU per I/O on this
 * machine: whatever a target does above it is its own work.
 *   tcp_floor [-w read|write] [-s SIZE] [-q QD] [-t SECS] [-T CORE] [-H CORE] [-i] [-B]
 *   -i: the target sleeps in poll() when it has nothing to do (usk_tgt --interrupt-mode);
 *       else it spins (a polled reactor).
 *   -B: the host busy-polls its socket (as spdk_nvme_perf and nvmf_tcp_load -B); else it
 *       sleeps in recv.
 * Prints one line: replies/s, MB/s, the target's busy time per reply (wall time of the polls that
 * moved bytes, as usk's thread_get_stats busy ticks count it) and CPU time per reply (with -i the
 * work done; spinning, it includes the idle polls), target syscalls per reply, host CPU per reply.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CMD_LEN	 72 /* NVMe/TCP command capsule PDU without in-capsule data */
#define HDR_LEN	 24 /* C2HData PDU header; also the length of a CapsuleResp PDU */
#define MAX_QD	 1024
#define MAX_IOV	 1024
#define RBUF_LEN (64 * 1024)

struct side_stats {
	uint64_t replies;
	uint64_t cpu_ns;
	uint64_t busy_ns; /* target: wall time of the polls that moved bytes (usk's busy ticks) */
	uint64_t syscalls;
};

static bool g_write;
static uint32_t g_size = 4096;
static uint32_t g_qd = 32;
static int g_secs = 3;
static int g_tgt_core = 0;
static int g_host_core = 1;
static bool g_tgt_sleeps;
static bool g_host_busy;
static atomic_int g_phase; /* 0 warm-up, 1 counting, 2 stop */

static void die(const char *what) __attribute__((noreturn));

static void
die(const char *what)
{
	fprintf(stderr, "tcp_floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
pin(int core)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(core, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
		fprintf(stderr, "tcp_floor: cannot pin to core %d\n", core);
		exit(1);
	}
}

/* Window bookkeeping shared by both sides: snapshot at the start of phase 1, total at 2. */
struct window {
	bool started;
	uint64_t replies0, cpu0, sys0, busy0;
};

static bool
window_step(struct window *w, struct side_stats *st, uint64_t replies, uint64_t syscalls,
	    uint64_t busy_ns)
{
	int phase = atomic_load_explicit(&g_phase, memory_order_relaxed);

	if (phase == 1 && !w->started) {
		w->started = true;
		w->replies0 = replies;
		w->sys0 = syscalls;
		w->busy0 = busy_ns;
		w->cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	} else if (phase == 2) {
		st->replies = replies - w->replies0;
		st->syscalls = syscalls - w->sys0;
		st->busy_ns = busy_ns - w->busy0;
		st->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - w->cpu0;
		return false;
	}
	return true;
}

/* One end of the connection: its socket and what it counted in the window. */
struct side {
	int fd;
	struct side_stats st;
};

/*
 * Replies owed and not yet fully sent are all alike (header, payload), so the queue is a count
 * and the offset already sent of the first one.
 */
static void *
target_main(void *arg)
{
	struct side *t = arg;
	static struct iovec iov[MAX_IOV];
	uint8_t *rbuf = malloc(RBUF_LEN), *payload = malloc(g_size);
	uint8_t hdr[HDR_LEN] = {0x07, 0, HDR_LEN, HDR_LEN};
	uint64_t replies = 0, syscalls = 0, owed = 0, first_off = 0, rlen = 0, busy_ns = 0;
	struct window w = {0};
	const uint32_t cmd_len = CMD_LEN + (g_write ? g_size : 0);
	const uint32_t reply_len = HDR_LEN + (g_write ? 0 : g_size);

	if (rbuf == NULL || payload == NULL) {
		die("malloc");
	}
	memset(payload, 0xa5, g_size);
	pin(g_tgt_core);
	pthread_setname_np(pthread_self(), "floor_target");
	while (window_step(&w, &t->st, replies, syscalls, busy_ns)) {
		uint64_t poll_start = clock_ns(CLOCK_MONOTONIC);
		bool moved = false;
		/* Whole commands are only counted: the bytes land anywhere in rbuf. */
		ssize_t n = recv(t->fd, rbuf, RBUF_LEN, MSG_DONTWAIT);

		syscalls++;
		if (n == 0) {
			break;
		}
		if (n > 0) {
			moved = true;
			rlen += (uint64_t)n;
			owed += rlen / cmd_len;
			rlen %= cmd_len;
		} else if (errno != EAGAIN) {
			die("target recv");
		}
		if (owed > 0) {
			struct msghdr mh = {.msg_iov = iov};
			uint64_t k, off = first_off;

			for (k = 0; k < owed && mh.msg_iovlen + 2 <= MAX_IOV; k++) {
				if (off < HDR_LEN) {
					iov[mh.msg_iovlen++] =
						(struct iovec){hdr + off, HDR_LEN - off};
					off = HDR_LEN;
				}
				if (reply_len > HDR_LEN) {
					iov[mh.msg_iovlen++] = (struct iovec){
						payload + (off - HDR_LEN), reply_len - off};
				}
				off = 0;
			}
			n = sendmsg(t->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
			syscalls++;
			if (n < 0 && errno != EAGAIN) {
				die("target sendmsg");
			}
			if (n > 0) {
				uint64_t done = first_off + (uint64_t)n;

				moved = true;
				replies += done / reply_len;
				owed -= done / reply_len;
				first_off = done % reply_len;
			}
		} else if (n < 0 && g_tgt_sleeps) {
			struct pollfd pfd = {.fd = t->fd, .events = POLLIN};

			/* 100 ms: the stop flag is seen even if the host went quiet. */
			poll(&pfd, 1, 100);
			syscalls++;
		}
		if (moved) {
			busy_ns += clock_ns(CLOCK_MONOTONIC) - poll_start;
		}
	}
	free(rbuf);
	free(payload);
	return NULL;
}

static void *
host_main(void *arg)
{
	struct side *h = arg;
	static struct iovec iov[2 * MAX_QD];
	uint8_t *rbuf = malloc(RBUF_LEN), *payload = malloc(g_size), cmd[CMD_LEN];
	uint64_t replies = 0, syscalls = 0, got = 0;
	const uint32_t reply_len = HDR_LEN + (g_write ? 0 : g_size);
	struct window w = {0};
	uint32_t to_send = g_qd;

	if (rbuf == NULL || payload == NULL) {
		die("malloc");
	}
	memset(cmd, 0x04, sizeof(cmd));
	memset(payload, 0x5a, g_size);
	pin(g_host_core);
	pthread_setname_np(pthread_self(), "floor_host");
	while (window_step(&w, &h->st, replies, syscalls, 0)) {
		ssize_t n;

		if (to_send > 0) {
			struct msghdr mh = {.msg_iov = iov};
			size_t want = 0;

			for (uint32_t i = 0; i < to_send; i++) {
				iov[mh.msg_iovlen++] = (struct iovec){cmd, CMD_LEN};
				if (g_write) {
					iov[mh.msg_iovlen++] = (struct iovec){payload, g_size};
				}
				want += CMD_LEN + (g_write ? g_size : 0);
			}
			/* Blocking: it returns once everything is queued. */
			n = sendmsg(h->fd, &mh, MSG_NOSIGNAL);
			syscalls++;
			if (n != (ssize_t)want) {
				die("host sendmsg (short or failed)");
			}
			to_send = 0;
		}
		n = recv(h->fd, rbuf, RBUF_LEN, g_host_busy ? MSG_DONTWAIT : 0);
		syscalls++;
		if (n == 0) {
			break;
		}
		if (n < 0) {
			if (errno != EAGAIN) {
				die("host recv");
			}
			continue;
		}
		got += (uint64_t)n;
		to_send = (uint32_t)(got / reply_len);
		got %= reply_len;
		replies += to_send;
	}
	free(rbuf);
	free(payload);
	return NULL;
}

static void
connected_pair(int *srv, int *cli)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) != 0) {
		die("listen on 127.0.0.1");
	}
	*cli = socket(AF_INET, SOCK_STREAM, 0);
	if (*cli < 0 || connect(*cli, (struct sockaddr *)&a, sizeof(a)) != 0) {
		die("connect");
	}
	*srv = accept(l, NULL, NULL);
	if (*srv < 0) {
		die("accept");
	}
	close(l);
	/* As usk_tgt and the Linux host set them. */
	setsockopt(*srv, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*cli, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
main(int argc, char **argv)
{
	struct side t = {0}, h = {0};
	pthread_t tt, ht;
	int c;

	while ((c = getopt(argc, argv, "w:s:q:t:T:H:iB")) != -1) {
		switch (c) {
		case 'w':
			if (strcmp(optarg, "read") != 0 && strcmp(optarg, "write") != 0) {
				fprintf(stderr, "tcp_floor: -w read or write\n");
				return 2;
			}
			g_write = strcmp(optarg, "write") == 0;
			break;
		case 's':
			g_size = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'q':
			g_qd = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 't':
			g_secs = atoi(optarg);
			break;
		case 'T':
			g_tgt_core = atoi(optarg);
			break;
		case 'H':
			g_host_core = atoi(optarg);
			break;
		case 'i':
			g_tgt_sleeps = true;
			break;
		case 'B':
			g_host_busy = true;
			break;
		default:
			fprintf(stderr,
				"usage: tcp_floor [-w read|write] [-s SIZE] [-q QD] [-t SECS] "
				"[-T CORE] [-H CORE] [-i] [-B]\n");
			return 2;
		}
	}
	if (g_size == 0 || g_size > (1u << 20) || g_qd == 0 || g_qd > MAX_QD || g_secs < 1) {
		fprintf(stderr, "tcp_floor: -s 1..1048576, -q 1..%d, -t >= 1\n", MAX_QD);
		return 2;
	}
	connected_pair(&t.fd, &h.fd);
	if (pthread_create(&tt, NULL, target_main, &t) != 0 ||
	    pthread_create(&ht, NULL, host_main, &h) != 0) {
		die("pthread_create");
	}
	usleep(500 * 1000);
	atomic_store(&g_phase, 1);
	uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
	sleep((unsigned)g_secs);
	atomic_store(&g_phase, 2);
	uint64_t wall = clock_ns(CLOCK_MONOTONIC) - t0;
	/* Either side may sit in a blocking call: shutting the sockets down wakes both. */
	usleep(200 * 1000);
	shutdown(h.fd, SHUT_RDWR);
	shutdown(t.fd, SHUT_RDWR);
	pthread_join(tt, NULL);
	pthread_join(ht, NULL);
	if (t.st.replies == 0) {
		fprintf(stderr, "tcp_floor: no replies in the window\n");
		return 1;
	}
	printf("tcp_floor: %s %u B QD %u target %s host %s: %.0f replies/s %.0f MB/s target busy "
	       "%.3f cpu %.3f us/reply %.2f syscalls/reply host cpu %.3f us/reply\n",
	       g_write ? "write" : "read", g_size, g_qd, g_tgt_sleeps ? "sleeps" : "spins",
	       g_host_busy ? "busy-polls" : "sleeps", (double)t.st.replies * 1e9 / (double)wall,
	       (double)t.st.replies * g_size * 1e3 / (double)wall,
	       (double)t.st.busy_ns / 1e3 / (double)t.st.replies,
	       (double)t.st.cpu_ns / 1e3 / (double)t.st.replies,
	       (double)t.st.syscalls / (double)t.st.replies,
	       h.st.replies ? (double)h.st.cpu_ns / 1e3 / (double)h.st.replies : 0.0);
	close(t.fd);
	close(h.fd);
	return 0;
}
