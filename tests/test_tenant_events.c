/* tenant.created and tenant.settings_changed: what ingest (the codec's
 * CloudEvent converter) and typed emit accept, and refuse precisely: time
 * zones that are not IANA zones, currencies, locales, the subject, the
 * rules of changed_fields. */
#include "sb_auth.h"
#include "sb_codec.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#define CE_HEAD                                                               \
  "{\"specversion\":\"1.0\",\"id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\","            \
  "\"source\":\"urn:test:admin\",\"time\":\"2026-11-24T18:00:00Z\","           \
  "\"tenantid\":\"acme\","

/* The converter's answer on a CloudEvent's text: "" when accepted (and
 * the record's key checked), the error's message otherwise. */
static const char *convert(sb_codec_t *c, const char *text, char *msg,
                           size_t n) {
  cJSON *ce = cJSON_Parse(text);
  sb_record_t r;
  sb_err_t err = SB_ERR_INIT;
  if (ce == NULL) {
    snprintf(msg, n, "test: not JSON");
    return msg;
  }
  int rc = sb_codec_from_ce(c, ce, 0, &r, &err);
  cJSON_Delete(ce);
  if (rc == 0) {
    snprintf(msg, n, "%s", r.key_len == 9 && memcmp(r.key, "acme:acme", 9) == 0
                               ? ""
                               : "test: the key is not acme:acme");
    sb_record_clear(&r);
  } else {
    snprintf(msg, n, "%s", err.msg);
  }
  return msg;
}

#define CREATED(data) CE_HEAD "\"type\":\"tenant.created\",\"subject\":\"acme\",\"data\":" data "}"
#define CHANGED(data) CE_HEAD "\"type\":\"tenant.settings_changed\",\"subject\":\"acme\",\"data\":" data "}"
#define ACCEPTS(text) CHECK_STR(convert(c, (text), msg, sizeof msg), "")
#define REFUSES(text, why) CHECK_HAS(convert(c, (text), msg, sizeof msg), (why))

