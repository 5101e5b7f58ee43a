/* kittest: a processor that uses every part of the kit, for the suite
 * (built into switchboard only with SB_TESTS, and never part of "all").
 *
 * It reads sb.leads and keeps:
 *   kittest.log      every event it was handed, appended (binary COPY)
 *   kittest.leads    per lead: events, lead.created seen (SUM) and the
 *                    count its keyed state holds (REPLACE), lead.scored
 *                    it derived and read back (SUM), timers fired (SUM)
 *   kittest.days     lead.created per local day of the tenant's time zone
 *                    (tenant.created on sb.tenants; UTC when none)
 *   kittest.contacts per lead: its phone as stored (sealed: PII, declared
 *                    in pii_cols with its origins) and the agent it is
 *                    assigned to (lead.assigned; the SB_COL_OWNER column),
 *                    both kept in keyed state: what the read API reveals
 *                    to a manager and the owning agent, masks for others
 * For each lead.created it counts the lead in its keyed state, emits a
 * lead.scored (typed; derived id) and sets an event-time timer an hour
 * after the event; when the timer fires it emits another lead.scored
 * ("expired") and counts the firing. Migration steps 2 and 3 add the
 * columns of the derived events and timers and the days table, as later
 * releases would.
 *
 * So a run that crashed and restarted at any moment must still end with:
 * every event once in the log, created == created_state for every lead
 * (state neither lost nor counted twice), and as many lead.scored in the
 * log as lead.created plus timers fired (derived effects once). */
#include "sb_processor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sb_table_def_t log_table = {
    .name = "log",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"event_id", SB_COL_TEXT, 0},
            {"type", SB_COL_TEXT, 0},
            {"lead_id", SB_COL_TEXT, 0},
            {"occurred_at", SB_COL_TIMESTAMPTZ, 0},
            {0},
        },
};

static const sb_table_def_t leads_table = {
    .name = "leads",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"lead_id", SB_COL_TEXT, 0},
            {"events", SB_COL_INT8, SB_MERGE_SUM},
            {"created", SB_COL_INT8, SB_MERGE_SUM},
            {"created_state", SB_COL_INT8, SB_MERGE_MAX},
            {"scored", SB_COL_INT8, SB_MERGE_SUM},
            {"expired", SB_COL_INT8, SB_MERGE_SUM},
            {"last_at", SB_COL_TIMESTAMPTZ, SB_MERGE_MAX},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "lead_id", NULL},
};

/* lead.created per local day of the tenant's time zone (sb_tenant_day) */
static const sb_table_def_t days_table = {
    .name = "days",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"day", SB_COL_DATE, 0},
            {"created", SB_COL_INT8, SB_MERGE_SUM},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "day", NULL},
};

/* a lead's phone and agent (the read API's PII rule: sb_pii_rows.h) */
static const sb_table_def_t contacts_table = {
    .name = "contacts",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"lead_id", SB_COL_TEXT, 0},
            {"agent_id", SB_COL_TEXT, SB_COL_OWNER},
            {"phone", SB_COL_TEXT, SB_MERGE_REPLACE},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "lead_id", NULL},
};

static const sb_pii_col_t pii_cols[] = {
    {"contacts", "phone", "lead.created:phone,lead.updated:phone"},
    {0},
};

static const sb_table_def_t *const tables[] = {
    &log_table, &leads_table, &days_table, &contacts_table, NULL};

static const sb_proj_step_t migrations[] = {
    {1, "CREATE TABLE {schema}.log (tenant_id text NOT NULL, event_id text "
        "NOT NULL, type text NOT NULL, lead_id text, occurred_at timestamptz "
        "NOT NULL);\n"
        "CREATE TABLE {schema}.leads (tenant_id text NOT NULL, lead_id text "
        "NOT NULL, events bigint NOT NULL DEFAULT 0, created bigint NOT NULL "
        "DEFAULT 0, created_state bigint NOT NULL DEFAULT 0, last_at "
        "timestamptz, PRIMARY KEY (tenant_id, lead_id));\n"
        "GRANT SELECT, INSERT ON {schema}.log TO switchboard_app;\n"
        "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.leads TO "
        "switchboard_app;"},
    {2, "ALTER TABLE {schema}.leads ADD COLUMN scored bigint NOT NULL "
        "DEFAULT 0, ADD COLUMN expired bigint NOT NULL DEFAULT 0;"},
    {3, "CREATE TABLE {schema}.days (tenant_id text NOT NULL, day date NOT "
        "NULL, created bigint NOT NULL DEFAULT 0, PRIMARY KEY (tenant_id, "
        "day));\n"
        "GRANT SELECT, INSERT, UPDATE ON {schema}.days TO switchboard_app;"},
    {4, "CREATE TABLE {schema}.contacts (tenant_id text NOT NULL, lead_id "
        "text NOT NULL, agent_id text, phone text, PRIMARY KEY (tenant_id, "
        "lead_id));\n"
        "GRANT SELECT, INSERT, UPDATE ON {schema}.contacts TO "
        "switchboard_app;"},
    {0, NULL},
};

