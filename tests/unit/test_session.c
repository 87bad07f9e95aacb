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
#include "payload.h"
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
	struct session *s = store_session_alloc("AAAAAAAAAAAAAAAAAAAAAA");

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
	cr_assert_eq(payload_replay_add(w.cfg, s, id, &b), 0);
	buf_cleanup(&b);
}

Test(payload, app_bytes_first_replay_log_last_round_trip)
{
	struct session *s = mk(), *r = store_session_alloc("BBBBBBBBBBBBBBBBBBBBBB");
	struct sticky_buf p;
	uint32_t meta;

	buf_init(&p);
	add(s, "id-1", "first");
	add(s, "id-2", "second");
	cr_assert_eq(payload_encode(w.app, w.cfg, s, &p, &meta), 0);
	cr_assert(memcmp(p.data, "12345678", 8) == 0, "app bytes lead");
	cr_assert_eq(p.len, 8 + meta);
	cr_assert_eq(payload_decode(w.app, w.cfg,
	    r, p.data, p.len, meta, 1), 0);
	cr_assert(memcmp(r->state, "12345678", 8) == 0);
	cr_assert_str_eq((char *)payload_replay_find(r, "id-1")->data, "first");
	cr_assert_str_eq((char *)payload_replay_find(r, "id-2")->data,
	    "second");
	cr_assert_null(payload_replay_find(r, "id-3"));
	buf_cleanup(&p);
	session_destroy_cb(s, &w);
	session_destroy_cb(r, &w);
}

Test(payload, the_ring_keeps_the_newest_and_survives_a_restore_in_order)
{
	struct session *s = mk(), *r = store_session_alloc("BBBBBBBBBBBBBBBBBBBBBB");
	struct sticky_buf p;
	uint32_t meta;

	buf_init(&p);
	add(s, "a", "1");
	add(s, "b", "2");
	add(s, "c", "3");
	add(s, "d", "4"); /* overwrites a */
	cr_assert_null(payload_replay_find(s, "a"));
	cr_assert_eq(payload_encode(w.app, w.cfg, s, &p, &meta), 0);
	cr_assert_eq(payload_decode(w.app, w.cfg,
	    r, p.data, p.len, meta, 1), 0);
	/* After the restore the oldest (b) is the next to go. */
	add(r, "e", "5");
	cr_assert_null(payload_replay_find(r, "b"));
	cr_assert_not_null(payload_replay_find(r, "c"));
	cr_assert_not_null(payload_replay_find(r, "d"));
	cr_assert_not_null(payload_replay_find(r, "e"));
	buf_cleanup(&p);
	session_destroy_cb(s, &w);
	session_destroy_cb(r, &w);
}

Test(payload, never_shrinks_so_deltas_stay_possible)
{
	struct session *s = mk(), *r = store_session_alloc("BBBBBBBBBBBBBBBBBBBBBB");
	struct sticky_buf p1, p2;
	uint32_t m1, m2;

	buf_init(&p1);
	buf_init(&p2);
	add(s, "long-request-id-0001", "a fairly long recorded response");
	cr_assert_eq(payload_encode(w.app, w.cfg, s, &p1, &m1), 0);
	/* Replace every entry with shorter ones: the section keeps its size. */
	add(s, "x", "1");
	add(s, "y", "2");
	add(s, "z", "3");
	cr_assert_null(payload_replay_find(s, "long-request-id-0001"));
	cr_assert_eq(payload_encode(w.app, w.cfg, s, &p2, &m2), 0);
	cr_assert_geq(p2.len, p1.len, "%zu < %zu", p2.len, p1.len);
	/* Padding decodes: zeros after the entries. */
	cr_assert_eq(payload_decode(w.app, w.cfg,
	    r, p2.data, p2.len, m2, 1), 0);
	cr_assert_not_null(payload_replay_find(r, "z"));
	/* Anything but zeros there is corruption. */
	p2.data[p2.len - 1] = 7;
	struct session *r2 = store_session_alloc("CCCCCCCCCCCCCCCCCCCCCC");
	cr_assert_eq(payload_decode(w.app, w.cfg, r2, p2.data, p2.len, m2, 1),
	    STICKY_ECORRUPT);
	buf_cleanup(&p1);
	buf_cleanup(&p2);
	session_destroy_cb(s, &w);
	session_destroy_cb(r, &w);
	session_destroy_cb(r2, &w);
}

