/* The engine against the embedded broker and the fixture's PostgreSQL, with
 * a processor made for the test. */
#include "sb_codec.h"
#include "sb_conf.h"
#include "sb_pipeline.h"
#include "sb_kafka.h"
#include "sb_migrate.h"
#include "sb_pg.h"
#include "sb_producer.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sbt_env.h"
#include "sb_tests.h"
#include "sb_topics.h"
#include "sb_util.h"

#include "sb_text.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the test processor ------------------------------------------------ */

#define MAXSEEN 512

typedef struct {
  char ids[MAXSEEN][27];
  char subjects[MAXSEEN][64];
  int n;
} seen_t;

static const char *const test_topics[] = {SB_TOPIC_LEADS, NULL};

static int t_init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  (void)kit;
  *state = calloc(1, sizeof(seen_t));
  return *state ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
}

static int t_event(void *state, sb_batch_t *b, const sb_event_t *ev,
                   sb_err_t *err) {
  seen_t *s = state;
  if (strcmp(sb_evtype_name(ev->type), "lead.created") != 0)
    return 0;
  size_t sl = strlen(ev->subject);
  if (sl > 4 && strcmp(ev->subject + sl - 4, "-bad") == 0)
    return sb_err_set(err, SB_EVALIDATE, "lead %s is bad", ev->subject);
  if (sl > 6 && strcmp(ev->subject + sl - 6, "-flaky") == 0) {
    sb_err_set(err, SB_EUNAVAIL, "lead %s: service down", ev->subject);
    return SB_EUNAVAIL; /* retriable by the table's default */
  }
  if (s->n >= MAXSEEN)
    return sb_err_set(err, SB_EINTERNAL, "too many");
  snprintf(s->subjects[s->n], 64, "%s", ev->subject);
  snprintf(s->ids[s->n++], 27, "%s", ev->event_id);
  /* a decision is an event: score the lead */
  cJSON *ce = cJSON_CreateObject();
  cJSON_AddStringToObject(ce, "specversion", "1.0");
  cJSON_AddStringToObject(ce, "type", "lead.scored");
  cJSON_AddStringToObject(ce, "source", "switchboard://sbtest");
  cJSON_AddStringToObject(ce, "subject", ev->subject);
  cJSON_AddStringToObject(ce, "tenantid", ev->tenant_id);
  cJSON_AddStringToObject(ce, "time", "2026-11-24T12:00:00Z");
  cJSON *data = cJSON_AddObjectToObject(ce, "data");
  cJSON_AddNumberToObject(data, "score", 42);
  cJSON_AddStringToObject(data, "model_version", "test-1");
  int rc = sb_batch_emit(b, ev, ce, err);
  cJSON_Delete(ce);
  return rc;
}

static int t_commit(void *state, sb_batch_t *b, sb_err_t *err) {
  seen_t *s = state;
  char sql[256];
  snprintf(sql, sizeof sql,
           "INSERT INTO %s.seen (event_id, subject) VALUES ($1, $2)",
           sb_batch_schema(b));
  for (int i = 0; i < s->n; i++) {
    const char *params[] = {s->ids[i], s->subjects[i]};
    if (sb_pg_exec(sb_batch_pg(b), sql, 2, params, err) != 0)
      return err->code;
  }
  return 0;
}

static void t_reset(void *state) { ((seen_t *)state)->n = 0; }
static void t_destroy(void *state) { free(state); }

/* the CHECK makes a "-poison" lead fail where it is written, as a data
 * error */
#define SEEN_DDL                                                              \
  "CREATE TABLE {schema}.seen (tenant_id text NOT NULL DEFAULT 'acme', "     \
  "event_id text PRIMARY KEY, subject text NOT "                              \
  "NULL CHECK (subject NOT LIKE '%-poison'));\n"                              \
  "GRANT SELECT, INSERT ON {schema}.seen TO switchboard_app;"

static const sb_processor_vt_t test_vt = {
    .abi = SB_PROCESSOR_ABI,
    .name = "sbtest",
    .topics = test_topics,
    .migrations = (const sb_proj_step_t[]){{1, SEEN_DDL}, {0, NULL}},
    .init = t_init,
    .event = t_event,
    .commit = t_commit,
    .abort = t_reset,
    .committed = t_reset,
    .destroy = t_destroy,
};

/* A processor that writes during event, inside the batch's transaction, as
 * one streaming a COPY does: a data error there fails the batch, and the
 * engine isolates the event as it does one failing in commit. */
static int w_event(void *state, sb_batch_t *b, const sb_event_t *ev,
                   sb_err_t *err) {
  (void)state;
  if (strcmp(sb_evtype_name(ev->type), "lead.created") != 0)
    return 0;
  char sql[256];
  snprintf(sql, sizeof sql,
           "INSERT INTO %s.seen (event_id, subject) VALUES ($1, $2)",
           sb_batch_schema(b));
  const char *params[] = {ev->event_id, ev->subject};
  return sb_pg_exec(sb_batch_pg(b), sql, 2, params, err);
}

