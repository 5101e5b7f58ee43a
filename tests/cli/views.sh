#!/usr/bin/env bash
# The read views (GET /v1/projections, /v1/analytics; issue 14 item 4),
# through `up` and the HTTP API:
#  - the lists answer the views the caller may read (an agent: the per-agent
#    ones only), and every view listed to an admin answers 200 (a view
#    misdeclared against its relation answers 500: this catches it);
#  - scoping: an agent reads its own row of the agent board, a manager
#    every agent's, another tenant's admin none; an agent is refused (403)
#    a view that is not per agent, and GET /v1/projection of a table with
#    no owner column; a table with one answers the agent's rows only;
#  - keyset pages: limit=1 walks every agent once, in order, and ends with
#    next null; a forged cursor is 400;
#  - parameters: each bad one is a 400 naming it (a bad time, an unknown
#    parameter, a bucket on a view without buckets, limit out of range);
#    from/to bound the time column (half-open);
#  - each read is recorded (security.access counts the reads per user);
#  - every per-agent analytics view (calls_hourly, dispositions, agents,
#    agent_pauses, points; issue 14 item 3) answers an agent its own rows
#    only, ?agent= of another agent nothing, a manager every agent's; an
#    agent's list names those only and every other analytics view is 403;
#  - gamification (issue 15 items 6, 8): two agents' and a supervisor's
#    WebSocket feeds: each agent receives its own points.awarded and
#    badge.awarded and no other agent's, the supervisor every agent's; the
#    leaderboard ranks (an agent reads it whole) and around_me (an agent its
#    own neighbourhood only, a manager anyone's); agent-2, first to the
#    race's target, receives its challenge.won, agent-1 does not; each
#    agent receives its own leaderboard.rank_changed (one per board of the
#    tenant and of t-sam, every event being in the same second, however
#    often agent-2's rank moves) and no other agent's; the
#    supervisor sam leads team t-sam (agent-1, agent-2): its feed carries
#    their points, badges, results and rank changes and none of agent-3's
#    (issue 15 item 8); a manager's carries everyone's; so does its feed on
#    a serving process started after the team was made; each agent's rank
#    changes come for the day, week, month and all-time boards of the
#    tenant and of its team; after agent-1 moves to t-ole, its rank changes
#    on t-sam's boards (agent-4, new in t-sam, passes it) reach sam, not
#    ole, and those on the tenant's boards ole, not sam.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

