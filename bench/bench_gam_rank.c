/* bench_gam_rank: ledger entries a second through the gamification rank
 * pusher (processors/gamification/gam_rankboard.c) against the algorithm
 * it replaced (each entry parsed its board's whole state, sorted it and
 * wrote it back: a copy of it is below, old_*), both over the same
 * in-memory keyed state (an open-addressed hash, like the kit's) with the
 * pushes counted, not produced: the Kafka and PostgreSQL costs of a batch
 * are left out of both, so the ratio is the algorithms'.
 *
 *   bench_gam_rank [entries] [reps] [agents]
 *
 * Per board size (100, 1,000, 5,000 agents already on the board, one
 * tenant): `entries` entries (default 20,000; the old algorithm fewer,
 * 500,000 / agents, at least 50; `agents` runs one size only) of random
 * agents (points 50,
 * 5 or -5, times 0.1 s apart: a push at most once a second per agent),
 * runs interleaved (old, new tenant, new all scopes, for each size, reps
 * times, default 5); the median of the reps. Columns:
 *
 *   old          the replaced algorithm: the tenant day and all-time boards
 *   new_tenant   the new one on the tenant boards (day, week, month, all)
 *   new_scopes   the new one with a team (10 teams) and a campaign (5):
 *                12 boards an entry
 *
 * and the same as board updates a second (entries x boards), and the
 * pushes an entry makes. Two boards: dense (agent a warmed with 5 + a % 50
 * points: about agents / 50 share each score, so a sale passes most of
 * the board and most entries move hundreds of ranks) and sparse (10 a
 * points: an entry moves at most 5 ranks). */
#include "gam_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEC 1000000LL

/* ---- the state: an open-addressed hash of strings ------------------------ */

typedef struct {
  char **k, **v;
  size_t *len;
  size_t cap, n;
} store_t;

static size_t slot(const store_t *s, const char *key) {
  uint64_t h = 1469598103934665603ULL;
  for (const char *p = key; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  size_t i = (size_t)h & (s->cap - 1);
  while (s->k[i] && strcmp(s->k[i], key) != 0)
    i = (i + 1) & (s->cap - 1);
  return i;
}

static void store_init(store_t *s, size_t cap) {
  s->cap = cap;
  s->n = 0;
  s->k = calloc(cap, sizeof *s->k);
  s->v = calloc(cap, sizeof *s->v);
  s->len = calloc(cap, sizeof *s->len);
  if (!s->k || !s->v || !s->len) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
}

static void store_free(store_t *s) {
  for (size_t i = 0; i < s->cap; i++) {
    free(s->k[i]);
    free(s->v[i]);
  }
  free(s->k);
  free(s->v);
  free(s->len);
}

static int get(store_t *s, const char *key, const void **v, size_t *len) {
  size_t i = slot(s, key);
  if (!s->k[i])
    return -1;
  *v = s->v[i];
  *len = s->len[i];
  return 0;
}

static int put(void *arg, const char *key, const void *val, size_t len,
               sb_err_t *err) {
  store_t *s = arg;
  size_t i = slot(s, key);
  char *v = malloc(len + 1);
  if (v == NULL || (!s->k[i] && (s->n + 1) * 2 > s->cap))
    return sb_err_set(err, SB_ENOMEM, "store full");
  memcpy(v, val, len);
  if (!s->k[i]) {
    s->k[i] = strdup(key);
    s->n++;
  }
  free(s->v[i]);
  s->v[i] = v;
  s->len[i] = len;
  return 0;
}

static int del(void *arg, const char *key, sb_err_t *err) {
  (void)arg;
  (void)key;
  return sb_err_set(err, SB_EINVAL, "the bench drops no boards");
}

static long pushes;

static int newest(void *arg, const void *val, size_t len, sb_err_t *err) {
  return put(arg, "bd|T", val, len, err);
}

static int push(void *arg, const gam_rk_push_t *p, sb_err_t *err) {
  (void)arg;
  (void)err;
  char disc[GAM_RK_KEY_MAX]; /* what the processor derives the id from */
  snprintf(disc, sizeof disc, "rank/%s/%s/%s/%s/%s", p->span, p->period,
           p->scope, p->scope_id, p->agent);
  pushes += disc[0] == 'r';
  return 0;
}

/* ---- the replaced algorithm (gam_rank.c before issue 15's last part) ----- */

typedef struct {
  char agent[GAM_NAME_MAX + 1];
  int64_t pts, reached, sent, sent_at;
} orow_t;

typedef struct {
  orow_t *v;
  size_t n, cap;
} oboard_t;

static orow_t *oadd(oboard_t *bd) {
  if (bd->n == bd->cap) {
    bd->cap = bd->cap ? bd->cap * 2 : 16;
    bd->v = realloc(bd->v, bd->cap * sizeof *bd->v);
    if (bd->v == NULL)
      exit(1);
  }
  orow_t *r = &bd->v[bd->n++];
  memset(r, 0, sizeof *r);
  return r;
}

static void oparse(oboard_t *bd, const char *s, size_t len) {
  const char *end = s + len;
  while (s < end) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *tab = memchr(s, '\t', (size_t)(nl - s));
    char num[128];
    orow_t *r = oadd(bd);
    memcpy(r->agent, s, (size_t)(tab - s));
    memcpy(num, tab + 1, (size_t)(nl - tab - 1));
    num[nl - tab - 1] = '\0';
    long long p, re, se, sa;
    if (sscanf(num, "%lld\t%lld\t%lld\t%lld", &p, &re, &se, &sa) != 4)
      exit(1);
    r->pts = p;
    r->reached = re;
    r->sent = se;
    r->sent_at = sa;
    s = nl + 1;
  }
}

