/* Events producers write straight to Kafka, on sb.ingest: binary-mode
 * CloudEvents (ce_* headers, JSON data) or structured JSON CloudEvents,
 * taken through what POST /v1/events does (sb_ingest_submit: checks, PII
 * sealed, ids claimed, produced to their topics) or dead-lettered with the
 * reason and where they came from. A record's offset is committed only once
 * its outcome is in Kafka, so a crash hands it again and the idempotency
 * store answers it as a duplicate: effectively once, as HTTP retries.
 *
 * One worker thread reads the topic in the group "switchboard.ingest" and
 * hands each record to the loop's thread (uv_async), where ingest runs,
 * waiting for its outcome: one record at a time, in order per partition. */
#include "sb_ingest_int.h"

#include "sb_ce.h"
#include "sb_kconsume.h"
#include "sb_log.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GROUP "switchboard.ingest"
#define PRINCIPAL "kafka:" SB_TOPIC_INGEST

enum { JOB_NONE, JOB_SUBMIT, JOB_DEADLETTER };

struct sb_ingest_kafka_s {
  sb_ingest_t *in;
  const sb_conf_t *c;
  sb_kconsumer_t *k;
  uv_async_t async;
  pthread_t thread;
  int started;
  atomic_int stop;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int closed;  /* the async handle is closing: nothing more to the loop */
  int abandon; /* the loop is gone: stop waiting for it */
  /* the job handed to the loop, and its outcome (under mu) */
  int job, done;
  cJSON *events;
  sb_claims_t who;
  const sb_krec_t *rec;
  const char *dl_class, *dl_error;
  int status;
  char code[32], error[SB_ERR_MSG_MAX + 64];
};

