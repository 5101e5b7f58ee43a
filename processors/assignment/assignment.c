/* assignment: the one decision-maker of each tenant's routing. See
 * assignment.h. */
#include "assignment.h"

#include "book_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENANT_MAX 64 /* bytes of a tenant id (the schemas' bound) */

static const sb_table_def_t waiting_table = {
    .name = "waiting",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"lead_id", SB_COL_TEXT, 0},
                               {"queue_id", SB_COL_TEXT, SB_MERGE_REPLACE},
                               {"channel", SB_COL_TEXT, SB_MERGE_REPLACE},
                               {"score", SB_COL_INT8, SB_MERGE_REPLACE},
                               {"recycled", SB_COL_BOOL, SB_MERGE_REPLACE},
                               {"waiting_since", SB_COL_TIMESTAMPTZ,
                                SB_MERGE_REPLACE},
                               {0}},
    .key = (const char *const[]){"tenant_id", "lead_id", NULL},
};

static const sb_table_def_t decisions_table = {
    .name = "decisions",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"input_id", SB_COL_TEXT, 0},
                               {"seq", SB_COL_INT4, 0},
                               {"outcome", SB_COL_TEXT, 0},
                               {"lead_id", SB_COL_TEXT, 0},
                               {"agent_id", SB_COL_TEXT, 0},
                               {"queue_id", SB_COL_TEXT, 0},
                               {"strategy", SB_COL_TEXT, 0},
                               {"explanation", SB_COL_JSONB, 0},
                               {"decided_at", SB_COL_TIMESTAMPTZ, 0},
                               {0}},
};

static const sb_table_def_t *const tables[] = {&waiting_table,
                                               &decisions_table, NULL};

/* what GET /v1/projections/assignment/VIEW answers (sb_view_def_t);
 * agents read neither (a decision explains every candidate) */
static const sb_view_def_t views[] = {
    {.name = "waiting",
     .relation = "waiting",
     .about = "the leads waiting for an agent, with score and since when",
     .order = "waiting_since,lead_id",
     .filters = "queue=queue_id,channel=channel"},
    {.name = "decisions",
     .relation = "decisions",
     .about = "every routing decision with its explanation",
     .time_col = "decided_at",
     .order = "decided_at,input_id,seq",
     .filters = "agent=agent_id,queue=queue_id,lead=lead_id,outcome=outcome"},
    {0},
};

#define GRANT(t)                                                              \
  "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}." t " TO switchboard_app;\n"

static const sb_proj_step_t migrations[] = {
    {1,
     "CREATE TABLE {schema}.waiting (tenant_id text NOT NULL, lead_id text "
     "NOT NULL, queue_id text NOT NULL, channel text NOT NULL, score bigint "
     "NOT NULL, recycled boolean NOT NULL, waiting_since timestamptz NOT "
     "NULL, PRIMARY KEY (tenant_id, lead_id));\n"
     "CREATE TABLE {schema}.decisions (tenant_id text NOT NULL, input_id text "
     "NOT NULL, seq integer NOT NULL, outcome text NOT NULL, lead_id text, "
     "agent_id text, queue_id text, strategy text, explanation jsonb, "
     "decided_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, input_id, "
     "seq));\n"
     "CREATE INDEX ON {schema}.decisions (tenant_id, lead_id);\n" GRANT(
         "waiting") GRANT("decisions")},
    {0, NULL},
};

/* ---- state --------------------------------------------------------------- */

enum { FI_ROUTE, FI_KIND, FI_REF, FI_REASON, FI_PAYLOAD, FI_N };
static const char *const input_fields[FI_N] = {"route_key", "kind", "ref_id",
                                               "reason", "payload"};
enum {
  FD_ROUTE, FD_OUTCOME, FD_LEAD, FD_AGENT, FD_QUEUE, FD_STRATEGY, FD_EXPL,
  FD_N
};
static const char *const decision_fields[FD_N] = {
    "route_key", "outcome", "lead_id", "agent_id",
    "queue_id",  "strategy", "explanation"};