static int w_commit(void *state, sb_batch_t *b, sb_err_t *err) {
  (void)state, (void)b, (void)err;
  return 0;
}

/* test_vt, writing in event (flagged so) */
static sb_processor_vt_t writing(void) {
  sb_processor_vt_t vt = test_vt;
  vt.event = w_event;
  vt.commit = w_commit;
  vt.flags |= SB_PROCESSOR_EVENT_SQL;
  return vt;
}

/* the processor run_to_end runs */
static const sb_processor_vt_t *run_vt = &test_vt;

/* ---- fixtures ---------------------------------------------------------- */


/* Writes event i's CloudEvent (JSON) into js. */
typedef void (*ce_fn)(char *js, size_t sz, int i, const void *arg);

/* Produces n events made by ce; their ids go to ids (may be NULL). */
static int produce(sbt_env_t *x, int n, ce_fn ce, const void *arg,
                   char (*ids)[27]) {
  sb_err_t err = SB_ERR_INIT;
  sb_producer_t *p = NULL;
  if (sb_producer_new(&x->c, &p, &err) != 0)
    return -1;
  for (int i = 0; i < n; i++) {
    char js[512];
    ce(js, sizeof js, i, arg);
    cJSON *j = cJSON_Parse(js);
    sb_record_t r;
    int rc = sb_codec_from_ce(x->codec, j, SB_CE_GENERATE_ID, &r, &err);
    cJSON_Delete(j);
    if (rc == 0) {
      if (ids)
        snprintf(ids[i], 27, "%s", r.event_id);
      rc = sb_producer_send_record(p, &r, NULL, NULL, &err);
      sb_record_clear(&r);
    }
    if (rc != 0) {
      fprintf(stderr, "produce: %s\n", err.msg);
      sb_producer_free(p);
      return -1;
    }
  }
  int rc = sb_producer_flush(p, 10000, &err);
  sb_producer_free(p);
  return rc;
}

typedef struct {
  const char *const *subjects;
  const char *time;
} leads_t;

static void lead_ce(char *js, size_t sz, int i, const void *arg) {
  const leads_t *l = arg;
  snprintf(js, sz,
           "{\"specversion\":\"1.0\",\"type\":\"lead.created\",\"source\":"
           "\"test\",\"subject\":\"%s\",\"tenantid\":\"acme\",\"time\":"
           "\"%s\",\"data\":{}}",
           l->subjects[i], l->time);
}

/* Produces a lead.created for each subject; their ids go to ids. */
static int produce_leads_at(sbt_env_t *x, const char *const *subjects, int n,
                            char (*ids)[27], const char *time) {
  leads_t l = {subjects, time};
  return produce(x, n, lead_ce, &l, ids);
}

static int produce_leads(sbt_env_t *x, const char *const *subjects, int n,
                         char (*ids)[27]) {
  return produce_leads_at(x, subjects, n, ids, "2026-11-24T10:00:00Z");
}

/* "lead-0" .. "lead-<n-1>" in names, subjects pointing at them. */
static void lead_names(char (*names)[32], const char **subjects, int n) {
  for (int i = 0; i < n; i++) {
    snprintf(names[i], sizeof names[i], "lead-%d", i);
    subjects[i] = names[i];
  }
}

/* Five leads, the third of them poison. */
static const char *const poison5[] = {"lead-1", "lead-2", "lead-3-poison",
                                      "lead-4", "lead-5"};

/* Runs a pipeline until the end of the log (at most a minute): st gets
 * each processor's counters (o->n of them), tot (may be NULL) the
 * pipeline's. */
static int run(sbt_env_t *x, const sb_pipeline_opts_t *o, sb_pipeline_stats_t *st,
               sb_pipeline_totals_t *tot) {
  sb_err_t err = SB_ERR_INIT;
  sb_pipeline_t *p = NULL;
  if (sb_pipeline_start(&x->c, x->schemas, o, &p, &err) != 0) {
    fprintf(stderr, "pipeline: %s\n", err.msg);
    return -1;
  }
  for (int i = 0; i < 600 && !sb_pipeline_done(p); i++)
    usleep(100 * 1000);
  sb_pipeline_stop(p);
  while (!sb_pipeline_done(p))
    usleep(10 * 1000);
  for (size_t i = 0; i < o->n; i++)
    sb_pipeline_snapshot(p, i, &st[i]);
  if (tot)
    sb_pipeline_totals(p, tot);
  if (sb_pipeline_join(p, NULL, &err) != 0) {
    fprintf(stderr, "pipeline: %s\n", err.msg);
    return -1;
  }
  return 0;
}

