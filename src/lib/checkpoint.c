/*
 * checkpoint.c: when and how sessions reach Redis.  A write encodes the
 * session, diffs it against what Redis holds (delta.c) and sends only the
 * changed pages, many sessions per pipeline; every write is fenced by the
 * ownership epoch (redis_scripts.c), and a fenced write means another
 * worker owns the user now, so the local copy is handed back to the owner
 * of struct ckpt to drop, never written.  Sessions are known through
 * store.h and payload.h only; what one write sends (changed pages, CRC,
 * MAC, delta runs) is built by ckpt_build.c.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "bytes.h"
#include "checkpoint.h"
#include "ckpt_build.h"
#include "config.h"
#include "delta.h"
#include "envelope.h"
#include "metrics.h"
#include "payload.h"
#include "redis.h"
#include "secret.h"
#include "store.h"

#define BATCH_MAX 64 /* sessions per pipeline */
#define SLICE_BYTES (128 * 1024) /* work per pipeline between requests */
#define GEN_CHECK_MS 1000 /* how often P"generation" is compared */
#define SCRUB_PER_FLUSH 8 /* sessions compared with Redis per scrub slice:
                              one round trip each, so a small slice */
#define SCRUB_EVERY_MS 250 /* at most one slice per 250 ms (32 a second):
                              under load a flush tick comes every few ms, and
                              8 round trips each cost more than the writes */
#define PROBE_MS 100 /* WAIT before the handler while replicas lag */

void
ckpt_init(struct ckpt *ck, const struct sticky_config *cfg,
    const struct sticky_app_def *app, struct store *store,
    struct worker_stats *stats, const char *tag)
{
	memset(ck, 0, sizeof(*ck));
	ck->cfg = cfg;
	ck->app = app;
	ck->store = store;
	ck->stats = stats;
	ck->tag = tag;
	ck->app_id = envelope_app_id(app->name);
}

int
ckpt_enabled(const struct ckpt *ck)
{
	return ck->redis != NULL;
}

void
ckpt_name(const struct ckpt *ck, const char *key,
    char out[SID_KEY_LEN + 1])
{
	secret_name(ck->cfg->secrets, 0, key, out);
}

void
ckpt_redis_opts(const struct sticky_config *cfg, struct redis_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->addr = cfg->redis;
	o->user = cfg->redis_user[0] != '\0' ? cfg->redis_user : NULL;
	o->password = cfg->redis_password[0] != '\0' ? cfg->redis_password : NULL;
	o->sentinel_user = cfg->redis_sentinel_user[0] != '\0' ?
	    cfg->redis_sentinel_user : NULL;
	o->sentinel_password = cfg->redis_sentinel_password[0] != '\0' ?
	    cfg->redis_sentinel_password : NULL;
	o->db = (int)cfg->redis_db;
	o->connect_timeout_ms = (int)cfg->redis_connect_timeout_ms;
	o->command_timeout_ms = (int)cfg->redis_timeout_ms;
	o->prefix = cfg->redis_prefix;
	o->ttl_s = cfg->checkpoint_ttl_s;
}

static void land_hook(void *arg);

int
ckpt_open(struct ckpt *ck)
{
	const struct sticky_config *cfg = ck->cfg;
	struct redis_opts o;
	int rc;

	ck->redis = NULL;
	if (cfg->redis[0] == '\0' || cfg->checkpoint == CKPT_OFF)
		return 0;
	ckpt_redis_opts(cfg, &o);
	crc32c_shift_init(&ck->crc_page, (size_t)cfg->checkpoint_page);
	if ((rc = redis_new(&ck->redis, &o)) != 0)
		return rc;
	redis_write_hook(ck->redis, land_hook, ck);
	if (ck->store != NULL)
		store_on_remove(ck->store, land_hook, ck);
	rc = redis_connect(ck->redis); /* failures are retried with backoff */
	ck->stats->redis_up = rc == 0;
	return 0;
}

static void land(struct ckpt *ck, int loop);

void
ckpt_close(struct ckpt *ck)
{
	land(ck, 0); /* a slice still out: before the store goes */
	if (ck->redis != NULL)
		redis_write_hook(ck->redis, NULL, NULL);
	redis_free(ck->redis);
	ck->redis = NULL;
}

/* Connected now?  Maps every failure to STICKY_EAGAIN for callers. */
static int
ensure_conn(struct ckpt *ck)
{
	int rc = redis_connect(ck->redis); /* logs redis_down / redis_up */

	ck->stats->redis_up = rc == 0;
	return rc == 0 ? 0 : STICKY_EAGAIN;
}

int
ckpt_available(struct ckpt *ck)
{
	int rc, probe_ms;

	/* Set while the replicas are known to lag (the last WAIT fell short). */
	if ((rc = ensure_conn(ck)) != 0 || !ck->replicas_short)
		return rc;
	/* Short: while the replicas are away every request pays it. */
	probe_ms = ck->cfg->checkpoint_replicas_timeout_ms < PROBE_MS ?
	    (int)ck->cfg->checkpoint_replicas_timeout_ms : PROBE_MS;
	/*
	 * Probe before the handler runs, so a request refused for want of
	 * replicas changed nothing: WAIT for what this connection wrote
	 * (on a new connection: nothing, so it counts the replicas there).
	 */
	if (redis_wait_replicas(ck->redis, (int)ck->cfg->checkpoint_replicas,
	    probe_ms, NULL) != 0)
		return STICKY_EAGAIN;
	ck->replicas_short = 0;
	return 0;
}

