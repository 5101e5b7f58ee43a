/* Timers per partition for one processor: see sb_timers.h. */
#include "sb_timers.h"

#include "sb_kstore.h"
#include "sb_util.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PEND_NONE, PEND_SET, PEND_DEL }; /* the timers' h.pend */

typedef struct {
  sb_kmap_hdr_t h;     /* h.has: a committed timer exists */
  int64_t due, pdue;   /* committed, pending */
  uint8_t kind, pkind; /* sb_timer_kind_t */
} tent_t;

/* A partition's event time: committed and pending; -1 before any event. */
typedef struct {
  uint16_t topic;
  int32_t partition;
  int64_t et, pet;
} part_t;

struct sb_timers_s {
  sb_kstore_t s; /* first: the kind's callbacks cast it back */
  part_t *parts;
  size_t nparts, parts_cap, last_part;
  /* while valid, no timer is due before these: the earliest wall and
   * event due times (or earlier), the greatest pending event time (or
   * greater). Stale in the safe direction; recomputed by a scan. */
  int valid;
  int64_t next_wall, next_event, max_pet;
};

static void drop_partition(sb_kstore_t *s, int tp, int32_t partition);
static int load_row(sb_kstore_t *s, int tp, const sb_pg_rows_t *rows, int r,
                    sb_err_t *err);
static void flush_entry(sb_text_t *arr, const sb_kmap_hdr_t *h,
                        const char *sep);
static void flush_parts(sb_kstore_t *s, sb_text_t *arr);

static const sb_kstore_kind_t timers_kind = {
    .what = "timers",
    .budget_key = SB_TIMERS_BUDGET_KEY,
    .advice = "keep fewer timers",
    .key_max = SB_TIMER_KEY_MAX,
    .item_size = sizeof(tent_t),
    .drop_partition = drop_partition,
    .load_row = load_row,
    .flush_sql =
        "WITH u AS (SELECT * FROM unnest($2::text[], $3::int[], $4::text[], "
        "$5::text[], $6::bigint[]) WITH ORDINALITY AS u(topic, part, key, "
        "kind, due, ord)), "
        "d AS (DELETE FROM sb.processor_timers s USING u WHERE u.due IS NULL "
        "AND s.schema = $1 AND s.topic = u.topic AND s.partition = u.part "
        "AND s.key = u.key), "
        "e AS (INSERT INTO sb.processor_event_time (schema, topic, "
        "partition, event_time_us) SELECT $1, et, ep, ev FROM "
        "unnest($7::text[], $8::int[], $9::bigint[]) AS e(et, ep, ev) ON "
        "CONFLICT (schema, topic, partition) DO UPDATE SET event_time_us = "
        "EXCLUDED.event_time_us) "
        "INSERT INTO sb.processor_timers (schema, topic, partition, key, "
        "kind, due_us) SELECT $1, topic, part, key, kind, due FROM u WHERE "
        "due IS NOT NULL ORDER BY ord ON CONFLICT (schema, topic, partition, "
        "key) DO UPDATE SET kind = EXCLUDED.kind, due_us = EXCLUDED.due_us",
    .flush_cols = 5,
    .flush_arrays = 8,
    .flush_entry = flush_entry,
    .flush_more = flush_parts,
    .load_sql =
        "SELECT 't', partition, key, kind, due_us FROM sb.processor_timers "
        "WHERE schema = $1 AND topic = $2 AND partition = ANY($3::int[]) "
        "UNION ALL SELECT 'e', partition, NULL, NULL, event_time_us FROM "
        "sb.processor_event_time WHERE schema = $1 AND topic = $2 AND "
        "partition = ANY($3::int[])",
};

int sb_timers_new(const char *schema, size_t byte_budget, sb_timers_t **out,
                  sb_err_t *err) {
  sb_kstore_t *s;
  int rc = sb_kstore_new(&timers_kind, sizeof(sb_timers_t), schema, byte_budget,
                         &s, err);
  if ((*out = (sb_timers_t *)s) != NULL)
    (*out)->max_pet = -1;
  return rc;
}

void sb_timers_free(sb_timers_t *t) {
  if (t == NULL)
    return;
  sb_kstore_free(&t->s);
  free(t->parts);
  free(t);
}

/* ---- partitions' event time --------------------------------------------- */

