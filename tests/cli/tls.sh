#!/usr/bin/env bash
# HTTPS: with --tls-cert and --tls-key, `up` serves the HTTP API over TLS
# (1.2 at least): health through a verified certificate, keep-alive and
# pipelining over one TLS connection (past the in-flight bound, so reading
# pauses and resumes inside TLS), plain HTTP and garbage refused, TLS 1.1
# refused, a handshake that does not finish is closed, and key material never
# logged. A bad certificate or key fails `up` in one line before anything
# starts.
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null ||
  fail "the openssl command is missing: install the Debian package 'openssl'"
dd=$work/data
pid=
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  "$SB" postgres stop --data-dir "$dd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# a self-signed certificate for 127.0.0.1, and a key that is not its
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>"$work/openssl.err" ||
  fail "openssl req: $(cat "$work/openssl.err")"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 \
  -out "$work/other.pem" 2>>"$work/openssl.err" || fail "openssl genpkey"

# bad files: one line naming the file, nothing started
expect_error 2 "http.tls_key: cannot read '$work/nope.pem': No such file or directory" \
  "$SB" up --data-dir "$dd" --processors none --tls-cert "$work/cert.pem" \
  --tls-key "$work/nope.pem"
expect_error 2 "http.tls_cert is set but http.tls_key is not" \
  "$SB" up --data-dir "$dd" --processors none --tls-cert "$work/cert.pem"
expect_error 2 "http.tls_key: the key in '$work/other.pem' does not match the certificate" \
  "$SB" up --data-dir "$dd" --processors none --tls-cert "$work/cert.pem" \
  --tls-key "$work/other.pem"
expect_error 2 "http.tls_cert: no certificate in '$work/key.pem'" \
  "$SB" up --data-dir "$dd" --processors none --tls-cert "$work/key.pem" \
  --tls-key "$work/key.pem"
[ ! -e "$dd/runtime.conf" ] || fail "a failed up left runtime.conf"

"$SB" up --data-dir "$dd" --processors none --partitions 2 \
  --http-listen 127.0.0.1:0 --tls-cert "$work/cert.pem" \
  --tls-key "$work/key.pem" --set http.request_timeout_ms=1000 \
  --log-level debug >"$work/up.out" 2>"$work/up.err" &
pid=$!
for _ in $(seq 1 600); do
  grep -q '^http: ' "$work/up.out" && break
  kill -0 "$pid" 2>/dev/null || fail "up exited early"
  sleep 0.1
done
url=$(sed -n 's/^http: //p' "$work/up.out")
[[ $url =~ ^https://127\.0\.0\.1:[0-9]+$ ]] || fail "http line is not https: '$url'"
grep -qx "http = $url" "$dd/runtime.conf" || fail "runtime.conf lacks the https url"
hostport=${url#https://}
port=${url##*:}
tls() { curl -s --cacert "$work/cert.pem" "$@"; }

# health, with the certificate verified
for _ in $(seq 1 50); do
  tls "$url/v1/health" | grep -q '"status":"ready"' && break
  sleep 0.2
done
tls -i "$url/v1/health" >"$work/h" || fail "curl https health"
grep -q '^HTTP/1.1 200' "$work/h" || fail "health over TLS not 200: $(cat "$work/h")"

# keep-alive: two requests, one TLS connection
[ "$(tls -o /dev/null -o /dev/null -w '%{num_connects}\n' "$url/v1/health" "$url/metrics" | tr '\n' ' ')" = "1 0 " ] ||
  fail "keep-alive over TLS: a second connection was opened"

# pipelining over one TLS connection: 40 events answered after Kafka
# acknowledged them (more than the 32 in flight: reading pauses and resumes
# with plaintext left inside TLS), then a 404, in order
token=$("$SB" token --data-dir "$dd" --tenant acme --role manager)
ev='{"specversion":"1.0","type":"lead.created","source":"crm://t","subject":"lead-1","time":"'"$(date -u +%FT%TZ)"'","data":{"lead_source":"web_form"}}'
{
  for _ in $(seq 1 40); do
    printf 'POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
      "$token" "${#ev}" "$ev"
  done
  printf 'GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
} >"$work/pipe"
timeout 30 openssl s_client -quiet -ign_eof -connect "$hostport" \
  -CAfile "$work/cert.pem" -verify_return_error <"$work/pipe" \
  >"$work/pipe.out" 2>"$work/s_client.err" || true
[ "$(grep -a '^HTTP/1.1' "$work/pipe.out" | cut -d' ' -f2 | uniq -c | tr -s ' ' | tr '\n' ';')" = " 40 202; 1 404;" ] ||
  fail "pipelined over TLS: $(grep -a '^HTTP' "$work/pipe.out" | sort | uniq -c)"

# plain HTTP to the TLS port: refused (a plain 400 saying so), server fine
code=$(curl -s -m 5 -o "$work/plain" -w '%{http_code}' "http://$hostport/v1/health" || true)
[ "$code" = 400 ] || [ "$code" = 000 ] || fail "plain HTTP on the TLS port: $code"
[ "$code" = 000 ] || grep -q '"code":"tls_required"' "$work/plain" ||
  fail "plain HTTP answer: $(cat "$work/plain")"
# bytes that are neither: closed
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf '\x16\x03\x01\x00\x05garbage-garbage\r\n' >&3
timeout 5 cat <&3 >/dev/null || fail "garbage on the TLS port: not closed"
exec 3<&- 3>&-

# TLS 1.1 refused by the server (the client offers it with any cipher);
# TLS 1.2 accepted
openssl s_client -connect "$hostport" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
  </dev/null >"$work/t11" 2>&1 && fail "TLS 1.1 was accepted: $(cat "$work/t11")"
grep -q 'alert protocol version' "$work/t11" ||
  fail "TLS 1.1 not refused for its version: $(grep -i error "$work/t11")"
openssl s_client -connect "$hostport" -tls1_2 -CAfile "$work/cert.pem" \
  -verify_return_error </dev/null >"$work/t12" 2>&1 || fail "TLS 1.2 refused: $(cat "$work/t12")"
grep -q 'Protocol *: TLSv1.2' "$work/t12" || fail "TLS 1.2: $(cat "$work/t12")"

# a handshake that never comes is closed after http.request_timeout_ms
exec 3<>"/dev/tcp/127.0.0.1/$port"
start=$SECONDS
timeout 10 cat <&3 >/dev/null || fail "silent TLS client not closed within 10 s"
exec 3<&- 3>&-
[ $((SECONDS - start)) -le 4 ] || fail "silent TLS client closed too late"

tls "$url/v1/health" | grep -q '"status":"ready"' || fail "not ready after the refusals"
grep -q 'TLS handshake failed.*reason="http request"' "$work/up.err" ||
  fail "plain HTTP refusal not logged"
grep -q 'TLS handshake did not complete in time' "$work/up.err" ||
  fail "handshake timeout not logged"
# no key material in the log
sed -n '2p' "$work/key.pem" >"$work/keyline"
grep -q 'PRIVATE KEY' "$work/up.err" && fail "the log shows a private key"
grep -qFf "$work/keyline" "$work/up.err" && fail "the log shows key bytes"

kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "tls: all checks passed"
