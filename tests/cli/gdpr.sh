#!/usr/bin/env bash
# Data subject requests carried out (switchboard gdpr):
#  - access: `gdpr export` writes one JSON document (0600) holding exactly
#    the events posted about the subject (the lead's own, and the call,
#    message and consent that name it), decrypted, and no other subject's;
#    its SHA-256 is the one recorded in dsar.completed; the reading itself
#    is in the audit log as access.recorded READ;
#  - erasure: `gdpr erase` destroys the subject's data keys and removes its
#    export files; afterwards the subject's plaintext is nowhere: not in
#    Kafka, the journal, any table, the exports, nor in what any export
#    decrypts (its fields read sbx1.erased), while another subject's still
#    decrypts; `audit verify` passes; a replay of every processor from
#    earliest succeeds and the fields stay shredded; `gdpr status` shows
#    both requests completed.
. "$(dirname "$0")/lib.sh"
command -v kcat >/dev/null || fail "kcat not found: apt-get install kcat"
start_up --partitions 2 --http-listen 127.0.0.1:0
base=$url
manager=$("$SB" token --data-dir "$dd" --tenant acme --role manager)
post() { # post JSON
  status=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $manager" \
    -H 'Content-Type: application/json' --data-binary "$1" "$base/v1/events")
  [ "$status" = 202 ] || fail "post: $status $(cat "$work/body") for $1"
}
now=$(date -u +%FT%TZ)
ce() { # ce TYPE SUBJECT DATA_JSON
  printf '{"specversion":"1.0","type":"%s","source":"crm://t","subject":"%s","time":"%s","data":%s}' "$1" "$2" "$now" "$3"
}
# lead-z is erased; lead-y stays
Z_PHONE="+14155550199" Z_EMAIL="zora.vexley@example.org" Z_FIRST="Zora" Z_LAST="Vexleyworth"
Z_BODY="Zora your quote is ready" Z_CALLER="Zora V at home"
Y_PHONE="+14155550123" Y_EMAIL="yusuf.brandt@example.org" Y_FIRST="Yusuf"
post "$(ce lead.created lead-z "{\"first_name\":\"$Z_FIRST\",\"last_name\":\"$Z_LAST\",\"email\":\"$Z_EMAIL\",\"phone\":\"$Z_PHONE\"}")"
post "$(ce call.started call-z "{\"direction\":\"inbound\",\"lead_id\":\"lead-z\",\"from_number\":\"$Z_PHONE\",\"caller_name\":\"$Z_CALLER\"}")"
post "$(ce message.requested msg-z "{\"lead_id\":\"lead-z\",\"channel\":\"sms\",\"to_address\":\"$Z_PHONE\",\"body\":\"$Z_BODY\"}")"
post "$(ce consent.given lead-z "{\"purpose\":\"marketing\",\"channel\":\"sms\",\"address\":\"$Z_PHONE\"}")"
post "$(ce lead.created lead-y "{\"first_name\":\"$Y_FIRST\",\"email\":\"$Y_EMAIL\",\"phone\":\"$Y_PHONE\"}")"
post "$(ce call.started call-y "{\"direction\":\"inbound\",\"lead_id\":\"lead-y\",\"from_number\":\"$Y_PHONE\"}")"
wait_rows() { # wait_rows SQL N
  for _ in $(seq 1 150); do
    [ "$(q "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
    sleep 0.2
  done
  fail "waited for $2 rows of: $1 (have $(q "$1"))"
}
wait_rows "SELECT count(*) FROM audit.events WHERE tenant_id = 'acme'" 6

# ---- access ------------------------------------------------------------------
"$SB" gdpr export --data-dir "$dd" --tenant acme --subject lead-z --request req-a1 \
  >"$work/export.out" 2>"$work/export.err" || fail "gdpr export: $(cat "$work/export.err")"
doc=$(sed -n 's/^  \(.*\.json\)$/\1/p' "$work/export.out")
[ -f "$doc" ] || fail "no export document: $(cat "$work/export.out")"
[ "$(stat -c %a "$doc")" = 600 ] || fail "the export is mode $(stat -c %a "$doc")"
[ "$(stat -c %a "$(dirname "$doc")")" = 700 ] || fail "the exports' directory is not 0700"
/usr/bin/python3 - "$doc" "$Z_PHONE" "$Z_EMAIL" "$Z_FIRST" "$Z_BODY" "$Z_CALLER" <<'EOF' || fail "export document: $(head -c 600 "$doc")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["tenant_id"] == "acme" and d["subject_id"] == "lead-z" and d["request_id"] == "req-a1", d
ev = d["events"]
# (routing's lead.scored and lead.engaged about lead-z may be there too)
types = sorted(e["type"] for e in ev if not e["source"].startswith("switchboard://processor/"))
# the subject's own events and those naming it, no other subject's
assert types[:4] == ["call.started", "consent.given", "lead.created", "message.requested"], types
assert all(e["subject"] in ("lead-z", "call-z", "msg-z") for e in ev), [e["subject"] for e in ev]
text = json.dumps(ev)
for p in sys.argv[2:]:
    assert p in text, "missing " + p
assert "sbx1." not in text, "a value left sealed"
assert "yusuf" not in text.lower()
assert isinstance(d["projections"], dict)
EOF
[ "$(wc -l <"${doc%.json}.ndjson")" -ge 4 ] || fail "the NDJSON holds $(wc -l <"${doc%.json}.ndjson") events"
sha=$(sha256sum "$doc" | cut -d' ' -f1)
grep -q "sha256 $sha" "$work/export.out" || fail "printed digest differs from the file's $sha"
# the request, its completion with the digest, and the read on the record
wait_rows "SELECT count(*) FROM gdpr.requests WHERE tenant_id = 'acme' AND request_id = 'req-a1' AND export_sha256 = '$sha' AND received_at IS NOT NULL" 1
wait_rows "SELECT count(*) FROM audit.events WHERE tenant_id = 'acme' AND event_type = 'access.recorded' AND subject LIKE 'cli:%'" 1

# ---- erasure -----------------------------------------------------------------
"$SB" gdpr erase --data-dir "$dd" --tenant acme --subject lead-z --request req-e1 \
  >"$work/erase.out" 2>"$work/erase.err" || fail "gdpr erase: $(cat "$work/erase.err")"
grep -q 'request req-e1: subject lead-z erased: [1-9][0-9]* data keys destroyed now, 2 export files removed' "$work/erase.out" ||
  fail "erase: $(cat "$work/erase.out")"
[ ! -e "$doc" ] || fail "the subject's export is still there"
wait_rows "SELECT count(*) FROM gdpr.erasures WHERE tenant_id = 'acme' AND subject_id = 'lead-z' AND request_id = 'req-e1'" 1
wait_rows "SELECT count(*) FROM gdpr.requests WHERE tenant_id = 'acme' AND request_id = 'req-e1' AND outcome = 'fulfilled'" 1
# carried out again: nothing left to destroy, the same request
"$SB" gdpr erase --data-dir "$dd" --tenant acme --subject lead-z --request req-e1 \
  >"$work/erase2.out" 2>&1 || fail "gdpr erase again: $(cat "$work/erase2.out")"
grep -q ': 0 data keys destroyed now' "$work/erase2.out" || fail "erase again: $(cat "$work/erase2.out")"

zplains=("$Z_PHONE" "4155550199" "$Z_EMAIL" "$Z_FIRST" "$Z_LAST" "$Z_BODY" "$Z_CALLER")
exports_clear() { # every decrypting export there is, into $1
  "$SB" audit export --data-dir "$dd" --tenant acme >"$1" 2>"$work/ae.err" ||
    fail "audit export: $(cat "$work/ae.err")"
  "$SB" gdpr export --data-dir "$dd" --tenant acme --subject lead-z >"$work/ge.out" 2>"$work/ge.err" ||
    fail "gdpr export after erasure: $(cat "$work/ge.err")"
  cat "$(sed -n 's/^  \(.*\.json\)$/\1/p' "$work/ge.out")" >>"$1"
}
exports_clear "$work/after.txt"
grep -qF "$Y_EMAIL" "$work/after.txt" || fail "another subject's data no longer decrypts"
grep -qF "$Y_PHONE" "$work/after.txt" || fail "another subject's call no longer decrypts"
grep -qF 'sbx1.erased' "$work/after.txt" || fail "no field reads sbx1.erased"
: >"$work/kafka.raw"
for t in sb.leads sb.calls sb.messages sb.compliance; do
  timeout 20 kcat -C -b "$kafka" -t "$t" -o beginning -e -q -f '%k %s %h\n' \
    >>"$work/kafka.raw" 2>"$work/kcat.err" || fail "kcat $t: $(cat "$work/kcat.err")"
done
: >"$work/db.dump"
qsu "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
     WHERE schemaname NOT IN ('pg_catalog', 'information_schema')" |
  while read -r t; do psql "$(su_url)" -XAtqc "COPY (SELECT * FROM $t) TO STDOUT" >>"$work/db.dump"; done
cat "$dd"/exports/acme/* >"$work/exports.dump" 2>/dev/null || true
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
for p in "${zplains[@]}"; do
  for f in after.txt kafka.raw db.dump exports.dump; do
    ! grep -aqF -- "$p" "$work/$f" || fail "'$p' of the erased subject is readable in $f"
  done
  ! grep -aqF -- "$(hex "$p")" "$work/db.dump" || fail "'$p' as hex in the database"
  ! grep -aqrF -- "$p" "$dd/kafka" || fail "'$p' in the broker's journal"
done

# ---- the audit log still verifies; replays keep the shredding -------------------
"$SB" audit verify --data-dir "$dd" >"$work/verify.out" 2>&1 || fail "audit verify: $(cat "$work/verify.out")"
for p in audit compliance gdpr rbac routing security campaigns assignment retention; do # every processor `up` runs
  "$SB" replay --data-dir "$dd" --processor "$p" --from earliest >"$work/replay.$p" 2>&1 ||
    fail "replay $p: $(tail -3 "$work/replay.$p")"
done
"$SB" audit verify --data-dir "$dd" >"$work/verify2.out" 2>&1 || fail "audit verify after replay: $(cat "$work/verify2.out")"
exports_clear "$work/after2.txt"
for p in "${zplains[@]}"; do
  ! grep -aqF -- "$p" "$work/after2.txt" || fail "'$p' readable after the replays"
done
grep -qF "$Y_EMAIL" "$work/after2.txt" || fail "another subject's data lost in the replays"
"$SB" gdpr status --data-dir "$dd" --tenant acme --subject lead-z >"$work/status.json" 2>&1 ||
  fail "gdpr status: $(cat "$work/status.json")"
/usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
r = {x["request_id"]: x for x in s["requests"]}
assert r["req-a1"]["outcome"] == "fulfilled" and r["req-a1"]["kind"] == "access", r
assert r["req-e1"]["kind"] == "erasure" and r["req-e1"]["overdue"] is False, r
assert [e["request_id"] for e in s["erasures"]][:1] == ["req-e1"], s["erasures"]
' "$work/status.json" || fail "status: $(cat "$work/status.json")"
expect_error 2 "export needs --tenant and --subject" "$SB" gdpr export --data-dir "$dd" --tenant acme

# ---- the API: admins only, reads recorded --------------------------------------
admin=$("$SB" token --data-dir "$dd" --tenant acme --role admin --sub dpo-1)
api() { # api TOKEN METHOD PATH [BODY] -> status, body in $work/api
  status=$(curl -s -o "$work/api" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1" \
    -A 'gdpr-test/1.0' ${4:+-H 'Content-Type: application/json' --data-binary "$4"} "$base$3")
}
reads() { q "SELECT count(*) FROM audit.events WHERE tenant_id = 'acme' AND event_type = 'access.recorded'"; }
api "$manager" POST /v1/gdpr '{"action":"export","subject":"lead-y"}'
[ "$status" = 403 ] || fail "a manager's export: $status $(cat "$work/api")"
api "$admin" POST /v1/gdpr '{"action":"shred","subject":"lead-y"}'
[ "$status" = 400 ] && grep -q 'action: \\"export\\" or \\"erase\\"' "$work/api" || fail "bad action: $status $(cat "$work/api")"
api "$admin" POST /v1/gdpr '{"action":"export","subject":"lead-y","request_id":"req-api-1"}'
[ "$status" = 200 ] || fail "API export: $status $(cat "$work/api")"
/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["request_id"] == "req-api-1" and r["events"] >= 2 and len(r["sha256"]) == 64, r
assert r["download"] == "/v1/gdpr/export?request=req-api-1", r
' "$work/api" || fail "API export answer: $(cat "$work/api")"
before=$(reads)
api "$admin" GET "/v1/gdpr/export?request=req-api-1"
[ "$status" = 200 ] && grep -qF "$Y_EMAIL" "$work/api" || fail "download: $status $(head -c 300 "$work/api")"
! grep -qF "$Z_EMAIL" "$work/api" || fail "the download holds another subject's data"
for _ in $(seq 1 50); do # the gdpr processor has the request once it read it
  api "$admin" GET "/v1/gdpr?subject=lead-y"
  [ "$status" = 200 ] && grep -q '"request_id":"req-api-1"' "$work/api" && break
  sleep 0.2
done
[ "$status" = 200 ] && grep -q '"request_id":"req-api-1"' "$work/api" || fail "API status: $status $(cat "$work/api")"
api "$admin" GET "/v1/gdpr/export?request=req-none"
[ "$status" = 404 ] || fail "no such export: $status $(cat "$work/api")"
api "$admin" GET "/v1/gdpr/export"
[ "$status" = 400 ] || fail "download without a request: $status"
wait_rows "SELECT count(*) FROM audit.events WHERE tenant_id = 'acme' AND event_type = 'access.recorded'" $((before + 2))
# audit export in clear was on the record (a sealed export reads no PII: not)
wait_rows "SELECT count(*) FROM audit.events WHERE tenant_id = 'acme' AND event_type = 'access.recorded' AND subject LIKE 'cli:%'" 4
"$SB" audit export --data-dir "$dd" --tenant acme --pii sealed >"$work/sealed.ndjson" 2>/dev/null || fail "sealed export"
grep '"type":"access.recorded"' "$work/sealed.ndjson" | grep -q '"resource_type":"audit_export"' ||
  fail "audit export left no access.recorded"
echo "gdpr: all checks passed"
