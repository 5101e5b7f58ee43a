/* The dispatcher's thread: its loop, the claims, the drain. */
#include "sb_dispatch_int.h"

#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_schema.h"
#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICK_MS 100
#define IDLE_CLAIM_MS 500 /* an empty claim waits this long for the next */

/* The claim (issue 16's contract): committed before anything is sent. A
 * row whose lease ran out ('sending', claimed_until past) was a dead
 * dispatcher's: claimed again (the crash window, README). */
static const char claim_sql[] =
    "UPDATE comms.outbox o SET state = 'sending', attempts = o.attempts + 1,"
    " claimed_by = $1, claimed_until = now() + $2::int * interval '1 ms'"
    " WHERE (o.tenant_id, o.message_id) IN ("
    "  SELECT tenant_id, message_id FROM comms.outbox"
    "   WHERE (state = 'pending' AND (not_before IS NULL OR not_before <= now()))"
    "      OR (state = 'sending' AND claimed_until < now())"
    "   ORDER BY not_before NULLS FIRST LIMIT $3 FOR UPDATE SKIP LOCKED)"
    " RETURNING o.tenant_id, o.message_id, o.channel, o.account_id,"
    "  o.to_sealed, o.from_address, o.subject_sealed, o.body_sealed,"
    "  o.template_id, o.template_version, o.variables_sealed,"
    "  o.request_event_id, o.lead_id, o.campaign_id, o.attempts,"
    "  (extract(epoch FROM o.created_at) * 1000000)::bigint, o.to_origin";

static void copy(char *dst, size_t sz, const char *v) {
  snprintf(dst, sz, "%s", v ? v : "");
}

static int stopping(sb_dispatch_t *d) {
  pthread_mutex_lock(&d->mu);
  int s = d->stopping;
  pthread_mutex_unlock(&d->mu);
  return s;
}

/* the sealed columns travel to prepare in the plaintext slots, opened
 * there (the job owns them either way) */
static sb__djob_t *job_of(sb_dispatch_t *d, const sb_pg_rows_t *r, int i) {
  sb__djob_t *j = calloc(1, sizeof *j);
  if (j == NULL)
    return NULL;
  j->d = d;
  copy(j->tenant, sizeof j->tenant, sb_pg_rows_get(r, i, 0));
  copy(j->message_id, sizeof j->message_id, sb_pg_rows_get(r, i, 1));
  copy(j->channel, sizeof j->channel, sb_pg_rows_get(r, i, 2));
  copy(j->account_id, sizeof j->account_id, sb_pg_rows_get(r, i, 3));
  const char *v;
  if ((v = sb_pg_rows_get(r, i, 4)))
    j->to = strdup(v);
  if ((v = sb_pg_rows_get(r, i, 5)))
    j->from = strdup(v);
  if ((v = sb_pg_rows_get(r, i, 6)))
    j->subject = strdup(v);
  if ((v = sb_pg_rows_get(r, i, 7)))
    j->body = strdup(v);
  copy(j->template_id, sizeof j->template_id, sb_pg_rows_get(r, i, 8));
  copy(j->template_version, sizeof j->template_version, sb_pg_rows_get(r, i, 9));
  /* variables ride in req until prepare renders */
  if ((v = sb_pg_rows_get(r, i, 10)))
    sb_text_put(&j->req, v, strlen(v) + 1);
  copy(j->request_event_id, sizeof j->request_event_id, sb_pg_rows_get(r, i, 11));
  copy(j->lead_id, sizeof j->lead_id, sb_pg_rows_get(r, i, 12));
  copy(j->campaign_id, sizeof j->campaign_id, sb_pg_rows_get(r, i, 13));
  long long n = 0;
  sb_parse_ll(sb_pg_rows_get(r, i, 14), &n);
  j->attempts = (int)n;
  n = 0;
  if ((v = sb_pg_rows_get(r, i, 15)))
    sb_parse_ll(v, &n);
  j->created_us = n;
  copy(j->to_origin, sizeof j->to_origin, sb_pg_rows_get(r, i, 16));
  return j;
}

static void start_job(sb_dispatch_t *d, sb__djob_t *j) {
  sb_err_t err = SB_ERR_INIT;
  if (sb__dsp_prepare(d, j, &err) != 0) {
    /* keys or PostgreSQL unreachable: a transient failure */
    j->outcome = SB_DSP_O_RETRY;
    copy(j->error_code, sizeof j->error_code, "dispatch_error");
    sb__dsp_scrub(err.msg, NULL, j->error_msg, sizeof j->error_msg);
  }
  if (j->waiting)
    return; /* an access token is being fetched: sb__dsp_launch then */
  sb__dsp_launch(d, j);
}

