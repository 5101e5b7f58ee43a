/* Avro -> CloudEvent JSON: sb_codec_to_ce, the inverse of sb_codec_from_ce
 * (the same event comes back, attribute for attribute), and the read of a
 * string field by its dotted path. */
#include "sb_codec_int.h"

#include "sb_time.h"
#include "sb_util.h"

#include <string.h>

static cJSON *to_json(const sb_evtype_t *t, avro_value_t *v, const char *apath);

cJSON *sb__record_to_json(const sb_evtype_t *t, avro_value_t *v,
                          const char *apath) {
  cJSON *o = cJSON_CreateObject();
  size_t n = 0;
  avro_value_get_size(v, &n);
  for (size_t i = 0; i < n; i++) {
    avro_value_t f;
    const char *name;
    avro_value_get_by_index(v, i, &f, &name);
    char path[256];
    snprintf(path, sizeof path, "%s%s%s", apath, *apath ? "." : "", name);
    cJSON *j = to_json(t, &f, path);
    if (cJSON_IsNull(j)) /* absent optional fields stay absent */
      cJSON_Delete(j);
    else
      cJSON_AddItemToObject(o, name, j);
  }
  return o;
}

static cJSON *to_json(const sb_evtype_t *t, avro_value_t *v, const char *apath) {
  const sb_fieldattr_t *attr = sb_evtype_attr(t, apath);
  switch (avro_value_get_type(v)) {
  case AVRO_STRING: {
    const char *s;
    size_t n;
    avro_value_get_string(v, &s, &n);
    return cJSON_CreateString(s);
  }
  case AVRO_INT64: {
    int64_t x = 0;
    avro_value_get_long(v, &x);
    if (attr && attr->timestamp_micros) {
      char ts[40];
      sb_time_format(x, ts, sizeof ts);
      return cJSON_CreateString(ts);
    }
    return cJSON_CreateNumber((double)x);
  }
  case AVRO_INT32: {
    int32_t x = 0;
    avro_value_get_int(v, &x);
    return cJSON_CreateNumber(x);
  }
  case AVRO_DOUBLE: {
    double x = 0;
    avro_value_get_double(v, &x);
    return cJSON_CreateNumber(x);
  }
  case AVRO_FLOAT: {
    float x = 0;
    avro_value_get_float(v, &x);
    return cJSON_CreateNumber(x);
  }
  case AVRO_BOOLEAN: {
    int x = 0;
    avro_value_get_boolean(v, &x);
    return cJSON_CreateBool(x);
  }
  case AVRO_NULL:
    return cJSON_CreateNull();
  case AVRO_ENUM: {
    int x = 0;
    avro_value_get_enum(v, &x);
    avro_schema_t s = avro_value_get_schema(v);
    return cJSON_CreateString(avro_schema_enum_get(s, x));
  }
  case AVRO_RECORD:
    return sb__record_to_json(t, v, apath);
  case AVRO_UNION: {
    avro_value_t b;
    avro_value_get_current_branch(v, &b);
    return to_json(t, &b, apath);
  }
  case AVRO_ARRAY: {
    cJSON *a = cJSON_CreateArray();
    size_t n = 0;
    avro_value_get_size(v, &n);
    for (size_t i = 0; i < n; i++) {
      avro_value_t it;
      avro_value_get_by_index(v, i, &it, NULL);
      cJSON_AddItemToArray(a, to_json(t, &it, apath));
    }
    return a;
  }
  case AVRO_MAP: {
    cJSON *o = cJSON_CreateObject();
    size_t n = 0;
    avro_value_get_size(v, &n);
    for (size_t i = 0; i < n; i++) {
      avro_value_t it;
      const char *k;
      avro_value_get_by_index(v, i, &it, &k);
      cJSON_AddItemToObject(o, k, to_json(t, &it, apath));
    }
    return o;
  }
  default:
    return cJSON_CreateNull();
  }
}

