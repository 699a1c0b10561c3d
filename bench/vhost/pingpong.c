/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Cache-line round trip between two CPUs: the reference for benchmarks whose two sides talk
 * through shared memory (vhost-user rings). Under a hypervisor the same two vCPUs may sit on
 * one L3 or on two from run to run, which moves such benchmarks by 2x; printing this beside
 * them says which case a run was.
 *   usk_pingpong [CPU_A CPU_B [ROUND_TRIPS]]  -> "pingpong cpuA<->cpuB: N ns per round trip"
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Alignas(64) _Atomic unsigned long g_line;
static unsigned long g_trips = 1000000;

static int
pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *
responder(void *arg)
{
	unsigned long i;

	if (pin(*(int *)arg) != 0) {
		return NULL;
	}
	/* Answer odd values with the next even one. */
	for (i = 0; i < g_trips; i++) {
		while (atomic_load_explicit(&g_line, memory_order_acquire) != 2 * i + 1) {
		}
		atomic_store_explicit(&g_line, 2 * i + 2, memory_order_release);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	int a = argc > 2 ? atoi(argv[1]) : 0, b = argc > 2 ? atoi(argv[2]) : 1;
	struct timespec t0, t1;
	pthread_t th;
	unsigned long i;
	double ns;

	if (argc > 3) {
		g_trips = strtoul(argv[3], NULL, 0);
	}
	if (g_trips == 0 || pin(a) != 0) {
		fprintf(stderr, "usk_pingpong: bad arguments or cannot pin to CPU %d\n", a);
		return 1;
	}
	if (pthread_create(&th, NULL, responder, &b) != 0) {
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < g_trips; i++) {
		atomic_store_explicit(&g_line, 2 * i + 1, memory_order_release);
		while (atomic_load_explicit(&g_line, memory_order_acquire) != 2 * i + 2) {
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(th, NULL);
	ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	printf("pingpong cpu%d<->cpu%d: %.0f ns per round trip\n", a, b, ns / (double)g_trips);
	return 0;
}
