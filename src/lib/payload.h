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

struct session;
struct sticky_app_def;
struct sticky_config;
struct store;

/*
 * Everything here takes what it needs (the app's codec, the replay
 * settings of the configuration), never a worker: checkpoint.c and
 * session.c both use it.
 */

/* Encode the session payload (app bytes, then the replay log) into out;
 * *meta_len gets the length of the replay log section. */
int payload_encode(const struct sticky_app_def *app,
    const struct sticky_config *cfg, struct session *s, struct sticky_buf *out,
    uint32_t *meta_len);
/* Only the replay log section (what payload_encode appends after the
 * app's bytes). */
int payload_encode_meta(const struct sticky_config *cfg, struct session *s,
    struct sticky_buf *out, uint32_t *meta_len);
/* Rebuild a session's state and replay log from a payload. */
int payload_decode(const struct sticky_app_def *app,
    const struct sticky_config *cfg, struct session *s, const unsigned char *p,
    size_t len, uint32_t meta_len, uint32_t schema);

/* The recorded response for request id, or NULL. */
const struct sticky_buf *payload_replay_find(const struct session *s,
    const char *id);
int payload_replay_add(const struct sticky_config *cfg, struct session *s,
    const char *id, const struct sticky_buf *response);

/*
 * What s holds, as max_bytes counts it: the codec's size of its state (or
 * the payload's length), its replay log and the delta base kept for
 * checkpoints.  payload_account() sets it on a session in store st.
 */
size_t payload_footprint(const struct sticky_app_def *app,
    const struct session *s);
void payload_account(struct store *st, const struct sticky_app_def *app,
    struct session *s);
/* The same, on a session not in the store (before store_insert). */
void payload_set_footprint(const struct sticky_app_def *app,
    struct session *s);

#endif /* STICKY_PAYLOAD_H */
