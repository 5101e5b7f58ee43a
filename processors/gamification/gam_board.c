/* Leaderboards: the table board (points per window, period, scope and
 * agent, from the ledger) and the SQL views that rank it:
 *
 *   board               per (span, period, scope, scope_id, agent): the
 *                       points the ledger's awards and reversals add up to
 *                       in that window (redemptions are spending, not
 *                       scoring: they move no rank), and reached_at, the
 *                       time of the latest entry (when the agent reached
 *                       its total)
 *   leaderboard         board ranked: rank 1 the most points, ties broken
 *                       by who got there first (reached_at), then agent id;
 *                       of_agents the number ranked
 *   leaderboard_around  per agent (me_agent_id) its own row and the
 *                       GAM_AROUND ranks above and below it in each board
 *                       (distance = rank - my rank): "around me"
 *
 * Spans: day (the local day in the tenant's zone, as the ledger's day),
 * week (ISO week: the local Monday), month (the local first of the month)
 * and all (period 1970-01-01); a period is that first day as text,
 * YYYY-MM-DD (an equality the read API's filter keeps on the index). Scopes: tenant (scope_id '') and team (the
 * team the points were credited to, as team_balances), and campaign (the
 * campaign of the entry's source event, a reversal the one of the award it
 * takes back; an entry without one is on no campaign's board). */
#include "gam_int.h"

#include <stdio.h>
#include <string.h>

#define S SB_MERGE_SUM
#define M SB_MERGE_MAX

/* a board's agent: the key of board and rank_pushes */
#define BOARD_AGENT_COLS                                                       \
  {"tenant_id", SB_COL_TEXT, 0}, {"span", SB_COL_TEXT, 0},                    \
      {"period", SB_COL_TEXT, 0}, {"scope", SB_COL_TEXT, 0},                  \
      {"scope_id", SB_COL_TEXT, 0}, {"agent_id", SB_COL_TEXT, SB_COL_OWNER}
static const char *const board_agent_key[] = {
    "tenant_id", "span", "period", "scope", "scope_id", "agent_id", NULL};

const sb_table_def_t gam__board = {
    .name = "board",
    .cols = (const sb_col_t[]){BOARD_AGENT_COLS,
                               {"points", SB_COL_INT8, S},
                               {"entries", SB_COL_INT8, S},
                               {"reached_at", SB_COL_TIMESTAMPTZ, M},
                               {0}},
    .key = board_agent_key,
};

#define STR_(x) #x
#define STR(x) STR_(x)
#define BOARD_KEY "tenant_id, span, period, scope, scope_id"

const char gam__board_sql[] =
    "CREATE TABLE {schema}.board (tenant_id text NOT NULL, span text NOT "
    "NULL, period text NOT NULL, scope text NOT NULL, scope_id text NOT NULL, "
    "agent_id text NOT NULL, points bigint NOT NULL DEFAULT 0, entries "
    "bigint NOT NULL DEFAULT 0, reached_at timestamptz NOT NULL, PRIMARY KEY "
    "(" BOARD_KEY ", agent_id));\n"
    "CREATE VIEW {schema}.leaderboard WITH (security_invoker = true) AS "
    "SELECT " BOARD_KEY ", agent_id, points, reached_at, entries, "
    "row_number() OVER (PARTITION BY " BOARD_KEY
    " ORDER BY points DESC, reached_at, agent_id) AS rank, count(*) OVER "
    "(PARTITION BY " BOARD_KEY ") AS of_agents FROM {schema}.board;\n"
    "CREATE VIEW {schema}.leaderboard_around WITH (security_invoker = true) "
    "AS SELECT me.agent_id AS me_agent_id, me.rank AS me_rank, o.tenant_id, "
    "o.span, o.period, o.scope, o.scope_id, o.agent_id, o.points, "
    "o.reached_at, o.rank, o.rank - me.rank AS distance, o.of_agents FROM "
    "{schema}.leaderboard me JOIN {schema}.leaderboard o ON o.tenant_id = "
    "me.tenant_id AND o.span = me.span AND o.period = me.period AND o.scope "
    "= me.scope AND o.scope_id = me.scope_id AND o.rank BETWEEN me.rank - "
    STR(GAM_AROUND) " AND me.rank + " STR(GAM_AROUND) ";\n"
    "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.board TO "
    "switchboard_app;\n"
    "GRANT SELECT ON {schema}.leaderboard, {schema}.leaderboard_around TO "
    "switchboard_app;\n";

/* the civil date of z (days since 1970-01-01; proleptic Gregorian, H.
 * Hinnant's civil_from_days) */
static void civil(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

/* days since 1970-01-01 of the first of day's month */
static int64_t month_start(int64_t z) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  /* day 1 of the same month: doy of its first day */
  int64_t doy1 = (153 * mp + 2) / 5;
  return era * 146097 + 365 * yoe + yoe / 4 - yoe / 100 + doy1 - 719468;
}

