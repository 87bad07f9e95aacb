/*
 * test_store.c: the session table (lookup, LRU order, growth, byte
 * accounting) and the eviction and idle-expiry policy on top of it
 * (session_sweep, without checkpoints: what may be dropped is dropped).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "session.h"
#include "store.h"
#include "worker.h"

static int destroyed;

static void
count_destroy(struct session *s, void *arg)
{
	destroyed++;
	session_release(s);
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
	s = session_alloc(key);
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
	session_release(s);
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
		s[i] = session_alloc(key);
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
		cr_assert_eq(store_insert(st, session_alloc(key), i), 0);
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
		session_release(s);
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
	s = session_alloc(key);
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
