#!/usr/bin/env bash
# The comms processor through the real ingest path (issue 16, part M):
#  - provider.configured is the admin's alone (a manager: 403); a manager
#    publishes templates;
#  - ingest seals the account's secret (comms.providers holds the envelope,
#    no plaintext anywhere in the database) and the read view
#    GET /v1/projections/comms/providers never shows it;
#  - ingest fills message.requested's to_address_tz from a phone: with the
#    quiet hours set around the current hour in Los Angeles, a message to a
#    415 number is blocked quiet_hours "in America/Los_Angeles" while one
#    to an e-mail address (the tenant's zone, UTC: not quiet) is queued,
#    with an outbox row holding the sealed address;
#  - automation's messages to "lead:<id>" get the lead's own sealed phone
#    (outbox.to_origin lead.created:phone, nothing in clear), a lead
#    without a phone is blocked invalid_address, and one comms never hears
#    of waits comms.lead_wait_ms, then is blocked;
#  - message.requested's to_address is checked by its channel (slack
#    channel, push token, phone, e-mail), refused naming the channel;
#  - `replay --processor comms --from earliest` carries the outbox over as
#    the dispatcher left it (a row marked sent stays sent, none added) and
#    rebuilds the same messages.
. "$(dirname "$0")/lib.sh"

la_hour=$(TZ=America/Los_Angeles date +%H)
la_hour=$((10#$la_hour))
export SWITCHBOARD_COMMS_QUIET_START=$(printf '%02d:00' $(((la_hour + 23) % 24)))
export SWITCHBOARD_COMMS_QUIET_END=$(printf '%02d:00' $(((la_hour + 1) % 24)))

SWITCHBOARD_COMMS_LEAD_WAIT_MS=2000 SWITCHBOARD_DISPATCH_ENABLED=false start_up --partitions 2 --processors comms,compliance,automation --http-listen 127.0.0.1:0
tok() { "$SB" token --data-dir "$dd" --tenant acme --role "$1" --sub "$2"; }
admin=$(tok admin alice)
manager=$(tok manager mia)

now() { date -u +%FT%T.%3NZ; }
# post TOKEN TYPE SUBJECT DATA: the status; the body in $work/body
post() {
  curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' "$url/v1/events" --data-binary \
    "{\"specversion\":\"1.0\",\"type\":\"$2\",\"source\":\"/t\",\"subject\":\"$3\",\"time\":\"$(now)\",\"data\":$4}"
}
SECRET="auth-token-$$-plain"
acct="{\"account_id\":\"tw\",\"provider\":\"twilio\",\"username\":\"AC1\",\"secret\":\"$SECRET\",\"channels\":[\"sms\",\"email\"],\"default\":true}"
s=$(post "$manager" provider.configured tw "$acct")
[ "$s" = 403 ] || fail "a manager configured a provider: $s $(cat "$work/body")"
s=$(post "$admin" provider.configured tw "$acct")
[ "$s" = 202 ] || fail "provider.configured: $s $(cat "$work/body")"
s=$(post "$manager" template.published promo '{"template_id":"promo","version":1,"channel":"email","locale":"en","subject_template":"Hi","body_template":"Hello {{lead.first_name}}"}')
[ "$s" = 202 ] || fail "template.published: $s $(cat "$work/body")"
s=$(post "$manager" consent.given lead-1 '{"subject_id":"lead-1","purpose":"marketing","method":"web_form","consent_text_version":"v1"}')
[ "$s" = 202 ] || fail "consent.given: $s $(cat "$work/body")"
# the requests go once the tables hold the configuration (the checks read
# the global tables as of the batch)
for _ in $(seq 1 150); do
  [ "$(q "SELECT count(*) FROM comms.providers") $(q "SELECT count(*) FROM comms.templates") $(q "SELECT count(*) FROM compliance.consent")" = "1 1 1" ] && break
  sleep 0.2
done
[ "$(q "SELECT secret_sealed LIKE 'sbx1.%' FROM comms.providers")" = t ] ||
  fail "providers: $(q 'SELECT account_id, left(secret_sealed, 5) FROM comms.providers')"
sleep 1 # past the batch that folded them into the global tables
s=$(post "$manager" message.requested m-sms '{"message_id":"m-sms","channel":"sms","to_address":"+14155550123","lead_id":"lead-1","body":"hi"}')
[ "$s" = 202 ] || fail "message.requested sms: $s $(cat "$work/body")"
s=$(post "$manager" message.requested m-mail '{"message_id":"m-mail","channel":"email","to_address":"Ada@Example.com","lead_id":"lead-1","template_id":"promo","template_variables_json":"{\"lead.first_name\":\"Ada\"}"}')
[ "$s" = 202 ] || fail "message.requested email: $s $(cat "$work/body")"
for _ in $(seq 1 150); do
  [ "$(q "SELECT count(*) FROM comms.messages WHERE status <> 'requested'")" = 2 ] && break
  sleep 0.2
done
got=$(q "SELECT message_id || ' ' || status || ' ' || coalesce(blocked_reason, '-') FROM comms.messages ORDER BY 1" | tr '\n' ',')
[ "$got" = "m-mail queued -,m-sms blocked quiet_hours," ] || fail "messages: $got"
[ "$(q "SELECT error_message FROM comms.message_statuses WHERE message_id = 'm-sms'")" = \
  "$SWITCHBOARD_COMMS_QUIET_START-$SWITCHBOARD_COMMS_QUIET_END in America/Los_Angeles" ] ||
  fail "quiet hours not in the number's zone: $(q "SELECT error_message FROM comms.message_statuses")"
got=$(q "SELECT message_id || ' ' || account_id || ' ' || template_version || ' ' || (to_sealed LIKE 'sbx1.%') || ' ' || (variables_sealed LIKE 'sbx1.%') || ' ' || state FROM comms.outbox")
[ "$got" = "m-mail tw 1 true true pending" ] || fail "outbox: $got"
# no plaintext secret, address or variables anywhere in the comms schema
qsu "SELECT * FROM comms.providers; SELECT * FROM comms.outbox" |
  grep -qF -e "$SECRET" -e "Ada@Example.com" -e '"Ada"' && fail "plaintext in comms"
s=$(curl -s -o "$work/read" -w '%{http_code}' -H "Authorization: Bearer $admin" \
  "$url/v1/projections/comms/providers")
[ "$s" = 200 ] && grep -qF '"account_id":"tw"' "$work/read" || fail "providers view: $s $(cat "$work/read")"
grep -qF -e secret -e sbx1 "$work/read" && fail "the providers view shows a secret: $(cat "$work/read")"

# ---- automation's lead:<id> recipients: the lead's own sealed address ---------
rules='{"rules": [{"id": "welcome", "when": "lead.created", "if": {"field": "campaign_id", "eq": "auto"},
  "then": [{"do": "message", "channel": "sms", "template_id": "welcome", "purpose": "transactional"}]},
 {"id": "moved", "when": "lead.status_changed",
  "then": [{"do": "message", "channel": "sms", "template_id": "welcome", "purpose": "transactional"}]}]}'
