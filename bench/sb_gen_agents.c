/* The generator's agents: shifts, log-ins and log-outs, breaks and the
 * ACD states (available, ringing, on a call, wrap-up, paused), and the
 * queue of calls waiting for them. Calls are in sb_gen_calls.c. */
#include "sb_gen_int.h"

const char *const sb__gen_pause_reasons[N_PAUSE_REASONS] = {
    "break", "lunch", "coaching", "training", "meeting", "personal"};
const uint16_t sb__gen_pause_reasons_w[N_PAUSE_REASONS] = {50, 15, 10,
                                                           8,  10, 7};

static const char *const agent_states[] = {"offline", "available", "ringing",
                                           "on_call", "wrapup",    "paused"};

static const char *const logout_reasons[] = {"manual", "idle_timeout",
                                             "forced_by_supervisor",
                                             "session_expired", "system"};
static const uint16_t logout_reasons_w[] = {85, 5, 3, 5, 2};

/* ---- agents ----------------------------------------------------------- */

static void avail_remove(sb_gen_t *g, agent_t *a) {
  tenant_t *t = &g->tenants[a->tenant];
  int32_t i = (int32_t)(a - g->agents);
  if (a->prev >= 0)
    g->agents[a->prev].next = a->next;
  else if (t->avail_head == i)
    t->avail_head = a->next;
  else
    return; /* not in the list */
  if (a->next >= 0)
    g->agents[a->next].prev = a->prev;
  else
    t->avail_tail = a->prev;
  a->prev = a->next = -1;
}

static void avail_push(sb_gen_t *g, agent_t *a) {
  tenant_t *t = &g->tenants[a->tenant];
  int32_t i = (int32_t)(a - g->agents);
  a->prev = t->avail_tail;
  a->next = -1;
  if (t->avail_tail >= 0)
    g->agents[t->avail_tail].next = i;
  else
    t->avail_head = i;
  t->avail_tail = i;
}

static void reserve(sb_gen_t *g, agent_t *a, flow_t *f) {
  avail_remove(g, a);
  sb__gen_unsched(g, agent_owner(g, a));
  a->st = A_BUSY;
  a->flow = (int32_t)(f - g->flows);
  f->agent = (int32_t)(a - g->agents);
}

/* the idle agent waiting longest, reserved for f; NULL when none */
agent_t *sb__gen_take_agent(sb_gen_t *g, tenant_t *t, flow_t *f) {
  if (t->avail_head < 0)
    return NULL;
  agent_t *a = &g->agents[t->avail_head];
  reserve(g, a, f);
  return a;
}

void sb__gen_wait_remove(sb_gen_t *g, tenant_t *t, flow_t *f) {
  int32_t i = (int32_t)(f - g->flows);
  if (f->prev >= 0)
    g->flows[f->prev].next = f->next;
  else if (t->wait_head == i)
    t->wait_head = f->next;
  else
    return;
  if (f->next >= 0)
    g->flows[f->next].prev = f->prev;
  else
    t->wait_tail = f->prev;
  f->prev = f->next = -1;
  t->nwait--;
}

void sb__gen_wait_push(sb_gen_t *g, tenant_t *t, flow_t *f, bool front) {
  int32_t i = (int32_t)(f - g->flows);
  t->nwait++;
  if (t->wait_head < 0) {
    f->prev = f->next = -1;
    t->wait_head = t->wait_tail = i;
  } else if (front) {
    f->prev = -1;
    f->next = t->wait_head;
    g->flows[t->wait_head].prev = i;
    t->wait_head = i;
  } else {
    f->next = -1;
    f->prev = t->wait_tail;
    g->flows[t->wait_tail].next = i;
    t->wait_tail = i;
  }
}

/* An agent ready for work: takes the call waiting longest, or joins the
 * idle list until a call, a break or the end of the shift. */
void sb__gen_agent_ready(sb_gen_t *g, agent_t *a) {
  tenant_t *t = &g->tenants[a->tenant];
  a->st = A_AVAIL;
  a->flow = -1;
  if (t->wait_head >= 0) {
    flow_t *f = &g->flows[t->wait_head];
    sb__gen_wait_remove(g, t, f);
    t->served++;
    reserve(g, a, f);
    fsched(g, f, S_OFFER, g->now + between(g, 150, 700));
    return;
  }
  avail_push(g, a);
  int64_t next = g->now + (int64_t)expo(g, 70.0 * MIN) + 10 * SEC;
  sb__gen_sched(g, agent_owner(g, a),
                next < a->shift_end ? next : a->shift_end);
}

static void w_state(sb_gen_t *g, agent_t *a, int rstate) {
  F_STR(g, "state", agent_states[rstate]);
  F_STR(g, "previous_state", agent_states[a->rstate]);
  F_INT(g, "previous_state_ms", g->now - a->rsince);
  a->rstate = (uint8_t)rstate;
  a->rsince = g->now;
}

/* agent.state_changed; call (may be NULL) is the call it is about */
int sb__gen_ev_agent_state(sb_gen_t *g, agent_t *a, int rstate,
                           const char *pause_reason, flow_t *call) {
  tenant_t *t = &g->tenants[a->tenant];
  EV_BEGIN(g, T_AGENT_STATE, t, "acd", "queues", "agent-", a->n, call);
  ev_data(g);
  w_state(g, a, rstate);
  if (pause_reason)
    F_STR(g, "pause_reason", pause_reason);
  if (call) {
    F_ID(g, "call_id", "call-", call->n);
    if (!call->outbound)
      F_ID(g, "queue_id", "queue-", camp_of(t, call->camp)->n);
  }
  return ev_end(g);
}

