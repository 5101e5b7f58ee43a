#!/usr/bin/env bash
# `switchboard analytics check` (issue 14 item 5): the figures recomputed
# with plain SQL from the audit log equal the analytics projection.
#  - 3,000 events of `switchboard generate` (three tenants: acme in
#    America/New_York, globex in Asia/Kolkata, a half-hour zone, initech
#    with no settings: UTC), with every 10th event repeated (same id: the
#    projection and the check count it once), and gamification's points
#    (an award twice, a reversal), under `up --processors
#    audit,analytics`; once analytics is at the end of every partition and
#    its due timers fired, the check finds 0 differences in every family;
#  - one projection row changed with psql (a call added to a calls_hour
#    row): the check exits 1 and names the family, the table and the row,
#    both sides; --tenant of another tenant passes;
#  - `replay --processor analytics --from earliest` (the changed row gone)
#    over a dead replay's leftovers (keyed state, its tenants table's
#    offsets), and the timers it left due
#    fired: 0 differences again, and no keyed state of the dropped
#    generation left;
#  - per-queue service levels (routing.queue_configured's service_level_s,
#    issue 14 item 1): globex's queue-17 at 1 s, queue-15 at 1 s then 60 s
#    from 08:05 (mid-log), queue-16 configured without one (the default);
#    the check's plain SQL takes each call's threshold in force at its
#    start from the audit log's configurations and still finds 0
#    differences, and queue-17 has answered calls outside its 1 s (none
#    would be under the default 20 s);
#  - bad options are usage errors naming them.
. "$(dirname "$0")/lib.sh"
t_start=$SECONDS
N=3000
"$SB" generate --events "$N" --tenants 3 --seed 21 --out "$work/gen.ndjson" \
  2>"$work/generate.err" || fail "generate: $(tail -3 "$work/generate.err")"
{
  echo '{"specversion":"1.0","id":"01KGRCHK000000000000000001","type":"tenant.created","source":"/check","subject":"acme","time":"2026-01-01T00:00:00Z","tenantid":"acme","data":{"display_name":"Acme","time_zone":"America/New_York"}}'
  echo '{"specversion":"1.0","id":"01KGRCHK000000000000000002","type":"tenant.created","source":"/check","subject":"globex","time":"2026-01-01T00:00:00Z","tenantid":"globex","data":{"display_name":"Globex","time_zone":"Asia/Kolkata"}}'
  # gamification's points (an award sent twice; a reversal given negative)
  for l in 1 1 2; do
    echo '{"specversion":"1.0","id":"01KGRCHK00000000000000000'$((l + 2))'","type":"points.awarded","source":"/check","subject":"agent-1","time":"2026-01-05T08:3'$l':00Z","tenantid":"acme","data":{"agent_id":"agent-1","rule_id":"sale","points":'$((10 * l))',"source_event_id":"01KGRCHK0000000000000000'$((l + 20))'","team_id":"team-1"}}'
  done
  # queues' service levels: globex queue-17 1 s; queue-15 1 s, then 60 s
  # from 08:05 (its calls before and after have waits over 1 s: checked
  # below); queue-16 without one (the default, 20 s)
  cfg() { echo '{"specversion":"1.0","id":"01KGRCHK0000000000000000'$1'","type":"routing.queue_configured","source":"/check","subject":"'$2'","time":"'$3'","tenantid":"globex","data":{"queue_id":"'$2'","strategy":"longest_wait_time"'$4'}}'; }
  cfg 11 queue-17 2026-01-01T00:00:00Z ',"service_level_s":1'
  cfg 12 queue-15 2026-01-01T00:00:00Z ',"service_level_s":1'
  cfg 13 queue-15 2026-01-05T08:05:00Z ',"service_level_s":60'
  cfg 14 queue-16 2026-01-01T00:00:00Z ''
  echo '{"specversion":"1.0","id":"01KGRCHK000000000000000005","type":"points.reversed","source":"/check","subject":"agent-1","time":"2026-01-05T09:10:00Z","tenantid":"globex","data":{"agent_id":"agent-1","rule_id":"sale","points":-5,"source_event_id":"01KGRCHK000000000000000030","reason":"audit","team_id":"team-2"}}'
} >"$work/tenants.ndjson"
# every 10th event twice (a producer's retry: same id)
awk '{print} NR % 10 == 0 {print}' "$work/gen.ndjson" >"$work/events.ndjson"
total=$(($(wc -l <"$work/events.ndjson") + 10))
# the log exercises the thresholds: answered calls of queue-15 with waits
# over 1 s started before 08:05 and after it (by call.started)
jq -r -s 'map(select(.tenantid == "globex" and (.type == "call.started" or .type == "call.connected")))
  | group_by(.subject)[] | {s: (map(select(.type == "call.started"))[0].time),
    c: (map(select(.type == "call.connected" and .data.queue_id == "queue-15"))[0])}
  | select(.c != null and .s != null and .c.data.wait_ms > 1000)
  | if .s < "2026-01-05T08:05:00Z" then "before" else "after" end' "$work/gen.ndjson" |
  sort | uniq -c >"$work/q15.txt"