s=$(post "$manager" automation.rules_published acme "{\"rules_version\":\"v1\",\"rules_json\":$(jq -cn --arg r "$rules" '$r')}")
[ "$s" = 202 ] || fail "automation.rules_published: $s $(cat "$work/body")"
s=$(post "$manager" template.published welcome '{"template_id":"welcome","version":1,"channel":"sms","locale":"en","body_template":"Welcome"}')
[ "$s" = 202 ] || fail "template.published welcome: $s $(cat "$work/body")"
for l in lead-a lead-b; do
  s=$(post "$manager" consent.given $l "{\"subject_id\":\"$l\",\"purpose\":\"transactional\",\"method\":\"web_form\",\"consent_text_version\":\"v1\"}")
  [ "$s" = 202 ] || fail "consent.given $l: $s $(cat "$work/body")"
done
for _ in $(seq 1 150); do
  [ "$(q "SELECT count(*) FROM automation.rule_sets") $(q "SELECT count(*) FROM comms.templates") $(q "SELECT count(*) FROM compliance.consent")" = "1 2 3" ] && break
  sleep 0.2
done
sleep 1
s=$(post "$manager" lead.created lead-a '{"lead_id":"lead-a","status":"new","lead_source":"web_form","campaign_id":"auto","phone":"+14155550199"}')
[ "$s" = 202 ] || fail "lead.created lead-a: $s $(cat "$work/body")"
s=$(post "$manager" lead.created lead-b '{"lead_id":"lead-b","status":"new","lead_source":"web_form","campaign_id":"auto","email":"bea@example.com"}')
[ "$s" = 202 ] || fail "lead.created lead-b: $s $(cat "$work/body")"
for _ in $(seq 1 150); do
  [ "$(q "SELECT count(*) FROM comms.messages WHERE message_id LIKE 'auto:%' AND status <> 'requested'")" = 2 ] && break
  sleep 0.2
