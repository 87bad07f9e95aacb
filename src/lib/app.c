/*
 * app.c: sticky_main() and sticky_run(): command-line flags and the config
 * file become one struct sticky_config, then the master runs.  Wiring only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "internal.h"
#include "prefork.h"
#include "secret.h"

/* What SIGHUP needs to rebuild the configuration the same way. */
struct origin {
	const struct sticky_app_def *def;
	const char *file;     /* -c, or NULL */
	char **overrides;     /* "key=value" from flags, applied after the file */
	size_t noverrides;
	/*
	 * The secrets last loaded and their file: a reload runs after the
	 * master dropped privileges and may no longer read a root-only file.
	 */
	struct secrets *secrets;
	char *secret_file;
};

static void
usage(FILE *f, const char *prog)
{
	fprintf(f,
	    "usage: %s [-c FILE] [-w N] [-l LISTEN] [-t TAG] [-r REDIS]\n"
	    "       %*s [-o KEY=VALUE]... [-n] [-h] [-V]\n"
	    "  -c FILE    configuration file (stickyd.conf(5))\n"
	    "  -w N       workers\n"
	    "  -l LISTEN  worker sockets: unix:/path/%%t.sock or 127.0.0.1:PORT\n"
	    "  -t TAG     route tag pattern, %%i = worker index (default w%%i)\n"
	    "  -r REDIS   Redis for checkpoints: HOST:PORT or unix:PATH\n"
	    "  -o K=V     set any configuration key\n"
	    "  -n         check the configuration and exit\n"
	    "  -V         print the version\n", prog, (int)strlen(prog), "");
}

static int
apply(struct sticky_config *cfg, const char *kv, char *err, size_t errlen)
{
	const char *eq = strchr(kv, '=');
	char key[128];

	if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
		snprintf(err, errlen, "-o %s: expected KEY=VALUE", kv);
		return STICKY_ECONFIG;
	}
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	return sticky_config_set(cfg, key, eq + 1, err, errlen);
}

/*
 * Load secret_file; an app that authenticates its checkpoints
 * (STICKY_CODEC_NEEDS_MAC) does not start without one.
 */
static int
load_secret(struct origin *o, const struct sticky_app_def *def,
    struct sticky_config *cfg, char *err, size_t errlen)
{
	if (secret_config_load(cfg, err, errlen) != 0) {
		/* Unreadable now (privileges dropped): keep what was loaded. */
		if (o == NULL || o->secrets == NULL || o->secret_file == NULL ||
		    strcmp(o->secret_file, cfg->secret_file) != 0 ||
		    (cfg->secrets = secrets_dup(o->secrets)) == NULL)
			return STICKY_ECONFIG;
		log_warn("secret_file_kept", "reason=\"%s\" action=keep_loaded "
		    "hint=\"to rotate on reload, let the service user read it "
		    "(mode 0640, its group), or restart\"", err);
	}
	if (o != NULL) {
		secrets_free(o->secrets);
		xfree(o->secret_file);
		o->secrets = secrets_dup(cfg->secrets);
		o->secret_file = xstrdup(cfg->secret_file);
	}
	if (def != NULL && (def->codec.flags & STICKY_CODEC_NEEDS_MAC) &&
	    cfg->secrets == NULL) {
		snprintf(err, errlen, "app %s decodes only authenticated "
		    "checkpoints (STICKY_CODEC_NEEDS_MAC): set secret_file",
		    def->name);
		return STICKY_ECONFIG;
	}
	return 0;
}

static struct sticky_config *
build(struct origin *o, char *err, size_t errlen)
{
	struct sticky_config *cfg;

	if (sticky_config_new(&cfg) != 0) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (o->file != NULL && sticky_config_load(cfg, o->file, err, errlen) != 0)
		goto fail;
	for (size_t i = 0; i < o->noverrides; i++)
		if (apply(cfg, o->overrides[i], err, errlen) != 0)
			goto fail;
	if (config_validate(cfg, err, errlen) != 0 ||
	    load_secret(o, o->def, cfg, err, errlen) != 0)
		goto fail;
	return cfg;
fail:
	sticky_config_free(cfg);
	return NULL;
}

