/* What a PBX says, as Switchboard's events (sb_ami.h: sb_ami_map_*).
 *
 * Calls are kept by Linkedid (one call however many channels), agents by
 * their queue interface; both bounded (max_calls, max_agents: past them
 * the oldest call is forgotten, a new agent is not tracked, and both are
 * counted). Every event's id is derived from (tenant, PBX, what it is
 * about, its type, a discriminator the PBX gives: a Uniqueid, an epoch
 * second), so the same happening seen again (a resynchronisation after a
 * reconnect, a connector restarted) is the same event, which ingest's
 * idempotency store and the consumers drop. */
#include "sb_ami_int.h"

#include "sb_time.h"
#include "sb_ulid.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BUCKETS 4096
#define MAX_CHANS 16   /* channels of one call kept */
#define MAX_QUEUES 16  /* queues of one agent kept */
#define ID_MAX 129     /* call and agent ids, queue names */
#define NUM_MAX 100000000000LL /* of a number field (num) */

typedef struct call_s {
  struct call_s *next, *older, *newer; /* bucket; age list */
  char linkedid[64];
  char chans[MAX_CHANS][64];
  int nchans;
  int64_t started_us, joined_us, answered_us, abandoned_wait_ms;
  int64_t talk_ms; /* AgentComplete's, -1 unknown */
  int64_t hold_since_us, hold_ms; /* on hold since (0: not); held in all */
  int held;                       /* it was on hold at some time */
  char from[33], name[257], did[33];
  char queue[ID_MAX], agent[ID_MAX], lead[ID_MAX], campaign[ID_MAX];
  char reason[16]; /* AgentComplete's Reason */
  int cause;       /* the caller's Hangup Cause, -1 unknown */
  int abandoned, seen_sync;
  /* issue 18's rest: tenant, direction, IVR, ring-no-answer, transfers */
  char tenant[65];       /* the call's (tenant_var), else the PBX's */
  int refused;           /* names a tenant the PBX may not write: silent */
  const char *direction; /* inbound, outbound, internal */
  char into[64];         /* merged into this Linkedid's call (a consult) */
  char aliases[4][64];   /* consult calls merged into it */
  int naliases;
  int offers, rna;       /* AgentCalled, AgentRingNoAnswer seen */
  int64_t ring_ms;       /* rung without answer, and the answer's ring */
  char ivr_node[ID_MAX]; /* "context,exten" the caller is in */
  int ivr_steps;
  int64_t ivr_from_us, ivr_to_us; /* first step, leaving the IVR */
  int voicemail;                  /* VoiceMail() ran on it */
  int transferred;
} call_t;

typedef struct agent_s {
  struct agent_s *next;
  char id[ID_MAX];
  char queues[MAX_QUEUES][ID_MAX];
  unsigned char paused[MAX_QUEUES]; /* in that queue */
  int nqueues;
  int logged_in, seen_sync;
  const char *state; /* AgentState symbol; NULL unknown */
  int64_t since_us;
} agent_t;

struct sb_ami_map_s {
  char pbx[33], tenant[65], source[64];
  const sb_ami_pbx_t *conf; /* the mapping's keys; NULL: the defaults */
  size_t max_calls, max_agents, ncalls, nagents;
  call_t *calls[BUCKETS];
  call_t *oldest, *newest;
  agent_t *agents[BUCKETS];
  int syncing;
  int walking; /* sb_ami_map_synced goes through the calls */
  sb_ami_map_stats_t st;
};

/* ---- ids, times, tables -------------------------------------------------*/

static unsigned hash(const char *s) {
  unsigned h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h % BUCKETS;
}

/* The event id: SHA-256 of its parts -> a ULID whose time is ms. */
static void derive_id(const sb_ami_map_t *m, const char *tenant,
                      const char *about, const char *type, const char *disc,
                      int64_t ms, char out[SB_ULID_LEN + 1]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  memset(md, 0, sizeof md);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx != NULL) {
    const char *parts[] = {"sb-ami", tenant, m->pbx, about, type, disc};
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
      EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
  }
  sb_ulid_make(ms > 0 ? (uint64_t)ms : 0, md, out);
}

/* A Uniqueid ("1764680200.9", maybe "sysname-1764680200.9") as the epoch
 * milliseconds it was made at; 0 when it does not say. */
static int64_t uniqueid_ms(const char *u) {
  const char *dash = u ? strrchr(u, '-') : NULL;
  const char *p = dash ? dash + 1 : u;
  if (p == NULL)
    return 0;
  char *end;
  long long s = strtoll(p, &end, 10);
  return end != p && (*end == '.' || *end == '\0') && s > 0 && s < NUM_MAX
             ? s * 1000
             : 0;
}

/* A number field; dflt when absent, not a number, or past +-NUM_MAX (an
 * epoch second or a duration the PBX could mean: times 1e6 it still fits
 * in 64 bits). */
static long long num(const sb_ami_msg_t *msg, const char *key, long long dflt) {
  const char *v = sb_ami_get(msg, key);
  if (v == NULL || *v == '\0')
    return dflt;
  char *end;
  long long n = strtoll(v, &end, 10);
  return end != v && n < NUM_MAX && n > -NUM_MAX ? n : dflt;
}

static void copy(char *dst, size_t sz, const char *v) {
  if (v != NULL)
    sb__ami_copy(dst, sz, v);
}

/* E.164 (+ and 7 to 15 digits, the first not 0): what a phone field
 * holds; anything else (an extension, a national number) is left out. */
static int e164(const char *s) {
  if (s == NULL || s[0] != '+' || s[1] < '1' || s[1] > '9')
    return 0;
  size_t n = 0;
  for (s++; *s; s++, n++)
    if (*s < '0' || *s > '9')
      return 0;
  return n >= 7 && n <= 15;
}

static int known(const char *v) {
  return v && *v && strcmp(v, "<unknown>") != 0 && strcmp(v, "unknown") != 0;
}

/* ISDN cause codes (Q.850) as HangupCause symbols. */
static const char *cause_name(int c) {
  switch (c) {
  case 16: return "normal_clearing";
  case 17: return "user_busy";
  case 18: return "no_user_response";
  case 19: return "no_answer";
  case 20: return "subscriber_absent";
  case 21: return "call_rejected";
  case 1: return "unallocated_number";
  case 22: return "number_changed";
  case 27: return "destination_out_of_order";
  case 28: return "invalid_number_format";
  case 29: return "facility_rejected";
  case 31: return "normal_unspecified";
  case 34: return "normal_circuit_congestion";
  case 38: return "network_out_of_order";
  case 41: return "normal_temporary_failure";
  case 42: return "switch_congestion";
  case 44: return "requested_chan_unavail";
  case 58: return "bearer_capability_not_available";
  case 102: return "recovery_on_timer_expire";
  case 127: return "interworking";
  default: return "unknown";
  }
}

/* ---- the events ---------------------------------------------------------*/

