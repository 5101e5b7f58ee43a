/* Keyed state per partition for one processor: see sb_kstate.h. */
#include "sb_kstate.h"

#include "sb_kstore.h"
#include "sb_util.h"

#include <stdlib.h>
#include <string.h>

enum { PEND_NONE, PEND_PUT, PEND_DEL }; /* the entries' h.pend */

typedef struct {
  sb_kmap_hdr_t h;           /* h.has: a committed value exists */
  unsigned char *val, *pval; /* committed, pending (NULL when empty) */
  size_t len, plen;
} kent_t;

/* The store is all there is: see sb_kstore.h. */
struct sb_kstate_s {
  sb_kstore_t s;
};

static const unsigned char empty_value[1] = {0};

static size_t release(void *item) {
  kent_t *e = item;
  free(e->val);
  free(e->pval);
  return e->len + e->plen;
}

static int load_row(sb_kstore_t *s, int t, const sb_pg_rows_t *rows, int r,
                    sb_err_t *err);
static void flush_entry(sb_text_t *arr, const sb_kmap_hdr_t *h,
                        const char *sep);

static const sb_kstore_kind_t kstate_kind = {
    .what = "keyed state",
    .budget_key = SB_KSTATE_BUDGET_KEY,
    .advice = "keep less state per key",
    .key_max = SB_KSTATE_KEY_MAX,
    .item_size = sizeof(kent_t),
    .release = release,
    .load_row = load_row,
    /* deletes and upserts in one statement: the CTE's DELETE and the
     * INSERT touch different keys (each key is in the arrays once) */
    .flush_sql =
        "WITH u AS (SELECT * FROM unnest($2::text[], $3::int[], $4::text[], "
        "$5::text[]) WITH ORDINALITY AS u(topic, part, key, hex, ord)), "
        "d AS (DELETE FROM sb.processor_state s USING u WHERE u.hex IS NULL "
        "AND s.schema = $1 AND s.topic = u.topic AND s.partition = u.part "
        "AND s.key = u.key) "
        "INSERT INTO sb.processor_state (schema, topic, partition, key, "
        "value) SELECT $1, topic, part, key, decode(hex, 'hex') FROM u "
        "WHERE hex IS NOT NULL ORDER BY ord "
        "ON CONFLICT (schema, topic, partition, key) DO UPDATE SET value = "
        "EXCLUDED.value",
    .flush_cols = 4,
    .flush_arrays = 4,
    .flush_entry = flush_entry,
    .load_sql = "SELECT partition, key, value FROM sb.processor_state "
                "WHERE schema = $1 AND topic = $2 AND partition = "
                "ANY($3::int[])",
};

int sb_kstate_new(const char *schema, size_t byte_budget, sb_kstate_t **out,
                  sb_err_t *err) {
  sb_kstore_t *s;
  int rc = sb_kstore_new(&kstate_kind, sizeof(sb_kstate_t), schema, byte_budget,
                         &s, err);
  *out = (sb_kstate_t *)s;
  return rc;
}

void sb_kstate_free(sb_kstate_t *ks) {
  if (ks == NULL)
    return;
  sb_kstore_free(&ks->s);
  free(ks);
}

int sb_kstate_get(const sb_kstate_t *ks, const char *topic, int32_t partition,
                  const char *key, const void **val, size_t *len) {
  long at = sb_kstore_find(&ks->s, topic, partition, key, strlen(key));
  if (at < 0)
    return SB_ENOENT;
  const kent_t *e = sb_kmap_at(&ks->s.map, (size_t)at);
  if (e->h.pend == PEND_DEL || (e->h.pend == PEND_NONE && !e->h.has))
    return SB_ENOENT;
  const unsigned char *v = e->h.pend == PEND_PUT ? e->pval : e->val;
  *len = e->h.pend == PEND_PUT ? e->plen : e->len;
  *val = v ? (const void *)v : (const void *)empty_value;
  return 0;
}

static int by_key(const void *a, const void *b) {
  const kent_t *x = *(const kent_t *const *)a, *y = *(const kent_t *const *)b;
  return strcmp(x->h.key, y->h.key);
}

