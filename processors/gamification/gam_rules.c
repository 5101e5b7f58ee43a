/* Point rules as data: a tenant's rule set is the text of a JSON object
 * (gamification.rules_published on sb.tenants; the built-in default below
 * for a tenant that published none):
 *
 *   {"agent_daily_cap": 1000,
 *    "working_days": [1, 2, 3, 4, 5],
 *    "rules": [{"id": "sale", "name": "Sale", "event": "call.dispositioned",
 *               "points": 50, "daily_cap": 500,
 *               "when": {"field": "disposition", "eq": "sale"}}, ...],
 *    "multipliers": [{"from": "2026-12-01T00:00:00Z",
 *                     "to": "2026-12-02T00:00:00Z", "percent": 200,
 *                     "rules": ["sale"]}],
 *    "badges": [{"id": "closer", "name": "Closer", "metric": "rule:sale",
 *                "tiers": [1, 10, 50, 100, 500]},
 *               {"id": "first_call", "metric": "rule:handled_call",
 *                "once": 1}],
 *    "streaks": [{"id": "steady", "name": "Steady", "daily_points": 50,
 *                 "tiers": [3, 5, 10, 20, 40]}]}
 *
 * A predicate ("when") is the routing processor's language
 * (processors/routing/scoring.c): {"field": F, OP: V} with OP one of eq,
 * ne, in, gte, gt, lte, lt; {"all": [...]}, {"any": [...]}, {"not": {...}};
 * no "when" always matches. F is a string field (disposition,
 * disposition_code, status, previous_status, channel, direction,
 * end_reason, queue_id, campaign_id) or a number (talk_ms, duration_ms,
 * wait_ms, ring_ms, hold_ms, wrapup_ms, sale_amount_cents, revenue_cents);
 * a field the event lacks matches only ne. Every bad rule set is refused
 * naming what and where. */
#include "gam_int.h"
#include "pred.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_MAX 64
#define DEPTH_MAX 4

const char *const gam__source_types[GS_N] = {
    [GS_CALL_ENDED] = "call.ended",
    [GS_CALL_DISPO] = "call.dispositioned",
    [GS_CALL_CONNECTED] = "call.connected",
    [GS_LEAD_STATUS] = "lead.status_changed",
    [GS_MSG_INBOUND] = "message.inbound",
};

const char *const gam__field_names[GF_N] = {
    [GF_DISPOSITION] = "disposition",
    [GF_DISPOSITION_CODE] = "disposition_code",
    [GF_STATUS] = "status",
    [GF_PREVIOUS_STATUS] = "previous_status",
    [GF_CHANNEL] = "channel",
    [GF_DIRECTION] = "direction",
    [GF_END_REASON] = "end_reason",
    [GF_QUEUE_ID] = "queue_id",
    [GF_CAMPAIGN_ID] = "campaign_id",
    [GF_TALK_MS] = "talk_ms",
    [GF_DURATION_MS] = "duration_ms",
    [GF_WAIT_MS] = "wait_ms",
    [GF_RING_MS] = "ring_ms",
    [GF_HOLD_MS] = "hold_ms",
    [GF_WRAPUP_MS] = "wrapup_ms",
    [GF_SALE_CENTS] = "sale_amount_cents",
    [GF_REVENUE_CENTS] = "revenue_cents",
};

