/*
 * payload.c: what a session's checkpoint payload holds and how it is
 * read back: the codec's bytes, then the replay log of recent
 * state-changing requests (the ring kept in the session's extension), and
 * what a session costs in memory (its footprint, as max_bytes counts it).
 */
#include <string.h>

#include "bytes.h"
#include "config.h"
#include "payload.h"
#include "secret.h"
#include "store.h"

#define REPLAY_MAX_RESPONSE 65536 /* larger responses are not remembered */
#define REPLAY_MAX_ID 128

static size_t
state_size(const struct sticky_app_def *app, const struct session *s)
{
	if (app->codec.size != NULL && s->state != NULL)
		return app->codec.size(s->state, app->appdata);
	return s->x != NULL && s->x->written_len > 0 ? s->x->written_len : 64;
}

size_t
payload_footprint(const struct sticky_app_def *app, const struct session *s)
{
	const struct session_ext *x = s->x;

	if (x == NULL)
		return state_size(app, s);
	return state_size(app, s) + x->replay_bytes + x->written.cap +
	    x->npage_crc * sizeof(*x->page_crc) + x->ntag * SECRET_TAG_LEN +
	    x->ntouched * sizeof(*x->touched) +
	    x->replay_cap * sizeof(*x->replay) + sizeof(*x);
}

void
payload_set_footprint(const struct sticky_app_def *app, struct session *s)
{
	size_t n = payload_footprint(app, s);

	s->bytes = (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n);
}

void
payload_account(struct store *st, const struct sticky_app_def *app,
    struct session *s)
{
	store_set_bytes(st, s, payload_footprint(app, s));
}

/*
 * The payload: the codec's bytes first, then sticky's section, the replay
 * log: u32 count | count x (u32 idlen | id | u32 outlen | out), oldest
 * first, then zero padding up to the largest section written before.
 * The log goes last so that a new entry never shifts the app's pages: a
 * delta checkpoint then sends the pages the app changed and the tail, not
 * the whole state.
 */
int
payload_encode(const struct sticky_app_def *app,
    const struct sticky_config *cfg, struct session *s, struct sticky_buf *out,
    uint32_t *meta_len)
{
	int rc;

	if (app->codec.encode != NULL &&
	    (rc = app->codec.encode(s->state, out, app->appdata)) != 0)
		return rc;
	return payload_encode_meta(cfg, s, out, meta_len);
}

int
payload_encode_meta(const struct sticky_config *cfg, struct session *s,
    struct sticky_buf *out, uint32_t *meta_len)
{
	size_t slots = (size_t)cfg->replay_slots, first, meta_start, want;
	struct session_ext *x = s->x;
	size_t nreplay = x != NULL ? x->nreplay : 0;
	uint32_t hwm = x != NULL ? x->meta_hwm : 0;
	unsigned char tmp[4];
	int rc;

