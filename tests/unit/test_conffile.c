/*
 * test_conffile.c: the stickyd.conf grammar and file loading (conffile.c).
 *
 * Limits: files are made under $TMPDIR (default /tmp) and removed by each
 * test; the FIFO test relies on conffile_load opening without blocking.
 * The collector keeps at most 16 pairs per parse.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <sticky/sticky.h>
#include "internal.h"
#include "conffile.h"

struct seen {
	int n;
	char key[16][128];
	char value[16][5000];
	int fail_at;  /* 1-based call that fails, 0: never */
	int fail_rc;
	const char *fail_msg; /* NULL: leave err empty */
};

static int
collect(const char *key, const char *value, void *arg, char *err,
    size_t errlen)
{
	struct seen *s = arg;

	cr_assert_lt(s->n, 16);
	cr_assert_lt(strlen(key), sizeof(s->key[0]));
	cr_assert_lt(strlen(value), sizeof(s->value[0]));
	strcpy(s->key[s->n], key);
	strcpy(s->value[s->n], value);
	s->n++;
	if (s->fail_at == s->n) {
		if (s->fail_msg != NULL)
			snprintf(err, errlen, "%s", s->fail_msg);
		return s->fail_rc;
	}
	return 0;
}

static int
parse(const char *text, struct seen *s, char *err, size_t errlen)
{
	return conffile_parse(text, strlen(text), "t.conf", collect, s, err,
	    errlen);
}

static struct seen *
fresh(void)
{
	static struct seen s;

	memset(&s, 0, sizeof(s));
	return &s;
}

#define OK(text, s) do {                                                 \
	char e_[256];                                                    \
	cr_assert_eq(parse((text), (s), e_, sizeof(e_)), 0, "%s", e_);  \
} while (0)

#define BAD(text, want_err) do {                                         \
	char e_[256];                                                    \
	struct seen *s_ = fresh();                                       \
	cr_assert_eq(parse((text), s_, e_, sizeof(e_)), STICKY_ECONFIG,  \
	    "accepted [%s]", (text));                                    \
	cr_assert_str_eq(e_, (want_err));                                \
	cr_assert_eq(s_->n, 0, "callback called on a bad file");         \
} while (0)

Test(conffile, keys_values_comments)
{
	struct seen *s = fresh();

	OK("# a comment\n"
	   "\n"
	   "   \t\n"
	   "workers = 4\n"
	   "  listen=127.0.0.1:9000  \n"
	   "\t# indented comment\n"
	   "empty =\n"
	   "log-level\t=\tdebug # trailing\n"
	   "url = http://x/#frag\n"
	   "hash = #not-a-value\n"
	   "a.b_c-D9 = x = y\n", s);
	cr_assert_eq(s->n, 7);
	cr_assert_str_eq(s->key[0], "workers");
	cr_assert_str_eq(s->value[0], "4");
	cr_assert_str_eq(s->key[1], "listen");
	cr_assert_str_eq(s->value[1], "127.0.0.1:9000");
	cr_assert_str_eq(s->key[2], "empty");
	cr_assert_str_eq(s->value[2], "");
	cr_assert_str_eq(s->key[3], "log-level");
	cr_assert_str_eq(s->value[3], "debug");
	cr_assert_str_eq(s->value[4], "http://x/#frag");
	cr_assert_str_eq(s->value[5], "");
	cr_assert_str_eq(s->key[6], "a.b_c-D9");
	cr_assert_str_eq(s->value[6], "x = y");
}

Test(conffile, quoted_values)
{
	struct seen *s = fresh();

	OK("a = \"  two  spaces  \"\n"
	   "b = \"say \\\"hi\\\" \\\\o/\"\n"
	   "c = \"# not a comment\"   # a comment\n"
	   "d = \"\"\n"
	   "e=\"x\"", s);
	cr_assert_eq(s->n, 5);
	cr_assert_str_eq(s->value[0], "  two  spaces  ");
	cr_assert_str_eq(s->value[1], "say \"hi\" \\o/");
	cr_assert_str_eq(s->value[2], "# not a comment");
	cr_assert_str_eq(s->value[3], "");
	cr_assert_str_eq(s->value[4], "x");
	BAD("a = 1\nb = \"open\n", "t.conf:2: unterminated quote");
	BAD("b = \"open\\\"\n", "t.conf:1: unterminated quote");
	BAD("b = \"ends in backslash\\", "t.conf:1: unterminated quote");
	BAD("b = \"x\" y\n", "t.conf:1: junk after quoted value");
	BAD("b = \"x\"\"y\"\n", "t.conf:1: junk after quoted value");
	BAD("b = \"a\\nb\"\n", "t.conf:1: bad escape in quoted value");
}