/* The built-in rule set of a tenant that published none. */
const char gam__default_rules_json[] =
    "{\"agent_daily_cap\": 1000,"
    " \"rules\": ["
    "  {\"id\": \"handled_call\", \"name\": \"Handled call\","
    "   \"event\": \"call.ended\", \"points\": 5, \"daily_cap\": 200,"
    "   \"when\": {\"field\": \"talk_ms\", \"gte\": 30000}},"
    "  {\"id\": \"sale\", \"name\": \"Sale\", \"event\": "
    "\"call.dispositioned\","
    "   \"points\": 50, \"when\": {\"field\": \"disposition\", \"eq\": "
    "\"sale\"}},"
    "  {\"id\": \"appointment\", \"name\": \"Appointment set\","
    "   \"event\": \"call.dispositioned\", \"points\": 25,"
    "   \"when\": {\"field\": \"disposition\", \"eq\": \"appointment_set\"}},"
    "  {\"id\": \"converted\", \"name\": \"Converted lead\","
    "   \"event\": \"lead.status_changed\", \"points\": 40,"
    "   \"when\": {\"field\": \"status\", \"eq\": \"converted\"}},"
    "  {\"id\": \"reply\", \"name\": \"Reply to a message\","
    "   \"event\": \"message.inbound\", \"points\": 3, \"daily_cap\": 60},"
    "  {\"id\": \"service_level\", \"name\": \"Answered within 20 s\","
    "   \"event\": \"call.connected\", \"points\": 2, \"daily_cap\": 100,"
    "   \"when\": {\"field\": \"wait_ms\", \"lte\": 20000}}],"
    " \"badges\": ["
    "  {\"id\": \"closer\", \"name\": \"Closer\", \"metric\": \"rule:sale\","
    "   \"tiers\": [1, 10, 50, 100, 500]},"
    "  {\"id\": \"points\", \"name\": \"Point scorer\", \"metric\": "
    "\"points\","
    "   \"tiers\": [100, 1000, 5000, 20000, 100000]},"
    "  {\"id\": \"first_call\", \"name\": \"First call\","
    "   \"metric\": \"rule:handled_call\", \"once\": 1}],"
    " \"streaks\": ["
    "  {\"id\": \"steady\", \"name\": \"Steady\", \"daily_points\": 50,"
    "   \"tiers\": [3, 5, 10, 20, 40]}]}";

static int field_index(const char *name) {
  for (int i = 0; i < GF_N; i++)
    if (strcmp(gam__field_names[i], name) == 0)
      return i;
  return -1;
}

static int kind_of(void *arg, const char *field, const char *where,
                   sb_err_t *err) {
  (void)arg;
  int fi = field_index(field);
  if (fi < 0)
    return sb_err_set(err, SB_EVALIDATE, "rules: %s: unknown field '%.64s'",
                      where, field),
           -1;
  return fi >= GF_NUM0 ? PRED_NUM : PRED_STR;
}

static int check_pred(const cJSON *p, const char *where, sb_err_t *err) {
  const pred_rules_t pr = {.what = "rules", .noun = "predicate",
                           .depth_max = DEPTH_MAX, .list_max = IN_MAX,
                           .kind = kind_of};
  return pred_check(&pr, p, where, err);
}

static int get_int(const cJSON *o, const char *k, int64_t lo, int64_t hi,
                   int64_t *out, const char *where, sb_err_t *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
      v->valuedouble < (double)lo || v->valuedouble > (double)hi)
    return sb_err_set(err, SB_EVALIDATE,
                      "rules: %s: %s must be an integer %lld to %lld", where, k,
                      (long long)lo, (long long)hi);
  *out = (int64_t)v->valuedouble;
  return 0;
}

/* an optional integer: dflt when absent */
static int opt_int(const cJSON *o, const char *k, int64_t lo, int64_t hi,
                   int64_t dflt, int64_t *out, const char *where,
                   sb_err_t *err) {
  if (cJSON_GetObjectItemCaseSensitive(o, k) == NULL) {
    *out = dflt;
    return 0;
  }
  return get_int(o, k, lo, hi, out, where, err);
}

static int id_ok(const cJSON *v) {
  return cJSON_IsString(v) && v->valuestring[0] != '\0' &&
         strlen(v->valuestring) < 64 &&
         strspn(v->valuestring, "abcdefghijklmnopqrstuvwxyz0123456789_-") ==
             strlen(v->valuestring);
}

static void copy_name(char *dst, size_t n, const cJSON *o, const char *dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "name");
  snprintf(dst, n, "%s", cJSON_IsString(v) ? v->valuestring : dflt);
}

