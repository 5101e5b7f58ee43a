#!/usr/bin/env bash
# The dispatcher (connectors/dispatch) against local providers: an e-mail
# through a real SMTP server (aiosmtpd: STARTTLS required, AUTH) with its
# template rendered; SMS and WhatsApp through a Twilio-style API, WhatsApp
# Cloud, Slack (chat.postMessage and an incoming webhook), FCM and
# SendGrid over HTTPS verified against the test's own CA; their error
# answers (permanent: failed with the provider's code), a 429 with
# Retry-After and a hang past dispatch.timeout_ms (both retried, sent
# once); refusals before sending (a missing variable, too long, no
# account); Slack's pace; secrets and recipients in no log or event; then
# `switchboard dispatch` beside up's dispatcher, 20 messages each sent
# once, drained on SIGTERM.
#   dispatch.sh SWITCHBOARD SBT_SEAL
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
SEAL=$2
source "$here/dispatch_lib.sh"

# FCM's service account: its key (the token endpoint checks JWTs with
# sa.pub), and another key Google would not know
for k in sa wrong; do
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/$k.pem" \
    2>>"$work/openssl.log" || fail "openssl genpkey: $(cat "$work/openssl.log")"
done
openssl pkey -in "$work/sa.pem" -pubout -out "$work/sa.pub" 2>>"$work/openssl.log" ||
  fail "openssl pkey: $(cat "$work/openssl.log")"
start_providers

export SWITCHBOARD_DISPATCH_TIMEOUT_MS=5000 # a loaded machine answers slowly
export SWITCHBOARD_DISPATCH_LEASE_MS=15000
export SWITCHBOARD_WEBHOOKS_PUBLIC_URL=https://sb.example
start_up --processors none

# seal TENANT SUBJECT TYPE FIELD VALUE: the envelope, as ingest would make it
seal() {
  printf '%s\t%s\t%s\n' "$3" "$4" "$5" |
    "$SEAL" "$db" "$dd/tenant.keys" "$1" "$2" || fail "sbt_seal"
}
sec() { seal t1 "provider:$1" provider.configured secret "$2"; }
provider() { # ACCOUNT PROVIDER BASE USERNAME SECRET CHANNELS DEFAULT [FROM]
  qsu "INSERT INTO comms.providers (tenant_id, account_id, provider, base_url,
       from_address, username, secret_sealed, channels, is_default, event_id,
       configured_at) VALUES ('t1', '$1', '$2', '$3', NULLIF('${8:-}', ''),
       NULLIF('$4', ''), '$(sec "$1" "$5")', '$6', $7, 'ev-$1', now())" >/dev/null
}
provider smtp1 smtp "smtp://127.0.0.1:$sport" mailer smtp-pass '{email}' true noreply@example.com
provider tw1 twilio "$base" AC123 tw-token '{sms,whatsapp}' true +15550009999
provider wa1 whatsapp_cloud "$base" 1234567890 wa-token '{whatsapp}' false
provider sl1 slack "$base" '' xoxb-test '{slack}' true
provider slw slack "$base" '' "$base/services/T000/B000/XXXX" '{}' false
provider fcm1 fcm "$base" proj-1 ya29.token '{push}' true
provider sg1 sendgrid "$base" '' SG.key '{}' false sender@example.com
# service_account KEYFILE EMAIL: the JSON Google's console hands out, its
# token_uri the local endpoint
service_account() {
  /usr/bin/python3 -c 'import json, sys
print(json.dumps({"type": "service_account", "project_id": "proj-2",
  "private_key_id": "kid-1", "private_key": open(sys.argv[1]).read(),
  "client_email": sys.argv[2], "token_uri": sys.argv[3]}).replace("\\n", "\\u000a"))' \
    "$1" "$2" "$base/token" # (sbt_seal reads \n as a line break)
}
provider fcm-sa fcm "$base" proj-2 "$(service_account "$work/sa.pem" sa@proj.iam.gserviceaccount.com)" '{}' false
provider fcm-short fcm "$base" proj-2 "$(service_account "$work/sa.pem" short@proj.iam.gserviceaccount.com)" '{}' false
provider fcm-wrong fcm "$base" proj-2 "$(service_account "$work/wrong.pem" sa@proj.iam.gserviceaccount.com)" '{}' false
provider fcm-nokey fcm "$base" proj-2 '{"type": "service_account", "client_email": "x@proj.iam.gserviceaccount.com"}' '{}' false
qsu "INSERT INTO comms.templates (tenant_id, template_id, version, channel,
     locale, subject_template, body_template, max_length, published_at, event_id) VALUES
   ('t1', 'welcome', 1, 'email', 'en', 'Welcome {{lead.first_name}}',
    E'Hello {{ lead.first_name }},\nyour code is {{code}}.', 100000, now(), 'ev-t1'),
   ('t1', 'hi', 1, 'sms', 'en', NULL, 'Hi {{lead.first_name}}', 1600, now(), 'ev-t2'),
   ('t1', 'short', 1, 'sms', 'en', NULL, '{{lead.first_name}} and more', 5, now(), 'ev-t3')" \
  >/dev/null

