/* The gamification projection: its tables, migrations and read views, and
 * the rows written from the decisions read back from sb.gamification
 * (points.*, badge.awarded, reward.redemption_settled) and from teams,
 * rewards, rule sets and redemption requests:
 *
 *   ledger         every points.awarded (+) and points.reversed (-), once
 *                  per event id: kind award, reversal or redemption
 *   balances       per agent: the ledger's sum (balance), earned, reversed,
 *                  redeemed, entries
 *   team_balances  per team: the sum of the ledger entries credited to it
 *                  (the team the agent was in when the points were earned)
 *   agent_days     per agent and local day: the ledger's sum
 *   badges         one row per agent, badge and tier (badge.awarded)
 *   teams, team_members, memberships   teams and who is in which
 *   rule_sets      every rule set published (valid ones)
 *   rewards        the catalogue
 *   redemptions, redemption_status  requests and what became of them
 *                  (the view redemption_board joins them) */
#include "gam_int.h"

#include <stdio.h>
#include <string.h>

#define GRANT(t)                                                               \
  "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}." t                        \
  " TO switchboard_app;\n"

#define K SB_MERGE_KEEP
#define R SB_MERGE_REPLACE
#define S SB_MERGE_SUM
#define M SB_MERGE_MAX

static const sb_table_def_t ledger = {
    .name = "ledger",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"event_id", SB_COL_TEXT, 0},
                               {"agent_id", SB_COL_TEXT, K | SB_COL_OWNER},
                               {"team_id", SB_COL_TEXT, K},
                               {"kind", SB_COL_TEXT, K},
                               {"rule_id", SB_COL_TEXT, K},
                               {"points", SB_COL_INT8, K},
                               {"source_event_id", SB_COL_TEXT, K},
                               {"source_event_type", SB_COL_TEXT, K},
                               {"reason", SB_COL_TEXT, K},
                               {"occurred_at", SB_COL_TIMESTAMPTZ, K},
                               {"day", SB_COL_DATE, K},
                               {"campaign_id", SB_COL_TEXT, K},
                               {0}},
    .key = (const char *const[]){"tenant_id", "event_id", NULL},
    /* no retention class: a purge of ledger rows would leave balances that
     * are no longer their sum */
};
static const sb_table_def_t balances = {
    .name = "balances",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"agent_id", SB_COL_TEXT, SB_COL_OWNER},
                               {"balance", SB_COL_INT8, S},
                               {"earned", SB_COL_INT8, S},
                               {"reversed", SB_COL_INT8, S},
                               {"redeemed", SB_COL_INT8, S},
                               {"entries", SB_COL_INT8, S},
                               {"updated_at", SB_COL_TIMESTAMPTZ, M},
                               {0}},
    .key = (const char *const[]){"tenant_id", "agent_id", NULL},
};
static const sb_table_def_t team_balances = {
    .name = "team_balances",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"team_id", SB_COL_TEXT, 0},
                               {"balance", SB_COL_INT8, S},
                               {"entries", SB_COL_INT8, S},
                               {"updated_at", SB_COL_TIMESTAMPTZ, M},
                               {0}},
    .key = (const char *const[]){"tenant_id", "team_id", NULL},
};
static const sb_table_def_t agent_days = {
    .name = "agent_days",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"agent_id", SB_COL_TEXT, SB_COL_OWNER},
                               {"day", SB_COL_DATE, 0},
                               {"points", SB_COL_INT8, S},
                               {0}},
    .key = (const char *const[]){"tenant_id", "agent_id", "day", NULL},
};
static const sb_table_def_t badges = {
    .name = "badges",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"agent_id", SB_COL_TEXT, SB_COL_OWNER},
                               {"badge_id", SB_COL_TEXT, 0},
                               {"tier", SB_COL_TEXT, 0},
                               {"badge_name", SB_COL_TEXT, K},
                               {"team_id", SB_COL_TEXT, K},
                               {"event_id", SB_COL_TEXT, K},
                               {"awarded_at", SB_COL_TIMESTAMPTZ, K},
                               {0}},
    .key = (const char *const[]){"tenant_id", "agent_id", "badge_id", "tier",
                                 NULL},
};
static const sb_table_def_t teams = {
    .name = "teams",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"team_id", SB_COL_TEXT, 0},
                               {"name", SB_COL_TEXT, R},
                               {"supervisor_id", SB_COL_TEXT, R},
                               {"created_at", SB_COL_TIMESTAMPTZ, K},
                               {0}},
    .key = (const char *const[]){"tenant_id", "team_id", NULL},
};
const sb_table_def_t gam__team_members = {
    .name = "team_members",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"agent_id", SB_COL_TEXT, SB_COL_OWNER},
                               {"team_id", SB_COL_TEXT, R},
                               {"since", SB_COL_TIMESTAMPTZ, R},
                               {0}},
    .key = (const char *const[]){"tenant_id", "agent_id", NULL},
};
static const sb_table_def_t memberships = {
    .name = "memberships",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"event_id", SB_COL_TEXT, 0},
                               {"agent_id", SB_COL_TEXT, K | SB_COL_OWNER},
                               {"team_id", SB_COL_TEXT, K},
                               {"action", SB_COL_TEXT, K},
                               {"occurred_at", SB_COL_TIMESTAMPTZ, K},
                               {0}},
    .key = (const char *const[]){"tenant_id", "event_id", NULL},
};
static const sb_table_def_t rule_sets = {
    .name = "rule_sets",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"event_id", SB_COL_TEXT, 0},
                               {"rules_version", SB_COL_TEXT, K},
                               {"published_at", SB_COL_TIMESTAMPTZ, K},
                               {"rules", SB_COL_JSONB, K},
                               {0}},
    .key = (const char *const[]){"tenant_id", "event_id", NULL},
};
static const sb_table_def_t rewards = {
    .name = "rewards",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"reward_id", SB_COL_TEXT, 0},
                               {"name", SB_COL_TEXT, R},
                               {"points_cost", SB_COL_INT8, R},
                               {"active", SB_COL_BOOL, R},
                               {"description", SB_COL_TEXT, R},
                               {"updated_at", SB_COL_TIMESTAMPTZ, R},
                               {0}},
    .key = (const char *const[]){"tenant_id", "reward_id", NULL},
};
static const sb_table_def_t redemptions = {
    .name = "redemptions",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"redemption_id", SB_COL_TEXT, 0},
                               {"agent_id", SB_COL_TEXT, K | SB_COL_OWNER},
                               {"reward_id", SB_COL_TEXT, K},
                               {"points_cost", SB_COL_INT8, K},
                               {"requested_at", SB_COL_TIMESTAMPTZ, K},
                               {"event_id", SB_COL_TEXT, K},
                               {0}},
    .key = (const char *const[]){"tenant_id", "redemption_id", NULL},
};
static const sb_table_def_t redemption_status = {
    .name = "redemption_status",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"redemption_id", SB_COL_TEXT, 0},
                               {"agent_id", SB_COL_TEXT, R | SB_COL_OWNER},
                               {"status", SB_COL_TEXT, R},
                               {"points_cost", SB_COL_INT8, R},
                               {"balance_after", SB_COL_INT8, R},
                               {"reason", SB_COL_TEXT, R},
                               {"settled_at", SB_COL_TIMESTAMPTZ, R},
                               {0}},
    .key = (const char *const[]){"tenant_id", "redemption_id", NULL},
};

