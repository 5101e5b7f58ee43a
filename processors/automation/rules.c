/* Automation rule sets: parsing, checking, and conditions.
 *
 * A rule set is the text of a JSON object:
 *
 *   {"rules": [{"id": "hot_lead", "when": "lead.scored",
 *               "if": {"field": "score", "gte": 80},
 *               "then": [{"do": "queue", "queue_id": "closers"},
 *                        {"do": "message", "channel": "sms",
 *                         "template_id": "hot-intro"}]}, ...]}
 *
 * The condition ("if") has the syntax of the routing processor's scoring
 * predicates (processors/routing/scoring.c): {"field": F, OP: V} with OP
 * one of eq, ne, in, gte, gt, lte, lt; {"all": [...]}, {"any": [...]},
 * {"not": {...}}; no "if" always matches. Here F is any field of the
 * "when" event type ("status", "score", "actor.role", "disposition"),
 * checked against its schema when the set is published: a string or enum
 * takes eq, ne, in (of strings); a number (int, long, double, timestamp in
 * micros) every operator (of numbers); a boolean eq and ne (true/false).
 * An absent string reads as ""; an absent number matches only ne. A PII
 * field (sb.pii: ciphertext) is refused: conditions match on its _hmac.
 * The language is processors/common/pred.h's; this file names the fields
 * (an event's, resolved through the schemas).
 *
 * Actions ("then", 1 to AUTO_ACTIONS_MAX, carried out in order):
 *   {"do": "rescore"}
 *   {"do": "queue", "queue_id": Q}
 *   {"do": "recycle", "delay_minutes": N (0 to 129600), "campaign_id"?: C}
 *   {"do": "dnc", "channel"?: voice|sms|email|whatsapp|push|postal_mail}
 *   {"do": "message", "channel": sms|email|whatsapp|slack|push,
 *    "template_id": T, "purpose"?: a consent purpose}
 * Every bad set is refused naming what and where. */
#include "auto_int.h"

#include "pred.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define X(name) name,
const char *const auto__triggers[] = {AUTO_TRIGGERS(X)};
#undef X
const int auto__ntriggers =
    (int)(sizeof auto__triggers / sizeof auto__triggers[0]);

static const char *const msg_channels[] = {"sms", "email", "whatsapp",
                                           "slack", "push", NULL};
static const char *const dnc_channels[] = {
    "voice", "sms", "email", "whatsapp", "push", "postal_mail", NULL};
static const char *const purposes[] = {
    "marketing", "sales_outreach", "transactional", "call_recording",
    "analytics", "profiling", "third_party_sharing", "research", "other",
    NULL};

static int one_of(const char *s, const char *const *list) {
  for (int i = 0; list[i]; i++)
    if (strcmp(s, list[i]) == 0)
      return 1;
  return 0;
}

typedef struct {
  const sb_schemas_t *s;
  const char *type;
} cond_ctx_t;

/* The kind of field path of the "when" type, or -1 naming why in err. */
static int kind_of(void *arg, const char *path, const char *where,
                   sb_err_t *err) {
  const cond_ctx_t *c = arg;
  sb_field_t f;
  sb_err_t e = SB_ERR_INIT;
  if (sb_codec_field(c->s, c->type, path, &f, &e) != 0) {
    sb_err_set(err, SB_EVALIDATE, "automation rules: %s: %s has no field '%.64s'",
               where, c->type, path);
    return -1;
  }
  const sb_fieldattr_t *a =
      sb_evtype_attr(sb_schemas_by_type(c->s, c->type), path);
  if (a != NULL && (a->sealed || a->pii)) {
    sb_err_set(err, SB_EVALIDATE,
               "automation rules: %s: %s.%s is PII (ciphertext): match on its "
               "_hmac",
               where, c->type, path);
    return -1;
  }
  switch (f.kind) {
  case SB_FIELD_STR:
  case SB_FIELD_ENUM:
    return PRED_STR;
  case SB_FIELD_LONG:
  case SB_FIELD_INT:
  case SB_FIELD_TIMESTAMP:
  case SB_FIELD_DOUBLE:
  case SB_FIELD_FLOAT:
    return PRED_NUM;
  case SB_FIELD_BOOL:
    return PRED_BOOL;
  default:
    sb_err_set(err, SB_EVALIDATE,
               "automation rules: %s: %s.%s: a condition takes a string, "
               "number or boolean field",
               where, c->type, path);
    return -1;
  }
}

static int check_cond(const sb_schemas_t *s, const char *type, const cJSON *p,
                      const char *where, sb_err_t *err) {
  cond_ctx_t c = {s, type};
  const pred_rules_t pr = {.what = "automation rules", .noun = "condition",
                           .depth_max = AUTO_DEPTH_MAX,
                           .list_max = AUTO_IN_MAX, .kind = kind_of,
                           .arg = &c};
  return pred_check(&pr, p, where, err);
}

static int name_ok(const cJSON *v, size_t max) {
  return cJSON_IsString(v) && v->valuestring[0] != '\0' &&
         strlen(v->valuestring) <= max &&
         strspn(v->valuestring, "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:") ==
             strlen(v->valuestring);
}

