/*
 * envelope_mutator.h: a libFuzzer custom mutator for checkpoints, shared
 * by fuzz_envelope.c and fuzz_session.c.  Random bytes almost never carry
 * a right header CRC, so plain mutation stops at envelope_decode_header();
 * this one lets libFuzzer mutate, then (most of the time) repairs what a
 * writer would have computed: a header around an input that has none, the
 * lengths (app_len + meta_len = what follows the header), the payload CRC
 * and the header CRC.  One input in eight is left as mutated, so the
 * refusal paths stay covered.  Include once, in a harness's .c file.
 */
#ifndef STICKY_ENVELOPE_MUTATOR_H
#define STICKY_ENVELOPE_MUTATOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bytes.h"
#include "envelope.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
    unsigned int seed);

/* The app id the harnesses decode with (0 also accepts any). */
#define FUZZ_APP_NAME "test-app"

static size_t
envelope_fixup(uint8_t *data, size_t size, size_t max_size, unsigned seed)
{
	uint64_t app_len;
	uint32_t meta_len;

	if (size < ENV_HDR_LEN || memcmp(data, ENV_MAGIC, 4) != 0) {
		/* No header: put one in front (when it fits). */
		if (size + ENV_HDR_LEN > max_size)
			return size;
		memmove(data + ENV_HDR_LEN, data, size);
		memset(data, 0, ENV_HDR_LEN);
		memcpy(data, ENV_MAGIC, 4);
		data[4] = ENV_FORMAT;
		put16(data + 6, ENV_HDR_LEN);
		put32(data + 8, envelope_app_id(FUZZ_APP_NAME));
		put32(data + 12, 1);
		/* Most of a fresh payload is the meta section (replay log). */
		put32(data + 24, (uint32_t)(size - (size > 8 ? 8 : size)));
		size += ENV_HDR_LEN;
	}
	if (seed & 2) {
		/* Lengths that add up: keep meta_len if it fits, else shrink. */
		meta_len = get32(data + 24);
		if (meta_len > size - ENV_HDR_LEN)
			meta_len = (uint32_t)((size - ENV_HDR_LEN) / 2);
		app_len = size - ENV_HDR_LEN - meta_len;
		put32(data + 24, meta_len);
		put32(data + 28, 0);
		put32(data + 32, (uint32_t)(app_len >> 32));
		put32(data + 36, (uint32_t)app_len);
	}
	if (seed & 4)
		put32(data + 40, crc32c(0, data + ENV_HDR_LEN, size - ENV_HDR_LEN));
	put32(data + 44, crc32c(0, data, 44));
	return size;
}

size_t
LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
    unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if ((seed & 7) == 0)
		return size; /* as mutated: the refusals */
	/* Mostly everything repaired; sometimes lengths or payload CRC not. */
	return envelope_fixup(data, size, max_size, (seed >> 3) % 4 == 0 ?
	    seed >> 5 : 6);
}

#endif /* STICKY_ENVELOPE_MUTATOR_H */