int64_t gam__period(int span, int64_t day) {
  switch (span) {
  case GAM_SPAN_DAY:
    return day;
  case GAM_SPAN_WEEK: { /* 1970-01-01 was a Thursday: Monday is 3 back */
    int64_t back = ((day + 3) % 7 + 7) % 7;
    return day - back;
  }
  case GAM_SPAN_MONTH:
    return month_start(day);
  default:
    return 0;
  }
}

void gam__period_text(int span, int64_t day, char *out, size_t n) {
  int64_t y;
  int m, d;
  civil(gam__period(span, day), &y, &m, &d);
  snprintf(out, n, "%04lld-%02d-%02d", (long long)y, m, d);
}

/* leaderboard.rank_changed read back: per agent and board, the rank last
 * pushed and how many pushes */
const sb_table_def_t gam__rank_pushes = {
    .name = "rank_pushes",
    .cols = (const sb_col_t[]){BOARD_AGENT_COLS,
                               {"old_rank", SB_COL_INT4, SB_MERGE_REPLACE},
                               {"new_rank", SB_COL_INT4, SB_MERGE_REPLACE},
                               {"points", SB_COL_INT8, SB_MERGE_REPLACE},
                               {"pushes", SB_COL_INT8, S},
                               {"pushed_at", SB_COL_TIMESTAMPTZ, M},
                               {0}},
    .key = board_agent_key,
};

const char gam__rank_pushes_sql[] =
    "CREATE TABLE {schema}.rank_pushes (tenant_id text NOT NULL, span text "
    "NOT NULL, period text NOT NULL, scope text NOT NULL, scope_id text NOT "
    "NULL, agent_id text NOT NULL, old_rank integer, new_rank integer NOT "
    "NULL, points bigint NOT NULL, pushes bigint NOT NULL DEFAULT 0, "
    "pushed_at timestamptz NOT NULL, PRIMARY KEY (" BOARD_KEY
    ", agent_id));\n"
    "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.rank_pushes TO "
    "switchboard_app;\n";

int gam__rank_row(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                  sb_err_t *err) {
  const sb_field_t *F = x->f[GT_RANK];
  const char *agent = gam__str(x, ev, GT_RANK, GX_AGENT);
  const char *span = gam__str(x, ev, GT_RANK, GX_SPAN);
  const char *period = gam__str(x, ev, GT_RANK, GX_PERIOD);
  const char *scope = gam__str(x, ev, GT_RANK, GX_SCOPE);
  const char *sid = gam__str(x, ev, GT_RANK, GX_SCOPE_ID);
  if (agent == NULL || span == NULL || period == NULL || scope == NULL)
    return sb_err_set(err, SB_EVALIDATE, "leaderboard.rank_changed: needs "
                      "agent_id, span, period and scope");
  return sb_rows_add(
      b, &gam__rank_pushes,
      (const sb_val_t[]){
          SB_V_TEXT(ev->tenant_id), SB_V_TEXT(span), SB_V_TEXT(period),
          SB_V_TEXT(scope), SB_V_TEXT(sid ? sid : ""), SB_V_TEXT(agent),
          sb_event_has(ev, F[GX_OLD_RANK])
              ? (sb_val_t)SB_V_INT4(sb_event_i64(ev, F[GX_OLD_RANK]))
              : (sb_val_t)SB_V_NULL,
          SB_V_INT4(sb_event_i64(ev, F[GX_NEW_RANK])),
          SB_V_INT8(sb_event_i64(ev, F[GX_POINTS])), SB_V_INT8(1),
          SB_V_TIMESTAMPTZ(ev->occurred_at)},
      err);
}

const char *const gam__span_names[GAM_SPAN_N] = {"day", "week", "month",
                                                 "all"};

const char *const gam__scope_names[GAM_RK_SCOPES] = {"tenant", "team",
                                                     "campaign"};

int gam__board_rows(sb_batch_t *b, const char *tenant, const char *agent,
                    const char *team, const char *campaign, int64_t points,
                    int64_t day, int64_t at_us, sb_err_t *err) {
  const char *scope_ids[GAM_RK_SCOPES] = {"", team, campaign};
  for (int s = 0; s < GAM_SPAN_N; s++)
    for (int sc = 0; sc < GAM_RK_SCOPES; sc++) {
      char period[16];
      gam__period_text(s, day, period, sizeof period);
      if (scope_ids[sc] == NULL)
        continue;
      if (sb_rows_add(b, &gam__board,
                      (const sb_val_t[]){
                          SB_V_TEXT(tenant), SB_V_TEXT(gam__span_names[s]),
                          SB_V_TEXT(period),
                          SB_V_TEXT(gam__scope_names[sc]),
                          SB_V_TEXT(scope_ids[sc]), SB_V_TEXT(agent),
                          SB_V_INT8(points), SB_V_INT8(1),
                          SB_V_TIMESTAMPTZ(at_us)},
                      err) != 0)
        return err->code;
    }
  return 0;
}
