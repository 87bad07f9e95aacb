/*
 * ckpt_write.c: writing sessions to Redis.  A write takes the session's
 * changes when it is sent and gives them back if it fails; ckpt_write()
 * waits for the replies (sync mode, eviction, stop), ckpt_send() does not
 * (async flush slices: the replies are read by ckpt_land() between
 * requests, or first thing by any other use of Redis).  What one write
 * sends is built by ckpt_build.c; when to write is checkpoint.c's.
 */
#include <string.h>

#include "checkpoint.h"
#include "ckpt_build.h"
#include "ckpt_int.h"
#include "config.h"
#include "metrics.h"
#include "payload.h"
#include "redis.h"
#include "store.h"

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
		if (ckpt_keep_base(ck, s, &p->payload, p->len,
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

int
ckpt_write_some(struct ckpt *ck, struct session **ss, size_t n, int *results)
{
	struct pending *p;
	struct redis_write *rw;
	size_t i, nresync;
	int rc = 0;

	if (n == 0)
		return 0;
	if (ckpt_ensure_conn(ck) != 0) {
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

		rc = ckpt_write_some(ck, ss + off, m, results + off);
		if (rc != 0)
			break;
	}
	return rc;
}

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
		ckpt_hand_back(ck, s);
	else
		s->gen = (uint16_t)(ck->stall_gen + 0x8000u);
}

void
ckpt_land_in(struct ckpt *ck, int loop)
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
		ckpt_write_some(ck, again, na, res);
		for (size_t i = 0; i < na; i++) {
			ok += res[i] == 0 || res[i] == STICKY_EFENCED;
			if (res[i] == STICKY_EFENCED)
				fenced_later(ck, again[i], loop);
		}
	}
	ck->fl_failed = ok == 0;
}

/* The hooks of redis.h and store.h: not from the loop. */
void
ckpt_land_hook(void *arg)
{
	ckpt_land_in(arg, 0);
}

void
ckpt_land(struct ckpt *ck)
{
	ckpt_land_in(ck, 1);
}

void
ckpt_land_kept(struct ckpt *ck)
{
	ckpt_land_in(ck, 0);
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
int
ckpt_send(struct ckpt *ck, struct session **ss, size_t n)
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
		ckpt_land_in(ck, 1); /* nothing went out: failed ones dirty again */
		return rc != 0 ? STICKY_EAGAIN : 0;
	}
	return 0;
}

/* A session another worker owns now: the owner of ck drops it. */
void
ckpt_hand_back(struct ckpt *ck, struct session *s)
{
	if (ck->drop != NULL)
		ck->drop(s, ck->arg);
	else
		store_clean(ck->store, s); /* not retried forever */
}

