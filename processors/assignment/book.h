/* A tenant's routing book: what the one decision-maker of a tenant knows
 * (the agents as their availability last said, the queues' configuration
 * and round-robin positions, the leads waiting, and its own reservations),
 * and the decisions it makes from it.
 *
 * Pure and deterministic: no clock (the time of each call is the caller's:
 * the time of the event being handled), no I/O; decisions come back
 * through a callback in a fixed order. Given the same calls in the same
 * order, a book makes the same decisions, which is what makes routing's
 * decisions replayable (README, "Routing").
 *
 *   agent_set     an agent's availability (a snapshot: replaces the last);
 *                 a snapshot newer than a reservation ends it (the agent's
 *                 own state now says what it does)
 *   agent_update  one side of an agent: what its own events say (state,
 *                 queues, skills, capacity; as_of_us) or what its calls
 *                 say (call_state at call_at_us; calls ended on calls_day),
 *                 each side replaced only by a newer one; the agent is in
 *                 the state of the later side, as routing's board says
 *   queue_gate    a queue's gate (its campaign): paused, or its dial window
 *                 and zone; a lead is offered only while its queue is open
 *                 and it is inside the window and the TCPA's calling hours
 *                 (08:00-21:00) in its own zone (callwindow.h), else it
 *                 waits for the next opening
 *   queue_set     a queue's strategy, skill relaxation, priority, bound of
 *                 waiting leads and required skills (routing's
 *                 routing.queue_configured); a queue never set has the
 *                 book's default strategy
 *   lead_ready    a lead to route (new, or re-scored while it waits): tried
 *                 at once; "queued" when nobody qualifies (said once)
 *   lead_remove   a waiting lead withdrawn (no consent, DNC, closed):
 *                 "withdrawn"
 *   tick          time passes: reservations past their timeout end
 *                 ("released"), waits pass relaxation points
 * and after each of them the book drains: waiting leads in order
 * (recycled first, then queue priority, score, time waiting, lead id) are
 * offered to the agents with room, until no agent has room or no lead
 * qualifies.
 *
 * An assignment reserves the item's units of the agent's channel capacity
 * until a newer snapshot of the agent arrives or reserve_timeout_us passes:
 * two leads never get one free slot, even before the agent's state shows
 * the first.
 *
 * Bounds: ROUTING_BOOK_AGENTS agents and max_waiting leads a book, and a
 * queue's own max_waiting leads in it (a lead past either: "queue_full",
 * not kept); names as in the limits below, longer
 * ones refused with SB_EINVAL. */
#ifndef ROUTING_BOOK_H
#define ROUTING_BOOK_H

#include "assign.h"

#define ROUTING_NAME_MAX 63 /* bytes of an id, queue or skill name */
#define ROUTING_QUEUES_MAX 16
#define ROUTING_SKILLS_MAX 16
#define ROUTING_BOOK_AGENTS 5000
#define ROUTING_BOOK_QUEUES 256

typedef struct routing_named_skill_s {
  char name[ROUTING_NAME_MAX + 1];
  int level;
} routing_named_skill_t;

typedef struct routing_agent_rec_s {
  char id[ROUTING_NAME_MAX + 1];
  routing_state_t state;
  int64_t idle_since_us, calls_today;
  /* two-sided (agent_update): when the agent's own state began (0: a
   * snapshot, idle_since_us says), and what its calls say: call_state
   * (ringing, on_call, wrapup; available when the call is done) at
   * call_at_us (0: no call), calls_today counted on calls_day (the
   * tenant's local day); call_ended: this update is a call's end */
  int64_t state_at_us;
  routing_state_t call_state;
  int64_t call_at_us, calls_day;
  int call_ended;
  int nqueues, nskills;
  char queues[ROUTING_QUEUES_MAX][ROUTING_NAME_MAX + 1];
  routing_named_skill_t skills[ROUTING_SKILLS_MAX];
  int capacity[ROUTING_CH_N], load[ROUTING_CH_N];
  int64_t as_of_us; /* the snapshot's time */
  /* the book's own: units it gave the agent since that snapshot */
  int reserved[ROUTING_CH_N];
  int64_t reserved_at_us; /* the last assignment; 0: none */
} routing_agent_rec_t;

#define ROUTING_ZONE_MAX SB_TZ_NAME_MAX /* bytes of a zone name */
#define ROUTING_WINDOW_MAX 511  /* bytes of a window's text (callwindow.h) */

typedef struct routing_queue_rec_s {
  char id[ROUTING_NAME_MAX + 1];
  routing_strategy_t strategy;
  int64_t relax_after_us; /* 0: optional skills never relaxed */
  int priority;           /* higher first */
  /* routing.queue_configured: leads that may wait in it (0: only the
   * book's max_waiting), its service-level target (for analytics), the
   * skills every lead of the queue requires (added to the lead's own) */
  int max_waiting, service_level_s;
  int nrequired;
  routing_named_skill_t required[ROUTING_SKILLS_MAX];
  char rr_last[ROUTING_NAME_MAX + 1]; /* round robin: its last agent */
  /* the gate (queue_gate; queue_set keeps it): closed while paused; the
   * dial window as sb_cw_format's text ("" every day) in zone ("" UTC) */
  int gated, paused;
  char window[ROUTING_WINDOW_MAX + 1];
  char zone[ROUTING_ZONE_MAX + 1];
} routing_queue_rec_t;

