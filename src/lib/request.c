/*
 * request.c: the request API a handler calls (sticky_req_*): CGI params,
 * query arguments, cookies and body in; status, headers and body out.  It
 * also renders the CGI response, adding the session cookie and the worker
 * header that sticky owns.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "cookie.h"
#include "request.h"
#include "store.h"
#include "worker.h"

void
request_init(struct sticky_req *req, struct worker *w,
    const struct fcgi_request *fr)
{
	memset(req, 0, sizeof(*req));
	req->w = w;
	req->fr = fr;
	req->status = 200;
	buf_init(&req->headers);
	buf_init(&req->body);
}

void
request_cleanup(struct sticky_req *req)
{
	for (size_t i = 0; i < req->nargs * 2; i++)
		xfree(req->argv[i]);
	xfree(req->argv);
	for (size_t i = 0; i < req->nowned; i++)
		xfree(req->owned[i]);
	xfree(req->owned);
	buf_cleanup(&req->headers);
	buf_cleanup(&req->body);
}

const char *
sticky_req_param(const struct sticky_req *req, const char *name)
{
	if (req == NULL || name == NULL)
		return NULL;
	return fcgi_request_param(req->fr, name);
}

int
sticky_req_param_at(const struct sticky_req *req, size_t i, const char **name,
    const char **value)
{
	if (req == NULL || req->fr == NULL || i >= req->fr->nparams)
		return STICKY_ENOENT;
	if (name != NULL)
		*name = req->fr->params[i].name;
	if (value != NULL)
		*value = req->fr->params[i].value;
	return 0;
}

const char *
sticky_req_method(const struct sticky_req *req)
{
	const char *m = sticky_req_param(req, "REQUEST_METHOD");

	return m != NULL ? m : "GET";
}

const char *
sticky_req_path(const struct sticky_req *req)
{
	const char *p;

	/* REQUEST_URI includes the query; DOCUMENT_URI/SCRIPT_NAME do not. */
	if ((p = sticky_req_param(req, "DOCUMENT_URI")) != NULL && *p != '\0')
		return p;
	if ((p = sticky_req_param(req, "SCRIPT_NAME")) != NULL && *p != '\0') {
		const char *pi = sticky_req_param(req, "PATH_INFO");

		/* Apache's proxy_fcgi puts the path in PATH_INFO at times. */
		if (pi != NULL && *pi != '\0' && strcmp(p, "/") == 0)
			return pi;
		return p;
	}
	return "/";
}

