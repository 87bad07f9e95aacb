/*
 * test_store.c: the session table (lookup, LRU order, growth, byte
 * accounting) and the eviction and idle-expiry policy on top of it
 * (session_sweep, without checkpoints: what may be dropped is dropped).
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "payload.h"
#include "session.h"
#include "store.h"
#include "worker.h"

static int destroyed;

static void
count_destroy(struct session *s, void *arg)
{
	destroyed++;
	store_session_release(s);
}

static void
mkkey(char *key, int i)
{
	snprintf(key, SID_KEY_LEN + 1, "k%021d", i);
}

Test(store, insert_get_remove)
{
	struct store *st;
	struct session *s;
	char key[SID_KEY_LEN + 1];

	cr_assert_eq(store_new(&st, count_destroy, NULL), 0);
	mkkey(key, 1);
	s = store_session_alloc(key);
	s->bytes = 100;
	cr_assert_eq(store_insert(st, s, 5), 0);
	cr_assert_eq(store_insert(st, s, 5), STICKY_EINVAL, "no duplicates");
	cr_assert_eq(store_get(st, key, 9), s);
	cr_assert_eq(s->last_used_ms, 9);
	cr_assert_eq(store_count(st), 1);
	cr_assert_eq(store_bytes(st), 100);
	store_set_bytes(st, s, 40);
	cr_assert_eq(store_bytes(st), 40);
	mkkey(key, 2);
	cr_assert_null(store_get(st, key, 9));
	store_remove(st, s);
	cr_assert_eq(store_count(st), 0);
	cr_assert_eq(store_bytes(st), 0);
	cr_assert_null(store_lru(st));
	store_session_release(s);
	store_free(st);
}

Test(store, lru_order_follows_use)
{
	struct store *st;
	struct session *s[3];
	char key[SID_KEY_LEN + 1];

	store_new(&st, count_destroy, NULL);
	for (int i = 0; i < 3; i++) {
		mkkey(key, i);
		s[i] = store_session_alloc(key);
		store_insert(st, s[i], i);
	}
	cr_assert_eq(store_lru(st), s[0]);
	mkkey(key, 0);
	store_get(st, key, 10); /* 0 becomes the most recent */
	cr_assert_eq(store_lru(st), s[1]);
	cr_assert_eq(store_newer(s[1]), s[2]);
	cr_assert_eq(store_newer(s[2]), s[0]);
	cr_assert_null(store_newer(s[0]));
	destroyed = 0;
	store_free(st);
	cr_assert_eq(destroyed, 3, "store_free destroys every session");
}

Test(store, grows_and_finds_everything)
{
	struct store *st;
	char key[SID_KEY_LEN + 1];
	const int n = 20000;

	store_new(&st, count_destroy, NULL);
	for (int i = 0; i < n; i++) {
		mkkey(key, i);
		cr_assert_eq(store_insert(st, store_session_alloc(key), i), 0);
	}
	cr_assert_eq(store_count(st), (size_t)n);
	for (int i = 0; i < n; i += 7) {
		mkkey(key, i);
		struct session *s = store_peek(st, key);
		cr_assert_not_null(s);
		char kb[SID_KEY_LEN + 1];

		cr_assert_str_eq(session_key(s, kb), key);
	}
	for (int i = 0; i < n; i += 2) {
		mkkey(key, i);
		struct session *s = store_peek(st, key);
		store_remove(st, s);
		store_session_release(s);
	}
	cr_assert_eq(store_count(st), (size_t)n / 2);
	mkkey(key, 2);
	cr_assert_null(store_peek(st, key));
	mkkey(key, 3);
	cr_assert_not_null(store_peek(st, key));
	store_free(st);
}

/* ---- eviction and expiry through session_sweep ---- */

static int states_freed;

static void
free_state(void *state, void *appdata)
{
	states_freed++;
	free(state);
}

static const struct sticky_app_def app = {
	.name = "t",
	.codec = { .destroy = free_state },
};

struct fixture {
	struct worker w;
	struct sticky_config cfg;
	struct metrics_shm *m;
};

