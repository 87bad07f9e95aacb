/*
 * redis_srv.c: what the unit tests that need a real redis-server share
 * (test_redis.c, test_checkpoint.c): starting one per test (unix socket
 * only, no persistence, in a mkdtemp directory; PR_SET_PDEATHSIG so a
 * crashed test does not leak it) and stopping it by pid, and a small raw
 * RESP client for checks behind the library's back (hiredis stays
 * private to the redis*.c files).
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <criterion/criterion.h>

#include "redis_srv.h"

char dir[64];          /* the test's temp directory */
char sock[96];         /* redis-server's unix socket */
char addr[160];        /* "unix:" sock */
pid_t srv_pid = -1;    /* redis-server, or -1 */
pid_t fake_pid = -1;   /* the fake server, or -1 */
const char *raw_pass;  /* password the raw client sends, or NULL */
char *extra_args[24];  /* more redis-server arguments */

/* ---- processes --------------------------------------------------------- */

void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
unix_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Start redis-server and wait (bounded) until its socket answers. */
void
srv_start(void)
{
	char *argv[48] = { "redis-server", "--port", "0", "--unixsocket",
		sock, "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
		"--dir", dir, "--loglevel", "warning" };
	size_t argc = 15;
	int fd, st;

	/* 15 + at most 23 of extra_args + NULL fit in 48. */
	for (size_t i = 0; i < 24 && extra_args[i] != NULL; i++)
		argv[argc++] = extra_args[i];
	argv[argc] = NULL;
	srv_pid = fork();
	cr_assert_neq(srv_pid, -1);
	if (srv_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((fd = open("/dev/null", O_WRONLY)) != -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execvp("redis-server", argv);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if ((fd = unix_connect(sock)) != -1) {
			close(fd);
			return;
		}
		cr_assert_eq(waitpid(srv_pid, &st, WNOHANG), 0,
		    "redis-server exited at startup");
		sleep_ms(10);
	}
	cr_assert_fail("redis-server did not start");
}

void
reap(pid_t *pid)
{
	int st;

	if (*pid <= 0)
		return;
	kill(*pid, SIGCONT); /* a stopped process would not see SIGTERM */
	kill(*pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(*pid, &st, WNOHANG) != 0) {
			*pid = -1;
			return;
		}
		sleep_ms(10);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &st, 0);
	*pid = -1;
}

void
srv_kill9(void)
{
	int st;

	kill(srv_pid, SIGKILL);
	waitpid(srv_pid, &st, 0);
	srv_pid = -1;
}

void
setup_common(void)
{
	signal(SIGPIPE, SIG_IGN); /* hiredis writes with write(2) */
	snprintf(dir, sizeof(dir), "/tmp/sticky-redis-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	snprintf(addr, sizeof(addr), "unix:%s", sock);
}

void
setup(void)
{
	setup_common();
	srv_start();
}

void
teardown(void)
{
	struct dirent *de;
	char path[400];
	DIR *d;

	reap(&fake_pid);
	reap(&srv_pid);
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", dir,
				    de->d_name);
				unlink(path);
			}
		closedir(d);
	}
	rmdir(dir);
}


/* ---- a raw RESP client, for checks behind the library's back ---------- */

void
rr_free(struct rr *x)
{
	free(x->s);
	x->s = NULL;
}

void
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, c, n);
		cr_assert(w > 0, "raw write: %s", strerror(errno));
		c += w;
		n -= (size_t)w;
	}
}

void
raw_send(int fd, int argc, const char *const *argv, const size_t *lens)
{
	char hdr[64];

	snprintf(hdr, sizeof(hdr), "*%d\r\n", argc);
	write_all(fd, hdr, strlen(hdr));
	for (int i = 0; i < argc; i++) {
		snprintf(hdr, sizeof(hdr), "$%zu\r\n", lens[i]);
		write_all(fd, hdr, strlen(hdr));
		write_all(fd, argv[i], lens[i]);
		write_all(fd, "\r\n", 2);
	}
}

/* One reply; array elements are read and dropped. */
void
raw_read(FILE *f, struct rr *out)
{
	char line[512];
	size_t n;
	struct rr sub;

	memset(out, 0, sizeof(*out));
	cr_assert_not_null(fgets(line, sizeof(line), f), "raw read: EOF");
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	out->type = line[0];
	switch (line[0]) {
	case '+':
	case '-':
		out->s = strdup(line + 1);
		out->len = n - 1;
		break;
	case ':':
		out->i = strtoll(line + 1, NULL, 10);
		break;
	case '$':
		out->i = strtoll(line + 1, NULL, 10);
		if (out->i < 0) {
			out->type = '_';
			break;
		}
		out->len = (size_t)out->i;
		out->s = malloc(out->len + 2);
		cr_assert_eq(fread(out->s, 1, out->len + 2, f), out->len + 2);
		out->s[out->len] = '\0';
		break;
	case '*':
		out->i = strtoll(line + 1, NULL, 10);
		for (long long k = 0; k < out->i; k++) {
			raw_read(f, &sub);
			rr_free(&sub);
		}
		break;
	default:
		cr_assert_fail("raw read: bad reply %s", line);
	}
}