/* Runs the processor until the end of the log, in its consumer group (or
 * as a rebuild into schema, in group). */
static int run_to_end(sbt_env_t *x, const char *schema, const char *group,
                      sb_pipeline_stats_t *st) {
  sb_err_t err = SB_ERR_INIT;
  if (schema && sb_processor_create_tables(x->pg, run_vt, schema, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  sb_pipeline_opts_t o = {.vts = &run_vt,
                          .n = 1,
                          .rebuild_schema = schema,
                          .rebuild_group = group,
                          .stop_at_end = 1};
  return run(x, &o, st, NULL);
}

typedef struct {
  char type[64], id[27], cause[27], hdr[512];
  char subject[64];
} rec_t;

/* Reads every record of a topic from the start. */
static int read_topic(sbt_env_t *x, const char *topic, rec_t *out, int max) {
  char errstr[256];
  sb_err_t err = SB_ERR_INIT;
  rd_kafka_conf_t *kc = sb_kafka_conf_new(&x->c, &err);
  rd_kafka_conf_set(kc, "group.id", "sbt-reader", errstr, sizeof errstr);
  rd_kafka_conf_set(kc, "enable.partition.eof", "true", errstr, sizeof errstr);
  rd_kafka_t *k = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof errstr);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
  for (int p = 0; p < 2; p++)
    rd_kafka_topic_partition_list_add(l, topic, p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(k, l);
  rd_kafka_topic_partition_list_destroy(l);
  int n = 0, eofs = 0;
  long long deadline = sb_now_ms() + 10000;
  while (eofs < 2 && sb_now_ms() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(k, 100);
    if (m == NULL)
      continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
      eofs++;
    else if (!m->err && n < max) {
      rec_t *r = &out[n++];
      memset(r, 0, sizeof *r);
      sb_event_t ev;
      if (sb_codec_decode(x->codec, m->payload, m->len, &ev, &err) == 0) {
        snprintf(r->type, sizeof r->type, "%s", sb_evtype_name(ev.type));
        snprintf(r->id, sizeof r->id, "%s", ev.event_id);
        snprintf(r->subject, sizeof r->subject, "%s", ev.subject);
        const char *c = sb_event_str_path(&ev, "causation_id");
        snprintf(r->cause, sizeof r->cause, "%s", c ? c : "");
      }
      rd_kafka_headers_t *h = NULL;
      if (rd_kafka_message_headers(m, &h) == 0) {
        const char *name;
        const void *val;
        size_t len;
        for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &len) == 0;
             i++) {
          size_t used = strlen(r->hdr);
          snprintf(r->hdr + used, sizeof r->hdr - used, "%s=%.*s;", name,
                   (int)len, (const char *)val);
        }
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(k);
  rd_kafka_destroy(k);
  return n;
}

static int count(sb_pg_t *pg, const char *sql) {
  char v[32];
  int found = 0;
  if (sb_pg_query1(pg, sql, 0, NULL, v, sizeof v, &found, NULL, NULL) != 0)
    return -1;
  return found ? atoi(v) : -1;
}

/* sb.deadletter holds one record, the poison lead's, refused by a CHECK
 * (SQLSTATE 23514): 0 with it in *out, or 1. */
static int poison_deadlettered(sbt_env_t *x, rec_t *out) {
  static rec_t recs[16];
  CHECK_INT(read_topic(x, SB_TOPIC_DEADLETTER, recs, 16), 1);
  CHECK_STR(recs[0].subject, "lead-3-poison");
  CHECK_HAS(recs[0].hdr, "SQLSTATE 23514");
  *out = recs[0];
  return 0;
}

/* sbrows' rows of an event type. */
static int rows_of(sbt_env_t *x, const char *type) {
  char sql[128];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM sbrows.rows WHERE type = '%s'", type);
  return count(x->pg, sql);
}

/* sbrows' rows written more than once. */
static int rows_twice(sbt_env_t *x) {
  return count(x->pg, "SELECT count(*) - count(DISTINCT event_id) FROM "
                      "sbrows.rows");
}

/* ---- tests ------------------------------------------------------------- */

#define NLEADS 40

int test_engine_batches_offsets_and_derived_events(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  const char *subjects[NLEADS];
  char names[NLEADS][32], ids[NLEADS][27];
  lead_names(names, subjects, NLEADS);
  CHECK(produce_leads(&x, subjects, NLEADS, ids) == 0);
  sb_pipeline_stats_t st;
  CHECK(run_to_end(&x, NULL, NULL, &st) == 0);
  /* every lead once in the projection, offsets stored with it */
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbtest.seen"), NLEADS);
  /* the stored offsets cover every lead, and perhaps some of the derived
   * events, which land in the same topic while the run goes on */
  int consumed = count(x.pg, "SELECT sum(next_offset) FROM sb.consumer_offsets "
                             "WHERE consumer_group = 'switchboard.sbtest' AND "
                             "topic = 'sb.leads'");
  CHECK(consumed >= NLEADS && consumed <= 2 * NLEADS);
  CHECK_INT(st.events, consumed);
  CHECK_INT(st.deadletters, 0);

  /* a derived lead.scored per lead: caused by it, id fixed by cause and
   * processor */
  static rec_t recs[4 * NLEADS];
  int n = read_topic(&x, SB_TOPIC_LEADS, recs, 4 * NLEADS);
  static char first[NLEADS][27];
  int scored = 0;
  for (int i = 0; i < n; i++) {
    if (strcmp(recs[i].type, "lead.scored") != 0)
      continue;
    int cause = -1;
    for (int k = 0; k < NLEADS; k++)
      if (strcmp(recs[i].cause, ids[k]) == 0)
        cause = k;
    CHECK(cause >= 0);
    CHECK_HAS(recs[i].hdr, "ce_type=lead.scored;");
    CHECK(strcmp(recs[i].id, ids[cause]) != 0);
    snprintf(first[cause], 27, "%s", recs[i].id);
    scored++;
  }
  CHECK_INT(scored, NLEADS);

  /* rebuilding from the start emits nothing: its derived events are in the
   * log already, and a copy would be an event seen twice downstream */
  CHECK(run_to_end(&x, "sbtest_g2", "switchboard.sbtest.g2", &st) == 0);
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbtest_g2.seen"), NLEADS);
  n = read_topic(&x, SB_TOPIC_LEADS, recs, 4 * NLEADS);
  int again = 0;
  for (int i = 0; i < n; i++) {
    if (strcmp(recs[i].type, "lead.scored") != 0)
      continue;
    for (int k = 0; k < NLEADS; k++)
      if (strcmp(recs[i].cause, ids[k]) == 0) {
        CHECK_STR(recs[i].id, first[k]);
        again++;
      }
  }
  CHECK_INT(again, NLEADS); /* the first run's, once */
  sbt_env_down(&x);
  return 0;
}

int test_engine_processor_failures_deadletter(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  sb_conf_set(&x.c, "processor.retries", "2", SB_CO_FLAG, NULL, NULL);
  const char *subjects[] = {"lead-1", "lead-2-bad", "lead-3", "lead-4-flaky",
                            "lead-5"};
  CHECK(produce_leads(&x, subjects, 5, NULL) == 0);
  sb_pipeline_stats_t st;
  CHECK(run_to_end(&x, NULL, NULL, &st) == 0);
  CHECK_INT(st.deadletters, 2);
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbtest.seen"), 3);
  static rec_t recs[16];
  int n = read_topic(&x, SB_TOPIC_DEADLETTER, recs, 16);
  CHECK_INT(n, 2);
  int bad = 0, flaky = 0;
  for (int i = 0; i < n; i++) {
    CHECK_HAS(recs[i].hdr, "sb-source-topic=sb.leads;");
    CHECK_HAS(recs[i].hdr, "sb-source-offset=");
    CHECK_HAS(recs[i].hdr, "sb-error-class=processor;");
    CHECK_HAS(recs[i].hdr, "sb-processor=sbtest;");
    CHECK_HAS(recs[i].hdr, "ce_type=lead.created;"); /* original headers kept */
    if (strcmp(recs[i].subject, "lead-2-bad") == 0) {
      bad++;
      CHECK_HAS(recs[i].hdr, "sb-attempts=1;"); /* not retriable */
      CHECK_HAS(recs[i].hdr, "lead lead-2-bad is bad");
    } else if (strcmp(recs[i].subject, "lead-4-flaky") == 0) {
      flaky++;
      CHECK_HAS(recs[i].hdr, "sb-attempts=3;"); /* 1 + 2 retries */
    }
  }
  CHECK_INT(bad, 1);
  CHECK_INT(flaky, 1);
  sbt_env_down(&x);
  return 0;
}

int test_engine_rejects_incomplete_processor(void) {
  sb_processor_vt_t vt = test_vt;
  sb_err_t err = SB_ERR_INIT;
  CHECK_OK(sb_processor_check(&vt, &err), &err);
  vt.event = NULL;
  CHECK_INT(sb_processor_check(&vt, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "processor sbtest: the required event is missing");
  sb_err_clear(&err);
  vt = test_vt;
  vt.migrations = NULL;
  CHECK_INT(sb_processor_check(&vt, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "processor sbtest: the required migrations is missing");
  sb_err_clear(&err);
  vt = test_vt;
  vt.abi = 99;
  CHECK_INT(sb_processor_check(&vt, &err), SB_EINVAL);
  sb_err_clear(&err);
  vt = test_vt;
  vt.name = "Bad-Name";
  CHECK_INT(sb_processor_check(&vt, &err), SB_EINVAL);
  CHECK(sb_processor_find("audit") != NULL);
  CHECK(sb_processor_find("nope") == NULL);
  return 0;
}

int test_engine_isolates_poison_written_in_event(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  CHECK(produce_leads(&x, poison5, 5, NULL) == 0);
  sb_pipeline_stats_t st;
  sb_processor_vt_t writing_vt = writing(); /* test_vt, writing in event */
  run_vt = &writing_vt;
  int rc = run_to_end(&x, NULL, NULL, &st);
  run_vt = &test_vt;
  CHECK(rc == 0);
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbtest.seen"), 4);
  rec_t dl;
  CHECK(poison_deadlettered(&x, &dl) == 0);
  CHECK_HAS(dl.hdr, "sb-error-class=processor;");
  /* the error says which processor, callback, partition and offset */
  CHECK_HAS(dl.hdr, "processor sbtest, in event, sb.leads[");
  CHECK(st.reseeks >= 1);
  CHECK_INT((int)st.events, 4);
  CHECK_INT((int)st.deadletters, 1);
  sbt_env_down(&x);
  return 0;
}

int test_engine_isolates_poison_event(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  /* one partition's worth of leads in one batch, one of them poison */
  CHECK(produce_leads(&x, poison5, 5, NULL) == 0);
  sb_pipeline_stats_t st;
  CHECK(run_to_end(&x, NULL, NULL, &st) == 0);
  /* the others are written, the poison one is dead-lettered, the worker
   * carried on */
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbtest.seen"), 4);
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbtest.seen WHERE subject LIKE "
                        "'%poison'"),
            0);
  rec_t dl;
  CHECK(poison_deadlettered(&x, &dl) == 0);
  CHECK_HAS(dl.hdr, "sb-error-class=processor;");
  CHECK_HAS(dl.hdr, "could not commit this event");
  CHECK(st.reseeks >= 1);
  sbt_env_down(&x);
  return 0;
}

/* ---- one pipeline, several processors ---------------------------------- */

/* A second processor: every event of sb.leads as a row (its id and type),
 * with no key, so a row written twice shows as a duplicate, the lead.scored
 * that sbtest derives included: a batch of sbtest's that is replayed emits
 * them again, and the copies of the batch that did not commit are dropped
 * before they reach any processor. */
typedef struct {
  sb_text_t ids, types;
  int n;
} rows_t;

static int r_init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  (void)kit;
  *state = calloc(1, sizeof(rows_t));
  return *state ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
}

static int r_event(void *state, sb_batch_t *b, const sb_event_t *ev,
                   sb_err_t *err) {
  (void)b, (void)err;
  rows_t *r = state;
  if (r->n == 0) {
    sb_text_add(&r->ids, "{");
    sb_text_add(&r->types, "{");
  }
  sb_text_pg_elem(&r->ids, ev->event_id);
  sb_text_pg_elem(&r->types, sb_evtype_name(ev->type));
  r->n++;
  return 0;
}

static int r_commit(void *state, sb_batch_t *b, sb_err_t *err) {
  rows_t *r = state;
  if (r->n == 0)
    return 0;
  sb_text_add(&r->ids, "}");
  sb_text_add(&r->types, "}");
  char sql[256];
  snprintf(sql, sizeof sql,
           "INSERT INTO %s.rows (event_id, type) SELECT * FROM "
           "unnest($1::text[], $2::text[])",
           sb_batch_schema(b));
  return sb_pg_exec(sb_batch_pg(b), sql, 2,
                    (const char *const[]){r->ids.s, r->types.s}, err);
}

static void r_reset(void *state) {
  rows_t *r = state;
  sb_text_free(&r->ids);
  sb_text_free(&r->types);
  memset(r, 0, sizeof *r);
}

static void r_destroy(void *state) {
  r_reset(state);
  free(state);
}

static const sb_processor_vt_t rows_vt = {
    .abi = SB_PROCESSOR_ABI,
    .name = "sbrows",
    .topics = test_topics,
    .migrations =
        (const sb_proj_step_t[]){
            {1, "CREATE TABLE {schema}.rows (tenant_id text NOT NULL DEFAULT "
                "'acme', event_id text NOT NULL, type text NOT NULL);\n"
                "GRANT SELECT, INSERT ON {schema}.rows TO switchboard_app;"},
            {0, NULL}},
    .init = r_init,
    .event = r_event,
    .commit = r_commit,
    .abort = r_reset,
    .committed = r_reset,
    .destroy = r_destroy,
};

/* Runs vts in one pipeline until the end of the log. */
static int run_pipeline(sbt_env_t *x, const sb_processor_vt_t *const *vts, size_t n,
                        sb_pipeline_stats_t *st, sb_pipeline_totals_t *tot) {
  /* every partition at once, no group to wait for (run_to_end joins one) */
  sb_pipeline_opts_t o = {
      .vts = vts, .n = n, .stop_at_end = 1, .all_partitions = 1};
  return run(x, &o, st, tot);
}

int test_pipeline_decodes_once(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  const char *subjects[NLEADS];
  char names[NLEADS][32];
  lead_names(names, subjects, NLEADS);
  CHECK(produce_leads(&x, subjects, NLEADS, NULL) == 0);
  const sb_processor_vt_t *vts[] = {&test_vt, &rows_vt};
  sb_pipeline_stats_t st[2];
  sb_pipeline_totals_t tot;
  CHECK(run_pipeline(&x, vts, 2, st, &tot) == 0);
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbtest.seen"), NLEADS);
  /* sbrows saw the leads, each once */
  CHECK_INT(rows_of(&x, "lead.created"), NLEADS);
  CHECK_INT(rows_twice(&x), 0);
  /* one decode per record, handed to both processors */
  CHECK(tot.records >= (uint64_t)NLEADS);
  CHECK_INT((int)tot.decoded, (int)tot.records);
  CHECK_INT((int)tot.delivered, 2 * (int)tot.decoded);
  CHECK_INT((int)st[1].events, (int)tot.decoded);
  /* offsets per processor, under each one's own group */
  CHECK_INT(count(x.pg, "SELECT count(DISTINCT consumer_group) FROM "
                        "sb.consumer_offsets WHERE consumer_group IN "
                        "('switchboard.sbtest', 'switchboard.sbrows')"),
            2);
  sbt_env_down(&x);
  return 0;
}

int test_pipeline_poison_stays_in_its_processor(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  CHECK(produce_leads(&x, poison5, 5, NULL) == 0);
  const sb_processor_vt_t *vts[] = {&rows_vt, &test_vt};
  sb_pipeline_stats_t st[2];
  CHECK(run_pipeline(&x, vts, 2, st, NULL) == 0);
  /* sbtest cannot write the poison lead: dead-lettered for it alone */
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbtest.seen"), 4);
  rec_t dl;
  CHECK(poison_deadlettered(&x, &dl) == 0);
  CHECK_HAS(dl.hdr, "sb-processor=sbtest;");
  CHECK_INT((int)st[1].deadletters, 1);
  CHECK_INT((int)st[0].deadletters, 0);
  /* sbrows kept every lead, the poison one included, each once, although
   * the batch was handed to sbtest again one event at a time */
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbrows.rows r JOIN "
                        "sbtest.seen s USING (event_id)"),
            4);
  CHECK_INT(rows_of(&x, "lead.created"), 5);
  /* and each lead.scored once, though sbtest emitted them again while it
   * looked for the poison event (those copies' batches never committed) */
  CHECK_INT(rows_twice(&x), 0);
  sbt_env_down(&x);
  return 0;
}

