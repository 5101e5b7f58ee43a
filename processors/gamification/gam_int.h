/* The gamification processor's parts (processors/gamification/):
 *
 *   gamification.c  the vtable, dispatch, the global table of rule sets
 *                   and the reward catalogue, emitting inputs
 *   gam_project.c   the projection's tables, migrations and views, built
 *                   from the decisions read back (points.*, badge.awarded,
 *                   reward.redemption_settled) and from teams, rewards and
 *                   rule sets
 *   gam_rules.c     rule sets as data: parsing, checking, matching a
 *                   source event, the built-in default
 *   gam_source.c    source events (calls, leads, messages) scored under
 *                   the tenant's rules, and redemption requests and
 *                   decisions, forwarded as gamification.input to the
 *                   agent's partition
 *   gam_decide.c    the one place per agent that decides: idempotence per
 *                   (rule, source event), caps, reversals, balance, holds,
 *                   badges, tiers and streaks, in the agent's keyed state
 *   gam_board.c     leaderboards: the board table (per span, period, scope
 *                   and agent) and the views ranking it (leaderboard,
 *                   leaderboard_around)
 *   gam_challenge.c challenges' rows and results read back, and the view
 *                   of standings computed from the ledger
 *   gam_rank.c      rank changes pushed live (leaderboard.rank_changed),
 *                   decided on the tenant's partition with challenges
 *   gam_rankboard.c the ranked boards it keeps, incrementally (free of
 *                   the kit: tests and the bench drive it directly)
 *   gam_chal_decide.c  the one place per tenant that decides challenges:
 *                   ledger entries and definitions forwarded as
 *                   challenge.input, scores, throttled updates, results,
 *                   windows closed by event-time timers
 *
 * Where decisions are made: an agent's source events arrive on many
 * partitions (calls keyed by call, leads by lead, redemptions by
 * redemption), so each is turned into a gamification.input keyed by tenant
 * and agent and decided on that one partition of sb.gamification, in its
 * order, from the agent's keyed state and what the input carries (the rule
 * set version, the local day): a pure function of that partition's log, so
 * a replay decides the same. */
#ifndef GAM_INT_H
#define GAM_INT_H

#include "sb_processor.h"

#include <stdint.h>

#define GAM_NAME_MAX 128
#define GAM_RULES_MAX 128
#define GAM_BADGES_MAX 64
#define GAM_STREAKS_MAX 16
#define GAM_MULTS_MAX 32
#define GAM_TIERS 5
#define GAM_POINTS_MAX 100000
#define GAM_DEFAULT_VERSION "default-1"

/* the source event types rules may name */
enum {
  GS_CALL_ENDED,
  GS_CALL_DISPO,
  GS_CALL_CONNECTED,
  GS_LEAD_STATUS,
  GS_MSG_INBOUND,
  GS_N
};
/* the fields of source events a predicate may name */
enum {
  GF_DISPOSITION,
  GF_DISPOSITION_CODE,
  GF_STATUS,
  GF_PREVIOUS_STATUS,
  GF_CHANNEL,
  GF_DIRECTION,
  GF_END_REASON,
  GF_QUEUE_ID,
  GF_CAMPAIGN_ID,
  GF_NUM0, /* numbers from here */
  GF_TALK_MS = GF_NUM0,
  GF_DURATION_MS,
  GF_WAIT_MS,
  GF_RING_MS,
  GF_HOLD_MS,
  GF_WRAPUP_MS,
  GF_SALE_CENTS,
  GF_REVENUE_CENTS,
  GF_N
};
extern const char *const gam__source_types[GS_N];
extern const char *const gam__field_names[GF_N];

typedef struct gam_rule_s {
  char id[64];
  char name[GAM_NAME_MAX];
  int source; /* GS_* */
  int64_t points;
  int64_t daily_cap; /* INT64_MAX: none */
  void *when;        /* cJSON, borrowed from the set; NULL: always */
} gam_rule_t;

typedef struct gam_badge_s {
  char id[64];
  char name[GAM_NAME_MAX];
  char metric[80]; /* "points" or "rule:<id>" */
  int ntiers;      /* 1 with once: a one-off achievement (no tier) */
  int once;
  int64_t tiers[GAM_TIERS];
} gam_badge_t;

typedef struct gam_streak_s {
  char id[64];
  char name[GAM_NAME_MAX];
  int64_t daily_points;
  int ntiers;
  int64_t tiers[GAM_TIERS]; /* days in a row */
} gam_streak_t;

typedef struct gam_mult_s {
  int64_t from_us, to_us; /* [from, to) */
  int64_t percent;
  char rules[8][64]; /* none: every rule */
  int nrules;
} gam_mult_t;

