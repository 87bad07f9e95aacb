/*
 * checkpoint.h: the checkpoint policy.  When to write (async ticks, sync
 * writes, before eviction and at stop), how (pipelined page deltas), and
 * what to do with the answer (fenced: the stale copy is handed back to the
 * owner of the struct ckpt, which drops it).  Restoring a session takes its
 * ownership in Redis.  It knows sessions through store.h and payload.h
 * only: never session.c nor the worker.
 */
#ifndef STICKY_CHECKPOINT_H
#define STICKY_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "crc32c.h"
#include "sid.h"

struct pending;
struct redis;
struct redis_write;
struct redis_opts;
struct session;
struct sticky_app_def;
struct sticky_config;
struct store;
struct worker_stats;

/*
 * A worker's checkpoint context.  The owner fills the borrowed part with
 * ckpt_init() and may set the callbacks before ckpt_open(); the rest is
 * checkpoint.c's.
 */
struct ckpt {
	const struct sticky_config *cfg;  /* borrowed */
	const struct sticky_app_def *app; /* borrowed: codec, name */
	struct store *store;              /* borrowed: the sessions */
	struct worker_stats *stats;       /* borrowed: counters */
	const char *tag;                  /* borrowed: owner written in Redis */
	/*
	 * A session another worker owns now (a fenced write of ckpt_flush(),
	 * a takeover announcement): ours is stale and is handed to drop,
	 * which must take it out of the store (NULL: it stays there, marked
	 * clean; only tests leave it NULL).
	 * ckpt_write() hands its fenced sessions back in results instead.
	 */
	void (*drop)(struct session *s, void *arg);
	/* Is a request waiting?  A flush slice then stops early (NULL: no). */
	int (*pending)(void *arg);
	void *arg;                        /* of drop and pending */

	struct redis *redis;              /* NULL without checkpoints */
	uint32_t app_id;                  /* envelope app id */
	struct crc32c_shift crc_page;     /* CRC shift by one checkpoint page */
	unsigned stall_gen;  /* bumped when announcements may have been missed
	                        (and by the worker after a stall): every session
	                        then checks its epoch once before use */
	int replicas_short;  /* the last WAIT for replicas fell short */
	char redis_gen[64];               /* P"generation" as last seen */
	int64_t next_gen_check_ms;
	unsigned conn_gen;                /* redis_conn_gen() when last checked */
	int64_t next_scrub_ms;            /* the scrub's next slice */
	char scrub_next[SID_KEY_LEN + 1]; /* the scrub's cursor: a name */
	/*
	 * Async mode: the flush slice whose replies are not read yet
	 * (ckpt_land).  Its sessions' changes were taken when it was sent;
	 * a request may change them again meanwhile.
	 */
	struct pending *fl_p;
	struct redis_write *fl_rw;
	size_t fl_n;
	uint32_t fl_since;   /* its oldest change (store_age_ms); 0: none */
	int fl_failed;       /* the last slice landed with nothing written */
};

/* Zero ck and set its borrowed part (no callbacks); ckpt_open() next. */
void ckpt_init(struct ckpt *ck, const struct sticky_config *cfg,
    const struct sticky_app_def *app, struct store *store,
    struct worker_stats *stats, const char *tag);

/* The Redis options a configuration asks for (workers and stickyctl). */
void ckpt_redis_opts(const struct sticky_config *cfg, struct redis_opts *o);

/*
 * Connect ck's Redis client if configured (failures are retried).  From
 * then on the store tells ck before a session leaves it (store_on_remove):
 * ck must outlive the store's use.
 */
int ckpt_open(struct ckpt *ck);
/* Settle a slice still out (its sessions must still exist), disconnect. */
void ckpt_close(struct ckpt *ck);
/* Can Redis be used now?  0, or STICKY_EAGAIN (down, backing off, or
 * sync mode: the last WAIT for checkpoint_replicas fell short and a new
 * one still does, so the request should be refused before it runs). */
int ckpt_available(struct ckpt *ck);
/* 1 when checkpoints are configured. */
int ckpt_enabled(const struct ckpt *ck);

/*
 * The name of session key `key` in Redis and in the store (secret.h):
 * a keyed hash with secret_file, else the key itself.
 */
