/* switchboard analytics check: the recomputation, in plain SQL over the
 * audit log's events (decoded into the temporary table ev by
 * cmd_analytics.c), independent of the processor's C code: from the event
 * semantics the README's "Analytics: figures, buckets and views" states.
 *
 * ev(tenant_id, event_id, type, subject, t, data jsonb) holds each event
 * once (by tenant and event id: duplicates count once); zone(tenant_id,
 * tz) each tenant's time zone (its newest tenant.created /
 * tenant.settings_changed time_zone by event time, else UTC). A family's
 * query yields the table's rows (every column, in table order, zero rows
 * left out) for the rows the tenants of ev own. */
#include "cmd_analytics.h"

#include <stddef.h>

/* Helpers, created per session (pg_temp). hs: the start of t's local
 * hour; dy: its local date; span: [s, x) split at local hours, ms each. */
const char an_check_prelude[] =
    "CREATE FUNCTION pg_temp.hs(t timestamptz, z text) RETURNS timestamptz "
    "LANGUAGE sql IMMUTABLE AS $$ SELECT t - ((t AT TIME ZONE z) - "
    "date_trunc('hour', t AT TIME ZONE z)) $$;\n"
    "CREATE FUNCTION pg_temp.dy(t timestamptz, z text) RETURNS date "
    "LANGUAGE sql IMMUTABLE AS $$ SELECT (t AT TIME ZONE z)::date $$;\n"
    "CREATE FUNCTION pg_temp.span(s timestamptz, x timestamptz, z text) "
    "RETURNS TABLE (h timestamptz, ms bigint) LANGUAGE sql IMMUTABLE AS $$ "
    "SELECT g, floor(extract(epoch FROM least(x, g + interval '1 hour') - "
    "greatest(s, g)) * 1000)::bigint FROM generate_series(pg_temp.hs(s, z), "
    "x - interval '1 microsecond', interval '1 hour') g WHERE least(x, g + "
    "interval '1 hour') > greatest(s, g) $$;\n"
    "CREATE TEMP TABLE e AS SELECT DISTINCT ON (tenant_id, event_id) * FROM "
    "ev ORDER BY tenant_id, event_id, t;\n"
    "CREATE INDEX ON e (type, tenant_id);\n"
    "CREATE TEMP TABLE zone AS SELECT t.tenant_id, COALESCE((SELECT "
    "data->>'time_zone' FROM e WHERE e.tenant_id = t.tenant_id AND e.type "
    "IN ('tenant.created', 'tenant.settings_changed') AND data->>'time_zone' "
    "IS NOT NULL ORDER BY e.t DESC, e.event_id DESC LIMIT 1), 'UTC') AS tz "
    "FROM (SELECT DISTINCT tenant_id FROM e) t;\n"
    "ANALYZE e;\nANALYZE zone;\n"
    /* agents' events, with the agent */
    "CREATE TEMP TABLE ag AS SELECT e.tenant_id, z.tz, e.t, e.type, "
    "COALESCE(data->>'agent_id', subject) AS agent, data FROM e JOIN zone z "
    "USING (tenant_id) WHERE type IN ('agent.logged_in', "
    "'agent.logged_out', 'agent.state_changed');\n"
    "CREATE INDEX ON ag (tenant_id, agent, t);\nANALYZE ag;\n"
    /* pauses: entered (the reason), left (the duration), paired by the
     * pause's start within a millisecond */
    "CREATE TEMP TABLE pz AS SELECT x.tenant_id, x.tz, x.agent, x.t - "
    "(data->>'previous_state_ms')::bigint * interval '1 millisecond' AS s, "
    "x.t AS x, COALESCE((SELECT COALESCE(n.data->>'pause_reason', '') FROM "
    "ag n WHERE n.tenant_id = x.tenant_id AND n.agent = x.agent AND "
    "n.type = 'agent.state_changed' AND n.data->>'state' = 'paused' AND "
    "n.t > x.t - (x.data->>'previous_state_ms')::bigint * interval '1 "
    "millisecond' - interval '1 millisecond' AND n.t < x.t - "
    "(x.data->>'previous_state_ms')::bigint * interval '1 millisecond' + "
    "interval '1 millisecond' ORDER BY n.t, n.data->>'pause_reason' LIMIT "
    "1), '') AS reason FROM ag x WHERE x.type = 'agent.state_changed' AND "
    "x.data->>'previous_state' = 'paused' AND (x.data->>"
    "'previous_state_ms')::bigint > 0;\n"
    /* leads: the funnel's statuses in order; each lead's facts (its
     * earliest lead.created: time, first status, source, cost; its
     * campaign: lead.created's, else a status change's, the smaller at a
     * tie) */
    "CREATE FUNCTION pg_temp.stx(s text) RETURNS int LANGUAGE sql "
    "IMMUTABLE AS $$ SELECT array_position(ARRAY['new', 'contacted', "
    "'working', 'nurturing', 'qualified', 'appointment_set', 'converted', "
    "'unqualified', 'lost', 'invalid', 'duplicate', 'recycled'], s) $$;\n"
    "CREATE TEMP TABLE ld AS WITH c AS (SELECT DISTINCT ON (tenant_id, "
    "COALESCE(data->>'lead_id', subject)) tenant_id, COALESCE("
    "data->>'lead_id', subject) AS lead, t AS t0, CASE WHEN "
    "pg_temp.stx(data->>'status') IS NULL THEN 'new' ELSE data->>'status' "
    "END AS st0, COALESCE(data->>'lead_source', '') AS lead_source, "
    "COALESCE((data->>'acquisition_cost_cents')::bigint, 0) AS cost FROM e "
    "WHERE type = 'lead.created' ORDER BY 1, 2, t, event_id), k AS (SELECT "
    "tenant_id, COALESCE(data->>'lead_id', subject) AS lead, min("
    "data->>'campaign_id') FILTER (WHERE type = 'lead.created') AS c1, min("
    "data->>'campaign_id') FILTER (WHERE type = 'lead.status_changed') AS "
    "c2 FROM e WHERE type IN ('lead.created', 'lead.status_changed') GROUP "
    "BY 1, 2) SELECT c.*, z.tz, COALESCE(k.c1, k.c2, '') AS campaign_id "
    "FROM c JOIN k USING (tenant_id, lead) JOIN zone z USING "
    "(tenant_id);\n"
    /* calls: each call's facts (any order and repetition of its events
     * gives the same); a dimension from the highest-ranked event giving it
     * (call.ended, call.connected, call.queued and call.started,
     * call.offered and call.abandoned, call.dispositioned), the smaller
     * value at a tie */
    "CREATE FUNCTION pg_temp.rk(ty text) RETURNS int LANGUAGE sql "
    "IMMUTABLE AS $$ SELECT CASE ty WHEN 'call.ended' THEN 5 WHEN "
    "'call.connected' THEN 4 WHEN 'call.queued' THEN 3 WHEN 'call.started' "
    "THEN 3 WHEN 'call.offered' THEN 2 WHEN 'call.abandoned' THEN 2 ELSE 1 "
    "END $$;\n"
    "CREATE TEMP TABLE cf AS WITH x AS (SELECT tenant_id, COALESCE("
    "data->>'call_id', subject) AS call, type, t, data, pg_temp.rk(type) AS "
    "rk FROM e WHERE type IN ('call.started', 'call.queued', "
    "'call.offered', 'call.connected', 'call.transferred', "
    "'call.abandoned', 'call.ended', 'call.dispositioned')) SELECT "
    "tenant_id, call, bool_or(type = 'call.ended') AS ended, bool_or(type "
    "= 'call.dispositioned') AS dispo, bool_or(type = 'call.connected' OR "
    "(type = 'call.ended' AND data->>'answered_at' IS NOT NULL)) AS ans, "
    "bool_or(type = 'call.queued' OR (type IN ('call.offered', "
    "'call.connected', 'call.abandoned', 'call.ended') AND "
    "data->>'queue_id' IS NOT NULL)) AS offered, bool_or(type = "
    "'call.abandoned' OR (type = 'call.ended' AND data->>'end_reason' = "
    "'abandoned')) AS ab, COALESCE(LEAST(min(t) FILTER (WHERE type = "
    "'call.started'), min((data->>'started_at')::timestamptz) FILTER "
    "(WHERE type = 'call.ended')), min(t)) AS at, min(t) FILTER (WHERE type "
    "= 'call.queued') AS queued_at, LEAST(min(t) FILTER (WHERE type = "
    "'call.connected'), min((data->>'answered_at')::timestamptz) FILTER "
    "(WHERE type = 'call.ended')) AS connected_at, min(t) FILTER (WHERE "
    "type = 'call.abandoned') AS abandoned_at, max(t) FILTER (WHERE type = "
    "'call.ended') AS ended_at, min((data->>'wait_ms')::bigint) FILTER "
    "(WHERE type = 'call.connected') AS wait_conn, max((data->>"
    "'wait_ms')::bigint) FILTER (WHERE type = 'call.abandoned') AS wait_ab, "
    "max((data->>'wait_ms')::bigint) FILTER (WHERE type = 'call.ended') AS "
    "wait_end, max((data->>'talk_ms')::bigint) FILTER (WHERE type = "
    "'call.ended') AS talk, max((data->>'hold_ms')::bigint) FILTER (WHERE "
    "type = 'call.ended') AS hold, max((data->>'wrapup_ms')::bigint) "
    "FILTER (WHERE type = 'call.dispositioned') AS wrap, max((data->>"
    "'sale_amount_cents')::bigint) FILTER (WHERE type = "
    "'call.dispositioned') AS sale_cents, count(DISTINCT t) FILTER (WHERE "
    "type = 'call.transferred') AS xfers, (array_agg(data->>'queue_id' "
    "ORDER BY rk DESC, data->>'queue_id') FILTER (WHERE data->>'queue_id' "
    "IS NOT NULL AND type <> 'call.dispositioned'))[1] AS queue_id, "
    "(array_agg(data->>'campaign_id' ORDER BY rk DESC, data->>'campaign_id') "
    "FILTER (WHERE data->>'campaign_id' IS NOT NULL))[1] AS campaign_id, "
    "(array_agg(data->>'agent_id' ORDER BY rk DESC, data->>'agent_id') "
    "FILTER (WHERE data->>'agent_id' IS NOT NULL))[1] AS agent_id, "
    "(array_agg(data->>'direction' ORDER BY rk DESC, data->>'direction') "
    "FILTER (WHERE data->>'direction' IS NOT NULL AND type IN "
    "('call.started', 'call.ended')))[1] AS direction, (array_agg("
    "data->>'disposition' ORDER BY data->>'disposition') FILTER (WHERE type "
    "= 'call.dispositioned' AND data->>'disposition' IS NOT NULL))[1] AS "
    "disposition FROM x GROUP BY 1, 2;\n"
    /* queues' service-level thresholds: each routing.queue_configured
     * (service_level_s NULL: the default) */
    "CREATE TEMP TABLE qsl AS SELECT tenant_id, COALESCE(data->>"
    "'queue_id', subject) AS queue_id, t, event_id, (data->>"
    "'service_level_s')::int AS sl FROM e WHERE type = "
    "'routing.queue_configured';\n"
    "CREATE INDEX ON qsl (tenant_id, queue_id, t);\nANALYZE qsl;\n"
    /* the calls that count: ended, and dispositioned, or not answered, or
     * their disposition wait (analytics.disposition_wait_s, default 3600
     * s, by the wall clock) over; their figures; sl_ms: the threshold of
     * the call's queue in force at its start (its newest configuration at
     * or before it by event time, ties to the greater event id; without
     * one, or without a queue: analytics.service_level_s's default, 20 s) */
    "CREATE TEMP TABLE cc AS SELECT cf.*, z.tz, COALESCE(NULLIF((SELECT "
    "q.sl FROM qsl q WHERE q.tenant_id = cf.tenant_id AND q.queue_id = "
    "cf.queue_id AND q.t <= cf.at ORDER BY q.t DESC, q.event_id COLLATE "
    "\"C\" DESC LIMIT 1), 0), 20) * 1000 AS sl_ms, offered AND NOT ans "
    "AND ab AS abandoned, CASE WHEN ans THEN COALESCE(wait_conn, wait_end, "
    "floor(GREATEST(extract(epoch FROM connected_at - queued_at), 0) * "
    "1000)::bigint, 0) ELSE 0 END AS wait_ans, CASE WHEN offered AND NOT "
    "ans AND ab THEN COALESCE(wait_ab, wait_end, floor(GREATEST(extract("
    "epoch FROM abandoned_at - queued_at), 0) * 1000)::bigint, 0) ELSE 0 "
    "END AS wait_abd, CASE WHEN ans THEN GREATEST(COALESCE(hold, 0), 0) "
    "ELSE 0 END AS hold_ms, CASE WHEN NOT ans THEN 0 WHEN talk IS NOT NULL "
    "THEN GREATEST(talk, 0) ELSE COALESCE(GREATEST(floor(extract(epoch FROM "
    "ended_at - connected_at) * 1000)::bigint - GREATEST(COALESCE(hold, 0), "
    "0), 0), 0) END AS talk_ms FROM cf JOIN zone z USING (tenant_id) WHERE "
    "ended AND (dispo OR NOT ans OR ended_at + interval '3600 seconds' <= "
    "now());\n";

