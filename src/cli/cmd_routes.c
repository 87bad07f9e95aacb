/*
 * cmd_routes.c: `stickyctl routes FRONTEND`, the front-end recipes.  Each
 * one is generated from the configuration the workers run with: tags and
 * addresses come from route_tag() and sock_expand(), the very calls the
 * master makes, so a recipe cannot name a socket the workers do not have.
 *
 * What each recipe does, and why, is measured by
 * tests/integration/t_route_*.sh and written up in docs/frontends.md; the
 * comments inside the generated text say the same in one line each, since
 * that text is what an operator reads.
 *
 * The output is a fragment, not a whole server configuration: a virtual
 * host (Apache), a $SERVER["socket"] block (lighttpd), http-level blocks
 * (nginx) or proxy sections (HAProxy).  Paths for logs, pids and temp files
 * belong to the server's main configuration; the tests write a small one
 * (tests/integration/frontends.sh).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "internal.h"
#include "route.h"
#include "sid.h"
#include "sock.h"

#define ADDR_MAX 512

/* One worker as the front-end sees it. */
struct member {
	char tag[SID_TAG_MAX + 1];
	char addr[ADDR_MAX]; /* "unix:/path" or "HOST:PORT", expanded */
	int is_unix;
};

/* Everything a recipe is made from. */
struct recipe {
	const struct sticky_config *cfg; /* borrowed: cookie, routing, status */
	struct member *m;                /* every worker of every host */
	size_t n;
	const char *frontend;
	const char *bind;     /* "" = every address */
	long port;
	const char *location; /* URL prefix, starts and ends with '/' */
	const char *name;     /* balancer/upstream/backend name */
	long timeout_s;       /* wait for an answer before failing over */
	int hash;             /* routing = hash */
	struct sticky_buf cmdline; /* for the header: how to regenerate */
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: stickyctl [-c FILE] [-o KEY=VALUE]... routes "
	    "apache|lighttpd|nginx|haproxy\n"
	    "         [--port N] [--bind ADDR] [--location PREFIX] [--name NAME]\n"
	    "         [--timeout SECONDS] [--also FILE]...\n\n"
	    "  --port N          port the front-end listens on (8080)\n"
	    "  --bind ADDR       address it listens on (every address)\n"
	    "  --location PREFIX URL prefix sent to the workers (/)\n"
	    "  --name NAME       name of the balancer/upstream/backend (sticky)\n"
	    "  --timeout SECONDS how long to wait for a worker's answer before\n"
	    "                    failing over to another one (30)\n"
	    "  --also FILE       the sticky configuration of another host: its\n"
	    "                    workers join the recipe (they must listen on TCP)\n"
	    "Prints the recipe on stdout; routing = hash in the configuration\n"
	    "selects cookie hashing where the front-end can do it.\n");
}

/*
 * Anything the four configuration languages would need quoted or escaped
 * is refused instead: a path with a space or a quote in it is legal, but
 * not worth four escaping rules.
 */
static int
safe_text(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || strchr("\"'\\`$;#{}|<>()*?!&", c))
			return 0;
	}
	return 1;
}

