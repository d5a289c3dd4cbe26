#!/usr/bin/env bash
# Compares `campus-bench` of a baseline revision with the current checkout, on this machine, in alternating runs.
#
#   scripts/bench-versions.sh [REVISION | --baseline-dir DIR] [--rounds N] [--out DIR] [--current-dir DIR]
#                             [--keep-worktree] [campus-bench arguments, e.g. --quick]
#   scripts/bench-versions.sh --from DIR      # print the comparison of runs saved earlier in DIR
#
# REVISION is built (release) in a temporary git worktree, removed at the end unless --keep-worktree; the default
# is the parent of the first commit whose message starts with "Session version 2" (the last version-1 revision).
# --baseline-dir DIR uses an already built checkout instead (for example a worktree kept from an earlier run).
# The current checkout (the one holding this script, or --current-dir DIR) is built too, then the two benchmarks
# run alternately, baseline first, N rounds (default 2), so that both see the same load. Other arguments go to
# both benchmarks (`--quick`, `--handshakes 500`, ...; `--json` is always added). Each run's JSON is saved in the
# output directory as baseline-R.json and current-R.json (stderr beside it as .log).
#
# For each round the script prints the key figures of both runs, the ratio current / baseline, and whether
# handshakes per second and 64 KiB content throughput are at least 0.8 of the baseline's (docs/PERFORMANCE.md).
# Exit status: 0 when every checked ratio is ≥ 0.8, 1 when one is not, 2 on a usage or build error.
set -euo pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
    echo "bench-versions: $*" >&2
    exit 2
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
current_dir="$(git -C "$here" rev-parse --show-toplevel)"
revision=""
baseline_dir=""
rounds=2
out=""
from=""
keep=0
passthrough=()
# campus-bench's options that take a value (so the value is not taken for REVISION).
value_options=" --issue-requests --concurrency --handshakes --upload-mib --end-to-end-runs --idle-sessions "

