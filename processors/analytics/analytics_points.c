/* analytics: gamification points (sb.gamification) -> points_hour.
 *
 * points.awarded and points.reversed (written by the gamification
 * processor) summed per agent and team in the hour of the award or
 * reversal: awarded, reversed and net points. Each event stands alone; a
 * duplicate (same event id, within analytics.dedupe_window_s) counts once
 * (the kit already drops the copies of an uncommitted batch). */
#include "analytics_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct an_points_s {
  sb_etype_ref_t awarded, reversed;
  sb_field_t aw_agent, aw_team, aw_points, rv_agent, rv_team, rv_points;
} an_points_t;

const sb_table_def_t an_points_hour = {
    .name = "points_hour",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"hour_start", SB_COL_TIMESTAMPTZ, 0},
            {"agent_id", SB_COL_TEXT, SB_COL_OWNER},
            {"team_id", SB_COL_TEXT, 0},
            {"day", SB_COL_DATE, SB_MERGE_REPLACE},
            {"awards", SB_COL_INT8, SB_MERGE_SUM},
            {"reversals", SB_COL_INT8, SB_MERGE_SUM},
            {"points_awarded", SB_COL_INT8, SB_MERGE_SUM},
            {"points_reversed", SB_COL_INT8, SB_MERGE_SUM},
            {"points", SB_COL_INT8, SB_MERGE_SUM},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "hour_start", "agent_id",
                                 "team_id", NULL},
    .retention_class = "gamification",
    .retention_col = "hour_start",
};

int an_points_new(an_t *a, an_points_t **out, sb_err_t *err) {
  an_points_t *p = calloc(1, sizeof *p);
  if (p == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  static const char *const aw = "points.awarded", *const rv =
                                                      "points.reversed";
  const an_field_t fields[] = {
      {aw, "agent_id", &p->aw_agent}, {aw, "team_id", &p->aw_team},
      {aw, "points", &p->aw_points},  {rv, "agent_id", &p->rv_agent},
      {rv, "team_id", &p->rv_team},   {rv, "points", &p->rv_points},
  };
  int rc = sb_codec_type(a->schemas, aw, &p->awarded, err);
  if (rc == 0)
    rc = sb_codec_type(a->schemas, rv, &p->reversed, err);
  if (rc == 0)
    rc = an_resolve(a->schemas, fields, sizeof fields / sizeof fields[0], err);
  if (rc != 0) {
    free(p);
    return rc;
  }
  *out = p;
  return 0;
}

void an_points_free(an_points_t *p) { free(p); }

int an_points_event(an_t *a, sb_batch_t *b, const sb_event_t *ev, int *mine,
                    sb_err_t *err) {
  an_points_t *p = a->points;
  int aw = sb_event_type_is(ev, p->awarded),
      rv = sb_event_type_is(ev, p->reversed);
  *mine = aw || rv;
  if (!*mine)
    return 0;
  const char *agent = sb_event_str(ev, aw ? p->aw_agent : p->rv_agent);
  if (agent == NULL)
    return 0;
  int seen;
  if (an_seen(a, b, ev, &seen, err) != 0)
    return err->code;
  if (seen)
    return 0;
  const char *team = sb_event_str(ev, aw ? p->aw_team : p->rv_team);
  int64_t n = sb_event_i64(ev, aw ? p->aw_points : p->rv_points);
  if (rv && n < 0) /* a reversal takes points back, whichever sign it gives */
    n = -n;
  const char *tenant = ev->tenant_id;
  int64_t t = ev->occurred_at;
  return sb_rows_add(b, &an_points_hour,
                     (const sb_val_t[]){
                         SB_V_TEXT(tenant),
                         SB_V_TIMESTAMPTZ(sb_tenant_hour_start(b, tenant, t)),
                         SB_V_TEXT(agent),
                         SB_V_TEXT(team ? team : ""),
                         SB_V_DATE(sb_tenant_day(b, tenant, t)),
                         SB_V_INT8(aw),
                         SB_V_INT8(rv),
                         SB_V_INT8(aw ? n : 0),
                         SB_V_INT8(rv ? n : 0),
                         SB_V_INT8(aw ? n : -n),
                     },
                     err);
}
