#!/bin/bash
# t_install.sh: `make install DESTDIR=...` puts everything in place for the
# configured prefix: library, headers, sticky.pc, stickyd and stickyctl,
# every man page, the sample configuration and examples, the systemd unit
# (paths rewritten to the prefix), its sysusers.d file, the logrotate
# snippet.  An application compiles against the installed sticky.pc, runs
# against the installed library and answers a request; a module built the
# same way passes the installed stickyd's -n check.  The docs are checked
# too: every man page is mandoc -Tlint clean, every public name of
# sticky.h has a man page, and stickyd.conf(5) lists exactly the keys of
# `stickyctl conf` with their defaults.  `make uninstall` removes it all.
#
# Limits: installs under $T only; builds nothing but the two small apps;
# runs the installed app on a unix socket under $T, without Redis.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
D=$T/root
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" "$@"; }

# The directories this build was configured with.
printf 'h7dirs:\n\t@echo "$(prefix)|$(sbindir)|$(libdir)|$(includedir)|$(mandir)|$(sysconfdir)|$(docdir)|$(pkglibdir)"\n' >"$T/dirs.mk"
IFS='|' read -r PREFIX SBINDIR LIBDIR INCLUDEDIR MANDIR SYSCONFDIR DOCDIR PKGLIBDIR \
	< <(mk -f Makefile -f "$T/dirs.mk" h7dirs)
t_log "prefix=$PREFIX sbindir=$SBINDIR libdir=$LIBDIR sysconfdir=$SYSCONFDIR"
mk install DESTDIR="$D" >"$T/install.log" 2>&1
check "make install DESTDIR=... succeeds" [ $? = 0 ] || tail -20 "$T/install.log" >&2

have() { check "installed: ${1#"$D"}" [ -e "$1" ]; }
have "$D$SBINDIR/stickyd"
have "$D$SBINDIR/stickyctl"
have "$D$LIBDIR/libsticky.so"
have "$D$INCLUDEDIR/sticky/sticky.h"
have "$D$INCLUDEDIR/sticky/version.h"
have "$D$LIBDIR/pkgconfig/sticky.pc"
MANS="man3/sticky.3 man3/sticky_config.3 man3/sticky_req.3 man3/sticky_session.3 man5/stickyd.conf.5 man8/stickyd.8 man8/stickyctl.8"
for m in $MANS; do have "$D$MANDIR/$m"; done
have "$D$SYSCONFDIR/sticky/stickyd.conf"
have "$D$DOCDIR/examples/stickyd.conf.example"
for f in apache/sticky.conf lighttpd/sticky.conf nginx/sticky.conf haproxy/sticky.cfg; do
	have "$D$DOCDIR/examples/$f"
done
have "$D$DOCDIR/operations.md"
UNIT=$(find "$D" -path '*/systemd/system/stickyd.service' | head -1)
check "installed: the systemd unit (${UNIT#"$D"})" [ -n "$UNIT" ]
check "installed: sysusers.d/sticky.conf" [ -n "$(find "$D" -path '*/sysusers.d/sticky.conf')" ]
have "$D$SYSCONFDIR/logrotate.d/sticky"
check "the binaries are executable" eval '[ -x "$D$SBINDIR/stickyd" ] && [ -x "$D$SBINDIR/stickyctl" ]'
check "the installed binaries are ELF files, not libtool wrappers" \
	eval '[ "$(head -c4 "$D$SBINDIR/stickyd" | tail -c3)" = ELF ] && [ "$(head -c4 "$D$SBINDIR/stickyctl" | tail -c3)" = ELF ]'
check "the installed sample config is the documented one" \
	cmp -s "$top_srcdir/conf/stickyd.conf.example" "$D$SYSCONFDIR/sticky/stickyd.conf"

