/* Challenges, decided: the one place per tenant (gam_int.h). Every ledger
 * entry read back (points.awarded / points.reversed, on the agent's
 * partition) and every challenge.created (on the challenge's) is forwarded
 * as challenge.input keyed by tenant and "challenges", so one partition
 * per tenant sees all of them in one order, as routing hands its inputs to
 * the assignment processor. There, in keyed state (the tenant in every
 * key):
 *
 *   c|T               the tenant's challenges: id -> definition (JSON)
 *   k|T|id|window     a window's participants: score, when reached, when
 *                     the target was reached (race), the score last sent
 *                     and when; race places given; closed
 *   i|T|ref           a ledger entry counted (a duplicated input counts
 *                     once)
 *
 * Decisions: challenge.score_updated at most once per participant per
 * second of event time (a change within the second is sent with the next
 * one after it, or at the close); challenge.won for a race as each
 * participant reaches the target (place 1 the first), and at the close of
 * a window (an event-time timer at its end plus the grace,
 * gamification.challenge_grace_s, for entries from agents' partitions that
 * lag the tenant's) the final ranking, one
 * challenge.won per participant and place: by score, ties to who got there
 * first (the earlier time its score was reached), then the id; for a race
 * those who reached the target first, in the order they did. Entries
 * arriving after their window closed are not counted.
 *
 * Windows opened and closed as events: challenge.opened by an event-time
 * timer (o|T|id|window) due when the window opens — for the window holding
 * a challenge's creation (or its starts_at), then each next one, chained
 * from the opening of the one before, until ends_at; a window an entry
 * reaches with no opening planned (one before the creation) plans it then,
 * due at its start. challenge.closed follows the final ranking at the
 * close (participants: who scored in it; the winner). Both come from
 * timers only, so their ids (timer key, due time) are the same whichever
 * order entries and timers take on a replay; the window's state records
 * the due time planned ("od") and the opening ("o"), so neither is planned
 * or sent twice. */
#include "gam_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000000LL
#define DAY (86400LL * SEC)