typedef struct gam_rules_s {
  char version[GAM_NAME_MAX + 1];
  void *json; /* cJSON, owned */
  int64_t agent_daily_cap; /* INT64_MAX: none */
  unsigned working_days;   /* bit d: ISO weekday d (1 Monday .. 7) works */
  gam_rule_t rules[GAM_RULES_MAX];
  int nrules;
  gam_badge_t badges[GAM_BADGES_MAX];
  int nbadges;
  gam_streak_t streaks[GAM_STREAKS_MAX];
  int nstreaks;
  gam_mult_t mults[GAM_MULTS_MAX];
  int nmults;
} gam_rules_t;

/* input fields (gamification.input) */
enum {
  GI_AGENT, GI_KIND, GI_REF, GI_RULE, GI_VERSION, GI_POINTS, GI_DAY, GI_SLOT,
  GI_SRC_TYPE, GI_CALL, GI_LEAD, GI_REWARD, GI_DECISION, GI_REASON,
  GI_CAMPAIGN, GI_N
};
/* derived and managed types the processor reads or writes */
enum {
  GT_INPUT, GT_AWARDED, GT_REVERSED, GT_BADGE, GT_SETTLED, GT_RULES,
  GT_TEAM, GT_MEMBER_ADDED, GT_MEMBER_REMOVED, GT_REWARD_CREATED,
  GT_REWARD_UPDATED, GT_REQUESTED, GT_DECIDED, GT_CHALLENGE, GT_CINPUT, GT_SCORE,
  GT_WON, GT_OPENED, GT_CLOSED, GT_RANK, GT_N
};
/* the fields of those types, by name (a handle absent for a type that
 * lacks the field) */
enum {
  GX_AGENT, GX_TEAM, GX_RULE, GX_POINTS, GX_SOURCE_EVENT, GX_SOURCE_TYPE,
  GX_RULE_NAME, GX_CALL, GX_LEAD, GX_REASON, GX_AWARD_EVENT, GX_BADGE,
  GX_BADGE_NAME, GX_TIER, GX_REDEMPTION, GX_REWARD, GX_STATUS, GX_COST,
  GX_BALANCE, GX_HELD, GX_NAME, GX_ACTIVE, GX_VERSION, GX_RULES_JSON,
  GX_DECISION, GX_SUPERVISOR, GX_DESCRIPTION, GX_CHALLENGE, GX_PERIOD,
  GX_METRIC, GX_STARTS, GX_ENDS, GX_TEAM_BASED, GX_TEAM_IDS, GX_AGENT_IDS,
  GX_TARGET, GX_REWARD_POINTS, GX_SCOPE, GX_KIND, GX_REF, GX_DEFINITION,
  GX_LOCAL_DAY, GX_SCORE, GX_DELTA, GX_WSTART, GX_WEND, GX_PLACE, GX_FINAL,
  GX_PARTICIPANTS, GX_WINNER, GX_WIN_SCORE, GX_CAMPAIGN, GX_SPAN,
  GX_OLD_RANK, GX_NEW_RANK, GX_OF_AGENTS, GX_SCOPE_ID, GX_N
};

typedef struct gam_s gam_t;
typedef struct gam_rk_s gam_rk_t; /* gam_rankboard.c */
struct gam_s {
  sb_etype_ref_t src_t[GS_N];
  sb_field_t src_f[GS_N][GF_N];
  sb_field_t src_agent[GS_N], src_call[GS_N], src_lead[GS_N];
  sb_etype_ref_t t[GT_N];
  sb_field_t f[GT_N][GX_N];
  sb_field_t in[GI_N]; /* gamification.input */
  gam_rules_t *defaults;
  struct {
    char key[200]; /* tenant\nversion */
    gam_rules_t *rules;
  } cache[16];
  unsigned cache_next;
  int64_t grace_us; /* gamification.challenge_grace_s: a window closes then
                       after its end, by the tenant's partition's event time */
  gam_rk_t *ranked; /* the cached ranked boards, per tenant and partition
                       (gam_rank.c): dropped on abort and revoke */
  size_t rank_board_max, rank_tenant_max; /* gamification.rank_board_bytes,
                                             rank_tenant_mib */
};

/* what a source event is, to match rules against */
typedef struct gam_src_s {
  int source;                 /* GS_* */
  const char *str[GF_NUM0];   /* NULL: absent */
  int64_t num[GF_N - GF_NUM0];
  int has[GF_N - GF_NUM0];
} gam_src_t;

