/* analytics: leads (sb.leads) -> leads_hour, stages_hour.
 *
 * A lead's facts are kept in keyed state ("l/<tenant>/<lead id>"): its
 * creation (time, source, campaign, first status, acquisition cost) and
 * its status changes, sorted by time (a change repeated at the same time
 * to the same status is one change). Its rows are a function of those
 * facts, recomputed on each change (the old subtracted, the new added):
 *
 *   leads_hour   one lead created, in its creation hour, by campaign,
 *                source and first status; its acquisition cost
 *   stages_hour  per status: leads that entered it (each lead once, in
 *                the hour it first did), exits from it and the time spent
 *                in it (in the hour it left it: the next change to another
 *                status), and revenue_cents given by changes to it
 *
 * so a change that arrives late or out of order moves the lead's figures
 * to where they belong, and nothing counts before its lead.created
 * arrives. At most LEAD_TR_MAX changes are kept per lead (the later ones
 * past that are not counted). */
#include "analytics_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEAD_VER 1u
#define LEAD_TR_MAX 48

static const char *const statuses[] = {
    "new",       "contacted",   "working", "nurturing",
    "qualified", "appointment_set", "converted", "unqualified",
    "lost",      "invalid",     "duplicate", "recycled"};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

typedef struct {
  int64_t t, revenue;
  int32_t st, pad;
} lead_tr_t;

typedef struct {
  uint32_t ver, created, n;
  int32_t st0, p_campaign, pad;
  int64_t created_us, cost_cents;
  char source[32];
  char campaign[AN_ID_MAX];
  lead_tr_t tr[LEAD_TR_MAX];
} lead_t;

typedef struct an_leads_s {
  sb_etype_ref_t created, status;
  sb_field_t cr_id, cr_status, cr_source, cr_campaign, cr_cost;
  sb_field_t sc_id, sc_status, sc_campaign, sc_revenue;
} an_leads_t;

const sb_table_def_t an_leads_hour = {
    .name = "leads_hour",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"hour_start", SB_COL_TIMESTAMPTZ, 0},
            {"campaign_id", SB_COL_TEXT, 0},
            {"lead_source", SB_COL_TEXT, 0},
            {"status", SB_COL_TEXT, 0},
            {"day", SB_COL_DATE, SB_MERGE_REPLACE},
            {"created", SB_COL_INT8, SB_MERGE_SUM},
            {"acquisition_cost_cents", SB_COL_INT8, SB_MERGE_SUM},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "hour_start", "campaign_id",
                                 "lead_source", "status", NULL},
    .retention_class = "lead",
    .retention_col = "hour_start",
};

const sb_table_def_t an_stages_hour = {
    .name = "stages_hour",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"hour_start", SB_COL_TIMESTAMPTZ, 0},
            {"campaign_id", SB_COL_TEXT, 0},
            {"lead_source", SB_COL_TEXT, 0},
            {"status", SB_COL_TEXT, 0},
            {"day", SB_COL_DATE, SB_MERGE_REPLACE},
            {"entered", SB_COL_INT8, SB_MERGE_SUM},
            {"exits", SB_COL_INT8, SB_MERGE_SUM},
            {"time_in_stage_ms", SB_COL_INT8, SB_MERGE_SUM},
            {"revenue_cents", SB_COL_INT8, SB_MERGE_SUM},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "hour_start", "campaign_id",
                                 "lead_source", "status", NULL},
    .retention_class = "lead",
    .retention_col = "hour_start",
};

