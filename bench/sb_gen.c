/* The event generator: a discrete-event simulation of contact centres
 * writing CloudEvents JSON text directly (see sb_gen.h).
 *
 * Owners of timers: every agent, every flow slot (a call, a message or a
 * new lead in progress), the arrival process and each tenant's set-up.
 * Each owner has at most one pending timer, kept in an indexed binary heap
 * ordered by (time, scheduling sequence), so a timer can be moved or
 * cancelled and the heap never holds more entries than there are owners.
 * Popping a timer runs its owner's next step, which writes at most one
 * event and schedules the owner's next step. */
#include "sb_gen_int.h"

#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_START_MS 1767600000000LL /* 2026-01-05T08:00:00Z */
#define NO_EVENT_LIMIT 10000000 /* timer pops without an event: a bug */

const char *const sb_gen_types[] = {
#define X(id, name) name,
    TYPE_LIST(X)
#undef X
        NULL};

/* ---- mixes ------------------------------------------------------------ */

static const char *const kind_names[K_COUNT] = {
    "inbound", "outbound", "lead",  "lead_update",
    "message", "consent",  "spend", "campaign"};

/* Weights are stories relative to one another. Calls set the pace: each
 * tenant is staffed so that its agents are busy about 70% of their logged
 * in time, and the other stories come at their weight's share of that. */
static const struct {
  const char *name;
  double w[K_COUNT];
} mixes[] = {
    {"default", {6, 4, 5, 2, 4, 1, 0.6, 0.1}},
    {"calls", {10, 8, 4, 1, 0.5, 0.3, 0.1, 0.02}},
    {"leads", {1, 1.5, 12, 4, 3, 2, 1, 0.2}},
    {"messages", {0.5, 0.5, 2, 0.5, 12, 1, 0.2, 0.05}},
};

const char *sb_gen_mixes(void) { return "default, calls, leads, messages"; }
const char *sb_gen_kinds(void) {
  return "inbound, outbound, lead, lead_update, message, consent, spend, "
         "campaign";
}

/* ---- reference data --------------------------------------------------- */

/* clang-format off */
const country_t sb__gen_countries[] = {
    {"US", "USD", "en-US", "es-US", "+1",
     {"512", "720", "602", "614", "916", "813"}, 7,
     {{"Austin", "TX", "787", "America/Chicago"},
      {"Denver", "CO", "802", "America/Denver"},
      {"Phoenix", "AZ", "850", "America/Phoenix"},
      {"Tampa", "FL", "336", "America/New_York"}},
     {"Oak Street", "Maple Avenue", "Cedar Lane", "Lakeview Drive"}},
    {"GB", "GBP", "en-GB", "cy-GB", "+44",
     {"7700", "7711", "7722", "7733", "7744", "7755"}, 6,
     {{"Leeds", "England", "LS1", "Europe/London"},
      {"Bristol", "England", "BS1", "Europe/London"},
      {"Glasgow", "Scotland", "G1", "Europe/London"},
      {"Cardiff", "Wales", "CF10", "Europe/London"}},
     {"High Street", "Station Road", "Church Lane", "Victoria Road"}},
    {"CA", "CAD", "en-CA", "fr-CA", "+1",
     {"416", "403", "604", "514", "613", "902"}, 7,
     {{"Toronto", "ON", "M5V", "America/Toronto"},
      {"Calgary", "AB", "T2P", "America/Edmonton"},
      {"Vancouver", "BC", "V6B", "America/Vancouver"},
      {"Montr\xc3\xa9" "al", "QC", "H2X", "America/Toronto"}},
     {"King Street", "Rue Sainte-Catherine", "Granville Street",
      "Elbow Drive"}},
    {"AU", "AUD", "en-AU", "en-AU", "+61",
     {"412", "423", "434", "445", "456", "467"}, 6,
     {{"Sydney", "NSW", "2000", "Australia/Sydney"},
      {"Melbourne", "VIC", "3000", "Australia/Melbourne"},
      {"Brisbane", "QLD", "4000", "Australia/Brisbane"},
      {"Perth", "WA", "6000", "Australia/Perth"}},
     {"George Street", "Collins Street", "Queen Street", "Hay Street"}},
};
static const uint16_t country_w[] = {70, 12, 10, 8};

