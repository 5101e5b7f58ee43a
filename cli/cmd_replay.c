#define _GNU_SOURCE /* memrchr */
/* switchboard replay --processor NAME --from earliest|TIME|OFFSETS
 *
 * Rebuilds a processor's projection beside the live one, without downtime:
 * generation G+1 gets its own schema (NAME_gG+1) and consumer group, is
 * built from the chosen position to the end of the log, and is then swapped
 * in within one transaction (schemas renamed, sb.processors moved to the
 * new group and generation). Readers see the old projection or the new one,
 * never a half-built one; live workers notice the new generation at their
 * next batch and continue from the new group's offsets.
 *
 * The swap is refused, and the live projection left as it is, when the log
 * can no longer reproduce it or the rebuild differs from it (sb_replay.h);
 * a processor flagged SB_PROCESSOR_KEEP_GENERATIONS (the audit log) keeps
 * the generation it replaces as NAME_gen_G. */
#include "sb_cmds.h"
#include "sb_pipeline.h"
#include "sb_kafka.h"
#include "sb_log.h"
#include "sb_pg.h"
#include "sb_replay.h"
#include "sb_time.h"
#include "sb_util.h"

#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* catching up with a live projection that keeps consuming: at most this
 * many runs of the rebuild to the end of the log */
#define MAX_ROUNDS 8

static volatile sig_atomic_t interrupted;
static void on_sigint(int s) {
  (void)s;
  interrupted = 1;
}

/* --from topic:partition:offset,...: those partitions start there; the
 * others at the start of the log. */
static int explicit_offsets(sb_pg_t *pg, const sb_processor_vt_t *vt,
                            const char *group, const char *spec, sb_err_t *err) {
  char copy[4096], *save = NULL;
  snprintf(copy, sizeof copy, "%s", spec);
  for (char *item = strtok_r(copy, ",", &save); item;
       item = strtok_r(NULL, ",", &save)) {
    char *p2 = strrchr(item, ':');
    char *p1 = p2 ? memrchr(item, ':', (size_t)(p2 - item)) : NULL;
    long long part, off;
    if (!p1 || !p2)
      return sb_err_set(err, SB_EUSAGE, "--from: '%s' is not TOPIC:PARTITION:"
                                        "OFFSET", item);
    *p1 = *p2 = '\0';
    if (sb_parse_ll(p1 + 1, &part) != 0 || sb_parse_ll(p2 + 1, &off) != 0 ||
        part < 0 || off < 0)
      return sb_err_set(err, SB_EUSAGE, "--from: bad partition or offset in "
                                        "'%s'", item);
    int reads = 0;
    for (const char *const *t = vt->topics; *t; t++)
      reads |= strcmp(*t, item) == 0;
    if (!reads)
      return sb_err_set(err, SB_EUSAGE, "--from: processor %s does not read "
                                        "%s", vt->name, item);
    if (sb_replay_store_offset(pg, group, item, (int32_t)part, off, err) != 0)
      return err->code;
  }
  return 0;
}

