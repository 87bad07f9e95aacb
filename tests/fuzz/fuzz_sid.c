/*
 * fuzz_sid.c: libFuzzer harness for sid_parse().  An id has one spelling,
 * so any input sid_parse() accepts must come back byte for byte from
 * sid_format().  Run with tests/fuzz/dict/sid.dict.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sticky/sticky.h>
#include "sid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[SID_MAX + 1];
	struct sid s;
	int rc;

	rc = sid_parse((const char *)data, size, &s);
	if (rc == 0) {
		if (sid_format(&s, out, sizeof(out)) != 0)
			abort();
		if (strlen(out) != size || memcmp(out, data, size) != 0)
			abort();
	} else if (rc != STICKY_EPROTO)
		abort();
	return 0;
}
