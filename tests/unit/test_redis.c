/*
 * test_redis.c: the checkpoint store (redis*.c) against a real redis-server.
 *
 * Limits: every test starts its own redis-server (redis_srv.c: unix socket
 * only, no persistence, in a mkdtemp directory) and kills it by pid in
 * fini; the server gets PR_SET_PDEATHSIG so a crashed test does not leak
 * it, but then its directory stays behind in /tmp.  One test uses TCP on a port
 * found by binding port 0 first, which can race with another process.
 * Timing checks (timeouts, backoff) allow wide margins and only bound them
 * from above by 1 s, so they hold under valgrind.  Checks of the raw
 * keyspace (TTL, EXISTS, DBSIZE, SCRIPT FLUSH) go through the small RESP
 * client of redis_srv.c, not hiredis: the redis*.c files stay its only
 * users.  Wrong-typed replies come from a fake server (a forked child
 * speaking canned RESP).
 * Run under valgrind with --trace-children=yes
 * --trace-children-skip='*redis-server*' --child-silent-after-fork=yes
 * (the fake servers are forks killed by SIGTERM: their leak reports are
 * noise) and --log-file: Criterion ignores a passed test's exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <criterion/criterion.h>

#include <sticky/sticky.h>
#include "envelope.h"
#include "redis.h"
#include "redis_int.h"
#include "redis_srv.h"

#define PASS "s3cret-pw"
#define ACL_USER "stk"
#define ACL_PASS "acl-pw"
#define ACL_SUB "sub" /* ACL_USER with the channel */
#define ACL_NORENAME "nrn" /* ACL_USER without RENAME */
#define MAX_TEST_KEY 520

static void
setup_auth(void)
{
	static char *a[] = { "--requirepass", PASS, "--user",
		ACL_USER, "on", ">" ACL_PASS, "~" PREFIX "*", "+@all",
		"--user", ACL_SUB, "on", ">" ACL_PASS, "~" PREFIX "*",
		"&" PREFIX "takeover", "+@all",
		"--user", ACL_NORENAME, "on", ">" ACL_PASS, "~" PREFIX "*",
		"+@all", "-rename", NULL };

	memcpy(extra_args, a, sizeof(a));
	raw_pass = PASS;
	setup_common();
	srv_start();
}

TestSuite(redis, .init = setup, .fini = teardown, .timeout = 30);
TestSuite(redis_auth, .init = setup_auth, .fini = teardown, .timeout = 30);
TestSuite(redis_fake, .init = setup_common, .fini = teardown, .timeout = 30);

/* ---- library helpers --------------------------------------------------- */

static struct redis *
mk_opts(const char *a, const char *user, const char *pass, long ttl,
    int cmd_timeout_ms, int bmin, int bmax)
{
	struct redis_opts o = {
		.addr = a, .user = user, .password = pass, .prefix = PREFIX,
		.ttl_s = ttl, .connect_timeout_ms = 500,
		.command_timeout_ms = cmd_timeout_ms,
		.backoff_min_ms = bmin, .backoff_max_ms = bmax,
	};
	struct redis *r;

	cr_assert_eq(redis_new(&r, &o), 0);
	return r;
}

static struct redis *
mk(long ttl)
{
	return mk_opts(addr, NULL, NULL, ttl, 1000, 50, 2000);
}

