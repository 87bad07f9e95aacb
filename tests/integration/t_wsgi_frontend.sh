#!/bin/bash
# t_wsgi_frontend.sh: the Python examples behind real front-ends, each with
# the recipe `stickyctl routes` generates from the workers' settings (the
# same for sticky-wsgi as for any sticky app): the WSGI counter behind
# nginx (stickiness, new users spread), the Flask recommender behind
# lighttpd (its numpy model kept per user, a read-only request), the Django
# project behind nginx (its data set loaded once, in the master).
# Limits: 127.0.0.1 and unix sockets in $T only; ~10 s.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/procs.sh"
. "$top_srcdir/tests/integration/frontends.sh"
. "$top_srcdir/tests/lib/wsgi.sh"
wsgi_require
fe_setup
start_redis || { fail "redis"; t_done; exit 1; }

# jar_run JAR N PATH: N requests; sets BAD (requests whose count was not
# 1..N in order) and SEEN (workers that answered).
jar_run() {
	local jar=$1 n=$2 path=$3 i
	BAD=0 SEEN=""
	rm -f "$jar"
	for i in $(seq 1 "$n"); do
		fe_get "$jar" "$path"
		[ "$R_CODE" = 200 ] && [ "$R_COUNT" = "$i" ] || { BAD=$((BAD + 1)); t_log "request $i: $R_CODE $(head -c 200 "$T/fe.body")"; }
		case " $SEEN " in *" $R_WORKER "*) ;; *) SEEN="$SEEN $R_WORKER" ;; esac
	done
	SEEN=$(echo $SEEN)
}

if fe_available nginx; then
	start_wsgi counter:application -w "$STICKY_WORKERS" -r "unix:$REDIS_SOCK" ||
		{ fail "sticky-wsgi (counter)"; t_done; exit 1; }
	fe_start nginx || { fail "nginx did not start with the generated recipe"; t_done; exit 1; }
	ok "nginx runs the recipe stickyctl generated for sticky-wsgi"
	fe_sticky
	fe_spread
	stop_sticky

	start_wsgi djangoapp.wsgi:application -w "$STICKY_WORKERS" -r "unix:$REDIS_SOCK" ||
		{ fail "sticky-wsgi (django)"; t_done; exit 1; }
	jar_run "$T/dj.jar" 10 /lookup?w=w000003
	check "django behind nginx: 10 requests, counts 1..10 on one worker ($SEEN)" \
		eval '[ "$BAD" = 0 ] && [ "$(echo $SEEN | wc -w)" = 1 ]'
	check "django: the data set answers (value=23757 words=200000)" \
		grep -q "value=23757 words=200000 loaded_in=$STICKY_PID" "$T/fe.body"
	check "django: ... loaded once, in the master (pid $STICKY_PID), not per worker" \
		[ "$(grep -c 'event=python_app_loaded.*djangoapp' "$T/sticky.log")" = 1 ]
	stop_sticky
	fe_stop
else
	t_log "nginx is not installed: counter and django parts skipped"
fi

if fe_available lighttpd; then
	STICKY_MODEL_BYTES=131072 start_wsgi recommender:app --state-factory recommender:new_user \
		-w "$STICKY_WORKERS" -r "unix:$REDIS_SOCK" ||
		{ fail "sticky-wsgi (flask)"; t_done; exit 1; }
	fe_start lighttpd || { fail "lighttpd did not start with the generated recipe"; t_done; exit 1; }
	jar_run "$T/fl.jar" 10 "/view?item=7"
	check "flask behind lighttpd: 10 nudges, counts 1..10 on one worker ($SEEN)" \
		eval '[ "$BAD" = 0 ] && [ "$(echo $SEEN | wc -w)" = 1 ]'
	check "flask: the model is the configured 128 KiB ($(sed -n 's/.*bytes=//p' "$T/fe.body"))" \
		grep -q "bytes=131072" "$T/fe.body"
	fe_get "$T/fl.jar" /recommend
	check "flask: read-only /recommend sees count=10 and the user's taste (best item 7)" \
		grep -q "^count=10 worker=$SEEN best=7$" "$T/fe.body"
	fe_get "$T/fl.jar" /view?item=7
	check "flask: the next nudge is count=11 ($R_COUNT)" [ "$R_COUNT" = 11 ]
	stop_sticky
	fe_stop
else
	t_log "lighttpd is not installed: flask part skipped"
fi
t_done
