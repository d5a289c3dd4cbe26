#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ and runs them; docs/FUZZING.md explains the targets and the figures.
#
#   scripts/fuzz.sh smoke         each target for FUZZ_SMOKE_SECONDS (default 12) seconds; what CI runs
#   scripts/fuzz.sh long [RUNS]   each target for RUNS executions (default 10000000), one after another
#   scripts/fuzz.sh build         only the build
#   scripts/fuzz.sh seeds         rewrites the seed corpus in Fuzz/Corpus (needs openssl)
#
# FUZZ_TARGETS="FuzzWireMessage ..." runs only those targets; FUZZ_ASAN=0 leaves out AddressSanitizer.
#
# The committed seeds in Fuzz/Corpus/<target>/ are only read. New inputs go to a scratch corpus in
# Fuzz/.build/fuzz-work/<target>/corpus, emptied at the start of each run, and a crashing input is saved next to
# it as crash-<sha1> (the log says where). A crash, a timeout or a leak makes the script exit non-zero.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz="$root/Fuzz"
targets=(FuzzFrameDecoder FuzzWireMessage FuzzCSRIntake FuzzCertificateIntake FuzzTimestampIntake)
# SwiftPM's --sanitize flags instrument the C code and leave the entry point to libFuzzer, but the compiler driver
# passes only the last of several -sanitize options to the frontend, which would leave the Swift code without the
# coverage instrumentation libFuzzer needs; -Xswiftc -sanitize=... comes last and restores them.
# FUZZ_ASAN=0 builds without AddressSanitizer (in Fuzz/.build-no-asan), faster, for long runs.
if [ "${FUZZ_ASAN:-1}" = 0 ]; then
    build_flags=(-c release --scratch-path "$fuzz/.build-no-asan" --sanitize=fuzzer -Xswiftc -sanitize=fuzzer
        -Xswiftc -parse-as-library)
    sanitizers="libFuzzer"
else
    build_flags=(-c release --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address
        -Xswiftc -parse-as-library)
    sanitizers="libFuzzer + AddressSanitizer"
fi
# FUZZ_TARGETS="A B" runs only those targets.
read -r -a targets <<<"${FUZZ_TARGETS:-${targets[*]}}"
export LSAN_OPTIONS="suppressions=$fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

build() {
    echo "== building the fuzz targets (release, $sanitizers)"
    # The linker warns about every sanitizer symbol it cannot export; those lines say nothing about our code.
    mkdir -p "$fuzz/.build"
    nice -n 10 swift build --package-path "$fuzz" "${build_flags[@]}" 2>&1 | tee "$fuzz/.build/fuzz-build.log" |
        { grep -v "Cannot export local symbol" || true; }
    if grep -E "^$fuzz/Sources/.*(warning|error):" "$fuzz/.build/fuzz-build.log"; then
        echo "fuzz.sh: the build reports warnings in Fuzz/Sources" >&2
        exit 1
    fi
    bin="$(swift build --package-path "$fuzz" "${build_flags[@]}" --show-bin-path)"
}

# run TARGET LIBFUZZER-OPTIONS...: runs one target on a fresh scratch corpus and the seeds; prints one summary line.
run() {
    local target="$1"
    shift
    local work="$fuzz/.build/fuzz-work/$target"
    rm -rf "$work"
    mkdir -p "$work/corpus"
    local log="$work/fuzz.log"
    local status=0
    local started=$SECONDS
    (cd "$work" && nice -n 10 "$bin/$target" "$@" -print_final_stats=1 -timeout=10 -artifact_prefix="$work/" \
        "$work/corpus" "$fuzz/Corpus/$target") >"$log" 2>&1 || status=$?
    local seconds=$((SECONDS - started))
    local runs cov corpus
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    cov="$(sed -n 's/^#[0-9].* cov: \([0-9]*\) .*/\1/p' "$log" | tail -n 1)"
    corpus="$(sed -n 's/^#[0-9].* corp: \([^ ]*\) .*/\1/p' "$log" | tail -n 1)"
    if [ "$status" -ne 0 ]; then
        echo "-- $target FAILED (exit $status) after ${runs:-?} executions; the end of $log:" >&2
        tail -n 60 "$log" >&2
        failed+=("$target")
        return
    fi
    local rate=$((${runs:-0} / (seconds > 0 ? seconds : 1)))
    printf '%-22s %10s executions in %5s s (%s/s), cov: %s, corpus: %s\n' \
        "$target" "${runs:-?}" "$seconds" "$rate" "${cov:-?}" "${corpus:-?}"
}

