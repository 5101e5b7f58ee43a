/* The generator's calls: inbound through IVR, queue, ringing, talk, hold,
 * transfer, wrap-up and disposition, or abandoned by the caller; outbound
 * dialer calls. The agents they reach are in sb_gen_agents.c. */
#include "sb_gen_int.h"

/* clang-format off */
enum {
  D_SALE, D_APPOINTMENT, D_CALLBACK, D_INTERESTED, D_NOT_INTERESTED,
  D_NO_ANSWER, D_BUSY, D_VOICEMAIL_LEFT, D_MACHINE, D_WRONG_NUMBER,
  D_DISCONNECTED, D_DNC, D_NOT_QUALIFIED, D_LANGUAGE, D_DUPLICATE, D_OTHER,
  D_COUNT
};
static const char *const dispositions[D_COUNT] = {
    "sale", "appointment_set", "callback_requested", "interested",
    "not_interested", "no_answer", "busy", "voicemail_left",
    "answering_machine", "wrong_number", "disconnected_number",
    "do_not_call", "not_qualified", "language_barrier", "duplicate", "other"};
static const char *const dispo_codes[D_COUNT] = {
    "SALE", "APPT", "CB", "INT", "NI", "NA", "B", "VM", "AM", "WN", "DC",
    "DNC", "NQ", "LB", "DUP", "OTH"};
/* connected human calls */
static const uint16_t dispo_inbound_w[D_COUNT] = {
    9, 6, 9, 12, 14, 0, 0, 0, 0, 2, 0, 1, 8, 1, 1, 37};
static const uint16_t dispo_outbound_w[D_COUNT] = {
    6, 8, 14, 12, 35, 0, 0, 0, 0, 4, 0, 3, 10, 2, 1, 5};
/* the lead status a disposition leads to (-1: none) */
static const int8_t dispo_status[D_COUNT] = {
    LS_CONVERTED,  LS_APPOINTMENT_SET, LS_WORKING,  LS_QUALIFIED,
    LS_LOST,       -1,                 -1,          -1,
    -1,            LS_INVALID,         LS_INVALID,  LS_LOST,
    LS_UNQUALIFIED, LS_NURTURING,      LS_DUPLICATE, -1};
static const char *const call_notes[8] = {
    "Asked for pricing by email.",
    "Spouse decides; call back in the evening.",
    "Happy with current provider for now.",
    "Wants a quote for the bigger package.",
    "Requested Spanish-speaking agent next time.",
    "Already a customer, routed to support.",
    "Booked site visit, confirmation sent.",
    "Prefers text messages over calls."};

/* outbound outcomes; bad numbers fail, see sb__gen_start_outbound */
static const uint16_t outcome_w[] = {47, 16, 29, 8, 0};
static const char *const abandon_stages[] = {"ivr", "queue", "ringing"};

/* clang-format on */

/* ---- calls ------------------------------------------------------------ */

static agent_t *call_agent(sb_gen_t *g, const flow_t *f) {
  return f->agent >= 0 ? &g->agents[f->agent] : NULL;
}

/* the caller's number: the lead's when known */
static uint64_t caller_hash(sb_gen_t *g, const flow_t *f) {
  tenant_t *t = &g->tenants[f->tenant];
  const lead_t *l = lead_at(t, f->lead_slot, f->lead_n);
  if (l != NULL) {
    person_t p;
    sb__gen_person(g, l, &p);
    return p.hv;
  }
  return mix64(f->n ^ 0xca11);
}

static void w_call_common(sb_gen_t *g, const tenant_t *t, const flow_t *f) {
  if (f->lead_n)
    F_ID(g, "lead_id", "lead-", f->lead_n);
  w_campaign(g, t, f->camp);
}

#define CALL_BEGIN(g, type, t, f)                                              \
  EV_BEGIN(g, type, t, "asterisk", "pbx-1", "call-", (f)->n, (f))

