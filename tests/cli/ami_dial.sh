#!/usr/bin/env bash
# The AMI dialer end to end (issue 18, item 4): call.dial_requested posted
# over HTTP -> the dialer processor's outbox -> `switchboard ami` claims,
# marks sent, originates on the test AMI server -> OriginateResponse ->
# call.dial_result through ingest, in the audit log and dialer.dial_results.
#  - answered (Reason 4, with the call's id; the answered channel then
#    maps to call.started/call.ended with the request's lead), busy (5),
#    no_answer (3);
#  - the same request posted twice (same event id: a duplicate at ingest)
#    and again under another event id with the same dial_id: one Originate;
#  - an agent may not post it (403);
#  - congestion (8), failed (0), an Originate the PBX refuses (Response:
#    Error: failed, its message), a number that is not E.164 (refused by
#    ingest, 400);
#  - the session dropped while an Originate awaits its answer: unknown at
#    once, not originated again after the reconnect;
#  - the connector SIGKILLed after the Originate was sent and before its
#    answer: at the next start the dial is unknown and is never originated
#    again;
#  - no number in clear in the connector's output or the outbox;
#  - the PBX file's originate_* keys refused when wrong;
#  - `replay --processor dialer` carries the outbox over (nothing pending
#    again) and rebuilds the same results.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_ami.sh"

start_up --processors audit,dialer
secret=ZGlhbGVyLWFtaQ
printf 'switchboard %s\n' "$secret" >"$work/users"
start_ami_server
printf 'name=eu1 host=127.0.0.1 port=%s tenant=acme user=switchboard originate_channel=PJSIP/{number}@trunk originate_context=campaigns originate_exten=s\n' \
  "$port" >"$work/pbx"
printf 'eu1 %s\n' "$secret" >"$work/secrets"
chmod 600 "$work/secrets"

# the PBX file's dialer keys, checked
bad() {
  printf 'name=x host=h tenant=acme user=u %s\n' "$1" >"$work/pbx.bad"
  expect_error 2 "$2" "$SB" ami --dry-run --data-dir "$dd" \
    --set "ami.pbx_file=$work/pbx.bad" --set "ami.secrets_file=$work/secrets"
}
bad 'originate_channel=PJSIP/trunk' "pbx.bad:1: originate_channel: 'PJSIP/trunk' is not a channel holding {number}"
bad 'originate_context=a;b' "pbx.bad:1: originate_context: 'a;b' is not 1 to 80 of"
bad 'originate_exten=' "pbx.bad:1: originate_exten: '' is not 1 to 80 of"
bad 'originate_priority=2' "pbx.bad:1: unknown key 'originate_priority' (originate_channel, originate_context, originate_exten)"

start_ami() {
  "$SB" ami --data-dir "$dd" --set "ami.pbx_file=$work/pbx" \
    --set "ami.secrets_file=$work/secrets" --progress-ms 100 \
    --set ami.reconnect_min_ms=50 --set ami.reconnect_max_ms=200 \
    >>"$work/ami.out" 2>>"$work/ami.err" &
  ami_pid=$!
}
start_ami

tok() { "$SB" token --data-dir "$dd" --tenant acme --role "$1" --sub "$2"; }
sup=$(tok supervisor sam)
agent=$(tok agent ann)
now() { date -u +%FT%T.%3NZ; }
# post TOKEN DIAL NUMBER [ID]: the status; the body in $work/body
post() {
  local id=""
  [ -n "${4:-}" ] && id="\"id\":\"$4\","
  curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' "$url/v1/events" --data-binary \
    "{\"specversion\":\"1.0\",$id\"type\":\"call.dial_requested\",\"source\":\"/t\",\"subject\":\"$2\",\"time\":\"$(now)\",\"data\":{\"dial_id\":\"$2\",\"pbx\":\"eu1\",\"number\":\"$3\",\"lead_id\":\"lead-$2\",\"campaign_id\":\"fall\",\"caller_id\":\"\\\"Acme\\\" <+15550009999>\"}}"
}
results() { q "SELECT dial_id || ' ' || outcome || ' ' || coalesce(reason::text, '-') FROM dialer.dial_results ORDER BY 1" | tr '\n' ';'; }
# until_is WANT WHAT CMD...: waits (30 s at most) until CMD prints WANT
until_is() {
  local want=$1 what=$2
  shift 2
  for _ in $(seq 300); do
    [ "$("$@")" = "$want" ] && return 0
    sleep 0.1
  done
  fail "$what: $("$@"), want $want"
}
wait_results() { until_is "$1" "dial results" results; }

