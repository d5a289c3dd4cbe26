#!/usr/bin/env bash
# The deadline rush on a cluster: one throwaway PostgreSQL, HAProxy in TCP mode in front of two `cuhk` and two
# `blackboard` instances that share it, and N students who all enroll with their one-time codes and upload a
# multi-message report through HAProxy's addresses; with --kill, one CUHK and one Blackboard instance are killed
# with SIGKILL in the middle of the rush and started again. Then it checks what was stored against what each student
# was told (docs/DEPLOYMENT.md, "The cluster test").
#
#   scripts/cluster-test.sh [--students N] [--kill] [--stop-database SECONDS] [--concurrency C] [--messages M]
#                           [--keep] [BIN_DIR]
#
# --stop-database SECONDS stops PostgreSQL for that long once two fifths of the students have finished, and checks
# that every instance's /readyz fails meanwhile, that none ends, and that all are ready again once it is back.
#
# BIN_DIR holds the cuhk, blackboard and student programs (default: .build/debug). Needs Debian's postgresql and
# haproxy, psql, openssl and python3. As root, PostgreSQL runs as `nobody` (scripts/throwaway-postgres.sh); the rest
# runs as the invoking user. Every process it starts and its temporary directories are gone when it ends (--keep
# keeps the directory, for reading the logs).
#
# What it counts (a student is one `student run`: enroll with its code, then upload one report):
#   lost        a student holding a signed receipt whose report is not in the database as that report number, for
#               that student, with exactly the messages it sent (count, order and bytes); a message a student
#               without a receipt was told was stored ("Blackboard stored message #k") that is in none of its
#               sessions; a code marked used without its certificate, or a certificate without its code marked used.
#               A student without a receipt is not lost: it was never told its report counted; its acknowledged
#               messages stay stored as an incomplete attempt (a session without a report), and a report committed
#               just before its connection was cut is listed as such.
#   duplicated  a code that paid for more than one certificate, a student with more than one complete report (each
#               student uploads once), a report number on more than one receipt, a message stored twice in one
#               session, or a report in the database that neither a receipt nor a student without one explains.
#   failed      a student whose `student run` did not end with a receipt (its exit status and last line are shown);
#               with --kill these are the sessions cut by a killed instance that the Student does not try again,
#               such as one cut after it sent the end of its report.
# It exits 1 on any loss, duplicate, receipt that `openssl cms -verify` refuses, disagreement between the two
# Blackboards' listings, or student that ended in a failed check (exit 1, 6, 7 or 8); a student whose connection was
# cut or refused (exit 3, 4, 5) alone does not fail the run, unless no student got a receipt.
set -euo pipefail

students=500
kill_instances=0
concurrency=64
messages=5
keep=0
stop_database=0
bin_dir=
while [ $# -gt 0 ]; do
    case "$1" in
    --students) students=$2; shift 2 ;;
    --kill) kill_instances=1; shift ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --messages) messages=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --stop-database) stop_database=$2; shift 2 ;;
    -h | --help) sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "cluster: unknown option $1" >&2; exit 64 ;;
    *) bin_dir=$1; shift ;;
    esac
done
repo=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=${bin_dir:-$repo/.build/debug}
bin_dir=$(cd "$bin_dir" && pwd)
for program in cuhk blackboard student; do
    [ -x "$bin_dir/$program" ] || { echo "cluster: no $program in $bin_dir (swift build first)" >&2; exit 2; }
done
for tool in haproxy openssl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "cluster: $tool is missing" >&2; exit 2; }
done
psql=$(command -v psql || ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1)
[ -x "$psql" ] || { echo "cluster: psql is missing (apt-get install postgresql)" >&2; exit 2; }

