/* The automation processor: a tenant's rules "when an event of a type
 * matches a condition, then these actions", evaluated on every event of
 * sb.leads, sb.calls and sb.messages that names a lead (rules.c: the rule
 * format, conditions, bounds).
 *
 * Rule sets. automation.rules_published on sb.tenants (admins and
 * managers post it) is checked and folded into the global table "rules"
 * (R|tenant -> "<version>\n<json>", the latest valid set): every instance
 * reads sb.tenants whole, so a set is visible to the events of every
 * partition, whichever instance has them (keyed state on the tenant's key
 * would be on sb.tenants' partition only, never beside a lead's events).
 * An invalid set is skipped by the table and dead-lettered, with the
 * reason, by the instance consuming its partition (rule_sets keeps the
 * valid ones).
 *
 * Firing. A tenant's rules are evaluated in their order; each rule whose
 * "when" is the event's type and whose condition holds carries out its
 * actions in order, each a derived event whose id the kit derives from
 * (trigger event id, processor, "<rule id>/<action index>"): rescore ->
 * lead.rescore_requested; queue -> lead.queue_set; dnc ->
 * lead.dnc_flagged (reason "automation:<rule id>"); message ->
 * message.requested (message_id "auto:<trigger>:<rule>:<i>", to_address
 * "lead:<lead id>": comms resolves the address); recycle -> a wall-clock
 * timer at the trigger's time plus the delay, keyed by (tenant, trigger,
 * rule, index, lead), which emits lead.recycled (id from key and due
 * time). Then automation.fired (rule, rule-set version, trigger, actions;
 * discriminator "<rule id>/fired"), from which the projection firings is
 * built when it comes back: a replay builds the same firings from the
 * log, whatever rule set is current then.
 *
 * Once only. A retried batch emits the same ids (dropped as copies by the
 * pipeline, sb.emitted_batches); a replay emits nothing. A trigger event
 * seen twice in the log (the same id twice) fires once: the last 16
 * trigger ids that fired for a lead are kept in keyed state on the
 * trigger's partition (L|tenant|lead).
 *
 * Loop safety: (1) an event the automation processor emitted (source
 * switchboard://processor/automation) never triggers a rule; (2) an event
 * caused directly by one of them (its causation_id is one of the last 8
 * ids automation emitted for that lead, remembered as they come back on
 * the lead's partition: routing's lead.scored for a
 * lead.rescore_requested) does not trigger either. So an action never
 * starts a chain of rules by itself. */
#include "auto_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOURCE_SELF "switchboard://processor/automation"
#define CAUSED_N 8
#define FIRED_N 16
#define ID_LEN 27

enum { E_RESCORE, E_QUEUE, E_RECYCLED, E_DNC, E_MSG, E_FIRED, E_RULES, E_N };
static const char *const emit_types[E_N] = {
    "lead.rescore_requested", "lead.queue_set", "lead.recycled",
    "lead.dnc_flagged",       "message.requested", "automation.fired",
    "automation.rules_published"};
enum {
  F_LEAD,
  F_REASON,
  F_QUEUE,
  F_STATUS,
  F_CAMPAIGN,
  F_NEXT_AT,
  F_LIST,
  F_CHANNEL,
  F_TAGS,
  F_MSG_ID,
  F_TO,
  F_TEMPLATE,
  F_PURPOSE,
  F_RULE,
  F_VERSION,
  F_TRIGGER,
  F_TTYPE,
  F_INDEX,
  F_ACTIONS,
  F_JSON,
  F_N
};
static const char *const field_names[F_N] = {
    "lead_id",          "reason",       "queue_id",         "status",
    "campaign_id",      "next_attempt_at", "dnc_list",      "channel",
    "tags",    "message_id",   "to_address",       "template_id",
    "purpose",          "rule_id",      "rules_version",    "trigger_event_id",
    "trigger_type",     "rule_index",   "actions",          "rules_json"};

#define NTRIG 11