/*
 * Keep what Redis now holds as the base of the next delta, or nothing:
 * a payload of one page or less is written whole anyway (the page is the
 * unit of a delta), so a copy would only double the session's memory; and
 * a codec with a view is its own base (touched pages are what changed).
 */
/* The codec exposes this state in place (no base copy needed). */
static int
has_view(const struct ckpt *ck, const struct session *s)
{
	const void *d;
	size_t n;

	return ck->app->codec.view != NULL && s->state != NULL &&
	    ck->app->codec.view(s->state, &d, &n, ck->app->appdata) == 0;
}

static int
keep_base(const struct ckpt *ck, struct session *s, struct sticky_buf *b,
    size_t len, size_t app_len)
{
	struct session_ext *x = s->x;
	int big = len > (size_t)ck->cfg->checkpoint_page;

	if (x == NULL && !big) {
		buf_cleanup(b);
		return 0;
	}
	if ((x = session_ext(s)) == NULL) {
		buf_cleanup(b);
		return STICKY_ENOMEM;
	}
	buf_cleanup(&x->written);
	x->written_len = len;
	x->written_app = app_len;
	if (big && !has_view(ck, s) && b->len == len) {
		x->written = *b;
		buf_init(b);
	} else
		buf_cleanup(b);
	return 0;
}

/*
 * Not under its current name: under an older secret's (the secret was
 * rotated)?  Move it to the current name first.  0 when the current name
 * may now hold it.
 */
static int
migrate_old(struct ckpt *ck, const char *key, const char *name)
{
	const struct secrets *sec = ck->cfg->secrets;
	char old[SID_KEY_LEN + 1], sidbuf[16];
	int rc;

	for (size_t i = 1; sec != NULL && i < sec->n; i++) {
		secret_name(sec, i, key, old);
		rc = redis_migrate(ck->redis, old, name, NULL, 0, NULL, 0);
		if (rc == 0) {
			ck->stats->migrated++;
			log_info("session_migrated", "sid=%s secret=%zu",
			    log_sid(name, sidbuf), i + 1);
			return 0;
		}
		if (rc == STICKY_EFENCED)
			return 0; /* someone moved it just now */
		if (rc != STICKY_ENOENT)
			return rc;
	}
	return STICKY_ENOENT;
}

int
ckpt_restore(struct ckpt *ck, const char *key, int have_copy,
    struct session **out)
{
	const struct secrets *sec = ck->cfg->secrets;
	struct sticky_buf blob;
	struct envelope env;
	struct session *s = NULL;
	const char *why = "";
	char sidbuf[16], name[SID_KEY_LEN + 1];
	unsigned char mac[REDIS_MAC_MAX];
	size_t maclen = 0;
	uint64_t epoch;
	int64_t t0 = now_us();
	uint32_t *pcrc = NULL;
	size_t page, npcrc = 0, ntags = 0;
	unsigned char *tags = NULL;
	int rc;