done
got=$(q "SELECT lead_id || ' ' || status || ' ' || coalesce(blocked_reason, '-') FROM comms.messages WHERE message_id LIKE 'auto:%' ORDER BY 1" | tr '\n' ',')
[ "$got" = "lead-a queued -,lead-b blocked invalid_address," ] || fail "automation's messages: $got"
[ "$(q "SELECT error_message FROM comms.message_statuses WHERE message_id LIKE 'auto:%' AND status = 'blocked'")" = "lead lead-b has no phone number" ] ||
  fail "lead-b's block: $(q "SELECT error_message FROM comms.message_statuses WHERE message_id LIKE 'auto:%'")"
got=$(q "SELECT to_origin || ' ' || (to_sealed LIKE 'sbx1.%') || ' ' || lead_id FROM comms.outbox WHERE message_id LIKE 'auto:%'")
[ "$got" = "lead.created:phone true lead-a" ] || fail "automation's outbox row: $got"
qsu "SELECT * FROM comms.outbox" | grep -qF -e 5550199 -e 'lead:lead-a' && fail "the outbox holds the phone or the lead reference in clear"
# a lead comms never hears of (no lead.created): the request waits
# comms.lead_wait_ms (2 s here) for it, then is blocked
t0=$(date +%s%N)
s=$(post "$manager" lead.status_changed ghost '{"lead_id":"ghost","status":"contacted"}')
[ "$s" = 202 ] || fail "lead.status_changed ghost: $s $(cat "$work/body")"
for _ in $(seq 1 150); do
  [ "$(q "SELECT status FROM comms.messages WHERE lead_id = 'ghost'")" = blocked ] && break
  sleep 0.1
done
waited=$((($(date +%s%N) - t0) / 1000000))
got=$(q "SELECT m.blocked_reason || ' ' || s.error_message FROM comms.messages m JOIN comms.message_statuses s USING (tenant_id, message_id) WHERE m.lead_id = 'ghost' AND s.status = 'blocked'")
[ "$got" = "invalid_address lead ghost is unknown (or has neither phone nor e-mail address)" ] ||
  fail "the ghost lead's message: $got"
[ "$waited" -ge 2000 ] || fail "the ghost lead's message was blocked after $waited ms, before comms.lead_wait_ms"

# ---- delivery statistics and messages through the read API, per role --------
s=$(post "$manager" message.requested m-ann '{"message_id":"m-ann","channel":"email","to_address":"ada@example.com","lead_id":"lead-1","agent_id":"ann","body":"from ann"}')
[ "$s" = 202 ] || fail "message.requested m-ann: $s $(cat "$work/body")"
for _ in $(seq 1 150); do
  [ "$(q "SELECT count(*) FROM comms.messages WHERE message_id = 'm-ann' AND status <> 'requested'")" = 1 ] && break
  sleep 0.2
done
# read TOKEN VIEW: the status; the answer in $work/read
read_view() {
  curl -s -o "$work/read" -w '%{http_code}' -H "Authorization: Bearer $1" \
    "$url/v1/projections/comms/$2"
}
rows() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sum(r.get('requested', 1) for r in d['rows']))" "$work/read"; }
want=$(q "SELECT sum(requested) FROM comms.delivery_daily")
for role in manager supervisor admin; do
  s=$(read_view "$(tok $role "r-$role")" delivery_daily)
  [ "$s" = 200 ] && [ "$(rows)" = "$want" ] || fail "$role's delivery_daily: $s $(cat "$work/read") (want $want requested)"