static part_t *part_find(sb_timers_t *t, int topic, int32_t partition) {
  if (t->last_part < t->nparts && t->parts[t->last_part].topic == topic &&
      t->parts[t->last_part].partition == partition)
    return &t->parts[t->last_part];
  for (size_t i = 0; i < t->nparts; i++)
    if (t->parts[i].topic == topic && t->parts[i].partition == partition) {
      t->last_part = i;
      return &t->parts[i];
    }
  return NULL;
}

static int part_add(sb_timers_t *t, int topic, int32_t partition, part_t **out,
                    sb_err_t *err) {
  if ((*out = part_find(t, topic, partition)) != NULL)
    return 0;
  if (t->s.bytes + sizeof(part_t) > t->s.budget)
    return sb_kstore_over_budget(&t->s, t->s.bytes + sizeof(part_t),
                                 "(a partition)", err);
  if (t->nparts == t->parts_cap) {
    size_t cap = t->parts_cap ? t->parts_cap * 2 : 16;
    part_t *p = realloc(t->parts, cap * sizeof *p);
    if (p == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    t->parts = p;
    t->parts_cap = cap;
  }
  t->parts[t->nparts] = (part_t){(uint16_t)topic, partition, -1, -1};
  t->s.bytes += sizeof(part_t);
  *out = &t->parts[t->nparts++];
  return 0;
}

int sb_timers_advance(sb_timers_t *t, const char *topic, int32_t partition,
                      int64_t event_time_us, sb_err_t *err) {
  if (sb_kstore_check_partition(&t->s, topic, partition, err) != 0)
    return err->code;
  int tp = sb_kmap_topic(&t->s.map, topic, err);
  part_t *p;
  if (tp < 0 || part_add(t, tp, partition, &p, err) != 0)
    return err->code;
  if (event_time_us > p->pet)
    p->pet = event_time_us;
  if (event_time_us > t->max_pet)
    t->max_pet = event_time_us;
  return 0;
}

int64_t sb_timers_event_time(const sb_timers_t *t, const char *topic,
                             int32_t partition) {
  const part_t *p = part_find((sb_timers_t *)t,
                              sb_kmap_topic_find(&t->s.map, topic), partition);
  return p ? p->pet : -1;
}

/* ---- set, cancel, get ------------------------------------------------- */

int sb_timers_set(sb_timers_t *t, const char *topic, int32_t partition,
                  const char *key, int64_t due_us, sb_timer_kind_t kind,
                  sb_err_t *err) {
  size_t klen;
  if (sb_kstore_check_key(&t->s, topic, partition, key, &klen, err) != 0)
    return err->code;
  if (due_us < 0 || due_us > SB_TIMER_DUE_MAX)
    return sb_err_set(err, SB_EINVAL,
                      "timers of %s: due time %lld of key %.64s is outside "
                      "0 to %lld microseconds since 1970",
                      t->s.schema, (long long)due_us, key,
                      (long long)SB_TIMER_DUE_MAX);
  if (kind != SB_TIMER_WALL && kind != SB_TIMER_EVENT)
    return sb_err_set(err, SB_EINVAL, "timers of %s: kind %d of key %.64s",
                      t->s.schema, (int)kind, key);
  int tp = sb_kmap_topic(&t->s.map, topic, err);
  if (tp < 0)
    return err->code;
  size_t idx;
  if (sb_kmap_dirty_reserve(&t->s.dirty, err) != 0 ||
      sb_kstore_add(&t->s, tp, partition, key, klen, 0, &idx, err) != 0)
    return err->code;
  tent_t *e = sb_kmap_at(&t->s.map, idx);
  sb_kstore_mark(&t->s, idx, PEND_SET);
  e->pdue = due_us;
  e->pkind = (uint8_t)kind;
  if (kind == SB_TIMER_WALL && due_us < t->next_wall)
    t->next_wall = due_us;
  if (kind == SB_TIMER_EVENT && due_us < t->next_event)
    t->next_event = due_us;
  return 0;
}

int sb_timers_cancel(sb_timers_t *t, const char *topic, int32_t partition,
                     const char *key, sb_err_t *err) {
  size_t klen;
  if (sb_kstore_check_key(&t->s, topic, partition, key, &klen, err) != 0)
    return err->code;
  long at = sb_kstore_find(&t->s, topic, partition, key, klen);
  if (at < 0)
    return 0;
  if (sb_kmap_dirty_reserve(&t->s.dirty, err) != 0)
    return err->code;
  sb_kstore_mark(&t->s, (size_t)at, PEND_DEL);
  return 0;
}

/* The timer in effect for this batch: 1 with due and kind, or 0. */
static int effective(const tent_t *e, int64_t *due, int *kind) {
  if (e->h.pend == PEND_SET) {
    *due = e->pdue;
    *kind = e->pkind;
    return 1;
  }
  if (e->h.pend == PEND_NONE && e->h.has) {
    *due = e->due;
    *kind = e->kind;
    return 1;
  }
  return 0;
}

int sb_timers_get(const sb_timers_t *t, const char *topic, int32_t partition,
                  const char *key, int64_t *due_us, sb_timer_kind_t *kind) {
  long at = sb_kstore_find(&t->s, topic, partition, key, strlen(key));
  int64_t d;
  int k;
  if (at < 0 || !effective(sb_kmap_at(&t->s.map, (size_t)at), &d, &k))
    return SB_ENOENT;
  if (due_us)
    *due_us = d;
  if (kind)
    *kind = (sb_timer_kind_t)k;
  return 0;
}

/* ---- firing ------------------------------------------------------------- */

typedef struct {
  int64_t due;
  const char *key, *topic;
  int32_t partition;
  uint32_t idx;
  int kind;
} fire_t;

static int fire_cmp(const void *a, const void *b) {
  const fire_t *x = a, *y = b;
  if (x->due != y->due)
    return x->due < y->due ? -1 : 1;
  int c = strcmp(x->key, y->key);
  if (c == 0)
    c = strcmp(x->topic, y->topic);
  if (c == 0 && x->partition != y->partition)
    c = x->partition < y->partition ? -1 : 1;
  return c;
}

int sb_timers_maybe_due(const sb_timers_t *t, int64_t now_us) {
  if (t->s.map.n == 0)
    return 0;
  return !(t->valid && t->next_wall > now_us && t->next_event > t->max_pet);
}

int sb_timers_due(sb_timers_t *t, int64_t now_us, sb_timer_cb cb, void *arg,
                  size_t *fired) {
  if (fired)
    *fired = 0;
  if (t->valid && t->next_wall > now_us && t->next_event > t->max_pet)
    return 0; /* nothing can be due */
  t->max_pet = -1;
  for (size_t i = 0; i < t->nparts; i++)
    if (t->parts[i].pet > t->max_pet)
      t->max_pet = t->parts[i].pet;
  t->next_wall = t->next_event = INT64_MAX;
  fire_t *list = NULL;
  size_t n = 0, cap = 0;
  for (size_t i = 0; i < t->s.map.n; i++) {
    const tent_t *e = sb_kmap_at(&t->s.map, i);
    int64_t due;
    int kind;
    if (!effective(e, &due, &kind))
      continue;
    int now;
    if (kind == SB_TIMER_WALL)
      now = due <= now_us;
    else {
      const part_t *p = part_find(t, e->h.topic, e->h.partition);
      now = p != NULL && due <= p->pet;
    }
    if (!now) {
      int64_t *next = kind == SB_TIMER_WALL ? &t->next_wall : &t->next_event;
      if (due < *next)
        *next = due;
      continue;
    }
    if (n == cap) {
      size_t c2 = cap ? cap * 2 : 64;
      fire_t *l2 = realloc(list, c2 * sizeof *l2);
      if (l2 == NULL) {
        free(list);
        return SB_ENOMEM; /* the cache stays invalid */
      }
      list = l2;
      cap = c2;
    }
    list[n++] = (fire_t){due,
                         e->h.key,
                         sb_kmap_topic_name(&t->s.map, e->h.topic),
                         e->h.partition,
                         (uint32_t)i,
                         kind};
  }
  t->valid = 1;
  if (n > 1) /* list is NULL for none: qsort takes no NULL */
    qsort(list, n, sizeof *list, fire_cmp);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (sb_kmap_dirty_reserve(&t->s.dirty, NULL) != 0) {
      rc = SB_ENOMEM;
      break;
    }
    /* cb may set timers: items move, indices and keys do not */
    tent_t *e = sb_kmap_at(&t->s.map, list[i].idx);
    int64_t due;
    int kind;
    /* an earlier call may have cancelled or moved it: then it is not
     * fired now (a moved one is looked at again by the next call) */
    if (!effective(e, &due, &kind) || due != list[i].due ||
        kind != list[i].kind)
      continue;
    sb_kstore_mark(&t->s, list[i].idx, PEND_DEL);
    sb_timer_t timer = {list[i].topic, list[i].partition, list[i].key, due,
                        (sb_timer_kind_t)kind};
    rc = cb(arg, &timer);
    if (fired)
      (*fired)++;
  }
  free(list);
  if (rc != 0)
    t->valid = 0; /* timers listed after the failure are still due */
  return rc;
}

