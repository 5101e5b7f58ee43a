/* The one place per agent that decides (gam_int.h): gamification.input and
 * team membership, on the agent's partition of sb.gamification, in its
 * order. Keyed state (tenant and agent in every key, several tenants
 * sharing a partition):
 *
 *   a|T|A            the agent: balance, points held for pending
 *                    redemptions, team, metrics (points, rule:<id>), badge
 *                    tiers given, streaks (last day met, length, tiers)
 *   w|T|A|rule|src   an award decided (paid, local day, reversed, team,
 *                    campaign):
 *                    the same (rule, source event) never pays twice
 *   s|T|A|slot       a call's disposition slot: the source event whose
 *                    awards stand and their rules
 *   d|T|A|day        points paid per rule and in all on a local day (caps,
 *                    streaks)
 *   r|T|A|redemption what became of a redemption
 *
 * Decisions are events: points.awarded, points.reversed (a changed
 * disposition; an approved redemption's deduction, rule "redemption"),
 * badge.awarded, reward.redemption_settled. Their ids derive from the
 * input's, so a retried batch emits the same ones. A balance never goes
 * negative: a reversal takes back at most the balance (the shortfall is
 * said in its reason), a redemption is held only against the balance not
 * already held, and deducted on approval only while the balance covers
 * it. */
#include "gam_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tier_names[GAM_TIERS] = {"bronze", "silver", "gold",
                                                  "platinum", "diamond"};

typedef struct {
  gam_t *x;
  sb_batch_t *b;
  const sb_event_t *ev;
  const char *tenant, *agent;
  cJSON *a; /* the agent's state */
} ctx_t;

/* ---- state helpers -------------------------------------------------------- */

static int key_of(char *out, size_t n, const char *kind, const ctx_t *c,
                  const char *a, const char *b2, sb_err_t *err) {
  int len = snprintf(out, n, "%s|%s|%s%s%s%s%s", kind, c->tenant, c->agent,
                     a ? "|" : "", a ? a : "", b2 ? "|" : "", b2 ? b2 : "");
  if (len < 0 || (size_t)len >= n)
    return sb_err_set(err, SB_EVALIDATE,
                      "gamification: a state key past %zu bytes (agent %.64s)",
                      n - 1, c->agent);
  return 0;
}

/* the JSON held at key (an empty object when none): owned by the caller */
static cJSON *load_json(sb_batch_t *b, const char *key) {
  const void *v;
  size_t len;
  cJSON *j = NULL;
  if (sb_state_get(b, key, &v, &len) == 0)
    j = cJSON_ParseWithLength(v, len);
  return j ? j : cJSON_CreateObject();
}