const sb_table_def_t *const gam__tables[] = {
    &ledger,      &balances,     &team_balances, &agent_days,
    &badges,      &teams,        &gam__team_members,  &memberships,
    &rule_sets,   &rewards,      &redemptions,   &redemption_status,
    &gam__board,  &gam__challenges, &gam__challenge_participants,
    &gam__challenge_results, &gam__challenge_scores, &gam__challenge_windows,
    &gam__rank_pushes, NULL};

const sb_proj_step_t gam__migrations[] = {
    {1,
     "CREATE TABLE {schema}.ledger (tenant_id text NOT NULL, event_id text "
     "NOT NULL, agent_id text NOT NULL, team_id text, kind text NOT NULL, "
     "rule_id text NOT NULL, points bigint NOT NULL, source_event_id text, "
     "source_event_type text, reason text, occurred_at timestamptz NOT NULL, "
     "day date NOT NULL, PRIMARY KEY (tenant_id, event_id));\n"
     "CREATE INDEX ON {schema}.ledger (tenant_id, agent_id, occurred_at);\n"
     "CREATE TABLE {schema}.balances (tenant_id text NOT NULL, agent_id text "
     "NOT NULL, balance bigint NOT NULL DEFAULT 0, earned bigint NOT NULL "
     "DEFAULT 0, reversed bigint NOT NULL DEFAULT 0, redeemed bigint NOT NULL "
     "DEFAULT 0, entries bigint NOT NULL DEFAULT 0, updated_at timestamptz, "
     "PRIMARY KEY (tenant_id, agent_id));\n"
     "CREATE TABLE {schema}.team_balances (tenant_id text NOT NULL, team_id "
     "text NOT NULL, balance bigint NOT NULL DEFAULT 0, entries bigint NOT "
     "NULL DEFAULT 0, updated_at timestamptz, PRIMARY KEY (tenant_id, "
     "team_id));\n"
     "CREATE TABLE {schema}.agent_days (tenant_id text NOT NULL, agent_id "
     "text NOT NULL, day date NOT NULL, points bigint NOT NULL DEFAULT 0, "
     "PRIMARY KEY (tenant_id, agent_id, day));\n"
     "CREATE TABLE {schema}.badges (tenant_id text NOT NULL, agent_id text "
     "NOT NULL, badge_id text NOT NULL, tier text NOT NULL, badge_name text, "
     "team_id text, event_id text NOT NULL, awarded_at timestamptz NOT NULL, "
     "PRIMARY KEY (tenant_id, agent_id, badge_id, tier));\n"
     "CREATE TABLE {schema}.teams (tenant_id text NOT NULL, team_id text NOT "
     "NULL, name text, supervisor_id text, created_at timestamptz NOT NULL, "
     "PRIMARY KEY (tenant_id, team_id));\n"
     "CREATE TABLE {schema}.team_members (tenant_id text NOT NULL, agent_id "
     "text NOT NULL, team_id text, since timestamptz NOT NULL, PRIMARY KEY "
     "(tenant_id, agent_id));\n"
     "CREATE TABLE {schema}.memberships (tenant_id text NOT NULL, event_id "
     "text NOT NULL, agent_id text NOT NULL, team_id text NOT NULL, action "
     "text NOT NULL, occurred_at timestamptz NOT NULL, PRIMARY KEY "
     "(tenant_id, event_id));\n"
     "CREATE TABLE {schema}.rule_sets (tenant_id text NOT NULL, event_id text "
     "NOT NULL, rules_version text NOT NULL, published_at timestamptz NOT "
     "NULL, rules jsonb NOT NULL, PRIMARY KEY (tenant_id, event_id));\n"
     "CREATE TABLE {schema}.rewards (tenant_id text NOT NULL, reward_id text "
     "NOT NULL, name text NOT NULL, points_cost bigint NOT NULL, active "
     "boolean NOT NULL, description text, updated_at timestamptz NOT NULL, "
     "PRIMARY KEY (tenant_id, reward_id));\n"
     "CREATE TABLE {schema}.redemptions (tenant_id text NOT NULL, "
     "redemption_id text NOT NULL, agent_id text NOT NULL, reward_id text NOT "
     "NULL, points_cost bigint NOT NULL, requested_at timestamptz NOT NULL, "
     "event_id text NOT NULL, PRIMARY KEY (tenant_id, redemption_id));\n"
     "CREATE TABLE {schema}.redemption_status (tenant_id text NOT NULL, "
     "redemption_id text NOT NULL, agent_id text NOT NULL, status text NOT "
     "NULL, points_cost bigint, balance_after bigint, reason text, "
     "settled_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, "
     "redemption_id));\n"
     "CREATE VIEW {schema}.redemption_board WITH (security_invoker = true) "
     "AS SELECT q.tenant_id, q.redemption_id, q.agent_id, q.reward_id, "
     "q.points_cost, q.requested_at, coalesce(s.status, 'requested') AS "
     "status, s.reason, s.balance_after, s.settled_at FROM "
     "{schema}.redemptions q LEFT JOIN {schema}.redemption_status s USING "
     "(tenant_id, redemption_id);\n" GRANT("ledger") GRANT("balances")
         GRANT("team_balances") GRANT("agent_days") GRANT("badges")
             GRANT("teams") GRANT("team_members") GRANT("memberships")
                 GRANT("rule_sets") GRANT("rewards") GRANT("redemptions")
                     GRANT("redemption_status") GRANT("redemption_board")},
    {2, gam__board_sql},
    {3, gam__challenge_sql},
    {4, gam__challenge_window_sql},
    {5, "ALTER TABLE {schema}.ledger ADD COLUMN campaign_id text;\n"},
    {6, gam__rank_pushes_sql},
    {0, NULL},
};