static const name_t first_names[32] = {
    {"Ada", "ada"},         {"Grace", "grace"},     {"Alan", "alan"},
    {"Linus", "linus"},     {"Margaret", "margaret"}, {"Dennis", "dennis"},
    {"Ken", "ken"},         {"Barbara", "barbara"}, {"Edsger", "edsger"},
    {"Frances", "frances"}, {"Tim", "tim"},         {"Radia", "radia"},
    {"Donald", "donald"},   {"Hedy", "hedy"},       {"John", "john"},
    {"Katherine", "katherine"}, {"Vint", "vint"},   {"Sophie", "sophie"},
    {"Niklaus", "niklaus"}, {"Adele", "adele"},     {"Jos\xc3\xa9", "jose"},
    {"Zo\xc3\xab", "zoe"},  {"Chlo\xc3\xa9", "chloe"}, {"Bj\xc3\xb6rn", "bjorn"},
    {"Priya", "priya"},     {"Wei", "wei"},         {"Aisha", "aisha"},
    {"Mateo", "mateo"},     {"Olivia", "olivia"},   {"Liam", "liam"},
    {"Noah", "noah"},       {"Emma", "emma"}};

static const name_t last_names[32] = {
    {"Lovelace", "lovelace"}, {"Hopper", "hopper"},   {"Turing", "turing"},
    {"Torvalds", "torvalds"}, {"Hamilton", "hamilton"}, {"Ritchie", "ritchie"},
    {"Thompson", "thompson"}, {"Liskov", "liskov"},   {"Dijkstra", "dijkstra"},
    {"Allen", "allen"},       {"Berners-Lee", "bernerslee"},
    {"Perlman", "perlman"},   {"Knuth", "knuth"},     {"Lamarr", "lamarr"},
    {"McCarthy", "mccarthy"}, {"Johnson", "johnson"}, {"Cerf", "cerf"},
    {"Wilson", "wilson"},     {"Wirth", "wirth"},     {"Goldberg", "goldberg"},
    {"Garc\xc3\xad" "a", "garcia"}, {"M\xc3\xbcller", "muller"},
    {"O'Brien", "obrien"},    {"Nguyen", "nguyen"},   {"Patel", "patel"},
    {"Chen", "chen"},         {"Khan", "khan"},       {"Rossi", "rossi"},
    {"Smith", "smith"},       {"Jones", "jones"},     {"Brown", "brown"},
    {"Kowalski", "kowalski"}};

static const char *const email_domains[8] = {
    "example.com", "example.net", "example.org", "mail.example.com",
    "inbox.example.net", "post.example.org", "example.co.uk", "example.com.au"};

const product_t sb__gen_products[N_PRODUCTS] = {
    {"Solar", "solar", "solar"},
    {"Home Insurance", "home-insurance", "insurance"},
    {"Auto Insurance", "auto-insurance", "insurance"},
    {"Medicare Advantage", "medicare", "medicare"},
    {"Debt Relief", "debt-relief", "finance"},
    {"Mortgage Refi", "mortgage-refi", "finance"},
    {"Fiber Internet", "fiber", "telecom"},
    {"Home Security", "home-security", "security"},
    {"Student Loans", "student-loans", "finance"},
    {"Roofing", "roofing", "home-services"},
    {"Travel Deals", "travel", "travel"},
    {"Gym Membership", "gym", "fitness"}};

const char *const sb__gen_lead_statuses[] = {
    "new",       "contacted",   "working", "nurturing",
    "qualified", "appointment_set", "converted", "unqualified",
    "lost",      "invalid",     "duplicate", "recycled"};

const char *const sb__gen_dial_modes[] = {"manual", "preview", "progressive",
                                         "power", "predictive"};

const char *const sb__gen_user_agents[4] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 "
    "Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"};

static const char *const tenant_names[16] = {
    "acme",    "globex", "initech", "umbrella", "hooli",   "soylent",
    "wonka",   "stark",  "wayne",   "tyrell",   "cyberdyne", "vandelay",
    "dunder",  "oscorp", "aperture", "gringotts"};

/* clang-format on */

/* ---- the event envelope ----------------------------------------------- */

/* Starts an event: the attributes up to and excluding the actor and data.
 * subj_n 0 writes the prefix alone as the subject. f (may be NULL) gives
 * correlation (its first event) and causation (its previous event). */
