/* Replay's swap and its guards (sb_replay.h) against the embedded broker and
 * the fixture's PostgreSQL, with a processor made for the test: a rebuild
 * behind the live projection is not swapped in (the caller rebuilds further),
 * one the processor finds different is refused, one that is equal is
 * swapped in and the replaced generation kept and closed, an old generation
 * is never overwritten, and a log that ends before the live offsets is
 * refused. Each refusal leaves the live projection and sb.processors as they
 * were. */
#include "sb_conf.h"
#include "sb_pipeline.h"
#include "sb_kafka.h"
#include "sb_migrate.h"
#include "sb_pg.h"
#include "sb_producer.h"
#include "sb_replay.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_topics.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const r_topics[] = {SB_TOPIC_LEADS, NULL};
static int r_init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  (void)kit;
  (void)err;
  *state = NULL;
  return 0;
}
static int r_event(void *state, sb_batch_t *b, const sb_event_t *ev,
                   sb_err_t *err) {
  (void)state, (void)b, (void)ev, (void)err;
  return 0;
}
static int r_commit(void *state, sb_batch_t *b, sb_err_t *err) {
  (void)state, (void)b, (void)err;
  return 0;
}
static void r_abort(void *state) { (void)state; }

static int differs; /* what r_same answers */
static int quick_calls, full_calls;
static int r_same(sb_pg_t *pg, const char *live, const char *rebuilt,
                  const char *live_group, int quick, sb_err_t *err) {
  (void)pg, (void)live_group;
  if (quick)
    quick_calls++;
  else
    full_calls++;
  if (differs == 1 + quick) /* 1: in the full check, 2: in the quick one */
    return sb_err_set(err, SB_ESTATE, "%s differs from %s at row 7", rebuilt,
                      live);
  return 0;
}

static const sb_processor_vt_t replay_vt = {
    .abi = SB_PROCESSOR_ABI,
    .name = "sbreplay",
    .topics = r_topics,
    .migrations = (const sb_proj_step_t[]){
        {1, "CREATE TABLE {schema}.marks (what text, tenant_id text NOT NULL "
            "DEFAULT 'acme');\n"
            "GRANT SELECT, INSERT ON {schema}.marks TO switchboard_app;"},
        {0, NULL}},
    .init = r_init,
    .event = r_event,
    .commit = r_commit,
    .abort = r_abort,
    .destroy = r_abort,
    .flags = SB_PROCESSOR_KEEP_GENERATIONS,
    .same_as_live = r_same,
};

static int q1(sb_pg_t *pg, const char *sql, char *out, size_t n) {
  sb_err_t err = SB_ERR_INIT;
  int found = 0;
  out[0] = '\0';
  if (sb_pg_query1(pg, sql, 0, NULL, out, n, &found, NULL, &err) != 0) {
    fprintf(stderr, "%s: %s\n", sql, err.msg);
    return -1;
  }
  return 0;
}

/* Stores next for group in every partition of sb.leads: hi[p] + delta. */
static int set_offsets(sb_pg_t *pg, const char *group, const int64_t *hi,
                       int64_t delta) {
  sb_err_t err = SB_ERR_INIT;
  for (int p = 0; p < 2; p++) {
    char part[16], off[32];
    snprintf(part, sizeof part, "%d", p);
    snprintf(off, sizeof off, "%lld", (long long)(hi[p] + delta));
    if (sb_pg_exec(pg,
                   "INSERT INTO sb.consumer_offsets (consumer_group, topic, "
                   "partition, next_offset) VALUES ($1, 'sb.leads', $2, $3) "
                   "ON CONFLICT (consumer_group, topic, partition) DO UPDATE "
                   "SET next_offset = EXCLUDED.next_offset",
                   3, (const char *const[]){group, part, off}, &err) != 0) {
      fprintf(stderr, "offsets: %s\n", err.msg);
      return -1;
    }
  }
  return 0;
}