static int
name_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static int
parse_num(const char *opt, const char *v, long min, long max, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
		fprintf(stderr, "stickyctl: routes: %s %s: expected a number "
		    "from %ld to %ld\n", opt, v, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

/*
 * A worker listening on every address (0.0.0.0:9000) is reached on this
 * host over the loopback; on another host, only the configuration can say
 * which of its addresses the front-end should use.
 */
static int
fix_wildcard(struct member *w, int local, const char *src)
{
	static const char *const any[] = { "0.0.0.0", "*", "", "[::]", "::" };
	const char *colon = strrchr(w->addr, ':');
	char port[16];

	for (size_t k = 0; k < sizeof(any) / sizeof(any[0]); k++) {
		if (strlen(any[k]) != (size_t)(colon - w->addr) ||
		    strncmp(w->addr, any[k], strlen(any[k])) != 0)
			continue;
		if (!local) {
			fprintf(stderr, "stickyctl: routes: %s: listen = %s: give "
			    "the address the front-end reaches this host on, not a "
			    "wildcard\n", src, w->addr);
			return -1;
		}
		snprintf(port, sizeof(port), "%s", colon + 1);
		snprintf(w->addr, sizeof(w->addr), "%s:%s",
		    any[k][0] == '[' || any[k][0] == ':' ? "[::1]" : "127.0.0.1",
		    port);
		return 0;
	}
	return 0;
}

/* Append the workers of one configuration (one host) to the recipe. */
static int
add_workers(struct recipe *r, const struct sticky_config *cfg, const char *src)
{
	struct member *m;

	if ((m = xreallocarray(r->m, r->n + (size_t)cfg->workers,
	    sizeof(*m))) == NULL) {
		fprintf(stderr, "stickyctl: routes: out of memory\n");
		return -1;
	}
	r->m = m;
	for (long i = 0; i < cfg->workers; i++) {
		struct member *w = &r->m[r->n];

		if (route_tag(cfg->tag, (unsigned)i, w->tag, sizeof(w->tag)) != 0 ||
		    sock_expand(cfg->listen, (unsigned)i, w->tag, w->addr,
		    sizeof(w->addr)) != 0) {
			fprintf(stderr, "stickyctl: routes: %s: worker %ld: bad tag "
			    "or listen address\n", src, i);
			return -1;
		}
		w->is_unix = strncmp(w->addr, "unix:", 5) == 0;
		if (!w->is_unix && fix_wildcard(w, cfg == r->cfg, src) != 0)
			return -1;
		if (!safe_text(w->addr)) {
			fprintf(stderr, "stickyctl: routes: %s: '%s': characters "
			    "a front-end configuration would need quoted\n", src,
			    w->addr);
			return -1;
		}
		for (size_t j = 0; j < r->n; j++)
			if (strcmp(r->m[j].tag, w->tag) == 0) {
				fprintf(stderr, "stickyctl: routes: %s: tag %s is "
				    "used twice; give each host its own tag pattern "
				    "(tag = web2-w%%i)\n", src, w->tag);
				return -1;
			}
		r->n++;
	}
	return 0;
}

/*
 * Another host's configuration must agree on what the front-end sees: the
 * cookie and the routing mode.  Its workers must be reachable from here.
 */
static int
add_host(struct recipe *r, const char *path)
{
	struct sticky_config *c;
	char err[512];
	int rc = -1;

	if (sticky_config_new(&c) != 0) {
		fprintf(stderr, "stickyctl: routes: out of memory\n");
		return -1;
	}
	if (sticky_config_load(c, path, err, sizeof(err)) != 0 ||
	    config_validate(c, err, sizeof(err)) != 0) {
		fprintf(stderr, "stickyctl: routes: --also %s\n", err);
		goto out;
	}
	if (strncmp(c->listen, "unix:", 5) == 0) {
		fprintf(stderr, "stickyctl: routes: --also %s: listen = %s: "
		    "workers on another host must listen on TCP\n", path,
		    c->listen);
		goto out;
	}
	if (strcmp(c->cookie_name, r->cfg->cookie_name) != 0 ||
	    c->routing != r->cfg->routing) {
		fprintf(stderr, "stickyctl: routes: --also %s: cookie_name and "
		    "routing must be the same on every host\n", path);
		goto out;
	}
	rc = add_workers(r, c, path);
out:
	sticky_config_free(c);
	return rc;
}

/* The address the front-end listens on, in the usual "ADDR:PORT" form. */
static void
listen_addr(const struct recipe *r, char *out, size_t outlen, const char *any)
{
	if (r->bind[0] == '\0')
		snprintf(out, outlen, "%s%ld", any, r->port);
	else if (strchr(r->bind, ':') != NULL)
		snprintf(out, outlen, "[%s]:%ld", r->bind, r->port);
	else
		snprintf(out, outlen, "%s:%ld", r->bind, r->port);
}

/* The path of a unix member, or NULL. */
static const char *
unix_path(const struct member *m)
{
	return m->is_unix ? m->addr + 5 : NULL;
}

static int
header(struct sticky_buf *b, const struct recipe *r, const char *what)
{
	const struct sticky_config *c = r->cfg;

	return buf_printf(b,
	    "# sticky: %s\n"
	    "# Generated by `stickyctl routes %s%s` from\n"
	    "#   workers = %ld, listen = %s, tag = %s,\n"
	    "#   cookie_name = %s, routing = %s%s.\n"
	    "# Do not edit: regenerate from the configuration the workers use.\n",
	    what, r->frontend, (const char *)r->cmdline.data, c->workers,
	    c->listen, c->tag, c->cookie_name, r->hash ? "hash" : "tag",
	    r->n > (size_t)c->workers ? ", and other hosts (--also)" : "");
}

/* ---- Apache 2.4: mod_proxy_balancer, route = tag ---- */

static int
gen_apache(struct sticky_buf *b, const struct recipe *r)
{
	static const char *const mods[][2] = {
		{ "authz_core_module", "authz_core" },
		{ "proxy_module", "proxy" },
		{ "proxy_fcgi_module", "proxy_fcgi" },
		{ "proxy_balancer_module", "proxy_balancer" },
		{ "slotmem_shm_module", "slotmem_shm" },
		{ "lbmethod_byrequests_module", "lbmethod_byrequests" },
		{ "unique_id_module", "unique_id" },
	};
	char addr[300];
	int rc = 0;

	listen_addr(r, addr, sizeof(addr), "*:");
	rc |= header(b, r, "Apache 2.4 (mod_proxy_fcgi + mod_proxy_balancer)");
	rc |= buf_printf(b,
	    "#\n"
	    "# Debian: a2enmod proxy_fcgi proxy_balancer lbmethod_byrequests\n"
	    "# slotmem_shm unique_id; copy this file to\n"
	    "# /etc/apache2/sites-available/%s.conf; a2ensite %s.\n"
	    "# The balancer routes on the tag after the '.' of the %s cookie\n"
	    "# (stickysession); new users go to the worker that has served the\n"
	    "# fewest requests (byrequests).  If the owner refuses or drops the\n"
	    "# connection, the request (GET or POST) is resent to another worker,\n"
	    "# which restores the session from Redis and re-issues the cookie\n"
	    "# with its own tag, so the user stays there.  If the owner hangs,\n"
	    "# that request gets 504 after timeout and the next ones fail over.\n"
	    "# UNIQUE_ID (mod_unique_id) is the request id the workers use to\n"
	    "# apply a resent request once.\n",
	    r->name, r->name, r->cfg->cookie_name);
	if (r->hash)
		rc |= buf_puts(b,
		    "# routing = hash: Apache cannot hash a cookie; it routes on "
		    "the tag,\n# which hash-mode workers keep correct as well.\n");
	rc |= buf_puts(b, "\n");
	for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++)
		rc |= buf_printf(b, "<IfModule !%s>\n"
		    "    Error \"sticky: mod_%s is not loaded (a2enmod %s)\"\n"
		    "</IfModule>\n", mods[i][0], mods[i][1], mods[i][1]);
	rc |= buf_printf(b, "\nListen %s\n<VirtualHost %s>\n", addr, addr);
	/*
	 * disablereuse=On, the conservative choice.  The workers do serve
	 * many kept connections at once, and reuse measured 18.5k req/s
	 * against 12.8k, with no error when a worker was SIGKILLed under
	 * load.  But the workers close a connection idle for read_timeout,
	 * and a request Apache sends on one at that moment fails: Apache
	 * resends it and takes the member out for retry seconds, moving all
	 * its users.  Each Apache process also keeps its own pool, which can
	 * hold more connections than max_connections.  docs/frontends.md says
	 * how to turn reuse on (disablereuse=Off ttl=<below read_timeout>).
	 */
	rc |= buf_printf(b,
	    "    # One member per worker.  Unix members need distinct host parts\n"
	    "    # (fcgi://TAG/), or Apache merges them into one (AH01150).\n"
	    "    # timeout: seconds to wait for an answer before failing over;\n"
	    "    # retry: seconds a failed member is left alone; disablereuse:\n"
	    "    # a new connection per request (reuse is faster, see\n"
	    "    # docs/frontends.md, but idle pooled connections race with the\n"
	    "    # workers' idle timeout).\n"
	    "    # failonstatus=504: a worker that does not answer within timeout\n"
	    "    # is taken out for retry seconds (failontimeout only works with\n"
	    "    # mod_proxy_http).  That request gets the 504 (Apache does not\n"
	    "    # resend after a timeout); the user's next one fails over.  A\n"
	    "    # request whose worker dies (connection reset) is resent.\n"
	    "    <Proxy \"balancer://%s\">\n", r->name);
	for (size_t i = 0; i < r->n; i++) {
		const struct member *m = &r->m[i];

		if (m->is_unix)
			rc |= buf_printf(b, "        BalancerMember "
			    "\"unix:%s|fcgi://%s/\" route=%s", unix_path(m), m->tag,
			    m->tag);
		else
			rc |= buf_printf(b, "        BalancerMember \"fcgi://%s/\" "
			    "route=%s", m->addr, m->tag);
		rc |= buf_printf(b, " timeout=%ld retry=5 disablereuse=On\n",
		    r->timeout_s);
	}
	rc |= buf_printf(b,
	    "        ProxySet lbmethod=byrequests stickysession=%s nofailover=Off \\\n"
	    "                 failonstatus=504\n"
	    "    </Proxy>\n"
	    "    ProxyPass \"%s\" \"balancer://%s%s\"\n"
	    "</VirtualHost>\n", r->cfg->cookie_name, r->location, r->name,
	    r->location);
	return rc;
}

/* ---- lighttpd 1.4: a cookie conditional per worker ---- */

static int
lighttpd_host(struct sticky_buf *b, const struct recipe *r,
    const struct member *m, const char *indent)
{
	int rc;

	rc = buf_printf(b, "%s\"%s\" => ( ", indent, m->tag);
	if (m->is_unix)
		rc |= buf_printf(b, "\"socket\" => \"%s\", ", unix_path(m));
	else {
		const char *colon = strrchr(m->addr, ':');

		rc |= buf_printf(b, "\"host\" => \"%.*s\", \"port\" => %s, ",
		    (int)(colon - m->addr), m->addr, colon + 1);
	}
	rc |= buf_printf(b, "\"check-local\" => \"disable\",\n%s    "
	    "\"connect-timeout\" => 2, \"read-timeout\" => %ld, "
	    "\"write-timeout\" => %ld,\n%s    \"disable-time\" => 1 )",
	    indent, r->timeout_s, r->timeout_s, indent);
	return rc;
}

/* A regex literal for the cookie name: token characters, some special. */
static int
regex_quote(struct sticky_buf *b, const char *s)
{
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		if (strchr(".^$|?*+()[]{}\\", *s) != NULL)
			rc = buf_printf(b, "\\%c", *s);
		else
			rc = buf_append(b, s, 1);
	}
	return rc;
}

