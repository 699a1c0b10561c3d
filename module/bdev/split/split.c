/* SPDX-License-Identifier: BSD-3-Clause */
/* split virtual bdev: cuts a base bdev into split_count equal parts named <base>p0, <base>p1... */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "usk/bdev_module.h"
#include "usk/json.h"
#include "usk/log.h"
#include "usk/thread.h"
#include "usk/util.h"

#include "split.h"
#include "vbdev_common.h"

struct split_base;

/* What the user asked for; kept while the base is missing or after it was hot-removed. */
struct split_config {
	char *base_name;
	uint32_t split_count;
	uint64_t split_size_mb;
	struct split_base *live; /* NULL while the base is absent */
	TAILQ_ENTRY(split_config) link;
};

/* The claimed base and its parts; freed when the last part is destructed. */
struct split_base {
	struct split_config *config; /* NULL once deleted */
	struct usk_bdev *bdev;
	struct usk_bdev_desc *desc;
	struct usk_thread *desc_thread;
	uint32_t nparts;
	uint32_t alive; /* parts not yet destructed */
	struct split_part **parts;
	/* bdev_split_delete waiting for every part to go */
	void (*delete_cb)(void *cb_arg, int rc);
	void *delete_cb_arg;
};

struct split_part {
	struct usk_bdev bdev;
	struct split_base *base;
	uint64_t offset_blocks;
	uint32_t index;
};

static TAILQ_HEAD(, split_config) g_split_configs = TAILQ_HEAD_INITIALIZER(g_split_configs);

static void split_examine_config(struct usk_bdev *bdev);
static void split_module_fini(void);

static struct usk_bdev_module g_split_if = {
	.name = "split",
	.examine_config = split_examine_config,
	.module_fini = split_module_fini,
};
USK_BDEV_MODULE_REGISTER(split, &g_split_if)

/* ---------------------------------------------------------------- I/O */

static void
split_submit(struct usk_vbdev_channel *ch, struct usk_bdev_io *bdev_io)
{
	struct split_part *part = bdev_io->bdev->ctxt;

	usk_vbdev_submit_rc(
		bdev_io, usk_vbdev_forward_io(part->base->desc, ch->base_ch, bdev_io,
					      bdev_io->u.bdev.offset_blocks + part->offset_blocks,
					      usk_vbdev_io_done));
}

static void
split_get_buf_cb(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io, bool success)
{
	if (!success) {
		usk_bdev_io_complete(bdev_io, USK_BDEV_IO_STATUS_FAILED);
		return;
	}
	split_submit(usk_io_channel_get_ctx(_ch), bdev_io);
}

static void
split_submit_request(struct usk_io_channel *_ch, struct usk_bdev_io *bdev_io)
{
	if (usk_unlikely(usk_vbdev_read_needs_buf(bdev_io))) {
		usk_bdev_io_get_buf(bdev_io, split_get_buf_cb,
				    bdev_io->u.bdev.num_blocks * bdev_io->bdev->blocklen);
		return;
	}
	split_submit(usk_io_channel_get_ctx(_ch), bdev_io);
}

static bool
split_io_type_supported(void *ctx, enum usk_bdev_io_type type)
{
	struct split_part *part = ctx;

	return usk_vbdev_base_io_type_supported(part->base->bdev, type);
}

/* ---------------------------------------------------------------- channels */

static int
split_channel_create(void *io_device, void *ctx_buf)
{
	struct split_part *part = io_device;
	struct usk_vbdev_channel *ch = ctx_buf;

	ch->base_ch = usk_bdev_get_io_channel(part->base->desc);
	return ch->base_ch != NULL ? 0 : -ENOMEM;
}

/* ---------------------------------------------------------------- lifecycle */

static void
split_base_put(struct split_base *sb)
{
	if (--sb->alive != 0) {
		return;
	}
	if (sb->config != NULL) {
		sb->config->live = NULL;
	}
	usk_vbdev_release_base(sb->bdev, sb->desc, sb->desc_thread);
	if (sb->delete_cb != NULL) {
		sb->delete_cb(sb->delete_cb_arg, 0);
	}
	free(sb->parts);
	free(sb);
}

static void
split_io_device_unregistered(void *io_device)
{
	struct split_part *part = io_device;
	struct split_base *sb = part->base;

	sb->parts[part->index] = NULL;
	usk_bdev_destruct_done(&part->bdev, 0);
	free(part->bdev.name);
	free(part);
	split_base_put(sb);
}

static int
split_destruct(void *ctx)
{
	usk_io_device_unregister(ctx, split_io_device_unregistered);
	return 1;
}

static int
split_dump_info_json(void *ctx, json_t *obj)
{
	struct split_part *part = ctx;

	usk_json_set(obj, "split",
		     json_pack("{s:s, s:I}", "base_bdev", usk_bdev_get_name(part->base->bdev),
			       "offset_blocks", (json_int_t)part->offset_blocks));
	return 0;
}