static void
fixture_init(struct fixture *f, long max_sessions, long max_bytes, long idle_s)
{
	memset(f, 0, sizeof(*f));
	cr_assert_eq(config_init(&f->cfg), 0);
	f->cfg.max_sessions = max_sessions;
	f->cfg.max_bytes = max_bytes;
	f->cfg.idle_timeout_s = idle_s;
	cr_assert_eq(metrics_map(&f->m, 1), 0);
	f->w.cfg = &f->cfg;
	f->w.app = &app;
	f->w.stats = &f->m->w[0];
	cr_assert_eq(store_new(&f->w.store, session_destroy_cb, &f->w), 0);
	states_freed = 0;
}

static void
fixture_fini(struct fixture *f)
{
	store_free(f->w.store);
	metrics_unmap(f->m);
	config_cleanup(&f->cfg);
}

static struct session *
add(struct fixture *f, int i, size_t bytes, int64_t now)
{
	char key[SID_KEY_LEN + 1];
	struct session *s;

	mkkey(key, i);
	s = store_session_alloc(key);
	s->state = malloc(1);
	s->bytes = bytes;
	cr_assert_eq(store_insert(f->w.store, s, now), 0);
	return s;
}

Test(sweep, evicts_least_recently_used_beyond_max_sessions)
{
	struct fixture f;
	char key[SID_KEY_LEN + 1];

	fixture_init(&f, 3, 1 << 30, 0);
	for (int i = 0; i < 5; i++)
		add(&f, i, 10, 1000 + i);
	mkkey(key, 0);
	store_get(f.w.store, key, 2000); /* 0 is now the most recent */
	session_sweep(&f.w, 2000);
	cr_assert_eq(store_count(f.w.store), 3);
	cr_assert_eq(f.w.stats->evictions, 2);
	cr_assert_eq(states_freed, 2, "the codec frees evicted state");
	mkkey(key, 0);
	cr_assert_not_null(store_peek(f.w.store, key), "recently used survives");
	mkkey(key, 1);
	cr_assert_null(store_peek(f.w.store, key));
	mkkey(key, 2);
	cr_assert_null(store_peek(f.w.store, key));
	fixture_fini(&f);
}

Test(sweep, evicts_beyond_max_bytes)
{
	struct fixture f;

	fixture_init(&f, 1000, 2500, 0);
	for (int i = 0; i < 4; i++)
		add(&f, i, 1000, 1000 + i);
	session_sweep(&f.w, 2000);
	cr_assert_eq(store_count(f.w.store), 2);
	cr_assert_leq(store_bytes(f.w.store), 2500);
	fixture_fini(&f);
}

Test(sweep, expires_idle_sessions_only)
{
	struct fixture f;

	fixture_init(&f, 1000, 1 << 30, 60);
	add(&f, 0, 10, 0);       /* idle since t=0 */
	add(&f, 1, 10, 50000);   /* used at t=50 s */
	session_sweep(&f.w, 61000);
	cr_assert_eq(store_count(f.w.store), 1);
	cr_assert_eq(f.w.stats->expired, 1);
	session_sweep(&f.w, 109000);
	cr_assert_eq(store_count(f.w.store), 1, "49 s idle is not 60");
	session_sweep(&f.w, 110001);
	cr_assert_eq(store_count(f.w.store), 0);
	fixture_fini(&f);
}

Test(sweep, within_limits_nothing_moves)
{
	struct fixture f;

	fixture_init(&f, 10, 1 << 30, 0);
	for (int i = 0; i < 10; i++)
		add(&f, i, 10, i);
	session_sweep(&f.w, 1 << 30);
	cr_assert_eq(store_count(f.w.store), 10);
	cr_assert_eq(f.w.stats->evictions, 0);
	fixture_fini(&f);
}

/* ---- a session put back after a failed restore keeps its changes ---- */

Test(store, remove_then_insert_keeps_a_dirty_session_dirty)
{
	struct store *st;
	char key[SID_KEY_LEN + 1];
	struct session *s;

	cr_assert_eq(store_new(&st, count_destroy, NULL), 0);
	mkkey(key, 1);
	s = store_session_alloc(key);
	cr_assert_eq(store_insert(st, s, 1000), 0);
	store_dirty(st, s, 1234);
	store_remove(st, s);
	cr_assert_eq(store_dirty_count(st), 0, "off the dirty list");
	cr_assert_null(store_dirty_oldest(st));
	cr_assert_eq(store_insert(st, s, 2000), 0);
	cr_assert_eq(store_dirty_count(st), 1, "queued again");
	cr_assert_eq(store_dirty_oldest(st), s);
	cr_assert_eq(s->dirty_since_ms, 1234, "with the time of its first change");
	store_free(st);
}

