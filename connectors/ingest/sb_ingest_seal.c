/* The sealer: threads of ingest (pii.sealer_threads) that seal the PII of
 * requests' events (sb_pii_event.h), each with a key store (and PostgreSQL
 * connection) of its own, so the loop never waits for PostgreSQL. A thread
 * takes every request queued when it is free into one round: the data keys
 * of all their subjects come in one round trip, whatever the number of
 * connections posting; while one thread waits for PostgreSQL another
 * takes the requests queued meanwhile. Jobs come back to the loop through
 * a uv_async. */
#include "sb_ingest_int.h"

#include "sb_log.h"
#include "sb_pii_event.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 8

typedef struct sb__sealer_s sealer_t;

typedef struct {
  sealer_t *s;
  pthread_t thread;
  sb_keys_t *keys;
} worker_t;

struct sb__sealer_s {
  sb_ingest_t *in;
  worker_t w[MAX_THREADS];
  int nw, started;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  sb__seal_t *qhead, *qtail; /* queued */
  sb__seal_t *dhead, *dtail; /* sealed, for the loop */
  int stop;
  int async_gone;            /* under lock: no uv_async_send */
  uv_async_t *async;         /* its own allocation: freed when closed */
  int async_open, closing;   /* the loop's */
  long outstanding;          /* the loop's: submitted, not handed back */
};

/* One round: every job queued, sealed with one call. */
static void seal_round(sealer_t *s, sb_keys_t *keys, sb__seal_t *jobs) {
  size_t total = 0;
  for (sb__seal_t *j = jobs; j; j = j->next)
    total += (size_t)j->n;
  cJSON **evs = calloc(total + 1, sizeof *evs);
  char **why = calloc(total + 1, sizeof *why);
  if (evs == NULL || why == NULL) { /* each job alone, then */
    free(evs);
    free(why);
    for (sb__seal_t *j = jobs; j; j = j->next)
      j->rc = sb_pii_seal_events(keys, s->in->schemas, j->evs,
                                 (size_t)j->n, j->why, &j->err);
    return;
  }
  size_t off = 0;
  for (sb__seal_t *j = jobs; j; j = j->next) {
    memcpy(evs + off, j->evs, (size_t)j->n * sizeof *evs);
    off += (size_t)j->n;
  }
  sb_err_t err = SB_ERR_INIT;
  int rc = sb_pii_seal_events(keys, s->in->schemas, evs, total, why, &err);
  off = 0;
  for (sb__seal_t *j = jobs; j; j = j->next) {
    j->rc = rc;
    if (rc != 0)
      j->err = err;
    memcpy(j->why, why + off, (size_t)j->n * sizeof *why);
    off += (size_t)j->n;
  }
  free(evs);
  free(why);
}

static void *run(void *arg) {
  worker_t *w = arg;
  sealer_t *s = w->s;
  for (;;) {
    pthread_mutex_lock(&s->lock);
    while (!s->stop && s->qhead == NULL)
      pthread_cond_wait(&s->cond, &s->lock);
    sb__seal_t *jobs = s->qhead, *last = s->qtail;
    s->qhead = s->qtail = NULL;
    int stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    if (jobs == NULL && stop)
      return NULL;
    seal_round(s, w->keys, jobs);
    pthread_mutex_lock(&s->lock);
    if (s->dtail)
      s->dtail->next = jobs;
    else
      s->dhead = jobs;
    s->dtail = last;
    if (!s->async_gone)
      uv_async_send(s->async);
    pthread_mutex_unlock(&s->lock);
  }
}

static void on_async_closed(uv_handle_t *h) { free(h); }

static void close_async(sealer_t *s) {
  pthread_mutex_lock(&s->lock);
  s->async_gone = 1;
  pthread_mutex_unlock(&s->lock);
  s->async_open = 0;
  uv_close((uv_handle_t *)s->async, on_async_closed);
  s->async = NULL;
}

static void on_async(uv_async_t *a) {
  sealer_t *s = a->data;
  pthread_mutex_lock(&s->lock);
  sb__seal_t *jobs = s->dhead;
  s->dhead = s->dtail = NULL;
  pthread_mutex_unlock(&s->lock);
  while (jobs) {
    sb__seal_t *next = jobs->next;
    sb__ingest_sealed(jobs, 1);
    free(jobs);
    s->outstanding--;
    jobs = next;
  }
  if (s->closing && s->outstanding == 0 && s->async_open)
    close_async(s);
}

int sb__sealer_start(sb_ingest_t *in, uv_loop_t *loop, sb_err_t *err) {
  sealer_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  s->in = in;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  in->sealer = s;
  s->nw = in->c->pii_sealer_threads;
  if (s->nw < 1 || s->nw > MAX_THREADS)
    s->nw = 1;
  for (int i = 0; i < s->nw; i++) {
    s->w[i].s = s;
    if (sb_keys_open(in->c, &s->w[i].keys, err) != 0)
      return err->code;
  }
  if ((s->async = malloc(sizeof *s->async)) == NULL ||
      uv_async_init(loop, s->async, on_async) != 0) {
    free(s->async);
    s->async = NULL;
    return sb_err_set(err, SB_EINTERNAL, "ingest: cannot make the sealer's "
                                         "hand-back");
  }
  s->async->data = s;
  s->async_open = 1;
  for (; s->started < s->nw; s->started++)
    if (pthread_create(&s->w[s->started].thread, NULL, run,
                       &s->w[s->started]) != 0) {
      close_async(s); /* the handle frees itself once closed */
      return sb_err_set(err, SB_EINTERNAL, "ingest: cannot start the "
                                           "sealer's threads");
    }
  return 0;
}

int sb__sealer_submit(sb_ingest_t *in, sb__seal_t *j) {
  sealer_t *s = in->sealer;
  if (s == NULL || s->closing || s->started == 0)
    return -1;
  j->next = NULL;
  pthread_mutex_lock(&s->lock);
  if (s->qtail)
    s->qtail->next = j;
  else
    s->qhead = j;
  s->qtail = j;
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);
  s->outstanding++;
  return 0;
}

void sb__sealer_close(sb_ingest_t *in) {
  sealer_t *s = in->sealer;
  if (s == NULL || s->closing)
    return;
  s->closing = 1;
  if (s->outstanding == 0 && s->async_open)
    close_async(s);
}

void sb__sealer_free(sb_ingest_t *in) {
  sealer_t *s = in->sealer;
  if (s == NULL)
    return;
  pthread_mutex_lock(&s->lock);
  s->stop = 1;
  s->async_gone = 1; /* the loop is gone (its handles closed) */
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->lock);
  for (int i = 0; i < s->started; i++)
    pthread_join(s->w[i].thread, NULL);
  for (int i = 0; i < s->nw; i++)
    sb_keys_free(s->w[i].keys);
  /* jobs never handed back: their requests are gone with the loop */
  for (sb__seal_t *lists[2] = {s->qhead, s->dhead}, **l = lists; l < lists + 2;
       l++)
    while (*l) {
      sb__seal_t *j = *l;
      *l = j->next;
      if (j->rc == 0)
        for (int i = 0; i < j->n; i++)
          free(j->why ? j->why[i] : NULL);
      free(j->evs);
      free(j->why);
      if (j->ndjson)
        for (int i = 0; i < j->n; i++) {
          free(j->lines_err[i]);
          cJSON_Delete(j->events[i]);
        }
      free(j->events);
      free(j->lines_err);
      free(j->lines_no);
      cJSON_Delete(j->doc);
      free(j);
    }
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->cond);
  free(s);
  in->sealer = NULL;
}
