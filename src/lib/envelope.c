/*
 * envelope.c: the checkpoint envelope, the 48-byte header in front of every
 * checkpoint in Redis, and the CRC32C that guards it.  Everything that
 * reads a checkpoint back trusts it only after envelope_decode() has
 * checked every header field, the lengths and both CRCs, because Redis
 * holds bytes from other releases, other applications and failed writes.
 * The CRC itself is crc32c.c's.
 */
#include <string.h>

#include "internal.h"
#include "bytes.h"
#include "envelope.h"

uint32_t
envelope_app_id(const char *app_name)
{
	return crc32c(0, app_name, strlen(app_name));
}







/* e->format is written as given: callers set ENV_FORMAT. */
void
envelope_encode(const struct envelope *e, unsigned char out[ENV_HDR_LEN])
{
	memcpy(out, ENV_MAGIC, 4);
	out[4] = e->format;
	out[5] = e->flags;
	put16(out + 6, ENV_HDR_LEN);
	put32(out + 8, e->app_id);
	put32(out + 12, e->schema);
	put64(out + 16, e->epoch);
	put32(out + 24, e->meta_len);
	put32(out + 28, 0);
	put64(out + 32, e->app_len);
	put32(out + 40, e->crc);
	put32(out + 44, crc32c(0, out, 44));
}

/*
 * The checks run in a fixed order and each has its own reason, so a log
 * line says which one failed.  The magic and the header length come
 * before the CRC (they say whether this is an envelope at all); the
 * version and app id come after it (only an intact header is believed
 * about who wrote it).  *out is written on success only.
 */
int
envelope_decode_header(const unsigned char *data, size_t len,
    uint32_t app_id, struct envelope *out, const char **why)
{
	struct envelope e;
	const char *unused;

	if (why == NULL)
		why = &unused;
	*why = NULL;
	if (data == NULL || len < ENV_HDR_LEN) {
		*why = "truncated header";
		return STICKY_ECORRUPT;
	}
	if (memcmp(data, ENV_MAGIC, 4) != 0) {
		*why = "bad magic";
		return STICKY_ECORRUPT;
	}
	if (get16(data + 6) != ENV_HDR_LEN) {
		*why = "bad header length";
		return STICKY_ECORRUPT;
	}
	if (get32(data + 44) != crc32c(0, data, 44)) {
		*why = "header crc mismatch";
		return STICKY_ECORRUPT;
	}
	e.format = data[4];
	e.flags = data[5];
	e.app_id = get32(data + 8);
	e.schema = get32(data + 12);
	e.epoch = get64(data + 16);
	e.meta_len = get32(data + 24);
	e.app_len = get64(data + 32);
	e.crc = get32(data + 40);
	if (e.format > ENV_FORMAT) {
		*why = "newer format";
		return STICKY_EVERSION;
	}
	if (e.format == 0) {
		*why = "bad format";
		return STICKY_ECORRUPT;
	}
	if (get32(data + 28) != 0) {
		*why = "reserved not zero";
		return STICKY_ECORRUPT;
	}
	/* Format 1 defines no flags. */
	if (e.flags != 0) {
		*why = "bad flags";
		return STICKY_ECORRUPT;
	}
	if (app_id != 0 && e.app_id != app_id) {
		*why = "foreign app";
		return STICKY_EFOREIGN;
	}
	/* app_len first: the sum could wrap. */
	if (e.app_len > ENV_MAX_PAYLOAD ||
	    e.meta_len + e.app_len > ENV_MAX_PAYLOAD) {
		*why = "bad length";
		return STICKY_ECORRUPT;
	}
	if (out != NULL)
		*out = e;
	return 0;
}

int
envelope_decode(const unsigned char *data, size_t len, uint32_t app_id,
    struct envelope *out, const char **why)
{
	struct envelope e;
	const char *unused;
	uint64_t payload;
	int rc;

	if (why == NULL)
		why = &unused;
	if ((rc = envelope_decode_header(data, len, app_id, &e, why)) != 0)
		return rc;
	payload = (uint64_t)e.meta_len + e.app_len;
	if ((uint64_t)len - ENV_HDR_LEN < payload) {
		*why = "truncated payload";
		return STICKY_ECORRUPT;
	}
	if ((uint64_t)len - ENV_HDR_LEN > payload) {
		*why = "trailing bytes";
		return STICKY_ECORRUPT;
	}
	if (crc32c(0, data + ENV_HDR_LEN, (size_t)payload) != e.crc) {
		*why = "payload crc mismatch";
		return STICKY_ECORRUPT;
	}
	if (out != NULL)
		*out = e;
	return 0;
}

/*
 * envelope_decode, and the CRC32C of each full page of the payload into
 * page_crc[] (len - ENV_HDR_LEN) / page entries), in the same single pass
 * that verifies it: the payload's CRC is folded from them with op (the
 * shift by one page).  A restored session's first delta needs them.
 */
int
envelope_decode_pages(const unsigned char *data, size_t len, uint32_t app_id,
    struct envelope *out, const char **why, const struct crc32c_shift *op,
    size_t page, uint32_t *page_crc)
{
	struct envelope e;
	const char *unused;
	const unsigned char *p;
	uint64_t payload;
	size_t full;
	uint32_t crc = 0;
	int rc;

	if (why == NULL)
		why = &unused;
	if ((rc = envelope_decode_header(data, len, app_id, &e, why)) != 0)
		return rc;
	payload = (uint64_t)e.meta_len + e.app_len;
	if ((uint64_t)len - ENV_HDR_LEN != payload) {
		*why = (uint64_t)len - ENV_HDR_LEN < payload ?
		    "truncated payload" : "trailing bytes";
		return STICKY_ECORRUPT;
	}
	p = data + ENV_HDR_LEN;
	full = page > 0 ? (size_t)payload / page : 0;
	for (size_t i = 0; i < full; i++) {
		page_crc[i] = crc32c(0, p + i * page, page);
		crc = crc32c_combine(op, crc, page_crc[i]);
	}
	if (crc32c(crc, p + full * page, (size_t)payload - full * page) != e.crc) {
		*why = "payload crc mismatch";
		return STICKY_ECORRUPT;
	}
	if (out != NULL)
		*out = e;
	return 0;
}