# dial D:N...: posts dial d-D of +1555000000N for each, each accepted
dial() {
  local d s
  for d in "$@"; do
    s=$(post "$sup" "d-${d%%:*}" "+1555000000${d##*:}")
    [ "$s" = 202 ] || fail "dial request d-${d%%:*}: $s $(cat "$work/body")"
  done
}
# originated N WHAT: waits until the server has had N Originates
originated() { until_is "$1" "Originates (for $2)" ctl originates; }

[ "$(ctl "outcome +15550000002 busy")" = ok ] || fail outcome
[ "$(ctl "outcome +15550000003 no_answer")" = ok ] || fail outcome
[ "$(ctl "outcome +15550000004 hold")" = ok ] || fail outcome

s=$(post "$agent" d-agent +15550000001)
[ "$s" = 403 ] || fail "an agent posted a dial request: $s $(cat "$work/body")"

dup_id=$($PY -c 'import time,random
a="0123456789ABCDEFGHJKMNPQRSTVWXYZ"; t=int(time.time()*1000); s=""
for i in range(10): s=a[t%32]+s; t//=32
print(s+"".join(random.choice(a) for _ in range(16)))')
s=$(post "$sup" d-ans +15550000001 "$dup_id")
[ "$s" = 202 ] || fail "dial request: $s $(cat "$work/body")"
s=$(post "$sup" d-ans +15550000001 "$dup_id")
[ "$s" = 202 ] || fail "the duplicate: $s $(cat "$work/body")"
s=$(post "$sup" d-ans +15550000001)
[ "$s" = 202 ] || fail "the same dial again: $s $(cat "$work/body")"
dial busy:2 noans:3
wait_results "d-ans answered 4;d-busy busy 5;d-noans no_answer 3;"
[ "$(ctl originates)" = 3 ] || fail "originates: $(ctl originates), want 3"

[ "$(ctl "outcome +15550000005 congestion")" = ok ] || fail outcome
[ "$(ctl "outcome +15550000006 failed")" = ok ] || fail outcome
[ "$(ctl "outcome +15550000007 refused")" = ok ] || fail outcome
[ "$(ctl "outcome +15550000008 hold")" = ok ] || fail outcome
s=$(post "$sup" d-bad 12345)
[ "$s" = 400 ] || fail "a number not E.164: $s $(cat "$work/body")"
dial cong:5 fail:6 ref:7
wait_results "d-ans answered 4;d-busy busy 5;d-cong congestion 8;d-fail failed 0;d-noans no_answer 3;d-ref failed -;"
[ "$(q "SELECT detail FROM dialer.dial_results WHERE dial_id = 'd-ref'")" = \
  "the PBX refused the Originate: Originate failed" ] || fail "d-ref's detail"
# the session drops while d-drop awaits its answer
dial drop:8
originated 7 d-drop
[ "$(ctl drop)" = "ok 1" ] || fail drop
wait_results "d-ans answered 4;d-busy busy 5;d-cong congestion 8;d-drop unknown -;d-fail failed 0;d-noans no_answer 3;d-ref failed -;"
for _ in $(seq 100); do [ "$(ctl sessions)" = 1 ] && break; sleep 0.05; done
[ "$(ctl sessions)" = 1 ] || fail "no reconnect"
base="d-ans answered 4;d-busy busy 5;d-cong congestion 8;d-drop unknown -;d-fail failed 0;"
[ "$(q "SELECT string_agg(dial_id || ':' || state || ':' || outcome, ' ' ORDER BY dial_id) FROM dialer.outbox WHERE dial_id IN ('d-ans', 'd-busy', 'd-noans')")" = \
  "d-ans:done:answered d-busy:done:busy d-noans:done:no_answer" ] ||
  fail "outbox: $(q "SELECT dial_id, state, outcome FROM dialer.outbox")"
[ "$(q "SELECT count(*) FROM dialer.outbox WHERE number_sealed NOT LIKE 'sbx1.%'")" = 0 ] ||
  fail "a number in clear in the outbox"
call=$(q "SELECT call_id FROM dialer.dial_results WHERE dial_id = 'd-ans'")
[[ "$call" == eu1:*.* ]] || fail "answered without its call id: '$call'"

# the crash: sent, then SIGKILL before the answer
dial hold:4
originated 8 d-hold
[ "$(q "SELECT state FROM dialer.outbox WHERE dial_id = 'd-hold'")" = sent ] ||
  fail "d-hold not marked sent: $(q "SELECT state FROM dialer.outbox WHERE dial_id = 'd-hold'")"
kill -KILL "$ami_pid"
wait "$ami_pid" 2>/dev/null || true
start_ami
wait_results "${base}d-hold unknown -;d-noans no_answer 3;d-ref failed -;"
sleep 1 # a second Originate would be there by now
[ "$(ctl originates)" = 8 ] || fail "originated again: $(ctl originates)"
[ "$(q "SELECT state FROM dialer.outbox WHERE dial_id = 'd-hold'")" = done ] ||
  fail "d-hold not done"

kill -TERM "$ami_pid"
wait "$ami_pid" || fail "ami exited $?"
ami_pid=
# the restarted connector originated nothing and made d-hold unknown
grep -qx 'ami dialer stopped: pbx eu1: originates 0, answered 0, failed 0, unknown 1' \
  "$work/ami.out" || fail "dialer counters: $(grep '^ami dialer' "$work/ami.out" | tail -2)"

# the audit log: one result a dial, and the answered call mapped with its
# lead (the Originate's SB_LEAD_ID)
for _ in $(seq 100); do
  "$SB" audit export --data-dir "$dd" --tenant acme >"$work/export" 2>"$work/export.err" ||
    fail "audit export"
  [ "$(grep -c '"type":"call.dial_result"' "$work/export")" -ge 8 ] &&
    grep -q '"type":"call.ended"' "$work/export" && break
  sleep 0.2
done
$PY - "$work/export" "$call" <<'PYEOF' || fail "the audit log"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
res = [e for e in evs if e["type"] == "call.dial_result"]
got = sorted((e["subject"], e["data"]["outcome"]) for e in res)
assert got == [("d-ans", "answered"), ("d-busy", "busy"), ("d-cong", "congestion"),
               ("d-drop", "unknown"), ("d-fail", "failed"), ("d-hold", "unknown"),
               ("d-noans", "no_answer"), ("d-ref", "failed")], got
assert all(e["source"] == "ami://eu1" for e in res)
started = [e for e in evs if e["type"] == "call.started" and e["subject"] == sys.argv[2]]
assert len(started) == 1, started
assert started[0]["data"].get("lead_id") == "lead-d-ans", started[0]["data"]
assert any(e["type"] == "call.ended" and e["subject"] == sys.argv[2] for e in evs)
PYEOF
# a replay rebuilds the requests and results and carries the outbox over
# as the connector left it: every row done, none pending again
outbox() { q "SELECT dial_id || ' ' || state || ' ' || coalesce(outcome, '-') FROM dialer.outbox ORDER BY 1" | tr '\n' ';'; }
before=$(outbox)
before_res=$(results)
rc=0
timeout 120 "$SB" replay --processor dialer --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rc=$?
[ $rc -eq 0 ] || fail "replay exited $rc: $(cat "$work/replay.out"; tail -3 "$work/replay.err")"
[ "$(outbox)" = "$before" ] || fail "outbox after the replay: $(outbox) (before: $before)"
[ "$(q "SELECT count(*) FROM dialer.outbox WHERE state <> 'done'")" = 0 ] || fail "a row not done"
[ "$(results)" = "$before_res" ] || fail "results after the replay: $(results)"

for f in "$work"/ami.out "$work"/ami.err "$work"/up.err; do
  grep -q -- '+1555000000' "$f" && fail "a number in clear in $f"
  grep -q -- "$secret" "$f" && fail "a secret in $f"
done
stop_up
echo "ok"
