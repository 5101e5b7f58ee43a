#!/usr/bin/env bash
# The producer's CloudEvents id in the audit log and what leaves it (issue
# 17, item 1). On `up` with the audit processor, events are posted over
# HTTP with ids that are not ULIDs (a UUID in structured mode, "h-1" in
# binary mode) and with a ULID; then:
#  - audit.events keeps the producer's id in ce_id (NULL for the ULID);
#  - `audit export` gives the producer's id as `id` and the event's ULID
#    as `sbeventid`; the ULID event as before (its id, no sbeventid); a
#    data subject export (gdpr export) gives them alike;
#  - the export posted back is accepted as duplicates (sbeventid checked);
#    a wrong sbeventid is refused;
#  - the rows' hashes: the ULID row's as before the column (computed here
#    without it), the others' cover the id (computed here with it);
#  - audit verify passes; a ce_id altered in PostgreSQL fails it; altered
#    with its hash recomputed (the chain's last row), the cross-check
#    against Kafka names the producer's id;
#  - a replay of audit from earliest rebuilds identical rows, ce_id too.
. "$(dirname "$0")/lib.sh"
py=/usr/bin/python3

start_up --partitions 1 --processors audit --http-listen 127.0.0.1:0
token=$("$SB" token --data-dir "$dd" --tenant acme --role manager --sub crm-1)
now=$(date -u +%FT%TZ)
uuid=7a670496-7ead-4b13-811b-5cca8c083124
ulid=01HZZZCE1D0000000000000001
# post EXPECTED_STATUS CURL_ARGS...: the answer in $work/body
post() {
  local want=$1 s
  shift
  s=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $token" "$@" "$url/v1/events")
  [ "$s" = "$want" ] || fail "status $s, want $want: $(cat "$work/body")"
}
structured() { # structured ID SUBJECT
  post 202 -H 'Content-Type: application/cloudevents+json' --data \
    '{"specversion":"1.0","id":"'"$1"'","source":"/crm","type":"lead.created","subject":"'"$2"'","time":"'"$now"'","tenantid":"acme","data":{"lead_source":"web_form"}}'
}
structured "$uuid" lead-a
post 202 -H 'ce-specversion: 1.0' -H 'ce-type: lead.created' -H "ce-time: $now" -H 'ce-subject: lead-b' \
  -H 'ce-id: h-1' -H 'ce-source: /crm' -H 'Content-Type: application/json' --data '{"lead_source":"web_form"}'
structured "$ulid" lead-c

deadline=$((SECONDS + 60))
until [ "$(q 'SELECT count(*) FROM audit.events' 2>/dev/null || echo 0)" -ge 3 ]; do
  [ $SECONDS -lt $deadline ] || fail "audit.events holds $(q 'SELECT count(*) FROM audit.events') of 3 rows after 60 s"
  kill -0 "$pid" 2>/dev/null || fail "up died"
  sleep 0.2
done
[ "$(q "SELECT subject || '=' || coalesce(ce_id, 'NULL') FROM audit.events ORDER BY subject" | tr '\n' ' ')" = \
  "lead-a=$uuid lead-b=h-1 lead-c=NULL " ] ||
  fail "audit.events.ce_id: $(q 'SELECT subject, event_id, ce_id FROM audit.events')"

# ---- the export -------------------------------------------------------------
"$SB" audit export --tenant acme --pii sealed --data-dir "$dd" >"$work/export.jsonl" 2>"$work/export.err" ||
  fail "audit export: $(cat "$work/export.err")"
