#!/usr/bin/env bash
# Crash test of the security processor through SIGKILLs: `run --processors
# security` with small batches, while 3,000 security events (failed logins,
# denied requests, reads and sign-ins from tests/cli/gen_security.py; one
# address's failures on every partition, out of time order) are imported
# in chunks; the worker is SIGKILLed at random moments and restarted at
# once (tests/cli/crash_lib.sh). Then, against what gen_security.py
# computes on its own:
#  - security.failures holds every failure once;
#  - the anomaly flags are exactly the failures with THRESHOLD failures of
#    their address within the window up to them (by event time), however
#    the batches fell and whatever the kills;
#  - security.access counted every read, record and sign-in once (sums:
#    a batch counted twice or lost shows);
#  - the offsets are at the end of every partition.
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
GENSEC="/usr/bin/python3 $(dirname "$0")/gen_security.py"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=security CHUNKS=5 PER_CHUNK=600 MIN_KILLS=2 MAX_KILLS=3
KILL_SECONDS=60
TOTAL=$((CHUNKS * PER_CHUNK))
THRESHOLD=4 WINDOW=300000
export SWITCHBOARD_SECURITY_ANOMALY_FAILURES=$THRESHOLD
export SWITCHBOARD_SECURITY_ANOMALY_WINDOW_MS=$WINDOW
crash_status() {
  echo "$(q 'SELECT count(*) FROM security.failures') failures, $(q 'SELECT coalesce(sum(reads), 0) FROM security.access') reads"
}
# crash_lib's chunk, with security events: chunk C in pieces of 200
chunk() {
  local c=$1 p
  for p in $(seq 0 $((PER_CHUNK / 200 - 1))); do
    $GENSEC events 200 $((c * PER_CHUNK + p * 200))
    sleep 0.35
  done | "$SB" import - --data-dir "$dd" >"$work/import$c.out" 2>"$work/import$c.log"
}

# a kill lands while the worker writes: after it got its partitions, once
# it committed something more (bounded), then crash_lib's random delay
rows() { q 'SELECT (SELECT count(*) FROM security.failures) + (SELECT coalesce(sum(reads + logins), 0) FROM security.access)' 2>/dev/null || echo 0; }
eval "lib_$(declare -f wait_assigned)"
wait_assigned() {
  local before deadline=$((SECONDS + 15))
  before=$(rows)
  lib_wait_assigned "$@"
  while [ $SECONDS -lt $deadline ] && [ "$(rows)" -le "$before" ]; do sleep 0.1; done
}

start_up --processors none --partitions 4
crash_run

$GENSEC expect $TOTAL $WINDOW $THRESHOLD >"$work/expect"
read -r nfail reads records logins <"$work/expect"
tail -n +2 "$work/expect" >"$work/flagged.want"
crash_settle 'SELECT (SELECT count(*) FROM security.failures) + (SELECT coalesce(sum(reads + logins), 0) FROM security.access)' \
  'SELECT (SELECT count(*) FROM security.failures) + (SELECT coalesce(sum(reads + logins), 0) FROM security.access)' $((nfail + reads + logins)) 60

[ "$(q 'SELECT count(*) FROM security.failures')" = "$nfail" ] ||
  fail "security.failures holds $(q 'SELECT count(*) FROM security.failures') rows, want $nfail"
q "SELECT event_id FROM security.failures WHERE anomaly ORDER BY 1" >"$work/flagged.db"
[ -s "$work/flagged.want" ] || fail "the generator flags nothing: the test would prove nothing"
cmp -s "$work/flagged.want" "$work/flagged.db" ||
  fail "anomaly flags differ: $(diff "$work/flagged.want" "$work/flagged.db" | head -6) ($(wc -l <"$work/flagged.want") wanted)"
got=$(q 'SELECT sum(reads) || $$ $$ || sum(records) || $$ $$ || sum(logins) FROM security.access')
[ "$got" = "$reads $records $logins" ] ||
  fail "security.access counted '$got' (reads, records, sign-ins), want '$reads $records $logins'"
[ "$(q 'SELECT count(*) FROM security.anomalies')" = \
  "$(q 'SELECT count(DISTINCT (tenant_id, ip)) FROM security.failures WHERE anomaly')" ] ||
  fail "security.anomalies does not have one row per flagged address"
offsets_at_end switchboard.security 4 sb.compliance

crash_stop
kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "security_crash: $kills kills, $accepted events, $nfail failures ($(wc -l <"$work/flagged.want") flagged), $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "security_crash: all checks passed"
