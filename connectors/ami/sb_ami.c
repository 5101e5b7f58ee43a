/* The AMI connector's thread (sb_ami.h): a libuv loop holding a manager
 * session per PBX, their counters copied out for other threads every
 * SNAP_MS. */
#include "sb_ami_int.h"

#include "sb_conf.h"
#include "sb_ingest.h"
#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_time.h"
#include "sb_util.h"

#include <cjson/cJSON.h>

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_MS 200
#define FLUSH_MS 20         /* events handed to ingest this often */
#define BATCH_MAX 1000      /* events of one submission */
#define PENDING_MAX 100000  /* events of a PBX waiting (ingest down) */
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 5000

/* A PBX's events on their way to ingest: one submission at a time, so
 * that a call's events are produced in their order; a refusal that may
 * pass later (Kafka, PostgreSQL, the key store away: 5xx, 409) is
 * submitted again whole (what was produced of it is then a duplicate,
 * acknowledged as such by ingest's idempotency store). */
typedef struct {
  struct sb_ami_s *a;
  size_t i;      /* the PBX */
  cJSON *pending; /* made, not yet submitted */
  int npending;
  cJSON *again;  /* a copy of the submission in flight, then its retry */
  int inflight;
  uint64_t retry_at_ms;
  int retry_ms;
  uint64_t accepted, duplicates, refused, dropped;
} out_t;

struct sb_ami_s {
  const sb_conf_t *c;
  sb_ami_pbx_t *pbx;
  size_t n;
  sb__ami_sess_t **sess;
  sb_ami_map_t **map; /* a PBX's mapper */
  out_t *out;         /* a PBX's events on their way */
  sb_ingest_t *in;    /* NULL: nothing is produced (no instance) */
  sb__ami_dial_t *dial; /* NULL: no PBX dials (sb_ami_dial.c) */
  uv_timer_t flush;
  int draining;
  uint64_t drain_until_ms;
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t snap;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t mu; /* guards what follows */
  int stopping, finished;
  sb_ami_pbx_stats_t *stats;
  struct sb_ami_s *next_live; /* the process's connectors (live_mu) */
};

static sb_ami_map_t *map_of(sb_ami_t *a, sb__ami_sess_t *s) {
  return a->map[sb__ami_sess_pbx(s) - a->pbx];
}

static void on_submitted(void *ud, sb_http_req_t *r,
                         const sb_ingest_outcome_t *o) {
  out_t *q = ud;
  (void)r;
  q->inflight = 0;
  if (o->status == 202 || (o->status < 500 && o->status != 409)) {
    q->accepted += (uint64_t)(o->accepted - o->duplicates);
    q->duplicates += (uint64_t)o->duplicates;
    if (o->refused > 0) {
      /* refused for good (an event ingest finds invalid): counted and
       * logged by code; its text may quote a value, so not logged */
      q->refused += (uint64_t)o->refused;
      sb_log(SB_LOG_ERROR, "ami", "ingest refused events of a PBX",
             SB_F_STR("pbx", q->a->pbx[q->i].name),
             SB_F_INT("refused", o->refused), SB_F_INT("status", o->status),
             SB_F_STR("code", o->code ? o->code : ""), SB_F_END);
    }
    cJSON_Delete(q->again);
    q->again = NULL;
    q->retry_ms = 0;
    return;
  }
  q->retry_ms = q->retry_ms ? q->retry_ms * 2 : RETRY_MIN_MS;
  if (q->retry_ms > RETRY_MAX_MS)
    q->retry_ms = RETRY_MAX_MS;
  q->retry_at_ms = uv_now(&q->a->loop) + (uint64_t)q->retry_ms;
  sb_log(SB_LOG_WARN, "ami", "ingest cannot take a PBX's events now; retrying",
         SB_F_STR("pbx", q->a->pbx[q->i].name), SB_F_INT("status", o->status),
         SB_F_STR("error", o->error ? o->error : ""),
         SB_F_INT("retry_ms", q->retry_ms), SB_F_END);
}

/* An event's tenantid (the mapper sets it on each), else dflt. */
static const char *tenant_of(const cJSON *e, const char *dflt) {
  const cJSON *t = e ? cJSON_GetObjectItemCaseSensitive(e, "tenantid") : NULL;
  return cJSON_IsString(t) ? t->valuestring : dflt ? dflt : "";
}