static int save_json(sb_batch_t *b, const char *key, const cJSON *j,
                     sb_err_t *err) {
  char *s = cJSON_PrintUnformatted(j);
  if (s == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = sb_state_put(b, key, s, strlen(s), err);
  cJSON_free(s);
  return rc;
}

static int64_t geti(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static cJSON *obj(cJSON *o, const char *k) {
  cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsObject(v)) {
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    v = cJSON_AddObjectToObject(o, k);
  }
  return v;
}

static void seti(cJSON *o, const char *k, int64_t v) {
  cJSON *n = cJSON_GetObjectItemCaseSensitive(o, k);
  if (cJSON_IsNumber(n))
    cJSON_SetNumberValue(n, (double)v);
  else {
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    cJSON_AddNumberToObject(o, k, (double)v);
  }
}

/* The agent's teams by event time: "teams" is [[since_us, team], ...] in
 * time order ("" for none), so the team credited is the one the agent was
 * in when the points were earned, whatever order the membership events and
 * the awards reach this partition in. At most TEAMS_KEPT changes are kept
 * (the oldest dropped: an award older than all of them counts for the
 * oldest kept). */
#define TEAMS_KEPT 64

static const char *team_at(const ctx_t *c, int64_t at) {
  const cJSON *ts = cJSON_GetObjectItemCaseSensitive(c->a, "teams"), *e;
  const char *team = NULL;
  cJSON_ArrayForEach(e, ts) {
    const cJSON *since = cJSON_GetArrayItem(e, 0), *t = cJSON_GetArrayItem(e, 1);
    if (!cJSON_IsNumber(since) || !cJSON_IsString(t))
      continue;
    if ((int64_t)since->valuedouble > at && team != NULL)
      break;
    team = t->valuestring;
  }
  return team && team[0] ? team : NULL;
}

static const char *team_of(const ctx_t *c) {
  return team_at(c, c->ev->occurred_at);
}

/* a membership change at at: team joined, or left ("" when it was the
 * team the agent was in then) */
static void team_change(ctx_t *c, int64_t at, const char *team, int added) {
  if (!added) {
    const char *cur = team_at(c, at);
    if (cur == NULL || team == NULL || strcmp(cur, team) != 0)
      return;
  }
  cJSON *ts = cJSON_GetObjectItemCaseSensitive(c->a, "teams");
  if (!cJSON_IsArray(ts)) {
    cJSON_DeleteItemFromObjectCaseSensitive(c->a, "teams");
    ts = cJSON_AddArrayToObject(c->a, "teams");
  }
  int pos = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, ts) {
    const cJSON *since = cJSON_GetArrayItem(e, 0);
    if (cJSON_IsNumber(since) && (int64_t)since->valuedouble > at)
      break;
    pos++;
  }
  cJSON *n = cJSON_CreateArray();
  cJSON_AddItemToArray(n, cJSON_CreateNumber((double)at));
  cJSON_AddItemToArray(n, cJSON_CreateString(added && team ? team : ""));
  cJSON_InsertItemInArray(ts, pos, n);
  while (cJSON_GetArraySize(ts) > TEAMS_KEPT)
    cJSON_DeleteItemFromArray(ts, 0);
}

/* ---- emitting ------------------------------------------------------------- */

static int emit_points(ctx_t *c, int reversal, const char *rule, int64_t pts,
                       const char *src, const char *src_type,
                       const char *rule_name, const char *team,
                       const char *campaign, const char *reason,
                       const char *disc, sb_err_t *err) {
  int t = reversal ? GT_REVERSED : GT_AWARDED;
  const sb_field_t *F = c->x->f[t];
  sb_build_t *e = sb_emit_begin(c->b, c->x->t[t]);
  sb_build_str(e, F[GX_AGENT], c->agent);
  sb_build_str(e, F[GX_RULE], rule);
  sb_build_i64(e, F[GX_POINTS], pts);
  sb_build_str(e, F[GX_SOURCE_EVENT], src);
  if (team)
    sb_build_str(e, F[GX_TEAM], team);
  if (campaign && campaign[0])
    sb_build_str(e, F[GX_CAMPAIGN], campaign);
  if (reversal) {
    sb_build_str(e, F[GX_REASON], reason);
  } else {
    if (src_type)
      sb_build_str(e, F[GX_SOURCE_TYPE], src_type);
    if (rule_name)
      sb_build_str(e, F[GX_RULE_NAME], rule_name);
    const sb_field_t *I = c->x->in;
    const char *call = sb_event_str(c->ev, I[GI_CALL]);
    const char *lead = sb_event_str(c->ev, I[GI_LEAD]);
    if (call && call[0])
      sb_build_str(e, F[GX_CALL], call);
    if (lead && lead[0])
      sb_build_str(e, F[GX_LEAD], lead);
  }
  sb_emit_t o = {.discriminator = disc, .tenant_id = c->tenant};
  return sb_emit_end(c->b, e, &o, err);
}

static int emit_badge(ctx_t *c, const char *id, const char *name, int tier,
                      const char *rule, sb_err_t *err) {
  const sb_field_t *F = c->x->f[GT_BADGE];
  sb_build_t *e = sb_emit_begin(c->b, c->x->t[GT_BADGE]);
  sb_build_str(e, F[GX_AGENT], c->agent);
  sb_build_str(e, F[GX_BADGE], id);
  sb_build_str(e, F[GX_BADGE_NAME], name);
  if (tier >= 0)
    sb_build_enum(e, F[GX_TIER], tier_names[tier]);
  if (rule)
    sb_build_str(e, F[GX_RULE], rule);
  const char *src = sb_event_str(c->ev, c->x->in[GI_REF]);
  if (src && strlen(src) == 26)
    sb_build_str(e, F[GX_SOURCE_EVENT], src);
  const char *team = team_of(c);
  if (team)
    sb_build_str(e, F[GX_TEAM], team);
  char disc[160];
  snprintf(disc, sizeof disc, "badge/%s/%d", id, tier);
  sb_emit_t o = {.discriminator = disc, .tenant_id = c->tenant};
  return sb_emit_end(c->b, e, &o, err);
}

