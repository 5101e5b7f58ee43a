/* analytics: campaigns (sb.campaigns) -> campaigns, spend_hour.
 *
 *   campaigns   one row per campaign: name, state, type, budget, daily
 *               budget, currency, start and end, as its events say. Each
 *               setting is the one of the latest event (by occurred_at,
 *               then event id) that gave it (campaign.created: all;
 *               campaign.updated: those in changed_fields;
 *               campaign.state_changed: state), kept per campaign in keyed
 *               state ("k/<tenant>/<campaign>"), so a late event does not
 *               overwrite a newer setting.
 *   spend_hour  campaign.spend_recorded summed per campaign and lead
 *               source in the hour of its period_start (its occurred_at
 *               when it has none); a duplicate (same event id, within
 *               analytics.dedupe_window_s) counts once.
 *
 * Leads, contacts, sales and revenue per campaign come from the leads and
 * calls tables (the views join them). */
#include "analytics_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAMP_VER 1u

enum { F_NAME, F_STATE, F_TYPE, F_BUDGET, F_DAILY, F_CURRENCY, F_STARTS,
       F_ENDS, NF };
static const char *const fnames[NF] = {
    "name",         "state",    "campaign_type", "budget_cents",
    "daily_budget_cents", "currency", "starts_at",     "ends_at"};

typedef struct {
  int64_t at;
  char eid[32];
  int32_t set, null;
} stamp_t;

typedef struct {
  uint32_t ver, pad;
  stamp_t st[NF];
  int64_t num[NF]; /* budget, daily, starts, ends */
  char name[257], state[24], type[24], currency[8];
} camp_t;

typedef struct an_campaigns_s {
  sb_etype_ref_t created, updated, state, spend;
  sb_field_t cr_id, up_id, up_changed, sc_id, sc_state;
  sb_field_t cr_f[NF], up_f[NF];
  sb_field_t sp_id, sp_amount, sp_source, sp_period, sp_impr, sp_clicks,
      sp_leads;
} an_campaigns_t;

const sb_table_def_t an_campaigns_table = {
    .name = "campaigns",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"campaign_id", SB_COL_TEXT, 0},
            {"name", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"state", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"campaign_type", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"budget_cents", SB_COL_INT8, SB_MERGE_REPLACE},
            {"daily_budget_cents", SB_COL_INT8, SB_MERGE_REPLACE},
            {"currency", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"starts_at", SB_COL_TIMESTAMPTZ, SB_MERGE_REPLACE},
            {"ends_at", SB_COL_TIMESTAMPTZ, SB_MERGE_REPLACE},
            {"updated_at", SB_COL_TIMESTAMPTZ, SB_MERGE_MAX},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "campaign_id", NULL},
};

const sb_table_def_t an_spend_hour = {
    .name = "spend_hour",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"hour_start", SB_COL_TIMESTAMPTZ, 0},
            {"campaign_id", SB_COL_TEXT, 0},
            {"lead_source", SB_COL_TEXT, 0},
            {"day", SB_COL_DATE, SB_MERGE_REPLACE},
            {"spend_cents", SB_COL_INT8, SB_MERGE_SUM},
            {"impressions", SB_COL_INT8, SB_MERGE_SUM},
            {"clicks", SB_COL_INT8, SB_MERGE_SUM},
            {"leads_reported", SB_COL_INT8, SB_MERGE_SUM},
            {"records", SB_COL_INT8, SB_MERGE_SUM},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "hour_start", "campaign_id",
                                 "lead_source", NULL},
    .retention_class = "campaign",
    .retention_col = "hour_start",
};

