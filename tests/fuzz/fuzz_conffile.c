/*
 * fuzz_conffile.c: libFuzzer harness for conffile_parse().  Every key the
 * callback sees must be made of key characters (sections joined by '.'),
 * no value may be longer than a line, and every error must name the file
 * and a line.  Run with tests/fuzz/dict/conffile.dict.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sticky/sticky.h>
#include "conffile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
cb(const char *key, const char *value, void *arg, char *err, size_t errlen)
{
	size_t *calls = arg;

	if (*key == '\0' || strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(key))
		abort();
	if (strlen(value) > 4096)
		abort();
	/* Fail now and then, to cover the callback error path. */
	if (strcmp(key, "fail") == 0) {
		strncpy(err, "refused", errlen);
		return STICKY_EINVAL;
	}
	(*calls)++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	size_t calls = 0;
	int rc;

	rc = conffile_parse((const char *)data, size, "fuzz.conf", cb, &calls,
	    err, sizeof(err));
	if (rc != 0) {
		if (strncmp(err, "fuzz.conf:", 10) != 0)
			abort();
		/* A syntax error is found before any callback. */
		if (rc == STICKY_ECONFIG && calls != 0)
			abort();
	}
	return 0;
}
