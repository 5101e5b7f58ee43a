/* The compliance processor's consent state as another processor reads it
 * (processors/compliance/consent.h), through the real runtime: the
 * embedded broker, the fixture's PostgreSQL, one pipeline running
 * compliance and a probe processor that asks sb_consent_allows for each
 * lead.created it is handed and writes the answer down. */
#include "compliance.h"
#include "consent.h"

#include "sb_codec.h"
#include "sb_kafka.h"
#include "sb_migrate.h"
#include "sb_pg.h"
#include "sb_pipeline.h"
#include "sb_producer.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sbt_env.h"
#include "sb_tests.h"
#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H_E "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee1"
#define H_G "9999999999999999999999999999999999999999999999999999999999999992"
#define H_H "8888888888888888888888888888888888888888888888888888888888888883"

/* ---- the probe: asks for every lead.created ------------------------------ */

static const struct {
  const char *subject, *hmac, *purpose, *channel, *want;
} asks[] = {
    {"lead-a", NULL, "marketing", "sms", "allowed"},
    {"lead-a", NULL, "marketing", "voice", "no_consent"}, /* sms only */
    {"lead-b", NULL, "marketing", "sms", "withdrawn"},
    {"lead-c", NULL, "marketing", "voice", "expired"},
    {"lead-d", NULL, "marketing", "sms", "no_consent"},
    {"lead-e", H_E, "marketing", "voice", "dnc"},
    /* another subject with the same phone: the HMAC matches */
    {"lead-f", H_E, "marketing", "voice", "dnc"},
    {"lead-f", NULL, "marketing", "voice", "allowed"},
    {"lead-f", H_E, "marketing", "sms", "allowed"}, /* the flag is voice */
    {"lead-g", H_G, "marketing", "sms", "opted_out"},
    {"lead-g", NULL, "marketing", "sms", "opted_out"}, /* by subject too */
    {"lead-h", H_H, "marketing", "sms", "allowed"}, /* consent after it */
    {"lead-i", NULL, "marketing", "email", "withdrawn"}, /* out of order */
    {"lead-a", NULL, "analytics", "sms", "no_consent"},
};
#define NASKS (sizeof asks / sizeof asks[0])

static const sb_table_def_t answers = {
    .name = "answers",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"ask", SB_COL_INT4, 0},
                               {"answer", SB_COL_TEXT, SB_MERGE_REPLACE},
                               {"allowed", SB_COL_BOOL, SB_MERGE_REPLACE},
                               {0}},
    .key = (const char *const[]){"tenant_id", "ask", NULL},
};

static int p_init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  (void)kit, (void)err;
  *state = NULL;
  return 0;
}

static int p_event(void *state, sb_batch_t *b, const sb_event_t *ev,
                   sb_err_t *err) {
  (void)state;
  if (strcmp(sb_evtype_name(ev->type), "lead.created") != 0 ||
      strncmp(ev->subject, "ask-", 4) != 0)
    return 0;
  int i = atoi(ev->subject + 4);
  if (i < 0 || (size_t)i >= NASKS)
    return 0;
  sb_consent_reason_t why;
  int ok = sb_consent_allows(b, ev->tenant_id, asks[i].subject, asks[i].hmac,
                             asks[i].purpose, asks[i].channel, ev->occurred_at,
                             &why);
  return sb_rows_add(b, &answers,
                     (const sb_val_t[]){SB_V_TEXT(ev->tenant_id), SB_V_INT4(i),
                                        SB_V_TEXT(sb_consent_reason_name(why)),
                                        SB_V_BOOL(ok)},
                     err);
}

static void p_destroy(void *state) { (void)state; }

static const sb_processor_vt_t probe_vt = {
    .abi = SB_PROCESSOR_ABI,
    .name = "consentprobe",
    .topics = (const char *const[]){SB_TOPIC_LEADS, NULL},
    .migrations =
        (const sb_proj_step_t[]){
            {1, "CREATE TABLE {schema}.answers (tenant_id text NOT NULL, ask "
                "integer NOT NULL, answer text NOT NULL, allowed boolean NOT "
                "NULL, PRIMARY KEY (tenant_id, ask));\n"
                "GRANT SELECT, INSERT, UPDATE ON {schema}.answers TO "
                "switchboard_app;"},
            {0, NULL}},
    .tables = (const sb_table_def_t *const[]){&answers, NULL},
    .init = p_init,
    .event = p_event,
    .destroy = p_destroy,
    .globals = sb_consent_globals,
};

