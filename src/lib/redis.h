/*
 * redis.h: the checkpoint store, the only module that includes hiredis:
 * redis.c (connection with timeouts and reconnect backoff, AUTH/SELECT),
 * redis_scripts.c (the Lua scripts that make every ownership change and
 * checkpoint write atomic), redis_ckpt.c (checkpoint operations),
 * redis_write.c (checkpoint writes),
 * redis_sub.c (takeover announcements), redis_scan.c (stickyctl's
 * iteration); redis_int.h is what they share.
 *
 * Keys, for session name N under prefix P (the {N} hash tag keeps a
 * session's keys in one Redis Cluster slot, as the scripts need).  N is
 * what the callers pass as "key": with secret_file, a keyed hash of the
 * session key (secret.h), never the key itself; without, the session key.
 *   P{N}:u   the session's one key, a string: the owner record (69 bytes,
 *            fixed width: epoch, owner ("-" after logout), the
 *            checkpoint's MAC (secret.h), if any), then the checkpoint
 *            (envelope header + payload), absent before the first write
 *            and after logout.  Layout: redis_scripts.c.  It carries the
 *            configured TTL, refreshed by every write.
 *   P{N}:bad:<unix time>  a checkpoint set aside after failing its checks
 *   P"generation"  a random token: a change means Redis lost data
 * Earlier releases kept a session in two keys, P{N}:s (the checkpoint)
 * and P{N}:o (a hash: epoch, owner, mac); the scripts move such a session
 * into P{N}:u the first time anything here touches it.
 *
 * Takeover and drop announce the new epoch on the Pub/Sub channel
 * P"takeover" (see redis_sub_open()).  With ACLs, the user needs
 * &P"takeover" besides ~P*; without it SUBSCRIBE fails with NOPERM and the
 * scripts skip the announcement (they still take over / drop).  Channels
 * are not per database: deployments sharing a Redis with the same prefix
 * hear each other.  Subscribers see session names, as the keyspace does.
 */
#ifndef STICKY_REDIS_H
#define STICKY_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "delta.h"
#include "internal.h"

struct redis_opts {
	/*
	 * "host:port", "host" (port 6379), "unix:/path", or
	 * "sentinel://host[:port][,host[:port]...]/mastername" (port 26379):
	 * the master is whatever the Sentinels name (see redis_sentinel.c).
	 */
	const char *addr;
	const char *user;     /* ACL user, or NULL */
	const char *password; /* or NULL */
	const char *sentinel_user;     /* AUTH on the Sentinels, or NULL */
	const char *sentinel_password; /* or NULL */
	int db;
	int connect_timeout_ms; /* 0: 1000 */
	int command_timeout_ms; /* each read/write of a command; 0: 1000 */
	const char *prefix; /* e.g. "sticky:" */
	long ttl_s;         /* TTL of live keys; 0: none */
	int backoff_min_ms; /* first wait after a failure (default 50) */
	int backoff_max_ms; /* longest wait (default 2000) */
};

struct redis;

#define REDIS_MAC_MAX 16 /* longest MAC stored with a checkpoint */

/* Copies the options; does not connect.  STICKY_EINVAL for a bad addr,
 * a user without password, negative values or backoff_min > backoff_max.
 * Session keys everywhere below must be 1..512 bytes without braces or
 * control characters, owners 1..32 bytes other than "-" without spaces or
 * control characters (STICKY_EINVAL). */
int redis_new(struct redis **out, const struct redis_opts *o);
void redis_free(struct redis *r); /* closes both connections */
/*
 * Connect (AUTH, SELECT, SCRIPT LOAD) unless connected.  STICKY_EAGAIN
 * while backing off after a failure, STICKY_EREDIS when this attempt
 * failed (and starts the next backoff).
 */
int redis_connect(struct redis *r);
/*
 * Changes each time the command connection is (re)established, to the
 * same server or another (a Sentinel promotion): what Redis holds may
 * have changed under the caller (checkpoint.c checks its generation).
 */
unsigned redis_conn_gen(const struct redis *r);
int redis_connected(const struct redis *r);
/* Drop the command connection (e.g. after fork, or a timeout left it
 * unusable); redis_sub_close() drops the other one. */
void redis_disconnect(struct redis *r);
/* Last error, for logs (never contains key names or values). */
const char *redis_errstr(const struct redis *r);
/* Milliseconds until the next connection attempt is allowed (0: now). */
int64_t redis_backoff_left_ms(const struct redis *r);
/*
 * Sentinel mode: the master's name (NULL otherwise), the i-th Sentinel as
 * "host:port" into buf (STICKY_ENOENT past the last), and the master in
 * use now as "host:port" (STICKY_ENOENT before the Sentinels named one).
 */
const char *redis_master_name(const struct redis *r);
int redis_sentinel_addr(const struct redis *r, size_t i, char *buf,
    size_t len);
int redis_master_addr(const struct redis *r, char *buf, size_t len);
/*
 * WAIT: block until `replicas` replicas acknowledged every write this
 * connection made, at most timeout_ms.  0 when they did; STICKY_ETIMEDOUT
 * when fewer did in time (*acked, if not NULL, says how many);
 * STICKY_EREDIS when the connection failed or Redis refused.
 */
int redis_wait_replicas(struct redis *r, int replicas, int timeout_ms,
    int *acked);

/*
 * Restore with takeover, atomically: if a checkpoint exists, increment the
 * epoch, record `owner`, refresh TTLs and return the new epoch, the
 * checkpoint bytes (header + payload) in blob (reset first) and, when mac
 * is not NULL, the MAC stored with it into mac (REDIS_MAC_MAX bytes;
 * *maclen 0: none).  STICKY_ENOENT when there is no checkpoint (*epoch 0)
 * or the session was logged out (*epoch 1); nothing is created.
 */
