/* SPDX-License-Identifier: BSD-3-Clause */
/* usk_bdevperf: drive bdevs with a workload from many cores and report IOPS/latency like SPDK's
 * bdevperf. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "usk/bdev.h"
#include "usk/env.h"
#include "usk/event.h"
#include "usk/log.h"
#include "usk/rpc.h"
#include "usk/thread.h"
#include "usk/util.h"

#include "bdevperf_util.h"

#define OPT_CHECK_PATTERN   1000
#define OPT_FUA		    1001
#define OPT_FLUSH_EVERY	    1002
#define OPT_LAT_PERCENTILES 1003
#define RESET_PERIOD_US	    (1 * USK_SEC_TO_USEC)

struct bdevperf_job;

/* One in-flight I/O slot; a job owns queue_depth of them for its whole life. */
struct bdevperf_task {
	struct bdevperf_job *job;
	void *buf;	  /* data written / read */
	void *verify_buf; /* read-back buffer of verify/reset */
	struct iovec iov; /* buf, for FUA writes (usk_bdev_writev_blocks_ext) */
	uint64_t offset_blocks;
	uint64_t submit_tsc;
	enum usk_bdev_io_type io_type;
	struct usk_bdev_io_wait_entry wait;
	TAILQ_ENTRY(bdevperf_task) link;
};

/*
 * A job: one bdev driven from one usk_thread. The fields up to the cold boundary are touched on
 * every I/O by the job's thread only; the counters are read (racily, for progress lines) by the
 * main thread.
 */
struct bdevperf_job {
	struct usk_bdev_desc *desc;
	struct usk_io_channel *ch;
	enum bdevperf_workload workload;
	bool is_random;
	bool verify;
	bool is_draining;
	bool continue_on_failure;
	bool check_pattern;
	bool fua;	      /* every write is FUA */
	uint32_t flush_every; /* a flush after every flush_every writes (0: never) */
	uint32_t writes_since_flush;
	uint32_t rw_percentage;
	uint32_t io_size_blocks;
	uint32_t block_size;
	uint32_t io_size;
	uint64_t rand_state;
	uint32_t rand_shift; /* 64 - log2(size_in_ios) when that is a power of two > 1, else 0 */
	enum usk_bdev_io_type fixed_io_type; /* the only type a pure read/write job issues, else
						INVALID */
	uint64_t ios_base;		     /* first I/O-sized region of this job's range */
	uint64_t size_in_ios;		     /* regions in the range */
	uint64_t offset_in_ios;
	uint64_t write_generation;
	uint32_t current_queue_depth;
	uint64_t io_completed;
	uint64_t io_failed;
	uint64_t io_timeout;
	uint64_t flushes_done;
	uint64_t fua_writes_done;
	uint64_t lat_total_tsc;
	uint64_t lat_min_tsc;
	uint64_t lat_max_tsc;
	uint64_t *lat_hist; /* --lat-percentiles: LAT_HIST_BUCKETS log-linear buckets, else NULL */
	uint8_t *outstanding; /* verify: one byte per offset in ios, set while an I/O is on it */
	uint64_t now_tsc;     /* poll timestamp cached by clock_poller (when cached_now) */
	bool cached_now;
	/* ---- cold: set up once ---- */
	char *name;
	struct usk_bdev *bdev;
	struct usk_thread *thread;
	uint32_t core;
	uint32_t queue_depth;
	uint64_t prev_io_completed;
	uint64_t run_time_in_usec;
	bool failed_verify;
	struct usk_poller *run_timer;
	struct usk_poller *clock_poller;
	struct usk_poller *reset_timer;
	struct bdevperf_task *tasks;
	TAILQ_HEAD(, bdevperf_task) task_list;
	TAILQ_ENTRY(bdevperf_job) link;
};

static TAILQ_HEAD(, bdevperf_job) g_jobs = TAILQ_HEAD_INITIALIZER(g_jobs);
static uint32_t g_running_jobs;
static struct usk_thread *g_main_thread;
static struct usk_poller *g_perf_timer;
static uint64_t g_start_tsc;
static int g_run_rc;
static bool g_shutdown;
static bool g_test_done;

/* Options */
static struct usk_app_opts g_opts;
static char g_rpc_path[64];
static const char *g_workload_str;
static enum bdevperf_workload g_workload = BDEVPERF_RW_INVALID;
static uint64_t g_io_size;
static int g_queue_depth;
static int g_rw_percentage = -1;
static int g_time_in_sec;
static uint64_t g_show_period_us = USK_SEC_TO_USEC;
static bool g_every_core;
static const char *g_bdev_filter;
static bool g_continue_on_failure;
static bool g_check_pattern;
static bool g_fua;
static uint32_t g_flush_every;
static bool g_lat_percentiles;

static void submit_single(struct bdevperf_job *job, struct bdevperf_task *task, uint64_t now);
static void job_drain(struct bdevperf_job *job);
static void bdevperf_test_done(void);

/* Stop the app: close the RPC listener first so its socket file does not outlive us. */
static void
app_stop(int rc)
{
	usk_rpc_close();
	usk_app_stop(rc);
}

static void
thread_exit_msg(void *ctx)
{
	usk_thread_exit(usk_get_thread());
}

/* ---------------------------------------------------------------- I/O path */

/*
 * The thread's poll timestamp. In polled mode a per-job poller copies it once per poll into
 * the job, so the I/O path reads a field instead of calling into lib/thread per I/O (in
 * interrupt mode active pollers do not run, so the call is made).
 */
static inline uint64_t
job_now(struct bdevperf_job *job)
{
	return usk_likely(job->cached_now) ? job->now_tsc : usk_thread_get_last_tsc(job->thread);
}

static int
job_clock_poll(void *ctx)
{
	struct bdevperf_job *job = ctx;

	job->now_tsc = usk_thread_get_last_tsc(job->thread);
	return USK_POLLER_IDLE;
}

static inline void task_end(struct bdevperf_task *task);

static void job_empty_on_thread(struct bdevperf_job *job);

static void
job_fail(struct bdevperf_job *job, int rc)
{
	if (g_run_rc == 0) {
		g_run_rc = rc;
	}
	job_drain(job);
}