/* ---- flush -------------------------------------------------------------- */

/* the timer's kind and due time, NULL for a delete */
static void flush_entry(sb_text_t *arr, const sb_kmap_hdr_t *h,
                        const char *sep) {
  const tent_t *e = (const tent_t *)h;
  if (e->h.pend == PEND_DEL) {
    sb_text_add(&arr[3], "%sNULL", sep);
    sb_text_add(&arr[4], "%sNULL", sep);
  } else {
    sb_text_add(&arr[3], "%s%s", sep,
                e->pkind == SB_TIMER_EVENT ? "event" : "wall");
    sb_text_add(&arr[4], "%s%lld", sep, (long long)e->pdue);
  }
}

/* the partitions whose event time moved */
static void flush_parts(sb_kstore_t *s, sb_text_t *arr) {
  const sb_timers_t *t = (const sb_timers_t *)s;
  size_t k = 0;
  for (size_t i = 0; i < t->nparts; i++) {
    const part_t *p = &t->parts[i];
    if (p->pet == p->et)
      continue;
    const char *sep = k++ == 0 ? "" : ",";
    sb_text_pg_elem(&arr[5], sb_kmap_topic_name(&s->map, p->topic));
    sb_text_add(&arr[6], "%s%d", sep, (int)p->partition);
    sb_text_add(&arr[7], "%s%lld", sep, (long long)p->pet);
  }
}

