/* Subscriptions, and who may see which event. */
#include "sb_hub_int.h"

#include "sb_access.h"
#include "sb_codec.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <stdlib.h>
#include <string.h>

int sb_hub_type_match(const char *pattern, const char *type) {
  size_t n = strlen(pattern);
  if (n == 1 && pattern[0] == '*')
    return 1;
  if (n >= 2 && pattern[n - 1] == '*' && pattern[n - 2] == '.')
    return strncmp(pattern, type, n - 1) == 0;
  return strcmp(pattern, type) == 0;
}

void sb__hub_clear_subscription(client_t *c) {
  for (int i = 0; i < c->ntypes; i++)
    free(c->types[i]);
  c->ntypes = 0;
  c->topics = 0;
  c->subject[0] = '\0';
  c->subscribed = 0;
}

/* A subscription granted, waiting for its record: applied when the read is
 * recorded (sb_ingest_record_read), to the client if it is still there and
 * has not subscribed anew or unsubscribed meanwhile (c NULL then). */
typedef struct grant_s {
  client_t *c;
  unsigned topics;
  char *types[MAX_TYPES];
  int ntypes;
  int has_subject;
  char subject[SB_AUTH_SUB_MAX + 1];
  cJSON *sub; /* echoed in "subscribed" */
} grant_t;

static void grant_free(grant_t *g) {
  for (int k = 0; k < g->ntypes; k++)
    free(g->types[k]);
  cJSON_Delete(g->sub);
  free(g);
}

void sb__hub_forget_grant(client_t *c) {
  if (c->granting != NULL)
    c->granting->c = NULL;
  c->granting = NULL;
}

static void apply(client_t *c, grant_t *g) {
  sb__hub_clear_subscription(c);
  c->topics = g->topics;
  memcpy(c->types, g->types, sizeof(char *) * (size_t)g->ntypes);
  c->ntypes = g->ntypes;
  g->ntypes = 0; /* moved */
  if (g->has_subject)
    snprintf(c->subject, sizeof c->subject, "%s", g->subject);
  c->subscribed = 1;
  cJSON *ack = cJSON_CreateObject();
  cJSON_AddItemToObject(ack, "subscribed", g->sub);
  g->sub = NULL; /* moved */
  sb__hub_client_send_json(c, ack);
}

static void on_recorded(void *ud, int status, const char *message) {
  grant_t *g = ud;
  client_t *c = g->c;
  if (c != NULL) {
    c->granting = NULL;
    if (status == 0)
      apply(c, g);
    else /* the subscription in place, if any, stays */
      sb__hub_client_error(c, status == SB_EINVAL ? "bad_subscription"
                                                  : "unavailable",
                           message);
  }
  grant_free(g);
}

/* "name=a,b,c" into out: what a subscription asked for, for its record;
 * past about 200 bytes the rest is counted ("+N more"). */
static void joined(char *out, size_t cap, const char *name,
                   const char *const *items, int n) {
  size_t len = (size_t)snprintf(out, cap, "%s=", name);
  for (int i = 0; i < n; i++) {
    size_t w = strlen(items[i]) + 1;
    if (len + w > 200) {
      snprintf(out + len, cap - len, "%s+%d more", i ? "," : "", n - i);
      return;
    }
    len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "",
                            items[i]);
  }
}

/* Records the subscription as a read of the live feed (access.recorded,
 * READ, resource "stream") and applies it once recorded. Takes g. */
