/* The automation processor's rule sets without the runtime: every refusal
 * names what and where, and conditions match events as the scoring
 * predicates do. The runtime paths are in the golden case
 * (tests/golden/automation) and the crash test
 * (tests/cli/automation_crash.sh). */
#include "auto_int.h"

#include "sb_codec.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RULE(when, cond, then)                                                 \
  "{\"rules\": [{\"id\": \"r\", \"when\": \"" when "\"" cond                   \
  ", \"then\": [" then "]}]}"

int test_automation_rules_refused(void) {
  static const struct {
    const char *json, *why;
  } bad[] = {
      {"[]", "not a JSON object with an array \"rules\""},
      {"{\"rules\": {}}", "not a JSON object with an array \"rules\""},
      {"{\"rules\": [{\"id\": \"a b\", \"when\": \"lead.created\"}]}",
       "rules[0]: id must be 1 to 63"},
      {"{\"rules\": [{\"id\": \"a\", \"when\": \"lead.created\", \"then\": "
       "[{\"do\": \"rescore\"}]}, {\"id\": \"a\", \"when\": \"lead.created\", "
       "\"then\": [{\"do\": \"rescore\"}]}]}",
       "rules[1] (a): id used twice"},
      {RULE("agent.logged_in", "", "{\"do\": \"rescore\"}"),
       "rules[0] (r): when must be one of lead.created"},
      {RULE("lead.created", "", ""), "then must be an array of 1 to 8"},
      {RULE("lead.created", "", "{\"do\": \"fly\"}"),
       "then[0]: unknown action 'fly'"},
      {RULE("lead.created", "", "{\"do\": \"queue\"}"),
       "then[0]: queue needs queue_id"},
      {RULE("lead.created", "", "{\"do\": \"recycle\", \"delay_minutes\": -1}"),
       "recycle needs delay_minutes: an integer 0 to 129600"},
      {RULE("lead.created", "",
            "{\"do\": \"recycle\", \"delay_minutes\": 129601}"),
       "recycle needs delay_minutes"},
      {RULE("lead.created", "", "{\"do\": \"dnc\", \"channel\": \"fax\"}"),
       "dnc's channel: voice, sms"},
      {RULE("lead.created", "",
            "{\"do\": \"message\", \"channel\": \"pigeon\", \"template_id\": "
            "\"t\"}"),
       "message needs channel: sms, email"},
      {RULE("lead.created", "", "{\"do\": \"message\", \"channel\": \"sms\"}"),
       "message needs template_id"},
      {RULE("lead.created", "",
            "{\"do\": \"message\", \"channel\": \"sms\", \"template_id\": "
            "\"t\", \"purpose\": \"fun\"}"),
       "message's purpose: not a consent purpose"},
      {RULE("lead.created", ", \"if\": {\"field\": \"colour\", \"eq\": 1}",
            "{\"do\": \"rescore\"}"),
       "lead.created has no field 'colour'"},
      {RULE("lead.created", ", \"if\": {\"field\": \"phone\", \"eq\": \"1\"}",
            "{\"do\": \"rescore\"}"),
       "lead.created.phone is PII (ciphertext): match on its _hmac"},
      {RULE("lead.created",
            ", \"if\": {\"field\": \"priority\", \"gte\": \"5\"}",
            "{\"do\": \"rescore\"}"),
       "gte of priority: not a value of the field's kind (number)"},
      {RULE("lead.created",
            ", \"if\": {\"field\": \"lead_source\", \"gt\": 1}",
            "{\"do\": \"rescore\"}"),
       "gt of lead_source: not a value of the field's kind (string)"},
      {RULE("lead.created",
            ", \"if\": {\"field\": \"status\", \"eq\": \"new\", \"ne\": "
            "\"lost\"}",
            "{\"do\": \"rescore\"}"),
       "has one of eq, ne, in"},
      {RULE("lead.created", ", \"if\": {\"any\": []}", "{\"do\": \"rescore\"}"),
       "any takes 1 to 64 conditions"},
      {RULE("lead.created",
            ", \"if\": {\"not\": {\"not\": {\"not\": {\"not\": {\"field\": "
            "\"priority\", \"gte\": 1}}}}}",
            "{\"do\": \"rescore\"}"),
       "nested deeper than 4"},
      {RULE("lead.created", ", \"if\": {\"eq\": 1}", "{\"do\": \"rescore\"}"),
       "a condition needs \"field\""},
  };
  sb_schemas_t *s = NULL;
  sb_err_t err = SB_ERR_INIT;
  CHECK_OK(sb_schemas_load(&s, &err), &err);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    auto_rules_t *r = NULL;
    sb_err_t e = SB_ERR_INIT;
    CHECK_INT(auto__rules_parse(s, bad[i].json, "v", &r, &e), SB_EVALIDATE);
    CHECK(r == NULL);
    CHECK_HAS(e.msg, bad[i].why);
  }
  /* the bounds: rules, bytes, no version */
  sb_text_t t = {0};
  sb_text_add(&t, "{\"rules\": [");
  for (int i = 0; i <= AUTO_RULES_MAX; i++)
    sb_text_add(&t, "%s{\"id\": \"r%d\", \"when\": \"lead.created\", "
                    "\"then\": [{\"do\": \"rescore\"}]}",
                i ? ", " : "", i);
  sb_text_add(&t, "]}");
  auto_rules_t *r = NULL;
  sb_err_t e = SB_ERR_INIT;
  CHECK_INT(auto__rules_parse(s, t.s, "v", &r, &e), SB_EVALIDATE);
  CHECK_HAS(e.msg, "65 rules, over the 64 a tenant may have");
  sb_text_free(&t);
  sb_text_add(&t, "{\"rules\": [], \"pad\": \"%*s\"}", AUTO_RULES_BYTES, "");
  e = (sb_err_t)SB_ERR_INIT;
  CHECK_INT(auto__rules_parse(s, t.s, "v", &r, &e), SB_EVALIDATE);
  CHECK_HAS(e.msg, "over the 32768 a set may take");
  sb_text_free(&t);
  e = (sb_err_t)SB_ERR_INIT;
  CHECK_INT(auto__rules_parse(s, "{\"rules\": []}", "", &r, &e),
            SB_EVALIDATE);
  CHECK_HAS(e.msg, "no rules_version");
  /* a good one */
  e = (sb_err_t)SB_ERR_INIT;
  CHECK_OK(auto__rules_parse(
               s,
               "{\"rules\": [{\"id\": \"a\", \"when\": \"call.dispositioned\", "
               "\"if\": {\"field\": \"disposition\", \"in\": [\"sale\"]}, "
               "\"then\": [{\"do\": \"dnc\"}, {\"do\": \"recycle\", "
               "\"delay_minutes\": 5}]}]}",
               "v9", &r, &e),
           &e);
  CHECK_INT(r->nrules, 1);
  CHECK_INT(r->rules[0].nact, 2);
  CHECK_STR(r->rules[0].act[1].label, "recycle:300s");
  auto__rules_free(r);
  sb_schemas_free(s);
  return 0;
}

