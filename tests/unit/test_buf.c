/* test_buf.c: the byte buffer and the allocation hooks under it. */
#include <criterion/criterion.h>
#include <string.h>

#include "internal.h"

Test(buf, append_keeps_nul_and_grows)
{
	struct sticky_buf b;

	buf_init(&b);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(buf_append(&b, "abc", 3), 0);
	cr_assert_eq(b.len, 3000);
	cr_assert_eq(b.data[b.len], '\0');
	cr_assert(memcmp(b.data + 2997, "abc", 3) == 0);
	buf_cleanup(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
}

Test(buf, printf_and_consume)
{
	struct sticky_buf b;

	buf_init(&b);
	cr_assert_eq(buf_printf(&b, "%d-%s", 42, "x"), 0);
	cr_assert_str_eq((char *)b.data, "42-x");
	buf_consume(&b, 3);
	cr_assert_str_eq((char *)b.data, "x");
	buf_consume(&b, 99);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.data[0], '\0');
	buf_cleanup(&b);
}

Test(buf, reserve_refuses_overflow)
{
	struct sticky_buf b;

	buf_init(&b);
	buf_append(&b, "x", 1);
	cr_assert_eq(buf_reserve(&b, SIZE_MAX - 1), STICKY_ENOMEM);
	cr_assert_eq(b.len, 1);
	buf_cleanup(&b);
}

Test(buf, public_reserve_returns_room)
{
	struct sticky_buf b;
	char *p;

	buf_init(&b);
	p = sticky_buf_reserve(&b, 5);
	cr_assert_not_null(p);
	memcpy(p, "hello", 5);
	cr_assert_eq(sticky_buf_len(&b), 5);
	cr_assert_str_eq((char *)b.data, "hello");
	buf_cleanup(&b);
}

Test(alloc, injected_failure_is_reported_not_fatal)
{
	struct sticky_buf b;

	buf_init(&b);
	alloc_fail_after(1);
	cr_assert_eq(buf_append(&b, "x", 1), STICKY_ENOMEM);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(buf_append(&b, "x", 1), 0); /* only the one failure */
	buf_cleanup(&b);
}

Test(alloc, reallocarray_checks_the_product)
{
	cr_assert_null(xreallocarray(NULL, SIZE_MAX / 2, 4));
	cr_assert_null(xcalloc(SIZE_MAX / 2, 4));
}

Test(error, every_code_has_text)
{
	for (int e = 0; e > STICKY_ELAST; e--)
		cr_assert_str_neq(sticky_strerror(e), "unknown error", "code %d", e);
	cr_assert_str_eq(sticky_strerror(STICKY_ELAST), "unknown error");
	cr_assert_str_eq(sticky_strerror(5), "unknown error");
}

Test(log, sid_is_redacted)
{
	char out[16];

	cr_assert_str_eq(log_sid("J5l67pYMgatyHT7aLeN7qA.w0", out), "J5l67p...");
	cr_assert_str_eq(log_sid("ab", out), "ab...");
	cr_assert_str_eq(log_sid(NULL, out), "-");
}
