#!/usr/bin/env bash
# Crash test of the campaigns processor: `run --processors audit,campaigns`
# SIGKILLed at random moments while campaigns, leads (phones sealed by the
# import, phone_tz derived from them) and call dispositions
# (tests/cli/gen_campaigns.sh) are imported in chunks. All times are in the
# past, so every wall-clock timer (campaign starts, windows opening,
# retries) is due as soon as it is set. Then:
#  - the log holds every event once, derived ones included: one
#    lead.attempt_recorded per disposition, one campaign.state_changed per
#    campaign (scheduled -> active), lead.recycled each once;
#  - keyed state neither lost nor counted twice: each lead's attempts equal
#    the dispositions the log holds for it, and the recycles the projection
#    counts equal the lead.recycled in the log;
#  - every timer fired: no lead left held or waiting, every campaign active;
#  - each lead's zone is its own time_zone, else its phone's area's;
#  - the offsets are at the end and audit verify passes.
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=audit,campaigns CHUNKS=4 PER_CHUNK=400 MIN_KILLS=2 MAX_KILLS=4
KILL_SECONDS=120 GEN_PREFIX=CMCR GEN_TENANTS=acme,globex
TOTAL=$((CHUNKS * PER_CHUNK))
gen() { bash "$(dirname "${BASH_SOURCE[0]}")/gen_campaigns.sh" "$@"; }
crash_status() {
  echo "$(q 'SELECT coalesce(sum(attempts), 0) FROM campaigns.lead_attempts') attempts, $(q 'SELECT coalesce(sum(recycles), 0) FROM campaigns.lead_attempts') recycles"
}

start_up --processors none --partitions 4
crash_run

all=$(gen -n "$TOTAL" -p CMCR -t acme,globex -s 1769299200 -d 60)
disps=$(grep -c '"type":"call.dispositioned"' <<<"$all")
camps=$(grep -c '"type":"campaign.created"' <<<"$all")

# ---- the surviving worker finishes: decisions read back, timers fired ---------
crash_settle "SELECT (SELECT count(*) FROM audit.events) + (SELECT coalesce(sum(attempts + recycles), 0) FROM campaigns.lead_attempts)" \
  'SELECT count(*) FROM audit.events' $((accepted + disps + camps))

# ---- the log: every event once, each decision once ----------------------------
[ "$(q 'SELECT count(*) - count(DISTINCT event_id) FROM audit.events')" = 0 ] ||
  fail "audit: duplicates: $(q 'SELECT string_agg(event_type || $$ $$ || event_id, $$, $$) FROM (SELECT event_type, event_id FROM audit.events GROUP BY 1, 2 HAVING count(*) > 1 LIMIT 5) x')"
[ "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'lead.attempt_recorded'")" = "$disps" ] ||
  fail "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'lead.attempt_recorded'") lead.attempt_recorded in the log, want $disps"
[ "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'campaign.state_changed'")" = "$camps" ] ||
  fail "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'campaign.state_changed'") campaign.state_changed in the log, want $camps"
recycled=$(q "SELECT count(*) FROM audit.events WHERE event_type = 'lead.recycled'")
[ "$recycled" -gt 0 ] || fail "no lead was recycled"
"$SB" audit verify --data-dir "$dd" >"$work/verify.out" 2>&1 || fail "audit verify: $(cat "$work/verify.out")"

# ---- the projection ----------------------------------------------------------
sed -n 's/.*"type":"call.dispositioned".*"tenantid":"\([a-z]*\)".*"lead_id":"\([^"]*\)".*/\1 \2/p' <<<"$all" |
  LC_ALL=C sort | uniq -c | awk '{print $2, $3, $1}' >"$work/attempts.want"
q "SELECT tenant_id || ' ' || lead_id || ' ' || attempts FROM campaigns.lead_attempts WHERE attempts > 0" |
  LC_ALL=C sort >"$work/attempts.db"
[ -s "$work/attempts.want" ] || fail "the generator made no dispositions"
cmp -s "$work/attempts.want" "$work/attempts.db" ||
  fail "attempts per lead differ from the log: $(diff "$work/attempts.want" "$work/attempts.db" | head -4)"
[ "$(q 'SELECT sum(recycles) FROM campaigns.lead_attempts')" = "$recycled" ] ||
  fail "the projection counts $(q 'SELECT sum(recycles) FROM campaigns.lead_attempts') recycles, the log holds $recycled lead.recycled"
[ "$(q "SELECT count(*) FROM campaigns.lead_attempts WHERE status IN ('held', 'waiting')")" = 0 ] ||
  fail "timers not fired: $(q "SELECT string_agg(lead_id || ' ' || status || ' ' || next_attempt_at, ', ') FROM campaigns.lead_attempts WHERE status IN ('held', 'waiting')")"
[ "$(q "SELECT count(*) FROM campaigns.schedule WHERE state = 'active'")" = "$camps" ] ||
  fail "campaigns not active: $(q "SELECT string_agg(campaign_id || ' ' || state, ', ') FROM campaigns.schedule")"
wrong=$(q "SELECT string_agg(lead_id || ' ' || zone || ' ' || zone_source, ', ') FROM campaigns.lead_attempts
  WHERE (zone_source, zone) IS DISTINCT FROM (CASE substring(lead_id FROM 6)::int % 3
    WHEN 0 THEN ('lead'::text, (ARRAY['America/Chicago', 'Europe/Paris', 'Asia/Tokyo'])[substring(lead_id FROM 6)::int % 9 / 3 + 1])
    WHEN 1 THEN ('phone'::text, 'America/Los_Angeles'::text) ELSE ('phone'::text, 'Europe/London'::text) END)")
[ -z "$wrong" ] || fail "leads judged in the wrong zone: $wrong"

offsets_at_end switchboard.campaigns 4 sb.campaigns sb.leads sb.calls
offsets_at_end switchboard.audit 4 sb.campaigns sb.leads sb.calls

crash_stop
kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "campaigns_crash: $kills kills, $accepted events, $disps attempts, $recycled recycles, each once, $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "campaigns_crash: all checks passed"
