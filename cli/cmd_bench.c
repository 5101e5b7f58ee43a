/* switchboard bench: throughput and latency in one run on one machine,
 * against the ceiling the same machine allows.
 *
 * The run owns everything it measures: it generates the events first
 * (seeded, in memory, so generation is not part of any figure), sizes the
 * partitions so the embedded broker keeps every record, starts
 * `switchboard up --processors none` as a child (broker, private
 * PostgreSQL, HTTP API) and then, one stage at a time:
 *
 *   produce    the records into Kafka from this process
 *   ceiling    a bare consumer reading them all back (sb_logscan)
 *   sink       the audit processor's rows for them, built beforehand,
 *              written by binary COPY into its table, a transaction a
 *              batch: PostgreSQL's ceiling (bench/bench_sink.c)
 *   e2e        `switchboard run` (every processor) from the first record to
 *              the last committed offset, as a child whose memory is read
 *   replay     `switchboard replay audit`: rebuild from the earliest offset
 *   http       POST /v1/events, batched and single (bench/sb_load.h)
 *   fresh      202-to-WebSocket latency at a fixed offered rate
 *
 * Every stage checks that it saw every record, or it fails: a figure over
 * fewer records than claimed means nothing. The stages other than e2e and
 * replay, the plumbing and the report live in bench/ (sb_bench.h). */
#include "audit.h"
#include "sb_bench.h"
#include "sb_cmds.h"
#include "sb_pipeline.h"
#include "sb_gen.h"
#include "sb_log.h"
#include "sb_logread.h"
#include "sb_pg.h"
#include "sb_processor.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PARTITIONS 256

/* ---- stages ------------------------------------------------------------ */

static int committed(sb_pg_t *pg, const char *processor, uint64_t *out,
                     sb_err_t *err) {
  char v[32] = "0";
  int found = 0;
  int rc = sb_pg_query1(
      pg,
      "SELECT coalesce(sum(o.next_offset), 0) FROM sb.consumer_offsets o "
      "JOIN sb.processors p ON o.consumer_group = p.consumer_group "
      "WHERE p.name = $1",
      1, &processor, v, sizeof v, &found, NULL, err);
  *out = strtoull(v, NULL, 10);
  return rc;
}

/* With processors that emit derived events (--e2e-processors), the stage
 * ends when every processor of the list has committed the end of every
 * topic it reads, twice in a row with the log's end unchanged: *records is
 * then every record of the domain topics (the generated ones and the
 * derived). */
static int caught_up(sb_pg_t *pg, sb_logread_t *lr, const char *list,
                     int *yes, uint64_t *records, sb_err_t *err) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", list);
  *yes = 1;
  *records = 0;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sb_topics_n; i++) {
    if (strcmp(sb_topics[i], SB_TOPIC_DEADLETTER) == 0)
      continue;
    int n = 0;
    rc = sb_logread_partitions(lr, sb_topics[i], &n, err);
    for (int p = 0; rc == 0 && p < n; p++) {
      int64_t lo, hi;
      if ((rc = sb_logread_watermarks(lr, sb_topics[i], p, &lo, &hi, err)) == 0)
        *records += (uint64_t)hi;
    }
  }
  for (char *save = NULL, *name = strtok_r(buf, ",", &save);
       rc == 0 && name && *yes; name = strtok_r(NULL, ",", &save)) {
    const sb_processor_vt_t *vt = sb_processor_find(name);
    uint64_t done = 0, end = 0;
    if (vt == NULL)
      return sb_err_set(err, SB_EUSAGE, "--e2e-processors: unknown processor "
                                        "'%.40s'",
                        name);
    for (size_t t = 0; rc == 0 && vt->topics[t]; t++) {
      int n = 0;
      rc = sb_logread_partitions(lr, vt->topics[t], &n, err);
      for (int p = 0; rc == 0 && p < n; p++) {
        int64_t lo, hi;
        if ((rc = sb_logread_watermarks(lr, vt->topics[t], p, &lo, &hi,
                                        err)) == 0)
          end += (uint64_t)hi;
      }
    }
    if (rc == 0)
      rc = committed(pg, name, &done, err);
    if (done != end)
      *yes = 0;
  }
  return rc;
}