Test(conffile, sections)
{
	struct seen *s = fresh();

	OK("top = 1\n"
	   "[redis]\n"
	   "host = r1\n"
	   "  [ignored-not]  \n", s);
	cr_assert_str_eq(s->key[0], "top");
	cr_assert_str_eq(s->key[1], "redis.host");
	BAD("[a b]\n", "t.conf:1: bad character in section name");
	s = fresh();
	OK("[redis] # primary\nhost = r1\n[web.front-1]\nport = 1\n", s);
	cr_assert_str_eq(s->key[0], "redis.host");
	cr_assert_str_eq(s->key[1], "web.front-1.port");
	BAD("[]\n", "t.conf:1: empty section name");
	BAD("[redis\n", "t.conf:1: expected ']'");
	BAD("[redis] x\n", "t.conf:1: junk after section");
	BAD("[re$dis]\n", "t.conf:1: bad character in section name");
}

Test(conffile, syntax_errors_name_file_and_line)
{
	BAD("a = 1\nnovalue\n", "t.conf:2: expected key = value");
	BAD("a = 1\n\n# c\n  = v\n", "t.conf:4: empty key");
	BAD("k y = v\n", "t.conf:1: bad character in key");
	BAD("k$ = v\n", "t.conf:1: bad character in key");
	BAD("\"k\" = v\n", "t.conf:1: bad character in key");
	BAD("caf\xc3\xa9 = v\n", "t.conf:1: bad character in key");
	/* The error on the last line: no callback for the lines before. */
	BAD("a = 1\nb = 2\nc = 3\nbroken", "t.conf:4: expected key = value");
}

Test(conffile, nul_bytes)
{
	static const char t[] = "a = 1\nb = x\0y\nc = 3\n";
	struct seen *s = fresh();
	char err[128];

	cr_assert_eq(conffile_parse(t, sizeof(t) - 1, "t.conf", collect, s,
	    err, sizeof(err)), STICKY_ECONFIG);
	cr_assert_str_eq(err, "t.conf:2: NUL byte");
	cr_assert_eq(s->n, 0);
	/* Bytes past len are not read. */
	cr_assert_eq(conffile_parse(t, 11, "t.conf", collect, s, err,
	    sizeof(err)), 0);
	cr_assert_eq(s->n, 2);
	cr_assert_str_eq(s->value[1], "x");
}

