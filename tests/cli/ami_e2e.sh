#!/usr/bin/env bash
# Calls from a PBX flow through routing, analytics and the live feed like
# posted ones (issue 18's done-when), and the connector's state is on
# /metrics and /v1/health (item 5): `up` with every processor runs the AMI
# connector against the test AMI server (tests/ami/ami_server.py); an
# inbound queue call answered and one abandoned (tests/ami/map's flows,
# moved to now) reach a supervisor's WebSocket as they happen, routing's
# agent board and the analytics call figures once counted. The PBX then goes away (its session
# closed, new ones refused): /metrics says connected 0 and counts the
# reconnect, /v1/health says degraded with the PBX's line (connected
# false, since, last_error closed); back once the PBX takes connections.
# Never a host, user or secret in either.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_ami.sh"
here=$(cd "$(dirname "$0")/.." && pwd)

secret=Zm9vYmFyLWUyZS1hbWk
start_pbx "$secret"

# the flows, moved so that the answered call began 15 minutes ago and the
# abandoned one 5 (the PBX's times are the events' times: analytics buckets
# them there)
$PY "$here/ami/shift_flow.py" 900 "$work" "$here/ami/map/queue_answered.ami" \
  "$here/ami/map/queue_abandoned.ami" || fail "cannot move the flows"
mv "$work/queue_answered.ami" "$work/answered.ami"
mv "$work/queue_answered.call" "$work/answered.call"
mv "$work/queue_abandoned.ami" "$work/abandoned.ami"
mv "$work/queue_abandoned.call" "$work/abandoned.call"

start_up --http-listen 127.0.0.1:0 --set "ami.pbx_file=$work/pbx" \
  --set "ami.secrets_file=$work/secrets" --set ami.reconnect_min_ms=50 \
  --set ami.reconnect_max_ms=200 --set analytics.disposition_wait_s=1
[ -n "$url" ] || fail "up serves no HTTP"

# health: HTTP status, then the body, into $work/health
health() {
  curl -s -m 10 -o "$work/health" -w '%{http_code}' "$url/v1/health" || true
}
metrics() { curl -s -m 10 "$url/metrics" >"$work/metrics" || fail "GET /metrics"; }
# metric NAME LABELS: its value on the last page read ("" when absent)
metric() {
  grep -F "$1{$2} " "$work/metrics" | sed 's/.* //' || true
}
# wait_health STATUS CONNECTED: /v1/health says status STATUS and eu1's
# connected is CONNECTED (true, false)
wait_health() {
  local code
  for _ in $(seq 200); do
    code=$(health)
    [ "$code" = 200 ] && $PY - "$work/health" "$1" "$2" <<'PYEOF' && return 0
import json, sys
d = json.load(open(sys.argv[1]))
ok = d.get("status") == sys.argv[2] and \
    json.dumps(d.get("ami", {}).get("eu1", {}).get("connected")) == sys.argv[3]
sys.exit(0 if ok else 1)
PYEOF
    sleep 0.1
  done
  fail "/v1/health is not $1 with eu1 connected $2: $code $(cat "$work/health")"
}
# wait_metric NAME LABELS VALUE
wait_metric() {
  for _ in $(seq 200); do
    metrics
    [ "$(metric "$1" "$2")" = "$3" ] && return 0
    sleep 0.1
  done
  fail "$1{$2} is not $3: $(grep -F "$1{" "$work/metrics")"
}

wait_health ready true
wait_metric switchboard_ami_synced 'pbx="eu1"' 1
[ "$(metric switchboard_ami_connected 'pbx="eu1"')" = 1 ] || fail "not connected on /metrics"
[ "$(metric switchboard_ami_reconnects_total 'pbx="eu1"')" = 0 ] || fail "a reconnect counted"
[ "$(metric switchboard_ami_resyncs_total 'pbx="eu1"')" = 1 ] || fail "resyncs not 1"

# a supervisor watches the calls live
sup=$("$SB" token --data-dir "$dd" --tenant acme --role supervisor --sub sup-1)
mgr=$("$SB" token --data-dir "$dd" --tenant acme --role manager --sub mia)
$PY "$(dirname "$0")/ws_client.py" listen "ws://${url#http://}/v1/stream" "$sup" \
  '{"subscribe":{"topics":["sb.calls"],"types":["call.*"]}}' "$work/ws" \
  2>"$work/ws.err" &
ws_pid=$!
cleanup_extra() {
  kill "$ws_pid" 2>/dev/null
  [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
  return 0
}
for _ in $(seq 100); do grep -q '"subscribed"' "$work/ws" 2>/dev/null && break; sleep 0.1; done
grep -q '"subscribed"' "$work/ws" || fail "the supervisor did not subscribe: $(cat "$work/ws" "$work/ws.err")"

case "$(ctl "play $work/answered.ami")" in "ok "[1-9]*) ;; *) false ;; esac || fail "play answered"
case "$(ctl "play $work/abandoned.ami")" in "ok "[1-9]*) ;; *) false ;; esac || fail "play abandoned"

