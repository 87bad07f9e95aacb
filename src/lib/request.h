/*
 * request.h: struct sticky_req, a request as the handler sees it: CGI
 * params, query arguments, cookies, body, and the response being built.
 * Valid only during the handler call.
 */
#ifndef STICKY_REQUEST_H
#define STICKY_REQUEST_H

#include <stddef.h>

#include "fcgi.h"
#include "internal.h"
#include "sid.h"

struct worker;
struct session;

struct sticky_req {
	struct worker *w;           /* borrowed */
	const struct fcgi_request *fr; /* borrowed */
	int status;
	struct sticky_buf headers;  /* "Name: value\r\n" lines */
	struct sticky_buf body;
	int wrote;                  /* the handler produced output */
	/* the session */
	struct session *sess;       /* borrowed from the store; NULL: none yet */
	int have_cookie_sid;        /* a well-formed id came in the cookie */
	struct sid in_sid;          /* that id */
	char out_key[SID_KEY_LEN + 1]; /* the key the cookie carries: sess->key
	                                  is only its name in Redis (secret.h) */
	int sess_new;
	int sess_dirty;
	int sess_destroyed;
	int set_cookie;             /* (re-)issue the cookie with our tag */
	int rehomed;
	int session_err;            /* last sticky_session_state error */
	/* lazily decoded query arguments and cookies */
	char **argv;                /* name, value pairs, owned */
	size_t nargs;
	int args_parsed;
	char **owned;               /* cookie values handed out */
	size_t nowned;
};

void request_init(struct sticky_req *req, struct worker *w,
    const struct fcgi_request *fr);
void request_cleanup(struct sticky_req *req);
/*
 * Serialise the CGI response (Status, headers, cookie, worker header,
 * blank line, body) into out.
 */
int request_render(struct sticky_req *req, struct sticky_buf *out);
/* Answer an error page (status + short text) from sticky itself. */
int request_error(struct sticky_req *req, int status, const char *text);
/* Percent-decode in place; returns the new length. */
size_t request_url_decode(char *s, size_t len);
/* The HTTP reason phrase for a status code. */
const char *request_reason(int status);

#endif /* STICKY_REQUEST_H */