static int emit_settled(ctx_t *c, const char *rid, const char *reward,
                        const char *status, int64_t cost, const char *reason,
                        sb_err_t *err) {
  const sb_field_t *F = c->x->f[GT_SETTLED];
  sb_build_t *e = sb_emit_begin(c->b, c->x->t[GT_SETTLED]);
  sb_build_str(e, F[GX_AGENT], c->agent);
  sb_build_str(e, F[GX_REDEMPTION], rid);
  if (reward)
    sb_build_str(e, F[GX_REWARD], reward);
  sb_build_enum(e, F[GX_STATUS], status);
  sb_build_i64(e, F[GX_COST], cost);
  sb_build_i64(e, F[GX_BALANCE], geti(c->a, "bal"));
  sb_build_i64(e, F[GX_HELD], geti(c->a, "held"));
  if (reason)
    sb_build_str(e, F[GX_REASON], reason);
  sb_emit_t o = {.discriminator = "settled", .tenant_id = c->tenant};
  return sb_emit_end(c->b, e, &o, err);
}

/* ---- badges, tiers, streaks ---------------------------------------------- */

static int iso_weekday(int64_t day) { /* 1970-01-01 was a Thursday (4) */
  return (int)(((day + 3) % 7 + 7) % 7) + 1;
}

static int64_t prev_working(const gam_rules_t *r, int64_t day) {
  for (int i = 1; i <= 7; i++)
    if (r->working_days & (1u << iso_weekday(day - i)))
      return day - i;
  return day - 1;
}

static int badges(ctx_t *c, const gam_rules_t *r, const char *rule,
                  sb_err_t *err) {
  cJSON *m = obj(c->a, "m"), *given = obj(c->a, "b");
  for (int i = 0; i < r->nbadges; i++) {
    const gam_badge_t *g = &r->badges[i];
    int64_t v = geti(m, g->metric), mask = geti(given, g->id);
    for (int t = 0; t < g->ntiers; t++) {
      if (v < g->tiers[t] || (mask & (INT64_C(1) << t)))
        continue;
      mask |= INT64_C(1) << t;
      if (emit_badge(c, g->id, g->name, g->once ? -1 : t, rule, err) != 0)
        return err->code;
    }
    seti(given, g->id, mask);
  }
  return 0;
}

static int64_t next_working(const gam_rules_t *r, int64_t day) {
  for (int i = 1; i <= 7; i++)
    if (r->working_days & (1u << iso_weekday(day + i)))
      return day + i;
  return day + 1;
}

static int has_day(const cJSON *met, int64_t day) {
  const cJSON *e;
  cJSON_ArrayForEach(e, met) if (cJSON_IsNumber(e) &&
                                 (int64_t)e->valuedouble == day) return 1;
  return 0;
}

#define MET_KEPT 400 /* working days met remembered per streak */

/* The day's points reached a streak's target on a working day: the day
 * joins the streak's set of days met, and the run of consecutive working
 * days met through it (backwards and forwards: non-working days neither
 * count nor break it) gives the tiers. The set, not the order the days
 * arrive in, decides: a late award for an earlier day joins two runs the
 * same way. */