/* An event of tenant (a call's, or the PBX's) into out; its data. */
static cJSON *event_of(sb_ami_map_t *m, const char *tenant, cJSON *out,
                       const char *type, const char *subject, const char *disc,
                       int64_t id_ms, int64_t at_us) {
  char id[SB_ULID_LEN + 1], t[40];
  derive_id(m, tenant, subject, type, disc, id_ms, id);
  sb_time_format(at_us, t, sizeof t);
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "specversion", "1.0");
  cJSON_AddStringToObject(e, "id", id);
  cJSON_AddStringToObject(e, "type", type);
  cJSON_AddStringToObject(e, "source", m->source);
  cJSON_AddStringToObject(e, "subject", subject);
  cJSON_AddStringToObject(e, "time", t);
  cJSON_AddStringToObject(e, "tenantid", tenant);
  cJSON_AddItemToArray(out, e);
  m->st.produced++;
  return cJSON_AddObjectToObject(e, "data");
}

/* An agent's event: the PBX's tenant. */
static cJSON *event(sb_ami_map_t *m, cJSON *out, const char *type,
                    const char *subject, const char *disc, int64_t id_ms,
                    int64_t at_us) {
  return event_of(m, m->tenant, out, type, subject, disc, id_ms, at_us);
}

static void add_str(cJSON *d, const char *k, const char *v) {
  if (v != NULL && *v)
    cJSON_AddStringToObject(d, k, v);
}

static void call_id(const sb_ami_map_t *m, const call_t *c, char *out,
                    size_t sz) {
  snprintf(out, sz, "%s:%s", m->pbx, c->linkedid);
}

/* ---- calls --------------------------------------------------------------*/

static call_t *call_find(sb_ami_map_t *m, const char *linkedid) {
  for (call_t *c = m->calls[hash(linkedid)]; c; c = c->next)
    if (strcmp(c->linkedid, linkedid) == 0)
      return c;
  return NULL;
}

static void call_forget(sb_ami_map_t *m, call_t *c) {
  call_t **pp = &m->calls[hash(c->linkedid)];
  while (*pp != c)
    pp = &(*pp)->next;
  *pp = c->next;
  if (c->older)
    c->older->newer = c->newer;
  else
    m->oldest = c->newer;
  if (c->newer)
    c->newer->older = c->older;
  else
    m->newest = c->older;
  m->ncalls--;
  free(c);
}

static call_t *call_new(sb_ami_map_t *m, const char *linkedid) {
  if (m->ncalls >= m->max_calls && m->oldest) {
    call_forget(m, m->oldest);
    m->st.calls_forgotten++;
  }
  call_t *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  copy(c->linkedid, sizeof c->linkedid, linkedid);
  c->talk_ms = -1;
  c->cause = -1;
  copy(c->tenant, sizeof c->tenant, m->tenant);
  c->direction = "inbound";
  unsigned h = hash(c->linkedid);
  c->next = m->calls[h];
  m->calls[h] = c;
  c->older = m->newest;
  if (m->newest)
    m->newest->newer = c;
  else
    m->oldest = c;
  m->newest = c;
  m->ncalls++;
  return c;
}

static void chan_add(call_t *c, const char *uniqueid) {
  for (int i = 0; i < c->nchans; i++)
    if (strcmp(c->chans[i], uniqueid) == 0)
      return;
  if (c->nchans < MAX_CHANS)
    copy(c->chans[c->nchans++], sizeof c->chans[0], uniqueid);
}

static int chan_remove(call_t *c, const char *uniqueid) {
  for (int i = 0; i < c->nchans; i++)
    if (strcmp(c->chans[i], uniqueid) == 0) {
      memmove(c->chans[i], c->chans[c->nchans - 1], sizeof c->chans[0]);
      c->nchans--;
      return 1;
    }
  return 0;
}

/* ---- the PBX's mapping keys --------------------------------------------*/

static const char *conf_or(const sb_ami_map_t *m, size_t off,
                           const char *dflt) {
  const char *v = m->conf ? (const char *)m->conf + off : "";
  return *v ? v : dflt;
}
#define CONF(m, field, dflt) conf_or(m, offsetof(sb_ami_pbx_t, field), dflt)

/* 1 when v is one of list's comma-separated words */
static int in_list(const char *list, const char *v) {
  size_t n = v ? strlen(v) : 0;
  if (n == 0 || list == NULL)
    return 0;
  for (const char *p = list; *p;) {
    size_t w = strcspn(p, ",");
    if (w == n && strncmp(p, v, n) == 0)
      return 1;
    p += w;
    if (*p == ',')
      p++;
  }
  return 0;
}

static int agent_cmp(const void *key, const void *e) {
  return strcmp(key, ((const sb_ami_agent_t *)e)->iface);
}

/* The Switchboard user an interface (or a mailbox) is, by the PBX's
 * agents_file; NULL when it has no line. */
static const char *agent_lookup(const sb_ami_map_t *m, const char *iface) {
  if (m->conf == NULL || m->conf->nagents == 0 || iface == NULL)
    return NULL;
  const sb_ami_agent_t *a = bsearch(iface, m->conf->agents, m->conf->nagents,
                                    sizeof *a, agent_cmp);
  return a ? a->agent_id : NULL;
}

/* An interface's agent id: its agents_file line's, else the interface. */
static const char *agent_of(const sb_ami_map_t *m, const char *iface) {
  const char *id = agent_lookup(m, iface);
  return id ? id : iface;
}

/* The lead and campaign the dialplan set (ChanVariable: SB_LEAD_ID=..,
 * or the names lead_var= and campaign_var= give). */
static void call_vars(sb_ami_map_t *m, call_t *c, const sb_ami_msg_t *msg) {
  char v[ID_MAX];
  if (sb_ami_var(msg, "ChanVariable", CONF(m, lead_var, "SB_LEAD_ID"), v,
                 sizeof v) && *v)
    copy(c->lead, sizeof c->lead, v);
  if (sb_ami_var(msg, "ChanVariable", CONF(m, campaign_var, "SB_CAMPAIGN_ID"),
                 v, sizeof v) && *v)
    copy(c->campaign, sizeof c->campaign, v);
  if (m->conf && m->conf->tenant_var[0] &&
      sb_ami_var(msg, "ChanVariable", m->conf->tenant_var, v, sizeof v) &&
      *v && strcmp(v, c->tenant) != 0)
    m->st.tenant_late++; /* decided on the call's first event */
}

/* The tenant a call's first event names (tenant_var=): the PBX's own, or
 * one of its tenants=; NULL when it names another (refused). */
static const char *call_tenant(sb_ami_map_t *m, const sb_ami_msg_t *msg) {
  char v[ID_MAX];
  if (m->conf == NULL || !m->conf->tenant_var[0] ||
      !sb_ami_var(msg, "ChanVariable", m->conf->tenant_var, v, sizeof v) ||
      !*v || strcmp(v, m->tenant) == 0)
    return m->tenant;
  for (const char *p = m->conf->tenants; *p;) {
    size_t w = strcspn(p, ",");
    if (w == strlen(v) && strncmp(p, v, w) == 0)
      return p; /* the list's copy, cut at w below */
    p += w;
    if (*p == ',')
      p++;
  }
  return NULL;
}

/* inbound, or outbound when its first channel is in an outbound context
 * or direction_var says so (inbound, outbound, internal) */
static const char *call_direction(sb_ami_map_t *m, const sb_ami_msg_t *msg) {
  char v[16];
  if (sb_ami_var(msg, "ChanVariable", CONF(m, direction_var, "SB_DIRECTION"),
                 v, sizeof v)) {
    if (strcmp(v, "outbound") == 0)
      return "outbound";
    if (strcmp(v, "internal") == 0)
      return "internal";
    if (strcmp(v, "inbound") == 0)
      return "inbound";
  }
  if (m->conf && in_list(m->conf->outbound_contexts, sb_ami_get(msg, "Context")))
    return "outbound";
  return "inbound";
}

