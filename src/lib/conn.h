/*
 * conn.h: one FastCGI connection inside a worker: non-blocking reads fed
 * to the record parser, a deadline for the request to arrive whole, and
 * an output queue drained when the socket is writable.
 */
#ifndef STICKY_CONN_H
#define STICKY_CONN_H

#include <stdint.h>

#include "fcgi.h"
#include "internal.h"

enum conn_state {
	CONN_READING, /* waiting for a whole request */
	CONN_WRITING, /* draining a response */
	CONN_DONE     /* to be closed */
};

struct conn {
	int fd;
	enum conn_state state;
	struct fcgi_parser parser;
	struct sticky_buf in;  /* read, not yet consumed by the parser */
	struct sticky_buf out; /* to send */
	int64_t deadline_ms;   /* of the current read or write */
	int keep_conn;         /* the front-end keeps the connection */
	int peer_closed;
	int started;           /* bytes of a request have arrived */
	int status_only;       /* from status_listen: the status page only */
	int stalled;           /* not read: too much unsent output (worker.c) */
};

int conn_new(struct conn **out, int fd, const struct fcgi_limits *lim);
/* Close the socket and free everything. */
void conn_free(struct conn *c);
/*
 * Read what is available into scratch (the worker's one read buffer) and
 * keep only the bytes that came.  Returns 0, or STICKY_ESYS on a socket
 * error; sets peer_closed at EOF.
 */
int conn_read(struct conn *c, unsigned char *scratch, size_t len);
/*
 * Parse buffered bytes.  FCGI_REQUEST_READY moves a whole request into
 * *req; FCGI_NEED_MORE; or a negative error (reason in c->parser.why).
 * Protocol replies are queued in c->out.
 */
int conn_parse(struct conn *c, struct fcgi_request *req);
/*
 * Queue the answer to request id: the CGI response (status line, headers,
 * body) as the STDOUT stream, its end and END_REQUEST (complete).  The one
 * place a worker's responses become records; everything or nothing is
 * queued (STICKY_ENOMEM).
 */
int conn_respond(struct conn *c, uint16_t id, const void *cgi, size_t len);
/* Send queued output: 0 all sent, 1 more to send, STICKY_ESYS on error. */
int conn_flush(struct conn *c);

#endif /* STICKY_CONN_H */
