/* The campaigns processor's timers firing, through the real runtime (the
 * embedded broker, the fixture's PostgreSQL, a pipeline that does not stop
 * at the end of the log): campaigns whose start and end have passed move
 * active, then completed, saying so with campaign.state_changed; leads
 * whose retry time has come are recycled (lead.recycled) at the opening
 * computed for them, ready again and marked recycled. A probe processor
 * writes down every event the campaigns processor derived, as it reads
 * them back from the log. (The golden cases, tests/golden/campaigns, use
 * times in 2099 so that no timer fires while they run.) */
#include "campaigns.h"

#include "sb_pipeline.h"
#include "sb_producer.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sbt_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the probe: the derived events, as read back ------------------------- */

static const sb_table_def_t seen = {
    .name = "seen",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"event_id", SB_COL_TEXT, 0},
                               {"type", SB_COL_TEXT, SB_MERGE_KEEP},
                               {"subject", SB_COL_TEXT, SB_MERGE_KEEP},
                               {"detail", SB_COL_TEXT, SB_MERGE_KEEP},
                               {"occurred_at", SB_COL_TIMESTAMPTZ, SB_MERGE_KEEP},
                               {0}},
    .key = (const char *const[]){"tenant_id", "event_id", NULL},
};

static sb_field_t f_state, f_prev; /* enums: read by handle */

static int p_init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  *state = NULL;
  if (sb_codec_field(kit->schemas, "campaign.state_changed", "state", &f_state,
                     err) != 0 ||
      sb_codec_field(kit->schemas, "campaign.state_changed", "previous_state",
                     &f_prev, err) != 0)
    return err->code;
  return 0;
}

static void p_destroy(void *state) { (void)state; }

static int p_event(void *state, sb_batch_t *b, const sb_event_t *ev,
                   sb_err_t *err) {
  (void)state;
  const char *src = sb_event_str_path(ev, "source");
  if (src == NULL || strcmp(src, "switchboard://processor/campaigns") != 0)
    return 0;
  const char *type = sb_evtype_name(ev->type);
  char detail[512];
  if (strcmp(type, "campaign.state_changed") == 0)
    snprintf(detail, sizeof detail, "%s>%s %s",
             sb_event_enum_name(ev, f_prev), sb_event_enum_name(ev, f_state),
             sb_event_str_path(ev, "reason"));
  else if (strcmp(type, "lead.recycled") == 0)
    snprintf(detail, sizeof detail, "%s", sb_event_str_path(ev, "reason"));
  else
    snprintf(detail, sizeof detail, "%s", sb_event_str_path(ev, "disposition"));
  return sb_rows_add(b, &seen,
                     (const sb_val_t[]){SB_V_TEXT(ev->tenant_id),
                                        SB_V_TEXT(ev->event_id), SB_V_TEXT(type),
                                        SB_V_TEXT(ev->subject), SB_V_TEXT(detail),
                                        SB_V_TIMESTAMPTZ(ev->occurred_at)},
                     err);
}

static const sb_processor_vt_t probe_vt = {
    .abi = SB_PROCESSOR_ABI,
    .name = "campaignprobe",
    .topics = (const char *const[]){SB_TOPIC_LEADS, SB_TOPIC_CAMPAIGNS, NULL},
    .migrations =
        (const sb_proj_step_t[]){
            {1, "CREATE TABLE {schema}.seen (tenant_id text NOT NULL, "
                "event_id text NOT NULL, type text NOT NULL, subject text, "
                "detail text, occurred_at timestamptz NOT NULL, PRIMARY KEY "
                "(tenant_id, event_id));\n"
                "GRANT SELECT, INSERT, UPDATE ON {schema}.seen TO "
                "switchboard_app;"},
            {0, NULL}},
    .tables = (const sb_table_def_t *const[]){&seen, NULL},
    .init = p_init,
    .event = p_event,
    .destroy = p_destroy,
};

/* ---- the run ------------------------------------------------------------- */