/* A second reader with globals of its own: the table as one element of its
 * array (sb_consent_allows_in); sb_consent_allows, which names
 * sb_consent_globals, is not among them and fails closed. */
static int noop_reduce(void *state, sb_global_t *g, const sb_event_t *ev,
                       sb_err_t *err) {
  (void)state, (void)g, (void)ev, (void)err;
  return 0;
}

static const sb_global_def_t own_globals[] = {
    {"agents", SB_TOPIC_AGENTS, noop_reduce}, SB_CONSENT_GLOBAL, {0}};

static const sb_table_def_t answers2 = {
    .name = "answers",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"ask", SB_COL_INT4, 0},
                               {"answer_in", SB_COL_TEXT, SB_MERGE_REPLACE},
                               {"answer_plain", SB_COL_TEXT, SB_MERGE_REPLACE},
                               {0}},
    .key = (const char *const[]){"tenant_id", "ask", NULL},
};

static int p2_event(void *state, sb_batch_t *b, const sb_event_t *ev,
                    sb_err_t *err) {
  (void)state;
  if (strcmp(sb_evtype_name(ev->type), "lead.created") != 0 ||
      strncmp(ev->subject, "ask-", 4) != 0)
    return 0;
  int i = atoi(ev->subject + 4);
  if (i < 0 || (size_t)i >= NASKS)
    return 0;
  sb_consent_reason_t in, plain;
  sb_consent_allows_in(b, &own_globals[1], ev->tenant_id, asks[i].subject,
                       asks[i].hmac, asks[i].purpose, asks[i].channel,
                       ev->occurred_at, &in);
  int ok = sb_consent_allows(b, ev->tenant_id, asks[i].subject, asks[i].hmac,
                             asks[i].purpose, asks[i].channel, ev->occurred_at,
                             &plain);
  if (ok) /* a table it does not keep allows nothing */
    return sb_err_set(err, SB_EINTERNAL, "allowed without the table");
  return sb_rows_add(b, &answers2,
                     (const sb_val_t[]){SB_V_TEXT(ev->tenant_id), SB_V_INT4(i),
                                        SB_V_TEXT(sb_consent_reason_name(in)),
                                        SB_V_TEXT(sb_consent_reason_name(plain))},
                     err);
}

static const sb_processor_vt_t probe2_vt = {
    .abi = SB_PROCESSOR_ABI,
    .name = "consentprobe2",
    .topics = (const char *const[]){SB_TOPIC_LEADS, NULL},
    .migrations =
        (const sb_proj_step_t[]){
            {1, "CREATE TABLE {schema}.answers (tenant_id text NOT NULL, ask "
                "integer NOT NULL, answer_in text NOT NULL, answer_plain text "
                "NOT NULL, PRIMARY KEY (tenant_id, ask));\n"
                "GRANT SELECT, INSERT, UPDATE ON {schema}.answers TO "
                "switchboard_app;"},
            {0, NULL}},
    .tables = (const sb_table_def_t *const[]){&answers2, NULL},
    .init = p_init,
    .event = p2_event,
    .destroy = p_destroy,
    .globals = own_globals,
};

/* ---- the run ------------------------------------------------------------- */


/* An event `ago_h` hours before now: type, subject, data (JSON). */
typedef struct {
  const char *type, *subject;
  int ago_h;
  const char *data;
} ev_t;

