#!/usr/bin/env bash
# The providers' webhooks end to end, on one `up`:
#  - forged (bad signature, unknown account, another provider's account):
#    401, nothing produced, the attempt recorded (security.login_failed);
#  - replayed: the same callback twice is one event (its id derives from
#    the provider's event id), answered 200 both times;
#  - out of order: 'sent' after 'delivered' is recorded too (the comms
#    processor ranks them, not the webhook);
#  - WhatsApp (statuses, inbound, the GET handshake) and SendGrid (a batch)
#    signed as the providers sign; malformed bodies 400, oversize 413;
#  - an inbound STOP becomes message.opt_out, which the compliance
#    processor turns into a suppression; inbound text is sealed in Kafka.
# The provider accounts are configured as a tenant's admin does it:
# provider.configured over HTTP (ingest seals the secrets under
# provider:<account>), projected into comms.providers by the comms
# processor, where the webhooks read and unseal them.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

start_up --partitions 2 --processors compliance,comms --http-listen 127.0.0.1:0
[ -n "$url" ] || fail "no http line"

openssl ecparam -name prime256v1 -genkey -noout -out "$work/sg.pem" 2>/dev/null
openssl ec -in "$work/sg.pem" -pubout -out "$work/sg.pub" 2>/dev/null
admin=$("$SB" token --data-dir "$dd" --tenant acme --role admin)
now=$(date -u +%FT%TZ)
"$PY" - "$work/sg.pub" "$now" >"$work/providers.json" <<'PYEOF'
import json, sys
pub, now = open(sys.argv[1]).read(), sys.argv[2]
def acct(i, a, prov, user, secret, secret2, ch):
    d = {"account_id": a, "provider": prov, "secret": secret, "channels": [ch], "default": True}
    if user: d["username"] = user
    if secret2: d["secret2"] = secret2
    return {"specversion": "1.0", "id": "01WHKPRV00000000000000000%d" % i, "type": "provider.configured",
            "source": "/tests/webhooks", "subject": a, "time": now, "tenantid": "acme", "data": d}
print(json.dumps([acct(1, "tw1", "twilio", "AC1", "authtoken-1", None, "sms"),
                  acct(2, "wa1", "whatsapp_cloud", None, "wa-key", "app-secret-1", "whatsapp"),
                  acct(3, "sg1", "sendgrid", None, "sg-key", pub, "email")]))
