/* SPDX-License-Identifier: BSD-3-Clause */
/* The "bdev" subsystem: initialises and finishes the bdev layer and writes its config. */
#include "usk/bdev.h"
#include "usk/event.h"

static void
bdev_subsystem_init_done(void *cb_arg, int rc)
{
	usk_subsystem_init_next(rc);
}

static void
bdev_subsystem_init(void)
{
	usk_bdev_initialize(bdev_subsystem_init_done, NULL);
}

static void
bdev_subsystem_fini_done(void *cb_arg)
{
	usk_subsystem_fini_next();
}

static void
bdev_subsystem_fini(void)
{
	usk_bdev_finish(bdev_subsystem_fini_done, NULL);
}

static struct usk_subsystem g_usk_subsystem_bdev = {
	.name = "bdev",
	.init = bdev_subsystem_init,
	.fini = bdev_subsystem_fini,
	.write_config_json = usk_bdev_subsystem_config_json,
};

USK_SUBSYSTEM_REGISTER(g_usk_subsystem_bdev)