Test(payload, hostile_meta_is_refused)
{
	struct session *r = store_session_alloc("BBBBBBBBBBBBBBBBBBBBBB");
	unsigned char p[8 + 12] = "12345678";

	/* count 1, idlen 0x7fffffff: far past the end. */
	p[8 + 3] = 1;
	p[12] = 0x7f; p[13] = 0xff; p[14] = 0xff; p[15] = 0xff;
	cr_assert_eq(payload_decode(w.app, w.cfg, r, p, sizeof(p), 12, 1),
	    STICKY_ECORRUPT);
	cr_assert_eq(payload_decode(w.app, w.cfg, r, p, sizeof(p), 40, 1),
	    STICKY_ECORRUPT,
	    "meta longer than the payload");
	session_destroy_cb(r, &w);
}

/* Found by fuzz_session: an id with a NUL decoded to a shorter id, so the
 * session re-encoded to other bytes than Redis held. */
Test(payload, id_with_nul_is_refused)
{
	struct session *r = store_session_alloc("CCCCCCCCCCCCCCCCCCCCCC");
	/* app "12345678"; meta: count 1, idlen 3 "a\0b", outlen 0 */
	unsigned char p[8 + 4 + 4 + 3 + 4] = "12345678";

	p[8 + 3] = 1;
	p[12 + 3] = 3;
	p[16] = 'a'; p[17] = '\0'; p[18] = 'b';
	cr_assert_eq(payload_decode(w.app, w.cfg, r, p, sizeof(p), 15, 1),
	    STICKY_ECORRUPT);
	session_destroy_cb(r, &w);
}

/* Out of memory while remembering a response: the ring is as it was. */
Test(payload, out_of_memory_in_replay_add_leaves_the_ring_intact)
{
	struct session *s = mk(), *r = store_session_alloc("BBBBBBBBBBBBBBBBBBBBBB");
	struct sticky_buf b, p;
	uint32_t meta;
	int failed = 0;

	add(s, "a", "1");
	add(s, "b", "2");
	add(s, "c", "3"); /* full: the next one overwrites a */
	buf_init(&b);
	buf_puts(&b, "new response");
	for (unsigned long n = 1; n <= 3; n++) {
		alloc_fail_after(n);
		int rc = payload_replay_add(w.cfg, s, "d", &b);
		alloc_fail_after(0);
		if (rc == 0)
			break;
		cr_assert_eq(rc, STICKY_ENOMEM);
		failed++;
		cr_assert_eq(s->x->nreplay, 3);
		cr_assert_str_eq((char *)payload_replay_find(s, "a")->data, "1",
		    "allocation %lu: the oldest is still there", n);
		cr_assert_null(payload_replay_find(s, "d"));
		cr_assert_null(payload_replay_find(s, "-"), "no placeholder");
		for (size_t i = 0; i < s->x->nreplay; i++)
			cr_assert_not_null(s->x->replay[i].id);
	}
	cr_assert_eq(failed, 2, "the id and the response were both tried");
	cr_assert_str_eq((char *)payload_replay_find(s, "d")->data,
	    "new response");
	cr_assert_null(payload_replay_find(s, "a"));
	buf_init(&p);
	cr_assert_eq(payload_encode(w.app, w.cfg, s, &p, &meta), 0);
	cr_assert_eq(payload_decode(w.app, w.cfg,
	    r, p.data, p.len, meta, 1), 0);
	cr_assert_not_null(payload_replay_find(r, "d"));
	buf_cleanup(&p);
	buf_cleanup(&b);
	session_destroy_cb(s, &w);
	session_destroy_cb(r, &w);
}

