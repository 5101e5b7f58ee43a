/* Challenges, read side: challenge.created (managers and supervisors, on
 * sb.gamification keyed by challenge) kept as rows, and the standings of
 * each challenge window computed by SQL from the ledger when read:
 *
 *   challenges              one row per challenge (the latest
 *                           challenge.created of its id): kind, period,
 *                           metric, bounds, target, team or individual
 *   challenge_participants  the agents (or teams) named; none: everyone
 *   challenge_standings     per challenge, window and participant: the
 *                           score (the ledger's awards minus reversals of
 *                           the metric in the window), when it was reached,
 *                           when the target was first reached (race), and
 *                           the place
 *
 * The kind: race when the challenge has a target_score (first to reach
 * it), head_to_head when it names exactly two participants, else battle
 * (highest score at the end). Windows are the period's (daily, weekly:
 * ISO weeks, monthly) in the tenant's time zone, cut from the ledger's
 * local day, within [starts_at, ends_at) when given (a custom challenge:
 * its bounds). The standings are computed at read from the ledger (also
 * for windows still open); the decisions (challenge.score_updated,
 * challenge.won) are gam_chal_decide.c's, read back here as
 * challenge_scores and challenge_results, and its windows' openings and
 * closes (challenge.opened, challenge.closed) as challenge_windows. */
#include "gam_int.h"

#include <string.h>

#define R SB_MERGE_REPLACE
#define K SB_MERGE_KEEP

const sb_table_def_t gam__challenges = {
    .name = "challenges",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"challenge_id", SB_COL_TEXT, 0},
                               {"name", SB_COL_TEXT, R},
                               {"kind", SB_COL_TEXT, R},
                               {"period", SB_COL_TEXT, R},
                               {"metric", SB_COL_TEXT, R},
                               {"starts_at", SB_COL_TIMESTAMPTZ, R},
                               {"ends_at", SB_COL_TIMESTAMPTZ, R},
                               {"team_based", SB_COL_BOOL, R},
                               {"target_score", SB_COL_INT8, R},
                               {"reward_points", SB_COL_INT8, R},
                               {"created_at", SB_COL_TIMESTAMPTZ, R},
                               {0}},
    .key = (const char *const[]){"tenant_id", "challenge_id", NULL},
};
const sb_table_def_t gam__challenge_participants = {
    .name = "challenge_participants",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"challenge_id", SB_COL_TEXT, 0},
                               {"participant_id", SB_COL_TEXT, 0},
                               {"added_at", SB_COL_TIMESTAMPTZ, K},
                               {0}},
    .key = (const char *const[]){"tenant_id", "challenge_id", "participant_id",
                                 NULL},
};

const sb_table_def_t gam__challenge_results = {
    .name = "challenge_results",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"challenge_id", SB_COL_TEXT, 0},
                               {"window_start", SB_COL_TIMESTAMPTZ, 0},
                               {"place", SB_COL_INT4, 0},
                               {"participant_id", SB_COL_TEXT, R},
                               {"final_score", SB_COL_INT8, R},
                               {"window_end", SB_COL_TIMESTAMPTZ, R},
                               {"reward_points", SB_COL_INT8, R},
                               {"event_id", SB_COL_TEXT, R},
                               {"decided_at", SB_COL_TIMESTAMPTZ, R},
                               {0}},
    .key = (const char *const[]){"tenant_id", "challenge_id", "window_start",
                                 "place", NULL},
};
const sb_table_def_t gam__challenge_scores = {
    .name = "challenge_scores",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"challenge_id", SB_COL_TEXT, 0},
                               {"window_start", SB_COL_TIMESTAMPTZ, 0},
                               {"participant_id", SB_COL_TEXT, 0},
                               {"score", SB_COL_INT8, R},
                               {"updates", SB_COL_INT8, SB_MERGE_SUM},
                               {"updated_at", SB_COL_TIMESTAMPTZ, R},
                               {0}},
    .key = (const char *const[]){"tenant_id", "challenge_id", "window_start",
                                 "participant_id", NULL},
};

/* the opening and the close of a window meet in one row: each sets its
 * columns, the other's are NULL (max: NULL counts as nothing) */
