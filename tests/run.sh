#!/bin/bash
# tests/run.sh — the driver behind `make test`: every cmocka unit test binary under
# $BUILD/tests, then the bats integration suite; per-suite summaries and, as the last
# line, "N passed, N failed". Exits non-zero if anything failed.
#   BUILD=dir     build directory (default: build)
#   SANITIZE=1    the unit tests are ASan/UBSan builds; only they are run
#   RUNTIME=path  runtime for the integration tests (default: $BUILD/coop-runtime)
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export BUILD
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

passed=0 failed=0 skipped=0

# unit_one BIN: run one cmocka binary; add its counts to the totals. The summary lines
# are summed (one per group); a binary that dies before its summary, or exits non-zero
# with none failed (a sanitizer report at exit), counts one failure more.
unit_one() {
	local bin=$1 out=$log/$(basename "$1").out rc p f
	CMOCKA_MESSAGE_OUTPUT=stdout "$bin" >"$out" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s += $1} END {print s + 0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s += $1} END {print s + 0}')
	if ! grep -q '^\[  \(PASSED\|FAILED\)  \]' "$out"; then
		p=$(grep -c '^\[       OK \]' "$out")
		f=1
		echo "unit: $(basename "$bin") died (exit $rc) before its summary"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "unit: $(basename "$bin") exited $rc after passing (sanitizer report?)"
	fi
	[ "$f" -gt 0 ] && cat "$out"
	printf 'unit: %-32s %3d passed, %d failed\n' "$(basename "$bin")" "$p" "$f"
	unit_passed=$((unit_passed + p))
	unit_failed=$((unit_failed + f))
}

run_unit() {
	local bin n=0
	unit_passed=0 unit_failed=0
	for bin in "$BUILD"/tests/test_*; do
		[ -f "$bin" ] && [ -x "$bin" ] || continue
		n=$((n + 1))
		unit_one "$bin"
	done
	[ "$n" -eq 0 ] && echo "unit: no test binaries in $BUILD/tests"
	echo "== unit: $unit_passed passed, $unit_failed failed ($n binaries)"
	passed=$((passed + unit_passed))
	failed=$((failed + unit_failed))
}

# run_integration: bats --tap, shown as it runs; "ok ... # skip" is a skip.
run_integration() {
	local out=$log/bats.tap rc p f s
	if ! command -v bats >/dev/null; then
		echo "== integration: bats not installed"
		failed=$((failed + 1))
		return
	fi
	bats --tap tests/integration 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	s=$(grep -Eci '^ok [0-9]+ .*# skip' "$out")
	p=$(($(grep -Ec '^ok [0-9]+' "$out") - s))
	f=$(grep -Ec '^not ok [0-9]+' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "integration: bats exited $rc with no failed test (a file did not load?)"
		f=1
	fi
	echo "== integration: $p passed, $f failed, $s skipped"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}

run_unit
if [ "${SANITIZE:-}" = 1 ]; then
	echo "== integration: not run (SANITIZE=1 runs only the unit tests)"
else
	run_integration
fi
echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
