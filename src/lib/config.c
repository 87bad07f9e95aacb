/*
 * config.c: every configuration key, its default, its limits and its
 * documentation, in one table.  sticky_config_set() is the single way a
 * value gets in, whether it comes from the config file (conffile.c), a
 * command-line flag (app.c) or an application calling the API.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "checkpoint.h"
#include "conffile.h"
#include "config.h"
#include "internal.h"
#include "redis.h"
#include "route.h"
#include "secret.h"
#include "sid.h"
#include "sock.h"

#define SUN_PATH_MAX 107 /* sizeof(sockaddr_un.sun_path) - 1 */
#define REDIS_PREFIX_MAX 256 /* as redis.c checks */

enum key_type { T_LONG, T_BOOL, T_STR, T_MODE, T_ENUM };

struct key {
	const char *name;
	enum key_type type;
	size_t off;
	const char *def;
	long min, max;
	const char *group;
	const char *doc;
};

/* Enum keys: the index of a name is the value stored (an int-sized enum). */
static const char *const ckpt_names[] = { "off", "async", "sync", NULL };
static const char *const routing_names[] = { "tag", "hash", NULL };
static const char *const samesite_names[] = { "off", "lax", "strict", "none",
	NULL };
static const char *const fencing_names[] = { "normal", "strict", NULL };

static const struct {
	const char *key;
	const char *const *names;
} enums[] = {
	{ "checkpoint", ckpt_names },
	{ "routing", routing_names },
	{ "cookie_samesite", samesite_names },
	{ "fencing", fencing_names },
};

static const char *const *
enum_names(const char *key)
{
	for (size_t i = 0; i < sizeof(enums) / sizeof(enums[0]); i++)
		if (strcmp(enums[i].key, key) == 0)
			return enums[i].names;
	return NULL;
}

#define F(f) offsetof(struct sticky_config, f)
#define LMAX LONG_MAX