static int oby_rank(const void *a, const void *b) {
  const orow_t *p = a, *q = b;
  if (p->pts != q->pts)
    return p->pts > q->pts ? -1 : 1;
  if (p->reached != q->reached)
    return p->reached < q->reached ? -1 : 1;
  return strcmp(p->agent, q->agent);
}

static void oboard(store_t *s, const char *span, int sp, int64_t day,
                   const char *agent, int64_t pts, int64_t at) {
  char period[16], key[400];
  gam__period_text(sp, day, period, sizeof period);
  snprintf(key, sizeof key, "b|T|%s|%s", span, period);
  oboard_t bd = {0};
  sb_text_t out = {0};
  const void *v;
  size_t len = 0;
  sb_err_t err = SB_ERR_INIT;
  if (get(s, key, &v, &len) == 0)
    oparse(&bd, v, len);
  orow_t *me = NULL;
  for (size_t i = 0; i < bd.n && me == NULL; i++)
    if (strcmp(bd.v[i].agent, agent) == 0)
      me = &bd.v[i];
  if (me == NULL) {
    me = oadd(&bd);
    snprintf(me->agent, sizeof me->agent, "%s", agent);
    me->reached = at;
    me->sent_at = INT64_MIN / 2;
  }
  me->pts += pts;
  if (at > me->reached)
    me->reached = at;
  qsort(bd.v, bd.n, sizeof *bd.v, oby_rank);
  for (size_t i = 0; i < bd.n; i++) {
    orow_t *r = &bd.v[i];
    int64_t rank = (int64_t)i + 1;
    if (rank != r->sent && at - r->sent_at >= SEC) {
      gam_rk_push_t p = {span, period, "tenant", "", r->agent, r->sent, rank,
                         r->pts, (int64_t)bd.n};
      push(NULL, &p, &err);
      r->sent = rank;
      r->sent_at = at;
    }
    sb_text_add(&out, "%s\t%lld\t%lld\t%lld\t%lld\n", r->agent,
                (long long)r->pts, (long long)r->reached, (long long)r->sent,
                (long long)r->sent_at);
  }
  if (put(s, key, out.s, out.len, &err) != 0)
    exit(1);
  sb_text_free(&out);
  free(bd.v);
}

/* the old boards with agents on them, written whole (its warm-up entry by
 * entry would take minutes): agent a has 5 + a % 50 points, reached at
 * at0 + a/10 s, its rank pushed */
static int sparse; /* warm points 10 a (an entry moves few) or 5 + a % 50 */

static int64_t warm_pts(int a) { return sparse ? 10 * (int64_t)a : 5 + a % 50; }

static void owarm(store_t *s, int agents, int64_t day, int64_t at0) {
  static const char *const span[2] = {"day", "all"};
  for (int k = 0; k < 2; k++) {
    oboard_t bd = {0};
    for (int a = 0; a < agents; a++) {
      orow_t *r = oadd(&bd);
      snprintf(r->agent, sizeof r->agent, "agent-%05d", a);
      r->pts = warm_pts(a);
      r->reached = at0 + (int64_t)a * SEC / 10;
    }
    qsort(bd.v, bd.n, sizeof *bd.v, oby_rank);
    sb_text_t out = {0};
    for (size_t i = 0; i < bd.n; i++)
      sb_text_add(&out, "%s\t%lld\t%lld\t%lld\t%lld\n", bd.v[i].agent,
                  (long long)bd.v[i].pts, (long long)bd.v[i].reached,
                  (long long)i + 1, (long long)bd.v[i].reached);
    char period[16], key[64];
    sb_err_t err = SB_ERR_INIT;
    gam__period_text(k ? GAM_SPAN_ALL : GAM_SPAN_DAY, day, period,
                     sizeof period);
    snprintf(key, sizeof key, "b|T|%s|%s", span[k], period);
    if (put(s, key, out.s, out.len, &err) != 0)
      exit(1);
    sb_text_free(&out);
    free(bd.v);
  }
}

/* ---- the runs ------------------------------------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rnd(uint32_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

enum { OLD, NEW_TENANT, NEW_SCOPES, KINDS };

/* entries a second of kind with agents on the board (warmed: each agent
 * one entry first, not timed) */
