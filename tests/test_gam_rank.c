/* Leaderboards kept incrementally (processors/gamification/
 * gam_rankboard.c) against a from-scratch model: generated entry sequences
 * (points up and down, ties, bursts within a second, entries dated out of
 * order, several days, weeks and months, teams and campaigns with '|' in
 * ids, boards that fill up) give, after every entry, the ranks a full sort
 * of each board gives, and the same pushes in the same order as the
 * previous algorithm (parse, sort, push every agent whose rank differs
 * from the one last pushed, at most once a second); the boards are
 * dropped and rebuilt from their state at random points (as after an
 * abort, a revoke or a restart) and decide the same. */
#include "gam_int.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000LL
#define DAY_US (86400LL * SEC)

/* ---- a store: the keyed state, in memory ---------------------------------- */

typedef struct {
  char *k[4096], *v[4096];
  size_t n;
  char pushes[1 << 16]; /* the pushes of the last entry, one a line */
  size_t plen;
  char newest[32];
} store_t;

static long st_find(store_t *s, const char *key) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->k[i], key) == 0)
      return (long)i;
  return -1;
}

static int st_put(void *arg, const char *key, const void *val, size_t len,
                  sb_err_t *err) {
  store_t *s = arg;
  long i = st_find(s, key);
  char *v = malloc(len + 1);
  if (v == NULL || (i < 0 && s->n == 4096))
    return sb_err_set(err, SB_ENOMEM, "store full");
  memcpy(v, val, len);
  v[len] = '\0';
  if (i < 0) {
    i = (long)s->n++;
    s->k[i] = strdup(key);
  } else {
    free(s->v[i]);
  }
  s->v[i] = v;
  return 0;
}

static int st_del(void *arg, const char *key, sb_err_t *err) {
  (void)err;
  store_t *s = arg;
  long i = st_find(s, key);
  if (i >= 0) {
    free(s->k[i]);
    free(s->v[i]);
    s->k[i] = s->k[s->n - 1];
    s->v[i] = s->v[s->n - 1];
    s->n--;
  }
  return 0;
}

static int st_newest(void *arg, const void *val, size_t len, sb_err_t *err) {
  store_t *s = arg;
  if (len >= sizeof s->newest)
    return sb_err_set(err, SB_EINVAL, "newest too long");
  memcpy(s->newest, val, len);
  s->newest[len] = '\0';
  return 0;
}

static int record(store_t *s, const char *span, const char *period,
                  const char *scope, const char *sid, const char *agent,
                  int64_t old, int64_t rank, int64_t pts, int64_t of) {
  int n = snprintf(s->pushes + s->plen, sizeof s->pushes - s->plen,
                   "%s %s %s [%s] %s %lld->%lld %lld/%lld\n", span, period,
                   scope, sid, agent, (long long)old, (long long)rank,
                   (long long)pts, (long long)of);
  if (n < 0 || (size_t)n >= sizeof s->pushes - s->plen)
    return -1;
  s->plen += (size_t)n;
  return 0;
}

static int st_push(void *arg, const gam_rk_push_t *p, sb_err_t *err) {
  return record(arg, p->span, p->period, p->scope, p->scope_id, p->agent,
                p->old_rank, p->new_rank, p->points, p->of_agents)
             ? sb_err_set(err, SB_ENOMEM, "pushes full")
             : 0;
}

static int by_key(const void *a, const void *b) {
  return strcmp(**(char **const *)a, **(char **const *)b);
}

/* the boards rebuilt from the store, as gam_rank.c does from keyed state */
static gam_rk_t *rebuild(store_t *s, const char *T, size_t board_max,
                         sb_err_t *err) {
  gam_rk_t *t = gam__rk_new(T, 0, board_max, 64u << 20);
  char prefix[64];
  snprintf(prefix, sizeof prefix, "lb|%s|", T);
  char **order[4096];
  size_t n = 0;
  for (size_t i = 0; i < s->n; i++)
    if (strncmp(s->k[i], prefix, strlen(prefix)) == 0)
      order[n++] = &s->k[i];
  qsort(order, n, sizeof *order, by_key);
  if (s->newest[0])
    gam__rk_restore_newest(t, strtoll(s->newest, NULL, 10));
  for (size_t i = 0; i < n; i++) {
    size_t ix = (size_t)(order[i] - s->k);
    if (gam__rk_restore_row(t, s->k[ix], s->v[ix], strlen(s->v[ix]), err)) {
      gam__rk_free(t);
      return NULL;
    }
  }
  if (gam__rk_ready(t, err) != 0) {
    gam__rk_free(t);
    return NULL;
  }
  return t;
}

/* ---- the model: every board sorted from scratch after each entry ---------- */

typedef struct {
  char agent[40];
  int64_t pts, reached, sent, sent_at;
} mrow_t;

typedef struct {
  int used, span, scope;
  int64_t period;
  char sid[40];
  size_t bytes;
  mrow_t rows[64];
  size_t n;
} mboard_t;

