/* Ranked boards kept incrementally (the core of gam_rank.c, free of the
 * kit so that tests/test_gam_rank.c and the bench drive it over a store of
 * their own).
 *
 * One gam_rk_t holds one tenant's boards on one partition: per board an
 * array of its agents in rank order (points, then the earlier reached_at,
 * then the agent id: the view leaderboard's order), each row knowing its
 * position, a hash from agent to row, and the rows whose rank differs from
 * the one last pushed to them (held by the once-a-second bound). An entry
 * moves its agent by binary search and one memmove: the agents between
 * its old and new place are the only ranks that change. Those, and the
 * held ones, are the only rows looked at; the pushes go out in rank order.
 *
 * The truth is the keyed state, one key per agent and board:
 *
 *   lb|T|span|period|scope|<len>:<scope_id>|agent  points \t reached_at \t
 *                                   rank last pushed (0: none) \t when
 *
 * written for the entry's agent and for each agent pushed (a held agent's
 * row does not change). gam_rk_t is a cache of it: rebuilt by one scan of
 * the tenant's keys (gam__rk_restore_row, then gam__rk_ready), and to be
 * dropped by the caller whenever the state it mirrors is dropped (a batch
 * aborted, a partition revoked) or an entry failed half-way. A rebuilt one
 * decides what the kept one would have: the held set is exactly the rows
 * whose rank differs from the one last pushed. */
#include "gam_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000LL


typedef struct row_s {
  char *agent;
  size_t pos, cost; /* cost: the bytes its state key and value take */
  int64_t pts, reached, sent, sent_at;
  unsigned held;
  uint64_t mark; /* the entry that looked at it last */
} row_t;

/* an open-addressed map of strings to pointers (power-of-two slots) */
typedef struct {
  void **v;
  const char *(*name)(const void *);
  size_t n, cap;
} smap_t;

typedef struct board_s {
  char *id; /* span|period|scope|<len>:<scope_id> */
  int span, scope;
  int64_t period; /* its first day */
  char period_text[16];
  char *scope_id;
  row_t **rows; /* in rank order */
  size_t n, cap, bytes;
  smap_t by_agent;
  row_t **held;
  size_t nheld, heldcap;
} board_t;

struct gam_rk_s {
  char *tenant;
  int32_t partition;
  int64_t newest; /* the newest local day with boards kept; INT64_MIN/2 */
  size_t bytes;   /* of all its boards' state */
  size_t board_max, tenant_max; /* the bounds on them */
  smap_t boards;
  uint64_t epoch; /* entries on its boards */
  row_t **push; /* scratch: the rows an entry pushes */
  size_t npush, pushcap;
  gam_rk_t *next; /* the caller's list */
};