static int ev_call_started(sb_gen_t *g, tenant_t *t, flow_t *f) {
  const country_t *c = country_of(t);
  const campaign_t *cp = camp_of(t, f->camp);
  CALL_BEGIN(g, T_CALL_STARTED, t, f);
  ev_data(g);
  F_STR(g, "direction", f->outbound ? "outbound" : "inbound");
  KEY(&g->w, "channel_id");
  W_LIT(&g->w, "\"PJSIP/trunk-");
  w_hex(&g->w, rnd(g), 8);
  w_ch(&g->w, '"');
  uint64_t caller = caller_hash(g, f);
  F_PHONE(g, "from_number", c, f->outbound ? did_hash(cp) : caller);
  F_PHONE(g, "to_number", c, f->outbound ? caller : did_hash(cp));
  if (!f->outbound) {
    const lead_t *l = lead_at(t, f->lead_slot, f->lead_n);
    if (l != NULL && (caller & 3) == 0) {
      person_t p;
      sb__gen_person(g, l, &p);
      KEY(&g->w, "caller_name");
      w_ch(&g->w, '"');
      w_esc(&g->w, p.first->name);
      w_ch(&g->w, ' ');
      w_esc(&g->w, p.last->name);
      w_ch(&g->w, '"');
    }
    F_PHONE(g, "did", c, did_hash(cp));
  }
  F_STR(g, "trunk", f->outbound ? "trunk-outbound" : "trunk-inbound");
  F_STR(g, "node", "pbx-1");
  w_call_common(g, t, f);
  if (f->outbound) {
    F_AGENT(g, "agent_id", call_agent(g, f));
    F_STR(g, "dial_mode", sb__gen_dial_modes[cp->dial_mode]);
    F_INT(g, "attempt_number", f->attempt);
  }
  return ev_end(g);
}

/* Schedules the next IVR node or the queue, or the hang-up of a caller
 * whose patience ends first. */
static void after_ivr_node(sb_gen_t *g, flow_t *f) {
  int64_t next;
  int step;
  f->t_node = g->now;
  if (f->ivr_left > 0) {
    next = g->now + lognorm(g, 7 * SEC, 0.4, 2 * SEC, 40 * SEC);
    step = S_IVR;
  } else {
    next = g->now + between(g, 200, 900);
    step = S_QUEUE;
  }
  if (f->t_giveup < next) {
    f->stage = AB_IVR;
    fsched(g, f, S_ABANDON, f->t_giveup);
  } else {
    fsched(g, f, step, next);
  }
}

int sb__gen_start_inbound(sb_gen_t *g, uint32_t ti) {
  tenant_t *t = &g->tenants[ti];
  flow_t *f = sb__gen_flow_new(g, FK_CALL, ti);
  if (f == NULL)
    return 0;
  f->n = ++g->call_seq;
  f->camp = (uint8_t)below(g, t->ncamps);
  f->attempt = 1;
  uint32_t slot;
  lead_t *l = chance(g, 0.6) ? sb__gen_pick_lead(g, t, false, &slot) : NULL;
  if (l != NULL) {
    f->lead_slot = slot;
    f->lead_n = l->n;
    f->camp = l->camp;
  }
  /* most callers wait minutes; a few hang up within seconds */
  double patience = chance(g, 0.18)
                        ? (double)lognorm(g, 15 * SEC, 0.8, 3 * SEC, 2 * MIN)
                        : (double)lognorm(g, 3 * MIN, 0.5, 45 * SEC, 15 * MIN);
  f->t_giveup = g->now + (int64_t)patience;
  int r = (int)below(g, 100);
  f->ivr_left = (uint8_t)(r < 40 ? 0 : r < 85 ? 1 : 2);
  ev_call_started(g, t, f);
  after_ivr_node(g, f);
  return 1;
}

static const struct {
  const char *id, *name, *kind, *digits, *option;
} ivr_nodes[] = {
    {"menu-main", "Main menu", "menu", "1", "sales"},
    {"menu-main", "Main menu", "menu", "2", "support"},
    {"menu-language", "Language selection", "menu", "2", "espanol"},
    {"lookup-account", "Account lookup", "digits", "48213", NULL},
    {"menu-billing", "Billing menu", "menu", "3", "billing"},
};

