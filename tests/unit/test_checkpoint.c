/*
 * test_checkpoint.c: checkpoint.c on its own context (struct ckpt, no
 * worker) against a real redis-server (redis_srv.c): the envelope's
 * payload CRC is that of the bytes Redis holds after full and delta
 * writes (with and without a codec view; under a secret the MAC too), a
 * delta Redis refuses is sent again whole in the same call, and a fenced
 * write is handed back to the caller (ckpt_write's results, ckpt_flush's
 * drop callback), never freed behind its back.  What Redis holds is read
 * with the raw RESP client.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <sticky/sticky.h>
#include "checkpoint.h"
#include "config.h"
#include "crc32c.h"
#include "envelope.h"
#include "metrics.h"
#include "redis_srv.h"
#include "secret.h"
#include "session.h"
#include "store.h"

#define PAGE 4096
#define STATE_LEN (16 * PAGE) /* big enough for deltas */
#define KEY "CCCCCCCCCCCCCCCCCCCCCC"

TestSuite(ckpt, .init = setup, .fini = teardown, .timeout = 30);

/* ---- a codec over STATE_LEN bytes ------------------------------------ */

static int
st_encode(const void *state, struct sticky_buf *out, void *appdata)
{
	(void)appdata;
	return sticky_buf_append(out, state, STATE_LEN);
}

static void
st_destroy(void *state, void *appdata)
{
	(void)appdata;
	free(state);
}

static size_t
st_size(const void *state, void *appdata)
{
	(void)state;
	(void)appdata;
	return STATE_LEN;
}

static int
st_view(const void *state, const void **data, size_t *len, void *appdata)
{
	(void)appdata;
	*data = state;
	*len = STATE_LEN;
	return 0;
}

static const struct sticky_app_def app_plain = { .name = "ckpt-test",
	.codec = { .schema_version = 1, .encode = st_encode,
	    .destroy = st_destroy, .size = st_size } };
static const struct sticky_app_def app_view = { .name = "ckpt-test",
	.codec = { .schema_version = 1, .encode = st_encode,
	    .destroy = st_destroy, .size = st_size, .view = st_view } };

/* ---- the context under test ------------------------------------------ */

struct fx {
	struct sticky_config cfg;
	struct worker_stats stats;
	struct store *store;
	struct ckpt ck;
	struct session *s;
	char name[SID_KEY_LEN + 1];
	struct session *dropped[4]; /* what ck.drop was handed */
	size_t ndropped;
};

static void
destroy_cb(struct session *s, void *arg)
{
	const struct sticky_app_def *app = arg;

	if (s->state != NULL)
		app->codec.destroy(s->state, app->appdata);
	store_session_release(s);
}

/* ck.drop: record it, then do what a worker does (forget the copy). */
static void
drop_cb(struct session *s, void *arg)
{
	struct fx *f = arg;

	cr_assert_lt(f->ndropped, 4);
	f->dropped[f->ndropped++] = s;
	cr_assert_eq(store_peek(f->store, f->name), s, "still in the store");
	store_remove(f->store, s);
	destroy_cb(s, (void *)f->ck.app);
}

static void
fx_init(struct fx *f, const struct sticky_app_def *app, int secret)
{
	static const char *const keys[] = {
		"0123456789abcdef0123456789abcdef-ckpt" };
	const size_t lens[] = { strlen(keys[0]) };

	memset(f, 0, sizeof(*f));
	cr_assert_eq(config_init(&f->cfg), 0);
	/* secret_file: names are keyed hashes, checkpoints carry a MAC. */
	if (secret)
		cr_assert_eq(secrets_from(&f->cfg.secrets, keys, lens, 1), 0);
	cr_assert_eq(sticky_config_set(&f->cfg, "redis", addr, NULL, 0), 0);
	cr_assert_eq(sticky_config_set(&f->cfg, "redis_prefix", PREFIX, NULL,
	    0), 0);
	cr_assert_eq(sticky_config_set(&f->cfg, "checkpoint", "sync", NULL, 0),
	    0);
	f->cfg.checkpoint_page = PAGE;
	cr_assert_eq(store_new(&f->store, destroy_cb, (void *)app), 0);
	ckpt_init(&f->ck, &f->cfg, app, f->store, &f->stats, "w0");
	f->ck.drop = drop_cb;
	f->ck.arg = f;
	cr_assert_eq(ckpt_open(&f->ck), 0);
	cr_assert(ckpt_enabled(&f->ck));
	ckpt_name(&f->ck, KEY, f->name);

	cr_assert_not_null(f->s = store_session_alloc(f->name));
	cr_assert_not_null(f->s->state = malloc(STATE_LEN));
	for (size_t i = 0; i < STATE_LEN; i++)
		((unsigned char *)f->s->state)[i] = (unsigned char)(i * 7);
	cr_assert_eq(store_insert(f->store, f->s, 1), 0);
	store_dirty(f->store, f->s, 1);
}

