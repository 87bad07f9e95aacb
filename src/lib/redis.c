/*
 * redis.c: the connection to Redis through hiredis.  One blocking
 * connection per worker with connect and command timeouts; after any I/O
 * error or timeout the context is freed (hiredis cannot resume it) and
 * reconnection waits out an exponential backoff.  Also the options
 * (redis_new()), the AUTH/SELECT/SCRIPT LOAD handshake, r->err, the rules
 * for session keys and owners, and the one-command helper the other
 * redis*.c files build on (redis_int.h lists what they share).
 *
 * Key names and values are session secrets: they never reach r->err or the
 * log.  Of a server error reply only the first word (the error code) is kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/un.h>

#include "redis_int.h"

#define REDIS_DEFAULT_PORT 6379
#define DEFAULT_TIMEOUT_MS 1000
#define DEFAULT_BACKOFF_MIN_MS 50
#define DEFAULT_BACKOFF_MAX_MS 2000
#define MAX_PREFIX_LEN 256
#define MAX_TTL_S 2147483647L
#define CHANNEL "takeover" /* after the prefix */

/* ---- helpers --------------------------------------------------------- */

void
rd_set_err(struct redis *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	/* It goes into reason="..." log fields. */
	for (char *p = r->err; *p != '\0'; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 ||
		    (unsigned char)*p >= 0x7f)
			*p = '\'';
}

