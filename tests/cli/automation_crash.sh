#!/usr/bin/env bash
# Crash test of the automation processor: `run --processors
# audit,automation` SIGKILLed at random moments while leads, status changes,
# updates, calls and messages (tests/cli/gen_events.sh) are imported in
# chunks, under rule sets published first for both tenants. Times are in
# the past, so the recycles' wall-clock timers are due as soon as set. Then:
#  - the log holds every event once, derived ones included, and exactly the
#    firings and actions the rules give for the imported events (counted
#    here from the generator's output): no firing lost or doubled by a
#    restart, a retried batch or a replay from the stored offsets;
#  - loop safety: the rules on lead.recycled and lead.dnc_flagged never
#    fire (only automation's own actions are such events);
#  - automation.firings holds each firing once, automation.actions each
#    action once (copies 1), and the offsets are at the end;
#  - `replay --processor automation --from earliest`, under a new rule set
#    that would fire differently, rebuilds the same projections (built
#    from the decisions in the log, not evaluated again);
#  - with routing running beside it, routing's lead.scored for automation's
#    lead.queue_set does not fire the lead.scored rule again (loop safety).
# SB_CRASH_SEED=N repeats a run's random choices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
t_start=$SECONDS
seed=${SB_CRASH_SEED:-$$}
RANDOM=$seed
CRASH_PROCESSORS=audit,automation CHUNKS=3 PER_CHUNK=400 MIN_KILLS=2
MAX_KILLS=2 KILL_SECONDS=90 GEN_PREFIX=ATCR GEN_TENANTS=acme,globex
TOTAL=$((CHUNKS * PER_CHUNK))
crash_status() {
  echo "$(q 'SELECT count(*) FROM automation.firings') firings, $(q 'SELECT coalesce(sum(copies), 0) FROM automation.actions') actions"
}

start_up --processors none --partitions 4

# ---- the rule sets, before anything else -----------------------------------
rules='{"rules": [
 {"id": "big", "when": "lead.created", "if": {"field": "estimated_value_cents", "gte": 100000},
  "then": [{"do": "queue", "queue_id": "big"}, {"do": "rescore"}, {"do": "message", "channel": "sms", "template_id": "t-big"}]},
 {"id": "contacted", "when": "lead.status_changed", "if": {"field": "status", "eq": "contacted"},
  "then": [{"do": "recycle", "delay_minutes": 0, "campaign_id": "c-r"}, {"do": "queue", "queue_id": "recycled"}]},
 {"id": "moved", "when": "lead.updated", "if": {"field": "campaign_id", "eq": "camp-1"},
  "then": [{"do": "dnc", "channel": "sms"}]},
 {"id": "loop_recycled", "when": "lead.recycled", "then": [{"do": "dnc"}]},
 {"id": "loop_dnc", "when": "lead.dnc_flagged", "then": [{"do": "message", "channel": "email", "template_id": "bye"}]}]}'
rj=$(jq -cn --arg r "$rules" '$r')
for t in acme globex; do
  n=$([ $t = acme ] && echo 1 || echo 2)
  echo "{\"specversion\":\"1.0\",\"id\":\"01ATCRR000000000000000000$n\",\"type\":\"automation.rules_published\",\"source\":\"/tests\",\"subject\":\"$t\",\"time\":\"2026-01-01T00:00:00Z\",\"tenantid\":\"$t\",\"data\":{\"rules_version\":\"v1\",\"rules_json\":$rj}}"
done | "$SB" import - --data-dir "$dd" >"$work/rules.out" 2>"$work/rules.log" ||
  fail "importing the rule sets: $(cat "$work/rules.out" "$work/rules.log")"
grep -q '^accepted: 2, rejected: 0$' "$work/rules.out" || fail "rule sets: $(cat "$work/rules.out")"

crash_run

# ---- what the rules give for the imported events -----------------------------
all=$(gen -n "$TOTAL" -p ATCR -t acme,globex -s 1769299200 -d 60)
big=$(grep '"type":"lead.created"' <<<"$all" | sed -n 's/.*"estimated_value_cents":\([0-9]*\).*/\1/p' | awk '$1 >= 100000' | wc -l)
contacted=$(grep -c '"type":"lead.status_changed".*"status":"contacted"' <<<"$all")
moved=$(grep -c '"type":"lead.updated".*"campaign_id":"camp-1"' <<<"$all")
msgs=$(grep -c '"type":"message.requested"' <<<"$all")
[ "$big" -gt 0 ] && [ "$contacted" -gt 0 ] && [ "$moved" -gt 0 ] ||
  fail "the generator gave no trigger of some rule: big $big, contacted $contacted, moved $moved"
