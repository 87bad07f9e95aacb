/*
 * checkpoint.c: when sessions reach Redis, and how they come back.  A
 * write encodes the session, diffs it against what Redis holds (delta.c)
 * and sends only the changed pages, many sessions per pipeline; every
 * write is fenced by the ownership epoch (redis_scripts.c), and a fenced
 * write means another worker owns the user now, so the local copy is
 * handed back to the owner of struct ckpt to drop, never written.
 * Sessions are known through store.h and payload.h only; what one write
 * sends (changed pages, CRC, MAC, delta runs) is built by ckpt_build.c,
 * and how it is sent and settled (waited for, or an async slice landed
 * later) is ckpt_write.c's.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "bytes.h"
#include "checkpoint.h"
#include "ckpt_build.h"
#include "ckpt_int.h"
#include "config.h"
#include "delta.h"
#include "envelope.h"
#include "metrics.h"
#include "payload.h"
#include "redis.h"
#include "secret.h"
#include "store.h"

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
	redis_write_hook(ck->redis, ckpt_land_hook, ck);
	if (ck->store != NULL)
		store_on_remove(ck->store, ckpt_land_hook, ck);
	rc = redis_connect(ck->redis); /* failures are retried with backoff */
	ck->stats->redis_up = rc == 0;
	return 0;
}

void
ckpt_close(struct ckpt *ck)
{
	ckpt_land_in(ck, 0); /* a slice still out: before the store goes */
	if (ck->redis != NULL)
		redis_write_hook(ck->redis, NULL, NULL);
	redis_free(ck->redis);
	ck->redis = NULL;
}

/* Connected now?  Maps every failure to STICKY_EAGAIN for callers. */
int
ckpt_ensure_conn(struct ckpt *ck)
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
	if ((rc = ckpt_ensure_conn(ck)) != 0 || !ck->replicas_short)
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

int
ckpt_has_view(const struct ckpt *ck, const struct session *s)
{
	const void *d;
	size_t n;

	return ck->app->codec.view != NULL && s->state != NULL &&
	    ck->app->codec.view(s->state, &d, &n, ck->app->appdata) == 0;
}

/*
 * Keep what Redis now holds as the base of the next delta, or nothing:
 * a payload of one page or less is written whole anyway (the page is the
 * unit of a delta), so a copy would only double the session's memory; and
 * a codec with a view is its own base (touched pages are what changed).
 */
int
ckpt_keep_base(const struct ckpt *ck, struct session *s, struct sticky_buf *b,
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
	if (big && !ckpt_has_view(ck, s) && b->len == len) {
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
	if (ckpt_ensure_conn(ck) != 0) {
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
		if (pcrc != NULL && ckpt_has_view(ck, s)) {
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
		if (!ckpt_has_view(ck, s) && plen > (size_t)ck->cfg->checkpoint_page)
			buf_consume(&blob, ENV_HDR_LEN);
		ckpt_keep_base(ck, s, &blob, plen, plen - env.meta_len);
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

static int check_generation(struct ckpt *ck);
static void scrub(struct ckpt *ck);

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

/*
 * What writing s costs the worker, in bytes read: its touched pages on
 * the view path, else the whole state (encoded, compared, CRC'd).
 */
static size_t
flush_cost(const struct ckpt *ck, const struct session *s)
{
	const struct session_ext *x = s->x;
	size_t n = 0;

	if (!ckpt_has_view(ck, s) || x == NULL ||
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
	ckpt_land_in(ck, 1);
	if (ck->fl_failed) {
		/* The last slice was refused whole: not again at once. */
		ck->fl_failed = 0;
		if (!all)
			return STICKY_EREDIS;
	}
	if (!all && ckpt_ensure_conn(ck) == 0) {
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
			if (ckpt_send(ck, ss, n) != 0)
				return STICKY_EAGAIN;
			break;
		}
		if (ckpt_write(ck, ss, n, res) != 0)
			return STICKY_EAGAIN; /* Redis unreachable: after backoff */
		ok = 0;
		for (size_t i = 0; i < n; i++) {
			ok += res[i] == 0 || res[i] == STICKY_EFENCED;
			if (res[i] == STICKY_EFENCED)
				ckpt_hand_back(ck, ss[i]);
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

	/*
	 * Not ours, or an older epoch, or our own (a re-claim announces our
	 * epoch).  Another owner at our epoch took it over from a lagging
	 * replica (see the write script): ours is the copy to drop.
	 */
	if (s == NULL || epoch < s->epoch ||
	    (epoch == s->epoch && strcmp(owner, ck->tag) == 0))
		return;
	ck->stats->ckpt_fenced++;
	log_info("taken_over", "sid=%s epoch=%llu by=%s action=drop_local_copy",
	    log_sid(key, sidbuf), (unsigned long long)epoch, owner);
	ckpt_hand_back(ck, s);
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
	ckpt_land_in(ck, 1);
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
	if (ckpt_write_some(ck, &s, 1, &res) != 0 && res == 0)
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
	if (ckpt_ensure_conn(ck) != 0)
		return STICKY_EAGAIN;
	rc = redis_owner(ck->redis, session_key(s, key), &epoch, owner,
	    sizeof(owner));
	if (rc == STICKY_ENOENT || (rc == 0 && epoch < s->epoch))
		return reclaim(ck, s);
	if (rc != 0)
		return STICKY_EAGAIN;
	/* Another owner at our epoch: see the write script. */
	return epoch == s->epoch && strcmp(owner, ck->tag) == 0 ? 0 :
	    STICKY_EFENCED;
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

	ckpt_land_in(ck, 0); /* its first write may be out: in Redis once landed */
	if (!(s->flags & SESS_IN_REDIS))
		return 0;
	if (ckpt_ensure_conn(ck) != 0)
		return STICKY_EAGAIN;
	rc = redis_drop(ck->redis, session_key(s, key), s->epoch);
	if (rc == STICKY_EREDIS)
		return STICKY_EAGAIN;
	return rc;
}