int test_tenant_events_ingest(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *s = NULL;
  sb_codec_t *c = NULL;
  char msg[SB_ERR_MSG_MAX];
  CHECK_OK(sb_schemas_load(&s, &err), &err);
  CHECK_OK(sb_codec_new(s, &c, &err), &err);
  const sb_evtype_t *t = sb_schemas_by_type(s, "tenant.created");
  CHECK(t != NULL);
  CHECK_STR(sb_evtype_topic(t), SB_TOPIC_TENANTS);
  CHECK_STR(sb_evtype_subject(t), "tenant_id");
  CHECK_INT(sb_evtype_id(t), 53);
  CHECK_INT(sb_evtype_attr(t, "time_zone")->format, SB_FORMAT_TIMEZONE);

  ACCEPTS(CREATED("{\"display_name\":\"Acme\",\"time_zone\":\"America/New_York\"}"));
  ACCEPTS(CREATED("{\"display_name\":\"Acme\",\"time_zone\":\"Asia/Kolkata\","
                  "\"locale\":\"pt-BR\",\"currency\":\"BRL\",\"week_start\":\"sunday\"}"));
  ACCEPTS(CREATED("{\"display_name\":\"Acme\",\"time_zone\":\"UTC\",\"locale\":\"zh-Hant-TW\"}"));
  ACCEPTS(CREATED("{\"display_name\":\"Acme\",\"time_zone\":\"US/Eastern\"}"));
  /* time zones */
  REFUSES(CREATED("{\"display_name\":\"Acme\"}"), "data.time_zone: missing required field");
  REFUSES(CREATED("{\"display_name\":\"Acme\",\"time_zone\":\"Mars/Olympus_Mons\"}"),
          "data.time_zone: 'Mars/Olympus_Mons' is not a known IANA time zone");
  REFUSES(CREATED("{\"display_name\":\"Acme\",\"time_zone\":\"../../../etc/passwd\"}"),
          "data.time_zone: not an IANA time zone name");
  REFUSES(CREATED("{\"display_name\":\"Acme\",\"time_zone\":\"/etc/localtime\"}"),
          "data.time_zone: not an IANA time zone name");
  REFUSES(CREATED("{\"display_name\":\"Acme\",\"time_zone\":\"localtime\"}"),
          "data.time_zone: not an IANA time zone name");
  REFUSES(CREATED("{\"display_name\":\"Acme\",\"time_zone\":\"EST+5\"}"),
          "data.time_zone: 'EST+5' is not a known IANA time zone");
  REFUSES(CREATED("{\"display_name\":\"Acme\",\"time_zone\":\"\"}"),
          "data.time_zone: not an IANA time zone name");
  REFUSES(CREATED("{\"display_name\":\"Acme\",\"time_zone\":\"America\"}"),
          "data.time_zone: 'America' is not a known IANA time zone (its file");
  /* currency, locale, week_start */
  REFUSES(CREATED("{\"display_name\":\"A\",\"time_zone\":\"UTC\",\"currency\":\"usd\"}"),
          "data.currency: not an ISO 4217 currency code");
  REFUSES(CREATED("{\"display_name\":\"A\",\"time_zone\":\"UTC\",\"currency\":\"US\"}"),
          "data.currency: not an ISO 4217 currency code");
  REFUSES(CREATED("{\"display_name\":\"A\",\"time_zone\":\"UTC\",\"locale\":\"en_US\"}"),
          "data.locale: not a BCP 47 language tag");
  REFUSES(CREATED("{\"display_name\":\"A\",\"time_zone\":\"UTC\",\"locale\":\"e\"}"),
          "data.locale: not a BCP 47 language tag");
  REFUSES(CREATED("{\"display_name\":\"A\",\"time_zone\":\"UTC\",\"locale\":\"en-\"}"),
          "data.locale: not a BCP 47 language tag");
  REFUSES(CREATED("{\"display_name\":\"A\",\"time_zone\":\"UTC\",\"week_start\":\"funday\"}"),
          "data.week_start: 'funday' is not one of monday");
  /* the subject is the tenant */
  REFUSES(CE_HEAD "\"type\":\"tenant.created\",\"subject\":\"other\",\"data\":"
                  "{\"display_name\":\"A\",\"time_zone\":\"UTC\"}}",
          "subject: must be the tenantid (tenant.created events are about the tenant itself)");
  REFUSES(CE_HEAD "\"type\":\"tenant.created\",\"data\":"
                  "{\"display_name\":\"A\",\"time_zone\":\"UTC\"}}",
          "subject: must be the tenantid");

  /* settings_changed: changed_fields lists what is given */
  ACCEPTS(CHANGED("{\"changed_fields\":[\"time_zone\"],\"time_zone\":\"Europe/London\"}"));
  ACCEPTS(CHANGED("{\"changed_fields\":[\"locale\",\"currency\"],\"currency\":\"EUR\"}"));
  ACCEPTS(CHANGED("{\"changed_fields\":[]}"));
  REFUSES(CHANGED("{\"changed_fields\":[\"time_zone\"],\"time_zone\":\"Europe/Lndon\"}"),
          "data.time_zone: 'Europe/Lndon' is not a known IANA time zone");
  REFUSES(CHANGED("{\"changed_fields\":[\"time_zone\"]}"),
          "data.time_zone: listed in changed_fields, so it must be given (it cannot be cleared)");
  REFUSES(CHANGED("{\"changed_fields\":[\"display_name\"],\"display_name\":null}"),
          "data.display_name: listed in changed_fields, so it must be given");
  REFUSES(CHANGED("{\"changed_fields\":[],\"locale\":\"fr\"}"),
          "data.locale: given but not listed in changed_fields");
  REFUSES(CHANGED("{\"changed_fields\":[\"colour\"]}"),
          "data.changed_fields[0]: 'colour' is not a field tenant.settings_changed can change");
  REFUSES(CHANGED("{\"changed_fields\":[\"locale\",\"tenant_id\"]}"),
          "data.changed_fields[1]: 'tenant_id' is not a field");
  REFUSES(CHANGED("{\"changed_fields\":[\"changed_fields\"]}"),
          "data.changed_fields[0]: 'changed_fields' is not a field");
  REFUSES(CHANGED("{\"changed_fields\":[\"locale\",\"locale\"]}"),
          "data.changed_fields[1]: 'locale' is listed twice");
  REFUSES(CHANGED("{\"time_zone\":\"UTC\"}"), "data.changed_fields: missing required field");
  /* lead.updated has no sb.changeList: its changed_fields are as before */
  ACCEPTS(CE_HEAD "\"type\":\"lead.updated\",\"subject\":\"acme\",\"data\":"
                  "{\"changed_fields\":[\"anything\"]}}");

  /* typed emit checks the format too */
  sb_etype_ref_t tc;
  sb_field_t f_name, f_tz;
  CHECK_OK(sb_codec_type(s, "tenant.created", &tc, &err), &err);
  CHECK_OK(sb_codec_field(s, "tenant.created", "display_name", &f_name, &err), &err);
  CHECK_OK(sb_codec_field(s, "tenant.created", "time_zone", &f_tz, &err), &err);
  sb_envelope_t env = {.tenant_id = "acme", .source = "urn:test",
                       .occurred_at = 1781524800000000LL};
  sb_record_t r;
  sb_build_t *b = sb_codec_build_begin(c, tc);
  sb_build_str(b, f_name, "Acme");
  CHECK_INT(sb_build_str(b, f_tz, "Atlantis/Capital"), SB_EVALIDATE);
  sb_err_t e2 = SB_ERR_INIT;
  CHECK_INT(sb_codec_build_end(b, &env, &r, &e2), SB_EVALIDATE);
  CHECK_HAS(e2.msg, "tenant.created: time_zone: 'Atlantis/Capital' is not a known IANA time zone");
  b = sb_codec_build_begin(c, tc);
  sb_build_str(b, f_name, "Acme");
  sb_build_str(b, f_tz, "Australia/Lord_Howe");
  CHECK_OK(sb_codec_build_end(b, &env, &r, &err), &err);
  CHECK(r.key_len == 9 && memcmp(r.key, "acme:acme", 9) == 0);
  sb_record_clear(&r);

  sb_codec_free(c);
  sb_schemas_free(s);

  /* only admins post tenant settings; only admins subscribe to them */
  const sb_role_t others[] = {SB_ROLE_MANAGER, SB_ROLE_SUPERVISOR,
                              SB_ROLE_AGENT};
  CHECK(sb_auth_allows(SB_ROLE_ADMIN, SB_PERM_POST_EVENT, "tenant.created"));
  CHECK(sb_auth_allows(SB_ROLE_ADMIN, SB_PERM_POST_EVENT, "tenant.settings_changed"));
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    CHECK(!sb_auth_allows(others[i], SB_PERM_POST_EVENT, "tenant.created"));
    CHECK(!sb_auth_allows(others[i], SB_PERM_POST_EVENT, "tenant.settings_changed"));
    CHECK(!sb_auth_allows(others[i], SB_PERM_SUBSCRIBE, SB_TOPIC_TENANTS));
  }
  return 0;
}

/* A schema naming an unknown sb.format does not load. */
int test_tenant_schema_format_refused(void) {
  static const char manifest[] = "id\ttype\tfile\n1\tx.made\tx.avsc\n";
  static const char avsc[] =
      "{\"type\":\"record\",\"name\":\"X\",\"sb.type\":\"x.made\","
      "\"sb.topic\":\"sb.tenants\",\"sb.subject\":\"x_id\",\"fields\":["
      "{\"name\":\"x_id\",\"type\":\"string\"},"
      "{\"name\":\"when\",\"type\":\"string\",\"sb.format\":\"date\"}]}";
  sb_file_t files[] = {{"manifest.tsv", manifest, sizeof manifest - 1},
                       {"x.avsc", avsc, sizeof avsc - 1}};
  sb_schemas_t *s = NULL;
  sb_err_t err = SB_ERR_INIT;
  CHECK_INT(sb_schemas_load_files(files, 2, &s, &err), SB_EINVAL);
  CHECK(s == NULL);
  CHECK_HAS(err.msg, "x.made: when: sb.format must be \"timezone\", \"currency\" or \"locale\"");
  return 0;
}
