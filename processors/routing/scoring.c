/* Lead scoring: rule sets as data, the score and its explanation, and age
 * decay in integer arithmetic.
 *
 * A rule set is the text of a JSON object:
 *
 *   {"half_life_hours": 72,
 *    "groups": [{"name": "source", "cap": 30, "decays": true}, ...],
 *    "rules":  [{"id": "referral", "group": "source", "points": 30,
 *                "when": {"field": "lead_source", "in": ["referral"]}}, ...]}
 *
 * A predicate ("when") is {"field": F, OP: V} with OP one of eq, ne, in,
 * gte, gt, lte, lt; or {"all": [...]} / {"any": [...]} / {"not": {...}};
 * no "when" always matches. F is a string field (lead_source, status,
 * campaign_id), a number (priority, estimated_value_cents, calls,
 * calls_connected, messages, replies, age_hours) or a boolean (assigned,
 * agent_available, contactable, has_phone, has_email; compared with eq
 * true/false). A group's points are the sum of its matched rules' points,
 * at most its cap (when it has one); the score is the sum of the groups',
 * those of groups that decay multiplied by 2^(-age / half-life) (age since
 * the lead was created), rounded half up. Every bad rule set is refused
 * naming what and where. */
#include "routing_int.h"

#include "pred.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RULES_MAX 256
#define GROUPS_MAX 32
#define IN_MAX 64
#define DEPTH_MAX 4
#define POINTS_MAX 100000

typedef enum { FK_STR = PRED_STR, FK_NUM = PRED_NUM, FK_BOOL = PRED_BOOL } fkind_t;