start_up --partitions 2 --processors routing,assignment,campaigns,automation,analytics,security,gamification --http-listen 127.0.0.1:0
tok() { "$SB" token --data-dir "$dd" --tenant "${3:-acme}" --role "$1" ${2:+--sub "$2"}; }
admin=$(tok admin alice)
mgr=$(tok manager mia)
a1=$(tok agent agent-1)
a2=$(tok agent agent-2)
globex=$(tok admin bob globex)
now=$(date -u +%FT%TZ)
post_at() { # post_at TIME TYPE SUBJECT DATA
  local st
  st=$(curl -s -m 30 -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $mgr" \
    -H 'Content-Type: application/json' --data-binary \
    "{\"specversion\":\"1.0\",\"type\":\"$2\",\"source\":\"crm://views\",\"subject\":\"$3\",\"time\":\"$1\",\"data\":$4}" \
    "$url/v1/events")
  [ "$st" = 202 ] || fail "posting $2 $3: $st $(cat "$work/body")"
}
post() { post_at "$now" "$@"; } # post TYPE SUBJECT DATA
for a in agent-1 agent-2 agent-3; do post agent.logged_in "$a" '{"campaign_ids":["camp-1"]}'; done
post campaign.created camp-1 '{"campaign_id":"camp-1","name":"Views","state":"active","time_zone":"UTC","dial_windows":["all 00:00-24:00"]}'
for _ in $(seq 1 150); do
  [ "$(q "SELECT count(*) FROM routing.agents WHERE tenant_id = 'acme'" 2>/dev/null)" = 3 ] &&
    [ "$(q "SELECT count(*) FROM campaigns.schedule" 2>/dev/null)" = 1 ] && break
  sleep 0.2
done
[ "$(q "SELECT count(*) FROM routing.agents WHERE tenant_id = 'acme'")" = 3 ] || fail "the board: $(q 'SELECT agent_id FROM routing.agents')"

# get TOKEN PATH: the status, the body in $work/read
get() { curl -s -m 30 -o "$work/read" -w '%{http_code}' -H "Authorization: Bearer $1" "$url$2"; }
# field EXPR: a Python expression over d (the body) printed
field() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$work/read" "$1"; }
expect() { # expect TOKEN PATH STATUS [GREP]
  local s
  s=$(get "$1" "$2")
  [ "$s" = "$3" ] || fail "GET $2: $s, want $3: $(cat "$work/read")"
  [ -z "${4:-}" ] || grep -qF -- "$4" "$work/read" || fail "GET $2: no '$4' in $(cat "$work/read")"
}

# ---- the lists, and every view an admin may read answers ----------------------
expect "$admin" /v1/projections 200
field '"\n".join(v["path"] for v in d["views"])' >"$work/paths"
for p in /v1/projections/routing/agents /v1/projections/routing/agent_days \
  /v1/projections/assignment/decisions /v1/projections/campaigns/schedule \
  /v1/projections/automation/firings; do
  grep -qx "$p" "$work/paths" || fail "the list lacks $p: $(cat "$work/paths")"
done
while read -r p; do expect "$admin" "$p" 200; done <"$work/paths"
expect "$admin" /v1/analytics 200
field '"\n".join(v["path"] for v in d["views"])' >"$work/apaths"
for p in /v1/analytics/calls /v1/analytics/agents /v1/analytics/campaigns /v1/analytics/trends; do
  grep -qx "$p" "$work/apaths" || fail "the analytics list lacks $p: $(cat "$work/apaths")"
done
while read -r p; do expect "$admin" "$p" 200; done <"$work/apaths"
expect "$a1" /v1/projections 200
got=$(field '" ".join(sorted(v["path"] for v in d["views"]))')
case " $got " in *" /v1/projections/assignment/decisions "* | *" /v1/projections/routing/lead_scores "*)
  fail "an agent is listed views that are not per agent: $got" ;; esac
case " $got " in *" /v1/projections/routing/agents "*) ;; *) fail "an agent is not listed its board: $got" ;; esac
expect "$admin" /v1/analytics 200 '"views":'
# analytics: an agent its own figures only; buckets
for _ in $(seq 1 100); do
  [ "$(q "SELECT count(DISTINCT agent_id) FROM analytics.v_agents_daily WHERE tenant_id = 'acme'" 2>/dev/null)" = 3 ] && break
  sleep 0.2
done
expect "$a1" /v1/analytics/agents 200
[ "$(field '" ".join(r["agent_id"] for r in d["rows"])')" = agent-1 ] || fail "agent-1's analytics: $(cat "$work/read")"
expect "$mgr" /v1/analytics/agents 200
[ "$(field '" ".join(sorted(set(r["agent_id"] for r in d["rows"])))')" = "agent-1 agent-2 agent-3" ] || fail "the manager's analytics: $(cat "$work/read")"
expect "$a1" /v1/analytics/calls 403 "not per agent"
expect "$mgr" "/v1/analytics/calls?bucket=hour&from=$(date -u +%F)" 200 '"view":"analytics/calls_hourly"'
expect "$mgr" "/v1/analytics/calls?bucket=week" 400 "bucket:"
expect "$mgr" "/v1/analytics/agents?bucket=hour" 400 "bucket:"
expect "$globex" /v1/analytics/agents 200
[ "$(field 'd["count"]')" = 0 ] || fail "globex read acme's analytics: $(cat "$work/read")"
# every per-agent analytics view answers an agent its own rows only (issue
# 14 item 3): rows of agent-1, agent-2 and of no agent on a past day in each
# per-agent table (as the superuser: the read path is under test); an
# agent's list names those views only, every other one is 403; ?agent= of
# another agent gives nothing; ?bucket=hour of the daily calls (not per
# agent) answers its hourly rows, the agent's own
qsu "INSERT INTO analytics.calls_hour (tenant_id, hour_start, queue_id, campaign_id, agent_id,
  direction, day, calls, inbound, offered, answered, handled, talk_ms) SELECT 'acme',
  '2025-06-01 10:00Z', 'q1', '', a, 'inbound', '2025-06-01', 1, 1, 1, 1, 1, 60000
  FROM unnest(ARRAY['agent-1', 'agent-2', '']) a;
