/* What the routing processor's files share (processors/routing/): its
 * state, the agent records (agents.c), the rule sets and scores
 * (scoring.c). Internal: other processors read routing through routing.h. */
#ifndef SB_ROUTING_INT_H
#define SB_ROUTING_INT_H

#include "routing.h"

#include <stddef.h>
#include <stdint.h>

/* ---- the processor's state --------------------------------------------- */

/* event types it handles */
enum {
  RT_AGENT_IN,
  RT_AGENT_OUT,
  RT_AGENT_STATE,
  RT_AGENT_SKILLS,
  RT_CALL_OFFERED,
  RT_CALL_CONNECTED,
  RT_CALL_ENDED,
  RT_CALL_DISPO,
  RT_LEAD_CREATED,
  RT_LEAD_UPDATED,
  RT_LEAD_STATUS,
  RT_LEAD_ASSIGNED,
  RT_LEAD_RECYCLED,
  RT_LEAD_DNC,
  RT_LEAD_ENGAGED,
  RT_LEAD_SCORED,
  RT_MSG_REQUESTED,
  RT_MSG_INBOUND,
  RT_RULES,
  RT_LEAD_RESCORE, /* lead.rescore_requested (automation) */
  RT_LEAD_QUEUE,   /* lead.queue_set (automation) */
  RT_T_N
};

/* fields, resolved per type (zero where a type lacks one) */
enum {
  RF_AGENT_ID,
  RF_STATE,
  RF_PAUSE_REASON,
  RF_CALL_ID,
  RF_TEAM_ID,
  RF_SKILLS,
  RF_QUEUE_IDS,
  RF_CAMPAIGN_IDS,
  RF_CHANNEL_CAPACITY,
  RF_CAPACITY,
  RF_CHANGED_FIELDS,
  RF_LEAD_ID,
  RF_TALK_MS,
  RF_LEAD_SOURCE,
  RF_STATUS,
  RF_CAMPAIGN_ID,
  RF_PRIORITY,
  RF_VALUE,
  RF_PHONE_HMAC,
  RF_EMAIL_HMAC,
  RF_KIND,
  RF_RULES_VERSION,
  RF_RULES_JSON,
  RF_TO_HMAC,
  RF_FROM_HMAC,
  /* lead.scored v2 and lead.engaged, for emitting */
  RF_SCORE,
  RF_MODEL_VERSION,
  RF_PREVIOUS_SCORE,
  RF_FACTORS,
  RF_COMPONENTS,
  RF_CONTACTABLE,
  RF_BLOCK_REASON,
  RF_NEXT_AT,
  RF_SOURCE_EVENT_ID,
  RF_SOURCE_TYPE,
  RF_GRADE,
  RF_SOURCE,
  RF_TIME_ZONE,
  RF_PHONE_TZ,
  RF_QUEUE_ID,
  RF_CHANNEL,         /* lead.created / updated v4 */
  RF_REQUIRED_SKILLS,
  RF_OPTIONAL_SKILLS,
  RF_F_N
};

typedef struct rt_rules_s rt_rules_t;

/* one board change, applied in commit (see routing.c) */
typedef struct rt_board_s rt_board_t;

typedef struct routing_s {
  sb_etype_ref_t t[RT_T_N];
  sb_field_t f[RT_T_N][RF_F_N];
  int max_agents;       /* routing.max_agents_per_tenant */
  int decay_wall;       /* routing.decay_clock: 1 wall, 0 event time */
  const char *purpose;  /* routing.consent_purpose */
  int consent_wait_ms;  /* routing.consent_wait_ms */
  rt_rules_t *defaults; /* the built-in rule set */
  /* parsed published rule sets, by tenant and version (a small cache) */
  struct {
    char key[200];
    rt_rules_t *rules;
  } cache[32];
  unsigned cache_next;
  /* the batch's board changes, written by commit */
  void *prof, *calls, *leads; /* cJSON arrays */
  /* routing.input, what it hands the assignment processor (forward.c) */
  sb_etype_ref_t t_input;
#define RT_FI_N 5
  sb_field_t fin[RT_FI_N];
  /* routing.queue_configured (queues.c) */
  sb_etype_ref_t t_queue;
#define RT_FQ_N 8
  sb_field_t fq[RT_FQ_N];
} routing_t;

/* A string or enum field's text, NULL when absent or empty. */
const char *rt__str(const routing_t *x, const sb_event_t *ev, int t, int f);
/* The type index of ev, or -1. */
int rt__type(const routing_t *x, const sb_event_t *ev);

/* ---- what assignment is handed (forward.c) ------------------------------ */

