/*
 * envelope.h: the checkpoint wire format.  A checkpoint is a fixed 48-byte
 * header followed by the payload: the codec's bytes (app_len bytes), then
 * sticky's own section (meta_len bytes: the replay log), last so that a
 * change in it never shifts the app's pages.
 *
 *   off size  field (big-endian)
 *     0    4  magic "STKY"
 *     4    1  format version (ENV_FORMAT)
 *     5    1  flags (0)
 *     6    2  header length (48)
 *     8    4  app id: CRC32C of the application name
 *    12    4  app schema version
 *    16    8  ownership epoch when written
 *    24    4  meta_len
 *    28    4  reserved, 0
 *    32    8  app_len
 *    40    4  CRC32C of the payload (app + meta bytes)
 *    44    4  CRC32C of bytes 0..43
 */
#ifndef STICKY_ENVELOPE_H
#define STICKY_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "crc32c.h"

#define ENV_MAGIC "STKY"
#define ENV_FORMAT 1
#define ENV_HDR_LEN 48
#define ENV_MAX_PAYLOAD ((uint64_t)1 << 32) /* 4 GiB */

struct envelope {
	uint8_t format;
	uint8_t flags;
	uint32_t app_id;
	uint32_t schema;
	uint64_t epoch;
	uint32_t meta_len;
	uint64_t app_len;
	uint32_t crc; /* of the payload */
};

uint32_t envelope_app_id(const char *app_name);

/* Write the header (computes the header CRC). */
void envelope_encode(const struct envelope *e, unsigned char out[ENV_HDR_LEN]);
/*
 * Check a header alone: magic, format, header CRC.  app_id 0 accepts any.
 * Returns 0, STICKY_ECORRUPT, STICKY_EVERSION (newer format) or
 * STICKY_EFOREIGN (another app); *why gets a static reason.
 */
int envelope_decode_header(const unsigned char *data, size_t len,
    uint32_t app_id, struct envelope *out, const char **why);
/* Check a whole checkpoint: the header, the lengths and the payload CRC. */
int envelope_decode(const unsigned char *data, size_t len, uint32_t app_id,
    struct envelope *out, const char **why);
/* The same, and the CRC32C of each full page of the payload (same pass). */
struct crc32c_shift;
int envelope_decode_pages(const unsigned char *data, size_t len,
    uint32_t app_id, struct envelope *out, const char **why,
    const struct crc32c_shift *op, size_t page, uint32_t *page_crc);

#endif /* STICKY_ENVELOPE_H */