void sb__gen_ev_begin(sb_gen_t *g, int type, const tenant_t *t,
                      const char *scheme, const char *comp, const char *subj,
                      size_t subjlen, uint64_t subj_n, flow_t *f) {
  wr_t *w = &g->w;
  unsigned char r[10];
  uint64_t a = rnd(g), b = rnd(g);
  memcpy(r, &a, 8);
  memcpy(r + 8, &b, 2);
  sb_ulid_make((uint64_t)g->now, r, g->id);
  g->type = type;
  w->p = g->buf;
  w->end = g->buf + sizeof g->buf;
  w->over = false;
  W_LIT(w, "{\"specversion\":\"1.0\",\"id\":\"");
  w_mem(w, g->id, SB_ULID_LEN);
  W_LIT(w, "\",\"type\":\"");
  w_esc(w, sb_gen_types[type]);
  W_LIT(w, "\",\"source\":\"");
  w_esc(w, scheme);
  W_LIT(w, "://");
  w_mem(w, t->id, t->idlen);
  w_ch(w, '/');
  w_esc(w, comp);
  W_LIT(w, "\",\"subject\":\"");
  w_mem(w, subj, subjlen);
  if (subj_n)
    w_u64(w, subj_n);
  W_LIT(w, "\",\"time\":");
  w_time(w, g->now);
  W_LIT(w, ",\"tenantid\":\"");
  w_mem(w, t->id, t->idlen);
  w_ch(w, '"');
  if (f != NULL) {
    if (f->root[0] == '\0')
      memcpy(f->root, g->id, sizeof f->root);
    W_LIT(w, ",\"correlationid\":\"");
    w_mem(w, f->root, SB_ULID_LEN);
    w_ch(w, '"');
    if (f->last[0] != '\0') {
      W_LIT(w, ",\"causationid\":\"");
      w_mem(w, f->last, SB_ULID_LEN);
      w_ch(w, '"');
    }
    memcpy(f->last, g->id, sizeof f->last);
  }
}
void sb__gen_actor_agent(sb_gen_t *g, const agent_t *a) {
  wr_t *w = &g->w;
  W_LIT(w, ",\"actoruserid\":");
  w_qid(w, "agent-", 6, a->n);
  W_LIT(w, ",\"actorrole\":\"agent\"");
}

void sb__gen_actor_manager(sb_gen_t *g, const tenant_t *t) {
  wr_t *w = &g->w;
  W_LIT(w, ",\"actoruserid\":");
  w_qid(w, "manager-", 8, 1 + below(g, 1 + t->nagents / 15));
  W_LIT(w, ",\"actorrole\":\"manager\"");
}

/* ---- the timer heap --------------------------------------------------- */

static bool h_less(const hent_t *a, const hent_t *b) {
  return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void h_set(sb_gen_t *g, uint32_t i, hent_t e) {
  g->heap[i] = e;
  g->hpos[e.owner] = (int32_t)i;
}

static void h_up(sb_gen_t *g, uint32_t i) {
  hent_t e = g->heap[i];
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (!h_less(&e, &g->heap[p]))
      break;
    h_set(g, i, g->heap[p]);
    i = p;
  }
  h_set(g, i, e);
}

static void h_down(sb_gen_t *g, uint32_t i) {
  hent_t e = g->heap[i];
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= g->hn)
      break;
    if (c + 1 < g->hn && h_less(&g->heap[c + 1], &g->heap[c]))
      c++;
    if (!h_less(&g->heap[c], &e))
      break;
    h_set(g, i, g->heap[c]);
    i = c;
  }
  h_set(g, i, e);
}

/* Sets owner's one timer to t, replacing any pending one. Never earlier
 * than now: time only advances. */
void sb__gen_sched(sb_gen_t *g, uint32_t owner, int64_t t) {
  hent_t e = {t < g->now ? g->now : t, g->seq++, owner};
  int32_t pos = g->hpos[owner];
  if (pos < 0) {
    pos = (int32_t)g->hn++;
    h_set(g, (uint32_t)pos, e);
    h_up(g, (uint32_t)pos);
    return;
  }
  hent_t old = g->heap[pos];
  h_set(g, (uint32_t)pos, e);
  if (h_less(&e, &old))
    h_up(g, (uint32_t)pos);
  else
    h_down(g, (uint32_t)pos);
}

