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
 *   ceiling    a bare librdkafka consumer reading them all back
 *   e2e        `switchboard run` (every processor) from the first record to
 *              the last committed offset, as a child whose memory is read
 *   replay     `switchboard replay audit`: rebuild from the earliest offset
 *   http       POST /v1/events, batched and single (bench/sb_load.h)
 *   fresh      202-to-WebSocket latency at a fixed offered rate
 *
 * Every stage checks that it saw every record, or it fails: a figure over
 * fewer records than claimed means nothing. */
#include "sb_bench.h"
#include "sb_cmds.h"
#include "sb_codec.h"
#include "sb_gen.h"
#include "sb_log.h"
#include "sb_logscan.h"
#include "sb_pg.h"
#include "sb_producer.h"
#include "sb_schema.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define PARTITION_BUDGET (3u << 20) /* bytes per partition we fill, of ~5 */
#define MAX_PARTITIONS 256

/* ---- time and progress ---------------------------------------------------- */

double sb_bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sb_bench_progress(sb_bench_progress_t *p, const char *stage, uint64_t done,
                       uint64_t total) {
  double now = sb_bench_now();
  if (p->started == 0)
    p->started = now;
  if (done < total && now - p->last < 1.0)
    return;
  p->last = now;
  double rate = now > p->started ? (double)done / (now - p->started) : 0;
  if (isatty(STDERR_FILENO))
    fprintf(stderr, "\r%-8s %12llu / %llu events  %10.0f ev/s%s", stage,
            (unsigned long long)done, (unsigned long long)total, rate,
            done >= total ? "\n" : "");
  else if (done >= total || p->lines++ % 10 == 0)
    fprintf(stderr, "%s: %llu / %llu events, %.0f ev/s\n", stage,
            (unsigned long long)done, (unsigned long long)total, rate);
}

/* ---- records in memory ----------------------------------------------------- */

typedef struct {
  sb_record_t *r;
  size_t n;
  uint64_t bytes;                  /* keys and values */
  uint64_t topic_bytes[16];        /* by index of sb_topics */
  uint64_t topic_events[16];
  double seconds;
  sb_schemas_t *schemas; /* the records' types point into it */
} records_t;

static int topic_index(const char *name) {
  for (size_t i = 0; i < sb_topics_n && i < 16; i++)
    if (strcmp(sb_topics[i], name) == 0)
      return (int)i;
  return -1;
}

/* Generates n events and converts each to its Kafka record, as import and
 * HTTP ingest would. */
static int generate(const sb_bench_opts_t *o, records_t *out, sb_err_t *err) {
  sb_schemas_t *schemas = NULL;
  sb_codec_t *codec = NULL;
  sb_gen_t *g = NULL;
  char *buf = malloc(SB_GEN_MAX_EVENT);
  memset(out, 0, sizeof *out);
  out->r = calloc(o->events ? o->events : 1, sizeof *out->r);
  sb_gen_opts_t go = {.seed = o->seed, .tenants = o->tenants, .mix = o->mix};
  int rc = buf && out->r ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
  if (rc == 0)
    rc = sb_schemas_load(&schemas, err);
  if (rc == 0)
    rc = sb_codec_new(schemas, &codec, err);
  if (rc == 0)
    rc = sb_gen_new(&go, &g, err);
  sb_bench_progress_t pr = {0};
  double t0 = sb_bench_now();
  for (size_t i = 0; rc == 0 && i < o->events; i++) {
    size_t len;
    cJSON *ce = NULL;
    if ((rc = sb_gen_next(g, buf, SB_GEN_MAX_EVENT, &len, NULL)) != 0 ||
        (rc = sb_json_parse(buf, len, &ce, err)) != 0)
      break;
    rc = sb_codec_from_ce(codec, ce, 0, &out->r[i], err);
    cJSON_Delete(ce);
    if (rc != 0) {
      sb_err_prefix(err, "generated event %zu: ", i);
      break;
    }
    out->n++;
    size_t b = out->r[i].key_len + out->r[i].value_len;
    out->bytes += b;
    int t = topic_index(sb_evtype_topic(out->r[i].type));
    if (t >= 0) {
      out->topic_bytes[t] += b;
      out->topic_events[t]++;
    }
    if ((i & 4095) == 0 || i + 1 == o->events)
      sb_bench_progress(&pr, "generate", i + 1, o->events);
  }
  out->seconds = sb_bench_now() - t0;
  sb_gen_free(g);
  sb_codec_free(codec);
  out->schemas = schemas;
  free(buf);
  return rc;
}