/* A timer whose callback fails for good goes to sb.deadletter with its
 * provenance; what the callback did before it failed is rolled back, and
 * the processor's other timers and events go on (the pipeline does not
 * stop). */
int test_pipeline_poison_timer(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  const char *early[] = {"poison-timer-1", "ok-1", "ok-2"};
  CHECK(produce_leads(&x, early, 3, NULL) == 0);
  /* two hours later on every partition: the early timers come due */
  const char *late[] = {"late-1", "late-2", "late-3", "late-4", "late-5",
                        "late-6"};
  CHECK(produce_leads_at(&x, late, 6, NULL, "2026-11-24T12:00:00Z") == 0);
  const sb_processor_vt_t *vts[] = {sb_processor_find("kittest")};
  CHECK(vts[0] != NULL);
  sb_pipeline_stats_t st[1];
  CHECK(run_pipeline(&x, vts, 1, st, NULL) == 0);
  CHECK_INT(count(x.pg, "SELECT count(*) FROM kittest.leads WHERE lead_id IN "
                        "('ok-1', 'ok-2') AND expired = 1"),
            2);
  /* the poison timer's row and emitted event were rolled back */
  CHECK_INT(count(x.pg, "SELECT expired FROM kittest.leads WHERE lead_id = "
                        "'poison-timer-1'"),
            0);
  CHECK_INT(count(x.pg, "SELECT count(*) FROM kittest.log WHERE type = "
                        "'lead.scored' AND lead_id = 'poison-timer-1'"),
            1); /* the one its lead.created emitted, not the timer's */
  CHECK_INT(count(x.pg, "SELECT count(*) FROM kittest.log WHERE type = "
                        "'lead.scored'"),
            9 + 2);
  static rec_t recs[4];
  int n = read_topic(&x, SB_TOPIC_DEADLETTER, recs, 4);
  CHECK_INT(n, 1);
  CHECK_HAS(recs[0].hdr, "sb-error-class=timer;");
  CHECK_HAS(recs[0].hdr, "sb-processor=kittest;");
  CHECK_HAS(recs[0].hdr, "sb-timer-key=acme/poison-timer-1;");
  CHECK_HAS(recs[0].hdr, "refuses its timer");
  CHECK_INT((int)st[0].deadletters, 1);
  sbt_env_down(&x);
  return 0;
}

