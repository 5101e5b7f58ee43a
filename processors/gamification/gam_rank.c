/* Rank changes pushed live: on the tenant's partition, where every ledger
 * entry arrives as challenge.input (gam_chal_decide.c) in one order, the
 * boards of every span (day, week, month, all time) and scope (tenant,
 * team: the team the entry was credited to; campaign: the entry's source
 * event's campaign) are kept ranked as the view leaderboard ranks them
 * (points, then who got there first, then the agent id), and each agent
 * whose rank differs from the one last pushed to it gets
 * leaderboard.rank_changed.
 *
 * Bounded: an agent gets at most one push per board per second of event
 * time (a change within the second goes with the next entry on that board
 * a second or more after the last push); only agents whose rank moved get
 * one. Boards are kept for the newest period and the one before it of
 * each span (the newest local day any entry reached, and the day, ISO week
 * and month before it); entries of older periods push nothing on those
 * boards (they are read, not pushed), and a board that falls out of that
 * is dropped. A board holds at most gamification.rank_board_bytes of
 * state, a tenant's boards gamification.rank_tenant_mib.
 *
 * Kept in keyed state, one key per agent and board (gam_rankboard.c), and
 *
 *   bd|T   the newest local day with boards kept
 *
 * with a cache of the boards ranked (gam_rk_t per tenant and partition),
 * rebuilt by one scan of the tenant's keys on its first entry after the
 * cache was dropped: on abort (the batch's state is dropped), revoke, and
 * whenever an entry fails half-way. An entry costs O(log n) to place its
 * agent and O(k) for the k agents whose rank it moves or that are held,
 * on each of its boards (up to 4 spans x 3 scopes). The events' ids derive
 * from the entry's input, the board and the agent, so a retry or a replay
 * sends the same ones. */
#include "gam_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  gam_t *x;
  sb_batch_t *b;
  const char *T;
} ctx_t;

static int st_put(void *arg, const char *key, const void *val, size_t len,
                  sb_err_t *err) {
  return sb_state_put(((ctx_t *)arg)->b, key, val, len, err);
}

static int st_del(void *arg, const char *key, sb_err_t *err) {
  return sb_state_del(((ctx_t *)arg)->b, key, err);
}

static int st_newest(void *arg, const void *val, size_t len, sb_err_t *err) {
  ctx_t *c = arg;
  char key[300];
  snprintf(key, sizeof key, "bd|%s", c->T);
  return sb_state_put(c->b, key, val, len, err);
}

static int push(void *arg, const gam_rk_push_t *p, sb_err_t *err) {
  ctx_t *c = arg;
  gam_t *x = c->x;
  const sb_field_t *F = x->f[GT_RANK];
  sb_build_t *e = sb_emit_begin(c->b, x->t[GT_RANK]);
  sb_build_str(e, F[GX_AGENT], p->agent);
  sb_build_str(e, F[GX_SPAN], p->span);
  sb_build_str(e, F[GX_PERIOD], p->period);
  sb_build_str(e, F[GX_SCOPE], p->scope);
  if (p->scope_id[0] != '\0')
    sb_build_str(e, F[GX_SCOPE_ID], p->scope_id);
  if (p->old_rank > 0)
    sb_build_i64(e, F[GX_OLD_RANK], p->old_rank);
  sb_build_i64(e, F[GX_NEW_RANK], p->new_rank);
  sb_build_i64(e, F[GX_POINTS], p->points);
  sb_build_i64(e, F[GX_OF_AGENTS], p->of_agents);
  char disc[GAM_RK_KEY_MAX];
  /* the tenant boards' ids as before team and campaign boards were pushed */
  if (strcmp(p->scope, "tenant") == 0)
    snprintf(disc, sizeof disc, "rank/%s/%s/%s", p->span, p->period, p->agent);
  else
    snprintf(disc, sizeof disc, "rank/%s/%s/%s/%zu:%s/%s", p->span, p->period,
             p->scope, strlen(p->scope_id), p->scope_id, p->agent);
  sb_emit_t o = {.discriminator = disc, .tenant_id = c->T};
  return sb_emit_end(c->b, e, &o, err);
}