const sb_view_def_t gam__views[] = {
    {.name = "ledger",
     .relation = "ledger",
     .about = "every points.awarded (+) and points.reversed (-): the ledger",
     .time_col = "occurred_at",
     .order = "occurred_at,event_id",
     .filters = "agent=agent_id,team=team_id,rule=rule_id,kind=kind",
     .owner_col = "agent_id"},
    {.name = "balances",
     .relation = "balances",
     .about = "each agent's balance: the sum of its ledger",
     .order = "agent_id",
     .filters = "agent=agent_id",
     .owner_col = "agent_id"}, /* an agent its own (the feed says no more) */
    {.name = "team_balances",
     .relation = "team_balances",
     .about = "each team's points: the ledger entries earned for it",
     .order = "team_id",
     .filters = "team=team_id",
     .flags = SB_VIEW_AGENTS_ALL},
    {.name = "agent_days",
     .relation = "agent_days",
     .about = "points per agent and local day",
     .time_col = "day",
     .order = "day,agent_id",
     .filters = "agent=agent_id",
     .owner_col = "agent_id",
     .flags = SB_VIEW_AGENTS_ALL},
    {.name = "badges",
     .relation = "badges",
     .about = "badges and tiers earned",
     .time_col = "awarded_at",
     .order = "agent_id,badge_id,tier",
     .filters = "agent=agent_id,badge=badge_id,team=team_id",
     .owner_col = "agent_id"}, /* an agent its own (the feed says no more) */
    {.name = "teams",
     .relation = "teams",
     .about = "the teams",
     .order = "team_id",
     .flags = SB_VIEW_AGENTS_ALL},
    {.name = "team_members",
     .relation = "team_members",
     .about = "which team each agent is in now",
     .order = "agent_id",
     .filters = "team=team_id,agent=agent_id",
     .owner_col = "agent_id",
     .flags = SB_VIEW_AGENTS_ALL},
    {.name = "rewards",
     .relation = "rewards",
     .about = "the reward catalogue",
     .order = "reward_id",
     .flags = SB_VIEW_AGENTS_ALL},
    {.name = "redemptions",
     .relation = "redemption_board",
     .about = "reward redemptions and what became of them",
     .time_col = "requested_at",
     .order = "requested_at,redemption_id",
     .filters = "agent=agent_id,status=status,reward=reward_id",
     .owner_col = "agent_id"},
    {.name = "rule_sets",
     .relation = "rule_sets",
     .about = "the point rule sets published",
     .time_col = "published_at",
     .order = "published_at,event_id"},
    {.name = "leaderboard",
     .relation = "leaderboard",
     .about = "ranks per span (day, week, month, all), period and scope "
              "(tenant, team, campaign); ties to who got there first",
     .order = "span,period,scope,scope_id,rank",
     .filters = "span=span,period=period,scope=scope,team=scope_id,"
                "campaign=scope_id,agent=agent_id",
     .flags = SB_VIEW_AGENTS_ALL},
    {.name = "around_me",
     .relation = "leaderboard_around",
     .about = "an agent's rank and the 5 ranks each side of it, per board",
     .order = "me_agent_id,span,period,scope,scope_id,rank",
     .filters = "span=span,period=period,scope=scope,team=scope_id,"
                "campaign=scope_id,me=me_agent_id",
     .owner_col = "me_agent_id"},
    {.name = "challenges",
     .relation = "challenges",
     .about = "the challenges (race, battle, head_to_head)",
     .order = "challenge_id",
     .flags = SB_VIEW_AGENTS_ALL},
    {.name = "challenge_standings",
     .relation = "challenge_standings",
     .about = "each challenge window's scores and places, from the ledger",
     .time_col = "window_start",
     .order = "challenge_id,window_start,place",
     .filters = "challenge=challenge_id,participant=participant_id",
     .flags = SB_VIEW_AGENTS_ALL},
    {.name = "challenge_results",
     .relation = "challenge_results",
     .about = "challenge.won: each closed window's final ranking (a race's "
              "places as reached)",
     .time_col = "window_start",
     .order = "challenge_id,window_start,place",
     .filters = "challenge=challenge_id,participant=participant_id",
     .flags = SB_VIEW_AGENTS_ALL},
    {.name = "challenge_windows",
     .relation = "challenge_windows",
     .about = "challenge.opened and challenge.closed: each window's bounds, "
              "when it opened and closed, and how many took part",
     .time_col = "window_start",
     .order = "challenge_id,window_start",
     .filters = "challenge=challenge_id",
     .flags = SB_VIEW_AGENTS_ALL},
    {0},
};