/*
 * Latency uses the tick at which the thread's current poll began (no rdtsc per I/O: rdtsc
 * costs as much as a whole null-bdev I/O on some hosts); resolution is one poll iteration.
 */
/* Latency histogram: 8 buckets per power of two of ticks (12.5 % resolution). */
#define LAT_HIST_BUCKETS (64 * 8)

static inline uint32_t
lat_bucket(uint64_t lat)
{
	uint32_t msb;

	if (lat < 8) {
		return (uint32_t)lat;
	}
	msb = 63 - (uint32_t)__builtin_clzll(lat);
	return msb * 8 + (uint32_t)((lat >> (msb - 3)) & 7);
}

/* Middle of bucket idx, in ticks. */
static double
lat_bucket_mid(uint32_t idx)
{
	uint32_t msb = idx / 8, sub = idx % 8;

	if (idx < 8) {
		return idx;
	}
	return ((double)(8 + sub) + 0.5) * (double)(1ULL << (msb - 3));
}

/* The pct-th percentile of job's latencies in microseconds (0 when nothing was recorded). */
static double
lat_percentile(const struct bdevperf_job *job, double pct)
{
	uint64_t total = 0, seen = 0, want;

	for (uint32_t i = 0; i < LAT_HIST_BUCKETS; i++) {
		total += job->lat_hist[i];
	}
	if (total == 0) {
		return 0;
	}
	want = (uint64_t)(pct / 100.0 * (double)total + 0.5);
	if (want == 0) {
		want = 1;
	}
	for (uint32_t i = 0; i < LAT_HIST_BUCKETS; i++) {
		seen += job->lat_hist[i];
		if (seen >= want) {
			return lat_bucket_mid(i) * USK_SEC_TO_USEC / (double)usk_get_ticks_hz();
		}
	}
	return 0;
}

static inline void
record_latency(struct bdevperf_job *job, struct bdevperf_task *task, uint64_t now)
{
	uint64_t lat = now - task->submit_tsc;

	if (job->lat_hist != NULL) {
		job->lat_hist[lat_bucket(lat)]++;
	}

	job->lat_total_tsc += lat;
	if (lat < job->lat_min_tsc) {
		job->lat_min_tsc = lat;
	}
	if (lat > job->lat_max_tsc) {
		job->lat_max_tsc = lat;
	}
}

static bool
check_read_data(struct bdevperf_job *job, struct bdevperf_task *task, const void *got)
{
	int64_t off;
	uint32_t bad_byte = 0;

	if (job->verify) {
		off = bdevperf_buf_compare(task->buf, got, job->io_size);
		if (off < 0) {
			return true;
		}
		fprintf(stderr,
			"Buffer mismatch! Target: %s Disk Offset: %" PRIu64
			" (block), byte offset %" PRIu64 " in the bdev: data read back differs from"
			" what was written\n",
			job->name, task->offset_blocks,
			task->offset_blocks * job->block_size + (uint64_t)off);
		return false;
	}
	off = bdevperf_pattern_check(got, job->block_size, task->offset_blocks, job->io_size_blocks,
				     &bad_byte);
	if (off < 0) {
		return true;
	}
	fprintf(stderr,
		"Pattern mismatch! Target: %s block %" PRIu64 ", byte offset %" PRIu64
		" in the bdev does not hold usk_bdevperf's pattern\n",
		job->name, task->offset_blocks + (uint64_t)off,
		(task->offset_blocks + (uint64_t)off) * job->block_size + bad_byte);
	return false;
}

static void
io_complete(struct usk_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct bdevperf_task *task = cb_arg;
	struct bdevperf_job *job = task->job;
	/* One clock read serves this completion and the resubmission below. */
	uint64_t now = job_now(job);

	usk_bdev_free_io(bdev_io);
	job->current_queue_depth--;
	record_latency(job, task, now);

	if (usk_likely(success)) {
		if (usk_unlikely(job->check_pattern) && task->io_type == USK_BDEV_IO_TYPE_READ) {
			if (!check_read_data(job, task,
					     job->verify ? task->verify_buf : task->buf)) {
				job->failed_verify = true;
				success = false;
				job_fail(job, -EILSEQ);
			}
		}
	}
	if (usk_likely(success)) {
		job->io_completed++;
		if (usk_unlikely(task->io_type == USK_BDEV_IO_TYPE_FLUSH)) {
			job->flushes_done++;
		} else if (usk_unlikely(job->fua) && task->io_type == USK_BDEV_IO_TYPE_WRITE) {
			job->fua_writes_done++;
		}
	} else {
		job->io_failed++;
		if (!job->continue_on_failure && job->workload != BDEVPERF_RW_RESET &&
		    !job->is_draining) {
			fprintf(stderr, "task offset: %" PRIu64 " on job bdev=%s fails\n",
				task->offset_blocks, job->name);
			job_fail(job, -EIO);
		}
	}
	if (job->outstanding != NULL) {
		job->outstanding[task->offset_blocks / job->io_size_blocks - job->ios_base] = 0;
	}

	if (usk_likely(!job->is_draining)) {
		submit_single(job, task, now);
	} else {
		task_end(task);
	}
}

static void
verify_submit_read(void *arg)
{
	struct bdevperf_task *task = arg;
	struct bdevperf_job *job = task->job;
	int rc;

	task->io_type = USK_BDEV_IO_TYPE_READ;
	rc = usk_bdev_read_blocks(job->desc, job->ch, task->verify_buf, task->offset_blocks,
				  job->io_size_blocks, io_complete, task);
	if (rc == -ENOMEM) {
		task->wait.bdev = job->bdev;
		task->wait.cb_fn = verify_submit_read;
		task->wait.cb_arg = task;
		usk_bdev_queue_io_wait(job->bdev, job->ch, &task->wait);
	} else if (rc != 0) {
		fprintf(stderr, "Failed to submit read on %s: %s\n", job->name, strerror(-rc));
		job->outstanding[task->offset_blocks / job->io_size_blocks - job->ios_base] = 0;
		job->current_queue_depth--;
		job_fail(job, rc);
		task_end(task);
	}
}

