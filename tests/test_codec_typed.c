/* Typed field access (field handles) and typed emit (the builder): every
 * getter kind, handles on the wrong type, schema evolution, the builder's
 * equivalence with sb_codec_from_ce over every event type, and its errors. */
#include "sb_codec.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_time.h"
#include "sb_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

cJSON *sbt_gen_event(const sb_evtype_t *t, int full, unsigned seed);

/* ---- a schema with a field of every kind ------------------------------ */

#define ENVELOPE                                                             \
  "{\"name\":\"tenant_id\",\"type\":\"string\",\"sb.maxLength\":64},"        \
  "{\"name\":\"event_id\",\"type\":\"string\"},"                             \
  "{\"name\":\"occurred_at\",\"type\":{\"type\":\"long\",\"logicalType\":"   \
  "\"timestamp-micros\"}},"                                                  \
  "{\"name\":\"actor\",\"type\":[\"null\",{\"type\":\"record\",\"name\":"    \
  "\"Actor\",\"fields\":[{\"name\":\"user_id\",\"type\":\"string\"},"        \
  "{\"name\":\"role\",\"type\":[\"null\",\"string\"],\"default\":null,"      \
  "\"sb.maxLength\":8}]}],\"default\":null},"                                \
  "{\"name\":\"correlation_id\",\"type\":[\"null\",\"string\"],"             \
  "\"default\":null},"                                                       \
  "{\"name\":\"causation_id\",\"type\":[\"null\",\"string\"],"               \
  "\"default\":null},"                                                       \
  "{\"name\":\"source\",\"type\":\"string\"},"                               \
  "{\"name\":\"thing_id\",\"type\":\"string\",\"sb.maxLength\":16},"

static const char probe_avsc[] =
    "{\"type\":\"record\",\"name\":\"ProbeMade\",\"namespace\":\"t\","
    "\"sb.type\":\"probe.made\",\"sb.topic\":\"sb.leads\",\"sb.subject\":"
    "\"thing_id\",\"fields\":[" ENVELOPE
    "{\"name\":\"name\",\"type\":\"string\",\"sb.maxLength\":8},"
    "{\"name\":\"count\",\"type\":\"long\"},"
    "{\"name\":\"small\",\"type\":\"int\"},"
    "{\"name\":\"day\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":"
    "\"timestamp-micros\"}},"
    "{\"name\":\"ratio\",\"type\":\"double\"},"
    "{\"name\":\"weight\",\"type\":\"float\"},"
    "{\"name\":\"ok\",\"type\":\"boolean\"},"
    "{\"name\":\"colour\",\"type\":{\"type\":\"enum\",\"name\":\"Colour\","
    "\"symbols\":[\"red\",\"green\",\"blue\"]}},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"maybe_n\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"maybe_colour\",\"type\":[\"null\",\"Colour\"],"
    "\"default\":null},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},"
    "\"sb.maxItems\":3,\"sb.maxLength\":5},"
    "{\"name\":\"place\",\"type\":[\"null\",{\"type\":\"record\",\"name\":"
    "\"Place\",\"fields\":[{\"name\":\"city\",\"type\":\"string\"},"
    "{\"name\":\"zip\",\"type\":[\"null\",\"string\"],\"default\":null}]}],"
    "\"default\":null},"
    "{\"name\":\"attrs\",\"type\":[\"null\",{\"type\":\"map\",\"values\":"
    "\"string\"}],\"default\":null}]}";

/* a second type, for handles used on the wrong one */
static const char other_avsc[] =
    "{\"type\":\"record\",\"name\":\"OtherMade\",\"namespace\":\"t\","
    "\"sb.type\":\"other.made\",\"sb.topic\":\"sb.leads\",\"sb.subject\":"
    "\"thing_id\",\"fields\":[" ENVELOPE
    "{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"count\",\"type\":\"long\"}]}";

static const char probe_manifest[] =
    "id\ttype\tfile\n1\tprobe.made\tprobe.avsc\n2\tother.made\tother.avsc\n";

static int load_probe(sb_schemas_t **s, sb_err_t *err) {
  const sb_file_t files[] = {
      {"manifest.tsv", probe_manifest, sizeof probe_manifest - 1},
      {"probe.avsc", probe_avsc, sizeof probe_avsc - 1},
      {"other.avsc", other_avsc, sizeof other_avsc - 1}};
  return sb_schemas_load_files(files, 3, s, err);
}