static int step_ivr(sb_gen_t *g, tenant_t *t, flow_t *f) {
  int k = (int)below(g, ARRAY_LEN(ivr_nodes));
  bool timed_out = chance(g, 0.04);
  CALL_BEGIN(g, T_CALL_IVR, t, f);
  ev_data(g);
  F_STR(g, "node_id", ivr_nodes[k].id);
  F_ID(g, "ivr_id", "ivr-", camp_of(t, f->camp)->n);
  F_STR(g, "node_name", ivr_nodes[k].name);
  F_STR(g, "step_kind", ivr_nodes[k].kind);
  F_INT(g, "step_index", ++f->ivr_index);
  if (!timed_out) {
    F_STR(g, "input_digits", ivr_nodes[k].digits);
    if (ivr_nodes[k].option)
      F_STR(g, "option", ivr_nodes[k].option);
  }
  F_BOOL(g, "timed_out", timed_out);
  F_BOOL(g, "invalid_input", false);
  F_INT(g, "duration_ms", g->now - f->t_node);
  f->ivr_ms = g->now - f->t_start;
  f->ivr_left--;
  after_ivr_node(g, f);
  return ev_end(g);
}

static int step_queue(sb_gen_t *g, tenant_t *t, flow_t *f) {
  const campaign_t *cp = camp_of(t, f->camp);
  f->t_queued = g->now;
  f->ivr_ms = g->now - f->t_start;
  f->position = f->orig_position =
      (uint16_t)(t->nwait + 1 < 65535 ? t->nwait + 1 : 65535);
  f->served_at_join = t->served;
  CALL_BEGIN(g, T_CALL_QUEUED, t, f);
  ev_data(g);
  F_ID(g, "queue_id", "queue-", cp->n);
  KEY(&g->w, "queue_name");
  w_ch(&g->w, '"');
  w_esc(&g->w, sb__gen_products[cp->product].name);
  W_LIT(&g->w, " queue\"");
  F_INT(g, "position", f->position);
  F_INT(g, "priority", f->lead_n ? 2 : 1);
  KEY(&g->w, "required_skills");
  w_ch(&g->w, '[');
  w_qstr(&g->w, sb__gen_products[cp->product].skill);
  w_ch(&g->w, ']');
  F_INT(g, "estimated_wait_ms",
        (int64_t)t->nwait * 200 * SEC / (t->nagents ? t->nagents : 1));
  w_call_common(g, t, f);
  /* the longest idle agent takes it, unless others wait already */
  if (t->wait_head < 0 && sb__gen_take_agent(g, t, f) != NULL) {
    fsched(g, f, S_OFFER, g->now + between(g, 200, 1200));
  } else {
    sb__gen_wait_push(g, t, f, false);
    fsched(g, f, S_WAIT, f->t_giveup);
  }
  return ev_end(g);
}

/* "agent_channel_id": the agent's PJSIP channel of this call. */
static void f_agent_channel(sb_gen_t *g, const agent_t *a) {
  KEY(&g->w, "agent_channel_id");
  W_LIT(&g->w, "\"PJSIP/");
  w_u64(&g->w, 1000 + a->local);
  w_ch(&g->w, '-');
  w_hex(&g->w, rnd(g), 8);
  w_ch(&g->w, '"');
}

static int step_offer(sb_gen_t *g, tenant_t *t, flow_t *f) {
  agent_t *a = call_agent(g, f);
  f->t_offered = g->now;
  CALL_BEGIN(g, T_CALL_OFFERED, t, f);
  ev_data(g);
  F_AGENT(g, "agent_id", a);
  F_ID(g, "queue_id", "queue-", camp_of(t, f->camp)->n);
  f_agent_channel(g, a);
  KEY(&g->w, "interface");
  W_LIT(&g->w, "\"PJSIP/");
  w_u64(&g->w, 1000 + a->local);
  w_ch(&g->w, '"');
  F_INT(g, "attempt", f->attempt);
  F_INT(g, "wait_ms", g->now - f->t_queued);
  F_INT(g, "ring_timeout_ms", 15000);
  fsched(g, f, S_RINGING, g->now + between(g, 10, 60));
  return ev_end(g);
}

/* Plans the conversation once answered: talk, an optional hold, an
 * optional transfer. */
static void plan_talk(sb_gen_t *g, flow_t *f) {
  if (f->outcome == O_MACHINE) {
    f->talk_ms = between(g, 15 * SEC, 35 * SEC);
    return;
  }
  f->talk_ms = lognorm(g, 150 * SEC, 0.8, 10 * SEC, 90 * MIN);
  if (chance(g, 0.2)) {
    f->hold = 1;
    f->hold_ms = lognorm(g, 40 * SEC, 0.7, 5 * SEC, 15 * MIN);
    f->hold_at = (int64_t)((double)f->talk_ms * (0.2 + 0.6 * unit(g)));
  }
  f->transfer = chance(g, 0.03);
}

