/* Table writers: the definitions, the values, and the appends (binary
 * COPY). Upserts and deletes are in sb_rows_keyed.c. */
#include "sb_rows_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* COPY's binary format: a signature, a flags word and a header-extension
 * length open the data; a field count of -1 ends it. A row is its field
 * count (int16) and, per field, an int32 length (-1 for NULL) and the value
 * in the type's binary form, big-endian. */
static const unsigned char copy_signature[19] =
    "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
static const unsigned char copy_trailer[2] = {0xff, 0xff};
#define STREAM_BYTES (64 * 1024)
#define PG_EPOCH_MICROS 946684800000000LL /* 2000-01-01 in Unix micros */
#define PG_EPOCH_DAYS 10957               /* 2000-01-01 in Unix days */

int sb_rows_name_ok(const char *name) {
  if (name == NULL || !((*name >= 'a' && *name <= 'z') || *name == '_'))
    return 0;
  size_t n = 0;
  for (const char *p = name; *p; p++, n++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
      return 0;
  return n <= 62;
}

const char *sb__rows_pgtype(sb_coltype_t t) {
  switch (t) {
  case SB_COL_TEXT:
    return "text";
  case SB_COL_INT8:
    return "bigint";
  case SB_COL_INT4:
    return "integer";
  case SB_COL_BOOL:
    return "boolean";
  case SB_COL_FLOAT8:
    return "double precision";
  case SB_COL_TIMESTAMPTZ:
    return "timestamptz";
  case SB_COL_DATE:
    return "date";
  case SB_COL_BYTEA:
    return "bytea";
  case SB_COL_JSONB:
    return "jsonb";
  }
  return "?";
}

static int type_ok(sb_coltype_t t) {
  return t >= SB_COL_TEXT && t <= SB_COL_JSONB;
}

/* The merges a type allows. */
static int merge_fits(sb_coltype_t t, unsigned m) {
  switch (m) {
  case SB_MERGE_REPLACE:
  case SB_MERGE_KEEP:
    return 1;
  case SB_MERGE_SUM:
    return t == SB_COL_INT8 || t == SB_COL_INT4 || t == SB_COL_FLOAT8;
  case SB_MERGE_MAX:
  case SB_MERGE_MIN:
    return t == SB_COL_INT8 || t == SB_COL_INT4 || t == SB_COL_FLOAT8 ||
           t == SB_COL_BOOL || t == SB_COL_TIMESTAMPTZ || t == SB_COL_DATE;
  }
  return 0;
}

static int col_index(const sb_table_def_t *def, const char *name) {
  for (int i = 0; def->cols[i].name; i++)
    if (strcmp(def->cols[i].name, name) == 0)
      return i;
  return -1;
}

static int check_def(const sb_table_def_t *def, const char *schema,
                     sb_err_t *err) {
  if (def == NULL || def->cols == NULL)
    return sb_err_set(err, SB_EINVAL,
                      "rows: a table definition needs a name "
                      "and columns");
  const char *t = def->name ? def->name : "(null)";
  if (!sb_rows_name_ok(def->name))
    return sb_err_set(err, SB_EINVAL,
                      "rows: table name '%s' must match "
                      "[a-z_][a-z0-9_]{0,62}",
                      t);
  if (!sb_rows_name_ok(schema))
    return sb_err_set(err, SB_EINVAL,
                      "rows: table %s: schema name '%s' must "
                      "match [a-z_][a-z0-9_]{0,62}",
                      t, schema ? schema : "(null)");
  int n = 0, tenant = -1;
  for (; def->cols[n].name; n++) {
    const sb_col_t *c = &def->cols[n];
    if (!sb_rows_name_ok(c->name))
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: column name '%s' "
                        "must match [a-z_][a-z0-9_]{0,62}",
                        t, c->name);
    if (col_index(def, c->name) != n)
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: column %s is "
                        "declared twice",
                        t, c->name);
    if (!type_ok(c->type))
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: column %s has an "
                        "unknown type (%d)",
                        t, c->name, (int)c->type);
    unsigned m = c->flags & SB_MERGE_MASK;
    if ((c->flags & ~(SB_MERGE_MASK | SB_COL_OWNER)) != 0 ||
        !merge_fits(c->type, m))
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: column %s (%s) "
                        "cannot take merge %u",
                        t, c->name, sb__rows_pgtype(c->type), m);
    if ((c->flags & SB_COL_OWNER) && c->type != SB_COL_TEXT)
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: owner column %s must be text", t,
                        c->name);
    if (strcmp(c->name, "tenant_id") == 0)
      tenant = n;
  }
  if (tenant < 0 || def->cols[tenant].type != SB_COL_TEXT)
    return sb_err_set(err, SB_EINVAL,
                      "rows: table %s has no tenant_id text "
                      "column: every projection table needs "
                      "one (row-level security binds readers "
                      "by it)",
                      t);
  if (n > 1000)
    return sb_err_set(err, SB_EINVAL,
                      "rows: table %s has %d columns (at most "
                      "1000)",
                      t, n);
  if (def->key == NULL)
    return 0;
  int nkey = 0, has_tenant = 0;
  for (; def->key[nkey]; nkey++) {
    int i = col_index(def, def->key[nkey]);
    if (i < 0)
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: key column %s is "
                        "not a column",
                        t, def->key[nkey]);
    for (int k = 0; k < nkey; k++)
      if (strcmp(def->key[k], def->key[nkey]) == 0)
        return sb_err_set(err, SB_EINVAL,
                          "rows: table %s: key column %s "
                          "is listed twice",
                          t, def->key[k]);
    sb_coltype_t ty = def->cols[i].type;
    if (ty == SB_COL_FLOAT8 || ty == SB_COL_JSONB)
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: key column %s is "
                        "%s, which cannot be a key here",
                        t, def->key[nkey], sb__rows_pgtype(ty));
    if ((def->cols[i].flags & ~SB_COL_OWNER) != 0)
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: key column %s "
                        "takes no merge",
                        t, def->key[nkey]);
    has_tenant |= i == tenant;
  }
  if (nkey == 0)
    return sb_err_set(err, SB_EINVAL,
                      "rows: table %s: its key is empty "
                      "(NULL for a table of appends only)",
                      t);
  if (!has_tenant)
    return sb_err_set(err, SB_EINVAL,
                      "rows: table %s: its key must include "
                      "tenant_id (rows of two tenants never "
                      "merge)",
                      t);
  return 0;
}