typedef struct rt_agent_s rt_agent_t;
struct rt_lead_s;
int rt__forward_init(routing_t *x, const sb_schemas_t *s, sb_err_t *err);
int rt__forward_agent(routing_t *x, sb_batch_t *b, const sb_event_t *ev,
                      const char *agent, const rt_agent_t *r, sb_err_t *err);
int rt__forward_call(routing_t *x, sb_batch_t *b, const sb_event_t *ev,
                     const char *agent, const char *call_state, int ended,
                     sb_err_t *err);
int rt__forward_lead(routing_t *x, sb_batch_t *b, const char *tenant,
                     const char *lead, struct rt_lead_s *l, const sb_emit_t *o,
                     sb_err_t *err);

/* routing.input of kind with ref and payload (NULL: none), derived from
 * the event being handled. */
int rt__forward_send(routing_t *x, sb_batch_t *b, const char *tenant,
                     const char *kind, const char *ref, const char *payload,
                     sb_err_t *err);

/* ---- queues' configuration (queues.c) ---------------------------------- */

extern const sb_table_def_t rt__queues;
int rt__queues_init(routing_t *x, const sb_schemas_t *s, sb_err_t *err);
/* A routing.queue_configured: checked (SB_EVALIDATE naming the field: to
 * the dead letters), recorded in routing.queues and handed to assignment
 * as routing.input kind queue. */
int rt__queue_event(routing_t *x, sb_batch_t *b, const sb_event_t *ev,
                    sb_err_t *err);

/* ---- agents (agents.c) ------------------------------------------------- */

#define RT_LIST_MAX 1024 /* bytes of a packed list (skills, queues, ...) */

/* What sb.agents says of an agent: kept in keyed state on its partition
 * (for the board) and in the global table "agents" (for decisions), by
 * the same code. Stored as these bytes (version 1). */
struct rt_agent_s {
  uint32_t ver;
  char state[12];    /* offline available ringing on_call wrapup paused */
  int64_t state_at;  /* since when (it entered the state) */
  int64_t seen_at;   /* the latest event that stated a state */
  char event_id[27]; /* the latest event applied */
  int64_t event_at;
  char pause_reason[257];
  char call_id[129];    /* as agent.state_changed gave it */
  int64_t logged_in_at; /* 0: logged out */
  char team_id[129];
  char skills[RT_LIST_MAX]; /* "name:level,..." */
  char queues[RT_LIST_MAX]; /* "q1,q2" */
  char campaigns[RT_LIST_MAX];
  char capacity[256]; /* "voice:1,email:3" */
};

#define RT_BUCKETS 104 /* 26 hours of quarter hours */
#define RT_BUCKET_US (900LL * 1000000)

/* What sb.calls says of an agent: the global table "agent_calls". */
typedef struct rt_agent_calls_s {
  uint32_t ver;
  char state[12]; /* ringing on_call wrapup done */
  int64_t at;
  char event_id[27];
  char call_id[129];
  int64_t last_end;             /* the latest call.ended */
  int64_t base;                 /* bucket number of buckets[0] */
  uint16_t buckets[RT_BUCKETS]; /* calls ended per quarter hour */
} rt_agent_calls_t;

int rt__reduce_rules(void *state, sb_global_t *g, const sb_event_t *ev,
                     sb_err_t *err);        /* leads.c */
extern const sb_global_def_t rt__globals[]; /* agents, agent_calls, rules,
                                               consent */
#define RT_G_AGENTS (&rt__globals[0])
#define RT_G_CALLS (&rt__globals[1])
#define RT_G_RULES (&rt__globals[2])
#define RT_G_CONSENT (&rt__globals[3])

/* Applies an sb.agents event to r (zeroed for a new agent): 1 when it
 * changed r, 0 when older than what r holds, SB_EVALIDATE on a bad
 * field (a skill level, a capacity, a list too long), naming it. */
int rt__agent_apply(const routing_t *x, rt_agent_t *r, const sb_event_t *ev,
                    int t, sb_err_t *err);
/* Applies an sb.calls event with an agent to r: 1 changed, 0 not. */
int rt__calls_apply(const routing_t *x, rt_agent_calls_t *r,
                    const sb_event_t *ev, int t);
/* Handles an event of sb.agents or sb.calls on the processor's own
 * partitions: keyed state and the board. */
int rt__agents_event(routing_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                     sb_err_t *err);
/* The board's changes of the batch, in its transaction. */
int rt__agents_commit(routing_t *x, sb_batch_t *b, sb_err_t *err);
void rt__agents_forget(routing_t *x);
/* Records a lead.assigned on the board (the agent's current lead). */
int rt__board_lead(routing_t *x, const sb_event_t *ev, const char *agent,
                   const char *lead);

