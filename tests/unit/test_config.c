/* test_config.c: keys, defaults, validation, the file loader's errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"

static struct sticky_config *cfg;
static char err[256];

static void
setup(void)
{
	cr_assert_eq(sticky_config_new(&cfg), 0);
	err[0] = '\0';
}

static void
teardown(void)
{
	sticky_config_free(cfg);
}

TestSuite(config, .init = setup, .fini = teardown);

Test(config, defaults_are_valid_and_secure)
{
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg->workers, 2);
	cr_assert(cfg->cookie_httponly);
	cr_assert(!cfg->cookie_secure);
	cr_assert_str_eq(cfg->cookie_name, "STICKYSID");
	cr_assert_eq(cfg->checkpoint, CKPT_ASYNC);
	cr_assert_eq(cfg->checkpoint_interval_ms, 100);
	cr_assert_str_eq(cfg->worker_header, "");
	cr_assert(!cfg->fault_die_after_checkpoint);
}

Test(config, set_and_get_round_trip)
{
	cr_assert_eq(sticky_config_set(cfg, "workers", "8", err, sizeof(err)), 0);
	cr_assert_str_eq(sticky_config_get(cfg, "workers"), "8");
	cr_assert_eq(sticky_config_set(cfg, "socket_mode", "0600", err, sizeof(err)), 0);
	cr_assert_eq(cfg->socket_mode, 0600);
	cr_assert_str_eq(sticky_config_get(cfg, "socket_mode"), "0600");
	cr_assert_eq(sticky_config_set(cfg, "checkpoint", "sync", err, sizeof(err)), 0);
	cr_assert_str_eq(sticky_config_get(cfg, "checkpoint"), "sync");
	cr_assert_eq(sticky_config_set(cfg, "cookie_secure", "yes", err, sizeof(err)), 0);
	cr_assert_str_eq(sticky_config_get(cfg, "cookie_secure"), "on");
	cr_assert_eq(sticky_config_set(cfg, "app.model", "/srv/m.bin", err, sizeof(err)), 0);
	cr_assert_str_eq(sticky_config_get(cfg, "app.model"), "/srv/m.bin");
	cr_assert_null(sticky_config_get(cfg, "app.absent"));
}

Test(config, bad_values_are_refused_with_reasons)
{
	cr_assert_eq(sticky_config_set(cfg, "workers", "0", err, sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "out of range") != NULL, "%s", err);
	cr_assert_eq(sticky_config_set(cfg, "workers", "2x", err, sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "not a number") != NULL, "%s", err);
	cr_assert_eq(sticky_config_set(cfg, "nosuchkey", "1", err, sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "unknown key 'nosuchkey'") != NULL, "%s", err);
	cr_assert_eq(sticky_config_set(cfg, "checkpoint", "sometimes", err, sizeof(err)), STICKY_ECONFIG);
	cr_assert_eq(sticky_config_set(cfg, "cookie_httponly", "maybe", err, sizeof(err)), STICKY_ECONFIG);
	cr_assert_eq(cfg->workers, 2, "a refused value changes nothing");
}

Test(config, validation_catches_cross_key_mistakes)
{
	sticky_config_set(cfg, "workers", "3", NULL, 0);
	sticky_config_set(cfg, "listen", "unix:/tmp/one.sock", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "%t or %i") != NULL, "%s", err);

	sticky_config_set(cfg, "listen", "unix:/tmp/%t.sock", NULL, 0);
	sticky_config_set(cfg, "tag", "worker", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG);

	sticky_config_set(cfg, "tag", "w.%i", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG,
	    "a dot in a tag would break Apache's route parsing");

	sticky_config_set(cfg, "tag", "web2-w%i", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);

	sticky_config_set(cfg, "cookie_samesite", "none", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG);
	sticky_config_set(cfg, "cookie_secure", "on", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);

	sticky_config_set(cfg, "listen", "relative/path", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG);
	sticky_config_set(cfg, "listen", "unix:relative/%t", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG);
	sticky_config_set(cfg, "listen", "127.0.0.1:9000", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);
}

static char *
write_tmp(const char *text)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/sticky-conf-test.XXXXXX");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

Test(config, file_errors_name_file_and_line)
{
	char *p = write_tmp("# sticky\nworkers = 4\n\ncheckpoint = sync\nworkers = lots\n");

	cr_assert_eq(sticky_config_load(cfg, p, err, sizeof(err)), STICKY_ECONFIG);
	char want[128];
	snprintf(want, sizeof(want), "%s:5:", p);
	cr_assert(strncmp(err, want, strlen(want)) == 0, "got '%s'", err);
	cr_assert(strstr(err, "workers") != NULL, "%s", err);
	unlink(p);
}

Test(config, file_loads_every_kind_of_value)
{
	char *p = write_tmp("workers = 4\nlisten = \"unix:/run/s/%t.sock\"\n"
	    "cookie_secure = on  # behind TLS\napp.size = 1024\n");

	cr_assert_eq(sticky_config_load(cfg, p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg->workers, 4);
	cr_assert_str_eq(cfg->listen, "unix:/run/s/%t.sock");
	cr_assert(cfg->cookie_secure);
	cr_assert_str_eq(sticky_config_get(cfg, "app.size"), "1024");
	unlink(p);
}

Test(config, example_documents_every_key)
{
	const struct config_key_doc *keys;
	struct sticky_buf out;
	size_t n = config_keys(&keys);

	buf_init(&out);
	cr_assert_eq(config_write_example(&out), 0);
	for (size_t i = 0; i < n; i++) {
		char line[128];

		snprintf(line, sizeof(line), "\n#%s = ", keys[i].name);
		cr_assert(strstr((char *)out.data, line) != NULL, "key %s missing",
		    keys[i].name);
		cr_assert(strlen(keys[i].doc) > 10, "key %s undocumented", keys[i].name);
	}
	buf_cleanup(&out);
}

Test(config, the_example_parses_back_to_the_defaults)
{
	struct sticky_buf out;
	char *p;

	buf_init(&out);
	cr_assert_eq(config_write_example(&out), 0);
	/* Uncomment every "#key = value" line and load it. */
	for (size_t i = 0; i + 1 < out.len; i++)
		if (out.data[i] == '\n' && out.data[i + 1] == '#' &&
		    i + 2 < out.len && out.data[i + 2] != ' ' && out.data[i + 2] != '#')
			out.data[i + 1] = ' ';
	p = write_tmp((char *)out.data);
	cr_assert_eq(sticky_config_load(cfg, p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg->max_body, 1048576);
	unlink(p);
	buf_cleanup(&out);
}