/* ---- the projection ------------------------------------------------------- */

static int ledger_row(gam_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                      sb_err_t *err) {
  const char *agent = gam__str(x, ev, t, GX_AGENT);
  const char *team = gam__str(x, ev, t, GX_TEAM);
  const char *rule = gam__str(x, ev, t, GX_RULE);
  const char *campaign = gam__str(x, ev, t, GX_CAMPAIGN);
  int64_t pts = sb_event_i64(ev, x->f[t][GX_POINTS]);
  int rev = t == GT_REVERSED;
  int redeemed = rev && rule && strcmp(rule, "redemption") == 0;
  int64_t signed_pts = rev ? -pts : pts;
  int64_t day = sb_tenant_day(b, ev->tenant_id, ev->occurred_at);
  const char *T = ev->tenant_id;
  if (agent == NULL || rule == NULL)
    return sb_err_set(err, SB_EVALIDATE, "%s: needs agent_id and rule_id",
                      gam__type_names[t]);
  if (sb_rows_add(b, &ledger,
                  (const sb_val_t[]){
                      SB_V_TEXT(T), SB_V_TEXT(ev->event_id), SB_V_TEXT(agent),
                      SB_V_TEXT(team),
                      SB_V_TEXT(redeemed ? "redemption"
                                : rev    ? "reversal"
                                         : "award"),
                      SB_V_TEXT(rule), SB_V_INT8(signed_pts),
                      SB_V_TEXT(gam__str(x, ev, t, GX_SOURCE_EVENT)),
                      SB_V_TEXT(gam__str(x, ev, t, GX_SOURCE_TYPE)),
                      SB_V_TEXT(gam__str(x, ev, t, GX_REASON)),
                      SB_V_TIMESTAMPTZ(ev->occurred_at), SB_V_DATE(day),
                      SB_V_TEXT(campaign)},
                  err) != 0 ||
      sb_rows_add(b, &balances,
                  (const sb_val_t[]){
                      SB_V_TEXT(T), SB_V_TEXT(agent), SB_V_INT8(signed_pts),
                      SB_V_INT8(rev ? 0 : pts),
                      SB_V_INT8(rev && !redeemed ? pts : 0),
                      SB_V_INT8(redeemed ? pts : 0), SB_V_INT8(1),
                      SB_V_TIMESTAMPTZ(ev->occurred_at)},
                  err) != 0 ||
      sb_rows_add(b, &agent_days,
                  (const sb_val_t[]){SB_V_TEXT(T), SB_V_TEXT(agent),
                                     SB_V_DATE(day), SB_V_INT8(signed_pts)},
                  err) != 0)
    return err->code;
  /* the leaderboards: scoring, not spending */
  if (!redeemed && gam__board_rows(b, T, agent, team, campaign, signed_pts,
                                   day, ev->occurred_at, err) != 0)
    return err->code;
  if (team == NULL)
    return 0;
  return sb_rows_add(b, &team_balances,
                     (const sb_val_t[]){SB_V_TEXT(T), SB_V_TEXT(team),
                                        SB_V_INT8(signed_pts), SB_V_INT8(1),
                                        SB_V_TIMESTAMPTZ(ev->occurred_at)},
                     err);
}