/* An envelope header as far as redis_write.c reads it: lengths, plus a tag. */
static void
mkhdr(unsigned char h[ENV_HDR_LEN], uint64_t epoch, size_t len, int tag)
{
	memset(h, 0, ENV_HDR_LEN);
	memcpy(h, ENV_MAGIC, 4);
	h[4] = ENV_FORMAT;
	h[7] = ENV_HDR_LEN;
	for (int i = 0; i < 8; i++) {
		h[16 + i] = (unsigned char)(epoch >> (56 - 8 * i));
		h[32 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	h[40] = (unsigned char)tag;
	h[44] = (unsigned char)(tag >> 8);
}

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

/*
 * The owner put() and put_again() write as: each epoch has one owner, and
 * a write by another at the record's epoch is fenced.  Tests that take a
 * session over as another worker set it; every test starts with "w1".
 */
static const char *writer = "w1";

static int
put(struct redis *r, const char *key, uint64_t epoch, const unsigned char *hdr,
    const unsigned char *prev, const unsigned char *p, size_t n,
    const struct delta_run *runs, size_t nruns)
{
	struct redis_write w = {
		.key = key, .owner = writer, .epoch = epoch, .hdr = hdr,
		.prev_hdr = prev, .payload = p, .payload_len = n, .runs = runs,
		.nruns = nruns, .result = 12345, .fresh = 1,
	};
	int rc;

	rc = redis_write_batch(r, &w, 1);
	cr_assert(rc == 0 || w.result != 0, "rc %d but result 0", rc);
	return rc != 0 ? rc : w.result;
}

static int64_t
elapsed_ms(int64_t t0)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0;
}

static int64_t
mono_ms(void)
{
	return elapsed_ms(0);
}

/* Takeover announcements, as a callback sees them. */
struct ann {
	char key[MAX_TEST_KEY];
	char owner[72];
	uint64_t epoch;
};

/* What the callback saw. */
struct anns {
	struct ann a[256];
	size_t n;
	size_t overflow;
	int backlogs;
};

static void
collect(const char *key, uint64_t epoch, const char *owner, void *arg)
{
	struct anns *x = arg;

	if (x->n == sizeof(x->a) / sizeof(x->a[0])) {
		x->overflow++;
		return;
	}
	snprintf(x->a[x->n].key, sizeof(x->a[0].key), "%s", key);
	snprintf(x->a[x->n].owner, sizeof(x->a[0].owner), "%s", owner);
	x->a[x->n].epoch = epoch;
	x->n++;
}

/* Open the subscription and read what open may have buffered already. */
static void
sub_open(struct redis *r, struct anns *x)
{
	cr_assert_eq(redis_sub_open(r), 0, "%s", redis_errstr(r));
	cr_assert_geq(redis_sub_fd(r), 0);
	cr_assert_eq(redis_sub_read(r, collect, x), 0);
}

/*
 * Poll and read until x holds `want` announcements or ms passed; returns
 * how many redis_sub_read() calls that took; x->backlogs counts the calls
 * that returned 1 (several reads were needed).
 */
static int
sub_wait(struct redis *r, struct anns *x, size_t want, int ms)
{
	int64_t t0 = mono_ms();
	struct pollfd pfd;
	int calls = 0, left, rc;

	while (x->n < want && (left = ms - (int)elapsed_ms(t0)) > 0) {
		pfd.fd = redis_sub_fd(r);
		pfd.events = POLLIN;
		cr_assert_geq(pfd.fd, 0);
		if (poll(&pfd, 1, left) <= 0)
			continue;
		rc = redis_sub_read(r, collect, x);
		cr_assert(rc == 0 || rc == 1, "%d: %s", rc, redis_errstr(r));
		x->backlogs += rc;
		calls++;
	}
	return calls;
}

/* A session with a checkpoint, owned by "w1" at epoch 1. */
static void
seed(struct redis *r, const char *key)
{
	unsigned char h[ENV_HDR_LEN], p[32];
	uint64_t e;

	fill(p, sizeof(p), 21);
	mkhdr(h, 1, sizeof(p), 1);
	cr_assert_eq(redis_claim(r, key, "w1", &e), 0, "%s", redis_errstr(r));
	cr_assert_eq(put(r, key, 1, h, NULL, p, sizeof(p), NULL, 0), 0);
}

static void
assert_ann(const struct anns *x, size_t i, const char *key, uint64_t epoch,
    const char *owner)
{
	cr_assert_gt(x->n, i, "announcement %zu missing", i);
	cr_assert_str_eq(x->a[i].key, key, "announcement %zu", i);
	cr_assert_eq(x->a[i].epoch, epoch, "announcement %zu: epoch %llu", i,
	    (unsigned long long)x->a[i].epoch);
	cr_assert_str_eq(x->a[i].owner, owner, "announcement %zu", i);
}

/* ---- the tests ------------------------------------------------------- */

Test(redis, claim_write_full_read_back)
{
	struct redis *r = mk(0);
	unsigned char hdr[ENV_HDR_LEN], p[10000];
	struct sticky_buf b;
	uint64_t e = 0;
	char owner[16];

	fill(p, sizeof(p), 1);
	mkhdr(hdr, 1, sizeof(p), 1);
	cr_assert_eq(redis_claim(r, "k1", "w1", &e), 0);
	cr_assert_eq(e, 1);
	cr_assert_eq(redis_claim(r, "k1", "w2", &e), STICKY_EFENCED);
	cr_assert_eq(redis_owner(r, "k1", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 1);
	cr_assert_str_eq(owner, "w1");
	cr_assert_eq(redis_owner(r, "k1", &e, owner, 2), STICKY_EINVAL);
	cr_assert_eq(redis_owner(r, "nope", &e, owner, sizeof(owner)),
	    STICKY_ENOENT);
	cr_assert_eq(put(r, "k1", 1, hdr, NULL, p, sizeof(p), NULL, 0), 0);
	assert_ckpt("k1", hdr, sizeof(hdr), p, sizeof(p));
	buf_init(&b);
	cr_assert_eq(redis_get(r, "k1", &b), 0);
	cr_assert_eq(b.len, ENV_HDR_LEN + sizeof(p));
	cr_assert(memcmp(b.data, hdr, ENV_HDR_LEN) == 0);
	cr_assert(memcmp(b.data + ENV_HDR_LEN, p, sizeof(p)) == 0);
	cr_assert_eq(redis_get(r, "nope", &b), STICKY_ENOENT);
	buf_cleanup(&b);
	/* A full write may shrink: the old tail must not survive. */
	mkhdr(hdr, 1, 100, 2);
	cr_assert_eq(put(r, "k1", 1, hdr, NULL, p + 7, 100, NULL, 0), 0);
	assert_ckpt("k1", hdr, sizeof(hdr), p + 7, 100);
	/* And an empty payload is a header alone. */
	mkhdr(hdr, 1, 0, 3);
	cr_assert_eq(put(r, "k1", 1, hdr, NULL, NULL, 0, NULL, 0), 0);
	assert_ckpt("k1", hdr, sizeof(hdr), NULL, 0);
	redis_free(r);
}

Test(redis, binary_payload_with_nul_round_trips)
{
	struct redis *r = mk(0);
	unsigned char hdr[ENV_HDR_LEN], p[300], prev[ENV_HDR_LEN];
	struct delta_run run = { 0, 300 };
	struct sticky_buf b;
	uint64_t e;

	for (size_t i = 0; i < sizeof(p); i++)
		p[i] = (unsigned char)(i % 3 == 0 ? 0 : i); /* NULs, \r, \n */
	mkhdr(hdr, 1, sizeof(p), 0); /* NULs in the header too */
	cr_assert_eq(redis_claim(r, "bin", "w1", &e), 0);
	cr_assert_eq(put(r, "bin", 1, hdr, NULL, p, sizeof(p), NULL, 0), 0);
	assert_ckpt("bin", hdr, sizeof(hdr), p, sizeof(p));
	/* Delta runs are binary too. */
	memcpy(prev, hdr, sizeof(hdr));
	for (size_t i = 0; i < sizeof(p); i++)
		p[i] = (unsigned char)(i % 2 == 0 ? 0 : 0xff - i);
	mkhdr(hdr, 1, sizeof(p), 0x100);
	cr_assert_eq(put(r, "bin", 1, hdr, prev, p, sizeof(p), &run, 1), 0);
	buf_init(&b);
	cr_assert_eq(redis_takeover(r, "bin", "w2", &e, &b, NULL, NULL), 0);
	cr_assert_eq(b.len, ENV_HDR_LEN + sizeof(p));
	cr_assert(memcmp(b.data, hdr, ENV_HDR_LEN) == 0);
	cr_assert(memcmp(b.data + ENV_HDR_LEN, p, sizeof(p)) == 0);
	buf_cleanup(&b);
	redis_free(r);
}

Test(redis, delta_writes_only_the_runs)
{
	struct redis *r = mk(0);
	unsigned char h1[ENV_HDR_LEN], h2[ENV_HDR_LEN];
	static unsigned char old[3 * 4096], cur[4 * 4096], want[4 * 4096];
	struct delta_run runs[2] = { { 4096, 4096 }, { 12288, 4096 } };
	uint64_t e;

	fill(old, sizeof(old), 7);
	mkhdr(h1, 1, sizeof(old), 1);
	cr_assert_eq(redis_claim(r, "d", "w1", &e), 0);
	cr_assert_eq(put(r, "d", 1, h1, NULL, old, sizeof(old), NULL, 0), 0);
	/* cur differs from old in pages 0, 1 and 2 and grows by page 3 ... */
	fill(cur, sizeof(cur), 8);
	mkhdr(h2, 1, sizeof(cur), 2);
	/* ... but only pages 1 and 3 are sent: 0 and 2 must stay old. */
	memcpy(want, old, sizeof(old));
	memcpy(want + 4096, cur + 4096, 4096);
	memcpy(want + 12288, cur + 12288, 4096);
	cr_assert_eq(put(r, "d", 1, h2, h1, cur, sizeof(cur), runs, 2), 0);
	assert_ckpt("d", h2, sizeof(h2), want, sizeof(want));
	/* No runs: only the header changes. */
	mkhdr(h1, 1, sizeof(cur), 3);
	cr_assert_eq(put(r, "d", 1, h1, h2, cur, sizeof(cur), NULL, 0), 0);
	assert_ckpt("d", h1, sizeof(h1), want, sizeof(want));
	redis_free(r);
}

Test(redis, delta_refused_when_redis_holds_another_header)
{
	struct redis *r = mk(0);
	unsigned char h1[ENV_HDR_LEN], h2[ENV_HDR_LEN], other[ENV_HDR_LEN];
	unsigned char p[8192], q[8192];
	struct delta_run run = { 0, 4096 };
	uint64_t e;

	fill(p, sizeof(p), 1);
	fill(q, sizeof(q), 2);
	mkhdr(h1, 1, sizeof(p), 1);
	mkhdr(h2, 1, sizeof(q), 2);
	mkhdr(other, 1, sizeof(p), 9); /* same lengths, other contents */
	cr_assert_eq(redis_claim(r, "d", "w1", &e), 0);
	cr_assert_eq(put(r, "d", 1, h1, NULL, p, sizeof(p), NULL, 0), 0);
	cr_assert_eq(put(r, "d", 1, h2, other, q, sizeof(q), &run, 1),
	    REDIS_DELTA_REFUSED);
	assert_ckpt("d", h1, sizeof(h1), p, sizeof(p));
	/* The right header but Redis holds more bytes than it says. */
	cr_assert_eq(raw_int("APPEND", kname("d", "u"), "x"),
	    REC_LEN + ENV_HDR_LEN + sizeof(p) + 1);
	cr_assert_eq(put(r, "d", 1, h2, h1, q, sizeof(q), &run, 1),
	    REDIS_DELTA_REFUSED);
	/* A full write resyncs, and the delta works again. */
	cr_assert_eq(put(r, "d", 1, h1, NULL, p, sizeof(p), NULL, 0), 0);
	cr_assert_eq(put(r, "d", 1, h2, h1, q, sizeof(q),
	    (struct delta_run[]){ { 0, 8192 } }, 1), 0);
	assert_ckpt("d", h2, sizeof(h2), q, sizeof(q));
	redis_free(r);
}

Test(redis, delta_refused_when_key_or_record_missing)
{
	struct redis *r = mk(0);
	unsigned char h1[ENV_HDR_LEN], h2[ENV_HDR_LEN], p[4096];
	struct delta_run run = { 0, 4096 };
	char owner[16];
	uint64_t e;

	fill(p, sizeof(p), 3);
	mkhdr(h1, 5, sizeof(p), 1);
	mkhdr(h2, 5, sizeof(p), 2);
	/* Owner record, no checkpoint. */
	cr_assert_eq(redis_claim(r, "m", "w1", &e), 0);
	cr_assert_eq(put(r, "m", 1, h2, h1, p, sizeof(p), &run, 1),
	    REDIS_DELTA_REFUSED);
	cr_assert_eq(has_ckpt("m"), 0);
	/* Neither (Redis lost its data): a delta creates nothing ... */
	cr_assert_eq(put(r, "gone", 5, h2, h1, p, sizeof(p), &run, 1),
	    REDIS_DELTA_REFUSED);
	cr_assert_eq(raw_int("DBSIZE", NULL, NULL), 1);
	/* ... and a full write recreates the record with the writer's epoch. */
	cr_assert_eq(put(r, "gone", 5, h1, NULL, p, sizeof(p), NULL, 0), 0);
	cr_assert_eq(redis_owner(r, "gone", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 5);
	cr_assert_str_eq(owner, "w1");
	assert_ckpt("gone", h1, sizeof(h1), p, sizeof(p));
	redis_free(r);
}

/*
 * The write script's fast path for deltas applies only to a well-formed
 * record of the writer's epoch: a blank owner, a MAC length out of range
 * or a newer epoch go to the whole logic (refused, refused, fenced), and
 * Redis's bytes stay as they were.
 */
Test(redis, delta_fast_path_only_for_a_sound_record_of_the_same_epoch)
{
	struct redis *r = mk(0);
	unsigned char h1[ENV_HDR_LEN], h2[ENV_HDR_LEN], p[8192], q[8192];
	struct delta_run run = { 0, 4096 };
	char blank[33];
	struct sticky_buf b;
	struct rr x;
	uint64_t e;

	fill(p, sizeof(p), 4);
	fill(q, sizeof(q), 5);
	mkhdr(h1, 1, sizeof(p), 1);
	mkhdr(h2, 1, sizeof(q), 2);
	cr_assert_eq(redis_claim(r, "f", "w1", &e), 0);
	cr_assert_eq(put(r, "f", 1, h1, NULL, p, sizeof(p), NULL, 0), 0);

	/* The owner field blanked: no record, so a delta is refused. */
	memset(blank, ' ', 32);
	blank[32] = '\0';
	x = raw("SETRANGE", kname("f", "u"), "20", blank, NULL);
	cr_assert_eq(x.type, ':');
	rr_free(&x);
	cr_assert_eq(put(r, "f", 1, h2, h1, q, sizeof(q), &run, 1),
	    REDIS_DELTA_REFUSED);
	x = raw("SETRANGE", kname("f", "u"), "20", "w1", NULL);
	rr_free(&x);
	assert_ckpt("f", h1, sizeof(h1), p, sizeof(p));

	/* A MAC length past 16: the same. */
	x = raw("SETRANGE", kname("f", "u"), "52", "\x7f", NULL);
	rr_free(&x);
	cr_assert_eq(put(r, "f", 1, h2, h1, q, sizeof(q), &run, 1),
	    REDIS_DELTA_REFUSED);
	x = raw("SETRANGE", kname("f", "u"), "52", "\x01", NULL);
	rr_free(&x);

	/* Sound again (MAC length 1 is in range): the delta applies. */
	cr_assert_eq(put(r, "f", 1, h2, h1, q, sizeof(q), &run, 1), 0);

	/* Another worker took it over: the old epoch's delta is fenced. */
	buf_init(&b);
	cr_assert_eq(redis_takeover(r, "f", "w2", &e, &b, NULL, NULL), 0);
	cr_assert_eq(e, 2);
	buf_cleanup(&b);
	cr_assert_eq(put(r, "f", 1, h1, h2, p, sizeof(p), &run, 1),
	    STICKY_EFENCED);
	redis_free(r);
}

static void assert_ttl(const char *name, long long lo, long long hi);

/*
 * Full writes of 64 KiB and more go through a staging key renamed into
 * place by the script: the checkpoint and its TTL come out the same, and
 * no staging key is left behind, written or fenced.
 */
Test(redis, big_full_writes_are_staged_and_leave_nothing_behind)
{
	struct redis *r = mk(100);
	static unsigned char p[256 * 1024], q[256 * 1024];
	unsigned char h1[ENV_HDR_LEN], h2[ENV_HDR_LEN];
	struct sticky_buf b;
	char owner[16];
	uint64_t e;

	fill(p, sizeof(p), 21);
	fill(q, sizeof(q), 22);
	mkhdr(h1, 1, sizeof(p), 1);
	mkhdr(h2, 1, sizeof(q), 2);
	cr_assert_eq(redis_claim(r, "big", "w1", &e), 0);
	cr_assert_eq(put(r, "big", 1, h1, NULL, p, sizeof(p), NULL, 0), 0,
	    "%s", redis_errstr(r));
	assert_ckpt("big", h1, sizeof(h1), p, sizeof(p));
	assert_ttl(kname("big", "u"), 1, 100);
	cr_assert_eq(raw_int("EXISTS", kname("big", "w:w1"), NULL), 0);
	cr_assert_eq(redis_owner(r, "big", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 1);
	cr_assert_str_eq(owner, "w1");
	/* A delta on top of it, then a small full write (inline) shrinks it. */
	cr_assert_eq(put(r, "big", 1, h2, h1, q, sizeof(q),
	    (struct delta_run[]){ { 4096, 4096 } }, 1), 0);
	mkhdr(h1, 1, 100, 3);
	cr_assert_eq(put(r, "big", 1, h1, NULL, q, 100, NULL, 0), 0);
	assert_ckpt("big", h1, sizeof(h1), q, 100);
	/* Fenced: nothing written, the staging key gone too. */
	buf_init(&b);
	cr_assert_eq(redis_takeover(r, "big", "w2", &e, &b, NULL, NULL), 0);
	buf_cleanup(&b);
	mkhdr(h2, 1, sizeof(q), 4);
	cr_assert_eq(put(r, "big", 1, h2, NULL, q, sizeof(q), NULL, 0),
	    STICKY_EFENCED);
	assert_ckpt("big", h1, sizeof(h1), q, 100);
	cr_assert_eq(raw_int("EXISTS", kname("big", "w:w1"), NULL), 0);
	/* Redis lost it: re-created by the staged write. */
	cr_assert_eq(raw_int("DEL", kname("big", "u"), NULL), 1);
	cr_assert_eq(put(r, "big", 3, h2, NULL, q, sizeof(q), NULL, 0), 0);
	assert_ckpt("big", h2, sizeof(h2), q, sizeof(q));
	cr_assert_eq(redis_owner(r, "big", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 3);
	cr_assert_eq(raw_int("EXISTS", kname("big", "w:w1"), NULL), 0);
	redis_free(r);
}

/*
 * A staged value that is not the one the script was told of (stale, from
 * a write whose script never ran) is never renamed into place.
 */
Test(redis, a_stale_staging_key_is_not_taken_for_the_write)
{
	struct redis *r = mk(100);
	static unsigned char p[128 * 1024];
	unsigned char h[ENV_HDR_LEN];
	struct rr x;
	uint64_t e;

	fill(p, sizeof(p), 23);
	mkhdr(h, 1, sizeof(p), 1);
	cr_assert_eq(redis_claim(r, "st", "w1", &e), 0);
	cr_assert_eq(put(r, "st", 1, h, NULL, p, sizeof(p), NULL, 0), 0);
	/* The script itself, told of a nonce the staged value lacks. */
	x = raw("SET", kname("st", "w:w1"), "garbage", NULL);
	rr_free(&x);
	{
		const char *a[18] = { "EVAL", rd_script_text(SCR_WRITE), "4",
			kname("st", "u"), kname("st", "s"), kname("st", "o"),
			kname("st", "w:w1"), "1", "100", "w1", "full", "", "",
			"7", "", "st", "chan", "nonce-1" };
		size_t l[18];

		for (int i = 0; i < 18; i++)
			l[i] = strlen(a[i]);
		x = raw_argv(18, a, l);
	}
	cr_assert_eq(x.type, ':', "%s", x.s != NULL ? x.s : "");
	cr_assert_eq(x.i, -3);
	rr_free(&x);
	cr_assert_eq(raw_int("EXISTS", kname("st", "w:w1"), NULL), 0);
	assert_ckpt("st", h, sizeof(h), p, sizeof(p));
	redis_free(r);
}

Test(redis, bad_writes_rejected_before_sending)
{
	struct redis *r = mk(0);
	unsigned char h1[ENV_HDR_LEN], h2[ENV_HDR_LEN], hs[ENV_HDR_LEN];
	static unsigned char p[3 * 4096];
	uint64_t e;

	fill(p, sizeof(p), 4);
	mkhdr(h1, 1, 4096, 1);
	mkhdr(h2, 1, sizeof(p), 2);
	mkhdr(hs, 1, 100, 3);
	cr_assert_eq(redis_claim(r, "v", "w1", &e), 0);
	cr_assert_eq(put(r, "v", 1, h1, NULL, p, 4096, NULL, 0), 0);
	/* The header's lengths disagree with the payload. */
	cr_assert_eq(put(r, "v", 1, h1, NULL, p, 4095, NULL, 0), STICKY_EINVAL);
	/* Growth not covered: page 1 would be a zero-filled gap. */
	cr_assert_eq(put(r, "v", 1, h2, h1, p, sizeof(p),
	    (struct delta_run[]){ { 8192, 4096 } }, 1), STICKY_EINVAL);
	/* Growth not covered: the runs stop short of the new end. */
	cr_assert_eq(put(r, "v", 1, h2, h1, p, sizeof(p),
	    (struct delta_run[]){ { 4096, 4096 } }, 1), STICKY_EINVAL);
	/* Past the end, unsorted, empty. */
	cr_assert_eq(put(r, "v", 1, h2, h1, p, sizeof(p),
	    (struct delta_run[]){ { 4096, 8193 } }, 1), STICKY_EINVAL);
	cr_assert_eq(put(r, "v", 1, h2, h1, p, sizeof(p),
	    (struct delta_run[]){ { 8192, 4096 }, { 4096, 4096 } }, 2),
	    STICKY_EINVAL);
	cr_assert_eq(put(r, "v", 1, h2, h1, p, sizeof(p),
	    (struct delta_run[]){ { 4096, 0 }, { 4096, 8192 } }, 2),
	    STICKY_EINVAL);
	cr_assert_eq(put(r, "v", 1, h2, h1, p, sizeof(p), NULL, 1),
	    STICKY_EINVAL);
	/* A delta cannot shrink: write in full. */
	cr_assert_eq(put(r, "v", 1, hs, h1, p, 100, NULL, 0), REDIS_DELTA_REFUSED);
	/* Bad keys, owners, epochs. */
	cr_assert_eq(put(r, "a{b", 1, h1, NULL, p, 4096, NULL, 0), STICKY_EINVAL);
	cr_assert_eq(put(r, "", 1, h1, NULL, p, 4096, NULL, 0), STICKY_EINVAL);
	cr_assert_eq(put(r, "v", 0, h1, NULL, p, 4096, NULL, 0), STICKY_EINVAL);
	/* Nothing reached Redis. */
	assert_ckpt("v", h1, sizeof(h1), p, 4096);
	cr_assert_eq(redis_claim(r, "x}", "w1", &e), STICKY_EINVAL);
	cr_assert_eq(redis_claim(r, "x", "-", &e), STICKY_EINVAL);
	/* Owners go into announcements and the record: no spaces, at most
	 * 32 bytes. */
	cr_assert_eq(redis_claim(r, "x", "", &e), STICKY_EINVAL);
	cr_assert_eq(redis_claim(r, "x", "w 1", &e), STICKY_EINVAL);
	cr_assert_eq(redis_claim(r, "x", "w\n", &e), STICKY_EINVAL);
	cr_assert_eq(redis_claim(r, "x", "o2345678901234567890123456789012"
	    "3", &e), STICKY_EINVAL);
	cr_assert_eq(redis_drop(r, "v", 0), STICKY_EINVAL);
	cr_assert_eq(raw_int("DBSIZE", NULL, NULL), 1);
	cr_assert_eq(redis_claim(r, "x", "o2345678901234567890123456789012",
	    &e), 0);
	redis_free(r);
}

Test(redis, takeover_fences_the_old_epoch)
{
	struct redis *r = mk(0);
	unsigned char h1[ENV_HDR_LEN], h2[ENV_HDR_LEN], p[5000], q[5000];
	struct sticky_buf b;
	char owner[16];
	uint64_t e;

	fill(p, sizeof(p), 5);
	fill(q, sizeof(q), 6);
	mkhdr(h1, 1, sizeof(p), 1);
	mkhdr(h2, 2, sizeof(q), 2);
	cr_assert_eq(redis_claim(r, "t", "w1", &e), 0);
	cr_assert_eq(put(r, "t", 1, h1, NULL, p, sizeof(p), NULL, 0), 0);
	buf_init(&b);
	cr_assert_eq(redis_takeover(r, "t", "w2", &e, &b, NULL, NULL), 0);
	cr_assert_eq(e, 2);
	cr_assert_eq(b.len, ENV_HDR_LEN + sizeof(p));
	cr_assert(memcmp(b.data, h1, ENV_HDR_LEN) == 0);
	cr_assert(memcmp(b.data + ENV_HDR_LEN, p, sizeof(p)) == 0);
	cr_assert_eq(redis_owner(r, "t", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 2);
	cr_assert_str_eq(owner, "w2");
	/* The old owner is fenced, full or delta; nothing changes. */
	cr_assert_eq(put(r, "t", 1, h2, NULL, q, sizeof(q), NULL, 0),
	    STICKY_EFENCED);
	cr_assert_eq(put(r, "t", 1, h2, h1, q, sizeof(q),
	    (struct delta_run[]){ { 0, 5000 } }, 1), STICKY_EFENCED);
	assert_ckpt("t", h1, sizeof(h1), p, sizeof(p));
	/* The new one writes. */
	writer = "w2";
	cr_assert_eq(put(r, "t", 2, h2, NULL, q, sizeof(q), NULL, 0), 0);
	assert_ckpt("t", h2, sizeof(h2), q, sizeof(q));
	/* Multi-digit epochs: 9 -> 10 by takeover, then fenced and written. */
	set_field("t", 0, "9");
	cr_assert_eq(redis_takeover(r, "t", "w3", &e, &b, NULL, NULL), 0);
	cr_assert_eq(e, 10);
	cr_assert_eq(put(r, "t", 9, h2, NULL, q, sizeof(q), NULL, 0),
	    STICKY_EFENCED);
	writer = "w3";
	cr_assert_eq(put(r, "t", 10, h2, NULL, q, sizeof(q), NULL, 0), 0);
	buf_cleanup(&b);
	redis_free(r);
}

Test(redis, takeover_of_missing_or_logged_out_is_enoent)
{
	struct redis *r = mk(0);
	unsigned char h[ENV_HDR_LEN], p[10];
	struct sticky_buf b;
	char owner[16];
	uint64_t e = 77;

	buf_init(&b);
	fill(p, sizeof(p), 9);
	mkhdr(h, 1, sizeof(p), 1);
	cr_assert_eq(redis_takeover(r, "none", "w1", &e, &b, NULL, NULL), STICKY_ENOENT);
	cr_assert_eq(raw_int("DBSIZE", NULL, NULL), 0);
	cr_assert_eq(e, 0, "nothing there: epoch 0");
	/* Claimed but never written. */
	cr_assert_eq(redis_claim(r, "c", "w1", &e), 0);
	cr_assert_eq(redis_takeover(r, "c", "w2", &e, &b, NULL, NULL), STICKY_ENOENT);
	cr_assert_eq(redis_owner(r, "c", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 1);
	cr_assert_str_eq(owner, "w1");
	cr_assert_eq(has_ckpt("c"), 0);
	/* Logged out: the tombstone wins even if a checkpoint reappears. */
	cr_assert_eq(put(r, "c", 1, h, NULL, p, sizeof(p), NULL, 0), 0);
	cr_assert_eq(redis_drop(r, "c", 1), 0);
	cr_assert_eq(redis_takeover(r, "c", "w2", &e, &b, NULL, NULL), STICKY_ENOENT);
	cr_assert_eq(e, 1, "logged out: epoch 1");
	raw_ok("SET", kname("c", "s"), "junk", NULL);
	raw_int("APPEND", kname("c", "u"), "junk");
	cr_assert_eq(redis_takeover(r, "c", "w2", &e, &b, NULL, NULL), STICKY_ENOENT);
	cr_assert_eq(redis_owner(r, "c", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 2);
	cr_assert_str_eq(owner, "-");
	cr_assert_eq(b.len, 0);
	buf_cleanup(&b);
	redis_free(r);
}

Test(redis, drop_with_right_and_wrong_epoch)
{
	struct redis *r = mk(0);
	unsigned char h[ENV_HDR_LEN], p[64];
	char owner[16];
	uint64_t e;

	fill(p, sizeof(p), 10);
	mkhdr(h, 1, sizeof(p), 1);
	cr_assert_eq(redis_claim(r, "x", "w1", &e), 0);
	cr_assert_eq(put(r, "x", 1, h, NULL, p, sizeof(p), NULL, 0), 0);
	cr_assert_eq(redis_drop(r, "x", 2), STICKY_EFENCED);
	assert_ckpt("x", h, sizeof(h), p, sizeof(p));
	cr_assert_eq(redis_drop(r, "x", 1), 0);
	cr_assert_eq(has_ckpt("x"), 0);
	cr_assert_eq(redis_owner(r, "x", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 2);
	cr_assert_str_eq(owner, "-");
	/* The tombstone fences every later use of the session key. */
	cr_assert_eq(redis_claim(r, "x", "w2", &e), STICKY_EFENCED);
	cr_assert_eq(put(r, "x", 1, h, NULL, p, sizeof(p), NULL, 0),
	    STICKY_EFENCED);
	cr_assert_eq(redis_drop(r, "x", 1), STICKY_EFENCED);
	/* No owner record (evicted): logout still takes effect. */
	cr_assert_eq(redis_drop(r, "z", 4), 0);
	cr_assert_eq(has_ckpt("z"), 0);
	cr_assert_eq(redis_owner(r, "z", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 5);
	cr_assert_str_eq(owner, "-");
	/* Nor a checkpoint of the two-key layout without its owner hash. */
	raw_ok("SET", kname("y", "s"), "orphan", NULL);
	cr_assert_eq(redis_drop(r, "y", 4), 0);
	cr_assert_eq(has_ckpt("y"), 0);
	cr_assert_eq(raw_int("EXISTS", kname("y", "s"), NULL), 0);
	cr_assert_eq(redis_owner(r, "y", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 5);
	cr_assert_str_eq(owner, "-");
	redis_free(r);
}

Test(redis, set_aside_keeps_the_bytes)
{
	struct redis *r = mk(60);
	unsigned char h[ENV_HDR_LEN], p[1000];
	char bad[128];
	struct rr x;
	time_t t0, t1;
	uint64_t e;
	long long ttl;
	int found = 0;

	fill(p, sizeof(p), 11);
	p[10] = 0;
	mkhdr(h, 1, sizeof(p), 1);
	cr_assert_eq(redis_claim(r, "b", "w1", &e), 0);
	cr_assert_eq(put(r, "b", 1, h, NULL, p, sizeof(p), NULL, 0), 0);
	t0 = time(NULL);
	cr_assert_eq(redis_set_aside(r, "b"), 0);
	t1 = time(NULL);
	cr_assert_eq(has_ckpt("b"), 0);
	for (time_t t = t0; t <= t1; t++) {
		snprintf(bad, sizeof(bad), PREFIX "{b}:bad:%lld", (long long)t);
		x = raw("EXISTS", bad, NULL);
		if (x.i == 1) {
			found = 1;
			assert_value(bad, h, sizeof(h), p, sizeof(p));
			ttl = raw_int("TTL", bad, NULL);
			cr_assert(ttl > 60 && ttl <= 7 * 24 * 3600,
			    "ttl %lld", ttl);
		}
		rr_free(&x);
	}
	cr_assert(found, "no :bad: key");
	cr_assert_eq(redis_set_aside(r, "b"), STICKY_ENOENT);
	redis_free(r);
}

static void
assert_ttl(const char *name, long long lo, long long hi)
{
	long long t = raw_int("TTL", name, NULL);

	cr_assert(t >= lo && t <= hi, "TTL %lld not in [%lld, %lld]", t, lo, hi);
}

Test(redis, ttl_refreshed_by_every_write)
{
	struct redis *r = mk(100), *r0 = mk(0);
	unsigned char h1[ENV_HDR_LEN], h2[ENV_HDR_LEN], p[4096];
	struct sticky_buf b;
	uint64_t e;

	buf_init(&b);
	fill(p, sizeof(p), 12);
	mkhdr(h1, 1, sizeof(p), 1);
	mkhdr(h2, 1, sizeof(p), 2);
	cr_assert_eq(redis_claim(r, "l", "w1", &e), 0);
	assert_ttl(kname("l", "u"), 1, 100);
	cr_assert_eq(put(r, "l", 1, h1, NULL, p, sizeof(p), NULL, 0), 0);
	assert_ttl(kname("l", "u"), 1, 100);
	/* Clear them behind its back: each write must set them again. */
	raw_int("PERSIST", kname("l", "u"), NULL);
	cr_assert_eq(put(r, "l", 1, h2, h1, p, sizeof(p),
	    (struct delta_run[]){ { 0, 4096 } }, 1), 0);
	assert_ttl(kname("l", "u"), 1, 100);
	raw_int("PERSIST", kname("l", "u"), NULL);
	cr_assert_eq(redis_takeover(r, "l", "w2", &e, &b, NULL, NULL), 0);
	assert_ttl(kname("l", "u"), 1, 100);
	/* The tombstone expires too. */
	raw_int("PERSIST", kname("l", "u"), NULL);
	cr_assert_eq(redis_drop(r, "l", 2), 0);
	assert_ttl(kname("l", "u"), 1, 100);
	/* ttl_s 0: no TTL at all, even where one was set. */
	cr_assert_eq(redis_claim(r0, "n", "w1", &e), 0);
	cr_assert_eq(put(r0, "n", 1, h1, NULL, p, sizeof(p), NULL, 0), 0);
	assert_ttl(kname("n", "u"), -1, -1);
	buf_cleanup(&b);
	redis_free(r);
	redis_free(r0);
}

Test(redis, batch_of_100_pipelined_writes)
{
	struct redis *r = mk(0);
	enum { N = 102 };
	static unsigned char hdrs[N][ENV_HDR_LEN], pay[N][2000];
	struct redis_write ws[N];
	char keys[N][16];
	uint64_t e;

	memset(ws, 0, sizeof(ws));
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "s%d", i);
		fill(pay[i], sizeof(pay[i]), (unsigned)i + 100);
		mkhdr(hdrs[i], 1, sizeof(pay[i]), i);
		if (i < 100)
			cr_assert_eq(redis_claim(r, keys[i], "w1", &e), 0);
		ws[i] = (struct redis_write){ .key = keys[i], .owner = "w1",
			.epoch = 1, .hdr = hdrs[i], .payload = pay[i],
			.payload_len = sizeof(pay[i]) };
	}
	/* Two bad apples in the middle must not disturb the others. */
	set_field("s50", 0, "3");
	ws[100].key = "bad{";
	ws[101].epoch = 0;
	cr_assert_eq(redis_write_batch(r, ws, N), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(ws[i].result, i == 50 ? STICKY_EFENCED : 0,
		    "write %d: %d", i, ws[i].result);
	cr_assert_eq(ws[100].result, STICKY_EINVAL);
	cr_assert_eq(ws[101].result, STICKY_EINVAL);
	for (int i = 0; i < 100; i += 7)
		if (i != 50)
			assert_ckpt(keys[i], hdrs[i], ENV_HDR_LEN, pay[i],
			    sizeof(pay[i]));
	cr_assert_eq(has_ckpt("s50"), 0);
	cr_assert_eq(redis_write_batch(r, ws, 0), 0);
	redis_free(r);
}

Test(redis, noscript_reloads_and_retries)
{
	struct redis *r = mk(0);
	unsigned char h[ENV_HDR_LEN], p[100];
	struct redis_write ws[10];
	char keys[10][16];
	uint64_t e;

	fill(p, sizeof(p), 13);
	mkhdr(h, 1, sizeof(p), 1);
	cr_assert_eq(redis_connect(r), 0);
	raw_ok("SCRIPT", "FLUSH", NULL, NULL);
	cr_assert_eq(redis_claim(r, "a", "w1", &e), 0, "%s", redis_errstr(r));
	raw_ok("SCRIPT", "FLUSH", NULL, NULL);
	for (int i = 0; i < 10; i++) {
		snprintf(keys[i], sizeof(keys[i]), "b%d", i);
		ws[i] = (struct redis_write){ .key = keys[i], .owner = "w1",
			.epoch = 1, .hdr = h, .payload = p,
			.payload_len = sizeof(p) };
	}
	cr_assert_eq(redis_write_batch(r, ws, 10), 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(ws[i].result, 0, "write %d: %d (%s)", i,
		    ws[i].result, redis_errstr(r));
	assert_ckpt("b9", h, sizeof(h), p, sizeof(p));
	cr_assert(redis_connected(r));
	redis_free(r);
}

Test(redis, killed_redis_fails_fast_backs_off_and_recovers)
{
	struct redis *r = mk_opts(addr, NULL, NULL, 0, 1000, 300, 1200);
	unsigned char h[ENV_HDR_LEN], p[100];
	struct sticky_buf b;
	int64_t t0;
	uint64_t e;
	int rc, again = 0;

	buf_init(&b);
	fill(p, sizeof(p), 14);
	mkhdr(h, 1, sizeof(p), 1);
	cr_assert_eq(redis_claim(r, "k", "w1", &e), 0);
	cr_assert_eq(redis_backoff_left_ms(r), 0);
	srv_kill9();
	t0 = mono_ms();
	cr_assert_eq(put(r, "k", 1, h, NULL, p, sizeof(p), NULL, 0),
	    STICKY_EREDIS);
	cr_assert_lt(elapsed_ms(t0), 1000);
	cr_assert_not(redis_connected(r));
	cr_assert_neq(strcmp(redis_errstr(r), "no error"), 0);
	/* Backing off: no attempt, and the caller can tell for how long. */
	cr_assert_eq(put(r, "k", 1, h, NULL, p, sizeof(p), NULL, 0),
	    STICKY_EAGAIN);
	cr_assert_eq(redis_takeover(r, "k", "w1", &e, &b, NULL, NULL), STICKY_EAGAIN);
	cr_assert_eq(redis_connect(r), STICKY_EAGAIN);
	cr_assert(redis_backoff_left_ms(r) > 0 && redis_backoff_left_ms(r) <= 300);
	/* A new server on the same socket: fresh, no data, no scripts. */
	srv_start();
	t0 = mono_ms();
	while ((rc = redis_connect(r)) != 0) {
		cr_assert(rc == STICKY_EAGAIN || rc == STICKY_EREDIS);
		again += rc == STICKY_EAGAIN;
		cr_assert_lt(elapsed_ms(t0), 3000, "never reconnected");
		sleep_ms(5);
	}
	cr_assert_gt(again, 0, "connected without waiting out the backoff");
	cr_assert_eq(redis_backoff_left_ms(r), 0);
	/* The record is gone: a full write recreates it; scripts work. */
	cr_assert_eq(put(r, "k", 1, h, NULL, p, sizeof(p), NULL, 0), 0);
	cr_assert_eq(redis_takeover(r, "k", "w2", &e, &b, NULL, NULL), 0);
	cr_assert_eq(e, 2);
	/* Success reset the backoff to its minimum. */
	srv_kill9();
	cr_assert_eq(redis_claim(r, "k2", "w1", &e), STICKY_EREDIS);
	cr_assert(redis_backoff_left_ms(r) > 0 && redis_backoff_left_ms(r) <= 300);
	buf_cleanup(&b);
	redis_free(r);
}

Test(redis, backoff_doubles_up_to_the_maximum)
{
	struct redis *r = mk_opts(addr, NULL, NULL, 0, 1000, 200, 800);
	const int64_t want[] = { 200, 400, 800, 800 };
	int64_t left;

	srv_kill9();
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(redis_connect(r), STICKY_EREDIS, "attempt %zu", i);
		left = redis_backoff_left_ms(r);
		cr_assert(left > want[i] / 2 && left <= want[i],
		    "attempt %zu: %lld ms, want %lld", i, (long long)left,
		    (long long)want[i]);
		cr_assert_eq(redis_connect(r), STICKY_EAGAIN);
		sleep_ms((int)left + 2);
	}
	cr_assert_neq(strstr(redis_errstr(r), "connect"), NULL, "%s",
	    redis_errstr(r));
	redis_free(r);
}

Test(redis, hung_redis_times_out)
{
	struct redis *r = mk_opts(addr, NULL, NULL, 0, 200, 20, 20);
	unsigned char h[ENV_HDR_LEN], p[100];
	int64_t t0, ms;
	uint64_t e;
	int rc;

	fill(p, sizeof(p), 15);
	mkhdr(h, 1, sizeof(p), 1);
	cr_assert_eq(redis_claim(r, "h", "w1", &e), 0);
	kill(srv_pid, SIGSTOP);
	t0 = mono_ms();
	rc = put(r, "h", 1, h, NULL, p, sizeof(p), NULL, 0);
	ms = elapsed_ms(t0);
	cr_assert_eq(rc, STICKY_EREDIS);
	cr_assert(ms >= 150 && ms < 1000, "took %lld ms", (long long)ms);
	cr_assert_not(redis_connected(r));
	cr_assert_neq(strstr(redis_errstr(r), "timed out"), NULL, "%s",
	    redis_errstr(r));
	/* Reconnecting to the hung server: the handshake times out too. */
	sleep_ms(30);
	t0 = mono_ms();
	cr_assert_eq(redis_connect(r), STICKY_EREDIS);
	ms = elapsed_ms(t0);
	cr_assert(ms >= 150 && ms < 1000, "connect took %lld ms", (long long)ms);
	kill(srv_pid, SIGCONT);
	sleep_ms(30);
	cr_assert_eq(redis_connect(r), 0, "%s", redis_errstr(r));
	cr_assert_eq(put(r, "h", 1, h, NULL, p, sizeof(p), NULL, 0), 0);
	redis_free(r);
}

Test(redis, scan_get_delete)
{
	struct redis *r = mk(0);
	unsigned char h[ENV_HDR_LEN], p[10];
	char **keys;
	size_t n, total = 0;
	uint64_t cursor = 0, e;
	int seen[30] = { 0 }, rounds = 0;
	struct sticky_buf b;

	fill(p, sizeof(p), 16);
	mkhdr(h, 1, sizeof(p), 1);
	for (int i = 0; i < 30; i++) {
		char k[16];

		snprintf(k, sizeof(k), "q%d", i);
		cr_assert_eq(put(r, k, 1, h, NULL, p, sizeof(p), NULL, 0), 0);
	}
	cr_assert_eq(redis_set_aside(r, "q29"), 0);
	raw_ok("SET", "t:other", "1", NULL);
	raw_ok("SET", "u:{zz}:s", "1", NULL);
	raw_ok("SET", "t:{a}{b}:s", "1", NULL);
	do {
		cr_assert_eq(redis_scan(r, &cursor, &keys, &n), 0);
		for (size_t i = 0; i < n; i++) {
			int idx;

			cr_assert_eq(keys[i][0], 'q', "key %s", keys[i]);
			idx = atoi(keys[i] + 1);
			cr_assert(idx >= 0 && idx < 29, "key %s", keys[i]);
			seen[idx]++;
		}
		total += n;
		redis_scan_free(keys, n);
		cr_assert_lt(++rounds, 1000);
	} while (cursor != 0);
	for (int i = 0; i < 29; i++)
		cr_assert_geq(seen[i], 1, "q%d not seen", i);
	cr_assert_geq(total, 29);
	cr_assert_eq(redis_claim(r, "q1", "w9", &e), STICKY_EFENCED);
	buf_init(&b);
	cr_assert_eq(redis_get(r, "q1", &b), 0);
	cr_assert_eq(b.len, ENV_HDR_LEN + sizeof(p));
	buf_cleanup(&b);
	cr_assert_eq(redis_delete(r, "q1"), 0);
	cr_assert_eq(has_ckpt("q1"), 0);
	cr_assert_eq(raw_int("EXISTS", kname("q1", "u"), NULL), 0);
	cr_assert_eq(redis_delete(r, "q1"), STICKY_ENOENT);
	redis_free(r);
}

Test(redis, wrong_types_in_redis_are_eredis)
{
	struct redis *r = mk(0);
	unsigned char h[ENV_HDR_LEN], p[10];
	struct sticky_buf b;
	uint64_t e;

	buf_init(&b);
	fill(p, sizeof(p), 17);
	mkhdr(h, 1, sizeof(p), 1);
	raw_hset(kname("w", "u"), "f", "v");
	cr_assert_eq(put(r, "w", 1, h, NULL, p, sizeof(p), NULL, 0),
	    STICKY_EREDIS);
	cr_assert_eq(redis_takeover(r, "w", "w1", &e, &b, NULL, NULL), STICKY_EREDIS);
	cr_assert_neq(strstr(redis_errstr(r), "WRONGTYPE"), NULL, "%s",
	    redis_errstr(r));
	cr_assert_eq(redis_get(r, "w", &b), STICKY_EREDIS);
	cr_assert_eq(redis_owner(r, "w", &e, (char[8]){ 0 }, 8), STICKY_EREDIS);
	/* Nothing secret in the reason, and the connection is fine. */
	cr_assert_null(strstr(redis_errstr(r), "{w}"));
	cr_assert(redis_connected(r));
	redis_free(r);
}

Test(redis, tcp_address)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char port[8], a[32];
	struct redis *r = NULL;
	static struct anns x;
	uint64_t e;
	int fd;

	/* A free port: bind port 0, read it, close, give it to redis. */
	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	snprintf(port, sizeof(port), "%d", ntohs(sin.sin_port));
	reap(&srv_pid);
	extra_args[0] = "--port";
	extra_args[1] = port;
	extra_args[2] = "--bind";
	extra_args[3] = "127.0.0.1";
	srv_start();
	snprintf(a, sizeof(a), "127.0.0.1:%s", port);
	for (int i = 0; i < 100; i++) {
		r = mk_opts(a, NULL, NULL, 0, 1000, 10, 10);
		if (redis_connect(r) == 0)
			break;
		redis_free(r);
		r = NULL;
		sleep_ms(10);
	}
	cr_assert_not_null(r);
	cr_assert_eq(redis_claim(r, "tcp", "w1", &e), 0);
	cr_assert_eq(raw_int("EXISTS", kname("tcp", "u"), NULL), 1);
	/* The subscription over TCP (with keepalive) too. */
	sub_open(r, &x);
	cr_assert_eq(redis_drop(r, "tcp", 1), 0);
	sub_wait(r, &x, 1, 1000);
	assert_ann(&x, 0, "tcp", 2, "-");
	redis_free(r);
}

Test(redis, options_are_checked)
{
	static const char *const bad[] = { "unix:", "host:0", "host:65536",
		"host:x", "host:", ":6379", "[::1", "[::1]x", "[]:1", "",
		"unix:/0123456789012345678901234567890123456789012345678901234"
		"5678901234567890123456789012345678901234567890123456789", NULL };
	static const char *const good[] = { "localhost", "127.0.0.1:1",
		"h:65535", "[::1]", "[::1]:6380", "::1", "unix:/x", NULL };
	struct redis_opts o = { .prefix = PREFIX };
	struct redis *r;

	for (size_t i = 0; bad[i] != NULL; i++) {
		o.addr = bad[i];
		cr_assert_eq(redis_new(&r, &o), STICKY_EINVAL, "%s", bad[i]);
		cr_assert_null(r);
	}
	for (size_t i = 0; good[i] != NULL; i++) {
		o.addr = good[i];
		cr_assert_eq(redis_new(&r, &o), 0, "%s", good[i]);
		cr_assert_not(redis_connected(r));
		redis_free(r);
	}
	o.addr = addr;
	o.user = "u";
	cr_assert_eq(redis_new(&r, &o), STICKY_EINVAL); /* user, no password */
	o.user = NULL;
	o.ttl_s = -1;
	cr_assert_eq(redis_new(&r, &o), STICKY_EINVAL);
	o.ttl_s = 0;
	o.backoff_min_ms = 500;
	o.backoff_max_ms = 100;
	cr_assert_eq(redis_new(&r, &o), STICKY_EINVAL);
	o.backoff_max_ms = 0;
	o.db = -1;
	cr_assert_eq(redis_new(&r, &o), STICKY_EINVAL);
	redis_free(NULL);
	/* A db other than 0 is SELECTed. */
	o.db = 3;
	cr_assert_eq(redis_new(&r, &o), 0);
	cr_assert_eq(redis_claim(r, "db", "w1", &(uint64_t){ 0 }), 0);
	cr_assert_eq(raw_int("DBSIZE", NULL, NULL), 0);
	cr_assert_eq(redis_sub_open(r), 0, "%s", redis_errstr(r));
	redis_free(r);
}

Test(redis, disconnect_then_reconnect_without_backoff)
{
	struct redis *r = mk(0);
	uint64_t e;

	cr_assert_eq(redis_connect(r), 0);
	cr_assert(redis_connected(r));
	redis_disconnect(r);
	cr_assert_not(redis_connected(r));
	cr_assert_eq(redis_backoff_left_ms(r), 0);
	cr_assert_eq(redis_claim(r, "z", "w1", &e), 0);
	cr_assert(redis_connected(r));
	redis_free(r);
}

Test(redis, allocation_failures_are_clean)
{
	struct redis_opts o = { .addr = addr, .prefix = PREFIX };
	unsigned char h[ENV_HDR_LEN], p[64];
	struct delta_run run = { 0, 64 };
	struct redis_write w;
	struct sticky_buf b;
	struct redis *r;
	char key[16], owner[8], **keys;
	uint64_t e, cursor;
	size_t n;
	int rc, saw = 1, nomem_rounds = 0;

	fill(p, sizeof(p), 19);
	mkhdr(h, 1, sizeof(p), 1);
	/* Fail the n-th allocation: every call succeeds or says ENOMEM. */
	for (unsigned long fail = 1; fail <= 100; fail++) {
#define OK_OR_NOMEM(x, ...)                                                \
	do {                                                               \
		rc = (x);                                                  \
		saw |= rc == STICKY_ENOMEM;                                \
		cr_assert(rc == STICKY_ENOMEM || __VA_ARGS__,              \
		    "%s: %d at allocation %lu", #x, rc, fail);             \
	} while (0)
		snprintf(key, sizeof(key), "a%lu", fail);
		buf_init(&b);
		saw = 0;
		alloc_fail_after(fail);
		if ((rc = redis_new(&r, &o)) != 0) {
			alloc_fail_after(0);
			cr_assert_eq(rc, STICKY_ENOMEM);
			nomem_rounds++;
			continue;
		}
		OK_OR_NOMEM(redis_claim(r, key, "w1", &e), rc == 0);
		w = (struct redis_write){ .key = key, .owner = "w1", .epoch = 1,
			.hdr = h, .payload = p, .payload_len = sizeof(p),
			.fresh = 1 };
		cr_assert_eq(redis_write_batch(r, &w, 1), 0);
		OK_OR_NOMEM(w.result, rc == 0);
		w.prev_hdr = h;
		w.runs = &run;
		w.nruns = 1;
		cr_assert_eq(redis_write_batch(r, &w, 1), 0);
		OK_OR_NOMEM(w.result, rc == 0 || rc == REDIS_DELTA_REFUSED);
		OK_OR_NOMEM(redis_takeover(r, key, "w2", &e, &b, NULL, NULL),
		    rc == 0 || rc == STICKY_ENOENT);
		OK_OR_NOMEM(redis_owner(r, key, &e, owner, sizeof(owner)),
		    rc == 0 || rc == STICKY_ENOENT);
		OK_OR_NOMEM(redis_get(r, key, &b), rc == 0 || rc == STICKY_ENOENT);
		cursor = 0;
		OK_OR_NOMEM(redis_scan(r, &cursor, &keys, &n), rc == 0);
		if (rc == 0)
			redis_scan_free(keys, n);
		OK_OR_NOMEM(redis_drop(r, key, 99), rc == STICKY_EFENCED ||
		    rc == 0);
		OK_OR_NOMEM(redis_set_aside(r, key), rc == 0 || rc == STICKY_ENOENT);
		OK_OR_NOMEM(redis_delete(r, key), rc == 0 || rc == STICKY_ENOENT);
		cr_assert_eq(redis_sub_open(r), 0); /* redis_free closes it */
#undef OK_OR_NOMEM
		alloc_fail_after(0);
		nomem_rounds += saw;
		buf_cleanup(&b);
		redis_free(r);
	}
	/* The last rounds failed nothing: every allocation was tried. */
	cr_assert_not(saw, "100 allocations were not enough");
	cr_assert_gt(nomem_rounds, 20);
}

/* ---- takeover announcements -------------------------------------------- */

Test(redis, takeover_is_announced_once)
{
	struct redis *a = mk(0), *b = mk(0);
	static struct anns x;
	struct sticky_buf blob;
	char owner[16];
	uint64_t e;

	buf_init(&blob);
	cr_assert_eq(redis_sub_fd(a), -1);
	seed(a, "k");
	sub_open(a, &x);
	cr_assert_eq(redis_sub_open(a), 0, "open twice is a no-op");
	/* Nothing taken over, or fenced: no announcement. */
	cr_assert_eq(redis_takeover(b, "none", "w2", &e, &blob, NULL, NULL), STICKY_ENOENT);
	cr_assert_eq(redis_drop(b, "k", 7), STICKY_EFENCED);
	cr_assert_eq(redis_takeover(b, "k", "w2", &e, &blob, NULL, NULL), 0);
	cr_assert_eq(e, 2);
	sub_wait(a, &x, 1, 1000);
	sub_wait(a, &x, 2, 200); /* anything more would show up by now */
	cr_assert_eq(x.n, 1, "%zu announcements", x.n);
	assert_ann(&x, 0, "k", 2, "w2");
	/* Multi-digit epochs are announced as written, not as 1e+15. */
	set_field("k", 0, "999999999999999");
	cr_assert_eq(redis_takeover(b, "k", "w3", &e, &blob, NULL, NULL), 0);
	sub_wait(a, &x, 2, 1000);
	assert_ann(&x, 1, "k", 1000000000000000ULL, "w3");
	/* The subscription is separate: commands on a still work. */
	cr_assert_eq(redis_owner(a, "k", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 1000000000000000ULL);
	redis_sub_close(a);
	cr_assert_eq(redis_sub_fd(a), -1);
	cr_assert_eq(redis_sub_read(a, collect, &x), STICKY_ESTATE);
	cr_assert_eq(redis_backoff_left_ms(a), 0);
	cr_assert_eq(redis_sub_backoff_left_ms(a), 0);
	buf_cleanup(&blob);
	redis_free(a);
	redis_free(b);
}

Test(redis, drop_is_announced_with_owner_dash)
{
	struct redis *a = mk(0), *b = mk(0);
	static struct anns x;

	seed(b, "d");
	sub_open(a, &x);
	cr_assert_eq(redis_drop(b, "d", 1), 0);
	/* No owner record: logout wins, and is announced too. */
	cr_assert_eq(redis_drop(b, "gone", 41), 0);
	sub_wait(a, &x, 2, 1000);
	sub_wait(a, &x, 3, 200);
	cr_assert_eq(x.n, 2, "%zu announcements", x.n);
	assert_ann(&x, 0, "d", 2, "-");
	assert_ann(&x, 1, "gone", 42, "-");
	redis_free(a); /* closes the subscription too */
	redis_free(b);
}

Test(redis, sub_read_with_nothing_pending_returns_at_once)
{
	struct redis *r = mk(0);
	static struct anns x;
	int64_t t0, ms;
	int rc;

	sub_open(r, &x);
	t0 = mono_ms();
	rc = redis_sub_read(r, collect, &x);
	ms = elapsed_ms(t0);
	cr_assert_eq(rc, 0);
	cr_assert_lt(ms, 50, "took %lld ms", (long long)ms);
	cr_assert_eq(x.n, 0);
	cr_assert_geq(redis_sub_fd(r), 0, "still open");
	/* Even with a hung server: the read never waits for it. */
	kill(srv_pid, SIGSTOP);
	t0 = mono_ms();
	rc = redis_sub_read(r, collect, &x);
	ms = elapsed_ms(t0);
	kill(srv_pid, SIGCONT);
	cr_assert_eq(rc, 0);
	cr_assert_lt(ms, 50, "took %lld ms", (long long)ms);
	redis_free(r);
}

Test(redis, malformed_announcements_are_ignored)
{
	static const char *const bad[] = {
		"", "7", "7 w1", "x w1 k", "0 w1 k", "-1 w1 k", "7  k",
		"7 w1 ", "7 w1 a{b", "7 w1 a}", "99999999999999999999 w1 k",
		"7 w\x01 k", "7 w1 k\x01",
	};
	struct redis *r = mk(0);
	static struct anns x;
	static char big[700], maxkey[513], max[600];
	const char *argv[3] = { "PUBLISH", PREFIX "takeover", "" };
	size_t lens[3] = { 7, strlen(PREFIX "takeover"), 0 };
	struct rr out;

	sub_open(r, &x);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		raw_int("PUBLISH", PREFIX "takeover", bad[i]);
	/* A NUL inside, and an owner or a message over the limits. */
	argv[2] = "7 w1 k\0x";
	lens[2] = 8;
	out = raw_argv(3, argv, lens);
	rr_free(&out);
	memset(big, 'o', sizeof(big) - 1);
	memcpy(big, "7 ", 2);
	memcpy(big + 35, " k", 3); /* a 33-byte owner */
	raw_int("PUBLISH", PREFIX "takeover", big);
	memset(big, 'o', sizeof(big) - 1);
	memcpy(big, "7 w1 ", 5); /* a 694-byte key */
	raw_int("PUBLISH", PREFIX "takeover", big);
	/* Other channels of ours are not subscribed at all. */
	raw_int("PUBLISH", PREFIX "other", "7 w1 k");
	/* Good ones still come through; a key may contain spaces. */
	raw_int("PUBLISH", PREFIX "takeover", "8 w1 a key");
	raw_int("PUBLISH", PREFIX "takeover", "9 - k");
	/* The longest: a 20-digit epoch, a 32-byte owner, a 512-byte key. */
	memset(maxkey, 'k', 512);
	snprintf(max, sizeof(max), "18446744073709551615 %.32s %s", big + 5,
	    maxkey);
	raw_int("PUBLISH", PREFIX "takeover", max);
	sub_wait(r, &x, 3, 1000);
	sub_wait(r, &x, 4, 200);
	cr_assert_eq(x.n, 3, "%zu announcements", x.n);
	assert_ann(&x, 0, "a key", 8, "w1");
	assert_ann(&x, 1, "k", 9, "-");
	cr_assert_eq(x.a[2].epoch, UINT64_MAX);
	cr_assert_eq(strlen(x.a[2].owner), 32);
	cr_assert_str_eq(x.a[2].key, maxkey);
	cr_assert_geq(redis_sub_fd(r), 0, "well-framed: still open");
	redis_free(r);
}

Test(redis, sub_survives_a_killed_redis_after_backoff)
{
	struct redis *a = mk_opts(addr, NULL, NULL, 0, 1000, 300, 1200);
	struct redis *b = mk(0);
	static struct anns x;
	struct sticky_buf blob;
	struct pollfd pfd;
	int64_t t0;
	uint64_t e;
	int rc, again = 0;

	buf_init(&blob);
	sub_open(a, &x);
	srv_kill9();
	pfd.fd = redis_sub_fd(a);
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, 1000), 1, "no wakeup on a dead server");
	t0 = mono_ms();
	cr_assert_eq(redis_sub_read(a, collect, &x), STICKY_EREDIS);
	/* At once, not after the 1 s command timeout (a loaded machine or
	 * valgrind may take tens of milliseconds). */
	cr_assert_lt(elapsed_ms(t0), 500);
	cr_assert_eq(redis_sub_fd(a), -1);
	cr_assert_neq(strstr(redis_errstr(a), "sub"), NULL, "%s",
	    redis_errstr(a));
	cr_assert_eq(redis_sub_read(a, collect, &x), STICKY_ESTATE);
	/* Its own backoff; the command connection is not affected. */
	cr_assert_eq(redis_sub_open(a), STICKY_EAGAIN);
	cr_assert(redis_sub_backoff_left_ms(a) > 0 &&
	    redis_sub_backoff_left_ms(a) <= 300);
	cr_assert_eq(redis_backoff_left_ms(a), 0);
	/* Restarted, empty: reopen only after the backoff. */
	srv_start();
	t0 = mono_ms();
	while ((rc = redis_sub_open(a)) != 0) {
		cr_assert(rc == STICKY_EAGAIN || rc == STICKY_EREDIS);
		again += rc == STICKY_EAGAIN;
		cr_assert_lt(elapsed_ms(t0), 3000, "never reopened");
		sleep_ms(5);
	}
	cr_assert_gt(again, 0, "reopened without waiting out the backoff");
	cr_assert_eq(redis_sub_backoff_left_ms(a), 0);
	cr_assert_eq(redis_sub_read(a, collect, &x), 0);
	/* b's connection broke too; it reconnects after its own backoff. */
	t0 = mono_ms();
	while ((rc = redis_claim(b, "k", "w1", &e)) != 0) {
		cr_assert(rc == STICKY_EAGAIN || rc == STICKY_EREDIS);
		cr_assert_lt(elapsed_ms(t0), 3000, "b never reconnected");
		sleep_ms(5);
	}
	cr_assert_eq(redis_drop(b, "k", 1), 0);
	sub_wait(a, &x, 1, 1000);
	cr_assert_eq(x.n, 1);
	assert_ann(&x, 0, "k", 2, "-");
	buf_cleanup(&blob);
	redis_free(a);
	redis_free(b);
}

Test(redis, many_announcements_arrive_complete_and_in_order)
{
	struct redis *a = mk(0), *b = mk(0);
	static struct anns x, want;
	struct sticky_buf blob;
	char keys[4][MAX_TEST_KEY], owner[16];
	int calls;

	memset(&x, 0, sizeof(x));
	memset(&want, 0, sizeof(want));
	buf_init(&blob);
	/* Long keys: 200 messages are ~110 KB, many 16 KiB reads. */
	for (int k = 0; k < 4; k++) {
		memset(keys[k], 'a' + k, 512);
		keys[k][512] = '\0';
		keys[k][100 * k] = 'Z';
		seed(b, keys[k]);
	}
	sub_open(a, &x);
	for (int i = 0; i < 200; i++) {
		struct ann *w = &want.a[want.n++];
		const char *key = keys[(i * 7) % 4];

		snprintf(owner, sizeof(owner), "w%d", i);
		cr_assert_eq(redis_takeover(b, key, owner, &w->epoch, &blob, NULL, NULL), 0);
		snprintf(w->key, sizeof(w->key), "%s", key);
		snprintf(w->owner, sizeof(w->owner), "%s", owner);
	}
	/* Every one was published before the first read. */
	calls = sub_wait(a, &x, 200, 5000);
	cr_assert_eq(x.n, 200, "%zu of 200", x.n);
	cr_assert_eq(x.overflow, 0);
	/*
	 * ~110 KB is many 16 KiB reads, all made by the first call (it drains
	 * the socket), which says it met a backlog.
	 */
	cr_assert_leq(calls, 5, "%d calls: the backlog was not drained", calls);
	cr_assert_geq(x.backlogs, 1, "a backlog of 110 KB not reported");
	for (size_t i = 0; i < 200; i++)
		assert_ann(&x, i, want.a[i].key, want.a[i].epoch,
		    want.a[i].owner);
	cr_assert_eq(want.a[199].epoch, 51);
	buf_cleanup(&blob);
	redis_free(a);
	redis_free(b);
}

Test(redis, sub_open_against_hung_redis_times_out)
{
	struct redis *r = mk_opts(addr, NULL, NULL, 0, 200, 20, 20);
	static struct anns x;
	int64_t t0, ms;

	kill(srv_pid, SIGSTOP);
	t0 = mono_ms();
	cr_assert_eq(redis_sub_open(r), STICKY_EREDIS);
	ms = elapsed_ms(t0);
	kill(srv_pid, SIGCONT);
	cr_assert(ms >= 150 && ms < 1000, "took %lld ms", (long long)ms);
	cr_assert_neq(strstr(redis_errstr(r), "sub SUBSCRIBE: timed out"), NULL,
	    "%s", redis_errstr(r));
	cr_assert_eq(redis_sub_fd(r), -1);
	sleep_ms(30);
	sub_open(r, &x);
	redis_free(r);
}

/* A callback that closes the subscription after the first announcement. */
static void
close_after_first(const char *key, uint64_t epoch, const char *owner,
    void *arg)
{
	struct redis *r = *(struct redis **)arg;
	static struct anns x;

	collect(key, epoch, owner, &x);
	redis_sub_close(r);
}

Test(redis, callback_may_close_the_subscription)
{
	struct redis *r = mk(0);
	static struct anns x;

	sub_open(r, &x);
	raw_int("PUBLISH", PREFIX "takeover", "5 w1 k");
	raw_int("PUBLISH", PREFIX "takeover", "6 w1 k");
	sleep_ms(50);
	cr_assert_eq(redis_sub_read(r, close_after_first, &r), 0);
	cr_assert_eq(redis_sub_fd(r), -1);
	cr_assert_eq(redis_sub_backoff_left_ms(r), 0, "a close is no failure");
	sub_open(r, &x);
	redis_free(r);
}

/* ---- AUTH -------------------------------------------------------------- */

Test(redis_auth, password)
{
	struct redis *r = mk_opts(addr, NULL, PASS, 0, 1000, 50, 2000);
	struct redis *wrong = mk_opts(addr, NULL, "nope", 0, 1000, 1000, 2000);
	struct redis *none = mk_opts(addr, NULL, NULL, 0, 1000, 50, 2000);
	uint64_t e;

	cr_assert_eq(redis_claim(r, "p", "w1", &e), 0, "%s", redis_errstr(r));
	cr_assert_eq(redis_connect(wrong), STICKY_EREDIS);
	cr_assert_not(redis_connected(wrong));
	cr_assert_neq(strstr(redis_errstr(wrong), "AUTH"), NULL, "%s",
	    redis_errstr(wrong));
	cr_assert_null(strstr(redis_errstr(wrong), "nope"));
	cr_assert_eq(redis_claim(wrong, "p2", "w1", &e), STICKY_EAGAIN);
	cr_assert_eq(redis_connect(none), STICKY_EREDIS);
	cr_assert_neq(strstr(redis_errstr(none), "NOAUTH"), NULL, "%s",
	    redis_errstr(none));
	cr_assert_eq(raw_int("DBSIZE", NULL, NULL), 1);
	/* The subscription authenticates the same way. */
	cr_assert_eq(redis_sub_open(r), 0, "%s", redis_errstr(r));
	cr_assert_eq(redis_sub_open(wrong), STICKY_EREDIS);
	cr_assert_neq(strstr(redis_errstr(wrong), "sub AUTH: server error "
	    "WRONGPASS"), NULL, "%s", redis_errstr(wrong));
	cr_assert_null(strstr(redis_errstr(wrong), "nope"));
	cr_assert_eq(redis_sub_open(wrong), STICKY_EAGAIN);
	cr_assert_eq(redis_sub_open(none), STICKY_EREDIS);
	cr_assert_neq(strstr(redis_errstr(none), "NOAUTH"), NULL, "%s",
	    redis_errstr(none));
	redis_free(r);
	redis_free(wrong);
	redis_free(none);
}

Test(redis_auth, acl_user_limited_to_the_prefix)
{
	struct redis *r = mk_opts(addr, ACL_USER, ACL_PASS, 60, 1000, 50, 2000);
	struct redis *wrong = mk_opts(addr, ACL_USER, PASS, 0, 1000, 50, 2000);
	struct redis_opts o = { .addr = addr, .user = ACL_USER,
		.password = ACL_PASS, .prefix = "other:" };
	struct redis *outside, *sub;
	static struct anns x;
	unsigned char h[ENV_HDR_LEN], p[50];
	struct sticky_buf b;
	uint64_t e;

	fill(p, sizeof(p), 18);
	mkhdr(h, 1, sizeof(p), 1);
	buf_init(&b);
	cr_assert_eq(redis_claim(r, "u", "w1", &e), 0, "%s", redis_errstr(r));
	cr_assert_eq(put(r, "u", 1, h, NULL, p, sizeof(p), NULL, 0), 0);
	cr_assert_eq(redis_takeover(r, "u", "w2", &e, &b, NULL, NULL), 0);
	cr_assert_eq(redis_set_aside(r, "u"), 0);
	cr_assert_eq(redis_connect(wrong), STICKY_EREDIS);
	cr_assert_neq(strstr(redis_errstr(wrong), "WRONGPASS"), NULL, "%s",
	    redis_errstr(wrong));
	/* Keys outside ~t:* are refused by the server, cleanly. */
	cr_assert_eq(redis_new(&outside, &o), 0);
	cr_assert_eq(redis_claim(outside, "u", "w1", &e), STICKY_EREDIS);
	cr_assert_neq(strstr(redis_errstr(outside), "NOPERM"), NULL, "%s",
	    redis_errstr(outside));
	cr_assert(redis_connected(outside));
	/*
	 * Without &t:takeover the user cannot subscribe, and its scripts
	 * skip the announcement but still take over (they are not rolled
	 * back halfway); with it, both work.
	 */
	cr_assert_eq(redis_sub_open(r), STICKY_EREDIS);
	cr_assert_neq(strstr(redis_errstr(r), "sub SUBSCRIBE: server error "
	    "NOPERM"), NULL, "%s", redis_errstr(r));
	seed(r, "v");
	sub = mk_opts(addr, ACL_SUB, ACL_PASS, 60, 1000, 50, 2000);
	sub_open(sub, &x);
	cr_assert_eq(redis_takeover(r, "v", "w2", &e, &b, NULL, NULL), 0);
	cr_assert_eq(e, 2);
	cr_assert_eq(redis_takeover(sub, "v", "w3", &e, &b, NULL, NULL), 0);
	sub_wait(sub, &x, 1, 1000);
	sub_wait(sub, &x, 2, 200);
	cr_assert_eq(x.n, 1, "%zu announcements", x.n);
	assert_ann(&x, 0, "v", 3, "w3");
	buf_cleanup(&b);
	redis_free(r);
	redis_free(wrong);
	redis_free(outside);
	redis_free(sub);
}

/* An ACL user without RENAME: big full writes pass through the script. */
Test(redis_auth, staging_refused_falls_back_to_the_script)
{
	struct redis *r = mk_opts(addr, ACL_NORENAME, ACL_PASS, 60, 1000, 50,
	    2000);
	static unsigned char p[128 * 1024];
	unsigned char h[ENV_HDR_LEN];
	uint64_t e;

	fill(p, sizeof(p), 24);
	mkhdr(h, 1, sizeof(p), 1);
	cr_assert_eq(redis_claim(r, "nr", "w1", &e), 0, "%s", redis_errstr(r));
	for (int i = 0; i < 2; i++) {
		mkhdr(h, 1, sizeof(p), 1 + i);
		cr_assert_eq(put(r, "nr", 1, h, NULL, p, sizeof(p), NULL, 0), 0,
		    "%s", redis_errstr(r));
		assert_ckpt("nr", h, sizeof(h), p, sizeof(p));
		cr_assert_eq(raw_int("EXISTS", kname("nr", "w:w1"), NULL), 0);
	}
	redis_free(r);
}

/* ---- a fake server with wrong-typed replies ---------------------------- */

/* Read one command; 0 at EOF.  Sets *script when it is SCRIPT ... */
static int
fake_read_cmd(FILE *f, int *script)
{
	char line[64];
	long argc, len;
	char *arg;

	if (fgets(line, sizeof(line), f) == NULL || line[0] != '*')
		return 0;
	argc = strtol(line + 1, NULL, 10);
	*script = 0;
	for (long i = 0; i < argc; i++) {
		if (fgets(line, sizeof(line), f) == NULL || line[0] != '$')
			return 0;
		len = strtol(line + 1, NULL, 10);
		if ((arg = malloc((size_t)len + 2)) == NULL ||
		    fread(arg, 1, (size_t)len + 2, f) != (size_t)len + 2) {
			free(arg);
			return 0;
		}
		if (i == 0 && len == 6 && memcmp(arg, "SCRIPT", 6) == 0)
			*script = 1;
		free(arg);
	}
	return 1;
}

/*
 * Serve connections one after another: SCRIPT LOAD gets a 40-char SHA,
 * every other command the next canned reply.
 */
static void
fake_start(const char *const *replies)
{
	static const char sha[] =
	    "$40\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
	struct sockaddr_un sun;
	int lfd, cfd, script;
	size_t next = 0;
	FILE *f;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	cr_assert_neq(lfd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	cr_assert_neq(fake_pid = fork(), -1);
	if (fake_pid != 0) {
		close(lfd);
		return;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while ((cfd = accept(lfd, NULL, NULL)) != -1) {
		if ((f = fdopen(cfd, "r")) == NULL)
			_exit(1);
		while (fake_read_cmd(f, &script)) {
			const char *rep = script ? sha :
			    replies[next] != NULL ? replies[next++] :
			    "-ERR fake: no more replies\r\n";

			if (write(cfd, rep, strlen(rep)) < 0)
				break;
		}
		fclose(f);
	}
	_exit(0);
}

Test(redis_fake, wrong_typed_replies_are_eredis)
{
	static const char *const replies[] = {
		/*
		 * takeover: MULTI, the script, GETRANGE, EXEC; EXEC's array
		 * holds {epoch, MAC} and the checkpoint
		 */
		"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "+OK\r\n",
		"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n",
		"*2\r\n*2\r\n:1\r\n:5\r\n$1\r\nx\r\n",
		"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n",
		"*2\r\n*2\r\n:0\r\n$1\r\nx\r\n$1\r\nx\r\n",
		"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n",
		"*2\r\n*3\r\n:1\r\n$1\r\nx\r\n:1\r\n$1\r\nx\r\n",
		"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n",
		"*2\r\n*2\r\n:1\r\n$0\r\n\r\n:7\r\n",
		"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n",
		"*2\r\n-ERR script\r\n$0\r\n\r\n",
		"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n",
		"*2\r\n*2\r\n:4\r\n$0\r\n\r\n$2\r\nok\r\n",
		/* MULTI refused (ACL): the script and GETRANGE ran as such */
		"-NOPERM no multi\r\n", "*2\r\n:5\r\n$0\r\n\r\n",
		"$3\r\nabc\r\n", "-ERR EXEC without MULTI\r\n",
		/* claim */
		":7\r\n", "$1\r\n1\r\n", "*-1\r\n",
		/* owner */
		"*4\r\n$3\r\nabc\r\n$1\r\nw\r\n$0\r\n\r\n$-1\r\n",
		"*4\r\n$-1\r\n$1\r\nw\r\n$0\r\n\r\n$-1\r\n",
		"*1\r\n$1\r\n1\r\n",
		"*4\r\n$20\r\n99999999999999999999\r\n$1\r\nw\r\n$0\r\n\r\n"
		"$-1\r\n",
		"*4\r\n$1\r\n1\r\n*0\r\n$0\r\n\r\n$-1\r\n",
		"*4\r\n$1\r\n7\r\n$2\r\nw9\r\n$0\r\n\r\n$-1\r\n",
		/* a batch of 4 */
		"$1\r\n1\r\n", ":3\r\n", "*1\r\n:1\r\n", ":1\r\n",
		/* drop, set_aside */
		":5\r\n", "+OK\r\n",
		/* scan */
		"*2\r\n$1\r\nx\r\n*0\r\n", "*2\r\n$1\r\n0\r\n:1\r\n",
		"*2\r\n$1\r\n0\r\n*4\r\n:1\r\n$7\r\nt:{k}:s\r\n"
		"$8\r\nt:{a{}:s\r\n$6\r\nt:{}:s\r\n",
		/* get, delete */
		":1\r\n", "+OK\r\n",
		/* NOSCRIPT twice: retried once only */
		"-NOSCRIPT gone\r\n", "-NOSCRIPT gone\r\n",
		/* a protocol error: the connection is dropped */
		"!garbage\r\n",
		NULL
	};
	struct redis *r;
	unsigned char h[ENV_HDR_LEN], p[4];
	struct redis_write ws[4];
	struct sticky_buf b;
	char owner[8], **keys;
	uint64_t e, cursor;
	size_t n;

	fake_start(replies);
	r = mk(0);
	buf_init(&b);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(redis_takeover(r, "k", "w", &e, &b, NULL, NULL), STICKY_EREDIS,
		    "takeover reply %d", i);
	cr_assert_eq(redis_takeover(r, "k", "w", &e, &b, NULL, NULL), 0);
	cr_assert_eq(e, 4);
	cr_assert_eq(b.len, 2);
	cr_assert_eq(redis_takeover(r, "k", "w", &e, &b, NULL, NULL), 0,
	    "without MULTI the script's own answer counts");
	cr_assert_eq(e, 5);
	cr_assert_eq(b.len, 3);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(redis_claim(r, "k", "w", &e), STICKY_EREDIS);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(redis_owner(r, "k", &e, owner, sizeof(owner)),
		    STICKY_EREDIS, "owner reply %d", i);
	cr_assert_eq(redis_owner(r, "k", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 7);
	cr_assert_str_eq(owner, "w9");
	memset(p, 0, sizeof(p));
	mkhdr(h, 1, sizeof(p), 1);
	for (int i = 0; i < 4; i++)
		ws[i] = (struct redis_write){ .key = "k", .owner = "w",
			.epoch = 1, .hdr = h, .payload = p,
			.payload_len = sizeof(p) };
	cr_assert_eq(redis_write_batch(r, ws, 4), 0);
	cr_assert_eq(ws[0].result, STICKY_EREDIS);
	cr_assert_eq(ws[1].result, STICKY_EREDIS);
	cr_assert_eq(ws[2].result, STICKY_EREDIS);
	cr_assert_eq(ws[3].result, 0);
	cr_assert_eq(redis_drop(r, "k", 1), STICKY_EREDIS);
	cr_assert_eq(redis_set_aside(r, "k"), STICKY_EREDIS);
	cursor = 0;
	cr_assert_eq(redis_scan(r, &cursor, &keys, &n), STICKY_EREDIS);
	cr_assert_eq(redis_scan(r, &cursor, &keys, &n), STICKY_EREDIS);
	cr_assert_eq(redis_scan(r, &cursor, &keys, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(keys[0], "k");
	redis_scan_free(keys, n);
	cr_assert_eq(redis_get(r, "k", &b), STICKY_EREDIS);
	cr_assert_eq(redis_delete(r, "k"), STICKY_EREDIS);
	cr_assert(redis_connected(r), "framing was intact: stay connected");
	cr_assert_eq(redis_claim(r, "k", "w", &e), STICKY_EREDIS);
	cr_assert_neq(strstr(redis_errstr(r), "NOSCRIPT"), NULL, "%s",
	    redis_errstr(r));
	cr_assert_eq(redis_claim(r, "k", "w", &e), STICKY_EREDIS);
	cr_assert_not(redis_connected(r));
	buf_cleanup(&b);
	redis_free(r);
}

/*
 * A fake subscribed connection: confirmation and announcements arrive in
 * one write, so open buffers some of them before the fd is ever polled;
 * the second connection gets garbage after its confirmation.
 */
Test(redis_fake, sub_buffered_at_open_then_garbage)
{
#define CONFIRM "*3\r\n$9\r\nsubscribe\r\n$10\r\nt:takeover\r\n:1\r\n"
#define MSG(s) "*3\r\n$7\r\nmessage\r\n$10\r\nt:takeover\r\n$" s "\r\n"
	static const char *const replies[] = {
		CONFIRM MSG("6\r\n3 w2 k") ":1\r\n" "*2\r\n$4\r\npong\r\n$0\r\n\r\n"
		    "*3\r\n$7\r\nmessage\r\n$10\r\nt:takeover\r\n:5\r\n"
		    MSG("6\r\n4 - kk"),
		CONFIRM "!garbage\r\n",
		"*3\r\n$9\r\nsubscribe\r\n$7\r\nt:other\r\n:1\r\n",
		"-NOPERM no\r\n",
		NULL
	};
	struct redis *r;
	static struct anns x;
	struct pollfd pfd;

	fake_start(replies);
	r = mk_opts(addr, NULL, NULL, 0, 1000, 1, 1);
	cr_assert_eq(redis_sub_open(r), 0, "%s", redis_errstr(r));
	pfd.fd = redis_sub_fd(r);
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, 100), 0, "all of it was read by open");
	cr_assert_eq(redis_sub_read(r, collect, &x), 0);
	cr_assert_eq(x.n, 2);
	assert_ann(&x, 0, "k", 3, "w2");
	assert_ann(&x, 1, "kk", 4, "-");
	redis_sub_close(r);
	cr_assert_eq(redis_sub_open(r), 0, "%s", redis_errstr(r));
	cr_assert_eq(redis_sub_read(r, collect, &x), STICKY_EREDIS);
	cr_assert_eq(redis_sub_fd(r), -1);
	cr_assert_neq(strstr(redis_errstr(r), "Protocol error"), NULL, "%s",
	    redis_errstr(r));
	/* Wrong confirmations fail the open. */
	sleep_ms(5);
	cr_assert_eq(redis_sub_open(r), STICKY_EREDIS);
	cr_assert_eq(redis_sub_fd(r), -1);
	sleep_ms(5);
	cr_assert_eq(redis_sub_open(r), STICKY_EREDIS);
	cr_assert_neq(strstr(redis_errstr(r), "NOPERM"), NULL, "%s",
	    redis_errstr(r));
	cr_assert_null(strstr(redis_errstr(r), " no"), "%s", redis_errstr(r));
	cr_assert_eq(x.n, 2);
	redis_free(r);
#undef CONFIRM
#undef MSG
}

/* ---- restore under allocation failure (checkpoint.c) -------------------- */

#include "checkpoint.h"
#include "config.h"
#include "metrics.h"
#include "payload.h"
#include "session.h"
#include "store.h"
#include "worker.h"

static int
oom_enc(const void *state, struct sticky_buf *out, void *appdata)
{
	return sticky_buf_append(out, state, 8);
}

static int
oom_dec(void **state, const void *data, size_t len, uint32_t schema,
    void *appdata)
{
	if (len != 8)
		return STICKY_ECORRUPT;
	if ((*state = malloc(8)) == NULL)
		return STICKY_ENOMEM;
	memcpy(*state, data, 8);
	return 0;
}

static void
oom_destroy(void *state, void *appdata)
{
	free(state);
}

/*
 * An allocation that fails while a valid checkpoint is restored is a
 * retryable error (EAGAIN: the user gets a 503), never "corrupt": the
 * checkpoint is not set aside and restores whole once memory is back.
 */
Test(redis, restore_out_of_memory_is_retryable_and_sets_nothing_aside)
{
	static const struct sticky_app_def app = { .name = "oom",
		.codec = { .schema_version = 1, .encode = oom_enc,
		    .decode = oom_dec, .destroy = oom_destroy } };
	const char *key = "OOOOOOOOOOOOOOOOOOOOOO";
	struct sticky_config cfg;
	struct metrics_shm *m;
	struct worker w;
	struct session *s;
	struct sticky_buf b;
	int res, saw = 0;

	cr_assert_eq(config_init(&cfg), 0);
	sticky_config_set(&cfg, "redis", addr, NULL, 0);
	sticky_config_set(&cfg, "checkpoint", "sync", NULL, 0);
	cr_assert_eq(metrics_map(&m, 1), 0);
	memset(&w, 0, sizeof(w));
	w.cfg = &cfg;
	w.app = &app;
	w.stats = &m->w[0];
	strcpy(w.tag, "w0");
	cr_assert_eq(store_new(&w.store, session_destroy_cb, &w), 0);
	worker_ckpt_init(&w);
	cr_assert_eq(ckpt_open(&w.ckpt), 0);
	s = store_session_alloc(key);
	s->state = malloc(8);
	memcpy(s->state, "12345678", 8);
	cr_assert_eq(store_insert(w.store, s, 1), 0);
	store_dirty(w.store, s, 1);
	buf_init(&b);
	buf_puts(&b, "Status: 200 OK\r\n\r\nremembered");
	cr_assert_eq(payload_replay_add(w.cfg, s, "req-1", &b), 0);
	cr_assert_eq(payload_replay_add(w.cfg, s, "req-2", &b), 0);
	buf_cleanup(&b);
	cr_assert_eq(ckpt_write(&w.ckpt, &s, 1, &res), 0);
	cr_assert_eq(res, 0);
	session_forget(&w, s);

	for (unsigned long n = 1; n <= 40; n++) {
		alloc_fail_after(n);
		int rc = ckpt_restore(&w.ckpt, key, 0, &s);
		alloc_fail_after(0);
		cr_assert(rc == 0 || rc == STICKY_EAGAIN,
		    "allocation %lu: %s", n, sticky_strerror(rc));
		cr_assert_eq(w.stats->restore_bad, 0, "allocation %lu: set aside", n);
		if (rc == 0) {
			session_forget(&w, s);
			break;
		}
		saw++;
		/* Reconnect at once, no backoff. */
		redis_disconnect(w.ckpt.redis);
	}
	cr_assert_geq(saw, 3, "failures during takeover and decode were tried");
	cr_assert_eq(ckpt_restore(&w.ckpt, key, 0, &s), 0,
	    "the checkpoint is intact");
	cr_assert(memcmp(s->state, "12345678", 8) == 0);
	/* Counted in max_bytes from the restore on, replay log included. */
	cr_assert_geq(s->bytes, 8 + 2 * (5 + 28), "%zu", s->bytes);
	cr_assert_eq(store_bytes(w.store), s->bytes);
	cr_assert_not_null(payload_replay_find(s, "req-1"));
	cr_assert_not_null(payload_replay_find(s, "req-2"));
	ckpt_close(&w.ckpt);
	store_free(w.store);
	metrics_unmap(m);
	config_cleanup(&cfg);
}

/* ---- Redis lost data: re-claims; MACs; renames; the generation -------- */

/* A write of a session that was written before (not fresh). */
static int
put_again(struct redis *r, const char *key, uint64_t epoch,
    const unsigned char *hdr, const unsigned char *prev,
    const unsigned char *p, size_t n, const struct delta_run *runs,
    size_t nruns, int *reclaimed)
{
	struct redis_write w = {
		.key = key, .owner = writer, .epoch = epoch, .hdr = hdr,
		.prev_hdr = prev, .payload = p, .payload_len = n, .runs = runs,
		.nruns = nruns, .result = 12345,
		.mac = (const unsigned char *)"0123456789abcdef", .maclen = 16,
	};
	int rc = redis_write_batch(r, &w, 1);

	*reclaimed = w.reclaimed;
	return rc != 0 ? rc : w.result;
}

Test(redis, reclaim_when_redis_lost_or_holds_older)
{
	struct redis *r = mk(0), *s = mk(0);
	static struct anns x;
	unsigned char h[ENV_HDR_LEN], h2[ENV_HDR_LEN], p[5000];
	struct delta_run run = { 100, 10 };
	char owner[16];
	uint64_t e;
	int rec;

	fill(p, sizeof(p), 3);
	mkhdr(h, 3, sizeof(p), 1);
	mkhdr(h2, 3, sizeof(p), 2);
	sub_open(s, &x);
	/* Owner record and checkpoint gone (FLUSHALL): full write re-claims. */
	cr_assert_eq(put_again(r, "g", 3, h, NULL, p, sizeof(p), NULL, 0, &rec), 0);
	cr_assert_eq(rec, 1);
	cr_assert_eq(redis_owner(r, "g", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 3, "re-claimed at the writer's own epoch");
	cr_assert_str_eq(owner, "w1");
	sub_wait(s, &x, 1, 1000);
	assert_ann(&x, 0, "g", 3, "w1");
	/* Now in Redis: a plain write. */
	cr_assert_eq(put_again(r, "g", 3, h2, h, p, sizeof(p), &run, 1, &rec), 0);
	cr_assert_eq(rec, 0);
	/* Only the checkpoint deleted: a delta is refused, a full write re-claims. */
	cut_ckpt("g");
	cr_assert_eq(put_again(r, "g", 3, h, h2, p, sizeof(p), &run, 1, &rec),
	    REDIS_DELTA_REFUSED);
	cr_assert_eq(put_again(r, "g", 3, h, NULL, p, sizeof(p), NULL, 0, &rec), 0);
	cr_assert_eq(rec, 1);
	assert_ckpt("g", h, sizeof(h), p, sizeof(p));
	cr_assert_eq(redis_owner(r, "g", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 3);
	/* An older owner record (an old copy restored): re-claimed too. */
	set_field("g", 0, "2");
	set_field("g", 20, "w7");
	cr_assert_eq(put_again(r, "g", 3, h, NULL, p, sizeof(p), NULL, 0, &rec), 0);
	cr_assert_eq(rec, 1);
	cr_assert_eq(redis_owner(r, "g", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 3);
	cr_assert_str_eq(owner, "w1");
	/*
	 * Another owner at the writer's epoch (a takeover from a lagging
	 * replica): fenced, delta or whole, nothing written.
	 */
	set_field("g", 20, "w7");
	cr_assert_eq(put_again(r, "g", 3, h2, h, p, sizeof(p), &run, 1, &rec),
	    STICKY_EFENCED);
	cr_assert_eq(put_again(r, "g", 3, h2, NULL, p, sizeof(p), NULL, 0, &rec),
	    STICKY_EFENCED);
	assert_ckpt("g", h, sizeof(h), p, sizeof(p));
	set_field("g", 20, "w1");
	cr_assert_eq(put_again(r, "g", 3, h2, h, p, sizeof(p), &run, 1, &rec), 0);
	cr_assert_eq(put_again(r, "g", 3, h, h2, p, sizeof(p), &run, 1, &rec), 0);
	/* A newer epoch is a real takeover: fenced, nothing written. */
	set_field("g", 0, "9");
	cr_assert_eq(put_again(r, "g", 3, h2, NULL, p, sizeof(p), NULL, 0, &rec),
	    STICKY_EFENCED);
	assert_ckpt("g", h, sizeof(h), p, sizeof(p));
	/* A fresh session's first write is no re-claim. */
	cr_assert_eq(put(r, "new", 1, h, NULL, p, sizeof(p), NULL, 0), 0);
	cr_assert_eq(redis_owner(r, "new", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 1);
	redis_free(r);
	redis_free(s);
}

/* A whole write by owner o at epoch e of a session written before. */
static int
put_as(struct redis *r, const char *key, const char *o, uint64_t e,
    const unsigned char *hdr, const unsigned char *p, size_t n)
{
	int rec;

	writer = o;
	return put_again(r, key, e, hdr, NULL, p, n, NULL, 0, &rec);
}

/*
 * Redis lost a user two workers hold: the serving copy (epoch 5, after a
 * takeover) and a stale idle one (epoch 4, its announcement missed).
 * Whichever re-claims first, the serving copy's epoch and state end up in
 * Redis and the stale copy is fenced or announced away.  (A re-claim at
 * epoch + 1 tied the two when the stale copy went first.)
 */
Test(redis, reclaim_race_keeps_the_newest_copy)
{
	struct redis *r = mk(0), *s = mk(0);
	static struct anns x;
	unsigned char h_old[ENV_HDR_LEN], h_new[ENV_HDR_LEN], p[3000];
	char owner[16];
	uint64_t e;

	fill(p, sizeof(p), 9);
	mkhdr(h_old, 3, sizeof(p), 1);
	mkhdr(h_new, 3, sizeof(p), 2);
	sub_open(s, &x);
	/* Stale copy first: it re-claims at 4, the serving copy then at 5. */
	cr_assert_eq(put_as(r, "k1", "stale", 4, h_old, p, sizeof(p)), 0);
	cr_assert_eq(put_as(r, "k1", "serving", 5, h_new, p, sizeof(p)), 0);
	cr_assert_eq(redis_owner(r, "k1", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 5);
	cr_assert_str_eq(owner, "serving");
	assert_ckpt("k1", h_new, sizeof(h_new), p, sizeof(p));
	sub_wait(s, &x, 2, 1000);
	assert_ann(&x, 0, "k1", 4, "stale");
	assert_ann(&x, 1, "k1", 5, "serving"); /* the stale holder drops */
	/* Its later rewrites (the scrub, the generation check) are fenced. */
	cr_assert_eq(put_as(r, "k1", "stale", 4, h_old, p, sizeof(p)),
	    STICKY_EFENCED);
	assert_ckpt("k1", h_new, sizeof(h_new), p, sizeof(p));
	/* Serving copy first: the stale one is fenced. */
	cr_assert_eq(put_as(r, "k2", "serving", 5, h_new, p, sizeof(p)), 0);
	cr_assert_eq(put_as(r, "k2", "stale", 4, h_old, p, sizeof(p)),
	    STICKY_EFENCED);
	cr_assert_eq(redis_owner(r, "k2", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 5);
	cr_assert_str_eq(owner, "serving");
	assert_ckpt("k2", h_new, sizeof(h_new), p, sizeof(p));
	redis_free(r);
	redis_free(s);
}

Test(redis, mac_stored_with_the_checkpoint)
{
	struct redis *r = mk(0);
	unsigned char h[ENV_HDR_LEN], p[100], mac[REDIS_MAC_MAX];
	struct sticky_buf b;
	size_t maclen = 99;
	uint64_t e;
	int rec;

	buf_init(&b);
	fill(p, sizeof(p), 5);
	mkhdr(h, 1, sizeof(p), 1);
	cr_assert_eq(put(r, "m", 1, h, NULL, p, sizeof(p), NULL, 0), 0);
	cr_assert_eq(redis_mac(r, "m", mac, &maclen), STICKY_ENOENT);
	cr_assert_eq(redis_takeover(r, "m", "w2", &e, &b, mac, &maclen), 0);
	cr_assert_eq(maclen, 0, "written without a MAC: none");
	writer = "w2";
	cr_assert_eq(put_again(r, "m", e, h, NULL, p, sizeof(p), NULL, 0, &rec), 0);
	cr_assert_eq(redis_takeover(r, "m", "w2", &e, &b, mac, &maclen), 0);
	cr_assert_eq(maclen, 16);
	cr_assert(memcmp(mac, "0123456789abcdef", 16) == 0);
	cr_assert_eq(redis_mac(r, "m", mac, &maclen), 0);
	cr_assert_eq(maclen, 16);
	/* Logout forgets it with the checkpoint. */
	cr_assert_eq(redis_drop(r, "m", e), 0);
	cr_assert_eq(redis_mac(r, "m", mac, &maclen), STICKY_ENOENT);
	buf_cleanup(&b);
	redis_free(r);
}

Test(redis, migrate_moves_and_fences_the_old_name)
{
	struct redis *r = mk(0), *s = mk(0);
	static struct anns x;
	unsigned char h[ENV_HDR_LEN], p[64], mac[REDIS_MAC_MAX];
	struct sticky_buf b;
	char owner[16];
	size_t maclen;
	uint64_t e;
	int rec;

	buf_init(&b);
	fill(p, sizeof(p), 8);
	mkhdr(h, 1, sizeof(p), 1);
	sub_open(s, &x);
	seed(r, "old");
	cr_assert_eq(redis_migrate(r, "none", "new", NULL, 0, NULL, 0),
	    STICKY_ENOENT);
	cr_assert_eq(redis_migrate(r, "old", "new", (const unsigned char *)"M", 1,
	    "not what it holds", 17), STICKY_EAGAIN);
	cr_assert_eq(has_ckpt("new"), 0);
	cr_assert_eq(redis_migrate(r, "old", "new", (const unsigned char *)"M", 1,
	    NULL, 0), 0);
	cr_assert_eq(has_ckpt("old"), 0);
	cr_assert_eq(redis_owner(r, "old", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 2);
	cr_assert_str_eq(owner, "-");
	sub_wait(s, &x, 1, 1000);
	assert_ann(&x, 0, "old", 2, "-");
	/* A writer still holding the old name is fenced, not re-claiming. */
	cr_assert_eq(put_again(r, "old", 1, h, NULL, p, sizeof(p), NULL, 0, &rec),
	    STICKY_EFENCED);
	cr_assert_eq(redis_takeover(r, "new", "w2", &e, &b, mac, &maclen), 0);
	cr_assert_eq(e, 2);
	cr_assert_eq(maclen, 1);
	cr_assert_eq(b.len, ENV_HDR_LEN + 32);
	/* Twice: the new name exists. */
	seed(r, "old2");
	cr_assert_eq(redis_migrate(r, "old2", "new", NULL, 0, NULL, 0),
	    STICKY_EFENCED);
	cr_assert_eq(has_ckpt("old2"), 1);
	buf_cleanup(&b);
	redis_free(r);
	redis_free(s);
}

Test(redis, generation_changes_when_redis_loses_data)
{
	struct redis *r = mk(0);
	char g1[64], g2[64];

	cr_assert_eq(redis_generation(r, "aaaa", g1, sizeof(g1)), 0);
	cr_assert_str_eq(g1, "aaaa");
	cr_assert_eq(redis_generation(r, "bbbb", g2, sizeof(g2)), 0);
	cr_assert_str_eq(g2, "aaaa", "kept while Redis keeps its data");
	raw_ok("FLUSHALL", NULL, NULL, NULL);
	cr_assert_eq(redis_generation(r, "cccc", g2, sizeof(g2)), 0);
	cr_assert_str_eq(g2, "cccc");
	redis_free(r);
}

Test(redis, peek_shows_epoch_and_header)
{
	struct redis *r = mk(0);
	unsigned char h[ENV_HDR_LEN], p[20], got[ENV_HDR_LEN];
	size_t hl;
	uint64_t e;

	fill(p, sizeof(p), 4);
	mkhdr(h, 1, sizeof(p), 1);
	cr_assert_eq(redis_peek(r, "pk", &e, got, &hl), STICKY_ENOENT);
	cr_assert_eq(hl, 0);
	cr_assert_eq(put(r, "pk", 1, h, NULL, p, sizeof(p), NULL, 0), 0);
	cr_assert_eq(redis_peek(r, "pk", &e, got, &hl), 0);
	cr_assert_eq(e, 1);
	cr_assert_eq(hl, ENV_HDR_LEN);
	cr_assert(memcmp(got, h, ENV_HDR_LEN) == 0);
	cut_ckpt("pk");
	cr_assert_eq(redis_peek(r, "pk", &e, got, &hl), 0);
	cr_assert_eq(hl, 0, "owner record only");
	raw_int("DEL", kname("pk", "u"), NULL);
	cr_assert_eq(redis_peek(r, "pk", &e, got, &hl), STICKY_ENOENT);
	redis_free(r);
}

/* ---- Sentinel addresses and WAIT -------------------------------------- */

Test(redis_fake, sentinel_addresses_are_parsed)
{
	static const char *const bad[] = { "sentinel://", "sentinel:///m",
		"sentinel://h/", "sentinel://h", "sentinel://h:0/m",
		"sentinel://h:65536/m", "sentinel://h,,k/m", "sentinel://,h/m",
		"sentinel://h,/m", "sentinel://h/m x", "sentinel://h/m/x",
		"sentinel://[::1/m", "sentinel://h:x/m", "sentinel://h/a,b",
		"sentinel://1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17/m", NULL };
	struct redis_opts o = { .prefix = PREFIX };
	struct redis *r;
	char buf[64];

	for (size_t i = 0; bad[i] != NULL; i++) {
		o.addr = bad[i];
		cr_assert_eq(redis_new(&r, &o), STICKY_EINVAL, "%s", bad[i]);
		cr_assert_null(r);
	}
	o.addr = "sentinel://10.0.0.1,s2:26380,[::1]:5,::2/mymaster";
	cr_assert_eq(redis_new(&r, &o), 0);
	cr_assert_str_eq(redis_master_name(r), "mymaster");
	cr_assert_eq(redis_sentinel_addr(r, 0, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "10.0.0.1:26379");
	cr_assert_eq(redis_sentinel_addr(r, 1, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "s2:26380");
	cr_assert_eq(redis_sentinel_addr(r, 2, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "[::1]:5");
	cr_assert_eq(redis_sentinel_addr(r, 3, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "[::2]:26379");
	cr_assert_eq(redis_sentinel_addr(r, 4, buf, sizeof(buf)), STICKY_ENOENT);
	cr_assert_eq(redis_sentinel_addr(r, 0, buf, 4), STICKY_ETOOBIG);
	/* No Sentinel asked yet: no master. */
	cr_assert_eq(redis_master_addr(r, buf, sizeof(buf)), STICKY_ENOENT);
	cr_assert_not(redis_connected(r));
	redis_free(r);
	/* Sentinel credentials: a user needs a password. */
	o.addr = "sentinel://h/m";
	o.sentinel_user = "u";
	cr_assert_eq(redis_new(&r, &o), STICKY_EINVAL);
	o.sentinel_password = "p";
	cr_assert_eq(redis_new(&r, &o), 0);
	redis_free(r);
	/* A plain address has no master name. */
	o.addr = "h:1";
	cr_assert_eq(redis_new(&r, &o), 0);
	cr_assert_null(redis_master_name(r));
	cr_assert_eq(redis_master_addr(r, buf, sizeof(buf)), STICKY_ENOENT);
	redis_free(r);
}

/* Nothing answers on these Sentinels: a clear error, then the backoff. */
Test(redis_fake, sentinel_unreachable_fails_with_backoff)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char a[80];
	struct redis *r;
	int fd;

	/* A port nobody listens on while we hold it bound, not listening. */
	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(a, sizeof(a), "sentinel://127.0.0.1:%d,127.0.0.1:%d/m",
	    ntohs(sin.sin_port), ntohs(sin.sin_port));
	r = mk_opts(a, NULL, NULL, 0, 200, 1000, 1000);
	cr_assert_eq(redis_connect(r), STICKY_EREDIS);
	cr_assert_neq(strstr(redis_errstr(r), "no Sentinel named the master"),
	    NULL, "%s", redis_errstr(r));
	cr_assert_eq(redis_connect(r), STICKY_EAGAIN);
	cr_assert_gt(redis_backoff_left_ms(r), 0);
	redis_free(r);
	close(fd);
}

Test(redis, wait_replicas_without_replicas_times_out)
{
	struct redis *r = mk(0);
	int acked = -1;
	int64_t t0;
	uint64_t e;

	/* Not connected: nothing to wait on, never a new connection. */
	cr_assert_eq(redis_wait_replicas(r, 1, 100, &acked), STICKY_EREDIS);
	cr_assert_eq(redis_wait_replicas(r, 0, 100, &acked), 0);
	cr_assert_eq(redis_claim(r, "w", "w1", &e), 0);
	t0 = now_ms();
	cr_assert_eq(redis_wait_replicas(r, 1, 150, &acked), STICKY_ETIMEDOUT);
	cr_assert_geq(now_ms() - t0, 100, "WAIT's timeout, not the socket's");
	cr_assert_eq(acked, 0);
	cr_assert_neq(strstr(redis_errstr(r), "0 of 1 replicas"), NULL, "%s",
	    redis_errstr(r));
	cr_assert(redis_connected(r), "a short WAIT keeps the connection");
	/* Longer than the command timeout (1000 ms here): still WAIT's. */
	cr_assert_eq(redis_wait_replicas(r, 1, 1200, NULL), STICKY_ETIMEDOUT);
	cr_assert(redis_connected(r));
	redis_free(r);
}

/* ---- the two-key layout of earlier releases ---------------------------- */

/* Store a session as earlier releases did: P{key}:s and the P{key}:o hash. */
static void
old_layout(const char *key, const char *epoch, const char *owner,
    const unsigned char *h, const unsigned char *p, size_t n)
{
	const char *argv[3] = { "SET", kname(key, "s"), NULL };
	size_t lens[3] = { 3, strlen(argv[1]), ENV_HDR_LEN + n };
	unsigned char *v;
	struct rr x;

	if (h != NULL) {
		cr_assert_not_null(v = malloc(ENV_HDR_LEN + n));
		memcpy(v, h, ENV_HDR_LEN);
		memcpy(v + ENV_HDR_LEN, p, n);
		argv[2] = (const char *)v;
		x = raw_argv(3, argv, lens);
		cr_assert_eq(x.type, '+');
		rr_free(&x);
		free(v);
		raw_int("EXPIRE", kname(key, "s"), "100");
	}
	if (epoch != NULL)
		raw_hset(kname(key, "o"), "epoch", epoch);
	if (owner != NULL)
		raw_hset(kname(key, "o"), "owner", owner);
	if (epoch != NULL || owner != NULL) {
		if (h != NULL)
			raw_hset(kname(key, "o"), "mac", "0123456789abcdef");
		raw_int("EXPIRE", kname(key, "o"), "50");
	}
}

Test(redis, two_key_layout_is_read_and_moved_on_first_access)
{
	struct redis *r = mk(0);
	unsigned char h[ENV_HDR_LEN], h2[ENV_HDR_LEN], p[6000], q[6000];
	unsigned char got[ENV_HDR_LEN], mac[REDIS_MAC_MAX];
	struct delta_run run = { 4096, 100 };
	struct sticky_buf b;
	char owner[40], **keys;
	size_t maclen, hl, n, listed = 0;
	uint64_t e, cursor = 0;
	long long ttl;

	buf_init(&b);
	fill(p, sizeof(p), 30);
	memcpy(q, p, sizeof(q));
	memset(q + 4096, 0x5a, 100);
	mkhdr(h, 1, sizeof(p), 1);
	mkhdr(h2, 1, sizeof(q), 2);
	old_layout("o1", "3", "w5", h, p, sizeof(p));
	/* Reads (stickyctl) see it where it is and move nothing. */
	cr_assert_eq(redis_owner(r, "o1", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 3);
	cr_assert_str_eq(owner, "w5");
	cr_assert_eq(redis_get(r, "o1", &b), 0);
	cr_assert_eq(b.len, ENV_HDR_LEN + sizeof(p));
	cr_assert(memcmp(b.data, h, ENV_HDR_LEN) == 0);
	cr_assert_eq(redis_mac(r, "o1", mac, &maclen), 0);
	cr_assert_eq(maclen, 16);
	cr_assert_eq(redis_peek(r, "o1", &e, got, &hl), 0);
	cr_assert_eq(e, 3);
	cr_assert_eq(hl, ENV_HDR_LEN);
	do {
		cr_assert_eq(redis_scan(r, &cursor, &keys, &n), 0);
		for (size_t i = 0; i < n; i++)
			listed += strcmp(keys[i], "o1") == 0;
		redis_scan_free(keys, n);
	} while (cursor != 0);
	cr_assert_eq(listed, 1, "listed %zu times", listed);
	cr_assert_eq(raw_int("EXISTS", kname("o1", "u"), NULL), 0);
	/* A takeover moves it into one key, with its MAC and TTL. */
	cr_assert_eq(redis_takeover(r, "o1", "w1", &e, &b, mac, &maclen), 0);
	cr_assert_eq(e, 4);
	cr_assert_eq(maclen, 16);
	cr_assert(memcmp(mac, "0123456789abcdef", 16) == 0);
	cr_assert_eq(b.len, ENV_HDR_LEN + sizeof(p));
	cr_assert(memcmp(b.data + ENV_HDR_LEN, p, sizeof(p)) == 0);
	cr_assert_eq(raw_int("EXISTS", kname("o1", "s"), NULL), 0);
	cr_assert_eq(raw_int("EXISTS", kname("o1", "o"), NULL), 0);
	assert_ckpt("o1", h, sizeof(h), p, sizeof(p));
	ttl = raw_int("TTL", kname("o1", "u"), NULL);
	cr_assert(ttl > 50 && ttl <= 100, "ttl %lld: the longer of the two", ttl);
	/* A write moves it too, and a delta applies to the moved bytes. */
	old_layout("o2", "2", "w5", h, p, sizeof(p));
	cr_assert_eq(put(r, "o2", 1, h2, h, q, sizeof(q), &run, 1),
	    STICKY_EFENCED, "an older writer is still fenced");
	writer = "w5";
	cr_assert_eq(put(r, "o2", 2, h2, h, q, sizeof(q), &run, 1), 0);
	assert_ckpt("o2", h2, sizeof(h2), q, sizeof(q));
	cr_assert_eq(raw_int("EXISTS", kname("o2", "s"), NULL), 0);
	cr_assert_eq(redis_owner(r, "o2", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 2);
	cr_assert_str_eq(owner, "w5");
	/* A logged-out session stays logged out. */
	old_layout("o3", "7", "-", NULL, NULL, 0);
	cr_assert_eq(redis_takeover(r, "o3", "w1", &e, &b, NULL, NULL),
	    STICKY_ENOENT);
	cr_assert_eq(e, 1, "logged out");
	cr_assert_eq(redis_claim(r, "o3", "w1", &e), STICKY_EFENCED);
	cr_assert_eq(raw_int("EXISTS", kname("o3", "o"), NULL), 0);
	/* A checkpoint whose owner hash was lost: restored at epoch 1. */
	old_layout("o4", NULL, NULL, h, p, sizeof(p));
	cr_assert_eq(redis_takeover(r, "o4", "w1", &e, &b, NULL, NULL), 0);
	cr_assert_eq(e, 1);
	/* Logout, delete and migrate find it as well. */
	old_layout("o5", "5", "w5", h, p, sizeof(p));
	cr_assert_eq(redis_drop(r, "o5", 4), STICKY_EFENCED);
	cr_assert_eq(redis_drop(r, "o5", 5), 0);
	cr_assert_eq(has_ckpt("o5"), 0);
	cr_assert_eq(raw_int("EXISTS", kname("o5", "s"), NULL), 0);
	old_layout("o6", "5", "w5", h, p, sizeof(p));
	cr_assert_eq(redis_delete(r, "o6"), 0);
	cr_assert_eq(raw_int("DBSIZE", NULL, NULL), 5);
	old_layout("o7", "5", "w5", h, p, sizeof(p));
	cr_assert_eq(redis_migrate(r, "o7", "n7", NULL, 0, NULL, 0), 0);
	cr_assert_eq(redis_owner(r, "n7", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 5);
	cr_assert_eq(redis_mac(r, "n7", mac, &maclen), 0);
	assert_ckpt("n7", h, sizeof(h), p, sizeof(p));
	cr_assert_eq(redis_owner(r, "o7", &e, owner, sizeof(owner)), 0);
	cr_assert_eq(e, 6);
	cr_assert_str_eq(owner, "-");
	buf_cleanup(&b);
	redis_free(r);
}

/* One key per session, and the record is the fixed-width layout. */
Test(redis, one_key_per_session_with_a_fixed_record)
{
	struct redis *r = mk(0);
	unsigned char h[ENV_HDR_LEN], p[10];
	uint64_t e;
	struct rr x;

	fill(p, sizeof(p), 31);
	mkhdr(h, 1, sizeof(p), 1);
	cr_assert_eq(redis_claim(r, "f", "w3", &e), 0);
	writer = "w3";
	cr_assert_eq(put(r, "f", 1, h, NULL, p, sizeof(p), NULL, 0), 0);
	cr_assert_eq(raw_int("DBSIZE", NULL, NULL), 1);
	cr_assert_eq(raw_int("STRLEN", kname("f", "u"), NULL),
	    REC_LEN + ENV_HDR_LEN + sizeof(p));
	x = raw("GETRANGE", kname("f", "u"), "0", "52", NULL);
	cr_assert_eq(x.len, 53);
	cr_assert(memcmp(x.s, "00000000000000000001w3", 22) == 0, "%s", x.s);
	cr_assert_eq(x.s[52], '\0', "no MAC");
	rr_free(&x);
	redis_free(r);
}