static uint64_t hash_of(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static void **smap_slot(const smap_t *m, const char *key) {
  size_t i = (size_t)hash_of(key) & (m->cap - 1);
  while (m->v[i] != NULL && strcmp(m->name(m->v[i]), key) != 0)
    i = (i + 1) & (m->cap - 1);
  return &m->v[i];
}

static void *smap_get(const smap_t *m, const char *key) {
  return m->cap ? *smap_slot(m, key) : NULL;
}

static int smap_put(smap_t *m, void *item) {
  if ((m->n + 1) * 4 > m->cap * 3) {
    smap_t g = {calloc(m->cap ? m->cap * 2 : 16, sizeof(void *)), m->name, 0,
                m->cap ? m->cap * 2 : 16};
    if (g.v == NULL)
      return -1;
    for (size_t i = 0; i < m->cap; i++)
      if (m->v[i] != NULL) {
        *smap_slot(&g, m->name(m->v[i])) = m->v[i];
        g.n++;
      }
    free(m->v);
    *m = g;
  }
  *smap_slot(m, m->name(item)) = item;
  m->n++;
  return 0;
}

static const char *row_name(const void *r) { return ((const row_t *)r)->agent; }
static const char *board_name(const void *b) {
  return ((const board_t *)b)->id;
}

static int grow(void *pv, size_t *cap, size_t need, size_t size) {
  void **p = pv;
  if (need <= *cap)
    return 0;
  size_t c = *cap ? *cap : 16;
  while (c < need)
    c *= 2;
  void *v = realloc(*p, c * size);
  if (v == NULL)
    return -1;
  *p = v;
  *cap = c;
  return 0;
}

static void board_free(board_t *bd) {
  if (bd == NULL)
    return;
  for (size_t i = 0; i < bd->n; i++) {
    free(bd->rows[i]->agent);
    free(bd->rows[i]);
  }
  free(bd->rows);
  free(bd->by_agent.v);
  free(bd->held);
  free(bd->scope_id);
  free(bd->id);
  free(bd);
}

gam_rk_t *gam__rk_new(const char *tenant, int32_t partition, size_t board_max,
                      size_t tenant_max) {
  gam_rk_t *t = calloc(1, sizeof *t);
  if (t == NULL || (t->tenant = strdup(tenant)) == NULL) {
    free(t);
    return NULL;
  }
  t->partition = partition;
  t->board_max = board_max;
  t->tenant_max = tenant_max;
  t->newest = INT64_MIN / 2;
  t->boards.name = board_name;
  return t;
}

void gam__rk_free(gam_rk_t *t) {
  if (t == NULL)
    return;
  for (size_t i = 0; i < t->boards.cap; i++)
    board_free(t->boards.v[i]);
  free(t->boards.v);
  free(t->push);
  free(t->tenant);
  free(t);
}

const char *gam__rk_tenant(const gam_rk_t *t) { return t->tenant; }
int32_t gam__rk_partition(const gam_rk_t *t) { return t->partition; }
gam_rk_t **gam__rk_next(gam_rk_t *t) { return &t->next; }
size_t gam__rk_bytes(const gam_rk_t *t) { return t->bytes; }

/* the order of the view leaderboard: < 0 when p ranks above q */
static int cmp(const row_t *p, const row_t *q) {
  if (p->pts != q->pts)
    return p->pts > q->pts ? -1 : 1;
  if (p->reached != q->reached)
    return p->reached < q->reached ? -1 : 1;
  return strcmp(p->agent, q->agent);
}

static int cmp_q(const void *a, const void *b) {
  return cmp(*(row_t *const *)a, *(row_t *const *)b);
}

static int board_id(char *out, size_t n, int span, const char *period,
                    int scope, const char *sid) {
  int k = snprintf(out, n, "%s|%s|%s|%zu:%s", gam__span_names[span], period,
                   gam__scope_names[scope], strlen(sid), sid);
  return k < 0 || (size_t)k >= n ? -1 : 0;
}

static board_t *board_get(gam_rk_t *t, int span, int64_t period, int scope,
                          const char *sid, int create, sb_err_t *err) {
  char id[GAM_NAME_MAX * 2 + 64], ptext[16];
  gam__period_text(span, period, ptext, sizeof ptext);
  if (board_id(id, sizeof id, span, ptext, scope, sid) != 0) {
    sb_err_set(err, SB_EVALIDATE, "leaderboard: a board id past %zu bytes",
               sizeof id - 1);
    return NULL;
  }
  board_t *bd = smap_get(&t->boards, id);
  if (bd != NULL || !create)
    return bd;
  if ((bd = calloc(1, sizeof *bd)) == NULL || (bd->id = strdup(id)) == NULL ||
      (bd->scope_id = strdup(sid)) == NULL || smap_put(&t->boards, bd) != 0) {
    board_free(bd);
    sb_err_set(err, SB_ENOMEM, "out of memory");
    return NULL;
  }
  bd->span = span;
  bd->scope = scope;
  bd->period = gam__period(span, period);
  memcpy(bd->period_text, ptext, sizeof ptext);
  bd->by_agent.name = row_name;
  return bd;
}

static int row_key(char *out, size_t n, const gam_rk_t *t, const board_t *bd,
                   const char *agent) {
  int k = snprintf(out, n, "lb|%s|%s|%s", t->tenant, bd->id, agent);
  return k < 0 || (size_t)k >= n ? -1 : k;
}

static row_t *row_add(gam_rk_t *t, board_t *bd, const char *agent,
                      sb_err_t *err) {
  char key[GAM_RK_KEY_MAX];
  int klen = row_key(key, sizeof key, t, bd, agent);
  row_t *r = calloc(1, sizeof *r);
  if (klen < 0) {
    free(r);
    sb_err_set(err, SB_EVALIDATE, "leaderboard: a state key past %zu bytes",
               sizeof key - 1);
    return NULL;
  }
  if (r == NULL || (r->agent = strdup(agent)) == NULL ||
      grow(&bd->rows, &bd->cap, bd->n + 1, sizeof *bd->rows) != 0 ||
      smap_put(&bd->by_agent, r) != 0) {
    if (r)
      free(r->agent);
    free(r);
    sb_err_set(err, SB_ENOMEM, "out of memory");
    return NULL;
  }
  r->cost = (size_t)klen + GAM_RK_VALUE_COST;
  r->pos = bd->n;
  bd->rows[bd->n++] = r;
  bd->bytes += r->cost;
  t->bytes += r->cost;
  return r;
}

static int row_save(const gam_rk_t *t, const board_t *bd, const row_t *r,
                    const gam_rk_io_t *io, sb_err_t *err) {
  char key[GAM_RK_KEY_MAX], val[96];
  row_key(key, sizeof key, t, bd, r->agent); /* fitted when added */
  int n = snprintf(val, sizeof val, "%lld\t%lld\t%lld\t%lld", (long long)r->pts,
                   (long long)r->reached, (long long)r->sent,
                   (long long)r->sent_at);
  return io->put(io->arg, key, val, (size_t)n, err);
}

/* ---- restoring from state ------------------------------------------------ */

static int bad_key(const char *key, sb_err_t *err) {
  return sb_err_set(err, SB_ESTATE, "leaderboard state: key '%.200s' does "
                    "not parse", key);
}

/* which of names *p begins with, followed by '|' (*p moved past it), or -1 */
static int name_at(const char **p, const char *const *names, int n) {
  for (int i = 0; i < n; i++) {
    size_t l = strlen(names[i]);
    if (strncmp(*p, names[i], l) == 0 && (*p)[l] == '|') {
      *p += l + 1;
      return i;
    }
  }
  return -1;
}

int gam__rk_restore_row(gam_rk_t *t, const char *key, const void *val,
                        size_t len, sb_err_t *err) {
  size_t tl = strlen(t->tenant);
  if (strncmp(key, "lb|", 3) != 0 || strncmp(key + 3, t->tenant, tl) != 0 ||
      key[3 + tl] != '|')
    return bad_key(key, err);
  const char *p = key + 4 + tl, *bar;
  int span = -1, scope = -1;
  char period[16];
  /* span|period|scope|<len>:<sid>|agent */
  if ((span = name_at(&p, gam__span_names, GAM_SPAN_N)) < 0 ||
      (bar = strchr(p, '|')) == NULL || (size_t)(bar - p) >= sizeof period)
    return bad_key(key, err);
  memcpy(period, p, (size_t)(bar - p));
  period[bar - p] = '\0';
  p = bar + 1;
  if ((scope = name_at(&p, gam__scope_names, GAM_RK_SCOPES)) < 0)
    return bad_key(key, err);
  char *colon;
  unsigned long sl = strtoul(p, &colon, 10);
  if (colon == p || *colon != ':' || sl > GAM_NAME_MAX ||
      strlen(colon + 1) < sl + 2 || colon[1 + sl] != '|')
    return bad_key(key, err);
  char sid[GAM_NAME_MAX + 1];
  memcpy(sid, colon + 1, sl);
  sid[sl] = '\0';
  const char *agent = colon + 2 + sl;
  int y, m, d;
  char vb[96];
  long long pts, re, se, sa;
  if (sscanf(period, "%4d-%2d-%2d", &y, &m, &d) != 3 || len >= sizeof vb)
    return bad_key(key, err);
  memcpy(vb, val, len);
  vb[len] = '\0';
  if (sscanf(vb, "%lld\t%lld\t%lld\t%lld", &pts, &re, &se, &sa) != 4)
    return sb_err_set(err, SB_ESTATE, "leaderboard state: the value of '%.200s'"
                      " does not parse", key);
  /* the period's first day from its text (days since 1970-01-01) */
  int64_t yy = y - (m <= 2), era = (yy >= 0 ? yy : yy - 399) / 400;
  int64_t yoe = yy - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t day = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
  board_t *bd = board_get(t, span, day, scope, sid, 1, err);
  if (bd == NULL)
    return err->code;
  if (smap_get(&bd->by_agent, agent) != NULL)
    return bad_key(key, err);
  row_t *r = row_add(t, bd, agent, err);
  if (r == NULL)
    return err->code;
  r->pts = pts;
  r->reached = re;
  r->sent = se;
  r->sent_at = sa;
  return 0;
}

void gam__rk_restore_newest(gam_rk_t *t, int64_t day) { t->newest = day; }

int gam__rk_ready(gam_rk_t *t, sb_err_t *err) {
  for (size_t i = 0; i < t->boards.cap; i++) {
    board_t *bd = t->boards.v[i];
    if (bd == NULL)
      continue;
    if (bd->n > 1)
      qsort(bd->rows, bd->n, sizeof *bd->rows, cmp_q);
    bd->nheld = 0;
    for (size_t k = 0; k < bd->n; k++) {
      row_t *r = bd->rows[k];
      r->pos = k;
      r->held = (int64_t)k + 1 != r->sent;
      if (r->held) {
        if (grow(&bd->held, &bd->heldcap, bd->nheld + 1, sizeof *bd->held))
          return sb_err_set(err, SB_ENOMEM, "out of memory");
        bd->held[bd->nheld++] = r;
      }
    }
  }
  return 0;
}

/* ---- an entry ------------------------------------------------------------ */

/* r's new place after its points or time changed: the rows between its old
 * and new place move by one */
static void reposition(board_t *bd, row_t *r, size_t *lo, size_t *hi) {
  size_t old = r->pos;
  size_t a = 0, z = old; /* up: the first of [0, old) r ranks above */
  while (a < z) {
    size_t m = a + (z - a) / 2;
    if (cmp(r, bd->rows[m]) < 0)
      z = m;
    else
      a = m + 1;
  }
  if (a < old) {
    memmove(&bd->rows[a + 1], &bd->rows[a], (old - a) * sizeof *bd->rows);
    bd->rows[a] = r;
    *lo = a;
    *hi = old;
  } else { /* down: past the last of (old, n) ranking above r */
    a = old + 1;
    z = bd->n;
    while (a < z) {
      size_t m = a + (z - a) / 2;
      if (cmp(bd->rows[m], r) < 0)
        a = m + 1;
      else
        z = m;
    }
    size_t to = a - 1;
    memmove(&bd->rows[old], &bd->rows[old + 1], (to - old) * sizeof *bd->rows);
    bd->rows[to] = r;
    *lo = old;
    *hi = to;
  }
  for (size_t i = *lo; i <= *hi; i++)
    bd->rows[i]->pos = i;
}

static int by_pos(const void *a, const void *b) {
  const row_t *p = *(row_t *const *)a, *q = *(row_t *const *)b;
  return p->pos < q->pos ? -1 : p->pos > q->pos;
}

/* a row whose rank may differ from the one last pushed: pushed now, or
 * held (the once-a-second bound), or neither when it is back where it was */
static int consider(gam_rk_t *t, board_t *bd, row_t *r, int64_t at) {
  if (r->mark == t->epoch)
    return 0;
  r->mark = t->epoch;
  int64_t rank = (int64_t)r->pos + 1;
  if (rank != r->sent && at - r->sent_at >= SEC) {
    if (grow(&t->push, &t->pushcap, t->npush + 1, sizeof *t->push) != 0)
      return -1;
    t->push[t->npush++] = r;
    r->held = 0;
  } else if (rank != r->sent) {
    if (!r->held &&
        grow(&bd->held, &bd->heldcap, bd->nheld + 1, sizeof *bd->held) != 0)
      return -1;
    if (!r->held)
      bd->held[bd->nheld++] = r;
    r->held = 1;
  } else {
    r->held = 0;
  }
  return 0;
}

static int on_board(gam_rk_t *t, const gam_rk_io_t *io, board_t *bd,
                    const char *agent, int64_t pts, int64_t at,
                    sb_err_t *err) {
  row_t *r = smap_get(&bd->by_agent, agent);
  if (r == NULL) {
    size_t cost = strlen(t->tenant) + strlen(bd->id) + strlen(agent) + 5 +
                  GAM_RK_VALUE_COST;
    if (bd->n > 0 && (bd->bytes + cost > t->board_max ||
                      t->bytes + cost > t->tenant_max))
      return 0; /* full: the agent gets no pushes on it (the views rank it) */
    if ((r = row_add(t, bd, agent, err)) == NULL)
      return err->code;
    r->reached = at;
    r->sent_at = INT64_MIN / 2;
  }
  r->pts += pts;
  if (at > r->reached)
    r->reached = at;
  size_t lo, hi;
  reposition(bd, r, &lo, &hi);
  t->epoch++;
  t->npush = 0;
  int rc = 0;
  for (size_t i = lo; i <= hi && rc == 0; i++)
    rc = consider(t, bd, bd->rows[i], at);
  for (size_t i = 0; i < bd->nheld && rc == 0; i++)
    rc = consider(t, bd, bd->held[i], at);
  if (rc != 0)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  size_t k = 0; /* the held list: those still held */
  for (size_t i = 0; i < bd->nheld; i++)
    if (bd->held[i]->held)
      bd->held[k++] = bd->held[i];
  bd->nheld = k;
  if (t->npush > 1)
    qsort(t->push, t->npush, sizeof *t->push, by_pos);
  int saved = 0;
  for (size_t i = 0; i < t->npush && rc == 0; i++) {
    row_t *p = t->push[i];
    gam_rk_push_t ev = {.span = gam__span_names[bd->span],
                        .period = bd->period_text,
                        .scope = gam__scope_names[bd->scope],
                        .scope_id = bd->scope_id,
                        .agent = p->agent,
                        .old_rank = p->sent,
                        .new_rank = (int64_t)p->pos + 1,
                        .points = p->pts,
                        .of_agents = (int64_t)bd->n};
    rc = io->push(io->arg, &ev, err);
    p->sent = ev.new_rank;
    p->sent_at = at;
    if (rc == 0)
      rc = row_save(t, bd, p, io, err);
    saved |= p == r;
  }
  if (rc == 0 && !saved)
    rc = row_save(t, bd, r, io, err);
  return rc;
}

static void smap_del(smap_t *m, const char *key) {
  void **slot = smap_slot(m, key);
  if (*slot == NULL)
    return;
  size_t i = (size_t)(slot - m->v);
  m->v[i] = NULL;
  m->n--;
  /* open addressing: the run after the freed slot is placed again */
  for (size_t j = (i + 1) & (m->cap - 1); m->v[j] != NULL;
       j = (j + 1) & (m->cap - 1)) {
    void *v = m->v[j];
    m->v[j] = NULL;
    *smap_slot(m, m->name(v)) = v;
  }
}

static int board_drop(gam_rk_t *t, const gam_rk_io_t *io, board_t *bd,
                      sb_err_t *err) {
  char key[GAM_RK_KEY_MAX];
  for (size_t i = 0; i < bd->n; i++) {
    row_key(key, sizeof key, t, bd, bd->rows[i]->agent);
    if (io->del(io->arg, key, err) != 0)
      return err->code;
  }
  t->bytes -= bd->bytes;
  smap_del(&t->boards, bd->id);
  board_free(bd);
  return 0;
}

/* the first period of span kept while day newest is the newest */
static int64_t kept_from(int span, int64_t newest) {
  if (span == GAM_SPAN_ALL)
    return 0;
  int64_t first = gam__period(span, newest);
  return gam__period(span, first - 1);
}

int gam__rk_entry(gam_rk_t *t, const gam_rk_io_t *io, const gam_rk_entry_t *e,
                  sb_err_t *err) {
  if (strlen(e->agent) > GAM_NAME_MAX)
    return 0; /* not an agent id (the ledger's are shorter): no pushes */
  if (e->day > t->newest) { /* older periods stop being pushed: dropped */
    char val[32];
    int n = snprintf(val, sizeof val, "%lld", (long long)e->day);
    if (io->put_newest(io->arg, val, (size_t)n, err) != 0)
      return err->code;
    t->newest = e->day;
    board_t **gone = NULL;
    size_t ngone = 0, cap = 0;
    for (size_t i = 0; i < t->boards.cap; i++) {
      board_t *bd = t->boards.v[i];
      if (bd == NULL || bd->period >= kept_from(bd->span, t->newest))
        continue;
      if (grow(&gone, &cap, ngone + 1, sizeof *gone) != 0) {
        free(gone);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
      }
      gone[ngone++] = bd;
    }
    int rc = 0;
    for (size_t i = 0; i < ngone && rc == 0; i++)
      rc = board_drop(t, io, gone[i], err);
    free(gone);
    if (rc != 0)
      return rc;
  }
  const char *sids[GAM_RK_SCOPES] = {"", e->team, e->campaign};
  for (int span = 0; span < GAM_SPAN_N; span++) {
    if (gam__period(span, e->day) < kept_from(span, t->newest))
      continue; /* an older period's board: read, not pushed */
    for (int sc = 0; sc < GAM_RK_SCOPES; sc++) {
      if (sids[sc] == NULL || (sc > 0 && sids[sc][0] == '\0') ||
          strlen(sids[sc]) > GAM_NAME_MAX)
        continue;
      board_t *bd = board_get(t, span, e->day, sc, sids[sc], 1, err);
      if (bd == NULL || on_board(t, io, bd, e->agent, e->points, e->at, err))
        return err->code;
    }
  }
  return 0;
}

int64_t gam__rk_rank(const gam_rk_t *t, int span, int64_t day, int scope,
                     const char *scope_id, const char *agent,
                     int64_t *of_agents) {
  sb_err_t err = SB_ERR_INIT;
  board_t *bd = board_get((gam_rk_t *)t, span, day, scope, scope_id, 0, &err);
  const row_t *r = bd ? smap_get(&bd->by_agent, agent) : NULL;
  if (of_agents)
    *of_agents = bd ? (int64_t)bd->n : 0;
  return r ? (int64_t)r->pos + 1 : 0;
}
