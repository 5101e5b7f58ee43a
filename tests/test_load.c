/* The load generators of bench/sb_load.h against the HTTP API (ingest and
 * the WebSocket hub) served in this process, on a libuv loop of its own
 * thread, over the embedded broker: every event accepted is in Kafka once,
 * refusals and retries are counted, and every event posted during the
 * freshness run arrives on the WebSocket. */
#include "sb_api.h"
#include "sb_auth.h"
#include "sb_cmds.h"
#include "sb_conf.h"
#include "sb_kafka.h"
#include "sb_load.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_topics.h"

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

typedef struct {
  sb_conf_t c;
  sb_embedded_t *broker;
  char db[64], dir[64];
  uv_loop_t loop;
  uv_async_t stop;
  sb_api_t *api;
  pthread_t thread;
  int running;
  char url[128];
  char token[SB_JWT_MAX + 1];
} srv_t;

static void on_stop(uv_async_t *a) {
  srv_t *s = a->data;
  sb_api_stop(s->api);
  uv_close((uv_handle_t *)a, NULL);
}

static void close_left(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void *serve(void *arg) {
  srv_t *s = arg;
  uv_run(&s->loop, UV_RUN_DEFAULT);
  uv_walk(&s->loop, close_left, NULL);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  return NULL;
}

/* The broker, a migrated database (health, idempotency), the API on 127.0.0.1:0 and
 * a manager token of tenant acme. extra: "key=value" or NULL. */
static int srv_start(srv_t *s, const char *extra) {
  sb_err_t err = SB_ERR_INIT;
  char url[600];
  memset(s, 0, sizeof *s);
  signal(SIGPIPE, SIG_IGN); /* as the commands serving HTTP do */
  snprintf(s->dir, sizeof s->dir, "/tmp/sbt-load-XXXXXX");
  if (mkdtemp(s->dir) == NULL)
    return -1;
  sb_conf_init(&s->c, NULL);
  sb_conf_set(&s->c, "partitions", "2", SB_CO_FLAG, NULL, NULL);
  sb_conf_set(&s->c, "data_dir", s->dir, SB_CO_FLAG, NULL, NULL);
  sb_conf_set(&s->c, "http.listen", "127.0.0.1:0", SB_CO_FLAG, NULL, NULL);
  if (extra != NULL) {
    char key[128];
    const char *eq = strchr(extra, '=');
    snprintf(key, sizeof key, "%.*s", (int)(eq - extra), extra);
    if (sb_conf_set(&s->c, key, eq + 1, SB_CO_FLAG, NULL, &err) != 0) {
      fprintf(stderr, "conf: %s\n", err.msg);
      return -1;
    }
  }
  if (sbt_pg_create_db(url, sizeof url, s->db, sizeof s->db) != 0)
    return -1;
  sb_conf_set(&s->c, "database_url", url, SB_CO_FLAG, NULL, NULL);
  int applied = 0; /* ingest keeps its idempotency store there */
  if (sb_cmd_apply_migrations(url, &applied, &err) != 0) {
    fprintf(stderr, "migrate: %s\n", err.msg);
    return -1;
  }
  if (sb_embedded_start(&s->c, &s->broker, &err) != 0 ||
      sb_conf_set(&s->c, "brokers", sb_embedded_bootstraps(s->broker),
                  SB_CO_FLAG, NULL, &err) != 0) {
    fprintf(stderr, "broker: %s\n", err.msg);
    return -1;
  }
  uv_loop_init(&s->loop);
  uv_async_init(&s->loop, &s->stop, on_stop);
  s->stop.data = s;
  if (sb_api_start(&s->loop, &s->c, NULL, &s->api, &err) != 0) {
    fprintf(stderr, "api: %s\n", err.msg);
    return -1;
  }
  snprintf(s->url, sizeof s->url, "%s", sb_api_url(s->api));
  /* the secret sb_api_start made in the data directory signs the token */
  unsigned char secret[SB_AUTH_SECRET_MAX];
  size_t len = sizeof secret;
  sb_claims_t who = {.role = SB_ROLE_MANAGER};
  snprintf(who.sub, sizeof who.sub, "bench");
  snprintf(who.tenant, sizeof who.tenant, "acme");
  who.iat = (int64_t)time(NULL);
  who.exp = who.iat + 3600;
  if (sb_auth_secret_load(s->dir, 0, secret, &len, &err) != 0 ||
      sb_jwt_sign(secret, len, &who, s->token, sizeof s->token, &err) != 0) {
    fprintf(stderr, "token: %s\n", err.msg);
    return -1;
  }
  if (pthread_create(&s->thread, NULL, serve, s) != 0)
    return -1;
  s->running = 1;
  return 0;
}

static void srv_stop(srv_t *s) {
  if (s->running) {
    uv_async_send(&s->stop);
    pthread_join(s->thread, NULL);
    uv_loop_close(&s->loop);
  }
  sb_api_free(s->api);
  sb_embedded_stop(s->broker);
  sbt_pg_drop_db(s->db);
  char path[128];
  snprintf(path, sizeof path, "%s/%s", s->dir, SB_AUTH_SECRET_FILE);
  unlink(path);
  rmdir(s->dir);
  sb_conf_free(&s->c);
}

/* Records in topic: the sum of its partitions' high watermarks. */
static long long records_in(srv_t *s, const char *topic) {
  sb_err_t err = SB_ERR_INIT;
  char errstr[256];
  rd_kafka_conf_t *kc = sb_kafka_conf_new(&s->c, &err);
  rd_kafka_t *rk =
      kc ? rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof errstr) : NULL;
  if (rk == NULL)
    return -1;
  long long sum = 0;
  for (int p = 0; p < s->c.partitions; p++) {
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000) != 0) {
      sum = -1;
      break;
    }
    sum += hi;
  }
  rd_kafka_destroy(rk);
  return sum;
}

