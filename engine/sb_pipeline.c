/* The pipeline's thread: its consumer, partition assignment (each
 * processor's stored offsets, the lowest sought), the hand-over of each
 * decoded record to the processors reading it, and the loop that commits
 * batches, isolates poison events and recovers from failures. */
#include "sb_pipeline_int.h"

#include "sb_kafka.h"
#include "sb_log.h"
#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const double batch_bounds[] = {1,    10,   50,   100,  500,
                                      1000, 2000, 5000, 10000};
static const double commit_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,   0.25,   0.5,   1,    2.5,   10};

/* Lets each processor publish what is durable (see publish in
 * sb_processor.h); live projections only. */
void sb__publish(sb_pipeline_t *p, int final) {
  if (p->o.rebuild_schema != NULL || p->open || p->pending > 0)
    return;
  for (size_t i = 0; i < p->n; i++) {
    sb__slot_t *s = &p->slots[i];
    sb_err_t err = SB_ERR_INIT;
    if (s->vt->publish != NULL &&
        s->vt->publish(s->state, &s->batch, final, &err) != 0)
      sb_log(SB_LOG_WARN, "engine", "publishing failed; retried later",
             SB_F_STR("processor", s->vt->name), SB_F_STR("error", err.msg),
             SB_F_END);
  }
}

/* Reads a processor's live group and generation. */
int sb__load_live(sb_pipeline_t *p, sb__slot_t *s, sb_err_t *err) {
  if (p->o.rebuild_schema != NULL)
    return 0;
  char gen[16];
  int found = 0;
  const char *name = s->vt->name;
  if (sb_pg_query1(p->pg,
                   "SELECT consumer_group FROM sb.processors WHERE "
                   "name = $1",
                   1, &name, s->offsets_group, sizeof s->offsets_group, &found,
                   NULL, err) != 0 ||
      sb_pg_query1(p->pg,
                   "SELECT generation FROM sb.processors WHERE name = $1", 1,
                   &name, gen, sizeof gen, &found, NULL, err) != 0)
    return err->code;
  if (!found)
    return sb_err_set(err, SB_ESTATE, "processor %s has no sb.processors row",
                      name);
  s->generation = atoi(gen);
  return 0;
}

/* ---- one record --------------------------------------------------------- */

/* Hands processor s one decoded event, with retries for a passing error. A
 * rejected event goes to sb.deadletter for s. 1 when the batch must fail
 * (err set): the transaction itself failed. */
static int deliver(sb_pipeline_t *p, sb__slot_t *s, sb__tp_t *t,
                   const rd_kafka_message_t *m, const sb_event_t *ev,
                   sb_err_t *err) {
  if (s->events == 0 && s->vt->begin) {
    if (s->vt->begin(s->state, &s->batch, err) != 0) {
      sb_err_prefix(err, "processor %s, in begin, %s[%d]@%lld: ", s->vt->name,
                    t->topic, m->partition, (long long)m->offset);
      return err->code;
    }
  }
  int attempts = 0, rc;
  sb_err_t why = SB_ERR_INIT;
  s->batch.ev = ev;
  s->batch.topic = t->topic;
  s->batch.partition = m->partition;
  p->phase = SB__PHASE_EVENT;
  do {
    sb_err_clear(&why);
    rc = s->vt->event(s->state, &s->batch, ev, &why);
    attempts++;
  } while (rc != 0 && why.retriable && why.code != SB_EPG &&
           attempts <= p->c->processor_retries);
  /* event time moves with the partition's events (its timers) */
  if (rc == 0 && s->timers != NULL)
    rc = sb_timers_advance(s->timers, t->topic, m->partition, ev->occurred_at,
                           &why);
  p->phase = SB__PHASE_IDLE;
  s->batch.ev = NULL;
  s->batch.topic = NULL;
  atomic_fetch_add(&p->totals.delivered, 1);
  s->events++;
  t->next[s->ix] = m->offset + 1;
  if (p->misuse.code != 0) { /* the root cause, whatever event said */
    why = p->misuse;
    rc = why.code;
    sb_err_clear(&p->misuse);
    if (rc == SB_EINTERNAL) {
      *err = why;
      return err->code;
    }
  }
  if (rc != 0 && why.code == SB_EPG) {
    sb_err_prefix(&why, "processor %s, in event, %s[%d]@%lld: ", s->vt->name,
                  t->topic, m->partition, (long long)m->offset);
    /* with a savepoint, a data error fails this processor alone */
    if (s->sp_open && sb__is_data_error(&why))
      return sb__slot_fail(p, s, &why, err);
    *err = why; /* the batch goes (next covers m, so that an isolation
                   replay includes it) */
    return err->code;
  }
  if (rc != 0) {
    char msg[SB_ERR_MSG_MAX + 128];
    snprintf(msg, sizeof msg, "processor %s, in event, %s[%d]@%lld: %s",
             s->vt->name, t->topic, m->partition, (long long)m->offset,
             why.msg);
    return sb__dead_letter(p, m, 1u << s->ix, "processor", msg, attempts, err);
  }
  return 0;
}

