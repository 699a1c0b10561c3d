/* SPDX-License-Identifier: BSD-3-Clause */
/* Knobs of the fake librados / librbd used by rbd_ut. */
#ifndef RBD_FAKE_H
#define RBD_FAKE_H
#include <stdint.h>
#include <pthread.h>

/* rados_connect returns this (0: connects). */
extern int g_fake_connect_rc;
/* Next aio completes with this instead of its normal result (0: normal). Consumed once. */
extern int g_fake_next_io_rc;
/* Thread ids that ran aio completion callbacks (the last one). */
extern pthread_t g_fake_cb_thread;
/* Create an image "pool/name" of size bytes (zeroed). */
void fake_image_add(const char *pool, const char *name, uint64_t size);
uint8_t *fake_image_data(const char *pool, const char *name);
uint64_t fake_image_size(const char *pool, const char *name);
int fake_open_images(void);
void fake_reset(void);
#endif
