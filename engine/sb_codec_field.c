/* Field handles: a dotted path of an event type resolved once into the
 * field's index at each level, so a read per event is a few indexed steps
 * through the decoded Avro value (no name lookup, no allocation). The
 * handle carries the schema it was resolved for: on an event of another
 * type it reads as absent. */
#include "sb_codec_int.h"

#include <string.h>

int sb_codec_type(const sb_schemas_t *s, const char *type, sb_etype_ref_t *out,
                  sb_err_t *err) {
  out->type = sb_schemas_by_type(s, type);
  if (out->type == NULL)
    return sb_err_set(err, SB_ENOENT, "unknown event type '%.64s'", type);
  return 0;
}

/* s without a link; the T of ["null", T] (setting *opt), or s. */
static avro_schema_t unwrap(avro_schema_t s, int *opt) {
  *opt = 0;
  if (is_avro_link(s))
    s = avro_schema_link_target(s);
  if (is_avro_union(s)) {
    int nb = sb__null_branch(s);
    if (avro_schema_union_size(s) != 2 || nb < 0)
      return NULL;
    *opt = 1;
    s = avro_schema_union_branch(s, 1 - nb);
    if (is_avro_link(s))
      s = avro_schema_link_target(s);
  }
  return s;
}

int sb_codec_field(const sb_schemas_t *s, const char *type, const char *path,
                   sb_field_t *out, sb_err_t *err) {
  memset(out, 0, sizeof *out);
  const sb_evtype_t *t = sb_schemas_by_type(s, type);
  if (t == NULL)
    return sb_err_set(err, SB_ENOENT, "unknown event type '%.64s'", type);
  return sb_codec_field_of(t, path, out, err);
}

int sb_codec_field_of(const sb_evtype_t *t, const char *path, sb_field_t *out,
                      sb_err_t *err) {
  memset(out, 0, sizeof *out);
  if (t == NULL)
    return sb_err_set(err, SB_ENOENT, "no event type");
  const char *type = sb_evtype_name(t);
  sb_field_t f = {.type = t};
  avro_schema_t cur = sb_evtype_avro(t);
  const char *p = path;
  for (;;) {
    size_t n = strcspn(p, ".");
    char part[128];
    if (n == 0 || n >= sizeof part)
      return sb_err_set(err, SB_EINVAL, "%s: '%.128s' is not a field path",
                        type, path);
    if (f.depth == SB_FIELD_DEPTH)
      return sb_err_set(err, SB_EINVAL, "%s: %.128s: deeper than %d levels",
                        type, path, SB_FIELD_DEPTH);
    memcpy(part, p, n);
    part[n] = '\0';
    int ix = is_avro_record(cur) ? avro_schema_record_field_get_index(cur, part)
                                 : -1;
    if (ix < 0 || ix > UINT16_MAX)
      return sb_err_set(err, SB_ENOENT, "%s: no field %.128s", type, path);
    int opt = 0;
    avro_schema_t fs = unwrap(avro_schema_record_field_get_by_index(cur, ix),
                              &opt);
    if (fs == NULL)
      return sb_err_set(err, SB_EINVAL, "%s: %.128s: a union other than "
                                        "[\"null\", T]", type, path);
    f.ix[f.depth] = (uint16_t)ix;
    f.optional |= (uint8_t)(opt << f.depth);
    f.depth++;
    cur = fs;
    p += n;
    if (*p == '\0')
      break;
    p++;
  }
  const sb_fieldattr_t *a = sb_evtype_attr(t, path);
  switch (avro_typeof(cur)) {
  case AVRO_STRING: f.kind = SB_FIELD_STR; break;
  case AVRO_INT64:
    f.kind = a && a->timestamp_micros ? SB_FIELD_TIMESTAMP : SB_FIELD_LONG;
    break;
  case AVRO_INT32: f.kind = SB_FIELD_INT; break;
  case AVRO_DOUBLE: f.kind = SB_FIELD_DOUBLE; break;
  case AVRO_FLOAT: f.kind = SB_FIELD_FLOAT; break;
  case AVRO_BOOLEAN: f.kind = SB_FIELD_BOOL; break;
  case AVRO_ENUM: f.kind = SB_FIELD_ENUM; break;
  case AVRO_ARRAY:
    if (is_avro_string(avro_schema_array_items(cur))) {
      f.kind = SB_FIELD_STR_ARRAY;
      break;
    }
    /* fall through */
  default:
    return sb_err_set(err, SB_EINVAL, "%s: %.128s: a %s, which no typed "
                                      "getter reads", type, path,
                      avro_schema_type_name(cur));
  }
  *out = f;
  return 0;
}