static int restore_one(void *arg, const char *key, const void *val, size_t len,
                       sb_err_t *err) {
  return gam__rk_restore_row(arg, key, val, len, err);
}

/* the boards the previous version kept, one key each (b|T|span|period:
 * the tenant's all-time board and its day boards of the newest day, the
 * same bd|T, and the day before), deleted when found */
static int drop_v1(sb_batch_t *b, const char *T, int64_t newest,
                   sb_err_t *err) {
  char key[300], period[16];
  const void *v;
  size_t len;
  for (int i = 0; i < 3; i++) {
    if (i > 0 && newest < 0)
      break;
    gam__period_text(i ? GAM_SPAN_DAY : GAM_SPAN_ALL, newest - (i == 2),
                     period, sizeof period);
    snprintf(key, sizeof key, "b|%s|%s|%s", T, i ? "day" : "all", period);
    if (sb_state_get(b, key, &v, &len) == 0 && sb_state_del(b, key, err) != 0)
      return err->code;
  }
  return 0;
}

/* the tenant's cached boards on this partition, rebuilt from state when
 * not cached */
static gam_rk_t *boards_of(gam_t *x, sb_batch_t *b, const char *T,
                           sb_err_t *err) {
  int32_t part = sb_batch_partition(b);
  for (gam_rk_t *t = x->ranked; t; t = *gam__rk_next(t))
    if (gam__rk_partition(t) == part && strcmp(gam__rk_tenant(t), T) == 0)
      return t;
  gam_rk_t *t = gam__rk_new(T, part, x->rank_board_max, x->rank_tenant_max);
  if (t == NULL) {
    sb_err_set(err, SB_ENOMEM, "out of memory");
    return NULL;
  }
  char key[300], val[32];
  const void *v;
  size_t len;
  snprintf(key, sizeof key, "bd|%s", T);
  int64_t newest = INT64_MIN / 2;
  if (sb_state_get(b, key, &v, &len) == 0 && len < sizeof val) {
    memcpy(val, v, len);
    val[len] = '\0';
    newest = strtoll(val, NULL, 10);
    gam__rk_restore_newest(t, newest);
  }
  snprintf(key, sizeof key, "lb|%s|", T);
  if (sb_state_scan(b, key, restore_one, t, err) != 0 ||
      gam__rk_ready(t, err) != 0 || drop_v1(b, T, newest, err) != 0) {
    sb_err_prefix(err, "leaderboard: restoring tenant %s: ", T);
    gam__rk_free(t);
    return NULL;
  }
  *gam__rk_next(t) = x->ranked;
  x->ranked = t;
  return t;
}

void gam__rank_forget(gam_t *x, int32_t partition) {
  for (gam_rk_t **p = &x->ranked; *p;) {
    gam_rk_t *t = *p;
    if (partition >= 0 && gam__rk_partition(t) != partition) {
      p = gam__rk_next(t);
      continue;
    }
    *p = *gam__rk_next(t);
    gam__rk_free(t);
  }
}

int gam__rank_entry(gam_t *x, sb_batch_t *b, const char *T, const char *agent,
                    const char *team, const char *campaign, int64_t pts,
                    int64_t day, int64_t at, sb_err_t *err) {
  gam_rk_t *t = boards_of(x, b, T, err);
  if (t == NULL)
    return err->code;
  ctx_t c = {x, b, T};
  gam_rk_io_t io = {&c, st_put, st_del, st_newest, push};
  gam_rk_entry_t e = {agent, team, campaign, pts, day, at};
  if (gam__rk_entry(t, &io, &e, err) != 0) {
    /* the cache and the state may differ now: rebuilt from the state */
    gam__rank_forget(x, sb_batch_partition(b));
    return err->code;
  }
  return 0;
}