done
s=$(read_view "$(tok agent ann)" delivery_daily)
[ "$s" = 403 ] || fail "an agent read the tenant's delivery statistics: $s $(cat "$work/read")"
s=$(read_view "$(tok agent ann)" messages)
[ "$s" = 200 ] && [ "$(/usr/bin/python3 -c "import json,sys; print(' '.join(r['message_id'] for r in json.load(open(sys.argv[1]))['rows']))" "$work/read")" = m-ann ] ||
  fail "agent ann's messages: $s $(cat "$work/read")"
for v in message_statuses outbox providers; do
  s=$(read_view "$(tok agent ann)" $v)
  [ "$s" = 403 ] || fail "an agent read comms/$v: $s"
done
# another tenant's manager sees none of acme's
other=$("$SB" token --data-dir "$dd" --tenant globex --role manager --sub gm)
for v in delivery_daily messages message_statuses outbox providers templates; do
  s=$(read_view "$other" $v)
  [ "$s" = 200 ] && [ "$(rows)" = 0 ] || fail "globex's manager reads acme's comms/$v: $s $(cat "$work/read")"
done

# ---- a replay keeps the outbox as the dispatcher left it --------------------
q "UPDATE comms.outbox SET state = 'sent', attempts = 1, sent_at = now(), provider_message_id = 'SM1' WHERE message_id = 'm-mail'"
before=$(q "SELECT message_id, status, blocked_reason, account_id, provider, requested_at FROM comms.messages ORDER BY 1")
rc=0
timeout 120 "$SB" replay --processor comms --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rc=$?
[ $rc -eq 0 ] || fail "replay exited $rc: $(cat "$work/replay.out"; tail -3 "$work/replay.err")"
got=$(q "SELECT message_id || ' ' || state || ' ' || attempts || ' ' || coalesce(provider_message_id, '-') || ' ' || coalesce(to_origin, '-') FROM comms.outbox ORDER BY lead_id, message_id" | tr '\n' ,)
[ "$got" = "m-ann pending 0 - -,m-mail sent 1 SM1 -,auto:$(q "SELECT substr(message_id, 6) FROM comms.outbox WHERE message_id LIKE 'auto:%'") pending 0 - lead.created:phone," ] ||
  fail "outbox after the replay: $got"
after=$(q "SELECT message_id, status, blocked_reason, account_id, provider, requested_at FROM comms.messages ORDER BY 1")
[ "$after" = "$before" ] || fail "messages after the replay: $after (before: $before)"

# ---- the recipient's form depends on the channel ------------------------------
# post_to CHANNEL ADDRESS: the status of a message.requested to it
n=0
post_to() {
  n=$((n + 1))
  post "$manager" message.requested "m-to-$n" "{\"message_id\":\"m-to-$n\",\"channel\":\"$1\",\"to_address\":\"$2\",\"body\":\"hi\"}"
}
fcm_token="dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx_r7n8Ja6fs.0w"
for ok in "slack C0123ABCDE" "slack #sales-team" \
  "slack https://hooks.slack.com/services/T000/B000/XXXX" "push $fcm_token" \
  "sms +14155550123" "whatsapp +442079460958" "email ada@example.com"; do
  s=$(post_to ${ok% *} "${ok#* }")
  [ "$s" = 202 ] || fail "message.requested to ${ok% *} ${ok#* }: $s $(cat "$work/body")"
done
for bad in "slack +14155550123|for channel slack: is not a Slack channel" \
  "slack ada@example.com|for channel slack: is not a Slack channel" \
  "push +14155550123|for channel push: is not a push device token" \
  "push dQw4w9WgXcQ APA91bHun4MxP5egoKMwt2KZ|for channel push: is not a push device token" \
  "email +14155550123|for channel email: is not an e-mail address" \
  "sms ada@example.com|for channel sms: is not an E.164 phone number" \
  "whatsapp C0123ABCDE|for channel whatsapp: is not an E.164 phone number"; do
  what=${bad%|*}
  s=$(post_to ${what%% *} "${what#* }")
  [ "$s" = 400 ] && grep -qF "data.to_address: ${bad#*|}" "$work/body" ||
    fail "message.requested to $what: $s $(cat "$work/body") (want: ${bad#*|})"
  grep -qF "${what#* }" "$work/body" && fail "the refusal quotes the address: $(cat "$work/body")"
done
stop_up
echo "comms: checks through ingest, sealed secrets, to_address_tz, replay keeps the outbox, addresses by channel"