/* tiers: 1 to 5 increasing integers */
static int get_tiers(const cJSON *o, int64_t *tiers, int *n, int64_t hi,
                     const char *where, sb_err_t *err) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tiers");
  if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) < 1 ||
      cJSON_GetArraySize(t) > GAM_TIERS)
    return sb_err_set(err, SB_EVALIDATE,
                      "rules: %s: tiers takes 1 to %d thresholds (bronze, "
                      "silver, gold, platinum, diamond)",
                      where, GAM_TIERS);
  *n = 0;
  const cJSON *i;
  cJSON_ArrayForEach(i, t) {
    if (!cJSON_IsNumber(i) || i->valuedouble != floor(i->valuedouble) ||
        i->valuedouble < 1 || i->valuedouble > (double)hi ||
        (*n > 0 && (int64_t)i->valuedouble <= tiers[*n - 1]))
      return sb_err_set(err, SB_EVALIDATE,
                        "rules: %s: tiers must be increasing integers 1 to "
                        "%lld",
                        where, (long long)hi);
    tiers[(*n)++] = (int64_t)i->valuedouble;
  }
  return 0;
}

static int parse_rules(gam_rules_t *r, const cJSON *root, sb_err_t *err) {
  const cJSON *rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
  if (!cJSON_IsArray(rules) || cJSON_GetArraySize(rules) > GAM_RULES_MAX)
    return sb_err_set(err, SB_EVALIDATE,
                      "rules: \"rules\" must be an array of at most %d rules",
                      GAM_RULES_MAX);
  const cJSON *it;
  cJSON_ArrayForEach(it, rules) {
    char where[96];
    snprintf(where, sizeof where, "rules[%d]", r->nrules);
    gam_rule_t *u = &r->rules[r->nrules];
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
    if (!cJSON_IsObject(it) || !id_ok(id))
      return sb_err_set(err, SB_EVALIDATE,
                        "rules: %s: a rule is an object with an id of 1 to 63 "
                        "of a-z 0-9 _ -",
                        where);
    snprintf(u->id, sizeof u->id, "%s", id->valuestring);
    snprintf(where, sizeof where, "rule %s", u->id);
    if (gam__rule_find(r, u->id) != NULL)
      return sb_err_set(err, SB_EVALIDATE, "rules: %s: the id is repeated",
                        where);
    copy_name(u->name, sizeof u->name, it, u->id);
    const cJSON *evt = cJSON_GetObjectItemCaseSensitive(it, "event");
    u->source = -1;
    for (int s = 0; cJSON_IsString(evt) && s < GS_N; s++)
      if (strcmp(evt->valuestring, gam__source_types[s]) == 0)
        u->source = s;
    if (u->source < 0)
      return sb_err_set(err, SB_EVALIDATE,
                        "rules: %s: event must be one of call.ended, "
                        "call.dispositioned, call.connected, "
                        "lead.status_changed, message.inbound",
                        where);
    if (get_int(it, "points", 0, GAM_POINTS_MAX, &u->points, where, err) != 0 ||
        opt_int(it, "daily_cap", 0, INT64_C(1000000000), INT64_MAX,
                &u->daily_cap, where, err) != 0)
      return err->code;
    const cJSON *when = cJSON_GetObjectItemCaseSensitive(it, "when");
    if (when != NULL && check_pred(when, where, err) != 0)
      return err->code;
    u->when = (void *)when;
    r->nrules++;
  }
  return 0;
}

static int parse_mults(gam_rules_t *r, const cJSON *root, sb_err_t *err) {
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "multipliers");
  if (ms == NULL)
    return 0;
  if (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) > GAM_MULTS_MAX)
    return sb_err_set(err, SB_EVALIDATE,
                      "rules: multipliers must be an array of at most %d",
                      GAM_MULTS_MAX);
  const cJSON *it;
  cJSON_ArrayForEach(it, ms) {
    char where[64], why[128];
    snprintf(where, sizeof where, "multipliers[%d]", r->nmults);
    gam_mult_t *m = &r->mults[r->nmults];
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(it, "from");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(it, "to");
    if (!cJSON_IsString(from) || !cJSON_IsString(to) ||
        sb_time_parse(from->valuestring, &m->from_us, why, sizeof why) != 0 ||
        sb_time_parse(to->valuestring, &m->to_us, why, sizeof why) != 0 ||
        m->to_us <= m->from_us)
      return sb_err_set(err, SB_EVALIDATE,
                        "rules: %s: from and to must be RFC 3339 times, from "
                        "before to",
                        where);
    if (get_int(it, "percent", 0, 1000, &m->percent, where, err) != 0)
      return err->code;
    const cJSON *rl = cJSON_GetObjectItemCaseSensitive(it, "rules");
    if (rl != NULL) {
      if (!cJSON_IsArray(rl) || cJSON_GetArraySize(rl) > 8)
        return sb_err_set(err, SB_EVALIDATE,
                          "rules: %s: rules lists at most 8 rule ids", where);
      const cJSON *i;
      cJSON_ArrayForEach(i, rl) {
        if (!id_ok(i) || gam__rule_find(r, i->valuestring) == NULL)
          return sb_err_set(err, SB_EVALIDATE,
                            "rules: %s: names a rule the set lacks", where);
        snprintf(m->rules[m->nrules++], 64, "%s", i->valuestring);
      }
    }
    r->nmults++;
  }
  return 0;
}