void sb__gen_unsched(sb_gen_t *g, uint32_t owner) {
  int32_t pos = g->hpos[owner];
  if (pos < 0)
    return;
  g->hpos[owner] = -1;
  hent_t last = g->heap[--g->hn];
  if ((uint32_t)pos == g->hn)
    return;
  hent_t old = g->heap[pos];
  h_set(g, (uint32_t)pos, last);
  if (h_less(&last, &old))
    h_up(g, (uint32_t)pos);
  else
    h_down(g, (uint32_t)pos);
}

static hent_t h_pop(sb_gen_t *g) {
  hent_t top = g->heap[0];
  sb__gen_unsched(g, top.owner);
  return top;
}

/* ---- entities --------------------------------------------------------- */

flow_t *sb__gen_flow_new(sb_gen_t *g, int kind, uint32_t tenant) {
  if (g->nfree == 0) {
    g->dropped++;
    return NULL;
  }
  flow_t *f = &g->flows[g->free_flows[--g->nfree]];
  memset(f, 0, sizeof *f);
  f->kind = (uint8_t)kind;
  f->tenant = tenant;
  f->agent = f->prev = f->next = -1;
  f->t_start = g->now;
  f->t_giveup = NEVER;
  if (++g->in_use > g->peak)
    g->peak = g->in_use;
  return f;
}

int sb__gen_flow_done(sb_gen_t *g, flow_t *f) {
  sb__gen_unsched(g, flow_owner(g, f));
  f->kind = FK_FREE;
  g->free_flows[g->nfree++] = (uint32_t)(f - g->flows);
  g->in_use--;
  return 1;
}

/* A lead of the tenant: recent ones when recent, else any remembered. */
lead_t *sb__gen_pick_lead(sb_gen_t *g, tenant_t *t, bool recent,
                          uint32_t *slot) {
  if (t->lead_count == 0)
    return NULL;
  uint32_t n = t->lead_count;
  if (recent && n > 64)
    n = 64;
  uint32_t back = 1 + below(g, n);
  *slot = (t->lead_next + LEADS_PER_TENANT - back) % LEADS_PER_TENANT;
  return &t->leads[*slot];
}

void sb__gen_person(const sb_gen_t *g, const lead_t *l, person_t *p) {
  p->h = mix64(g->seed ^ (l->n * 0x9e3779b97f4a7c15ULL));
  p->hv = mix64(p->h + l->version);
  p->first = &first_names[p->h & 31];
  p->last = &last_names[(p->h >> 5) & 31];
  p->city = (uint8_t)((p->h >> 10) & 3);
  p->domain = (uint8_t)((p->hv >> 12) & 7);
}

static void w_phone_digits(wr_t *w, const country_t *c, uint64_t h) {
  w_esc(w, c->dial);
  w_esc(w, c->areas[h % 6]);
  h /= 6;
  char b[8];
  for (int i = 0; i < c->digits; i++, h /= 10)
    b[i] = (char)('0' + h % 10);
  if (c->digits == 7 && b[0] < '2')
    b[0] = (char)(b[0] + 2); /* NANP: exchanges start 2-9 */
  w_mem(w, b, (size_t)c->digits);
}

void sb__gen_w_phone(wr_t *w, const country_t *c, uint64_t h) {
  w_ch(w, '"');
  w_phone_digits(w, c, h);
  w_ch(w, '"');
}

void sb__gen_w_email(wr_t *w, const person_t *p) {
  w_ch(w, '"');
  w_esc(w, p->first->slug);
  w_ch(w, '.');
  w_esc(w, p->last->slug);
  w_u64(w, (p->hv >> 20) % 100);
  w_ch(w, '@');
  w_esc(w, email_domains[p->domain]);
  w_ch(w, '"');
}

/* ---- arrivals --------------------------------------------------------- */