typedef struct {
  sb_etype_ref_t created, scored, updated, assigned;
  sb_field_t created_lead, scored_lead, scored_score, scored_model;
  sb_field_t created_phone, updated_lead, updated_phone, assigned_lead,
      assigned_agent;
} kit_t;

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  kit_t *k = calloc(1, sizeof *k);
  if (k == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  if (sb_codec_type(kit->schemas, "lead.created", &k->created, err) != 0 ||
      sb_codec_type(kit->schemas, "lead.scored", &k->scored, err) != 0 ||
      sb_codec_field(kit->schemas, "lead.created", "lead_id", &k->created_lead,
                     err) != 0 ||
      sb_codec_field(kit->schemas, "lead.scored", "lead_id", &k->scored_lead,
                     err) != 0 ||
      sb_codec_field(kit->schemas, "lead.scored", "score", &k->scored_score,
                     err) != 0 ||
      sb_codec_field(kit->schemas, "lead.scored", "model_version",
                     &k->scored_model, err) != 0 ||
      sb_codec_type(kit->schemas, "lead.updated", &k->updated, err) != 0 ||
      sb_codec_type(kit->schemas, "lead.assigned", &k->assigned, err) != 0 ||
      sb_codec_field(kit->schemas, "lead.created", "phone", &k->created_phone,
                     err) != 0 ||
      sb_codec_field(kit->schemas, "lead.updated", "lead_id", &k->updated_lead,
                     err) != 0 ||
      sb_codec_field(kit->schemas, "lead.updated", "phone", &k->updated_phone,
                     err) != 0 ||
      sb_codec_field(kit->schemas, "lead.assigned", "lead_id",
                     &k->assigned_lead, err) != 0 ||
      sb_codec_field(kit->schemas, "lead.assigned", "agent_id",
                     &k->assigned_agent, err) != 0) {
    free(k);
    return err->code;
  }
  *state = k;
  return 0;
}

static void destroy(void *state) { free(state); }

/* A lead.scored for lead of tenant (from an event or a timer). */
static int score(kit_t *k, sb_batch_t *b, const char *tenant,
                 const char *lead, double points, const char *disc,
                 sb_err_t *err) {
  sb_build_t *e = sb_emit_begin(b, k->scored);
  sb_build_str(e, k->scored_lead, lead);
  sb_build_double(e, k->scored_score, points);
  sb_build_str(e, k->scored_model, "kittest-1");
  sb_emit_t o = {.discriminator = disc, .tenant_id = tenant};
  return sb_emit_end(b, e, &o, err);
}

/* contacts: a lead's phone (as stored: sealed) and agent, kept in keyed
 * state as "agent\0phone\0" and written whole at each change */
