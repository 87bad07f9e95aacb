/*
 * session.h: the life of one user's session inside a worker: finding it for
 * a request (memory, else checkpoint), creating it, the replay log of
 * recent state-changing requests, eviction, destroy and rotate.  The
 * public sticky_session_*() functions live here too.
 */
#ifndef STICKY_SESSION_H
#define STICKY_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

struct worker;
struct session;
struct sticky_req;

/* Destroy callback for the store: codec destroy + free. */
void session_destroy_cb(struct session *s, void *worker);
/* Drop a session from the store and free it (no checkpoint). */
void session_forget(struct worker *w, struct session *s);

/*
 * Find the request's session from its cookie before the handler runs.
 * Sets req->sess (or leaves it NULL for a new user).  Returns 0, or
 * STICKY_EAGAIN when the user's state exists but cannot be had now.
 */
int session_resolve(struct worker *w, struct sticky_req *req);

/* Encode the session payload (app bytes, then the replay log) into out;
 * *meta_len gets the length of the replay log section. */
int session_encode(struct worker *w, struct session *s, struct sticky_buf *out,
    uint32_t *meta_len);
/* Only the replay log section (what session_encode appends after the
 * app's bytes). */
int session_encode_meta(struct worker *w, struct session *s,
    struct sticky_buf *out, uint32_t *meta_len);
/* Rebuild a session's state and replay log from a payload. */
int session_decode(struct worker *w, struct session *s, const unsigned char *p,
    size_t len, uint32_t meta_len, uint32_t schema);

/* The recorded response for request id, or NULL. */
const struct sticky_buf *session_replay_find(const struct session *s,
    const char *id);
int session_replay_add(struct worker *w, struct session *s, const char *id,
    const struct sticky_buf *response);

/*
 * Record that bytes [off, off + len) of a view of view_len bytes changed:
 * page bits in s->x->touched.  STICKY_EINVAL (and the whole state
 * marked) for a range past the view; out of memory marks it whole too.
 */
int session_touch(struct session *s, size_t page, size_t off, size_t len,
    size_t view_len);

/* Enforce max_sessions/max_bytes and idle expiry (flush before drop). */
void session_sweep(struct worker *w, int64_t now);
/*
 * What s holds, as max_bytes counts it: the codec's size of its state (or
 * the payload's length), its replay log and the delta base kept for
 * checkpoints.  session_account() sets it on a session in the store.
 */
size_t session_footprint(struct worker *w, const struct session *s);
void session_account(struct worker *w, struct session *s);
/* The same, on a session not in the store (before store_insert). */
void session_set_footprint(struct worker *w, struct session *s);

#endif /* STICKY_SESSION_H */