static int streaks(ctx_t *c, const gam_rules_t *r, int64_t day, int64_t total,
                   sb_err_t *err) {
  if (!(r->working_days & (1u << iso_weekday(day))))
    return 0;
  cJSON *ss = obj(c->a, "s");
  for (int i = 0; i < r->nstreaks; i++) {
    const gam_streak_t *s = &r->streaks[i];
    if (total < s->daily_points)
      continue;
    cJSON *st = obj(ss, s->id);
    cJSON *met = cJSON_GetObjectItemCaseSensitive(st, "met");
    if (!cJSON_IsArray(met)) {
      cJSON_DeleteItemFromObjectCaseSensitive(st, "met");
      met = cJSON_AddArrayToObject(st, "met");
    }
    if (has_day(met, day))
      continue;
    cJSON_AddItemToArray(met, cJSON_CreateNumber((double)day));
    while (cJSON_GetArraySize(met) > MET_KEPT) { /* the earliest goes */
      int lo = 0, k = 0;
      const cJSON *e;
      cJSON_ArrayForEach(e, met) {
        if (e->valuedouble < cJSON_GetArrayItem(met, lo)->valuedouble)
          lo = k;
        k++;
      }
      cJSON_DeleteItemFromArray(met, lo);
    }
    int64_t len = 1, mask = geti(st, "given");
    for (int64_t d = prev_working(r, day); has_day(met, d) && len < 4000;
         d = prev_working(r, d))
      len++;
    for (int64_t d = next_working(r, day); has_day(met, d) && len < 4000;
         d = next_working(r, d))
      len++;
    if (len > geti(st, "best"))
      seti(st, "best", len);
    for (int t = 0; t < s->ntiers; t++) {
      if (len < s->tiers[t] || (mask & (INT64_C(1) << t)))
        continue;
      mask |= INT64_C(1) << t;
      if (emit_badge(c, s->id, s->name, t, NULL, err) != 0)
        return err->code;
    }
    seti(st, "given", mask);
  }
  return 0;
}

/* ---- awards and reversals ------------------------------------------------- */

/* takes back the award (rule, src), when it stands */
static int reverse(ctx_t *c, const char *rule, const char *src,
                   const char *why, sb_err_t *err) {
  char wk[1024], dk[600];
  const void *v;
  size_t len;
  if (key_of(wk, sizeof wk, "w", c, rule, src, err) != 0)
    return err->code;
  char rec[400];
  if (sb_state_get(c->b, wk, &v, &len) != 0 || len >= sizeof rec)
    return 0;
  memcpy(rec, v, len);
  rec[len] = '\0';
  long long paid = 0, day = 0;
  int rev = 0;
  char team[GAM_NAME_MAX + 1] = "", campaign[GAM_NAME_MAX + 1] = "";
  if (sscanf(rec, "%lld\t%lld\t%d", &paid, &day, &rev) < 3 || rev)
    return 0;
  /* then team and (since campaigns are kept) campaign, each after a tab */
  const char *rest = rec;
  for (int i = 0; i < 3 && rest; i++)
    rest = strchr(rest, '\t') ? strchr(rest, '\t') + 1 : NULL;
  if (rest) {
    const char *tab = strchr(rest, '\t');
    size_t tl = tab ? (size_t)(tab - rest) : strlen(rest);
    snprintf(team, sizeof team, "%.*s", (int)(tl < GAM_NAME_MAX ? tl : GAM_NAME_MAX),
             rest);
    if (tab)
      snprintf(campaign, sizeof campaign, "%s", tab + 1);
  }
  int64_t bal = geti(c->a, "bal");
  int64_t back = paid < bal ? paid : bal;
  seti(c->a, "bal", bal - back);
  cJSON *m = obj(c->a, "m");
  char mk[80];
  snprintf(mk, sizeof mk, "rule:%s", rule);
  seti(m, "points", geti(m, "points") - paid);
  seti(m, mk, geti(m, mk) - 1);
  char ds[24];
  snprintf(ds, sizeof ds, "%lld", day);
  if (key_of(dk, sizeof dk, "d", c, ds, NULL, err) != 0)
    return err->code;
  if (paid > 0 && sb_state_get(c->b, dk, &v, &len) == 0) {
    cJSON *d = load_json(c->b, dk);
    seti(d, rule, geti(d, rule) - paid);
    seti(d, "*", geti(d, "*") - paid);
    int rc = save_json(c->b, dk, d, err);
    cJSON_Delete(d);
    if (rc != 0)
      return rc;
  }
  int n = snprintf(rec, sizeof rec, "%lld\t%lld\t1\t%s\t%s", paid, day, team,
                   campaign);
  if (n < 0 || (size_t)n >= sizeof rec)
    return sb_err_set(err, SB_EVALIDATE, "an award's record past %zu bytes",
                      sizeof rec - 1);
  if (sb_state_put(c->b, wk, rec, (size_t)n, err) != 0)
    return err->code;
  if (paid == 0)
    return 0;
  char reason[256], disc[300];
  if (back < paid)
    snprintf(reason, sizeof reason, "%s; %lld not recoverable (balance)", why,
             paid - (long long)back);
  else
    snprintf(reason, sizeof reason, "%s", why);
  snprintf(disc, sizeof disc, "rev/%.64s/%s", rule, src);
  return emit_points(c, 1, rule, back, src, NULL, NULL, team[0] ? team : NULL,
                     campaign, reason, disc, err);
}