static int arrival(sb_gen_t *g) {
  g->arr_clock += expo(g, 1.0 / g->rate);
  sb__gen_sched(g, g->arrival_owner, (int64_t)g->arr_clock);
  /* which tenant and story: binary search of the cumulative rates */
  double x = unit(g) * g->rate;
  uint32_t lo = 0, hi = g->ntenants * K_COUNT - 1;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (g->cum[mid] > x)
      hi = mid;
    else
      lo = mid + 1;
  }
  uint32_t ti = lo / K_COUNT;
  switch (lo % K_COUNT) {
  case K_INBOUND:
    return sb__gen_start_inbound(g, ti);
  case K_OUTBOUND:
    return sb__gen_start_outbound(g, ti);
  case K_LEAD:
    return sb__gen_start_lead(g, ti);
  case K_LEAD_UPDATE:
    return sb__gen_lead_update(g, ti);
  case K_MESSAGE:
    return sb__gen_start_message(g, ti);
  case K_CONSENT:
    return sb__gen_consent(g, ti);
  case K_SPEND:
    return sb__gen_spend(g, ti);
  default:
    return sb__gen_campaign(g, ti);
  }
}

static int flow_step(sb_gen_t *g, flow_t *f) {
  tenant_t *t = &g->tenants[f->tenant];
  switch (f->kind) {
  case FK_CALL:
    return sb__gen_call_step(g, t, f);
  case FK_LEAD:
    return sb__gen_lead_step(g, t, f);
  case FK_MSG:
    return sb__gen_msg_step(g, t, f);
  default:
    return 0;
  }
}

static int run_owner(sb_gen_t *g, uint32_t owner) {
  if (owner < g->nagents)
    return sb__gen_agent_step(g, &g->agents[owner]);
  if (owner < g->nagents + g->nflows)
    return flow_step(g, &g->flows[owner - g->nagents]);
  if (owner == g->arrival_owner)
    return arrival(g);
  return sb__gen_setup_step(g, owner - g->arrival_owner - 1);
}

int sb_gen_next(sb_gen_t *g, char *buf, size_t cap, size_t *len,
                const char **type) {
  if (g->pending == 0) {
    for (long n = 0;; n++) {
      if (g->hn == 0 || n >= NO_EVENT_LIMIT)
        return SB_ESTATE; /* not reached: arrivals never stop */
      hent_t e = h_pop(g);
      g->now = e.t;
      if (run_owner(g, e.owner))
        break;
    }
    if (g->w.over)
      return SB_EINTERNAL; /* not reached: events are far below the cap */
    g->pending = (size_t)(g->w.p - g->buf);
    g->events++;
  }
  *len = g->pending;
  if (type)
    *type = sb_gen_types[g->type];
  if (cap <= g->pending)
    return SB_EINVAL;
  memcpy(buf, g->buf, g->pending);
  buf[g->pending] = '\0';
  g->pending = 0;
  return 0;
}

/* ---- set-up ----------------------------------------------------------- */

/* Mean handling time of a call, seconds: inbound ~ ring, talk (log-normal,
 * median 150 s, sigma 0.8), some hold, wrap-up; outbound also has the
 * unanswered and machine-answered attempts. */
#define AHT_INBOUND 255.0
#define AHT_OUTBOUND 140.0
#define LOGGED_IN 0.85 /* of the agents, on average */
#define OCCUPANCY 0.8  /* of logged-in time spent on calls */

