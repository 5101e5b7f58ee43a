/* Rank changes pushed live: on the tenant's partition, where every ledger
 * entry arrives as challenge.input (gam_chal_decide.c) in one order, the
 * tenant boards of the day (the entry's local day) and of all time are
 * kept in keyed state, ranked as the view leaderboard ranks them (points,
 * then who got there first, then the agent id), and each agent whose rank
 * differs from the one last pushed to it gets leaderboard.rank_changed:
 *
 *   b|T|span|period  one line per agent on the board: agent, points,
 *                    reached_at, the rank last pushed (0: none), when
 *   bd|T             the newest local day with a board kept
 *
 * Bounded: an agent gets at most one push per board per second of event
 * time (a change within the second goes with the next entry on that
 * board a second or more after the last push); only agents whose rank
 * moved get one. Day boards are kept for the newest local day and the one
 * before it (entries of older days push nothing: their boards are read,
 * not pushed). An entry costs a pass over its boards' agents (parse, sort,
 * write back). A board holds at most BOARD_BYTES of state. The events' ids derive from the entry's input and the
 * board and agent, so a retry or a replay sends the same ones. */
#include "gam_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000LL
/* a board's state, under the kit's bound on a value (1 MiB): about 10,000
 * agents of 20-byte ids; an agent not on a full board is not added (no
 * pushes for it on that board; the board read through the views is whole) */
#define BOARD_BYTES (960u * 1024u)

typedef struct {
  char agent[GAM_NAME_MAX + 1];
  int64_t pts, reached, sent, sent_at;
} row_t;

typedef struct {
  row_t *v;
  size_t n, cap;
} board_t;

static row_t *add_row(board_t *bd) {
  if (bd->n == bd->cap) {
    size_t cap = bd->cap ? bd->cap * 2 : 16;
    row_t *v = realloc(bd->v, cap * sizeof *v);
    if (v == NULL)
      return NULL;
    bd->v = v;
    bd->cap = cap;
  }
  row_t *r = &bd->v[bd->n++];
  memset(r, 0, sizeof *r);
  return r;
}

/* lines "agent\tpoints\treached\tsent\tsent_at\n" */
static int parse(board_t *bd, const char *s, size_t len, sb_err_t *err) {
  const char *end = s + len;
  while (s < end) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *tab = memchr(s, '\t', (size_t)((nl ? nl : end) - s));
    char num[128];
    row_t *r;
    if (nl == NULL || tab == NULL || (size_t)(tab - s) > GAM_NAME_MAX ||
        (size_t)(nl - tab) >= sizeof num || (r = add_row(bd)) == NULL)
      return sb_err_set(err, SB_EVALIDATE, "leaderboard state: a line that "
                        "does not parse (or out of memory)");
    memcpy(r->agent, s, (size_t)(tab - s));
    memcpy(num, tab + 1, (size_t)(nl - tab - 1));
    num[nl - tab - 1] = '\0';
    long long p, re, se, sa;
    if (sscanf(num, "%lld\t%lld\t%lld\t%lld", &p, &re, &se, &sa) != 4)
      return sb_err_set(err, SB_EVALIDATE, "leaderboard state: a line that "
                        "does not parse");
    r->pts = p;
    r->reached = re;
    r->sent = se;
    r->sent_at = sa;
    s = nl + 1;
  }
  return 0;
}

static int by_rank(const void *a, const void *b) {
  const row_t *p = a, *q = b;
  if (p->pts != q->pts)
    return p->pts > q->pts ? -1 : 1;
  if (p->reached != q->reached)
    return p->reached < q->reached ? -1 : 1;
  return strcmp(p->agent, q->agent);
}

static int emit_rank(gam_t *x, sb_batch_t *b, const char *T, const char *span,
                     const char *period, const row_t *r, int64_t rank,
                     size_t n, sb_err_t *err) {
  const sb_field_t *F = x->f[GT_RANK];
  sb_build_t *e = sb_emit_begin(b, x->t[GT_RANK]);
  sb_build_str(e, F[GX_AGENT], r->agent);
  sb_build_str(e, F[GX_SPAN], span);
  sb_build_str(e, F[GX_PERIOD], period);
  sb_build_str(e, F[GX_SCOPE], "tenant");
  if (r->sent > 0)
    sb_build_i64(e, F[GX_OLD_RANK], r->sent);
  sb_build_i64(e, F[GX_NEW_RANK], rank);
  sb_build_i64(e, F[GX_POINTS], r->pts);
  sb_build_i64(e, F[GX_OF_AGENTS], (int64_t)n);
  char disc[300];
  snprintf(disc, sizeof disc, "rank/%s/%s/%s", span, period, r->agent);
  sb_emit_t o = {.discriminator = disc, .tenant_id = T};
  return sb_emit_end(b, e, &o, err);
}

