/*
 * test_session.c: the session payload (app bytes, then the replay log,
 * padded so it never shrinks) and the replay ring: what a restored worker
 * must find to answer a resent request without running the handler.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "internal.h"
#include "session.h"
#include "store.h"
#include "worker.h"

static int
enc(const void *state, struct sticky_buf *out, void *appdata)
{
	return sticky_buf_append(out, state, 8);
}

static int
dec(void **state, const void *data, size_t len, uint32_t schema, void *appdata)
{
	if (len != 8)
		return STICKY_ECORRUPT;
	*state = malloc(8);
	memcpy(*state, data, 8);
	return 0;
}

static void
destroy(void *state, void *appdata)
{
	free(state);
}

static const struct sticky_app_def app = {
	.name = "t",
	.codec = { .schema_version = 1, .encode = enc, .decode = dec,
	    .destroy = destroy },
};

static struct sticky_config cfg;
static struct worker w;

static void
setup(void)
{
	cr_assert_eq(config_init(&cfg), 0);
	cfg.replay_slots = 3;
	memset(&w, 0, sizeof(w));
	w.cfg = &cfg;
	w.app = &app;
}

static void
teardown(void)
{
	config_cleanup(&cfg);
}

TestSuite(payload, .init = setup, .fini = teardown);

static struct session *
mk(void)
{
	struct session *s = session_alloc("AAAAAAAAAAAAAAAAAAAAAA");

	s->state = malloc(8);
	memcpy(s->state, "12345678", 8);
	return s;
}

static void
add(struct session *s, const char *id, const char *resp)
{
	struct sticky_buf b;

	buf_init(&b);
	buf_puts(&b, resp);
	cr_assert_eq(session_replay_add(&w, s, id, &b), 0);
	buf_cleanup(&b);
}

Test(payload, app_bytes_first_replay_log_last_round_trip)
{
	struct session *s = mk(), *r = session_alloc("BBBBBBBBBBBBBBBBBBBBBB");
	struct sticky_buf p;
	uint32_t meta;

	buf_init(&p);
	add(s, "id-1", "first");
	add(s, "id-2", "second");
	cr_assert_eq(session_encode(&w, s, &p, &meta), 0);
	cr_assert(memcmp(p.data, "12345678", 8) == 0, "app bytes lead");
	cr_assert_eq(p.len, 8 + meta);
	cr_assert_eq(session_decode(&w, r, p.data, p.len, meta, 1), 0);
	cr_assert(memcmp(r->state, "12345678", 8) == 0);
	cr_assert_str_eq((char *)session_replay_find(r, "id-1")->data, "first");
	cr_assert_str_eq((char *)session_replay_find(r, "id-2")->data, "second");
	cr_assert_null(session_replay_find(r, "id-3"));
	buf_cleanup(&p);
	session_destroy_cb(s, &w);
	session_destroy_cb(r, &w);
}

Test(payload, the_ring_keeps_the_newest_and_survives_a_restore_in_order)
{
	struct session *s = mk(), *r = session_alloc("BBBBBBBBBBBBBBBBBBBBBB");
	struct sticky_buf p;
	uint32_t meta;

	buf_init(&p);
	add(s, "a", "1");
	add(s, "b", "2");
	add(s, "c", "3");
	add(s, "d", "4"); /* overwrites a */
	cr_assert_null(session_replay_find(s, "a"));
	cr_assert_eq(session_encode(&w, s, &p, &meta), 0);
	cr_assert_eq(session_decode(&w, r, p.data, p.len, meta, 1), 0);
	/* After the restore the oldest (b) is the next to go. */
	add(r, "e", "5");
	cr_assert_null(session_replay_find(r, "b"));
	cr_assert_not_null(session_replay_find(r, "c"));
	cr_assert_not_null(session_replay_find(r, "d"));
	cr_assert_not_null(session_replay_find(r, "e"));
	buf_cleanup(&p);
	session_destroy_cb(s, &w);
	session_destroy_cb(r, &w);
}

Test(payload, never_shrinks_so_deltas_stay_possible)
{
	struct session *s = mk(), *r = session_alloc("BBBBBBBBBBBBBBBBBBBBBB");
	struct sticky_buf p1, p2;
	uint32_t m1, m2;

	buf_init(&p1);
	buf_init(&p2);
	add(s, "long-request-id-0001", "a fairly long recorded response");
	cr_assert_eq(session_encode(&w, s, &p1, &m1), 0);
	/* Replace every entry with shorter ones: the section keeps its size. */
	add(s, "x", "1");
	add(s, "y", "2");
	add(s, "z", "3");
	cr_assert_null(session_replay_find(s, "long-request-id-0001"));
	cr_assert_eq(session_encode(&w, s, &p2, &m2), 0);
	cr_assert_geq(p2.len, p1.len, "%zu < %zu", p2.len, p1.len);
	/* Padding decodes: zeros after the entries. */
	cr_assert_eq(session_decode(&w, r, p2.data, p2.len, m2, 1), 0);
	cr_assert_not_null(session_replay_find(r, "z"));
	/* Anything but zeros there is corruption. */
	p2.data[p2.len - 1] = 7;
	struct session *r2 = session_alloc("CCCCCCCCCCCCCCCCCCCCCC");
	cr_assert_eq(session_decode(&w, r2, p2.data, p2.len, m2, 1), STICKY_ECORRUPT);
	buf_cleanup(&p1);
	buf_cleanup(&p2);
	session_destroy_cb(s, &w);
	session_destroy_cb(r, &w);
	session_destroy_cb(r2, &w);
}

