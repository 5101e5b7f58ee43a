/* The generator's CRM side: leads and how people work them, consents,
 * campaigns and their ad spend (messages: sb_gen_msgs.c). */
#include "sb_gen_int.h"

/* clang-format off */
/* Lead sources and how often leads come through them (per mille). */
enum {
  SRC_WEB_FORM, SRC_LANDING_PAGE, SRC_FACEBOOK, SRC_INSTAGRAM, SRC_GOOGLE_ADS,
  SRC_BING_ADS, SRC_TIKTOK, SRC_LINKEDIN, SRC_REFERRAL, SRC_IMPORT,
  SRC_MANUAL, SRC_API, SRC_INBOUND_CALL, SRC_SMS, SRC_EMAIL, SRC_CHAT,
  SRC_PARTNER, SRC_AFFILIATE, SRC_OTHER, SRC_COUNT
};
static const char *const lead_sources[SRC_COUNT] = {
    "web_form", "landing_page", "facebook", "instagram", "google_ads",
    "bing_ads", "tiktok",       "linkedin", "referral",  "import",
    "manual",   "api",          "inbound_call", "sms",   "email",
    "chat",     "partner",      "affiliate", "other"};
static const uint16_t lead_source_w[SRC_COUNT] = {
    220, 120, 120, 40, 140, 20, 30, 30, 80, 40, 20, 30, 60, 5, 15, 20, 20,
    30, 10};
/* paid channels: utm parameters, a click id, an acquisition cost */
static const struct {
  const char *utm_source, *utm_medium, *click_prefix, *vendor, *vendor_slug;
  double cpl; /* median cost per lead, minor units */
} paid[SRC_COUNT] = {
    [SRC_FACEBOOK] = {"facebook", "paid_social", "IwAR", "Meta", "meta", 2200},
    [SRC_INSTAGRAM] = {"instagram", "paid_social", "IwAR", "Meta", "meta",
                       2600},
    [SRC_GOOGLE_ADS] = {"google", "cpc", "Cj0KCQ", "Google Ads", "google",
                        3500},
    [SRC_BING_ADS] = {"bing", "cpc", "msclk", "Microsoft Advertising",
                      "microsoft", 2800},
    [SRC_TIKTOK] = {"tiktok", "paid_social", "ttclid", "TikTok", "tiktok",
                    1800},
    [SRC_LINKEDIN] = {"linkedin", "paid_social", "li_fat", "LinkedIn",
                      "linkedin", 6500},
    [SRC_AFFILIATE] = {"affiliate", "affiliate", NULL, "Affiliate network",
                       "affiliates", 4000},
};
static const int paid_sources[] = {SRC_GOOGLE_ADS, SRC_FACEBOOK,
                                   SRC_INSTAGRAM,  SRC_BING_ADS,
                                   SRC_TIKTOK,     SRC_LINKEDIN};
static const uint16_t paid_sources_w[] = {40, 30, 8, 8, 8, 6};

static const char *const companies[16] = {
    "Northwind Traders", "Contoso Ltd", "Fabrikam Inc", "Tailspin Toys",
    "Wide World Importers", "Adventure Works", "Litware Inc", "Proseware",
    "Woodgrove Bank", "Lucerne Publishing", "Blue Yonder Airlines",
    "Coho Winery", "Alpine Ski House", "Humongous Insurance",
    "Margie's Travel", "Trey Research"};

static const char *const job_titles[8] = {
    "Owner", "Operations Manager", "Office Manager", "Director of Sales",
    "Homeowner", "Procurement Lead", "IT Manager", "Founder"};

static const char *const seasons[6] = {"Spring Push", "Q1 Outreach",
                                       "Winter Promo", "Retention",
                                       "Win-back", "Always On"};

static const char *const campaign_types[] = {"inbound", "outbound", "blended",
                                             "sms", "email", "paid_media"};

/* clang-format on */

/* ---- leads, consents -------------------------------------------------- */

