/*
 * checkpoint.h: the checkpoint policy.  When to write (async ticks, sync
 * writes, before eviction and at stop), how (pipelined page deltas), and
 * what to do with the answer (fenced: drop the stale copy).  Restoring a
 * session takes its ownership in Redis.
 */
#ifndef STICKY_CHECKPOINT_H
#define STICKY_CHECKPOINT_H

#include <stdint.h>

#include "sid.h"

struct worker;
struct session;
struct sticky_config;
struct redis_opts;

/* The Redis options a configuration asks for (workers and stickyctl). */
void ckpt_redis_opts(const struct sticky_config *cfg, struct redis_opts *o);

/* Connect the worker's Redis client if configured (failures are retried). */
int ckpt_open(struct worker *w);
void ckpt_close(struct worker *w);
/* Can Redis be used now?  0, or STICKY_EAGAIN (down, backing off, or
 * sync mode: the last WAIT for checkpoint_replicas fell short and a new
 * one still does, so the request should be refused before it runs). */
int ckpt_available(struct worker *w);
/* 1 when checkpoints are configured. */
int ckpt_enabled(const struct worker *w);

/*
 * The name of session key `key` in Redis and in the store (secret.h):
 * a keyed hash with secret_file, else the key itself.
 */
void ckpt_name(const struct worker *w, const char *key,
    char out[SID_KEY_LEN + 1]);
/*
 * Restore session `key` (the cookie's key, not its name) from its
 * checkpoint and take ownership, moving it from an older secret's name
 * first.  On success *out is inserted in the store.  STICKY_ENOENT: no
 * checkpoint (counted as a lost session unless have_copy: this worker
 * holds a copy); STICKY_EAGAIN: Redis unreachable (answer 503);
 * STICKY_ECORRUPT and friends: the checkpoint was refused (corrupt, or
 * its MAC missing or wrong) and set aside, never decoded.
 */
int ckpt_restore(struct worker *w, const char *key, int have_copy,
    struct session **out);
/*
 * Write these sessions now, pipelined.  results (may be NULL) gets each
 * one's outcome: 0, STICKY_EFENCED (the session was dropped from the
 * store and freed: do not touch it), STICKY_EAGAIN or STICKY_EREDIS
 * (still dirty, retried later).  Returns 0 or the connection's error.
 */
int ckpt_write(struct worker *w, struct session **ss, size_t n, int *results);
/*
 * Sync mode with checkpoint_replicas > 0, right after ckpt_write() wrote s:
 * WAIT until that many replicas have it.  0 when they do (or nothing is
 * asked); STICKY_ETIMEDOUT or STICKY_EREDIS otherwise, and s is dirty
 * again, so it is written and waited for again before anything of it is
 * acknowledged (a replayed answer included).
 */
int ckpt_replicate(struct worker *w, struct session *s);
/*
 * Write the sessions whose oldest change is checkpoint_interval old: a
 * small slice per call, so requests keep flowing between slices; or (all)
 * every dirty session (stop, reload, eviction).  Fenced sessions are
 * dropped.  *next_due: when the next session falls due (0: none dirty, or
 * due now when it equals the past).  Returns 0, STICKY_EAGAIN (Redis
 * unreachable, backing off) or STICKY_EREDIS (writes refused).
 */
int ckpt_flush(struct worker *w, int all, int64_t *next_due);
/*
 * Is the epoch we hold still current?  0 yes (also after re-claiming a
 * session Redis lost or holds older state of: written now, new epoch),
 * STICKY_EFENCED no (a newer epoch: drop the copy), STICKY_EAGAIN Redis
 * unreachable.
 */
int ckpt_check_owner(struct worker *w, struct session *s);
/*
 * Takeover announcements: keep the subscription open (reopening after a
 * failure), and drop every local copy another worker took over.  sub_fd
 * is the fd to poll (-1: none); call ckpt_watch_read on its events.
 * *wait_ms is lowered to when a reopen is due.
 */
int ckpt_watch_fd(struct worker *w, int64_t *wait_ms);
void ckpt_watch_read(struct worker *w);
/*
 * Takeover announcements are being received.  While they are not (the
 * subscription is down, or the ACL user may not subscribe), a session
 * cannot learn that it moved: each one checks its epoch before it is
 * served, as with fencing = strict.
 */
int ckpt_watching(const struct worker *w);
/* Logout: forget the checkpoint (fenced by epoch). */
int ckpt_drop(struct worker *w, struct session *s);

#endif /* STICKY_CHECKPOINT_H */