typedef struct {
  mboard_t b[256];
  int64_t newest;
  size_t board_max;
} model_t;

static const char *const spans[] = {"day", "week", "month", "all"};
static const char *const scopes[] = {"tenant", "team", "campaign"};

static int mcmp(const void *a, const void *b) {
  const mrow_t *p = a, *q = b;
  if (p->pts != q->pts)
    return p->pts > q->pts ? -1 : 1;
  if (p->reached != q->reached)
    return p->reached < q->reached ? -1 : 1;
  return strcmp(p->agent, q->agent);
}

static int64_t kept_from(int span, int64_t newest) {
  return span == GAM_SPAN_ALL
             ? 0
             : gam__period(span, gam__period(span, newest) - 1);
}

/* the bytes a row takes in state, as gam_rankboard.c counts them */
static size_t cost(const char *T, const mboard_t *b, const char *agent) {
  char ptext[16];
  gam__period_text(b->span, b->period, ptext, sizeof ptext);
  return strlen("lb|") + strlen(T) + 1 + strlen(spans[b->span]) + 1 +
         strlen(ptext) + 1 + strlen(scopes[b->scope]) + 1 +
         (size_t)snprintf(NULL, 0, "%zu", strlen(b->sid)) + 1 +
         strlen(b->sid) + 1 + strlen(agent) + GAM_RK_VALUE_COST;
}

static int model_entry(model_t *m, store_t *s, const char *T,
                       const gam_rk_entry_t *e) {
  if (e->day > m->newest) {
    m->newest = e->day;
    for (size_t i = 0; i < 256; i++)
      if (m->b[i].used && m->b[i].period < kept_from(m->b[i].span, m->newest))
        m->b[i].used = 0;
  }
  const char *sids[3] = {"", e->team, e->campaign};
  for (int span = 0; span < 4; span++) {
    if (gam__period(span, e->day) < kept_from(span, m->newest))
      continue;
    for (int sc = 0; sc < 3; sc++) {
      if (sids[sc] == NULL || (sc > 0 && sids[sc][0] == '\0'))
        continue;
      mboard_t *b = NULL, *freeb = NULL;
      for (size_t i = 0; i < 256 && b == NULL; i++) {
        mboard_t *c = &m->b[i];
        if (!c->used && freeb == NULL)
          freeb = c;
        if (c->used && c->span == span && c->scope == sc &&
            c->period == gam__period(span, e->day) && !strcmp(c->sid, sids[sc]))
          b = c;
      }
      if (b == NULL) {
        if (freeb == NULL)
          return -1;
        b = freeb;
        memset(b, 0, sizeof *b);
        b->used = 1;
        b->span = span;
        b->scope = sc;
        b->period = gam__period(span, e->day);
        snprintf(b->sid, sizeof b->sid, "%s", sids[sc]);
      }
      mrow_t *me = NULL;
      for (size_t i = 0; i < b->n && me == NULL; i++)
        if (strcmp(b->rows[i].agent, e->agent) == 0)
          me = &b->rows[i];
      if (me == NULL) {
        size_t c = cost(T, b, e->agent);
        if (b->n > 0 && b->bytes + c > m->board_max)
          continue;
        if (b->n == 64)
          return -1;
        me = &b->rows[b->n++];
        memset(me, 0, sizeof *me);
        snprintf(me->agent, sizeof me->agent, "%s", e->agent);
        me->reached = e->at;
        me->sent_at = INT64_MIN / 2;
        b->bytes += c;
      }
      me->pts += e->points;
      if (e->at > me->reached)
        me->reached = e->at;
      qsort(b->rows, b->n, sizeof *b->rows, mcmp);
      char ptext[16];
      gam__period_text(span, e->day, ptext, sizeof ptext);
      for (size_t i = 0; i < b->n; i++) {
        mrow_t *r = &b->rows[i];
        int64_t rank = (int64_t)i + 1;
        if (rank != r->sent && e->at - r->sent_at >= SEC) {
          if (record(s, spans[span], ptext, scopes[sc], b->sid, r->agent,
                     r->sent, rank, r->pts, (int64_t)b->n))
            return -1;
          r->sent = rank;
          r->sent_at = e->at;
        }
      }
    }
  }
  return 0;
}

/* every board of the model ranks as the kept boards do */
static int same_ranks(const model_t *m, const gam_rk_t *t) {
  for (size_t i = 0; i < 256; i++) {
    const mboard_t *b = &m->b[i];
    if (!b->used)
      continue;
    for (size_t k = 0; k < b->n; k++) {
      int64_t of = -1;
      int64_t r = gam__rk_rank(t, b->span, b->period, b->scope, b->sid,
                               b->rows[k].agent, &of);
      if (r != (int64_t)k + 1 || of != (int64_t)b->n) {
        fprintf(stderr, "board %s %lld %s [%s]: %s ranks %lld of %lld, the "
                "sort says %zu of %zu\n", spans[b->span],
                (long long)b->period, scopes[b->scope], b->sid,
                b->rows[k].agent, (long long)r, (long long)of, k + 1, b->n);
        return 1;
      }
    }
  }
  return 0;
}