/* The call a Linkedid names: a consult call merged by an attended
 * transfer is the call it was merged into; a refused call is NULL. */
static call_t *call_get(sb_ami_map_t *m, const char *linkedid) {
  call_t *c = linkedid ? call_find(m, linkedid) : NULL;
  if (c && c->into[0]) {
    call_t *to = call_find(m, c->into);
    if (to == NULL) { /* it ended: the alias is done with too */
      call_forget(m, c);
      return NULL;
    }
    c = to;
  }
  return c && !c->refused ? c : NULL;
}

/* The call a channel event is about, made (and call.started emitted) when
 * it is the first seen of its Linkedid. NULL for a call not to map (no
 * ids, or a tenant the PBX may not write). */
static call_t *call_of(sb_ami_map_t *m, const sb_ami_msg_t *msg, int64_t at_us,
                       cJSON *out) {
  const char *lid = sb_ami_get(msg, "Linkedid");
  const char *uid = sb_ami_get(msg, "Uniqueid");
  if (!known(lid) || !known(uid) || strlen(lid) >= 64 || strlen(uid) >= 64)
    return NULL;
  call_t *c = call_find(m, lid);
  if (c && (c->into[0] || c->refused)) {
    if (c->refused)
      chan_add(c, uid); /* its Hangups end it, unmapped */
    c = call_get(m, lid);
    if (c)
      chan_add(c, uid);
    return c;
  }
  if (c == NULL) {
    if ((c = call_new(m, lid)) == NULL)
      return NULL;
    const char *tenant = call_tenant(m, msg);
    if (tenant == NULL) {
      /* never produced under another tenant: counted, its events dropped */
      c->refused = 1;
      m->st.tenant_refused++;
      chan_add(c, uid);
      return NULL;
    }
    size_t tl = strcspn(tenant, ",");
    if (tl < sizeof c->tenant) {
      memcpy(c->tenant, tenant, tl);
      c->tenant[tl] = '\0';
    }
    c->direction = call_direction(m, msg);
    /* the call began when its first channel was made (its Uniqueid says,
     * also when it is first seen in a resynchronisation) */
    int64_t ms = uniqueid_ms(lid);
    c->started_us = ms > 0 && strcmp(lid, uid) == 0 ? ms * 1000 : at_us;
    if (ms > 0 && m->syncing)
      c->started_us = ms * 1000;
    const char *num_ = sb_ami_get(msg, "CallerIDNum");
    const char *exten = sb_ami_get(msg, "Exten");
    int out_ = strcmp(c->direction, "outbound") == 0;
    /* outbound: the number dialled is the customer's (Exten, E.164) */
    if (e164(out_ ? exten : num_))
      copy(c->from, sizeof c->from, out_ ? exten : num_);
    const char *name = sb_ami_get(msg, "CallerIDName");
    if (known(name) && !out_)
      copy(c->name, sizeof c->name, name);
    if (!out_ && known(exten) && strlen(exten) < sizeof c->did)
      copy(c->did, sizeof c->did, exten);
    call_vars(m, c, msg);
    char cid[ID_MAX + 40];
    call_id(m, c, cid, sizeof cid);
    cJSON *d = event_of(m, c->tenant, out, "call.started", cid, "", ms,
                        c->started_us);
    cJSON_AddStringToObject(d, "call_id", cid);
    cJSON_AddStringToObject(d, "direction", c->direction);
    add_str(d, "channel_id", uid);
    add_str(d, out_ ? "to_number" : "from_number", c->from);
    add_str(d, "caller_name", c->name);
    add_str(d, "did", c->did);
    add_str(d, "node", m->pbx);
    add_str(d, "lead_id", c->lead);
    add_str(d, "campaign_id", c->campaign);
  } else {
    call_vars(m, c, msg);
  }
  chan_add(c, uid);
  return c;
}

static void call_ended(sb_ami_map_t *m, call_t *c, int64_t at_us, cJSON *out,
                       const char *why) {
  char cid[ID_MAX + 40];
  call_id(m, c, cid, sizeof cid);
  cJSON *d = event_of(m, c->tenant, out, "call.ended", cid, "",
                      uniqueid_ms(c->linkedid), at_us);
  cJSON_AddStringToObject(d, "call_id", cid);
  cJSON_AddStringToObject(d, "direction", c->direction);
  const char *reason = why;
  if (reason == NULL) {
    if (c->abandoned)
      reason = "abandoned";
    else if (c->transferred)
      reason = "transferred";
    else if (c->voicemail && c->answered_us == 0)
      reason = "voicemail";
    else if (strcasecmp(c->reason, "agent") == 0)
      reason = "agent_hangup";
    else if (strcasecmp(c->reason, "transfer") == 0)
      reason = "transferred";
    else
      reason = "customer_hangup";
  }
  cJSON_AddStringToObject(d, "end_reason", reason);
  if (c->cause >= 0) {
    cJSON_AddStringToObject(d, "hangup_cause", cause_name(c->cause));
    cJSON_AddNumberToObject(d, "hangup_cause_code", c->cause);
  }
  char t[40];
  sb_time_format(c->started_us, t, sizeof t);
  cJSON_AddStringToObject(d, "started_at", t);
  if (c->answered_us > 0) {
    sb_time_format(c->answered_us, t, sizeof t);
    cJSON_AddStringToObject(d, "answered_at", t);
  }
  cJSON_AddNumberToObject(d, "duration_ms",
                          (double)((at_us - c->started_us) / 1000));
  if (c->abandoned)
    cJSON_AddNumberToObject(d, "wait_ms", (double)c->abandoned_wait_ms);
  else if (c->joined_us > 0 && c->answered_us > 0)
    cJSON_AddNumberToObject(d, "wait_ms",
                            (double)((c->answered_us - c->joined_us) / 1000));
  if (c->hold_since_us > 0) /* hung up while held */
    c->hold_ms += (at_us - c->hold_since_us) / 1000;
  if (c->answered_us > 0) {
    /* from the connect (AgentComplete's TalkTime when it came first: the
     * same span), the time on hold taken out */
    int64_t talk = c->talk_ms >= 0 ? c->talk_ms
                                   : (at_us - c->answered_us) / 1000;
    talk -= c->hold_ms;
    cJSON_AddNumberToObject(d, "talk_ms", (double)(talk > 0 ? talk : 0));
  }
  if (c->held)
    cJSON_AddNumberToObject(d, "hold_ms", (double)c->hold_ms);
  if (c->ivr_from_us > 0) {
    int64_t to = c->ivr_to_us > 0 ? c->ivr_to_us : at_us;
    cJSON_AddNumberToObject(d, "ivr_ms", (double)((to - c->ivr_from_us) / 1000));
  }
  /* every ring: those not answered (AgentRingNoAnswer, ms) and the
   * answered one (AgentConnect, s) */
  if (c->offers > 0)
    cJSON_AddNumberToObject(d, "ring_ms", (double)c->ring_ms);
  if (c->agent[0])
    add_str(d, "agent_id", agent_of(m, c->agent));
  add_str(d, "queue_id", c->queue);
  add_str(d, "lead_id", c->lead);
  add_str(d, "campaign_id", c->campaign);
  add_str(d, strcmp(c->direction, "outbound") == 0 ? "to_number"
                                                   : "from_number",
          c->from);
  /* its aliases go with it (in sb_ami_map_synced's walk of the calls, the
   * walk forgets them itself: they are newer than it) */
  for (int i = 0; !m->walking && i < c->naliases; i++) {
    call_t *a = call_find(m, c->aliases[i]);
    if (a && a != c)
      call_forget(m, a);
  }
  call_forget(m, c);
}