static void w_tags(sb_gen_t *g, const tenant_t *t, const lead_t *l,
                   uint64_t h) {
  static const char *const extra[] = {
      "homeowner", "renter", "hot", "price-sensitive", "returning", "spanish"};
  KEY(&g->w, "tags");
  w_ch(&g->w, '[');
  w_qstr(&g->w, sb__gen_products[camp_of(t, l->camp)->product].skill);
  if (h & 1) {
    w_ch(&g->w, ',');
    w_qstr(&g->w, extra[(h >> 1) % ARRAY_LEN(extra)]);
  }
  w_ch(&g->w, ']');
}

static void w_address(sb_gen_t *g, const country_t *c, const person_t *p) {
  const city_t *ci = &c->cities[p->city];
  wr_t *w = &g->w;
  KEY(w, "address");
  W_LIT(w, "{\"line1\":\"");
  w_u64(w, 1 + (p->h >> 16) % 2400);
  w_ch(w, ' ');
  w_esc(w, c->streets[(p->h >> 28) & 3]);
  W_LIT(w, "\",\"city\":");
  w_qstr(w, ci->city);
  W_LIT(w, ",\"region\":");
  w_qstr(w, ci->region);
  W_LIT(w, ",\"postal_code\":\"");
  w_esc(w, ci->postal);
  if (c->code[0] == 'U')
    w_u64(w, 10 + (p->h >> 34) % 90);
  W_LIT(w, "\",\"country\":");
  w_qstr(w, c->code);
  w_ch(w, '}');
}

static int ev_lead_created(sb_gen_t *g, tenant_t *t, lead_t *l) {
  const country_t *c = country_of(t);
  const campaign_t *cp = camp_of(t, l->camp);
  person_t p;
  sb__gen_person(g, l, &p);
  uint64_t h = p.h;
  bool web = l->source == SRC_WEB_FORM || l->source == SRC_LANDING_PAGE;
  EV_BEGIN(g, T_LEAD_CREATED, t, "crm",
           web || paid[l->source].utm_source ? "web-forms" : "leads", "lead-",
           l->n, NULL);
  if (l->source == SRC_MANUAL || l->source == SRC_INBOUND_CALL)
    sb__gen_actor_manager(g, t);
  ev_data(g);
  F_STR(g, "status", "new");
  F_STR(g, "lead_source", lead_sources[l->source]);
  if (paid[l->source].utm_source) {
    KEY(&g->w, "source_detail");
    w_ch(&g->w, '"');
    w_esc(&g->w, paid[l->source].vendor);
    W_LIT(&g->w, " ad ");
    w_u64(&g->w, 1 + (h >> 40) % 40);
    w_ch(&g->w, '"');
    F_STR(g, "utm_source", paid[l->source].utm_source);
    F_STR(g, "utm_medium", paid[l->source].utm_medium);
    KEY(&g->w, "utm_campaign");
    w_ch(&g->w, '"');
    w_esc(&g->w, sb__gen_products[cp->product].slug);
    w_ch(&g->w, '-');
    w_u64(&g->w, cp->n);
    w_ch(&g->w, '"');
    if (l->source == SRC_GOOGLE_ADS || l->source == SRC_BING_ADS) {
      KEY(&g->w, "utm_term");
      w_ch(&g->w, '"');
      w_esc(&g->w, sb__gen_products[cp->product].slug);
      W_LIT(&g->w, " near me\"");
    }
    KEY(&g->w, "utm_content");
    w_qid(&g->w, "ad-", 3, 1 + (h >> 40) % 40);
    if (paid[l->source].click_prefix) {
      KEY(&g->w, "click_id");
      w_ch(&g->w, '"');
      w_esc(&g->w, paid[l->source].click_prefix);
      w_hex(&g->w, mix64(h + 1), 16);
      w_hex(&g->w, mix64(h + 2), 8);
      w_ch(&g->w, '"');
    }
  } else if (l->source == SRC_REFERRAL || l->source == SRC_PARTNER) {
    F_STR(g, "source_detail",
          l->source == SRC_REFERRAL ? "customer referral" : "partner list");
    F_STR(g, "referrer_url", "https://partners.example.com/refer");
  }
  if (web || paid[l->source].utm_source) {
    KEY(&g->w, "landing_page_url");
    W_LIT(&g->w, "\"https://");
    w_mem(&g->w, t->id, t->idlen);
    W_LIT(&g->w, ".example.com/lp/");
    w_esc(&g->w, sb__gen_products[cp->product].slug);
    w_ch(&g->w, '"');
  }
  if (l->source == SRC_IMPORT || l->source == SRC_API || (h >> 50) % 4 == 0) {
    KEY(&g->w, "external_id");
    W_LIT(&g->w, "\"crm-");
    w_hex(&g->w, h >> 8, 10);
    w_ch(&g->w, '"');
  }
  w_campaign(g, t, l->camp);
  F_STR(g, "first_name", p.first->name);
  F_STR(g, "last_name", p.last->name);
  if (!(l->flags & LF_NOEMAIL))
    F_EMAIL(g, "email", &p);
  F_PHONE(g, "phone", c, p.hv);
  if ((h >> 44) % 10 == 0)
    F_PHONE(g, "phone_alt", c, mix64(p.hv));
  if (l->flags & LF_B2B) {
    F_STR(g, "company", companies[(h >> 36) & 15]);
    F_STR(g, "job_title", job_titles[(h >> 41) & 7]);
  }
  if ((h >> 46) % 5 < 2)
    w_address(g, c, &p);
  F_STR(g, "time_zone", c->cities[p.city].tz);
  F_STR(g, "locale", (h >> 52) % 8 == 0 ? c->alt_locale : c->locale);
  if ((h >> 55) & 1)
    w_tags(g, t, l, h >> 56);
  F_INT(g, "priority", (h >> 58) % 4);
  F_INT(g, "estimated_value_cents", lognorm(g, 60000, 0.8, 5000, 10000000));
  if (paid[l->source].utm_source)
    F_INT(g, "acquisition_cost_cents",
          lognorm(g, paid[l->source].cpl, 0.5, 100, 100000));
  F_STR(g, "currency", c->currency);
  if ((h >> 60) % 5 == 0)
    F_STR(g, "custom_fields_json",
          (h >> 63) ? "{\"homeowner\":true,\"roof_age_years\":12}"
                    : "{\"best_time\":\"evening\",\"household_size\":3}");
  return ev_end(g);
}

