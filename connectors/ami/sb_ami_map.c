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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BUCKETS 4096
#define MAX_CHANS 16   /* channels of one call kept */
#define MAX_QUEUES 16  /* queues of one agent kept */
#define ID_MAX 129     /* call and agent ids, queue names */

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
  size_t max_calls, max_agents, ncalls, nagents;
  call_t *calls[BUCKETS];
  call_t *oldest, *newest;
  agent_t *agents[BUCKETS];
  int syncing;
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
static void derive_id(const sb_ami_map_t *m, const char *about,
                      const char *type, const char *disc, int64_t ms,
                      char out[SB_ULID_LEN + 1]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  memset(md, 0, sizeof md);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx != NULL) {
    const char *parts[] = {"sb-ami", m->tenant, m->pbx, about, type, disc};
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
  return end != p && (*end == '.' || *end == '\0') && s > 0 ? s * 1000 : 0;
}

static long long num(const sb_ami_msg_t *msg, const char *key, long long dflt) {
  const char *v = sb_ami_get(msg, key);
  if (v == NULL || *v == '\0')
    return dflt;
  char *end;
  long long n = strtoll(v, &end, 10);
  return end != v ? n : dflt;
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

static cJSON *event(sb_ami_map_t *m, cJSON *out, const char *type,
                    const char *subject, const char *disc, int64_t id_ms,
                    int64_t at_us) {
  char id[SB_ULID_LEN + 1], t[40];
  derive_id(m, subject, type, disc, id_ms, id);
  sb_time_format(at_us, t, sizeof t);
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "specversion", "1.0");
  cJSON_AddStringToObject(e, "id", id);
  cJSON_AddStringToObject(e, "type", type);
  cJSON_AddStringToObject(e, "source", m->source);
  cJSON_AddStringToObject(e, "subject", subject);
  cJSON_AddStringToObject(e, "time", t);
  cJSON_AddStringToObject(e, "tenantid", m->tenant);
  cJSON_AddItemToArray(out, e);
  m->st.produced++;
  return cJSON_AddObjectToObject(e, "data");
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

/* The lead and campaign the dialplan set (ChanVariable: SB_LEAD_ID=..). */
static void call_vars(call_t *c, const sb_ami_msg_t *msg) {
  char v[ID_MAX];
  if (sb_ami_var(msg, "ChanVariable", "SB_LEAD_ID", v, sizeof v) && *v)
    copy(c->lead, sizeof c->lead, v);
  if (sb_ami_var(msg, "ChanVariable", "SB_CAMPAIGN_ID", v, sizeof v) && *v)
    copy(c->campaign, sizeof c->campaign, v);
}

/* The call a channel event is about, made (and call.started emitted) when
 * it is the first seen of its Linkedid. */
static call_t *call_of(sb_ami_map_t *m, const sb_ami_msg_t *msg, int64_t at_us,
                       cJSON *out) {
  const char *lid = sb_ami_get(msg, "Linkedid");
  const char *uid = sb_ami_get(msg, "Uniqueid");
  if (!known(lid) || !known(uid) || strlen(lid) >= 64 || strlen(uid) >= 64)
    return NULL;
  call_t *c = call_find(m, lid);
  if (c == NULL) {
    if ((c = call_new(m, lid)) == NULL)
      return NULL;
    /* the call began when its first channel was made (its Uniqueid says,
     * also when it is first seen in a resynchronisation) */
    int64_t ms = uniqueid_ms(lid);
    c->started_us = ms > 0 && strcmp(lid, uid) == 0 ? ms * 1000 : at_us;
    if (ms > 0 && m->syncing)
      c->started_us = ms * 1000;
    const char *num_ = sb_ami_get(msg, "CallerIDNum");
    if (e164(num_))
      copy(c->from, sizeof c->from, num_);
    const char *name = sb_ami_get(msg, "CallerIDName");
    if (known(name))
      copy(c->name, sizeof c->name, name);
    const char *exten = sb_ami_get(msg, "Exten");
    if (known(exten) && strlen(exten) < sizeof c->did)
      copy(c->did, sizeof c->did, exten);
    call_vars(c, msg);
    char cid[ID_MAX + 40];
    call_id(m, c, cid, sizeof cid);
    cJSON *d = event(m, out, "call.started", cid, "", ms, c->started_us);
    cJSON_AddStringToObject(d, "call_id", cid);
    cJSON_AddStringToObject(d, "direction", "inbound");
    add_str(d, "channel_id", uid);
    add_str(d, "from_number", c->from);
    add_str(d, "caller_name", c->name);
    add_str(d, "did", c->did);
    add_str(d, "node", m->pbx);
    add_str(d, "lead_id", c->lead);
    add_str(d, "campaign_id", c->campaign);
  } else {
    call_vars(c, msg);
  }
  chan_add(c, uid);
  return c;
}

static void call_ended(sb_ami_map_t *m, call_t *c, int64_t at_us, cJSON *out,
                       const char *why) {
  char cid[ID_MAX + 40];
  call_id(m, c, cid, sizeof cid);
  cJSON *d = event(m, out, "call.ended", cid, "", uniqueid_ms(c->linkedid),
                   at_us);
  cJSON_AddStringToObject(d, "call_id", cid);
  cJSON_AddStringToObject(d, "direction", "inbound");
  const char *reason = why;
  if (reason == NULL) {
    if (c->abandoned)
      reason = "abandoned";
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
  add_str(d, "agent_id", c->agent);
  add_str(d, "queue_id", c->queue);
  add_str(d, "lead_id", c->lead);
  add_str(d, "campaign_id", c->campaign);
  add_str(d, "from_number", c->from);
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
  cJSON *d = event(m, out, "agent.logged_in", a->id, disc, login * 1000,
                   login > 0 && m->syncing ? login * 1000000 : at_us);
  cJSON_AddStringToObject(d, "agent_id", a->id);
  cJSON_AddStringToObject(d, "interface", a->id);
  cJSON *qs = cJSON_AddArrayToObject(d, "queue_ids");
  for (int i = 0; i < a->nqueues; i++)
    cJSON_AddItemToArray(qs, cJSON_CreateString(a->queues[i]));
  a->logged_in = 1;
}

static void agent_state(sb_ami_map_t *m, agent_t *a, const char *state,
                        const sb_ami_msg_t *msg, int64_t at_us, cJSON *out) {
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
  snprintf(disc, sizeof disc, "%s/%lld/%lld", state,
           when > 0 ? when : at_us / 1000000, num(msg, "CallsTaken", 0));
  cJSON *d = event(m, out, "agent.state_changed", a->id, disc, at_us / 1000,
                   at_us);
  cJSON_AddStringToObject(d, "agent_id", a->id);
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
              out);
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
  cJSON *d = event(m, out, "agent.logged_out", a->id, disc, at_us / 1000,
                   at_us);
  cJSON_AddStringToObject(d, "agent_id", a->id);
  cJSON_AddStringToObject(d, "reason", "manual");
  a->logged_in = 0;
  a->state = NULL;
}

/* ---- the dispatch -------------------------------------------------------*/

typedef enum {
  E_NEWCHANNEL = 1, E_HANGUP, E_JOIN, E_ABANDON, E_CALLED, E_CONNECT,
  E_COMPLETE, E_MEMBER, E_REMOVED, E_CHANNEL, E_HOLD, E_UNHOLD, E_NOTED
} ekind_t;

static const struct {
  const char *name;
  ekind_t kind;
} table[] = {
    {"Newchannel", E_NEWCHANNEL},
    {"Hangup", E_HANGUP},
    {"QueueCallerJoin", E_JOIN},
    {"QueueCallerAbandon", E_ABANDON},
    {"AgentCalled", E_CALLED},
    {"AgentConnect", E_CONNECT},
    {"AgentComplete", E_COMPLETE},
    {"QueueMemberAdded", E_MEMBER},
    {"QueueMemberStatus", E_MEMBER},
    {"QueueMemberPause", E_MEMBER},
    {"QueueMemberPenalty", E_MEMBER},
    {"QueueMemberRinginuse", E_MEMBER},
    {"QueueMember", E_MEMBER},
    {"QueueMemberRemoved", E_REMOVED},
    {"CoreShowChannel", E_CHANNEL},
    {"Hold", E_HOLD},
    {"Unhold", E_UNHOLD},
    /* read and used for nothing on purpose: the session's own, and what
     * the events above already say */
    {"FullyBooted", E_NOTED},
    {"QueueParams", E_NOTED},
    {"QueueCallerLeave", E_NOTED},
    {"QueueEntry", E_NOTED}, /* its call: CoreShowChannel */
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
  for (size_t i = 0; i < sizeof table / sizeof *table && !k; i++)
    if (strcasecmp(table[i].name, name) == 0)
      k = table[i].kind;
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
    break;
  case E_HANGUP: {
    const char *lid = sb_ami_get(msg, "Linkedid");
    const char *uid = sb_ami_get(msg, "Uniqueid");
    c = lid ? call_find(m, lid) : NULL;
    if (c == NULL || uid == NULL || !chan_remove(c, uid))
      break;
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
    call_id(m, c, cid, sizeof cid);
    d = event(m, out, "call.queued", cid, c->queue, uniqueid_ms(c->linkedid),
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
    d = event(m, out, "call.abandoned", cid, "", uniqueid_ms(c->linkedid), at);
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
    d = event(m, out, type, cid, known(dest) ? dest : iface,
              uniqueid_ms(known(dest) ? dest : c->linkedid), at);
    cJSON_AddStringToObject(d, "call_id", cid);
    cJSON_AddStringToObject(d, "agent_id", iface);
    add_str(d, "queue_id", sb_ami_get(msg, "Queue"));
    add_str(d, "agent_channel_id", dest);
    if (k == E_CALLED) {
      cJSON_AddStringToObject(d, "interface", iface);
      if (c->joined_us > 0)
        cJSON_AddNumberToObject(d, "wait_ms",
                                (double)((at - c->joined_us) / 1000));
      break;
    }
    c->answered_us = at;
    copy(c->agent, sizeof c->agent, iface);
    /* AgentConnect's HoldTime and RingTime are seconds */
    cJSON_AddNumberToObject(d, "wait_ms", (double)(num(msg, "HoldTime", 0) * 1000));
    cJSON_AddNumberToObject(d, "ring_ms", (double)(num(msg, "RingTime", 0) * 1000));
    break;
  }
  case E_COMPLETE: {
    const char *lid = sb_ami_get(msg, "Linkedid");
    if (lid && (c = call_find(m, lid)) != NULL) {
      c->talk_ms = num(msg, "TalkTime", 0) * 1000; /* seconds */
      copy(c->reason, sizeof c->reason, sb_ami_get(msg, "Reason"));
    }
    break;
  }
  case E_HOLD:
  case E_UNHOLD: {
    const char *lid = sb_ami_get(msg, "Linkedid");
    const char *uid = sb_ami_get(msg, "Uniqueid");
    if (lid == NULL || uid == NULL || (c = call_find(m, lid)) == NULL ||
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
    d = event(m, out, "call.hold", cid, disc, at / 1000, at);
    cJSON_AddStringToObject(d, "call_id", cid);
    cJSON_AddBoolToObject(d, "on_hold", k == E_HOLD);
    add_str(d, "agent_id", c->agent);
    if (k == E_UNHOLD)
      cJSON_AddNumberToObject(d, "hold_ms", (double)held_ms);
    else
      add_str(d, "music_class", sb_ami_get(msg, "MusicClass"));
    break;
  }
  case E_MEMBER:
    member(m, msg, at, out);
    break;
  case E_REMOVED:
    member_removed(m, msg, at, out);
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
  for (call_t *c = m->oldest, *next; c; c = next) {
    next = c->newer;
    if (!c->seen_sync)
      call_ended(m, c, now_us, out, c->abandoned ? "abandoned" : "other");
  }
  /* an agent no queue lists any more logged out while we were away */
  for (size_t h = 0; h < BUCKETS; h++)
    for (agent_t *a = m->agents[h]; a; a = a->next)
      if (a->logged_in && !a->seen_sync) {
        char disc[32];
        snprintf(disc, sizeof disc, "sync/%lld", (long long)(now_us / 1000000));
        cJSON *d = event(m, out, "agent.logged_out", a->id, disc,
                         now_us / 1000, now_us);
        cJSON_AddStringToObject(d, "agent_id", a->id);
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
