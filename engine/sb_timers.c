/* Timers per partition for one processor: see sb_timers.h. */
#include "sb_timers.h"

#include "sb_kmap.h"
#include "sb_text.h"
#include "sb_util.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PEND_NONE, PEND_SET, PEND_DEL };

typedef struct {
  sb_kmap_hdr_t h;
  int64_t due, pdue;   /* committed, pending */
  uint8_t kind, pkind; /* sb_timer_kind_t */
  uint8_t has;         /* a committed timer exists */
  uint8_t pend;        /* PEND_*: what the batch did to it */
} tent_t;

/* A partition's event time: committed and pending; -1 before any event. */
typedef struct {
  uint16_t topic;
  int32_t partition;
  int64_t et, pet;
} part_t;

struct sb_timers_s {
  char schema[64];
  size_t budget, bytes;
  sb_kmap_t map;
  sb_kmap_dirty_t dirty; /* indices of the timers with pend != PEND_NONE */
  part_t *parts;
  size_t nparts, parts_cap, last_part;
  /* while valid, no timer is due before these: the earliest wall and
   * event due times (or earlier), the greatest pending event time (or
   * greater). Stale in the safe direction; recomputed by a scan. */
  int valid;
  int64_t next_wall, next_event, max_pet;
};

static size_t entry_cost(const sb_timers_t *t, size_t klen) {
  return sb_kmap_item_cost(&t->map) + klen + sizeof(uint32_t);
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

int sb_timers_new(const char *schema, size_t byte_budget, sb_timers_t **out,
                  sb_err_t *err) {
  *out = NULL;
  if (schema == NULL || !schema_valid(schema))
    return sb_err_set(err, SB_EINVAL,
                      "timers: schema name '%s' is not "
                      "[a-z][a-z0-9_]* of at most 63 bytes",
                      schema ? schema : "(null)");
  sb_timers_t *t = calloc(1, sizeof *t);
  if (t == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  snprintf(t->schema, sizeof t->schema, "%s", schema);
  t->budget = byte_budget;
  t->max_pet = -1;
  if (sb_kmap_init(&t->map, sizeof(tent_t), err) != 0) {
    free(t);
    return err->code;
  }
  *out = t;
  return 0;
}

void sb_timers_free(sb_timers_t *t) {
  if (t == NULL)
    return;
  sb_kmap_free(&t->map);
  sb_kmap_dirty_free(&t->dirty);
  free(t->parts);
  free(t);
}

static int over_budget(const sb_timers_t *t, size_t want, const char *key,
                       sb_err_t *err) {
  return sb_err_set(err, SB_ENOMEM,
                    "timers of processor schema %s would take %zu bytes "
                    "(at key %.64s), over " SB_TIMERS_BUDGET_KEY " (%zu "
                    "bytes): raise it, or keep fewer timers",
                    t->schema, want, key, t->budget);
}

static int check_key(const sb_timers_t *t, const char *topic, int32_t partition,
                     const char *key, size_t *klen, sb_err_t *err) {
  if (topic == NULL || key == NULL)
    return sb_err_set(err, SB_EINVAL, "timers of %s: no topic or key",
                      t->schema);
  if (partition < 0)
    return sb_err_set(err, SB_EINVAL, "timers of %s: partition %d of %s",
                      t->schema, (int)partition, topic);
  *klen = strnlen(key, SB_TIMER_KEY_MAX + 1);
  if (*klen == 0 || *klen > SB_TIMER_KEY_MAX)
    return sb_err_set(err, SB_EINVAL,
                      "timers of %s: a key is 1 to %d bytes (%s partition "
                      "%d: %s)",
                      t->schema, SB_TIMER_KEY_MAX, topic, (int)partition,
                      *klen == 0 ? "an empty key" : "a longer one");
  if (!sb_utf8_valid(key, *klen))
    return sb_err_set(err, SB_EINVAL,
                      "timers of %s: a key is UTF-8 text "
                      "(%s partition %d)",
                      t->schema, topic, (int)partition);
  return 0;
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
  if (t->bytes + sizeof(part_t) > t->budget)
    return over_budget(t, t->bytes + sizeof(part_t), "(a partition)", err);
  if (t->nparts == t->parts_cap) {
    size_t cap = t->parts_cap ? t->parts_cap * 2 : 16;
    part_t *p = realloc(t->parts, cap * sizeof *p);
    if (p == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    t->parts = p;
    t->parts_cap = cap;
  }
  t->parts[t->nparts] = (part_t){(uint16_t)topic, partition, -1, -1};
  t->bytes += sizeof(part_t);
  *out = &t->parts[t->nparts++];
  return 0;
}

int sb_timers_advance(sb_timers_t *t, const char *topic, int32_t partition,
                      int64_t event_time_us, sb_err_t *err) {
  if (partition < 0)
    return sb_err_set(err, SB_EINVAL, "timers of %s: partition %d of %s",
                      t->schema, (int)partition, topic);
  int tp = sb_kmap_topic(&t->map, topic, err);
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
                              sb_kmap_topic_find(&t->map, topic), partition);
  return p ? p->pet : -1;
}

/* ---- set, cancel, get ------------------------------------------------- */

int sb_timers_set(sb_timers_t *t, const char *topic, int32_t partition,
                  const char *key, int64_t due_us, sb_timer_kind_t kind,
                  sb_err_t *err) {
  size_t klen;
  if (check_key(t, topic, partition, key, &klen, err) != 0)
    return err->code;
  if (due_us < 0 || due_us > SB_TIMER_DUE_MAX)
    return sb_err_set(err, SB_EINVAL,
                      "timers of %s: due time %lld of key %.64s is outside "
                      "0 to %lld microseconds since 1970",
                      t->schema, (long long)due_us, key,
                      (long long)SB_TIMER_DUE_MAX);
  if (kind != SB_TIMER_WALL && kind != SB_TIMER_EVENT)
    return sb_err_set(err, SB_EINVAL, "timers of %s: kind %d of key %.64s",
                      t->schema, (int)kind, key);
  int tp = sb_kmap_topic(&t->map, topic, err);
  if (tp < 0)
    return err->code;
  if (sb_kmap_find(&t->map, tp, partition, key, klen) < 0 &&
      t->bytes + entry_cost(t, klen) > t->budget)
    return over_budget(t, t->bytes + entry_cost(t, klen), key, err);
  if (sb_kmap_dirty_reserve(&t->dirty, err) != 0)
    return err->code;
  size_t idx;
  int created;
  if (sb_kmap_insert(&t->map, tp, partition, key, klen, &idx, &created, err) !=
      0)
    return err->code;
  if (created)
    t->bytes += entry_cost(t, klen);
  tent_t *e = sb_kmap_at(&t->map, idx);
  if (e->pend == PEND_NONE)
    t->dirty.idx[t->dirty.n++] = (uint32_t)idx;
  e->pend = PEND_SET;
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
  if (check_key(t, topic, partition, key, &klen, err) != 0)
    return err->code;
  long at = sb_kmap_find(&t->map, sb_kmap_topic_find(&t->map, topic), partition,
                         key, klen);
  if (at < 0)
    return 0;
  if (sb_kmap_dirty_reserve(&t->dirty, err) != 0)
    return err->code;
  tent_t *e = sb_kmap_at(&t->map, (size_t)at);
  if (e->pend == PEND_NONE)
    t->dirty.idx[t->dirty.n++] = (uint32_t)at;
  e->pend = PEND_DEL;
  return 0;
}

/* The timer in effect for this batch: 1 with due and kind, or 0. */
static int effective(const tent_t *e, int64_t *due, int *kind) {
  if (e->pend == PEND_SET) {
    *due = e->pdue;
    *kind = e->pkind;
    return 1;
  }
  if (e->pend == PEND_NONE && e->has) {
    *due = e->due;
    *kind = e->kind;
    return 1;
  }
  return 0;
}

int sb_timers_get(const sb_timers_t *t, const char *topic, int32_t partition,
                  const char *key, int64_t *due_us, sb_timer_kind_t *kind) {
  long at = sb_kmap_find(&t->map, sb_kmap_topic_find(&t->map, topic), partition,
                         key, strlen(key));
  int64_t d;
  int k;
  if (at < 0 || !effective(sb_kmap_at(&t->map, (size_t)at), &d, &k))
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
  if (t->map.n == 0)
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
  for (size_t i = 0; i < t->map.n; i++) {
    const tent_t *e = sb_kmap_at(&t->map, i);
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
                         sb_kmap_topic_name(&t->map, e->h.topic),
                         e->h.partition,
                         (uint32_t)i,
                         kind};
  }
  t->valid = 1;
  if (n > 1) /* list is NULL for none: qsort takes no NULL */
    qsort(list, n, sizeof *list, fire_cmp);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (sb_kmap_dirty_reserve(&t->dirty, NULL) != 0) {
      rc = SB_ENOMEM;
      break;
    }
    /* cb may set timers: items move, indices and keys do not */
    tent_t *e = sb_kmap_at(&t->map, list[i].idx);
    int64_t due;
    int kind;
    /* an earlier call may have cancelled or moved it: then it is not
     * fired now (a moved one is looked at again by the next call) */
    if (!effective(e, &due, &kind) || due != list[i].due ||
        kind != list[i].kind)
      continue;
    if (e->pend == PEND_NONE)
      t->dirty.idx[t->dirty.n++] = list[i].idx;
    e->pend = PEND_DEL;
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

typedef struct {
  const char *topic;
  const tent_t *e;
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

static const char flush_sql[] =
    "WITH u AS (SELECT * FROM unnest($2::text[], $3::int[], $4::text[], "
    "$5::text[], $6::bigint[]) WITH ORDINALITY AS u(topic, part, key, kind, "
    "due, ord)), "
    "d AS (DELETE FROM sb.processor_timers s USING u WHERE u.due IS NULL "
    "AND s.schema = $1 AND s.topic = u.topic AND s.partition = u.part AND "
    "s.key = u.key), "
    "e AS (INSERT INTO sb.processor_event_time (schema, topic, partition, "
    "event_time_us) SELECT $1, et, ep, ev FROM unnest($7::text[], $8::int[], "
    "$9::bigint[]) AS e(et, ep, ev) ON CONFLICT (schema, topic, partition) "
    "DO UPDATE SET event_time_us = EXCLUDED.event_time_us) "
    "INSERT INTO sb.processor_timers (schema, topic, partition, key, kind, "
    "due_us) SELECT $1, topic, part, key, kind, due FROM u WHERE due IS NOT "
    "NULL ORDER BY ord ON CONFLICT (schema, topic, partition, key) DO "
    "UPDATE SET kind = EXCLUDED.kind, due_us = EXCLUDED.due_us";

int sb_timers_flush(sb_timers_t *t, sb_pg_t *pg, sb_err_t *err) {
  size_t moved = 0;
  for (size_t i = 0; i < t->nparts; i++)
    moved += t->parts[i].pet != t->parts[i].et;
  if (t->dirty.n == 0 && moved == 0)
    return 0;
  ref_t *refs = malloc((t->dirty.n + 1) * sizeof *refs);
  if (refs == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  for (size_t i = 0; i < t->dirty.n; i++) {
    const tent_t *e = sb_kmap_at(&t->map, t->dirty.idx[i]);
    refs[i] = (ref_t){sb_kmap_topic_name(&t->map, e->h.topic), e};
  }
  if (t->dirty.n > 1)
    qsort(refs, t->dirty.n, sizeof *refs, ref_cmp);
  sb_text_t arr[8] = {{0}};
  for (int k = 0; k < 8; k++)
    sb_text_add(&arr[k], "{");
  for (size_t i = 0; i < t->dirty.n; i++) {
    const tent_t *e = refs[i].e;
    const char *sep = i == 0 ? "" : ",";
    sb_text_pg_elem(&arr[0], refs[i].topic);
    sb_text_add(&arr[1], "%s%d", sep, (int)e->h.partition);
    sb_text_pg_elem(&arr[2], e->h.key);
    if (e->pend == PEND_DEL) {
      sb_text_add(&arr[3], "%sNULL", sep);
      sb_text_add(&arr[4], "%sNULL", sep);
    } else {
      sb_text_add(&arr[3], "%s%s", sep,
                  e->pkind == SB_TIMER_EVENT ? "event" : "wall");
      sb_text_add(&arr[4], "%s%lld", sep, (long long)e->pdue);
    }
  }
  free(refs);
  size_t k2 = 0;
  for (size_t i = 0; i < t->nparts; i++) {
    const part_t *p = &t->parts[i];
    if (p->pet == p->et)
      continue;
    const char *sep = k2++ == 0 ? "" : ",";
    sb_text_pg_elem(&arr[5], sb_kmap_topic_name(&t->map, p->topic));
    sb_text_add(&arr[6], "%s%d", sep, (int)p->partition);
    sb_text_add(&arr[7], "%s%lld", sep, (long long)p->pet);
  }
  int failed = 0;
  for (int k = 0; k < 8; k++) {
    sb_text_add(&arr[k], "}");
    failed |= arr[k].failed;
  }
  int rc;
  if (failed)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  else
    rc = sb_pg_exec(pg, flush_sql, 9,
                    (const char *const[]){t->schema, arr[0].s, arr[1].s,
                                          arr[2].s, arr[3].s, arr[4].s,
                                          arr[5].s, arr[6].s, arr[7].s},
                    err);
  for (int k = 0; k < 8; k++)
    sb_text_free(&arr[k]);
  if (rc != 0)
    sb_err_prefix(err, "timers of %s: ", t->schema);
  return rc;
}

/* ---- end of a batch ------------------------------------------------------ */

/* A dirty entry left with no timer committed is removed, and its cost given
 * back. */
static int gone(void *item, void *arg) {
  tent_t *e = item;
  sb_timers_t *t = arg;
  if (e->has)
    return 0;
  t->bytes -= entry_cost(t, e->h.klen);
  return 1;
}

static void sweep_dirty(sb_timers_t *t) {
  sb_kmap_dirty_sweep(&t->map, &t->dirty, gone, t);
}

void sb_timers_committed(sb_timers_t *t) {
  for (size_t i = 0; i < t->dirty.n; i++) {
    tent_t *e = sb_kmap_at(&t->map, t->dirty.idx[i]);
    e->has = e->pend == PEND_SET;
    e->due = e->pdue;
    e->kind = e->pkind;
    e->pend = PEND_NONE;
  }
  sweep_dirty(t);
  for (size_t i = 0; i < t->nparts; i++)
    t->parts[i].et = t->parts[i].pet;
  /* what is in effect did not change: the cache holds */
}

void sb_timers_abort(sb_timers_t *t) {
  for (size_t i = 0; i < t->dirty.n; i++)
    ((tent_t *)sb_kmap_at(&t->map, t->dirty.idx[i]))->pend = PEND_NONE;
  sweep_dirty(t);
  for (size_t i = 0; i < t->nparts; i++)
    t->parts[i].pet = t->parts[i].et;
  t->valid = 0; /* fired timers are back */
}

static void drop_topic_partition(sb_timers_t *t, int tp, int32_t partition) {
  if (tp < 0)
    return;
  for (size_t i = t->map.n; i-- > 0;) {
    tent_t *e = sb_kmap_at(&t->map, i);
    if (e->h.topic != tp || e->h.partition != partition)
      continue;
    t->bytes -= entry_cost(t, e->h.klen);
    sb_kmap_remove(&t->map, i);
  }
  t->dirty.n = 0; /* indices moved: list the pending timers again */
  for (size_t i = 0; i < t->map.n; i++)
    if (((tent_t *)sb_kmap_at(&t->map, i))->pend != PEND_NONE)
      t->dirty.idx[t->dirty.n++] = (uint32_t)i;
  for (size_t i = 0; i < t->nparts; i++)
    if (t->parts[i].topic == tp && t->parts[i].partition == partition) {
      t->parts[i] = t->parts[--t->nparts];
      t->bytes -= sizeof(part_t);
      break;
    }
  /* fewer timers and partitions only make the cache stale the safe way */
}

void sb_timers_drop(sb_timers_t *t, const char *topic, int32_t partition) {
  drop_topic_partition(t, sb_kmap_topic_find(&t->map, topic), partition);
}

/* ---- load ------------------------------------------------------------- */

static int load_row(sb_timers_t *t, int tp, const sb_pg_rows_t *rows, int r,
                    sb_err_t *err) {
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
                      t->schema);
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
                      t->schema, key ? key : "(null)", p);
  if (check_key(t, sb_kmap_topic_name(&t->map, (uint16_t)tp), (int32_t)p, key,
                &klen, err) != 0) {
    sb_err_prefix(err, "a stored timer: ");
    return err->code;
  }
  if (t->bytes + entry_cost(t, klen) > t->budget)
    return over_budget(t, t->bytes + entry_cost(t, klen), key, err);
  size_t idx;
  int created;
  if (sb_kmap_insert(&t->map, tp, (int32_t)p, key, klen, &idx, &created, err) !=
      0)
    return err->code;
  if (created)
    t->bytes += entry_cost(t, klen);
  tent_t *e = sb_kmap_at(&t->map, idx);
  e->has = 1;
  e->due = v;
  e->kind = strcmp(kind, "event") == 0 ? SB_TIMER_EVENT : SB_TIMER_WALL;
  return 0;
}

int sb_timers_load(sb_timers_t *t, sb_pg_t *pg, const char *topic,
                   const int32_t *partitions, size_t n, sb_err_t *err) {
  int tp = sb_kmap_topic(&t->map, topic, err);
  if (tp < 0)
    return err->code;
  sb_text_t parts = {0};
  sb_text_add(&parts, "{");
  for (size_t i = 0; i < n; i++) {
    if (partitions[i] < 0) {
      sb_text_free(&parts);
      return sb_err_set(err, SB_EINVAL, "timers of %s: partition %d of %s",
                        t->schema, (int)partitions[i], topic);
    }
    drop_topic_partition(t, tp, partitions[i]);
    sb_text_add(&parts, "%s%d", i ? "," : "", (int)partitions[i]);
  }
  sb_text_add(&parts, "}");
  if (parts.failed) {
    sb_text_free(&parts);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  t->valid = 0;
  sb_pg_rows_t *rows = NULL;
  int rc = sb_pg_rows(
      pg,
      "SELECT 't', partition, key, kind, due_us FROM sb.processor_timers "
      "WHERE schema = $1 AND topic = $2 AND partition = ANY($3::int[]) "
      "UNION ALL SELECT 'e', partition, NULL, NULL, event_time_us FROM "
      "sb.processor_event_time WHERE schema = $1 AND topic = $2 AND "
      "partition = ANY($3::int[])",
      3, (const char *const[]){t->schema, topic, parts.s}, &rows, err);
  sb_text_free(&parts);
  for (int r = 0; rc == 0 && r < sb_pg_rows_count(rows); r++)
    rc = load_row(t, tp, rows, r, err);
  sb_pg_rows_free(rows);
  if (rc != 0) {
    for (size_t i = 0; i < n; i++)
      drop_topic_partition(t, tp, partitions[i]);
    sb_err_prefix(err, "loading the timers of %s: ", topic);
  }
  return rc;
}

size_t sb_timers_count(const sb_timers_t *t) { return t->map.n; }
size_t sb_timers_bytes(const sb_timers_t *t) { return t->bytes; }

int sb_timers_rename_schema(sb_pg_t *pg, const char *from, const char *to,
                            sb_err_t *err) {
  static const char *const tables[] = {"sb.processor_timers",
                                       "sb.processor_event_time"};
  for (size_t i = 0; i < SB_ARRAY_LEN(tables); i++) {
    char del[96], upd[128];
    snprintf(del, sizeof del, "DELETE FROM %s WHERE schema = $1", tables[i]);
    snprintf(upd, sizeof upd, "UPDATE %s SET schema = $2 WHERE schema = $1",
             tables[i]);
    if (sb_pg_exec(pg, del, 1, (const char *const[]){to}, err) != 0 ||
        sb_pg_exec(pg, upd, 2, (const char *const[]){from, to}, err) != 0) {
      sb_err_prefix(err, "moving the timers of %s to %s: ", from, to);
      return err->code;
    }
  }
  return 0;
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