static int
gen_lighttpd(struct sticky_buf *b, const struct recipe *r)
{
	char addr[300];
	int rc = 0;

	if (r->hash) {
		fprintf(stderr, "stickyctl: routes: lighttpd cannot hash a cookie "
		    "(its balance = \"hash\" hashes the URL): use routing = tag\n");
		return 1;
	}
	listen_addr(r, addr, sizeof(addr), ":");
	rc |= header(b, r, "lighttpd 1.4 (mod_fastcgi)");
	rc |= buf_printf(b,
	    "#\n"
	    "# Debian: copy to /etc/lighttpd/conf-available/50-%s.conf, "
	    "lighty-enable-mod %s.\n"
	    "# A request whose %s cookie ends in .TAG goes to that worker only;\n"
	    "# any other request is balanced round-robin (\"fair\" and \"hash\"\n"
	    "# would send every new user to the same worker).  Limit: lighttpd\n"
	    "# has no failover inside a block, so while a worker is down its\n"
	    "# users get 503 (504 after read-timeout if it hangs) until it is\n"
	    "# back; new users go to the others.  A respawned worker keeps its\n"
	    "# socket, so a restart is not seen; a request in flight when a\n"
	    "# worker dies gets 500 and is not retried.\n\n"
	    "server.modules += ( \"mod_fastcgi\" )\n\n"
	    "$SERVER[\"socket\"] == \"%s\" {\n"
	    "    # Buffer the whole request before it goes to a worker.\n"
	    "    server.stream-request-body = 0\n",
	    r->name, r->name, r->cfg->cookie_name, addr);
	for (size_t i = 0; i < r->n && rc == 0; i++) {
		const struct member *m = &r->m[i];

		rc |= buf_printf(b, "    %s$REQUEST_HEADER[\"Cookie\"] =~ \"(^|;) *",
		    i == 0 ? "" : "else ");
		rc |= regex_quote(b, r->cfg->cookie_name);
		rc |= buf_printf(b, "=[^;.]*\\.%s *(;|$)\" {\n"
		    "        fastcgi.server = ( \"%s\" => (\n", m->tag, r->location);
		rc |= lighttpd_host(b, r, m, "            ");
		rc |= buf_puts(b, " ) )\n    }\n");
	}
	rc |= buf_printf(b, "    %s{\n"
	    "        fastcgi.balance = \"round-robin\"\n"
	    "        fastcgi.server = ( \"%s\" => (\n", r->n > 0 ? "else " : "",
	    r->location);
	for (size_t i = 0; i < r->n && rc == 0; i++) {
		rc |= lighttpd_host(b, r, &r->m[i], "            ");
		rc |= buf_puts(b, i + 1 < r->n ? ",\n" : " ) )\n");
	}
	rc |= buf_puts(b, "    }\n}\n");
	return rc;
}