	meta_start = out->len;
	put32(tmp, (uint32_t)nreplay);
	if ((rc = buf_append(out, tmp, 4)) != 0)
		return rc;
	/* A full ring's oldest entry is the one to be overwritten next. */
	first = nreplay == slots ? x->replay_next : 0;
	for (size_t k = 0; k < nreplay; k++) {
		const struct replay_entry *e = &x->replay[(first + k) % nreplay];
		size_t idlen = strlen(e->id);

		put32(tmp, (uint32_t)idlen);
		if ((rc = buf_append(out, tmp, 4)) != 0 ||
		    (rc = buf_append(out, e->id, idlen)) != 0)
			return rc;
		put32(tmp, (uint32_t)e->out.len);
		if ((rc = buf_append(out, tmp, 4)) != 0 ||
		    (rc = buf_append(out, e->out.data, e->out.len)) != 0)
			return rc;
	}
	/*
	 * Pad to the largest section written so far: Redis cannot shorten a
	 * string in place, so a shorter payload would cost a full rewrite.
	 * A section that outgrows it gets room for a full ring of entries
	 * like these and a quarter more: growing the string makes Redis copy
	 * the whole value (0.25-1 ms for 1 MiB), and a log filling up, or
	 * whose ids and answers lengthen by a byte now and then, would
	 * otherwise do it at many flushes.
	 */
	want = hwm;
	if (out->len - meta_start > hwm && out->len - meta_start > 4) {
		size_t have = out->len - meta_start;
		size_t full = nreplay > 0 ? 4 + (have - 4) / nreplay * slots : have;
		/* No more than the log can hold (replay_max_bytes). */
		size_t most = 4 + (size_t)cfg->replay_max_bytes + 8 * slots;

		if (full > most)
			full = most;

		want = (full > have ? full : have) + have / 4 + 64;
		if (want > UINT32_MAX)
			want = have;
	}
	if (out->len - meta_start < want) {
		size_t pad = want - (out->len - meta_start);
		unsigned char *z = sticky_buf_reserve(out, pad);

		if (z == NULL)
			return STICKY_ENOMEM;
		memset(z, 0, pad);
	}
	*meta_len = (uint32_t)(out->len - meta_start);
	/* The bare count (no log yet) needs no extension to remember. */
	if (*meta_len > hwm && *meta_len > 4) {
		if (session_ext(s) == NULL)
			return STICKY_ENOMEM;
		s->x->meta_hwm = *meta_len;
	}
	return 0;
}

/*
 * Room for `need` entries of the replay ring (at most replay_slots): it
 * grows by doubling, so a user with one remembered response pays for one
 * entry, not for the whole ring.  Entries are appended in order until the
 * ring is full, so growing keeps their order.
 */
static int
replay_alloc(const struct sticky_config *cfg, struct session *s, size_t need)
{
	size_t slots = (size_t)cfg->replay_slots, cap;
	struct session_ext *x;
	struct replay_entry *r;

	if (slots == 0)
		return 0;
	if (need > slots)
		need = slots;
	if ((x = session_ext(s)) == NULL)
		return STICKY_ENOMEM;
	if (x->replay_cap >= need)
		return 0;
	cap = x->replay_cap * 2 > need ? x->replay_cap * 2 : need;
	if (cap > slots)
		cap = slots;
	if ((r = xreallocarray(x->replay, cap, sizeof(*r))) == NULL)
		return STICKY_ENOMEM;
	for (size_t i = x->replay_cap; i < cap; i++) {
		r[i].id = NULL;
		buf_init(&r[i].out);
	}
	x->replay = r;
	x->replay_cap = cap;
	return 0;
}

/* Forget the oldest remembered response (entries are oldest first). */
static void
replay_drop_oldest(struct session *s)
{
	struct session_ext *x = s->x;
	struct replay_entry *e = &x->replay[0];

	x->replay_bytes -= strlen(e->id) + e->out.len;
	xfree(e->id);
	buf_cleanup(&e->out);
	memmove(e, e + 1, (x->nreplay - 1) * sizeof(*e));
	x->nreplay--;
	x->replay[x->nreplay].id = NULL;
	buf_init(&x->replay[x->nreplay].out);
}

