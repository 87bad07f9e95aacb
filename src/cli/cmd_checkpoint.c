/*
 * cmd_checkpoint.c: look at checkpoints in Redis the way a worker would:
 * list them, decode a header, verify every field and the MAC, delete one,
 * say who owns a session, and move checkpoints named by raw session keys
 * to their names under secret_file.  A session id or key given on the
 * command line is hashed into its name (secret.h) as the workers do; a
 * name (as `list` prints them) is taken as it is.  Uses redis.h,
 * envelope.c and secret.c, nothing of its own.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "config.h"
#include "envelope.h"
#include "redis.h"
#include "secret.h"
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

/*
 * Accept a full session id (key.tag), a bare key, or a name as Redis holds
 * it ("~..." under secret_file); key gets the Redis name.
 */
static int
key_of(const struct sticky_config *cfg, const char *arg,
    char key[SID_KEY_LEN + 1])
{
	char probe[SID_MAX + 1];
	struct sid sid;

	if (sid_parse(arg, strlen(arg), &sid) == 0 ||
	    (strlen(arg) == SID_KEY_LEN &&
	    snprintf(probe, sizeof(probe), "%s.x", arg) > 0 &&
	    sid_parse(probe, strlen(probe), &sid) == 0)) {
		secret_name(cfg->secrets, 0, sid.key, key);
		return 0;
	}
	if (strlen(arg) == SECRET_NAME_LEN && secret_is_name(arg) &&
	    strspn(arg + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") == SECRET_NAME_LEN - 1) {
		memcpy(key, arg, SECRET_NAME_LEN + 1);
		return 0;
	}
	fprintf(stderr, "stickyctl: '%s' is not a session id, key or name\n",
	    arg);
	return 1;
}

static uint32_t
app_id_of(const struct sticky_config *cfg)
{
	const char *app = sticky_config_get(cfg, "app.name");

	return app != NULL ? envelope_app_id(app) : 0; /* 0: any app */
}

/* "stickyctl CMD SID|KEY": the key and a connection, or what to exit with. */
static int
one_key(struct sticky_config *cfg, int argc, char *argv[],
    char key[SID_KEY_LEN + 1], struct redis **r)
{
	if (argc != 2) {
		fprintf(stderr, "usage: stickyctl %s SID|KEY\n", argv[0]);
		return 2;
	}
	if (key_of(cfg, argv[1], key) != 0 || open_redis(cfg, r) != 0)
		return 1;
	return 0;
}

/* Call fn for every checkpointed session; 1 after a scan error. */
static int
each_key(struct redis *r, void (*fn)(struct redis *, const char *, void *),
    void *arg)
{
	uint64_t cursor = 0;

	do {
		char **keys;
		size_t n;

		if (redis_scan(r, &cursor, &keys, &n) != 0) {
			fprintf(stderr, "stickyctl: scan: %s\n", redis_errstr(r));
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			fn(r, keys[i], arg);
		redis_scan_free(keys, n);
	} while (cursor != 0);
	return 0;
}

static void
print_header(const char *key, const struct envelope *e, size_t len)
{
	printf("key %s\n  format %u, app id %08" PRIx32 ", schema %" PRIu32
	    ", epoch %" PRIu64 "\n  meta %" PRIu32 " bytes, app %" PRIu64
	    " bytes, total %zu, crc32c %08" PRIx32 "\n", key, e->format, e->app_id,
	    e->schema, e->epoch, e->meta_len, e->app_len, len, e->crc);
}

static void
list_one(struct redis *r, const char *key, void *arg)
{
	size_t *total = arg;
	uint64_t epoch = 0;
	char owner[64] = "-";

	redis_owner(r, key, &epoch, owner, sizeof(owner));
	printf("%s owner=%s epoch=%" PRIu64 "\n", key, owner, epoch);
	(*total)++;
}

int
cmd_list(struct sticky_config *cfg, int argc, char *argv[])
{
	struct redis *r = NULL;
	size_t total = 0;
	int rc;

	if (open_redis(cfg, &r) != 0)
		return 1;
	rc = each_key(r, list_one, &total);
	fprintf(stderr, "%zu sessions\n", total);
	redis_free(r);
	return rc;
}

/*
 * With secret_file, the MAC as a worker checks it; 0, or STICKY_ECORRUPT
 * with why set.
 */
static int
check_mac(struct redis *r, const struct secrets *sec, const char *key,
    const struct sticky_buf *blob, const char **why)
{
	unsigned char mac[REDIS_MAC_MAX];
	size_t maclen = 0;

	if (sec == NULL)
		return 0;
	if (redis_mac(r, key, mac, &maclen) != 0 || maclen != SECRET_MAC_LEN) {
		*why = secret_is_name(key) ? "no MAC" :
		    "no MAC: named by a raw session key (stickyctl migrate)";
		return STICKY_ECORRUPT;
	}
	if (blob->len < ENV_HDR_LEN ||
	    secret_mac_check(sec, blob->data, ENV_HDR_LEN,
	    blob->data + ENV_HDR_LEN, blob->len - ENV_HDR_LEN, mac) < 0) {
		*why = "MAC does not match under any secret";
		return STICKY_ECORRUPT;
	}
	return 0;
}

static int
check_one(struct redis *r, const struct secrets *sec, const char *key,
    uint32_t app_id, int verbose)
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
	if ((rc = check_mac(r, sec, key, &blob, &why)) == 0)
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

	if ((rc = one_key(cfg, argc, argv, key, &r)) != 0)
		return rc;
	rc = check_one(r, cfg->secrets, key, app_id_of(cfg), 1);
	redis_free(r);
	return rc;
}

struct verify {
	uint32_t app_id;
	const struct secrets *sec;
	size_t bad, total;
};

static void
verify_one(struct redis *r, const char *key, void *arg)
{
	struct verify *v = arg;

	v->bad += (size_t)check_one(r, v->sec, key, v->app_id, 0);
	v->total++;
}

int
cmd_verify(struct sticky_config *cfg, int argc, char *argv[])
{
	char key[SID_KEY_LEN + 1];
	struct redis *r = NULL;
	struct verify v = { app_id_of(cfg), cfg->secrets, 0, 0 };
	int rc = 0;

	if (open_redis(cfg, &r) != 0)
		return 1;
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			if (key_of(cfg, argv[i], key) != 0)
				v.bad++;
			else
				verify_one(r, key, &v);
		}
	} else
		rc = each_key(r, verify_one, &v);
	printf("%zu checked, %zu bad\n", v.total, v.bad);
	redis_free(r);
	return rc != 0 || v.bad != 0 ? 1 : 0;
}