# The unit names this prefix's paths and reloads with SIGHUP.
[ -n "$UNIT" ] || UNIT=/dev/null
check "unit: ExecStart runs $SBINDIR/stickyd with $SYSCONFDIR/sticky/stickyd.conf" \
	grep -qx "ExecStart=$SBINDIR/stickyd -m \${STICKYD_MODULE} -c $SYSCONFDIR/sticky/stickyd.conf \$STICKYD_OPTS" "$UNIT"
check "unit: ExecReload sends SIGHUP to the master" grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$UNIT"
check "unit: hardened (NoNewPrivileges, ProtectSystem=strict, empty capability set)" \
	bash -c "grep -qx NoNewPrivileges=yes '$UNIT' && grep -qx ProtectSystem=strict '$UNIT' && grep -qx CapabilityBoundingSet= '$UNIT'"
if command -v systemd-analyze >/dev/null 2>&1; then
	sed "s|$SBINDIR/stickyd|$D$SBINDIR/stickyd|g" "$UNIT" >"$T/stickyd.service"
	systemd-analyze verify --man=no "$T/stickyd.service" >"$T/verify.out" 2>&1
	check "systemd-analyze verify accepts the unit" [ $? = 0 ] || cat "$T/verify.out" >&2
	exposure=$(systemd-analyze security --offline=yes "$T/stickyd.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for stickyd.service: \([0-9.]*\).*/\1/p')
	check "systemd-analyze security: exposure ${exposure:-?} below 2.0" \
		python3 -c 'import sys; sys.exit(not float(sys.argv[1] or 99) < 2.0)' "${exposure:-}"
else
	t_log "systemd-analyze not installed: unit not verified"
fi
check "logrotate: rotates /var/log/sticky and signals USR1 to the master only" \
	bash -c "grep -q '^/var/log/sticky/\*.log {' '$D$SYSCONFDIR/logrotate.d/sticky' && grep -q 'kill-who=main --signal=USR1 stickyd.service' '$D$SYSCONFDIR/logrotate.d/sticky'"

# An application built against the installed library, through sticky.pc.
export PKG_CONFIG_SYSROOT_DIR="$D" PKG_CONFIG_LIBDIR="$D$LIBDIR/pkgconfig" PKG_CONFIG_PATH=
CFLAGS_PC=$(pkg-config --cflags sticky)
LIBS_PC=$(pkg-config --libs sticky)
# A sanitizer build installs an instrumented library: the app needs the
# same runtime (the flags configure chose, from the build's Makefile).
SAN=$(sed -n 's/^SAN_CFLAGS = //p' "$top_builddir/Makefile")
check "pkg-config finds sticky $(pkg-config --modversion sticky 2>/dev/null)" \
	eval '[ -n "$LIBS_PC" ] && grep -q -- "-I$D$INCLUDEDIR" <<<"$CFLAGS_PC"'
cc -std=c11 -Wall -Werror $SAN -DSTICKY_STANDALONE $CFLAGS_PC -o "$T/counter" \
	"$top_srcdir/contrib/examples/counter/counter.c" $LIBS_PC 2>"$T/cc.err"
check "an application compiles and links against the installed sticky.pc" [ $? = 0 ] || cat "$T/cc.err" >&2
cc -std=c11 -Wall -Werror $SAN -fPIC -shared $CFLAGS_PC -o "$T/counter.so" \
	"$top_srcdir/contrib/examples/counter/counter.c" $LIBS_PC 2>"$T/cc2.err"
check "a module for stickyd compiles the same way" [ $? = 0 ] || cat "$T/cc2.err" >&2
export LD_LIBRARY_PATH="$D$LIBDIR"
check "it runs against the installed library" bash -c "'$T/counter' -V | grep -q '^sticky '"
check "the installed stickyd loads the module and checks a config" \
	bash -c "'$D$SBINDIR/stickyd' -m '$T/counter.so' -c '$D$SYSCONFDIR/sticky/stickyd.conf' -n | grep -qx 'configuration ok'"
"$T/counter" -w 1 -l "unix:$T/i%t.sock" -o socket_mode=0666 >"$T/app.log" 2>&1 &
APP=$!
t_track $APP
wait_for "$T/iw0.sock" 100
"$FCGI_REQ" -t 3000 "unix:$T/iw0.sock" / >"$T/app.out" 2>&1
check "and answers a request (count=1)" grep -q '^count=1 worker=w0' "$T/app.out"
kill -TERM $APP; wait $APP; t_untrack $APP
unset LD_LIBRARY_PATH PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR PKG_CONFIG_PATH

# The docs: lint, public names, config keys.
lint=0
for m in $MANS; do
	mandoc -Tlint -Wwarning "$D$MANDIR/$m" >>"$T/lint.out" 2>&1 || lint=1
done
check "every installed man page is mandoc -Tlint -Wwarning clean" [ $lint = 0 ] || cat "$T/lint.out" >&2
missing=""
for n in $(sed -n 's/^STICKY_API [^(]*[ *]\(sticky_[a-z_]*\)(.*/\1/p; s/^#define \(STICKY_[A-Z_]*\).*/\1/p' \
	"$top_srcdir/include/sticky/sticky.h" "$top_srcdir/include/sticky/version.h.in" |
	grep -vx 'STICKY_STICKY_H\|STICKY_VERSION_H'); do
	cat "$D$MANDIR"/man3/*.3 | grep -qE "^\.[A-Z][a-z] .*\b$n\b" || missing="$missing $n"
done
check "every public name of sticky.h is in a man page${missing:+ (missing:$missing)}" [ -z "$missing" ]
sed -n 's/^STICKY_API [^(]*[ *]\(sticky_[a-z_]*\)(.*/\1/p' "$top_srcdir/include/sticky/sticky.h" | sort -u >"$T/api"
cat "$D$MANDIR"/man3/*.3 | sed -n 's/^\.Nm \(sticky_[a-z_]*\).*/\1/p' | sort -u >"$T/names"
check "every API function is in a NAME section, and nothing else is ($(wc -l <"$T/api") functions)" \
	diff -u "$T/api" "$T/names"
"$top_builddir/src/cli/stickyctl" conf >"$T/conf"
python3 - "$T/conf" "$D$MANDIR/man5/stickyd.conf.5" >"$T/keys.out" <<'PY'
import re, sys
conf = open(sys.argv[1]).read()
keys = dict(re.findall(r'^#([a-z_]+) = "?(.*?)"?$', conf, re.M))
man = open(sys.argv[2]).read().split('\n')
doc, cur = {}, None
for line in man:
    m = re.match(r'^\.It Ic ([a-z_]+)\b', line)
    if m:
        cur = m.group(1); doc[cur] = None; continue
    if cur and doc[cur] is None:
        if line == 'Default: empty.':
            doc[cur] = ''
        elif line.startswith('.Ql ') and prev == 'Default:':
            doc[cur] = re.sub(r'\\&', '', line[4:]).rsplit(' ', 1)[0]
    prev = line
bad = []
for k, v in keys.items():
    if k not in doc: bad.append('missing in stickyd.conf(5): ' + k)
    elif doc[k] != v: bad.append('%s: default %r in stickyd.conf(5), %r in the table' % (k, doc[k], v))
for k in doc:
    if k not in keys: bad.append('in stickyd.conf(5) but not a key: ' + k)
print('\n'.join(bad) if bad else 'ok %d keys' % len(keys))
sys.exit(1 if bad or len(keys) < 40 else 0)
PY
rc=$?
check "stickyd.conf(5) lists every key of stickyctl conf with its default ($(head -1 "$T/keys.out"))" [ $rc = 0 ] ||
	cat "$T/keys.out" >&2

mk uninstall DESTDIR="$D" >"$T/uninstall.log" 2>&1
left=$(find "$D" -type f -o -type l | head -5)
check "make uninstall removes every file${left:+ (left: $left)}" [ -z "$left" ]
t_done