enum {
  FA_LEAD, FA_AGENT, FA_STRATEGY, FA_REASON, FA_QUEUE, FA_COUNT, FA_IDLE,
  FA_EXPIRES, FA_N
};
static const char *const assigned_fields[FA_N] = {
    "lead_id",  "agent_id",         "strategy",      "reason",
    "queue_id", "candidates_count", "agent_idle_ms", "expires_at"};

/* a tenant's book on one partition, as this batch sees it */
typedef struct cached_s {
  struct cached_s *next;
  int32_t partition;
  char tenant[TENANT_MAX + 1];
  routing_book_t *book;
  int64_t clock; /* the latest input time: time never runs backwards */
  /* the book's next due time after clock, as settle last found it (the
   * book has not changed since): 0 none; known 0 until the first settle */
  int64_t due;
  int due_known;
} cached_t;

typedef struct {
  sb_etype_ref_t t_input, t_decision, t_assigned;
  sb_field_t fi[FI_N], fd[FD_N], fa[FA_N];
  routing_book_conf_t conf;
  cached_t *books;
  /* the event being handled, for the outcome callback */
  sb_batch_t *b;
  const sb_event_t *ev;
  const char *tenant;
  int seq;
} as_t;

static void forget(as_t *x, int all, int32_t partition) {
  for (cached_t **p = &x->books; *p;) {
    cached_t *c = *p;
    if (!all && c->partition != partition) {
      p = &c->next;
      continue;
    }
    *p = c->next;
    routing_book_free(c->book);
    free(c);
  }
}

static void destroy(void *state) {
  as_t *x = state;
  forget(x, 1, 0);
  free(x);
}

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  as_t *x = calloc(1, sizeof *x);
  if (x == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  const sb_schemas_t *sc = kit->schemas;
  int timeout_ms = 0, max_waiting = 0;
  const char *strategy = NULL;
  int rc = sb_codec_type(sc, "routing.input", &x->t_input, err);
  if (rc == 0)
    rc = sb_codec_type(sc, "routing.decision", &x->t_decision, err);
  if (rc == 0)
    rc = sb_codec_type(sc, "lead.assigned", &x->t_assigned, err);
  for (int i = 0; rc == 0 && i < FI_N; i++)
    rc = sb_codec_field(sc, "routing.input", input_fields[i], &x->fi[i], err);
  for (int i = 0; rc == 0 && i < FD_N; i++)
    rc = sb_codec_field(sc, "routing.decision", decision_fields[i], &x->fd[i],
                        err);
  for (int i = 0; rc == 0 && i < FA_N; i++)
    rc = sb_codec_field(sc, "lead.assigned", assigned_fields[i], &x->fa[i],
                        err);
  if (rc == 0)
    rc = sb_conf_int(kit->conf, "assignment.reserve_timeout_ms", &timeout_ms,
                     err);
  if (rc == 0)
    rc = sb_conf_int(kit->conf, "assignment.max_waiting", &max_waiting, err);
  if (rc == 0)
    rc = sb_conf_str(kit->conf, "assignment.default_strategy", &strategy, err);
  if (rc == 0)
    rc = routing_strategy_parse(strategy, &x->conf.default_strategy, err);
  if (rc != 0) {
    destroy(x);
    return rc;
  }
  x->conf.reserve_timeout_us = (int64_t)timeout_ms * 1000;
  x->conf.max_waiting = (size_t)max_waiting;
  *state = x;
  return 0;
}

/* ---- the book of a tenant, from keyed state ------------------------------ */

/* keys: "<tenant>/a/<agent>", "<tenant>/q/<queue>", "<tenant>/l/<lead>",
 * "<tenant>/c" (the clock) */
static int key_of(char *out, size_t cap, const char *tenant, char kind,
                  const char *id, sb_err_t *err) {
  int n = id ? snprintf(out, cap, "%s/%c/%s", tenant, kind, id)
             : snprintf(out, cap, "%s/%c", tenant, kind);
  return n < 0 || (size_t)n >= cap
             ? sb_err_set(err, SB_EVALIDATE, "assignment: a key too long")
             : 0;
}