static int run_replay(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  const char *name = sb_cli_opt(cli, "processor");
  const char *from = sb_cli_opt(cli, "from");
  sb_pg_t *pg = NULL;
  sb_schemas_t *schemas = NULL;
  sb_pipeline_t *eng = NULL;
  sb_replay_log_t *log = NULL;
  int rc = 0;
  if (name == NULL || from == NULL) {
    sb_err_set(&err, SB_EUSAGE, "--processor and --from are required");
    return sb_cli_fail(cli, &err);
  }
  const sb_processor_vt_t *vt = sb_processor_find(name);
  if (vt == NULL) {
    sb_err_set(&err, SB_EUSAGE, "unknown processor '%s'", name);
    return sb_cli_fail(cli, &err);
  }
  if ((vt->flags & SB_PROCESSOR_FULL_REPLAY_ONLY) &&
      strcmp(from, "earliest") != 0) {
    sb_err_set(&err, SB_EUSAGE,
               "processor %s can only be rebuilt from the start of the log "
               "(--from earliest): a rebuild from a later point would drop "
               "the history before it",
               name);
    return sb_cli_fail(cli, &err);
  }
  /* the generations' DDL and the swap run as the owner; the rebuilding
   * engine writes as database_url (the application role on `up`'s server) */
  char owner_url[1024];
  if ((rc = sb_cli_need_instance(cli, 1, &err)) != 0 ||
      (rc = sb_cli_owner_url(cli, owner_url, sizeof owner_url, &err)) != 0)
    goto out;
  rc = sb_pg_connect(owner_url, &pg, &err);
  OPENSSL_cleanse(owner_url, sizeof owner_url);
  if (rc != 0 || (rc = sb_processor_ensure_live(pg, vt, &err)) != 0)
    goto out;
  char gen_txt[16], live_group[128];
  int found = 0;
  if ((rc = sb_pg_query1(pg, "SELECT generation FROM sb.processors WHERE name "
                             "= $1",
                         1, &name, gen_txt, sizeof gen_txt, &found, NULL,
                         &err)) != 0 ||
      (rc = sb_pg_query1(pg, "SELECT consumer_group FROM sb.processors WHERE "
                             "name = $1",
                         1, &name, live_group, sizeof live_group, &found, NULL,
                         &err)) != 0)
    goto out;
  int old_gen = atoi(gen_txt), gen = old_gen + 1;
  char schema[96], group[128], sql[512];
  snprintf(schema, sizeof schema, "%s_g%d", name, gen);
  snprintf(group, sizeof group, "switchboard.%s.g%d", name, gen);
  /* a replay that died or was refused earlier may have left its
   * generation (never the live one, nor an old one: NAME_gen_G) */
  snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
  if ((rc = sb_pg_exec(pg, sql, 0, NULL, &err)) != 0 ||
      /* its offsets, its global tables' (GROUP.tenants, GROUP.global.T)
       * too: their state goes below */
      (rc = sb_pg_exec(pg, "DELETE FROM sb.consumer_offsets WHERE "
                           "consumer_group = $1 OR left(consumer_group, "
                           "length($1) + 1) = $1 || '.'",
                       1, (const char *const[]){group}, &err)) != 0 ||
      /* and its keyed state (global tables' included), timers and event
       * times: kept, the new rebuild would take every event the dead one
       * had folded for known, and leave it out (found by `analytics
       * check`) */
      (rc = sb_pg_exec(pg, "DELETE FROM sb.processor_state WHERE schema = $1",
                       1, (const char *const[]){schema}, &err)) != 0 ||
      (rc = sb_pg_exec(pg, "DELETE FROM sb.processor_timers WHERE schema = "
                           "$1",
                       1, (const char *const[]){schema}, &err)) != 0 ||
      (rc = sb_pg_exec(pg, "DELETE FROM sb.processor_event_time WHERE "
                           "schema = $1",
                       1, (const char *const[]){schema}, &err)) != 0 ||
      (rc = sb_processor_create_tables(pg, vt, schema, &err)) != 0)
    goto out;
  int64_t micros;
  char why[160];
  if (strcmp(from, "earliest") == 0) {
    /* no stored offsets: every partition starts at the beginning */
  } else if (sb_time_parse(from, &micros, why, sizeof why) == 0) {
    rc = sb_replay_offsets_for_time(&cli->conf, pg, vt, group, micros, &err);
  } else if (strchr(from, ':') != NULL && strchr(from, 'T') == NULL) {
    rc = explicit_offsets(pg, vt, group, from, &err);
  } else {
    rc = sb_err_set(&err, SB_EUSAGE, "--from: '%s' is not earliest, an RFC "
                                     "3339 time or TOPIC:PARTITION:OFFSET,...",
                    from);
  }
  if (rc != 0)
    goto out;
  /* refused before anything is built when the log cannot reproduce the
   * live projection; checked again in the swap */
  if ((rc = sb_replay_log_open(&cli->conf, vt, &log, &err)) != 0 ||
      (rc = sb_replay_log_starts(log, pg, group, &err)) != 0)
    goto out;
  if ((rc = sb_replay_check_log(log, pg, live_group, &err)) != 0) {
    if (err.code == SB_ESTATE) {
      /* the empty rebuild goes (nothing the live projection needs) */
      snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
      sb_pg_exec(pg, sql, 0, NULL, NULL);
      sb_pg_exec(pg, "DELETE FROM sb.consumer_offsets WHERE consumer_group "
                     "= $1",
                 1, (const char *const[]){group}, NULL);
      sb_err_prefix(&err, "refusing to replay %s: ", name);
      size_t used = strlen(err.msg);
      snprintf(err.msg + used, sizeof err.msg - used,
               "; nothing was rebuilt and the live projection is unchanged");
    }
    goto out;
  }

  sb_log(SB_LOG_INFO, "replay", "rebuilding beside the live projection",
         SB_F_STR("processor", name), SB_F_STR("schema", schema),
         SB_F_STR("from", from), SB_F_INT("generation", gen), SB_F_END);
  if ((rc = sb_schemas_load(&schemas, &err)) != 0)
    goto out;
  sb_pipeline_opts_t o = {.vts = &vt, .n = 1, .rebuild_schema = schema,
                        .rebuild_group = group, .stop_at_end = 1};
  sb_replay_swap_t sw = {.vt = vt, .old_gen = old_gen, .gen = gen,
                         .schema = schema, .group = group,
                         .live_group = live_group};
  signal(SIGINT, on_sigint);
  signal(SIGTERM, on_sigint);
  unsigned long long events = 0, deadletters = 0;
  long long t0 = sb_now_ms(), last = t0;
  int behind = 1;
  /* to the end of the log; again while the live projection, which goes on
   * consuming meanwhile, is ahead of the rebuild */
  for (int round = 0; round < MAX_ROUNDS && behind; round++) {
    if ((rc = sb_pipeline_start(&cli->conf, schemas, &o, &eng, &err)) != 0)
      goto out;
    while (!sb_pipeline_done(eng) && !interrupted) {
      usleep(100 * 1000);
      if (sb_now_ms() - last >= 2000) {
        last = sb_now_ms();
        fprintf(stderr, "replay: %s: building generation %d...\n", name, gen);
      }
    }
    sb_pipeline_stop(eng);
    sb_pipeline_stats_t st;
    rc = sb_pipeline_join(eng, &st, &err);
    eng = NULL;
    events += st.events;
    deadletters += st.deadletters;
    if (rc == 0 && interrupted)
      rc = sb_err_set(&err, SB_ESTATE, "interrupted: the live projection is "
                                       "unchanged; run the replay again");
    if (rc != 0 || (rc = sb_replay_swap(log, pg, &sw, &behind, &err)) != 0)
      goto out;
  }
  if (behind) {
    rc = sb_err_set(&err, SB_ESTATE,
                    "the live projection kept moving ahead of the rebuild "
                    "for %d rounds; the live projection is unchanged: run "
                    "the replay again when ingest is quieter",
                    MAX_ROUNDS);
    goto out;
  }
  double secs = (double)(sb_now_ms() - t0) / 1000.0;
  printf("replay: %s rebuilt from %s: %llu events in %.1f s (%.0f events/s), "
         "%llu dead letters; swapped in as generation %d\n",
         name, from, events, secs, secs > 0 ? (double)events / secs : 0.0,
         deadletters, gen);
  if (vt->flags & SB_PROCESSOR_KEEP_GENERATIONS)
    printf("replay: the replaced generation is kept as schema %s_gen_%d\n",
           name, old_gen);
out:
  if (eng) {
    sb_pipeline_stop(eng);
    sb_pipeline_join(eng, NULL, NULL);
  }
  sb_replay_log_free(log);
  sb_schemas_free(schemas);
  sb_pg_close(pg);
  return rc == 0 ? 0 : sb_cli_fail(cli, &err);
}