int test_pipeline_processor_added_later(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  const char *subjects[] = {"lead-1", "lead-2", "lead-3", "lead-4"};
  CHECK(produce_leads(&x, subjects, 4, NULL) == 0);
  sb_pipeline_stats_t st[2];
  const sb_processor_vt_t *first[] = {&test_vt};
  CHECK(run_pipeline(&x, first, 1, st, NULL) == 0);
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbtest.seen"), 4);
  /* sbrows joins: it reads from the start, sbtest goes on from its offsets
   * (seen's key would dead-letter a second copy) */
  const sb_processor_vt_t *both[] = {&test_vt, &rows_vt};
  CHECK(run_pipeline(&x, both, 2, st, NULL) == 0);
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbtest.seen"), 4);
  CHECK_INT((int)st[0].deadletters, 0);
  CHECK_INT(rows_of(&x, "lead.created"), 4);
  CHECK_INT(rows_of(&x, "lead.scored"), 4);
  CHECK_INT(count(x.pg, "SELECT count(DISTINCT event_id) FROM sbrows.rows"),
            8);
  sbt_env_down(&x);
  return 0;
}

/* Two processes writing one processor's projection (here: two pipelines in
 * different consumer groups, both running sbrows): the offsets'
 * compare-and-set lets one batch of each pair commit, so no row is written
 * twice. */