	*out = NULL;
	if (ensure_conn(ck) != 0) {
		ck->stats->restore_failed++;
		return STICKY_EAGAIN;
	}
	ckpt_name(ck, key, name);
	buf_init(&blob);
	rc = redis_takeover(ck->redis, name, ck->tag, &epoch, &blob, mac,
	    &maclen);
	if (rc == STICKY_ENOENT && epoch == 0 &&
	    (rc = migrate_old(ck, key, name)) == 0)
		rc = redis_takeover(ck->redis, name, ck->tag, &epoch, &blob, mac,
		    &maclen);
	if (rc == STICKY_ENOENT) {
		ck->stats->restore_misses++;
		/*
		 * Nobody holds it: not this worker, not Redis (lost, expired or
		 * never there).  Never silent: the user starts afresh.
		 */
		if (epoch == 0 && !have_copy) {
			ck->stats->sessions_lost++;
			log_info("session_lost", "sid=%s reason=no_checkpoint "
			    "action=new_session", log_sid(name, sidbuf));
		}
		goto out;
	}
	if (rc != 0) {
		ck->stats->restore_failed++;
		ck->stats->redis_up = redis_connected(ck->redis);
		rc = STICKY_EAGAIN;
		goto out;
	}
	/*
	 * Authenticated before anything reads it, the codec last of all; the
	 * block tags computed on the way are kept for the next write's MAC.
	 */
	if (sec != NULL) {
		int m = -1;

		if (maclen == SECRET_MAC_LEN && blob.len >= ENV_HDR_LEN) {
			ntags = (blob.len - ENV_HDR_LEN) / SECRET_MAC_BLOCK;
			if (ntags > 0 &&
			    (tags = xcalloc(ntags, SECRET_TAG_LEN)) == NULL) {
				rc = STICKY_ENOMEM;
				goto nomem;
			}
			if (secret_mac_check_tags(sec, blob.data, ENV_HDR_LEN,
			    blob.data + ENV_HDR_LEN, blob.len - ENV_HDR_LEN, mac,
			    tags, &m) != 0) {
				rc = STICKY_ENOMEM;
				goto nomem;
			}
		}
		if (m < 0) {
			ck->stats->restore_unauthenticated++;
			why = maclen == 0 ? "no MAC" : "MAC does not match";
			rc = STICKY_ECORRUPT;
			goto refuse;
		}
	}
	/*
	 * With a view, the page CRCs of what Redis holds are computed in the
	 * pass that verifies it: the first touched write is a delta.
	 */
	page = (size_t)ck->cfg->checkpoint_page;
	if (ck->app->codec.view != NULL && blob.len > ENV_HDR_LEN + page &&
	    (pcrc = xcalloc((blob.len - ENV_HDR_LEN) / page,
	    sizeof(*pcrc))) != NULL) {
		npcrc = (blob.len - ENV_HDR_LEN) / page;
		rc = envelope_decode_pages(blob.data, blob.len, ck->app_id, &env,
		    &why, &ck->crc_page, page, pcrc);
	} else
		rc = envelope_decode(blob.data, blob.len, ck->app_id, &env,
		    &why);
	if (rc != 0)
		goto refuse;
	if ((s = store_session_alloc(name)) == NULL) {
		rc = STICKY_ENOMEM;
		goto nomem;
	}
	if ((rc = payload_decode(ck->app, ck->cfg, s, blob.data + ENV_HDR_LEN,
	    blob.len - ENV_HDR_LEN, env.meta_len, env.schema)) != 0) {
		if (rc == STICKY_ENOMEM)
			goto nomem;
		why = rc == STICKY_EVERSION ? "schema refused by codec" :
		    "codec could not decode";
		goto refuse;
	}
	s->epoch = epoch;
	s->gen = (uint16_t)ck->stall_gen;
	s->flags |= SESS_IN_REDIS;
	if (blob.len - ENV_HDR_LEN > (size_t)ck->cfg->checkpoint_page) {
		if (session_ext(s) == NULL) {
			rc = STICKY_ENOMEM;
			goto nomem;
		}
		memcpy(s->x->written_hdr, blob.data, ENV_HDR_LEN);
		if (pcrc != NULL && has_view(ck, s)) {
			xfree(s->x->page_crc);
			s->x->page_crc = pcrc;
			s->x->npage_crc = npcrc;
			pcrc = NULL;
		}
	} else if (s->x != NULL) /* a replay log: the scrub compares it */
		memcpy(s->x->written_hdr, blob.data, ENV_HDR_LEN);
	if (tags != NULL && s->x != NULL) {
		xfree(s->x->tag);
		s->x->tag = tags;
		s->x->ntag = ntags;
		tags = NULL;
	}
	{
		size_t plen = blob.len - ENV_HDR_LEN;

		/* Redis holds exactly these bytes: the base of the next delta
		 * (without a view: a copy is avoided by moving the buffer). */
		if (!has_view(ck, s) && plen > (size_t)ck->cfg->checkpoint_page)
			buf_consume(&blob, ENV_HDR_LEN);
		keep_base(ck, s, &blob, plen, plen - env.meta_len);
	}
	payload_set_footprint(ck->app, s); /* counted from the start */
	if ((rc = store_insert(ck->store, s, now_ms())) != 0)
		goto out;
	ck->stats->restore_hits++;
	ck->stats->restore_us_total += (uint64_t)(now_us() - t0);
	log_debug("restored", "sid=%s epoch=%llu",
	    log_sid(name, sidbuf), (unsigned long long)epoch);
	*out = s;
	s = NULL;
	rc = 0;
	goto out;
nomem:
	/* Nothing wrong with the checkpoint: left as it is, retry later. */
	ck->stats->restore_failed++;
	log_warn("restore_failed", "sid=%s reason=out_of_memory",
	    log_sid(name, sidbuf));
	rc = STICKY_EAGAIN;
	goto out;
refuse:
	/* Kept aside for inspection, never deleted; the user starts afresh. */
	ck->stats->restore_bad++;
	log_warn("checkpoint_refused", "sid=%s reason=\"%s\" code=%d",
	    log_sid(name, sidbuf), why, rc);
	if (redis_set_aside(ck->redis, name) != 0)
		log_warn("set_aside_failed", "sid=%s", log_sid(name, sidbuf));
	if (rc == 0)
		rc = STICKY_ECORRUPT;
out:
	if (s != NULL) {
		if (s->state != NULL && ck->app->codec.destroy != NULL)
			ck->app->codec.destroy(s->state, ck->app->appdata);
		store_session_release(s);
	}
	buf_cleanup(&blob);
	xfree(pcrc);
	xfree(tags);
	return rc;
}

/* ---- a write takes the session's changes; a failed one gives them back ---- */

#define SESS_CHANGES (SESS_META_DIRTY | SESS_TOUCH_ALL | SESS_TOUCHED)

/*
 * Once p is built: what it holds is no longer a change to write.  Taken
 * when sent, not when answered, so that a request served while the reply
 * is on its way (async flush) marks its own changes, which stay.
 */
static void
take_changes(struct ckpt *ck, struct pending *p)
{
	struct session *s = p->s;
	struct session_ext *x = s->x;

	p->taken_flags = s->flags & SESS_CHANGES;
	p->taken_since = s->dirty_since_ms;
	p->taken = NULL;
	p->ntaken = 0;
	if (x != NULL && x->touched != NULL) {
		if (s->flags & SESS_TOUCHED) {
			p->taken = xmalloc(x->ntouched * sizeof(*x->touched));
			if (p->taken != NULL) {
				memcpy(p->taken, x->touched,
				    x->ntouched * sizeof(*x->touched));
				p->ntaken = x->ntouched;
			} else /* given back as "everything changed" */
				p->taken_flags |= SESS_TOUCH_ALL;
		}
		memset(x->touched, 0, x->ntouched * sizeof(*x->touched));
	}
	s->flags &= (uint8_t)~SESS_CHANGES;
	store_clean(ck->store, s);
}