/* ---- gam_rules.c --------------------------------------------------------- */
/* Parses and checks a rule set: 0 and *out (gam__rules_free), or
 * SB_EVALIDATE saying what and where. */
int gam__rules_parse(const char *json, const char *version, gam_rules_t **out,
                     sb_err_t *err);
void gam__rules_free(gam_rules_t *r);
const gam_rule_t *gam__rule_find(const gam_rules_t *r, const char *id);
/* 1 when rule matches the source event */
int gam__rule_match(const gam_rule_t *rule, const gam_src_t *s);
/* points under the multipliers in force at at_us (percent, rounded down) */
int64_t gam__multiplied(const gam_rules_t *r, const gam_rule_t *rule,
                        int64_t at_us);
extern const char gam__default_rules_json[];

/* ---- gamification.c ------------------------------------------------------- */
/* The rule set of tenant at version (NULL: the latest published, else the
 * default): never NULL. */
const gam_rules_t *gam__rules_for(gam_t *x, sb_batch_t *b, const char *tenant,
                                  const char *version);
/* a gamification.input to the agent's partition (NULL strings: absent) */
typedef struct gam_input_s {
  const char *agent, *kind, *ref, *rule, *version, *slot, *src_type, *call,
      *lead, *reward, *decision, *reason, *campaign;
  int64_t points, day;
  int has_points, has_day;
} gam_input_t;
int gam__emit_input(gam_t *x, sb_batch_t *b, const char *tenant,
                    const gam_input_t *in, const char *disc, sb_err_t *err);

/* global tables: "rules" (sb.tenants: R|tenant -> latest version,
 * R|tenant|version -> rules json; W|tenant|reward -> "cost\tactive\tname") */
extern const sb_global_def_t gam__globals[];
/* the agent's current team (written by gam_decide.c) */
extern const sb_table_def_t gam__team_members;

/* ---- gam_project.c -------------------------------------------------------- */
extern const sb_table_def_t *const gam__tables[];
extern const sb_proj_step_t gam__migrations[];
extern const sb_view_def_t gam__views[];
/* the rows an event of type t (GT_*) adds to the projection */
int gam__project(gam_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                 sb_err_t *err);
/* a string or enum field of an event of type t (NULL: absent or empty) */
const char *gam__str(const gam_t *x, const sb_event_t *ev, int t, int f);
extern const char *const gam__type_names[GT_N];

/* ---- gam_board.c ---------------------------------------------------------- */
#define GAM_AROUND 5 /* leaderboard_around: ranks each side of the agent's */
enum { GAM_SPAN_DAY, GAM_SPAN_WEEK, GAM_SPAN_MONTH, GAM_SPAN_ALL, GAM_SPAN_N };
#define GAM_RK_SCOPES 3 /* tenant, team, campaign */
/* as the board and the pushes spell them */
extern const char *const gam__span_names[GAM_SPAN_N];
extern const char *const gam__scope_names[GAM_RK_SCOPES];
extern const sb_table_def_t gam__board;
extern const char gam__board_sql[]; /* migration 2: board and its views */
/* the first day (days since 1970-01-01) of the span's period holding day
 * (a local day); 0 for GAM_SPAN_ALL */
int64_t gam__period(int span, int64_t day);
/* leaderboard.rank_changed read back (migration 6) */
extern const sb_table_def_t gam__rank_pushes;
extern const char gam__rank_pushes_sql[];
int gam__rank_row(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                  sb_err_t *err);
/* the period as the board spells it, YYYY-MM-DD */
void gam__period_text(int span, int64_t day, char *out, size_t n);
/* the board rows of one ledger entry (points signed; team, campaign NULL:
 * none) */
int gam__board_rows(sb_batch_t *b, const char *tenant, const char *agent,
                    const char *team, const char *campaign, int64_t points,
                    int64_t day, int64_t at_us, sb_err_t *err);

/* ---- gam_challenge.c ------------------------------------------------------ */
extern const sb_table_def_t gam__challenges, gam__challenge_participants;
extern const char gam__challenge_sql[]; /* migration 3: challenges and
                                           their standings */
extern const sb_table_def_t gam__challenge_windows;
extern const char gam__challenge_window_sql[]; /* migration 4 */
/* the rows of a challenge.score_updated, challenge.won, challenge.opened
 * or challenge.closed read back */
int gam__challenge_result(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                          int t, sb_err_t *err);
/* the rows of a challenge.created */
int gam__challenge_row(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                       sb_err_t *err);

/* ---- gam_chal_decide.c ---------------------------------------------------- */
/* a ledger entry read back (GT_AWARDED, GT_REVERSED) or a challenge.created
 * (GT_CHALLENGE), forwarded as challenge.input to the tenant's partition */
