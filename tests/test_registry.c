/* The Schema Registry API's answers (connectors/api/sb_api_registry.c),
 * engine/sb_avsc (canonical form, resolution), and the OpenAPI document
 * against the route table. */
#include "sb_api.h"
#include "sb_api_registry.h"
#include "sb_avsc.h"
#include "sb_http.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One answer as JSON (status in *status); NULL when the body is not JSON. */
static cJSON *ask(const sb_registry_t *g, const char *method, const char *rel,
                  const char *query, const char *body, int *status) {
  sb_registry_answer_t a;
  if (sb_registry_answer(g, method, rel, query, body, body ? strlen(body) : 0,
                         &a) != 0)
    return NULL;
  *status = a.status;
  cJSON *o = strcmp(a.type, SB_REGISTRY_TYPE) == 0
                 ? cJSON_ParseWithLength(a.body, a.len)
                 : NULL;
  free(a.body);
  return o;
}

static int error_code(const cJSON *o) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "error_code");
  return cJSON_IsNumber(c) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(
                                  o, "message"))
             ? c->valueint
             : -1;
}

/* {"schema": text} */
static char *body_of(const char *text) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "schema", text);
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

/* text with every "doc" attribute removed and printed compactly: the same
 * schema in another spelling */
static void strip_docs(cJSON *o) {
  cJSON_DeleteItemFromObjectCaseSensitive(o, "doc");
  for (cJSON *c = o->child; c; c = c->next)
    if (cJSON_IsObject(c) || cJSON_IsArray(c))
      strip_docs(c);
}

#define ASK(method, rel, query, body)                                         \
  (cJSON_Delete(o), o = ask(g, method, rel, query, body, &st))