/* Not written: its changes are changes again, dirty since when they were. */
static void
give_back(struct ckpt *ck, struct pending *p)
{
	struct session *s = p->s;
	struct session_ext *x = s->x;

	s->flags |= p->taken_flags;
	if (p->taken != NULL) {
		if (x != NULL && x->touched != NULL && x->ntouched >= p->ntaken)
			for (size_t i = 0; i < p->ntaken; i++)
				x->touched[i] |= p->taken[i];
		else
			s->flags |= SESS_TOUCH_ALL;
		xfree(p->taken);
		p->taken = NULL;
	}
	if (p->taken_since != 0 && (s->dirty_since_ms == 0 ||
	    (int32_t)(p->taken_since - s->dirty_since_ms) < 0))
		store_dirty_first(ck->store, s, (int64_t)p->taken_since);
	p->taken_flags = 0;
	p->taken_since = 0;
}

/* Settle one answered write; returns its result for the caller. */
static int
settle(struct ckpt *ck, struct pending *p, const struct redis_write *rw)
{
	struct session *s = p->s;
	char sidbuf[16];

	switch (rw->result) {
	case 0:
		s->flags |= SESS_IN_REDIS; /* its changes were taken when sent */
		if (keep_base(ck, s, &p->payload, p->len,
		    p->len - p->meta_len) == 0 &&
		    s->x != NULL) {
			struct session_ext *x = s->x;

			xfree(x->page_crc);
			x->page_crc = p->page_crc;
			x->npage_crc = p->npage_crc;
			p->page_crc = NULL;
			memcpy(x->written_hdr, p->hdr, ENV_HDR_LEN);
			xfree(x->tag);
			x->tag = p->tag;
			x->ntag = p->ntag;
			p->tag = NULL;
		}
		/* The delta base changed. */
		payload_account(ck->store, ck->app, s);
		if (rw->reclaimed) {
			/* Redis had lost it (or held older state): ours won. */
			s->epoch++;
			ck->stats->reclaims++;
			log_warn("reclaimed", "sid=%s epoch=%llu reason=redis_lost_it",
			    log_sid(session_key(s, p->key), sidbuf), (unsigned long long)s->epoch);
		}
		ck->stats->ckpt_written++;
		ck->stats->ckpt_bytes += ckpt_build_bytes(rw);
		return 0;
	case STICKY_EFENCED:
		give_back(ck, p); /* as it was: the caller drops it */
		ck->stats->ckpt_fenced++;
		log_warn("fenced", "sid=%s epoch=%llu action=drop_local_copy",
		    log_sid(session_key(s, p->key), sidbuf),
		    (unsigned long long)s->epoch);
		return STICKY_EFENCED;
	case REDIS_DELTA_REFUSED: /* twice: not written, try again later */
		give_back(ck, p);
		ck->stats->ckpt_failed++;
		return STICKY_EAGAIN;
	default:
		give_back(ck, p);
		ck->stats->ckpt_failed++;
		return rw->result;
	}
}

static int
write_some(struct ckpt *ck, struct session **ss, size_t n, int *results)
{
	struct pending *p;
	struct redis_write *rw;
	size_t i, nresync;
	int rc = 0;

	if (n == 0)
		return 0;
	if (ensure_conn(ck) != 0) {
		for (i = 0; i < n; i++)
			results[i] = STICKY_EAGAIN;
		return STICKY_EAGAIN;
	}
	p = xcalloc(n, sizeof(*p));
	rw = xcalloc(n, sizeof(*rw));
	if (p == NULL || rw == NULL) {
		xfree(p);
		xfree(rw);
		for (i = 0; i < n; i++)
			results[i] = STICKY_ENOMEM;
		return STICKY_ENOMEM;
	}
	for (i = 0; i < n; i++) {
		p[i].s = ss[i];
		if ((results[i] = ckpt_build(ck, &p[i], &rw[i], 0)) != 0)
			rw[i].key = NULL;
		else
			take_changes(ck, &p[i]);
	}
	/* Writes whose delta cannot apply go again, whole. */
	for (int round = 0; round < 2; round++) {
		size_t nb = 0;

		for (i = 0; i < n; i++)
			if (rw[i].key != NULL && (round == 0 ||
			    rw[i].result == REDIS_DELTA_REFUSED))
				nb++;
		if (nb == 0)
			break;
		if (round == 1) {
			for (i = 0; i < n; i++)
				if (rw[i].key != NULL && rw[i].result == REDIS_DELTA_REFUSED &&
				    ckpt_build_flatten(&p[i], &rw[i]) != 0) {
					rw[i].result = STICKY_ENOMEM;
					results[i] = STICKY_ENOMEM;
				}
		}
		/* The batch API takes a contiguous array of what to send. */
		struct redis_write *send = xcalloc(nb, sizeof(*send));
		size_t *map = xcalloc(nb, sizeof(*map));
		if (send == NULL || map == NULL) {
			xfree(send);
			xfree(map);
			rc = STICKY_ENOMEM;
			break;
		}
		nb = 0;
		for (i = 0; i < n; i++)
			if (rw[i].key != NULL && (round == 0 ||
			    rw[i].result == REDIS_DELTA_REFUSED)) {
				send[nb] = rw[i];
				map[nb++] = i;
			}
		rc = redis_write_batch(ck->redis, send, nb);
		for (i = 0; i < nb; i++) {
			rw[map[i]].result = send[i].result;
			rw[map[i]].reclaimed = send[i].reclaimed;
		}
		xfree(send);
		xfree(map);
		if (rc != 0) {
			ck->stats->redis_up = redis_connected(ck->redis);
			break;
		}
	}
	nresync = 0;
	for (i = 0; i < n; i++) {
		if (rw[i].key != NULL) {
			if (rw[i].result == REDIS_DELTA_REFUSED) /* twice: odd */
				nresync++;
			results[i] = settle(ck, &p[i], &rw[i]);
		} /* else never sent: prepare failed */
		ckpt_build_free(&p[i]);
	}
	if (nresync > 0)
		log_warn("checkpoint_resync_failed", "count=%zu", nresync);
	xfree(p);
	xfree(rw);
	return rc;
}

