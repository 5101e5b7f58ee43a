#!/usr/bin/env bash
# The audit log end to end, as a user drives it:
#  - import ~2,000 valid events (10 types, 6 topics, 3 tenants, 3 months)
#    plus bad lines: each bad line is reported as 'line N: reason', the
#    totals are right and the exit status is 1;
#  - every accepted event reaches audit.events exactly once;
#  - audit verify (all, and per tenant) passes; audit export gives back
#    exactly a tenant's events, field for field, and --subject, --from and
#    --to filter ([from, to));
#  - switchboard_app may not UPDATE or DELETE audit rows, nor may the owner
#    while the append_only trigger is on;
#  - a changed subject, a changed payload, a removed middle row and a
#    removed last row are each caught by verify, which names the row; with
#    the row put back verify passes again;
#  - on a fresh instance, replay --from earliest (with events arriving
#    while it runs) rebuilds identical chains, swaps in generation 2, and
#    the live worker carries on in the new table; a second replay rebuilds
#    every row identically (generation 3); stored offsets end at the log's
#    end;
#  - a backfill of 20 years of history is recorded (months outside the
#    window of month partitions in the default partition);
#  - import to a broker that is gone does not exit 0 or leave events
#    neither accepted nor rejected.
. "$(dirname "$0")/lib.sh"
gen() { bash "$(dirname "$0")/gen_events.sh" "$@"; }
py=/usr/bin/python3
t_start=$SECONDS
pid= ipid=
dds=()
cleanup() {
  [ -n "$ipid" ] && kill -TERM "$ipid" 2>/dev/null && wait "$ipid" 2>/dev/null
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  fi
  for d in "${dds[@]}"; do
    "$SB" postgres stop --data-dir "$d" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# start_on DIR NAME: switchboard up --partitions 3 on DIR, logs in NAME.*
start_on() {
  dd=$1
  dds+=("$dd")
  "$SB" up --data-dir "$dd" --partitions 3 --processors "$SB_PROCESSORS_NO_DERIVED" >"$work/$2.out" 2>"$work/$2.err" &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q '^postgres: ' "$work/$2.out" && break
    kill -0 "$pid" 2>/dev/null || fail "up exited before printing its lines"
    sleep 0.1
  done
  grep -q '^postgres: ' "$work/$2.out" || fail "no postgres line within 60 s"
  kafka=$(sed -n 's/^kafka: //p' "$work/$2.out")
  db=$(sed -n 's/^database_url = //p' "$dd/runtime.conf") # up masks it
  [ -n "$kafka" ] || fail "no kafka line"
}

stop_up() {
  kill -TERM "$pid"
  wait "$pid" || fail "up exited non-zero after SIGTERM"
  pid=
}

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

# verify_ok [ARGS]: audit verify passes; its output is in $work/verify.out
verify_ok() {
  local rc=0
  "$SB" audit verify --data-dir "$dd" "$@" >"$work/verify.out" 2>"$work/verify.err" || rc=$?
  [ $rc -eq 0 ] || fail "audit verify $* exited $rc: $(cat "$work/verify.out" "$work/verify.err")"
  grep -q '^audit verify: OK' "$work/verify.out" || fail "audit verify $* did not say OK: $(cat "$work/verify.out")"
}

# verify_broken TEXT...: audit verify exits 1 and its output holds each TEXT
verify_broken() {
  local rc=0
  "$SB" audit verify --data-dir "$dd" >"$work/verify.out" 2>"$work/verify.err" || rc=$?
  [ $rc -eq 1 ] || fail "audit verify exited $rc on a broken log, want 1: $(cat "$work/verify.out" "$work/verify.err")"
  grep -q 'FAILED' "$work/verify.out" || fail "audit verify did not say FAILED: $(cat "$work/verify.out")"
  for t in "$@"; do
    grep -qF -- "$t" "$work/verify.out" || fail "audit verify output lacks '$t': $(cat "$work/verify.out")"
  done
}

# ---- import: ~2,000 good events and bad lines ---------------------------
start_on "$work/data" up1
gen -n 2000 -p AAAA >"$work/good.ndjson"
# valid oddities: a subject with a backslash, tab, newline and a non-ASCII
# letter (COPY escaping); an event without id (import gives it a ULID)
cat >"$work/odd.ndjson" <<'EOF'
{"specversion":"1.0","id":"01AAAB00000000000000000001","type":"lead.created","source":"/tests/odd","subject":"lead\\back\tslash\nnl é","time":"2026-02-03T04:05:06.123456+02:00","tenantid":"acme","data":{"first_name":"Zoë"}}
{"specversion":"1.0","type":"lead.created","source":"/tests/odd","subject":"lead-noid","time":"2026-02-03T04:05:07Z","tenantid":"globex","data":{}}
EOF
cat >"$work/bad.ndjson" <<'EOF'
{not json
{"specversion":"1.0","id":"01BBBB00000000000000000001","type":"lead.exploded","source":"/t","subject":"lead-1","time":"2026-01-10T00:00:00Z","tenantid":"acme","data":{}}
{"specversion":"1.0","id":"01BBBB00000000000000000002","type":"call.started","source":"/t","subject":"call-1","time":"2026-01-10T00:00:00Z","tenantid":"acme","data":{}}
{"specversion":"1.0","id":"01BBBB00000000000000000003","type":"lead.status_changed","source":"/t","subject":"lead-1","time":"2026-01-10T00:00:00Z","tenantid":"acme","data":{"status":"wonn"}}
{"specversion":"1.0","id":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","type":"lead.created","source":"/t","subject":"lead-1","time":"2026-01-10T00:00:00Z","tenantid":"acme","data":{}}
{"specversion":"1.0","id":"01BBBB00000000000000000005","type":"lead.created","source":"/t","subject":"lead-1","time":"2026-01-10T00:00:00Z","tenantid":"bad tenant!","data":{}}
{"specversion":"1.0","id":"01BBBB00000000000000000006","type":"lead.created","source":"/t","subject":"lead-1","time":"2026-13-10T00:00:00Z","tenantid":"acme","data":{}}
{"specversion":"1.0","id":"01BBBB00000000000000000007","type":"lead.created","source":"/t","subject":"lead-1","time":"2026-01-10T00:00:00Z","tenantid":"acme","data":{"nosuchfield":1}}
[1,2]
EOF
# expected reason of each bad line, in order
reasons=("not JSON" "type: unknown event type 'lead.exploded'"
  "data.direction: missing required field" "data.status: 'wonn' is not one of"
  "id: 300 bytes; at most 256" "tenantid: must be"
  "time: '2026-13-10T00:00:00Z'" "data.nosuchfield: unknown field"
  "event: expected a JSON object")
# the import file: bad line k goes after good line 250*k (the first at the
# very top), the odd ones in the middle, a blank line (skipped) at the end
"$py" - "$work/good.ndjson" "$work/bad.ndjson" "$work/odd.ndjson" \
  >"$work/import.ndjson" 2>"$work/badlines" <<'EOF'
import sys
good = open(sys.argv[1]).read().splitlines()
bad = open(sys.argv[2]).read().splitlines()
odd = open(sys.argv[3]).read().splitlines()
out, badno = [], []
for i, g in enumerate(good):
    if i % 250 == 0 and i // 250 < len(bad):
        out.append(bad[i // 250]); badno.append(len(out))
    if i == 1000:
        out.extend(odd)
    out.append(g)
for b in bad[len(badno):]:
    out.append(b); badno.append(len(out))
out.append("")
print("\n".join(out))
sys.stderr.write(" ".join(map(str, badno)) + "\n")
EOF
read -r -a badno <"$work/badlines"
nbad=${#badno[@]}
[ "$nbad" -eq ${#reasons[@]} ] || fail "test bug: $nbad bad lines placed, ${#reasons[@]} reasons"
A=$((2000 + 2))
rc=0
"$SB" import "$work/import.ndjson" --data-dir "$dd" >"$work/import.out" 2>"$work/import.err" || rc=$?
[ $rc -eq 1 ] || fail "import with bad lines exited $rc, want 1"
[ "$(cat "$work/import.out")" = "accepted: $A, rejected: $nbad" ] ||
  fail "import printed '$(cat "$work/import.out")', want 'accepted: $A, rejected: $nbad'"
grep '^line ' "$work/import.err" >"$work/import.lines" || true
[ "$(wc -l <"$work/import.lines")" -eq "$nbad" ] ||
  fail "import reported $(wc -l <"$work/import.lines") bad lines, want $nbad: $(cat "$work/import.err")"
for k in "${!badno[@]}"; do
  line=$(sed -n "$((k + 1))p" "$work/import.lines")
  case $line in
  "line ${badno[$k]}: ${reasons[$k]}"*) ;;
  *) fail "bad line ${badno[$k]}: import said '$line', want 'line ${badno[$k]}: ${reasons[$k]}...'" ;;
  esac
done

# ---- every accepted event in audit.events, once --------------------------
wait_rows "$A" 60
[ "$(q 'SELECT count(*) = count(DISTINCT event_id) FROM audit.events')" = t ] ||
  fail "an event id appears twice in audit.events"
sed -n 's/.*"id":"\([0-9A-Z]\{26\}\)".*/\1/p' "$work/good.ndjson" "$work/odd.ndjson" |
  sort >"$work/ids.want"
[ "$(wc -l <"$work/ids.want")" -eq $((A - 1)) ] || fail "test bug: ids of the input"
q 'SELECT event_id FROM audit.events ORDER BY 1' >"$work/ids.db"
missing=$(comm -23 "$work/ids.want" "$work/ids.db" | head -5)
[ -z "$missing" ] || fail "imported events missing from audit.events: $missing"
noid=$(q "SELECT event_id FROM audit.events WHERE tenant_id = 'globex' AND subject = 'lead-noid'")
[[ $noid =~ ^[0-7][0-9A-HJKMNP-TV-Z]{25}$ ]] || fail "the id-less event got no ULID in audit.events: '$noid'"
# each row's columns agree with its event; the odd subject survived COPY
q "SELECT count(*) FROM audit.events WHERE tenant_id = 'acme' AND subject = E'lead\\\\back\\tslash\\nnl é'
   AND occurred_at = '2026-02-03T02:05:06.123456Z' AND event_type = 'lead.created'
   AND event_id = '01AAAB00000000000000000001'" | grep -qx 1 ||
  fail "the row of the event with an odd subject does not match it"
q "SELECT count(*) FROM audit.events WHERE actor_user_id IS NOT NULL" | grep -qx 667 ||
  fail "actor_user_id not recorded for the 667 events with an actor"
q "SELECT count(*) FROM audit.events WHERE correlation_id IS NOT NULL" | grep -qx 500 ||
  fail "correlation_id not recorded for the 500 events with one"
# the table is partitioned by month: January to April 2026 (those of them
# within 12 months of the clock; older ones in the default partition)
q "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i
   JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit.events'::regclass" |
  grep -qxE '(events_20260[1-4],)*events_default' ||
  fail "audit.events month partitions: $(q "SELECT string_agg(inhrelid::regclass::text, ',') FROM pg_inherits WHERE inhparent = 'audit.events'::regclass")"
# chains: per (tenant, topic, partition), seq 1..n with no gap; heads agree
q "SELECT count(*) FROM (SELECT tenant_id, topic, kafka_partition FROM audit.events
   GROUP BY 1, 2, 3 HAVING min(chain_seq) <> 1 OR max(chain_seq) <> count(*)) x" |
  grep -qx 0 || fail "a chain's sequence numbers are not 1..n"
q "SELECT count(*) FROM audit.chain_heads h WHERE last_seq <> (SELECT max(chain_seq)
   FROM audit.events e WHERE e.tenant_id = h.tenant_id AND e.topic = h.topic
   AND e.kafka_partition = h.kafka_partition)" | grep -qx 0 ||
  fail "chain_heads disagree with audit.events"
# order within a chain is Kafka's order
q "SELECT count(*) FROM (SELECT kafka_offset < lag(kafka_offset) OVER w AS back
   FROM audit.events WINDOW w AS (PARTITION BY tenant_id, topic, kafka_partition
   ORDER BY chain_seq)) x WHERE back" | grep -qx 0 ||
  fail "a chain's order differs from its partition's offsets"
chains=$(q 'SELECT count(DISTINCT (tenant_id, topic, kafka_partition)) FROM audit.events')

# ---- verify ----------------------------------------------------------------
verify_ok
grep -qx "audit verify: OK: $A rows in $chains chains" "$work/verify.out" ||
  fail "verify: '$(cat "$work/verify.out")', want '$A rows in $chains chains'"
for t in acme globex initech; do
  verify_ok --tenant "$t"
  n=$(q "SELECT count(*) FROM audit.events WHERE tenant_id = '$t'")
  grep -q "^audit verify: OK: $n rows in [0-9]* chains of tenant $t\$" "$work/verify.out" ||
    fail "verify --tenant $t: '$(cat "$work/verify.out")', want $n rows"
done
verify_ok --tenant nobody
grep -q "OK: 0 rows" "$work/verify.out" || fail "verify of an unknown tenant: $(cat "$work/verify.out")"

# ---- export ------------------------------------------------------------------
# compare.py INPUT EXPORT TENANT [SUBJECT FROM TO]: the export is exactly
# the input events of TENANT (and SUBJECT, in [FROM, TO)), in time order,
# each equal to its input (times compared as instants, data as values; PII
# decrypted by the export, the server's *_hmac fields left out)
cat >"$work/compare.py" <<'EOF'
import json, sys
from datetime import datetime, timezone
def t(s):
    s = s.replace("Z", "+00:00").replace("z", "+00:00")
    return datetime.fromisoformat(s).astimezone(timezone.utc)
inp, exp, tenant = sys.argv[1], sys.argv[2], sys.argv[3]
subject = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
lo = t(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] else None
hi = t(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[6] else None
want = {}
for line in open(inp):
    e = json.loads(line)
    if e["tenantid"] != tenant: continue
    if subject is not None and e["subject"] != subject: continue
    if lo is not None and t(e["time"]) < lo: continue
    if hi is not None and t(e["time"]) >= hi: continue
    want[e.get("id", "noid:" + e["subject"])] = e
got, prev, errors, lines = {}, None, [], 0
for n, line in enumerate(open(exp), 1):
    e = json.loads(line)
    lines += 1
    # the exports' own reads, recorded before each export (access.recorded
    # READ): in the log, so in a later export once the audit processor has them
    if e["type"] == "access.recorded":
        if e["data"].get("action") != "READ": errors.append("line %d: access.recorded %s" % (n, e["data"].get("action")))
        continue
    key = e["id"]
    if key not in want and "noid:" + e["subject"] in want:
        key = "noid:" + e["subject"] # import gave it an id
        e = dict(e); del e["id"]
    if key in got: errors.append("id %s exported twice" % key)
    got[key] = e
    if prev is not None and t(e["time"]) < prev: errors.append("line %d out of time order" % n)
    prev = t(e["time"])
for i in sorted(set(want) - set(got))[:3]: errors.append("missing " + i)
for i in sorted(set(got) - set(want))[:3]: errors.append("unexpected " + i)
for i in sorted(set(want) & set(got)):
    a, b = dict(want[i]), dict(got[i])
    # the match HMACs beside sb.match fields are the server's (PII sealing)
    if isinstance(b.get("data"), dict):
        b["data"] = {k: v for k, v in b["data"].items() if not k.endswith("_hmac")}
    if t(a.pop("time")) != t(b.pop("time")): errors.append("time of " + i)
    if a != b: errors.append("%s differs: %s vs %s" % (i, json.dumps(a), json.dumps(b)))
    if len(errors) > 5: break
if errors:
    print("; ".join(errors[:6])); sys.exit(1)
print(len(got), lines)
EOF
cat "$work/good.ndjson" "$work/odd.ndjson" >"$work/valid.ndjson"
# export_check NAME TENANT [SUBJECT FROM TO]
export_check() {
  local name=$1 tenant=$2 subject=${3:-} from=${4:-} to=${5:-} args=() rc=0 n
  args=(--tenant "$tenant")
  [ -n "$subject" ] && args+=(--subject "$subject")
  [ -n "$from" ] && args+=(--from "$from")
  [ -n "$to" ] && args+=(--to "$to")
  "$SB" audit export --data-dir "$dd" "${args[@]}" >"$work/$name.json" 2>"$work/$name.stderr" || rc=$?
  [ $rc -eq 0 ] || fail "audit export ${args[*]} exited $rc: $(cat "$work/$name.stderr")"
local out lines
  out=$("$py" "$work/compare.py" "$work/valid.ndjson" "$work/$name.json" "$tenant" \
    "$subject" "$from" "$to") || fail "audit export ${args[*]}: $out"
  read -r n lines <<<"$out"
  grep -qx "audit export: $lines events" "$work/$name.stderr" ||
    fail "audit export ${args[*]}: stderr '$(cat "$work/$name.stderr")', want '$lines events'"
  echo "$n"
}
n=$(export_check acme acme)
[ "$n" -eq $(($(grep -c '"tenantid":"acme"' "$work/valid.ndjson"))) ] || fail "export acme: $n events"
n=$(export_check initech initech)
[ "$n" -eq 666 ] || fail "export initech: $n events, want 666"
# the two exports together hold no id twice and no other tenant's event
[ "$(cat "$work/acme.json" "$work/initech.json" | grep -c '"tenantid":"globex"' || true)" -eq 0 ] ||
  fail "an export leaked globex's events"
n=$(export_check subj acme lead-3)
[ "$n" -gt 5 ] || fail "export --subject lead-3: only $n events"
n=$(export_check odd acme "$(printf 'lead\\back\tslash\nnl é')")
[ "$n" -eq 1 ] || fail "export of the odd subject: $n events"
# [from, to): an event exactly at --from is in, one exactly at --to is out;
# 2026-02-01T00:00:00Z is no event's time, 2026-02-15T10:00:00.6... is one's
from=$(sed -n 's/.*"id":"01AAAA00000000000000000600".*"time":"\([^"]*\)".*/\1/p' "$work/good.ndjson")
to=$(sed -n 's/.*"id":"01AAAA00000000000000001200".*"time":"\([^"]*\)".*/\1/p' "$work/good.ndjson")
[ -n "$from" ] && [ -n "$to" ] || fail "test bug: times of events 600 and 1200"
n=$(export_check range acme "" "$from" "$to")
[ "$n" -eq 200 ] || fail "export --from $from --to $to: $n events, want 200"
grep -q '"id":"01AAAA00000000000000000600"' "$work/range.json" || fail "export --from excluded the event at --from"
grep -q '"id":"01AAAA00000000000000001200"' "$work/range.json" && fail "export --to included the event at --to"
n=$(export_check feb globex "" 2026-02-01T00:00:00Z 2026-03-01T00:00:00Z)
[ "$n" -gt 200 ] || fail "export of February: only $n events"
n=$(export_check from acme lead-7 2026-03-01T00:00:00+01:00 "")
[ "$n" -gt 0 ] || fail "export --subject --from: no events"
n=$(export_check to acme "" "" 2026-01-20T00:00:00Z)
[ "$n" -gt 0 ] || fail "export --to: no events"
n=$(export_check none acme "" 2027-01-01T00:00:00Z "")
[ "$n" -eq 0 ] || fail "export from 2027: $n events"
expect_error 2 "--tenant" "$SB" audit export --data-dir "$dd"
rc=0
"$SB" audit export --tenant acme --from yesterday --data-dir "$dd" >/dev/null 2>"$work/export_bad.err" || rc=$?
[ $rc -ne 0 ] || fail "audit export --from yesterday succeeded"
grep -q -- '--from' "$work/export_bad.err" || fail "audit export --from yesterday: $(cat "$work/export_bad.err")"

# ---- append-only --------------------------------------------------------
some=01AAAA00000000000000000100
for sql in "UPDATE audit.events SET subject = 'x' WHERE event_id = '$some'" \
  "DELETE FROM audit.events WHERE event_id = '$some'" "TRUNCATE audit.events"; do
  out=$(psql "$db" -XAtq -v ON_ERROR_STOP=1 -c "$sql" 2>&1) &&
    fail "switchboard_app was allowed: $sql"
  grep -q 'permission denied' <<<"$out" || fail "$sql as switchboard_app: $out"
done
for sql in "UPDATE audit.events SET subject = 'x' WHERE event_id = '$some'" \
  "DELETE FROM audit.events WHERE event_id = '$some'"; do
  out=$(psql "$(su_url)" -XAtq -v ON_ERROR_STOP=1 -c "$sql" 2>&1) && fail "the owner was allowed: $sql"
  grep -q 'append-only' <<<"$out" || fail "$sql as the owner: $out"
done
q "SELECT count(*) FROM audit.events WHERE event_id = '$some' AND subject <> 'x'" | grep -qx 1 ||
  fail "refused statements changed the row"

# ---- tampering -----------------------------------------------------------
# a middle row of the longest chain of acme
read -r ttopic tpart tlen < <(q "SELECT topic, kafka_partition, count(*) FROM audit.events
  WHERE tenant_id = 'acme' GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 1" | tr '|' ' ')
[ "$tlen" -ge 10 ] || fail "test bug: longest acme chain has $tlen rows"
mid=$((tlen / 2))
where="tenant_id = 'acme' AND topic = '$ttopic' AND kafka_partition = $tpart"
read -r tid tsubj < <(q "SELECT event_id, subject FROM audit.events WHERE $where AND chain_seq = $mid" | tr '|' ' ')
here="tenant=acme topic=$ttopic partition=$tpart seq=$mid "
tamper "UPDATE audit.events SET subject = 'lead-forged' WHERE event_id = '$tid'"
verify_broken "$here" "event_id=$tid" "changed"
verify_ok --tenant globex # the other tenants' chains are still intact
tamper "UPDATE audit.events SET subject = '$tsubj' WHERE event_id = '$tid'"
verify_ok
# one flipped payload byte
tamper "UPDATE audit.events SET payload = set_byte(payload, 12, get_byte(payload, 12) # 1) WHERE event_id = '$tid'"
verify_broken "$here" "event_id=$tid" "changed"
tamper "UPDATE audit.events SET payload = set_byte(payload, 12, get_byte(payload, 12) # 1) WHERE event_id = '$tid'"
verify_ok
# a removed middle row: the next row is named, as a sequence gap
qsu "CREATE TABLE public.saved_row AS SELECT * FROM audit.events WHERE event_id = '$tid'"
tamper "DELETE FROM audit.events WHERE event_id = '$tid'"
next_id=$(q "SELECT event_id FROM audit.events WHERE $where AND chain_seq = $((mid + 1))")
verify_broken "tenant=acme topic=$ttopic partition=$tpart seq=$((mid + 1)) " "event_id=$next_id" "sequence gap"
qsu "INSERT INTO audit.events SELECT * FROM public.saved_row; DROP TABLE public.saved_row"
verify_ok
# a changed occurred_at (same month) and a changed event id
tamper "UPDATE audit.events SET occurred_at = occurred_at + interval '1 microsecond' WHERE event_id = '$tid'"
verify_broken "$here" "changed"
tamper "UPDATE audit.events SET occurred_at = occurred_at - interval '1 microsecond' WHERE event_id = '$tid'"
verify_ok
# a removed last row: caught through the chain head
last_id=$(q "SELECT event_id FROM audit.events WHERE $where AND chain_seq = $tlen")
tamper "DELETE FROM audit.events WHERE event_id = '$last_id'"
verify_broken "tenant=acme topic=$ttopic partition=$tpart" "removed"
stop_up

# ---- replay on a fresh instance -------------------------------------------
start_on "$work/data2" up2
gen -n 1500 -p CCCC -t acme,globex,initech,umbrella -d 5000 >"$work/replay1.ndjson"
"$SB" import "$work/replay1.ndjson" --data-dir "$dd" >"$work/import2.out" 2>"$work/import2.err" ||
  fail "import on the fresh instance: $(cat "$work/import2.out" "$work/import2.err")"
grep -qx 'accepted: 1500, rejected: 0' "$work/import2.out" || fail "import: $(cat "$work/import2.out")"
wait_rows 1500 60
verify_ok
chain_q="SELECT tenant_id, topic, kafka_partition, chain_seq, kafka_offset, event_id,
  encode(prev_hash, 'hex'), encode(hash, 'hex') FROM audit.events"
chain_order="ORDER BY 1, 2, 3, 4"
heads_q="SELECT tenant_id, topic, kafka_partition, last_seq, encode(last_hash, 'hex')
   FROM audit.chain_heads ORDER BY 1, 2, 3"
q "$chain_q $chain_order" >"$work/chains.before"
[ "$(q 'SELECT generation FROM sb.processors WHERE name = $$audit$$')" = 1 ] ||
  fail "generation before the replay is not 1"
# while the replay runs, 600 more events trickle in (no downtime: they must
# all end up in the swapped-in table, once)
for p in 0 1 2 3 4 5; do
  gen -n 100 -p DDDD -t acme,globex,initech,umbrella -d 5000 -o $((1500 + p * 100))
  sleep 0.5
done | "$SB" import - --data-dir "$dd" >"$work/import3.out" 2>"$work/import3.err" &
ipid=$!
rc=0
timeout 90 "$SB" replay --processor audit --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rc=$?
[ $rc -eq 0 ] || fail "replay exited $rc: $(cat "$work/replay.out"; tail -5 "$work/replay.err")"
n=$(sed -n 's/^replay: audit rebuilt from earliest: \([0-9]*\) events in .*, 0 dead letters; swapped in as generation 2$/\1/p' \
  "$work/replay.out")
[ -n "$n" ] && [ "$n" -ge 1500 ] && [ "$n" -le 2100 ] || fail "replay said: $(cat "$work/replay.out")"
wait "$ipid" || fail "import during the replay: $(cat "$work/import3.out" "$work/import3.err")"
ipid=
grep -qx 'accepted: 600, rejected: 0' "$work/import3.out" || fail "import during the replay: $(cat "$work/import3.out")"
# the rows rebuilt from the log are the rows saved, hash for hash
q "$chain_q WHERE event_id LIKE '01CCCC%' $chain_order" >"$work/chains.after"
cmp -s "$work/chains.before" "$work/chains.after" ||
  fail "rebuilt chains differ: $(diff "$work/chains.before" "$work/chains.after" | head -5)"
[ "$(q 'SELECT generation || $$ $$ || consumer_group FROM sb.processors WHERE name = $$audit$$')" = \
  "2 switchboard.audit.g2" ] || fail "sb.processors after the replay: $(q 'TABLE sb.processors')"
# the replaced generation is kept (audit_gen_1), nothing else is left
[ "$(q "SELECT string_agg(nspname, ',') FROM pg_namespace WHERE nspname LIKE 'audit_%'")" = audit_gen_1 ] ||
  fail "schemas after the replay: $(q "SELECT string_agg(nspname, ',') FROM pg_namespace WHERE nspname LIKE 'audit%'")"
wait_rows 2100 60
[ "$(q 'SELECT count(*) = count(DISTINCT event_id) FROM audit.events')" = t ] ||
  fail "an event id appears twice after the replay"
verify_ok
grep -qx 'audit verify: OK: 2100 rows in [0-9]* chains' "$work/verify.out" || fail "verify: $(cat "$work/verify.out")"
# the swapped-in table is still append-only
out=$(psql "$db" -XAtq -c "DELETE FROM audit.events" 2>&1) &&
  fail "switchboard_app may delete from the rebuilt table"
out=$(psql "$(su_url)" -XAtq -c "DELETE FROM audit.events" 2>&1) && fail "the rebuilt table is not append-only"
# the live worker carries on into the new table
gen -n 300 -p EEEE -t acme,globex,initech,umbrella -d 5000 -o 2100 >"$work/replay3.ndjson"
"$SB" import "$work/replay3.ndjson" --data-dir "$dd" >"$work/import4.out" 2>"$work/import4.err" ||
  fail "import after the replay: $(cat "$work/import4.out" "$work/import4.err")"
wait_rows 2400 60
[ "$(q "SELECT count(*) FROM audit.events WHERE event_id LIKE '01EEEE%'")" = 300 ] ||
  fail "the events imported after the replay are not all in audit.events"
[ "$(q 'SELECT count(*) = count(DISTINCT event_id) FROM audit.events')" = t ] ||
  fail "an event id appears twice after the replay"
verify_ok
grep -qx 'audit verify: OK: 2400 rows in [0-9]* chains' "$work/verify.out" || fail "verify: $(cat "$work/verify.out")"
q "$chain_q WHERE event_id LIKE '01CCCC%' $chain_order" >"$work/chains.later"
cmp -s "$work/chains.before" "$work/chains.later" || fail "rows of generation 2 changed after new imports"
offsets_at_end switchboard.audit.g2 3 sb.leads sb.calls sb.agents sb.messages \
  sb.campaigns sb.compliance sb.gamification
# a second replay rebuilds every row, those the live worker wrote included,
# identically
q "$chain_q $chain_order" >"$work/chains.all"
q "$heads_q" >"$work/heads.all"
rc=0
timeout 90 "$SB" replay --processor audit --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rc=$?
[ $rc -eq 0 ] || fail "second replay exited $rc: $(cat "$work/replay.out"; tail -5 "$work/replay.err")"
grep -q '^replay: audit rebuilt from earliest: 2400 events in .*, 0 dead letters; swapped in as generation 3$' \
  "$work/replay.out" || fail "second replay said: $(cat "$work/replay.out")"
q "$chain_q $chain_order" >"$work/chains.all3"
cmp -s "$work/chains.all" "$work/chains.all3" ||
  fail "the second rebuild differs: $(diff "$work/chains.all" "$work/chains.all3" | head -5)"
q "$heads_q" >"$work/heads.all3"
cmp -s "$work/heads.all" "$work/heads.all3" || fail "the second rebuild's chain heads differ"
verify_ok
offsets_at_end switchboard.audit.g3 3 sb.leads sb.calls sb.agents sb.messages \
  sb.campaigns sb.compliance sb.gamification

# ---- a backfill of 20 years of history -------------------------------------
# 240 events a month apart: one batch spans far more months than a few
gen -n 240 -p HSTR -t archive -s 946684800 -d 2678400 >"$work/history.ndjson"
"$SB" import "$work/history.ndjson" --data-dir "$dd" >"$work/import5.out" 2>"$work/import5.err" ||
  fail "import of the history: $(cat "$work/import5.out" "$work/import5.err")"
deadline=$((SECONDS + 60))
while [ "$(q 'SELECT count(*) FROM audit.events' 2>/dev/null || echo 0)" -lt 2640 ] &&
  [ $SECONDS -lt $deadline ]; do
  kill -0 "$pid" 2>/dev/null ||
    fail "switchboard up died on a backfill spanning 240 months: $(grep -m1 " ERROR " "$work/up2.err")"
  sleep 0.3
done
[ "$(q "SELECT count(*) FROM audit.events WHERE tenant_id = 'archive'")" = 240 ] ||
  fail "the 240 events of the backfill are not all in audit.events"
verify_ok --tenant archive
grep -q '^audit verify: OK: 240 rows' "$work/verify.out" || fail "verify: $(cat "$work/verify.out")"
stop_up

# ---- import tells when events cannot be delivered ---------------------------
# nothing listens on the broker's port now: no event may be counted as
# neither accepted nor rejected, and the exit status must say so
rc=0
timeout 90 "$SB" import "$work/odd.ndjson" --data-dir "$dd" --brokers "$kafka" \
  --set kafka_timeout_ms=1000 >"$work/import6.out" 2>"$work/import6.err" || rc=$?
[ $rc -ne 124 ] || fail "import to a broker that is gone did not end within 90 s"
[ $rc -ne 0 ] || fail "import to a broker that is gone exited 0: $(cat "$work/import6.out")"
if grep -q '^accepted: ' "$work/import6.out"; then
  grep -qx 'accepted: 0, rejected: 2' "$work/import6.out" ||
    fail "import to a broker that is gone printed '$(cat "$work/import6.out")', want 'accepted: 0, rejected: 2'"
fi
echo "audit_e2e: all checks passed ($((SECONDS - t_start)) s)"
