/* Internals of the event generator, shared by sb_gen.c (the simulation's
 * core: timers, entities, arrivals, set-up), sb_gen_calls.c (agents and
 * calls) and sb_gen_crm.c (leads, consents, messages, campaigns). Not an
 * API: everything here may change. */
#ifndef SB_GEN_INT_H
#define SB_GEN_INT_H

#include "sb_gen.h"

#include "sb_ulid.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define LEADS_PER_TENANT 1024 /* the leads a tenant remembers; ring */
#define MAX_CAMPAIGNS 12
#define SEC 1000LL /* simulation time is in milliseconds */
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define NEVER INT64_MAX

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define N_PRODUCTS 12
#define N_SEASONS 6
#define N_CAMPAIGN_TYPES 6

/* ---- event types ------------------------------------------------------ */

#define TYPE_LIST(X)                                                           \
  X(LEAD_CREATED, "lead.created")                                              \
  X(LEAD_UPDATED, "lead.updated")                                              \
  X(LEAD_STATUS, "lead.status_changed")                                        \
  X(LEAD_RECYCLED, "lead.recycled")                                            \
  X(LEAD_DNC, "lead.dnc_flagged")                                              \
  X(CALL_STARTED, "call.started")                                              \
  X(CALL_IVR, "call.ivr_step")                                                 \
  X(CALL_QUEUED, "call.queued")                                                \
  X(CALL_OFFERED, "call.offered")                                              \
  X(CALL_CONNECTED, "call.connected")                                          \
  X(CALL_HOLD, "call.hold")                                                    \
  X(CALL_TRANSFERRED, "call.transferred")                                      \
  X(CALL_ABANDONED, "call.abandoned")                                          \
  X(CALL_ENDED, "call.ended")                                                  \
  X(CALL_DISPO, "call.dispositioned")                                          \
  X(AGENT_IN, "agent.logged_in")                                               \
  X(AGENT_OUT, "agent.logged_out")                                             \
  X(AGENT_STATE, "agent.state_changed")                                        \
  X(MSG_REQUESTED, "message.requested")                                        \
  X(MSG_STATUS, "message.status_updated")                                      \
  X(MSG_INBOUND, "message.inbound")                                            \
  X(MSG_OPT_OUT, "message.opt_out")                                            \
  X(CAMP_CREATED, "campaign.created")                                          \
  X(CAMP_UPDATED, "campaign.updated")                                          \
  X(CAMP_STATE, "campaign.state_changed")                                      \
  X(CAMP_SPEND, "campaign.spend_recorded")                                     \
  X(CONSENT_GIVEN, "consent.given")                                            \
  X(CONSENT_WITHDRAWN, "consent.withdrawn")                                    \
  X(ACCESS, "access.recorded")

enum {
#define X(id, name) T_##id,
  TYPE_LIST(X)
#undef X
      T_COUNT
};

/* ---- reference data shared by the files ------------------------------ */

typedef struct {
  const char *city, *region, *postal, *tz;
} city_t;

typedef struct {
  const char *code, *currency, *locale, *alt_locale;
  const char *dial;     /* "+1" */
  const char *areas[6]; /* after dial; mobile prefix for GB and AU */
  int digits;           /* random digits after the area */
  city_t cities[4];
  const char *streets[4];
} country_t;

typedef struct {
  const char *name, *slug; /* display (UTF-8), ASCII for addresses */
} name_t;

typedef struct {
  const char *name, *slug, *skill;
} product_t;

extern const country_t sb__gen_countries[];
extern const product_t sb__gen_products[N_PRODUCTS];
extern const char *const sb__gen_lead_statuses[];
extern const char *const sb__gen_dial_modes[];
extern const char *const sb__gen_user_agents[4];

enum {
  LS_NEW,
  LS_CONTACTED,
  LS_WORKING,
  LS_NURTURING,
  LS_QUALIFIED,
  LS_APPOINTMENT_SET,
  LS_CONVERTED,
  LS_UNQUALIFIED,
  LS_LOST,
  LS_INVALID,
  LS_DUPLICATE,
  LS_RECYCLED
};
static inline bool status_terminal(int s) {
  return s == LS_CONVERTED || s == LS_UNQUALIFIED || s == LS_LOST ||
         s == LS_INVALID || s == LS_DUPLICATE;
}

/* Stories: what an arrival starts; the weights of a mix are over these. */
enum {
  K_INBOUND,
  K_OUTBOUND,
  K_LEAD,
  K_LEAD_UPDATE,
  K_MESSAGE,
  K_CONSENT,
  K_SPEND,
  K_CAMPAIGN,
  K_COUNT
};