const sb_table_def_t gam__challenge_windows = {
    .name = "challenge_windows",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"challenge_id", SB_COL_TEXT, 0},
                               {"window_start", SB_COL_TIMESTAMPTZ, 0},
                               {"window_end", SB_COL_TIMESTAMPTZ, SB_MERGE_MAX},
                               {"opened_at", SB_COL_TIMESTAMPTZ, SB_MERGE_MAX},
                               {"closed_at", SB_COL_TIMESTAMPTZ, SB_MERGE_MAX},
                               {"participants", SB_COL_INT4, SB_MERGE_MAX},
                               {0}},
    .key = (const char *const[]){"tenant_id", "challenge_id", "window_start",
                                 NULL},
};

const char gam__challenge_window_sql[] =
    "CREATE TABLE {schema}.challenge_windows (tenant_id text NOT NULL, "
    "challenge_id text NOT NULL, window_start timestamptz NOT NULL, "
    "window_end timestamptz, opened_at timestamptz, closed_at timestamptz, "
    "participants integer, PRIMARY KEY (tenant_id, challenge_id, "
    "window_start));\n"
    "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.challenge_windows TO "
    "switchboard_app;\n";

static int window_row(gam_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                      const char *cid, sb_err_t *err) {
  const sb_field_t *F = x->f[t];
  sb_val_t at = SB_V_TIMESTAMPTZ(ev->occurred_at), none = SB_V_NULL;
  return sb_rows_add(
      b, &gam__challenge_windows,
      (const sb_val_t[]){
          SB_V_TEXT(ev->tenant_id), SB_V_TEXT(cid),
          SB_V_TIMESTAMPTZ(sb_event_i64(ev, F[GX_WSTART])),
          SB_V_TIMESTAMPTZ(sb_event_i64(ev, F[GX_WEND])),
          t == GT_OPENED ? at : none, t == GT_CLOSED ? at : none,
          t == GT_CLOSED
              ? (sb_val_t)SB_V_INT4(sb_event_i64(ev, F[GX_PARTICIPANTS]))
              : none},
      err);
}

int gam__challenge_result(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                          int t, sb_err_t *err) {
  const sb_field_t *F = x->f[t];
  if (t == GT_OPENED || t == GT_CLOSED) {
    const char *cid = gam__str(x, ev, t, GX_CHALLENGE);
    if (cid == NULL || !sb_event_has(ev, F[GX_WSTART]) ||
        !sb_event_has(ev, F[GX_WEND]))
      return sb_err_set(err, SB_EVALIDATE, "%s: needs challenge_id and the "
                        "window's bounds", gam__type_names[t]);
    return window_row(x, b, ev, t, cid, err);
  }
  const char *pid = gam__str(x, ev, t, GX_AGENT);
  if (pid == NULL)
    pid = gam__str(x, ev, t, GX_TEAM);
  const char *cid = gam__str(x, ev, t, GX_CHALLENGE);
  if (pid == NULL || cid == NULL)
    return sb_err_set(err, SB_EVALIDATE, "%s: needs challenge_id and an "
                      "agent_id or team_id", gam__type_names[t]);
  int64_t ws = sb_event_i64(ev, F[GX_WSTART]);
  if (t == GT_SCORE)
    return sb_rows_add(
        b, &gam__challenge_scores,
        (const sb_val_t[]){SB_V_TEXT(ev->tenant_id), SB_V_TEXT(cid),
                           SB_V_TIMESTAMPTZ(ws), SB_V_TEXT(pid),
                           SB_V_INT8(sb_event_i64(ev, F[GX_SCORE])),
                           SB_V_INT8(1), SB_V_TIMESTAMPTZ(ev->occurred_at)},
        err);
  return sb_rows_add(
      b, &gam__challenge_results,
      (const sb_val_t[]){
          SB_V_TEXT(ev->tenant_id), SB_V_TEXT(cid), SB_V_TIMESTAMPTZ(ws),
          SB_V_INT4(sb_event_i64(ev, F[GX_PLACE])), SB_V_TEXT(pid),
          SB_V_INT8(sb_event_i64(ev, F[GX_FINAL])),
          SB_V_TIMESTAMPTZ(sb_event_i64(ev, F[GX_WEND])),
          sb_event_has(ev, F[GX_REWARD_POINTS])
              ? (sb_val_t)SB_V_INT8(sb_event_i64(ev, F[GX_REWARD_POINTS]))
              : (sb_val_t)SB_V_NULL,
          SB_V_TEXT(ev->event_id), SB_V_TIMESTAMPTZ(ev->occurred_at)},
      err);
}