static void
fx_fini(struct fx *f)
{
	ckpt_close(&f->ck); /* first: it settles what is out */
	store_free(f->store);
	config_cleanup(&f->cfg);
}

/* Change n bytes at off, as a handler would (touched on the view path). */
static void
change(struct fx *f, size_t off, size_t n, unsigned char v)
{
	memset((unsigned char *)f->s->state + off, v, n);
	if (f->ck.app->codec.view != NULL)
		cr_assert_eq(session_touch(f->s, PAGE, off, n, STATE_LEN), 0);
	else
		f->s->flags |= SESS_TOUCH_ALL;
	store_dirty(f->store, f->s, 2);
}

/* Write f->s alone; its result. */
static int
write1(struct fx *f)
{
	int res = 12345;

	cr_assert_eq(ckpt_write(&f->ck, &f->s, 1, &res), 0);
	return res;
}

/*
 * What Redis holds for the session: its header's CRC is that of the
 * payload that follows, and the payload is the state, then the replay
 * log section; under a secret, the MAC in the owner record is that of
 * these bytes.  Returns the checkpoint's epoch.
 */
static uint64_t
assert_redis_holds_state(struct fx *f)
{
	struct rr x = raw("GETRANGE", kname(f->name, "u"), "69", "-1", NULL);
	const unsigned char *p;
	struct envelope env;
	const char *why = "";

	cr_assert_eq(x.type, '$', "no checkpoint in Redis");
	cr_assert_geq(x.len, ENV_HDR_LEN + STATE_LEN);
	cr_assert_eq(envelope_decode_header((unsigned char *)x.s, x.len,
	    f->ck.app_id, &env, &why), 0, "header: %s", why);
	p = (unsigned char *)x.s + ENV_HDR_LEN;
	cr_assert_eq(env.app_len, STATE_LEN);
	cr_assert_eq(ENV_HDR_LEN + env.app_len + env.meta_len, x.len);
	cr_assert_eq(env.crc, crc32c(0, p, x.len - ENV_HDR_LEN),
	    "the header's CRC is that of the bytes Redis holds");
	cr_assert(memcmp(p, f->s->state, STATE_LEN) == 0,
	    "Redis holds the state");
	cr_assert_eq(envelope_decode(
	    (unsigned char *)x.s, x.len, f->ck.app_id, &env, &why), 0, "%s",
	    why);
	if (f->cfg.secrets != NULL) {
		/* The record's MAC: its length (byte 52), then the MAC. */
		struct rr m = raw("GETRANGE", kname(f->name, "u"), "52", "68",
		    NULL);

		cr_assert_eq(m.type, '$', "no owner record");
		cr_assert_eq(m.len, 17);
		cr_assert_eq(m.s[0], SECRET_MAC_LEN, "no MAC in the owner record");
		cr_assert_eq(secret_mac_check(f->cfg.secrets, x.s, ENV_HDR_LEN,
		    p, x.len - ENV_HDR_LEN, (unsigned char *)m.s + 1), 0,
		    "the MAC is that of the bytes Redis holds");
		rr_free(&m);
	}
	rr_free(&x);
	return env.epoch;
}