static int step_ringing(sb_gen_t *g, tenant_t *t, flow_t *f) {
  agent_t *a = call_agent(g, f);
  (void)t;
  if (!f->outbound && chance(g, 0.03)) { /* the agent does not answer */
    fsched(g, f, S_RNA, f->t_offered + 15 * SEC);
  } else {
    int64_t answer = f->t_offered + lognorm(g, 4 * SEC, 0.4, SEC, 14 * SEC);
    if (f->t_giveup < answer) {
      f->stage = AB_RINGING;
      fsched(g, f, S_ABANDON, f->t_giveup);
    } else {
      fsched(g, f, S_ANSWER, answer);
    }
  }
  return sb__gen_ev_agent_state(g, a, RS_RINGING, NULL, f);
}

/* Ring no answer: the agent is paused, the call goes back to the front
 * of the queue. */
static int step_rna(sb_gen_t *g, tenant_t *t, flow_t *f) {
  agent_t *a = call_agent(g, f);
  sb__gen_ev_agent_state(g, a, RS_PAUSED, "ring_no_answer", f);
  a->st = A_PAUSED;
  a->flow = -1;
  sb__gen_sched(g, agent_owner(g, a), g->now + between(g, 30 * SEC, 90 * SEC));
  f->agent = -1;
  f->attempt++;
  if (t->wait_head < 0 && sb__gen_take_agent(g, t, f) != NULL) {
    fsched(g, f, S_OFFER, g->now + between(g, 300, 1500));
  } else {
    sb__gen_wait_push(g, t, f, true);
    fsched(g, f, S_WAIT, f->t_giveup);
  }
  return 1;
}

static int step_answer(sb_gen_t *g, tenant_t *t, flow_t *f) {
  agent_t *a = call_agent(g, f);
  f->t_answered = g->now;
  f->ring_ms = g->now - f->t_offered;
  plan_talk(g, f);
  CALL_BEGIN(g, T_CALL_CONNECTED, t, f);
  ev_data(g);
  F_AGENT(g, "agent_id", a);
  if (!f->outbound)
    F_ID(g, "queue_id", "queue-", camp_of(t, f->camp)->n);
  f_agent_channel(g, a);
  KEY(&g->w, "bridge_id");
  w_ch(&g->w, '"');
  w_hex(&g->w, rnd(g), 16);
  w_ch(&g->w, '"');
  if (f->outbound)
    F_STR(g, "amd_status", f->outcome == O_MACHINE ? "machine" : "human");
  else
    F_INT(g, "wait_ms", f->t_offered - f->t_queued);
  F_INT(g, "ring_ms", f->ring_ms);
  fsched(g, f, S_ONCALL, g->now + between(g, 5, 40));
  return ev_end(g);
}

static int step_oncall(sb_gen_t *g, flow_t *f) {
  if (f->hold)
    fsched(g, f, S_HOLD_ON, f->t_answered + f->hold_at);
  else
    fsched(g, f, f->transfer ? S_TRANSFER : S_END, f->t_answered + f->talk_ms);
  return sb__gen_ev_agent_state(g, call_agent(g, f), RS_ON_CALL, NULL, f);
}

static int step_hold(sb_gen_t *g, tenant_t *t, flow_t *f, bool on) {
  CALL_BEGIN(g, T_CALL_HOLD, t, f);
  ev_data(g);
  F_BOOL(g, "on_hold", on);
  F_AGENT(g, "agent_id", call_agent(g, f));
  if (on) {
    F_STR(g, "music_class", "default");
    fsched(g, f, S_HOLD_OFF, g->now + f->hold_ms);
  } else {
    F_INT(g, "hold_ms", f->hold_ms);
    fsched(g, f, f->transfer ? S_TRANSFER : S_END,
           f->t_answered + f->talk_ms + f->hold_ms);
  }
  return ev_end(g);
}

