#!/usr/bin/env bash
# PII sealed before it is written anywhere, readable only by whom may:
#  - events with PII posted over HTTP (and one imported) leave no plaintext
#    in the raw Kafka records (kcat), the broker's journal on disk, or any
#    table of the database (every schema: audit.events' payloads, the
#    projections, sb.*), in text or as hex; the match HMACs are there;
#  - the WebSocket feed shows the plaintext to a manager and to the agent
#    who owns the lead, masked to a supervisor and to an agent who does
#    not own it;
#  - a card number, client-sent ciphertext or HMAC are refused 400 naming
#    the field;
#  - `keys rotate` re-wraps every data key, removes the old KEK from the key
#    file, and audit export still decrypts the old events;
#  - a key file readable by others stops `up`, in one line.
. "$(dirname "$0")/lib.sh"
WS="/usr/bin/python3 $(dirname "$0")/ws_client.py"
clients=()
cleanup_extra() { for c in "${clients[@]}"; do kill "$c" 2>/dev/null || true; done; }
command -v kcat >/dev/null || fail "kcat not found: apt-get install kcat"

start_up --partitions 2 --http-listen 127.0.0.1:0
base=$url
ws=ws://${base#http://}/v1/stream
[ "$(stat -c %a "$dd/tenant.keys")" = 600 ] || fail "tenant.keys is not 0600"

tok() { "$SB" token --data-dir "$dd" --tenant acme --role "$1" ${2:+--sub "$2"}; }
manager=$(tok manager)
supervisor=$(tok supervisor sup-1)
agent7=$(tok agent agent-7)
agent8=$(tok agent agent-8)

listen() { # listen NAME TOKEN
  $WS listen "$ws" "$2" '{"subscribe":{"topics":["sb.leads","sb.messages"]}}' \
    "$work/$1.msgs" 2>"$work/$1.client.err" &
  clients+=($!)
}
listen mgr "$manager"
listen sup "$supervisor"
listen a7 "$agent7"
listen a8 "$agent8"
for f in mgr sup a7 a8; do
  for _ in $(seq 1 100); do
    grep -q '"subscribed"' "$work/$f.msgs" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '"subscribed"' "$work/$f.msgs" || fail "$f not subscribed"
done

post() { # post TOKEN JSON -> status in $status, body in $work/body
  status=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' --data-binary "$2" "$base/v1/events")
}
now=$(date -u +%FT%TZ)
ce() { # ce TYPE SUBJECT DATA_JSON
  printf '{"specversion":"1.0","type":"%s","source":"crm://t","subject":"%s","time":"%s","data":%s}' "$1" "$2" "$now" "$3"
}
# the plaintexts this test looks for everywhere
PHONE="+14155554567" EMAIL="zelda.quux@example.org" FIRST="Zelda" LAST="Quuxington"
SSN="078-05-1120" TOKEN="tok_visa_9f8e7d6c" CITY="Xylopolis" BODY="Meet Zelda at noon"
IMPORTED="imported.person@example.net"

post "$manager" "$(ce lead.created lead-1 "{\"lead_source\":\"web_form\",\"first_name\":\"$FIRST\",\"last_name\":\"$LAST\",\"email\":\"$EMAIL\",\"phone\":\"+1 (415) 555-4567\",\"national_id\":\"$SSN\",\"payment_token\":\"$TOKEN\",\"card_last4\":\"4242\",\"address\":{\"city\":\"$CITY\",\"country\":\"US\"}}")"
[ "$status" = 202 ] || fail "lead.created: $status $(cat "$work/body")"
post "$manager" "$(ce call.started call-1 '{"direction":"outbound","agent_id":"agent-7","lead_id":"lead-1"}')"
[ "$status" = 202 ] || fail "call.started: $status $(cat "$work/body")"
sleep 0.5 # the hub learns the owner from the feed before the next event
post "$manager" "$(ce lead.updated lead-1 "{\"changed_fields\":[\"phone\"],\"phone\":\"$PHONE\"}")"
[ "$status" = 202 ] || fail "lead.updated: $status $(cat "$work/body")"
# a message to the lead, naming agent-8 (who does not own the lead)
post "$manager" "$(ce message.requested msg-1 "{\"lead_id\":\"lead-1\",\"agent_id\":\"agent-8\",\"channel\":\"sms\",\"to_address\":\"$PHONE\",\"body\":\"$BODY\"}")"
[ "$status" = 202 ] || fail "message.requested: $status $(cat "$work/body")"

# refusals, each naming the field
post "$manager" "$(ce lead.created lead-9 '{"custom_fields_json":"{\"card\":\"4111 1111 1111 1111\"}"}')"
[ "$status" = 400 ] && grep -q 'data.custom_fields_json: looks like a payment card number' "$work/body" ||
  fail "card number: $status $(cat "$work/body")"
