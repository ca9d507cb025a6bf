#!/usr/bin/env bash
# make fuzz: builds warden-fuzz with libFuzzer and AddressSanitizer and runs every target
# for FUZZ_SECONDS each (default 60; CI uses 30), starting from fuzz/corpus/<target>.
# New inputs the fuzzer finds go to .cache/fuzz (not committed). A crash stops the run
# with the input saved; copy it into fuzz/corpus/<target>/ and `make test` replays it from
# then on (Tests/FuzzCorpusTests).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-"image wiegand policy pinmap identifiers osdp peer"}
WORK=.cache/fuzz
SWIFT=${SWIFT:-swift}
echo "fuzz: building warden-fuzz (libFuzzer + ASan)"
WARDEN_FUZZ_C=1 $SWIFT build --scratch-path .build-fuzz --product warden-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING 2>&1 | grep -E "error|warning: unre|Compiling warden_fuzz|Build complete" || true
BIN=$(ls .build-fuzz/*/debug/warden-fuzz 2>/dev/null | head -1)
[ -x "$BIN" ] || { echo "fuzz: build failed" >&2; exit 1; }
failed=0
for t in $TARGETS; do
    mkdir -p "$WORK/corpus/$t" "$WORK/crashes"
    echo "fuzz: $t for ${SECONDS_EACH}s"
    if ! WARDEN_FUZZ_TARGET=$t "$BIN" "$WORK/corpus/$t" "fuzz/corpus/$t" -max_total_time="$SECONDS_EACH" -timeout=10 \
            -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$WORK/crashes/$t-" >"$WORK/$t.log" 2>&1; then
        echo "fuzz: $t FAILED; the input and report:" >&2
        grep -E "ERROR|SUMMARY|Test unit written|Fatal error|precondition" "$WORK/$t.log" | head -20 >&2
        echo "fuzz: add the input to fuzz/corpus/$t/ (as crash-NAME) so make test replays it, then fix the cause." >&2
        failed=1
    else
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$WORK/$t.log" | tr '\n' ' '; echo
    fi
done
exit $failed