static int produce(sbt_env_t *x, const ev_t *evs, size_t n) {
  sb_err_t err = SB_ERR_INIT;
  sb_producer_t *p = NULL;
  if (sb_producer_new(&x->c, &p, &err) != 0)
    return -1;
  int rc = 0;
  int64_t now = sb_time_now_micros();
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char when[64], js[2048];
    sb_time_format(now - (int64_t)evs[i].ago_h * 3600000000LL, when,
                   sizeof when);
    snprintf(js, sizeof js,
             "{\"specversion\":\"1.0\",\"type\":\"%s\",\"source\":\"test\","
             "\"subject\":\"%s\",\"tenantid\":\"acme\",\"time\":\"%s\","
             "\"data\":%s}",
             evs[i].type, evs[i].subject, when, evs[i].data);
    cJSON *j = cJSON_Parse(js);
    sb_record_t r;
    rc = j ? sb_codec_from_ce(x->codec, j, SB_CE_GENERATE_ID, &r, &err) : -1;
    cJSON_Delete(j);
    if (rc == 0) {
      rc = sb_producer_send_record(p, &r, NULL, NULL, &err);
      sb_record_clear(&r);
    }
    if (rc != 0)
      fprintf(stderr, "produce %s %s: %s\n", evs[i].type, evs[i].subject,
              err.msg);
  }
  if (rc == 0)
    rc = sb_producer_flush(p, 10000, &err);
  sb_producer_free(p);
  return rc;
}

static int run(sbt_env_t *x) {
  const sb_processor_vt_t *vts[] = {&sb_compliance_processor, &probe_vt,
                                    &probe2_vt};
  sb_err_t err = SB_ERR_INIT;
  sb_pipeline_t *e = NULL;
  sb_pipeline_opts_t o = {
      .vts = vts, .n = 3, .stop_at_end = 1, .all_partitions = 1};
  if (sb_pipeline_start(&x->c, x->schemas, &o, &e, &err) != 0) {
    fprintf(stderr, "pipeline: %s\n", err.msg);
    return -1;
  }
  for (int i = 0; i < 600 && !sb_pipeline_done(e); i++)
    usleep(100 * 1000);
  sb_pipeline_stop(e);
  if (sb_pipeline_join(e, NULL, &err) != 0) {
    fprintf(stderr, "pipeline: %s\n", err.msg);
    return -1;
  }
  return 0;
}

static int count(sb_pg_t *pg, const char *sql) {
  char v[32];
  int found = 0;
  sb_err_t err = SB_ERR_INIT;
  if (sb_pg_query1(pg, sql, 0, NULL, v, sizeof v, &found, NULL, &err) != 0) {
    fprintf(stderr, "%s: %s\n", sql, err.msg);
    return -1;
  }
  return found ? atoi(v) : -1;
}