static const struct {
  const char *name;
  fkind_t kind;
} fields[] = {
    {"lead_source", FK_STR},
    {"status", FK_STR},
    {"campaign_id", FK_STR},
    {"priority", FK_NUM},
    {"estimated_value_cents", FK_NUM},
    {"calls", FK_NUM},
    {"calls_connected", FK_NUM},
    {"messages", FK_NUM},
    {"replies", FK_NUM},
    {"age_hours", FK_NUM},
    {"assigned", FK_BOOL},
    {"agent_available", FK_BOOL},
    {"contactable", FK_BOOL},
    {"has_phone", FK_BOOL},
    {"has_email", FK_BOOL},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

typedef struct group_s {
  char name[64];
  int64_t cap; /* INT64_MAX: none */
  int decays;
} group_t;

typedef struct rule_s {
  char id[64];
  int group;
  int64_t points;
  cJSON *when; /* borrowed from the set's parsed JSON; NULL: always */
} rule_t;

struct rt_rules_s {
  char version[129];
  int64_t half_life_s; /* 0: nothing decays */
  group_t groups[GROUPS_MAX];
  int ngroups;
  rule_t rules[RULES_MAX];
  int nrules;
  int64_t max_age_hours; /* the greatest age_hours a predicate names; -1 */
  cJSON *json;
};

const char rt__default_rules_json[] =
    "{\"half_life_hours\": 72,"
    " \"groups\": ["
    "  {\"name\": \"source\", \"cap\": 30, \"decays\": true},"
    "  {\"name\": \"status\", \"cap\": 30, \"decays\": false},"
    "  {\"name\": \"engagement\", \"cap\": 25, \"decays\": true},"
    "  {\"name\": \"value\", \"cap\": 15, \"decays\": false},"
    "  {\"name\": \"assignment\", \"cap\": 10, \"decays\": false},"
    "  {\"name\": \"availability\", \"cap\": 10, \"decays\": false}],"
    " \"rules\": ["
    "  {\"id\": \"source_referral\", \"group\": \"source\", \"points\": 30,"
    "   \"when\": {\"field\": \"lead_source\", \"in\": [\"referral\","
    " \"partner\", \"inbound_call\"]}},"
    "  {\"id\": \"source_web\", \"group\": \"source\", \"points\": 20,"
    "   \"when\": {\"field\": \"lead_source\", \"in\": [\"web_form\","
    " \"landing_page\", \"chat\"]}},"
    "  {\"id\": \"source_paid\", \"group\": \"source\", \"points\": 15,"
    "   \"when\": {\"field\": \"lead_source\", \"in\": [\"google_ads\","
    " \"bing_ads\", \"facebook\", \"instagram\", \"linkedin\", \"tiktok\"]}},"
    "  {\"id\": \"source_other\", \"group\": \"source\", \"points\": 5,"
    "   \"when\": {\"field\": \"lead_source\", \"in\": [\"import\", \"manual\","
    " \"api\", \"sms\", \"email\", \"affiliate\", \"other\"]}},"
    "  {\"id\": \"status_new\", \"group\": \"status\", \"points\": 10,"
    "   \"when\": {\"field\": \"status\", \"in\": [\"new\", \"recycled\"]}},"
    "  {\"id\": \"status_working\", \"group\": \"status\", \"points\": 15,"
    "   \"when\": {\"field\": \"status\", \"in\": [\"contacted\", \"working\","
    " \"nurturing\"]}},"
    "  {\"id\": \"status_qualified\", \"group\": \"status\", \"points\": 30,"
    "   \"when\": {\"field\": \"status\", \"in\": [\"qualified\","
    " \"appointment_set\"]}},"
    "  {\"id\": \"status_closed\", \"group\": \"status\", \"points\": -100,"
    "   \"when\": {\"field\": \"status\", \"in\": [\"converted\","
    " \"unqualified\", \"lost\", \"invalid\", \"duplicate\"]}},"
    "  {\"id\": \"replied\", \"group\": \"engagement\", \"points\": 15,"
    "   \"when\": {\"field\": \"replies\", \"gte\": 1}},"
    "  {\"id\": \"talked\", \"group\": \"engagement\", \"points\": 10,"
    "   \"when\": {\"field\": \"calls_connected\", \"gte\": 1}},"
    "  {\"id\": \"messaged\", \"group\": \"engagement\", \"points\": 5,"
    "   \"when\": {\"field\": \"messages\", \"gte\": 1}},"
    "  {\"id\": \"unanswered_calls\", \"group\": \"engagement\", \"points\": "
    "-5,"
    "   \"when\": {\"all\": [{\"field\": \"calls\", \"gte\": 3},"
    " {\"field\": \"calls_connected\", \"eq\": 0}]}},"
    "  {\"id\": \"value_high\", \"group\": \"value\", \"points\": 15,"
    "   \"when\": {\"field\": \"estimated_value_cents\", \"gte\": 100000}},"
    "  {\"id\": \"value_some\", \"group\": \"value\", \"points\": 5,"
    "   \"when\": {\"field\": \"estimated_value_cents\", \"gte\": 10000}},"
    "  {\"id\": \"unassigned\", \"group\": \"assignment\", \"points\": 10,"
    "   \"when\": {\"field\": \"assigned\", \"eq\": false}},"
    "  {\"id\": \"agent_available\", \"group\": \"availability\", \"points\": "
    "10,"
    "   \"when\": {\"field\": \"agent_available\", \"eq\": true}}]}";

/* ---- parsing ------------------------------------------------------------- */

static int field_kind(const char *name) {
  for (size_t i = 0; i < NFIELDS; i++)
    if (strcmp(fields[i].name, name) == 0)
      return (int)fields[i].kind;
  return -1;
}

static int kind_of(void *arg, const char *field, const char *where,
                   sb_err_t *err) {
  (void)arg;
  int kind = field_kind(field);
  if (kind < 0)
    sb_err_set(err, SB_EVALIDATE, "rules: %s: unknown field '%.64s'", where,
               field);
  return kind;
}

/* the greatest age_hours a predicate names: when aging stops moving it */
static void seen(void *arg, const char *field, const cJSON *v) {
  rt_rules_t *r = arg;
  if (strcmp(field, "age_hours") != 0)
    return;
  const cJSON *i;
  if (cJSON_IsArray(v)) {
    cJSON_ArrayForEach(i, v) if (i->valuedouble > (double)r->max_age_hours)
        r->max_age_hours = (int64_t)i->valuedouble;
  } else if (v->valuedouble > (double)r->max_age_hours) {
    r->max_age_hours = (int64_t)v->valuedouble;
  }
}

static int check_pred(rt_rules_t *r, const cJSON *p, const char *where,
                      sb_err_t *err) {
  const pred_rules_t pr = {.what = "rules", .noun = "predicate",
                           .depth_max = DEPTH_MAX, .list_max = IN_MAX,
                           .kind = kind_of, .seen = seen, .arg = r};
  return pred_check(&pr, p, where, err);
}

static int get_int(const cJSON *o, const char *k, int64_t lo, int64_t hi,
                   int64_t *out, const char *where, sb_err_t *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
      v->valuedouble < (double)lo || v->valuedouble > (double)hi)
    return sb_err_set(err, SB_EVALIDATE,
                      "rules: %s: %s must be an integer "
                      "%lld to %lld",
                      where, k, (long long)lo, (long long)hi);
  *out = (int64_t)v->valuedouble;
  return 0;
}