int
ckpt_write(struct ckpt *ck, struct session **ss, size_t n, int *results)
{
	int rc = 0;

	/* Fenced ones go back to the caller in results: it drops them. */
	for (size_t off = 0; off < n; off += BATCH_MAX) {
		size_t m = n - off < BATCH_MAX ? n - off : BATCH_MAX;

		rc = write_some(ck, ss + off, m, results + off);
		if (rc != 0)
			break;
	}
	return rc;
}

static int check_generation(struct ckpt *ck);
static void scrub(struct ckpt *ck);
static void hand_back(struct ckpt *ck, struct session *s);

/* ---- async flush: a slice sent, its replies read later ---- */

/*
 * A fenced write read back from a slice.  From the loop (loop set) the
 * stale copy is handed back now.  From anywhere else (another Redis
 * command, a session leaving the store) a caller may hold it: it stays
 * (dirty: the next flush is fenced again and drops it) and asks Redis who
 * owns it before it is served again.
 */
static void
fenced_later(struct ckpt *ck, struct session *s, int loop)
{
	if (loop)
		hand_back(ck, s);
	else
		s->gen = (uint16_t)(ck->stall_gen + 0x8000u);
}

static void
land(struct ckpt *ck, int loop)
{
	struct pending *p = ck->fl_p;
	struct redis_write *rw = ck->fl_rw;
	struct session *again[BATCH_MAX];
	size_t n = ck->fl_n, na = 0, ok = 0;
	int res[BATCH_MAX];

	if (p == NULL)
		return;
	ck->fl_p = NULL; /* first: the writes below use Redis too */
	ck->fl_rw = NULL;
	ck->fl_n = 0;
	ck->fl_since = 0;
	if (redis_write_recv(ck->redis, rw, n) != 0)
		ck->stats->redis_up = redis_connected(ck->redis);
	for (size_t i = 0; i < n; i++) {
		if (rw[i].result == STICKY_EAGAIN ||
		    rw[i].result == REDIS_DELTA_REFUSED) {
			/*
			 * To be sent again (a script Redis forgot, a staging
			 * key refused) or whole (Redis lacks the delta's base):
			 * the state may have changed since, so it is built
			 * afresh, now, through the synchronous path.
			 */
			give_back(ck, &p[i]);
			again[na++] = p[i].s;
		} else {
			int r = settle(ck, &p[i], &rw[i]);

			ok += r == 0 || r == STICKY_EFENCED;
			if (r == STICKY_EFENCED)
				fenced_later(ck, p[i].s, loop);
		}
		ckpt_build_free(&p[i]);
	}
	xfree(p);
	xfree(rw);
	if (na > 0) {
		write_some(ck, again, na, res);
		for (size_t i = 0; i < na; i++) {
			ok += res[i] == 0 || res[i] == STICKY_EFENCED;
			if (res[i] == STICKY_EFENCED)
				fenced_later(ck, again[i], loop);
		}
	}
	ck->fl_failed = ok == 0;
}

/* The hooks of redis.h and store.h: not from the loop. */
static void
land_hook(void *arg)
{
	land(arg, 0);
}

void
ckpt_land(struct ckpt *ck)
{
	land(ck, 1);
}

void
ckpt_land_kept(struct ckpt *ck)
{
	land(ck, 0);
}

size_t
ckpt_in_flight(const struct ckpt *ck, uint32_t *since)
{
	size_t n = 0;

	*since = ck->fl_since;
	for (size_t i = 0; i < ck->fl_n; i++)
		n += ck->fl_p[i].s->dirty_since_ms == 0; /* else counted dirty */
	return n;
}

int
ckpt_flight_fd(const struct ckpt *ck)
{
	return ck->fl_p != NULL ? redis_write_fd(ck->redis) : -1;
}

/*
 * Build and send one slice, not waiting for the replies.  A session whose
 * write cannot be built stays dirty (tried again next time).  0 sent (or
 * nothing could be built: STICKY_EREDIS), STICKY_EAGAIN Redis unreachable.
 */