static void records_free(records_t *rs) {
  for (size_t i = 0; i < rs->n; i++)
    sb_record_clear(&rs->r[i]);
  free(rs->r);
  sb_schemas_free(rs->schemas);
}

/* Partitions per topic so that the busiest topic fills each partition to
 * PARTITION_BUDGET at most (the embedded broker drops what is past ~5 MiB). */
static int partitions_for(const records_t *rs, int asked) {
  uint64_t most = 0;
  for (size_t t = 0; t < 16; t++)
    if (rs->topic_bytes[t] + rs->topic_events[t] * 64 > most)
      most = rs->topic_bytes[t] + rs->topic_events[t] * 64; /* + overhead */
  int need = (int)((most + PARTITION_BUDGET - 1) / PARTITION_BUDGET);
  if (need < 1)
    need = 1;
  return asked > need ? asked : need;
}

/* ---- children ---------------------------------------------------------- */

typedef struct {
  pid_t pid;
  FILE *out; /* its stdout, or NULL */
} child_t;

static int spawn(const char *const *argv, int want_stdout, const char *log,
                 child_t *c, sb_err_t *err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  int pipefd[2] = {-1, -1};
  if (want_stdout && pipe(pipefd) != 0)
    return sb_err_set(err, SB_EIO, "pipe: %s", strerror(errno));
  if (want_stdout) {
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
  } else {
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log,
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  int rc = posix_spawn(&c->pid, "/proc/self/exe", &fa, NULL,
                       (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (want_stdout)
    close(pipefd[1]);
  if (rc != 0) {
    if (want_stdout)
      close(pipefd[0]);
    return sb_err_set(err, SB_EIO, "cannot start switchboard %s: %s", argv[1],
                      strerror(rc));
  }
  c->out = want_stdout ? fdopen(pipefd[0], "r") : NULL;
  return 0;
}

static int child_stop(child_t *c, int sig) {
  int status = 0;
  if (c->pid > 0) {
    kill(c->pid, sig);
    waitpid(c->pid, &status, 0);
    c->pid = 0;
  }
  if (c->out)
    fclose(c->out);
  c->out = NULL;
  return status;
}

/* A memory figure of a process from /proc/PID/status ("VmHWM:" the peak
 * resident set, "VmRSS:" the current one), in bytes; 0 when unknown. */
static uint64_t proc_mem(pid_t pid, const char *field) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  unsigned long long kb = 0;
  size_t n = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && sscanf(line + n, " %llu", &kb) == 1)
      break;
  if (f)
    fclose(f);
  return kb * 1024;
}

static uint64_t peak_rss(pid_t pid) { return proc_mem(pid, "VmHWM:"); }
static uint64_t current_rss(pid_t pid) { return proc_mem(pid, "VmRSS:"); }

/* ---- stages ------------------------------------------------------------ */

typedef struct {
  uint64_t acked;
  char error[256];
} produce_tally_t;

static void on_produced(void *opaque, const char *error) {
  produce_tally_t *t = opaque;
  if (error == NULL)
    t->acked++;
  else if (t->error[0] == '\0')
    snprintf(t->error, sizeof t->error, "%s", error);
}

static int stage_produce(const sb_conf_t *c, const records_t *rs,
                         sb_bench_result_t *res, sb_err_t *err) {
  sb_producer_t *p = NULL;
  produce_tally_t tally = {0};
  int rc = sb_producer_new(c, &p, err);
  sb_bench_progress_t pr = {0};
  double t0 = sb_bench_now();
  for (size_t i = 0; rc == 0 && i < rs->n; i++) {
    rc = sb_producer_send_record(p, &rs->r[i], on_produced, &tally, err);
    if ((i & 8191) == 0)
      sb_bench_progress(&pr, "produce", i, rs->n);
  }
  if (rc == 0)
    rc = sb_producer_flush(p, 120000, err);
  double secs = sb_bench_now() - t0;
  sb_bench_progress(&pr, "produce", tally.acked, rs->n);
  sb_producer_free(p);
  if (rc == 0 && tally.acked != rs->n)
    rc = sb_err_set(err, SB_EKAFKA, "produce: %llu of %zu records acknowledged "
                                    "(%s)",
                    (unsigned long long)tally.acked, rs->n, tally.error);
  res->produce_eps = (double)rs->n / secs;
  res->produce_mbps = (double)rs->bytes / secs / 1e6;
  res->produce_seconds = secs;
  return rc;
}

/* Every partition of the domain topics from the beginning, no processing:
 * the most this machine's broker and librdkafka deliver (sb_logscan). */
typedef struct {
  uint64_t total;
  double first, last; /* when the first and the latest records came */
  sb_bench_progress_t pr;
} scan_tally_t;

static int on_scanned(void *ctx, uint64_t records, uint64_t bytes,
                      sb_err_t *err) {
  (void)bytes;
  (void)err;
  scan_tally_t *t = ctx;
  t->last = sb_bench_now();
  if (t->first == 0)
    t->first = t->last;
  sb_bench_progress(&t->pr, "ceiling", records, t->total);
  return 0;
}

static int stage_ceiling(const sb_conf_t *c, const records_t *rs,
                         sb_bench_result_t *res, sb_err_t *err) {
  const char *topics[17];
  size_t nt = 0;
  for (size_t i = 0; i < sb_topics_n && i < 16; i++)
    if (strcmp(sb_topics[i], SB_TOPIC_DEADLETTER) != 0)
      topics[nt++] = sb_topics[i];
  topics[nt] = NULL;
  scan_tally_t t = {.total = rs->n};
  uint64_t seen = 0, bytes = 0;
  double started = sb_bench_now();
  int rc = sb_logscan(c, topics, rs->n, 30000, on_scanned, &t, &seen, &bytes,
                      err);
  if (rc != 0)
    return rc;
  if (seen != rs->n)
    return sb_err_set(err, SB_EKAFKA,
                      "ceiling: read %llu of %zu records; the broker dropped "
                      "some (raise --partitions)",
                      (unsigned long long)seen, rs->n);
  /* from the first record to the last; all in one batch (a small run):
   * from the start of the scan */
  double secs = t.last > t.first ? t.last - t.first : t.last - started;
  res->ceiling_eps = (double)seen / secs;
  res->ceiling_mbps = (double)bytes / secs / 1e6;
  return 0;
}

/* Sum of the committed offsets of a processor's live consumer group. */
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

static int stage_e2e(sb_bench_env_t *env, const records_t *rs,
                     sb_bench_result_t *res, sb_err_t *err) {
  char batch[48], ms[48];
  snprintf(batch, sizeof batch, "batch.max_events=%d", env->o->batch_events);
  snprintf(ms, sizeof ms, "batch.max_ms=%d", env->o->batch_ms);
  const char *argv[] = {"switchboard", "run", "--data-dir", env->data_dir,
                        "--processors", "all", "--set", batch, "--set", ms,
                        NULL};
  /* workers of the same consumer groups: Kafka spreads the partitions */
  child_t ws[SB_BENCH_MAX_WORKERS] = {{0}};
  int nw = env->o->workers;
  sb_pg_t *pg = NULL;
  int rc = sb_pg_connect(env->database_url, &pg, err);
  for (int i = 0; rc == 0 && i < nw; i++)
    rc = spawn(argv, 0, env->log, &ws[i], err);
  child_t *w = &ws[0];
  double started = sb_bench_now(), first = 0;
  uint64_t done = 0, rss_first = 0, rss_max = 0;
  sb_bench_progress_t pr = {0};
  while (rc == 0 && done < rs->n) {
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
    if ((rc = committed(pg, "audit", &done, err)) != 0)
      break;
    if (done > 0 && first == 0) {
      first = sb_bench_now();
      rss_first = current_rss(w->pid);
    }
    uint64_t rss = current_rss(w->pid); /* VmHWM is updated lazily */
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
  double end = sb_bench_now();
  if (w->pid > 0) { /* of the first worker */
    res->engine_peak_rss = peak_rss(w->pid);
    if (rss_max > res->engine_peak_rss)
      res->engine_peak_rss = rss_max;
    res->engine_rss_first = rss_first;
    res->engine_rss_end = current_rss(w->pid);
  }
  for (int i = 0; i < nw; i++)
    child_stop(&ws[i], SIGTERM);
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
  return 0;
}

static int stage_replay(sb_bench_env_t *env, const records_t *rs,
                        sb_bench_result_t *res, sb_err_t *err) {
  const char *argv[] = {"switchboard", "replay", "--processor", "audit",
                        "--from", "earliest", "--data-dir", env->data_dir,
                        NULL};
  child_t w = {0};
  double t0 = sb_bench_now();
  int rc = spawn(argv, 0, env->log, &w, err);
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

/* ---- the machine ------------------------------------------------------- */

static void describe_machine(sb_bench_result_t *res) {
  res->cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
  snprintf(res->machine, sizeof res->machine, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  while (f && fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (strncmp(line, "model name", 10) == 0 && colon) {
      snprintf(res->machine, sizeof res->machine, "%s", sb_trim(colon + 1));
      break;
    }
  }
  if (f)
    fclose(f);
}

/* ---- the instance under test --------------------------------------------- */

/* `switchboard up --processors none` on a fresh data directory, with the
 * partitions the data needs; reads its kafka:, postgres: and http: lines. */
static int start_instance(sb_bench_env_t *env, int partitions, child_t *up,
                          sb_err_t *err) {
  char parts[16];
  snprintf(parts, sizeof parts, "%d", partitions);
  const char *argv[] = {"switchboard", "up", "--data-dir", env->data_dir,
                        "--processors", "none", "--partitions", parts,
                        "--http-listen", "127.0.0.1:0", NULL};
  int rc = spawn(argv, 1, env->log, up, err);
  char line[1024];
  while (rc == 0 && fgets(line, sizeof line, up->out)) {
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "kafka: ", 7) == 0)
      snprintf(env->brokers, sizeof env->brokers, "%.255s", line + 7);
    else if (strncmp(line, "postgres: ", 10) == 0)
      snprintf(env->database_url, sizeof env->database_url, "%.511s", line + 10);
    else if (strncmp(line, "http: ", 6) == 0) {
      snprintf(env->http_url, sizeof env->http_url, "%.127s", line + 6);
      return 0;
    }
  }
  if (rc == 0)
    rc = sb_err_set(err, SB_EINTERNAL,
                    "switchboard up did not start (see %s)", env->log);
  return rc;
}

/* ---- output ------------------------------------------------------------ */

static void print_table(const sb_bench_opts_t *o, const sb_bench_result_t *r) {
  printf("\nswitchboard bench: %zu events (%.1f MB as Avro), %d partitions "
         "per topic, %d tenant(s), seed %llu\n",
         r->events, (double)r->bytes / 1e6, r->partitions, o->tenants,
         (unsigned long long)o->seed);
  printf("machine: %s, %d cores\n\n", r->machine, r->cores);
  printf("%-34s %14s %10s %s\n", "stage", "events/s", "MB/s", "notes");
#define ON(i) (o->stages & (1u << (i)))
  if (ON(0))
    printf("%-34s %14.0f %10.1f %.1f s\n", "produce (librdkafka producer)",
           r->produce_eps, r->produce_mbps, r->produce_seconds);
  if (ON(1))
    printf("%-34s %14.0f %10.1f the upper bound here\n",
           "ceiling (bare consumer)", r->ceiling_eps, r->ceiling_mbps);
  if (ON(2)) {
    char ratio[48] = "no ceiling measured";
    if (r->ceiling_eps > 0)
      snprintf(ratio, sizeof ratio, "%.1f%% of the ceiling",
               100.0 * r->e2e_eps / r->ceiling_eps);
    printf("%-34s %14.0f %10s %s; %.0f ev/s from start (%.1f s)\n",
           "end to end (audit -> PostgreSQL)", r->e2e_eps, "-", ratio,
           r->e2e_wall_eps, r->e2e_seconds);
  }
  if (ON(3))
    printf("%-34s %14.0f %10s %.1f s\n", "replay (audit, from earliest)",
           r->replay_eps, "-", r->replay_seconds);
  if (ON(4)) {
    printf("%-34s %14.0f %10s %d connections, %d per request\n",
           "HTTP ingest, batched", r->http_batch_eps, "-", o->http_connections,
           o->http_batch);
    printf("%-34s %14.0f %10s %d connections\n", "HTTP ingest, single",
           r->http_single_eps, "-", o->http_connections);
  }
  if (ON(5))
    printf("%-34s p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms "
           "(%llu/%llu at %d ev/s)\n",
           "freshness (202 -> WebSocket)", r->fresh_p50_ms, r->fresh_p99_ms,
           r->fresh_p999_ms, r->fresh_max_ms,
           (unsigned long long)r->fresh_received,
           (unsigned long long)r->fresh_sent, o->fresh_rate);
  if (ON(5))
    printf("%-34s p50 %.2f ms, p99 %.2f ms\n",
           "freshness (POST -> WebSocket)", r->fresh_e2e_p50_ms,
           r->fresh_e2e_p99_ms);
  if (ON(2) && o->workers > 1)
    printf("%-34s %d (memory below is the first one's)\n", "workers", o->workers);
  if (ON(2))
    printf("%-34s peak %.0f MiB (%.0f MiB at the first commit, %.0f MiB at "
           "the end)\n",
           "engine memory (RSS)", (double)r->engine_peak_rss / 1048576.0,
           (double)r->engine_rss_first / 1048576.0,
           (double)r->engine_rss_end / 1048576.0);
  if (ON(2)) {
    printf("%-34s", "engine RSS at each tenth (MiB)");
    for (int k = 0; k < 10; k++)
      printf(" %.0f", (double)r->engine_rss_at[k] / 1048576.0);
    printf("\n");
  }
#undef ON
  fflush(stdout);
}

static int write_json(const char *path, const sb_bench_opts_t *o,
                      const sb_bench_result_t *r, sb_err_t *err) {
  cJSON *j = cJSON_CreateObject();
  cJSON *m = cJSON_AddObjectToObject(j, "machine");
  cJSON_AddStringToObject(m, "cpu", r->machine);
  cJSON_AddNumberToObject(m, "cores", r->cores);
  cJSON *run = cJSON_AddObjectToObject(j, "run");
  cJSON_AddNumberToObject(run, "events", (double)r->events);
  cJSON_AddNumberToObject(run, "bytes", (double)r->bytes);
  cJSON_AddNumberToObject(run, "partitions", r->partitions);
  cJSON_AddNumberToObject(run, "tenants", o->tenants);
  cJSON_AddNumberToObject(run, "seed", (double)o->seed);
  cJSON_AddStringToObject(run, "mix", o->mix ? o->mix : "default");
  cJSON_AddNumberToObject(run, "batch_max_events", o->batch_events);
  cJSON_AddNumberToObject(run, "workers", o->workers);
#define ON(i) (o->stages & (1u << (i)))
  if (ON(0)) {
    cJSON *s = cJSON_AddObjectToObject(j, "produce");
    cJSON_AddNumberToObject(s, "events_per_s", r->produce_eps);
    cJSON_AddNumberToObject(s, "mb_per_s", r->produce_mbps);
  }
  if (ON(1)) {
    cJSON *s = cJSON_AddObjectToObject(j, "ceiling");
    cJSON_AddNumberToObject(s, "events_per_s", r->ceiling_eps);
    cJSON_AddNumberToObject(s, "mb_per_s", r->ceiling_mbps);
  }
  if (ON(2)) {
    cJSON *s = cJSON_AddObjectToObject(j, "end_to_end");
    cJSON_AddNumberToObject(s, "events_per_s", r->e2e_eps);
    cJSON_AddNumberToObject(s, "events_per_s_from_start", r->e2e_wall_eps);
    cJSON_AddNumberToObject(s, "ratio_to_ceiling",
                            r->ceiling_eps > 0 ? r->e2e_eps / r->ceiling_eps : 0);
    cJSON_AddNumberToObject(s, "engine_peak_rss_bytes", (double)r->engine_peak_rss);
    cJSON_AddNumberToObject(s, "engine_rss_first_commit_bytes",
                            (double)r->engine_rss_first);
    cJSON_AddNumberToObject(s, "engine_rss_end_bytes", (double)r->engine_rss_end);
    cJSON *at = cJSON_AddArrayToObject(s, "engine_rss_each_tenth_bytes");
    for (int k = 0; k < 10; k++)
      cJSON_AddItemToArray(at, cJSON_CreateNumber((double)r->engine_rss_at[k]));
  }
  if (ON(3)) {
    cJSON *s = cJSON_AddObjectToObject(j, "replay");
    cJSON_AddNumberToObject(s, "events_per_s", r->replay_eps);
  }
  if (ON(4)) {
    cJSON *s = cJSON_AddObjectToObject(j, "http_ingest");
    cJSON_AddNumberToObject(s, "batched_events_per_s", r->http_batch_eps);
    cJSON_AddNumberToObject(s, "single_events_per_s", r->http_single_eps);
    cJSON_AddNumberToObject(s, "batch", o->http_batch);
    cJSON_AddNumberToObject(s, "connections", o->http_connections);
  }
  if (ON(5)) {
    cJSON *s = cJSON_AddObjectToObject(j, "freshness");
    cJSON_AddNumberToObject(s, "offered_per_s", o->fresh_rate);
    cJSON_AddNumberToObject(s, "p50_ms", r->fresh_p50_ms);
    cJSON_AddNumberToObject(s, "p99_ms", r->fresh_p99_ms);
    cJSON_AddNumberToObject(s, "p999_ms", r->fresh_p999_ms);
    cJSON_AddNumberToObject(s, "max_ms", r->fresh_max_ms);
    cJSON_AddNumberToObject(s, "post_to_ws_p50_ms", r->fresh_e2e_p50_ms);
    cJSON_AddNumberToObject(s, "post_to_ws_p99_ms", r->fresh_e2e_p99_ms);
    cJSON_AddNumberToObject(s, "sent", (double)r->fresh_sent);
    cJSON_AddNumberToObject(s, "received", (double)r->fresh_received);
  }
#undef ON
  char *text = cJSON_Print(j);
  cJSON_Delete(j);
  int rc = text ? sb_write_file(path, text, strlen(text), 0644, err)
                : sb_err_set(err, SB_ENOMEM, "out of memory");
  cJSON_free(text);
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
  static const char *const names[] = {"produce", "ceiling", "e2e",
                                      "replay",  "http",    "fresh"};
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
  if (rc == 0)
    rc = parse_stages(sb_cli_opt(cli, "stages"), &o->stages, err);
  if (rc != 0)
    return rc;
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

static int run_bench(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  sb_bench_opts_t o;
  sb_bench_result_t res;
  sb_bench_env_t env;
  records_t rs = {0};
  child_t up = {0};
  memset(&res, 0, sizeof res);
  memset(&env, 0, sizeof env);
  env.o = &o;
  signal(SIGPIPE, SIG_IGN);
  if (opts_from_cli(cli, &o, &err) != 0)
    return sb_cli_fail(cli, &err);
  describe_machine(&res);
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

  if (rc == 0 && (rc = generate(&o, &rs, &err)) == 0) {
    res.bytes = rs.bytes;
    res.generate_seconds = rs.seconds;
    res.partitions = partitions_for(&rs, o.partitions);
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
    rc = start_instance(&env, res.partitions, &up, &err);
  sb_conf_t *c = &cli->conf;
  if (rc == 0)
    rc = sb_conf_set(c, "brokers", env.brokers, SB_CO_FLAG, "bench", &err);
  if (rc == 0 && (o.stages & 1u << 0))
    rc = stage_produce(c, &rs, &res, &err);
  if (rc == 0 && (o.stages & 1u << 1))
    rc = stage_ceiling(c, &rs, &res, &err);
  if (rc == 0 && (o.stages & 1u << 2))
    rc = stage_e2e(&env, &rs, &res, &err);
  if (rc == 0 && (o.stages & 1u << 3))
    rc = stage_replay(&env, &rs, &res, &err);
  if (rc == 0 && (o.stages & 1u << 4))
    rc = sb_bench_http(&env, &res, &err);
  if (rc == 0 && (o.stages & 1u << 5))
    rc = sb_bench_fresh(&env, &res, &err);
  child_stop(&up, SIGTERM);
  records_free(&rs);
  if (rc == 0) {
    print_table(&o, &res);
    if (o.json)
      rc = write_json(o.json, &o, &res, &err);
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
        "  e2e       every processor writing to PostgreSQL, first record to "
        "last committed\n            offset, and the ratio to the ceiling; "
        "the engine's peak memory\n"
        "  replay    rebuilding the audit projection from the earliest "
        "offset\n"
        "  http      POST /v1/events, batched and single\n"
        "  fresh     latency from an HTTP 202 to the event at a WebSocket "
        "client\nEvery stage checks it saw every record. Prints a table; "
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
            {"keep", NULL, "Keep the data directory and its log"},
            {NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_bench,
};