static const char probe_full[] =
    "{\"specversion\":\"1.0\",\"id\":\"01JDQ7ZV3K8YQ2W5N6P7R8S9T0\",\"type\":"
    "\"probe.made\",\"source\":\"test\",\"subject\":\"p-1\",\"time\":"
    "\"2026-11-24T18:00:00Z\",\"tenantid\":\"acme\",\"actoruserid\":\"u-9\","
    "\"actorrole\":\"admin\",\"correlationid\":\"corr-1\",\"data\":{"
    "\"name\":\"probe\",\"count\":-9007199254740991,\"small\":-7,"
    "\"day\":20416,\"at\":\"2026-11-24T18:00:00.000123Z\",\"ratio\":0.25,"
    "\"weight\":1.5,\"ok\":true,\"colour\":\"blue\",\"note\":\"n\","
    "\"maybe_n\":42,\"maybe_colour\":\"green\",\"tags\":[\"a\",\"bb\"],"
    "\"place\":{\"city\":\"Oslo\"},\"attrs\":{\"k\":\"v\"}}}";

static const char probe_min[] =
    "{\"specversion\":\"1.0\",\"id\":\"01JDQ7ZV3K8YQ2W5N6P7R8S9T1\",\"type\":"
    "\"probe.made\",\"source\":\"test\",\"subject\":\"p-2\",\"time\":"
    "\"2026-11-24T18:00:00Z\",\"tenantid\":\"acme\",\"data\":{"
    "\"name\":\"\",\"count\":0,\"small\":0,\"day\":0,"
    "\"at\":\"1970-01-01T00:00:00Z\",\"ratio\":0,\"weight\":0,\"ok\":false,"
    "\"colour\":\"red\",\"tags\":[]}}";

/* ce text -> framed record -> decoded event (held by c) */
static int encode_decode(sb_codec_t *c, const char *text, sb_record_t *r,
                         sb_event_t *ev, sb_err_t *err) {
  cJSON *ce = cJSON_Parse(text);
  if (ce == NULL)
    return sb_err_set(err, SB_EINVAL, "test: bad JSON");
  int rc = sb_codec_from_ce(c, ce, 0, r, err);
  cJSON_Delete(ce);
  if (rc != 0)
    return rc;
  return sb_codec_decode(c, r->value, r->value_len, ev, err);
}

#define FIELD(name, path)                                                     \
  sb_field_t name;                                                            \
  CHECK_OK(sb_codec_field(s, "probe.made", path, &name, &err), &err)