static const struct key keys[] = {
	/* processes and sockets */
	{ "workers", T_LONG, F(workers), "2", 1, 256, "Processes",
	  "Number of worker processes; each has its own socket and route tag." },
	{ "listen", T_STR, F(listen), "unix:/run/sticky/%t.sock", 0, 0, "Processes",
	  "Worker sockets: \"unix:PATH\" where %t is the route tag and %i the "
	  "worker index, or \"ADDRESS:PORT\" where worker i listens on PORT+i." },
	{ "tag", T_STR, F(tag), "w%i", 0, 0, "Processes",
	  "Route tag pattern, %i is the worker index.  Tags must be unique "
	  "across hosts behind one front-end (e.g. web2-w%i)." },
	{ "socket_mode", T_MODE, F(socket_mode), "0660", 0, 0777, "Processes",
	  "Permission bits of unix sockets, so only the web server can connect." },
	{ "socket_owner", T_STR, F(socket_owner), "", 0, 0, "Processes",
	  "Owner of unix sockets (user name); empty keeps the creator." },
	{ "socket_group", T_STR, F(socket_group), "", 0, 0, "Processes",
	  "Group of unix sockets (e.g. www-data); empty keeps the creator's." },
	{ "user", T_STR, F(user), "", 0, 0, "Processes",
	  "User to run as after binding when started as root (nobody if empty)." },
	{ "group", T_STR, F(group), "", 0, 0, "Processes",
	  "Group to run as after binding; default: the user's primary group." },
	{ "backlog", T_LONG, F(backlog), "1024", 1, 65535, "Processes",
	  "Listen backlog of each worker socket." },
	{ "stop_timeout", T_LONG, F(stop_timeout_ms), "10000", 0, 3600000, "Processes",
	  "Milliseconds a stopping worker may take to finish requests and flush "
	  "sessions before it is killed." },
	{ "respawn_backoff_max", T_LONG, F(respawn_backoff_max_ms), "5000", 0, 600000,
	  "Processes", "Longest delay (ms) before respawning a worker that keeps "
	  "crashing without answering a request; others are respawned at once." },
	{ "quarantine_crashes", T_LONG, F(quarantine_crashes), "2", 0, 1000,
	  "Processes", "A user whose requests were running when this many "
	  "workers died (within quarantine_window) is refused with 503 and their "
	  "checkpoint set aside; 0: never.  A resent request that killed a "
	  "worker is always refused (500)." },
	{ "quarantine_window", T_LONG, F(quarantine_window_s), "600", 1, 604800,
	  "Processes", "Seconds a request that killed a worker is remembered, "
	  "over which a user's crashes are counted, and that a quarantine lasts "
	  "after the user's last crash." },

	/* requests */
	{ "max_connections", T_LONG, F(max_connections), "128", 1, 65536, "Requests",
	  "Open FastCGI connections per worker; more wait in the backlog." },
	{ "read_timeout", T_LONG, F(read_timeout_ms), "5000", 1, 3600000, "Requests",
	  "Milliseconds within which a request must arrive whole; a slower "
	  "connection is closed and counted.  Other users never wait for it." },
	{ "write_timeout", T_LONG, F(write_timeout_ms), "5000", 1, 3600000, "Requests",
	  "Milliseconds a response may take to drain to the front-end." },
	{ "max_body", T_LONG, F(max_body), "1048576", 0, 1073741824, "Requests",
	  "Largest request body in bytes; larger requests get 413." },
	{ "max_params", T_LONG, F(max_params), "65536", 1024, 16777216, "Requests",
	  "Largest FastCGI PARAMS stream (all CGI variables) in bytes." },
	{ "max_nparams", T_LONG, F(max_nparams), "512", 16, 65536, "Requests",
	  "Most CGI variables in one request." },
	{ "worker_header", T_STR, F(worker_header), "", 0, 0, "Requests",
	  "Response header naming the worker's route tag (e.g. X-Sticky-Worker); "
	  "empty: off." },
	{ "max_pending_output", T_LONG, F(max_pending_output), "65536", 4096,
	  1073741824, "Requests", "Bytes of output a connection may have "
	  "unsent before the worker stops reading it (until it drains): a peer "
	  "that never reads cannot grow a worker's memory.  Counted as "
	  "output_stalls." },

	/* sessions */
	{ "cookie_name", T_STR, F(cookie_name), "STICKYSID", 0, 0, "Sessions",
	  "Session cookie name.  Pick a distinctive one: Apache's stickysession "
	  "also matches NAME= inside URL parameters." },
	{ "cookie_path", T_STR, F(cookie_path), "/", 0, 0, "Sessions",
	  "Path attribute of the session cookie." },
	{ "cookie_domain", T_STR, F(cookie_domain), "", 0, 0, "Sessions",
	  "Domain attribute; empty: a host-only cookie." },
	{ "cookie_secure", T_BOOL, F(cookie_secure), "off", 0, 1, "Sessions",
	  "Set the Secure attribute (on behind HTTPS)." },
	{ "cookie_httponly", T_BOOL, F(cookie_httponly), "on", 0, 1, "Sessions",
	  "Set the HttpOnly attribute (scripts cannot read the id)." },
	{ "cookie_samesite", T_ENUM, F(cookie_samesite), "lax", 0, 0, "Sessions",
	  "SameSite attribute: lax, strict, none (needs cookie_secure) or off." },
	{ "cookie_max_age", T_LONG, F(cookie_max_age), "-1", -1, LMAX, "Sessions",
	  "Max-Age in seconds; -1: a cookie that ends with the browser session." },
	{ "max_sessions", T_LONG, F(max_sessions), "100000", 1, LMAX, "Sessions",
	  "Sessions held in one worker's memory; the least recently used is "
	  "checkpointed and dropped beyond it." },
	{ "max_bytes", T_LONG, F(max_bytes), "1073741824", 1024, LMAX, "Sessions",
	  "Bytes of sessions held in one worker's memory: their state as the "
	  "codec reports it, their replay logs and the copies kept for delta "
	  "checkpoints." },
	{ "idle_timeout", T_LONG, F(idle_timeout_s), "1800", 0, LMAX, "Sessions",
	  "Seconds after which an unused session leaves memory (checkpointed "
	  "first); 0: never." },
	{ "replay_slots", T_LONG, F(replay_slots), "8", 0, 64, "Sessions",
	  "Responses to state-changing requests remembered per session by "
	  "request id, so a request the front-end resends is not applied twice." },
	{ "replay_max_bytes", T_LONG, F(replay_max_bytes), "131072", 0,
	  67108864, "Sessions", "Bytes of remembered responses (and their "
	  "request ids) per session; the oldest go first beyond it, and a "
	  "larger response is not remembered.  Counted in max_bytes." },

	/* checkpoints */
	{ "redis", T_STR, F(redis), "", 0, 0, "Checkpoints",
	  "Redis for checkpoints: HOST:PORT, unix:PATH, or "
	  "sentinel://HOST:PORT[,HOST:PORT...]/MASTERNAME to ask Redis Sentinel "
	  "for the master and follow its failovers; empty: no checkpoints." },
	{ "redis_user", T_STR, F(redis_user), "", 0, 0, "Checkpoints",
	  "ACL user for AUTH; empty: password only (or none)." },
	{ "redis_password", T_STR, F(redis_password), "", 0, 0, "Checkpoints",
	  "Password for AUTH; never logged." },
	{ "redis_sentinel_user", T_STR, F(redis_sentinel_user), "", 0, 0,
	  "Checkpoints", "ACL user for AUTH on the Sentinels; empty: password "
	  "only (or none).  redis_user/redis_password are for the master." },
	{ "redis_sentinel_password", T_STR, F(redis_sentinel_password), "", 0, 0,
	  "Checkpoints", "Password for AUTH on the Sentinels (their "
	  "requirepass); never logged." },
	{ "redis_db", T_LONG, F(redis_db), "0", 0, 65535, "Checkpoints",
	  "Redis database number." },
	{ "redis_connect_timeout", T_LONG, F(redis_connect_timeout_ms), "200", 1,
	  60000, "Checkpoints", "Milliseconds to connect to Redis." },
	{ "redis_timeout", T_LONG, F(redis_timeout_ms), "500", 1, 60000,
	  "Checkpoints", "Milliseconds for one Redis command (or pipeline)." },
	{ "redis_prefix", T_STR, F(redis_prefix), "sticky:", 0, 0, "Checkpoints",
	  "Prefix of every key sticky writes." },
	{ "secret_file", T_STR, F(secret_file), "", 0, 0, "Checkpoints",
	  "File of server secrets, one per line (at least 32 bytes each, not "
	  "readable by other users): Redis keys and announcements name each "
	  "session by a keyed hash of its id, and checkpoints carry a MAC checked "
	  "before decoding.  The first line names and signs; older lines are "
	  "still accepted (rotation).  Empty: session ids name keys, no MAC." },
	{ "checkpoint", T_ENUM, F(checkpoint), "async", 0, 0, "Checkpoints",
	  "async: changed sessions are written every checkpoint_interval; sync: "
	  "a response waits until Redis has its checkpoint; off." },
	{ "checkpoint_interval", T_LONG, F(checkpoint_interval_ms), "100", 1, 3600000,
	  "Checkpoints", "Milliseconds between flushes in async mode: the most "
	  "a crash can lose." },
	{ "checkpoint_ttl", T_LONG, F(checkpoint_ttl_s), "86400", 0, 2147483647L,
	  "Checkpoints", "Seconds a checkpoint lives in Redis after its last "
	  "write; 0: forever." },
	{ "checkpoint_replicas", T_LONG, F(checkpoint_replicas), "0", 0, 64,
	  "Checkpoints", "Sync mode: a response waits (WAIT) until this many "
	  "replicas have the checkpoint, else 503 and nothing is acknowledged; "
	  "0: the master's answer suffices." },
	{ "checkpoint_replicas_timeout", T_LONG,
	  F(checkpoint_replicas_timeout_ms), "1000", 1, 60000, "Checkpoints",
	  "Milliseconds a sync response waits for checkpoint_replicas." },
	{ "checkpoint_page", T_LONG, F(checkpoint_page), "4096", 64, 1048576,
	  "Checkpoints", "Page size in bytes of delta writes: only changed pages "
	  "are sent." },
	{ "routing", T_ENUM, F(routing), "tag", 0, 0, "Checkpoints",
	  "tag: the front-end routes on the cookie's route tag; hash: it hashes "
	  "the cookie, so a new session is checkpointed before its first answer." },
	{ "fencing", T_ENUM, F(strict_fencing), "normal", 0, 0, "Checkpoints",
	  "normal: writes are fenced by the ownership epoch and takeover "
	  "announcements drop stale copies (without announcements the epoch is "
	  "checked per request); strict: always check the epoch in Redis before "
	  "serving a request from memory." },

	/* operations */
	{ "status_path", T_STR, F(status_path), "", 0, 0, "Operations",
	  "Path answered with the status page (text, ?json, ?openmetrics); "
	  "empty: off." },
	{ "status_allow", T_STR, F(status_allow), "127.0.0.1,::1", 0, 0, "Operations",
	  "Comma-separated client addresses (REMOTE_ADDR) allowed the status page." },
	{ "status_token_file", T_STR, F(status_token_file), "", 0, 0, "Operations",
	  "File holding a secret (one line, 16-256 visible characters); when "
	  "set, the status page on the worker sockets is answered only to "
	  "requests carrying it in an X-Sticky-Status-Token header, whatever "
	  "REMOTE_ADDR says.  Read at start and reload." },
	{ "status_listen", T_STR, F(status_listen), "", 0, 0, "Operations",
	  "A separate socket (unix:PATH) answering only the status page, to "
	  "anyone who can connect: its permissions are the check.  Empty: off." },
	{ "status_socket_mode", T_MODE, F(status_socket_mode), "0600", 0, 0777,
	  "Operations", "Permission bits of the status_listen socket." },
	{ "status_socket_owner", T_STR, F(status_socket_owner), "", 0, 0,
	  "Operations", "Owner of the status_listen socket; empty keeps the "
	  "creator." },
	{ "status_socket_group", T_STR, F(status_socket_group), "", 0, 0,
	  "Operations", "Group of the status_listen socket (e.g. monitoring); "
	  "empty keeps the creator's." },
	{ "max_requests", T_LONG, F(max_requests), "0", 0, LMAX, "Operations",
	  "Recycle a worker gracefully after this many requests; 0: never." },
	{ "max_rss", T_LONG, F(max_rss_mb), "0", 0, LMAX, "Operations",
	  "Recycle a worker gracefully above this resident size in MiB; 0: never." },
	{ "request_timeout", T_LONG, F(request_timeout_ms), "0", 0, 3600000,
	  "Operations", "Kill a worker whose handler runs longer than this (ms); "
	  "its users restore from their checkpoints.  0: off." },
	{ "log_level", T_STR, F(log_level), "info", 0, 0, "Operations",
	  "error, warn, info or debug." },
	{ "log_file", T_STR, F(log_file), "", 0, 0, "Operations",
	  "Append logs to this file (reopened on SIGUSR1); empty: stderr." },
	{ "syslog", T_BOOL, F(syslog), "off", 0, 1, "Operations",
	  "Log to syslog (daemon facility) instead." },
	{ "pid_file", T_STR, F(pid_file), "", 0, 0, "Operations",
	  "Write the master's pid here." },
	{ "fault_die_after_checkpoint", T_BOOL, F(fault_die_after_checkpoint), "off",
	  0, 1, "Testing", "Fault injection for tests: a worker exits after a "
	  "sync checkpoint is acknowledged and before it answers.  Only in "
	  "builds configured with --enable-fault-injection (elsewhere on is "
	  "refused).  Never in production." },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct key *
find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int
parse_bool(const char *v, int *out)
{
	if (!strcasecmp(v, "on") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "true") || !strcmp(v, "1"))
		*out = 1;
	else if (!strcasecmp(v, "off") || !strcasecmp(v, "no") ||
	    !strcasecmp(v, "false") || !strcmp(v, "0"))
		*out = 0;
	else
		return STICKY_EINVAL;
	return 0;
}

