/*
 * cookie.c: the two ends of the session cookie.  cookie_find() picks one
 * cookie out of a client's Cookie header, lenient about spacing as RFC 6265
 * section 5.4 allows user agents to be, but bounded in size and exact about
 * the name, so that "XSID" or "SID2" never stand in for "SID".
 * cookie_format() writes the Set-Cookie value and refuses anything a
 * browser could read differently than we meant (bad octets, SameSite=None
 * without Secure).  Both are pure: bytes in, bytes out.
 */
#include <string.h>

#include "internal.h"
#include "cookie.h"

static int
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 6265 cookie-octet: ASCII but CTLs, space, DQUOTE, ',', ';', '\'. */
static int
is_cookie_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) ||
	    (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) ||
	    (c >= 0x5d && c <= 0x7e);
}

/* RFC 2616 token character, which RFC 6265 uses for cookie names. */
static int
is_token_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return 0;
	return strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

int
cookie_find(const char *hdr, size_t len, const char *name,
    const char **val, size_t *vlen)
{
	const char *p, *end, *pair, *eq, *ne, *vs, *ve;
	size_t namelen;

	if (hdr == NULL || name == NULL || (namelen = strlen(name)) == 0)
		return STICKY_EINVAL;
	if (len > COOKIE_HEADER_MAX)
		return STICKY_ETOOBIG;
	/*
	 * No header field carries a NUL; one here was smuggled past the
	 * front-end, and a C string copy of a value would cut it short.
	 */
	if (memchr(hdr, '\0', len) != NULL)
		return STICKY_EPROTO;
	p = hdr;
	end = hdr + len;
	while (p < end) {
		pair = p;
		while (p < end && *p != ';')
			p++;
		/* [pair, p) is one name=value pair, spaces and all. */
		if ((eq = memchr(pair, '=', (size_t)(p - pair))) != NULL) {
			while (pair < eq && is_ows((unsigned char)*pair))
				pair++;
			ne = eq;
			while (ne > pair && is_ows((unsigned char)ne[-1]))
				ne--;
			if ((size_t)(ne - pair) == namelen &&
			    memcmp(pair, name, namelen) == 0) {
				vs = eq + 1;
				ve = p;
				while (vs < ve && is_ows((unsigned char)*vs))
					vs++;
				while (ve > vs && is_ows((unsigned char)ve[-1]))
					ve--;
				if (ve - vs >= 2 && *vs == '"' &&
				    ve[-1] == '"') {
					vs++;
					ve--;
				}
				if (val != NULL)
					*val = vs;
				if (vlen != NULL)
					*vlen = (size_t)(ve - vs);
				return 0;
			}
		}
		if (p < end)
			p++; /* the ';' */
	}
	return STICKY_ENOENT;
}

int
cookie_name_valid(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!is_token_char((unsigned char)*s))
			return 0;
	return 1;
}

/*
 * RFC 6265 path-value: CHAR minus CTLs and ';'.  Domain gets the same
 * check, which keeps the header intact; whether the domain is one the
 * browser accepts is for the browser to say.
 */
int
cookie_attr_valid(const char *s)
{
	unsigned char c;

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c < 0x20 || c >= 0x7f || c == ';')
			return 0;
	}
	return 1;
}

static int
value_valid(const char *s)
{
	for (; *s != '\0'; s++)
		if (!is_cookie_octet((unsigned char)*s))
			return 0;
	return 1;
}

/*
 * Max-Age alone decides the lifetime in every browser we serve; Expires
 * is only written with Max-Age=0, where its fixed date in the past needs
 * no clock, for the rare client that ignores Max-Age.
 */
int
cookie_format(struct sticky_buf *out, const struct cookie_attrs *a,
    const char *value)
{
	static const char *const samesite[] = { NULL, "Lax", "Strict",
		"None" };
	size_t start;
	int rc = 0;

	if (out == NULL || a == NULL || value == NULL)
		return STICKY_EINVAL;
	if (!cookie_name_valid(a->name) || !value_valid(value))
		return STICKY_EINVAL;
	if ((a->path != NULL && !cookie_attr_valid(a->path)) ||
	    (a->domain != NULL && !cookie_attr_valid(a->domain)))
		return STICKY_EINVAL;
	if ((unsigned)a->samesite > SAMESITE_NONE)
		return STICKY_EINVAL;
	/* Browsers drop SameSite=None cookies that are not Secure. */
	if (a->samesite == SAMESITE_NONE && !a->secure)
		return STICKY_EINVAL;

	start = out->len;
	rc = buf_printf(out, "%s=%s", a->name, value);
	if (rc == 0 && a->path != NULL)
		rc = buf_printf(out, "; Path=%s", a->path);
	if (rc == 0 && a->domain != NULL)
		rc = buf_printf(out, "; Domain=%s", a->domain);
	if (rc == 0 && a->max_age >= 0)
		rc = buf_printf(out, "; Max-Age=%ld", a->max_age);
	if (rc == 0 && a->max_age == 0)
		rc = buf_puts(out, "; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
	if (rc == 0 && a->secure)
		rc = buf_puts(out, "; Secure");
	if (rc == 0 && a->httponly)
		rc = buf_puts(out, "; HttpOnly");
	if (rc == 0 && a->samesite != SAMESITE_NONE_SET)
		rc = buf_printf(out, "; SameSite=%s", samesite[a->samesite]);
	if (rc != 0) {
		/* Leave out as it was: no half-written header. */
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
	}
	return rc;
}

/* ASCII-only and locale-proof, unlike strcasecmp(3). */
static int
ascii_caseeq(const char *a, const char *b)
{
	unsigned char x, y;

	do {
		x = (unsigned char)*a++;
		y = (unsigned char)*b++;
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (x != y)
			return 0;
	} while (x != '\0');
	return 1;
}

int
cookie_parse_samesite(const char *s, enum cookie_samesite *out)
{
	static const struct {
		const char *word; /* lower case */
		enum cookie_samesite v;
	} words[] = {
		{ "lax", SAMESITE_LAX },
		{ "strict", SAMESITE_STRICT },
		{ "none", SAMESITE_NONE },
		{ "off", SAMESITE_NONE_SET },
	};

	if (s == NULL || out == NULL)
		return STICKY_EINVAL;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (ascii_caseeq(s, words[i].word)) {
			*out = words[i].v;
			return 0;
		}
	return STICKY_EINVAL;
}