/* ---- agents -------------------------------------------------------------*/

static agent_t *agent_find(sb_ami_map_t *m, const char *id, int make) {
  unsigned h = hash(id);
  for (agent_t *a = m->agents[h]; a; a = a->next)
    if (strcmp(a->id, id) == 0)
      return a;
  if (!make)
    return NULL;
  if (m->nagents >= m->max_agents) {
    m->st.agents_untracked++;
    return NULL;
  }
  agent_t *a = calloc(1, sizeof *a);
  if (a == NULL)
    return NULL;
  copy(a->id, sizeof a->id, id);
  if (agent_lookup(m, id) == NULL)
    m->st.agents_unmapped++; /* its interface stays its id */
  a->next = m->agents[h];
  m->agents[h] = a;
  m->nagents++;
  return a;
}

static int queue_index(const agent_t *a, const char *q) {
  for (int i = 0; i < a->nqueues; i++)
    if (strcmp(a->queues[i], q) == 0)
      return i;
  return -1;
}

/* The state a member's fields say of its device and calls
 * (../shared/AMI.md §2.6); a pause is per queue (member()). */
static const char *derive_state(const sb_ami_msg_t *msg, int64_t at_us) {
  long long st = num(msg, "Status", 0);
  if (st == 6 || st == 7)
    return "ringing";
  if (num(msg, "InCall", 0) == 1 || st == 2 || st == 3 || st == 8)
    return "on_call";
  if (st == 4 || st == 5)
    return "offline";
  long long wrap = num(msg, "Wrapuptime", 0), last = num(msg, "LastCall", 0);
  if (wrap > 0 && last > 0 && at_us / 1000000 - last < wrap)
    return "wrapup";
  return "available";
}

static void agent_logged_in(sb_ami_map_t *m, agent_t *a,
                            const sb_ami_msg_t *msg, int64_t at_us,
                            cJSON *out) {
  long long login = num(msg, "LoginTime", 0);
  char disc[32];
  snprintf(disc, sizeof disc, "%lld", login);
  cJSON *d = event(m, out, "agent.logged_in", agent_of(m, a->id), disc, login * 1000,
                   login > 0 && m->syncing ? login * 1000000 : at_us);
  cJSON_AddStringToObject(d, "agent_id", agent_of(m, a->id));
  cJSON_AddStringToObject(d, "interface", a->id);
  cJSON *qs = cJSON_AddArrayToObject(d, "queue_ids");
  for (int i = 0; i < a->nqueues; i++)
    cJSON_AddItemToArray(qs, cJSON_CreateString(a->queues[i]));
  a->logged_in = 1;
}

/* disc_in: what identifies the change when the member's fields do not
 * (a ring not answered: the agent leg's Uniqueid); NULL: from them. */
static void agent_state(sb_ami_map_t *m, agent_t *a, const char *state,
                        const sb_ami_msg_t *msg, int64_t at_us, cJSON *out,
                        const char *disc_in) {
  if (a->state != NULL && strcmp(a->state, state) == 0)
    return;
  /* when the PBX says when it happened, the id is the same whoever sees
   * it (a pause: LastPause; the end of a call: LastCall) */
  long long when = strcmp(state, "paused") == 0 || (a->state &&
                                                    strcmp(a->state, "paused") == 0)
                       ? num(msg, "LastPause", 0)
                       : num(msg, "LastCall", 0);
  /* a list item has no time of its own: the PBX's, when it says */
  if (m->syncing && when > 0)
    at_us = when * 1000000;
  char disc[64];
  if (disc_in)
    snprintf(disc, sizeof disc, "%s/%s", state, disc_in);
  else
    snprintf(disc, sizeof disc, "%s/%lld/%lld", state,
             when > 0 ? when : at_us / 1000000, num(msg, "CallsTaken", 0));
  cJSON *d = event(m, out, "agent.state_changed", agent_of(m, a->id), disc, at_us / 1000,
                   at_us);
  cJSON_AddStringToObject(d, "agent_id", agent_of(m, a->id));
  cJSON_AddStringToObject(d, "state", state);
  if (a->state != NULL) {
    cJSON_AddStringToObject(d, "previous_state", a->state);
    cJSON_AddNumberToObject(d, "previous_state_ms",
                            (double)((at_us - a->since_us) / 1000));
  }
  if (strcmp(state, "paused") == 0)
    add_str(d, "pause_reason", sb_ami_get(msg, "PausedReason"));
  add_str(d, "queue_id", sb_ami_get(msg, "Queue"));
  static const char *const states[] = {"offline", "available", "ringing",
                                       "on_call", "wrapup",    "paused"};
  for (size_t i = 0; i < sizeof states / sizeof *states; i++)
    if (strcmp(states[i], state) == 0)
      a->state = states[i];
  a->since_us = at_us;
}

/* QueueMemberAdded/Status/Pause/Penalty/Ringinuse, and QueueMember of a
 * QueueStatus (Location/Name instead of Interface/MemberName). */
static void member(sb_ami_map_t *m, const sb_ami_msg_t *msg, int64_t at_us,
                   cJSON *out) {
  const char *iface = sb_ami_get(msg, "Interface");
  if (iface == NULL)
    iface = sb_ami_get(msg, "Location");
  const char *q = sb_ami_get(msg, "Queue");
  if (!known(iface) || !known(q) || strlen(iface) >= ID_MAX ||
      strlen(q) >= ID_MAX) {
    m->st.unusable++;
    return;
  }
  agent_t *a = agent_find(m, iface, 1);
  if (a == NULL)
    return;
  if (m->syncing)
    a->seen_sync = 1;
  int qi = queue_index(a, q);
  if (qi < 0 && a->nqueues < MAX_QUEUES) {
    qi = a->nqueues++;
    copy(a->queues[qi], sizeof a->queues[0], q);
  }
  if (qi >= 0)
    a->paused[qi] = num(msg, "Paused", 0) == 1;
  if (!a->logged_in)
    agent_logged_in(m, a, msg, at_us, out);
  /* paused when paused in every queue it is in: paused in some, it still
   * takes the others' calls */
  int all = a->nqueues > 0;
  for (int i = 0; i < a->nqueues; i++)
    all &= a->paused[i];
  agent_state(m, a, all ? "paused" : derive_state(msg, at_us), msg, at_us,
              out, NULL);
}

