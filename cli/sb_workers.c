#include "sb_workers.h"

#include "sb_api.h"

#include "sb_pipeline.h"
#include "sb_log.h"
#include "sb_schema.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

int sb_workers_parse(const char *list, const sb_processor_vt_t **vts,
                     size_t *n, sb_err_t *err) {
  *n = 0;
  if (strcmp(list, "none") == 0)
    return 0;
  if (strcmp(list, "all") == 0) {
    for (const sb_processor_vt_t *const *p = sb_builtin_processors; *p; p++)
      if (!((*p)->flags & SB_PROCESSOR_TEST_ONLY))
        vts[(*n)++] = *p;
    return 0;
  }
  char copy[512], *save = NULL;
  snprintf(copy, sizeof copy, "%s", list);
  for (char *name = strtok_r(copy, ",", &save); name;
       name = strtok_r(NULL, ",", &save)) {
    const sb_processor_vt_t *vt = sb_processor_find(name);
    if (vt == NULL) {
      char known[256] = "";
      for (const sb_processor_vt_t *const *p = sb_builtin_processors; *p; p++) {
        size_t used = strlen(known);
        snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "",
                 (*p)->name);
      }
      return sb_err_set(err, SB_EUSAGE, "unknown processor '%s' (known: %s; "
                                        "or all, none)", name, known);
    }
    for (size_t i = 0; i < *n; i++)
      if (vts[i] == vt)
        return sb_err_set(err, SB_EUSAGE, "processor '%s' named twice", name);
    if (*n >= SB_MAX_PROCESSORS)
      return sb_err_set(err, SB_EUSAGE, "too many processors");
    vts[(*n)++] = vt;
  }
  if (*n == 0)
    return sb_err_set(err, SB_EUSAGE, "no processors named");
  return 0;
}

typedef struct {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  uv_timer_t tick;
  sb_pipeline_t *pipeline;
} run_t;

static void on_signal(uv_signal_t *h, int signum) {
  run_t *r = h->data;
  sb_log(SB_LOG_INFO, "workers", "shutting down",
         SB_F_STR("signal", strsignal(signum)), SB_F_END);
  uv_stop(&r->loop);
}

static void on_tick(uv_timer_t *h) {
  run_t *r = h->data;
  if (r->pipeline != NULL && sb_pipeline_done(r->pipeline))
    uv_stop(&r->loop); /* the pipeline failed: stop serving */
}

static void close_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void on_guard(uv_timer_t *t) {
  sb_log(SB_LOG_WARN, "workers", "connections still open after 3 s; closing them",
         SB_F_END);
  uv_walk(t->loop, close_cb, NULL);
}

int sb_workers_serve(const sb_conf_t *c, const sb_processor_vt_t *const *vts,
                     size_t n, sb_ready_cb ready, void *arg, sb_err_t *err) {
  sb_schemas_t *schemas = NULL;
  sb_pipeline_t *pipeline = NULL;
  sb_api_t *api = NULL;
  run_t r;
  memset(&r, 0, sizeof r);
  uv_loop_init(&r.loop);
  int rc = n > 0 ? sb_schemas_load(&schemas, err) : 0;
  if (rc == 0 && n > 0) {
    /* one pipeline: one consumer, producer and decode for them all */
    sb_pipeline_opts_t o = {.vts = vts, .n = n};
    rc = sb_pipeline_start(c, schemas, &o, &pipeline, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
      sb_log(SB_LOG_INFO, "workers", "processor started",
             SB_F_STR("processor", vts[i]->name), SB_F_END);
  }
  int serve = ready != NULL && c->http_listen != NULL &&
              strcmp(c->http_listen, "off") != 0;
  if (rc == 0 && serve)
    rc = sb_api_start(&r.loop, c, pipeline, &api, err);
  if (rc == 0) {
    r.pipeline = pipeline;
    uv_signal_init(&r.loop, &r.sigint);
    uv_signal_init(&r.loop, &r.sigterm);
    uv_timer_init(&r.loop, &r.tick);
    r.sigint.data = r.sigterm.data = r.tick.data = &r;
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    uv_timer_start(&r.tick, on_tick, 200, 200);
    if (ready)
      ready(api ? sb_api_url(api) : NULL, arg);
    uv_run(&r.loop, UV_RUN_DEFAULT);
  }
  /* answers in flight are written and WebSocket clients told goodbye: the
   * API's handles close by themselves, within a second; a guard that does
   * not keep the loop alive closes whatever is left after three */
  sb_api_stop(api);
  if (rc == 0) {
    uv_close((uv_handle_t *)&r.sigint, NULL);
    uv_close((uv_handle_t *)&r.sigterm, NULL);
    uv_close((uv_handle_t *)&r.tick, NULL);
  }
  uv_timer_t guard;
  uv_timer_init(&r.loop, &guard);
  uv_timer_start(&guard, on_guard, 3000, 0);
  uv_unref((uv_handle_t *)&guard);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  uv_walk(&r.loop, close_cb, NULL);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  uv_loop_close(&r.loop);
  sb_api_free(api);
  sb_pipeline_stop(pipeline);
  while (pipeline != NULL && !sb_pipeline_done(pipeline))
    usleep(10 * 1000); /* its last batch committed: final counters */
  sb_pipeline_stats_t st[SB_PIPELINE_MAX];
  for (size_t i = 0; pipeline != NULL && i < n; i++)
    sb_pipeline_snapshot(pipeline, i, &st[i]);
  sb_err_t werr = SB_ERR_INIT;
  if (sb_pipeline_join(pipeline, NULL, &werr) != 0 && rc == 0)
    rc = sb_err_set(err, werr.code, "%s", werr.msg);
  for (size_t i = 0; pipeline != NULL && i < n; i++)
    sb_log(SB_LOG_INFO, "workers", "processor stopped",
           SB_F_STR("processor", vts[i]->name), SB_F_INT("events", st[i].events),
           SB_F_INT("deadletters", st[i].deadletters),
           SB_F_INT("batches", st[i].batches), SB_F_END);
  sb_schemas_free(schemas);
  return rc;
}

int sb_workers_run(const sb_conf_t *c, const sb_processor_vt_t *const *vts,
                   size_t n, sb_err_t *err) {
  return sb_workers_serve(c, vts, n, NULL, NULL, err);
}