# msg ID CHANNEL TO [ACCOUNT TEMPLATE VARS BODY SUBJECT NOT_BEFORE]: a row
# for comms.outbox, written by send_msgs: its values sealed in one sbt_seal
# run (lead-1's key, as ingest seals message.requested), one INSERT
msg() {
  local IFS=$'\x1f'
  echo "$*" >>"$work/msgs"
}
send_msgs() {
  /usr/bin/python3 - "$work/msgs" "$SEAL" "$db" "$dd/tenant.keys" <<'PY' |
import subprocess, sys
rows = [l.rstrip("\n").split("\x1f") for l in open(sys.argv[1])]
rows = [r + [""] * (9 - len(r)) for r in rows]
fields = [(2, "to_address"), (6, "body"), (7, "subject_line"),
          (5, "template_variables_json")]
want = [(i, k, f) for i, r in enumerate(rows) for k, f in fields if r[k]]
inp = "".join("message.requested\t%s\t%s\n" % (f, rows[i][k].replace("\n", "\\n"))
              for i, k, f in want)
out = subprocess.run([sys.argv[2], sys.argv[3], sys.argv[4], "t1", "lead-1"],
                     input=inp, capture_output=True, text=True, check=True)
sealed = dict(zip([(i, k) for i, k, _ in want], out.stdout.split("\n")))
def lit(v): return "NULL" if v is None or v == "" else "'" + v.replace("'", "''") + "'"
# the comms processor writes the account it resolved (the tenant's default
# for the channel when the request names none): as it would
default = {"email": "smtp1", "sms": "tw1", "whatsapp": "tw1", "slack": "sl1", "push": "fcm1"}
for r in rows:
    r[3] = r[3] or default[r[1]]
for i, r in enumerate(rows):
    sv = lambda k: sealed.get((i, k))
    print("INSERT INTO comms.outbox (tenant_id, message_id, channel, account_id,"
          " to_sealed, subject_sealed, body_sealed, template_id, template_version,"
          " variables_sealed, request_event_id, lead_id, not_before, created_at) VALUES"
          " ('t1', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'lead-1', %s, now());" % (
              lit(r[0]), lit(r[1]), lit(r[3]), lit(sv(2)), lit(sv(7)), lit(sv(6)),
              lit(r[4]), "'1'" if r[4] else "NULL", lit(sv(5)), lit("req-" + r[0]),
              r[8] or "now()"))
PY
    psql "$(su_url)" -XAtq -v ON_ERROR_STOP=1 >/dev/null || fail "outbox rows"
  rm -f "$work/msgs"
}
ann='{"lead.first_name": "Ann", "code": 4321}'
msg m-email email ann@example.com '' welcome "$ann"
msg m-bounce email bounce@example.com '' '' '' 'body' 'subject'
msg m-sg email bob@example.com sg1 welcome "$ann"
msg m-sms sms +15550000001 '' hi '{"lead": {"first_name": "Ann"}}'
msg m-sms400 sms +15550000400 '' '' '' 'hi'
msg m-sms429 sms +15550000429 '' '' '' 'hi'
msg m-hang sms +15550000504 '' '' '' 'hi'
msg m-watw whatsapp +15550000001 '' '' '' 'hello on whatsapp'
msg m-wa whatsapp +15550000002 wa1 '' '' 'hello cloud'
msg m-wa400 whatsapp +15550000400 wa1 '' '' 'hello cloud'
msg m-slack slack '#general' '' '' '' 'deploy done'
msg m-nope slack '#nope' '' '' '' 'lost'
msg m-hook slack 'ignored' slw '' '' 'hook text'
msg m-push push tok-ok '' '' '' 'you have mail' 'Hi'
msg m-gone push tok-gone '' '' '' 'you have mail' 'Hi'
msg m-sa1 push tok-sa1 fcm-sa '' '' 'sa 1'
msg m-short1 push tok-short1 fcm-short '' '' 'short 1'
msg m-wrong push tok-wrong fcm-wrong '' '' 'never'
msg m-nokey push tok-nokey fcm-nokey '' '' 'never'
msg m-missing sms +15550000001 '' hi '{}'
msg m-long sms +15550000001 '' short "$ann"
msg m-noacct sms +15550000001 nope '' '' 'hi'
msg m-later sms +15550000001 '' '' '' 'later' '' "now() + interval '1 hour'"
send_msgs

