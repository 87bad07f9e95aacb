/*
 * payload.h: a session's checkpoint payload (the codec's bytes, then the
 * replay log of recent state-changing requests), the replay log itself,
 * and a session's memory footprint.
 */
#ifndef STICKY_PAYLOAD_H
#define STICKY_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

struct worker;
struct session;

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
 * What s holds, as max_bytes counts it: the codec's size of its state (or
 * the payload's length), its replay log and the delta base kept for
 * checkpoints.  session_account() sets it on a session in the store.
 */
size_t session_footprint(struct worker *w, const struct session *s);
void session_account(struct worker *w, struct session *s);
/* The same, on a session not in the store (before store_insert). */
void session_set_footprint(struct worker *w, struct session *s);

#endif /* STICKY_PAYLOAD_H */
