/* cmd_routes.c: front-end recipes (being written). */
#include <stdio.h>

#include "cli.h"

int
cmd_routes(struct sticky_config *cfg, int argc, char *argv[])
{
	fprintf(stderr, "stickyctl: routes: not built yet\n");
	return 1;
}
