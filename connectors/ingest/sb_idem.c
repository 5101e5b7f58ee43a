#include "sb_idem.h"

#include "sb_log.h"
#include "sb_pg.h"
#include "sb_util.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CYCLE_MAX_KEYS 20000   /* claims and marks in one round trip */
#define REDO_MAX 1000000       /* done attempts kept to try again (8 MB) */
#define PURGE_EVERY_MS 5000
#define PURGE_BATCH 10000
#define LEASE_MARGIN_MS 60000  /* beyond the producer's delivery timeout */
#define STATE_SEND 100         /* internal: a claim still to be sent */

typedef enum { JOB_CLAIM, JOB_FINISH } job_kind_t;

typedef struct job_s {
  struct job_s *next;
  job_kind_t kind;
  size_t n, nr;            /* claim: n keys; finish: nr released */
  long long attempt;       /* the request's */
  int produced;            /* finish: record the attempt done */
  sb_idem_key_t *keys;     /* claim: n; finish: nr released */
  sb_idem_state_t *states; /* claim: n */
  unsigned char *sent;     /* claim: n; 1 when it went to the store */
  size_t bytes;            /* counted against the queue bound (claims) */
  int failed;
  char error[256];
  sb_idem_cb cb;
  void *arg;
} job_t;

/* Keys claimed by this process and not finished: a second claim of one is
 * "in flight" without a round trip, and a cycle never holds a key twice.
 * Holds only what is in flight here (bounded by the queue and the
 * producer), evicts nothing. Linear probing, backward-shift deletion. */
typedef struct {
  sb_idem_key_t *slot;
  unsigned char *used;
  size_t cap, n;
  uint64_t salt, mul; /* a keyed index: ids are chosen by clients */
} pend_t;

struct sb_idem_s {
  char *url;
  long long window_ms, lease_ms;
  size_t max_bytes;
  uv_async_t async;
  int async_open, closing;
  int async_gone; /* under lock: the threads no longer send on async */
  size_t outstanding; /* jobs queued and not yet called back (loop) */
  pend_t pend;        /* loop */

  struct worker_s *w; /* nw threads, each with a connection */
  int nw, started;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int stop;
  job_t *qhead, *qtail; /* loop -> thread */
  job_t *dhead, *dtail; /* thread -> loop */
  size_t queued_bytes;

  atomic_ullong round_trips, failures, purged, redo_dropped;
  atomic_ullong claimed, duplicates, in_flight, unavailable;
};

/* A thread of the store and its connection. Threads take whatever is
 * queued, each into a round trip of its own: like replicas, they never
 * decide against each other (PostgreSQL does, per key), and a retry racing
 * a finish on another thread is at worst told "in flight". */
typedef struct worker_s {
  sb_idem_t *s;
  int index; /* 0 also purges */
  pthread_t thread;
  sb_pg_t *pg;
  long long *redo; /* done attempts to record again */
  size_t nredo, capredo;
  long long last_purge_ms;
  int purge_more;
  char last_error[256];
} worker_t;

/* ---- keys ---------------------------------------------------------------- */

void sb_idem_ulid_upper(char *id) {
  for (char *p = id; *p; p++)
    if (*p >= 'a' && *p <= 'z')
      *p = (char)(*p - 'a' + 'A');
}

void sb_idem_event_key(const char *tenant, const char *event_id,
                       sb_idem_key_t *out) {
  char id[64];
  snprintf(id, sizeof id, "%s", event_id);
  sb_idem_ulid_upper(id);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char h[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  /* NUL-separated: neither a tenant nor an id holds one */
  if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
      EVP_DigestUpdate(md, "sb-event-id", 12) != 1 ||
      EVP_DigestUpdate(md, tenant, strlen(tenant) + 1) != 1 ||
      EVP_DigestUpdate(md, id, strlen(id)) != 1 ||
      EVP_DigestFinal_ex(md, h, &len) != 1)
    memset(h, 0, sizeof h); /* OpenSSL out of memory: never */
  EVP_MD_CTX_free(md);
  memcpy(out->b, h, SB_IDEM_KEY_LEN);
}

/* ---- the in-flight set (loop) -------------------------------------------- */

static size_t pend_ix(const pend_t *p, const sb_idem_key_t *k) {
  uint64_t h;
  memcpy(&h, k->b, sizeof h);
  h = (h ^ p->salt) * p->mul;
  return (size_t)(h >> 32) & (p->cap - 1);
}