static const an_family_t families[] = {
    {"calls", "calls_hour",
     "tenant_id, hour_start, queue_id, campaign_id, agent_id, direction, "
     "day",
     "calls, inbound, outbound, offered, answered, answered_in_sl, "
     "abandoned, abandoned_short, wait_answered_ms, wait_abandoned_ms, "
     "handled, talk_ms, hold_ms, wrap_ms, transfers, dispositioned, sales, "
     "revenue_cents",
     "WITH c AS (SELECT *, COALESCE(direction, 'unknown') AS dir, dispo AND "
     "disposition = 'sale' AS sale FROM cc) SELECT tenant_id, "
     "pg_temp.hs(at, tz), COALESCE(queue_id, ''), COALESCE(campaign_id, ''), "
     "COALESCE(agent_id, ''), dir, pg_temp.dy(at, tz), count(*), count(*) "
     "FILTER (WHERE dir = 'inbound'), count(*) FILTER (WHERE dir = "
     "'outbound'), count(*) FILTER (WHERE offered), count(*) FILTER (WHERE "
     "offered AND ans), count(*) FILTER (WHERE offered AND ans AND wait_ans "
     "<= sl_ms), count(*) FILTER (WHERE abandoned), count(*) FILTER (WHERE "
     "abandoned AND wait_abd < 5000), COALESCE(sum(wait_ans) FILTER (WHERE "
     "offered), 0), sum(wait_abd), count(*) FILTER (WHERE ans), "
     "sum(talk_ms), sum(hold_ms), COALESCE(sum(GREATEST(wrap, 0)) FILTER "
     "(WHERE dispo), 0), sum(xfers), count(*) FILTER (WHERE dispo), "
     "count(*) FILTER (WHERE sale), COALESCE(sum(GREATEST(sale_cents, 0)) "
     "FILTER (WHERE sale), 0) FROM c GROUP BY 1, 2, 3, 4, 5, 6, 7"},
    {"dispositions", "dispositions_hour",
     "tenant_id, hour_start, queue_id, campaign_id, agent_id, disposition, "
     "day",
     "calls, revenue_cents",
     "SELECT tenant_id, pg_temp.hs(at, tz), COALESCE(queue_id, ''), "
     "COALESCE(campaign_id, ''), COALESCE(agent_id, ''), COALESCE("
     "disposition, ''), pg_temp.dy(at, tz), count(*), COALESCE(sum("
     "GREATEST(sale_cents, 0)) FILTER (WHERE disposition = 'sale'), 0) FROM "
     "cc WHERE dispo GROUP BY 1, 2, 3, 4, 5, 6, 7"},
    {"agents", "agents_hour", "tenant_id, hour_start, agent_id, day",
     "logins, logouts, session_ms, available_ms, ringing_ms, on_call_ms, "
     "wrapup_ms, paused_ms, pauses",
     "WITH pt AS (SELECT tenant_id, tz, pg_temp.hs(t, tz) AS h, agent, "
     "(type = 'agent.logged_in')::int AS li, (type = 'agent.logged_out')::int "
     "AS lo, (type = 'agent.state_changed' AND data->>'state' = "
     "'paused')::int AS pz, NULL::text AS col, 0::bigint AS ms FROM ag), sp "
     "AS (SELECT x.tenant_id, x.tz, s.h, x.agent, 0, 0, 0, x.col, s.ms FROM "
     "(SELECT tenant_id, tz, agent, t, CASE WHEN type = 'agent.logged_out' "
     "THEN 'session' ELSE data->>'previous_state' END AS col, CASE WHEN type "
     "= 'agent.logged_out' THEN (data->>'session_ms')::bigint ELSE "
     "(data->>'previous_state_ms')::bigint END AS d FROM ag WHERE type <> "
     "'agent.logged_in') x, pg_temp.span(x.t - x.d * interval '1 "
     "millisecond', x.t, x.tz) s WHERE x.d > 0 AND x.col IN ('session', "
     "'available', 'ringing', 'on_call', 'wrapup', 'paused')) SELECT "
     "tenant_id, h, agent, pg_temp.dy(h, tz), sum(li), sum(lo), "
     "COALESCE(sum(ms) FILTER (WHERE col = 'session'), 0), COALESCE(sum(ms) "
     "FILTER (WHERE col = 'available'), 0), COALESCE(sum(ms) FILTER (WHERE "
     "col = 'ringing'), 0), COALESCE(sum(ms) FILTER (WHERE col = "
     "'on_call'), 0), COALESCE(sum(ms) FILTER (WHERE col = 'wrapup'), 0), "
     "COALESCE(sum(ms) FILTER (WHERE col = 'paused'), 0), sum(pz) FROM "
     "(SELECT * FROM pt UNION ALL SELECT * FROM sp) u GROUP BY tenant_id, "
     "tz, h, agent"},
    {"pauses", "pauses_hour", "tenant_id, hour_start, agent_id, reason, day",
     "pauses, paused_ms",
     "WITH u AS (SELECT tenant_id, tz, pg_temp.hs(t, tz) AS h, agent, "
     "COALESCE(data->>'pause_reason', '') AS reason, 1 AS n, 0::bigint AS "
     "ms FROM ag WHERE type = 'agent.state_changed' AND data->>'state' = "
     "'paused' UNION ALL SELECT p.tenant_id, p.tz, s.h, p.agent, p.reason, "
     "0, s.ms FROM pz p, pg_temp.span(p.s, p.x, p.tz) s) SELECT tenant_id, "
     "h, agent, reason, pg_temp.dy(h, tz), sum(n), sum(ms) FROM u GROUP BY "
     "tenant_id, tz, h, agent, reason"},
    {"leads", "leads_hour",
     "tenant_id, hour_start, campaign_id, lead_source, status, day",
     "created, acquisition_cost_cents",
     "SELECT tenant_id, pg_temp.hs(t0, tz), campaign_id, lead_source, st0, "
     "pg_temp.dy(t0, tz), count(*), sum(cost) FROM ld GROUP BY 1, 2, 3, 4, "
     "5, 6"},
    {"stages", "stages_hour",
     "tenant_id, hour_start, campaign_id, lead_source, status, day",
     "entered, exits, time_in_stage_ms, revenue_cents",
     /* the lead's timeline: its creation, then its changes in time order
      * (the creation first at a tie; changes at one time by the funnel's
      * order; one change at a time to a status, its largest revenue) */
     "WITH ch AS (SELECT tenant_id, COALESCE(data->>'lead_id', subject) AS "
     "lead, t, data->>'status' AS status, max(GREATEST(COALESCE(("
     "data->>'revenue_cents')::bigint, 0), 0)) AS rev FROM e WHERE type = "
     "'lead.status_changed' AND pg_temp.stx(data->>'status') IS NOT NULL "
     "GROUP BY 1, 2, 3, 4), tl AS (SELECT ld.tenant_id, ld.tz, ld.lead, "
     "ld.campaign_id, ld.lead_source, ld.t0 AS t, 0 AS k, ld.st0 AS status, "
     "0::bigint AS rev FROM ld UNION ALL SELECT ld.tenant_id, ld.tz, "
     "ld.lead, ld.campaign_id, ld.lead_source, ch.t, 1, ch.status, ch.rev "
     "FROM ch JOIN ld USING (tenant_id, lead)), o AS (SELECT *, "
     "row_number() OVER w AS i, lag(status) OVER w IS DISTINCT FROM status "
     "AS starts FROM tl WINDOW w AS (PARTITION BY tenant_id, lead ORDER BY "
     "t, k, pg_temp.stx(status))), runs AS (SELECT *, lead(t) OVER (PARTITION "
     "BY tenant_id, lead ORDER BY i) AS left_at FROM o WHERE starts), u AS "
     "(SELECT tenant_id, tz, campaign_id, lead_source, status, min(t) AS at, "
     "1 AS entered, 0 AS exits, 0::bigint AS ms, 0::bigint AS rev FROM tl "
     "GROUP BY tenant_id, tz, lead, campaign_id, lead_source, status UNION "
     "ALL SELECT tenant_id, tz, campaign_id, lead_source, status, left_at, "
     "0, 1, floor(extract(epoch FROM left_at - t) * 1000)::bigint, 0 FROM "
     "runs WHERE left_at IS NOT NULL UNION ALL SELECT tenant_id, tz, "
     "campaign_id, lead_source, status, t, 0, 0, 0, rev FROM tl WHERE rev > "
     "0) SELECT tenant_id, pg_temp.hs(at, tz), campaign_id, lead_source, "
     "status, pg_temp.dy(at, tz), sum(entered), sum(exits), sum(ms), "
     "sum(rev) FROM u GROUP BY 1, 2, 3, 4, 5, 6"},
    {"spend", "spend_hour",
     "tenant_id, hour_start, campaign_id, lead_source, day",
     "spend_cents, impressions, clicks, leads_reported, records",
     "WITH s AS (SELECT e.tenant_id, z.tz, COALESCE(data->>'campaign_id', "
     "subject) AS campaign_id, COALESCE(data->>'lead_source', '') AS "
     "lead_source, COALESCE((data->>'period_start')::timestamptz, e.t) AS "
     "at, COALESCE((data->>'amount_cents')::bigint, 0) AS amount, "
     "COALESCE((data->>'impressions')::bigint, 0) AS imp, COALESCE(("
     "data->>'clicks')::bigint, 0) AS clicks, COALESCE((data->>"
     "'leads_count')::bigint, 0) AS leads FROM e JOIN zone z USING "
     "(tenant_id) WHERE type = 'campaign.spend_recorded') SELECT tenant_id, "
     "pg_temp.hs(at, tz), campaign_id, lead_source, pg_temp.dy(at, tz), "
     "sum(amount), sum(imp), sum(clicks), sum(leads), count(*) FROM s "
     "GROUP BY 1, 2, 3, 4, 5"},
    {"messages", "messages_hour",
     "tenant_id, hour_start, channel, provider, campaign_id, day",
     "requested, blocked, submitted, sent, delivered, failed, read",
     "WITH x AS (SELECT e.tenant_id, COALESCE(data->>'message_id', subject) "
     "AS msg, e.type, e.t, data->>'channel' AS channel, data->>'provider' "
     "AS provider, data->>'campaign_id' AS campaign_id, CASE WHEN type = "
     "'message.requested' THEN 'requested' WHEN type = 'message.blocked' "
     "THEN 'blocked' WHEN type = 'message.submitted' THEN 'submitted' WHEN "
     "type = 'message.status_updated' THEN CASE WHEN data->>'status' IN "
     "('failed', 'rejected', 'undelivered') THEN 'failed' WHEN "
     "data->>'status' IN ('submitted', 'sent', 'delivered', 'read') THEN "
     "data->>'status' END END AS st FROM e WHERE type IN "
     "('message.requested', 'message.blocked', 'message.submitted', "
     "'message.status_updated')), m AS (SELECT tenant_id, msg, COALESCE(min("
     "channel) FILTER (WHERE type = 'message.requested'), min(channel), '') "
     "AS channel, COALESCE(min(provider) FILTER (WHERE type = "
     "'message.submitted'), min(provider) FILTER (WHERE type = "
     "'message.status_updated'), '') AS provider, COALESCE(min(campaign_id) "
     "FILTER (WHERE type = 'message.requested'), min(campaign_id), '') AS "
     "campaign_id FROM x GROUP BY 1, 2), f AS (SELECT tenant_id, msg, st, "
     "min(t) AS t FROM x WHERE st IS NOT NULL GROUP BY 1, 2, 3) SELECT "
     "f.tenant_id, pg_temp.hs(f.t, z.tz), m.channel, m.provider, "
     "m.campaign_id, pg_temp.dy(f.t, z.tz), count(*) FILTER (WHERE st = "
     "'requested'), count(*) FILTER (WHERE st = 'blocked'), count(*) FILTER "
     "(WHERE st = 'submitted'), count(*) FILTER (WHERE st = 'sent'), "
     "count(*) FILTER (WHERE st = 'delivered'), count(*) FILTER (WHERE st = "
     "'failed'), count(*) FILTER (WHERE st = 'read') FROM f JOIN m USING "
     "(tenant_id, msg) JOIN zone z ON z.tenant_id = f.tenant_id GROUP BY 1, "
     "2, 3, 4, 5, 6"},
    {"points", "points_hour",
     "tenant_id, hour_start, agent_id, team_id, day",
     "awards, reversals, points_awarded, points_reversed, points",
     "WITH p AS (SELECT e.tenant_id, z.tz, e.t, COALESCE(data->>'agent_id', "
     "subject) AS agent_id, COALESCE(data->>'team_id', '') AS team_id, "
     "type = 'points.awarded' AS aw, CASE WHEN type = 'points.reversed' "
     "THEN abs(COALESCE((data->>'points')::bigint, 0)) ELSE COALESCE(("
     "data->>'points')::bigint, 0) END AS pts FROM e JOIN zone z USING "
     "(tenant_id) WHERE type IN ('points.awarded', 'points.reversed')) "
     "SELECT tenant_id, "
     "pg_temp.hs(t, tz), agent_id, team_id, pg_temp.dy(t, tz), count(*) "
     "FILTER (WHERE aw), count(*) FILTER (WHERE NOT aw), COALESCE(sum(pts) "
     "FILTER (WHERE aw), 0), COALESCE(sum(pts) FILTER (WHERE NOT aw), 0), "
     "COALESCE(sum(pts) FILTER (WHERE aw), 0) - COALESCE(sum(pts) FILTER "
     "(WHERE NOT aw), 0) FROM p GROUP BY 1, 2, 3, 4, 5"},
    /* settings, not sums: no hour, every row compared */
    {"campaigns", "campaigns",
     "tenant_id, campaign_id, name, state, campaign_type, budget_cents, "
     "daily_budget_cents, currency, starts_at, ends_at, updated_at",
     NULL,
     /* each setting from the latest event giving it (by time, then id):
      * campaign.created all, campaign.updated those it lists,
      * campaign.state_changed the state */
     "WITH g AS (SELECT tenant_id, COALESCE(data->>'campaign_id', subject) "
     "AS cid, t, event_id, f, NULLIF(data->>f, '') AS v FROM e, "
     "unnest(ARRAY['name', 'state', 'campaign_type', 'budget_cents', "
     "'daily_budget_cents', 'currency', 'starts_at', 'ends_at']) f WHERE "
     "type = 'campaign.created' OR (type = 'campaign.updated' AND f <> "
     "'state' AND data->'changed_fields' ? f) OR (type = "
     "'campaign.state_changed' AND f = 'state')), l AS (SELECT DISTINCT ON "
     "(tenant_id, cid, f) * FROM g ORDER BY tenant_id, cid, f, t DESC, "
     "event_id DESC) SELECT tenant_id, cid, max(v) FILTER (WHERE f = "
     "'name'), max(v) FILTER (WHERE f = 'state'), max(v) FILTER (WHERE f = "
     "'campaign_type'), max(v::bigint) FILTER (WHERE f = 'budget_cents'), "
     "max(v::bigint) FILTER (WHERE f = 'daily_budget_cents'), max(v) FILTER "
     "(WHERE f = 'currency'), max(v::timestamptz) FILTER (WHERE f = "
     "'starts_at'), max(v::timestamptz) FILTER (WHERE f = 'ends_at'), max(t) "
     "FROM l GROUP BY 1, 2"},
    {NULL, NULL, NULL, NULL, NULL},
};

const an_family_t *const an_check_families = families;