typedef struct auto_s {
  const sb_schemas_t *schemas;
  sb_etype_ref_t t[E_N];
  sb_field_t f[E_N][F_N];
  sb_etype_ref_t trig[NTRIG];
  sb_field_t trig_lead[NTRIG];
  struct { /* parsed sets, by tenant and the table's value (version and
            * text: a set published again under the same version is
            * parsed again) */
    char tenant[80];
    char *val;
    size_t len;
    auto_rules_t *rules;
  } cache[8];
  unsigned cache_next;
} auto_t;

/* What it keeps of a lead, per partition of the trigger's topic. */
typedef struct auto_lead_s {
  uint32_t ver;
  uint32_t ncaused, nfired;
  char caused[CAUSED_N][ID_LEN]; /* ids it emitted for the lead */
  char fired[FIRED_N][ID_LEN];   /* trigger ids that fired */
} auto_lead_t;

static const sb_global_def_t globals[];

#define K SB_MERGE_KEEP
static const sb_table_def_t firings = {
    .name = "firings",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"rule_id", SB_COL_TEXT, 0},
                               {"trigger_event_id", SB_COL_TEXT, 0},
                               {"rule_index", SB_COL_INT4, K},
                               {"lead_id", SB_COL_TEXT, K},
                               {"trigger_type", SB_COL_TEXT, K},
                               {"rules_version", SB_COL_TEXT, K},
                               {"fired_at", SB_COL_TIMESTAMPTZ, K},
                               {"actions", SB_COL_JSONB, K},
                               {"event_id", SB_COL_TEXT, K},
                               {0}},
    .key = (const char *const[]){"tenant_id", "rule_id", "trigger_event_id",
                                 NULL},
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

/* every action event it emitted, as it comes back from the log: copies
 * counts the records of one id (1 unless an action went out twice) */
static const sb_table_def_t actions = {
    .name = "actions",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"event_id", SB_COL_TEXT, 0},
                               {"type", SB_COL_TEXT, K},
                               {"lead_id", SB_COL_TEXT, K},
                               {"rule_id", SB_COL_TEXT, K},
                               {"detail", SB_COL_TEXT, K},
                               {"occurred_at", SB_COL_TIMESTAMPTZ, K},
                               {"copies", SB_COL_INT8, SB_MERGE_SUM},
                               {0}},
    .key = (const char *const[]){"tenant_id", "event_id", NULL},
};

static const sb_table_def_t *const tables[] = {&firings, &rule_sets, &actions,
                                               NULL};

#define GRANT(t)                                                               \
  "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}." t " TO "                 \
  "switchboard_app;\n"

static const sb_proj_step_t migrations[] = {
    {1,
     "CREATE TABLE {schema}.firings (tenant_id text NOT NULL, rule_id text "
     "NOT NULL, trigger_event_id text NOT NULL, rule_index integer NOT NULL, "
     "lead_id text NOT NULL, "
     "trigger_type text NOT NULL, rules_version text NOT NULL, fired_at "
     "timestamptz NOT NULL, actions jsonb NOT NULL, event_id text NOT NULL, "
     "PRIMARY KEY (tenant_id, rule_id, trigger_event_id));\n"
     "CREATE INDEX ON {schema}.firings (tenant_id, fired_at);\n"
     "CREATE TABLE {schema}.rule_sets (tenant_id text NOT NULL, event_id "
     "text NOT NULL, rules_version text NOT NULL, published_at timestamptz "
     "NOT NULL, rules jsonb NOT NULL, PRIMARY KEY (tenant_id, "
     "event_id));\n"
     "CREATE TABLE {schema}.actions (tenant_id text NOT NULL, event_id text "
     "NOT NULL, type text NOT NULL, lead_id text NOT NULL, rule_id text, "
     "detail text, occurred_at timestamptz NOT NULL, copies bigint NOT NULL "
     "DEFAULT 0, PRIMARY KEY (tenant_id, event_id));\n"
     "CREATE INDEX ON {schema}.actions (tenant_id, lead_id);\n" GRANT(
         "firings") GRANT("rule_sets") GRANT("actions")},
    {0, NULL},
};

static const char *str(const auto_t *x, const sb_event_t *ev, int t, int f) {
  const char *v = sb_event_str(ev, x->f[t][f]);
  return v != NULL && v[0] != '\0' ? v : NULL;
}

