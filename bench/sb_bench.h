/* The benchmark run of `switchboard bench` (cli/cmd_bench.c): options,
 * figures, and what the stages share. The run's plumbing is in
 * bench_run.c, the Kafka stages in bench_log.c, the PostgreSQL sink in
 * bench_sink.c, the network stages in bench_net.c, the table and the JSON
 * in bench_report.c. */
#ifndef SB_BENCH_H
#define SB_BENCH_H

#include "sb_codec.h"
#include "sb_conf.h"
#include "sb_err.h"
#include "sb_pg.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define SB_BENCH_MAX_WORKERS 8
#define SB_BENCH_STAGES "produce,ceiling,sink,e2e,replay,http,fresh,routing"

/* The stages: bits of sb_bench_opts_t.stages (new ones only appended). */
enum {
  SB_BENCH_PRODUCE = 1u << 0,
  SB_BENCH_CEILING = 1u << 1,
  SB_BENCH_E2E = 1u << 2,
  SB_BENCH_REPLAY = 1u << 3,
  SB_BENCH_HTTP = 1u << 4,
  SB_BENCH_FRESH = 1u << 5,
  SB_BENCH_SINK = 1u << 6,
  SB_BENCH_ROUTING = 1u << 7,
};

typedef struct sb_bench_opts_s {
  size_t events;
  uint64_t seed;
  int tenants;
  const char *mix;
  int partitions; /* at least; raised until the data fits */
  int batch_events, batch_ms;
  unsigned stages; /* SB_BENCH_* */
  size_t http_events;
  int http_connections, http_batch;
  int fresh_rate, fresh_seconds;
  const char *json; /* NULL: no file */
  int keep;         /* keep the data directory */
  int workers;      /* `run` processes in the e2e stage */
  /* the e2e stage's processors (default "audit"); with others, derived
   * events are counted apart and the sink's chains are not compared */
  const char *e2e_processors;
  /* the routing stage (bench_routing.c): leads routed as a backlog, over
   * all tenants; events posted a second (leads, and agents' events) and
   * for how long at a steady rate */
  size_t routing_leads;
  int routing_rate, routing_seconds;
  /* KEY=VALUE for the e2e and routing stages' workers (`run --set`), or
   * NULL */
  const char *worker_set;
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
  double sink_eps, sink_mbps, sink_seconds; /* MB: of COPY data */
  size_t sink_batches;
  uint64_t sink_bytes;
  /* after e2e: the sink's audit chains whose heads equal the live ones */
  int sink_compared;
  uint64_t sink_chains, sink_chains_same;
  double e2e_eps, e2e_wall_eps, e2e_seconds;
  uint64_t engine_peak_rss, engine_rss_first, engine_rss_end;
  uint64_t engine_rss_at[10]; /* when 10%, 20%, ... of the records were committed */
  double replay_eps, replay_seconds;
  double http_batch_eps, http_single_eps;
  double fresh_p50_ms, fresh_p99_ms, fresh_p999_ms, fresh_max_ms;
  double fresh_e2e_p50_ms, fresh_e2e_p99_ms; /* from the request's write */
  uint64_t fresh_sent, fresh_received;
  /* e2e with processors that emit: records past the generated ones */
  uint64_t e2e_derived;
  double e2e_all_eps; /* every record the audit group committed, a second */
  /* routing (bench_routing.c): a backlog, decisions a second */
  uint64_t rt_backlog_leads, rt_backlog_assigned, rt_backlog_agents;
  double rt_backlog_dps, rt_backlog_wall_dps, rt_backlog_seconds;
  /* at a steady rate: lead event -> lead.assigned (Kafka timestamps) */
  uint64_t rt_leads, rt_agent_events, rt_agents, rt_assigned, rt_direct,
      rt_waited;
  double rt_rate, rt_p50_ms, rt_p99_ms, rt_p999_ms, rt_max_ms;
  /* lead.assigned's Kafka timestamp -> its arrival on the WebSocket */
  uint64_t rt_feed_received;
  double rt_feed_p50_ms, rt_feed_p99_ms, rt_feed_max_ms;
  char rt_zone[64]; /* the leads' time zone (daytime at the run) */
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

/* The generated events as Kafka records, in memory, with their sizes by
 * topic (sb_bench_generate; free with sb_bench_records_free). */
typedef struct {
  sb_record_t *r;
  size_t n;
  uint64_t bytes;                  /* keys and values */
  uint64_t topic_bytes[16];        /* by index of sb_topics */
  uint64_t topic_events[16];
  double seconds;
  sb_schemas_t *schemas; /* the records' types point into it */
} sb_bench_records_t;

/* A `switchboard` child of the run (sb_bench_spawn). */
typedef struct {
  pid_t pid;
  FILE *out; /* its stdout, or NULL */
} sb_bench_child_t;

/* ---- the run (bench_run.c) ------------------------------------------------ */

/* Seconds on the monotonic clock. */
double sb_bench_now(void);
/* Generates o->events events and converts each to its Kafka record, as
 * import and HTTP ingest would. *out is owned by the caller, also on
 * failure (sb_bench_records_free). */
int sb_bench_generate(const sb_bench_opts_t *o, sb_bench_records_t *out,
                      sb_err_t *err);
void sb_bench_records_free(sb_bench_records_t *rs);
/* The index of topic name in sb_topics (the first 16), or -1. */
int sb_bench_topic_index(const char *name);
/* Partitions per topic for the records, at least asked. */
int sb_bench_partitions_for(const sb_bench_records_t *rs, int asked);
/* Starts this program (/proc/self/exe) with argv, its stderr appended to
 * log, its stdout to c->out when want_stdout (else /dev/null). */
int sb_bench_spawn(const char *const *argv, int want_stdout, const char *log,
                   sb_bench_child_t *c, sb_err_t *err);
/* Sends sig, waits, closes c->out; the wait status. */
int sb_bench_child_stop(sb_bench_child_t *c, int sig);
/* Peak (VmHWM) and current (VmRSS) resident set of pid, bytes; 0 unknown. */
uint64_t sb_bench_peak_rss(pid_t pid);
uint64_t sb_bench_current_rss(pid_t pid);
/* The CPU model and the cores online, into res. */
void sb_bench_describe_machine(sb_bench_result_t *res);
/* `switchboard up --processors none` on env->data_dir with partitions per
 * topic; fills env's brokers, database_url and http_url. */
int sb_bench_start_instance(sb_bench_env_t *env, int partitions,
                            sb_bench_child_t *up, sb_err_t *err);

/* ---- the stages ----------------------------------------------------------- */

/* The Kafka stages (bench_log.c): every record produced, then read back by
 * a bare consumer. */
int sb_bench_produce(const sb_conf_t *c, const sb_bench_records_t *rs,
                     sb_bench_result_t *res, sb_err_t *err);
int sb_bench_ceiling(const sb_conf_t *c, const sb_bench_records_t *rs,
                     sb_bench_result_t *res, sb_err_t *err);
/* The network stages (bench/bench_net.c). */
int sb_bench_http(sb_bench_env_t *env, sb_bench_result_t *res, sb_err_t *err);
int sb_bench_fresh(sb_bench_env_t *env, sb_bench_result_t *res, sb_err_t *err);
/* An admin token of tenant "bench" for the instance, valid for an hour. */
int sb_bench_mint(const sb_bench_env_t *env, char *out, size_t cap,
                  sb_err_t *err);
/* The routing stage (bench_routing.c): routing, assignment and campaigns
 * as a `run` child; a backlog of leads over o->tenants tenants (decisions
 * a second), then leads posted at o->routing_rate for o->routing_seconds
 * to tenant "bench" (lead event -> lead.assigned, and lead.assigned -> a
 * WebSocket client). Every lead must be assigned exactly once. */
int sb_bench_routing(const sb_conf_t *c, sb_bench_env_t *env,
                     sb_bench_result_t *res, sb_err_t *err);
/* Partitions per topic the routing stage's records need (at least asked). */
int sb_bench_routing_partitions(const sb_bench_opts_t *o, int asked);
/* ---- the PostgreSQL sink (bench_sink.c) ----------------------------------- */

/* What the audit processor's hash covers (processors/audit.h's
 * sb_audit_row_t, field for field): the bench library includes no
 * processor, cli/ hands it the processor's functions. */
typedef struct sb_bench_row_s {
  const unsigned char *prev_hash; /* 32 bytes */
  int64_t seq;
  const char *tenant_id, *topic;
  int32_t partition;
  int64_t offset;
  const char *event_id, *type, *subject;
  int64_t occurred_at; /* microseconds */
  const void *payload;
  size_t payload_len;
} sb_bench_row_t;

typedef struct sb_bench_sink_s {
  /* creates the audit processor's tables in schema, connected as the
   * database owner */
  int (*create)(sb_pg_t *owner, const char *schema, sb_err_t *err);
  /* the audit processor's row hash */
  void (*hash)(const sb_bench_row_t *row, unsigned char out[32]);
  /* the chains the rows made (sb_bench_sink fills, sb_bench_sink_clear
   * frees) */
  struct sb_bench_chains_s *chains;
} sb_bench_sink_t;

/* The stage: builds the audit rows of rs (untimed), makes the audit
 * tables in schema bench_sink (as the owner, from env->data_dir's
 * postgres.state), writes the rows by binary COPY as the application role,
 * batch.max_events rows a transaction (timed), checks the row count, and
 * drops the schema. Fills res->sink_*. */
int sb_bench_sink(const sb_conf_t *c, sb_bench_env_t *env, sb_bench_sink_t *s,
                  const sb_bench_records_t *rs, sb_bench_result_t *res,
                  sb_err_t *err);
/* After the e2e stage: compares schema's chain_heads with the sink's
 * chains (res->sink_compared, sink_chains, sink_chains_same). */
int sb_bench_sink_compare(sb_bench_env_t *env, sb_bench_sink_t *s,
                          const char *schema, sb_bench_result_t *res,
                          sb_err_t *err);
void sb_bench_sink_clear(sb_bench_sink_t *s);

/* A progress line on stderr, at most once a second (and at the end). */
void sb_bench_progress(sb_bench_progress_t *p, const char *stage, uint64_t done,
                       uint64_t total);

/* ---- the figures (bench_report.c) ----------------------------------------- */

void sb_bench_print_table(const sb_bench_opts_t *o, const sb_bench_result_t *r);
int sb_bench_write_json(const char *path, const sb_bench_opts_t *o,
                        const sb_bench_result_t *r, sb_err_t *err);

#endif
