#!/usr/bin/env bash
# Profiles CampusPKI's three hot paths with the release servers and prints where the time goes
# (docs/PERFORMANCE.md, "Where the time goes"):
#
#   scripts/profile-hot-paths.sh [--tool callgrind|perf] [--out DIR] [--handshakes N] [--issue-requests N]
#                                [--messages N] [--servers DIR]
#   scripts/profile-hot-paths.sh --from DIR [--handshakes N] [--issue-requests N] [--messages N]
#
# It runs `campus-bench --only issuing,handshake,upload --upload-sizes 64 --profile TOOL`, which profiles the
# server under test during each measured section only: CUHK issuing N certificates over the enrollment channel
# (default 200), Blackboard making N handshakes (default 200) and Blackboard taking N messages of 64 bytes in one
# session (default 5120). Then scripts/profile-summary.py prints, for each section, the cost by group and the
# largest functions, also per operation. The profiles stay in DIR (default ./campus-bench-profiles). --servers DIR
# profiles the cuhk and blackboard in DIR (another build, for a before and after) instead of this package's.
#
# callgrind (the default) counts instructions in user space: repeatable whatever else the machine runs, but blind
# to the kernel; the servers run about 50 times slower, so a run takes several minutes. perf samples CPU time
# (cpu-clock), kernel included, at full speed. Needs valgrind (apt-get install valgrind) or perf
# (apt-get install linux-perf), and python3.
set -euo pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
    echo "profile-hot-paths: $*" >&2
    exit 2
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
package="$(cd "$here/.." && pwd)"
tool=callgrind
out=""
from=""
handshakes=200
certificates=200
messages=5120
servers=()

while (($#)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --tool) (($# >= 2)) || die "--tool needs callgrind or perf"; tool="$2"; shift 2 ;;
        --out) (($# >= 2)) || die "--out needs a directory"; out="$2"; shift 2 ;;
        --from) (($# >= 2)) || die "--from needs a directory"; from="$2"; shift 2 ;;
        --handshakes) (($# >= 2)) || die "--handshakes needs a number"; handshakes="$2"; shift 2 ;;
        --issue-requests) (($# >= 2)) || die "--issue-requests needs a number"; certificates="$2"; shift 2 ;;
        --messages) (($# >= 2)) || die "--messages needs a number"; messages="$2"; shift 2 ;;
        --servers) (($# >= 2)) || die "--servers needs a directory"; servers=(--servers "$2"); shift 2 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ "$tool" == callgrind || "$tool" == perf ]] || die "--tool is callgrind or perf, not '$tool'"
command -v python3 >/dev/null || die "python3 is required (apt-get install python3)"

summarize() {
    local directory="$1" section count file
    for section in issuing:$certificates handshake:$handshakes upload-64:$messages; do
        count="${section#*:}"
        section="${section%%:*}"
        for file in "$directory/$section.callgrind" "$directory/$section.perf.data"; do
            if [[ -f "$file" ]]; then python3 "$here/profile-summary.py" --per "$count" "$file"; fi
        done
    done
}

if [[ -n "$from" ]]; then
    summarize "$from"
    exit 0
fi

if [[ "$tool" == callgrind ]]; then
    command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
        die "valgrind is missing: apt-get install valgrind"
else
    command -v perf >/dev/null || die "perf is missing: apt-get install linux-perf"
fi
[[ -n "$out" ]] || out="$package/campus-bench-profiles"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

echo "building the release campus-bench…" >&2
(cd "$package" && swift build -c release --product campus-bench >"$out/build.log" 2>&1) || {
    tail -n 30 "$out/build.log" >&2
    die "building campus-bench (release) failed"
}
bin="$(cd "$package" && swift build -c release --show-bin-path 2>/dev/null | tail -n 1)"
# One 64-byte message per 64 bytes of --upload-mib.
upload_mib="$(python3 -c "print($messages * 64 / 1048576)")"
echo "profiling with $tool into $out ($certificates certificates, $handshakes handshakes, $messages messages)…" >&2
(cd "$package" && "$bin/campus-bench" --only issuing,handshake,upload --upload-sizes 64 \
    --issue-requests "$certificates" --handshakes "$handshakes" --upload-mib "$upload_mib" \
    --profile "$tool" --profile-directory "$out" "${servers[@]}") | tee "$out/campus-bench.txt"
if ((${#servers[@]})); then
    echo "measured: the servers in ${servers[1]}" | tee "$out/commit.txt"
else
    git -C "$package" log -1 --format='measured: %h %s' 2>/dev/null | cut -c1-100 | tee "$out/commit.txt"
fi
echo
summarize "$out"