static int contact(kit_t *k, sb_batch_t *b, const sb_event_t *ev,
                   sb_err_t *err) {
  const char *lead = NULL, *phone = NULL, *agent = NULL;
  if (sb_event_type_is(ev, k->created)) {
    lead = sb_event_str(ev, k->created_lead);
    phone = sb_event_str(ev, k->created_phone);
  } else if (sb_event_type_is(ev, k->updated)) {
    lead = sb_event_str(ev, k->updated_lead);
    phone = sb_event_str(ev, k->updated_phone);
  } else if (sb_event_type_is(ev, k->assigned)) {
    lead = sb_event_str(ev, k->assigned_lead);
    agent = sb_event_str(ev, k->assigned_agent);
  }
  if (lead == NULL || (phone == NULL && agent == NULL))
    return 0;
  char key[256], val[4096], prev[4096];
  snprintf(key, sizeof key, "contact/%s/%s", ev->tenant_id, lead);
  const void *old;
  size_t len;
  const char *was_agent = "", *was_phone = "";
  if (sb_state_get(b, key, &old, &len) == 0 && len > 0 && len < sizeof prev) {
    memcpy(prev, old, len);
    prev[len] = '\0';
    was_agent = prev;
    size_t al = strlen(prev);
    if (al + 1 < len)
      was_phone = prev + al + 1;
  }
  if (agent == NULL)
    agent = was_agent[0] ? was_agent : NULL;
  if (phone == NULL)
    phone = was_phone[0] ? was_phone : NULL;
  int n = snprintf(val, sizeof val, "%s%c%s", agent ? agent : "", '\0',
                   phone ? phone : "");
  if (n < 0 || (size_t)n >= sizeof val)
    return sb_err_set(err, SB_EINVAL, "kittest: lead %s: contact too long",
                      lead);
  if (sb_state_put(b, key, val, (size_t)n + 1, err) != 0)
    return err->code;
  return sb_rows_add(b, &contacts_table,
                     (const sb_val_t[]){SB_V_TEXT(ev->tenant_id),
                                        SB_V_TEXT(lead), SB_V_TEXT(agent),
                                        SB_V_TEXT(phone)},
                     err);
}

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  kit_t *k = state;
  if (contact(k, b, ev, err) != 0)
    return err->code;
  const char *lead = sb_event_type_is(ev, k->created)
                         ? sb_event_str(ev, k->created_lead)
                     : sb_event_type_is(ev, k->scored)
                         ? sb_event_str(ev, k->scored_lead)
                         : NULL;
  if (sb_rows_add(b, &log_table,
                  (const sb_val_t[]){SB_V_TEXT(ev->tenant_id),
                                     SB_V_TEXT(ev->event_id),
                                     SB_V_TEXT(sb_evtype_name(ev->type)),
                                     SB_V_TEXT(lead),
                                     SB_V_TIMESTAMPTZ(ev->occurred_at)},
                  err) != 0)
    return err->code;
  if (lead == NULL)
    return 0;
  int created = sb_event_type_is(ev, k->created);
  int64_t seen = 0;
  if (created) {
    /* the lead's count in keyed state: loaded on assignment, written with
     * the batch */
    char key[256];
    snprintf(key, sizeof key, "%s/%s", ev->tenant_id, lead);
    const void *val;
    size_t len;
    if (sb_state_get(b, key, &val, &len) == 0 && len == sizeof seen)
      memcpy(&seen, val, sizeof seen);
    seen++;
    int64_t day = sb_tenant_day(b, ev->tenant_id, ev->occurred_at);
    if (sb_rows_add(b, &days_table,
                    (const sb_val_t[]){SB_V_TEXT(ev->tenant_id),
                                       SB_V_DATE(day), SB_V_INT8(1)},
                    err) != 0 ||
        sb_state_put(b, key, &seen, sizeof seen, err) != 0 ||
        score(k, b, ev->tenant_id, lead, (double)seen, NULL, err) != 0 ||
        sb_timer_set(b, key, ev->occurred_at + INT64_C(3600000000),
                     SB_TIMER_EVENT, err) != 0)
      return err->code;
  }
  return sb_rows_add(
      b, &leads_table,
      (const sb_val_t[]){SB_V_TEXT(ev->tenant_id), SB_V_TEXT(lead),
                         SB_V_INT8(1), SB_V_INT8(created), SB_V_INT8(seen),
                         SB_V_INT8(!created), SB_V_INT8(0),
                         SB_V_TIMESTAMPTZ(ev->occurred_at)},
      err);
}

static int timer(void *state, sb_batch_t *b, const sb_timer_t *t,
                 sb_err_t *err) {
  kit_t *k = state;
  char tenant[128];
  const char *slash = strchr(t->key, '/');
  if (slash == NULL || (size_t)(slash - t->key) >= sizeof tenant)
    return sb_err_set(err, SB_EINVAL, "kittest: timer key %s", t->key);
  memcpy(tenant, t->key, (size_t)(slash - t->key));
  tenant[slash - t->key] = '\0';
  if (score(k, b, tenant, slash + 1, 0, "expired", err) != 0)
    return err->code;
  if (sb_rows_add(b, &leads_table,
                  (const sb_val_t[]){SB_V_TEXT(tenant), SB_V_TEXT(slash + 1),
                                     SB_V_INT8(0), SB_V_INT8(0), SB_V_INT8(0),
                                     SB_V_INT8(0), SB_V_INT8(1), SB_V_NULL},
                  err) != 0)
    return err->code;
  /* a timer that fails for good, after it emitted and wrote: the kit
   * rolls its batch back and sends it to sb.deadletter
   * (pipeline_poison_timer) */
  if (strncmp(slash + 1, "poison-timer", 12) == 0)
    return sb_err_set(err, SB_EINVAL, "kittest: lead %s refuses its timer",
                      slash + 1);
  return 0;
}

const sb_processor_vt_t sb_kittest_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "kittest",
    .topics = (const char *const[]){"sb.leads", NULL},
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .destroy = destroy,
    .timer = timer,
    .flags = SB_PROCESSOR_KEYED_STATE | SB_PROCESSOR_TEST_ONLY,
    .pii_cols = pii_cols,
};