void ckpt_name(const struct ckpt *ck, const char *key,
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
int ckpt_restore(struct ckpt *ck, const char *key, int have_copy,
    struct session **out);
/*
 * Write these sessions now, pipelined (a delta Redis refuses is sent
 * again whole in the same call).  results (n of them, not NULL) gets each
 * one's outcome: 0, STICKY_EFENCED (another worker owns it now: the
 * session is left as it is, in the store, and the caller must drop it),
 * STICKY_EAGAIN or STICKY_EREDIS (still dirty, retried later).  Returns 0
 * or the connection's error.
 */
int ckpt_write(struct ckpt *ck, struct session **ss, size_t n, int *results);
/*
 * Sync mode with checkpoint_replicas > 0, right after ckpt_write() wrote s:
 * WAIT until that many replicas have it.  0 when they do (or nothing is
 * asked); STICKY_ETIMEDOUT or STICKY_EREDIS otherwise, and s is dirty
 * again, so it is written and waited for again before anything of it is
 * acknowledged (a replayed answer included).
 */
int ckpt_replicate(struct ckpt *ck, struct session *s);
/*
 * Write the sessions whose oldest change is checkpoint_interval old: a
 * small slice per call, so requests keep flowing between slices; or (all)
 * every dirty session (stop, reload, eviction).  Fenced sessions are
 * handed to ck->drop.  *next_due: when the next session falls due (0:
 * none dirty, or due now when it equals the past).  Returns 0,
 * STICKY_EAGAIN (Redis unreachable, backing off) or STICKY_EREDIS (writes
 * refused).
 */
int ckpt_flush(struct ckpt *ck, int all, int64_t *next_due);
/*
 * In async mode a slice of ckpt_flush() is sent and not waited for: its
 * replies come on ckpt_flight_fd() (-1: none out) and ckpt_land() reads
 * them and settles its sessions (written; fenced ones to ck->drop; failed
 * ones dirty again).  Any other use of Redis, or a session leaving the
 * store, lands it first (fenced sessions then stay, and check their epoch
 * in Redis before they are served again).
 */
int ckpt_flight_fd(const struct ckpt *ck);
void ckpt_land(struct ckpt *ck);
/* The same, fenced sessions kept (checked before use): safe mid-walk. */
void ckpt_land_kept(struct ckpt *ck);
/*
 * Sessions of the slice out that are not dirty again: sent, not known to
 * be saved (unsaved, as dirty ones are, for the status page); and the
 * slice's oldest change (0: none out).
 */
size_t ckpt_in_flight(const struct ckpt *ck, uint32_t *since);
/*
 * Is the epoch we hold still current?  0 yes (also after re-claiming a
 * session Redis lost or holds older state of: written now, new epoch),
 * STICKY_EFENCED no (a newer epoch: drop the copy), STICKY_EAGAIN Redis
 * unreachable.
 */
int ckpt_check_owner(struct ckpt *ck, struct session *s);
/*
 * Takeover announcements: keep the subscription open (reopening after a
 * failure), and hand every local copy another worker took over to
 * ck->drop.  ckpt_watch_fd returns the fd to poll (-1: none); call
 * ckpt_watch_read on its events.  *wait_ms is lowered to when a reopen
 * is due.
 */
int ckpt_watch_fd(struct ckpt *ck, int64_t *wait_ms);
void ckpt_watch_read(struct ckpt *ck);
/*
 * Takeover announcements are being received.  While they are not (the
 * subscription is down, or the ACL user may not subscribe), a session
 * cannot learn that it moved: each one checks its epoch before it is
 * served, as with fencing = strict.
 */
int ckpt_watching(const struct ckpt *ck);
/*
 * Nothing for the loop to do before the next request: checkpoints off, or
 * the Redis connection is the one whose generation was last checked (a
 * reconnection is followed by a check, and a rewrite of every session if
 * Redis lost data, before requests are served).
 */
int ckpt_settled(const struct ckpt *ck);
/* The announcements' socket while subscribed, else -1 (no side effects). */
int ckpt_sub_fd(const struct ckpt *ck);
/* Logout: forget the checkpoint (fenced by epoch). */
int ckpt_drop(struct ckpt *ck, struct session *s);

#endif /* STICKY_CHECKPOINT_H */