static void submit(sb_ami_t *a, out_t *q) {
  cJSON *batch = q->again;
  if (batch == NULL) {
    /* up to BATCH_MAX of the pending, in order, of one tenant (a call's
     * may be another than the PBX's: tenant_var) */
    batch = cJSON_CreateArray();
    if (batch == NULL)
      return;
    const char *first = tenant_of(q->pending->child, NULL);
    for (int k = 0; k < BATCH_MAX && q->pending->child &&
                    strcmp(tenant_of(q->pending->child, first), first) == 0;
         k++) {
      cJSON *e = cJSON_DetachItemViaPointer(q->pending, q->pending->child);
      cJSON_AddItemToArray(batch, e);
      q->npending--;
    }
  }
  q->again = cJSON_Duplicate(batch, 1);
  if (q->again == NULL) { /* out of memory: kept for the next turn */
    q->again = batch;
    return;
  }
  const sb_ami_pbx_t *p = &a->pbx[q->i];
  sb_claims_t who = {.role = SB_ROLE_SUPERVISOR};
  snprintf(who.tenant, sizeof who.tenant, "%s",
           tenant_of(batch->child, p->tenant));
  snprintf(who.sub, sizeof who.sub, "ami:%s", p->name);
  q->inflight = 1;
  sb_ingest_submit(a->in, NULL, &who, batch, on_submitted, q);
}

static void finish(sb_ami_t *a);

static void on_flush(uv_timer_t *t) {
  sb_ami_t *a = t->data;
  uint64_t now = uv_now(&a->loop);
  int busy = 0;
  for (size_t i = 0; i < a->n; i++) {
    out_t *q = &a->out[i];
    if (q->inflight) {
      busy = 1;
      continue;
    }
    if (q->again != NULL && now < q->retry_at_ms) {
      if (a->draining && now >= a->drain_until_ms) {
        q->dropped += (uint64_t)cJSON_GetArraySize(q->again) +
                      (uint64_t)q->npending;
        sb_log(SB_LOG_ERROR, "ami", "stopping: a PBX's events were not "
               "produced (ingest could not take them)",
               SB_F_STR("pbx", a->pbx[i].name), SB_F_END);
        cJSON_Delete(q->again);
        q->again = NULL;
        cJSON_Delete(q->pending);
        q->pending = cJSON_CreateArray();
        q->npending = 0;
        continue;
      }
      busy = 1;
      continue;
    }
    if (q->again != NULL || q->npending > 0) {
      submit(a, q);
      busy = 1;
    }
  }
  if (a->draining &&
      sb__ami_dial_busy(a->dial, now >= a->drain_until_ms))
    busy = 1;
  if (a->draining && !busy)
    finish(a);
}

/* What the mapper made, queued for ingest (counted and dropped without
 * an instance to produce to, and past PENDING_MAX waiting). */
static void deliver(sb_ami_t *a, sb__ami_sess_t *s, cJSON *events) {
  out_t *q = &a->out[sb__ami_sess_pbx(s) - a->pbx];
  int n = cJSON_GetArraySize(events);
  if (n == 0 || a->in == NULL) {
    cJSON_Delete(events);
    return;
  }
  if (q->npending + n > PENDING_MAX) {
    if (q->dropped == 0 || q->dropped % 1000 == 0)
      sb_log(SB_LOG_ERROR, "ami", "ingest is not taking a PBX's events: "
             "dropping them past the bound (a resync repairs agents and "
             "calls)",
             SB_F_STR("pbx", a->pbx[q->i].name),
             SB_F_INT("pending", q->npending), SB_F_END);
    q->dropped += (uint64_t)n;
    cJSON_Delete(events);
    return;
  }
  /* the oldest allowed at ingest: a PBX's own older time (a static
   * member's LoginTime) becomes the time we learnt it */
  int64_t now = sb_time_now_micros();
  int64_t oldest = now - ((int64_t)a->c->ingest_max_past_s - 60) * 1000000;
  while (events->child) {
    cJSON *e = cJSON_DetachItemViaPointer(events, events->child);
    cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "time");
    int64_t us;
    char ts[40];
    if (cJSON_IsString(t) && sb_time_parse(t->valuestring, &us, NULL, 0) == 0 &&
        us < oldest) {
      sb_time_format(now, ts, sizeof ts);
      cJSON_ReplaceItemInObjectCaseSensitive(e, "time", cJSON_CreateString(ts));
    }
    cJSON_AddItemToArray(q->pending, e);
    q->npending++;
  }
  cJSON_Delete(events);
}

