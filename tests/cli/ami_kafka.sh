#!/usr/bin/env bash
# The AMI connector end to end: `switchboard ami` against the test AMI
# server (tests/ami/ami_server.py) and an `up` instance. The events the
# PBX's flows make reach Kafka through ingest (sealed, claimed, produced)
# and come back from the audit log equal to tests/ami/kafka/expected.txt:
# the resynchronisation's agents and channel; an inbound queue call whose
# session is dropped mid-call (the resync finds the call still up, and the
# rest of the call follows once reconnected); an abandoned call; an agent
# pausing; then the mapping's other flows (tests/ami/map: IVR steps with
# DTMF, blind and attended transfers, a ring not answered then answered by
# another agent, a voicemail, calls naming their tenant: globex produced
# under globex, umbrella never produced; an outbound call) with the PBX's
# mapping keys. No event twice, whatever the drop.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_ami.sh"
here=$(cd "$(dirname "$0")/.." && pwd)

start_up --processors audit
secret=Zm9vYmFyLWFtaQ
printf 'switchboard %s\n' "$secret" >"$work/users"
start_ami_server
printf 'name=eu1 host=127.0.0.1 port=%s tenant=acme user=switchboard %s\n' \
  "$port" "ivr_contexts=ivr-main,ivr-billing outbound_contexts=dialer \
tenant_var=SB_TENANT tenants=globex agents_file=$here/ami/map/agents.txt" \
  >"$work/pbx"
printf 'eu1 %s\n' "$secret" >"$work/secrets"
chmod 600 "$work/secrets"

"$SB" ami --data-dir "$dd" --set "ami.pbx_file=$work/pbx" \
  --set "ami.secrets_file=$work/secrets" --progress-ms 100 \
  --set ami.reconnect_min_ms=50 --set ami.reconnect_max_ms=200 \
  >"$work/ami.out" 2>"$work/ami.err" &
ami_pid=$!
counter() {
  { grep "^ami: pbx eu1 " "$work/ami.out" || true; } | tail -1 |
    sed -n "s/.*[:,] $1 \([0-9]*\).*/\1/p"
}
wait_for() {
  for _ in $(seq 300); do
    local v
    v=$(counter "$1")
    [ -n "$v" ] && [ "$v" -ge "$2" ] && return 0
    sleep 0.05
  done
  fail "$1 did not reach $2: $(tail -1 "$work/ami.out")"
}

# the resync: Alice and Bob logged in (Bob paused), Carol's echo call
wait_for accepted 5
# a queue call, up to Alice ringing; then the PBX drops the session while
# the call goes on: the resync finds its channels up (nothing ends, nothing
# repeats), Carol's call is over (ended, reason other)
$PY - "$here/ami/map/queue_answered.ami" "$work" <<'PYEOF'
import sys
text = open(sys.argv[1]).read()
cut = text.index("Event: AgentConnect")
open(sys.argv[2] + "/part1.ami", "w").write(text[:cut])
open(sys.argv[2] + "/part2.ami", "w").write(text[cut:])
PYEOF
ctl "play $work/part1.ami" >/dev/null
wait_for accepted 9
[ "$(ctl "state $flows/state_mid_call.ami")" = ok ] || fail "state"
[ "$(ctl drop)" = "ok 1" ] || fail "drop"
wait_for resyncs 2
wait_for accepted 10 # Carol's call ended
ctl "play $work/part2.ami" >/dev/null
ctl "play $here/ami/map/queue_abandoned.ami" >/dev/null
ctl "play $flows/pause_unpause.ami" >/dev/null
wait_for accepted 20
for f in ivr_dtmf transfer_blind transfer_attended ring_no_answer voicemail \
  tenant outbound; do
  ctl "play $here/ami/map/$f.ami" >/dev/null
done
wait_for accepted 68 # 65 of acme, 3 of globex

kill -TERM "$ami_pid"
wait "$ami_pid" || fail "ami exited $?"
ami_pid=
grep -q '^ami stopped: pbx eu1 .*ingest refused 0, dropped 0, waiting 0' \
  "$work/ami.out" || fail "events not all produced: $(tail -1 "$work/ami.out")"

# what the audit log holds of them: every one once, as expected
# export_until FILE N: the audit log's events of tenant acme into FILE,
# until N of them are the PBX's
export_until() {
  for _ in $(seq 100); do
    "$SB" audit export --data-dir "$dd" --tenant "${3:-acme}" >"$1" 2>"$1.err" ||
      fail "audit export"
    [ "$(grep -c '"source":"ami://eu1"' "$1")" -ge "$2" ] && return 0
    sleep 0.2
  done
  fail "fewer than $2 events of the PBX in the audit log"
}
export_until "$work/export" 65
# the call naming globex is globex's; the one naming umbrella, nobody's
export_until "$work/export.globex" 3 globex
[ "$(grep -c '"source":"ami://eu1"' "$work/export.globex")" = 3 ] ||
  fail "globex: not the 3 events of its call"
cat "$work/export.globex" >>"$work/export"
grep -q '1764689002.520' "$work/export" && fail "the refused tenant's call produced"
$PY - "$work/export" "$here/ami/kafka/expected.txt" "${SB_AMI_UPDATE:-}" <<'PYEOF' || fail "the events differ"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if '"ami://eu1"' in l]
ids = [e["id"] for e in evs]
assert len(ids) == len(set(ids)), "an event twice"
lines = []
for e in evs:
    d = {k: v for k, v in e.get("data", {}).items()
         if not k.endswith("_hmac") and k not in ("started_at", "answered_at",
                                                   "previous_state_ms", "duration_ms")}
    lines.append("%s %s %s" % (e["type"], e["subject"], json.dumps(d, sort_keys=True)))
# the export's order is the audit log's, not a call's: compared sorted
# (each call's order is the mapping golden test's, tests/ami/map)
got = "\n".join(sorted(lines)) + "\n"
if sys.argv[3]:
    open(sys.argv[2], "w").write(got)
want = open(sys.argv[2]).read()
if got != want:
    sys.stderr.write("got:\n" + got + "\nexpected:\n" + want)
    sys.exit(1)
PYEOF
stop_up

# `up` runs the connector when ami.pbx_file is set. A new connector knows
# nothing: what the resync shows again (the agents' logins, Carol's call)
# has the ids it had and is acknowledged as a duplicate; only Alice's
# state, which the PBX gives no time for, is stated again
[ "$(ctl "state $flows/state_two_agents.ami")" = ok ] || fail "state"
start_up --processors audit --set "ami.pbx_file=$work/pbx" \
  --set "ami.secrets_file=$work/secrets"
export_until "$work/export2" 66
sleep 1 # anything more would be there by now: exported again
export_until "$work/export2" 66
$PY - "$work/export2" "$work/export" <<'PYEOF' || fail "the restarted connector made events twice"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if '"ami://eu1"' in l]
ids = [e["id"] for e in evs]
assert len(ids) == len(set(ids)), "an event twice"
before = {json.loads(l)["id"] for l in open(sys.argv[2]) if '"ami://eu1"' in l}
new = [(e["type"], e["subject"], e.get("data")) for e in evs if e["id"] not in before]
assert len(evs) == 66, (len(evs), new)
started = [e["subject"] for e in evs if e["type"] == "call.started"]
assert len(started) == len(set(started)), started
PYEOF
grep -q 'ami: logged in pbx=eu1' "$work/up.err" || fail "up did not run the connector"
for f in "$work"/*.out "$work"/*.err; do
  grep -q -- "$secret" "$f" && fail "a secret in $f"
done
stop_up
echo "ok"