int test_codec_field_getters(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *s = NULL;
  sb_codec_t *c = NULL, *c2 = NULL;
  CHECK_OK(load_probe(&s, &err), &err);
  CHECK_OK(sb_codec_new(s, &c, &err), &err);
  CHECK_OK(sb_codec_new(s, &c2, &err), &err);
  FIELD(f_name, "name");
  FIELD(f_count, "count");
  FIELD(f_small, "small");
  FIELD(f_day, "day");
  FIELD(f_at, "at");
  FIELD(f_ratio, "ratio");
  FIELD(f_weight, "weight");
  FIELD(f_ok, "ok");
  FIELD(f_colour, "colour");
  FIELD(f_note, "note");
  FIELD(f_maybe_n, "maybe_n");
  FIELD(f_maybe_colour, "maybe_colour");
  FIELD(f_tags, "tags");
  FIELD(f_city, "place.city");
  FIELD(f_zip, "place.zip");
  FIELD(f_role, "actor.role");
  FIELD(f_uid, "actor.user_id");
  FIELD(f_corr, "correlation_id");
  FIELD(f_caus, "causation_id");
  FIELD(f_tenant, "tenant_id");
  FIELD(f_occ, "occurred_at");
  FIELD(f_subject, "thing_id");
  CHECK_INT(f_name.kind, SB_FIELD_STR);
  CHECK_INT(f_count.kind, SB_FIELD_LONG);
  CHECK_INT(f_small.kind, SB_FIELD_INT);
  CHECK_INT(f_day.kind, SB_FIELD_INT);
  CHECK_INT(f_at.kind, SB_FIELD_TIMESTAMP);
  CHECK_INT(f_occ.kind, SB_FIELD_TIMESTAMP);
  CHECK_INT(f_ratio.kind, SB_FIELD_DOUBLE);
  CHECK_INT(f_weight.kind, SB_FIELD_FLOAT);
  CHECK_INT(f_ok.kind, SB_FIELD_BOOL);
  CHECK_INT(f_colour.kind, SB_FIELD_ENUM);
  CHECK_INT(f_maybe_colour.kind, SB_FIELD_ENUM);
  CHECK_INT(f_tags.kind, SB_FIELD_STR_ARRAY);
  CHECK_INT(f_city.depth, 2);
  sb_etype_ref_t t_probe, t_other;
  CHECK_OK(sb_codec_type(s, "probe.made", &t_probe, &err), &err);
  CHECK_OK(sb_codec_type(s, "other.made", &t_other, &err), &err);

  /* resolution errors name the type and the path */
  sb_field_t bad;
  sb_err_t e = SB_ERR_INIT;
  CHECK_INT(sb_codec_field(s, "probe.made", "nope", &bad, &e), SB_ENOENT);
  CHECK_STR(e.msg, "probe.made: no field nope");
  CHECK(bad.type == NULL);
  sb_err_clear(&e);
  CHECK_INT(sb_codec_field(s, "nope.made", "name", &bad, &e), SB_ENOENT);
  CHECK_HAS(e.msg, "unknown event type 'nope.made'");
  sb_err_clear(&e);
  CHECK_INT(sb_codec_field(s, "probe.made", "place", &bad, &e), SB_EINVAL);
  CHECK_HAS(e.msg, "probe.made: place: a ");
  sb_err_clear(&e);
  CHECK_INT(sb_codec_field(s, "probe.made", "attrs", &bad, &e), SB_EINVAL);
  sb_err_clear(&e);
  CHECK_INT(sb_codec_field(s, "probe.made", "place.city.x", &bad, &e),
            SB_EINVAL);
  CHECK_HAS(e.msg, "deeper than 2 levels");
  sb_err_clear(&e);
  CHECK_INT(sb_codec_field(s, "probe.made", "name.x", &bad, &e), SB_ENOENT);
  sb_err_clear(&e);
  CHECK_INT(sb_codec_field(s, "probe.made", "place..city", &bad, &e),
            SB_EINVAL);
  sb_err_clear(&e);
  CHECK_INT(sb_codec_type(s, "nope", &t_probe, &e), SB_ENOENT);
  CHECK_OK(sb_codec_type(s, "probe.made", &t_probe, &err), &err);

  sb_record_t r;
  sb_event_t ev;
  sb_codec_stats_t st;
  sb_codec_stats(c, &st);
  CHECK_INT(st.decoded, 0);
  CHECK_OK(encode_decode(c, probe_full, &r, &ev, &err), &err);
  sb_codec_stats(c, &st);
  CHECK_INT(st.decoded, 1);
  CHECK_INT(st.encoded, 1);
  CHECK(sb_event_type_is(&ev, t_probe));
  CHECK(!sb_event_type_is(&ev, t_other));
  CHECK_STR(sb_event_str(&ev, f_name), "probe");
  CHECK_INT(sb_event_i64(&ev, f_count), -9007199254740991LL);
  CHECK_INT(sb_event_i64(&ev, f_small), -7);
  CHECK_INT(sb_event_i64(&ev, f_day), 20416); /* days since 1970 */
  int64_t at;
  char why[160];
  CHECK(sb_time_parse("2026-11-24T18:00:00.000123Z", &at, why, sizeof why) == 0);
  CHECK_INT(sb_event_i64(&ev, f_at), at);
  CHECK_INT(sb_event_i64(&ev, f_occ), ev.occurred_at);
  CHECK(sb_event_double(&ev, f_ratio) == 0.25);
  CHECK(sb_event_double(&ev, f_weight) == 1.5);
  CHECK(sb_event_bool(&ev, f_ok));
  CHECK_INT(sb_event_enum(&ev, f_colour), 2);
  CHECK_STR(sb_event_enum_name(&ev, f_colour), "blue");
  CHECK_STR(sb_event_enum_name(&ev, f_maybe_colour), "green");
  CHECK_INT(sb_event_enum(&ev, f_maybe_colour), 1);
  CHECK_STR(sb_event_str(&ev, f_note), "n");
  CHECK_INT(sb_event_i64(&ev, f_maybe_n), 42);
  CHECK_INT(sb_event_count(&ev, f_tags), 2);
  CHECK_STR(sb_event_str_at(&ev, f_tags, 0), "a");
  CHECK_STR(sb_event_str_at(&ev, f_tags, 1), "bb");
  CHECK(sb_event_str_at(&ev, f_tags, 2) == NULL);
  CHECK_STR(sb_event_str(&ev, f_city), "Oslo");
  CHECK(sb_event_has(&ev, f_city));
  CHECK(!sb_event_has(&ev, f_zip)); /* present record, null field */
  CHECK(sb_event_str(&ev, f_zip) == NULL);
  CHECK_STR(sb_event_str(&ev, f_role), "admin");
  CHECK_STR(sb_event_str(&ev, f_uid), "u-9");
  CHECK_STR(sb_event_str(&ev, f_corr), "corr-1");
  CHECK(!sb_event_has(&ev, f_caus));
  CHECK_STR(sb_event_str(&ev, f_tenant), "acme");
  CHECK_STR(sb_event_str(&ev, f_subject), "p-1");
  /* the by-path read still works, and agrees */
  CHECK_STR(sb_event_str_path(&ev, "place.city"), "Oslo");
  CHECK_STR(sb_event_str(&ev, "actor.role"), "admin"); /* old callers */
  /* a getter of the wrong kind reads as absent */
  CHECK_INT(sb_event_i64(&ev, f_name), 0);
  CHECK(sb_event_str(&ev, f_count) == NULL);
  CHECK(sb_event_double(&ev, f_count) == 0.0);
  CHECK(!sb_event_bool(&ev, f_colour));
  CHECK_INT(sb_event_enum(&ev, f_name), -1);
  CHECK(sb_event_enum_name(&ev, f_ok) == NULL);
  CHECK_INT(sb_event_count(&ev, f_name), 0);
  CHECK(sb_event_str_at(&ev, f_name, 0) == NULL);
  /* every field present here has */
  const sb_field_t present[] = {f_name, f_count, f_small, f_day, f_at,
                                f_ratio, f_weight, f_ok, f_colour, f_note,
                                f_maybe_n, f_maybe_colour, f_tags, f_role};
  for (size_t i = 0; i < SB_ARRAY_LEN(present); i++)
    CHECK(sb_event_has(&ev, present[i]));

  /* the same handles on another codec of the same schemas */
  sb_record_t r2;
  sb_event_t ev2;
  CHECK_OK(encode_decode(c2, probe_min, &r2, &ev2, &err), &err);
  CHECK_STR(sb_event_str(&ev2, f_name), "");
  CHECK(sb_event_has(&ev2, f_name)); /* empty, but there */
  CHECK_INT(sb_event_i64(&ev2, f_count), 0);
  CHECK(!sb_event_bool(&ev2, f_ok));
  CHECK(sb_event_has(&ev2, f_ok));
  CHECK_STR(sb_event_enum_name(&ev2, f_colour), "red");
  CHECK_INT(sb_event_enum(&ev2, f_colour), 0);
  /* absent optional fields, each kind */
  const sb_field_t absent[] = {f_note, f_maybe_n, f_maybe_colour, f_city,
                               f_zip, f_role, f_uid, f_corr, f_caus};
  for (size_t i = 0; i < SB_ARRAY_LEN(absent); i++)
    CHECK(!sb_event_has(&ev2, absent[i]));
  CHECK(sb_event_str(&ev2, f_note) == NULL);
  CHECK_INT(sb_event_i64(&ev2, f_maybe_n), 0);
  CHECK_INT(sb_event_enum(&ev2, f_maybe_colour), -1);
  CHECK(sb_event_enum_name(&ev2, f_maybe_colour) == NULL);
  CHECK(sb_event_str(&ev2, f_city) == NULL);
  CHECK(sb_event_str(&ev2, f_uid) == NULL);
  CHECK_INT(sb_event_count(&ev2, f_tags), 0);
  CHECK(sb_event_has(&ev2, f_tags)); /* an empty array is there */
  /* the first event is still readable: c2 holds its own */
  CHECK_STR(sb_event_str(&ev, f_name), "probe");
  sb_codec_stats(c, &st);
  CHECK_INT(st.decoded, 1);
  sb_codec_stats(c2, &st);
  CHECK_INT(st.decoded, 1);
  /* a failed decode is not counted */
  CHECK(sb_codec_decode(c2, r2.value, r2.value_len - 1, &ev2, &e) != 0);
  sb_codec_stats(c2, &st);
  CHECK_INT(st.decoded, 1);
  sb_record_clear(&r);
  sb_record_clear(&r2);
  sb_codec_free(c);
  sb_codec_free(c2);
  sb_schemas_free(s);
  return 0;
}