static int step_transfer(sb_gen_t *g, tenant_t *t, flow_t *f) {
  CALL_BEGIN(g, T_CALL_TRANSFERRED, t, f);
  ev_data(g);
  bool external = chance(g, 0.5);
  F_STR(g, "transfer_kind", chance(g, 0.6) ? "blind" : "attended");
  F_STR(g, "target_kind", external ? "external" : "queue");
  F_AGENT(g, "from_agent_id", call_agent(g, f));
  if (external)
    F_PHONE(g, "target_number", country_of(t), mix64(t->camps[0].n + 991));
  else
    F_ID(g, "target_queue_id", "queue-", t->camps[0].n);
  fsched(g, f, S_END, g->now + between(g, 500, 4000));
  return ev_end(g);
}

static const struct {
  const char *end_reason, *cause;
  int code;
} endings[] = {
    [O_HUMAN] = {"customer_hangup", "normal_clearing", 16},
    [O_MACHINE] = {"voicemail", "normal_clearing", 16},
    [O_NO_ANSWER] = {"no_answer", "no_answer", 19},
    [O_BUSY] = {"busy", "user_busy", 17},
    [O_FAILED] = {"failed", "unallocated_number", 1},
};

static int ev_call_ended(sb_gen_t *g, tenant_t *t, flow_t *f, bool abandoned) {
  const country_t *c = country_of(t);
  const campaign_t *cp = camp_of(t, f->camp);
  agent_t *a = call_agent(g, f);
  bool answered = f->t_answered > 0;
  int64_t hung = abandoned ? f->t_end : g->now;
  CALL_BEGIN(g, T_CALL_ENDED, t, f);
  ev_data(g);
  F_STR(g, "direction", f->outbound ? "outbound" : "inbound");
  if (abandoned) {
    F_STR(g, "end_reason", "abandoned");
    F_STR(g, "hangup_cause", "originator_cancel");
    F_INT(g, "hangup_cause_code", 487);
  } else {
    const char *reason = endings[f->outcome].end_reason;
    if (f->transfer)
      reason = "transferred";
    else if (f->outcome == O_HUMAN && (f->n & 3) == 0)
      reason = "agent_hangup";
    F_STR(g, "end_reason", reason);
    F_STR(g, "hangup_cause", endings[f->outcome].cause);
    F_INT(g, "hangup_cause_code", endings[f->outcome].code);
  }
  F_TIME(g, "started_at", f->t_start);
  if (answered)
    F_TIME(g, "answered_at", f->t_answered);
  F_INT(g, "duration_ms", g->now - f->t_start);
  if (!f->outbound) {
    F_INT(g, "ivr_ms", f->ivr_ms);
    /* in the queue: until the last offer, or until the caller hung up */
    if (f->t_queued)
      F_INT(g, "wait_ms",
            (abandoned && f->stage == AB_QUEUE ? hung : f->t_offered) -
                f->t_queued);
  }
  if (answered)
    F_INT(g, "ring_ms", f->ring_ms);
  else if (f->outbound || (abandoned && f->stage == AB_RINGING))
    F_INT(g, "ring_ms", hung - f->t_offered);
  if (answered) {
    int64_t talk = g->now - f->t_answered - f->hold_ms;
    F_INT(g, "talk_ms", talk > 0 ? talk : 0);
    F_INT(g, "hold_ms", f->hold_ms);
    int64_t bill = (g->now - f->t_answered + 999) / 1000;
    F_INT(g, "billable_seconds", bill);
    F_INT(g, "cost_cents", (bill * 12 + 599) / 600); /* 1.2 cents a minute */
    F_STR(g, "currency", c->currency);
  }
  if (a)
    F_AGENT(g, "agent_id", a);
  if (!f->outbound)
    F_ID(g, "queue_id", "queue-", cp->n);
  w_call_common(g, t, f);
  uint64_t caller = caller_hash(g, f);
  F_PHONE(g, "from_number", c, f->outbound ? did_hash(cp) : caller);
  F_PHONE(g, "to_number", c, f->outbound ? caller : did_hash(cp));
  if (answered) {
    KEY(&g->w, "recording_url");
    W_LIT(&g->w, "\"https://recordings.example.com/");
    w_mem(&g->w, t->id, t->idlen);
    W_LIT(&g->w, "/call-");
    w_u64(&g->w, f->n);
    W_LIT(&g->w, ".wav\"");
  }
  return ev_end(g);
}