q "SELECT subject || ' ' || event_id FROM audit.events ORDER BY subject" >"$work/eids"
"$py" - "$work/export.jsonl" "$work/eids" "$uuid" "$ulid" <<'PY' || fail "audit export: $(cat "$work/export.jsonl")"
import json, sys
evs = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    evs[e["subject"]] = e
eid = dict(l.split() for l in open(sys.argv[2]))
uuid, ulid = sys.argv[3], sys.argv[4]
assert len(evs) == 3, evs
assert evs["lead-a"]["id"] == uuid and evs["lead-a"]["sbeventid"] == eid["lead-a"], evs["lead-a"]
assert evs["lead-b"]["id"] == "h-1" and evs["lead-b"]["sbeventid"] == eid["lead-b"], evs["lead-b"]
assert evs["lead-c"]["id"] == ulid == eid["lead-c"] and "sbeventid" not in evs["lead-c"], evs["lead-c"]
PY
# a data subject export (sb_dsar.c, as POST /v1/gdpr/export runs it) alike
"$SB" gdpr export --data-dir "$dd" --tenant acme --subject lead-a >"$work/dsar.out" 2>"$work/dsar.err" ||
  fail "gdpr export: $(cat "$work/dsar.err")"
nd=$(sed -n 3p "$work/dsar.out" | tr -d ' ')
[ -f "$nd" ] || fail "gdpr export wrote no NDJSON: $(cat "$work/dsar.out")"
"$py" - "$nd" "$(grep '^lead-a ' "$work/eids" | cut -d' ' -f2)" "$uuid" <<'PY' || fail "gdpr export: $(cat "$nd")"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
evs = [e for e in evs if e.get("type") == "lead.created"]
assert len(evs) == 1 and evs[0]["id"] == sys.argv[3] and evs[0]["sbeventid"] == sys.argv[2], evs
PY
# posted back: the same events (duplicates), sbeventid accepted as checked
while read -r line; do
  post 202 -H 'Content-Type: application/cloudevents+json' --data "$line"
  grep -q '"duplicate":true' "$work/body" || fail "an exported event posted back was not a duplicate: $(cat "$work/body")"
done <"$work/export.jsonl"
bad=$(grep lead-a "$work/export.jsonl" | sed "s/\"sbeventid\":\"[0-9A-Z]*\"/\"sbeventid\":\"$ulid\"/")
post 400 -H 'Content-Type: application/cloudevents+json' --data "$bad"
grep -qF 'sbeventid: not the event id of this id' "$work/body" || fail "a wrong sbeventid: $(cat "$work/body")"

# ---- the hashes, computed here ------------------------------------------------
q "SELECT encode(prev_hash, 'hex'), chain_seq, tenant_id, topic, kafka_partition, kafka_offset,
   event_id, event_type, subject, (extract(epoch FROM occurred_at) * 1000000)::bigint,
   encode(payload, 'hex'), coalesce(ce_id, ''), encode(hash, 'hex') FROM audit.events" >"$work/rows"
"$py" - "$work/rows" <<'PY' || fail "a row's hash is not the documented encoding"
import hashlib, struct, sys
lp = lambda b: struct.pack(">I", len(b)) + b
for line in open(sys.argv[1]):
    prev, seq, t, tp, p, off, eid, typ, subj, at, pay, ce, h = line.rstrip("\n").split("|")
    b = (bytes.fromhex(prev) + struct.pack(">q", int(seq)) + lp(t.encode()) + lp(tp.encode())
         + struct.pack(">Q", int(p)) + struct.pack(">q", int(off)) + lp(eid.encode())
         + lp(typ.encode()) + lp(subj.encode()) + struct.pack(">q", int(at))
         + lp(bytes.fromhex(pay)))
    if ce:  # only when there is one: other rows hash as before the column
        b += lp(ce.encode())
    assert hashlib.sha256(b).hexdigest() == h, (subj, ce)
PY

# ---- verify, and tampering with the producer's id --------------------------------
verify_rc() { # verify_rc WANT: output in $work/verify.out
  local rc=0
  timeout 60 "$SB" audit verify --data-dir "$dd" >"$work/verify.out" 2>"$work/verify.err" || rc=$?
  [ $rc -eq "$1" ] || fail "audit verify exited $rc, want $1: $(cat "$work/verify.out" "$work/verify.err")"
}
verify_rc 0
grep -q '^audit verify: OK: ' "$work/verify.out" || fail "verify: $(cat "$work/verify.out")"
tamper "UPDATE audit.events SET ce_id = 'forged-id' WHERE ce_id = '$uuid'"
verify_rc 1
grep -qF "its stored hash does not match its content" "$work/verify.out" ||
  fail "an altered ce_id: $(cat "$work/verify.out")"
