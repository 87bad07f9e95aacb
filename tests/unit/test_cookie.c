/*
 * test_cookie.c: the Cookie header parser and the Set-Cookie formatter
 * (cookie.c).
 *
 * Limits: headers are built in memory; the randomized test checks the
 * parser against a model of "first pair with exactly this name" over
 * generated headers (seeded, so failures repeat), not against browsers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <sticky/sticky.h>
#include "internal.h"
#include "cookie.h"

/* Find name in a NUL-terminated header; the value is copied into out. */
static int
find(const char *hdr, const char *name, char *out, size_t outlen)
{
	const char *v = NULL;
	size_t vlen = 0;
	int rc;

	rc = cookie_find(hdr, strlen(hdr), name, &v, &vlen);
	if (rc == 0) {
		cr_assert(v >= hdr && v + vlen <= hdr + strlen(hdr),
		    "value points outside the header");
		cr_assert_lt(vlen, outlen);
		memcpy(out, v, vlen);
		out[vlen] = '\0';
	}
	return rc;
}

Test(cookie_find, simple_pairs)
{
	char v[64];

	cr_assert_eq(find("SID=abc", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "abc");
	cr_assert_eq(find("a=1; SID=abc.w1; b=2", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "abc.w1");
	cr_assert_eq(find("a=1; b=2", "b", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "2");
	cr_assert_eq(find("SID=a=b==", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "a=b==");
	cr_assert_eq(find("a=1; b=2", "SID", v, sizeof(v)), STICKY_ENOENT);
	cr_assert_eq(find("", "SID", v, sizeof(v)), STICKY_ENOENT);
}

Test(cookie_find, whitespace_and_tabs)
{
	char v[64];

	cr_assert_eq(find("  SID  =  abc  ;x=1", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "abc");
	cr_assert_eq(find("x=1;\tSID\t=\tabc\t", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "abc");
	cr_assert_eq(find("x=1;SID=abc", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "abc");
	/* Inner whitespace stays: the value is what the client sent. */
	cr_assert_eq(find("SID= a b ", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "a b");
	/* A space inside the name makes it another name. */
	cr_assert_eq(find("S ID=abc", "SID", v, sizeof(v)), STICKY_ENOENT);
}

Test(cookie_find, quotes)
{
	char v[64];

	cr_assert_eq(find("SID=\"abc\"", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "abc");
	cr_assert_eq(find("SID = \"abc\" ; x=1", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "abc");
	cr_assert_eq(find("SID=\"\"", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "");
	/* Unbalanced quotes are left alone; sid_parse will refuse them. */
	cr_assert_eq(find("SID=\"abc", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "\"abc");
	cr_assert_eq(find("SID=abc\"", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "abc\"");
	cr_assert_eq(find("SID=\"", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "\"");
	/* Only one pair of quotes is removed. */
	cr_assert_eq(find("SID=\"\"x\"\"", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "\"x\"");
	/* A ';' inside quotes still ends the pair: RFC 6265 has no escapes. */
	cr_assert_eq(find("SID=\"a;b\"", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "\"a");
}

Test(cookie_find, empty_values_and_names)
{
	char v[64];

	cr_assert_eq(find("SID=", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "");
	cr_assert_eq(find("SID=;SID=x", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "", "an empty first SID must still win");
	cr_assert_eq(find("=abc; =; ==; SID=v", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "v");
	cr_assert_eq(find("=SID=x", "SID", v, sizeof(v)), STICKY_ENOENT);
	cr_assert_eq(find(" = SID", "SID", v, sizeof(v)), STICKY_ENOENT);
	cr_assert_eq(find("SID=x", "", v, sizeof(v)), STICKY_EINVAL);
	cr_assert_eq(cookie_find("SID=x", 5, NULL, NULL, NULL),
	    STICKY_EINVAL);
}

Test(cookie_find, pairs_without_equals_are_skipped)
{
	char v[64];

	cr_assert_eq(find("SID; SID=v", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "v");
	cr_assert_eq(find("SID", "SID", v, sizeof(v)), STICKY_ENOENT);
	cr_assert_eq(find("foo; bar; SID", "SID", v, sizeof(v)),
	    STICKY_ENOENT);
}

Test(cookie_find, name_is_exact_and_case_sensitive)
{
	char v[64];

	cr_assert_eq(find("XSID=x; SID2=y; sid=z; SI=w; _SID=q; SID_=r",
	    "SID", v, sizeof(v)), STICKY_ENOENT);
	cr_assert_eq(find("XSID=x; SID2=y; sid=z; SID=real; SID=late", "SID",
	    v, sizeof(v)), 0);
	cr_assert_str_eq(v, "real");
	cr_assert_eq(find("SID=a", "SI", v, sizeof(v)), STICKY_ENOENT);
	cr_assert_eq(find("SID=a", "SIDX", v, sizeof(v)), STICKY_ENOENT);
	/* A value that looks like a pair is not a pair. */
	cr_assert_eq(find("x=SID=evil", "SID", v, sizeof(v)), STICKY_ENOENT);
}

Test(cookie_find, first_occurrence_wins)
{
	char v[64];

	cr_assert_eq(find("SID=first; SID=second", "SID", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "first");
	cr_assert_eq(find("SID=\"first\";SID=second;SID=third", "SID", v,
	    sizeof(v)), 0);
	cr_assert_str_eq(v, "first");
}

Test(cookie_find, size_limit_exact_and_plus_one)
{
	char *hdr = malloc(COOKIE_HEADER_MAX + 2);
	const char *v;
	size_t vlen, n;

	cr_assert_not_null(hdr);
	/* "pad=xxxx...; SID=tail" exactly COOKIE_HEADER_MAX bytes. */
	memset(hdr, 'x', COOKIE_HEADER_MAX + 1);
	memcpy(hdr, "pad=", 4);
	n = COOKIE_HEADER_MAX - strlen("; SID=tail");
	memcpy(hdr + n, "; SID=tail", strlen("; SID=tail"));
	cr_assert_eq(cookie_find(hdr, COOKIE_HEADER_MAX, "SID", &v, &vlen), 0);
	cr_assert_eq(vlen, 4);
	cr_assert_eq(memcmp(v, "tail", 4), 0);
	/* One more byte, even with SID up front, is refused. */
	memcpy(hdr, "SID=head; ", 10);
	cr_assert_eq(cookie_find(hdr, COOKIE_HEADER_MAX + 1, "SID", &v, &vlen),
	    STICKY_ETOOBIG);
	cr_assert_eq(cookie_find(hdr, SIZE_MAX, "SID", &v, &vlen),
	    STICKY_ETOOBIG);
	free(hdr);
}

Test(cookie_find, thousands_of_semicolons)
{
	char *hdr = malloc(COOKIE_HEADER_MAX + 1);
	const char *v;
	size_t vlen;

	cr_assert_not_null(hdr);
	memset(hdr, ';', COOKIE_HEADER_MAX);
	memcpy(hdr + COOKIE_HEADER_MAX - 6, "SID=ok", 6);
	cr_assert_eq(cookie_find(hdr, COOKIE_HEADER_MAX, "SID", &v, &vlen), 0);
	cr_assert_eq(vlen, 2);
	cr_assert_eq(memcmp(v, "ok", 2), 0);
	memset(hdr, ';', COOKIE_HEADER_MAX);
	cr_assert_eq(cookie_find(hdr, COOKIE_HEADER_MAX, "SID", &v, &vlen),
	    STICKY_ENOENT);
	memset(hdr, '=', COOKIE_HEADER_MAX);
	cr_assert_eq(cookie_find(hdr, COOKIE_HEADER_MAX, "SID", &v, &vlen),
	    STICKY_ENOENT);
	free(hdr);
}

Test(cookie_find, nul_bytes_and_explicit_length)
{
	static const char h1[] = "a=b\0c; SID=v";
	static const char h2[] = "SID=ab\0cd";
	static const char h3[] = "SID=abcdef\0; junk";
	const char *v;
	size_t vlen;

	cr_assert_eq(cookie_find(h1, sizeof(h1) - 1, "SID", &v, &vlen),
	    STICKY_EPROTO);
	cr_assert_eq(cookie_find(h2, sizeof(h2) - 1, "SID", &v, &vlen),
	    STICKY_EPROTO);
	/* Bytes past len are not read: the NUL and junk are outside. */
	cr_assert_eq(cookie_find(h3, 10, "SID", &v, &vlen), 0);
	cr_assert_eq(vlen, 6);
	/* The length cuts the value short. */
	cr_assert_eq(cookie_find(h3, 7, "SID", &v, &vlen), 0);
	cr_assert_eq(vlen, 3);
	cr_assert_eq(memcmp(v, "abc", 3), 0);
	cr_assert_eq(cookie_find(h3, 3, "SID", &v, &vlen), STICKY_ENOENT);
}

/* xorshift64*: a seeded stream so a failure repeats. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

Test(cookie_find, randomized_against_model)
{
	static const char *const names[] = { "SID", "XSID", "SID2", "sid",
		"SI", "a", "" };
	static const char *const ws[] = { "", " ", "\t", "  \t " };
	uint64_t seed = 0x5eed;
	char hdr[2048], want[64], got[64];
	int found;

	for (int iter = 0; iter < 1000; iter++) {
		size_t n = 0;
		int npairs = (int)(rnd(&seed) % 12);

		found = 0;
		for (int i = 0; i < npairs; i++) {
			const char *name = names[rnd(&seed) % 7];
			int noeq = rnd(&seed) % 8 == 0;
			int quoted = rnd(&seed) % 3 == 0;
			char val[16];

			snprintf(val, sizeof(val), "v%d_%d", iter, i);
			n += (size_t)snprintf(hdr + n, sizeof(hdr) - n,
			    "%s%s%s%s%s%s%s%s%s%s;", ws[rnd(&seed) % 4], name,
			    ws[rnd(&seed) % 4], noeq ? "" : "=",
			    ws[rnd(&seed) % 4], quoted ? "\"" : "",
			    noeq ? "" : val, quoted ? "\"" : "",
			    ws[rnd(&seed) % 4], rnd(&seed) % 4 == 0 ? ";" : "");
			if (!found && !noeq && strcmp(name, "SID") == 0) {
				found = 1;
				strcpy(want, val);
			}
		}
		if (n > 0 && rnd(&seed) % 2)
			hdr[--n] = '\0'; /* no trailing ';' */
		hdr[n] = '\0';
		if (found) {
			cr_assert_eq(find(hdr, "SID", got, sizeof(got)), 0,
			    "[%s]", hdr);
			cr_assert_str_eq(got, want, "[%s]", hdr);
		} else {
			cr_assert_eq(find(hdr, "SID", got, sizeof(got)),
			    STICKY_ENOENT, "[%s]", hdr);
		}
	}
}

/* ---- cookie_format ---- */

static struct cookie_attrs
attrs(void)
{
	struct cookie_attrs a;

	memset(&a, 0, sizeof(a));
	a.name = "SID";
	a.max_age = -1;
	return a;
}

Test(cookie_format, everything_set)
{
	struct sticky_buf b;
	struct cookie_attrs a = attrs();

	buf_init(&b);
	a.path = "/";
	a.domain = "example.com";
	a.max_age = 3600;
	a.secure = 1;
	a.httponly = 1;
	a.samesite = SAMESITE_LAX;
	cr_assert_eq(cookie_format(&b, &a, "AAAA.w1"), 0);
	cr_assert_str_eq((char *)b.data, "SID=AAAA.w1; Path=/; "
	    "Domain=example.com; Max-Age=3600; Secure; HttpOnly; SameSite=Lax");
	cr_assert_eq(b.len, strlen((char *)b.data));
	buf_cleanup(&b);
}

Test(cookie_format, session_cookie_omits_unset)
{
	struct sticky_buf b;
	struct cookie_attrs a = attrs();

	buf_init(&b);
	cr_assert_eq(cookie_format(&b, &a, "v"), 0);
	cr_assert_str_eq((char *)b.data, "SID=v");
	buf_reset(&b);
	a.httponly = 1;
	a.samesite = SAMESITE_STRICT;
	cr_assert_eq(cookie_format(&b, &a, "v"), 0);
	cr_assert_str_eq((char *)b.data, "SID=v; HttpOnly; SameSite=Strict");
	buf_cleanup(&b);
}

Test(cookie_format, expire_now)
{
	struct sticky_buf b;
	struct cookie_attrs a = attrs();

	buf_init(&b);
	a.path = "/app";
	a.max_age = 0;
	cr_assert_eq(cookie_format(&b, &a, ""), 0);
	cr_assert_str_eq((char *)b.data, "SID=; Path=/app; Max-Age=0; "
	    "Expires=Thu, 01 Jan 1970 00:00:00 GMT");
	buf_cleanup(&b);
}

Test(cookie_format, samesite_none_needs_secure)
{
	struct sticky_buf b;
	struct cookie_attrs a = attrs();

	buf_init(&b);
	buf_puts(&b, "keep");
	a.samesite = SAMESITE_NONE;
	cr_assert_eq(cookie_format(&b, &a, "v"), STICKY_EINVAL);
	cr_assert_str_eq((char *)b.data, "keep");
	a.secure = 1;
	cr_assert_eq(cookie_format(&b, &a, "v"), 0);
	cr_assert_str_eq((char *)b.data, "keepSID=v; Secure; SameSite=None");
	a.samesite = (enum cookie_samesite)7;
	cr_assert_eq(cookie_format(&b, &a, "v"), STICKY_EINVAL);
	buf_cleanup(&b);
}

/* The RFC 6265 cookie-octet set, written out independently. */
static int
octet_ok(int c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) ||
	    (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) ||
	    (c >= 0x5d && c <= 0x7e);
}

Test(cookie_format, value_octets)
{
	struct sticky_buf b;
	struct cookie_attrs a = attrs();
	char val[4];
	int nok = 0;

	buf_init(&b);
	for (int c = 1; c < 256; c++) {
		snprintf(val, sizeof(val), "a%cb", c);
		buf_reset(&b);
		cr_assert_eq(cookie_format(&b, &a, val),
		    octet_ok(c) ? 0 : STICKY_EINVAL, "octet 0x%02x", c);
		cr_assert_eq(b.len, octet_ok(c) ? 7 : 0);
		nok += octet_ok(c);
	}
	cr_assert_eq(nok, 90);
	cr_assert_eq(cookie_format(&b, &a, NULL), STICKY_EINVAL);
	buf_cleanup(&b);
}

Test(cookie_format, names_and_attributes)
{
	struct sticky_buf b;
	struct cookie_attrs a = attrs();
	static const char *const bad_names[] = { "", "S ID", "S;D", "S=D",
		"(x)", "a,b", "a\tb", "caf\xc3\xa9", "a\"b", "a/b", "a\x7f" };
	static const char *const bad_attrs[] = { "", "/a;b", "/a\nb", "/\r",
		"/\x7f", "/\xc3\xa9", "/\t" };

	buf_init(&b);
	cr_assert_eq(cookie_name_valid("SID"), 1);
	cr_assert_eq(cookie_name_valid("__Host-sess.id!#$%&'*+^`|~"), 1);
	cr_assert_eq(cookie_name_valid(NULL), 0);
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		cr_assert_eq(cookie_name_valid(bad_names[i]), 0, "[%s]",
		    bad_names[i]);
		a.name = bad_names[i];
		cr_assert_eq(cookie_format(&b, &a, "v"), STICKY_EINVAL);
	}
	a.name = "SID";
	cr_assert_eq(cookie_attr_valid("/a b/c=d,e"), 1);
	cr_assert_eq(cookie_attr_valid(NULL), 0);
	for (size_t i = 0; i < sizeof(bad_attrs) / sizeof(bad_attrs[0]); i++) {
		cr_assert_eq(cookie_attr_valid(bad_attrs[i]), 0, "[%s]",
		    bad_attrs[i]);
		a.path = bad_attrs[i];
		cr_assert_eq(cookie_format(&b, &a, "v"), STICKY_EINVAL);
		a.path = NULL;
		a.domain = bad_attrs[i];
		cr_assert_eq(cookie_format(&b, &a, "v"), STICKY_EINVAL);
		a.domain = NULL;
	}
	cr_assert_eq(b.len, 0);
	buf_cleanup(&b);
}

Test(cookie_format, enomem_leaves_buffer_unchanged)
{
	struct sticky_buf b;
	struct cookie_attrs a = attrs();
	const char *val = "0123456789012345678901234567890123456789";

	buf_init(&b);
	a.path = "/";
	a.domain = "a-forty-character-long-domain.example.com";
	/* The first allocation succeeds, growing past 64 bytes fails. */
	alloc_fail_after(2);
	cr_assert_eq(cookie_format(&b, &a, val), STICKY_ENOMEM);
	alloc_fail_after(0);
	cr_assert_eq(b.len, 0);
	cr_assert_not_null(b.data, "the first allocation was not reached");
	cr_assert_str_eq((char *)b.data, "");
	cr_assert_eq(cookie_format(&b, &a, val), 0);
	buf_cleanup(&b);
}

Test(cookie_samesite, parse)
{
	enum cookie_samesite s;
	static const char *const bad[] = { "", "la", "laxx", " lax", "lax ",
		"nonee", "on", "0", "Lax;" };

	cr_assert_eq(cookie_parse_samesite("lax", &s), 0);
	cr_assert_eq(s, SAMESITE_LAX);
	cr_assert_eq(cookie_parse_samesite("LAX", &s), 0);
	cr_assert_eq(s, SAMESITE_LAX);
	cr_assert_eq(cookie_parse_samesite("Strict", &s), 0);
	cr_assert_eq(s, SAMESITE_STRICT);
	cr_assert_eq(cookie_parse_samesite("NoNe", &s), 0);
	cr_assert_eq(s, SAMESITE_NONE);
	cr_assert_eq(cookie_parse_samesite("OFF", &s), 0);
	cr_assert_eq(s, SAMESITE_NONE_SET);
	s = SAMESITE_STRICT;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(cookie_parse_samesite(bad[i], &s), STICKY_EINVAL,
		    "[%s]", bad[i]);
	cr_assert_eq(s, SAMESITE_STRICT, "out written on failure");
	cr_assert_eq(cookie_parse_samesite(NULL, &s), STICKY_EINVAL);
}