int an_leads_new(an_t *a, an_leads_t **out, sb_err_t *err) {
  an_leads_t *l = calloc(1, sizeof *l);
  if (l == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  static const char *const cr = "lead.created", *const sc =
                                                    "lead.status_changed";
  const an_field_t fields[] = {
      {cr, "lead_id", &l->cr_id},
      {cr, "status", &l->cr_status},
      {cr, "lead_source", &l->cr_source},
      {cr, "campaign_id", &l->cr_campaign},
      {cr, "acquisition_cost_cents", &l->cr_cost},
      {sc, "lead_id", &l->sc_id},
      {sc, "status", &l->sc_status},
      {sc, "campaign_id", &l->sc_campaign},
      {sc, "revenue_cents", &l->sc_revenue},
  };
  int rc = sb_codec_type(a->schemas, cr, &l->created, err);
  if (rc == 0)
    rc = sb_codec_type(a->schemas, sc, &l->status, err);
  if (rc == 0)
    rc = an_resolve(a->schemas, fields, sizeof fields / sizeof fields[0], err);
  if (rc != 0) {
    free(l);
    return rc;
  }
  *out = l;
  return 0;
}

void an_leads_free(an_leads_t *l) { free(l); }

static int status_ix(const char *name) {
  for (size_t i = 0; name && i < NSTATUS; i++)
    if (strcmp(name, statuses[i]) == 0)
      return (int)i;
  return -1;
}

static size_t lead_len(const lead_t *l) {
  return offsetof(lead_t, tr) + (size_t)l->n * sizeof(lead_tr_t);
}

static int stage_row(sb_batch_t *b, const char *tenant, const lead_t *l,
                     int64_t at, int st, int64_t entered, int64_t exits,
                     int64_t ms, int64_t revenue, sb_err_t *err) {
  return sb_rows_add(b, &an_stages_hour,
                     (const sb_val_t[]){
                         SB_V_TEXT(tenant),
                         SB_V_TIMESTAMPTZ(sb_tenant_hour_start(b, tenant, at)),
                         SB_V_TEXT(l->campaign),
                         SB_V_TEXT(l->source),
                         SB_V_TEXT(statuses[st]),
                         SB_V_DATE(sb_tenant_day(b, tenant, at)),
                         SB_V_INT8(entered),
                         SB_V_INT8(exits),
                         SB_V_INT8(ms),
                         SB_V_INT8(revenue),
                     },
                     err);
}

/* The lead's rows, times sign (see the top of the file). */
static int contrib(sb_batch_t *b, const char *tenant, const lead_t *l,
                   int64_t sign, sb_err_t *err) {
  if (!l->created)
    return 0;
  if (sb_rows_add(
          b, &an_leads_hour,
          (const sb_val_t[]){
              SB_V_TEXT(tenant),
              SB_V_TIMESTAMPTZ(sb_tenant_hour_start(b, tenant, l->created_us)),
              SB_V_TEXT(l->campaign),
              SB_V_TEXT(l->source),
              SB_V_TEXT(statuses[l->st0]),
              SB_V_DATE(sb_tenant_day(b, tenant, l->created_us)),
              SB_V_INT8(sign),
              SB_V_INT8(sign * l->cost_cents),
          },
          err) != 0)
    return err->code;
  /* the timeline: its creation, then its changes in time order (the
   * creation first at a tie) */
  lead_tr_t tl[LEAD_TR_MAX + 1];
  size_t n = 0, j = 0;
  int placed = 0;
  for (size_t i = 0; i <= l->n; i++) {
    if (!placed && (i == l->n || l->tr[i].t >= l->created_us)) {
      tl[n++] = (lead_tr_t){.t = l->created_us, .st = l->st0};
      placed = 1;
    }
    if (i < l->n)
      tl[n++] = l->tr[i];
  }
  int64_t first[NSTATUS] = {0};
  int seen[NSTATUS] = {0};
  for (size_t i = 0; i < n; i++) {
    int st = tl[i].st;
    if (!seen[st]) {
      seen[st] = 1;
      first[st] = tl[i].t;
    }
    if (tl[i].revenue > 0 &&
        stage_row(b, tenant, l, tl[i].t, st, 0, 0, 0, sign * tl[i].revenue,
                  err) != 0)
      return err->code;
  }
  for (size_t st = 0; st < NSTATUS; st++)
    if (seen[st] &&
        stage_row(b, tenant, l, first[st], (int)st, sign, 0, 0, 0, err) != 0)
      return err->code;
  /* runs of one status: each left at the next other status */
  for (size_t i = 0; i < n; i = j) {
    for (j = i + 1; j < n && tl[j].st == tl[i].st; j++)
      ;
    if (j < n && stage_row(b, tenant, l, tl[j].t, tl[i].st, 0, sign,
                           sign * ((tl[j].t - tl[i].t) / 1000), 0, err) != 0)
      return err->code;
  }
  return 0;
}

/* Inserts a change in time order; 0 when it is there already (or there
 * is no room). */
static int insert(lead_t *l, int64_t t, int st, int64_t revenue) {
  size_t i = 0;
  while (i < l->n && (l->tr[i].t < t || (l->tr[i].t == t && l->tr[i].st < st)))
    i++;
  if (i < l->n && l->tr[i].t == t && l->tr[i].st == st) {
    if (revenue <= l->tr[i].revenue)
      return 0;
    l->tr[i].revenue = revenue; /* the larger of two copies' */
    return 1;
  }
  if (l->n == LEAD_TR_MAX)
    return 0;
  memmove(&l->tr[i + 1], &l->tr[i], (l->n - i) * sizeof l->tr[0]);
  l->tr[i] = (lead_tr_t){.t = t, .st = st, .revenue = revenue};
  l->n++;
  return 1;
}

int an_leads_event(an_t *a, sb_batch_t *b, const sb_event_t *ev, int *mine,
                   sb_err_t *err) {
  an_leads_t *k = a->leads;
  int created = sb_event_type_is(ev, k->created),
      status = sb_event_type_is(ev, k->status);
  *mine = created || status ||
          (ev->topic && strcmp(ev->topic, SB_TOPIC_LEADS) == 0);
  if (!created && !status)
    return 0;
  const char *id = sb_event_str(ev, created ? k->cr_id : k->sc_id);
  if (id == NULL)
    return 0;
  char key[2 * AN_ID_MAX + 8];
  snprintf(key, sizeof key, "l/%s/%s", ev->tenant_id, id);
  lead_t *old = calloc(2, sizeof *old);
  if (old == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  lead_t *now = old + 1;
  const void *v;
  size_t len;
  int had = sb_state_get(b, key, &v, &len) == 0 &&
            len >= offsetof(lead_t, tr) && len <= sizeof *old;
  if (had)
    memcpy(old, v, len);
  if (!had || old->ver != LEAD_VER || lead_len(old) != len) {
    memset(old, 0, sizeof *old);
    old->ver = LEAD_VER;
    had = 0;
  }
  *now = *old;
  int changed = 0, rc = 0;
  int64_t t = ev->occurred_at;
  if (created) {
    int st = status_ix(sb_event_enum_name(ev, k->cr_status));
    if (!now->created || t < now->created_us) {
      now->created = 1;
      now->created_us = t;
      now->st0 = st < 0 ? 0 : st; /* none given: new */
      an_copy(now->source, sizeof now->source,
              sb_event_enum_name(ev, k->cr_source));
      now->cost_cents = sb_event_has(ev, k->cr_cost)
                            ? sb_event_i64(ev, k->cr_cost)
                            : 0;
      changed = 1;
    }
    int p = now->p_campaign;
    an_pick(now->campaign, AN_ID_MAX, &p, sb_event_str(ev, k->cr_campaign), 2);
    changed |= p != now->p_campaign;
    now->p_campaign = p;
  } else {
    int st = status_ix(sb_event_enum_name(ev, k->sc_status));
    int64_t rev = sb_event_has(ev, k->sc_revenue)
                      ? sb_event_i64(ev, k->sc_revenue)
                      : 0;
    if (st >= 0)
      changed = insert(now, t, st, rev > 0 ? rev : 0);
    int p = now->p_campaign;
    an_pick(now->campaign, AN_ID_MAX, &p, sb_event_str(ev, k->sc_campaign), 1);
    changed |= p != now->p_campaign;
    now->p_campaign = p;
  }
  if (changed) {
    if ((had && contrib(b, ev->tenant_id, old, -1, err) != 0) ||
        contrib(b, ev->tenant_id, now, 1, err) != 0 ||
        sb_state_put(b, key, now, lead_len(now), err) != 0)
      rc = err->code;
  }
  free(old);
  return rc;
}
