/*
 * cli.h: stickyctl's subcommands.  Each takes the configuration the workers
 * use (from -c) so recipes, checkpoints and status all agree with them.
 */
#ifndef STICKY_CLI_H
#define STICKY_CLI_H

#include <stdio.h>

struct sticky_config;

struct cli_cmd {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(struct sticky_config *cfg, int argc, char *argv[]);
};

/* cmd_routes.c */
int cmd_routes(struct sticky_config *cfg, int argc, char *argv[]);
/* cmd_checkpoint.c */
int cmd_list(struct sticky_config *cfg, int argc, char *argv[]);
int cmd_show(struct sticky_config *cfg, int argc, char *argv[]);
int cmd_verify(struct sticky_config *cfg, int argc, char *argv[]);
int cmd_delete(struct sticky_config *cfg, int argc, char *argv[]);
int cmd_owner(struct sticky_config *cfg, int argc, char *argv[]);
int cmd_name(struct sticky_config *cfg, int argc, char *argv[]);
int cmd_migrate(struct sticky_config *cfg, int argc, char *argv[]);
/* cmd_status.c */
int cmd_status(struct sticky_config *cfg, int argc, char *argv[]);
int cmd_conf(struct sticky_config *cfg, int argc, char *argv[]);

#endif /* STICKY_CLI_H */