int test_replay_swap_guards(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_conf_t c;
  sb_embedded_t *broker = NULL;
  sb_pg_t *pg = NULL;
  sb_producer_t *prod = NULL;
  sb_replay_log_t *log = NULL;
  char url[600], db[64], v[256];
  sb_conf_init(&c, NULL);
  sb_conf_set(&c, "partitions", "2", SB_CO_FLAG, NULL, NULL);
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  sb_conf_set(&c, "database_url", url, SB_CO_FLAG, NULL, NULL);
  CHECK_OK(sb_embedded_start(&c, &broker, &err), &err);
  CHECK_OK(sb_conf_set(&c, "brokers", sb_embedded_bootstraps(broker),
                       SB_CO_FLAG, NULL, &err),
           &err);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  CHECK_OK(sb_migrate(pg, sb_migrations, sb_migrations_n, NULL, &err), &err);

  /* 20 records over the two partitions of sb.leads */
  CHECK_OK(sb_producer_new(&c, &prod, &err), &err);
  for (int i = 0; i < 20; i++) {
    char key[32];
    snprintf(key, sizeof key, "acme:lead-%d", i);
    CHECK_OK(sb_producer_send(prod, SB_TOPIC_LEADS, key, strlen(key), "x", 1,
                              NULL, 0, NULL, NULL, &err),
             &err);
  }
  CHECK_OK(sb_producer_flush(prod, 10000, &err), &err);
  sb_producer_free(prod);

  CHECK_OK(sb_replay_log_open(&c, &replay_vt, &log, &err), &err);
  /* the ends of the log, through a client of our own */
  int64_t hi[2];
  {
    char errstr[256];
    rd_kafka_conf_t *kc = sb_kafka_conf_new(&c, &err);
    CHECK(kc != NULL);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof errstr);
    CHECK(rk != NULL);
    for (int p = 0; p < 2; p++) {
      int64_t lo;
      CHECK_INT(rd_kafka_query_watermark_offsets(rk, SB_TOPIC_LEADS, p, &lo,
                                                 &hi[p], 5000),
                0);
    }
    rd_kafka_destroy(rk);
    CHECK_INT(hi[0] + hi[1], 20);
    CHECK(hi[0] > 0 && hi[1] > 0);
  }

  /* the live projection has consumed everything; generation 2 is built
   * beside it, from the start */
  CHECK_OK(sb_processor_ensure_live(pg, &replay_vt, &err), &err);
  CHECK_OK(sb_pg_exec(pg, "INSERT INTO sbreplay.marks VALUES ('live')", 0,
                      NULL, &err),
           &err);
  CHECK(set_offsets(pg, "switchboard.sbreplay", hi, 0) == 0);
  CHECK_OK(sb_processor_create_tables(pg, &replay_vt, "sbreplay_g2", &err), &err);
  CHECK_OK(sb_pg_exec(pg, "INSERT INTO sbreplay_g2.marks VALUES ('rebuilt')",
                      0, NULL, &err),
           &err);
  CHECK_OK(sb_replay_log_starts(log, pg, "switchboard.sbreplay.g2", &err),
           &err);
  CHECK_OK(sb_replay_check_log(log, pg, "switchboard.sbreplay", &err), &err);
  sb_replay_swap_t sw = {.vt = &replay_vt, .old_gen = 1, .gen = 2,
                         .schema = "sbreplay_g2",
                         .group = "switchboard.sbreplay.g2",
                         .live_group = "switchboard.sbreplay"};
  const char *state_q =
      "SELECT (SELECT generation || ' ' || consumer_group FROM sb.processors "
      "WHERE name = 'sbreplay') || ' ' || (SELECT what FROM sbreplay.marks)";

  /* behind: one record short in each partition */
  int behind = 0;
  CHECK(set_offsets(pg, "switchboard.sbreplay.g2", hi, -1) == 0);
  CHECK_OK(sb_replay_swap(log, pg, &sw, &behind, &err), &err);
  CHECK_INT(behind, 1);
  CHECK(q1(pg, state_q, v, sizeof v) == 0);
  CHECK_STR(v, "1 switchboard.sbreplay live");

  /* caught up, but different */
  CHECK(set_offsets(pg, "switchboard.sbreplay.g2", hi, 0) == 0);
  differs = 1;
  CHECK_INT(sb_replay_swap(log, pg, &sw, &behind, &err), SB_ESTATE);
  CHECK_INT(behind, 0);
  CHECK_HAS(err.msg, "refusing to swap the rebuilt sbreplay projection in: "
                     "sbreplay_g2 differs from sbreplay at row 7");
  CHECK_HAS(err.msg, "the live projection is unchanged");
  CHECK(q1(pg, state_q, v, sizeof v) == 0);
  CHECK_STR(v, "1 switchboard.sbreplay live");
  sb_err_clear(&err);

  CHECK_INT(full_calls, 1);
  CHECK_INT(quick_calls, 0);
  /* equal in the snapshot, different under the lock */
  differs = 2;
  CHECK_INT(sb_replay_swap(log, pg, &sw, &behind, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "differs from sbreplay at row 7");
  CHECK_INT(full_calls, 2);
  CHECK_INT(quick_calls, 1);
  CHECK(q1(pg, state_q, v, sizeof v) == 0);
  CHECK_STR(v, "1 switchboard.sbreplay live");
  sb_err_clear(&err);

  /* equal: swapped in; generation 1 kept as sbreplay_gen_1, closed */
  differs = 0;
  CHECK_OK(sb_replay_swap(log, pg, &sw, &behind, &err), &err);
  CHECK_INT(behind, 0);
  CHECK(q1(pg, state_q, v, sizeof v) == 0);
  CHECK_STR(v, "2 switchboard.sbreplay.g2 rebuilt");
  CHECK(q1(pg, "SELECT what FROM sbreplay_gen_1.marks", v, sizeof v) == 0);
  CHECK_STR(v, "live");
  CHECK(q1(pg, "SELECT has_schema_privilege('switchboard_app', "
               "'sbreplay_gen_1', 'USAGE')::text || ' ' || "
               "has_table_privilege('switchboard_app', 'sbreplay_gen_1.marks', "
               "'INSERT')::text || ' ' || "
               "has_schema_privilege('switchboard_app', 'sbreplay', 'USAGE')",
           v, sizeof v) == 0);
  CHECK_STR(v, "false false true");

  /* an old generation is never overwritten: sbreplay_gen_2 taken */
  CHECK_OK(sb_pg_exec(pg, "CREATE SCHEMA sbreplay_gen_2", 0, NULL, &err), &err);
  CHECK_OK(sb_processor_create_tables(pg, &replay_vt, "sbreplay_g3", &err), &err);
  CHECK(set_offsets(pg, "switchboard.sbreplay.g3", hi, 0) == 0);
  sb_replay_swap_t sw3 = {.vt = &replay_vt, .old_gen = 2, .gen = 3,
                          .schema = "sbreplay_g3",
                          .group = "switchboard.sbreplay.g3",
                          .live_group = "switchboard.sbreplay.g2"};
  CHECK_INT(sb_replay_swap(log, pg, &sw3, &behind, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "schema sbreplay_gen_2 exists already");
  CHECK(q1(pg, state_q, v, sizeof v) == 0);
  CHECK_STR(v, "2 switchboard.sbreplay.g2 rebuilt");
  sb_err_clear(&err);

  /* a replay that raced ours swapped first: ours is refused */
  sw3.old_gen = 1;
  CHECK_INT(sb_replay_swap(log, pg, &sw3, &behind, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "generation 2 of sbreplay was swapped in while this "
                     "replay ran");
  sb_err_clear(&err);

  /* the live offsets past the end of the log: another incarnation */
  CHECK(set_offsets(pg, "switchboard.sbreplay.g2", hi, 5) == 0);
  CHECK_INT(sb_replay_check_log(log, pg, "switchboard.sbreplay.g2", &err),
            SB_ESTATE);
  CHECK_HAS(err.msg, "ends at offset");
  CHECK_HAS(err.msg, "not the one the live projection was built from");
  sb_err_clear(&err);
  sw3.old_gen = 2;
  CHECK_OK(sb_pg_exec(pg, "DROP SCHEMA sbreplay_gen_2", 0, NULL, &err), &err);
  CHECK_INT(sb_replay_swap(log, pg, &sw3, &behind, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "not the one the live projection was built from");
  CHECK(q1(pg, state_q, v, sizeof v) == 0);
  CHECK_STR(v, "2 switchboard.sbreplay.g2 rebuilt");
  sb_err_clear(&err);

  sb_replay_log_free(log);
  sb_pg_close(pg);
  sb_embedded_stop(broker);
  sb_conf_free(&c);
  sbt_pg_drop_db(db);
  return 0;
}
