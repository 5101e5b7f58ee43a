/* Leads: what the processor keeps of each lead, scoring it when it changes
 * and as it ages, and the engagement carried to its partition.
 *
 * Keys and partitions. sb.leads is keyed tenant:lead, so every lead.* event
 * of a lead is on one partition: the lead's record (rt_lead_t) is keyed
 * state there ("L|tenant|lead"), and its score timer ("S|tenant|lead") too.
 * Calls and messages are keyed by their own ids, on other partitions: a
 * call.ended, message.requested or message.inbound naming a lead is carried
 * to the lead's partition as a derived lead.engaged (the repartition Kafka
 * Streams would do; its id derived from the cause, so a retry or replay
 * emits the same id, and the last 8 ids counted are remembered so a copy
 * is not counted twice). Agents and rule sets come from global tables
 * (every instance reads them whole); consent and do-not-call from the
 * compliance processor's table (consent.h), and a lead.dnc_flagged on the
 * lead's own partition at once.
 *
 * A score is emitted as lead.scored (v2: score, components, rule-set
 * version, contactable) only when the score or contactability moves; the
 * lead's timer is set to the next moment age alone moves the rounded
 * score (rt__score's next_at), by event time (routing.decay_clock =
 * event, the default: the partition's events carry time forward, and a
 * replay decays exactly as the first run did) or by the wall clock. The
 * row of routing.lead_scores is written with the event. */
#include "routing_int.h"

#include "book.h"
#include "consent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define R SB_MERGE_REPLACE

const sb_table_def_t rt__lead_scores = {
    .name = "lead_scores",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"lead_id", SB_COL_TEXT, 0},
                               {"score", SB_COL_INT4, R},
                               {"previous_score", SB_COL_INT4, R},
                               {"components", SB_COL_JSONB, R},
                               {"rules_version", SB_COL_TEXT, R},
                               {"contactable", SB_COL_BOOL, R},
                               {"contact_block_reason", SB_COL_TEXT, R},
                               {"scored_at", SB_COL_TIMESTAMPTZ, R},
                               {"next_rescore_at", SB_COL_TIMESTAMPTZ, R},
                               {0}},
    .key = (const char *const[]){"tenant_id", "lead_id", NULL},
};

const sb_table_def_t rt__rule_sets = {
    .name = "rule_sets",
    .cols =
        (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                           {"event_id", SB_COL_TEXT, 0},
                           {"rules_version", SB_COL_TEXT, SB_MERGE_KEEP},
                           {"published_at", SB_COL_TIMESTAMPTZ, SB_MERGE_KEEP},
                           {"rules", SB_COL_JSONB, SB_MERGE_KEEP},
                           {0}},
    .key = (const char *const[]){"tenant_id", "event_id", NULL},
};

/* ---- rule sets ------------------------------------------------------------
 */

/* The rules table: R|tenant -> "<version>\n<rules json>", the latest valid
 * rule set published (sb.tenants keeps a tenant's events on one partition,
 * in order). An invalid one is skipped, logged (and dead-lettered by the
 * processor's own partition, rt__rules_event). */
int rt__reduce_rules(void *state, sb_global_t *g, const sb_event_t *ev,
                     sb_err_t *err) {
  routing_t *x = state;
  if (rt__type(x, ev) != RT_RULES)
    return 0;
  const char *ver = rt__str(x, ev, RT_RULES, RF_RULES_VERSION);
  const char *json = rt__str(x, ev, RT_RULES, RF_RULES_JSON);
  rt_rules_t *r = NULL;
  if (rt__rules_parse(json, ver, &r, err) != 0)
    return err->code;
  rt__rules_free(r);
  sb_text_t v = {0};
  sb_text_add(&v, "%s\n%s", ver, json);
  char key[200];
  snprintf(key, sizeof key, "R|%s", ev->tenant_id);
  int rc = v.failed ? sb_err_set(err, SB_ENOMEM, "out of memory")
                    : sb_global_put(g, key, v.s, v.len, err);
  sb_text_free(&v);
  return rc;
}

