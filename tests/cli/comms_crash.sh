#!/usr/bin/env bash
# Crash test of the comms processor through SIGKILLs: `run --processors
# comms` while 2,400 events (per tenant: a provider account, consents, and
# message requests, some of them retried under another event id) are
# imported in 4 chunks; the worker is SIGKILLed at random moments (2 or 3
# times) and restarted at once. Then, whatever each decision was (the
# global tables fold between batches, so a request may meet its account
# and consent or not yet):
#  - every message requested is decided once: one row in comms.messages,
#    queued or blocked, and one applied decision in message_statuses;
#  - the outbox holds exactly the queued messages, one row each;
#  - delivery_daily counts each message once: requested = the messages,
#    queued + blocked = requested, by outcome as comms.messages says;
#  - the offsets are at the end of every partition.
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=comms CHUNKS=4 PER_CHUNK=600 MIN_KILLS=2 MAX_KILLS=3
KILL_SECONDS=90 GEN_PREFIX=CMCR GEN_TENANTS=acme,globex
TOTAL=$((CHUNKS * PER_CHUNK))

# the events (crash_lib's chunks call gen with the generator's options):
# event i of tenant i % 2, its j = i / 2: j 0 the tenant's account, j % 5
# == 1 a consent for lead-(j / 5 % 8), else a request to lead-(j % 10)
# (lead-8 and lead-9 never consent; quiet hours block some); every
# 7th request repeats the one 14 events before (same message id, another
# event id)
cat >"$work/gen.py" <<'PYEOF'
import getopt, json, sys
o = dict(getopt.getopt(sys.argv[1:], "n:p:t:s:d:o:")[0])
n, prefix, tenants = int(o.get("-n", 1000)), o.get("-p", "CMCR"), o.get("-t", "acme").split(",")
start, step, first = int(o.get("-s", 1769299200)), int(o.get("-d", 60)), int(o.get("-o", 0))
for i in range(first, first + n):
    t, j = tenants[i % len(tenants)], i // len(tenants)
    ts = start + i * step
    time = "%sZ" % __import__("datetime").datetime.utcfromtimestamp(ts).isoformat()
    lead = "lead-%d" % (j % 10)
    if j == 0:
        typ, subj, data = "provider.configured", "tw", {"account_id": "tw", "provider": "twilio",
            "secret": "token-%s" % t, "channels": ["sms"], "default": True}
    elif j % 5 == 1:
        lead = "lead-%d" % (j // 5 % 8)
        typ, subj, data = "consent.given", lead, {"subject_id": lead, "purpose": "marketing",
            "channel": "sms", "method": "web_form", "consent_text_version": "v1"}
    else:
        m = i - 14 if j % 7 == 0 and j > 7 and (j - 7) % 5 != 1 else i
        typ, subj, data = "message.requested", "msg-%d" % m, {"message_id": "msg-%d" % m,
            "channel": "sms", "to_address": "+1415555%04d" % (j % 10), "lead_id": lead, "body": "hi %d" % m}
    print(json.dumps({"specversion": "1.0", "id": "01%s%020d" % (prefix, i), "type": typ,
        "source": "/tests/comms", "subject": subj, "time": time, "tenantid": t, "data": data},
        separators=(",", ":")))
PYEOF
gen() { /usr/bin/python3 "$work/gen.py" "$@"; }
crash_status() {
  echo "$(q 'SELECT count(*) FROM comms.messages') messages, $(q 'SELECT count(*) FROM comms.outbox') outbox rows"
}

export SWITCHBOARD_DISPATCH_ENABLED=false # the outbox is checked as the processor left it
start_up --processors none --partitions 4
crash_run

# ---- the messages the log asks for ---------------------------------------------
gen -n "$TOTAL" -p CMCR -t "$GEN_TENANTS" -o 0 | grep '"type":"message.requested"' |
  sed 's/.*"subject":"\([^"]*\)".*"tenantid":"\([a-z]*\)".*/\2 \1/' | LC_ALL=C sort -u >"$work/msgs.want"
want=$(wc -l <"$work/msgs.want")
[ "$want" -gt 1000 ] || fail "the generator made $want messages"
crash_settle 'SELECT count(*) FROM comms.message_statuses' \
  "SELECT count(*) FROM comms.messages WHERE status <> 'requested'" "$want"

q "SELECT tenant_id || ' ' || message_id FROM comms.messages" | LC_ALL=C sort >"$work/msgs.db"
cmp -s "$work/msgs.want" "$work/msgs.db" ||
  fail "comms.messages holds $(wc -l <"$work/msgs.db") messages, the log $want: $(diff "$work/msgs.want" "$work/msgs.db" | head -5)"
[ "$(q "SELECT count(*) FROM comms.messages WHERE status NOT IN ('queued', 'blocked')")" = 0 ] ||
  fail "undecided: $(q "SELECT string_agg(message_id || ' ' || status, ', ') FROM comms.messages WHERE status NOT IN ('queued', 'blocked')")"
[ "$(q "SELECT count(*) FROM (SELECT tenant_id, message_id FROM comms.message_statuses WHERE applied GROUP BY 1, 2 HAVING count(*) <> 1) x")" = 0 ] ||
  fail "a message with other than one applied decision"
# the outbox: exactly the queued messages
q "SELECT tenant_id || ' ' || message_id FROM comms.messages WHERE status = 'queued'" | LC_ALL=C sort >"$work/queued"
q "SELECT tenant_id || ' ' || message_id FROM comms.outbox" | LC_ALL=C sort >"$work/outbox"
cmp -s "$work/queued" "$work/outbox" ||
  fail "outbox ($(wc -l <"$work/outbox") rows) is not the queued messages ($(wc -l <"$work/queued")): $(diff "$work/queued" "$work/outbox" | head -5)"
queued=$(wc -l <"$work/queued")
[ "$queued" -gt 0 ] || fail "nothing was queued"
# the statistics: each message once
got=$(q "SELECT sum(requested) || ' ' || sum(queued) || ' ' || sum(blocked) FROM comms.delivery_daily")
[ "$got" = "$want $queued $((want - queued))" ] ||
  fail "delivery_daily: requested queued blocked $got, want $want $queued $((want - queued))"
offsets_at_end switchboard.comms 4 sb.messages sb.tenants
reasons=$(q "SELECT string_agg(blocked_reason || ' ' || n, ', ') FROM (SELECT blocked_reason, count(*) n FROM comms.messages WHERE status = 'blocked' GROUP BY 1 ORDER BY 1) x")

crash_stop
stop_up
echo "comms_crash: $kills kills, $accepted events, $want messages ($queued queued; blocked: $reasons), each decided once, $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
