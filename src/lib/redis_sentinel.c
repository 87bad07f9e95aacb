/*
 * redis_sentinel.c: finding the master through Redis Sentinel, for
 * redis = sentinel://host[:port][,host[:port]...]/mastername.  hiredis 0.14
 * has no Sentinel client; sticky needs three commands of it:
 *
 *   SENTINEL get-master-addr-by-name <name>   asked of each Sentinel in
 *       turn (connect and command timeouts as configured) before every
 *       (re)connection that follows a failure, a READONLY answer or ROLE
 *       saying "slave": the first that names a master wins;
 *   ROLE   on the master, in the connection handshake (redis.c): a
 *       demoted master answers "slave" and is not trusted;
 *   SUBSCRIBE +switch-master   on one Sentinel (the "watch" connection,
 *       non-blocking, read at the start of every redis_connect()): a
 *       promotion drops both connections to the old master and lifts the
 *       backoff, so the next command goes to the new master at once.
 *
 * The watch asks get-master-addr-by-name in the same pipeline as its
 * SUBSCRIBE, so a switch announced while it was down is not missed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "redis_int.h"

#define SENTINEL_DEFAULT_PORT 26379
#define MAX_SENTINELS 16
#define MAX_NAME_LEN 128
#define MAX_HOST_LEN 255
#define SWITCH_CHANNEL "+switch-master"

/* ---- options --------------------------------------------------------- */

static int
name_valid(const char *s, size_t n)
{
	if (n == 0 || n > MAX_NAME_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '/' ||
		    s[i] == ',')
			return 0;
	return 1;
}

/* "host[:port][,host[:port]...]/name", after "sentinel://". */
int
rd_sentinel_parse(struct redis *r, const char *spec)
{
	const char *slash = strchr(spec, '/'), *p, *end;
	char *item;
	int rc;

	if (slash == NULL || slash == spec || slash[-1] == ',' ||
	    !name_valid(slash + 1, strlen(slash + 1)))
		return STICKY_EINVAL;
	if ((r->master_name = xstrdup(slash + 1)) == NULL)
		return STICKY_ENOMEM;
	r->sentinels = xcalloc(MAX_SENTINELS, sizeof(*r->sentinels));
	if (r->sentinels == NULL)
		return STICKY_ENOMEM;
	for (p = spec; p < slash; p = end + 1) {
		if ((end = memchr(p, ',', (size_t)(slash - p))) == NULL)
			end = slash;
		if (end == p || r->nsentinels == MAX_SENTINELS)
			return STICKY_EINVAL;
		if ((item = xstrndup(p, (size_t)(end - p))) == NULL)
			return STICKY_ENOMEM;
		rc = rd_parse_hostport(item, SENTINEL_DEFAULT_PORT,
		    &r->sentinels[r->nsentinels].host,
		    &r->sentinels[r->nsentinels].port);
		xfree(item);
		if (rc != 0)
			return rc;
		r->nsentinels++;
	}
	r->resolve = 1;
	return 0;
}

void
rd_sentinel_free(struct redis *r)
{
	for (size_t i = 0; i < r->nsentinels; i++)
		xfree(r->sentinels[i].host);
	xfree(r->sentinels);
	xfree(r->master_name);
}

const char *
redis_master_name(const struct redis *r)
{
	return r->master_name;
}

static int
fmt_hostport(char *buf, size_t len, const char *host, int port)
{
	int n = strchr(host, ':') != NULL ?
	    snprintf(buf, len, "[%s]:%d", host, port) :
	    snprintf(buf, len, "%s:%d", host, port);

	return n < 0 || (size_t)n >= len ? STICKY_ETOOBIG : 0;
}

int
redis_sentinel_addr(const struct redis *r, size_t i, char *buf, size_t len)
{
	if (i >= r->nsentinels)
		return STICKY_ENOENT;
	return fmt_hostport(buf, len, r->sentinels[i].host, r->sentinels[i].port);
}

int
redis_master_addr(const struct redis *r, char *buf, size_t len)
{
	if (r->master_name == NULL || r->host == NULL)
		return STICKY_ENOENT;
	return fmt_hostport(buf, len, r->host, r->port);
}

/* ---- the master ------------------------------------------------------ */