static void on_submitted(void *ud, sb_http_req_t *r,
                         const sb_ingest_outcome_t *o) {
  (void)r;
  sb_ingest_kafka_t *w = ud;
  pthread_mutex_lock(&w->mu);
  w->status = o->status;
  snprintf(w->code, sizeof w->code, "%s", o->code ? o->code : "");
  snprintf(w->error, sizeof w->error, "%s", o->error ? o->error : "");
  w->done = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static void on_deadlettered(void *ud, const char *error) {
  sb_ingest_kafka_t *w = ud;
  pthread_mutex_lock(&w->mu);
  w->status = error ? 503 : 202;
  snprintf(w->error, sizeof w->error, "%s", error ? error : "");
  w->done = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* The dead letter: the record's bytes, its headers, and where it came from
 * and why, as the pipeline's dead letters say it. */
static void deadletter(sb_ingest_kafka_t *w) {
  const sb_krec_t *rec = w->rec;
  char part[16], off[24];
  snprintf(part, sizeof part, "%d", (int)rec->partition);
  snprintf(off, sizeof off, "%lld", (long long)rec->offset);
  sb_header_t h[SB_KREC_HEADERS + 7];
  size_t n = 0;
  for (size_t i = 0; i < rec->nhdrs; i++)
    h[n++] = (sb_header_t){rec->hdrs[i].name, rec->hdrs[i].value,
                           (ssize_t)rec->hdrs[i].len};
  h[n++] = (sb_header_t){"sb-source-topic", rec->topic, -1};
  h[n++] = (sb_header_t){"sb-source-partition", part, -1};
  h[n++] = (sb_header_t){"sb-source-offset", off, -1};
  h[n++] = (sb_header_t){"sb-error-class", w->dl_class, -1};
  h[n++] = (sb_header_t){"sb-error", w->dl_error, -1};
  h[n++] = (sb_header_t){"sb-attempts", "1", -1};
  h[n++] = (sb_header_t){"sb-processor", "ingest", -1};
  sb_err_t err = SB_ERR_INIT;
  if (sb_producer_send(w->in->producer, SB_TOPIC_DEADLETTER, rec->key,
                       rec->klen, rec->value, rec->vlen, h, n, on_deadlettered,
                       w, &err) != 0)
    on_deadlettered(w, err.msg);
}

/* On the loop's thread: the job waiting, if any. */
static void on_async(uv_async_t *a) {
  sb_ingest_kafka_t *w = a->data;
  pthread_mutex_lock(&w->mu);
  int job = w->job;
  w->job = JOB_NONE;
  pthread_mutex_unlock(&w->mu);
  if (job == JOB_SUBMIT) {
    cJSON *evs = w->events;
    w->events = NULL;
    sb_ingest_submit(w->in, NULL, &w->who, evs, on_submitted, w);
  } else if (job == JOB_DEADLETTER) {
    deadletter(w);
  }
}

/* Hands a job to the loop and waits for its outcome: 0, or -1 when
 * stopping (nothing was handed, or the loop is gone). */
static int run_job(sb_ingest_kafka_t *w, int job) {
  pthread_mutex_lock(&w->mu);
  if (w->closed) {
    pthread_mutex_unlock(&w->mu);
    return -1;
  }
  w->job = job;
  w->done = 0;
  uv_async_send(&w->async);
  while (!w->done && !w->abandon)
    pthread_cond_wait(&w->cv, &w->mu);
  int rc = w->done ? 0 : -1;
  pthread_mutex_unlock(&w->mu);
  return rc;
}

/* The record as one CloudEvent (a JSON array of it, for sb_ingest_submit)
 * with the tenant it names, or the reason it is not one. */
static cJSON *event_of(const sb_krec_t *rec, char *tenant, size_t tcap,
                       sb_err_t *err) {
  const char *ct = NULL;
  char ctbuf[128];
  for (size_t i = 0; i < rec->nhdrs; i++)
    if (strcmp(rec->hdrs[i].name, "content-type") == 0 &&
        rec->hdrs[i].len < sizeof ctbuf) {
      memcpy(ctbuf, rec->hdrs[i].value, rec->hdrs[i].len);
      ctbuf[rec->hdrs[i].len] = '\0';
      ct = ctbuf;
    }
  if (rec->nhdrs_over) {
    sb_err_set(err, SB_EVALIDATE, "more than %d headers", SB_KREC_HEADERS);
    return NULL;
  }
  cJSON *ev = NULL;
  if (sb_ce_is_binary(SB_CE_KAFKA, rec->hdrs, rec->nhdrs)) {
    if (sb_ce_from_binary(SB_CE_KAFKA, rec->hdrs, rec->nhdrs, ct, rec->value,
                          rec->vlen, &ev, err) != 0)
      return NULL;
  } else {
    /* structured mode: the value is the event (content-type
     * application/cloudevents+json, or none) */
    if (ct != NULL && strncmp(ct, "application/cloudevents+json", 28) != 0 &&
        strncmp(ct, "application/json", 16) != 0) {
      sb_err_set(err, SB_EVALIDATE,
                 "content-type %.64s without ce_specversion: send binary "
                 "mode (ce_* headers) or a structured JSON CloudEvent "
                 "(application/cloudevents+json)",
                 ct);
      return NULL;
    }
    if (sb_json_parse(rec->value ? rec->value : "", rec->vlen, &ev, err) != 0)
      return NULL;
    if (!cJSON_IsObject(ev)) {
      cJSON_Delete(ev);
      sb_err_set(err, SB_EVALIDATE, "event: expected a JSON object");
      return NULL;
    }
  }
  /* a record read again after a crash must be the same event: its id is
   * the producer's, never one made here */
  if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ev, "id"))) {
    cJSON_Delete(ev);
    sb_err_set(err, SB_EVALIDATE,
               "id: required on %s (a string): a record read again must be "
               "recognised as the same event",
               SB_TOPIC_INGEST);
    return NULL;
  }
  /* no token here: the event names its tenant */
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "tenantid");
  if (!cJSON_IsString(t) || strlen(t->valuestring) >= tcap ||
      t->valuestring[0] == '_') {
    cJSON_Delete(ev);
    sb_err_set(err, SB_EVALIDATE,
               "tenantid: required on %s (ce_tenantid in binary mode), "
               "not beginning with '_': no token names the tenant",
               SB_TOPIC_INGEST);
    return NULL;
  }
  snprintf(tenant, tcap, "%s", t->valuestring);
  cJSON *arr = cJSON_CreateArray();
  if (arr == NULL) {
    cJSON_Delete(ev);
    sb_err_set(err, SB_ENOMEM, "out of memory");
    return NULL;
  }
  cJSON_AddItemToArray(arr, ev);
  return arr;
}