typedef struct {
  sbt_env_t *x;
  const sb_processor_vt_t *const *vts;
  size_t n;
  int rc;
} racer_t;

static void *racer(void *arg) {
  racer_t *r = arg;
  sb_pipeline_stats_t st[2];
  r->rc = run_pipeline(r->x, r->vts, r->n, st, NULL);
  return NULL;
}

int test_pipeline_offsets_fence_a_second_writer(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  sb_conf_set(&x.c, "batch.max_events", "7", SB_CO_FLAG, NULL, NULL);
  static char names[200][32];
  const char *subjects[200];
  lead_names(names, subjects, 200);
  CHECK(produce_leads(&x, subjects, 200, NULL) == 0);
  const sb_processor_vt_t *a[] = {&rows_vt};
  const sb_processor_vt_t *b[] = {&test_vt, &rows_vt};
  racer_t ra = {&x, a, 1, -1}, rb = {&x, b, 2, -1};
  pthread_t ta, tb;
  CHECK(pthread_create(&ta, NULL, racer, &ra) == 0);
  CHECK(pthread_create(&tb, NULL, racer, &rb) == 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  CHECK_INT(ra.rc, 0);
  CHECK_INT(rb.rc, 0);
  CHECK_INT(rows_of(&x, "lead.created"), 200);
  /* the lead.scored of batches that lost the race were dropped */
  CHECK_INT(rows_twice(&x), 0);
  /* and every lead is there */
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbrows.rows r JOIN "
                        "sbtest.seen s USING (event_id)"),
            200);
  sbt_env_down(&x);
  return 0;
}