static void
crc_after_full_and_delta(const struct sticky_app_def *app, int secret)
{
	struct fx f;
	uint64_t bytes;

	fx_init(&f, app, secret);
	cr_assert_eq(write1(&f), 0);
	cr_assert_eq(f.stats.ckpt_written, 1);
	cr_assert_geq(f.stats.ckpt_bytes, ENV_HDR_LEN + STATE_LEN, "full");
	cr_assert_eq(f.s->dirty_since_ms, 0, "clean once written");
	assert_redis_holds_state(&f);

	/* Two pages apart, then the last byte: deltas, each checked. */
	for (int round = 0; round < 3; round++) {
		size_t off = round == 2 ? STATE_LEN - 1 :
		    (size_t)(3 + 9 * round) * PAGE + 100;
		unsigned char v = (unsigned char)(0xa0 + round);

		bytes = f.stats.ckpt_bytes;
		change(&f, off, round == 2 ? 1 : 10, v);
		cr_assert_eq(write1(&f), 0);
		cr_assert_lt(f.stats.ckpt_bytes - bytes, STATE_LEN / 4,
		    "round %d: a delta, %llu bytes", round,
		    (unsigned long long)(f.stats.ckpt_bytes - bytes));
		assert_redis_holds_state(&f);
	}
	cr_assert_eq(f.stats.ckpt_written, 4);
	cr_assert_eq(f.stats.ckpt_failed, 0);
	fx_fini(&f);
}

Test(ckpt, payload_crc_matches_redis_after_full_and_delta_writes)
{
	crc_after_full_and_delta(&app_plain, 0);
}

Test(ckpt, payload_crc_matches_redis_after_view_deltas)
{
	crc_after_full_and_delta(&app_view, 0);
}

Test(ckpt, payload_crc_and_mac_match_redis_under_a_secret)
{
	crc_after_full_and_delta(&app_plain, 1);
}

Test(ckpt, payload_crc_and_mac_match_redis_after_view_deltas_under_a_secret)
{
	crc_after_full_and_delta(&app_view, 1);
}

/*
 * Redis's copy changed behind the worker's back (its header no longer
 * what the worker wrote last): the delta is refused, and the same
 * ckpt_write() call sends it whole.
 */
static void
refused_delta_retried_whole(const struct sticky_app_def *app, int secret)
{
	struct fx f;
	struct rr x;
	uint64_t bytes;

	fx_init(&f, app, secret);
	cr_assert_eq(write1(&f), 0);
	x = raw("SETRANGE", kname(f.name, "u"), "69", "XXXX", NULL);
	cr_assert_eq(x.type, ':');
	rr_free(&x);
	bytes = f.stats.ckpt_bytes;
	change(&f, 5 * PAGE, 3, 0x55);
	cr_assert_eq(write1(&f), 0, "written in the same call");
	cr_assert_eq(f.stats.ckpt_written, 2);
	cr_assert_eq(f.stats.ckpt_failed, 0);
	cr_assert_geq(f.stats.ckpt_bytes - bytes, ENV_HDR_LEN + STATE_LEN,
	    "sent whole");
	cr_assert_eq(f.s->dirty_since_ms, 0);
	assert_redis_holds_state(&f);

	/* And the next change goes as a delta again. */
	bytes = f.stats.ckpt_bytes;
	change(&f, 7 * PAGE, 3, 0x66);
	cr_assert_eq(write1(&f), 0);
	cr_assert_lt(f.stats.ckpt_bytes - bytes, STATE_LEN / 4);
	assert_redis_holds_state(&f);
	fx_fini(&f);
}

Test(ckpt, refused_delta_is_retried_whole_in_the_same_call)
{
	refused_delta_retried_whole(&app_plain, 0);
}

Test(ckpt, refused_view_delta_under_a_secret_is_retried_whole)
{
	refused_delta_retried_whole(&app_view, 1);
}

/* The checkpoint deleted behind the worker's back: re-claimed, whole. */
Test(ckpt, deleted_checkpoint_is_reclaimed_by_a_whole_write)
{
	struct fx f;
	struct rr x;
	uint64_t epoch;

	fx_init(&f, &app_plain, 0);
	cr_assert_eq(write1(&f), 0);
	epoch = f.s->epoch;
	cr_assert_eq(has_ckpt(f.name), 1);
	cut_ckpt(f.name);
	change(&f, 2 * PAGE, 8, 0x77);
	cr_assert_eq(write1(&f), 0);
	cr_assert_eq(f.stats.reclaims, 1);
	cr_assert_eq(f.s->epoch, epoch, "re-claimed at its own epoch");
	x = raw("GETRANGE", kname(f.name, "u"), "0", "19", NULL);
	cr_assert_eq(strtoull(x.s, NULL, 10), epoch, "owner record: %s", x.s);
	rr_free(&x);
	assert_redis_holds_state(&f);
	fx_fini(&f);
}

