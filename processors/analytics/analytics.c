/* analytics: the figures managers read every morning, as projections
 * bucketed by the tenant's local hour and day, and SQL views over them
 * (schema analytics; README "Analytics"). One file per family:
 *
 *   analytics_calls.c      calls_hour, dispositions_hour,  (sb.calls)
 *                          live_calls
 *   analytics_agents.c     agents_hour, pauses_hour        (sb.agents)
 *   analytics_leads.c      leads_hour, stages_hour         (sb.leads)
 *   analytics_campaigns.c  campaigns, spend_hour           (sb.campaigns)
 *   analytics_messages.c   messages_hour                   (sb.messages)
 *   analytics_points.c     points_hour                     (sb.gamification)
 *   analytics_queues.c     queues' service-level thresholds (sb.tenants,
 *                          a global table)
 *   analytics_tenants.c    tenants: each tenant's settings (sb.tenants)
 *   analytics_sql.c        the tables' DDL and the views
 *
 * How late, out-of-order and duplicated events come out right: see
 * analytics_int.h. This file: the vtable, configuration, dispatch, and the
 * helpers the families share. */
#include "analytics.h"
#include "analytics_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int an_resolve(const sb_schemas_t *s, const an_field_t *fields, size_t n,
               sb_err_t *err) {
  for (size_t i = 0; i < n; i++)
    if (sb_codec_field(s, fields[i].type, fields[i].path, fields[i].f, err) !=
        0)
      return err->code;
  return 0;
}

void an_copy(char *dst, size_t cap, const char *src) {
  size_t n = src ? strlen(src) : 0;
  if (n >= cap)
    n = cap - 1;
  if (n > 0)
    memcpy(dst, src, n);
  memset(dst + n, 0, cap - n); /* equal values, equal bytes */
}

void an_pick(char *dst, size_t cap, int *prio, const char *v, int p) {
  if (v == NULL || v[0] == '\0')
    return;
  if (p > *prio || (p == *prio && strncmp(v, dst, cap - 1) < 0)) {
    an_copy(dst, cap, v);
    *prio = p;
  }
}

int64_t an_min_t(int64_t a, int64_t b) {
  if (a == 0)
    return b;
  if (b == 0)
    return a;
  return a < b ? a : b;
}

static const char *const an_topics[AN_TOPICS] = {
    SB_TOPIC_CALLS, SB_TOPIC_AGENTS, SB_TOPIC_LEADS, SB_TOPIC_CAMPAIGNS,
    SB_TOPIC_MESSAGES, SB_TOPIC_GAMIFICATION, SB_TOPIC_TENANTS};

static int64_t *hw_of(const an_t *a, const char *topic, int32_t partition) {
  if (topic == NULL || partition < 0 || partition >= AN_PARTITIONS)
    return NULL;
  for (int i = 0; i < AN_TOPICS; i++)
    if (strcmp(topic, an_topics[i]) == 0)
      return (int64_t *)&a->hw[i][partition];
  return NULL;
}

int64_t an_due(const an_t *a, const char *topic, int32_t partition,
               int64_t base_us, int window_s) {
  const int64_t *hw = hw_of(a, topic, partition);
  if (hw != NULL && *hw > base_us)
    base_us = *hw;
  return base_us + (int64_t)window_s * AN_US_PER_S;
}

int an_seen(an_t *a, sb_batch_t *b, const sb_event_t *ev, int *seen,
            sb_err_t *err) {
  char key[160];
  snprintf(key, sizeof key, "d/%s/%s", ev->tenant_id, ev->event_id);
  const void *v;
  size_t len;
  *seen = sb_state_get(b, key, &v, &len) == 0;
  if (*seen)
    return 0;
  if (sb_state_put(b, key, "", 1, err) != 0 ||
      sb_timer_set(b, key,
                   an_due(a, ev->topic, ev->partition, ev->occurred_at,
                          a->dedupe_window_s),
                   SB_TIMER_EVENT, err) != 0)
    return err->code;
  return 0;
}

