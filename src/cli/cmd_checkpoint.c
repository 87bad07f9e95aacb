/*
 * cmd_checkpoint.c: look at checkpoints in Redis the way a worker would:
 * list them, decode a header, verify every field, delete one, and say who
 * owns a session.  Uses redis.c and envelope.c, nothing of its own.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "config.h"
#include "envelope.h"
#include "redis.h"
#include "sid.h"

static int
open_redis(const struct sticky_config *cfg, struct redis **r)
{
	struct redis_opts o;
	int rc;

	if (cfg->redis[0] == '\0') {
		fprintf(stderr, "stickyctl: no redis in the configuration "
		    "(-c FILE or -o redis=...)\n");
		return 1;
	}
	ckpt_redis_opts(cfg, &o);
	o.command_timeout_ms = 5000; /* an operator's scan may be slow */
	if ((rc = redis_new(r, &o)) != 0 || (rc = redis_connect(*r)) != 0) {
		fprintf(stderr, "stickyctl: redis %s: %s\n", cfg->redis,
		    *r != NULL ? redis_errstr(*r) : sticky_strerror(rc));
		redis_free(*r);
		return 1;
	}
	return 0;
}

/* Accept a full session id (key.tag) or a bare key. */
static int
key_of(const char *arg, char key[SID_KEY_LEN + 1])
{
	char probe[SID_MAX + 1];
	struct sid sid;

	if (sid_parse(arg, strlen(arg), &sid) == 0 ||
	    (strlen(arg) == SID_KEY_LEN &&
	    snprintf(probe, sizeof(probe), "%s.x", arg) > 0 &&
	    sid_parse(probe, strlen(probe), &sid) == 0)) {
		memcpy(key, sid.key, SID_KEY_LEN + 1);
		return 0;
	}
	fprintf(stderr, "stickyctl: '%s' is not a session id or key\n", arg);
	return 1;
}

static uint32_t
app_id_of(const struct sticky_config *cfg)
{
	const char *app = sticky_config_get(cfg, "app.name");

	return app != NULL ? envelope_app_id(app) : 0; /* 0: any app */
}

static void
print_header(const char *key, const struct envelope *e, size_t len)
{
	printf("key %s\n  format %u, app id %08" PRIx32 ", schema %" PRIu32
	    ", epoch %" PRIu64 "\n  meta %" PRIu32 " bytes, app %" PRIu64
	    " bytes, total %zu, crc32c %08" PRIx32 "\n", key, e->format, e->app_id,
	    e->schema, e->epoch, e->meta_len, e->app_len, len, e->crc);
}

int
cmd_list(struct sticky_config *cfg, int argc, char *argv[])
{
	struct redis *r = NULL;
	uint64_t cursor = 0;
	size_t total = 0;

	if (open_redis(cfg, &r) != 0)
		return 1;
	do {
		char **keys;
		size_t n;

		if (redis_scan(r, &cursor, &keys, &n) != 0) {
			fprintf(stderr, "stickyctl: scan: %s\n", redis_errstr(r));
			redis_free(r);
			return 1;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t epoch = 0;
			char owner[64] = "-";

			redis_owner(r, keys[i], &epoch, owner, sizeof(owner));
			printf("%s owner=%s epoch=%" PRIu64 "\n", keys[i], owner, epoch);
		}
		total += n;
		redis_scan_free(keys, n);
	} while (cursor != 0);
	fprintf(stderr, "%zu sessions\n", total);
	redis_free(r);
	return 0;
}

static int
check_one(struct redis *r, const char *key, uint32_t app_id, int verbose)
{
	struct sticky_buf blob;
	struct envelope e;
	const char *why = "";
	int rc;

	buf_init(&blob);
	if ((rc = redis_get(r, key, &blob)) != 0) {
		printf("%s: %s\n", key, sticky_strerror(rc));
		buf_cleanup(&blob);
		return 1;
	}
	rc = envelope_decode(blob.data, blob.len, app_id, &e, &why);
	if (rc == 0 && verbose)
		print_header(key, &e, blob.len);
	else if (rc == 0)
		printf("%s: ok\n", key);
	else
		printf("%s: BAD: %s (%s)\n", key, why, sticky_strerror(rc));
	buf_cleanup(&blob);
	return rc == 0 ? 0 : 1;
}

int
cmd_show(struct sticky_config *cfg, int argc, char *argv[])
{
	char key[SID_KEY_LEN + 1];
	struct redis *r = NULL;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: stickyctl show SID|KEY\n");
		return 2;
	}
	if (key_of(argv[1], key) != 0 || open_redis(cfg, &r) != 0)
		return 1;
	rc = check_one(r, key, app_id_of(cfg), 1);
	redis_free(r);
	return rc;
}

int
cmd_verify(struct sticky_config *cfg, int argc, char *argv[])
{
	char key[SID_KEY_LEN + 1];
	struct redis *r = NULL;
	uint32_t app_id = app_id_of(cfg);
	size_t bad = 0, total = 0;
	uint64_t cursor = 0;

	if (open_redis(cfg, &r) != 0)
		return 1;
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			if (key_of(argv[i], key) != 0) {
				bad++;
				continue;
			}
			bad += (size_t)check_one(r, key, app_id, 0);
			total++;
		}
	} else {
		do {
			char **keys;
			size_t n;

			if (redis_scan(r, &cursor, &keys, &n) != 0) {
				fprintf(stderr, "stickyctl: scan: %s\n", redis_errstr(r));
				redis_free(r);
				return 1;
			}
			for (size_t i = 0; i < n; i++)
				bad += (size_t)check_one(r, keys[i], app_id, 0);
			total += n;
			redis_scan_free(keys, n);
		} while (cursor != 0);
	}
	printf("%zu checked, %zu bad\n", total, bad);
	redis_free(r);
	return bad == 0 ? 0 : 1;
}

int
cmd_delete(struct sticky_config *cfg, int argc, char *argv[])
{
	char key[SID_KEY_LEN + 1];
	struct redis *r = NULL;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: stickyctl delete SID|KEY\n");
		return 2;
	}
	if (key_of(argv[1], key) != 0 || open_redis(cfg, &r) != 0)
		return 1;
	rc = redis_delete(r, key);
	if (rc != 0)
		fprintf(stderr, "stickyctl: delete: %s\n", sticky_strerror(rc));
	redis_free(r);
	return rc == 0 ? 0 : 1;
}

int
cmd_owner(struct sticky_config *cfg, int argc, char *argv[])
{
	char key[SID_KEY_LEN + 1], owner[64];
	struct redis *r = NULL;
	struct sid sid;
	uint64_t epoch;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: stickyctl owner SID|KEY\n");
		return 2;
	}
	if (key_of(argv[1], key) != 0)
		return 1;
	if (sid_parse(argv[1], strlen(argv[1]), &sid) == 0)
		printf("route tag in the id: %s\n", sid.tag);
	if (cfg->redis[0] == '\0')
		return 0;
	if (open_redis(cfg, &r) != 0)
		return 1;
	rc = redis_owner(r, key, &epoch, owner, sizeof(owner));
	if (rc == 0)
		printf("owner in redis: %s, epoch %" PRIu64 "%s\n", owner, epoch,
		    strcmp(owner, "-") == 0 ? " (logged out)" : "");
	else
		printf("owner in redis: none (%s)\n", sticky_strerror(rc));
	redis_free(r);
	return rc == 0 ? 0 : 1;
}
