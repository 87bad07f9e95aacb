/*
 * allow.c: the status page's access checks (status_allow against
 * REMOTE_ADDR; the status token), apart from the worker so they can be
 * tested alone.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sticky/sticky.h>

#include "allow.h"

int
allow_match(const char *list, const char *addr)
{
	size_t n;

	if (addr == NULL || *addr == '\0')
		return 0;
	n = strlen(addr);
	for (const char *p = list; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		/* Blanks around an entry are not part of it. */
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == n && strncmp(p, addr, n) == 0)
			return 1;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

int
allow_token_read(const char *path, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char line[STATUS_TOKEN_MAX + 3];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "status_token_file: cannot open '%s': %s",
		    path, strerror(errno));
		return STICKY_ECONFIG;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (line[i] <= ' ' || line[i] > '~')
			n = 0;
	if (n < STATUS_TOKEN_MIN || n > STATUS_TOKEN_MAX || n >= outlen) {
		snprintf(err, errlen, "status_token_file: '%s' must hold one "
		    "line of %d to %d visible ASCII characters", path,
		    STATUS_TOKEN_MIN, STATUS_TOKEN_MAX);
		memset(line, 0, sizeof(line));
		return STICKY_ECONFIG;
	}
	memcpy(out, line, n + 1);
	memset(line, 0, sizeof(line));
	return 0;
}

int
allow_token_match(const char *want, const char *got)
{
	size_t wl = strlen(want), gl, i;
	volatile unsigned char diff = 0;

	if (got == NULL)
		return 0;
	gl = strnlen(got, wl + 1);
	diff |= (unsigned char)(gl != wl);
	/* Read got no further than its end; always loop over want. */
	for (i = 0; i < wl; i++)
		diff |= (unsigned char)want[i] ^
		    (unsigned char)(i < gl ? got[i] : 0);
	return diff == 0 && wl > 0;
}