int an_campaigns_new(an_t *a, an_campaigns_t **out, sb_err_t *err) {
  an_campaigns_t *c = calloc(1, sizeof *c);
  if (c == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  const sb_schemas_t *s = a->schemas;
  static const char *const cr = "campaign.created",
                           *const up = "campaign.updated",
                           *const sc = "campaign.state_changed",
                           *const sp = "campaign.spend_recorded";
  const an_field_t fields[] = {
      {cr, "campaign_id", &c->cr_id},    {up, "campaign_id", &c->up_id},
      {up, "changed_fields", &c->up_changed},
      {sc, "campaign_id", &c->sc_id},    {sc, "state", &c->sc_state},
      {sp, "campaign_id", &c->sp_id},    {sp, "amount_cents", &c->sp_amount},
      {sp, "lead_source", &c->sp_source}, {sp, "period_start", &c->sp_period},
      {sp, "impressions", &c->sp_impr},  {sp, "clicks", &c->sp_clicks},
      {sp, "leads_count", &c->sp_leads},
  };
  int rc = sb_codec_type(s, cr, &c->created, err);
  if (rc == 0)
    rc = sb_codec_type(s, up, &c->updated, err);
  if (rc == 0)
    rc = sb_codec_type(s, sc, &c->state, err);
  if (rc == 0)
    rc = sb_codec_type(s, sp, &c->spend, err);
  if (rc == 0)
    rc = an_resolve(s, fields, sizeof fields / sizeof fields[0], err);
  for (int i = 0; rc == 0 && i < NF; i++) {
    rc = sb_codec_field(s, cr, fnames[i], &c->cr_f[i], err);
    if (rc == 0 && i != F_STATE) /* campaign.updated has no state */
      rc = sb_codec_field(s, up, fnames[i], &c->up_f[i], err);
  }
  if (rc != 0) {
    free(c);
    return rc;
  }
  *out = c;
  return 0;
}

void an_campaigns_free(an_campaigns_t *c) { free(c); }

static int newer(const stamp_t *s, const sb_event_t *ev) {
  if (!s->set)
    return 1;
  if (ev->occurred_at != s->at)
    return ev->occurred_at > s->at;
  return strcmp(ev->event_id, s->eid) > 0;
}

static char *str_of(camp_t *c, int f, size_t *cap) {
  switch (f) {
  case F_NAME:
    *cap = sizeof c->name;
    return c->name;
  case F_STATE:
    *cap = sizeof c->state;
    return c->state;
  case F_TYPE:
    *cap = sizeof c->type;
    return c->type;
  case F_CURRENCY:
    *cap = sizeof c->currency;
    return c->currency;
  default:
    return NULL;
  }
}

/* Sets setting f from field fld of ev when ev is newer than what set it. */
static int apply(camp_t *c, int f, const sb_event_t *ev, sb_field_t fld) {
  if (!newer(&c->st[f], ev))
    return 0;
  stamp_t *s = &c->st[f];
  s->set = 1;
  s->at = ev->occurred_at;
  an_copy(s->eid, sizeof s->eid, ev->event_id);
  s->null = !sb_event_has(ev, fld);
  size_t cap;
  char *dst = str_of(c, f, &cap);
  if (dst != NULL) {
    const char *v = sb_event_str(ev, fld);
    if (v == NULL)
      v = sb_event_enum_name(ev, fld);
    an_copy(dst, cap, s->null ? NULL : v);
  } else {
    c->num[f] = s->null ? 0 : sb_event_i64(ev, fld);
  }
  return 1;
}

static int listed(const sb_event_t *ev, sb_field_t changed, const char *name) {
  size_t n = sb_event_count(ev, changed);
  for (size_t i = 0; i < n; i++) {
    const char *v = sb_event_str_at(ev, changed, i);
    if (v && strcmp(v, name) == 0)
      return 1;
  }
  return 0;
}

static int settings(an_campaigns_t *k, sb_batch_t *b, const sb_event_t *ev,
                    const char *id, sb_err_t *err) {
  if (id == NULL)
    return 0;
  char key[2 * AN_ID_MAX + 8];
  snprintf(key, sizeof key, "k/%s/%s", ev->tenant_id, id);
  camp_t c;
  const void *v;
  size_t len;
  if (sb_state_get(b, key, &v, &len) == 0 && len == sizeof c)
    memcpy(&c, v, sizeof c);
  else
    memset(&c, 0, sizeof c);
  c.ver = CAMP_VER;
  int changed = 0;
  for (int f = 0; f < NF; f++) {
    if (sb_event_type_is(ev, k->created))
      changed |= apply(&c, f, ev, k->cr_f[f]);
    else if (sb_event_type_is(ev, k->updated) && f != F_STATE &&
             listed(ev, k->up_changed, fnames[f]))
      changed |= apply(&c, f, ev, k->up_f[f]);
    else if (sb_event_type_is(ev, k->state) && f == F_STATE)
      changed |= apply(&c, f, ev, k->sc_state);
  }
  if (!changed)
    return 0;
  int64_t updated = 0;
  for (int f = 0; f < NF; f++)
    if (c.st[f].set && c.st[f].at > updated)
      updated = c.st[f].at;
#define NUM(f) (c.st[f].set && !c.st[f].null)
  sb_val_t row[] = {
      SB_V_TEXT(ev->tenant_id),
      SB_V_TEXT(id),
      SB_V_TEXT(c.name[0] ? c.name : NULL),
      SB_V_TEXT(c.state[0] ? c.state : NULL),
      SB_V_TEXT(c.type[0] ? c.type : NULL),
      NUM(F_BUDGET) ? (sb_val_t)SB_V_INT8(c.num[F_BUDGET]) : (sb_val_t)SB_V_NULL,
      NUM(F_DAILY) ? (sb_val_t)SB_V_INT8(c.num[F_DAILY]) : (sb_val_t)SB_V_NULL,
      SB_V_TEXT(c.currency[0] ? c.currency : NULL),
      NUM(F_STARTS) ? (sb_val_t)SB_V_TIMESTAMPTZ(c.num[F_STARTS])
                    : (sb_val_t)SB_V_NULL,
      NUM(F_ENDS) ? (sb_val_t)SB_V_TIMESTAMPTZ(c.num[F_ENDS])
                  : (sb_val_t)SB_V_NULL,
      SB_V_TIMESTAMPTZ(updated),
  };
#undef NUM
  if (sb_state_put(b, key, &c, sizeof c, err) != 0)
    return err->code;
  return sb_rows_add(b, &an_campaigns_table, row, err);
}

static int64_t opt(const sb_event_t *ev, sb_field_t f) {
  return sb_event_has(ev, f) ? sb_event_i64(ev, f) : 0;
}

int an_campaigns_event(an_t *a, sb_batch_t *b, const sb_event_t *ev,
                       int *mine, sb_err_t *err) {
  an_campaigns_t *k = a->campaigns;
  *mine = ev->topic && strcmp(ev->topic, SB_TOPIC_CAMPAIGNS) == 0;
  if (sb_event_type_is(ev, k->created))
    return settings(k, b, ev, sb_event_str(ev, k->cr_id), err);
  if (sb_event_type_is(ev, k->updated))
    return settings(k, b, ev, sb_event_str(ev, k->up_id), err);
  if (sb_event_type_is(ev, k->state))
    return settings(k, b, ev, sb_event_str(ev, k->sc_id), err);
  if (!sb_event_type_is(ev, k->spend))
    return 0;
  *mine = 1;
  int seen;
  if (an_seen(a, b, ev, &seen, err) != 0)
    return err->code;
  if (seen)
    return 0;
  const char *tenant = ev->tenant_id;
  int64_t at = sb_event_has(ev, k->sp_period) ? sb_event_i64(ev, k->sp_period)
                                              : ev->occurred_at;
  const char *src = sb_event_enum_name(ev, k->sp_source);
  return sb_rows_add(b, &an_spend_hour,
                     (const sb_val_t[]){
                         SB_V_TEXT(tenant),
                         SB_V_TIMESTAMPTZ(sb_tenant_hour_start(b, tenant, at)),
                         SB_V_TEXT(sb_event_str(ev, k->sp_id)),
                         SB_V_TEXT(src ? src : ""),
                         SB_V_DATE(sb_tenant_day(b, tenant, at)),
                         SB_V_INT8(sb_event_i64(ev, k->sp_amount)),
                         SB_V_INT8(opt(ev, k->sp_impr)),
                         SB_V_INT8(opt(ev, k->sp_clicks)),
                         SB_V_INT8(opt(ev, k->sp_leads)),
                         SB_V_INT8(1),
                     },
                     err);
}
