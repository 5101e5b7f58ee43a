#!/usr/bin/env bash
# Issue 10, items 4, 10, 11, 12, 13, 14 and 18, against one `up`: nothing is
# accepted in part (bodies past the limit, data after the first document,
# raw control characters); NDJSON errors name the line an editor shows;
# event times are bounded and the audit log's relations with them; the
# actor is the token's; an agent acts only on itself and its own calls and
# leads; refusals without a tenant go to the operator's namespace; token
# lifetimes are capped. Every check runs and each failure is named by its
# item, so that a run against an old binary shows which promises broke.
. "$(dirname "$0")/lib.sh"

start_up --partitions 2 --processors "$SB_PROCESSORS_NO_DERIVED" --set batch.max_ms=50
[ -n "$url" ] || fail "no http line"
ev_url=$url/v1/events
failed=0
bad() { echo "FAIL item $1: ${*:2}" >&2; failed=1; }

manager=$("$SB" token --data-dir "$dd" --tenant acme --role manager --sub mgr-1)
agent=$("$SB" token --data-dir "$dd" --tenant acme --role agent --sub agent-7)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ev() { # ev TYPE SUBJECT DATA [extra attributes]
  printf '{"specversion":"1.0","type":"%s","source":"crm://t","subject":"%s","time":"%s"%s,"data":%s}' \
    "$1" "$2" "${TIME:-$now}" "${4:-}" "$3"
}
lead() { ev lead.created "$1" '{"lead_source":"web_form"}' "${2:-}"; }
post() { # post TOKEN CONTENT_TYPE BODY_FILE -> $status, body in $work/body
  status=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $1" \
    -H "Content-Type: $2" -H 'User-Agent: guard-test/1.0' --data-binary @"$3" "$ev_url")
}
has() { grep -qF -- "$1" "$work/body"; }
wait_q() { # wait_q SQL WANT: true once SQL answers WANT (30 s at most)
  for _ in $(seq 1 300); do
    [ "$(q "$1" 2>/dev/null)" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# ---- item 4: never a 202 for a part ------------------------------------
for i in $(seq 1 10001); do lead "nd-$i"; echo; done >"$work/big.nd"
post "$manager" application/x-ndjson "$work/big.nd"
[ "$status" = 413 ] && has 'more than 10000 events' && has 'nothing was accepted' ||
  bad 4 "NDJSON of 10,001 lines: $status $(head -c 200 "$work/body")"
{ lead two-a; lead two-b; } >"$work/two.json"
post "$manager" application/json "$work/two.json"
[ "$status" = 400 ] && has 'more after the first JSON value' ||
  bad 4 "{ev}{ev} as application/json: $status $(head -c 200 "$work/body")"
{ printf '['; lead arr-a; printf ']['; lead arr-b; printf ']'; } >"$work/two.batch"
post "$manager" application/cloudevents-batch+json "$work/two.batch"
[ "$status" = 400 ] && has 'more after the first JSON value' ||
  bad 4 "[..][..] batch: $status $(head -c 200 "$work/body")"
{ lead line-a; lead line-b; echo; } >"$work/oneline.nd"
post "$manager" application/x-ndjson "$work/oneline.nd"
[ "$status" = 400 ] && has '"error":"line 1: JSON: more after the first JSON value' ||
  bad 4 "two objects on one NDJSON line: $status $(head -c 200 "$work/body")"
lead nul-1 | sed 's/"web_form"}/"web_form","first_name":"AdaNULEVIL"}/' |
  sed 's/NUL/\x00/' >"$work/nul.json"
post "$manager" application/json "$work/nul.json"
[ "$status" = 400 ] && has 'raw control character (0x00)' ||
  bad 4 "raw NUL inside a string: $status $(head -c 200 "$work/body")"
lead ctl-1 | sed 's/"web_form"}/"web_form","first_name":"Ada\x01EVIL"}/' >"$work/ctl.json"
post "$manager" application/json "$work/ctl.json"
[ "$status" = 400 ] && has 'raw control character (0x01) at byte' && has 'inside a string' ||
  bad 4 "raw 0x01 inside a string: $status $(head -c 200 "$work/body")"
lead esc-1 | sed 's/"web_form"}/"web_form","first_name":"Ada\\u0000EVIL"}/' >"$work/esc.json"
post "$manager" application/json "$work/esc.json"
[ "$status" = 400 ] && has 'u0000 (NUL) is not allowed' ||
  bad 4 "escaped NUL: $status $(head -c 200 "$work/body")"

# ---- item 18: NDJSON line numbers count blank lines ----------------------
{ lead ln-1; echo; echo; lead ln-2; echo; echo; echo; echo 'not json'; echo; lead ln-3; echo; } >"$work/lines.nd"
post "$manager" application/x-ndjson "$work/lines.nd"
[ "$status" = 207 ] && has '"index":2,"status":400,"code":"malformed_json","error":"line 6:' ||
  bad 18 "a bad line 6: $status $(head -c 300 "$work/body")"

# ---- item 10: event times bounded; the audit log's relations too ---------
TIME=2024-01-01T00:00:00Z lead old-1 >"$work/old.json"
post "$manager" application/json "$work/old.json"
[ "$status" = 400 ] && has 'ingest.max_past_seconds' ||
  bad 10 "an event of 2024 over HTTP: $status $(head -c 200 "$work/body")"
TIME=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ) lead future-1 >"$work/future.json"
post "$manager" application/json "$work/future.json"
[ "$status" = 400 ] && has 'ingest.max_future_seconds' ||
  bad 10 "an event 2 hours ahead over HTTP: $status $(head -c 200 "$work/body")"
# history (the operator's import) of 240 months: stored, in few relations
for m in $(seq 0 239); do
  TIME=$(date -u -d "2006-01-15 +$m months" +%Y-%m-%dT12:00:00Z) \
    lead "hist-$m" ',"tenantid":"acme"'
  echo
done >"$work/hist.nd"
"$SB" import "$work/hist.nd" --data-dir "$dd" >"$work/import.out" 2>"$work/import.err" ||
  bad 10 "import of history failed: $(tail -3 "$work/import.err")"
wait_q "SELECT count(*) FROM audit.events WHERE subject LIKE 'hist-%'" 240 ||
  bad 10 "history not in the audit log: $(q "SELECT count(*) FROM audit.events WHERE subject LIKE 'hist-%'")"
rels=$(q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit.events'::regclass")
echo "240 months of history: $rels partitions of audit.events" >&2
[ "$rels" -le 16 ] || bad 10 "240 months of history made $rels partitions of audit.events"

# ---- item 11: the actor is the token's ----------------------------------
ev agent.state_changed agent-7 '{"state":"available"}' ',"actoruserid":"ceo","actorrole":"admin"' >"$work/forged.json"
post "$agent" application/json "$work/forged.json"
[ "$status" = 403 ] && has "actoruserid: does not match the token's subject" ||
  bad 11 "actoruserid ceo from agent-7: $status $(head -c 200 "$work/body")"
ev agent.state_changed agent-7 '{"state":"paused"}' ',"actoruserid":"agent-7","actorrole":"agent"' >"$work/agree.json"
post "$agent" application/json "$work/agree.json"
[ "$status" = 202 ] || bad 11 "an actor that agrees with the token: $status $(head -c 200 "$work/body")"
ev agent.state_changed agent-7 '{"state":"on_call"}' >"$work/plain.json"
post "$agent" application/json "$work/plain.json"
id=$(sed -n 's/.*"id":"\([0-9A-Z]*\)".*/\1/p' "$work/body")
[ "$status" = 202 ] && [ -n "$id" ] || bad 11 "agent-7's own state: $status"
wait_q "SELECT actor_user_id FROM audit.events WHERE event_id = '$id'" agent-7 ||
  bad 11 "the audit log's actor of agent-7's event is '$(q "SELECT actor_user_id FROM audit.events WHERE event_id = '$id'")'"
"$SB" audit export --tenant acme --data-dir "$dd" 2>/dev/null | grep -F "\"id\":\"$id\"" >"$work/exp" || true
grep -q '"actorrole":"agent"' "$work/exp" && grep -q '"actorip":"127.0.0.1"' "$work/exp" &&
  grep -q '"actoruseragent":"guard-test/1.0"' "$work/exp" ||
  bad 11 "the exported event lacks the engine's actor: $(cat "$work/exp")"

# a user agent that is not ASCII is recorded with '?', not a reason to refuse
lead ua-1 >"$work/ua.json"
status=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $manager" \
  -H 'Content-Type: application/json' -H $'User-Agent: caf\xe9/1' --data-binary @"$work/ua.json" "$ev_url")
[ "$status" = 202 ] || bad 11 "a Latin-1 user agent: $status $(head -c 200 "$work/body")"

# ---- item 12: an agent acts on itself and on its own calls and leads ----
ev agent.state_changed agent-8 '{"state":"paused"}' >"$work/other.json"
post "$agent" application/json "$work/other.json"
[ "$status" = 403 ] && has "is not the token's subject 'agent-7'" ||
  bad 12 "agent-7 setting agent-8's state: $status $(head -c 200 "$work/body")"
ev call.started call-1 '{"direction":"outbound","agent_id":"agent-7","lead_id":"lead-1"}' >"$work/c1"
ev call.started call-2 '{"direction":"outbound","agent_id":"agent-8","lead_id":"lead-2"}' >"$work/c2"
post "$manager" application/json "$work/c1"; [ "$status" = 202 ] || bad 12 "call-1 started: $status"
post "$manager" application/json "$work/c2"; [ "$status" = 202 ] || bad 12 "call-2 started: $status"
ev call.dispositioned call-1 '{"disposition":"sale","agent_id":"agent-7"}' >"$work/d1"
for _ in $(seq 1 100); do # the server learns owners from the stream
  post "$agent" application/json "$work/d1"
  [ "$status" = 202 ] && break
  sleep 0.1
done
[ "$status" = 202 ] || bad 12 "agent-7 dispositioning its call-1: $status $(head -c 200 "$work/body")"
ev call.dispositioned call-2 '{"disposition":"sale"}' >"$work/d2"
post "$agent" application/json "$work/d2"
[ "$status" = 403 ] && has 'call call-2 belongs to another agent' ||
  bad 12 "agent-7 dispositioning agent-8's call-2 as a sale: $status $(head -c 200 "$work/body")"
ev call.dispositioned call-9 '{"disposition":"sale"}' >"$work/d9"
post "$agent" application/json "$work/d9"
[ "$status" = 403 ] && has 'does not know call call-9' ||
  bad 12 "agent-7 dispositioning an unknown call: $status $(head -c 200 "$work/body")"
ev lead.status_changed lead-1 '{"status":"qualified"}' >"$work/l1"
post "$agent" application/json "$work/l1"
[ "$status" = 202 ] || bad 12 "agent-7 on its lead-1: $status $(head -c 200 "$work/body")"
ev lead.status_changed lead-2 '{"status":"qualified"}' >"$work/l2"
post "$agent" application/json "$work/l2"
[ "$status" = 403 ] && has 'lead lead-2 belongs to another agent' ||
  bad 12 "agent-7 on agent-8's lead-2: $status $(head -c 200 "$work/body")"

# ---- item 13: no tenant -> the operator's namespace ----------------------
status=$(curl -s -o "$work/body" -w '%{http_code}' -H 'Authorization: Bearer nonsense' \
  -H 'Content-Type: application/json' --data-binary @"$work/plain.json" "$ev_url")
[ "$status" = 401 ] || bad 13 "a bad token: $status"
wait_q "SELECT count(*) > 0 FROM audit.events WHERE event_type = 'security.login_failed' AND tenant_id = '_operator'" t ||
  bad 13 "no security.login_failed in the _operator namespace"
[ "$(q "SELECT count(*) FROM audit.events WHERE tenant_id = 'unknown'")" = 0 ] ||
  bad 13 "security events filed under the tenant 'unknown'"
"$SB" audit export --tenant _operator --data-dir "$dd" 2>/dev/null | grep -q '"type":"security.login_failed"' ||
  bad 13 "the operator cannot export the _operator namespace"
if "$SB" token --data-dir "$dd" --tenant _operator --role admin >/dev/null 2>"$work/tok.err"; then
  bad 13 "a token was minted for the tenant _operator"
fi

# ---- item 14: token lifetimes are capped ---------------------------------
long=$(python3 - "$dd/jwt.secret" <<'EOF'
import base64, hashlib, hmac, json, sys, time
key = bytes.fromhex(open(sys.argv[1]).read().strip())
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
h = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
p = b(json.dumps({"sub": "agent-7", "tenant": "acme", "role": "agent",
                  "iat": int(time.time()), "exp": 2**53}).encode())
s = b(hmac.new(key, (h + "." + p).encode(), hashlib.sha256).digest())
print(h + "." + p + "." + s)
EOF
)
post "$long" application/json "$work/plain.json"
[ "$status" = 401 ] && has 'auth.max_token_ttl_seconds' ||
  bad 14 "a token with exp 2^53: $status $(head -c 200 "$work/body")"
if "$SB" token --data-dir "$dd" --tenant acme --role agent --ttl 100000 >/dev/null 2>"$work/tok.err"; then
  bad 14 "token --ttl 100000 (past the default cap of 86400) was minted"
fi

[ "$failed" = 0 ] || fail "see the items above"
stop_up
echo ok
