#!/bin/bash
# t_recipes_drift.sh: the recipes checked in under conf/ are exactly what
# `stickyctl routes` makes of conf/example.conf today, each one passes its
# server's own configuration check, and so does a two-host recipe (--also).
# Regenerate after a change:
#   for f in apache lighttpd nginx; do
#     stickyctl -c conf/example.conf routes $f > conf/$f/sticky.conf; done
#   stickyctl -c conf/example.conf routes haproxy > conf/haproxy/sticky.cfg
# Limits: a server that is not installed is reported, not checked; the
# configuration checks do not connect to the workers.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/procs.sh"
. "$top_srcdir/tests/integration/frontends.sh"

t_setup
EX="$top_srcdir/conf/example.conf"

recipe_path() {
	case $1 in
	haproxy) echo "$top_srcdir/conf/haproxy/sticky.cfg" ;;
	*) echo "$top_srcdir/conf/$1/sticky.conf" ;;
	esac
}

# syntax_check NAME FILE: the real server's configuration test, with the
# wrapper frontends.sh writes around a recipe.
syntax_check() {
	local name=$1 file=$2 d="$T/check-$1"
	rm -rf "$d"
	mkdir -p "$d"
	[ "$(id -u)" = 0 ] && chown www-data "$d" 2>/dev/null
	FE_PORT=$(free_port)
	if [ "$name" = haproxy ]; then cp "$file" "$d/sticky.cfg"; else cp "$file" "$d/sticky.conf"; fi
	"fe_write_$name" "$d"
	case $name in
	apache) apache2 -t -f "$d/httpd.conf" ;;
	lighttpd) lighttpd -tt -f "$d/lighttpd.conf" ;;
	nginx) nginx -t -p "$d" -c "$d/nginx.conf" ;;
	haproxy) haproxy -c -f "$d/global.cfg" -f "$d/sticky.cfg" ;;
	esac >"$d/check.log" 2>&1
	local rc=$?
	[ $rc -ne 0 ] && sed 's/^/#   /' "$d/check.log" >&2
	return $rc
}

for fe in apache lighttpd nginx haproxy; do
	want=$(recipe_path "$fe")
	if ! "$STICKYCTL" -c "$EX" routes "$fe" >"$T/$fe.gen" 2>"$T/$fe.err"; then
		fail "$fe: stickyctl routes failed: $(cat "$T/$fe.err")"
		continue
	fi
	if diff -u "$want" "$T/$fe.gen" >"$T/$fe.diff"; then
		ok "$fe: ${want#"$top_srcdir"/} matches stickyctl -c conf/example.conf routes $fe"
	else
		sed 's/^/#   /' "$T/$fe.diff" | head -40 >&2
		fail "$fe: ${want#"$top_srcdir"/} differs from what stickyctl generates (regenerate it)"
	fi
	if fe_available "$fe"; then
		check "$fe: the checked-in recipe passes the server's config test" syntax_check "$fe" "$want"
	else
		ok "$fe: not installed, config test skipped # SKIP"
	fi
done

# Two hosts: this one (unix sockets) and web2 (TCP), one tag space.
cat >"$T/web2.conf" <<EOC
workers = 2
listen = 192.0.2.2:9000
tag = web2-w%i
cookie_name = STICKYSID
EOC
for fe in apache lighttpd nginx haproxy; do
	if ! "$STICKYCTL" -c "$EX" routes "$fe" --also "$T/web2.conf" >"$T/$fe.multi" 2>"$T/$fe.err"; then
		fail "$fe: two hosts: $(cat "$T/$fe.err")"
		continue
	fi
	n=$(grep -c '192\.0\.2\.2' "$T/$fe.multi")
	check "$fe: two hosts: web2's workers in the recipe ($n lines name 192.0.2.2)" test "$n" -ge 2
	fe_available "$fe" && check "$fe: two hosts: passes the server's config test" syntax_check "$fe" "$T/$fe.multi"
done

# What the generator refuses, with a reason.
refuse() { # refuse "message" EXPECTED-TEXT stickyctl-args...
	local msg=$1 want=$2
	shift 2
	if "$STICKYCTL" "$@" >/dev/null 2>"$T/refuse.err"; then
		fail "$msg: accepted"
	elif grep -q -- "$want" "$T/refuse.err"; then
		ok "$msg"
	else
		fail "$msg: unexpected message: $(cat "$T/refuse.err")"
	fi
}
printf 'workers = 2\nlisten = unix:/run/x/%%t.sock\ntag = web3-w%%i\n' >"$T/web3.conf"
printf 'workers = 2\nlisten = 0.0.0.0:9000\ntag = web4-w%%i\n' >"$T/web4.conf"
refuse "another host on unix sockets is refused" "must listen on TCP" -c "$EX" routes nginx --also "$T/web3.conf"
refuse "another host on a wildcard address is refused" "not a" -c "$EX" routes nginx --also "$T/web4.conf"
refuse "a tag used on two hosts is refused" "used twice" -c "$EX" routes nginx --also "$T/web2.conf" --also "$T/web2.conf"
refuse "routing = hash has no lighttpd recipe" "routing = tag" -c "$EX" -o routing=hash routes lighttpd
refuse "nginx needs a cookie name it can read as \$cookie_NAME" "cookie_name" -c "$EX" -o cookie_name=my-sid routes nginx
refuse "a socket path needing quotes is refused" "quoted" -o 'listen=unix:/run/my dir/%t.sock' routes apache
refuse "an unknown front-end is refused" "unknown front-end" routes caddy
refuse "--port is checked" "expected a number" routes haproxy --port 70000
t_done