static void
verify_write_complete(struct usk_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct bdevperf_task *task = cb_arg;

	if (usk_likely(success) && !task->job->is_draining) {
		usk_bdev_free_io(bdev_io);
		verify_submit_read(task);
		return;
	}
	io_complete(bdev_io, success, cb_arg);
}

/* A task parked on the bdev's io_wait queue stays counted in current_queue_depth. */
static void
retry_submit(void *arg)
{
	struct bdevperf_task *task = arg;
	struct bdevperf_job *job = task->job;

	job->current_queue_depth--;
	if (job->is_draining) {
		task_end(task);
		return;
	}
	submit_single(job, task, job_now(job));
}

/* Issue task as task->io_type at task->offset_blocks. Returns the submit rc. */
static inline int
submit_task(struct bdevperf_job *job, struct bdevperf_task *task)
{
	usk_bdev_io_completion_cb cb = io_complete;

	switch (task->io_type) {
	case USK_BDEV_IO_TYPE_READ:
		return usk_bdev_read_blocks(job->desc, job->ch, task->buf, task->offset_blocks,
					    job->io_size_blocks, cb, task);
	case USK_BDEV_IO_TYPE_WRITE:
		if (job->verify) {
			cb = verify_write_complete;
		}
		if (job->verify || job->check_pattern) {
			bdevperf_pattern_fill(task->buf, job->block_size, task->offset_blocks,
					      job->io_size_blocks, ++job->write_generation);
		}
		if (usk_unlikely(job->fua)) {
			static const struct usk_bdev_ext_io_opts fua = {
				.size = sizeof(fua),
				.flags = USK_BDEV_IO_FLAG_FUA,
			};

			task->iov.iov_base = task->buf;
			task->iov.iov_len = job->io_size;
			return usk_bdev_writev_blocks_ext(job->desc, job->ch, &task->iov, 1,
							  task->offset_blocks, job->io_size_blocks,
							  cb, task, &fua);
		}
		return usk_bdev_write_blocks(job->desc, job->ch, task->buf, task->offset_blocks,
					     job->io_size_blocks, cb, task);
	case USK_BDEV_IO_TYPE_UNMAP:
		return usk_bdev_unmap_blocks(job->desc, job->ch, task->offset_blocks,
					     job->io_size_blocks, cb, task);
	case USK_BDEV_IO_TYPE_FLUSH:
		return usk_bdev_flush_blocks(job->desc, job->ch, task->offset_blocks,
					     job->io_size_blocks, cb, task);
	case USK_BDEV_IO_TYPE_WRITE_ZEROES:
		return usk_bdev_write_zeroes_blocks(job->desc, job->ch, task->offset_blocks,
						    job->io_size_blocks, cb, task);
	default:
		return -EINVAL;
	}
}

/* Type of the next I/O of a mixed workload (rw, randrw, unmap, flush, write_zeroes). */
static enum usk_bdev_io_type
pick_mixed_io_type(struct bdevperf_job *job)
{
	enum usk_bdev_io_type t;

	switch (job->workload) {
	case BDEVPERF_RW_READ:
	case BDEVPERF_RW_RANDREAD:
		t = USK_BDEV_IO_TYPE_READ;
		break;
	case BDEVPERF_RW_WRITE:
	case BDEVPERF_RW_RANDWRITE:
	case BDEVPERF_RW_VERIFY:
	case BDEVPERF_RW_RESET:
		t = USK_BDEV_IO_TYPE_WRITE;
		break;
	case BDEVPERF_RW_RW:
	case BDEVPERF_RW_RANDRW:
		t = bdevperf_rand_below(&job->rand_state, 100) < job->rw_percentage ?
			    USK_BDEV_IO_TYPE_READ :
			    USK_BDEV_IO_TYPE_WRITE;
		break;
	case BDEVPERF_RW_UNMAP:
	case BDEVPERF_RW_FLUSH:
	case BDEVPERF_RW_WRITE_ZEROES:
		if (bdevperf_rand_below(&job->rand_state, 100) < job->rw_percentage) {
			t = USK_BDEV_IO_TYPE_READ;
		} else {
			t = job->workload == BDEVPERF_RW_UNMAP ? USK_BDEV_IO_TYPE_UNMAP :
			    job->workload == BDEVPERF_RW_FLUSH ? USK_BDEV_IO_TYPE_FLUSH :
								 USK_BDEV_IO_TYPE_WRITE_ZEROES;
		}
		break;
	default:
		t = USK_BDEV_IO_TYPE_READ;
		break;
	}
	return t;
}

static void
submit_single(struct bdevperf_job *job, struct bdevperf_task *task, uint64_t now)
{
	uint64_t off;
	int rc;

	if (job->is_random) {
		/* Power-of-two ranges (the usual case) take the top bits: no multiply. */
		off = job->rand_shift != 0 ?
			      bdevperf_rand64(&job->rand_state) >> job->rand_shift :
			      bdevperf_rand_below(&job->rand_state, job->size_in_ios);
	} else {
		off = job->offset_in_ios++;
		if (job->offset_in_ios == job->size_in_ios) {
			job->offset_in_ios = 0;
		}
		if (job->outstanding != NULL) {
			/* Never two I/Os on one offset: the read-back would race the next write. */
			while (job->outstanding[off]) {
				off = job->offset_in_ios++;
				if (job->offset_in_ios == job->size_in_ios) {
					job->offset_in_ios = 0;
				}
			}
			job->outstanding[off] = 1;
		}
	}
	task->offset_blocks = (job->ios_base + off) * job->io_size_blocks;

	if (usk_likely(job->fixed_io_type != USK_BDEV_IO_TYPE_INVALID)) {
		task->io_type = job->fixed_io_type;
	} else {
		task->io_type = pick_mixed_io_type(job);
	}
	if (usk_unlikely(job->flush_every != 0) && task->io_type == USK_BDEV_IO_TYPE_WRITE &&
	    job->writes_since_flush++ == job->flush_every) {
		/* As a database commits: a flush after every flush_every writes. */
		task->io_type = USK_BDEV_IO_TYPE_FLUSH;
		job->writes_since_flush = 0;
	}

	task->submit_tsc = now;
	for (int attempt = 0;; attempt++) {
		rc = submit_task(job, task);
		if (usk_likely(rc == 0)) {
			job->current_queue_depth++;
			return;
		}
		if (rc != -ENOMEM) {
			break;
		}
		/* Out of bdev_io: park the task until one is freed on this thread. */
		task->wait.bdev = job->bdev;
		task->wait.cb_fn = retry_submit;
		task->wait.cb_arg = task;
		rc = usk_bdev_queue_io_wait(job->bdev, job->ch, &task->wait);
		if (rc == 0) {
			if (job->outstanding != NULL) {
				job->outstanding[off] = 0; /* retry_submit picks an offset again */
			}
			job->current_queue_depth++;
			return;
		}
		if (rc != -EINVAL || attempt == 8) {
			break;
		}
		/* -EINVAL: a bdev_io became free in between; just try again. */
	}
	if (job->outstanding != NULL) {
		job->outstanding[off] = 0;
	}
	fprintf(stderr, "Failed to submit %s on %s: %s\n",
		task->io_type == USK_BDEV_IO_TYPE_READ ? "read" : "I/O", job->name, strerror(-rc));
	job_fail(job, rc);
	task_end(task);
}