static void on_message(void *ud, sb__ami_sess_t *s, sb__ami_origin_t origin,
                       const sb_ami_msg_t *m) {
  sb_ami_t *a = ud;
  if (sb__ami_dial_message(a->dial, (size_t)(sb__ami_sess_pbx(s) - a->pbx), m))
    return; /* an Originate's answer */
  cJSON *out = cJSON_CreateArray();
  if (out == NULL)
    return;
  sb_ami_map_msg(map_of(a, s), origin == SB__AMI_SYNC, m, sb_time_now_micros(),
                 out);
  deliver(a, s, out);
}

static void on_resync(void *ud, sb__ami_sess_t *s) {
  sb_ami_map_sync_start(map_of(ud, s));
}

static void on_synced(void *ud, sb__ami_sess_t *s) {
  cJSON *out = cJSON_CreateArray();
  if (out == NULL)
    return;
  sb_ami_map_synced(map_of(ud, s), sb_time_now_micros(), out);
  deliver(ud, s, out);
}

static void on_reply(void *ud, sb__ami_sess_t *s, const sb_ami_msg_t *m) {
  sb_ami_t *a = ud;
  sb__ami_dial_message(a->dial, (size_t)(sb__ami_sess_pbx(s) - a->pbx), m);
}

static void on_lost(void *ud, sb__ami_sess_t *s) {
  sb_ami_t *a = ud;
  sb__ami_dial_lost(a->dial, (size_t)(sb__ami_sess_pbx(s) - a->pbx));
}

static const sb__ami_handler_t handler = {.message = on_message,
                                          .resync = on_resync,
                                          .synced = on_synced,
                                          .lost = on_lost,
                                          .reply = on_reply};

static void copy_stats(sb_ami_t *a) {
  pthread_mutex_lock(&a->mu);
  for (size_t i = 0; i < a->n; i++) {
    sb_ami_pbx_stats_t *o = &a->stats[i];
    if (a->sess[i] == NULL)
      continue;
    sb__ami_stats_t st;
    sb_ami_parse_stats_t ps;
    sb__ami_sess_stats(a->sess[i], &st);
    sb__ami_sess_parse_stats(a->sess[i], &ps);
    o->connected = st.connected;
    o->synced = st.synced;
    o->connects = st.connects;
    o->logins = st.logins;
    o->login_failures = st.login_failures;
    o->disconnects = st.disconnects;
    o->resyncs = st.resyncs;
    o->events = st.events;
    o->list_items = st.list_items;
    o->refused = ps.refused;
    o->bare = ps.bare;
    o->replaced = ps.replaced;
    o->decoded = ps.decoded;
    o->bytes_read = st.bytes_read;
    sb_ami_map_stats_t ms;
    sb_ami_map_stats(a->map[i], &ms);
    o->mapped = ms.mapped;
    o->unmapped = ms.unmapped;
    o->produced = ms.produced;
    o->accepted = a->out[i].accepted;
    o->duplicates = a->out[i].duplicates;
    o->ingest_refused = a->out[i].refused;
    o->dropped = a->out[i].dropped;
    o->waiting = (uint64_t)a->out[i].npending;
    o->since_us = st.since_us;
    memcpy(o->last_error, st.last_error, sizeof o->last_error);
    memcpy(o->unmapped_names, ms.unmapped_names, sizeof o->unmapped_names);
    o->n_unmapped_names = ms.n_unmapped_names;
    sb__ami_dial_stats(a->dial, i, o);
  }
  pthread_mutex_unlock(&a->mu);
}

static void on_snap(uv_timer_t *t) { copy_stats(t->data); }

/* Drained (or nothing to drain): ingest's last answers are flushed,
 * then the handles close and the loop runs dry. */
