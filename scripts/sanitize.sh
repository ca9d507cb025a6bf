#!/usr/bin/env bash
# make sanitize: the whole test suite under AddressSanitizer, then ThreadSanitizer, each
# in its own build folder (.build-asan, .build-tsan). A report from either fails the run.
# SANITIZERS="thread" runs one. Logs in .cache/sanitize/.
set -uo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
mkdir -p .cache/sanitize
status=0
for s in ${SANITIZERS:-address thread}; do
    short=$([ "$s" = address ] && echo asan || echo tsan)
    log=.cache/sanitize/$short.log
    start=$(date +%s)
    echo "sanitize: $s: building"
    if ! $SWIFT build --build-tests --sanitize="$s" --scratch-path ".build-$short" >"$log" 2>&1; then
        grep -E "error:" "$log" | head -20; echo "sanitize: $s: build failed ($log)"; status=1; continue
    fi
    echo "sanitize: $s: testing"
    # halt_on_error: the first report fails the run with its stack, not a pile of them.
    ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        $SWIFT test --skip-build --sanitize="$s" --scratch-path ".build-$short" >>"$log" 2>&1
    rc=$?
    reports=$(grep -cE "^(WARNING|ERROR): (ThreadSanitizer|AddressSanitizer)" "$log")
    summary=$(grep -E "Test run with" "$log" | tail -1)
    echo "sanitize: $s: exit $rc, $reports report(s), $(( $(date +%s) - start ))s; $summary"
    if [ "$rc" -ne 0 ] || [ "$reports" -ne 0 ]; then
        grep -E -A12 "^(WARNING|ERROR): (ThreadSanitizer|AddressSanitizer)" "$log" | head -60
        grep -E "✘" "$log" | head -20
        status=1
    fi
done
exit $status