static int parse_mix(const char *mix, double w[K_COUNT], sb_err_t *err) {
  if (mix == NULL)
    mix = "default";
  for (size_t i = 0; i < ARRAY_LEN(mixes); i++) {
    if (strcmp(mix, mixes[i].name) == 0) {
      memcpy(w, mixes[i].w, sizeof mixes[i].w);
      return 0;
    }
  }
  if (strchr(mix, '=') == NULL)
    return sb_err_set(err, SB_EUSAGE,
                      "--mix: unknown mix '%.64s': use one of %s, or "
                      "kind=weight,... over %s",
                      mix, sb_gen_mixes(), sb_gen_kinds());
  memset(w, 0, sizeof(double) * K_COUNT);
  const char *p = mix;
  while (*p) {
    const char *eq = strchr(p, '=');
    const char *end = strchr(p, ',');
    if (end == NULL)
      end = p + strlen(p);
    if (eq == NULL || eq > end)
      return sb_err_set(err, SB_EUSAGE, "--mix: expected kind=weight at '%.*s'",
                        (int)(end - p), p);
    int k = -1;
    for (int i = 0; i < K_COUNT; i++)
      if ((size_t)(eq - p) == strlen(kind_names[i]) &&
          strncmp(p, kind_names[i], (size_t)(eq - p)) == 0)
        k = i;
    if (k < 0)
      return sb_err_set(err, SB_EUSAGE,
                        "--mix: unknown kind '%.*s': the kinds are %s",
                        (int)(eq - p), p, sb_gen_kinds());
    char num[32];
    size_t nl = (size_t)(end - eq - 1);
    char *stop = NULL;
    if (nl == 0 || nl >= sizeof num)
      return sb_err_set(err, SB_EUSAGE, "--mix: %s needs a weight",
                        kind_names[k]);
    memcpy(num, eq + 1, nl);
    num[nl] = '\0';
    double v = strtod(num, &stop);
    if (*stop != '\0' || !(v >= 0 && v <= 1000))
      return sb_err_set(err, SB_EUSAGE,
                        "--mix: %s=%s: a weight is a number from 0 to 1000",
                        kind_names[k], num);
    w[k] = v;
    p = *end ? end + 1 : end;
  }
  double sum = 0;
  for (int i = 0; i < K_COUNT; i++)
    sum += w[i];
  if (!(sum > 0))
    return sb_err_set(err, SB_EUSAGE, "--mix: give some kind a weight above 0");
  if (w[K_LEAD] == 0 && (w[K_OUTBOUND] > 0 || w[K_LEAD_UPDATE] > 0 ||
                         w[K_MESSAGE] > 0 || w[K_CONSENT] > 0))
    return sb_err_set(err, SB_EUSAGE,
                      "--mix: outbound, lead_update, message and consent act "
                      "on leads: give lead a weight too");
  return 0;
}

static void *track(sb_gen_t *g, size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (p != NULL)
    g->mem += n * size;
  return p;
}

