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

/* keys a source address (or a tenant) holds this window, by hash */
typedef struct {
  uint64_t hash; /* 0: free */
  size_t keys;
} count_t;

struct sb_refusals_s {
  uv_timer_t timer;
  int timer_open;
  entry_t *e;
  size_t cap; /* a power of two, at least twice the keys */
  size_t max_keys, keys, overflow_keys;
  sb_refusals_record_t record;
  void *ud;
  uint64_t unrecorded;
  /* sb_refusals_set_limits: keys per address and per tenant (0: none),
   * their counts (cap slots each), what was folded past them */
  size_t per_address, per_tenant;
  count_t *by_addr, *by_tenant;
  uint64_t suppressed;
};

static void put(char *dst, size_t cap, const char *s) {
  snprintf(dst, cap, "%s", s ? s : "");
}

static uint64_t fnv(uint64_t h, const char *s) {
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return (h ^ 0xff) * 1099511628211ull; /* a separator */
}

/* The key of r in k, as stored (cut to the fields' sizes). overflow: 0
 * the whole key; OVER_TENANT the tenant's shared entry (no address, user
 * or what); OVER_ADDRESS an address's shared entry past its limit (no user
 * or what). */
#define OVER_TENANT 1
#define OVER_ADDRESS 2
static void key_of(const sb_refusal_t *r, int overflow, entry_t *k) {
  memset(k, 0, sizeof *k);
  put(k->type, sizeof k->type, r->type);
  put(k->reason, sizeof k->reason, r->reason);
  put(k->tenant, sizeof k->tenant, r->tenant);
  if (overflow != OVER_TENANT)
    put(k->ip, sizeof k->ip, r->ip);
  if (!overflow) {
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

/* The count of hash h in c (cap slots), or the free slot where it goes
 * (its hash set once a key is made: slots used never pass the keys, less
 * than half of cap). */
static count_t *count_of(count_t *c, size_t cap, uint64_t h) {
  h |= 1;
  for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1))
    if (c[i].hash == 0 || c[i].hash == h)
      return &c[i];
}

static uint64_t hash_of(const char *s) {
  return fnv(1469598103934665603ull, s ? s : "") | 1;
}

int sb_refusals_note(sb_refusals_t *t, const sb_refusal_t *r) {
  entry_t k;
  key_of(r, 0, &k);
  entry_t *e = slot(t, &k);
  count_t *ca = NULL, *ct = NULL;
  if (!e->used && (t->per_address || t->per_tenant)) {
    /* a new key: within its address's and its tenant's limits, or folded
     * into the address's (or the tenant's) shared entry, recorded with
     * its count at the window's end: one address cannot fill the log */
    ca = count_of(t->by_addr, t->cap, hash_of(r->ip));
    ct = count_of(t->by_tenant, t->cap, hash_of(r->tenant));
    int over = t->per_address && ca->keys >= t->per_address ? OVER_ADDRESS
               : t->per_tenant && ct->keys >= t->per_tenant ? OVER_TENANT
                                                            : 0;
    if (over) {
      t->suppressed++;
      key_of(r, over, &k);
      e = slot(t, &k);
      if (e->used) {
        e->pending++;
        e->amount += r->amount;
        return 0;
      }
      if (t->keys + t->overflow_keys >= t->max_keys + OVERFLOW_KEYS) {
        t->unrecorded++;
        return 0;
      }
      *e = k;
      e->used = 1;
      e->pending = 1;
      e->amount = r->amount;
      put(e->detail, sizeof e->detail, r->detail);
      put(e->ua, sizeof e->ua, r->user_agent);
      put(e->method, sizeof e->method, r->method);
      put(e->path, sizeof e->path, r->path);
      t->overflow_keys++;
      return 0;
    }
  }
  if (!e->used && t->keys >= t->max_keys) { /* full: the overflow entry */
    key_of(r, OVER_TENANT, &k);
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
  else {
    t->keys++;
    if (ca) {
      ca->hash = hash_of(r->ip);
      ca->keys++;
      ct->hash = hash_of(r->tenant);
      ct->keys++;
    }
  }
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
      if (e->overflow == OVER_ADDRESS)
        sb_log(SB_LOG_WARN, "http",
               "records from one address past its limit this window: "
               "summarised as one record with their count",
               SB_F_STR("type", e->type), SB_F_STR("ip", e->ip),
               SB_F_STR("tenant", e->tenant),
               SB_F_INT("suppressed", (long long)e->pending), SB_F_END);
      t->record(t->ud, &r);
    }
    e->used = 0; /* the next window starts afresh */
  }
  t->keys = t->overflow_keys = 0;
  memset(t->by_addr, 0, t->cap * sizeof *t->by_addr);
  memset(t->by_tenant, 0, t->cap * sizeof *t->by_tenant);
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
  if (t == NULL || (t->e = calloc(cap, sizeof *t->e)) == NULL ||
      (t->by_addr = calloc(cap, sizeof *t->by_addr)) == NULL ||
      (t->by_tenant = calloc(cap, sizeof *t->by_tenant)) == NULL) {
    if (t) {
      free(t->e);
      free(t->by_addr);
    }
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
  free(t->by_addr);
  free(t->by_tenant);
  free(t);
}

void sb_refusals_set_limits(sb_refusals_t *t, size_t per_address,
                            size_t per_tenant) {
  t->per_address = per_address;
  t->per_tenant = per_tenant;
}

uint64_t sb_refusals_suppressed(const sb_refusals_t *t) {
  return t ? t->suppressed : 0;
}

uint64_t sb_refusals_unrecorded(const sb_refusals_t *t) {
  return t ? t->unrecorded : 0;
}
