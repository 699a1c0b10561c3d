/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LD_PRELOAD shim for bdev_durability.sh: io_submit refuses IOCB_CMD_FDSYNC with -EINVAL, as a
 * kernel without asynchronous aio fsync (< 4.18) or a file system without ->fsync does, so
 * that the aio bdev's sync helper thread path runs. Everything else goes to libaio. Test-only:
 * compiled by the test into its temp dir, never linked into usk.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <libaio.h>

int
io_submit(io_context_t ctx, long nr, struct iocb *ios[])
{
	static int (*real)(io_context_t, long, struct iocb *[]);
	long i;

	if (real == NULL) {
		real = (int (*)(io_context_t, long, struct iocb *[]))dlsym(RTLD_NEXT, "io_submit");
		if (real == NULL) {
			return -ENOSYS;
		}
	}
	for (i = 0; i < nr; i++) {
		if (ios[i]->aio_lio_opcode == IO_CMD_FDSYNC) {
			break;
		}
	}
	if (i == 0 && nr > 0) {
		return -EINVAL; /* the first iocb is a sync: refused, like the kernel does */
	}
	/* Submit up to the sync; the caller resubmits the rest, which then starts with it. */
	return real(ctx, i, ios);
}