# (b) the supervisor's feed: every call event of both calls, in each
# call's order
want_answered="call.started call.queued call.offered call.connected call.ended"
want_abandoned="call.started call.queued call.abandoned call.ended"
feed() { # feed CALL_ID: the types of its events on the feed, in order
  $PY - "$work/ws" "$1" <<'PYEOF'
import json, sys
out = []
for l in open(sys.argv[1]):
    if not l.startswith("{"):
        continue
    d = json.loads(l)
    if d.get("subject") == sys.argv[2]:
        out.append(d["type"])
print(" ".join(out))
PYEOF
}
c1=$(cat "$work/answered.call")
c2=$(cat "$work/abandoned.call")
for _ in $(seq 200); do
  [ "$(feed "$c1")" = "$want_answered" ] && [ "$(feed "$c2")" = "$want_abandoned" ] && break
  sleep 0.1
done
[ "$(feed "$c1")" = "$want_answered" ] ||
  fail "the answered call on the supervisor's feed: '$(feed "$c1")'"
[ "$(feed "$c2")" = "$want_abandoned" ] ||
  fail "the abandoned call on the supervisor's feed: '$(feed "$c2")'"

# (a) the analytics call figures (queues support and sales): both offered, one
# answered (after the 1 s disposition wait), one abandoned
from=$(date -u -d '-1 day' +%F)
figures() {
  curl -s -m 10 -H "Authorization: Bearer $mgr" \
    "$url/v1/analytics/calls?from=$from" >"$work/calls"
  $PY - "$work/calls" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
rows = d.get("rows", [])
s = lambda k: sum(int(r.get(k) or 0) for r in rows)
print("calls %d offered %d answered %d abandoned %d handled %d inbound %d" %
      (s("calls"), s("offered"), s("answered"), s("abandoned"), s("handled"),
       s("inbound")))
PYEOF
}
want="calls 2 offered 2 answered 1 abandoned 1 handled 1 inbound 2"
for _ in $(seq 300); do
  [ "$(figures)" = "$want" ] && break
  sleep 0.1
done
[ "$(figures)" = "$want" ] || {
  metrics
  fail "analytics calls: $(figures) ($(head -c 600 "$work/calls"));
calls_hour: $(q "SELECT hour_start, queue_id, agent_id, direction, calls, offered, answered, abandoned FROM analytics.calls_hour" 2>&1);
$(grep -E '^switchboard_(events_processed|deadletters)_total\{processor="analytics"' "$work/metrics");
$(grep -o '"type":"call[^,]*,.*"time":"[^"]*"' "$work/ws" | sed 's/"source.*"time"/ /')"
}

# routing's live agent board: the PBX's agents by interface (Alice
# available again: her states of the call are older than the resync's,
# which the PBX gave no time for; Bob paused), Alice's call counted
board() {
  curl -s -m 10 -H "Authorization: Bearer $mgr" "$url/v1/projections/routing/agents" >"$work/board"
  $PY - "$work/board" <<'PYEOF'
import json, sys
rows = json.load(open(sys.argv[1])).get("rows", [])
print(" ".join(sorted("%s=%s/%s/%s/%s" % (r.get("agent_id"), r.get("state"), r.get("queues"),
                                          r.get("call_id"), r.get("calls_on_day"))
                      for r in rows)))
PYEOF
}
want="PJSIP/agent1=available/support/$c1/1 PJSIP/agent2=paused/support/None/None"
for _ in $(seq 100); do [ "$(board)" = "$want" ] && break; sleep 0.1; done
[ "$(board)" = "$want" ] || fail "routing's board: $(board) ($(head -c 600 "$work/board"))"

# the counters of what was read, made and produced
metrics
[ "$(metric switchboard_ami_unmapped_total 'pbx="eu1",event="VarSet"')" = 1 ] ||
  fail "VarSet not counted unmapped: $(grep -F unmapped "$work/metrics")"
[ "$(metric switchboard_ami_events_total 'pbx="eu1"')" -ge 20 ] || fail "events read"
made=$(metric switchboard_ami_produced_total 'pbx="eu1"')
[ "$made" -ge 15 ] || fail "made $made events"
for _ in $(seq 100); do # ingest's answer is counted within 200 ms
  [ "$(metric switchboard_ami_ingested_total 'pbx="eu1",outcome="accepted"')" = "$made" ] && break
  sleep 0.1
  metrics
done
[ "$(metric switchboard_ami_ingested_total 'pbx="eu1",outcome="accepted"')" = "$made" ] ||
  fail "accepted, of $made: $(grep -F ingested "$work/metrics")"
