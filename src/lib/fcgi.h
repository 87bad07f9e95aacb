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
#define FCGI_MAX_PAIR_LEN 0x7fffffffUL /* 31-bit name/value lengths */
#define FCGI_MAX_REJECTED 8 /* refused requests whose records we skip */
#define FCGI_MAX_RESPONSE (64UL * 1024 * 1024) /* client side, per stream */

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

/* What the parser answers to GET_VALUES. */
#define FCGI_VALUE_MAX_CONNS "64"
#define FCGI_VALUE_MAX_REQS "64"
#define FCGI_VALUE_MPXS_CONNS "0"

/* A record type's name, for error messages. */
const char *fcgi_type_name(unsigned type);

/*
 * ---- the record framer, both directions ----
 * Collects the 8-byte header, hands out the content as it arrives and
 * skips the padding; the reader (server parser, client response, raw dump)
 * decides what a record means.  Call fcgi_frame_next() until it returns
 * FCGI_FRAME_MORE (every byte of data consumed, *off == len):
 *   FCGI_FRAME_HEADER   a header is complete: version, type, id, clen set
 *   FCGI_FRAME_CONTENT  *chunk, *n: the next piece of the content
 *   FCGI_FRAME_END      content and padding consumed; next record follows
 * *off advances past what each call consumed.
 */
struct fcgi_frame {
	unsigned version;
	unsigned type;
	unsigned id;
	size_t clen;         /* content length of the record */
	size_t content_left; /* still to come */
	size_t padding_left;
	/* private */
	unsigned char hdr[FCGI_HEADER_LEN];
	size_t hdr_have; /* FCGI_HEADER_LEN while inside content and padding */
};

enum fcgi_frame_event {
	FCGI_FRAME_MORE = 0,
	FCGI_FRAME_HEADER,
	FCGI_FRAME_CONTENT,
	FCGI_FRAME_END
};

/* 1 between records (no partial header, content or padding). */
#define fcgi_frame_idle(f) ((f)->hdr_have == 0)
enum fcgi_frame_event fcgi_frame_next(struct fcgi_frame *f, const void *data,
    size_t len, size_t *off, const unsigned char **chunk, size_t *n);

struct fcgi_limits {
	size_t max_params;  /* bytes of the whole PARAMS stream */
	size_t max_nparams; /* number of name-value pairs */
	size_t max_body;    /* bytes of the STDIN stream */
};

/* Used when fcgi_parser_init() is given no limits. */
#define FCGI_DEFAULT_MAX_PARAMS (64 * 1024)
#define FCGI_DEFAULT_MAX_NPARAMS 1024
#define FCGI_DEFAULT_MAX_BODY (1024 * 1024)

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
	struct fcgi_param *params; /* owned; NULL when nparams is 0 */
	size_t nparams;
	struct sticky_buf pstream; /* owned: "name\0value\0" pairs live here */
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
	unsigned long aborted; /* requests dropped by ABORT_REQUEST */
	int body_too_big;      /* after STICKY_ETOOBIG: 1 body (413), 0 params (431) */
	char why[128];         /* reason of the last error, for logs */
	/* private below: the record being read */
	struct fcgi_frame fr;
	unsigned type;          /* fr's, for short */
	unsigned rec_id;
	size_t clen;
	int skip;               /* content is discarded (refused id, DATA, ...) */
	unsigned char small[8]; /* BEGIN_REQUEST body */
	size_t small_have;
	struct sticky_buf mgmt; /* GET_VALUES body being read (<= 65535) */
	/* the request being read */
	int state;              /* no request / in params / in stdin / ready */
	int err;                /* first error; every later feed returns it */
	struct fcgi_request req;
	size_t params_pos;      /* PARAMS stream bytes consumed so far */
	/* the name-value pair being decoded, possibly across records */
	int pair_state;
	unsigned char lenbuf[4];
	size_t len_have;
	size_t nlen, vlen;
	size_t pair_left;       /* bytes of the name or value still to come */
	/* requests answered CANT_MPX_CONN/UNKNOWN_ROLE whose records we skip */
	uint16_t rejected[FCGI_MAX_REJECTED];
	size_t nrejected;
	unsigned last_id;       /* last request taken: a late ABORT is ignored */
};