/* ---- rule sets ----------------------------------------------------------- */

static int reduce_rules(void *state, sb_global_t *g, const sb_event_t *ev,
                        sb_err_t *err) {
  auto_t *x = state;
  if (!sb_event_type_is(ev, x->t[E_RULES]))
    return 0;
  const char *ver = str(x, ev, E_RULES, F_VERSION);
  const char *json = str(x, ev, E_RULES, F_JSON);
  auto_rules_t *r = NULL;
  if (auto__rules_parse(x->schemas, json, ver, &r, err) != 0)
    return err->code;
  auto__rules_free(r);
  sb_text_t v = {0};
  sb_text_add(&v, "%s\n%s", ver, json);
  char key[200];
  snprintf(key, sizeof key, "R|%s", ev->tenant_id);
  int rc = v.failed ? sb_err_set(err, SB_ENOMEM, "out of memory")
                    : sb_global_put(g, key, v.s, v.len, err);
  sb_text_free(&v);
  return rc;
}

static int rules_event(auto_t *x, sb_batch_t *b, const sb_event_t *ev,
                       sb_err_t *err) {
  const char *ver = str(x, ev, E_RULES, F_VERSION);
  const char *json = str(x, ev, E_RULES, F_JSON);
  auto_rules_t *r = NULL;
  sb_err_t why = SB_ERR_INIT;
  int ok = auto__rules_parse(x->schemas, json, ver, &r, &why) == 0;
  auto__rules_free(r);
  if (!ok) /* to the dead letters, saying why; the table skipped it */
    return sb_err_set(err, SB_EVALIDATE, "automation.rules_published %s: %s",
                      ev->event_id, why.msg);
  return sb_rows_add(b, &rule_sets,
                     (const sb_val_t[]){SB_V_TEXT(ev->tenant_id),
                                        SB_V_TEXT(ev->event_id), SB_V_TEXT(ver),
                                        SB_V_TIMESTAMPTZ(ev->occurred_at),
                                        SB_V_JSONB(json)},
                     err);
}

/* The tenant's current rule set, or NULL: parsed once per set. */
static const auto_rules_t *rules_for(auto_t *x, sb_batch_t *b,
                                     const char *tenant) {
  char key[200];
  const void *v;
  size_t len;
  snprintf(key, sizeof key, "R|%s", tenant);
  if (sb_global_get(b, &globals[0], key, &v, &len) != 0)
    return NULL;
  for (size_t i = 0; i < sizeof x->cache / sizeof x->cache[0]; i++)
    if (x->cache[i].rules != NULL && x->cache[i].len == len &&
        strcmp(x->cache[i].tenant, tenant) == 0 &&
        memcmp(x->cache[i].val, v, len) == 0)
      return x->cache[i].rules;
  const char *nl = memchr(v, '\n', len);
  char *copy = malloc(len + 1);
  if (nl == NULL || copy == NULL) {
    free(copy);
    return NULL;
  }
  memcpy(copy, v, len);
  copy[len] = '\0';
  size_t vl = (size_t)(nl - (const char *)v);
  copy[vl] = '\0'; /* the version, then the text */
  auto_rules_t *r = NULL;
  sb_err_t e = SB_ERR_INIT;
  int rc = auto__rules_parse(x->schemas, copy + vl + 1, copy, &r, &e);
  copy[vl] = '\n';
  if (rc != 0) { /* the reducer kept only valid ones */
    free(copy);
    return NULL;
  }
  size_t slot = x->cache_next++ % (sizeof x->cache / sizeof x->cache[0]);
  auto__rules_free(x->cache[slot].rules);
  free(x->cache[slot].val);
  x->cache[slot].rules = r;
  x->cache[slot].val = copy;
  x->cache[slot].len = len;
  snprintf(x->cache[slot].tenant, sizeof x->cache[slot].tenant, "%s", tenant);
  return r;
}

/* ---- a lead's record ------------------------------------------------------ */

static void lead_get(sb_batch_t *b, const char *key, auto_lead_t *l) {
  const void *v;
  size_t len;
  if (sb_state_get(b, key, &v, &len) == 0 && len == sizeof *l)
    memcpy(l, v, sizeof *l);
  else
    memset(l, 0, sizeof *l), l->ver = 1;
}