/* ---------------------------------------------------------------- job lifecycle */

static void
job_end_on_main(void *ctx)
{
	struct bdevperf_job *job = ctx;

	if (job->desc != NULL) {
		usk_bdev_close(job->desc);
		job->desc = NULL;
	}
	if (--g_running_jobs == 0) {
		bdevperf_test_done();
	}
}

static void
job_empty_on_thread(struct bdevperf_job *job)
{
	uint64_t end_tsc = usk_get_ticks() - g_start_tsc;

	job->run_time_in_usec = end_tsc * USK_SEC_TO_USEC / usk_get_ticks_hz();
	job->cached_now = false;
	usk_poller_unregister(&job->clock_poller);
	if (job->ch != NULL) {
		usk_put_io_channel(job->ch);
		job->ch = NULL;
	}
	usk_thread_send_msg(g_main_thread, job_end_on_main, job);
}

static inline void
task_end(struct bdevperf_task *task)
{
	struct bdevperf_job *job = task->job;

	TAILQ_INSERT_TAIL(&job->task_list, task, link);
	if (job->is_draining && job->current_queue_depth == 0) {
		job_empty_on_thread(job);
	}
}

static void
job_drain(struct bdevperf_job *job)
{
	usk_poller_unregister(&job->run_timer);
	usk_poller_unregister(&job->reset_timer);
	job->is_draining = true;
}

static int
job_run_timer(void *ctx)
{
	struct bdevperf_job *job = ctx;

	if (!job->is_draining) {
		job_drain(job);
		if (job->current_queue_depth == 0) {
			job_empty_on_thread(job);
		}
	} else {
		usk_poller_unregister(&job->run_timer);
	}
	return USK_POLLER_BUSY;
}

static void
reset_done(struct usk_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct bdevperf_job *job = cb_arg;

	usk_bdev_free_io(bdev_io);
	if (!success) {
		fprintf(stderr, "Reset of %s failed\n", job->name);
		job_fail(job, -EIO);
	}
}

static int
job_reset_timer(void *ctx)
{
	struct bdevperf_job *job = ctx;
	int rc;

	if (job->is_draining) {
		return USK_POLLER_IDLE;
	}
	rc = usk_bdev_reset(job->desc, job->ch, reset_done, job);
	if (rc != 0 && rc != -ENOMEM) {
		fprintf(stderr, "Reset of %s could not be submitted: %s\n", job->name,
			strerror(-rc));
		job_fail(job, rc);
	}
	return USK_POLLER_BUSY;
}

/* Runs on the job's thread: get a channel, arm the timers, fill the queue. */
static void
job_start_on_thread(void *ctx)
{
	struct bdevperf_job *job = ctx;
	struct bdevperf_task *task;

	job->ch = usk_bdev_get_io_channel(job->desc);
	if (job->ch == NULL) {
		fprintf(stderr, "Could not get an I/O channel for %s\n", job->name);
		g_run_rc = -ENOMEM;
		job->is_draining = true;
		usk_thread_send_msg(g_main_thread, job_end_on_main, job);
		return;
	}
	if (!usk_interrupt_mode_is_enabled()) {
		job->now_tsc = usk_thread_get_last_tsc(job->thread);
		job->clock_poller =
			usk_poller_register_named(job_clock_poll, job, 0, "bdevperf_clock");
		job->cached_now = job->clock_poller != NULL;
	}
	job->run_timer = usk_poller_register_named(job_run_timer, job,
						   (uint64_t)g_time_in_sec * USK_SEC_TO_USEC,
						   "bdevperf_run_timer");
	if (job->workload == BDEVPERF_RW_RESET) {
		job->reset_timer = usk_poller_register_named(job_reset_timer, job, RESET_PERIOD_US,
							     "bdevperf_reset_timer");
	}
	for (uint32_t i = 0; i < job->queue_depth && !job->is_draining; i++) {
		task = TAILQ_FIRST(&job->task_list);
		TAILQ_REMOVE(&job->task_list, task, link);
		submit_single(job, task, job_now(job));
	}
	if (job->is_draining && job->current_queue_depth == 0) {
		job_empty_on_thread(job);
	}
}

static void
job_free(struct bdevperf_job *job)
{
	if (job->tasks != NULL) {
		for (uint32_t i = 0; i < job->queue_depth; i++) {
			usk_dma_free(job->tasks[i].buf);
			usk_dma_free(job->tasks[i].verify_buf);
		}
		free(job->tasks);
	}
	if (job->desc != NULL) {
		usk_bdev_close(job->desc);
	}
	free(job->outstanding);
	free(job->lat_hist);
	free(job->name);
	free(job);
}

static void
job_event_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *ctx)
{
	/* A job's bdev went away: its I/O fails from now on; the job stops on its timer or error.
	 */
	if (type == USK_BDEV_EVENT_REMOVE) {
		fprintf(stderr, "bdev %s was removed during the test\n", usk_bdev_get_name(bdev));
	}
}