int sb_gen_new(const sb_gen_opts_t *o, sb_gen_t **out, sb_err_t *err) {
  *out = NULL;
  int ntenants = o->tenants ? o->tenants : 1;
  if (ntenants < 1 || ntenants > SB_GEN_MAX_TENANTS)
    return sb_err_set(err, SB_EUSAGE, "--tenants must be 1 to %d",
                      SB_GEN_MAX_TENANTS);
  double w[K_COUNT];
  if (parse_mix(o->mix, w, err) != 0)
    return err->code;
  sb_gen_t *g = calloc(1, sizeof *g);
  if (g == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  g->mem = sizeof *g;
  g->seed = o->seed;
  uint64_t sm = o->seed;
  for (int i = 0; i < 4; i++)
    g->s[i] = splitmix64(&sm);
  memcpy(g->weights, w, sizeof w);
  g->now = o->start_us ? o->start_us / 1000 : DEFAULT_START_MS;
  int64_t t0 = g->t0 = g->now;
  g->ntenants = (uint32_t)ntenants;
  g->tenants = track(g, g->ntenants, sizeof *g->tenants);
  g->lead_mem =
      track(g, (size_t)g->ntenants * LEADS_PER_TENANT, sizeof(lead_t));
  g->cum = track(g, (size_t)g->ntenants * K_COUNT, sizeof(double));
  if (!g->tenants || !g->lead_mem || !g->cum)
    goto nomem;

  /* tenants: a country, campaigns, and agents staffed for their calls */
  double calls_w = w[K_INBOUND] + w[K_OUTBOUND];
  double aht =
      calls_w > 0
          ? (w[K_INBOUND] * AHT_INBOUND + w[K_OUTBOUND] * AHT_OUTBOUND) /
                calls_w
          : AHT_INBOUND;
  uint32_t nagents = 0;
  double acc = 0, concurrent = 0;
  for (uint32_t i = 0; i < g->ntenants; i++) {
    tenant_t *t = &g->tenants[i];
    if (i < ARRAY_LEN(tenant_names))
      snprintf(t->id, sizeof t->id, "%s", tenant_names[i]);
    else
      snprintf(t->id, sizeof t->id, "tenant-%u", i + 1);
    t->idlen = (uint8_t)strlen(t->id);
    t->country = (uint8_t)PICKW(g, country_w);
    t->leads = g->lead_mem + (size_t)i * LEADS_PER_TENANT;
    t->avail_head = t->avail_tail = t->wait_head = t->wait_tail = -1;
    t->ncamps = 3 + below(g, MAX_CAMPAIGNS - 2);
    for (uint32_t c = 0; c < t->ncamps; c++) {
      campaign_t *cp = &t->camps[c];
      cp->n = ++g->camp_seq;
      cp->type = (uint8_t)(c == 0 ? 0 : below(g, N_CAMPAIGN_TYPES));
      cp->dial_mode = (uint8_t)(1 + below(g, 4));
      cp->product = (uint8_t)below(g, N_PRODUCTS);
      cp->season = (uint8_t)below(g, N_SEASONS);
      cp->state = CS_DRAFT;
    }
    /* team sizes are skewed: a few large contact centres, many small */
    uint32_t size = calls_w > 0 ? (uint32_t)lognorm(g, 24, 0.8, 4, 300) : 0;
    t->agent0 = nagents;
    t->nagents = size;
    nagents += size;
    double ref = (double)(size ? size : (uint32_t)lognorm(g, 24, 0.8, 4, 300));
    double calls = ref * LOGGED_IN * OCCUPANCY / aht; /* per second */
    double per_w = calls / (calls_w > 0 ? calls_w : 10.0);
    for (int k = 0; k < K_COUNT; k++) {
      double r = per_w * w[k];
      acc += r / 1000.0; /* per ms */
      g->cum[i * K_COUNT + k] = acc;
    }
    /* how many flows are in progress at once, roughly: rate x lifetime */
    concurrent += per_w * (w[K_INBOUND] * 300 + w[K_OUTBOUND] * 200 +
                           w[K_LEAD] * 2 + w[K_MESSAGE] * 300);
  }
  g->rate = acc;
  g->nagents = nagents;
  g->agents = track(g, nagents, sizeof *g->agents);
  g->nflows = (uint32_t)(2 * concurrent) + nagents + 256;
  g->flows = track(g, g->nflows, sizeof *g->flows);
  g->free_flows = track(g, g->nflows, sizeof *g->free_flows);
  g->arrival_owner = nagents + g->nflows;
  g->howners = g->arrival_owner + 1 + g->ntenants;
  g->heap = track(g, g->howners, sizeof *g->heap);
  g->hpos = track(g, g->howners, sizeof *g->hpos);
  if (!g->agents || !g->flows || !g->free_flows || !g->heap || !g->hpos)
    goto nomem;
  for (uint32_t i = 0; i < g->howners; i++)
    g->hpos[i] = -1;
  for (uint32_t i = 0; i < g->nflows; i++)
    g->free_flows[i] = g->nflows - 1 - i; /* flow 0 is taken first */
  g->nfree = g->nflows;

  /* campaigns first, then agents log in over the first minutes, then the
   * arrivals begin */
  for (uint32_t i = 0; i < g->ntenants; i++) {
    tenant_t *t = &g->tenants[i];
    sb__gen_sched(g, g->arrival_owner + 1 + i, t0 + between(g, 0, 5 * SEC));
    for (uint32_t j = 0; j < t->nagents; j++) {
      agent_t *a = &g->agents[t->agent0 + j];
      a->n = t->agent0 + j + 1;
      a->tenant = i;
      a->local = j;
      a->prev = a->next = a->flow = -1;
      a->st = A_OFF;
      a->rsince = t0;
      sb__gen_sched(g, t->agent0 + j, t0 + between(g, 10 * SEC, 3 * MIN));
    }
  }
  g->arr_clock = (double)(t0 + MIN);
  sb__gen_sched(g, g->arrival_owner, t0 + MIN);
  *out = g;
  return 0;
nomem:
  sb_gen_free(g);
  return sb_err_set(err, SB_ENOMEM, "out of memory");
}

void sb_gen_free(sb_gen_t *g) {
  if (g == NULL)
    return;
  free(g->tenants);
  free(g->lead_mem);
  free(g->cum);
  free(g->agents);
  free(g->flows);
  free(g->free_flows);
  free(g->heap);
  free(g->hpos);
  free(g);
}

void sb_gen_stats(const sb_gen_t *g, sb_gen_stats_t *st) {
  memset(st, 0, sizeof *st);
  st->events = g->events;
  st->now_us = g->now * 1000;
  st->mem_bytes = g->mem;
  st->tenants = g->ntenants;
  st->agents = g->nagents;
  for (uint32_t i = 0; i < g->ntenants; i++)
    st->campaigns += g->tenants[i].ncamps;
  st->flows_cap = g->nflows;
  st->flows_in_use = g->in_use;
  st->flows_peak = g->peak;
  st->dropped = g->dropped;
}
