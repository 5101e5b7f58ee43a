/* Agent availability: what sb.agents and sb.calls say of every agent.
 *
 * Two global tables (every instance reads every partition, so every agent
 * of a tenant is there whichever partition its events are on):
 *   agents       G|tenant|agent  the agent's record (rt_agent_t) from
 *                                agent.logged_in/logged_out/state_changed/
 *                                skills_changed
 *                A|tenant        the tenant's roster: agent ids, one a line,
 *                                in the order first seen
 *   agent_calls  C|tenant|agent  what its calls say (rt_agent_calls_t):
 *                                ringing (call.offered), on_call
 *                                (call.connected), wrapup (call.ended), done
 *                                (call.dispositioned); the last call's end;
 *                                calls ended per quarter hour over 26 hours
 * Both reducers are order-insensitive (the latest event by occurred_at,
 * ties by event id, wins; counts add up), so every instance, and a replay
 * reading the partitions in another interleaving, ends with the same
 * tables. The state an agent is in is the later of the two (see
 * routing_agent_get).
 *
 * The board (routing.agents) is written from the processor's own
 * partitions: the agent's record in keyed state on its sb.agents
 * partition, the call columns from each call event, the current lead from
 * lead.assigned, each group of columns guarded by its own (time, event id)
 * so that batches of different partitions, in any order, leave the latest
 * (commit, below). */
#include "routing_int.h"

#include "consent.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reduce_agents(void *state, sb_global_t *g, const sb_event_t *ev,
                         sb_err_t *err);
static int reduce_calls(void *state, sb_global_t *g, const sb_event_t *ev,
                        sb_err_t *err);

const sb_global_def_t rt__globals[] = {
    {"agents", SB_TOPIC_AGENTS, reduce_agents},
    {"agent_calls", SB_TOPIC_CALLS, reduce_calls},
    {"rules", SB_TOPIC_TENANTS, rt__reduce_rules},
    SB_CONSENT_GLOBAL,
    {0},
};

/* ---- records ------------------------------------------------------------ */