int test_registry_answers(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_registry_t *g = NULL;
  sb_schemas_t *s = NULL;
  CHECK_OK(sb_registry_new(&g, &err), &err);
  CHECK_OK(sb_schemas_load(&s, &err), &err);
  cJSON *o = NULL;
  int st = 0;

  ASK("GET", "schemas/types", "", NULL);
  CHECK_INT(st, 200);
  CHECK(cJSON_GetArraySize(o) == 1);
  CHECK_STR(cJSON_GetArrayItem(o, 0)->valuestring, "AVRO");

  /* every id answers its schema's text, as the wire format names it */
  for (size_t i = 0; i < sb_schemas_count(s); i++) {
    const sb_evtype_t *t = sb_schemas_at(s, i);
    char rel[64];
    snprintf(rel, sizeof rel, "schemas/ids/%d", sb_evtype_id(t));
    ASK("GET", rel, "subject=sb.leads-value", NULL);
    CHECK_INT(st, 200);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(o, "schema")->valuestring,
              sb_evtype_json(t));
  }
  ASK("GET", "schemas/ids/1/schema", "", NULL);
  CHECK_INT(st, 200);
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(o, "name")->valuestring,
            "LeadCreated");
  const char *bad_ids[] = {"schemas/ids/999999", "schemas/ids/0",
                           "schemas/ids/-1", "schemas/ids/1x",
                           "schemas/ids/99999999999", "schemas/ids/x/schema"};
  for (size_t i = 0; i < SB_ARRAY_LEN(bad_ids); i++) {
    ASK("GET", bad_ids[i], "", NULL);
    CHECK_INT(st, 404);
    CHECK_INT(error_code(o), 40403);
  }

  /* one subject per event type, named by its record */
  size_t types = 0;
  for (size_t i = 0; i < sb_schemas_count(s); i++)
    types += sb_schemas_by_type(s, sb_evtype_name(sb_schemas_at(s, i))) ==
             sb_schemas_at(s, i);
  ASK("GET", "subjects", "", NULL);
  CHECK_INT(st, 200);
  CHECK_INT(cJSON_GetArraySize(o), types);
  int found = 0;
  for (cJSON *c = o->child; c; c = c->next)
    found += strcmp(c->valuestring, "switchboard.events.LeadCreated") == 0;
  CHECK_INT(found, 1);
  ASK("GET", "subjects", "subjectPrefix=switchboard.events.Lead", NULL);
  CHECK(cJSON_GetArraySize(o) >= 5 && cJSON_GetArraySize(o) < (int)types);
  ASK("GET", "subjects", "subjectPrefix=nothing", NULL);
  CHECK_INT(cJSON_GetArraySize(o), 0);

  /* versions: the type's schemas by id */
  const char *lc = "subjects/switchboard.events.LeadCreated/versions";
  int ids[16], nids = 0;
  for (size_t i = 0; i < sb_schemas_count(s); i++)
    if (strcmp(sb_evtype_name(sb_schemas_at(s, i)), "lead.created") == 0)
      ids[nids++] = sb_evtype_id(sb_schemas_at(s, i));
  for (int i = 0; i < nids; i++) /* sorted */
    for (int k = i + 1; k < nids; k++)
      if (ids[k] < ids[i]) {
        int x = ids[i];
        ids[i] = ids[k], ids[k] = x;
      }
  CHECK(nids >= 2);
  ASK("GET", lc, "", NULL);
  CHECK_INT(st, 200);
  CHECK_INT(cJSON_GetArraySize(o), nids);
  CHECK_INT(cJSON_GetArrayItem(o, nids - 1)->valueint, nids);
  char rel[200];
  for (int v = 1; v <= nids; v++) {
    snprintf(rel, sizeof rel, "%s/%d", lc, v);
    ASK("GET", rel, "", NULL);
    CHECK_INT(st, 200);
    CHECK_INT(cJSON_GetObjectItemCaseSensitive(o, "id")->valueint, ids[v - 1]);
    CHECK_INT(cJSON_GetObjectItemCaseSensitive(o, "version")->valueint, v);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(o, "subject")->valuestring,
              "switchboard.events.LeadCreated");
  }
  snprintf(rel, sizeof rel, "%s/latest", lc);
  ASK("GET", rel, "", NULL);
  CHECK_INT(cJSON_GetObjectItemCaseSensitive(o, "id")->valueint,
            sb_evtype_id(sb_schemas_by_type(s, "lead.created")));
  snprintf(rel, sizeof rel, "%s/-1/schema", lc);
  ASK("GET", rel, "", NULL);
  CHECK_INT(st, 200);
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(o, "type")->valuestring, "record");
  const char *bad_versions[] = {"0", "x", "1.5", "-2", "99999999999"};
  for (size_t i = 0; i < SB_ARRAY_LEN(bad_versions); i++) {
    snprintf(rel, sizeof rel, "%s/%s", lc, bad_versions[i]);
    ASK("GET", rel, "", NULL);
    CHECK_INT(st, 422);
    CHECK_INT(error_code(o), 42202);
  }
  snprintf(rel, sizeof rel, "%s/%d", lc, nids + 1);
  ASK("GET", rel, "", NULL);
  CHECK_INT(st, 404);
  CHECK_INT(error_code(o), 40402);

  /* unknown subjects, wherever a subject is named */
  const char *unknown[][2] = {{"GET", "subjects/sb.leads-value/versions"},
                              {"GET", "subjects/lead.created/versions/1"},
                              {"POST", "subjects/nope"},
                              {"GET", "config/nope"},
                              {"POST", "compatibility/subjects/nope/versions/latest"}};
  for (size_t i = 0; i < SB_ARRAY_LEN(unknown); i++) {
    ASK(unknown[i][0], unknown[i][1], "", "{\"schema\":\"\\\"int\\\"\"}");
    CHECK_INT(st, 404);
    CHECK_INT(error_code(o), 40401);
  }
  /* percent-encoded names are decoded */
  ASK("GET", "subjects/switchboard%2Eevents%2ELeadCreated/versions", "", NULL);
  CHECK_INT(st, 200);

  /* lookup of a schema a producer holds: its canonical form decides */
  const sb_evtype_t *v1 = sb_schemas_by_id(s, ids[0]);
  cJSON *held = cJSON_Parse(sb_evtype_json(v1));
  strip_docs(held);
  cJSON_DeleteItemFromObjectCaseSensitive(held, "sb.topic");
  char *respelt = cJSON_PrintUnformatted(held);
  char *body = body_of(respelt);
  ASK("POST", "subjects/switchboard.events.LeadCreated", "normalize=false",
      body);
  CHECK_INT(st, 200);
  CHECK_INT(cJSON_GetObjectItemCaseSensitive(o, "id")->valueint, ids[0]);
  CHECK_INT(cJSON_GetObjectItemCaseSensitive(o, "version")->valueint, 1);
  ASK("POST", "subjects/switchboard.events.LeadCreated/versions", "", body);
  CHECK_INT(st, 200);
  CHECK_INT(cJSON_GetObjectItemCaseSensitive(o, "id")->valueint, ids[0]);
  ASK("POST", "subjects/", "", body); /* of any subject */
  CHECK_INT(st, 200);
  CHECK_INT(cJSON_GetObjectItemCaseSensitive(o, "id")->valueint, ids[0]);
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(o, "subject")->valuestring,
            "switchboard.events.LeadCreated");
  free(body);
  free(respelt);
  /* the same record with a field more is none of the versions */
  cJSON *fields = cJSON_GetObjectItemCaseSensitive(held, "fields");
  cJSON_AddItemToArray(fields, cJSON_Parse("{\"name\":\"extra\",\"type\":"
                                           "\"string\",\"default\":\"\"}"));
  respelt = cJSON_PrintUnformatted(held);
  body = body_of(respelt);
  ASK("POST", "subjects/switchboard.events.LeadCreated", "", body);
  CHECK_INT(st, 404);
  CHECK_INT(error_code(o), 40403);
  ASK("POST", "subjects", "", body);
  CHECK_INT(st, 404);
  CHECK_INT(error_code(o), 40403);
  ASK("POST", "subjects/switchboard.events.LeadCreated/versions", "", body);
  CHECK_INT(st, 422);
  CHECK_INT(error_code(o), 42205);
  /* yet it reads what version 1 wrote: the field it adds has a default */
  snprintf(rel, sizeof rel, "compatibility/%s/1", lc);
  ASK("POST", rel, "verbose=true", body);
  CHECK_INT(st, 200);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "is_compatible")));
  free(body);
  free(respelt);
  /* a required field without a default cannot read older records */
  cJSON *extra = cJSON_GetArrayItem(fields, cJSON_GetArraySize(fields) - 1);
  cJSON_DeleteItemFromObjectCaseSensitive(extra, "default");
  respelt = cJSON_PrintUnformatted(held);
  body = body_of(respelt);
  ASK("POST", rel, "", body);
  CHECK_INT(st, 200);
  CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "is_compatible")));
  CHECK_HAS(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "messages"),
                               0)->valuestring,
            "extra");
  free(body);
  free(respelt);
  cJSON_Delete(held);

  /* the manifest's rule: every subject's newest schema reads every version
   * (what the codec does with an older record) */
  ASK("GET", "subjects", "", NULL);
  cJSON *subjects = o;
  o = NULL;
  for (cJSON *c = subjects->child; c; c = c->next) {
    snprintf(rel, sizeof rel, "subjects/%s/versions/latest/schema",
             c->valuestring);
    sb_registry_answer_t a;
    CHECK(sb_registry_answer(g, "GET", rel, "", NULL, 0, &a) == 0);
    CHECK_INT(a.status, 200);
    body = body_of(a.body);
    free(a.body);
    snprintf(rel, sizeof rel, "compatibility/subjects/%s/versions",
             c->valuestring);
    ASK("POST", rel, "", body);
    free(body);
    CHECK_INT(st, 200);
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "is_compatible"))) {
      char *m = cJSON_PrintUnformatted(o);
      fprintf(stderr, "%s: %s\n", c->valuestring, m);
      free(m);
      CHECK(0);
    }
  }
  cJSON_Delete(subjects);

  /* bodies refused */
  const char *bad_bodies[][2] = {
      {"not json", "400"},
      {"{\"schema\": 5}", "42201"},
      {"{\"schema\": \"{\\\"type\\\": \\\"record\\\"}\"}", "42201"},
      {"{\"schema\": \"\\\"nosuchtype\\\"\"}", "42201"},
      {"{\"schema\": \"\\\"int\\\"\", \"schemaType\": \"PROTOBUF\"}", "42201"},
      {"{\"schema\": \"\\\"int\\\"\", \"references\": [{\"name\":\"x\"}]}",
       "42201"}};
  for (size_t i = 0; i < SB_ARRAY_LEN(bad_bodies); i++) {
    ASK("POST", "subjects/switchboard.events.LeadCreated", "", bad_bodies[i][0]);
    CHECK_INT(error_code(o), atoi(bad_bodies[i][1]));
    CHECK_INT(st, error_code(o) == 400 ? 400 : 422);
  }
  ASK("POST", "subjects/switchboard.events.LeadCreated", "", NULL);
  CHECK_INT(st, 400);

  /* config, mode, wrong methods and paths */
  ASK("GET", "config", "", NULL);
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(o, "compatibilityLevel")->valuestring,
            "BACKWARD_TRANSITIVE");
  ASK("GET", "config/switchboard.events.LeadCreated", "", NULL);
  CHECK_INT(st, 200);
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(o, "compatibilityLevel")->valuestring,
            "BACKWARD_TRANSITIVE");
  ASK("GET", "mode", "", NULL);
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(o, "mode")->valuestring, "READONLY");
  ASK("DELETE", "subjects/switchboard.events.LeadCreated", "", NULL);
  CHECK_INT(st, 405);
  CHECK_INT(error_code(o), 405);
  const char *nowhere[] = {"", "schemas", "schemas/ids", "subjects/a/b/c/d/e/f",
                           "nothing", "subjects/switchboard.events.LeadCreated/x"};
  for (size_t i = 0; i < SB_ARRAY_LEN(nowhere); i++) {
    ASK("GET", nowhere[i], "", NULL);
    CHECK_INT(st, 404);
    CHECK_INT(error_code(o), 404);
  }
  cJSON_Delete(o);
  sb_schemas_free(s);
  sb_registry_free(g);
  return 0;
}