static void
conn_reset(struct redis *r, struct conn *cn)
{
	if (cn->c != NULL && cn == &r->sub)
		r->sub_gen++;
	rd_drop_context(cn);
	cn->backoff_ms = r->backoff_min_ms;
	cn->retry_at = 0;
}

/*
 * The Sentinels name host:port as the master.  If that is news, both
 * connections to the old one go (a command in flight on them is not
 * affected: this runs only at the start of redis_connect()) and the next
 * attempt is not held back by the old one's backoff.
 */
static void
set_master(struct redis *r, const char *host, size_t hostlen, int port)
{
	char *h;

	if (r->host != NULL && strlen(r->host) == hostlen &&
	    memcmp(r->host, host, hostlen) == 0 && r->port == port)
		return;
	if ((h = xstrndup(host, hostlen)) == NULL)
		return; /* keep the old one; the next failure asks again */
	log_info("redis_master", "name=%s addr=%s%s%s:%d previous=%s:%d",
	    r->master_name, strchr(h, ':') != NULL ? "[" : "", h,
	    strchr(h, ':') != NULL ? "]" : "", port,
	    r->host != NULL ? r->host : "none", r->host != NULL ? r->port : 0);
	xfree(r->host);
	r->host = h;
	r->port = port;
	conn_reset(r, &r->cmd);
	conn_reset(r, &r->sub);
}

