/*
 * redis.c: the checkpoint store on Redis through hiredis, the only file that
 * includes it.  One blocking connection per worker with connect and command
 * timeouts; after any I/O error or timeout the context is freed (hiredis
 * cannot resume it) and reconnection waits out an exponential backoff.
 * Every ownership change and checkpoint write is one Lua script, so it is
 * atomic and fenced by the owner record's epoch.
 *
 * Key names and values are session secrets: they never reach r->err or the
 * log.  Of a server error reply only the first word (the error code) is kept.
 *
 * A second connection, opened on demand, is subscribed to P"takeover":
 * the takeover and drop scripts publish "<epoch> <owner> <key>" there, so
 * a worker still holding a session learns at once that it lost it.  It is
 * blocking for its handshake and non-blocking once subscribed, and backs
 * off on its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "envelope.h"
#include "redis.h"

#define REDIS_DEFAULT_PORT 6379
#define DEFAULT_TIMEOUT_MS 1000
#define DEFAULT_BACKOFF_MIN_MS 50
#define DEFAULT_BACKOFF_MAX_MS 2000
#define BAD_TTL_S (7L * 24 * 3600) /* how long a set-aside checkpoint is kept */
#define MAX_KEY_LEN 512
#define MAX_OWNER_LEN 64
#define MAX_PREFIX_LEN 256
#define MAX_TTL_S 2147483647L
/* Lua numbers are doubles: epochs and lengths above 2^53 would not compare. */
#define MAX_LUA_INT ((uint64_t)1 << 53)
#define NUMLEN 24 /* room for a uint64_t in decimal and a NUL */
/* An announcement: "<epoch> <owner> <key>". */
#define MAX_MSG_LEN (20 + 1 + MAX_OWNER_LEN + 1 + MAX_KEY_LEN)
#define CHANNEL "takeover" /* after the prefix */

enum script_id {
	SCR_TAKEOVER,
	SCR_CLAIM,
	SCR_WRITE,
	SCR_DROP,
	SCR_SET_ASIDE,
	SCR_COUNT
};

/*
 * KEYS[1] is always P{K}:s and KEYS[2] P{K}:o (or P{K}:bad:<time> for
 * set_aside).  Epochs are compared with tonumber() on both sides; an epoch
 * is only ever changed by HINCRBY or set from a decimal ARGV, never from a
 * Lua number, which would print as 1e+15 past 14 digits (so announcements
 * HGET the new epoch as a string).
 *
 * Announcements go out with pcall, last: a PUBLISH the ACL refuses (no
 * &P"takeover" permission) must not abort a script halfway, as scripts
 * are not rolled back; redis_sub_open() reports that misconfiguration.
 */
static const char *const scripts[SCR_COUNT] = {
	/*
	 * takeover: ARGV owner, ttl, session key, channel.  nil when there
	 * is nothing to restore.
	 */
	"local blob = redis.call('GET', KEYS[1])\n"
	"if not blob or redis.call('HGET', KEYS[2], 'owner') == '-' then\n"
	"  return false\n"
	"end\n"
	"local e = redis.call('HINCRBY', KEYS[2], 'epoch', 1)\n"
	"redis.call('HSET', KEYS[2], 'owner', ARGV[1])\n"
	"local ttl = tonumber(ARGV[2])\n"
	"if ttl > 0 then\n"
	"  redis.call('EXPIRE', KEYS[1], ttl)\n"
	"  redis.call('EXPIRE', KEYS[2], ttl)\n"
	"end\n"
	"redis.pcall('PUBLISH', ARGV[4], redis.call('HGET', KEYS[2], 'epoch')\n"
	"  .. ' ' .. ARGV[1] .. ' ' .. ARGV[3])\n"
	"return {e, blob}\n",

	/* claim: ARGV owner, ttl.  0 when the owner record exists. */
	"if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end\n"
	"redis.call('HSET', KEYS[2], 'epoch', 1, 'owner', ARGV[1])\n"
	"local ttl = tonumber(ARGV[2])\n"
	"if ttl > 0 then\n"
	"  redis.call('EXPIRE', KEYS[1], ttl)\n"
	"  redis.call('EXPIRE', KEYS[2], ttl)\n"
	"end\n"
	"return 1\n",

	/*
	 * write: ARGV epoch, ttl, owner, mode ("full"/"delta"), prev_hdr,
	 * new_hdr, the length the checkpoint has now (delta), then the
	 * payload (full) or (48 + offset, bytes) pairs (delta).  1 written,
	 * 0 fenced, -1 delta refused.  Every check comes before the first
	 * write: a script that fails halfway is not rolled back.
	 */
	"local e = redis.call('HGET', KEYS[2], 'epoch')\n"
	"local full = ARGV[4] == 'full'\n"
	"if not e then\n"
	"  if not full then return -1 end\n"
	"  redis.call('HSET', KEYS[2], 'epoch', ARGV[1], 'owner', ARGV[3])\n"
	"elseif tonumber(e) ~= tonumber(ARGV[1]) then\n"
	"  return 0\n"
	"end\n"
	"if full then\n"
	"  redis.call('SET', KEYS[1], ARGV[6])\n"
	"  if #ARGV[8] > 0 then redis.call('APPEND', KEYS[1], ARGV[8]) end\n"
	"else\n"
	"  if redis.call('STRLEN', KEYS[1]) ~= tonumber(ARGV[7]) or\n"
	"      redis.call('GETRANGE', KEYS[1], 0, 47) ~= ARGV[5] then\n"
	"    return -1\n"
	"  end\n"
	"  for i = 8, #ARGV - 1, 2 do\n"
	"    redis.call('SETRANGE', KEYS[1], ARGV[i], ARGV[i + 1])\n"
	"  end\n"
	"  redis.call('SETRANGE', KEYS[1], 0, ARGV[6])\n"
	"end\n"
	"local ttl = tonumber(ARGV[2])\n"
	"if ttl > 0 then\n"
	"  redis.call('EXPIRE', KEYS[1], ttl)\n"
	"  redis.call('EXPIRE', KEYS[2], ttl)\n"
	"end\n"
	"return 1\n",

	/*
	 * drop: ARGV epoch, ttl, session key, channel.  A missing owner
	 * record does not fence: logout must win even after Redis lost or
	 * evicted the record.
	 */
	"local e = redis.call('HGET', KEYS[2], 'epoch')\n"
	"if e and tonumber(e) ~= tonumber(ARGV[1]) then return 0 end\n"
	"redis.call('DEL', KEYS[1])\n"
	"if not e then redis.call('HSET', KEYS[2], 'epoch', ARGV[1]) end\n"
	"redis.call('HINCRBY', KEYS[2], 'epoch', 1)\n"
	"redis.call('HSET', KEYS[2], 'owner', '-')\n"
	"local ttl = tonumber(ARGV[2])\n"
	"if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end\n"
	"redis.pcall('PUBLISH', ARGV[4], redis.call('HGET', KEYS[2], 'epoch')\n"
	"  .. ' - ' .. ARGV[3])\n"
	"return 1\n",

	/* set_aside: ARGV ttl of the bad copy.  0 when there is no checkpoint. */
	"if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
	"redis.call('RENAME', KEYS[1], KEYS[2])\n"
	"redis.call('EXPIRE', KEYS[2], ARGV[1])\n"
	"return 1\n",
};