INSERT INTO analytics.dispositions_hour (tenant_id, hour_start, queue_id, campaign_id,
  agent_id, disposition, day, calls) SELECT 'acme', '2025-06-01 10:00Z', 'q1', '', a, 'sale',
  '2025-06-01', 1 FROM unnest(ARRAY['agent-1', 'agent-2', '']) a;
INSERT INTO analytics.agents_hour (tenant_id, hour_start, agent_id, day, logins,
  available_ms, on_call_ms) SELECT 'acme', '2025-06-01 10:00Z', a, '2025-06-01', 1, 60000,
  60000 FROM unnest(ARRAY['agent-1', 'agent-2']) a;
INSERT INTO analytics.pauses_hour (tenant_id, hour_start, agent_id, reason, day, pauses,
  paused_ms) SELECT 'acme', '2025-06-01 10:00Z', a, 'break', '2025-06-01', 1, 60000
  FROM unnest(ARRAY['agent-1', 'agent-2']) a;
INSERT INTO analytics.points_hour (tenant_id, hour_start, agent_id, team_id, day, awards,
  points_awarded, points) SELECT 'acme', '2025-06-01 10:00Z', a, 'team-1', '2025-06-01', 1,
  10, 10 FROM unnest(ARRAY['agent-1', 'agent-2']) a;
INSERT INTO analytics.live_calls (tenant_id, call_id, state, state_since, direction,
  queue_id, campaign_id, agent_id) SELECT 'acme', 'live-' || a, 'talking', '2025-06-01 10:00Z',
  'inbound', 'q1', '', a FROM unnest(ARRAY['agent-1', 'agent-2', '']) a" >/dev/null
past="from=2025-06-01&to=2025-06-02"
agents_of() { field '" ".join(sorted(set(r["agent_id"] or "-" for r in d["rows"])))'; }
expect "$a1" /v1/analytics 200
got=$(field '" ".join(sorted(v["name"] for v in d["views"]))')
[ "$got" = "agent_pauses agents calls_hourly dispositions live_calls points tenant" ] ||
  fail "an agent's analytics list: $got"
field '"\n".join(v["path"] for v in d["views"])' >"$work/agent_apaths"
n=0
while read -r p; do
  v=${p##*/}
  [ "$v" = tenant ] && continue # the tenant's settings, read by every role (below)
  # live_calls is the calls now: no time range, the rows inserted above
  [ "$v" = live_calls ] && past="state=talking"
  expect "$a1" "$p?$past" 200
  [ "$(agents_of)" = agent-1 ] || fail "agent-1 read $v: $(cat "$work/read")"
  expect "$a1" "$p?$past&agent=agent-2" 200
  [ "$(field 'd["count"]')" = 0 ] || fail "agent-1 read agent-2's $v: $(cat "$work/read")"
  expect "$mgr" "$p?$past" 200
  case $v in calls_hourly | dispositions | live_calls) want="- agent-1 agent-2" ;; *) want="agent-1 agent-2" ;; esac
  [ "$(agents_of)" = "$want" ] || fail "the manager's $v: $(agents_of), want $want"
  past="from=2025-06-01&to=2025-06-02"
  n=$((n + 1))
done <"$work/agent_apaths"
[ "$n" = 6 ] || fail "test bug: $n per-agent views read"
# the tenant's settings (its zone for "today"): every role, its own tenant only
qsu "INSERT INTO analytics.tenants VALUES ('acme', 'America/New_York', 'en', 'USD', 'Acme',
  'monday', now()), ('globex', 'Europe/London', 'en', 'EUR', 'Globex', 'monday', now())" >/dev/null
