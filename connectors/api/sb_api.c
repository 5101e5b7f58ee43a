#include "sb_api.h"

#include "sb_ami.h"
#include "sb_api_gdpr.h"
#include "sb_api_read.h"
#include "sb_api_registry.h"
#include "sb_api_views.h"
#include "sb_dashboard.h"
#include "sb_dispatch.h"
#include "sb_http.h"
#include "sb_hub.h"
#include "sb_ingest.h"
#include "sb_kafka.h"
#include "sb_log.h"
#include "sb_pg.h"
#include "sb_util.h"
#include "sb_webhook.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sb_api_s {
  const sb_conf_t *c;
  sb_http_t *http;
  sb_ingest_t *ingest;
  sb_hub_t *hub;
  sb_api_reader_t *reader; /* GET /v1/projection */
  sb_api_gdpr_t gdpr;       /* /v1/gdpr */
  sb_webhooks_t *webhooks;  /* /v1/webhooks/ */
  sb_registry_t *registry;  /* /schema-registry/ */
  sb_ingest_kafka_t *kingest; /* sb.ingest */
  sb_pipeline_t *pipeline; /* NULL: no processors */
  long long started_ms;

  /* health, refreshed every second by a thread of its own so that a slow
   * broker or database never stalls the loop */
  pthread_t health_thread;
  int health_started;
  atomic_int stop;
  atomic_int kafka_ok, pg_ok;
  pthread_mutex_t lock;
  char kafka_err[SB_ERR_MSG_MAX], pg_err[SB_ERR_MSG_MAX];
};

static void *health_loop(void *arg) {
  sb_api_t *a = arg;
  sb_pg_t *pg = NULL;
  sb_kafka_probe_t *probe = NULL;
  sb_err_t err = SB_ERR_INIT;
  sb_kafka_probe_new(a->c, &probe, &err); /* NULL: reported as down */
  while (!atomic_load(&a->stop)) {
    sb_err_clear(&err);
    if (pg == NULL)
      sb_pg_connect(a->c->database_url, &pg, &err);
    if (pg != NULL && sb_pg_exec(pg, "SELECT 1", 0, NULL, &err) != 0) {
      sb_pg_close(pg);
      pg = NULL;
    }
    pthread_mutex_lock(&a->lock);
    snprintf(a->pg_err, sizeof a->pg_err, "%s", pg ? "" : err.msg);
    pthread_mutex_unlock(&a->lock);
    atomic_store(&a->pg_ok, pg != NULL);

    sb_err_clear(&err);
    int kafka_ok = sb_kafka_probe(probe, 1000, &err) == 0;
    pthread_mutex_lock(&a->lock);
    snprintf(a->kafka_err, sizeof a->kafka_err, "%s", kafka_ok ? "" : err.msg);
    pthread_mutex_unlock(&a->lock);
    atomic_store(&a->kafka_ok, kafka_ok);
    for (int i = 0; i < 10 && !atomic_load(&a->stop); i++)
      usleep(100 * 1000);
  }
  sb_pg_close(pg);
  sb_kafka_probe_free(probe);
  return NULL;
}

/* 200 "ready", or 200 "degraded" while a PBX of the AMI connector of this
 * process is not connected (the process still serves: what it lacks is
 * that PBX's calls), or 503 "unavailable" while Kafka or PostgreSQL does
 * not answer. */
static void get_health(sb_http_req_t *r, void *ud) {
  sb_api_t *a = ud;
  int k = atomic_load(&a->kafka_ok), p = atomic_load(&a->pg_ok);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "status", k && p ? "ready" : "unavailable");
  pthread_mutex_lock(&a->lock);
  cJSON_AddStringToObject(o, "kafka", k ? "ok" : a->kafka_err[0] ? a->kafka_err
                                                                  : "checking");
  cJSON_AddStringToObject(o, "postgres", p ? "ok" : a->pg_err[0] ? a->pg_err
                                                                 : "checking");
  pthread_mutex_unlock(&a->lock);
  if (sb_ami_health(o) > 0 && k && p)
    cJSON_ReplaceItemInObjectCaseSensitive(o, "status",
                                           cJSON_CreateString("degraded"));
  sb_http_respond_json(r, k && p ? 200 : 503, o, k && p ? NULL : "Retry-After: 1\r\n");
}