static const char *str_of(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int parse_action(const cJSON *a, auto_action_t *out, const char *where,
                        sb_err_t *err) {
  memset(out, 0, sizeof *out);
  const char *d = str_of(a, "do");
  if (!cJSON_IsObject(a) || d == NULL)
    return sb_err_set(err, SB_EVALIDATE,
                      "automation rules: %s: an action is an object with "
                      "\"do\": rescore, queue, recycle, dnc or message",
                      where);
  if (strcmp(d, "rescore") == 0) {
    out->kind = AA_RESCORE;
    snprintf(out->label, sizeof out->label, "rescore");
  } else if (strcmp(d, "queue") == 0) {
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(a, "queue_id");
    if (!name_ok(q, AUTO_NAME_MAX))
      return sb_err_set(err, SB_EVALIDATE,
                        "automation rules: %s: queue needs queue_id: 1 to %d "
                        "of A-Z a-z 0-9 _ - . :",
                        where, AUTO_NAME_MAX);
    out->kind = AA_QUEUE;
    snprintf(out->name, sizeof out->name, "%s", q->valuestring);
    snprintf(out->label, sizeof out->label, "queue:%s", q->valuestring);
  } else if (strcmp(d, "recycle") == 0) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(a, "delay_minutes");
    if (!cJSON_IsNumber(m) || m->valuedouble != floor(m->valuedouble) ||
        m->valuedouble < 0 || m->valuedouble * 60 > (double)AUTO_DELAY_MAX_S)
      return sb_err_set(err, SB_EVALIDATE,
                        "automation rules: %s: recycle needs delay_minutes: an "
                        "integer 0 to %lld",
                        where, (long long)(AUTO_DELAY_MAX_S / 60));
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "campaign_id");
    if (c != NULL && !name_ok(c, AUTO_NAME_MAX))
      return sb_err_set(err, SB_EVALIDATE,
                        "automation rules: %s: recycle's campaign_id: 1 to %d "
                        "of A-Z a-z 0-9 _ - . :",
                        where, AUTO_NAME_MAX);
    out->kind = AA_RECYCLE;
    out->delay_s = (int64_t)m->valuedouble * 60;
    if (c)
      snprintf(out->name, sizeof out->name, "%s", c->valuestring);
    snprintf(out->label, sizeof out->label, "recycle:%llds",
             (long long)out->delay_s);
  } else if (strcmp(d, "dnc") == 0) {
    const char *ch = str_of(a, "channel");
    if (cJSON_GetObjectItemCaseSensitive(a, "channel") != NULL &&
        (ch == NULL || !one_of(ch, dnc_channels)))
      return sb_err_set(err, SB_EVALIDATE,
                        "automation rules: %s: dnc's channel: voice, sms, "
                        "email, whatsapp, push or postal_mail",
                        where);
    out->kind = AA_DNC;
    snprintf(out->channel, sizeof out->channel, "%s", ch ? ch : "");
    snprintf(out->label, sizeof out->label, "dnc%s%s", ch ? ":" : "",
             ch ? ch : "");
  } else if (strcmp(d, "message") == 0) {
    const char *ch = str_of(a, "channel"), *pu = str_of(a, "purpose");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(a, "template_id");
    if (ch == NULL || !one_of(ch, msg_channels))
      return sb_err_set(err, SB_EVALIDATE,
                        "automation rules: %s: message needs channel: sms, "
                        "email, whatsapp, slack or push",
                        where);
    if (!name_ok(t, AUTO_NAME_MAX))
      return sb_err_set(err, SB_EVALIDATE,
                        "automation rules: %s: message needs template_id: 1 "
                        "to %d of A-Z a-z 0-9 _ - . :",
                        where, AUTO_NAME_MAX);
    if (cJSON_GetObjectItemCaseSensitive(a, "purpose") != NULL &&
        (pu == NULL || !one_of(pu, purposes)))
      return sb_err_set(err, SB_EVALIDATE,
                        "automation rules: %s: message's purpose: not a "
                        "consent purpose",
                        where);
    out->kind = AA_MESSAGE;
    snprintf(out->channel, sizeof out->channel, "%s", ch);
    snprintf(out->name, sizeof out->name, "%s", t->valuestring);
    snprintf(out->purpose, sizeof out->purpose, "%s", pu ? pu : "");
    snprintf(out->label, sizeof out->label, "message:%s:%s", ch, t->valuestring);
  } else {
    return sb_err_set(err, SB_EVALIDATE,
                      "automation rules: %s: unknown action '%.32s' (rescore, "
                      "queue, recycle, dnc, message)",
                      where, d);
  }
  return 0;
}