int sb_rows_new(const sb_table_def_t *def, const char *schema, size_t max_bytes,
                sb_rows_t **out, sb_err_t *err) {
  *out = NULL;
  if (check_def(def, schema, err) != 0)
    return err->code;
  sb_rows_t *w = calloc(1, sizeof *w);
  if (w == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  w->def = def;
  snprintf(w->schema, sizeof w->schema, "%s", schema);
  snprintf(w->qname, sizeof w->qname, "\"%s\".\"%s\"", schema, def->name);
  w->budget = max_bytes ? max_bytes : SB_ROWS_DEFAULT_BUDGET;
  while (def->cols[w->ncols].name)
    w->ncols++;
  w->tenant_col = col_index(def, "tenant_id");
  int rc = 0;
  sb_text_t sql = {0};
  w->tmp = calloc((size_t)w->ncols, sizeof *w->tmp);
  w->sizes = calloc((size_t)w->ncols, sizeof *w->sizes);
  if (w->tmp == NULL || w->sizes == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  sb_text_add(&sql, "COPY %s (", w->qname);
  for (int i = 0; i < w->ncols; i++)
    sb_text_add(&sql, "%s\"%s\"", i ? ", " : "", def->cols[i].name);
  sb_text_add(&sql, ") FROM STDIN (FORMAT binary)");
  if (sql.failed) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  w->copy_sql = sql.s;
  sql.s = NULL; /* ownership moved */
  if (def->key != NULL) {
    while (def->key[w->nkey])
      w->nkey++;
    w->keyidx = calloc((size_t)w->nkey, sizeof *w->keyidx);
    if (w->keyidx == NULL) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      goto out;
    }
    for (int k = 0; k < w->nkey; k++)
      w->keyidx[k] = col_index(def, def->key[k]);
    if ((rc = sb__rows_keyed_sql(w, err)) != 0)
      goto out;
  }
  *out = w;
  w = NULL; /* ownership moved */
out:
  sb_text_free(&sql);
  sb_rows_free(w);
  return rc;
}

void sb_rows_free(sb_rows_t *w) {
  if (w == NULL)
    return;
  sb__rows_keyed_free(w);
  free(w->copy);
  free(w->copy_sql);
  free(w->keyidx);
  free(w->tmp);
  free(w->sizes);
  free(w);
}

/* The length of s, a NUL-terminated string, when it is well-formed UTF-8
 * (no overlong forms, surrogates or code points past U+10FFFF); -1 when it
 * is not. One pass: ASCII runs go at strlen's pace. */
static long utf8_len(const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  for (;;) {
    while (s[i] != 0 && s[i] < 0x80)
      i++;
    unsigned c = s[i];
    if (c == 0)
      return (long)i;
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
      len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0)
        lo = 0xa0;
      else if (c == 0xed)
        hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0)
        lo = 0x90;
      else if (c == 0xf4)
        hi = 0x8f;
    } else
      return -1;
    /* a NUL ends the string before a sequence is complete: out of range */
    if (s[i + 1] < lo || s[i + 1] > hi)
      return -1;
    for (size_t k = 2; k < len; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xbf)
        return -1;
    i += len;
  }
}