static struct timeval
ms_to_tv(int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

int
rd_parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * Session keys go between braces and into a SCAN pattern: no braces, no
 * control characters, bounded.  sid.c's keys are base64url.
 */
int
rd_key_valid(const char *key)
{
	size_t n;

	if (key == NULL)
		return 0;
	for (n = 0; key[n] != '\0'; n++)
		if (n >= MAX_KEY_LEN || key[n] == '{' || key[n] == '}' ||
		    (unsigned char)key[n] < 0x20 || key[n] == 0x7f)
			return 0;
	return n > 0;
}

/*
 * An owner of "-" would read as logged out; announcements separate the
 * owner from the key by a space.
 */
int
rd_owner_valid(const char *owner)
{
	size_t n;

	if (owner == NULL || strcmp(owner, "-") == 0)
		return 0;
	for (n = 0; owner[n] != '\0'; n++)
		if (n >= MAX_OWNER_LEN || (unsigned char)owner[n] <= ' ' ||
		    owner[n] == 0x7f)
			return 0;
	return n > 0;
}

size_t
rd_fmt_num(char *buf, uint64_t v)
{
	return (size_t)snprintf(buf, NUMLEN, "%" PRIu64, v);
}

/* ---- connection ------------------------------------------------------ */

void
rd_drop_context(struct conn *cn)
{
	if (cn->c != NULL) {
		redisFree(cn->c);
		cn->c = NULL;
	}
}

static void
start_backoff(const struct redis *r, struct conn *cn)
{
	cn->retry_at = now_ms() + cn->backoff_ms;
	if (cn->backoff_ms > r->backoff_max_ms / 2)
		cn->backoff_ms = r->backoff_max_ms;
	else
		cn->backoff_ms *= 2;
}

/*
 * The connection failed (I/O error, timeout, or a refused handshake) and
 * r->err says why: the context is unusable, so free it and wait before the
 * next attempt.
 */
int
rd_lost(struct redis *r, struct conn *cn)
{
	int wait = cn->backoff_ms;

	rd_drop_context(cn);
	if (cn == &r->sub)
		r->sub_gen++;
	if (r->master_name != NULL && cn == &r->cmd)
		r->resolve = 1; /* ask the Sentinels again before reconnecting */
	start_backoff(r, cn);
	if (cn->failures++ == 0)
		log_warn(cn->ev_down, "addr=%s reason=\"%s\" retry_ms=%d",
		    r->addr, r->err, wait);
	else
		log_debug(cn->ev_down, "addr=%s reason=\"%s\" retry_ms=%d",
		    r->addr, r->err, wait);
	return STICKY_EREDIS;
}

unsigned
redis_conn_gen(const struct redis *r)
{
	return r->cmd_gen;
}

int
rd_conn_lost(struct redis *r)
{
	return rd_lost(r, &r->cmd);
}

/* A connection (re)established: the next failure waits the minimum. */
void
rd_conn_up(struct redis *r, struct conn *cn)
{
	if (cn->failures > 0)
		log_info(cn->ev_up, "addr=%s failures=%u", r->addr, cn->failures);
	if (cn == &r->cmd)
		r->cmd_gen++;
	cn->failures = 0;
	cn->backoff_ms = r->backoff_min_ms;
	cn->retry_at = 0;
}

/*
 * hiredis's errstr is strerror() or a fixed text, never our data (a
 * protocol error quotes one type byte).  SO_RCVTIMEO expiring reads as
 * EAGAIN.
 */
int
rd_failed_io(struct redis *r, struct conn *cn, const char *op)
{
	const char *why = "I/O error";

	if (cn->c != NULL && cn->c->errstr[0] != '\0')
		why = cn->c->errstr;
	if (cn->c != NULL && cn->c->err == REDIS_ERR_IO &&
	    (strcmp(why, strerror(EAGAIN)) == 0 ||
	    strcmp(why, strerror(EWOULDBLOCK)) == 0))
		why = "timed out";
	rd_set_err(r, "%s%s: %s", cn->name, op, why);
	return rd_lost(r, cn);
}

int
rd_io_failed(struct redis *r, const char *op)
{
	return rd_failed_io(r, &r->cmd, op);
}

/* Keep only the code word of an error reply: the rest may quote input. */
void
rd_server_error(struct redis *r, const char *op, const redisReply *rep)
{
	size_t n = 0;

	while (n < rep->len && n < 32 && rep->str[n] > ' ' && rep->str[n] < 0x7f)
		n++;
	rd_set_err(r, "%s: server error %.*s", op, (int)n, rep->str);
	/* A demoted master refuses writes: find the new one. */
	if (r->master_name != NULL && rd_master_gone(rep->str, n))
		r->resolve = 1;
}

int
rd_bad_reply(struct redis *r, const char *op, const redisReply *rep)
{
	if (rep->type == REDIS_REPLY_ERROR)
		rd_server_error(r, op, rep);
	else
		rd_set_err(r, "%s: unexpected reply type %d", op, rep->type);
	return STICKY_EREDIS;
}

int
rd_is_ok(const redisReply *rep)
{
	return rep->type == REDIS_REPLY_STATUS && rep->len == 2 &&
	    memcmp(rep->str, "OK", 2) == 0;
}

/*
 * hiredis opens its sockets without close-on-exec: a child a handler runs
 * must not inherit an authenticated Redis connection.
 */
static void
rd_cloexec(int fd)
{
	int fl;

	if (fd >= 0 && (fl = fcntl(fd, F_GETFD)) != -1)
		fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

/*
 * A new blocking context in cn->c with the command timeout on its reads
 * and writes (SO_RCVTIMEO/SO_SNDTIMEO: a hung server fails the call,
 * never hangs it).  0, or rd_lost()'s result.
 */
int
rd_open_context_at(struct redis *r, struct conn *cn, const char *host,
    int port)
{
	redisContext *c;

	if (host == NULL && r->path != NULL)
		c = redisConnectUnixWithTimeout(r->path,
		    ms_to_tv(r->connect_timeout_ms));
	else if (host != NULL)
		c = redisConnectWithTimeout(host, port,
		    ms_to_tv(r->connect_timeout_ms));
	else {
		/* Sentinel mode before any Sentinel named the master. */
		rd_set_err(r, "%sconnect: master not known yet", cn->name);
		return rd_lost(r, cn);
	}
	if (c == NULL) {
		rd_set_err(r, "%sconnect: out of memory", cn->name);
		return rd_lost(r, cn);
	}
	cn->c = c;
	if (c->err != 0)
		return rd_failed_io(r, cn, "connect");
	rd_cloexec(c->fd);
	if (redisSetTimeout(c, ms_to_tv(r->command_timeout_ms)) != REDIS_OK)
		return rd_failed_io(r, cn, "connect");
	/*
	 * hiredis frees its read buffer whenever it is empty and holds more
	 * than 16 KiB: every 1 MiB checkpoint read then grew a new one from
	 * 16 KiB by doubling (copies, and fresh pages to fault in).  Kept up
	 * to READER_KEEP bytes: one buffer per connection.
	 */
	c->reader->maxbuf = READER_KEEP;
	return 0;
}

int
rd_take_str(redisReply *s, struct sticky_buf *blob)
{
	/*
	 * The reply's string, malloc()ed and NUL-terminated by hiredis
	 * (createStringObject), becomes the buffer's: freeReplyObject()
	 * then frees a NULL str.  A 1 MiB restore copied it once more.
	 */
	buf_cleanup(blob);
	blob->data = (unsigned char *)s->str;
	blob->len = s->len;
	blob->cap = s->len + 1;
	s->str = NULL;
	s->len = 0;
	return 0;
}

int
rd_open_context(struct redis *r, struct conn *cn)
{
	return rd_open_context_at(r, cn, r->host, r->port);
}

/* Queue AUTH and SELECT as configured; rd_read_auth() checks the replies. */
void
rd_append_auth(struct redis *r, struct conn *cn, int *nauth, int *nselect)
{
	const char *argv[3];
	size_t lens[3];
	int argc = 0;

	*nauth = *nselect = 0;
	if (r->password != NULL) {
		argv[argc] = "AUTH";
		lens[argc++] = 4;
		if (r->user != NULL) {
			argv[argc] = r->user;
			lens[argc++] = strlen(r->user);
		}
		argv[argc] = r->password;
		lens[argc++] = strlen(r->password);
		redisAppendCommandArgv(cn->c, argc, argv, lens);
		*nauth = 1;
	}
	if (r->db != 0) {
		redisAppendCommand(cn->c, "SELECT %d", r->db);
		*nselect = 1;
	}
}

int
rd_read_auth(struct redis *r, struct conn *cn, int nauth, int nselect)
{
	redisReply *rep;
	void *p;
	char op[16];

	for (int i = 0; i < nauth + nselect; i++) {
		snprintf(op, sizeof(op), "%s%s", cn->name,
		    i < nauth ? "AUTH" : "SELECT");
		if (redisGetReply(cn->c, &p) != REDIS_OK || p == NULL)
			return rd_failed_io(r, cn,
			    i < nauth ? "AUTH" : "SELECT");
		rep = p;
		if (!rd_is_ok(rep)) {
			rd_bad_reply(r, op, rep);
			freeReplyObject(rep);
			return rd_lost(r, cn);
		}
		freeReplyObject(rep);
	}
	return 0;
}

/*
 * AUTH, SELECT, ROLE (Sentinel mode: a demoted master is not trusted) and
 * SCRIPT LOAD in one round trip.
 */
static int
handshake(struct redis *r)
{
	int nauth, nselect, rc;

	rd_append_auth(r, &r->cmd, &nauth, &nselect);
	if (r->master_name != NULL)
		redisAppendCommand(r->cmd.c, "ROLE");
	rd_append_script_loads(r);
	if ((rc = rd_read_auth(r, &r->cmd, nauth, nselect)) != 0)
		return rc;
	if (r->master_name != NULL && (rc = rd_read_role(r)) != 0)
		return rc;
	return rd_read_script_loads(r);
}

int
redis_connect(struct redis *r)
{
	int rc;

	rd_land_flight(r); /* never another command's replies */
	if (r->master_name != NULL) {
		rd_sentinel_watch(r); /* may drop both connections */
		if (r->resolve && r->cmd.c != NULL) /* READONLY: demoted */
			rd_drop_context(&r->cmd);
	}
	if (r->cmd.c != NULL)
		return 0;
	if (now_ms() < r->cmd.retry_at)
		return STICKY_EAGAIN;
	if (r->master_name != NULL && (r->host == NULL || r->resolve) &&
	    rd_sentinel_resolve(r) != 0)
		return rd_lost(r, &r->cmd);
	if ((rc = rd_open_context(r, &r->cmd)) != 0 || (rc = handshake(r)) != 0)
		return rc;
	rd_conn_up(r, &r->cmd);
	r->err[0] = '\0';
	return 0;
}

int
redis_connected(const struct redis *r)
{
	return r->cmd.c != NULL;
}

void
redis_disconnect(struct redis *r)
{
	rd_drop_context(&r->cmd);
}

const char *
redis_errstr(const struct redis *r)
{
	return r->err[0] != '\0' ? r->err : "no error";
}

int64_t
rd_backoff_left(const struct conn *cn)
{
	int64_t left;

	if (cn->c != NULL || cn->retry_at == 0)
		return 0;
	left = cn->retry_at - now_ms();
	return left > 0 ? left : 0;
}

int64_t
redis_backoff_left_ms(const struct redis *r)
{
	return rd_backoff_left(&r->cmd);
}

/*
 * "[v6]:port", "[v6]", "host:port", "host" or a bare v6 into a new *host
 * and *port (defport when none is given).
 */
int
rd_parse_hostport(const char *addr, int defport, char **host, int *port)
{
	const char *colon, *end;
	uint64_t p = (uint64_t)defport;
	size_t hostlen;

	if (addr[0] == '[') {
		if ((end = strchr(addr, ']')) == NULL || end == addr + 1)
			return STICKY_EINVAL;
		hostlen = (size_t)(end - addr - 1);
		if (end[1] == ':')
			colon = end + 1;
		else if (end[1] == '\0')
			colon = NULL;
		else
			return STICKY_EINVAL;
		addr++;
	} else {
		colon = strchr(addr, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL; /* a bare IPv6 address */
		hostlen = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
	}
	if (hostlen == 0)
		return STICKY_EINVAL;
	if (colon != NULL &&
	    (rd_parse_u64(colon + 1, strlen(colon + 1), &p) != 0 ||
	    p == 0 || p > 65535))
		return STICKY_EINVAL;
	*port = (int)p;
	*host = xstrndup(addr, hostlen);
	return *host == NULL ? STICKY_ENOMEM : 0;
}

/* "unix:/path", "sentinel://...", or rd_parse_hostport()'s forms. */
static int
parse_addr(struct redis *r, const char *addr)
{
	if (strncmp(addr, "unix:", 5) == 0) {
		/* hiredis would silently truncate a path that does not fit. */
		if (addr[5] == '\0' ||
		    strlen(addr + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return STICKY_EINVAL;
		r->path = xstrdup(addr + 5);
		return r->path == NULL ? STICKY_ENOMEM : 0;
	}
	if (strncmp(addr, SENTINEL_SCHEME, strlen(SENTINEL_SCHEME)) == 0)
		return rd_sentinel_parse(r, addr + strlen(SENTINEL_SCHEME));
	return rd_parse_hostport(addr, REDIS_DEFAULT_PORT, &r->host, &r->port);
}

static int
dup_opt(char **dst, const char *src)
{
	if (src == NULL)
		return 0;
	return (*dst = xstrdup(src)) == NULL ? STICKY_ENOMEM : 0;
}

int
redis_new(struct redis **out, const struct redis_opts *o)
{
	struct redis *r;
	int rc;

	*out = NULL;
	if (o->addr == NULL || o->db < 0 || o->connect_timeout_ms < 0 ||
	    o->command_timeout_ms < 0 || o->ttl_s < 0 || o->ttl_s > MAX_TTL_S ||
	    o->backoff_min_ms < 0 || o->backoff_max_ms < 0 ||
	    (o->user != NULL && o->password == NULL) ||
	    (o->sentinel_user != NULL && o->sentinel_password == NULL) ||
	    (o->prefix != NULL && strlen(o->prefix) > MAX_PREFIX_LEN))
		return STICKY_EINVAL;
	if ((r = xcalloc(1, sizeof(*r))) == NULL)
		return STICKY_ENOMEM;
	r->db = o->db;
	r->connect_timeout_ms =
	    o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_TIMEOUT_MS;
	r->command_timeout_ms =
	    o->command_timeout_ms > 0 ? o->command_timeout_ms : DEFAULT_TIMEOUT_MS;
	r->ttl_s = o->ttl_s;
	r->backoff_min_ms =
	    o->backoff_min_ms > 0 ? o->backoff_min_ms : DEFAULT_BACKOFF_MIN_MS;
	r->backoff_max_ms =
	    o->backoff_max_ms > 0 ? o->backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
	r->cmd = (struct conn){ .backoff_ms = r->backoff_min_ms, .name = "",
		.ev_down = "redis_down", .ev_up = "redis_up" };
	r->sub = (struct conn){ .backoff_ms = r->backoff_min_ms, .name = "sub ",
		.ev_down = "redis_sub_down", .ev_up = "redis_sub_up" };
	r->watch = (struct conn){ .backoff_ms = r->backoff_min_ms,
		.name = "sentinel ", .ev_down = "redis_sentinel_down",
		.ev_up = "redis_sentinel_up" };
	rc = STICKY_EINVAL;
	if (r->backoff_max_ms < r->backoff_min_ms)
		goto fail;
	if ((rc = parse_addr(r, o->addr)) != 0 ||
	    (rc = dup_opt(&r->addr, o->addr)) != 0 ||
	    (rc = dup_opt(&r->user, o->user)) != 0 ||
	    (rc = dup_opt(&r->password, o->password)) != 0 ||
	    (rc = dup_opt(&r->sentinel_user, o->sentinel_user)) != 0 ||
	    (rc = dup_opt(&r->sentinel_password, o->sentinel_password)) != 0 ||
	    (rc = dup_opt(&r->prefix, o->prefix != NULL ? o->prefix : "")) != 0)
		goto fail;
	r->prefixlen = strlen(r->prefix);
	r->channellen = r->prefixlen + strlen(CHANNEL);
	if ((r->channel = xmalloc(r->channellen + 1)) == NULL) {
		rc = STICKY_ENOMEM;
		goto fail;
	}
	snprintf(r->channel, r->channellen + 1, "%s%s", r->prefix, CHANNEL);
	*out = r;
	return 0;
fail:
	redis_free(r);
	return rc;
}

void
redis_free(struct redis *r)
{
	if (r == NULL)
		return;
	rd_land_flight(r);
	rd_drop_context(&r->cmd);
	rd_drop_context(&r->sub);
	rd_drop_context(&r->watch);
	if (r->password != NULL)
		explicit_bzero(r->password, strlen(r->password));
	xfree(r->password);
	if (r->sentinel_password != NULL)
		explicit_bzero(r->sentinel_password, strlen(r->sentinel_password));
	xfree(r->sentinel_password);
	xfree(r->sentinel_user);
	rd_sentinel_free(r);
	xfree(r->user);
	xfree(r->addr);
	xfree(r->host);
	xfree(r->path);
	xfree(r->prefix);
	xfree(r->channel);
	xfree(r);
}

/* ---- commands -------------------------------------------------------- */

/*
 * WAIT on the connection that made the writes (never a new one: Redis
 * counts the acknowledgements of this client's own writes, and a fresh
 * connection has none to wait for).  The socket timeout is lengthened for
 * the call so WAIT's own timeout decides.
 */
int
redis_wait_replicas(struct redis *r, int replicas, int timeout_ms, int *acked)
{
	const char *argv[3];
	size_t lens[3];
	char n[NUMLEN], t[NUMLEN];
	redisReply *rep;
	void *p;
	int rc = 0;

	if (acked != NULL)
		*acked = 0;
	if (replicas <= 0)
		return 0;
	rd_land_flight(r);
	if (r->cmd.c == NULL || timeout_ms <= 0) {
		rd_set_err(r, "WAIT: not connected");
		return STICKY_EREDIS;
	}
	argv[0] = "WAIT";
	lens[0] = 4;
	argv[1] = n;
	lens[1] = rd_fmt_num(n, (uint64_t)replicas);
	argv[2] = t;
	lens[2] = rd_fmt_num(t, (uint64_t)timeout_ms);
	if (redisSetTimeout(r->cmd.c,
	    ms_to_tv(timeout_ms + r->command_timeout_ms)) != REDIS_OK)
		return rd_io_failed(r, "WAIT");
	if ((p = redisCommandArgv(r->cmd.c, 3, argv, lens)) == NULL)
		return rd_io_failed(r, "WAIT");
	rep = p;
	if (redisSetTimeout(r->cmd.c, ms_to_tv(r->command_timeout_ms)) !=
	    REDIS_OK) {
		freeReplyObject(rep);
		return rd_io_failed(r, "WAIT");
	}
	if (rep->type != REDIS_REPLY_INTEGER)
		rc = rd_bad_reply(r, "WAIT", rep);
	else {
		if (acked != NULL)
			*acked = (int)rep->integer;
		if (rep->integer < replicas) {
			rd_set_err(r, "WAIT: %lld of %d replicas in %d ms",
			    rep->integer, replicas, timeout_ms);
			rc = STICKY_ETIMEDOUT;
		}
	}
	freeReplyObject(rep);
	return rc;
}

/*
 * One command and its reply.  Returns 0 with *out set (possibly an error
 * reply), or rd_conn_lost()'s result when the connection failed.
 */
int
rd_command(struct redis *r, const char *op, int argc, const char **argv,
    const size_t *lens, redisReply **out)
{
	void *p;
	int rc;

	*out = NULL;
	if ((rc = redis_connect(r)) != 0)
		return rc;
	if ((p = redisCommandArgv(r->cmd.c, argc, argv, lens)) == NULL)
		return rd_io_failed(r, op);
	*out = p;
	return 0;
}

/* ---- scripts (their text is redis_scripts.c's) ---- */

int
rd_is_noscript(const redisReply *rep)
{
	return rep->type == REDIS_REPLY_ERROR && rep->len >= 8 &&
	    memcmp(rep->str, "NOSCRIPT", 8) == 0;
}

void
rd_append_script_loads(struct redis *r)
{
	for (int i = 0; i < SCR_COUNT; i++)
		redisAppendCommand(r->cmd.c, "SCRIPT LOAD %s",
		    rd_script_text((enum script_id)i));
}

/*
 * Read the replies of rd_append_script_loads(); 0 or rd_conn_lost()'s
 * result.
 */
int
rd_read_script_loads(struct redis *r)
{
	redisReply *rep;
	void *p;

	for (int i = 0; i < SCR_COUNT; i++) {
		if (redisGetReply(r->cmd.c, &p) != REDIS_OK || p == NULL)
			return rd_io_failed(r, "SCRIPT LOAD");
		rep = p;
		if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
			rd_bad_reply(r, "SCRIPT LOAD", rep);
			freeReplyObject(rep);
			/* The pipeline is out of step now: start over. */
			return rd_conn_lost(r);
		}
		memcpy(r->sha[i], rep->str, 40);
		r->sha[i][40] = '\0';
		freeReplyObject(rep);
	}
	return 0;
}

/*
 * Redis forgot the scripts (restart, SCRIPT FLUSH, failover) without our
 * connection noticing.  The SHA1 of a script never changes.
 */
int
rd_reload_scripts(struct redis *r)
{
	log_info("redis_script_reload", "addr=%s", r->addr);
	rd_append_script_loads(r);
	return rd_read_script_loads(r);
}

/*
 * EVALSHA argv[] (argv[1] is filled in here), reloading the scripts and
 * trying once more on NOSCRIPT.  Error replies are turned into
 * STICKY_EREDIS; *out is never an error.
 */
int
rd_eval(struct redis *r, enum script_id id, const char *op, int argc,
    const char **argv, size_t *lens, redisReply **out)
{
	redisReply *rep;
	int rc;

	*out = NULL;
	argv[0] = "EVALSHA";
	lens[0] = 7;
	argv[2] = id == SCR_MIGRATE ? "6" : id == SCR_GENERATION ? "1" :
	    id == SCR_SET_ASIDE ? "4" : "3";
	lens[2] = 1;
	for (int tries = 0;; tries++) {
		argv[1] = r->sha[id];
		lens[1] = 40;
		if ((rc = rd_command(r, op, argc, argv, lens, &rep)) != 0)
			return rc;
		if (tries > 0 || !rd_is_noscript(rep))
			break;
		freeReplyObject(rep);
		if ((rc = rd_reload_scripts(r)) != 0)
			return rc;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		rc = rd_bad_reply(r, op, rep);
		freeReplyObject(rep);
		return rc;
	}
	*out = rep;
	return 0;
}