typedef struct routing_lead_rec_s {
  char id[ROUTING_NAME_MAX + 1];
  char queue[ROUTING_NAME_MAX + 1];
  routing_channel_t channel;
  int units;
  int nrequired, noptional;
  routing_named_skill_t required[ROUTING_SKILLS_MAX];
  routing_named_skill_t optional[ROUTING_SKILLS_MAX];
  int64_t score;
  int recycled;         /* goes ahead of fresh leads */
  char zone[ROUTING_ZONE_MAX + 1]; /* its own zone ("": its queue's) */
  int tcpa; /* gated by the calling hours even when its queue has no gate
             * (in its zone, else its queue's, else UTC): routing's leads */
  int64_t ready_at_us;  /* when it started waiting */
  int queued_said;      /* "queued" was said */
} routing_lead_rec_t;

typedef struct routing_book_s routing_book_t;

/* What a decision was: "assigned", "queued", "queue_full", "withdrawn",
 * "released" (a reservation timed out; the lead is not re-queued: the
 * assignment was made, the dialer's outcome decides what follows). */
typedef struct routing_outcome_s {
  const char *what;
  const routing_lead_rec_t *lead;    /* NULL for "released" */
  const char *agent_id;              /* assigned, released; else NULL */
  const routing_decision_t *decision; /* assigned, queued; else NULL */
  int64_t at_us;
} routing_outcome_t;

typedef int (*routing_outcome_cb)(void *arg, const routing_outcome_t *o,
                                  sb_err_t *err);

typedef struct routing_book_conf_s {
  int64_t reserve_timeout_us; /* > 0 */
  size_t max_waiting;         /* > 0 */
  routing_strategy_t default_strategy;
} routing_book_conf_t;

/* NULL when out of memory. */
routing_book_t *routing_book_new(const routing_book_conf_t *conf);
void routing_book_free(routing_book_t *b);

/* Each may call cb (decisions) before it returns; a non-zero from cb stops
 * the book there and is returned (the caller drops the book: its state is
 * then the state before the call only if the caller reloads it). */
int routing_book_agent_set(routing_book_t *b, const routing_agent_rec_t *a,
                           int64_t now_us, routing_outcome_cb cb, void *arg,
                           sb_err_t *err);
int routing_book_queue_set(routing_book_t *b, const routing_queue_rec_t *q,
                           int64_t now_us, routing_outcome_cb cb, void *arg,
                           sb_err_t *err);
#define ROUTING_SIDE_AGENT 1
#define ROUTING_SIDE_CALL 2
int routing_book_agent_update(routing_book_t *b, int side,
                              const routing_agent_rec_t *a, int64_t now_us,
                              routing_outcome_cb cb, void *arg, sb_err_t *err);
/* q's gate fields (paused, window, zone) only; SB_EINVAL for a window or
 * zone that does not parse. */
int routing_book_queue_gate(routing_book_t *b, const routing_queue_rec_t *q,
                            int64_t now_us, routing_outcome_cb cb, void *arg,
                            sb_err_t *err);
int routing_book_lead_ready(routing_book_t *b, const routing_lead_rec_t *l,
                            int64_t now_us, routing_outcome_cb cb, void *arg,
                            sb_err_t *err);
int routing_book_lead_remove(routing_book_t *b, const char *lead_id,
                             int64_t now_us, routing_outcome_cb cb, void *arg,
                             sb_err_t *err);
int routing_book_tick(routing_book_t *b, int64_t now_us, routing_outcome_cb cb,
                      void *arg, sb_err_t *err);

/* Reading it (borrowed until the next change). */
const routing_agent_rec_t *routing_book_agent(const routing_book_t *b,
                                              const char *id);
const routing_lead_rec_t *routing_book_lead(const routing_book_t *b,
                                            const char *id);
size_t routing_book_waiting(const routing_book_t *b);
/* The earliest time after after_us at which a tick could change something
 * (a reservation's end, a waiting lead's relaxation, a gated lead's next
 * opening), or 0 when none: when to ask for a tick. */
int64_t routing_book_next_due(const routing_book_t *b, int64_t after_us);

/* Restoring a book (the processor's keyed state): records put back as
 * they were saved, without deciding anything. */
int routing_book_restore_agent(routing_book_t *b, const routing_agent_rec_t *a,
                               sb_err_t *err);
int routing_book_restore_queue(routing_book_t *b, const routing_queue_rec_t *q,
                               sb_err_t *err);
int routing_book_restore_lead(routing_book_t *b, const routing_lead_rec_t *l,
                              sb_err_t *err);

/* What changed since the last call (to save): each agent, queue and lead
 * changed, in id order, once; gone=1 for a lead no longer waiting. Clears
 * the marks. */
typedef struct routing_dirty_s {
  int (*agent)(void *arg, const routing_agent_rec_t *a, sb_err_t *err);
  int (*queue)(void *arg, const routing_queue_rec_t *q, sb_err_t *err);
  int (*lead)(void *arg, const char *id, const routing_lead_rec_t *l /* NULL:
                                                                        gone */,
              sb_err_t *err);
} routing_dirty_t;
int routing_book_flush(routing_book_t *b, const routing_dirty_t *d, void *arg,
                       sb_err_t *err);

#endif
