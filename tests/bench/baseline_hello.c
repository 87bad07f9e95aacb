/*
 * baseline_hello.c: the ceiling of a plain libfcgi worker: "hello world"
 * from pre-forked single-threaded workers, one unix socket each (see
 * baseline.h), nothing else.  No session, no state: what any FastCGI
 * worker built on libfcgi 2.4.2 costs per request.
 *
 *   baseline_hello -w 2 -l unix:DIR/%t.sock
 */
#include "baseline.h"

static int
serve(struct bl_worker *w)
{
	FCGX_Request req;

	if (FCGX_InitRequest(&req, w->listen_fd, 0) != 0)
		return -1;
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_FPrintF(req.out, "Status: 200 OK\r\n"
		    "Content-Type: text/plain\r\n"
		    "X-Sticky-Worker: %s\r\n\r\n"
		    "hello world worker=%s\n", w->tag, w->tag);
		FCGX_Finish_r(&req);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	return baseline_main(argc, argv, serve);
}
