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
gen() { bash "$(dirname "$0")/gen_events.sh" "$@"; }
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CHUNKS=10 PER_CHUNK=2000 MIN_KILLS=4 MAX_KILLS=6
TOTAL=$((CHUNKS * PER_CHUNK))
wpid= ipid=
cleanup_extra() {
  [ -n "$ipid" ] && kill -TERM "$ipid" 2>/dev/null && wait "$ipid" 2>/dev/null
  [ -n "$wpid" ] && kill -KILL "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
  return 0
}

start_up --processors none --partitions 4

# the worker: small batches, so that a kill often lands inside a
# transaction. A restarted worker waits for the killed one's session to
# expire (the embedded broker takes about two session timeouts to settle
# the group), so the session is 6 s instead of 10, to fit the test in time.
nworker=0
start_worker() {
  nworker=$((nworker + 1))
  "$SB" run --processors audit --data-dir "$dd" --batch-max-events 20 \
    --set kafka.session.timeout.ms=6000 \
    >"$work/worker$nworker.out" 2>"$work/worker$nworker.log" &
  wpid=$!
}
# wait_assigned SECONDS: until the current worker holds partitions
wait_assigned() {
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    grep -q 'partitions assigned' "$work/worker$nworker.log" && return 0
    kill -0 "$wpid" 2>/dev/null || fail "worker $nworker exited: $(tail -5 "$work/worker$nworker.log")"
    sleep 0.1
  done
  fail "worker $nworker got no partitions within $1 s"
}

# chunk C: one import fed in pieces of 200 events 0.35 s apart (~3.5 s);
# the generator numbers the events 0..TOTAL-1 across chunks
chunk() {
  local c=$1 p
  for p in $(seq 0 $((PER_CHUNK / 200 - 1))); do
    gen -n 200 -p CRSH -t acme,globex,initech,umbrella -s 1769299200 -d 60 \
      -o $((c * PER_CHUNK + p * 200))
    sleep 0.35
  done | "$SB" import - --data-dir "$dd" >"$work/import$c.out" 2>"$work/import$c.log"
}
# the stream during the kills: chunks 0..CHUNKS-2 one after the other
importer() {
  local child=
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; exit 1' TERM
  for c in $(seq 0 $((CHUNKS - 2))); do
    chunk "$c" &
    child=$!
    wait "$child" || echo "chunk $c: import exited $?" >>"$work/import.failures"
    child=
  done
}
start_worker
importer &
ipid=$!

# ---- kill at random moments ------------------------------------------------
kills=0
rollbacks0=$(q 'SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()')
deadline=$((SECONDS + 150))
while [ $kills -lt $MAX_KILLS ] && [ $SECONDS -lt $deadline ]; do
  running=0
  kill -0 "$ipid" 2>/dev/null && running=1
  [ $running -eq 0 ] && [ $kills -ge $MIN_KILLS ] && break
  # once the worker holds its partitions it works through the backlog that
  # built up while it was joining, in many small transactions: kill it then
  wait_assigned 45
  ms=$((200 + RANDOM % 1801)) # 0.2 to 2 s
  sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
  kill -0 "$wpid" 2>/dev/null || fail "worker $nworker died by itself: $(tail -5 "$work/worker$nworker.log")"
  kill -KILL "$wpid"
  wait "$wpid" 2>/dev/null || true
  kills=$((kills + 1))
  echo "kill $kills: worker $nworker at $((SECONDS - t_start)) s, $(q 'SELECT count(*) FROM audit.events') rows" \
    >>"$work/kills.txt"
  start_worker
done
[ $kills -ge $MIN_KILLS ] || fail "only $kills kills before the deadline"
# the import is done (bounded: 9 chunks of ~3.5 s)
for _ in $(seq 1 600); do
  kill -0 "$ipid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$ipid" 2>/dev/null && fail "the import did not finish"
wait "$ipid" || fail "the importer failed"
ipid=
# the last chunk, for the surviving worker
chunk $((CHUNKS - 1)) || echo "chunk $((CHUNKS - 1)): import exited $?" >>"$work/import.failures"
[ ! -e "$work/import.failures" ] || fail "imports failed: $(cat "$work/import.failures")"
accepted=0
for c in $(seq 0 $((CHUNKS - 1))); do
  a=$(sed -n 's/^accepted: \([0-9]*\), rejected: 0$/\1/p' "$work/import$c.out")
  [ -n "$a" ] || fail "import chunk $c: $(cat "$work/import$c.out" "$work/import$c.log")"
  accepted=$((accepted + a))
done
[ "$accepted" -eq "$TOTAL" ] || fail "imports accepted $accepted events, want $TOTAL"

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
kill -TERM "$wpid"
rc=0
wait "$wpid" || rc=$?
wpid=
[ $rc -eq 0 ] || fail "the last worker exited $rc on SIGTERM: $(tail -5 "$work/worker$nworker.log")"
[ "$(q 'SELECT count(*) FROM audit.events')" -eq "$accepted" ] || fail "rows changed after the worker stopped"
kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "crash: $kills kills ($aborted transactions aborted), $accepted events exactly once, $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "crash: all checks passed"