static const char *const replay_keys[] = {"brokers", "database_url",
                                          "batch.max_events", NULL};

const sb_cmd_t sb_cmd_replay = {
    .name = "replay",
    .summary = "Rebuild a processor's projection from the log, no downtime",
    .usage = "replay --processor NAME --from earliest|TIME|OFFSETS [options]",
    .about =
        "Builds the processor's projection anew beside the live one (its own "
        "schema and\nconsumer group), from the start of the log, from an RFC "
        "3339 TIME, or from\nOFFSETS (topic:partition:offset,...; unnamed "
        "partitions start at the beginning),\nto the end of the log; then "
        "swaps it in within one transaction. Live workers\ncarry on from the "
        "new projection's offsets at their next batch.\n\nRefuses to swap "
        "(exit 1, the live projection unchanged) when the log no\nlonger "
        "holds what the live projection was built from (trimmed, or "
        "another\nincarnation) or, for the audit log, when the rebuild "
        "differs from the live log\nrow for row. The audit generation it "
        "replaces is kept as schema audit_gen_N.",
    .conf_keys = replay_keys,
    .opts = (const sb_opt_t[]){{"processor", "NAME", "The processor to rebuild"},
                               {"from", "WHERE",
                                "earliest, an RFC 3339 time, or "
                                "topic:partition:offset,..."},
                               {NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_replay,
};
