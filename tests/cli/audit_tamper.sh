#!/usr/bin/env bash
# The audit log against tampering by the database's own users (issue 10,
# item 16). On `up` (embedded broker, private PostgreSQL), 400 events are
# imported and audited, and the audit worker publishes signed checkpoints
# (every 300 ms here) to <data_dir>/audit-checkpoints.log and
# sb.audit.checkpoints. Then:
#  - untampered: verify exits 0 and says what it cross-checked against
#    Kafka and how many chains against checkpoints; the signing key is
#    0600, its public half beside it, and neither reaches the log;
#  - as switchboard_app, a forged row appended to a chain with a correctly
#    computed hash, and its chain head moved to it (the chains stay
#    intact): verify exits 1 naming the row as having no Kafka record
#    behind it;
#  - as the superuser, the newest two rows of a chain deleted and its head
#    rewritten to the row before them (the chains stay intact): verify
#    exits 1 citing the signed checkpoint, chain and seq, also with
#    --offline (checkpoints alone);
#  - one flipped byte in the checkpoint file: reported as a bad signature;
#  - Kafka not reachable: verify says the cross-check was skipped and exits
#    3; --offline exits 0;
#  - the tail cut again and `up` restarted: the audit worker refuses the
#    chain (up exits non-zero naming chain and checkpoint) and appends
#    nothing to it.
. "$(dirname "$0")/lib.sh"
gen() { bash "$(dirname "$0")/gen_events.sh" "$@"; }
type qsu >/dev/null 2>&1 || qsu() { q "$@"; } # superuser (lib.sh may gain it)
qapp() { q "SET ROLE switchboard_app; $1"; } # the application role
py=/usr/bin/python3
t_start=$SECONDS
N=400

# verify_rc WANT [ARGS]: audit verify exits WANT; output in $work/verify.out
verify_rc() {
  local want=$1 rc=0
  shift
  timeout 60 "$SB" audit verify --data-dir "$dd" "$@" >"$work/verify.out" 2>"$work/verify.err" || rc=$?
  [ $rc -eq "$want" ] ||
    fail "audit verify $* exited $rc, want $want: $(cat "$work/verify.out" "$work/verify.err")"
}
has() { grep -qF -- "$1" "$work/verify.out" || fail "audit verify output lacks '$1': $(cat "$work/verify.out")"; }

SWITCHBOARD_AUDIT_CHECKPOINT_INTERVAL_MS=300 start_up --partitions 2 --processors "$SB_PROCESSORS_NO_DERIVED"
gen -n $N -p TMPR >"$work/ev.ndjson"
"$SB" import "$work/ev.ndjson" --data-dir "$dd" >"$work/import.out" 2>"$work/import.err" ||
  fail "import: $(cat "$work/import.out" "$work/import.err")"
deadline=$((SECONDS + 60))
until [ "$(q 'SELECT count(*) FROM audit.events' 2>/dev/null || echo 0)" -ge $N ]; do
  [ $SECONDS -lt $deadline ] || fail "audit.events holds $(q 'SELECT count(*) FROM audit.events') of $N rows after 60 s"
  kill -0 "$pid" 2>/dev/null || fail "up died"
  sleep 0.3
done

# until the checkpoints cover every chain head (they follow the commits)
covered() {
  q "SELECT tenant_id || ' ' || topic || ' ' || kafka_partition || ' ' || last_seq FROM audit.chain_heads" |
    sort >"$work/heads"
  [ -s "$dd/audit-checkpoints.log" ] || return 1
  "$py" - "$dd/audit-checkpoints.log" <<'PY' | sort >"$work/cp_heads"
import json, sys
best = {}
for line in open(sys.argv[1]):
    body = line.rstrip("\n").rsplit("\t", 1)[0]
    for c in json.loads(body)["chains"]:
        k = (c["tenant"], c["topic"], c["partition"])
        best[k] = max(best.get(k, 0), c["seq"])
for (t, tp, p), s in best.items():
    print(t, tp, p, s)
PY
  cmp -s "$work/heads" "$work/cp_heads"
}
deadline=$((SECONDS + 30))
until covered; do
  [ $SECONDS -lt $deadline ] || fail "checkpoints do not cover the chain heads after 30 s: $(diff "$work/heads" "$work/cp_heads" | head -5)"
  sleep 0.3
done
chains=$(wc -l <"$work/heads")
# and each is on sb.audit.checkpoints too (sent right after the file)
in_kafka() {
  timeout 20 kcat -C -b "$kafka" -t sb.audit.checkpoints -e -q -f '%s\n' 2>/dev/null | grep -c $'\t' || true
}
deadline=$((SECONDS + 30))
until [ "$(in_kafka)" -ge "$(wc -l <"$dd/audit-checkpoints.log")" ]; do
  [ $SECONDS -lt $deadline ] || fail "sb.audit.checkpoints holds $(in_kafka) checkpoints, the file $(wc -l <"$dd/audit-checkpoints.log")"
  sleep 0.3