static const struct {
  const char *purpose, *method, *channel, *text_version;
} consents[] = {
    {"sales_outreach", "web_form", "voice", "tcpa-2025-06"},
    {"sales_outreach", "web_form", "sms", "tcpa-2025-06"},
    {"marketing", "web_form", "email", "mkt-email-v4"},
    {"call_recording", "verbal", "voice", "rec-notice-v2"},
    {"marketing", "email_link", "email", "mkt-email-v4"},
    {"analytics", "web_form", "email", "cookies-v7"},
};

/* consent.given; k indexes consents[] */
static int ev_consent_given(sb_gen_t *g, tenant_t *t, lead_t *l, int k,
                            flow_t *f) {
  const country_t *c = country_of(t);
  person_t p;
  sb__gen_person(g, l, &p);
  EV_BEGIN(g, T_CONSENT_GIVEN, t, "consent", "cmp", "lead-", l->n, f);
  ev_data(g);
  F_STR(g, "purpose", consents[k].purpose);
  F_STR(g, "channel", consents[k].channel);
  F_STR(g, "method", consents[k].method);
  if (consents[k].channel[0] == 'e' && !(l->flags & LF_NOEMAIL))
    F_EMAIL(g, "address", &p);
  else
    F_PHONE(g, "address", c, p.hv);
  F_STR(g, "consent_text_version", consents[k].text_version);
  if (consents[k].method[0] == 'w') {
    KEY(&g->w, "evidence_url");
    W_LIT(&g->w, "\"https://consent.example.com/r/");
    w_hex(&g->w, mix64(p.h ^ (uint64_t)k), 16);
    w_ch(&g->w, '"');
    KEY(&g->w, "subject_ip");
    W_LIT(&g->w, "\"203.0.113.");
    w_u64(&g->w, 1 + (p.h >> 24) % 254);
    w_ch(&g->w, '"');
    F_STR(g, "subject_user_agent", sb__gen_user_agents[(p.h >> 30) & 3]);
  }
  KEY(&g->w, "jurisdiction");
  w_ch(&g->w, '"');
  w_esc(&g->w, c->code);
  if (c->code[0] != 'G') {
    w_ch(&g->w, '-');
    w_esc(&g->w, c->cities[p.city].region);
  }
  w_ch(&g->w, '"');
  w_campaign(g, t, l->camp);
  return ev_end(g);
}

