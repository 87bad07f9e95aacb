/*
 * fcgi.h: the FastCGI protocol, once: an incremental server-side request
 * parser that checks every record before anything is allocated for it, the
 * record writers both sides need, and a client-side response parser (for
 * the test client, the benchmarks and stickyctl).  Pure: no sockets.
 */
#ifndef STICKY_FCGI_H
#define STICKY_FCGI_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define FCGI_HEADER_LEN 8
#define FCGI_VERSION_1 1
#define FCGI_MAX_CONTENT 65535

enum fcgi_type {
	FCGI_BEGIN_REQUEST = 1,
	FCGI_ABORT_REQUEST = 2,
	FCGI_END_REQUEST = 3,
	FCGI_PARAMS = 4,
	FCGI_STDIN = 5,
	FCGI_STDOUT = 6,
	FCGI_STDERR = 7,
	FCGI_DATA = 8,
	FCGI_GET_VALUES = 9,
	FCGI_GET_VALUES_RESULT = 10,
	FCGI_UNKNOWN_TYPE = 11
};

#define FCGI_RESPONDER 1
#define FCGI_KEEP_CONN 1

enum fcgi_proto_status {
	FCGI_REQUEST_COMPLETE = 0,
	FCGI_CANT_MPX_CONN = 1,
	FCGI_OVERLOADED = 2,
	FCGI_UNKNOWN_ROLE = 3
};

struct fcgi_limits {
	size_t max_params;  /* bytes of the whole PARAMS stream */
	size_t max_nparams; /* number of name-value pairs */
	size_t max_body;    /* bytes of the STDIN stream */
};

struct fcgi_param {
	const char *name;  /* NUL-terminated, points into the request */
	const char *value; /* NUL-terminated; may contain no NUL itself */
	size_t nlen;
	size_t vlen;
};

/* One complete request, handed over by the parser. */
struct fcgi_request {
	uint16_t id;
	int keep_conn;
	struct fcgi_param *params; /* owned */
	size_t nparams;
	struct sticky_buf pstream; /* owned: params names/values live here */
	struct sticky_buf body;    /* owned: the STDIN stream */
};

void fcgi_request_init(struct fcgi_request *r);
void fcgi_request_cleanup(struct fcgi_request *r);
/* A param's value, or NULL (linear scan; names are case-sensitive). */
const char *fcgi_request_param(const struct fcgi_request *r, const char *name);

/* Results of fcgi_parser_feed(), besides negative STICKY_E* errors. */
enum fcgi_feed_result {
	FCGI_NEED_MORE = 0, /* every byte consumed; nothing complete yet */
	FCGI_REQUEST_READY = 1 /* a request is complete: fcgi_parser_take() */
};

struct fcgi_parser {
	struct fcgi_limits lim;
	/* private below: the state of the record being read */
	unsigned char hdr[FCGI_HEADER_LEN];
	size_t hdr_have;
	unsigned type;
	unsigned req_id;
	size_t content_left;
	size_t padding_left;
	unsigned char small[8]; /* BEGIN_REQUEST body */
	size_t small_have;
	struct sticky_buf mgmt; /* GET_VALUES body being read */
	int state;              /* no request / in params / in stdin / ready */
	struct fcgi_request req;
	unsigned long aborted; /* requests dropped by ABORT_REQUEST */
	char why[128];         /* reason of the last error, for logs */
};

void fcgi_parser_init(struct fcgi_parser *p, const struct fcgi_limits *lim);
void fcgi_parser_cleanup(struct fcgi_parser *p);
/*
 * Consume up to len bytes.  *used receives how many were consumed: parsing
 * stops right after a request completes, so bytes of the next request on a
 * kept connection wait for the next call.  Replies the protocol requires
 * (GET_VALUES_RESULT, UNKNOWN_TYPE, END_REQUEST with CANT_MPX_CONN or
 * UNKNOWN_ROLE) are appended to `reply` for the caller to send.
 * Errors: STICKY_EPROTO (malformed record, reason in p->why: close the
 * connection), STICKY_ETOOBIG (params or body over a limit; p->req.id is
 * the request to answer 413/431 to), STICKY_ENOMEM.
 * An ABORT_REQUEST for the request being read drops the partial request
 * (p->aborted counts it) and answers END_REQUEST into `reply`.
 */
int fcgi_parser_feed(struct fcgi_parser *p, const void *data, size_t len,
    size_t *used, struct sticky_buf *reply);
/* Move the completed request out (the parser then waits for the next). */
void fcgi_parser_take(struct fcgi_parser *p, struct fcgi_request *out);
/* 1 if the parser is between requests (no partial request buffered). */
int fcgi_parser_idle(const struct fcgi_parser *p);
/* The id of the request being read (valid after BEGIN_REQUEST). */
unsigned fcgi_parser_request_id(const struct fcgi_parser *p);

/* ---- writers: append whole records, padded to 8 bytes ---- */
int fcgi_write_record(struct sticky_buf *out, enum fcgi_type type,
    uint16_t id, const void *data, size_t len);
/* Split into records of at most FCGI_MAX_CONTENT; len 0 writes nothing. */
int fcgi_write_stream(struct sticky_buf *out, enum fcgi_type type,
    uint16_t id, const void *data, size_t len);
/* The empty STDOUT record that ends the stream, then END_REQUEST. */
int fcgi_write_end(struct sticky_buf *out, uint16_t id, uint32_t app_status,
    enum fcgi_proto_status ps);
/* Client side: BEGIN_REQUEST, the PARAMS stream (and its empty record). */
int fcgi_write_begin(struct sticky_buf *out, uint16_t id, uint16_t role,
    uint8_t flags);
int fcgi_write_params(struct sticky_buf *out, uint16_t id,
    const struct fcgi_param *params, size_t n);
/* STDIN data then the empty STDIN record. */
int fcgi_write_stdin(struct sticky_buf *out, uint16_t id, const void *data,
    size_t len);
/* Encode one name-value pair (1- or 4-byte lengths) into out. */
int fcgi_encode_pair(struct sticky_buf *out, const char *name, size_t nlen,
    const char *value, size_t vlen);

/* ---- client side: parse a response ---- */
struct fcgi_response {
	struct sticky_buf out; /* STDOUT stream: CGI headers + body */
	struct sticky_buf err; /* STDERR stream */
	int done;              /* END_REQUEST seen */
	uint32_t app_status;
	uint8_t proto_status;
	/* private */
	unsigned char hdr[FCGI_HEADER_LEN];
	size_t hdr_have;
	unsigned type;
	size_t content_left;
	size_t padding_left;
	unsigned char end[8];
	size_t end_have;
};
void fcgi_response_init(struct fcgi_response *r);
void fcgi_response_cleanup(struct fcgi_response *r);
/* Feed bytes; STICKY_EPROTO on a malformed record. */
int fcgi_response_feed(struct fcgi_response *r, const void *data, size_t len);
/*
 * Split the STDOUT stream into CGI status, headers and body: *status from
 * "Status:" (200 if absent), header lookup by name with
 * fcgi_response_header().  Returns STICKY_EPROTO if no blank line.
 */
int fcgi_response_status(const struct fcgi_response *r, int *status);
/* Value of header `name` (case-insensitive) copied into out, or ENOENT. */
int fcgi_response_header(const struct fcgi_response *r, const char *name,
    char *out, size_t outlen);
/* The body after the blank line. */
const unsigned char *fcgi_response_body(const struct fcgi_response *r,
    size_t *len);

#endif /* STICKY_FCGI_H */
