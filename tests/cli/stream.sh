#!/usr/bin/env bash
# GET /v1/stream with an independent WebSocket client (python3-websockets):
# events posted over HTTP reach subscribed clients; another tenant's client
# gets none of them; an agent gets only its own events and those of its calls
# and leads; type filters hold; a stalled client is closed, told why and
# counted while the others receive everything; bad handshakes, tokens,
# subscriptions, unmasked frames and oversized messages are refused.
. "$(dirname "$0")/lib.sh"
WS="/usr/bin/python3 $(dirname "$0")/ws_client.py"
clients=()
cleanup_extra() { for c in "${clients[@]}"; do kill "$c" 2>/dev/null || true; done; }

start_up --partitions 2 --processors none --http-listen 127.0.0.1:0 \
  --set hub.send_queue_bytes=262144
base=$url
hostport=${base#http://}
ws=ws://$hostport/v1/stream

tok() { "$SB" token --data-dir "$dd" --tenant "$1" --role "$2" ${3:+--sub "$3"}; }
manager=$(tok acme manager)
globex=$(tok globex manager)
agent7=$(tok acme agent agent-7)
agent8=$(tok acme agent agent-8)

# clients: each records what it receives in its own file
listen() { # listen NAME TOKEN SUBSCRIBE_JSON
  $WS listen "$ws" "$2" "$3" "$work/$1.msgs" 2>"$work/$1.client.err" &
  clients+=($!)
}
all='{"subscribe":{"topics":["sb.leads","sb.calls"]}}'
listen mgr "$manager" "$all"
listen leadsonly "$manager" '{"subscribe":{"topics":["sb.leads","sb.calls"],"types":["lead.*"]}}'
listen globex "$globex" "$all"
listen a7 "$agent7" "$all"
listen a8 "$agent8" "$all"
$WS stall "$ws" "$manager" "$all" "$work/stalled.msgs" "$work/stalled.resume" 2>"$work/stalled.client.err" &
clients+=($!)
for f in mgr leadsonly globex a7 a8 stalled; do
  for _ in $(seq 1 100); do
    [ "$(wc -l <"$work/$f.msgs" 2>/dev/null || echo 0)" -ge 2 ] && break
    sleep 0.1
  done
  grep -q '"subscribed"' "$work/$f.msgs" || fail "$f not subscribed: $(cat "$work/$f.msgs" 2>/dev/null)"
done
grep -q '"welcome":{"tenant":"acme","role":"agent","sub":"agent-7"' "$work/a7.msgs" ||
  fail "welcome: $(head -1 "$work/a7.msgs")"

post() { # post TOKEN JSON
  local s
  s=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' --data-binary "$2" "$base/v1/events")
  [ "$s" = 202 ] || fail "post: $s $(cat "$work/body")"
}
ce() { # ce TYPE SUBJECT DATA_JSON
  printf '{"specversion":"1.0","type":"%s","source":"crm://t","subject":"%s","time":"'"$(date -u +%FT%TZ)"'","data":%s}' "$1" "$2" "$3"
}
post "$manager" "$(ce call.started call-1 '{"direction":"outbound","agent_id":"agent-7","lead_id":"lead-1"}')"
post "$manager" "$(ce call.ended call-1 '{}')"
post "$manager" "$(ce lead.updated lead-1 '{"changed_fields":["email"],"email":"a@example.com"}')"
post "$manager" "$(ce call.started call-2 '{"direction":"inbound","agent_id":"agent-8"}')"
post "$globex" "$(ce lead.created globex-lead '{"lead_source":"web_form"}')"

events() { grep -c '"specversion"' "$work/$1.msgs" || true; }
wait_events() { # wait_events NAME N
  for _ in $(seq 1 100); do
    [ "$(events "$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  fail "$1 received $(events "$1") events, want $2: $(tail -1 "$work/$1.msgs" | cut -c1-200)"
}
wait_events mgr 4
wait_events a7 3
wait_events a8 1
wait_events leadsonly 1
wait_events globex 1
sleep 0.5 # anything extra would have arrived by now
subjects() { grep '"specversion"' "$work/$1.msgs" | sed 's/.*"subject":"\([^"]*\)".*"type":"\([^"]*\)".*/\2 \1/;s/.*"type":"\([^"]*\)".*"subject":"\([^"]*\)".*/\1 \2/' | sort | tr '\n' ','; }
[ "$(events mgr)" = 4 ] || fail "manager: $(subjects mgr)"
[ "$(subjects a7)" = "call.ended call-1,call.started call-1,lead.updated lead-1," ] ||
  fail "agent-7 saw: $(subjects a7)"
[ "$(subjects a8)" = "call.started call-2," ] || fail "agent-8 saw: $(subjects a8)"
[ "$(subjects leadsonly)" = "lead.updated lead-1," ] || fail "type filter: $(subjects leadsonly)"
[ "$(subjects globex)" = "lead.created globex-lead," ] || fail "globex saw: $(subjects globex)"
grep -q '"tenantid":"acme"' "$work/globex.msgs" && fail "globex saw an acme event"

# a stalled client is closed and counted; the others receive everything
metric() { curl -s "$base/metrics" | sed -n "s/^$1 //p"; }
# the stalled client reads again as soon as its close is counted: the
# server lingers 10 s for it to read the close, however long the flood
# takes to reach the others on a loaded machine
(for _ in $(seq 1 1200); do
  [ "$(metric 'switchboard_ws_closed_total{reason="slow"}')" = 1 ] && break
  sleep 0.05
done
touch "$work/stalled.resume") &
big=$(printf 'x%.0s' $(seq 1 1500))
for b in $(seq 1 12); do
  {
    printf '['
    for i in $(seq 1 50); do
      [ "$i" -gt 1 ] && printf ','
      ce lead.updated "flood-$b-$i" "{\"changed_fields\":[\"custom_fields_json\"],\"custom_fields_json\":\"{\\\"n\\\":\\\"$big\\\"}\"}"
    done
    printf ']'
  } >"$work/flood"
  s=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $manager" \
    -H 'Content-Type: application/cloudevents-batch+json' --data-binary @"$work/flood" "$base/v1/events")
  [ "$s" = 202 ] || fail "flood: $s $(head -c 300 "$work/body")"
done
wait_events mgr 604
wait_events leadsonly 601
for _ in $(seq 1 300); do
  [ "$(metric 'switchboard_ws_closed_total{reason="slow"}')" = 1 ] && break
  sleep 0.1
done
[ "$(metric 'switchboard_ws_closed_total{reason="slow"}')" = 1 ] ||
  fail "the stalled client was not counted: $(curl -s "$base/metrics" | grep ws_)"
[ "$(events a7)" = 3 ] || fail "agent-7 got the flood"
grep -q 'closing a client that does not keep up' "$work/up.err" || fail "no log line for the slow client"

# handshakes, tokens and subscriptions that are refused
code() { curl -s -o "$work/body" -w '%{http_code}' "$@"; }
[ "$(code "$base/v1/stream")" = 426 ] || fail "plain GET: not 426"
hs=(-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13')
[ "$(code "${hs[@]}" -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$base/v1/stream")" = 401 ] ||
  fail "no token: not 401"
grep -q '"code":"missing"' "$work/body" || fail "no token: $(cat "$work/body")"
[ "$(code "${hs[@]}" -H 'Sec-WebSocket-Key: short' -H "Authorization: Bearer $manager" \
  "$base/v1/stream")" = 400 ] || fail "bad key: not 400"
$WS query "$ws" "$agent7" "$work/query.msgs"
grep -q '"welcome":{"tenant":"acme","role":"agent"' "$work/query.msgs" || fail "token in the query"
grep -q '^CLOSED 1000' "$work/query.msgs" || fail "normal close: $(cat "$work/query.msgs")"
$WS listen "$ws" "$agent7" '{"subscribe":{"topics":["sb.compliance"]}}' "$work/denied.msgs" &
clients+=($!)
for _ in $(seq 1 50); do grep -q 'bad_subscription' "$work/denied.msgs" 2>/dev/null && break; sleep 0.1; done
grep -q 'role agent may not subscribe to sb.compliance' "$work/denied.msgs" ||
  fail "agent subscribing to sb.compliance: $(cat "$work/denied.msgs")"
$WS big "$ws" "$manager" "$work/big.msgs" 100000
grep -q '^CLOSED 1009' "$work/big.msgs" || fail "oversized message: $(cat "$work/big.msgs")"
$WS unmasked "${hostport%:*}" "${hostport##*:}" "$manager" "$work/unmasked.msgs"
grep -q '^HTTP/1.1 101' "$work/unmasked.msgs" && grep -q '^CLOSED 1002' "$work/unmasked.msgs" ||
  fail "unmasked frame: $(cat "$work/unmasked.msgs")"
[ "$(metric 'switchboard_ws_closed_total{reason="protocol"}')" -ge 2 ] ||
  fail "protocol closes not counted"

# the stalled client, reading again, is told why it was closed
wait "${clients[5]}" || true
grep -q '^CLOSED 1008 too slow' "$work/stalled.msgs" ||
  fail "the stalled client was not told why: $(tail -1 "$work/stalled.msgs" | cut -c1-200)"

# stopping says goodbye to the clients still connected
stop_up
for f in mgr a7; do
  for _ in $(seq 1 50); do grep -q '^CLOSED' "$work/$f.msgs" && break; sleep 0.1; done
  grep -q '^CLOSED 1001' "$work/$f.msgs" || fail "$f: $(tail -1 "$work/$f.msgs")"
done
echo "stream: all checks passed"
