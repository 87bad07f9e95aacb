/*
 * sid.c: session ids, the "key.tag" string in the session cookie.  It owns
 * the only randomness in sticky (getrandom(2), with no weaker fallback,
 * because the key alone names a user's state) and the strict parser that
 * every id from a client goes through.  Parsing is strict on purpose: an
 * id has exactly one spelling, so the same session can never be named two
 * ways in Redis keys, logs or the front-end's stickiness table.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"
#include "sid.h"

const char sid_b64url[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
#define b64url sid_b64url

int
sid_b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

static int
tag_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int
sid_tag_valid(const char *tag, size_t len)
{
	if (tag == NULL || len == 0 || len > SID_TAG_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!tag_char((unsigned char)tag[i]))
			return 0;
	return 1;
}

/*
 * 16 bytes are five 3-byte groups (20 characters) and one last byte, which
 * becomes two characters: 6 bits, then 2 bits followed by four zero bits.
 */
static void
key_encode(const unsigned char in[SID_KEY_BYTES], char out[SID_KEY_LEN + 1])
{
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 3 <= SID_KEY_BYTES; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = b64url[(v >> 18) & 0x3f];
		out[o++] = b64url[(v >> 12) & 0x3f];
		out[o++] = b64url[(v >> 6) & 0x3f];
		out[o++] = b64url[v & 0x3f];
	}
	out[o++] = b64url[in[i] >> 2];
	out[o++] = b64url[(in[i] & 0x03) << 4];
	out[o] = '\0';
}

/* 1 if s[0..SID_KEY_LEN) is a key in its one canonical spelling. */
static int
key_valid(const char *s)
{
	int v = 0;

	for (size_t i = 0; i < SID_KEY_LEN; i++)
		if ((v = sid_b64url_value((unsigned char)s[i])) < 0)
			return 0;
	/* The last character carries 2 bits; the 4 below them must be 0. */
	return (v & 0x0f) == 0;
}

int
sid_generate(struct sid *out, const char *tag)
{
	unsigned char raw[SID_KEY_BYTES];
	size_t got = 0, taglen;
	ssize_t n;

	if (out == NULL || tag == NULL)
		return STICKY_EINVAL;
	taglen = strnlen(tag, SID_TAG_MAX + 1);
	if (!sid_tag_valid(tag, taglen))
		return STICKY_EINVAL;
	/*
	 * getrandom(2) without flags blocks until the pool is seeded and
	 * does not return short reads for 16 bytes, but loop anyway.  Any
	 * failure but EINTR is final: a predictable key is a stolen session.
	 */
	while (got < sizeof(raw)) {
		n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			explicit_bzero(raw, sizeof(raw));
			return STICKY_ESYS;
		}
		got += (size_t)n;
	}
	key_encode(raw, out->key);
	explicit_bzero(raw, sizeof(raw));
	memcpy(out->tag, tag, taglen);
	out->tag[taglen] = '\0';
	return 0;
}

int
sid_parse(const char *s, size_t len, struct sid *out)
{
	size_t taglen;

	/* Check the length first: len comes from the client. */
	if (s == NULL || out == NULL || len > SID_MAX ||
	    len < SID_KEY_LEN + 2)
		return STICKY_EPROTO;
	if (!key_valid(s) || s[SID_KEY_LEN] != '.')
		return STICKY_EPROTO;
	taglen = len - SID_KEY_LEN - 1;
	if (!sid_tag_valid(s + SID_KEY_LEN + 1, taglen))
		return STICKY_EPROTO;
	memcpy(out->key, s, SID_KEY_LEN);
	out->key[SID_KEY_LEN] = '\0';
	memcpy(out->tag, s + SID_KEY_LEN + 1, taglen);
	out->tag[taglen] = '\0';
	return 0;
}

int
sid_format(const struct sid *sid, char *out, size_t outlen)
{
	size_t taglen;

	if (sid == NULL || out == NULL)
		return STICKY_EINVAL;
	if (strnlen(sid->key, SID_KEY_LEN + 1) != SID_KEY_LEN ||
	    !key_valid(sid->key))
		return STICKY_EINVAL;
	taglen = strnlen(sid->tag, SID_TAG_MAX + 1);
	if (!sid_tag_valid(sid->tag, taglen))
		return STICKY_EINVAL;
	if (outlen < SID_KEY_LEN + 1 + taglen + 1)
		return STICKY_EINVAL;
	memcpy(out, sid->key, SID_KEY_LEN);
	out[SID_KEY_LEN] = '.';
	memcpy(out + SID_KEY_LEN + 1, sid->tag, taglen);
	out[SID_KEY_LEN + 1 + taglen] = '\0';
	return 0;
}
