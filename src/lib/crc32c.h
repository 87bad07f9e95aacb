/*
 * crc32c.h: CRC32C (Castagnoli) and the combination of CRCs.
 */
#ifndef STICKY_CRC32C_H
#define STICKY_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C (Castagnoli), hardware-accelerated where the CPU has SSE4.2. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);
/*
 * Combining CRCs: crc32c(A || B) from crc32c(A), crc32c(B) and the length
 * of B, without reading A or B again (zlib's crc32_combine method).  For
 * one fixed length the operator is a 32x32 bit matrix, built once and
 * kept as four byte tables (4 KiB: a combine is four lookups, where the
 * matrix took up to 32 data-dependent branches); a checkpoint then
 * re-reads only the pages that changed.
 */
struct crc32c_shift {
	uint32_t t[4][256]; /* t[k][v]: the shift of byte v at byte k */
};
void crc32c_shift_init(struct crc32c_shift *op, size_t len);
/* crc32c(A || B), where crc1 = crc32c(A), crc2 = crc32c(B), op for len(B). */
uint32_t crc32c_combine(const struct crc32c_shift *op, uint32_t crc1,
    uint32_t crc2);
/* For tests: the portable software path of crc32c(). */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif /* STICKY_CRC32C_H */
