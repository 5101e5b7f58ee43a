#!/usr/bin/env bash
# The embedded broker keeps its log across restarts and SIGKILLs (issue 10,
# item 2).
#
# `up` on embedded defaults takes NDJSON posts over HTTP and is SIGKILLed
# while they come, three times, each time restarted on the same data
# directory. Then:
#  - every event answered 202 is in Kafka exactly once and in audit.events
#    exactly once (nothing acknowledged is lost, nothing counted twice);
#  - every record keeps its offset across the restarts (kcat from earliest
#    gives the same partition, offset, timestamp and key for the same event
#    id);
#  - `replay --processor audit --from earliest` rebuilds the audit log row
#    for row;
#  - a torn journal tail (the last record cut short) is cut off at the last
#    whole record on the next start, loudly, and the log is the rest of it;
#  - a record produced by kcat (no one waits for it) while the journal
#    rests is journaled within its nap: a SIGKILL 3 s later keeps it.
. "$(dirname "$0")/lib.sh"
ROUNDS=3
poster_pid=
cleanup_extra() {
  touch "$work/stop.post"
  [ -n "$poster_pid" ] && wait "$poster_pid" 2>/dev/null
  return 0
}

wait_ready() {
  for _ in $(seq 1 100); do
    curl -s "$url/v1/health" | grep -q '"status":"ready"' && return 0
    sleep 0.1
  done
  fail "up not ready in 10 s"
}

# poster ROUND: NDJSON posts of 5 events until stop.post appears (at most
# 3000); the ids of every post answered 202 go to acked.
now=$(date -u +%FT%TZ) # inside ingest.max_past_seconds
poster() {
  local r=$1 i=0 code k body
  while [ ! -f "$work/stop.post" ] && [ $i -lt 3000 ]; do
    i=$((i + 1))
    body=
    for k in 1 2 3 4 5; do
      body+="{\"specversion\":\"1.0\",\"type\":\"lead.created\",\"source\":\"crm://j\",\"subject\":\"j$r-$i-$k\",\"time\":\"$now\",\"data\":{\"lead_source\":\"web_form\"}}"$'\n'
    done
    code=$(curl -s --max-time 5 -o "$work/post.out" -w '%{http_code}' \
      -H "Authorization: Bearer $tok" -H 'Content-Type: application/x-ndjson' \
      --data-binary "$body" "$url/v1/events" 2>/dev/null) || code=000
    if [ "$code" = 202 ]; then
      grep -o '"id":"[0-9A-Z]*"' "$work/post.out" | cut -d'"' -f4 >>"$work/acked"
    fi
  done
}

# dump FILE: "event-id partition offset timestamp key" of every record of
# sb.leads
dump() {
  timeout 20 kcat -C -b "$kafka" -t sb.leads -e -q \
    -f '%p %o %T %k %h\n' 2>"$work/kcat.err" |
    sed -n 's/^\([0-9]*\) \([0-9]*\) \([0-9]*\) \([^ ]*\) .*ce_id=\([0-9A-Z]*\).*$/\5 \1 \2 \3 \4/p' |
    sort >"$1"
}

: >"$work/acked"
for r in $(seq 1 $ROUNDS); do
  start_up --partitions 2 --processors "$SB_PROCESSORS_NO_DERIVED"
  wait_ready
  tok=$("$SB" token --data-dir "$dd" --tenant acme --role manager)
  if [ "$r" -gt 1 ]; then
    dump "$work/dump.$r"
  fi
  if [ "$r" -gt 2 ]; then
    # what was there before the kill is there now, at the same offsets
    missing=$(comm -23 "$work/dump.$((r - 1))" "$work/dump.$r" | wc -l)
    [ "$missing" -eq 0 ] ||
      fail "round $r: $missing records lost or moved by the restart: $(comm -23 "$work/dump.$((r - 1))" "$work/dump.$r" | head -3)"
  fi
  rm -f "$work/stop.post"
  before=$(wc -l <"$work/acked")
  poster "$r" &
  poster_pid=$!
  # the kill comes while posts are answered: once this round's first is
  # (a fresh producer's first wait for metadata; a loaded machine's for
  # CPU), then 0.5 to 2.5 s later
  for _ in $(seq 1 300); do
    [ "$(wc -l <"$work/acked")" -gt "$before" ] && break
    sleep 0.1
  done
  sleep "$((RANDOM % 3)).$((RANDOM % 10))"
  sleep 0.5
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  touch "$work/stop.post"
  wait "$poster_pid" || true
  poster_pid=
  n=$(wc -l <"$work/acked")
  [ "$n" -gt "$before" ] || fail "round $r: no post was answered 202 in 30 s"
  echo "round $r: $n events acknowledged so far"
