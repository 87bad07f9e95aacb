/*
 * test_allow.c: the status page's address check (allow_match, allow.c):
 * status_allow entries against REMOTE_ADDR.
 *
 * Limits: the matching is textual by design (stickyd.conf(5): "compared
 * as text: no prefixes, no names"), so these tests pin exact matches and
 * the refusals that follow from that, including the surprising ones
 * (other spellings of the same IPv6 address, CIDR written as an entry).
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "allow.h"

#define DEFAULT_LIST "127.0.0.1,::1" /* config.c's default */

Test(allow, default_list_allows_loopback_only)
{
	cr_assert_eq(allow_match(DEFAULT_LIST, "127.0.0.1"), 1);
	cr_assert_eq(allow_match(DEFAULT_LIST, "::1"), 1);
	cr_assert_eq(allow_match(DEFAULT_LIST, "10.1.2.3"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "192.0.2.7"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "2001:db8::1"), 0);
}

Test(allow, exact_ipv4)
{
	cr_assert_eq(allow_match("192.0.2.7", "192.0.2.7"), 1);
	cr_assert_eq(allow_match("192.0.2.7", "192.0.2.8"), 0);
	cr_assert_eq(allow_match("192.0.2.7", "192.0.2.70"), 0);
	cr_assert_eq(allow_match("192.0.2.70", "192.0.2.7"), 0);
}

Test(allow, exact_ipv6)
{
	cr_assert_eq(allow_match("2001:db8::1", "2001:db8::1"), 1);
	cr_assert_eq(allow_match("2001:db8::1", "2001:db8::10"), 0);
	cr_assert_eq(allow_match("2001:db8::1", "2001:db8::"), 0);
	cr_assert_eq(allow_match("::1", "::"), 0);
}

Test(allow, prefix_and_suffix_tricks_are_refused)
{
	/* Longer, shorter, or containing an allowed entry: all refused. */
	cr_assert_eq(allow_match(DEFAULT_LIST, "127.0.0.10"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "127.0.0.100"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "127.0.0."), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "127.0.0"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "1127.0.0.1"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "127.0.0.1.evil"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "::11"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, ":::1"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "::1%lo"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "127"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "1"), 0);
}

Test(allow, whole_list_or_pieces_of_it_are_not_an_address)
{
	cr_assert_eq(allow_match(DEFAULT_LIST, DEFAULT_LIST), 0,
	    "the list itself is not an entry");
	cr_assert_eq(allow_match(DEFAULT_LIST, "127.0.0.1,"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, ",::1"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, ","), 0);
	cr_assert_eq(allow_match("a,b", "a,b"), 0);
}

Test(allow, any_entry_of_a_list)
{
	const char *list = "10.0.0.1,10.0.0.2,2001:db8::5,192.0.2.200";

	cr_assert_eq(allow_match(list, "10.0.0.1"), 1, "first entry");
	cr_assert_eq(allow_match(list, "10.0.0.2"), 1, "middle entry");
	cr_assert_eq(allow_match(list, "2001:db8::5"), 1, "IPv6 entry");
	cr_assert_eq(allow_match(list, "192.0.2.200"), 1, "last entry");
	cr_assert_eq(allow_match(list, "10.0.0.3"), 0);
	cr_assert_eq(allow_match(list, "192.0.2.20"), 0, "prefix of the last");
	cr_assert_eq(allow_match(list, "127.0.0.1"), 0, "not in this list");
}

Test(allow, blanks_before_entries_are_skipped)
{
	const char *list = "  127.0.0.1,   ::1, 192.0.2.1";

	cr_assert_eq(allow_match(list, "127.0.0.1"), 1);
	cr_assert_eq(allow_match(list, "::1"), 1);
	cr_assert_eq(allow_match(list, "192.0.2.1"), 1);
	cr_assert_eq(allow_match(list, " 127.0.0.1"), 0,
	    "the blank belongs to the list, not the address");
}

/*
 * Only blanks before an entry are skipped: "127.0.0.1 ,::1" does not allow
 * 127.0.0.1, and tabs are not blanks.  Current behaviour, pinned so that a
 * change to it is deliberate.
 */
