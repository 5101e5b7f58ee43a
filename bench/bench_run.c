/* The plumbing of a `switchboard bench` run (cli/cmd_bench.c): the clock
 * and progress lines, the generated records in memory, the children it
 * starts (`up`, `run`, `replay`) and their memory, the machine, and the
 * instance under test. */
#include "sb_bench.h"
#include "sb_codec.h"
#include "sb_gen.h"
#include "sb_schema.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define PARTITION_BUDGET (3u << 20) /* bytes per partition we fill, of ~5 */

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

int sb_bench_topic_index(const char *name) {
  for (size_t i = 0; i < sb_topics_n && i < 16; i++)
    if (strcmp(sb_topics[i], name) == 0)
      return (int)i;
  return -1;
}

/* Generates n events and converts each to its Kafka record, as import and
 * HTTP ingest would. */
int sb_bench_generate(const sb_bench_opts_t *o, sb_bench_records_t *out, sb_err_t *err) {
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
    int t = sb_bench_topic_index(sb_evtype_topic(out->r[i].type));
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

void sb_bench_records_free(sb_bench_records_t *rs) {
  for (size_t i = 0; i < rs->n; i++)
    sb_record_clear(&rs->r[i]);
  free(rs->r);
  sb_schemas_free(rs->schemas);
}

/* Partitions per topic so that the busiest topic fills each partition to
 * PARTITION_BUDGET at most (the embedded broker drops what is past ~5 MiB). */
int sb_bench_partitions_for(const sb_bench_records_t *rs, int asked) {
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

int sb_bench_spawn(const char *const *argv, int want_stdout, const char *log,
                 sb_bench_child_t *c, sb_err_t *err) {
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

int sb_bench_child_stop(sb_bench_child_t *c, int sig) {
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

uint64_t sb_bench_peak_rss(pid_t pid) { return proc_mem(pid, "VmHWM:"); }
uint64_t sb_bench_current_rss(pid_t pid) { return proc_mem(pid, "VmRSS:"); }

/* ---- the machine ------------------------------------------------------- */

void sb_bench_describe_machine(sb_bench_result_t *res) {
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

/* The database URL of the instance on data_dir, from its runtime.conf
 * (0600; up prints it without its password) into out. */
static int runtime_database_url(const char *data_dir, char *out, size_t sz,
                                sb_err_t *err) {
  char path[1024], line[1024];
  snprintf(path, sizeof path, "%s/runtime.conf", data_dir);
  FILE *f = fopen(path, "r");
  int found = 0;
  while (f && !found && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    size_t n = strlen(line);
    if (strncmp(line, "database_url = ", 15) == 0 && n - 15 < sz) {
      memcpy(out, line + 15, n - 15 + 1);
      found = 1;
    }
  }
  if (f)
    fclose(f);
  return found ? 0
               : sb_err_set(err, SB_EINTERNAL, "no database_url in %s", path);
}

/* `switchboard up --processors none` on a fresh data directory, with the
 * partitions the data needs; reads its kafka: and http: lines, and the
 * database URL from runtime.conf. */
int sb_bench_start_instance(sb_bench_env_t *env, int partitions, sb_bench_child_t *up,
                          sb_err_t *err) {
  char parts[16];
  snprintf(parts, sizeof parts, "%d", partitions);
  const char *argv[] = {"switchboard", "up", "--data-dir", env->data_dir,
                        "--processors", "none", "--partitions", parts,
                        "--http-listen", "127.0.0.1:0", NULL};
  int rc = sb_bench_spawn(argv, 1, env->log, up, err);
  char line[1024];
  while (rc == 0 && fgets(line, sizeof line, up->out)) {
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "kafka: ", 7) == 0)
      snprintf(env->brokers, sizeof env->brokers, "%.255s", line + 7);
    else if (strncmp(line, "http: ", 6) == 0) {
      snprintf(env->http_url, sizeof env->http_url, "%.127s", line + 6);
      return runtime_database_url(env->data_dir, env->database_url,
                                  sizeof env->database_url, err);
    }
  }
  if (rc == 0)
    rc = sb_err_set(err, SB_EINTERNAL,
                    "switchboard up did not start (see %s)", env->log);
  return rc;
}