static void
split_write_config_json(struct usk_bdev *bdev, json_t *config_array)
{
	struct split_part *part = bdev->ctxt;
	struct split_base *sb = part->base;
	json_t *params;

	/* One create call recreates every part: emit it with the first part only. */
	if (part->index != 0 || sb->config == NULL) {
		return;
	}
	params = json_pack("{s:s, s:i}", "base_bdev", sb->config->base_name, "split_count",
			   (int)sb->config->split_count);
	if (sb->config->split_size_mb != 0) {
		usk_json_set(params, "split_size_mb",
			     json_integer((json_int_t)sb->config->split_size_mb));
	}
	usk_json_config_add(config_array, "bdev_split_create", params);
}

static const struct usk_bdev_fn_table g_split_fn_table = {
	.destruct = split_destruct,
	.submit_request = split_submit_request,
	.io_type_supported = split_io_type_supported,
	.get_io_channel = usk_vbdev_get_io_channel,
	.dump_info_json = split_dump_info_json,
	.write_config_json = split_write_config_json,
};

static void
split_unregister_parts(struct split_base *sb)
{
	for (uint32_t i = 0; i < sb->nparts; i++) {
		if (sb->parts[i] != NULL) {
			usk_bdev_unregister(&sb->parts[i]->bdev, NULL, NULL);
		}
	}
}

static void
split_base_event_cb(enum usk_bdev_event_type type, struct usk_bdev *bdev, void *ctx)
{
	struct split_base *sb = ctx;

	if (type == USK_BDEV_EVENT_REMOVE) {
		/* Base hot-removed: the parts go too; the config stays for its return. */
		split_unregister_parts(sb);
	}
}

/* Part size in blocks for config on base, or 0 with err set. */
static uint64_t
split_part_blocks(const struct split_config *config, const struct usk_bdev *base, char *err,
		  size_t err_len)
{
	uint64_t blocks;

	if (config->split_size_mb != 0) {
		uint64_t bytes = config->split_size_mb * 1024 * 1024;

		if (bytes % base->blocklen != 0) {
			snprintf(err, err_len, "split_size_mb: not a multiple of the block size %u",
				 base->blocklen);
			return 0;
		}
		blocks = bytes / base->blocklen;
		if (blocks > base->blockcnt / config->split_count) {
			snprintf(err, err_len,
				 "split_size_mb: %u parts of %" PRIu64 " MiB exceed the "
				 "%" PRIu64 " MiB of %s",
				 config->split_count, config->split_size_mb,
				 base->blockcnt * base->blocklen / (1024 * 1024), base->name);
			return 0;
		}
		return blocks;
	}
	blocks = base->blockcnt / config->split_count;
	if (blocks == 0) {
		snprintf(err, err_len, "split_count: %u is more than the %" PRIu64 " blocks of %s",
			 config->split_count, base->blockcnt, base->name);
	}
	return blocks;
}

