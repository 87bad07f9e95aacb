/*
 * redis_ckpt.c: the checkpoint operations on the command connection:
 * takeover, claim and owner record, logout, setting a bad checkpoint
 * aside, renaming, and stickyctl's raw get and delete (the writes:
 * redis_write.c).  Every change is one of redis_scripts.c's scripts.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "envelope.h"
#include "redis_int.h"

#define BAD_TTL_S (7L * 24 * 3600) /* how long a set-aside checkpoint is kept */

/* ---- helpers (redis_int.h) ------------------------------------------- */

/* A new string P{K}:<suffix>; the caller has checked rd_key_valid(). */
char *
rd_key_make(const struct redis *r, const char *key, const char *suffix,
    size_t *len)
{
	size_t n = r->prefixlen + strlen(key) + strlen(suffix) + 3;
	char *p;

	if ((p = xmalloc(n + 1)) == NULL)
		return NULL;
	snprintf(p, n + 1, "%s{%s}:%s", r->prefix, key, suffix);
	*len = n;
	return p;
}

void
rd_keys_free(struct keyset *ks)
{
	for (int i = 0; i < NKEYS; i++) {
		xfree(ks->k[i]);
		ks->k[i] = NULL;
	}
}

int
rd_keys_make(const struct redis *r, const char *key, struct keyset *ks)
{
	static const char *const suffix[NKEYS] = { "u", "s", "o" };

	memset(ks, 0, sizeof(*ks));
	if (!rd_key_valid(key))
		return STICKY_EINVAL;
	for (int i = 0; i < NKEYS; i++)
		if ((ks->k[i] = rd_key_make(r, key, suffix[i], &ks->len[i])) ==
		    NULL) {
			rd_keys_free(ks);
			return STICKY_ENOMEM;
		}
	return 0;
}

/* The integer reply of a script, or STICKY_EREDIS with r->err set. */
int
rd_int_reply(struct redis *r, const char *op, redisReply *rep, long long *v)
{
	if (rep->type != REDIS_REPLY_INTEGER)
		return rd_bad_reply(r, op, rep);
	*v = rep->integer;
	return 0;
}

/*
 * Run a script that answers 1 (done) or 0 (refused): 0, refused_rc, or
 * an error (STICKY_EREDIS with r->err set for any other reply).
 */
static int
eval_done(struct redis *r, enum script_id id, const char *op, int argc,
    const char **argv, size_t *lens, int refused_rc)
{
	redisReply *rep = NULL;
	long long v = 0;
	int rc;

	if ((rc = rd_eval(r, id, op, argc, argv, lens, &rep)) == 0 &&
	    (rc = rd_int_reply(r, op, rep, &v)) == 0) {
		if (v == 0)
			rc = refused_rc;
		else if (v != 1)
			rc = rd_bad_reply(r, op, rep);
	}
	if (rep != NULL)
		freeReplyObject(rep);
	return rc;
}

/* The keys from argv[at] on. */
void
rd_set_keys(const char **argv, size_t *lens, int at, const struct keyset *ks)
{
	for (int i = 0; i < NKEYS; i++) {
		argv[at + i] = ks->k[i];
		lens[at + i] = ks->len[i];
	}
}

/* The session key and the channel, argv[8] and [9] of takeover and drop. */
static void
set_announce(const struct redis *r, const char **argv, size_t *lens,
    const char *key)
{
	argv[8] = key;
	lens[8] = strlen(key);
	argv[9] = r->channel;
	lens[9] = r->channellen;
}

/* ---- ownership ------------------------------------------------------- */

/*
 * MULTI, the takeover script, GETRANGE of the checkpoint, EXEC: both run
 * at once, so the checkpoint read is the one the script took over, and it
 * comes back as a plain reply (not through Lua).  A user whose ACL refuses
 * MULTI gets the two run one after the other: the script has run then
 * (Redis answered MULTI with an error and went on), so its answer counts.
 * On success t->script and t->blob are the two answers; every reply is in
 * t->rep, for takeover_free().  A NOSCRIPT reloads the scripts and goes
 * again once.
 */
struct takeover_txn {
	redisReply *rep[4];
	redisReply *script, *blob;
};

