/*
 * fuzz_envelope.c: libFuzzer harness for envelope_decode() and
 * envelope_decode_header().  The two must agree on every header failure;
 * an accepted checkpoint must re-encode to the same header and have
 * exactly the length it claims; the hardware and software CRC paths must
 * agree on every input.  Run with tests/fuzz/dict/envelope.dict.  The
 * custom mutator (envelope_mutator.h) repairs lengths and CRCs after
 * libFuzzer mutates, so inputs get past the header CRC.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sticky/sticky.h>
#include "envelope.h"
#include "envelope_mutator.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const uint8_t *data, size_t size, uint32_t app_id)
{
	unsigned char hdr[ENV_HDR_LEN];
	struct envelope e, h;
	const char *why = NULL, *hwhy = NULL;
	int rc, hrc;

	rc = envelope_decode(data, size, app_id, &e, &why);
	hrc = envelope_decode_header(data, size, app_id, &h, &hwhy);
	if ((rc == 0) != (why == NULL) || (hrc == 0) != (hwhy == NULL))
		abort();
	if (hrc != 0 && (rc != hrc || strcmp(why, hwhy) != 0))
		abort();
	if (rc == 0) {
		if (hrc != 0)
			abort();
		envelope_encode(&e, hdr);
		if (memcmp(hdr, data, ENV_HDR_LEN) != 0)
			abort();
		if ((uint64_t)size != ENV_HDR_LEN + (uint64_t)e.meta_len +
		    e.app_len)
			abort();
		if (app_id != 0 && e.app_id != app_id)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size, 0);
	check(data, size, envelope_app_id(FUZZ_APP_NAME));
	if (crc32c(0, data, size) != crc32c_sw(0, data, size))
		abort();
	return 0;
}