static int stage_e2e(const sb_conf_t *c, sb_bench_env_t *env,
                     const sb_bench_records_t *rs, sb_bench_result_t *res,
                     sb_err_t *err) {
  const char *list = env->o->e2e_processors;
  int audit_only = strcmp(list, "audit") == 0;
  /* the progress: audit's committed offsets, or the first processor's */
  char progress_of[64];
  snprintf(progress_of, sizeof progress_of, "%.*s", (int)strcspn(list, ","),
           list);
  if (strstr(list, "audit") != NULL)
    snprintf(progress_of, sizeof progress_of, "audit");
  char batch[48], ms[48];
  snprintf(batch, sizeof batch, "batch.max_events=%d", env->o->batch_events);
  snprintf(ms, sizeof ms, "batch.max_ms=%d", env->o->batch_ms);
  /* by default the audit processor: the one the sink stage is the ceiling
   * of and whose chains it compares (committed offsets = records). Others
   * (--e2e-processors) may emit derived events (routing: lead.scored,
   * routing.input; compliance: consent.opt_out_honoured): then the stage
   * waits for every processor to commit the log's end (caught_up), counts
   * the derived records apart, and no chain is compared (run_bench). */
  const char *argv[] = {"switchboard", "run", "--data-dir", env->data_dir,
                        "--processors", list, "--set", batch, "--set", ms,
                        env->o->worker_set ? "--set" : NULL,
                        env->o->worker_set, NULL};
  /* workers of the same consumer groups: Kafka spreads the partitions */
  sb_bench_child_t ws[SB_BENCH_MAX_WORKERS] = {{0}};
  int nw = env->o->workers;
  sb_pg_t *pg = NULL;
  sb_logread_t *lr = NULL;
  int rc = sb_pg_connect(env->database_url, &pg, err);
  if (rc == 0 && !audit_only)
    rc = sb_logread_open(c, &lr, err);
  for (int i = 0; rc == 0 && i < nw; i++)
    rc = sb_bench_spawn(argv, 0, env->log, &ws[i], err);
  sb_bench_child_t *w = &ws[0];
  double started = sb_bench_now(), first = 0;
  uint64_t done = 0, rss_first = 0, rss_max = 0, records = 0, was = 0;
  double caught = 0, looked = 0; /* when all were first seen caught up */
  sb_bench_progress_t pr = {0};
  while (rc == 0 &&
         (audit_only ? done < rs->n : caught == 0 || records != was)) {
    usleep(20 * 1000);
    int status;
    for (int i = 0; i < nw && rc == 0; i++)
      if (waitpid(ws[i].pid, &status, WNOHANG) == ws[i].pid) {
        ws[i].pid = 0;
        rc = sb_err_set(err, SB_EINTERNAL, "a worker exited (see %s)",
                        env->log);
      }
    if (rc != 0)
      break;
    if ((rc = committed(pg, progress_of, &done, err)) != 0)
      break;
    /* the log's ends: a round trip a partition, five times a second */
    if (!audit_only && sb_bench_now() - looked >= 0.2) {
      int yes;
      looked = sb_bench_now();
      was = records;
      if ((rc = caught_up(pg, lr, list, &yes, &records, err)) != 0)
        break;
      if (!yes || records < rs->n)
        caught = 0;
      else if (caught == 0)
        caught = sb_bench_now(), was = records + 1; /* once more, to see */
    }
    if (!audit_only && done >= rs->n) /* the progress counts the generated */
      done = rs->n - 1; /* records: all of them once every one is done */
    if (done > 0 && first == 0) {
      first = sb_bench_now();
      rss_first = sb_bench_current_rss(w->pid);
    }
    uint64_t rss = sb_bench_current_rss(w->pid); /* VmHWM is updated lazily */
    if (rss > rss_max)
      rss_max = rss;
    /* the worker's memory at each tenth of the way: flat or growing */
    for (size_t k = 1; k <= 10; k++)
      if (res->engine_rss_at[k - 1] == 0 && done * 10 >= rs->n * k)
        res->engine_rss_at[k - 1] = rss;
    sb_bench_progress(&pr, "e2e", done, rs->n);
    double limit = 600 + (double)rs->n / 2000; /* 2k ev/s would be broken */
    if (sb_bench_now() - started > limit)
      rc = sb_err_set(err, SB_ETIMEDOUT, "e2e: %llu of %zu committed after "
                                         "%.0f s", (unsigned long long)done,
                      rs->n, limit);
  }
  double end = audit_only || caught == 0 ? sb_bench_now() : caught;
  sb_logread_close(lr);
  if (rc == 0 && !audit_only) { /* every record committed by every one */
    done = rs->n;
    res->e2e_derived = records - rs->n;
  }
  if (w->pid > 0) { /* of the first worker */
    res->engine_peak_rss = sb_bench_peak_rss(w->pid);
    if (rss_max > res->engine_peak_rss)
      res->engine_peak_rss = rss_max;
    res->engine_rss_first = rss_first;
    res->engine_rss_end = sb_bench_current_rss(w->pid);
    if (res->engine_rss_at[9] == 0 && rc == 0 && !audit_only)
      res->engine_rss_at[9] = res->engine_rss_end;
  }
  if (rc == 0 && !audit_only)
    sb_bench_progress(&pr, "e2e", rs->n, rs->n);
  for (int i = 0; i < nw; i++)
    sb_bench_child_stop(&ws[i], SIGTERM);
  sb_pg_close(pg);
  if (rc != 0)
    return rc;
  if (done != rs->n)
    return sb_err_set(err, SB_EINTERNAL, "e2e: committed %llu offsets for %zu "
                                         "records",
                      (unsigned long long)done, rs->n);
  res->e2e_seconds = end - started;
  res->e2e_eps = (double)rs->n / (end - first);
  res->e2e_wall_eps = (double)rs->n / (end - started);
  res->e2e_all_eps = (double)(rs->n + res->e2e_derived) / (end - first);
  return 0;
}

