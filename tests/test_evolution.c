/* Schema evolution: a record written with an older schema of a type is read
 * as the newest one, by Avro's resolution rules. */
#include "sb_codec.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_util.h"

#include <stdlib.h>
#include <string.h>

#define ENVELOPE                                                             \
  "{\"name\":\"tenant_id\",\"type\":\"string\"},"                            \
  "{\"name\":\"event_id\",\"type\":\"string\"},"                             \
  "{\"name\":\"occurred_at\",\"type\":{\"type\":\"long\",\"logicalType\":"   \
  "\"timestamp-micros\"}},"                                                  \
  "{\"name\":\"source\",\"type\":\"string\"},"                               \
  "{\"name\":\"thing_id\",\"type\":\"string\"},"

static const char v1[] =
    "{\"type\":\"record\",\"name\":\"ThingMade\",\"namespace\":\"t\","
    "\"sb.type\":\"thing.made\",\"sb.topic\":\"sb.leads\",\"sb.subject\":"
    "\"thing_id\",\"fields\":[" ENVELOPE
    "{\"name\":\"colour\",\"type\":\"string\"},"
    "{\"name\":\"legacy\",\"type\":\"int\"}]}";

/* v2 drops legacy and adds size with a default */
static const char v2[] =
    "{\"type\":\"record\",\"name\":\"ThingMade\",\"namespace\":\"t\","
    "\"sb.type\":\"thing.made\",\"sb.topic\":\"sb.leads\",\"sb.subject\":"
    "\"thing_id\",\"fields\":[" ENVELOPE
    "{\"name\":\"colour\",\"type\":\"string\"},"
    "{\"name\":\"size\",\"type\":\"int\",\"default\":7}]}";

static const char manifest1[] = "id\ttype\tfile\n1\tthing.made\tv1.avsc\n";
static const char manifest2[] =
    "id\ttype\tfile\n1\tthing.made\tv1.avsc\n2\tthing.made\tv2.avsc\n";

int test_codec_schema_evolution(void) {
  sb_err_t err = SB_ERR_INIT;
  const sb_file_t old_files[] = {{"manifest.tsv", manifest1, sizeof manifest1 - 1},
                                 {"v1.avsc", v1, sizeof v1 - 1}};
  const sb_file_t new_files[] = {{"manifest.tsv", manifest2, sizeof manifest2 - 1},
                                 {"v1.avsc", v1, sizeof v1 - 1},
                                 {"v2.avsc", v2, sizeof v2 - 1}};
  sb_schemas_t *olds = NULL, *news = NULL;
  sb_codec_t *oc = NULL, *nc = NULL;
  CHECK_OK(sb_schemas_load_files(old_files, 2, &olds, &err), &err);
  CHECK_OK(sb_schemas_load_files(new_files, 3, &news, &err), &err);
  CHECK_OK(sb_codec_new(olds, &oc, &err), &err);
  CHECK_OK(sb_codec_new(news, &nc, &err), &err);
  CHECK_INT(sb_evtype_id(sb_schemas_by_type(news, "thing.made")), 2);

  /* an old producer writes with schema 1 */
  cJSON *ce = cJSON_Parse(
      "{\"specversion\":\"1.0\",\"id\":\"01JDQ7ZV3K8YQ2W5N6P7R8S9T0\",\"type\":"
      "\"thing.made\",\"source\":\"old\",\"subject\":\"t-1\",\"time\":"
      "\"2026-11-24T18:00:00Z\",\"tenantid\":\"acme\",\"data\":{\"colour\":"
      "\"red\",\"legacy\":3}}");
  sb_record_t r;
  CHECK_OK(sb_codec_from_ce(oc, ce, 0, &r, &err), &err);
  cJSON_Delete(ce);
  CHECK_INT(sb_wire_schema_id(r.value, r.value_len), 1);

  /* the new reader sees it as schema 2: size defaulted, legacy gone */
  sb_event_t ev;
  CHECK_OK(sb_codec_decode(nc, r.value, r.value_len, &ev, &err), &err);
  CHECK_INT(sb_evtype_id(ev.type), 2);
  CHECK_STR(ev.subject, "t-1");
  cJSON *out = NULL;
  CHECK_OK(sb_codec_to_ce(nc, &ev, &out, &err), &err);
  cJSON *data = cJSON_GetObjectItem(out, "data");
  CHECK_STR(cJSON_GetObjectItem(data, "colour")->valuestring, "red");
  CHECK_INT(cJSON_GetObjectItem(data, "size")->valueint, 7);
  CHECK(cJSON_GetObjectItem(data, "legacy") == NULL);
  cJSON_Delete(out);

  /* new events are written with the newest schema */
  ce = cJSON_Parse(
      "{\"specversion\":\"1.0\",\"id\":\"01JDQ7ZV3K8YQ2W5N6P7R8S9T1\",\"type\":"
      "\"thing.made\",\"source\":\"new\",\"subject\":\"t-2\",\"time\":"
      "\"2026-11-24T18:00:00Z\",\"tenantid\":\"acme\",\"data\":{\"colour\":"
      "\"blue\",\"size\":9}}");
  sb_record_t r2;
  CHECK_OK(sb_codec_from_ce(nc, ce, 0, &r2, &err), &err);
  cJSON_Delete(ce);
  CHECK_INT(sb_wire_schema_id(r2.value, r2.value_len), 2);

  sb_record_clear(&r);
  sb_record_clear(&r2);
  sb_codec_free(oc);
  sb_codec_free(nc);
  sb_schemas_free(olds);
  sb_schemas_free(news);
  return 0;
}