static int seen(char (*ids)[ID_LEN], int n, const char *id) {
  for (int i = 0; id && i < n; i++)
    if (strcmp(ids[i], id) == 0)
      return 1;
  return 0;
}

static void ring_add(char (*ids)[ID_LEN], int n, uint32_t *next,
                     const char *id) {
  snprintf(ids[*next % (uint32_t)n], ID_LEN, "%s", id);
  (*next)++;
}

/* ---- firing ---------------------------------------------------------------- */

static int emit_action(auto_t *x, sb_batch_t *b, const sb_event_t *ev,
                       const char *lead, const auto_rule_t *r, int i,
                       sb_err_t *err) {
  const auto_action_t *a = &r->act[i];
  char disc[AUTO_ID_MAX + 16], reason[AUTO_ID_MAX + 16];
  snprintf(disc, sizeof disc, "%s/%d", r->id, i);
  snprintf(reason, sizeof reason, "automation:%s", r->id);
  sb_emit_t o = {.discriminator = disc};
  sb_build_t *e;
  const sb_field_t *F;
  switch (a->kind) {
  case AA_RESCORE:
    F = x->f[E_RESCORE];
    e = sb_emit_begin(b, x->t[E_RESCORE]);
    sb_build_str(e, F[F_LEAD], lead);
    sb_build_str(e, F[F_REASON], reason);
    return sb_emit_end(b, e, &o, err);
  case AA_QUEUE:
    F = x->f[E_QUEUE];
    e = sb_emit_begin(b, x->t[E_QUEUE]);
    sb_build_str(e, F[F_LEAD], lead);
    sb_build_str(e, F[F_QUEUE], a->name);
    sb_build_str(e, F[F_REASON], reason);
    return sb_emit_end(b, e, &o, err);
  case AA_DNC:
    F = x->f[E_DNC];
    e = sb_emit_begin(b, x->t[E_DNC]);
    sb_build_str(e, F[F_LEAD], lead);
    sb_build_enum(e, F[F_LIST], "internal");
    if (a->channel[0])
      sb_build_enum(e, F[F_CHANNEL], a->channel);
    sb_build_str(e, F[F_REASON], reason);
    return sb_emit_end(b, e, &o, err);
  case AA_MESSAGE: {
    char id[160], to[160];
    const char *tags[1] = {reason};
    snprintf(id, sizeof id, "auto:%s:%s:%d", ev->event_id, r->id, i);
    snprintf(to, sizeof to, "lead:%s", lead);
    F = x->f[E_MSG];
    e = sb_emit_begin(b, x->t[E_MSG]);
    sb_build_str(e, F[F_MSG_ID], id);
    sb_build_enum(e, F[F_CHANNEL], a->channel);
    sb_build_str(e, F[F_TO], to);
    sb_build_str(e, F[F_LEAD], lead);
    sb_build_str(e, F[F_TEMPLATE], a->name);
    if (a->purpose[0])
      sb_build_enum(e, F[F_PURPOSE], a->purpose);
    sb_build_strs(e, F[F_TAGS], tags, 1);
    return sb_emit_end(b, e, &o, err);
  }
  case AA_RECYCLE: {
    /* T|tenant|trigger|rule|index|lead: the lead last (it may hold '|');
     * the campaign beside it in keyed state */
    char key[600];
    int n = snprintf(key, sizeof key, "T|%s|%s|%s|%d|%s", ev->tenant_id,
                     ev->event_id, r->id, i, lead);
    if (n < 0 || (size_t)n >= sizeof key)
      return sb_err_set(err, SB_EVALIDATE, "automation: lead id too long");
    if (sb_state_put(b, key, a->name, strlen(a->name), err) != 0)
      return err->code;
    return sb_timer_set(b, key, ev->occurred_at + a->delay_s * 1000000,
                        SB_TIMER_WALL, err);
  }
  }
  return 0;
}