int sb__rows_check_val(const sb_rows_t *w, int col, const sb_val_t *v,
                       size_t *size, sb_err_t *err) {
  const sb_col_t *c = &w->def->cols[col];
  const char *t = w->def->name;
  long n;
  *size = 0;
  if (sb__null(v)) {
    if (col == w->tenant_col)
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: tenant_id is NULL "
                        "(every row belongs to a tenant)",
                        t);
    return 0;
  }
  if (v->type != c->type)
    return sb_err_set(err, SB_EINVAL,
                      "rows: table %s: column %s is %s, the "
                      "value given is %s",
                      t, c->name, sb__rows_pgtype(c->type),
                      type_ok(v->type) ? sb__rows_pgtype(v->type) : "unknown");
  switch (c->type) {
  case SB_COL_TEXT:
  case SB_COL_JSONB:
    if ((n = utf8_len(v->s)) < 0)
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: column %s: the text is not valid "
                        "UTF-8",
                        t, c->name);
    if (col == w->tenant_col && n == 0)
      return sb_err_set(err, SB_EINVAL, "rows: table %s: tenant_id is empty",
                        t);
    *size = (size_t)n + (c->type == SB_COL_JSONB); /* jsonb: a version byte */
    return 0;
  case SB_COL_INT8:
  case SB_COL_FLOAT8:
    *size = 8;
    return 0;
  case SB_COL_INT4:
    if (v->i < INT32_MIN || v->i > INT32_MAX)
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: column %s: %lld is out of integer "
                        "range",
                        t, c->name, (long long)v->i);
    *size = 4;
    return 0;
  case SB_COL_BOOL:
    if (v->i != 0 && v->i != 1)
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: column %s: a bool is 0 or 1", t,
                        c->name);
    *size = 1;
    return 0;
  case SB_COL_TIMESTAMPTZ:
    /* PostgreSQL's range starts at 4714-11-24 BC; its end (294277 AD) is
     * past what int64 Unix microseconds reach */
    if (v->i < -210866803200000000LL)
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: column %s: %lld microseconds is "
                        "before 4714 BC",
                        t, c->name, (long long)v->i);
    *size = 8;
    return 0;
  case SB_COL_DATE: /* PostgreSQL's range: 4714-11-24 BC to 5874897 AD */
    if (v->i < -2440588 || v->i >= 2145042906)
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: column %s: day %lld is out of date "
                        "range",
                        t, c->name, (long long)v->i);
    *size = 4;
    return 0;
  case SB_COL_BYTEA:
    if (v->len > (size_t)INT32_MAX - 1)
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: column %s: %zu bytes is too long", t,
                        c->name, v->len);
    *size = v->len;
    return 0;
  }
  return 0;
}

static unsigned char *put_be(unsigned char *p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--)
    *p++ = (unsigned char)(v >> (8 * i));
  return p;
}

