/* The feed: the domain topics read through the engine's reader on a thread of
 * its own, each event decoded once and handed to the loop. */
#include "sb_hub_int.h"

#include "sb_codec.h"
#include "sb_keys.h"
#include "sb_log.h"
#include "sb_pii_event.h"
#include "sb_schema.h"
#include "sb_time.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <stdlib.h>
#include <string.h>

static const char *const agent_fields[NAGENTS] = {
    "agent_id", "from_agent_id", "target_agent_id", "previous_agent_id"};

void sb__hub_msg_free(msg_t *m) {
  if (m == NULL)
    return;
  free(m->tenant);
  free(m->type);
  free(m->subject);
  free(m->lead_id);
  free(m->call_id);
  free(m->team_id);
  free(m->supervisor_id);
  free(m->board_team);
  for (int i = 0; i < NAGENTS; i++)
    free(m->agents[i]);
  cJSON_free(m->json);
  cJSON_free(m->json_clear);
  cJSON_free(m->json_masked);
  free(m);
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

/* The decrypted and masked forms of an event with PII, for the clients
 * allowed to see it and for the others (sb_pii_view_for). On an error
 * reaching the keys both stay NULL: everyone gets the sealed form. */
static void reveal_forms(msg_t *m, sb_keys_t *keys, const sb_schemas_t *s,
                         const cJSON *ce, long long *last_warn) {
  cJSON *clear = cJSON_Duplicate(ce, 1), *masked = cJSON_Duplicate(ce, 1);
  sb_err_t err = SB_ERR_INIT;
  if (clear != NULL && masked != NULL &&
      sb_pii_reveal(keys, s, clear, SB_PII_VIEW_CLEAR, NULL, &err) == 0 &&
      sb_pii_reveal(keys, s, masked, SB_PII_VIEW_MASKED, NULL, &err) == 0) {
    m->json_clear = cJSON_PrintUnformatted(clear);
    m->json_masked = cJSON_PrintUnformatted(masked);
    if (m->json_clear == NULL || m->json_masked == NULL) {
      cJSON_free(m->json_clear);
      cJSON_free(m->json_masked);
      m->json_clear = m->json_masked = NULL;
    } else {
      m->clear_len = strlen(m->json_clear);
      m->masked_len = strlen(m->json_masked);
    }
  } else if (keys == NULL || err.code != 0) {
    long long now = sb_now_ms();
    if (now - *last_warn > 10000) {
      *last_warn = now;
      sb_log(SB_LOG_WARN, "hub", "cannot reveal PII: the feed sends it sealed",
             SB_F_STR("error", keys ? err.msg : "no key store"), SB_F_END);
    }
  }
  cJSON_Delete(clear);
  cJSON_Delete(masked);
}

/* Decodes a Kafka value into a message for the loop; NULL when it is not an
 * event (counted). */
static msg_t *msg_of(sb_hub_t *h, sb_codec_t *codec, sb_keys_t *keys,
                     const sb_schemas_t *schemas, long long *last_warn,
                     int topic, const sb_tail_rec_t *rec) {
  sb_event_t ev;
  sb_err_t err = SB_ERR_INIT;
  cJSON *ce = NULL;
  char ce_id[SB_CE_ID_MAX + 1];
  int decoded = sb_codec_decode(codec, rec->value, rec->value_len, &ev, &err);
  /* the producer's id, when it is not the event id (the ce_id header) */
  const void *hv = NULL;
  size_t hn = 0;
  if (decoded == 0 && sb_tail_header(rec, "ce_id", &hv, &hn) == 0)
    ev.ce_id = sb_ce_producer_id(hv, hn, ev.event_id, ce_id);
  if (decoded != 0 || sb_codec_to_ce(codec, &ev, &ce, &err) != 0) {
    atomic_fetch_add(&h->decode_errors, 1);
    return NULL;
  }
  msg_t *m = calloc(1, sizeof *m);
  if (m == NULL) {
    cJSON_Delete(ce);
    return NULL;
  }
  m->topic = topic;
  m->tenant = dup_or_null(ev.tenant_id);
  m->type = dup_or_null(sb_evtype_name(ev.type));
  m->subject = dup_or_null(ev.subject);
  m->lead_id = dup_or_null(sb_event_str(&ev, "lead_id"));
  m->call_id = dup_or_null(sb_event_str(&ev, "call_id"));
  m->team_id = dup_or_null(sb_event_str(&ev, "team_id"));
  m->supervisor_id = dup_or_null(sb_event_str(&ev, "supervisor_id"));
  const char *scope = sb_event_str(&ev, "scope");
  if (m->type && strcmp(m->type, "leaderboard.rank_changed") == 0 && scope &&
      strcmp(scope, "team") == 0)
    m->board_team = dup_or_null(sb_event_str(&ev, "scope_id"));
  for (int i = 0; i < NAGENTS; i++)
    m->agents[i] = dup_or_null(sb_event_str(&ev, agent_fields[i]));
  m->json = cJSON_PrintUnformatted(ce);
  /* history teaches ownership only: never sent, never revealed */
  if (!rec->history && sb_evtype_has_pii(ev.type) &&
      atomic_load(&h->clients) > 0)
    reveal_forms(m, keys, schemas, ce, last_warn);
  cJSON_Delete(ce);
  if (m->tenant == NULL || m->type == NULL || m->json == NULL) {
    sb__hub_msg_free(m);
    atomic_fetch_add(&h->decode_errors, 1);
    return NULL;
  }
  m->json_len = strlen(m->json);
  return m;
}

static int tells_owner(const sb_tail_rec_t *rec) {
  const void *v = NULL;
  size_t n = 0;
  /* ce_type; sb-type on records written before the binding */
  if (sb_tail_header(rec, "ce_type", &v, &n) != 0 &&
      sb_tail_header(rec, "sb-type", &v, &n) != 0)
    return 1; /* no header: decode to know */
  return sb__hub_owner_type(v, n) || sb__hub_team_type(v, n);
}

void *sb__hub_consume(void *arg) {
  sb_hub_t *h = arg;
  sb_schemas_t *schemas = NULL;
  sb_codec_t *codec = NULL;
  sb_err_t err = SB_ERR_INIT;
  if (sb_schemas_load(&schemas, &err) != 0 ||
      sb_codec_new(schemas, &codec, &err) != 0) {
    sb_log(SB_LOG_ERROR, "hub", "cannot load the schemas; no live feed",
           SB_F_STR("error", err.msg), SB_F_END);
    sb_schemas_free(schemas);
    return NULL;
  }
  /* the feed's own key store (and PostgreSQL connection): PII is revealed
   * here, off the loop, once per event for every client */
  sb_keys_t *keys = NULL;
  long long last_warn = 0, pii_warn = 0;
  if (sb_keys_open(h->c, &keys, &err) != 0)
    sb_log(SB_LOG_WARN, "hub", "no key store: the feed sends PII sealed",
           SB_F_STR("error", err.msg), SB_F_END);
  /* teams before the first event is handed over (sb_hub_teams.c) */
  sb__hub_teams_load(h);
  while (!atomic_load(&h->stop)) {
    sb_tail_rec_t rec;
    sb_err_t rerr = SB_ERR_INIT;
    int got = sb_tail_next(h->feed, 100, &rec, &rerr);
    if (got < 0) {
      long long now = sb_now_ms();
      if (now - last_warn > 10000) {
        last_warn = now;
        sb_log(SB_LOG_WARN, "hub", "reading Kafka",
               SB_F_STR("error", rerr.msg), SB_F_END);
      }
      continue;
    }
    if (got == 0)
      continue;
    int topic = sb__hub_topic_index(rec.topic);
    int history = topic >= 0 ? rec.history : 0;
    /* with nobody to send to, only what says who owns a call or a lead is
     * worth decoding (the bulk of the work); history is only that */
    msg_t *m = topic >= 0 && (tells_owner(&rec) ||
                              (!history && atomic_load(&h->clients) > 0))
                   ? msg_of(h, codec, keys, schemas, &pii_warn, topic, &rec)
                   : NULL;
    if (m != NULL)
      m->history = history;
    atomic_fetch_add(&h->events, 1);
    if (m == NULL)
      continue;
    pthread_mutex_lock(&h->lock);
    while (h->queued >= HANDOFF_MAX && !atomic_load(&h->stop))
      pthread_cond_wait(&h->room, &h->lock); /* the loop is behind: wait */
    if (h->tail)
      h->tail->next = m;
    else
      h->head = m;
    h->tail = m;
    h->queued++;
    pthread_mutex_unlock(&h->lock);
    uv_async_send(&h->wake);
  }
  sb_keys_free(keys);
  sb_codec_free(codec);
  sb_schemas_free(schemas);
  return NULL;
}

/* Reads every partition of the domain topics from its end; those that
 * tell ownership (calls, leads) from hub.ownership_history_seconds back,
 * what lies before the hub started read once, for ownership only. A
 * partition whose history cannot be found starts at its end, as the
 * others do (logged). */
int sb__hub_consumer_start(sb_hub_t *h, sb_err_t *err) {
  sb_tail_topic_t topics[16];
  size_t n = 0;
  int64_t since = sb_time_now_micros() / 1000 -
                  (int64_t)h->c->hub_ownership_history_s * 1000;
  for (size_t i = 0; i < sb_topics_n && n < SB_ARRAY_LEN(topics); i++) {
    if (sb__hub_topic_index(sb_topics[i]) < 0)
      continue;
    /* calls and leads: who owns them; gamification: teams and their
     * leads, what the projection read at start may not have yet */
    int owners = strcmp(sb_topics[i], SB_TOPIC_CALLS) == 0 ||
                 strcmp(sb_topics[i], SB_TOPIC_LEADS) == 0 ||
                 strcmp(sb_topics[i], SB_TOPIC_GAMIFICATION) == 0;
    topics[n++] = (sb_tail_topic_t){
        sb_topics[i],
        owners && h->c->hub_ownership_history_s > 0 ? SB_TAIL_TIME
                                                    : SB_TAIL_END,
        since};
  }
  sb_err_t warn = SB_ERR_INIT;
  int rc = sb_tail_open(h->c, "hub", topics, n, &h->feed, &warn, err);
  if (rc != 0)
    return rc;
  if (warn.code != 0)
    sb_log(SB_LOG_WARN, "hub", "cannot find where the ownership history "
                               "starts; agents' calls and leads are learnt "
                               "from now on",
           SB_F_STR("error", warn.msg), SB_F_END);
  if (sb_tail_partitions(h->feed) == 0)
    sb_log(SB_LOG_WARN, "hub", "no domain topics on the brokers yet; the live "
                               "feed stays empty until a restart",
           SB_F_END);
  return 0;
}