typedef struct {
  cached_t *c;
  size_t skip; /* strlen(tenant) + 1 */
} restore_t;

static int restore_one(void *arg, const char *key, const void *val, size_t len,
                       sb_err_t *err) {
  restore_t *r = arg;
  const char *k = key + r->skip;
  if (k[0] == 'c' && k[1] == '\0') {
    char num[32];
    snprintf(num, sizeof num, "%.*s", (int)(len < 31 ? len : 31),
             (const char *)val);
    r->c->clock = strtoll(num, NULL, 10);
    return 0;
  }
  if (k[0] == '\0' || k[1] != '/')
    return 0; /* not ours */
  if (k[0] == 'a') {
    routing_agent_rec_t a;
    return routing_agent_decode(val, len, &a, err) != 0
               ? err->code
               : routing_book_restore_agent(r->c->book, &a, err);
  }
  if (k[0] == 'q') {
    routing_queue_rec_t q;
    return routing_queue_decode(val, len, &q, err) != 0
               ? err->code
               : routing_book_restore_queue(r->c->book, &q, err);
  }
  if (k[0] == 'l') {
    routing_lead_rec_t l;
    return routing_lead_decode(val, len, &l, err) != 0
               ? err->code
               : routing_book_restore_lead(r->c->book, &l, err);
  }
  return 0;
}

static cached_t *book_of(as_t *x, sb_batch_t *b, int32_t partition,
                         const char *tenant, sb_err_t *err) {
  for (cached_t *c = x->books; c; c = c->next)
    if (c->partition == partition && strcmp(c->tenant, tenant) == 0)
      return c;
  cached_t *c = calloc(1, sizeof *c);
  if (c == NULL || (c->book = routing_book_new(&x->conf)) == NULL) {
    free(c);
    sb_err_set(err, SB_ENOMEM, "out of memory");
    return NULL;
  }
  c->partition = partition;
  snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
  char prefix[TENANT_MAX + 2];
  snprintf(prefix, sizeof prefix, "%s/", tenant);
  restore_t r = {c, strlen(prefix)};
  if (sb_state_scan(b, prefix, restore_one, &r, err) != 0) {
    sb_err_prefix(err, "assignment: restoring tenant %s: ", tenant);
    routing_book_free(c->book);
    free(c);
    return NULL;
  }
  c->next = x->books;
  x->books = c;
  return c;
}

/* ---- saving what changed ------------------------------------------------- */

typedef struct {
  as_t *x;
  sb_batch_t *b;
  const char *tenant;
} save_t;

static int put(save_t *s, char kind, const char *id, char *text, size_t len,
               sb_err_t *err) {
  char key[TENANT_MAX + 200];
  int rc = key_of(key, sizeof key, s->tenant, kind, id, err);
  if (rc == 0)
    rc = sb_state_put(s->b, key, text, len, err);
  cJSON_free(text);
  return rc;
}

static int save_agent(void *arg, const routing_agent_rec_t *a, sb_err_t *err) {
  char *t;
  size_t n;
  return routing_agent_encode(a, &t, &n, err) != 0
             ? err->code
             : put(arg, 'a', a->id, t, n, err);
}

static int save_queue(void *arg, const routing_queue_rec_t *q, sb_err_t *err) {
  char *t;
  size_t n;
  return routing_queue_encode(q, &t, &n, err) != 0
             ? err->code
             : put(arg, 'q', q->id, t, n, err);
}