const char gam__challenge_sql[] =
    "CREATE TABLE {schema}.challenges (tenant_id text NOT NULL, challenge_id "
    "text NOT NULL, name text, kind text NOT NULL, period text NOT NULL, "
    "metric text NOT NULL, starts_at timestamptz, ends_at timestamptz, "
    "team_based boolean NOT NULL, target_score bigint, reward_points bigint, "
    "created_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, "
    "challenge_id));\n"
    "CREATE TABLE {schema}.challenge_participants (tenant_id text NOT NULL, "
    "challenge_id text NOT NULL, participant_id text NOT NULL, added_at "
    "timestamptz NOT NULL, PRIMARY KEY (tenant_id, challenge_id, "
    "participant_id));\n"
    "CREATE TABLE {schema}.challenge_results (tenant_id text NOT NULL, "
    "challenge_id text NOT NULL, window_start timestamptz NOT NULL, place "
    "integer NOT NULL, participant_id text NOT NULL, final_score bigint, "
    "window_end timestamptz, reward_points bigint, event_id text NOT NULL, "
    "decided_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, challenge_id, "
    "window_start, place));\n"
    "CREATE TABLE {schema}.challenge_scores (tenant_id text NOT NULL, "
    "challenge_id text NOT NULL, window_start timestamptz NOT NULL, "
    "participant_id text NOT NULL, score bigint NOT NULL, updates bigint NOT "
    "NULL DEFAULT 0, updated_at timestamptz NOT NULL, PRIMARY KEY "
    "(tenant_id, challenge_id, window_start, participant_id));\n"
    "CREATE INDEX ON {schema}.ledger (tenant_id, day);\n"
    "CREATE VIEW {schema}.challenge_standings WITH (security_invoker = true) "
    "AS WITH e AS (SELECT c.tenant_id, c.challenge_id, c.kind, c.period, "
    "c.target_score, CASE c.period WHEN 'daily' THEN l.day WHEN 'weekly' "
    "THEN date_trunc('week', l.day)::date ELSE date_trunc('month', "
    "l.day)::date END AS window_start, CASE WHEN c.team_based THEN l.team_id "
    "ELSE l.agent_id END AS participant_id, l.points, l.occurred_at, "
    "l.event_id FROM {schema}.challenges c JOIN {schema}.ledger l ON "
    "l.tenant_id = c.tenant_id AND l.kind <> 'redemption' AND (c.starts_at "
    "IS NULL OR l.occurred_at >= c.starts_at) AND (c.ends_at IS NULL OR "
    "l.occurred_at < c.ends_at) AND (c.metric = 'points' OR c.metric = "
    "'rule:' || l.rule_id) WHERE (NOT c.team_based OR l.team_id IS NOT NULL) "
    "AND (NOT EXISTS (SELECT 1 FROM {schema}.challenge_participants p WHERE "
    "p.tenant_id = c.tenant_id AND p.challenge_id = c.challenge_id) OR "
    "EXISTS (SELECT 1 FROM {schema}.challenge_participants p WHERE "
    "p.tenant_id = c.tenant_id AND p.challenge_id = c.challenge_id AND "
    "p.participant_id = CASE WHEN c.team_based THEN l.team_id ELSE "
    "l.agent_id END))), "
    "r AS (SELECT e.*, sum(points) OVER (PARTITION BY tenant_id, "
    "challenge_id, window_start, participant_id ORDER BY occurred_at, "
    "event_id) AS running FROM e), "
    "s AS (SELECT tenant_id, challenge_id, kind, window_start, "
    "participant_id, sum(points) AS score, max(occurred_at) AS reached_at, "
    "min(occurred_at) FILTER (WHERE running >= target_score) AS target_at "
    "FROM r GROUP BY tenant_id, challenge_id, kind, period, window_start, "
    "participant_id) "
    "SELECT tenant_id, challenge_id, kind, window_start, participant_id, "
    "score, reached_at, target_at, row_number() OVER (PARTITION BY "
    "tenant_id, challenge_id, window_start ORDER BY CASE WHEN kind = 'race' "
    "THEN target_at END NULLS LAST, score DESC, reached_at, participant_id) "
    "AS place FROM s;\n"
    "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.challenges, "
    "{schema}.challenge_participants, {schema}.challenge_results, "
    "{schema}.challenge_scores TO switchboard_app;\n"
    "GRANT SELECT ON {schema}.challenge_standings TO switchboard_app;\n";

