/* gamification: points, badges and tiers, teams, rewards (gam_int.h says
 * where each part lives and where decisions are made). This file: the
 * vtable and its dispatch, the types and fields resolved once, the global
 * table of rule sets and the reward catalogue, and the emitting of
 * gamification.input. The projection is gam_project.c. */
#include "gam_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- types and fields ----------------------------------------------------- */

const char *const gam__type_names[GT_N] = {
    [GT_INPUT] = "gamification.input",
    [GT_AWARDED] = "points.awarded",
    [GT_REVERSED] = "points.reversed",
    [GT_BADGE] = "badge.awarded",
    [GT_SETTLED] = "reward.redemption_settled",
    [GT_RULES] = "gamification.rules_published",
    [GT_TEAM] = "team.created",
    [GT_MEMBER_ADDED] = "team.member_added",
    [GT_MEMBER_REMOVED] = "team.member_removed",
    [GT_REWARD_CREATED] = "reward.created",
    [GT_REWARD_UPDATED] = "reward.updated",
    [GT_REQUESTED] = "reward.redemption_requested",
    [GT_DECIDED] = "reward.redemption_decided",
    [GT_CHALLENGE] = "challenge.created",
    [GT_CINPUT] = "challenge.input",
    [GT_SCORE] = "challenge.score_updated",
    [GT_WON] = "challenge.won",
    [GT_OPENED] = "challenge.opened",
    [GT_CLOSED] = "challenge.closed",
    [GT_RANK] = "leaderboard.rank_changed",
};
static const char *const field_names[GX_N] = {
    [GX_AGENT] = "agent_id",
    [GX_TEAM] = "team_id",
    [GX_RULE] = "rule_id",
    [GX_POINTS] = "points",
    [GX_SOURCE_EVENT] = "source_event_id",
    [GX_SOURCE_TYPE] = "source_event_type",
    [GX_RULE_NAME] = "rule_name",
    [GX_CALL] = "call_id",
    [GX_LEAD] = "lead_id",
    [GX_REASON] = "reason",
    [GX_AWARD_EVENT] = "award_event_id",
    [GX_BADGE] = "badge_id",
    [GX_BADGE_NAME] = "badge_name",
    [GX_TIER] = "tier",
    [GX_REDEMPTION] = "redemption_id",
    [GX_REWARD] = "reward_id",
    [GX_STATUS] = "status",
    [GX_COST] = "points_cost",
    [GX_BALANCE] = "balance",
    [GX_HELD] = "held",
    [GX_NAME] = "name",
    [GX_ACTIVE] = "active",
    [GX_VERSION] = "rules_version",
    [GX_RULES_JSON] = "rules_json",
    [GX_DECISION] = "decision",
    [GX_SUPERVISOR] = "supervisor_id",
    [GX_DESCRIPTION] = "description",
    [GX_CHALLENGE] = "challenge_id",
    [GX_PERIOD] = "period",
    [GX_METRIC] = "metric",
    [GX_STARTS] = "starts_at",
    [GX_ENDS] = "ends_at",
    [GX_TEAM_BASED] = "team_based",
    [GX_TEAM_IDS] = "team_ids",
    [GX_AGENT_IDS] = "agent_ids",
    [GX_TARGET] = "target_score",
    [GX_REWARD_POINTS] = "reward_points",
    [GX_SCOPE] = "scope",
    [GX_KIND] = "kind",
    [GX_REF] = "ref_id",
    [GX_DEFINITION] = "definition",
    [GX_LOCAL_DAY] = "local_day",
    [GX_SCORE] = "score",
    [GX_DELTA] = "delta",
    [GX_WSTART] = "window_start",
    [GX_WEND] = "window_end",
    [GX_PLACE] = "place",
    [GX_FINAL] = "final_score",
    [GX_PARTICIPANTS] = "participants",
    [GX_WINNER] = "winner_id",
    [GX_WIN_SCORE] = "winning_score",
    [GX_CAMPAIGN] = "campaign_id",
    [GX_SPAN] = "span",
    [GX_OLD_RANK] = "old_rank",
    [GX_NEW_RANK] = "new_rank",
    [GX_OF_AGENTS] = "of_agents",
    [GX_SCOPE_ID] = "scope_id",
};

const char *gam__str(const gam_t *x, const sb_event_t *ev, int t, int f) {
  sb_field_t h = x->f[t][f];
  const char *v =
      h.kind == SB_FIELD_ENUM ? sb_event_enum_name(ev, h) : sb_event_str(ev, h);
  return v != NULL && v[0] != '\0' ? v : NULL;
}

/* ---- the global table: rule sets and the reward catalogue ---------------- */

static int which(const gam_t *x, const sb_event_t *ev) {
  for (int t = 0; t < GT_N; t++)
    if (sb_event_type_is(ev, x->t[t]))
      return t;
  return -1;
}