Test(conffile, line_length_limit)
{
	char *t = malloc(2 * 4096 + 16);
	struct seen *s = fresh();
	char err[128];
	size_t n;

	cr_assert_not_null(t);
	/* "k = vvvv...": exactly 4096 bytes, with LF and then with CRLF. */
	memcpy(t, "k = ", 4);
	memset(t + 4, 'v', 4092);
	memcpy(t + 4096, "\n", 2);
	cr_assert_eq(conffile_parse(t, 4097, "t.conf", collect, s, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(strlen(s->value[0]), 4092);
	memcpy(t + 4096, "\r\n", 3);
	cr_assert_eq(conffile_parse(t, 4098, "t.conf", collect, s, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(strlen(s->value[1]), 4092);
	/* One byte more. */
	s = fresh();
	memcpy(t, "a = 1\nk = ", 10);
	memset(t + 10, 'v', 4093);
	n = 10 + 4093;
	t[n++] = '\n';
	cr_assert_eq(conffile_parse(t, n, "t.conf", collect, s, err,
	    sizeof(err)), STICKY_ECONFIG);
	cr_assert_str_eq(err, "t.conf:2: line too long");
	cr_assert_eq(s->n, 0);
	/* Without a final newline too. */
	cr_assert_eq(conffile_parse(t, n - 1, "t.conf", collect, s, err,
	    sizeof(err)), STICKY_ECONFIG);
	cr_assert_str_eq(err, "t.conf:2: line too long");
	free(t);
}

static int
check_long_key(const char *key, const char *value, void *arg, char *err,
    size_t errlen)
{
	size_t *calls = arg;

	cr_assert_eq(strlen(key), 4094 + 1 + 4094);
	cr_assert_eq(key[4094], '.');
	cr_assert_str_eq(value, "1");
	(*calls)++;
	return 0;
}

Test(conffile, longest_section_and_key_reach_callback)
{
	char *t = malloc(3 * 4096 + 16);
	char err[128];
	size_t n = 0, calls = 0;

	cr_assert_not_null(t);
	t[n++] = '[';
	memset(t + n, 's', 4094);
	n += 4094;
	memcpy(t + n, "]\n", 2);
	n += 2;
	memset(t + n, 'k', 4094);
	n += 4094;
	memcpy(t + n, "=1\n", 3);
	n += 3;
	cr_assert_eq(conffile_parse(t, n, "t.conf", check_long_key, &calls,
	    err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(calls, 1);
	free(t);
}

Test(conffile, crlf_and_bom)
{
	struct seen *s = fresh();

	OK("\xef\xbb\xbf" "a = 1\r\nb = \"2\"\r\n# c\r\n[s]\r\nc = 3", s);
	cr_assert_eq(s->n, 3);
	cr_assert_str_eq(s->key[0], "a");
	cr_assert_str_eq(s->value[0], "1");
	cr_assert_str_eq(s->value[1], "2");
	cr_assert_str_eq(s->key[2], "s.c");
	cr_assert_str_eq(s->value[2], "3");
	/* A BOM anywhere else is just bad bytes. */
	BAD("a = 1\n\xef\xbb\xbf" "b = 2\n", "t.conf:2: bad character in key");
	/* Only one CR is a line ending. */
	s = fresh();
	OK("a = 1\r\r\n", s);
	cr_assert_str_eq(s->value[0], "1\r");
}

Test(conffile, callback_error_is_prefixed)
{
	struct seen *s = fresh();
	char err[128];

	s->fail_at = 2;
	s->fail_rc = STICKY_EINVAL;
	s->fail_msg = "port: not a number";
	cr_assert_eq(parse("a = 1\n# x\nport = abc\nc = 3\n", s, err,
	    sizeof(err)), STICKY_EINVAL);
	cr_assert_str_eq(err, "t.conf:3: port: not a number");
	cr_assert_eq(s->n, 2, "callbacks went on after an error");
	/* Without a message: the code's text. */
	s = fresh();
	s->fail_at = 1;
	s->fail_rc = STICKY_ETOOBIG;
	cr_assert_eq(parse("a = 1\n", s, err, sizeof(err)), STICKY_ETOOBIG);
	cr_assert_str_eq(err, "t.conf:1: input over a configured limit");
	/* A positive return is still an error. */
	s = fresh();
	s->fail_at = 1;
	s->fail_rc = 1;
	cr_assert_eq(parse("a = 1\n", s, err, sizeof(err)), STICKY_ECONFIG);
	cr_assert_str_eq(err, "t.conf:1: configuration error");
}

Test(conffile, err_buffer_edges)
{
	struct seen *s = fresh();
	char err[8];

	memset(err, 'x', sizeof(err));
	cr_assert_eq(parse("oops\n", s, err, sizeof(err)), STICKY_ECONFIG);
	cr_assert_str_eq(err, "t.conf:");
	cr_assert_eq(parse("oops\n", s, NULL, 0), STICKY_ECONFIG);
	cr_assert_eq(parse("oops\n", s, err, 0), STICKY_ECONFIG);
	cr_assert_eq(conffile_parse("a=1", 3, NULL, collect, s, err,
	    sizeof(err)), 0);
	cr_assert_eq(conffile_parse("oops", 4, NULL, collect, s, err,
	    sizeof(err)), STICKY_ECONFIG);
	cr_assert_eq(conffile_parse(NULL, 0, "t", collect, s, err,
	    sizeof(err)), 0);
	cr_assert_eq(conffile_parse(NULL, 1, "t", collect, s, err,
	    sizeof(err)), STICKY_EINVAL);
	/* No callback: a syntax check. */
	cr_assert_eq(conffile_parse("a=1\n", 4, "t", NULL, NULL, err,
	    sizeof(err)), 0);
}

Test(conffile, out_of_memory)
{
	struct seen *s = fresh();
	char err[64];

	alloc_fail_after(1);
	cr_assert_eq(parse("a = 1\n", s, err, sizeof(err)), STICKY_ENOMEM);
	alloc_fail_after(0);
	cr_assert_str_eq(err, "t.conf: out of memory");
	cr_assert_eq(s->n, 0);
}

/* ---- conffile_load ---- */

static char tmpdir[256];

static void
make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/conffile.XXXXXX",
	    t != NULL ? t : "/tmp");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void
remove_tmpdir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", tmpdir);
}

static const char *
write_file(const char *name, const void *data, size_t len)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	return path;
}

TestSuite(conffile_load, .init = make_tmpdir, .fini = remove_tmpdir);

Test(conffile_load, reads_and_parses)
{
	const char *text = "workers = 2\n[redis]\nhost = \"r 1\"\n";
	const char *path = write_file("ok.conf", text, strlen(text));
	struct seen *s = fresh();
	char err[256];

	cr_assert_eq(conffile_load(path, collect, s, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(s->n, 2);
	cr_assert_str_eq(s->key[1], "redis.host");
	cr_assert_str_eq(s->value[1], "r 1");
}

Test(conffile_load, errors_name_the_path)
{
	const char *path = write_file("bad.conf", "a = 1\nb\n", 8);
	struct seen *s = fresh();
	char err[512], want[512];

	cr_assert_eq(conffile_load(path, collect, s, err, sizeof(err)),
	    STICKY_ECONFIG);
	snprintf(want, sizeof(want), "%s:2: expected key = value", path);
	cr_assert_str_eq(err, want);
	cr_assert_eq(s->n, 0);
}

Test(conffile_load, missing_file)
{
	char err[512], path[512];

	snprintf(path, sizeof(path), "%s/nope.conf", tmpdir);
	cr_assert_eq(conffile_load(path, collect, fresh(), err, sizeof(err)),
	    STICKY_ESYS);
	cr_assert_eq(errno, ENOENT);
	cr_assert(strstr(err, path) == err, "%s", err);
	cr_assert(strstr(err, strerror(ENOENT)) != NULL, "%s", err);
	cr_assert_eq(conffile_load(NULL, collect, fresh(), err, sizeof(err)),
	    STICKY_EINVAL);
}

Test(conffile_load, refuses_non_regular_files)
{
	char err[512], fifo[512];

	cr_assert_eq(conffile_load(tmpdir, collect, fresh(), err, sizeof(err)),
	    STICKY_ECONFIG);
	cr_assert(strstr(err, "not a regular file") != NULL, "%s", err);
	cr_assert_eq(conffile_load("/dev/null", collect, fresh(), err,
	    sizeof(err)), STICKY_ECONFIG);
	/* No writer: a blocking open would hang here. */
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_assert_eq(conffile_load(fifo, collect, fresh(), err, sizeof(err)),
	    STICKY_ECONFIG);
}

Test(conffile_load, one_mib_limit)
{
	size_t max = 1024 * 1024;
	char *t = malloc(max + 1), err[512];
	const char *path;

	cr_assert_not_null(t);
	/* 1 MiB of comment lines and one key at the end. */
	memset(t, '#', max + 1);
	for (size_t i = 99; i < max; i += 100)
		t[i] = '\n';
	memcpy(t + max - 6, "\nk = v", 6);
	path = write_file("max.conf", t, max);
	cr_assert_eq(conffile_load(path, collect, fresh(), err, sizeof(err)),
	    0, "%s", err);
	path = write_file("over.conf", t, max + 1);
	cr_assert_eq(conffile_load(path, collect, fresh(), err, sizeof(err)),
	    STICKY_ETOOBIG);
	cr_assert(strstr(err, "larger than 1 MiB") != NULL, "%s", err);
	free(t);
}