done

# ---- untampered ------------------------------------------------------------
verify_rc 0
has "audit verify: OK: $N rows in $chains chains"
# (8 domain topics, sb.tenants among them, of 2 partitions each)
has "audit verify: cross-checked against Kafka: $N rows against their records in 16 partitions"
has "audit verify: checkpoints: $chains chains checked against their newest signed checkpoint"
grep -q "checkpoints read: [1-9][0-9]* from audit-checkpoints.log, [1-9][0-9]* from sb.audit.checkpoints" "$work/verify.out" ||
  fail "verify did not read checkpoints from both the file and Kafka: $(cat "$work/verify.out")"
[ "$(stat -c %a "$dd/audit-signing.key")" = 600 ] || fail "the signing key is mode $(stat -c %a "$dd/audit-signing.key")"
grep -q 'BEGIN PUBLIC KEY' "$dd/audit-signing.pub" || fail "no public key beside the signing key"
keyline=$(sed -n 2p "$dd/audit-signing.key")
[ -n "$keyline" ] || fail "the signing key file is empty"
grep -qF -- "$keyline" "$work/up.err" "$work/up.out" "$work/verify.out" && fail "the signing key reached a log"
[ "$(q "SELECT count(*) FROM audit.events WHERE position(convert_to('$keyline', 'UTF8') IN payload) > 0")" = 0 ] ||
  fail "the signing key reached PostgreSQL"

# ---- a forged row, as the application role ---------------------------------
# the longest chain; its last row is copied with a new event id and subject,
# seq + 1 and the next offset, hashed as the audit processor hashes
read -r ft ftp fp flen < <(q "SELECT tenant_id, topic, kafka_partition, count(*) FROM audit.events
  GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT 1" | tr '|' ' ')
[ "$flen" -ge 5 ] || fail "test bug: longest chain has $flen rows"
fwhere="tenant_id = '$ft' AND topic = '$ftp' AND kafka_partition = $fp"
q "SELECT chain_seq, kafka_offset, event_type, (extract(epoch FROM occurred_at) * 1000000)::bigint,
   encode(payload, 'hex'), encode(hash, 'hex'), occurred_at FROM audit.events WHERE $fwhere
   ORDER BY chain_seq DESC LIMIT 1" >"$work/last"
forged_id=01TMPRF0RGED0000000000000X
"$py" - "$work/last" "$ft" "$ftp" "$fp" "$forged_id" >"$work/forged" <<'PY'
import hashlib, struct, sys
seq, off, typ, at, payload, prev, occ = open(sys.argv[1]).read().rstrip("\n").split("|")
tenant, topic, part, eid = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
seq, off, at = int(seq) + 1, int(off) + 1000, int(at)
subject = "lead-forged"
payload = bytes.fromhex(payload)
lp = lambda b: struct.pack(">I", len(b)) + b
h = hashlib.sha256(bytes.fromhex(prev) + struct.pack(">q", seq) + lp(tenant.encode())
    + lp(topic.encode()) + struct.pack(">Q", part) + struct.pack(">q", off)
    + lp(eid.encode()) + lp(typ.encode()) + lp(subject.encode())
    + struct.pack(">q", at) + lp(payload)).hexdigest()
print(seq, off, typ, subject, occ.replace(" ", "T"), payload.hex(), prev, h)
PY
read -r fseq foff ftype fsubj focc fpay fprev fhash <"$work/forged"
qapp "INSERT INTO audit.events (tenant_id, topic, kafka_partition, kafka_offset, chain_seq,
  event_id, event_type, subject, occurred_at, schema_id, payload, prev_hash, hash)
  VALUES ('$ft', '$ftp', $fp, $foff, $fseq, '$forged_id', '$ftype', '$fsubj', '$focc',
  (SELECT schema_id FROM audit.events WHERE $fwhere AND chain_seq = $((fseq - 1))),
  decode('$fpay', 'hex'), decode('$fprev', 'hex'), decode('$fhash', 'hex'));
  UPDATE audit.chain_heads SET last_seq = $fseq, last_hash = decode('$fhash', 'hex') WHERE $fwhere" >/dev/null ||
  fail "switchboard_app could not append the forged row"
# the hash chains alone accept it (that is the attack)...
verify_rc 1
# ...the cross-check names it
has "FAILED at tenant=$ft topic=$ftp partition=$fp seq=$fseq offset=$foff event_id=$forged_id: no Kafka record behind it"
grep -q '^audit verify: OK' "$work/verify.out" && fail "verify said OK besides FAILED"
# undone by the superuser, verify passes again
qsu "ALTER TABLE audit.events DISABLE TRIGGER append_only;
  DELETE FROM audit.events WHERE event_id = '$forged_id';
  ALTER TABLE audit.events ENABLE TRIGGER append_only;
  UPDATE audit.chain_heads SET last_seq = $((fseq - 1)), last_hash = decode('$fprev', 'hex') WHERE $fwhere" >/dev/null