static struct sticky_config *
reload_cb(void *arg)
{
	char err[512];
	struct sticky_config *cfg = build(arg, err, sizeof(err));

	if (cfg == NULL)
		log_err("reload_config", "reason=\"%s\"", err);
	return cfg;
}

/* 0, or 1 when log_file is refused (a symbolic link, not a plain file). */
static int
setup_logging(const struct sticky_config *cfg)
{
	enum log_level lvl = LOG_LVL_INFO;
	int rc;

	log_parse_level(cfg->log_level, &lvl);
	log_setup(lvl, cfg->syslog, "sticky");
	if (cfg->log_file[0] != '\0' && (rc = log_reopen(cfg->log_file)) != 0) {
		if (rc == STICKY_EINVAL)
			return 1;
		log_warn("log_file_failed", "path=\"%s\"", cfg->log_file);
	}
	return 0;
}

static int
check_app(const struct sticky_app_def *def)
{
	if (def == NULL || def->name == NULL || def->handler == NULL ||
	    def->codec.create == NULL || def->codec.destroy == NULL ||
	    def->codec.encode == NULL || def->codec.decode == NULL) {
		log_err("bad_app", "reason=\"name, handler and the four codec "
		    "functions are required\"");
		return STICKY_EINVAL;
	}
	return 0;
}

int
sticky_run(const struct sticky_app_def *def, struct sticky_config *cfg)
{
	char err[512];

	if (cfg == NULL || check_app(def) != 0)
		return 1;
	if (config_validate(cfg, err, sizeof(err)) != 0 ||
	    load_secret(NULL, def, cfg, err, sizeof(err)) != 0) {
		log_err("config", "reason=\"%s\"", err);
		return 1;
	}
	if (setup_logging(cfg) != 0)
		return 1;
	return prefork_run(cfg, def, NULL, NULL);
}

int
sticky_main(int argc, char *argv[], const struct sticky_app_def *def)
{
	struct origin o = { def, NULL, NULL, 0, NULL, NULL };
	struct sticky_config *cfg;
	char err[512];
	int c, check = 0, status;
	const char *prog = argc > 0 ? argv[0] : "sticky";

	if ((o.overrides = xcalloc((size_t)argc + 1, sizeof(char *))) == NULL)
		return 1;
	optind = 1;
	while ((c = getopt(argc, argv, "c:w:l:t:r:o:nhV")) != -1) {
		const char *key = NULL;

		switch (c) {
		case 'c':
			o.file = optarg;
			continue;
		case 'w':
			key = "workers";
			break;
		case 'l':
			key = "listen";
			break;
		case 't':
			key = "tag";
			break;
		case 'r':
			key = "redis";
			break;
		case 'o':
			break;
		case 'n':
			check = 1;
			continue;
		case 'V':
			printf("sticky %s\n", STICKY_VERSION);
			xfree(o.overrides);
			return 0;
		case 'h':
			usage(stdout, prog);
			xfree(o.overrides);
			return 0;
		default:
			usage(stderr, prog);
			xfree(o.overrides);
			return 2;
		}
		if (key != NULL) {
			/* Sized to fit: a long value is checked, never cut. */
			size_t n = strlen(key) + strlen(optarg) + 2;

			if ((o.overrides[o.noverrides] = xmalloc(n)) != NULL)
				snprintf(o.overrides[o.noverrides], n, "%s=%s",
				    key, optarg);
		} else
			o.overrides[o.noverrides] = xstrdup(optarg);
		if (o.overrides[o.noverrides] == NULL)
			return 1;
		o.noverrides++;
	}
	if (optind != argc) {
		usage(stderr, prog);
		return 2;
	}
	if (check_app(def) != 0)
		return 1;
	if ((cfg = build(&o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", prog, err);
		status = 1;
		goto out;
	}
	if (check) {
		printf("configuration ok\n");
		sticky_config_free(cfg);
		status = 0;
		goto out;
	}
	if (setup_logging(cfg) != 0)
		status = 1;
	else
		status = prefork_run(cfg, def, reload_cb, &o);
	sticky_config_free(cfg);
out:
	for (size_t i = 0; i < o.noverrides; i++)
		xfree(o.overrides[i]);
	xfree(o.overrides);
	secrets_free(o.secrets);
	xfree(o.secret_file);
	return status;
}
