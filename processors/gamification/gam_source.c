/* Source events scored under the tenant's rules, and redemptions, handed to
 * the agent's partition as gamification.input (gam_int.h says why).
 *
 *   award   one per rule a source event matches (call.ended,
 *           call.dispositioned, call.connected, lead.status_changed,
 *           message.inbound naming an agent): the rule, its points under
 *           the multipliers in force at the event's time, the rule set's
 *           version and the event's local day in the tenant's zone. A
 *           call.dispositioned always sends one (rule empty when none
 *           matches): its call's slot, so that a changed disposition
 *           reverses what the one before it paid.
 *   redeem  a reward.redemption_requested checked against the catalogue
 *           (decision "invalid" when the reward is unknown, withdrawn, or
 *           priced otherwise than the request says; the cost is the
 *           catalogue's); the redemption's agent and reward are kept in
 *           keyed state on the redemption's partition, where its decision
 *           arrives too (both keyed by the redemption).
 *   decide  a reward.redemption_decided (a manager's approval or
 *           rejection), with the agent of the request.
 *
 * The input's id is derived from the source event's and the rule's, so a
 * retried batch sends the same ids and a replay sends none. */
#include "gam_int.h"

#include <stdio.h>
#include <string.h>

int gam__source_init(gam_t *x, const sb_schemas_t *s, sb_err_t *err) {
  for (int t = 0; t < GS_N; t++) {
    if (sb_codec_type(s, gam__source_types[t], &x->src_t[t], err) != 0 ||
        sb_codec_field(s, gam__source_types[t], "agent_id", &x->src_agent[t],
                       err) != 0)
      return err->code;
    sb_err_t e = SB_ERR_INIT; /* a field the type lacks reads as absent */
    sb_codec_field(s, gam__source_types[t], "call_id", &x->src_call[t], &e);
    sb_codec_field(s, gam__source_types[t], "lead_id", &x->src_lead[t], &e);
    for (int f = 0; f < GF_N; f++)
      sb_codec_field(s, gam__source_types[t], gam__field_names[f],
                     &x->src_f[t][f], &e);
  }
  return 0;
}

static const char *str_of(const sb_event_t *ev, sb_field_t h) {
  const char *v = h.kind == SB_FIELD_ENUM   ? sb_event_enum_name(ev, h)
                  : h.kind == SB_FIELD_STR ? sb_event_str(ev, h)
                                           : NULL;
  return v != NULL && v[0] != '\0' ? v : NULL;
}

static int scored(gam_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                  sb_err_t *err) {
  const char *agent = str_of(ev, x->src_agent[t]);
  if (agent == NULL)
    return 0;
  gam_src_t s;
  memset(&s, 0, sizeof s);
  s.source = t;
  for (int f = 0; f < GF_N; f++) {
    sb_field_t h = x->src_f[t][f];
    if (f < GF_NUM0) {
      s.str[f] = str_of(ev, h);
    } else if ((h.kind == SB_FIELD_LONG || h.kind == SB_FIELD_INT) &&
               sb_event_has(ev, h)) {
      s.has[f - GF_NUM0] = 1;
      s.num[f - GF_NUM0] = sb_event_i64(ev, h);
    }
  }
  const gam_rules_t *r = gam__rules_for(x, b, ev->tenant_id, NULL);
  const char *call = str_of(ev, x->src_call[t]);
  char slot[160];
  int dispo = t == GS_CALL_DISPO && call != NULL;
  if (dispo)
    snprintf(slot, sizeof slot, "call:%.150s", call);
  gam_input_t in = {
      .agent = agent,
      .kind = "award",
      .ref = ev->event_id,
      .version = r->version,
      .slot = dispo ? slot : NULL,
      .src_type = gam__source_types[t],
      .call = call,
      .lead = str_of(ev, x->src_lead[t]),
      .campaign = s.str[GF_CAMPAIGN_ID],
      .day = sb_tenant_day(b, ev->tenant_id, ev->occurred_at),
      .has_day = 1,
      .has_points = 1,
  };
  int sent = 0;
  for (int i = 0; i < r->nrules; i++) {
    const gam_rule_t *rule = &r->rules[i];
    if (!gam__rule_match(rule, &s))
      continue;
    in.rule = rule->id;
    in.points = gam__multiplied(r, rule, ev->occurred_at);
    char disc[96];
    snprintf(disc, sizeof disc, "gam.input/%s", rule->id);
    if (gam__emit_input(x, b, ev->tenant_id, &in, disc, err) != 0)
      return err->code;
    sent++;
  }
  if (sent == 0 && dispo) { /* the slot moves: what was paid is reversed */
    in.rule = "";
    in.points = 0;
    return gam__emit_input(x, b, ev->tenant_id, &in, "gam.input/", err);
  }
  return 0;
}