int rt__rules_event(routing_t *x, sb_batch_t *b, const sb_event_t *ev,
                    sb_err_t *err) {
  (void)x;
  const char *ver = rt__str(x, ev, RT_RULES, RF_RULES_VERSION);
  const char *json = rt__str(x, ev, RT_RULES, RF_RULES_JSON);
  rt_rules_t *r = NULL;
  sb_err_t why = SB_ERR_INIT;
  int ok = rt__rules_parse(json, ver, &r, &why) == 0;
  rt__rules_free(r);
  if (!ok) /* to the dead letters, saying why; the table skipped it */
    return sb_err_set(err, SB_EVALIDATE, "routing.rules_published %s: %s",
                      ev->event_id, why.msg);
  return sb_rows_add(b, &rt__rule_sets,
                     (const sb_val_t[]){SB_V_TEXT(ev->tenant_id),
                                        SB_V_TEXT(ev->event_id), SB_V_TEXT(ver),
                                        SB_V_TIMESTAMPTZ(ev->occurred_at),
                                        SB_V_JSONB(json)},
                     err);
}

/* The rule set tenant's leads are scored by: the latest valid one
 * published, else the built-in one. Cached parsed, by tenant and version. */
static const rt_rules_t *rules_for(routing_t *x, sb_batch_t *b,
                                   const char *tenant) {
  char key[200];
  const void *v;
  size_t len;
  snprintf(key, sizeof key, "R|%s", tenant);
  if (sb_global_get(b, RT_G_RULES, key, &v, &len) != 0)
    return x->defaults;
  const char *nl = memchr(v, '\n', len);
  if (nl == NULL)
    return x->defaults;
  char ck[200];
  snprintf(ck, sizeof ck, "%s\n%.*s", tenant,
           (int)((const char *)nl - (const char *)v), (const char *)v);
  for (size_t i = 0; i < sizeof x->cache / sizeof x->cache[0]; i++)
    if (x->cache[i].rules != NULL && strcmp(x->cache[i].key, ck) == 0)
      return x->cache[i].rules;
  char *json = malloc(len);
  if (json == NULL)
    return x->defaults;
  size_t jl = len - (size_t)(nl + 1 - (const char *)v);
  memcpy(json, nl + 1, jl);
  json[jl] = '\0';
  char ver[129];
  snprintf(ver, sizeof ver, "%.*s", (int)((const char *)nl - (const char *)v),
           (const char *)v);
  rt_rules_t *r = NULL;
  sb_err_t e = SB_ERR_INIT;
  int rc = rt__rules_parse(json, ver, &r, &e);
  free(json);
  if (rc != 0)
    return x->defaults; /* the reducer kept only valid ones */
  size_t slot = x->cache_next++ % (sizeof x->cache / sizeof x->cache[0]);
  rt__rules_free(x->cache[slot].rules);
  x->cache[slot].rules = r;
  snprintf(x->cache[slot].key, sizeof x->cache[slot].key, "%s", ck);
  return r;
}

/* ---- facts ------------------------------------------------------------------
 */

typedef struct {
  const char *campaign;
  int found;
} avail_t;

static int available_cb(const routing_agent_t *a, void *arg) {
  avail_t *w = arg;
  if (strcmp(a->state, "available") != 0)
    return 0;
  if (w->campaign[0] == '\0' || routing_agent_serves(a, w->campaign) ||
      (a->queues[0] == '\0' && a->campaigns[0] == '\0')) {
    w->found = 1;
    return 1;
  }
  return 0;
}

static void facts_of(routing_t *x, sb_batch_t *b, const char *tenant,
                     const char *lead, const rt_lead_t *l, int64_t at,
                     rt_facts_t *f) {
  avail_t w = {.campaign = l->campaign};
  routing_agents_each(b, tenant, at, available_cb, &w);
  f->agent_available = w.found;
  if (l->dnc) {
    f->contactable = 0;
    f->block_reason = "dnc";
    return;
  }
  sb_consent_reason_t why = SB_CONSENT_ALLOWED;
  /* on the lead's channel: e-mail by its address, sms and voice (and
   * chat, which consent does not name) by its phone */
  int email = l->channel == ROUTING_CH_EMAIL;
  const char *hmac = email ? l->email_hmac : l->phone_hmac;
  f->contactable = sb_consent_allows_in(
      b, RT_G_CONSENT, tenant, lead, hmac[0] ? hmac : NULL, x->purpose,
      email ? "email" : l->channel == ROUTING_CH_SMS ? "sms" : "voice", at,
      &why);
  f->block_reason = f->contactable ? NULL : sb_consent_reason_name(why);
}

/* ---- scoring a lead
 * ---------------------------------------------------------- */