static int later(int64_t at, const char *id, int64_t than_at,
                 const char *than_id) {
  if (at != than_at)
    return at > than_at;
  return strcmp(id, than_id) > 0;
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

/* Packs a string array field into out ("a,b"): each item checked by kind
 * (0 plain, 1 skill[:level 1-10], 2 channel:n). */
static int pack(const routing_t *x, const sb_event_t *ev, int t, int f,
                int kind, char *out, size_t n, sb_err_t *err) {
  static const char *const channels[] = {"voice", "sms",   "email", "whatsapp",
                                         "chat",  "slack", "push",  NULL};
  size_t used = 0, cnt = sb_event_count(ev, x->f[t][f]);
  out[0] = '\0';
  for (size_t i = 0; i < cnt; i++) {
    const char *v = sb_event_str_at(ev, x->f[t][f], i);
    if (v == NULL || v[0] == '\0' || strchr(v, ',') || strchr(v, '\n'))
      return sb_err_set(err, SB_EVALIDATE,
                        "%s: %s[%zu]: empty, or holds a "
                        "comma or a newline",
                        sb_evtype_name(ev->type),
                        f == RF_SKILLS             ? "skills"
                        : f == RF_CHANNEL_CAPACITY ? "channel_capacity"
                        : f == RF_QUEUE_IDS        ? "queue_ids"
                                                   : "campaign_ids",
                        i);
    const char *colon = strchr(v, ':');
    if (kind == 1 && colon) {
      char *end;
      long lv = strtol(colon + 1, &end, 10);
      if (colon == v || *end != '\0' || colon[1] == '\0' || lv < 1 || lv > 10)
        return sb_err_set(err, SB_EVALIDATE,
                          "%s: skills[%zu]: '%.140s': a "
                          "skill is name or name:level, level 1 to 10",
                          sb_evtype_name(ev->type), i, v);
    }
    if (kind == 2) {
      int ok = 0;
      for (int c = 0; colon && channels[c]; c++)
        ok |= (size_t)(colon - v) == strlen(channels[c]) &&
              strncmp(v, channels[c], (size_t)(colon - v)) == 0;
      char *end = NULL;
      long cap = colon ? strtol(colon + 1, &end, 10) : -1;
      if (!ok || colon[1] == '\0' || *end != '\0' || cap < 0 || cap > 100)
        return sb_err_set(err, SB_EVALIDATE,
                          "%s: channel_capacity[%zu]: "
                          "'%.40s': channel:n with a channel of voice, sms, "
                          "email, whatsapp, chat, slack, push and n 0 to 100",
                          sb_evtype_name(ev->type), i, v);
    }
    size_t len = strlen(v);
    if (used + len + 2 > n)
      return sb_err_set(err, SB_EVALIDATE,
                        "%s: more than %zu bytes of "
                        "list items",
                        sb_evtype_name(ev->type), n - 1);
    if (used)
      out[used++] = ',';
    memcpy(out + used, v, len + 1);
    used += len;
  }
  return 0;
}

static int listed(const routing_t *x, const sb_event_t *ev, int t,
                  const char *name) {
  sb_field_t f = x->f[t][RF_CHANGED_FIELDS];
  for (size_t i = 0, n = sb_event_count(ev, f); i < n; i++)
    if (strcmp(sb_event_str_at(ev, f, i), name) == 0)
      return 1;
  return 0;
}

static void set_state(rt_agent_t *r, const char *st, int64_t at) {
  if (strcmp(r->state, st) != 0) {
    copy(r->state, sizeof r->state, st);
    r->state_at = at;
  }
  r->seen_at = at;
}

int rt__agent_apply(const routing_t *x, rt_agent_t *r, const sb_event_t *ev,
                    int t, sb_err_t *err) {
  if (r->ver != 0 &&
      !later(ev->occurred_at, ev->event_id, r->event_at, r->event_id))
    return 0;
  rt_agent_t n = *r;
  n.ver = 1;
  int profile = t == RT_AGENT_IN || (t == RT_AGENT_SKILLS);
  if (t == RT_AGENT_IN) {
    set_state(&n, "available", ev->occurred_at);
    n.logged_in_at = ev->occurred_at;
    n.pause_reason[0] = n.call_id[0] = '\0';
  } else if (t == RT_AGENT_OUT) {
    set_state(&n, "offline", ev->occurred_at);
    n.logged_in_at = 0;
    n.pause_reason[0] = n.call_id[0] = '\0';
  } else if (t == RT_AGENT_STATE) {
    const char *st = rt__str(x, ev, t, RF_STATE);
    if (st == NULL)
      return sb_err_set(err, SB_EVALIDATE, "agent.state_changed: no state");
    set_state(&n, st, ev->occurred_at);
    copy(n.pause_reason, sizeof n.pause_reason,
         strcmp(st, "paused") == 0 ? rt__str(x, ev, t, RF_PAUSE_REASON) : NULL);
    copy(n.call_id, sizeof n.call_id, rt__str(x, ev, t, RF_CALL_ID));
    if (strcmp(st, "offline") == 0)
      n.logged_in_at = 0;
    else if (n.logged_in_at == 0)
      n.logged_in_at = ev->occurred_at;
  }
  if (profile) {
    int all = t == RT_AGENT_IN; /* a login states its profile whole */
#define PROFILE(name, fi, kind, dst)                                           \
  if ((all && sb_event_has(ev, x->f[t][fi])) ||                                \
      (!all && listed(x, ev, t, name)))                                        \
    if (pack(x, ev, t, fi, kind, dst, sizeof dst, err) != 0)                   \
      return err->code;
    PROFILE("skills", RF_SKILLS, 1, n.skills)
    PROFILE("queue_ids", RF_QUEUE_IDS, 0, n.queues)
    PROFILE("campaign_ids", RF_CAMPAIGN_IDS, 0, n.campaigns)
    PROFILE("channel_capacity", RF_CHANNEL_CAPACITY, 2, n.capacity)
#undef PROFILE
    if ((all && sb_event_has(ev, x->f[t][RF_TEAM_ID])) ||
        (!all && listed(x, ev, t, "team_id")))
      copy(n.team_id, sizeof n.team_id, rt__str(x, ev, t, RF_TEAM_ID));
    if ((all && sb_event_has(ev, x->f[t][RF_CAPACITY])) ||
        (!all && listed(x, ev, t, "capacity"))) {
      /* the v1 capacity is voice's, unless channel_capacity says */
      sb_field_t cf = x->f[t][RF_CAPACITY];
      if (sb_event_has(ev, cf) && strstr(n.capacity, "voice:") == NULL) {
        int64_t c = sb_event_i64(ev, cf);
        if (c < 0 || c > 100)
          return sb_err_set(err, SB_EVALIDATE,
                            "%s: capacity: %lld is not "
                            "0 to 100",
                            sb_evtype_name(ev->type), (long long)c);
        char buf[sizeof n.capacity + 32];
        int w = snprintf(buf, sizeof buf, "voice:%lld%s%s", (long long)c,
                         n.capacity[0] ? "," : "", n.capacity);
        if (w < 0 || (size_t)w >= sizeof n.capacity)
          return sb_err_set(err, SB_EVALIDATE,
                            "%s: capacity: more than %zu "
                            "bytes with channel_capacity",
                            sb_evtype_name(ev->type), sizeof n.capacity - 1);
        copy(n.capacity, sizeof n.capacity, buf);
      }
    }
  }
  copy(n.event_id, sizeof n.event_id, ev->event_id);
  n.event_at = ev->occurred_at;
  *r = n;
  return 1;
}

static void bucket_add(rt_agent_calls_t *r, int64_t at) {
  int64_t k = at / RT_BUCKET_US;
  if (r->base == 0 && r->buckets[0] == 0) {
    r->base = k - (RT_BUCKETS - 1); /* k is the newest */
  } else if (k > r->base + RT_BUCKETS - 1) {
    int64_t shift = k - (r->base + RT_BUCKETS - 1);
    if (shift >= RT_BUCKETS) {
      memset(r->buckets, 0, sizeof r->buckets);
    } else {
      memmove(r->buckets, r->buckets + shift,
              sizeof r->buckets[0] * (size_t)(RT_BUCKETS - shift));
      memset(r->buckets + (RT_BUCKETS - shift), 0,
             sizeof r->buckets[0] * (size_t)shift);
    }
    r->base += shift;
  }
  if (k < r->base)
    return; /* older than 26 hours before the newest: no day counts it */
  if (r->buckets[k - r->base] < UINT16_MAX)
    r->buckets[k - r->base]++;
}

int rt__calls_apply(const routing_t *x, rt_agent_calls_t *r,
                    const sb_event_t *ev, int t) {
  (void)x;
  static const char *const st[] = {[RT_CALL_OFFERED] = "ringing",
                                   [RT_CALL_CONNECTED] = "on_call",
                                   [RT_CALL_ENDED] = "wrapup",
                                   [RT_CALL_DISPO] = "done"};
  r->ver = 1;
  if (t == RT_CALL_ENDED) {
    if (ev->occurred_at > r->last_end)
      r->last_end = ev->occurred_at;
    bucket_add(r, ev->occurred_at);
  }
  if (r->at == 0 || later(ev->occurred_at, ev->event_id, r->at, r->event_id)) {
    copy(r->state, sizeof r->state, st[t]);
    r->at = ev->occurred_at;
    copy(r->event_id, sizeof r->event_id, ev->event_id);
    copy(r->call_id, sizeof r->call_id, ev->subject);
  }
  return 1;
}

static const char *agent_of(const routing_t *x, const sb_event_t *ev, int t) {
  return rt__str(x, ev, t, RF_AGENT_ID);
}

static int is_agent_type(int t) {
  return t >= RT_AGENT_IN && t <= RT_AGENT_SKILLS;
}
static int is_call_type(int t) {
  return t >= RT_CALL_OFFERED && t <= RT_CALL_DISPO;
}

/* ---- the reducers -------------------------------------------------------- */

static int roster_add(const routing_t *x, sb_global_t *g, const char *tenant,
                      const char *agent, sb_err_t *err) {
  char key[200];
  const void *v = NULL;
  size_t len = 0;
  snprintf(key, sizeof key, "A|%s", tenant);
  int have = sb_global_find(g, key, &v, &len) == 0;
  size_t n = 0;
  for (size_t i = 0; have && i < len; i++)
    n += ((const char *)v)[i] == '\n';
  if ((int)n >= x->max_agents)
    return sb_err_set(err, SB_EVALIDATE,
                      "tenant %s has %zu agents already: "
                      "routing.max_agents_per_tenant",
                      tenant, n);
  size_t al = strlen(agent);
  char *buf = malloc(len + al + 2);
  if (buf == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  if (have)
    memcpy(buf, v, len);
  else
    len = 0;
  memcpy(buf + len, agent, al);
  buf[len + al] = '\n';
  int rc = sb_global_put(g, key, buf, len + al + 1, err);
  free(buf);
  return rc;
}

static int reduce_agents(void *state, sb_global_t *g, const sb_event_t *ev,
                         sb_err_t *err) {
  routing_t *x = state;
  int t = rt__type(x, ev);
  const char *agent = t >= 0 && is_agent_type(t) ? agent_of(x, ev, t) : NULL;
  if (agent == NULL)
    return 0;
  char key[300];
  snprintf(key, sizeof key, "G|%s|%s", ev->tenant_id, agent);
  rt_agent_t r;
  const void *v;
  size_t len;
  int found = sb_global_find(g, key, &v, &len) == 0 && len == sizeof r;
  if (found)
    memcpy(&r, v, sizeof r);
  else
    memset(&r, 0, sizeof r);
  int rc = rt__agent_apply(x, &r, ev, t, err);
  if (rc <= 0)
    return rc;
  if (!found && roster_add(x, g, ev->tenant_id, agent, err) != 0)
    return err->code;
  return sb_global_put(g, key, &r, sizeof r, err);
}

static int reduce_calls(void *state, sb_global_t *g, const sb_event_t *ev,
                        sb_err_t *err) {
  routing_t *x = state;
  int t = rt__type(x, ev);
  const char *agent = t >= 0 && is_call_type(t) ? agent_of(x, ev, t) : NULL;
  if (agent == NULL || ev->subject == NULL)
    return 0;
  char key[300];
  snprintf(key, sizeof key, "C|%s|%s", ev->tenant_id, agent);
  rt_agent_calls_t r;
  const void *v;
  size_t len;
  if (sb_global_find(g, key, &v, &len) == 0 && len == sizeof r)
    memcpy(&r, v, sizeof r);
  else
    memset(&r, 0, sizeof r);
  rt__calls_apply(x, &r, ev, t);
  return sb_global_put(g, key, &r, sizeof r, err);
}

/* ---- reading ------------------------------------------------------------- */

/* routing_agent_get with the tenant's local midnight (in quarter hours)
 * known: routing_agents_each asks it once for all the agents */
static int agent_view(sb_batch_t *b, const char *tenant, const char *agent,
                      int64_t now_us, int64_t from, routing_agent_t *out) {
  char key[300];
  const void *v;
  size_t len;
  memset(out, 0, sizeof *out);
  if (tenant == NULL || agent == NULL)
    return SB_ENOENT;
  snprintf(key, sizeof key, "G|%s|%s", tenant, agent);
  if (sb_global_get(b, RT_G_AGENTS, key, &v, &len) != 0 ||
      len != sizeof(rt_agent_t))
    return SB_ENOENT;
  const rt_agent_t *a = v; /* borrowed from the table */
  out->agent_id = agent;
  out->state = a->state;
  out->state_since = a->state_at;
  out->pause_reason = a->pause_reason[0] ? a->pause_reason : NULL;
  out->call_id = a->call_id[0] ? a->call_id : NULL;
  out->logged_in_at = a->logged_in_at;
  out->team_id = a->team_id;
  out->skills = a->skills;
  out->queues = a->queues;
  out->campaigns = a->campaigns;
  out->capacity = a->capacity;
  key[0] = 'C';
  if (sb_global_get(b, RT_G_CALLS, key, &v, &len) == 0 &&
      len == sizeof(rt_agent_calls_t)) {
    const rt_agent_calls_t *c = v;
    out->last_call_ended_at = c->last_end;
    for (int i = 0; i < RT_BUCKETS; i++)
      if (c->base + i >= from && c->base + i <= now_us / RT_BUCKET_US)
        out->calls_today += c->buckets[i];
    if (c->at <= a->seen_at && c->at > a->state_at)
      out->state_since = a->seen_at; /* a call came between: back since */
    if (c->at > a->seen_at) {        /* the calls say more recently */
      out->state_since = c->at;
      out->pause_reason = NULL;
      if (strcmp(c->state, "done") != 0) {
        out->state = c->state;
        out->call_id = c->call_id;
      } else {
        out->call_id = NULL;
        if (strcmp(a->state, "offline") != 0 && strcmp(a->state, "paused") != 0)
          out->state = "available";
        else
          out->pause_reason = a->pause_reason[0] ? a->pause_reason : NULL;
      }
    }
  }
  out->idle_since = strcmp(out->state, "available") == 0 ? out->state_since : 0;
  out->load_voice = strcmp(out->state, "ringing") == 0 ||
                    strcmp(out->state, "on_call") == 0 ||
                    strcmp(out->state, "wrapup") == 0;
  return 0;
}

int routing_agent_get(sb_batch_t *b, const char *tenant, const char *agent,
                      int64_t now_us, routing_agent_t *out) {
  return agent_view(b, tenant, agent, now_us,
                    sb_tenant_day_start(b, tenant, now_us) / RT_BUCKET_US, out);
}

int routing_agents_each(sb_batch_t *b, const char *tenant, int64_t now_us,
                        int (*cb)(const routing_agent_t *a, void *arg),
                        void *arg) {
  char key[200];
  const void *v;
  size_t len;
  snprintf(key, sizeof key, "A|%s", tenant);
  if (sb_global_get(b, RT_G_AGENTS, key, &v, &len) != 0)
    return 0;
  char *roster = malloc(len + 1); /* a copy: strtok_r writes into it */
  if (roster == NULL)
    return SB_ENOMEM;
  memcpy(roster, v, len);
  roster[len] = '\0';
  int rc = 0;
  int64_t from = sb_tenant_day_start(b, tenant, now_us) / RT_BUCKET_US;
  for (char *save = NULL, *id = strtok_r(roster, "\n", &save); id && rc == 0;
       id = strtok_r(NULL, "\n", &save)) {
    routing_agent_t a;
    if (agent_view(b, tenant, id, now_us, from, &a) == 0)
      rc = cb(&a, arg);
  }
  free(roster);
  return rc;
}

/* Whether list "a,b:2,c" holds name (before any ':'); its level, else 0. */
static int list_level(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; p && *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len >= n && strncmp(p, name, n) == 0 && (len == n || p[n] == ':'))
      return len == n ? 1 : atoi(p + n + 1);
    p = end ? end + 1 : NULL;
  }
  return 0;
}