Test(payload, hostile_meta_is_refused)
{
	struct session *r = session_alloc("BBBBBBBBBBBBBBBBBBBBBB");
	unsigned char p[8 + 12] = "12345678";

	/* count 1, idlen 0x7fffffff: far past the end. */
	p[8 + 3] = 1;
	p[12] = 0x7f; p[13] = 0xff; p[14] = 0xff; p[15] = 0xff;
	cr_assert_eq(session_decode(&w, r, p, sizeof(p), 12, 1), STICKY_ECORRUPT);
	cr_assert_eq(session_decode(&w, r, p, sizeof(p), 40, 1), STICKY_ECORRUPT,
	    "meta longer than the payload");
	session_destroy_cb(r, &w);
}

/* ---- touched ranges (sticky_session_touch -> session_touch) ---- */

static int
page_bit(const struct session *s, size_t i)
{
	return s->x != NULL && i / 64 < s->x->ntouched &&
	    (s->x->touched[i / 64] >> (i % 64) & 1) != 0;
}

Test(payload, touch_marks_the_pages_a_range_covers)
{
	struct session *s = mk();
	size_t view = 1048576 + 8; /* 257 pages of 4 KiB, the last partial */

	cr_assert_eq(session_touch(s, 4096, 0, 8, view), 0);
	cr_assert(page_bit(s, 0));
	cr_assert(!page_bit(s, 1));
	cr_assert(s->flags & SESS_TOUCHED);
	cr_assert(!(s->flags & SESS_TOUCH_ALL));
	/* one range over a page boundary: both pages */
	cr_assert_eq(session_touch(s, 4096, 3 * 4096 - 2, 4, view), 0);
	cr_assert(page_bit(s, 2) && page_bit(s, 3));
	cr_assert(!page_bit(s, 4));
	/* the last byte of the view: the last (partial) page */
	cr_assert_eq(session_touch(s, 4096, view - 1, 1, view), 0);
	cr_assert(page_bit(s, 256));
	cr_assert(!page_bit(s, 255));
	/* the bitmap is sized for the whole view at once */
	cr_assert_eq(s->x->ntouched, 5);
	size_t n = 0;
	for (size_t i = 0; i < 5 * 64; i++)
		n += page_bit(s, i);
	cr_assert_eq(n, 4, "pages 0, 2, 3, 256 only (%zu)", n);
	/* empty range: nothing */
	cr_assert_eq(session_touch(s, 4096, 5 * 4096, 0, view), 0);
	cr_assert(!page_bit(s, 5));
	session_destroy_cb(s, &w);
}

Test(payload, touch_past_the_view_marks_the_whole_state)
{
	struct session *s = mk();

	cr_assert_eq(session_touch(s, 4096, 96, 8, 104), 0);
	cr_assert(!(s->flags & SESS_TOUCH_ALL));
	cr_assert_eq(session_touch(s, 4096, 100, 5, 104), STICKY_EINVAL);
	cr_assert(s->flags & SESS_TOUCH_ALL);
	cr_assert_eq(session_touch(s, 4096, 104, 1, 104), STICKY_EINVAL);
	cr_assert_eq(session_touch(s, 4096, SIZE_MAX, 2, 104), STICKY_EINVAL,
	    "no overflow");
	session_destroy_cb(s, &w);
}

Test(payload, small_sessions_have_no_extension)
{
	struct session *s = mk();
	struct sticky_buf out;
	uint32_t meta;

	cr_assert_leq(sizeof(struct session), 96, "a session is %zu bytes",
	    sizeof(struct session));
	buf_init(&out);
	cr_assert_eq(session_encode(&w, s, &out, &meta), 0);
	cr_assert_eq(meta, 4);
	cr_assert_null(s->x, "no replay log, no extension");
	buf_cleanup(&out);
	add(s, "id-1", "first");
	cr_assert_not_null(s->x);
	cr_assert(s->flags & SESS_META_DIRTY, "the log changed: send it");
	session_destroy_cb(s, &w);
}