static int rescore(routing_t *x, sb_batch_t *b, const char *tenant,
                   const char *lead, rt_lead_t *l, int64_t at,
                   const sb_emit_t *o, sb_err_t *err) {
  const rt_rules_t *rules = rules_for(x, b, tenant);
  rt_facts_t f = {0};
  l->last_at = at;
  facts_of(x, b, tenant, lead, l, at, &f);
  rt_score_t sc;
  if (rt__score(rules, l, &f, at, &sc, err) != 0)
    return err->code;
  char key[400];
  snprintf(key, sizeof key, "S|%s|%s", tenant, lead);
  int rc = 0;
  int moved =
      !l->has_score || l->score != sc.score || l->contactable != f.contactable;
  if (moved) {
    const sb_field_t *F = x->f[RT_LEAD_SCORED];
    sb_build_t *e = sb_emit_begin(b, x->t[RT_LEAD_SCORED]);
    sb_build_str(e, F[RF_LEAD_ID], lead);
    sb_build_double(e, F[RF_SCORE], (double)sc.score);
    sb_build_str(e, F[RF_MODEL_VERSION], rt__rules_version(rules));
    sb_build_str(e, F[RF_RULES_VERSION], rt__rules_version(rules));
    if (l->has_score)
      sb_build_double(e, F[RF_PREVIOUS_SCORE], (double)l->score);
    sb_build_strs(e, F[RF_FACTORS], sc.factors, sc.nfactors);
    sb_build_str(e, F[RF_COMPONENTS], sc.components_json);
    sb_build_bool(e, F[RF_CONTACTABLE], f.contactable);
    if (!f.contactable && f.block_reason)
      sb_build_str(e, F[RF_BLOCK_REASON], f.block_reason);
    if (sc.next_at > 0)
      sb_build_i64(e, F[RF_NEXT_AT], sc.next_at);
    sb_emit_t eo = o ? *o : (sb_emit_t){0};
    eo.occurred_at = at; /* when it was scored (never earlier than before) */
    rc = sb_emit_end(b, e, &eo, err);
    if (rc == 0)
      rc = sb_rows_add(
          b, &rt__lead_scores,
          (const sb_val_t[]){
              SB_V_TEXT(tenant), SB_V_TEXT(lead), SB_V_INT4(sc.score),
              l->has_score ? (sb_val_t)SB_V_INT4(l->score)
                           : (sb_val_t)SB_V_NULL,
              SB_V_JSONB(sc.components_json),
              SB_V_TEXT(rt__rules_version(rules)), SB_V_BOOL(f.contactable),
              SB_V_TEXT(f.contactable ? NULL : f.block_reason),
              SB_V_TIMESTAMPTZ(at),
              sc.next_at ? (sb_val_t)SB_V_TIMESTAMPTZ(sc.next_at)
                         : (sb_val_t)SB_V_NULL},
          err);
    l->has_score = 1;
    l->score = sc.score;
    l->contactable = f.contactable;
    snprintf(l->rules_version, sizeof l->rules_version, "%s",
             rt__rules_version(rules));
  }
  cJSON_free(sc.components_json);
  if (rc != 0)
    return rc;
  /* A consent posted just before its lead can reach the consent table
   * (a global table, read from sb.compliance beside this partition) after
   * the lead: a live lead refused for want of consent is looked at again
   * every 500 ms of the wall clock for routing.consent_wait_ms from its
   * creation (a late consent then makes it contactable and hands it on). */
  int64_t wall = sb_wall_us();
  if (!f.contactable && f.block_reason &&
      strcmp(f.block_reason, "no_consent") == 0 && x->consent_wait_ms > 0 &&
      l->created_at > 0 && at >= wall - 60 * INT64_C(1000000) &&
      wall - l->created_at < (int64_t)x->consent_wait_ms * 1000)
    return sb_timer_set(b, key, wall + 500000, SB_TIMER_WALL, err);
  if (sc.next_at > 0)
    return sb_timer_set(b, key, sc.next_at,
                        x->decay_wall ? SB_TIMER_WALL : SB_TIMER_EVENT, err);
  return sb_timer_cancel(b, key, err);
}

/* src (NULL: empty) into dst of n bytes, cut at n - 1 bytes */
static void copy(char *dst, size_t n, const char *src) {
  size_t len = src ? strlen(src) : 0;
  if (len >= n)
    len = n - 1;
  if (len)
    memcpy(dst, src, len);
  dst[len] = '\0';
}