static int stage_replay(sb_bench_env_t *env, const sb_bench_records_t *rs,
                        sb_bench_result_t *res, sb_err_t *err) {
  const char *argv[] = {"switchboard", "replay", "--processor", "audit",
                        "--from", "earliest", "--data-dir", env->data_dir,
                        NULL};
  sb_bench_child_t w = {0};
  double t0 = sb_bench_now();
  int rc = sb_bench_spawn(argv, 0, env->log, &w, err);
  if (rc != 0)
    return rc;
  fprintf(stderr, "replay: rebuilding the audit projection from the earliest "
                  "offset...\n");
  int status = 0;
  waitpid(w.pid, &status, 0);
  w.pid = 0;
  double secs = sb_bench_now() - t0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return sb_err_set(err, SB_EINTERNAL, "replay failed (see %s)", env->log);
  sb_pg_t *pg = NULL;
  char v[32] = "0";
  int found = 0;
  rc = sb_pg_connect(env->database_url, &pg, err);
  if (rc == 0)
    rc = sb_pg_query1(pg, "SELECT count(*) FROM audit.events", 0, NULL, v,
                      sizeof v, &found, NULL, err);
  sb_pg_close(pg);
  if (rc == 0 && strtoull(v, NULL, 10) < rs->n)
    rc = sb_err_set(err, SB_EINTERNAL, "replay: audit.events holds %s rows "
                                       "for %zu records",
                    v, rs->n);
  res->replay_seconds = secs;
  res->replay_eps = (double)rs->n / secs;
  return rc;
}

/* ---- the command ----------------------------------------------------------- */

/* The option name as a whole number in [lo, hi], or def when absent. */
static int opt_ll(const sb_cli_t *cli, const char *name, long long lo,
                  long long hi, long long def, long long *out, sb_err_t *err) {
  const char *v = sb_cli_opt(cli, name);
  *out = def;
  if (v == NULL)
    return 0;
  if (sb_parse_ll(v, out) != 0 || *out < lo || *out > hi)
    return sb_err_set(err, SB_EUSAGE, "--%s must be a whole number from %lld "
                                      "to %lld (got '%.40s')",
                      name, lo, hi, v);
  return 0;
}

static int parse_stages(const char *v, unsigned *out, sb_err_t *err) {
  static const char *const names[] = {"produce", "ceiling", "e2e", "replay",
                                      "http",    "fresh",   "sink",
                                      "routing"};
  if (v == NULL || strcmp(v, "all") == 0) {
    *out = (1u << SB_ARRAY_LEN(names)) - 1;
    return 0;
  }
  *out = 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", v);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    size_t i = 0;
    while (i < SB_ARRAY_LEN(names) && strcmp(names[i], t) != 0)
      i++;
    if (i == SB_ARRAY_LEN(names))
      return sb_err_set(err, SB_EUSAGE, "--stages: unknown stage '%.40s' "
                                        "(choose from %s, or all)",
                        t, SB_BENCH_STAGES);
    *out |= 1u << i;
  }
  /* what the later stages stand on */
  if (*out & (1u << 1 | 1u << 2 | 1u << 3))
    *out |= 1u << 0;
  if (*out & (1u << 3))
    *out |= 1u << 2;
  return 0;
}

