#!/usr/bin/env bash
# Crash test of the assignment processor with two workers: worker B runs
# `run --processors assignment` throughout, worker A (tests/cli/crash_lib.sh)
# is SIGKILLed at random moments and restarted at once, while 3,600
# routing.input events of three tenants (tests/cli/gen_routing.py: agents'
# snapshots, leads ready and withdrawn, queues reconfigured, ticks) are
# imported in chunks. The partitions of sb.routing move between A and B at
# every kill and restart. Then:
#  - no lead was assigned twice, and every lead made ready has its
#    decision (assigned, queued or queue_full);
#  - lead.assigned in Kafka: exactly one id per assignment (a copy of an
#    uncommitted batch may repeat an id, never add one);
#  - the offsets are at the end of every partition;
#  - `replay --processor assignment --from earliest` rebuilds exactly the
#    same decisions, explanations included: what the crashes and moves left
#    is what one uninterrupted run over the same log decides, so no agent
#    was given past its capacity (the book never does: routing_book_*).
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
GENR="/usr/bin/python3 $(dirname "$0")/gen_routing.py"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=assignment CHUNKS=6 PER_CHUNK=600 MIN_KILLS=2 MAX_KILLS=4
KILL_SECONDS=90
TOTAL=$((CHUNKS * PER_CHUNK))
crash_status() {
  echo "$(q 'SELECT count(*) FROM assignment.decisions') decisions"
}
chunk() {
  local c=$1 p
  for p in $(seq 0 $((PER_CHUNK / 200 - 1))); do
    $GENR events 200 $((c * PER_CHUNK + p * 200))
    sleep 0.35
  done | "$SB" import - --data-dir "$dd" >"$work/import$c.out" 2>"$work/import$c.log"
}
bpid=
eval "lib_$(declare -f cleanup_extra)"
cleanup_extra() {
  [ -n "$bpid" ] && kill -KILL "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
  lib_cleanup_extra
}

start_up --processors none --partitions 4
"$SB" run --processors assignment --data-dir "$dd" --batch-max-events 20 \
  --set kafka.session.timeout.ms=6000 ${CRASH_WORKER_SET:-} >"$work/workerB.out" 2>"$work/workerB.log" &
bpid=$!
crash_run

# ---- both workers settle: the stored offsets reach the end of sb.routing ------
# (the ticks timers send move the end too: settled is at the end twice running)
at_end() { # 0 when the stored offsets of every partition are its end
  local p args=()
  for p in 0 1 2 3; do args+=(-t "sb.routing:$p:-1"); done
  timeout 20 kcat -Q -b "$kafka" "${args[@]}" 2>/dev/null |
    sed -n 's/^sb.routing \[\([0-9]*\)\] offset \([0-9]*\)$/\1 \2/p' |
    grep -v ' 0$' | sort >"$work/ends" || true
  q "SELECT partition || ' ' || next_offset FROM sb.consumer_offsets
     WHERE consumer_group = 'switchboard.assignment' AND topic = 'sb.routing'
     AND next_offset > 0" 2>/dev/null | sort >"$work/stored" || true
  [ -s "$work/ends" ] && cmp -s "$work/ends" "$work/stored"
}
# Kafka holds a batch's lead.assigned before its commit: settled is also
# one lead.assigned id in Kafka per committed assignment (a copy of an
# uncommitted batch may repeat an id, never add one), both twice running
count_ids() {
  assigned=$(q "SELECT count(*) FROM assignment.decisions WHERE outcome = 'assigned'")
  ids=$(timeout 30 kcat -C -b "$kafka" -t sb.leads -e -q -f '%h\n' 2>/dev/null |
    grep 'ce_type=lead.assigned' | sed 's/.*ce_id=\([0-9A-Z]*\).*/\1/' | sort -u | wc -l)
  [ "$ids" = "$assigned" ]
}
t_wait=$SECONDS stable=0 ended=0
while [ $((SECONDS - t_wait)) -lt 90 ] && [ $stable -lt 2 ]; do
  kill -0 "$bpid" 2>/dev/null || fail "worker B exited: $(tail -5 "$work/workerB.log")"
  if at_end; then
    ended=1
    if count_ids; then stable=$((stable + 1)); else stable=0; fi
  else
    stable=0
  fi
  sleep 1
done
[ $ended = 1 ] || fail "the workers did not reach the end within 90 s: $(crash_status)"
if [ $stable -lt 2 ]; then # what to look at, kept by SB_TEST_KEEP
  timeout 30 kcat -C -b "$kafka" -t sb.leads -e -q -f '%p@%o %h %s\n' 2>/dev/null |
    grep -a 'ce_type=lead.assigned' | tr -c '[:print:]\n' '.' >"$work/assigned.kafka" || true
  q "SELECT txid || ' ' || processor FROM sb.emitted_batches" >"$work/emitted.db" 2>/dev/null || true
  q "SELECT input_id, seq, lead_id, agent_id, decided_at FROM assignment.decisions
     WHERE outcome = 'assigned' ORDER BY 1, 2" >"$work/assigned.db" 2>/dev/null || true
  fail "lead.assigned: $ids ids in Kafka, $assigned assignments (90 s after the end)"
fi

# ---- each lead decided once ----------------------------------------------------
twice=$(q "SELECT count(*) FROM (SELECT tenant_id, lead_id FROM assignment.decisions
  WHERE outcome = 'assigned' GROUP BY 1, 2 HAVING count(*) > 1) x")
[ "$twice" = 0 ] || fail "$twice leads assigned twice"
$GENR leads $TOTAL | LC_ALL=C sort >"$work/leads.want"
q "SELECT DISTINCT tenant_id || ' ' || lead_id FROM assignment.decisions
   WHERE outcome IN ('assigned', 'queued', 'queue_full')" | LC_ALL=C sort >"$work/leads.db"
cmp -s "$work/leads.want" "$work/leads.db" ||
  fail "leads without their decision: $(comm -23 "$work/leads.want" "$work/leads.db" | head -5 | tr '\n' ' ')"
[ "$assigned" -gt 100 ] || fail "only $assigned assignments: the test would prove little"

# ---- one uninterrupted run decides the same -------------------------------------
snap() {
  q "SELECT tenant_id, input_id, seq, outcome, lead_id, agent_id, queue_id, strategy,
       explanation::text, decided_at FROM assignment.decisions ORDER BY 1, 2, 3" >"$work/$1.dec"
  q "SELECT * FROM assignment.waiting ORDER BY 1, 2" >"$work/$1.wait"
}
kill -TERM "$bpid"
wait "$bpid" || fail "worker B exited non-zero on SIGTERM"
bpid=
crash_stop
snap live # once both have stopped: a late tick decides no more
rrc=0
timeout 120 "$SB" replay --processor assignment --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rrc=$?
[ $rrc -eq 0 ] || fail "replay exited $rrc: $(cat "$work/replay.out"; tail -3 "$work/replay.err")"
snap rebuilt
for t in dec wait; do
  cmp -s "$work/live.$t" "$work/rebuilt.$t" ||
    fail "the rebuilt assignment.$t differs: $(diff "$work/live.$t" "$work/rebuilt.$t" | head -4)"
done

kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "assignment_crash: $kills kills, $accepted inputs, $assigned assignments, each once; a replay decides the same; $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "assignment_crash: all checks passed"