void sb__dsp_launch(sb_dispatch_t *d, sb__djob_t *j) {
  if (j->outcome == SB_DSP_O_NONE && sb__dsp_admit(d, j) &&
      sb__dsp_build(d, j) == 0 && j->outcome == SB_DSP_O_NONE) {
    sb__dsp_curl_add(d, j);
    return;
  }
  sb__dsp_finish(d, j);
}

/* Claims what the free slots allow; 0 or an error of PostgreSQL. */
static int claim(sb_dispatch_t *d, sb_err_t *err) {
  int want = d->c->dispatch_concurrency - d->inflight;
  if (want <= 0 || sb_now_ms() < d->next_claim_ms)
    return 0;
  char lease[16], lim[16];
  snprintf(lease, sizeof lease, "%d", d->c->dispatch_lease_ms);
  snprintf(lim, sizeof lim, "%d", want);
  const char *params[] = {d->me, lease, lim};
  sb_pg_rows_t *r = NULL;
  sb_err_t e = SB_ERR_INIT;
  if (sb_pg_rows(d->pg, claim_sql, 3, params, &r, &e) != 0) {
    if (sb_err_sqlstate_is(&e, "42P01") || sb_err_sqlstate_is(&e, "3F000")) {
      /* comms.outbox not there: the comms processor's migrations have
       * not run; look again later */
      if (!d->outbox_missing)
        sb_log(SB_LOG_WARN, "dispatch",
               "comms.outbox does not exist (yet): nothing to dispatch; "
               "looking again every 2 s", SB_F_END);
      d->outbox_missing = 1;
      d->next_claim_ms = sb_now_ms() + 2000;
      return 0;
    }
    return sb_err_set(err, e.code, "claiming from comms.outbox: %s", e.msg);
  }
  d->outbox_missing = 0;
  int n = sb_pg_rows_count(r);
  d->next_claim_ms = n < want ? sb_now_ms() + IDLE_CLAIM_MS : 0;
  pthread_mutex_lock(&d->mu);
  d->st.claimed += n;
  pthread_mutex_unlock(&d->mu);
  for (int i = 0; i < n; i++) {
    sb__djob_t *j = job_of(d, r, i);
    if (j == NULL) {
      sb_pg_rows_free(r);
      return sb_err_set(err, SB_ENOMEM, "out of memory claiming messages");
    }
    d->inflight++;
    start_job(d, j);
  }
  sb_pg_rows_free(r);
  return 0;
}

static void fail(sb_dispatch_t *d, const sb_err_t *e) {
  pthread_mutex_lock(&d->mu);
  if (d->err.code == 0)
    d->err = *e;
  d->stopping = 1;
  pthread_mutex_unlock(&d->mu);
}

static void close_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void on_tick(uv_timer_t *t) {
  sb_dispatch_t *d = t->data;
  sb_err_t err = SB_ERR_INIT;
  sb_producer_poll(d->producer);
  if (d->done != NULL && sb__dsp_record(d, &err) != 0) {
    /* kept for the next tick; said once a tick */
    sb_log(SB_LOG_WARN, "dispatch", "recording outcomes failed; retrying",
           SB_F_STR("error", err.msg), SB_F_END);
    err = (sb_err_t)SB_ERR_INIT;
  }
  int stop = stopping(d);
  if (stop && d->stop_deadline_ms == 0)
    d->stop_deadline_ms = sb_now_ms() + d->c->dispatch_timeout_ms + 10000;
  if (!stop && claim(d, &err) != 0) {
    sb_log(SB_LOG_WARN, "dispatch", "claim failed; retrying",
           SB_F_STR("error", err.msg), SB_F_END);
    d->next_claim_ms = sb_now_ms() + 1000;
  }
  /* drained; or past the deadline, outcomes still unrecorded (their rows
   * stay 'sending' until the lease ends) */
  if (stop && (d->inflight == 0 || sb_now_ms() > d->stop_deadline_ms))
    uv_stop(&d->loop);
}

/* An outcome arrived: recorded on the loop's next turn, with whatever else
 * finished in the same turn (the crash window is the time to commit it). */
static void on_record_soon(uv_timer_t *t) {
  sb_dispatch_t *d = t->data;
  sb_err_t err = SB_ERR_INIT;
  if (d->done != NULL && sb__dsp_record(d, &err) != 0)
    sb_log(SB_LOG_WARN, "dispatch", "recording outcomes failed; retrying",
           SB_F_STR("error", err.msg), SB_F_END);
}

void sb__dsp_record_soon(sb_dispatch_t *d) {
  if (!uv_is_active((uv_handle_t *)&d->record_soon))
    uv_timer_start(&d->record_soon, on_record_soon, 0, 0);
}

static void on_wake(uv_async_t *a) { on_tick((uv_timer_t *)&((sb_dispatch_t *)a->data)->tick); }

