/* SPDX-License-Identifier: BSD-3-Clause */
/* Socket implementation registry: the default implementation and each one's options. */
#include <errno.h>
#include <string.h>

#include "usk/util.h"
#include "sock_internal.h"

/* Buffer ring defaults: 64 x 16 KiB = 1 MiB per connection of a uring group (the kernel's
 * receive buffer holds the rest). A 16 KiB buffer holds a 4 KiB write capsule several times
 * over, and a 128 KiB H2CData payload lands in 8 buffers. */
#define SOCK_URING_DEFAULT_BUF_COUNT 64
#define SOCK_URING_DEFAULT_BUF_SIZE  16384
/* posix MSG_ZEROCOPY: only sends of at least this many bytes (pinning pages and reading the
 * error queue costs more than copying a few KiB) */
#define SOCK_ZEROCOPY_DEFAULT_THRESHOLD 65536

struct sock_impl {
	const char *name;
	struct usk_sock_impl_opts opts;
};

static struct sock_impl g_impls[] = {
	{.name = "posix",
	 .opts = {.opts_size = sizeof(struct usk_sock_impl_opts),
		  .zerocopy_threshold = SOCK_ZEROCOPY_DEFAULT_THRESHOLD}},
	{.name = "uring",
	 .opts = {.opts_size = sizeof(struct usk_sock_impl_opts),
		  .buf_count = SOCK_URING_DEFAULT_BUF_COUNT,
		  .buf_size = SOCK_URING_DEFAULT_BUF_SIZE}},
};

/* See docs/performance.md for why posix is the default. */
static const char *g_default_impl = "posix";

static struct sock_impl *
impl_find(const char *name)
{
	size_t i;

	if (name == NULL) {
		return NULL;
	}
	for (i = 0; i < USK_COUNTOF(g_impls); i++) {
		if (strcmp(g_impls[i].name, name) == 0) {
			return &g_impls[i];
		}
	}
	return NULL;
}

const struct usk_sock_impl_opts *
sock_impl_opts(const char *name)
{
	struct sock_impl *impl = impl_find(name);

	return impl != NULL ? &impl->opts : NULL;
}

int
usk_sock_set_default_impl(const char *name)
{
	struct sock_impl *impl = impl_find(name);

	if (impl == NULL) {
		return -EINVAL;
	}
	g_default_impl = impl->name;
	return 0;
}

const char *
usk_sock_get_default_impl(void)
{
	return g_default_impl;
}

bool
usk_sock_impl_is_available(const char *name)
{
	if (impl_find(name) == NULL) {
		return false;
	}
	return strcmp(name, "uring") != 0 || sock_uring_available();
}

int
usk_sock_impl_get_opts(const char *name, struct usk_sock_impl_opts *opts, size_t opts_size)
{
	struct sock_impl *impl = impl_find(name);

	if (impl == NULL || opts == NULL) {
		return -EINVAL;
	}
	memcpy(opts, &impl->opts, USK_MIN(opts_size, sizeof(impl->opts)));
	opts->opts_size = opts_size;
	return 0;
}

int
usk_sock_impl_set_opts(const char *name, const struct usk_sock_impl_opts *opts)
{
	struct sock_impl *impl = impl_find(name);
	struct usk_sock_impl_opts o;

	if (impl == NULL || opts == NULL) {
		return -EINVAL;
	}
	o = impl->opts;
	memcpy(&o, opts, USK_MIN(opts->opts_size, sizeof(o)));
	o.opts_size = sizeof(o);
	if (strcmp(impl->name, "uring") == 0) {
		if (o.buf_count < 16 || o.buf_count > 32768 ||
		    (o.buf_count & (o.buf_count - 1)) != 0 || o.buf_size < 4096 ||
		    o.buf_size > 1048576) {
			return -EINVAL;
		}
		/* zero-copy sends are posix only */
		o.enable_zerocopy_send_server = false;
	} else {
		/* posix has no buffer ring */
		o.buf_count = 0;
		o.buf_size = 0;
	}
	if (o.recv_buf_size > (1u << 30) || o.send_buf_size > (1u << 30)) {
		return -EINVAL;
	}
	impl->opts = o;
	return 0;
}