/* Every tenth event names a lead source the schema does not have. */
static int some_bad(void *arg, char *buf, size_t cap, size_t *len) {
  sb_load_default_t *d = arg;
  int bad = d->n % 10 == 9;
  int rc = sb_load_default_event(d, buf, cap, len);
  if (rc == 0 && bad) {
    char *src = strstr(buf, "\"lead_source\":\"");
    if (src == NULL)
      return SB_EINTERNAL;
    memcpy(src + 15, "xx", 2); /* web_form -> xxb_form, ... */
  }
  return rc;
}

static int progress_calls;
static uint64_t progress_last;
static void on_progress(void *arg, const sb_load_progress_t *p) {
  (void)arg;
  progress_calls++;
  progress_last = p->events;
}

int test_load_http(void) {
  srv_t s;
  sb_err_t err = SB_ERR_INIT;
  sb_load_http_result_t r;
  CHECK(srv_start(&s, NULL) == 0);

  /* batches of 100 over 4 connections */
  sb_load_http_opts_t o = {.url = s.url,
                           .token = s.token,
                           .events = 20000,
                           .connections = 4,
                           .batch = 100,
                           .progress = on_progress};
  CHECK_OK(sb_load_http(&o, &r, &err), &err);
  CHECK_INT(r.offered, 20000);
  CHECK_INT(r.accepted, 20000);
  CHECK_INT(r.rejected, 0);
  CHECK_INT(r.duplicates, 0);
  CHECK_INT(r.errors, 0);
  CHECK_INT(r.requests, 200 + r.retries);
  CHECK(r.seconds > 0 && r.events_per_s > 0);
  CHECK(r.latency_p50_ms > 0 && r.latency_p50_ms <= r.latency_p99_ms &&
        r.latency_p99_ms <= r.latency_max_ms);
  CHECK(r.cpu.user_s + r.cpu.sys_s > 0 && r.cpu.percent > 0);
  CHECK(r.bytes_sent > 20000 * 100 && r.bytes_received > 0);
  CHECK_STR(r.first_error, "");
  CHECK(progress_calls > 0);
  CHECK_INT(progress_last, 20000); /* the last call comes at the end */
  fprintf(stderr,
          "batched: %.0f events/s, p50 %.1f ms, p99 %.1f ms, cpu %.0f%%\n",
          r.events_per_s, r.latency_p50_ms, r.latency_p99_ms, r.cpu.percent);

  /* single events, pipelined */
  o.events = 3000;
  o.batch = 1;
  o.connections = 8;
  o.pipeline = 4;
  CHECK_OK(sb_load_http(&o, &r, &err), &err);
  CHECK_INT(r.accepted, 3000);
  CHECK_INT(r.requests, 3000 + r.retries);
  fprintf(stderr, "single: %.0f events/s, p50 %.1f ms, cpu %.0f%%\n",
          r.events_per_s, r.latency_p50_ms, r.cpu.percent);

  /* NDJSON batches with a bad event in ten: 207s, counted per item */
  sb_load_default_t d;
  sb_load_default_init(&d);
  o.events = 1000;
  o.batch = 50;
  o.connections = 2;
  o.pipeline = 1;
  o.ndjson = 1;
  o.next = some_bad;
  o.next_arg = &d;
  CHECK_OK(sb_load_http(&o, &r, &err), &err);
  CHECK_INT(r.accepted, 900);
  CHECK_INT(r.rejected, 100);
  CHECK_INT(r.errors, 0); /* 207s */
  CHECK_HAS(r.first_error, "400: line "); /* NDJSON errors name the line */
  CHECK_HAS(r.first_error, ": data.lead_source: 'xx");

  /* each accepted event once in Kafka, nothing else */
  CHECK_INT(records_in(&s, SB_TOPIC_LEADS), 20000 + 3000 + 900);

  /* a token the server does not know stops the run at once */
  o = (sb_load_http_opts_t){.url = s.url, .token = "a.b.c", .events = 10};
  CHECK_INT(sb_load_http(&o, &r, &err), SB_EUNAVAIL);
  CHECK_HAS(err.msg, "answered 401");
  srv_stop(&s);
  return 0;
}

