#!/bin/sh
# run-all.sh: set everything up and run the whole test suite, the way CI
# does (.ci/run calls this).  On a fresh Debian 12 machine:
#
#   ./tests/run-all.sh
#
# 1. installs the Debian packages it needs (contrib/setup-debian.sh);
# 2. builds in build/ and runs `make check`: Criterion unit tests and the
#    integration scenarios against real redis-server, lighttpd, apache2,
#    nginx and haproxy processes on 127.0.0.1 and unix sockets;
#    then `make distcheck-quick`: the release tarball builds, installs and
#    passes its unit tests and a daemon test from a read-only source tree;
# 3. builds again with AddressSanitizer + UBSan in build-asan/ and runs
#    the suite there too;
# 4. runs the unit suite under valgrind (make check-valgrind);
# 5. runs every fuzz target (libFuzzer, clang) for FUZZ_SECONDS (5) each;
# and prints one closing line: "N passed, N failed".
#
# Environment: QUICK=1 skips steps 3 to 5; JOBS sets make -j.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-2}
cd "$top" || exit 2

sh contrib/setup-debian.sh || { echo "setup failed"; exit 2; }
[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] ||
	autoreconf -fi >/dev/null 2>&1 || { echo "autoreconf failed"; exit 2; }

passed=0
failed=0
summary=""

# count OUT: add up what the tests printed in OUT: Criterion's
# "Synthesis: Tested: N | Passing: P | Failing: F | Crashing: C" and the
# integration scripts' "N passed, N failed".  A test program that failed
# without saying so (a crash) still counts: failures are at least the
# number of FAIL lines.
count() {
	set -- $(awk '
		/Synthesis: Tested/ {
			for (i = 1; i <= NF; i++) {
				if ($i == "Passing:") p += $(i + 1)
				if ($i == "Failing:" || $i == "Crashing:") f += $(i + 1)
			}
		}
		/^[0-9]+ passed, [0-9]+ failed/ { p += $1; f += $3 }
		/^(FAIL|ERROR|XPASS): / { fl++ }
		END { if (fl > f) f = fl; print p + 0, f + 0 }' "$1")
	passed=$((passed + $1))
	failed=$((failed + $2))
	summary="$summary\n$name: $1 passed, $2 failed"
}

# suite NAME BUILDDIR CONFIGURE-FLAGS MAKE-TARGET
suite() {
	name=$1 dir=$2 flags=$3 target=$4
	echo "== $name: build in $dir"
	mkdir -p "$dir"
	# A build dir configured with other flags is configured again.
	(cd "$dir" && { { [ -f Makefile ] &&
		grep -qF -- "$flags" config.status 2>/dev/null; } ||
		"$top/configure" -q $flags; } &&
		make -s -j"$JOBS" >/dev/null) || {
		echo "FAIL: $name: build"; failed=$((failed + 1)); return; }
	echo "== $name: make $target"
	(cd "$dir" && make -j"$JOBS" "$target" 2>&1) | tee "$dir/check.out" |
		grep -aE '^(PASS|FAIL|ERROR|XPASS|SKIP|not ok|# )|Synthesis|\[FAIL\]|passed, [0-9]+ failed' || true
	if grep -q 'make.*\*\*\*' "$dir/check.out" &&
	    ! grep -qE '^(FAIL|ERROR): ' "$dir/check.out"; then
		echo "FAIL: $name: make $target failed (see $dir/check.out)"
		failed=$((failed + 1))
	fi
	count "$dir/check.out"
}

# step NAME OUT MAKE-ARGS...: one make run in build/, one pass or fail;
# its output goes to build/OUT (the tail is shown when it fails).
step() {
	name=$1 out=$2
	shift 2
	echo "== $name"
	if (cd "$top/build" && make -s "$@" > "$out" 2>&1); then
		grep -E '^(fuzz |Done )' "$top/build/$out" || true
		echo "PASS: $name"
		passed=$((passed + 1))
	else
		tail -40 "$top/build/$out"
		echo "FAIL: $name (see build/$out)"
		failed=$((failed + 1))
	fi
}

# The suite needs the test-only fault switch (see configure.ac).
suite "tests" "$top/build" "--enable-fault-injection" check
step "distcheck (from the tarball: build, unit tests, a daemon test, install, uninstall)" \
	distcheck.out distcheck-quick
if [ -z "${QUICK:-}" ]; then
	suite "tests under ASan+UBSan" "$top/build-asan" \
		"--enable-sanitizers --enable-fault-injection" check
	step "valgrind (unit suite, no leaks, no errors)" valgrind.out check-valgrind
	step "fuzz (every libFuzzer target for ${FUZZ_SECONDS:-5} s)" fuzz.out fuzz \
		FUZZ_SECONDS="${FUZZ_SECONDS:-5}"
fi
printf "$summary\n"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
