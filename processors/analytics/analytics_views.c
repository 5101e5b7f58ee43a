/* The analytics processor's read views: what GET /v1/analytics/VIEW
 * answers (sb_view_def_t, engine/sb_processor.h), over the SQL views of
 * analytics_sql.c. A daily view's hourly sibling answers ?bucket=hour.
 * Per-agent views (owner_col) answer an agent its own rows; the others are
 * refused to agents (their rows sum several agents). */
#include "analytics_int.h"

#define CAMPAIGN "campaign=campaign_id"
#define QUEUE "queue=queue_id"
#define AGENT "agent=agent_id"

const sb_view_def_t an_views[] = {
    {.name = "calls",
     .relation = "v_calls_daily",
     .about = "calls per local day, queue, campaign and direction: offered, "
              "answered, abandoned, service level, ASA, AHT, transfers",
     .time_col = "day",
     .order = "day,queue_id,campaign_id,direction",
     .filters = CAMPAIGN "," QUEUE ",direction=direction",
     .hourly = "calls_hourly"},
    {.name = "calls_hourly",
     .relation = "v_calls_hourly",
     .about = "the same per local hour, and per agent",
     .time_col = "hour_start",
     .order = "hour_start,queue_id,campaign_id,agent_id,direction",
     .filters = CAMPAIGN "," QUEUE "," AGENT ",direction=direction",
     .owner_col = "agent_id"},
    {.name = "calls_total",
     .relation = "v_calls_total",
     .about = "calls all time per queue, campaign and direction",
     .order = "queue_id,campaign_id,direction",
     .filters = CAMPAIGN "," QUEUE ",direction=direction"},
    {.name = "dispositions",
     .relation = "v_dispositions_daily",
     .about = "dispositions and revenue per local day, queue, campaign and "
              "agent",
     .time_col = "day",
     .order = "day,queue_id,campaign_id,agent_id,disposition",
     .filters = CAMPAIGN "," QUEUE "," AGENT ",disposition=disposition",
     .owner_col = "agent_id"},
    {.name = "agents",
     .relation = "v_agents_daily",
     .about = "per agent and local day: handled, conversions, AHT, "
              "occupancy, time per state, logins",
     .time_col = "day",
     .order = "day,agent_id",
     .filters = AGENT,
     .owner_col = "agent_id"},
    {.name = "agent_pauses",
     .relation = "v_agent_pauses_daily",
     .about = "pauses and paused time per agent, local day and reason",
     .time_col = "day",
     .order = "day,agent_id,reason",
     .filters = AGENT ",reason=reason",
     .owner_col = "agent_id"},
    {.name = "leads",
     .relation = "v_leads_daily",
     .about = "leads created per local day, campaign, source and status, "
              "with their acquisition cost",
     .time_col = "day",
     .order = "day,campaign_id,lead_source,status",
     .filters = CAMPAIGN ",source=lead_source,status=status"},
    {.name = "lead_stages",
     .relation = "v_lead_stages_daily",
     .about = "leads entering and leaving each stage per local day, time in "
              "stage",
     .time_col = "day",
     .order = "day,campaign_id,lead_source,status",
     .filters = CAMPAIGN ",source=lead_source,status=status"},
    {.name = "funnel",
     .relation = "v_leads_funnel",
     .about = "the funnel all time: leads per stage, conversion between "
              "stages, time in stage",
     .order = "campaign_id,lead_source,status",
     .filters = CAMPAIGN ",source=lead_source"},
    {.name = "campaigns",
     .relation = "v_campaigns",
     .about = "each campaign: budget, spend, remaining, pacing, leads, "
              "contacts, sales, revenue, cost per lead and acquisition, ROI",
     .order = "campaign_id",
     .filters = CAMPAIGN},
    {.name = "campaigns_daily",
     .relation = "v_campaigns_daily",
     .about = "the same per local day, with the day's pacing",
     .time_col = "day",
     .order = "day,campaign_id",
     .filters = CAMPAIGN},
    {.name = "messages",
     .relation = "v_messages_daily",
     .about = "messages per local day, channel, provider and campaign: "
              "requested, blocked, sent, delivered, failed, read",
     .time_col = "day",
     .order = "day,channel,provider,campaign_id",
     .filters = CAMPAIGN ",channel=channel,provider=provider",
     .hourly = "messages_hourly"},
    {.name = "messages_hourly",
     .relation = "v_messages_hourly",
     .about = "the same per local hour",
     .time_col = "hour_start",
     .order = "hour_start,channel,provider,campaign_id",
     .filters = CAMPAIGN ",channel=channel,provider=provider"},
    {.name = "points",
     .relation = "v_points_daily",
     .about = "gamification points awarded and reversed per agent, team and "
              "local day",
     .time_col = "day",
     .order = "day,agent_id,team_id",
     .filters = AGENT ",team=team_id",
     .owner_col = "agent_id"},
    {.name = "trends",
     .relation = "v_trends",
     .about = "each metric per local day against the day before, the same "
              "weekday last week, and the last 7 days against the 7 before",
     .time_col = "day",
     .order = "day,metric",
     .filters = "metric=metric"},
    {0},
};