done

start_up --partitions 2 --processors "$SB_PROCESSORS_NO_DERIVED"
wait_ready
dump "$work/dump.final"
missing=$(comm -23 "$work/dump.$ROUNDS" "$work/dump.final" | wc -l)
[ "$missing" -eq 0 ] || fail "final restart: $missing records lost or moved"

# every acknowledged event: in Kafka exactly once
sort "$work/acked" >"$work/acked.sorted"
[ -z "$(uniq -d "$work/acked.sorted")" ] || fail "an id was acknowledged twice"
cut -d' ' -f1 "$work/dump.final" | sort >"$work/kafka.ids"
[ -z "$(uniq -d "$work/kafka.ids")" ] ||
  fail "ids twice in Kafka: $(uniq -d "$work/kafka.ids" | head -3)"
lost=$(comm -23 "$work/acked.sorted" "$work/kafka.ids" | wc -l)
[ "$lost" -eq 0 ] ||
  fail "$lost of $(wc -l <"$work/acked") acknowledged events are not in Kafka after the SIGKILLs"

# ... and in audit.events exactly once
want=$(wc -l <"$work/kafka.ids")
for _ in $(seq 1 300); do
  [ "$(q "SELECT count(*) FROM audit.events WHERE topic = 'sb.leads'")" -ge "$want" ] && break
  sleep 0.2
done
q "SELECT event_id FROM audit.events WHERE topic = 'sb.leads'" | sort >"$work/audit.ids"
[ -z "$(uniq -d "$work/audit.ids")" ] ||
  fail "ids twice in audit.events: $(uniq -d "$work/audit.ids" | head -3)"
cmp -s "$work/audit.ids" "$work/kafka.ids" ||
  fail "audit.events is not the log: $(diff "$work/kafka.ids" "$work/audit.ids" | head -5)"
offsets_at_end switchboard.audit 2 sb.leads
grep -q 'restored the embedded broker' "$work/up.err" ||
  fail "no 'restored the embedded broker' line"

# a replay from earliest reproduces the audit log row for row
rows="SELECT tenant_id, topic, kafka_partition, kafka_offset, chain_seq, event_id, encode(hash, 'hex') FROM audit.events ORDER BY 1, 2, 3, 5"
q "$rows" >"$work/audit.before"
timeout 120 "$SB" replay --processor audit --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || fail "replay failed: $(tail -3 "$work/replay.err")"
q "$rows" >"$work/audit.after"
cmp -s "$work/audit.before" "$work/audit.after" ||
  fail "the replayed audit log differs: $(diff "$work/audit.before" "$work/audit.after" | head -4)"
stop_up

# a torn tail: the last record cut short by a crash is cut off, loudly
size=$(stat -c %s "$dd/kafka/journal")
truncate -s $((size - 7)) "$dd/kafka/journal"
epoch=$(sed -n 's/^epoch = //p' "$dd/kafka/meta")
start_up --partitions 2 --processors none
grep -q 'cutting a torn tail' "$work/up.err" || fail "no line about the torn tail"
[ "$(sed -n 's/^epoch = //p' "$dd/kafka/meta")" = "$epoch" ] || fail "the epoch changed"
dump "$work/dump.torn"
[ "$(wc -l <"$work/dump.torn")" -le "$want" ] || fail "more records after the cut"
[ "$(stat -c %s "$dd/kafka/journal")" -lt "$((size - 7))" ] ||
  fail "the torn record was not cut off the journal"
stop_up
# a record nobody waits for (kcat, not our producer), written while the
# journal rests (nothing came for longer than its 250 ms), is journaled
# within its nap of a second: a SIGKILL 3 s later keeps it
start_up --partitions 2 --processors none
wait_ready
sleep 1.5
echo "rested-$$" | timeout 20 kcat -P -b "$kafka" -t sb.leads -p 0 -k "rested-$$" 2>"$work/kcatp.err" ||
  fail "kcat could not produce: $(cat "$work/kcatp.err")"
sleep 3
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=
start_up --partitions 2 --processors none
timeout 20 kcat -C -b "$kafka" -t sb.leads -p 0 -e -q -f '%k\n' 2>"$work/kcat.err" | grep -qx "rested-$$" ||
  fail "a record produced while the journal rested was lost by a SIGKILL 3 s later"
stop_up
echo "ok: $(wc -l <"$work/acked") acknowledged events through $ROUNDS SIGKILLs, all in Kafka and audit.events once, offsets kept, replay equal, torn tail cut, a record of a resting journal kept"