int gam__project(gam_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                 sb_err_t *err) {
  const char *T = ev->tenant_id;
  switch (t) {
  case GT_AWARDED:
  case GT_REVERSED:
    return ledger_row(x, b, ev, t, err);
  case GT_BADGE: {
    const char *tier = gam__str(x, ev, t, GX_TIER);
    return sb_rows_add(
        b, &badges,
        (const sb_val_t[]){SB_V_TEXT(T), SB_V_TEXT(gam__str(x, ev, t, GX_AGENT)),
                           SB_V_TEXT(gam__str(x, ev, t, GX_BADGE)),
                           SB_V_TEXT(tier ? tier : "once"),
                           SB_V_TEXT(gam__str(x, ev, t, GX_BADGE_NAME)),
                           SB_V_TEXT(gam__str(x, ev, t, GX_TEAM)),
                           SB_V_TEXT(ev->event_id),
                           SB_V_TIMESTAMPTZ(ev->occurred_at)},
        err);
  }
  case GT_SETTLED: {
    const char *st = gam__str(x, ev, t, GX_STATUS);
    if (st == NULL || strcmp(st, "ignored") == 0)
      return 0; /* a decision on one not held: its status stands */
    return sb_rows_add(
        b, &redemption_status,
        (const sb_val_t[]){
            SB_V_TEXT(T), SB_V_TEXT(gam__str(x, ev, t, GX_REDEMPTION)),
            SB_V_TEXT(gam__str(x, ev, t, GX_AGENT)),
            SB_V_TEXT(gam__str(x, ev, t, GX_STATUS)),
            SB_V_INT8(sb_event_i64(ev, x->f[t][GX_COST])),
            SB_V_INT8(sb_event_i64(ev, x->f[t][GX_BALANCE])),
            SB_V_TEXT(gam__str(x, ev, t, GX_REASON)),
            SB_V_TIMESTAMPTZ(ev->occurred_at)},
        err);
  }
  case GT_REQUESTED:
    return sb_rows_add(
        b, &redemptions,
        (const sb_val_t[]){SB_V_TEXT(T),
                           SB_V_TEXT(gam__str(x, ev, t, GX_REDEMPTION)),
                           SB_V_TEXT(gam__str(x, ev, t, GX_AGENT)),
                           SB_V_TEXT(gam__str(x, ev, t, GX_REWARD)),
                           SB_V_INT8(sb_event_i64(ev, x->f[t][GX_COST])),
                           SB_V_TIMESTAMPTZ(ev->occurred_at),
                           SB_V_TEXT(ev->event_id)},
        err);
  case GT_TEAM:
    return sb_rows_add(
        b, &teams,
        (const sb_val_t[]){SB_V_TEXT(T), SB_V_TEXT(gam__str(x, ev, t, GX_TEAM)),
                           SB_V_TEXT(gam__str(x, ev, t, GX_NAME)),
                           SB_V_TEXT(gam__str(x, ev, t, GX_SUPERVISOR)),
                           SB_V_TIMESTAMPTZ(ev->occurred_at)},
        err);
  case GT_MEMBER_ADDED:
  case GT_MEMBER_REMOVED: {
    const char *agent = gam__str(x, ev, t, GX_AGENT);
    const char *team = gam__str(x, ev, t, GX_TEAM);
    int add = t == GT_MEMBER_ADDED;
    if (sb_rows_add(b, &memberships,
                    (const sb_val_t[]){SB_V_TEXT(T), SB_V_TEXT(ev->event_id),
                                       SB_V_TEXT(agent), SB_V_TEXT(team),
                                       SB_V_TEXT(add ? "added" : "removed"),
                                       SB_V_TIMESTAMPTZ(ev->occurred_at)},
                    err) != 0)
      return err->code;
    /* the current team: written where the agent's state decides
     * (gam_decide.c) */
    return 0;
  }
  case GT_RULES: {
    const char *ver = gam__str(x, ev, t, GX_VERSION);
    const char *json = gam__str(x, ev, t, GX_RULES_JSON);
    gam_rules_t *r = NULL;
    if (gam__rules_parse(json, ver, &r, err) != 0) {
      sb_err_prefix(err, "gamification.rules_published %s: ", ev->event_id);
      return err->code;
    }
    gam__rules_free(r);
    return sb_rows_add(b, &rule_sets,
                       (const sb_val_t[]){SB_V_TEXT(T), SB_V_TEXT(ev->event_id),
                                          SB_V_TEXT(ver),
                                          SB_V_TIMESTAMPTZ(ev->occurred_at),
                                          SB_V_JSONB(json)},
                       err);
  }
  case GT_REWARD_CREATED:
  case GT_REWARD_UPDATED: {
    int64_t cost = sb_event_i64(ev, x->f[t][GX_COST]);
    const char *rid = gam__str(x, ev, t, GX_REWARD);
    if (rid == NULL || cost < 1)
      return sb_err_set(err, SB_EVALIDATE,
                        "%s: needs reward_id and points_cost of at least 1",
                        gam__type_names[t]);
    int active = !sb_event_has(ev, x->f[t][GX_ACTIVE]) ||
                 sb_event_bool(ev, x->f[t][GX_ACTIVE]);
    return sb_rows_add(
        b, &rewards,
        (const sb_val_t[]){SB_V_TEXT(T), SB_V_TEXT(rid),
                           SB_V_TEXT(gam__str(x, ev, t, GX_NAME)), SB_V_INT8(cost),
                           SB_V_BOOL(active),
                           SB_V_TEXT(gam__str(x, ev, t, GX_DESCRIPTION)),
                           SB_V_TIMESTAMPTZ(ev->occurred_at)},
        err);
  }
  case GT_CHALLENGE:
    return gam__challenge_row(x, b, ev, err);
  case GT_SCORE:
  case GT_WON:
  case GT_OPENED:
  case GT_CLOSED:
    return gam__challenge_result(x, b, ev, t, err);
  case GT_RANK:
    return gam__rank_row(x, b, ev, err);
  default:
    return 0;
  }
}