static int listed(const routing_t *x, const sb_event_t *ev, int t,
                  const char *name) {
  sb_field_t f = x->f[t][RF_CHANGED_FIELDS];
  for (size_t i = 0, n = sb_event_count(ev, f); i < n; i++)
    if (strcmp(sb_event_str_at(ev, f, i), name) == 0)
      return 1;
  return 0;
}

/* A lead's skills list (v4): each name or name:level (a name of 1 to 63
 * bytes without ',' or ':', a level 1 to 10), each once; SB_EVALIDATE
 * naming the field and item. */
static int skills_ok(const routing_t *x, const sb_event_t *ev, int t, int f,
                     sb_err_t *err) {
  sb_field_t h = x->f[t][f];
  size_t n = sb_event_count(ev, h), bytes = 0;
  for (size_t i = 0; i < n; i++) {
    const char *v = sb_event_str_at(ev, h, i), *colon = strchr(v, ':');
    size_t nl = colon ? (size_t)(colon - v) : strlen(v);
    char *end = NULL;
    long lv = colon ? strtol(colon + 1, &end, 10) : 1;
    int ok = nl > 0 && nl <= ROUTING_NAME_MAX && memchr(v, ',', nl) == NULL &&
             (colon == NULL || (colon[1] != '\0' && *end == '\0')) &&
             lv >= 1 && lv <= 10;
    for (size_t j = 0; ok && j < i; j++) {
      const char *w = sb_event_str_at(ev, h, j);
      ok = strncmp(w, v, nl) != 0 || (w[nl] != '\0' && w[nl] != ':');
    }
    bytes += strlen(v) + 1;
    if (!ok || bytes >= RT_LEAD_SKILLS_MAX)
      return sb_err_set(err, SB_EVALIDATE,
                        "%s: %s[%zu]: '%.80s': a skill is name or "
                        "name:level (a name of 1 to %d bytes without ',' or "
                        "':', a level 1 to 10), each once, %d bytes in all",
                        sb_evtype_name(ev->type),
                        f == RF_REQUIRED_SKILLS ? "required_skills"
                                                : "optional_skills",
                        i, v, ROUTING_NAME_MAX, RT_LEAD_SKILLS_MAX - 1);
  }
  return 0;
}

/* A checked skills list into out ("a:1,b:3"; RT_LEAD_SKILLS_MAX bytes). */
static void pack_skills(const routing_t *x, const sb_event_t *ev, int t,
                        int f, char *out) {
  sb_field_t h = x->f[t][f];
  size_t used = 0;
  out[0] = '\0';
  for (size_t i = 0, n = sb_event_count(ev, h); i < n; i++) {
    int w = snprintf(out + used, RT_LEAD_SKILLS_MAX - used, "%s%s",
                     used ? "," : "", sb_event_str_at(ev, h, i));
    if (w < 0 || (size_t)w >= RT_LEAD_SKILLS_MAX - used)
      break; /* skills_ok bounds it */
    used += (size_t)w;
  }
}

/* The lead's record in keyed state: 0 and *l (a version 1 record read
 * with the newer fields zero), or SB_ENOENT. */
static int lead_get(sb_batch_t *b, const char *key, rt_lead_t *l) {
  const void *v;
  size_t len;
  memset(l, 0, sizeof *l);
  if (sb_state_get(b, key, &v, &len) != 0 ||
      (len != sizeof *l && len != RT_LEAD_V1_SIZE))
    return SB_ENOENT;
  memcpy(l, v, len == sizeof *l ? len : RT_LEAD_V1_FIELDS);
  return 0;
}