static int
parse_long(const char *v, int base, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, base);
	if (errno != 0 || end == v || *end != '\0')
		return STICKY_EINVAL;
	*out = n;
	return 0;
}

static int
set_str(char **slot, const char *v)
{
	char *p;

	if ((p = xstrdup(v)) == NULL)
		return STICKY_ENOMEM;
	xfree(*slot);
	*slot = p;
	return 0;
}

static int
set_app_key(struct sticky_config *cfg, const char *key, const char *value)
{
	char **k, **v;

	for (size_t i = 0; i < cfg->napp; i++)
		if (strcmp(cfg->app_keys[i], key) == 0)
			return set_str(&cfg->app_values[i], value);
	if ((k = xreallocarray(cfg->app_keys, cfg->napp + 1, sizeof(*k))) == NULL)
		return STICKY_ENOMEM;
	cfg->app_keys = k;
	if ((v = xreallocarray(cfg->app_values, cfg->napp + 1, sizeof(*v))) == NULL)
		return STICKY_ENOMEM;
	cfg->app_values = v;
	if ((k[cfg->napp] = xstrdup(key)) == NULL)
		return STICKY_ENOMEM;
	if ((v[cfg->napp] = xstrdup(value)) == NULL) {
		xfree(k[cfg->napp]);
		return STICKY_ENOMEM;
	}
	cfg->napp++;
	return 0;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
sticky_config_set(struct sticky_config *cfg, const char *key,
    const char *value, char *err, size_t errlen)
{
	const struct key *k;
	char *base = (char *)cfg;
	long n;
	const char *const *names;
	int b, rc;

	if (cfg == NULL || key == NULL || value == NULL)
		return STICKY_EINVAL;
	if (strncmp(key, "app.", 4) == 0 && key[4] != '\0')
		return set_app_key(cfg, key, value);
	if ((k = find_key(key)) == NULL) {
		seterr(err, errlen, "unknown key '%s'", key);
		return STICKY_ECONFIG;
	}
	switch (k->type) {
	case T_LONG:
	case T_MODE:
		if (parse_long(value, k->type == T_MODE ? 8 : 10, &n) != 0) {
			seterr(err, errlen, "%s: '%s' is not a number", key, value);
			return STICKY_ECONFIG;
		}
		if (n < k->min || n > k->max) {
			seterr(err, errlen, "%s: %s is out of range", key, value);
			return STICKY_ECONFIG;
		}
		*(long *)(base + k->off) = n;
		return 0;
	case T_BOOL:
		if (parse_bool(value, &b) != 0) {
			seterr(err, errlen, "%s: '%s' is not on or off", key, value);
			return STICKY_ECONFIG;
		}
#ifndef STICKY_FAULT_INJECTION
		if (b && k->off == F(fault_die_after_checkpoint)) {
			seterr(err, errlen, "%s: this build has no fault injection "
			    "(./configure --enable-fault-injection)", key);
			return STICKY_ECONFIG;
		}
#endif
		*(int *)(base + k->off) = b;
		return 0;
	case T_STR:
		if ((rc = set_str((char **)(base + k->off), value)) != 0)
			return rc;
		return 0;
	case T_ENUM:
		names = enum_names(k->name);
		for (int v = 0; names[v] != NULL; v++)
			if (strcasecmp(value, names[v]) == 0) {
				*(int *)(base + k->off) = v;
				return 0;
			}
		break;
	}
	seterr(err, errlen, "%s: '%s' is not one of the allowed values", key,
	    value);
	return STICKY_ECONFIG;
}

const char *
sticky_config_get(const struct sticky_config *cfg, const char *key)
{
	struct sticky_config *c = (struct sticky_config *)cfg;
	const struct key *k;
	const char *base = (const char *)cfg;

	if (cfg == NULL || key == NULL)
		return NULL;
	if (strncmp(key, "app.", 4) == 0) {
		for (size_t i = 0; i < cfg->napp; i++)
			if (strcmp(cfg->app_keys[i], key) == 0)
				return cfg->app_values[i];
		return NULL;
	}
	if ((k = find_key(key)) == NULL)
		return NULL;
	switch (k->type) {
	case T_LONG:
		snprintf(c->textbuf, sizeof(c->textbuf), "%ld",
		    *(const long *)(base + k->off));
		return c->textbuf;
	case T_MODE:
		snprintf(c->textbuf, sizeof(c->textbuf), "%04lo",
		    *(const long *)(base + k->off));
		return c->textbuf;
	case T_BOOL:
		return *(const int *)(base + k->off) ? "on" : "off";
	case T_STR:
		return *(char *const *)(base + k->off);
	case T_ENUM:
		return enum_names(k->name)[*(const int *)(base + k->off)];
	}
	return NULL;
}

int
config_init(struct sticky_config *cfg)
{
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++)
		if ((rc = sticky_config_set(cfg, keys[i].name, keys[i].def, NULL,
		    0)) != 0) {
			config_cleanup(cfg);
			return rc;
		}
	return 0;
}

