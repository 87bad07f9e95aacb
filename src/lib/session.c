/*
 * session.c: one user's session inside a worker.  Finding it for a request
 * (memory when we own it, else the checkpoint, taking ownership), creating
 * it with a fresh id (never one a client chose), eviction and idle expiry,
 * and the public sticky_session_*() calls.  The payload and its replay
 * log are payload.c's.
 */
#include <string.h>

#include "bytes.h"
#include "checkpoint.h"
#include "cookie.h"
#include "metrics.h"
#include "payload.h"
#include "request.h"
#include "session.h"
#include "store.h"
#include "worker.h"

void
session_destroy_cb(struct session *s, void *arg)
{
	struct worker *w = arg;

	if (s->state != NULL && w->app->codec.destroy != NULL)
		w->app->codec.destroy(s->state, w->app->appdata);
	store_session_release(s);
}

void
session_forget(struct worker *w, struct session *s)
{
	store_remove(w->store, s);
	session_destroy_cb(s, w);
}

/* ---- finding the session of a request ---- */

int
session_resolve(struct worker *w, struct sticky_req *req)
{
	const struct sticky_config *cfg = w->cfg;
	const char *hdr, *val;
	struct session *s, *restored;
	size_t vlen;
	char sidbuf[16], name[SID_KEY_LEN + 1];
	int rc, ours;

	if ((hdr = sticky_req_param(req, "HTTP_COOKIE")) == NULL)
		return 0;
	rc = cookie_find(hdr, strlen(hdr), cfg->cookie_name, &val, &vlen);
	if (rc == STICKY_ENOENT)
		return 0;
	if (rc != 0 || sid_parse(val, vlen, &req->in_sid) != 0) {
		/* A forged or broken cookie: this user gets a new session. */
		w->stats->bad_cookies++;
		log_info("bad_cookie", "reason=%s len=%zu",
		    rc == STICKY_ETOOBIG ? "header_too_large" : "malformed",
		    rc == 0 ? vlen : strlen(hdr));
		return 0;
	}
	req->have_cookie_sid = 1;
	memcpy(req->out_key, req->in_sid.key, sizeof(req->out_key));
	ours = strcmp(req->in_sid.tag, w->tag) == 0;
	ckpt_name(&w->ckpt, req->in_sid.key, name);
	s = store_get(w->store, name, now_ms());
	if (s != NULL && (ours || !ckpt_enabled(&w->ckpt))) {
		if (ckpt_enabled(&w->ckpt) && (cfg->strict_fencing ||
		    !session_gen_ok(s, w->ckpt.stall_gen) ||
		    !ckpt_watching(&w->ckpt))) {
			rc = ckpt_check_owner(&w->ckpt, s);
			/*
			 * Redis unreachable: strict fencing refuses; otherwise
			 * the user keeps being served from memory and the check
			 * is made once Redis is back.
			 */
			if (rc == STICKY_EAGAIN && cfg->strict_fencing)
				return STICKY_EAGAIN;
			if (rc == STICKY_EFENCED) {
				w->stats->ckpt_fenced++;
				log_warn("fenced", "sid=%s action=drop_local_copy "
				    "check=%s", log_sid(name, sidbuf),
				    cfg->strict_fencing ? "strict" :
				    !session_gen_ok(s, w->ckpt.stall_gen) ?
				    "stall" : "unwatched");
				session_forget(w, s);
				s = NULL;
			} else if (rc == 0)
				s->gen = (uint16_t)w->ckpt.stall_gen;
		}
		if (s != NULL) {
			req->sess = s;
			req->set_cookie = !ours; /* re-tag a foreign cookie */
			return 0;
		}
	}
	if (!ckpt_enabled(&w->ckpt))
		return 0; /* unknown id: a new session, never adopted */
	/*
	 * The cookie names another worker (the front-end failed over, or
	 * hashes the cookie): whoever owns the checkpoint now may hold newer
	 * state than a copy we kept, so take ownership from Redis.  A copy
	 * we kept that was never written is the only one there is.
	 */
	if (s != NULL)
		store_remove(w->store, s);
	rc = ckpt_restore(&w->ckpt, req->in_sid.key, s != NULL, &restored);
	if (rc == 0) {
		if (s != NULL)
			session_destroy_cb(s, w);
		req->sess = restored;
		if (!ours) {
			req->set_cookie = 1;
			req->rehomed = 1;
			w->stats->rehomed++;
		}
		return 0;
	}
	if (s != NULL) {
		store_insert(w->store, s, now_ms());
		if (rc == STICKY_ENOENT || rc == STICKY_EAGAIN) {
			req->sess = s;
			req->set_cookie = !ours;
			return 0;
		}
	}
	if (rc == STICKY_EAGAIN)
		return STICKY_EAGAIN; /* never a silently empty state: 503 */
	return 0; /* no checkpoint, or a refused one: a new session */
}