static int pend_find(const pend_t *p, const sb_idem_key_t *k, size_t *at) {
  if (p->cap == 0)
    return 0;
  for (size_t i = pend_ix(p, k);; i = (i + 1) & (p->cap - 1)) {
    if (!p->used[i])
      return *at = i, 0;
    if (memcmp(p->slot[i].b, k->b, SB_IDEM_KEY_LEN) == 0)
      return *at = i, 1;
  }
}

static int pend_grow(pend_t *p) {
  pend_t q = *p;
  q.cap = p->cap ? p->cap * 2 : 1024;
  q.n = 0;
  q.slot = malloc(q.cap * sizeof *q.slot);
  q.used = calloc(q.cap, 1);
  if (q.slot == NULL || q.used == NULL) {
    free(q.slot);
    free(q.used);
    return SB_ENOMEM;
  }
  for (size_t i = 0; i < p->cap; i++) {
    size_t at;
    if (p->used[i] && !pend_find(&q, &p->slot[i], &at)) {
      q.slot[at] = p->slot[i];
      q.used[at] = 1;
      q.n++;
    }
  }
  free(p->slot);
  free(p->used);
  *p = q;
  return 0;
}

/* 1: added; 0: there already; negative: out of memory. */
static int pend_add(pend_t *p, const sb_idem_key_t *k) {
  size_t at;
  if ((p->n + 1) * 2 > p->cap && pend_grow(p) != 0)
    return SB_ENOMEM;
  if (pend_find(p, k, &at))
    return 0;
  p->slot[at] = *k;
  p->used[at] = 1;
  p->n++;
  return 1;
}

static void pend_del(pend_t *p, const sb_idem_key_t *k) {
  size_t i;
  if (!pend_find(p, k, &i))
    return;
  p->used[i] = 0;
  p->n--;
  /* shift back what probed past the hole */
  for (size_t j = (i + 1) & (p->cap - 1); p->used[j];
       j = (j + 1) & (p->cap - 1)) {
    size_t home = pend_ix(p, &p->slot[j]);
    int moves = i <= j ? (home <= i || home > j) : (home <= i && home > j);
    if (moves) {
      p->slot[i] = p->slot[j];
      p->used[i] = 1;
      p->used[j] = 0;
      i = j;
    }
  }
}

/* ---- the thread ------------------------------------------------------------ */

/* An element of a uuid[] literal: 32 hex digits (PostgreSQL takes them
 * without hyphens). */
static void hex_put(sb_text_t *t, const sb_idem_key_t *k) {
  static const char hx[] = "0123456789abcdef";
  char buf[2 * SB_IDEM_KEY_LEN];
  for (int i = 0; i < SB_IDEM_KEY_LEN; i++) {
    buf[2 * i] = hx[k->b[i] >> 4];
    buf[2 * i + 1] = hx[k->b[i] & 15];
  }
  sb_text_put(t, buf, sizeof buf);
}

typedef struct {
  job_t *job;
  size_t i;
} ref_t;

static void fail_jobs(worker_t *w, job_t *jobs, const char *why) {
  sb_idem_t *s = w->s;
  for (job_t *j = jobs; j; j = j->next) {
    j->failed = 1;
    snprintf(j->error, sizeof j->error, "%.255s", why);
    if (j->kind == JOB_CLAIM) {
      for (size_t i = 0; i < j->n; i++)
        if (j->states[i] == STATE_SEND)
          j->states[i] = SB_IDEM_UNAVAILABLE;
    } else if (j->produced) {
      /* the events are in Kafka: the mark is tried again */
      if (w->nredo == w->capredo && w->nredo < REDO_MAX) {
        size_t cap = w->capredo ? w->capredo * 2 : 256;
        long long *r = realloc(w->redo, cap * sizeof *r);
        if (r != NULL) {
          w->redo = r;
          w->capredo = cap;
        }
      }
      if (w->nredo < w->capredo)
        w->redo[w->nredo++] = j->attempt;
      else
        atomic_fetch_add(&s->redo_dropped, 1);
    }
  }
}

/* Appends "," (after the first element) to an array literal. */
static void elem_sep(sb_text_t *t, int *first) {
  if (!*first)
    sb_text_put(t, ",", 1);
  *first = 0;
}

