/* Routing's assignment: which agent gets a lead, and why every other agent
 * did not.
 *
 * Pure and deterministic: given the same request and the same candidates,
 * routing_decide gives the same decision and the same explanation whatever
 * order the candidates come in (they are considered in agent id order, and
 * every tie ends on the agent id: never an unseeded random). No clock, no
 * allocation; the caller holds the agents (the routing processor's
 * availability table) and a verdict per candidate.
 *
 * Filters, in this order, each excluding an agent with the first reason
 * that applies (the codes are what routing.decision carries):
 *   offline, paused      not logged in / paused (any channel)
 *   busy                 voice: only an agent in state available takes a
 *                        call (ringing, on_call and wrapup are busy)
 *   not_member           the request names a queue the agent is not in
 *   channel_not_taken    no capacity for the request's channel
 *   over_capacity        load + the item's units would pass capacity
 *   missing_skill        a required skill (and, until they are relaxed, an
 *                        optional one) absent or below its level; the
 *                        detail says which: "spanish<3"
 * then the strategy picks among the agents left:
 *   longest_wait   idle longest (earliest idle_since), as VICIdial's
 *                  default next_agent_call
 *   fewest_calls   fewest calls today; then idle longest
 *   round_robin    the first agent after the queue's last in agent id
 *                  order, wrapping (the position is the last agent's id:
 *                  it survives agents joining and leaving, and equal
 *                  agents' counts differ by one at most)
 *   skills         best match first: the sum of the agent's levels in the
 *                  skills asked for (optional ones count once relaxed);
 *                  then idle longest
 *   capacity       lowest load after the item, relative to capacity
 *                  (weighted units per channel, as Omni-Channel's
 *                  capacity model); then idle longest
 * Last tie-break everywhere: agent id (byte order).
 *
 * Optional skills are required until the request has waited relax_after_us
 * (then they only add to the skills match), as Omni-Channel relaxes
 * secondary skills after a timeout. */
#ifndef ROUTING_ASSIGN_H
#define ROUTING_ASSIGN_H

#include "sb_processor.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
  ROUTING_CH_VOICE = 0,
  ROUTING_CH_SMS,
  ROUTING_CH_EMAIL,
  ROUTING_CH_CHAT,
  ROUTING_CH_N
} routing_channel_t;

typedef enum {
  ROUTING_OFFLINE = 0,
  ROUTING_AVAILABLE,
  ROUTING_RINGING,
  ROUTING_ON_CALL,
  ROUTING_WRAPUP,
  ROUTING_PAUSED
} routing_state_t;

typedef enum {
  ROUTING_LONGEST_WAIT = 0,
  ROUTING_FEWEST_CALLS,
  ROUTING_ROUND_ROBIN,
  ROUTING_SKILLS,
  ROUTING_CAPACITY
} routing_strategy_t;

typedef struct routing_skill_s {
  const char *name;
  int level; /* the agent's; in a request, the least accepted */
} routing_skill_t;

/* A candidate. Strings and arrays borrowed for the call. */
typedef struct routing_cand_s {
  const char *agent_id;
  routing_state_t state;
  int64_t idle_since_us; /* when it last became free */
  int64_t calls_today;   /* in the tenant's day */
  const char *const *queues;
  size_t nqueues;
  const routing_skill_t *skills;
  size_t nskills;
  int capacity[ROUTING_CH_N]; /* units; 0: does not take the channel */
  int load[ROUTING_CH_N];     /* units in use */
} routing_cand_t;

typedef struct routing_request_s {
  const char *queue; /* NULL or "": any agent */
  routing_channel_t channel;
  int units; /* what the item takes of the channel's capacity; >= 1 */
  const routing_skill_t *required;
  size_t nrequired;
  const routing_skill_t *optional;
  size_t noptional;
  int64_t waited_us, relax_after_us; /* relax_after_us 0: never relaxed */
  const char *rr_last; /* round_robin: the queue's last agent; NULL: none */
} routing_request_t;

/* One per candidate, in agent id order once decided. */
typedef struct routing_verdict_s {
  const char *agent_id; /* borrowed from the candidate */
  size_t index;         /* the candidate's index in the agents given */
  const char *excluded; /* NULL: eligible; else a reason code (static) */
  char detail[64];      /* for missing_skill: which, e.g. "spanish<3" */
} routing_verdict_t;

typedef struct routing_decision_s {
  routing_strategy_t strategy;
  routing_verdict_t *verdicts; /* the caller's array of n */
  size_t n;
  int chosen;        /* into verdicts; -1: nobody qualifies */
  int relaxed;       /* optional skills were relaxed */
  int eligible;      /* how many passed the filters */
  char tiebreak[96]; /* what told the winner from its equals, or "" */
} routing_decision_t;

/* Decides among agents[0..n) for rq: fills verdicts (n of them) and *out.
 * SB_EINVAL for a bad request (units < 1, a channel out of range) or two
 * candidates with one id. */
int routing_decide(routing_strategy_t s, const routing_request_t *rq,
                   const routing_cand_t *agents, size_t n,
                   routing_verdict_t *verdicts, routing_decision_t *out,
                   sb_err_t *err);

/* The explanation routing.decision carries: {"strategy", "chosen" (null
 * when nobody), "relaxed", "tiebreak", "eligible", "considered",
 * "candidates": [{"agent_id", "excluded"?, "detail"?}, ...]} with at most
 * max_listed candidates listed (the chosen one always; then in agent id
 * order). NULL when out of memory; owned by the caller. */
cJSON *routing_decision_json(const routing_decision_t *d, size_t max_listed);

const char *routing_strategy_name(routing_strategy_t s);
/* 0, or SB_EINVAL naming the strategies known. */
int routing_strategy_parse(const char *name, routing_strategy_t *out,
                           sb_err_t *err);
const char *routing_state_name(routing_state_t s);
int routing_state_parse(const char *name, routing_state_t *out);
const char *routing_channel_name(routing_channel_t c);
int routing_channel_parse(const char *name, routing_channel_t *out);

#endif