static void
takeover_free(struct takeover_txn *t)
{
	for (int i = 0; i < 4; i++)
		if (t->rep[i] != NULL)
			freeReplyObject(t->rep[i]);
	memset(t, 0, sizeof(*t));
}

static int
takeover_exec(struct redis *r, int argc, const char **argv, size_t *lens,
    struct takeover_txn *t)
{
	char rl[NUMLEN];
	const char *gr[4] = { "GETRANGE", argv[3], rl, "-1" };
	size_t grl[4] = { 8, lens[3], 0, 2 };
	redisReply **q = t->rep;
	void *p;
	int rc;

	memset(t, 0, sizeof(*t));
	grl[2] = rd_fmt_num(rl, REC_LEN);
	argv[0] = "EVALSHA";
	lens[0] = 7;
	argv[2] = "3";
	lens[2] = 1;
	for (int tries = 0;; tries++) {
		argv[1] = r->sha[SCR_TAKEOVER];
		lens[1] = 40;
		if ((rc = redis_connect(r)) != 0)
			return rc;
		if (redisAppendCommand(r->cmd.c, "MULTI") != REDIS_OK ||
		    redisAppendCommandArgv(r->cmd.c, argc, argv, lens) != REDIS_OK ||
		    redisAppendCommandArgv(r->cmd.c, 4, gr, grl) != REDIS_OK ||
		    redisAppendCommand(r->cmd.c, "EXEC") != REDIS_OK)
			return rd_io_failed(r, "takeover");
		for (int i = 0; i < 4; i++) {
			if (redisGetReply(r->cmd.c, &p) != REDIS_OK || p == NULL) {
				takeover_free(t);
				return rd_io_failed(r, "takeover");
			}
			q[i] = p;
		}
		if (q[0]->type == REDIS_REPLY_ERROR) {
			/* No transaction: the script and GETRANGE ran as such. */
			if (!r->multi_warned) {
				r->multi_warned = 1;
				log_warn("redis_multi_refused", "reason=\"%.*s\" "
				    "action=\"restores run the takeover and the read "
				    "one after the other; give the ACL user +multi "
				    "+exec\"", (int)q[0]->len, q[0]->str);
			}
			t->script = q[1];
			t->blob = q[2];
		} else if (q[1]->type == REDIS_REPLY_ERROR ||
		    q[2]->type == REDIS_REPLY_ERROR) {
			/* Refused when queued (READONLY, NOPERM): nothing ran. */
			rc = rd_bad_reply(r, "takeover",
			    q[1]->type == REDIS_REPLY_ERROR ? q[1] : q[2]);
			takeover_free(t);
			return rc;
		} else if (q[3]->type == REDIS_REPLY_ARRAY && q[3]->elements == 2) {
			t->script = q[3]->element[0];
			t->blob = q[3]->element[1];
		} else {
			rc = q[3]->type == REDIS_REPLY_ERROR ?
			    rd_bad_reply(r, "takeover", q[3]) : STICKY_EREDIS;
			if (q[3]->type != REDIS_REPLY_ERROR)
				rd_set_err(r, "takeover: malformed reply");
			takeover_free(t);
			return rc;
		}
		if (rd_is_noscript(t->script) && tries == 0) {
			takeover_free(t);
			if ((rc = rd_reload_scripts(r)) != 0)
				return rc;
			continue;
		}
		break;
	}
	if (t->script->type == REDIS_REPLY_ERROR ||
	    t->blob->type == REDIS_REPLY_ERROR) {
		rc = rd_bad_reply(r, "takeover",
		    t->script->type == REDIS_REPLY_ERROR ? t->script : t->blob);
		takeover_free(t);
		return rc;
	}
	return 0;
}