static void *thread_main(void *arg) {
  sb_dispatch_t *d = arg;
  uv_run(&d->loop, UV_RUN_DEFAULT);
  /* drained: what is left in done could not be recorded (PostgreSQL or
   * Kafka down); the rows stay 'sending' until their lease ends */
  sb_err_t err = SB_ERR_INIT;
  for (int i = 0; i < 3 && d->done != NULL; i++)
    if (sb__dsp_record(d, &err) != 0)
      usleep(200 * 1000);
  if (d->done != NULL)
    fail(d, &err);
  sb__dsp_curl_close(d);
  uv_walk(&d->loop, close_cb, NULL);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  pthread_mutex_lock(&d->mu);
  d->finished = 1;
  pthread_mutex_unlock(&d->mu);
  return NULL;
}

static void dispatch_free(sb_dispatch_t *d) {
  if (d == NULL)
    return;
  while (d->done) {
    sb__djob_t *j = d->done;
    d->done = j->next;
    sb__dsp_job_free(j);
  }
  sb__dsp_accts_free(d);
  sb_producer_free(d->producer);
  sb_codec_free(d->codec);
  sb_schemas_free(d->schemas);
  sb_keys_free(d->keys);
  sb_pg_close(d->pg);
  if (d->loop.data == d)
    uv_loop_close(&d->loop);
  pthread_mutex_destroy(&d->mu);
  free(d);
}

/* the dispatchers running in this process, for sb_dispatch_metrics */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static sb_dispatch_t *live;

static void live_add(sb_dispatch_t *d) {
  pthread_mutex_lock(&live_mu);
  d->next_live = live;
  live = d;
  pthread_mutex_unlock(&live_mu);
}

static void live_remove(sb_dispatch_t *d) {
  pthread_mutex_lock(&live_mu);
  for (sb_dispatch_t **p = &live; *p; p = &(*p)->next_live)
    if (*p == d) {
      *p = d->next_live;
      break;
    }
  pthread_mutex_unlock(&live_mu);
}

