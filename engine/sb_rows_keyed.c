/* Table writers: upserts and deletes by key. Rows are merged per key in
 * memory, then written in one statement each per flush from arrays
 * (unnest), keys sorted so that writers lock rows in one order. */
#include "sb_rows_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- keys ------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static uint64_t key_hash(const sb_rows_t *w, const sb_val_t *row) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int k = 0; k < w->nkey; k++) {
    const sb_val_t *v = &row[w->keyidx[k]];
    switch (v->type) {
    case SB_COL_TEXT:
      h = fnv(h, v->s, strlen(v->s) + 1);
      break;
    case SB_COL_BYTEA:
      h = fnv(h, &v->len, sizeof v->len);
      if (v->len > 0)
        h = fnv(h, v->p, v->len);
      break;
    default:
      h = fnv(h, &v->i, sizeof v->i);
    }
  }
  return h;
}

static int val_cmp(const sb_val_t *a, const sb_val_t *b) {
  switch (a->type) {
  case SB_COL_TEXT:
    return strcmp(a->s, b->s);
  case SB_COL_BYTEA: {
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->p, b->p, n) : 0;
    return c ? c : (a->len > b->len) - (a->len < b->len);
  }
  case SB_COL_FLOAT8: /* PostgreSQL's order: NaN above everything */
    if (isnan(a->d) || isnan(b->d))
      return (isnan(a->d) != 0) - (isnan(b->d) != 0);
    return (a->d > b->d) - (a->d < b->d);
  default:
    return (a->i > b->i) - (a->i < b->i);
  }
}

static int key_cmp(const sb_rows_t *w, const sb_val_t *a, const sb_val_t *b) {
  for (int k = 0; k < w->nkey; k++) {
    int c = val_cmp(&a[w->keyidx[k]], &b[w->keyidx[k]]);
    if (c != 0)
      return c;
  }
  return 0;
}

/* qsort has no context argument in C11: the writer being sorted, per
 * thread. */
static _Thread_local const sb_rows_t *sorting;

static int ent_cmp(const void *a, const void *b) {
  const sb__rows_ent_t *x = *(sb__rows_ent_t *const *)a;
  const sb__rows_ent_t *y = *(sb__rows_ent_t *const *)b;
  return key_cmp(sorting, x->row, y->row);
}

/* ---- entries ---------------------------------------------------------- */

static size_t block_size(const sb_rows_t *w, const sb_val_t *row) {
  size_t n = (size_t)w->ncols * sizeof(sb_val_t);
  for (int i = 0; i < w->ncols; i++) {
    const sb_val_t *v = &row[i];
    if (sb__null(v))
      continue;
    if (v->type == SB_COL_TEXT || v->type == SB_COL_JSONB)
      n += strlen(v->s) + 1;
    else if (v->type == SB_COL_BYTEA)
      n += v->len;
  }
  return n;
}

/* A block holding row and copies of its strings and bytes. */
static sb_val_t *make_block(const sb_rows_t *w, const sb_val_t *row,
                            size_t size) {
  sb_val_t *b = malloc(size);
  if (b == NULL)
    return NULL;
  memcpy(b, row, (size_t)w->ncols * sizeof *b);
  char *p = (char *)(b + w->ncols);
  for (int i = 0; i < w->ncols; i++) {
    sb_val_t *v = &b[i];
    if (sb__null(v)) {
      v->null = 1; /* kept in one form */
      continue;
    }
    if (v->type == SB_COL_TEXT || v->type == SB_COL_JSONB) {
      size_t n = strlen(v->s) + 1;
      memcpy(p, v->s, n);
      v->s = p;
      p += n;
    } else if (v->type == SB_COL_BYTEA) {
      if (v->len > 0)
        memcpy(p, v->p, v->len);
      v->p = p;
      p += v->len;
    }
  }
  return b;
}