Test(allow, blanks_and_tabs_around_entries_are_ignored)
{
	cr_assert_eq(allow_match("127.0.0.1 ,::1", "127.0.0.1"), 1,
	    "a blank before the comma must not hide the entry");
	cr_assert_eq(allow_match("127.0.0.1 ,::1", "127.0.0.1 "), 0,
	    "the address itself is never trimmed");
	cr_assert_eq(allow_match("127.0.0.1 ,::1", "::1"), 1);
	cr_assert_eq(allow_match("\t127.0.0.1\t, ::1 ", "127.0.0.1"), 1);
	cr_assert_eq(allow_match("\t127.0.0.1\t, ::1 ", "::1"), 1);
	cr_assert_eq(allow_match("127.0.0 .1", "127.0.0.1"), 0,
	    "blanks inside an entry are kept");
}

Test(allow, empty_entries_match_nothing)
{
	cr_assert_eq(allow_match("", "127.0.0.1"), 0, "empty list: nobody");
	cr_assert_eq(allow_match(",", "127.0.0.1"), 0);
	cr_assert_eq(allow_match(",,,", "127.0.0.1"), 0);
	cr_assert_eq(allow_match("   ", "127.0.0.1"), 0);
	cr_assert_eq(allow_match(" , ,", "127.0.0.1"), 0);
	cr_assert_eq(allow_match(",,127.0.0.1,,", "127.0.0.1"), 1,
	    "empty entries around a real one do not hide it");
	cr_assert_eq(allow_match("127.0.0.1,", "127.0.0.1"), 1);
}

Test(allow, missing_or_empty_address_is_refused)
{
	cr_assert_eq(allow_match(DEFAULT_LIST, NULL), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, ""), 0);
	cr_assert_eq(allow_match("", ""), 0);
	cr_assert_eq(allow_match(",", ""), 0, "an empty entry is not an empty address");
	cr_assert_eq(allow_match(" ", ""), 0);
}

Test(allow, comparison_is_textual)
{
	/* Other spellings of an allowed address are refused. */
	cr_assert_eq(allow_match("::1", "0:0:0:0:0:0:0:1"), 0);
	cr_assert_eq(allow_match("::1", "0000::0001"), 0);
	cr_assert_eq(allow_match("2001:db8::a", "2001:DB8::A"), 0, "case matters");
	cr_assert_eq(allow_match("127.0.0.1", "::ffff:127.0.0.1"), 0,
	    "IPv4-mapped is another address");
	cr_assert_eq(allow_match("127.0.0.1", "127.000.000.001"), 0);
	cr_assert_eq(allow_match("127.0.0.1", "localhost"), 0, "no names");
	cr_assert_eq(allow_match("localhost", "127.0.0.1"), 0, "no names");
}

Test(allow, cidr_is_not_supported)
{
	/* A CIDR entry only matches the same text, never an address in it. */
	cr_assert_eq(allow_match("10.0.0.0/8", "10.1.2.3"), 0);
	cr_assert_eq(allow_match("10.0.0.0/8", "10.0.0.0"), 0);
	cr_assert_eq(allow_match("2001:db8::/32", "2001:db8::1"), 0);
	cr_assert_eq(allow_match("10.0.0.0/8", "10.0.0.0/8"), 1);
}

Test(allow, garbage_is_refused)
{
	cr_assert_eq(allow_match(DEFAULT_LIST, "not an address"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "*"), 0);
	cr_assert_eq(allow_match("*", "127.0.0.1"), 0, "no wildcard");
	cr_assert_eq(allow_match(DEFAULT_LIST, "127.0.0.1\n"), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "127.0.0.1 "), 0);
	cr_assert_eq(allow_match(DEFAULT_LIST, "%"), 0);
}

Test(allow, embedded_nul_ends_the_address)
{
	/* REMOTE_ADDR is a C string here: what follows a NUL is not seen. */
	const char ra[] = "127.0.0.1\0garbage";

	cr_assert_eq(allow_match(DEFAULT_LIST, ra), 1);
}