/* --e2e-processors: a comma list of built-in processors' names. */
static int check_processors(const char *list, sb_err_t *err) {
  char buf[256];
  size_t n = strlen(list);
  if (n == 0 || n >= sizeof buf ||
      strspn(list, "abcdefghijklmnopqrstuvwxyz0123456789_,") != n)
    return sb_err_set(err, SB_EUSAGE, "--e2e-processors: a comma list of "
                                      "processor names (got '%.40s')",
                      list);
  memcpy(buf, list, n + 1);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
       t = strtok_r(NULL, ",", &save))
    if (sb_processor_find(t) == NULL)
      return sb_err_set(err, SB_EUSAGE, "--e2e-processors: unknown processor "
                                        "'%.40s'",
                        t);
  return 0;
}

static int opts_from_cli(const sb_cli_t *cli, sb_bench_opts_t *o, sb_err_t *err) {
  long long events, seed, tenants, http_events, conns, batch, rate, secs;
  memset(o, 0, sizeof *o);
  int rc = opt_ll(cli, "events", 1000, 100000000, 1000000, &events, err);
  if (rc == 0)
    rc = opt_ll(cli, "seed", 0, 0x7fffffffffffffffll, 1, &seed, err);
  if (rc == 0)
    rc = opt_ll(cli, "tenants", 1, SB_GEN_MAX_TENANTS, 10, &tenants, err);
  if (rc == 0)
    rc = opt_ll(cli, "http-events", 1000, 100000000,
                events < 500000 ? events : 500000, &http_events, err);
  if (rc == 0)
    rc = opt_ll(cli, "http-connections", 1, 1024, 16, &conns, err);
  if (rc == 0)
    rc = opt_ll(cli, "http-batch", 1, 10000, 100, &batch, err);
  if (rc == 0)
    rc = opt_ll(cli, "fresh-rate", 1, 1000000, 10000, &rate, err);
  if (rc == 0)
    rc = opt_ll(cli, "fresh-seconds", 1, 3600, 5, &secs, err);
  long long workers;
  if (rc == 0)
    rc = opt_ll(cli, "workers", 1, SB_BENCH_MAX_WORKERS, 1, &workers, err);
  long long rt_leads, rt_rate, rt_secs;
  if (rc == 0)
    rc = opt_ll(cli, "routing-leads", 0, 1000000, 5000, &rt_leads, err);
  if (rc == 0)
    rc = opt_ll(cli, "routing-rate", 1, 100000, 200, &rt_rate, err);
  if (rc == 0)
    rc = opt_ll(cli, "routing-seconds", 1, 3600, 5, &rt_secs, err);
  if (rc == 0)
    rc = parse_stages(sb_cli_opt(cli, "stages"), &o->stages, err);
  o->e2e_processors = sb_cli_opt(cli, "e2e-processors");
  if (o->e2e_processors == NULL)
    o->e2e_processors = "audit";
  if (rc == 0)
    rc = check_processors(o->e2e_processors, err);
  o->worker_set = sb_cli_opt(cli, "worker-set");
  if (rc == 0 && o->worker_set &&
      (strchr(o->worker_set, '=') == NULL || strlen(o->worker_set) > 200))
    rc = sb_err_set(err, SB_EUSAGE, "--worker-set: KEY=VALUE (got '%.40s')",
                    o->worker_set);
  if (rc != 0)
    return rc;
  o->routing_leads = (size_t)rt_leads;
  o->routing_rate = (int)rt_rate;
  o->routing_seconds = (int)rt_secs;
  o->events = (size_t)events;
  o->seed = (uint64_t)seed;
  o->tenants = (int)tenants;
  o->mix = sb_cli_opt(cli, "mix");
  o->partitions = sb_conf_origin(&cli->conf, "partitions") >= SB_CO_FILE
                      ? cli->conf.partitions
                      : 1;
  o->batch_events = cli->conf.batch_max_events;
  o->batch_ms = cli->conf.batch_max_ms;
  o->http_events = (size_t)http_events;
  o->http_connections = (int)conns;
  o->http_batch = (int)batch;
  o->fresh_rate = (int)rate;
  o->fresh_seconds = (int)secs;
  o->workers = (int)workers;
  o->json = sb_cli_opt(cli, "json");
  o->keep = sb_cli_opt(cli, "keep") != NULL;
  return 0;
}

/* The sink stage writes the audit processor's rows into its tables: the
 * bench library includes no processor, so they come from here. */
static int audit_tables(sb_pg_t *owner, const char *schema, sb_err_t *err) {
  return sb_processor_create_tables(owner, &sb_audit_processor, schema, err);
}