PYEOF
code=$(curl -sS -o "$work/prov.out" -w '%{http_code}' -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' --data-binary @"$work/providers.json" "$url/v1/events")
[ "$code" = 202 ] || fail "provider.configured: $code $(cat "$work/prov.out")"
for _ in $(seq 1 150); do
  [ "$(q "SELECT count(*) FROM comms.providers WHERE secret_sealed LIKE 'sbx1.%'" 2>/dev/null)" = 3 ] && break
  sleep 0.2
done
[ "$(q "SELECT count(*) FROM comms.providers WHERE secret_sealed LIKE 'sbx1.%'")" = 3 ] ||
  fail "the three accounts, sealed, did not reach comms.providers"

# post PATH CONTENT_TYPE BODY [HEADER...]: the status into $work/code, the
# answer into $work/out
post() {
  local path=$1 ct=$2 body=$3 args=()
  shift 3
  for h in "$@"; do args+=(-H "$h"); done
  curl -sS -o "$work/out" -w '%{http_code}' -X POST -H "Content-Type: $ct" \
    "${args[@]}" --data-binary "$body" "$url$path" >"$work/code" ||
    fail "curl $path"
}
expect() { # STATUS TEXT
  [ "$(cat "$work/code")" = "$1" ] ||
    fail "status $(cat "$work/code"), want $1: $(cat "$work/out")"
  [ -z "${2:-}" ] || grep -qF -- "$2" "$work/out" ||
    fail "the answer lacks '$2': $(cat "$work/out")"
}
twsig() { # URL BODY TOKEN: X-Twilio-Signature
  "$PY" -c 'import sys,hmac,hashlib,base64,urllib.parse as u
url,body,tok=sys.argv[1:]
p=u.parse_qsl(body,keep_blank_values=True)
s=url+"".join(k+v for k,v in sorted(p))
print(base64.b64encode(hmac.new(tok.encode(),s.encode(),hashlib.sha1).digest()).decode())' "$@"
}
hubsig() { printf %s "$1" | openssl dgst -sha256 -hmac "$2" | sed 's/^.*= /sha256=/'; }
sgsig() { printf %s "$1$2" | openssl dgst -sha256 -sign "$work/sg.pem" | base64 -w0; }
FORM=application/x-www-form-urlencoded
JSON=application/json

# ---- Twilio status callbacks ----------------------------------------------
st=/v1/webhooks/twilio/acme/tw1/status?m=msg-1
b_deliv='MessageSid=SM100&MessageStatus=delivered&AccountSid=AC1&To=%2B14155550100'
b_sent='MessageSid=SM100&MessageStatus=sent&AccountSid=AC1&To=%2B14155550100'
good=$(twsig "$url$st" "$b_deliv" authtoken-1)
post "$st" $FORM "$b_deliv" "X-Twilio-Signature: $(twsig "$url$st" "$b_deliv" authtoken-2)"
expect 401 "does not match"
post "$st" $FORM "$b_deliv" # no signature
expect 401 "missing"
post "${st/msg-1/msg-2}" $FORM "$b_deliv" "X-Twilio-Signature: $good" # another URL
expect 401
post /v1/webhooks/twilio/acme/nope/status $FORM "$b_deliv" "X-Twilio-Signature: $good"
expect 401 "unknown account"
post /v1/webhooks/whatsapp/acme/tw1 $JSON '{}' "X-Hub-Signature-256: sha256=00"
expect 401 "unknown account"
post "$st" $FORM "$b_deliv" "X-Twilio-Signature: $good"
expect 200 '"accepted":1,"duplicates":0'
post "$st" $FORM "$b_deliv" "X-Twilio-Signature: $good" # replayed
expect 200 '"accepted":0,"duplicates":1'
post "$st" $FORM "$b_sent" "X-Twilio-Signature: $(twsig "$url$st" "$b_sent" authtoken-1)"
expect 200 '"accepted":1'
bad='MessageSid=SM100&MessageStatus=lost&AccountSid=AC1'
post "$st" $FORM "$bad" "X-Twilio-Signature: $(twsig "$url$st" "$bad" authtoken-1)"
expect 400 "MessageStatus: 'lost' is not a Twilio message status"
other='MessageSid=SM100&MessageStatus=sent&AccountSid=AC9'
post "$st" $FORM "$other" "X-Twilio-Signature: $(twsig "$url$st" "$other" authtoken-1)"
expect 401 "AccountSid"
post "$st" text/plain "$b_deliv" "X-Twilio-Signature: $good"
expect 415
head -c 70000 /dev/zero | tr '\0' a >"$work/big"
post "$st" $FORM "@$work/big" "X-Twilio-Signature: $good"
expect 413 "at most 65536"

# ---- Twilio inbound: STOP ---------------------------------------------------
in=/v1/webhooks/twilio/acme/tw1/inbound
b_in='MessageSid=SM200&AccountSid=AC1&From=%2B14155550123&To=%2B14155550100&Body=+Stop+'
post "$in" $FORM "$b_in" "X-Twilio-Signature: $(twsig "$url$in" "$b_in" authtoken-1)"
expect 200 "<Response/>"

# ---- WhatsApp -------------------------------------------------------------
wa=/v1/webhooks/whatsapp/acme/wa1
tok=$("$PY" -c 'import hmac,hashlib
print(hmac.new(b"app-secret-1",b"sb-whatsapp-verify:acme:wa1",hashlib.sha256).hexdigest()[:32])')
curl -sS -o "$work/out" -w '%{http_code}' \
  "$url$wa?hub.mode=subscribe&hub.verify_token=$tok&hub.challenge=ch-42" >"$work/code"
expect 200 "ch-42"
curl -sS -o "$work/out" -w '%{http_code}' \
  "$url$wa?hub.mode=subscribe&hub.verify_token=app-secret-1&hub.challenge=ch-42" >"$work/code"
expect 401 "verify_token"
b_wa='{"object":"whatsapp_business_account","entry":[{"id":"W1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"15550001111"},"statuses":[{"id":"wamid.S1","status":"read","timestamp":"'$(date +%s)'","biz_opaque_callback_data":"msg-2"},{"id":"wamid.S1","status":"delivered","timestamp":"'$(date +%s)'","biz_opaque_callback_data":"msg-2"}],"messages":[{"from":"16315551234","id":"wamid.M1","timestamp":"'$(date +%s)'","type":"text","text":{"body":"hello secret-text-xyz"}}]}}]}]}'
# callbacks at once for an account not yet read: one read, all answered
forged=$(hubsig "$b_wa" app-secret-2)
cpids=()
for i in 1 2 3 4 5 6; do
  curl -sS -o /dev/null -w '%{http_code}\n' -X POST -H "Content-Type: $JSON" \
    -H "X-Hub-Signature-256: $forged" --data-binary "$b_wa" "$url$wa" \
    >"$work/par.$i" &
  cpids+=($!)
done
wait "${cpids[@]}" # not `wait`: up is a child too
[ "$(cat "$work"/par.* | sort -u)" = 401 ] ||
  fail "concurrent forged callbacks: $(cat "$work"/par.*)"
post $wa $JSON "$b_wa" "X-Hub-Signature-256: $forged"
expect 401 "X-Hub-Signature-256"
post $wa $JSON "$b_wa" "X-Hub-Signature-256: $(hubsig "$b_wa" app-secret-1)"
expect 200 '"accepted":3'
post $wa $JSON "$b_wa" "X-Hub-Signature-256: $(hubsig "$b_wa" app-secret-1)"
expect 200 '"accepted":0,"duplicates":3'
b_bad='{"object":"whatsapp_business_account","entry":{}}'
post $wa $JSON "$b_bad" "X-Hub-Signature-256: $(hubsig "$b_bad" app-secret-1)"
expect 400 "entry: expected an array"

# ---- SendGrid ---------------------------------------------------------------
sg=/v1/webhooks/sendgrid/acme/sg1
ts=$(date +%s)
b_sg='[{"email":"a@example.com","timestamp":'$ts',"event":"delivered","sg_event_id":"ev-1","sg_message_id":"sg.1","sb_message_id":"msg-3"},{"email":"a@example.com","timestamp":'$ts',"event":"open","sg_event_id":"ev-2","sg_message_id":"sg.1","sb_message_id":"msg-3"},{"email":"a@example.com","timestamp":'$ts',"event":"click","sg_event_id":"ev-3","url":"https://x"}]'
post $sg $JSON "$b_sg" "X-Twilio-Email-Event-Webhook-Timestamp: $((ts + 1))" \
  "X-Twilio-Email-Event-Webhook-Signature: $(sgsig "$ts" "$b_sg")"
expect 401 "does not match"
post $sg $JSON "$b_sg" "X-Twilio-Email-Event-Webhook-Timestamp: $ts" \
  "X-Twilio-Email-Event-Webhook-Signature: $(sgsig "$ts" "$b_sg")"
expect 200 '"accepted":2,"duplicates":0,"ignored":1'

# ---- what Kafka holds ---------------------------------------------------------
timeout 30 kcat -C -b "$kafka" -t sb.messages -e -q -f '%h\n' 2>/dev/null \
  >"$work/msgs" || true
count() { grep -c "ce_type=$1" "$work/msgs" || true; }
[ "$(count message.status_updated)" = 6 ] ||
  fail "$(count message.status_updated) status events, want 6 (Twilio delivered and sent, WhatsApp read and delivered, SendGrid delivered and open): $(cat "$work/msgs")"
[ "$(count message.inbound)" = 2 ] || fail "$(count message.inbound) inbound events, want 2"
[ "$(count message.opt_out)" = 1 ] || fail "$(count message.opt_out) opt-outs, want 1"
ids=$(grep -o 'ce_id=[0-9A-Z]*' "$work/msgs" | sort | uniq -d)
[ -z "$ids" ] || fail "events produced twice: $ids"
timeout 30 kcat -C -b "$kafka" -t sb.messages -e -q -f '%k %s\n' 2>/dev/null \
  >"$work/values" || true
grep -q 'acme:msg-1' "$work/values" || fail "no record keyed acme:msg-1"
! grep -q 'secret-text-xyz' "$work/values" || fail "inbound text in Kafka unsealed"
grep -q 'secret-text-xyz' "$work/out" && fail "the answer echoes the text"
timeout 30 kcat -C -b "$kafka" -t sb.compliance -e -q -f '%h\n' 2>/dev/null \
  >"$work/sec" || true
[ "$(grep -c 'ce_type=security.login_failed' "$work/sec")" -ge 1 ] ||
  fail "no security.login_failed for the forged callbacks"

# the STOP reply withdrew consent: the compliance processor's suppression
for _ in $(seq 1 200); do
  n=$(q "SELECT count(*) FROM compliance.suppression WHERE match = 'phone_hmac'
         AND kind = 'opt_out' AND channel = 'sms'")
  [ "$n" = 1 ] && break
  sleep 0.1
done
[ "$n" = 1 ] || fail "no suppression from the STOP reply ($n)"
stop_up
echo ok