void
config_cleanup(struct sticky_config *cfg)
{
	char *base = (char *)cfg;

	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type == T_STR) {
			xfree(*(char **)(base + keys[i].off));
			*(char **)(base + keys[i].off) = NULL;
		}
	for (size_t i = 0; i < cfg->napp; i++) {
		xfree(cfg->app_keys[i]);
		xfree(cfg->app_values[i]);
	}
	xfree(cfg->app_keys);
	xfree(cfg->app_values);
	cfg->app_keys = cfg->app_values = NULL;
	cfg->napp = 0;
	secrets_free(cfg->secrets);
	cfg->secrets = NULL;
}

/*
 * What the master and the workers would refuse at start, checked here so
 * that -n says it (and a reload keeps the running configuration) instead
 * of workers crash-looping on it.
 */
static int
validate_start(const struct sticky_config *cfg, char *err, size_t errlen)
{
	char tag[SID_TAG_MAX + 1], addr[SOCK_ADDR_MAX];
	struct redis_opts o;
	struct redis *r;
	size_t n;

	for (long i = 0; i < cfg->workers; i++) {
		route_tag(cfg->tag, (unsigned)i, tag, sizeof(tag));
		if (sock_expand(cfg->listen, (unsigned)i, tag, addr,
		    sizeof(addr)) != 0) {
			seterr(err, errlen, "listen: '%.64s%s' does not make a "
			    "valid address of at most %d bytes for worker %ld",
			    cfg->listen, strlen(cfg->listen) > 64 ? "..." : "",
			    SOCK_ADDR_MAX - 1, i);
			return STICKY_ECONFIG;
		}
		if (strncmp(addr, "unix:", 5) == 0 &&
		    (n = strlen(addr + 5)) > SUN_PATH_MAX) {
			seterr(err, errlen, "listen: the socket path of worker "
			    "%ld is %zu bytes, at most %d", i, n, SUN_PATH_MAX);
			return STICKY_ECONFIG;
		}
	}
	if (cfg->redis[0] == '\0' || cfg->checkpoint == CKPT_OFF)
		return 0;
	if ((n = strlen(cfg->redis_prefix)) > REDIS_PREFIX_MAX) {
		seterr(err, errlen, "redis_prefix: %zu bytes, at most %d", n,
		    REDIS_PREFIX_MAX);
		return STICKY_ECONFIG;
	}
	if (cfg->redis_user[0] != '\0' && cfg->redis_password[0] == '\0') {
		seterr(err, errlen, "redis_user needs redis_password");
		return STICKY_ECONFIG;
	}
	/* Whatever else the Redis client refuses (the address). */
	ckpt_redis_opts(cfg, &o);
	if (redis_new(&r, &o) != 0) {
		seterr(err, errlen, "redis: '%.64s%s' is not HOST:PORT or "
		    "unix:PATH (at most %d bytes)", cfg->redis,
		    strlen(cfg->redis) > 64 ? "..." : "", SUN_PATH_MAX);
		return STICKY_ECONFIG;
	}
	redis_free(r);
	return 0;
}