/* lim NULL: the FCGI_DEFAULT_* limits.  Limits are inclusive. */
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
 * the request to answer 413/431 to, p->body_too_big tells which),
 * STICKY_ENOMEM.  An error is final: later calls return it again and
 * consume nothing.  While a request is ready and not taken, a call
 * consumes nothing and returns FCGI_REQUEST_READY.
 * An ABORT_REQUEST for the request being read drops the partial request
 * (p->aborted counts it) and answers END_REQUEST into `reply`.
 */
int fcgi_parser_feed(struct fcgi_parser *p, const void *data, size_t len,
    size_t *used, struct sticky_buf *reply);
/*
 * Move the completed request out (the parser then waits for the next).
 * *out is overwritten, not freed: pass an initialized or cleaned-up one.
 * Without a ready request *out is an empty, initialized request.
 */
void fcgi_parser_take(struct fcgi_parser *p, struct fcgi_request *out);
/* 1 if the parser is between requests (no partial request buffered). */
int fcgi_parser_idle(const struct fcgi_parser *p);
/* The id of the request being read (valid after BEGIN_REQUEST), else 0. */
unsigned fcgi_parser_request_id(const struct fcgi_parser *p);

/*
 * ---- writers: append whole records, padded to 8 bytes ----
 * Each either appends everything or leaves `out` as it was (STICKY_ENOMEM,
 * STICKY_EINVAL for a record over FCGI_MAX_CONTENT or a pair length over
 * FCGI_MAX_PAIR_LEN).
 */
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
/* Uses nlen/vlen: names and values need not be NUL-terminated. */
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
	char why[96];          /* reason of STICKY_EPROTO/ETOOBIG */
	/* private */
	struct fcgi_frame fr;
	unsigned type;         /* fr's, for short */
	unsigned id;           /* of the first record; all must carry it */
	size_t clen;
	unsigned char end[8];
	size_t end_have;
	int out_closed, err_closed; /* empty STDOUT/STDERR record seen */
	int error;
};
void fcgi_response_init(struct fcgi_response *r);
void fcgi_response_cleanup(struct fcgi_response *r);
/*
 * Feed bytes; STICKY_EPROTO on a malformed record (a wrong version or
 * type, a request id that changes, END_REQUEST not 8 bytes, any byte after
 * END_REQUEST), STICKY_ETOOBIG past FCGI_MAX_RESPONSE; reason in r->why.
 * An error is final.
 */
int fcgi_response_feed(struct fcgi_response *r, const void *data, size_t len);
/*
 * Split the STDOUT stream into CGI status, headers and body: *status from
 * "Status:" (200 if absent), header lookup by name with
 * fcgi_response_header().  The header block ends at the first empty line
 * (lines end in \n or \r\n).  Returns STICKY_EPROTO if there is no blank
 * line, a header line has no colon or Status is not 100-599.
 */
int fcgi_response_status(const struct fcgi_response *r, int *status);
/*
 * Value of the first header `name` (case-insensitive), blanks trimmed,
 * copied NUL-terminated into out.  STICKY_ENOENT if absent, STICKY_ETOOBIG
 * if it does not fit in outlen, STICKY_EPROTO as fcgi_response_status().
 */
int fcgi_response_header(const struct fcgi_response *r, const char *name,
    char *out, size_t outlen);
/*
 * Walk the header block: start with *pos = 0; each call returns 1 and the
 * next header (pointers into r->out, not NUL-terminated), 0 after the
 * last, or STICKY_EPROTO.  For repeated headers such as Set-Cookie.
 */
int fcgi_response_header_next(const struct fcgi_response *r, size_t *pos,
    const char **name, size_t *nlen, const char **value, size_t *vlen);
/* The body after the blank line; NULL (and *len 0) without a blank line. */
const unsigned char *fcgi_response_body(const struct fcgi_response *r,
    size_t *len);

#endif /* STICKY_FCGI_H */
