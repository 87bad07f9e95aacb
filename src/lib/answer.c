/*
 * answer.c: what a worker does with one complete request.  The status
 * page, the quarantine check, the session, a replayed answer or the
 * handler, then the session settled (replay record, sync checkpoint) and
 * the answer queued on its connection.  worker.c owns the loop around it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "allow.h"
#include "answer.h"
#include "bytes.h"
#include "checkpoint.h"
#include "conn.h"
#include "cookie.h"
#include "metrics.h"
#include "payload.h"
#include "quarantine.h"
#include "redis.h"
#include "request.h"
#include "session.h"
#include "store.h"
#include "worker.h"

/*
 * May this request read the status page?  On the status socket, yes: its
 * permissions decided.  With a token configured, only with the token;
 * REMOTE_ADDR is what the FastCGI peer claims, so it is not consulted.
 * Else the address must be in status_allow.
 */
static int
status_allowed(struct worker *w, struct sticky_req *req, int trusted)
{
	const char *ra;

	if (trusted)
		return 1;
	if (w->status_token != NULL && w->status_token[0] != '\0') {
		if (allow_token_match(w->status_token,
		    sticky_req_param(req, "HTTP_X_STICKY_STATUS_TOKEN")))
			return 1;
		log_info("status_refused", "reason=\"no or wrong token\"");
		request_error(req, 403, "status page: token required");
		return 0;
	}
	ra = sticky_req_param(req, "REMOTE_ADDR");
	if (ra != NULL && allow_match(w->cfg->status_allow, ra))
		return 1;
	request_error(req, 403, "status page: address not allowed");
	return 0;
}

static void
status_page(struct worker *w, struct sticky_req *req, int trusted)
{
	const char *q = sticky_req_query(req);
	enum status_format f = STATUS_TEXT;
	const char *ct = "text/plain; charset=utf-8";

	if (!status_allowed(w, req, trusted))
		return;
	if (strstr(q, "json") != NULL) {
		f = STATUS_JSON;
		ct = "application/json";
	} else if (strstr(q, "openmetrics") != NULL ||
	    strstr(q, "prometheus") != NULL) {
		f = STATUS_OPENMETRICS;
		ct = "application/openmetrics-text; version=1.0.0; charset=utf-8";
	}
	sticky_req_add_header(req, "Content-Type", ct);
	sticky_req_add_header(req, "Cache-Control", "no-store");
	req->wrote = 1;
	metrics_render(w->metrics, f, &req->body);
}

/* Keep what a replay must send again: status, app headers, body. */
static int
record_response(struct sticky_req *req, struct sticky_buf *out)
{
	unsigned char hdr[6];
	int rc;

	put16(hdr, (uint16_t)req->status);
	put32(hdr + 2, (uint32_t)req->headers.len);
	if ((rc = buf_append(out, hdr, sizeof(hdr))) != 0 ||
	    (rc = buf_append(out, req->headers.data, req->headers.len)) != 0)
		return rc;
	return buf_append(out, req->body.data, req->body.len);
}

static int
replay_response(struct sticky_req *req, const struct sticky_buf *rec)
{
	size_t hl;

	if (rec->len < 6)
		return STICKY_ECORRUPT;
	hl = get32(rec->data + 2);
	if (hl > rec->len - 6)
		return STICKY_ECORRUPT;
	buf_reset(&req->headers);
	buf_reset(&req->body);
	req->status = get16(rec->data);
	buf_append(&req->headers, rec->data + 6, hl);
	buf_append(&req->body, rec->data + 6 + hl, rec->len - 6 - hl);
	req->wrote = 1;
	return 0;
}

#ifdef STICKY_FAULT_INJECTION
/*
 * Test-only fault: die after the checkpoint is acknowledged (config gated).
 * Compiled in only with ./configure --enable-fault-injection.
 */
static int
fault_requested(struct worker *w, struct sticky_req *req)
{
	const char *f;

	if (!w->cfg->fault_die_after_checkpoint)
		return 0;
	f = sticky_req_param(req, "HTTP_X_STICKY_FAULT");
	return f != NULL && strcmp(f, "die-after-checkpoint") == 0;
}
#endif