static int64_t num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}
static const char *str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}
static void setn(cJSON *o, const char *k, int64_t v) {
  cJSON *n = cJSON_CreateNumber((double)v);
  if (cJSON_GetObjectItemCaseSensitive(o, k))
    cJSON_ReplaceItemInObjectCaseSensitive(o, k, n);
  else
    cJSON_AddItemToObject(o, k, n);
}
static cJSON *load(sb_batch_t *b, const char *key) {
  const void *v;
  size_t len;
  cJSON *j = NULL;
  if (sb_state_get(b, key, &v, &len) == 0)
    j = cJSON_ParseWithLength(v, len);
  return j ? j : cJSON_CreateObject();
}
static int save(sb_batch_t *b, const char *key, const cJSON *j, sb_err_t *err) {
  char *s = cJSON_PrintUnformatted(j);
  if (s == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = sb_state_put(b, key, s, strlen(s), err);
  cJSON_free(s);
  return rc;
}

/* where local day d begins (UTC micros) */
static int64_t day_start(sb_batch_t *b, const char *T, int64_t d) {
  int64_t t = d * DAY + DAY / 2;
  t += (d - sb_tenant_day(b, T, t)) * DAY;
  return sb_tenant_day_start(b, T, t);
}

/* the window [*ws, *we) of local day d for a challenge of period p */
static void window_of(sb_batch_t *b, const char *T, const char *p, int64_t d,
                      int64_t *ws, int64_t *we) {
  int64_t first, next;
  if (strcmp(p, "daily") == 0) {
    first = d;
    next = d + 1;
  } else if (strcmp(p, "weekly") == 0) {
    first = gam__period(GAM_SPAN_WEEK, d);
    next = first + 7;
  } else {
    first = gam__period(GAM_SPAN_MONTH, d);
    next = gam__period(GAM_SPAN_MONTH, first + 31);
  }
  *ws = day_start(b, T, first);
  *we = day_start(b, T, next);
}

int gam__challenge_forward(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                           int t, sb_err_t *err) {
  const sb_field_t *I = x->f[GT_CINPUT];
  sb_build_t *e = sb_emit_begin(b, x->t[GT_CINPUT]);
  sb_build_str(e, I[GX_SCOPE], "challenges");
  sb_build_str(e, I[GX_REF], ev->event_id);
  if (t == GT_CHALLENGE) {
    const sb_field_t *F = x->f[t];
    int team = sb_event_has(ev, F[GX_TEAM_BASED]) &&
               sb_event_bool(ev, F[GX_TEAM_BASED]);
    sb_field_t pf = F[team ? GX_TEAM_IDS : GX_AGENT_IDS];
    size_t np = sb_event_count(ev, pf);
    cJSON *d = cJSON_CreateObject(), *ps = cJSON_AddArrayToObject(d, "p");
    const char *metric = gam__str(x, ev, t, GX_METRIC);
    cJSON_AddStringToObject(d, "period", gam__str(x, ev, t, GX_PERIOD));
    cJSON_AddStringToObject(d, "metric", metric ? metric : "points");
    cJSON_AddNumberToObject(d, "team", team);
    if (sb_event_has(ev, F[GX_TARGET]))
      cJSON_AddNumberToObject(d, "target", (double)sb_event_i64(ev, F[GX_TARGET]));
    if (sb_event_has(ev, F[GX_STARTS]))
      cJSON_AddNumberToObject(d, "from", (double)sb_event_i64(ev, F[GX_STARTS]));
    if (sb_event_has(ev, F[GX_ENDS]))
      cJSON_AddNumberToObject(d, "to", (double)sb_event_i64(ev, F[GX_ENDS]));
    if (sb_event_has(ev, F[GX_REWARD_POINTS]))
      cJSON_AddNumberToObject(d, "reward",
                              (double)sb_event_i64(ev, F[GX_REWARD_POINTS]));
    for (size_t i = 0; i < np; i++)
      cJSON_AddItemToArray(ps, cJSON_CreateString(sb_event_str_at(ev, pf, i)));
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    if (s == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    sb_build_enum(e, I[GX_KIND], "created");
    sb_build_str(e, I[GX_CHALLENGE], gam__str(x, ev, t, GX_CHALLENGE));
    sb_build_str(e, I[GX_DEFINITION], s);
    cJSON_free(s);
  } else {
    const char *rule = gam__str(x, ev, t, GX_RULE);
    const char *team = gam__str(x, ev, t, GX_TEAM);
    int64_t pts = sb_event_i64(ev, x->f[t][GX_POINTS]);
    sb_build_enum(e, I[GX_KIND], "points");
    sb_build_str(e, I[GX_AGENT], gam__str(x, ev, t, GX_AGENT));
    const char *campaign = gam__str(x, ev, t, GX_CAMPAIGN);
    if (team)
      sb_build_str(e, I[GX_TEAM], team);
    if (campaign)
      sb_build_str(e, I[GX_CAMPAIGN], campaign);
    sb_build_str(e, I[GX_RULE], rule);
    sb_build_i64(e, I[GX_POINTS], t == GT_REVERSED ? -pts : pts);
    sb_build_i64(e, I[GX_LOCAL_DAY],
                 sb_tenant_day(b, ev->tenant_id, ev->occurred_at));
  }
  sb_emit_t o = {.discriminator = "challenge", .tenant_id = ev->tenant_id};
  return sb_emit_end(b, e, &o, err);
}

/* ---- decisions ------------------------------------------------------------ */

static int emit_score(gam_t *x, sb_batch_t *b, const char *T, const char *cid,
                      int team, const char *pid, cJSON *p, int64_t ws,
                      int64_t we, const char *src, int64_t at, sb_err_t *err) {
  const sb_field_t *F = x->f[GT_SCORE];
  int64_t score = num(p, "s");
  sb_build_t *e = sb_emit_begin(b, x->t[GT_SCORE]);
  sb_build_str(e, F[GX_CHALLENGE], cid);
  sb_build_i64(e, F[GX_SCORE], score);
  sb_build_str(e, F[team ? GX_TEAM : GX_AGENT], pid);
  sb_build_i64(e, F[GX_DELTA], score - num(p, "l"));
  sb_build_i64(e, F[GX_WSTART], ws);
  sb_build_i64(e, F[GX_WEND], we);
  if (src)
    sb_build_str(e, F[GX_SOURCE_EVENT], src);
  char disc[400];
  snprintf(disc, sizeof disc, "score/%s/%s/%lld", cid, pid, (long long)at);
  sb_emit_t o = {.discriminator = disc, .tenant_id = T};
  setn(p, "l", score);
  setn(p, "e", at);
  setn(p, "d", 0);
  return sb_emit_end(b, e, &o, err);
}

static int emit_won(gam_t *x, sb_batch_t *b, const char *T, const char *cid,
                    const cJSON *def, const char *pid, int64_t place,
                    int64_t score, int64_t ws, int64_t we, sb_err_t *err) {
  const sb_field_t *F = x->f[GT_WON];
  sb_build_t *e = sb_emit_begin(b, x->t[GT_WON]);
  sb_build_str(e, F[GX_CHALLENGE], cid);
  sb_build_str(e, F[num(def, "team") ? GX_TEAM : GX_AGENT], pid);
  sb_build_i64(e, F[GX_PLACE], place);
  sb_build_i64(e, F[GX_FINAL], score);
  sb_build_i64(e, F[GX_WSTART], ws);
  sb_build_i64(e, F[GX_WEND], we);
  if (place == 1 && cJSON_GetObjectItemCaseSensitive(def, "reward"))
    sb_build_i64(e, F[GX_REWARD_POINTS], num(def, "reward"));
  char disc[400];
  snprintf(disc, sizeof disc, "won/%s/%lld/%s", cid, (long long)ws, pid);
  sb_emit_t o = {.discriminator = disc, .tenant_id = T};
  return sb_emit_end(b, e, &o, err);
}

static int key3(char *out, size_t n, const char *k, const char *T,
                const char *a, int64_t w, sb_err_t *err) {
  int len = a ? snprintf(out, n, "%s|%s|%s|%lld", k, T, a, (long long)w)
              : snprintf(out, n, "%s|%s", k, T);
  if (len < 0 || (size_t)len >= n)
    return sb_err_set(err, SB_EVALIDATE, "challenges: a state key past %zu "
                      "bytes", n - 1);
  return 0;
}

static const char *kind_of(const cJSON *def) {
  if (cJSON_GetObjectItemCaseSensitive(def, "target"))
    return "race";
  return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(def, "p")) == 2
             ? "head_to_head"
             : "battle";
}

/* challenge.opened or challenge.closed (first: the participant placed 1,
 * NULL when none); its id from the timer's key and due time */
static int emit_window(gam_t *x, sb_batch_t *b, int t, const char *T,
                       const char *cid, const cJSON *def, int64_t ws,
                       int64_t we, int n, const cJSON *first, sb_err_t *err) {
  const sb_field_t *F = x->f[t];
  sb_build_t *e = sb_emit_begin(b, x->t[t]);
  sb_build_str(e, F[GX_CHALLENGE], cid);
  sb_build_str(e, F[GX_KIND], kind_of(def));
  sb_build_bool(e, F[GX_TEAM_BASED], num(def, "team") != 0);
  sb_build_i64(e, F[GX_WSTART], ws);
  sb_build_i64(e, F[GX_WEND], we);
  if (t == GT_CLOSED) {
    sb_build_i64(e, F[GX_PARTICIPANTS], n);
    if (first != NULL) {
      sb_build_str(e, F[GX_WINNER], first->string);
      sb_build_i64(e, F[GX_WIN_SCORE], num(first, "s"));
    }
  }
  char disc[400];
  snprintf(disc, sizeof disc, "%s/%s/%lld", t == GT_OPENED ? "opened" : "closed",
           cid, (long long)ws);
  sb_emit_t o = {.discriminator = disc, .tenant_id = T};
  return sb_emit_end(b, e, &o, err);
}

/* plans the opening of window ws of a challenge (an event-time timer due
 * at due), unless one is planned, done, or the window closed; w is the
 * window's state (saved by the caller) */
static int plan_open(gam_t *x, sb_batch_t *b, const char *T, const char *cid,
                     cJSON *w, int64_t ws, int64_t due, sb_err_t *err) {
  (void)x;
  char tk[700];
  if (num(w, "o") || num(w, "closed") ||
      cJSON_GetObjectItemCaseSensitive(w, "od"))
    return 0;
  setn(w, "od", due);
  if (key3(tk, sizeof tk, "o", T, cid, ws, err) != 0)
    return err->code;
  return sb_timer_set(b, tk, due, SB_TIMER_EVENT, err);
}

/* the same for a window whose state is not loaded */
static int plan_open_at(gam_t *x, sb_batch_t *b, const char *T,
                        const char *cid, int64_t ws, int64_t due,
                        sb_err_t *err) {
  char key[700];
  if (key3(key, sizeof key, "k", T, cid, ws, err) != 0)
    return err->code;
  cJSON *w = load(b, key);
  int had = cJSON_GetObjectItemCaseSensitive(w, "od") != NULL;
  int rc = plan_open(x, b, T, cid, w, ws, due, err);
  if (rc == 0 && !had && cJSON_GetObjectItemCaseSensitive(w, "od"))
    rc = save(b, key, w, err);
  cJSON_Delete(w);
  return rc;
}

/* one ledger entry counted in one challenge */
static int count_in(gam_t *x, sb_batch_t *b, const char *T, const char *cid,
                    const cJSON *def, const char *pid, int64_t pts,
                    int64_t day, int64_t at, const char *ref, sb_err_t *err) {
  int64_t ws, we;
  window_of(b, T, str(def, "period") ? str(def, "period") : "daily", day, &ws,
            &we);
  if (cJSON_GetObjectItemCaseSensitive(def, "to") && num(def, "to") < we)
    we = num(def, "to");
  char key[700];
  if (key3(key, sizeof key, "k", T, cid, ws, err) != 0)
    return err->code;
  cJSON *w = load(b, key);
  int rc = 0;
  if (num(w, "closed"))
    goto out; /* late: its window has closed */
  int64_t from = num(def, "from");
  if (plan_open(x, b, T, cid, w, ws, from > ws ? from : ws, err) != 0) {
    rc = err->code;
    goto out;
  }
  cJSON *ps = cJSON_GetObjectItemCaseSensitive(w, "p");
  if (ps == NULL)
    ps = cJSON_AddObjectToObject(w, "p");
  cJSON *p = cJSON_GetObjectItemCaseSensitive(ps, pid);
  if (p == NULL) {
    p = cJSON_AddObjectToObject(ps, pid);
    setn(p, "e", INT64_MIN / 2);
  }
  setn(p, "s", num(p, "s") + pts);
  if (at >= num(p, "r"))
    setn(p, "r", at);
  int team = (int)num(def, "team");
  if (at - num(p, "e") >= SEC)
    rc = emit_score(x, b, T, cid, team, pid, p, ws, we, ref, at, err);
  else
    setn(p, "d", 1);
  if (rc == 0 && cJSON_GetObjectItemCaseSensitive(def, "target") &&
      num(p, "t") == 0 && num(p, "s") >= num(def, "target")) {
    setn(p, "t", at);
    setn(w, "places", num(w, "places") + 1);
    setn(p, "place", num(w, "places"));
    rc = emit_won(x, b, T, cid, def, pid, num(w, "places"), num(p, "s"), ws,
                  we, err);
  }
  setn(w, "end", we);
  char tk[700];
  if (rc == 0 && (rc = key3(tk, sizeof tk, "t", T, cid, ws, err)) == 0 &&
      (rc = sb_timer_set(b, tk, we + x->grace_us, SB_TIMER_EVENT, err)) == 0)
    rc = save(b, key, w, err);
out:
  cJSON_Delete(w);
  return rc;
}

int gam__challenge_decide(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                          sb_err_t *err) {
  const sb_field_t *I = x->f[GT_CINPUT];
  const char *T = ev->tenant_id;
  const char *kind = gam__str(x, ev, GT_CINPUT, GX_KIND);
  const char *ref = gam__str(x, ev, GT_CINPUT, GX_REF);
  char key[700];
  int rc = 0;
  if (kind == NULL || ref == NULL)
    return sb_err_set(err, SB_EVALIDATE, "challenge.input: needs kind and "
                      "ref_id");
  if (key3(key, sizeof key, "c", T, NULL, 0, err) != 0)
    return err->code;
  cJSON *cs = load(b, key);
  if (strcmp(kind, "created") == 0) {
    const char *cid = gam__str(x, ev, GT_CINPUT, GX_CHALLENGE);
    const char *def = gam__str(x, ev, GT_CINPUT, GX_DEFINITION);
    cJSON *d = def ? cJSON_Parse(def) : NULL;
    if (cid == NULL || d == NULL) {
      cJSON_Delete(cs);
      cJSON_Delete(d);
      return sb_err_set(err, SB_EVALIDATE, "challenge.input: a definition "
                        "needs challenge_id and JSON");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(cs, cid);
    cJSON_AddItemToObject(cs, cid, d);
    rc = save(b, key, cs, err);
    /* the window holding its creation (or its starts_at) opens then */
    int64_t at0 = ev->occurred_at, ws, we;
    if (cJSON_GetObjectItemCaseSensitive(d, "from") && num(d, "from") > at0)
      at0 = num(d, "from");
    if (rc == 0 && !(cJSON_GetObjectItemCaseSensitive(d, "to") &&
                     at0 >= num(d, "to"))) {
      window_of(b, T, str(d, "period") ? str(d, "period") : "daily",
                sb_tenant_day(b, T, at0), &ws, &we);
      rc = plan_open_at(x, b, T, cid, ws, at0, err);
    }
    cJSON_Delete(cs);
    return rc;
  }
  /* a ledger entry: counted once */
  char ik[700];
  const void *v;
  size_t len;
  if (key3(ik, sizeof ik, "i", T, ref, 0, err) != 0 ||
      sb_state_get(b, ik, &v, &len) == 0) {
    cJSON_Delete(cs);
    return err->code;
  }
  const char *agent = gam__str(x, ev, GT_CINPUT, GX_AGENT);
  const char *team = gam__str(x, ev, GT_CINPUT, GX_TEAM);
  const char *rule = gam__str(x, ev, GT_CINPUT, GX_RULE);
  int64_t pts = sb_event_i64(ev, I[GX_POINTS]);
  int64_t day = sb_event_i64(ev, I[GX_LOCAL_DAY]);
  int64_t at = ev->occurred_at;
  /* the rank changes it makes (gam_rank.c); a redemption is spending */
  if (agent != NULL && rule != NULL && strcmp(rule, "redemption") != 0)
    rc = gam__rank_entry(x, b, T, agent, team,
                         gam__str(x, ev, GT_CINPUT, GX_CAMPAIGN), pts, day,
                         at, err);
  for (cJSON *d = cs->child; d && rc == 0; d = d->next) {
    const char *metric = str(d, "metric");
    if (agent == NULL || rule == NULL || strcmp(rule, "redemption") == 0)
      break;
    if (metric && strcmp(metric, "points") != 0 &&
        !(strncmp(metric, "rule:", 5) == 0 && strcmp(metric + 5, rule) == 0))
      continue;
    if ((cJSON_GetObjectItemCaseSensitive(d, "from") && at < num(d, "from")) ||
        (cJSON_GetObjectItemCaseSensitive(d, "to") && at >= num(d, "to")))
      continue;
    const char *pid = num(d, "team") ? team : agent;
    if (pid == NULL)
      continue;
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(d, "p");
    int in = cJSON_GetArraySize(ps) == 0;
    for (const cJSON *p = ps ? ps->child : NULL; p && !in; p = p->next)
      in = cJSON_IsString(p) && strcmp(p->valuestring, pid) == 0;
    if (in)
      rc = count_in(x, b, T, d->string, d, pid, pts, day, at, ref, err);
  }
  cJSON_Delete(cs);
  if (rc == 0)
    rc = sb_state_put(b, ik, "1", 1, err);
  return rc;
}

/* ---- the close ------------------------------------------------------------ */

static int by_rank(const void *a, const void *b2) {
  const cJSON *p = *(const cJSON *const *)a, *q = *(const cJSON *const *)b2;
  int64_t pt = num(p, "t"), qt = num(q, "t");
  if ((pt != 0) != (qt != 0))
    return pt ? -1 : 1; /* a race: those who reached the target first */
  if (pt != qt)
    return pt < qt ? -1 : 1;
  if (num(p, "s") != num(q, "s"))
    return num(p, "s") > num(q, "s") ? -1 : 1;
  if (num(p, "r") != num(q, "r"))
    return num(p, "r") < num(q, "r") ? -1 : 1;
  return strcmp(p->string, q->string);
}

/* a window's opening (timer o|T|id|window, due when it opens): sent
 * once, its close planned (its end plus the grace) and the next window's
 * opening (at its end), until the challenge's ends_at */
static int open_timer(gam_t *x, sb_batch_t *b, const char *T, const char *cid,
                      int64_t ws, sb_err_t *err) {
  char kk[700], tk[700];
  int64_t ws2, we, end;
  int rc = 0;
  if (key3(kk, sizeof kk, "c", T, NULL, 0, err) != 0)
    return err->code;
  cJSON *cs = load(b, kk);
  const cJSON *def = cJSON_GetObjectItemCaseSensitive(cs, cid);
  cJSON *w = NULL;
  if (def == NULL)
    goto out;
  window_of(b, T, str(def, "period") ? str(def, "period") : "daily",
            sb_tenant_day(b, T, ws), &ws2, &we);
  if (ws2 != ws)
    goto out; /* planned under a definition since replaced */
  end = we;
  if (cJSON_GetObjectItemCaseSensitive(def, "to") && num(def, "to") < end)
    end = num(def, "to");
  if ((rc = key3(kk, sizeof kk, "k", T, cid, ws, err)) != 0)
    goto out;
  w = load(b, kk);
  if (num(w, "o") || num(w, "closed"))
    goto out;
  setn(w, "o", 1);
  setn(w, "end", end);
  if ((rc = emit_window(x, b, GT_OPENED, T, cid, def, ws, end, 0, NULL,
                        err)) != 0 ||
      (rc = save(b, kk, w, err)) != 0 ||
      (rc = key3(tk, sizeof tk, "t", T, cid, ws, err)) != 0 ||
      (rc = sb_timer_set(b, tk, end + x->grace_us, SB_TIMER_EVENT, err)) != 0)
    goto out;
  if (!(cJSON_GetObjectItemCaseSensitive(def, "to") && num(def, "to") <= we))
    rc = plan_open_at(x, b, T, cid, we, we, err);
out:
  cJSON_Delete(w);
  cJSON_Delete(cs);
  return rc;
}

int gam__challenge_timer(gam_t *x, sb_batch_t *b, const char *key,
                         int64_t due, sb_err_t *err) {
  /* t|T|id|window (the close) or o|T|id|window (the opening) */
  char T[200], cid[300], kk[700];
  long long ws;
  const char *p1 = strchr(key, '|'), *p2 = p1 ? strchr(p1 + 1, '|') : NULL;
  const char *p3 = p2 ? strrchr(key, '|') : NULL;
  if ((strncmp(key, "t|", 2) != 0 && strncmp(key, "o|", 2) != 0) ||
      p2 == NULL || p3 == p2 || (size_t)(p2 - p1 - 1) >= sizeof T ||
      (size_t)(p3 - p2 - 1) >= sizeof cid)
    return 0; /* not ours */
  snprintf(T, sizeof T, "%.*s", (int)(p2 - p1 - 1), p1 + 1);
  snprintf(cid, sizeof cid, "%.*s", (int)(p3 - p2 - 1), p2 + 1);
  ws = strtoll(p3 + 1, NULL, 10);
  if (key[0] == 'o')
    return open_timer(x, b, T, cid, ws, err);
  if (key3(kk, sizeof kk, "c", T, NULL, 0, err) != 0)
    return err->code;
  cJSON *cs = load(b, kk);
  const cJSON *def = cJSON_GetObjectItemCaseSensitive(cs, cid);
  if (key3(kk, sizeof kk, "k", T, cid, ws, err) != 0) {
    cJSON_Delete(cs);
    return err->code;
  }
  cJSON *w = load(b, kk);
  int rc = 0;
  /* the window's end as counted (the timer is due at it + the grace then) */
  int64_t we = cJSON_GetObjectItemCaseSensitive(w, "end") ? num(w, "end")
                                                         : due - x->grace_us;
  cJSON *ps = cJSON_GetObjectItemCaseSensitive(w, "p");
  int n = cJSON_GetArraySize(ps);
  const cJSON **v = n > 0 ? calloc((size_t)n, sizeof *v) : NULL;
  if (def == NULL || num(w, "closed") || (n > 0 && v == NULL))
    goto out;
  int i = 0;
  for (cJSON *p = ps ? ps->child : NULL; p && i < n; p = p->next) {
    v[i++] = p;
    if (num(p, "d") && rc == 0)
      rc = emit_score(x, b, T, cid, (int)num(def, "team"), p->string, p, ws,
                      we, NULL, we, err);
  }
  if (n > 0)
    qsort(v, (size_t)n, sizeof *v, by_rank);
  for (i = 0; i < n && rc == 0; i++)
    if (num(v[i], "place") == 0) /* a race's were given as reached */
      rc = emit_won(x, b, T, cid, def, v[i]->string, i + 1, num(v[i], "s"),
                    ws, we, err);
  if (rc == 0)
    rc = emit_window(x, b, GT_CLOSED, T, cid, def, ws, we, n,
                     n > 0 ? v[0] : NULL, err);
  if (rc == 0) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "closed", 1);
    rc = save(b, kk, c, err);
    cJSON_Delete(c);
  }
out:
  free(v);
  cJSON_Delete(w);
  cJSON_Delete(cs);
  return rc;
}
