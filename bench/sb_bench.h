/* The benchmark run of `switchboard bench` (cli/cmd_bench.c): options,
 * figures, and the little the stages share. */
#ifndef SB_BENCH_H
#define SB_BENCH_H

#include "sb_err.h"

#include <stddef.h>
#include <stdint.h>

#define SB_BENCH_MAX_WORKERS 8
#define SB_BENCH_STAGES "produce,ceiling,e2e,replay,http,fresh"

typedef struct sb_bench_opts_s {
  size_t events;
  uint64_t seed;
  int tenants;
  const char *mix;
  int partitions; /* at least; raised until the data fits */
  int batch_events, batch_ms;
  unsigned stages; /* bit per stage of SB_BENCH_STAGES, in that order */
  size_t http_events;
  int http_connections, http_batch;
  int fresh_rate, fresh_seconds;
  const char *json; /* NULL: no file */
  int keep;         /* keep the data directory */
  int workers;      /* `run` processes in the e2e stage */
} sb_bench_opts_t;

typedef struct sb_bench_result_s {
  char machine[256];
  int cores;
  size_t events;
  uint64_t bytes;
  int partitions;
  double generate_seconds;
  double produce_eps, produce_mbps, produce_seconds;
  double ceiling_eps, ceiling_mbps;
  double e2e_eps, e2e_wall_eps, e2e_seconds;
  uint64_t engine_peak_rss, engine_rss_first, engine_rss_end;
  uint64_t engine_rss_at[10]; /* when 10%, 20%, ... of the records were committed */
  double replay_eps, replay_seconds;
  double http_batch_eps, http_single_eps;
  double fresh_p50_ms, fresh_p99_ms, fresh_p999_ms, fresh_max_ms;
  double fresh_e2e_p50_ms, fresh_e2e_p99_ms; /* from the request's write */
  uint64_t fresh_sent, fresh_received;
} sb_bench_result_t;

typedef struct sb_bench_env_s {
  const sb_bench_opts_t *o;
  char data_dir[512];
  char log[600];
  char brokers[256];
  char database_url[512];
  char http_url[128];
  int warmed; /* the HTTP API has answered a first load */
} sb_bench_env_t;

typedef struct sb_bench_progress_s {
  double started, last;
  unsigned lines;
} sb_bench_progress_t;

double sb_bench_now(void);
/* The network stages (bench/bench_net.c). */
int sb_bench_http(sb_bench_env_t *env, sb_bench_result_t *res, sb_err_t *err);
int sb_bench_fresh(sb_bench_env_t *env, sb_bench_result_t *res, sb_err_t *err);
/* A progress line on stderr, at most once a second (and at the end). */
void sb_bench_progress(sb_bench_progress_t *p, const char *stage, uint64_t done,
                       uint64_t total);

#endif
