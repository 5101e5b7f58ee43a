/* Unit tests of issue 10's ingest rules: one JSON document and no raw
 * control characters (item 4), event-time bounds (item 10), the agent's
 * object rules, one case per row of the table in sb_auth_roles.c (item
 * 12), the operator's reserved tenant namespace (item 13) and the token
 * lifetime cap (item 14). */
#include "sb_auth.h"
#include "sb_codec.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

static const char K1[] = "switchboard-test-secret-32-bytes"; /* 32 bytes */
#define KEY(k) ((const unsigned char *)(k)), (sizeof(k) - 1)

/* ---- item 4 -------------------------------------------------------------- */

static int parse_refused(const char *text, size_t len, const char *why) {
  cJSON *j = NULL;
  sb_err_t err = SB_ERR_INIT;
  int rc = sb_json_parse(text, len, &j, &err);
  if (rc == SB_EVALIDATE && j == NULL && strstr(err.msg, why) != NULL)
    return 0;
  fprintf(stderr, "parse of %zu bytes: rc %d, '%s', want '%s'\n", len, rc,
          err.msg, why);
  cJSON_Delete(j);
  return 1;
}

int test_json_one_document(void) {
  static const struct {
    const char *text;
    size_t len; /* 0: strlen */
    const char *why;
  } bad[] = {
      {"{\"a\":1}{\"b\":2}", 0, "more after the first JSON value (at byte 7)"},
      {"[1][2]", 0, "more after the first JSON value (at byte 3)"},
      {"{\"a\":1} \n x", 0, "more after the first JSON value (at byte 10)"},
      {"{\"a\":\"Ada\0EVIL\"}", 16, "raw control character (0x00) at byte 9"},
      {"{\"a\":\"Ada\x01" "EVIL\"}", 0, "(0x01) at byte 9 inside a string"},
      {"{\"a\":\"tab\there\"}", 0, "(0x09) at byte 9 inside a string"},
      {"{\"a\":1}\0", 8, "raw control character (0x00) at byte 7"},
      {"{\x02\"a\":1}", 0, "(0x02) at byte 1: not allowed outside strings"},
      {"{\"a\":\"x\\u0000y\"}", 0, "\\u0000 (NUL) is not allowed"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    size_t n = bad[i].len ? bad[i].len : strlen(bad[i].text);
    if (parse_refused(bad[i].text, n, bad[i].why)) {
      fprintf(stderr, "case %zu\n", i);
      return 1;
    }
  }
  /* what JSON allows still parses: white space around, escapes, a quote
   * or backslash escaped inside a string */
  static const char *const good[] = {
      " \t\r\n{\"a\":\"x\\\"}{\\\\\",\"b\":[1,2]} \r\n",
      "[{\"a\":\"\\u0001\\n\"}]",
      "\"}{\"",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    cJSON *j = NULL;
    sb_err_t err = SB_ERR_INIT;
    CHECK_OK(sb_json_parse(good[i], strlen(good[i]), &j, &err), &err);
    CHECK(j != NULL);
    cJSON_Delete(j);
  }
  return 0;
}

/* ---- item 10 ------------------------------------------------------------- */

int test_event_time_bounds(void) {
  const int64_t now = 1764600000000000LL, s = 1000000;
  sb_err_t err = SB_ERR_INIT;
  CHECK_OK(sb_event_time_check(now, now, 3600, 60, &err), &err);
  CHECK_OK(sb_event_time_check(now - 3600 * s, now, 3600, 60, &err), &err);
  CHECK_OK(sb_event_time_check(now + 60 * s, now, 3600, 60, &err), &err);
  CHECK_INT(sb_event_time_check(now - 3601 * s, now, 3600, 60, &err),
            SB_EVALIDATE);
  CHECK_HAS(err.msg, "more than 3600 s (ingest.max_past_seconds) before");
  CHECK_HAS(err.msg, "switchboard import");
  err = (sb_err_t)SB_ERR_INIT;
  CHECK_INT(sb_event_time_check(now + 61 * s, now, 3600, 60, &err),
            SB_EVALIDATE);
  CHECK_HAS(err.msg, "more than 60 s (ingest.max_future_seconds) after");
  /* a negative max_past: history of any age (import) */
  CHECK_OK(sb_event_time_check(0, now, -1, 60, &err), &err);
  return 0;
}

/* ---- item 12 ------------------------------------------------------------- */

/* Owners for the tests: agent-7 owns call-7 and lead-7, agent-8 call-8 and
 * lead-8; anything else is unknown. */
static int owners(void *ctx, const char *tenant, const char *entity,
                  const char *agent) {
  (void)ctx;
  if (strcmp(tenant, "acme") != 0)
    return -1;
  const char *owner = strcmp(entity, "call-7") == 0 || strcmp(entity, "lead-7") == 0
                          ? "agent-7"
                      : strcmp(entity, "call-8") == 0 || strcmp(entity, "lead-8") == 0
                          ? "agent-8"
                          : NULL;
  return owner == NULL ? -1 : strcmp(owner, agent) == 0;
}

int test_auth_agent_object_rules(void) {
  sb_claims_t agent = {.sub = "agent-7", .tenant = "acme",
                       .role = SB_ROLE_AGENT};
  sb_claims_t sup = {.sub = "sup-1", .tenant = "acme",
                     .role = SB_ROLE_SUPERVISOR};
  /* one row each: an allowed event, then refused ones with the message */
  static const struct {
    const char *json;
    const char *why; /* NULL: allowed */
  } cases[] = {
      /* agent.* : only about itself */
      {"{\"type\":\"agent.state_changed\",\"subject\":\"agent-7\",\"data\":{}}", NULL},
      {"{\"type\":\"agent.state_changed\",\"subject\":\"agent-8\",\"data\":{}}",
       "subject: 'agent-8' is not the token's subject 'agent-7'"},
      {"{\"type\":\"agent.state_changed\",\"subject\":\"agent-7\",\"data\":{\"agent_id\":\"agent-8\"}}",
       "data.agent_id: 'agent-8' is not the token's subject"},
      {"{\"type\":\"agent.logged_in\",\"subject\":\"agent-7\",\"data\":{}}", NULL},
      {"{\"type\":\"agent.logged_in\",\"subject\":\"agent-8\",\"data\":{}}",
       "'agent-8' is not the token's subject"},
      {"{\"type\":\"agent.logged_out\",\"subject\":\"agent-7\",\"data\":{}}", NULL},
      {"{\"type\":\"agent.logged_out\",\"subject\":\"agent-9\",\"data\":{}}",
       "'agent-9' is not the token's subject"},
      /* rewards: for itself */
      {"{\"type\":\"reward.redemption_requested\",\"subject\":\"r-1\",\"data\":{\"agent_id\":\"agent-7\"}}", NULL},
      {"{\"type\":\"reward.redemption_requested\",\"subject\":\"r-1\",\"data\":{\"agent_id\":\"agent-8\"}}",
       "data.agent_id: 'agent-8' is not the token's subject"},
      /* calls: its own */
      {"{\"type\":\"call.dispositioned\",\"subject\":\"call-7\",\"data\":{\"disposition\":\"sale\"}}", NULL},
      {"{\"type\":\"call.dispositioned\",\"subject\":\"call-8\",\"data\":{\"disposition\":\"sale\"}}",
       "subject: call call-8 belongs to another agent, not to 'agent-7'"},
      {"{\"type\":\"call.dispositioned\",\"subject\":\"call-x\",\"data\":{}}",
       "subject: this server does not know call call-x as 'agent-7''s"},
      {"{\"type\":\"call.dispositioned\",\"subject\":\"call-7\",\"data\":{\"agent_id\":\"agent-8\"}}",
       "data.agent_id: 'agent-8' is not the token's subject"},
      /* leads: its own */
      {"{\"type\":\"lead.updated\",\"subject\":\"lead-7\",\"data\":{}}", NULL},
      {"{\"type\":\"lead.updated\",\"subject\":\"lead-8\",\"data\":{}}",
       "lead lead-8 belongs to another agent"},
      {"{\"type\":\"lead.status_changed\",\"subject\":\"lead-7\",\"data\":{}}", NULL},
      {"{\"type\":\"lead.status_changed\",\"subject\":\"lead-8\",\"data\":{}}",
       "lead lead-8 belongs to another agent"},
      {"{\"type\":\"lead.status_changed\",\"subject\":\"lead-7\",\"data\":{\"agent_id\":\"agent-8\"}}",
       "data.agent_id: 'agent-8' is not the token's subject"},
      {"{\"type\":\"lead.dnc_flagged\",\"subject\":\"lead-7\",\"data\":{}}", NULL},
      {"{\"type\":\"lead.dnc_flagged\",\"subject\":\"lead-9\",\"data\":{}}",
       "this server does not know lead lead-9"},
      /* a withdrawn consent: heard on its own call */
      {"{\"type\":\"consent.withdrawn\",\"subject\":\"p-1\",\"data\":{\"call_id\":\"call-7\"}}", NULL},
      {"{\"type\":\"consent.withdrawn\",\"subject\":\"p-1\",\"data\":{\"call_id\":\"call-8\"}}",
       "data.call_id: call call-8 belongs to another agent"},
      {"{\"type\":\"consent.withdrawn\",\"subject\":\"p-1\",\"data\":{}}",
       "data.call_id: an agent posts consent.withdrawn only about a call of its own"},
      /* messages: to its own leads, as itself */
      {"{\"type\":\"message.requested\",\"subject\":\"m-1\",\"data\":{\"lead_id\":\"lead-7\"}}", NULL},
      {"{\"type\":\"message.requested\",\"subject\":\"m-1\",\"data\":{\"lead_id\":\"lead-8\"}}",
       "data.lead_id: lead lead-8 belongs to another agent"},
      {"{\"type\":\"message.requested\",\"subject\":\"m-1\",\"data\":{\"lead_id\":\"lead-7\",\"agent_id\":\"agent-8\"}}",
       "data.agent_id: 'agent-8' is not the token's subject"},
      {"{\"type\":\"message.requested\",\"subject\":\"m-1\",\"data\":{}}",
       "data.lead_id: an agent posts message.requested only about a lead"},
      /* a type without a rule */
      {"{\"type\":\"call.started\",\"subject\":\"call-7\",\"data\":{}}",
       "no rule says what an agent may act on"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cJSON *ce = cJSON_Parse(cases[i].json);
    CHECK(ce != NULL);
    cJSON_AddStringToObject(ce, "tenantid", "acme");
    sb_err_t err = SB_ERR_INIT;
    int rc = sb_auth_agent_object_check(&agent, ce, owners, NULL, &err);
    int ok = cases[i].why == NULL
                 ? rc == 0
                 : rc == SB_EPERM && strstr(err.msg, cases[i].why) != NULL;
    /* other roles are not bound by the agent's rules */
    sb_err_t e2 = SB_ERR_INIT;
    ok = ok && sb_auth_agent_object_check(&sup, ce, owners, NULL, &e2) == 0;
    cJSON_Delete(ce);
    if (!ok) {
      fprintf(stderr, "case %zu (%s): rc %d '%s'\n", i, cases[i].json, rc,
              err.msg);
      return 1;
    }
  }
  /* without an owner table every call and lead is unknown */
  cJSON *ce = cJSON_Parse("{\"type\":\"call.dispositioned\",\"subject\":"
                          "\"call-7\",\"data\":{}}");
  sb_err_t err = SB_ERR_INIT;
  CHECK_INT(sb_auth_agent_object_check(&agent, ce, NULL, NULL, &err), SB_EPERM);
  CHECK_HAS(err.msg, "does not know call call-7");
  cJSON_Delete(ce);
  return 0;
}

/* ---- items 13 and 14 ----------------------------------------------------- */

int test_auth_reserved_and_lifetime(void) {
  char tok[SB_JWT_MAX + 1];
  sb_err_t err = SB_ERR_INIT;
  const int64_t t0 = 1700000000;
  CHECK(sb_tenant_reserved(SB_TENANT_OPERATOR));
  CHECK(sb_tenant_reserved("_x"));
  CHECK(!sb_tenant_reserved("unknown"));
  CHECK(!sb_tenant_reserved("acme_1"));
  CHECK(!sb_tenant_reserved(NULL));
  /* no token names the operator's namespace: not signed ... */
  sb_claims_t c = {.sub = "x", .tenant = "_operator", .role = SB_ROLE_ADMIN,
                   .iat = t0, .exp = t0 + 60};
  CHECK_INT(sb_jwt_sign(KEY(K1), &c, tok, sizeof tok, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "reserved for the engine");
  /* ... nor verified when signed by other means */
  char *forged = sbt_forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                       "{\"sub\":\"x\",\"tenant\":\"_operator\",\"role\":"
                       "\"admin\",\"iat\":1700000000,\"exp\":1700000060}",
                       K1);
  sb_claims_t out;
  err = (sb_err_t)SB_ERR_INIT;
  int rc = sb_jwt_verify(KEY(K1), forged, t0 + 1, &out, &err);
  free(forged);
  CHECK_INT(rc, SB_EPERM);
  CHECK_INT(out.reason, SB_AUTH_BAD_CLAIMS);
  CHECK_HAS(err.msg, "reserved for the engine");
  /* lifetimes: exp - iat, or exp - now without iat */
  sb_claims_t l = {.sub = "x", .tenant = "acme", .role = SB_ROLE_AGENT,
                   .iat = t0, .exp = t0 + 86400};
  err = (sb_err_t)SB_ERR_INIT;
  CHECK_OK(sb_auth_lifetime_check(&l, t0, 86400, &err), &err);
  l.exp = t0 + 86401;
  CHECK_INT(sb_auth_lifetime_check(&l, t0, 86400, &err), SB_EPERM);
  CHECK_HAS(err.msg, "the token lives 86401 s (exp - iat)");
  CHECK_HAS(err.msg, "auth.max_token_ttl_seconds allows at most 86400 s");
  l.iat = 0;
  l.exp = 9007199254740992LL; /* 2^53 */
  err = (sb_err_t)SB_ERR_INIT;
  CHECK_INT(sb_auth_lifetime_check(&l, t0, 86400, &err), SB_EPERM);
  CHECK_HAS(err.msg, "(exp - now)");
  l.exp = t0 + 100;
  CHECK_OK(sb_auth_lifetime_check(&l, t0, 86400, &err), &err);
  return 0;
}