firings=$((big + contacted + moved))
actions=$((3 * big + 2 * contacted + moved))
derived=$((firings + actions))

# ---- the surviving worker finishes: actions read back, timers fired ------------
t_wait=$SECONDS stable=0 last=-1
while [ $((SECONDS - t_wait)) -lt 90 ]; do
  kill -0 "$wpid" 2>/dev/null || fail "the last worker exited: $(tail -5 "$work/worker$nworker.log")"
  n=$(q "SELECT (SELECT count(*) FROM audit.events) + (SELECT count(*) FROM automation.firings) + (SELECT coalesce(sum(copies), 0) FROM automation.actions)" 2>/dev/null || echo 0)
  a=$(q 'SELECT count(*) FROM audit.events' 2>/dev/null || echo 0)
  if [ "$n" = "$last" ] && [ "$a" -ge $((accepted + 2 + derived)) ]; then
    stable=$((stable + 1))
    [ $stable -ge 4 ] && break
  else
    stable=0
  fi
  last=$n
  sleep 0.5
done
[ $stable -ge 4 ] || fail "the worker did not settle within 90 s: $(crash_status), $(q 'SELECT count(*) FROM audit.events') audit rows, want $((accepted + 2 + derived))"

# ---- the log: every event once, each firing and action once -------------------
[ "$(q 'SELECT count(*) - count(DISTINCT event_id) FROM audit.events')" = 0 ] ||
  fail "audit: duplicates: $(q 'SELECT string_agg(event_type || $$ $$ || event_id, $$, $$) FROM (SELECT event_type, event_id FROM audit.events GROUP BY 1, 2 HAVING count(*) > 1 LIMIT 5) x')"
count() { q "SELECT count(*) FROM audit.events WHERE event_type = '$1'"; }
want() { [ "$(count "$1")" = "$2" ] || fail "$(count "$1") $1 in the log, want $2"; }
want automation.fired "$firings"
want lead.queue_set $((big + contacted))
want lead.rescore_requested "$big"
want lead.recycled "$contacted"
want lead.dnc_flagged "$moved"
want message.requested $((msgs + big))
[ "$(q "SELECT count(*) FROM audit.events WHERE event_type = 'automation.fired' AND subject = ''")" = 0 ] ||
  fail "automation.fired without its lead"

# ---- the projections ------------------------------------------------------------
[ "$(q 'SELECT count(*) FROM automation.firings')" = "$firings" ] ||
  fail "automation.firings holds $(q 'SELECT count(*) FROM automation.firings') rows, want $firings"
[ "$(q "SELECT count(*) FROM automation.firings WHERE rule_id LIKE 'loop%'")" = 0 ] ||
  fail "a loop rule fired: $(q "SELECT string_agg(rule_id || ' ' || trigger_event_id, ', ') FROM automation.firings WHERE rule_id LIKE 'loop%'")"
for r in big:$big contacted:$contacted moved:$moved; do
  [ "$(q "SELECT count(*) FROM automation.firings WHERE rule_id = '${r%%:*}'")" = "${r#*:}" ] ||
    fail "rule ${r%%:*} fired $(q "SELECT count(*) FROM automation.firings WHERE rule_id = '${r%%:*}'") times, want ${r#*:}"
done
[ "$(q 'SELECT count(*) FROM automation.actions')" = "$actions" ] ||
  fail "automation.actions holds $(q 'SELECT count(*) FROM automation.actions') actions, want $actions"
[ "$(q 'SELECT count(*) FROM automation.actions WHERE copies <> 1')" = 0 ] ||
  fail "actions read more than once: $(q 'SELECT string_agg(event_id || $$ $$ || copies, $$, $$) FROM automation.actions WHERE copies <> 1')"

offsets_at_end switchboard.automation 4 sb.leads sb.calls sb.messages sb.tenants

# ---- a replay under another rule set builds the same projections --------------
snap() {
  q "SELECT tenant_id, rule_id, trigger_event_id, rule_index, lead_id, trigger_type,
       rules_version, fired_at, actions::text, event_id FROM automation.firings ORDER BY 1, 2, 3" >"$work/$1.firings"
  q "SELECT * FROM automation.actions ORDER BY 1, 2" >"$work/$1.actions"
}
snap live
crash_stop
# v2 would fire on every lead.created: the rebuild reads the decisions in
# the log (automation.fired and the actions), not a new evaluation
v2=$(jq -cn '{"rules": [{"id": "all", "when": "lead.created", "then": [{"do": "rescore"}]}]} | tojson')
echo "{\"specversion\":\"1.0\",\"id\":\"01ATCRR0000000000000000003\",\"type\":\"automation.rules_published\",\"source\":\"/tests\",\"subject\":\"acme\",\"time\":\"2026-01-01T00:00:01Z\",\"tenantid\":\"acme\",\"data\":{\"rules_version\":\"v2\",\"rules_json\":$v2}}" |
  "$SB" import - --data-dir "$dd" >"$work/rules2.out" 2>"$work/rules2.log" || fail "importing v2: $(cat "$work/rules2.log")"
