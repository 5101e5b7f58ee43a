#!/usr/bin/env bash
# switchboard ami against the suite's test AMI server (tests/ami/
# ami_server.py): the files it reads refused when wrong (secrets readable
# by others, unknown keys) without a secret in any message; MD5 and plain
# logins with the event mask; the resynchronisation's lists after each
# login; live events counted; a message over ami.max_event_bytes refused
# with the session kept; the PBX dropping the session and then not
# answering Ping: reconnected and resynchronised each time; a wrong secret
# retried with backoff; SIGTERM logs off. No secret in any output or log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_ami.sh"

secret=s3cr3t-pbx-Zq81
printf 'switchboard %s\nplainuser %s\n' "$secret" "$secret" >"$work/users"
start_ami_server --log "$work/actions.jsonl"

cat >"$work/pbx" <<EOF
# two PBXs: the first logs in with MD5, the second in plain
name=eu1 host=127.0.0.1 port=$port tenant=acme user=switchboard
name=eu2 host=localhost port=$port tenant=globex user=plainuser auth=plain events=call,agent
EOF
printf '# name secret\neu1 %s\neu2 %s\n' "$secret" "$secret" >"$work/secrets"
chmod 644 "$work/secrets"
args=(--data-dir "$dd" --set "ami.pbx_file=$work/pbx"
      --set "ami.secrets_file=$work/secrets")

# ---- what is refused before anything starts --------------------------------
expect_error 1 "chmod 600" "$SB" ami --dry-run "${args[@]}"
chmod 600 "$work/secrets"
grep -q "$secret" "$work/expect.err" && fail "a secret in an error"
expect_error 2 "ami.pbx_file is not set" "$SB" ami --dry-run --data-dir "$dd"
printf 'name=x host=h tenant=t user=u colour=blue\n' >"$work/pbx.bad"
expect_error 2 "pbx.bad:1: unknown key 'colour'" "$SB" ami --dry-run --data-dir "$dd" \
  --set "ami.pbx_file=$work/pbx.bad" --set "ami.secrets_file=$work/secrets"
printf 'name=x host=h tenant=_op user=u\n' >"$work/pbx.bad"
expect_error 2 "tenant: '_op' is not a tenant id" "$SB" ami --dry-run --data-dir "$dd" \
  --set "ami.pbx_file=$work/pbx.bad" --set "ami.secrets_file=$work/secrets"
printf 'eu1 %s\n' "$secret" >"$work/secrets.short"
chmod 600 "$work/secrets.short"
expect_error 2 "no secret for PBX 'eu2'" "$SB" ami --dry-run "${args[@]}" \
  --set "ami.secrets_file=$work/secrets.short"
grep -q "$secret" "$work/expect.err" && fail "a secret in an error"
# the mapping's keys (ivr_contexts, tenant_var, tenants, agents_file, ...)
bad_map() { # bad_map WORDS MESSAGE: eu1 with WORDS is refused with MESSAGE
  printf 'name=eu1 host=h tenant=acme user=u %s\n' "$1" >"$work/pbx.bad"
  expect_error 2 "$2" "$SB" ami --dry-run --data-dir "$dd" \
    --set "ami.pbx_file=$work/pbx.bad" --set "ami.secrets_file=$work/secrets.short"
}
bad_map "tenants=globex" "tenants= without tenant_var="
bad_map "tenant_var=SB-T" "tenant_var: 'SB-T' is not a variable name"
bad_map "tenant_var=T tenants=globex,_x" "tenants: '_x' is not a tenant id"
bad_map "lead_var=" "lead_var: '' is not a variable name"
bad_map "ivr_contexts=a b" "'b': expected key=value"
bad_map "agents_file=$work/nope" "$work/nope"
printf 'eu1 PJSIP/a1 u-1\nzz PJSIP/a2 u-2\n' >"$work/agents"
bad_map "agents_file=$work/agents" "agents:2: no PBX named 'zz'"
printf 'eu1 PJSIP/a1 u-1\neu1 PJSIP/a1 u-2\n' >"$work/agents"
bad_map "agents_file=$work/agents" "interface 'PJSIP/a1' of PBX eu1 is given twice"
printf 'eu1 PJSIP/a1\n' >"$work/agents"
bad_map "agents_file=$work/agents" "agents:1: expected '<pbx> <interface> <agent_id>'"

