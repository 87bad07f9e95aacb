/* error.c: sticky_strerror(), the table of STICKY_E* codes. */
#include "internal.h"

static const char *const messages[] = {
	"success",
	"out of memory",
	"invalid argument",
	"system call failed",
	"malformed protocol input",
	"input over a configured limit",
	"not found",
	"checkpoint failed a check",
	"session is owned by another worker (fenced)",
	"Redis unreachable or answered an error",
	"timed out",
	"configuration error",
	"unsupported format or schema version",
	"checkpoint written by another application",
	"try again later",
	"call not valid in this state",
};

const char *
sticky_strerror(int err)
{
	if (err > 0 || err <= STICKY_ELAST)
		return "unknown error";
	return messages[-err];
}