static int fire(auto_t *x, sb_batch_t *b, const sb_event_t *ev,
                const char *lead, const auto_rules_t *rs, int ri,
                sb_err_t *err) {
  const auto_rule_t *r = &rs->rules[ri];
  const char *labels[AUTO_ACTIONS_MAX];
  for (int i = 0; i < r->nact; i++) {
    if (emit_action(x, b, ev, lead, r, i, err) != 0)
      return err->code;
    labels[i] = r->act[i].label;
  }
  char disc[AUTO_ID_MAX + 16];
  snprintf(disc, sizeof disc, "%s/fired", r->id);
  const sb_field_t *F = x->f[E_FIRED];
  sb_build_t *e = sb_emit_begin(b, x->t[E_FIRED]);
  sb_build_str(e, F[F_LEAD], lead);
  sb_build_str(e, F[F_RULE], r->id);
  sb_build_i64(e, F[F_INDEX], ri);
  sb_build_str(e, F[F_VERSION], rs->version);
  sb_build_str(e, F[F_TRIGGER], ev->event_id);
  sb_build_str(e, F[F_TTYPE], sb_evtype_name(ev->type));
  sb_build_strs(e, F[F_ACTIONS], labels, (size_t)r->nact);
  return sb_emit_end(b, e, &(sb_emit_t){.discriminator = disc}, err);
}

