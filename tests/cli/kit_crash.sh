#!/usr/bin/env bash
# Crash test of one pipeline running three processors through SIGKILLs:
# `run --processors audit,kittest,gdpr` (tests/kit/kittest.c uses every part of
# the processor kit: appended and upserted rows, keyed state, event-time
# timers, typed emit of derived events that it and the audit log read
# back). 8,000 events are imported in 8 chunks fed slowly; during the first
# 7 the worker is SIGKILLed at random moments (at least 3 times) and
# restarted at once. Then:
#  - the audit log holds every event exactly once, the derived lead.scored
#    included (no copy of an emitting batch that did not commit), and
#    audit verify passes;
#  - kittest's log holds every sb.leads event exactly once, as many as the
#    audit log holds for sb.leads;
#  - its keyed state was neither lost nor counted twice: for every lead the
#    count kept in state equals the lead.created counted in rows;
#  - derived effects once: lead.scored in the log = lead.created + timers
#    fired, and kittest counted each lead.scored it read once;
#  - gdpr (keyed state merging two events per request): one row per data
#    subject request of the log, with both its receipt and its completion
#    where the log has them (state lost would leave one of them NULL);
#  - the processors' offsets are at the end of every partition.
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=audit,kittest,gdpr CHUNKS=8 PER_CHUNK=1000 MIN_KILLS=3 MAX_KILLS=5
KILL_SECONDS=120 GEN_PREFIX=KTCR GEN_TENANTS=acme,globex,initech
TOTAL=$((CHUNKS * PER_CHUNK))
crash_status() {
  echo "$(q 'SELECT count(*) FROM audit.events') audit rows, $(q 'SELECT count(*) FROM kittest.log') kittest rows"
}

start_up --processors none --partitions 4
crash_run

# ---- the surviving worker finishes: the log stops growing ---------------------
created=$(gen -n "$TOTAL" -p KTCR -t acme,globex,initech | grep -c '"type":"lead.created"')
crash_settle 'SELECT (SELECT count(*) FROM audit.events) + (SELECT count(*) FROM kittest.log)' \
  'SELECT count(*) FROM audit.events' $((accepted + created))

# ---- the audit log: every event once, derived ones included -----------------
[ "$(q 'SELECT count(*) - count(DISTINCT event_id) FROM audit.events')" = 0 ] ||
  fail "audit: duplicates: $(q 'SELECT string_agg(event_type || $$ $$ || event_id, $$, $$) FROM (SELECT event_type, event_id FROM audit.events GROUP BY 1, 2 HAVING count(*) > 1 LIMIT 5) x')"
gen -n "$TOTAL" -p KTCR -t acme,globex,initech | sed -n 's/.*"id":"\([0-9A-Z]\{26\}\)".*/\1/p' | sort >"$work/ids.want"
q "SELECT event_id FROM audit.events WHERE event_type <> 'lead.scored' ORDER BY 1" >"$work/ids.db"
cmp -s "$work/ids.want" "$work/ids.db" || fail "audit.events does not hold exactly the imported ids"
[ "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'lead.created'")" = "$created" ] ||
  fail "audit: $(q "SELECT count(*) FROM audit.events WHERE event_type = 'lead.created'") lead.created, want $created"
"$SB" audit verify --data-dir "$dd" >"$work/verify.out" 2>&1 || fail "audit verify: $(cat "$work/verify.out")"

# ---- kittest: rows, state, derived effects, each once ------------------------
[ "$(q 'SELECT count(*) - count(DISTINCT event_id) FROM kittest.log')" = 0 ] ||
  fail "kittest.log holds duplicates"
[ "$(q "SELECT count(*) FROM kittest.log")" = "$(q "SELECT count(*) FROM audit.events WHERE topic = 'sb.leads'")" ] ||
  fail "kittest.log holds $(q 'SELECT count(*) FROM kittest.log') events, the audit log $(q "SELECT count(*) FROM audit.events WHERE topic = 'sb.leads'") of sb.leads"
[ "$(q 'SELECT sum(created) FROM kittest.leads')" = "$created" ] ||
  fail "kittest counted $(q 'SELECT sum(created) FROM kittest.leads') lead.created, want $created"
[ "$(q 'SELECT count(*) FROM kittest.leads WHERE created <> created_state')" = 0 ] ||
  fail "keyed state differs from the rows: $(q 'SELECT string_agg(lead_id || $$ $$ || created || $$/$$ || created_state, $$, $$) FROM kittest.leads WHERE created <> created_state')"
scored=$(q "SELECT count(*) FROM audit.events WHERE event_type = 'lead.scored'")
expired=$(q 'SELECT sum(expired) FROM kittest.leads')
[ "$scored" -eq $((created + expired)) ] ||
  fail "derived effects: $scored lead.scored in the log, want $created created + $expired timers fired"
[ "$(q 'SELECT sum(scored) FROM kittest.leads')" = "$scored" ] ||
  fail "kittest counted $(q 'SELECT sum(scored) FROM kittest.leads') lead.scored, the log holds $scored"
[ "$expired" -gt 0 ] || fail "no timer fired"

offsets_at_end switchboard.audit 4 sb.leads sb.calls sb.agents sb.messages \
  sb.campaigns sb.compliance sb.gamification
offsets_at_end switchboard.kittest 4 sb.leads
offsets_at_end switchboard.gdpr 4 sb.compliance

# ---- gdpr: each request once, receipt and completion merged ------------------
reqs() { gen -n "$TOTAL" -p KTCR -t acme,globex,initech | grep "\"type\":\"$1\"" |
  sed 's/.*"tenantid":"\([a-z]*\)".*"request_id":"\([^"]*\)".*/\1 \2/' | sort -u; }
reqs 'dsar\.[a-z]*' >"$work/req.all"
reqs 'dsar\.received' >"$work/req.received"
reqs 'dsar\.completed' >"$work/req.completed"
q "SELECT tenant_id || ' ' || request_id FROM gdpr.requests ORDER BY 1" | LC_ALL=C sort >"$work/req.db"
LC_ALL=C sort -o "$work/req.all" "$work/req.all"
[ -s "$work/req.all" ] || fail "the generator made no data subject requests"
cmp -s "$work/req.all" "$work/req.db" ||
  fail "gdpr.requests holds $(wc -l <"$work/req.db") requests, the log $(wc -l <"$work/req.all")"
[ "$(q 'SELECT count(*) FROM gdpr.requests WHERE received_at IS NOT NULL')" = "$(wc -l <"$work/req.received")" ] ||
  fail "gdpr: $(q 'SELECT count(*) FROM gdpr.requests WHERE received_at IS NOT NULL') requests with their receipt, want $(wc -l <"$work/req.received")"
[ "$(q 'SELECT count(*) FROM gdpr.requests WHERE completed_at IS NOT NULL')" = "$(wc -l <"$work/req.completed")" ] ||
  fail "gdpr: $(q 'SELECT count(*) FROM gdpr.requests WHERE completed_at IS NOT NULL') requests with their completion, want $(wc -l <"$work/req.completed")"


crash_stop
kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "kit_crash: $kills kills, $accepted events, $scored derived ($expired from timers), each once, $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "kit_crash: all checks passed"