int test_codec_field_wrong_type(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *s = NULL, *s2 = NULL;
  sb_codec_t *c = NULL, *c2 = NULL;
  CHECK_OK(load_probe(&s, &err), &err);
  CHECK_OK(load_probe(&s2, &err), &err);
  CHECK_OK(sb_codec_new(s, &c, &err), &err);
  CHECK_OK(sb_codec_new(s2, &c2, &err), &err);
  /* other.made's name and count sit at the same indexes as probe.made's:
   * only the type in the handle tells them apart */
  sb_field_t o_name, o_count, p_name, p_count;
  CHECK_OK(sb_codec_field(s, "other.made", "name", &o_name, &err), &err);
  CHECK_OK(sb_codec_field(s, "other.made", "count", &o_count, &err), &err);
  CHECK_OK(sb_codec_field(s, "probe.made", "name", &p_name, &err), &err);
  CHECK_OK(sb_codec_field(s, "probe.made", "count", &p_count, &err), &err);
  CHECK_INT(o_name.ix[0], p_name.ix[0]);
  sb_record_t r;
  sb_event_t ev;
  CHECK_OK(encode_decode(c, probe_full, &r, &ev, &err), &err);
  CHECK_STR(sb_event_str(&ev, p_name), "probe");
  CHECK(!sb_event_has(&ev, o_name));
  CHECK(sb_event_str(&ev, o_name) == NULL);
  CHECK_INT(sb_event_i64(&ev, o_count), 0);
  /* a zero handle, never resolved */
  sb_field_t zero = {0};
  CHECK(!sb_event_has(&ev, zero));
  CHECK(sb_event_str(&ev, zero) == NULL);
  CHECK_INT(sb_event_enum(&ev, zero), -1);
  /* handles of another registry (a different sb_schemas_t) */
  sb_record_t r2;
  sb_event_t ev2;
  CHECK_OK(encode_decode(c2, probe_full, &r2, &ev2, &err), &err);
  CHECK(!sb_event_has(&ev2, p_name));
  CHECK(sb_event_str(&ev2, p_name) == NULL);
  sb_etype_ref_t t;
  CHECK_OK(sb_codec_type(s, "probe.made", &t, &err), &err);
  CHECK(!sb_event_type_is(&ev2, t));
  /* an event of the other type */
  static const char other_ce[] =
      "{\"specversion\":\"1.0\",\"id\":\"01JDQ7ZV3K8YQ2W5N6P7R8S9T2\",\"type\":"
      "\"other.made\",\"source\":\"test\",\"subject\":\"o-1\",\"time\":"
      "\"2026-11-24T18:00:00Z\",\"tenantid\":\"acme\",\"data\":{"
      "\"name\":\"other\",\"count\":5}}";
  sb_record_t r3;
  sb_event_t ev3;
  CHECK_OK(encode_decode(c, other_ce, &r3, &ev3, &err), &err);
  CHECK_STR(sb_event_str(&ev3, o_name), "other");
  CHECK_INT(sb_event_i64(&ev3, o_count), 5);
  CHECK(sb_event_str(&ev3, p_name) == NULL);
  CHECK_INT(sb_event_i64(&ev3, p_count), 0);
  sb_record_clear(&r);
  sb_record_clear(&r2);
  sb_record_clear(&r3);
  sb_codec_free(c);
  sb_codec_free(c2);
  sb_schemas_free(s);
  sb_schemas_free(s2);
  return 0;
}