int
config_validate(const struct sticky_config *cfg, char *err, size_t errlen)
{
	char tag[SID_TAG_MAX + 1];
	const char *l = cfg->listen;

	for (long i = 0; i < cfg->workers; i++)
		if (route_tag(cfg->tag, (unsigned)i, tag, sizeof(tag)) != 0) {
			seterr(err, errlen, "tag: '%s' does not make valid route "
			    "tags (1-32 of A-Z a-z 0-9 _ -)", cfg->tag);
			return STICKY_ECONFIG;
		}
	if (cfg->workers > 1 && strstr(cfg->tag, "%i") == NULL) {
		seterr(err, errlen, "tag: '%s' needs %%i to tell workers apart",
		    cfg->tag);
		return STICKY_ECONFIG;
	}
	if (strncmp(l, "unix:", 5) == 0) {
		if (l[5] != '/') {
			seterr(err, errlen, "listen: '%s': unix socket paths must be "
			    "absolute", l);
			return STICKY_ECONFIG;
		}
		if (cfg->workers > 1 && strstr(l, "%t") == NULL &&
		    strstr(l, "%i") == NULL) {
			seterr(err, errlen, "listen: '%s' needs %%t or %%i to give "
			    "each worker its own socket", l);
			return STICKY_ECONFIG;
		}
	} else if (strrchr(l, ':') == NULL) {
		seterr(err, errlen, "listen: '%s' is neither unix:PATH nor "
		    "ADDRESS:PORT", l);
		return STICKY_ECONFIG;
	}
	if (!cookie_name_valid(cfg->cookie_name)) {
		seterr(err, errlen, "cookie_name: '%s' is not a cookie name",
		    cfg->cookie_name);
		return STICKY_ECONFIG;
	}
	if ((cfg->cookie_path[0] != '\0' && !cookie_attr_valid(cfg->cookie_path)) ||
	    (cfg->cookie_domain[0] != '\0' &&
	    !cookie_attr_valid(cfg->cookie_domain))) {
		seterr(err, errlen, "cookie_path/cookie_domain: invalid characters");
		return STICKY_ECONFIG;
	}
	if (cfg->cookie_samesite == SAMESITE_NONE && !cfg->cookie_secure) {
		seterr(err, errlen, "cookie_samesite: none needs cookie_secure = on");
		return STICKY_ECONFIG;
	}
	if (cfg->worker_header[0] != '\0' && !cookie_name_valid(cfg->worker_header)) {
		seterr(err, errlen, "worker_header: '%s' is not a header name",
		    cfg->worker_header);
		return STICKY_ECONFIG;
	}
	if (cfg->routing == ROUTING_HASH && cfg->checkpoint == CKPT_OFF &&
	    cfg->redis[0] != '\0') {
		seterr(err, errlen, "routing = hash needs checkpoints");
		return STICKY_ECONFIG;
	}
	if (cfg->status_listen[0] != '\0' &&
	    (strncmp(cfg->status_listen, "unix:/", 6) != 0 ||
	    strchr(cfg->status_listen, '%') != NULL)) {
		seterr(err, errlen, "status_listen: '%s' must be unix:/ABSOLUTE/PATH "
		    "(its permissions are what protects it)", cfg->status_listen);
		return STICKY_ECONFIG;
	}
	if (cfg->checkpoint_replicas > 0 && cfg->checkpoint != CKPT_SYNC &&
	    cfg->redis[0] != '\0') {
		seterr(err, errlen, "checkpoint_replicas needs checkpoint = sync");
		return STICKY_ECONFIG;
	}
	if (cfg->redis_sentinel_user[0] != '\0' &&
	    cfg->redis_sentinel_password[0] == '\0') {
		seterr(err, errlen, "redis_sentinel_user needs "
		    "redis_sentinel_password");
		return STICKY_ECONFIG;
	}
	enum log_level lvl;
	if (log_parse_level(cfg->log_level, &lvl) != 0) {
		seterr(err, errlen, "log_level: '%s' is not error, warn, info or "
		    "debug", cfg->log_level);
		return STICKY_ECONFIG;
	}
	return validate_start(cfg, err, errlen);
}

