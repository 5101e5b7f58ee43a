/* The generator's messages: requested, submitted to a provider, their
 * delivery receipts and the replies that come back. */
#include "sb_gen_int.h"

/* clang-format off */
enum { CH_SMS, CH_EMAIL, CH_WHATSAPP };
static const char *const msg_channels[] = {"sms", "email", "whatsapp"};
static const char *const msg_providers[] = {"twilio", "sendgrid", "meta"};
static const char *const msg_purposes[] = {"marketing", "sales_outreach",
                                           "transactional"};
static const char *const replies[] = {
    "Yes, call me tomorrow morning", "What's the price?",
    "Can you email me the details?", "Not interested, thanks",
    "STOP", "Who is this?", "Sounds good"};
/* clang-format on */

/* ---- messages --------------------------------------------------------- */

#define MSG_BEGIN(g, type, t, f, n)                                            \
  EV_BEGIN(g, type, t, "comms", msg_providers[(f)->channel], "msg-", (n), (f))

static void w_sender(sb_gen_t *g, const tenant_t *t, const flow_t *f) {
  if (f->channel == CH_EMAIL) {
    W_LIT(&g->w, "\"hello@");
    w_mem(&g->w, t->id, t->idlen);
    W_LIT(&g->w, ".example.com\"");
  } else {
    sb__gen_w_phone(&g->w, country_of(t), did_hash(camp_of(t, f->camp)));
  }
}

static void w_recipient(sb_gen_t *g, const tenant_t *t, const flow_t *f,
                        const person_t *p) {
  if (f->channel == CH_EMAIL)
    sb__gen_w_email(&g->w, p);
  else
    sb__gen_w_phone(&g->w, country_of(t), p->hv);
}

int sb__gen_start_message(sb_gen_t *g, uint32_t ti) {
  tenant_t *t = &g->tenants[ti];
  uint32_t slot;
  lead_t *l = sb__gen_pick_lead(g, t, chance(g, 0.5), &slot);
  if (l == NULL || (l->flags & LF_OPTOUT)) {
    g->dropped++;
    return 0;
  }
  flow_t *f = sb__gen_flow_new(g, FK_MSG, ti);
  if (f == NULL)
    return 0;
  static const uint16_t channel_w[] = {55, 35, 10};
  f->channel = (uint8_t)PICKW(g, channel_w);
  if (f->channel == CH_EMAIL && (l->flags & LF_NOEMAIL))
    f->channel = CH_SMS;
  f->purpose = (uint8_t)below(g, 3);
  f->n = ++g->msg_seq;
  f->lead_slot = slot;
  f->lead_n = l->n;
  f->camp = l->camp;
  person_t p;
  sb__gen_person(g, l, &p);
  const campaign_t *cp = camp_of(t, f->camp);
  agent_t *a = t->nagents && chance(g, 0.3)
                   ? &g->agents[t->agent0 + below(g, t->nagents)]
                   : NULL;
  MSG_BEGIN(g, T_MSG_REQUESTED, t, f, f->n);
  if (a)
    sb__gen_actor_agent(g, a);
  ev_data(g);
  F_STR(g, "channel", msg_channels[f->channel]);
  KEY(&g->w, "to_address");
  w_recipient(g, t, f, &p);
  KEY(&g->w, "from_address");
  w_sender(g, t, f);
  F_STR(g, "purpose", msg_purposes[f->purpose]);
  F_ID(g, "lead_id", "lead-", l->n);
  if (a)
    F_AGENT(g, "agent_id", a);
  w_campaign(g, t, f->camp);
  int tpl = (int)(cp->product * 3 + f->purpose);
  F_ID(g, "template_id", "tpl-", (uint64_t)tpl + 1);
  F_STR(g, "template_version", "3");
  KEY(&g->w, "template_variables_json");
  W_LIT(&g->w, "\"{\\\"first_name\\\":\\\"");
  w_esc(&g->w, p.first->name);
  W_LIT(&g->w, "\\\"}\"");
  if (f->channel == CH_EMAIL) {
    KEY(&g->w, "subject_line");
    w_ch(&g->w, '"');
    w_esc(&g->w, p.first->name);
    W_LIT(&g->w, ", your ");
    w_esc(&g->w, sb__gen_products[cp->product].name);
    W_LIT(&g->w, " quote is ready\"");
  }
  KEY(&g->w, "body");
  W_LIT(&g->w, "\"Hi ");
  w_esc(&g->w, p.first->name);
  W_LIT(&g->w, ", thanks for your interest in ");
  w_esc(&g->w, sb__gen_products[cp->product].name);
  if (f->purpose == 2)
    W_LIT(&g->w, ". Your appointment is confirmed for tomorrow.");
  else
    W_LIT(&g->w, ". Reply YES and an advisor will call you.");
  if (f->channel != CH_EMAIL)
    W_LIT(&g->w, " Reply STOP to opt out.");
  w_ch(&g->w, '"');
  F_ID(g, "conversation_id", "conv-", l->n);
  fsched(g, f, S_MSG_SENT, g->now + between(g, 300, 3000));
  return ev_end(g);
}