/* keyed state on the redemption's partition: "q|tenant|redemption" ->
 * "agent\treward" */
static int requested(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                     sb_err_t *err) {
  const sb_field_t *F = x->f[GT_REQUESTED];
  const char *rid = sb_event_str(ev, F[GX_REDEMPTION]);
  const char *agent = sb_event_str(ev, F[GX_AGENT]);
  const char *reward = sb_event_str(ev, F[GX_REWARD]);
  int64_t cost = sb_event_i64(ev, F[GX_COST]);
  if (rid == NULL || agent == NULL || reward == NULL)
    return sb_err_set(err, SB_EVALIDATE,
                      "reward.redemption_requested: needs redemption_id, "
                      "agent_id and reward_id");
  char key[400], val[300];
  snprintf(key, sizeof key, "q|%s|%s", ev->tenant_id, rid);
  const void *old;
  size_t len;
  if (sb_state_get(b, key, &old, &len) == 0)
    return 0; /* a repeated request: the first counts */
  int n = snprintf(val, sizeof val, "%s\t%s", agent, reward);
  if (n < 0 || (size_t)n >= sizeof val)
    return sb_err_set(err, SB_EVALIDATE, "redemption %s: names too long", rid);
  if (sb_state_put(b, key, val, (size_t)n, err) != 0)
    return err->code;
  /* the catalogue: W|tenant|reward -> "cost\tactive\tname" */
  char ck[300];
  snprintf(ck, sizeof ck, "W|%s|%s", ev->tenant_id, reward);
  const void *cv;
  size_t cl;
  const char *why = NULL;
  long long price = 0;
  int active = 0;
  char buf[64];
  if (sb_global_get(b, gam__globals, ck, &cv, &cl) != 0) {
    why = "no such reward";
  } else {
    snprintf(buf, sizeof buf, "%.*s", (int)(cl < 63 ? cl : 63),
             (const char *)cv);
    if (sscanf(buf, "%lld\t%d", &price, &active) != 2 || !active)
      why = "the reward is withdrawn";
    else if (price != cost)
      why = "the cost is not the catalogue's";
  }
  gam_input_t in = {.agent = agent,
                    .kind = "redeem",
                    .ref = rid,
                    .reward = reward,
                    .points = why ? cost : price,
                    .has_points = 1,
                    .decision = why ? "invalid" : NULL,
                    .reason = why};
  return gam__emit_input(x, b, ev->tenant_id, &in, "gam.input/redeem", err);
}

static int decided(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                   sb_err_t *err) {
  const sb_field_t *F = x->f[GT_DECIDED];
  const char *rid = sb_event_str(ev, F[GX_REDEMPTION]);
  const char *decision = sb_event_enum_name(ev, F[GX_DECISION]);
  char key[400], val[300];
  snprintf(key, sizeof key, "q|%s|%s", ev->tenant_id, rid ? rid : "");
  const void *v;
  size_t len;
  if (rid == NULL || decision == NULL ||
      sb_state_get(b, key, &v, &len) != 0 || len >= sizeof val) {
    sb_log(SB_LOG_WARN, "gamification",
           "a decision on a redemption never requested: ignored",
           SB_F_STR("event_id", ev->event_id),
           SB_F_STR("redemption_id", rid ? rid : "?"), SB_F_END);
    return 0;
  }
  memcpy(val, v, len);
  val[len] = '\0';
  char *tab = strchr(val, '\t');
  if (tab)
    *tab = '\0';
  gam_input_t in = {.agent = val,
                    .kind = "decide",
                    .ref = rid,
                    .reward = tab ? tab + 1 : NULL,
                    .decision = decision,
                    .reason = sb_event_str(ev, F[GX_REASON])};
  return gam__emit_input(x, b, ev->tenant_id, &in, "gam.input/decide", err);
}

int gam__source_event(gam_t *x, sb_batch_t *b, const sb_event_t *ev,
                      int *handled, sb_err_t *err) {
  *handled = 1;
  for (int t = 0; t < GS_N; t++)
    if (sb_event_type_is(ev, x->src_t[t]))
      return scored(x, b, ev, t, err);
  if (sb_event_type_is(ev, x->t[GT_REQUESTED]))
    return requested(x, b, ev, err);
  if (sb_event_type_is(ev, x->t[GT_DECIDED]))
    return decided(x, b, ev, err);
  *handled = 0;
  return 0;
}