static void audit_hash(const sb_bench_row_t *r, unsigned char out[32]) {
  sb_audit_row_t a = {
      .prev_hash = r->prev_hash, .seq = r->seq, .tenant_id = r->tenant_id,
      .topic = r->topic, .partition = r->partition, .offset = r->offset,
      .event_id = r->event_id, .type = r->type, .subject = r->subject,
      .occurred_at = r->occurred_at, .payload = r->payload,
      .payload_len = r->payload_len};
  sb_audit_hash(&a, out);
}

static int run_bench(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  sb_bench_opts_t o;
  sb_bench_result_t res;
  sb_bench_env_t env;
  sb_bench_records_t rs = {0};
  sb_bench_child_t up = {0};
  sb_bench_sink_t sink = {.create = audit_tables, .hash = audit_hash};
  memset(&res, 0, sizeof res);
  memset(&env, 0, sizeof env);
  env.o = &o;
  signal(SIGPIPE, SIG_IGN);
  if (opts_from_cli(cli, &o, &err) != 0)
    return sb_cli_fail(cli, &err);
  sb_bench_describe_machine(&res);
  res.events = o.events;

  /* a fresh instance of our own, beside any other */
  snprintf(env.data_dir, sizeof env.data_dir, "%s/bench-XXXXXX",
           cli->conf.data_dir);
  int rc = sb_mkdir_p(cli->conf.data_dir, 0755, &err);
  if (rc == 0 && mkdtemp(env.data_dir) == NULL)
    rc = sb_err_set(&err, SB_EIO, "cannot create %s: %s", env.data_dir,
                    strerror(errno));
  if (rc == 0)
    chmod(env.data_dir, 0755); /* the private server's user must reach it */
  snprintf(env.log, sizeof env.log, "%s/bench.log", env.data_dir);

  /* the generated records, unless only stages of their own run */
  unsigned need_records = SB_BENCH_PRODUCE | SB_BENCH_CEILING | SB_BENCH_E2E |
                          SB_BENCH_REPLAY | SB_BENCH_SINK;
  if (rc == 0 && !(o.stages & need_records))
    res.events = 0;
  if (rc == 0 && (!(o.stages & need_records) ||
                  (rc = sb_bench_generate(&o, &rs, &err)) == 0)) {
    res.bytes = rs.bytes;
    res.generate_seconds = rs.seconds;
    res.partitions = sb_bench_partitions_for(&rs, o.partitions);
    if (o.stages & SB_BENCH_ROUTING)
      res.partitions = sb_bench_routing_partitions(&o, res.partitions);
    if (res.partitions > MAX_PARTITIONS)
      rc = sb_err_set(&err, SB_EUSAGE,
                      "%zu events need %d partitions per topic on the "
                      "embedded broker (at most %d): use fewer --events or "
                      "real brokers",
                      o.events, res.partitions, MAX_PARTITIONS);
  }
  if (rc == 0)
    fprintf(stderr, "starting an instance in %s (%d partitions per topic; "
                    "its log: %s)\n",
            env.data_dir, res.partitions, env.log);
  if (rc == 0)
    rc = sb_bench_start_instance(&env, res.partitions, &up, &err);
  sb_conf_t *c = &cli->conf;
  if (rc == 0)
    rc = sb_conf_set(c, "brokers", env.brokers, SB_CO_FLAG, "bench", &err);
  if (rc == 0 && (o.stages & 1u << 0))
    rc = sb_bench_produce(c, &rs, &res, &err);
  if (rc == 0 && (o.stages & 1u << 1))
    rc = sb_bench_ceiling(c, &rs, &res, &err);
  if (rc == 0 && (o.stages & SB_BENCH_SINK))
    rc = sb_bench_sink(c, &env, &sink, &rs, &res, &err);
  if (rc == 0 && (o.stages & 1u << 2))
    rc = stage_e2e(c, &env, &rs, &res, &err);
  if (rc == 0 && (o.stages & SB_BENCH_SINK) && (o.stages & SB_BENCH_E2E) &&
      strcmp(o.e2e_processors, "audit") == 0)
    rc = sb_bench_sink_compare(&env, &sink, "audit", &res, &err);
  if (rc == 0 && (o.stages & 1u << 3))
    rc = stage_replay(&env, &rs, &res, &err);
  if (rc == 0 && (o.stages & 1u << 4))
    rc = sb_bench_http(&env, &res, &err);
  if (rc == 0 && (o.stages & 1u << 5))
    rc = sb_bench_fresh(&env, &res, &err);
  if (rc == 0 && (o.stages & SB_BENCH_ROUTING))
    rc = sb_bench_routing(c, &env, &res, &err);
  sb_bench_child_stop(&up, SIGTERM);
  sb_bench_sink_clear(&sink);
  sb_bench_records_free(&rs);
  if (rc == 0) {
    sb_bench_print_table(&o, &res);
    if (o.json)
      rc = sb_bench_write_json(o.json, &o, &res, &err);
  }
  if (!o.keep && env.data_dir[0] && rc == 0) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", env.data_dir);
    if (system(cmd) != 0)
      sb_log(SB_LOG_WARN, "bench", "could not remove the data directory",
             SB_F_STR("dir", env.data_dir), SB_F_END);
  }
  if (rc != 0)
    return sb_cli_fail(cli, &err);
  return 0;
}