# ---- running ---------------------------------------------------------------
"$SB" ami "${args[@]}" --dry-run --progress-ms 100 --set ami.ping_ms=300 \
  --set ami.reconnect_min_ms=50 --set ami.reconnect_max_ms=400 \
  --set ami.max_event_bytes=65536 >"$work/ami.out" 2>"$work/ami.err" &
ami_pid=$!

# last_line PBX: its newest counters line
last_line() { { grep "^ami: pbx $1 " "$work/ami.out" || true; } | tail -1; }
# counter PBX NAME: a number from its newest line
counter() { last_line "$1" | sed -n "s/.*[:,] $2 \([0-9]*\).*/\1/p"; }
# wait_for PBX NAME VALUE: until the counter is at least VALUE
wait_for() {
  for _ in $(seq 200); do
    local v
    v=$(counter "$1" "$2")
    [ -n "$v" ] && [ "$v" -ge "$3" ] && return 0
    sleep 0.05
  done
  fail "pbx $1: $2 did not reach $3: $(last_line "$1")"
}

wait_for eu1 resyncs 1
wait_for eu2 resyncs 1
[ "$(counter eu1 synced)" = 1 ] || fail "eu1 not synced: $(last_line eu1)"
# the lists: QueueParams + 2 QueueMember, 1 CoreShowChannel; mapped to
# 2 agent.logged_in, 2 agent.state_changed (available, paused), 1
# call.started
[ "$(counter eu1 "list items")" = 4 ] || fail "list items: $(last_line eu1)"
wait_for eu1 produced 5
# eu1: Challenge then Login with AuthType MD5 and a Key, never a Secret;
# the default event mask. eu2: Secret in plain, its own mask.
$PY - "$work/actions.jsonl" <<'EOF' || fail "the logins were not as configured"
import json, sys
acts = [json.loads(l) for l in open(sys.argv[1])]
md5 = [a for a in acts if a.get("username") == "switchboard"]
plain = [a for a in acts if a.get("username") == "plainuser"]
assert md5 and plain, acts
a = md5[0]
assert a["authtype"] == "MD5" and "Key" in a["keys"] and "Secret" not in a["keys"], a
assert a["events"] == "call,agent,dialplan,dtmf,system", a
assert any(x.get("action") == "Challenge" for x in acts)
p = plain[0]
assert "Secret" in p["keys"] and "authtype" not in p and p["events"] == "call,agent", p
ids = [x for x in acts if x.get("action") in ("QueueStatus", "CoreShowChannels")]
assert len(ids) == 4, ids  # two lists a PBX
EOF

# live events: counted
[ "$(ctl "play $flows/pause_unpause.ami")" = "ok 2" ] || fail "play"
wait_for eu1 events 3 # FullyBooted comes before the login's answer: not live
wait_for eu2 events 3
wait_for eu1 produced 7 # Alice paused, then available again

# a message over ami.max_event_bytes: refused, counted, the session kept
$PY -c '
import sys
big = b"Event: VarSet\r\nChannel: PJSIP/t-1\r\nValue: " + b"x" * 300000 + b"\r\n\r\n"
small = b"Event: Newstate\r\nChannelState: 6\r\nUniqueid: 1.7\r\n\r\n"
open(sys.argv[1], "wb").write(big + small)' "$work/oversize.raw"
[ "$(ctl "raw $work/oversize.raw")" = ok ] || fail "raw"
wait_for eu1 refused 1
wait_for eu1 events 4
[ "$(counter eu1 disconnects)" = 0 ] || fail "refused cut the session: $(last_line eu1)"
grep -q 'message over ami.max_event_bytes was refused.*VarSet' "$work/ami.err" ||
  fail "the refusal is not logged with its event's name"

# Event: Shutdown: the session is given up and made again
printf 'Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n' >"$work/shutdown.raw"
[ "$(ctl "raw $work/shutdown.raw")" = ok ] || fail "raw shutdown"
wait_for eu1 disconnects 1
grep -q 'session lost; reconnecting.*the PBX is shutting down' "$work/ami.err" ||
  fail "Shutdown is not logged"