/* ev from a CloudEvent (the codec's record decoded back) */
static int decode(sb_codec_t *c, const char *ce, sb_record_t *rec,
                  sb_event_t *ev) {
  cJSON *j = cJSON_Parse(ce);
  sb_err_t err = SB_ERR_INIT;
  CHECK(j != NULL);
  CHECK_OK(sb_codec_from_ce(c, j, 0, rec, &err), &err);
  cJSON_Delete(j);
  CHECK_OK(sb_codec_decode(c, rec->value, rec->value_len, ev, &err), &err);
  return 0;
}

int test_automation_conditions(void) {
  sb_schemas_t *s = NULL;
  sb_codec_t *c = NULL;
  sb_err_t err = SB_ERR_INIT;
  CHECK_OK(sb_schemas_load(&s, &err), &err);
  CHECK_OK(sb_codec_new(s, &c, &err), &err);
  sb_record_t rec;
  sb_event_t ev;
  CHECK_INT(decode(c,
                   "{\"specversion\":\"1.0\",\"id\":"
                   "\"01KGA70000000000000000000A\",\"type\":\"lead.created\","
                   "\"source\":\"/t\",\"subject\":\"l1\",\"time\":\"2026-11-"
                   "20T09:00:00Z\",\"tenantid\":\"acme\",\"data\":{\"lead_"
                   "source\":\"web_form\",\"priority\":7}}",
                   &rec, &ev),
            0);
  static const struct {
    const char *cond;
    int want;
  } cases[] = {
      {"{\"field\": \"lead_source\", \"eq\": \"web_form\"}", 1},
      {"{\"field\": \"lead_source\", \"in\": [\"a\", \"web_form\"]}", 1},
      {"{\"field\": \"lead_source\", \"ne\": \"web_form\"}", 0},
      {"{\"field\": \"priority\", \"gte\": 7}", 1},
      {"{\"field\": \"priority\", \"gt\": 7}", 0},
      {"{\"field\": \"priority\", \"in\": [1, 7]}", 1},
      {"{\"field\": \"estimated_value_cents\", \"gte\": 0}", 0}, /* absent */
      {"{\"field\": \"estimated_value_cents\", \"ne\": 5}", 1},
      {"{\"field\": \"campaign_id\", \"eq\": \"\"}", 1}, /* absent: "" */
      {"{\"all\": [{\"field\": \"priority\", \"lt\": 10}, {\"not\": "
       "{\"field\": \"lead_source\", \"eq\": \"import\"}}]}",
       1},
      {"{\"any\": [{\"field\": \"priority\", \"lt\": 1}, {\"field\": "
       "\"lead_source\", \"eq\": \"import\"}]}",
       0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char json[600];
    snprintf(json, sizeof json,
             "{\"rules\": [{\"id\": \"r\", \"when\": \"lead.created\", "
             "\"if\": %s, \"then\": [{\"do\": \"rescore\"}]}]}",
             cases[i].cond);
    auto_rules_t *r = NULL;
    CHECK_OK(auto__rules_parse(s, json, "v", &r, &err), &err);
    if (auto__match(r->rules[0].cond, &ev) != cases[i].want) {
      fprintf(stderr, "condition %s: want %d\n", cases[i].cond,
              cases[i].want);
      auto__rules_free(r);
      return 1;
    }
    auto__rules_free(r);
  }
  sb_record_clear(&rec);
  sb_codec_free(c);
  sb_schemas_free(s);
  return 0;
}