/* A subject is one event type: schemas naming one record for two types,
 * or two records for one type, are refused. */
int test_registry_subjects_refused(void) {
#define AVSC(type, name)                                                      \
  "{\"type\":\"record\",\"name\":\"" name "\",\"namespace\":\"t\","        \
  "\"sb.type\":\"" type "\",\"sb.topic\":\"sb.leads\",\"sb.subject\":"      \
  "\"x\",\"fields\":[{\"name\":\"x\",\"type\":\"string\"}]}"
  static const char a[] = AVSC("thing.made", "Thing"),
                    b[] = AVSC("thing.gone", "Thing"),
                    c[] = AVSC("thing.made", "Other");
#undef AVSC
  static const char m_ab[] = "id\ttype\tfile\n1\tthing.made\ta.avsc\n"
                             "2\tthing.gone\tb.avsc\n";
  static const char m_ac[] = "id\ttype\tfile\n1\tthing.made\ta.avsc\n"
                             "2\tthing.made\tc.avsc\n";
  static const char m_a[] = "id\ttype\tfile\n1\tthing.made\ta.avsc\n";
  const struct {
    const char *manifest, *want;
  } cases[] = {{m_ab, "share the record name t.Thing"},
               {m_ac, "name two records"},
               {m_a, NULL}};
  for (size_t i = 0; i < SB_ARRAY_LEN(cases); i++) {
    const sb_file_t files[] = {
        {"manifest.tsv", cases[i].manifest, strlen(cases[i].manifest)},
        {"a.avsc", a, sizeof a - 1},
        {"b.avsc", b, sizeof b - 1},
        {"c.avsc", c, sizeof c - 1}};
    sb_err_t err = SB_ERR_INIT;
    sb_schemas_t *s = NULL;
    sb_registry_t *g = NULL;
    CHECK_OK(sb_schemas_load_files(files, 4, &s, &err), &err);
    int rc = sb_registry_new_from(s, &g, &err);
    if (cases[i].want == NULL) {
      CHECK_OK(rc, &err);
      int st = 0;
      cJSON *o = ask(g, "GET", "subjects/t.Thing/versions/1", "", NULL, &st);
      CHECK_INT(st, 200);
      CHECK_INT(cJSON_GetObjectItemCaseSensitive(o, "id")->valueint, 1);
      cJSON_Delete(o);
    } else {
      CHECK_INT(rc, SB_EINVAL);
      CHECK(g == NULL);
      CHECK_HAS(err.msg, cases[i].want);
    }
    sb_registry_free(g);
  }
  return 0;
}

