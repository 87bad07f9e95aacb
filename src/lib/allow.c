/*
 * allow.c: the status page's address check (status_allow against
 * REMOTE_ADDR), apart from the worker so it can be tested alone.
 */
#include <string.h>

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
