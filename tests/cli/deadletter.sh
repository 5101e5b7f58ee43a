#!/usr/bin/env bash
# Records that cannot be decoded go to sb.deadletter with their provenance,
# and the partition moves on:
#  - valid events of acme:lead-x are imported, then four bad records are
#    produced straight to the same partition of sb.leads with kcat (garbage
#    bytes, a Confluent frame with an unknown schema id, a real record cut
#    short, and a real record whose tenant is changed to "ac:e": good Avro,
#    bad envelope), then more valid events;
#  - sb.deadletter holds exactly those four, each with the original key and
#    value bytes and the headers sb-source-topic, -partition, -offset (where
#    they were written), sb-error-class=decode (validate for the fourth), a
#    non-empty sb-error,
#    sb-attempts and sb-processor=audit;
#  - the valid events before and after them are all in audit.events, the
#    offsets stored for the partition are at its end, verify passes, and the
#    engine is still running.
. "$(dirname "$0")/lib.sh"
gen() { bash "$(dirname "$0")/gen_events.sh" "$@"; }
py=/usr/bin/python3
t_start=$SECONDS
start_up --partitions 2 --processors audit

# wait_rows N SECONDS: until audit.events holds N rows (fails on more)
wait_rows() {
  local n=0 deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    n=$(q 'SELECT count(*) FROM audit.events' 2>/dev/null || echo 0)
    [ "$n" -ge "$1" ] && break
    kill -0 "$pid" 2>/dev/null || fail "up died while waiting for audit rows"
    sleep 0.3
  done
  [ "$n" -eq "$1" ] || fail "audit.events holds $n rows after $2 s, want $1"
}

# lead_x FIRST COUNT: events of lead lead-x of tenant acme, ids 01LX...
lead_x() {
  awk -v first="$1" -v n="$2" 'BEGIN {
    for (i = first; i < first + n; i++) {
      if (i % 3 == 0) { type = "lead.created"; data = "{\"status\":\"new\",\"first_name\":\"X\"}" }
      else if (i % 3 == 1) { type = "lead.status_changed"; data = "{\"status\":\"contacted\"}" }
      else { type = "lead.updated"; data = "{\"changed_fields\":[\"priority\"],\"priority\":" i "}" }
      printf "{\"specversion\":\"1.0\",\"id\":\"01MX%022d\",\"type\":\"%s\",\"source\":\"/tests/deadletter\",\"subject\":\"lead-x\",\"time\":\"2026-03-0%dT10:00:00Z\",\"tenantid\":\"acme\",\"data\":%s}\n",
        i, type, i % 9 + 1, data
    }
  }'
}

import_ok() {
  "$SB" import "$1" --data-dir "$dd" >"$work/import.out" 2>"$work/import.err" ||
    fail "import $1: $(cat "$work/import.out" "$work/import.err")"
  grep -qx "accepted: $2, rejected: 0" "$work/import.out" || fail "import $1: $(cat "$work/import.out")"
}

# last_offset TOPIC PARTITION: the offset of its last record, -1 if empty
last_offset() {
  local o
  o=$(timeout 20 kcat -Q -b "$kafka" -t "$1:$2:-1" 2>/dev/null | sed -n 's/.*\] offset \([0-9]*\)$/\1/p')
  [ -n "$o" ] || fail "kcat -Q could not tell the end of $1[$2]"
  echo $((o - 1))
}

# ---- before ------------------------------------------------------------
{ lead_x 0 6; gen -n 300 -p AAAA; } >"$work/before.ndjson"
import_ok "$work/before.ndjson" 306
wait_rows 306 60
P=$(q "SELECT DISTINCT kafka_partition FROM audit.events WHERE tenant_id = 'acme' AND subject = 'lead-x'")
[[ $P =~ ^[01]$ ]] || fail "acme:lead-x is not in one partition of sb.leads: '$P'"
first_off=$(q "SELECT min(kafka_offset) FROM audit.events WHERE subject = 'lead-x'")

