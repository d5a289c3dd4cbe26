#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server (Debian's postgresql package) for the tests and the cluster run, and prints the
# environment line that points CampusPKI at it.
#
#   scripts/throwaway-postgres.sh start DIR    # initdb into DIR/data, start on a free loopback port; prints
#                                              # CAMPUSPKI_TEST_DATABASE=postgres://campuspki@127.0.0.1:PORT/campuspki
#   scripts/throwaway-postgres.sh stop DIR     # stop it, fast (the directory stays; remove it yourself)
#   scripts/throwaway-postgres.sh start-again DIR   # start a stopped one again on the same port
#
# For tests only: it listens on 127.0.0.1 alone, the user `campuspki` (a superuser) logs in without a password from
# this machine, every other user needs its password (scram-sha-256), and it is gone when DIR is removed.
# PostgreSQL refuses to run as root, so as root the server runs as `nobody` (with setpriv), which then owns DIR; DIR's
# parent must let `nobody` through (mktemp -d under /tmp does, once DIR itself is chowned).
set -euo pipefail
command=${1:?usage: $0 start|stop|start-again DIR}
dir=${2:?usage: $0 start|stop|start-again DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "throwaway-postgres: no PostgreSQL server found; install it with: apt-get install postgresql" >&2
    exit 3
fi
case "$dir" in /*) ;; *) dir=$PWD/$dir ;; esac
# As `nobody`, from `/`: the caller's working directory may be closed to it (PostgreSQL's tools say so otherwise).
as_owner() {
    if [ "$(id -u)" = 0 ]; then (cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"); else "$@"; fi
}
start_server() {
    local port=$1
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
}
case "$command" in
start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown nobody:nogroup "$dir"; fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -U campuspki --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync \
        >"$dir/initdb.log" 2>&1
    # The test user without a password; everyone else with theirs (the tests make such users to check passwords).
    as_owner sh -c "printf 'local all all trust\nhost all campuspki 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >'$dir/data/pg_hba.conf'"
    echo "$port" >"$dir/port"
    start_server "$port"
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U campuspki campuspki
    echo "CAMPUSPKI_TEST_DATABASE=postgres://campuspki@127.0.0.1:$port/campuspki"
    ;;
start-again)
    start_server "$(cat "$dir/port")"
    ;;
stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
*) echo "usage: $0 start|stop|start-again DIR" >&2; exit 64 ;;
esac
