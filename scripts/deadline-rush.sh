#!/usr/bin/env bash
# The deadline rush on three deployments, one after the other on this machine, and one table of the three
# (docs/PERFORMANCE.md, "The deadline rush"):
#
#   SQLite, 1 instance                       cuhk and blackboard as they run by default
#   PostgreSQL, 1 instance                   both on a throwaway PostgreSQL (a new database for the run)
#   PostgreSQL, 2 instances behind HAProxy   two of each on one new database, HAProxy in TCP mode in front
#
#   scripts/deadline-rush.sh [--students N] [--rush-messages M] [--only sqlite,postgres,cluster]
#
# Each run is `campus-bench --scenario deadline-rush` (release build): N students (default 500) enroll, then each
# uploads one report of M messages (default 5), all started at once. It exits 1 when a student of any run got no
# receipt. Needs Debian's postgresql and haproxy; as root, PostgreSQL runs as `nobody` (scripts/throwaway-postgres.sh).
# The servers, PostgreSQL and HAProxy are gone when it ends.
set -euo pipefail

students=500
messages=5
only=sqlite,postgres,cluster
while [ $# -gt 0 ]; do
    case "$1" in
    --students) students=$2; shift 2 ;;
    --rush-messages) messages=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deadline-rush: unknown argument $1" >&2; exit 64 ;;
    esac
done
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
case ",$only," in *,postgres,* | *,cluster,*) needs_postgres=1 ;; *) needs_postgres=0 ;; esac
case ",$only," in *,cluster,*) command -v haproxy >/dev/null || {
    echo "deadline-rush: haproxy is missing (apt-get install haproxy)" >&2; exit 2; } ;; esac

work=$(mktemp -d -t campus-rush.XXXXXX)
pg_dir=
cleanup() {
    local status=$?
    if [ -n "$pg_dir" ]; then
        bash scripts/throwaway-postgres.sh stop "$pg_dir" >/dev/null 2>&1 || true
        rm -rf "$pg_dir"
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

swift build -c release --product campus-bench >/dev/null
bench=$(swift build -c release --show-bin-path)/campus-bench

if [ "$needs_postgres" = 1 ]; then
    pg_dir=$(mktemp -d -t campus-rush-pg.XXXXXX)
    database_line=$(bash scripts/throwaway-postgres.sh start "$pg_dir")
    base=${database_line#*=}
    server=${base%/*}
    createdb=$(ls -d /usr/lib/postgresql/*/bin/createdb | sort -V | tail -n 1)
fi
# A new, empty database for each run: `cuhk init --database` makes the root in it.
new_database() {
    "$createdb" -h 127.0.0.1 -p "$(cat "$pg_dir/port")" -U campuspki "$1"
    echo "$server/$1"
}

run() {
    local name=$1
    shift
    echo "deadline-rush: $name" >&2
    "$bench" --scenario deadline-rush --students "$students" --rush-messages "$messages" --json "$@" >"$work/$name.json"
}
case ",$only," in *,sqlite,*) run sqlite ;; esac
case ",$only," in *,postgres,*) run postgres --database "$(new_database rush_one)" ;; esac
case ",$only," in *,cluster,*) run cluster --database "$(new_database rush_two)" --instances 2 ;; esac

python3 - "$work" <<'EOF'
import json, os, sys
work = sys.argv[1]
runs = [(name, json.load(open(os.path.join(work, name + ".json"))))
        for name in ("sqlite", "postgres", "cluster") if os.path.exists(os.path.join(work, name + ".json"))]
rows = [("rush.rate", "reports/s", "{:.0f}"), ("rush.p50", "time to receipt p50 (ms)", "{:.0f}"),
        ("rush.p99", "time to receipt p99 (ms)", "{:.0f}"), ("rush.failed", "students without a receipt", "{:.0f}"),
        ("rush.blackboard-cpu", "Blackboard CPU per report (µs)", "{:.0f}"),
        ("rush.cuhk-cpu", "CUHK CPU per report (µs)", "{:.0f}"), ("rush.busy", "machine busy (%)", "{:.0f}"),
        ("rush.share.students", "  students, this process (%)", "{:.0f}"),
        ("rush.share.blackboard", "  Blackboard (%)", "{:.0f}"), ("rush.share.cuhk", "  CUHK (%)", "{:.0f}"),
        ("rush.share.haproxy", "  HAProxy (%)", "{:.0f}"),
        ("rush.share.rest", "  the rest: PostgreSQL, the system (%)", "{:.0f}")]
first = runs[0][1]
print(f"deadline rush: {first['machine']['cpu']}, {first['machine']['cores']} cores, {first['machine']['date']}")
headers = [run["machine"]["deployment"] for _, run in runs]
print("| figure | " + " | ".join(headers) + " |")
print("|---|" + "---|" * len(headers))
for key, label, form in rows:
    values = []
    for _, run in runs:
        figure = next((f for f in run["figures"] if f.get("key") == key), None)
        value = None if figure is None else figure["value"]
        values.append("—" if value is None else value if isinstance(value, str) else form.format(value))
    print(f"| {label} | " + " | ".join(values) + " |")
failed = [run["machine"]["deployment"] for _, run in runs
          if any(f.get("key") == "rush.failed" and f["value"] != 0 for f in run["figures"])]
if failed:
    print("deadline-rush: students without a receipt on: " + ", ".join(failed), file=sys.stderr)
    sys.exit(1)
EOF
