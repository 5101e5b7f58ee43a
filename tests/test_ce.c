/* The CloudEvents bindings (engine/sb_ce.c): ids derived from source + id,
 * binary content mode over HTTP (ce-* headers, percent-decoded) and Kafka
 * (ce_* headers), and the producer's id kept through the codec. */
#include "sb_ce.h"
#include "sb_codec.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_ulid.h"

#include <stdlib.h>
#include <string.h>

int test_ce_percent_decode(void) {
  char out[64];
  size_t n = 0;
  CHECK_INT(sb_ce_percent_decode("a%20b", 5, out, &n), 0);
  CHECK_STR(out, "a b");
  CHECK_INT(n, 3);
  /* a percent-encoded UTF-8 sequence (HTTP binding 3.1.3.2), either case */
  CHECK_INT(sb_ce_percent_decode("%E2%82%ac!", 10, out, &n), 0);
  CHECK_STR(out, "\xe2\x82\xac!");
  CHECK_INT(sb_ce_percent_decode("urn:x", 5, out, &n), 0);
  CHECK_STR(out, "urn:x");
  /* bad escapes, NUL and control characters, bytes that are not UTF-8 */
  CHECK_INT(sb_ce_percent_decode("100%", 4, out, &n), -1);
  CHECK_INT(sb_ce_percent_decode("%4", 2, out, &n), -1);
  CHECK_INT(sb_ce_percent_decode("%4g", 3, out, &n), -1);
  CHECK_INT(sb_ce_percent_decode("%zz", 3, out, &n), -1);
  CHECK_INT(sb_ce_percent_decode("a%00b", 5, out, &n), -1);
  CHECK_INT(sb_ce_percent_decode("a%0Ab", 5, out, &n), -1);
  CHECK_INT(sb_ce_percent_decode("%FF", 3, out, &n), -1);
  CHECK_INT(sb_ce_percent_decode("%E2%82", 6, out, &n), -1);
  return 0;
}

int test_ce_event_id(void) {
  sb_err_t err = SB_ERR_INIT;
  char a[27], b[27];
  CHECK_OK(sb_ce_event_id("acme", "urn:test:crm", "evt-1", a, &err), &err);
  /* the first 128 bits of SHA-256("sb-ce-id\0acme\0urn:test:crm\0evt-1")
   * in Crockford base32 (worked out apart, with Python's hashlib) */
  CHECK_STR(a, "2NA7QKD439AF3YYZKJ72RVKZFZ");
  CHECK(sb_ulid_valid(a, strlen(a)));
  CHECK_OK(sb_ce_event_id("acme", "urn:test:crm", "evt-1", b, &err), &err);
  CHECK_STR(a, b);
  /* each of tenant, source and id counts, and where one ends */
  CHECK_OK(sb_ce_event_id("acme2", "urn:test:crm", "evt-1", b, &err), &err);
  CHECK(strcmp(a, b) != 0);
  CHECK_OK(sb_ce_event_id("acme", "urn:test:crm2", "evt-1", b, &err), &err);
  CHECK(strcmp(a, b) != 0);
  CHECK_OK(sb_ce_event_id("acme", "urn:test:crm", "evt-2", b, &err), &err);
  CHECK(strcmp(a, b) != 0);
  CHECK_OK(sb_ce_event_id("acme", "urn:test:cr", "mevt-1", b, &err), &err);
  CHECK(strcmp(a, b) != 0);
  /* the id's own bounds */
  CHECK_INT(sb_ce_id_check("", 0, &err), SB_EVALIDATE);
  CHECK_HAS(err.msg, "id: must not be empty");
  char big[SB_CE_ID_MAX + 2];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  sb_err_clear(&err);
  CHECK_INT(sb_ce_id_check(big, SB_CE_ID_MAX + 1, &err), SB_EVALIDATE);
  CHECK_HAS(err.msg, "257 bytes; at most 256");
  CHECK_INT(sb_ce_id_check(big, SB_CE_ID_MAX, &err), 0);
  CHECK_INT(sb_ce_id_check("a\x7f", 2, &err), SB_EVALIDATE);
  sb_err_clear(&err);
  CHECK_INT(sb_ce_id_check("\xc3(", 2, &err), SB_EVALIDATE);
  CHECK_HAS(err.msg, "UTF-8");
  return 0;
}

/* The producer's id through the codec: a UUID stands for its derived
 * ULID, travels as ce_id beside the record, comes back from to_ce, and
 * the event it gives converts to the same record again. */
