#!/usr/bin/env bash
# POST /v1/events: a valid event is answered 202 and reaches the audit log;
# each bad request gets its status and a body naming the problem; a mixed
# batch produces exactly its good items; retries are not produced twice;
# refusals are recorded as security events without the token; killing the
# worker between the 202 and the audit write loses nothing.
. "$(dirname "$0")/lib.sh"
wpid=
cleanup_extra() { [ -n "$wpid" ] && kill -KILL "$wpid" 2>/dev/null; }

# the broker and database here; the audit worker apart, to be killed
start_up --partitions 2 --processors none --http-listen 127.0.0.1:0 \
  --set http.max_body=65536
url=$url/v1/events
start_worker() {
  "$SB" run --processors audit --data-dir "$dd" --set batch.max_ms=50 \
    >>"$work/worker.out" 2>>"$work/worker.err" &
  wpid=$!
}
start_worker
wait_rows() { # wait_rows SQL N
  for _ in $(seq 1 300); do
    [ "$(q "$1" 2>/dev/null)" = "$2" ] && return 0
    sleep 0.1
  done
  fail "waited for $2 from: $1 (have $(q "$1"))"
}

token=$("$SB" token --data-dir "$dd" --tenant acme --role manager)
agent=$("$SB" token --data-dir "$dd" --tenant acme --role agent --sub agent-7)
short=$("$SB" token --data-dir "$dd" --tenant acme --role manager --ttl 1)
ev() { # ev SUBJECT [extra top-level json]
  printf '{"specversion":"1.0","type":"lead.created","source":"crm://t","subject":"%s","time":"'"$(date -u +%FT%TZ)"'"%s,"data":{"lead_source":"web_form"}}' "$1" "${2:-}"
}
post() { # post TOKEN CONTENT_TYPE BODY_FILE -> status in $status, body in $work/body
  status=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $1" \
    -H "Content-Type: $2" -H 'User-Agent: ingest-test/1.0' --data-binary @"$3" "$url")
}
body_has() { grep -qF -- "$1" "$work/body" || fail "body lacks '$1': $(cat "$work/body")"; }

# a valid event: 202, and in the audit log
ev lead-1 >"$work/e1"
post "$token" application/cloudevents+json "$work/e1"
[ "$status" = 202 ] || fail "valid event: $status $(cat "$work/body")"
id1=$(sed -n 's/.*"id":"\([0-9A-Z]*\)".*/\1/p' "$work/body")
[ -n "$id1" ] || fail "no id in the answer"
wait_rows "SELECT count(*) FROM audit.events WHERE event_id = '$id1' AND tenant_id = 'acme'" 1

# each bad request: its status and a body naming the problem
printf '{"specversion":' >"$work/bad"
post "$token" application/json "$work/bad"
[ "$status" = 400 ] && body_has '"code":"malformed_json"' || fail "malformed JSON: $status"
ev lead-2 | sed 's/"web_form"/"carrier_pigeon"/' >"$work/bad"
post "$token" application/json "$work/bad"
[ "$status" = 400 ] && body_has "data.lead_source: 'carrier_pigeon' is not one of" ||
  fail "schema violation: $status $(cat "$work/body")"
status=$(curl -s -o "$work/body" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary @"$work/e1" "$url")
[ "$status" = 401 ] && body_has '"code":"missing"' || fail "missing token: $status"
sleep 2 # the short token expires
post "$short" application/json "$work/e1"
[ "$status" = 401 ] && body_has '"code":"expired"' || fail "expired token: $status"
post "${token%.*}.${agent##*.}" application/json "$work/e1"
[ "$status" = 401 ] && body_has '"code":"bad_signature"' || fail "forged token: $status"
ev lead-3 ',"tenantid":"globex"' >"$work/bad"
post "$token" application/json "$work/bad"
[ "$status" = 403 ] && body_has "the token's tenant is acme; the event names globex" ||
  fail "other tenant: $status $(cat "$work/body")"
ev lead-4 | sed 's/lead.created/call.started/' >"$work/bad" # an agent may not
post "$agent" application/json "$work/bad"
[ "$status" = 403 ] && body_has '"code":"forbidden"' || fail "forbidden type: $status"
head -c 70000 /dev/zero | tr '\0' ' ' >"$work/big"
post "$token" application/json "$work/big"
[ "$status" = 413 ] || fail "oversized body: $status"
post "$token" text/plain "$work/e1"
[ "$status" = 415 ] && body_has 'application/cloudevents-batch+json' || fail "content type: $status"

