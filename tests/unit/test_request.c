/*
 * test_request.c: what a handler reads (params, path, query arguments,
 * cookies, body) and what sticky sends back (status line, headers, the
 * session cookie, the worker header), including refused header injection.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "request.h"
#include "store.h"
#include "worker.h"

static struct sticky_config cfg;
static struct worker w;
static struct fcgi_request fr;
static struct sticky_req req;

#define P(n, v) { n, v, sizeof(n) - 1, sizeof(v) - 1 }

static struct fcgi_param params[] = {
	P("REQUEST_METHOD", "POST"),
	P("DOCUMENT_URI", "/cart/add"),
	P("QUERY_STRING", "item=blue+shoe&qty=2&note=a%26b&flag&bad=%zz&end=%4"),
	P("HTTP_COOKIE", "STICKYSIDX=evil; theme=dark; STICKYSID=\"abc\""),
	P("REQUEST_ID", "req-42"),
};

static void
setup(void)
{
	cr_assert_eq(config_init(&cfg), 0);
	sticky_config_set(&cfg, "worker_header", "X-Sticky-Worker", NULL, 0);
	memset(&w, 0, sizeof(w));
	w.cfg = &cfg;
	strcpy(w.tag, "w3");
	fcgi_request_init(&fr);
	fr.params = params;
	fr.nparams = sizeof(params) / sizeof(params[0]);
	buf_append(&fr.body, "{\"a\":1}", 7);
	request_init(&req, &w, &fr);
}

static void
teardown(void)
{
	request_cleanup(&req);
	fr.params = NULL; /* static */
	fr.nparams = 0;
	fcgi_request_cleanup(&fr);
	config_cleanup(&cfg);
}

TestSuite(request, .init = setup, .fini = teardown);

Test(request, params_and_path)
{
	cr_assert_str_eq(sticky_req_method(&req), "POST");
	cr_assert_str_eq(sticky_req_path(&req), "/cart/add");
	cr_assert_null(sticky_req_param(&req, "NOPE"));
	cr_assert_null(sticky_req_param(&req, "request_method"), "case-sensitive");
	cr_assert_str_eq(sticky_req_id(&req), "req-42");
	cr_assert_str_eq(sticky_req_worker_tag(&req), "w3");
	size_t len;
	const char *b = sticky_req_body(&req, &len);
	cr_assert_eq(len, 7);
	cr_assert(memcmp(b, "{\"a\":1}", 7) == 0);
}

Test(request, every_param_in_order)
{
	const char *n, *v;
	size_t i;

	for (i = 0; sticky_req_param_at(&req, i, &n, &v) == 0; i++) {
		cr_assert_str_eq(n, params[i].name);
		cr_assert_str_eq(v, params[i].value);
	}
	cr_assert_eq(i, sizeof(params) / sizeof(params[0]));
	cr_assert_eq(sticky_req_param_at(&req, i, &n, &v), STICKY_ENOENT);
	cr_assert_eq(sticky_req_param_at(NULL, 0, &n, &v), STICKY_ENOENT);
	cr_assert_eq(sticky_req_param_at(&req, 0, NULL, NULL), 0, "either may be NULL");
}

Test(request, no_session_no_id)
{
	cr_assert_null(sticky_session_id(&req));
	cr_assert_null(sticky_session_id(NULL));
}

Test(request, query_arguments_are_decoded)
{
	cr_assert_str_eq(sticky_req_arg(&req, "item"), "blue shoe");
	cr_assert_str_eq(sticky_req_arg(&req, "qty"), "2");
	cr_assert_str_eq(sticky_req_arg(&req, "note"), "a&b");
	cr_assert_str_eq(sticky_req_arg(&req, "flag"), "");
	cr_assert_str_eq(sticky_req_arg(&req, "bad"), "%zz", "invalid escapes stay");
	cr_assert_str_eq(sticky_req_arg(&req, "end"), "%4");
	cr_assert_null(sticky_req_arg(&req, "missing"));
}

Test(request, cookies_match_exact_names)
{
	cr_assert_str_eq(sticky_req_cookie(&req, "theme"), "dark");
	cr_assert_str_eq(sticky_req_cookie(&req, "STICKYSID"), "abc");
	cr_assert_null(sticky_req_cookie(&req, "STICKY"));
}