/* Run one command (binary-safe) on a fresh connection. */
struct rr
raw_argv(int argc, const char *const *argv, const size_t *lens)
{
	struct rr out, auth;
	const char *a[2] = { "AUTH", raw_pass };
	size_t l[2] = { 4, raw_pass != NULL ? strlen(raw_pass) : 0 };
	FILE *f;
	int fd;

	cr_assert_neq(fd = unix_connect(sock), -1, "raw connect");
	cr_assert_not_null(f = fdopen(dup(fd), "r"));
	if (raw_pass != NULL) {
		raw_send(fd, 2, a, l);
		raw_read(f, &auth);
		cr_assert_eq(auth.type, '+');
		rr_free(&auth);
	}
	raw_send(fd, argc, argv, lens);
	raw_read(f, &out);
	fclose(f);
	close(fd);
	return out;
}

/* Text arguments, NULL-terminated. */
struct rr
raw(const char *a0, ...)
{
	const char *argv[16];
	size_t lens[16];
	int argc = 0;
	va_list ap;

	va_start(ap, a0);
	for (const char *a = a0; a != NULL && argc < 16; a = va_arg(ap, const char *)) {
		argv[argc] = a;
		lens[argc++] = strlen(a);
	}
	va_end(ap);
	return raw_argv(argc, argv, lens);
}

long long
raw_int(const char *a0, const char *a1, const char *a2)
{
	struct rr x = raw(a0, a1, a2, NULL);

	cr_assert_eq(x.type, ':', "%s: reply type %c (%s)", a0, x.type,
	    x.s != NULL ? x.s : "");
	rr_free(&x);
	return x.i;
}

void
raw_hset(const char *key, const char *field, const char *value)
{
	struct rr x = raw("HSET", key, field, value, NULL);

	cr_assert_eq(x.type, ':', "HSET: %s", x.s != NULL ? x.s : "");
	rr_free(&x);
}

void
raw_ok(const char *a0, const char *a1, const char *a2, const char *a3)
{
	struct rr x = raw(a0, a1, a2, a3, NULL);

	cr_assert_eq(x.type, '+', "%s: %s", a0, x.s != NULL ? x.s : "");
	rr_free(&x);
}

char *
kname(const char *key, const char *suffix)
{
	static char names[4][128];
	static int next;
	char *p = names[next++ % 4];

	snprintf(p, 128, PREFIX "{%.64s}:%.32s", key, suffix);
	return p;
}

/* The raw bytes at P{key}:suffix equal (a, alen) + (b, blen). */
void
assert_value(const char *name, const void *a, size_t alen, const void *b,
    size_t blen)
{
	struct rr x = raw("GET", name, NULL);

	cr_assert_eq(x.type, '$', "GET: no value");
	cr_assert_eq(x.len, alen + blen, "length %zu, want %zu", x.len,
	    alen + blen);
	cr_assert(memcmp(x.s, a, alen) == 0, "header differs");
	cr_assert(blen == 0 || memcmp(x.s + alen, b, blen) == 0,
	    "payload differs");
	rr_free(&x);
}

/* The checkpoint in P{key}:u equals (a, alen) + (b, blen). */
void
assert_ckpt(const char *key, const void *a, size_t alen, const void *b,
    size_t blen)
{
	struct rr x = raw("GETRANGE", kname(key, "u"), "69", "-1", NULL);

	cr_assert_eq(x.type, '$', "GETRANGE: no value");
	cr_assert_eq(x.len, alen + blen, "length %zu, want %zu", x.len,
	    alen + blen);
	cr_assert(memcmp(x.s, a, alen) == 0, "header differs");
	cr_assert(blen == 0 || memcmp(x.s + alen, b, blen) == 0,
	    "payload differs");
	rr_free(&x);
}

/* 1 when P{key}:u holds a checkpoint after its record. */
int
has_ckpt(const char *key)
{
	return raw_int("STRLEN", kname(key, "u"), NULL) > REC_LEN;
}

/* Delete the checkpoint of P{key}:u, keeping its owner record. */
void
cut_ckpt(const char *key)
{
	struct rr x = raw("EVAL", "return redis.call('SET', KEYS[1], "
	    "redis.call('GETRANGE', KEYS[1], 0, 68)).ok", "1", kname(key, "u"),
	    NULL);

	cr_assert_eq(x.type, '$', "EVAL: %s", x.s != NULL ? x.s : "");
	rr_free(&x);
}

/* Overwrite a field of P{key}:u's record: epoch (at 0) or owner (at 20). */
void
set_field(const char *key, int at, const char *v)
{
	char buf[40], off[8];
	struct rr x;

	if (at == 0)
		snprintf(buf, sizeof(buf), "%020llu", strtoull(v, NULL, 10));
	else
		snprintf(buf, sizeof(buf), "%-32s", v);
	snprintf(off, sizeof(off), "%d", at);
	x = raw("SETRANGE", kname(key, "u"), off, buf, NULL);
	cr_assert_eq(x.type, ':');
	rr_free(&x);
}
