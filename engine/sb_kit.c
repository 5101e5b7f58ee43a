/* The processor kit's parts, per processor of a pipeline: its table
 * writers, keyed state and timers, driven by the batch (load on
 * assignment, flush in the processor's savepoint, committed or dropped
 * with the transaction), and what a processor calls: sb_rows_add,
 * sb_state_*, sb_timer_*, sb_emit_*. */
#include "sb_pipeline_int.h"

#include "sb_ulid.h"
#include "sb_util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- life ---------------------------------------------------------------- */

int sb__kit_setup(sb_pipeline_t *p, sb__slot_t *s, sb_err_t *err) {
  const sb_processor_vt_t *vt = s->vt;
  s->kit = (sb_kit_t){p->c, p->schemas, s->schema};
  for (size_t i = 0; vt->tables && vt->tables[i]; i++) {
    if (i >= SB__MAX_TABLES)
      return sb_err_set(err, SB_EINVAL,
                        "processor %s declares more than %d "
                        "tables",
                        vt->name, SB__MAX_TABLES);
    if (sb__retention_check(vt, vt->tables[i], err) != 0 ||
        sb_rows_new(vt->tables[i], s->schema, 0, &s->rows[i], err) != 0 ||
        sb_rows_check(s->rows[i], p->pg, err) != 0) {
      sb_err_prefix(err, "processor %s: ", vt->name);
      return err->code;
    }
    s->nrows = i + 1;
  }
  if ((vt->flags & SB_PROCESSOR_KEYED_STATE) &&
      sb_kstate_new(s->schema, (size_t)p->c->processor_state_max_bytes,
                    &s->kstate, err) != 0)
    return err->code;
  if (vt->timer != NULL &&
      sb_timers_new(s->schema, (size_t)p->c->processor_timers_max_bytes,
                    &s->timers, err) != 0)
    return err->code;
  return 0;
}

void sb__kit_free(sb__slot_t *s) {
  for (size_t i = 0; i < s->nrows; i++)
    sb_rows_free(s->rows[i]);
  s->nrows = 0;
  sb_kstate_free(s->kstate);
  sb_timers_free(s->timers);
  s->kstate = NULL;
  s->timers = NULL;
}

int sb__kit_load(sb_pipeline_t *p, sb__slot_t *s, const char *topic,
                 const int32_t *parts, size_t n, sb_err_t *err) {
  if (s->kstate && sb_kstate_load(s->kstate, p->pg, topic, parts, n, err) != 0)
    return err->code;
  if (s->timers && sb_timers_load(s->timers, p->pg, topic, parts, n, err) != 0)
    return err->code;
  return 0;
}

void sb__kit_drop(sb__slot_t *s, const char *topic, int32_t partition) {
  if (s->kstate)
    sb_kstate_drop(s->kstate, topic, partition);
  if (s->timers)
    sb_timers_drop(s->timers, topic, partition);
}

int sb__kit_flush(sb_pipeline_t *p, sb__slot_t *s, sb_err_t *err) {
  /* the COPY streaming while the batch filled ends first: the connection
   * carries nothing else meanwhile */
  if (s->streaming != NULL) {
    sb_rows_t *w = s->streaming;
    s->streaming = NULL;
    if (sb_rows_finish(w, p->pg, err) != 0)
      return err->code;
  }
  for (size_t i = 0; i < s->nrows; i++)
    if (sb_rows_flush(s->rows[i], p->pg, err) != 0)
      return err->code;
  if (s->kstate && sb_kstate_flush(s->kstate, p->pg, err) != 0)
    return err->code;
  if (s->timers && sb_timers_flush(s->timers, p->pg, err) != 0)
    return err->code;
  return 0;
}

void sb__kit_committed(sb__slot_t *s) {
  if (s->kstate)
    sb_kstate_committed(s->kstate);
  if (s->timers)
    sb_timers_committed(s->timers);
}

void sb__kit_abort(sb__slot_t *s) {
  s->streaming = NULL;
  for (size_t i = 0; i < s->nrows; i++)
    sb_rows_reset(s->rows[i]);
  if (s->kstate)
    sb_kstate_abort(s->kstate);
  if (s->timers)
    sb_timers_abort(s->timers);
}