size_t
config_keys(const struct config_key_doc **out)
{
	static struct config_key_doc docs[NKEYS];

	for (size_t i = 0; i < NKEYS; i++) {
		docs[i].name = keys[i].name;
		docs[i].def = keys[i].def;
		docs[i].doc = keys[i].doc;
		docs[i].group = keys[i].group;
	}
	*out = docs;
	return NKEYS;
}

/* Wrap doc text at ~76 columns behind "# ". */
static int
write_comment(struct sticky_buf *out, const char *text)
{
	const char *p = text;
	int rc;

	while (*p != '\0') {
		size_t n = strlen(p), cut = n;

		if (n > 74) {
			cut = 74;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = 74;
		}
		if ((rc = buf_printf(out, "# %.*s\n", (int)cut, p)) != 0)
			return rc;
		p += cut;
		while (*p == ' ')
			p++;
	}
	return 0;
}

int
config_write_example(struct sticky_buf *out)
{
	const char *group = "";
	int rc;

	if ((rc = buf_puts(out, "# stickyd.conf: every key with its default.  "
	    "Generated by `stickyctl conf`;\n# see stickyd.conf(5).  "
	    "Application keys start with \"app.\".\n")) != 0)
		return rc;
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(group, keys[i].group) != 0) {
			group = keys[i].group;
			if ((rc = buf_printf(out, "\n## %s\n", group)) != 0)
				return rc;
		}
		if ((rc = buf_puts(out, "\n")) != 0 ||
		    (rc = write_comment(out, keys[i].doc)) != 0)
			return rc;
		if (strchr(keys[i].def, ' ') != NULL || keys[i].def[0] == '\0')
			rc = buf_printf(out, "#%s = \"%s\"\n", keys[i].name,
			    keys[i].def);
		else
			rc = buf_printf(out, "#%s = %s\n", keys[i].name, keys[i].def);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- the public handle ---- */

int
sticky_config_new(struct sticky_config **out)
{
	struct sticky_config *cfg;
	int rc;

	*out = NULL;
	if ((cfg = xmalloc(sizeof(*cfg))) == NULL)
		return STICKY_ENOMEM;
	if ((rc = config_init(cfg)) != 0) {
		xfree(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

void
sticky_config_free(struct sticky_config *cfg)
{
	if (cfg == NULL)
		return;
	config_cleanup(cfg);
	xfree(cfg);
}

static int
load_cb(const char *key, const char *value, void *arg, char *err,
    size_t errlen)
{
	return sticky_config_set(arg, key, value, err, errlen);
}

int
sticky_config_load(struct sticky_config *cfg, const char *path, char *err,
    size_t errlen)
{
	return conffile_load(path, load_cb, cfg, err, errlen);
}
