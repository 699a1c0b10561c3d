/* SPDX-License-Identifier: BSD-3-Clause */
/* hello_bdev: open a bdev, write "Hello World!" to block 0, read it back and print it. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "usk/bdev.h"
#include "usk/env.h"
#include "usk/event.h"
#include "usk/log.h"
#include "usk/thread.h"

struct hello_context {
	const char *bdev_name;
	struct usk_bdev *bdev;
	struct usk_bdev_desc *desc;
	struct usk_io_channel *ch;
	char *buf;
	uint32_t buf_size;
	struct usk_bdev_io_wait_entry wait;
	int rc;
};

static struct hello_context g_ctx = {.bdev_name = "Malloc0"};

static void
hello_done(struct hello_context *ctx, int rc)
{
	if (ctx->ch != NULL) {
		usk_put_io_channel(ctx->ch);
		ctx->ch = NULL;
	}
	if (ctx->desc != NULL) {
		usk_bdev_close(ctx->desc);
		ctx->desc = NULL;
	}
	usk_dma_free(ctx->buf);
	ctx->buf = NULL;
	ctx->rc = rc;
	usk_app_stop(rc == 0 ? 0 : 1);
}

static void
read_complete(struct usk_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct hello_context *ctx = cb_arg;

	usk_bdev_free_io(bdev_io);
	if (!success) {
		fprintf(stderr, "bdev io read error\n");
		hello_done(ctx, -EIO);
		return;
	}
	printf("Read string from bdev : %s\n", ctx->buf);
	fflush(stdout);
	hello_done(ctx, strcmp(ctx->buf, "Hello World!") == 0 ? 0 : -EILSEQ);
}

static void
hello_read(void *arg)
{
	struct hello_context *ctx = arg;
	int rc;

	memset(ctx->buf, 0, ctx->buf_size);
	rc = usk_bdev_read(ctx->desc, ctx->ch, ctx->buf, 0, ctx->buf_size, read_complete, ctx);
	if (rc == -ENOMEM) {
		ctx->wait.bdev = ctx->bdev;
		ctx->wait.cb_fn = hello_read;
		ctx->wait.cb_arg = ctx;
		usk_bdev_queue_io_wait(ctx->bdev, ctx->ch, &ctx->wait);
	} else if (rc != 0) {
		fprintf(stderr, "%s error while reading from bdev: %d\n", strerror(-rc), rc);
		hello_done(ctx, rc);
	}
}

static void
write_complete(struct usk_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct hello_context *ctx = cb_arg;

	usk_bdev_free_io(bdev_io);
	if (!success) {
		fprintf(stderr, "bdev io write error\n");
		hello_done(ctx, -EIO);
		return;
	}
	printf("bdev io write completed successfully\n");
	hello_read(ctx);
}

static void
hello_write(void *arg)
{
	struct hello_context *ctx = arg;
	int rc;

	rc = usk_bdev_write(ctx->desc, ctx->ch, ctx->buf, 0, ctx->buf_size, write_complete, ctx);
	if (rc == -ENOMEM) {
		ctx->wait.bdev = ctx->bdev;
		ctx->wait.cb_fn = hello_write;
		ctx->wait.cb_arg = ctx;
		usk_bdev_queue_io_wait(ctx->bdev, ctx->ch, &ctx->wait);
	} else if (rc != 0) {
		fprintf(stderr, "%s error while writing to bdev: %d\n", strerror(-rc), rc);
		hello_done(ctx, rc);
	}
}

static void
hello_event_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *event_ctx)
{
	fprintf(stderr, "Unsupported bdev event: type %d\n", type);
}

static void
hello_start(void *arg)
{
	struct hello_context *ctx = arg;
	uint32_t write_unit;
	size_t align;
	int rc;

	printf("Successfully started the application\n");
	printf("Opening the bdev %s\n", ctx->bdev_name);
	rc = usk_bdev_open_ext(ctx->bdev_name, true, hello_event_cb, NULL, &ctx->desc);
	if (rc != 0) {
		fprintf(stderr, "Could not open bdev: %s (%s)\n", ctx->bdev_name, strerror(-rc));
		hello_done(ctx, rc);
		return;
	}
	ctx->bdev = usk_bdev_desc_get_bdev(ctx->desc);
	printf("Opening io channel\n");
	ctx->ch = usk_bdev_get_io_channel(ctx->desc);
	if (ctx->ch == NULL) {
		fprintf(stderr, "Could not create bdev I/O channel!!\n");
		hello_done(ctx, -ENOMEM);
		return;
	}
	write_unit = usk_bdev_get_write_unit_size(ctx->bdev);
	ctx->buf_size = usk_bdev_get_block_size(ctx->bdev) * (write_unit != 0 ? write_unit : 1);
	align = usk_bdev_get_buf_align(ctx->bdev);
	ctx->buf = usk_dma_zmalloc(ctx->buf_size, align > 64 ? align : 64, NULL);
	if (ctx->buf == NULL) {
		fprintf(stderr, "Failed to allocate buffer\n");
		hello_done(ctx, -ENOMEM);
		return;
	}
	snprintf(ctx->buf, ctx->buf_size, "%s", "Hello World!");
	printf("Writing to the bdev\n");
	hello_write(ctx);
}

static void
hello_usage(void)
{
	printf(" -b <bdev>                 name of the bdev to use (default Malloc0)\n");
}

static int
hello_parse_arg(int ch, char *arg)
{
	switch (ch) {
	case 'b':
		g_ctx.bdev_name = arg;
		return 0;
	default:
		return -EINVAL;
	}
}

int
main(int argc, char **argv)
{
	struct usk_app_opts opts;
	char rpc_path[64];
	enum usk_app_parse_args_rvals prc;
	int rc;

	usk_app_opts_init(&opts, sizeof(opts));
	opts.name = "hello_bdev";
	opts.rpc_addr = NULL;
	prc = usk_app_parse_args(argc, argv, &opts, "b:", NULL, hello_parse_arg, hello_usage);
	if (prc == USK_APP_PARSE_ARGS_HELP) {
		return 0;
	}
	if (prc != USK_APP_PARSE_ARGS_SUCCESS) {
		return 1;
	}
	if (opts.rpc_addr == NULL) {
		/* An example must not collide with a running usk_tgt on the default socket. */
		snprintf(rpc_path, sizeof(rpc_path), "/var/tmp/hello_bdev.%d.sock", (int)getpid());
		opts.rpc_addr = rpc_path;
	}
	rc = usk_app_start(&opts, hello_start, &g_ctx);
	if (rc != 0) {
		fprintf(stderr, "ERROR starting application\n");
	}
	usk_app_fini();
	return rc == 0 && g_ctx.rc == 0 ? 0 : 1;
}