int
cmd_delete(struct sticky_config *cfg, int argc, char *argv[])
{
	char key[SID_KEY_LEN + 1];
	struct redis *r = NULL;
	int rc;

	if ((rc = one_key(cfg, argc, argv, key, &r)) != 0)
		return rc;
	rc = redis_delete(r, key);
	if (rc != 0)
		fprintf(stderr, "stickyctl: delete: %s\n", sticky_strerror(rc));
	redis_free(r);
	return rc == 0 ? 0 : 1;
}

int
cmd_name(struct sticky_config *cfg, int argc, char *argv[])
{
	char key[SID_KEY_LEN + 1];

	if (argc != 2) {
		fprintf(stderr, "usage: stickyctl name SID|KEY\n");
		return 2;
	}
	if (key_of(cfg, argv[1], key) != 0)
		return 1;
	printf("%s\n", key);
	return 0;
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
	if (key_of(cfg, argv[1], key) != 0)
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

struct migrate {
	const struct secrets *sec;
	size_t moved, skipped, failed;
};

/* One checkpoint named by its raw session key: sign it, rename it. */
static void
migrate_one(struct redis *r, const char *key, void *arg)
{
	struct migrate *m = arg;
	char name[SECRET_NAME_LEN + 1], probe[SID_MAX + 1];
	unsigned char mac[SECRET_MAC_LEN];
	struct sticky_buf blob;
	struct sid sid;
	int rc = STICKY_EAGAIN;

	if (secret_is_name(key))
		return; /* named already */
	if (strlen(key) != SID_KEY_LEN ||
	    snprintf(probe, sizeof(probe), "%s.x", key) <= 0 ||
	    sid_parse(probe, strlen(probe), &sid) != 0) {
		m->skipped++; /* not a session key sticky made */
		return;
	}
	secret_name(m->sec, 0, key, name);
	buf_init(&blob);
	/* The MAC is for the bytes read: moved only if they did not change. */
	for (int tries = 0; tries < 3 && rc == STICKY_EAGAIN; tries++) {
		if ((rc = redis_get(r, key, &blob)) != 0)
			break;
		if (blob.len < ENV_HDR_LEN) {
			rc = STICKY_ECORRUPT;
			break;
		}
		secret_mac(m->sec, 0, blob.data, ENV_HDR_LEN,
		    blob.data + ENV_HDR_LEN, blob.len - ENV_HDR_LEN, mac);
		rc = redis_migrate(r, key, name, mac, sizeof(mac), blob.data,
		    blob.len);
	}
	buf_cleanup(&blob);
	if (rc == 0)
		m->moved++;
	else if (rc == STICKY_ENOENT || rc == STICKY_EFENCED)
		m->skipped++; /* gone, logged out, or the name exists already */
	else {
		fprintf(stderr, "stickyctl: migrate %.6s...: %s\n", key,
		    rc == STICKY_EREDIS ? redis_errstr(r) : sticky_strerror(rc));
		m->failed++;
	}
}

int
cmd_migrate(struct sticky_config *cfg, int argc, char *argv[])
{
	struct migrate m = { cfg->secrets, 0, 0, 0 };
	struct redis *r = NULL;
	int rc;

	if (argc != 1) {
		fprintf(stderr, "usage: stickyctl migrate\n");
		return 2;
	}
	if (cfg->secrets == NULL) {
		fprintf(stderr, "stickyctl: migrate needs secret_file in the "
		    "configuration\n");
		return 1;
	}
	if (open_redis(cfg, &r) != 0)
		return 1;
	rc = each_key(r, migrate_one, &m);
	printf("%zu moved, %zu skipped, %zu failed\n", m.moved, m.skipped,
	    m.failed);
	redis_free(r);
	return rc != 0 || m.failed != 0 ? 1 : 0;
}