/* the slot's awards stand for one source event: a newer one reverses them */
static int slot_move(ctx_t *c, const char *slot, const char *src,
                     const char *rule, sb_err_t *err) {
  char sk[600];
  if (key_of(sk, sizeof sk, "s", c, slot, NULL, err) != 0)
    return err->code;
  const void *v;
  size_t len;
  sb_text_t t = {0};
  if (sb_state_get(c->b, sk, &v, &len) == 0 && len > 27 &&
      memcmp(v, src, 26) == 0) {
    sb_text_put(&t, v, len); /* the same source: one more rule */
  } else {
    if (sb_state_get(c->b, sk, &v, &len) == 0 && len >= 26) {
      char *old = malloc(len + 1);
      if (old == NULL)
        return sb_err_set(err, SB_ENOMEM, "out of memory");
      memcpy(old, v, len);
      old[len] = '\0';
      old[26] = old[26] ? '\0' : old[26];
      int rc = 0;
      for (char *p = old + 27; rc == 0 && p < old + len && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
          *nl = '\0';
        rc = reverse(c, p, old, "disposition changed", err);
        p = nl ? nl + 1 : old + len;
      }
      free(old);
      if (rc != 0)
        return rc;
    }
    sb_text_add(&t, "%s", src);
  }
  if (rule[0])
    sb_text_add(&t, "\n%s", rule);
  int rc = t.failed ? sb_err_set(err, SB_ENOMEM, "out of memory")
                    : sb_state_put(c->b, sk, t.s, t.len, err);
  sb_text_free(&t);
  return rc;
}