static int
split_build(struct split_config *config, json_t *names, char *err, size_t err_len)
{
	struct split_base *sb;
	struct usk_bdev *base;
	uint64_t part_blocks;
	int rc;

	base = usk_bdev_get_by_name(config->base_name);
	if (base == NULL) {
		snprintf(err, err_len, "base_bdev: no bdev named '%s'", config->base_name);
		return -ENODEV;
	}
	part_blocks = split_part_blocks(config, base, err, err_len);
	if (part_blocks == 0) {
		return -EINVAL;
	}
	for (uint32_t i = 0; i < config->split_count; i++) {
		char name[USK_BDEV_MAX_NAME_LEN];

		snprintf(name, sizeof(name), "%sp%u", config->base_name, i);
		if (usk_bdev_get_by_name(name) != NULL) {
			snprintf(err, err_len, "base_bdev: part name '%s' is already taken", name);
			return -EEXIST;
		}
	}
	sb = calloc(1, sizeof(*sb));
	if (sb == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	sb->parts = calloc(config->split_count, sizeof(*sb->parts));
	if (sb->parts == NULL) {
		free(sb);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	rc = usk_vbdev_open_claim_base(config->base_name, "base_bdev", &g_split_if,
				       split_base_event_cb, sb, &sb->desc, &sb->desc_thread, err,
				       err_len);
	if (rc != 0) {
		goto err_free;
	}
	sb->bdev = base;
	sb->config = config;
	sb->nparts = config->split_count;
	config->live = sb;

	/* alive holds one extra reference while parts are being registered. */
	sb->alive = 1;
	for (uint32_t i = 0; i < config->split_count; i++) {
		struct split_part *part = calloc(1, sizeof(*part));

		if (part == NULL ||
		    (part->bdev.name = usk_sprintf_alloc("%sp%u", config->base_name, i)) == NULL) {
			free(part);
			USK_ERRLOG("split %s: out of memory for part %u\n", config->base_name, i);
			continue;
		}
		part->base = sb;
		part->index = i;
		part->offset_blocks = (uint64_t)i * part_blocks;
		part->bdev.ctxt = part;
		part->bdev.product_name = "Split Disk";
		part->bdev.module = &g_split_if;
		part->bdev.fn_table = &g_split_fn_table;
		usk_vbdev_copy_geometry(&part->bdev, base);
		part->bdev.blockcnt = part_blocks;
		rc = usk_io_device_register(part, split_channel_create, usk_vbdev_channel_destroy,
					    sizeof(struct usk_vbdev_channel), part->bdev.name);
		if (rc == 0) {
			rc = usk_bdev_register(&part->bdev);
			if (rc != 0) {
				usk_io_device_unregister(part, NULL);
			}
		}
		if (rc != 0) {
			USK_ERRLOG("split %s: cannot register %s: %s\n", config->base_name,
				   part->bdev.name, strerror(-rc));
			free(part->bdev.name);
			free(part);
			continue;
		}
		sb->parts[i] = part;
		sb->alive++;
		if (names != NULL) {
			usk_json_append(names, json_string(part->bdev.name));
		}
	}
	split_base_put(sb);
	return 0;

err_free:
	free(sb->parts);
	free(sb);
	return rc;
}

static void
split_examine_config(struct usk_bdev *bdev)
{
	struct split_config *config;
	char err[256];

	TAILQ_FOREACH(config, &g_split_configs, link) {
		if (config->live == NULL &&
		    strcmp(config->base_name, usk_bdev_get_name(bdev)) == 0) {
			if (split_build(config, NULL, err, sizeof(err)) != 0) {
				USK_ERRLOG("split %s: %s\n", config->base_name, err);
			}
		}
	}
	usk_bdev_module_examine_done(&g_split_if);
}

static void
split_config_free(struct split_config *config)
{
	free(config->base_name);
	free(config);
}

static void
split_module_fini(void)
{
	struct split_config *config;

	while ((config = TAILQ_FIRST(&g_split_configs)) != NULL) {
		TAILQ_REMOVE(&g_split_configs, config, link);
		split_config_free(config);
	}
}

int
usk_bdev_split_create(const char *base_bdev, uint32_t split_count, uint64_t split_size_mb,
		      json_t **names, char *err, size_t err_len)
{
	struct split_config *config;
	json_t *arr = NULL;
	int rc;

	if (split_count == 0) {
		snprintf(err, err_len, "split_count: must be at least 1");
		return -EINVAL;
	}
	if (split_size_mb > UINT64_MAX / (1024 * 1024)) {
		snprintf(err, err_len, "split_size_mb: too large");
		return -EINVAL;
	}
	TAILQ_FOREACH(config, &g_split_configs, link) {
		if (strcmp(config->base_name, base_bdev) == 0) {
			snprintf(err, err_len, "base_bdev: '%s' is already split", base_bdev);
			return -EEXIST;
		}
	}
	config = calloc(1, sizeof(*config));
	if (config == NULL || (config->base_name = strdup(base_bdev)) == NULL) {
		free(config);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	config->split_count = split_count;
	config->split_size_mb = split_size_mb;
	if (names != NULL) {
		arr = json_array();
	}
	if (usk_bdev_get_by_name(base_bdev) != NULL) {
		rc = split_build(config, arr, err, err_len);
		if (rc != 0) {
			json_decref(arr);
			split_config_free(config);
			return rc;
		}
	} else {
		USK_NOTICELOG("split: base bdev %s not present yet, creation deferred\n",
			      base_bdev);
	}
	TAILQ_INSERT_TAIL(&g_split_configs, config, link);
	if (names != NULL) {
		*names = arr;
	}
	return 0;
}

int
usk_bdev_split_delete(const char *base_bdev, usk_bdev_split_delete_cb cb_fn, void *cb_arg)
{
	struct split_config *config;
	struct split_base *sb;

	TAILQ_FOREACH(config, &g_split_configs, link) {
		if (strcmp(config->base_name, base_bdev) == 0) {
			break;
		}
	}
	if (config == NULL) {
		return -ENODEV;
	}
	TAILQ_REMOVE(&g_split_configs, config, link);
	sb = config->live;
	split_config_free(config);
	if (sb == NULL) {
		if (cb_fn != NULL) {
			cb_fn(cb_arg, 0);
		}
		return 0;
	}
	sb->config = NULL;
	sb->delete_cb = cb_fn;
	sb->delete_cb_arg = cb_arg;
	split_unregister_parts(sb);
	return 0;
}