/* ---- evolution -------------------------------------------------------- */

#define EVO_ENVELOPE                                                         \
  "{\"name\":\"tenant_id\",\"type\":\"string\"},"                            \
  "{\"name\":\"event_id\",\"type\":\"string\"},"                             \
  "{\"name\":\"occurred_at\",\"type\":{\"type\":\"long\",\"logicalType\":"   \
  "\"timestamp-micros\"}},"                                                  \
  "{\"name\":\"source\",\"type\":\"string\"},"                               \
  "{\"name\":\"thing_id\",\"type\":\"string\"},"

static const char evo_v1[] =
    "{\"type\":\"record\",\"name\":\"ThingMade\",\"namespace\":\"t\","
    "\"sb.type\":\"thing.made\",\"sb.topic\":\"sb.leads\",\"sb.subject\":"
    "\"thing_id\",\"fields\":[" EVO_ENVELOPE
    "{\"name\":\"legacy\",\"type\":\"int\"},"
    "{\"name\":\"colour\",\"type\":\"string\"}]}";

/* v2 drops legacy, moves colour, adds size (default 7), an optional note
 * and an enum with a default */
static const char evo_v2[] =
    "{\"type\":\"record\",\"name\":\"ThingMade\",\"namespace\":\"t\","
    "\"sb.type\":\"thing.made\",\"sb.topic\":\"sb.leads\",\"sb.subject\":"
    "\"thing_id\",\"fields\":[" EVO_ENVELOPE
    "{\"name\":\"size\",\"type\":\"int\",\"default\":7},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"grade\",\"type\":{\"type\":\"enum\",\"name\":\"Grade\","
    "\"symbols\":[\"a\",\"b\"]},\"default\":\"b\"},"
    "{\"name\":\"colour\",\"type\":\"string\"}]}";