int sb_kstate_scan(const sb_kstate_t *ks, const char *topic, int32_t partition,
                   const char *prefix, sb_kstate_scan_cb cb, void *arg,
                   sb_err_t *err) {
  int t = sb_kmap_topic_find(&ks->s.map, topic);
  if (t < 0)
    return 0;
  size_t plen = strlen(prefix), n = 0;
  const kent_t **hits = NULL;
  if (ks->s.map.n > 0 &&
      (hits = malloc(ks->s.map.n * sizeof *hits)) == NULL)
    return sb_err_set(err, SB_ENOMEM, "keyed state of %s: out of memory",
                      ks->s.schema);
  for (size_t i = 0; i < ks->s.map.n; i++) {
    const kent_t *e = sb_kmap_at(&ks->s.map, i);
    if (e->h.topic != t || e->h.partition != partition ||
        e->h.pend == PEND_DEL || (e->h.pend == PEND_NONE && !e->h.has) ||
        e->h.klen < plen || memcmp(e->h.key, prefix, plen) != 0)
      continue;
    hits[n++] = e;
  }
  if (n > 1)
    qsort(hits, n, sizeof *hits, by_key);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const kent_t *e = hits[i];
    const unsigned char *v = e->h.pend == PEND_PUT ? e->pval : e->val;
    size_t len = e->h.pend == PEND_PUT ? e->plen : e->len;
    rc = cb(arg, e->h.key, v ? (const void *)v : (const void *)empty_value,
            len, err);
  }
  free(hits);
  return rc;
}

int sb_kstate_put(sb_kstate_t *ks, const char *topic, int32_t partition,
                  const char *key, const void *val, size_t len, sb_err_t *err) {
  sb_kstore_t *s = &ks->s;
  size_t klen;
  if (sb_kstore_check_key(s, topic, partition, key, &klen, err) != 0)
    return err->code;
  if (len > SB_KSTATE_VALUE_MAX || (val == NULL && len > 0))
    return sb_err_set(err, SB_EINVAL,
                      "keyed state of %s: a value is at most %u bytes (key "
                      "%.64s of %s partition %d: %zu)",
                      s->schema, SB_KSTATE_VALUE_MAX, key, topic,
                      (int)partition, len);
  int t = sb_kmap_topic(&s->map, topic, err);
  if (t < 0)
    return err->code;
  long at = sb_kmap_find(&s->map, t, partition, key, klen);
  size_t add = len, sub = 0;
  if (at < 0)
    add += sb_kstore_entry_cost(s, klen);
  else if (((const kent_t *)sb_kmap_at(&s->map, (size_t)at))->h.pend ==
           PEND_PUT) /* the pending value it replaces is given back */
    sub = ((const kent_t *)sb_kmap_at(&s->map, (size_t)at))->plen;
  if (s->bytes - sub + add > s->budget)
    return sb_kstore_over_budget(s, s->bytes - sub + add, key, err);
  if (sb_kmap_dirty_reserve(&s->dirty, err) != 0)
    return err->code;
  unsigned char *copy = NULL;
  if (len > 0) {
    if ((copy = malloc(len)) == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    memcpy(copy, val, len);
  }
  size_t idx;
  int created;
  if (sb_kmap_insert(&s->map, t, partition, key, klen, &idx, &created, err) !=
      0) {
    free(copy);
    return err->code;
  }
  kent_t *e = sb_kmap_at(&s->map, idx);
  free(e->pval);
  e->pval = copy; /* ownership moved */
  e->plen = len;
  sb_kstore_mark(s, idx, PEND_PUT);
  s->bytes = s->bytes - sub + add;
  return 0;
}

int sb_kstate_del(sb_kstate_t *ks, const char *topic, int32_t partition,
                  const char *key, sb_err_t *err) {
  sb_kstore_t *s = &ks->s;
  size_t klen;
  if (sb_kstore_check_key(s, topic, partition, key, &klen, err) != 0)
    return err->code;
  long at = sb_kstore_find(s, topic, partition, key, klen);
  if (at < 0)
    return 0;
  if (sb_kmap_dirty_reserve(&s->dirty, err) != 0)
    return err->code;
  kent_t *e = sb_kmap_at(&s->map, (size_t)at);
  s->bytes -= e->plen;
  free(e->pval);
  e->pval = NULL;
  e->plen = 0;
  /* a key the batch created: a harmless delete */
  sb_kstore_mark(s, (size_t)at, PEND_DEL);
  return 0;
}

/* ---- flush -------------------------------------------------------------- */

static void put_hex(sb_text_t *t, const unsigned char *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  char buf[512];
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    buf[k++] = digits[p[i] >> 4];
    buf[k++] = digits[p[i] & 15];
    if (k == sizeof buf) {
      sb_text_put(t, buf, k);
      k = 0;
    }
  }
  sb_text_put(t, buf, k);
}

/* the value as bytea hex, NULL for a delete */
static void flush_entry(sb_text_t *arr, const sb_kmap_hdr_t *h,
                        const char *sep) {
  const kent_t *e = (const kent_t *)h;
  if (e->h.pend == PEND_DEL) {
    sb_text_add(&arr[3], "%sNULL", sep);
  } else {
    sb_text_add(&arr[3], "%s\"", sep);
    put_hex(&arr[3], e->pval, e->plen);
    sb_text_put(&arr[3], "\"", 1);
  }
}