int redis_takeover(struct redis *r, const char *key, const char *owner,
    uint64_t *epoch, struct sticky_buf *blob, unsigned char *mac,
    size_t *maclen);
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
	int fresh;                     /* the session was never written: a
	                                  missing owner record is no loss */
	const unsigned char *mac;      /* stored with it; NULL: none */
	size_t maclen;                 /* <= REDIS_MAC_MAX */
	int staged;   /* internal: sent through a staging key (redis_write.c) */
	int reclaimed; /* out, with result 0: Redis had lost the owner record
	                  or the checkpoint, or held an older epoch: written
	                  in full at w->epoch, owner now w->owner
	                  (announced) */
	int result; /* out: 0 written, STICKY_EFENCED, REDIS_DELTA_REFUSED (delta
	               refused: Redis does not hold prev_hdr, or the payload
	               shrank; write in full), STICKY_EREDIS, STICKY_EINVAL
	               (not sent: hdr lengths != payload_len, runs unsorted,
	               outside the payload or not covering its growth),
	               STICKY_ENOMEM */
};

/*
 * A write result that is not an error (so not a STICKY_E* code, all of
 * which are negative): the delta cannot apply, send the payload whole.
 */
enum redis_write_result {
	REDIS_DELTA_REFUSED = 16
};

/*
 * Send every write in one pipeline, then read every reply.  Each write is
 * applied atomically unless the owner record's epoch is newer than
 * w->epoch (STICKY_EFENCED: another worker took the session).  When Redis
 * lost the record or the checkpoint, or holds an older epoch (it lost
 * data), the writer holds the newest copy there is: a full write re-claims
 * the session (see reclaimed), a delta is refused (REDIS_DELTA_REFUSED).  Returns 0 when every
 * reply was read (see each result), STICKY_EREDIS when the connection
 * failed (every unanswered result is STICKY_EREDIS), STICKY_EAGAIN while
 * backing off (nothing sent, every result STICKY_EREDIS).
 */
int redis_write_batch(struct redis *r, struct redis_write *ws, size_t n);
/*
 * The same in two halves, so the caller works while Redis answers: send
 * sends the batch (ws must stay valid, and what its pointers point to
 * unchanged, until recv) and returns at once; recv reads the replies
 * (waiting for those not there yet).  Nothing is sent again (a script
 * Redis forgot, a staging key refused): those results are STICKY_EAGAIN,
 * for the caller to write again through redis_write_batch().  Any other
 * command on r while a batch is out first calls the hook, which must call
 * recv; no hook, or a hook that does not, and the replies are read and
 * the results kept in ws for recv.  Returns as redis_write_batch does.
 */
int redis_write_send(struct redis *r, struct redis_write *ws, size_t n);
int redis_write_recv(struct redis *r, struct redis_write *ws, size_t n);
/* The socket a batch's replies arrive on; -1 when none is out. */
int redis_write_fd(const struct redis *r);
/* Who reads a sent batch's replies when another command comes first. */
void redis_write_hook(struct redis *r, void (*fn)(void *arg), void *arg);

/* Logout: if epoch still matches (or the owner record is missing, e.g.
 * evicted: logout must win), delete the checkpoint and tombstone the
 * owner record (epoch+1, owner "-").  STICKY_EFENCED otherwise. */
int redis_drop(struct redis *r, const char *key, uint64_t epoch);
/* Keep a bad checkpoint for inspection: rename it to P{K}:bad:<time>
 * (7 days TTL; a second one in the same second replaces the first).
 * STICKY_ENOENT if there is no checkpoint. */
int redis_set_aside(struct redis *r, const char *key);

/*
 * Move a session from name `from` to name `to` (secret rotation, or a
 * checkpoint named by its raw session key), atomically, with mac stored
 * when maclen > 0 (else the one it has is kept), only if the checkpoint
 * still equals expect when expectlen > 0 (the bytes the MAC is for).  The
 * old name keeps a logged-out owner record with a newer epoch, announced,
 * so a copy held under it is dropped and its writes fenced.  0 moved,
 * STICKY_ENOENT nothing to move (or logged out), STICKY_EFENCED `to`
 * exists already, STICKY_EAGAIN the checkpoint changed (try again).
 */
int redis_migrate(struct redis *r, const char *from, const char *to,
    const unsigned char *mac, size_t maclen, const void *expect,
    size_t expectlen);
/*
 * The token in P"generation", set to `fresh` first when missing; a token
 * that changed (or vanished) since last asked means Redis lost data.
 */
int redis_generation(struct redis *r, const char *fresh, char *out,
    size_t outlen);

/*
 * What Redis holds of a session, to compare with what was written: its
 * epoch and the first 48 bytes of its checkpoint (*hdrlen 0: none).
 * STICKY_ENOENT (with the header, if any) when the owner record is gone.
 */
int redis_peek(struct redis *r, const char *key, uint64_t *epoch,
    unsigned char hdr[48], size_t *hdrlen);

/* ---- for stickyctl: raw access by session name ---- */
/* The MAC stored with a checkpoint; STICKY_ENOENT if none. */
int redis_mac(struct redis *r, const char *key, unsigned char *mac,
    size_t *maclen);
/* Iterate session keys (SCAN MATCH P{*}:[us]: either layout; a name may
 * come twice); *cursor starts and ends at 0. */
int redis_scan(struct redis *r, uint64_t *cursor, char ***keys, size_t *n);
void redis_scan_free(char **keys, size_t n);
/* The checkpoint bytes into blob (reset first); STICKY_ENOENT if none. */
int redis_get(struct redis *r, const char *key, struct sticky_buf *blob);
/* Delete the session's key (and any left in the old layout)
 * unconditionally; STICKY_ENOENT if none existed. */
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
