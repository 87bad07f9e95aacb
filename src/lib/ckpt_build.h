/*
 * ckpt_build.h: what one checkpoint write sends (checkpoint.c's helper):
 * the payload (encoded, or a codec view in place plus the replay log), the
 * pages that changed since the last write (delta runs), the payload's CRC
 * and MAC folded from per-page CRCs and per-block tags cached in the
 * session, and the envelope header.  Internal to checkpoint.c.
 */
#ifndef STICKY_CKPT_BUILD_H
#define STICKY_CKPT_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "checkpoint.h"
#include "delta.h"
#include "envelope.h"
#include "redis.h"
#include "secret.h"
#include "sid.h"
#include "store.h"

#define RUNS_MAX 64 /* delta runs per write; more: write in full */

/* What one session's write needs until its reply is read. */
struct pending {
	struct session *s;
	/* the whole payload; on the view path only the replay log section */
	struct sticky_buf payload;
	const unsigned char *app; /* view path: the state's bytes in place */
	size_t app_len;
	size_t len;               /* the whole payload's length */
	uint32_t meta_len;        /* its replay log section */
	unsigned char *chg;       /* per full page: read afresh (MAC tags) */
	unsigned char *tag;       /* MAC tags of the full blocks (secret.h) */
	size_t ntag;
	char key[SID_KEY_LEN + 1]; /* the session's key as text */
	unsigned char hdr[ENV_HDR_LEN];
	unsigned char mac[SECRET_MAC_LEN];
	struct delta_run runs[RUNS_MAX + 1];
	uint32_t *page_crc; /* of payload's full pages, for the next write */
	size_t npage_crc;
	/* The session's changes this write took (given back if it fails). */
	uint64_t *taken;    /* touched pages */
	size_t ntaken;
	uint32_t taken_since; /* dirty since */
	uint8_t taken_flags;  /* SESS_META_DIRTY, SESS_TOUCH_ALL, SESS_TOUCHED */
};

/*
 * Build p's write of p->s into rw (full: no delta).  0, or an error (the
 * write is not sent; p's buffers are still freed by ckpt_build_free).
 */
int ckpt_build(struct ckpt *ck, struct pending *p, struct redis_write *rw,
    int full);
/* Redis refused the delta: send the payload whole (one piece). */
int ckpt_build_flatten(struct pending *p, struct redis_write *rw);
/* Bytes a write puts on the wire (header, and runs or the payload). */
size_t ckpt_build_bytes(const struct redis_write *rw);
/* Free what ckpt_build allocated in p (what settle did not take). */
void ckpt_build_free(struct pending *p);

#endif /* STICKY_CKPT_BUILD_H */