/* Prometheus text format 0.0.4. */
static void get_metrics(sb_http_req_t *r, void *ud) {
  sb_api_t *a = ud;
  sb_text_t t = {0};
  sb_metric_head(&t, "switchboard_up", "gauge", "Whether this process serves.");
  sb_text_add(&t, "switchboard_up 1\n");
  sb_metric_head(&t, "switchboard_uptime_seconds", "gauge",
                 "Seconds since the API started.");
  sb_text_add(&t, "switchboard_uptime_seconds %.3f\n",
              (double)(sb_now_ms() - a->started_ms) / 1000.0);
  sb_metric_head(&t, "switchboard_ready", "gauge",
                 "Kafka and PostgreSQL both answer.");
  sb_text_add(&t, "switchboard_ready %d\n",
              atomic_load(&a->kafka_ok) && atomic_load(&a->pg_ok));

  static const struct {
    const char *name, *help;
  } counters[] = {
      {"switchboard_events_processed_total", "Events committed by a processor."},
      {"switchboard_deadletters_total", "Records sent to sb.deadletter."},
      {"switchboard_batches_total", "Micro-batches committed."},
      {"switchboard_batch_replays_total",
       "Batches replayed from stored offsets after a failure or a swap."},
      {"switchboard_offset_resets_total",
       "Stored offsets found to be of another log (new topics, a lost "
       "journal) and read from the start instead."},
  };
  sb_pipeline_stats_t st[SB_PIPELINE_MAX];
  size_t ne = a->pipeline ? sb_pipeline_count(a->pipeline) : 0;
  for (size_t i = 0; i < ne; i++)
    sb_pipeline_snapshot(a->pipeline, i, &st[i]);
  for (size_t k = 0; k < SB_ARRAY_LEN(counters); k++) {
    sb_metric_head(&t, counters[k].name, "counter", counters[k].help);
    for (size_t i = 0; i < ne; i++) {
      uint64_t v = k == 0 ? st[i].events : k == 1 ? st[i].deadletters
                                     : k == 2 ? st[i].batches
                                     : k == 3 ? st[i].reseeks
                                              : st[i].offset_resets;
      sb_text_add(&t, "%s{processor=\"%s\"} %llu\n", counters[k].name,
                  sb_pipeline_processor(a->pipeline, i), (unsigned long long)v);
    }
  }
  if (ne > 0) {
    /* one decode per record, however many processors read it */
    sb_pipeline_totals_t tot;
    sb_pipeline_totals(a->pipeline, &tot);
    sb_metric_head(&t, "switchboard_records_consumed_total", "counter",
                   "Records the pipeline consumed (one consumer per "
                   "process).");
    sb_text_add(&t, "switchboard_records_consumed_total %llu\n",
                (unsigned long long)tot.records);
    sb_metric_head(&t, "switchboard_records_decoded_total", "counter",
                   "Records decoded: once per record, for all processors.");
    sb_text_add(&t, "switchboard_records_decoded_total %llu\n",
                (unsigned long long)tot.decoded);
    sb_metric_head(&t, "switchboard_records_delivered_total", "counter",
                   "Decoded records handed to a processor (one per record "
                   "and processor reading it).");
    sb_text_add(&t, "switchboard_records_delivered_total %llu\n",
                (unsigned long long)tot.delivered);
    sb_metric_head(&t, "switchboard_derived_copies_dropped_total", "counter",
                   "Copies of derived events whose emitting batch did not "
                   "commit, dropped before any processor.");
    sb_text_add(&t, "switchboard_derived_copies_dropped_total %llu\n",
                (unsigned long long)tot.dropped);
    char labels[96];
    sb_metric_head(&t, "switchboard_batch_events", "histogram",
                   "Events per committed micro-batch.");
    for (size_t i = 0; i < ne; i++) {
      snprintf(labels, sizeof labels, "processor=\"%s\"",
               sb_pipeline_processor(a->pipeline, i));
      sb_hist_emit(&t, "switchboard_batch_events", labels, st[i].batch_events);
    }
    sb_metric_head(&t, "switchboard_commit_seconds", "histogram",
                   "From BEGIN to COMMIT of a micro-batch: projections, "
                   "offsets and the producer's flush.");
    for (size_t i = 0; i < ne; i++) {
      snprintf(labels, sizeof labels, "processor=\"%s\"",
               sb_pipeline_processor(a->pipeline, i));
      sb_hist_emit(&t, "switchboard_commit_seconds", labels,
                   st[i].commit_seconds);
    }
    sb_metric_head(&t, "switchboard_consumer_lag", "gauge",
                   "Records behind the partition's high watermark, per "
                   "processor and assigned partition.");
    sb_pipeline_lag_t lags[256];
    for (size_t i = 0; i < ne; i++) {
      size_t nl = sb_pipeline_lags(a->pipeline, i, lags,
                                   SB_ARRAY_LEN(lags));
      for (size_t l = 0; l < nl; l++)
        sb_text_add(&t,
                    "switchboard_consumer_lag{processor=\"%s\",topic=\"%s\","
                    "partition=\"%d\"} %lld\n",
                    sb_pipeline_processor(a->pipeline, i), lags[l].topic,
                    (int)lags[l].partition, (long long)lags[l].lag);
    }
  }
  sb_ingest_metrics(a->ingest, &t);
  sb_hub_metrics(a->hub, &t);
  sb_dispatch_metrics(&t); /* the dispatcher beside the processors (up) */
  sb_ami_metrics(&t);      /* the AMI connector beside them (up) */
  if (t.failed)
    sb_http_error(r, 500, "internal", "out of memory", NULL);
  else
    sb_http_respond(r, 200, "text/plain; version=0.0.4", t.s, t.len, NULL);
  sb_text_free(&t);
}