/*
 * Another worker owns the user now (a newer epoch in the owner record):
 * ckpt_write() says so in results and leaves the session to the caller;
 * ckpt_flush() hands it to ck.drop.  Neither frees it itself.
 */
Test(ckpt, fenced_write_is_handed_back_to_the_caller)
{
	struct fx f;
	struct session *s;
	struct rr x;
	int64_t due;

	fx_init(&f, &app_plain, 0);
	cr_assert_eq(write1(&f), 0);
	set_field(f.name, 0, "99");
	set_field(f.name, 20, "w9");

	change(&f, PAGE, 4, 0x11);
	cr_assert_eq(write1(&f), STICKY_EFENCED);
	cr_assert_eq(f.stats.ckpt_fenced, 1);
	cr_assert_eq(f.ndropped, 0, "ckpt_write hands it back in results");
	cr_assert_eq(store_peek(f.store, f.name), f.s, "left in the store");
	cr_assert_eq(((unsigned char *)f.s->state)[PAGE], 0x11, "not freed");

	/* A flush: the drop callback gets it, in the store until then. */
	s = f.s;
	cr_assert_eq(ckpt_flush(&f.ck, 1, &due), 0);
	cr_assert_eq(f.stats.ckpt_fenced, 2);
	cr_assert_eq(f.ndropped, 1);
	cr_assert_eq(f.dropped[0], s);
	cr_assert_null(store_peek(f.store, f.name));
	cr_assert_eq(store_count(f.store), 0);
	/* Redis still holds the other worker's record, untouched. */
	x = raw("GETRANGE", kname(f.name, "u"), "0", "51", NULL);
	cr_assert_eq(strtoull(x.s, NULL, 10), 99);
	cr_assert_eq(strncmp(x.s + 20, "w9 ", 3), 0, "%s", x.s);
	rr_free(&x);
	fx_fini(&f);
}

/*
 * Another owner at our epoch (a worker took the user over from a lagging
 * replica that had not seen our own takeover, while we were stopped):
 * every epoch has one owner, so ours is the copy to give up, whether the
 * epoch is checked or written.
 */
Test(ckpt, another_owner_at_our_epoch_fences)
{
	struct fx f;
	struct rr x;

	fx_init(&f, &app_plain, 0);
	cr_assert_eq(write1(&f), 0);
	cr_assert_eq(ckpt_check_owner(&f.ck, f.s), 0, "ours");
	set_field(f.name, 20, "w9");
	cr_assert_eq(ckpt_check_owner(&f.ck, f.s), STICKY_EFENCED);
	change(&f, PAGE, 4, 0x11);
	cr_assert_eq(write1(&f), STICKY_EFENCED);
	x = raw("GETRANGE", kname(f.name, "u"), "20", "51", NULL);
	cr_assert_eq(strncmp(x.s, "w9 ", 3), 0, "%s", x.s);
	rr_free(&x);
	fx_fini(&f);
}

/* Publish "<epoch> <owner> <name>" on the takeover channel; read it. */
static void
announce(struct fx *f, uint64_t epoch, const char *owner, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char msg[200];
	struct rr x;

	snprintf(msg, sizeof(msg), "%llu %s %s", (unsigned long long)epoch,
	    owner, f->name);
	x = raw("PUBLISH", PREFIX "takeover", msg, NULL);
	cr_assert_eq(x.type, ':');
	rr_free(&x);
	cr_assert_eq(poll(&p, 1, 2000), 1, "announcement delivered");
	ckpt_watch_read(&f->ck);
}

/*
 * Announcements: our own epoch from ourselves (a re-claim) is no
 * takeover; our epoch from another owner is (see above), and so is a
 * newer one.
 */
