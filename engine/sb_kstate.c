/* Keyed state per partition for one processor: see sb_kstate.h. */
#include "sb_kstate.h"

#include "sb_kmap.h"
#include "sb_text.h"
#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PEND_NONE, PEND_PUT, PEND_DEL };

typedef struct {
  sb_kmap_hdr_t h;
  unsigned char *val, *pval; /* committed, pending (NULL when empty) */
  size_t len, plen;
  uint8_t has;  /* a committed value exists */
  uint8_t pend; /* PEND_*: what the batch did to the key */
} kent_t;

struct sb_kstate_s {
  char schema[64];
  size_t budget, bytes;
  sb_kmap_t map;
  sb_kmap_dirty_t dirty; /* indices of the entries with pend != PEND_NONE */
};

static const unsigned char empty_value[1] = {0};

/* What an entry costs beyond its values: the item, its slots, its key and
 * its place in the dirty list. */
static size_t entry_cost(const sb_kstate_t *ks, size_t klen) {
  return sb_kmap_item_cost(&ks->map) + klen + sizeof(uint32_t);
}

static int schema_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63 || s[0] < 'a' || s[0] > 'z')
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
          s[i] == '_'))
      return 0;
  return 1;
}

int sb_kstate_new(const char *schema, size_t byte_budget, sb_kstate_t **out,
                  sb_err_t *err) {
  *out = NULL;
  if (schema == NULL || !schema_valid(schema))
    return sb_err_set(err, SB_EINVAL,
                      "keyed state: schema name '%s' is not "
                      "[a-z][a-z0-9_]* of at most 63 bytes",
                      schema ? schema : "(null)");
  sb_kstate_t *ks = calloc(1, sizeof *ks);
  if (ks == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  snprintf(ks->schema, sizeof ks->schema, "%s", schema);
  ks->budget = byte_budget;
  if (sb_kmap_init(&ks->map, sizeof(kent_t), err) != 0) {
    free(ks);
    return err->code;
  }
  *out = ks;
  return 0;
}

void sb_kstate_free(sb_kstate_t *ks) {
  if (ks == NULL)
    return;
  for (size_t i = 0; i < ks->map.n; i++) {
    kent_t *e = sb_kmap_at(&ks->map, i);
    free(e->val);
    free(e->pval);
  }
  sb_kmap_free(&ks->map);
  sb_kmap_dirty_free(&ks->dirty);
  free(ks);
}

/* The key's length, or an error naming what is wrong with the address. */
static int check_key(const sb_kstate_t *ks, const char *topic,
                     int32_t partition, const char *key, size_t *klen,
                     sb_err_t *err) {
  if (topic == NULL || key == NULL)
    return sb_err_set(err, SB_EINVAL, "keyed state of %s: no topic or key",
                      ks->schema);
  if (partition < 0)
    return sb_err_set(err, SB_EINVAL, "keyed state of %s: partition %d of %s",
                      ks->schema, (int)partition, topic);
  *klen = strnlen(key, SB_KSTATE_KEY_MAX + 1);
  if (*klen == 0 || *klen > SB_KSTATE_KEY_MAX)
    return sb_err_set(err, SB_EINVAL,
                      "keyed state of %s: a key is 1 to %d bytes (%s "
                      "partition %d: %s)",
                      ks->schema, SB_KSTATE_KEY_MAX, topic, (int)partition,
                      *klen == 0 ? "an empty key" : "a longer one");
  if (!sb_utf8_valid(key, *klen))
    return sb_err_set(err, SB_EINVAL,
                      "keyed state of %s: a key is UTF-8 "
                      "text (%s partition %d)",
                      ks->schema, topic, (int)partition);
  return 0;
}

static int over_budget(const sb_kstate_t *ks, size_t want, sb_err_t *err) {
  return sb_err_set(err, SB_ENOMEM,
                    "keyed state of processor schema %s would take %zu "
                    "bytes, over " SB_KSTATE_BUDGET_KEY
                    " (%zu bytes): raise it, or "
                    "keep less state per key",
                    ks->schema, want, ks->budget);
}

int sb_kstate_get(const sb_kstate_t *ks, const char *topic, int32_t partition,
                  const char *key, const void **val, size_t *len) {
  long at = sb_kmap_find(&ks->map, sb_kmap_topic_find(&ks->map, topic),
                         partition, key, strlen(key));
  if (at < 0)
    return SB_ENOENT;
  const kent_t *e = sb_kmap_at(&ks->map, (size_t)at);
  if (e->pend == PEND_DEL || (e->pend == PEND_NONE && !e->has))
    return SB_ENOENT;
  const unsigned char *v = e->pend == PEND_PUT ? e->pval : e->val;
  *len = e->pend == PEND_PUT ? e->plen : e->len;
  *val = v ? (const void *)v : (const void *)empty_value;
  return 0;
}

int sb_kstate_put(sb_kstate_t *ks, const char *topic, int32_t partition,
                  const char *key, const void *val, size_t len, sb_err_t *err) {
  size_t klen;
  if (check_key(ks, topic, partition, key, &klen, err) != 0)
    return err->code;
  if (len > SB_KSTATE_VALUE_MAX || (val == NULL && len > 0))
    return sb_err_set(err, SB_EINVAL,
                      "keyed state of %s: a value is at most %u bytes (key "
                      "%.64s of %s partition %d: %zu)",
                      ks->schema, SB_KSTATE_VALUE_MAX, key, topic,
                      (int)partition, len);
  int t = sb_kmap_topic(&ks->map, topic, err);
  if (t < 0)
    return err->code;
  long at = sb_kmap_find(&ks->map, t, partition, key, klen);
  size_t add = len, sub = 0;
  if (at < 0)
    add += entry_cost(ks, klen);
  else {
    const kent_t *e = sb_kmap_at(&ks->map, (size_t)at);
    if (e->pend == PEND_PUT)
      sub = e->plen;
  }
  if (ks->bytes - sub + add > ks->budget)
    return over_budget(ks, ks->bytes - sub + add, err);
  if (sb_kmap_dirty_reserve(&ks->dirty, err) != 0)
    return err->code;
  unsigned char *copy = NULL;
  if (len > 0) {
    if ((copy = malloc(len)) == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    memcpy(copy, val, len);
  }
  size_t idx;
  int created;
  if (sb_kmap_insert(&ks->map, t, partition, key, klen, &idx, &created, err) !=
      0) {
    free(copy);
    return err->code;
  }
  kent_t *e = sb_kmap_at(&ks->map, idx);
  free(e->pval);
  e->pval = copy; /* ownership moved */
  e->plen = len;
  if (e->pend == PEND_NONE)
    ks->dirty.idx[ks->dirty.n++] = (uint32_t)idx;
  e->pend = PEND_PUT;
  ks->bytes = ks->bytes - sub + add;
  return 0;
}

int sb_kstate_del(sb_kstate_t *ks, const char *topic, int32_t partition,
                  const char *key, sb_err_t *err) {
  size_t klen;
  if (check_key(ks, topic, partition, key, &klen, err) != 0)
    return err->code;
  long at = sb_kmap_find(&ks->map, sb_kmap_topic_find(&ks->map, topic),
                         partition, key, klen);
  if (at < 0)
    return 0;
  if (sb_kmap_dirty_reserve(&ks->dirty, err) != 0)
    return err->code;
  kent_t *e = sb_kmap_at(&ks->map, (size_t)at);
  if (e->pend == PEND_NONE)
    ks->dirty.idx[ks->dirty.n++] = (uint32_t)at;
  ks->bytes -= e->plen;
  free(e->pval);
  e->pval = NULL;
  e->plen = 0;
  e->pend = PEND_DEL; /* a key the batch created: a harmless delete */
  return 0;
}

/* ---- flush -------------------------------------------------------------- */

typedef struct {
  const char *topic;
  const kent_t *e;
} ref_t;

static int ref_cmp(const void *a, const void *b) {
  const ref_t *x = a, *y = b;
  int c = strcmp(x->topic, y->topic);
  if (c != 0)
    return c;
  if (x->e->h.partition != y->e->h.partition)
    return x->e->h.partition < y->e->h.partition ? -1 : 1;
  return strcmp(x->e->h.key, y->e->h.key);
}

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

int sb_kstate_flush(sb_kstate_t *ks, sb_pg_t *pg, sb_err_t *err) {
  if (ks->dirty.n == 0)
    return 0;
  ref_t *refs = malloc(ks->dirty.n * sizeof *refs);
  if (refs == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  for (size_t i = 0; i < ks->dirty.n; i++) {
    const kent_t *e = sb_kmap_at(&ks->map, ks->dirty.idx[i]);
    refs[i] = (ref_t){sb_kmap_topic_name(&ks->map, e->h.topic), e};
  }
  qsort(refs, ks->dirty.n, sizeof *refs, ref_cmp);
  sb_text_t arr[4] = {{0}};
  for (int k = 0; k < 4; k++)
    sb_text_add(&arr[k], "{");
  for (size_t i = 0; i < ks->dirty.n; i++) {
    const kent_t *e = refs[i].e;
    char part[16];
    snprintf(part, sizeof part, "%d", (int)e->h.partition);
    sb_text_pg_elem(&arr[0], refs[i].topic);
    sb_text_pg_elem(&arr[1], part);
    sb_text_pg_elem(&arr[2], e->h.key);
    const char *sep = i == 0 ? "" : ",";
    if (e->pend == PEND_DEL) {
      sb_text_add(&arr[3], "%sNULL", sep);
    } else {
      sb_text_add(&arr[3], "%s\"", sep);
      put_hex(&arr[3], e->pval, e->plen);
      sb_text_put(&arr[3], "\"", 1);
    }
  }
  free(refs);
  int failed = 0;
  for (int k = 0; k < 4; k++) {
    sb_text_add(&arr[k], "}");
    failed |= arr[k].failed;
  }
  int rc;
  if (failed)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  else
    /* deletes and upserts in one statement: the CTE's DELETE and the
     * INSERT touch different keys (each key is in the arrays once) */
    rc = sb_pg_exec(
        pg,
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
        5,
        (const char *const[]){ks->schema, arr[0].s, arr[1].s, arr[2].s,
                              arr[3].s},
        err);
  for (int k = 0; k < 4; k++)
    sb_text_free(&arr[k]);
  if (rc != 0)
    sb_err_prefix(err, "keyed state of %s: ", ks->schema);
  return rc;
}

/* ---- end of a batch ------------------------------------------------------ */

/* A dirty entry left with no value is removed, and its cost given back. */
static int gone(void *item, void *arg) {
  kent_t *e = item;
  sb_kstate_t *ks = arg;
  if (e->has)
    return 0;
  ks->bytes -= entry_cost(ks, e->h.klen);
  return 1;
}

static void sweep_dirty(sb_kstate_t *ks) {
  sb_kmap_dirty_sweep(&ks->map, &ks->dirty, gone, ks);
}

void sb_kstate_committed(sb_kstate_t *ks) {
  for (size_t i = 0; i < ks->dirty.n; i++) {
    kent_t *e = sb_kmap_at(&ks->map, ks->dirty.idx[i]);
    ks->bytes -= e->len;
    free(e->val);
    e->val = e->pval; /* ownership moved; NULL after a delete */
    e->len = e->plen;
    e->has = e->pend == PEND_PUT;
    e->pval = NULL;
    e->plen = 0;
    e->pend = PEND_NONE;
  }
  sweep_dirty(ks);
}

void sb_kstate_abort(sb_kstate_t *ks) {
  for (size_t i = 0; i < ks->dirty.n; i++) {
    kent_t *e = sb_kmap_at(&ks->map, ks->dirty.idx[i]);
    ks->bytes -= e->plen;
    free(e->pval);
    e->pval = NULL;
    e->plen = 0;
    e->pend = PEND_NONE;
  }
  sweep_dirty(ks);
}

static void drop_topic_partition(sb_kstate_t *ks, int t, int32_t partition) {
  if (t < 0)
    return;
  for (size_t i = ks->map.n; i-- > 0;) {
    kent_t *e = sb_kmap_at(&ks->map, i);
    if (e->h.topic != t || e->h.partition != partition)
      continue;
    ks->bytes -= e->len + e->plen + entry_cost(ks, e->h.klen);
    free(e->val);
    free(e->pval);
    sb_kmap_remove(&ks->map, i);
  }
  ks->dirty.n = 0; /* indices moved: list the pending entries again */
  for (size_t i = 0; i < ks->map.n; i++)
    if (((kent_t *)sb_kmap_at(&ks->map, i))->pend != PEND_NONE)
      ks->dirty.idx[ks->dirty.n++] = (uint32_t)i;
}

void sb_kstate_drop(sb_kstate_t *ks, const char *topic, int32_t partition) {
  drop_topic_partition(ks, sb_kmap_topic_find(&ks->map, topic), partition);
}

/* ---- load ------------------------------------------------------------- */

static int load_row(sb_kstate_t *ks, int t, const sb_pg_rows_t *rows, int r,
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
                      ks->schema);
  size_t klen = strlen(key), hlen = strlen(hex);
  size_t len = hlen >= 2 ? (hlen - 2) / 2 : 0;
  if (klen == 0 || klen > SB_KSTATE_KEY_MAX || len > SB_KSTATE_VALUE_MAX)
    return sb_err_set(err, SB_ESTATE,
                      "keyed state of %s: stored key %.64s of partition %lld "
                      "is past the bounds (key 1 to %d bytes, value at most "
                      "%u)",
                      ks->schema, key, p, SB_KSTATE_KEY_MAX,
                      SB_KSTATE_VALUE_MAX);
  size_t want = ks->bytes + len + entry_cost(ks, klen);
  if (want > ks->budget)
    return over_budget(ks, want, err);
  unsigned char *val = NULL;
  if (len > 0 && (val = malloc(len)) == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  if (len > 0 && sb_bytea_unhex(hex, val, len) != (long)len) {
    free(val);
    return sb_err_set(err, SB_EPG,
                      "keyed state of %s: stored value of key "
                      "%.64s is not bytea hex",
                      ks->schema, key);
  }
  size_t idx;
  int created;
  if (sb_kmap_insert(&ks->map, t, (int32_t)p, key, klen, &idx, &created, err) !=
      0) {
    free(val);
    return err->code;
  }
  kent_t *e = sb_kmap_at(&ks->map, idx);
  free(e->val); /* none: each key is stored once */
  e->val = val;
  e->len = len;
  e->has = 1;
  if (created)
    ks->bytes += entry_cost(ks, klen);
  ks->bytes += len;
  return 0;
}

int sb_kstate_load(sb_kstate_t *ks, sb_pg_t *pg, const char *topic,
                   const int32_t *partitions, size_t n, sb_err_t *err) {
  int t = sb_kmap_topic(&ks->map, topic, err);
  if (t < 0)
    return err->code;
  sb_text_t parts = {0};
  sb_text_add(&parts, "{");
  for (size_t i = 0; i < n; i++) {
    if (partitions[i] < 0) {
      sb_text_free(&parts);
      return sb_err_set(err, SB_EINVAL,
                        "keyed state of %s: partition %d of "
                        "%s",
                        ks->schema, (int)partitions[i], topic);
    }
    drop_topic_partition(ks, t, partitions[i]);
    sb_text_add(&parts, "%s%d", i ? "," : "", (int)partitions[i]);
  }
  sb_text_add(&parts, "}");
  if (parts.failed) {
    sb_text_free(&parts);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  sb_pg_rows_t *rows = NULL;
  int rc = sb_pg_rows(pg,
                      "SELECT partition, key, value FROM sb.processor_state "
                      "WHERE schema = $1 AND topic = $2 AND partition = "
                      "ANY($3::int[])",
                      3, (const char *const[]){ks->schema, topic, parts.s},
                      &rows, err);
  sb_text_free(&parts);
  for (int r = 0; rc == 0 && r < sb_pg_rows_count(rows); r++)
    rc = load_row(ks, t, rows, r, err);
  sb_pg_rows_free(rows);
  if (rc != 0) {
    for (size_t i = 0; i < n; i++)
      drop_topic_partition(ks, t, partitions[i]);
    sb_err_prefix(err, "loading the keyed state of %s: ", topic);
  }
  return rc;
}

size_t sb_kstate_bytes(const sb_kstate_t *ks) { return ks->bytes; }
size_t sb_kstate_count(const sb_kstate_t *ks) { return ks->map.n; }
size_t sb_kstate_dirty(const sb_kstate_t *ks) { return ks->dirty.n; }

int sb_kstate_rename_schema(sb_pg_t *pg, const char *from, const char *to,
                            sb_err_t *err) {
  if (sb_pg_exec(pg, "DELETE FROM sb.processor_state WHERE schema = $1", 1,
                 (const char *const[]){to}, err) != 0 ||
      sb_pg_exec(pg,
                 "UPDATE sb.processor_state SET schema = $2 WHERE "
                 "schema = $1",
                 2, (const char *const[]){from, to}, err) != 0) {
    sb_err_prefix(err, "moving the keyed state of %s to %s: ", from, to);
    return err->code;
  }
  return 0;
}