int
redis_takeover(struct redis *r, const char *key, const char *owner,
    uint64_t *epoch, struct sticky_buf *blob, unsigned char *mac,
    size_t *maclen)
{
	const char *argv[10];
	size_t lens[10];
	char ttl[NUMLEN];
	struct keyset kp;
	struct takeover_txn t = { { NULL, NULL, NULL, NULL }, NULL, NULL };
	redisReply *s, *e, *b, *m;
	int rc;

	if (maclen != NULL)
		*maclen = 0;
	*epoch = 0;

	if (!rd_owner_valid(owner))
		return STICKY_EINVAL;
	if ((rc = rd_keys_make(r, key, &kp)) != 0)
		return rc;
	rd_set_keys(argv, lens, 3, &kp);
	argv[6] = owner;
	lens[6] = strlen(owner);
	argv[7] = ttl;
	lens[7] = rd_fmt_num(ttl, (uint64_t)r->ttl_s);
	set_announce(r, argv, lens, key);
	if ((rc = takeover_exec(r, 10, argv, lens, &t)) != 0)
		goto out;
	s = t.script;
	if (s->type == REDIS_REPLY_NIL || (s->type == REDIS_REPLY_INTEGER &&
	    s->integer == 0)) {
		*epoch = s->type == REDIS_REPLY_INTEGER; /* logged out */
		rc = STICKY_ENOENT;
		goto out;
	}
	if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 ||
	    (e = s->element[0])->type != REDIS_REPLY_INTEGER ||
	    e->integer <= 0 ||
	    (b = t.blob)->type != REDIS_REPLY_STRING ||
	    (m = s->element[1])->type != REDIS_REPLY_STRING) {
		rd_set_err(r, "takeover: malformed reply");
		rc = STICKY_EREDIS;
		goto out;
	}
	if (mac != NULL && maclen != NULL && m->len <= REDIS_MAC_MAX) {
		memcpy(mac, m->str, m->len);
		*maclen = m->len;
	}
	rd_take_str(b, blob);
	*epoch = (uint64_t)e->integer;
out:
	takeover_free(&t);
	rd_keys_free(&kp);
	return rc;
}

int
redis_claim(struct redis *r, const char *key, const char *owner,
    uint64_t *epoch)
{
	const char *argv[8];
	size_t lens[8];
	char ttl[NUMLEN];
	struct keyset kp;
	int rc;

	if (!rd_owner_valid(owner))
		return STICKY_EINVAL;
	if ((rc = rd_keys_make(r, key, &kp)) != 0)
		return rc;
	rd_set_keys(argv, lens, 3, &kp);
	argv[6] = owner;
	lens[6] = strlen(owner);
	argv[7] = ttl;
	lens[7] = rd_fmt_num(ttl, (uint64_t)r->ttl_s);
	if ((rc = eval_done(r, SCR_CLAIM, "claim", 8, argv, lens,
	    STICKY_EFENCED)) == 0)
		*epoch = 1;
	rd_keys_free(&kp);
	return rc;
}

/*
 * The read script: the owner record and, with all, the checkpoint.  *rep
 * is NULL (STICKY_ENOENT: no owner record) or an array of 4 whose first
 * three elements are strings, the last a string or nil.
 */
static int
read_session(struct redis *r, const char *op, const char *key, int all,
    redisReply **out)
{
	const char *argv[7];
	size_t lens[7];
	struct keyset kp;
	redisReply *rep = NULL;
	int rc;

	*out = NULL;
	if ((rc = rd_keys_make(r, key, &kp)) != 0)
		return rc;
	rd_set_keys(argv, lens, 3, &kp);
	argv[6] = all ? "all" : "record";
	lens[6] = strlen(argv[6]);
	if ((rc = rd_eval(r, SCR_READ, op, 7, argv, lens, &rep)) != 0)
		goto out;
	if (rep->type == REDIS_REPLY_NIL) {
		rc = STICKY_ENOENT;
		goto out;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    rep->element[1]->type != REDIS_REPLY_STRING ||
	    rep->element[2]->type != REDIS_REPLY_STRING ||
	    rep->element[2]->len > REDIS_MAC_MAX ||
	    (rep->element[3]->type != REDIS_REPLY_STRING &&
	    rep->element[3]->type != REDIS_REPLY_NIL)) {
		rc = rd_bad_reply(r, op, rep);
		goto out;
	}
	*out = rep;
	rep = NULL;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	rd_keys_free(&kp);
	return rc;
}

int
redis_owner(struct redis *r, const char *key, uint64_t *epoch, char *owner,
    size_t ownerlen)
{
	redisReply *rep, *e, *w;
	int rc;

	if ((rc = read_session(r, "owner", key, 0, &rep)) != 0)
		return rc;
	e = rep->element[0];
	w = rep->element[1];
	if (rd_parse_u64(e->str, e->len, epoch) != 0) {
		rd_set_err(r, "owner: malformed owner record");
		rc = STICKY_EREDIS;
	} else if (w->len >= ownerlen)
		rc = STICKY_EINVAL;
	else {
		memcpy(owner, w->str, w->len);
		owner[w->len] = '\0';
	}
	freeReplyObject(rep);
	return rc;
}