static int save_lead(void *arg, const char *id, const routing_lead_rec_t *l,
                     sb_err_t *err) {
  save_t *s = arg;
  if (l == NULL) {
    char key[TENANT_MAX + 200];
    int rc = key_of(key, sizeof key, s->tenant, 'l', id, err);
    if (rc == 0)
      rc = sb_state_del(s->b, key, err);
    if (rc == 0)
      rc = sb_rows_del(s->b, &waiting_table,
                       (const sb_val_t[]){SB_V_TEXT(s->tenant), SB_V_TEXT(id)},
                       err);
    return rc;
  }
  char *t;
  size_t n;
  if (routing_lead_encode(l, &t, &n, err) != 0 ||
      put(s, 'l', id, t, n, err) != 0)
    return err->code;
  return sb_rows_add(
      s->b, &waiting_table,
      (const sb_val_t[]){SB_V_TEXT(s->tenant), SB_V_TEXT(l->id),
                         SB_V_TEXT(l->queue),
                         SB_V_TEXT(routing_channel_name(l->channel)),
                         SB_V_INT8(l->score), SB_V_BOOL(l->recycled),
                         SB_V_TIMESTAMPTZ(l->ready_at_us)},
      err);
}

static const routing_dirty_t saver = {save_agent, save_queue, save_lead};

/* ---- decisions ----------------------------------------------------------- */

/* lead.assigned's enum names the default strategy longest_wait_time */
static const char *assigned_strategy(routing_strategy_t s) {
  return s == ROUTING_LONGEST_WAIT ? "longest_wait_time"
                                   : routing_strategy_name(s);
}

