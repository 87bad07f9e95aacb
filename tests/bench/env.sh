# env.sh: sourced by the bench scripts after they set `here` (their own
# directory): the source and build trees (top_srcdir, top_builddir: run from
# a build directory, or set them) and the process helpers (procs.sh).
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
if [ -z "${top_builddir:-}" ]; then
	if [ -x "$PWD/tests/tools/fcgi-load" ]; then top_builddir=$PWD; else top_builddir=$top_srcdir; fi
fi
export top_srcdir top_builddir
. "$top_srcdir/tests/lib/procs.sh"