/* ---- logout and bad checkpoints -------------------------------------- */

int
redis_drop(struct redis *r, const char *key, uint64_t epoch)
{
	const char *argv[10];
	size_t lens[10];
	char num[2][NUMLEN];
	struct keyset kp;
	int rc;

	if (epoch == 0 || epoch >= MAX_LUA_INT)
		return STICKY_EINVAL;
	if ((rc = rd_keys_make(r, key, &kp)) != 0)
		return rc;
	rd_set_keys(argv, lens, 3, &kp);
	argv[6] = num[0];
	lens[6] = rd_fmt_num(num[0], epoch);
	argv[7] = num[1];
	lens[7] = rd_fmt_num(num[1], (uint64_t)r->ttl_s);
	set_announce(r, argv, lens, key);
	rc = eval_done(r, SCR_DROP, "drop", 10, argv, lens, STICKY_EFENCED);
	rd_keys_free(&kp);
	return rc;
}

int
redis_set_aside(struct redis *r, const char *key)
{
	const char *argv[8];
	size_t lens[8];
	char ttl[NUMLEN], suffix[NUMLEN + 4], *bad = NULL;
	struct keyset kp;
	int rc;

	if ((rc = rd_keys_make(r, key, &kp)) != 0)
		return rc;
	snprintf(suffix, sizeof(suffix), "bad:%lld", (long long)time(NULL));
	if ((bad = rd_key_make(r, key, suffix, &lens[6])) == NULL) {
		rc = STICKY_ENOMEM;
		goto out;
	}
	rd_set_keys(argv, lens, 3, &kp);
	argv[6] = bad;
	argv[7] = ttl;
	lens[7] = rd_fmt_num(ttl, (uint64_t)BAD_TTL_S);
	rc = eval_done(r, SCR_SET_ASIDE, "set_aside", 8, argv, lens,
	    STICKY_ENOENT);
out:
	xfree(bad);
	rd_keys_free(&kp);
	return rc;
}

/* ---- renaming, data loss --------------------------------------------- */

int
redis_migrate(struct redis *r, const char *from, const char *to,
    const unsigned char *mac, size_t maclen, const void *expect,
    size_t expectlen)
{
	const char *argv[14];
	size_t lens[14];
	char ttl[NUMLEN];
	struct keyset a, b;
	redisReply *rep = NULL;
	long long v = 0;
	int rc;

	if (maclen > REDIS_MAC_MAX || strcmp(from, to) == 0)
		return STICKY_EINVAL;
	if ((rc = rd_keys_make(r, from, &a)) != 0)
		return rc;
	if ((rc = rd_keys_make(r, to, &b)) != 0) {
		rd_keys_free(&a);
		return rc;
	}
	rd_set_keys(argv, lens, 3, &a);
	rd_set_keys(argv, lens, 3 + NKEYS, &b);
	argv[9] = ttl;
	lens[9] = rd_fmt_num(ttl, (uint64_t)r->ttl_s);
	argv[10] = r->channel;
	lens[10] = r->channellen;
	argv[11] = from;
	lens[11] = strlen(from);
	argv[12] = maclen > 0 ? (const char *)mac : "";
	lens[12] = maclen;
	argv[13] = expectlen > 0 ? (const char *)expect : "";
	lens[13] = expectlen;
	if ((rc = rd_eval(r, SCR_MIGRATE, "migrate", 14, argv, lens,
	    &rep)) == 0 && (rc = rd_int_reply(r, "migrate", rep, &v)) == 0)
		rc = v == 1 ? 0 : v == 0 ? STICKY_EFENCED : v == -1 ?
		    STICKY_ENOENT : v == -2 ? STICKY_EAGAIN :
		    rd_bad_reply(r, "migrate", rep);
	if (rep != NULL)
		freeReplyObject(rep);
	rd_keys_free(&a);
	rd_keys_free(&b);
	return rc;
}