/* The producer's CloudEvents id of a record (sb_ce_producer_id of its
 * ce_id header), in p->ce_id; NULL when it is the event id or none. Our
 * producer writes the header on every record (the event id when the
 * producer's was a ULID): a lookup among a handful of headers and a
 * compare; the copy only for records that carry another id. */
static const char *producer_id(sb_pipeline_t *p, const rd_kafka_message_t *m,
                               const char *event_id) {
  rd_kafka_headers_t *hdrs = NULL;
  const void *v = NULL;
  size_t n = 0;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(hdrs, "ce_id", &v, &n) !=
          RD_KAFKA_RESP_ERR_NO_ERROR)
    return NULL;
  return sb_ce_producer_id(v, n, event_id, p->ce_id);
}

static int handle(sb_pipeline_t *p, rd_kafka_message_t *m, sb_err_t *err) {
  sb__tp_t *t = sb__find_tp(p, rd_kafka_topic_name(m->rkt), m->partition, 0);
  if (t == NULL || !t->assigned)
    return 0; /* a straggler from a revoked partition */
  t->eof = 0;
  atomic_fetch_add(&p->totals.records, 1);
  /* the processors this record is for: those reading the topic whose own
   * offset is not past it already */
  uint32_t to = 0;
  for (size_t s = 0; s < p->n; s++)
    if ((t->readers & (1u << s)) && !p->slots[s].failed &&
        (t->next[s] < 0 || m->offset >= t->next[s]))
      to |= 1u << s;
  if (to == 0)
    return 0;
  if (p->pending == 0) {
    int moved;
    if (sb__open_batch(p, &moved, err) != 0)
      return err->code;
    if (moved)
      return 0; /* m is read again from the new offsets */
    p->opened = sb_now_ms();
  }
  p->pending++;
  sb_event_t ev;
  sb_err_t why = SB_ERR_INIT;
  atomic_fetch_add(&p->totals.decoded, 1);
  if (sb_codec_decode(p->codec, m->payload, m->len, &ev, &why) != 0) {
    const char *cls = why.code == SB_EVALIDATE ? "validate" : "decode";
    for (size_t s = 0; s < p->n; s++)
      if (to & (1u << s))
        t->next[s] = m->offset + 1;
    return sb__dead_letter(p, m, to, cls, why.msg, 1, err);
  }
  /* a copy of a derived event whose emitting batch did not commit (a
   * retry emitted it again): handled, not handed over. Only derived events
   * (their source names a processor) have their headers read. */
  const char *src = sb_event_str_path(&ev, "source");
  int derived = src != NULL && strncmp(src, SB_DERIVED_SOURCE,
                                       sizeof SB_DERIVED_SOURCE - 1) == 0;
  if (derived && sb__emitted_here(p, m)) {
    /* emitted by this pipeline's open batch: that batch commits first, so
     * that the event's fate is known (m is not in it yet) */
    int moved;
    p->pending--;
    if (sb__commit_batch(p, err) != 0)
      return err->code;
    if (p->need_reseek)
      return 0; /* m is read again after the reseek */
    if (sb__open_batch(p, &moved, err) != 0)
      return err->code;
    if (moved)
      return 0;
    p->opened = sb_now_ms();
    p->pending = 1;
  }
  int dropped = derived ? sb__derived_dropped(p, m, err) : 0;
  if (dropped < 0)
    return dropped;
  if (dropped) {
    for (size_t s = 0; s < p->n; s++)
      if (to & (1u << s))
        t->next[s] = m->offset + 1;
    return 0;
  }
  ev.topic = t->topic;
  ev.partition = m->partition;
  ev.offset = m->offset;
  ev.ce_id = producer_id(p, m, ev.event_id);
  for (size_t s = 0; s < p->n; s++)
    if ((to & (1u << s)) && !p->slots[s].failed &&
        deliver(p, &p->slots[s], t, m, &ev, err) != 0)
      return err->code;
  return 0;
}