static const char *const input[] = {
    /* c1: scheduled; its start and its end have passed */
    "{\"type\":\"campaign.created\",\"subject\":\"c1\",\"time\":\"2026-03-01T10:00:00Z\",\"data\":{\"campaign_id\":\"c1\",\"name\":\"Spring\",\"state\":\"scheduled\",\"starts_at\":\"2026-03-02T14:00:00Z\",\"ends_at\":\"2026-03-20T00:00:00Z\"}}",
    /* c2: a draft a manager schedules after its start: active at once */
    "{\"type\":\"campaign.created\",\"subject\":\"c2\",\"time\":\"2026-03-01T10:00:00Z\",\"data\":{\"campaign_id\":\"c2\",\"name\":\"Evergreen\",\"starts_at\":\"2026-03-01T12:00:00Z\",\"ends_at\":\"2199-01-01T00:00:00Z\"}}",
    "{\"type\":\"campaign.state_changed\",\"subject\":\"c2\",\"time\":\"2026-03-01T11:00:00Z\",\"data\":{\"campaign_id\":\"c2\",\"state\":\"scheduled\"}}",
    /* k1: New York, 09:00-20:00 every day, 3 attempts 30 minutes apart */
    "{\"type\":\"campaign.created\",\"subject\":\"k1\",\"time\":\"2026-03-01T00:00:00Z\",\"data\":{\"campaign_id\":\"k1\",\"name\":\"Calls\",\"state\":\"active\",\"time_zone\":\"America/New_York\",\"dial_windows\":[\"all 09:00-20:00\"],\"max_attempts\":3,\"retry_delay_seconds\":1800}}",
    "{\"type\":\"lead.created\",\"subject\":\"L1\",\"time\":\"2026-03-08T12:30:00Z\",\"data\":{\"lead_id\":\"L1\",\"campaign_id\":\"k1\",\"time_zone\":\"America/New_York\"}}",
    "{\"type\":\"call.dispositioned\",\"subject\":\"call-1\",\"time\":\"2026-03-08T14:00:00Z\",\"data\":{\"call_id\":\"call-1\",\"disposition\":\"sale\",\"lead_id\":\"L1\",\"campaign_id\":\"k1\"}}",
    /* L2 in Los Angeles (phone_tz): busy at 16:50 PDT, next 08:00 PDT */
    "{\"type\":\"lead.created\",\"subject\":\"L2\",\"time\":\"2026-03-09T13:30:00Z\",\"data\":{\"lead_id\":\"L2\",\"campaign_id\":\"k1\",\"phone_tz\":\"America/Los_Angeles\"}}",
    "{\"type\":\"call.dispositioned\",\"subject\":\"call-2\",\"time\":\"2026-03-09T23:50:00Z\",\"data\":{\"call_id\":\"call-2\",\"disposition\":\"busy\",\"lead_id\":\"L2\",\"campaign_id\":\"k1\"}}",
    /* L4 in London: no answer at 14:05Z, recycled at 14:35Z */
    "{\"type\":\"lead.created\",\"subject\":\"L4\",\"time\":\"2026-03-10T14:00:00Z\",\"data\":{\"lead_id\":\"L4\",\"campaign_id\":\"k1\",\"time_zone\":\"Europe/London\"}}",
    "{\"type\":\"call.dispositioned\",\"subject\":\"call-4\",\"time\":\"2026-03-10T14:05:00Z\",\"data\":{\"call_id\":\"call-4\",\"disposition\":\"no_answer\",\"lead_id\":\"L4\",\"campaign_id\":\"k1\"}}",
};
#define NINPUT (sizeof input / sizeof input[0])

static int produce(sbt_env_t *x) {
  sb_err_t err = SB_ERR_INIT;
  sb_producer_t *p = NULL;
  if (sb_producer_new(&x->c, &p, &err) != 0)
    return -1;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < NINPUT; i++) {
    char js[2048];
    /* the common attributes spliced in after the opening brace */
    snprintf(js, sizeof js,
             "{\"specversion\":\"1.0\",\"source\":\"test\",\"tenantid\":"
             "\"acme\",%s",
             input[i] + 1);
    cJSON *j = cJSON_Parse(js);
    sb_record_t r;
    rc = j ? sb_codec_from_ce(x->codec, j, SB_CE_GENERATE_ID, &r, &err) : -1;
    cJSON_Delete(j);
    if (rc == 0) {
      rc = sb_producer_send_record(p, &r, NULL, NULL, &err);
      sb_record_clear(&r);
    }
    if (rc != 0)
      fprintf(stderr, "produce %zu: %s\n", i, err.msg);
  }
  if (rc == 0)
    rc = sb_producer_flush(p, 10000, &err);
  sb_producer_free(p);
  return rc;
}

static char *text(sb_pg_t *pg, const char *sql, char *buf, size_t n) {
  int found = 0;
  sb_err_t err = SB_ERR_INIT;
  buf[0] = '\0';
  if (sb_pg_query1(pg, sql, 0, NULL, buf, n, &found, NULL, &err) != 0)
    fprintf(stderr, "%s: %s\n", sql, err.msg);
  return buf;
}