int test_ce_codec_keeps_id(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *s = NULL;
  sb_codec_t *c = NULL;
  CHECK_OK(sb_schemas_load(&s, &err), &err);
  CHECK_OK(sb_codec_new(s, &c, &err), &err);
  static const char *const uuid = "7a670496-7ead-4b13-811b-5cca8c083124";
  cJSON *ce = cJSON_Parse(
      "{\"specversion\":\"1.0\",\"id\":\"7a670496-7ead-4b13-811b-5cca8c083124\","
      "\"type\":\"lead.created\",\"source\":\"/crm/web\",\"subject\":\"lead-1\","
      "\"time\":\"2026-11-24T18:00:00.123Z\",\"tenantid\":\"acme\","
      "\"data\":{\"lead_source\":\"web_form\"}}");
  sb_record_t r, r2;
  CHECK_OK(sb_codec_from_ce(c, ce, 0, &r, &err), &err);
  char want[27];
  CHECK_OK(sb_ce_event_id("acme", "/crm/web", uuid, want, &err), &err);
  CHECK_STR(r.event_id, want);
  CHECK_STR(r.ce_id, uuid);
  CHECK_STR(r.source, "/crm/web");
  CHECK_STR(r.key, "acme:lead-1");
  CHECK_INT(r.key_len, 11);
  sb_event_t ev;
  CHECK_OK(sb_codec_decode(c, r.value, r.value_len, &ev, &err), &err);
  CHECK_STR(ev.event_id, want); /* inside, the ULID */
  ev.ce_id = r.ce_id;           /* as a reader sets it from the header */
  cJSON *back = NULL;
  CHECK_OK(sb_codec_to_ce(c, &ev, &back, &err), &err);
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(back, "id")->valuestring, uuid);
  /* the ULID beside it, so nothing is lost; accepted back when it is the
   * event id the id gives */
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(back, "sbeventid")->valuestring,
            want);
  CHECK_OK(sb_codec_from_ce(c, back, 0, &r2, &err), &err);
  CHECK_STR(r2.event_id, r.event_id);
  CHECK_INT(r2.value_len, r.value_len);
  CHECK(memcmp(r2.value, r.value, r.value_len) == 0);
  sb_record_clear(&r2);
  cJSON_ReplaceItemInObjectCaseSensitive(
      back, "sbeventid", cJSON_CreateString("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
  CHECK(sb_codec_from_ce(c, back, 0, &r2, &err) == SB_EVALIDATE);
  CHECK(strstr(err.msg, "sbeventid: not the event id") != NULL);
  sb_err_clear(&err);
  cJSON_ReplaceItemInObjectCaseSensitive(back, "sbeventid",
                                         cJSON_CreateNumber(1));
  CHECK(sb_codec_from_ce(c, back, 0, &r2, &err) == SB_EVALIDATE);
  sb_err_clear(&err);
  cJSON_Delete(back);
  /* a ULID event leaves with its id and no sbeventid */
  ev.ce_id = NULL;
  CHECK_OK(sb_codec_to_ce(c, &ev, &back, &err), &err);
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(back, "id")->valuestring, want);
  CHECK(cJSON_GetObjectItemCaseSensitive(back, "sbeventid") == NULL);
  cJSON_Delete(back);
  /* the ce_id header read as the pipeline, the feed and verify read it */
  char out[SB_CE_ID_MAX + 1];
  CHECK_STR(sb_ce_producer_id(uuid, strlen(uuid), want, out), uuid);
  CHECK(sb_ce_producer_id(want, strlen(want), want, out) == NULL);
  CHECK(sb_ce_producer_id(NULL, 0, want, out) == NULL);
  CHECK(sb_ce_producer_id("", 0, want, out) == NULL);
  CHECK(sb_ce_producer_id("a\0b", 3, want, out) == NULL);
  CHECK(sb_ce_producer_id("a\nb", 3, want, out) == NULL);
  CHECK(sb_ce_producer_id("\xff", 1, want, out) == NULL);
  char big[SB_CE_ID_MAX + 2];
  memset(big, 'x', sizeof big);
  CHECK(sb_ce_producer_id(big, SB_CE_ID_MAX + 1, want, out) == NULL);
  CHECK(sb_ce_producer_id(big, SB_CE_ID_MAX, want, out) == out);
  /* a ULID id is the event id itself: no ce_id */
  cJSON_ReplaceItemInObjectCaseSensitive(
      ce, "id", cJSON_CreateString("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
  CHECK_OK(sb_codec_from_ce(c, ce, 0, &r2, &err), &err);
  CHECK_STR(r2.event_id, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
  CHECK(r2.ce_id == NULL);
  CHECK_STR(r2.source, "/crm/web");
  /* a record copied by value keeps its strings (one allocation) */
  sb_record_t moved = r2;
  memset(&r2, 0, sizeof r2);
  CHECK_STR(moved.source, "/crm/web");
  sb_record_clear(&moved);
  sb_record_clear(&r);
  cJSON_Delete(ce);
  sb_codec_free(c);
  sb_schemas_free(s);
  return 0;
}

#define H(n, v) {n, v, sizeof v - 1}

int test_ce_binary_http(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *s = NULL;
  sb_codec_t *c = NULL;
  CHECK_OK(sb_schemas_load(&s, &err), &err);
  CHECK_OK(sb_codec_new(s, &c, &err), &err);
  const sb_ce_header_t good[] = {
      H("Host", "x"),
      H("CE-SpecVersion", "1.0"),
      H("ce-id", "evt 1%2F%C3%A9"),
      H("ce-source", "urn%3Acrm%20web"),
      H("ce-type", "lead.created"),
      H("ce-subject", "lead-1"),
      H("ce-time", "2026-11-24T18:00:00Z"),
      H("ce-tenantid", "acme"),
      H("Content-Type", "application/json; charset=utf-8"),
  };
  const char body[] = "{\"lead_source\":\"web_form\"}";
  size_t ng = sizeof good / sizeof *good;
  CHECK(sb_ce_is_binary(SB_CE_HTTP, good, ng));
  CHECK(!sb_ce_is_binary(SB_CE_HTTP, good + 2, ng - 2));
  CHECK(!sb_ce_is_binary(SB_CE_KAFKA, good, ng)); /* ce_ there */
  cJSON *ev = NULL;
  CHECK_OK(sb_ce_from_binary(SB_CE_HTTP, good, ng, "application/json", body,
                             sizeof body - 1, &ev, &err),
           &err);
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(ev, "specversion")->valuestring,
            "1.0");
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(ev, "id")->valuestring,
            "evt 1/\xc3\xa9");
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(ev, "source")->valuestring,
            "urn:crm web");
  CHECK(cJSON_GetObjectItemCaseSensitive(ev, "host") == NULL);
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(ev, "data"), "lead_source")
                ->valuestring,
            "web_form");
  sb_record_t r;
  CHECK_OK(sb_codec_from_ce(c, ev, 0, &r, &err), &err);
  CHECK_STR(r.ce_id, "evt 1/\xc3\xa9");
  sb_record_clear(&r);
  cJSON_Delete(ev);

  /* +json media types carry JSON too; no body is no data */
  CHECK_OK(sb_ce_from_binary(SB_CE_HTTP, good, ng, "application/vnd.x+json",
                             body, sizeof body - 1, &ev, &err),
           &err);
  cJSON_Delete(ev);
  CHECK_OK(sb_ce_from_binary(SB_CE_HTTP, good, ng, NULL, "", 0, &ev, &err),
           &err);
  CHECK(cJSON_GetObjectItemCaseSensitive(ev, "data") == NULL);
  cJSON_Delete(ev);

  /* refusals, each naming the header */
  struct {
    sb_ce_header_t extra;
    int skip; /* index into good left out, or -1 */
    const char *ct, *body;
    int code;
    const char *want;
  } bad[] = {
      {H("X", "y"), 4, "application/json", body, SB_EVALIDATE,
       "ce-type: missing required attribute"},
      {H("X", "y"), 2, "application/json", body, SB_EVALIDATE,
       "ce-id: missing required attribute"},
      {H("X", "y"), 3, "application/json", body, SB_EVALIDATE,
       "ce-source: missing required attribute"},
      {H("X", "y"), 1, "application/json", body, SB_EVALIDATE,
       "ce-specversion: missing required attribute"},
      {H("ce-ID", "again"), -1, "application/json", body, SB_EVALIDATE,
       "ce-id: given more than once"},
      {H("ce-data", "{}"), -1, "application/json", body, SB_EVALIDATE,
       "ce-data: in binary mode the data is the body"},
      {H("ce-datacontenttype", "application/json"), -1, "application/json",
       body, SB_EVALIDATE, "ce-datacontenttype: in binary mode"},
      {H("ce-foo_bar", "1"), -1, "application/json", body, SB_EVALIDATE,
       "not a CloudEvents attribute name"},
      {H("ce-", "1"), -1, "application/json", body, SB_EVALIDATE,
       "an attribute name is 1 to 63"},
      {H("ce-subject2", "a%2"), -1, "application/json", body, SB_EVALIDATE,
       "ce-subject2: not a valid value"},
      {H("X", "y"), -1, "text/plain", body, SB_EINVAL,
       "content-type text/plain: an event's data is a JSON object"},
      {H("X", "y"), -1, NULL, body, SB_EINVAL, "content-type (none)"},
      {H("X", "y"), -1, "application/json", "{\"a\":", SB_EVALIDATE,
       "data: not JSON"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    sb_ce_header_t hs[16];
    size_t n = 0;
    for (size_t i = 0; i < ng; i++)
      if ((int)i != bad[k].skip)
        hs[n++] = good[i];
    hs[n++] = bad[k].extra;
    ev = NULL;
    sb_err_clear(&err);
    int rc = sb_ce_from_binary(SB_CE_HTTP, hs, n, bad[k].ct, bad[k].body,
                               strlen(bad[k].body), &ev, &err);
    if (rc != bad[k].code || strstr(err.msg, bad[k].want) == NULL) {
      fprintf(stderr, "test_ce.c: case %zu: want %d \"%s\", got %d \"%s\"\n",
              k, bad[k].code, bad[k].want, rc, err.msg);
      return 1;
    }
    CHECK(ev == NULL);
  }
  /* a value past the bound */
  char *big = malloc(SB_CE_ATTR_MAX + 2);
  memset(big, 'a', SB_CE_ATTR_MAX + 1);
  big[SB_CE_ATTR_MAX + 1] = '\0';
  sb_ce_header_t hs[16];
  memcpy(hs, good, sizeof good);
  hs[ng] = (sb_ce_header_t){"ce-subject3", big, SB_CE_ATTR_MAX + 1};
  sb_err_clear(&err);
  CHECK_INT(sb_ce_from_binary(SB_CE_HTTP, hs, ng + 1, "application/json",
                              body, sizeof body - 1, &ev, &err),
            SB_EVALIDATE);
  CHECK_HAS(err.msg, "ce-subject3: 4097 bytes; at most 4096");
  free(big);
  sb_err_clear(&err);

  /* an unknown extension passes the binding; the codec says what it keeps */
  memcpy(hs, good, sizeof good);
  hs[ng] = (sb_ce_header_t)H("ce-traceparent", "00-abc");
  CHECK_OK(sb_ce_from_binary(SB_CE_HTTP, hs, ng + 1, "application/json", body,
                             sizeof body - 1, &ev, &err),
           &err);
  CHECK_INT(sb_codec_from_ce(c, ev, 0, &r, &err), SB_EVALIDATE);
  CHECK_HAS(err.msg, "traceparent: unknown attribute (the extensions kept");
  cJSON_Delete(ev);
  sb_codec_free(c);
  sb_schemas_free(s);
  return 0;
}