int test_codec_field_evolution(void) {
  static const char m1[] = "id\ttype\tfile\n1\tthing.made\tv1.avsc\n";
  static const char m2[] =
      "id\ttype\tfile\n1\tthing.made\tv1.avsc\n2\tthing.made\tv2.avsc\n";
  const sb_file_t old_files[] = {{"manifest.tsv", m1, sizeof m1 - 1},
                                 {"v1.avsc", evo_v1, sizeof evo_v1 - 1}};
  const sb_file_t new_files[] = {{"manifest.tsv", m2, sizeof m2 - 1},
                                 {"v1.avsc", evo_v1, sizeof evo_v1 - 1},
                                 {"v2.avsc", evo_v2, sizeof evo_v2 - 1}};
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *olds = NULL, *news = NULL;
  sb_codec_t *oc = NULL, *nc = NULL;
  CHECK_OK(sb_schemas_load_files(old_files, 2, &olds, &err), &err);
  CHECK_OK(sb_schemas_load_files(new_files, 3, &news, &err), &err);
  CHECK_OK(sb_codec_new(olds, &oc, &err), &err);
  CHECK_OK(sb_codec_new(news, &nc, &err), &err);
  sb_field_t f_colour, f_size, f_note, f_grade, f_legacy;
  CHECK_OK(sb_codec_field(news, "thing.made", "colour", &f_colour, &err), &err);
  CHECK_OK(sb_codec_field(news, "thing.made", "size", &f_size, &err), &err);
  CHECK_OK(sb_codec_field(news, "thing.made", "note", &f_note, &err), &err);
  CHECK_OK(sb_codec_field(news, "thing.made", "grade", &f_grade, &err), &err);
  sb_err_t e = SB_ERR_INIT;
  CHECK_INT(sb_codec_field(news, "thing.made", "legacy", &f_legacy, &e),
            SB_ENOENT); /* the newest schema has no such field */

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
  sb_event_t ev;
  CHECK_OK(sb_codec_decode(nc, r.value, r.value_len, &ev, &err), &err);
  /* colour moved: read at its new place; size and grade: their defaults;
   * note: absent in version 1, so absent */
  CHECK_STR(sb_event_str(&ev, f_colour), "red");
  CHECK(sb_event_has(&ev, f_size));
  CHECK_INT(sb_event_i64(&ev, f_size), 7);
  CHECK_STR(sb_event_enum_name(&ev, f_grade), "b");
  CHECK(!sb_event_has(&ev, f_note));
  CHECK(sb_event_str(&ev, f_note) == NULL);
  sb_codec_stats_t st;
  sb_codec_stats(nc, &st);
  CHECK_INT(st.decoded, 1);
  CHECK_INT(st.resolved, 1);

  /* a version 2 record through the same handles */
  ce = cJSON_Parse(
      "{\"specversion\":\"1.0\",\"id\":\"01JDQ7ZV3K8YQ2W5N6P7R8S9T1\",\"type\":"
      "\"thing.made\",\"source\":\"new\",\"subject\":\"t-2\",\"time\":"
      "\"2026-11-24T18:00:00Z\",\"tenantid\":\"acme\",\"data\":{\"colour\":"
      "\"blue\",\"size\":9,\"note\":\"hi\",\"grade\":\"a\"}}");
  sb_record_t r2;
  CHECK_OK(sb_codec_from_ce(nc, ce, 0, &r2, &err), &err);
  cJSON_Delete(ce);
  CHECK_OK(sb_codec_decode(nc, r2.value, r2.value_len, &ev, &err), &err);
  CHECK_STR(sb_event_str(&ev, f_colour), "blue");
  CHECK_INT(sb_event_i64(&ev, f_size), 9);
  CHECK_STR(sb_event_str(&ev, f_note), "hi");
  CHECK_INT(sb_event_enum(&ev, f_grade), 0);
  sb_codec_stats(nc, &st);
  CHECK_INT(st.decoded, 2);
  CHECK_INT(st.resolved, 1);

  /* the real registry: security.access_denied version 1 (id 42) read by
   * version 2's handles (attempts is new in version 2) */
  sb_schemas_t *real = NULL;
  sb_codec_t *rc = NULL;
  CHECK_OK(sb_schemas_load(&real, &err), &err);
  CHECK_OK(sb_codec_new(real, &rc, &err), &err);
  sb_field_t f_attempts, f_reason, f_user;
  CHECK_OK(sb_codec_field(real, "security.access_denied", "attempts",
                          &f_attempts, &err), &err);
  CHECK_OK(sb_codec_field(real, "security.access_denied", "reason", &f_reason,
                          &err), &err);
  CHECK_OK(sb_codec_field(real, "security.access_denied", "user_id", &f_user,
                          &err), &err);
  CHECK_INT(sb_evtype_id(f_attempts.type), 52);
  /* a version-1 record, written by a codec that knows only version 1 */
  extern const sb_file_t sb_schema_files[];
  extern const size_t sb_schema_files_n;
  static const char m42[] =
      "id\ttype\tfile\n42\tsecurity.access_denied\tsecurity.access_denied.avsc\n";
  const sb_file_t *v1 = NULL;
  for (size_t i = 0; i < sb_schema_files_n; i++)
    if (strcmp(sb_schema_files[i].name, "security.access_denied.avsc") == 0)
      v1 = &sb_schema_files[i];
  CHECK(v1 != NULL);
  const sb_file_t f42[] = {{"manifest.tsv", m42, sizeof m42 - 1}, *v1};
  sb_schemas_t *s42 = NULL;
  sb_codec_t *c42 = NULL;
  CHECK_OK(sb_schemas_load_files(f42, 2, &s42, &err), &err);
  CHECK_OK(sb_codec_new(s42, &c42, &err), &err);
  ce = cJSON_Parse(
      "{\"specversion\":\"1.0\",\"id\":\"01JDQ7ZV3K8YQ2W5N6P7R8S9T3\",\"type\":"
      "\"security.access_denied\",\"source\":\"api\",\"subject\":\"u-1\","
      "\"time\":\"2026-11-24T18:00:00Z\",\"tenantid\":\"acme\",\"data\":{"
      "\"reason\":\"cross_tenant\"}}");
  sb_record_t r3;
  CHECK_OK(sb_codec_from_ce(c42, ce, 0, &r3, &err), &err);
  cJSON_Delete(ce);
  CHECK_INT(sb_wire_schema_id(r3.value, r3.value_len), 42);
  CHECK_OK(sb_codec_decode(rc, r3.value, r3.value_len, &ev, &err), &err);
  CHECK_STR(sb_event_enum_name(&ev, f_reason), "cross_tenant");
  CHECK_STR(sb_event_str(&ev, f_user), "u-1");
  CHECK(!sb_event_has(&ev, f_attempts));
  CHECK_INT(sb_event_i64(&ev, f_attempts), 0);

  sb_record_clear(&r);
  sb_record_clear(&r2);
  sb_record_clear(&r3);
  sb_codec_free(oc);
  sb_codec_free(nc);
  sb_codec_free(rc);
  sb_codec_free(c42);
  sb_schemas_free(olds);
  sb_schemas_free(news);
  sb_schemas_free(real);
  sb_schemas_free(s42);
  return 0;
}