tamper "UPDATE audit.events SET ce_id = '$uuid' WHERE ce_id = 'forged-id'"
verify_rc 0
# the chain's last row (acme, sb.leads, partition 0), its id
# removed and its hash and head recomputed: the chain holds, Kafka does not
read -r lsubj lseq < <(q "SELECT subject, chain_seq FROM audit.events WHERE topic = 'sb.leads' ORDER BY chain_seq DESC LIMIT 1" | tr '|' ' ')
[ "$lsubj" = lead-c ] || fail "test bug: the last row is $lsubj"
tamper "UPDATE audit.events SET ce_id = 'forged-id' WHERE subject = 'lead-c'"
q "SELECT encode(prev_hash, 'hex'), chain_seq, tenant_id, topic, kafka_partition, kafka_offset,
   event_id, event_type, subject, (extract(epoch FROM occurred_at) * 1000000)::bigint,
   encode(payload, 'hex'), ce_id FROM audit.events WHERE subject = 'lead-c'" >"$work/last"
nh=$("$py" - "$work/last" <<'PY'
import hashlib, struct, sys
lp = lambda b: struct.pack(">I", len(b)) + b
prev, seq, t, tp, p, off, eid, typ, subj, at, pay, ce = open(sys.argv[1]).read().rstrip("\n").split("|")
print(hashlib.sha256(bytes.fromhex(prev) + struct.pack(">q", int(seq)) + lp(t.encode())
      + lp(tp.encode()) + struct.pack(">Q", int(p)) + struct.pack(">q", int(off))
      + lp(eid.encode()) + lp(typ.encode()) + lp(subj.encode()) + struct.pack(">q", int(at))
      + lp(bytes.fromhex(pay)) + lp(ce.encode())).hexdigest())
PY
)
saved=$(q "SELECT encode(hash, 'hex') FROM audit.events WHERE subject = 'lead-c'")
tamper "UPDATE audit.events SET hash = decode('$nh', 'hex') WHERE subject = 'lead-c'"
qsu "UPDATE audit.chain_heads SET last_hash = decode('$nh', 'hex') WHERE topic = 'sb.leads'" >/dev/null
verify_rc 1
grep -qF "seq=$lseq offset=" "$work/verify.out" && grep -qF "its ce_id (the producer's id) differs from the Kafka record" "$work/verify.out" ||
  fail "a forged producer's id with its hash recomputed: $(cat "$work/verify.out")"
tamper "UPDATE audit.events SET ce_id = NULL, hash = decode('$saved', 'hex') WHERE subject = 'lead-c'"
qsu "UPDATE audit.chain_heads SET last_hash = decode('$saved', 'hex') WHERE topic = 'sb.leads'" >/dev/null
verify_rc 0

# ---- a replay from earliest rebuilds the same rows -------------------------------
rows_q="SELECT tenant_id, topic, kafka_partition, chain_seq, kafka_offset, event_id,
  coalesce(ce_id, 'NULL'), encode(prev_hash, 'hex'), encode(hash, 'hex') FROM audit.events ORDER BY 1, 2, 3, 4"
q "$rows_q" >"$work/rows.before"
rc=0
timeout 90 "$SB" replay --processor audit --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rc=$?
[ $rc -eq 0 ] || fail "replay exited $rc: $(cat "$work/replay.out"; tail -5 "$work/replay.err")"
grep -q 'swapped in as generation 2' "$work/replay.out" || fail "replay: $(cat "$work/replay.out")"
q "$rows_q" >"$work/rows.after"
cmp -s "$work/rows.before" "$work/rows.after" ||
  fail "rebuilt rows differ: $(diff "$work/rows.before" "$work/rows.after")"
verify_rc 0
stop_up
echo "ok"