#include "checkpoint.h"
#include "request.h"

Test(resolve, a_restore_that_fails_puts_the_session_back_still_dirty)
{
	struct fixture f;
	struct fcgi_request fr;
	struct sticky_req req;
	struct fcgi_param p = { "HTTP_COOKIE",
		"STICKYSID=AAAAAAAAAAAAAAAAAAAAAA.w9", 11, 35 };
	struct session *s;

	fixture_init(&f, 100, 1 << 30, 0);
	/* Checkpoints on, Redis unreachable: every restore fails. */
	sticky_config_set(&f.cfg, "redis", "unix:/nonexistent/redis.sock", NULL, 0);
	f.cfg.redis_connect_timeout_ms = 10;
	strcpy(f.w.tag, "w0");
	worker_ckpt_init(&f.w);
	cr_assert_eq(ckpt_open(&f.w.ckpt), 0);
	cr_assert(ckpt_enabled(&f.w.ckpt));
	s = store_session_alloc("AAAAAAAAAAAAAAAAAAAAAA");
	s->state = malloc(1);
	s->bytes = 10;
	cr_assert_eq(store_insert(f.w.store, s, 1000), 0);
	store_dirty(f.w.store, s, 1500); /* an unsaved change */

	/* The cookie names another worker: take it over from Redis (fails). */
	fcgi_request_init(&fr);
	fr.params = &p;
	fr.nparams = 1;
	request_init(&req, &f.w, &fr);
	cr_assert_eq(session_resolve(&f.w, &req), 0);
	cr_assert_eq(req.sess, s, "served from the copy it kept");
	cr_assert_eq(store_dirty_count(f.w.store), 1, "still to be written");
	cr_assert_eq(s->dirty_since_ms, 1500);
	request_cleanup(&req);
	fr.params = NULL;
	fr.nparams = 0;
	fcgi_request_cleanup(&fr);
	ckpt_close(&f.w.ckpt);
	fixture_fini(&f);
}

/* idle_timeout up to LONG_MAX seconds: no overflow (UBSan), never expires. */
Test(sweep, idle_timeout_near_long_max_never_expires)
{
	struct fixture f;

	/* x 1000 wraps to 384 ms: a session idle for 10 s would go. */
	fixture_init(&f, 100, 1 << 30, 18446744073709552L);
	add(&f, 1, 10, 1000);
	session_sweep(&f.w, 11000);
	cr_assert_eq(store_count(f.w.store), 1);
	f.cfg.idle_timeout_s = LONG_MAX;
	session_sweep(&f.w, INT64_MAX / 2);
	cr_assert_eq(store_count(f.w.store), 1);
	cr_assert_eq(f.w.stats->expired, 0);
	fixture_fini(&f);
}

/* A session whose replay log is large is evicted by max_bytes. */
Test(sweep, the_replay_log_counts_in_max_bytes)
{
	struct fixture f;
	struct session *s;
	struct sticky_buf b;
	char id[8];

	fixture_init(&f, 100, 40000, 0);
	f.cfg.replay_slots = 8;
	s = add(&f, 1, 0, 1000);
	payload_account(f.w.store, f.w.app, s);
	buf_init(&b);
	cr_assert_not_null(buf_reserve(&b, 16000) == 0 ? &b : NULL);
	memset(b.data, 'r', 16000);
	b.len = 16000;
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		cr_assert_eq(payload_replay_add(f.w.cfg, s, id, &b), 0);
	}
	buf_cleanup(&b);
	payload_account(f.w.store, f.w.app, s);
	cr_assert_geq(store_bytes(f.w.store), 48000);
	session_sweep(&f.w, 2000);
	cr_assert_eq(store_count(f.w.store), 0, "evicted: over max_bytes");
	cr_assert_eq(f.w.stats->evictions, 1);
	fixture_fini(&f);
}