/* automation.fired, back from the log: the projection's row. */
static int fired_event(auto_t *x, sb_batch_t *b, const sb_event_t *ev,
                       sb_err_t *err) {
  cJSON *acts = cJSON_CreateArray();
  sb_field_t fa = x->f[E_FIRED][F_ACTIONS];
  for (size_t i = 0, n = sb_event_count(ev, fa); acts && i < n; i++)
    cJSON_AddItemToArray(acts, cJSON_CreateString(sb_event_str_at(ev, fa, i)));
  char *json = acts ? cJSON_PrintUnformatted(acts) : NULL;
  cJSON_Delete(acts);
  if (json == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = sb_rows_add(
      b, &firings,
      (const sb_val_t[]){SB_V_TEXT(ev->tenant_id),
                         SB_V_TEXT(str(x, ev, E_FIRED, F_RULE)),
                         SB_V_TEXT(str(x, ev, E_FIRED, F_TRIGGER)),
                         SB_V_INT4(sb_event_i64(ev, x->f[E_FIRED][F_INDEX])),
                         SB_V_TEXT(str(x, ev, E_FIRED, F_LEAD)),
                         SB_V_TEXT(str(x, ev, E_FIRED, F_TTYPE)),
                         SB_V_TEXT(str(x, ev, E_FIRED, F_VERSION)),
                         SB_V_TIMESTAMPTZ(ev->occurred_at), SB_V_JSONB(json),
                         SB_V_TEXT(ev->event_id)},
      err);
  cJSON_free(json);
  return rc;
}

/* An action it emitted, back from the log: the actions row. */
static int action_row(auto_t *x, sb_batch_t *b, const sb_event_t *ev,
                      const char *lead, sb_err_t *err) {
  int t = -1;
  for (int i = 0; i <= E_MSG && t < 0; i++)
    if (sb_event_type_is(ev, x->t[i]))
      t = i;
  if (t < 0)
    return 0;
  static const int detail[] = {[E_RESCORE] = -1, [E_QUEUE] = F_QUEUE,
                               [E_RECYCLED] = F_CAMPAIGN, [E_DNC] = F_CHANNEL,
                               [E_MSG] = F_TEMPLATE};
  const char *d = NULL;
  if (detail[t] == F_CHANNEL)
    d = sb_event_enum_name(ev, x->f[t][F_CHANNEL]);
  else if (detail[t] >= 0)
    d = str(x, ev, t, detail[t]);
  const char *who = t == E_MSG ? sb_event_str_at(ev, x->f[t][F_TAGS], 0)
                               : str(x, ev, t, F_REASON);
  if (who && strncmp(who, "automation:", 11) == 0)
    who += 11;
  return sb_rows_add(
      b, &actions,
      (const sb_val_t[]){SB_V_TEXT(ev->tenant_id), SB_V_TEXT(ev->event_id),
                         SB_V_TEXT(emit_types[t]), SB_V_TEXT(lead),
                         SB_V_TEXT(who), SB_V_TEXT(d),
                         SB_V_TIMESTAMPTZ(ev->occurred_at), SB_V_INT8(1)},
      err);
}

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  auto_t *x = state;
  if (sb_event_type_is(ev, x->t[E_RULES]))
    return rules_event(x, b, ev, err);
  int own = 0, tt = -1; /* a type it emits; a trigger's index */
  for (int i = 0; i < E_RULES && !own; i++)
    own = sb_event_type_is(ev, x->t[i]);
  for (int i = 0; i < NTRIG && tt < 0; i++)
    if (sb_event_type_is(ev, x->trig[i]))
      tt = i;
  if (!own && tt < 0)
    return 0; /* most events: no lookup by name */
  /* only the types it emits can be its own */
  const char *src = own ? sb_event_str_path(ev, "source") : NULL;
  int self = src != NULL && strcmp(src, SOURCE_SELF) == 0;
  if (sb_event_type_is(ev, x->t[E_FIRED]))
    return self ? fired_event(x, b, ev, err) : 0; /* only its own count */
  char key[400];
  auto_lead_t l;
  if (self) { /* its own action come back: remembered, never a trigger */
    const char *lead = sb_event_str_path(ev, "lead_id");
    if (lead == NULL)
      return 0;
    if (action_row(x, b, ev, lead, err) != 0)
      return err->code;
    if (ev->topic == NULL || strcmp(ev->topic, SB_TOPIC_LEADS) != 0)
      return 0;
    snprintf(key, sizeof key, "L|%s|%s", ev->tenant_id, lead);
    lead_get(b, key, &l);
    if (seen(l.caused, CAUSED_N, ev->event_id))
      return 0;
    ring_add(l.caused, CAUSED_N, &l.ncaused, ev->event_id);
    return sb_state_put(b, key, &l, sizeof l, err);
  }
  if (tt < 0)
    return 0;
  const char *lead = sb_event_str(ev, x->trig_lead[tt]);
  if (lead == NULL || lead[0] == '\0')
    return 0; /* no lead to act on */
  const auto_rules_t *rs = rules_for(x, b, ev->tenant_id);
  if (rs == NULL)
    return 0;
  int any = 0;
  for (int i = 0; i < rs->nrules && !any; i++)
    any = rs->rules[i].trigger == tt;
  if (!any)
    return 0;
  snprintf(key, sizeof key, "L|%s|%s", ev->tenant_id, lead);
  lead_get(b, key, &l);
  const char *cause = sb_event_str_path(ev, "causation_id");
  if (seen(l.caused, CAUSED_N, cause))
    return 0; /* caused by an action of automation: no chains */
  if (seen(l.fired, FIRED_N, ev->event_id))
    return 0; /* this event again: it fired already */
  int fired = 0;
  for (int i = 0; i < rs->nrules; i++) {
    const auto_rule_t *r = &rs->rules[i];
    if (r->trigger != tt || (r->cond != NULL && !auto__match(r->cond, ev)))
      continue;
    if (fire(x, b, ev, lead, rs, i, err) != 0)
      return err->code;
    fired = 1;
  }
  if (!fired)
    return 0;
  ring_add(l.fired, FIRED_N, &l.nfired, ev->event_id);
  return sb_state_put(b, key, &l, sizeof l, err);
}