/* One round trip for the jobs taken: 0, or the store's error. */
static int cycle(worker_t *w, job_t *jobs, sb_err_t *err) {
  sb_idem_t *s = w->s;
  sb_text_t claim = {0}, attempt = {0}, done = {0}, rel = {0}, rela = {0};
  ref_t *refs = NULL;
  size_t nrefs = 0, ncap = 0, nredo = w->nredo;
  int rc = 0, fc = 1, fa = 1, fd = 1, fr = 1, fra = 1;
  sb_text_put(&claim, "{", 1);
  sb_text_put(&attempt, "{", 1);
  sb_text_put(&done, "{", 1);
  sb_text_put(&rel, "{", 1);
  sb_text_put(&rela, "{", 1);
  for (size_t i = 0; i < nredo; i++) {
    elem_sep(&done, &fd);
    sb_text_int(&done, w->redo[i]);
  }
  for (job_t *j = jobs; j; j = j->next) {
    if (j->kind == JOB_FINISH) {
      if (j->produced) {
        elem_sep(&done, &fd);
        sb_text_int(&done, j->attempt);
      }
      for (size_t i = 0; i < j->nr; i++) {
        elem_sep(&rel, &fr);
        hex_put(&rel, &j->keys[i]);
        elem_sep(&rela, &fra);
        sb_text_int(&rela, j->attempt);
      }
      continue;
    }
    for (size_t i = 0; i < j->n; i++) {
      if (j->states[i] != STATE_SEND)
        continue;
      if (nrefs == ncap) {
        ncap = ncap ? ncap * 2 : 256;
        ref_t *r = realloc(refs, ncap * sizeof *r);
        if (r == NULL) {
          rc = sb_err_set(err, SB_ENOMEM, "out of memory");
          goto out;
        }
        refs = r;
      }
      refs[nrefs++] = (ref_t){j, i};
      elem_sep(&claim, &fc);
      hex_put(&claim, &j->keys[i]);
      elem_sep(&attempt, &fa);
      sb_text_int(&attempt, j->attempt);
    }
  }
  sb_text_put(&claim, "}", 1);
  sb_text_put(&attempt, "}", 1);
  sb_text_put(&done, "}", 1);
  sb_text_put(&rel, "}", 1);
  sb_text_put(&rela, "}", 1);
  if (claim.failed || attempt.failed || done.failed || rel.failed ||
      rela.failed) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  char window[24], lease[24];
  snprintf(window, sizeof window, "%lld", s->window_ms);
  snprintf(lease, sizeof lease, "%lld", s->lease_ms);
  const char *params[] = {window, lease, claim.s, attempt.s, done.s, rel.s,
                          rela.s};
  sb_pg_rows_t *rows = NULL;
  for (int try = 0;; try++) {
    sb_err_t e = SB_ERR_INIT;
    rc = sb_pg_rows(w->pg,
                    "SELECT ix, state FROM sb.idempotency_cycle($1, $2, "
                    "$3::uuid[], $4::bigint[], $5::bigint[], $6::uuid[], "
                    "$7::bigint[])",
                    7, params, &rows, &e);
    /* a deadlock or serialization failure rolled everything back: once
     * more; a broken connection is not retried here (the outcome of its
     * commit is unknown) */
    if (rc != 0 && try == 0 && e.retriable && sb_err_sqlstate_is(&e, "40")) {
      sb_pg_rows_free(rows);
      rows = NULL;
      continue;
    }
    if (rc != 0)
      sb_err_set(err, e.code, "%s", e.msg);
    break;
  }
  atomic_fetch_add(&s->round_trips, 1);
  if (rc != 0)
    goto out;
  if (nredo > 0) {
    w->nredo -= nredo;
    memmove(w->redo, w->redo + nredo, w->nredo * sizeof *w->redo);
  }
  for (size_t r = 0; r < nrefs; r++)
    refs[r].job->states[refs[r].i] = SB_IDEM_CLAIMED;
  for (int r = 0, n = sb_pg_rows_count(rows); r < n; r++) {
    long long ix = -1;
    const char *v = sb_pg_rows_get(rows, r, 0), *st = sb_pg_rows_get(rows, r, 1);
    if (v == NULL || st == NULL || sb_parse_ll(v, &ix) != 0 || ix < 0 ||
        (size_t)ix >= nrefs)
      continue;
    refs[ix].job->states[refs[ix].i] =
        st[0] == 'd' ? SB_IDEM_DUPLICATE : SB_IDEM_IN_FLIGHT;
  }
  sb_pg_rows_free(rows);
out:
  free(refs);
  sb_text_free(&claim);
  sb_text_free(&attempt);
  sb_text_free(&done);
  sb_text_free(&rel);
  sb_text_free(&rela);
  return rc;
}

