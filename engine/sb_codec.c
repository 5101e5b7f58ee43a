/* The codec's set-up: one slot per schema, holding the generic Avro class
 * and the values records are encoded from and decoded into; the type table;
 * the checks the converter and the builder share; encoding; the counters.
 * The conversions themselves are in the files sb_codec_int.h lists. */
#include "sb_codec_int.h"

#include "sb_util.h"

#include <stdlib.h>
#include <string.h>

static size_t type_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h & (SB__TYPE_SLOTS - 1);
}

/* The newest schema of the event type named type, as sb_schemas_by_type. */
const sb_evtype_t *sb__codec_type(const sb_codec_t *c, const char *type) {
  for (size_t k = type_hash(type), probes = 0; probes < SB__TYPE_SLOTS;
       k = (k + 1) & (SB__TYPE_SLOTS - 1), probes++) {
    const sb_evtype_t *t = c->by_type[k];
    if (t == NULL)
      return NULL;
    if (strcmp(sb_evtype_name(t), type) == 0)
      return t;
  }
  return NULL;
}

/* The envelope: record fields filled from CloudEvents attributes. */
const sb__envelope_t sb__envelope[SB__N_ENVELOPE] = {
    {"tenant_id", "tenantid"},         {"event_id", "id"},
    {"occurred_at", "time"},           {"source", "source"},
    {"correlation_id", "correlationid"}, {"causation_id", "causationid"},
};

static const char *const known_attrs[] = {
    "specversion", "id",          "type",        "source",
    "subject",     "time",        "tenantid",    "datacontenttype",
    "data",        "correlationid", "causationid", "actoruserid",
    "actorrole",   "actorip",     "actoruseragent", "sbeventid",
};
_Static_assert(SB_ARRAY_LEN(known_attrs) == SB__N_ATTRS,
               "SB__N_ATTRS counts known_attrs");
_Static_assert(SB__A_CAUSATIONID == 10 && SB__A_SBEVENTID == 15,
               "the enum follows known_attrs");

/* The index of a CloudEvents attribute in known_attrs, or -1. */
int sb__attr_index(const char *a) {
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
  if (c->n > SB__TYPE_SLOTS / 2) {
    free(c);
    return sb_err_set(err, SB_EINTERNAL, "%zu schemas: the codec's type table "
                                         "holds %d (raise SB__TYPE_SLOTS)",
                      sb_schemas_count(schemas), SB__TYPE_SLOTS / 2);
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
      k = (k + 1) & (SB__TYPE_SLOTS - 1);
    c->by_type[k] = t; /* every version of a type lands on its newest */
  }
  *out = c;
  return 0;
}

void sb_codec_free(sb_codec_t *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n; i++) {
    sb__slot_t *s = &c->slots[i];
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
  size_t i = sb_evtype_index(t);
  if (i < c->n && sb_schemas_at(c->schemas, i) == t)
    return i;
  return 0; /* not reached: types come from the same registry */
}

static int field_ix(avro_schema_t s, const char *name) {
  return avro_schema_record_field_get_index(s, name);
}

