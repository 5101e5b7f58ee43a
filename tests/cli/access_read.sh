#!/usr/bin/env bash
# Reads are audited (issue 12, item 7): a projection read over the API
# (GET /v1/projection) appears in the audit log (audit.events, through
# `audit export`) as access.recorded READ with the caller's address, user
# agent, role, route, projection, filters and row count; a denied read is
# refused 403 and recorded as security.access_denied; a flood of identical
# reads is recorded as a bounded number of records whose attempts add up
# to every read; and with the broker down a read fails 503 instead of
# being answered unrecorded (a `serve` against the instance, whose broker
# is stopped with SIGSTOP).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
spid=
cleanup_extra() {
  [ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null
  [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  return 0
}

WINDOW=2000
export SWITCHBOARD_ACCESS_WINDOW_MS=$WINDOW
start_up --partitions 2 --processors audit --http-listen 127.0.0.1:0
admin=$("$SB" token --data-dir "$dd" --tenant acme --role admin --sub alice)
agent=$("$SB" token --data-dir "$dd" --tenant acme --role agent --sub agent-7)

now() { date -u +%FT%TZ; }
s=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/x-ndjson' --data-binary \
  '{"specversion":"1.0","type":"lead.created","source":"crm://web","subject":"lead-1","time":"'"$(now)"'","data":{"lead_source":"web_form"}}
{"specversion":"1.0","type":"lead.created","source":"crm://web","subject":"lead-2","time":"'"$(now)"'","data":{"lead_source":"web_form"}}' \
  "$url/v1/events")
[ "$s" = 202 ] || fail "post: $s $(cat "$work/body")"
for _ in $(seq 1 100); do
  [ "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'lead.created'")" = 2 ] && break
  sleep 0.2
done

# read(TOKEN, QUERY, UA): prints the status; the body in $work/read
read_() {
  curl -s -o "$work/read" -w '%{http_code}' -A "$3" -H "Authorization: Bearer $1" \
    "$url/v1/projection?$2"
}
s=$(read_ "$admin" 'name=audit.events&event_type=lead.created&limit=10' 'reader-test/1.0')
[ "$s" = 200 ] || fail "read: $s $(cat "$work/read")"
count=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["count"], len(d["rows"]), d["rows"][0]["event_type"])' "$work/read")
[ "$count" = "2 2 lead.created" ] || fail "read gave '$count': $(head -c 300 "$work/read")"
# only the token's tenant: another tenant's admin reads nothing of acme's
other=$("$SB" token --data-dir "$dd" --tenant globex --role admin --sub bob)
s=$(read_ "$other" 'name=audit.events&event_type=lead.created' 'reader-test/1.0')
[ "$s" = 200 ] && grep -q '"count":0,' "$work/read" || fail "globex read acme's rows: $s $(head -c 300 "$work/read")"
# refusals name what is wrong; a denied read is recorded
s=$(read_ "$admin" 'name=audit.events&nope=1' 'x'); [ "$s" = 400 ] && grep -q 'nope: not a column of audit.events' "$work/read" || fail "bad column: $s $(cat "$work/read")"
s=$(read_ "$admin" 'name=sb.consumer_offsets' 'x'); [ "$s" = 404 ] || fail "sb.consumer_offsets: $s $(cat "$work/read")"
s=$(read_ "$admin" 'name=audit.events&limit=5000' 'x'); [ "$s" = 400 ] || fail "limit 5000: $s"
s=$(read_ "$agent" 'name=audit.events' 'agent-ua/2'); [ "$s" = 403 ] || fail "agent read audit.events: $s"

# the read is in the audit log, with who, from where and what
export_acme() { "$SB" audit export --data-dir "$dd" --tenant acme 2>/dev/null; }
found=
for _ in $(seq 1 100); do
  if export_acme | $PY -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    d = e.get("data", {})
    if e["type"] == "access.recorded" and e.get("actoruseragent") == "reader-test/1.0" \
       and d.get("resource_id") == "audit.events" and "event_type=lead.created" in (d.get("filters") or []):
        ok = (e.get("actorip") == "127.0.0.1" and e.get("actoruserid") == "alice" and
              e.get("actorrole") == "admin" and d.get("action") == "READ" and
              d.get("records_count") == 2 and d.get("request_path") == "/v1/projection" and
              d.get("request_method") == "GET" and d.get("attempts") == 1 and
              d.get("filters") == ["event_type=lead.created", "limit=10"])
        sys.exit(0 if ok else 2)
sys.exit(1)'; then found=1; break
  else rc=$?; [ $rc -eq 2 ] && fail "the READ record is wrong: $(export_acme | grep reader-test)"; fi
  sleep 0.2
done
[ -n "$found" ] || fail "no access.recorded READ from reader-test/1.0 in the audit log"
for _ in $(seq 1 100); do
  export_acme | grep '"security.access_denied"' | grep -q 'agent-ua/2' && break
  sleep 0.2
done
export_acme | grep '"security.access_denied"' | grep 'agent-ua/2' | grep -q '"resource_type":"projection"' ||
  fail "the denied read is not recorded as security.access_denied"

# a live-feed subscription granted is a read too: recorded (resource
# "stream", its topics, types and subject) before "subscribed" is sent
/usr/bin/python3 "$(dirname "$0")/ws_client.py" listen "ws://${url#http://}/v1/stream" "$admin" \
  '{"subscribe":{"topics":["sb.calls","sb.leads"],"types":["call.*"],"subject":"agent-7"}}' \
  "$work/ws.msgs" 2>"$work/ws.err" &
wspid=$!
for _ in $(seq 1 100); do grep -q '"subscribed"' "$work/ws.msgs" 2>/dev/null && break; sleep 0.1; done
grep -q '"subscribed"' "$work/ws.msgs" || fail "no subscribed: $(cat "$work/ws.msgs" "$work/ws.err" 2>/dev/null)"
kill "$wspid" 2>/dev/null; wait "$wspid" 2>/dev/null || true
for _ in $(seq 1 100); do
  export_acme | grep '"access.recorded"' | grep '"resource_type":"stream"' >"$work/ws.rec" || true
  [ -s "$work/ws.rec" ] && break
  sleep 0.2
done
grep -q '"filters":\["topics=sb.leads,sb.calls","types=call.\*","subject=agent-7"\]' "$work/ws.rec" &&
  grep -q '"request_method":"WS"' "$work/ws.rec" && grep -q '"actorip":"127.0.0.1"' "$work/ws.rec" ||
  fail "the subscription is not recorded as a READ of the stream: $(cat "$work/ws.rec")"

# a flood: N identical reads on one connection, recorded as a few records
# whose attempts add up to N
N=400
hostport=${url#http://}
started=$(date +%s)
$PY - "${hostport%:*}" "${hostport##*:}" "$admin" $N <<'EOF' || fail "the flood was not answered 200 throughout"
import http.client, sys
host, port, token, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
c = http.client.HTTPConnection(host, port, timeout=30)
for i in range(n):
    c.request("GET", "/v1/projection?name=audit.events&subject=lead-1",
              headers={"Authorization": "Bearer " + token, "User-Agent": "flood/1"})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        print("read %d: %d %s" % (i, r.status, body[:200]), file=sys.stderr)
        sys.exit(1)
EOF
sleep $((WINDOW / 1000 + 2)) # past the window's end
elapsed=$(($(date +%s) - started))
most=$((2 * (elapsed * 1000 / WINDOW + 2)))
summary=
for _ in $(seq 1 100); do
  summary=$(export_acme | $PY -c '
import json, sys
n = a = rows = 0
for line in sys.stdin:
    e = json.loads(line)
    if e["type"] == "access.recorded" and e.get("actoruseragent") == "flood/1":
        n += 1; a += e["data"].get("attempts") or 1; rows += e["data"]["records_count"]
print(n, a, rows)')
  [ "$(echo "$summary" | cut -d' ' -f2)" = $N ] && break
  sleep 0.2
done
read -r records attempts rows <<<"$summary"
echo "flood: $N reads in ${elapsed}s, $records records, attempts $attempts, rows $rows"
[ "$attempts" = $N ] || fail "the flood's records count $attempts reads, want $N"
[ "$rows" = $N ] || fail "the flood's records count $rows rows, want $N (one each)"
[ "$records" -le "$most" ] || fail "$records records for $N reads in ${elapsed}s (bound: $most)"
# (into a file first: grep -q stops reading at its match, and curl, cut off,
# fails the pipeline under pipefail)
curl -s -m 30 "$url/metrics" >"$work/metrics" || true
grep -q '^switchboard_access_reads_total{result="folded"} [1-9]' "$work/metrics" ||
  fail "no folded reads in /metrics"

# the broker down: a serve against the instance, then up (the embedded
# broker) stopped: a read fails 503 rather than be answered unrecorded
"$SB" serve --data-dir "$dd" --http-listen 127.0.0.1:0 \
  --set kafka.message.timeout.ms=3000 >"$work/serve.out" 2>"$work/serve.err" &
spid=$!
for _ in $(seq 1 300); do
  grep -q '^http: ' "$work/serve.out" && break
  kill -0 "$spid" 2>/dev/null || fail "serve exited early"
  sleep 0.1
done
surl=$(sed -n 's/^http: //p' "$work/serve.out")
sread() {
  curl -s -o "$work/read" -w '%{http_code}' -m 30 -A "$3" \
    -H "Authorization: Bearer $1" "$surl/v1/projection?$2"
}
s=$(sread "$admin" 'name=audit.events&subject=lead-2' 'serve-reader/1')
[ "$s" = 200 ] || fail "read through serve: $s $(cat "$work/read")"
kill -STOP "$pid"
s=$(sread "$admin" 'name=audit.events&subject=lead-1' 'serve-reader/1')
[ "$s" = 503 ] && grep -q 'could not be recorded' "$work/read" ||
  fail "with the broker down a read was answered $s: $(cat "$work/read")"
# the identical read of the first one, which would be folded: refused too
s=$(sread "$admin" 'name=audit.events&subject=lead-2' 'serve-reader/1')
[ "$s" = 503 ] || fail "with the broker down a folded read was answered $s: $(cat "$work/read")"
kill -CONT "$pid"
ok=
for _ in $(seq 1 60); do
  s=$(sread "$admin" 'name=audit.events&subject=lead-1' 'serve-reader/1')
  [ "$s" = 200 ] && { ok=1; break; }
  sleep 0.5
done
[ -n "$ok" ] || fail "reads did not come back with the broker: $s $(cat "$work/read")"
kill -TERM "$spid"
wait "$spid" || fail "serve exited non-zero"
spid=
stop_up
echo "access_read: all checks passed"