static int over_budget(sb_rows_t *w, size_t more, sb_err_t *err) {
  size_t held = w->copy_len + w->ent_bytes;
  if (more <= w->budget && held <= w->budget - more)
    return 0;
  return sb_err_set(err, SB_EBUSY,
                    "rows: table %s: the writer holds %zu "
                    "bytes and a row of %zu would pass its "
                    "budget of %zu: flush first",
                    w->def->name, held, more, w->budget);
}

static int index_grow(sb_rows_t *w, sb_err_t *err) {
  if ((w->nents + 1) * 2 <= w->index_cap)
    return 0;
  size_t cap = w->index_cap ? w->index_cap * 2 : 1024;
  while (cap < (w->nents + 1) * 2)
    cap *= 2;
  uint32_t *ix = calloc(cap, sizeof *ix);
  if (ix == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  for (size_t e = 0; e < w->nents; e++) {
    size_t i = (size_t)w->ents[e].hash & (cap - 1);
    while (ix[i])
      i = (i + 1) & (cap - 1);
    ix[i] = (uint32_t)(e + 1);
  }
  free(w->index);
  w->index = ix;
  w->index_cap = cap;
  return 0;
}

/* The entry of row's key, or a new one (with no block yet) when create. */
static sb__rows_ent_t *find(sb_rows_t *w, const sb_val_t *row, int create,
                            sb_err_t *err) {
  uint64_t h = key_hash(w, row);
  if (w->index_cap > 0) {
    size_t i = (size_t)h & (w->index_cap - 1);
    while (w->index[i]) {
      sb__rows_ent_t *e = &w->ents[w->index[i] - 1];
      if (e->hash == h && key_cmp(w, e->row, row) == 0)
        return e;
      i = (i + 1) & (w->index_cap - 1);
    }
  }
  if (!create)
    return NULL;
  if (index_grow(w, err) != 0)
    return NULL;
  if (w->nents == w->ents_cap) {
    size_t cap = w->ents_cap ? w->ents_cap * 2 : 256;
    sb__rows_ent_t *ne = realloc(w->ents, cap * sizeof *ne);
    if (ne == NULL) {
      sb_err_set(err, SB_ENOMEM, "out of memory");
      return NULL;
    }
    w->ents = ne;
    w->ents_cap = cap;
  }
  size_t i = (size_t)h & (w->index_cap - 1);
  while (w->index[i])
    i = (i + 1) & (w->index_cap - 1);
  w->index[i] = (uint32_t)(w->nents + 1);
  sb__rows_ent_t *e = &w->ents[w->nents++];
  memset(e, 0, sizeof *e);
  e->hash = h;
  return e;
}

/* Gives e the block of row (replacing its old one). */
static int set_block(sb_rows_t *w, sb__rows_ent_t *e, const sb_val_t *row,
                     size_t size, sb_err_t *err) {
  sb_val_t *b = make_block(w, row, size);
  if (b == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  free(e->row);
  w->ent_bytes -= e->row_bytes;
  e->row = b;
  e->row_bytes = size;
  w->ent_bytes += size;
  return 0;
}

/* A new entry for row's key (not pending yet), with its block. */
static sb__rows_ent_t *new_entry(sb_rows_t *w, const sb_val_t *row, size_t size,
                                 sb_err_t *err) {
  if (over_budget(w, size + sizeof(sb__rows_ent_t) + 2 * sizeof(uint32_t),
                  err) != 0)
    return NULL;
  sb_val_t *b = make_block(w, row, size);
  if (b == NULL) {
    sb_err_set(err, SB_ENOMEM, "out of memory");
    return NULL;
  }
  sb__rows_ent_t *e = find(w, b, 1, err);
  if (e == NULL) {
    free(b);
    return NULL;
  }
  e->row = b;
  e->row_bytes = size;
  w->ent_bytes += size + sizeof *e + 2 * sizeof(uint32_t);
  return e;
}

static int merge_val(const sb_rows_t *w, int col, const sb_val_t *old,
                     const sb_val_t *nv, sb_val_t *out, sb_err_t *err) {
  const sb_col_t *c = &w->def->cols[col];
  unsigned m = c->flags & SB_MERGE_MASK;
  if (m == SB_MERGE_REPLACE) {
    *out = *nv;
    return 0;
  }
  if (m == SB_MERGE_KEEP || sb__null(nv)) {
    *out = *old;
    return 0;
  }
  *out = *nv;
  if (sb__null(old))
    return 0;
  if (m == SB_MERGE_SUM) {
    if (c->type == SB_COL_FLOAT8) {
      out->d = old->d + nv->d;
    } else if (__builtin_add_overflow(old->i, nv->i, &out->i) ||
               (c->type == SB_COL_INT4 &&
                (out->i < INT32_MIN || out->i > INT32_MAX))) {
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: column %s: the sum "
                        "of %lld and %lld is out of range",
                        w->def->name, c->name, (long long)old->i,
                        (long long)nv->i);
    }
    return 0;
  }
  int cmp = val_cmp(nv, old);
  if ((m == SB_MERGE_MAX && cmp < 0) || (m == SB_MERGE_MIN && cmp > 0))
    *out = *old;
  return 0;
}

int sb_rows_upsert(sb_rows_t *w, const sb_val_t *vals, sb_err_t *err) {
  if (w->nkey == 0)
    return sb_err_set(err, SB_EINVAL,
                      "rows: table %s declares no key: it "
                      "takes appends only",
                      w->def->name);
  for (int i = 0; i < w->ncols; i++)
    if (sb__rows_check_val(w, i, &vals[i], &w->sizes[i], err) != 0)
      return err->code;
  for (int k = 0; k < w->nkey; k++)
    if (sb__null(&vals[w->keyidx[k]]))
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: key column %s is "
                        "NULL",
                        w->def->name, w->def->key[k]);
  sb__rows_ent_t *e = find(w, vals, 0, err);
  const sb_val_t *row = vals;
  if (e != NULL && e->has_row) {
    int rebuild = 0;
    for (int i = 0; i < w->ncols; i++) {
      if (merge_val(w, i, &e->row[i], &vals[i], &w->tmp[i], err) != 0)
        return err->code;
      sb_coltype_t t = w->def->cols[i].type;
      if ((t == SB_COL_TEXT || t == SB_COL_JSONB || t == SB_COL_BYTEA) &&
          !(sb__null(&w->tmp[i]) && sb__null(&e->row[i])) &&
          (sb__null(&w->tmp[i]) != sb__null(&e->row[i]) ||
           w->tmp[i].p != e->row[i].p))
        rebuild = 1; /* a string from the caller: copy it */
    }
    if (!rebuild) {
      memcpy(e->row, w->tmp, (size_t)w->ncols * sizeof *w->tmp);
      return 0;
    }
    row = w->tmp;
  }
  size_t size = block_size(w, row);
  if (e != NULL) {
    if (over_budget(w, size > e->row_bytes ? size - e->row_bytes : 0, err) !=
            0 ||
        set_block(w, e, row, size, err) != 0)
      return err->code;
  } else if ((e = new_entry(w, row, size, err)) == NULL) {
    return err->code;
  }
  e->has_row = 1;
  return 0;
}