static int name_ok(const cJSON *v, size_t max) {
  return cJSON_IsString(v) && v->valuestring[0] != '\0' &&
         strlen(v->valuestring) < max &&
         strspn(v->valuestring, "abcdefghijklmnopqrstuvwxyz0123456789_-.") ==
             strlen(v->valuestring);
}

int rt__rules_parse(const char *json, const char *version, rt_rules_t **out,
                    sb_err_t *err) {
  *out = NULL;
  rt_rules_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  snprintf(r->version, sizeof r->version, "%s", version ? version : "");
  r->max_age_hours = -1;
  char where[96];
  r->json = cJSON_Parse(json ? json : "");
  if (!cJSON_IsObject(r->json)) {
    sb_err_set(err, SB_EVALIDATE, "rules: not a JSON object");
    goto bad;
  }
  const cJSON *hl =
      cJSON_GetObjectItemCaseSensitive(r->json, "half_life_hours");
  if (hl != NULL) {
    int64_t h;
    if (get_int(r->json, "half_life_hours", 0, 87600, &h, "the set", err) != 0)
      goto bad;
    r->half_life_s = h * 3600;
  }
  const cJSON *gs = cJSON_GetObjectItemCaseSensitive(r->json, "groups");
  const cJSON *rs = cJSON_GetObjectItemCaseSensitive(r->json, "rules");
  if (!cJSON_IsArray(gs) || cJSON_GetArraySize(gs) > GROUPS_MAX ||
      !cJSON_IsArray(rs) || cJSON_GetArraySize(rs) > RULES_MAX) {
    sb_err_set(err, SB_EVALIDATE,
               "rules: groups (at most %d) and rules (at "
               "most %d) must be arrays",
               GROUPS_MAX, RULES_MAX);
    goto bad;
  }
  const cJSON *g;
  cJSON_ArrayForEach(g, gs) {
    group_t *gr = &r->groups[r->ngroups];
    snprintf(where, sizeof where, "groups[%d]", r->ngroups);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(g, "name");
    if (!name_ok(name, sizeof gr->name)) {
      sb_err_set(err, SB_EVALIDATE,
                 "rules: %s: name must be 1 to 63 of "
                 "a-z 0-9 _ - .",
                 where);
      goto bad;
    }
    for (int i = 0; i < r->ngroups; i++)
      if (strcmp(r->groups[i].name, name->valuestring) == 0) {
        sb_err_set(err, SB_EVALIDATE, "rules: %s: group '%s' twice", where,
                   name->valuestring);
        goto bad;
      }
    snprintf(gr->name, sizeof gr->name, "%s", name->valuestring);
    gr->cap = INT64_MAX;
    if (cJSON_GetObjectItemCaseSensitive(g, "cap") != NULL &&
        get_int(g, "cap", 0, POINTS_MAX, &gr->cap, where, err) != 0)
      goto bad;
    gr->decays = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "decays"));
    r->ngroups++;
  }
  const cJSON *ru;
  cJSON_ArrayForEach(ru, rs) {
    rule_t *rl = &r->rules[r->nrules];
    snprintf(where, sizeof where, "rules[%d]", r->nrules);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ru, "id");
    const cJSON *gn = cJSON_GetObjectItemCaseSensitive(ru, "group");
    if (!name_ok(id, sizeof rl->id)) {
      sb_err_set(err, SB_EVALIDATE,
                 "rules: %s: id must be 1 to 63 of a-z "
                 "0-9 _ - .",
                 where);
      goto bad;
    }
    snprintf(where, sizeof where, "rules[%d] (%s)", r->nrules, id->valuestring);
    for (int i = 0; i < r->nrules; i++)
      if (strcmp(r->rules[i].id, id->valuestring) == 0) {
        sb_err_set(err, SB_EVALIDATE, "rules: %s: id used twice", where);
        goto bad;
      }
    rl->group = -1;
    for (int i = 0; cJSON_IsString(gn) && i < r->ngroups; i++)
      if (strcmp(r->groups[i].name, gn->valuestring) == 0)
        rl->group = i;
    if (rl->group < 0) {
      sb_err_set(err, SB_EVALIDATE,
                 "rules: %s: group must name one of "
                 "groups",
                 where);
      goto bad;
    }
    if (get_int(ru, "points", -POINTS_MAX, POINTS_MAX, &rl->points, where,
                err) != 0)
      goto bad;
    rl->when = cJSON_GetObjectItemCaseSensitive(ru, "when");
    if (rl->when != NULL && check_pred(r, rl->when, where, err) != 0)
      goto bad;
    snprintf(rl->id, sizeof rl->id, "%s", id->valuestring);
    r->nrules++;
  }
  *out = r;
  return 0;