int sb_dispatch_start(const sb_conf_t *c, sb_dispatch_t **out, sb_err_t *err) {
  *out = NULL;
  if (c->database_url == NULL || c->brokers == NULL)
    return sb_err_set(err, SB_ECONFIG,
                      "the dispatcher needs brokers and database_url");
  if (c->dispatch_lease_ms < 2 * c->dispatch_timeout_ms)
    return sb_err_set(err, SB_ECONFIG,
                      "dispatch.lease_ms (%d) must be at least twice "
                      "dispatch.timeout_ms (%d): a lease must outlive the "
                      "send it covers",
                      c->dispatch_lease_ms, c->dispatch_timeout_ms);
  sb_dispatch_t *d = calloc(1, sizeof *d);
  if (d == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  pthread_mutex_init(&d->mu, NULL);
  d->c = c;
  char host[64] = "host", rnd[17] = "";
  gethostname(host, sizeof host - 1);
  int rc = sb_random_hex(rnd, sizeof rnd, 8, err);
  snprintf(d->me, sizeof d->me, "%.60s:%d:%s", host, (int)getpid(), rnd);
  if (rc == 0)
    rc = sb_pg_connect(c->database_url, &d->pg, err);
  if (rc == 0)
    rc = sb_keys_open(d->c, &d->keys, err);
  if (rc == 0)
    rc = sb_schemas_load(&d->schemas, err);
  if (rc == 0)
    rc = sb_codec_new(d->schemas, &d->codec, err);
  if (rc == 0)
    rc = sb_producer_new(d->c, &d->producer, err);
  if (rc == 0) {
    uv_loop_init(&d->loop);
    d->loop.data = d;
    rc = sb__dsp_curl_init(d, err);
  }
  if (rc != 0) {
    if (d->loop.data == d) {
      uv_walk(&d->loop, close_cb, NULL);
      uv_run(&d->loop, UV_RUN_DEFAULT);
    }
    dispatch_free(d);
    return rc;
  }
  uv_timer_init(&d->loop, &d->tick);
  uv_timer_init(&d->loop, &d->record_soon);
  uv_async_init(&d->loop, &d->wake, on_wake);
  d->tick.data = d->wake.data = d->record_soon.data = d;
  uv_timer_start(&d->tick, on_tick, 0, TICK_MS);
  if (pthread_create(&d->thread, NULL, thread_main, d) != 0) {
    sb__dsp_curl_close(d);
    uv_walk(&d->loop, close_cb, NULL);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    dispatch_free(d);
    return sb_err_set(err, SB_EIO, "cannot start the dispatcher's thread");
  }
  d->thread_started = 1;
  live_add(d);
  sb_log(SB_LOG_INFO, "dispatch", "dispatcher started",
         SB_F_STR("id", d->me), SB_F_INT("concurrency", c->dispatch_concurrency),
         SB_F_END);
  *out = d;
  return 0;
}

void sb_dispatch_metrics(sb_text_t *t) {
  long by[SB_DSP_NPROVIDERS + 1][SB_DSP_M_N] = {{0}};
  long opened[SB_DSP_NPROVIDERS] = {0}, open_now[SB_DSP_NPROVIDERS] = {0};
  long claimed = 0;
  pthread_mutex_lock(&live_mu);
  int any = live != NULL;
  for (sb_dispatch_t *d = live; d; d = d->next_live) {
    pthread_mutex_lock(&d->mu);
    for (int p = 0; p <= SB_DSP_NPROVIDERS; p++)
      for (int m = 0; m < SB_DSP_M_N; m++)
        by[p][m] += d->by[p][m];
    for (int p = 0; p < SB_DSP_NPROVIDERS; p++) {
      opened[p] += d->opened[p];
      open_now[p] += d->open_now[p];
    }
    claimed += d->st.claimed;
    pthread_mutex_unlock(&d->mu);
  }
  pthread_mutex_unlock(&live_mu);
  if (!any)
    return;
  static const char *const outcomes[SB_DSP_M_N] = {
      "sent", "failed", "blocked", "retried", "throttled", "circuit_open"};
  sb_metric_head(t, "switchboard_dispatch_messages_total", "counter",
                 "Messages the dispatcher finished with, by provider and "
                 "outcome: sent, failed (for good), blocked (before "
                 "sending), retried (a transient failure), throttled (a "
                 "429's pause or Slack's pace), circuit_open (held back by "
                 "an open breaker).");
  for (int p = 0; p <= SB_DSP_NPROVIDERS; p++)
    for (int m = 0; m < SB_DSP_M_N; m++)
      sb_text_add(t,
                  "switchboard_dispatch_messages_total{provider=\"%s\","
                  "outcome=\"%s\"} %ld\n",
                  p < SB_DSP_NPROVIDERS ? sb__dsp_provider_names[p] : "none",
                  outcomes[m], by[p][m]);
  sb_metric_head(t, "switchboard_dispatch_circuit_opened_total", "counter",
                 "Times a provider account's breaker opened (5 transient "
                 "failures in a row).");
  for (int p = 0; p < SB_DSP_NPROVIDERS; p++)
    sb_text_add(t,
                "switchboard_dispatch_circuit_opened_total{provider=\"%s\"} "
                "%ld\n",
                sb__dsp_provider_names[p], opened[p]);
  sb_metric_head(t, "switchboard_dispatch_circuits_open", "gauge",
                 "Provider accounts whose breaker is open (or probing) now.");
  for (int p = 0; p < SB_DSP_NPROVIDERS; p++)
    sb_text_add(t, "switchboard_dispatch_circuits_open{provider=\"%s\"} %ld\n",
                sb__dsp_provider_names[p], open_now[p]);
  sb_metric_head(t, "switchboard_dispatch_claimed_total", "counter",
                 "Outbox rows the dispatcher claimed.");
  sb_text_add(t, "switchboard_dispatch_claimed_total %ld\n", claimed);
}

void sb_dispatch_stop(sb_dispatch_t *d) {
  if (d == NULL)
    return;
  pthread_mutex_lock(&d->mu);
  d->stopping = 1;
  int fin = d->finished;
  pthread_mutex_unlock(&d->mu);
  if (!fin)
    uv_async_send(&d->wake);
}

int sb_dispatch_done(sb_dispatch_t *d) {
  pthread_mutex_lock(&d->mu);
  int f = d->finished;
  pthread_mutex_unlock(&d->mu);
  return f;
}

void sb_dispatch_snapshot(sb_dispatch_t *d, sb_dispatch_stats_t *out) {
  pthread_mutex_lock(&d->mu);
  *out = d->st;
  pthread_mutex_unlock(&d->mu);
}

int sb_dispatch_join(sb_dispatch_t *d, sb_dispatch_stats_t *st, sb_err_t *err) {
  if (d == NULL)
    return 0;
  sb_dispatch_stop(d);
  live_remove(d);
  if (d->thread_started)
    pthread_join(d->thread, NULL);
  if (st)
    *st = d->st;
  int rc = 0;
  if (d->err.code != 0)
    rc = err ? sb_err_set(err, d->err.code, "dispatcher: %s", d->err.msg)
             : d->err.code;
  sb_log(SB_LOG_INFO, "dispatch", "dispatcher stopped",
         SB_F_INT("claimed", d->st.claimed), SB_F_INT("sent", d->st.sent),
         SB_F_INT("failed", d->st.failed), SB_F_INT("blocked", d->st.blocked),
         SB_F_INT("retried", d->st.retried), SB_F_END);
  dispatch_free(d);
  return rc;
}
