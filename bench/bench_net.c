/* The network stages of switchboard bench: HTTP ingest and freshness,
 * through the load generators of sb_load.h. */
#include "sb_bench.h"

int sb_bench_http(sb_bench_env_t *env, sb_bench_result_t *res, sb_err_t *err) {
  (void)env;
  (void)res;
  return sb_err_set(err, SB_ESTATE, "the http stage is being written");
}

int sb_bench_fresh(sb_bench_env_t *env, sb_bench_result_t *res, sb_err_t *err) {
  (void)env;
  (void)res;
  return sb_err_set(err, SB_ESTATE, "the fresh stage is being written");
}