expect "$a1" /v1/analytics/tenant 200
[ "$(field '" ".join(r["tenant_id"] + "=" + r["time_zone"] for r in d["rows"])')" = "acme=America/New_York" ] ||
  fail "agent-1's tenant settings: $(cat "$work/read")"
expect "$globex" /v1/analytics/tenant 200
[ "$(field '" ".join(r["tenant_id"] for r in d["rows"])')" = globex ] || fail "globex's tenant settings: $(cat "$work/read")"
expect "$a1" "/v1/analytics/calls?bucket=hour&$past" 200 '"view":"analytics/calls_hourly"'
[ "$(agents_of)" = agent-1 ] || fail "agent-1's calls by hour: $(cat "$work/read")"
while read -r p; do
  grep -qx "$p" "$work/agent_apaths" || expect "$a1" "$p?limit=1" 403 "not per agent"
done <"$work/apaths"

# ---- scoping -----------------------------------------------------------------------
expect "$a1" /v1/projections/routing/agents 200
[ "$(field '" ".join(r["agent_id"] for r in d["rows"])')" = agent-1 ] || fail "agent-1 read: $(cat "$work/read")"
expect "$a1" "/v1/projections/routing/agents?agent=agent-2" 200
[ "$(field 'd["count"]')" = 0 ] || fail "agent-1 read agent-2's row: $(cat "$work/read")"
expect "$mgr" /v1/projections/routing/agents 200
[ "$(field '" ".join(r["agent_id"] for r in d["rows"])')" = "agent-1 agent-2 agent-3" ] || fail "manager read: $(cat "$work/read")"
expect "$globex" /v1/projections/routing/agents 200
[ "$(field 'd["count"]')" = 0 ] || fail "globex read acme's agents: $(cat "$work/read")"
expect "$a2" /v1/projections/assignment/decisions 403
expect "$a2" /v1/projections/routing/lead_scores 403 "not per agent"
expect "$a2" "/v1/projection?name=routing.lead_scores" 403 "owner column"
expect "$a2" "/v1/projection?name=routing.agent_days" 200
expect "$mgr" /v1/projections/nope/agents 404
expect "$mgr" /v1/projections/routing/nope 404 "GET /v1/projections lists"
expect "$mgr" /v1/analytics/nope 404

# ---- keyset pages ------------------------------------------------------------------
seen= after=
for i in 1 2 3 4; do
  expect "$mgr" "/v1/projections/routing/agents?limit=1${after:+&after=$after}" 200
  seen="$seen $(field '" ".join(r["agent_id"] for r in d["rows"])')"
  after=$(field 'd["next"] or ""')
  [ -n "$after" ] || break
done
[ "$seen" = " agent-1 agent-2 agent-3 " ] || [ "$seen" = " agent-1 agent-2 agent-3" ] ||
  fail "pages of one: '$seen'"
[ -z "$after" ] || fail "the last page still offers a next page"
expect "$mgr" "/v1/projections/routing/agents?after=Zm9yZ2Vk" 400 "after:"
# a cursor with a value PostgreSQL refuses for the column's type
bad=$($PY -c 'import base64; print(base64.urlsafe_b64encode(b"[\"not-a-time\",\"x\"]").decode().rstrip("="))')
expect "$mgr" "/v1/projections/campaigns/transitions?after=$bad" 400
bad=$($PY -c 'import base64; print(base64.urlsafe_b64encode(b"[\"not-a-time\",\"x\",\"y\"]").decode().rstrip("="))')
expect "$mgr" "/v1/projections/campaigns/transitions?after=$bad" 400 "parameter's value"

