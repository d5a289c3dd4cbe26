#!/usr/bin/env bash
# Runs the test suite with busy processes beside it, as on a shared machine: every test must hold when the cores
# are not its own. Timing belongs to the benchmark (campus-bench); a test asserts that something happens, or that a
# timeout fires, with margins that survive this.
#
#   scripts/test-under-load.sh [--busy N] [swift test arguments…]
#
# --busy N starts N processes that spin on the CPU (default 2, one per core of the 2-core machines this runs on);
# they are stopped when the tests end, whatever the outcome. The tests' temporary directories (each test makes its
# own, and the servers the tests start write there too) go in one directory of this run (TMPDIR), removed when the
# tests end. The exit status is swift test's.
set -euo pipefail
cd "$(dirname "$0")/.."
busy=2
if [ "${1:-}" = "--busy" ]; then
    busy=${2:?--busy needs a number}
    shift 2
fi
pids=()
scratch=$(mktemp -d "${TMPDIR:-/tmp}/campuspki-tests.XXXXXX")
stop() {
    for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    rm -rf "$scratch"
}
trap stop EXIT INT TERM
for _ in $(seq 1 "$busy"); do
    # A shell loop: pure CPU, no I/O, no memory.
    bash -c 'while :; do :; done' &
    pids+=("$!")
done
echo "== swift test with $busy busy processes beside it (pids ${pids[*]:-none}), temporary files in $scratch"
status=0
TMPDIR="$scratch" swift test "$@" || status=$?
exit "$status"