rrc=0
timeout 120 "$SB" replay --processor automation --from earliest --data-dir "$dd" \
  >"$work/replay.out" 2>"$work/replay.err" || rrc=$?
[ $rrc -eq 0 ] || fail "replay exited $rrc: $(cat "$work/replay.out"; tail -3 "$work/replay.err")"
snap rebuilt
for t in firings actions; do
  cmp -s "$work/live.$t" "$work/rebuilt.$t" ||
    fail "the rebuilt automation.$t differs: $(diff "$work/live.$t" "$work/rebuilt.$t" | head -4)"
done
[ "$(q "SELECT count(*) FROM automation.rule_sets WHERE rules_version = 'v2'")" = 1 ] ||
  fail "the replay did not read v2"

# ---- with routing: an action's consequence triggers nothing ------------------
# initech: routing scores a lead in queue q-scored 50 more; on lead.scored
# automation sets the queue q-scored; routing's lead.scored for that
# lead.queue_set (caused by automation) must not fire the rule again
rr=$(jq -cn '{"groups": [{"name": "q"}], "rules": [{"id": "scored_queue", "group": "q", "points": 50, "when": {"field": "campaign_id", "eq": "q-scored"}}, {"id": "base", "group": "q", "points": 10}]} | tojson')
ar=$(jq -cn '{"rules": [{"id": "on_scored", "when": "lead.scored", "then": [{"do": "queue", "queue_id": "q-scored"}]}]} | tojson')
ev() { echo "{\"specversion\":\"1.0\",\"id\":\"01ATCRR000000000000000000$1\",\"type\":\"$2\",\"source\":\"/tests\",\"subject\":\"$3\",\"time\":\"2026-03-01T00:00:0$1Z\",\"tenantid\":\"initech\",\"data\":$4}"; }
{
  ev 4 routing.rules_published initech "{\"rules_version\":\"ini-r\",\"rules_json\":$rr}"
  ev 5 automation.rules_published initech "{\"rules_version\":\"ini-a\",\"rules_json\":$ar}"
  ev 6 lead.created lead-i1 '{"lead_source":"web_form","campaign_id":"c1"}'
} | "$SB" import - --data-dir "$dd" >"$work/ini.out" 2>"$work/ini.log" || fail "importing initech: $(cat "$work/ini.log")"
"$SB" run --processors routing,automation --data-dir "$dd" >"$work/rw.out" 2>"$work/rw.log" &
wpid=$!
ok=0
for _ in $(seq 1 300); do
  kill -0 "$wpid" 2>/dev/null || fail "routing,automation exited: $(tail -5 "$work/rw.log")"
  [ "$(q "SELECT score FROM routing.lead_scores WHERE tenant_id = 'initech' AND lead_id = 'lead-i1'" 2>/dev/null)" = 60 ] && ok=1 && break
  sleep 0.1
done
[ $ok = 1 ] || fail "lead-i1 was not scored 60 in queue q-scored: $(q "SELECT score, components FROM routing.lead_scores WHERE tenant_id = 'initech'" 2>&1)"
sleep 2 # a second firing, were there one, has time to come back
[ "$(q "SELECT count(*) FROM automation.firings WHERE tenant_id = 'initech'")" = 1 ] ||
  fail "on_scored fired $(q "SELECT count(*) FROM automation.firings WHERE tenant_id = 'initech'") times, want once: $(q "SELECT string_agg(trigger_event_id, ', ') FROM automation.firings WHERE tenant_id = 'initech'")"
kill -TERM "$wpid"
wait "$wpid" || fail "routing,automation exited non-zero on SIGTERM"
wpid=

kill -TERM "$pid"
wait "$pid" || fail "up exited non-zero after SIGTERM"
pid=
echo "automation_crash: $kills kills, $accepted events, $firings firings, $actions actions, each once; a replay builds the same; $((SECONDS - t_start)) s (seed $seed)"
sed 's/^/  /' "$work/kills.txt"
echo "automation_crash: all checks passed"
