/*
 * stickyctl: the operator's tool.  Generate front-end recipes, inspect
 * checkpoints in Redis, tell who owns a session, show the status page.
 * Subcommands come from one table, like relayctl's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sticky/sticky.h>

#include "cli.h"
#include "config.h"
#include "secret.h"

static const struct cli_cmd cmds[] = {
	{ "routes", "apache|lighttpd|nginx|haproxy [options]",
	  "print a front-end configuration that routes by the session cookie",
	  cmd_routes },
	{ "list", "", "list checkpointed sessions in Redis", cmd_list },
	{ "show", "SID|KEY", "decode a checkpoint's header", cmd_show },
	{ "verify", "[SID|KEY...]", "check checkpoints (all if none named)",
	  cmd_verify },
	{ "delete", "SID|KEY", "delete a checkpoint and its owner record",
	  cmd_delete },
	{ "name", "SID|KEY", "the name a session has in Redis (under "
	  "secret_file: a keyed hash of its key)", cmd_name },
	{ "migrate", "", "move checkpoints named by raw session keys to their "
	  "names under secret_file, signed", cmd_migrate },
	{ "owner", "SID|KEY", "which worker owns a session, and its epoch",
	  cmd_owner },
	{ "status", "[text|json|openmetrics] [TAG]", "fetch a worker's status page",
	  cmd_status },
	{ "conf", "", "print the example configuration (every key, defaults)",
	  cmd_conf },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: stickyctl [-c FILE] [-o KEY=VALUE]... COMMAND [ARGS]\n\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %-36s %s\n", cmds[i].name, cmds[i].args,
		    cmds[i].help);
}

int
main(int argc, char *argv[])
{
	struct sticky_config *cfg;
	char err[512];
	int c, rc;

	if (sticky_config_new(&cfg) != 0)
		return 1;
	while ((c = getopt(argc, argv, "+c:o:h")) != -1) {
		char *eq;

		switch (c) {
		case 'c':
			if (sticky_config_load(cfg, optarg, err, sizeof(err)) != 0) {
				fprintf(stderr, "stickyctl: %s\n", err);
				sticky_config_free(cfg);
				return 1;
			}
			break;
		case 'o':
			if ((eq = strchr(optarg, '=')) == NULL) {
				fprintf(stderr, "stickyctl: -o %s: expected KEY=VALUE\n",
				    optarg);
				sticky_config_free(cfg);
				return 2;
			}
			*eq = '\0';
			if (sticky_config_set(cfg, optarg, eq + 1, err,
			    sizeof(err)) != 0) {
				fprintf(stderr, "stickyctl: %s\n", err);
				sticky_config_free(cfg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			sticky_config_free(cfg);
			return 0;
		default:
			usage(stderr);
			sticky_config_free(cfg);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		sticky_config_free(cfg);
		return 2;
	}
	if (config_validate(cfg, err, sizeof(err)) != 0 ||
	    secret_config_load(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "stickyctl: %s\n", err);
		sticky_config_free(cfg);
		return 1;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[optind], cmds[i].name) == 0) {
			rc = cmds[i].run(cfg, argc - optind, argv + optind);
			sticky_config_free(cfg);
			return rc;
		}
	fprintf(stderr, "stickyctl: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	sticky_config_free(cfg);
	return 2;
}