grep -q " before$" "$work/q15.txt" && grep -q " after$" "$work/q15.txt" ||
  fail "test bug: the generated log has no queue-15 calls over 1 s on both sides of 08:05: $(cat "$work/q15.txt")"

start_up --processors audit,analytics --partitions 2
"$SB" import "$work/tenants.ndjson" --data-dir "$dd" >"$work/import0.out" 2>"$work/import0.err" ||
  fail "import of the tenants: $(cat "$work/import0.err")"
for _ in $(seq 1 300); do
  [ "$(q "SELECT count(*) FROM audit.events WHERE event_type IN ('tenant.created', 'routing.queue_configured')")" = 6 ] && break
  sleep 0.1
done
"$SB" import "$work/events.ndjson" --data-dir "$dd" >"$work/import.out" 2>"$work/import.err" ||
  fail "import: $(tail -3 "$work/import.err")"

# settled: audit holds every event (once per id), analytics is at the end
# of its topics and its due timers (calls' disposition waits) fired
distinct=$(($(sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' "$work/gen.ndjson" | sort -u | wc -l) + 9))
deadline=$((SECONDS + 60))
until [ "$(q 'SELECT count(DISTINCT event_id) FROM audit.events')" -ge "$distinct" ]; do
  [ $SECONDS -lt $deadline ] || fail "audit.events holds $(q 'SELECT count(DISTINCT event_id) FROM audit.events') events within 60 s, want $distinct"
  sleep 0.5
done
settled() {
  local args=() t p
  for t in sb.calls sb.agents sb.leads sb.campaigns sb.messages sb.gamification sb.tenants; do
    for p in 0 1; do args+=(-t "$t:$p:-1"); done
  done
  timeout 20 kcat -Q -b "$kafka" "${args[@]}" 2>/dev/null |
    sed -n 's/^\([^ ]*\) \[\([0-9]*\)\] offset \([1-9][0-9]*\)$/\1 \2 \3/p' | sort >"$work/ends.now"
  q "SELECT topic || ' ' || partition || ' ' || next_offset FROM sb.consumer_offsets
     WHERE consumer_group = 'switchboard.analytics' AND next_offset > 0" | sort >"$work/stored.now"
  [ -s "$work/ends.now" ] && cmp -s "$work/ends.now" "$work/stored.now" &&
    [ "$(q "SELECT count(*) FROM sb.processor_timers WHERE schema = 'analytics'
      AND kind = 'wall' AND due_us <= extract(epoch FROM now()) * 1000000")" = 0 ]
}
deadline=$((SECONDS + 90))
until settled; do
  [ $SECONDS -lt $deadline ] || fail "analytics did not settle within 90 s: $(diff "$work/ends.now" "$work/stored.now" | head -4)"
  sleep 0.5
done
[ "$(q 'SELECT coalesce(sum(calls), 0) FROM analytics.calls_hour')" -gt 0 ] || fail "no call counted"
# queue-17's 1 s applied: answered calls outside it (its waits are all
# under the default 20 s)
out17=$(q "SELECT coalesce(sum(answered - answered_in_sl), 0) FROM analytics.calls_hour
  WHERE tenant_id = 'globex' AND queue_id = 'queue-17'")
[ "$out17" -gt 0 ] || fail "queue-17 (1 s): no answered call outside its service level"
ans16=$(q "SELECT coalesce(sum(answered) || ' ' || sum(answered_in_sl), '') FROM analytics.calls_hour
  WHERE tenant_id = 'globex' AND queue_id = 'queue-16'")
read -r a16 s16 <<<"$ans16"
[ "${a16:-0}" -gt 0 ] && [ "$a16" = "$s16" ] ||
  fail "queue-16 (the default, 20 s): answered/within $ans16, want every one within"

# ---- 0 differences ------------------------------------------------------------
rc=0
"$SB" analytics check --data-dir "$dd" >"$work/check.out" 2>"$work/check.err" || rc=$?
[ $rc -eq 0 ] || fail "check exited $rc: $(head -40 "$work/check.out"; tail -3 "$work/check.err")"
grep -q "^analytics check: [0-9]* events, 0 differences$" "$work/check.out" ||
  fail "check: $(tail -2 "$work/check.out")"
for f in calls dispositions agents pauses leads stages spend messages points campaigns; do
  grep -q "^$f " "$work/check.out" || fail "check printed no line for $f: $(cat "$work/check.out")"
done
# every family with figures in this log compared rows
for f in calls dispositions agents pauses leads stages spend messages points campaigns; do
  n=$(sed -n "s/^$f  *[a-z_]*  *\([0-9]*\) rows in the projection.*/\1/p" "$work/check.out")
  [ "${n:-0}" -gt 0 ] || fail "check compared no $f rows: $(grep "^$f " "$work/check.out")"
done
grep -q "events decoded" "$work/check.err" || fail "no progress on stderr"

# ---- one changed row is found -------------------------------------------------
row=$(q "SELECT tenant_id || ' ' || hour_start || ' ' || queue_id FROM analytics.calls_hour
  WHERE tenant_id = 'globex' AND calls > 0 ORDER BY hour_start, queue_id, campaign_id, agent_id LIMIT 1")
q "UPDATE analytics.calls_hour SET calls = calls + 1 WHERE ctid = (SELECT ctid FROM analytics.calls_hour
  WHERE tenant_id = 'globex' AND calls > 0 ORDER BY hour_start, queue_id, campaign_id, agent_id LIMIT 1)" >/dev/null
rc=0
"$SB" analytics check --data-dir "$dd" >"$work/check2.out" 2>"$work/check2.err" || rc=$?
[ $rc -eq 1 ] || fail "check of a changed row exited $rc, want 1: $(cat "$work/check2.out" "$work/check2.err")"
grep -q "^calls  *calls_hour .* 2 differences$" "$work/check2.out" ||
  fail "check did not name calls_hour with 2 differences: $(cat "$work/check2.out")"
grep -q "analytics check: .* 2 differences$" "$work/check2.out" || fail "total: $(tail -1 "$work/check2.out")"
read -r tn hs _ <<<"$row"
grep -q "^  projection only *(globex,\"$hs" "$work/check2.out" ||
  fail "the changed row ($row) is not shown as the projection's: $(cat "$work/check2.out")"
grep -q "^  recomputed only *(globex,\"$hs" "$work/check2.out" ||
  fail "the changed row ($row) is not shown as recomputed: $(cat "$work/check2.out")"
# another tenant, or a range without the row, passes
"$SB" analytics check --tenant acme --family calls --data-dir "$dd" >"$work/check3.out" 2>&1 ||
  fail "check --tenant acme: $(cat "$work/check3.out")"
grep -q "analytics check: .* 0 differences" "$work/check3.out" || fail "check --tenant acme: $(cat "$work/check3.out")"
# ---- a replay rebuilds what the check recomputes --------------------------------
# over a dead replay's leftovers: the keyed state a rebuild SIGKILLed
# mid-way leaves for the next generation (here all of it, a copy of the
# live one's); the replay must drop it, or it takes every event for seen
next=$(($(q "SELECT generation FROM sb.processors WHERE name = 'analytics'") + 1))
q "INSERT INTO sb.processor_state SELECT 'analytics_g$next', topic, partition, key, value
  FROM sb.processor_state WHERE schema = 'analytics'" >/dev/null
# and its tenants table's offsets at the end (its state gone with the
# rest: unless they go too, the rebuild reads no tenant's zone)
q "INSERT INTO sb.consumer_offsets (consumer_group, topic, partition, next_offset)
  SELECT 'switchboard.analytics.g$next.tenants', topic, partition, next_offset
  FROM sb.consumer_offsets WHERE consumer_group = 'switchboard.tenants'" >/dev/null
[ "$(q "SELECT count(*) FROM sb.consumer_offsets WHERE consumer_group = 'switchboard.analytics.g$next.tenants'")" -gt 0 ] ||
  fail "test bug: no offsets of the live tenants table ($(q "SELECT DISTINCT consumer_group FROM sb.consumer_offsets"))"
rc=0
timeout 120 "$SB" replay --processor analytics --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rc=$?
[ $rc -eq 0 ] || fail "replay exited $rc: $(cat "$work/replay.out"; tail -3 "$work/replay.err")"
deadline=$((SECONDS + 60))
until settled; do
  [ $SECONDS -lt $deadline ] || fail "analytics did not settle within 60 s after the replay"
  sleep 0.5
done
[ "$(q "SELECT count(*) FROM sb.processor_state WHERE schema LIKE 'analytics\_old\_g%'")" = 0 ] ||
  fail "the dropped generation's keyed state is still there"
rc=0
"$SB" analytics check --data-dir "$dd" >"$work/check4.out" 2>"$work/check4.err" || rc=$?
[ $rc -eq 0 ] || fail "check after the replay exited $rc: $(head -40 "$work/check4.out"; tail -3 "$work/check4.err")"
expect_error 2 "--family" "$SB" analytics check --family nope --data-dir "$dd"
expect_error 2 "--from" "$SB" analytics check --from yesterday --data-dir "$dd"
expect_error 2 "unknown action" "$SB" analytics verify --data-dir "$dd"
cat "$work/check2.out"
echo "analytics_check: $total events, 0 differences; a changed row named; a replay checks; $((SECONDS - t_start)) s"