static void member_removed(sb_ami_map_t *m, const sb_ami_msg_t *msg,
                           int64_t at_us, cJSON *out) {
  const char *iface = sb_ami_get(msg, "Interface");
  const char *q = sb_ami_get(msg, "Queue");
  agent_t *a = known(iface) ? agent_find(m, iface, 0) : NULL;
  if (a == NULL || q == NULL)
    return;
  int i = queue_index(a, q);
  if (i >= 0) {
    a->nqueues--;
    memmove(a->queues[i], a->queues[a->nqueues], sizeof a->queues[0]);
    a->paused[i] = a->paused[a->nqueues];
  }
  if (a->nqueues > 0 || !a->logged_in)
    return;
  char disc[32];
  snprintf(disc, sizeof disc, "%lld", num(msg, "LoginTime", 0));
  cJSON *d = event(m, out, "agent.logged_out", agent_of(m, a->id), disc, at_us / 1000,
                   at_us);
  cJSON_AddStringToObject(d, "agent_id", agent_of(m, a->id));
  cJSON_AddStringToObject(d, "reason", "manual");
  a->logged_in = 0;
  a->state = NULL;
}

/* ---- IVR, ring-no-answer, transfers, voicemail -------------------------*/

/* The interface of a channel: "PJSIP/agent2-0000001a" -> "PJSIP/agent2"
 * (a Local channel's ";1" too). */
static void chan_iface(const char *chan, char *out, size_t sz) {
  out[0] = '\0';
  if (!known(chan))
    return;
  copy(out, sz, chan);
  char *dash = strrchr(out, '-');
  if (dash && dash != out && strchr(dash, '/') == NULL)
    *dash = '\0';
}

static const char *step_kind(const char *app) {
  static const struct {
    const char *app, *kind;
  } kinds[] = {{"Background", "menu"},    {"WaitExten", "menu"},
               {"Read", "digits"},        {"Playback", "prompt"},
               {"Queue", "queue"},        {"VoiceMail", "voicemail"},
               {"Hangup", "hangup"},      {"Transfer", "transfer"},
               {"BlindTransfer", "transfer"}, {"Dial", "transfer"},
               {"AGI", "lookup"},         {"GotoIf", "condition"},
               {"ExecIf", "condition"},   {"GotoIfTime", "condition"}};
  for (size_t i = 0; app && i < sizeof kinds / sizeof *kinds; i++)
    if (strcasecmp(kinds[i].app, app) == 0)
      return kinds[i].kind;
  return "other";
}

/* An event of call c (its tenant, its call_id), at at, its id from disc
 * and at's milliseconds. */
static cJSON *call_event(sb_ami_map_t *m, call_t *c, cJSON *out,
                         const char *type, const char *disc, int64_t at) {
  char cid[ID_MAX + 40];
  call_id(m, c, cid, sizeof cid);
  cJSON *d = event_of(m, c->tenant, out, type, cid, disc, at / 1000, at);
  cJSON_AddStringToObject(d, "call_id", cid);
  return d;
}

/* "context,exten" into node (ID_MAX); 0 when it does not fit (never cut:
 * a cut could split a UTF-8 character). */
static int make_node(char node[ID_MAX], const char *ctx, const char *exten) {
  size_t a = strlen(ctx), b = strlen(exten);
  if (a + 1 + b >= ID_MAX)
    return 0;
  memcpy(node, ctx, a);
  node[a] = ',';
  memcpy(node + a + 1, exten, b + 1);
  return 1;
}

static cJSON *ivr_step(sb_ami_map_t *m, call_t *c, const char *node,
                       const char *disc, int64_t at, cJSON *out) {
  cJSON *d = call_event(m, c, out, "call.ivr_step", disc, at);
  cJSON_AddStringToObject(d, "node_id", node);
  cJSON_AddNumberToObject(d, "step_index", c->ivr_steps++);
  if (c->ivr_from_us == 0)
    c->ivr_from_us = at;
  c->ivr_to_us = 0;
  m->st.ivr_steps++;
  return d;
}

/* Newexten: a step into a new context,exten of an IVR context (the
 * priorities within one are one step); VoiceMail() noted for the end. */
static void newexten(sb_ami_map_t *m, const sb_ami_msg_t *msg, int64_t at,
                     cJSON *out) {
  call_t *c = call_get(m, sb_ami_get(msg, "Linkedid"));
  const char *uid = sb_ami_get(msg, "Uniqueid");
  const char *ctx = sb_ami_get(msg, "Context");
  const char *exten = sb_ami_get(msg, "Exten");
  const char *app = sb_ami_get(msg, "Application");
  if (c == NULL || !known(uid) || !known(ctx) || !known(exten))
    return;
  if (app && strcasecmp(app, "VoiceMail") == 0)
    c->voicemail = 1;
  if (m->conf == NULL || !in_list(m->conf->ivr_contexts, ctx)) {
    if (c->ivr_node[0]) { /* left the IVR */
      c->ivr_node[0] = '\0';
      c->ivr_to_us = at;
    }
    return;
  }
  char node[ID_MAX];
  if (!make_node(node, ctx, exten)) {
    m->st.unusable++;
    return;
  }
  if (strcmp(node, c->ivr_node) == 0)
    return;
  /* the previous step's context, for the option taken in it */
  char prev[ID_MAX];
  copy(prev, sizeof prev, c->ivr_node);
  char *comma = strchr(prev, ',');
  if (comma)
    *comma = '\0';
  copy(c->ivr_node, sizeof c->ivr_node, node);
  char disc[256];
  snprintf(disc, sizeof disc, "%s/%s/%lld/%lld", uid, node,
           num(msg, "Priority", 0), (long long)(at / 1000));
  cJSON *d = ivr_step(m, c, node, disc, at, out);
  cJSON_AddStringToObject(d, "ivr_id", ctx);
  cJSON_AddStringToObject(d, "step_kind", step_kind(app));
  if (strcmp(prev, ctx) == 0 && strcmp(exten, "s") != 0) {
    cJSON_AddStringToObject(d, "option", exten);
    if (strcmp(exten, "t") == 0)
      cJSON_AddBoolToObject(d, "timed_out", 1);
    if (strcmp(exten, "i") == 0)
      cJSON_AddBoolToObject(d, "invalid_input", 1);
  }
}

/* DTMFEnd the caller sent (Direction Received) in an IVR context. */
static void dtmf(sb_ami_map_t *m, const sb_ami_msg_t *msg, int64_t at,
                 cJSON *out) {
  const char *ctx = sb_ami_get(msg, "Context");
  const char *uid = sb_ami_get(msg, "Uniqueid");
  const char *digit = sb_ami_get(msg, "Digit");
  if (!sb_ami_is(msg, "Direction", "Received") || m->conf == NULL ||
      !in_list(m->conf->ivr_contexts, ctx) || !known(uid) || !known(digit))
    return;
  call_t *c = call_get(m, sb_ami_get(msg, "Linkedid"));
  if (c == NULL)
    return;
  char node[ID_MAX], disc[256];
  if (c->ivr_node[0])
    copy(node, sizeof node, c->ivr_node);
  else if (!make_node(node, ctx,
                      known(sb_ami_get(msg, "Exten")) ? sb_ami_get(msg, "Exten")
                                                      : "s")) {
    m->st.unusable++;
    return;
  }
  snprintf(disc, sizeof disc, "%s/dtmf/%s/%lld", uid, digit,
           (long long)(at / 1000));
  cJSON *d = ivr_step(m, c, node, disc, at, out);
  cJSON_AddStringToObject(d, "ivr_id", ctx);
  cJSON_AddStringToObject(d, "step_kind", "digits");
  cJSON_AddStringToObject(d, "input_digits", digit);
}

static agent_t *agent_find(sb_ami_map_t *m, const char *id, int make);
static int queue_index(const agent_t *a, const char *q);

