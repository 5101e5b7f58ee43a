/* What keyed state and timers share: see sb_kstore.h. */
#include "sb_kstore.h"

#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int schema_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > SB_KSTORE_SCHEMA_MAX || s[0] < 'a' || s[0] > 'z')
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
          s[i] == '_'))
      return 0;
  return 1;
}

int sb_kstore_new(const sb_kstore_kind_t *kind, size_t owner_size,
                  const char *schema, size_t byte_budget, sb_kstore_t **out,
                  sb_err_t *err) {
  *out = NULL;
  if (schema == NULL || !schema_valid(schema))
    return sb_err_set(err, SB_EINVAL,
                      "%s: schema name '%s' is not [a-z][a-z0-9_]* of at "
                      "most %d bytes",
                      kind->what, schema ? schema : "(null)",
                      SB_KSTORE_SCHEMA_MAX);
  sb_kstore_t *s = calloc(1, owner_size);
  if (s == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  s->kind = kind;
  snprintf(s->schema, sizeof s->schema, "%s", schema);
  s->budget = byte_budget;
  if (sb_kmap_init(&s->map, kind->item_size, err) != 0) {
    sb_kstore_free(s);
    free(s);
    return err->code;
  }
  *out = s;
  return 0;
}

void sb_kstore_free(sb_kstore_t *s) {
  if (s == NULL)
    return;
  for (size_t i = 0; s->kind->release != NULL && i < s->map.n; i++)
    s->kind->release(sb_kmap_at(&s->map, i));
  sb_kmap_free(&s->map);
  sb_kmap_dirty_free(&s->dirty);
}

/* ---- checks and the budget ----------------------------------------------- */

int sb_kstore_check_partition(const sb_kstore_t *s, const char *topic,
                              int32_t partition, sb_err_t *err) {
  if (partition >= 0)
    return 0;
  return sb_err_set(err, SB_EINVAL, "%s of %s: partition %d of %s",
                    s->kind->what, s->schema, (int)partition,
                    topic ? topic : "(null)");
}

int sb_kstore_check_key(const sb_kstore_t *s, const char *topic,
                        int32_t partition, const char *key, size_t *klen,
                        sb_err_t *err) {
  const char *what = s->kind->what;
  if (topic == NULL || key == NULL)
    return sb_err_set(err, SB_EINVAL, "%s of %s: no topic or key", what,
                      s->schema);
  if (sb_kstore_check_partition(s, topic, partition, err) != 0)
    return err->code;
  *klen = strnlen(key, s->kind->key_max + 1);
  if (*klen == 0 || *klen > s->kind->key_max)
    return sb_err_set(err, SB_EINVAL,
                      "%s of %s: a key is 1 to %zu bytes (%s partition %d: "
                      "%s)",
                      what, s->schema, s->kind->key_max, topic, (int)partition,
                      *klen == 0 ? "an empty key" : "a longer one");
  if (!sb_utf8_valid(key, *klen))
    return sb_err_set(err, SB_EINVAL,
                      "%s of %s: a key is UTF-8 text (%s partition %d)", what,
                      s->schema, topic, (int)partition);
  return 0;
}

long sb_kstore_find(const sb_kstore_t *s, const char *topic, int32_t partition,
                    const char *key, size_t klen) {
  return sb_kmap_find(&s->map, sb_kmap_topic_find(&s->map, topic), partition,
                      key, klen);
}

size_t sb_kstore_entry_cost(const sb_kstore_t *s, size_t klen) {
  return sb_kmap_item_cost(&s->map) + klen + sizeof(uint32_t);
}

int sb_kstore_over_budget(const sb_kstore_t *s, size_t want, const char *key,
                          sb_err_t *err) {
  return sb_err_set(err, SB_ENOMEM,
                    "%s of processor schema %s would take %zu bytes (at key "
                    "%.64s), over %s (%zu bytes): raise it, or %s",
                    s->kind->what, s->schema, want, key, s->kind->budget_key,
                    s->budget, s->kind->advice);
}

int sb_kstore_add(sb_kstore_t *s, int topic, int32_t partition, const char *key,
                  size_t klen, size_t extra, size_t *idx, sb_err_t *err) {
  size_t cost = sb_kstore_entry_cost(s, klen);
  size_t want = s->bytes + extra;
  if (sb_kmap_find(&s->map, topic, partition, key, klen) < 0)
    want += cost;
  if (want > s->budget)
    return sb_kstore_over_budget(s, want, key, err);
  int created;
  if (sb_kmap_insert(&s->map, topic, partition, key, klen, idx, &created,
                     err) != 0)
    return err->code;
  if (created)
    s->bytes += cost;
  return 0;
}

/* ---- the end of a batch ----------------------------------------------------
 */

void sb_kstore_mark(sb_kstore_t *s, size_t idx, uint8_t pend) {
  sb_kmap_hdr_t *h = sb_kmap_at(&s->map, idx);
  if (h->pend == 0)
    s->dirty.idx[s->dirty.n++] = (uint32_t)idx;
  h->pend = pend;
}

/* A dirty entry left with no committed value is removed, and its cost
 * given back. */
static int gone(void *item, void *arg) {
  sb_kmap_hdr_t *h = item;
  sb_kstore_t *s = arg;
  if (h->has)
    return 0;
  s->bytes -= sb_kstore_entry_cost(s, h->klen);
  return 1;
}

void sb_kstore_sweep(sb_kstore_t *s) {
  sb_kmap_dirty_sweep(&s->map, &s->dirty, gone, s);
}

void sb_kstore_drop(sb_kstore_t *s, int topic, int32_t partition) {
  if (topic < 0)
    return;
  for (size_t i = s->map.n; i-- > 0;) {
    sb_kmap_hdr_t *h = sb_kmap_at(&s->map, i);
    if (h->topic != topic || h->partition != partition)
      continue;
    s->bytes -= sb_kstore_entry_cost(s, h->klen);
    if (s->kind->release != NULL)
      s->bytes -= s->kind->release(h);
    sb_kmap_remove(&s->map, i);
  }
  s->dirty.n = 0; /* indices moved: list the pending entries again */
  for (size_t i = 0; i < s->map.n; i++)
    if (((sb_kmap_hdr_t *)sb_kmap_at(&s->map, i))->pend != 0)
      s->dirty.idx[s->dirty.n++] = (uint32_t)i;
  if (s->kind->drop_partition != NULL)
    s->kind->drop_partition(s, topic, partition);
}

/* ---- flush ------------------------------------------------------------------
 */

typedef struct {
  const char *topic;
  const sb_kmap_hdr_t *e;
} ref_t;

static int ref_cmp(const void *a, const void *b) {
  const ref_t *x = a, *y = b;
  int c = strcmp(x->topic, y->topic);
  if (c != 0)
    return c;
  if (x->e->partition != y->e->partition)
    return x->e->partition < y->e->partition ? -1 : 1;
  return strcmp(x->e->key, y->e->key);
}

/* The dirty entries sorted by topic, partition and key, so that writers
 * lock rows in one order; *out is the caller's (free). */
static int sorted_dirty(const sb_kstore_t *s, ref_t **out, sb_err_t *err) {
  ref_t *refs = malloc((s->dirty.n + 1) * sizeof *refs);
  if (refs == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  for (size_t i = 0; i < s->dirty.n; i++) {
    const sb_kmap_hdr_t *e = sb_kmap_at(&s->map, s->dirty.idx[i]);
    refs[i] = (ref_t){sb_kmap_topic_name(&s->map, e->topic), e};
  }
  if (s->dirty.n > 1)
    qsort(refs, s->dirty.n, sizeof *refs, ref_cmp);
  *out = refs;
  return 0;
}

int sb_kstore_flush(sb_kstore_t *s, sb_pg_t *pg, sb_err_t *err) {
  const sb_kstore_kind_t *k = s->kind;
  ref_t *refs = NULL;
  if (sorted_dirty(s, &refs, err) != 0)
    return err->code;
  sb_text_t arr[SB_KSTORE_COLS_MAX] = {{0}};
  for (int c = 0; c < k->flush_arrays; c++)
    sb_text_add(&arr[c], "{");
  for (size_t i = 0; i < s->dirty.n; i++) {
    const sb_kmap_hdr_t *e = refs[i].e;
    const char *sep = i == 0 ? "" : ",";
    sb_text_pg_elem(&arr[0], refs[i].topic);
    sb_text_add(&arr[1], "%s%d", sep, (int)e->partition);
    sb_text_pg_elem(&arr[2], e->key);
    k->flush_entry(arr, e, sep);
  }
  free(refs);
  if (k->flush_more != NULL)
    k->flush_more(s, arr);
  const char *params[1 + SB_KSTORE_COLS_MAX] = {s->schema};
  int failed = 0;
  for (int c = 0; c < k->flush_arrays; c++) {
    sb_text_add(&arr[c], "}");
    failed |= arr[c].failed;
    params[1 + c] = arr[c].s;
  }
  int rc;
  if (failed)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  else
    rc = sb_pg_exec(pg, k->flush_sql, 1 + k->flush_arrays, params, err);
  for (int c = 0; c < k->flush_arrays; c++)
    sb_text_free(&arr[c]);
  if (rc != 0)
    sb_err_prefix(err, "%s of %s: ", k->what, s->schema);
  return rc;
}

/* ---- load -------------------------------------------------------------------
 */

int sb_kstore_load(sb_kstore_t *s, sb_pg_t *pg, const char *topic,
                   const int32_t *partitions, size_t n, sb_err_t *err) {
  int t = sb_kmap_topic(&s->map, topic, err);
  if (t < 0)
    return err->code;
  sb_text_t parts = {0};
  sb_text_add(&parts, "{");
  for (size_t i = 0; i < n; i++) {
    if (sb_kstore_check_partition(s, topic, partitions[i], err) != 0) {
      sb_text_free(&parts);
      return err->code;
    }
    sb_kstore_drop(s, t, partitions[i]);
    sb_text_add(&parts, "%s%d", i ? "," : "", (int)partitions[i]);
  }
  sb_text_add(&parts, "}");
  if (parts.failed) {
    sb_text_free(&parts);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  sb_pg_rows_t *rows = NULL;
  int rc =
      sb_pg_rows(pg, s->kind->load_sql, 3,
                 (const char *const[]){s->schema, topic, parts.s}, &rows, err);
  sb_text_free(&parts);
  for (int r = 0; rc == 0 && r < sb_pg_rows_count(rows); r++)
    rc = s->kind->load_row(s, t, rows, r, err);
  sb_pg_rows_free(rows);
  if (rc != 0) {
    for (size_t i = 0; i < n; i++)
      sb_kstore_drop(s, t, partitions[i]);
    sb_err_prefix(err, "loading the %s of %s: ", s->kind->what, topic);
  }
  return rc;
}

int sb_kstore_rename_schema(sb_pg_t *pg, const char *what,
                            const char *const *tables, size_t n,
                            const char *from, const char *to, sb_err_t *err) {
  for (size_t i = 0; i < n; i++) {
    char del[96], upd[128];
    snprintf(del, sizeof del, "DELETE FROM %s WHERE schema = $1", tables[i]);
    snprintf(upd, sizeof upd, "UPDATE %s SET schema = $2 WHERE schema = $1",
             tables[i]);
    if (sb_pg_exec(pg, del, 1, (const char *const[]){to}, err) != 0 ||
        sb_pg_exec(pg, upd, 2, (const char *const[]){from, to}, err) != 0) {
      sb_err_prefix(err, "moving the %s of %s to %s: ", what, from, to);
      return err->code;
    }
  }
  return 0;
}