/* ---- the builder on every kind ---------------------------------------- */

int test_codec_build_probe(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *s = NULL;
  sb_codec_t *c = NULL;
  CHECK_OK(load_probe(&s, &err), &err);
  CHECK_OK(sb_codec_new(s, &c, &err), &err);
  FIELD(f_name, "name");
  FIELD(f_count, "count");
  FIELD(f_small, "small");
  FIELD(f_day, "day");
  FIELD(f_at, "at");
  FIELD(f_ratio, "ratio");
  FIELD(f_weight, "weight");
  FIELD(f_ok, "ok");
  FIELD(f_colour, "colour");
  FIELD(f_note, "note");
  FIELD(f_maybe_n, "maybe_n");
  FIELD(f_maybe_colour, "maybe_colour");
  FIELD(f_tags, "tags");
  FIELD(f_city, "place.city");
  FIELD(f_zip, "place.zip");
  FIELD(f_subject, "thing_id");
  sb_etype_ref_t t;
  CHECK_OK(sb_codec_type(s, "probe.made", &t, &err), &err);

  /* probe_full without the map (no setter builds maps) */
  cJSON *ce = cJSON_Parse(probe_full);
  cJSON_DeleteItemFromObject(cJSON_GetObjectItem(ce, "data"), "attrs");
  sb_record_t want, got;
  CHECK_OK(sb_codec_from_ce(c, ce, 0, &want, &err), &err);
  cJSON_Delete(ce);
  int64_t at;
  char why[160];
  CHECK(sb_time_parse("2026-11-24T18:00:00.000123Z", &at, why, sizeof why) == 0);
  sb_build_t *b = sb_codec_build_begin(c, t);
  const char *tags[] = {"a", "bb"};
  /* in another order than the schema's, and one field set twice */
  CHECK_INT(sb_build_str(b, f_city, "Oslo"), 0);
  CHECK_INT(sb_build_strs(b, f_tags, tags, 2), 0);
  CHECK_INT(sb_build_str(b, f_name, "first"), 0);
  CHECK_INT(sb_build_str(b, f_name, "probe"), 0);
  CHECK_INT(sb_build_i64(b, f_count, -9007199254740991LL), 0);
  CHECK_INT(sb_build_i64(b, f_small, -7), 0);
  CHECK_INT(sb_build_i64(b, f_day, 20416), 0);
  CHECK_INT(sb_build_i64(b, f_at, at), 0);
  CHECK_INT(sb_build_double(b, f_ratio, 0.25), 0);
  CHECK_INT(sb_build_double(b, f_weight, 1.5), 0);
  CHECK_INT(sb_build_bool(b, f_ok, true), 0);
  CHECK_INT(sb_build_enum(b, f_colour, "blue"), 0);
  CHECK_INT(sb_build_str(b, f_note, "n"), 0);
  CHECK_INT(sb_build_i64(b, f_maybe_n, 42), 0);
  CHECK_INT(sb_build_enum(b, f_maybe_colour, "green"), 0);
  CHECK_INT(sb_build_str(b, f_subject, "p-1"), 0);
  sb_actor_t actor = {.user_id = "u-9", .role = "admin"};
  int64_t when;
  CHECK(sb_time_parse("2026-11-24T18:00:00Z", &when, why, sizeof why) == 0);
  sb_envelope_t env = {.event_id = "01JDQ7ZV3K8YQ2W5N6P7R8S9T0",
                       .tenant_id = "acme",
                       .source = "test",
                       .occurred_at = when,
                       .correlation_id = "corr-1",
                       .actor = &actor};
  CHECK_OK(sb_codec_build_end(b, &env, &got, &err), &err);
  CHECK_INT(got.value_len, want.value_len);
  CHECK(memcmp(got.value, want.value, want.value_len) == 0);
  CHECK_STR(got.key, want.key);
  CHECK_INT(got.occurred_at, want.occurred_at);
  sb_record_clear(&got);
  sb_record_clear(&want);

  /* a nested record given in part needs its required fields */
  b = sb_codec_build_begin(c, t);
  sb_build_str(b, f_subject, "p-1");
  sb_build_str(b, f_name, "x");
  sb_build_i64(b, f_count, 1);
  sb_build_i64(b, f_small, 1);
  sb_build_i64(b, f_day, 1);
  sb_build_i64(b, f_at, 1);
  sb_build_double(b, f_ratio, 1);
  sb_build_double(b, f_weight, 1);
  sb_build_bool(b, f_ok, false);
  sb_build_enum(b, f_colour, "red");
  sb_build_strs(b, f_tags, NULL, 0);
  CHECK_INT(sb_build_str(b, f_zip, "0150"), 0);
  sb_err_t e = SB_ERR_INIT;
  CHECK_INT(sb_codec_build_end(b, &env, &got, &e), SB_EVALIDATE);
  CHECK_HAS(e.msg, "probe.made: place.city: missing required field");
  /* the float and int limits */
  b = sb_codec_build_begin(c, t);
  CHECK_INT(sb_build_double(b, f_weight, 1e300), SB_EVALIDATE);
  sb_err_clear(&e);
  CHECK_INT(sb_codec_build_end(b, &env, &got, &e), SB_EVALIDATE);
  CHECK_HAS(e.msg, "probe.made: weight: 1e+300 is not a finite number");
  b = sb_codec_build_begin(c, t);
  CHECK_INT(sb_build_i64(b, f_day, INT64_C(3000000000)), SB_EVALIDATE);
  sb_err_clear(&e);
  CHECK_INT(sb_codec_build_end(b, &env, &got, &e), SB_EVALIDATE);
  CHECK_HAS(e.msg, "probe.made: day: 3000000000 is out of range");
  sb_codec_free(c);
  sb_schemas_free(s);
  return 0;
}