/* Every assigned partition read to its end: each reported its end, and,
 * when the pipeline emitted derived events since it last looked (they may
 * have landed after an end was reported), the brokers confirm nothing came
 * after. */
static int all_at_end(sb_pipeline_t *p) {
  int any = 0;
  for (size_t i = 0; i < p->ntp; i++) {
    if (!p->tps[i].assigned)
      continue;
    any = 1;
    if (!p->tps[i].eof)
      return 0;
  }
  if (!p->emitted_since || !any)
    return any;
  /* derived events went out since the ends were reached: the ends now, of
   * every assigned partition in one request (ListOffsets for the latest
   * offset: a timestamp of -1), not one round trip each */
  rd_kafka_topic_partition_list_t *l =
      rd_kafka_topic_partition_list_new((int)p->ntp);
  for (size_t i = 0; i < p->ntp; i++)
    if (p->tps[i].assigned)
      rd_kafka_topic_partition_list_add(l, p->tps[i].topic,
                                        p->tps[i].partition)
          ->offset = RD_KAFKA_OFFSET_END;
  int ended = rd_kafka_offsets_for_times(p->rk, l, p->c->kafka_timeout_ms) ==
              RD_KAFKA_RESP_ERR_NO_ERROR;
  for (size_t i = 0; ended && i < p->ntp; i++) {
    sb__tp_t *t = &p->tps[i];
    if (!t->assigned)
      continue;
    int64_t at = -1;
    for (size_t s = 0; s < p->n; s++)
      if ((t->readers & (1u << s)) && (at < 0 || t->next[s] < at))
        at = t->next[s];
    const rd_kafka_topic_partition_t *e =
        rd_kafka_topic_partition_list_find(l, t->topic, t->partition);
    if (e == NULL || e->err || e->offset < 0 || at < e->offset) {
      t->eof = 0; /* more came: its end is reported again */
      ended = 0;
    }
  }
  rd_kafka_topic_partition_list_destroy(l);
  if (!ended)
    return 0;
  p->emitted_since = 0;
  return any;
}

/* Records behind the high watermark of each assigned partition, per
 * processor, from the offsets librdkafka last saw (no request). */
