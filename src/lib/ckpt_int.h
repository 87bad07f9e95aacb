/*
 * ckpt_int.h: what checkpoint.c (when to write, restore, fencing) and
 * ckpt_write.c (how a write is sent and settled) share.  Not for anyone
 * else: the checkpoint API is checkpoint.h.
 */
#ifndef STICKY_CKPT_INT_H
#define STICKY_CKPT_INT_H

#include <stddef.h>

#include "sticky/sticky.h"

struct ckpt;
struct session;
struct sticky_buf;

#define BATCH_MAX 64 /* sessions per pipeline */

/* Connected now?  Maps every failure to STICKY_EAGAIN. */
int ckpt_ensure_conn(struct ckpt *ck);
/* The codec exposes this state in place (no base copy needed). */
int ckpt_has_view(const struct ckpt *ck, const struct session *s);
/* Keep b (len bytes, app_len of them the app's) as the next delta's base. */
int ckpt_keep_base(const struct ckpt *ck, struct session *s,
    struct sticky_buf *b, size_t len, size_t app_len);

/* Write ss[0..n) (n <= BATCH_MAX), waiting for the replies. */
int ckpt_write_some(struct ckpt *ck, struct session **ss, size_t n,
    int *results);
/*
 * Send ss[0..n) (n <= BATCH_MAX) as the slice out, not waiting.  0, or
 * STICKY_EAGAIN (Redis unreachable: nothing out), STICKY_EREDIS (no write
 * could be built), STICKY_ENOMEM.
 */
int ckpt_send(struct ckpt *ck, struct session **ss, size_t n);
/*
 * Read the slice's replies and settle it (nothing out: nothing to do).
 * loop: called from the worker's loop, where a fenced session is handed
 * back at once; else it is kept and checks its epoch before use.
 */
void ckpt_land_in(struct ckpt *ck, int loop);
/* ckpt_land_in(arg, 0): the hook of redis.h and store.h. */
void ckpt_land_hook(void *arg);
/* A session another worker owns now: the owner of ck drops it. */
void ckpt_hand_back(struct ckpt *ck, struct session *s);

#endif /* STICKY_CKPT_INT_H */
