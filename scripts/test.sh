#!/usr/bin/env bash
# make test: the whole suite, as two test processes side by side.
#
# Why two: Swift's cooperative thread pool is as wide as the machine has cores (two here,
# and on CI), and a test that blocks (a CLI spawned and waited for, a broker's output read)
# holds one of those threads for as long as it runs. Two such tests at once stall every
# async task in the process: the fleet tests' in-process server and agents stopped
# answering for over 20 s and their requests timed out, in tests that had nothing wrong.
# The fleet module runs in a process of its own, whose pool only its own tests use (it
# took 251 s beside the rest, 74 s on its own).
#
# The test bundle is run directly: two `swift test` would take turns on the .build lock.
# Each process's lines are prefixed ([fleet] / [rest]); both logs are kept in .cache/test/.
# The run fails if either fails. For one test: `swift test --skip-build --filter X`.
set -uo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
bin=$($SWIFT build --show-bin-path ${TEST_ARGS:-})
bundle="$bin/WardenPackageTests.xctest"
[ -x "$bundle" ] || { echo "test: $bundle is not built (swift build --build-tests)"; exit 1; }
mkdir -p .cache/test
fleet_filter='^FleetTests\.'

run() {
    local name=$1; shift
    "$bundle" --testing-library swift-testing "$@" > ".cache/test/$name.log" 2>&1
    echo $? > ".cache/test/$name.rc"
}

start=$(date +%s)
rm -f .cache/test/*.log .cache/test/*.rc
touch .cache/test/fleet.log .cache/test/rest.log
tail -n +1 -F .cache/test/fleet.log 2>/dev/null | sed -u 's/^/[fleet] /' &
tail_fleet=$!
tail -n +1 -F .cache/test/rest.log 2>/dev/null | sed -u 's/^/[rest]  /' &
tail_rest=$!
run fleet --filter "$fleet_filter" &
fleet_pid=$!
run rest --skip "$fleet_filter" &
rest_pid=$!
wait "$fleet_pid" "$rest_pid"
sleep 0.5
kill "$tail_fleet" "$tail_rest" 2>/dev/null
wait 2>/dev/null

status=0
for name in fleet rest; do
    rc=$(cat ".cache/test/$name.rc" 2>/dev/null || echo 1)
    summary=$(grep -E "Test run with" ".cache/test/$name.log" | tail -1)
    echo "test: $name: exit $rc; ${summary:-no summary (see .cache/test/$name.log)}"
    if [ "$rc" -ne 0 ]; then
        grep -E "✘" ".cache/test/$name.log" | head -30
        status=1
    fi
done
echo "test: both processes done in $(( $(date +%s) - start ))s"
exit $status