/* ---- global tables ----------------------------------------------------- */

/* sbglob: a global table of agents (every agent.state_changed of every
 * partition of sb.agents, by tenant/agent), and for each lead.created a
 * row saying how many of the agents agent-1..agent-4 it could see. */
static int g_reduce(void *state, sb_global_t *g, const sb_event_t *ev,
                    sb_err_t *err) {
  (void)state;
  char key[160];
  snprintf(key, sizeof key, "%s/%s", ev->tenant_id, ev->subject);
  return sb_global_put(g, key, "seen", 4, err);
}

static const sb_global_def_t g_defs[] = {
    {"agents", SB_TOPIC_AGENTS, g_reduce},
    {0},
};

static const sb_table_def_t g_table = {
    .name = "seen",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"event_id", SB_COL_TEXT, 0},
                               {"agents", SB_COL_INT8, 0},
                               {0}},
};

static int g_init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  (void)kit, (void)err;
  *state = NULL;
  return 0;
}

static int g_event(void *state, sb_batch_t *b, const sb_event_t *ev,
                   sb_err_t *err) {
  (void)state;
  if (strcmp(sb_evtype_name(ev->type), "lead.created") != 0)
    return 0;
  int agents = 0;
  for (int i = 1; i <= 4; i++) {
    char key[160];
    const void *v;
    size_t len;
    snprintf(key, sizeof key, "%s/agent-%d", ev->tenant_id, i);
    agents += sb_global_get(b, &g_defs[0], key, &v, &len) == 0;
  }
  return sb_rows_add(b, &g_table,
                     (const sb_val_t[]){SB_V_TEXT(ev->tenant_id),
                                        SB_V_TEXT(ev->event_id),
                                        SB_V_INT8(agents)},
                     err);
}