/* ---- nginx: an upstream per tag, the other workers as backup ---- */

static int
nginx_server(struct sticky_buf *b, const struct member *m, const char *extra)
{
	if (m->is_unix)
		return buf_printf(b, "    server unix:%s%s;\n", unix_path(m), extra);
	return buf_printf(b, "    server %s%s;\n", m->addr, extra);
}

static int
gen_nginx(struct sticky_buf *b, const struct recipe *r)
{
	static const char *const params[][2] = {
		{ "QUERY_STRING", "$query_string" },
		{ "REQUEST_METHOD", "$request_method" },
		{ "CONTENT_TYPE", "$content_type" },
		{ "CONTENT_LENGTH", "$content_length" },
		{ "SCRIPT_NAME", "$fastcgi_script_name" },
		{ "REQUEST_URI", "$request_uri" },
		{ "DOCUMENT_URI", "$document_uri" },
		{ "DOCUMENT_ROOT", "$document_root" },
		{ "SERVER_PROTOCOL", "$server_protocol" },
		{ "REQUEST_SCHEME", "$scheme" },
		{ "HTTPS", "$https if_not_empty" },
		{ "GATEWAY_INTERFACE", "CGI/1.1" },
		{ "SERVER_SOFTWARE", "nginx/$nginx_version" },
		{ "REMOTE_ADDR", "$remote_addr" },
		{ "REMOTE_PORT", "$remote_port" },
		{ "SERVER_ADDR", "$server_addr" },
		{ "SERVER_PORT", "$server_port" },
		{ "SERVER_NAME", "$server_name" },
		{ "REQUEST_ID", "$request_id" },
	};
	const char *cn = r->cfg->cookie_name;
	char addr[300];
	int rc = 0;

	if (!name_ok(cn)) {
		fprintf(stderr, "stickyctl: routes: nginx reads cookies as "
		    "$cookie_NAME, which needs cookie_name of A-Z a-z 0-9 _ "
		    "(not '%s')\n", cn);
		return 1;
	}
	listen_addr(r, addr, sizeof(addr), "");
	rc |= header(b, r, r->hash ? "nginx (hash $cookie consistent)" :
	    "nginx (map $cookie to an upstream per worker)");
	rc |= buf_printf(b,
	    "#\n"
	    "# Goes in the http block: /etc/nginx/conf.d/%s.conf on Debian.\n",
	    r->name);
	if (!r->hash)
		rc |= buf_printf(b,
		    "# A %s cookie ending in .TAG selects the upstream of that worker,\n"
		    "# where the other workers are backups: if it fails (error, or no\n"
		    "# answer within the timeout) the request goes to a backup, which\n"
		    "# restores the session from Redis and re-issues the cookie with\n"
		    "# its own tag, so the user stays there.  Other requests are\n"
		    "# balanced round-robin.\n", cn);
	else
		rc |= buf_printf(b,
		    "# The session key (the cookie before the '.') is hashed onto the\n"
		    "# workers (consistent: adding one moves few users); a request\n"
		    "# without a session is placed by $request_id, i.e. at random.\n"
		    "# The worker that creates a session checkpoints it before its\n"
		    "# first answer, so the hash owner can restore it.  A request\n"
		    "# its worker fails goes to the next one, which restores the\n"
		    "# session from Redis; the next request goes back to the owner.\n");
	/*
	 * max_fails=0 everywhere.  nginx counts an error and a timeout alike
	 * as a failure, and max_fails=1 took a worker out for fail_timeout
	 * on every crash: in hash mode, with one worker SIGKILLed a second,
	 * all of them at once ("no live upstreams", 502 for 13% of the
	 * requests).  The master keeps each socket through a respawn, so a
	 * crashed worker is back within milliseconds and requests queue on
	 * its socket meanwhile; only the request in flight fails, and it is
	 * resent.  The price is a hung worker: each request to it waits
	 * fastcgi_read_timeout before it goes on (tag: then re-homed, so
	 * once per user; hash: each of its users' requests, until the
	 * master's request_timeout kills the stuck worker).
	 */
	/*
	 * fastcgi_keep_conn works with sticky workers (measured: no error
	 * when a worker is SIGKILLed under load) but gained only 5% (21.5k
	 * against 22.7k req/s, 3 workers): connecting over a local socket is
	 * cheap, and each of the n+1 upstream blocks would keep its own idle
	 * connections in every nginx process, eating the workers'
	 * max_connections.  So it stays off.
	 */
	rc |= buf_puts(b,
	    "# Retried on another worker after an error or a timeout, POST too\n"
	    "# (non_idempotent): the workers answer a resent request from their\n"
	    "# replay record of REQUEST_ID, so it is applied once.  No worker is\n"
	    "# ever marked down (max_fails=0): a crashed worker is back on the\n"
	    "# same socket within milliseconds, and requests wait there meanwhile;\n"
	    "# with max_fails, a few crashes in a row took every worker out at\n"
	    "# once (502).  A hung worker costs each request sent to it\n"
	    "# fastcgi_read_timeout before it goes on (the master's\n"
	    "# request_timeout bounds a stuck handler).\n"
	    "# fastcgi_keep_conn stays off: the gain is small (5%) and every\n"
	    "# upstream block would keep idle connections to every worker.\n\n");
	if (!r->hash) {
		for (size_t i = 0; i < r->n; i++) {
			rc |= buf_printf(b, "upstream %s_%s {\n", r->name,
			    r->m[i].tag);
			rc |= nginx_server(b, &r->m[i], " max_fails=0");
			for (size_t j = 0; j < r->n; j++)
				if (j != i)
					rc |= nginx_server(b, &r->m[j],
					    " backup max_fails=0");
			rc |= buf_puts(b, "}\n");
		}
		rc |= buf_printf(b, "upstream %s_new {\n", r->name);
		for (size_t i = 0; i < r->n; i++)
			rc |= nginx_server(b, &r->m[i], " max_fails=0");
		rc |= buf_printf(b, "}\n\nmap $cookie_%s $%s_upstream {\n"
		    "    default %s_new;\n", cn, r->name, r->name);
		for (size_t i = 0; i < r->n; i++)
			rc |= buf_printf(b, "    \"~\\.%s$\" %s_%s;\n", r->m[i].tag,
			    r->name, r->m[i].tag);
		rc |= buf_puts(b, "}\n");
	} else {
		rc |= buf_printf(b, "map $cookie_%s $%s_key {\n"
		    "    default $request_id;\n"
		    "    \"~^(?<%s_k>[A-Za-z0-9_-]+)\\.\" $%s_k;\n"
		    "}\n\nupstream %s {\n    hash $%s_key consistent;\n",
		    cn, r->name, r->name, r->name, r->name, r->name);
		for (size_t i = 0; i < r->n; i++)
			rc |= nginx_server(b, &r->m[i], " max_fails=0");
		rc |= buf_puts(b, "}\n");
	}
	rc |= buf_printf(b, "\nserver {\n    listen %s;\n\n"
	    "    location %s {\n", addr, r->location);
	if (!r->hash)
		rc |= buf_printf(b, "        fastcgi_pass $%s_upstream;\n", r->name);
	else
		rc |= buf_printf(b, "        fastcgi_pass %s;\n", r->name);
	rc |= buf_printf(b,
	    "        fastcgi_keep_conn off;\n"
	    "        fastcgi_request_buffering on;\n"
	    "        fastcgi_connect_timeout 2s;\n"
	    "        fastcgi_send_timeout %lds;\n"
	    "        fastcgi_read_timeout %lds;\n"
	    "        fastcgi_next_upstream error timeout non_idempotent;\n"
	    "        fastcgi_next_upstream_tries 0;\n",
	    r->timeout_s, r->timeout_s);
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		rc |= buf_printf(b, "        fastcgi_param %-17s %s;\n",
		    params[i][0], params[i][1]);
	rc |= buf_puts(b, "    }\n}\n");
	return rc;
}