settled() {
  [ "$(q "SELECT count(*) FROM comms.outbox WHERE state NOT IN ('sent',
          'failed') AND message_id <> 'm-later'")" = 0 ]
}
for _ in $(seq 1 300); do settled && break; sleep 0.2; done
settled || fail "not settled in 60 s: $(q "SELECT message_id, state, attempts,
  last_error FROM comms.outbox WHERE state NOT IN ('sent', 'failed')")"

state() { q "SELECT state || '|' || attempts FROM comms.outbox WHERE message_id = '$1'"; }
lasterr() { q "SELECT coalesce(last_error, '') FROM comms.outbox WHERE message_id = '$1'"; }
pmid() { q "SELECT coalesce(provider_message_id, '') FROM comms.outbox WHERE message_id = '$1'"; }
for m in m-email m-sg m-sms m-watw m-wa m-slack m-hook m-push m-sa1; do
  [ "$(state $m)" = "sent|1" ] || fail "$m: $(state $m) $(lasterr $m)"
done
# (a short-lived token may have run out on the way: retried with another)
[ "$(state m-short1 | cut -d'|' -f1)" = sent ] || fail "m-short1: $(state m-short1) $(lasterr m-short1)"
for m in m-sms429 m-hang; do # retried once, then sent
  [ "$(state $m)" = "sent|2" ] || fail "$m: $(state $m) $(lasterr $m)"
done
for m in m-bounce m-sms400 m-wa400 m-nope m-gone m-missing m-long m-noacct m-wrong m-nokey; do
  [ "$(state $m | cut -d'|' -f1)" = failed ] || fail "$m: $(state $m)"
done
[ "$(state m-later)" = "pending|0" ] || fail "m-later: $(state m-later)"
[ "$(pmid m-email)" = "m-email@switchboard" ] || fail "m-email id $(pmid m-email)"
pmid m-sms | grep -q '^SM' || fail "m-sms: no Twilio sid"
pmid m-wa | grep -q '^wamid\.' || fail "m-wa: no wamid"
pmid m-push | grep -q '^projects/proj-1/messages/' || fail "m-push: no FCM name"
pmid m-sg | grep -q '^sg-' || fail "m-sg: no X-Message-Id"
lasterr m-sms400 | grep -q '^21211 400' || fail "m-sms400: $(lasterr m-sms400)"
lasterr m-wa400 | grep -q '^131030 400' || fail "m-wa400: $(lasterr m-wa400)"
lasterr m-nope | grep -q '^channel_not_found' || fail "m-nope: $(lasterr m-nope)"
lasterr m-gone | grep -q '^UNREGISTERED 404' || fail "m-gone: $(lasterr m-gone)"
lasterr m-bounce | grep -q '^550' || fail "m-bounce: $(lasterr m-bounce)"
lasterr m-missing | grep -q '^template_variable_missing: variable lead.first_name' ||
  fail "m-missing: $(lasterr m-missing)"
lasterr m-long | grep -q '^too_long' || fail "m-long: $(lasterr m-long)"
lasterr m-noacct | grep -q '^no_provider' || fail "m-noacct: $(lasterr m-noacct)"
# the token endpoint refused the JWT signed with a key it does not know
lasterr m-wrong | grep -q '^invalid_grant 400: FCM access token refused (HTTP 400): Invalid JWT Signature' ||
  fail "m-wrong: $(lasterr m-wrong)"
lasterr m-nokey | grep -q '^no_provider: the FCM account.s service-account JSON lacks client_email or private_key' ||
  fail "m-nokey: $(lasterr m-nokey)"