static int award(ctx_t *c, sb_err_t *err) {
  const sb_field_t *I = c->x->in;
  const char *src = sb_event_str(c->ev, I[GI_REF]);
  const char *rule = sb_event_str(c->ev, I[GI_RULE]);
  const char *slot = sb_event_str(c->ev, I[GI_SLOT]);
  int64_t pts = sb_event_i64(c->ev, I[GI_POINTS]);
  int64_t day = sb_event_i64(c->ev, I[GI_DAY]);
  if (src == NULL || strlen(src) != 26)
    return sb_err_set(err, SB_EVALIDATE,
                      "gamification.input award: ref_id must be the source "
                      "event's id");
  if (rule == NULL)
    rule = "";
  char wk[1024], dk[600], rec[400];
  const void *v;
  size_t len;
  if (key_of(wk, sizeof wk, "w", c, rule, src, err) != 0)
    return err->code;
  if (sb_state_get(c->b, wk, &v, &len) == 0)
    return 0; /* decided before: never twice */
  if (slot && slot[0] && slot_move(c, slot, src, rule, err) != 0)
    return err->code;
  const gam_rules_t *r =
      gam__rules_for(c->x, c->b, c->tenant, sb_event_str(c->ev, I[GI_VERSION]));
  const gam_rule_t *def = rule[0] ? gam__rule_find(r, rule) : NULL;
  int64_t paid = 0;
  const char *team = team_of(c);
  char ds[24];
  snprintf(ds, sizeof ds, "%lld", (long long)day);
  if (key_of(dk, sizeof dk, "d", c, ds, NULL, err) != 0)
    return err->code;
  cJSON *d = NULL;
  int rc = 0;
  if (rule[0]) {
    d = load_json(c->b, dk);
    int64_t room = (def ? def->daily_cap : INT64_MAX) - geti(d, rule);
    int64_t aroom = r->agent_daily_cap - geti(d, "*");
    paid = pts < 0 ? 0 : pts;
    if (paid > room)
      paid = room;
    if (paid > aroom)
      paid = aroom;
    if (paid < 0)
      paid = 0;
    seti(d, rule, geti(d, rule) + paid);
    seti(d, "*", geti(d, "*") + paid);
    if ((rc = save_json(c->b, dk, d, err)) != 0)
      goto out;
    seti(c->a, "bal", geti(c->a, "bal") + paid);
    cJSON *m = obj(c->a, "m");
    char mk[80];
    snprintf(mk, sizeof mk, "rule:%s", rule);
    seti(m, "points", geti(m, "points") + paid);
    seti(m, mk, geti(m, mk) + 1);
  }
  const char *campaign = sb_event_str(c->ev, I[GI_CAMPAIGN]);
  int n = snprintf(rec, sizeof rec, "%lld\t%lld\t0\t%s\t%s", (long long)paid,
                   (long long)day, team ? team : "", campaign ? campaign : "");
  if (n < 0 || (size_t)n >= sizeof rec) {
    rc = sb_err_set(err, SB_EVALIDATE, "an award's record past %zu bytes",
                    sizeof rec - 1);
    goto out;
  }
  if ((rc = sb_state_put(c->b, wk, rec, (size_t)n, err)) != 0)
    goto out;
  if (paid > 0) {
    char disc[96];
    snprintf(disc, sizeof disc, "award/%s", rule);
    if ((rc = emit_points(c, 0, rule, paid, src,
                          sb_event_str(c->ev, I[GI_SRC_TYPE]),
                          def ? def->name : NULL, team, campaign, NULL, disc,
                          err)) != 0)
      goto out;
  }
  if (rule[0] && ((rc = badges(c, r, rule, err)) != 0 ||
                  (rc = streaks(c, r, day, geti(d, "*"), err)) != 0))
    goto out;
out:
  cJSON_Delete(d);
  return rc;
}

/* ---- redemptions ---------------------------------------------------------- */

static int redeem(ctx_t *c, int decide, sb_err_t *err) {
  const sb_field_t *I = c->x->in;
  const char *rid = sb_event_str(c->ev, I[GI_REF]);
  const char *reward = sb_event_str(c->ev, I[GI_REWARD]);
  const char *decision = sb_event_str(c->ev, I[GI_DECISION]);
  const char *reason = sb_event_str(c->ev, I[GI_REASON]);
  char rk[600];
  if (key_of(rk, sizeof rk, "r", c, rid, NULL, err) != 0)
    return err->code;
  const void *v;
  size_t len;
  char was[32] = "";
  if (sb_state_get(c->b, rk, &v, &len) == 0)
    snprintf(was, sizeof was, "%.*s", (int)(len < 31 ? len : 31),
             (const char *)v);
  int64_t bal = geti(c->a, "bal"), held = geti(c->a, "held");
  cJSON *h = obj(c->a, "h");
  const char *status;
  char why[256] = "";
  int64_t cost;
  if (!decide) {
    if (was[0])
      return 0; /* a repeated request: the first counts */
    cost = sb_event_i64(c->ev, I[GI_POINTS]);
    if (decision && strcmp(decision, "invalid") == 0) {
      status = "invalid";
      snprintf(why, sizeof why, "%s", reason ? reason : "refused");
    } else if (cost > bal - held) {
      status = "insufficient";
      snprintf(why, sizeof why, "costs %lld; balance %lld, held %lld",
               (long long)cost, (long long)bal, (long long)held);
    } else {
      status = "held";
      seti(c->a, "held", held + cost);
      seti(h, rid, cost);
    }
  } else {
    cost = geti(h, rid);
    if (strcmp(was, "held") != 0) {
      status = "ignored";
      snprintf(why, sizeof why, "not held (%s)", was[0] ? was : "unknown");
    } else {
      seti(c->a, "held", held - cost);
      cJSON_DeleteItemFromObjectCaseSensitive(h, rid);
      if (decision == NULL || strcmp(decision, "approved") != 0) {
        status = "rejected";
        snprintf(why, sizeof why, "%s", reason ? reason : "rejected");
      } else if (cost > bal) { /* reversals took what was held */
        status = "insufficient";
        snprintf(why, sizeof why, "costs %lld; balance %lld at approval",
                 (long long)cost, (long long)bal);
      } else {
        status = "approved";
        seti(c->a, "bal", bal - cost);
        char r2[256];
        snprintf(r2, sizeof r2, "redemption %.100s of %.100s", rid,
                 reward ? reward : "?");
        if (emit_points(c, 1, "redemption", cost, c->ev->event_id, NULL, NULL,
                        NULL, NULL, r2, "redeemed", err) != 0)
          return err->code;
      }
    }
  }
  if (strcmp(status, "ignored") != 0 &&
      sb_state_put(c->b, rk, status, strlen(status), err) != 0)
    return err->code;
  return emit_settled(c, rid, reward, status, cost, why[0] ? why : NULL, err);
}

