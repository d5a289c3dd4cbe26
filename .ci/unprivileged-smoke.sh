#!/usr/bin/env bash
# The three programs as an ordinary user: CUHK and Blackboard serve one student's whole flow, a read-only
# directory stops Blackboard at start, and SIGTERM stops both. CI runs as root, which once hid a bug that stopped
# every server run by anyone else; as root this script runs the programs as `nobody` with setpriv.
set -euo pipefail
build=${1:-.build/debug}
work=$(mktemp -d /tmp/campuspki-unprivileged-XXXXXX)
chmod 755 "$work"
# Copies in a directory the user can reach (the clone's own folders may not be).
mkdir "$work/bin" "$work/run"
cp "$build/cuhk" "$build/blackboard" "$build/student" "$work/bin/"
chmod 755 "$work/bin" "$work/bin/"*
as_user=()
if [ "$(id -u)" = 0 ]; then
    chown nobody "$work/run"
    as_user=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --)
    echo "unprivileged smoke: running as nobody"
else
    echo "unprivileged smoke: running as $(id -un)"
fi
cleanup() {
    [ -n "${cuhk_pid:-}" ] && kill -9 "$cuhk_pid" 2>/dev/null || true
    [ -n "${blackboard_pid:-}" ] && kill -9 "$blackboard_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

wait_for_address() { # file → HOST:PORT
    for _ in $(seq 1 600); do
        if grep -q '^listening on ' "$1" 2>/dev/null; then
            sed -n 's/^listening on //p' "$1" | head -n 1
            return 0
        fi
        sleep 0.05
    done
    echo "no 'listening on' line in $1:" >&2
    cat "$1" "$1.err" >&2 || true
    return 1
}

cd "$work/run"
"${as_user[@]}" "$work/bin/cuhk" --port 0 --ocsp-port 0 --open-enrollment >cuhk.out 2>cuhk.out.err &
cuhk_pid=$!
ca=$(wait_for_address cuhk.out)
"${as_user[@]}" "$work/bin/blackboard" --port 0 >blackboard.out 2>blackboard.out.err &
blackboard_pid=$!
bb=$(wait_for_address blackboard.out)

"${as_user[@]}" "$work/bin/student" --sid 1155123456 --ca "$ca" --blackboard "$bb" \
    --message "hello from an ordinary user" >student.out 2>&1 || {
    echo "the student failed:" >&2
    cat student.out cuhk.out cuhk.out.err blackboard.out blackboard.out.err >&2
    exit 1
}
grep -q '^SID: 1155123456 sign finished.$' student.out
# The enrollment channel: CUHK proved who it is before the CSR left.
grep -q 'CUHK authenticated: its certificate for cuhk' student.out
grep -q '^Receipt: report 1, 1 message, ' student.out
grep -q 'receive from 1155123456 #1: hello from an ordinary user (Valid message!)' blackboard.out
# Session version 2: Blackboard proved who it is, and its signed receipt verifies offline, with the Student and
# with OpenSSL; one flipped byte makes both refuse it.
grep -q 'Blackboard authenticated: CUHK issued its certificate for blackboard' student.out
grep -q '^Signed receipt saved: ./receipts/report-1.p7s' student.out
"${as_user[@]}" "$work/bin/student" verify-receipt receipts/report-1.p7s >verify.out 2>&1 || {
    echo "student verify-receipt refused the receipt:" >&2
    cat verify.out >&2
    exit 1
}
grep -q '^Receipt verified: signed by blackboard' verify.out
[ "$(stat -c %a blackboard.key)" = 600 ] || { echo "blackboard.key is not mode 0600" >&2; exit 1; }
# The web interfaces, run as the same user: ready, counting, and their token files private.
for out in cuhk.out blackboard.out; do
    grep -q '^login at http://' "$out" || { echo "no login URL in $out" >&2; cat "$out" >&2; exit 1; }
done
for token in cuhk-admin-token blackboard-admin-token; do
    [ "$(stat -c %a "$token")" = 600 ] || { echo "$token is not mode 0600" >&2; exit 1; }
done
if command -v curl >/dev/null 2>&1; then
    dashboard=$(sed -n 's/^dashboard at //p' blackboard.out | head -n 1)
    curl -sf "${dashboard}readyz" >/dev/null || { echo "Blackboard's /readyz is not 200" >&2; exit 1; }
    curl -sf "${dashboard}metrics" | grep -q '^blackboard_messages_stored_total 1' || {
        echo "Blackboard's /metrics does not count the stored message" >&2
        exit 1
    }
fi
if command -v openssl >/dev/null 2>&1; then
    openssl cms -verify -inform DER -in receipts/report-1.p7s -CAfile cuhk.cer -purpose any >receipt.txt 2>cms.err || {
        echo "openssl cms -verify refused the receipt:" >&2
        cat cms.err >&2
        exit 1
    }
    grep -q '^sid: 1155123456$' receipt.txt
    cp receipts/report-1.p7s flipped.p7s
    offset=$(grep -abo 'status: ' flipped.p7s | head -n 1 | cut -d: -f1)
    printf 'X' | dd of=flipped.p7s bs=1 seek="$((offset + 8))" conv=notrunc status=none
    if openssl cms -verify -inform DER -in flipped.p7s -CAfile cuhk.cer -purpose any >/dev/null 2>&1; then
        echo "openssl accepted a receipt with a flipped byte" >&2
        exit 1
    fi
    set +e
    "$work/bin/student" verify-receipt flipped.p7s >/dev/null 2>&1
    status=$?
    set -e
    [ "$status" = 8 ] || { echo "student verify-receipt exited $status on a flipped byte, not 8" >&2; exit 1; }
fi
# The OCSP responder, asked by OpenSSL about the student's certificate.
ocsp=$(sed -n 's/^ocsp listening on //p' cuhk.out | head -n 1)
if command -v openssl >/dev/null 2>&1; then
    openssl ocsp -issuer cuhk.cer -cert 1155123456.cer -url "http://$ocsp" -CAfile cuhk.cer >ocsp.out 2>&1 || true
    grep -q 'Response verify OK' ocsp.out && grep -q '1155123456.cer: good' ocsp.out || {
        echo "openssl ocsp did not see a good, verified answer:" >&2
        cat ocsp.out >&2
        exit 1
    }
fi
[ "$(stat -c %a blackboard.db)" = 600 ] || { echo "blackboard.db is not mode 0600" >&2; exit 1; }
[ "$(stat -c %a cuhk.key)" = 600 ] || { echo "cuhk.key is not mode 0600" >&2; exit 1; }
[ "$(stat -c %a cuhk-tsa.key)" = 600 ] || { echo "cuhk-tsa.key is not mode 0600" >&2; exit 1; }

kill -TERM "$cuhk_pid" "$blackboard_pid"
wait "$cuhk_pid" || { echo "cuhk did not exit 0 on SIGTERM" >&2; exit 1; }
wait "$blackboard_pid" || { echo "blackboard did not exit 0 on SIGTERM" >&2; exit 1; }
cuhk_pid= blackboard_pid=

# A directory the user cannot write: Blackboard refuses to start, with status 2 and the reason.
mkdir "$work/readonly"
chmod 555 "$work/readonly"
[ "$(id -u)" = 0 ] || cp cuhk.cer "$work/readonly/" 2>/dev/null || true
set +e
"${as_user[@]}" "$work/bin/blackboard" --port 0 --dir "$work/readonly" >readonly.out 2>&1
status=$?
set -e
[ "$status" = 2 ] || { echo "blackboard on a read-only directory exited $status, not 2:" >&2; cat readonly.out >&2; exit 1; }
grep -q 'not writable' readonly.out || { echo "no reason given:" >&2; cat readonly.out >&2; exit 1; }
! grep -q '^listening on' readonly.out

echo "unprivileged smoke: passed (enrollment, authenticated upload, signed receipt with student and openssl, OCSP, modes 0600, SIGTERM, read-only directory)"
