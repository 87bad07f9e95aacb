/*
 * sid.h: session ids.  An id is 128 bits from getrandom(2) encoded as 22
 * base64url characters (the key, which alone names the state), then '.'
 * and the route tag of the worker that owns it: the form Apache's
 * stickysession parses.  The tag is a routing hint, never authority.
 */
#ifndef STICKY_SID_H
#define STICKY_SID_H

#include <stddef.h>

#define SID_KEY_BYTES 16
#define SID_KEY_LEN 22 /* base64url of 16 bytes, no padding */
#define SID_TAG_MAX 32
#define SID_MAX (SID_KEY_LEN + 1 + SID_TAG_MAX) /* longest id, no NUL */

struct sid {
	char key[SID_KEY_LEN + 1];
	char tag[SID_TAG_MAX + 1];
};

/* A tag is 1..SID_TAG_MAX characters of [A-Za-z0-9_-]. */
int sid_tag_valid(const char *tag, size_t len);
/* The base64url alphabet keys are written in, and a character's 6-bit
 * value in it (-1: not in it). */
extern const char sid_b64url[65];
int sid_b64url_value(unsigned char c);
/* A fresh id for a session owned by tag; STICKY_ESYS if getrandom fails. */
int sid_generate(struct sid *out, const char *tag);
/* Parse "key.tag" strictly; STICKY_EPROTO on anything else. */
int sid_parse(const char *s, size_t len, struct sid *out);
/* Write "key.tag" and a NUL into out (outlen >= SID_MAX + 1). */
int sid_format(const struct sid *sid, char *out, size_t outlen);

#endif /* STICKY_SID_H */