/* AgentRingNoAnswer: RingTime is milliseconds. Counted on the call (its
 * call.ended's ring_ms) and by the mapper; the agent back from ringing. */
static void ring_no_answer(sb_ami_map_t *m, const sb_ami_msg_t *msg, int64_t at,
                           cJSON *out) {
  call_t *c = call_of(m, msg, at, out);
  const char *iface = sb_ami_get(msg, "Interface");
  if (c == NULL || !known(iface))
    return;
  c->rna++;
  c->ring_ms += num(msg, "RingTime", 0); /* milliseconds */
  m->st.ring_no_answer++;
  agent_t *a = agent_find(m, iface, 0);
  if (a == NULL || a->state == NULL || strcmp(a->state, "ringing") != 0)
    return;
  int all = a->nqueues > 0;
  for (int i = 0; i < a->nqueues; i++)
    all &= a->paused[i];
  const char *dest = sb_ami_get(msg, "DestUniqueid");
  char disc[96];
  snprintf(disc, sizeof disc, "rna/%s", known(dest) ? dest : c->linkedid);
  agent_state(m, a, all ? "paused" : "available", msg, at, out, disc);
}

static void transferred(sb_ami_map_t *m, call_t *c, const char *kind,
                        const char *disc, const char *from_iface, int64_t at,
                        cJSON *out, cJSON **data) {
  cJSON *d = call_event(m, c, out, "call.transferred", disc, at);
  cJSON_AddStringToObject(d, "transfer_kind", kind);
  if (known(from_iface))
    cJSON_AddStringToObject(d, "from_agent_id", agent_of(m, from_iface));
  c->transferred = 1;
  c->talk_ms = -1; /* AgentComplete's TalkTime is the first agent's only */
  m->st.transfers++;
  *data = d;
}

/* BlindTransfer: the transferee's call goes to Extension@Context. */
static void blind_transfer(sb_ami_map_t *m, const sb_ami_msg_t *msg,
                           int64_t at, cJSON *out) {
  if (!sb_ami_is(msg, "Result", "Success"))
    return; /* a failed transfer changes nothing */
  call_t *c = call_get(m, sb_ami_get(msg, "TransfereeLinkedid"));
  const char *tuid = sb_ami_get(msg, "TransfereeUniqueid");
  const char *ext = sb_ami_get(msg, "Extension");
  const char *ctx = sb_ami_get(msg, "Context");
  if (c == NULL || !known(tuid)) {
    m->st.unusable++;
    return;
  }
  char from[ID_MAX], disc[256];
  chan_iface(sb_ami_get(msg, "TransfererChannel"), from, sizeof from);
  snprintf(disc, sizeof disc, "%s/blind/%s/%lld", tuid, known(ext) ? ext : "",
           (long long)(at / 1000));
  cJSON *d;
  transferred(m, c, "blind", disc, c->agent[0] ? c->agent : from, at, out, &d);
  if (m->conf && in_list(m->conf->ivr_contexts, ctx))
    cJSON_AddStringToObject(d, "target_kind", "ivr");
  if (known(ext))
    add_str(d, e164(ext) ? "target_number" : "target_extension", ext);
  if (e164(ext))
    cJSON_AddStringToObject(d, "target_kind", "external");
}

/* AttendedTransfer: the transferee's call (its Linkedid) goes on with the
 * target; the consult call (the target's Linkedid) ends, transferred, its
 * channels now the transferee call's, its Linkedid an alias of it. */
static void attended_transfer(sb_ami_map_t *m, const sb_ami_msg_t *msg,
                              int64_t at, cJSON *out) {
  if (!sb_ami_is(msg, "Result", "Success"))
    return;
  call_t *c = call_get(m, sb_ami_get(msg, "TransfereeLinkedid"));
  const char *tuid = sb_ami_get(msg, "TransfereeUniqueid");
  const char *l2 = sb_ami_get(msg, "TransferTargetLinkedid");
  if (!known(l2))
    l2 = sb_ami_get(msg, "SecondTransfererLinkedid");
  if (c == NULL || !known(tuid)) {
    m->st.unusable++;
    return;
  }
  char from[ID_MAX], target[ID_MAX], disc[256];
  chan_iface(sb_ami_get(msg, "OrigTransfererChannel"), from, sizeof from);
  chan_iface(sb_ami_get(msg, "TransferTargetChannel"), target, sizeof target);
  const char *tt = sb_ami_get(msg, "TransferTargetUniqueid");
  snprintf(disc, sizeof disc, "%s/attended/%s", tuid, known(tt) ? tt : "");
  cJSON *d;
  transferred(m, c, "attended", disc, c->agent[0] ? c->agent : from, at, out,
              &d);
  if (target[0]) {
    cJSON_AddStringToObject(d, "target_kind", "agent");
    cJSON_AddStringToObject(d, "target_agent_id", agent_of(m, target));
    copy(c->agent, sizeof c->agent, target);
  }
  call_t *c2 = known(l2) ? call_find(m, l2) : NULL;
  if (c2 == NULL || c2 == c || c2->into[0] || c2->refused)
    return;
  char cid2[ID_MAX + 40];
  call_id(m, c2, cid2, sizeof cid2);
  cJSON_AddStringToObject(d, "consult_call_id", cid2);
  for (int i = 0; i < c2->nchans; i++)
    chan_add(c, c2->chans[i]);
  char lid2[64];
  copy(lid2, sizeof lid2, c2->linkedid);
  call_ended(m, c2, at, out, "transferred"); /* forgets c2 */
  if (m->ncalls < m->max_calls) {
    call_t *alias = call_new(m, lid2);
    if (alias) {
      copy(alias->into, sizeof alias->into, c->linkedid);
      if (c->naliases < 4)
        copy(c->aliases[c->naliases++], sizeof c->aliases[0], lid2);
    }
  }
}

/* MessageWaiting raised by a call that ran VoiceMail(): the message it
 * left. Without such a call (a message read, a mailbox changed outside a
 * call) it is counted as unusable. */
static void message_waiting(sb_ami_map_t *m, const sb_ami_msg_t *msg,
                            int64_t at, cJSON *out) {
  call_t *c = call_get(m, sb_ami_get(msg, "Linkedid"));
  const char *box = sb_ami_get(msg, "Mailbox");
  if (c == NULL || !c->voicemail || !known(box) || strlen(box) >= ID_MAX ||
      num(msg, "New", 0) <= 0) {
    m->st.unusable++;
    return;
  }
  char disc[ID_MAX + 64];
  snprintf(disc, sizeof disc, "%s/%lld/%lld", box, num(msg, "New", 0),
           num(msg, "Old", 0));
  cJSON *d = call_event(m, c, out, "voicemail.received", disc, at);
  cJSON_AddStringToObject(d, "mailbox", box);
  if (strcmp(c->direction, "outbound") != 0)
    add_str(d, "from_number", c->from);
  add_str(d, "caller_name", c->name);
  const char *agent = agent_lookup(m, box);
  if (agent)
    cJSON_AddStringToObject(d, "agent_id", agent);
  else
    add_str(d, "queue_id", c->queue);
  add_str(d, "lead_id", c->lead);
  add_str(d, "campaign_id", c->campaign);
  m->st.voicemails++;
}

/* ---- the dispatch -------------------------------------------------------*/

