/* A queue's configuration as producers post it: routing.queue_configured
 * refused at ingest (the codec: the strategy's enum, the bounds of each
 * number, the skills list) with the field named, and accepted when it
 * holds. What the schema cannot say (a skill's syntax and level, a skill
 * twice) the routing processor refuses to the dead letters: golden case
 * tests/golden/routing/queues; the decisions it leads to:
 * tests/golden/assignment/queues. */
#include "sb_codec.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <stdio.h>
#include <string.h>

/* the event with data, and SB_EVALIDATE whose message has want (NULL:
 * accepted) */
static int check(sb_codec_t *c, const char *data, const char *want) {
  char text[2048];
  snprintf(text, sizeof text,
           "{\"specversion\":\"1.0\",\"type\":\"routing.queue_configured\","
           "\"source\":\"/t\",\"subject\":\"sales\",\"time\":"
           "\"2026-03-02T09:00:00Z\",\"tenantid\":\"acme\",\"id\":"
           "\"01KGQ000000000000000000001\",\"data\":%s}",
           data);
  cJSON *ce = cJSON_Parse(text);
  sb_err_t err = SB_ERR_INIT;
  sb_record_t r;
  int rc = ce ? sb_codec_from_ce(c, ce, 0, &r, &err) : SB_EINVAL;
  cJSON_Delete(ce);
  if (rc == 0)
    sb_record_clear(&r);
  if (want == NULL && rc != 0) {
    fprintf(stderr, "refused %s: %s\n", data, err.msg);
    return 1;
  }
  if (want != NULL && (rc != SB_EVALIDATE || strstr(err.msg, want) == NULL)) {
    fprintf(stderr, "%s: want SB_EVALIDATE with \"%s\", got %s (%s)\n", data,
            want, sb_err_name(rc), err.msg);
    return 1;
  }
  return 0;
}

int test_routing_queue_refused(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *s = NULL;
  sb_codec_t *c = NULL;
  CHECK_OK(sb_schemas_load(&s, &err), &err);
  CHECK_OK(sb_codec_new(s, &c, &err), &err);
  char many[1024] = "{\"strategy\":\"skills\",\"required_skills\":[";
  for (int i = 0; i < 17; i++)
    snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"s%d\"",
             i ? "," : "", i);
  snprintf(many + strlen(many), sizeof many - strlen(many), "]}");
  static const struct {
    const char *data, *want;
  } cases[] = {
      {"{\"strategy\":\"longest_wait_time\"}", NULL},
      {"{\"strategy\":\"round_robin\",\"relax_after_ms\":0,\"max_waiting\":1,"
       "\"priority\":-1000,\"service_level_s\":1,\"required_skills\":[\"es:2\","
       "\"en\"],\"description\":\"d\"}",
       NULL},
      {"{\"strategy\":\"capacity\",\"relax_after_ms\":86400000,"
       "\"max_waiting\":1000000,\"priority\":1000,\"service_level_s\":86400}",
       NULL},
      {"{}", "data.strategy: missing required field"},
      {"{\"strategy\":\"random\"}", "data.strategy: 'random' is not one of "
                                    "longest_wait_time, fewest_calls"},
      {"{\"strategy\":\"longest_wait\"}", "data.strategy"},
      {"{\"strategy\":\"skills\",\"relax_after_ms\":-1}",
       "data.relax_after_ms"},
      {"{\"strategy\":\"skills\",\"relax_after_ms\":86400001}",
       "data.relax_after_ms"},
      {"{\"strategy\":\"skills\",\"max_waiting\":0}", "data.max_waiting"},
      {"{\"strategy\":\"skills\",\"priority\":1001}", "data.priority"},
      {"{\"strategy\":\"skills\",\"service_level_s\":0}",
       "data.service_level_s"},
      {"{\"strategy\":\"skills\",\"required_skills\":\"es\"}",
       "data.required_skills"},
      {"{\"strategy\":\"skills\",\"required_skills\":[\"a-skill-name-longer-"
       "than-sixty-six-bytes-is-refused-at-ingest-whatever-it-says\"]}",
       "data.required_skills"},
      {"{\"strategy\":\"skills\",\"queue_id\":\"a-queue-id-longer-than-sixty-"
       "three-bytes-is-refused-at-ingest-here\"}",
       "queue_id"},
  };
  int failed = check(c, many, "data.required_skills");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    failed += check(c, cases[i].data, cases[i].want);
  sb_codec_free(c);
  sb_schemas_free(s);
  return failed ? 1 : 0;
}