static int step_end(sb_gen_t *g, tenant_t *t, flow_t *f) {
  f->wrapup_ms = f->outcome == O_MACHINE
                     ? between(g, 2 * SEC, 8 * SEC)
                     : lognorm(g, 25 * SEC, 0.5, 3 * SEC, 10 * MIN);
  fsched(g, f, S_WRAPUP, g->now + between(g, 10, 80));
  return ev_call_ended(g, t, f, false);
}

static int choose_dispo(sb_gen_t *g, const flow_t *f) {
  switch (f->outcome) {
  case O_MACHINE:
    return chance(g, 0.8) ? D_VOICEMAIL_LEFT : D_MACHINE;
  case O_NO_ANSWER:
    return D_NO_ANSWER;
  case O_BUSY:
    return D_BUSY;
  case O_FAILED:
    return D_DISCONNECTED;
  default:
    return f->outbound ? PICKW(g, dispo_outbound_w) : PICKW(g, dispo_inbound_w);
  }
}

/* the status the call moves its lead to; -1 for none */
static int lead_next_status(const flow_t *f, const lead_t *l) {
  if (l == NULL || status_terminal(l->status))
    return -1;
  int s = dispo_status[f->dispo];
  if (s < 0 && (l->status == LS_NEW || l->status == LS_RECYCLED))
    s = f->t_answered && f->outcome == O_HUMAN ? LS_CONTACTED : LS_WORKING;
  return s == l->status ? -1 : s;
}

static int step_dispo(sb_gen_t *g, tenant_t *t, flow_t *f) {
  agent_t *a = call_agent(g, f);
  const country_t *c = country_of(t);
  f->dispo = (uint8_t)choose_dispo(g, f);
  bool by_agent = f->t_answered > 0;
  CALL_BEGIN(g, T_CALL_DISPO, t, f);
  if (by_agent)
    sb__gen_actor_agent(g, a);
  ev_data(g);
  F_STR(g, "disposition", dispositions[f->dispo]);
  if (chance(g, 0.3)) {
    KEY(&g->w, "disposition_code");
    w_ch(&g->w, '"');
    w_esc(&g->w, dispo_codes[f->dispo]);
    W_LIT(&g->w, "-0");
    w_u64(&g->w, 1 + (f->n & 3));
    w_ch(&g->w, '"');
  }
  F_AGENT(g, "agent_id", a);
  w_call_common(g, t, f);
  if (by_agent && chance(g, 0.3))
    F_STR(g, "notes", call_notes[below(g, ARRAY_LEN(call_notes))]);
  if (f->dispo == D_CALLBACK)
    F_TIME(g, "callback_at",
           (g->now / HOUR + 18 + below(g, 48)) * HOUR + 30 * MIN * below(g, 2));
  if (by_agent)
    F_INT(g, "wrapup_ms", f->wrapup_ms);
  if (f->dispo == D_SALE) {
    F_INT(g, "sale_amount_cents", lognorm(g, 45000, 0.7, 2500, 5000000));
    F_STR(g, "currency", c->currency);
  }
  lead_t *l = lead_at(t, f->lead_slot, f->lead_n);
  if (lead_next_status(f, l) >= 0)
    fsched(g, f, S_LEAD, g->now + between(g, 50, 400));
  else if (f->dispo == D_DNC && l != NULL)
    fsched(g, f, S_DNC, g->now + between(g, 50, 400));
  else
    fsched(g, f, S_AGENT_FREE, g->now + between(g, 100, 900));
  return ev_end(g);
}