enum { CS_DRAFT, CS_SCHEDULED, CS_ACTIVE, CS_PAUSED }; /* campaign states */

/* ---- state ------------------------------------------------------------ */

enum { LF_OPTOUT = 1, LF_DNC = 2, LF_NOEMAIL = 4, LF_B2B = 8 };

typedef struct {
  uint64_t n; /* lead-<n>; 0: empty slot */
  uint8_t status, source, version, flags;
  uint8_t camp; /* tenant-local campaign index */
  uint8_t attempts, recycles, pad;
  uint32_t retry_min; /* the dialer may call again from this minute on */
} lead_t;

typedef struct {
  uint64_t n; /* campaign-<n>, queue-<n> */
  uint8_t type, state, dial_mode, product, season;
} campaign_t;

typedef struct {
  char id[24];
  uint8_t idlen, country;
  uint32_t agent0, nagents; /* global agent indexes */
  uint32_t ncamps;
  campaign_t camps[MAX_CAMPAIGNS];
  lead_t *leads; /* LEADS_PER_TENANT */
  uint32_t lead_next, lead_count;
  int32_t avail_head, avail_tail; /* idle agents, longest idle first */
  int32_t wait_head, wait_tail;   /* waiting calls (flow indexes) */
  uint32_t nwait;
  uint64_t served; /* calls taken off the waiting list */
  uint32_t setup_step;
} tenant_t;

/* internal agent states; the reported one is rstate */
enum { A_OFF, A_AUTHED, A_LOGGED, A_AVAIL, A_BUSY, A_PAUSED, A_LOGOUT_AUDIT };

typedef struct {
  uint64_t n; /* agent-<n> */
  uint32_t tenant, local;
  uint8_t st, rstate, sessions, pad;
  int64_t rsince, login_at, shift_end;
  int32_t prev, next; /* idle list */
  int32_t flow;       /* the call it serves, -1 */
} agent_t;

enum { FK_FREE, FK_CALL, FK_LEAD, FK_MSG };

/* outbound outcomes; inbound calls are O_HUMAN */
enum { O_HUMAN, O_MACHINE, O_NO_ANSWER, O_BUSY, O_FAILED };
enum { AB_IVR, AB_QUEUE, AB_RINGING }; /* where a caller hung up */

/* flow steps: calls */
enum {
  S_IVR,
  S_QUEUE,
  S_WAIT,
  S_OFFER,
  S_RINGING,
  S_RNA,
  S_ANSWER,
  S_ONCALL,
  S_HOLD_ON,
  S_HOLD_OFF,
  S_TRANSFER,
  S_END,
  S_WRAPUP,
  S_DISPO,
  S_LEAD,
  S_DNC,
  S_AGENT_FREE,
  S_ABANDON,
  S_ABANDON_END,
  S_OUT_RINGING,
  S_OUT_FAIL_END,
  /* lead steps */
  S_CONSENT1,
  S_CONSENT2,
  /* message steps */
  S_MSG_SENT,
  S_MSG_FINAL,
  S_MSG_READ,
  S_MSG_REPLY,
  S_MSG_OPTOUT,
  S_MSG_WITHDRAW
};

typedef struct {
  uint8_t kind, step, outbound, outcome;
  uint8_t ivr_left, ivr_index, attempt, stage;
  uint8_t hold, transfer, dispo, channel;
  uint8_t status, purpose, camp, flags;
  uint16_t position, orig_position;
  uint32_t tenant;
  int32_t agent;      /* global agent index, -1 */
  int32_t prev, next; /* waiting list */
  uint32_t lead_slot;
  uint64_t lead_n; /* 0: no lead */
  uint64_t n, n2;  /* call-/msg-<n>; the reply's msg-<n2> */
  uint64_t served_at_join;
  int64_t t_start, t_queued, t_offered, t_answered, t_giveup, t_end, t_node;
  int64_t ivr_ms, ring_ms, talk_ms, hold_ms, hold_at, wrapup_ms;
  char root[SB_ULID_LEN + 1], last[SB_ULID_LEN + 1];
} flow_t;

typedef struct {
  int64_t t;
  uint64_t seq;
  uint32_t owner;
} hent_t;

typedef struct {
  char *p, *end;
  bool over, first;
} wr_t;

struct sb_gen_s {
  uint64_t s[4]; /* xoshiro256** */
  uint64_t seed;
  int64_t now, t0; /* ms: the simulation's time, and its start */
  double weights[K_COUNT];

