/* Subscriptions, and who may see which event. */
#include "sb_hub_int.h"

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
  sb__hub_clear_subscription(c);
  c->topics = topics;
  memcpy(c->types, types, sizeof(char *) * (size_t)ntypes);
  c->ntypes = ntypes;
  if (js)
    snprintf(c->subject, sizeof c->subject, "%s", js->valuestring);
  c->subscribed = 1;
  cJSON *ack = cJSON_CreateObject();
  cJSON_AddItemToObject(ack, "subscribed", cJSON_Duplicate(sub, 1));
  sb__hub_client_send_json(c, ack);
  cJSON_Delete(doc);
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
  return 1;
}
