#!/usr/bin/env bash
# Crash test: exactly once into PostgreSQL through SIGKILLs.
#
# `up --processors none` hosts the broker and the database; one worker,
# `run --processors audit`, does the work. 20,000 events are imported in 10
# chunks, each fed slowly so the stream is continuous. During the first 9
# the worker is killed with SIGKILL at random moments (0.2 to 2 s after it
# got its partitions, while it works through the backlog that built up
# while it was joining; at least 4 times) and restarted at once. The last
# chunk follows the last restart, so the surviving worker has work to do
# too. Then:
#  - audit.events holds every accepted event exactly once (no loss, no
#    duplicate), and exactly the imported ids;
#  - audit verify passes: the chains have no gap, repeat or fork;
#  - the offsets in sb.consumer_offsets for switchboard.audit are at the end
#    of every partition;
#  - the last worker stops cleanly on SIGTERM.
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=audit CHUNKS=10 PER_CHUNK=2000 MIN_KILLS=4 MAX_KILLS=6
KILL_SECONDS=150 GEN_PREFIX=CRSH GEN_TENANTS=acme,globex,initech,umbrella
TOTAL=$((CHUNKS * PER_CHUNK))
crash_status() { echo "$(q 'SELECT count(*) FROM audit.events') rows"; }

start_up --processors none --partitions 4
rollbacks0=$(q 'SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()')
crash_run

# ---- the surviving worker finishes the job -----------------------------------
n=0
t_wait=$SECONDS
while [ $((SECONDS - t_wait)) -lt 90 ]; do
  n=$(q 'SELECT count(*) FROM audit.events' 2>/dev/null || echo 0)
  [ "$n" -ge "$accepted" ] && break
  kill -0 "$wpid" 2>/dev/null || fail "the last worker exited: $(tail -5 "$work/worker$nworker.log")"
  sleep 0.5
done
[ "$n" -ge "$accepted" ] || fail "audit.events holds $n of $accepted events after 90 s"
sleep 1 # a duplicate arriving late would show now
[ "$(q 'SELECT count(*) || $$ $$ || count(DISTINCT event_id) FROM audit.events')" = "$accepted $accepted" ] ||
  fail "not exactly once: $(q 'SELECT count(*) || $$ rows, $$ || count(DISTINCT event_id) || $$ distinct ids$$ FROM audit.events'), $accepted accepted; duplicates: $(q 'SELECT string_agg(event_id, $$,$$) FROM (SELECT event_id FROM audit.events GROUP BY 1 HAVING count(*) > 1 LIMIT 5) x')"
gen -n "$TOTAL" -p CRSH | sed -n 's/.*"id":"\([0-9A-Z]\{26\}\)".*/\1/p' | sort >"$work/ids.want"
q 'SELECT event_id FROM audit.events ORDER BY 1' >"$work/ids.db"
cmp -s "$work/ids.want" "$work/ids.db" || fail "audit.events does not hold exactly the imported ids"
"$SB" audit verify --data-dir "$dd" >"$work/verify.out" 2>&1 || fail "audit verify: $(cat "$work/verify.out")"
grep -q "^audit verify: OK: $accepted rows" "$work/verify.out" || fail "audit verify: $(cat "$work/verify.out")"

# the stored offsets are at the end of every partition; the worker has had
# time to commit everything (its rows are all in), so they must be exact
offsets_at_end switchboard.audit 4 sb.leads sb.calls sb.agents sb.messages \
  sb.campaigns sb.compliance sb.gamification

# how many kills caught the worker inside a transaction (for information:
# PostgreSQL rolls those back when the connection drops)
aborted=$(($(q 'SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()') - rollbacks0))
# the last worker stops cleanly
crash_stop
[ "$(q 'SELECT count(*) FROM audit.events')" -eq "$accepted" ] || fail "rows changed after the worker stopped"
kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "crash: $kills kills ($aborted transactions aborted), $accepted events exactly once, $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "crash: all checks passed"