post "$manager" "$(ce lead.created lead-9 '{"email":"sbx1.0123456789abcdef-1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}')"
[ "$status" = 400 ] && grep -q 'data.email: holds an sbx1. value' "$work/body" ||
  fail "client ciphertext: $status $(cat "$work/body")"
post "$manager" "$(ce lead.created lead-9 '{"phone":"+14155550000","phone_hmac":"00"}')"
[ "$status" = 400 ] && grep -q 'data.phone_hmac: is computed by the server' "$work/body" ||
  fail "client HMAC: $status $(cat "$work/body")"
post "$manager" "$(ce lead.created lead-9 '{"phone":"4155550000"}')"
[ "$status" = 400 ] && grep -q 'data.phone: is not an E.164 phone number' "$work/body" ||
  fail "not E.164: $status $(cat "$work/body")"

# and one through import
printf '{"specversion":"1.0","type":"lead.created","source":"crm://import","subject":"lead-2","time":"2026-11-01T10:00:00Z","tenantid":"acme","data":{"email":"%s"}}\n' \
  "$IMPORTED" >"$work/import.ndjson"
"$SB" import "$work/import.ndjson" --data-dir "$dd" >"$work/import.out" 2>"$work/import.err" ||
  fail "import: $(cat "$work/import.out" "$work/import.err")"

# ---- the feed ----------------------------------------------------------------
wait_for() { # wait_for NAME TEXT
  for _ in $(seq 1 100); do
    grep -qF -- "$2" "$work/$1.msgs" && return 0
    sleep 0.1
  done
  fail "$1 never received '$2': $(tail -2 "$work/$1.msgs" | cut -c1-400)"
}
wait_for mgr "\"phone\":\"$PHONE\""
wait_for mgr "\"email\":\"$EMAIL\""
wait_for mgr "\"to_address\":\"$PHONE\""
wait_for mgr "\"body\":\"$BODY\""
wait_for a7 "\"phone\":\"$PHONE\"" # its own lead
wait_for a8 '"to_address":"+1******4567"'
wait_for a8 '"body":"***"'
wait_for sup '"phone":"+1******4567"'
wait_for sup '"email":"z***@example.org"'
wait_for sup '"national_id":"***"'
for f in a8 sup; do
  for p in "$PHONE" "$EMAIL" "$BODY" "$SSN" "$FIRST" "$CITY"; do
    ! grep -qF -- "$p" "$work/$f.msgs" || fail "$f received plaintext '$p'"
  done
done
grep -q '"phone_hmac":"[0-9a-f]\{64\}"' "$work/mgr.msgs" || fail "no phone_hmac in the feed"

# ---- nothing in clear at rest ---------------------------------------------------
plains=("$PHONE" "4155554567" "$EMAIL" "$FIRST" "$LAST" "$SSN" "$TOKEN" "$CITY" "$BODY" "$IMPORTED")
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# wait until the audit processor has every event (5 accepted + 1 imported)
for _ in $(seq 1 100); do
  [ "$(q "SELECT count(*) FROM audit.events WHERE tenant_id = 'acme' AND event_type NOT IN ('access.recorded', 'lead.scored', 'lead.engaged')")" -ge 5 ] && break
  sleep 0.2
done
[ "$(q "SELECT count(*) FROM audit.events WHERE tenant_id = 'acme' AND event_type NOT IN ('access.recorded', 'lead.scored', 'lead.engaged')")" -ge 5 ] ||
  fail "the audit log did not get the events"
: >"$work/kafka.raw"
for t in sb.leads sb.messages; do
  timeout 20 kcat -C -b "$kafka" -t "$t" -o beginning -e -q -f '%k %s %h\n' \
    >>"$work/kafka.raw" 2>"$work/kcat.err" || fail "kcat $t: $(cat "$work/kcat.err")"
done
[ "$(grep -ac 'sbx1\.' "$work/kafka.raw")" -ge 4 ] || fail "no envelopes in Kafka"
# every table of every schema, as the superuser, in COPY's text form
qsu "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
     WHERE schemaname NOT IN ('pg_catalog', 'information_schema')" >"$work/tables"
[ "$(wc -l <"$work/tables")" -ge 10 ] || fail "tables: $(cat "$work/tables")"
: >"$work/db.dump"
while read -r t; do
  psql "$(su_url)" -XAtqc "COPY (SELECT * FROM $t) TO STDOUT" >>"$work/db.dump" ||
    fail "cannot read $t"