const char *
sticky_req_query(const struct sticky_req *req)
{
	const char *q = sticky_req_param(req, "QUERY_STRING");

	return q != NULL ? q : "";
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

size_t
request_url_decode(char *s, size_t len)
{
	size_t i, o;

	for (i = o = 0; i < len; i++, o++) {
		int hi, lo;

		if (s[i] == '+')
			s[o] = ' ';
		else if (s[i] == '%' && i + 2 < len &&
		    (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			s[o] = (char)(hi * 16 + lo);
			i += 2;
		} else
			s[o] = s[i];
	}
	s[o] = '\0';
	return o;
}

static int
parse_args(struct sticky_req *req)
{
	const char *q = sticky_req_query(req), *p = q;

	req->args_parsed = 1;
	while (*p != '\0') {
		const char *end = strchr(p, '&'), *eq;
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		char **v;

		if (n > 0) {
			eq = memchr(p, '=', n);
			if ((v = xreallocarray(req->argv, req->nargs + 1,
			    2 * sizeof(*v))) == NULL)
				return STICKY_ENOMEM;
			req->argv = v;
			size_t kl = eq != NULL ? (size_t)(eq - p) : n;
			char *k = xstrndup(p, kl);
			char *val = eq != NULL ? xstrndup(eq + 1, n - kl - 1) :
			    xstrdup("");
			if (k == NULL || val == NULL) {
				xfree(k);
				xfree(val);
				return STICKY_ENOMEM;
			}
			request_url_decode(k, strlen(k));
			request_url_decode(val, strlen(val));
			v[req->nargs * 2] = k;
			v[req->nargs * 2 + 1] = val;
			req->nargs++;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

const char *
sticky_req_arg(struct sticky_req *req, const char *name)
{
	if (req == NULL || name == NULL)
		return NULL;
	if (!req->args_parsed && parse_args(req) != 0)
		return NULL;
	for (size_t i = 0; i < req->nargs; i++)
		if (strcmp(req->argv[i * 2], name) == 0)
			return req->argv[i * 2 + 1];
	return NULL;
}

const char *
sticky_req_cookie(struct sticky_req *req, const char *name)
{
	const char *hdr, *val;
	char **v, *copy;
	size_t vlen;

	if (req == NULL || name == NULL ||
	    (hdr = sticky_req_param(req, "HTTP_COOKIE")) == NULL)
		return NULL;
	if (cookie_find(hdr, strlen(hdr), name, &val, &vlen) != 0)
		return NULL;
	/* A NUL-terminated copy, owned by the request until it ends. */
	if ((v = xreallocarray(req->owned, req->nowned + 1, sizeof(*v))) == NULL)
		return NULL;
	req->owned = v;
	if ((copy = xstrndup(val, vlen)) == NULL)
		return NULL;
	v[req->nowned++] = copy;
	return copy;
}

const void *
sticky_req_body(const struct sticky_req *req, size_t *len)
{
	if (len != NULL)
		*len = req->fr->body.len;
	return req->fr->body.len > 0 ? req->fr->body.data : (const void *)"";
}

const char *
sticky_req_id(const struct sticky_req *req)
{
	const char *id = sticky_req_param(req, "REQUEST_ID");

	if (id == NULL || *id == '\0')
		id = sticky_req_param(req, "UNIQUE_ID"); /* Apache mod_unique_id */
	if (id == NULL || *id == '\0')
		id = sticky_req_param(req, "HTTP_X_REQUEST_ID");
	return id != NULL && *id != '\0' ? id : NULL;
}

const char *
sticky_req_worker_tag(const struct sticky_req *req)
{
	return req->w->tag;
}

const void *
sticky_req_shared(const struct sticky_req *req)
{
	return req->w->shared;
}

void *
sticky_req_worker_data(const struct sticky_req *req)
{
	return req->w->worker_data;
}

int
sticky_req_set_status(struct sticky_req *req, int status)
{
	if (req == NULL || status < 100 || status > 999)
		return STICKY_EINVAL;
	req->status = status;
	return 0;
}

/* Header names are tokens; values may not carry CR, LF or NUL. */
static int
header_ok(const char *name, const char *value)
{
	if (!cookie_name_valid(name))
		return 0;
	for (const char *p = value; *p != '\0'; p++)
		if (*p == '\r' || *p == '\n')
			return 0;
	if (strcasecmp(name, "Status") == 0)
		return 0; /* use sticky_req_set_status */
	return 1;
}

int
sticky_req_add_header(struct sticky_req *req, const char *name,
    const char *value)
{
	if (req == NULL || name == NULL || value == NULL || !header_ok(name, value))
		return STICKY_EINVAL;
	return buf_header(&req->headers, name, value);
}

int
sticky_req_write(struct sticky_req *req, const void *data, size_t len)
{
	if (req == NULL || (data == NULL && len > 0))
		return STICKY_EINVAL;
	req->wrote = 1;
	return buf_append(&req->body, data, len);
}

int
sticky_req_puts(struct sticky_req *req, const char *s)
{
	return sticky_req_write(req, s, strlen(s));
}

int
sticky_req_printf(struct sticky_req *req, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (req == NULL || fmt == NULL)
		return STICKY_EINVAL;
	req->wrote = 1;
	va_start(ap, fmt);
	rc = buf_vprintf(&req->body, fmt, ap);
	va_end(ap);
	return rc;
}

const char *
request_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

int
request_error(struct sticky_req *req, int status, const char *text)
{
	buf_reset(&req->body);
	buf_reset(&req->headers);
	req->status = status;
	if (status == 503)
		buf_puts(&req->headers, "Retry-After: 1\r\n");
	buf_puts(&req->headers, "Cache-Control: no-store\r\n");
	req->wrote = 1;
	return buf_printf(&req->body, "%d %s\n", status, text);
}

static int
render_cookie(struct sticky_req *req, struct sticky_buf *out)
{
	const struct sticky_config *cfg = req->w->cfg;
	struct cookie_attrs a;
	struct sid sid;
	char value[SID_MAX + 1];
	int rc;

	a.name = cfg->cookie_name;
	a.path = cfg->cookie_path[0] != '\0' ? cfg->cookie_path : NULL;
	a.domain = cfg->cookie_domain[0] != '\0' ? cfg->cookie_domain : NULL;
	a.secure = cfg->cookie_secure;
	a.httponly = cfg->cookie_httponly;
	a.samesite = cfg->cookie_samesite;
	a.max_age = cfg->cookie_max_age;
	if (req->sess_destroyed) {
		a.max_age = 0;
		value[0] = '\0';
	} else {
		memcpy(sid.key, req->out_key, sizeof(sid.key));
		snprintf(sid.tag, sizeof(sid.tag), "%s", req->w->tag);
		if ((rc = sid_format(&sid, value, sizeof(value))) != 0)
			return rc;
	}
	size_t mark = out->len;

	if ((rc = buf_puts(out, "Set-Cookie: ")) != 0 ||
	    (rc = cookie_format(out, &a, value)) != 0 ||
	    (rc = buf_puts(out, "\r\n")) != 0) {
		out->len = mark; /* no half header */
		if (out->data != NULL)
			out->data[mark] = '\0';
		return rc;
	}
	/*
	 * Never let a cache store a response that sets a session: whatever
	 * the app said about caching was dropped (see app_headers).
	 */
	return buf_puts(out, "Cache-Control: private, no-store\r\n"
	    "Pragma: no-cache\r\nExpires: 0\r\n");
}

/* A header line names one of the caching headers sticky owns here. */
static int
is_cache_header(const char *line, size_t len)
{
	static const char *const names[] = { "Cache-Control:", "Expires:",
		"Pragma:" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);

		if (len >= n && strncasecmp(line, names[i], n) == 0)
			return 1;
	}
	return 0;
}

/*
 * The app's headers; when the response sets the session cookie, without
 * its Cache-Control, Expires and Pragma lines (whole header lines only, so
 * the text inside another header's value changes nothing): render_cookie
 * writes the only ones that count.
 */
static int
app_headers(const struct sticky_req *req, struct sticky_buf *out,
    int sets_cookie)
{
	const char *p = (const char *)req->headers.data, *end, *nl;
	int rc;

	if (!sets_cookie || req->headers.len == 0)
		return buf_append(out, req->headers.data, req->headers.len);
	for (end = p + req->headers.len; p < end; p = nl) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		else
			nl++;
		if (is_cache_header(p, (size_t)(nl - p)))
			continue;
		if ((rc = buf_append(out, p, (size_t)(nl - p))) != 0)
			return rc;
	}
	return 0;
}

int
request_render(struct sticky_req *req, struct sticky_buf *out)
{
	const struct sticky_config *cfg = req->w->cfg;
	int rc, has_ct, sets_cookie;

	has_ct = req->headers.len > 0 &&
	    (strncasecmp((const char *)req->headers.data, "Content-Type:", 13) == 0 ||
	    strcasestr((const char *)req->headers.data, "\nContent-Type:") != NULL);
	{
		/* three digits: sticky_req_set_status() keeps 100-999 */
		char st[5] = { (char)('0' + req->status / 100 % 10),
			(char)('0' + req->status / 10 % 10),
			(char)('0' + req->status % 10), ' ', '\0' };

		if ((rc = buf_puts(out, "Status: ")) != 0 ||
		    (rc = buf_puts(out, st)) != 0 ||
		    (rc = buf_puts(out, request_reason(req->status))) != 0 ||
		    (rc = buf_puts(out, "\r\n")) != 0)
			return rc;
	}
	if (!has_ct && (rc = buf_puts(out,
	    "Content-Type: text/plain; charset=utf-8\r\n")) != 0)
		return rc;
	sets_cookie = (req->set_cookie || req->sess_destroyed) &&
	    (req->sess != NULL || req->sess_destroyed);
	if ((rc = app_headers(req, out, sets_cookie)) != 0)
		return rc;
	if (cfg->worker_header[0] != '\0' &&
	    (rc = buf_header(out, cfg->worker_header, req->w->tag)) != 0)
		return rc;
	if (sets_cookie && (rc = render_cookie(req, out)) != 0)
		return rc;
	if ((rc = buf_puts(out, "\r\n")) != 0)
		return rc;
	return buf_append(out, req->body.data, req->body.len);
}
