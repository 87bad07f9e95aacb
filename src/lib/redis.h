/*
 * redis.h: the checkpoint store, the only module that includes hiredis:
 * redis.c (connection with timeouts and reconnect backoff, AUTH/SELECT),
 * redis_scripts.c (the Lua scripts that make every ownership change and
 * checkpoint write atomic), redis_ckpt.c (checkpoint operations),
 * redis_sub.c (takeover announcements), redis_scan.c (stickyctl's
 * iteration); redis_int.h is what they share.
 *
 * Keys, for session key K under prefix P (the {K} hash tag keeps both in
 * one Redis Cluster slot, as the scripts need):
 *   P{K}:s   the checkpoint: envelope header + payload (a string)
 *   P{K}:o   the owner record: hash {epoch, owner}; owner "-" after logout
 *   P{K}:bad:<unix time>  a checkpoint set aside after failing its checks
 * Both live keys carry the configured TTL, refreshed by every write.
 *
 * Takeover and drop announce the new epoch on the Pub/Sub channel
 * P"takeover" (see redis_sub_open()).  With ACLs, the user needs
 * &P"takeover" besides ~P*; without it SUBSCRIBE fails with NOPERM and the
 * scripts skip the announcement (they still take over / drop).  Channels
 * are not per database: deployments sharing a Redis with the same prefix
 * hear each other.  Subscribers see session keys, as the keyspace does.
 */
#ifndef STICKY_REDIS_H
#define STICKY_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "delta.h"
#include "internal.h"

struct redis_opts {
	const char *addr;     /* "host:port", "host" (port 6379) or "unix:/path" */
	const char *user;     /* ACL user, or NULL */
	const char *password; /* or NULL */
	int db;
	int connect_timeout_ms; /* 0: 1000 */
	int command_timeout_ms; /* each read/write of a command; 0: 1000 */
	const char *prefix; /* e.g. "sticky:" */
	long ttl_s;         /* TTL of live keys; 0: none */
	int backoff_min_ms; /* first wait after a failure (default 50) */
	int backoff_max_ms; /* longest wait (default 2000) */
};

struct redis;

/* Copies the options; does not connect.  STICKY_EINVAL for a bad addr,
 * a user without password, negative values or backoff_min > backoff_max.
 * Session keys everywhere below must be 1..512 bytes without braces or
 * control characters, owners 1..64 bytes other than "-" without spaces or
 * control characters (STICKY_EINVAL). */
int redis_new(struct redis **out, const struct redis_opts *o);
void redis_free(struct redis *r); /* closes both connections */
/*
 * Connect (AUTH, SELECT, SCRIPT LOAD) unless connected.  STICKY_EAGAIN
 * while backing off after a failure, STICKY_EREDIS when this attempt
 * failed (and starts the next backoff).
 */
int redis_connect(struct redis *r);
int redis_connected(const struct redis *r);
/* Drop the command connection (e.g. after fork, or a timeout left it
 * unusable); redis_sub_close() drops the other one. */
void redis_disconnect(struct redis *r);
/* Last error, for logs (never contains key names or values). */
const char *redis_errstr(const struct redis *r);
/* Milliseconds until the next connection attempt is allowed (0: now). */
int64_t redis_backoff_left_ms(const struct redis *r);

/*
 * Restore with takeover, atomically: if a checkpoint exists, increment the
 * epoch, record `owner`, refresh TTLs and return the new epoch and the
 * checkpoint bytes (header + payload) in blob (reset first).
 * STICKY_ENOENT when there is no checkpoint (or the session was logged
 * out); nothing is created.
 */
int redis_takeover(struct redis *r, const char *key, const char *owner,
    uint64_t *epoch, struct sticky_buf *blob);
/* Create the owner record of a new session with epoch 1; STICKY_EFENCED
 * if one exists already. */
int redis_claim(struct redis *r, const char *key, const char *owner,
    uint64_t *epoch);
/* Current epoch and owner; STICKY_ENOENT if there is no owner record,
 * STICKY_EINVAL if the owner does not fit in ownerlen. */
int redis_owner(struct redis *r, const char *key, uint64_t *epoch,
    char *owner, size_t ownerlen);