int sb__gen_consent_withdrawn(sb_gen_t *g, tenant_t *t, lead_t *l,
                              const char *purpose, const char *channel,
                              const char *method, const char *reason,
                              uint64_t msg_n, flow_t *f) {
  const country_t *c = country_of(t);
  person_t p;
  sb__gen_person(g, l, &p);
  EV_BEGIN(g, T_CONSENT_WITHDRAWN, t, "consent", "cmp", "lead-", l->n, f);
  ev_data(g);
  F_STR(g, "purpose", purpose);
  F_STR(g, "channel", channel);
  F_STR(g, "method", method);
  if (channel[0] == 'e' && !(l->flags & LF_NOEMAIL))
    F_EMAIL(g, "address", &p);
  else
    F_PHONE(g, "address", c, p.hv);
  F_STR(g, "reason", reason);
  if (msg_n)
    F_ID(g, "message_id", "msg-", msg_n);
  return ev_end(g);
}

int sb__gen_start_lead(sb_gen_t *g, uint32_t ti) {
  tenant_t *t = &g->tenants[ti];
  uint32_t slot = t->lead_next;
  lead_t *l = &t->leads[slot];
  t->lead_next = (t->lead_next + 1) % LEADS_PER_TENANT;
  if (t->lead_count < LEADS_PER_TENANT)
    t->lead_count++;
  memset(l, 0, sizeof *l);
  l->n = ++g->lead_seq;
  l->status = LS_NEW;
  l->source = (uint8_t)PICKW(g, lead_source_w);
  l->camp = (uint8_t)below(g, t->ncamps);
  if (chance(g, 0.1))
    l->flags |= LF_NOEMAIL;
  if (chance(g, 0.25))
    l->flags |= LF_B2B;
  ev_lead_created(g, t, l);
  /* web leads come with consent, recorded just after the lead */
  bool web = l->source == SRC_WEB_FORM || l->source == SRC_LANDING_PAGE ||
             paid[l->source].utm_source != NULL;
  if (web && chance(g, 0.8)) {
    flow_t *f = sb__gen_flow_new(g, FK_LEAD, ti);
    if (f != NULL) {
      f->lead_slot = slot;
      f->lead_n = l->n;
      memcpy(f->root, g->id, sizeof f->root);
      memcpy(f->last, g->id, sizeof f->last);
      fsched(g, f, S_CONSENT1, g->now + between(g, 100, 1500));
    }
  }
  return 1;
}

int sb__gen_lead_step(sb_gen_t *g, tenant_t *t, flow_t *f) {
  lead_t *l = lead_at(t, f->lead_slot, f->lead_n);
  if (l == NULL)
    return (sb__gen_flow_done(g, f), 0);
  if (f->step == S_CONSENT1) {
    int k = chance(g, 0.6) ? 0 : 1;
    if (chance(g, 0.4) && !(l->flags & LF_NOEMAIL))
      fsched(g, f, S_CONSENT2, g->now + between(g, 10, 300));
    else
      sb__gen_flow_done(g, f);
    return ev_consent_given(g, t, l, k, f);
  }
  sb__gen_flow_done(g, f);
  return ev_consent_given(g, t, l, 2, f);
}