/* The lead's attributes an event sets; 0 when it says nothing to score. */
static int apply(const routing_t *x, rt_lead_t *l, const sb_event_t *ev,
                 int t) {
  int all = t == RT_LEAD_CREATED;
#define SET(name) (all || (t == RT_LEAD_UPDATED && listed(x, ev, t, name)))
  if (SET("lead_source"))
    copy(l->source, sizeof l->source, rt__str(x, ev, t, RF_LEAD_SOURCE));
  if (SET("campaign_id"))
    copy(l->campaign, sizeof l->campaign, rt__str(x, ev, t, RF_CAMPAIGN_ID));
  if (SET("priority")) {
    l->has_priority = sb_event_has(ev, x->f[t][RF_PRIORITY]);
    l->priority = (int32_t)sb_event_i64(ev, x->f[t][RF_PRIORITY]);
  }
  if (SET("estimated_value_cents")) {
    l->has_value = sb_event_has(ev, x->f[t][RF_VALUE]);
    l->value_cents = sb_event_i64(ev, x->f[t][RF_VALUE]);
  }
  if (SET("phone"))
    copy(l->phone_hmac, sizeof l->phone_hmac, rt__str(x, ev, t, RF_PHONE_HMAC));
  if (SET("email"))
    copy(l->email_hmac, sizeof l->email_hmac, rt__str(x, ev, t, RF_EMAIL_HMAC));
  if (SET("time_zone"))
    copy(l->tz, sizeof l->tz, rt__str(x, ev, t, RF_TIME_ZONE));
  if (SET("phone"))
    copy(l->phone_tz, sizeof l->phone_tz, rt__str(x, ev, t, RF_PHONE_TZ));
  if (SET("channel")) {
    routing_channel_t ch = ROUTING_CH_VOICE;
    const char *c = rt__str(x, ev, t, RF_CHANNEL);
    l->channel = c && routing_channel_parse(c, &ch) == 0 ? (int32_t)ch : 0;
  }
  if (SET("required_skills"))
    pack_skills(x, ev, t, RF_REQUIRED_SKILLS, l->required);
  if (SET("optional_skills"))
    pack_skills(x, ev, t, RF_OPTIONAL_SKILLS, l->optional);
#undef SET
  if (all) {
    l->created_at = ev->occurred_at;
    const char *st = rt__str(x, ev, t, RF_STATUS);
    copy(l->status, sizeof l->status, st ? st : "new");
  }
  switch (t) {
  case RT_LEAD_STATUS:
    copy(l->status, sizeof l->status, rt__str(x, ev, t, RF_STATUS));
    break;
  case RT_LEAD_ASSIGNED:
    copy(l->agent, sizeof l->agent, rt__str(x, ev, t, RF_AGENT_ID));
    break;
  case RT_LEAD_RECYCLED: {
    const char *st = rt__str(x, ev, t, RF_STATUS);
    copy(l->status, sizeof l->status, st ? st : "recycled");
    l->agent[0] = '\0';
    const char *c = rt__str(x, ev, t, RF_CAMPAIGN_ID);
    if (c)
      copy(l->campaign, sizeof l->campaign, c);
    break;
  }
  case RT_LEAD_DNC:
    l->dnc = 1;
    break;
  case RT_LEAD_QUEUE: /* the queue is what lead_ready routes by: sent again */
    copy(l->campaign, sizeof l->campaign, rt__str(x, ev, t, RF_QUEUE_ID));
    l->routed = 0;
    break;
  case RT_LEAD_ENGAGED: {
    /* only the processor's own: a client posting lead.engaged (lead.* is
     * in the floor roles' grants) counts nothing */
    const char *src = rt__str(x, ev, t, RF_SOURCE);
    if (src == NULL || strcmp(src, "switchboard://processor/routing") != 0)
      return 0;
    for (int i = 0; i < 8; i++)
      if (strcmp(l->engaged[i], ev->event_id) == 0)
        return 0; /* a copy of one counted */
    copy(l->engaged[l->engaged_next++ % 8], sizeof l->engaged[0], ev->event_id);
    const char *k = rt__str(x, ev, t, RF_KIND);
    int32_t *n = k == NULL                          ? NULL
                 : strcmp(k, "call") == 0           ? &l->calls
                 : strcmp(k, "call_connected") == 0 ? &l->connected
                 : strcmp(k, "message") == 0        ? &l->messages
                                                    : &l->replies;
    if (n && *n < 1000000)
      (*n)++;
    if (k && strcmp(k, "call_connected") == 0 && l->calls < 1000000)
      l->calls++;
    break;
  }
  default:
    break;
  }
  if (l->created_at == 0)
    l->created_at = ev->occurred_at;
  return 1;
}