int test_consent_seen_by_another_processor(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  static const ev_t state[] = {
      {"consent.given", "lead-a", 3, "{\"purpose\":\"marketing\",\"channel\":\"sms\"}"},
      {"consent.given", "lead-b", 3, "{\"purpose\":\"marketing\"}"},
      {"consent.withdrawn", "lead-b", 2, "{\"purpose\":\"marketing\"}"},
      {"consent.given", "lead-c", 3, "{\"purpose\":\"marketing\",\"channel\":"
                                     "\"voice\",\"expires_at\":\"2026-01-01T00:00:00Z\"}"},
      {"lead.dnc_flagged", "lead-e", 2, "{\"channel\":\"voice\",\"phone_hmac\":\"" H_E "\"}"},
      {"consent.given", "lead-f", 1, "{\"purpose\":\"marketing\",\"phone_hmac\":\"" H_E "\"}"},
      {"consent.given", "lead-g", 5, "{\"purpose\":\"marketing\"}"},
      {"message.opt_out", "m-g", 1, "{\"channel\":\"sms\",\"lead_id\":\"lead-g\",\"phone_hmac\":\"" H_G "\"}"},
      {"message.opt_out", "m-h", 4, "{\"channel\":\"sms\",\"lead_id\":\"lead-h\",\"phone_hmac\":\"" H_H "\"}"},
      {"consent.given", "lead-h", 1, "{\"purpose\":\"marketing\",\"channel\":\"sms\"}"},
      /* out of order: the later withdrawal first */
      {"consent.withdrawn", "lead-i", 1, "{\"purpose\":\"marketing\",\"channel\":\"email\"}"},
      {"consent.given", "lead-i", 2, "{\"purpose\":\"marketing\",\"channel\":\"email\"}"},
  };
  CHECK(produce(&x, state, sizeof state / sizeof state[0]) == 0);
  CHECK(run(&x) == 0);
  /* the compliance processor applied each revocation once, in time */
  CHECK_INT(count(x.pg, "SELECT count(*) FROM compliance.opt_outs"), 5);
  CHECK_INT(count(x.pg, "SELECT count(*) FROM compliance.opt_outs WHERE "
                        "honoured_at >= received_at AND business_days <= 1 "
                        "AND NOT late"),
            5);
  /* then the questions, in a run of their own: the probe's table has read
   * sb.compliance to its end, decisions included, before its first batch */
  static ev_t probes[NASKS];
  static char subjects[NASKS][16];
  for (size_t i = 0; i < NASKS; i++) {
    snprintf(subjects[i], sizeof subjects[i], "ask-%zu", i);
    probes[i] = (ev_t){"lead.created", subjects[i], 0, "{}"};
  }
  CHECK(produce(&x, probes, NASKS) == 0);
  CHECK(run(&x) == 0);
  sb_err_t err = SB_ERR_INIT;
  sb_pg_rows_t *rows = NULL;
  CHECK_OK(sb_pg_rows(x.pg,
                      "SELECT ask, answer, allowed FROM consentprobe.answers "
                      "ORDER BY ask",
                      0, NULL, &rows, &err),
           &err);
  CHECK_INT(sb_pg_rows_count(rows), (int)NASKS);
  int wrong = 0;
  for (int r = 0; r < sb_pg_rows_count(rows); r++) {
    int i = atoi(sb_pg_rows_get(rows, r, 0));
    const char *got = sb_pg_rows_get(rows, r, 1);
    int allowed = strcmp(sb_pg_rows_get(rows, r, 2), "t") == 0;
    if (strcmp(got, asks[i].want) != 0 ||
        allowed != (strcmp(asks[i].want, "allowed") == 0)) {
      fprintf(stderr, "ask %d (%s %s %s %s): want %s, got %s\n", i,
              asks[i].subject, asks[i].hmac ? "hmac" : "-", asks[i].purpose,
              asks[i].channel, asks[i].want, got);
      wrong++;
    }
  }
  sb_pg_rows_free(rows);
  CHECK_INT(wrong, 0);
  /* the second reader, through its own array, answers the same; asked
   * about a table it does not keep, it is refused everything */
  CHECK_INT(count(x.pg, "SELECT count(*) FROM consentprobe2.answers a JOIN "
                        "consentprobe.answers b USING (tenant_id, ask) WHERE "
                        "a.answer_in = b.answer AND a.answer_plain = "
                        "'no_consent'"),
            (int)NASKS);
  /* the probe keeps its own copy of the table */
  CHECK(count(x.pg, "SELECT count(*) FROM sb.processor_state WHERE schema = "
                    "'consentprobe' AND topic = '#global.consent'") >= 10);
  sbt_env_down(&x);
  return 0;
}

/* Business days between local days, Monday to Friday. */
int test_compliance_business_days(void) {
  /* 2026-01-05 is a Monday: day 20458 since 1970-01-01 */
  const int64_t mon = 20458;
  CHECK_INT((int)sb_compliance_business_days(mon, mon), 0);
  CHECK_INT((int)sb_compliance_business_days(mon, mon + 1), 1);
  CHECK_INT((int)sb_compliance_business_days(mon + 4, mon + 7), 1); /* Fri->Mon */
  CHECK_INT((int)sb_compliance_business_days(mon + 5, mon + 6), 0); /* Sat->Sun */
  CHECK_INT((int)sb_compliance_business_days(mon, mon + 7), 5);
  CHECK_INT((int)sb_compliance_business_days(mon, mon + 14), 10);
  CHECK_INT((int)sb_compliance_business_days(mon, mon + 15), 11);
  CHECK_INT((int)sb_compliance_business_days(mon + 3, mon + 17), 10); /* Thu */
  CHECK_INT((int)sb_compliance_business_days(mon + 7, mon), 0);
  CHECK_INT((int)sb_compliance_business_days(mon, mon + 365), 261);
  CHECK_INT((int)sb_compliance_business_days(-3, 4), 5); /* 1969-12-29 Mon */
  return 0;
}
