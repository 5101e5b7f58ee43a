/* What the routing processor hands the assignment processor: the inputs of
 * each tenant's decisions, as routing.input on sb.routing keyed by the
 * tenant (processors/assignment/assignment.h):
 *
 *   agent        from each agent event, the agent's own side (state and
 *                since when, queues and campaigns, skills, capacity)
 *   agent_call   from each call event naming an agent, its calls' side
 *                (ringing, on_call, wrapup, done; a call's end counted on
 *                the tenant's local day)
 *   lead_ready   a lead that can be routed (a campaign, scored,
 *                contactable, not closed, not assigned) when it becomes so
 *                or what it says changes (score, recycling, zone, channel,
 *                skills): its campaign is its queue, its channel and
 *                required and optional skills its own (lead v4; voice and
 *                none when not given), its zone its own (time_zone, else
 *                the phone's); the calling hours are checked for voice
 *                and sms (tcpa), not for email and chat
 *   lead_withdrawn  a lead sent before that no longer can be (closed, no
 *                consent, DNC); not for one assigned (the decision took it)
 *
 * Each is a derived event of the event (or timer) that caused it, its id
 * derived from that cause, so a retried batch sends the same ids and a
 * replay sends none (the kit). The two sides of an agent come from
 * different partitions; the assignment processor keeps each side's latest
 * and judges the state as the board does. */
#include "routing_int.h"

#include "book_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FI_ROUTE, FI_KIND, FI_REF, FI_REASON, FI_PAYLOAD };
static const char *const fields[RT_FI_N] = {"route_key", "kind", "ref_id",
                                            "reason", "payload"};

int rt__forward_init(routing_t *x, const sb_schemas_t *s, sb_err_t *err) {
  int rc = sb_codec_type(s, "routing.input", &x->t_input, err);
  for (int i = 0; rc == 0 && i < RT_FI_N; i++)
    rc = sb_codec_field(s, "routing.input", fields[i], &x->fin[i], err);
  return rc;
}

static int send(routing_t *x, sb_batch_t *b, const char *tenant,
                const char *kind, const char *ref, const char *reason,
                const char *payload, const sb_emit_t *o, sb_err_t *err) {
  sb_build_t *e = sb_emit_begin(b, x->t_input);
  sb_build_str(e, x->fin[FI_ROUTE], tenant);
  sb_build_enum(e, x->fin[FI_KIND], kind);
  sb_build_str(e, x->fin[FI_REF], ref);
  if (reason)
    sb_build_str(e, x->fin[FI_REASON], reason);
  if (payload)
    sb_build_str(e, x->fin[FI_PAYLOAD], payload);
  char disc[32];
  snprintf(disc, sizeof disc, "routing.input/%s", kind);
  sb_emit_t eo = o ? *o : (sb_emit_t){0};
  eo.discriminator = disc;
  eo.tenant_id = tenant;
  return sb_emit_end(b, e, &eo, err);
}

int rt__forward_send(routing_t *x, sb_batch_t *b, const char *tenant,
                     const char *kind, const char *ref, const char *payload,
                     sb_err_t *err) {
  return send(x, b, tenant, kind, ref, NULL, payload, NULL, err);
}

/* "a,b:2,c" into names (and levels after ':', 1 when none given) */
static int split(const char *list, char (*names)[ROUTING_NAME_MAX + 1],
                 int *levels, int max, int n) {
  for (const char *p = list ? list : ""; *p && n < max;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    const char *colon = memchr(p, ':', len);
    size_t nl = colon ? (size_t)(colon - p) : len;
    if (nl > 0 && nl <= ROUTING_NAME_MAX) {
      memcpy(names[n], p, nl);
      names[n][nl] = '\0';
      if (levels)
        levels[n] = colon ? atoi(colon + 1) : 1;
      n++;
    }
    p = e ? e + 1 : p + len;
  }
  return n;
}

static routing_state_t state_of(const char *s) {
  routing_state_t st;
  return s && routing_state_parse(s, &st) == 0 ? st : ROUTING_OFFLINE;
}

int rt__forward_agent(routing_t *x, sb_batch_t *b, const sb_event_t *ev,
                      const char *agent, const rt_agent_t *r, sb_err_t *err) {
  routing_agent_rec_t a;
  memset(&a, 0, sizeof a);
  snprintf(a.id, sizeof a.id, "%.*s", ROUTING_NAME_MAX, agent);
  a.state = state_of(r->state);
  a.state_at_us = r->state_at ? r->state_at : ev->occurred_at;
  a.as_of_us = r->seen_at ? r->seen_at : ev->occurred_at;
  a.idle_since_us = a.state == ROUTING_AVAILABLE ? a.state_at_us : 0;
  a.nqueues = split(r->queues, a.queues, NULL, ROUTING_QUEUES_MAX, 0);
  a.nqueues = split(r->campaigns, a.queues, NULL, ROUTING_QUEUES_MAX, a.nqueues);
  char names[ROUTING_SKILLS_MAX][ROUTING_NAME_MAX + 1];
  int levels[ROUTING_SKILLS_MAX];
  a.nskills = split(r->skills, names, levels, ROUTING_SKILLS_MAX, 0);
  for (int i = 0; i < a.nskills; i++) {
    memcpy(a.skills[i].name, names[i], sizeof names[i]);
    a.skills[i].level = levels[i];
  }
  a.capacity[ROUTING_CH_VOICE] = 1; /* unless said otherwise */
  int n = split(r->capacity, names, levels, ROUTING_SKILLS_MAX, 0);
  for (int i = 0; i < n; i++) {
    routing_channel_t ch;
    if (routing_channel_parse(names[i], &ch) == 0)
      a.capacity[ch] = levels[i] > 0 ? levels[i] : 0;
  }
  char *payload;
  size_t len;
  if (routing_agent_encode(&a, &payload, &len, err) != 0)
    return err->code;
  int rc = send(x, b, ev->tenant_id, "agent", a.id, NULL, payload, NULL, err);
  cJSON_free(payload);
  return rc;
}