/* ---- rows ---------------------------------------------------------------- */

static sb_rows_t *writer(sb_batch_t *b, const sb_table_def_t *t,
                         sb_err_t *err) {
  sb__slot_t *s = b->slot;
  for (size_t i = 0; i < s->nrows; i++)
    if (s->vt->tables[i] == t)
      return s->rows[i];
  sb_err_set(err, SB_EINVAL,
             "processor %s: table %s is not one of its "
             "declared tables (vt->tables)",
             s->vt->name, t && t->name ? t->name : "(null)");
  return NULL;
}

#define STREAM_BYTES (64 * 1024)

int sb_rows_add(sb_batch_t *b, const sb_table_def_t *t, const sb_val_t *vals,
                sb_err_t *err) {
  sb_rows_t *w = writer(b, t, err);
  if (w == NULL)
    return err->code;
  if (sb__retention_drop(b, t, vals)) /* purged by retention: stays so */
    return 0;
  if (t->key != NULL)
    return sb_rows_upsert(w, vals, err);
  if (sb_rows_append(w, vals, err) != 0)
    return err->code;
  /* appends stream to the server while the batch fills, for the first
   * processor of the pipeline, which holds the connection during event;
   * the others' wait for commit */
  sb_pipeline_t *p = b->p;
  sb__slot_t *s = b->slot;
  if (p->phase != SB__PHASE_EVENT || s->ix != 0 ||
      sb_rows_pending_bytes(w) < STREAM_BYTES ||
      (s->streaming != NULL && s->streaming != w))
    return 0;
  if (sb__kit_hold(p, s, err) != 0 || sb_rows_stream(w, p->pg, err) != 0)
    return err->code;
  if (sb_pg_copying(p->pg))
    s->streaming = w;
  return 0;
}

int sb_rows_del(sb_batch_t *b, const sb_table_def_t *t, const sb_val_t *key,
                sb_err_t *err) {
  sb_rows_t *w = writer(b, t, err);
  return w == NULL ? err->code : sb_rows_delete(w, key, err);
}

/* ---- keyed state and timers ------------------------------------------- */

static int no_part(sb_batch_t *b, const char *what, sb_err_t *err) {
  return sb_err_set(err, SB_ESTATE,
                    "processor %s: %s outside an event or a timer",
                    b->slot->vt->name, what);
}

int sb_state_get(sb_batch_t *b, const char *key, const void **val,
                 size_t *len) {
  if (b->slot->kstate == NULL || b->topic == NULL)
    return SB_ENOENT;
  return sb_kstate_get(b->slot->kstate, b->topic, b->partition, key, val, len);
}

int32_t sb_batch_partition(const sb_batch_t *b) {
  return b->topic != NULL ? b->partition : -1;
}

int sb_state_scan(sb_batch_t *b, const char *prefix, sb_kstate_scan_cb cb,
                  void *arg, sb_err_t *err) {
  if (b->slot->kstate == NULL || b->topic == NULL)
    return 0;
  return sb_kstate_scan(b->slot->kstate, b->topic, b->partition, prefix, cb,
                        arg, err);
}

static int need_state(sb_batch_t *b, sb_err_t *err) {
  if (b->slot->kstate == NULL)
    return sb_err_set(err, SB_ESTATE,
                      "processor %s keeps state without declaring it "
                      "(flags SB_PROCESSOR_KEYED_STATE)",
                      b->slot->vt->name);
  return b->topic == NULL ? no_part(b, "state", err) : 0;
}

int sb_state_put(sb_batch_t *b, const char *key, const void *val, size_t len,
                 sb_err_t *err) {
  if (need_state(b, err) != 0)
    return err->code;
  return sb_kstate_put(b->slot->kstate, b->topic, b->partition, key, val, len,
                       err);
}

int sb_state_del(sb_batch_t *b, const char *key, sb_err_t *err) {
  if (need_state(b, err) != 0)
    return err->code;
  return sb_kstate_del(b->slot->kstate, b->topic, b->partition, key, err);
}

static int need_timers(sb_batch_t *b, sb_err_t *err) {
  if (b->slot->timers == NULL)
    return sb_err_set(err, SB_ESTATE,
                      "processor %s sets timers without a timer callback",
                      b->slot->vt->name);
  return b->topic == NULL ? no_part(b, "a timer", err) : 0;
}

