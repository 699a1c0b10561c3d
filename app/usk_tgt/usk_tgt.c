/* SPDX-License-Identifier: BSD-3-Clause */
/* usk_tgt: the generic target; everything is configured over JSON-RPC or with --json. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "usk/event.h"
#include "usk/log.h"
#include "usk/vhost.h"

static void
tgt_started(void *ctx)
{
	USK_NOTICELOG("usk_tgt is ready; configure it over JSON-RPC\n");
}

static int
tgt_parse_arg(int ch, char *arg)
{
	int rc;

	switch (ch) {
	case 'S':
		rc = usk_vhost_set_socket_dir(arg);
		if (rc != 0) {
			fprintf(stderr, "usk_tgt: -S %s: %s\n", arg, strerror(-rc));
			return rc;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

static void
tgt_usage(void)
{
	fprintf(stderr,
		" -S, --vhost-dir DIR       directory for vhost-user controller sockets "
		"(default %s)\n",
		USK_VHOST_DEFAULT_SOCKET_DIR);
}

static const struct option g_tgt_long_opts[] = {
	{"vhost-dir", required_argument, NULL, 'S'},
	{NULL, 0, NULL, 0},
};

int
main(int argc, char **argv)
{
	struct usk_app_opts opts;
	int rc;

	usk_app_opts_init(&opts, sizeof(opts));
	opts.name = "usk_tgt";
	switch (usk_app_parse_args(argc, argv, &opts, "S:", g_tgt_long_opts, tgt_parse_arg,
				   tgt_usage)) {
	case USK_APP_PARSE_ARGS_HELP:
		return 0;
	case USK_APP_PARSE_ARGS_FAIL:
		return 1;
	default:
		break;
	}
	rc = usk_app_start(&opts, tgt_started, NULL);
	usk_app_fini();
	if (rc != 0) {
		fprintf(stderr, "usk_tgt: exiting with error %d\n", rc);
	}
	return rc == 0 ? 0 : 1;
}
