/*
 * fuzz_cookie.c: libFuzzer harness for cookie_find() and cookie_format().
 * The input is a Cookie header; whatever is found must lie inside it and
 * be one pair's value.  The input, as a value, must also survive
 * cookie_format() then cookie_find() unchanged whenever format accepts it.
 * Run with tests/fuzz/dict/cookie.dict.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sticky/sticky.h>
#include "internal.h"
#include "cookie.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_find(const char *hdr, size_t len)
{
	const char *v;
	size_t vlen;
	int rc;

	rc = cookie_find(hdr, len, "SID", &v, &vlen);
	if (rc == 0) {
		if (len > COOKIE_HEADER_MAX || v < hdr || v + vlen > hdr + len)
			abort();
		if (memchr(v, ';', vlen) != NULL || memchr(v, '\0', vlen))
			abort();
	} else if (rc != STICKY_ENOENT && rc != STICKY_ETOOBIG &&
	    rc != STICKY_EPROTO)
		abort();
}

static void
check_format(const uint8_t *data, size_t size)
{
	struct cookie_attrs a;
	struct sticky_buf b;
	const char *v;
	size_t vlen;
	char *val;

	if ((val = malloc(size + 1)) == NULL)
		return;
	memcpy(val, data, size);
	val[size] = '\0';
	memset(&a, 0, sizeof(a));
	a.name = "SID";
	a.path = "/";
	a.max_age = size % 3 == 0 ? -1 : (long)size;
	a.httponly = 1;
	buf_init(&b);
	if (cookie_format(&b, &a, val) == 0) {
		/* The name=value part, as a browser would send it back. */
		const char *semi = strchr((char *)b.data, ';');
		const char *hdr = (const char *)b.data;
		size_t n = semi != NULL ? (size_t)(semi - hdr) : b.len;

		if (n <= COOKIE_HEADER_MAX) {
			if (cookie_find(hdr, n, "SID", &v, &vlen) != 0)
				abort();
			if (vlen != strlen(val) || memcmp(v, val, vlen) != 0)
				abort();
		}
	}
	buf_cleanup(&b);
	free(val);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_find((const char *)data, size);
	check_format(data, size);
	return 0;
}
