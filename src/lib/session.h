/*
 * session.h: the life of one user's session inside a worker: finding it for
 * a request (memory, else checkpoint), creating it, eviction, destroy and
 * rotate (the payload and the replay log are payload.h's).  The
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

/*
 * Record that bytes [off, off + len) of a view of view_len bytes changed:
 * page bits in s->x->touched.  STICKY_EINVAL (and the whole state
 * marked) for a range past the view; out of memory marks it whole too.
 */
int session_touch(struct session *s, size_t page, size_t off, size_t len,
    size_t view_len);

/* Enforce max_sessions/max_bytes and idle expiry (flush before drop). */
void session_sweep(struct worker *w, int64_t now);

#endif /* STICKY_SESSION_H */
