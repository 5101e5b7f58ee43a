/* The AMI connector's thread (sb_ami.h): a libuv loop holding a manager
 * session per PBX, their counters copied out for other threads every
 * SNAP_MS. */
#include "sb_ami_int.h"

#include "sb_conf.h"
#include "sb_log.h"
#include "sb_time.h"

#include <cjson/cJSON.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_MS 200

struct sb_ami_s {
  const sb_conf_t *c;
  sb_ami_pbx_t *pbx;
  size_t n;
  sb__ami_sess_t **sess;
  sb_ami_map_t **map; /* a PBX's mapper */
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t snap;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t mu; /* guards what follows */
  int stopping, finished;
  sb_ami_pbx_stats_t *stats;
};

static sb_ami_map_t *map_of(sb_ami_t *a, sb__ami_sess_t *s) {
  return a->map[sb__ami_sess_pbx(s) - a->pbx];
}

/* What the mapper made. Not yet: handing them to ingest (the next step of
 * issue 18); they are counted and dropped. */
static void deliver(sb_ami_t *a, cJSON *events) {
  (void)a;
  cJSON_Delete(events);
}

static void on_message(void *ud, sb__ami_sess_t *s, sb__ami_origin_t origin,
                       const sb_ami_msg_t *m) {
  sb_ami_t *a = ud;
  cJSON *out = cJSON_CreateArray();
  if (out == NULL)
    return;
  sb_ami_map_msg(map_of(a, s), origin == SB__AMI_SYNC, m, sb_time_now_micros(),
                 out);
  deliver(a, out);
}

static void on_resync(void *ud, sb__ami_sess_t *s) {
  sb_ami_map_sync_start(map_of(ud, s));
}

static void on_synced(void *ud, sb__ami_sess_t *s) {
  cJSON *out = cJSON_CreateArray();
  if (out == NULL)
    return;
  sb_ami_map_synced(map_of(ud, s), sb_time_now_micros(), out);
  deliver(ud, out);
}

static const sb__ami_handler_t handler = {
    .message = on_message, .resync = on_resync, .synced = on_synced};

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
  }
  pthread_mutex_unlock(&a->mu);
}

static void on_snap(uv_timer_t *t) { copy_stats(t->data); }

static void on_wake(uv_async_t *w) {
  sb_ami_t *a = w->data;
  pthread_mutex_lock(&a->mu);
  int stop = a->stopping;
  pthread_mutex_unlock(&a->mu);
  if (!stop)
    return;
  copy_stats(a);
  for (size_t i = 0; i < a->n; i++) {
    sb__ami_sess_close(a->sess[i]);
    a->sess[i] = NULL;
  }
  uv_close((uv_handle_t *)&a->snap, NULL);
  uv_close((uv_handle_t *)&a->wake, NULL);
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
    if (a->sess == NULL || a->stats == NULL || a->map == NULL)
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  for (size_t i = 0; rc == 0 && i < a->n; i++)
    rc = sb_ami_map_new(a->pbx[i].name, a->pbx[i].tenant, 0, 0, &a->map[i],
                        err);
  if (rc != 0) {
    for (size_t i = 0; a->map && i < a->n; i++)
      sb_ami_map_free(a->map[i]);
    free(a->map);
    sb_ami_pbx_free(a->pbx, a->n);
    free(a->sess);
    free(a->stats);
    pthread_mutex_destroy(&a->mu);
    free(a);
    return rc;
  }
  uv_loop_init(&a->loop);
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
    if (rc == 0)
      rc = sb__ami_sess_new(&a->loop, &a->pbx[i], &o, &handler, a,
                            &a->sess[i], err);
  }
  uv_async_init(&a->loop, &a->wake, on_wake);
  uv_timer_init(&a->loop, &a->snap);
  a->wake.data = a->snap.data = a;
  uv_timer_start(&a->snap, on_snap, SNAP_MS, SNAP_MS);
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
  sb_log(SB_LOG_INFO, "ami", "connector started",
         SB_F_INT("pbxs", (long long)a->n), SB_F_END);
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
  sb_ami_stop(a);
  if (a->thread_started)
    pthread_join(a->thread, NULL);
  if (st)
    sb_ami_snapshot(a, st, max);
  for (size_t i = 0; i < a->n; i++)
    sb_ami_map_free(a->map[i]);
  free(a->map);
  sb_ami_pbx_free(a->pbx, a->n);
  free(a->sess);
  free(a->stats);
  pthread_mutex_destroy(&a->mu);
  free(a);
  return 0;
}
