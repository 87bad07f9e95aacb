/*
 * conffile.c: the stickyd.conf grammar (see conffile.h), turned into one
 * callback per "key = value".  It owns only the syntax: what keys mean is
 * config.c's business.  The text is checked completely before the first
 * callback, so a file with a syntax error on its last line changes
 * nothing, and every error names file:line so an operator can fix it
 * without guessing.  conffile_load() is the one function here that does
 * I/O, and it refuses anything but a regular file of at most 1 MiB.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "conffile.h"

#define CONF_LINE_MAX 4096 /* bytes, without the line ending */
#define CONF_FILE_MAX (1024 * 1024)
#define CONF_CBERR_MAX 512 /* the callback's reason */

struct parser {
	const char *fname;
	size_t line;
	conffile_cb cb; /* NULL: check the syntax only */
	void *arg;
	char *err; /* borrowed, may be NULL */
	size_t errlen;
	size_t seclen; /* 0: no [section] yet */
	char section[CONF_LINE_MAX + 1];
	char key[2 * CONF_LINE_MAX + 2]; /* "section.key" */
	char value[CONF_LINE_MAX + 1];
};

static int
is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_keychar(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static int
syntax(struct parser *ps, const char *reason)
{
	if (ps->err != NULL && ps->errlen > 0)
		snprintf(ps->err, ps->errlen, "%s:%zu: %s", ps->fname, ps->line,
		    reason);
	return STICKY_ECONFIG;
}

/* Only whitespace or a comment may follow position p. */
static int
rest_is_blank(const char *p, const char *end)
{
	while (p < end && is_ws(*p))
		p++;
	return p == end || *p == '#';
}

static int
parse_section(struct parser *ps, const char *p, const char *end)
{
	const char *name = ++p; /* past '[' */

	while (p < end && is_keychar(*p))
		p++;
	if (p == end)
		return syntax(ps, "expected ']'");
	if (*p != ']')
		return syntax(ps, "bad character in section name");
	if (p == name)
		return syntax(ps, "empty section name");
	if (!rest_is_blank(p + 1, end))
		return syntax(ps, "junk after section");
	ps->seclen = (size_t)(p - name);
	memcpy(ps->section, name, ps->seclen);
	ps->section[ps->seclen] = '\0';
	return 0;
}

/* A "quoted value" with \" and \\; p is past the opening quote. */
static int
parse_quoted(struct parser *ps, const char *p, const char *end)
{
	size_t n = 0;

	while (p < end && *p != '"') {
		if (*p == '\\') {
			if (++p == end)
				break;
			if (*p != '"' && *p != '\\')
				return syntax(ps, "bad escape in quoted value");
		}
		ps->value[n++] = *p++;
	}
	if (p == end)
		return syntax(ps, "unterminated quote");
	if (!rest_is_blank(p + 1, end))
		return syntax(ps, "junk after quoted value");
	ps->value[n] = '\0';
	return 0;
}

/*
 * An unquoted value runs to the end of the line, less a comment: a '#'
 * that starts the value or follows whitespace, so "a#b" keeps its '#'.
 */
static void
parse_plain(struct parser *ps, const char *p, const char *end)
{
	const char *e = p;
	size_t n;

	while (e < end && !(*e == '#' && (e == p || is_ws(e[-1]))))
		e++;
	while (e > p && is_ws(e[-1]))
		e--;
	n = (size_t)(e - p);
	memcpy(ps->value, p, n);
	ps->value[n] = '\0';
}

static int
parse_line(struct parser *ps, const char *p, size_t len)
{
	const char *end = p + len, *eq, *ke;
	char cberr[CONF_CBERR_MAX];
	size_t klen, off = 0;
	int rc;

	if (len > CONF_LINE_MAX)
		return syntax(ps, "line too long");
	if (memchr(p, '\0', len) != NULL)
		return syntax(ps, "NUL byte");
	while (p < end && is_ws(*p))
		p++;
	if (p == end || *p == '#')
		return 0;
	if (*p == '[')
		return parse_section(ps, p, end);

	if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL)
		return syntax(ps, "expected key = value");
	for (ke = eq; ke > p && is_ws(ke[-1]); ke--)
		;
	if (ke == p)
		return syntax(ps, "empty key");
	klen = (size_t)(ke - p);
	for (size_t i = 0; i < klen; i++)
		if (!is_keychar(p[i]))
			return syntax(ps, "bad character in key");
	if (ps->seclen > 0) {
		memcpy(ps->key, ps->section, ps->seclen);
		ps->key[ps->seclen] = '.';
		off = ps->seclen + 1;
	}
	memcpy(ps->key + off, p, klen);
	ps->key[off + klen] = '\0';

	for (p = eq + 1; p < end && is_ws(*p); p++)
		;
	if (p < end && *p == '"') {
		if ((rc = parse_quoted(ps, p + 1, end)) != 0)
			return rc;
	} else
		parse_plain(ps, p, end);

	if (ps->cb == NULL)
		return 0;
	cberr[0] = '\0';
	if ((rc = ps->cb(ps->key, ps->value, ps->arg, cberr,
	    sizeof(cberr))) == 0)
		return 0;
	if (rc > 0)
		rc = STICKY_ECONFIG;
	if (ps->err != NULL && ps->errlen > 0)
		snprintf(ps->err, ps->errlen, "%s:%zu: %s", ps->fname, ps->line,
		    cberr[0] != '\0' ? cberr : sticky_strerror(rc));
	return rc;
}