static void post_events(sb_http_req_t *r, void *ud) {
  sb_ingest_post(r, ((sb_api_t *)ud)->ingest);
}

static void get_stream(sb_http_req_t *r, void *ud) {
  sb_hub_accept(r, ((sb_api_t *)ud)->hub);
}

static void get_projection(sb_http_req_t *r, void *ud) {
  sb_api_get_projection(r, ((sb_api_t *)ud)->reader);
}

static void get_analytics(sb_http_req_t *r, void *ud) {
  sb_api_get_analytics(r, ((sb_api_t *)ud)->reader);
}

static void get_projections(sb_http_req_t *r, void *ud) {
  sb_api_get_projections(r, ((sb_api_t *)ud)->reader);
}

static void post_session(sb_http_req_t *r, void *ud) {
  sb_ingest_session_post(r, ((sb_api_t *)ud)->ingest);
}
static void get_session(sb_http_req_t *r, void *ud) {
  sb_ingest_session_get(r, ((sb_api_t *)ud)->ingest);
}
static void delete_session(sb_http_req_t *r, void *ud) {
  sb_ingest_session_delete(r, ((sb_api_t *)ud)->ingest);
}

static void post_gdpr(sb_http_req_t *r, void *ud) {
  sb_api_post_gdpr(r, &((sb_api_t *)ud)->gdpr);
}

static void get_gdpr(sb_http_req_t *r, void *ud) {
  sb_api_get_gdpr(r, &((sb_api_t *)ud)->gdpr);
}

static void get_gdpr_export(sb_http_req_t *r, void *ud) {
  sb_api_get_gdpr_export(r, &((sb_api_t *)ud)->gdpr);
}

static void on_webhook(sb_http_req_t *r, void *ud) {
  sb_webhooks_handle(r, ((sb_api_t *)ud)->webhooks);
}

static void on_registry(sb_http_req_t *r, void *ud) {
  sb_registry_handle(r, ((sb_api_t *)ud)->registry,
                     ((sb_api_t *)ud)->ingest);
}

/* The document of this table (connectors/api/openapi.json, compiled in),
 * served to anyone: it holds no data. */
extern const sb_file_t sb_api_docs[];

const char *sb_api_openapi(size_t *len) {
  *len = sb_api_docs[0].len;
  return sb_api_docs[0].data;
}

static void get_openapi(sb_http_req_t *r, void *ud) {
  (void)ud;
  size_t len;
  const char *doc = sb_api_openapi(&len);
  sb_http_respond(r, 200, "application/json", doc, len,
                  "Cache-Control: no-cache\r\n");
}

/* Every route is documented in openapi.json (the test api_routes_documented
 * fails otherwise). */
