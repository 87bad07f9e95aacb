/*
 * ckpt_build.c: what one checkpoint write sends (see ckpt_build.h).
 */
#include <string.h>

#include "ckpt_build.h"
#include "config.h"
#include "internal.h"
#include "payload.h"


/* CRC32C continued over payload bytes [off, off + n), from either piece. */
static uint32_t
pcrc(const struct pending *p, uint32_t crc, size_t off, size_t n)
{
	if (p->app == NULL)
		return crc32c(crc, p->payload.data + off, n);
	if (off < p->app_len) {
		size_t a = p->app_len - off < n ? p->app_len - off : n;

		crc = crc32c(crc, p->app + off, a);
		off += a;
		n -= a;
	}
	return n > 0 ? crc32c(crc, p->payload.data + (off - p->app_len), n) :
	    crc;
}

static int
touched_page(const struct session_ext *x, size_t i)
{
	return i / 64 < x->ntouched &&
	    (x->touched[i / 64] >> (i % 64) & 1) != 0;
}

/*
 * On the view path, must full page i be read (and sent) afresh?  Touched,
 * holding bytes of a changed replay log, not held in full by Redis, or
 * the partial last page.
 */
static int
view_page_changed(const struct pending *p, const struct session_ext *x,
    size_t i, size_t page)
{
	size_t off = i * page;

	return i >= x->npage_crc || off + page > p->len ||
	    (off < p->app_len && touched_page(x, i)) ||
	    ((p->s->flags & SESS_META_DIRTY) && off + page > p->app_len);
}

/*
 * n bytes of the payload at off: in place when they are in one piece,
 * else copied into tmp (n <= SECRET_MAC_BLOCK).
 */
static const unsigned char *
payload_at(const struct pending *p, size_t off, size_t n, unsigned char *tmp)
{
	if (p->app == NULL)
		return p->payload.data + off;
	if (off + n <= p->app_len)
		return p->app + off;
	if (off >= p->app_len)
		return p->payload.data + (off - p->app_len);
	memcpy(tmp, p->app + off, p->app_len - off);
	memcpy(tmp + (p->app_len - off), p->payload.data,
	    n - (p->app_len - off));
	return tmp;
}

/*
 * The checkpoint's MAC (secret.h): the tag of every full 4 KiB block, read
 * afresh only for the blocks of pages payload_crc read afresh (the others
 * are what Redis holds already, their tags kept from the last write), then
 * the partial last block.  A one-page change to a 1 MiB state hashes one or
 * two blocks and 4 KiB of tags, not 1 MiB.
 */
static int
payload_mac(struct ckpt *ck, struct pending *p)
{
	const struct session_ext *x = p->s->x;
	size_t page = (size_t)ck->cfg->checkpoint_page, bl = SECRET_MAC_BLOCK;
	size_t nb = p->len / bl, ncached, tail;
	unsigned char tmp[SECRET_MAC_BLOCK];

	ncached = x != NULL && x->tag != NULL && p->chg != NULL ? x->ntag : 0;
	if (nb > 0 && (p->tag = xcalloc(nb, SECRET_TAG_LEN)) == NULL)
		return STICKY_ENOMEM;
	p->ntag = nb;
	for (size_t b = 0; b < nb; b++) {
		size_t first = b * bl / page, last = (b * bl + bl - 1) / page;
		int changed = b >= ncached;

		for (size_t i = first; !changed && i <= last; i++)
			changed = i >= p->npage_crc || p->chg[i];
		if (changed)
			secret_block_tag(payload_at(p, b * bl, bl, tmp),
			    p->tag + b * SECRET_TAG_LEN);
		else
			memcpy(p->tag + b * SECRET_TAG_LEN,
			    x->tag + b * SECRET_TAG_LEN, SECRET_TAG_LEN);
	}
	tail = p->len - nb * bl;
	secret_mac_tags(ck->cfg->secrets, 0, p->hdr, ENV_HDR_LEN, p->tag, nb,
	    payload_at(p, nb * bl, tail, tmp), tail, p->mac);
	return 0;
}

/*
 * The payload's CRC32C, reading only the pages that changed since the last
 * write: unchanged full pages reuse their cached CRC and everything is
 * folded with the page-length shift operator (at 1 MiB a full CRC was 115
 * us of the ~160 a checkpoint cost; one changed page costs ~2 us).
 * nruns < 0: no usable diff, read everything.  On the view path a page
 * changed when it was touched or holds replay log bytes that changed.
 */
