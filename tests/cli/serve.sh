#!/usr/bin/env bash
# switchboard serve: the HTTP API alone against a running instance: health,
# ingest and the live feed work, and stopping it says goodbye to clients.
. "$(dirname "$0")/lib.sh"
WS="/usr/bin/python3 $(dirname "$0")/ws_client.py"
spid=
cpid=
cleanup_extra() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null
  [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  return 0
}

expect_error 2 "serve needs an address" "$SB" serve --data-dir "$dd" --http-listen off
expect_error 2 "http.tls_cert: cannot read '$work/nope.pem'" \
  "$SB" serve --data-dir "$dd" --tls-cert "$work/nope.pem" --tls-key "$work/nope.pem"

start_up --partitions 2 --processors none --http-listen off
[ -z "$url" ] || fail "up serves HTTP with --http-listen off"

"$SB" serve --data-dir "$dd" --http-listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
spid=$!
for _ in $(seq 1 300); do
  grep -q '^http: ' "$work/serve.out" && break
  kill -0 "$spid" 2>/dev/null || fail "serve exited early"
  sleep 0.1
done
base=$(sed -n 's/^http: //p' "$work/serve.out")
[ -n "$base" ] || fail "serve printed no http: line"
for _ in $(seq 1 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/health")" = 200 ] && break
  sleep 0.2
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/health")" = 200 ] || fail "serve not ready"

token=$("$SB" token --data-dir "$dd" --tenant acme --role supervisor)
agent=$("$SB" token --data-dir "$dd" --tenant acme --role agent --sub agent-5)
post() {
  s=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' --data-binary "$1" "$base/v1/events")
  [ "$s" = 202 ] || fail "post through serve: $s $(cat "$work/body")"
}
# with no client connected, the hub still learns whose call this is
post '{"specversion":"1.0","type":"call.started","source":"pbx://1","subject":"call-5","time":"'"$(date -u +%FT%TZ)"'","data":{"direction":"outbound","agent_id":"agent-5"}}'
sleep 1
$WS listen "ws://${base#http://}/v1/stream" "$agent" '{"subscribe":{"topics":["sb.calls"]}}' \
  "$work/a5.msgs" 2>"$work/a5.err" &
apid=$!
for _ in $(seq 1 100); do grep -q '"subscribed"' "$work/a5.msgs" 2>/dev/null && break; sleep 0.1; done
post '{"specversion":"1.0","type":"call.ended","source":"pbx://1","subject":"call-5","time":"'"$(date -u +%FT%TZ)"'","data":{}}'
for _ in $(seq 1 100); do grep -q '"call.ended"' "$work/a5.msgs" && break; sleep 0.1; done
grep -q '"type":"call.ended".*"subject":"call-5"' "$work/a5.msgs" ||
  fail "agent-5 did not get its call's event: $(cat "$work/a5.msgs")"
kill "$apid" 2>/dev/null || true
$WS listen "ws://${base#http://}/v1/stream" "$token" '{"subscribe":{"topics":["sb.agents"]}}' \
  "$work/c.msgs" 2>"$work/client.err" &
cpid=$!
for _ in $(seq 1 100); do grep -q '"subscribed"' "$work/c.msgs" 2>/dev/null && break; sleep 0.1; done
s=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' --data-binary \
  '{"specversion":"1.0","type":"agent.logged_in","source":"pbx://1","subject":"agent-3","time":"'"$(date -u +%FT%TZ)"'","data":{}}' \
  "$base/v1/events")
[ "$s" = 202 ] || fail "post through serve: $s $(cat "$work/body")"
for _ in $(seq 1 100); do grep -q '"agent.logged_in"' "$work/c.msgs" && break; sleep 0.1; done
grep -q '"type":"agent.logged_in".*"subject":"agent-3"' "$work/c.msgs" ||
  fail "the live feed of serve: $(cat "$work/c.msgs")"

kill -TERM "$spid"; wait "$spid" || fail "serve exited non-zero"; spid=
wait "$cpid" || true; cpid=
grep -q '^CLOSED 1001' "$work/c.msgs" || fail "no goodbye: $(tail -1 "$work/c.msgs")"
echo "serve: all checks passed"