int sb_codec_to_ce(sb_codec_t *c, const sb_event_t *ev, cJSON **out,
                   sb_err_t *err) {
  (void)c;
  *out = NULL;
  const sb_evtype_t *t = ev->type;
  avro_value_t *rec = ev->avro;
  cJSON *data = sb__record_to_json(t, rec, "");
  cJSON *o = cJSON_CreateObject();
  if (data == NULL || o == NULL) {
    cJSON_Delete(data);
    cJSON_Delete(o);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  char ts[40];
  sb_time_format(ev->occurred_at, ts, sizeof ts);
  cJSON_AddStringToObject(o, "specversion", "1.0");
  cJSON_AddStringToObject(o, "id", ev->ce_id ? ev->ce_id : ev->event_id);
  /* the producer's id is the event's id: its ULID beside it, as an
   * extension, so nothing is lost (sb_codec_from_ce checks it) */
  if (ev->ce_id != NULL)
    cJSON_AddStringToObject(o, "sbeventid", ev->event_id);
  cJSON_AddStringToObject(o, "type", sb_evtype_name(t));
  const cJSON *src = cJSON_GetObjectItemCaseSensitive(data, "source");
  if (cJSON_IsString(src))
    cJSON_AddStringToObject(o, "source", src->valuestring);
  cJSON_AddStringToObject(o, "subject", ev->subject);
  cJSON_AddStringToObject(o, "time", ts);
  cJSON_AddStringToObject(o, "tenantid", ev->tenant_id);
  for (size_t i = 0; i < SB__N_ENVELOPE; i++) {
    cJSON *x = cJSON_DetachItemFromObjectCaseSensitive(data, sb__envelope[i].field);
    if (x && strcmp(sb__envelope[i].attr, "tenantid") != 0 &&
        strcmp(sb__envelope[i].attr, "id") != 0 && strcmp(sb__envelope[i].attr, "time") != 0 &&
        strcmp(sb__envelope[i].attr, "source") != 0)
      cJSON_AddItemToObject(o, sb__envelope[i].attr, x);
    else
      cJSON_Delete(x);
  }
  cJSON *actor = cJSON_DetachItemFromObjectCaseSensitive(data, "actor");
  const cJSON *a;
  cJSON_ArrayForEach(a, actor) {
    char attr[64] = "actor";
    size_t n = 5;
    for (const char *p = a->string; *p && n + 1 < sizeof attr; p++)
      if (*p != '_')
        attr[n++] = *p;
    attr[n] = '\0';
    cJSON_AddItemToObject(o, attr, cJSON_Duplicate(a, 1));
  }
  cJSON_Delete(actor);
  cJSON_DeleteItemFromObjectCaseSensitive(data, sb_evtype_subject(t));
  cJSON_AddItemToObject(o, "data", data);
  *out = o;
  return 0;
}

const char *sb_event_str_path(const sb_event_t *ev, const char *path) {
  avro_value_t cur = *(avro_value_t *)ev->avro;
  char part[128];
  for (const char *p = path; *p;) {
    size_t n = strcspn(p, ".");
    if (n >= sizeof part)
      return NULL;
    memcpy(part, p, n);
    part[n] = '\0';
    p += n + (p[n] == '.');
    if (avro_value_get_type(&cur) == AVRO_UNION) {
      avro_value_t b;
      if (avro_value_get_current_branch(&cur, &b) != 0)
        return NULL;
      cur = b;
    }
    avro_value_t child;
    if (avro_value_get_type(&cur) != AVRO_RECORD ||
        avro_value_get_by_name(&cur, part, &child, NULL) != 0)
      return NULL;
    cur = child;
  }
  if (avro_value_get_type(&cur) == AVRO_UNION) {
    avro_value_t b;
    if (avro_value_get_current_branch(&cur, &b) != 0)
      return NULL;
    cur = b;
  }
  const char *s = NULL;
  size_t n;
  if (avro_value_get_type(&cur) != AVRO_STRING ||
      avro_value_get_string(&cur, &s, &n) != 0)
    return NULL;
  return s;
}

