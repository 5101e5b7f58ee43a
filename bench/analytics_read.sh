#!/usr/bin/env bash
# Read latency of GET /v1/analytics/VIEW (issue 14 item 2): how long the read
# API takes to answer from the analytics projections. A measurement, not a
# test: nothing here asserts a time.
#
#   bash bench/analytics_read.sh [SWITCHBOARD] [N]
#
# SWITCHBOARD: the binary (default build/release/switchboard); N: requests
# per view and role (default 200). Environment: DAYS (default 1; the
# figures in bench/README.md are for 1 and 30), AGENTS (200), TENANTS (3),
# KEEP=1 (leave the instance running at the end, for psql; stop it with
# `switchboard postgres stop` and a SIGTERM to the printed pid).
#
# It starts `switchboard up --processors analytics` on a data directory of
# its own (removed at the end), fills the analytics tables as the database
# superuser with DAYS days of hourly buckets for AGENTS agents in each of
# TENANTS tenants (every table the views read: calls, dispositions, agents,
# pauses, leads, stages, campaigns, spend, messages, points; row counts
# printed), then, per view, sends N GETs in a row over one keep-alive
# connection (one curl process), as a manager of the first tenant (the
# whole tenant's rows, the default page of 100) and, for the per-agent
# views, as one of its agents (its own rows), and prints p50, p99 and max
# of curl's time_total in milliseconds, with the rows of the page. Each
# read is the real path: token check, role scoping, the query through
# row-level security, the READ record in security.access, the JSON.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SB=${1:-$here/build/release/switchboard}
N=${2:-200}
DAYS=${DAYS:-1}
AGENTS=${AGENTS:-200}
TENANTS=${TENANTS:-3}
[ -x "$SB" ] || { echo "no switchboard binary at $SB" >&2; exit 2; }
command -v curl >/dev/null && command -v psql >/dev/null ||
  { echo "needs curl and psql" >&2; exit 2; }

work=$(mktemp -d /tmp/sb-anread-XXXXXX)
chmod 755 "$work"
dd=$work/data
pid=
cleanup() {
  if [ -n "${KEEP:-}" ]; then
    echo "kept: up pid $pid, data dir $dd, superuser $dd/postgres.state" >&2
    return
  fi
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  "$SB" postgres stop --data-dir "$dd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

SWITCHBOARD_HTTP_LISTEN=127.0.0.1:0 "$SB" up --data-dir "$dd" --processors analytics \
  >"$work/up.out" 2>"$work/up.err" &
pid=$!
for _ in $(seq 1 600); do
  grep -q '^http: ' "$work/up.out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/up.err" >&2; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/^http: //p' "$work/up.out")
[ -n "$url" ] || { echo "up printed no http line" >&2; exit 1; }
port=$(sed -n 's/^port = //p' "$dd/postgres.state")
pw=$(sed -n 's/^password = //p' "$dd/postgres.state")
su="postgresql://switchboard:$pw@127.0.0.1:$port/switchboard"
# analytics' tables exist once its worker migrated them
for _ in $(seq 1 300); do
  [ "$(psql "$su" -XAtqc "SELECT to_regclass('analytics.points_hour') IS NOT NULL" 2>/dev/null)" = t ] && break
  sleep 0.1
done

# ---- the projection ----------------------------------------------------------
echo "filling: $TENANTS tenants x $AGENTS agents x $DAYS days of hours" >&2
psql "$su" -XAtq -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE TEMP TABLE hh AS SELECT 'bench-' || t AS tenant_id, h AS hour_start,
  (h AT TIME ZONE 'UTC')::date AS day, extract(hour FROM h AT TIME ZONE 'UTC')::int AS hr
  FROM generate_series(1, $TENANTS) t,
       generate_series(timestamptz '2026-01-05 00:00Z' - ($DAYS - 1) * interval '1 day',
                       timestamptz '2026-01-05 23:00Z', interval '1 hour') h;
CREATE TEMP TABLE ag AS SELECT a, 'agent-' || a AS agent_id, 'queue-' || (a % 10) AS queue_id,
  'camp-' || (a % 5) AS campaign_id, 'team-' || (a % 10) AS team_id
  FROM generate_series(1, $AGENTS) a;
INSERT INTO analytics.calls_hour SELECT tenant_id, hour_start, queue_id, campaign_id, agent_id,
  'inbound', day, 6, 6, 0, 6, 5, 4 - (a + hr) % 2, 1, 0, 5 * (8000 + a * 10), 30000, 5,
  5 * 240000, 5 * 20000, 5 * 30000, (a + hr) % 2, 5, (a + hr) % 3, ((a + hr) % 3) * 5000
  FROM hh, ag;
INSERT INTO analytics.dispositions_hour SELECT tenant_id, hour_start, queue_id, campaign_id,
  agent_id, d, day, 2, CASE d WHEN 'sale' THEN 10000 ELSE 0 END
  FROM hh, ag, unnest(ARRAY['sale', 'not_interested']) d;
INSERT INTO analytics.agents_hour SELECT tenant_id, hour_start, agent_id, day, 0, 0, 0,
  600000, 60000, 2400000, 300000, 240000, 1 FROM hh, ag;
INSERT INTO analytics.pauses_hour SELECT tenant_id, hour_start, agent_id, 'break', day, 1,
  240000 FROM hh, ag;
INSERT INTO analytics.leads_hour SELECT tenant_id, hour_start, 'camp-' || k, s, 'new', day,
  3 + k, 1500 * (3 + k) FROM hh, generate_series(0, 4) k,
  unnest(ARRAY['web', 'facebook', 'google', 'referral']) s;
INSERT INTO analytics.stages_hour SELECT tenant_id, hour_start, 'camp-' || k, s, st, day,
  10 - i, 9 - i, (9 - i) * 3600000, CASE st WHEN 'converted' THEN 40000 ELSE 0 END
  FROM hh, generate_series(0, 4) k, unnest(ARRAY['web', 'facebook', 'google', 'referral']) s,
  unnest(ARRAY['new', 'contacted', 'working', 'nurturing', 'qualified', 'appointment_set',
               'converted']) WITH ORDINALITY x(st, i);
INSERT INTO analytics.campaigns SELECT DISTINCT tenant_id, 'camp-' || k, 'Campaign ' || k,
  'active', 'inbound', 10000000, 500000, 'USD', timestamptz '2025-12-01Z', NULL::timestamptz, now()
  FROM hh, generate_series(0, 4) k;
INSERT INTO analytics.spend_hour SELECT tenant_id, hour_start, 'camp-' || k, s, day, 2000,
  1000, 40, 3, 1 FROM hh, generate_series(0, 4) k,
  unnest(ARRAY['web', 'facebook', 'google', 'referral']) s;
INSERT INTO analytics.messages_hour SELECT tenant_id, hour_start, ch, p, 'camp-' || k, day,
  20, 1, 19, 19, 17, 2, 9 FROM hh, unnest(ARRAY['sms', 'email', 'whatsapp']) ch,
  unnest(ARRAY['twilio', 'vonage']) p, generate_series(0, 4) k;
INSERT INTO analytics.points_hour SELECT tenant_id, hour_start, agent_id, team_id, day, 3, 0,
  30, 0, 30 FROM hh, ag;
ANALYZE analytics.calls_hour, analytics.dispositions_hour, analytics.agents_hour,
  analytics.pauses_hour, analytics.leads_hour, analytics.stages_hour, analytics.campaigns,
  analytics.spend_hour, analytics.messages_hour, analytics.points_hour;
SQL
psql "$su" -XAtqc "SELECT string_agg(t || ' ' || n, ', ' ORDER BY t) FROM (
  SELECT 'calls_hour' t, count(*) n FROM analytics.calls_hour UNION ALL
  SELECT 'dispositions_hour', count(*) FROM analytics.dispositions_hour UNION ALL
  SELECT 'agents_hour', count(*) FROM analytics.agents_hour UNION ALL
  SELECT 'pauses_hour', count(*) FROM analytics.pauses_hour UNION ALL
  SELECT 'stages_hour', count(*) FROM analytics.stages_hour UNION ALL
  SELECT 'messages_hour', count(*) FROM analytics.messages_hour UNION ALL
  SELECT 'points_hour', count(*) FROM analytics.points_hour) x" |
  sed 's/^/rows: /'

