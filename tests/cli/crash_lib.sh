# The SIGKILL run shared by the crash tests. Source it after lib.sh and
# `start_up`; set before calling crash_run:
#   CRASH_PROCESSORS  the worker's --processors
#   CHUNKS PER_CHUNK  the import: CHUNKS chunks of PER_CHUNK events, each fed
#                     in pieces of 200, 0.35 s apart
#   MIN_KILLS MAX_KILLS KILL_SECONDS
#   GEN_PREFIX GEN_TENANTS  the generator's id prefix and tenants
#   crash_status      a function printing what the kills.txt line adds
#   CRASH_WORKER_SET  (optional) more "--set key=value" for the workers
# crash_run: one worker, `run --processors $CRASH_PROCESSORS` with small
# batches, while chunks 0..CHUNKS-2 are imported one after the other; the
# worker is SIGKILLed at random moments (0.2 to 2 s after it got its
# partitions, while it works through the backlog that built up while it
# was joining; MIN_KILLS to MAX_KILLS times) and restarted at once. The
# last chunk follows the last restart, so the surviving worker has work to
# do too. Sets accepted (the events the imports accepted, checked to be
# all) and kills; $wpid is the surviving worker.
gen() { bash "$(dirname "${BASH_SOURCE[0]}")/gen_events.sh" "$@"; }
wpid= ipid=
cleanup_extra() {
  [ -n "$ipid" ] && kill -TERM "$ipid" 2>/dev/null && wait "$ipid" 2>/dev/null
  [ -n "$wpid" ] && kill -KILL "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
  return 0
}

# A restarted worker waits for the killed one's session to expire (the
# embedded broker takes about two session timeouts to settle the group),
# so the session is 6 s instead of 10, to fit the test in time.
nworker=0
start_worker() {
  nworker=$((nworker + 1))
  "$SB" run --processors "$CRASH_PROCESSORS" --data-dir "$dd" \
    --batch-max-events 20 --set kafka.session.timeout.ms=6000 ${CRASH_WORKER_SET:-} \
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
# chunk C: one import fed in pieces; the generator numbers the events
# 0..TOTAL-1 across chunks
chunk() {
  local c=$1 p
  for p in $(seq 0 $((PER_CHUNK / 200 - 1))); do
    gen -n 200 -p "$GEN_PREFIX" -t "$GEN_TENANTS" -s 1769299200 -d 60 \
      -o $((c * PER_CHUNK + p * 200))
    sleep 0.35
  done | "$SB" import - --data-dir "$dd" >"$work/import$c.out" 2>"$work/import$c.log"
}
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

crash_run() {
  local running ms deadline
  start_worker
  importer &
  ipid=$!
  kills=0
  deadline=$((SECONDS + KILL_SECONDS))
  while [ $kills -lt $MAX_KILLS ] && [ $SECONDS -lt $deadline ]; do
    running=0
    kill -0 "$ipid" 2>/dev/null && running=1
    [ $running -eq 0 ] && [ $kills -ge $MIN_KILLS ] && break
    wait_assigned 45
    ms=$((200 + RANDOM % 1801)) # 0.2 to 2 s
    sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
    kill -0 "$wpid" 2>/dev/null || fail "worker $nworker died by itself: $(tail -5 "$work/worker$nworker.log")"
    kill -KILL "$wpid"
    wait "$wpid" 2>/dev/null || true
    kills=$((kills + 1))
    echo "kill $kills: worker $nworker at $((SECONDS - t_start)) s, $(crash_status)" >>"$work/kills.txt"
    start_worker
  done
  [ $kills -ge $MIN_KILLS ] || fail "only $kills kills before the deadline"
  # the import is done (bounded: CHUNKS-1 chunks of ~3.5 s)
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
  local c a total=$((CHUNKS * PER_CHUNK))
  accepted=0
  for c in $(seq 0 $((CHUNKS - 1))); do
    a=$(sed -n 's/^accepted: \([0-9]*\), rejected: 0$/\1/p' "$work/import$c.out")
    [ -n "$a" ] || fail "import chunk $c: $(cat "$work/import$c.out" "$work/import$c.log")"
    accepted=$((accepted + a))
  done
  [ "$accepted" -eq "$total" ] || fail "imports accepted $accepted events, want $total"
}

# the surviving worker stops cleanly on SIGTERM, then `up`
crash_stop() {
  local rc=0
  kill -TERM "$wpid"
  wait "$wpid" || rc=$?
  wpid=
  [ $rc -eq 0 ] || fail "the last worker exited $rc on SIGTERM: $(tail -5 "$work/worker$nworker.log")"
}

# crash_settle PROGRESS_SQL COUNT_SQL WANT [SECONDS]: the surviving worker has
# settled once PROGRESS_SQL's value stayed the same for 4 polls running (2 s)
# while COUNT_SQL's is at least WANT; fails after SECONDS (default 90) or when
# the worker exits.
crash_settle() {
  local progress=$1 count=$2 want=$3 secs=${4:-90} t0=$SECONDS last=-1 stable=0 n a
  while [ $((SECONDS - t0)) -lt "$secs" ]; do
    kill -0 "$wpid" 2>/dev/null || fail "the last worker exited: $(tail -5 "$work/worker$nworker.log")"
    n=$(q "$progress" 2>/dev/null || echo 0)
    a=$(q "$count" 2>/dev/null || echo 0)
    if [ "$n" = "$last" ] && [ "$a" -ge "$want" ]; then
      stable=$((stable + 1))
      [ $stable -ge 4 ] && return 0
    else
      stable=0
    fi
    last=$n
    sleep 0.5
  done
  fail "the worker did not settle within $secs s: $(crash_status)"
}