  tenant_t *tenants;
  uint32_t ntenants;
  agent_t *agents;
  uint32_t nagents;
  flow_t *flows;
  uint32_t nflows, *free_flows, nfree, in_use, peak;
  lead_t *lead_mem;

  hent_t *heap;
  int32_t *hpos; /* by owner; -1 when it has no timer */
  uint32_t hn, howners;
  uint64_t seq;

  double *cum; /* arrival rates per (tenant, kind), cumulative, per ms */
  double rate, arr_clock;
  uint32_t arrival_owner;

  uint64_t call_seq, lead_seq, msg_seq, camp_seq;
  uint64_t events, dropped;
  size_t mem;

  wr_t w;
  char id[SB_ULID_LEN + 1];
  int type;
  size_t pending; /* length of an event kept in buf for the next call */
  char buf[SB_GEN_MAX_EVENT];
};

/* ---- randomness ------------------------------------------------------- */

static inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static inline uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* a stateless hash, for attributes derived from an entity number */
static inline uint64_t mix64(uint64_t x) { return splitmix64(&x); }

static inline uint64_t rnd(sb_gen_t *g) {
  uint64_t *s = g->s;
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}

static inline double unit(sb_gen_t *g) {
  return (double)(rnd(g) >> 11) * 0x1.0p-53;
}

static inline uint32_t below(sb_gen_t *g, uint32_t n) {
  return (uint32_t)(((rnd(g) >> 32) * (uint64_t)n) >> 32);
}

static inline int64_t between(sb_gen_t *g, int64_t lo, int64_t hi) {
  return lo + (int64_t)(unit(g) * (double)(hi - lo));
}

static inline bool chance(sb_gen_t *g, double p) { return unit(g) < p; }

static inline int pickw(sb_gen_t *g, const uint16_t *w, int n) {
  uint32_t total = 0;
  for (int i = 0; i < n; i++)
    total += w[i];
  uint32_t x = below(g, total);
  for (int i = 0; i < n; i++) {
    if (x < w[i])
      return i;
    x -= w[i];
  }
  return n - 1;
}
#define PICKW(g, w) pickw((g), (w), (int)ARRAY_LEN(w))

