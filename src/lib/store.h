/*
 * store.h: one worker's sessions: a hash table from session key to
 * struct session, and a least-recently-used list for eviction and idle
 * expiry.  The store decides nothing about checkpoints: it answers which
 * session is the next candidate, and checkpoint.c flushes before dropping.
 */
#ifndef STICKY_STORE_H
#define STICKY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "sid.h"

/* A remembered response to a state-changing request (see session.c). */
struct replay_entry {
	char *id;              /* the front-end's request id; owned */
	struct sticky_buf out; /* the CGI response as first sent */
};

/*
 * What only some sessions need, allocated on first use so that a session
 * with a small state and no replay log costs its struct alone: the replay
 * log, and what a delta checkpoint of a payload larger than a page needs
 * (the header Redis holds, the CRC of each full page, the base copy for
 * codecs without a view, the pages the handler touched since the last
 * write).
 */
struct session_ext {
	struct replay_entry *replay; /* ring of up to replay_slots entries */
	size_t replay_cap;    /* entries allocated (grows to replay_slots) */
	size_t nreplay;
	size_t replay_next;
	size_t replay_bytes;  /* ids and responses in the ring */
	uint32_t meta_hwm;    /* largest replay section written: it is padded
	                         to this, so the payload never shrinks for it */
	size_t written_len;   /* length of the payload Redis holds */
	size_t written_app;   /* its app part (a view must keep this length) */
	unsigned char written_hdr[48]; /* envelope header Redis holds */
	struct sticky_buf written; /* payload as Redis holds it, for deltas of
	                              codecs without a view; empty when it
	                              fits in one page */
	uint32_t *page_crc;   /* CRC32C of each full page Redis holds */
	size_t npage_crc;
	unsigned char *tag;   /* MAC tag of each full 4 KiB block Redis holds
	                         (secret.h), SECRET_TAG_LEN bytes each */
	size_t ntag;
	uint64_t *touched;    /* app pages sticky_session_touch() marked */
	size_t ntouched;      /* words in touched */
};

/* Session flags. */
#define SESS_IN_REDIS 0x01   /* written (or restored) at least once */
#define SESS_META_DIRTY 0x02 /* replay log changed since the last write */
#define SESS_TOUCH_ALL 0x04  /* changed without ranges since the last write */
#define SESS_TOUCHED 0x08    /* ranges in x->touched since the last write */

/* A session key (22 base64url characters) packed 6 bits a character. */
#define SESSION_KEY_BYTES 17

/*
 * 96 bytes on LP64, allocated from slabs (no malloc header): with the
 * hash table's share (load <= 2) a session costs ~100 bytes beyond its
 * state.  Times are the low 32 bits of the monotonic ms clock, compared
 * with wrap-safe differences (store_age_ms); the stall generation is its
 * low 16 bits (session_gen_ok).
 */
struct session {
	/* the store's links */
	struct session *hnext;
	struct session *lru_prev; /* towards most recently used */
	struct session *lru_next; /* towards least recently used */
	struct session *dirty_prev; /* the dirty list, oldest change first */
	struct session *dirty_next;
	void *state;          /* the app's state; owned through the codec */
	struct session_ext *x; /* NULL until needed */
	uint64_t epoch;       /* ownership epoch; 0: never in Redis */
	uint32_t last_used_ms; /* monotonic, low 32 bits */
	uint32_t dirty_since_ms; /* first unflushed change; 0: clean (store_dirty) */
	uint32_t bytes;       /* accounted size of state (saturates) */
	uint16_t gen;         /* worker stall generation when last verified */
	uint8_t flags;        /* SESS_* */
	unsigned char key[SESSION_KEY_BYTES]; /* packed: session_key() */
};

/* The session's key as text (SID_KEY_LEN characters and a NUL). */
char *session_key(const struct session *s, char out[SID_KEY_LEN + 1]);
/* Pack a key's text form (SID_KEY_LEN base64url characters). */
void session_key_pack(const char *key, unsigned char out[SESSION_KEY_BYTES]);
/* Set a session's key from its text form. */
void session_set_key(struct session *s, const char *key);
/* Was s verified in stall generation gen? */
static inline int
session_gen_ok(const struct session *s, unsigned gen)
{
	return s->gen == (uint16_t)gen;
}

/* Milliseconds from a stored 32-bit time to now (wrap-safe, < 24 days). */
static inline int64_t
store_age_ms(int64_t now, uint32_t then)
{
	return (int64_t)(int32_t)((uint32_t)now - then);
}

/* The session's extension, allocated (zeroed) on first use; NULL: ENOMEM. */
struct session_ext *session_ext(struct session *s);

typedef void (*store_destroy_fn)(struct session *s, void *arg);

struct store;

int store_new(struct store **out, store_destroy_fn destroy, void *arg);
/* Frees every session through the destroy callback, then the store. */
void store_free(struct store *st);
/* Look up by key and mark it most recently used; NULL if absent. */
struct session *store_get(struct store *st, const char *key, int64_t now);
/* Look up without touching the LRU order. */
struct session *store_peek(const struct store *st, const char *key);
/* Insert a session whose key is set (must not be present). */
int store_insert(struct store *st, struct session *s, int64_t now);
/* Unlink without freeing; a dirty session stays marked (see store_insert). */
void store_remove(struct store *st, struct session *s);
/*
 * fn(arg) runs before any session leaves the store: whoever holds writes
 * of sessions in flight (checkpoint.c) settles them while all are there.
 */
void store_on_remove(struct store *st, void (*fn)(void *arg), void *arg);
/* Change the accounted size of s. */
void store_set_bytes(struct store *st, struct session *s, size_t bytes);
/* Least recently used session, or NULL when empty. */
struct session *store_lru(const struct store *st);
/* The next more recently used after s (for sweeps from the LRU end). */
struct session *store_newer(const struct session *s);
/*
 * The dirty list: sessions with unflushed changes, oldest change first, so
 * a flush finds what is due without scanning every session.
 */
void store_dirty(struct store *st, struct session *s, int64_t now);
void store_clean(struct store *st, struct session *s);
/*
 * Dirty since `since`, first in the list: a write that failed gives its
 * changes back, older than any made while it was out.
 */
void store_dirty_first(struct store *st, struct session *s, int64_t since);
struct session *store_dirty_oldest(const struct store *st);
size_t store_dirty_count(const struct store *st);
size_t store_count(const struct store *st);
size_t store_bytes(const struct store *st);
/* Iterate every session (order unspecified); cb may not remove. */
void store_foreach(struct store *st, void (*cb)(struct session *, void *),
    void *arg);

/* A zeroed session with its key; for the store's users and tests. */
struct session *store_session_alloc(const char *key);
/* Free a session's own memory (not its state: that is the codec's). */
void store_session_release(struct session *s);

#endif /* STICKY_STORE_H */