static void destroy(void *state) {
  an_t *a = state;
  if (a == NULL)
    return;
  an_calls_free(a->calls);
  an_agents_free(a->agents);
  an_leads_free(a->leads);
  an_campaigns_free(a->campaigns);
  an_messages_free(a->messages);
  an_points_free(a->points);
  an_tenants_free(a->tenants);
  free(a);
}

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  an_t *a = calloc(1, sizeof *a);
  if (a == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  a->schemas = kit->schemas;
  struct {
    const char *key;
    int *v;
  } confs[] = {
      {"analytics.service_level_s", &a->sl_s},
      {"analytics.short_abandon_s", &a->short_abandon_s},
      {"analytics.disposition_wait_s", &a->disposition_wait_s},
      {"analytics.call_retain_s", &a->call_retain_s},
      {"analytics.call_open_max_s", &a->call_open_s},
      {"analytics.message_retain_s", &a->message_retain_s},
      {"analytics.dedupe_window_s", &a->dedupe_window_s},
  };
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof confs / sizeof confs[0]; i++)
    rc = sb_conf_int(kit->conf, confs[i].key, confs[i].v, err);
  if (rc == 0)
    rc = an_queues_init(a, err);
  if (rc == 0)
    rc = an_calls_new(a, &a->calls, err);
  if (rc == 0)
    rc = an_agents_new(a, &a->agents, err);
  if (rc == 0)
    rc = an_leads_new(a, &a->leads, err);
  if (rc == 0)
    rc = an_campaigns_new(a, &a->campaigns, err);
  if (rc == 0)
    rc = an_messages_new(a, &a->messages, err);
  if (rc == 0)
    rc = an_points_new(a, &a->points, err);
  if (rc == 0)
    rc = an_tenants_new(a, &a->tenants, err);
  if (rc != 0) {
    destroy(a);
    return rc;
  }
  *state = a;
  return 0;
}

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  an_t *a = state;
  int mine = 0, rc;
  int64_t *hw = hw_of(a, ev->topic, ev->partition);
  if (hw != NULL && ev->occurred_at > *hw)
    *hw = ev->occurred_at;
  if ((rc = an_tenants_event(a, b, ev, &mine, err)) != 0 || mine)
    return rc;
  if ((rc = an_calls_event(a, b, ev, &mine, err)) != 0 || mine)
    return rc;
  if ((rc = an_agents_event(a, b, ev, &mine, err)) != 0 || mine)
    return rc;
  if ((rc = an_leads_event(a, b, ev, &mine, err)) != 0 || mine)
    return rc;
  if ((rc = an_campaigns_event(a, b, ev, &mine, err)) != 0 || mine)
    return rc;
  if ((rc = an_messages_event(a, b, ev, &mine, err)) != 0 || mine)
    return rc;
  return an_points_event(a, b, ev, &mine, err);
}

static int timer(void *state, sb_batch_t *b, const sb_timer_t *t,
                 sb_err_t *err) {
  an_t *a = state;
  switch (t->key[0]) {
  case 'c':
    return an_calls_timer(a, b, t, err);
  case 'm':
    return an_messages_timer(a, b, t, err);
  case 'd': /* a remembered event id: its window is over */
    return sb_state_del(b, t->key, err);
  default:
    return 0;
  }
}

static const sb_table_def_t *const tables[] = {
    &an_calls_hour, &an_dispositions_hour, &an_agents_hour,
    &an_pauses_hour, &an_leads_hour,        &an_stages_hour,
    &an_campaigns_table, &an_spend_hour,    &an_messages_hour,
    &an_points_hour,     &an_live_calls, &an_tenants_table, NULL};

static const sb_conf_prop_t conf_rows[] = {
    {"analytics.service_level_s", SB_CT_INT, 0, 1, 3600, "20",
     "SWITCHBOARD_ANALYTICS_SERVICE_LEVEL_S", "S", NULL, 0,
     "Service level threshold: an offered call answered within this many "
     "seconds of waiting counts as answered within service level, on a "
     "queue whose routing.queue_configured (in force at the call's start) "
     "gives no service_level_s of its own, and for a call without a "
     "queue."},
    {"analytics.short_abandon_s", SB_CT_INT, 0, 0, 3600, "5",
     "SWITCHBOARD_ANALYTICS_SHORT_ABANDON_S", "S", NULL, 0,
     "An abandoned call that waited less than this many seconds is a short "
     "abandon (left out of the alternative service level)."},
    {"analytics.disposition_wait_s", SB_CT_INT, 0, 0, 604800, "3600",
     "SWITCHBOARD_ANALYTICS_DISPOSITION_WAIT_S", "S", NULL, 0,
     "How long (wall clock) after an answered call's end its figures wait "
     "for its disposition before they are attributed without one; a later "
     "disposition is then added to the same buckets."},
    {"analytics.call_retain_s", SB_CT_INT, 0, 60, 31536000, "86400",
     "SWITCHBOARD_ANALYTICS_CALL_RETAIN_S", "S", NULL, 0,
     "How long (event time) a counted call's facts are kept after its end, "
     "to recognise its duplicated and late events."},
    {"analytics.call_open_max_s", SB_CT_INT, 0, 60, 31536000, "86400",
     "SWITCHBOARD_ANALYTICS_CALL_OPEN_MAX_S", "S", NULL, 0,
     "A call with no call.ended this long (event time) after its first "
     "event is forgotten, uncounted."},
    {"analytics.message_retain_s", SB_CT_INT, 0, 60, 31536000, "604800",
     "SWITCHBOARD_ANALYTICS_MESSAGE_RETAIN_S", "S", NULL, 0,
     "How long (event time) a message's statuses are kept after its first "
     "event, to count each status of it once."},
    {"analytics.dedupe_window_s", SB_CT_INT, 0, 60, 31536000, "172800",
     "SWITCHBOARD_ANALYTICS_DEDUPE_WINDOW_S", "S", NULL, 0,
     "How long (event time) the ids of agent events and campaign spend are "
     "kept to count a duplicated event once."},
    {0},
};

const sb_processor_vt_t sb_analytics_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "analytics",
    .topics = (const char *const[]){SB_TOPIC_CALLS, SB_TOPIC_AGENTS,
                                    SB_TOPIC_LEADS, SB_TOPIC_CAMPAIGNS,
                                    SB_TOPIC_MESSAGES, SB_TOPIC_GAMIFICATION,
                                    SB_TOPIC_TENANTS, NULL},
    .migrations = an_migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .destroy = destroy,
    .timer = timer,
    .flags = SB_PROCESSOR_KEYED_STATE,
    .conf = conf_rows,
    .views = an_views,
    .globals = an_globals,
};
