/*
 * test_metrics.c: the status page renderers (metrics_render: text, JSON,
 * OpenMetrics) over a shared mapping filled with known counters for two
 * workers: exact per-worker values, master totals equal to the sums,
 * derived values (restore_avg_us, loss window, up counts), and the
 * formats' own rules: JSON that parses (a small parser below, which also
 * refuses duplicate keys), OpenMetrics families declared once, counters
 * sampled as _total, labels quoted, finite values, "# EOF" last.
 *
 * Limits: the JSON parser and the OpenMetrics checks are written for
 * these tests, not full implementations of the specifications; uptimes
 * depend on the clock and are checked within a few seconds.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "metrics.h"

/* The counters the status page shows, as the formats name them. */
static const struct {
	const char *name;
	size_t off;
	int is_counter; /* else a gauge */
} fields[] = {
#define C(f) { #f, offsetof(struct worker_stats, f), 1 }
#define G(f) { #f, offsetof(struct worker_stats, f), 0 }
	C(requests), G(sessions), G(bytes), G(dirty), C(sessions_created),
	C(ckpt_written), C(ckpt_bytes), C(ckpt_failed), C(ckpt_fenced),
	C(restore_hits), C(restore_misses), C(restore_failed), C(restore_bad),
	C(evictions), C(expired), C(replays), C(rehomed), C(bad_records),
	C(bad_cookies), C(read_timeouts), C(abandoned), C(status_503),
	C(restarts), C(crashes), C(recycles), C(timeouts_killed),
	C(poison_refused), C(quarantine_refused), C(output_stalls),
	C(restore_unauthenticated), C(migrated), C(reclaims), C(sessions_lost),
	C(sweep_calls), C(sweep_us), G(sweep_us_max), C(flush_slices),
	C(flush_us), G(flush_us_max),
#undef C
#undef G
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

#define MASTER_PID 4242
#define MASTER_AGE 100   /* seconds since the master started */
#define W0_AGE 50        /* seconds since worker 0 started */

static struct metrics_shm *m;
static int64_t now;

/* Distinct values: worker 0, worker 1, and their sum. */
static uint64_t
val(unsigned w, size_t k)
{
	return w == 0 ? 10 * (k + 1) + 1 : 1000 * (k + 1) + 2;
}

static uint64_t
total(size_t k)
{
	return val(0, k) + val(1, k);
}

static uint64_t *
field(struct worker_stats *w, size_t k)
{
	return (uint64_t *)((char *)w + fields[k].off);
}

static size_t
field_index(const char *name)
{
	for (size_t k = 0; k < NFIELDS; k++)
		if (strcmp(fields[k].name, name) == 0)
			return k;
	cr_assert_fail("no field %s", name);
	return 0;
}

static void
setup(void)
{
	cr_assert_eq(metrics_map(&m, 2), 0);
	cr_assert_eq(m->nworkers, 2);
	now = (int64_t)time(NULL);
	m->master_pid = MASTER_PID;
	m->master_start = now - MASTER_AGE;
	m->reloads = 3;
	for (unsigned i = 0; i < 2; i++)
		for (size_t k = 0; k < NFIELDS; k++)
			*field(&m->w[i], k) = val(i, k);

	/* w0: up, connected, 250 ms of unflushed changes, never crashed. */
	snprintf(m->w[0].tag, sizeof(m->w[0].tag), "w0");
	m->w[0].pid = 5000;
	m->w[0].up = 1;
	m->w[0].redis_up = 1;
	m->w[0].start_time = now - W0_AGE;
	m->w[0].oldest_dirty_ms = 250;
	m->w[0].restore_us_total = val(0, field_index("restore_hits")) * 250;
	/* w1: down after a SIGKILL, Redis down, the worse loss window. */
	snprintf(m->w[1].tag, sizeof(m->w[1].tag), "web2-w_1");
	m->w[1].pid = 5001;
	m->w[1].up = 0;
	m->w[1].redis_up = 0;
	m->w[1].start_time = 1700000000;
	m->w[1].last_signal = 9;
	m->w[1].oldest_dirty_ms = 1500;
	m->w[1].restore_us_total = val(1, field_index("restore_hits")) * 1000;
	/* Not shown: must not leak into any format. */
	snprintf(m->w[0].last_path, sizeof(m->w[0].last_path), "/secret-path");
	m->w[0].answered = 987654321;
	m->w[0].busy_since_ms = 918273645;
}

static void
teardown(void)
{
	metrics_unmap(m);
	m = NULL;
}

TestSuite(metrics_text, .init = setup, .fini = teardown);
TestSuite(metrics_json, .init = setup, .fini = teardown);
TestSuite(metrics_openmetrics, .init = setup, .fini = teardown);

/* Render into a NUL-terminated heap string. */
static char *
render(enum status_format f)
{
	struct sticky_buf b;
	char *s;

	buf_init(&b);
	cr_assert_eq(metrics_render(m, f, &b), 0);
	cr_assert_gt(b.len, 0);
	cr_assert_eq(memchr(b.data, '\0', b.len), NULL, "NUL inside the output");
	s = xstrndup((const char *)b.data, b.len);
	buf_cleanup(&b);
	return s;
}

/* Copy of s from `from` (included) up to `to` (excluded; NULL: the end). */
static char *
section(const char *s, const char *from, const char *to)
{
	const char *a = strstr(s, from), *e;

	cr_assert_not_null(a, "no '%s' in:\n%s", from, s);
	e = to != NULL ? strstr(a + strlen(from), to) : NULL;
	if (to != NULL)
		cr_assert_not_null(e, "no '%s' after '%s'", to, from);
	return xstrndup(a, e != NULL ? (size_t)(e - a) : strlen(a));
}

/* Occurrences of needle in s. */
static int
count(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* Fields the status page does not show, and non-finite numbers. */
static void
assert_no_secrets(const char *s)
{
	static const char *const nonfinite[] = {
		" nan", " -nan", " inf", " +inf", " -inf",
		":nan", ":-nan", ":inf", ":-inf",
	};

	cr_assert_null(strstr(s, "secret-path"), "last_path leaked:\n%s", s);
	cr_assert_null(strstr(s, "987654321"), "answered leaked");
	cr_assert_null(strstr(s, "918273645"), "busy_since_ms leaked");
	for (size_t i = 0; i < sizeof(nonfinite) / sizeof(nonfinite[0]); i++)
		cr_assert_null(strcasestr(s, nonfinite[i]), "'%s' in:\n%s",
		    nonfinite[i], s);
}

/* ---- text ---- */

/* A counter line as the text format lays it out. */
static void
assert_line(const char *sect, const char *name, uint64_t v)
{
	char want[96];

	snprintf(want, sizeof(want), "\n  %-18s %llu\n", name, (unsigned long long)v);
	cr_assert_eq(count(sect, want), 1, "want exactly once '%s' in:\n%s",
	    want + 1, sect);
}

Test(metrics_text, master_line)
{
	char *s = render(STATUS_TEXT);
	int pid;
	long long up, lw;
	unsigned long long reloads;
	unsigned wu, wn, ru, rn;

	cr_assert_eq(sscanf(s, "master pid %d, up %llds, reloads %llu, workers "
	    "%u/%u up, redis %u/%u up, loss window %lldms\n", &pid, &up, &reloads,
	    &wu, &wn, &ru, &rn, &lw), 8, "%s", s);
	cr_assert_eq(pid, MASTER_PID);
	cr_assert(up >= MASTER_AGE && up <= MASTER_AGE + 5, "uptime %lld", up);
	cr_assert_eq(reloads, 3);
	cr_assert_eq(wu, 1, "one worker up");
	cr_assert_eq(wn, 2);
	cr_assert_eq(ru, 1, "one worker connected to Redis");
	cr_assert_eq(rn, 2);
	cr_assert_eq(lw, 1500, "the loss window is the worst worker's");
	assert_no_secrets(s);
	free(s);
}

Test(metrics_text, totals_are_sums)
{
	char *s = render(STATUS_TEXT);
	char *t = section(s, "\ntotals\n", "\nworker ");
	size_t hits = field_index("restore_hits");

	for (size_t k = 0; k < NFIELDS; k++)
		assert_line(t, fields[k].name, total(k));
	/* The layout itself, once by hand: name padded to 18, then the value. */
	cr_assert_not_null(strstr(t, "\n  requests           1013\n"), "%s", t);
	assert_line(t, "restore_avg_us", (m->w[0].restore_us_total +
	    m->w[1].restore_us_total) / total(hits));
	cr_assert_null(strstr(t, "last_crash_signal"), "no signal in totals");
	free(t);
	free(s);
}

Test(metrics_text, per_worker_sections)
{
	char *s = render(STATUS_TEXT);
	char *w0 = section(s, "\nworker w0 ", "\nworker web2-w_1 ");
	char *w1 = section(s, "\nworker web2-w_1 ", NULL);
	long long up, lw;
	int pid;
	char state[8], redis[8], started[32], want[32];
	time_t t0 = (time_t)(now - W0_AGE);
	struct tm tm;
	/* 1700000000 in the shared counters: shown as a date, in UTC. */
	const char *w1_head = "\nworker web2-w_1 pid 5001 down, started 2023-11-14T22:13:20Z, "
	    "up 0s, redis down, loss window 1500ms\n";

	cr_assert_eq(count(s, "\nworker "), 2, "one section per worker");
	cr_assert_eq(sscanf(w0, "\nworker w0 pid %d %7[a-z], started %31[^,], up %llds, "
	    "redis %7[a-z], loss window %lldms\n", &pid, state, started, &up, redis,
	    &lw), 6, "%s", w0);
	cr_assert_eq(pid, 5000);
	cr_assert_str_eq(state, "up");
	cr_assert_not_null(gmtime_r(&t0, &tm));
	strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cr_assert_str_eq(started, want, "start time as ISO 8601 UTC");
	cr_assert(up >= W0_AGE && up <= W0_AGE + 5, "uptime %lld", up);
	cr_assert_str_eq(redis, "up");
	cr_assert_eq(lw, 250);
	cr_assert(strncmp(w1, w1_head, strlen(w1_head)) == 0,
	    "a down worker has no uptime:\n%s", w1);

	for (size_t k = 0; k < NFIELDS; k++) {
		assert_line(w0, fields[k].name, val(0, k));
		assert_line(w1, fields[k].name, val(1, k));
	}
	assert_line(w0, "restore_avg_us", 250);
	assert_line(w1, "restore_avg_us", 1000);
	cr_assert_null(strstr(w0, "last_crash_signal"), "w0 never crashed");
	assert_line(w1, "last_crash_signal", 9);
	free(w0);
	free(w1);
	free(s);
}

Test(metrics_text, no_restores_no_average)
{
	char *s;

	m->w[0].restore_hits = m->w[1].restore_hits = 0;
	s = render(STATUS_TEXT);
	cr_assert_null(strstr(s, "restore_avg_us"), "no division by zero:\n%s", s);
	free(s);
}

/* ---- JSON: a small parser that records every scalar by its path ---- */

#define JMAX 512
#define JFAIL(d, ...) do { \
	snprintf((d)->err, sizeof((d)->err), __VA_ARGS__); \
	return -1; \
} while (0)

struct jdoc {
	const char *p;
	int n;
	int depth;
	char err[128];
	char path[JMAX][96];
	char value[JMAX][64];
};

static int jvalue(struct jdoc *d, const char *path);

static void
jspace(struct jdoc *d)
{
	while (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r')
		d->p++;
}

/* A string; its contents (escapes kept as written) into out. */
static int
jstring(struct jdoc *d, char *out, size_t outlen)
{
	size_t n = 0;

	if (*d->p != '"')
		JFAIL(d, "string expected at '%.20s'", d->p);
	for (d->p++; *d->p != '"'; d->p++) {
		if (*d->p == '\0')
			JFAIL(d, "unterminated string");
		if ((unsigned char)*d->p < 0x20)
			JFAIL(d, "control character in a string");
		if (*d->p == '\\') {
			if (d->p[1] == '\0' || strchr("\"\\/bfnrtu", d->p[1]) == NULL)
				JFAIL(d, "bad escape at '%.20s'", d->p);
			if (n + 2 >= outlen)
				JFAIL(d, "string too long for the test");
			out[n++] = *d->p++;
		}
		if (n + 1 >= outlen)
			JFAIL(d, "string too long for the test");
		out[n++] = *d->p;
	}
	out[n] = '\0';
	d->p++;
	return 0;
}

static int
jrecord(struct jdoc *d, const char *path, const char *start)
{
	size_t vl = (size_t)(d->p - start);

	if (d->n >= JMAX || strlen(path) >= sizeof(d->path[0]) ||
	    vl >= sizeof(d->value[0]))
		JFAIL(d, "document too big for the test");
	for (int i = 0; i < d->n; i++)
		if (strcmp(d->path[i], path) == 0)
			JFAIL(d, "duplicate key %s", path);
	strcpy(d->path[d->n], path);
	memcpy(d->value[d->n], start, vl);
	d->value[d->n][vl] = '\0';
	d->n++;
	return 0;
}

static int
jdigits(struct jdoc *d)
{
	if (!isdigit((unsigned char)*d->p))
		JFAIL(d, "digit expected at '%.20s'", d->p);
	while (isdigit((unsigned char)*d->p))
		d->p++;
	return 0;
}

static int
jnumber(struct jdoc *d)
{
	if (*d->p == '-')
		d->p++;
	if (*d->p == '0')
		d->p++;
	else if (jdigits(d) != 0)
		return -1;
	if (*d->p == '.') {
		d->p++;
		if (jdigits(d) != 0)
			return -1;
	}
	if (*d->p == 'e' || *d->p == 'E') {
		d->p++;
		if (*d->p == '+' || *d->p == '-')
			d->p++;
		if (jdigits(d) != 0)
			return -1;
	}
	return 0;
}

static int
jcontainer(struct jdoc *d, const char *path, int obj)
{
	char sub[96], key[64], len[16];
	int i = 0;

	d->p++;
	jspace(d);
	if (*d->p != (obj ? '}' : ']'))
		for (;;) {
			jspace(d);
			if (obj) {
				if (jstring(d, key, sizeof(key)) != 0)
					return -1;
				snprintf(sub, sizeof(sub), "%s%s%s", path,
				    *path ? "." : "", key);
				jspace(d);
				if (*d->p != ':')
					JFAIL(d, "':' expected at '%.20s'", d->p);
				d->p++;
			} else
				snprintf(sub, sizeof(sub), "%s[%d]", path, i);
			i++;
			if (jvalue(d, sub) != 0)
				return -1;
			jspace(d);
			if (*d->p != ',')
				break;
			d->p++;
		}
	if (*d->p != (obj ? '}' : ']'))
		JFAIL(d, "'%c' expected at '%.20s'", obj ? '}' : ']', d->p);
	d->p++;
	/* Arrays and objects record their size: "PATH.length". */
	snprintf(sub, sizeof(sub), "%s%slength", path, *path ? "." : "");
	snprintf(len, sizeof(len), "%d", i);
	if (d->n >= JMAX)
		JFAIL(d, "document too big for the test");
	strcpy(d->path[d->n], sub);
	strcpy(d->value[d->n], len);
	d->n++;
	return 0;
}

static int
jvalue(struct jdoc *d, const char *path)
{
	char str[64];
	const char *start;
	int rc;

	jspace(d);
	start = d->p;
	if (++d->depth > 32)
		JFAIL(d, "nested too deep");
	if (*d->p == '{' || *d->p == '[')
		rc = jcontainer(d, path, *d->p == '{');
	else {
		if (*d->p == '"')
			rc = jstring(d, str, sizeof(str));
		else if (strncmp(d->p, "true", 4) == 0)
			rc = 0, d->p += 4;
		else if (strncmp(d->p, "false", 5) == 0)
			rc = 0, d->p += 5;
		else if (strncmp(d->p, "null", 4) == 0)
			rc = 0, d->p += 4;
		else
			rc = jnumber(d);
		if (rc == 0)
			rc = jrecord(d, path, start);
	}
	d->depth--;
	return rc;
}

/* Parse s; NULL (and the reason in *why, if not NULL) if it is not JSON. */
static struct jdoc *
jparse_try(const char *s, char *why, size_t whylen)
{
	struct jdoc *d = calloc(1, sizeof(*d));

	cr_assert_not_null(d);
	d->p = s;
	if (jvalue(d, "") == 0) {
		jspace(d);
		if (*d->p == '\0')
			return d;
		snprintf(d->err, sizeof(d->err), "trailing bytes: '%.20s'", d->p);
	}
	if (why != NULL)
		snprintf(why, whylen, "%s", d->err);
	free(d);
	return NULL;
}

static struct jdoc *
jparse(const char *s)
{
	char why[128];
	struct jdoc *d = jparse_try(s, why, sizeof(why));

	cr_assert_not_null(d, "not JSON: %s\n%s", why, s);
	return d;
}

/* The value at path as written (strings with their quotes). */
static const char *
jget(const struct jdoc *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *
jget(const struct jdoc *d, const char *fmt, ...)
{
	char path[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	for (int i = 0; i < d->n; i++)
		if (strcmp(d->path[i], path) == 0)
			return d->value[i];
	cr_assert_fail("no %s in the JSON document", path);
	return NULL;
}

static void
assert_jnum(const struct jdoc *d, uint64_t want, const char *path)
{
	const char *v = jget(d, "%s", path);
	char w[32];

	cr_assert_not_null(v, "no %s", path);
	snprintf(w, sizeof(w), "%llu", (unsigned long long)want);
	cr_assert_str_eq(v, w, "%s", path);
}

Test(metrics_json, parses_and_ends_with_newline)
{
	char *s = render(STATUS_JSON);
	struct jdoc *d = jparse(s);

	cr_assert_eq(s[strlen(s) - 1], '\n');
	cr_assert_eq(count(s, "\n"), 1, "one line");
	cr_assert_str_eq(jget(d, "workers.length"), "2");
	assert_no_secrets(s);
	free(d);
	free(s);
}

Test(metrics_json, master_and_totals)
{
	char *s = render(STATUS_JSON);
	struct jdoc *d = jparse(s);
	char path[96];
	long long up;

	cr_assert_str_eq(jget(d, "master.pid"), "4242");
	assert_jnum(d, (uint64_t)(now - MASTER_AGE), "master.start_time");
	up = atoll(jget(d, "master.uptime_s"));
	cr_assert(up >= MASTER_AGE && up <= MASTER_AGE + 5, "uptime %lld", up);
	cr_assert_str_eq(jget(d, "master.reloads"), "3");
	cr_assert_str_eq(jget(d, "master.workers"), "2");
	cr_assert_str_eq(jget(d, "master.workers_up"), "1");
	cr_assert_str_eq(jget(d, "master.redis_up"), "1");
	cr_assert_str_eq(jget(d, "master.loss_window_ms"), "1500");
	for (size_t k = 0; k < NFIELDS; k++) {
		snprintf(path, sizeof(path), "master.totals.%s", fields[k].name);
		assert_jnum(d, total(k), path);
	}
	assert_jnum(d, m->w[0].restore_us_total + m->w[1].restore_us_total,
	    "master.totals.restore_us_total");
	free(d);
	free(s);
}

Test(metrics_json, workers)
{
	char *s = render(STATUS_JSON);
	struct jdoc *d = jparse(s);
	char path[96];

	cr_assert_str_eq(jget(d, "workers[0].tag"), "\"w0\"");
	cr_assert_str_eq(jget(d, "workers[0].pid"), "5000");
	cr_assert_str_eq(jget(d, "workers[0].up"), "true");
	cr_assert_str_eq(jget(d, "workers[0].redis_up"), "true");
	assert_jnum(d, (uint64_t)(now - W0_AGE), "workers[0].start_time");
	cr_assert_str_eq(jget(d, "workers[0].loss_window_ms"), "250");
	cr_assert_str_eq(jget(d, "workers[0].last_crash_signal"), "0");
	cr_assert_str_eq(jget(d, "workers[1].tag"), "\"web2-w_1\"");
	cr_assert_str_eq(jget(d, "workers[1].pid"), "5001");
	cr_assert_str_eq(jget(d, "workers[1].up"), "false");
	cr_assert_str_eq(jget(d, "workers[1].redis_up"), "false");
	cr_assert_str_eq(jget(d, "workers[1].start_time"), "1700000000");
	cr_assert_str_eq(jget(d, "workers[1].loss_window_ms"), "1500");
	cr_assert_str_eq(jget(d, "workers[1].last_crash_signal"), "9");
	for (unsigned i = 0; i < 2; i++) {
		for (size_t k = 0; k < NFIELDS; k++) {
			snprintf(path, sizeof(path), "workers[%u].%s", i, fields[k].name);
			assert_jnum(d, val(i, k), path);
		}
		snprintf(path, sizeof(path), "workers[%u].restore_us_total", i);
		assert_jnum(d, m->w[i].restore_us_total, path);
	}
	free(d);
	free(s);
}

/* The test's parser must accept JSON and refuse what is not. */
Test(metrics_json, test_parser_is_strict)
{
	static const char *const good[] = {
		"{}", "[]", " [true,false,null] ", "{\"a\":[1,2,{\"b\":-0.5e+3}]}",
		"{\"a\\\"b\":\"x\\n\"}", "0", "-0.0",
	};
	static const char *const bad[] = {
		"", "{", "}", "{\"a\":1,}", "[1,]", "{\"a\":1,\"a\":2}", "[01]",
		"[1.]", "[.5]", "[+1]", "{a:1}", "{'a':1}", "[\"x]", "[\"\\x\"]",
		"[nan]", "[NaN]", "[Infinity]", "[1] [2]", "{\"a\" 1}", "[tru]",
		"{\"a\":1}}",
	};
	struct jdoc *d;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		d = jparse_try(good[i], NULL, 0);
		cr_assert_not_null(d, "refused: %s", good[i]);
		free(d);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = jparse_try(bad[i], NULL, 0);
		cr_assert_null(d, "accepted: %s", bad[i]);
	}
	d = jparse("{\"a\":[10,{\"b\":\"x\"}],\"c\":true}");
	cr_assert_str_eq(jget(d, "a[0]"), "10");
	cr_assert_str_eq(jget(d, "a[1].b"), "\"x\"");
	cr_assert_str_eq(jget(d, "a.length"), "2");
	cr_assert_str_eq(jget(d, "c"), "true");
	cr_assert_str_eq(jget(d, "length"), "2");
	free(d);
}

Test(metrics_json, no_workers)
{
	struct metrics_shm *z;
	struct sticky_buf b;
	struct jdoc *d;

	cr_assert_eq(metrics_map(&z, 0), 0);
	buf_init(&b);
	cr_assert_eq(metrics_render(z, STATUS_JSON, &b), 0);
	cr_assert_eq(buf_append(&b, "", 1), 0);
	d = jparse((const char *)b.data);
	cr_assert_str_eq(jget(d, "workers.length"), "0");
	cr_assert_str_eq(jget(d, "master.workers_up"), "0");
	cr_assert_str_eq(jget(d, "master.totals.requests"), "0");
	free(d);
	buf_cleanup(&b);
	metrics_unmap(z);
}

/* ---- OpenMetrics ---- */

struct family {
	char name[128];
	int is_counter;
	int samples[2]; /* per worker */
	int unlabelled;
};

/*
 * Check the exposition line by line; returns the families, in order, with
 * how many samples each worker had.
 */
static int
om_check(const char *s, struct family *fam, int maxfam)
{
	int nf = 0;
	const char *line = s, *nl;
	size_t len = strlen(s);

	cr_assert(len >= 6 && strcmp(s + len - 6, "# EOF\n") == 0,
	    "does not end with '# EOF\\n'");
	cr_assert_eq(count(s, "# EOF"), 1);
	cr_assert_null(strstr(s, "\n\n"), "blank line");
	for (; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		char l[512], name[128], type[32], labels[128], value[64];
		char want[sizeof(fam->name) + 8], *end;
		size_t ll = (size_t)(nl - line), nlen;
		struct family *f = nf > 0 ? &fam[nf - 1] : NULL;
		const char *sp, *br;
		double v;

		cr_assert_lt(ll, sizeof(l));
		memcpy(l, line, ll);
		l[ll] = '\0';
		if (strcmp(l, "# EOF") == 0) {
			cr_assert_eq(nl[1], '\0', "'# EOF' is not last");
			break;
		}
		if (strncmp(l, "# TYPE ", 7) == 0) {
			cr_assert_eq(sscanf(l, "# TYPE %127s %31s", name, type), 2, "%s", l);
			cr_assert(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0,
			    "%s", l);
			for (int i = 0; i < nf; i++)
				cr_assert_str_neq(fam[i].name, name, "family %s twice", name);
			cr_assert_lt(nf, maxfam);
			f = &fam[nf++];
			memset(f, 0, sizeof(*f));
			snprintf(f->name, sizeof(f->name), "%s", name);
			f->is_counter = strcmp(type, "counter") == 0;
			nlen = strlen(name);
			cr_assert(strncmp(name, "sticky_", 7) == 0, "%s", name);
			cr_assert(nlen < 6 || strcmp(name + nlen - 6, "_total") != 0,
			    "family names do not end in _total: %s", name);
			for (const char *c = name; *c; c++)
				cr_assert(isalnum((unsigned char)*c) || *c == '_', "%s", name);
			continue;
		}
		if (strncmp(l, "# HELP ", 7) == 0) {
			cr_assert_not_null(f, "HELP before any TYPE");
			cr_assert(strncmp(l + 7, f->name, strlen(f->name)) == 0 &&
			    l[7 + strlen(f->name)] == ' ', "HELP of another family: %s", l);
			cr_assert_null(strchr(l, '\\'), "unescaped backslash: %s", l);
			continue;
		}
		cr_assert_neq(l[0], '#', "unknown comment: %s", l);
		cr_assert_not_null(f, "sample before any TYPE: %s", l);

		/* name[{labels}] value */
		sp = strrchr(l, ' ');
		br = strchr(l, '{');
		cr_assert_not_null(sp, "%s", l);
		nlen = (size_t)((br != NULL && br < sp ? br : sp) - l);
		cr_assert_lt(nlen, sizeof(name));
		memcpy(name, l, nlen);
		name[nlen] = '\0';
		snprintf(want, sizeof(want), "%s%s", f->name,
		    f->is_counter ? "_total" : "");
		cr_assert_str_eq(name, want, "sample of family %s named %s",
		    f->name, name);
		if (br != NULL && br < sp) {
			const char *rb = strchr(br, '}');

			cr_assert_not_null(rb, "%s", l);
			cr_assert_eq(rb + 1, sp, "%s", l);
			cr_assert_lt((size_t)(rb - br), sizeof(labels));
			memcpy(labels, br + 1, (size_t)(rb - br - 1));
			labels[rb - br - 1] = '\0';
			/* One label, worker="TAG", TAG of [A-Za-z0-9_-]. */
			cr_assert(strncmp(labels, "worker=\"", 8) == 0, "%s", l);
			nlen = strlen(labels);
			cr_assert(nlen > 9 && labels[nlen - 1] == '"', "label unquoted: %s", l);
			for (size_t i = 8; i < nlen - 1; i++)
				cr_assert(isalnum((unsigned char)labels[i]) ||
				    labels[i] == '_' || labels[i] == '-', "%s", l);
			labels[nlen - 1] = '\0';
			if (strcmp(labels + 8, "w0") == 0)
				f->samples[0]++;
			else if (strcmp(labels + 8, "web2-w_1") == 0)
				f->samples[1]++;
			else
				cr_assert_fail("unknown worker: %s", l);
		} else
			f->unlabelled++;
		snprintf(value, sizeof(value), "%s", sp + 1);
		v = strtod(value, &end);
		cr_assert(*value != '\0' && *end == '\0', "not a number: %s", l);
		cr_assert(isfinite(v), "not finite: %s", l);
		if (f->is_counter)
			cr_assert_geq(v, 0, "negative counter: %s", l);
	}
	return nf;
}

Test(metrics_openmetrics, well_formed)
{
	char *s = render(STATUS_OPENMETRICS);
	struct family fam[64];
	int nf = om_check(s, fam, 64);

	cr_assert_geq(nf, (int)NFIELDS);
	for (int i = 0; i < nf; i++) {
		int master = strcmp(fam[i].name, "sticky_master_start_time_seconds") == 0 ||
		    strcmp(fam[i].name, "sticky_reloads") == 0 ||
		    strcmp(fam[i].name, "sticky_inflight_crashes") == 0 ||
		    strcmp(fam[i].name, "sticky_quarantines") == 0;

		if (master) {
			cr_assert_eq(fam[i].unlabelled, 1, "%s", fam[i].name);
			cr_assert_eq(fam[i].samples[0] + fam[i].samples[1], 0);
		} else {
			cr_assert_eq(fam[i].unlabelled, 0, "%s", fam[i].name);
			cr_assert_eq(fam[i].samples[0], 1, "%s: w0", fam[i].name);
			cr_assert_eq(fam[i].samples[1], 1, "%s: w1", fam[i].name);
		}
	}
	for (size_t k = 0; k < NFIELDS; k++) {
		int found = 0;

		for (int i = 0; i < nf; i++)
			if (strncmp(fam[i].name, "sticky_", 7) == 0 &&
			    strcmp(fam[i].name + 7, fields[k].name) == 0) {
				found = 1;
				cr_assert_eq(fam[i].is_counter, fields[k].is_counter,
				    "%s: counter or gauge", fields[k].name);
			}
		cr_assert(found, "no family for %s", fields[k].name);
	}
	assert_no_secrets(s);
	free(s);
}

Test(metrics_openmetrics, values)
{
	char *s = render(STATUS_OPENMETRICS);
	char want[160];
	const char *tag[2] = { "w0", "web2-w_1" };

	for (size_t k = 0; k < NFIELDS; k++)
		for (unsigned i = 0; i < 2; i++) {
			snprintf(want, sizeof(want), "\nsticky_%s%s{worker=\"%s\"} %llu\n",
			    fields[k].name, fields[k].is_counter ? "_total" : "", tag[i],
			    (unsigned long long)val(i, k));
			cr_assert_eq(count(s, want), 1, "want once: %s", want + 1);
		}
	/* By hand, once per kind. */
	cr_assert_not_null(strstr(s, "\nsticky_requests_total{worker=\"w0\"} 11\n"));
	cr_assert_not_null(strstr(s, "\nsticky_sessions{worker=\"web2-w_1\"} 2002\n"));
	cr_assert_not_null(strstr(s, "\nsticky_crashes_total{worker=\"web2-w_1\"} 24002\n"));

	snprintf(want, sizeof(want), "\nsticky_master_start_time_seconds %lld\n",
	    (long long)(now - MASTER_AGE));
	cr_assert_not_null(strstr(s, want), "%s", want + 1);
	cr_assert_not_null(strstr(s, "\nsticky_reloads_total 3\n"));
	cr_assert_not_null(strstr(s, "\nsticky_worker_pid{worker=\"w0\"} 5000\n"));
	cr_assert_not_null(strstr(s, "\nsticky_worker_pid{worker=\"web2-w_1\"} 5001\n"));
	snprintf(want, sizeof(want),
	    "\nsticky_worker_start_time_seconds{worker=\"w0\"} %lld\n",
	    (long long)(now - W0_AGE));
	cr_assert_not_null(strstr(s, want), "%s", want + 1);
	cr_assert_not_null(strstr(s,
	    "\nsticky_worker_start_time_seconds{worker=\"web2-w_1\"} 1700000000\n"));
	cr_assert_not_null(strstr(s, "\nsticky_worker_up{worker=\"w0\"} 1\n"));
	cr_assert_not_null(strstr(s, "\nsticky_worker_up{worker=\"web2-w_1\"} 0\n"));
	cr_assert_not_null(strstr(s, "\nsticky_redis_up{worker=\"w0\"} 1\n"));
	cr_assert_not_null(strstr(s, "\nsticky_redis_up{worker=\"web2-w_1\"} 0\n"));
	cr_assert_not_null(strstr(s, "\nsticky_loss_window_seconds{worker=\"w0\"} 0.250\n"));
	cr_assert_not_null(strstr(s,
	    "\nsticky_loss_window_seconds{worker=\"web2-w_1\"} 1.500\n"));
	/* restore_hits: 101 and 10002; 250 us and 1000 us each. */
	cr_assert_not_null(strstr(s,
	    "\nsticky_restore_seconds_total{worker=\"w0\"} 0.025250\n"), "%s", s);
	cr_assert_not_null(strstr(s,
	    "\nsticky_restore_seconds_total{worker=\"web2-w_1\"} 10.002000\n"), "%s", s);
	cr_assert_not_null(strstr(s, "# TYPE sticky_restore_seconds counter\n"));
	cr_assert_not_null(strstr(s, "# TYPE sticky_reloads counter\n"));
	free(s);
}

Test(metrics_openmetrics, no_master_totals)
{
	char *s = render(STATUS_OPENMETRICS);
	char want[96];

	/* Totals are sum() by the scraper: no unlabelled per-counter samples. */
	for (size_t k = 0; k < NFIELDS; k++) {
		snprintf(want, sizeof(want), "\nsticky_%s%s ", fields[k].name,
		    fields[k].is_counter ? "_total" : "");
		cr_assert_null(strstr(s, want), "unlabelled %s", want + 1);
	}
	free(s);
}

/* ---- every format ---- */

Test(metrics_text, extreme_values_render_exactly)
{
	size_t k = field_index("requests");
	char *s;
	struct jdoc *d;

	*field(&m->w[0], k) = UINT64_MAX;
	*field(&m->w[1], k) = 0;
	m->w[0].restore_us_total = UINT64_MAX;
	s = render(STATUS_TEXT);
	cr_assert_not_null(strstr(s, "\n  requests           18446744073709551615\n"),
	    "%s", s);
	free(s);
	s = render(STATUS_JSON);
	d = jparse(s);
	cr_assert_str_eq(jget(d, "master.totals.requests"), "18446744073709551615");
	cr_assert_str_eq(jget(d, "workers[0].requests"), "18446744073709551615");
	free(d);
	free(s);
	s = render(STATUS_OPENMETRICS);
	cr_assert_not_null(strstr(s,
	    "\nsticky_requests_total{worker=\"w0\"} 18446744073709551615\n"));
	assert_no_secrets(s);
	free(s);
}

Test(metrics_text, render_appends)
{
	struct sticky_buf b;
	size_t before;

	buf_init(&b);
	cr_assert_eq(buf_puts(&b, "HEAD"), 0);
	before = b.len;
	cr_assert_eq(metrics_render(m, STATUS_OPENMETRICS, &b), 0);
	cr_assert_gt(b.len, before);
	cr_assert_eq(memcmp(b.data, "HEAD# TYPE ", 11), 0, "appended after HEAD");
	buf_cleanup(&b);
}

Test(metrics_text, unknown_format_is_text)
{
	struct sticky_buf b;

	buf_init(&b);
	cr_assert_eq(metrics_render(m, (enum status_format)42, &b), 0);
	cr_assert_eq(strncmp((const char *)b.data, "master pid 4242, ", 17), 0);
	buf_cleanup(&b);
}
