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

struct session {
	char key[SID_KEY_LEN + 1];
	void *state;          /* the app's state; owned through the codec */
	size_t bytes;         /* accounted: state, replay log, delta base
	                         (session_footprint) */
	uint64_t epoch;       /* ownership epoch; 0: never in Redis */
	int64_t last_used_ms; /* monotonic */
	int64_t dirty_since_ms; /* first unflushed change; 0: clean (store_dirty) */
	int in_redis;         /* written (or restored) at least once */
	unsigned gen;         /* worker stall generation when last verified */
	struct sticky_buf written; /* payload as Redis holds it, for deltas;
	                              empty when it fits in one page */
	size_t written_len;   /* length of the payload Redis holds */
	unsigned char written_hdr[48]; /* envelope header Redis holds */
	uint32_t *page_crc;   /* CRC32C of each full page of written */
	size_t npage_crc;
	struct replay_entry *replay; /* ring of replay_slots entries */
	size_t nreplay;
	size_t replay_next;
	size_t replay_bytes;  /* ids and responses in the ring */
	uint32_t meta_hwm;    /* largest replay section written: it is padded
	                         to this, so the payload never shrinks for it */
	/* the store's links */
	struct session *hnext;
	struct session *lru_prev; /* towards most recently used */
	struct session *lru_next; /* towards least recently used */
	struct session *dirty_prev; /* the dirty list, oldest change first */
	struct session *dirty_next;
};

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