Test(config, status_listen_is_an_absolute_unix_socket)
{
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);
	sticky_config_set(cfg, "status_listen", "127.0.0.1:9100", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG,
	    "TCP has no permissions to check");
	cr_assert(strstr(err, "status_listen") != NULL, "%s", err);
	sticky_config_set(cfg, "status_listen", "unix:rel.sock", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG);
	sticky_config_set(cfg, "status_listen", "unix:/run/sticky/%t.sock", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG,
	    "one socket, no pattern");
	sticky_config_set(cfg, "status_listen", "unix:/run/sticky/status.sock",
	    NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg->status_socket_mode, 0600);
}

/* The fault switch exists only in builds configured for it. */
Test(config, fault_switch_only_with_enable_fault_injection)
{
	cr_assert_eq(sticky_config_set(cfg, "fault_die_after_checkpoint", "off",
	    err, sizeof(err)), 0, "off is always accepted");
#ifdef STICKY_FAULT_INJECTION
	cr_assert_eq(sticky_config_set(cfg, "fault_die_after_checkpoint", "on",
	    err, sizeof(err)), 0, "%s", err);
	cr_assert(cfg->fault_die_after_checkpoint);
#else
	cr_assert_eq(sticky_config_set(cfg, "fault_die_after_checkpoint", "on",
	    err, sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "--enable-fault-injection") != NULL, "%s", err);
	cr_assert(!cfg->fault_die_after_checkpoint);
#endif
}

/* What workers would refuse at start is refused by validation (and -n). */
Test(config, start_time_limits_are_checked_up_front)
{
	char big[400];

	cr_assert_eq(sticky_config_set(cfg, "checkpoint_ttl", "2147483647", err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(sticky_config_set(cfg, "checkpoint_ttl", "2147483648", err,
	    sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "checkpoint_ttl") != NULL, "%s", err);

	sticky_config_set(cfg, "redis", "127.0.0.1:6379", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);
	memset(big, 'p', 257);
	big[257] = '\0';
	sticky_config_set(cfg, "redis_prefix", big, NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "redis_prefix: 257 bytes, at most 256") != NULL, "%s", err);
	big[256] = '\0';
	sticky_config_set(cfg, "redis_prefix", big, NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);

	sticky_config_set(cfg, "redis_user", "app", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "redis_user needs redis_password") != NULL, "%s", err);
	sticky_config_set(cfg, "redis_password", "pw", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);

	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "unix:/", 6);
	sticky_config_set(cfg, "redis", big, NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "redis: 'unix:/rrr") != NULL, "%s", err);
	/* Without checkpoints the Redis settings do not matter. */
	sticky_config_set(cfg, "checkpoint", "off", NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);

	memcpy(big, "unix:/tmp/", 10);
	memcpy(big + sizeof(big) - 8, "%t.sock", 8);
	sticky_config_set(cfg, "listen", big, NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "listen: ") != NULL, "%s", err);
	memset(big + 10, 's', 200);
	memcpy(big + 10 + 90, "%t.sock", 8); /* a 102-byte path for w0 */
	sticky_config_set(cfg, "listen", big, NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);
	memcpy(big + 10 + 96, "%t.sock", 8); /* 108 bytes: too long */
	sticky_config_set(cfg, "listen", big, NULL, 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "socket path of worker 0 is 108 bytes, at most 107")
	    != NULL, "%s", err);
}