static bool
workload_supported(struct usk_bdev *bdev, enum bdevperf_workload w)
{
	switch (w) {
	case BDEVPERF_RW_UNMAP:
		return usk_bdev_io_type_supported(bdev, USK_BDEV_IO_TYPE_UNMAP);
	case BDEVPERF_RW_FLUSH:
		return usk_bdev_io_type_supported(bdev, USK_BDEV_IO_TYPE_FLUSH);
	case BDEVPERF_RW_WRITE_ZEROES:
		return usk_bdev_io_type_supported(bdev, USK_BDEV_IO_TYPE_WRITE_ZEROES);
	case BDEVPERF_RW_RESET:
		return usk_bdev_io_type_supported(bdev, USK_BDEV_IO_TYPE_RESET);
	default:
		return true;
	}
}

static int
job_create(struct usk_bdev *bdev, uint32_t core, uint32_t slice, uint32_t nslices)
{
	struct bdevperf_job *job;
	struct usk_cpuset cpumask;
	uint32_t align;
	char tname[64];
	int rc;

	if (!workload_supported(bdev, g_workload)) {
		fprintf(stderr, "Skipping %s: it does not support workload %s\n",
			usk_bdev_get_name(bdev), bdevperf_workload_name(g_workload));
		return 0;
	}
	job = calloc(1, sizeof(*job));
	if (job == NULL) {
		return -ENOMEM;
	}
	TAILQ_INIT(&job->task_list);
	job->name = strdup(usk_bdev_get_name(bdev));
	if (job->name == NULL) {
		rc = -ENOMEM;
		goto err_free_job;
	}
	rc = usk_bdev_open_ext(job->name, true, job_event_cb, job, &job->desc);
	if (rc != 0) {
		fprintf(stderr, "Could not open bdev %s: %s\n", job->name, strerror(-rc));
		goto err_free_job;
	}
	job->bdev = bdev;
	job->core = core;
	job->workload = g_workload;
	job->block_size = usk_bdev_get_block_size(bdev);
	if (g_io_size % job->block_size != 0) {
		fprintf(stderr,
			"IO size (%" PRIu64 ") is not a multiple of the block size (%u) of %s\n",
			g_io_size, job->block_size, job->name);
		rc = -EINVAL;
		goto err_free_job;
	}
	job->io_size = (uint32_t)g_io_size;
	job->io_size_blocks = (uint32_t)(g_io_size / job->block_size);
	/* With -C several jobs share a bdev: each gets its own slice, so verify never races. */
	job->size_in_ios = usk_bdev_get_num_blocks(bdev) / job->io_size_blocks / nslices;
	job->ios_base = job->size_in_ios * slice;
	if (job->size_in_ios == 0) {
		fprintf(stderr, "bdev %s is smaller than one I/O of %" PRIu64 " bytes\n", job->name,
			g_io_size);
		rc = -EINVAL;
		goto err_free_job;
	}
	job->queue_depth = (uint32_t)g_queue_depth;
	job->is_random = g_workload == BDEVPERF_RW_RANDREAD ||
			 g_workload == BDEVPERF_RW_RANDWRITE || g_workload == BDEVPERF_RW_RANDRW;
	job->verify = g_workload == BDEVPERF_RW_VERIFY || g_workload == BDEVPERF_RW_RESET;
	job->check_pattern = job->verify || g_check_pattern;
	job->continue_on_failure = g_continue_on_failure;
	job->fua = g_fua;
	job->flush_every = g_flush_every;
	job->rw_percentage = g_rw_percentage < 0 ? 0 : (uint32_t)g_rw_percentage;
	if (USK_IS_POW2(job->size_in_ios) && job->size_in_ios > 1) {
		job->rand_shift = 64 - (uint32_t)__builtin_ctzll(job->size_in_ios);
	}
	switch (g_workload) {
	case BDEVPERF_RW_READ:
	case BDEVPERF_RW_RANDREAD:
		job->fixed_io_type = USK_BDEV_IO_TYPE_READ;
		break;
	case BDEVPERF_RW_WRITE:
	case BDEVPERF_RW_RANDWRITE:
	case BDEVPERF_RW_VERIFY:
	case BDEVPERF_RW_RESET:
		job->fixed_io_type = USK_BDEV_IO_TYPE_WRITE;
		break;
	default:
		job->fixed_io_type = USK_BDEV_IO_TYPE_INVALID;
		break;
	}
	job->rand_state = bdevperf_seed(((uint64_t)core << 32) ^ usk_get_ticks() ^ (uintptr_t)job);
	job->lat_min_tsc = UINT64_MAX;
	if (g_lat_percentiles) {
		job->lat_hist = calloc(LAT_HIST_BUCKETS, sizeof(*job->lat_hist));
		if (job->lat_hist == NULL) {
			rc = -ENOMEM;
			goto err_free_job;
		}
	}
	if (job->verify) {
		if (job->size_in_ios <= job->queue_depth) {
			fprintf(stderr,
				"verify on %s needs more I/O-sized regions (%" PRIu64
				") than the queue depth (%u)\n",
				job->name, job->size_in_ios, job->queue_depth);
			rc = -EINVAL;
			goto err_free_job;
		}
		job->outstanding = calloc(job->size_in_ios, 1);
		if (job->outstanding == NULL) {
			rc = -ENOMEM;
			goto err_free_job;
		}
	}

	align = usk_bdev_get_buf_align(bdev);
	if (align < 4096) {
		align = 4096;
	}
	job->tasks = calloc(job->queue_depth, sizeof(*job->tasks));
	if (job->tasks == NULL) {
		rc = -ENOMEM;
		goto err_free_job;
	}
	for (uint32_t i = 0; i < job->queue_depth; i++) {
		struct bdevperf_task *task = &job->tasks[i];

		task->job = job;
		task->buf = usk_dma_zmalloc(g_io_size, align, NULL);
		if (task->buf == NULL) {
			rc = -ENOMEM;
			goto err_free_job;
		}
		if (job->verify) {
			task->verify_buf = usk_dma_zmalloc(g_io_size, align, NULL);
			if (task->verify_buf == NULL) {
				rc = -ENOMEM;
				goto err_free_job;
			}
		}
		TAILQ_INSERT_TAIL(&job->task_list, task, link);
	}

	usk_cpuset_zero(&cpumask);
	usk_cpuset_set_cpu(&cpumask, core, true);
	snprintf(tname, sizeof(tname), "bdevperf_%s_%u", job->name, core);
	job->thread = usk_thread_create(tname, &cpumask);
	if (job->thread == NULL) {
		fprintf(stderr, "Could not create a thread for job %s\n", job->name);
		rc = -ENOMEM;
		goto err_free_job;
	}
	TAILQ_INSERT_TAIL(&g_jobs, job, link);
	return 0;

err_free_job:
	job_free(job);
	return rc;
}

