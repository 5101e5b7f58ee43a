#!/usr/bin/env bash
# The dispatcher SIGKILLed again and again while 1,000 messages go out
# (Twilio-style HTTPS stand-in, tests/cli/providers.py): in the end every
# message is sent and recorded 'sent' with a message.submitted and a
# message.status_updated; a message reaches the provider twice only when it
# was 'sending' (claimed, its outcome not committed) at a kill: the
# README's crash window, counted and printed.
#   dispatch_crash.sh SWITCHBOARD SBT_SEAL
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
SEAL=$2
N=${DISPATCH_CRASH_MESSAGES:-1000}
dpid_signal=KILL
source "$here/dispatch_lib.sh"
start_providers

export SWITCHBOARD_DISPATCH_TIMEOUT_MS=5000
export SWITCHBOARD_DISPATCH_LEASE_MS=10000
export SWITCHBOARD_DISPATCH_CONCURRENCY=16
SWITCHBOARD_DISPATCH_ENABLED=false start_up --processors none
secret=$(printf 'provider.configured\tsecret\ttw-token\n' |
  "$SEAL" "$db" "$dd/tenant.keys" t1 provider:tw1) || fail "sbt_seal"
qsu "INSERT INTO comms.providers (tenant_id, account_id, provider, base_url,
       from_address, username, secret_sealed, channels, is_default, event_id,
       configured_at)
     VALUES ('t1', 'tw1', 'twilio', 'https://127.0.0.1:$hport', '+15550009999',
       'AC123', '$secret', '{sms}', true, 'ev-tw1', now())" >/dev/null
# N messages to N recipients, sealed in one run, written in one COPY
/usr/bin/python3 - "$N" "$SEAL" "$db" "$dd/tenant.keys" >"$work/outbox.tsv" <<'PY' ||
import subprocess, sys
n = int(sys.argv[1])
inp = "".join("message.requested\tto_address\t+1555100%04d\nmessage.requested\tbody\tm %d\n"
              % (i, i) for i in range(n))
out = subprocess.run(sys.argv[2:5] + ["t1", "lead-1"], input=inp,
                     capture_output=True, text=True, check=True).stdout.split("\n")
for i in range(n):
    print("t1\tc%04d\tsms\t%s\t%s\treq-c%04d\tlead-1" % (i, out[2 * i], out[2 * i + 1], i))
PY
  fail "sealing"
psql "$(su_url)" -XAtq -v ON_ERROR_STOP=1 >/dev/null <<EOF || fail "outbox rows"
CREATE TEMP TABLE o (tenant_id text, message_id text, channel text,
  to_sealed text, body_sealed text, request_event_id text, lead_id text);
\\copy o FROM '$work/outbox.tsv'
INSERT INTO comms.outbox (tenant_id, message_id, channel, account_id, to_sealed,
  body_sealed, request_event_id, lead_id, not_before, created_at)
  SELECT tenant_id, message_id, channel, 'tw1', to_sealed, body_sealed,
    request_event_id, lead_id, now(), now() FROM o;
EOF

open_rows() { q "SELECT count(*) FROM comms.outbox WHERE state NOT IN ('sent', 'failed')"; }
kills=0
for round in $(seq 1 12); do
  [ "$(open_rows)" = 0 ] && break
  "$SB" dispatch --data-dir "$dd" --progress-ms 0 >>"$work/dispatch.out" \
    2>>"$work/dispatch.err" &
  dpid=$!
  sleep "0.$((RANDOM % 8 + 4))"
  kill -KILL "$dpid" 2>/dev/null && kills=$((kills + 1))
  wait "$dpid" 2>/dev/null || true
  dpid=
  # what the dead one held: the only messages that may go out twice
  q "SELECT message_id FROM comms.outbox WHERE state = 'sending'" >>"$work/window"
done
# the last one runs to the end and stops on SIGTERM
"$SB" dispatch --data-dir "$dd" --progress-ms 0 >>"$work/dispatch.out" \
  2>>"$work/dispatch.err" &
dpid=$!
for _ in $(seq 1 300); do [ "$(open_rows)" = 0 ] && break; sleep 0.2; done
[ "$(open_rows)" = 0 ] || fail "$(open_rows) messages not final after 60 s"
kill -TERM "$dpid"
rc=0
wait "$dpid" || rc=$?
dpid=
[ "$rc" = 0 ] || fail "the last dispatch exited $rc"
[ "$(q "SELECT count(*) FROM comms.outbox WHERE state = 'sent'")" = "$N" ] ||
  fail "not all sent: $(q "SELECT state, count(*) FROM comms.outbox GROUP BY 1")"

kcat -C -b "$kafka" -t sb.messages -o beginning -e -q -J >"$work/messages.raw" \
  2>"$work/kcat.err" || fail "kcat: $(cat "$work/kcat.err")"
/usr/bin/python3 - "$N" "$work/requests.jsonl" "$work/window" "$work/messages.raw" \
  "$kills" <<'PY' || fail "crash accounting"
import collections, json, sys
n = int(sys.argv[1])
reqs = collections.Counter(json.loads(l)["form"]["Body"] for l in open(sys.argv[2]))
window = {l.strip() for l in open(sys.argv[3]) if l.strip()}
sent = {"m %d" % i for i in range(n)}
missing = sent - set(reqs)
assert not missing, "never sent: %s" % sorted(missing)[:5]
twice = {b: c for b, c in reqs.items() if c > 1}
outside = [b for b in twice if "c%04d" % int(b[2:]) not in window]
assert not outside, "sent twice outside the window: %s" % outside[:5]
recs = [json.loads(l) for l in open(sys.argv[4], errors="replace") if l.strip()]
def typ(r): return dict(zip(r["headers"][::2], r["headers"][1::2]))["ce_type"]
sub = {r["key"] for r in recs if typ(r) == "message.submitted"}
st = {r["key"] for r in recs if typ(r) == "message.status_updated"}
want = {"t1:c%04d" % i for i in range(n)}
assert sub == want and st == want, (len(sub), len(st))
print("dispatch_crash: %d messages, %s kills, %d held at a kill, %d sent twice "
      "(all in the window), %d requests" % (n, sys.argv[5], len(window), len(twice),
                                             sum(reqs.values())))
PY
stop_up
