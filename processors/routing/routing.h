/* The routing processor: agent availability and lead scoring (see
 * routing.c; README.md, "Routing"). What the assignment strategies build
 * on, from inside the routing processor's callbacks (event or timer):
 *
 *   routing_agent_get(b, tenant, agent, &a)     one agent as every instance
 *                                               sees it (global tables)
 *   routing_agents_each(b, tenant, cb, arg)     every agent of a tenant,
 *                                               in id order
 *   routing_agent_serves / _skill_level / _capacity   its membership,
 *                                               skills, capacity
 *   routing_lead_score(b, tenant, lead, &score, &contactable)
 *                                               the lead's last score
 *                                               (keyed state: the lead's
 *                                               own partition only) */
#ifndef SB_ROUTING_H
#define SB_ROUTING_H

#include "sb_processor.h"

#include <stdint.h>

extern const sb_processor_vt_t sb_routing_processor;

/* An agent as the global tables over sb.agents and sb.calls say, merged:
 * strings borrowed until the tables change (the next batch). */
typedef struct routing_agent_s {
  const char *agent_id;
  /* offline available ringing on_call wrapup paused: the later of what
   * the agent's events and its calls' events say (see README) */
  const char *state;
  int64_t state_since;        /* micros */
  const char *pause_reason;   /* when paused, else NULL */
  const char *call_id;        /* current call, else NULL */
  int64_t logged_in_at;       /* 0 when offline */
  int64_t last_call_ended_at; /* 0 when none */
  int64_t idle_since;         /* available since (longest_wait_time), else 0 */
  int calls_today; /* calls ended since the tenant's local midnight */
  int load_voice;  /* 1 while ringing, on a call or in wrap-up */
  const char *team_id;
  const char *skills;    /* "name:level,..." */
  const char *queues;    /* "q1,q2" */
  const char *campaigns; /* "c1,c2" */
  const char *capacity;  /* "voice:1,email:3" */
} routing_agent_t;

/* 0 and *out for agent of tenant, or SB_ENOENT when no sb.agents event
 * named it. now_us: the decision's time (calls_today's local day). */
int routing_agent_get(sb_batch_t *b, const char *tenant, const char *agent,
                      int64_t now_us, routing_agent_t *out);
/* Calls cb for every agent of tenant (at most routing.max_agents_per_tenant),
 * in the order they were first seen; stops at cb's first non-zero, which it
 * returns. */
int routing_agents_each(sb_batch_t *b, const char *tenant, int64_t now_us,
                        int (*cb)(const routing_agent_t *a, void *arg),
                        void *arg);
/* 1 when the agent serves queue_or_campaign (in its queues or campaigns). */
int routing_agent_serves(const routing_agent_t *a, const char *id);
/* The agent's level of skill (1 to 10), 0 when it lacks it. */
int routing_agent_skill_level(const routing_agent_t *a, const char *skill);
/* How many interactions of channel the agent takes at once (voice: 1
 * unless said otherwise). */
int routing_agent_capacity(const routing_agent_t *a, const char *channel);

/* The last score the processor gave lead (from the lead's partition: an
 * event or timer of that lead): 0, or SB_ENOENT when never scored. */
int routing_lead_score(sb_batch_t *b, const char *tenant, const char *lead,
                       int *score, int *contactable);

#endif