static int on_outcome(void *arg, const routing_outcome_t *o, sb_err_t *err) {
  as_t *x = arg;
  sb_batch_t *b = x->b;
  char disc[48], *expl = NULL;
  int seq = x->seq++;
  const char *strategy =
      o->decision ? routing_strategy_name(o->decision->strategy) : NULL;
  if (o->decision != NULL) {
    cJSON *j = routing_decision_json(o->decision, 50);
    expl = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (expl == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  const char *lead = o->lead ? o->lead->id : NULL;
  const char *queue = o->lead && o->lead->queue[0] ? o->lead->queue : NULL;
  snprintf(disc, sizeof disc, "decision/%d", seq);
  sb_build_t *e = sb_emit_begin(b, x->t_decision);
  sb_build_str(e, x->fd[FD_ROUTE], x->tenant);
  sb_build_enum(e, x->fd[FD_OUTCOME], o->what);
  if (lead)
    sb_build_str(e, x->fd[FD_LEAD], lead);
  if (o->agent_id)
    sb_build_str(e, x->fd[FD_AGENT], o->agent_id);
  if (queue)
    sb_build_str(e, x->fd[FD_QUEUE], queue);
  if (strategy)
    sb_build_str(e, x->fd[FD_STRATEGY], strategy);
  if (expl)
    sb_build_str(e, x->fd[FD_EXPL], expl);
  const sb_emit_t opt = {.discriminator = disc, .tenant_id = x->tenant,
                         .occurred_at = o->at_us};
  int rc = sb_emit_end(b, e, &opt, err);
  if (rc == 0)
    rc = sb_rows_add(
        b, &decisions_table,
        (const sb_val_t[]){
            SB_V_TEXT(x->tenant), SB_V_TEXT(x->ev->event_id), SB_V_INT4(seq),
            SB_V_TEXT(o->what), SB_V_TEXT(lead), SB_V_TEXT(o->agent_id),
            SB_V_TEXT(queue), SB_V_TEXT(strategy), SB_V_JSONB(expl),
            SB_V_TIMESTAMPTZ(o->at_us)},
        err);
  if (rc == 0 && strcmp(o->what, "assigned") == 0) {
    const routing_decision_t *d = o->decision;
    const routing_verdict_t *w = &d->verdicts[d->chosen];
    char reason[160];
    snprintf(reason, sizeof reason, "%s%s%s", strategy,
             d->tiebreak[0] ? "; tie broken by " : "", d->tiebreak);
    snprintf(disc, sizeof disc, "assigned/%d", seq);
    const routing_agent_rec_t *a = NULL;
    for (cached_t *c = x->books; c && a == NULL; c = c->next)
      if (strcmp(c->tenant, x->tenant) == 0)
        a = routing_book_agent(c->book, w->agent_id);
    e = sb_emit_begin(b, x->t_assigned);
    sb_build_str(e, x->fa[FA_LEAD], lead);
    sb_build_str(e, x->fa[FA_AGENT], o->agent_id);
    sb_build_enum(e, x->fa[FA_STRATEGY], assigned_strategy(d->strategy));
    sb_build_str(e, x->fa[FA_REASON], reason);
    if (queue)
      sb_build_str(e, x->fa[FA_QUEUE], queue);
    sb_build_i64(e, x->fa[FA_COUNT], d->eligible);
    if (a != NULL && a->idle_since_us > 0 && o->at_us > a->idle_since_us)
      sb_build_i64(e, x->fa[FA_IDLE], (o->at_us - a->idle_since_us) / 1000);
    sb_build_i64(e, x->fa[FA_EXPIRES], o->at_us + x->conf.reserve_timeout_us);
    const sb_emit_t ao = {.discriminator = disc, .tenant_id = x->tenant,
                          .occurred_at = o->at_us};
    rc = sb_emit_end(b, e, &ao, err);
  }
  cJSON_free(expl);
  return rc;
}

/* ---- events and ticks ---------------------------------------------------- */

#define TICK_KIND 4 /* routing.input's kind symbol "tick" */

static int apply(as_t *x, cached_t *c, const sb_event_t *ev, int64_t now,
                 sb_err_t *err) {
  const char *kind = sb_event_enum_name(ev, x->fi[FI_KIND]);
  const char *ref = sb_event_str(ev, x->fi[FI_REF]);
  const char *payload = sb_event_str(ev, x->fi[FI_PAYLOAD]);
  size_t plen = payload ? strlen(payload) : 0;
  if (kind == NULL)
    return sb_err_set(err, SB_EVALIDATE, "routing.input without a kind");
  if (strcmp(kind, "tick") == 0)
    return routing_book_tick(c->book, now, on_outcome, x, err);
  if (strcmp(kind, "lead_withdrawn") == 0) {
    if (ref == NULL)
      return sb_err_set(err, SB_EVALIDATE,
                        "routing.input lead_withdrawn without ref_id");
    return routing_book_lead_remove(c->book, ref, now, on_outcome, x, err);
  }
  if (payload == NULL)
    return sb_err_set(err, SB_EVALIDATE, "routing.input %s without a payload",
                      kind);
  if (strcmp(kind, "agent") == 0 || strcmp(kind, "agent_call") == 0) {
    /* one side of the agent: an older one than the book has changes
     * nothing (routing_book_agent_update) */
    routing_agent_rec_t a;
    if (routing_agent_decode(payload, plen, &a, err) != 0)
      return err->code;
    return routing_book_agent_update(
        c->book, kind[5] == '_' ? ROUTING_SIDE_CALL : ROUTING_SIDE_AGENT, &a,
        now, on_outcome, x, err);
  }
  if (strcmp(kind, "lead_ready") == 0) {
    routing_lead_rec_t l;
    return routing_lead_decode(payload, plen, &l, err) != 0
               ? err->code
               : routing_book_lead_ready(c->book, &l, now, on_outcome, x, err);
  }
  routing_queue_rec_t q; /* "queue", "campaign" */
  if (routing_queue_decode(payload, plen, &q, err) != 0)
    return err->code;
  return strcmp(kind, "campaign") == 0
             ? routing_book_queue_gate(c->book, &q, now, on_outcome, x, err)
             : routing_book_queue_set(c->book, &q, now, on_outcome, x, err);
}

/* After an input or a tick: what changed is saved, and the tenant's timer
 * asks for the next tick. */
static int settle(as_t *x, sb_batch_t *b, cached_t *c, sb_err_t *err) {
  save_t s = {x, b, c->tenant};
  int rc = routing_book_flush(c->book, &saver, &s, err);
  char key[TENANT_MAX + 8], num[24];
  if (rc == 0)
    rc = key_of(key, sizeof key, c->tenant, 'c', NULL, err);
  if (rc == 0) {
    int n = snprintf(num, sizeof num, "%lld", (long long)c->clock);
    rc = sb_state_put(b, key, num, (size_t)n, err);
  }
  int64_t due = routing_book_next_due(c->book, c->clock);
  c->due = due, c->due_known = 1;
  if (rc == 0)
    rc = due > 0 ? sb_timer_set(b, c->tenant, due, SB_TIMER_WALL, err)
                 : sb_timer_cancel(b, c->tenant, err);
  return rc;
}

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  as_t *x = state;
  if (!sb_event_type_is(ev, x->t_input))
    return 0; /* its own decisions, read back: nothing to do */
  if (ev->subject == NULL || strcmp(ev->subject, ev->tenant_id) != 0)
    return sb_err_set(err, SB_EVALIDATE,
                      "routing.input %s: route_key must be its tenant",
                      ev->event_id);
  /* the partition: the kit's state calls know it; the cache needs it */
  int32_t partition = sb_batch_partition(b);
  cached_t *c = book_of(x, b, partition, ev->tenant_id, err);
  if (c == NULL)
    return err->code;
  int64_t before = c->clock;
  if (ev->occurred_at > c->clock)
    c->clock = ev->occurred_at;
  x->b = b, x->ev = ev, x->tenant = c->tenant, x->seq = 0;
  /* what fell due up to this input's time happens first, at that time:
   * time moves with the log, whatever ticks the timer managed to send */
  int64_t due = c->due_known ? c->due : routing_book_next_due(c->book, before);
  int rc = 0;
  if (due > 0 && due <= c->clock &&
      sb_event_enum(ev, x->fi[FI_KIND]) != TICK_KIND)
    rc = routing_book_tick(c->book, c->clock, on_outcome, x, err);
  if (rc == 0)
    rc = apply(x, c, ev, c->clock, err);
  if (rc == 0)
    rc = settle(x, b, c, err);
  x->b = NULL, x->ev = NULL;
  return rc;
}

/* The tenant's next due time came: a tick goes through the log, so that it
 * is decided on in the log's order, on every replay alike. */
static int timer(void *state, sb_batch_t *b, const sb_timer_t *t,
                 sb_err_t *err) {
  as_t *x = state;
  sb_build_t *e = sb_emit_begin(b, x->t_input);
  sb_build_str(e, x->fi[FI_ROUTE], t->key);
  sb_build_enum(e, x->fi[FI_KIND], "tick");
  const sb_emit_t o = {.tenant_id = t->key, .occurred_at = t->due_us};
  return sb_emit_end(b, e, &o, err);
}

static void aborted(void *state) { forget(state, 1, 0); }

static void revoked(void *state, const char *topic, int32_t partition) {
  (void)topic;
  forget(state, 0, partition);
}

static const sb_conf_prop_t conf_rows[] = {
    {"assignment.reserve_timeout_ms", SB_CT_INT, 0, 1000, 3600000, "30000",
     "SWITCHBOARD_ASSIGNMENT_RESERVE_TIMEOUT_MS", "MS", NULL, 0,
     "How long an agent's slot stays held for a lead assigned to it when no "
     "newer availability of the agent arrives; then the slot is released "
     "(routing.decision released)."},
    {"assignment.max_waiting", SB_CT_INT, 0, 1, 1000000, "20000",
     "SWITCHBOARD_ASSIGNMENT_MAX_WAITING", "N", NULL, 0,
     "Leads a tenant may have waiting for an agent; past it a lead is "
     "refused (routing.decision queue_full)."},
    {"assignment.default_strategy", SB_CT_STR, 0, 0, 0, "longest_wait",
     "SWITCHBOARD_ASSIGNMENT_DEFAULT_STRATEGY", "NAME", NULL, 0,
     "The strategy of a queue no routing.input of kind queue configured: "
     "longest_wait, fewest_calls, round_robin, skills or capacity."},
    {0},
};

const sb_processor_vt_t sb_assignment_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "assignment",
    .topics = (const char *const[]){SB_TOPIC_ROUTING, NULL},
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .destroy = destroy,
    .abort = aborted,
    .revoke = revoked,
    .timer = timer,
    .flags = SB_PROCESSOR_KEYED_STATE,
    .conf = conf_rows,
    .views = views,
};