# ---- parameters --------------------------------------------------------------------
expect "$mgr" "/v1/projections/routing/agent_days?from=yesterday" 400 "from:"
expect "$mgr" "/v1/projections/routing/agent_days?colour=red" 400 "colour: not a parameter"
expect "$mgr" "/v1/projections/routing/agents?bucket=day" 400 "bucket:"
expect "$mgr" "/v1/projections/routing/agents?from=2026-01-01" 400 "not by time"
expect "$mgr" "/v1/projections/routing/agents?limit=0" 400 "limit:"
expect "$mgr" "/v1/projections/routing/agents?limit=5&limit=6" 400 "limit:"
expect "$mgr" "/v1/projections/routing/agents?agent=a&agent=b" 400 "given twice"
# from/to bound the time column, half-open
today=$(date -u +%F) tomorrow=$(date -u -d tomorrow +%F)
expect "$mgr" "/v1/projections/campaigns/transitions?from=$today&to=$tomorrow" 200
n_in=$(field 'd["count"]')
expect "$mgr" "/v1/projections/campaigns/transitions?to=$today" 200
n_before=$(field 'd["count"]')
[ "$n_in" -ge 1 ] && [ "$n_before" = 0 ] || fail "transitions today $n_in, before today $n_before"
expect "$mgr" "/v1/projections/campaigns/transitions?from=${now}" 200

# ---- each read recorded --------------------------------------------------------------
for _ in $(seq 1 100); do
  [ "$(q "SELECT coalesce(sum(reads), 0) FROM security.access WHERE tenant_id = 'acme' AND user_id = 'agent-1'" 2>/dev/null)" -ge 2 ] && break
  sleep 0.2
done
[ "$(q "SELECT coalesce(sum(reads), 0) FROM security.access WHERE tenant_id = 'acme' AND user_id = 'agent-1'")" -ge 2 ] ||
  fail "agent-1's reads are not recorded: $(q 'SELECT * FROM security.access')"
# ---- gamification: live feeds per agent, leaderboards ------------------------------
sup=$(tok supervisor sam)
post team.created t-sam '{"team_id":"t-sam","name":"Sam'"'"'s","supervisor_id":"sam"}'
post team.member_added agent-1 '{"agent_id":"agent-1","team_id":"t-sam"}'
post team.member_added agent-2 '{"agent_id":"agent-2","team_id":"t-sam"}'
for _ in $(seq 1 150); do
  [ "$(q "SELECT count(*) FROM gamification.team_members WHERE team_id = 't-sam'" 2>/dev/null)" = 2 ] && break
  sleep 0.1