int routing_agent_serves(const routing_agent_t *a, const char *id) {
  return id != NULL &&
         (list_level(a->queues, id) > 0 || list_level(a->campaigns, id) > 0);
}

int routing_agent_skill_level(const routing_agent_t *a, const char *skill) {
  return skill ? list_level(a->skills, skill) : 0;
}

int routing_agent_capacity(const routing_agent_t *a, const char *channel) {
  if (channel == NULL)
    return 0;
  int lv = list_level(a->capacity, channel);
  if (lv > 0 || strstr(a->capacity, channel) != NULL)
    return lv;
  return strcmp(channel, "voice") == 0 ? 1 : 0;
}

/* ---- the board: the processor's own partitions --------------------------- */

static cJSON *arr(void **p) {
  if (*p == NULL)
    *p = cJSON_CreateArray();
  return *p;
}

static void add_time(cJSON *o, const char *k, int64_t us) {
  if (us != 0)
    cJSON_AddNumberToObject(o, k, (double)us);
}

int rt__agents_event(routing_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                     sb_err_t *err) {
  const char *agent = agent_of(x, ev, t);
  if (agent == NULL)
    return is_agent_type(t) ? sb_err_set(err, SB_EVALIDATE, "%s: no agent_id",
                                         sb_evtype_name(ev->type))
                            : 0;
  cJSON *o = cJSON_CreateObject();
  if (o == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  cJSON_AddStringToObject(o, "t", ev->tenant_id);
  cJSON_AddStringToObject(o, "a", agent);
  add_time(o, "at", ev->occurred_at);
  cJSON_AddStringToObject(o, "id", ev->event_id);
  if (is_agent_type(t)) {
    char key[300];
    snprintf(key, sizeof key, "G|%s|%s", ev->tenant_id, agent);
    rt_agent_t r;
    const void *v;
    size_t len;
    if (sb_state_get(b, key, &v, &len) == 0 && len == sizeof r)
      memcpy(&r, v, sizeof r);
    else
      memset(&r, 0, sizeof r);
    int rc = rt__agent_apply(x, &r, ev, t, err);
    if (rc <= 0 || sb_state_put(b, key, &r, sizeof r, err) != 0 ||
        rt__forward_agent(x, b, ev, agent, &r, err) != 0) {
      cJSON_Delete(o);
      return rc < 0 ? rc : rc == 0 ? 0 : err->code;
    }
    cJSON_AddStringToObject(o, "st", r.state);
    add_time(o, "since", r.state_at);
    add_time(o, "seen", r.seen_at);
    cJSON_AddStringToObject(o, "pr", r.pause_reason);
    cJSON_AddStringToObject(o, "cid", r.call_id);
    add_time(o, "li", r.logged_in_at);
    cJSON_AddStringToObject(o, "team", r.team_id);
    cJSON_AddStringToObject(o, "sk", r.skills);
    cJSON_AddStringToObject(o, "q", r.queues);
    cJSON_AddStringToObject(o, "c", r.campaigns);
    cJSON_AddStringToObject(o, "cap", r.capacity);
    cJSON_AddNumberToObject(o, "n", cJSON_GetArraySize(arr(&x->prof)));
    cJSON_AddItemToArray(arr(&x->prof), o);
    return 0;
  }
  /* a call event with an agent */
  static const char *const st[] = {[RT_CALL_OFFERED] = "ringing",
                                   [RT_CALL_CONNECTED] = "on_call",
                                   [RT_CALL_ENDED] = "wrapup",
                                   [RT_CALL_DISPO] = "done"};
  cJSON_AddStringToObject(o, "cs", st[t]);
  cJSON_AddStringToObject(o, "cid", ev->subject ? ev->subject : "");
  if (rt__forward_call(x, b, ev, agent, st[t], t == RT_CALL_ENDED, err) != 0) {
    cJSON_Delete(o);
    return err->code;
  }
  if (t == RT_CALL_ENDED) {
    sb_tenant_t ts;
    sb_tenant_settings(b, ev->tenant_id, &ts);
    int64_t day = sb_tenant_day(b, ev->tenant_id, ev->occurred_at);
    cJSON_AddNumberToObject(o, "day", (double)day);
    cJSON_AddStringToObject(o, "tz", ts.time_zone ? ts.time_zone : "UTC");
    int64_t talk = sb_event_i64(ev, x->f[t][RF_TALK_MS]);
    extern const sb_table_def_t rt__agent_days;
    if (sb_rows_add(b, &rt__agent_days,
                    (const sb_val_t[]){SB_V_TEXT(ev->tenant_id),
                                       SB_V_TEXT(agent), SB_V_DATE(day),
                                       SB_V_INT8(1),
                                       SB_V_INT8(talk > 0 ? talk : 0)},
                    err) != 0) {
      cJSON_Delete(o);
      return err->code;
    }
  }
  cJSON_AddItemToArray(arr(&x->calls), o);
  return 0;
}

int rt__board_lead(routing_t *x, const sb_event_t *ev, const char *agent,
                   const char *lead) {
  cJSON *o = cJSON_CreateObject();
  if (o == NULL)
    return SB_ENOMEM;
  cJSON_AddStringToObject(o, "t", ev->tenant_id);
  cJSON_AddStringToObject(o, "a", agent);
  cJSON_AddStringToObject(o, "l", lead);
  add_time(o, "at", ev->occurred_at);
  cJSON_AddStringToObject(o, "id", ev->event_id);
  cJSON_AddItemToArray(arr(&x->leads), o);
  return 0;
}

void rt__agents_forget(routing_t *x) {
  cJSON_Delete(x->prof);
  cJSON_Delete(x->calls);
  cJSON_Delete(x->leads);
  x->prof = x->calls = x->leads = NULL;
}

#define US(c) "('epoch'::timestamptz + (" c " * interval '1 microsecond'))"

static int run(sb_batch_t *b, void *list, const char *fmt, sb_err_t *err) {
  if (list == NULL || cJSON_GetArraySize(list) == 0)
    return 0;
  char *json = cJSON_PrintUnformatted(list);
  if (json == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  const char *schema = sb_batch_schema(b);
  sb_text_t sql = {0};
  /* fmt names the schema where it writes %1$s */
  sb_text_add(&sql, fmt, schema);
  int rc = sql.failed ? sb_err_set(err, SB_ENOMEM, "out of memory")
                      : sb_pg_exec(sb_batch_pg(b), sql.s, 1,
                                   (const char *const[]){json}, err);
  sb_text_free(&sql);
  cJSON_free(json);
  return rc;
}

int rt__agents_commit(routing_t *x, sb_batch_t *b, sb_err_t *err) {
  /* the agent's own record: the batch's last per agent, if newer */
  static const char prof[] =
      "INSERT INTO %1$s.agents AS g (tenant_id, agent_id, state, state_since, "
      "state_seen_at, pause_reason, state_call_id, logged_in_at, team_id, "
      "skills, queues, campaigns, capacity, profile_at, profile_event_id) "
      "SELECT DISTINCT ON (t, a) t, a, st, " US("since") ", " US(
          "seen") ", "
                  "NULLIF(pr, ''), NULLIF(cid, ''), " US(
                      "li") ", NULLIF(team, ''), NULLIF(sk, ''), "
                            "NULLIF(q, ''), NULLIF(c, ''), NULLIF(cap, "
                            "''), " US(
                                "at") ", id FROM jsonb_to_recordset($1::jsonb) "
                                      "AS u(t "
                                      "text, a text, st text, since bigint, "
                                      "seen bigint, pr text, cid text, "
                                      "li bigint, team text, sk text, q text, "
                                      "c text, cap text, at bigint, id "
                                      "text, n int) ORDER BY t, a, n DESC "
                                      "ON CONFLICT (tenant_id, agent_id) DO "
                                      "UPDATE SET state = "
                                      "EXCLUDED.state, state_since = "
                                      "EXCLUDED.state_since, state_seen_at = "
                                      "EXCLUDED.state_seen_at, pause_reason = "
                                      "EXCLUDED.pause_reason, "
                                      "state_call_id = EXCLUDED.state_call_id, "
                                      "logged_in_at = "
                                      "EXCLUDED.logged_in_at, team_id = "
                                      "EXCLUDED.team_id, skills = "
                                      "EXCLUDED.skills, queues = "
                                      "EXCLUDED.queues, campaigns = "
                                      "EXCLUDED.campaigns, capacity = "
                                      "EXCLUDED.capacity, profile_at = "
                                      "EXCLUDED.profile_at, profile_event_id = "
                                      "EXCLUDED.profile_event_id "
                                      "WHERE g.profile_at IS NULL OR "
                                      "(g.profile_at, g.profile_event_id) < "
                                      "(EXCLUDED.profile_at, "
                                      "EXCLUDED.profile_event_id)";
  /* the calls: the latest state per agent; calls ended on the latest day */
  static const char calls[] =
      "WITH u AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS u(t text, a "
      "text, cs text, cid text, at bigint, id text, day int, tz text)), "
      "l AS (SELECT DISTINCT ON (t, a) t, a, cs, cid, at, id FROM u ORDER BY "
      "t, a, at DESC, id DESC), "
      "d AS (SELECT DISTINCT ON (t, a) t, a, day, tz, max(at) AS ended, "
      "count(*) AS n FROM u WHERE day IS NOT NULL GROUP BY t, a, day, tz "
      "ORDER BY t, a, day DESC, n DESC) "
      "INSERT INTO %1$s.agents AS g (tenant_id, agent_id, call_state, "
      "call_id, call_at, call_event_id, last_call_ended_at, calls_day, "
      "calls_on_day, time_zone) SELECT l.t, l.a, l.cs, l.cid, " US(
          "l.at") ", l.id, " US("d.ended") ", '1970-01-01'::date + d.day, d.n, "
                                           "d.tz FROM "
                                           "l LEFT JOIN d ON d.t = l.t AND d.a "
                                           "= l.a "
                                           "ON CONFLICT (tenant_id, agent_id) "
                                           "DO UPDATE SET "
                                           "call_state = CASE WHEN g.call_at "
                                           "IS NULL OR (g.call_at, "
                                           "g.call_event_id) < "
                                           "(EXCLUDED.call_at, "
                                           "EXCLUDED.call_event_id) THEN "
                                           "EXCLUDED.call_state ELSE "
                                           "g.call_state END, "
                                           "call_id = CASE WHEN g.call_at IS "
                                           "NULL OR (g.call_at, "
                                           "g.call_event_id) "
                                           "< (EXCLUDED.call_at, "
                                           "EXCLUDED.call_event_id) THEN "
                                           "EXCLUDED.call_id "
                                           "ELSE g.call_id END, "
                                           "call_event_id = CASE WHEN "
                                           "g.call_at IS NULL OR (g.call_at, "
                                           "g.call_event_id) < "
                                           "(EXCLUDED.call_at, "
                                           "EXCLUDED.call_event_id) THEN "
                                           "EXCLUDED.call_event_id ELSE "
                                           "g.call_event_id END, "
                                           "call_at = GREATEST(g.call_at, "
                                           "EXCLUDED.call_at), "
                                           "last_call_ended_at = "
                                           "GREATEST(g.last_call_ended_at, "
                                           "EXCLUDED.last_call_ended_at), "
                                           "calls_on_day = CASE WHEN "
                                           "EXCLUDED.calls_day IS NULL THEN "
                                           "g.calls_on_day WHEN g.calls_day IS "
                                           "NULL OR EXCLUDED.calls_day > "
                                           "g.calls_day THEN "
                                           "EXCLUDED.calls_on_day WHEN "
                                           "EXCLUDED.calls_day = "
                                           "g.calls_day THEN g.calls_on_day + "
                                           "EXCLUDED.calls_on_day ELSE "
                                           "g.calls_on_day END, "
                                           "calls_day = GREATEST(g.calls_day, "
                                           "EXCLUDED.calls_day), "
                                           "time_zone = "
                                           "COALESCE(EXCLUDED.time_zone, "
                                           "g.time_zone)";
  static const char leads[] =
      "INSERT INTO %1$s.agents AS g (tenant_id, agent_id, current_lead_id, "
      "lead_assigned_at, lead_event_id) SELECT DISTINCT ON (t, a) t, a, l, " US(
          "at") ", id FROM jsonb_to_recordset($1::jsonb) AS u(t text, a text, "
                "l text, at bigint, id text) ORDER BY t, a, at DESC, id DESC "
                "ON CONFLICT (tenant_id, agent_id) DO UPDATE SET "
                "current_lead_id = "
                "EXCLUDED.current_lead_id, lead_assigned_at = "
                "EXCLUDED.lead_assigned_at, "
                "lead_event_id = EXCLUDED.lead_event_id WHERE "
                "g.lead_assigned_at IS NULL "
                "OR (g.lead_assigned_at, g.lead_event_id) < "
                "(EXCLUDED.lead_assigned_at, "
                "EXCLUDED.lead_event_id)";
  if (run(b, x->prof, prof, err) != 0 || run(b, x->calls, calls, err) != 0 ||
      run(b, x->leads, leads, err) != 0)
    return err->code;
  return 0;
}