static void finish(sb_ami_t *a) {
  copy_stats(a);
  sb__ami_dial_close(a->dial);
  uv_close((uv_handle_t *)&a->flush, NULL);
  uv_close((uv_handle_t *)&a->snap, NULL);
  uv_close((uv_handle_t *)&a->wake, NULL);
  sb_ingest_close(a->in);
}

static void on_wake(uv_async_t *w) {
  sb_ami_t *a = w->data;
  pthread_mutex_lock(&a->mu);
  int stop = a->stopping;
  pthread_mutex_unlock(&a->mu);
  if (!stop || a->draining)
    return;
  copy_stats(a);
  /* Originates unanswered: unknown, produced in the drain */
  sb__ami_dial_stop(a->dial);
  for (size_t i = 0; i < a->n; i++) {
    sb__ami_dial_lost(a->dial, i);
    sb__ami_sess_close(a->sess[i]);
    a->sess[i] = NULL;
  }
  /* what was made goes to ingest first, for at most kafka_timeout_ms */
  a->draining = 1;
  a->drain_until_ms = uv_now(&a->loop) + (uint64_t)a->c->kafka_timeout_ms;
}

static void *thread_main(void *arg) {
  sb_ami_t *a = arg;
  uv_run(&a->loop, UV_RUN_DEFAULT);
  uv_loop_close(&a->loop);
  pthread_mutex_lock(&a->mu);
  a->finished = 1;
  pthread_mutex_unlock(&a->mu);
  sb_log(SB_LOG_INFO, "ami", "stopped", SB_F_END);
  return NULL;
}

/* What sb_ami_start allocated (any part may be NULL), and a. */
static void parts_free(sb_ami_t *a) {
  for (size_t i = 0; a->map && i < a->n; i++)
    sb_ami_map_free(a->map[i]);
  for (size_t i = 0; a->out && i < a->n; i++) {
    cJSON_Delete(a->out[i].pending);
    cJSON_Delete(a->out[i].again);
  }
  sb__ami_dial_free(a->dial);
  free(a->map);
  free(a->out);
  sb_ami_pbx_free(a->pbx, a->n);
  free(a->sess);
  free(a->stats);
  pthread_mutex_destroy(&a->mu);
  free(a);
}

/* the connectors running in this process, for sb_ami_metrics and
 * sb_ami_health (the API of `up` is not handed them) */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static sb_ami_t *live;

static void live_add(sb_ami_t *a) {
  pthread_mutex_lock(&live_mu);
  a->next_live = live;
  live = a;
  pthread_mutex_unlock(&live_mu);
}

static void live_remove(sb_ami_t *a) {
  pthread_mutex_lock(&live_mu);
  for (sb_ami_t **p = &live; *p; p = &(*p)->next_live)
    if (*p == a) {
      *p = a->next_live;
      break;
    }
  pthread_mutex_unlock(&live_mu);
}