/* An address as Sentinel gives it: printable, no spaces. */
static int
host_valid(const char *s, size_t n)
{
	if (n == 0 || n > MAX_HOST_LEN || memchr(s, '\0', n) != NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	return 1;
}

static int
port_of(const char *s, size_t n, int *port)
{
	uint64_t v;

	if (rd_parse_u64(s, n, &v) != 0 || v == 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/* get-master-addr-by-name's answer: [ip, port]; nil when unknown. */
static int
take_master_reply(struct redis *r, const redisReply *rep)
{
	const redisReply *h, *p;
	int port;

	if (rep->type == REDIS_REPLY_NIL) {
		rd_set_err(r, "sentinel: master %s unknown", r->master_name);
		return STICKY_ENOENT;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    (h = rep->element[0])->type != REDIS_REPLY_STRING ||
	    (p = rep->element[1])->type != REDIS_REPLY_STRING ||
	    !host_valid(h->str, h->len) || port_of(p->str, p->len, &port) != 0)
		return rd_bad_reply(r, "sentinel get-master-addr-by-name", rep);
	set_master(r, h->str, h->len, port);
	return 0;
}

/* Queue AUTH for the Sentinels, if configured; returns how many. */
static int
append_sentinel_auth(struct redis *r, redisContext *c)
{
	const char *argv[3];
	size_t lens[3];
	int argc = 0;

	if (r->sentinel_password == NULL)
		return 0;
	argv[argc] = "AUTH";
	lens[argc++] = 4;
	if (r->sentinel_user != NULL) {
		argv[argc] = r->sentinel_user;
		lens[argc++] = strlen(r->sentinel_user);
	}
	argv[argc] = r->sentinel_password;
	lens[argc++] = strlen(r->sentinel_password);
	redisAppendCommandArgv(c, argc, argv, lens);
	return 1;
}

static void
append_get_master(struct redis *r, redisContext *c)
{
	const char *argv[3] = { "SENTINEL", "get-master-addr-by-name",
		r->master_name };
	size_t lens[3] = { 8, 23, strlen(r->master_name) };

	redisAppendCommandArgv(c, 3, argv, lens);
}

static redisReply *
get_reply(redisContext *c)
{
	void *p;

	if (redisGetReply(c, &p) != REDIS_OK)
		return NULL;
	return p;
}

/* AUTH's answer, if one was asked; 0 when fine. */
static int
read_sentinel_auth(struct redis *r, redisContext *c, int nauth,
    const char *who)
{
	redisReply *rep;
	int rc = 0;

	if (nauth == 0)
		return 0;
	if ((rep = get_reply(c)) == NULL) {
		rd_set_err(r, "%sAUTH: %s", who,
		    c->errstr[0] != '\0' ? c->errstr : "I/O error");
		return STICKY_EREDIS;
	}
	if (!rd_is_ok(rep)) {
		char op[32];

		snprintf(op, sizeof(op), "%sAUTH", who);
		rc = rd_bad_reply(r, op, rep);
	}
	freeReplyObject(rep);
	return rc;
}

/* Ask one Sentinel; 0 when it named a master (set_master() ran). */
static int
ask_sentinel(struct redis *r, const struct sentinel_addr *sa)
{
	struct timeval ct, t;
	redisContext *c;
	redisReply *rep;
	int nauth, rc;

	ct.tv_sec = r->connect_timeout_ms / 1000;
	ct.tv_usec = (r->connect_timeout_ms % 1000) * 1000;
	t.tv_sec = r->command_timeout_ms / 1000;
	t.tv_usec = (r->command_timeout_ms % 1000) * 1000;
	if ((c = redisConnectWithTimeout(sa->host, sa->port, ct)) == NULL) {
		rd_set_err(r, "sentinel connect: out of memory");
		return STICKY_ENOMEM;
	}
	if (c->err != 0 || redisSetTimeout(c, t) != REDIS_OK) {
		rd_set_err(r, "sentinel connect: %s", c->errstr);
		redisFree(c);
		return STICKY_EREDIS;
	}
	nauth = append_sentinel_auth(r, c);
	append_get_master(r, c);
	if ((rc = read_sentinel_auth(r, c, nauth, "sentinel ")) == 0) {
		if ((rep = get_reply(c)) == NULL) {
			rd_set_err(r, "sentinel get-master-addr-by-name: %s",
			    c->errstr[0] != '\0' ? c->errstr : "I/O error");
			rc = STICKY_EREDIS;
		} else {
			rc = take_master_reply(r, rep);
			freeReplyObject(rep);
		}
	}
	redisFree(c);
	return rc;
}

/*
 * Ask the Sentinels in turn, the last that answered first.  0 with
 * r->host set; STICKY_EREDIS with r->err saying why the last one failed.
 */
int
rd_sentinel_resolve(struct redis *r)
{
	char why[sizeof(r->err)];

	for (size_t k = 0; k < r->nsentinels; k++) {
		size_t i = (r->sentinel_next + k) % r->nsentinels;

		if (ask_sentinel(r, &r->sentinels[i]) == 0) {
			r->sentinel_next = i;
			r->resolve = 0;
			return 0;
		}
		log_debug("redis_sentinel_failed", "sentinel=%zu reason=\"%s\"",
		    i, r->err);
	}
	snprintf(why, sizeof(why), "%s", r->err);
	rd_set_err(r, "no Sentinel named the master (%zu asked; last: %s)",
	    r->nsentinels, why);
	return STICKY_EREDIS;
}

/* ROLE's answer in the handshake: only a master is trusted. */
int
rd_read_role(struct redis *r)
{
	redisReply *rep;
	const redisReply *e;
	int rc = 0;

	if ((rep = get_reply(r->cmd.c)) == NULL)
		return rd_failed_io(r, &r->cmd, "ROLE");
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
	    (e = rep->element[0])->type != REDIS_REPLY_STRING) {
		rd_bad_reply(r, "ROLE", rep);
		rc = -1;
	} else if (e->len != 6 || memcmp(e->str, "master", 6) != 0) {
		rd_set_err(r, "ROLE: %.*s, not master", e->len < 16 ?
		    (int)e->len : 16, e->str);
		rc = -1;
	}
	freeReplyObject(rep);
	if (rc != 0) {
		r->resolve = 1;
		return rd_lost(r, &r->cmd);
	}
	return 0;
}

/* Error codes that mean "this is not the master any more". */
int
rd_master_gone(const char *code, size_t len)
{
	return (len == 8 && memcmp(code, "READONLY", 8) == 0) ||
	    (len == 10 && memcmp(code, "MASTERDOWN", 10) == 0);
}

/* ---- the watch: +switch-master ---------------------------------------- */

/* ["subscribe", "+switch-master", n] */
static int
is_subscribed(const redisReply *rep)
{
	const redisReply *k, *ch;
	size_t n = strlen(SWITCH_CHANNEL);

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
		return 0;
	k = rep->element[0];
	ch = rep->element[1];
	return k->type == REDIS_REPLY_STRING && k->len == 9 &&
	    memcmp(k->str, "subscribe", 9) == 0 &&
	    ch->type == REDIS_REPLY_STRING && ch->len == n &&
	    memcmp(ch->str, SWITCH_CHANNEL, n) == 0;
}

static int
watch_failed(struct redis *r, const char *why)
{
	rd_set_err(r, "%s", why);
	r->watch_next++;
	return rd_lost(r, &r->watch);
}

static int
watch_open(struct redis *r)
{
	struct conn *cn = &r->watch;
	const struct sentinel_addr *sa;
	const char *argv[2] = { "SUBSCRIBE", SWITCH_CHANNEL };
	size_t lens[2] = { 9, strlen(SWITCH_CHANNEL) };
	redisReply *rep;
	int nauth, fl, rc;

	sa = &r->sentinels[r->watch_next % r->nsentinels];
	if (rd_open_context_at(r, cn, sa->host, sa->port) != 0) {
		r->watch_next++;
		return STICKY_EREDIS;
	}
	(void)redisEnableKeepAlive(cn->c);
	nauth = append_sentinel_auth(r, cn->c);
	append_get_master(r, cn->c);
	redisAppendCommandArgv(cn->c, 2, argv, lens);
	if (read_sentinel_auth(r, cn->c, nauth, "sentinel ") != 0) {
		r->watch_next++;
		return rd_lost(r, cn);
	}
	if ((rep = get_reply(cn->c)) == NULL) {
		r->watch_next++;
		return rd_failed_io(r, cn, "get-master-addr-by-name");
	}
	/* What we missed while not subscribed. */
	rc = take_master_reply(r, rep);
	freeReplyObject(rep);
	if (rc != 0 && rc != STICKY_ENOENT)
		return watch_failed(r, "sentinel: bad get-master-addr-by-name reply");
	if ((rep = get_reply(cn->c)) == NULL) {
		r->watch_next++;
		return rd_failed_io(r, cn, "SUBSCRIBE");
	}
	rc = is_subscribed(rep);
	freeReplyObject(rep);
	if (!rc)
		return watch_failed(r, "sentinel SUBSCRIBE: unexpected reply");
	/* Non-blocking from now on, as redis_sub.c does. */
	if ((fl = fcntl(cn->c->fd, F_GETFL)) == -1 ||
	    fcntl(cn->c->fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return watch_failed(r, "sentinel fcntl failed");
	cn->c->flags &= ~REDIS_BLOCK;
	rd_conn_up(r, cn);
	return 0;
}

/* "<name> <old ip> <old port> <new ip> <new port>" */
static void
on_switch(struct redis *r, const redisReply *msg)
{
	const char *f[5], *p, *end;
	size_t fl[5], n = 0;
	int port;

	if (msg->type != REDIS_REPLY_STRING || msg->len > 1024)
		return;
	p = msg->str;
	end = msg->str + msg->len;
	while (p < end && n < 5) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));

		f[n] = p;
		fl[n] = (size_t)((sp != NULL ? sp : end) - p);
		n++;
		p = sp != NULL ? sp + 1 : end;
	}
	if (n != 5 || p != end || fl[0] != strlen(r->master_name) ||
	    memcmp(f[0], r->master_name, fl[0]) != 0 ||
	    !host_valid(f[3], fl[3]) || port_of(f[4], fl[4], &port) != 0)
		return; /* another master's, or malformed */
	log_info("redis_switch_master", "name=%s", r->master_name);
	set_master(r, f[3], fl[3], port);
}

/*
 * Called at the start of every redis_connect(): open the watch when its
 * backoff allows, then read what the Sentinel said, without blocking.
 */
void
rd_sentinel_watch(struct redis *r)
{
	struct conn *cn = &r->watch;
	void *p;

	if (cn->c == NULL) {
		if (now_ms() < cn->retry_at || watch_open(r) != 0)
			return;
	}
	/* One read(2) of up to 16 KiB: switches are rare and short. */
	if (redisBufferRead(cn->c) != REDIS_OK) {
		r->watch_next++;
		rd_failed_io(r, cn, "read");
		return;
	}
	for (;;) {
		const redisReply *rep, *k;

		if (redisGetReply(cn->c, &p) != REDIS_OK) {
			r->watch_next++;
			rd_failed_io(r, cn, "read");
			return;
		}
		if (p == NULL)
			break;
		rep = p;
		if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
		    (k = rep->element[0])->type == REDIS_REPLY_STRING &&
		    k->len == 7 && memcmp(k->str, "message", 7) == 0)
			on_switch(r, rep->element[2]);
		freeReplyObject(p);
	}
}