static int parse_badges(gam_rules_t *r, const cJSON *root, sb_err_t *err) {
  const cJSON *bs = cJSON_GetObjectItemCaseSensitive(root, "badges");
  if (bs != NULL &&
      (!cJSON_IsArray(bs) || cJSON_GetArraySize(bs) > GAM_BADGES_MAX))
    return sb_err_set(err, SB_EVALIDATE,
                      "rules: badges must be an array of at most %d",
                      GAM_BADGES_MAX);
  const cJSON *it;
  cJSON_ArrayForEach(it, bs) {
    char where[96];
    gam_badge_t *g = &r->badges[r->nbadges];
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
    snprintf(where, sizeof where, "badges[%d]", r->nbadges);
    if (!id_ok(id))
      return sb_err_set(err, SB_EVALIDATE, "rules: %s: needs an id", where);
    snprintf(g->id, sizeof g->id, "%s", id->valuestring);
    snprintf(where, sizeof where, "badge %s", g->id);
    for (int k = 0; k < r->nbadges; k++)
      if (strcmp(r->badges[k].id, g->id) == 0)
        return sb_err_set(err, SB_EVALIDATE, "rules: %s: the id is repeated",
                          where);
    copy_name(g->name, sizeof g->name, it, g->id);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "metric");
    if (!cJSON_IsString(m) ||
        (strcmp(m->valuestring, "points") != 0 &&
         (strncmp(m->valuestring, "rule:", 5) != 0 ||
          gam__rule_find(r, m->valuestring + 5) == NULL)))
      return sb_err_set(err, SB_EVALIDATE,
                        "rules: %s: metric must be \"points\" or \"rule:<id "
                        "of a rule of the set>\"",
                        where);
    snprintf(g->metric, sizeof g->metric, "%s", m->valuestring);
    int64_t once;
    if (opt_int(it, "once", 1, INT64_C(1000000000), 0, &once, where, err) != 0)
      return err->code;
    if (once > 0) {
      g->once = 1;
      g->ntiers = 1;
      g->tiers[0] = once;
    } else if (get_tiers(it, g->tiers, &g->ntiers, INT64_C(1000000000), where,
                         err) != 0) {
      return err->code;
    }
    r->nbadges++;
  }
  const cJSON *ss = cJSON_GetObjectItemCaseSensitive(root, "streaks");
  if (ss != NULL &&
      (!cJSON_IsArray(ss) || cJSON_GetArraySize(ss) > GAM_STREAKS_MAX))
    return sb_err_set(err, SB_EVALIDATE,
                      "rules: streaks must be an array of at most %d",
                      GAM_STREAKS_MAX);
  cJSON_ArrayForEach(it, ss) {
    char where[96];
    gam_streak_t *s = &r->streaks[r->nstreaks];
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
    snprintf(where, sizeof where, "streaks[%d]", r->nstreaks);
    if (!id_ok(id))
      return sb_err_set(err, SB_EVALIDATE, "rules: %s: needs an id", where);
    snprintf(s->id, sizeof s->id, "%s", id->valuestring);
    snprintf(where, sizeof where, "streak %s", s->id);
    for (int k = 0; k < r->nbadges; k++)
      if (strcmp(r->badges[k].id, s->id) == 0)
        return sb_err_set(err, SB_EVALIDATE,
                          "rules: %s: a badge has the same id", where);
    copy_name(s->name, sizeof s->name, it, s->id);
    if (get_int(it, "daily_points", 1, INT64_C(1000000000), &s->daily_points,
                where, err) != 0 ||
        get_tiers(it, s->tiers, &s->ntiers, 3660, where, err) != 0)
      return err->code;
    r->nstreaks++;
  }
  return 0;
}

