#!/bin/sh
# setup-debian.sh: install what sticky needs to build, test and demo on
# Debian 12.  Idempotent: installs only what is missing.
set -eu

PKGS="build-essential autoconf automake libtool pkg-config
libfcgi-dev libhiredis-dev libcriterion-dev
redis-server redis-tools lighttpd apache2 nginx haproxy
curl python3 valgrind mandoc wrk procps iproute2 clang
redis-sentinel python3-dev python3-flask python3-django python3-numpy
python3-redis uwsgi-core uwsgi-plugin-python3 gunicorn"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep packaged servers from starting on install: tests and the demo
# start their own, on loopback, in temp dirs.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