Test(ckpt, announcement_at_our_epoch_by_another_owner_drops_our_copy)
{
	struct fx f;
	int64_t wait = 1000;
	int fd;

	fx_init(&f, &app_plain, 0);
	cr_assert_eq(write1(&f), 0);
	cr_assert_geq(fd = ckpt_watch_fd(&f.ck, &wait), 0);
	announce(&f, f.s->epoch, "w0", fd);
	announce(&f, f.s->epoch - 1, "w9", fd);
	cr_assert_eq(f.ndropped, 0, "ours, or older: kept");
	announce(&f, f.s->epoch, "w9", fd);
	cr_assert_eq(f.ndropped, 1, "another owner at our epoch: dropped");
	cr_assert_null(store_peek(f.store, f.name));
	fx_fini(&f);
}

/*
 * Async mode: a flush slice is sent and its replies read later
 * (ckpt_land), while requests are served.  The changes it carries are
 * taken when it is sent; a request served meanwhile marks its own, which
 * the landing keeps (dirty, its page touched) and the next write sends.
 */
Test(ckpt, async_slice_keeps_the_changes_made_while_it_was_out)
{
	struct fx f;
	struct rr x;
	const unsigned char *p;
	int64_t due;

	fx_init(&f, &app_view, 1);
	cr_assert_eq(write1(&f), 0);
	f.cfg.checkpoint = CKPT_ASYNC;
	f.cfg.checkpoint_interval_ms = 0;
	change(&f, 2 * PAGE, 4, 0x22);
	cr_assert_eq(ckpt_flush(&f.ck, 0, &due), 0);
	cr_assert_geq(ckpt_flight_fd(&f.ck), 0, "sent, not waited for");
	cr_assert_eq(f.s->dirty_since_ms, 0, "its changes were taken");
	uint32_t since;
	cr_assert_eq(ckpt_in_flight(&f.ck, &since), 1, "still unsaved");
	cr_assert_eq(since, 2, "since its change");
	change(&f, 3 * PAGE, 4, 0x33); /* a request while it is out */
	cr_assert_eq(ckpt_in_flight(&f.ck, &since), 0, "counted dirty now");
	ckpt_land(&f.ck);
	cr_assert_eq(ckpt_in_flight(&f.ck, &since), 0);
	cr_assert_eq(since, 0);
	cr_assert_eq(ckpt_flight_fd(&f.ck), -1);
	cr_assert_eq(f.stats.ckpt_written, 2);
	cr_assert_neq(f.s->dirty_since_ms, 0, "the new change is still to write");
	cr_assert(f.s->flags & SESS_TOUCHED);
	x = raw("GETRANGE", kname(f.name, "u"), "69", "-1", NULL);
	cr_assert_eq(x.type, '$');
	p = (const unsigned char *)x.s + ENV_HDR_LEN;
	cr_assert_eq(p[2 * PAGE], 0x22, "Redis has what was sent");
	cr_assert_neq(p[3 * PAGE], 0x33, "and not what came after");
	rr_free(&x);
	/* The next write sends the page touched meanwhile. */
	cr_assert_eq(ckpt_flush(&f.ck, 1, &due), 0);
	cr_assert_eq(f.s->dirty_since_ms, 0);
	assert_redis_holds_state(&f);
	fx_fini(&f);
}

/*
 * Any other use of Redis, or a session leaving the store, reads the
 * replies of a slice out first (never another command's reply).  A fenced
 * write read that way is not dropped under the caller's feet: the session
 * stays, dirty, and checks its epoch before it is served again; a flush
 * (the worker's loop) hands it back.
 */
