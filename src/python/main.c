/*
 * main.c: sticky-wsgi, a WSGI application served by sticky.
 *
 *   sticky-wsgi [sticky options] --app pkg.module:application
 *       [--state-factory pkg.mod:callable] [--worker-init pkg.mod:callable]
 *       [--pythonpath DIR]... [--mount /prefix] [--name NAME]
 *
 * Every other argument is sticky's own (-c FILE, -w, -l, -t, -r, -o K=V,
 * -n; see sticky(3)): the same config file and `stickyctl routes` work
 * unchanged.  The application is imported once, in the master, before
 * the workers are forked.
 */
#include "pyapp.h" /* Python.h first */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct pyapp app = { .mount = "" };

static void
usage(FILE *f, const char *prog)
{
	fprintf(f,
	    "usage: %s --app MODULE:CALLABLE [--state-factory MODULE:CALLABLE]\n"
	    "       [--worker-init MODULE:CALLABLE] [--pythonpath DIR]...\n"
	    "       [--mount /PREFIX] [--name NAME] [sticky options]\n"
	    "  --app            the WSGI application, imported in the master\n"
	    "  --state-factory  called without arguments for a new user's state\n"
	    "                   (default: None)\n"
	    "  --worker-init    called with the worker's tag after fork\n"
	    "  --pythonpath     put DIR first on sys.path (repeatable)\n"
	    "  --mount          SCRIPT_NAME the app is mounted at (default \"\")\n"
	    "  --name           the app's name in checkpoints (default wsgi:APP)\n"
	    "sticky options:\n", prog);
}

static int
preload(void **shared, const struct sticky_config *cfg, void *appdata)
{
	const char *mode = sticky_config_get(cfg, "checkpoint");
	struct pyapp *pa = appdata;

	pa->sync = mode != NULL && strcmp(mode, "sync") == 0;
	if (interp_start(pa) != 0)
		return STICKY_ECONFIG;
	*shared = appdata;
	return 0;
}

static int
worker_init(void **worker_data, const void *shared, const char *tag,
    void *appdata)
{
	return interp_worker_init(appdata, tag) != 0 ? STICKY_ECONFIG : 0;
}

/* "--opt VALUE" or "--opt=VALUE": the value, else NULL. */
static const char *
opt_value(int argc, char **argv, int *i, const char *opt)
{
	size_t n = strlen(opt);

	if (strncmp(argv[*i], opt, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0' || *i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

int
main(int argc, char *argv[])
{
	struct sticky_app_def def = { 0 };
	const char *prog = argc > 0 ? argv[0] : "sticky-wsgi", *v, *name = NULL;
	char **rest;
	int nrest = 0, help = 0;

	if ((rest = calloc((size_t)argc + 1, sizeof(char *))) == NULL ||
	    (app.paths = calloc((size_t)argc + 1, sizeof(char *))) == NULL)
		return 1;
	rest[nrest++] = argv[0];
	for (int i = 1; i < argc; i++) {
		if ((v = opt_value(argc, argv, &i, "--app")) != NULL)
			app.app_spec = v;
		else if ((v = opt_value(argc, argv, &i, "--state-factory")) != NULL)
			app.factory_spec = v;
		else if ((v = opt_value(argc, argv, &i, "--worker-init")) != NULL)
			app.winit_spec = v;
		else if ((v = opt_value(argc, argv, &i, "--pythonpath")) != NULL)
			app.paths[app.npaths++] = v;
		else if ((v = opt_value(argc, argv, &i, "--mount")) != NULL)
			app.mount = v;
		else if ((v = opt_value(argc, argv, &i, "--name")) != NULL)
			name = v;
		else if (strncmp(argv[i], "--", 2) == 0 && argv[i][2] != '\0') {
			fprintf(stderr, "%s: unknown or incomplete option %s\n",
			    prog, argv[i]);
			usage(stderr, prog);
			return 2;
		} else {
			help |= strcmp(argv[i], "-h") == 0;
			rest[nrest++] = argv[i];
		}
	}
	if (help)
		usage(stdout, prog);
	else if (app.app_spec == NULL) {
		fprintf(stderr, "%s: --app MODULE:CALLABLE is required\n", prog);
		usage(stderr, prog);
		return 2;
	} else if (strchr(app.app_spec, ':') == NULL) {
		fprintf(stderr, "%s: --app %s: expected MODULE:CALLABLE\n", prog,
		    app.app_spec);
		return 2;
	}
	if (app.mount[0] != '\0' && (app.mount[0] != '/' ||
	    app.mount[strlen(app.mount) - 1] == '/')) {
		fprintf(stderr, "%s: --mount must start with / and not end with /\n",
		    prog);
		return 2;
	}
	snprintf(app.name, sizeof(app.name), "%s%s", name != NULL ? "" : "wsgi:",
	    name != NULL ? name : app.app_spec != NULL ? app.app_spec : "");
	def.name = app.name;
	state_codec(&def.codec);
	def.handler = wsgi_handler;
	def.preload = preload;
	def.worker_init = worker_init;
	def.appdata = &app;
	return sticky_main(nrest, rest, &def);
}