static int step_lead_status(sb_gen_t *g, tenant_t *t, flow_t *f) {
  lead_t *l = lead_at(t, f->lead_slot, f->lead_n);
  int s = lead_next_status(f, l);
  if (f->dispo == D_DNC && l != NULL)
    fsched(g, f, S_DNC, g->now + between(g, 50, 400));
  else
    fsched(g, f, S_AGENT_FREE, g->now + between(g, 100, 700));
  if (s < 0) /* the lead changed meanwhile */
    return 0;
  EV_BEGIN(g, T_LEAD_STATUS, t, "crm", "leads", "lead-", l->n, f);
  if (f->t_answered)
    sb__gen_actor_agent(g, call_agent(g, f));
  ev_data(g);
  F_STR(g, "status", sb__gen_lead_statuses[s]);
  F_STR(g, "previous_status", sb__gen_lead_statuses[l->status]);
  F_STR(g, "reason", dispositions[f->dispo]);
  F_ID(g, "call_id", "call-", f->n);
  F_AGENT(g, "agent_id", call_agent(g, f));
  w_campaign(g, t, l->camp);
  if (s == LS_CONVERTED) {
    F_INT(g, "revenue_cents", lognorm(g, 45000, 0.7, 2500, 5000000));
    F_STR(g, "currency", country_of(t)->currency);
  }
  l->status = (uint8_t)s;
  return ev_end(g);
}

static int step_dnc(sb_gen_t *g, tenant_t *t, flow_t *f) {
  lead_t *l = lead_at(t, f->lead_slot, f->lead_n);
  fsched(g, f, S_AGENT_FREE, g->now + between(g, 100, 700));
  if (l == NULL)
    return 0;
  person_t p;
  sb__gen_person(g, l, &p);
  l->flags |= LF_DNC;
  EV_BEGIN(g, T_LEAD_DNC, t, "crm", "leads", "lead-", l->n, f);
  sb__gen_actor_agent(g, call_agent(g, f));
  ev_data(g);
  F_STR(g, "dnc_list", "internal");
  F_STR(g, "channel", "voice");
  F_PHONE(g, "phone", country_of(t), p.hv);
  F_STR(g, "reason", "Asked not to be called again");
  F_ID(g, "call_id", "call-", f->n);
  return ev_end(g);
}

/* The call is over for the agent: available again, a break, or the end
 * of the shift. Ends the flow. */
static int step_agent_free(sb_gen_t *g, flow_t *f) {
  agent_t *a = call_agent(g, f);
  sb__gen_flow_done(g, f);
  if (g->now >= a->shift_end)
    return sb__gen_ev_logged_out(g, a, f);
  if (chance(g, 0.06)) {
    a->st = A_PAUSED;
    a->flow = -1;
    sb__gen_sched(g, agent_owner(g, a),
                  g->now + lognorm(g, 5 * MIN, 0.6, MIN, 30 * MIN));
    return sb__gen_ev_agent_state(
        g, a, RS_PAUSED,
        sb__gen_pause_reasons[PICKW(g, sb__gen_pause_reasons_w)], f);
  }
  sb__gen_ev_agent_state(g, a, RS_AVAILABLE, NULL, f);
  sb__gen_agent_ready(g, a);
  return 1;
}

static int step_abandon(sb_gen_t *g, tenant_t *t, flow_t *f) {
  if (f->stage == AB_QUEUE)
    sb__gen_wait_remove(g, t, f);
  uint64_t moved = t->served - f->served_at_join;
  int64_t pos = (int64_t)f->orig_position - (int64_t)moved;
  f->t_end = g->now;
  CALL_BEGIN(g, T_CALL_ABANDONED, t, f);
  ev_data(g);
  F_STR(g, "abandoned_in", abandon_stages[f->stage]);
  if (f->stage != AB_IVR) {
    F_ID(g, "queue_id", "queue-", camp_of(t, f->camp)->n);
    F_INT(g, "position", f->stage == AB_RINGING ? 1 : (pos < 1 ? 1 : pos));
    F_INT(g, "original_position", f->orig_position);
    F_INT(g, "wait_ms", g->now - f->t_queued);
  }
  F_PHONE(g, "from_number", country_of(t), caller_hash(g, f));
  w_call_common(g, t, f);
  fsched(g, f, S_ABANDON_END, g->now + between(g, 5, 50));
  return ev_end(g);
}

static int step_abandon_end(sb_gen_t *g, tenant_t *t, flow_t *f) {
  ev_call_ended(g, t, f, true);
  if (f->agent >= 0)
    fsched(g, f, S_AGENT_FREE, g->now + between(g, 50, 500));
  else
    sb__gen_flow_done(g, f);
  return 1;
}

/* Outbound: the dialer calls a lead when an agent is free and no inbound
 * caller is waiting. */
