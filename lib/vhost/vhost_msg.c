/* SPDX-License-Identifier: BSD-3-Clause */
/* vhost-user message checks with no side effects: header, payload size and fd count per request. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "usk/log.h"
#include "usk_internal/vhost_user_names.h"
#include "vhost_internal.h"

/* The "vhost" log component (-L vhost), here so that the ring library alone links. */
USK_LOG_REGISTER_COMPONENT(vhost)

const char *
vhost_user_req_name(uint32_t request)
{
	return usk_vhost_user_req_name(request, "UNKNOWN");
}

void
vhost_escape(const void *data, size_t len, char *out, size_t out_len)
{
	const uint8_t *p = data;
	size_t o = 0, i;

	if (out_len == 0) {
		return;
	}
	for (i = 0; i < len && o + 5 < out_len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
			out[o++] = (char)p[i];
		} else {
			o += (size_t)snprintf(out + o, out_len - o, "\\x%02x", p[i]);
		}
	}
	out[o] = '\0';
}

/* Payload size rule of one request: exactly min (max == min), or a range. */
struct msg_rule {
	uint32_t min;
	uint32_t max;
	int8_t fds; /* fds required: 0, 1, -1 = SET_MEM_TABLE (1..8), -2 = vring fd (0 or 1) */
};

#define U64 sizeof(uint64_t)
static const struct msg_rule g_rules[USK_VHOST_USER_MAX] = {
	/* "Get" requests carry no input; some front-ends send a zero u64 anyway. */
	[USK_VHOST_USER_GET_FEATURES] = {0, U64, 0},
	[USK_VHOST_USER_SET_FEATURES] = {U64, U64, 0},
	[USK_VHOST_USER_SET_OWNER] = {0, U64, 0},
	[USK_VHOST_USER_RESET_OWNER] = {0, U64, 0},
	[USK_VHOST_USER_SET_MEM_TABLE] = {8 + sizeof(struct usk_vhost_user_memory_region),
					  sizeof(struct usk_vhost_user_memory), -1},
	[USK_VHOST_USER_SET_VRING_NUM] = {8, 8, 0},
	[USK_VHOST_USER_SET_VRING_ADDR] = {40, 40, 0},
	[USK_VHOST_USER_SET_VRING_BASE] = {8, 8, 0},
	[USK_VHOST_USER_GET_VRING_BASE] = {8, 8, 0},
	[USK_VHOST_USER_SET_VRING_KICK] = {U64, U64, -2},
	[USK_VHOST_USER_SET_VRING_CALL] = {U64, U64, -2},
	[USK_VHOST_USER_SET_VRING_ERR] = {U64, U64, -2},
	[USK_VHOST_USER_GET_PROTOCOL_FEATURES] = {0, U64, 0},
	[USK_VHOST_USER_SET_PROTOCOL_FEATURES] = {U64, U64, 0},
	[USK_VHOST_USER_GET_QUEUE_NUM] = {0, U64, 0},
	[USK_VHOST_USER_SET_VRING_ENABLE] = {8, 8, 0},
	[USK_VHOST_USER_GET_CONFIG] = {USK_VHOST_USER_CONFIG_HDR_SIZE,
				       sizeof(struct usk_vhost_user_config), 0},
	[USK_VHOST_USER_SET_CONFIG] = {USK_VHOST_USER_CONFIG_HDR_SIZE,
				       sizeof(struct usk_vhost_user_config), 0},
	[USK_VHOST_USER_GET_INFLIGHT_FD] = {USK_VHOST_USER_INFLIGHT_WIRE_SIZE,
					    sizeof(struct usk_vhost_user_inflight), 0},
	[USK_VHOST_USER_SET_INFLIGHT_FD] = {USK_VHOST_USER_INFLIGHT_WIRE_SIZE,
					    sizeof(struct usk_vhost_user_inflight), 1},
};

int
vhost_user_msg_check(const struct usk_vhost_user_hdr *hdr, int nfds, char *err, size_t err_len)
{
	const struct msg_rule *rule;

	if ((hdr->flags & USK_VHOST_USER_VERSION_MASK) != USK_VHOST_USER_VERSION ||
	    (hdr->flags & USK_VHOST_USER_REPLY_MASK)) {
		snprintf(err, err_len, "request %u: bad header flags 0x%x", hdr->request,
			 hdr->flags);
		return -EINVAL;
	}
	/* Every supported request allows some payload (max > 0); the others are zero rows. */
	if (hdr->request >= USK_VHOST_USER_MAX || g_rules[hdr->request].max == 0) {
		snprintf(err, err_len, "request %u (%s) is not supported", hdr->request,
			 vhost_user_req_name(hdr->request));
		return -ENOTSUP;
	}
	rule = &g_rules[hdr->request];
	if (hdr->size < rule->min || hdr->size > rule->max) {
		snprintf(err, err_len, "%s: payload of %u bytes (expected %u..%u)",
			 vhost_user_req_name(hdr->request), hdr->size, rule->min, rule->max);
		return -EINVAL;
	}
	switch (rule->fds) {
	case -1:
		if (nfds < 1 || nfds > USK_VHOST_USER_MEMORY_MAX_NREGIONS) {
			goto bad_fds;
		}
		break;
	case -2:
		if (nfds > 1) {
			goto bad_fds;
		}
		break;
	default:
		if (nfds != rule->fds) {
			goto bad_fds;
		}
		break;
	}
	return 0;
bad_fds:
	snprintf(err, err_len, "%s: %d file descriptors attached",
		 vhost_user_req_name(hdr->request), nfds);
	return -EINVAL;
}