/* ---- HAProxy 2.6: fcgi-app, use-server on the tag ---- */

static int
gen_haproxy(struct sticky_buf *b, const struct recipe *r)
{
	const struct sticky_config *c = r->cfg;
	char addr[300];
	int rc = 0;

	listen_addr(r, addr, sizeof(addr), ":");
	rc |= header(b, r, "HAProxy 2.6 (fcgi-app)");
	rc |= buf_printf(b,
	    "#\n"
	    "# Add to /etc/haproxy/haproxy.cfg (after global and defaults), or\n"
	    "# pass as a second -f file.  The sections set their own mode and\n"
	    "# timeouts.\n");
	if (!r->hash)
		rc |= buf_printf(b,
		    "# A %s cookie ending in .TAG selects that worker (use-server);\n"
		    "# other requests are balanced round-robin.  When the worker is\n"
		    "# down (health check) or does not answer, the request is resent\n"
		    "# to another worker (retry-on + redispatch), which restores the\n"
		    "# session from Redis and re-issues the cookie with its own tag.\n",
		    c->cookie_name);
	else
		rc |= buf_printf(b,
		    "# The session key (the cookie before the '.') is hashed onto the\n"
		    "# workers (consistent); a request without a session is balanced\n"
		    "# round-robin.  The worker that creates a session checkpoints it\n"
		    "# before its first answer, so the hash owner can restore it.\n");
	/*
	 * keep-conn: sticky workers poll all their connections, so a kept
	 * idle connection blocks nobody (a plain libfcgi app needs "no
	 * option keep-conn": its next client waits for timeout server).
	 * Measured with 3 workers: 25.0k req/s against 17.6k without, no
	 * stall for new clients, no error when a worker is SIGKILLed.  maxconn
	 * per server is the workers' max_connections, so HAProxy never holds
	 * more connections to a worker than it serves.
	 */
	rc |= buf_puts(b,
	    "# GET and POST alike are resent after a failure: the request id\n"
	    "# (unique-id, passed as REQUEST_ID) lets the workers apply a resent\n"
	    "# request once.  Connections are kept (option keep-conn): sticky\n"
	    "# workers serve many connections at once.  For a plain libfcgi\n"
	    "# application behind the same backend, use no option keep-conn.\n\n");
	rc |= buf_printf(b,
	    "fcgi-app %s\n"
	    "    docroot /\n"
	    "    option keep-conn\n"
	    "    set-param REQUEST_ID %%[unique-id]\n\n",
	    r->name);
	rc |= buf_printf(b,
	    "frontend %s\n"
	    "    mode http\n"
	    "    bind %s\n"
	    "    timeout client 30s\n"
	    "    unique-id-format %%{+X}o\\ %%ci:%%cp_%%fi:%%fp_%%Ts_%%rt:%%pid\n",
	    r->name, addr);
	if (strcmp(r->location, "/") == 0)
		rc |= buf_printf(b, "    default_backend %s\n\n", r->name);
	else
		rc |= buf_printf(b, "    use_backend %s if { path_beg %s }\n\n",
		    r->name, r->location);
	rc |= buf_printf(b,
	    "backend %s\n"
	    "    mode http\n"
	    "    use-fcgi-app %s\n", r->name, r->name);
	if (!r->hash)
		rc |= buf_puts(b, "    balance roundrobin\n");
	else
		rc |= buf_printf(b, "    balance hash req.cook(%s),field(1,.)\n"
		    "    hash-type consistent\n", c->cookie_name);
	rc |= buf_printf(b,
	    "    option http-buffer-request\n"
	    "    option redispatch 1\n"
	    "    retries 2\n"
	    "    retry-on conn-failure empty-response response-timeout\n"
	    "    timeout connect 2s\n"
	    "    timeout server %lds\n"
	    "    timeout queue %lds\n"
	    "    timeout check 2s\n",
	    r->timeout_s, r->timeout_s);
	/*
	 * The health check is a FastCGI request for the status page.  It has
	 * no client address, so the page answers 403 (status_allow): any
	 * answer shows the worker's loop is alive, and a 503 (Redis down)
	 * must not take every worker out at once.  Without a status page, a
	 * connect check; it cannot see a hung worker, whose requests then
	 * wait for timeout server and are resent.
	 */
	if (c->status_path[0] != '\0')
		rc |= buf_printf(b,
		    "    # Health check: any FastCGI answer from the status page "
		    "counts\n"
		    "    # (it answers 403 to a check, which has no client address).\n"
		    "    option httpchk GET %s\n"
		    "    http-check expect rstatus .\n", c->status_path);
	if (!r->hash)
		for (size_t i = 0; i < r->n; i++)
			rc |= buf_printf(b, "    use-server %s if { req.cook(%s),"
			    "field(2,.) -m str %s }\n", r->m[i].tag, c->cookie_name,
			    r->m[i].tag);
	for (size_t i = 0; i < r->n; i++) {
		const struct member *m = &r->m[i];

		rc |= buf_printf(b, "    server %s %s%s proto fcgi check inter 1s "
		    "fall 2 rise 1 maxconn %ld\n", m->tag, m->is_unix ? "unix@" : "",
		    m->is_unix ? unix_path(m) : m->addr, c->max_connections);
	}
	return rc;
}

