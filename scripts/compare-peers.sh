#!/usr/bin/env bash
# Runs campus-bench next to real peers doing the same work, on this machine, and prints each CampusPKI figure with
# the peer's (or the limit's) and their ratio, against the goals in docs/PERFORMANCE.md.
#
#   scripts/compare-peers.sh [--rounds N] [--out DIR] [campus-bench arguments, e.g. --quick]
#   scripts/compare-peers.sh --from DIR      # print the tables of runs saved earlier in DIR
#
# The peers: `cfssl serve` (Debian's golang-cfssl) issuing certificates with an RSA-2048 root, once as it comes
# and once storing what it signs in SQLite; a Go crypto/tls TLS 1.3 mutual-TLS server and client
# (Benchmarks/peers, standard library only, built here offline); `openssl s_server` with `openssl s_time`, TLS 1.3
# mutual TLS. Both TLS peers use the key types of session version 2: an ECDSA P-256 server certificate, an
# RSA-2048 client certificate, X25519, no session resumption. The script installs nothing: a missing peer is named
# with the package that brings it (apt-get install golang-go golang-cfssl openssl sqlite3), and its rows stay empty.
#
# It builds the release campus-bench once, then runs `campus-bench --peers --json --concurrency 4` N times
# (default 1), so that each peer runs in the same minute as the CampusPKI figure it is compared with: CUHK's
# issuing, then cfssl's; Blackboard's handshakes, then Go's and OpenSSL's. Each run's JSON is saved in the output
# directory as round-R.json (its stderr beside it as round-R.log). Other arguments go to campus-bench.
# Exit status: 0 when every run completed (whether each goal is met is in the table), 2 on a usage, build or run
# error.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
    echo "compare-peers: $*" >&2
    exit 2
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
package="$(cd "$here/.." && pwd)"
rounds=1
out=""
from=""
passthrough=()
concurrency_given=0