/* After the handler: account, remember for replays, checkpoint (sync). */
static void
settle_session(struct worker *w, struct sticky_req *req)
{
	struct session *s = req->sess;
	const char *id = sticky_req_id(req);
	struct sticky_buf rec;
	int res = 0, need_write;

	if (s == NULL)
		return;
	if (req->sess_dirty) {
		if (id != NULL) {
			buf_init(&rec);
			if (record_response(req, &rec) == 0)
				payload_replay_add(w->cfg, s, id, &rec);
			buf_cleanup(&rec);
		}
		payload_account(w->store, w->app, s); /* state and replay log */
	}
	/*
	 * Sync mode writes every change before answering; hash routing
	 * writes a new session before its first answer, so whichever worker
	 * the hash picks next can restore it.
	 */
	need_write = ckpt_enabled(&w->ckpt) && s->dirty_since_ms != 0 &&
	    (w->cfg->checkpoint == CKPT_SYNC ||
	    (req->sess_new && w->cfg->routing == ROUTING_HASH));
	if (!need_write)
		return;
	ckpt_write(&w->ckpt, &s, 1, &res);
	if (res == STICKY_EFENCED) {
		/* Another worker owns the user now: our copy is stale. */
		session_forget(w, s);
		req->sess = NULL;
		request_error(req, 503, "session moved to another worker; retry");
		w->stats->status_503++;
		return;
	}
	if (res != 0 && w->cfg->checkpoint == CKPT_SYNC) {
		/* Kept in memory and dirty: written once Redis is back. */
		request_error(req, 503, "state not saved; retry");
		w->stats->status_503++;
		return;
	}
	if (res == 0 && ckpt_replicate(&w->ckpt, s) != 0) {
		/* On the master only: dirty again, not acknowledged. */
		request_error(req, 503, "state not replicated; retry");
		w->stats->status_503++;
		return;
	}
#ifdef STICKY_FAULT_INJECTION
	if (res == 0 && fault_requested(w, req)) {
		log_warn("fault_injected", "what=die-after-checkpoint");
		_exit(3);
	}
#endif
}

/* How long a request waits for the verdict on a twin running elsewhere. */
#define TWIN_WAIT_STEP_MS 5
#define TWIN_WAIT_STEPS 60 /* 300 ms */

/* The session key the cookie names, hashed; 0 without a valid cookie. */
static uint64_t
user_hash(struct worker *w, struct sticky_req *req, struct sid *sid)
{
	const char *hdr, *val;
	size_t vlen;

	if ((hdr = sticky_req_param(req, "HTTP_COOKIE")) == NULL ||
	    cookie_find(hdr, strlen(hdr), w->cfg->cookie_name, &val, &vlen) != 0 ||
	    sid_parse(val, vlen, sid) != 0)
		return 0;
	return quar_hash(w->quar, sid->key, strlen(sid->key));
}

/*
 * Before anything runs for this request: refuse it if it (by request id)
 * or its user (by session key) kept killing workers; else note it as in
 * flight, so that if it kills us the master knows what did.  1: refused.
 */
static int
quarantined(struct worker *w, struct sticky_req *req)
{
	struct quar_policy pol = {
		.crashes = w->cfg->quarantine_crashes,
		.window_ms = w->cfg->quarantine_window_s * 1000,
	};
	const char *id = sticky_req_id(req);
	struct timespec step = { 0, TWIN_WAIT_STEP_MS * 1000000L };
	enum quar_verdict v;
	uint64_t rh, uh;
	struct session *s;
	struct sid sid;
	char sidbuf[16], name[SID_KEY_LEN + 1];

	if (w->quar == NULL)
		return 0;
	rh = id != NULL ? quar_hash(w->quar, id, strlen(id)) : 0;
	uh = user_hash(w, req, &sid);
	v = quar_check(w->quar, w->index, rh, uh, now_ms(), &pol);
	/* A twin still running elsewhere may be a worker dying: wait for it. */
	for (int i = 0; i < TWIN_WAIT_STEPS && v == QUAR_OK &&
	    quar_running_twin(w->quar, w->index, rh); i++) {
		nanosleep(&step, NULL);
		v = quar_check(w->quar, w->index, rh, uh, now_ms(), &pol);
	}
	switch (v) {
	case QUAR_POISON:
		w->stats->poison_refused++;
		log_warn("poison_refused", "reason=\"this request id was running "
		    "when a worker died\"");
		request_error(req, 500, "this request crashed a worker; it is not "
		    "run again");
		return 1;
	case QUAR_USER:
		w->stats->quarantine_refused++;
		/* Store, Redis and logs know the session by its name. */
		ckpt_name(&w->ckpt, sid.key, name);
		/* The state may be what crashes: nobody serves it from memory. */
		if ((s = store_get(w->store, name, now_ms())) != NULL)
			session_forget(w, s);
		if (quar_claim_aside(w->quar, uh)) {
			int rc = ckpt_enabled(&w->ckpt) ?
			    redis_set_aside(w->ckpt.redis, name) : STICKY_ENOENT;

			log_warn("quarantine_set_aside", "sid=%s result=%s",
			    log_sid(name, sidbuf), rc == 0 ? "set_aside" :
			    rc == STICKY_ENOENT ? "no_checkpoint" : sticky_strerror(rc));
		}
		log_warn("quarantine_refused", "sid=%s", log_sid(name, sidbuf));
		request_error(req, 503, "your requests repeatedly crashed the "
		    "server; this session is suspended for now");
		return 1;
	default:
		quar_begin(w->quar, w->index, rh, uh);
		return 0;
	}
}