typedef enum {
  E_NEWCHANNEL = 1, E_HANGUP, E_JOIN, E_ABANDON, E_CALLED, E_CONNECT,
  E_COMPLETE, E_CHANNEL, E_HOLD, E_UNHOLD, E_NOTED,
  E_FN /* the table's fn does it all */
} ekind_t;

typedef void (*handler_fn)(sb_ami_map_t *m, const sb_ami_msg_t *msg,
                           int64_t at_us, cJSON *out);

static const struct {
  const char *name;
  ekind_t kind;
  handler_fn fn; /* E_FN */
} table[] = {
    {"Newchannel", E_NEWCHANNEL, NULL},
    {"Hangup", E_HANGUP, NULL},
    {"QueueCallerJoin", E_JOIN, NULL},
    {"QueueCallerAbandon", E_ABANDON, NULL},
    {"AgentCalled", E_CALLED, NULL},
    {"AgentConnect", E_CONNECT, NULL},
    {"AgentComplete", E_COMPLETE, NULL},
    {"QueueMemberAdded", E_FN, member},
    {"QueueMemberStatus", E_FN, member},
    {"QueueMemberPause", E_FN, member},
    {"QueueMemberPenalty", E_FN, member},
    {"QueueMemberRinginuse", E_FN, member},
    {"QueueMember", E_FN, member},
    {"QueueMemberRemoved", E_FN, member_removed},
    {"CoreShowChannel", E_CHANNEL, NULL},
    {"Hold", E_HOLD, NULL},
    {"Unhold", E_UNHOLD, NULL},
    {"Newexten", E_FN, newexten},
    {"DTMFEnd", E_FN, dtmf},
    {"AgentRingNoAnswer", E_FN, ring_no_answer},
    {"BlindTransfer", E_FN, blind_transfer},
    {"AttendedTransfer", E_FN, attended_transfer},
    {"MessageWaiting", E_FN, message_waiting},
    /* read and used for nothing on purpose: the session's own, and what
     * the events above already say */
    {"FullyBooted", E_NOTED, NULL},
    {"QueueParams", E_NOTED, NULL},
    {"QueueCallerLeave", E_NOTED, NULL},
    {"QueueEntry", E_NOTED, NULL}, /* its call: CoreShowChannel */
};

/* The event's time: its Timestamp (timestampevents = yes), else now. */
static int64_t event_time(const sb_ami_msg_t *msg, int64_t now_us) {
  const char *ts = sb_ami_get(msg, "Timestamp");
  if (ts == NULL)
    return now_us;
  char *end;
  double t = strtod(ts, &end);
  return end != ts && t > 1e9 && t < 1e11 ? (int64_t)(t * 1e6) : now_us;
}

static void note_unmapped(sb_ami_map_t *m, const char *name) {
  m->st.unmapped++;
  for (size_t i = 0; i < m->st.n_unmapped_names; i++)
    if (strcmp(m->st.unmapped_names[i].name, name) == 0) {
      m->st.unmapped_names[i].count++;
      return;
    }
  if (m->st.n_unmapped_names < SB_AMI_MAP_NAMES) {
    sb_ami_map_count_t *c = &m->st.unmapped_names[m->st.n_unmapped_names++];
    copy(c->name, sizeof c->name, name);
    c->count = 1;
  }
}

int sb_ami_map_msg(sb_ami_map_t *m, int sync, const sb_ami_msg_t *msg,
                   int64_t now_us, cJSON *out) {
  const char *name = sb_ami_get(msg, "Event");
  if (name == NULL)
    return 0;
  ekind_t k = 0;
  handler_fn fn = NULL;
  for (size_t i = 0; i < sizeof table / sizeof *table && !k; i++)
    if (strcasecmp(table[i].name, name) == 0) {
      k = table[i].kind;
      fn = table[i].fn;
    }
  if (k == 0) {
    note_unmapped(m, name);
    return 0;
  }
  m->st.mapped++;
  m->syncing = sync;
  int64_t at = event_time(msg, now_us);
  int before = cJSON_GetArraySize(out);
  call_t *c = NULL;
  char cid[ID_MAX + 40];
  cJSON *d;
  switch (k) {
  case E_NEWCHANNEL:
  case E_CHANNEL:
    if ((c = call_of(m, msg, at, out)) != NULL && sync)
      c->seen_sync = 1;
    else if (c == NULL && sync && sb_ami_get(msg, "Linkedid") &&
             (c = call_find(m, sb_ami_get(msg, "Linkedid"))) != NULL)
      c->seen_sync = 1; /* a refused call still up stays refused */
    break;
  case E_HANGUP: {
    const char *lid = sb_ami_get(msg, "Linkedid");
    const char *uid = sb_ami_get(msg, "Uniqueid");
    c = lid ? call_find(m, lid) : NULL;
    if (c && c->into[0]) /* a consult call's channel, merged */
      c = call_get(m, lid);
    if (c == NULL || uid == NULL || !chan_remove(c, uid))
      break;
    if (c->refused) { /* never mapped; forgotten with its last channel */
      if (c->nchans == 0)
        call_forget(m, c);
      break;
    }
    if (strcmp(uid, lid) == 0 || c->cause < 0)
      c->cause = (int)num(msg, "Cause", -1);
    if (c->nchans == 0)
      call_ended(m, c, at, out, NULL);
    break;
  }
  case E_JOIN:
    if ((c = call_of(m, msg, at, out)) == NULL)
      break;
    copy(c->queue, sizeof c->queue, sb_ami_get(msg, "Queue"));
    c->joined_us = at;
    if (c->ivr_node[0]) { /* out of the IVR into a queue */
      c->ivr_node[0] = '\0';
      c->ivr_to_us = at;
    }
    call_id(m, c, cid, sizeof cid);
    d = event_of(m, c->tenant, out, "call.queued", cid, c->queue, uniqueid_ms(c->linkedid),
              at);
    cJSON_AddStringToObject(d, "call_id", cid);
    cJSON_AddStringToObject(d, "queue_id", c->queue);
    cJSON_AddStringToObject(d, "queue_name", c->queue);
    if (num(msg, "Position", -1) >= 0)
      cJSON_AddNumberToObject(d, "position", (double)num(msg, "Position", 0));
    add_str(d, "lead_id", c->lead);
    add_str(d, "campaign_id", c->campaign);
    break;
  case E_ABANDON:
    if ((c = call_of(m, msg, at, out)) == NULL)
      break;
    c->abandoned = 1;
    c->abandoned_wait_ms = num(msg, "HoldTime", 0) * 1000; /* seconds */
    call_id(m, c, cid, sizeof cid);
    d = event_of(m, c->tenant, out, "call.abandoned", cid, "", uniqueid_ms(c->linkedid), at);
    cJSON_AddStringToObject(d, "call_id", cid);
    cJSON_AddStringToObject(d, "abandoned_in", "queue");
    add_str(d, "queue_id", sb_ami_get(msg, "Queue"));
    if (num(msg, "Position", -1) >= 0)
      cJSON_AddNumberToObject(d, "position", (double)num(msg, "Position", 0));
    if (num(msg, "OriginalPosition", -1) >= 0)
      cJSON_AddNumberToObject(d, "original_position",
                              (double)num(msg, "OriginalPosition", 0));
    cJSON_AddNumberToObject(d, "wait_ms", (double)c->abandoned_wait_ms);
    add_str(d, "from_number", c->from);
    add_str(d, "lead_id", c->lead);
    add_str(d, "campaign_id", c->campaign);
    break;
  case E_CALLED:
  case E_CONNECT: {
    if ((c = call_of(m, msg, at, out)) == NULL)
      break;
    const char *iface = sb_ami_get(msg, "Interface");
    const char *dest = sb_ami_get(msg, "DestUniqueid");
    if (!known(iface))
      break;
    call_id(m, c, cid, sizeof cid);
    const char *type = k == E_CALLED ? "call.offered" : "call.connected";
    d = event_of(m, c->tenant, out, type, cid, known(dest) ? dest : iface,
              uniqueid_ms(known(dest) ? dest : c->linkedid), at);
    cJSON_AddStringToObject(d, "call_id", cid);
    cJSON_AddStringToObject(d, "agent_id", agent_of(m, iface));
    add_str(d, "queue_id", sb_ami_get(msg, "Queue"));
    add_str(d, "agent_channel_id", dest);
    if (k == E_CALLED) {
      cJSON_AddStringToObject(d, "interface", iface);
      /* how many agents were offered it, this one included: those before
       * rang unanswered (AgentRingNoAnswer) or were cancelled */
      cJSON_AddNumberToObject(d, "attempt", ++c->offers);
      if (c->joined_us > 0)
        cJSON_AddNumberToObject(d, "wait_ms",
                                (double)((at - c->joined_us) / 1000));
      break;
    }
    if (c->answered_us == 0) /* its first answer (a transfer's is not) */
      c->answered_us = at;
    copy(c->agent, sizeof c->agent, iface);
    c->ring_ms += num(msg, "RingTime", 0) * 1000;
    if (c->offers == 0)
      c->offers = 1;
    /* AgentConnect's HoldTime and RingTime are seconds */
    cJSON_AddNumberToObject(d, "wait_ms", (double)(num(msg, "HoldTime", 0) * 1000));
    cJSON_AddNumberToObject(d, "ring_ms", (double)(num(msg, "RingTime", 0) * 1000));
    break;
  }
  case E_COMPLETE: {
    const char *lid = sb_ami_get(msg, "Linkedid");
    if ((c = call_get(m, lid)) != NULL) {
      if (!c->transferred) /* else the call went on with another */
        c->talk_ms = num(msg, "TalkTime", 0) * 1000; /* seconds */
      copy(c->reason, sizeof c->reason, sb_ami_get(msg, "Reason"));
    }
    break;
  }
  case E_HOLD:
  case E_UNHOLD: {
    const char *lid = sb_ami_get(msg, "Linkedid");
    const char *uid = sb_ami_get(msg, "Uniqueid");
    if (lid == NULL || uid == NULL || (c = call_get(m, lid)) == NULL ||
        (k == E_HOLD) == (c->hold_since_us > 0))
      break; /* not a call we know, or already so */
    int64_t held_ms = 0;
    if (k == E_HOLD) {
      c->hold_since_us = at;
      c->held = 1;
    } else {
      held_ms = (at - c->hold_since_us) / 1000;
      c->hold_ms += held_ms;
      c->hold_since_us = 0;
    }
    /* the channel, and when: the event's Timestamp, when the PBX sends it */
    char disc[96];
    snprintf(disc, sizeof disc, "%s/%lld", uid, (long long)(at / 1000));
    call_id(m, c, cid, sizeof cid);
    d = event_of(m, c->tenant, out, "call.hold", cid, disc, at / 1000, at);
    cJSON_AddStringToObject(d, "call_id", cid);
    cJSON_AddBoolToObject(d, "on_hold", k == E_HOLD);
    if (c->agent[0])
      add_str(d, "agent_id", agent_of(m, c->agent));
    if (k == E_UNHOLD)
      cJSON_AddNumberToObject(d, "hold_ms", (double)held_ms);
    else
      add_str(d, "music_class", sb_ami_get(msg, "MusicClass"));
    break;
  }
  case E_FN:
    fn(m, msg, at, out);
    break;
  case E_NOTED:
    break;
  }
  int made = cJSON_GetArraySize(out) - before;
  return made;
}