/* ---- memory limits ---- */

static int
over_limits(struct worker *w)
{
	return store_count(w->store) > (size_t)w->cfg->max_sessions ||
	    store_bytes(w->store) > (size_t)w->cfg->max_bytes;
}

/*
 * Write s if it holds unsaved changes; 1 if it may now be dropped, -1 if
 * another worker owns it now (drop it too, uncounted), 0 to keep it.
 */
static int
saved(struct worker *w, struct session *s)
{
	int res;

	/* Its write may be out: clean is saved only once Redis said so. */
	ckpt_land_kept(&w->ckpt);
	if (s->dirty_since_ms == 0 || !ckpt_enabled(&w->ckpt))
		return 1; /* clean, or nowhere to save it: drop as configured */
	if (ckpt_write(&w->ckpt, &s, 1, &res) != 0 && res != STICKY_EFENCED)
		return 0;
	return res == 0 ? 1 : res == STICKY_EFENCED ? -1 : 0;
}

void
session_sweep(struct worker *w, int64_t now)
{
	int64_t idle_ms;
	struct session *s, *newer;
	int budget = 256; /* bounded work per call: sessions, and 1 ms */
	int64_t t0 = now_us();

	/* Checked: idle_timeout may be up to LONG_MAX seconds (never, then). */
	if (__builtin_mul_overflow(w->cfg->idle_timeout_s, 1000, &idle_ms))
		idle_ms = INT64_MAX;
	for (s = store_lru(w->store); s != NULL && budget-- > 0; s = newer) {
		if ((budget & 15) == 0 && now_us() - t0 > 1000)
			break;
		int idle = idle_ms > 0 && store_age_ms(now, s->last_used_ms) >= idle_ms;
		int r;

		newer = store_newer(s);
		if (!idle && !over_limits(w))
			break;
		if ((r = saved(w, s)) == 0)
			break; /* Redis down: keep it rather than lose it */
		if (r == 1) {
			if (idle)
				w->stats->expired++;
			else
				w->stats->evictions++;
			session_forget(w, s);
		} else /* r == -1: fenced, another worker owns it now */
			session_forget(w, s);
	}
}

/* ---- the public session API ---- */

static void
mark_dirty(struct sticky_req *req)
{
	req->sess_dirty = 1;
	/* Without checkpoints there is nothing to flush: never "dirty". */
	if (ckpt_enabled(&req->w->ckpt))
		store_dirty(req->w->store, req->sess, now_ms());
}

void *
sticky_session_state(struct sticky_req *req, int *err)
{
	struct worker *w;
	struct session *s;
	struct sid sid;
	char name[SID_KEY_LEN + 1];
	int rc;

	if (err != NULL)
		*err = 0;
	if (req == NULL)
		return NULL;
	w = req->w;
	if (req->sess != NULL)
		return req->sess->state;
	if (req->session_err == STICKY_EAGAIN) {
		if (err != NULL)
			*err = STICKY_EAGAIN;
		return NULL;
	}
	if ((rc = sid_generate(&sid, w->tag)) == 0)
		ckpt_name(&w->ckpt, sid.key, name);
	if (rc != 0 || (s = store_session_alloc(name)) == NULL) {
		if (err != NULL)
			*err = rc != 0 ? rc : STICKY_ENOMEM;
		return NULL;
	}
	if (w->app->codec.create == NULL ||
	    (s->state = w->app->codec.create(w->app->appdata)) == NULL) {
		store_session_release(s);
		if (err != NULL)
			*err = STICKY_ENOMEM;
		return NULL;
	}
	s->epoch = 1;
	s->gen = (uint16_t)w->ckpt.stall_gen;
	payload_set_footprint(w->app, s); /* not in the store yet */
	if ((rc = store_insert(w->store, s, now_ms())) != 0) {
		session_destroy_cb(s, w);
		if (err != NULL)
			*err = rc;
		return NULL;
	}
	w->stats->sessions_created++;
	req->sess = s;
	memcpy(req->out_key, sid.key, sizeof(req->out_key));
	req->sess_new = 1;
	req->sess_destroyed = 0;
	req->set_cookie = 1;
	mark_dirty(req); /* a new session is checkpointed like a changed one */
	return s->state;
}

void
sticky_session_dirty(struct sticky_req *req)
{
	if (req != NULL && req->sess != NULL) {
		mark_dirty(req);
		req->sess->flags |= SESS_TOUCH_ALL;
	}
}