static int reduce(void *state, sb_global_t *g, const sb_event_t *ev,
                  sb_err_t *err) {
  gam_t *x = state;
  int t = which(x, ev);
  char key[400];
  if (t == GT_RULES) {
    const char *ver = gam__str(x, ev, t, GX_VERSION);
    const char *json = gam__str(x, ev, t, GX_RULES_JSON);
    gam_rules_t *r = NULL;
    if (gam__rules_parse(json, ver, &r, err) != 0)
      return err->code; /* refused: skipped, logged by the kit */
    gam__rules_free(r);
    snprintf(key, sizeof key, "R|%s|%s", ev->tenant_id, ver);
    if (sb_global_put(g, key, json, strlen(json), err) != 0)
      return err->code;
    snprintf(key, sizeof key, "R|%s", ev->tenant_id);
    return sb_global_put(g, key, ver, strlen(ver), err);
  }
  if (t == GT_REWARD_CREATED || t == GT_REWARD_UPDATED) {
    const char *rid = gam__str(x, ev, t, GX_REWARD);
    int64_t cost = sb_event_i64(ev, x->f[t][GX_COST]);
    int active = !sb_event_has(ev, x->f[t][GX_ACTIVE]) ||
                 sb_event_bool(ev, x->f[t][GX_ACTIVE]);
    if (rid == NULL || cost < 1)
      return sb_err_set(err, SB_EVALIDATE,
                        "%s: needs reward_id and points_cost of at least 1",
                        gam__type_names[t]);
    char val[64];
    int n = snprintf(val, sizeof val, "%lld\t%d", (long long)cost, active);
    snprintf(key, sizeof key, "W|%s|%s", ev->tenant_id, rid);
    return sb_global_put(g, key, val, (size_t)n, err);
  }
  return 0;
}

const sb_global_def_t gam__globals[] = {
    {"rules", SB_TOPIC_TENANTS, reduce},
    {0},
};

const gam_rules_t *gam__rules_for(gam_t *x, sb_batch_t *b, const char *tenant,
                                  const char *version) {
  char key[400], ver[GAM_NAME_MAX + 1];
  const void *v;
  size_t len;
  if (version == NULL || version[0] == '\0') {
    snprintf(key, sizeof key, "R|%s", tenant);
    if (sb_global_get(b, gam__globals, key, &v, &len) != 0 ||
        len > GAM_NAME_MAX)
      return x->defaults;
    memcpy(ver, v, len);
    ver[len] = '\0';
    version = ver;
  }
  if (strcmp(version, GAM_DEFAULT_VERSION) == 0)
    return x->defaults;
  char ck[200];
  snprintf(ck, sizeof ck, "%.64s\n%.128s", tenant, version);
  size_t nc = sizeof x->cache / sizeof x->cache[0];
  for (size_t i = 0; i < nc; i++)
    if (x->cache[i].rules != NULL && strcmp(x->cache[i].key, ck) == 0)
      return x->cache[i].rules;
  snprintf(key, sizeof key, "R|%s|%s", tenant, version);
  if (sb_global_get(b, gam__globals, key, &v, &len) != 0)
    return x->defaults;
  char *json = malloc(len + 1);
  if (json == NULL)
    return x->defaults;
  memcpy(json, v, len);
  json[len] = '\0';
  gam_rules_t *r = NULL;
  sb_err_t e = SB_ERR_INIT;
  int rc = gam__rules_parse(json, version, &r, &e);
  free(json);
  if (rc != 0)
    return x->defaults; /* the reducer kept only valid ones */
  size_t slot = x->cache_next++ % nc;
  gam__rules_free(x->cache[slot].rules);
  x->cache[slot].rules = r;
  snprintf(x->cache[slot].key, sizeof x->cache[slot].key, "%s", ck);
  return r;
}

int gam__emit_input(gam_t *x, sb_batch_t *b, const char *tenant,
                    const gam_input_t *in, const char *disc, sb_err_t *err) {
  const sb_field_t *I = x->in;
  sb_build_t *e = sb_emit_begin(b, x->t[GT_INPUT]);
  sb_build_str(e, I[GI_AGENT], in->agent);
  sb_build_enum(e, I[GI_KIND], in->kind);
  sb_build_str(e, I[GI_REF], in->ref);
  const struct {
    int f;
    const char *v;
  } s[] = {{GI_RULE, in->rule},       {GI_VERSION, in->version},
           {GI_SLOT, in->slot},       {GI_SRC_TYPE, in->src_type},
           {GI_CALL, in->call},       {GI_LEAD, in->lead},
           {GI_REWARD, in->reward},   {GI_DECISION, in->decision},
           {GI_REASON, in->reason},   {GI_CAMPAIGN, in->campaign}};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
    if (s[i].v)
      sb_build_str(e, I[s[i].f], s[i].v);
  if (in->has_points)
    sb_build_i64(e, I[GI_POINTS], in->points);
  if (in->has_day)
    sb_build_i64(e, I[GI_DAY], in->day);
  sb_emit_t o = {.discriminator = disc, .tenant_id = tenant};
  return sb_emit_end(b, e, &o, err);
}

/* ---- the vtable ------------------------------------------------------------ */