verify_rc 0
has "audit verify: OK: $N rows in $chains chains"

# ---- a cut tail, as the superuser -------------------------------------------
# the newest two rows of the chain go, its head is rewritten to the row
# before them: the chains hash correctly, the checkpoint does not agree
cut=$((fseq - 2)) # the first row removed
read -r nhash < <(q "SELECT encode(hash, 'hex') FROM audit.events WHERE $fwhere AND chain_seq = $((cut - 1))")
qsu "CREATE TABLE public.saved AS SELECT * FROM audit.events WHERE $fwhere AND chain_seq >= $cut" >/dev/null
qsu "ALTER TABLE audit.events DISABLE TRIGGER append_only;
  DELETE FROM audit.events WHERE $fwhere AND chain_seq >= $cut;
  ALTER TABLE audit.events ENABLE TRIGGER append_only;
  UPDATE audit.chain_heads SET last_seq = $((cut - 1)), last_hash = decode('$nhash', 'hex') WHERE $fwhere" >/dev/null
verify_rc 1 --offline
has "FAILED at tenant=$ft topic=$ftp partition=$fp seq=$((fseq - 1)): the chain has no row at this seq, which the signed checkpoint of"
has "rows were cut from its end"
verify_rc 1
has "the chain has no row at this seq, which the signed checkpoint of"
has "is missing from the audit log" # and the log still holds the records
# put back, verify passes again
qsu "INSERT INTO audit.events SELECT * FROM public.saved; DROP TABLE public.saved;
   UPDATE audit.chain_heads SET last_seq = $((fseq - 1)), last_hash = decode('$fprev', 'hex') WHERE $fwhere" >/dev/null
verify_rc 0

# ---- a flipped byte in the checkpoint file ----------------------------------
cp "$dd/audit-checkpoints.log" "$work/cp.saved"
"$py" - "$dd/audit-checkpoints.log" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.index(b'"seq":') + 6  # a digit of the first chain's seq
b[i] ^= 0x01
open(p, "wb").write(bytes(b))
PY
verify_rc 1 --offline
has "FAILED checkpoint audit-checkpoints.log line 1: bad signature"
cp "$work/cp.saved" "$dd/audit-checkpoints.log"
verify_rc 0 --offline
has "audit verify: cross-check against Kafka: skipped (--offline)"

# ---- Kafka not reachable ------------------------------------------------------
verify_rc 3 --brokers 127.0.0.1:1 --set kafka_timeout_ms=1000
has "audit verify: INCOMPLETE: $N rows in $chains chains are intact as far as checked, but the cross-check against Kafka was skipped"
verify_rc 0 --brokers 127.0.0.1:1 --set kafka_timeout_ms=1000 --offline

# ---- a cut tail stops the audit worker at its next start ---------------------
# (the worker checks the chain heads it loads against the checkpoints)
qsu "ALTER TABLE audit.events DISABLE TRIGGER append_only;
  DELETE FROM audit.events WHERE $fwhere AND chain_seq >= $cut;
  ALTER TABLE audit.events ENABLE TRIGGER append_only;
  UPDATE audit.chain_heads SET last_seq = $((cut - 1)), last_hash = decode('$nhash', 'hex') WHERE $fwhere" >/dev/null
stop_up
SWITCHBOARD_AUDIT_CHECKPOINT_INTERVAL_MS=300 start_up --partitions 2 --processors "$SB_PROCESSORS_NO_DERIVED"
rc=0
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "up kept running on a chain cut below its checkpoint"
wait "$pid" || rc=$?
pid=
[ $rc -ne 0 ] || fail "up exited 0 on a chain cut below its checkpoint"
grep -qF "chain tenant=$ft topic=$ftp partition=$fp ends in PostgreSQL below its signed checkpoint at seq $((fseq - 1))" "$work/up.err" ||
  fail "up did not name the cut chain: $(grep -m3 'ERROR\|switchboard up' "$work/up.err")"
"$SB" postgres start --data-dir "$dd" >"$work/pgstart.out" 2>&1 || fail "postgres start: $(cat "$work/pgstart.out")"
db=$("$SB" postgres url --data-dir "$dd")
[ "$(q "SELECT count(*) FROM audit.events WHERE $fwhere")" = $((cut - 1)) ] ||
  fail "rows were appended to the cut chain"
echo "audit_tamper: all checks passed ($((SECONDS - t_start)) s)"