int test_campaigns_timers_fire(void) {
  sbt_env_t x;
  CHECK(sbt_env_up(&x) == 0);
  CHECK(produce(&x) == 0);
  const sb_processor_vt_t *vts[] = {&sb_campaigns_processor, &probe_vt};
  sb_err_t err = SB_ERR_INIT;
  sb_pipeline_t *e = NULL;
  sb_pipeline_opts_t o = {.vts = vts, .n = 2, .all_partitions = 1};
  CHECK_OK(sb_pipeline_start(&x.c, x.schemas, &o, &e, &err), &err);
  /* 3 state changes, 3 attempts, 2 recycles: derived, read back */
  char v[4096];
  int i;
  for (i = 0; i < 300; i++) {
    if (strcmp(text(x.pg, "SELECT count(*) FROM campaignprobe.seen", v,
                    sizeof v),
               "8") == 0 &&
        strcmp(text(x.pg,
                    "SELECT count(*) FROM campaigns.lead_attempts WHERE "
                    "status = 'ready' AND recycled",
                    v, sizeof v),
               "2") == 0)
      break;
    usleep(100 * 1000);
  }
  sb_pipeline_stop(e);
  CHECK_OK(sb_pipeline_join(e, NULL, &err), &err);
  if (i == 300)
    fprintf(stderr, "timers: %s\n",
            text(x.pg, "SELECT string_agg(key || ' ' || kind || ' ' || due_us "
                       "|| ' ' || topic || partition, ', ') FROM "
                       "sb.processor_timers", v, sizeof v));
  if (i == 300)
    fprintf(stderr, "after 30 s: derived %s; leads %s\n",
            text(x.pg, "SELECT string_agg(type || ' ' || subject, ', ') FROM "
                       "campaignprobe.seen", v, sizeof v),
            text(x.pg, "SELECT string_agg(lead_id || ' ' || status || ' ' || "
                       "recycles, ', ') FROM campaigns.lead_attempts",
                 v + 2048, sizeof v - 2048));
  CHECK(i < 300);
  CHECK_STR(text(x.pg,
                 "SELECT string_agg(type || ' ' || subject || ' ' || detail "
                 "|| ' @' || to_char(occurred_at AT TIME ZONE 'UTC', "
                 "'MM-DD HH24:MI'), E'\\n' ORDER BY type, subject, "
                 "occurred_at) FROM campaignprobe.seen",
                 v, sizeof v),
            "campaign.state_changed c1 scheduled>active starts_at reached @03-02 14:00\n"
            "campaign.state_changed c1 active>completed ends_at reached @03-20 00:00\n"
            "campaign.state_changed c2 scheduled>active starts_at reached @03-01 12:00\n"
            "lead.attempt_recorded L1 sale @03-08 14:00\n"
            "lead.attempt_recorded L2 busy @03-09 23:50\n"
            "lead.attempt_recorded L4 no_answer @03-10 14:05\n"
            "lead.recycled L2 retry after busy (attempt 2 of 3) @03-10 15:00\n"
            "lead.recycled L4 retry after no_answer (attempt 2 of 3) @03-10 14:35");
  CHECK_STR(text(x.pg,
                 "SELECT string_agg(campaign_id || ' ' || state || ' ' || "
                 "coalesce(next_transition, '-'), ', ' ORDER BY campaign_id) "
                 "FROM campaigns.schedule",
                 v, sizeof v),
            "c1 completed -, c2 active completed, k1 active -");
  CHECK_STR(text(x.pg,
                 "SELECT string_agg(campaign_id || ' ' || cause || ' ' || "
                 "to_state, ', ' ORDER BY campaign_id, at) FROM "
                 "campaigns.transitions WHERE requested_by = 'schedule'",
                 v, sizeof v),
            "c1 schedule:start active, c1 schedule:end completed, c2 "
            "schedule:start active");
  CHECK_STR(text(x.pg,
                 "SELECT string_agg(lead_id || ' ' || status || ' ' || "
                 "attempts || '/' || recycles || ' ' || coalesce(to_char("
                 "next_attempt_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), '-'), "
                 "', ' ORDER BY lead_id) FROM campaigns.lead_attempts",
                 v, sizeof v),
            "L1 done 1/0 -, L2 ready 1/1 03-10 15:00, L4 ready 1/1 03-10 14:35");
  /* nothing left to fire but c2's end in 2199 */
  CHECK_STR(text(x.pg,
                 "SELECT string_agg(key, ',') FROM sb.processor_timers WHERE "
                 "schema = 'campaigns'",
                 v, sizeof v),
            "E|acme|c2");
  sbt_env_down(&x);
  return 0;
}