/* A connection and its reconnect backoff. */
struct conn {
	redisContext *c;    /* NULL while disconnected */
	int backoff_ms;     /* the wait after the next failure */
	int64_t retry_at;   /* now_ms() before which no attempt is made */
	unsigned failures;  /* in a row; logged at warn only the first */
	const char *name;   /* "" or "sub ", before ops in r->err */
	const char *ev_down, *ev_up;
};

struct redis {
	struct conn cmd; /* commands and scripts */
	struct conn sub; /* subscribed to the channel, non-blocking */
	unsigned sub_gen; /* changes whenever sub is opened or closed */
	char *addr;      /* as configured, for logs */
	char *host;      /* TCP host, or NULL */
	int port;
	char *path; /* unix socket path, or NULL */
	char *user;
	char *password; /* wiped on free */
	char *prefix;
	size_t prefixlen;
	char *channel; /* prefix CHANNEL */
	size_t channellen;
	int db;
	int connect_timeout_ms;
	int command_timeout_ms;
	long ttl_s;
	int backoff_min_ms;
	int backoff_max_ms;
	char sha[SCR_COUNT][41];
	char err[128];
};

/* A pending reply in write_batch() and the result it will get. */
#define RES_PENDING 1
#define RES_RETRY 2

/* ---- helpers --------------------------------------------------------- */