# the dispatcher's metrics on up's /metrics: per provider and outcome, a
# fixed label set (no tenant, account, recipient or secret)
[ -n "$url" ] || fail "up serves no HTTP API"
curl -sf "$url/metrics" >"$work/metrics" || fail "GET /metrics"
metric() { # NAME{LABELS}: its value
  awk -v k="$1" '$1 == k { print $2 }' "$work/metrics"
}
for want in "twilio sent 4" "twilio failed 1" "twilio blocked 2" "fcm sent 3" \
  "fcm failed 2" "fcm blocked 1" "none blocked 1" "slack sent 2" "slack failed 1" \
  "smtp sent 1" "smtp failed 1" "sendgrid sent 1" "whatsapp_cloud sent 1" \
  "whatsapp_cloud failed 1" "fcm circuit_open 0"; do
  set -- $want
  got=$(metric "switchboard_dispatch_messages_total{provider=\"$1\",outcome=\"$2\"}")
  [ "$got" = "$3" ] || fail "metric $1 $2: '$got', want $3"
done
[ "$(metric 'switchboard_dispatch_messages_total{provider="twilio",outcome="retried"}')" -ge 2 ] ||
  fail "twilio's retries (the 429 and the hang): $(grep retried "$work/metrics")"
[ "$(metric switchboard_dispatch_claimed_total)" -ge 24 ] || fail "claimed: $(metric switchboard_dispatch_claimed_total)"
[ "$(metric 'switchboard_dispatch_circuits_open{provider="twilio"}')" = 0 ] || fail "a twilio breaker open"
[ "$(grep -c "^switchboard_dispatch_" "$work/metrics")" = 55 ] ||
  fail "the dispatcher's series are not the fixed set: $(grep '^switchboard_dispatch_' "$work/metrics")"
grep -q -e t1 -e tw1 -e fcm-sa -e tw-token -e 'ya29' -e 15550000 "$work/metrics" &&
  fail "the metrics name a tenant, an account, a secret or a recipient"

# what the providers received
/usr/bin/python3 - "$work/requests.jsonl" <<'PY' || fail "provider requests"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
def by(to): return [r for r in reqs if r.get("to") == to]
def one(to):
    rs = by(to)
    assert len(rs) == 1, (to, len(rs))
    return rs[0]
mail = one("ann@example.com")
assert mail["tls"] and mail["authenticated"] and mail["auth_user"] == "mailer", mail
d = mail["data"]
for want in ("Subject: Welcome Ann", "Hello Ann,\r\nyour code is 4321.",
             "Message-ID: <m-email@switchboard>", "From: noreply@example.com"):
    assert want in d, (want, d)
assert not by("bounce@example.com"), "550 recipient delivered"
sms = one("+15550000001")
assert sms["form"]["Body"] == "Hi Ann" and sms["form"]["From"] == "+15550009999", sms
assert sms["form"]["StatusCallback"] == \
    "https://sb.example/v1/webhooks/twilio/t1/tw1/status?m=m-sms", sms
assert len(by("+15550000429")) == 2 and len(by("+15550000504")) == 2
wa = one("whatsapp:+15550000001")
assert wa["form"]["From"] == "whatsapp:+15550009999", wa
cloud = one("15550000002")
assert cloud["json"]["text"]["body"] == "hello cloud", cloud
assert cloud["json"]["biz_opaque_callback_data"] == "m-wa", cloud
assert one("#general")["json"]["text"] == "deploy done"
assert one("webhook")["json"] == {"text": "hook text"}
push = one("tok-ok")["json"]["message"]
assert push["notification"] == {"title": "Hi", "body": "you have mail"}, push
assert push["data"]["sb_message_id"] == "m-push"
sg = one("bob@example.com")["json"]
assert sg["personalizations"][0]["custom_args"]["sb_message_id"] == "m-sg"
assert sg["subject"] == "Welcome Ann" and sg["from"]["email"] == "sender@example.com"
PY

# the outcomes as events: ids derived, so exactly these
kcat -C -b "$kafka" -t sb.messages -o beginning -e -q -J \
  >"$work/messages.raw" 2>"$work/kcat.err" || fail "kcat: $(cat "$work/kcat.err")"
/usr/bin/python3 - "$work/messages.raw" <<'PY' || fail "events"
import collections, json, sys
recs = [json.loads(l) for l in open(sys.argv[1], errors="replace") if l.strip()]
def typ(r): return dict(zip(r["headers"][::2], r["headers"][1::2]))["ce_type"]
c = collections.Counter(typ(r) for r in recs)
assert c["message.submitted"] == 12 and c["message.status_updated"] == 18 \
    and c["message.blocked"] == 4, c