int
session_touch(struct session *s, size_t page, size_t off, size_t len,
    size_t view_len)
{
	struct session_ext *x;
	size_t first, last, words;

	if (len == 0)
		return 0;
	if (page == 0 || off >= view_len || len > view_len - off) {
		s->flags |= SESS_TOUCH_ALL;
		return STICKY_EINVAL;
	}
	first = off / page;
	last = (off + len - 1) / page;
	words = last / 64 + 1;
	if ((x = session_ext(s)) == NULL)
		goto all;
	if (x->ntouched < words) {
		/* Sized for the whole view at once: one allocation per session. */
		size_t want = ((view_len - 1) / page) / 64 + 1;
		uint64_t *t = xreallocarray(x->touched, want, sizeof(*t));

		if (t == NULL)
			goto all;
		memset(t + x->ntouched, 0, (want - x->ntouched) * sizeof(*t));
		x->touched = t;
		x->ntouched = want;
	}
	for (size_t i = first; i <= last; i++)
		x->touched[i / 64] |= (uint64_t)1 << (i % 64);
	s->flags |= SESS_TOUCHED;
	return 0;
all:
	s->flags |= SESS_TOUCH_ALL; /* out of memory: write it whole */
	return 0;
}

int
sticky_session_touch(struct sticky_req *req, size_t off, size_t len)
{
	struct worker *w;
	const void *data;
	size_t vlen;

	if (req == NULL || req->sess == NULL)
		return STICKY_ESTATE;
	w = req->w;
	mark_dirty(req);
	if (!ckpt_enabled(&w->ckpt))
		return 0;
	/*
	 * No view, or a state of a page or less (a page is the unit of a
	 * write: it goes whole anyway, and ranges would only cost memory).
	 */
	if (w->app->codec.view == NULL ||
	    w->app->codec.view(req->sess->state, &data, &vlen,
	    w->app->appdata) != 0 || vlen <= (size_t)w->cfg->checkpoint_page) {
		req->sess->flags |= SESS_TOUCH_ALL;
		return 0;
	}
	return session_touch(req->sess, (size_t)w->cfg->checkpoint_page, off,
	    len, vlen);
}

int
sticky_session_destroy(struct sticky_req *req)
{
	struct worker *w;
	int rc;

	if (req == NULL)
		return STICKY_EINVAL;
	w = req->w;
	if (req->sess == NULL) {
		req->sess_destroyed = req->have_cookie_sid;
		return 0;
	}
	if (ckpt_enabled(&w->ckpt) &&
	    (rc = ckpt_drop(&w->ckpt, req->sess)) != 0 && rc != STICKY_EFENCED)
		return rc; /* Redis down: the checkpoint would outlive logout */
	session_forget(w, req->sess);
	req->sess = NULL;
	req->sess_dirty = 0;
	req->sess_destroyed = 1;
	return 0;
}

int
sticky_session_rotate(struct sticky_req *req)
{
	struct worker *w;
	struct session *s;
	struct sid sid;
	char name[SID_KEY_LEN + 1];
	int rc;

	if (req == NULL || req->sess == NULL)
		return STICKY_ESTATE;
	w = req->w;
	s = req->sess;
	if ((rc = sid_generate(&sid, w->tag)) != 0)
		return rc;
	if (ckpt_enabled(&w->ckpt) && (rc = ckpt_drop(&w->ckpt, s)) != 0 &&
	    rc != STICKY_EFENCED)
		return rc;
	store_remove(w->store, s);
	ckpt_name(&w->ckpt, sid.key, name);
	session_set_key(s, name);
	memcpy(req->out_key, sid.key, sizeof(req->out_key));
	/* The new id starts its own history in Redis. */
	s->epoch = 1;
	s->flags &= (uint8_t)~SESS_IN_REDIS;
	if (s->x != NULL) {
		buf_reset(&s->x->written);
		s->x->written_len = 0;
		xfree(s->x->page_crc);
		s->x->page_crc = NULL;
		s->x->npage_crc = 0;
		xfree(s->x->tag);
		s->x->tag = NULL;
		s->x->ntag = 0;
	}
	payload_set_footprint(w->app, s); /* out of the store */
	if ((rc = store_insert(w->store, s, now_ms())) != 0) {
		session_destroy_cb(s, w);
		req->sess = NULL;
		return rc;
	}
	req->set_cookie = 1;
	mark_dirty(req);
	return 0;
}

int
sticky_session_is_new(const struct sticky_req *req)
{
	return req != NULL && req->sess_new;
}

const char *
sticky_session_id(const struct sticky_req *req)
{
	/* The session holds its name (secret.h); the cookie carries the key. */
	return req != NULL && req->sess != NULL && req->out_key[0] != '\0' ?
	    req->out_key : NULL;
}