mgr=$("$SB" token --data-dir "$dd" --tenant bench-1 --role manager --sub bench-mgr)
agent=$("$SB" token --data-dir "$dd" --tenant bench-1 --role agent --sub agent-7)
day=2026-01-05
next=2026-01-06

# time VIEW-PATH TOKEN ROLE: N GETs over one connection; p50/p99/max ms
time_view() {
  local path=$1 tok=$2 role=$3 cfg=$work/curl.cfg
  : >"$cfg"
  for _ in $(seq 1 "$N"); do
    printf 'url = "%s%s"\noutput = "/dev/null"\n' "$url" "$path" >>"$cfg"
  done
  # one more, kept: the rows of the page
  curl -s -m 30 -H "Authorization: Bearer $tok" -o "$work/page" -w '%{http_code}' \
    "$url$path" >"$work/status"
  [ "$(cat "$work/status")" = 200 ] ||
    { echo "GET $path as $role: $(cat "$work/status") $(head -c 300 "$work/page")" >&2; exit 1; }
  rows=$(/usr/bin/python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print(len(d.get("rows", d.get("views", []))))' \
    "$work/page")
  curl -s -m 120 -H "Authorization: Bearer $tok" -K "$cfg" -w '%{http_code} %{time_total}\n' \
    >"$work/times"
  grep -cv '^200 ' "$work/times" >"$work/bad" || true
  [ "$(cat "$work/bad")" = 0 ] || { echo "GET $path: non-200 answers" >&2; exit 1; }
  awk '{print $2 * 1000}' "$work/times" | sort -n | awk -v p="$path" -v r="$role" \
    -v rows="$rows" '{v[NR] = $1} END {
      i50 = int(NR * 0.50 + 0.5); i99 = int(NR * 0.99 + 0.5); if (i99 > NR) i99 = NR
      printf "%-62s %-8s %5d %8.2f %8.2f %8.2f\n", p, r, rows, v[i50], v[i99], v[NR] }'
}

printf '%-62s %-8s %5s %8s %8s %8s\n' "GET" role rows p50_ms p99_ms max_ms
for v in calls calls_hourly calls_total dispositions agents agent_pauses leads lead_stages \
  funnel campaigns campaigns_daily messages messages_hourly points trends; do
  case $v in
  calls_total | funnel | campaigns) q="" ;;
  calls_hourly | messages_hourly) q="?from=${day}T00:00:00Z&to=${next}T00:00:00Z" ;;
  *) q="?from=$day&to=$next" ;;
  esac
  time_view "/v1/analytics/$v$q" "$mgr" manager
  case $v in
  calls_hourly | dispositions | agents | agent_pauses | points)
    time_view "/v1/analytics/$v$q" "$agent" agent ;;
  esac
done
time_view "/v1/analytics/calls?bucket=hour&from=${day}T00:00:00Z&to=${next}T00:00:00Z&limit=1000" "$mgr" manager
time_view "/v1/analytics/agents?from=$day&to=$next&agent=agent-7" "$mgr" manager
time_view "/v1/analytics" "$mgr" manager
