#!/usr/bin/env bash
# Routing end to end, through `up` and the HTTP API as producers post: a
# campaign (active, dialling all day, in UTC), an agent logging in to it,
# consent for two leads, then the leads, one in a zone where it is daytime
# now and one where it is night. The routing processor scores them and
# hands them, the agent (both sides of it) and the campaign's gate to the
# assignment processor (routing.input on sb.routing); then:
#  - the daytime lead is assigned to the agent (lead.assigned, and
#    routing.decision with its explanation), and the agent's WebSocket
#    feed receives its lead.assigned;
#  - the night-time lead is held (the TCPA's calling hours, in its zone),
#    never assigned;
#  - a lead without consent is never handed over at all;
#  - replaying routing and then assignment from earliest sends nothing
#    more to sb.routing and rebuilds exactly the same decisions.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
wsp=
cleanup_extra() { [ -n "$wsp" ] && kill "$wsp" 2>/dev/null; return 0; }

# reservations held an hour (here and in the replays): no timer sends a
# tick while the replays below compare the log with what it rebuilds
hold=(--set assignment.reserve_timeout_ms=3600000)
start_up --partitions 2 --http-listen 127.0.0.1:0 "${hold[@]}"
mgr=$("$SB" token --data-dir "$dd" --tenant acme --role manager --sub mgr-1)
agent=$("$SB" token --data-dir "$dd" --tenant acme --role agent --sub agent-1)
now=$(date -u +%FT%TZ)
post() { # post TYPE SUBJECT DATA
  local st
  st=$(curl -s -m 30 -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $mgr" \
    -H 'Content-Type: application/json' --data-binary \
    "{\"specversion\":\"1.0\",\"type\":\"$1\",\"source\":\"crm://e2e\",\"subject\":\"$2\",\"time\":\"$now\",\"data\":$3}" \
    "$url/v1/events")
  [ "$st" = 202 ] || fail "posting $1 $2: $st $(cat "$work/body")"
}
# a zone where it is day now (10:00-18:59) and one where it is night (0-5)
read -r day night < <($PY - <<'EOF2'
import datetime, zoneinfo
zones = ["UTC", "America/New_York", "America/Los_Angeles", "Europe/London",
         "Asia/Tokyo", "Australia/Sydney", "Asia/Kolkata", "Pacific/Honolulu",
         "Europe/Moscow", "America/Sao_Paulo", "Asia/Dubai", "Pacific/Auckland"]
now = datetime.datetime.now(datetime.timezone.utc)
h = {z: now.astimezone(zoneinfo.ZoneInfo(z)).hour for z in zones}
day = next(z for z in zones if 10 <= h[z] <= 18)
night = next(z for z in zones if 0 <= h[z] <= 5)
print(day, night)
EOF2
)
[ -n "$day" ] && [ -n "$night" ] || fail "no day and night zones found"

# the agent's desk listens before anything happens
$PY "$(dirname "$0")/ws_client.py" listen "ws://${url#http://}/v1/stream" "$agent" \
  '{"subscribe":{"topics":["sb.leads"]}}' "$work/ws.out" 2>"$work/ws.err" &
wsp=$!
for _ in $(seq 1 50); do grep -q '"subscribed"' "$work/ws.out" 2>/dev/null && break; sleep 0.1; done
grep -q '"subscribed"' "$work/ws.out" || fail "the agent's WebSocket did not subscribe: $(cat "$work/ws.err")"

post campaign.created camp-1 '{"campaign_id":"camp-1","name":"E2E","state":"active","time_zone":"UTC","dial_windows":["all 00:00-24:00"]}'
post agent.logged_in agent-1 '{"campaign_ids":["camp-1"]}'
for l in lead-day lead-night; do
  post consent.given "$l" '{"purpose":"sales_outreach","channel":"voice","method":"web_form"}'
done
post lead.created lead-day "{\"lead_source\":\"web_form\",\"campaign_id\":\"camp-1\",\"time_zone\":\"$day\"}"
post lead.created lead-night "{\"lead_source\":\"web_form\",\"campaign_id\":\"camp-1\",\"time_zone\":\"$night\"}"
post lead.created lead-noconsent "{\"lead_source\":\"web_form\",\"campaign_id\":\"camp-1\",\"time_zone\":\"$day\"}"

# a second campaign whose queue a manager configured over HTTP (strategy
# skills, Spanish 2 required of every lead), two agents in it, a call lead
# and an e-mail lead asking for French too (lead v4: channel, skills)
post routing.queue_configured camp-2 '{"strategy":"skills","required_skills":["es:2"],"service_level_s":30}'
post campaign.created camp-2 '{"campaign_id":"camp-2","name":"E2E 2","state":"active","time_zone":"UTC","dial_windows":["all 00:00-24:00"]}'
post agent.logged_in agent-2 '{"campaign_ids":["camp-2"],"skills":["es:3","fr:1"],"channel_capacity":["voice:1","email:2"]}'
post agent.logged_in agent-3 '{"campaign_ids":["camp-2"],"skills":["es:1"],"channel_capacity":["voice:1"]}'
# both agents handed to assignment before the leads (routing writes its
# board in the batch that sends them): the explanations name both
for _ in $(seq 1 100); do
  [ "$(q "SELECT count(*) FROM routing.agents WHERE agent_id IN ('agent-2', 'agent-3')" 2>/dev/null)" = 2 ] && break
  sleep 0.2
done
post consent.given lead-es '{"purpose":"sales_outreach","channel":"voice","method":"web_form"}'
post consent.given lead-mail '{"purpose":"sales_outreach","channel":"email","method":"web_form"}'
post lead.created lead-es "{\"lead_source\":\"web_form\",\"campaign_id\":\"camp-2\",\"time_zone\":\"$day\"}"
# e-mail keeps no calling hours: a lead at night is offered all the same
post lead.created lead-mail "{\"lead_source\":\"web_form\",\"campaign_id\":\"camp-2\",\"time_zone\":\"$night\",\"channel\":\"email\",\"optional_skills\":[\"fr:1\"]}"

# what was decided for a lead, in the log's order is not needed: the
# outcomes it had (all inputs carry one time, so decided_at ties)
had() { q "SELECT count(*) FROM assignment.decisions WHERE tenant_id = 'acme'
  AND lead_id = '$1' AND outcome = '$2' AND coalesce(agent_id, '-') = '$3'" 2>/dev/null || echo 0; }
for _ in $(seq 1 150); do
  [ "$(had lead-day assigned agent-1)" = 1 ] && [ "$(had lead-night held -)" = 1 ] && break
  sleep 0.2
done
decisions=$(q "SELECT lead_id || ':' || outcome FROM assignment.decisions" | tr '\n' ' ')
[ "$(had lead-day assigned agent-1)" = 1 ] ||
  fail "lead-day ($day) was not assigned to agent-1 once; decisions: $decisions"
[ "$(had lead-night held -)" = 1 ] || fail "lead-night ($night) was not held once; decisions: $decisions"
[ "$(q "SELECT count(*) FROM assignment.decisions WHERE lead_id = 'lead-night' AND outcome = 'assigned'")" = 0 ] ||
  fail "lead-night ($night) was assigned at night"
q "SELECT explanation::text FROM assignment.decisions WHERE lead_id = 'lead-day' AND outcome = 'assigned'" |
  grep -q '"chosen": "agent-1"' || fail "no explanation of lead-day's assignment"
# the configured queue: recorded, and its strategy and required skill
# decided lead-es (agent-3 lacks es:2); lead-mail went by e-mail, to the
# agent with e-mail capacity and French
for _ in $(seq 1 100); do
  [ "$(had lead-es assigned agent-2)" = 1 ] && [ "$(had lead-mail assigned agent-2)" = 1 ] && break
  sleep 0.2
done
[ "$(q "SELECT strategy || ' ' || required_skills || ' ' || service_level_s FROM routing.queues
  WHERE tenant_id = 'acme' AND queue_id = 'camp-2'")" = "skills es:2 30" ] ||
  fail "routing.queues: $(q "SELECT * FROM routing.queues")"
[ "$(had lead-es assigned agent-2)" = 1 ] || fail "lead-es was not assigned to agent-2; decisions: $(q "SELECT lead_id || ':' || outcome || ':' || coalesce(agent_id, '-') FROM assignment.decisions" | tr '\n' ' ')"
q "SELECT strategy || ' ' || explanation::text FROM assignment.decisions WHERE lead_id = 'lead-es' AND outcome = 'assigned'" |
  grep '^skills ' | grep -q '"detail": "es<2", "agent_id": "agent-3", "excluded": "missing_skill"' ||
  fail "lead-es's explanation: $(q "SELECT explanation::text FROM assignment.decisions WHERE lead_id = 'lead-es'")"
[ "$(had lead-mail assigned agent-2)" = 1 ] || fail "lead-mail ($night, e-mail) was not assigned to agent-2; decisions: $(q "SELECT lead_id || ':' || outcome FROM assignment.decisions" | tr '\n' ' ')"
[ "$(q "SELECT count(*) FROM assignment.decisions WHERE lead_id = 'lead-mail' AND outcome = 'assigned'
  AND explanation::text LIKE '%\"agent_id\": \"agent-3\", \"excluded\": \"channel_not_taken\"%'")" = 1 ] ||
  fail "lead-mail's explanation: $(q "SELECT explanation::text FROM assignment.decisions WHERE lead_id = 'lead-mail'")"

# routing scored the lead without consent (not contactable) and handed
# nothing over: no input for it reached assignment
for _ in $(seq 1 100); do
  [ "$(q "SELECT count(*) FROM routing.lead_scores WHERE lead_id = 'lead-noconsent' AND NOT contactable")" = 1 ] && break
  sleep 0.2
done
[ "$(q "SELECT count(*) FROM routing.lead_scores WHERE lead_id = 'lead-noconsent' AND NOT contactable")" = 1 ] ||
  fail "routing did not score lead-noconsent as not contactable"
[ "$(q "SELECT count(*) FROM assignment.decisions WHERE lead_id = 'lead-noconsent'")" = 0 ] ||
  fail "a lead without consent was handed to assignment"
for _ in $(seq 1 50); do grep -q 'lead.assigned' "$work/ws.out" && break; sleep 0.1; done
grep '"lead.assigned"' "$work/ws.out" | grep -q 'lead-day' ||
  fail "the agent's feed did not receive lead-day's assignment: $(tail -3 "$work/ws.out")"
grep '"lead.assigned"' "$work/ws.out" | grep -q 'lead-night' && fail "lead-night reached the agent"

# a larger workload, imported: two more tenants, 30 agents and 90 leads
# each (tests/cli/gen_routing_e2e.py), through routing and assignment
# (the queues' configuration and the consents first, recorded before the
# rest: topics are read in no set order, and a lead is judged contactable
# by the consent table as it stands when the lead is scored)
$PY "$(dirname "$0")/gen_routing_e2e.py" "$day" $(( $(date +%s) - 900 )) 30 90 globex initech >"$work/load.ndjson"
first='"type":"(routing.queue_configured|consent.given)"'
grep -E "$first" "$work/load.ndjson" | "$SB" import - --data-dir "$dd" \
  >"$work/import.out" 2>"$work/import.err" || fail "import: $(tail -3 "$work/import.err")"
for _ in $(seq 1 100); do
  [ "$(q "SELECT count(*) FROM routing.queues WHERE queue_id = 'camp-b'" 2>/dev/null)" = 2 ] &&
    [ "$(q "SELECT count(*) FROM compliance.consent WHERE tenant_id IN ('globex', 'initech')" 2>/dev/null)" = 180 ] && break
  sleep 0.2
done
sleep 1 # the routing processor's copy of the consent table follows the log
grep -vE "$first" "$work/load.ndjson" | "$SB" import - --data-dir "$dd" \
  >"$work/import.out" 2>"$work/import.err" || fail "import: $(tail -3 "$work/import.err")"
routing_records() { timeout 20 kcat -C -b "$kafka" -t sb.routing -e -q -f '%o\n' 2>/dev/null | wc -l; }
decided() { q "SELECT count(DISTINCT tenant_id || lead_id) FROM assignment.decisions
  WHERE tenant_id IN ('globex', 'initech') AND outcome IN ('assigned', 'queued')" 2>/dev/null || echo 0; }
for _ in $(seq 1 200); do [ "$(decided)" = 180 ] && break; sleep 0.25; done
[ "$(decided)" = 180 ] || fail "$(decided) of the 180 imported leads decided: $(tail -2 "$work/import.err"); $(q "SELECT tenant_id || outcome || count(*) FROM assignment.decisions GROUP BY tenant_id, outcome" | tr "\n" " "); inputs $(routing_records); scores $(q "SELECT count(*) FROM routing.lead_scores WHERE contactable") $(q "SELECT count(*) FROM routing.lead_scores")"
# quiet: nothing more reaches sb.routing or the decisions (ticks of
# reservations that time out come through the log too)
quiet=0 last=
for _ in $(seq 1 60); do
  now_=$(routing_records):$(q "SELECT count(*) FROM assignment.decisions")
  if [ "$now_" = "$last" ]; then quiet=$((quiet + 1)); else quiet=0; fi
  [ $quiet -ge 3 ] && break
  last=$now_
  sleep 0.5
done
[ $quiet -ge 3 ] || fail "sb.routing and the decisions never went quiet"
twice=$(q "SELECT count(*) FROM (SELECT tenant_id, lead_id FROM assignment.decisions
  WHERE outcome = 'assigned' GROUP BY 1, 2 HAVING count(*) > 1) x")
[ "$twice" = 0 ] || fail "$twice leads assigned twice"
many=$(q "SELECT count(*) FROM assignment.decisions WHERE tenant_id IN ('globex', 'initech') AND outcome = 'assigned'")
[ "$many" -ge 40 ] || fail "only $many of the imported leads assigned: the replays below would prove little"
[ "$(q "SELECT count(*) FROM assignment.decisions WHERE tenant_id IN ('globex', 'initech')
  AND queue_id = 'camp-b' AND strategy <> 'round_robin'")" = 0 ] || fail "camp-b decided without its round_robin"

# replays, each reading its partitions in another interleaving than the
# live run did (batches of 5 and 2 events): routing rebuilt from earliest
# sends assignment nothing again (its inputs are in the log already:
# records of sb.routing unchanged) and rebuilds the same agent board;
# assignment rebuilt from earliest makes exactly the decisions it made
decisions() { q "SELECT tenant_id, input_id, seq, outcome, lead_id, agent_id, queue_id, strategy,
  explanation::text, decided_at FROM assignment.decisions ORDER BY 1, 2, 3"; }
board() { q "SELECT * FROM routing.agents ORDER BY 1, 2"; }
before=$(routing_records)
decisions >"$work/dec.live"
board >"$work/board.live"
n=0
for p in routing:5 assignment:2; do
  timeout 120 "$SB" replay --processor "${p%:*}" --from earliest --data-dir "$dd" \
    --batch-max-events "${p#*:}" "${hold[@]}" >"$work/replay.$n" 2>&1 || fail "replay of $p: $(tail -3 "$work/replay.$n")"
  n=$((n + 1))
done
[ "$(routing_records)" = "$before" ] ||
  fail "the replays sent sb.routing $(( $(routing_records) - before )) more records"
decisions >"$work/dec.rebuilt"
board >"$work/board.rebuilt"
cmp -s "$work/board.live" "$work/board.rebuilt" ||
  fail "routing rebuilt another agent board: $(diff "$work/board.live" "$work/board.rebuilt" | head -4)"
cmp -s "$work/dec.live" "$work/dec.rebuilt" ||
  fail "assignment rebuilt decides otherwise: $(diff "$work/dec.live" "$work/dec.rebuilt" | head -4)"
echo "routing_e2e: lead-day ($day) assigned to agent-1 and pushed to its feed; lead-night ($night) held; no consent, never handed over; a configured queue and a lead's skills and channel decide; 180 imported leads ($many assigned); replays of routing and assignment in other interleavings change nothing ($(wc -l <"$work/dec.live") decisions)"