int rt__forward_call(routing_t *x, sb_batch_t *b, const sb_event_t *ev,
                     const char *agent, const char *call_state, int ended,
                     sb_err_t *err) {
  routing_agent_rec_t a;
  memset(&a, 0, sizeof a);
  snprintf(a.id, sizeof a.id, "%.*s", ROUTING_NAME_MAX, agent);
  a.call_state = strcmp(call_state, "done") == 0 ? ROUTING_AVAILABLE
                                                 : state_of(call_state);
  a.call_at_us = ev->occurred_at;
  a.calls_day = sb_tenant_day(b, ev->tenant_id, ev->occurred_at);
  a.call_ended = ended;
  char *payload;
  size_t len;
  if (routing_agent_encode(&a, &payload, &len, err) != 0)
    return err->code;
  int rc =
      send(x, b, ev->tenant_id, "agent_call", a.id, NULL, payload, NULL, err);
  cJSON_free(payload);
  return rc;
}

static int closed(const rt_lead_t *l) {
  static const char *const done[] = {"lost",  "closed", "converted",
                                     "won",   "sold",   "dnc",
                                     "invalid", NULL};
  for (int i = 0; done[i]; i++)
    if (strcmp(l->status, done[i]) == 0)
      return 1;
  return l->dnc;
}

int rt__forward_lead(routing_t *x, sb_batch_t *b, const char *tenant,
                     const char *lead, rt_lead_t *l, const sb_emit_t *o,
                     sb_err_t *err) {
  int recycled = strcmp(l->status, "recycled") == 0;
  int want = l->campaign[0] && l->has_score && l->contactable &&
             !closed(l) && l->agent[0] == '\0';
  if (!want) {
    int rc = 0;
    if (l->routed && l->agent[0] == '\0')
      rc = send(x, b, tenant, "lead_withdrawn", lead,
                closed(l) ? (l->dnc ? "dnc" : "closed") : "not_contactable",
                NULL, o, err);
    l->routed = 0;
    return rc;
  }
  routing_lead_rec_t r;
  memset(&r, 0, sizeof r);
  snprintf(r.id, sizeof r.id, "%.*s", ROUTING_NAME_MAX, lead);
  snprintf(r.queue, sizeof r.queue, "%.*s", ROUTING_NAME_MAX, l->campaign);
  r.channel = (unsigned)l->channel < ROUTING_CH_N ? (routing_channel_t)l->channel
                                                  : ROUTING_CH_VOICE;
  r.units = 1;
  r.score = l->score;
  r.recycled = recycled;
  /* calls and texts keep the calling hours in the lead's zone; e-mail and
   * chat only their campaign's gate, if it has one */
  r.tcpa = r.channel == ROUTING_CH_VOICE || r.channel == ROUTING_CH_SMS;
  if (r.tcpa)
    snprintf(r.zone, sizeof r.zone, "%s", l->tz[0] ? l->tz : l->phone_tz);
  char names[ROUTING_SKILLS_MAX][ROUTING_NAME_MAX + 1];
  int levels[ROUTING_SKILLS_MAX];
  r.nrequired = split(l->required, names, levels, ROUTING_SKILLS_MAX, 0);
  for (int i = 0; i < r.nrequired; i++) {
    memcpy(r.required[i].name, names[i], sizeof names[i]);
    r.required[i].level = levels[i];
  }
  r.noptional = split(l->optional, names, levels, ROUTING_SKILLS_MAX, 0);
  for (int i = 0; i < r.noptional; i++) {
    memcpy(r.optional[i].name, names[i], sizeof names[i]);
    r.optional[i].level = levels[i];
  }
  char *payload;
  size_t len;
  if (routing_lead_encode(&r, &payload, &len, err) != 0)
    return err->code;
  /* sent again only when what it says changed (score, recycling, zone,
   * channel, skills) */
  uint32_t sig = 2166136261u;
  for (size_t i = 0; i < len; i++)
    sig = (sig ^ (unsigned char)payload[i]) * 16777619u;
  sig |= 1; /* never 0: a record of version 1 has none */
  int rc = 0;
  if (!l->routed || l->routed_sig != sig)
    rc = send(x, b, tenant, "lead_ready", lead, NULL, payload, o, err);
  cJSON_free(payload);
  if (rc == 0)
    l->routed = 1, l->routed_score = l->score, l->routed_recycled = recycled,
    l->routed_sig = sig;
  return rc;
}
