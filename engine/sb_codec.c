#include "sb_codec.h"

#include "sb_time.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <avro.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_STRING 4096 /* for a string field with no sb.maxLength */
#define DEFAULT_MAX_ITEMS 1000
#define MAX_SAFE_INT 9007199254740991.0 /* 2^53 - 1: JSON numbers are doubles */

/* What a record field of an event type is, worked out once: where its value
 * comes from in a CloudEvent and the paths errors name. */
enum { F_DATA, F_ENVELOPE, F_ACTOR, F_SUBJECT };

typedef struct {
  int kind;
  const char *attr;            /* F_ENVELOPE: the CloudEvents attribute */
  int attr_ix;                 /* its index in known_attrs */
  const char *name;            /* the record field */
  const sb_fieldattr_t *fa;    /* its sb.* attributes, or NULL */
  char epath[80];              /* "data.lead_source", "subject", "time" */
} finfo_t;

/* Per event type: the generic Avro class and two values, one to encode
 * into and one to decode into, so a decoded event survives encoding. */
typedef struct {
  avro_value_iface_t *iface;
  avro_value_t enc, dec;
  int have_enc, have_dec;
  int tenant_ix, event_ix, time_ix, subject_ix;
  finfo_t *fi; /* per field of the record */
  size_t nfi;
} slot_t;

#define TYPE_SLOTS 256 /* open addressing over the newest schema per type */

struct sb_codec_s {
  const sb_schemas_t *schemas;
  slot_t *slots; /* by index in the registry */
  size_t n;
  unsigned char *buf;
  size_t bufcap;
  const sb_evtype_t *by_type[TYPE_SLOTS]; /* sb_schemas_by_type, hashed */
};

static size_t type_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h & (TYPE_SLOTS - 1);
}

/* The newest schema of the event type named type, as sb_schemas_by_type. */
static const sb_evtype_t *codec_type(const sb_codec_t *c, const char *type) {
  for (size_t k = type_hash(type), probes = 0; probes < TYPE_SLOTS;
       k = (k + 1) & (TYPE_SLOTS - 1), probes++) {
    const sb_evtype_t *t = c->by_type[k];
    if (t == NULL)
      return NULL;
    if (strcmp(sb_evtype_name(t), type) == 0)
      return t;
  }
  return NULL;
}

/* The envelope: record fields filled from CloudEvents attributes. */
static const struct {
  const char *field, *attr;
} envelope[] = {
    {"tenant_id", "tenantid"},         {"event_id", "id"},
    {"occurred_at", "time"},           {"source", "source"},
    {"correlation_id", "correlationid"}, {"causation_id", "causationid"},
};

static const char *const known_attrs[] = {
    "specversion", "id",          "type",        "source",
    "subject",     "time",        "tenantid",    "datacontenttype",
    "data",        "correlationid", "causationid", "actoruserid",
    "actorrole",   "actorip",     "actoruseragent",
};
enum { A_SPECVERSION, A_ID, A_TYPE, A_SOURCE, A_SUBJECT, A_TIME, A_TENANTID,
       A_DATACONTENTTYPE, A_DATA, N_ATTRS = SB_ARRAY_LEN(known_attrs) };

/* The index of a CloudEvents attribute in known_attrs, or -1. */
static int attr_index(const char *a) {
  for (size_t i = 0; i < SB_ARRAY_LEN(known_attrs); i++)
    if (a[0] == known_attrs[i][0] && strcmp(a, known_attrs[i]) == 0)
      return (int)i;
  return -1;
}

/* ---- set-up ---------------------------------------------------------- */

int sb_codec_new(const sb_schemas_t *schemas, sb_codec_t **out, sb_err_t *err) {
  *out = NULL;
  sb_codec_t *c = calloc(1, sizeof *c);
  if (c == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  c->schemas = schemas;
  c->n = sb_schemas_count(schemas);
  if (c->n > TYPE_SLOTS / 2) {
    free(c);
    return sb_err_set(err, SB_EINTERNAL, "%zu schemas: the codec's type table "
                                         "holds %d (raise TYPE_SLOTS)",
                      sb_schemas_count(schemas), TYPE_SLOTS / 2);
  }
  c->slots = calloc(c->n ? c->n : 1, sizeof *c->slots);
  if (c->slots == NULL) {
    free(c);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < c->n; i++) {
    const sb_evtype_t *t = sb_schemas_by_type(
        schemas, sb_evtype_name(sb_schemas_at(schemas, i)));
    size_t k = type_hash(sb_evtype_name(t));
    while (c->by_type[k] != NULL && c->by_type[k] != t)
      k = (k + 1) & (TYPE_SLOTS - 1);
    c->by_type[k] = t; /* every version of a type lands on its newest */
  }
  *out = c;
  return 0;
}

void sb_codec_free(sb_codec_t *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n; i++) {
    slot_t *s = &c->slots[i];
    if (s->have_enc)
      avro_value_decref(&s->enc);
    if (s->have_dec)
      avro_value_decref(&s->dec);
    if (s->iface)
      avro_value_iface_decref(s->iface);
    free(s->fi);
  }
  free(c->slots);
  free(c->buf);
  free(c);
}

static size_t type_index(const sb_codec_t *c, const sb_evtype_t *t) {
  for (size_t i = 0; i < c->n; i++)
    if (sb_schemas_at(c->schemas, i) == t)
      return i;
  return 0; /* not reached: types come from the same registry */
}

static int field_ix(avro_schema_t s, const char *name) {
  return avro_schema_record_field_get_index(s, name);
}

static const char *envelope_attr(const char *field);