/* Out of memory while decoding: ENOMEM (retryable), never "corrupt". */
Test(payload, out_of_memory_in_decode_is_enomem_and_leaks_nothing)
{
	struct session *s = mk();
	struct sticky_buf p;
	uint32_t meta;
	int saw = 0;

	add(s, "a", "1");
	add(s, "b", "2");
	buf_init(&p);
	cr_assert_eq(payload_encode(w.app, w.cfg, s, &p, &meta), 0);
	for (unsigned long n = 1; n <= 20; n++) {
		struct session *r = store_session_alloc("BBBBBBBBBBBBBBBBBBBBBB");

		alloc_fail_after(n);
		int rc = payload_decode(w.app, w.cfg, r, p.data,
		    p.len, meta, 1);
		alloc_fail_after(0);
		cr_assert(rc == 0 || rc == STICKY_ENOMEM, "allocation %lu: %d", n, rc);
		saw += rc == STICKY_ENOMEM;
		for (size_t i = 0; r->x != NULL && i < r->x->nreplay; i++)
			cr_assert_not_null(r->x->replay[i].id);
		session_destroy_cb(r, &w);
	}
	cr_assert_geq(saw, 3);
	buf_cleanup(&p);
	session_destroy_cb(s, &w);
}

/* replay_max_bytes: the log stays within its bytes, the newest kept. */
Test(payload, the_replay_log_is_bounded_in_bytes)
{
	struct session *s = mk(), *r = store_session_alloc("BBBBBBBBBBBBBBBBBBBBBB");
	struct sticky_buf b, p;
	uint32_t meta;

	cfg.replay_slots = 8;
	cfg.replay_max_bytes = 20;
	add(s, "a", "1234567"); /* 8 bytes with its id */
	add(s, "b", "1234567");
	cr_assert_eq(s->x->replay_bytes, 16);
	add(s, "c", "1234567"); /* 24 > 20: a goes */
	cr_assert_eq(s->x->replay_bytes, 16);
	cr_assert_eq(s->x->nreplay, 2);
	cr_assert_null(payload_replay_find(s, "a"));
	cr_assert_not_null(payload_replay_find(s, "b"));
	cr_assert_not_null(payload_replay_find(s, "c"));
	buf_init(&b);
	buf_puts(&b, "a response larger than the whole budget");
	cr_assert_eq(payload_replay_add(w.cfg, s, "d", &b), 0);
	cr_assert_null(payload_replay_find(s, "d"),
	    "too large: not remembered");
	cr_assert_eq(s->x->replay_bytes, 16);
	buf_cleanup(&b);
	/* A restore into a worker with a smaller budget keeps the newest. */
	buf_init(&p);
	cr_assert_eq(payload_encode(w.app, w.cfg, s, &p, &meta), 0);
	cfg.replay_max_bytes = 10;
	cr_assert_eq(payload_decode(w.app, w.cfg,
	    r, p.data, p.len, meta, 1), 0);
	cr_assert_eq(r->x->nreplay, 1);
	cr_assert_eq(r->x->replay_bytes, 8);
	cr_assert_not_null(payload_replay_find(r, "c"));
	/* Then the ring goes on from there, oldest first. */
	cfg.replay_max_bytes = 20;
	add(r, "e", "1234567");
	add(r, "f", "1234567");
	cr_assert_null(payload_replay_find(r, "c"));
	cr_assert_not_null(payload_replay_find(r, "e"));
	cr_assert_not_null(payload_replay_find(r, "f"));
	buf_cleanup(&p);
	session_destroy_cb(s, &w);
	session_destroy_cb(r, &w);
}

/* max_bytes counts the replay log and the delta base, not only the state. */
Test(payload, footprint_counts_state_replay_log_and_delta_base)
{
	struct session *s = mk();
	size_t base = payload_footprint(w.app, s);

	add(s, "id-1", "a remembered response");
	/* the entry's bytes, and the extension and ring entries that hold it */
	cr_assert_eq(payload_footprint(w.app, s), base + 4 + 21 +
	    sizeof(struct session_ext) + s->x->replay_cap * sizeof(*s->x->replay));
	buf_append(&s->x->written, "x", 1);
	buf_reserve(&s->x->written, 10000);
	cr_assert_geq(payload_footprint(w.app, s), base + 4 + 21 + 10000,
	    "the delta base copy counts at its allocated size");
	session_destroy_cb(s, &w);
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
	cr_assert_eq(payload_encode(w.app, w.cfg, s, &out, &meta), 0);
	cr_assert_eq(meta, 4);
	cr_assert_null(s->x, "no replay log, no extension");
	buf_cleanup(&out);
	add(s, "id-1", "first");
	cr_assert_not_null(s->x);
	cr_assert(s->flags & SESS_META_DIRTY, "the log changed: send it");
	session_destroy_cb(s, &w);
}