def of(key, t): return [r["payload"] for r in recs if r["key"] == key and typ(r) == t]
assert "UNREGISTERED" in of("t1:m-gone", "message.status_updated")[0]
assert len(of("t1:m-long", "message.blocked")) == 1 # its reason (v2: an enum) is in last_error
assert "21211" in of("t1:m-sms400", "message.status_updated")[0]
PY
for s in tw-token smtp-pass xoxb-test wa-token SG.key ya29 XXXX 15550000400 ann@example \
  'PRIVATE KEY' "$(sed -n 2p "$work/sa.pem")" kid-1; do
  grep -aq -- "$s" "$work/messages.raw" && fail "an event holds $s"
  grep -q -- "$s" "$work/up.err" && fail "up's log holds $s"
done

# Slack's pace, alone (a provider busy with other requests would blur its
# clock): three messages to one channel a second apart at least
for i in 1 2 3; do msg "m-pace$i" slack '#pace' '' '' '' "pace $i"; done
send_msgs
paced() { [ "$(q "SELECT count(*) FROM comms.outbox WHERE message_id LIKE 'm-pace%'
                  AND state = 'sent'")" = 3 ]; }
for _ in $(seq 1 150); do paced && break; sleep 0.2; done
paced || fail "the paced messages were not sent"
/usr/bin/python3 - "$work/requests.jsonl" <<'PY' || fail "Slack's pace"
import json, sys
pace = sorted(r["at"] for r in map(json.loads, open(sys.argv[1])) if r.get("to") == "#pace")
assert len(pace) == 3 and all(b - a >= 0.9 for a, b in zip(pace, pace[1:])), pace
PY

# FCM's access tokens: kept for their life (one exchange for fcm-sa's two
# messages), fetched again once one runs short (fcm-short's live 3 s,
# fetched again after 1.5 s; an FCM 401 drops the token and retries)
msg m-sa2 push tok-sa2 fcm-sa '' '' 'sa 2'
msg m-short2 push tok-short2 fcm-short '' '' 'short 2'
send_msgs
fcm2() { [ "$(q "SELECT count(*) FROM comms.outbox WHERE message_id IN ('m-sa2', 'm-short2')
                 AND state = 'sent'")" = 2 ]; }
for _ in $(seq 1 150); do fcm2 && break; sleep 0.2; done
fcm2 || fail "m-sa2, m-short2: $(state m-sa2) $(lasterr m-sa2), $(state m-short2) $(lasterr m-short2)"
/usr/bin/python3 - "$work/requests.jsonl" <<'PY' || fail "FCM's access tokens"
import collections, json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
tokens = collections.Counter(r["iss"] for r in reqs if r.get("to") == "token")
assert tokens["sa@proj.iam.gserviceaccount.com"] == 1 and tokens[None] == 1 \
    and tokens["short@proj.iam.gserviceaccount.com"] >= 2, tokens  # fcm-wrong's: None
bearer = {r["to"]: r["auth"] for r in reqs if r.get("path", "").startswith("/v1/projects/")}
assert "tok-wrong" not in bearer and "tok-nokey" not in bearer, bearer
assert bearer["tok-sa1"] == bearer["tok-sa2"] and bearer["tok-sa1"].startswith("Bearer ya29.sa-")
assert bearer["tok-short1"] != bearer["tok-short2"], bearer
PY

# switchboard dispatch beside up's dispatcher: each message sent once
for i in $(seq 10 29); do msg "m-bulk$i" sms "+155500010$i" '' '' '' "bulk $i"; done
send_msgs
"$SB" dispatch --data-dir "$dd" --progress-ms 500 >"$work/dispatch.out" \
  2>"$work/dispatch.err" &
dpid=$!
bulk() { q "SELECT count(*) FROM comms.outbox WHERE message_id LIKE 'm-bulk%' AND state = 'sent'"; }
for _ in $(seq 1 150); do [ "$(bulk)" = 20 ] && break; sleep 0.2; done
[ "$(bulk)" = 20 ] || fail "bulk: $(bulk) of 20 sent"
kill -TERM "$dpid"
rc=0
wait "$dpid" || rc=$?
dpid=
[ "$rc" = 0 ] || fail "dispatch exited $rc: $(cat "$work/dispatch.err")"
grep -q '^dispatch stopped: claimed ' "$work/dispatch.out" || fail "no final line"
/usr/bin/python3 - "$work/requests.jsonl" <<'PY' || fail "bulk sent twice"
import json, sys, collections
c = collections.Counter(json.loads(l).get("to") for l in open(sys.argv[1]))
bad = {k: v for k, v in c.items() if k and k.startswith("+155500010") and v != 1}
assert not bad and sum(1 for k in c if k and k.startswith("+155500010")) == 20, bad
PY
stop_up
echo "dispatch: ok"
