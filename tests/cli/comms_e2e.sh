#!/usr/bin/env bash
# One message end to end, every part real: message.requested posted over
# HTTP -> ingest (sealed) -> the comms processor (consent, outbox) -> the
# dispatcher (up's) -> a local Twilio stand-in over HTTPS (providers.py)
# -> its signed status callback POSTed to our /v1/webhooks/twilio/...
# (webhooks.public_url: the same URL the dispatcher asked it to call) ->
# message.status_updated 'delivered' -> comms.messages and the delivery
# statistics, read through the read API.
#   comms_e2e.sh SWITCHBOARD
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/dispatch_lib.sh"
start_providers

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SWITCHBOARD_WEBHOOKS_PUBLIC_URL=http://127.0.0.1:$port
export SWITCHBOARD_DISPATCH_TIMEOUT_MS=5000
export SWITCHBOARD_DISPATCH_LEASE_MS=15000
start_up --partitions 2 --processors comms,compliance --http-listen "127.0.0.1:$port"
tok() { "$SB" token --data-dir "$dd" --tenant acme --role "$1" --sub "$2"; }
admin=$(tok admin alice)
manager=$(tok manager mia)
now() { date -u +%FT%T.%3NZ; }
post() { # TOKEN TYPE SUBJECT DATA: the status; the body in $work/body
  curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' "$url/v1/events" --data-binary \
    "{\"specversion\":\"1.0\",\"type\":\"$2\",\"source\":\"/t\",\"subject\":\"$3\",\"time\":\"$(now)\",\"data\":$4}"
}
s=$(post "$admin" provider.configured tw1 "{\"account_id\":\"tw1\",\"provider\":\"twilio\",\"base_url\":\"$base\",\"username\":\"AC123\",\"secret\":\"tw-token\",\"from_address\":\"+15550009999\",\"channels\":[\"sms\"],\"default\":true}")
[ "$s" = 202 ] || fail "provider.configured: $s $(cat "$work/body")"
s=$(post "$manager" consent.given lead-1 '{"subject_id":"lead-1","purpose":"transactional","channel":"sms","method":"web_form","consent_text_version":"v1"}')
[ "$s" = 202 ] || fail "consent.given: $s $(cat "$work/body")"
for _ in $(seq 1 150); do
  [ "$(q "SELECT count(*) FROM comms.providers") $(q "SELECT count(*) FROM compliance.consent")" = "1 1" ] && break
  sleep 0.2
done
sleep 1 # past the batch that folded them into the global tables
s=$(post "$manager" message.requested m-e2e '{"message_id":"m-e2e","channel":"sms","to_address":"+15550000001","lead_id":"lead-1","purpose":"transactional","body":"Your code is 4321"}')
[ "$s" = 202 ] || fail "message.requested: $s $(cat "$work/body")"

status() { q "SELECT status FROM comms.messages WHERE message_id = 'm-e2e'"; }
for _ in $(seq 1 200); do [ "$(status)" = delivered ] && break; sleep 0.1; done
[ "$(status)" = delivered ] || fail "m-e2e: $(status); outbox $(q "SELECT state, attempts, last_error FROM comms.outbox"); provider saw $(cat "$work/requests.jsonl" 2>/dev/null)"
# the provider got it once, in Twilio's form; our webhook took its callback
/usr/bin/python3 - "$work/requests.jsonl" "$SWITCHBOARD_WEBHOOKS_PUBLIC_URL" <<'PY' || fail "provider's view"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
sends = [r for r in reqs if r.get("to") == "+15550000001"]
assert len(sends) == 1 and sends[0]["form"]["Body"] == "Your code is 4321", sends
cb = sends[0]["form"]["StatusCallback"]
assert cb == sys.argv[2] + "/v1/webhooks/twilio/acme/tw1/status?m=m-e2e", cb
calls = [r for r in reqs if r.get("callback")]
assert len(calls) == 1 and calls[0]["status"] == 200, calls
PY
got=$(q "SELECT string_agg(status, ',' ORDER BY rank) FROM comms.message_statuses WHERE message_id = 'm-e2e'")
[ "$got" = "queued,submitted,submitted,delivered" ] || fail "m-e2e's statuses: $got" # message.submitted and its status_updated
# the delivery statistics: one requested, queued, sent and delivered, with
# its time to delivery; through the read API as the manager reads it
want="1 1 1 1 1"
for _ in $(seq 1 50); do
  [ "$(q "SELECT requested || ' ' || queued || ' ' || sent || ' ' || delivered || ' ' || delivery_count FROM comms.delivery_daily WHERE channel = 'sms'")" = "$want" ] && break
  sleep 0.1
done
curl -s -o "$work/read" -H "Authorization: Bearer $manager" \
  "$url/v1/projections/comms/delivery_daily?channel=sms" || fail "read API"
/usr/bin/python3 - "$work/read" <<'PY' || fail "delivery_daily through the read API: $(cat "$work/read")"
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
assert len(rows) == 1, rows
r = rows[0]
assert (r["provider"], r["requested"], r["queued"], r["sent"], r["delivered"],
        r["delivery_count"]) == ("twilio", 1, 1, 1, 1, 1), r
assert r["delivery_ms_sum"] >= 0, r
PY
grep -q -e tw-token -e 15550000001 "$work/up.err" && fail "up's log holds the secret or the number"
stop_up
echo "comms e2e: requested over HTTP, sent, delivered by the provider's signed callback, counted"
