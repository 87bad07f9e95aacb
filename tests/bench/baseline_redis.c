/*
 * baseline_redis.c: the usual answer without sticky: per-user state loaded
 * from Redis and written back on every request.  Pre-forked libfcgi
 * workers, one unix socket each (baseline.h), one hiredis connection per
 * worker (unix socket).  Per request:
 *
 *   GET bl:<key>        the blob
 *   deserialize         memcpy into a fresh allocation (bigstate's format:
 *                       8-byte big-endian count, then the floats)
 *   modify              16 floats at a moving place, as bigstate does
 *   serialize           into a fresh buffer
 *   SET bl:<key> EX     the whole blob back
 *
 * The session cookie is sticky's: STICKYSID=<22 base64url chars>.<tag>,
 * 128 bits from getrandom(2); a new user, an unknown key or a cookie
 * tagged for another worker gets Set-Cookie with this worker's tag, so
 * fcgi-load and the front-end recipes keep each user on one worker.
 * Redis errors answer 503.  The body is bigstate's
 * "count=N worker=TAG bytes=N".
 *
 *   baseline_redis -w 2 -l unix:DIR/%t.sock -r unix:REDIS.sock -s BYTES
 */
#include <inttypes.h>
#include <stdint.h>
#include <sys/random.h>

#include <hiredis.h>

#include "baseline.h"

#define KEY_LEN 22
#define TTL_S 86400

/* bigstate's read-only table, built before fork (shared copy-on-write). */
static float *table;
static size_t table_n;

struct big {
	uint64_t count;
	size_t n;
	float *v;
};

static int
valid_key(const char *k, size_t len)
{
	if (len != KEY_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = k[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* STICKYSID=<key>.<tag> from HTTP_COOKIE: key copied out, tag pointed at. */
static int
find_cookie(const char *hdr, char key[KEY_LEN + 1], const char **tag,
    size_t *taglen)
{
	const char *p = hdr;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, "STICKYSID=", 10) == 0) {
			const char *v = p + 10, *end = strchr(v, ';');
			const char *dot;

			if (end == NULL)
				end = v + strlen(v);
			dot = memchr(v, '.', (size_t)(end - v));
			if (dot == NULL || !valid_key(v, (size_t)(dot - v)))
				return 0;
			memcpy(key, v, KEY_LEN);
			key[KEY_LEN] = '\0';
			*tag = dot + 1;
			*taglen = (size_t)(end - dot - 1);
			return 1;
		}
		p = strchr(p, ';');
	}
	return 0;
}

static int
new_key(char key[KEY_LEN + 1])
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char r[16];
	uint32_t acc = 0;
	int bits = 0, o = 0;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	for (size_t i = 0; i < sizeof(r); i++) {
		acc = acc << 8 | r[i];
		bits += 8;
		while (bits >= 6) {
			key[o++] = b64[(acc >> (bits - 6)) & 63];
			bits -= 6;
		}
	}
	key[o++] = b64[(acc << (6 - bits)) & 63]; /* 128 = 21 * 6 + 2 */
	key[o] = '\0';
	return o == KEY_LEN ? 0 : -1;
}

static int
decode(struct big *b, const char *data, size_t len)
{
	if (len < 8 || (len - 8) % sizeof(float) != 0)
		return -1;
	b->n = (len - 8) / sizeof(float);
	if ((b->v = malloc(len - 8 > 0 ? len - 8 : 1)) == NULL)
		return -1;
	b->count = 0;
	for (int i = 0; i < 8; i++)
		b->count = b->count << 8 | (unsigned char)data[i];
	memcpy(b->v, data + 8, len - 8);
	return 0;
}

static char *
encode(const struct big *b, size_t *len)
{
	char *out;

	*len = 8 + b->n * sizeof(float);
	if ((out = malloc(*len)) == NULL)
		return NULL;
	for (int i = 0; i < 8; i++)
		out[i] = (char)(b->count >> (56 - 8 * i));
	memcpy(out + 8, b->v, b->n * sizeof(float));
	return out;
}

static void
modify(struct big *b)
{
	size_t at = (size_t)(b->count * 16) % (b->n > 16 ? b->n - 16 : 1);

	for (size_t i = 0; i < 16 && at + i < b->n; i++)
		b->v[at + i] += table[(at + i) % table_n];
	b->count++;
}