/* The fields of t, classified once (sb_codec_from_ce's hot path). */
static int slot_fields(slot_t *sl, const sb_evtype_t *t) {
  avro_schema_t s = sb_evtype_avro(t);
  size_t n = avro_schema_record_size(s);
  sl->fi = calloc(n ? n : 1, sizeof *sl->fi);
  if (sl->fi == NULL)
    return -1;
  sl->nfi = n;
  for (size_t i = 0; i < n; i++) {
    finfo_t *f = &sl->fi[i];
    f->name = avro_schema_record_field_name(s, (int)i);
    f->attr = envelope_attr(f->name);
    f->attr_ix = f->attr ? attr_index(f->attr) : -1;
    f->fa = sb_evtype_attr(t, f->name);
    if (f->attr != NULL) {
      f->kind = F_ENVELOPE;
      snprintf(f->epath, sizeof f->epath, "%s", f->attr);
    } else if (strcmp(f->name, "actor") == 0) {
      f->kind = F_ACTOR;
      snprintf(f->epath, sizeof f->epath, "actor");
    } else if (strcmp(f->name, sb_evtype_subject(t)) == 0) {
      f->kind = F_SUBJECT;
      snprintf(f->epath, sizeof f->epath, "subject");
    } else {
      f->kind = F_DATA;
      snprintf(f->epath, sizeof f->epath, "data.%.70s", f->name);
    }
  }
  return 0;
}

/* The slot of t, with the value asked for (enc or dec) created. */
static slot_t *slot_of(sb_codec_t *c, const sb_evtype_t *t, int dec,
                       sb_err_t *err) {
  slot_t *s = &c->slots[type_index(c, t)];
  avro_schema_t schema = sb_evtype_avro(t);
  if (s->iface == NULL) {
    s->iface = avro_generic_class_from_schema(schema);
    if (s->iface == NULL) {
      sb_err_set(err, SB_EINTERNAL, "avro: %s", avro_strerror());
      return NULL;
    }
    s->tenant_ix = field_ix(schema, "tenant_id");
    s->event_ix = field_ix(schema, "event_id");
    s->time_ix = field_ix(schema, "occurred_at");
    s->subject_ix = field_ix(schema, sb_evtype_subject(t));
    if (slot_fields(s, t) != 0) {
      avro_value_iface_decref(s->iface);
      s->iface = NULL;
      sb_err_set(err, SB_ENOMEM, "out of memory");
      return NULL;
    }
  }
  int *have = dec ? &s->have_dec : &s->have_enc;
  avro_value_t *v = dec ? &s->dec : &s->enc;
  if (!*have) {
    if (avro_generic_value_new(s->iface, v) != 0) {
      sb_err_set(err, SB_ENOMEM, "avro: %s", avro_strerror());
      return NULL;
    }
    *have = 1;
  }
  return s;
}

/* ---- JSON -> Avro ----------------------------------------------------- */

typedef struct {
  const sb_evtype_t *type;
  sb_err_t *err;
  char epath[512]; /* where, as the producer wrote it: "data.tags[2]" */
  char apath[256]; /* the schema path, for sb_evtype_attr: "tags" */
} walk_t;

