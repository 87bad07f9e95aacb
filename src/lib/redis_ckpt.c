/*
 * redis_ckpt.c: the checkpoint operations on the command connection:
 * takeover, claim and owner record, pipelined (delta) writes, logout,
 * setting a bad checkpoint aside, and stickyctl's raw get and delete.
 * Every change is one of redis_scripts.c's scripts.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "redis_int.h"

#define BAD_TTL_S (7L * 24 * 3600) /* how long a set-aside checkpoint is kept */
/* Lua numbers are doubles: epochs and lengths above 2^53 would not compare. */
#define MAX_LUA_INT ((uint64_t)1 << 53)

/*
 * A pending reply in write_batch() and the result it will get; positive,
 * like REDIS_DELTA_REFUSED (redis.h), and distinct from it.
 */
#define RES_PENDING 1
#define RES_RETRY 2

/* ---- helpers --------------------------------------------------------- */

/* Big-endian header fields, as envelope.h lays them out. */
static uint64_t
get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* meta_len + app_len of an envelope header: the payload length it claims. */
static int
hdr_total(const unsigned char *hdr, uint64_t *out)
{
	uint64_t meta = get_be(hdr + 24, 4), app = get_be(hdr + 32, 8);

	if (app > MAX_LUA_INT || meta + app > MAX_LUA_INT)
		return -1;
	*out = meta + app;
	return 0;
}

