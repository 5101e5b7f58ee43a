/* The network stages of switchboard bench: HTTP ingest (batched and single)
 * and freshness, through the load generators of sb_load.h, against the
 * instance's HTTP API, with a token minted from its secret. */
#include "sb_auth.h"
#include "sb_bench.h"
#include "sb_load.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* An admin token of tenant "bench", valid for an hour. */
int sb_bench_mint(const sb_bench_env_t *env, char *out, size_t cap,
                  sb_err_t *err) {
  unsigned char secret[SB_AUTH_SECRET_MAX];
  size_t len = sizeof secret;
  if (sb_auth_secret_load(env->data_dir, 0, secret, &len, err) != 0)
    return err->code;
  sb_claims_t c;
  memset(&c, 0, sizeof c);
  snprintf(c.sub, sizeof c.sub, "bench");
  snprintf(c.tenant, sizeof c.tenant, "bench");
  c.role = SB_ROLE_ADMIN;
  c.iat = (int64_t)time(NULL);
  c.exp = c.iat + 3600;
  return sb_jwt_sign(secret, len, &c, out, cap, err);
}

typedef struct {
  sb_bench_progress_t pr;
  const char *stage;
  uint64_t total;
} prog_t;

static void on_progress(void *arg, const sb_load_progress_t *p) {
  prog_t *g = arg;
  sb_bench_progress(&g->pr, g->stage, p->events, g->total);
}

static int one_http(const sb_bench_env_t *env, const char *token, int batch,
                    size_t events, const char *stage, double *eps,
                    sb_err_t *err) {
  prog_t g = {.stage = stage, .total = events};
  sb_load_http_opts_t o = {
      .url = env->http_url,
      .token = token,
      .events = events,
      .connections = env->o->http_connections,
      .batch = batch,
      .progress = on_progress,
      .progress_arg = &g,
  };
  sb_load_http_result_t r;
  int rc = sb_load_http(&o, &r, err);
  if (rc != 0)
    return rc;
  if (r.accepted != events)
    return sb_err_set(err, SB_EINTERNAL, "%s: %llu of %zu events accepted (%s)",
                      stage, (unsigned long long)r.accepted, events,
                      r.first_error);
  sb_bench_progress(&g.pr, stage, r.accepted, events);
  *eps = r.events_per_s;
  fprintf(stderr, "%s: %.0f ev/s, request p50 %.2f ms p99 %.2f ms, load "
                  "generator %.0f%% of a core\n",
          stage, r.events_per_s, r.latency_p50_ms, r.latency_p99_ms,
          r.cpu.percent);
  return 0;
}

/* A fresh server's first answers wait for Kafka's metadata (about a
 * second): a few thousand events first, measured by nobody. */
static int warm_up(sb_bench_env_t *env, const char *token, sb_err_t *err) {
  if (env->warmed)
    return 0;
  sb_load_http_opts_t o = {.url = env->http_url, .token = token,
                           .events = 2000, .batch = 100};
  sb_load_http_result_t r;
  int rc = sb_load_http(&o, &r, err);
  env->warmed = rc == 0;
  return rc;
}

int sb_bench_http(sb_bench_env_t *env, sb_bench_result_t *res, sb_err_t *err) {
  char token[SB_JWT_MAX + 1];
  int rc = sb_bench_mint(env, token, sizeof token, err);
  if (rc == 0)
    rc = warm_up(env, token, err);
  if (rc == 0)
    rc = one_http(env, token, env->o->http_batch, env->o->http_events,
                  "http batched", &res->http_batch_eps, err);
  /* single events: a tenth as many, they are slower by nature */
  size_t single = env->o->http_events / 10 > 1000 ? env->o->http_events / 10
                                                  : 1000;
  if (rc == 0)
    rc = one_http(env, token, 1, single, "http single", &res->http_single_eps,
                  err);
  return rc;
}

int sb_bench_fresh(sb_bench_env_t *env, sb_bench_result_t *res, sb_err_t *err) {
  char token[SB_JWT_MAX + 1];
  int rc = sb_bench_mint(env, token, sizeof token, err);
  if (rc == 0)
    rc = warm_up(env, token, err);
  if (rc != 0)
    return rc;
  prog_t g = {.stage = "fresh",
              .total = (uint64_t)env->o->fresh_rate * (uint64_t)env->o->fresh_seconds};
  sb_load_fresh_opts_t o = {
      .url = env->http_url,
      .token = token,
      .rate = env->o->fresh_rate,
      .seconds = env->o->fresh_seconds,
      .progress = on_progress,
      .progress_arg = &g,
  };
  sb_load_fresh_result_t r;
  if ((rc = sb_load_freshness(&o, &r, err)) != 0)
    return rc;
  if (r.lost > 0 || r.received != r.sent)
    return sb_err_set(err, SB_EINTERNAL, "fresh: %llu of %llu events reached "
                                         "the WebSocket client",
                      (unsigned long long)r.received,
                      (unsigned long long)r.sent);
  res->fresh_p50_ms = r.p50_ms;
  res->fresh_p99_ms = r.p99_ms;
  res->fresh_p999_ms = r.p999_ms;
  res->fresh_max_ms = r.max_ms;
  res->fresh_sent = r.sent;
  res->fresh_received = r.received;
  res->fresh_e2e_p50_ms = r.e2e_p50_ms;
  res->fresh_e2e_p99_ms = r.e2e_p99_ms;
  fprintf(stderr, "fresh: %.0f ev/s accepted of %.0f offered; %llu arrived "
                  "before their 202; posting fell behind by %.1f ms at most; "
                  "load generator %.0f%% of a core\n",
          r.accepted_rate, r.offered_rate, (unsigned long long)r.early,
          r.max_behind_ms, r.cpu.percent);
  return 0;
}