static int ev_msg_status(sb_gen_t *g, tenant_t *t, flow_t *f,
                         const char *status) {
  MSG_BEGIN(g, T_MSG_STATUS, t, f, f->n);
  ev_data(g);
  F_STR(g, "status", status);
  F_STR(g, "channel", msg_channels[f->channel]);
  F_STR(g, "provider", msg_providers[f->channel]);
  KEY(&g->w, "provider_message_id");
  w_ch(&g->w, '"');
  uint64_t h = mix64(f->n ^ 0x5eed);
  if (f->channel == CH_SMS) {
    W_LIT(&g->w, "SM");
    w_hex(&g->w, h, 16);
    w_hex(&g->w, mix64(h), 16);
  } else if (f->channel == CH_WHATSAPP) {
    W_LIT(&g->w, "wamid.");
    w_hex(&g->w, h, 16);
  } else {
    w_hex(&g->w, h, 16);
    W_LIT(&g->w, ".filter");
  }
  w_ch(&g->w, '"');
  F_STR(g, "provider_status", status);
  F_TIME(g, "provider_reported_at", g->now - between(g, 20, 400));
  return 0;
}

int sb__gen_msg_step(sb_gen_t *g, tenant_t *t, flow_t *f) {
  const country_t *c = country_of(t);
  switch (f->step) {
  case S_MSG_SENT: {
    ev_msg_status(g, t, f, "sent");
    if (f->channel == CH_SMS) {
      F_INT(g, "segments", 1 + (f->n % 5 == 0));
      F_INT(g, "cost_cents", 1 + (f->n % 5 == 0));
      F_STR(g, "currency", c->currency);
    } else if (f->channel == CH_WHATSAPP) {
      F_INT(g, "cost_cents", 3);
      F_STR(g, "currency", c->currency);
    }
    int r = (int)below(g, 100);
    f->status = (uint8_t)(r < 93 ? 0 : r < 96 ? 1 : 2); /* delivered, ... */
    fsched(g, f, S_MSG_FINAL, g->now + lognorm(g, 4 * SEC, 0.8, 300, 5 * MIN));
    return ev_end(g);
  }
  case S_MSG_FINAL: {
    static const char *const finals[] = {"delivered", "undelivered", "failed"};
    ev_msg_status(g, t, f, finals[f->status]);
    if (f->status != 0) {
      bool email = f->channel == CH_EMAIL;
      F_STR(g, "error_code",
            email            ? "550"
            : f->status == 1 ? "30003"
                             : "30007");
      F_STR(g, "error_message",
            email            ? "5.1.1 mailbox unavailable"
            : f->status == 1 ? "Unreachable destination handset"
                             : "Message filtered by carrier");
      sb__gen_flow_done(g, f);
      return ev_end(g);
    }
    bool reads = f->channel == CH_WHATSAPP ? chance(g, 0.7)
                 : f->channel == CH_EMAIL  ? chance(g, 0.25)
                                           : false;
    bool reply = f->channel != CH_EMAIL && chance(g, 0.07);
    f->flags = reply;
    if (reads)
      fsched(g, f, S_MSG_READ,
             g->now + lognorm(g, 5 * MIN, 1.0, 5 * SEC, 2 * HOUR));
    else if (reply)
      fsched(g, f, S_MSG_REPLY,
             g->now + lognorm(g, 10 * MIN, 1.0, 20 * SEC, 2 * HOUR));
    else
      sb__gen_flow_done(g, f);
    return ev_end(g);
  }
  case S_MSG_READ:
    ev_msg_status(g, t, f, "read");
    if (f->flags)
      fsched(g, f, S_MSG_REPLY,
             g->now + lognorm(g, 3 * MIN, 1.0, 10 * SEC, HOUR));
    else
      sb__gen_flow_done(g, f);
    return ev_end(g);
  case S_MSG_REPLY: {
    lead_t *l = lead_at(t, f->lead_slot, f->lead_n);
    if (l == NULL)
      return (sb__gen_flow_done(g, f), 0);
    person_t p;
    sb__gen_person(g, l, &p);
    int k = (int)below(g, ARRAY_LEN(replies));
    f->n2 = ++g->msg_seq;
    MSG_BEGIN(g, T_MSG_INBOUND, t, f, f->n2);
    ev_data(g);
    F_STR(g, "channel", msg_channels[f->channel]);
    KEY(&g->w, "from_address");
    w_recipient(g, t, f, &p);
    KEY(&g->w, "to_address");
    w_sender(g, t, f);
    F_STR(g, "body", replies[k]);
    F_STR(g, "provider", msg_providers[f->channel]);
    KEY(&g->w, "provider_message_id");
    W_LIT(&g->w, "\"MM");
    w_hex(&g->w, mix64(f->n2), 16);
    w_ch(&g->w, '"');
    F_ID(g, "conversation_id", "conv-", l->n);
    F_ID(g, "in_reply_to_message_id", "msg-", f->n);
    F_ID(g, "lead_id", "lead-", l->n);
    w_campaign(g, t, f->camp);
    if (strcmp(replies[k], "STOP") == 0)
      fsched(g, f, S_MSG_OPTOUT, g->now + between(g, 50, 500));
    else
      sb__gen_flow_done(g, f);
    return ev_end(g);
  }
  case S_MSG_OPTOUT: {
    lead_t *l = lead_at(t, f->lead_slot, f->lead_n);
    if (l == NULL)
      return (sb__gen_flow_done(g, f), 0);
    person_t p;
    sb__gen_person(g, l, &p);
    l->flags |= LF_OPTOUT;
    MSG_BEGIN(g, T_MSG_OPT_OUT, t, f, f->n2);
    ev_data(g);
    F_STR(g, "channel", msg_channels[f->channel]);
    KEY(&g->w, "address");
    w_recipient(g, t, f, &p);
    F_STR(g, "method", "keyword");
    F_STR(g, "keyword", "STOP");
    F_STR(g, "purpose", "marketing");
    w_campaign(g, t, f->camp);
    F_ID(g, "lead_id", "lead-", l->n);
    fsched(g, f, S_MSG_WITHDRAW, g->now + between(g, 50, 500));
    return ev_end(g);
  }
  default: { /* S_MSG_WITHDRAW */
    lead_t *l = lead_at(t, f->lead_slot, f->lead_n);
    sb__gen_flow_done(g, f);
    if (l == NULL)
      return 0;
    return sb__gen_consent_withdrawn(
        g, t, l, "marketing", f->channel == CH_WHATSAPP ? "whatsapp" : "sms",
        "sms_keyword", "replied STOP", f->n2, f);
  }
  }
}
