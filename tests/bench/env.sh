# env.sh: sourced by the bench scripts after they set `here` (their own
# directory): the source and build trees (top_srcdir, top_builddir: run from
# a build directory, or set them) and the process helpers (procs.sh).
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
if [ -z "${top_builddir:-}" ]; then
	if [ -x "$PWD/tests/tools/fcgi-load" ]; then top_builddir=$PWD; else top_builddir=$top_srcdir; fi
fi
export top_srcdir top_builddir
. "$top_srcdir/tests/lib/procs.sh"

# bench_ready ADDRS [URI]: every address (comma- or space-separated, as
# fcgi-load takes them) answers a request, bounded (~6 s each).
bench_ready() {
	local a i
	for a in ${1//,/ }; do
		for i in $(seq 1 300); do
			"$FCGI_REQ" -t 1000 "$a" "${2:-/}" >/dev/null 2>&1 && break
			[ "$i" = 300 ] && return 1
			sleep 0.02
		done
	done
}
