#!/usr/bin/env bash
# One HTTP client must not exhaust the server, and a polite one gets every
# answer (issue 10, items 6 and 8), with raw sockets (conn_abuse.py):
#  - item 6: a client that sends its requests and then half-closes
#    (shutdown(SHUT_WR)) still gets every answer, the event it posted
#    acknowledged 202, before the server closes;
#  - item 8: GET /metrics pipelined without reading holds no more than
#    http.max_pending_bytes of answers: the server's memory stays bounded
#    (VmRSS of `up`, measured while the client does not read) and every
#    request is answered, in order, once the client reads.
# Every check runs; the test fails at the end naming each that did not hold.
. "$(dirname "$0")/lib.sh"
# memory is measured: under AddressSanitizer, freed blocks are not to wait in
# its quarantine (256 MiB by default) as if they were still held
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4
PY="/usr/bin/python3 $(dirname "$0")/conn_abuse.py"
problems=()
check() { # check MESSAGE TEST-ARGS...: records MESSAGE unless [ TEST-ARGS ]
  local msg=$1
  shift
  [ "$@" ] || { problems+=("$msg"); echo "NOT OK: $msg" >&2; }
}

# http.max_pending_bytes at its default (1 MiB)
start_up --partitions 2 --processors none --http-listen 127.0.0.1:0
hostport=${url#http://}
host=${hostport%:*} port=${hostport##*:}
token=$("$SB" token --data-dir "$dd" --tenant acme --role manager)

# item 6: half-close after two pipelined requests (the second a health
# check: once the health probes have answered, so that it says 200)
for _ in $(seq 1 150); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/health" || true)" = 200 ] && break
  sleep 0.2
done
out=$($PY halfclose "$host" "$port" "$token")
echo "half-close: $out"
check "item 6: a client that half-closed after its requests got '$out', want both answers (202,200)" \
  "$out" = "ANSWERS 2 STATUS 202,200"

# item 8: 1 MiB of pipelined GET /metrics (about 31,000 requests, each
# answered with several KiB), never read while sent
out=$($PY pipeline "$host" "$port" "$pid" 1048576 200)
echo "pipelining: $out"
read -r _ sent _ base _ peak _ answered <<<"$out"
grew=$(((peak - base) / 1024))
check "item 8: only $sent requests went out (the test needs 20,000)" \
  "$sent" -ge 20000
check "item 8: up grew by $grew MiB while a client pipelined without reading (bound: 64 MiB)" \
  "$grew" -lt 64
check "item 8: up reached $((peak / 1024)) MiB (bound: 300 MiB)" \
  "$peak" -lt $((300 * 1024))
check "item 8: $answered of $sent pipelined requests answered" \
  "$answered" -eq "$sent"

# the server still serves others
s=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/health")
check "health answered $s after the attacks" \
  "$s" = 200

[ ${#problems[@]} -eq 0 ] || fail "$(printf '%s; ' "${problems[@]}")"
stop_up
echo "http_limits: all checks passed"