int sb_timers_flush(sb_timers_t *t, sb_pg_t *pg, sb_err_t *err) {
  size_t moved = 0;
  for (size_t i = 0; i < t->nparts; i++)
    moved += t->parts[i].pet != t->parts[i].et;
  if (t->s.dirty.n == 0 && moved == 0)
    return 0;
  return sb_kstore_flush(&t->s, pg, err);
}

/* ---- end of a batch ------------------------------------------------------ */

void sb_timers_committed(sb_timers_t *t) {
  for (size_t i = 0; i < t->s.dirty.n; i++) {
    tent_t *e = sb_kmap_at(&t->s.map, t->s.dirty.idx[i]);
    e->h.has = e->h.pend == PEND_SET;
    e->due = e->pdue;
    e->kind = e->pkind;
    e->h.pend = PEND_NONE;
  }
  sb_kstore_sweep(&t->s);
  for (size_t i = 0; i < t->nparts; i++)
    t->parts[i].et = t->parts[i].pet;
  /* what is in effect did not change: the cache holds */
}

void sb_timers_abort(sb_timers_t *t) {
  for (size_t i = 0; i < t->s.dirty.n; i++)
    ((tent_t *)sb_kmap_at(&t->s.map, t->s.dirty.idx[i]))->h.pend = PEND_NONE;
  sb_kstore_sweep(&t->s);
  for (size_t i = 0; i < t->nparts; i++)
    t->parts[i].pet = t->parts[i].et;
  t->valid = 0; /* fired timers are back */
}

/* the store dropped the partition's timers: its event time goes too */
static void drop_partition(sb_kstore_t *s, int tp, int32_t partition) {
  sb_timers_t *t = (sb_timers_t *)s;
  for (size_t i = 0; i < t->nparts; i++)
    if (t->parts[i].topic == tp && t->parts[i].partition == partition) {
      t->parts[i] = t->parts[--t->nparts];
      s->bytes -= sizeof(part_t);
      break;
    }
  /* fewer timers and partitions only make the cache stale the safe way */
}

void sb_timers_drop(sb_timers_t *t, const char *topic, int32_t partition) {
  sb_kstore_drop(&t->s, sb_kmap_topic_find(&t->s.map, topic), partition);
}

/* ---- load ------------------------------------------------------------- */