bad:
  rt__rules_free(r);
  return err->code;
}

void rt__rules_free(rt_rules_t *r) {
  if (r == NULL)
    return;
  cJSON_Delete(r->json);
  free(r);
}

const char *rt__rules_version(const rt_rules_t *r) { return r->version; }

/* ---- evaluating ---------------------------------------------------------- */

typedef struct {
  const rt_lead_t *l;
  const rt_facts_t *f;
  int64_t age_hours;
} ctx_t;

static const char *str_of(const ctx_t *c, const char *name) {
  if (strcmp(name, "lead_source") == 0)
    return c->l->source;
  if (strcmp(name, "status") == 0)
    return c->l->status;
  return c->l->campaign;
}

/* 1 and *v, or 0 when the lead has no such value (no predicate on it
 * matches but ne) */
static int num_of(const ctx_t *c, const char *name, int64_t *v) {
  const rt_lead_t *l = c->l;
  if (strcmp(name, "priority") == 0)
    return (*v = l->priority), l->has_priority;
  if (strcmp(name, "estimated_value_cents") == 0)
    return (*v = l->value_cents), l->has_value;
  *v = strcmp(name, "calls") == 0             ? l->calls
       : strcmp(name, "calls_connected") == 0 ? l->connected
       : strcmp(name, "messages") == 0        ? l->messages
       : strcmp(name, "replies") == 0         ? l->replies
                                              : c->age_hours;
  return 1;
}

static int bool_of(const ctx_t *c, const char *name) {
  if (strcmp(name, "assigned") == 0)
    return c->l->agent[0] != '\0';
  if (strcmp(name, "agent_available") == 0)
    return c->f->agent_available;
  if (strcmp(name, "contactable") == 0)
    return c->f->contactable;
  if (strcmp(name, "has_phone") == 0)
    return c->l->phone_hmac[0] != '\0';
  return c->l->email_hmac[0] != '\0';
}

static int value_of(void *arg, const char *name, pred_value_t *v) {
  const ctx_t *c = arg;
  int kind = field_kind(name);
  v->has = 1;
  if (kind == FK_STR) {
    v->s = str_of(c, name);
  } else if (kind == FK_BOOL) {
    v->b = bool_of(c, name);
  } else {
    int64_t n = 0;
    v->has = num_of(c, name, &n);
    v->n = (double)n;
  }
  return kind;
}

/* ---- decay ----------------------------------------------------------------
 */

/* 2^(-k/64) in Q30 for k = 0..64, computed once (exp2 of these exact
 * arguments rounds the same everywhere IEEE doubles do; the table is then
 * integers) */
static int64_t pow2_q30[65];

void rt__decay_init(void) {
  for (int k = 0; k <= 64; k++)
    pow2_q30[k] = llround(exp2(-(double)k / 64.0) * (double)(1 << 30));
}

/* points * 2^(-age/hl) in Q30 (positive points) */
static int64_t decay_q30(int64_t points, int64_t age_s, int64_t hl_s) {
  if (age_s <= 0)
    return points << 30;
  int64_t n = age_s / hl_s, r = age_s % hl_s;
  if (n >= 40)
    return 0;
  int64_t pos = r * 64; /* in units of hl_s/64 */
  int64_t k = pos / hl_s, rem = pos % hl_s;
  int64_t f = pow2_q30[k] - (pow2_q30[k] - pow2_q30[k + 1]) * rem / hl_s;
  return (points * f) >> n;
}

int64_t rt__decay(int64_t points, int64_t age_us, int64_t hl_s) {
  if (hl_s <= 0 || points <= 0)
    return points;
  return (decay_q30(points, age_us / 1000000, hl_s) + (1 << 29)) >> 30;
}

/* ---- scoring ---------------------------------------------------------------
 */

static void add_factor(rt_score_t *o, const char *id, int64_t pts) {
  if (o->nfactors >= 16)
    return;
  snprintf(o->factor_buf[o->nfactors], sizeof o->factor_buf[0], "%s:%+lld", id,
           (long long)pts);
  o->factors[o->nfactors] = o->factor_buf[o->nfactors];
  o->nfactors++;
}