static const sb_http_route_t routes[] = {
    {"POST", "/v1/events", post_events},
    {"POST", "/v1/session", post_session},
    {"GET", "/v1/session", get_session},
    {"DELETE", "/v1/session", delete_session},
    {"GET", "/v1/stream", get_stream},
    {"GET", "/v1/health", get_health},
    {"GET", "/v1/projection", get_projection},
    {"GET", "/v1/projections", get_projections},
    {"GET", "/v1/projections/", get_projections},
    {"GET", "/v1/analytics", get_analytics},
    {"GET", "/v1/analytics/", get_analytics},
    {"POST", "/v1/gdpr", post_gdpr},
    {"GET", "/v1/gdpr", get_gdpr},
    {"GET", "/v1/gdpr/export", get_gdpr_export},
    {"GET", "/metrics", get_metrics},
    {"POST", "/v1/webhooks/", on_webhook},
    {"GET", "/v1/webhooks/", on_webhook},
    {"GET", "/v1/openapi.json", get_openapi},
    {"GET", SB_REGISTRY_PREFIX, on_registry},
    {"GET", "/", sb_dashboard_get},
    {"GET", "/ui/", sb_dashboard_get},
    {"POST", SB_REGISTRY_PREFIX, on_registry},
    {NULL, NULL, NULL},
};

const sb_http_route_t *sb_api_routes(void) { return routes; }

int sb_api_start(uv_loop_t *loop, const sb_conf_t *c, sb_pipeline_t *pipeline,
                 sb_api_t **out, sb_err_t *err) {
  *out = NULL;
  sb_api_t *a = calloc(1, sizeof *a);
  if (a == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  a->c = c;
  a->pipeline = pipeline;
  a->started_ms = sb_now_ms();
  pthread_mutex_init(&a->lock, NULL);
  sb_http_opts_t o = {
      .listen = c->http_listen,
      .max_body = (size_t)c->http_max_body,
      .max_pending = (size_t)c->http_max_pending_bytes,
      .request_timeout_ms = c->http_request_timeout_ms,
      .idle_timeout_ms = c->http_idle_timeout_ms,
      .routes = routes,
      .ud = a,
      .tls_cert = c->http_tls_cert,
      .tls_key = c->http_tls_key,
  };
  int rc = sb_ingest_new(loop, c, &a->ingest, err);
  if (rc == 0)
    rc = sb_hub_new(loop, c, a->ingest, &a->hub, err);
  if (rc == 0) /* agents' calls and leads, as the hub learns them */
    sb_ingest_set_owners(a->ingest, sb_hub_owner_of, a->hub);
  if (rc == 0)
    rc = sb_api_reader_new(loop, c, a->ingest, &a->reader, err);
  a->gdpr = (sb_api_gdpr_t){.loop = loop, .c = c, .in = a->ingest};
  if (rc == 0)
    rc = sb_webhooks_new(loop, c, a->ingest, c->http_tls_cert != NULL,
                         &a->webhooks, err);
  if (rc == 0) /* CloudEvents written straight to Kafka */
    rc = sb_ingest_kafka_start(a->ingest, loop, &a->kingest, err);
  if (rc == 0)
    rc = sb_registry_new(&a->registry, err);
  if (rc == 0)
    rc = sb_http_start(loop, &o, &a->http, err);
  if (rc == 0 && pthread_create(&a->health_thread, NULL, health_loop, a) == 0)
    a->health_started = 1;
  *out = a; /* even on failure: the listener handle closes with the loop */
  return rc;
}

const char *sb_api_url(const sb_api_t *a) { return sb_http_url(a->http); }

void sb_api_stop(sb_api_t *a) {
  if (a == NULL)
    return;
  atomic_store(&a->stop, 1);
  sb_hub_stop(a->hub); /* says goodbye to WebSocket clients first */
  sb_ingest_kafka_stop(a->kingest);
  if (a->http)
    sb_http_stop(a->http, NULL, NULL);
  sb_ingest_close(a->ingest);
}

void sb_api_free(sb_api_t *a) {
  if (a == NULL)
    return;
  atomic_store(&a->stop, 1);
  if (a->health_started)
    pthread_join(a->health_thread, NULL);
  sb_http_free(a->http);
  sb_hub_free(a->hub);
  sb_api_reader_free(a->reader);
  sb_webhooks_free(a->webhooks);
  sb_registry_free(a->registry);
  sb_ingest_kafka_free(a->kingest);
  sb_ingest_free(a->ingest);
  pthread_mutex_destroy(&a->lock);
  free(a);
}