# ---- three malformed records, straight to sb.leads[P] ------------------
printf 'garbage: this is not Avro at all \xff\xfe\x00\x01' >"$work/bad1.bin"
printf '\x00\x00\x00\x03\xe7\x08acme\x34\x30\x31\x41\x41\x41' >"$work/bad2.bin" # schema id 999
timeout 20 kcat -C -b "$kafka" -t sb.leads -p "$P" -o "$first_off" -c 1 -e -q -f '%s' >"$work/real.bin" ||
  fail "kcat could not read sb.leads[$P]@$first_off"
size=$(stat -c %s "$work/real.bin")
[ "$size" -gt 40 ] || fail "the record at sb.leads[$P]@$first_off is only $size bytes"
[ "$(head -c 1 "$work/real.bin" | od -An -tx1 | tr -d ' ')" = 00 ] || fail "sb.leads holds a record not in the wire format"
head -c $((size * 2 / 3)) "$work/real.bin" >"$work/bad3.bin"
# well-formed Avro whose envelope breaks the rules: tenant "ac:e"
LC_ALL=C sed '0,/acme/s//ac:e/' "$work/real.bin" >"$work/bad4.bin"
cmp -s "$work/real.bin" "$work/bad4.bin" && fail "could not make bad4"
declare -A bad_off
for b in bad1 bad2 bad3 bad4; do
  off=$(($(last_offset sb.leads "$P") + 1))
  timeout 20 kcat -P -b "$kafka" -t sb.leads -p "$P" -k 'acme:lead-x' "$work/$b.bin" ||
    fail "kcat could not produce $b"
  # where it went: the new last record, with these very bytes
  [ "$(last_offset sb.leads "$P")" -eq "$off" ] || fail "$b did not land at sb.leads[$P]@$off"
  timeout 20 kcat -C -b "$kafka" -t sb.leads -p "$P" -o "$off" -c 1 -e -q -f '%s' >"$work/$b.back"
  cmp -s "$work/$b.bin" "$work/$b.back" || fail "sb.leads[$P]@$off does not hold $b"
  bad_off[$b]=$off
done

# ---- after ---------------------------------------------------------------
{ lead_x 6 6; gen -n 300 -p BBBB -o 300; } >"$work/after.ndjson"
import_ok "$work/after.ndjson" 306
wait_rows 612 60
[ "$(q 'SELECT count(*) = count(DISTINCT event_id) FROM audit.events')" = t ] ||
  fail "an event id appears twice in audit.events"
sed -n 's/.*"id":"\([0-9A-Z]\{26\}\)".*/\1/p' "$work/before.ndjson" "$work/after.ndjson" |
  sort >"$work/ids.want"
q 'SELECT event_id FROM audit.events ORDER BY 1' >"$work/ids.db"
cmp -s "$work/ids.want" "$work/ids.db" ||
  fail "audit.events does not hold exactly the valid events: $(diff "$work/ids.want" "$work/ids.db" | head -5)"
# the lead-x events straddle the bad records in the same partition
q "SELECT count(*) FROM audit.events WHERE subject = 'lead-x' AND topic = 'sb.leads'
   AND kafka_partition = $P AND kafka_offset < ${bad_off[bad1]}" | grep -qx 6 ||
  fail "the 6 lead-x events before the bad records are not in audit.events"
q "SELECT count(*) FROM audit.events WHERE subject = 'lead-x' AND topic = 'sb.leads'
   AND kafka_partition = $P AND kafka_offset > ${bad_off[bad4]}" | grep -qx 6 ||
  fail "the 6 lead-x events after the bad records are not in audit.events"
q "SELECT count(*) FROM audit.events WHERE topic = 'sb.leads' AND kafka_partition = $P
   AND kafka_offset BETWEEN ${bad_off[bad1]} AND ${bad_off[bad4]}" | grep -qx 0 ||
  fail "a malformed record reached audit.events"

# ---- sb.deadletter ---------------------------------------------------------
# the after events are committed, so the dead letters before them are in
# Kafka (they are flushed before the offsets that pass them are stored)
read_deadletters() {
  for p in 0 1; do
    timeout 20 kcat -C -b "$kafka" -t sb.deadletter -p "$p" -o beginning -e -q -J 2>/dev/null
  done >"$work/dl.json"
}
deadline=$((SECONDS + 20))
read_deadletters
while [ "$(grep -c . "$work/dl.json")" -lt 4 ] && [ $SECONDS -lt $deadline ]; do
  sleep 0.5
  read_deadletters