static uint32_t
payload_crc(struct ckpt *ck, struct pending *p, int nruns)
{
	const struct session *s = p->s;
	const struct session_ext *x = s->x;
	size_t page = (size_t)ck->cfg->checkpoint_page, len = p->len;
	size_t full = len / page, r = 0, ncached = x != NULL ? x->npage_crc : 0;
	uint32_t crc = 0;

	p->page_crc = full > 0 ? xcalloc(full, sizeof(*p->page_crc)) : NULL;
	if (p->page_crc == NULL) {
		p->npage_crc = 0;
		return pcrc(p, 0, 0, len);
	}
	p->npage_crc = full;
	/* Which pages were read afresh: the MAC's block tags follow them. */
	if (ck->cfg->secrets != NULL)
		p->chg = xcalloc(full, 1);
	for (size_t i = 0; i < full; i++) {
		size_t off = i * page;
		int changed = nruns < 0 || i >= ncached;

		if (changed)
			;
		else if (p->app != NULL)
			changed = view_page_changed(p, x, i, page);
		else {
			while (r < (size_t)nruns &&
			    p->runs[r].off + p->runs[r].len <= off)
				r++;
			if (r < (size_t)nruns && p->runs[r].off < off + page)
				changed = 1;
		}
		p->page_crc[i] = changed ? pcrc(p, 0, off, page) :
		    x->page_crc[i];
		if (p->chg != NULL)
			p->chg[i] = (unsigned char)changed;
		crc = crc32c_combine(&ck->crc_page, crc, p->page_crc[i]);
	}
	return pcrc(p, crc, full * page, len - full * page);
}

/*
 * The view path: the state's bytes in place, runs from the touched pages
 * and the replay log if it changed.  Returns the number of runs, or -1
 * when it does not apply (no view, never written, changed without ranges,
 * a different length, too many runs or more than half changed): then
 * the payload is encoded.  On success p->payload holds the log section.
 */
static int
view_runs(struct ckpt *ck, struct pending *p, uint32_t *meta_len)
{
	const struct sticky_codec *c = &ck->app->codec;
	struct session *s = p->s;
	struct session_ext *x = s->x;
	size_t page = (size_t)ck->cfg->checkpoint_page, nruns = 0, changed = 0;
	const void *data;
	size_t vlen;

	if (c->view == NULL || x == NULL || !(s->flags & SESS_IN_REDIS) ||
	    (s->flags & SESS_TOUCH_ALL) || x->written_len == 0 ||
	    x->npage_crc != x->written_len / page ||
	    c->view(s->state, &data, &vlen, ck->app->appdata) != 0 ||
	    vlen != x->written_app || vlen == 0)
		return -1;
	if (payload_encode_meta(ck->cfg, s, &p->payload, meta_len) != 0) {
		buf_reset(&p->payload);
		return -1;
	}
	p->app = data;
	p->app_len = vlen;
	p->len = vlen + *meta_len;
	if (p->len < x->written_len)
		goto no;
	/*
	 * Send exactly the pages whose CRC is read afresh (payload_crc), so
	 * the header's CRC is always that of the bytes Redis holds: touched
	 * pages, pages holding a changed replay log, pages Redis did not have
	 * in full, and the last partial page.  Runs are split where the
	 * state's bytes end and the log's begin (two pieces, see redis.h).
	 */
	for (size_t i = 0; i * page < p->len; i++) {
		size_t off = i * page, end = off + page < p->len ? off + page : p->len;

		if (!view_page_changed(p, x, i, page))
			continue;
		changed += end - off;
		while (off < end) {
			size_t stop = off < vlen && end > vlen ? vlen : end;

			if (nruns > 0 && p->runs[nruns - 1].off +
			    p->runs[nruns - 1].len == off &&
			    (off != vlen || stop <= vlen))
				p->runs[nruns - 1].len += stop - off;
			else {
				if (nruns == RUNS_MAX)
					goto no;
				p->runs[nruns].off = off;
				p->runs[nruns++].len = stop - off;
			}
			off = stop;
		}
	}
	if (changed > p->len / 2)
		goto no;
	return (int)nruns;
no:
	p->app = NULL;
	p->app_len = 0;
	buf_reset(&p->payload);
	return -1;
}

