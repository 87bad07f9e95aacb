/*
 * redis_scan.c: iterating session keys for stickyctl (SCAN MATCH
 * P{*}:[us]: a session's key, or the checkpoint of one still in the
 * two-key layout of earlier releases).
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

/* The session key K of P{K}:u or P{K}:s, or NULL (not ours, or not one
 * sticky makes). */
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
	    (memcmp(e->str + e->len - 3, "}:u", 3) != 0 &&
	    memcmp(e->str + e->len - 3, "}:s", 3) != 0))
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

/*
 * Which of the nkeys names (from[i]: its element of arr) hold a
 * checkpoint, into keep[i]: a P{K}:u longer than its owner record (one
 * pipelined STRLEN each), or a P{K}:s of the two-key layout.
 */
static int
scan_filter(struct redis *r, const redisReply *arr, size_t nkeys,
    const size_t *from, int *keep)
{
	redisReply *rep;
	void *p;
	size_t i, sent = 0;

	for (i = 0; i < nkeys; i++) {
		const redisReply *e = arr->element[from[i]];
		const char *argv[2] = { "STRLEN", e->str };
		size_t lens[2] = { 6, e->len };

		keep[i] = e->str[e->len - 1] == 's';
		if (keep[i])
			continue;
		if (redisAppendCommandArgv(r->cmd.c, 2, argv, lens) != REDIS_OK)
			return rd_io_failed(r, "scan");
		sent++;
	}
	for (i = 0; i < nkeys && sent > 0; i++) {
		if (arr->element[from[i]]->str[arr->element[from[i]]->len - 1] ==
		    's')
			continue;
		if (redisGetReply(r->cmd.c, &p) != REDIS_OK || p == NULL)
			return rd_io_failed(r, "scan");
		rep = p;
		keep[i] = rep->type == REDIS_REPLY_INTEGER &&
		    rep->integer > REC_LEN;
		freeReplyObject(rep);
		sent--;
	}
	return 0;
}

int
redis_scan(struct redis *r, uint64_t *cursor, char ***keys, size_t *n)
{
	const char *argv[6];
	size_t lens[6], i, nkeys = 0, kept, *from = NULL;
	int *keep = NULL;
	char cur[NUMLEN], *pat, *k, **list = NULL;
	redisReply *rep = NULL, *arr;
	uint64_t next;
	int rc, nomem;

	*keys = NULL;
	*n = 0;
	/* MATCH P{*}:[us], with the glob characters of the prefix escaped. */
	if ((pat = xreallocarray(NULL, r->prefixlen + 5, 2)) == NULL)
		return STICKY_ENOMEM;
	for (i = 0, k = pat; i < r->prefixlen; i++) {
		if (strchr("*?[]\\", r->prefix[i]) != NULL)
			*k++ = '\\';
		*k++ = r->prefix[i];
	}
	memcpy(k, "{*}:[us]", 8);
	argv[0] = "SCAN";
	argv[1] = cur;
	argv[2] = "MATCH";
	argv[3] = pat;
	argv[4] = "COUNT";
	argv[5] = "100";
	lens[0] = 4;
	lens[1] = rd_fmt_num(cur, *cursor);
	lens[2] = 5;
	lens[3] = (size_t)(k - pat) + 8;
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
	    ((list = xreallocarray(NULL, arr->elements, sizeof(*list))) == NULL ||
	    (from = xreallocarray(NULL, arr->elements, sizeof(*from))) == NULL ||
	    (keep = xreallocarray(NULL, arr->elements, sizeof(*keep))) == NULL)) {
		rc = STICKY_ENOMEM;
		goto out;
	}
	for (i = 0; i < arr->elements; i++) {
		if ((k = scan_key(r, arr->element[i], &nomem)) != NULL) {
			from[nkeys] = i;
			list[nkeys++] = k;
		} else if (nomem) {
			rc = STICKY_ENOMEM;
			goto out;
		}
	}
	/* Sessions without a checkpoint (logged out, set aside) are not listed. */
	if ((rc = scan_filter(r, arr, nkeys, from, keep)) != 0)
		goto out;
	for (i = 0, kept = 0; i < nkeys; i++) {
		if (keep[i])
			list[kept++] = list[i];
		else
			xfree(list[i]);
	}
	nkeys = 0;
	*keys = kept > 0 ? list : NULL;
	if (kept == 0)
		xfree(list);
	list = NULL;
	*n = kept;
	*cursor = next;
out:
	redis_scan_free(list, nkeys);
	xfree(from);
	xfree(keep);
	freeReplyObject(rep);
	return rc;
}
