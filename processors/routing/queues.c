/* Queues' configuration as data: routing.queue_configured (sb.tenants,
 * keyed tenant:queue_id, so one queue's configurations stay in order),
 * posted by an admin or a manager, is checked here, recorded in
 * routing.queues and handed to the assignment processor as routing.input
 * kind "queue" (the book's queue record: strategy, relaxation of optional
 * skills, priority, its own bound of waiting leads, service level,
 * required skills). The book keeps the queue's round-robin position and
 * its campaign's gate across configurations; a queue never configured
 * takes the tenant's default (assignment.default_strategy).
 *
 * What the schema cannot say is checked here, naming the field (to the
 * dead letters): a required skill is name or name:level, a name of 1 to
 * 63 bytes without ',' or ':', a level 1 to 10, each skill once. */
#include "routing_int.h"

#include "book_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define R SB_MERGE_REPLACE

const sb_table_def_t rt__queues = {
    .name = "queues",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"queue_id", SB_COL_TEXT, 0},
                               {"strategy", SB_COL_TEXT, R},
                               {"relax_after_ms", SB_COL_INT8, R},
                               {"max_waiting", SB_COL_INT4, R},
                               {"priority", SB_COL_INT4, R},
                               {"service_level_s", SB_COL_INT4, R},
                               {"required_skills", SB_COL_TEXT, R},
                               {"configured_at", SB_COL_TIMESTAMPTZ, R},
                               {"event_id", SB_COL_TEXT, R},
                               {0}},
    .key = (const char *const[]){"tenant_id", "queue_id", NULL},
};

enum {
  FQ_QUEUE,
  FQ_STRATEGY,
  FQ_RELAX,
  FQ_MAX_WAITING,
  FQ_PRIORITY,
  FQ_SERVICE_LEVEL,
  FQ_SKILLS,
  FQ_DESCRIPTION
};
static const char *const fields[RT_FQ_N] = {
    "queue_id", "strategy",        "relax_after_ms",  "max_waiting",
    "priority", "service_level_s", "required_skills", "description"};

int rt__queues_init(routing_t *x, const sb_schemas_t *s, sb_err_t *err) {
  int rc = sb_codec_type(s, "routing.queue_configured", &x->t_queue, err);
  for (int i = 0; rc == 0 && i < RT_FQ_N; i++)
    rc = sb_codec_field(s, "routing.queue_configured", fields[i], &x->fq[i],
                        err);
  return rc;
}

/* The required skills into q, and as text ("a:2,b:1") into list. */
static int skills_of(routing_t *x, const sb_event_t *ev, routing_queue_rec_t *q,
                     char *list, size_t cap, sb_err_t *err) {
  size_t n = sb_event_count(ev, x->fq[FQ_SKILLS]), used = 0;
  list[0] = '\0';
  if (n > ROUTING_SKILLS_MAX)
    return sb_err_set(err, SB_EVALIDATE,
                      "routing.queue_configured %s: required_skills: more "
                      "than %d",
                      ev->event_id, ROUTING_SKILLS_MAX);
  for (size_t i = 0; i < n; i++) {
    const char *v = sb_event_str_at(ev, x->fq[FQ_SKILLS], i);
    const char *colon = v ? strchr(v, ':') : NULL;
    size_t nl = v == NULL ? 0 : colon ? (size_t)(colon - v) : strlen(v);
    long level = 1;
    char *end = NULL;
    if (colon != NULL) {
      level = strtol(colon + 1, &end, 10);
      if (colon[1] == '\0' || *end != '\0')
        level = 0;
    }
    int ok = nl > 0 && nl <= ROUTING_NAME_MAX && level >= 1 && level <= 10 &&
             memchr(v, ',', nl) == NULL && memchr(v, '\n', nl) == NULL;
    for (int j = 0; ok && j < q->nrequired; j++)
      ok = strlen(q->required[j].name) != nl ||
           memcmp(q->required[j].name, v, nl) != 0;
    if (!ok)
      return sb_err_set(err, SB_EVALIDATE,
                        "routing.queue_configured %s: required_skills[%zu]: "
                        "'%.80s': a skill is name or name:level (a name of "
                        "1 to %d bytes without ',' or ':', a level 1 to 10), "
                        "each once",
                        ev->event_id, i, v ? v : "", ROUTING_NAME_MAX);
    routing_named_skill_t *k = &q->required[q->nrequired++];
    memcpy(k->name, v, nl);
    k->name[nl] = '\0';
    k->level = (int)level;
    int w = snprintf(list + used, cap - used, "%s%s:%d", used ? "," : "",
                     k->name, k->level);
    if (w < 0 || (size_t)w >= cap - used)
      return sb_err_set(err, SB_EVALIDATE,
                        "routing.queue_configured %s: required_skills: too "
                        "long",
                        ev->event_id);
    used += (size_t)w;
  }
  return 0;
}