# a mixed batch: exactly its good items are produced
{
  printf '['
  ev batch-ok-1; printf ','
  ev batch-bad | sed 's/"time":"[^"]*"/"time":"yesterday"/'; printf ','
  ev batch-ok-2; printf ','
  ev batch-other ',"tenantid":"globex"'
  printf ']'
} >"$work/batch"
post "$token" application/cloudevents-batch+json "$work/batch"
[ "$status" = 207 ] || fail "mixed batch: $status $(cat "$work/body")"
body_has '"index":1,"status":400,"code":"invalid","error":"time:'
body_has '"index":3,"status":403,"code":"tenant_mismatch"'
wait_rows "SELECT count(*) FROM audit.events WHERE subject LIKE 'batch-%'" 2
q "SELECT string_agg(subject, ',' ORDER BY subject) FROM audit.events WHERE subject LIKE 'batch-%'" |
  grep -qx 'batch-ok-1,batch-ok-2' || fail "the batch produced the wrong items"

# NDJSON with a bad line
{ ev nd-1; echo; echo 'not json'; ev nd-2; echo; } >"$work/nd"
post "$token" application/x-ndjson "$work/nd"
[ "$status" = 207 ] && body_has '"index":1,"status":400,"code":"malformed_json","error":"line 2:' ||
  fail "ndjson: $status $(cat "$work/body")"

# retries are safe: the same id twice, and the same Idempotency-Key twice
ev dup ',"id":"01JDQ7ZV3K8YQ2W5N6P7R8S9T0"' >"$work/dup"
post "$token" application/json "$work/dup"
[ "$status" = 202 ] || fail "first of a pair: $status"
post "$token" application/json "$work/dup"
[ "$status" = 202 ] && body_has '"duplicate":true' || fail "repeat not acknowledged as duplicate"
ev idem >"$work/idem"
for _ in 1 2; do
  curl -s -o "$work/body" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: order-77' --data-binary @"$work/idem" "$url"
done
body_has '"duplicate":true'
wait_rows "SELECT count(*) FROM audit.events WHERE subject IN ('dup', 'idem')" 2

# refusals were recorded, with address and user agent, never the token
wait_rows "SELECT count(*) > 0 FROM audit.events WHERE event_type = 'security.login_failed'" t
wait_rows "SELECT count(*) >= 3 FROM audit.events WHERE event_type = 'security.access_denied' AND tenant_id = 'acme'" t
"$SB" audit export --tenant acme --data-dir "$dd" 2>/dev/null >"$work/export"
grep -q '"type":"security.access_denied".*"ip":"127.0.0.1".*"user_agent":"ingest-test/1.0"' "$work/export" ||
  fail "access_denied events lack ip or user agent"
for t in "$token" "$agent" "$short"; do
  [ "$(q "SELECT count(*) FROM audit.events WHERE position(convert_to('${t##*.}', 'UTF8') IN payload) > 0")" = 0 ] ||
    fail "a token's signature was recorded"
  grep -qF -- "${t##*.}" "$work/up.err" "$work/worker.err" && fail "a token reached a log"
done

# killing the worker after the 202 loses nothing: exactly once after restart
kill -STOP "$wpid"
for i in $(seq 1 20); do ev "kill-$i"; echo; done >"$work/k"
post "$token" application/x-ndjson "$work/k"
[ "$status" = 202 ] || fail "events before the kill: $status"
kill -KILL "$wpid"
wait "$wpid" 2>/dev/null || true
start_worker
wait_rows "SELECT count(*) FROM audit.events WHERE subject LIKE 'kill-%'" 20
[ "$(q "SELECT count(DISTINCT event_id) FROM audit.events WHERE subject LIKE 'kill-%'")" = 20 ] ||
  fail "an event was recorded twice"
"$SB" audit verify --data-dir "$dd" >/dev/null || fail "audit verify failed"

kill -TERM "$wpid"; wait "$wpid" || fail "worker exited non-zero"; wpid=
stop_up
echo "ingest: all checks passed"