int gam__rules_parse(const char *json, const char *version, gam_rules_t **out,
                     sb_err_t *err) {
  *out = NULL;
  if (version == NULL || version[0] == '\0' || strlen(version) > GAM_NAME_MAX)
    return sb_err_set(err, SB_EVALIDATE,
                      "rules: the version must be 1 to %d bytes", GAM_NAME_MAX);
  gam_rules_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  snprintf(r->version, sizeof r->version, "%s", version);
  cJSON *root = json ? cJSON_Parse(json) : NULL;
  r->json = root;
  int rc = 0;
  if (!cJSON_IsObject(root)) {
    rc = sb_err_set(err, SB_EVALIDATE, "rules: not a JSON object");
    goto out;
  }
  if ((rc = opt_int(root, "agent_daily_cap", 0, INT64_C(1000000000),
                    INT64_MAX, &r->agent_daily_cap, "the set", err)) != 0)
    goto out;
  r->working_days = 0x3eu; /* Monday to Friday */
  const cJSON *wd = cJSON_GetObjectItemCaseSensitive(root, "working_days");
  if (wd != NULL) {
    r->working_days = 0;
    const cJSON *i;
    if (!cJSON_IsArray(wd) || cJSON_GetArraySize(wd) < 1) {
      rc = sb_err_set(err, SB_EVALIDATE,
                      "rules: working_days lists ISO weekdays 1 (Monday) to 7");
      goto out;
    }
    cJSON_ArrayForEach(i, wd) {
      if (!cJSON_IsNumber(i) || i->valuedouble < 1 || i->valuedouble > 7 ||
          i->valuedouble != floor(i->valuedouble)) {
        rc = sb_err_set(err, SB_EVALIDATE,
                        "rules: working_days lists ISO weekdays 1 (Monday) to "
                        "7");
        goto out;
      }
      r->working_days |= 1u << (int)i->valuedouble;
    }
  }
  if ((rc = parse_rules(r, root, err)) != 0 ||
      (rc = parse_mults(r, root, err)) != 0 ||
      (rc = parse_badges(r, root, err)) != 0)
    goto out;
  *out = r;
  r = NULL; /* ownership moved */
out:
  gam__rules_free(r);
  return rc;
}

void gam__rules_free(gam_rules_t *r) {
  if (r == NULL)
    return;
  cJSON_Delete(r->json);
  free(r);
}

const gam_rule_t *gam__rule_find(const gam_rules_t *r, const char *id) {
  for (int i = 0; i < r->nrules; i++)
    if (strcmp(r->rules[i].id, id) == 0)
      return &r->rules[i];
  return NULL;
}

static int value_of(void *arg, const char *name, pred_value_t *v) {
  const gam_src_t *s = arg;
  int fi = field_index(name);
  if (fi < GF_NUM0) {
    v->s = s->str[fi];
    v->has = v->s != NULL;
    return PRED_STR;
  }
  v->has = s->has[fi - GF_NUM0];
  v->n = (double)s->num[fi - GF_NUM0];
  return PRED_NUM;
}

int gam__rule_match(const gam_rule_t *rule, const gam_src_t *s) {
  if (rule->source != s->source)
    return 0;
  return rule->when == NULL || pred_match(rule->when, value_of, (void *)s);
}

int64_t gam__multiplied(const gam_rules_t *r, const gam_rule_t *rule,
                        int64_t at_us) {
  int64_t pts = rule->points;
  for (int i = 0; i < r->nmults; i++) {
    const gam_mult_t *m = &r->mults[i];
    if (at_us < m->from_us || at_us >= m->to_us)
      continue;
    int applies = m->nrules == 0;
    for (int k = 0; k < m->nrules && !applies; k++)
      applies = strcmp(m->rules[k], rule->id) == 0;
    if (applies) /* bounded: at most ten times the rule's points a step */
      pts = pts * m->percent / 100;
    if (pts > INT64_C(10) * GAM_POINTS_MAX)
      pts = INT64_C(10) * GAM_POINTS_MAX;
  }
  return pts;
}