static void destroy(void *state) {
  gam_t *x = state;
  if (x == NULL)
    return;
  gam__rank_forget(x, -1);
  gam__rules_free(x->defaults);
  for (size_t i = 0; i < sizeof x->cache / sizeof x->cache[0]; i++)
    gam__rules_free(x->cache[i].rules);
  free(x);
}

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  gam_t *x = calloc(1, sizeof *x);
  if (x == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  for (int t = 0; t < GT_N; t++) {
    if (sb_codec_type(kit->schemas, gam__type_names[t], &x->t[t], err) != 0) {
      destroy(x);
      return err->code;
    }
    for (int f = 0; f < GX_N; f++) {
      sb_err_t e = SB_ERR_INIT; /* a field the type lacks reads as absent */
      sb_codec_field(kit->schemas, gam__type_names[t], field_names[f], &x->f[t][f],
                     &e);
    }
  }
  int grace_s = 0, board_bytes = 0, tenant_mib = 0;
  if (sb_conf_int(kit->conf, "gamification.challenge_grace_s", &grace_s,
                  err) != 0 ||
      sb_conf_int(kit->conf, "gamification.rank_board_bytes", &board_bytes,
                  err) != 0 ||
      sb_conf_int(kit->conf, "gamification.rank_tenant_mib", &tenant_mib,
                  err) != 0 ||
      gam__rules_parse(gam__default_rules_json, GAM_DEFAULT_VERSION,
                       &x->defaults, err) != 0 ||
      gam__source_init(x, kit->schemas, err) != 0 ||
      gam__decide_init(x, kit->schemas, err) != 0) {
    destroy(x);
    return err->code;
  }
  x->grace_us = (int64_t)grace_s * 1000000;
  x->rank_board_max = (size_t)board_bytes;
  x->rank_tenant_max = (size_t)tenant_mib * 1024 * 1024;
  *state = x;
  return 0;
}

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  gam_t *x = state;
  int handled = 0;
  int t = which(x, ev);
  if (t >= 0 && gam__project(x, b, ev, t, err) != 0)
    return err->code;
  /* challenges: decided on the tenant's partition (gam_chal_decide.c) */
  if (t == GT_CINPUT)
    return gam__challenge_decide(x, b, ev, err);
  if ((t == GT_AWARDED || t == GT_REVERSED || t == GT_CHALLENGE) &&
      gam__challenge_forward(x, b, ev, t, err) != 0)
    return err->code;
  if (gam__decide_event(x, b, ev, &handled, err) != 0 || handled)
    return err->code;
  return gam__source_event(x, b, ev, &handled, err);
}

/* the ranked boards cached (gam_rank.c) mirror state the kit drops */
static void aborted(void *state) { gam__rank_forget(state, -1); }

static void revoked(void *state, const char *topic, int32_t partition) {
  if (strcmp(topic, SB_TOPIC_GAMIFICATION) == 0)
    gam__rank_forget(state, partition);
}

static int assigned(void *state, sb_batch_t *b, const char *topic,
                    int32_t partition, sb_err_t *err) {
  (void)b;
  (void)err;
  revoked(state, topic, partition);
  return 0;
}

static int timer(void *state, sb_batch_t *b, const sb_timer_t *t,
                 sb_err_t *err) {
  return gam__challenge_timer(state, b, t->key, t->due_us, err);
}

static const sb_conf_prop_t conf_rows[] = {
    {"gamification.challenge_grace_s", SB_CT_INT, 0, 0, 86400, "300",
     "SWITCHBOARD_GAMIFICATION_CHALLENGE_GRACE_S", "SECONDS", NULL, 0,
     "How long after a challenge window's end (in event time, on the "
     "tenant's challenge partition) its final ranking waits for ledger "
     "entries from agents' partitions that lag behind; an entry arriving "
     "later is not counted."},
    {"gamification.rank_board_bytes", SB_CT_INT, 0, 256, 67108864, "983040",
     "SWITCHBOARD_GAMIFICATION_RANK_BOARD_BYTES", "BYTES", NULL, 0,
     "The keyed state one leaderboard kept for rank pushes may take (about "
     "100 bytes an agent): an agent not yet on a board this full gets no "
     "rank pushes on it (the leaderboard views still rank it)."},
    {"gamification.rank_tenant_mib", SB_CT_INT, 0, 1, 4096, "64",
     "SWITCHBOARD_GAMIFICATION_RANK_TENANT_MIB", "MIB", NULL, 0,
     "The keyed state all of a tenant's leaderboards kept for rank pushes "
     "may take: past it an agent not yet on a board gets no rank pushes on "
     "it."},
    {0},
};

const sb_processor_vt_t sb_gamification_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "gamification",
    .topics = (const char *const[]){SB_TOPIC_CALLS, SB_TOPIC_LEADS,
                                    SB_TOPIC_MESSAGES, SB_TOPIC_GAMIFICATION,
                                    SB_TOPIC_TENANTS, NULL},
    .migrations = gam__migrations,
    .tables = gam__tables,
    .init = init,
    .event = event,
    .timer = timer,
    .destroy = destroy,
    .abort = aborted,
    .revoke = revoked,
    .assign = assigned,
    .flags = SB_PROCESSOR_KEYED_STATE,
    .globals = gam__globals,
    .views = gam__views,
    .conf = conf_rows,
};