static void refresh_lag(sb_pipeline_t *p) {
  for (size_t i = 0; i < p->ntp; i++) {
    sb__tp_t *t = &p->tps[i];
    int64_t lo = 0, hi = 0;
    int known =
        t->assigned &&
        rd_kafka_get_watermark_offsets(p->rk, t->topic, t->partition, &lo,
                                       &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        hi >= 0;
    for (size_t s = 0; s < p->n; s++) {
      if (!known || !(t->readers & (1u << s))) {
        atomic_store(&t->lag[s], -1);
        continue;
      }
      int64_t at = t->next[s] >= 0 ? t->next[s] : lo;
      atomic_store(&t->lag[s], hi > at ? hi - at : 0);
    }
  }
  p->lag_at = sb_now_ms();
}

/* ---- the thread --------------------------------------------------------- */

/* Workers work as the user of database_url, which should be the
 * application role (it logs in as itself: no SET ROLE that a RESET ROLE
 * would undo). A superuser could rewrite the audit log unseen by the
 * grants: say so once. */
static void check_role(sb_pipeline_t *p) {
  static atomic_int warned;
  char su[8] = "";
  int found = 0;
  if (sb_pg_query1(p->pg,
                   "SELECT rolsuper FROM pg_roles WHERE rolname = "
                   "current_user",
                   0, NULL, su, sizeof su, &found, NULL, NULL) == 0 &&
      strcmp(su, "t") == 0 && atomic_exchange(&warned, 1) == 0)
    sb_log(SB_LOG_WARN, "engine",
           "working as a PostgreSQL superuser: give "
           "workers the application role's URL "
           "(switchboard_app) instead",
           SB_F_END);
}

static int setup(sb_pipeline_t *p, sb_err_t *err) {
  char errstr[512];
  int rc = sb_pg_connect(p->c->database_url, &p->pg, err);
  if (rc != 0)
    return rc;
  for (size_t i = 0; i < p->n; i++) {
    sb__slot_t *s = &p->slots[i];
    if (p->o.rebuild_schema == NULL &&
        ((rc = sb_processor_ensure_live(p->pg, s->vt, err)) != 0 ||
         (rc = sb__load_live(p, s, err)) != 0))
      return rc;
  }
  check_role(p);
  for (size_t i = 0; i < p->n; i++) {
    sb__slot_t *s = &p->slots[i];
    if ((rc = sb__kit_setup(p, s, err)) != 0)
      return rc;
    if ((rc = s->vt->init(&s->state, &s->kit, err)) != 0) {
      sb_err_prefix(err, "processor %s, in init: ", s->vt->name);
      return rc;
    }
  }
  if ((rc = sb_codec_new(p->schemas, &p->codec, err)) != 0 ||
      (rc = sb_producer_new(p->c, &p->producer, err)) != 0)
    return rc;
  rd_kafka_conf_t *conf = sb_kafka_conf_new(p->c, err);
  if (conf == NULL)
    return err->code;
  /* what the pipeline's guarantees rest on: not overridable */
  static const char *const fixed[][2] = {
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "true"},
  };
  /* defaults an operator may override with kafka.*: a killed worker's
   * partitions move on after 10 s rather than librdkafka's 45 s; the
   * prefetch queue holds 16 MiB rather than 64 (over 5M events: the same
   * throughput, the worker's RSS flat at 136-147 MiB instead of 179) */
  static const char *const defaults[][2] = {
      {"session.timeout.ms", "10000"},
      {"heartbeat.interval.ms", "1000"},
      {"queued.max.messages.kbytes", "16384"},
  };
  rd_kafka_conf_set(conf, "group.id", p->kafka_group, errstr, sizeof errstr);
  for (size_t i = 0; i < SB_ARRAY_LEN(fixed); i++)
    rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], errstr, sizeof errstr);
  for (size_t i = 0; i < SB_ARRAY_LEN(defaults); i++)
    sb_kafka_conf_default(conf, p->c, defaults[i][0], defaults[i][1]);
  sb_kafka_conf_fetch_wait(conf, p->c);
  rd_kafka_conf_set_rebalance_cb(conf, sb__on_rebalance);
  rd_kafka_conf_set_opaque(conf, p);
  p->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (p->rk == NULL) {
    rd_kafka_conf_destroy(conf);
    return sb_err_set(err, SB_EKAFKA, "kafka: consumer: %s", errstr);
  }
  rd_kafka_poll_set_consumer(p->rk);
  /* which log the offsets are of, asked before any assignment */
  if ((rc = sb_durable_attach(p->c, &p->durable, err)) != 0)
    return rc;
  sb_err_t eerr = SB_ERR_INIT;
  if (sb_log_epoch(p->c, p->rk, p->epoch, sizeof p->epoch, &eerr) != 0) {
    /* offsets are then checked against the partitions' ends only */
    p->epoch[0] = '\0';
    sb_log(SB_LOG_WARN, "engine",
           "cannot tell which log the brokers serve; "
           "stored offsets are checked against the "
           "partitions' ends only",
           SB_F_STR("group", p->kafka_group), SB_F_STR("error", eerr.msg),
           SB_F_END);
  }
  /* the global tables are read to their ends before the first batch */
  if ((rc = sb__global_setup(p, err)) != 0)
    return rc;
  if (p->o.all_partitions)
    return sb__assign_everything(p, err);
  /* the union of the processors' topics */
  rd_kafka_topic_partition_list_t *topics =
      rd_kafka_topic_partition_list_new(8);
  for (size_t i = 0; i < p->n; i++)
    for (const char *const *t = p->slots[i].vt->topics; *t; t++)
      if (rd_kafka_topic_partition_list_find(topics, *t,
                                             RD_KAFKA_PARTITION_UA) == NULL)
        rd_kafka_topic_partition_list_add(topics, *t, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t r = rd_kafka_subscribe(p->rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (r != RD_KAFKA_RESP_ERR_NO_ERROR)
    return sb_kafka_err(err, r, "subscribing");
  return 0;
}

/* PostgreSQL answers, or the connection is made again. */
static int reconnect(sb_pipeline_t *p, sb_err_t *err) {
  if (p->pg != NULL && sb_pg_exec(p->pg, "SELECT 1", 0, NULL, NULL) == 0)
    return 0;
  sb_pg_close(p->pg);
  p->pg = NULL;
  return sb_pg_connect(p->c->database_url, &p->pg, err);
}

/* A batch failed with a data error outside any savepoint: every processor
 * in it gets its records again one per batch, to find the event. */
static void isolate_batch(sb_pipeline_t *p) {
  for (size_t i = 0; i < p->ntp; i++) {
    sb__tp_t *t = &p->tps[i];
    for (size_t s = 0; t->assigned && s < p->n; s++)
      if (t->next[s] > t->isolate_end[s])
        t->isolate_end[s] = t->next[s];
  }
  p->isolation = 1;
}

static int run_loop(sb_pipeline_t *p, sb_err_t *err) {
  int backoff_ms = 100;
  while (!atomic_load(&p->stop)) {
    int rc = 0;
    if (p->pending_assign != NULL) {
      if (reconnect(p, err) != 0)
        sb_err_clear(err);
      if (p->pg != NULL && sb__assign(p, p->pending_assign, err) == 0) {
        sb__drop_pending(p);
        backoff_ms = 100;
      } else if (p->pg != NULL && !err->retriable) {
        return err->code;
      } else {
        sb_err_clear(err);
        usleep((useconds_t)backoff_ms * 1000);
        backoff_ms = backoff_ms < 2000 ? backoff_ms * 2 : 2000;
        continue;
      }
    }
    if (sb_now_ms() - p->lag_at >= 1000)
      refresh_lag(p);
    rd_kafka_message_t *m = rd_kafka_consumer_poll(p->rk, 50);
    if (m != NULL) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        sb__tp_t *t =
            sb__find_tp(p, rd_kafka_topic_name(m->rkt), m->partition, 0);
        if (t) {
          t->eof = 1;
          for (size_t s = 0; s < p->n; s++)
            if ((t->readers & (1u << s)) && t->next[s] < 0)
              t->next[s] = m->offset;
        }
      } else if (m->err) {
        sb_log(SB_LOG_WARN, "engine", rd_kafka_message_errstr(m),
               SB_F_STR("group", p->kafka_group), SB_F_END);
      } else if (sb__isolating(p)) {
        /* one record a batch, until past the batch that failed */
        p->single = m;
        rc = handle(p, m, err);
        if (rc == 0 && p->pending > 0)
          rc = sb__commit_batch(p, err);
        p->single = NULL;
      } else {
        rc = handle(p, m, err);
      }
      rd_kafka_message_destroy(m);
    }
    if (rc == 0 && p->pending > 0 &&
        (p->pending >= p->c->batch_max_events ||
         sb_now_ms() - p->opened >= p->c->batch_max_ms || m == NULL))
      rc = sb__commit_batch(p, err);
    if (rc != 0)
      sb__close_batch(p); /* the processors' abort follows, in reseek */
    if (rc != 0 && !err->retriable && sb__is_data_error(err) &&
        !sb__isolating(p)) {
      /* some event of the batch cannot be written: find it by replaying
       * the batch one event at a time */
      sb_log(SB_LOG_WARN, "engine",
             "batch failed in commit; replaying it one "
             "event at a time to find the event",
             SB_F_STR("group", p->kafka_group), SB_F_STR("error", err->msg),
             SB_F_END);
      isolate_batch(p);
      sb_err_clear(err);
      if (sb__reseek(p, err) != 0)
        return err->code;
      continue;
    }
    if (rc != 0) {
      if (!err->retriable)
        return rc; /* a bug or bad configuration: stop loudly */
      sb_log(SB_LOG_WARN, "engine",
             "batch failed; replaying it from the "
             "stored offsets",
             SB_F_STR("group", p->kafka_group), SB_F_STR("error", err->msg),
             SB_F_INT("retry_in_ms", backoff_ms), SB_F_END);
      usleep((useconds_t)backoff_ms * 1000);
      backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
      sb_err_clear(err);
      if (reconnect(p, err) != 0) {
        sb_err_clear(err);
        continue;
      }
      if (sb__reseek(p, err) != 0)
        sb_err_clear(err);
      continue;
    }
    if (p->need_reseek) {
      p->need_reseek = 0;
      if (sb__reseek(p, err) != 0) {
        if (!err->retriable)
          return err->code;
        sb_err_clear(err); /* the loop retries the assignment */
      }
      continue;
    }
    if (p->pending == 0 && !p->open && sb__global_poll(p, 5000, err) != 0) {
      if (!err->retriable)
        return err->code;
      sb_log(SB_LOG_WARN, "engine",
             "global tables: folding failed; again "
             "later",
             SB_F_STR("error", err->msg), SB_F_END);
      sb_err_clear(err);
    }
    size_t fired = 0;
    if (p->pending == 0 && !p->open) {
      if (sb__kit_fire_timers(p, &fired, err) != 0) {
        sb__close_batch(p);
        if (p->poison_timer.set && !err->fatal) {
          sb_log(SB_LOG_WARN, "engine",
                 "a timer failed; its batch is rolled back and the timer "
                 "goes to sb.deadletter",
                 SB_F_STR("group", p->kafka_group),
                 SB_F_STR("error", err->msg), SB_F_END);
          sb__abort_all(p);
          sb_err_clear(err);
          continue;
        }
        if (!err->retriable)
          return err->code; /* a bug: stop loudly */
        sb_log(SB_LOG_WARN, "engine", "timers failed; fired again later",
               SB_F_STR("group", p->kafka_group), SB_F_STR("error", err->msg),
               SB_F_END);
        sb__abort_all(p);
        sb_err_clear(err);
        usleep((useconds_t)backoff_ms * 1000);
        backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
        continue;
      }
    }
    backoff_ms = 100;
    if (p->pending == 0)
      sb__publish(p, 0);
    /* at the end once no timer fired: one that fired may have set
     * another that is already due (an event timer behind the event time) */
    if (p->o.stop_at_end && p->pending == 0 && fired == 0 && all_at_end(p))
      break;
  }
  int rc = p->pending > 0 ? sb__commit_batch(p, err) : 0;
  if (rc == 0)
    sb__publish(p, 1);
  return rc;
}