/* ---------------------------------------------------------------- reporting */

struct job_stats {
	double runtime_s;
	double iops;
	double mibps;
	double fail_s;
	double to_s;
	double avg_us;
	double min_us;
	double max_us;
	uint64_t ios;
	uint64_t lat_total_tsc;
};

static void
job_get_stats(struct bdevperf_job *job, struct job_stats *s)
{
	double hz = (double)usk_get_ticks_hz();
	double secs = (double)job->run_time_in_usec / USK_SEC_TO_USEC;
	uint64_t total = job->io_completed + job->io_failed;

	memset(s, 0, sizeof(*s));
	if (secs <= 0) {
		secs = 1e-6;
	}
	s->runtime_s = secs;
	s->iops = (double)job->io_completed / secs;
	s->mibps = s->iops * job->io_size / (1024 * 1024);
	s->fail_s = (double)job->io_failed / secs;
	s->to_s = (double)job->io_timeout / secs;
	s->ios = total;
	s->lat_total_tsc = job->lat_total_tsc;
	if (total != 0) {
		s->avg_us = (double)job->lat_total_tsc / total * USK_SEC_TO_USEC / hz;
		s->min_us = (double)job->lat_min_tsc * USK_SEC_TO_USEC / hz;
		s->max_us = (double)job->lat_max_tsc * USK_SEC_TO_USEC / hz;
	}
}

static const char *
core_mask_str(uint32_t core, char *buf, size_t len)
{
	struct usk_cpuset set;

	usk_cpuset_zero(&set);
	usk_cpuset_set_cpu(&set, core, true);
	snprintf(buf, len, "0x%s", usk_cpuset_fmt(&set));
	return buf;
}

static void
bdevperf_test_done(void)
{
	struct bdevperf_job *job;
	struct job_stats s;
	double t_iops = 0, t_mibps = 0, t_fail = 0, t_to = 0, t_min = 0, t_max = 0, t_avg = 0;
	uint64_t t_ios = 0, t_tsc = 0;
	bool any = false;
	char mask[64];

	if (g_test_done) {
		return;
	}
	g_test_done = true;
	usk_poller_unregister(&g_perf_timer);
	if (g_shutdown) {
		printf("Received shutdown signal, test time was about %.6f seconds\n",
		       (double)(usk_get_ticks() - g_start_tsc) / usk_get_ticks_hz());
	}

	printf("\n%*s\n", 107, "Latency(us)");
	printf(" %-*s: %10s %10s %10s %10s %8s %10s %10s %10s\n", 28, "Device Information",
	       "runtime(s)", "IOPS", "MiB/s", "Fail/s", "TO/s", "Average", "min", "max");
	TAILQ_FOREACH(job, &g_jobs, link) {
		job_get_stats(job, &s);
		if (job->workload == BDEVPERF_RW_RW || job->workload == BDEVPERF_RW_RANDRW) {
			printf(" Job: %s (Core Mask %s, workload: %s, percentage: %u, depth: %u, IO size: %u)\n",
			       job->name, core_mask_str(job->core, mask, sizeof(mask)),
			       bdevperf_workload_name(job->workload), job->rw_percentage,
			       job->queue_depth, job->io_size);
		} else {
			printf(" Job: %s (Core Mask %s, workload: %s, depth: %u, IO size: %u)\n",
			       job->name, core_mask_str(job->core, mask, sizeof(mask)),
			       bdevperf_workload_name(job->workload), job->queue_depth,
			       job->io_size);
		}
		if (job->io_failed > 0 && job->workload != BDEVPERF_RW_RESET &&
		    !job->continue_on_failure) {
			printf(" Job: %s ended in about %.2f seconds with error\n", job->name,
			       s.runtime_s);
		}
		if (job->verify) {
			printf("\t Verification LBA range: start 0x%" PRIx64 " length 0x%" PRIx64
			       "\n",
			       job->ios_base * job->io_size_blocks,
			       job->size_in_ios * job->io_size_blocks);
		}
		printf("\t %-20s: %10.2f %10.2f %10.2f %10.2f %8.2f %10.2f %10.2f %10.2f\n",
		       job->name, s.runtime_s, s.iops, s.mibps, s.fail_s, s.to_s, s.avg_us,
		       s.min_us, s.max_us);
		if (job->fua || job->flushes_done != 0) {
			printf("\t %-20s: flushes %" PRIu64 ", FUA writes %" PRIu64 "\n", job->name,
			       job->flushes_done, job->fua_writes_done);
		}
		if (job->lat_hist != NULL) {
			printf("\t Latency percentiles(us): p50 %.2f p99 %.2f p99.9 %.2f\n",
			       lat_percentile(job, 50), lat_percentile(job, 99),
			       lat_percentile(job, 99.9));
		}
		t_iops += s.iops;
		t_mibps += s.mibps;
		t_fail += s.fail_s;
		t_to += s.to_s;
		t_ios += s.ios;
		t_tsc += s.lat_total_tsc;
		if (s.ios != 0) {
			if (!any || s.min_us < t_min) {
				t_min = s.min_us;
			}
			if (s.max_us > t_max) {
				t_max = s.max_us;
			}
			any = true;
		}
	}
	if (t_ios != 0) {
		t_avg = (double)t_tsc / t_ios * USK_SEC_TO_USEC / usk_get_ticks_hz();
	}
	printf(" ==================================================================================="
	       "================================\n");
	printf(" %-28s: %10s %10.2f %10.2f %10.2f %8.2f %10.2f %10.2f %10.2f\n", "Total", "",
	       t_iops, t_mibps, t_fail, t_to, t_avg, t_min, t_max);
	fflush(stdout);

	while ((job = TAILQ_FIRST(&g_jobs)) != NULL) {
		TAILQ_REMOVE(&g_jobs, job, link);
		if (job->failed_verify && g_run_rc == 0) {
			g_run_rc = -EILSEQ;
		}
		/* The job's thread has no poller or channel left: let it exit. */
		usk_thread_send_msg(job->thread, thread_exit_msg, NULL);
		job_free(job);
	}
	app_stop(g_run_rc == 0 ? 0 : 1);
}