[ "$(metric switchboard_ami_ingested_total 'pbx="eu1",outcome="refused"')" = 0 ] ||
  fail "ingest refused some: $(grep -F ingested "$work/metrics")"
[ "$(metric switchboard_ami_dropped_total 'pbx="eu1"')" = 0 ] || fail "dropped"
grep -q '^# TYPE switchboard_ami_waiting gauge$' "$work/metrics" || fail "waiting not a gauge"

# unmapped events by name, bounded: 40 names more (one not fit for a
# label) make at most 32 named series, the rest in event="other"
$PY - "$work/names.ami" <<'PYEOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(40):
        f.write("Event: Custom%02d\nPrivilege: user,all\n\n" % i)
    f.write('Event: Bad"Name\\\nPrivilege: user,all\n\n')
PYEOF
unmapped_before=$(grep -F 'switchboard_ami_unmapped_total{pbx="eu1"' "$work/metrics" |
  awk '{s += $2} END {print s}')
[ "$(ctl "play $work/names.ami")" = "ok 41" ] || fail "play names"
for _ in $(seq 100); do
  metrics
  [ "$(grep -F 'switchboard_ami_unmapped_total{pbx="eu1"' "$work/metrics" |
    awk '{s += $2} END {print s}')" = $((unmapped_before + 41)) ] && break
  sleep 0.1
done
$PY - "$work/metrics" "$((unmapped_before + 41))" <<'PYEOF' || fail "unmapped series: $(grep -F unmapped_total "$work/metrics")"
import re, sys
rows = [l for l in open(sys.argv[1]) if l.startswith('switchboard_ami_unmapped_total{pbx="eu1"')]
names = [re.search(r'event="([^"]*)"', l).group(1) for l in rows]
assert len(rows) == 33, rows
assert names[-1] == "other" and len(set(names)) == 33, names
assert all(re.fullmatch(r"[A-Za-z0-9_]+", n) for n in names), names
assert sum(int(l.split()[-1]) for l in rows) == int(sys.argv[2]), rows
assert int(rows[-1].split()[-1]) >= 9, rows[-1] # the names past 32, and Bad"Name
PYEOF

# the PBX goes away: connected 0, the reconnect counted, health degraded
# (200: the process serves; what it lacks is that PBX's calls)
[ "$(ctl refuse)" = "ok 1" ] || fail "refuse"
wait_health degraded false
$PY - "$work/health" <<'PYEOF' || fail "the PBX's health line: $(cat "$work/health")"
import json, sys, datetime
d = json.load(open(sys.argv[1]))
p = d["ami"]["eu1"]
assert p["last_error"] == "closed", p
assert p["synced"] is False, p
since = datetime.datetime.fromisoformat(p["since"].replace("Z", "+00:00"))
age = (datetime.datetime.now(datetime.timezone.utc) - since).total_seconds()
assert 0 <= age < 60, p
assert d["kafka"] == "ok" and d["postgres"] == "ok", d
PYEOF
wait_metric switchboard_ami_connected 'pbx="eu1"' 0
[ "$(metric switchboard_ami_reconnects_total 'pbx="eu1"')" = 1 ] ||
  fail "the reconnect not counted: $(grep -F reconnects "$work/metrics")"
cp "$work/metrics" "$work/metrics.down"
cp "$work/health" "$work/health.down"

# back: connected, resynchronised again, ready
[ "$(ctl accept)" = ok ] || fail "accept"
wait_health ready true
wait_metric switchboard_ami_resyncs_total 'pbx="eu1"' 2
[ "$(metric switchboard_ami_connected 'pbx="eu1"')" = 1 ] || fail "not connected again"
[ "$(metric switchboard_ami_reconnects_total 'pbx="eu1"')" = 1 ] || fail "reconnects"
$PY - "$work/health" <<'PYEOF' || fail "the PBX's health line: $(cat "$work/health")"
import json, sys
p = json.load(open(sys.argv[1]))["ami"]["eu1"]
assert p["connected"] is True and p["last_error"] == "closed", p
PYEOF

# no host, user, tenant or secret in what anyone may read
for f in "$work"/metrics* "$work"/health*; do
  for s in "$secret" 127.0.0.1 "port=$port" 'user=' tenant=acme acme; do
    grep -F "ami" "$f" | grep -qF -- "$s" && fail "'$s' in $f"
  done
done
stop_up
# what `run` has of them too: the final counters in the log
grep -q "ami: a PBX's final counters pbx=eu1 .* reconnects=1 resyncs=2 .*dropped=0 waiting=0" \
  "$work/up.err" || fail "no final counters: $(grep -F 'final counters' "$work/up.err")"
kill "$ws_pid" 2>/dev/null || true
for f in "$work"/*.out "$work"/*.err "$work"/ws; do
  grep -q -- "$secret" "$f" && fail "a secret in $f"
done
echo "ok"