while (($#)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --rounds) (($# >= 2)) || die "--rounds needs a number"; rounds="$2"; shift 2 ;;
        --out) (($# >= 2)) || die "--out needs a directory"; out="$2"; shift 2 ;;
        --from) (($# >= 2)) || die "--from needs a directory"; from="$2"; shift 2 ;;
        --json | --peers) shift ;; # always passed
        --concurrency | --concurrency=*) concurrency_given=1; passthrough+=("$1"); shift ;;
        *) passthrough+=("$1"); shift ;;
    esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds needs a positive number, got '$rounds'"
command -v python3 >/dev/null || die "python3 is required (apt-get install python3)"
# The issue's figures are for 4 clients, whatever the number of cores.
((concurrency_given)) || passthrough+=(--concurrency 4)

# Prints the tables of round-R.json in directory $1.
report() {
    python3 - "$1" <<'PYTHON'
import glob, json, math, os, re, sys

directory = sys.argv[1]

def unescape(text):
    # campus-bench prints through CampusPKI's ControlCharacters: a backslash is doubled and control characters
    # become \n, \r, \t or \u{HEX}.
    table = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
    def one(match):
        body = match.group(1)
        return chr(int(body[2:-1], 16)) if body.startswith("u{") else table[body]
    return re.sub(r"\\(\\|n|r|t|u\{[0-9A-Fa-f]+\})", one, text)

def number(value):
    return float(value) if not isinstance(value, str) else float("nan")

def load(path):
    text = open(path, encoding="utf-8").read()
    try:
        document = json.loads(text)
    except ValueError:
        document = json.loads(unescape(text))
    figures = {f["key"]: f for f in document["figures"] if f.get("key")}
    return document.get("machine", {}), figures

# (figure, key of CampusPKI's figure, what it is compared with); the peer's or limit's value is the figure's limit.
ROWS = [
    ("Blackboard CPU per handshake, µs", "handshake.cpu", "v2 crypto floor"),
    ("  same, against Go crypto/tls", "handshake.vs-go", "Go TLS 1.3 mTLS server CPU"),
    ("  same, against OpenSSL", "handshake.vs-openssl", "openssl s_server CPU"),
    ("issuing, certificates/s", "issuing.rate", "signing limit"),
    ("  same, against cfssl", "issuing.vs-cfssl", "cfssl serve"),
    ("  same, against cfssl + SQLite", "issuing.vs-cfssl-sqlite", "cfssl serve, SQLite certdb"),
    ("  ceiling: CUHK at floor + clients", "issuing.ceiling", "signing limit"),
    ("clients' CPU per certificate, µs", "issuing.client-cpu", "—"),
    ("CUHK CPU per certificate, µs", "issuing.cpu", "one RSA-2048 signature"),
    ("  same, against the issuing floor", "issuing.cpu-floor", "issuing crypto floor"),
    ("  same, against cfssl", "issuing.cpu-vs-cfssl", "cfssl serve CPU"),
    ("64 KiB uploads, messages/s", "upload.65536.rate", "ChaCha20-Poly1305 limit"),
    ("4 KiB uploads, messages/s", "upload.4096.rate", "ChaCha20-Poly1305 limit"),
    ("64 B uploads, messages/s", "upload.64.rate", "ChaCha20-Poly1305 limit"),
    ("memory per idle session, KiB", "memory.per-session", "—"),
]

def fmt(value):
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return "—"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"

def met(figure):
    """Whether the figure meets its target: a bare number bounds the ratio, a number with a unit the value."""
    target = figure.get("target")
    match = re.match(r"([≤≥])\s*([0-9.]+)\s*(.*)$", target or "")
    if not match:
        return None
    sign, bound, unit = match.group(1), float(match.group(2)), match.group(3).strip()
    value = number(figure["value"]) if unit else number(figure["ratio"]) if figure.get("ratio") is not None else None
    if value is None or math.isnan(value):
        return None
    return value <= bound if sign == "≤" else value >= bound

def goal(figure):
    target = figure.get("target")
    if not target:
        return ""
    return target if re.search(r"[A-Za-z]", target) else target + "×"

paths = sorted(glob.glob(os.path.join(directory, "round-*.json")),
               key=lambda p: int(re.search(r"round-(\d+)\.json$", p).group(1)))
if not paths:
    sys.exit(f"compare-peers: no round-R.json in {directory}")
history = {}
for path in paths:
    round_number = int(re.search(r"round-(\d+)\.json$", path).group(1))
    machine, figures = load(path)
    print(f"round {round_number}: campus-bench {machine.get('mode', '?')} run, {machine.get('date', '?')}, "
          f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores")
    print(f"  {'figure':36} {'CampusPKI':>10}  {'compared with':30} {'value':>9} {'ratio':>8}  {'goal':9} met")
    for label, key, compared in ROWS:
        figure = figures.get(key)
        if figure is None:
            print(f"  {label:36} {'—':>10}  {compared:30} {'—':>9} {'—':>8}  {'':9} (not measured)")
            continue
        ratio = figure.get("ratio")
        ratio = number(ratio) if ratio is not None else None
        verdict = met(figure)
        shown = ratio if ratio is not None else number(figure["value"])
        history.setdefault(key, []).append((shown, verdict))
        print(f"  {label:36} {fmt(number(figure['value'])):>10}  {compared:30} {fmt(figure.get('limit') and number(figure['limit'])):>9} "
              f"{fmt(ratio):>8}  {goal(figure):9} {'' if verdict is None else 'yes' if verdict else 'no'}")
    print()
if len(paths) > 1:
    print("ratios (memory: KiB) over the rounds")
    for label, key, compared in ROWS:
        if key in history:
            ratios = ", ".join(fmt(r) for r, _ in history[key])
            verdicts = [v for _, v in history[key] if v is not None]
            summary = "" if not verdicts else "met in every round" if all(verdicts) else \
                "met in no round" if not any(verdicts) else f"met in {sum(verdicts)} of {len(verdicts)} rounds"
            print(f"  {label:36} {ratios:30} {summary}")
PYTHON
}

if [[ -n "$from" ]]; then
    report "$from"
    exit $?
fi

missing=()
command -v go >/dev/null || missing+=("go (golang-go): builds the Go peer, which also writes the certificates and drives cfssl; no peer runs without it")
command -v cfssl >/dev/null || missing+=("cfssl (golang-cfssl): the issuing peer")
command -v openssl >/dev/null || missing+=("openssl (openssl): the OpenSSL handshake peer")
command -v sqlite3 >/dev/null || missing+=("sqlite3 (sqlite3): cfssl's certificate database, for the cfssl + SQLite row")
if ((${#missing[@]})); then
    echo "compare-peers: missing peers (their rows stay empty):" >&2
    printf '  %s\n' "${missing[@]}" >&2
    echo "  install them with: apt-get install golang-go golang-cfssl openssl sqlite3" >&2
fi
command -v swift >/dev/null || die "swift is required to build campus-bench"

[[ -n "$out" ]] || out="$(mktemp -d "${TMPDIR:-/tmp}/compare-peers.XXXXXX")"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

echo "building the release campus-bench in $package (once; it builds cuhk and blackboard itself)…" >&2
(cd "$package" && swift build -c release --product campus-bench >"$out/build.log" 2>&1) || {
    tail -n 30 "$out/build.log" >&2
    die "building campus-bench (release) failed"
}
bin="$(cd "$package" && swift build -c release --show-bin-path 2>/dev/null | tail -n 1)"
[[ -x "$bin/campus-bench" ]] || die "no campus-bench in $bin"
servers=""
for ((i = 0; i < ${#passthrough[@]}; i++)); do
    [[ "${passthrough[i]}" == --servers ]] && servers="${passthrough[i + 1]:-}"
done
if [[ -n "$servers" ]]; then
    echo "the servers in $servers" >"$out/commit.txt"
else
    echo "$(git -C "$package" log -1 --format='%h %s' 2>/dev/null | cut -c1-80 || echo "$package")" >"$out/commit.txt"
fi
echo "campus-bench arguments: --peers --json ${passthrough[*]}" >&2
echo "runs saved in $out" >&2

for ((round = 1; round <= rounds; round++)); do
    started=$SECONDS
    echo "round $round… (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    (cd "$package" && "$bin/campus-bench" --peers --json "${passthrough[@]}") \
        >"$out/round-$round.json" 2>"$out/round-$round.log" || {
        tail -n 20 "$out/round-$round.log" >&2
        die "campus-bench (round $round) failed"
    }
    echo "round $round done in $((SECONDS - started)) s (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done
echo
echo "measured: $(cat "$out/commit.txt")"
report "$out"