static inline double normal(sb_gen_t *g) {
  double u1 = 1.0 - unit(g), u2 = unit(g);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* log-normal with the given median; clamped to [lo, hi] */
static inline int64_t lognorm(sb_gen_t *g, double median, double sigma,
                              int64_t lo, int64_t hi) {
  double x = median * exp(sigma * normal(g));
  if (x < (double)lo)
    return lo;
  if (x > (double)hi)
    return hi;
  return (int64_t)x;
}

static inline double expo(sb_gen_t *g, double mean) {
  return -mean * log(1.0 - unit(g));
}

/* ---- JSON writer ------------------------------------------------------ */

static inline void w_mem(wr_t *w, const void *s, size_t n) {
  if ((size_t)(w->end - w->p) < n) {
    w->over = true;
    return;
  }
  memcpy(w->p, s, n);
  w->p += n;
}
#define W_LIT(w, s) w_mem((w), (s), sizeof(s) - 1)

static inline void w_ch(wr_t *w, char c) {
  if (w->p == w->end) {
    w->over = true;
    return;
  }
  *w->p++ = c;
}

static inline void w_u64(wr_t *w, uint64_t v) {
  char b[20];
  int i = 20;
  do {
    b[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  w_mem(w, b + i, (size_t)(20 - i));
}

static inline void w_i64(wr_t *w, int64_t v) {
  if (v < 0) {
    w_ch(w, '-');
    w_u64(w, (uint64_t)0 - (uint64_t)v);
  } else {
    w_u64(w, (uint64_t)v);
  }
}

/* string content, escaped; the tables hold no control characters, but
 * the writer does not rely on that */
static inline void w_esc(wr_t *w, const char *s) {
  const char *run = s;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    w_mem(w, run, (size_t)(s - run));
    run = s + 1;
    if (c == '"' || c == '\\') {
      w_ch(w, '\\');
      w_ch(w, (char)c);
    } else {
      static const char hex[] = "0123456789abcdef";
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      w_mem(w, u, 6);
    }
  }
  w_mem(w, run, (size_t)(s - run));
}

static inline void w_qstr(wr_t *w, const char *s) {
  w_ch(w, '"');
  w_esc(w, s);
  w_ch(w, '"');
}

/* "prefix<n>" quoted */
static inline void w_qid(wr_t *w, const char *prefix, size_t plen, uint64_t n) {
  w_ch(w, '"');
  w_mem(w, prefix, plen);
  w_u64(w, n);
  w_ch(w, '"');
}

static inline void w_hex(wr_t *w, uint64_t v, int digits) {
  static const char hex[] = "0123456789abcdef";
  char b[16];
  for (int i = digits - 1; i >= 0; i--, v >>= 4)
    b[i] = hex[v & 15];
  w_mem(w, b, (size_t)digits);
}

static inline void w_key(wr_t *w, const char *k, size_t n) {
  if (!w->first)
    w_ch(w, ',');
  w->first = false;
  w_mem(w, k, n);
}
#define KEY(w, k) w_key((w), "\"" k "\":", sizeof("\"" k "\":") - 1)

#define F_STR(g, k, s) (KEY(&(g)->w, k), w_qstr(&(g)->w, (s)))
#define F_INT(g, k, v) (KEY(&(g)->w, k), w_i64(&(g)->w, (int64_t)(v)))
#define F_ID(g, k, prefix, n)                                                  \
  (KEY(&(g)->w, k), w_qid(&(g)->w, prefix, sizeof(prefix) - 1, (n)))
#define F_BOOL(g, k, b)                                                        \
  (KEY(&(g)->w, k), (b) ? W_LIT(&(g)->w, "true") : W_LIT(&(g)->w, "false"))
#define F_TIME(g, k, ms) (KEY(&(g)->w, k), w_time(&(g)->w, (ms)))
#define F_AGENT(g, k, a) F_ID(g, k, "agent-", (a)->n)

/* days since 1970-01-01 -> civil date (H. Hinnant's algorithm) */
static inline void civil(int64_t z, int *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yoe + era * 400 + (*m <= 2));
}

static inline void put2(char *b, int v) {
  b[0] = (char)('0' + v / 10);
  b[1] = (char)('0' + v % 10);
}

/* "2026-01-05T08:00:00.000Z", quoted */
static inline void w_time(wr_t *w, int64_t ms) {
  int64_t day = ms >= 0 ? ms / DAY : (ms - DAY + 1) / DAY;
  int64_t r = ms - day * DAY;
  int y, m, d;
  civil(day, &y, &m, &d);
  char b[26] = "\"0000-00-00T00:00:00.000Z\"";
  put2(b + 1, y / 100);
  put2(b + 3, y % 100);
  put2(b + 6, m);
  put2(b + 9, d);
  put2(b + 12, (int)(r / HOUR));
  put2(b + 15, (int)(r / MIN % 60));
  put2(b + 18, (int)(r / SEC % 60));
  int frac = (int)(r % 1000);
  b[21] = (char)('0' + frac / 100);
  put2(b + 22, frac % 100);
  w_mem(w, b, 26);
}

/* ---- the event envelope ----------------------------------------------- */

void sb__gen_ev_begin(sb_gen_t *g, int type, const tenant_t *t,
                      const char *scheme, const char *comp, const char *subj,
                      size_t subjlen, uint64_t subj_n, flow_t *f);
#define EV_BEGIN(g, type, t, scheme, comp, prefix, n, f)                       \
  sb__gen_ev_begin((g), (type), (t), (scheme), (comp), prefix,                 \
                   sizeof(prefix) - 1, (n), (f))

void sb__gen_actor_agent(sb_gen_t *g, const agent_t *a);
void sb__gen_actor_manager(sb_gen_t *g, const tenant_t *t);

static inline void ev_data(sb_gen_t *g) {
  W_LIT(&g->w, ",\"data\":{");
  g->w.first = true;
}

static inline int ev_end(sb_gen_t *g) {
  W_LIT(&g->w, "}}");
  return 1;
}

/* ---- timers and entities (sb_gen.c) ---------------------------------- */

void sb__gen_sched(sb_gen_t *g, uint32_t owner, int64_t t);
void sb__gen_unsched(sb_gen_t *g, uint32_t owner);

/* owners: agents, then flows, then the arrivals, then tenants' set-up */
static inline uint32_t agent_owner(const sb_gen_t *g, const agent_t *a) {
  return (uint32_t)(a - g->agents);
}
static inline uint32_t flow_owner(const sb_gen_t *g, const flow_t *f) {
  return g->nagents + (uint32_t)(f - g->flows);
}
static inline void fsched(sb_gen_t *g, flow_t *f, int step, int64_t t) {
  f->step = (uint8_t)step;
  sb__gen_sched(g, flow_owner(g, f), t);
}

flow_t *sb__gen_flow_new(sb_gen_t *g, int kind, uint32_t tenant);
/* frees f and cancels its timer; returns 1 */
int sb__gen_flow_done(sb_gen_t *g, flow_t *f);

static inline const country_t *country_of(const tenant_t *t) {
  return &sb__gen_countries[t->country];
}

/* the lead in slot, if it still holds lead n */
static inline lead_t *lead_at(tenant_t *t, uint32_t slot, uint64_t n) {
  if (n == 0 || t->leads[slot].n != n)
    return NULL;
  return &t->leads[slot];
}

lead_t *sb__gen_pick_lead(sb_gen_t *g, tenant_t *t, bool recent,
                          uint32_t *slot);

/* What a lead's number determines: name, address, phone and email (the
 * last two change with its version, after a lead.updated). */
typedef struct {
  uint64_t h, hv;
  const name_t *first, *last;
  uint8_t city, domain;
} person_t;

void sb__gen_person(const sb_gen_t *g, const lead_t *l, person_t *p);
void sb__gen_w_phone(wr_t *w, const country_t *c, uint64_t h);
void sb__gen_w_email(wr_t *w, const person_t *p);

#define F_PHONE(g, k, c, h)                                                    \
  (KEY(&(g)->w, k), sb__gen_w_phone(&(g)->w, (c), (h)))
#define F_EMAIL(g, k, p) (KEY(&(g)->w, k), sb__gen_w_email(&(g)->w, (p)))

static inline const campaign_t *camp_of(const tenant_t *t, unsigned camp) {
  return &t->camps[camp % t->ncamps];
}

static inline void w_campaign(sb_gen_t *g, const tenant_t *t, unsigned camp) {
  F_ID(g, "campaign_id", "campaign-", camp_of(t, camp)->n);
}

/* the number a campaign's calls come in on and go out from */
static inline uint64_t did_hash(const campaign_t *c) {
  return mix64(c->n + 77);
}

/* ---- the steps (sb_gen_calls.c, sb_gen_crm.c) ------------------------- */

/* Each writes at most one event into g->w and returns 1 when it did. */
/* agent.state_changed states, and what agents and calls share of them
 * (sb_gen_agents.c) */
enum { RS_OFFLINE, RS_AVAILABLE, RS_RINGING, RS_ON_CALL, RS_WRAPUP, RS_PAUSED };
#define N_PAUSE_REASONS 6
extern const char *const sb__gen_pause_reasons[N_PAUSE_REASONS];
extern const uint16_t sb__gen_pause_reasons_w[N_PAUSE_REASONS];
agent_t *sb__gen_take_agent(sb_gen_t *g, tenant_t *t, flow_t *f);
void sb__gen_wait_remove(sb_gen_t *g, tenant_t *t, flow_t *f);
void sb__gen_wait_push(sb_gen_t *g, tenant_t *t, flow_t *f, bool front);
void sb__gen_agent_ready(sb_gen_t *g, agent_t *a);
int sb__gen_ev_agent_state(sb_gen_t *g, agent_t *a, int rstate,
                           const char *pause_reason, flow_t *call);
int sb__gen_ev_logged_out(sb_gen_t *g, agent_t *a, flow_t *call);
int sb__gen_agent_step(sb_gen_t *g, agent_t *a);
int sb__gen_start_inbound(sb_gen_t *g, uint32_t tenant);
int sb__gen_start_outbound(sb_gen_t *g, uint32_t tenant);
int sb__gen_call_step(sb_gen_t *g, tenant_t *t, flow_t *f);
int sb__gen_start_lead(sb_gen_t *g, uint32_t tenant);
int sb__gen_lead_step(sb_gen_t *g, tenant_t *t, flow_t *f);
int sb__gen_lead_update(sb_gen_t *g, uint32_t tenant);
int sb__gen_consent(sb_gen_t *g, uint32_t tenant);
/* A consent.withdrawn for lead l (a reply of STOP, or a change of mind). */
int sb__gen_consent_withdrawn(sb_gen_t *g, tenant_t *t, lead_t *l,
                              const char *purpose, const char *channel,
                              const char *method, const char *reason,
                              uint64_t msg_n, flow_t *f);
int sb__gen_start_message(sb_gen_t *g, uint32_t tenant);
int sb__gen_msg_step(sb_gen_t *g, tenant_t *t, flow_t *f);
int sb__gen_spend(sb_gen_t *g, uint32_t tenant);
int sb__gen_campaign(sb_gen_t *g, uint32_t tenant);
int sb__gen_setup_step(sb_gen_t *g, uint32_t tenant);

#endif
