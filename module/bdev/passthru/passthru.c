/* SPDX-License-Identifier: BSD-3-Clause */
/* passthru virtual bdev: forwards every I/O to the base bdev it claims (a template for vbdevs). */
#include <errno.h>
#include <stdio.h>

#include "usk/bdev_module.h"
#include "usk/json.h"

#include "passthru.h"
#include "vbdev_common.h"

static void pt_examine_config(struct usk_bdev *bdev);
static void pt_module_fini(void);

static struct usk_bdev_module g_passthru_module = {
	.name = "passthru",
	.examine_config = pt_examine_config,
	.module_fini = pt_module_fini,
};
USK_BDEV_MODULE_REGISTER(passthru, &g_passthru_module)

static int
pt_dump_info_json(void *ctx, json_t *obj)
{
	struct usk_vbdev *pt = ctx;

	usk_json_set(obj, "passthru",
		     json_pack("{s:s, s:s}", "name", pt->bdev.name, "base_bdev_name",
			       usk_bdev_get_name(pt->base)));
	return 0;
}

static void
pt_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	struct usk_vbdev *pt = bdev->ctxt;

	usk_json_config_add(config_array, "bdev_passthru_create",
			    json_pack("{s:s, s:s}", "base_bdev_name", usk_bdev_get_name(pt->base),
				      "name", bdev->name));
}

static const struct usk_bdev_fn_table g_pt_fn_table = {
	.destruct = usk_vbdev_destruct,
	.submit_request = usk_vbdev_submit_request,
	.io_type_supported = usk_vbdev_io_type_supported,
	.get_io_channel = usk_vbdev_get_io_channel,
	.dump_info_json = pt_dump_info_json,
	.write_config_json = pt_write_config_json,
};

static struct usk_vbdev_type g_pt_type = {
	.module = &g_passthru_module,
	.fn_table = &g_pt_fn_table,
	.product_name = "passthru",
	.name_param = "name",
	.base_param = "base_bdev_name",
	.vbdev_size = sizeof(struct usk_vbdev),
	.configs = TAILQ_HEAD_INITIALIZER(g_pt_type.configs),
};

static void
pt_examine_config(struct usk_bdev *bdev)
{
	usk_vbdev_examine(&g_pt_type, bdev);
}

static void
pt_module_fini(void)
{
	usk_vbdev_fini(&g_pt_type);
}

int
usk_bdev_passthru_create(const char *base_bdev_name, const char *name, char *err, size_t err_len)
{
	struct usk_vbdev_config *config;
	int rc;

	if (usk_vbdev_config_find(&g_pt_type, name) != NULL) {
		snprintf(err, err_len, "name: a passthru bdev named '%s' is already configured",
			 name);
		return -EEXIST;
	}
	rc = usk_vbdev_config_new(&g_pt_type, sizeof(*config), name, base_bdev_name, &config, err,
				  err_len);
	if (rc != 0) {
		return rc;
	}
	return usk_vbdev_config_add(&g_pt_type, config, err, err_len);
}

int
usk_bdev_passthru_delete(const char *name, usk_bdev_passthru_delete_cb cb_fn, void *cb_arg)
{
	return usk_vbdev_delete(&g_pt_type, name, cb_fn, cb_arg);
}