/* A call or message naming a lead: carried to the lead's partition. */
static int engage(routing_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                  sb_err_t *err) {
  const char *lead = rt__str(x, ev, t, RF_LEAD_ID);
  if (lead == NULL)
    return 0;
  const char *kind = t == RT_MSG_REQUESTED ? "message"
                     : t == RT_MSG_INBOUND ? "reply"
                     : sb_event_i64(ev, x->f[t][RF_TALK_MS]) > 0
                         ? "call_connected"
                         : "call";
  const sb_field_t *F = x->f[RT_LEAD_ENGAGED];
  sb_build_t *e = sb_emit_begin(b, x->t[RT_LEAD_ENGAGED]);
  sb_build_str(e, F[RF_LEAD_ID], lead);
  sb_build_enum(e, F[RF_KIND], kind);
  sb_build_str(e, F[RF_SOURCE_EVENT_ID], ev->event_id);
  sb_build_str(e, F[RF_SOURCE_TYPE], sb_evtype_name(ev->type));
  const char *agent = rt__str(x, ev, t, RF_AGENT_ID);
  if (agent)
    sb_build_str(e, F[RF_AGENT_ID], agent);
  return sb_emit_end(b, e, NULL, err);
}

int rt__leads_event(routing_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                    sb_err_t *err) {
  if (t == RT_CALL_ENDED || t == RT_MSG_REQUESTED || t == RT_MSG_INBOUND)
    return engage(x, b, ev, t, err);
  int asked = t == RT_LEAD_RESCORE || t == RT_LEAD_QUEUE; /* automation */
  if (!asked &&
      (t == RT_LEAD_SCORED || t < RT_LEAD_CREATED || t > RT_LEAD_ENGAGED))
    return 0;
  const char *lead = rt__str(x, ev, t, RF_LEAD_ID);
  if (lead == NULL)
    lead = ev->subject;
  if (lead == NULL)
    return sb_err_set(err, SB_EVALIDATE, "%s: no lead_id",
                      sb_evtype_name(ev->type));
  if (t == RT_LEAD_ASSIGNED) {
    const char *agent = rt__str(x, ev, t, RF_AGENT_ID);
    if (agent && rt__board_lead(x, ev, agent, lead) != 0)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  if ((t == RT_LEAD_CREATED || t == RT_LEAD_UPDATED) &&
      (skills_ok(x, ev, t, RF_REQUIRED_SKILLS, err) != 0 ||
       skills_ok(x, ev, t, RF_OPTIONAL_SKILLS, err) != 0))
    return err->code;
  char key[400];
  snprintf(key, sizeof key, "L|%s|%s", ev->tenant_id, lead);
  rt_lead_t l;
  if (lead_get(b, key, &l) != 0) {
    if (asked)
      return 0; /* a lead it never saw: nothing to score or route */
    memset(&l, 0, sizeof l), l.ver = 1;
  }
  if (!apply(x, &l, ev, t))
    return 0;
  int64_t at = ev->occurred_at > l.last_at ? ev->occurred_at : l.last_at;
  if (rescore(x, b, ev->tenant_id, lead, &l, at, NULL, err) != 0 ||
      rt__forward_lead(x, b, ev->tenant_id, lead, &l, NULL, err) != 0)
    return err->code;
  return sb_state_put(b, key, &l, sizeof l, err);
}

int rt__leads_timer(routing_t *x, sb_batch_t *b, const sb_timer_t *t,
                    sb_err_t *err) {
  /* S|tenant|lead: the lead id last (it may hold '|') */
  const char *p = t->key + 2, *bar = strchr(p, '|');
  if (strncmp(t->key, "S|", 2) != 0 || bar == NULL)
    return 0;
  char tenant[80];
  snprintf(tenant, sizeof tenant, "%.*s", (int)(bar - p), p);
  const char *lead = bar + 1;
  char key[400];
  snprintf(key, sizeof key, "L|%s|%s", tenant, lead);
  rt_lead_t l;
  if (lead_get(b, key, &l) != 0)
    return 0; /* nothing to score */
  sb_emit_t o = {.tenant_id = tenant};
  if (rescore(x, b, tenant, lead, &l,
              t->due_us > l.last_at ? t->due_us : l.last_at, &o, err) != 0 ||
      rt__forward_lead(x, b, tenant, lead, &l, &o, err) != 0)
    return err->code;
  return sb_state_put(b, key, &l, sizeof l, err);
}

int routing_lead_score(sb_batch_t *b, const char *tenant, const char *lead,
                       int *score, int *contactable) {
  char key[400];
  snprintf(key, sizeof key, "L|%s|%s", tenant, lead);
  rt_lead_t l;
  if (lead_get(b, key, &l) != 0)
    return SB_ENOENT;
  if (!l.has_score)
    return SB_ENOENT;
  if (score)
    *score = l.score;
  if (contactable)
    *contactable = l.contactable;
  return 0;
}
