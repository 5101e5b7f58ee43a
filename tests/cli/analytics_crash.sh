#!/usr/bin/env bash
# Crash test of the analytics processor: `run --processors analytics`
# SIGKILLed at random moments (tests/cli/crash_lib.sh) while 1,200 events
# of `switchboard generate` (two tenants: agents' shifts, inbound and
# outbound calls with holds, transfers and dispositions, leads through the
# funnel, messages with receipts, spend) are imported in chunks. Then:
#  - the offsets are at the end of every partition it reads;
#  - every lead created and every message requested counts once (the
#    generated log holds each once);
#  - `replay --processor analytics --from earliest` (one uninterrupted run
#    over the same log), then a worker firing the timers that came due (the
#    calls waiting for a disposition), gives exactly the same figures in
#    every view: what the kills and restarts left is what a run without
#    them computes.
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=analytics CHUNKS=3 PER_CHUNK=400 MIN_KILLS=2 MAX_KILLS=4
KILL_SECONDS=90 GEN_PREFIX=ANCR GEN_TENANTS=acme,globex # (unused: the chunks come from the generated log)
TOTAL=$((CHUNKS * PER_CHUNK))
"$SB" generate --events "$TOTAL" --tenants 2 --seed 14 --out "$work/all.ndjson" \
  2>"$work/generate.err" || fail "generate: $(tail -3 "$work/generate.err")"
[ "$(wc -l <"$work/all.ndjson")" -eq "$TOTAL" ] || fail "generate wrote $(wc -l <"$work/all.ndjson") events, want $TOTAL"
# crash_lib's chunks, cut from the generated log: -n N ... -o FIRST
gen() {
  local n=200 o=0
  while [ $# -gt 0 ]; do
    case $1 in -n) n=$2; shift 2 ;; -o) o=$2; shift 2 ;; *) shift 2 ;; esac
  done
  sed -n "$((o + 1)),$((o + n))p" "$work/all.ndjson"
}
crash_status() {
  echo "$(q 'SELECT coalesce(sum(calls), 0) FROM analytics.calls_hour') calls, $(q 'SELECT coalesce(sum(created), 0) FROM analytics.leads_hour') leads"
}
topics="sb.calls sb.agents sb.leads sb.campaigns sb.messages"
# at_end: 0 when analytics' stored offsets are at the end of every partition
at_end() {
  local args=() t p
  for t in $topics; do
    for p in 0 1 2 3; do args+=(-t "$t:$p:-1"); done
  done
  timeout 20 kcat -Q -b "$kafka" "${args[@]}" 2>/dev/null |
    sed -n 's/^\([^ ]*\) \[\([0-9]*\)\] offset \([1-9][0-9]*\)$/\1 \2 \3/p' | sort >"$work/ends.now"
  q "SELECT topic || ' ' || partition || ' ' || next_offset FROM sb.consumer_offsets
     WHERE consumer_group = 'switchboard.analytics' AND next_offset > 0" | sort >"$work/stored.now"
  [ -s "$work/ends.now" ] && cmp -s "$work/ends.now" "$work/stored.now"
}

start_up --processors none --partitions 4
crash_run

deadline=$((SECONDS + 90))
until at_end; do
  [ $SECONDS -lt $deadline ] || fail "analytics did not reach the end within 90 s: $(diff "$work/ends.now" "$work/stored.now" | head -4)"
  kill -0 "$wpid" 2>/dev/null || fail "the last worker exited: $(tail -5 "$work/worker$nworker.log")"
  sleep 0.5
done
# wall-clock timers due (calls' disposition waits: the generated times are
# past) fired by the worker
timers_fired() {
  local deadline=$((SECONDS + 60))
  until [ "$(q "SELECT count(*) FROM sb.processor_timers WHERE schema = 'analytics'
      AND kind = 'wall' AND due_us <= extract(epoch FROM now()) * 1000000")" = 0 ]; do
    [ $SECONDS -lt $deadline ] || fail "analytics' due timers did not fire within 60 s"
    sleep 0.5
  done
}
timers_fired
offsets_at_end switchboard.analytics 4 $topics

# ---- each lead and message once ------------------------------------------------
leads=$(grep '"type":"lead.created"' "$work/all.ndjson" |
  sed 's/.*"subject":"\([^"]*\)".*"tenantid":"\([^"]*\)".*/\2 \1/' | sort -u | wc -l)
msgs=$(grep '"type":"message.requested"' "$work/all.ndjson" |
  sed 's/.*"subject":"\([^"]*\)".*"tenantid":"\([^"]*\)".*/\2 \1/' | sort -u | wc -l)
[ "$leads" -gt 0 ] && [ "$msgs" -gt 0 ] || fail "the generated log has $leads leads, $msgs messages"
got=$(q 'SELECT coalesce(sum(created), 0) FROM analytics.leads_hour')
[ "$got" = "$leads" ] || fail "leads_hour counts $got leads, the log created $leads"
got=$(q 'SELECT coalesce(sum(requested), 0) FROM analytics.messages_hour')
[ "$got" = "$msgs" ] || fail "messages_hour counts $got requested, the log requested $msgs"
calls=$(q 'SELECT coalesce(sum(calls), 0) FROM analytics.calls_hour')
[ "$calls" -gt 0 ] || fail "no call counted"
[ "$(q 'SELECT count(*) FROM analytics.agents_hour WHERE on_call_ms > 0')" -gt 0 ] || fail "no agent time counted"

# ---- one uninterrupted run computes the same ----------------------------------
snap() {
  local v
  : >"$work/$1.snap"
  for v in v_calls_hourly v_dispositions_daily v_agents_daily v_agent_pauses_daily \
    v_leads_daily v_lead_stages_daily v_leads_funnel v_campaigns v_campaigns_daily \
    v_messages_hourly v_trends; do
    echo "== $v" >>"$work/$1.snap"
    q "SELECT * FROM analytics.$v" | LC_ALL=C sort >>"$work/$1.snap"
  done
}
snap live
crash_stop
rrc=0
timeout 120 "$SB" replay --processor analytics --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rrc=$?
[ $rrc -eq 0 ] || fail "replay exited $rrc: $(cat "$work/replay.out"; tail -3 "$work/replay.err")"
# the rebuild read the log to its end; a worker fires what came due
start_worker
wait_assigned 45
timers_fired
snap rebuilt
crash_stop
cmp -s "$work/live.snap" "$work/rebuilt.snap" ||
  fail "the rebuilt analytics differ: $(diff "$work/live.snap" "$work/rebuilt.snap" | head -6; [ -n "${SB_ANALYTICS_KEEP:-}" ] && cp "$work"/*.snap "$work"/kills.txt "$SB_ANALYTICS_KEEP"/)"

kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "analytics_crash: $kills kills, $accepted events, $calls calls, $leads leads, $msgs messages, each once; a replay computes the same; $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "analytics_crash: all checks passed"