/* one entry on one board */
static int on_board(gam_t *x, sb_batch_t *b, const char *T, int span,
                    int64_t day, const char *agent, int64_t pts, int64_t at,
                    sb_err_t *err) {
  static const char *const spans[GAM_SPAN_N] = {"day", "week", "month", "all"};
  char period[16], key[400];
  gam__period_text(span, day, period, sizeof period);
  int kn = snprintf(key, sizeof key, "b|%s|%s|%s", T, spans[span], period);
  if (kn < 0 || (size_t)kn >= sizeof key)
    return sb_err_set(err, SB_EVALIDATE, "leaderboard: a state key past %zu "
                      "bytes", sizeof key - 1);
  board_t bd = {0};
  sb_text_t out = {0};
  const void *v;
  size_t len = 0;
  int rc = 0;
  if (sb_state_get(b, key, &v, &len) == 0 && (rc = parse(&bd, v, len, err)))
    goto out;
  row_t *me = NULL;
  for (size_t i = 0; i < bd.n && me == NULL; i++)
    if (strcmp(bd.v[i].agent, agent) == 0)
      me = &bd.v[i];
  if (me == NULL && bd.n > 0 && len + strlen(agent) + 96 > BOARD_BYTES)
    goto out; /* full: see BOARD_BYTES */
  if (me == NULL) {
    if ((me = add_row(&bd)) == NULL) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      goto out;
    }
    snprintf(me->agent, sizeof me->agent, "%s", agent);
    me->reached = at;
    me->sent_at = INT64_MIN / 2;
  }
  me->pts += pts;
  if (at > me->reached)
    me->reached = at;
  qsort(bd.v, bd.n, sizeof *bd.v, by_rank);
  for (size_t i = 0; i < bd.n && rc == 0; i++) {
    row_t *r = &bd.v[i];
    int64_t rank = (int64_t)i + 1;
    if (rank != r->sent && at - r->sent_at >= SEC) {
      rc = emit_rank(x, b, T, spans[span], period, r, rank, bd.n, err);
      r->sent = rank;
      r->sent_at = at;
    }
    sb_text_add(&out, "%s\t%lld\t%lld\t%lld\t%lld\n", r->agent,
                (long long)r->pts, (long long)r->reached, (long long)r->sent,
                (long long)r->sent_at);
  }
  if (rc == 0)
    rc = out.failed ? sb_err_set(err, SB_ENOMEM, "out of memory")
                    : sb_state_put(b, key, out.s, out.len, err);
out:
  sb_text_free(&out);
  free(bd.v);
  return rc;
}

int gam__rank_entry(gam_t *x, sb_batch_t *b, const char *T, const char *agent,
                    int64_t pts, int64_t day, int64_t at, sb_err_t *err) {
  char key[300], val[32];
  const void *v;
  size_t len;
  long long newest = INT64_MIN / 2;
  if (strpbrk(agent, "\t\n") != NULL || strlen(agent) > GAM_NAME_MAX)
    return 0; /* not a line of the board's state: no pushes for it */
  snprintf(key, sizeof key, "bd|%s", T);
  if (sb_state_get(b, key, &v, &len) == 0 && len < sizeof val) {
    memcpy(val, v, len);
    val[len] = '\0';
    newest = strtoll(val, NULL, 10);
  }
  if (day > newest) { /* keep the boards of day and the day before */
    for (long long d = newest - 1; d <= newest; d++) {
      char period[16];
      if (d >= day - 1 || d < 0)
        continue;
      gam__period_text(GAM_SPAN_DAY, d, period, sizeof period);
      char dk[400];
      snprintf(dk, sizeof dk, "b|%s|day|%s", T, period);
      if (sb_state_get(b, dk, &v, &len) == 0 && sb_state_del(b, dk, err) != 0)
        return err->code;
    }
    int n = snprintf(val, sizeof val, "%lld", (long long)day);
    if (sb_state_put(b, key, val, (size_t)n, err) != 0)
      return err->code;
    newest = day;
  }
  if (day >= newest - 1 &&
      on_board(x, b, T, GAM_SPAN_DAY, day, agent, pts, at, err) != 0)
    return err->code;
  return on_board(x, b, T, GAM_SPAN_ALL, day, agent, pts, at, err);
}