/* A recycle's delay is over: lead.recycled. */
static int timer(void *state, sb_batch_t *b, const sb_timer_t *t,
                 sb_err_t *err) {
  auto_t *x = state;
  /* T|tenant|trigger|rule|index|lead */
  const char *p[5], *s = t->key;
  if (strncmp(s, "T|", 2) != 0)
    return 0;
  s += 2;
  for (int i = 0; i < 5; i++) {
    p[i] = s;
    const char *bar = i < 4 ? strchr(s, '|') : NULL;
    if (i < 4 && bar == NULL)
      return 0;
    s = bar ? bar + 1 : s;
  }
  char tenant[80], rule[AUTO_ID_MAX + 1], reason[AUTO_ID_MAX + 16];
  snprintf(tenant, sizeof tenant, "%.*s", (int)(p[1] - p[0] - 1), p[0]);
  snprintf(rule, sizeof rule, "%.*s", (int)(p[3] - p[2] - 1), p[2]);
  snprintf(reason, sizeof reason, "automation:%s", rule);
  const char *lead = p[4];
  const void *v;
  size_t len = 0;
  char campaign[AUTO_NAME_MAX + 1] = "";
  if (sb_state_get(b, t->key, &v, &len) == 0 && len < sizeof campaign)
    memcpy(campaign, v, len), campaign[len] = '\0';
  const sb_field_t *F = x->f[E_RECYCLED];
  sb_build_t *e = sb_emit_begin(b, x->t[E_RECYCLED]);
  sb_build_str(e, F[F_LEAD], lead);
  sb_build_str(e, F[F_REASON], reason);
  sb_build_enum(e, F[F_STATUS], "recycled");
  if (campaign[0])
    sb_build_str(e, F[F_CAMPAIGN], campaign);
  sb_build_i64(e, F[F_NEXT_AT], t->due_us);
  if (sb_emit_end(b, e, &(sb_emit_t){.tenant_id = tenant}, err) != 0)
    return err->code;
  return sb_state_del(b, t->key, err);
}

/* ---- life ------------------------------------------------------------------ */

static void destroy(void *state) {
  auto_t *x = state;
  if (x == NULL)
    return;
  for (size_t i = 0; i < sizeof x->cache / sizeof x->cache[0]; i++) {
    auto__rules_free(x->cache[i].rules);
    free(x->cache[i].val);
  }
  free(x);
}

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  auto_t *x = calloc(1, sizeof *x);
  if (x == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  x->schemas = kit->schemas;
  for (int t = 0; t < E_N; t++) {
    if (sb_codec_type(kit->schemas, emit_types[t], &x->t[t], err) != 0) {
      destroy(x);
      return err->code;
    }
    for (int f = 0; f < F_N; f++) {
      sb_err_t e = SB_ERR_INIT; /* a field the type lacks reads as absent */
      sb_codec_field(kit->schemas, emit_types[t], field_names[f], &x->f[t][f],
                     &e);
    }
  }
  if (auto__ntriggers != NTRIG) {
    destroy(x);
    return sb_err_set(err, SB_ESTATE, "automation: %d triggers, not %d",
                      auto__ntriggers, NTRIG);
  }
  for (int i = 0; i < NTRIG; i++)
    if (sb_codec_type(kit->schemas, auto__triggers[i], &x->trig[i], err) != 0 ||
        sb_codec_field(kit->schemas, auto__triggers[i], "lead_id",
                       &x->trig_lead[i], err) != 0) {
      destroy(x);
      return err->code;
    }
  *state = x;
  return 0;
}

static const sb_global_def_t globals[] = {
    {"rules", SB_TOPIC_TENANTS, reduce_rules},
    {0},
};

/* what GET /v1/projections/automation/VIEW answers (sb_view_def_t) */
static const sb_view_def_t views[] = {
    {.name = "firings",
     .relation = "firings",
     .about = "every rule firing: rule, trigger event, lead, actions",
     .time_col = "fired_at",
     .order = "fired_at,rule_id,trigger_event_id",
     .filters = "rule=rule_id,lead=lead_id,trigger=trigger_type"},
    {.name = "actions",
     .relation = "actions",
     .about = "every action the rules emitted, with its copies seen",
     .time_col = "occurred_at",
     .order = "occurred_at,event_id",
     .filters = "lead=lead_id,rule=rule_id,type=type"},
    {.name = "rule_sets",
     .relation = "rule_sets",
     .about = "the automation rule sets published",
     .time_col = "published_at",
     .order = "published_at,event_id"},
    {0},
};

const sb_processor_vt_t sb_automation_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "automation",
    .topics = (const char *const[]){SB_TOPIC_LEADS, SB_TOPIC_CALLS,
                                    SB_TOPIC_MESSAGES, SB_TOPIC_TENANTS, NULL},
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .destroy = destroy,
    .timer = timer,
    .flags = SB_PROCESSOR_KEYED_STATE,
    .globals = globals,
    .views = views,
};