static int load_row(sb_kstore_t *s, int tp, const sb_pg_rows_t *rows, int r,
                    sb_err_t *err) {
  sb_timers_t *t = (sb_timers_t *)s;
  const char *what = sb_pg_rows_get(rows, r, 0);
  const char *ptxt = sb_pg_rows_get(rows, r, 1);
  const char *key = sb_pg_rows_get(rows, r, 2);
  const char *kind = sb_pg_rows_get(rows, r, 3);
  const char *vtxt = sb_pg_rows_get(rows, r, 4);
  long long p, v;
  if (what == NULL || ptxt == NULL || vtxt == NULL ||
      sb_parse_ll(ptxt, &p) != 0 || p < 0 || p > INT32_MAX ||
      sb_parse_ll(vtxt, &v) != 0)
    return sb_err_set(err, SB_EPG, "timers of %s: a stored row is malformed",
                      s->schema);
  if (what[0] == 'e') {
    part_t *pt;
    if (part_add(t, tp, (int32_t)p, &pt, err) != 0)
      return err->code;
    pt->et = pt->pet = v;
    if (v > t->max_pet)
      t->max_pet = v;
    return 0;
  }
  size_t klen;
  if (key == NULL || kind == NULL || v < 0 || v > SB_TIMER_DUE_MAX)
    return sb_err_set(err, SB_ESTATE,
                      "timers of %s: stored timer %.64s of "
                      "partition %lld is past the bounds",
                      s->schema, key ? key : "(null)", p);
  if (sb_kstore_check_key(s, sb_kmap_topic_name(&s->map, (uint16_t)tp),
                          (int32_t)p, key, &klen, err) != 0) {
    sb_err_prefix(err, "a stored timer: ");
    return err->code;
  }
  size_t idx;
  if (sb_kstore_add(s, tp, (int32_t)p, key, klen, 0, &idx, err) != 0)
    return err->code;
  tent_t *e = sb_kmap_at(&s->map, idx);
  e->h.has = 1;
  e->due = v;
  e->kind = strcmp(kind, "event") == 0 ? SB_TIMER_EVENT : SB_TIMER_WALL;
  return 0;
}

int sb_timers_load(sb_timers_t *t, sb_pg_t *pg, const char *topic,
                   const int32_t *partitions, size_t n, sb_err_t *err) {
  t->valid = 0;
  return sb_kstore_load(&t->s, pg, topic, partitions, n, err);
}

size_t sb_timers_count(const sb_timers_t *t) { return t->s.map.n; }
size_t sb_timers_bytes(const sb_timers_t *t) { return t->s.bytes; }

int sb_timers_rename_schema(sb_pg_t *pg, const char *from, const char *to,
                            sb_err_t *err) {
  static const char *const tables[] = {"sb.processor_timers",
                                       "sb.processor_event_time"};
  return sb_kstore_rename_schema(pg, "timers", tables, SB_ARRAY_LEN(tables),
                                 from, to, err);
}

/* ---- ids of events emitted from a timer ---------------------------------- */

int sb_timer_event_id(const char *processor, const char *key, int64_t due_us,
                      const char *discriminator, char out[SB_ULID_LEN + 1],
                      sb_err_t *err) {
  if (processor == NULL || key == NULL || discriminator == NULL)
    return sb_err_set(err, SB_EINVAL,
                      "timer event id: no processor, key or "
                      "discriminator");
  if (due_us < 0 || due_us > SB_TIMER_DUE_MAX)
    return sb_err_set(err, SB_EINVAL,
                      "timer event id: due time %lld out of "
                      "range",
                      (long long)due_us);
  /* the parts NUL-separated (none holds a NUL): no two tuples give one
   * input; "sb-timer" keeps these apart from other derived ids */
  char due[24];
  int dlen = snprintf(due, sizeof due, "%lld", (long long)due_us);
  const struct {
    const void *p;
    size_t n;
  } parts[] = {{"sb-timer", 9},
               {processor, strlen(processor) + 1},
               {key, strlen(key) + 1},
               {due, (size_t)dlen + 1},
               {discriminator, strlen(discriminator)}};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
  for (size_t i = 0; ok && i < SB_ARRAY_LEN(parts); i++)
    ok = EVP_DigestUpdate(ctx, parts[i].p, parts[i].n) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok)
    return sb_err_set(err, SB_ECRYPTO, "timer event id: SHA-256 failed");
  sb_ulid_make((uint64_t)(due_us / 1000), md, out);
  return 0;
}
