/* CloudEvent JSON -> Avro: sb_codec_from_ce, driven by the schemas, with
 * errors naming the attribute or field as the producer wrote it; and the
 * checks on JSON text and event times in front of it. */
#include "sb_codec_int.h"

#include "sb_ce.h"
#include "sb_time.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAFE_INT 9007199254740991.0 /* 2^53 - 1: JSON numbers are doubles */

static int fail(sb__walk_t *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(sb__walk_t *w, const char *fmt, ...) {
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

static int want_int(sb__walk_t *w, const cJSON *j, double lo, double hi,
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

static int from_json(sb__walk_t *w, avro_value_t *v, avro_schema_t s,
                     const cJSON *j, const sb_fieldattr_t *attr);

int sb__record_from_json(sb__walk_t *w, avro_value_t *v, avro_schema_t s,
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

static int from_json(sb__walk_t *w, avro_value_t *v, avro_schema_t s,
                     const cJSON *j, const sb_fieldattr_t *attr) {
  char why_range[128];
  if (j == NULL && !is_avro_union(s))
    return fail(w, "missing required field");
  switch (avro_typeof(s)) {
  case AVRO_STRING: {
    if (!cJSON_IsString(j))
      return fail(w, "expected a string, got %s", json_kind(j));
    size_t n = strlen(j->valuestring);
    long cps = sb__utf8_len((const unsigned char *)j->valuestring, n);
    long max = SB__STR_MAX(attr, j->valuestring);
    if (cps < 0)
      return fail(w, "not valid UTF-8");
    if (cps > max)
      return fail(w, "longer than %ld characters (%ld)", max, cps);
    char why[160];
    if (attr && attr->format && !sb_pii_is_sealed(j->valuestring) &&
        sb__format_check(attr, j->valuestring, why,
                                                 sizeof why) != 0)
      return fail(w, "%s", why);
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
    } else if (sb__range_check(attr, x, why_range, sizeof why_range) != 0) {
      return fail(w, "%s", why_range);
    }
    avro_value_set_long(v, x);
    return 0;
  }
  case AVRO_INT32: {
    int64_t x;
    if (want_int(w, j, -2147483648.0, 2147483647.0, &x) != 0)
      return SB_EVALIDATE;
    if (sb__range_check(attr, x, why_range, sizeof why_range) != 0)
      return fail(w, "%s", why_range);
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
    return sb__record_from_json(w, v, s, j);
  case AVRO_LINK: /* a later use of a named type within the schema */
    return from_json(w, v, avro_schema_link_target(s), j, attr);
  case AVRO_UNION: {
    int nb = sb__null_branch(s);
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
    int max = attr && attr->max_items ? attr->max_items : SB__MAX_ITEMS;
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
    int nb = sb__null_branch(actor);
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
    int ix = sb__attr_index(attr);
    const cJSON *v = ix >= 0 ? at[ix] : NULL;
    if (v == NULL)
      continue;
    if (o == NULL)
      o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, name, cJSON_Duplicate(v, 1));
  }
  return o;
}



int sb_codec_from_ce(sb_codec_t *c, const cJSON *ce, unsigned flags,
                     sb_record_t *out, sb_err_t *err) {
  memset(out, 0, sizeof *out);
  sb__walk_t w = {.err = err};
  cJSON *actor = NULL, *gen_id = NULL;
  int rc = 0;
  if (!cJSON_IsObject(ce))
    return sb_err_set(err, SB_EVALIDATE, "event: expected a JSON object");
  /* the attributes in one pass (the first of duplicates, as cJSON finds) */
  const cJSON *k, *at[SB__N_ATTRS] = {0};
  cJSON_ArrayForEach(k, ce) {
    int ix = k->string ? sb__attr_index(k->string) : -1;
    if (ix < 0)
      return sb_err_set(err, SB_EVALIDATE,
                        "%.64s: unknown attribute (the extensions kept are "
                        "tenantid, correlationid, causationid, actor* and "
                        "sbeventid; "
                        "the event's fields go in data)",
                        k->string ? k->string : "?");
    if (at[ix] == NULL)
      at[ix] = k;
  }
  const cJSON *spec = at[SB__A_SPECVERSION];
  if (!cJSON_IsString(spec) || strcmp(spec->valuestring, "1.0") != 0)
    return sb_err_set(err, SB_EVALIDATE,
                      "specversion: must be \"1.0\" (CloudEvents 1.0)");
  const cJSON *type = at[SB__A_TYPE];
  if (!cJSON_IsString(type))
    return sb_err_set(err, SB_EVALIDATE, "type: missing required attribute");
  const sb_evtype_t *t = sb__codec_type(c, type->valuestring);
  if (t == NULL)
    return sb_err_set(err, SB_EVALIDATE, "type: unknown event type '%.64s'",
                      type->valuestring);
  const cJSON *dct = at[SB__A_DATACONTENTTYPE];
  if (dct && !(cJSON_IsString(dct) &&
               strcmp(dct->valuestring, "application/json") == 0))
    return sb_err_set(err, SB_EVALIDATE,
                      "datacontenttype: only application/json is accepted");
  const cJSON *data = at[SB__A_DATA];
  if (data != NULL && !cJSON_IsObject(data))
    return sb_err_set(err, SB_EVALIDATE, "data: expected an object, got %s",
                      json_kind(data));
  const cJSON *subject = at[SB__A_SUBJECT];
  const cJSON *id = at[SB__A_ID];
  if (id == NULL && (flags & SB_CE_GENERATE_ID)) {
    char ulid[SB_ULID_LEN + 1];
    if (sb_ulid_new(ulid, err) != 0)
      return err->code;
    id = gen_id = cJSON_CreateString(ulid);
  }
  const cJSON *tenant = at[SB__A_TENANTID];
  /* any id (CloudEvents 1.0): a ULID is the event id itself, another id
   * stands for the ULID derived from it with the tenant and source */
  const char *ce_id = NULL;
  if (cJSON_IsString(id)) {
    size_t il = strlen(id->valuestring);
    if ((rc = sb_ce_id_check(id->valuestring, il, err)) != 0)
      goto out;
    if (!sb_ulid_valid(id->valuestring, il)) {
      const cJSON *src = at[SB__A_SOURCE];
      char ulid[SB_ULID_LEN + 1];
      if (!cJSON_IsString(tenant)) {
        rc = sb_err_set(err, SB_EVALIDATE,
                        "tenantid: missing required attribute");
        goto out;
      }
      if (!cJSON_IsString(src)) {
        rc = sb_err_set(err, SB_EVALIDATE,
                        "source: missing required attribute");
        goto out;
      }
      if ((rc = sb_ce_event_id(tenant->valuestring, src->valuestring,
                               id->valuestring, ulid, err)) != 0)
        goto out;
      ce_id = id->valuestring;
      id = gen_id = cJSON_CreateString(ulid);
      if (gen_id == NULL) {
        rc = sb_err_set(err, SB_ENOMEM, "out of memory");
        goto out;
      }
    }
  }
  /* the event id beside a producer's id (as exports and the feed give
   * it): only that event's own id is accepted */
  const cJSON *sbe = at[SB__A_SBEVENTID];
  if (sbe != NULL && !(cJSON_IsString(sbe) && cJSON_IsString(id) &&
                       strcmp(sbe->valuestring, id->valuestring) == 0)) {
    rc = sb_err_set(err, SB_EVALIDATE,
                    "sbeventid: not the event id of this id, source and "
                    "tenantid (%.32s)",
                    cJSON_IsString(id) ? id->valuestring : "none");
    goto out;
  }
  if (cJSON_IsString(tenant) && !sb__tenant_ok(tenant->valuestring)) {
    rc = sb_err_set(err, SB_EVALIDATE,
                    "tenantid: must be 1 to 64 of A-Z a-z 0-9 . _ -");
    goto out;
  }

  sb__slot_t *sl = sb__slot_of(c, t, 0, err);
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
    const sb__finfo_t *f = &sl->fi[i];
    const char *name = f->name;
    avro_schema_t fs = avro_schema_record_field_get_by_index(s, (int)i);
    avro_value_t fv;
    avro_value_get_by_index(rec, i, &fv, NULL);
    const cJSON *j;
    const char *attr = f->attr;
    if (f->kind == SB__F_ENVELOPE) {
      j = f->attr_ix == SB__A_ID ? id : at[f->attr_ix];
    } else if (f->kind == SB__F_ACTOR) {
      actor = actor_object(at, fs);
      j = actor;
    } else if (f->kind == SB__F_SUBJECT) {
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
    if (ix < 0 || sb__envelope_attr(dk->string) || strcmp(dk->string, "actor") == 0) {
      rc = sb_err_set(err, SB_EVALIDATE, "data.%s: unknown field", dk->string);
      goto out;
    }
  }
  if ((rc = sb__changes_check(t, data, err)) != 0)
    goto out;
  /* an event about the tenant itself (sb.subject "tenant_id"): the
   * subject attribute is its tenant id, not something else */
  if (sl->subject_ix == sl->tenant_ix &&
      !(cJSON_IsString(subject) && cJSON_IsString(tenant) &&
        strcmp(subject->valuestring, tenant->valuestring) == 0)) {
    rc = sb_err_set(err, SB_EVALIDATE, "subject: must be the tenantid "
                    "(%s events are about the tenant itself)",
                    sb_evtype_name(t));
    goto out;
  }
  if (strlen(subject->valuestring) == 0) {
    rc = sb_err_set(err, SB_EVALIDATE, "subject: must not be empty");
    goto out;
  }
  if ((rc = sb__encode(t, rec, out, err)) != 0)
    goto out;
  const cJSON *src = at[SB__A_SOURCE];
  if ((rc = sb__record_key(out, tenant->valuestring, subject->valuestring,
                           cJSON_IsString(src) ? src->valuestring : "", ce_id,
                           err)) != 0)
    goto out;
  out->type = t;
  c->stats.encoded++;
  snprintf(out->event_id, sizeof out->event_id, "%s", id->valuestring);
  sb_time_parse(at[SB__A_TIME]->valuestring, &out->occurred_at, w.epath,
                sizeof w.epath);
out:
  if (rc != 0)
    sb_record_clear(out);
  cJSON_Delete(actor);
  cJSON_Delete(gen_id);
  return rc;
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