/* A producer queue smaller than what is in flight: items answered 429
 * (busy) are sent again, and still each event lands once. */
int test_load_http_retries(void) {
  srv_t s;
  sb_err_t err = SB_ERR_INIT;
  sb_load_http_result_t r;
  CHECK(srv_start(&s, "kafka.queue.buffering.max.messages=300") == 0);
  sb_load_http_opts_t o = {.url = s.url,
                           .token = s.token,
                           .events = 10000,
                           .connections = 4,
                           .batch = 250};
  CHECK_OK(sb_load_http(&o, &r, &err), &err);
  CHECK_INT(r.accepted, 10000);
  CHECK_INT(r.rejected, 0);
  CHECK(r.retries > 0);
  CHECK_HAS(r.first_error, "429");
  CHECK_INT(records_in(&s, SB_TOPIC_LEADS), 10000);
  fprintf(stderr, "with a small queue: %.0f events/s, %llu retries\n",
          r.events_per_s, (unsigned long long)r.retries);
  srv_stop(&s);
  return 0;
}

int test_load_freshness(void) {
  srv_t s;
  sb_err_t err = SB_ERR_INIT;
  sb_load_fresh_result_t r;
  CHECK(srv_start(&s, NULL) == 0);
  /* every event must arrive: a loaded machine (the ASan pass beside other
   * builds) may take longer than the bench's 5 s after the last 202, and
   * waiting costs nothing once all arrived */
  sb_load_fresh_opts_t o = {.url = s.url,
                            .token = s.token,
                            .rate = 2000,
                            .seconds = 2,
                            .grace_ms = 30000};
  CHECK_OK(sb_load_freshness(&o, &r, &err), &err);
  CHECK_INT(r.offered, 4000);
  CHECK_INT(r.sent, 4000);
  CHECK_INT(r.received, 4000);
  CHECK_INT(r.lost, 0);
  CHECK_INT(r.rejected, 0);
  CHECK_INT(r.duplicates, 0);
  CHECK_INT(r.foreign, 0);
  CHECK(r.p50_ms <= r.p99_ms && r.p99_ms <= r.p999_ms && r.p999_ms <= r.max_ms);
  CHECK(r.e2e_p50_ms > 0 && r.post_p50_ms > 0);
  CHECK(r.seconds >= 1.9 && r.accepted_rate > 0);
  CHECK(r.cpu.percent > 0);
  fprintf(stderr,
          "freshness at 2000/s: p50 %.1f p99 %.1f p99.9 %.1f max %.1f ms; "
          "%llu early; behind %.1f ms; cpu %.0f%%\n",
          r.p50_ms, r.p99_ms, r.p999_ms, r.max_ms, (unsigned long long)r.early,
          r.max_behind_ms, r.cpu.percent);
  CHECK_INT(records_in(&s, SB_TOPIC_LEADS), 4000);

  /* a topic the role may not read: the hub's error stops the run */
  static const char *const topics[] = {"sb.nope", NULL};
  o.topics = topics;
  o.seconds = 1;
  CHECK_INT(sb_load_freshness(&o, &r, &err), SB_EUNAVAIL);
  CHECK_HAS(err.msg, "refused the subscription");
  srv_stop(&s);
  return 0;
}