static void store_free(store_t *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->k[i]);
    free(s->v[i]);
  }
  s->n = 0;
}

int test_gamification_rank_incremental(void) {
  static const char *const agents[] = {"a1", "a2", "b|3", "agent-number-4",
                                       "a5", "x",  "a7",  "a8",
                                       "a9", "a10", "a11", "z|z"};
  static const char *const teams[] = {NULL, "t1", "t|2"};
  static const char *const camps[] = {NULL, "k1", "k2", "k|3"};
  static const int64_t points[] = {50, 5, -5, -50, 3, 0, 25, 50};
  static model_t m;
  static store_t s, ms;
  unsigned seed = 15;
  int fails = 0;
  for (int run = 0; run < 16 && fails == 0; run++) {
    sb_err_t err = SB_ERR_INIT;
    memset(&m, 0, sizeof m);
    m.newest = INT64_MIN / 2;
    /* half the runs with boards that fill up (4 to 8 agents) */
    m.board_max = run % 2 ? 64u << 20 : 380 + (size_t)(run * 40);
    gam_rk_t *t = gam__rk_new("ten", 0, m.board_max, 64u << 20);
    CHECK(t != NULL);
    gam_rk_io_t io = {&s, st_put, st_del, st_newest, st_push};
    int64_t day = 20423, at = day * DAY_US + 9 * 3600 * SEC;
    int restores = 0;
    for (int i = 0; i < 500 && fails == 0; i++) {
      seed ^= seed << 13; /* xorshift32: the same sequence on every run */
      seed ^= seed >> 17;
      seed ^= seed << 5;
      int r = (int)(seed >> 1);
      if (r % 40 == 0)
        day += 1 + r % 9; /* a new day, sometimes a new week or month */
      at = at > day * DAY_US ? at : day * DAY_US + 8 * 3600 * SEC;
      at += (r >> 4) % 3 == 0 ? 250000 : (r >> 6) % 5 * SEC;
      int late = (r >> 8) % 17 == 0; /* an entry dated days back */
      gam_rk_entry_t e = {agents[(r >> 10) % 12], teams[(r >> 14) % 3],
                          camps[(r >> 16) % 4], points[(r >> 18) % 8],
                          late ? day - 1 - (r >> 20) % 12 : day,
                          late ? at - (1 + (r >> 20) % 12) * DAY_US : at};
      s.plen = ms.plen = 0;
      if (gam__rk_entry(t, &io, &e, &err) != 0 ||
          model_entry(&m, &ms, "ten", &e) != 0) {
        fprintf(stderr, "entry %d: %s\n", i, err.msg);
        fails++;
        break;
      }
      if (s.plen != ms.plen || memcmp(s.pushes, ms.pushes, s.plen) != 0) {
        fprintf(stderr, "run %d entry %d (%s %+lld): pushes differ\nkept:\n"
                "%.*s\nmodel:\n%.*s\n", run, i, e.agent, (long long)e.points,
                (int)s.plen, s.pushes, (int)ms.plen, ms.pushes);
        fails++;
      }
      fails += same_ranks(&m, t);
      if ((r >> 24) % 23 == 0) { /* dropped and rebuilt from state */
        gam__rk_free(t);
        t = rebuild(&s, "ten", m.board_max, &err);
        if (t == NULL) {
          fprintf(stderr, "rebuild: %s\n", err.msg);
          fails++;
          break;
        }
        restores++;
        fails += same_ranks(&m, t);
      }
    }
    /* the state holds exactly the model's rows */
    size_t rows = 0;
    for (size_t i = 0; i < 256; i++)
      rows += m.b[i].used ? m.b[i].n : 0;
    if (rows != s.n) {
      fprintf(stderr, "run %d: %zu rows in state, the model has %zu\n", run,
              s.n, rows);
      fails++;
    }
    CHECK(restores > 0);
    gam__rk_free(t);
    store_free(&s);
    s.newest[0] = '\0';
  }
  CHECK_INT(fails, 0);

  /* a key that is not a board row's is refused, naming it */
  sb_err_t err = SB_ERR_INIT;
  gam_rk_t *t = gam__rk_new("ten", 0, 1 << 20, 1 << 20);
  CHECK(t != NULL);
  CHECK_INT(gam__rk_restore_row(t, "lb|ten|day|2026-12-01|nope|0:|a1",
                                "1\t2\t3\t4", 7, &err),
            SB_ESTATE);
  CHECK(strstr(err.msg, "does not parse") != NULL);
  CHECK_INT(gam__rk_restore_row(t, "lb|ten|day|2026-12-01|team|5:t|a1",
                                "1\t2\t3\t4", 7, &err),
            SB_ESTATE);
  CHECK_INT(gam__rk_restore_row(t, "lb|ten|all|1970-01-01|tenant|0:|a1",
                                "1\tx", 3, &err),
            SB_ESTATE);
  gam__rk_free(t);
  return 0;
}
