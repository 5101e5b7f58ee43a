#!/usr/bin/env bash
# An agent's calls and leads stay its own across a restart (issue 10, item
# 12): the live feed reads hub.ownership_history_seconds of sb.calls and
# sb.leads back at start, so a server that started after a call began (a
# restarted `up`, a new `serve` replica) still lets the call's agent, and
# only that agent, disposition it; with the history off it cannot, and
# says so. The history is never sent to WebSocket clients.
. "$(dirname "$0")/lib.sh"
start_up --partitions 2 --processors none
manager=$("$SB" token --data-dir "$dd" --tenant acme --role manager --sub mgr-1)
agent7=$("$SB" token --data-dir "$dd" --tenant acme --role agent --sub agent-7)
agent8=$("$SB" token --data-dir "$dd" --tenant acme --role agent --sub agent-8)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ev() { # ev TYPE SUBJECT DATA
  printf '{"specversion":"1.0","type":"%s","source":"crm://t","subject":"%s","time":"%s","data":%s}' \
    "$1" "$2" "$now" "$3" >"$work/ev.json"
}
post() { # post BASE TOKEN -> $status, body in $work/body
  status=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $2" \
    -H 'Content-Type: application/json' --data-binary @"$work/ev.json" "$1/v1/events")
}
ev call.started call-40 '{"direction":"outbound","agent_id":"agent-7","lead_id":"lead-40"}'
post "$url" "$manager"
[ "$status" = 202 ] || fail "call-40 started: $status $(cat "$work/body")"

# restart: the journal brings the log back, the hub reads the history
stop_up
start_up --partitions 2 --processors none
# disposition_by BASE TOKEN: posts call-40's disposition until the server
# has read its history (at most 10 s); $status is the last answer
disposition_by() {
  ev call.dispositioned call-40 '{"disposition":"sale"}'
  for _ in $(seq 1 100); do
    post "$1" "$2"
    [ "$status" = 202 ] && return 0
    grep -qF 'belongs to another agent' "$work/body" && return 0
    sleep 0.1
  done
}
disposition_by "$url" "$agent8"
[ "$status" = 403 ] && grep -qF 'call call-40 belongs to another agent' "$work/body" ||
  fail "agent-8 dispositioning agent-7's call-40 after a restart: $status $(cat "$work/body")"
disposition_by "$url" "$agent7"
[ "$status" = 202 ] ||
  fail "agent-7 dispositioning its call-40 after a restart: $status $(cat "$work/body")"
ev lead.status_changed lead-40 '{"status":"qualified"}'
post "$url" "$agent7"
[ "$status" = 202 ] || fail "agent-7 on its lead-40 after a restart: $status $(cat "$work/body")"

# a new serve replica learns the same; with the history off it does not
# know the call at all
serve() { # serve NAME [ARGS...]: starts a replica, sets sbase
  "$SB" serve --data-dir "$dd" --http-listen 127.0.0.1:0 "${@:2}" >"$work/$1.out" 2>"$work/$1.err" &
  spids+=($!)
  for _ in $(seq 1 300); do
    sbase=$(sed -n 's/^http: //p' "$work/$1.out")
    [ -n "$sbase" ] && return 0
    sleep 0.1
  done
  fail "serve $1 printed no http line: $(tail -3 "$work/$1.err")"
}
spids=()
cleanup_extra() { for p in "${spids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; return 0; }
serve s1
disposition_by "$sbase" "$agent7"
[ "$status" = 202 ] || fail "agent-7 on call-40 through a new serve: $status $(cat "$work/body")"
serve s2 --set hub.ownership_history_seconds=0
sleep 1
ev call.dispositioned call-40 '{"disposition":"sale"}'
post "$sbase" "$agent7"
[ "$status" = 403 ] && grep -qF 'does not know call call-40' "$work/body" ||
  fail "with the history off, call-40 is unknown to a new serve: $status $(cat "$work/body")"

# the history is not replayed to WebSocket clients: a supervisor connected
# to the restarted server sees only what is posted afterwards
sup=$("$SB" token --data-dir "$dd" --tenant acme --role supervisor --sub sup-1)
/usr/bin/python3 "$(dirname "$0")/ws_client.py" listen "ws://${url#http://}/v1/stream" "$sup" \
  '{"subscribe":{"topics":["sb.calls","sb.leads"]}}' "$work/ws.out" 2>"$work/ws.err" &
wsp=$!
spids+=($wsp)
for _ in $(seq 1 50); do grep -q '"subscribed"' "$work/ws.out" 2>/dev/null && break; sleep 0.1; done
ev call.started call-42 '{"direction":"inbound","agent_id":"agent-8"}'
post "$url" "$manager"
for _ in $(seq 1 50); do grep -q 'call-42' "$work/ws.out" && break; sleep 0.1; done
grep -q 'call-42' "$work/ws.out" || fail "the supervisor saw no call-42: $(cat "$work/ws.out")"
grep -q 'call-40\|lead-40' "$work/ws.out" && fail "history was sent to a WebSocket client: $(cat "$work/ws.out")"
echo "ownership: learnt back across a restart and by a new replica; history not sent"