int test_ce_binary_kafka(void) {
  sb_err_t err = SB_ERR_INIT;
  const sb_ce_header_t hs[] = {
      H("ce_specversion", "1.0"),   H("ce_id", "a%20b"),
      H("ce_source", "urn:x"),      H("ce_type", "lead.created"),
      H("CE_subject", "ignored"),   H("content-type", "application/json"),
  };
  size_t n = sizeof hs / sizeof *hs;
  CHECK(sb_ce_is_binary(SB_CE_KAFKA, hs, n));
  CHECK(!sb_ce_is_binary(SB_CE_HTTP, hs, n));
  cJSON *ev = NULL;
  CHECK_OK(sb_ce_from_binary(SB_CE_KAFKA, hs, n, "application/json", "{}", 2,
                             &ev, &err),
           &err);
  /* no percent-decoding in the Kafka binding; names as written */
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(ev, "id")->valuestring, "a%20b");
  CHECK(cJSON_GetObjectItemCaseSensitive(ev, "subject") == NULL);
  cJSON_Delete(ev);
  const sb_ce_header_t nul[] = {
      H("ce_specversion", "1.0"), {"ce_id", "a\0b", 3},
      H("ce_source", "urn:x"),    H("ce_type", "lead.created"),
  };
  CHECK_INT(sb_ce_from_binary(SB_CE_KAFKA, nul, 4, NULL, "", 0, &ev, &err),
            SB_EVALIDATE);
  CHECK_HAS(err.msg, "ce_id: not UTF-8 text");
  return 0;
}