static int ev_lead_updated(sb_gen_t *g, tenant_t *t, lead_t *l) {
  const country_t *c = country_of(t);
  int variant = (int)below(g, 8);
  if (variant == 0 && (l->flags & LF_NOEMAIL))
    variant = 1;
  if (variant <= 1)
    l->version++; /* a new email or phone */
  person_t p;
  sb__gen_person(g, l, &p);
  EV_BEGIN(g, T_LEAD_UPDATED, t, "crm", "leads", "lead-", l->n, NULL);
  sb__gen_actor_manager(g, t);
  ev_data(g);
  wr_t *w = &g->w;
  KEY(w, "changed_fields");
  switch (variant) {
  case 0:
    W_LIT(w, "[\"email\"]");
    F_EMAIL(g, "email", &p);
    break;
  case 1:
    W_LIT(w, "[\"phone\",\"phone_alt\"]");
    F_PHONE(g, "phone", c, p.hv);
    F_PHONE(g, "phone_alt", c, mix64(p.h + l->version - 1));
    break;
  case 2:
    W_LIT(w, "[\"company\",\"job_title\"]");
    F_STR(g, "company", companies[below(g, 16)]);
    F_STR(g, "job_title", job_titles[below(g, 8)]);
    break;
  case 3:
    W_LIT(w, "[\"tags\"]");
    w_tags(g, t, l, rnd(g) | 1);
    break;
  case 4:
    W_LIT(w, "[\"priority\"]");
    F_INT(g, "priority", below(g, 5));
    break;
  case 5:
    W_LIT(w, "[\"estimated_value_cents\",\"currency\"]");
    F_INT(g, "estimated_value_cents", lognorm(g, 60000, 0.8, 5000, 10000000));
    F_STR(g, "currency", c->currency);
    break;
  case 6:
    W_LIT(w, "[\"address\",\"time_zone\"]");
    w_address(g, c, &p);
    F_STR(g, "time_zone", c->cities[p.city].tz);
    break;
  default:
    W_LIT(w, "[\"first_name\",\"last_name\",\"locale\"]");
    F_STR(g, "first_name", p.first->name);
    F_STR(g, "last_name", p.last->name);
    F_STR(g, "locale", c->locale);
  }
  return ev_end(g);
}

/* A person works the lead: edits it, moves it in the funnel, or recycles
 * a lead that went nowhere. */
int sb__gen_lead_update(sb_gen_t *g, uint32_t ti) {
  tenant_t *t = &g->tenants[ti];
  uint32_t slot;
  lead_t *l = sb__gen_pick_lead(g, t, chance(g, 0.5), &slot);
  if (l == NULL) {
    g->dropped++;
    return 0;
  }
  if (chance(g, 0.75))
    return ev_lead_updated(g, t, l);
  if (l->status == LS_LOST || l->status == LS_UNQUALIFIED) {
    EV_BEGIN(g, T_LEAD_RECYCLED, t, "crm", "leads", "lead-", l->n, NULL);
    ev_data(g);
    F_STR(g, "reason", "aged out of the active funnel");
    F_STR(g, "previous_status", sb__gen_lead_statuses[l->status]);
    F_STR(g, "status", "recycled");
    F_INT(g, "recycle_count", ++l->recycles);
    F_INT(g, "attempt_count", l->attempts);
    uint8_t camp = (uint8_t)below(g, t->ncamps);
    if (camp != l->camp)
      F_ID(g, "previous_campaign_id", "campaign-", camp_of(t, l->camp)->n);
    w_campaign(g, t, camp);
    int64_t next = (g->now / DAY + 1) * DAY + 14 * HOUR;
    F_TIME(g, "next_attempt_at", next);
    l->retry_min = (uint32_t)((next - g->t0) / MIN);
    l->camp = camp;
    l->status = LS_RECYCLED;
    l->attempts = 0;
    return ev_end(g);
  }
  if (status_terminal(l->status)) {
    g->dropped++;
    return 0;
  }
  static const uint8_t moves[] = {LS_NURTURING, LS_QUALIFIED, LS_UNQUALIFIED,
                                  LS_DUPLICATE, LS_WORKING};
  static const char *const why[] = {"not ready to buy yet", "budget confirmed",
                                    "outside service area", "merged",
                                    "assigned to a rep"};
  int k = (int)below(g, ARRAY_LEN(moves));
  if (moves[k] == l->status) {
    g->dropped++;
    return 0;
  }
  EV_BEGIN(g, T_LEAD_STATUS, t, "crm", "leads", "lead-", l->n, NULL);
  sb__gen_actor_manager(g, t);
  ev_data(g);
  F_STR(g, "status", sb__gen_lead_statuses[moves[k]]);
  F_STR(g, "previous_status", sb__gen_lead_statuses[l->status]);
  F_STR(g, "reason", why[k]);
  w_campaign(g, t, l->camp);
  l->status = moves[k];
  return ev_end(g);
}

