/* The gamification processor's rule sets (processors/gamification/
 * gam_rules.c): the built-in set parses, every bad set is refused naming
 * what and where, predicates match as the routing language does (a field
 * the event lacks matches only ne), multipliers multiply inside their
 * window only and stay bounded. The decisions themselves are tested
 * through the runtime: the golden cases tests/golden/gamification and
 * tests/cli/gamification_crash.sh. */
#include "gam_int.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <stdlib.h>
#include <string.h>

static int refused(const char *json, const char *want) {
  gam_rules_t *r = NULL;
  sb_err_t err = SB_ERR_INIT;
  int rc = gam__rules_parse(json, "v1", &r, &err);
  gam__rules_free(r);
  if (rc != SB_EVALIDATE || r != NULL || strstr(err.msg, want) == NULL) {
    fprintf(stderr, "rule set %s: rc %d, \"%s\", want \"%s\"\n", json, rc,
            err.msg, want);
    return 1;
  }
  return 0;
}

int test_gamification_rules(void) {
  sb_err_t err = SB_ERR_INIT;
  gam_rules_t *r = NULL;
  CHECK_OK(gam__rules_parse(gam__default_rules_json, GAM_DEFAULT_VERSION, &r,
                            &err),
           &err);
  CHECK_INT(r->nrules, 6);
  CHECK_INT(r->agent_daily_cap, 1000);
  CHECK_INT(r->working_days, 0x3e);
  const gam_rule_t *sale = gam__rule_find(r, "sale");
  const gam_rule_t *call = gam__rule_find(r, "handled_call");
  CHECK(sale != NULL && call != NULL && gam__rule_find(r, "nope") == NULL);
  CHECK_INT(call->daily_cap, 200);
  CHECK_INT(sale->daily_cap, INT64_MAX);

  gam_src_t s;
  memset(&s, 0, sizeof s);
  s.source = GS_CALL_DISPO;
  s.str[GF_DISPOSITION] = "sale";
  CHECK(gam__rule_match(sale, &s));
  s.str[GF_DISPOSITION] = "no_answer";
  CHECK(!gam__rule_match(sale, &s));
  s.source = GS_CALL_ENDED; /* another event: no match, whatever the fields */
  s.str[GF_DISPOSITION] = "sale";
  CHECK(!gam__rule_match(sale, &s));
  CHECK(!gam__rule_match(call, &s)); /* no talk_ms: gte does not match */
  s.has[GF_TALK_MS - GF_NUM0] = 1;
  s.num[GF_TALK_MS - GF_NUM0] = 30000;
  CHECK(gam__rule_match(call, &s));
  s.num[GF_TALK_MS - GF_NUM0] = 29999;
  CHECK(!gam__rule_match(call, &s));
  CHECK_INT(gam__multiplied(r, sale, 0), 50);
  gam__rules_free(r);

  /* predicates: ne matches an absent field; all, any, not */
  r = NULL;
  CHECK_OK(gam__rules_parse(
               "{\"rules\": [{\"id\": \"a\", \"event\": \"call.connected\", "
               "\"points\": 2, \"when\": {\"all\": [{\"field\": \"wait_ms\", "
               "\"ne\": 5}, {\"not\": {\"field\": \"queue_id\", \"in\": "
               "[\"vip\"]}}, {\"any\": [{\"field\": \"ring_ms\", \"lt\": 10}, "
               "{\"field\": \"campaign_id\", \"eq\": \"c\"}]}]}}, {\"id\": \"b\", "
               "\"event\": \"call.ended\", \"points\": 100000}], "
               "\"multipliers\": [{\"from\": \"2026-12-01T00:00:00Z\", \"to\": "
               "\"2026-12-02T00:00:00Z\", \"percent\": 1000}, {\"from\": "
               "\"2026-12-01T00:00:00Z\", \"to\": \"2026-12-01T01:00:00Z\", "
               "\"percent\": 1000}, {\"from\": \"2026-12-01T00:00:00Z\", "
               "\"to\": \"2026-12-01T00:30:00Z\", \"percent\": 1000}]}",
               "v2", &r, &err),
           &err);
  memset(&s, 0, sizeof s);
  s.source = GS_CALL_CONNECTED;
  CHECK(!gam__rule_match(&r->rules[0], &s)); /* any: neither */
  s.str[GF_CAMPAIGN_ID] = "c";
  CHECK(gam__rule_match(&r->rules[0], &s)); /* wait_ms absent: ne matches */
  s.str[GF_QUEUE_ID] = "vip";
  CHECK(!gam__rule_match(&r->rules[0], &s));
  int64_t dec1 = INT64_C(1796083200000000); /* 2026-12-01T00:00:00Z */
  CHECK_INT(gam__multiplied(r, &r->rules[0], dec1 - 1), 2);
  CHECK_INT(gam__multiplied(r, &r->rules[0], dec1 + INT64_C(3600000000)), 20);
  CHECK_INT(gam__multiplied(r, &r->rules[0], dec1 + INT64_C(1800000000)),
            200);
  CHECK_INT(gam__multiplied(r, &r->rules[0], dec1), 2000);
  CHECK_INT(gam__multiplied(r, &r->rules[1], dec1), 1000000); /* bounded */
  CHECK_INT(gam__multiplied(r, &r->rules[0], dec1 + INT64_C(86400000000)), 2);
  gam__rules_free(r);

  /* refusals, each naming what and where */
  if (refused("[1]", "not a JSON object") ||
      refused("{\"rules\": 3}", "\"rules\" must be an array") ||
      refused("{\"rules\": [{\"id\": \"A B\"}]}", "rules[0]: a rule is") ||
      refused("{\"rules\": [{\"id\": \"x\", \"event\": \"lead.created\", "
              "\"points\": 1}]}",
              "rule x: event must be one of") ||
      refused("{\"rules\": [{\"id\": \"x\", \"event\": \"call.ended\", "
              "\"points\": 100001}]}",
              "rule x: points must be an integer 0 to 100000") ||
      refused("{\"rules\": [{\"id\": \"x\", \"event\": \"call.ended\", "
              "\"points\": 1}, {\"id\": \"x\", \"event\": \"call.ended\", "
              "\"points\": 1}]}",
              "rule x: the id is repeated") ||
      refused("{\"rules\": [{\"id\": \"x\", \"event\": \"call.ended\", "
              "\"points\": 1, \"when\": {\"field\": \"colour\", \"eq\": "
              "\"red\"}}]}",
              "rule x: unknown field 'colour'") ||
      refused("{\"rules\": [{\"id\": \"x\", \"event\": \"call.ended\", "
              "\"points\": 1, \"when\": {\"field\": \"talk_ms\", \"eq\": "
              "\"long\"}}]}",
              "eq of talk_ms: not a value of the field's kind (number)") ||
      refused("{\"rules\": [{\"id\": \"x\", \"event\": \"call.ended\", "
              "\"points\": 1, \"daily_cap\": -1}]}",
              "rule x: daily_cap must be an integer") ||
      refused("{\"rules\": [], \"working_days\": [0]}", "working_days") ||
      refused("{\"rules\": [], \"agent_daily_cap\": 1.5}",
              "agent_daily_cap must be an integer") ||
      refused("{\"rules\": [], \"multipliers\": [{\"from\": \"x\", \"to\": "
              "\"2026-12-01T00:00:00Z\", \"percent\": 200}]}",
              "multipliers[0]: from and to must be RFC 3339 times") ||
      refused("{\"rules\": [], \"multipliers\": [{\"from\": "
              "\"2026-12-01T00:00:00Z\", \"to\": \"2026-12-02T00:00:00Z\", "
              "\"percent\": 200, \"rules\": [\"nope\"]}]}",
              "multipliers[0]: names a rule the set lacks") ||
      refused("{\"rules\": [], \"badges\": [{\"id\": \"b\", \"metric\": "
              "\"rule:nope\", \"tiers\": [1]}]}",
              "badge b: metric must be") ||
      refused("{\"rules\": [], \"badges\": [{\"id\": \"b\", \"metric\": "
              "\"points\", \"tiers\": [5, 5]}]}",
              "badge b: tiers must be increasing") ||
      refused("{\"rules\": [], \"badges\": [{\"id\": \"b\", \"metric\": "
              "\"points\", \"tiers\": [1, 2, 3, 4, 5, 6]}]}",
              "badge b: tiers takes 1 to 5") ||
      refused("{\"rules\": [], \"streaks\": [{\"id\": \"s\", "
              "\"daily_points\": 0, \"tiers\": [2]}]}",
              "streak s: daily_points must be an integer"))
    return 1;
  err = (sb_err_t)SB_ERR_INIT;
  CHECK_INT(gam__rules_parse("{}", "", &r, &err), SB_EVALIDATE);
  CHECK_HAS(err.msg, "the version must be 1 to 128 bytes");
  return 0;
}