int gam__challenge_forward(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                           int t, sb_err_t *err);
/* a challenge.input, on the tenant's partition */
int gam__challenge_decide(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                          sb_err_t *err);
/* a window's opening (an event-time timer, key o|tenant|challenge|window)
 * or close (key t|tenant|challenge|window) */
int gam__challenge_timer(gam_t *x, sb_batch_t *b, const char *key,
                         int64_t due, sb_err_t *err);
extern const sb_table_def_t gam__challenge_results, gam__challenge_scores;

/* ---- gam_rank.c ----------------------------------------------------------- */
/* a ledger entry (points signed, not a redemption) on the tenant's
 * partition: the boards it is on (every span kept, scopes tenant, team,
 * campaign; team and campaign NULL: none) and the rank changes they push */
int gam__rank_entry(gam_t *x, sb_batch_t *b, const char *T, const char *agent,
                    const char *team, const char *campaign, int64_t pts,
                    int64_t day, int64_t at, sb_err_t *err);
/* the cached boards dropped: all (partition < 0) or one partition's */
void gam__rank_forget(gam_t *x, int32_t partition);

/* ---- gam_rankboard.c ------------------------------------------------------ */
#define GAM_RK_KEY_MAX 640
/* what a row's value takes in state, counted against the bounds (its key
 * counted as it is) */
#define GAM_RK_VALUE_COST 48
typedef struct gam_rk_entry_s {
  const char *agent, *team, *campaign; /* team, campaign NULL: none */
  int64_t points, day, at;
} gam_rk_entry_t;
typedef struct gam_rk_push_s {
  const char *span, *period, *scope, *scope_id, *agent;
  int64_t old_rank; /* 0: none pushed before */
  int64_t new_rank, points, of_agents;
} gam_rk_push_t;
/* where the boards' truth goes (all borrowed for the call) */
typedef struct gam_rk_io_s {
  void *arg;
  int (*put)(void *arg, const char *key, const void *val, size_t len,
             sb_err_t *err);
  int (*del)(void *arg, const char *key, sb_err_t *err);
  int (*put_newest)(void *arg, const void *val, size_t len, sb_err_t *err);
  int (*push)(void *arg, const gam_rk_push_t *p, sb_err_t *err);
} gam_rk_io_t;
/* a tenant's boards on a partition, empty (NULL: out of memory); owned by
 * the caller (gam__rk_free). Bounds, in bytes of state (keys and values):
 * board_max a board's (gamification.rank_board_bytes), tenant_max all its
 * boards' (gamification.rank_tenant_mib); an agent not yet on a board
 * that would pass either is not added (no pushes for it on that board; the
 * board read through the views is whole) */
gam_rk_t *gam__rk_new(const char *tenant, int32_t partition, size_t board_max,
                      size_t tenant_max);
void gam__rk_free(gam_rk_t *t);
/* rebuilt from state: every key lb|tenant|..., then the newest day kept,
 * then ready */
int gam__rk_restore_row(gam_rk_t *t, const char *key, const void *val,
                        size_t len, sb_err_t *err);
void gam__rk_restore_newest(gam_rk_t *t, int64_t day);
int gam__rk_ready(gam_rk_t *t, sb_err_t *err);
/* one ledger entry: pushes through io->push, state through io; on failure
 * the caller drops t (state and t may differ) */
int gam__rk_entry(gam_rk_t *t, const gam_rk_io_t *io, const gam_rk_entry_t *e,
                  sb_err_t *err);
/* the agent's rank on a board (0: not on it) and how many it ranks */
int64_t gam__rk_rank(const gam_rk_t *t, int span, int64_t day, int scope,
                     const char *scope_id, const char *agent,
                     int64_t *of_agents);
const char *gam__rk_tenant(const gam_rk_t *t);
int32_t gam__rk_partition(const gam_rk_t *t);
gam_rk_t **gam__rk_next(gam_rk_t *t); /* the caller's list link */
size_t gam__rk_bytes(const gam_rk_t *t);

/* ---- gam_source.c --------------------------------------------------------- */
int gam__source_init(gam_t *x, const sb_schemas_t *s, sb_err_t *err);
/* 1 when ev is a source event or a redemption (handled), 0 otherwise */
int gam__source_event(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                      int *handled, sb_err_t *err);

/* ---- gam_decide.c --------------------------------------------------------- */
int gam__decide_init(gam_t *x, const sb_schemas_t *s, sb_err_t *err);
/* a gamification.input or a team membership event on the agent's
 * partition */
int gam__decide_event(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                      int *handled, sb_err_t *err);

#endif
