/* Kafka value bytes -> event: the Confluent framing, a check of the raw Avro
 * against its schema before avro-c reads it, the decode itself, and the
 * resolution of a record written with an older schema of its type. */
#include "sb_codec_int.h"

#include "sb_time.h"
#include "sb_ulid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Reads a record written with an older schema of a type as the newest one,
 * by Avro's resolution rules: fields the reader lacks are dropped, fields
 * the writer lacks take the reader's default (or null when optional).
 * avro-c's own resolver cannot fill defaults, so this goes through the same
 * schema-driven conversion as CloudEvents. Only older records pay for it. */
static int resolve(sb_codec_t *c, const sb_evtype_t *wt, avro_value_t *wv,
                   const sb_evtype_t *rt, avro_value_t *rv, sb_err_t *err) {
  (void)c;
  avro_schema_t rs = sb_evtype_avro(rt);
  cJSON *j = sb__record_to_json(wt, wv, "");
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
  sb__walk_t w = {.type = rt, .err = err};
  snprintf(w.epath, sizeof w.epath, "schema %d as %d", sb_evtype_id(wt),
           sb_evtype_id(rt));
  avro_value_reset(rv);
  rc = sb__record_from_json(&w, rv, rs, j);
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
  sb__slot_t *sl = sb__slot_of(c, t, 1, err);
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
  int resolved = 0;
  const sb_evtype_t *rt = sb_schemas_by_type(c->schemas, sb_evtype_name(t));
  if (rt != t) {
    sb__slot_t *rs = sb__slot_of(c, rt, 1, err);
    if (rs == NULL || resolve(c, t, &sl->dec, rt, &rs->dec, err) != 0)
      return err->code;
    t = rt;
    sl = rs;
    resolved = 1;
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
  const sb_fieldattr_t *sa = sl->subject_fa;
  size_t subj_len = strlen(ev->subject);
  long subj_cps = sb__utf8_len((const unsigned char *)ev->subject, subj_len);
  const char *bad = !sb__tenant_ok(ev->tenant_id)
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
  c->stats.decoded++;
  c->stats.resolved += (uint64_t)resolved;
  return 0;
}