/*
 * Before a replayed answer in sync mode: write the session if it holds
 * unsaved changes, or always when replicas must confirm (a clean session
 * may have been flushed without WAIT, or on a connection since lost).
 * 1 when the answer may be given.
 */
static int
replay_saved(struct worker *w, struct sticky_req *req)
{
	struct session *s = req->sess;
	int res = 0;

	if (w->cfg->checkpoint != CKPT_SYNC || !ckpt_enabled(&w->ckpt))
		return 1;
	if (s->dirty_since_ms == 0 && w->cfg->checkpoint_replicas <= 0)
		return 1;
	ckpt_write(&w->ckpt, &s, 1, &res);
	if (res == STICKY_EFENCED) {
		/* Another worker owns the user now: our copy is stale. */
		session_forget(w, s);
		req->sess = NULL;
		return 0;
	}
	return res == 0 && ckpt_replicate(&w->ckpt, s) == 0;
}

void
worker_answer(struct worker *w, struct conn *c, struct fcgi_request *fr)
{
	struct sticky_req req;
	struct sticky_buf cgi;
	const struct sticky_buf *rec;
	const char *path, *id;
	int rc;

	w->stats->requests++;
	w->served++;
	request_init(&req, w, fr);
	path = sticky_req_path(&req);
	snprintf(w->stats->last_path, sizeof(w->stats->last_path), "%s", path);
	w->stats->busy_since_ms = now_ms();

	if (c->status_only || (w->cfg->status_path[0] != '\0' &&
	    strcmp(path, w->cfg->status_path) == 0)) {
		status_page(w, &req, c->status_only);
		goto render;
	}
	if (quarantined(w, &req))
		goto render;
	if ((rc = session_resolve(w, &req)) == STICKY_EAGAIN) {
		req.session_err = rc;
		request_error(&req, 503, "session state temporarily unavailable");
		w->stats->status_503++;
		goto render;
	}
	id = sticky_req_id(&req);
	if (req.sess != NULL && id != NULL &&
	    (rec = payload_replay_find(req.sess, id)) != NULL) {
		/*
		 * Sync mode: the recorded answer is given only once the state
		 * that holds its change is saved (and replicated), as for the
		 * first answer; a refused first answer did not save it.
		 */
		if (!replay_saved(w, &req)) {
			request_error(&req, 503, "state not saved; retry");
			w->stats->status_503++;
			goto render;
		}
		if (replay_response(&req, rec) != 0)
			goto handle;
		w->stats->replays++;
		log_info("replayed", "reason=request_id_seen");
		goto render;
	}
handle:
	/*
	 * Sync mode promises that an answered change is in Redis.  While
	 * Redis is known to be unreachable, refuse before the handler runs,
	 * so a refused request changed nothing.
	 */
	if (w->cfg->checkpoint == CKPT_SYNC && ckpt_enabled(&w->ckpt) &&
	    ckpt_available(&w->ckpt) != 0) {
		request_error(&req, 503, "state cannot be saved now; retry");
		w->stats->status_503++;
		goto render;
	}
	rc = w->app->handler(&req, w->app->appdata);
	if (w->quar != NULL)
		quar_end(w->quar, w->index); /* what follows is not the app's */
	if (rc < 0)
		w->stats->handler_errors++;
	if (req.session_err == STICKY_EAGAIN && !req.wrote) {
		request_error(&req, 503, "session state temporarily unavailable");
		w->stats->status_503++;
	} else if (rc < 0 && !req.wrote) {
		request_error(&req, 500, "internal error");
		log_warn("handler_failed", "code=%d path=\"%s\"", rc, path);
	}
	settle_session(w, &req);
render:
	if (w->quar != NULL)
		quar_end(w->quar, w->index);
	w->stats->busy_since_ms = 0;
	buf_init(&cgi);
	if (request_render(&req, &cgi) != 0 ||
	    conn_respond(c, fr->id, cgi.data, cgi.len) != 0) {
		log_err("render_failed", "reason=out_of_memory");
		c->state = CONN_DONE;
	} else
		w->stats->answered++;
	buf_cleanup(&cgi);
	request_cleanup(&req);
}