static void grant(client_t *c, grant_t *g) {
  if (c->hub->security == NULL) { /* nothing records: as before */
    apply(c, g);
    grant_free(g);
    return;
  }
  const char *topics[32];
  int nt = 0;
  for (size_t i = 0; i < sb_topics_n && i < 32; i++)
    if (g->topics & (1u << i))
      topics[nt++] = sb_topics[i];
  char ft[256], fy[256], fs[SB_AUTH_SUB_MAX + 16];
  const char *filters[3] = {ft};
  size_t nf = 1;
  joined(ft, sizeof ft, "topics", topics, nt);
  if (g->ntypes > 0) {
    joined(fy, sizeof fy, "types", (const char *const *)g->types, g->ntypes);
    filters[nf++] = fy;
  }
  if (g->has_subject) {
    snprintf(fs, sizeof fs, "subject=%s", g->subject);
    filters[nf++] = fs;
  }
  sb__hub_forget_grant(c); /* a newer subscribe replaces one being recorded */
  c->granting = g;
  g->c = c;
  sb_read_t rd = {
      .tenant = c->who.tenant,
      .user = c->who.sub,
      .role = sb_role_name(c->who.role),
      .ip = c->from.ip,
      .user_agent = c->from.user_agent,
      .method = "WS",
      .route = "/v1/stream",
      .resource_type = "stream",
      .filters = filters,
      .nfilters = nf,
  };
  sb_ingest_record_read(c->hub->security, &rd, on_recorded, g);
}

/* {"subscribe": {"topics": [...], "types": [...], "subject": "..."}} */
void sb__hub_on_command(client_t *c, const char *text, size_t len) {
  cJSON *doc = NULL;
  sb_err_t err = SB_ERR_INIT;
  if (sb_json_parse(text, len, &doc, &err) != 0) {
    sb__hub_client_error(c, "malformed_json", err.msg);
    return;
  }
  cJSON *sub = cJSON_GetObjectItemCaseSensitive(doc, "subscribe");
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "unsubscribe"))) {
    sb__hub_forget_grant(c);
    sb__hub_clear_subscription(c);
    sb__hub_client_send_json(c, cJSON_Parse("{\"unsubscribed\":true}"));
    cJSON_Delete(doc);
    return;
  }
  if (!cJSON_IsObject(sub)) {
    sb__hub_client_error(c, "unknown_command",
                 "send {\"subscribe\": {\"topics\": [\"sb.calls\"], "
                 "\"types\": [\"call.*\"], \"subject\": \"agent-7\"}}");
    cJSON_Delete(doc);
    return;
  }
  char msg[300] = "";
  unsigned topics = 0;
  char *types[MAX_TYPES];
  int ntypes = 0;
  cJSON *it;
  cJSON_ArrayForEach(it, sub) {
    if (strcmp(it->string, "topics") != 0 && strcmp(it->string, "types") != 0 &&
        strcmp(it->string, "subject") != 0) {
      snprintf(msg, sizeof msg,
               "subscribe.%.40s: unknown; use topics, types, subject",
               it->string);
      break;
    }
  }
  cJSON *jt = cJSON_GetObjectItemCaseSensitive(sub, "topics");
  if (!*msg && (!cJSON_IsArray(jt) || cJSON_GetArraySize(jt) == 0))
    snprintf(msg, sizeof msg, "subscribe.topics: a non-empty array of topic "
                              "names is required, e.g. [\"sb.calls\"]");
  int i = 0;
  if (!*msg)
    cJSON_ArrayForEach(it, jt) {
      int ti = cJSON_IsString(it) ? sb__hub_topic_index(it->valuestring) : -1;
      if (ti < 0) {
        snprintf(msg, sizeof msg,
                 "subscribe.topics[%d]: not a topic of the live feed "
                 "(sb.leads, sb.calls, sb.agents, sb.messages, sb.campaigns, "
                 "sb.compliance, sb.gamification)", i);
        break;
      }
      if (!sb_auth_allows(c->who.role, SB_PERM_SUBSCRIBE, it->valuestring)) {
        snprintf(msg, sizeof msg, "subscribe.topics[%d]: role %s may not "
                                  "subscribe to %s",
                 i, sb_role_name(c->who.role), it->valuestring);
        if (c->hub->security)
          sb_ingest_record_security(c->hub->security, &c->from,
                                  "security.access_denied", c->who.tenant,
                                  c->who.sub, "insufficient_role", "topic");
        break;
      }
      topics |= 1u << ti;
      i++;
    }
  cJSON *jy = cJSON_GetObjectItemCaseSensitive(sub, "types");
  if (!*msg && jy != NULL &&
      (!cJSON_IsArray(jy) || cJSON_GetArraySize(jy) > MAX_TYPES))
    snprintf(msg, sizeof msg, "subscribe.types: an array of at most %d type "
                              "patterns (\"call.*\", \"lead.created\")",
             MAX_TYPES);
  i = 0;
  if (!*msg && jy != NULL)
    cJSON_ArrayForEach(it, jy) {
      const char *p = cJSON_IsString(it) ? it->valuestring : NULL;
      size_t n = p ? strlen(p) : 0;
      int ok = n > 0 && n <= 64;
      for (size_t k = 0; ok && k < n; k++)
        ok = (p[k] >= 'a' && p[k] <= 'z') || p[k] == '_' || p[k] == '.' ||
             (p[k] == '*' && k == n - 1);
      if (!ok) {
        snprintf(msg, sizeof msg,
                 "subscribe.types[%d]: not a type pattern (an event type, "
                 "a prefix ending in \".*\", or \"*\")", i);
        break;
      }
      if ((types[ntypes] = strdup(p)) == NULL) {
        snprintf(msg, sizeof msg, "out of memory");
        break;
      }
      ntypes++;
      i++;
    }
  cJSON *js = cJSON_GetObjectItemCaseSensitive(sub, "subject");
  if (!*msg && js != NULL &&
      (!cJSON_IsString(js) || !sb_auth_sub_valid(js->valuestring)))
    snprintf(msg, sizeof msg, "subscribe.subject: a string of 1 to %d "
                              "printable characters", SB_AUTH_SUB_MAX);
  if (*msg) {
    for (int k = 0; k < ntypes; k++)
      free(types[k]);
    sb__hub_client_error(c, "bad_subscription", msg);
    cJSON_Delete(doc);
    return;
  }
  grant_t *g = calloc(1, sizeof *g);
  if (g == NULL || (g->sub = cJSON_Duplicate(sub, 1)) == NULL) {
    free(g);
    for (int k = 0; k < ntypes; k++)
      free(types[k]);
    sb__hub_client_error(c, "unavailable", "out of memory");
    cJSON_Delete(doc);
    return;
  }
  g->topics = topics;
  memcpy(g->types, types, sizeof(char *) * (size_t)ntypes);
  g->ntypes = ntypes;
  if (js) {
    g->has_subject = 1;
    snprintf(g->subject, sizeof g->subject, "%s", js->valuestring);
  }
  cJSON_Delete(doc);
  grant(c, g); /* applied once recorded */
}