done <"$work/tables"
grep -q 'audit' "$work/tables" || fail "no audit tables"
# the scans see what is stored: the source URI (not PII) is found in the
# Kafka values, in the journal, and as hex inside audit.events' payloads
grep -aqF 'crm://t' "$work/kafka.raw" || fail "the Kafka scan sees nothing"
grep -aqrF 'crm://t' "$dd/kafka" || fail "the journal scan sees nothing"
grep -aqF "$(hex 'crm://t')" "$work/db.dump" || fail "the database scan sees no payload"
for p in "${plains[@]}"; do
  h=$(hex "$p")
  ! grep -aqF -- "$p" "$work/kafka.raw" || fail "Kafka holds '$p' in clear"
  ! grep -aqrF -- "$p" "$dd/kafka" || fail "the broker's journal holds '$p' in clear"
  ! grep -aqF -- "$p" "$work/db.dump" || fail "the database holds '$p' in clear"
  ! grep -aqF -- "$h" "$work/db.dump" || fail "the database holds '$p' as hex"
done
# one data key per data subject: lead-1 (its own events, and the call's and
# the message's, which name it) and lead-2 (imported)
[ "$(q "SELECT count(DISTINCT subject_hash) FROM sb.data_keys WHERE tenant_id = 'acme'")" = 2 ] ||
  fail "data keys: $(q "SELECT subject_hash, gen FROM sb.data_keys")"

# ---- export decrypts; rotation keeps it so ------------------------------------
"$SB" audit export --data-dir "$dd" --tenant acme >"$work/export1" 2>"$work/export1.err" ||
  fail "export: $(cat "$work/export1.err")"
for p in "$EMAIL" "$SSN" "$CITY" "$BODY" "$IMPORTED"; do
  grep -qF -- "$p" "$work/export1" || fail "export lacks '$p'"
done
"$SB" audit export --data-dir "$dd" --tenant acme --pii masked >"$work/export2" 2>/dev/null ||
  fail "export --pii masked"
grep -qF '"email":"z***@example.org"' "$work/export2" || fail "masked export: $(head -1 "$work/export2")"
! grep -qF -- "$EMAIL" "$work/export2" || fail "masked export shows the e-mail"

"$SB" keys rotate --data-dir "$dd" --tenant acme >"$work/rotate.out" 2>"$work/rotate.err" ||
  fail "keys rotate: $(cat "$work/rotate.err")"
grep -q '^tenant acme: KEK version 2; 2 data keys re-wrapped' "$work/rotate.out" ||
  fail "rotate: $(cat "$work/rotate.out")"
! grep -q '^kek acme 1 ' "$dd/tenant.keys" || fail "KEK version 1 is still in the key file"
grep -q '^kek acme 2 ' "$dd/tenant.keys" || fail "no KEK version 2"
[ "$(q "SELECT count(*) FROM sb.data_keys WHERE tenant_id = 'acme' AND kek_version <> 2")" = 0 ] ||
  fail "data keys left under version 1"
"$SB" keys status --data-dir "$dd" --tenant acme >"$work/status.out" 2>&1 ||
  fail "keys status: $(cat "$work/status.out")"
grep -qx 'tenant acme: KEK version 2; data keys: 2 live, 0 erased' "$work/status.out" ||
  fail "status: $(cat "$work/status.out")"
# a new event after the rotation, with the running up's cached keys
post "$manager" "$(ce lead.updated lead-1 '{"changed_fields":["email"],"email":"after.rotation@example.org"}')"
[ "$status" = 202 ] || fail "after rotation: $status $(cat "$work/body")"
for _ in $(seq 1 100); do
  # the second lead.updated (other processors' derived events may come first)
  [ "$(q "SELECT count(*) FROM audit.events WHERE tenant_id = 'acme' AND event_type = 'lead.updated'")" -ge 2 ] && break
  sleep 0.2
done
"$SB" audit export --data-dir "$dd" --tenant acme >"$work/export3" 2>"$work/export3.err" ||
  fail "export after rotation: $(cat "$work/export3.err")"
# (each clear export is itself recorded: access.recorded events aside)
# (and routing's derived events: more of them may have come)
cmp -s <(grep -v -e after.rotation -e '"type":"access.recorded"' -e '"source":"switchboard://processor/' "$work/export3") \
  <(grep -v -e '"type":"access.recorded"' -e '"source":"switchboard://processor/' "$work/export1") ||
  fail "the old events do not export the same after the rotation: $(diff "$work/export1" "$work/export3" | head -4)"
grep -qF 'after.rotation@example.org' "$work/export3" || fail "the new event did not export"
! grep -q 'sbx1\.' "$work/export3" || fail "export left a value sealed: $(grep 'sbx1\.' "$work/export3" | head -1)"

stop_up
# ---- a key file others may read stops up ---------------------------------------
chmod 644 "$dd/tenant.keys"
expect_error 1 "tenant.keys is mode 0644" "$SB" up --data-dir "$dd" --http-listen off
chmod 600 "$dd/tenant.keys"
echo "pii: all checks passed"