static int
parse_all(struct parser *ps, const char *text, size_t len)
{
	const char *p = text, *end = text + len, *nl;
	size_t n;
	int rc;

	ps->line = 0;
	ps->seclen = 0;
	/* A UTF-8 byte order mark, as some editors write. */
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		ps->line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if ((rc = parse_line(ps, p, n)) != 0)
			return rc;
		p = nl != NULL ? nl + 1 : end;
	}
	return 0;
}

int
conffile_parse(const char *text, size_t len, const char *fname,
    conffile_cb cb, void *arg, char *err, size_t errlen)
{
	struct parser *ps;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (fname == NULL)
		fname = "(config)";
	if (text == NULL) {
		if (len > 0)
			return STICKY_EINVAL;
		text = "";
	}
	if ((ps = xmalloc(sizeof(*ps))) == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory", fname);
		return STICKY_ENOMEM;
	}
	ps->fname = fname;
	ps->cb = NULL;
	ps->arg = arg;
	ps->err = err;
	ps->errlen = errlen;
	/* The syntax of the whole text first: no callback on a bad file. */
	if ((rc = parse_all(ps, text, len)) == 0 && cb != NULL) {
		ps->cb = cb;
		rc = parse_all(ps, text, len);
	}
	xfree(ps);
	return rc;
}

int
conffile_load(const char *path, conffile_cb cb, void *arg, char *err,
    size_t errlen)
{
	struct sticky_buf b;
	struct stat st;
	size_t want;
	ssize_t n;
	int fd = -1, rc = 0, saved;

	buf_init(&b);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL)
		return STICKY_EINVAL;
	/* O_NONBLOCK: opening a FIFO must not hang; fstat refuses it next. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1 || fstat(fd, &st) == -1) {
		rc = STICKY_ESYS;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = STICKY_ECONFIG;
		goto fail;
	}
	if (st.st_size > CONF_FILE_MAX) {
		rc = STICKY_ETOOBIG;
		goto fail;
	}
	/* Read to EOF, not st_size: the file may change under us. */
	for (;;) {
		want = CONF_FILE_MAX + 1 - b.len;
		if (want > 65536)
			want = 65536;
		if ((rc = buf_reserve(&b, want)) != 0)
			goto fail;
		if ((n = read(fd, b.data + b.len, want)) == -1) {
			if (errno == EINTR)
				continue;
			rc = STICKY_ESYS;
			goto fail;
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
		if (b.len > CONF_FILE_MAX) {
			rc = STICKY_ETOOBIG;
			goto fail;
		}
	}
	close(fd);
	rc = conffile_parse((const char *)b.data, b.len, path, cb, arg, err,
	    errlen);
	buf_cleanup(&b);
	return rc;

fail:
	saved = errno;
	if (err != NULL && errlen > 0) {
		if (rc == STICKY_ESYS)
			snprintf(err, errlen, "%s: %s", path, strerror(saved));
		else if (rc == STICKY_ECONFIG)
			snprintf(err, errlen, "%s: not a regular file", path);
		else if (rc == STICKY_ETOOBIG)
			snprintf(err, errlen, "%s: larger than 1 MiB", path);
		else
			snprintf(err, errlen, "%s: %s", path,
			    sticky_strerror(rc));
	}
	if (fd != -1)
		close(fd);
	buf_cleanup(&b);
	errno = saved;
	return rc;
}