Test(request, header_injection_is_refused)
{
	cr_assert_eq(sticky_req_add_header(&req, "X-A", "ok"), 0);
	cr_assert_eq(sticky_req_add_header(&req, "X-B", "a\r\nSet-Cookie: x=1"),
	    STICKY_EINVAL);
	cr_assert_eq(sticky_req_add_header(&req, "X B", "v"), STICKY_EINVAL);
	cr_assert_eq(sticky_req_add_header(&req, "Bad:Name", "v"), STICKY_EINVAL);
	cr_assert_eq(sticky_req_add_header(&req, "Status", "500"), STICKY_EINVAL);
	cr_assert_eq(sticky_req_set_status(&req, 42), STICKY_EINVAL);
	cr_assert_eq(sticky_req_set_status(&req, 1000), STICKY_EINVAL);
	cr_assert_eq(sticky_req_set_status(&req, 201), 0);
	cr_assert(strstr((char *)req.headers.data, "Set-Cookie") == NULL);
}

Test(request, render_has_status_headers_and_body)
{
	struct sticky_buf out;

	buf_init(&out);
	sticky_req_set_status(&req, 201);
	sticky_req_add_header(&req, "Content-Type", "application/json");
	sticky_req_printf(&req, "{\"n\":%d}", 7);
	cr_assert_eq(request_render(&req, &out), 0);
	const char *s = (const char *)out.data;
	cr_assert(strncmp(s, "Status: 201 Created\r\n", 21) == 0, "%s", s);
	cr_assert(strstr(s, "Content-Type: application/json\r\n") != NULL);
	cr_assert(strstr(s, "text/plain") == NULL, "no second content type");
	cr_assert(strstr(s, "X-Sticky-Worker: w3\r\n") != NULL);
	cr_assert(strstr(s, "Set-Cookie") == NULL, "no session, no cookie");
	cr_assert(strstr(s, "\r\n\r\n{\"n\":7}") != NULL);
	buf_cleanup(&out);
}

Test(request, render_issues_the_session_cookie_with_our_tag)
{
	struct sticky_buf out;
	struct session *s = store_session_alloc("AAAAAAAAAAAAAAAAAAAAAA");

	buf_init(&out);
	sticky_config_set(&cfg, "cookie_secure", "on", NULL, 0);
	sticky_config_set(&cfg, "cookie_samesite", "strict", NULL, 0);
	req.sess = s;
	/* The cookie carries the key; the session holds only its name. */
	memcpy(req.out_key, "AAAAAAAAAAAAAAAAAAAAAA", sizeof(req.out_key));
	req.set_cookie = 1;
	cr_assert_eq(request_render(&req, &out), 0);
	const char *c = strstr((char *)out.data, "Set-Cookie: ");
	cr_assert_not_null(c, "%s", out.data);
	cr_assert(strncmp(c, "Set-Cookie: STICKYSID=AAAAAAAAAAAAAAAAAAAAAA.w3;", 48) == 0, "%s", c);
	cr_assert(strstr(c, "HttpOnly") != NULL);
	cr_assert(strstr(c, "Secure") != NULL);
	cr_assert(strstr(c, "SameSite=Strict") != NULL);
	cr_assert(strstr(c, "Path=/") != NULL);
	cr_assert(strstr((char *)out.data, "Cache-Control: private, no-store") != NULL);
	store_session_release(s);
	buf_cleanup(&out);
}

/* Count the header lines of a rendered response that start with name. */
static int
count_headers(const char *resp, const char *name)
{
	const char *end = strstr(resp, "\r\n\r\n");
	int n = 0;

	for (const char *p = resp; p != NULL && p < end; p = strstr(p, "\r\n")) {
		if (p != resp)
			p += 2;
		if (strncasecmp(p, name, strlen(name)) == 0)
			n++;
		if (p == resp)
			p++;
	}
	return n;
}