static void *thread_main(void *arg) {
  sb_pipeline_t *p = arg;
  sb_err_t err = SB_ERR_INIT;
  int rc = setup(p, &err);
  if (rc == 0)
    rc = run_loop(p, &err);
  sb__drop_pending(p);
  if (p->rk != NULL) {
    rd_kafka_consumer_close(p->rk); /* revokes: commits what is pending */
    rd_kafka_destroy(p->rk);
    p->rk = NULL;
  }
  if (rc != 0 && p->err.code == 0)
    p->err = err;
  if (p->err.code != 0)
    sb_log(SB_LOG_ERROR, "engine", p->err.msg,
           SB_F_STR("group", p->kafka_group), SB_F_END);
  atomic_store(&p->done, 1);
  return NULL;
}

int sb_pipeline_start(const sb_conf_t *c, const sb_schemas_t *schemas,
                      const sb_pipeline_opts_t *opts, sb_pipeline_t **out,
                      sb_err_t *err) {
  *out = NULL;
  if (opts->n == 0 || opts->n > SB_PIPELINE_MAX)
    return sb_err_set(err, SB_EINVAL,
                      "a pipeline runs 1 to %d processors, "
                      "not %zu",
                      SB_PIPELINE_MAX, opts->n);
  if (opts->rebuild_schema != NULL && opts->n != 1)
    return sb_err_set(err, SB_EINVAL, "a rebuild runs one processor");
  /* the processor that runs statements during event first (it holds the
   * connection then), the others in the order given */
  const sb_processor_vt_t *order[SB_PIPELINE_MAX];
  size_t k = 0;
  const char *sql_user = NULL;
  for (size_t i = 0; i < opts->n; i++) {
    if (sb_processor_check(opts->vts[i], err) != 0 ||
        sb_processor_conf_check(opts->vts[i], c, err) != 0)
      return err->code;
    for (size_t j = 0; j < i; j++)
      if (strcmp(opts->vts[i]->name, opts->vts[j]->name) == 0)
        return sb_err_set(err, SB_EINVAL, "processor %s named twice",
                          opts->vts[i]->name);
    if (opts->vts[i]->flags & SB_PROCESSOR_EVENT_SQL) {
      if (sql_user != NULL)
        return sb_err_set(err, SB_EINVAL,
                          "processors %s and %s both run statements during "
                          "event and cannot share a pipeline: run them in "
                          "two processes (switchboard run --processors ...)",
                          sql_user, opts->vts[i]->name);
      sql_user = opts->vts[i]->name;
      order[k++] = opts->vts[i];
    }
  }
  for (size_t i = 0; i < opts->n; i++)
    if (!(opts->vts[i]->flags & SB_PROCESSOR_EVENT_SQL))
      order[k++] = opts->vts[i];
  sb_pipeline_t *p = calloc(1, sizeof *p);
  if (p == NULL || (p->tps = calloc(SB__MAX_TP, sizeof *p->tps)) == NULL) {
    free(p);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  p->c = c;
  p->schemas = schemas;
  p->o = *opts;
  p->n = opts->n;
  /* the Kafka group: the processors' names, so that processes running
   * the same list share the work; a rebuild's own group */
  size_t used = (size_t)snprintf(p->kafka_group, sizeof p->kafka_group, "%s",
                                 opts->rebuild_group ? opts->rebuild_group
                                                     : "switchboard.");
  for (size_t i = 0; i < p->n; i++) {
    sb__slot_t *s = &p->slots[i];
    s->ix = i;
    s->vt = order[i];
    s->batch.p = p;
    s->batch.slot = s;
    s->batch_events.bounds = batch_bounds;
    s->batch_events.n = SB_ARRAY_LEN(batch_bounds);
    s->commit_seconds.bounds = commit_bounds;
    s->commit_seconds.n = SB_ARRAY_LEN(commit_bounds);
    snprintf(s->schema, sizeof s->schema, "%s",
             opts->rebuild_schema ? opts->rebuild_schema : s->vt->name);
    if (opts->rebuild_group)
      snprintf(s->offsets_group, sizeof s->offsets_group, "%s",
               opts->rebuild_group);
    else if (used < sizeof p->kafka_group)
      used +=
          (size_t)snprintf(p->kafka_group + used, sizeof p->kafka_group - used,
                           "%s%s", i == 0 ? "" : "+", s->vt->name);
  }
  if (pthread_create(&p->thread, NULL, thread_main, p) != 0) {
    free(p->tps);
    free(p);
    return sb_err_set(err, SB_EINTERNAL, "cannot start the pipeline's thread");
  }
  p->started = 1;
  *out = p;
  return 0;
}

size_t sb_pipeline_count(const sb_pipeline_t *p) { return p->n; }

const char *sb_pipeline_processor(const sb_pipeline_t *p, size_t i) {
  return p->slots[i].vt->name;
}

void sb_pipeline_snapshot(sb_pipeline_t *p, size_t i,
                          sb_pipeline_stats_t *out) {
  sb__slot_t *s = &p->slots[i];
  out->events = atomic_load(&s->stats.events);
  out->deadletters = atomic_load(&s->stats.deadletters);
  out->batches = atomic_load(&s->stats.batches);
  out->reseeks = atomic_load(&s->stats.reseeks);
  out->offset_resets = atomic_load(&s->stats.offset_resets);
  out->batch_events = &s->batch_events;
  out->commit_seconds = &s->commit_seconds;
}

void sb_pipeline_totals(sb_pipeline_t *p, sb_pipeline_totals_t *out) {
  out->records = atomic_load(&p->totals.records);
  out->decoded = atomic_load(&p->totals.decoded);
  out->delivered = atomic_load(&p->totals.delivered);
  out->dropped = atomic_load(&p->totals.dropped);
}

size_t sb_pipeline_lags(sb_pipeline_t *p, size_t i, sb_pipeline_lag_t *out,
                        size_t cap) {
  size_t n = atomic_load(&p->ntp_seen), k = 0;
  for (size_t j = 0; j < n && k < cap; j++) {
    int64_t lag = atomic_load(&p->tps[j].lag[i]);
    if (lag < 0)
      continue;
    out[k].topic = p->tps[j].topic;
    out[k].partition = p->tps[j].partition;
    out[k].lag = lag;
    k++;
  }
  return k;
}

void sb_pipeline_stop(sb_pipeline_t *p) {
  if (p)
    atomic_store(&p->stop, 1);
}

int sb_pipeline_done(sb_pipeline_t *p) { return atomic_load(&p->done); }

int sb_pipeline_join(sb_pipeline_t *p, sb_pipeline_stats_t *stats,
                     sb_err_t *err) {
  if (p == NULL)
    return 0;
  if (p->started)
    pthread_join(p->thread, NULL);
  int rc = 0;
  if (p->err.code != 0)
    rc = sb_err_set(err, p->err.code, "%s", p->err.msg);
  if (stats)
    sb_pipeline_snapshot(p, 0, stats);
  for (size_t i = 0; i < p->n; i++) {
    if (p->slots[i].state)
      p->slots[i].vt->destroy(p->slots[i].state);
    sb__kit_free(&p->slots[i]);
  }
  sb__global_free(p);
  sb__retention_free(p);
  sb_producer_free(p->producer);
  sb_codec_free(p->codec);
  sb_pg_close(p->pg);
  sb_pg_close(p->pg_aux);
  sb_durable_detach(p->durable);
  free(p->tps);
  free(p);
  return rc;
}