int sb_ami_start(const sb_conf_t *c, sb_ami_t **out, sb_err_t *err) {
  *out = NULL;
  sb_ami_t *a = calloc(1, sizeof *a);
  if (a == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  a->c = c;
  pthread_mutex_init(&a->mu, NULL);
  int rc = sb_ami_pbx_load(c->ami_pbx_file, c->ami_secrets_file, &a->pbx,
                           &a->n, err);
  if (rc == 0 && c->ami_reconnect_min_ms > c->ami_reconnect_max_ms)
    rc = sb_err_set(err, SB_ECONFIG,
                    "ami.reconnect_min_ms (%d) is more than "
                    "ami.reconnect_max_ms (%d)",
                    c->ami_reconnect_min_ms, c->ami_reconnect_max_ms);
  if (rc == 0) {
    a->sess = calloc(a->n, sizeof *a->sess);
    a->stats = calloc(a->n, sizeof *a->stats);
    a->map = calloc(a->n, sizeof *a->map);
    a->out = calloc(a->n, sizeof *a->out);
    if (a->sess == NULL || a->stats == NULL || a->map == NULL ||
        a->out == NULL)
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  for (size_t i = 0; rc == 0 && i < a->n; i++) {
    a->out[i].a = a;
    a->out[i].i = i;
    if ((a->out[i].pending = cJSON_CreateArray()) == NULL)
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  for (size_t i = 0; rc == 0 && i < a->n; i++)
  {
    rc = sb_ami_map_new(a->pbx[i].name, a->pbx[i].tenant, 0, 0, &a->map[i],
                        err);
    if (rc == 0)
      sb_ami_map_config(a->map[i], &a->pbx[i]);
  }
  if (rc != 0) {
    parts_free(a);
    return rc;
  }
  uv_loop_init(&a->loop);
  /* events go through ingest (checks, PII sealed, ids claimed, produced)
   * when there is an instance to produce to */
  if (c->brokers != NULL && c->database_url != NULL &&
      (rc = sb_ingest_new(&a->loop, c, &a->in, err)) != 0) {
    uv_loop_close(&a->loop);
    parts_free(a);
    return rc;
  }
  sb__ami_opts_t o = {.ping_ms = c->ami_ping_ms,
                      .timeout_ms = c->ami_timeout_ms,
                      .reconnect_min_ms = c->ami_reconnect_min_ms,
                      .reconnect_max_ms = c->ami_reconnect_max_ms,
                      .max_event_bytes = (size_t)c->ami_max_event_bytes,
                      .max_write_bytes = 256 * 1024};
  for (size_t i = 0; i < a->n; i++) {
    snprintf(a->stats[i].name, sizeof a->stats[i].name, "%s", a->pbx[i].name);
    snprintf(a->stats[i].tenant, sizeof a->stats[i].tenant, "%s",
             a->pbx[i].tenant);
    a->stats[i].since_us = sb_time_now_micros(); /* till the first copy */
    if (rc == 0)
      rc = sb__ami_sess_new(&a->loop, &a->pbx[i], &o, &handler, a,
                            &a->sess[i], err);
  }
  if (rc == 0)
    rc = sb__ami_dial_new(&a->loop, c, a->in, a->pbx, a->n, a->sess,
                          &a->dial, err);
  uv_async_init(&a->loop, &a->wake, on_wake);
  uv_timer_init(&a->loop, &a->snap);
  uv_timer_init(&a->loop, &a->flush);
  a->wake.data = a->snap.data = a->flush.data = a;
  uv_timer_start(&a->snap, on_snap, SNAP_MS, SNAP_MS);
  uv_timer_start(&a->flush, on_flush, FLUSH_MS, FLUSH_MS);
  if (rc == 0 && pthread_create(&a->thread, NULL, thread_main, a) != 0)
    rc = sb_err_set(err, SB_EINTERNAL, "cannot start the AMI thread");
  if (rc != 0) { /* what was made is closed on this thread */
    a->stopping = 1;
    on_wake(&a->wake);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    uv_loop_close(&a->loop);
    a->finished = 1;
    sb_ami_join(a, NULL, 0, NULL);
    return rc;
  }
  a->thread_started = 1;
  live_add(a);
  sb_log(SB_LOG_INFO, "ami", "connector started",
         SB_F_INT("pbxs", (long long)a->n),
         SB_F_STR("events", a->in ? "produced through ingest"
                                  : "counted only (no instance)"),
         SB_F_END);
  *out = a;
  return 0;
}

void sb_ami_stop(sb_ami_t *a) {
  if (a == NULL)
    return;
  pthread_mutex_lock(&a->mu);
  int send = !a->stopping && !a->finished;
  a->stopping = 1;
  pthread_mutex_unlock(&a->mu);
  if (send)
    uv_async_send(&a->wake);
}

int sb_ami_done(sb_ami_t *a) {
  pthread_mutex_lock(&a->mu);
  int f = a->finished;
  pthread_mutex_unlock(&a->mu);
  return f;
}

size_t sb_ami_snapshot(sb_ami_t *a, sb_ami_pbx_stats_t *out, size_t max) {
  pthread_mutex_lock(&a->mu);
  for (size_t i = 0; i < a->n && i < max; i++)
    out[i] = a->stats[i];
  size_t n = a->n;
  pthread_mutex_unlock(&a->mu);
  return n;
}

int sb_ami_join(sb_ami_t *a, sb_ami_pbx_stats_t *st, size_t max,
                sb_err_t *err) {
  (void)err;
  if (a == NULL)
    return 0;
  live_remove(a);
  sb_ami_stop(a);
  if (a->thread_started)
    pthread_join(a->thread, NULL);
  if (st)
    sb_ami_snapshot(a, st, max);
  /* the final counters, for `up` and `run` (`switchboard ami` prints
   * them too): the same names as on /metrics */
  for (size_t i = 0; a->thread_started && i < a->n; i++) {
    const sb_ami_pbx_stats_t *o = &a->stats[i];
    sb_log(SB_LOG_INFO, "ami", "a PBX's final counters",
           SB_F_STR("pbx", o->name), SB_F_INT("events", o->events),
           SB_F_INT("reconnects", o->disconnects),
           SB_F_INT("resyncs", o->resyncs), SB_F_INT("refused", o->refused),
           SB_F_INT("unmapped", o->unmapped),
           SB_F_INT("produced", o->produced),
           SB_F_INT("accepted", o->accepted),
           SB_F_INT("duplicates", o->duplicates),
           SB_F_INT("ingest_refused", o->ingest_refused),
           SB_F_INT("dropped", o->dropped), SB_F_INT("waiting", o->waiting),
           SB_F_END);
  }
  sb_ingest_free(a->in);
  parts_free(a);
  return 0;
}

/* ---- metrics and health (sb_ami.h) ---------------------------------------*/

/* The PBXs of every connector of this process: *out (n of them) is the
 * caller's to free; NULL when no connector runs. */
static sb_ami_pbx_stats_t *live_stats(size_t *n) {
  *n = 0;
  pthread_mutex_lock(&live_mu);
  size_t total = 0;
  for (sb_ami_t *a = live; a; a = a->next_live)
    total += a->n;
  sb_ami_pbx_stats_t *st =
      live ? calloc(total ? total : 1, sizeof *st) : NULL;
  for (sb_ami_t *a = live; st && a; a = a->next_live)
    *n += sb_ami_snapshot(a, st + *n, total - *n);
  pthread_mutex_unlock(&live_mu);
  return st;
}

/* An event name fit for a label: what Asterisk's are made of. */
static int label_safe(const char *name) {
  size_t i = 0;
  for (; name[i]; i++)
    if (!((name[i] >= 'A' && name[i] <= 'Z') ||
          (name[i] >= 'a' && name[i] <= 'z') ||
          (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
      return 0;
  return i > 0;
}

void sb_ami_metrics(sb_text_t *t) {
  size_t n;
  sb_ami_pbx_stats_t *st = live_stats(&n);
  if (st == NULL)
    return;
  static const struct {
    const char *name, *type, *help;
    size_t off; /* of a uint64_t in sb_ami_pbx_stats_t */
  } plain[] = {
      {"switchboard_ami_events_total", "counter",
       "Live events read from the PBX (its events per second: rate() of "
       "this).",
       offsetof(sb_ami_pbx_stats_t, events)},
      {"switchboard_ami_list_items_total", "counter",
       "Items of the resynchronisations' lists (QueueStatus, "
       "CoreShowChannels).",
       offsetof(sb_ami_pbx_stats_t, list_items)},
      {"switchboard_ami_reconnects_total", "counter",
       "Logged-in sessions lost (closed, timed out, Shutdown), each made "
       "again after the backoff.",
       offsetof(sb_ami_pbx_stats_t, disconnects)},
      {"switchboard_ami_login_failures_total", "counter",
       "Logins the PBX refused.", offsetof(sb_ami_pbx_stats_t, login_failures)},
      {"switchboard_ami_resyncs_total", "counter",
       "Resynchronisations completed (one after every login).",
       offsetof(sb_ami_pbx_stats_t, resyncs)},
      {"switchboard_ami_refused_total", "counter",
       "Messages over ami.max_event_bytes or 4096 lines, refused (the "
       "session kept).",
       offsetof(sb_ami_pbx_stats_t, refused)},
      {"switchboard_ami_produced_total", "counter",
       "call.* and agent.* events made of the PBX's.",
       offsetof(sb_ami_pbx_stats_t, produced)},
      {"switchboard_ami_dropped_total", "counter",
       "Events made but dropped: ingest away past the waiting bound.",
       offsetof(sb_ami_pbx_stats_t, dropped)},
      {"switchboard_ami_waiting", "gauge",
       "Events made, not yet handed to ingest.",
       offsetof(sb_ami_pbx_stats_t, waiting)},
  };
  sb_metric_head(t, "switchboard_ami_connected", "gauge",
                 "Whether the connector is logged in to the PBX now.");
  for (size_t i = 0; i < n; i++)
    sb_text_add(t, "switchboard_ami_connected{pbx=\"%s\"} %d\n", st[i].name,
                st[i].connected);
  sb_metric_head(t, "switchboard_ami_synced", "gauge",
                 "Logged in and resynchronised since.");
  for (size_t i = 0; i < n; i++)
    sb_text_add(t, "switchboard_ami_synced{pbx=\"%s\"} %d\n", st[i].name,
                st[i].synced);
  for (size_t k = 0; k < SB_ARRAY_LEN(plain); k++) {
    sb_metric_head(t, plain[k].name, plain[k].type, plain[k].help);
    for (size_t i = 0; i < n; i++) {
      uint64_t v;
      memcpy(&v, (const char *)&st[i] + plain[k].off, sizeof v);
      sb_text_add(t, "%s{pbx=\"%s\"} %llu\n", plain[k].name, st[i].name,
                  (unsigned long long)v);
    }
  }
  sb_metric_head(t, "switchboard_ami_ingested_total", "counter",
                 "Events ingest answered for: accepted (new), duplicate "
                 "(made again after a reconnect), refused (invalid, for "
                 "good).");
  for (size_t i = 0; i < n; i++)
    sb_text_add(t,
                "switchboard_ami_ingested_total{pbx=\"%s\",outcome="
                "\"accepted\"} %llu\n"
                "switchboard_ami_ingested_total{pbx=\"%s\",outcome="
                "\"duplicate\"} %llu\n"
                "switchboard_ami_ingested_total{pbx=\"%s\",outcome="
                "\"refused\"} %llu\n",
                st[i].name, (unsigned long long)st[i].accepted, st[i].name,
                (unsigned long long)st[i].duplicates, st[i].name,
                (unsigned long long)st[i].ingest_refused);
  sb_metric_head(t, "switchboard_ami_unmapped_total", "counter",
                 "Events the mapping has no use for, by name (a PBX's "
                 "first 32 names; the rest as event=\"other\").");
  for (size_t i = 0; i < n; i++) {
    uint64_t named = 0;
    for (size_t j = 0; j < st[i].n_unmapped_names; j++) {
      const sb_ami_map_count_t *u = &st[i].unmapped_names[j];
      if (!label_safe(u->name) || strcmp(u->name, "other") == 0)
        continue;
      named += u->count;
      sb_text_add(t, "switchboard_ami_unmapped_total{pbx=\"%s\",event=\"%s\"} "
                     "%llu\n",
                  st[i].name, u->name, (unsigned long long)u->count);
    }
    sb_text_add(t,
                "switchboard_ami_unmapped_total{pbx=\"%s\",event=\"other\"} "
                "%llu\n",
                st[i].name,
                (unsigned long long)(st[i].unmapped > named
                                         ? st[i].unmapped - named
                                         : 0));
  }
  free(st);
}

int sb_ami_health(cJSON *o) {
  size_t n;
  sb_ami_pbx_stats_t *st = live_stats(&n);
  if (st == NULL)
    return -1;
  int down = 0;
  cJSON *all = cJSON_AddObjectToObject(o, "ami");
  for (size_t i = 0; all && i < n; i++) {
    cJSON *p = cJSON_AddObjectToObject(all, st[i].name);
    if (p == NULL)
      break;
    char since[40] = "";
    if (st[i].since_us > 0)
      sb_time_format(st[i].since_us, since, sizeof since);
    cJSON_AddBoolToObject(p, "connected", st[i].connected);
    cJSON_AddBoolToObject(p, "synced", st[i].synced);
    if (since[0])
      cJSON_AddStringToObject(p, "since", since);
    else
      cJSON_AddNullToObject(p, "since");
    if (st[i].last_error[0])
      cJSON_AddStringToObject(p, "last_error", st[i].last_error);
    else
      cJSON_AddNullToObject(p, "last_error");
  }
  for (size_t i = 0; i < n; i++)
    down += !st[i].connected;
  free(st);
  return down;
}