static int
flush_send(struct ckpt *ck, struct session **ss, size_t n)
{
	struct pending *p = xcalloc(n, sizeof(*p));
	struct redis_write *rw = xcalloc(n, sizeof(*rw));
	size_t m = 0;
	int rc;

	if (p == NULL || rw == NULL) {
		xfree(p);
		xfree(rw);
		return STICKY_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		p[m].s = ss[i];
		if (ckpt_build(ck, &p[m], &rw[m], 0) != 0) {
			ckpt_build_free(&p[m]);
			memset(&p[m], 0, sizeof(p[m]));
			ck->stats->ckpt_failed++;
			continue;
		}
		take_changes(ck, &p[m]);
		if (p[m].taken_since != 0 && (ck->fl_since == 0 ||
		    (int32_t)(p[m].taken_since - ck->fl_since) < 0))
			ck->fl_since = p[m].taken_since;
		m++;
	}
	if (m == 0) {
		xfree(p);
		xfree(rw);
		return STICKY_EREDIS;
	}
	ck->fl_p = p;
	ck->fl_rw = rw;
	ck->fl_n = m;
	rc = redis_write_send(ck->redis, rw, m);
	if (rc != 0 || redis_write_fd(ck->redis) < 0) {
		land(ck, 1); /* nothing went out: failed ones dirty again */
		return rc != 0 ? STICKY_EAGAIN : 0;
	}
	return 0;
}

int
ckpt_replicate(struct ckpt *ck, struct session *s)
{
	static int64_t last_warn;
	int acked, rc;
	int64_t now;

	if (!ckpt_enabled(ck) || ck->cfg->checkpoint != CKPT_SYNC ||
	    ck->cfg->checkpoint_replicas <= 0)
		return 0;
	rc = redis_wait_replicas(ck->redis, (int)ck->cfg->checkpoint_replicas,
	    (int)ck->cfg->checkpoint_replicas_timeout_ms, &acked);
	if (rc == 0)
		return 0;
	ck->replicas_short = 1;
	now = now_ms();
	/* The master has it, the replicas may not: not acknowledged. */
	store_dirty(ck->store, s, now);
	ck->stats->redis_up = redis_connected(ck->redis);
	if (now - last_warn >= 10000) { /* at most one line per 10 s */
		last_warn = now;
		log_warn("checkpoint_unreplicated", "acked=%d wanted=%ld "
		    "reason=\"%s\"", acked, ck->cfg->checkpoint_replicas,
		    redis_errstr(ck->redis));
	}
	return rc;
}

/* A session another worker owns now: the owner of ck drops it. */
static void
hand_back(struct ckpt *ck, struct session *s)
{
	if (ck->drop != NULL)
		ck->drop(s, ck->arg);
	else
		store_clean(ck->store, s); /* not retried forever */
}

/*
 * What writing s costs the worker, in bytes read: its touched pages on
 * the view path, else the whole state (encoded, compared, CRC'd).
 */
static size_t
flush_cost(const struct ckpt *ck, const struct session *s)
{
	const struct session_ext *x = s->x;
	size_t n = 0;

	if (!has_view(ck, s) || x == NULL ||
	    !(s->flags & SESS_IN_REDIS) || (s->flags & SESS_TOUCH_ALL))
		return (size_t)s->bytes + 512;
	for (size_t i = 0; i < x->ntouched; i++)
		n += (size_t)__builtin_popcountll(x->touched[i]);
	return n * (size_t)ck->cfg->checkpoint_page + 512;
}

int
ckpt_flush(struct ckpt *ck, int all, int64_t *next_due)
{
	struct session *ss[BATCH_MAX], *s;
	int res[BATCH_MAX];
	int64_t now = now_ms(), ivl = ck->cfg->checkpoint_interval_ms;
	size_t n, ok, cost;
	int rounds = 0;

	*next_due = 0;
	if (!ckpt_enabled(ck))
		return 0;
	land(ck, 1);
	if (ck->fl_failed) {
		/* The last slice was refused whole: not again at once. */
		ck->fl_failed = 0;
		if (!all)
			return STICKY_EREDIS;
	}
	if (!all && ensure_conn(ck) == 0) {
		/*
		 * Redis lost data: every session held here is written now,
		 * whole batches, before any request is served, so that the
		 * window in which another worker could take a user over from
		 * what Redis has left (older, or nothing) is as short as it
		 * can be.  Rare, and worth a pause.
		 */
		if (check_generation(ck))
			all = 1;
		else if (now >= ck->next_scrub_ms) {
			ck->next_scrub_ms = now + SCRUB_EVERY_MS;
			scrub(ck);
		}
	}
	/*
	 * Oldest change first; one pipeline of at most SLICE_BYTES of work
	 * (what encoding, comparing and sending them reads: not a number of
	 * sessions, which may be 1 KiB or 1 MiB each) per call unless
	 * everything must go (stop, reload), so a flush never holds the
	 * requests that wait behind it for long: the worker serves what is
	 * pending before it comes back for the next slice, and a slice stops
	 * growing as soon as a request is waiting (one session at least, so
	 * checkpoints keep up under any load).
	 */
	do {
		n = 0;
		cost = 0;
		for (s = store_dirty_oldest(ck->store); s != NULL &&
		    n < BATCH_MAX; s = s->dirty_next) {
			if (!all && store_age_ms(now, s->dirty_since_ms) < ivl)
				break;
			/*
			 * A request waits: it goes first, the rest next slice
			 * (asked before the cost, which may lay the state out:
			 * a pickle, for sticky-wsgi).
			 */
			if (!all && n > 0 && ck->pending != NULL &&
			    ck->pending(ck->arg))
				break;
			cost += flush_cost(ck, s);
			if (!all && n > 0 && cost > SLICE_BYTES)
				break;
			ss[n++] = s;
		}
		if (n == 0)
			break;
		if (!all && ck->cfg->checkpoint == CKPT_ASYNC) {
			/* Requests are served while Redis answers. */
			if (flush_send(ck, ss, n) != 0)
				return STICKY_EAGAIN;
			break;
		}
		if (ckpt_write(ck, ss, n, res) != 0)
			return STICKY_EAGAIN; /* Redis unreachable: after backoff */
		ok = 0;
		for (size_t i = 0; i < n; i++) {
			ok += res[i] == 0 || res[i] == STICKY_EFENCED;
			if (res[i] == STICKY_EFENCED)
				hand_back(ck, ss[i]);
		}
		if (ok == 0)
			return STICKY_EREDIS; /* Redis refuses them: next time */
	} while (all && ++rounds < 1000000);
	if ((s = store_dirty_oldest(ck->store)) != NULL)
		*next_due = now - store_age_ms(now, s->dirty_since_ms) + ivl;
	return 0;
}

