/*
 * redis_scan.c: iterating session keys for stickyctl (SCAN MATCH P{*}:s).
 */
#include <string.h>

#include "redis_int.h"

void
redis_scan_free(char **keys, size_t n)
{
	if (keys == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		xfree(keys[i]);
	xfree(keys);
}

/* The session key K of P{K}:s, or NULL (not ours, or not one sticky makes). */
static char *
scan_key(const struct redis *r, const redisReply *e, int *nomem)
{
	const char *k;
	size_t klen;
	char *out;

	*nomem = 0;
	if (e->type != REDIS_REPLY_STRING || e->len < r->prefixlen + 5 ||
	    memcmp(e->str, r->prefix, r->prefixlen) != 0 ||
	    e->str[r->prefixlen] != '{' ||
	    memcmp(e->str + e->len - 3, "}:s", 3) != 0)
		return NULL;
	k = e->str + r->prefixlen + 1;
	klen = e->len - r->prefixlen - 4;
	if (klen > MAX_KEY_LEN || memchr(k, '\0', klen) != NULL)
		return NULL;
	if ((out = xstrndup(k, klen)) == NULL) {
		*nomem = 1;
		return NULL;
	}
	if (!rd_key_valid(out)) {
		xfree(out);
		return NULL;
	}
	return out;
}

int
redis_scan(struct redis *r, uint64_t *cursor, char ***keys, size_t *n)
{
	const char *argv[6];
	size_t lens[6], i, nkeys = 0;
	char cur[NUMLEN], *pat, *k, **list = NULL;
	redisReply *rep = NULL, *arr;
	uint64_t next;
	int rc, nomem;

	*keys = NULL;
	*n = 0;
	/* MATCH P{*}:s, with the glob characters of the prefix escaped. */
	if ((pat = xreallocarray(NULL, r->prefixlen + 3, 2)) == NULL)
		return STICKY_ENOMEM;
	for (i = 0, k = pat; i < r->prefixlen; i++) {
		if (strchr("*?[]\\", r->prefix[i]) != NULL)
			*k++ = '\\';
		*k++ = r->prefix[i];
	}
	memcpy(k, "{*}:s", 5);
	argv[0] = "SCAN";
	argv[1] = cur;
	argv[2] = "MATCH";
	argv[3] = pat;
	argv[4] = "COUNT";
	argv[5] = "100";
	lens[0] = 4;
	lens[1] = rd_fmt_num(cur, *cursor);
	lens[2] = 5;
	lens[3] = (size_t)(k - pat) + 5;
	lens[4] = 5;
	lens[5] = 3;
	rc = rd_command(r, "scan", 6, argv, lens, &rep);
	xfree(pat);
	if (rc != 0)
		return rc;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    rd_parse_u64(rep->element[0]->str, rep->element[0]->len,
	    &next) != 0 ||
	    (arr = rep->element[1])->type != REDIS_REPLY_ARRAY) {
		rd_set_err(r, "scan: malformed reply");
		rc = STICKY_EREDIS;
		goto out;
	}
	if (arr->elements > 0 &&
	    (list = xreallocarray(NULL, arr->elements, sizeof(*list))) == NULL) {
		rc = STICKY_ENOMEM;
		goto out;
	}
	for (i = 0; i < arr->elements; i++) {
		if ((k = scan_key(r, arr->element[i], &nomem)) != NULL)
			list[nkeys++] = k;
		else if (nomem) {
			redis_scan_free(list, nkeys);
			rc = STICKY_ENOMEM;
			goto out;
		}
	}
	*keys = list;
	*n = nkeys;
	*cursor = next;
out:
	freeReplyObject(rep);
	return rc;
}