static int canon_is(const char *in, const char *want) {
  sb_err_t err = SB_ERR_INIT;
  char *got = NULL;
  CHECK_OK(sb_avsc_canonical(in, strlen(in), &got, &err), &err);
  int same = strcmp(got, want) == 0;
  if (!same)
    fprintf(stderr, "canonical form of %s\n  is %s\n  not %s\n", in, got, want);
  free(got);
  return !same;
}

int test_avsc_canonical(void) {
  /* the Avro specification's transformations: FULLNAMES, STRIP, ORDER,
   * PRIMITIVES, WHITESPACE */
  CHECK(canon_is("{\"type\": \"int\"}", "\"int\"") == 0);
  CHECK(canon_is("{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}",
                 "\"long\"") == 0);
  CHECK(canon_is("{\"fields\":[{\"type\":{\"type\":\"int\"},\"name\":\"f\","
                 "\"default\":1,\"doc\":\"d\",\"sb.maxLength\":3}],"
                 "\"namespace\":\"a.b\",\"doc\":\"x\",\"type\":\"record\","
                 "\"name\":\"R\",\"aliases\":[\"Q\"]}",
                 "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":[{\"name\":"
                 "\"f\",\"type\":\"int\"}]}") == 0);
  /* nested names take the enclosing namespace; references become full */
  CHECK(canon_is(
            "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\","
            "\"fields\":[{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":"
            "\"E\",\"symbols\":[\"A\",\"B\"]}},{\"name\":\"e2\",\"type\":"
            "[\"null\",\"E\"]},{\"name\":\"m\",\"type\":{\"type\":\"map\","
            "\"values\":{\"type\":\"fixed\",\"name\":\"F\",\"namespace\":\"o\","
            "\"size\":4}}},{\"name\":\"a\",\"type\":{\"type\":\"array\","
            "\"items\":\"o.F\"}}]}",
            "{\"name\":\"n.R\",\"type\":\"record\",\"fields\":[{\"name\":\"e\","
            "\"type\":{\"name\":\"n.E\",\"type\":\"enum\",\"symbols\":[\"A\","
            "\"B\"]}},{\"name\":\"e2\",\"type\":[\"null\",\"n.E\"]},{\"name\":"
            "\"m\",\"type\":{\"type\":\"map\",\"values\":{\"name\":\"o.F\","
            "\"type\":\"fixed\",\"size\":4}}},{\"name\":\"a\",\"type\":{\"type\":"
            "\"array\",\"items\":\"o.F\"}}]}") == 0);
  /* not schemas */
  sb_err_t err = SB_ERR_INIT;
  char *out = NULL;
  const char *bad[] = {"", "{", "{\"type\":\"record\",\"name\":\"R\"}",
                       "\"Nope\"", "{\"type\":\"array\"}", "[\"int\",\"int\"]",
                       "[[\"int\"],\"string\"]", "5", "null",
                       "{\"type\":\"record\",\"name\":\"1a\",\"fields\":[]}",
                       "{\"type\":\"record\",\"name\":\"a-b\",\"fields\":[]}",
                       "{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}",
                       "{\"type\":\"record\",\"name\":\"R\",\"namespace\":5,"
                       "\"fields\":[]}",
                       "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":"
                       "\"f\"}]}",
                       "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":"
                       "\"f\",\"type\":\"int\"},{\"name\":\"f\",\"type\":\"int\"}]}",
                       "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":"
                       "\"f\",\"type\":{\"type\":\"record\",\"name\":\"R\","
                       "\"fields\":[]}}]}",
                       "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}",
                       "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],"
                       "\"default\":\"B\"}",
                       "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"1\"]}",
                       "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}",
                       "{\"type\":\"fixed\",\"name\":\"F\",\"size\":1.5}",
                       "{\"type\":\"fixed\",\"name\":\"F\"}",
                       "{\"type\":\"map\"}", "{\"type\":5}"};
  for (size_t i = 0; i < SB_ARRAY_LEN(bad); i++) {
    sb_err_clear(&err);
    CHECK_INT(sb_avsc_canonical(bad[i], strlen(bad[i]), &out, &err), SB_EINVAL);
    CHECK(out == NULL && err.msg[0] != '\0');
  }
  return 0;
}

static int can_read(const char *w, const char *r, char *why, size_t whysz) {
  sb_err_t err = SB_ERR_INIT;
  int rc = sb_avsc_can_read(w, strlen(w), r, strlen(r), why, whysz, &err);
  if (rc < 0)
    fprintf(stderr, "%s\n", err.msg);
  return rc;
}

int test_avsc_can_read(void) {
  char why[300];
  CHECK_INT(can_read("\"int\"", "\"long\"", why, sizeof why), 1);
  CHECK_INT(can_read("\"int\"", "\"double\"", why, sizeof why), 1);
  CHECK_INT(can_read("\"long\"", "\"int\"", why, sizeof why), 0);
  CHECK_HAS(why, "long cannot be read as int");
  CHECK_INT(can_read("\"string\"", "\"bytes\"", why, sizeof why), 1);
  CHECK_INT(can_read("\"string\"", "[\"null\",\"string\"]", why, sizeof why), 1);
  CHECK_INT(can_read("[\"null\",\"string\"]", "\"string\"", why, sizeof why), 0);
#define REC(fields) "{\"type\":\"record\",\"name\":\"R\",\"fields\":[" fields "]}"
  const char *w = REC("{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\","
                      "\"type\":\"string\"}");
  /* a field dropped, one added with a default: reads */
  CHECK_INT(can_read(w, REC("{\"name\":\"a\",\"type\":\"long\"},{\"name\":"
                            "\"c\",\"type\":[\"null\",\"int\"],\"default\":"
                            "null}"),
                     why, sizeof why),
            1);
  /* one added without: does not, naming it */
  CHECK_INT(can_read(w, REC("{\"name\":\"a\",\"type\":\"int\"},{\"name\":"
                            "\"c\",\"type\":\"int\"}"),
                     why, sizeof why),
            0);
  CHECK_HAS(why, "c: ");
  /* a field's type changed */
  CHECK_INT(can_read(w, REC("{\"name\":\"b\",\"type\":\"int\"}"), why,
                     sizeof why),
            0);
  CHECK_HAS(why, "b: the writer's string cannot be read as int");
  /* another record name */
  CHECK_INT(can_read(w, "{\"type\":\"record\",\"name\":\"S\",\"fields\":[]}",
                     why, sizeof why),
            0);
  /* enums: a symbol the reader lacks, unless it has a default */
  const char *ew = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}";
  CHECK_INT(can_read(ew, "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}",
                     why, sizeof why),
            0);
  CHECK_HAS(why, "symbol B");
  CHECK_INT(can_read(ew, "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],"
                         "\"default\":\"A\"}",
                     why, sizeof why),
            1);
  CHECK_INT(can_read(ew, "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"B\","
                         "\"A\",\"C\"]}",
                     why, sizeof why),
            1);
  /* nested: arrays of records */
  CHECK_INT(can_read(REC("{\"name\":\"xs\",\"type\":{\"type\":\"array\","
                         "\"items\":{\"type\":\"record\",\"name\":\"X\","
                         "\"fields\":[]}}}"),
                     REC("{\"name\":\"xs\",\"type\":{\"type\":\"array\","
                         "\"items\":{\"type\":\"record\",\"name\":\"X\","
                         "\"fields\":[{\"name\":\"q\",\"type\":\"int\"}]}}}"),
                     why, sizeof why),
            0);
  CHECK_HAS(why, "xs[].q: ");
  /* recursive types end; a tree (each node twice itself) costs once per
   * pair of records, not once per path */
  const char *tree = "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
                     "{\"name\":\"l\",\"type\":[\"null\",\"T\"]},"
                     "{\"name\":\"r\",\"type\":[\"null\",\"T\"]}]}";
  CHECK_INT(can_read(tree, tree, why, sizeof why), 1);
  CHECK_INT(can_read(tree,
                     "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
                     "{\"name\":\"l\",\"type\":[\"null\",\"T\"]},"
                     "{\"name\":\"r\",\"type\":[\"null\",\"T\"]},"
                     "{\"name\":\"n\",\"type\":\"int\"}]}",
                     why, sizeof why),
            0);
  CHECK_HAS(why, "n: ");
  sb_err_t err = SB_ERR_INIT;
  char *canon = NULL;
  CHECK_OK(sb_avsc_canonical(tree, strlen(tree), &canon, &err), &err);
  CHECK_HAS(canon, "[\"null\",\"T\"]");
  free(canon);
  CHECK_INT(sb_avsc_can_read("\"int\"", 5, "{", 1, why, sizeof why, &err),
            SB_EINVAL);
  return 0;
#undef REC
}

/* Every route the server answers is in the OpenAPI document, and every
 * documented operation is answered by a route: an exact route by its path,
 * a prefix route ("/v1/webhooks/") by paths below it. */
int test_api_routes_documented(void) {
  size_t len;
  const char *text = sb_api_openapi(&len);
  cJSON *doc = cJSON_ParseWithLength(text, len);
  CHECK(doc != NULL);
  CHECK_STR(cJSON_GetObjectItemCaseSensitive(doc, "openapi")->valuestring,
            "3.1.0");
  const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
  CHECK(cJSON_IsObject(paths));
  int bad = 0;
  const sb_http_route_t *rt = sb_api_routes();
  for (size_t i = 0; rt[i].method; i++) {
    char m[16];
    size_t k = 0;
    for (; rt[i].method[k] && k + 1 < sizeof m; k++)
      m[k] = (char)(rt[i].method[k] | 0x20); /* lower case */
    m[k] = '\0';
    size_t pl = strlen(rt[i].path);
    int prefix = rt[i].path[pl - 1] == '/', documented = 0;
    for (const cJSON *p = paths->child; p; p = p->next)
      if ((prefix ? strncmp(p->string, rt[i].path, pl) == 0
                  : strcmp(p->string, rt[i].path) == 0) &&
          cJSON_GetObjectItemCaseSensitive(p, m) != NULL)
        documented = 1;
    if (!documented) {
      fprintf(stderr, "route %s %s%s is not in connectors/api/openapi.json\n",
              rt[i].method, rt[i].path, prefix ? "..." : "");
      bad = 1;
    }
  }
  static const char *const methods[] = {"get", "put", "post", "delete",
                                        "options", "head", "patch", "trace"};
  for (const cJSON *p = paths->child; p; p = p->next)
    for (size_t k = 0; k < SB_ARRAY_LEN(methods); k++) {
      if (cJSON_GetObjectItemCaseSensitive(p, methods[k]) == NULL)
        continue;
      int served = 0;
      for (size_t i = 0; rt[i].method; i++) {
        size_t pl = strlen(rt[i].path);
        int match = rt[i].path[pl - 1] == '/'
                        ? strncmp(p->string, rt[i].path, pl) == 0
                        : strcmp(p->string, rt[i].path) == 0;
        served |= match && strcasecmp(rt[i].method, methods[k]) == 0;
      }
      if (!served) {
        fprintf(stderr, "documented %s %s is answered by no route\n",
                methods[k], p->string);
        bad = 1;
      }
    }
  cJSON_Delete(doc);
  return bad;
}