int sb_timer_set(sb_batch_t *b, const char *key, int64_t due_us,
                 sb_timer_kind_t kind, sb_err_t *err) {
  if (need_timers(b, err) != 0)
    return err->code;
  return sb_timers_set(b->slot->timers, b->topic, b->partition, key, due_us,
                       kind, err);
}

int sb_timer_cancel(sb_batch_t *b, const char *key, sb_err_t *err) {
  if (need_timers(b, err) != 0)
    return err->code;
  return sb_timers_cancel(b->slot->timers, b->topic, b->partition, key, err);
}

typedef struct {
  sb_pipeline_t *p;
  sb__slot_t *s;
  sb_err_t *err;
} fire_t;

static int is_poison(const sb_pipeline_t *p, const sb__slot_t *s,
                     const sb_timer_t *t) {
  return p->poison_timer.set && p->poison_timer.slot == s->ix &&
         p->poison_timer.partition == t->partition &&
         p->poison_timer.due_us == t->due_us &&
         strcmp(p->poison_timer.key, t->key) == 0 &&
         strcmp(p->poison_timer.topic, t->topic) == 0;
}

/* A timer's callback, with retries for a passing error as an event's. One
 * that fails for good (or with a data error of PostgreSQL) is remembered
 * as poison: the caller rolls the batch back, and fired again the timer
 * goes to sb.deadletter instead (the processor's other timers and events
 * go on). A kit misuse (a bug) stops the pipeline. */
static int fire_one(void *arg, const sb_timer_t *t) {
  fire_t *f = arg;
  sb_pipeline_t *p = f->p;
  sb__slot_t *s = f->s;
  sb_batch_t *b = &s->batch;
  if (s->events == 0 && s->fired == 0 && s->vt->begin &&
      s->vt->begin(s->state, b, f->err) != 0) {
    sb_err_prefix(f->err, "processor %s, in begin: ", s->vt->name);
    return f->err->code;
  }
  if (is_poison(p, s, t)) {
    p->poison_timer.set = 0;
    s->fired++;
    return sb__dead_letter_timer(p, s, t, p->poison_timer.why,
                                 p->poison_timer.attempts, f->err);
  }
  b->ev = NULL;
  b->timer = t;
  b->topic = t->topic;
  b->partition = t->partition;
  p->phase = SB__PHASE_EVENT;
  sb_err_t why = SB_ERR_INIT;
  int rc, attempts = 0;
  do {
    sb_err_clear(&why);
    rc = s->vt->timer(s->state, b, t, &why);
    attempts++;
  } while (rc != 0 && why.retriable && why.code != SB_EPG &&
           attempts <= p->c->processor_retries);
  p->phase = SB__PHASE_IDLE;
  b->timer = NULL;
  b->topic = NULL;
  s->fired++;
  if (p->misuse.code != 0) { /* the root cause, whatever timer said */
    sb_err_clear(&why);
    why = p->misuse;
    rc = why.code;
    sb_err_clear(&p->misuse);
  }
  if (rc == 0)
    return 0;
  sb_err_prefix(&why, "processor %s, in timer, %s[%d] key %s due %lld: ",
                s->vt->name, t->topic, t->partition, t->key,
                (long long)t->due_us);
  int poison = why.code != SB_EINTERNAL && !why.fatal &&
               (why.code == SB_EPG ? sb__is_data_error(&why) : 1);
  if (poison) {
    p->poison_timer.set = 1;
    p->poison_timer.slot = s->ix;
    snprintf(p->poison_timer.topic, sizeof p->poison_timer.topic, "%s",
             t->topic);
    p->poison_timer.partition = t->partition;
    snprintf(p->poison_timer.key, sizeof p->poison_timer.key, "%s", t->key);
    p->poison_timer.due_us = t->due_us;
    p->poison_timer.attempts = attempts;
    snprintf(p->poison_timer.why, sizeof p->poison_timer.why, "%s", why.msg);
  }
  *f->err = why;
  return rc;
}