/* ---- leads (leads.c) ---------------------------------------------------- */

extern const sb_table_def_t rt__lead_scores, rt__agent_days, rt__rule_sets;
/* An event of sb.leads, sb.calls or sb.messages about a lead. */
int rt__leads_event(routing_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                    sb_err_t *err);
/* A rule set published on sb.tenants: checked, recorded. */
int rt__rules_event(routing_t *x, sb_batch_t *b, const sb_event_t *ev,
                    sb_err_t *err);
/* A lead's score timer (key "S|tenant|lead"). */
int rt__leads_timer(routing_t *x, sb_batch_t *b, const sb_timer_t *t,
                    sb_err_t *err);

/* ---- scoring (scoring.c) ------------------------------------------------ */

#define RT_LEAD_SKILLS_MAX 400 /* bytes of a lead's packed skills list */

/* What the processor keeps of a lead (keyed state on its partition). */
typedef struct rt_lead_s {
  uint32_t ver;
  int64_t created_at; /* 0: no lead.created seen: the first event's time */
  char source[24], status[24];
  char campaign[129], agent[129];
  int32_t priority, has_priority;
  int64_t value_cents;
  int32_t has_value;
  char phone_hmac[65], email_hmac[65];
  int32_t calls, connected, messages, replies;
  int32_t has_score, score, contactable;
  int32_t dnc; /* a lead.dnc_flagged on its own partition */
  /* the latest time it was scored at: a lead is never scored at an
   * earlier time (a lead.engaged comes after later events of the lead,
   * being carried from another partition), so its score never climbs
   * back up the decay and its timers' due times only grow (each timer's
   * lead.scored id, derived from key and due time, is emitted once) */
  int64_t last_at;
  char rules_version[129];
  char engaged[8][27]; /* the last lead.engaged ids counted (copies) */
  uint32_t engaged_next;
  /* its zone (time_zone), its phone's (phone_tz); what it was last handed
   * to assignment as (forward.c): routed 1 while sent and not withdrawn
   * or assigned, with the score and recycling sent */
  char tz[48], phone_tz[48];
  int32_t routed, routed_score, routed_recycled;
  /* from here on, version 2 of the record (a version 1 record, shorter,
   * reads with these zero: RT_LEAD_V1_SIZE): the channel the lead asks
   * for (routing_channel_t: voice 0), its required and optional skills
   * ("name:level,...", lead.created / updated v4), and a hash of what it
   * was last handed to assignment as (sent again only when it changes) */
  int32_t channel;
  char required[RT_LEAD_SKILLS_MAX], optional[RT_LEAD_SKILLS_MAX];
  uint32_t routed_sig;
} rt_lead_t;
/* a version 1 record: the fields before channel, and the struct's
 * trailing padding to its 8-byte alignment (984 bytes on x86-64) */
#define RT_LEAD_V1_FIELDS offsetof(rt_lead_t, channel)
#define RT_LEAD_V1_SIZE ((RT_LEAD_V1_FIELDS + 7) & ~(size_t)7)

/* Parses a rule set (the text of rules_json): 0 and *out (free with
 * rt__rules_free), or SB_EVALIDATE saying what is wrong and where. */
int rt__rules_parse(const char *json, const char *version, rt_rules_t **out,
                    sb_err_t *err);
void rt__rules_free(rt_rules_t *r);
const char *rt__rules_version(const rt_rules_t *r);
/* The built-in rule set's JSON. */
extern const char rt__default_rules_json[];
#define RT_DEFAULT_VERSION "default-1"

/* The lead's facts beyond its record, looked up when it is scored. */
typedef struct rt_facts_s {
  int agent_available;
  int contactable;
  const char *block_reason; /* when not contactable */
} rt_facts_t;

/* A score and its explanation. */
typedef struct rt_score_s {
  int32_t score;
  int64_t next_at;       /* when age alone changes it next; 0: never */
  char *components_json; /* owned: cJSON_free() */
  const char *factors[16];
  char factor_buf[16][80];
  size_t nfactors;
} rt_score_t;

/* Scores lead r at time at_us under rules: 0, or SB_ENOMEM. */
int rt__score(const rt_rules_t *rules, const rt_lead_t *r,
              const rt_facts_t *facts, int64_t at_us, rt_score_t *out,
              sb_err_t *err);
/* What age leaves of points after age_us with half-life hl_s seconds
 * (integer arithmetic: the same on every machine), rounded. */
int64_t rt__decay(int64_t points, int64_t age_us, int64_t hl_s);
void rt__decay_init(void);

#endif