int sb__gen_start_outbound(sb_gen_t *g, uint32_t ti) {
  tenant_t *t = &g->tenants[ti];
  uint32_t slot = 0;
  lead_t *l = NULL;
  uint32_t minute = (uint32_t)((g->now - g->t0) / MIN);
  for (int tries = 0; tries < 8 && l == NULL; tries++) {
    l = sb__gen_pick_lead(g, t, chance(g, 0.7), &slot);
    if (l != NULL && (status_terminal(l->status) || (l->flags & LF_DNC) ||
                      l->attempts >= 8 || l->retry_min > minute))
      l = NULL;
  }
  if (l == NULL || t->avail_head < 0 || t->wait_head >= 0) {
    g->dropped++;
    return 0;
  }
  flow_t *f = sb__gen_flow_new(g, FK_CALL, ti);
  if (f == NULL)
    return 0;
  f->n = ++g->call_seq;
  f->outbound = 1;
  f->lead_slot = slot;
  f->lead_n = l->n;
  f->camp = l->camp;
  f->attempt = ++l->attempts;
  l->retry_min = minute + (uint32_t)between(g, 60, 240);
  /* a few leads gave a number that does not exist: every dial fails */
  f->outcome =
      mix64(l->n ^ 0xbad) % 100 < 4 ? O_FAILED : (uint8_t)PICKW(g, outcome_w);
  sb__gen_take_agent(g, t, f);
  fsched(g, f, S_OUT_RINGING, g->now + between(g, 20, 200));
  return ev_call_started(g, t, f);
}

static int step_out_ringing(sb_gen_t *g, flow_t *f) {
  f->t_offered = g->now;
  switch (f->outcome) {
  case O_HUMAN:
  case O_MACHINE:
    fsched(g, f, S_ANSWER,
           g->now + lognorm(g, 9 * SEC, 0.4, 2 * SEC, 30 * SEC));
    break;
  case O_NO_ANSWER:
    fsched(g, f, S_OUT_FAIL_END, g->now + between(g, 25 * SEC, 35 * SEC));
    break;
  default:
    fsched(g, f, S_OUT_FAIL_END, g->now + between(g, 1 * SEC, 5 * SEC));
  }
  return sb__gen_ev_agent_state(g, call_agent(g, f), RS_RINGING, NULL, f);
}

static int step_out_fail_end(sb_gen_t *g, tenant_t *t, flow_t *f) {
  fsched(g, f, S_DISPO, g->now + between(g, 100, 1500));
  return ev_call_ended(g, t, f, false);
}

int sb__gen_call_step(sb_gen_t *g, tenant_t *t, flow_t *f) {
  switch (f->step) {
  case S_IVR:
    return step_ivr(g, t, f);
  case S_QUEUE:
    return step_queue(g, t, f);
  case S_WAIT: /* patience ran out while waiting */
    f->stage = AB_QUEUE;
    return step_abandon(g, t, f);
  case S_OFFER:
    return step_offer(g, t, f);
  case S_RINGING:
    return step_ringing(g, t, f);
  case S_RNA:
    return step_rna(g, t, f);
  case S_ANSWER:
    return step_answer(g, t, f);
  case S_ONCALL:
    return step_oncall(g, f);
  case S_HOLD_ON:
  case S_HOLD_OFF:
    return step_hold(g, t, f, f->step == S_HOLD_ON);
  case S_TRANSFER:
    return step_transfer(g, t, f);
  case S_END:
    return step_end(g, t, f);
  case S_WRAPUP:
    fsched(g, f, S_DISPO, g->now + f->wrapup_ms);
    return sb__gen_ev_agent_state(g, call_agent(g, f), RS_WRAPUP, NULL, f);
  case S_DISPO:
    return step_dispo(g, t, f);
  case S_LEAD:
    return step_lead_status(g, t, f);
  case S_DNC:
    return step_dnc(g, t, f);
  case S_AGENT_FREE:
    return step_agent_free(g, f);
  case S_ABANDON:
    return step_abandon(g, t, f);
  case S_ABANDON_END:
    return step_abandon_end(g, t, f);
  case S_OUT_RINGING:
    return step_out_ringing(g, f);
  case S_OUT_FAIL_END:
    return step_out_fail_end(g, t, f);
  default:
    return (sb__gen_flow_done(g, f), 0);
  }
}