static double run(int kind, int agents, int entries, double *per_entry) {
  if (kind == OLD && entries > 500000 / agents) /* it is slow: fewer */
    entries = 500000 / agents > 50 ? 500000 / agents : 50;
  store_t s;
  store_init(&s, 1u << 19);
  gam_rk_t *t = gam__rk_new("T", 0, 64u << 20, 1024u << 20);
  gam_rk_io_t io = {&s, put, del, newest, push};
  sb_err_t err = SB_ERR_INIT;
  uint32_t x = 2463534242u;
  int64_t day = 20423, at = day * 86400 * SEC + 9 * 3600 * SEC;
  static const int64_t pts[] = {50, 5, -5};
  double t0 = 0;
  long p0 = 0;
  int i = 0;
  if (kind == OLD) {
    owarm(&s, agents, day, at);
    at += (int64_t)agents * SEC / 10;
    i = agents;
  }
  for (; i < agents + entries; i++) {
    if (i == agents) {
      t0 = now_s();
      p0 = pushes;
    }
    char agent[32], team[16], camp[16];
    uint32_t r = rnd(&x);
    int a = i < agents ? i : (int)(r % (uint32_t)agents);
    snprintf(agent, sizeof agent, "agent-%05d", a);
    snprintf(team, sizeof team, "team-%d", a % 10);
    snprintf(camp, sizeof camp, "camp-%u", (r >> 8) % 5);
    int64_t p = i < agents ? warm_pts(a) : pts[(r >> 16) % 3];
    at += SEC / 10;
    if (kind == OLD) {
      oboard(&s, "day", GAM_SPAN_DAY, day, agent, p, at);
      oboard(&s, "all", GAM_SPAN_ALL, day, agent, p, at);
      continue;
    }
    gam_rk_entry_t e = {agent, kind == NEW_SCOPES ? team : NULL,
                        kind == NEW_SCOPES ? camp : NULL, p, day, at};
    if (gam__rk_entry(t, &io, &e, &err) != 0) {
      fprintf(stderr, "entry: %s\n", err.msg);
      exit(1);
    }
  }
  double dt = now_s() - t0;
  *per_entry = (double)(pushes - p0) / entries;
  gam__rk_free(t);
  store_free(&s);
  return entries / dt;
}

static int cmp_d(const void *a, const void *b) {
  double p = *(const double *)a, q = *(const double *)b;
  return p < q ? -1 : p > q;
}

int main(int argc, char **argv) {
  int entries = argc > 1 ? atoi(argv[1]) : 20000;
  int reps = argc > 2 ? atoi(argv[2]) : 5;
  if (entries < 1 || reps < 1 || reps > 31) {
    fprintf(stderr, "usage: bench_gam_rank [entries >= 1] [reps 1..31]\n");
    return 2;
  }
  int sizes[] = {100, 1000, 5000}, nsizes = 3;
  if (argc > 3) {
    sizes[0] = atoi(argv[3]);
    nsizes = 1;
    if (sizes[0] < 1 || sizes[0] > 20000) {
      fprintf(stderr, "bench_gam_rank: agents 1..20000\n");
      return 2;
    }
  }
  for (sparse = 0; sparse < 2; sparse++) {
  double r[3][KINDS][31], pe[3][KINDS];
  for (int rep = 0; rep < reps; rep++)
    for (int z = 0; z < nsizes; z++)
      for (int k = 0; k < KINDS; k++) /* interleaved */
        r[z][k][rep] = run(k, sizes[z], entries, &pe[z][k]);
  printf("%s board\n", sparse ? "sparse" : "dense");
  printf("agents\told e/s\tnew_tenant e/s\tnew_scopes e/s\told b/s\t"
         "new_tenant b/s\tnew_scopes b/s\tratio tenant (b/s)\t"
         "ratio scopes (b/s)\tpushes/entry old, tenant, scopes\n");
  for (int z = 0; z < nsizes; z++) {
    double med[KINDS];
    for (int k = 0; k < KINDS; k++) {
      qsort(r[z][k], (size_t)reps, sizeof(double), cmp_d);
      med[k] = r[z][k][reps / 2];
    }
    printf("%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f, %.1f, "
           "%.1f\n", sizes[z],
           med[OLD], med[NEW_TENANT], med[NEW_SCOPES], med[OLD] * 2,
           med[NEW_TENANT] * 4, med[NEW_SCOPES] * 12,
           med[NEW_TENANT] * 4 / (med[OLD] * 2),
           med[NEW_SCOPES] * 12 / (med[OLD] * 2), pe[z][OLD],
           pe[z][NEW_TENANT], pe[z][NEW_SCOPES]);
  }
  }
  printf("(median of %d interleaved runs of %d entries; pushes counted: "
         "%ld)\n", reps, entries, pushes);
  return 0;
}