static void pause_ms(sb_ingest_kafka_t *w, int ms) {
  for (int i = 0; i < ms / 50 && !atomic_load(&w->stop); i++) {
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* One record to its end: produced (or a duplicate), or dead-lettered;
 * then committed. Retriable failures are tried again until stopping. */
static void handle(sb_ingest_kafka_t *w, const sb_krec_t *rec) {
  char cls[32] = "", why[SB_ERR_MSG_MAX + 64] = "";
  while (!atomic_load(&w->stop)) {
    sb_err_t err = SB_ERR_INIT;
    char tenant[sizeof w->who.tenant];
    cJSON *evs = cls[0] ? NULL : event_of(rec, tenant, sizeof tenant, &err);
    if (!cls[0] && evs == NULL) {
      if (err.code == SB_ENOMEM) {
        pause_ms(w, 1000);
        continue;
      }
      snprintf(cls, sizeof cls, "invalid");
      snprintf(why, sizeof why, "%s", err.msg);
    }
    if (evs != NULL) {
      memset(&w->who, 0, sizeof w->who);
      snprintf(w->who.tenant, sizeof w->who.tenant, "%s", tenant);
      snprintf(w->who.sub, sizeof w->who.sub, "%s", PRINCIPAL);
      w->who.role = SB_ROLE_MANAGER;
      w->events = evs;
      if (run_job(w, JOB_SUBMIT) != 0) {
        cJSON_Delete(w->events); /* not handed */
        w->events = NULL;
        return;
      }
      if (w->status == 202)
        break; /* produced, or a duplicate */
      if (w->status >= 500 || w->status == 409 || w->status == 429) {
        pause_ms(w, 1000); /* not acknowledged: the same record again */
        continue;
      }
      snprintf(cls, sizeof cls, "%s", w->code[0] ? w->code : "invalid");
      snprintf(why, sizeof why, "%s", w->error);
    }
    /* refused: to the dead letters, with the reason */
    w->rec = rec;
    w->dl_class = cls;
    w->dl_error = why;
    if (run_job(w, JOB_DEADLETTER) != 0)
      return;
    if (w->status == 202) {
      sb_log(SB_LOG_INFO, "ingest", "a record of " SB_TOPIC_INGEST
             " dead-lettered", SB_F_INT("partition", rec->partition),
             SB_F_INT("offset", rec->offset), SB_F_STR("error", why),
             SB_F_END);
      break;
    }
    pause_ms(w, 1000);
  }
  if (atomic_load(&w->stop))
    return; /* not committed: handed again after a restart */
  sb_err_t err = SB_ERR_INIT;
  if (sb_kconsumer_commit(w->k, rec, &err) != 0) /* handed again: a duplicate */
    sb_log(SB_LOG_WARN, "ingest", "cannot commit an offset of " SB_TOPIC_INGEST,
           SB_F_STR("error", err.msg), SB_F_END);
}

static void *worker(void *arg) {
  sb_ingest_kafka_t *w = arg;
  long long last_warn = 0;
  while (!atomic_load(&w->stop)) {
    sb_krec_t rec;
    sb_err_t err = SB_ERR_INIT;
    int rc = sb_kconsumer_poll(w->k, 100, &rec, &err);
    if (rc < 0) {
      if (sb_now_ms() - last_warn > 10000) {
        last_warn = sb_now_ms();
        sb_log(SB_LOG_WARN, "ingest", "reading " SB_TOPIC_INGEST,
               SB_F_STR("error", err.msg), SB_F_END);
      }
      continue;
    }
    if (rc == 1)
      handle(w, &rec);
  }
  return NULL;
}

int sb_ingest_kafka_start(sb_ingest_t *in, uv_loop_t *loop,
                          sb_ingest_kafka_t **out, sb_err_t *err) {
  *out = NULL;
  sb_ingest_kafka_t *w = calloc(1, sizeof *w);
  if (w == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  w->in = in;
  w->c = in->c;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  int rc = sb_kconsumer_new(in->c, GROUP, SB_TOPIC_INGEST, &w->k, err);
  if (rc != 0) {
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    return rc;
  }
  uv_async_init(loop, &w->async, on_async);
  w->async.data = w;
  if (pthread_create(&w->thread, NULL, worker, w) != 0) {
    w->closed = 1;
    uv_close((uv_handle_t *)&w->async, NULL);
    *out = w; /* freed by sb_ingest_kafka_free, the handle closed */
    return sb_err_set(err, SB_EINTERNAL, "cannot start the %s reader",
                      SB_TOPIC_INGEST);
  }
  w->started = 1;
  *out = w;
  return 0;
}

void sb_ingest_kafka_stop(sb_ingest_kafka_t *w) {
  if (w == NULL)
    return;
  atomic_store(&w->stop, 1);
  pthread_mutex_lock(&w->mu);
  int was = w->closed;
  w->closed = 1;
  pthread_mutex_unlock(&w->mu);
  if (!was)
    uv_close((uv_handle_t *)&w->async, NULL);
}

void sb_ingest_kafka_free(sb_ingest_kafka_t *w) {
  if (w == NULL)
    return;
  atomic_store(&w->stop, 1);
  pthread_mutex_lock(&w->mu);
  w->abandon = 1; /* the loop has ended: an outcome owed will not come */
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  if (w->started)
    pthread_join(w->thread, NULL);
  sb_kconsumer_free(w->k);
  cJSON_Delete(w->events);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
}