work=$(mktemp -d -t campus-cluster.XXXXXX)
pg_dir=$(mktemp -d -t campus-cluster-pg.XXXXXX)
pids=()
rush_group=
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    [ -z "$rush_group" ] || kill -KILL -- "-$rush_group" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid_file in "$work"/run/*.pid; do
        [ -f "$pid_file" ] && kill -KILL "$(cat "$pid_file")" 2>/dev/null || true
    done
    bash "$repo/scripts/throwaway-postgres.sh" stop "$pg_dir" >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
    if [ "$keep" = 1 ]; then echo "cluster: kept $work"; else rm -rf "$work"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/run" "$work/logs" "$work/students"
say() { printf 'cluster: %s\n' "$*"; }
# Runs a command with its output in logs/NAME.log, and shows that log if it fails.
logged() {
    local name=$1
    shift
    "$@" >"$work/logs/$name.log" 2>&1 || {
        local status=$?
        echo "cluster: $name failed (exit status $status):" >&2
        tail -n 20 "$work/logs/$name.log" >&2
        return $status
    }
}
now() { date +%s.%N; }

# Free loopback ports for everything that listens: HAProxy's three frontends and each instance's ports. An instance
# started again after SIGKILL takes the same ports, so HAProxy's configuration never changes.
read -r ha_cuhk ha_http ha_board ha_stats \
    cuhk1 cuhk1_http cuhk1_admin cuhk2 cuhk2_http cuhk2_admin \
    board1 board1_admin board2 board2_admin < <(python3 -c '
import socket
sockets = [socket.socket() for _ in range(14)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))')

say "PostgreSQL"
database_line=$(bash "$repo/scripts/throwaway-postgres.sh" start "$pg_dir")
database=${database_line#*=}
export PGCONNECT_TIMEOUT=10
sql() { "$psql" "$database" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

# One directory per machine: the CUHK machines hold the root's key, the Blackboard machines Blackboard's key and
# the root's certificate. `cuhk init` makes them once in a directory of its own, then they are copied.
public_url="http://127.0.0.1:$ha_http/"
init_dir=$work/init
mkdir -p "$init_dir"
say "cuhk init --database (CUHK's public URL: HAProxy's $public_url)"
logged init "$bin_dir/cuhk" init --dir "$init_dir" --database "$database" --public-url "$public_url"
for index in 1 2; do
    mkdir -p "$work/cuhk-$index" "$work/blackboard-$index"
    cp -p "$init_dir"/cuhk.key "$init_dir"/cuhk.cer "$init_dir"/cuhk-tsa.key "$init_dir"/cuhk-tsa.cer "$work/cuhk-$index/"
    cp -p "$init_dir"/blackboard.key "$init_dir"/blackboard.cer "$init_dir"/cuhk.cer "$work/blackboard-$index/"
done
root=$init_dir/cuhk.cer
# The web interfaces' login tokens, made once and copied like the keys, so that a login is valid on every instance.
logged cuhk-admin-token "$bin_dir/cuhk" admin-token --dir "$init_dir" --database "$database"
logged blackboard-admin-token "$bin_dir/blackboard" admin-token --dir "$init_dir" --database "$database"
for index in 1 2; do
    cp -p "$init_dir/cuhk-admin-token" "$work/cuhk-$index/"
    cp -p "$init_dir/blackboard-admin-token" "$work/blackboard-$index/"
done

say "roster of $students students, codes"
python3 - "$students" >"$work/roster.csv" <<'EOF'
import sys
print("sid,name")
for i in range(int(sys.argv[1])):
    print(f"{1155100000 + i},Student {i + 1}")
EOF
logged roster "$bin_dir/cuhk" roster import --dir "$init_dir" --database "$database" "$work/roster.csv"
"$bin_dir/cuhk" codes issue --dir "$init_dir" --database "$database" --all-unenrolled --json \
    --ca-address "127.0.0.1:$ha_cuhk" --blackboard-address "127.0.0.1:$ha_board" >"$work/codes.json" 2>"$work/logs/codes.log"
python3 - "$work/codes.json" "$work/students" "$root" "$students" <<'EOF'
import json, os, shutil, sys
slips = json.load(open(sys.argv[1]))
assert len(slips) == int(sys.argv[4]), f"{len(slips)} codes for {sys.argv[4]} students"
for slip in slips:
    directory = os.path.join(sys.argv[2], slip["sid"])
    os.makedirs(directory, mode=0o700)
    descriptor = os.open(os.path.join(directory, "code"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(descriptor, (slip["code"] + "\n").encode())
    os.close(descriptor)
    shutil.copy(sys.argv[3], os.path.join(directory, "cuhk.cer"))  # the pinned root, as a slip's fingerprint pins it
EOF

# HAProxy connects to the instances' framed ports from this loopback address, with a PROXY protocol v2 header naming
# the student (send-proxy-v2), and the instances trust headers from it alone: they record the students' address
# (127.0.0.1), never HAProxy's.
balancer_source=127.0.0.3

start_cuhk() {
    local index=$1 port=$2 http=$3 admin=$4
    "$bin_dir/cuhk" serve --dir "$work/cuhk-$index" --database "$database" --port "$port" --ocsp-port "$http" \
        --admin-port "$admin" --public-url "$public_url" --proxy-protocol-from "$balancer_source" \
        --http-max-connections-per-address 0 --log-level warning >>"$work/logs/cuhk-$index.log" 2>&1 &
    echo $! >"$work/run/cuhk-$index.pid"
    disown $!
}
start_blackboard() {
    local index=$1 port=$2 admin=$3
    "$bin_dir/blackboard" serve --dir "$work/blackboard-$index" --database "$database" --port "$port" \
        --admin-port "$admin" --proxy-protocol-from "$balancer_source" \
        --log-level warning >>"$work/logs/blackboard-$index.log" 2>&1 &
    echo $! >"$work/run/blackboard-$index.pid"
    disown $!
}
# Ready: /readyz on the instance's web interface answers 200 (the database answers too).
wait_ready() {
    local name=$1 admin=$2 deadline=$((SECONDS + 120))
    until curl -fsS -o /dev/null "http://127.0.0.1:$admin/readyz" 2>/dev/null; do
        if ! kill -0 "$(cat "$work/run/$name.pid")" 2>/dev/null; then
            echo "cluster: $name ended while starting:" >&2; tail -n 20 "$work/logs/$name.log" >&2; exit 1
        fi
        [ $SECONDS -lt $deadline ] || { echo "cluster: $name not ready after 120 s" >&2; exit 1; }
        sleep 0.2
    done
}

say "2 cuhk and 2 blackboard instances on the database"
start_cuhk 1 "$cuhk1" "$cuhk1_http" "$cuhk1_admin"
start_cuhk 2 "$cuhk2" "$cuhk2_http" "$cuhk2_admin"
start_blackboard 1 "$board1" "$board1_admin"
start_blackboard 2 "$board2" "$board2_admin"
wait_ready cuhk-1 "$cuhk1_admin"
wait_ready cuhk-2 "$cuhk2_admin"
wait_ready blackboard-1 "$board1_admin"
wait_ready blackboard-2 "$board2_admin"

# HAProxy: TCP mode, each server checked with GET /readyz on its web interface, so an instance that is down or has
# lost the database takes no new connections; a connection that cannot be made is tried on the other server.
cat >"$work/haproxy.cfg" <<EOF
global
    maxconn 4096
    stats socket $work/run/haproxy.sock mode 600 level admin

defaults
    mode tcp
    log global
    option dontlognull
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout check 2s
    retries 3
    option redispatch
    default-server inter 1s fall 2 rise 2

frontend cuhk
    bind 127.0.0.1:$ha_cuhk
    default_backend cuhk

frontend cuhk_http
    bind 127.0.0.1:$ha_http
    default_backend cuhk_http

frontend blackboard
    bind 127.0.0.1:$ha_board
    default_backend blackboard

backend cuhk
    balance leastconn
    option httpchk GET /readyz
    server cuhk-1 127.0.0.1:$cuhk1 source $balancer_source send-proxy-v2 check port $cuhk1_admin
    server cuhk-2 127.0.0.1:$cuhk2 source $balancer_source send-proxy-v2 check port $cuhk2_admin

backend cuhk_http
    balance roundrobin
    option httpchk GET /readyz
    server cuhk-1 127.0.0.1:$cuhk1_http check port $cuhk1_admin
    server cuhk-2 127.0.0.1:$cuhk2_http check port $cuhk2_admin

backend blackboard
    balance leastconn
    option httpchk GET /readyz
    server blackboard-1 127.0.0.1:$board1 source $balancer_source send-proxy-v2 check port $board1_admin
    server blackboard-2 127.0.0.1:$board2 source $balancer_source send-proxy-v2 check port $board2_admin

listen stats
    bind 127.0.0.1:$ha_stats
    mode http
    stats enable
    stats uri /
EOF
haproxy -c -q -f "$work/haproxy.cfg"
haproxy -db -f "$work/haproxy.cfg" >"$work/logs/haproxy.log" 2>&1 &
echo $! >"$work/run/haproxy.pid"
disown $!
# Wait until HAProxy sees all six servers up.
deadline=$((SECONDS + 60))
until [ "$(curl -fsS "http://127.0.0.1:$ha_stats/;csv" 2>/dev/null | awk -F, '$2 ~ /-[12]$/ && $18 == "UP"' | wc -l)" = 6 ]; do
    [ $SECONDS -lt $deadline ] || { echo "cluster: HAProxy's servers not up after 60 s" >&2; exit 1; }
    sleep 0.2
done
say "HAProxy: cuhk 127.0.0.1:$ha_cuhk, cuhk http 127.0.0.1:$ha_http, blackboard 127.0.0.1:$ha_board"

# One student: enroll with the code through HAProxy, upload $messages messages, keep the output, status and times.
cat >"$work/student.sh" <<EOF
#!/usr/bin/env bash
sid=\$1
dir="$work/students/\$sid"
args=()
for index in \$(seq 1 $messages); do args+=(--message "report of \$sid, part \$index of $messages: the deadline rush"); done
date +%s.%N >"\$dir/started"
"$bin_dir/student" run --sid "\$sid" --dir "\$dir" --code-file "\$dir/code" --ca 127.0.0.1:$ha_cuhk \\
    --blackboard 127.0.0.1:$ha_board "\${args[@]}" >"\$dir/out" 2>&1
echo \$? >"\$dir/status"
date +%s.%N >"\$dir/ended"
EOF
chmod +x "$work/student.sh"

killer() {
    # Once a fifth of the students have finished (the rush is in full swing), SIGKILL one instance of each server,
    # and start each again two seconds later on the same ports.
    local threshold=$((students / 5))
    [ $threshold -ge 1 ] || threshold=1
    until [ "$(find "$work/students" -name ended | wc -l)" -ge $threshold ]; do sleep 0.2; done
    kill -KILL "$(cat "$work/run/blackboard-1.pid")" "$(cat "$work/run/cuhk-1.pid")"
    echo "$(now) killed blackboard-1 and cuhk-1 with SIGKILL after $threshold students finished" >"$work/killed"
    sleep 2
    start_blackboard 1 "$board1" "$board1_admin"
    start_cuhk 1 "$cuhk1" "$cuhk1_http" "$cuhk1_admin"
    wait_ready blackboard-1 "$board1_admin"
    wait_ready cuhk-1 "$cuhk1_admin"
    echo "$(now) blackboard-1 and cuhk-1 ready again" >>"$work/killed"
}

outage() {
    # Once two fifths of the students have finished, stop PostgreSQL (fast: its connections are cut) for the given
    # seconds, and see what the instances do: each /readyz must fail (503, or no answer within HAProxy's 2 s check
    # timeout), no instance may end, and all four must be ready again once the database is back.
    local seconds=$1 threshold=$((students * 2 / 5)) stopped back name admin entry watchers=()
    [ $threshold -ge 1 ] || threshold=1
    until [ "$(find "$work/students" -name ended | wc -l)" -ge $threshold ]; do sleep 0.2; done
    bash "$repo/scripts/throwaway-postgres.sh" stop "$pg_dir"
    stopped=$(now)
    echo "$stopped database stopped for $seconds s after $threshold students finished" >"$work/outage"
    local all="cuhk-1:$cuhk1_admin cuhk-2:$cuhk2_admin blackboard-1:$board1_admin blackboard-2:$board2_admin"
    for entry in $all; do
        (
            name=${entry%%:*} admin=${entry#*:}
            until [ "$(python3 -c "print(int($(now) - $stopped))")" -ge "$seconds" ]; do
                code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/readyz" || true)
                if [ "$code" != 200 ]; then
                    echo "$(now) $name: not ready ($([ "$code" = 000 ] && echo 'no answer within 2 s' || echo "/readyz $code")) $(python3 -c "print(f'{$(now) - $stopped:.1f}')") s after the database stopped" >>"$work/outage"
                    touch "$work/run/unready-$name"
                    break
                fi
                sleep 0.5
            done
        ) &
        watchers+=($!)
    done
    sleep "$seconds"
    wait "${watchers[@]}"
    bash "$repo/scripts/throwaway-postgres.sh" start-again "$pg_dir"
    back=$(now)
    echo "$back database started again" >>"$work/outage"
    for entry in $all; do
        name=${entry%%:*} admin=${entry#*:}
        kill -0 "$(cat "$work/run/$name.pid")" 2>/dev/null || { echo "$(now) $name ENDED while the database was away" >>"$work/outage"; exit 1; }
        [ -f "$work/run/unready-$name" ] || { echo "$(now) $name stayed ready while the database was away" >>"$work/outage"; exit 1; }
        wait_ready "$name" "$admin"
        echo "$(now) $name: /readyz 200 $(python3 -c "print(f'{$(now) - $back:.1f}')") s after the database was back, without a restart" >>"$work/outage"
    done
}

say "the rush: $students students, $concurrency at a time, $messages messages each$([ $kill_instances = 1 ] && echo ', one cuhk and one blackboard killed mid-rush')$([ "$stop_database" != 0 ] && echo ", PostgreSQL stopped for $stop_database s mid-rush")"
# CPU accounting: the machine's (all users), the servers' and the students'.
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
process_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
machine_before=$(cpu_ticks)
rush_start=$(now)
if [ $kill_instances = 1 ]; then
    killer &
    killer_pid=$!
    pids+=($killer_pid)
fi
if [ "$stop_database" != 0 ]; then
    outage "$stop_database" &
    outage_pid=$!
    pids+=($outage_pid)
fi
# The students' CPU: what the shell running xargs reaped (xargs, and through it every student and its wrapper).
# In a process group of its own, waited for in the background, so that a signal to this script ends the rush at
# once (cleanup kills the whole group).
setsid -w bash -c 'ls "$1" | xargs -P "$2" -n 1 "$3"; awk "{ print \$16 + \$17 }" /proc/$$/stat' _ \
    "$work/students" "$concurrency" "$work/student.sh" >"$work/students-cpu" &
rush_group=$!
wait "$rush_group"
rush_group=
rush_end=$(now)
machine_after=$(cpu_ticks)
ticks=$(getconf CLK_TCK)
{
    echo "machine $(( machine_after - machine_before )) $ticks"
    echo "students $(cat "$work/students-cpu") $ticks"
    for name in cuhk-1 cuhk-2 blackboard-1 blackboard-2 haproxy; do
        echo "$name $(process_ticks "$(cat "$work/run/$name.pid")") $ticks"
    done
    postmaster=$(head -n 1 "$pg_dir/data/postmaster.pid" 2>/dev/null || echo 0)
    # The postmaster with its reaped children (backends that ended), and the children still running.
    total=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$postmaster/stat" 2>/dev/null || echo 0)
    for pid in $(pgrep -P "$postmaster" 2>/dev/null); do total=$((total + $(process_ticks "$pid"))); done
    echo "postgresql $total $ticks"
} >"$work/cpu.txt"
if [ "$stop_database" != 0 ]; then
    outage_status=0
    wait "$outage_pid" || outage_status=$?
    sed 's/^[0-9.]* /cluster: /' "$work/outage"
    [ $outage_status = 0 ] || { echo "cluster: the instances did not ride out the database's outage" >&2; exit 1; }
fi
if [ $kill_instances = 1 ]; then
    wait "$killer_pid" || { echo "cluster: the killed instances did not come back" >&2; exit 1; }
    sed 's/^[0-9.]* /cluster: /' "$work/killed"
fi

say "checking"
"$bin_dir/blackboard" reports --json --dir "$work/blackboard-1" --database "$database" >"$work/reports-1.json"
"$bin_dir/blackboard" reports --json --dir "$work/blackboard-2" --database "$database" >"$work/reports-2.json"
# Both dashboards, with one login made on the first instance (the session is in the database).
token=$(head -n 1 "$init_dir/blackboard-admin-token")
curl -fsS -o /dev/null -c "$work/cookies" "http://127.0.0.1:$board1_admin/login?token=$token"
for index in 1 2; do
    admin_var=board${index}_admin
    curl -fsS -b "$work/cookies" "http://127.0.0.1:${!admin_var}/" >"$work/dashboard-$index.html" ||
        echo "cluster: blackboard-$index's dashboard did not answer with the login made on blackboard-1" >&2
done
sql "SELECT sid, coalesce(certificate_serial, ''), used_at IS NOT NULL FROM cuhk.enrollment_code" >"$work/codes.txt"
sql "SELECT sid, serial FROM cuhk.certificate" >"$work/certificates.txt"
sql "SELECT r.id, r.sid, r.message_count, s.id FROM blackboard.report r JOIN blackboard.session s ON s.id = r.session" \
    >"$work/db-reports.txt"
sql "SELECT s.id, s.sid, s.status, (SELECT count(*) FROM blackboard.message m WHERE m.session = s.id)
     FROM blackboard.session s WHERE s.id NOT IN (SELECT session FROM blackboard.report)" >"$work/db-incomplete.txt"
sql "SELECT m.session, m.sequence, encode(m.content, 'hex') FROM blackboard.message m ORDER BY m.session, m.sequence" \
    >"$work/db-messages.txt"
# The sessions' peers: the students' address from HAProxy's PROXY protocol header, not HAProxy's own.
sql "SELECT count(*) FILTER (WHERE peer LIKE '%$balancer_source%'), count(*) FILTER (WHERE peer LIKE '%127.0.0.1:%'),
     count(*) FROM blackboard.session" >"$work/db-peers.txt"
# Every receipt through OpenSSL, with the root alone.
for receipt in "$work"/students/*/receipts/*.p7s; do
    [ -f "$receipt" ] || continue
    if openssl cms -verify -inform DER -in "$receipt" -CAfile "$root" -purpose any -out /dev/null 2>/dev/null; then
        echo "ok $receipt"
    else
        echo "refused $receipt"
    fi
done >"$work/cms.txt"

python3 - "$work" "$students" "$messages" "$rush_start" "$rush_end" "$concurrency" <<'EOF'
import json, os, re, sys
from collections import Counter, defaultdict

work, students, messages, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[6])
rush_start, rush_end = float(sys.argv[4]), float(sys.argv[5])
problems = []
lost = duplicated = 0

def rows(name):
    with open(os.path.join(work, name)) as f:
        return [line.rstrip("\n").split("|") for line in f if line.strip()]

# The codes: each used once, for the one certificate issued to that student.
codes = {sid: (serial, used == "t") for sid, serial, used in rows("codes.txt")}
certificates = defaultdict(list)
for sid, serial in rows("certificates.txt"):
    certificates[sid].append(serial)
enrolled_locally = {}
for sid in os.listdir(os.path.join(work, "students")):
    if os.path.exists(os.path.join(work, "students", sid, f"{sid}.cer")):
        enrolled_locally[sid] = True
used = [sid for sid, (_, u) in codes.items() if u]
for sid in codes:
    if len(certificates.get(sid, [])) > 1:
        duplicated += 1
        problems.append(f"student {sid} has {len(certificates[sid])} certificates for one code")
for sid in used:
    serial = codes[sid][0]
    if serial not in certificates.get(sid, []):
        problems.append(f"student {sid}: the code is used but its certificate {serial} is not recorded")
        lost += 1
for sid in enrolled_locally:
    if not codes.get(sid, ("", False))[1]:
        problems.append(f"student {sid} holds a certificate but its code is not marked used")
        lost += 1

# What each student was told.
receipts = {}
failed = []
durations = []
for sid in sorted(os.listdir(os.path.join(work, "students"))):
    directory = os.path.join(work, "students", sid)
    out = open(os.path.join(directory, "out"), errors="replace").read() if os.path.exists(os.path.join(directory, "out")) else ""
    status = open(os.path.join(directory, "status")).read().strip() if os.path.exists(os.path.join(directory, "status")) else "none"
    match = re.search(r"^Receipt: report (\d+), (\d+) messages?", out, re.M)
    if status == "0" and match:
        receipts[sid] = (int(match.group(1)), int(match.group(2)))
        if not os.path.exists(os.path.join(directory, "receipts", f"report-{match.group(1)}.p7s")):
            problems.append(f"student {sid} was told of report {match.group(1)} but saved no receipt for it")
        durations.append(float(open(os.path.join(directory, "ended")).read()) - float(open(os.path.join(directory, "started")).read()))
    else:
        last = [line for line in out.splitlines() if line.strip()]
        failed.append((sid, status, last[-1] if last else "(no output)"))

# The database's reports against the receipts.
database_reports = {int(number): (sid, int(count), int(session)) for number, sid, count, session in rows("db-reports.txt")}
stored = defaultdict(list)
for session, sequence, content in rows("db-messages.txt"):
    stored[int(session)].append((int(sequence), bytes.fromhex(content).decode(errors="replace")))
per_student = Counter(sid for sid, _, _ in database_reports.values())
for sid, count in per_student.items():
    if count > 1:
        duplicated += 1
        problems.append(f"student {sid} has {count} complete reports (it uploaded one)")
numbers = Counter(number for number, _ in receipts.values())
for number, count in numbers.items():
    if count > 1:
        duplicated += 1
        problems.append(f"report number {number} is on {count} receipts")
matching = 0
for sid, (number, count) in receipts.items():
    expected = [f"report of {sid}, part {i} of {messages}: the deadline rush" for i in range(1, messages + 1)]
    row = database_reports.get(number)
    if row is None or row[0] != sid:
        lost += 1
        problems.append(f"student {sid}'s receipt names report {number}, which the database lacks or gives to another")
        continue
    contents = stored[row[2]]
    sequences = [s for s, _ in contents]
    if len(sequences) != len(set(sequences)):
        duplicated += 1
        problems.append(f"report {number} stores a message twice")
    if count != messages or row[1] != count or [c for _, c in contents] != expected:
        lost += 1
        problems.append(f"report {number} of {sid}: receipt {count}, database {row[1]} messages, stored {len(contents)}, content {'equal' if [c for _, c in contents] == expected else 'differs'}")
    elif len(sequences) == len(set(sequences)):
        matching += 1
explained = {number for number, _ in receipts.values()}
unexplained = [n for n, (sid, _, _) in database_reports.items() if n not in explained and sid not in {f[0] for f in failed}]
for number in unexplained:
    problems.append(f"report {number} in the database is on no student's receipt")
    duplicated += 1

# Interrupted sessions: a student without a receipt was told "Blackboard stored message #k" for each message
# acknowledged; each of those must be stored, with its bytes, in one of that student's sessions (an incomplete
# attempt, or a complete report that the student never heard of).
incomplete = rows("db-incomplete.txt")
sessions_of = defaultdict(list)
for session, sid, _, _ in incomplete:
    sessions_of[sid].append(int(session))
for number, (sid, _, session) in database_reports.items():
    sessions_of[sid].append(session)
acknowledged_without_receipt = 0
for sid, status, last in failed:
    out_path = os.path.join(work, "students", sid, "out")
    out = open(out_path, errors="replace").read() if os.path.exists(out_path) else ""
    for k in sorted({int(k) for k in re.findall(r"Blackboard stored message #(\d+)", out)}):
        acknowledged_without_receipt += 1
        want = f"report of {sid}, part {k} of {messages}: the deadline rush"
        if not any((k, want) in stored[session] for session in sessions_of[sid]):
            lost += 1
            problems.append(f"student {sid}'s acknowledged message #{k} is in none of its sessions")
for session, contents in stored.items():
    sequences = [s for s, _ in contents]
    if len(sequences) != len(set(sequences)):
        duplicated += 1
        problems.append(f"session {session} stores a message twice")
spent_without_certificate = [sid for sid in used if sid not in enrolled_locally]
failed_sids = {f[0] for f in failed}
reports_of_failed = [n for n, (sid, _, _) in database_reports.items() if sid in failed_sids]
# A student whose `student run` ended in a failed check (6 a server's answer, 7 Blackboard's identity, 8 a receipt)
# or a local error (1) is a fault of the cluster, not a cut connection.
for sid, status, last in failed:
    if status not in ("3", "4", "5"):
        problems.append(f"student {sid} ended with exit status {status}: {last[:160]}")

# OpenSSL.
cms = rows("cms.txt")
verified = sum(1 for line in cms if line[0].startswith("ok "))
refused = [line[0] for line in cms if line[0].startswith("refused ")]
for line in refused:
    problems.append(f"openssl cms -verify refused {line.split(' ', 1)[1]}")
receipt_files = len(cms)

# The two Blackboards' listings.
listing = [json.load(open(os.path.join(work, f"reports-{i}.json"))) for i in (1, 2)]
key = lambda rows: sorted(json.dumps(r, sort_keys=True) for r in rows)
agree = key(listing[0]) == key(listing[1])
listed = {int(r["report"]) for r in listing[0]}
if not agree:
    problems.append("the two Blackboards list different reports")
if listed != set(database_reports):
    problems.append(f"blackboard reports lists {len(listed)} reports, the database has {len(database_reports)}")

# The two dashboards, read with one login made on the first: the same page, the same count of students submitted.
pages = []
for i in (1, 2):
    path = os.path.join(work, f"dashboard-{i}.html")
    pages.append(open(path, errors="replace").read() if os.path.exists(path) else "")
submitted = [re.findall(r'<a href="/assignments/report">report</a>.*?<td>(?:open|closed)</td><td>(\d+)</td>', page, re.S) for page in pages]
dashboards_agree = bool(pages[0]) and pages[0] == pages[1] and submitted[0] == [str(len(per_student))]
if not dashboards_agree:
    problems.append(f"the dashboards differ or miss reports (submitted {submitted[0]} and {submitted[1]}, database {len(per_student)} students)")

# Every session's peer is a student's address (from HAProxy's PROXY protocol header), none HAProxy's.
through_balancer, from_students, sessions = (int(v) for v in rows("db-peers.txt")[0])
if through_balancer or from_students != sessions or sessions == 0:
    problems.append(f"of {sessions} sessions, {from_students} record the students' address and {through_balancer} HAProxy's")

elapsed = rush_end - rush_start
print(f"cluster: sessions' peers (PROXY protocol v2 from HAProxy): {from_students} of {sessions} the students' address, {through_balancer} HAProxy's")
print(f"cluster: codes: {len(codes)} issued, {len(used)} used once each, {sum(len(v) for k, v in certificates.items() if k in codes)} student certificates, {sum(1 for s in codes if len(certificates.get(s, [])) > 1)} students with more than one")
print(f"cluster: receipts: {len(receipts)} students with a receipt, {receipt_files} receipt files, {verified} accepted by openssl cms -verify, {len(refused)} refused")
print(f"cluster: reports: {len(database_reports)} complete in the database, report numbers {'unique' if all(c == 1 for c in numbers.values()) else 'NOT unique'} ({min(database_reports) if database_reports else 0}..{max(database_reports) if database_reports else 0}), reports matching their receipt (the student, {messages} messages once each, in order, byte for byte): {matching}")
print(f"cluster: incomplete attempts (sessions without a complete report): {len(incomplete)}, holding {sum(int(r[3]) for r in incomplete)} messages; {acknowledged_without_receipt} messages acknowledged to students without a receipt, each found stored; complete reports of students without a receipt: {len(reports_of_failed)}")
for number in sorted(reports_of_failed):
    print(f"cluster:   report {number} of {database_reports[number][0]} was committed but its receipt never reached the student (the connection was cut after the end of the report)")
print(f"cluster: codes used whose student holds no certificate (the answer was cut after CUHK committed it): {len(spent_without_certificate)}")
print(f"cluster: both Blackboards' `blackboard reports --json`: {'agree' if agree else 'DIFFER'} ({len(listing[0])} and {len(listing[1])} reports); both dashboards, with one login made on the first: {'agree' if dashboards_agree else 'DIFFER'} ({'/'.join(submitted[0]) or '?'} and {'/'.join(submitted[1]) or '?'} students submitted)")
starts = sorted(float(open(os.path.join(work, "students", sid, "started")).read()) for sid in os.listdir(os.path.join(work, "students")) if os.path.exists(os.path.join(work, "students", sid, "started")))
if starts:
    print(f"cluster: students started over {starts[-1] - starts[0]:.1f} s (at most --concurrency at once); the first {min(len(starts), concurrency)} within {starts[min(len(starts), concurrency) - 1] - starts[0]:.1f} s")
if durations:
    durations.sort()
    pick = lambda q: durations[min(len(durations) - 1, int(q * len(durations)))]
    print(f"cluster: rush: {elapsed:.1f} s, {len(receipts) / elapsed:.1f} receipts per second, time to receipt per student p50 {pick(0.5):.2f} s, p99 {pick(0.99):.2f} s (enrollment included)")
cpu = {}
for line in open(os.path.join(work, "cpu.txt")):
    parts = line.split()
    cpu[parts[0]] = float(parts[1]) / float(parts[2]) if len(parts) == 3 else float(parts[1])
cores = os.cpu_count() or 1
servers = " ".join(f"{name} {cpu.get(name, 0):.1f}" for name in ("cuhk-1", "cuhk-2", "blackboard-1", "blackboard-2", "haproxy", "postgresql"))
print(f"cluster: CPU seconds in the rush: students (student processes) {cpu.get('students', 0):.1f}, {servers}; the machine {cpu.get('machine', 0):.1f} of {cores * elapsed:.1f} ({cores} cores × {elapsed:.1f} s, other users' work included){' (a killed instance counts only since its restart)' if os.path.exists(os.path.join(work, 'killed')) else ''}{' (PostgreSQL only since it started again)' if os.path.exists(os.path.join(work, 'outage')) else ''}")
if failed:
    reasons = Counter((status, last) for _, status, last in failed)
    print(f"cluster: {len(failed)} students without a receipt (not lost: none was told its report counted):")
    for (status, last), count in reasons.most_common(10):
        print(f"cluster:   {count} x exit {status}: {last[:160]}")
for problem in problems[:30]:
    print(f"cluster: PROBLEM: {problem}")
print(f"cluster: {students} students, {len(receipts)} receipts, {lost} lost, {duplicated} duplicated")
bad = lost or duplicated or refused or not agree or not receipts or problems
sys.exit(1 if bad else 0)
EOF
