#include "sb_refusals.h"

#include "sb_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* entries past the table's keys, for sources that find it full: one per
 * tenant, type and reason */
#define OVERFLOW_KEYS 64

typedef struct {
  int used, overflow;
  uint64_t hash;
  uint64_t pending; /* counted since the key's last record */
  uint64_t amount;  /* the sum of their amounts */
  /* the key */
  char type[32], reason[32], ip[64], tenant[65], user[129];
  char what[SB_REFUSAL_WHAT_MAX + 1];
  /* the rest of the key's first refusal, for its window's record */
  char detail[65], ua[257], method[16], path[257];
} entry_t;

struct sb_refusals_s {
  uv_timer_t timer;
  int timer_open;
  entry_t *e;
  size_t cap; /* a power of two, at least twice the keys */
  size_t max_keys, keys, overflow_keys;
  sb_refusals_record_t record;
  void *ud;
  uint64_t unrecorded;
};

static void put(char *dst, size_t cap, const char *s) {
  snprintf(dst, cap, "%s", s ? s : "");
}

static uint64_t fnv(uint64_t h, const char *s) {
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return (h ^ 0xff) * 1099511628211ull; /* a separator */
}

/* The key of r in k, as stored (cut to the fields' sizes). */
static void key_of(const sb_refusal_t *r, int overflow, entry_t *k) {
  memset(k, 0, sizeof *k);
  put(k->type, sizeof k->type, r->type);
  put(k->reason, sizeof k->reason, r->reason);
  put(k->tenant, sizeof k->tenant, r->tenant);
  if (!overflow) {
    put(k->ip, sizeof k->ip, r->ip);
    put(k->user, sizeof k->user, r->user);
    put(k->what, sizeof k->what, r->what);
  }
  k->overflow = overflow;
  uint64_t h = 1469598103934665603ull;
  h = fnv(fnv(fnv(fnv(fnv(h, k->type), k->reason), k->tenant), k->ip), k->user);
  h = fnv(h, k->what);
  k->hash = (h ^ (uint64_t)overflow) | 1;
}

static int same(const entry_t *a, const entry_t *b) {
  return a->hash == b->hash && a->overflow == b->overflow &&
         strcmp(a->type, b->type) == 0 && strcmp(a->reason, b->reason) == 0 &&
         strcmp(a->tenant, b->tenant) == 0 && strcmp(a->ip, b->ip) == 0 &&
         strcmp(a->user, b->user) == 0 && strcmp(a->what, b->what) == 0;
}

/* The entry of k, or the free slot where it goes. */
static entry_t *slot(sb_refusals_t *t, const entry_t *k) {
  for (size_t i = k->hash & (t->cap - 1);; i = (i + 1) & (t->cap - 1))
    if (!t->e[i].used || same(&t->e[i], k))
      return &t->e[i]; /* ends: never more than half the slots used */
}

int sb_refusals_note(sb_refusals_t *t, const sb_refusal_t *r) {
  entry_t k;
  key_of(r, 0, &k);
  entry_t *e = slot(t, &k);
  if (!e->used && t->keys >= t->max_keys) { /* full: the overflow entry */
    key_of(r, 1, &k);
    e = slot(t, &k);
    if (!e->used && t->overflow_keys >= OVERFLOW_KEYS) {
      if (t->unrecorded++ == 0)
        sb_log(SB_LOG_WARN, "http",
               "refusals from too many sources at once: counted in metrics, "
               "some not recorded on sb.compliance",
               SB_F_STR("type", k.type), SB_F_END);
      return 0;
    }
  }
  if (e->used) {
    e->pending++;
    e->amount += r->amount;
    return 0;
  }
  *e = k;
  e->used = 1;
  put(e->detail, sizeof e->detail, r->detail);
  put(e->ua, sizeof e->ua, r->user_agent);
  put(e->method, sizeof e->method, r->method);
  put(e->path, sizeof e->path, r->path);
  if (e->overflow)
    t->overflow_keys++;
  else
    t->keys++;
  return 1;
}

static const char *opt(const char *s) { return *s ? s : NULL; }

void sb_refusals_flush(sb_refusals_t *t) {
  if (t == NULL || t->e == NULL)
    return;
  for (size_t i = 0; i < t->cap; i++) {
    entry_t *e = &t->e[i];
    if (!e->used)
      continue;
    if (e->pending > 0) {
      sb_refusal_t r = {e->type,    opt(e->tenant), opt(e->user),
                        e->reason,  opt(e->detail), opt(e->ip),
                        opt(e->ua), opt(e->method), opt(e->path),
                        e->pending, opt(e->what), e->amount};
      t->record(t->ud, &r);
    }
    e->used = 0; /* the next window starts afresh */
  }
  t->keys = t->overflow_keys = 0;
}

static void on_window(uv_timer_t *timer) { sb_refusals_flush(timer->data); }

int sb_refusals_new(uv_loop_t *loop, int window_ms, size_t max_keys,
                    sb_refusals_record_t record, void *ud, sb_refusals_t **out,
                    sb_err_t *err) {
  *out = NULL;
  sb_refusals_t *t = calloc(1, sizeof *t);
  size_t cap = 16;
  while (cap < 2 * (max_keys + OVERFLOW_KEYS))
    cap *= 2;
  if (t == NULL || (t->e = calloc(cap, sizeof *t->e)) == NULL) {
    free(t);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  t->cap = cap;
  t->max_keys = max_keys;
  t->record = record;
  t->ud = ud;
  uv_timer_init(loop, &t->timer);
  t->timer.data = t;
  t->timer_open = 1;
  uv_timer_start(&t->timer, on_window, (uint64_t)window_ms,
                 (uint64_t)window_ms);
  *out = t;
  return 0;
}

void sb_refusals_close(sb_refusals_t *t) {
  if (t == NULL || !t->timer_open)
    return;
  sb_refusals_flush(t);
  t->timer_open = 0;
  uv_timer_stop(&t->timer);
  uv_close((uv_handle_t *)&t->timer, NULL);
}

void sb_refusals_free(sb_refusals_t *t) {
  if (t == NULL)
    return;
  free(t->e);
  free(t);
}

uint64_t sb_refusals_unrecorded(const sb_refusals_t *t) {
  return t ? t->unrecorded : 0;
}
