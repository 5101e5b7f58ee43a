#!/usr/bin/env bash
# The Campaigns & leads and Gamification views in Debian's chromium,
# headless (tests/dashboard/biz.mjs says what it tries). Here: up with the
# processors the views read, and a seeded day: two campaigns with budgets
# and spend (one spend a week back), leads through the funnel from two
# sources, four sold calls of three agents in a team, a reward, a race,
# and three redemptions of agent-1 decided in order (two held, the third
# past what is left: insufficient).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dashboard_lib.sh"
dash_up --partitions 2 --processors routing,assignment,campaigns,analytics,gamification
dash_tokens manager=manager:mia agent=agent:agent-2 agent1=agent:agent-1 \
  supervisor=supervisor:sam admin=admin:alice
tok() { "$SB" token --data-dir "$dd" --tenant acme --role "$1" --sub "$2"; }
mgr=$(tok manager mia)
a1=$(tok agent agent-1)
now=$(date -u +%FT%TZ)
week=$(date -u -d '7 days ago' +%FT%TZ)
# post TYPE SUBJECT DATA: gathered, then sent in order by send [TOKEN]
# (the manager's by default)
batch=() nb=0
post() {
  nb=$((nb + 1))
  batch+=("{\"specversion\":\"1.0\",\"id\":\"biz-$nb\",\"type\":\"$1\",\"source\":\"crm://biz\",\"subject\":\"$2\",\"time\":\"$now\",\"data\":$3}")
}
send() {
  local st body
  body=$(IFS=,; echo "[${batch[*]}]")
  st=$(curl -s -m 60 -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer ${1:-$mgr}" \
    -H 'Content-Type: application/cloudevents-batch+json' --data-binary "$body" "$url/v1/events")
  [ "$st" = 202 ] || fail "posting the seed: $st $(cat "$work/body")"
  batch=()
}
# wait_for SQL WANT WHAT
wait_for() {
  for _ in $(seq 1 150); do
    [ "$(q "$1" 2>/dev/null)" = "$2" ] && return 0
    sleep 0.2
  done
  fail "waited for $3: $(q "$1" 2>&1)"
}

# the leads' zone: one where it is day now (calling hours are 08:00-21:00
# in the lead's zone; outside them a lead is held, not queued)
zone=$(/usr/bin/python3 - <<'EOF2'
import datetime, zoneinfo
zones = ["UTC", "America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Tokyo",
         "Australia/Sydney", "Asia/Kolkata", "Pacific/Honolulu", "America/Sao_Paulo", "Asia/Dubai"]
now = datetime.datetime.now(datetime.timezone.utc)
print(next(z for z in zones if 10 <= now.astimezone(zoneinfo.ZoneInfo(z)).hour <= 18))
EOF2
)
export SB_DAY_ZONE=$zone
post campaign.created camp-a '{"campaign_id":"camp-a","name":"Solar A","state":"active","time_zone":"UTC","dial_windows":["all 00:00-24:00"],"budget_cents":100000,"daily_budget_cents":10000,"currency":"USD"}'
post campaign.created camp-b '{"campaign_id":"camp-b","name":"Roofing B","state":"active","time_zone":"UTC","dial_windows":["all 00:00-24:00"],"budget_cents":50000,"daily_budget_cents":5000,"currency":"USD"}'
post campaign.spend_recorded camp-a "{\"campaign_id\":\"camp-a\",\"amount_cents\":6000,\"currency\":\"USD\",\"period_start\":\"$now\"}"
post campaign.spend_recorded camp-a "{\"campaign_id\":\"camp-a\",\"amount_cents\":4000,\"currency\":\"USD\",\"period_start\":\"$week\"}"
post campaign.spend_recorded camp-b "{\"campaign_id\":\"camp-b\",\"amount_cents\":2500,\"currency\":\"USD\",\"period_start\":\"$now\"}"
for l in 1 2 3 4; do
  post consent.given "lead-$l" '{"purpose":"sales_outreach","channel":"voice","method":"web_form"}'
done
post lead.created lead-1 '{"lead_source":"web_form","campaign_id":"camp-a","time_zone":"'"$zone"'","acquisition_cost_cents":500}'
post lead.created lead-2 '{"lead_source":"web_form","campaign_id":"camp-a","time_zone":"'"$zone"'"}'
post lead.created lead-3 '{"lead_source":"referral","campaign_id":"camp-a","time_zone":"'"$zone"'"}'
post lead.created lead-4 '{"lead_source":"referral","campaign_id":"camp-b","time_zone":"'"$zone"'"}'
post lead.status_changed lead-1 '{"status":"contacted","previous_status":"new"}'
post lead.status_changed lead-3 '{"status":"contacted","previous_status":"new"}'
now=$(date -u -d '+1 second' +%FT%TZ) post lead.status_changed lead-1 '{"status":"converted","previous_status":"contacted","revenue_cents":20000}'
post team.created t-1 '{"team_id":"t-1","name":"Team One","supervisor_id":"sam"}'
for a in agent-1 agent-2 agent-3; do post team.member_added "$a" "{\"agent_id\":\"$a\",\"team_id\":\"t-1\"}"; done
send
wait_for "SELECT count(*) FROM gamification.team_members WHERE team_id = 't-1'" 3 "the team"
post reward.created r-mug '{"reward_id":"r-mug","name":"Mug","points_cost":40,"active":true}'
post challenge.created ch-1 '{"challenge_id":"ch-1","name":"Daily dash","period":"daily","target_score":500}'
# each call pays 5 (handled, 30 s of talk or more) + 50 (sale)
n=0
for a in agent-1 agent-1 agent-2 agent-3; do
  n=$((n + 1))
  post call.ended "call-$n" "{\"call_id\":\"call-$n\",\"direction\":\"outbound\",\"end_reason\":\"agent_hangup\",\"agent_id\":\"$a\",\"campaign_id\":\"camp-a\",\"started_at\":\"$now\",\"answered_at\":\"$now\",\"talk_ms\":60000}"
  post call.dispositioned "call-$n" "{\"call_id\":\"call-$n\",\"disposition\":\"sale\",\"agent_id\":\"$a\",\"campaign_id\":\"camp-a\",\"sale_amount_cents\":15000}"
done
send
wait_for "SELECT balance FROM gamification.balances WHERE agent_id = 'agent-1'" 110 "agent-1's points"
wait_for "SELECT count(*) FROM gamification.rewards" 1 "the reward"
# one at a time: held, held, then past what is not held (110 - 80 < 40)
for r in red-1:held red-2:held red-3:insufficient; do
  post reward.redemption_requested "${r%%:*}" "{\"redemption_id\":\"${r%%:*}\",\"agent_id\":\"agent-1\",\"reward_id\":\"r-mug\",\"points_cost\":40}"
  send "$a1"
  wait_for "SELECT status FROM gamification.redemption_status WHERE redemption_id = '${r%%:*}'" "${r#*:}" "${r%%:*}"
done
wait_for "SELECT sales FROM analytics.v_campaigns WHERE campaign_id = 'camp-a'" 4 "camp-a's sales"
wait_for "SELECT count(*) FROM assignment.waiting" 3 "the waiting leads"

echo "seeded in $SECONDS s"
dash_run biz.mjs
echo "dashboard campaigns and gamification: passed ($SECONDS s)"