static void g_destroy(void *state) { (void)state; }

static const sb_processor_vt_t glob_vt = {
    .abi = SB_PROCESSOR_ABI,
    .name = "sbglob",
    .topics = test_topics,
    .migrations =
        (const sb_proj_step_t[]){
            {1, "CREATE TABLE {schema}.seen (tenant_id text NOT NULL, "
                "event_id text NOT NULL, agents bigint NOT NULL);\n"
                "GRANT SELECT, INSERT ON {schema}.seen TO switchboard_app;"},
            {0, NULL}},
    .tables = (const sb_table_def_t *const[]){&g_table, NULL},
    .init = g_init,
    .event = g_event,
    .destroy = g_destroy,
    .globals = g_defs,
};

static void agent_ce(char *js, size_t sz, int i, const void *arg) {
  snprintf(js, sz,
           "{\"specversion\":\"1.0\",\"type\":\"agent.state_changed\","
           "\"source\":\"test\",\"subject\":\"agent-%d\",\"tenantid\":"
           "\"acme\",\"time\":\"2026-11-24T09:00:00Z\",\"data\":{\"state\":"
           "\"available\"}}",
           *(const int *)arg + i);
}

/* An agent.state_changed for each of agent-<from> .. agent-<to>. */
static int produce_agents(sbt_env_t *x, int from, int to) {
  return produce(x, to - from + 1, agent_ce, &from, NULL);
}

int test_pipeline_global_table(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  CHECK(produce_agents(&x, 1, 3) == 0);
  const char *leads[] = {"lead-1", "lead-2", "lead-3", "lead-4", "lead-5"};
  CHECK(produce_leads(&x, leads, 5, NULL) == 0);
  const sb_processor_vt_t *vts[] = {&glob_vt};
  sb_pipeline_stats_t st[1];
  CHECK(run_pipeline(&x, vts, 1, st, NULL) == 0);
  /* every agent was known before the first lead: the table is read to the
   * end of sb.agents (both partitions) before the first batch */
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbglob.seen WHERE agents = 3"),
            5);
  /* kept in PostgreSQL with its own offsets */
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sb.processor_state WHERE "
                        "schema = 'sbglob' AND topic = '#global.agents'"),
            3);
  CHECK_INT(count(x.pg, "SELECT sum(next_offset) FROM sb.consumer_offsets "
                        "WHERE consumer_group = "
                        "'switchboard.sbglob.global.agents'"),
            3);
  /* a restart reads on from there: a fourth agent, then two leads */
  CHECK(produce_agents(&x, 4, 4) == 0);
  const char *more[] = {"lead-6", "lead-7"};
  CHECK(produce_leads(&x, more, 2, NULL) == 0);
  CHECK(run_pipeline(&x, vts, 1, st, NULL) == 0);
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbglob.seen WHERE agents = 4"),
            2);
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbglob.seen"), 7);
  CHECK_INT(count(x.pg, "SELECT sum(next_offset) FROM sb.consumer_offsets "
                        "WHERE consumer_group = "
                        "'switchboard.sbglob.global.agents'"),
            4);
  sbt_env_down(&x);
  return 0;
}

/* A processor running statements during event is put first in its
 * pipeline, whatever the order given; two cannot share one. */
int test_pipeline_event_sql_goes_first(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  const char *subjects[] = {"lead-1", "lead-2", "lead-3-poison", "lead-4"};
  CHECK(produce_leads(&x, subjects, 4, NULL) == 0);
  sb_processor_vt_t writing_vt = writing();
  const sb_processor_vt_t *vts[] = {&rows_vt, &writing_vt};
  sb_pipeline_stats_t st[2];
  CHECK(run_pipeline(&x, vts, 2, st, NULL) == 0);
  /* sbtest wrote in event: 3 leads, the poison one dead-lettered for it;
   * sbrows every lead */
  CHECK_INT(count(x.pg, "SELECT count(*) FROM sbtest.seen"), 3);
  CHECK_INT(rows_of(&x, "lead.created"), 4);
  /* two of them: refused, saying what to do */
  sb_err_t err = SB_ERR_INIT;
  sb_pipeline_t *p = NULL;
  sb_processor_vt_t other = writing_vt;
  other.name = "sbtest2";
  const sb_processor_vt_t *two[] = {&writing_vt, &other};
  sb_pipeline_opts_t o = {.vts = two, .n = 2, .stop_at_end = 1};
  CHECK_INT(sb_pipeline_start(&x.c, x.schemas, &o, &p, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "cannot share a pipeline");
  sbt_env_down(&x);
  return 0;
}