Test(request, a_cookie_response_is_never_cacheable_whatever_the_app_says)
{
	struct sticky_buf out;
	struct session *s = store_session_alloc("AAAAAAAAAAAAAAAAAAAAAA");

	buf_init(&out);
	sticky_req_add_header(&req, "X-Note", "Cache-Control: public");
	sticky_req_add_header(&req, "cache-control", "public, max-age=3600");
	sticky_req_add_header(&req, "Expires", "Thu, 01 Dec 2099 16:00:00 GMT");
	sticky_req_add_header(&req, "Pragma", "cache");
	sticky_req_add_header(&req, "X-Other", "kept");
	req.sess = s;
	memcpy(req.out_key, "AAAAAAAAAAAAAAAAAAAAAA", sizeof(req.out_key));
	req.set_cookie = 1;
	cr_assert_eq(request_render(&req, &out), 0);
	const char *r = (const char *)out.data;
	cr_assert(strstr(r, "public, max-age") == NULL, "%s", r);
	cr_assert(strstr(r, "2099") == NULL, "%s", r);
	cr_assert(strstr(r, "Pragma: cache") == NULL, "%s", r);
	cr_assert_eq(count_headers(r, "Cache-Control:"), 1, "%s", r);
	cr_assert(strstr(r, "\r\nCache-Control: private, no-store\r\n") != NULL,
	    "%s", r);
	cr_assert(strstr(r, "\r\nPragma: no-cache\r\n") != NULL, "%s", r);
	cr_assert(strstr(r, "\r\nExpires: 0\r\n") != NULL, "%s", r);
	cr_assert(strstr(r, "X-Note: Cache-Control: public\r\n") != NULL, "%s", r);
	cr_assert(strstr(r, "X-Other: kept\r\n") != NULL, "%s", r);
	store_session_release(s);
	buf_cleanup(&out);
}

Test(request, without_a_cookie_the_app_decides_caching)
{
	struct sticky_buf out;

	buf_init(&out);
	sticky_req_add_header(&req, "Cache-Control", "public, max-age=60");
	cr_assert_eq(request_render(&req, &out), 0);
	cr_assert(strstr((char *)out.data, "Cache-Control: public, max-age=60\r\n")
	    != NULL, "%s", out.data);
	cr_assert(strstr((char *)out.data, "no-store") == NULL, "%s", out.data);
	buf_cleanup(&out);
}

Test(request, logout_response_is_not_cacheable)
{
	struct sticky_buf out;

	buf_init(&out);
	sticky_req_add_header(&req, "Cache-Control", "public");
	req.sess_destroyed = 1;
	cr_assert_eq(request_render(&req, &out), 0);
	cr_assert(strstr((char *)out.data, "Cache-Control: public") == NULL);
	cr_assert(strstr((char *)out.data, "Cache-Control: private, no-store")
	    != NULL, "%s", out.data);
	buf_cleanup(&out);
}

Test(request, logout_expires_the_cookie)
{
	struct sticky_buf out;

	buf_init(&out);
	req.sess_destroyed = 1;
	cr_assert_eq(request_render(&req, &out), 0);
	cr_assert(strstr((char *)out.data, "Set-Cookie: STICKYSID=;") != NULL, "%s", out.data);
	cr_assert(strstr((char *)out.data, "Max-Age=0") != NULL, "%s", out.data);
	buf_cleanup(&out);
}

Test(request, error_pages)
{
	struct sticky_buf out;

	buf_init(&out);
	sticky_req_puts(&req, "partial");
	request_error(&req, 503, "later");
	cr_assert_eq(request_render(&req, &out), 0);
	cr_assert(strncmp((char *)out.data, "Status: 503 Service Unavailable\r\n", 33) == 0);
	cr_assert(strstr((char *)out.data, "Retry-After: 1\r\n") != NULL);
	cr_assert(strstr((char *)out.data, "partial") == NULL);
	buf_cleanup(&out);
}

Test(url, decode_edges)
{
	char s1[] = "a+b%20c%2";
	cr_assert_eq(request_url_decode(s1, strlen(s1)), 7);
	cr_assert_str_eq(s1, "a b c%2");
	char s2[] = "%41%4a%4A%";
	request_url_decode(s2, strlen(s2));
	cr_assert_str_eq(s2, "AJJ%");
}
