/*
 * redis_write.c: checkpoint writes on the command connection, pipelined
 * in batches: checked before they are sent, fenced by the owner record's
 * epoch (the write script, redis_scripts.c), as deltas (the pages that
 * changed) or whole, whole ones of 64 KiB and more through a staging key.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "redis_int.h"

/*
 * A pending reply in write_batch() and the result it will get; positive,
 * like REDIS_DELTA_REFUSED (redis.h), and distinct from it.
 */
#define RES_PENDING 1
#define RES_RETRY 2

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
	rd_keys_free(&cmd->kp);
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
	if ((cmd->stage_key = rd_key_make(r, w->key, suffix,
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
	if ((rc = rd_keys_make(r, w->key, &cmd->kp)) != 0)
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
	rd_set_keys(cmd->argv, cmd->lens, 3, &cmd->kp);
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
		} else if (rd_int_reply(r, "write", rep, &v) != 0)
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

/* Unanswered: the connection failed before their replies came. */
static void
unanswered(struct redis_write *ws, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ws[i].result == RES_PENDING || ws[i].result == RES_RETRY)
			ws[i].result = STICKY_EREDIS;
}

static void
batch_start(struct redis_write *ws, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ws[i].result = RES_PENDING;
		ws[i].reclaimed = 0;
		ws[i].staged = 0;
	}
}

int
redis_write_send(struct redis *r, struct redis_write *ws, size_t n)
{
	size_t queued;
	int rc, done = 0;

	batch_start(ws, n);
	r->flight_rc = 0;
	if (n == 0)
		return 0;
	if ((rc = redis_connect(r)) != 0 ||
	    (rc = batch_append(r, ws, n, RES_PENDING, &queued)) != 0)
		goto fail;
	if (queued == 0)
		return 0;
	/* Out now, not with the next command: Redis works meanwhile. */
	while (!done)
		if (redisBufferWrite(r->cmd.c, &done) != REDIS_OK) {
			rc = rd_io_failed(r, "write");
			goto fail;
		}
	r->flight = ws;
	r->nflight = n;
	r->flight_gen = r->cmd_gen;
	r->flight_rc = 0;
	return 0;
fail:
	unanswered(ws, n);
	r->flight_rc = rc;
	return rc;
}

/* Read the replies of the batch in flight into its writes. */
static void
flight_read(struct redis *r)
{
	struct redis_write *ws = r->flight;
	size_t n = r->nflight;
	int noscript = 0, rc = 0;

	r->flight = NULL;
	if (r->cmd.c == NULL || r->cmd_gen != r->flight_gen) {
		/* Dropped (and maybe reopened): those replies are gone. */
		rd_set_err(r, "write: connection lost before the replies");
		rc = STICKY_EREDIS;
	} else
		rc = batch_read(r, ws, n, &noscript);
	for (size_t i = 0; i < n; i++)
		if (ws[i].result == RES_RETRY)
			ws[i].result = STICKY_EAGAIN; /* the caller sends again */
	unanswered(ws, n);
	r->flight_rc = rc;
}

void
rd_land_flight(struct redis *r)
{
	if (r->flight != NULL && r->flight_hook != NULL)
		r->flight_hook(r->flight_arg); /* calls redis_write_recv() */
	if (r->flight != NULL)
		flight_read(r);
}

int
redis_write_recv(struct redis *r, struct redis_write *ws, size_t n)
{
	(void)n;
	if (r->flight == ws)
		flight_read(r);
	return r->flight_rc; /* read already (rd_land_flight), or never sent */
}

int
redis_write_fd(const struct redis *r)
{
	return r->flight != NULL && r->cmd.c != NULL ? r->cmd.c->fd : -1;
}

void
redis_write_hook(struct redis *r, void (*fn)(void *arg), void *arg)
{
	r->flight_hook = fn;
	r->flight_arg = arg;
}

int
redis_write_batch(struct redis *r, struct redis_write *ws, size_t n)
{
	size_t queued, i;
	int rc, noscript = 0, retry;

	batch_start(ws, n);
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
	unanswered(ws, n);
	return rc;
}