int
payload_decode(const struct sticky_app_def *app,
    const struct sticky_config *cfg, struct session *s, const unsigned char *p,
    size_t len, uint32_t meta_len, uint32_t schema)
{
	const struct sticky_codec *c = &app->codec;
	size_t off = 4, count, slots = (size_t)cfg->replay_slots, app_len;
	const unsigned char *m;
	int rc;

	if (meta_len < 4 || meta_len > len)
		return STICKY_ECORRUPT;
	app_len = len - meta_len;
	m = p + app_len;
	count = get32(m);
	if (count > 64)
		return STICKY_ECORRUPT;
	if (count > 0 && (rc = replay_alloc(cfg, s, count)) != 0)
		return rc;
	/* Entries come oldest first: keep the newest that fit our slots. */
	for (size_t i = 0; i < count; i++) {
		size_t idlen, outlen;
		const char *id;

		if (meta_len - off < 4)
			return STICKY_ECORRUPT;
		idlen = get32(m + off);
		off += 4;
		if (idlen == 0 || idlen > REPLAY_MAX_ID ||
		    meta_len - off < idlen + 4)
			return STICKY_ECORRUPT;
		id = (const char *)m + off;
		/* Ids are C strings when written: a NUL means corruption. */
		if (memchr(id, '\0', idlen) != NULL)
			return STICKY_ECORRUPT;
		off += idlen;
		outlen = get32(m + off);
		off += 4;
		if (outlen > meta_len - off)
			return STICKY_ECORRUPT;
		if (slots > 0 && i + slots >= count) {
			struct session_ext *x = s->x;
			struct replay_entry *e = &x->replay[x->nreplay];

			if ((e->id = xstrndup(id, idlen)) == NULL ||
			    (rc = buf_append(&e->out, m + off, outlen)) != 0) {
				xfree(e->id); /* not counted: never compared */
				e->id = NULL;
				return STICKY_ENOMEM;
			}
			x->nreplay++;
			x->replay_bytes += idlen + outlen;
		}
		off += outlen;
	}
	/* Within the byte budget (replay_max_bytes): the newest are kept. */
	if (s->x != NULL) {
		while (s->x->nreplay > 0 &&
		    s->x->replay_bytes > (size_t)cfg->replay_max_bytes)
			replay_drop_oldest(s);
		if (slots > 0)
			s->x->replay_next = s->x->nreplay % slots;
	}
	/* What follows the entries is padding (see payload_encode): zeros. */
	for (; off < meta_len; off++)
		if (m[off] != 0)
			return STICKY_ECORRUPT;
	if (meta_len > 4) {
		if (session_ext(s) == NULL)
			return STICKY_ENOMEM;
		s->x->meta_hwm = meta_len;
	}
	if (c->decode == NULL)
		return STICKY_EINVAL;
	s->state = NULL;
	return c->decode(&s->state, p, app_len, schema, app->appdata);
}

const struct sticky_buf *
payload_replay_find(const struct session *s, const char *id)
{
	const struct session_ext *x = s->x;

	for (size_t i = 0; x != NULL && i < x->nreplay; i++)
		if (x->replay[i].id != NULL && strcmp(x->replay[i].id, id) == 0)
			return &x->replay[i].out;
	return NULL;
}

int
payload_replay_add(const struct sticky_config *cfg, struct session *s,
    const char *id, const struct sticky_buf *response)
{
	size_t slots = (size_t)cfg->replay_slots;
	struct session_ext *x;
	struct replay_entry *e;
	struct sticky_buf nb;
	size_t need;
	char *copy;
	int rc;

	need = strlen(id) + response->len;
	if (slots == 0 || strlen(id) > REPLAY_MAX_ID ||
	    response->len > REPLAY_MAX_RESPONSE ||
	    need > (size_t)cfg->replay_max_bytes)
		return 0;
	if ((rc = replay_alloc(cfg, s,
	    s->x != NULL ? s->x->nreplay + 1 : 1)) != 0)
		return rc;
	x = s->x;
	/*
	 * Everything the entry needs is allocated before the ring changes:
	 * out of memory leaves the ring as it was, never an entry without
	 * an id (or with a truncated response).
	 */
	buf_init(&nb);
	if ((copy = xstrdup(id)) == NULL ||
	    buf_append(&nb, response->data, response->len) != 0) {
		xfree(copy);
		buf_cleanup(&nb);
		return STICKY_ENOMEM;
	}
	/*
	 * Oldest first, newest last: the oldest go while the log is full in
	 * entries or in bytes (replay_max_bytes, counted in max_bytes).
	 */
	while (x->nreplay > 0 && (x->nreplay == slots ||
	    x->replay_bytes + need > (size_t)cfg->replay_max_bytes))
		replay_drop_oldest(s);
	e = &x->replay[x->nreplay++];
	buf_cleanup(&e->out);
	e->id = copy;
	e->out = nb;
	x->replay_bytes += need;
	x->replay_next = x->nreplay % slots; /* full: 0, the oldest */
	s->flags |= SESS_META_DIRTY;
	return 0;
}