/* ---- dispatch ------------------------------------------------------------- */

int gam__decide_event(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                      int *handled, sb_err_t *err) {
  int added = sb_event_type_is(ev, x->t[GT_MEMBER_ADDED]);
  int removed = sb_event_type_is(ev, x->t[GT_MEMBER_REMOVED]);
  int input = sb_event_type_is(ev, x->t[GT_INPUT]);
  *handled = input;
  if (!added && !removed && !input)
    return 0;
  ctx_t c = {.x = x, .b = b, .ev = ev, .tenant = ev->tenant_id};
  const char *kind = NULL, *team = NULL;
  if (input) {
    c.agent = sb_event_str(ev, x->in[GI_AGENT]);
    kind = sb_event_enum_name(ev, x->in[GI_KIND]);
  } else {
    int t = added ? GT_MEMBER_ADDED : GT_MEMBER_REMOVED;
    c.agent = sb_event_str(ev, x->f[t][GX_AGENT]);
    team = sb_event_str(ev, x->f[t][GX_TEAM]);
  }
  if (c.agent == NULL || c.agent[0] == '\0')
    return sb_err_set(err, SB_EVALIDATE, "%s: needs agent_id",
                      sb_evtype_name(ev->type));
  char ak[600];
  if (key_of(ak, sizeof ak, "a", &c, NULL, NULL, err) != 0)
    return err->code;
  c.a = load_json(b, ak);
  int rc;
  if (added || removed) {
    team_change(&c, ev->occurred_at, team, added);
    const char *now = team_at(&c, INT64_MAX);
    rc = sb_rows_add(b, &gam__team_members,
                     (const sb_val_t[]){SB_V_TEXT(c.tenant), SB_V_TEXT(c.agent),
                                        SB_V_TEXT(now),
                                        SB_V_TIMESTAMPTZ(ev->occurred_at)},
                     err);
  } else if (kind && strcmp(kind, "award") == 0) {
    rc = award(&c, err);
  } else {
    rc = redeem(&c, kind && strcmp(kind, "decide") == 0, err);
  }
  if (rc == 0)
    rc = save_json(b, ak, c.a, err);
  cJSON_Delete(c.a);
  return rc;
}

int gam__decide_init(gam_t *x, const sb_schemas_t *s, sb_err_t *err) {
  static const char *const names[GI_N] = {
      [GI_AGENT] = "agent_id",     [GI_KIND] = "kind",
      [GI_REF] = "ref_id",         [GI_RULE] = "rule_id",
      [GI_VERSION] = "rules_version", [GI_POINTS] = "points",
      [GI_DAY] = "local_day",      [GI_SLOT] = "slot",
      [GI_SRC_TYPE] = "source_event_type", [GI_CALL] = "call_id",
      [GI_LEAD] = "lead_id",       [GI_REWARD] = "reward_id",
      [GI_DECISION] = "decision",  [GI_REASON] = "reason",
      [GI_CAMPAIGN] = "campaign_id",
  };
  for (int i = 0; i < GI_N; i++)
    if (sb_codec_field(s, "gamification.input", names[i], &x->in[i], err) != 0)
      return err->code;
  return 0;
}