static int fail(walk_t *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(walk_t *w, const char *fmt, ...) {
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  return sb_err_set(w->err, SB_EVALIDATE, "%s: %s", w->epath, why);
}

static size_t push(char *buf, size_t sz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static size_t push(char *buf, size_t sz, const char *fmt, ...) {
  size_t old = strlen(buf);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + old, sz - old, fmt, ap);
  va_end(ap);
  return old;
}

static const char *json_kind(const cJSON *j) {
  if (cJSON_IsString(j))
    return "a string";
  if (cJSON_IsNumber(j))
    return "a number";
  if (cJSON_IsBool(j))
    return "a boolean";
  if (cJSON_IsNull(j))
    return "null";
  if (cJSON_IsArray(j))
    return "an array";
  return "an object";
}

/* Counts the code points of valid UTF-8 (RFC 3629: shortest forms only, no
 * surrogates, nothing above U+10FFFF, no NUL); -1 when invalid. */
static long utf8_len(const unsigned char *s, size_t n) {
  long count = 0;
  for (size_t i = 0; i < n; count++) {
    unsigned char b = s[i];
    if (b == 0)
      return -1;
    if (b < 0x80) {
      i++;
      continue;
    }
    size_t k;
    uint32_t cp, min;
    if (b >= 0xC2 && b <= 0xDF)
      k = 2, cp = b & 0x1F, min = 0x80;
    else if (b >= 0xE0 && b <= 0xEF)
      k = 3, cp = b & 0x0F, min = 0x800;
    else if (b >= 0xF0 && b <= 0xF4)
      k = 4, cp = b & 0x07, min = 0x10000;
    else
      return -1; /* continuation byte, overlong lead, or F5..FF */
    if (i + k > n)
      return -1;
    for (size_t j = 1; j < k; j++) {
      if ((s[i + j] & 0xC0) != 0x80)
        return -1;
      cp = cp << 6 | (s[i + j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return -1;
    i += k;
  }
  return count;
}

static int want_int(walk_t *w, const cJSON *j, double lo, double hi,
                    int64_t *out) {
  if (!cJSON_IsNumber(j))
    return fail(w, "expected an integer, got %s", json_kind(j));
  double d = j->valuedouble;
  if (d != floor(d) || !isfinite(d))
    return fail(w, "expected an integer, got %g", d);
  if (d < lo || d > hi)
    return fail(w, "%.0f is out of range [%.0f, %.0f]", d, lo, hi);
  *out = (int64_t)d;
  return 0;
}

static int from_json(walk_t *w, avro_value_t *v, avro_schema_t s,
                     const cJSON *j, const sb_fieldattr_t *attr);

static int null_branch(avro_schema_t u) {
  for (size_t i = 0; i < avro_schema_union_size(u); i++)
    if (is_avro_null(avro_schema_union_branch(u, (int)i)))
      return (int)i;
  return -1;
}

static int record_from_json(walk_t *w, avro_value_t *v, avro_schema_t s,
                            const cJSON *j) {
  if (!cJSON_IsObject(j))
    return fail(w, "expected an object, got %s", json_kind(j));
  size_t n = avro_schema_record_size(s);
  for (size_t i = 0; i < n; i++) {
    const char *name = avro_schema_record_field_name(s, (int)i);
    avro_schema_t fs = avro_schema_record_field_get_by_index(s, (int)i);
    avro_value_t fv;
    avro_value_get_by_index(v, i, &fv, NULL);
    size_t e = push(w->epath, sizeof w->epath, ".%s", name);
    size_t a = push(w->apath, sizeof w->apath, "%s%s", *w->apath ? "." : "",
                    name);
    int rc = from_json(w, &fv, fs, cJSON_GetObjectItemCaseSensitive(j, name),
                       sb_evtype_attr(w->type, w->apath));
    w->epath[e] = '\0';
    w->apath[a] = '\0';
    if (rc != 0)
      return rc;
  }
  const cJSON *k;
  cJSON_ArrayForEach(k, j) {
    if (avro_schema_record_field_get_index(s, k->string) < 0) {
      push(w->epath, sizeof w->epath, ".%s", k->string);
      return fail(w, "unknown field");
    }
  }
  return 0;
}

static int from_json(walk_t *w, avro_value_t *v, avro_schema_t s,
                     const cJSON *j, const sb_fieldattr_t *attr) {
  if (j == NULL && !is_avro_union(s))
    return fail(w, "missing required field");
  switch (avro_typeof(s)) {
  case AVRO_STRING: {
    if (!cJSON_IsString(j))
      return fail(w, "expected a string, got %s", json_kind(j));
    size_t n = strlen(j->valuestring);
    long cps = utf8_len((const unsigned char *)j->valuestring, n);
    long max = attr && attr->max_length ? attr->max_length : DEFAULT_MAX_STRING;
    if (cps < 0)
      return fail(w, "not valid UTF-8");
    if (cps > max)
      return fail(w, "longer than %ld characters (%ld)", max, cps);
    avro_value_set_string_len(v, j->valuestring, n + 1);
    return 0;
  }
  case AVRO_INT64: {
    int64_t x;
    if (attr && attr->timestamp_micros) {
      char why[160];
      if (!cJSON_IsString(j))
        return fail(w, "expected an RFC 3339 timestamp string, got %s",
                    json_kind(j));
      if (sb_time_parse(j->valuestring, &x, why, sizeof why) != 0)
        return fail(w, "%s", why);
    } else if (want_int(w, j, -MAX_SAFE_INT, MAX_SAFE_INT, &x) != 0) {
      return SB_EVALIDATE;
    }
    avro_value_set_long(v, x);
    return 0;
  }
  case AVRO_INT32: {
    int64_t x;
    if (want_int(w, j, -2147483648.0, 2147483647.0, &x) != 0)
      return SB_EVALIDATE;
    avro_value_set_int(v, (int32_t)x);
    return 0;
  }
  case AVRO_DOUBLE:
  case AVRO_FLOAT:
    if (!cJSON_IsNumber(j))
      return fail(w, "expected a number, got %s", json_kind(j));
    /* JSON has no infinity or NaN (1e999 parses as infinity): such a value
     * could not be exported as the same event */
    if (!isfinite(j->valuedouble) ||
        (avro_typeof(s) == AVRO_FLOAT && fabs(j->valuedouble) > FLT_MAX))
      return fail(w, "%g is not a finite number", j->valuedouble);
    if (avro_typeof(s) == AVRO_DOUBLE)
      avro_value_set_double(v, j->valuedouble);
    else
      avro_value_set_float(v, (float)j->valuedouble);
    return 0;
  case AVRO_BOOLEAN:
    if (!cJSON_IsBool(j))
      return fail(w, "expected true or false, got %s", json_kind(j));
    avro_value_set_boolean(v, cJSON_IsTrue(j));
    return 0;
  case AVRO_NULL:
    if (!cJSON_IsNull(j))
      return fail(w, "expected null, got %s", json_kind(j));
    avro_value_set_null(v);
    return 0;
  case AVRO_ENUM: {
    if (!cJSON_IsString(j))
      return fail(w, "expected a string, got %s", json_kind(j));
    int ix = avro_schema_enum_get_by_name(s, j->valuestring);
    if (ix < 0) {
      char list[512] = "";
      int n = avro_schema_enum_number_of_symbols(s);
      for (int i = 0; i < n; i++)
        push(list, sizeof list, "%s%s", i ? ", " : "", avro_schema_enum_get(s, i));
      return fail(w, "'%.64s' is not one of %s", j->valuestring, list);
    }
    avro_value_set_enum(v, ix);
    return 0;
  }
  case AVRO_RECORD:
    return record_from_json(w, v, s, j);
  case AVRO_LINK: /* a later use of a named type within the schema */
    return from_json(w, v, avro_schema_link_target(s), j, attr);
  case AVRO_UNION: {
    int nb = null_branch(s);
    avro_value_t branch;
    if (j == NULL || cJSON_IsNull(j)) {
      if (nb < 0)
        return fail(w, j ? "must not be null" : "missing required field");
      avro_value_set_branch(v, nb, &branch);
      avro_value_set_null(&branch);
      return 0;
    }
    if (avro_schema_union_size(s) != 2 || nb < 0)
      return fail(w, "unsupported union in schema");
    int other = 1 - nb;
    avro_value_set_branch(v, other, &branch);
    return from_json(w, &branch, avro_schema_union_branch(s, other), j, attr);
  }
  case AVRO_ARRAY: {
    if (!cJSON_IsArray(j))
      return fail(w, "expected an array, got %s", json_kind(j));
    int n = cJSON_GetArraySize(j);
    int max = attr && attr->max_items ? attr->max_items : DEFAULT_MAX_ITEMS;
    if (n > max)
      return fail(w, "more than %d items (%d)", max, n);
    avro_schema_t items = avro_schema_array_items(s);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
      avro_value_t iv;
      avro_value_append(v, &iv, NULL);
      size_t e = push(w->epath, sizeof w->epath, "[%d]", i++);
      int rc = from_json(w, &iv, items, it, attr);
      w->epath[e] = '\0';
      if (rc != 0)
        return rc;
    }
    return 0;
  }
  case AVRO_MAP: {
    if (!cJSON_IsObject(j))
      return fail(w, "expected an object, got %s", json_kind(j));
    avro_schema_t values = avro_schema_map_values(s);
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
      avro_value_t iv;
      avro_value_add(v, it->string, &iv, NULL, NULL);
      size_t e = push(w->epath, sizeof w->epath, ".%s", it->string);
      int rc = from_json(w, &iv, values, it, attr);
      w->epath[e] = '\0';
      if (rc != 0)
        return rc;
    }
    return 0;
  }
  default:
    return fail(w, "unsupported schema type");
  }
}

static const char *envelope_attr(const char *field) {
  for (size_t i = 0; i < SB_ARRAY_LEN(envelope); i++)
    if (strcmp(envelope[i].field, field) == 0)
      return envelope[i].attr;
  return NULL;
}

/* "actor.user_id: reason" -> "actoruserid: reason": errors name the
 * attribute the producer wrote. */
static void actor_path(sb_err_t *err) {
  char fixed[SB_ERR_MSG_MAX];
  size_t n = 0;
  const char *p = err->msg + strlen("actor.");
  n += (size_t)snprintf(fixed, sizeof fixed, "actor");
  for (; *p && *p != ':' && n + 1 < sizeof fixed; p++)
    if (*p != '_')
      fixed[n++] = *p;
  snprintf(fixed + n, sizeof fixed - n, "%s", p);
  memcpy(err->msg, fixed, sizeof err->msg);
}

/* The actor extensions (actoruserid, ...) gathered into an object shaped
 * like the Actor record, or NULL when none is present. */
static cJSON *actor_object(const cJSON *const *at, avro_schema_t actor) {
  avro_schema_t rec = actor;
  if (is_avro_union(actor)) {
    int nb = null_branch(actor);
    rec = avro_schema_union_branch(actor, nb == 0 ? 1 : 0);
  }
  cJSON *o = NULL;
  for (size_t i = 0; i < avro_schema_record_size(rec); i++) {
    const char *name = avro_schema_record_field_name(rec, (int)i);
    char attr[64] = "actor";
    size_t n = 5;
    for (const char *p = name; *p && n + 1 < sizeof attr; p++)
      if (*p != '_')
        attr[n++] = *p;
    attr[n] = '\0';
    int ix = attr_index(attr);
    const cJSON *v = ix >= 0 ? at[ix] : NULL;
    if (v == NULL)
      continue;
    if (o == NULL)
      o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, name, cJSON_Duplicate(v, 1));
  }
  return o;
}

static int tenant_ok(const char *t) {
  size_t n = strlen(t);
  if (n == 0 || n > 64)
    return 0;
  for (const char *p = t; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
      return 0;
  return 1;
}

static int encode(sb_codec_t *c, const sb_evtype_t *t, avro_value_t *v,
                  sb_record_t *out, sb_err_t *err) {
  size_t size = 0;
  if (avro_value_sizeof(v, &size) != 0)
    return sb_err_set(err, SB_EINTERNAL, "avro: %s", avro_strerror());
  out->value = malloc(SB_WIRE_HEADER + size);
  if (out->value == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  uint32_t id = (uint32_t)sb_evtype_id(t);
  out->value[0] = 0;
  out->value[1] = (unsigned char)(id >> 24);
  out->value[2] = (unsigned char)(id >> 16);
  out->value[3] = (unsigned char)(id >> 8);
  out->value[4] = (unsigned char)id;
  avro_writer_t wr =
      avro_writer_memory((const char *)out->value + SB_WIRE_HEADER, (int64_t)size);
  int rc = avro_value_write(wr, v);
  avro_writer_free(wr);
  if (rc != 0) {
    free(out->value);
    out->value = NULL;
    return sb_err_set(err, SB_EINTERNAL, "avro: %s", avro_strerror());
  }
  out->value_len = SB_WIRE_HEADER + size;
  (void)c;
  return 0;
}

int sb_codec_from_ce(sb_codec_t *c, const cJSON *ce, unsigned flags,
                     sb_record_t *out, sb_err_t *err) {
  memset(out, 0, sizeof *out);
  walk_t w = {.err = err};
  cJSON *actor = NULL, *gen_id = NULL;
  int rc = 0;
  if (!cJSON_IsObject(ce))
    return sb_err_set(err, SB_EVALIDATE, "event: expected a JSON object");
  /* the attributes in one pass (the first of duplicates, as cJSON finds) */
  const cJSON *k, *at[N_ATTRS] = {0};
  cJSON_ArrayForEach(k, ce) {
    int ix = k->string ? attr_index(k->string) : -1;
    if (ix < 0)
      return sb_err_set(err, SB_EVALIDATE, "%s: unknown attribute",
                        k->string ? k->string : "?");
    if (at[ix] == NULL)
      at[ix] = k;
  }
  const cJSON *spec = at[A_SPECVERSION];
  if (!cJSON_IsString(spec) || strcmp(spec->valuestring, "1.0") != 0)
    return sb_err_set(err, SB_EVALIDATE,
                      "specversion: must be \"1.0\" (CloudEvents 1.0)");
  const cJSON *type = at[A_TYPE];
  if (!cJSON_IsString(type))
    return sb_err_set(err, SB_EVALIDATE, "type: missing required attribute");
  const sb_evtype_t *t = codec_type(c, type->valuestring);
  if (t == NULL)
    return sb_err_set(err, SB_EVALIDATE, "type: unknown event type '%.64s'",
                      type->valuestring);
  const cJSON *dct = at[A_DATACONTENTTYPE];
  if (dct && !(cJSON_IsString(dct) &&
               strcmp(dct->valuestring, "application/json") == 0))
    return sb_err_set(err, SB_EVALIDATE,
                      "datacontenttype: only application/json is accepted");
  const cJSON *data = at[A_DATA];
  if (data != NULL && !cJSON_IsObject(data))
    return sb_err_set(err, SB_EVALIDATE, "data: expected an object, got %s",
                      json_kind(data));
  const cJSON *subject = at[A_SUBJECT];
  const cJSON *id = at[A_ID];
  if (id == NULL && (flags & SB_CE_GENERATE_ID)) {
    char ulid[SB_ULID_LEN + 1];
    if (sb_ulid_new(ulid, err) != 0)
      return err->code;
    id = gen_id = cJSON_CreateString(ulid);
  }
  if (cJSON_IsString(id) && !sb_ulid_valid(id->valuestring, strlen(id->valuestring))) {
    rc = sb_err_set(err, SB_EVALIDATE,
                    "id: '%.40s' is not a ULID (26 Crockford base32 "
                    "characters)", id->valuestring);
    goto out;
  }
  const cJSON *tenant = at[A_TENANTID];
  if (cJSON_IsString(tenant) && !tenant_ok(tenant->valuestring)) {
    rc = sb_err_set(err, SB_EVALIDATE,
                    "tenantid: must be 1 to 64 of A-Z a-z 0-9 . _ -");
    goto out;
  }

  slot_t *sl = slot_of(c, t, 0, err);
  if (sl == NULL) {
    rc = err->code;
    goto out;
  }
  avro_value_t *rec = &sl->enc;
  avro_value_reset(rec);
  avro_schema_t s = sb_evtype_avro(t);
  w.type = t;
  size_t n = avro_schema_record_size(s);
  for (size_t i = 0; i < n && rc == 0; i++) {
    const finfo_t *f = &sl->fi[i];
    const char *name = f->name;
    avro_schema_t fs = avro_schema_record_field_get_by_index(s, (int)i);
    avro_value_t fv;
    avro_value_get_by_index(rec, i, &fv, NULL);
    const cJSON *j;
    const char *attr = f->attr;
    if (f->kind == F_ENVELOPE) {
      j = f->attr_ix == A_ID ? id : at[f->attr_ix];
    } else if (f->kind == F_ACTOR) {
      actor = actor_object(at, fs);
      j = actor;
    } else if (f->kind == F_SUBJECT) {
      const cJSON *dup = data ? cJSON_GetObjectItemCaseSensitive(data, name) : NULL;
      if (dup && !(cJSON_IsString(dup) && cJSON_IsString(subject) &&
                   strcmp(dup->valuestring, subject->valuestring) == 0)) {
        rc = sb_err_set(err, SB_EVALIDATE,
                        "data.%s: differs from the subject attribute", name);
        break;
      }
      j = subject;
    } else {
      j = data ? cJSON_GetObjectItemCaseSensitive(data, name) : NULL;
    }
    size_t el = strlen(f->epath), al = strlen(name);
    memcpy(w.epath, f->epath, el + 1);
    if (al >= sizeof w.apath)
      al = sizeof w.apath - 1;
    memcpy(w.apath, name, al);
    w.apath[al] = '\0';
    if (j == NULL && attr != NULL && !is_avro_union(fs)) {
      rc = sb_err_set(err, SB_EVALIDATE, "%s: missing required attribute", attr);
      break;
    }
    rc = from_json(&w, &fv, fs, j, f->fa);
    if (rc != 0 && actor != NULL && strncmp(err->msg, "actor.", 6) == 0)
      actor_path(err);
  }
  if (rc != 0)
    goto out;
  /* data may only hold the domain fields */
  const cJSON *dk;
  cJSON_ArrayForEach(dk, data) {
    int ix = avro_schema_record_field_get_index(s, dk->string);
    if (ix < 0 || envelope_attr(dk->string) || strcmp(dk->string, "actor") == 0) {
      rc = sb_err_set(err, SB_EVALIDATE, "data.%s: unknown field", dk->string);
      goto out;
    }
  }
  if (strlen(subject->valuestring) == 0) {
    rc = sb_err_set(err, SB_EVALIDATE, "subject: must not be empty");
    goto out;
  }
  if ((rc = encode(c, t, rec, out, err)) != 0)
    goto out;
  size_t kl = strlen(tenant->valuestring) + 1 + strlen(subject->valuestring);
  out->key = malloc(kl + 1);
  if (out->key == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  size_t tl = strlen(tenant->valuestring);
  memcpy(out->key, tenant->valuestring, tl);
  out->key[tl] = ':';
  memcpy(out->key + tl + 1, subject->valuestring, kl - tl - 1);
  out->key[kl] = '\0';
  out->key_len = kl;
  out->type = t;
  snprintf(out->event_id, sizeof out->event_id, "%s", id->valuestring);
  sb_time_parse(at[A_TIME]->valuestring, &out->occurred_at, w.epath,
                sizeof w.epath);
out:
  if (rc != 0)
    sb_record_clear(out);
  cJSON_Delete(actor);
  cJSON_Delete(gen_id);
  return rc;
}

void sb_record_clear(sb_record_t *r) {
  if (r == NULL)
    return;
  free(r->key);
  free(r->value);
  memset(r, 0, sizeof *r);
}

/* ---- Avro -> event, Avro -> JSON ------------------------------------ */

int sb_wire_schema_id(const void *value, size_t len) {
  const unsigned char *b = value;
  if (len < SB_WIRE_HEADER || b[0] != 0)
    return -1;
  uint32_t id = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                (uint32_t)b[3] << 8 | b[4];
  return id > 0x7fffffff ? -1 : (int)id;
}

static const char *get_str(avro_value_t *rec, int ix) {
  avro_value_t f;
  const char *s = NULL;
  size_t n;
  if (ix < 0 || avro_value_get_by_index(rec, (size_t)ix, &f, NULL) != 0 ||
      avro_value_get_string(&f, &s, &n) != 0)
    return NULL;
  return s;
}

/* ---- checking raw Avro before avro-c reads it ------------------------- */

/* avro-c trusts what it reads: a length is allocated before it is checked
 * against the input, and enum indexes are not checked at all. So every
 * record is first walked against its schema without allocating: each
 * length must fit in what is left, each enum and union index must exist,
 * item counts are bounded. */
typedef struct {
  const unsigned char *p, *end;
  long items; /* array and map items left to allow */
} scan_t;

static int scan_varint(scan_t *sc, int64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (sc->p >= sc->end)
      return -1;
    unsigned char b = *sc->p++;
    v |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
      return 0;
    }
  }
  return -1;
}

static int scan_skip(scan_t *sc, int64_t n) {
  if (n < 0 || n > sc->end - sc->p)
    return -1;
  sc->p += n;
  return 0;
}

static int scan(scan_t *sc, avro_schema_t s, int depth) {
  int64_t v;
  if (depth > 32)
    return -1;
  switch (avro_typeof(s)) {
  case AVRO_NULL:
    return 0;
  case AVRO_BOOLEAN:
    if (sc->p >= sc->end || *sc->p > 1)
      return -1;
    sc->p++;
    return 0;
  case AVRO_INT32:
    return scan_varint(sc, &v) != 0 || v < INT32_MIN || v > INT32_MAX ? -1 : 0;
  case AVRO_INT64:
    return scan_varint(sc, &v);
  case AVRO_FLOAT: { /* finite only: JSON has no NaN or infinity */
    float f;
    if (sc->end - sc->p < 4)
      return -1;
    memcpy(&f, sc->p, 4);
    return isfinite(f) ? scan_skip(sc, 4) : -1;
  }
  case AVRO_DOUBLE: {
    double d;
    if (sc->end - sc->p < 8)
      return -1;
    memcpy(&d, sc->p, 8);
    return isfinite(d) ? scan_skip(sc, 8) : -1;
  }
  case AVRO_STRING: /* no NUL inside: C strings would end there */
    if (scan_varint(sc, &v) != 0 || v < 0 || v > sc->end - sc->p ||
        memchr(sc->p, 0, (size_t)v) != NULL)
      return -1;
    return scan_skip(sc, v);
  case AVRO_BYTES:
    return scan_varint(sc, &v) != 0 ? -1 : scan_skip(sc, v);
  case AVRO_FIXED:
    return scan_skip(sc, avro_schema_fixed_size(s));
  case AVRO_ENUM:
    return scan_varint(sc, &v) != 0 || v < 0 ||
                   v >= avro_schema_enum_number_of_symbols(s)
               ? -1
               : 0;
  case AVRO_UNION:
    if (scan_varint(sc, &v) != 0 || v < 0 ||
        v >= (int64_t)avro_schema_union_size(s))
      return -1;
    return scan(sc, avro_schema_union_branch(s, (int)v), depth + 1);
  case AVRO_RECORD:
    for (size_t i = 0; i < avro_schema_record_size(s); i++)
      if (scan(sc, avro_schema_record_field_get_by_index(s, (int)i),
               depth + 1) != 0)
        return -1;
    return 0;
  case AVRO_LINK:
    return scan(sc, avro_schema_link_target(s), depth + 1);
  case AVRO_ARRAY:
  case AVRO_MAP: {
    int is_map = avro_typeof(s) == AVRO_MAP;
    avro_schema_t items = is_map ? avro_schema_map_values(s)
                                 : avro_schema_array_items(s);
    for (;;) {
      int64_t count;
      if (scan_varint(sc, &count) != 0)
        return -1;
      if (count == 0)
        return 0;
      if (count < 0) { /* a block with its size in bytes */
        if (count == INT64_MIN)
          return -1;
        count = -count;
        if (scan_varint(sc, &v) != 0 || v < 0 || v > sc->end - sc->p)
          return -1;
      }
      if (count > sc->items)
        return -1;
      sc->items -= (long)count;
      for (int64_t i = 0; i < count; i++) {
        if (is_map && (scan_varint(sc, &v) != 0 || scan_skip(sc, v) != 0))
          return -1;
        if (scan(sc, items, depth + 1) != 0)
          return -1;
      }
    }
  }
  default:
    return -1;
  }
}

static cJSON *record_to_json(const sb_evtype_t *t, avro_value_t *v,
                             const char *apath);

/* Reads a record written with an older schema of a type as the newest one,
 * by Avro's resolution rules: fields the reader lacks are dropped, fields
 * the writer lacks take the reader's default (or null when optional).
 * avro-c's own resolver cannot fill defaults, so this goes through the same
 * schema-driven conversion as CloudEvents. Only older records pay for it. */
static int resolve(sb_codec_t *c, const sb_evtype_t *wt, avro_value_t *wv,
                   const sb_evtype_t *rt, avro_value_t *rv, sb_err_t *err) {
  (void)c;
  avro_schema_t rs = sb_evtype_avro(rt);
  cJSON *j = record_to_json(wt, wv, "");
  if (j == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  for (cJSON *k = j->child, *next; k; k = next) {
    next = k->next;
    if (avro_schema_record_field_get_index(rs, k->string) < 0)
      cJSON_DeleteItemFromObjectCaseSensitive(j, k->string);
  }
  int rc = 0;
  for (size_t i = 0; i < avro_schema_record_size(rs) && rc == 0; i++) {
    const char *name = avro_schema_record_field_name(rs, (int)i);
    if (cJSON_GetObjectItemCaseSensitive(j, name))
      continue;
    const sb_fieldattr_t *a = sb_evtype_attr(rt, name);
    cJSON *def = a && a->default_json ? cJSON_Parse(a->default_json) : NULL;
    if (def != NULL && a->timestamp_micros && cJSON_IsNumber(def)) {
      char ts[40];
      sb_time_format((int64_t)def->valuedouble, ts, sizeof ts);
      cJSON_Delete(def);
      def = cJSON_CreateString(ts);
    }
    if (def != NULL && !cJSON_IsNull(def))
      cJSON_AddItemToObject(j, name, def);
    else
      cJSON_Delete(def);
  }
  walk_t w = {.type = rt, .err = err};
  snprintf(w.epath, sizeof w.epath, "schema %d as %d", sb_evtype_id(wt),
           sb_evtype_id(rt));
  avro_value_reset(rv);
  rc = record_from_json(&w, rv, rs, j);
  cJSON_Delete(j);
  if (rc != 0)
    err->code = SB_EDECODE;
  return rc;
}

int sb_codec_decode(sb_codec_t *c, const void *value, size_t len,
                    sb_event_t *ev, sb_err_t *err) {
  memset(ev, 0, sizeof *ev);
  if (len < SB_WIRE_HEADER || ((const unsigned char *)value)[0] != 0)
    return sb_err_set(err, SB_EDECODE,
                      "not in the Confluent wire format (%zu bytes, first byte "
                      "0x%02x)",
                      len, len ? ((const unsigned char *)value)[0] : 0);
  int id = sb_wire_schema_id(value, len);
  const sb_evtype_t *t = id < 0 ? NULL : sb_schemas_by_id(c->schemas, id);
  if (t == NULL) {
    const unsigned char *b = value;
    return sb_err_set(err, SB_EDECODE, "unknown schema id %u",
                      (unsigned)b[1] << 24 | (unsigned)b[2] << 16 |
                          (unsigned)b[3] << 8 | b[4]);
  }
  scan_t sc = {(const unsigned char *)value + SB_WIRE_HEADER,
               (const unsigned char *)value + len, 100000};
  if (scan(&sc, sb_evtype_avro(t), 0) != 0)
    return sb_err_set(err, SB_EDECODE,
                      "malformed or truncated Avro for schema id %d (%s)", id,
                      sb_evtype_name(t));
  if (sc.p != sc.end)
    return sb_err_set(err, SB_EDECODE,
                      "trailing bytes after the Avro record of schema id %d", id);
  slot_t *sl = slot_of(c, t, 1, err);
  if (sl == NULL)
    return err->code;
  avro_value_reset(&sl->dec);
  avro_reader_t rd = avro_reader_memory((const char *)value + SB_WIRE_HEADER,
                                        (int64_t)(len - SB_WIRE_HEADER));
  int rc = avro_value_read(rd, &sl->dec);
  char extra; /* avro_reader_is_eof does not work on memory readers */
  int eof = rc != 0 || avro_read(rd, &extra, 1) != 0;
  avro_reader_free(rd);
  if (rc != 0)
    return sb_err_set(err, SB_EDECODE,
                      "malformed or truncated Avro for schema id %d (%s)", id,
                      sb_evtype_name(t));
  if (!eof)
    return sb_err_set(err, SB_EDECODE,
                      "trailing bytes after the Avro record of schema id %d", id);
  /* the newest schema of the type reads every older one */
  const sb_evtype_t *rt = sb_schemas_by_type(c->schemas, sb_evtype_name(t));
  if (rt != t) {
    slot_t *rs = slot_of(c, rt, 1, err);
    if (rs == NULL || resolve(c, t, &sl->dec, rt, &rs->dec, err) != 0)
      return err->code;
    t = rt;
    sl = rs;
  }
  ev->type = t;
  ev->avro = &sl->dec;
  ev->value = value;
  ev->value_len = len;
  ev->tenant_id = get_str(&sl->dec, sl->tenant_ix);
  ev->event_id = get_str(&sl->dec, sl->event_ix);
  ev->subject = get_str(&sl->dec, sl->subject_ix);
  avro_value_t f;
  if (ev->tenant_id == NULL || ev->event_id == NULL || ev->subject == NULL ||
      avro_value_get_by_index(&sl->dec, (size_t)sl->time_ix, &f, NULL) != 0 ||
      avro_value_get_long(&f, &ev->occurred_at) != 0) {
    memset(ev, 0, sizeof *ev);
    return sb_err_set(err, SB_EDECODE, "record of schema id %d lacks the "
                                       "envelope", id);
  }
  /* records can reach a topic without passing the converter: hold them to
   * the same rules for what the engine keys and indexes on */
  const sb_fieldattr_t *sa = sb_evtype_attr(t, sb_evtype_subject(t));
  size_t subj_len = strlen(ev->subject);
  long subj_cps = utf8_len((const unsigned char *)ev->subject, subj_len);
  const char *bad = !tenant_ok(ev->tenant_id)
                        ? "tenant_id must be 1 to 64 of A-Z a-z 0-9 . _ -"
                    : !sb_ulid_valid(ev->event_id, strlen(ev->event_id))
                        ? "event_id is not a ULID"
                    : subj_len == 0 ? "the subject is empty"
                    : subj_cps < 0  ? "the subject is not valid UTF-8"
                    : sa && sa->max_length && subj_cps > sa->max_length
                        ? "the subject is longer than its schema allows"
                        : NULL;
  if (bad != NULL) {
    memset(ev, 0, sizeof *ev);
    return sb_err_set(err, SB_EVALIDATE, "schema id %d: %s", id, bad);
  }
  return 0;
}

static cJSON *to_json(const sb_evtype_t *t, avro_value_t *v, const char *apath);

static cJSON *record_to_json(const sb_evtype_t *t, avro_value_t *v,
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
    return record_to_json(t, v, apath);
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
  cJSON *data = record_to_json(t, rec, "");
  cJSON *o = cJSON_CreateObject();
  if (data == NULL || o == NULL) {
    cJSON_Delete(data);
    cJSON_Delete(o);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  char ts[40];
  sb_time_format(ev->occurred_at, ts, sizeof ts);
  cJSON_AddStringToObject(o, "specversion", "1.0");
  cJSON_AddStringToObject(o, "id", ev->event_id);
  cJSON_AddStringToObject(o, "type", sb_evtype_name(t));
  const cJSON *src = cJSON_GetObjectItemCaseSensitive(data, "source");
  if (cJSON_IsString(src))
    cJSON_AddStringToObject(o, "source", src->valuestring);
  cJSON_AddStringToObject(o, "subject", ev->subject);
  cJSON_AddStringToObject(o, "time", ts);
  cJSON_AddStringToObject(o, "tenantid", ev->tenant_id);
  for (size_t i = 0; i < SB_ARRAY_LEN(envelope); i++) {
    cJSON *x = cJSON_DetachItemFromObjectCaseSensitive(data, envelope[i].field);
    if (x && strcmp(envelope[i].attr, "tenantid") != 0 &&
        strcmp(envelope[i].attr, "id") != 0 && strcmp(envelope[i].attr, "time") != 0 &&
        strcmp(envelope[i].attr, "source") != 0)
      cJSON_AddItemToObject(o, envelope[i].attr, x);
    else
      cJSON_Delete(x);
  }
  cJSON *actor = cJSON_DetachItemFromObjectCaseSensitive(data, "actor");
  const cJSON *a;
  cJSON_ArrayForEach(a, actor) {
    char attr[64] = "actor";
    for (const char *p = a->string; *p; p++)
      if (*p != '_')
        push(attr, sizeof attr, "%c", *p);
    cJSON_AddItemToObject(o, attr, cJSON_Duplicate(a, 1));
  }
  cJSON_Delete(actor);
  cJSON_DeleteItemFromObjectCaseSensitive(data, sb_evtype_subject(t));
  cJSON_AddItemToObject(o, "data", data);
  *out = o;
  return 0;
}

const char *sb_event_str(const sb_event_t *ev, const char *path) {
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

/* JSON's white space (RFC 8259 section 2); cJSON skips every byte up to
 * 0x20, NUL and control characters included, so it is checked here. */
static int json_ws(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

int sb_json_parse(const char *text, size_t len, cJSON **out, sb_err_t *err) {
  *out = NULL;
  /* one pass in front of cJSON: control characters (raw inside strings, or
   * anywhere but as white space outside them) and the escape \u0000 */
  int in_str = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)text[i];
    if (ch < 0x20 && (in_str || !json_ws((char)ch)))
      return sb_err_set(err, SB_EVALIDATE,
                        "JSON: a raw control character (0x%02x) at byte %zu%s",
                        ch, i,
                        ch == 0 ? ": NUL is not allowed in JSON text"
                        : in_str ? " inside a string: escape it as \\u00XX"
                                 : ": not allowed outside strings");
    if (!in_str) {
      in_str = ch == '"';
      continue;
    }
    if (ch == '"') {
      in_str = 0;
    } else if (ch == '\\' && i + 1 < len) {
      if (text[i + 1] == 'u' && i + 5 < len &&
          strncmp(text + i + 2, "0000", 4) == 0)
        return sb_err_set(err, SB_EVALIDATE,
                          "JSON: \\u0000 (NUL) is not "
                          "allowed in strings (byte %zu)",
                          i);
      i++; /* skip the escaped character */
    }
  }
  const char *end = NULL;
  *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (*out == NULL)
    return sb_err_set(err, SB_EVALIDATE, "not JSON (error near byte %ld)",
                      end ? (long)(end - text) : 0L);
  /* one document, and nothing after it but white space */
  size_t at = end ? (size_t)(end - text) : len;
  while (at < len && json_ws(text[at]))
    at++;
  if (at < len) {
    cJSON_Delete(*out);
    *out = NULL;
    return sb_err_set(err, SB_EVALIDATE,
                      "JSON: more after the first JSON value (at byte %zu): "
                      "send one JSON document (a JSON array as "
                      "application/cloudevents-batch+json for several "
                      "events, or one event per line as "
                      "application/x-ndjson)",
                      at);
  }
  return 0;
}

int sb_event_time_check(int64_t at, int64_t now, int64_t max_past_s,
                        int64_t max_future_s, sb_err_t *err) {
  int past = max_past_s >= 0 && at < now - max_past_s * 1000000;
  int future = at > now + max_future_s * 1000000;
  if (!past && !future)
    return 0;
  char ts[40], nows[40];
  sb_time_format(at, ts, sizeof ts);
  sb_time_format(now, nows, sizeof nows);
  return sb_err_set(
      err, SB_EVALIDATE,
      "time: %s is more than %lld s (%s) %s the server's clock (%s)%s", ts,
      (long long)(past ? max_past_s : max_future_s),
      past ? "ingest.max_past_seconds" : "ingest.max_future_seconds",
      past ? "before" : "after", nows,
      past ? ": post history with 'switchboard import'" : "");
}