int sb_rows_delete(sb_rows_t *w, const sb_val_t *key, sb_err_t *err) {
  if (w->nkey == 0)
    return sb_err_set(err, SB_EINVAL,
                      "rows: table %s declares no key: it "
                      "takes appends only",
                      w->def->name);
  for (int i = 0; i < w->ncols; i++)
    w->tmp[i] = (sb_val_t)SB_V_NULL;
  for (int k = 0; k < w->nkey; k++) {
    int i = w->keyidx[k];
    if (sb__null(&key[k]))
      return sb_err_set(err, SB_EINVAL,
                        "rows: table %s: key column %s is "
                        "NULL",
                        w->def->name, w->def->key[k]);
    if (sb__rows_check_val(w, i, &key[k], &w->sizes[i], err) != 0)
      return err->code;
    w->tmp[i] = key[k];
  }
  sb__rows_ent_t *e = find(w, w->tmp, 0, err);
  if (e == NULL &&
      (e = new_entry(w, w->tmp, block_size(w, w->tmp), err)) == NULL)
    return err->code;
  e->has_row = 0;
  e->deleted = 1;
  return 0;
}

/* ---- statements ------------------------------------------------------- */

int sb__rows_keyed_sql(sb_rows_t *w, sb_err_t *err) {
  const sb_table_def_t *def = w->def;
  sb_text_t up = {0}, del = {0};
  /* INSERT ... SELECT FROM unnest(arrays) ON CONFLICT (key) DO UPDATE: the
   * rows come out of unnest in the arrays' (sorted) order */
  sb_text_add(&up, "INSERT INTO %s AS t (", w->qname);
  for (int i = 0; i < w->ncols; i++)
    sb_text_add(&up, "%s\"%s\"", i ? ", " : "", def->cols[i].name);
  sb_text_add(&up, ") SELECT * FROM unnest(");
  for (int i = 0; i < w->ncols; i++)
    sb_text_add(&up, "%s$%d::%s[]", i ? ", " : "", i + 1,
                sb__rows_pgtype(def->cols[i].type));
  sb_text_add(&up, ") ON CONFLICT (");
  for (int k = 0; k < w->nkey; k++)
    sb_text_add(&up, "%s\"%s\"", k ? ", " : "", def->key[k]);
  sb_text_add(&up, ") DO ");
  int sets = 0;
  for (int i = 0; i < w->ncols; i++) {
    const char *c = def->cols[i].name;
    int iskey = 0;
    for (int k = 0; k < w->nkey; k++)
      iskey |= w->keyidx[k] == i;
    if (iskey)
      continue;
    const char *pre = sets ? ", " : "UPDATE SET ";
    switch (def->cols[i].flags & SB_MERGE_MASK) {
    case SB_MERGE_REPLACE:
      sb_text_add(&up, "%s\"%s\" = EXCLUDED.\"%s\"", pre, c, c);
      break;
    case SB_MERGE_SUM: /* NULL counts as nothing */
      sb_text_add(&up,
                  "%s\"%s\" = COALESCE(t.\"%s\" + EXCLUDED.\"%s\", "
                  "t.\"%s\", EXCLUDED.\"%s\")",
                  pre, c, c, c, c, c);
      break;
    case SB_MERGE_MAX: /* GREATEST and LEAST ignore NULLs */
      sb_text_add(&up, "%s\"%s\" = GREATEST(t.\"%s\", EXCLUDED.\"%s\")", pre, c,
                  c, c);
      break;
    case SB_MERGE_MIN:
      sb_text_add(&up, "%s\"%s\" = LEAST(t.\"%s\", EXCLUDED.\"%s\")", pre, c, c,
                  c);
      break;
    default: /* KEEP */
      continue;
    }
    sets++;
  }
  if (sets == 0)
    sb_text_add(&up, "NOTHING");
  /* deletes: the rows locked in the arrays' (sorted) order first (the
   * one-time filter runs before the delete's scan), then deleted */
  sb_text_add(&del, "WITH u AS (SELECT * FROM unnest(");
  for (int k = 0; k < w->nkey; k++)
    sb_text_add(&del, "%s$%d::%s[]", k ? ", " : "", k + 1,
                sb__rows_pgtype(def->cols[w->keyidx[k]].type));
  sb_text_add(&del, ") WITH ORDINALITY AS u(");
  for (int k = 0; k < w->nkey; k++)
    sb_text_add(&del, "\"%s\", ", def->key[k]);
  sb_text_add(&del, "\"sb ord\")), l AS (SELECT 1 FROM %s t JOIN u ON ",
              w->qname);
  for (int k = 0; k < w->nkey; k++)
    sb_text_add(&del, "%st.\"%s\" = u.\"%s\"", k ? " AND " : "", def->key[k],
                def->key[k]);
  sb_text_add(&del, " ORDER BY u.\"sb ord\" FOR UPDATE OF t)");
  /* the same lock alone, over every key of a flush that deletes and
   * upserts: one ordered pass takes every stored row it will touch */
  sb_text_t lock = {0};
  if (!del.failed)
    sb_text_put(&lock, del.s, del.len);
  sb_text_add(&lock, " SELECT count(*) FROM l");
  sb_text_add(&del, " DELETE FROM %s t USING u WHERE ", w->qname);
  for (int k = 0; k < w->nkey; k++)
    sb_text_add(&del, "t.\"%s\" = u.\"%s\" AND ", def->key[k], def->key[k]);
  sb_text_add(&del, "(SELECT count(*) FROM l) >= 0");
  if (up.failed || del.failed || lock.failed) {
    sb_text_free(&up);
    sb_text_free(&del);
    sb_text_free(&lock);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  w->upsert_sql = up.s;
  w->delete_sql = del.s;
  w->lock_sql = lock.s;
  return 0;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant). */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* A date or an instant in ISO form, which PostgreSQL reads whatever its
 * DateStyle: "2026-12-01", "2026-12-01 19:48:15.000001+00", years before
 * 1 as "0044-03-15 BC". */
static void put_when(sb_text_t *t, const sb_val_t *v) {
  char buf[96];
  int64_t days = v->type == SB_COL_DATE ? v->i : floor_div(v->i, 86400000000LL);
  int64_t y;
  unsigned m, d;
  civil(days, &y, &m, &d);
  int bc = y <= 0;
  long long year = bc ? 1 - y : y;
  int n = snprintf(buf, sizeof buf, "%04lld-%02u-%02u", year, m, d);
  if (v->type == SB_COL_TIMESTAMPTZ) {
    int64_t us = v->i - days * 86400000000LL;
    n += snprintf(buf + n, sizeof buf - (size_t)n, " %02d:%02d:%02d.%06d+00",
                  (int)(us / 3600000000LL), (int)(us / 60000000 % 60),
                  (int)(us / 1000000 % 60), (int)(us % 1000000));
  }
  if (bc)
    n += snprintf(buf + n, sizeof buf - (size_t)n, " BC");
  sb_text_put(t, buf, (size_t)n);
}

/* Appends v as an element of the array literal in t. */
static void put_elem(sb_text_t *t, const sb_val_t *v) {
  static const char hex[] = "0123456789abcdef";
  if (sb__null(v) || (v->type != SB_COL_TEXT && v->type != SB_COL_JSONB)) {
    if (t->len > 0 && t->s[t->len - 1] != '{')
      sb_text_put(t, ",", 1);
  }
  if (sb__null(v)) {
    sb_text_put(t, "NULL", 4);
    return;
  }
  switch (v->type) {
  case SB_COL_TEXT:
  case SB_COL_JSONB:
    sb_text_pg_elem(t, v->s);
    return;
  case SB_COL_INT8:
  case SB_COL_INT4:
    sb_text_int(t, (long long)v->i);
    return;
  case SB_COL_BOOL:
    sb_text_put(t, v->i ? "t" : "f", 1);
    return;
  case SB_COL_FLOAT8:
    if (isnan(v->d))
      sb_text_put(t, "NaN", 3);
    else if (isinf(v->d))
      sb_text_add(t, "%sInfinity", v->d < 0 ? "-" : "");
    else
      sb_text_add(t, "%.17g", v->d);
    return;
  case SB_COL_DATE:
  case SB_COL_TIMESTAMPTZ:
    sb_text_put(t, "\"", 1);
    put_when(t, v);
    sb_text_put(t, "\"", 1);
    return;
  case SB_COL_BYTEA: { /* "\\x0a1b": the backslash escaped in the literal */
    const unsigned char *p = v->p;
    sb_text_put(t, "\"\\\\x", 4);
    for (size_t i = 0; i < v->len; i++) {
      char h[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
      sb_text_put(t, h, 2);
    }
    sb_text_put(t, "\"", 1);
    return;
  }
  }
}

/* Runs sql with one array per column in cols[0..n) of the rows in e. */
static int run_arrays(sb_pg_t *pg, const char *sql, sb__rows_ent_t **e,
                      size_t ne, const int *cols, int n, sb_err_t *err) {
  sb_text_t *arr = calloc((size_t)n, sizeof *arr);
  const char **params = calloc((size_t)n, sizeof *params);
  int rc = 0, failed = 0;
  if (arr == NULL || params == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  for (int c = 0; c < n; c++) {
    sb_text_put(&arr[c], "{", 1);
    for (size_t r = 0; r < ne; r++)
      put_elem(&arr[c], &e[r]->row[cols[c]]);
    sb_text_put(&arr[c], "}", 1);
    failed |= arr[c].failed;
    params[c] = arr[c].s;
  }
  if (failed)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  else
    rc = sb_pg_exec(pg, sql, n, params, err);
out:
  if (arr != NULL)
    for (int c = 0; c < n; c++)
      sb_text_free(&arr[c]);
  free(arr);
  free(params);
  return rc;
}

int sb__rows_keyed_flush(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err) {
  sb__rows_ent_t **sorted = malloc(w->nents * sizeof *sorted);
  sb__rows_ent_t **sel = malloc(w->nents * sizeof *sel);
  int *cols = malloc((size_t)w->ncols * sizeof *cols);
  int rc = 0;
  if (sorted == NULL || sel == NULL || cols == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < w->nents; i++)
    sorted[i] = &w->ents[i];
  sorting = w;
  qsort(sorted, w->nents, sizeof *sorted, ent_cmp);
  sorting = NULL;
  /* a flush that deletes and upserts locks the stored rows of all its keys
   * in one ordered pass first: two such flushes never deadlock between
   * their two statements */
  size_t n = 0, ups = 0;
  for (size_t i = 0; i < w->nents; i++) {
    n += sorted[i]->deleted;
    ups += sorted[i]->has_row;
  }
  if (n > 0 && ups > 0 &&
      (rc = run_arrays(pg, w->lock_sql, sorted, w->nents, w->keyidx, w->nkey,
                       err)) != 0) {
    sb_err_prefix(err, "rows: locking rows of %s: ", w->qname);
    goto out;
  }
  /* deletes first: a key deleted then upserted again holds the new rows */
  n = 0;
  for (size_t i = 0; i < w->nents; i++)
    if (sorted[i]->deleted)
      sel[n++] = sorted[i];
  if (n > 0 && (rc = run_arrays(pg, w->delete_sql, sel, n, w->keyidx, w->nkey,
                                err)) != 0) {
    sb_err_prefix(err, "rows: deleting from %s: ", w->qname);
    goto out;
  }
  n = 0;
  for (size_t i = 0; i < w->nents; i++)
    if (sorted[i]->has_row)
      sel[n++] = sorted[i];
  for (int c = 0; c < w->ncols; c++)
    cols[c] = c;
  if (n > 0 &&
      (rc = run_arrays(pg, w->upsert_sql, sel, n, cols, w->ncols, err)) != 0) {
    sb_err_prefix(err, "rows: upserting into %s: ", w->qname);
    goto out;
  }
  sb__rows_keyed_reset(w);
out:
  free(sorted);
  free(sel);
  free(cols);
  return rc;
}

void sb__rows_keyed_reset(sb_rows_t *w) {
  for (size_t i = 0; i < w->nents; i++)
    free(w->ents[i].row);
  w->nents = 0;
  w->ent_bytes = 0;
  if (w->index != NULL)
    memset(w->index, 0, w->index_cap * sizeof *w->index);
}

void sb__rows_keyed_free(sb_rows_t *w) {
  sb__rows_keyed_reset(w);
  free(w->ents);
  free(w->index);
  free(w->upsert_sql);
  free(w->delete_sql);
  free(w->lock_sql);
}

size_t sb__rows_keyed_count(const sb_rows_t *w) { return w->nents; }