void sb_ami_map_sync_start(sb_ami_map_t *m) {
  for (size_t h = 0; h < BUCKETS; h++) {
    for (call_t *c = m->calls[h]; c; c = c->next)
      c->seen_sync = 0;
    for (agent_t *a = m->agents[h]; a; a = a->next)
      a->seen_sync = 0;
  }
}

int sb_ami_map_synced(sb_ami_map_t *m, int64_t now_us, cJSON *out) {
  int before = cJSON_GetArraySize(out);
  /* a call none of whose channels is up any more ended while we were
   * away: when, the PBX did not say */
  m->walking = 1;
  for (call_t *c = m->oldest, *next; c; c = next) {
    next = c->newer;
    if (c->into[0]) { /* an alias: done with once its call is */
      if (call_find(m, c->into) == NULL)
        call_forget(m, c);
      continue;
    }
    if (c->refused) {
      if (!c->seen_sync)
        call_forget(m, c);
      continue;
    }
    if (!c->seen_sync)
      call_ended(m, c, now_us, out, c->abandoned ? "abandoned" : "other");
  }
  m->walking = 0;
  /* an agent no queue lists any more logged out while we were away */
  for (size_t h = 0; h < BUCKETS; h++)
    for (agent_t *a = m->agents[h]; a; a = a->next)
      if (a->logged_in && !a->seen_sync) {
        char disc[32];
        snprintf(disc, sizeof disc, "sync/%lld", (long long)(now_us / 1000000));
        cJSON *d = event(m, out, "agent.logged_out", agent_of(m, a->id), disc,
                         now_us / 1000, now_us);
        cJSON_AddStringToObject(d, "agent_id", agent_of(m, a->id));
        cJSON_AddStringToObject(d, "reason", "system");
        a->logged_in = 0;
        a->nqueues = 0;
        a->state = NULL;
      }
  m->syncing = 0;
  return cJSON_GetArraySize(out) - before;
}

int sb_ami_map_new(const char *pbx, const char *tenant, size_t max_calls,
                   size_t max_agents, sb_ami_map_t **out, sb_err_t *err) {
  *out = NULL;
  sb_ami_map_t *m = calloc(1, sizeof *m);
  if (m == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  copy(m->pbx, sizeof m->pbx, pbx);
  copy(m->tenant, sizeof m->tenant, tenant);
  snprintf(m->source, sizeof m->source, "ami://%s", m->pbx);
  m->max_calls = max_calls ? max_calls : 100000;
  m->max_agents = max_agents ? max_agents : 100000;
  *out = m;
  return 0;
}

void sb_ami_map_config(sb_ami_map_t *m, const sb_ami_pbx_t *p) {
  m->conf = p;
}

void sb_ami_map_stats(const sb_ami_map_t *m, sb_ami_map_stats_t *out) {
  *out = m->st;
  out->calls = m->ncalls;
  out->agents = m->nagents;
}

void sb_ami_map_free(sb_ami_map_t *m) {
  if (m == NULL)
    return;
  while (m->oldest)
    call_forget(m, m->oldest);
  for (size_t h = 0; h < BUCKETS; h++)
    for (agent_t *a = m->agents[h], *next; a; a = next) {
      next = a->next;
      free(a);
    }
  free(m);
}