int sb__kit_fire_timers(sb_pipeline_t *p, size_t *fired, sb_err_t *err) {
  *fired = 0;
  /* wall-clock timers are due by the real time (CLOCK_REALTIME): their
   * due times are times of day, as events' are */
  int64_t now = sb_time_now_micros();
  int any = 0;
  for (size_t i = 0; i < p->n; i++)
    if (p->slots[i].timers && sb_timers_maybe_due(p->slots[i].timers, now))
      any = 1;
  if (!any || p->pending > 0 || p->open)
    return 0;
  int moved;
  if (sb__open_batch(p, &moved, err) != 0 || moved)
    return err->code;
  for (size_t i = 0; i < p->n; i++) {
    sb__slot_t *s = &p->slots[i];
    if (s->timers == NULL)
      continue;
    fire_t f = {p, s, err};
    size_t n = 0;
    int rc = sb_timers_due(s->timers, now, fire_one, &f, &n);
    *fired += n;
    if (rc != 0) {
      if (err->code == 0) /* the timers' own failure (memory) */
        sb_err_set(err, rc, "processor %s: firing timers failed", s->vt->name);
      return err->code;
    }
  }
  if (*fired == 0) { /* the cache was stale: nothing to write */
    sb__close_batch(p);
    return 0;
  }
  p->pending = 1; /* a batch to commit, though no record moved */
  return sb__commit_batch(p, err);
}

/* ---- emit ---------------------------------------------------------------- */

sb_build_t *sb_emit_begin(sb_batch_t *b, sb_etype_ref_t t) {
  return sb_codec_build_begin(b->p->codec, t);
}

int sb_emit_end(sb_batch_t *b, sb_build_t *bld, const sb_emit_t *o,
                sb_err_t *err) {
  static const sb_emit_t none = {0};
  if (o == NULL)
    o = &none;
  sb__slot_t *s = b->slot;
  const sb_event_t *ev = b->ev;
  const sb_timer_t *t = b->timer;
  char id[SB_ULID_LEN + 1], source[96];
  sb_envelope_t env = {0};
  if (ev != NULL) {
    sb__derive_id(ev->event_id, ev->occurred_at, s->vt->name, o->discriminator,
                  id);
    env.tenant_id = o->tenant_id ? o->tenant_id : ev->tenant_id;
    env.occurred_at = o->occurred_at ? o->occurred_at : ev->occurred_at;
    const char *corr = sb_event_str_path(ev, "correlation_id");
    env.correlation_id = corr ? corr : ev->event_id;
    env.causation_id = ev->event_id;
  } else if (t != NULL) {
    if (sb_timer_event_id(s->vt->name, t->key, t->due_us,
                          o->discriminator ? o->discriminator : "", id,
                          err) != 0)
      return err->code;
    env.tenant_id = o->tenant_id;
    env.occurred_at = o->occurred_at ? o->occurred_at : t->due_us;
  } else { /* the build is abandoned by the next begin */
    return sb_err_set(err, SB_ESTATE,
                      "processor %s: emit outside an event "
                      "or a timer",
                      s->vt->name);
  }
  if (env.tenant_id == NULL)
    return sb_err_set(err, SB_EINVAL,
                      "processor %s: an event emitted from a "
                      "timer needs a tenant_id",
                      s->vt->name);
  snprintf(source, sizeof source, SB_DERIVED_SOURCE "%s", s->vt->name);
  env.event_id = id;
  env.source = source;
  sb_record_t r;
  if (sb_codec_build_end(bld, &env, &r, err) != 0) {
    sb_err_prefix(err, "processor %s emitted an invalid event: ", s->vt->name);
    return err->code;
  }
  /* A rebuild (replay) emits nothing: what the processor emits for the
   * events it replays is in the log already, acknowledged before the batch
   * that first emitted it committed, and the rebuild reads it back there
   * like the live projection did; copies would reach every other consumer
   * as events seen twice. The event is still built, so an invalid one
   * fails the same way. */
  int rebuild = b->p->o.rebuild_schema != NULL;
  int rc = rebuild ? 0
                   : sb_producer_send_derived(b->p->producer, &r, b->p->txid,
                                              s->vt->name, err);
  sb_record_clear(&r);
  s->emitted |= rc == 0 && !rebuild;
  return rc;
}

int64_t sb_wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
