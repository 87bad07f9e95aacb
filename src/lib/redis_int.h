/*
 * redis_int.h: what the redis*.c files share and nothing else includes:
 * the state behind struct redis, the script ids, and the helpers of
 * redis.c (rd_ names: internal to these files).  redis_scripts.c only
 * supplies the scripts' text: it calls nothing.
 * Only these files include hiredis.
 */
#ifndef STICKY_REDIS_INT_H
#define STICKY_REDIS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "redis.h"

#define MAX_KEY_LEN 512
#define MAX_OWNER_LEN 32 /* the owner record has room for 32 bytes */
/*
 * The owner record at the start of a session's key P{N}:u, before the
 * checkpoint (layout: redis_scripts.c).
 */
#define REC_LEN 69
#define NUMLEN 24 /* room for a uint64_t in decimal and a NUL */

/* The scripts of redis_scripts.c; r->sha holds their SHA1s. */
enum script_id {
	SCR_TAKEOVER,
	SCR_CLAIM,
	SCR_WRITE,
	SCR_DROP,
	SCR_SET_ASIDE,
	SCR_MIGRATE,
	SCR_GENERATION,
	SCR_PEEK,
	SCR_READ,
	SCR_COUNT
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

/* A Sentinel to ask for the master (redis = sentinel://...). */
struct sentinel_addr {
	char *host;
	int port;
};

#define SENTINEL_SCHEME "sentinel://"

struct redis {
	struct conn cmd; /* commands and scripts */
	struct conn sub; /* subscribed to the channel, non-blocking */
	struct conn watch; /* Sentinel mode: +switch-master, non-blocking */
	unsigned sub_gen; /* changes whenever sub is opened or closed */
	unsigned cmd_gen; /* changes whenever cmd is (re)connected */
	int multi_warned; /* logged once: the ACL refuses MULTI (takeover) */
	int stage_off;    /* staged full writes failed: inline from now on */
	uint64_t stage_seq; /* the nonce of the next staged write */
	/*
	 * A batch sent by redis_write_send() whose replies are not read yet
	 * (flight != NULL), on connection cmd_gen flight_gen.  Any other
	 * command first calls flight_hook (its owner reads them), so no
	 * command ever takes another one's reply.
	 */
	struct redis_write *flight;
	size_t nflight;
	unsigned flight_gen;
	int flight_rc;    /* what reading its replies returned */
	void (*flight_hook)(void *arg);
	void *flight_arg;
	char *addr;      /* as configured, for logs */
	char *host;      /* TCP host (Sentinel mode: the master), or NULL */
	int port;
	/* Sentinel mode: master_name != NULL */
	char *master_name;
	struct sentinel_addr *sentinels;
	size_t nsentinels;
	size_t sentinel_next; /* asked first: the last one that answered */
	size_t watch_next;    /* where the watch subscribes next */
	char *sentinel_user;
	char *sentinel_password; /* wiped on free */
	int resolve;             /* ask the Sentinels before reconnecting */
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

/* ---- redis.c: helpers ------------------------------------------------ */
/* r->err, made safe for reason="..." log fields. */
void rd_set_err(struct redis *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int rd_parse_u64(const char *s, size_t len, uint64_t *out);
int rd_key_valid(const char *key);
int rd_owner_valid(const char *owner);
size_t rd_fmt_num(char *buf, uint64_t v); /* into NUMLEN bytes */

/* ---- redis.c: connection --------------------------------------------- */
void rd_drop_context(struct conn *cn);
int rd_lost(struct redis *r, struct conn *cn);
int rd_conn_lost(struct redis *r);
void rd_conn_up(struct redis *r, struct conn *cn);
int rd_failed_io(struct redis *r, struct conn *cn, const char *op);
int rd_io_failed(struct redis *r, const char *op);
void rd_server_error(struct redis *r, const char *op, const redisReply *rep);
int rd_bad_reply(struct redis *r, const char *op, const redisReply *rep);
int rd_open_context(struct redis *r, struct conn *cn);
int rd_open_context_at(struct redis *r, struct conn *cn, const char *host,
    int port);
int rd_parse_hostport(const char *addr, int defport, char **host, int *port);
int rd_is_ok(const redisReply *rep);
/* Move a string reply's bytes into blob, no copy (the reply keeps NULL). */
int rd_take_str(redisReply *s, struct sticky_buf *blob);
/* hiredis's read buffer is kept while it holds at most this much. */
#define READER_KEEP ((size_t)4 << 20)
void rd_append_auth(struct redis *r, struct conn *cn, int *nauth,
    int *nselect);
int rd_read_auth(struct redis *r, struct conn *cn, int nauth, int nselect);
int64_t rd_backoff_left(const struct conn *cn);
/* A batch in flight: its owner reads its replies first (redis_write.c). */
void rd_land_flight(struct redis *r);
int rd_command(struct redis *r, const char *op, int argc, const char **argv,
    const size_t *lens, redisReply **out);

/* ---- redis_sentinel.c ------------------------------------------------ */
int rd_sentinel_parse(struct redis *r, const char *spec);
void rd_sentinel_free(struct redis *r);
int rd_sentinel_resolve(struct redis *r);
void rd_sentinel_watch(struct redis *r);
int rd_read_role(struct redis *r);
int rd_master_gone(const char *code, size_t len);

/* ---- redis_scripts.c ------------------------------------------------- */
/* The Lua text of script id (nothing in redis_scripts.c calls back). */
const char *rd_script_text(enum script_id id);

/* ---- redis.c: scripts ------------------------------------------------ */
int rd_is_noscript(const redisReply *rep);
void rd_append_script_loads(struct redis *r);
int rd_read_script_loads(struct redis *r);
int rd_reload_scripts(struct redis *r);
int rd_eval(struct redis *r, enum script_id id, const char *op, int argc,
    const char **argv, size_t *lens, redisReply **out);

/* ---- redis_ckpt.c: helpers of the session scripts' callers ---- */

/* Lua numbers are doubles: epochs and lengths above 2^53 would not compare. */
#define MAX_LUA_INT ((uint64_t)1 << 53)

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
/* A new string P{K}:<suffix>; the caller has checked rd_key_valid(). */
char *rd_key_make(const struct redis *r, const char *key, const char *suffix,
    size_t *len);
int rd_keys_make(const struct redis *r, const char *key, struct keyset *ks);
void rd_keys_free(struct keyset *ks);
/* The keys from argv[at] on. */
void rd_set_keys(const char **argv, size_t *lens, int at,
    const struct keyset *ks);
/* The integer reply of a script, or STICKY_EREDIS with r->err set. */
int rd_int_reply(struct redis *r, const char *op, redisReply *rep,
    long long *v);

#endif /* STICKY_REDIS_INT_H */