/* Options and addresses refused before anything is sent. */
int test_load_bad_options(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_load_http_result_t r;
  sb_load_fresh_result_t fr;
  sb_load_http_opts_t o = {
      .url = "https://127.0.0.1:1", .token = "t", .events = 1};
  CHECK_INT(sb_load_http(&o, &r, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "plain HTTP only");
  sb_err_clear(&err);
  o.url = "127.0.0.1:8080";
  CHECK_INT(sb_load_http(&o, &r, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "expected http://HOST:PORT");
  sb_err_clear(&err);
  o.url = "http://127.0.0.1:1";
  o.token = NULL;
  CHECK_INT(sb_load_http(&o, &r, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "token is required");
  sb_err_clear(&err);
  o.token = "t";
  o.batch = 10001;
  CHECK_INT(sb_load_http(&o, &r, &err), SB_EINVAL);
  sb_err_clear(&err);
  o.batch = 0;
  CHECK_INT(sb_load_http(&o, &r, &err), SB_EIO); /* nothing listens */
  CHECK_HAS(err.msg, "cannot connect to http://127.0.0.1:1");
  sb_err_clear(&err);
  sb_load_fresh_opts_t f = {
      .url = "http://127.0.0.1:1", .token = "t", .rate = 0, .seconds = 1};
  CHECK_INT(sb_load_freshness(&f, &fr, &err), SB_EINVAL);
  sb_err_clear(&err);
  f.rate = 10;
  CHECK_INT(sb_load_freshness(&f, &fr, &err), SB_EIO);
  CHECK_HAS(err.msg, "cannot connect");

  /* the default events: valid JSON, distinct subjects, too small a buffer
   * asks for the length and keeps the event */
  sb_load_default_t d;
  sb_load_default_init(&d);
  char a[512], b[512], tiny[8];
  size_t la, lb, lt;
  CHECK_INT(sb_load_default_event(&d, tiny, sizeof tiny, &lt), SB_EINVAL);
  CHECK(lt > sizeof tiny);
  CHECK_INT(d.n, 0);
  CHECK_OK(sb_load_default_event(&d, a, sizeof a, &la), &err);
  CHECK_INT(la, lt);
  CHECK_OK(sb_load_default_event(&d, b, sizeof b, &lb), &err);
  CHECK_HAS(a, "\"type\":\"lead.created\"");
  CHECK(strcmp(a, b) != 0);
  cJSON *j = cJSON_Parse(a);
  CHECK(j != NULL);
  cJSON_Delete(j);
  return 0;
}