/* The fields of t, classified once (sb_codec_from_ce's hot path). */
static int slot_fields(sb__slot_t *sl, const sb_evtype_t *t) {
  avro_schema_t s = sb_evtype_avro(t);
  size_t n = avro_schema_record_size(s);
  sl->fi = calloc(n ? n : 1, sizeof *sl->fi);
  if (sl->fi == NULL)
    return -1;
  sl->nfi = n;
  for (size_t i = 0; i < n; i++) {
    sb__finfo_t *f = &sl->fi[i];
    f->name = avro_schema_record_field_name(s, (int)i);
    f->attr = sb__envelope_attr(f->name);
    f->attr_ix = f->attr ? sb__attr_index(f->attr) : -1;
    f->fa = sb_evtype_attr(t, f->name);
    if (f->attr != NULL) {
      f->kind = SB__F_ENVELOPE;
      snprintf(f->epath, sizeof f->epath, "%s", f->attr);
    } else if (strcmp(f->name, "actor") == 0) {
      f->kind = SB__F_ACTOR;
      snprintf(f->epath, sizeof f->epath, "actor");
      /* the attributes of the actor's fields, for the builder */
      avro_schema_t a = avro_schema_record_field_get_by_index(s, (int)i);
      if (is_avro_union(a))
        a = avro_schema_union_branch(a, 1 - sb__null_branch(a));
      for (size_t k = 0; is_avro_record(a) && k < avro_schema_record_size(a) &&
                         k < SB_ARRAY_LEN(sl->actor_fa); k++) {
        char path[96];
        snprintf(path, sizeof path, "actor.%.80s",
                 avro_schema_record_field_name(a, (int)k));
        sl->actor_fa[k] = sb_evtype_attr(t, path);
      }
    } else if (strcmp(f->name, sb_evtype_subject(t)) == 0) {
      f->kind = SB__F_SUBJECT;
      snprintf(f->epath, sizeof f->epath, "subject");
    } else {
      f->kind = SB__F_DATA;
      snprintf(f->epath, sizeof f->epath, "data.%.70s", f->name);
    }
  }
  return 0;
}

sb__slot_t *sb__slot_of(sb_codec_t *c, const sb_evtype_t *t, int dec,
                       sb_err_t *err) {
  sb__slot_t *s = &c->slots[type_index(c, t)];
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
    s->subject_fa = sb_evtype_attr(t, sb_evtype_subject(t));
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


const char *sb__envelope_attr(const char *field) {
  for (size_t i = 0; i < SB__N_ENVELOPE; i++)
    if (strcmp(sb__envelope[i].field, field) == 0)
      return sb__envelope[i].attr;
  return NULL;
}

/* Counts the code points of valid UTF-8 (RFC 3629: shortest forms only, no
 * surrogates, nothing above U+10FFFF, no NUL); -1 when invalid. */
long sb__utf8_len(const unsigned char *s, size_t n) {
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

int sb__null_branch(avro_schema_t u) {
  for (size_t i = 0; i < avro_schema_union_size(u); i++)
    if (is_avro_null(avro_schema_union_branch(u, (int)i)))
      return (int)i;
  return -1;
}

int sb__tenant_ok(const char *t) {
  size_t n = strlen(t);
  if (n == 0 || n > 64)
    return 0;
  for (const char *p = t; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
      return 0;
  return 1;
}

int sb__encode(const sb_evtype_t *t, avro_value_t *v, sb_record_t *out,
               sb_err_t *err) {
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
  return 0;
}

int sb__record_key(sb_record_t *out, const char *tenant, const char *subject,
                   const char *source, const char *ce_id, sb_err_t *err) {
  size_t tl = strlen(tenant), sl = strlen(subject), ol = strlen(source);
  size_t cl = ce_id ? strlen(ce_id) + 1 : 0;
  /* "tenant:subject" NUL source NUL [ce_id NUL]: one allocation */
  out->key = malloc(tl + 1 + sl + 1 + ol + 1 + cl);
  if (out->key == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  memcpy(out->key, tenant, tl);
  out->key[tl] = ':';
  memcpy(out->key + tl + 1, subject, sl + 1);
  out->key_len = tl + 1 + sl;
  char *p = out->key + out->key_len + 1;
  memcpy(p, source, ol + 1);
  out->source = p;
  out->ce_id = NULL;
  if (ce_id != NULL) {
    memcpy(p + ol + 1, ce_id, cl);
    out->ce_id = p + ol + 1;
  }
  return 0;
}

void sb_codec_stats(const sb_codec_t *c, sb_codec_stats_t *out) {
  *out = c->stats;
}

void sb_record_clear(sb_record_t *r) {
  if (r == NULL)
    return;
  free(r->key);
  free(r->value);
  memset(r, 0, sizeof *r);
}

int sb_wire_schema_id(const void *value, size_t len) {
  const unsigned char *b = value;
  if (len < SB_WIRE_HEADER || b[0] != 0)
    return -1;
  uint32_t id = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                (uint32_t)b[3] << 8 | b[4];
  return id > 0x7fffffff ? -1 : (int)id;
}
