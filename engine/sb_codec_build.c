/* Typed emit: a record built field by field from typed values (set by
 * handle) into the codec's encode value, then the envelope, the checks and
 * the encoding. The checks are sb_codec_from_ce's, with the same reasons,
 * so a record built here is byte for byte the one the converter makes of
 * the same event. */
#include "sb_codec_int.h"

#include "sb_ulid.h"
#include "sb_util.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_SAFE_INT 9007199254740991LL /* JSON numbers are doubles */
/* timestamps: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z, the
 * range RFC 3339 text (sb_time_parse) can carry */
#define MIN_MICROS (-62135596800LL * 1000000)
#define MAX_MICROS (253402300800LL * 1000000 - 1)

/* Where an error is: a field ("agent_id"), a field of a record
 * ("address", "city"), an item of an array (item >= 0). Formatted only
 * when an error is. */
typedef struct {
  const char *a, *b;
  long item;
} where_t;
#define AT(a) ((where_t){(a), NULL, -1})

static int bfail(sb_build_t *b, where_t w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bfail(sb_build_t *b, where_t w, const char *fmt, ...) {
  if (b->err.code != 0)
    return b->err.code; /* the first error wins */
  char why[512], item[24] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (w.item >= 0)
    snprintf(item, sizeof item, "[%ld]", w.item);
  return sb_err_set(&b->err, SB_EVALIDATE, "%s: %s%s%s%s: %s",
                    b->type ? sb_evtype_name(b->type) : "build", w.a,
                    w.b ? "." : "", w.b ? w.b : "", item, why);
}

sb_build_t *sb_codec_build_begin(sb_codec_t *c, sb_etype_ref_t t) {
  sb_build_t *b = &c->build;
  memset(b, 0, sizeof *b);
  b->codec = c;
  if (t.type == NULL) {
    sb_err_set(&b->err, SB_EINVAL, "build: no event type (sb_codec_type)");
    return b;
  }
  if (sb__codec_type(c, sb_evtype_name(t.type)) != t.type) {
    sb_err_set(&b->err, SB_EINVAL, "%s: the type was resolved against other "
               "schemas than the codec's", sb_evtype_name(t.type));
    return b;
  }
  sb__slot_t *sl = sb__slot_of(c, t.type, 0, &b->err);
  if (sl == NULL)
    return b;
  if (sl->nfi > 64) {
    sb_err_set(&b->err, SB_EINTERNAL, "%s: %zu fields: the builder holds 64",
               sb_evtype_name(t.type), sl->nfi);
    return b;
  }
  avro_value_reset(&sl->enc);
  b->type = t.type;
  b->slot = sl;
  return b;
}

static avro_schema_t no_link(avro_schema_t s) {
  return is_avro_link(s) ? avro_schema_link_target(s) : s;
}

/* Sets the union v (of schema u) to its non-null branch (keeping the value
 * when it is already there): the branch in *out, its schema returned. */
static avro_schema_t non_null(avro_value_t *v, avro_schema_t u,
                              avro_value_t *out) {
  int other = 1 - sb__null_branch(u), cur = -1;
  if (avro_value_get_discriminant(v, &cur) == 0 && cur == other)
    avro_value_get_current_branch(v, out);
  else
    avro_value_set_branch(v, other, out);
  return no_link(avro_schema_union_branch(u, other));
}

static void set_null(avro_value_t *v, avro_schema_t u) {
  avro_value_t branch;
  avro_value_set_branch(v, sb__null_branch(u), &branch);
  avro_value_set_null(&branch);
}

/* The value f names in the record being built, marked as given, with the
 * unions on its way set to their non-null branch (the last one too unless
 * keep_union): 0 and *v, its schema *vs, its attributes *fa and where it
 * is, or the first error. */
static int target(sb_build_t *b, sb_field_t f, int kind, int keep_union,
                  avro_value_t *v, avro_schema_t *vs,
                  const sb_fieldattr_t **fa, where_t *wh) {
  *wh = AT("?");
  if (b->err.code != 0)
    return b->err.code;
  if (b->type == NULL)
    return sb_err_set(&b->err, SB_ESTATE, "build: none under way "
                      "(sb_codec_build_begin)");
  if (f.type == NULL || f.depth == 0)
    return bfail(b, *wh, "a field handle never resolved (sb_codec_field)");
  if (f.type != b->type)
    return bfail(b, AT(avro_schema_record_field_name(sb_evtype_avro(f.type),
                                                     f.ix[0])),
                 "a handle of %s, not of this type", sb_evtype_name(f.type));
  const sb__finfo_t *fi = &b->slot->fi[f.ix[0]];
  if (fi->kind == SB__F_ENVELOPE || fi->kind == SB__F_ACTOR)
    return bfail(b, AT(fi->name), "set through the envelope (sb_envelope_t)");
  avro_schema_t rs = sb_evtype_avro(b->type);
  avro_value_t cur = b->slot->enc;
  for (unsigned i = 0; i < f.depth; i++) {
    const char *name = avro_schema_record_field_name(rs, f.ix[i]);
    if (i == 0)
      wh->a = name;
    else
      wh->b = name;
    avro_value_t child;
    avro_value_get_by_index(&cur, f.ix[i], &child, NULL);
    avro_schema_t fs = no_link(avro_schema_record_field_get_by_index(rs, f.ix[i]));
    if (i == 0)
      b->set |= 1ull << f.ix[0];
    else if (f.ix[i] < 64)
      b->sub[f.ix[0]] |= 1ull << f.ix[i];
    else
      return bfail(b, *wh, "a record of over 64 fields");
    if ((f.optional & (1u << i)) && !(keep_union && i + 1 == f.depth)) {
      avro_value_t branch;
      fs = non_null(&child, fs, &branch);
      child = branch;
    }
    cur = child;
    rs = fs;
  }
  if (kind != SB_FIELD_NONE && f.kind != kind &&
      !(kind == SB_FIELD_LONG && (f.kind == SB_FIELD_INT ||
                                  f.kind == SB_FIELD_TIMESTAMP)) &&
      !(kind == SB_FIELD_DOUBLE && f.kind == SB_FIELD_FLOAT))
    return bfail(b, *wh, "not a field of that kind (it is %s)",
                 avro_schema_type_name(rs));
  *v = cur;
  *vs = rs;
  if (f.depth == 1) {
    *fa = fi->fa;
  } else { /* a field of a nested record: rare, looked up by path */
    char path[260];
    snprintf(path, sizeof path, "%s.%s", wh->a, wh->b);
    *fa = sb_evtype_attr(b->type, path);
  }
  return 0;
}

/* The string checks of sb_codec_from_ce; v a string value. */
static int put_str(sb_build_t *b, avro_value_t *v, const sb_fieldattr_t *fa,
                   where_t wh, const char *s) {
  size_t n = strlen(s);
  long cps = sb__utf8_len((const unsigned char *)s, n);
  long max = SB__STR_MAX(fa, s);
  if (cps < 0)
    return bfail(b, wh, "not valid UTF-8");
  if (cps > max)
    return bfail(b, wh, "longer than %ld characters (%ld)", max, cps);
  char why[160];
  if (fa && fa->format && !sb_pii_is_sealed(s) && sb__format_check(fa, s, why, sizeof why) != 0)
    return bfail(b, wh, "%s", why);
  avro_value_set_string_len(v, s, n + 1);
  return 0;
}

int sb_build_str(sb_build_t *b, sb_field_t f, const char *s) {
  if (s == NULL)
    return sb_build_null(b, f);
  avro_value_t v;
  avro_schema_t vs;
  const sb_fieldattr_t *fa;
  where_t wh;
  int rc = target(b, f, SB_FIELD_STR, 0, &v, &vs, &fa, &wh);
  return rc != 0 ? rc : put_str(b, &v, fa, wh, s);
}

static int put_i64(sb_build_t *b, avro_value_t *v, int kind,
                   const sb_fieldattr_t *fa, where_t wh, int64_t x) {
  char why[128];
  if (kind != SB_FIELD_TIMESTAMP && sb__range_check(fa, x, why, sizeof why))
    return bfail(b, wh, "%s", why);
  if (kind == SB_FIELD_INT) {
    if (x < INT32_MIN || x > INT32_MAX)
      return bfail(b, wh, "%lld is out of range [-2147483648, 2147483647]",
                   (long long)x);
    avro_value_set_int(v, (int32_t)x);
    return 0;
  }
  if (kind == SB_FIELD_TIMESTAMP && (x < MIN_MICROS || x > MAX_MICROS))
    return bfail(b, wh, "%lld is not a time between years 1 and 9999 "
                 "(micros since 1970)", (long long)x);
  if (kind == SB_FIELD_LONG && (x < -MAX_SAFE_INT || x > MAX_SAFE_INT))
    return bfail(b, wh, "%lld is out of range [%lld, %lld]", (long long)x,
                 -MAX_SAFE_INT, MAX_SAFE_INT);
  avro_value_set_long(v, x);
  return 0;
}

int sb_build_i64(sb_build_t *b, sb_field_t f, int64_t x) {
  avro_value_t v;
  avro_schema_t vs;
  const sb_fieldattr_t *fa;
  where_t wh;
  int rc = target(b, f, SB_FIELD_LONG, 0, &v, &vs, &fa, &wh);
  return rc != 0 ? rc : put_i64(b, &v, f.kind, fa, wh, x);
}

int sb_build_double(sb_build_t *b, sb_field_t f, double x) {
  avro_value_t v;
  avro_schema_t vs;
  const sb_fieldattr_t *fa;
  where_t wh;
  int rc = target(b, f, SB_FIELD_DOUBLE, 0, &v, &vs, &fa, &wh);
  if (rc != 0)
    return rc;
  if (!isfinite(x) || (f.kind == SB_FIELD_FLOAT && fabs(x) > FLT_MAX))
    return bfail(b, wh, "%g is not a finite number", x);
  if (f.kind == SB_FIELD_FLOAT)
    avro_value_set_float(&v, (float)x);
  else
    avro_value_set_double(&v, x);
  return 0;
}

int sb_build_bool(sb_build_t *b, sb_field_t f, bool x) {
  avro_value_t v;
  avro_schema_t vs;
  const sb_fieldattr_t *fa;
  where_t wh;
  int rc = target(b, f, SB_FIELD_BOOL, 0, &v, &vs, &fa, &wh);
  if (rc == 0)
    avro_value_set_boolean(&v, x);
  return rc;
}

int sb_build_enum(sb_build_t *b, sb_field_t f, const char *symbol) {
  if (symbol == NULL)
    return sb_build_null(b, f);
  avro_value_t v;
  avro_schema_t vs;
  const sb_fieldattr_t *fa;
  where_t wh;
  int rc = target(b, f, SB_FIELD_ENUM, 0, &v, &vs, &fa, &wh);
  if (rc != 0)
    return rc;
  int ix = avro_schema_enum_get_by_name(vs, symbol);
  if (ix < 0) {
    char list[512] = "";
    size_t n = 0;
    for (int i = 0; i < avro_schema_enum_number_of_symbols(vs); i++)
      n += (size_t)snprintf(list + n, n < sizeof list ? sizeof list - n : 0,
                            "%s%s", i ? ", " : "", avro_schema_enum_get(vs, i));
    return bfail(b, wh, "'%.64s' is not one of %s", symbol, list);
  }
  avro_value_set_enum(&v, ix);
  return 0;
}

int sb_build_null(sb_build_t *b, sb_field_t f) {
  avro_value_t v;
  avro_schema_t vs;
  const sb_fieldattr_t *fa;
  where_t wh;
  int rc = target(b, f, SB_FIELD_NONE, 1, &v, &vs, &fa, &wh);
  if (rc != 0)
    return rc;
  if (!(f.optional & (1u << (f.depth - 1))))
    return bfail(b, wh, "must not be null");
  set_null(&v, vs);
  return 0;
}

int sb_build_strs(sb_build_t *b, sb_field_t f, const char *const *s,
                  size_t n) {
  avro_value_t v;
  avro_schema_t vs;
  const sb_fieldattr_t *fa;
  where_t wh;
  int rc = target(b, f, SB_FIELD_STR_ARRAY, 0, &v, &vs, &fa, &wh);
  if (rc != 0)
    return rc;
  size_t max = fa && fa->max_items ? (size_t)fa->max_items : SB__MAX_ITEMS;
  if (n > max)
    return bfail(b, wh, "more than %zu items (%zu)", max, n);
  avro_value_reset(&v);
  for (size_t i = 0; i < n; i++) {
    where_t iw = {wh.a, wh.b, (long)i};
    if (s[i] == NULL)
      return bfail(b, iw, "expected a string, got null");
    avro_value_t item;
    avro_value_append(&v, &item, NULL);
    if ((rc = put_str(b, &item, fa, iw, s[i])) != 0)
      return rc;
  }
  return 0;
}

/* An envelope string (or the actor's) into field value fv of schema fs. */
static int put_env_str(sb_build_t *b, avro_value_t *fv, avro_schema_t fs,
                       const sb_fieldattr_t *fa, where_t wh, const char *s) {
  fs = no_link(fs);
  if (s == NULL) {
    if (!is_avro_union(fs))
      return bfail(b, wh, "missing required field");
    set_null(fv, fs);
    return 0;
  }
  avro_value_t branch;
  if (is_avro_union(fs)) {
    non_null(fv, fs, &branch);
    fv = &branch;
  }
  return put_str(b, fv, fa, wh, s);
}

static const char *actor_part(const sb_actor_t *a, const char *name) {
  return strcmp(name, "user_id") == 0      ? a->user_id
         : strcmp(name, "role") == 0       ? a->role
         : strcmp(name, "ip") == 0         ? a->ip
         : strcmp(name, "user_agent") == 0 ? a->user_agent
                                           : NULL;
}

static int put_actor(sb_build_t *b, avro_value_t *fv, avro_schema_t fs,
                     const sb_actor_t *a) {
  fs = no_link(fs);
  if (a == NULL) {
    if (!is_avro_union(fs))
      return bfail(b, AT("actor"), "missing required field");
    set_null(fv, fs);
    return 0;
  }
  avro_value_t rec = *fv;
  avro_schema_t rs = fs;
  if (is_avro_union(fs))
    rs = non_null(fv, fs, &rec);
  for (size_t i = 0; i < avro_schema_record_size(rs); i++) {
    const char *name = avro_schema_record_field_name(rs, (int)i);
    avro_value_t sv;
    avro_value_get_by_index(&rec, i, &sv, NULL);
    const sb_fieldattr_t *fa = NULL;
    if (i < SB_ARRAY_LEN(b->slot->actor_fa)) {
      fa = b->slot->actor_fa[i];
    } else {
      char path[96];
      snprintf(path, sizeof path, "actor.%.80s", name);
      fa = sb_evtype_attr(b->type, path);
    }
    int rc = put_env_str(b, &sv,
                         avro_schema_record_field_get_by_index(rs, (int)i), fa,
                         (where_t){"actor", name, -1}, actor_part(a, name));
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* A field given by handle, or not: a record given must have its required
 * fields; a field not given must be optional (null). */
static int finish_field(sb_build_t *b, size_t i, avro_value_t *fv,
                        avro_schema_t fs) {
  const char *name = b->slot->fi[i].name;
  fs = no_link(fs);
  if (!(b->set & (1ull << i))) {
    if (!is_avro_union(fs))
      return bfail(b, AT(name), "missing required field");
    set_null(fv, fs);
    return 0;
  }
  avro_value_t rec = *fv;
  avro_schema_t rs = fs;
  if (is_avro_union(fs)) {
    int cur = -1;
    if (avro_value_get_discriminant(fv, &cur) != 0 ||
        cur == sb__null_branch(fs))
      return 0;
    avro_value_get_current_branch(fv, &rec);
    rs = no_link(avro_schema_union_branch(fs, cur));
  }
  if (!is_avro_record(rs))
    return 0;
  for (size_t k = 0; k < avro_schema_record_size(rs); k++) {
    if (b->sub[i] & (1ull << k))
      continue;
    avro_schema_t ss = no_link(avro_schema_record_field_get_by_index(rs, (int)k));
    if (!is_avro_union(ss))
      return bfail(b,
                   (where_t){name, avro_schema_record_field_name(rs, (int)k), -1},
                   "missing required field");
    avro_value_t sv;
    avro_value_get_by_index(&rec, k, &sv, NULL);
    set_null(&sv, ss);
  }
  return 0;
}

int sb_codec_build_end(sb_build_t *b, const sb_envelope_t *env,
                       sb_record_t *out, sb_err_t *err) {
  memset(out, 0, sizeof *out);
  char ulid[SB_ULID_LEN + 1];
  int rc = 0;
  if (b->err.code == 0 && b->type == NULL)
    sb_err_set(&b->err, SB_ESTATE, "build: none under way "
               "(sb_codec_build_begin)");
  if (env == NULL)
    sb_err_set(&b->err, SB_EINVAL, "%s: no envelope",
               b->type ? sb_evtype_name(b->type) : "build");
  if (b->err.code != 0)
    goto out;
  const char *eid = env->event_id;
  if (eid == NULL) {
    if (sb_ulid_new(ulid, &b->err) != 0)
      goto out;
    eid = ulid;
  }
  if (!sb_ulid_valid(eid, strlen(eid))) {
    bfail(b, AT("event_id"), "'%.40s' is not a ULID (26 Crockford base32 "
          "characters)", eid);
    goto out;
  }
  if (env->tenant_id != NULL && !sb__tenant_ok(env->tenant_id)) {
    bfail(b, AT("tenant_id"), "must be 1 to 64 of A-Z a-z 0-9 . _ -");
    goto out;
  }
  sb__slot_t *sl = b->slot;
  avro_schema_t s = sb_evtype_avro(b->type);
  for (size_t i = 0; i < sl->nfi && b->err.code == 0; i++) {
    const sb__finfo_t *fi = &sl->fi[i];
    avro_schema_t fs = avro_schema_record_field_get_by_index(s, (int)i);
    avro_value_t fv;
    avro_value_get_by_index(&sl->enc, i, &fv, NULL);
    if (fi->kind == SB__F_ACTOR) {
      put_actor(b, &fv, fs, env->actor);
    } else if (fi->kind != SB__F_ENVELOPE) {
      finish_field(b, i, &fv, fs);
    } else if (fi->attr_ix == SB__A_TIME) {
      put_i64(b, &fv, SB_FIELD_TIMESTAMP, NULL, AT(fi->name), env->occurred_at);
    } else {
      const char *v = fi->attr_ix == SB__A_ID         ? eid
                      : fi->attr_ix == SB__A_TENANTID ? env->tenant_id
                      : fi->attr_ix == SB__A_SOURCE   ? env->source
                      : fi->attr_ix == SB__A_CORRELATIONID
                          ? env->correlation_id
                      : fi->attr_ix == SB__A_CAUSATIONID ? env->causation_id
                                                         : NULL;
      put_env_str(b, &fv, fs, fi->fa, AT(fi->name), v);
    }
  }
  if (b->err.code != 0)
    goto out;
  avro_value_t sv;
  const char *subject = NULL;
  size_t n = 0;
  if (avro_value_get_by_index(&sl->enc, (size_t)sl->subject_ix, &sv, NULL) != 0 ||
      avro_value_get_string(&sv, &subject, &n) != 0 || subject == NULL ||
      subject[0] == '\0') {
    bfail(b, AT(sb_evtype_subject(b->type)), "must not be empty (the subject)");
    goto out;
  }
  if (sb__encode(b->type, &sl->enc, out, &b->err) != 0 ||
      sb__record_key(out, env->tenant_id, subject,
                     env->source ? env->source : "", NULL, &b->err) != 0)
    goto out;
  out->type = b->type;
  snprintf(out->event_id, sizeof out->event_id, "%s", eid);
  out->occurred_at = env->occurred_at;
  b->codec->stats.encoded++;
out:
  if (b->err.code != 0) {
    rc = sb_err_set(err, b->err.code, "%s", b->err.msg);
    sb_record_clear(out);
  }
  b->type = NULL; /* the build is over */
  b->slot = NULL;
  sb_err_clear(&b->err);
  return rc;
}