static int
perf_timer(void *ctx)
{
	struct bdevperf_job *job;
	double period_s = (double)g_show_period_us / USK_SEC_TO_USEC;
	double iops = 0, mibps = 0, fail = 0;

	TAILQ_FOREACH(job, &g_jobs, link) {
		uint64_t done = __atomic_load_n(&job->io_completed, __ATOMIC_RELAXED);
		uint64_t failed = __atomic_load_n(&job->io_failed, __ATOMIC_RELAXED);
		double j_iops = (double)(done - job->prev_io_completed) / period_s;

		job->prev_io_completed = done;
		iops += j_iops;
		mibps += j_iops * job->io_size / (1024 * 1024);
		fail += (double)failed;
	}
	printf("%10.2f IOPS, %8.2f MiB/s", iops, mibps);
	if (fail > 0) {
		printf(", %10.0f failed I/O", fail);
	}
	printf("\n");
	fflush(stdout);
	return USK_POLLER_BUSY;
}

/* ---------------------------------------------------------------- start */

static int
create_jobs(void)
{
	struct usk_bdev *bdev;
	uint32_t core, ncores = 0, cores[USK_ENV_MAX_CORES];
	uint32_t next = 0;
	int rc;

	USK_ENV_FOREACH_CORE(core) {
		if (ncores < USK_ENV_MAX_CORES) {
			cores[ncores++] = core;
		}
	}
	if (ncores == 0) {
		cores[ncores++] = usk_env_get_current_core();
	}

	if (g_bdev_filter != NULL) {
		bdev = usk_bdev_get_by_name(g_bdev_filter);
		if (bdev == NULL) {
			fprintf(stderr, "Unable to find bdev '%s'\n", g_bdev_filter);
			return -ENODEV;
		}
		for (uint32_t i = 0; i < (g_every_core ? ncores : 1); i++) {
			rc = job_create(bdev, cores[g_every_core ? i : 0], i,
					g_every_core ? ncores : 1);
			if (rc != 0) {
				return rc;
			}
		}
		return 0;
	}
	for (bdev = usk_bdev_first_leaf(); bdev != NULL; bdev = usk_bdev_next_leaf(bdev)) {
		if (g_every_core) {
			for (uint32_t i = 0; i < ncores; i++) {
				rc = job_create(bdev, cores[i], i, ncores);
				if (rc != 0) {
					return rc;
				}
			}
		} else {
			rc = job_create(bdev, cores[next], 0, 1);
			if (rc != 0) {
				return rc;
			}
			next = (next + 1) % ncores;
		}
	}
	return 0;
}

static void
bdevperf_start(void *ctx)
{
	struct bdevperf_job *job;
	int rc;

	g_main_thread = usk_get_thread();
	rc = create_jobs();
	if (rc != 0 || TAILQ_EMPTY(&g_jobs)) {
		if (rc == 0) {
			fprintf(stderr, "No bdev to run a job on (create bdevs with --json)\n");
		}
		while ((job = TAILQ_FIRST(&g_jobs)) != NULL) {
			TAILQ_REMOVE(&g_jobs, job, link);
			usk_thread_send_msg(job->thread, thread_exit_msg, NULL);
			job_free(job);
		}
		app_stop(1);
		return;
	}
	printf("Running I/O for %d seconds...\n", g_time_in_sec);
	fflush(stdout);
	g_start_tsc = usk_get_ticks();
	g_perf_timer =
		usk_poller_register_named(perf_timer, NULL, g_show_period_us, "bdevperf_perf");
	TAILQ_FOREACH(job, &g_jobs, link) {
		g_running_jobs++;
	}
	TAILQ_FOREACH(job, &g_jobs, link) {
		usk_thread_send_msg(job->thread, job_start_on_thread, job);
	}
}

static void
drain_on_thread(void *ctx)
{
	struct bdevperf_job *job = ctx;

	if (job->ch == NULL || job->is_draining) {
		return;
	}
	job_drain(job);
	if (job->current_queue_depth == 0) {
		job_empty_on_thread(job);
	}
}

static void
shutdown_on_main(void *ctx)
{
	struct bdevperf_job *job;

	if (g_shutdown || g_test_done) {
		return;
	}
	g_shutdown = true;
	if (g_running_jobs == 0) {
		app_stop(1);
		return;
	}
	TAILQ_FOREACH(job, &g_jobs, link) {
		usk_thread_send_msg(job->thread, drain_on_thread, job);
	}
}

static void
bdevperf_shutdown_cb(void)
{
	if (g_main_thread != NULL) {
		usk_thread_send_msg(g_main_thread, shutdown_on_main, NULL);
	} else {
		app_stop(1);
	}
}

/* ---------------------------------------------------------------- arguments */

static void
bdevperf_usage(void)
{
	printf(" -q <depth>                io depth\n");
	printf(" -o <size>                 io size in bytes (4096, 4k, 128K...)\n");
	printf(" -w <type>                 io pattern type, must be one of " BDEVPERF_WORKLOADS_STR
	       "\n");
	printf(" -M <percent>              rwmixread (100 for reads, 0 for writes)\n");
	printf(" -t <time>                 time in seconds\n");
	printf(" -S <period>               show performance result in real time every <period> seconds\n");
	printf(" -C                        enable every core to send I/Os to each bdev\n");
	printf(" -T <bdev>                 bdev to run against (default: all)\n");
	printf(" -f                        continue processing I/O even after failures\n");
	printf(" --check-pattern           check that read data holds usk_bdevperf's write pattern\n");
	printf("                           (written by -w write/randwrite/verify with the same -o)\n");
	printf(" --fua                     every write is a FUA write (durable when it completes)\n");
	printf(" --flush-every <n>         a flush after every n writes (as a database commits)\n");
	printf(" --lat-percentiles         print p50/p99/p99.9 latency per job (12.5%% buckets)\n");
}