int sb_kstate_flush(sb_kstate_t *ks, sb_pg_t *pg, sb_err_t *err) {
  if (ks->s.dirty.n == 0)
    return 0;
  return sb_kstore_flush(&ks->s, pg, err);
}

/* ---- end of a batch ------------------------------------------------------ */

void sb_kstate_committed(sb_kstate_t *ks) {
  sb_kstore_t *s = &ks->s;
  for (size_t i = 0; i < s->dirty.n; i++) {
    kent_t *e = sb_kmap_at(&s->map, s->dirty.idx[i]);
    s->bytes -= e->len;
    free(e->val);
    e->val = e->pval; /* ownership moved; NULL after a delete */
    e->len = e->plen;
    e->h.has = e->h.pend == PEND_PUT;
    e->pval = NULL;
    e->plen = 0;
    e->h.pend = PEND_NONE;
  }
  sb_kstore_sweep(s);
}

void sb_kstate_abort(sb_kstate_t *ks) {
  sb_kstore_t *s = &ks->s;
  for (size_t i = 0; i < s->dirty.n; i++) {
    kent_t *e = sb_kmap_at(&s->map, s->dirty.idx[i]);
    s->bytes -= e->plen;
    free(e->pval);
    e->pval = NULL;
    e->plen = 0;
    e->h.pend = PEND_NONE;
  }
  sb_kstore_sweep(s);
}

void sb_kstate_drop(sb_kstate_t *ks, const char *topic, int32_t partition) {
  sb_kstore_drop(&ks->s, sb_kmap_topic_find(&ks->s.map, topic), partition);
}

/* ---- load ------------------------------------------------------------- */

static int load_row(sb_kstore_t *s, int t, const sb_pg_rows_t *rows, int r,
                    sb_err_t *err) {
  const char *ptxt = sb_pg_rows_get(rows, r, 0);
  const char *key = sb_pg_rows_get(rows, r, 1);
  const char *hex = sb_pg_rows_get(rows, r, 2);
  long long p;
  if (ptxt == NULL || key == NULL || hex == NULL ||
      sb_parse_ll(ptxt, &p) != 0 || p < 0 || p > INT32_MAX)
    return sb_err_set(err, SB_EPG,
                      "keyed state of %s: a stored row is "
                      "malformed",
                      s->schema);
  size_t klen = strlen(key), hlen = strlen(hex);
  size_t len = hlen >= 2 ? (hlen - 2) / 2 : 0;
  if (klen == 0 || klen > SB_KSTATE_KEY_MAX || len > SB_KSTATE_VALUE_MAX)
    return sb_err_set(err, SB_ESTATE,
                      "keyed state of %s: stored key %.64s of partition %lld "
                      "is past the bounds (key 1 to %d bytes, value at most "
                      "%u)",
                      s->schema, key, p, SB_KSTATE_KEY_MAX,
                      SB_KSTATE_VALUE_MAX);
  unsigned char *val = NULL;
  if (len > 0 && (val = malloc(len)) == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  if (len > 0 && sb_bytea_unhex(hex, val, len) != (long)len) {
    free(val);
    return sb_err_set(err, SB_EPG,
                      "keyed state of %s: stored value of key "
                      "%.64s is not bytea hex",
                      s->schema, key);
  }
  size_t idx;
  if (sb_kstore_add(s, t, (int32_t)p, key, klen, len, &idx, err) != 0) {
    free(val);
    return err->code;
  }
  kent_t *e = sb_kmap_at(&s->map, idx);
  free(e->val); /* none: each key is stored once */
  e->val = val;
  e->len = len;
  e->h.has = 1;
  s->bytes += len;
  return 0;
}

int sb_kstate_load(sb_kstate_t *ks, sb_pg_t *pg, const char *topic,
                   const int32_t *partitions, size_t n, sb_err_t *err) {
  return sb_kstore_load(&ks->s, pg, topic, partitions, n, err);
}

size_t sb_kstate_bytes(const sb_kstate_t *ks) { return ks->s.bytes; }
size_t sb_kstate_count(const sb_kstate_t *ks) { return ks->s.map.n; }
size_t sb_kstate_dirty(const sb_kstate_t *ks) { return ks->s.dirty.n; }

int sb_kstate_rename_schema(sb_pg_t *pg, const char *from, const char *to,
                            sb_err_t *err) {
  static const char *const tables[] = {"sb.processor_state"};
  return sb_kstore_rename_schema(pg, "keyed state", tables,
                                 SB_ARRAY_LEN(tables), from, to, err);
}