/* A value's length and its binary form; n from sb__rows_check_val. */
static unsigned char *put_val(unsigned char *p, const sb_val_t *v, size_t n) {
  if (sb__null(v))
    return put_be(p, 0xffffffffu, 4);
  p = put_be(p, n, 4);
  switch (v->type) {
  case SB_COL_TEXT:
    memcpy(p, v->s, n);
    return p + n;
  case SB_COL_JSONB:
    *p++ = 1; /* jsonb's binary form: version 1, then the text */
    memcpy(p, v->s, n - 1);
    return p + n - 1;
  case SB_COL_BYTEA:
    if (n > 0)
      memcpy(p, v->p, n);
    return p + n;
  case SB_COL_INT8:
    return put_be(p, (uint64_t)v->i, 8);
  case SB_COL_INT4:
    return put_be(p, (uint64_t)(uint32_t)(int32_t)v->i, 4);
  case SB_COL_BOOL:
    return put_be(p, (uint64_t)v->i, 1);
  case SB_COL_DATE:
    return put_be(p, (uint64_t)(uint32_t)(int32_t)(v->i - PG_EPOCH_DAYS), 4);
  case SB_COL_TIMESTAMPTZ:
    return put_be(p, (uint64_t)(v->i - PG_EPOCH_MICROS), 8);
  case SB_COL_FLOAT8: {
    uint64_t bits;
    memcpy(&bits, &v->d, 8);
    return put_be(p, bits, 8);
  }
  }
  return p;
}