/* Another worker took a session over: our copy is stale, hand it back. */
static void
on_takeover(const char *key, uint64_t epoch, const char *owner, void *arg)
{
	struct ckpt *ck = arg;
	struct session *s = store_peek(ck->store, key);
	char sidbuf[16];

	if (s == NULL || epoch <= s->epoch)
		return; /* not ours, or our own takeover */
	ck->stats->ckpt_fenced++;
	log_info("taken_over", "sid=%s epoch=%llu by=%s action=drop_local_copy",
	    log_sid(key, sidbuf), (unsigned long long)epoch, owner);
	hand_back(ck, s);
}

/*
 * While the subscription is down announcements are missed: after it is
 * back, every session checks its epoch once before it is served again
 * (the same as after a stall).
 */
int
ckpt_watch_fd(struct ckpt *ck, int64_t *wait_ms)
{
	int64_t left;

	if (!ckpt_enabled(ck))
		return -1;
	if (redis_sub_fd(ck->redis) < 0) {
		if ((left = redis_sub_backoff_left_ms(ck->redis)) > 0) {
			if (left < *wait_ms)
				*wait_ms = left;
			return -1;
		}
		if (redis_sub_open(ck->redis) != 0)
			return -1;
		ck->stall_gen++;
		/* Announcements read with the confirmation sit in a buffer. */
		ckpt_watch_read(ck);
	}
	return redis_sub_fd(ck->redis);
}

void
ckpt_watch_read(struct ckpt *ck)
{
	int rc;

	if (redis_sub_fd(ck->redis) < 0)
		return;
	/*
	 * A write of the slice out may have re-claimed a session with a new
	 * epoch, announced: its reply first, or we would take our own
	 * announcement for another worker's and drop the session with the
	 * changes made since.
	 */
	land(ck, 1);
	rc = redis_sub_read(ck->redis, on_takeover, ck);
	/*
	 * Broken: announcements were missed.  A backlog: this worker was
	 * stopped or busy while many of its users moved, and more may still
	 * sit in Redis's output buffer.  Either way every session checks its
	 * epoch once before it is served from memory again.
	 */
	if (rc == STICKY_EREDIS || rc == 1) {
		ck->stall_gen++;
		if (rc == 1)
			log_info("announcement_backlog", "action=verify_owners");
	}
}

int
ckpt_settled(const struct ckpt *ck)
{
	return !ckpt_enabled(ck) || redis_conn_gen(ck->redis) == ck->conn_gen;
}

int
ckpt_sub_fd(const struct ckpt *ck)
{
	return ckpt_enabled(ck) ? redis_sub_fd(ck->redis) : -1;
}

int
ckpt_watching(const struct ckpt *ck)
{
	return ckpt_enabled(ck) && redis_sub_fd(ck->redis) >= 0;
}

/*
 * Redis lost this session (no owner record) or holds an older epoch than
 * ours (restored from an old copy, a lagging replica promoted): our copy is
 * the newest there is, so write it now, re-claiming the session with a new
 * epoch (redis_write_batch()).  Only a newer epoch fences us.
 */
static int
reclaim(struct ckpt *ck, struct session *s)
{
	int res;

	store_dirty(ck->store, s, now_ms());
	if (write_some(ck, &s, 1, &res) != 0 && res == 0)
		res = STICKY_EAGAIN;
	if (res == STICKY_EFENCED)
		return STICKY_EFENCED; /* the caller drops it */
	return res == 0 ? 0 : STICKY_EAGAIN; /* still dirty: written later */
}

int
ckpt_check_owner(struct ckpt *ck, struct session *s)
{
	uint64_t epoch;
	char owner[64], key[SID_KEY_LEN + 1];
	int rc;

	if (!(s->flags & SESS_IN_REDIS))
		return 0; /* never written: nobody else can own it */
	if (ensure_conn(ck) != 0)
		return STICKY_EAGAIN;
	rc = redis_owner(ck->redis, session_key(s, key), &epoch, owner,
	    sizeof(owner));
	if (rc == STICKY_ENOENT || (rc == 0 && epoch < s->epoch))
		return reclaim(ck, s);
	if (rc != 0)
		return STICKY_EAGAIN;
	return epoch == s->epoch ? 0 : STICKY_EFENCED;
}