/* ---- the subcommand ---- */

static const struct {
	const char *name;
	int (*gen)(struct sticky_buf *, const struct recipe *);
} frontends[] = {
	{ "apache", gen_apache },
	{ "lighttpd", gen_lighttpd },
	{ "nginx", gen_nginx },
	{ "haproxy", gen_haproxy },
};

int
cmd_routes(struct sticky_config *cfg, int argc, char *argv[])
{
	struct recipe r;
	struct sticky_buf out;
	int (*gen)(struct sticky_buf *, const struct recipe *) = NULL;
	int rc = 1, i;

	memset(&r, 0, sizeof(r));
	buf_init(&out);
	buf_init(&r.cmdline);
	r.cfg = cfg;
	r.bind = "";
	r.port = 8080;
	r.location = "/";
	r.name = "sticky";
	r.timeout_s = 30;
	r.hash = cfg->routing == ROUTING_HASH;
	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	r.frontend = argv[1];
	for (size_t k = 0; k < sizeof(frontends) / sizeof(frontends[0]); k++)
		if (strcmp(argv[1], frontends[k].name) == 0)
			gen = frontends[k].gen;
	if (gen == NULL) {
		fprintf(stderr, "stickyctl: routes: unknown front-end '%s'\n",
		    argv[1]);
		usage(stderr);
		return 2;
	}
	if (buf_puts(&r.cmdline, "") != 0 || add_workers(&r, cfg, "config") != 0)
		goto out;
	for (i = 2; i < argc; i++) {
		const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL) {
			fprintf(stderr, "stickyctl: routes: %s needs a value\n", opt);
			rc = 2;
			goto out;
		}
		i++;
		if (strcmp(opt, "--port") == 0) {
			if (parse_num(opt, v, 1, 65535, &r.port) != 0)
				goto bad;
		} else if (strcmp(opt, "--timeout") == 0) {
			if (parse_num(opt, v, 1, 3600, &r.timeout_s) != 0)
				goto bad;
		} else if (strcmp(opt, "--bind") == 0) {
			if (!safe_text(v) || strchr(v, '/') != NULL)
				goto badval;
			r.bind = v;
		} else if (strcmp(opt, "--location") == 0) {
			size_t l = strlen(v);

			if (!safe_text(v) || v[0] != '/' || v[l - 1] != '/')
				goto badval;
			r.location = v;
		} else if (strcmp(opt, "--name") == 0) {
			if (!name_ok(v))
				goto badval;
			r.name = v;
		} else if (strcmp(opt, "--also") == 0) {
			if (add_host(&r, v) != 0)
				goto out;
			continue; /* a file path: not repeated in the header */
		} else {
			fprintf(stderr, "stickyctl: routes: unknown option %s\n", opt);
			usage(stderr);
			rc = 2;
			goto out;
		}
		if (buf_printf(&r.cmdline, " %s %s", opt, v) != 0)
			goto out;
		continue;
badval:
		fprintf(stderr, "stickyctl: routes: %s '%s': not a usable value%s\n",
		    opt, v, strcmp(opt, "--location") == 0 ?
		    " (a path that starts and ends with '/')" :
		    strcmp(opt, "--name") == 0 ? " (A-Z a-z 0-9 _)" : "");
bad:
		rc = 2;
		goto out;
	}
	if ((i = gen(&out, &r)) != 0) {
		if (i < 0)
			fprintf(stderr, "stickyctl: routes: out of memory\n");
		goto out;
	}
	if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		fprintf(stderr, "stickyctl: routes: write: %s\n", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	buf_cleanup(&out);
	buf_cleanup(&r.cmdline);
	xfree(r.m);
	return rc;
}