int rt__score(const rt_rules_t *rules, const rt_lead_t *l,
              const rt_facts_t *facts, int64_t at_us, rt_score_t *out,
              sb_err_t *err) {
  memset(out, 0, sizeof *out);
  int64_t age_us = at_us > l->created_at ? at_us - l->created_at : 0;
  ctx_t c = {.l = l, .f = facts, .age_hours = age_us / 3600000000LL};
  int64_t gsum[GROUPS_MAX] = {0};
  cJSON *top = cJSON_CreateObject(), *jr = cJSON_AddArrayToObject(top, "rules"),
        *jg = cJSON_AddArrayToObject(top, "groups");
  for (int i = 0; i < rules->nrules; i++) {
    const rule_t *r = &rules->rules[i];
    if (r->when != NULL && !pred_match(r->when, value_of, &c))
      continue;
    gsum[r->group] += r->points;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "group", rules->groups[r->group].name);
    cJSON_AddNumberToObject(o, "points", (double)r->points);
    cJSON_AddItemToArray(jr, o);
    add_factor(out, r->id, r->points);
  }
  int64_t fixed = 0, decaying = 0;
  for (int g = 0; g < rules->ngroups; g++) {
    const group_t *gr = &rules->groups[g];
    int64_t pts = gsum[g] > gr->cap ? gr->cap : gsum[g];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", gr->name);
    cJSON_AddNumberToObject(o, "points", (double)pts);
    if (gr->cap != INT64_MAX)
      cJSON_AddNumberToObject(o, "cap", (double)gr->cap);
    if (pts != gsum[g])
      cJSON_AddNumberToObject(o, "uncapped", (double)gsum[g]);
    cJSON_AddBoolToObject(o, "decays", gr->decays);
    cJSON_AddItemToArray(jg, o);
    if (gr->decays && pts > 0 && rules->half_life_s > 0)
      decaying += pts;
    else
      fixed += pts;
  }
  int64_t now = rt__decay(decaying, age_us, rules->half_life_s);
  out->score = (int32_t)(fixed + now);
  cJSON *d = cJSON_AddObjectToObject(top, "decay");
  cJSON_AddNumberToObject(d, "age_hours", (double)c.age_hours);
  cJSON_AddNumberToObject(d, "half_life_hours",
                          (double)(rules->half_life_s / 3600));
  cJSON_AddNumberToObject(d, "points", (double)decaying);
  cJSON_AddNumberToObject(d, "left", (double)now);
  cJSON_AddBoolToObject(top, "contactable", facts->contactable);
  if (!facts->contactable && facts->block_reason)
    cJSON_AddStringToObject(top, "contact_block_reason", facts->block_reason);
  cJSON_AddBoolToObject(top, "agent_available", facts->agent_available);
  cJSON_AddStringToObject(top, "rules_version", rules->version);
  /* the next second at which age alone moves the rounded score: the
   * first whole second where the decayed part rounds lower (a binary
   * search over a function that only falls) */
  if (now > 0) {
    int64_t age_s = age_us / 1000000, lo = age_s, hi = age_s + 1;
    while (rt__decay(decaying, hi * 1000000, rules->half_life_s) == now &&
           hi - age_s < rules->half_life_s * 64)
      hi = age_s + (hi - age_s) * 2;
    while (hi - lo > 1) {
      int64_t mid = lo + (hi - lo) / 2;
      if (rt__decay(decaying, mid * 1000000, rules->half_life_s) == now)
        lo = mid;
      else
        hi = mid;
    }
    if (rt__decay(decaying, hi * 1000000, rules->half_life_s) < now)
      out->next_at = l->created_at + hi * 1000000;
  }
  /* age_hours predicates can change at the next whole hour of age, up to
   * the greatest age_hours the set names */
  if (rules->max_age_hours >= 0 && c.age_hours <= rules->max_age_hours) {
    int64_t at = l->created_at + (c.age_hours + 1) * 3600000000LL;
    if (out->next_at == 0 || at < out->next_at)
      out->next_at = at;
  }
  out->components_json = cJSON_PrintUnformatted(top);
  if (out->components_json != NULL && strlen(out->components_json) > 8000) {
    /* over the field's bound: the groups and decay stay, rules go */
    cJSON_DeleteItemFromObject(top, "rules");
    cJSON_AddBoolToObject(top, "rules_truncated", 1);
    cJSON_free(out->components_json);
    out->components_json = cJSON_PrintUnformatted(top);
  }
  cJSON_Delete(top);
  if (out->components_json == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  return 0;
}
