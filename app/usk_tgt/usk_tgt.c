/* SPDX-License-Identifier: BSD-3-Clause */
/* usk_tgt: the generic target; everything is configured over JSON-RPC or with --json. */
#include <stdio.h>

#include "usk/event.h"
#include "usk/log.h"

static void
tgt_started(void *ctx)
{
	USK_NOTICELOG("usk_tgt is ready; configure it over JSON-RPC\n");
}

int
main(int argc, char **argv)
{
	struct usk_app_opts opts;
	int rc;

	usk_app_opts_init(&opts, sizeof(opts));
	opts.name = "usk_tgt";
	switch (usk_app_parse_args(argc, argv, &opts, NULL, NULL, NULL, NULL)) {
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