static redisContext *
rconnect(const char *path)
{
	struct timeval tv = { 0, 500000 };
	redisContext *c = redisConnectUnixWithTimeout(path, tv);

	if (c != NULL && c->err == 0)
		redisSetTimeout(c, tv);
	return c;
}

static void
fail503(FCGX_Request *req, const char *why)
{
	FCGX_FPrintF(req->out, "Status: 503 Service Unavailable\r\n"
	    "Content-Type: text/plain\r\nRetry-After: 1\r\n\r\n%s\n", why);
}

static void
handle(struct bl_worker *w, FCGX_Request *req, redisContext **rc)
{
	const char *cookie = FCGX_GetParam("HTTP_COOKIE", req->envp);
	char key[KEY_LEN + 1], rkey[KEY_LEN + 4];
	const char *tag = NULL;
	size_t taglen = 0, outlen;
	int have = 0, set_cookie;
	struct big b = { 0, 0, NULL };
	redisReply *r;
	char *out, body[128];

	if (*rc == NULL || (*rc)->err) {
		if (*rc != NULL)
			redisFree(*rc);
		if ((*rc = rconnect(w->opts->redis)) == NULL || (*rc)->err) {
			fail503(req, "redis down");
			return;
		}
	}
	if (cookie != NULL && find_cookie(cookie, key, &tag, &taglen)) {
		snprintf(rkey, sizeof(rkey), "bl:%s", key);
		if ((r = redisCommand(*rc, "GET %s", rkey)) == NULL) {
			fail503(req, "redis GET failed");
			return;
		}
		if (r->type == REDIS_REPLY_STRING && decode(&b, r->str, r->len) == 0)
			have = 1;
		freeReplyObject(r);
	}
	set_cookie = !have || taglen != strlen(w->tag) ||
	    memcmp(tag, w->tag, taglen) != 0;
	if (!have) {
		/* a new user, or a key Redis does not know: never adopt it */
		if (new_key(key) != 0) {
			fail503(req, "getrandom failed");
			return;
		}
		snprintf(rkey, sizeof(rkey), "bl:%s", key);
		b.n = w->opts->state_bytes / sizeof(float);
		if ((b.v = calloc(b.n, sizeof(float))) == NULL) {
			fail503(req, "out of memory");
			return;
		}
	}
	modify(&b);
	if ((out = encode(&b, &outlen)) == NULL) {
		free(b.v);
		fail503(req, "out of memory");
		return;
	}
	r = redisCommand(*rc, "SET %s %b EX %d", rkey, out, outlen, TTL_S);
	free(out);
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		if (r != NULL)
			freeReplyObject(r);
		free(b.v);
		fail503(req, "redis SET failed");
		return;
	}
	freeReplyObject(r);
	FCGX_FPrintF(req->out, "Status: 200 OK\r\nContent-Type: text/plain\r\n"
	    "X-Sticky-Worker: %s\r\n", w->tag);
	if (set_cookie)
		FCGX_FPrintF(req->out, "Set-Cookie: STICKYSID=%s.%s; Path=/; "
		    "HttpOnly; SameSite=Lax\r\n", key, w->tag);
	/* libfcgi's own printf knows no %zu: format the body with libc's */
	snprintf(body, sizeof(body), "\r\ncount=%" PRIu64 " worker=%s "
	    "bytes=%zu\n", b.count, w->tag, b.n * sizeof(float));
	FCGX_PutS(body, req->out);
	free(b.v);
}

static int
serve(struct bl_worker *w)
{
	FCGX_Request req;
	redisContext *rc = NULL;

	if (w->opts->redis[0] == '\0') {
		fprintf(stderr, "baseline_redis: -r unix:PATH is required\n");
		return -1;
	}
	rc = rconnect(w->opts->redis); /* retried per request if down */
	if (FCGX_InitRequest(&req, w->listen_fd, 0) != 0)
		return -1;
	while (FCGX_Accept_r(&req) >= 0) {
		handle(w, &req, &rc);
		FCGX_Finish_r(&req);
	}
	if (rc != NULL)
		redisFree(rc);
	return 0;
}

int
main(int argc, char **argv)
{
	/* bigstate's app.shared_bytes default: 1 MiB */
	table_n = (1u << 20) / sizeof(float);
	if ((table = malloc(table_n * sizeof(float))) == NULL)
		return 1;
	for (size_t i = 0; i < table_n; i++)
		table[i] = (float)(i % 97) / 97.0f;
	return baseline_main(argc, argv, serve);
}