int sb_rows_append(sb_rows_t *w, const sb_val_t *vals, sb_err_t *err) {
  size_t need = 2;
  for (int i = 0; i < w->ncols; i++) {
    if (sb__rows_check_val(w, i, &vals[i], &w->sizes[i], err) != 0)
      return err->code;
    need += 4 + w->sizes[i];
  }
  size_t held = w->copy_len + w->ent_bytes;
  if (need > w->budget || held > w->budget - need)
    return sb_err_set(err, SB_EBUSY,
                      "rows: table %s: the writer holds %zu "
                      "bytes and a row of %zu would pass its "
                      "budget of %zu: flush first",
                      w->def->name, held, need, w->budget);
  if (w->copy_len + need > w->copy_cap) {
    size_t cap = w->copy_cap ? w->copy_cap : STREAM_BYTES;
    while (cap < w->copy_len + need)
      cap *= 2;
    unsigned char *c = realloc(w->copy, cap);
    if (c == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    w->copy = c;
    w->copy_cap = cap;
  }
  unsigned char *p = put_be(w->copy + w->copy_len, (uint64_t)w->ncols, 2);
  for (int i = 0; i < w->ncols; i++)
    p = put_val(p, &vals[i], w->sizes[i]);
  w->copy_len = (size_t)(p - w->copy);
  w->nappend++;
  return 0;
}

/* Sends the buffer, opening the COPY first if needed. */
static int send_rows(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err) {
  int rc = 0;
  if (w->copy_open && !sb_pg_copying(pg))
    return sb_err_set(err, SB_ESTATE,
                      "rows: table %s: its COPY was ended by a rollback: "
                      "reset the writer (sb_rows_reset) first",
                      w->def->name);
  if (!w->copy_open) {
    if (sb_pg_copying(pg))
      return sb_err_set(err, SB_ESTATE,
                        "rows: table %s: the connection has "
                        "another COPY open: finish it first",
                        w->def->name);
    if ((rc = sb_pg_copy_begin(pg, w->copy_sql, err)) != 0)
      goto fail;
    w->copy_open = 1;
    if ((rc = sb_pg_copy_put(pg, copy_signature, sizeof copy_signature, err)) !=
        0)
      goto fail;
  }
  if (w->copy_len > 0 &&
      (rc = sb_pg_copy_put(pg, w->copy, w->copy_len, err)) != 0)
    goto fail;
  w->copy_len = 0;
  return 0;
fail:
  w->copy_open = sb_pg_copying(pg);
  sb_err_prefix(err, "rows: COPY into %s: ", w->qname);
  return rc;
}

int sb_rows_stream(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err) {
  if (w->copy_len < STREAM_BYTES || (!w->copy_open && sb_pg_copying(pg)))
    return 0;
  return send_rows(w, pg, err);
}

int sb_rows_finish(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err) {
  int rc = 0;
  if (w->copy_len == 0 && !w->copy_open) {
    w->nappend = 0;
    return 0;
  }
  if ((rc = send_rows(w, pg, err)) != 0)
    return rc;
  rc = sb_pg_copy_put(pg, copy_trailer, sizeof copy_trailer, err);
  if (rc == 0)
    rc = sb_pg_copy_end(pg, err);
  w->copy_open = sb_pg_copying(pg);
  if (rc != 0) {
    sb_err_prefix(err, "rows: COPY into %s: ", w->qname);
    return rc;
  }
  w->nappend = 0;
  return 0;
}

int sb_rows_flush_appends(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err) {
  return sb_rows_finish(w, pg, err);
}

int sb_rows_flush(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err) {
  if (sb_rows_finish(w, pg, err) != 0)
    return err->code;
  if (w->def->key == NULL || sb__rows_keyed_count(w) == 0)
    return 0;
  if (sb_pg_copying(pg))
    return sb_err_set(err, SB_ESTATE,
                      "rows: table %s: the connection has "
                      "another writer's COPY open: finish it "
                      "before flushing",
                      w->def->name);
  return sb__rows_keyed_flush(w, pg, err);
}

void sb_rows_reset(sb_rows_t *w) {
  if (w == NULL)
    return;
  w->copy_len = 0;
  w->nappend = 0;
  w->copy_open = 0; /* the caller's rollback abandoned it */
  sb__rows_keyed_reset(w);
}

size_t sb_rows_pending_bytes(const sb_rows_t *w) {
  return w->copy_len + w->ent_bytes;
}

size_t sb_rows_pending_rows(const sb_rows_t *w) {
  return w->nappend + sb__rows_keyed_count(w);
}

int sb_rows_check(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err) {
  const sb_table_def_t *def = w->def;
  char q[160], have[64];
  int found = 0;
  snprintf(q, sizeof q, "%s.%s", w->schema, def->name);
  int rc = sb_pg_query1(pg, "SELECT to_regclass($1) IS NOT NULL", 1,
                        (const char *const[]){w->qname}, have, sizeof have,
                        &found, NULL, err);
  if (rc != 0)
    return rc;
  if (strcmp(have, "t") != 0)
    return sb_err_set(err, SB_ENOENT, "rows: table %s does not exist", q);
  for (int i = 0; i < w->ncols; i++) {
    const sb_col_t *c = &def->cols[i];
    rc = sb_pg_query1(pg,
                      "SELECT format_type(atttypid, atttypmod) FROM "
                      "pg_attribute WHERE attrelid = to_regclass($1) AND "
                      "attname = $2 AND attnum > 0 AND NOT attisdropped",
                      2, (const char *const[]){w->qname, c->name}, have,
                      sizeof have, &found, NULL, err);
    if (rc != 0)
      return rc;
    const char *want = c->type == SB_COL_TIMESTAMPTZ
                           ? "timestamp with time zone"
                           : sb__rows_pgtype(c->type);
    if (!found)
      return sb_err_set(err, SB_ESTATE,
                        "rows: table %s has no column %s (declared %s)", q,
                        c->name, want);
    if (strcmp(have, want) != 0)
      return sb_err_set(err, SB_ESTATE,
                        "rows: table %s: column %s is %s in the database, "
                        "declared %s",
                        q, c->name, have, want);
  }
  if (w->nkey == 0)
    return 0;
  sb_text_t keys = {0};
  sb_text_put(&keys, "{", 1);
  for (int k = 0; k < w->nkey; k++)
    sb_text_pg_elem(&keys, def->key[k]);
  sb_text_put(&keys, "}", 1);
  if (keys.failed) {
    sb_text_free(&keys);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  rc = sb_pg_query1(
      pg,
      "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = "
      "to_regclass($1) AND i.indisunique AND i.indpred IS NULL AND "
      "i.indexprs IS NULL AND (SELECT array_agg(a.attname::text ORDER BY "
      "a.attname::text) FROM pg_attribute a WHERE a.attrelid = i.indrelid AND "
      "a.attnum = ANY (i.indkey)) = (SELECT array_agg(k ORDER BY k) FROM "
      "unnest($2::text[]) k))",
      2, (const char *const[]){w->qname, keys.s}, have, sizeof have, &found,
      NULL, err);
  sb_text_free(&keys);
  if (rc != 0)
    return rc;
  if (strcmp(have, "t") != 0)
    return sb_err_set(err, SB_ESTATE,
                      "rows: table %s has no unique index on exactly its "
                      "declared key (upserts need one)",
                      q);
  return 0;
}
