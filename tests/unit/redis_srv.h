/*
 * redis_srv.h: a real redis-server per unit test, and a raw RESP client
 * to look at (or change) what it holds behind the library's back.  Used
 * by test_redis.c and test_checkpoint.c (see redis_srv.c).
 */
#ifndef STICKY_TEST_REDIS_SRV_H
#define STICKY_TEST_REDIS_SRV_H

#include <stdio.h>
#include <sys/types.h>

#define PREFIX "t:" /* every test's key prefix */

extern char dir[64];         /* the test's temp directory */
extern char sock[96];        /* redis-server's unix socket */
extern char addr[160];       /* "unix:" sock */
extern pid_t srv_pid;        /* redis-server, or -1 */
extern pid_t fake_pid;       /* a fake server (test_redis.c), or -1 */
extern const char *raw_pass; /* password the raw client sends, or NULL */
extern char *extra_args[24]; /* more redis-server arguments, NULL-ended */

void sleep_ms(int ms);
int unix_connect(const char *path);
/* Start redis-server and wait (bounded) until its socket answers. */
void srv_start(void);
/* SIGCONT, SIGTERM, then SIGKILL after 2 s; *pid = -1. */
void reap(pid_t *pid);
void srv_kill9(void);
/* The temp directory and socket names; setup() starts the server too. */
void setup_common(void);
void setup(void);
/* Stop both servers and remove the directory. */
void teardown(void);

/* ---- the raw RESP client ---- */
struct rr {
	char type;   /* + - : $ * (and '_' for a nil bulk) */
	long long i; /* ':' value, '*' element count */
	char *s;     /* + - $ bytes, malloc'd, NUL-terminated */
	size_t len;
};

void rr_free(struct rr *x);
void write_all(int fd, const void *p, size_t n);
void raw_send(int fd, int argc, const char *const *argv, const size_t *lens);
/* One reply; array elements are read and dropped. */
void raw_read(FILE *f, struct rr *out);
/* Run one command (binary-safe) on a fresh connection. */
struct rr raw_argv(int argc, const char *const *argv, const size_t *lens);
/* Text arguments, NULL-terminated. */
struct rr raw(const char *a0, ...);
long long raw_int(const char *a0, const char *a1, const char *a2);
void raw_hset(const char *key, const char *field, const char *value);
void raw_ok(const char *a0, const char *a1, const char *a2, const char *a3);
/* PREFIX "{key}:suffix" (four rotating buffers). */
char *kname(const char *key, const char *suffix);
/* The raw bytes at name equal (a, alen) + (b, blen). */
void assert_value(const char *name, const void *a, size_t alen, const void *b,
    size_t blen);

/*
 * A session's one key, P{key}:u: the owner record (REC_LEN bytes, laid
 * out as redis_scripts.c says: 20-digit epoch, owner padded with spaces to
 * 32, MAC length, MAC padded with NULs to 16), then the checkpoint.
 */
#define REC_LEN 69
/* The checkpoint in P{key}:u equals (a, alen) + (b, blen). */
void assert_ckpt(const char *key, const void *a, size_t alen, const void *b,
    size_t blen);
/* 1 when P{key}:u holds a checkpoint after its record. */
int has_ckpt(const char *key);
/* Delete the checkpoint of P{key}:u, keeping its owner record. */
void cut_ckpt(const char *key);
/* Overwrite a field of P{key}:u's record: epoch (at 0) or owner (at 20). */
void set_field(const char *key, int at, const char *v);

#endif /* STICKY_TEST_REDIS_SRV_H */