int sb__gen_consent(sb_gen_t *g, uint32_t ti) {
  tenant_t *t = &g->tenants[ti];
  uint32_t slot;
  lead_t *l = sb__gen_pick_lead(g, t, false, &slot);
  if (l == NULL) {
    g->dropped++;
    return 0;
  }
  if (chance(g, 0.75))
    return ev_consent_given(g, t, l, 2 + (int)below(g, 4), NULL);
  static const struct {
    const char *purpose, *channel, *method, *reason;
  } w[] = {
      {"marketing", "email", "email_link", "unsubscribe link"},
      {"sales_outreach", "voice", "verbal", "asked on a call"},
      {"marketing", "sms", "web_form", "preference centre"},
      {"analytics", "email", "web_form", "cookie settings"},
  };
  int k = (int)below(g, ARRAY_LEN(w));
  if (k == 1)
    l->flags |= LF_DNC;
  return sb__gen_consent_withdrawn(g, t, l, w[k].purpose, w[k].channel,
                                   w[k].method, w[k].reason, 0, NULL);
}

/* ---- campaigns -------------------------------------------------------- */

static const char *const campaign_states[] = {"draft", "scheduled", "active",
                                              "paused"};

static void w_campaign_name(sb_gen_t *g, const campaign_t *cp) {
  w_ch(&g->w, '"');
  w_esc(&g->w, sb__gen_products[cp->product].name);
  w_ch(&g->w, ' ');
  w_esc(&g->w, seasons[cp->season]);
  w_ch(&g->w, '"');
}

static int ev_campaign_created(sb_gen_t *g, tenant_t *t, campaign_t *cp) {
  const country_t *c = country_of(t);
  EV_BEGIN(g, T_CAMP_CREATED, t, "crm", "campaigns", "campaign-", cp->n, NULL);
  sb__gen_actor_manager(g, t);
  ev_data(g);
  KEY(&g->w, "name");
  w_campaign_name(g, cp);
  F_STR(g, "state", "draft");
  F_STR(g, "campaign_type", campaign_types[cp->type]);
  KEY(&g->w, "description");
  W_LIT(&g->w, "\"Leads and calls for ");
  w_esc(&g->w, sb__gen_products[cp->product].name);
  w_ch(&g->w, '"');
  F_STR(g, "dial_mode", sb__gen_dial_modes[cp->dial_mode]);
  F_TIME(g, "starts_at", g->now);
  F_TIME(g, "ends_at", g->now + 90 * DAY);
  F_STR(g, "time_zone", c->cities[0].tz);
  F_INT(g, "dial_window_start_minute", 9 * 60);
  F_INT(g, "dial_window_end_minute", 20 * 60);
  W_LIT(&g->w, ",\"dial_days\":[\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"]");
  KEY(&g->w, "queue_ids");
  w_ch(&g->w, '[');
  w_qid(&g->w, "queue-", 6, cp->n);
  w_ch(&g->w, ']');
  F_INT(g, "max_attempts", 6);
  F_INT(g, "retry_delay_seconds", 4 * 3600);
  F_PHONE(g, "caller_id_number", c, did_hash(cp));
  F_ID(g, "script_id", "script-", cp->n);
  F_INT(g, "budget_cents", 100 * lognorm(g, 20000, 0.6, 1000, 1000000));
  F_INT(g, "daily_budget_cents", 100 * lognorm(g, 800, 0.6, 50, 50000));
  F_STR(g, "currency", c->currency);
  W_LIT(&g->w, ",\"tags\":[");
  w_qstr(&g->w, sb__gen_products[cp->product].skill);
  w_ch(&g->w, ']');
  return ev_end(g);
}

static int ev_campaign_state(sb_gen_t *g, tenant_t *t, campaign_t *cp,
                             int state, const char *reason) {
  EV_BEGIN(g, T_CAMP_STATE, t, "crm", "campaigns", "campaign-", cp->n, NULL);
  sb__gen_actor_manager(g, t);
  ev_data(g);
  F_STR(g, "state", campaign_states[state]);
  F_STR(g, "previous_state", campaign_states[cp->state]);
  F_STR(g, "reason", reason);
  cp->state = (uint8_t)state;
  return ev_end(g);
}