/* A new string P{K}:<suffix>; the caller has checked rd_key_valid(). */
static char *
key_make(const struct redis *r, const char *key, const char *suffix,
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

/*
 * The keys every session script gets: P{K}:u, the session's key, then
 * P{K}:s and P{K}:o, the two keys of the layout earlier releases used
 * (the scripts move such a session into P{K}:u).
 */
#define NKEYS 3
struct keyset {
	char *k[NKEYS];
	size_t len[NKEYS];
};

static void
keys_free(struct keyset *ks)
{
	for (int i = 0; i < NKEYS; i++) {
		xfree(ks->k[i]);
		ks->k[i] = NULL;
	}
}

static int
keys_make(const struct redis *r, const char *key, struct keyset *ks)
{
	static const char *const suffix[NKEYS] = { "u", "s", "o" };

	memset(ks, 0, sizeof(*ks));
	if (!rd_key_valid(key))
		return STICKY_EINVAL;
	for (int i = 0; i < NKEYS; i++)
		if ((ks->k[i] = key_make(r, key, suffix[i], &ks->len[i])) ==
		    NULL) {
			keys_free(ks);
			return STICKY_ENOMEM;
		}
	return 0;
}

/* The integer reply of a script, or STICKY_EREDIS with r->err set. */
static int
int_reply(struct redis *r, const char *op, redisReply *rep, long long *v)
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
	    (rc = int_reply(r, op, rep, &v)) == 0) {
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
static void
set_keys(const char **argv, size_t *lens, int at, const struct keyset *ks)
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
	if ((rc = keys_make(r, key, &kp)) != 0)
		return rc;
	set_keys(argv, lens, 3, &kp);
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
	keys_free(&kp);
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
	if ((rc = keys_make(r, key, &kp)) != 0)
		return rc;
	set_keys(argv, lens, 3, &kp);
	argv[6] = owner;
	lens[6] = strlen(owner);
	argv[7] = ttl;
	lens[7] = rd_fmt_num(ttl, (uint64_t)r->ttl_s);
	if ((rc = eval_done(r, SCR_CLAIM, "claim", 8, argv, lens,
	    STICKY_EFENCED)) == 0)
		*epoch = 1;
	keys_free(&kp);
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
	if ((rc = keys_make(r, key, &kp)) != 0)
		return rc;
	set_keys(argv, lens, 3, &kp);
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
	keys_free(&kp);
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

/* ---- checkpoint writes ----------------------------------------------- */

/*
 * Checks a write before it is sent: lengths agree with the headers, runs
 * are sorted, inside the payload and cover every byte past the old end
 * (SETRANGE would zero-fill a gap).  REDIS_DELTA_REFUSED for a delta that
 * would shrink the checkpoint: only a full write can.
 */
static int
write_check(const struct redis_write *w, uint64_t *prev_total)
{
	uint64_t total, covered, end = 0;

	if (!rd_key_valid(w->key) || !rd_owner_valid(w->owner) ||
	    w->hdr == NULL || (w->payload == NULL && w->payload_len > 0) ||
	    w->epoch == 0 || w->epoch >= MAX_LUA_INT ||
	    (w->mac == NULL && w->maclen > 0) || w->maclen > REDIS_MAC_MAX ||
	    hdr_total(w->hdr, &total) != 0 || total != w->payload_len)
		return STICKY_EINVAL;
	*prev_total = 0;
	if (w->prev_hdr == NULL)
		return w->tail == NULL ? 0 : STICKY_EINVAL;
	if ((w->runs == NULL && w->nruns > 0) ||
	    w->nruns > (size_t)(INT_MAX - 16) / 2 ||
	    hdr_total(w->prev_hdr, prev_total) != 0)
		return STICKY_EINVAL;
	if (total < *prev_total)
		return REDIS_DELTA_REFUSED;
	covered = *prev_total;
	for (size_t i = 0; i < w->nruns; i++) {
		const struct delta_run *d = &w->runs[i];

		if (d->len == 0 || d->off < end || d->off > total ||
		    d->len > total - d->off)
			return STICKY_EINVAL;
		end = d->off + d->len;
		if (w->tail != NULL && d->off < w->tail_off && end > w->tail_off)
			return STICKY_EINVAL;
		if (end > covered) {
			if (d->off > covered)
				return STICKY_EINVAL;
			covered = end;
		}
	}
	return covered == total ? 0 : STICKY_EINVAL;
}

/* EVALSHA argv of one write; its storage is freed by wcmd_free(). */
struct wcmd {
	int argc;
	const char **argv;
	size_t *lens;
	char *nums; /* decimal numbers the argv points into */
	struct keyset kp;
	char *stage_key; /* staged: P{K}:w:<owner> */
	size_t stage_keylen;
	unsigned char *stage; /* staged: the value, nonce first */
	size_t stage_len;
};

static void
wcmd_free(struct wcmd *cmd)
{
	xfree(cmd->argv);
	xfree(cmd->lens);
	xfree(cmd->nums);
	xfree(cmd->stage_key);
	xfree(cmd->stage);
	keys_free(&cmd->kp);
}

/*
 * Full writes from this size up go through a staging key (the write
 * script's comment says why); smaller ones pass through Lua, which costs
 * less than the extra command.  Not with checkpoint_ttl 0: the staging
 * key's own expiry (what cleans up after a write whose script never ran)
 * would move onto the checkpoint.
 */
#define STAGE_MIN (64 * 1024)
#define STAGE_TTL_MS "60000"

static int
stage_make(struct redis *r, const struct redis_write *w, struct wcmd *cmd)
{
	char suffix[MAX_OWNER_LEN + 3];
	size_t n = REC_LEN + ENV_HDR_LEN + w->payload_len;

	snprintf(suffix, sizeof(suffix), "w:%s", w->owner);
	if ((cmd->stage_key = key_make(r, w->key, suffix,
	    &cmd->stage_keylen)) == NULL ||
	    (cmd->stage = xmalloc(n)) == NULL)
		return STICKY_ENOMEM;
	/* The placeholder the record replaces starts with a nonce. */
	memset(cmd->stage, ' ', REC_LEN);
	snprintf((char *)cmd->stage, NUMLEN, "%llu-%d",
	    (unsigned long long)++r->stage_seq, (int)getpid());
	cmd->stage[strlen((char *)cmd->stage)] = ' ';
	memcpy(cmd->stage + REC_LEN, w->hdr, ENV_HDR_LEN);
	memcpy(cmd->stage + REC_LEN + ENV_HDR_LEN, w->payload, w->payload_len);
	cmd->stage_len = n;
	return 0;
}

static int
wcmd_build(struct redis *r, const struct redis_write *w, uint64_t prev_total,
    struct wcmd *cmd)
{
	size_t nargs, i;
	char *num;
	int rc, a, staged;

	memset(cmd, 0, sizeof(*cmd));
	staged = w->prev_hdr == NULL && w->payload_len >= STAGE_MIN &&
	    !r->stage_off && r->ttl_s > 0;
	a = staged ? 7 : 6; /* where ARGV starts: after 3 or 4 keys */
	nargs = (size_t)a + 10 + (w->prev_hdr != NULL ? 2 * w->nruns : 1);
	if ((rc = keys_make(r, w->key, &cmd->kp)) != 0)
		return rc;
	cmd->argv = xreallocarray(NULL, nargs, sizeof(*cmd->argv));
	cmd->lens = xreallocarray(NULL, nargs, sizeof(*cmd->lens));
	cmd->nums = xreallocarray(NULL, 3 + w->nruns, NUMLEN);
	if (cmd->argv == NULL || cmd->lens == NULL || cmd->nums == NULL ||
	    (staged && stage_make(r, w, cmd) != 0)) {
		wcmd_free(cmd);
		return STICKY_ENOMEM;
	}
	cmd->argc = (int)nargs;
	num = cmd->nums;
	cmd->argv[0] = "EVALSHA";
	cmd->lens[0] = 7;
	cmd->argv[1] = r->sha[SCR_WRITE];
	cmd->lens[1] = 40;
	cmd->argv[2] = staged ? "4" : "3";
	cmd->lens[2] = 1;
	set_keys(cmd->argv, cmd->lens, 3, &cmd->kp);
	if (staged) {
		cmd->argv[6] = cmd->stage_key;
		cmd->lens[6] = cmd->stage_keylen;
	}
	cmd->argv[a] = num;
	cmd->lens[a] = rd_fmt_num(num, w->epoch);
	num += NUMLEN;
	cmd->argv[a + 1] = num;
	cmd->lens[a + 1] = rd_fmt_num(num, (uint64_t)r->ttl_s);
	num += NUMLEN;
	cmd->argv[a + 2] = w->owner;
	cmd->lens[a + 2] = strlen(w->owner);
	cmd->argv[a + 5] = (const char *)w->hdr;
	cmd->lens[a + 5] = ENV_HDR_LEN;
	cmd->argv[a + 7] = w->maclen > 0 ? (const char *)w->mac : "";
	cmd->lens[a + 7] = w->maclen;
	cmd->argv[a + 8] = w->key;
	cmd->lens[a + 8] = strlen(w->key);
	cmd->argv[a + 9] = r->channel;
	cmd->lens[a + 9] = r->channellen;
	if (w->prev_hdr == NULL) {
		cmd->argv[a + 3] = w->fresh ? "new" : "full";
		cmd->lens[a + 3] = w->fresh ? 3 : 4;
		cmd->argv[a + 4] = "";
		cmd->lens[a + 4] = 0;
		if (staged) {
			cmd->argv[a + 6] = num;
			cmd->lens[a + 6] = rd_fmt_num(num, cmd->stage_len);
			cmd->argv[a + 10] = (const char *)cmd->stage;
			cmd->lens[a + 10] = strcspn((char *)cmd->stage, " ");
			return 0;
		}
		cmd->argv[a + 6] = "0";
		cmd->lens[a + 6] = 1;
		cmd->argv[a + 10] = w->payload_len > 0 ? (const char *)w->payload : "";
		cmd->lens[a + 10] = w->payload_len;
		return 0;
	}
	/* Offsets and lengths in the key: after the owner record. */
	cmd->argv[a + 3] = "delta";
	cmd->lens[a + 3] = 5;
	cmd->argv[a + 4] = (const char *)w->prev_hdr;
	cmd->lens[a + 4] = ENV_HDR_LEN;
	cmd->argv[a + 6] = num;
	cmd->lens[a + 6] = rd_fmt_num(num, REC_LEN + ENV_HDR_LEN + prev_total);
	num += NUMLEN;
	for (i = 0; i < w->nruns; i++) {
		cmd->argv[a + 10 + 2 * i] = num;
		cmd->lens[a + 10 + 2 * i] =
		    rd_fmt_num(num, REC_LEN + ENV_HDR_LEN + w->runs[i].off);
		num += NUMLEN;
		cmd->argv[a + 11 + 2 * i] = w->tail != NULL &&
		    w->runs[i].off >= w->tail_off ?
		    (const char *)w->tail + (w->runs[i].off - w->tail_off) :
		    (const char *)w->payload + w->runs[i].off;
		cmd->lens[a + 11 + 2 * i] = w->runs[i].len;
	}
	return 0;
}

/* Queue every write whose result is `want`; they become RES_PENDING. */
static int
batch_append(struct redis *r, struct redis_write *ws, size_t n, int want,
    size_t *queued)
{
	struct wcmd cmd;
	uint64_t prev_total;
	int rc;

	*queued = 0;
	for (size_t i = 0; i < n; i++) {
		if (ws[i].result != want)
			continue;
		if ((rc = write_check(&ws[i], &prev_total)) != 0 ||
		    (rc = wcmd_build(r, &ws[i], prev_total, &cmd)) != 0) {
			ws[i].result = rc;
			continue;
		}
		ws[i].staged = cmd.stage != NULL;
		rc = REDIS_OK;
		if (ws[i].staged) {
			const char *sv[5] = { "SET", cmd.stage_key,
				(const char *)cmd.stage, "PX", STAGE_TTL_MS };
			size_t sl[5] = { 3, cmd.stage_keylen, cmd.stage_len, 2,
				strlen(STAGE_TTL_MS) };

			rc = redisAppendCommandArgv(r->cmd.c, 5, sv, sl);
		}
		if (rc == REDIS_OK)
			rc = redisAppendCommandArgv(r->cmd.c, cmd.argc,
			    cmd.argv, cmd.lens);
		wcmd_free(&cmd);
		if (rc != REDIS_OK)
			return rd_io_failed(r, "write");
		ws[i].result = RES_PENDING;
		(*queued)++;
	}
	return 0;
}

/* Staging is refused (ACL): big full writes go inline from now on. */
static void
stage_refused(struct redis *r, const char *what)
{
	if (!r->stage_off)
		log_warn("redis_staging_refused", "reason=\"%s refused\" "
		    "action=\"big full writes pass through the write script; "
		    "give the ACL user +set +rename on the prefix\"", what);
	r->stage_off = 1;
}

/*
 * Read the reply of every RES_PENDING write, in order (a staged write has
 * two: its SET's, then the script's).  RES_RETRY: send again (*noscript
 * set when Redis had forgotten the script).
 */
static int
batch_read(struct redis *r, struct redis_write *ws, size_t n, int *noscript)
{
	redisReply *rep;
	void *p;
	long long v = 0;

	for (size_t i = 0; i < n; i++) {
		int set_refused = 0, set_failed = 0;

		if (ws[i].result != RES_PENDING)
			continue;
		if (redisGetReply(r->cmd.c, &p) != REDIS_OK || p == NULL)
			return rd_io_failed(r, "write");
		rep = p;
		if (ws[i].staged) {
			/* The SET's answer; the script's comes next. */
			if (rep->type == REDIS_REPLY_ERROR) {
				set_failed = 1;
				set_refused = rep->len >= 6 &&
				    memcmp(rep->str, "NOPERM", 6) == 0;
				rd_bad_reply(r, "write (staging)", rep);
			}
			freeReplyObject(rep);
			if (redisGetReply(r->cmd.c, &p) != REDIS_OK || p == NULL)
				return rd_io_failed(r, "write");
			rep = p;
		}
		if (rd_is_noscript(rep)) {
			ws[i].result = RES_RETRY;
			*noscript = 1;
		} else if (int_reply(r, "write", rep, &v) != 0)
			ws[i].result = STICKY_EREDIS;
		else if (v == 1 || v == 2) {
			ws[i].result = 0;
			ws[i].reclaimed = v == 2;
		}
		else if (v == 0)
			ws[i].result = STICKY_EFENCED;
		else if (v == -1)
			ws[i].result = REDIS_DELTA_REFUSED;
		else if (v == -3 && ws[i].staged) {
			/* Its SET failed (said above), or the value went. */
			if (set_refused) {
				stage_refused(r, "SET of the staging key");
				ws[i].result = RES_RETRY;
			} else {
				if (!set_failed)
					rd_set_err(r, "write: the staged value "
					    "was gone when the script ran");
				ws[i].result = STICKY_EREDIS;
			}
		} else if (v == -4 && ws[i].staged) {
			stage_refused(r, "RENAME");
			ws[i].result = RES_RETRY;
		}
		else
			ws[i].result = rd_bad_reply(r, "write", rep);
		freeReplyObject(rep);
	}
	return 0;
}

int
redis_write_batch(struct redis *r, struct redis_write *ws, size_t n)
{
	size_t queued, i;
	int rc, noscript = 0, retry;

	for (i = 0; i < n; i++) {
		ws[i].result = RES_PENDING;
		ws[i].reclaimed = 0;
		ws[i].staged = 0;
	}
	if (n == 0)
		return 0;
	if ((rc = redis_connect(r)) != 0)
		goto out;
	if ((rc = batch_append(r, ws, n, RES_PENDING, &queued)) != 0 ||
	    (queued > 0 && (rc = batch_read(r, ws, n, &noscript)) != 0))
		goto out;
	/*
	 * Again, for what Redis had forgotten the script of (reloaded) or
	 * refused to stage (now inline): at most twice, as a NOSCRIPT round
	 * may turn up a refusal and the other way round.
	 */
	for (int round = 0; round < 2; round++) {
		for (i = 0, retry = 0; i < n; i++)
			retry |= ws[i].result == RES_RETRY;
		if (!retry)
			break;
		if (noscript && (rc = rd_reload_scripts(r)) != 0)
			goto out;
		noscript = 0;
		if ((rc = batch_append(r, ws, n, RES_RETRY, &queued)) != 0 ||
		    (queued > 0 && (rc = batch_read(r, ws, n, &noscript)) != 0))
			goto out;
	}
	for (i = 0; i < n; i++)
		if (ws[i].result == RES_RETRY) {
			rd_set_err(r, noscript ? "write: server error NOSCRIPT" :
			    "write: refused twice");
			ws[i].result = STICKY_EREDIS;
		}
out:
	/* Unanswered: the connection failed before their replies came. */
	for (i = 0; i < n; i++)
		if (ws[i].result == RES_PENDING || ws[i].result == RES_RETRY)
			ws[i].result = STICKY_EREDIS;
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
	if ((rc = keys_make(r, key, &kp)) != 0)
		return rc;
	set_keys(argv, lens, 3, &kp);
	argv[6] = num[0];
	lens[6] = rd_fmt_num(num[0], epoch);
	argv[7] = num[1];
	lens[7] = rd_fmt_num(num[1], (uint64_t)r->ttl_s);
	set_announce(r, argv, lens, key);
	rc = eval_done(r, SCR_DROP, "drop", 10, argv, lens, STICKY_EFENCED);
	keys_free(&kp);
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

	if ((rc = keys_make(r, key, &kp)) != 0)
		return rc;
	snprintf(suffix, sizeof(suffix), "bad:%lld", (long long)time(NULL));
	if ((bad = key_make(r, key, suffix, &lens[6])) == NULL) {
		rc = STICKY_ENOMEM;
		goto out;
	}
	set_keys(argv, lens, 3, &kp);
	argv[6] = bad;
	argv[7] = ttl;
	lens[7] = rd_fmt_num(ttl, (uint64_t)BAD_TTL_S);
	rc = eval_done(r, SCR_SET_ASIDE, "set_aside", 8, argv, lens,
	    STICKY_ENOENT);
out:
	xfree(bad);
	keys_free(&kp);
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
	if ((rc = keys_make(r, from, &a)) != 0)
		return rc;
	if ((rc = keys_make(r, to, &b)) != 0) {
		keys_free(&a);
		return rc;
	}
	set_keys(argv, lens, 3, &a);
	set_keys(argv, lens, 3 + NKEYS, &b);
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
	    &rep)) == 0 && (rc = int_reply(r, "migrate", rep, &v)) == 0)
		rc = v == 1 ? 0 : v == 0 ? STICKY_EFENCED : v == -1 ?
		    STICKY_ENOENT : v == -2 ? STICKY_EAGAIN :
		    rd_bad_reply(r, "migrate", rep);
	if (rep != NULL)
		freeReplyObject(rep);
	keys_free(&a);
	keys_free(&b);
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
	if ((rc = keys_make(r, key, &kp)) != 0)
		return rc;
	set_keys(argv, lens, 3, &kp);
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
	keys_free(&kp);
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

	if ((rc = keys_make(r, key, &kp)) != 0)
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
	keys_free(&kp);
	return rc;
}