while (($#)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --baseline-dir) (($# >= 2)) || die "--baseline-dir needs a directory"; baseline_dir="$2"; shift 2 ;;
        --current-dir) (($# >= 2)) || die "--current-dir needs a directory"; current_dir="$2"; shift 2 ;;
        --rounds) (($# >= 2)) || die "--rounds needs a number"; rounds="$2"; shift 2 ;;
        --out) (($# >= 2)) || die "--out needs a directory"; out="$2"; shift 2 ;;
        --from) (($# >= 2)) || die "--from needs a directory"; from="$2"; shift 2 ;;
        --keep-worktree) keep=1; shift ;;
        --json) shift ;; # always passed
        --) shift; passthrough+=("$@"); break ;;
        --*=*) passthrough+=("$1"); shift ;;
        -*)
            passthrough+=("$1")
            if [[ "$value_options" == *" $1 "* ]]; then
                (($# >= 2)) || die "$1 needs a value"
                passthrough+=("$2")
                shift
            fi
            shift
            ;;
        *)
            [[ -z "$revision" ]] || die "one revision only (got '$revision' and '$1')"
            revision="$1"
            shift
            ;;
    esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds needs a positive number, got '$rounds'"
[[ -z "$revision" || -z "$baseline_dir" ]] || die "give a revision or --baseline-dir, not both"
command -v python3 >/dev/null || die "python3 is required"

# Prints the comparison of baseline-R.json and current-R.json in directory $1; exit status 1 if a check fails.
compare() {
    python3 - "$1" <<'PYTHON'
import glob, json, math, os, re, sys

directory = sys.argv[1]

def unescape(text):
    # campus-bench prints through CampusPKI's ControlCharacters: a backslash is doubled and control characters
    # become \n, \r, \t or \u{HEX}. Old versions printed the whole JSON as one such line.
    table = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
    def one(match):
        body = match.group(1)
        if body.startswith("u{"):
            return chr(int(body[2:-1], 16))
        return table[body]
    return re.sub(r"\\(\\|n|r|t|u\{[0-9A-Fa-f]+\})", one, text)

def load(path):
    text = open(path, encoding="utf-8").read()
    try:
        document = json.loads(text)
    except ValueError:
        document = json.loads(unescape(text))
    figures = {}
    for figure in document["figures"]:
        name = figure["name"].replace("\\/", "/")
        value = figure["value"]
        figures[(figure["group"], name)] = float(value) if not isinstance(value, str) else float("nan")
    return document.get("machine", {}), figures

def find(figures, group, prefix):
    for (g, name), value in figures.items():
        if g == group and name.startswith(prefix):
            return value
    return None

# (label, group, name prefix, checked against 0.8)
KEY = [
    ("handshakes/s", "handshake", "handshakes/s", True),
    ("handshake latency p50 (ms)", "handshake", "latency p50", False),
    ("handshake latency p99 (ms)", "handshake", "latency p99", False),
    ("Blackboard CPU per handshake (µs)", "handshake", "Blackboard CPU per handshake", False),
    ("crypto floor, version 1 (µs)", "handshake", "crypto floor, version 1", False),
    ("crypto floor, version 2 (µs)", "handshake", "crypto floor, version 2", False),
    ("64 B content throughput (MB/s)", "upload", "64 B content throughput", False),
    ("4 KiB content throughput (MB/s)", "upload", "4 KiB content throughput", False),
    ("64 KiB content throughput (MB/s)", "upload", "64 KiB content throughput", True),
    ("1 MiB content throughput (MB/s)", "upload", "1 MiB content throughput", False),
    ("end to end without key gen. p50 (ms)", "end to end", "without key generation p50", False),
    ("memory per idle session (KiB)", "memory", "per idle session", False),
    ("certificates/s (issuing)", "issuing", "certificates/s", False),
]

def fmt(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"

rounds = sorted(
    int(re.match(r"baseline-(\d+)\.json$", os.path.basename(p)).group(1))
    for p in glob.glob(os.path.join(directory, "baseline-*.json"))
    if re.match(r"baseline-(\d+)\.json$", os.path.basename(p))
)
rounds = [r for r in rounds if os.path.exists(os.path.join(directory, f"current-{r}.json"))]
if not rounds:
    sys.exit(f"bench-versions: no pair of baseline-R.json and current-R.json in {directory}")

failed = False
summary = []
for r in rounds:
    base_machine, base = load(os.path.join(directory, f"baseline-{r}.json"))
    cur_machine, cur = load(os.path.join(directory, f"current-{r}.json"))
    print(f"round {r}: baseline run {base_machine.get('date', '?')}, current run {cur_machine.get('date', '?')} "
          f"({cur_machine.get('mode', '?')}, {cur_machine.get('cpu', '?')}, {cur_machine.get('cores', '?')} cores)")
    print(f"  {'figure':38} {'baseline':>10} {'current':>10} {'ratio':>7}  check")
    checks = []
    for label, group, prefix, checked in KEY:
        b, c = find(base, group, prefix), find(cur, group, prefix)
        if b is None and c is None:
            continue
        ratio = c / b if b and c is not None and not math.isnan(b) and not math.isnan(c) else None
        check = ""
        if checked:
            ok = ratio is not None and ratio >= 0.8
            failed |= not ok
            check = "≥ 0.8 yes" if ok else "≥ 0.8 NO"
            checks.append(f"{label} {fmt(ratio)} {'ok' if ok else 'FAILS'}")
        print(f"  {label:38} {fmt(b):>10} {fmt(c):>10} {fmt(ratio) if ratio is not None else '—':>7}  {check}")
    summary.append(f"round {r}: " + "; ".join(checks))
    print()
print("\n".join(summary))
print("requirement (each checked ratio ≥ 0.8): " + ("NOT met" if failed else "met") + f" in {len(rounds)} round(s)")
sys.exit(1 if failed else 0)
PYTHON
}

if [[ -n "$from" ]]; then
    compare "$from"
    exit $?
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/bench-versions.XXXXXX")"
[[ -n "$out" ]] || out="$work/runs"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
worktree=""
cleanup() {
    if [[ -n "$worktree" && "$keep" == 0 ]]; then
        git -C "$current_dir" worktree remove --force "$worktree" >/dev/null 2>&1 || true
    fi
    # The runs stay when they were written inside the temporary directory.
    if [[ "$out" != "$work"* ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT

describe() {
    local dir="$1" head dirty=""
    head="$(git -C "$dir" log -1 --format='%h %s' 2>/dev/null | cut -c1-80)" || head="(not a git checkout)"
    if [[ -n "$(git -C "$dir" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
        dirty=" + uncommitted changes"
    fi
    echo "$dir: $head$dirty"
}

build() {
    local dir="$1" product
    echo "building release products in $dir…" >&2
    for product in campus-bench cuhk blackboard; do
        (cd "$dir" && swift build -c release --product "$product" >"$work/build.log" 2>&1) || {
            tail -n 30 "$work/build.log" >&2
            die "building $product (release) in $dir failed"
        }
    done
    (cd "$dir" && swift build -c release --show-bin-path 2>/dev/null | tail -n 1)
}

if [[ -z "$baseline_dir" ]]; then
    if [[ -z "$revision" ]]; then
        first="$(git -C "$current_dir" log --reverse --format='%H%x09%s' HEAD |
            awk -F'\t' 'index($2, "Session version 2") == 1 && !found { print $1; found = 1 }')"
        [[ -n "$first" ]] || die "no commit starts with \"Session version 2\"; give a revision"
        revision="$first^"
    fi
    commit="$(git -C "$current_dir" rev-parse --verify --quiet "$revision^{commit}")" ||
        die "unknown revision '$revision'"
    worktree="$work/baseline"
    git -C "$current_dir" worktree add --detach "$worktree" "$commit" >/dev/null 2>&1 ||
        die "cannot create a worktree of $revision"
    baseline_dir="$worktree"
    ((keep == 0)) || echo "the baseline worktree stays in $worktree (reuse it with --baseline-dir)" >&2
fi
[[ -f "$baseline_dir/Package.swift" ]] || die "$baseline_dir has no Package.swift"
[[ -f "$current_dir/Package.swift" ]] || die "$current_dir has no Package.swift"
baseline_dir="$(cd "$baseline_dir" && pwd)"
current_dir="$(cd "$current_dir" && pwd)"
[[ "$baseline_dir" != "$current_dir" ]] || die "the baseline and the current checkout are the same directory"

echo "baseline: $(describe "$baseline_dir")"
echo "current:  $(describe "$current_dir")"
baseline_bin="$(build "$baseline_dir")"
current_bin="$(build "$current_dir")"
[[ -x "$baseline_bin/campus-bench" ]] || die "no campus-bench in $baseline_bin"
[[ -x "$current_bin/campus-bench" ]] || die "no campus-bench in $current_bin"
echo "campus-bench arguments: --json ${passthrough[*]:-}"
echo "runs saved in $out"
echo

run() {
    local side="$1" dir="$2" bin="$3" round="$4" started
    started=$SECONDS
    echo "round $round: $side…" >&2
    (cd "$dir" && "$bin/campus-bench" --json "${passthrough[@]}") \
        >"$out/$side-$round.json" 2>"$out/$side-$round.log" || {
        tail -n 20 "$out/$side-$round.log" >&2
        die "campus-bench ($side, round $round) failed"
    }
    echo "round $round: $side done in $((SECONDS - started)) s" >&2
}

for ((round = 1; round <= rounds; round++)); do
    run baseline "$baseline_dir" "$baseline_bin" "$round"
    run current "$current_dir" "$current_bin" "$round"
done
echo
compare "$out"