seeds() {
    command -v openssl >/dev/null || { echo "fuzz.sh seeds needs openssl" >&2; exit 1; }
    for target in FuzzFrameDecoder FuzzWireMessage; do
        rm -rf "${fuzz:?}/Corpus/$target"
        CAMPUSPKI_FUZZ_WRITE_SEEDS="$fuzz/Corpus/$target" "$bin/$target"
    done
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    local csr="$fuzz/Corpus/FuzzCSRIntake" cert="$fuzz/Corpus/FuzzCertificateIntake"
    rm -rf "$csr" "$cert"
    mkdir -p "$csr" "$cert"
    openssl genrsa -out "$tmp/student.key" 2048 2>/dev/null
    openssl genrsa -out "$tmp/small.key" 1024 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ec.key"
    # CSRs: a valid one (as text and as bare DER, which the target wraps into PEM), and one for each refusal.
    openssl req -new -key "$tmp/student.key" -subj /CN=1155123456 -sha256 -out "$csr/valid.pem"
    openssl req -in "$csr/valid.pem" -outform DER -out "$csr/valid.der"
    openssl req -new -key "$tmp/small.key" -subj /CN=1155123456 -sha256 -outform DER -out "$csr/key-too-small.der"
    openssl req -new -key "$tmp/ec.key" -subj /CN=1155123456 -sha256 -outform DER -out "$csr/ec-key.der"
    openssl req -new -key "$tmp/student.key" -subj /CN=1155123456 -sha1 -outform DER -out "$csr/sha1.der"
    openssl req -new -key "$tmp/student.key" -subj "/O=CUHK/CN=Someone" -sha256 -outform DER \
        -out "$csr/no-student-id.der"
    # Cert 2 as CUHK issues it (root, then the student's certificate), a certificate with a small key, and the
    # seed's request text.
    openssl req -x509 -new -key "$tmp/small.key" -subj "/C=HK/O=CUHK/CN=CUHK Root CA" -days 3650 -sha256 \
        -addext basicConstraints=critical,CA:TRUE,pathlen:0 -addext keyUsage=critical,keyCertSign,cRLSign \
        -out "$cert/root.pem"
    openssl req -new -key "$tmp/student.key" -subj "/C=HK/O=CUHK/CN=1155123456" -out "$tmp/student.csr"
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=clientAuth" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$tmp/ext"
    openssl x509 -req -in "$tmp/student.csr" -CA "$cert/root.pem" -CAkey "$tmp/small.key" -set_serial 7 \
        -days 365 -sha256 -extfile "$tmp/ext" -out "$cert/student.pem" 2>/dev/null
    openssl x509 -in "$cert/student.pem" -outform DER -out "$cert/student.der"
    openssl x509 -in "$cert/root.pem" -outform DER -out "$cert/small-key.der"
    printf 'SID:1155123456 requests to upload report !' >"$cert/request-text"
    # Timestamp requests as openssl writes them (SHA-256 with a nonce and certReq, SHA-512 without, and SHA-1, which
    # CUHK refuses), the token and the manifest head of PROTOCOL.md section 9.5.
    local tsa="$fuzz/Corpus/FuzzTimestampIntake"
    rm -rf "$tsa"
    mkdir -p "$tsa"
    printf 'The report of 1155123456.\n' >"$tmp/report"
    openssl ts -query -data "$tmp/report" -sha256 -cert -out "$tsa/query-sha256.tsq" 2>/dev/null
    openssl ts -query -data "$tmp/report" -sha512 -no_nonce -out "$tsa/query-sha512.tsq" 2>/dev/null
    openssl ts -query -data "$tmp/report" -sha1 -cert -out "$tsa/query-sha1.tsq" 2>/dev/null
    sed -n '/^```tsa-vector-token$/,/^```$/p' "$root/docs/PROTOCOL.md" | sed '1d;$d' | sed '1d;$d' |
        openssl base64 -d -out "$tsa/token.der"
    sed -n '/^```manifest-document$/,/^```$/p' "$root/docs/PROTOCOL.md" | sed '1d;$d' >"$tsa/manifest-head"
    # Replies: that token granted (status 0, then the token), and a badAlg rejection.
    local total=$(($(wc -c <"$tsa/token.der") + 5))
    { printf "\\x30\\x82\\x$(printf %02x $((total >> 8)))\\x$(printf %02x $((total & 255)))\\x30\\x03\\x02\\x01\\x00"
        cat "$tsa/token.der"; } >"$tsa/reply-granted.tsr"
    printf '\x30\x09\x30\x07\x02\x01\x02\x03\x02\x07\x80' >"$tsa/reply-bad-alg.tsr"
    echo "wrote $(find "$fuzz/Corpus" -type f | wc -l) seeds to $fuzz/Corpus"
}

mode="${1:-}"
failed=()
case "$mode" in
build)
    build
    ;;
seeds)
    build
    seeds
    ;;
smoke)
    build
    seconds="${FUZZ_SMOKE_SECONDS:-12}"
    echo "== fuzzing each target for $seconds s"
    for target in "${targets[@]}"; do run "$target" -max_total_time="$seconds"; done
    ;;
long)
    build
    runs="${2:-10000000}"
    echo "== fuzzing each target for $runs executions"
    for target in "${targets[@]}"; do run "$target" -runs="$runs"; done
    ;;
*)
    usage
    ;;
esac

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: ${failed[*]} failed; the crashing inputs are in Fuzz/.build/fuzz-work/<target>/" >&2
    exit 1
fi