int auto__rules_parse(const sb_schemas_t *s, const char *json,
                      const char *version, auto_rules_t **out, sb_err_t *err) {
  *out = NULL;
  size_t len = json ? strlen(json) : 0;
  if (len > AUTO_RULES_BYTES)
    return sb_err_set(err, SB_EVALIDATE,
                      "automation rules: %zu bytes, over the %d a set may "
                      "take",
                      len, AUTO_RULES_BYTES);
  if (version == NULL || version[0] == '\0')
    return sb_err_set(err, SB_EVALIDATE, "automation rules: no rules_version");
  auto_rules_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  snprintf(r->version, sizeof r->version, "%s", version);
  char where[128];
  r->json = cJSON_Parse(json ? json : "");
  const cJSON *rs = cJSON_GetObjectItemCaseSensitive(r->json, "rules");
  if (!cJSON_IsObject(r->json) || !cJSON_IsArray(rs)) {
    sb_err_set(err, SB_EVALIDATE,
               "automation rules: not a JSON object with an array \"rules\"");
    goto bad;
  }
  if (cJSON_GetArraySize(rs) > AUTO_RULES_MAX) {
    sb_err_set(err, SB_EVALIDATE,
               "automation rules: %d rules, over the %d a tenant may have",
               cJSON_GetArraySize(rs), AUTO_RULES_MAX);
    goto bad;
  }
  const cJSON *ru;
  cJSON_ArrayForEach(ru, rs) {
    auto_rule_t *rl = &r->rules[r->nrules];
    snprintf(where, sizeof where, "rules[%d]", r->nrules);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ru, "id");
    if (!name_ok(id, AUTO_ID_MAX)) {
      sb_err_set(err, SB_EVALIDATE,
                 "automation rules: %s: id must be 1 to %d of A-Z a-z 0-9 _ "
                 "- . :",
                 where, AUTO_ID_MAX);
      goto bad;
    }
    snprintf(where, sizeof where, "rules[%d] (%s)", r->nrules, id->valuestring);
    for (int i = 0; i < r->nrules; i++)
      if (strcmp(r->rules[i].id, id->valuestring) == 0) {
        sb_err_set(err, SB_EVALIDATE, "automation rules: %s: id used twice",
                   where);
        goto bad;
      }
    snprintf(rl->id, sizeof rl->id, "%s", id->valuestring);
    const char *when = str_of(ru, "when");
    rl->trigger = -1;
    for (int i = 0; when && i < auto__ntriggers; i++)
      if (strcmp(when, auto__triggers[i]) == 0)
        rl->trigger = i;
    if (rl->trigger < 0) {
      sb_text_t l = {0};
      for (int i = 0; i < auto__ntriggers; i++)
        sb_text_add(&l, "%s%s", i ? ", " : "", auto__triggers[i]);
      sb_err_set(err, SB_EVALIDATE,
                 "automation rules: %s: when must be one of %s", where,
                 l.s ? l.s : "");
      sb_text_free(&l);
      goto bad;
    }
    rl->cond = cJSON_GetObjectItemCaseSensitive(ru, "if");
    if (rl->cond != NULL &&
        check_cond(s, when, rl->cond, where, err) != 0)
      goto bad;
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(ru, "then");
    if (!cJSON_IsArray(th) || cJSON_GetArraySize(th) == 0 ||
        cJSON_GetArraySize(th) > AUTO_ACTIONS_MAX) {
      sb_err_set(err, SB_EVALIDATE,
                 "automation rules: %s: then must be an array of 1 to %d "
                 "actions",
                 where, AUTO_ACTIONS_MAX);
      goto bad;
    }
    const cJSON *a;
    cJSON_ArrayForEach(a, th) {
      char aw[160];
      snprintf(aw, sizeof aw, "%s then[%d]", where, rl->nact);
      if (parse_action(a, &rl->act[rl->nact], aw, err) != 0)
        goto bad;
      rl->nact++;
    }
    r->nrules++;
  }
  *out = r;
  return 0;
bad:
  auto__rules_free(r);
  return err->code;
}

void auto__rules_free(auto_rules_t *r) {
  if (r == NULL)
    return;
  cJSON_Delete(r->json);
  free(r);
}

/* ---- conditions ----------------------------------------------------------
 */

/* a field of the event; an absent string reads as "" */
static int value_of(void *arg, const char *name, pred_value_t *v) {
  const sb_event_t *ev = arg;
  sb_field_t f;
  sb_err_t e = SB_ERR_INIT;
  if (sb_codec_field_of(ev->type, name, &f, &e) != 0)
    return v->has = 0, PRED_NUM; /* checked when published: not reached */
  v->has = 1;
  if (f.kind == SB_FIELD_BOOL) {
    v->b = sb_event_bool(ev, f);
    return PRED_BOOL;
  }
  if (f.kind == SB_FIELD_STR || f.kind == SB_FIELD_ENUM) {
    v->s = f.kind == SB_FIELD_ENUM ? sb_event_enum_name(ev, f)
                                   : sb_event_str(ev, f);
    if (v->s == NULL)
      v->s = "";
    return PRED_STR;
  }
  v->has = sb_event_has(ev, f);
  v->n = f.kind == SB_FIELD_DOUBLE || f.kind == SB_FIELD_FLOAT
             ? sb_event_double(ev, f)
             : (double)sb_event_i64(ev, f);
  return PRED_NUM;
}

int auto__match(const cJSON *p, const sb_event_t *ev) {
  return pred_match(p, value_of, (void *)ev);
}