int sb_event_type_is(const sb_event_t *ev, sb_etype_ref_t t) {
  return ev->type != NULL && ev->type == t.type;
}

/* The value of f in ev, when present, not null, and of kind: 1, else 0. */
static int at(const sb_event_t *ev, sb_field_t f, int kind, avro_value_t *out) {
  if (f.type == NULL || ev->type != f.type || ev->avro == NULL ||
      (kind != SB_FIELD_NONE && f.kind != kind))
    return 0;
  avro_value_t cur = *(const avro_value_t *)ev->avro;
  for (unsigned i = 0; i < f.depth; i++) {
    avro_value_t child;
    if (avro_value_get_by_index(&cur, f.ix[i], &child, NULL) != 0)
      return 0;
    if (f.optional & (1u << i)) {
      avro_value_t branch;
      if (avro_value_get_current_branch(&child, &branch) != 0 ||
          avro_value_get_type(&branch) == AVRO_NULL)
        return 0;
      child = branch;
    }
    cur = child;
  }
  *out = cur;
  return 1;
}

int sb_event_has(const sb_event_t *ev, sb_field_t f) {
  avro_value_t v;
  return at(ev, f, SB_FIELD_NONE, &v);
}

int64_t sb_event_i64(const sb_event_t *ev, sb_field_t f) {
  avro_value_t v;
  if (f.kind == SB_FIELD_INT) {
    int32_t x = 0;
    return at(ev, f, SB_FIELD_INT, &v) && avro_value_get_int(&v, &x) == 0 ? x
                                                                          : 0;
  }
  int64_t x = 0;
  if ((f.kind != SB_FIELD_LONG && f.kind != SB_FIELD_TIMESTAMP) ||
      !at(ev, f, f.kind, &v) || avro_value_get_long(&v, &x) != 0)
    return 0;
  return x;
}

double sb_event_double(const sb_event_t *ev, sb_field_t f) {
  avro_value_t v;
  if (f.kind == SB_FIELD_FLOAT) {
    float x = 0;
    return at(ev, f, SB_FIELD_FLOAT, &v) && avro_value_get_float(&v, &x) == 0
               ? (double)x
               : 0.0;
  }
  double x = 0;
  if (!at(ev, f, SB_FIELD_DOUBLE, &v) || avro_value_get_double(&v, &x) != 0)
    return 0.0;
  return x;
}

bool sb_event_bool(const sb_event_t *ev, sb_field_t f) {
  avro_value_t v;
  int x = 0;
  return at(ev, f, SB_FIELD_BOOL, &v) && avro_value_get_boolean(&v, &x) == 0 &&
         x != 0;
}

int sb_event_enum(const sb_event_t *ev, sb_field_t f) {
  avro_value_t v;
  int x = -1;
  if (!at(ev, f, SB_FIELD_ENUM, &v) || avro_value_get_enum(&v, &x) != 0)
    return -1;
  return x;
}

const char *sb_event_enum_name(const sb_event_t *ev, sb_field_t f) {
  avro_value_t v;
  int x = -1;
  if (!at(ev, f, SB_FIELD_ENUM, &v) || avro_value_get_enum(&v, &x) != 0)
    return NULL;
  return avro_schema_enum_get(avro_value_get_schema(&v), x);
}

const char *sb_event_str_field(const sb_event_t *ev, sb_field_t f) {
  avro_value_t v;
  const char *s = NULL;
  size_t n;
  if (!at(ev, f, SB_FIELD_STR, &v) || avro_value_get_string(&v, &s, &n) != 0)
    return NULL;
  return s;
}

size_t sb_event_count(const sb_event_t *ev, sb_field_t f) {
  avro_value_t v;
  size_t n = 0;
  if (!at(ev, f, SB_FIELD_STR_ARRAY, &v) || avro_value_get_size(&v, &n) != 0)
    return 0;
  return n;
}

const char *sb_event_str_at(const sb_event_t *ev, sb_field_t f, size_t i) {
  avro_value_t v, item;
  size_t n = 0;
  const char *s = NULL;
  if (!at(ev, f, SB_FIELD_STR_ARRAY, &v) || avro_value_get_size(&v, &n) != 0 ||
      i >= n || avro_value_get_by_index(&v, i, &item, NULL) != 0 ||
      avro_value_get_string(&item, &s, &n) != 0)
    return NULL;
  return s;
}