/* A tenant's set-up: each campaign created, then made active. */
int sb__gen_setup_step(sb_gen_t *g, uint32_t ti) {
  tenant_t *t = &g->tenants[ti];
  uint32_t k = t->setup_step++;
  if (k + 1 < 2 * t->ncamps)
    sb__gen_sched(g, g->arrival_owner + 1 + ti, g->now + between(g, 50, 2000));
  if (k < t->ncamps)
    return ev_campaign_created(g, t, &t->camps[k]);
  return ev_campaign_state(g, t, &t->camps[k - t->ncamps], CS_ACTIVE,
                           "launched");
}

int sb__gen_spend(sb_gen_t *g, uint32_t ti) {
  tenant_t *t = &g->tenants[ti];
  campaign_t *cp = &t->camps[below(g, t->ncamps)];
  int src = paid_sources[PICKW(g, paid_sources_w)];
  int64_t amount = lognorm(g, 18000, 0.6, 500, 5000000);
  int64_t impressions = amount * (int64_t)(8 + below(g, 10)) / 10;
  int64_t clicks = impressions * (int64_t)(10 + below(g, 30)) / 1000;
  int64_t end = g->now / HOUR * HOUR;
  EV_BEGIN(g, T_CAMP_SPEND, t, "ads", paid[src].vendor_slug, "campaign-", cp->n,
           NULL);
  ev_data(g);
  F_INT(g, "amount_cents", amount);
  F_STR(g, "currency", country_of(t)->currency);
  F_STR(g, "lead_source", lead_sources[src]);
  F_STR(g, "vendor", paid[src].vendor);
  F_TIME(g, "period_start", end - HOUR);
  F_TIME(g, "period_end", end);
  F_INT(g, "impressions", impressions);
  F_INT(g, "clicks", clicks);
  F_INT(g, "leads_count", clicks * (int64_t)(3 + below(g, 10)) / 100);
  KEY(&g->w, "invoice_reference");
  W_LIT(&g->w, "\"INV-");
  w_u64(&g->w, (uint64_t)(end / DAY));
  w_ch(&g->w, '-');
  w_u64(&g->w, cp->n);
  w_ch(&g->w, '"');
  return ev_end(g);
}

int sb__gen_campaign(sb_gen_t *g, uint32_t ti) {
  tenant_t *t = &g->tenants[ti];
  campaign_t *cp = &t->camps[below(g, t->ncamps)];
  if (cp->state != CS_ACTIVE && cp->state != CS_PAUSED) {
    g->dropped++; /* not launched yet */
    return 0;
  }
  if (chance(g, 0.4)) {
    if (cp->state == CS_ACTIVE)
      return ev_campaign_state(g, t, cp, CS_PAUSED,
                               chance(g, 0.5) ? "daily budget reached"
                                              : "paused by manager");
    return ev_campaign_state(g, t, cp, CS_ACTIVE, "resumed");
  }
  EV_BEGIN(g, T_CAMP_UPDATED, t, "crm", "campaigns", "campaign-", cp->n, NULL);
  sb__gen_actor_manager(g, t);
  ev_data(g);
  wr_t *w = &g->w;
  KEY(w, "changed_fields");
  switch (below(g, 3)) {
  case 0:
    W_LIT(w, "[\"daily_budget_cents\",\"currency\"]");
    F_INT(g, "daily_budget_cents", 100 * lognorm(g, 800, 0.6, 50, 50000));
    F_STR(g, "currency", country_of(t)->currency);
    break;
  case 1:
    W_LIT(w, "[\"dial_window_start_minute\",\"dial_window_end_minute\"]");
    F_INT(g, "dial_window_start_minute", 8 * 60 + 30 * below(g, 4));
    F_INT(g, "dial_window_end_minute", 18 * 60 + 30 * below(g, 6));
    break;
  default:
    W_LIT(w, "[\"max_attempts\",\"retry_delay_seconds\"]");
    F_INT(g, "max_attempts", 3 + below(g, 6));
    F_INT(g, "retry_delay_seconds", 3600 * (1 + below(g, 8)));
  }
  return ev_end(g);
}