int
redis_generation(struct redis *r, const char *fresh, char *out,
    size_t outlen)
{
	const char *argv[5];
	size_t lens[5];
	char *key;
	redisReply *rep = NULL;
	int rc;

	if (outlen == 0 || (key = xmalloc(r->prefixlen + 11)) == NULL)
		return STICKY_ENOMEM;
	memcpy(key, r->prefix, r->prefixlen);
	memcpy(key + r->prefixlen, "generation", 11);
	argv[3] = key;
	lens[3] = r->prefixlen + 10;
	argv[4] = fresh;
	lens[4] = strlen(fresh);
	if ((rc = rd_eval(r, SCR_GENERATION, "generation", 5, argv, lens,
	    &rep)) == 0) {
		if (rep->type != REDIS_REPLY_STRING || rep->len >= outlen)
			rc = rd_bad_reply(r, "generation", rep);
		else {
			memcpy(out, rep->str, rep->len);
			out[rep->len] = '\0';
		}
	}
	if (rep != NULL)
		freeReplyObject(rep);
	xfree(key);
	return rc;
}

int
redis_peek(struct redis *r, const char *key, uint64_t *epoch,
    unsigned char hdr[ENV_HDR_LEN], size_t *hdrlen)
{
	const char *argv[6];
	size_t lens[6];
	struct keyset kp;
	redisReply *rep = NULL, *e, *h;
	int rc;

	*epoch = 0;
	*hdrlen = 0;
	if ((rc = rd_keys_make(r, key, &kp)) != 0)
		return rc;
	rd_set_keys(argv, lens, 3, &kp);
	if ((rc = rd_eval(r, SCR_PEEK, "peek", 6, argv, lens, &rep)) != 0)
		goto out;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    ((e = rep->element[0])->type != REDIS_REPLY_NIL &&
	    (e->type != REDIS_REPLY_STRING ||
	    rd_parse_u64(e->str, e->len, epoch) != 0)) ||
	    (h = rep->element[1])->type != REDIS_REPLY_STRING ||
	    h->len > ENV_HDR_LEN) {
		rc = rd_bad_reply(r, "peek", rep);
		goto out;
	}
	memcpy(hdr, h->str, h->len);
	*hdrlen = h->len;
	if (e->type == REDIS_REPLY_NIL)
		rc = STICKY_ENOENT;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	rd_keys_free(&kp);
	return rc;
}

/* ---- raw access for stickyctl ---------------------------------------- */

int
redis_mac(struct redis *r, const char *key, unsigned char *mac,
    size_t *maclen)
{
	redisReply *rep, *m;
	int rc;

	*maclen = 0;
	if ((rc = read_session(r, "mac", key, 0, &rep)) != 0)
		return rc;
	m = rep->element[2];
	if (m->len == 0)
		rc = STICKY_ENOENT;
	else {
		memcpy(mac, m->str, m->len);
		*maclen = m->len;
	}
	freeReplyObject(rep);
	return rc;
}

int
redis_get(struct redis *r, const char *key, struct sticky_buf *blob)
{
	redisReply *rep, *c;
	int rc;

	if ((rc = read_session(r, "get", key, 1, &rep)) != 0)
		return rc;
	c = rep->element[3];
	if (c->type == REDIS_REPLY_NIL)
		rc = STICKY_ENOENT;
	else
		rc = rd_take_str(c, blob);
	freeReplyObject(rep);
	return rc;
}

int
redis_delete(struct redis *r, const char *key)
{
	const char *argv[1 + NKEYS];
	size_t lens[1 + NKEYS];
	struct keyset kp;
	redisReply *rep = NULL;
	int rc;

	if ((rc = rd_keys_make(r, key, &kp)) != 0)
		return rc;
	argv[0] = "DEL";
	lens[0] = 3;
	for (int i = 0; i < NKEYS; i++) {
		argv[1 + i] = kp.k[i];
		lens[1 + i] = kp.len[i];
	}
	if ((rc = rd_command(r, "delete", 1 + NKEYS, argv, lens, &rep)) != 0)
		goto out;
	if (rep->type != REDIS_REPLY_INTEGER)
		rc = rd_bad_reply(r, "delete", rep);
	else if (rep->integer == 0)
		rc = STICKY_ENOENT;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	rd_keys_free(&kp);
	return rc;
}