Test(allow, long_inputs)
{
	char list[4096], addr[2048];

	memset(addr, '1', sizeof(addr) - 1);
	addr[sizeof(addr) - 1] = '\0';
	cr_assert_eq(allow_match(DEFAULT_LIST, addr), 0);
	/* Many entries; the one that matches is the last. */
	list[0] = '\0';
	for (int i = 0; i < 200; i++) {
		char e[16];

		snprintf(e, sizeof(e), "10.0.%d.%d,", i / 250, i % 250);
		strcat(list, e);
	}
	strcat(list, "192.0.2.99");
	cr_assert_lt(strlen(list), sizeof(list));
	cr_assert_eq(allow_match(list, "192.0.2.99"), 1);
	cr_assert_eq(allow_match(list, "10.0.0.199"), 1);
	cr_assert_eq(allow_match(list, "10.0.0.200"), 0);
	cr_assert_eq(allow_match(addr, addr), 1);
}

/* ---- the status token (allow_token_read, allow_token_match) ---- */

#include <stdlib.h>
#include <unistd.h>

#include <sticky/sticky.h>

static char *
token_file(const char *content)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/sticky-token-XXXXXX");
	cr_assert((fd = mkstemp(path)) >= 0);
	cr_assert((f = fdopen(fd, "w")) != NULL);
	fputs(content, f);
	fclose(f);
	return path;
}

Test(token, match_is_exact)
{
	const char *t = "0123456789abcdef0123";

	cr_assert_eq(allow_token_match(t, "0123456789abcdef0123"), 1);
	cr_assert_eq(allow_token_match(t, "0123456789abcdef012"), 0, "prefix");
	cr_assert_eq(allow_token_match(t, "0123456789abcdef01234"), 0, "longer");
	cr_assert_eq(allow_token_match(t, "0123456789abcdef0124"), 0);
	cr_assert_eq(allow_token_match(t, ""), 0);
	cr_assert_eq(allow_token_match(t, NULL), 0);
	cr_assert_eq(allow_token_match("", ""), 0, "no token: nothing matches");
}

Test(token, read_first_line)
{
	char tok[STATUS_TOKEN_MAX + 1], err[256];
	char *p = token_file("s3cr3t-s3cr3t-s3cr3t\nsecond line\n");

	cr_assert_eq(allow_token_read(p, tok, sizeof(tok), err, sizeof(err)), 0);
	cr_assert_str_eq(tok, "s3cr3t-s3cr3t-s3cr3t");
	unlink(p);
	p = token_file("crlf-crlf-crlf-crlf\r\n");
	cr_assert_eq(allow_token_read(p, tok, sizeof(tok), err, sizeof(err)), 0);
	cr_assert_str_eq(tok, "crlf-crlf-crlf-crlf");
	unlink(p);
}

Test(token, bad_files_refused_without_leaking)
{
	char tok[STATUS_TOKEN_MAX + 1], err[256], big[STATUS_TOKEN_MAX + 10];
	char *p;

	cr_assert_eq(allow_token_read("/nonexistent/token", tok, sizeof(tok), err,
	    sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "cannot open") != NULL, "%s", err);
	p = token_file("short\n");
	cr_assert_eq(allow_token_read(p, tok, sizeof(tok), err, sizeof(err)),
	    STICKY_ECONFIG);
	cr_assert(strstr(err, "short") == NULL, "the token is not in: %s", err);
	unlink(p);
	p = token_file("has a space in it, long enough\n");
	cr_assert_eq(allow_token_read(p, tok, sizeof(tok), err, sizeof(err)),
	    STICKY_ECONFIG);
	unlink(p);
	p = token_file("");
	cr_assert_eq(allow_token_read(p, tok, sizeof(tok), err, sizeof(err)),
	    STICKY_ECONFIG);
	unlink(p);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	p = token_file(big);
	cr_assert_eq(allow_token_read(p, tok, sizeof(tok), err, sizeof(err)),
	    STICKY_ECONFIG, "longer than STATUS_TOKEN_MAX");
	unlink(p);
}