static int
parse_int_arg(const char *name, const char *arg, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "Invalid %s '%s': expected an integer in [%ld, %ld]\n", name, arg,
			min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int
bdevperf_parse_arg(int ch, char *arg)
{
	long v;

	switch (ch) {
	case 'q':
		if (parse_int_arg("queue depth (-q)", arg, 1, 65536, &v) != 0) {
			return -EINVAL;
		}
		g_queue_depth = (int)v;
		break;
	case 'o':
		if (bdevperf_parse_size(arg, &g_io_size) != 0 || g_io_size == 0 ||
		    g_io_size > (1ULL << 30)) {
			fprintf(stderr,
				"Invalid io size (-o) '%s': expected bytes, e.g. 4096, 4k, 128K\n",
				arg);
			return -EINVAL;
		}
		break;
	case 'w':
		g_workload_str = arg;
		g_workload = bdevperf_workload_parse(arg);
		if (g_workload == BDEVPERF_RW_INVALID) {
			fprintf(stderr,
				"Invalid io pattern (-w) '%s': must be one of " BDEVPERF_WORKLOADS_STR
				"\n",
				arg);
			return -EINVAL;
		}
		break;
	case 'M':
		if (parse_int_arg("rwmixread (-M)", arg, 0, 100, &v) != 0) {
			return -EINVAL;
		}
		g_rw_percentage = (int)v;
		break;
	case 't':
		if (parse_int_arg("time (-t)", arg, 1, 1000000, &v) != 0) {
			return -EINVAL;
		}
		g_time_in_sec = (int)v;
		break;
	case 'S':
		if (parse_int_arg("period (-S)", arg, 1, 1000000, &v) != 0) {
			return -EINVAL;
		}
		g_show_period_us = (uint64_t)v * USK_SEC_TO_USEC;
		break;
	case 'C':
		g_every_core = true;
		break;
	case 'T':
		g_bdev_filter = arg;
		break;
	case 'f':
		g_continue_on_failure = true;
		break;
	case OPT_LAT_PERCENTILES:
		g_lat_percentiles = true;
		break;
	case OPT_CHECK_PATTERN:
		g_check_pattern = true;
		break;
	case OPT_FUA:
		g_fua = true;
		break;
	case OPT_FLUSH_EVERY:
		if (parse_int_arg("--flush-every", arg, 1, 1000000, &v) != 0) {
			return -EINVAL;
		}
		g_flush_every = (uint32_t)v;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

static int
verify_params(void)
{
	if (g_queue_depth <= 0) {
		fprintf(stderr, "missing -q (queue depth)\n");
		return -EINVAL;
	}
	if (g_io_size == 0) {
		fprintf(stderr, "missing -o (io size)\n");
		return -EINVAL;
	}
	if (g_workload_str == NULL) {
		fprintf(stderr, "missing -w (io pattern type)\n");
		return -EINVAL;
	}
	if (g_time_in_sec <= 0) {
		fprintf(stderr, "missing -t (time in seconds)\n");
		return -EINVAL;
	}
	switch (g_workload) {
	case BDEVPERF_RW_RW:
	case BDEVPERF_RW_RANDRW:
		if (g_rw_percentage < 0) {
			fprintf(stderr, "-M (rwmixread) is required for workload %s\n",
				g_workload_str);
			return -EINVAL;
		}
		break;
	case BDEVPERF_RW_READ:
	case BDEVPERF_RW_RANDREAD:
		g_rw_percentage = 100;
		break;
	case BDEVPERF_RW_WRITE:
	case BDEVPERF_RW_RANDWRITE:
		g_rw_percentage = 0;
		break;
	case BDEVPERF_RW_UNMAP:
	case BDEVPERF_RW_FLUSH:
	case BDEVPERF_RW_WRITE_ZEROES:
		if (g_rw_percentage >= 0) {
			fprintf(stderr, "Ignoring -M option: workload %s mixes 50%% reads\n",
				g_workload_str);
		}
		g_rw_percentage = 50;
		break;
	default:
		if (g_rw_percentage >= 0) {
			fprintf(stderr, "Ignoring -M option for workload %s\n", g_workload_str);
		}
		g_rw_percentage = 0;
		break;
	}
	if (g_check_pattern && g_io_size % 16 != 0) {
		fprintf(stderr, "--check-pattern needs an io size that is a multiple of 16\n");
		return -EINVAL;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{"check-pattern", no_argument, NULL, OPT_CHECK_PATTERN},
		{"fua", no_argument, NULL, OPT_FUA},
		{"flush-every", required_argument, NULL, OPT_FLUSH_EVERY},
		{"lat-percentiles", no_argument, NULL, OPT_LAT_PERCENTILES},
		{NULL, 0, NULL, 0},
	};
	enum usk_app_parse_args_rvals prc;
	int rc;

	usk_app_opts_init(&g_opts, sizeof(g_opts));
	g_opts.name = "usk_bdevperf";
	g_opts.rpc_addr = NULL;
	g_opts.shutdown_cb = bdevperf_shutdown_cb;
	prc = usk_app_parse_args(argc, argv, &g_opts, "q:o:w:M:t:S:CT:f", long_opts,
				 bdevperf_parse_arg, bdevperf_usage);
	if (prc == USK_APP_PARSE_ARGS_HELP) {
		return 0;
	}
	if (prc != USK_APP_PARSE_ARGS_SUCCESS) {
		return 1;
	}
	if (g_opts.rpc_addr == NULL) {
		/* No -r: a private socket, so runs never collide with a usk_tgt or each other. */
		snprintf(g_rpc_path, sizeof(g_rpc_path), "/var/tmp/usk_bdevperf.%d.sock",
			 (int)getpid());
		g_opts.rpc_addr = g_rpc_path;
	}
	if (verify_params() != 0) {
		bdevperf_usage();
		return 1;
	}
	rc = usk_app_start(&g_opts, bdevperf_start, NULL);
	usk_app_fini();
	return rc == 0 ? 0 : 1;
}