wait_for eu1 resyncs 2
wait_for eu2 resyncs 2

# the PBX drops every session: both reconnect and resynchronise
[ "$(ctl drop)" = "ok 2" ] || fail "drop"
wait_for eu1 resyncs 3
wait_for eu2 resyncs 3
[ "$(counter eu1 disconnects)" = 2 ] || fail "disconnects: $(last_line eu1)"
[ "$(counter eu1 "list items")" = 12 ] || fail "list items: $(last_line eu1)"
# the same agents and channel again: nothing new is made of them
[ "$(counter eu1 produced)" = 7 ] || fail "resync made events: $(last_line eu1)"
[ "$(counter eu1 unmapped)" = 1 ] || fail "unmapped (Newstate): $(last_line eu1)"
grep -q 'session lost; reconnecting.*the PBX closed the connection' "$work/ami.err" ||
  fail "the drop is not logged"

# the PBX stops answering Ping: the sessions are given up and made again
[ "$(ctl mute)" = ok ] || fail "mute"
wait_for eu1 disconnects 3
grep -q 'no answer to Ping' "$work/ami.err" || fail "no Ping failure logged"
[ "$(ctl unmute)" = ok ] || fail "unmute"
wait_for eu1 resyncs 4
# a session made while muted still fails on its unanswered Ping (within a
# ping period): then the next one stays
sleep 1
wait_for eu1 connected 1
wait_for eu1 synced 1
wait_for eu2 connected 1

# SIGTERM: Logoff to each PBX, the final counters
kill -TERM "$ami_pid"
wait "$ami_pid" || fail "ami exited $?"
ami_pid=
grep -q '^ami stopped: pbx eu1 (tenant acme): connected 1' "$work/ami.out" ||
  fail "no final counters: $(tail -3 "$work/ami.out")"
for _ in $(seq 40); do
  [ "$(grep -c '"action": "Logoff"' "$work/actions.jsonl")" -ge 2 ] && break
  sleep 0.05
done
[ "$(grep -c '"action": "Logoff"' "$work/actions.jsonl")" -ge 2 ] ||
  fail "no Logoff from each session"

# a wrong secret: refused, retried with backoff, never logged
printf 'eu1 wrong-%s\neu2 %s\n' "$secret" "$secret" >"$work/secrets.wrong"
chmod 600 "$work/secrets.wrong"
"$SB" ami "${args[@]}" --dry-run --set "ami.secrets_file=$work/secrets.wrong" \
  --progress-ms 100 --set ami.reconnect_min_ms=50 \
  --set ami.reconnect_max_ms=200 >"$work/ami2.out" 2>"$work/ami2.err" &
ami_pid=$!
for _ in $(seq 200); do
  v=$({ grep "^ami: pbx eu1 " "$work/ami2.out" || true; } | tail -1 |
    sed -n 's/.*login failures \([0-9]*\).*/\1/p')
  [ -n "$v" ] && [ "$v" -ge 2 ] && break
  sleep 0.05
done
[ -n "$v" ] && [ "$v" -ge 2 ] || fail "login failures: $(tail -2 "$work/ami2.out")"
grep -q 'login refused: Authentication failed' "$work/ami2.err" ||
  fail "the refused login is not logged"
kill -TERM "$ami_pid"
wait "$ami_pid" || fail "ami exited $?"
ami_pid=
grep -q '^ami stopped: pbx eu1 (tenant acme): connected 0' "$work/ami2.out" ||
  fail "eu1 connected with a wrong secret"
grep -q '^ami stopped: pbx eu2 (tenant globex): connected 1' "$work/ami2.out" ||
  fail "eu2 did not stay connected"

for f in "$work"/*.out "$work"/*.err "$work/actions.jsonl"; do
  grep -q -- "$secret" "$f" && fail "a secret in $f"
done
[ -n "${SB_AMI_SHOW:-}" ] && cp "$work"/ami*.out "$work"/ami*.err "$work/actions.jsonl" "$SB_AMI_SHOW"/
echo "ok"