done
[ "$(q "SELECT count(*) FROM gamification.team_members WHERE team_id = 't-sam'")" = 2 ] || fail "t-sam's members: $(q 'SELECT * FROM gamification.team_members')"
wspids=()
cleanup_extra() { for p in "${wspids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; return 0; }
for who in a1 a2 sup; do
  $PY "$(dirname "$0")/ws_client.py" listen "ws://${url#http://}/v1/stream" "${!who}" \
    '{"subscribe":{"topics":["sb.gamification"],"types":["points.*","badge.*","challenge.won","leaderboard.*"]}}' "$work/ws_$who" 2>"$work/ws_$who.err" &
  wspids+=($!)
done
# a manager's feed that notes when each message arrives (ms since the
# epoch, a tab, the message): the latency figure below
$PY -c 'import asyncio, sys, time, websockets
async def main():
  async with websockets.connect(sys.argv[1], extra_headers={"Authorization": "Bearer " + sys.argv[2]}, ping_interval=None) as ws:
    await ws.recv()
    await ws.send(sys.argv[3])
    with open(sys.argv[4], "a", buffering=1) as f:
      async for m in ws:
        f.write("%d\t%s\n" % (time.time() * 1000, m))
asyncio.run(main())' "ws://${url#http://}/v1/stream" "$mgr" \
  '{"subscribe":{"topics":["sb.gamification"],"types":["points.awarded"]}}' "$work/ws_timed" 2>"$work/ws_timed.err" &
wspids+=($!)
for who in a1 a2 sup timed; do
  for _ in $(seq 1 100); do grep -q '"subscribed"' "$work/ws_$who" 2>/dev/null && break; sleep 0.1; done
  grep -q '"subscribed"' "$work/ws_$who" || fail "$who's feed did not subscribe: $(cat "$work/ws_$who" "$work/ws_$who.err")"
done
post challenge.created race-1 '{"challenge_id":"race-1","name":"First to 100","period":"monthly","target_score":100}'
sleep 0.5 # the definition first on the tenant's partition
post call.dispositioned gc-1 '{"call_id":"gc-1","agent_id":"agent-1","disposition":"sale"}'
post call.dispositioned gc-2 '{"call_id":"gc-2","agent_id":"agent-2","disposition":"sale"}'
post call.dispositioned gc-3 '{"call_id":"gc-3","agent_id":"agent-2","disposition":"sale"}'
post call.ended gc-4 '{"call_id":"gc-4","agent_id":"agent-3","talk_ms":60000}'
for i in $(seq 10 19); do
  post call.ended "gc-$i" "{\"call_id\":\"gc-$i\",\"agent_id\":\"agent-2\",\"talk_ms\":60000}"
  sleep 0.05
done
# feed WHO: "agent type" per event received (the agent is the subject, or
# agent_id for a challenge's), sorted
feed() { $PY -c 'import json,sys
for l in open(sys.argv[1]):
  try: d = json.loads(l)
  except ValueError: continue
  if isinstance(d, dict) and d.get("type", "").startswith(("points.", "badge.", "challenge.", "leaderboard.")):
    print(d["data"].get("agent_id") or d["subject"], d["type"])' "$work/ws_$1" | sort; }
for _ in $(seq 1 150); do
  [ "$(feed sup | grep -c points.awarded)" -ge 13 ] && [ "$(feed a1 | grep -c points.awarded)" -ge 1 ] &&
    [ "$(feed a2 | grep -c points.awarded)" -ge 12 ] && [ "$(grep -c points.awarded "$work/ws_timed")" -ge 14 ] && break
  sleep 0.1
done
[ "$(feed a1 | grep points.awarded)" = "agent-1 points.awarded" ] || fail "agent-1's feed: $(feed a1)"
[ "$(feed a2 | grep points.awarded | uniq -c | tr -s ' ')" = " 12 agent-2 points.awarded" ] || fail "agent-2's feed: $(feed a2)"
feed a1 | grep -q "agent-1 badge.awarded" || fail "agent-1 saw no badge of its own: $(feed a1)"
for _ in $(seq 1 100); do
  feed a2 | grep -q "agent-2 challenge.won" && [ "$(feed sup | grep -c leaderboard.rank_changed)" -ge 4 ] && break
  sleep 0.1
done
feed a2 | grep -q "agent-2 challenge.won" || fail "agent-2 reached the race's target and its feed has no challenge.won: $(feed a2)"
feed sup | grep -q "agent-2 challenge.won" || fail "the supervisor saw no challenge.won: $(feed sup)"
for who in 1 2; do
  [ "$(feed a$who | grep -c leaderboard.rank_changed)" = 8 ] ||
    fail "agent-$who's rank changes (one per board: day, week, month, all time of the tenant and of t-sam, all in one second): $(feed a$who)"
done
[ "$(feed sup | grep leaderboard.rank_changed | sort | uniq -c | tr -s ' ' | tr '\n' ',')" = \
  " 8 agent-1 leaderboard.rank_changed, 8 agent-2 leaderboard.rank_changed," ] ||
  fail "the supervisor's rank changes: $(feed sup)"
feed a1 | grep -qv "^agent-1 " && fail "agent-1 saw another agent's points or badges: $(feed a1)"
feed a2 | grep -qv "^agent-2 " && fail "agent-2 saw another agent's points or badges: $(feed a2)"
[ "$(feed sup | grep points.awarded | cut -d' ' -f1 | sort -u | tr '\n' ' ')" = "agent-1 agent-2 " ] ||
  fail "the supervisor's feed: $(feed sup)"
feed sup | grep -q "^agent-3 " && fail "the supervisor of t-sam saw agent-3's (in no team of its): $(feed sup)"
[ "$(awk -F'\t' '{print $2}' "$work/ws_timed" | grep -c '"agent-3"')" -ge 1 ] || fail "the manager's feed has none of agent-3's: $(cat "$work/ws_timed")"
for _ in $(seq 1 300); do
  [ "$(q "SELECT count(*) || ' ' || sum(points) FROM gamification.board WHERE tenant_id = 'acme' AND span = 'all' AND scope = 'tenant'" 2>/dev/null)" = "3 205" ] && break
  sleep 0.1
done
expect "$a1" "/v1/projections/gamification/leaderboard?span=all&scope=tenant" 200
[ "$(field '" ".join("%s:%d:%d" % (r["agent_id"], r["points"], r["rank"]) for r in d["rows"])')" = "agent-2:150:1 agent-1:50:2 agent-3:5:3" ] ||
  fail "the leaderboard agent-1 reads: $(cat "$work/read")"
expect "$a1" "/v1/projections/gamification/around_me?span=all&scope=tenant" 200
[ "$(field '" ".join("%s>%s:%d" % (r["me_agent_id"], r["agent_id"], r["distance"]) for r in d["rows"])')" = "agent-1>agent-2:-1 agent-1>agent-1:0 agent-1>agent-3:1" ] ||
  fail "agent-1's around_me: $(cat "$work/read")"
expect "$a1" "/v1/projections/gamification/around_me?me=agent-3" 200
[ "$(field 'd["count"]')" = 0 ] || fail "agent-1 read agent-3's neighbourhood: $(cat "$work/read")"
expect "$mgr" "/v1/projections/gamification/around_me?me=agent-3&span=all&period=1970-01-01&scope=tenant" 200
[ "$(field '" ".join(r["agent_id"] for r in d["rows"])')" = "agent-2 agent-1 agent-3" ] || fail "the manager's around_me of agent-3: $(cat "$work/read")"
# the figure (not asserted): the causing event's Kafka timestamp (written by
# ingest) -> its points.awarded on the supervisor's socket
timeout 30 kcat -C -b "$kafka" -t sb.calls -e -q -f '%T %k\n' >"$work/calls_ts" 2>/dev/null || true
$PY -c 'import json, sys
ts = {}
for l in open(sys.argv[1]):
  t, _, k = l.strip().partition(" ")
  ts[k.split(":", 1)[-1]] = int(t)
lat = []
for l in open(sys.argv[2]):
  at, _, m = l.rstrip("\n").partition("\t")
  d = json.loads(m)
  if d.get("type") == "points.awarded" and d["data"].get("call_id") in ts:
    lat.append(int(at) - ts[d["data"]["call_id"]])
lat.sort()
if len(lat) != 14: sys.exit("%d of 14 points.awarded timed: %s" % (len(lat), lat))
print("points.awarded on the feed, ms after the causing event was written: n=%d median %d max %d (%s)" % (len(lat), lat[len(lat) // 2], lat[-1], " ".join(map(str, lat))))' \
  "$work/calls_ts" "$work/ws_timed" || fail "the feed latency figure"

# a serving process started now knows the teams (from the projection, and
# the stream read back): the supervisor's feed there is narrowed too
"$SB" serve --data-dir "$dd" --http-listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
spid=$!
wspids+=("$spid")
for _ in $(seq 1 150); do grep -q '^http: ' "$work/serve.out" && break; sleep 0.1; done
surl=$(sed -n 's/^http: //p' "$work/serve.out")
[ -n "$surl" ] || fail "serve printed no http: line: $(cat "$work/serve.err")"
$PY "$(dirname "$0")/ws_client.py" listen "ws://${surl#http://}/v1/stream" "$sup" \
  '{"subscribe":{"topics":["sb.gamification"],"types":["points.*"]}}' "$work/ws_sup2" 2>"$work/ws_sup2.err" &
wspids+=($!)
for _ in $(seq 1 100); do grep -q '"subscribed"' "$work/ws_sup2" 2>/dev/null && break; sleep 0.1; done
grep -q '"subscribed"' "$work/ws_sup2" || fail "the supervisor's feed on serve did not subscribe: $(cat "$work/ws_sup2" "$work/ws_sup2.err")"
post call.ended gc-30 '{"call_id":"gc-30","agent_id":"agent-3","talk_ms":60000}'
post call.ended gc-31 '{"call_id":"gc-31","agent_id":"agent-1","talk_ms":60000}'
for _ in $(seq 1 150); do feed sup2 | grep -q "agent-1 points.awarded" && break; sleep 0.1; done
feed sup2 | grep -q "agent-1 points.awarded" || fail "the supervisor's feed on serve has no agent-1 points: $(feed sup2)"
for _ in $(seq 1 100); do
  [ "$(q "SELECT count(*) FROM gamification.ledger WHERE source_event_type = 'call.ended' AND agent_id = 'agent-3'")" = 2 ] && break
  sleep 0.1
done
sleep 0.5 # agent-3's award, written, has had the time agent-1's took to reach the feed
feed sup2 | grep -q "^agent-3 " && fail "the supervisor's feed on serve carries agent-3's: $(feed sup2)"

# a team board's rank change reaches that team's supervisor, whatever team
# the agent is in now: agent-1 moves to t-ole (supervisor ole); agent-4
# joins t-sam and passes agent-1 (a minute later in event time, past the
# once-a-second bound): agent-1's move on t-sam's boards reaches sam, not
# ole; its move on the tenant's boards reaches ole (its team now), not sam
later=$(date -u -d '+1 minute' +%FT%TZ)
ole=$(tok supervisor ole)
post_at "$later" team.created t-ole '{"team_id":"t-ole","name":"Ole'"'"'s","supervisor_id":"ole"}'
$PY "$(dirname "$0")/ws_client.py" listen "ws://${url#http://}/v1/stream" "$ole" \
  '{"subscribe":{"topics":["sb.gamification"],"types":["leaderboard.*"]}}' "$work/ws_ole" 2>"$work/ws_ole.err" &
wspids+=($!)
for _ in $(seq 1 100); do grep -q '"subscribed"' "$work/ws_ole" 2>/dev/null && break; sleep 0.1; done
grep -q '"subscribed"' "$work/ws_ole" || fail "ole's feed did not subscribe: $(cat "$work/ws_ole" "$work/ws_ole.err")"
post_at "$later" team.member_added agent-1 '{"agent_id":"agent-1","team_id":"t-ole"}'
post_at "$later" team.member_added agent-4 '{"agent_id":"agent-4","team_id":"t-sam"}'
for _ in $(seq 1 150); do
  [ "$(q "SELECT string_agg(agent_id || ':' || team_id, ' ' ORDER BY agent_id) FROM gamification.team_members WHERE agent_id IN ('agent-1', 'agent-4')" 2>/dev/null)" = "agent-1:t-ole agent-4:t-sam" ] && break
  sleep 0.1
done
sleep 0.5 # the hub has read the moves back (they precede the entries in the stream)
post_at "$later" call.dispositioned gc-40 '{"call_id":"gc-40","agent_id":"agent-4","disposition":"sale"}'
post_at "$later" call.dispositioned gc-41 '{"call_id":"gc-41","agent_id":"agent-4","disposition":"sale"}'
# boards: "agent scope scope_id" per rank change received
boards() { $PY -c 'import json,sys
for l in open(sys.argv[1]):
  try: d = json.loads(l)
  except ValueError: continue
  if isinstance(d, dict) and d.get("type") == "leaderboard.rank_changed":
    x = d["data"]
    print(x.get("agent_id") or d["subject"], x["scope"], x.get("scope_id") or "-", x["span"])' "$work/ws_$1" | sort; }
for _ in $(seq 1 150); do
  [ "$(boards sup | grep -c '^agent-1 team t-sam')" -ge 8 ] && [ "$(boards ole | grep -c '^agent-1 tenant')" -ge 4 ] && break
  sleep 0.1
done
[ "$(boards sup | grep -c '^agent-1 team t-sam')" = 8 ] ||
  fail "sam's rank changes of agent-1 on t-sam's boards (4 before the move, 4 as agent-4 passes it): $(boards sup)"
[ "$(boards ole | grep '^agent-1 ' | cut -d' ' -f2,3 | sort -u | tr '\n' ',')" = "tenant -," ] ||
  fail "ole's feed: agent-1's tenant rank changes only (not t-sam's boards): $(boards ole)"
[ "$(boards sup | grep -c '^agent-1 tenant')" = 4 ] ||
  fail "sam got agent-1's tenant rank changes after agent-1 left t-sam: $(boards sup)"

echo "views: lists per role, every view answers, agents scoped to their rows, keyset pages, each bad parameter named, reads recorded; gamification feeds per agent (rank changes included), leaderboard and around_me"