static void
mark_dirty_cb(struct session *s, void *arg)
{
	struct ckpt *ck = arg;

	if (s->flags & SESS_IN_REDIS)
		store_dirty(ck->store, s, now_ms());
}

/*
 * The scrub: a few clean sessions per call, from the least recently used
 * on, compared with what Redis holds.  Redis lost one (keys deleted) or
 * holds another checkpoint at our epoch (an older copy restored): it is
 * written again.  A newer epoch is left to announcements and fencing.
 * The cursor is a name, so a session freed meanwhile cannot dangle.
 */
/*
 * Does the checkpoint header Redis holds (epoch equal to ours) describe what
 * this clean session last wrote?  Sessions with a delta base keep that
 * header; a small one (a page or less, no extension) is encoded again and
 * compared by length and payload CRC: clean, it encodes to what was written.
 */
static int
written_matches(struct ckpt *ck, struct session *s,
    const unsigned char hdr[ENV_HDR_LEN])
{
	struct envelope env;
	struct sticky_buf b;
	const char *why;
	uint32_t meta;
	int same;

	if (s->x != NULL && s->x->written_len > 0)
		return memcmp(hdr, s->x->written_hdr, ENV_HDR_LEN) == 0;
	if (envelope_decode_header(hdr, ENV_HDR_LEN, ck->app_id, &env,
	    &why) != 0)
		return 0;
	buf_init(&b);
	if (payload_encode(ck->app, ck->cfg, s, &b, &meta) != 0) {
		buf_cleanup(&b);
		return 1; /* cannot tell (out of memory): leave it */
	}
	same = env.meta_len == meta && env.app_len + meta == b.len &&
	    env.crc == crc32c(0, b.data, b.len);
	buf_cleanup(&b);
	return same;
}

static void
scrub(struct ckpt *ck)
{
	struct session *s = NULL, *next;
	unsigned char hdr[ENV_HDR_LEN];
	char sidbuf[16], name[SID_KEY_LEN + 1];
	size_t hdrlen;
	uint64_t epoch;
	int rc;

	if (ck->scrub_next[0] != '\0')
		s = store_peek(ck->store, ck->scrub_next);
	if (s == NULL)
		s = store_lru(ck->store);
	for (int n = 0; s != NULL && n < SCRUB_PER_FLUSH; n++, s = next) {
		next = store_newer(s);
		if (!(s->flags & SESS_IN_REDIS) || s->dirty_since_ms != 0)
			continue; /* written soon anyway */
		session_key(s, name);
		rc = redis_peek(ck->redis, name, &epoch, hdr, &hdrlen);
		if (rc != 0 && rc != STICKY_ENOENT)
			break; /* Redis unreachable: next time */
		if (rc == 0 && (epoch > s->epoch || (epoch == s->epoch &&
		    hdrlen == ENV_HDR_LEN && written_matches(ck, s, hdr))))
			continue;
		log_warn("scrub_rewrite", "sid=%s reason=%s", log_sid(name,
		    sidbuf), rc == STICKY_ENOENT || hdrlen == 0 ? "missing" :
		    "older_in_redis");
		store_dirty(ck->store, s, now_ms());
	}
	if (s != NULL)
		session_key(s, ck->scrub_next);
	else
		ck->scrub_next[0] = '\0';
}

/*
 * Did Redis lose data since we last looked (restarted empty, flushed,
 * replaced)?  Then every session held here is written again: the writes
 * re-claim what Redis lost.  At most once a GEN_CHECK_MS, and at once after
 * each (re)connection (Redis restarted, another master promoted).  1 when
 * Redis lost data (every session is then marked dirty).
 */
static int
check_generation(struct ckpt *ck)
{
	int64_t now = now_ms();
	unsigned char rnd[12];
	char fresh[2 * sizeof(rnd) + 1], seen[64];
	unsigned cg = redis_conn_gen(ck->redis);
	int lost = 0;

	if (now < ck->next_gen_check_ms && cg == ck->conn_gen)
		return 0;
	ck->next_gen_check_ms = now + GEN_CHECK_MS;
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		return 0;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(fresh + 2 * i, 3, "%02x", rnd[i]);
	if (redis_generation(ck->redis, fresh, seen, sizeof(seen)) != 0)
		return 0; /* unreachable: asked again later */
	ck->conn_gen = cg;
	if (ck->redis_gen[0] != '\0' && strcmp(seen, ck->redis_gen) != 0) {
		log_warn("redis_data_lost", "sessions=%zu action=rewrite_all",
		    store_count(ck->store));
		store_foreach(ck->store, mark_dirty_cb, ck);
		lost = 1;
	}
	snprintf(ck->redis_gen, sizeof(ck->redis_gen), "%s", seen);
	return lost;
}

int
ckpt_drop(struct ckpt *ck, struct session *s)
{
	char key[SID_KEY_LEN + 1];
	int rc;

	land(ck, 0); /* its first write may be out: in Redis once landed */
	if (!(s->flags & SESS_IN_REDIS))
		return 0;
	if (ensure_conn(ck) != 0)
		return STICKY_EAGAIN;
	rc = redis_drop(ck->redis, session_key(s, key), s->epoch);
	if (rc == STICKY_EREDIS)
		return STICKY_EAGAIN;
	return rc;
}