static int ev_access(sb_gen_t *g, agent_t *a, bool login) {
  tenant_t *t = &g->tenants[a->tenant];
  uint64_t h = mix64(a->n);
  EV_BEGIN(g, T_ACCESS, t, "sso", "idp", "agent-", a->n, NULL);
  sb__gen_actor_agent(g, a);
  W_LIT(&g->w, ",\"actorip\":\"10.");
  w_u64(&g->w, (h >> 8) & 255);
  w_ch(&g->w, '.');
  w_u64(&g->w, (h >> 16) & 255);
  w_ch(&g->w, '.');
  w_u64(&g->w, 1 + ((h >> 24) % 254));
  W_LIT(&g->w, "\",\"actoruseragent\":");
  w_qstr(&g->w, sb__gen_user_agents[h % 2]);
  ev_data(g);
  F_STR(g, "action", login ? "LOGIN" : "LOGOUT");
  F_STR(g, "auth_method", "sso");
  F_BOOL(g, "mfa_used", true);
  KEY(&g->w, "session_id");
  W_LIT(&g->w, "\"sess-");
  w_hex(&g->w, mix64(a->n ^ ((uint64_t)a->sessions << 40)), 16);
  w_ch(&g->w, '"');
  return ev_end(g);
}

int sb__gen_ev_logged_out(sb_gen_t *g, agent_t *a, flow_t *call) {
  tenant_t *t = &g->tenants[a->tenant];
  EV_BEGIN(g, T_AGENT_OUT, t, "acd", "queues", "agent-", a->n, call);
  sb__gen_actor_agent(g, a);
  ev_data(g);
  F_STR(g, "reason", logout_reasons[PICKW(g, logout_reasons_w)]);
  F_INT(g, "session_ms", g->now - a->login_at);
  a->rstate = RS_OFFLINE;
  a->rsince = g->now;
  a->st = A_LOGOUT_AUDIT;
  a->flow = -1;
  sb__gen_sched(g, agent_owner(g, a), g->now + between(g, 200, 900));
  return ev_end(g);
}

int sb__gen_agent_step(sb_gen_t *g, agent_t *a) {
  tenant_t *t = &g->tenants[a->tenant];
  switch (a->st) {
  case A_OFF:
    a->sessions++;
    a->login_at = g->now;
    a->shift_end = g->now + between(g, 4 * HOUR, 9 * HOUR);
    a->st = A_AUTHED;
    sb__gen_sched(g, agent_owner(g, a), g->now + between(g, 800, 3000));
    return ev_access(g, a, true);
  case A_AUTHED: {
    EV_BEGIN(g, T_AGENT_IN, t, "acd", "queues", "agent-", a->n, NULL);
    sb__gen_actor_agent(g, a);
    ev_data(g);
    uint64_t ext = 1000 + a->local;
    KEY(&g->w, "interface");
    W_LIT(&g->w, "\"PJSIP/");
    w_u64(&g->w, ext);
    w_ch(&g->w, '"');
    KEY(&g->w, "extension");
    w_ch(&g->w, '"');
    w_u64(&g->w, ext);
    w_ch(&g->w, '"');
    F_ID(g, "station_id", "desk-", 1 + a->local);
    F_ID(g, "team_id", "team-", 1 + a->local / 12);
    uint64_t h = mix64(a->n);
    KEY(&g->w, "skills");
    w_ch(&g->w, '[');
    w_qstr(&g->w, sb__gen_products[camp_of(t, 0)->product].skill);
    if (h & 1)
      W_LIT(&g->w, ",\"support\"");
    if ((h >> 1) % 5 == 0)
      W_LIT(&g->w, ",\"es\"");
    w_ch(&g->w, ']');
    KEY(&g->w, "queue_ids");
    w_ch(&g->w, '[');
    for (uint32_t i = 0; i < t->ncamps && i < 4; i++) {
      if (i)
        w_ch(&g->w, ',');
      w_qid(&g->w, "queue-", 6, t->camps[i].n);
    }
    w_ch(&g->w, ']');
    F_INT(g, "capacity", 1);
    a->st = A_LOGGED;
    sb__gen_sched(g, agent_owner(g, a), g->now + between(g, 300, 2000));
    return ev_end(g);
  }
  case A_LOGGED:
    sb__gen_ev_agent_state(g, a, RS_AVAILABLE, NULL, NULL);
    sb__gen_agent_ready(g, a);
    return 1;
  case A_AVAIL:
    avail_remove(g, a);
    if (g->now >= a->shift_end)
      return sb__gen_ev_logged_out(g, a, NULL);
    a->st = A_PAUSED;
    sb__gen_sched(g, agent_owner(g, a),
                  g->now + lognorm(g, 6 * MIN, 0.6, MIN, 45 * MIN));
    return sb__gen_ev_agent_state(
        g, a, RS_PAUSED,
        sb__gen_pause_reasons[PICKW(g, sb__gen_pause_reasons_w)], NULL);
  case A_PAUSED:
    if (g->now >= a->shift_end)
      return sb__gen_ev_logged_out(g, a, NULL);
    sb__gen_ev_agent_state(g, a, RS_AVAILABLE, NULL, NULL);
    sb__gen_agent_ready(g, a);
    return 1;
  case A_LOGOUT_AUDIT:
    a->st = A_OFF;
    sb__gen_sched(g, agent_owner(g, a),
                  g->now + 15 * MIN + (int64_t)expo(g, 45.0 * MIN));
    return ev_access(g, a, false);
  default: /* A_BUSY: calls drive it and it has no timer */
    return 0;
  }
}