/* One checkpoint write, for redis_write_batch(). */
struct redis_write {
	const char *key;
	const char *owner;
	uint64_t epoch;                /* the writer's epoch: the fence */
	const unsigned char *hdr;      /* the new envelope header */
	const unsigned char *prev_hdr; /* delta: the header Redis holds now; NULL: full write */
	const unsigned char *payload;  /* the whole new payload */
	size_t payload_len;
	/*
	 * Optional, deltas only: the payload in two pieces.  Bytes from
	 * tail_off on are read from tail (tail[0] is payload byte tail_off),
	 * the ones before from payload; no run may straddle tail_off.  Lets
	 * a checkpoint send a state's bytes in place and its replay log from
	 * a buffer, with no copy of the state.
	 */
	const unsigned char *tail;
	size_t tail_off;
	const struct delta_run *runs; /* delta: payload ranges to send */
	size_t nruns;
	int result; /* out: 0 written, STICKY_EFENCED, STICKY_EAGAIN (delta
	               refused: Redis does not hold prev_hdr, or the payload
	               shrank; write in full), STICKY_EREDIS, STICKY_EINVAL
	               (not sent: hdr lengths != payload_len, runs unsorted,
	               outside the payload or not covering its growth),
	               STICKY_ENOMEM */
};

/*
 * Send every write in one pipeline, then read every reply.  Each write is
 * applied atomically and only if the owner record's epoch equals
 * w->epoch (if the record is missing, e.g. after Redis lost its data, it
 * is recreated with w->epoch, full writes only).  Returns 0 when every
 * reply was read (see each result), STICKY_EREDIS when the connection
 * failed (every unanswered result is STICKY_EREDIS), STICKY_EAGAIN while
 * backing off (nothing sent, every result STICKY_EREDIS).
 */
int redis_write_batch(struct redis *r, struct redis_write *ws, size_t n);

/* Logout: if epoch still matches (or the owner record is missing, e.g.
 * evicted: logout must win), delete the checkpoint and tombstone the
 * owner record (epoch+1, owner "-").  STICKY_EFENCED otherwise. */
int redis_drop(struct redis *r, const char *key, uint64_t epoch);
/* Keep a bad checkpoint for inspection: rename it to P{K}:bad:<time>
 * (7 days TTL; a second one in the same second replaces the first).
 * STICKY_ENOENT if there is no checkpoint. */
int redis_set_aside(struct redis *r, const char *key);

/* ---- for stickyctl: raw access by session key ---- */
/* Iterate session keys (SCAN MATCH P{*}:s); *cursor starts and ends at 0. */
int redis_scan(struct redis *r, uint64_t *cursor, char ***keys, size_t *n);
void redis_scan_free(char **keys, size_t n);
/* The checkpoint bytes into blob (reset first); STICKY_ENOENT if none. */
int redis_get(struct redis *r, const char *key, struct sticky_buf *blob);
/* Delete checkpoint and owner record unconditionally; STICKY_ENOENT if
 * neither existed. */
int redis_delete(struct redis *r, const char *key);

/* ---- takeover announcements: a second, subscribed connection ---- */
/*
 * Announcements are "<new epoch> <owner> <key>", published by the takeover
 * and drop scripts (owner "-" for a drop) atomically with the change.
 *
 * Connect (same address, AUTH, SELECT and timeouts as the command
 * connection, which stays independent), SUBSCRIBE P"takeover" and wait for
 * the confirmation, then make the fd non-blocking.  0 (also when open
 * already), STICKY_EAGAIN while its own backoff runs, STICKY_EREDIS when
 * this attempt failed (starts the backoff; redis_errstr() says why).
 * Announcements published before it returns 0 are not seen, and some
 * right after it may already be buffered: call redis_sub_read() once
 * after every successful open, without waiting for POLLIN.
 */
int redis_sub_open(struct redis *r);
/* The fd to poll for POLLIN while open, or -1. */
int redis_sub_fd(const struct redis *r);
/* Milliseconds until redis_sub_open() may try again (0: now). */
int64_t redis_sub_backoff_left_ms(const struct redis *r);
typedef void (*redis_sub_fn)(const char *key, uint64_t epoch,
    const char *owner, void *arg);
/*
 * Read what is available without blocking, until the socket is drained
 * (at most 64 read(2)s of 16 KiB), and call cb for each well-formed
 * announcement, in order; anything else is ignored (logged at debug,
 * without its contents).  0 when it all came in one read (also when
 * nothing was pending); 1 when a backlog took several reads or was not
 * drained: the reader was stopped or busy, and Redis may hold more in its
 * output buffer, so the caller should verify what it holds;
 * STICKY_ESTATE when not
 * open; STICKY_EREDIS when the connection broke, e.g. the server went away
 * or dropped us for a full output buffer, or sent garbage: it is closed
 * (fd -1), its backoff started, and announcements may have been missed.
 * cb may use the command connection and may call redis_sub_close()
 * (reading stops), but must not call redis_free().
 */
int redis_sub_read(struct redis *r, redis_sub_fn cb, void *arg);
/* Close the subscribed connection (e.g. after fork); the backoff stays. */
void redis_sub_close(struct redis *r);

#endif /* STICKY_REDIS_H */
