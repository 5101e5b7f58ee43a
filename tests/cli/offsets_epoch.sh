#!/usr/bin/env bash
# Stale offsets never skip new events (issue 10, item 3).
#
# The reported bug: offsets stored in PostgreSQL from an earlier log (the
# embedded broker of an earlier `up`; on a real cluster, a topic deleted
# and recreated) made the engine skip new events of the new log. Here:
#  - `up` processes 300 events; then the log goes (the journal is moved
#    away: a new incarnation of the log, with a new epoch) and 2,000 new
#    events are imported into the new log before a worker starts: the
#    worker puts every one of the 2,000 in audit.events, once, and says
#    loudly (an ERROR line naming group, topic, partition, the stored offset
#    and what it found) that it read the partition from its start;
#  - offsets of another epoch, and offsets past a partition's end in this
#    epoch, written by hand: `up` reads those partitions from their start,
#    logs each and counts them in switchboard_offset_resets_total.
. "$(dirname "$0")/lib.sh"
gen() { bash "$(dirname "$0")/gen_events.sh" "$@"; }
wpid=
cleanup_extra() {
  [ -n "$wpid" ] && kill -TERM "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
  return 0
}
count() { q "SELECT count(*) FROM audit.events WHERE event_id LIKE '01$1%'"; }

start_up --partitions 2 --processors "$SB_PROCESSORS_NO_DERIVED"
gen -n 300 -p EPAA >"$work/a.ndjson"
"$SB" import "$work/a.ndjson" --data-dir "$dd" >"$work/import-a.out" 2>"$work/import-a.err" ||
  fail "import a: $(cat "$work/import-a.err")"
for _ in $(seq 1 300); do
  [ "$(count EPAA)" -eq 300 ] && break
  sleep 0.2
done
[ "$(count EPAA)" -eq 300 ] || fail "the first 300 events were not processed"
stop_up

# a new log: the old one is gone (the old build lost it on every restart)
rm -rf "$dd/kafka"
start_up --partitions 2 --processors none
gen -n 2000 -p EPBB -o 300 >"$work/b.ndjson"
"$SB" import "$work/b.ndjson" --data-dir "$dd" >"$work/import-b.out" 2>"$work/import-b.err" ||
  fail "import b: $(cat "$work/import-b.err")"
"$SB" run --processors audit --data-dir "$dd" >"$work/worker.out" 2>"$work/worker.err" &
wpid=$!
last=-1 still=0
for _ in $(seq 1 200); do # 40 s; done when all are in, or nothing moved for 3 s
  n=$(count EPBB)
  [ "$n" -ge 2000 ] && break
  if [ "$n" -eq "$last" ] && [ "$n" -gt 0 ]; then
    still=$((still + 1))
    [ $still -ge 15 ] && break
  else
    still=0
  fi
  last=$n
  kill -0 "$wpid" 2>/dev/null || fail "worker exited: $(tail -3 "$work/worker.err")"
  sleep 0.2
done
got=$(count EPBB)
[ "$got" -eq 2000 ] || fail "$((2000 - got)) of 2000 new events skipped by offsets from the earlier log"
[ "$(q "SELECT count(*) - count(DISTINCT event_id) FROM audit.events")" -eq 0 ] ||
  fail "events twice in audit.events"
[ "$(count EPAA)" -eq 300 ] || fail "the earlier events changed"
grep 'does not belong to this log' "$work/worker.err" >"$work/resets" ||
  fail "no ERROR line about the stale offsets"
grep -q 'ERROR' "$work/resets" || fail "the stale-offset line is not an ERROR"
for f in group=switchboard.audit topic= partition= stored_offset= 'found="stored for log journal:'; do
  grep -q "$f" "$work/resets" || fail "the stale-offset line lacks '$f': $(head -1 "$work/resets")"
done
offsets_at_end switchboard.audit 2 sb.leads sb.calls sb.agents sb.messages sb.compliance sb.campaigns
kill -TERM "$wpid"
wait "$wpid" || fail "worker exited non-zero on SIGTERM"
wpid=

# by hand: another epoch, and past the end in this one (sb.gamification
# has no records here, so reading it again duplicates nothing)
epoch=journal:$(sed -n 's/^epoch = //p' "$dd/kafka/meta")
q "INSERT INTO sb.consumer_offsets (consumer_group, topic, partition, next_offset, log_epoch)
   VALUES ('switchboard.audit', 'sb.gamification', 0, 50, 'journal:0123'),
          ('switchboard.audit', 'sb.gamification', 1, 7, '$epoch')
   ON CONFLICT (consumer_group, topic, partition) DO UPDATE
   SET next_offset = EXCLUDED.next_offset, log_epoch = EXCLUDED.log_epoch"
stop_up
start_up --partitions 2 --processors "$SB_PROCESSORS_NO_DERIVED"
for _ in $(seq 1 150); do
  curl -s "$url/metrics" >"$work/m"
  grep -q '^switchboard_offset_resets_total{processor="audit"} 2$' "$work/m" && break
  sleep 0.2
done
grep -q '^switchboard_offset_resets_total{processor="audit"} 2$' "$work/m" ||
  fail "metric: $(grep offset_resets "$work/m")"
grep -q 'topic=sb.gamification partition=0 stored_offset=50 found="stored for log journal:0123' "$work/up.err" ||
  fail "no line for the other epoch: $(grep 'does not belong' "$work/up.err" | head -2)"
grep -q "topic=sb.gamification partition=1 stored_offset=7 found=\"past the partition's end, offset 0\"" "$work/up.err" ||
  fail "no line for the offset past the end: $(grep 'does not belong' "$work/up.err" | head -2)"
for _ in $(seq 1 100); do
  [ "$(q "SELECT count(*) FROM sb.consumer_offsets WHERE topic = 'sb.gamification' AND next_offset = 0 AND log_epoch = '$epoch'")" -eq 2 ] && break
  sleep 0.2
done
[ "$(q "SELECT count(*) FROM sb.consumer_offsets WHERE topic = 'sb.gamification' AND next_offset = 0 AND log_epoch = '$epoch'")" -eq 2 ] ||
  fail "the reset offsets were not rewritten for this log: $(q "SELECT * FROM sb.consumer_offsets WHERE topic = 'sb.gamification'")"
[ "$(q "SELECT count(*) FROM audit.events")" -eq 2300 ] || fail "audit.events changed"
stop_up
echo "ok: no event skipped after a new log; stale offsets reported, counted and read from the start"