int gam__challenge_row(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                       sb_err_t *err) {
  const int t = GT_CHALLENGE;
  const sb_field_t *F = x->f[t];
  const char *T = ev->tenant_id;
  const char *id = gam__str(x, ev, t, GX_CHALLENGE);
  const char *period = gam__str(x, ev, t, GX_PERIOD);
  const char *metric = gam__str(x, ev, t, GX_METRIC);
  int team = sb_event_has(ev, F[GX_TEAM_BASED]) &&
             sb_event_bool(ev, F[GX_TEAM_BASED]);
  if (metric == NULL)
    metric = "points";
  if (id == NULL || period == NULL)
    return sb_err_set(err, SB_EVALIDATE,
                      "challenge.created: needs challenge_id and period");
  if (strcmp(metric, "points") != 0 &&
      (strncmp(metric, "rule:", 5) != 0 || metric[5] == '\0'))
    return sb_err_set(err, SB_EVALIDATE,
                      "challenge.created %s: metric '%.64s': the challenges "
                      "count 'points' or 'rule:<rule id>'",
                      id, metric);
  sb_field_t pf = F[team ? GX_TEAM_IDS : GX_AGENT_IDS];
  size_t np = sb_event_has(ev, pf) ? sb_event_count(ev, pf) : 0;
  int has_target = sb_event_has(ev, F[GX_TARGET]);
  int64_t target = has_target ? sb_event_i64(ev, F[GX_TARGET]) : 0;
  if (has_target && target < 1)
    return sb_err_set(err, SB_EVALIDATE,
                      "challenge.created %s: target_score must be at least 1",
                      id);
  const char *kind = has_target ? "race" : np == 2 ? "head_to_head" : "battle";
  int has_s = sb_event_has(ev, F[GX_STARTS]), has_e = sb_event_has(ev, F[GX_ENDS]);
  int64_t s_us = has_s ? sb_event_i64(ev, F[GX_STARTS]) : 0;
  int64_t e_us = has_e ? sb_event_i64(ev, F[GX_ENDS]) : 0;
  if (has_s && has_e && e_us <= s_us)
    return sb_err_set(err, SB_EVALIDATE,
                      "challenge.created %s: ends_at must be after starts_at",
                      id);
  sb_val_t row[] = {
      SB_V_TEXT(T),
      SB_V_TEXT(id),
      SB_V_TEXT(gam__str(x, ev, t, GX_NAME)),
      SB_V_TEXT(kind),
      SB_V_TEXT(period),
      SB_V_TEXT(metric),
      has_s ? (sb_val_t)SB_V_TIMESTAMPTZ(s_us) : (sb_val_t)SB_V_NULL,
      has_e ? (sb_val_t)SB_V_TIMESTAMPTZ(e_us) : (sb_val_t)SB_V_NULL,
      SB_V_BOOL(team),
      has_target ? (sb_val_t)SB_V_INT8(target) : (sb_val_t)SB_V_NULL,
      sb_event_has(ev, F[GX_REWARD_POINTS])
          ? (sb_val_t)SB_V_INT8(sb_event_i64(ev, F[GX_REWARD_POINTS]))
          : (sb_val_t)SB_V_NULL,
      SB_V_TIMESTAMPTZ(ev->occurred_at)};
  if (sb_rows_add(b, &gam__challenges, row, err) != 0)
    return err->code;
  for (size_t i = 0; i < np; i++) {
    const char *p = sb_event_str_at(ev, pf, i);
    if (p == NULL || p[0] == '\0')
      continue;
    if (sb_rows_add(b, &gam__challenge_participants,
                    (const sb_val_t[]){SB_V_TEXT(T), SB_V_TEXT(id),
                                       SB_V_TEXT(p),
                                       SB_V_TIMESTAMPTZ(ev->occurred_at)},
                    err) != 0)
      return err->code;
  }
  return 0;
}
