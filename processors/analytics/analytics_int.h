/* analytics: what its files share (processors/analytics/).
 *
 * Every family keeps, per entity, the facts its events gave (keyed state:
 * a call, a lead, a message, a campaign) merged so that the same set of
 * events gives the same facts in any order (first/min times, values chosen
 * by a fixed priority, duplicates recognised). Its rows are a pure function
 * of those facts ("contributions"); an event that changes the facts
 * subtracts the old contributions and adds the new ones. The kit merges the
 * deltas per key in memory and writes one upsert per touched bucket (sums:
 * SB_MERGE_SUM). So late, out-of-order and duplicated events end in the
 * same rows as the same events in order. Agents' state changes and
 * campaigns' spend stand alone (each carries its own duration or amount):
 * a duplicate is recognised by its event id, kept for
 * analytics.dedupe_window_s of event time.
 *
 * Buckets: the local hour (its start, UTC) and the local day of the
 * tenant's time zone; views roll hours up to days. */
#ifndef SB_ANALYTICS_INT_H
#define SB_ANALYTICS_INT_H

#include "sb_processor.h"

#include <stdint.h>

#define AN_ID_MAX 129 /* ids: sb.maxLength 128, plus the NUL */
#define AN_US_PER_S INT64_C(1000000)

#define AN_TOPICS 7
#define AN_PARTITIONS 1024
#define AN_SL_HIST 64 /* configurations of a queue's threshold kept */

typedef struct an_s {
  const sb_schemas_t *schemas;
  int sl_s, short_abandon_s, disposition_wait_s, call_retain_s, call_open_s,
      message_retain_s, dedupe_window_s;
  struct an_calls_s *calls;
  struct an_agents_s *agents;
  struct an_leads_s *leads;
  struct an_campaigns_s *campaigns;
  struct an_messages_s *messages;
  struct an_points_s *points;
  struct an_tenants_s *tenants;
  /* routing.queue_configured, for the global table of queues' service
   * levels (analytics_queues.c) */
  sb_etype_ref_t t_queue_cfg;
  sb_field_t f_queue_id, f_queue_sl;
  /* per topic and partition, the greatest occurred_at this process handed
   * it (this run's; 0 after a restart until events come) */
  int64_t hw[AN_TOPICS][AN_PARTITIONS];
} an_t;

/* When facts kept for window_s should go: window_s of event time after
 * base_us, or after the partition's latest event seen when that is later
 * (a late event's facts are kept as long as a timely one's, counted from
 * when it arrived). */
int64_t an_due(const an_t *a, const char *topic, int32_t partition,
               int64_t base_us, int window_s);

/* Resolves fields: 0, or the first failure. *f zeroed on failure. */
typedef struct an_field_s {
  const char *type, *path;
  sb_field_t *f;
} an_field_t;
int an_resolve(const sb_schemas_t *s, const an_field_t *fields, size_t n,
               sb_err_t *err);

/* Copies src (NULL: "") into dst[AN_ID_MAX], cut at the bound. */
void an_copy(char *dst, size_t cap, const char *src);
/* Sets dst to v when v's priority beats *prio (ties: the smaller string),
 * so the value does not depend on the order of the events giving it. */
void an_pick(char *dst, size_t cap, int *prio, const char *v, int p);
/* min of two times where 0 is "none" */
int64_t an_min_t(int64_t a, int64_t b);

/* 1 when the event id was seen (within the window) on this partition;
 * else remembers it (state and an event-time timer forgetting it). */
int an_seen(an_t *a, sb_batch_t *b, const sb_event_t *ev, int *seen,
            sb_err_t *err);

/* The families. Each: new (fields), free, its tables and event, and its
 * timers (key prefix). event returns 0 for an event not its own too. */
int an_calls_new(an_t *a, struct an_calls_s **out, sb_err_t *err);
void an_calls_free(struct an_calls_s *c);
int an_calls_event(an_t *a, sb_batch_t *b, const sb_event_t *ev, int *mine,
                   sb_err_t *err);
int an_calls_timer(an_t *a, sb_batch_t *b, const sb_timer_t *t, sb_err_t *err);
extern const sb_table_def_t an_calls_hour, an_dispositions_hour,
    an_live_calls;

int an_agents_new(an_t *a, struct an_agents_s **out, sb_err_t *err);
void an_agents_free(struct an_agents_s *g);
int an_agents_event(an_t *a, sb_batch_t *b, const sb_event_t *ev, int *mine,
                    sb_err_t *err);
extern const sb_table_def_t an_agents_hour, an_pauses_hour;

int an_leads_new(an_t *a, struct an_leads_s **out, sb_err_t *err);
void an_leads_free(struct an_leads_s *l);
int an_leads_event(an_t *a, sb_batch_t *b, const sb_event_t *ev, int *mine,
                   sb_err_t *err);
extern const sb_table_def_t an_leads_hour, an_stages_hour;

int an_campaigns_new(an_t *a, struct an_campaigns_s **out, sb_err_t *err);
void an_campaigns_free(struct an_campaigns_s *c);
int an_campaigns_event(an_t *a, sb_batch_t *b, const sb_event_t *ev,
                       int *mine, sb_err_t *err);
extern const sb_table_def_t an_campaigns_table, an_spend_hour;

int an_messages_new(an_t *a, struct an_messages_s **out, sb_err_t *err);
void an_messages_free(struct an_messages_s *m);
int an_messages_event(an_t *a, sb_batch_t *b, const sb_event_t *ev,
                      int *mine, sb_err_t *err);
int an_messages_timer(an_t *a, sb_batch_t *b, const sb_timer_t *t,
                      sb_err_t *err);
extern const sb_table_def_t an_messages_hour;

int an_points_new(an_t *a, struct an_points_s **out, sb_err_t *err);
void an_points_free(struct an_points_s *p);
int an_points_event(an_t *a, sb_batch_t *b, const sb_event_t *ev, int *mine,
                    sb_err_t *err);
extern const sb_table_def_t an_points_hour;

int an_tenants_new(an_t *a, struct an_tenants_s **out, sb_err_t *err);
void an_tenants_free(struct an_tenants_s *t);
int an_tenants_event(an_t *a, sb_batch_t *b, const sb_event_t *ev, int *mine,
                     sb_err_t *err);
extern const sb_table_def_t an_tenants_table;

/* Queues' service-level thresholds (analytics_queues.c): the global
 * table, its fields resolved in init, and the threshold in seconds in
 * force for a call of tenant on queue started at at_us (event time): the
 * newest configuration of the queue at or before it, else
 * analytics.service_level_s. */
extern const sb_global_def_t an_globals[];
int an_queues_init(an_t *a, sb_err_t *err);
int32_t an_queue_sl_s(const an_t *a, sb_batch_t *b, const char *tenant,
                      const char *queue, int64_t at_us);

/* The SQL of the projection's steps (analytics_sql.c). */
extern const sb_proj_step_t an_migrations[];
/* The read views (analytics_views.c). */
extern const sb_view_def_t an_views[];

#endif