int rt__queue_event(routing_t *x, sb_batch_t *b, const sb_event_t *ev,
                    sb_err_t *err) {
  const char *id = sb_event_str(ev, x->fq[FQ_QUEUE]);
  const char *strategy = sb_event_enum_name(ev, x->fq[FQ_STRATEGY]);
  routing_queue_rec_t q;
  memset(&q, 0, sizeof q);
  if (id == NULL || id[0] == '\0' || strlen(id) > ROUTING_NAME_MAX)
    return sb_err_set(err, SB_EVALIDATE,
                      "routing.queue_configured %s: queue_id: 1 to %d bytes",
                      ev->event_id, ROUTING_NAME_MAX);
  memcpy(q.id, id, strlen(id) + 1);
  sb_err_t why = SB_ERR_INIT;
  if (routing_strategy_parse(strategy, &q.strategy, &why) != 0)
    return sb_err_set(err, SB_EVALIDATE, "routing.queue_configured %s: %s",
                      ev->event_id, why.msg);
  int has_relax = sb_event_has(ev, x->fq[FQ_RELAX]);
  int has_max = sb_event_has(ev, x->fq[FQ_MAX_WAITING]);
  int64_t relax_ms = sb_event_i64(ev, x->fq[FQ_RELAX]);
  /* the schema bounds them (sb.minimum, sb.maximum); a record written
   * past them by another producer is refused here too */
  q.relax_after_us = relax_ms > 0 && relax_ms <= 86400000 ? relax_ms * 1000 : 0;
  q.max_waiting = has_max ? (int)sb_event_i64(ev, x->fq[FQ_MAX_WAITING]) : 0;
  q.priority = (int)sb_event_i64(ev, x->fq[FQ_PRIORITY]);
  q.service_level_s = sb_event_has(ev, x->fq[FQ_SERVICE_LEVEL])
                          ? (int)sb_event_i64(ev, x->fq[FQ_SERVICE_LEVEL])
                          : 20;
  if (relax_ms < 0 || relax_ms > 86400000 || q.max_waiting < 0 ||
      q.priority < -1000 || q.priority > 1000 || q.service_level_s < 0)
    return sb_err_set(err, SB_EVALIDATE,
                      "routing.queue_configured %s: a number out of its "
                      "bounds (relax_after_ms 0 to 86400000, max_waiting >= "
                      "1, priority -1000 to 1000, service_level_s >= 1)",
                      ev->event_id);
  char list[ROUTING_SKILLS_MAX * (ROUTING_NAME_MAX + 5) + 1];
  if (skills_of(x, ev, &q, list, sizeof list, err) != 0)
    return err->code;
  char *payload;
  size_t len;
  if (routing_queue_encode(&q, &payload, &len, err) != 0)
    return err->code;
  int rc = rt__forward_send(x, b, ev->tenant_id, "queue", q.id, payload, err);
  cJSON_free(payload);
  if (rc != 0)
    return rc;
  return sb_rows_add(
      b, &rt__queues,
      (const sb_val_t[]){
          SB_V_TEXT(ev->tenant_id), SB_V_TEXT(q.id),
          SB_V_TEXT(strategy), /* as posted */
          has_relax ? (sb_val_t)SB_V_INT8(relax_ms) : (sb_val_t)SB_V_NULL,
          has_max ? (sb_val_t)SB_V_INT4(q.max_waiting) : (sb_val_t)SB_V_NULL,
          SB_V_INT4(q.priority), SB_V_INT4(q.service_level_s),
          SB_V_TEXT(list[0] ? list : NULL), SB_V_TIMESTAMPTZ(ev->occurred_at),
          SB_V_TEXT(ev->event_id)},
      err);
}
