/*
 * cookie.h: find one cookie in a Cookie request header (RFC 6265, lenient
 * about spaces, strict about size) and format Set-Cookie values.
 */
#ifndef STICKY_COOKIE_H
#define STICKY_COOKIE_H

#include <stddef.h>

struct sticky_buf;

#define COOKIE_HEADER_MAX 8192 /* longer Cookie headers are refused */

/*
 * Find cookie `name` in a Cookie header.  On success *val and *vlen point into
 * hdr (surrounding DQUOTEs removed).  The first occurrence wins.
 * STICKY_ENOENT: absent; STICKY_ETOOBIG: header over COOKIE_HEADER_MAX;
 * STICKY_EPROTO: a NUL byte in hdr; STICKY_EINVAL: NULL or empty name.
 */
int cookie_find(const char *hdr, size_t len, const char *name,
    const char **val, size_t *vlen);

enum cookie_samesite { SAMESITE_NONE_SET, SAMESITE_LAX, SAMESITE_STRICT,
	SAMESITE_NONE };

struct cookie_attrs {
	const char *name;   /* token characters only */
	const char *path;   /* NULL: no Path */
	const char *domain; /* NULL: host-only */
	int secure;
	int httponly;
	enum cookie_samesite samesite;
	long max_age; /* < 0: a session cookie; 0: expire now */
};

/* Append a Set-Cookie header value (no "Set-Cookie: " prefix, no CRLF). */
int cookie_format(struct sticky_buf *out, const struct cookie_attrs *a,
    const char *value);
/* 1 if s is a valid cookie name (RFC 6265 token). */
int cookie_name_valid(const char *s);
/* 1 if s can appear in a Path or Domain attribute (no ';', CTLs). */
int cookie_attr_valid(const char *s);
int cookie_parse_samesite(const char *s, enum cookie_samesite *out);

#endif /* STICKY_COOKIE_H */