Test(ckpt, async_slice_lands_before_anything_else_uses_redis)
{
	struct fx f;
	struct session *s;
	int64_t due;

	fx_init(&f, &app_plain, 0);
	cr_assert_eq(write1(&f), 0);
	f.cfg.checkpoint = CKPT_ASYNC;
	f.cfg.checkpoint_interval_ms = 0;

	/* Landed by a session leaving the store. */
	change(&f, PAGE, 4, 0x11);
	cr_assert_eq(ckpt_flush(&f.ck, 0, &due), 0);
	cr_assert_geq(ckpt_flight_fd(&f.ck), 0);
	store_remove(f.store, f.s);
	cr_assert_eq(ckpt_flight_fd(&f.ck), -1, "landed first");
	cr_assert_eq(f.stats.ckpt_written, 2);
	cr_assert_eq(store_insert(f.store, f.s, 3), 0);
	assert_redis_holds_state(&f);

	/* Fenced, landed by another command: kept, dirty, unverified. */
	set_field(f.name, 0, "99");
	set_field(f.name, 20, "w9");
	change(&f, PAGE, 4, 0x12);
	cr_assert_eq(ckpt_flush(&f.ck, 0, &due), 0);
	cr_assert_geq(ckpt_flight_fd(&f.ck), 0);
	cr_assert_eq(ckpt_check_owner(&f.ck, f.s), STICKY_EFENCED);
	cr_assert_eq(ckpt_flight_fd(&f.ck), -1);
	cr_assert_eq(f.stats.ckpt_fenced, 1);
	cr_assert_eq(f.ndropped, 0, "not dropped under the caller's feet");
	cr_assert_eq(store_peek(f.store, f.name), f.s);
	cr_assert_neq(f.s->dirty_since_ms, 0);
	cr_assert_not(session_gen_ok(f.s, f.ck.stall_gen),
	    "checks its epoch before it is served again");

	/* From the loop: handed back. */
	s = f.s;
	cr_assert_eq(ckpt_flush(&f.ck, 0, &due), 0);
	ckpt_land(&f.ck);
	cr_assert_eq(f.stats.ckpt_fenced, 2);
	cr_assert_eq(f.ndropped, 1);
	cr_assert_eq(f.dropped[0], s);
	cr_assert_null(store_peek(f.store, f.name));
	fx_fini(&f);
}

/*
 * A write of the slice that fails gives its changes back (dirty since
 * they were made, first in line), and a logout of a new session whose
 * first write is out removes what that write left in Redis.
 */
Test(ckpt, async_slice_failed_gives_back_and_logout_waits_for_it)
{
	struct fx f;
	struct rr x;
	int64_t due;

	fx_init(&f, &app_plain, 0);
	f.cfg.checkpoint = CKPT_ASYNC;
	f.cfg.checkpoint_interval_ms = 0;
	cr_assert_eq(write1(&f), 0);

	/* Redis refuses writes (out of memory). */
	x = raw("CONFIG", "SET", "maxmemory", "1", NULL);
	rr_free(&x);
	change(&f, PAGE, 4, 0x21);
	cr_assert_eq(ckpt_flush(&f.ck, 0, &due), 0);
	cr_assert_eq(f.s->dirty_since_ms, 0);
	ckpt_land(&f.ck);
	x = raw("CONFIG", "SET", "maxmemory", "0", NULL);
	rr_free(&x);
	cr_assert_eq(f.stats.ckpt_failed, 1);
	cr_assert_eq(f.s->dirty_since_ms, 2, "dirty again, since its change");
	cr_assert_eq(store_dirty_oldest(f.store), f.s);
	cr_assert(f.s->flags & SESS_TOUCH_ALL, "its change is a change again");
	cr_assert_eq(ckpt_flush(&f.ck, 1, &due), 0);
	assert_redis_holds_state(&f);

	/* Logout while the first write of a new session is out. */
	struct session *n = store_session_alloc(f.name);
	char name2[SID_KEY_LEN + 1];

	ckpt_name(&f.ck, "BBBBBBBBBBBBBBBBBBBBBB", name2);
	cr_assert_not_null(n);
	session_set_key(n, name2);
	cr_assert_not_null(n->state = calloc(1, STATE_LEN));
	cr_assert_eq(store_insert(f.store, n, 4), 0);
	store_dirty(f.store, n, 4);
	cr_assert_eq(ckpt_flush(&f.ck, 0, &due), 0);
	cr_assert_geq(ckpt_flight_fd(&f.ck), 0);
	cr_assert_not(n->flags & SESS_IN_REDIS, "not known to be written yet");
	cr_assert_eq(ckpt_drop(&f.ck, n), 0);
	x = raw("GETRANGE", kname(name2, "u"), "0", "-1", NULL);
	cr_assert_eq(x.type, '$');
	cr_assert_leq(x.len, 69, "no checkpoint left (%zu bytes)", x.len);
	cr_assert_eq(x.s[20], '-', "a logged-out owner record");
	rr_free(&x);
	fx_fini(&f);
}