/* Names the agent directly: its own agent.* events, or an agent field. */
int sb__hub_names_agent(const msg_t *m, const char *sub) {
  if (m->topic >= 0 && strcmp(sb_topics[m->topic], SB_TOPIC_AGENTS) == 0 &&
      m->subject && strcmp(m->subject, sub) == 0)
    return 1;
  for (int i = 0; i < NAGENTS; i++)
    if (m->agents[i] && strcmp(m->agents[i], sub) == 0)
      return 1;
  return 0;
}

int sb__hub_wants(client_t *c, const msg_t *m) {
  if (!c->subscribed || c->closing || !(c->topics & (1u << m->topic)))
    return 0;
  if (c->ntypes > 0) {
    int any = 0;
    for (int i = 0; i < c->ntypes && !any; i++)
      any = sb_hub_type_match(c->types[i], m->type);
    if (!any)
      return 0;
  }
  if (c->subject[0] && !(m->subject && strcmp(m->subject, c->subject) == 0) &&
      !sb__hub_names_agent(m, c->subject))
    return 0;
  if (c->who.role == SB_ROLE_AGENT)
    return sb__hub_names_agent(m, c->who.sub) ||
           sb__hub_owned_by(c->hub, m, c->sub_hash);
  /* a supervisor's gamification feed: the members of the teams it leads */
  if (c->who.role == SB_ROLE_SUPERVISOR &&
      strcmp(sb_topics[m->topic], SB_TOPIC_GAMIFICATION) == 0)
    return sb__hub_supervises(c->hub, m, c->sub_hash);
  return 1;
}