static const char *const bench_keys[] = {"data_dir", "partitions",
                                         "batch.max_events", "batch.max_ms",
                                         NULL};

const sb_cmd_t sb_cmd_bench = {
    .name = "bench",
    .summary = "Measure throughput and latency against this machine's ceiling",
    .usage = "bench [--events N] [--stages LIST] [--json FILE] [options]",
    .about =
        "Generates --events realistic events (seeded), starts its own "
        "instance (embedded broker\nwith enough partitions to keep every "
        "record, private PostgreSQL, HTTP API) under\ndata_dir/bench-*, and "
        "measures, one stage at a time (" SB_BENCH_STAGES "):\n"
        "  produce   events/s and MB/s into Kafka\n"
        "  ceiling   a bare librdkafka consumer reading them back: the upper "
        "bound here\n"
        "  sink      the audit processor's rows for the same records, built "
        "beforehand, by\n            binary COPY into its table, a "
        "transaction a batch: PostgreSQL's ceiling\n"
        "  e2e       the audit processor (or --e2e-processors) writing to "
        "PostgreSQL, first\n            record to last committed offset, "
        "and the ratio to each ceiling; the\n            engine's peak "
        "memory\n"
        "  replay    rebuilding the audit projection from the earliest "
        "offset\n"
        "  http      POST /v1/events, batched and single\n"
        "  fresh     latency from an HTTP 202 to the event at a WebSocket "
        "client\n"
        "  routing   routing, assignment and campaigns deciding a backlog of "
        "leads\n            (decisions/s), then leads posted at a steady "
        "rate: lead event to\n            lead.assigned (p50/p99/p99.9/max) "
        "and lead.assigned to the agent's\n            WebSocket feed "
        "(p50/p99)\nEvery stage checks it saw every record. Prints a table; "
        "--json FILE writes the same\nfigures. The data directory is removed "
        "unless --keep.",
    .conf_keys = bench_keys,
    .opts =
        (const sb_opt_t[]){
            {"events", "N", "Events to generate (default 1000000)"},
            {"seed", "N", "Generator seed (default 1)"},
            {"tenants", "N", "Tenants (default 10)"},
            {"mix", "NAME", "Event mix of the generator (default 'default')"},
            {"stages", "LIST", "Comma list of stages, or all (default)"},
            {"json", "FILE", "Write the figures as JSON"},
            {"http-events", "N", "Events per HTTP stage (default min(events, "
                                 "500000))"},
            {"http-connections", "N", "Concurrent HTTP connections (default 16)"},
            {"http-batch", "N", "Events per batched request (default 100)"},
            {"fresh-rate", "N", "Events/s offered for freshness (default "
                                "10000)"},
            {"fresh-seconds", "N", "Seconds of freshness load (default 5)"},
            {"workers", "N", "`run` workers for the e2e stage (default 1)"},
            {"e2e-processors", "LIST", "Processors of the e2e stage (default "
                                       "audit; e.g. audit,routing,assignment,"
                                       "campaigns: derived events counted "
                                       "apart)"},
            {"worker-set", "KEY=VALUE", "A configuration key for the e2e "
                                        "and routing stages' workers (run "
                                        "--set), e.g. "
                                        "kafka.fetch.wait.max.ms=5"},
            {"routing-leads", "N", "Leads of the routing stage's backlog "
                                   "(default 5000)"},
            {"routing-rate", "N", "Routing stage: leads and agents' events "
                                  "posted a second (default 200)"},
            {"routing-seconds", "N", "Routing stage: seconds at that rate "
                                     "(default 5)"},
            {"keep", NULL, "Keep the data directory and its log"},
            {NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_bench,
};