static void purge(worker_t *w) {
  sb_idem_t *s = w->s;
  char window[24], lease[24], limit[16], out[32];
  int found = 0;
  sb_err_t err = SB_ERR_INIT;
  snprintf(window, sizeof window, "%lld", s->window_ms);
  snprintf(lease, sizeof lease, "%lld", s->lease_ms);
  snprintf(limit, sizeof limit, "%d", PURGE_BATCH);
  const char *params[] = {window, lease, limit};
  w->last_purge_ms = sb_now_ms();
  w->purge_more = 0;
  if (sb_pg_query1(w->pg, "SELECT sb.idempotency_purge($1, $2, $3)", 3,
                   params, out, sizeof out, &found, NULL, &err) != 0) {
    sb_log(SB_LOG_WARN, "idempotency", "purging expired keys failed",
           SB_F_STR("error", err.msg), SB_F_END);
    return;
  }
  long long n = 0;
  sb_parse_ll(out, &n);
  atomic_fetch_add(&s->purged, (unsigned long long)n);
  w->purge_more = n >= PURGE_BATCH; /* more at the next quiet moment */
}

static void *run(void *arg) {
  worker_t *w = arg;
  sb_idem_t *s = w->s;
  for (;;) {
    pthread_mutex_lock(&s->lock);
    while (s->qhead == NULL && !s->stop) {
      long long now = sb_now_ms();
      long long due = w->purge_more ? now : w->last_purge_ms + PURGE_EVERY_MS;
      if (w->index == 0 && due <= now && w->pg != NULL)
        break;
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 1;
      pthread_cond_timedwait(&s->cond, &s->lock, &ts);
      if (w->nredo > 0 && s->qhead == NULL)
        break; /* marks to try again */
    }
    if (s->stop && s->qhead == NULL) {
      pthread_mutex_unlock(&s->lock);
      break;
    }
    /* whole jobs, up to CYCLE_MAX_KEYS keys (at least one job) */
    job_t *jobs = s->qhead, *last = NULL;
    size_t keys = 0;
    for (job_t *j = s->qhead; j; j = j->next) {
      size_t k = j->n + j->nr + 1;
      if (last != NULL && keys + k > CYCLE_MAX_KEYS)
        break;
      keys += k;
      last = j;
    }
    if (last != NULL) {
      s->qhead = last->next;
      if (s->qhead == NULL)
        s->qtail = NULL;
      last->next = NULL;
    } else {
      jobs = NULL;
    }
    pthread_mutex_unlock(&s->lock);

    sb_err_t err = SB_ERR_INIT;
    int rc = 0;
    if (w->pg == NULL && sb_pg_connect(s->url, &w->pg, &err) != 0)
      rc = err.code;
    if (rc == 0 && (jobs != NULL || w->nredo > 0))
      rc = cycle(w, jobs, &err);
    if (rc != 0) {
      atomic_fetch_add(&s->failures, 1);
      if (strncmp(w->last_error, err.msg, sizeof w->last_error - 1) != 0)
        sb_log(SB_LOG_WARN, "idempotency",
               "the idempotency store did not answer: ingest answers 503 "
               "until it does",
               SB_F_STR("error", err.msg), SB_F_END);
      snprintf(w->last_error, sizeof w->last_error, "%.255s", err.msg);
      fail_jobs(w, jobs, err.msg);
      sb_pg_close(w->pg); /* a new connection next time */
      w->pg = NULL;
      if (jobs == NULL) { /* only marks to redo: not in a tight loop */
        pthread_mutex_lock(&s->lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        if (!s->stop)
          pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        pthread_mutex_unlock(&s->lock);
      }
    } else if (w->last_error[0]) {
      sb_log(SB_LOG_INFO, "idempotency", "the idempotency store answers again",
             SB_F_END);
      w->last_error[0] = '\0';
    }
    if (rc == 0 && w->pg != NULL && w->index == 0 &&
        (w->purge_more || sb_now_ms() - w->last_purge_ms >= PURGE_EVERY_MS))
      purge(w);
    if (jobs != NULL) {
      pthread_mutex_lock(&s->lock);
      if (s->dtail)
        s->dtail->next = jobs;
      else
        s->dhead = jobs;
      for (s->dtail = jobs; s->dtail->next; s->dtail = s->dtail->next)
        ;
      if (!s->async_gone) /* under the lock: the handle may be closing */
        uv_async_send(&s->async);
      pthread_mutex_unlock(&s->lock);
    }
  }
  return NULL;
}

/* ---- the loop's side ------------------------------------------------------ */

static void job_free(job_t *j) {
  if (j == NULL)
    return;
  free(j->keys);
  free(j->states);
  free(j->sent);
  free(j);
}

static void on_async_closed(uv_handle_t *h) { (void)h; }

static void close_async(sb_idem_t *s) {
  pthread_mutex_lock(&s->lock);
  s->async_gone = 1;
  pthread_mutex_unlock(&s->lock);
  s->async_open = 0;
  uv_close((uv_handle_t *)&s->async, on_async_closed);
}

static void on_async(uv_async_t *a) {
  sb_idem_t *s = a->data;
  pthread_mutex_lock(&s->lock);
  job_t *jobs = s->dhead;
  s->dhead = s->dtail = NULL;
  for (job_t *j = jobs; j; j = j->next)
    s->queued_bytes -= j->bytes;
  pthread_mutex_unlock(&s->lock);
  while (jobs != NULL) {
    job_t *j = jobs;
    jobs = j->next;
    s->outstanding--;
    if (j->kind == JOB_CLAIM) {
      for (size_t i = 0; i < j->n; i++) {
        sb_idem_state_t st = j->states[i];
        atomic_ullong *count = st == SB_IDEM_CLAIMED     ? &s->claimed
                               : st == SB_IDEM_DUPLICATE ? &s->duplicates
                               : st == SB_IDEM_IN_FLIGHT ? &s->in_flight
                                                         : &s->unavailable;
        atomic_fetch_add(count, 1);
        /* a key this job put in the in-flight set and did not get is no
         * longer in flight here; one it got stays until finished */
        if (j->sent[i] && st != SB_IDEM_CLAIMED)
          pend_del(&s->pend, &j->keys[i]);
      }
    }
    if (j->cb)
      j->cb(j->arg, j->kind == JOB_CLAIM ? j->states : NULL,
            j->failed ? j->error : NULL);
    job_free(j);
  }
  if (s->closing && s->outstanding == 0 && s->async_open)
    close_async(s);
}

static long long delivery_timeout_ms(const sb_conf_t *c) {
  long long ms = (long long)c->kafka_timeout_ms * 3; /* sb_producer's */
  for (size_t i = 0; i < c->kafka_n; i++) {
    long long v;
    if ((strcmp(c->kafka_keys[i], "message.timeout.ms") == 0 ||
         strcmp(c->kafka_keys[i], "delivery.timeout.ms") == 0) &&
        sb_parse_ll(c->kafka_vals[i], &v) == 0 && v > 0)
      ms = v;
  }
  return ms;
}

int sb_idem_new(uv_loop_t *loop, const sb_conf_t *c, sb_idem_t **out,
                sb_err_t *err) {
  *out = NULL;
  if (c->database_url == NULL)
    return sb_err_set(err, SB_ECONFIG,
                      "HTTP ingest needs the instance's PostgreSQL for its "
                      "idempotency store: set database_url or start "
                      "'switchboard up'");
  sb_idem_t *s = calloc(1, sizeof *s);
  if (s == NULL || (s->url = strdup(c->database_url)) == NULL) {
    free(s);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  s->window_ms = c->ingest_idempotency_window_ms;
  s->lease_ms = delivery_timeout_ms(c) + LEASE_MARGIN_MS;
  s->max_bytes = (size_t)c->ingest_idempotency_queue_bytes;
  s->nw = c->ingest_idempotency_connections > 0
              ? c->ingest_idempotency_connections
              : 1;
  unsigned char rnd[24];
  if ((s->w = calloc((size_t)s->nw, sizeof *s->w)) == NULL) {
    sb_idem_free(s);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  for (int i = 0; i < s->nw; i++) {
    s->w[i].s = s;
    s->w[i].index = i;
    s->w[i].last_purge_ms = sb_now_ms() - PURGE_EVERY_MS; /* purge soon */
  }
  if (RAND_bytes(rnd, sizeof rnd) != 1) {
    sb_idem_free(s);
    return sb_err_set(err, SB_ECRYPTO, "OpenSSL RAND_bytes failed");
  }
  memcpy(&s->pend.salt, rnd + 8, 8);
  memcpy(&s->pend.mul, rnd + 16, 8);
  s->pend.mul |= 1;
  /* the store is checked now: a database without it fails at start */
  int rc = sb_pg_connect(s->url, &s->w[0].pg, err);
  if (rc == 0)
    rc = sb_pg_exec(s->w[0].pg, "SELECT 1 FROM sb.idempotency LIMIT 0", 0,
                    NULL, err);
  if (rc != 0) {
    char msg[SB_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err->msg);
    sb_err_clear(err);
    sb_err_set(err, rc, "idempotency store: %s%s", msg,
               strstr(msg, "42P01") ? " (run 'switchboard migrate')" : "");
    sb_idem_free(s);
    return rc;
  }
  /* the threads send on the handle only for jobs, which come after this
   * returns: the handle is made last, so a failure leaves none open */
  for (; s->started < s->nw; s->started++)
    if (pthread_create(&s->w[s->started].thread, NULL, run,
                       &s->w[s->started]) != 0) {
      sb_idem_free(s);
      return sb_err_set(err, SB_EINTERNAL,
                        "cannot start the idempotency threads");
    }
  uv_async_init(loop, &s->async, on_async);
  s->async.data = s;
  s->async_open = 1;
  *out = s;
  return 0;
}

static void enqueue(sb_idem_t *s, job_t *j) {
  s->outstanding++;
  pthread_mutex_lock(&s->lock);
  if (s->qtail)
    s->qtail->next = j;
  else
    s->qhead = j;
  s->qtail = j;
  s->queued_bytes += j->bytes;
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);
}

/* A positive random bigint: attempts of every process never meet (a
 * collision among those alive takes about 2^31 of them). */
static int new_attempt(long long *out, sb_err_t *err) {
  uint64_t v;
  if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
    return sb_err_set(err, SB_ECRYPTO, "OpenSSL RAND_bytes failed");
  *out = (long long)(v >> 1) | 1;
  return 0;
}

int sb_idem_claim(sb_idem_t *s, const sb_idem_key_t *keys, size_t n,
                  sb_idem_cb cb, void *arg, long long *attempt, sb_err_t *err) {
  if (s->closing || !s->async_open)
    return sb_err_set(err, SB_EUNAVAIL, "the server is stopping");
  size_t bytes = sizeof(job_t) + n * (sizeof *keys + sizeof(sb_idem_state_t));
  pthread_mutex_lock(&s->lock);
  size_t queued = s->queued_bytes;
  pthread_mutex_unlock(&s->lock);
  if (queued + bytes > s->max_bytes)
    return sb_err_set(err, SB_EBUSY,
                      "the idempotency store's queue is full "
                      "(ingest.idempotency_queue_bytes = %zu)",
                      s->max_bytes);
  job_t *j = calloc(1, sizeof *j);
  if (j == NULL || (j->keys = malloc(n * sizeof *keys + 1)) == NULL ||
      (j->states = malloc(n * sizeof *j->states + 1)) == NULL ||
      (j->sent = calloc(n + 1, 1)) == NULL) {
    job_free(j);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  if (new_attempt(&j->attempt, err) != 0) {
    job_free(j);
    return err->code;
  }
  *attempt = j->attempt;
  j->kind = JOB_CLAIM;
  j->n = n;
  j->bytes = bytes;
  j->cb = cb;
  j->arg = arg;
  memcpy(j->keys, keys, n * sizeof *keys);
  for (size_t i = 0; i < n; i++) {
    int added = pend_add(&s->pend, &keys[i]);
    if (added < 0) {
      for (size_t k = 0; k < i; k++)
        if (j->sent[k])
          pend_del(&s->pend, &keys[k]);
      job_free(j);
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    /* in flight here already: no round trip for it */
    j->states[i] = added ? STATE_SEND : SB_IDEM_IN_FLIGHT;
    j->sent[i] = (unsigned char)added;
  }
  enqueue(s, j);
  return 0;
}

void sb_idem_finish(sb_idem_t *s, long long attempt,
                    const sb_idem_key_t *done, size_t nd,
                    const sb_idem_key_t *released, size_t nr, sb_idem_cb cb,
                    void *arg) {
  /* from now on a claim of these keys asks the store, which applies this
   * finish first (it is earlier in the queue, or earlier in the same round
   * trip) */
  for (size_t i = 0; i < nd; i++)
    pend_del(&s->pend, &done[i]);
  for (size_t i = 0; i < nr; i++)
    pend_del(&s->pend, &released[i]);
  job_t *j = calloc(1, sizeof *j);
  if (j == NULL || !s->async_open ||
      (j->keys = malloc(nr * sizeof *released + 1)) == NULL) {
    job_free(j);
    sb_log(SB_LOG_ERROR, "idempotency",
           "an attempt left unfinished (out of memory or stopped): its "
           "claims expire with their lease",
           SB_F_INT("released", (long long)nr), SB_F_END);
    if (cb)
      cb(arg, NULL, "not recorded");
    return;
  }
  j->kind = JOB_FINISH;
  j->attempt = attempt;
  j->produced = nd > 0;
  j->nr = nr;
  if (nr > 0)
    memcpy(j->keys, released, nr * sizeof *released);
  j->cb = cb;
  j->arg = arg;
  enqueue(s, j);
}

void sb_idem_close(sb_idem_t *s) {
  if (s == NULL || s->closing)
    return;
  s->closing = 1;
  if (s->outstanding == 0 && s->async_open)
    close_async(s);
}

void sb_idem_free(sb_idem_t *s) {
  if (s == NULL)
    return;
  pthread_mutex_lock(&s->lock);
  s->stop = 1;
  s->async_gone = 1; /* the loop is gone (its handles closed) */
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->lock);
  for (int i = 0; i < s->started; i++)
    pthread_join(s->w[i].thread, NULL);
  for (job_t *lists[2] = {s->qhead, s->dhead}, **l = lists; l < lists + 2; l++)
    while (*l) {
      job_t *j = *l;
      *l = j->next;
      job_free(j);
    }
  for (int i = 0; s->w != NULL && i < s->nw; i++) {
    sb_pg_close(s->w[i].pg);
    free(s->w[i].redo);
  }
  free(s->w);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->cond);
  free(s->pend.slot);
  free(s->pend.used);
  free(s->url);
  free(s);
}

void sb_idem_metrics(sb_idem_t *s, sb_text_t *t) {
  if (s == NULL)
    return;
  sb_metric_head(t, "switchboard_idempotency_claims_total", "counter",
                 "Event ids claimed in the idempotency store, by outcome.");
  static const char *const names[] = {"claimed", "duplicate", "in_flight",
                                      "unavailable"};
  unsigned long long v[] = {atomic_load(&s->claimed),
                            atomic_load(&s->duplicates),
                            atomic_load(&s->in_flight),
                            atomic_load(&s->unavailable)};
  for (size_t i = 0; i < SB_ARRAY_LEN(names); i++)
    sb_text_add(t, "switchboard_idempotency_claims_total{result=\"%s\"} %llu\n",
                names[i], v[i]);
  sb_metric_head(t, "switchboard_idempotency_round_trips_total", "counter",
                 "Statements sent to the store (each carries many claims).");
  sb_text_add(t, "switchboard_idempotency_round_trips_total %llu\n",
              atomic_load(&s->round_trips));
  sb_metric_head(t, "switchboard_idempotency_failures_total", "counter",
                 "Round trips the store did not answer.");
  sb_text_add(t, "switchboard_idempotency_failures_total %llu\n",
              atomic_load(&s->failures));
  sb_metric_head(t, "switchboard_idempotency_purged_total", "counter",
                 "Keys purged past the window.");
  sb_text_add(t, "switchboard_idempotency_purged_total %llu\n",
              atomic_load(&s->purged));
  sb_metric_head(t, "switchboard_idempotency_queue_bytes", "gauge",
                 "Bytes of claims waiting for the store.");
  pthread_mutex_lock(&s->lock);
  size_t q = s->queued_bytes;
  pthread_mutex_unlock(&s->lock);
  sb_text_add(t, "switchboard_idempotency_queue_bytes %zu\n", q);
}