int
ckpt_build(struct ckpt *ck, struct pending *p, struct redis_write *rw, int full)
{
	const struct sticky_app_def *app = ck->app;
	struct session *s = p->s;
	struct session_ext *x;
	struct envelope env;
	uint32_t meta_len;
	int nruns, rc;

	buf_init(&p->payload);
	p->app = NULL;
	p->chg = NULL;
	p->tag = NULL;
	p->ntag = 0;
	nruns = full ? DELTA_REWRITE_WHOLE : view_runs(ck, p, &meta_len);
	if (p->app == NULL) {
		if ((rc = payload_encode(ck->app, ck->cfg, s, &p->payload,
		    &meta_len)) != 0)
			return rc;
		p->len = p->payload.len;
		x = s->x;
		if (!full && (s->flags & SESS_IN_REDIS) && x != NULL &&
		    x->written.len > 0)
			nruns = delta_pages(x->written.data, x->written.len,
			    p->payload.data, p->payload.len,
			    (size_t)ck->cfg->checkpoint_page, p->runs, RUNS_MAX);
	}
	if (s->epoch == 0)
		s->epoch = 1;
	memset(&env, 0, sizeof(env));
	env.format = ENV_FORMAT;
	env.app_id = ck->app_id;
	env.schema = app->codec.schema_version;
	env.epoch = s->epoch;
	env.meta_len = meta_len;
	env.app_len = p->len - meta_len;
	p->meta_len = meta_len;
	env.crc = payload_crc(ck, p, nruns);
	envelope_encode(&env, p->hdr);

	memset(rw, 0, sizeof(*rw));
	rw->result = STICKY_EREDIS; /* until Redis says otherwise */
	rw->key = session_key(s, p->key);
	rw->owner = ck->tag;
	rw->epoch = s->epoch;
	rw->hdr = p->hdr;
	rw->payload_len = p->len;
	if (p->app != NULL) {
		rw->payload = p->app;
		rw->tail = p->payload.data;
		rw->tail_off = p->app_len;
	} else
		rw->payload = p->payload.data;
	rw->fresh = !(s->flags & SESS_IN_REDIS);
	if (ck->cfg->secrets != NULL) {
		/* Over what Redis will hold, whether it gets it whole or not. */
		if ((rc = payload_mac(ck, p)) != 0)
			return rc;
		rw->mac = p->mac;
		rw->maclen = SECRET_MAC_LEN;
	}
	if (nruns != DELTA_REWRITE_WHOLE) {
		rw->prev_hdr = s->x->written_hdr;
		rw->runs = p->runs;
		rw->nruns = (size_t)nruns;
	}
	return 0;
}

/* A delta was refused: the whole payload in one piece, for a full write. */
int
ckpt_build_flatten(struct pending *p, struct redis_write *rw)
{
	struct sticky_buf b;

	if (p->app != NULL) {
		buf_init(&b);
		if (buf_append(&b, p->app, p->app_len) != 0 ||
		    buf_append(&b, p->payload.data, p->payload.len) != 0) {
			buf_cleanup(&b);
			return STICKY_ENOMEM;
		}
		buf_cleanup(&p->payload);
		p->payload = b;
		p->app = NULL;
		p->app_len = 0;
	}
	rw->payload = p->payload.data;
	rw->tail = NULL;
	rw->tail_off = 0;
	rw->prev_hdr = NULL;
	rw->runs = NULL;
	rw->nruns = 0;
	return 0;
}

size_t
ckpt_build_bytes(const struct redis_write *rw)
{
	size_t n = ENV_HDR_LEN;

	if (rw->prev_hdr == NULL)
		return n + rw->payload_len;
	for (size_t i = 0; i < rw->nruns; i++)
		n += rw->runs[i].len;
	return n;
}

void
ckpt_build_free(struct pending *p)
{
	buf_cleanup(&p->payload);
	xfree(p->page_crc);
	xfree(p->chg);
	xfree(p->tag);
	xfree(p->taken);
	p->page_crc = NULL;
	p->chg = NULL;
	p->tag = NULL;
	p->taken = NULL;
}
