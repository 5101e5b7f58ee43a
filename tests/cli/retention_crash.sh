#!/usr/bin/env bash
# Crash test of retention through SIGKILLs: one worker `run --processors
# security,retention` (policies run every second). First, history is
# written with no policy: per tenant (acme 30 days, globex 20, initech 45),
# failed logins and reads, some past the tenant's policy, some within it.
# Then the policies arrive and the worker is SIGKILLed at random moments
# (tests/cli/crash_lib.sh) while the purges run and young events keep
# coming. Then, against what tests/cli/gen_retention.py computes on its own:
#  - nothing purged twice: per tenant and class, the purges that committed
#    (retention.purges, read back from the log, copies of batches that did
#    not commit dropped) count exactly the old rows, in one purge;
#  - nothing left that should be purged: no row dated before its tenant's
#    cutoff, and every young row there, once.
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
GENRET="/usr/bin/python3 $(dirname "$0")/gen_retention.py"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=security,retention CHUNKS=3 PER_CHUNK=600 MIN_KILLS=2 MAX_KILLS=3
KILL_SECONDS=60 HIST=150
export SWITCHBOARD_RETENTION_INTERVAL_S=1
rows() { q "SELECT (SELECT count(*) FROM security.failures) + (SELECT count(*) FROM security.access)" 2>/dev/null || echo 0; }
crash_status() {
  echo "$(rows) rows, $(q 'SELECT count(*) FROM retention.purges' 2>/dev/null || echo 0) purges"
}
# chunk C: young events in pieces of 200 (100 of each kind), 0.35 s apart
chunk() {
  local c=$1 p
  for p in $(seq 0 $((PER_CHUNK / 200 - 1))); do
    $GENRET young $((c * PER_CHUNK / 200 + p)) 100
    sleep 0.35
  done | "$SB" import - --data-dir "$dd" >"$work/import$c.out" 2>"$work/import$c.log"
}
settle() { # settle WANT: until rows() stays at WANT for 2 s (60 s at most)
  local t0=$SECONDS stable=0 n
  while [ $((SECONDS - t0)) -lt 60 ]; do
    kill -0 "$wpid" 2>/dev/null || fail "the worker exited: $(tail -5 "$work/worker$nworker.log")"
    n=$(rows)
    if [ "$n" = "$1" ]; then stable=$((stable + 1)); [ $stable -ge 4 ] && return 0; else stable=0; fi
    sleep 0.5
  done
  fail "rows did not settle at $1: $(crash_status)"
}

start_up --processors none --partitions 2
# ---- history, no policy yet: everything is written --------------------------
start_worker
$GENRET hist $HIST | "$SB" import - --data-dir "$dd" >"$work/hist.out" 2>&1 || fail "import: $(cat "$work/hist.out")"
settle $((3 * HIST * 4))
crash_stop

# ---- the policies, then kills while they purge and young events come ------------
$GENRET policies | "$SB" import - --data-dir "$dd" >"$work/pol.out" 2>&1 || fail "policies: $(cat "$work/pol.out")"
crash_run
$GENRET expect $HIST $((CHUNKS * PER_CHUNK / 200)) 100 >"$work/expect"
want=0
while read -r tenant days old young; do want=$((want + 2 * young)); done <"$work/expect"
settle $want
for _ in $(seq 1 100); do # every tenant's first purge read back
  [ "$(q 'SELECT count(*) FROM retention.purges')" -ge 6 ] && break
  sleep 0.2
done
while read -r tenant days old young; do
  for t in failures access; do
    cls=$([ $t = failures ] && echo security || echo access)
    got=$(q "SELECT count(*) || ' ' || coalesce(sum(rows_purged), 0) FROM retention.purges WHERE tenant_id = '$tenant' AND class = '$cls'")
    [ "$got" = "1 $old" ] || fail "$tenant $cls: purges (count, rows) '$got', want one of $old rows: $(q "SELECT event_id, rows_purged FROM retention.purges WHERE tenant_id = '$tenant'")"
    n=$(q "SELECT count(*) FROM security.$t WHERE tenant_id = '$tenant'")
    [ "$n" = "$young" ] || fail "$tenant: security.$t holds $n rows, want the $young young ones"
  done
  [ "$(q "SELECT count(*) FROM security.failures f JOIN sb.retention_cutoffs c ON c.tenant_id = f.tenant_id AND c.class = 'security' WHERE f.tenant_id = '$tenant' AND f.occurred_at < c.cutoff")" = 0 ] ||
    fail "$tenant: failures left before the cutoff"
  [ "$(q "SELECT count(*) FROM security.access a JOIN sb.retention_cutoffs c ON c.tenant_id = a.tenant_id AND c.class = 'access' WHERE a.tenant_id = '$tenant' AND a.day < (c.cutoff AT TIME ZONE 'UTC')::date")" = 0 ] ||
    fail "$tenant: reads left before the cutoff"
done <"$work/expect"

crash_stop
kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "retention_crash: $kills kills, $accepted young events, $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "retention_crash: all checks passed"