done
"$py" - "$work/dl.json" "$P" "${bad_off[bad1]}" "${bad_off[bad2]}" "${bad_off[bad3]}" "${bad_off[bad4]}" \
  >"$work/dl.list" <<'EOF' || fail "sb.deadletter: $(cat "$work/dl.list")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], errors="replace") if l.strip()]
part, offs = sys.argv[2], sys.argv[3:]
errors = []
if len(recs) != 4:
    errors.append("holds %d records, want 4: %s" % (len(recs), [r.get("headers") for r in recs]))
seen = set()
for r in recs:
    h = r.get("headers") or []
    names = h[0::2]
    d = dict(zip(h[0::2], h[1::2]))
    for n in set(names):
        if n.startswith("sb-") and names.count(n) > 1:
            errors.append("header %s appears %d times" % (n, names.count(n)))
    cls = "validate" if d.get("sb-source-offset") == offs[3] else "decode"
    want = {"sb-source-topic": "sb.leads", "sb-source-partition": part,
            "sb-error-class": cls, "sb-processor": "audit", "sb-attempts": "1"}
    for k, v in want.items():
        if d.get(k) != v:
            errors.append("record %s: %s=%r, want %r" % (r["offset"], k, d.get(k), v))
    if not d.get("sb-error"):
        errors.append("record %s: no sb-error" % r["offset"])
    if r.get("key") != "acme:lead-x":
        errors.append("record %s: key %r" % (r["offset"], r.get("key")))
    o = d.get("sb-source-offset")
    if o not in offs:
        errors.append("record %s: sb-source-offset %r is none of %s" % (r["offset"], o, offs))
    seen.add(o)
    # partition, offset in sb.deadletter, source offset, error
    print(r["partition"], r["offset"], o, d.get("sb-error", "").replace("\n", " "))
if seen != set(offs):
    errors.append("source offsets %s, want %s" % (sorted(seen), offs))
if errors:
    print("; ".join(errors)); sys.exit(1)
EOF
# the original bytes, exactly
while read -r dp doff soff why; do
  for b in bad1 bad2 bad3 bad4; do
    [ "${bad_off[$b]}" = "$soff" ] || continue
    timeout 20 kcat -C -b "$kafka" -t sb.deadletter -p "$dp" -o "$doff" -c 1 -e -q -f '%s' >"$work/$b.dl"
    cmp -s "$work/$b.bin" "$work/$b.dl" || fail "the dead letter of $b does not hold its original bytes"
    case $b in
    bad2) grep -q 999 <<<"$why" || fail "the error of the unknown schema id does not name it: $why" ;;
    bad4) grep -q "tenant_id must be" <<<"$why" || fail "the error of the bad tenant does not say so: $why" ;;
    esac
  done
done <"$work/dl.list"

# ---- the engine moved on and is still running --------------------------------
kill -0 "$pid" 2>/dev/null || fail "switchboard up is no longer running"
[ "$(grep -c 'record sent to sb.deadletter' "$work/up.err")" -eq 4 ] ||
  fail "the log does not report 4 dead letters: $(grep deadletter "$work/up.err")"
offsets_at_end switchboard.audit 2 sb.leads sb.calls sb.agents sb.messages \
  sb.campaigns sb.compliance sb.gamification
"$SB" audit verify --data-dir "$dd" >"$work/verify.out" 2>&1 || fail "audit verify: $(cat "$work/verify.out")"
grep -q '^audit verify: OK: 612 rows' "$work/verify.out" || fail "audit verify: $(cat "$work/verify.out")"
# and keeps going: one more event of lead-x is recorded, no new dead letter
lead_x 12 1 >"$work/more.ndjson"
import_ok "$work/more.ndjson" 1
wait_rows 613 30
[ "$(grep -c 'record sent to sb.deadletter' "$work/up.err")" -eq 4 ] || fail "a dead letter was sent again"

kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "deadletter: all checks passed ($((SECONDS - t_start)) s)"