static void
set_err(struct redis *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_err(struct redis *r, const char *fmt, ...)
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

static int
parse_u64(const char *s, size_t len, uint64_t *out)
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

/*
 * Session keys go between braces and into a SCAN pattern: no braces, no
 * control characters, bounded.  sid.c's keys are base64url.
 */
static int
key_valid(const char *key)
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
static int
owner_valid(const char *owner)
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

/* A new string P{K}:<suffix>; the caller has checked key_valid(). */
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

/* The two live keys of a session (or P{K}:s and the :bad: key). */
struct keypair {
	char *s, *o;
	size_t slen, olen;
};

static int
keys_make(const struct redis *r, const char *key, struct keypair *kp)
{
	kp->s = kp->o = NULL;
	if (!key_valid(key))
		return STICKY_EINVAL;
	if ((kp->s = key_make(r, key, "s", &kp->slen)) == NULL ||
	    (kp->o = key_make(r, key, "o", &kp->olen)) == NULL) {
		xfree(kp->s);
		kp->s = NULL;
		return STICKY_ENOMEM;
	}
	return 0;
}

static void
keys_free(struct keypair *kp)
{
	xfree(kp->s);
	xfree(kp->o);
}

/* ---- connection ------------------------------------------------------ */

static void
drop_context(struct conn *cn)
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
static int
lost(struct redis *r, struct conn *cn)
{
	int wait = cn->backoff_ms;

	drop_context(cn);
	if (cn == &r->sub)
		r->sub_gen++;
	start_backoff(r, cn);
	if (cn->failures++ == 0)
		log_warn(cn->ev_down, "addr=%s reason=\"%s\" retry_ms=%d",
		    r->addr, r->err, wait);
	else
		log_debug(cn->ev_down, "addr=%s reason=\"%s\" retry_ms=%d",
		    r->addr, r->err, wait);
	return STICKY_EREDIS;
}

static int
conn_lost(struct redis *r)
{
	return lost(r, &r->cmd);
}

/* A connection (re)established: the next failure waits the minimum. */
static void
conn_up(struct redis *r, struct conn *cn)
{
	if (cn->failures > 0)
		log_info(cn->ev_up, "addr=%s failures=%u", r->addr, cn->failures);
	cn->failures = 0;
	cn->backoff_ms = r->backoff_min_ms;
	cn->retry_at = 0;
}

/*
 * hiredis's errstr is strerror() or a fixed text, never our data (a
 * protocol error quotes one type byte).  SO_RCVTIMEO expiring reads as
 * EAGAIN.
 */
static int
failed_io(struct redis *r, struct conn *cn, const char *op)
{
	const char *why = "I/O error";

	if (cn->c != NULL && cn->c->errstr[0] != '\0')
		why = cn->c->errstr;
	if (cn->c != NULL && cn->c->err == REDIS_ERR_IO &&
	    (strcmp(why, strerror(EAGAIN)) == 0 ||
	    strcmp(why, strerror(EWOULDBLOCK)) == 0))
		why = "timed out";
	set_err(r, "%s%s: %s", cn->name, op, why);
	return lost(r, cn);
}

static int
io_failed(struct redis *r, const char *op)
{
	return failed_io(r, &r->cmd, op);
}

/* Keep only the code word of an error reply: the rest may quote input. */
static void
server_error(struct redis *r, const char *op, const redisReply *rep)
{
	size_t n = 0;

	while (n < rep->len && n < 32 && rep->str[n] > ' ' && rep->str[n] < 0x7f)
		n++;
	set_err(r, "%s: server error %.*s", op, (int)n, rep->str);
}

static int
bad_reply(struct redis *r, const char *op, const redisReply *rep)
{
	if (rep->type == REDIS_REPLY_ERROR)
		server_error(r, op, rep);
	else
		set_err(r, "%s: unexpected reply type %d", op, rep->type);
	return STICKY_EREDIS;
}

static int
is_noscript(const redisReply *rep)
{
	return rep->type == REDIS_REPLY_ERROR && rep->len >= 8 &&
	    memcmp(rep->str, "NOSCRIPT", 8) == 0;
}

static int
is_ok(const redisReply *rep)
{
	return rep->type == REDIS_REPLY_STATUS && rep->len == 2 &&
	    memcmp(rep->str, "OK", 2) == 0;
}

static void
append_script_loads(struct redis *r)
{
	for (int i = 0; i < SCR_COUNT; i++)
		redisAppendCommand(r->cmd.c, "SCRIPT LOAD %s", scripts[i]);
}

/* Read the replies of append_script_loads(); 0 or conn_lost()'s result. */
static int
read_script_loads(struct redis *r)
{
	redisReply *rep;
	void *p;

	for (int i = 0; i < SCR_COUNT; i++) {
		if (redisGetReply(r->cmd.c, &p) != REDIS_OK || p == NULL)
			return io_failed(r, "SCRIPT LOAD");
		rep = p;
		if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
			bad_reply(r, "SCRIPT LOAD", rep);
			freeReplyObject(rep);
			/* The pipeline is out of step now: start over. */
			return conn_lost(r);
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
static int
reload_scripts(struct redis *r)
{
	log_info("redis_script_reload", "addr=%s", r->addr);
	append_script_loads(r);
	return read_script_loads(r);
}

/*
 * A new blocking context in cn->c with the command timeout on its reads
 * and writes (SO_RCVTIMEO/SO_SNDTIMEO: a hung server fails the call,
 * never hangs it).  0, or lost()'s result.
 */
static int
open_context(struct redis *r, struct conn *cn)
{
	redisContext *c;

	if (r->path != NULL)
		c = redisConnectUnixWithTimeout(r->path,
		    ms_to_tv(r->connect_timeout_ms));
	else
		c = redisConnectWithTimeout(r->host, r->port,
		    ms_to_tv(r->connect_timeout_ms));
	if (c == NULL) {
		set_err(r, "%sconnect: out of memory", cn->name);
		return lost(r, cn);
	}
	cn->c = c;
	if (c->err != 0)
		return failed_io(r, cn, "connect");
	if (redisSetTimeout(c, ms_to_tv(r->command_timeout_ms)) != REDIS_OK)
		return failed_io(r, cn, "connect");
	return 0;
}

/* Queue AUTH and SELECT as configured; read_auth() checks the replies. */
static void
append_auth(struct redis *r, struct conn *cn, int *nauth, int *nselect)
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

static int
read_auth(struct redis *r, struct conn *cn, int nauth, int nselect)
{
	redisReply *rep;
	void *p;
	char op[16];

	for (int i = 0; i < nauth + nselect; i++) {
		snprintf(op, sizeof(op), "%s%s", cn->name,
		    i < nauth ? "AUTH" : "SELECT");
		if (redisGetReply(cn->c, &p) != REDIS_OK || p == NULL)
			return failed_io(r, cn, i < nauth ? "AUTH" : "SELECT");
		rep = p;
		if (!is_ok(rep)) {
			bad_reply(r, op, rep);
			freeReplyObject(rep);
			return lost(r, cn);
		}
		freeReplyObject(rep);
	}
	return 0;
}

/* AUTH, SELECT and SCRIPT LOAD in one round trip. */
static int
handshake(struct redis *r)
{
	int nauth, nselect, rc;

	append_auth(r, &r->cmd, &nauth, &nselect);
	append_script_loads(r);
	if ((rc = read_auth(r, &r->cmd, nauth, nselect)) != 0)
		return rc;
	return read_script_loads(r);
}

int
redis_connect(struct redis *r)
{
	int rc;

	if (r->cmd.c != NULL)
		return 0;
	if (now_ms() < r->cmd.retry_at)
		return STICKY_EAGAIN;
	if ((rc = open_context(r, &r->cmd)) != 0 || (rc = handshake(r)) != 0)
		return rc;
	conn_up(r, &r->cmd);
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
	drop_context(&r->cmd);
}

const char *
redis_errstr(const struct redis *r)
{
	return r->err[0] != '\0' ? r->err : "no error";
}

static int64_t
backoff_left(const struct conn *cn)
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
	return backoff_left(&r->cmd);
}

/* "unix:/path", "[v6]:port", "[v6]", "host:port", "host" or a bare v6. */
static int
parse_addr(struct redis *r, const char *addr)
{
	const char *colon, *end;
	uint64_t port = REDIS_DEFAULT_PORT;
	size_t hostlen;

	if (strncmp(addr, "unix:", 5) == 0) {
		/* hiredis would silently truncate a path that does not fit. */
		if (addr[5] == '\0' ||
		    strlen(addr + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return STICKY_EINVAL;
		r->path = xstrdup(addr + 5);
		return r->path == NULL ? STICKY_ENOMEM : 0;
	}
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
	if (colon != NULL && (parse_u64(colon + 1, strlen(colon + 1), &port) != 0 ||
	    port == 0 || port > 65535))
		return STICKY_EINVAL;
	r->port = (int)port;
	r->host = xstrndup(addr, hostlen);
	return r->host == NULL ? STICKY_ENOMEM : 0;
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
	rc = STICKY_EINVAL;
	if (r->backoff_max_ms < r->backoff_min_ms)
		goto fail;
	if ((rc = parse_addr(r, o->addr)) != 0 ||
	    (rc = dup_opt(&r->addr, o->addr)) != 0 ||
	    (rc = dup_opt(&r->user, o->user)) != 0 ||
	    (rc = dup_opt(&r->password, o->password)) != 0 ||
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
	drop_context(&r->cmd);
	drop_context(&r->sub);
	if (r->password != NULL)
		explicit_bzero(r->password, strlen(r->password));
	xfree(r->password);
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
 * One command and its reply.  Returns 0 with *out set (possibly an error
 * reply), or conn_lost()'s result when the connection failed.
 */
static int
command(struct redis *r, const char *op, int argc, const char **argv,
    const size_t *lens, redisReply **out)
{
	void *p;
	int rc;

	*out = NULL;
	if ((rc = redis_connect(r)) != 0)
		return rc;
	if ((p = redisCommandArgv(r->cmd.c, argc, argv, lens)) == NULL)
		return io_failed(r, op);
	*out = p;
	return 0;
}

/*
 * EVALSHA argv[] (argv[1] is filled in here), reloading the scripts and
 * trying once more on NOSCRIPT.  Error replies are turned into
 * STICKY_EREDIS; *out is never an error.
 */
static int
eval(struct redis *r, enum script_id id, const char *op, int argc,
    const char **argv, size_t *lens, redisReply **out)
{
	redisReply *rep;
	int rc;

	*out = NULL;
	argv[0] = "EVALSHA";
	lens[0] = 7;
	argv[2] = "2";
	lens[2] = 1;
	for (int tries = 0;; tries++) {
		argv[1] = r->sha[id];
		lens[1] = 40;
		if ((rc = command(r, op, argc, argv, lens, &rep)) != 0)
			return rc;
		if (tries > 0 || !is_noscript(rep))
			break;
		freeReplyObject(rep);
		if ((rc = reload_scripts(r)) != 0)
			return rc;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		rc = bad_reply(r, op, rep);
		freeReplyObject(rep);
		return rc;
	}
	*out = rep;
	return 0;
}

/* The integer reply of a script, or STICKY_EREDIS with r->err set. */
static int
int_reply(struct redis *r, const char *op, redisReply *rep, long long *v)
{
	if (rep->type != REDIS_REPLY_INTEGER)
		return bad_reply(r, op, rep);
	*v = rep->integer;
	return 0;
}

static void
set_keys(const char **argv, size_t *lens, const struct keypair *kp)
{
	argv[3] = kp->s;
	lens[3] = kp->slen;
	argv[4] = kp->o;
	lens[4] = kp->olen;
}

/* The session key and the channel, argv[7] and [8] of takeover and drop. */
static void
set_announce(const struct redis *r, const char **argv, size_t *lens,
    const char *key)
{
	argv[7] = key;
	lens[7] = strlen(key);
	argv[8] = r->channel;
	lens[8] = r->channellen;
}

static size_t
fmt_num(char *buf, uint64_t v)
{
	return (size_t)snprintf(buf, NUMLEN, "%" PRIu64, v);
}

int
redis_takeover(struct redis *r, const char *key, const char *owner,
    uint64_t *epoch, struct sticky_buf *blob)
{
	const char *argv[9];
	size_t lens[9];
	char ttl[NUMLEN];
	struct keypair kp;
	redisReply *rep = NULL, *e, *b;
	int rc;

	if (!owner_valid(owner))
		return STICKY_EINVAL;
	if ((rc = keys_make(r, key, &kp)) != 0)
		return rc;
	set_keys(argv, lens, &kp);
	argv[5] = owner;
	lens[5] = strlen(owner);
	argv[6] = ttl;
	lens[6] = fmt_num(ttl, (uint64_t)r->ttl_s);
	set_announce(r, argv, lens, key);
	if ((rc = eval(r, SCR_TAKEOVER, "takeover", 9, argv, lens, &rep)) != 0)
		goto out;
	if (rep->type == REDIS_REPLY_NIL) {
		rc = STICKY_ENOENT;
		goto out;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    (e = rep->element[0])->type != REDIS_REPLY_INTEGER ||
	    e->integer <= 0 ||
	    (b = rep->element[1])->type != REDIS_REPLY_STRING) {
		set_err(r, "takeover: malformed reply");
		rc = STICKY_EREDIS;
		goto out;
	}
	buf_reset(blob);
	if ((rc = buf_append(blob, b->str, b->len)) != 0)
		goto out;
	*epoch = (uint64_t)e->integer;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	keys_free(&kp);
	return rc;
}

int
redis_claim(struct redis *r, const char *key, const char *owner,
    uint64_t *epoch)
{
	const char *argv[7];
	size_t lens[7];
	char ttl[NUMLEN];
	struct keypair kp;
	redisReply *rep = NULL;
	long long v = 0;
	int rc;

	if (!owner_valid(owner))
		return STICKY_EINVAL;
	if ((rc = keys_make(r, key, &kp)) != 0)
		return rc;
	set_keys(argv, lens, &kp);
	argv[5] = owner;
	lens[5] = strlen(owner);
	argv[6] = ttl;
	lens[6] = fmt_num(ttl, (uint64_t)r->ttl_s);
	if ((rc = eval(r, SCR_CLAIM, "claim", 7, argv, lens, &rep)) != 0 ||
	    (rc = int_reply(r, "claim", rep, &v)) != 0)
		goto out;
	if (v == 1)
		*epoch = 1;
	else if (v == 0)
		rc = STICKY_EFENCED;
	else
		rc = bad_reply(r, "claim", rep);
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
	const char *argv[4];
	size_t lens[4];
	struct keypair kp;
	redisReply *rep = NULL, *e, *w;
	int rc;

	if ((rc = keys_make(r, key, &kp)) != 0)
		return rc;
	argv[0] = "HMGET";
	lens[0] = 5;
	argv[1] = kp.o;
	lens[1] = kp.olen;
	argv[2] = "epoch";
	lens[2] = 5;
	argv[3] = "owner";
	lens[3] = 5;
	if ((rc = command(r, "owner", 4, argv, lens, &rep)) != 0)
		goto out;
	rc = STICKY_EREDIS;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
		bad_reply(r, "owner", rep);
		goto out;
	}
	e = rep->element[0];
	w = rep->element[1];
	if (e->type == REDIS_REPLY_NIL && w->type == REDIS_REPLY_NIL) {
		rc = STICKY_ENOENT;
		goto out;
	}
	if (e->type != REDIS_REPLY_STRING || w->type != REDIS_REPLY_STRING ||
	    parse_u64(e->str, e->len, epoch) != 0) {
		set_err(r, "owner: malformed owner record");
		goto out;
	}
	if (w->len >= ownerlen) {
		rc = STICKY_EINVAL;
		goto out;
	}
	memcpy(owner, w->str, w->len);
	owner[w->len] = '\0';
	rc = 0;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	keys_free(&kp);
	return rc;
}

/* ---- checkpoint writes ----------------------------------------------- */

/*
 * Checks a write before it is sent: lengths agree with the headers, runs
 * are sorted, inside the payload and cover every byte past the old end
 * (SETRANGE would zero-fill a gap).  STICKY_EAGAIN for a delta that would
 * shrink the checkpoint: only a full write can.
 */
static int
write_check(const struct redis_write *w, uint64_t *prev_total)
{
	uint64_t total, covered, end = 0;

	if (!key_valid(w->key) || !owner_valid(w->owner) || w->hdr == NULL ||
	    (w->payload == NULL && w->payload_len > 0) || w->epoch == 0 ||
	    w->epoch > MAX_LUA_INT || hdr_total(w->hdr, &total) != 0 ||
	    total != w->payload_len)
		return STICKY_EINVAL;
	*prev_total = 0;
	if (w->prev_hdr == NULL)
		return 0;
	if ((w->runs == NULL && w->nruns > 0) ||
	    w->nruns > (size_t)(INT_MAX - 16) / 2 ||
	    hdr_total(w->prev_hdr, prev_total) != 0)
		return STICKY_EINVAL;
	if (total < *prev_total)
		return STICKY_EAGAIN;
	covered = *prev_total;
	for (size_t i = 0; i < w->nruns; i++) {
		const struct delta_run *d = &w->runs[i];

		if (d->len == 0 || d->off < end || d->off > total ||
		    d->len > total - d->off)
			return STICKY_EINVAL;
		end = d->off + d->len;
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
	struct keypair kp;
};

static void
wcmd_free(struct wcmd *cmd)
{
	xfree(cmd->argv);
	xfree(cmd->lens);
	xfree(cmd->nums);
	keys_free(&cmd->kp);
}

static int
wcmd_build(struct redis *r, const struct redis_write *w, uint64_t prev_total,
    struct wcmd *cmd)
{
	size_t nargs, i;
	char *num;
	int rc;

	memset(cmd, 0, sizeof(*cmd));
	nargs = 12 + (w->prev_hdr != NULL ? 2 * w->nruns : 1);
	if ((rc = keys_make(r, w->key, &cmd->kp)) != 0)
		return rc;
	cmd->argv = xreallocarray(NULL, nargs, sizeof(*cmd->argv));
	cmd->lens = xreallocarray(NULL, nargs, sizeof(*cmd->lens));
	cmd->nums = xreallocarray(NULL, 3 + w->nruns, NUMLEN);
	if (cmd->argv == NULL || cmd->lens == NULL || cmd->nums == NULL) {
		wcmd_free(cmd);
		return STICKY_ENOMEM;
	}
	cmd->argc = (int)nargs;
	num = cmd->nums;
	set_keys(cmd->argv, cmd->lens, &cmd->kp);
	cmd->argv[5] = num;
	cmd->lens[5] = fmt_num(num, w->epoch);
	num += NUMLEN;
	cmd->argv[6] = num;
	cmd->lens[6] = fmt_num(num, (uint64_t)r->ttl_s);
	num += NUMLEN;
	cmd->argv[7] = w->owner;
	cmd->lens[7] = strlen(w->owner);
	cmd->argv[10] = (const char *)w->hdr;
	cmd->lens[10] = ENV_HDR_LEN;
	if (w->prev_hdr == NULL) {
		cmd->argv[8] = "full";
		cmd->lens[8] = 4;
		cmd->argv[9] = "";
		cmd->lens[9] = 0;
		cmd->argv[11] = "0";
		cmd->lens[11] = 1;
		cmd->argv[12] = w->payload_len > 0 ? (const char *)w->payload : "";
		cmd->lens[12] = w->payload_len;
		return 0;
	}
	cmd->argv[8] = "delta";
	cmd->lens[8] = 5;
	cmd->argv[9] = (const char *)w->prev_hdr;
	cmd->lens[9] = ENV_HDR_LEN;
	cmd->argv[11] = num;
	cmd->lens[11] = fmt_num(num, ENV_HDR_LEN + prev_total);
	num += NUMLEN;
	for (i = 0; i < w->nruns; i++) {
		cmd->argv[12 + 2 * i] = num;
		cmd->lens[12 + 2 * i] = fmt_num(num, ENV_HDR_LEN + w->runs[i].off);
		num += NUMLEN;
		cmd->argv[13 + 2 * i] = (const char *)w->payload + w->runs[i].off;
		cmd->lens[13 + 2 * i] = w->runs[i].len;
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
		cmd.argv[0] = "EVALSHA";
		cmd.lens[0] = 7;
		cmd.argv[1] = r->sha[SCR_WRITE];
		cmd.lens[1] = 40;
		cmd.argv[2] = "2";
		cmd.lens[2] = 1;
		rc = redisAppendCommandArgv(r->cmd.c, cmd.argc, cmd.argv, cmd.lens);
		wcmd_free(&cmd);
		if (rc != REDIS_OK)
			return io_failed(r, "write");
		ws[i].result = RES_PENDING;
		(*queued)++;
	}
	return 0;
}

/* Read the reply of every RES_PENDING write, in order. */
static int
batch_read(struct redis *r, struct redis_write *ws, size_t n)
{
	redisReply *rep;
	void *p;
	long long v = 0;

	for (size_t i = 0; i < n; i++) {
		if (ws[i].result != RES_PENDING)
			continue;
		if (redisGetReply(r->cmd.c, &p) != REDIS_OK || p == NULL)
			return io_failed(r, "write");
		rep = p;
		if (is_noscript(rep))
			ws[i].result = RES_RETRY;
		else if (int_reply(r, "write", rep, &v) != 0)
			ws[i].result = STICKY_EREDIS;
		else if (v == 1)
			ws[i].result = 0;
		else if (v == 0)
			ws[i].result = STICKY_EFENCED;
		else if (v == -1)
			ws[i].result = STICKY_EAGAIN;
		else
			ws[i].result = bad_reply(r, "write", rep);
		freeReplyObject(rep);
	}
	return 0;
}

int
redis_write_batch(struct redis *r, struct redis_write *ws, size_t n)
{
	size_t queued, i;
	int rc, retry = 0;

	for (i = 0; i < n; i++)
		ws[i].result = RES_PENDING;
	if (n == 0)
		return 0;
	if ((rc = redis_connect(r)) != 0)
		goto out;
	if ((rc = batch_append(r, ws, n, RES_PENDING, &queued)) != 0 ||
	    (queued > 0 && (rc = batch_read(r, ws, n)) != 0))
		goto out;
	for (i = 0; i < n; i++)
		if (ws[i].result == RES_RETRY)
			retry = 1;
	if (retry) {
		if ((rc = reload_scripts(r)) != 0 ||
		    (rc = batch_append(r, ws, n, RES_RETRY, &queued)) != 0 ||
		    (queued > 0 && (rc = batch_read(r, ws, n)) != 0))
			goto out;
		for (i = 0; i < n; i++)
			if (ws[i].result == RES_RETRY) {
				set_err(r, "write: server error NOSCRIPT");
				ws[i].result = STICKY_EREDIS;
			}
	}
out:
	/* Unanswered: the connection failed before their replies came. */
	for (i = 0; i < n; i++)
		if (ws[i].result > 0)
			ws[i].result = STICKY_EREDIS;
	return rc;
}

/* ---- logout and bad checkpoints -------------------------------------- */

int
redis_drop(struct redis *r, const char *key, uint64_t epoch)
{
	const char *argv[9];
	size_t lens[9];
	char num[2][NUMLEN];
	struct keypair kp;
	redisReply *rep = NULL;
	long long v = 0;
	int rc;

	if (epoch == 0 || epoch >= MAX_LUA_INT)
		return STICKY_EINVAL;
	if ((rc = keys_make(r, key, &kp)) != 0)
		return rc;
	set_keys(argv, lens, &kp);
	argv[5] = num[0];
	lens[5] = fmt_num(num[0], epoch);
	argv[6] = num[1];
	lens[6] = fmt_num(num[1], (uint64_t)r->ttl_s);
	set_announce(r, argv, lens, key);
	if ((rc = eval(r, SCR_DROP, "drop", 9, argv, lens, &rep)) != 0 ||
	    (rc = int_reply(r, "drop", rep, &v)) != 0)
		goto out;
	if (v == 0)
		rc = STICKY_EFENCED;
	else if (v != 1)
		rc = bad_reply(r, "drop", rep);
out:
	if (rep != NULL)
		freeReplyObject(rep);
	keys_free(&kp);
	return rc;
}

int
redis_set_aside(struct redis *r, const char *key)
{
	const char *argv[6];
	size_t lens[6];
	char ttl[NUMLEN], suffix[NUMLEN + 4];
	struct keypair kp = { NULL, NULL, 0, 0 };
	redisReply *rep = NULL;
	long long v = 0;
	int rc;

	if (!key_valid(key))
		return STICKY_EINVAL;
	snprintf(suffix, sizeof(suffix), "bad:%lld", (long long)time(NULL));
	if ((kp.s = key_make(r, key, "s", &kp.slen)) == NULL ||
	    (kp.o = key_make(r, key, suffix, &kp.olen)) == NULL) {
		rc = STICKY_ENOMEM;
		goto out;
	}
	set_keys(argv, lens, &kp);
	argv[5] = ttl;
	lens[5] = fmt_num(ttl, (uint64_t)BAD_TTL_S);
	if ((rc = eval(r, SCR_SET_ASIDE, "set_aside", 6, argv, lens, &rep)) != 0 ||
	    (rc = int_reply(r, "set_aside", rep, &v)) != 0)
		goto out;
	if (v == 0)
		rc = STICKY_ENOENT;
	else if (v != 1)
		rc = bad_reply(r, "set_aside", rep);
out:
	if (rep != NULL)
		freeReplyObject(rep);
	keys_free(&kp);
	return rc;
}

/* ---- takeover announcements ------------------------------------------ */

/* ["subscribe", <our channel>, n]: SUBSCRIBE's confirmation. */
static int
is_subscribed(const struct redis *r, const redisReply *rep)
{
	const redisReply *kind, *chan;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
		return 0;
	kind = rep->element[0];
	chan = rep->element[1];
	return kind->type == REDIS_REPLY_STRING && kind->len == 9 &&
	    memcmp(kind->str, "subscribe", 9) == 0 &&
	    chan->type == REDIS_REPLY_STRING && chan->len == r->channellen &&
	    memcmp(chan->str, r->channel, chan->len) == 0 &&
	    rep->element[2]->type == REDIS_REPLY_INTEGER;
}

int
redis_sub_open(struct redis *r)
{
	struct conn *cn = &r->sub;
	const char *argv[2] = { "SUBSCRIBE", r->channel };
	size_t lens[2] = { 9, r->channellen };
	redisReply *rep;
	void *p;
	int rc, nauth, nselect, fl;

	if (cn->c != NULL)
		return 0;
	if (now_ms() < cn->retry_at)
		return STICKY_EAGAIN;
	if ((rc = open_context(r, cn)) != 0)
		return rc;
	/* Only TCP can die silently; hiredis: idle 15 s, then 3 probes. */
	if (r->host != NULL && redisEnableKeepAlive(cn->c) != REDIS_OK)
		return failed_io(r, cn, "keepalive");
	append_auth(r, cn, &nauth, &nselect);
	if (redisAppendCommandArgv(cn->c, 2, argv, lens) != REDIS_OK) {
		set_err(r, "sub SUBSCRIBE: out of memory");
		return lost(r, cn);
	}
	if ((rc = read_auth(r, cn, nauth, nselect)) != 0)
		return rc;
	if (redisGetReply(cn->c, &p) != REDIS_OK || p == NULL)
		return failed_io(r, cn, "SUBSCRIBE");
	rep = p;
	if (!is_subscribed(r, rep)) {
		if (rep->type == REDIS_REPLY_ERROR)
			server_error(r, "sub SUBSCRIBE", rep);
		else
			set_err(r, "sub SUBSCRIBE: unexpected reply");
		freeReplyObject(rep);
		return lost(r, cn);
	}
	freeReplyObject(rep);
	/*
	 * From now on only redis_sub_read() reads, and it must never block:
	 * O_NONBLOCK on the fd, and without REDIS_BLOCK hiredis's
	 * redisBufferRead() takes EAGAIN as "nothing yet" and redisGetReply()
	 * only parses what was read (0.14 has no call for this switch).
	 */
	if ((fl = fcntl(cn->c->fd, F_GETFL)) == -1 ||
	    fcntl(cn->c->fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		set_err(r, "sub fcntl: %s", strerror(errno));
		return lost(r, cn);
	}
	cn->c->flags &= ~REDIS_BLOCK;
	r->sub_gen++;
	conn_up(r, cn);
	return 0;
}

int
redis_sub_fd(const struct redis *r)
{
	return r->sub.c != NULL ? r->sub.c->fd : -1;
}

int64_t
redis_sub_backoff_left_ms(const struct redis *r)
{
	return backoff_left(&r->sub);
}

void
redis_sub_close(struct redis *r)
{
	if (r->sub.c != NULL)
		r->sub_gen++;
	drop_context(&r->sub);
}

/*
 * One reply on the subscribed connection: call cb if it is a well-formed
 * announcement on our channel.  Nothing of it is logged but its shape.
 */
static void
sub_reply(const struct redis *r, const redisReply *rep, redis_sub_fn cb,
    void *arg)
{
	const redisReply *kind, *chan, *msg;
	char buf[MAX_MSG_LEN + 1], *owner, *key, *sp;
	uint64_t epoch;
	const char *why = "not a message";

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    (kind = rep->element[0])->type != REDIS_REPLY_STRING ||
	    kind->len != 7 || memcmp(kind->str, "message", 7) != 0)
		goto ignore;
	chan = rep->element[1];
	msg = rep->element[2];
	why = "other channel";
	if (chan->type != REDIS_REPLY_STRING || chan->len != r->channellen ||
	    memcmp(chan->str, r->channel, chan->len) != 0)
		goto ignore;
	why = "malformed announcement";
	if (msg->type != REDIS_REPLY_STRING || msg->len > MAX_MSG_LEN ||
	    memchr(msg->str, '\0', msg->len) != NULL)
		goto ignore;
	memcpy(buf, msg->str, msg->len);
	buf[msg->len] = '\0';
	/* "<epoch> <owner> <key>": the owner has no spaces, the key may. */
	if ((sp = strchr(buf, ' ')) == NULL ||
	    parse_u64(buf, (size_t)(sp - buf), &epoch) != 0 || epoch == 0)
		goto ignore;
	owner = sp + 1;
	if ((sp = strchr(owner, ' ')) == NULL)
		goto ignore;
	*sp = '\0';
	key = sp + 1;
	if ((strcmp(owner, "-") != 0 && !owner_valid(owner)) ||
	    !key_valid(key))
		goto ignore;
	cb(key, epoch, owner, arg);
	return;
ignore:
	log_debug("redis_sub_ignored", "addr=%s reason=\"%s\" type=%d",
	    r->addr, why, rep->type);
}

int
redis_sub_read(struct redis *r, redis_sub_fn cb, void *arg)
{
	struct conn *cn = &r->sub;
	unsigned gen = r->sub_gen;
	void *p;

	if (cn->c == NULL)
		return STICKY_ESTATE;
	/* One read(2) of up to 16 KiB; EAGAIN is not an error. */
	if (redisBufferRead(cn->c) != REDIS_OK)
		return failed_io(r, cn, "read");
	for (;;) {
		/* Parses only: the context is not REDIS_BLOCK. */
		if (redisGetReply(cn->c, &p) != REDIS_OK)
			return failed_io(r, cn, "read");
		if (p == NULL)
			return 0;
		sub_reply(r, p, cb, arg);
		freeReplyObject(p);
		if (r->sub_gen != gen) /* cb closed (or reopened) it */
			return 0;
	}
}

/* ---- raw access for stickyctl ---------------------------------------- */

void
redis_scan_free(char **keys, size_t n)
{
	if (keys == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		xfree(keys[i]);
	xfree(keys);
}

/* The session key K of P{K}:s, or NULL (not ours, or not one sticky makes). */
static char *
scan_key(const struct redis *r, const redisReply *e, int *nomem)
{
	const char *k;
	size_t klen;
	char *out;

	*nomem = 0;
	if (e->type != REDIS_REPLY_STRING || e->len < r->prefixlen + 5 ||
	    memcmp(e->str, r->prefix, r->prefixlen) != 0 ||
	    e->str[r->prefixlen] != '{' ||
	    memcmp(e->str + e->len - 3, "}:s", 3) != 0)
		return NULL;
	k = e->str + r->prefixlen + 1;
	klen = e->len - r->prefixlen - 4;
	if (klen > MAX_KEY_LEN || memchr(k, '\0', klen) != NULL)
		return NULL;
	if ((out = xstrndup(k, klen)) == NULL) {
		*nomem = 1;
		return NULL;
	}
	if (!key_valid(out)) {
		xfree(out);
		return NULL;
	}
	return out;
}

int
redis_scan(struct redis *r, uint64_t *cursor, char ***keys, size_t *n)
{
	const char *argv[6];
	size_t lens[6], i, nkeys = 0;
	char cur[NUMLEN], *pat, *k, **list = NULL;
	redisReply *rep = NULL, *arr;
	uint64_t next;
	int rc, nomem;

	*keys = NULL;
	*n = 0;
	/* MATCH P{*}:s, with the glob characters of the prefix escaped. */
	if ((pat = xreallocarray(NULL, r->prefixlen + 3, 2)) == NULL)
		return STICKY_ENOMEM;
	for (i = 0, k = pat; i < r->prefixlen; i++) {
		if (strchr("*?[]\\", r->prefix[i]) != NULL)
			*k++ = '\\';
		*k++ = r->prefix[i];
	}
	memcpy(k, "{*}:s", 5);
	argv[0] = "SCAN";
	argv[1] = cur;
	argv[2] = "MATCH";
	argv[3] = pat;
	argv[4] = "COUNT";
	argv[5] = "100";
	lens[0] = 4;
	lens[1] = fmt_num(cur, *cursor);
	lens[2] = 5;
	lens[3] = (size_t)(k - pat) + 5;
	lens[4] = 5;
	lens[5] = 3;
	rc = command(r, "scan", 6, argv, lens, &rep);
	xfree(pat);
	if (rc != 0)
		return rc;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    parse_u64(rep->element[0]->str, rep->element[0]->len, &next) != 0 ||
	    (arr = rep->element[1])->type != REDIS_REPLY_ARRAY) {
		set_err(r, "scan: malformed reply");
		rc = STICKY_EREDIS;
		goto out;
	}
	if (arr->elements > 0 &&
	    (list = xreallocarray(NULL, arr->elements, sizeof(*list))) == NULL) {
		rc = STICKY_ENOMEM;
		goto out;
	}
	for (i = 0; i < arr->elements; i++) {
		if ((k = scan_key(r, arr->element[i], &nomem)) != NULL)
			list[nkeys++] = k;
		else if (nomem) {
			redis_scan_free(list, nkeys);
			rc = STICKY_ENOMEM;
			goto out;
		}
	}
	*keys = list;
	*n = nkeys;
	*cursor = next;
out:
	freeReplyObject(rep);
	return rc;
}

int
redis_get(struct redis *r, const char *key, struct sticky_buf *blob)
{
	const char *argv[2];
	size_t lens[2];
	struct keypair kp;
	redisReply *rep = NULL;
	int rc;

	if ((rc = keys_make(r, key, &kp)) != 0)
		return rc;
	argv[0] = "GET";
	lens[0] = 3;
	argv[1] = kp.s;
	lens[1] = kp.slen;
	if ((rc = command(r, "get", 2, argv, lens, &rep)) != 0)
		goto out;
	if (rep->type == REDIS_REPLY_NIL)
		rc = STICKY_ENOENT;
	else if (rep->type != REDIS_REPLY_STRING)
		rc = bad_reply(r, "get", rep);
	else {
		buf_reset(blob);
		rc = buf_append(blob, rep->str, rep->len);
	}
out:
	if (rep != NULL)
		freeReplyObject(rep);
	keys_free(&kp);
	return rc;
}

int
redis_delete(struct redis *r, const char *key)
{
	const char *argv[3];
	size_t lens[3];
	struct keypair kp;
	redisReply *rep = NULL;
	int rc;

	if ((rc = keys_make(r, key, &kp)) != 0)
		return rc;
	argv[0] = "DEL";
	lens[0] = 3;
	argv[1] = kp.s;
	lens[1] = kp.slen;
	argv[2] = kp.o;
	lens[2] = kp.olen;
	if ((rc = command(r, "delete", 3, argv, lens, &rep)) != 0)
		goto out;
	if (rep->type != REDIS_REPLY_INTEGER)
		rc = bad_reply(r, "delete", rep);
	else if (rep->integer == 0)
		rc = STICKY_ENOENT;
out:
	if (rep != NULL)
		freeReplyObject(rep);
	keys_free(&kp);
	return rc;
}
