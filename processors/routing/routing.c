/* The routing processor: agent availability (agents.c) and lead scoring
 * (leads.c, scoring.c). The assignment strategies build on the readers of
 * routing.h. This file: the vtable, its tables, its configuration, and the
 * dispatch of events and timers.
 *
 * Reads (through its group) sb.agents and sb.calls (the board), sb.leads
 * (scores), sb.messages (engagement carried to leads) and sb.tenants
 * (rule sets, checked); keeps four global tables (agents, agent_calls,
 * rules, and the compliance processor's consent). Writes, in schema
 * routing:
 *   agents       the live agent board: one row per agent (see agents.c)
 *   agent_days   calls ended and talk time per agent and local day
 *   lead_scores  per lead: the score, its components, the rule set's
 *                version, contactability, when scored and when age moves
 *                it next
 *   rule_sets    every valid rule set published
 *   queues       each queue's latest configuration (queues.c)
 * and emits lead.scored (v2) and lead.engaged. */
#include "routing_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const sb_table_def_t rt__agent_days = {
    .name = "agent_days",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"agent_id", SB_COL_TEXT, SB_COL_OWNER},
                               {"day", SB_COL_DATE, 0},
                               {"calls", SB_COL_INT8, SB_MERGE_SUM},
                               {"talk_ms", SB_COL_INT8, SB_MERGE_SUM},
                               {0}},
    .key = (const char *const[]){"tenant_id", "agent_id", "day", NULL},
};

static const sb_table_def_t *const tables[] = {
    &rt__agent_days, &rt__lead_scores, &rt__rule_sets, &rt__queues, NULL};

/* what GET /v1/projections/routing/VIEW answers (sb_view_def_t) */
static const sb_view_def_t views[] = {
    {.name = "agents",
     .relation = "agents",
     .about = "the live agent board: state and since when, pause reason, "
              "current call and lead, load, calls today",
     .order = "agent_id",
     .filters = "agent=agent_id,team=team_id,state=state_now",
     .owner_col = "agent_id"},
    {.name = "agent_days",
     .relation = "agent_days",
     .about = "calls ended and talk time per agent and local day",
     .time_col = "day",
     .order = "day,agent_id",
     .filters = "agent=agent_id",
     .owner_col = "agent_id"},
    {.name = "lead_scores",
     .relation = "lead_scores",
     .about = "each lead's score, its components and the rule set",
     .order = "lead_id",
     .filters = "lead=lead_id,contactable=contactable"},
    {.name = "rule_sets",
     .relation = "rule_sets",
     .about = "the scoring rule sets published",
     .time_col = "published_at",
     .order = "published_at,event_id"},
    {0},
};

#define GRANT(t)                                                               \
  "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}." t " TO "                 \
                                                        "switchboard_app;\n"

/* the board's effective state: the later of the agent's own events and
 * its calls' (see routing_agent_get) */
#define CALL_WINS                                                              \
  "call_at IS NOT NULL AND (state_seen_at IS NULL OR call_at > state_seen_at)"

static const sb_proj_step_t migrations[] = {
    {1,
     "CREATE TABLE {schema}.agents (tenant_id text NOT NULL, agent_id text "
     "NOT NULL, state text, state_since timestamptz, state_seen_at "
     "timestamptz, pause_reason text, state_call_id text, logged_in_at "
     "timestamptz, team_id text, skills text, queues text, campaigns text, "
     "capacity text, profile_at timestamptz, profile_event_id text, "
     "call_state text, call_id text, call_at timestamptz, call_event_id "
     "text, last_call_ended_at timestamptz, calls_day date, calls_on_day "
     "bigint, time_zone text, current_lead_id text, lead_assigned_at "
     "timestamptz, lead_event_id text, "
     "state_now text GENERATED ALWAYS AS (CASE WHEN " CALL_WINS " THEN CASE "
     "WHEN call_state <> 'done' THEN call_state WHEN state IN ('offline', "
     "'paused') THEN state ELSE 'available' END ELSE state END) STORED, "
     "state_now_since timestamptz GENERATED ALWAYS AS (CASE WHEN " CALL_WINS
     " THEN call_at WHEN call_at > state_since THEN state_seen_at ELSE "
     "state_since END) STORED, "
     "current_call_id text GENERATED ALWAYS AS (CASE WHEN " CALL_WINS " THEN "
     "CASE WHEN call_state <> 'done' THEN call_id END ELSE state_call_id END) "
     "STORED, "
     "load_voice integer GENERATED ALWAYS AS (CASE WHEN (CASE WHEN " CALL_WINS
     " THEN call_state ELSE state END) IN ('ringing', 'on_call', "
     "'wrapup') THEN 1 ELSE 0 END) STORED, "
     "PRIMARY KEY (tenant_id, agent_id));\n"
     "CREATE TABLE {schema}.agent_days (tenant_id text NOT NULL, agent_id "
     "text NOT NULL, day date NOT NULL, calls bigint NOT NULL DEFAULT 0, "
     "talk_ms bigint NOT NULL DEFAULT 0, PRIMARY KEY (tenant_id, agent_id, "
     "day));\n"
     "CREATE TABLE {schema}.lead_scores (tenant_id text NOT NULL, lead_id "
     "text NOT NULL, score integer NOT NULL, previous_score integer, "
     "components jsonb NOT NULL, rules_version text NOT NULL, contactable "
     "boolean NOT NULL, contact_block_reason text, scored_at timestamptz NOT "
     "NULL, next_rescore_at timestamptz, PRIMARY KEY (tenant_id, "
     "lead_id));\n"
     "CREATE INDEX ON {schema}.lead_scores (tenant_id, score DESC);\n"
     "CREATE TABLE {schema}.rule_sets (tenant_id text NOT NULL, event_id "
     "text NOT NULL, rules_version text NOT NULL, published_at timestamptz "
     "NOT NULL, rules jsonb NOT NULL, PRIMARY KEY (tenant_id, "
     "event_id));\n" GRANT("agents") GRANT("agent_days") GRANT("lead_scores")
         GRANT("rule_sets")},
    {2,
     "CREATE TABLE {schema}.queues (tenant_id text NOT NULL, queue_id text "
     "NOT NULL, strategy text NOT NULL, relax_after_ms bigint, max_waiting "
     "integer, priority integer NOT NULL, service_level_s integer NOT NULL, "
     "required_skills text, configured_at timestamptz NOT NULL, event_id "
     "text NOT NULL, PRIMARY KEY (tenant_id, queue_id));\n" GRANT("queues")},
    {0, NULL},
};

/* ---- fields ------------------------------------------------------------ */

static const char *const type_names[RT_T_N] = {
    [RT_AGENT_IN] = "agent.logged_in",
    [RT_AGENT_OUT] = "agent.logged_out",
    [RT_AGENT_STATE] = "agent.state_changed",
    [RT_AGENT_SKILLS] = "agent.skills_changed",
    [RT_CALL_OFFERED] = "call.offered",
    [RT_CALL_CONNECTED] = "call.connected",
    [RT_CALL_ENDED] = "call.ended",
    [RT_CALL_DISPO] = "call.dispositioned",
    [RT_LEAD_CREATED] = "lead.created",
    [RT_LEAD_UPDATED] = "lead.updated",
    [RT_LEAD_STATUS] = "lead.status_changed",
    [RT_LEAD_ASSIGNED] = "lead.assigned",
    [RT_LEAD_RECYCLED] = "lead.recycled",
    [RT_LEAD_DNC] = "lead.dnc_flagged",
    [RT_LEAD_ENGAGED] = "lead.engaged",
    [RT_LEAD_SCORED] = "lead.scored",
    [RT_MSG_REQUESTED] = "message.requested",
    [RT_MSG_INBOUND] = "message.inbound",
    [RT_RULES] = "routing.rules_published",
    [RT_LEAD_RESCORE] = "lead.rescore_requested",
    [RT_LEAD_QUEUE] = "lead.queue_set",
};

static const char *const field_names[RF_F_N] = {
    [RF_AGENT_ID] = "agent_id",
    [RF_STATE] = "state",
    [RF_PAUSE_REASON] = "pause_reason",
    [RF_CALL_ID] = "call_id",
    [RF_TEAM_ID] = "team_id",
    [RF_SKILLS] = "skills",
    [RF_QUEUE_IDS] = "queue_ids",
    [RF_CAMPAIGN_IDS] = "campaign_ids",
    [RF_CHANNEL_CAPACITY] = "channel_capacity",
    [RF_CAPACITY] = "capacity",
    [RF_CHANGED_FIELDS] = "changed_fields",
    [RF_LEAD_ID] = "lead_id",
    [RF_TALK_MS] = "talk_ms",
    [RF_LEAD_SOURCE] = "lead_source",
    [RF_STATUS] = "status",
    [RF_CAMPAIGN_ID] = "campaign_id",
    [RF_PRIORITY] = "priority",
    [RF_VALUE] = "estimated_value_cents",
    [RF_PHONE_HMAC] = "phone_hmac",
    [RF_EMAIL_HMAC] = "email_hmac",
    [RF_KIND] = "kind",
    [RF_RULES_VERSION] = "rules_version",
    [RF_RULES_JSON] = "rules_json",
    [RF_TO_HMAC] = "to_address_hmac",
    [RF_FROM_HMAC] = "from_address_hmac",
    [RF_SCORE] = "score",
    [RF_MODEL_VERSION] = "model_version",
    [RF_PREVIOUS_SCORE] = "previous_score",
    [RF_FACTORS] = "factors",
    [RF_COMPONENTS] = "components_json",
    [RF_CONTACTABLE] = "contactable",
    [RF_BLOCK_REASON] = "contact_block_reason",
    [RF_NEXT_AT] = "next_rescore_at",
    [RF_SOURCE_EVENT_ID] = "source_event_id",
    [RF_SOURCE_TYPE] = "source_type",
    [RF_GRADE] = "grade",
    [RF_SOURCE] = "source",
    [RF_TIME_ZONE] = "time_zone",
    [RF_PHONE_TZ] = "phone_tz",
    [RF_QUEUE_ID] = "queue_id",
    [RF_CHANNEL] = "channel",
    [RF_REQUIRED_SKILLS] = "required_skills",
    [RF_OPTIONAL_SKILLS] = "optional_skills",
};

const char *rt__str(const routing_t *x, const sb_event_t *ev, int t, int f) {
  sb_field_t h = x->f[t][f];
  const char *v =
      h.kind == SB_FIELD_ENUM ? sb_event_enum_name(ev, h) : sb_event_str(ev, h);
  return v != NULL && v[0] != '\0' ? v : NULL;
}

int rt__type(const routing_t *x, const sb_event_t *ev) {
  for (int t = 0; t < RT_T_N; t++)
    if (sb_event_type_is(ev, x->t[t]))
      return t;
  return -1;
}

static void destroy(void *state) {
  routing_t *x = state;
  if (x == NULL)
    return;
  rt__agents_forget(x);
  rt__rules_free(x->defaults);
  for (size_t i = 0; i < sizeof x->cache / sizeof x->cache[0]; i++)
    rt__rules_free(x->cache[i].rules);
  free(x);
}

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  routing_t *x = calloc(1, sizeof *x);
  if (x == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  rt__decay_init();
  for (int t = 0; t < RT_T_N; t++) {
    if (sb_codec_type(kit->schemas, type_names[t], &x->t[t], err) != 0) {
      destroy(x);
      return err->code;
    }
    for (int f = 0; f < RF_F_N; f++) {
      sb_err_t e = SB_ERR_INIT; /* a field the type lacks reads as absent */
      sb_codec_field(kit->schemas, type_names[t], field_names[f], &x->f[t][f],
                     &e);
    }
  }
  if (sb_conf_int(kit->conf, "routing.max_agents_per_tenant", &x->max_agents,
                  err) != 0 ||
      sb_conf_int(kit->conf, "routing.decay_clock", &x->decay_wall, err) != 0 ||
      sb_conf_str(kit->conf, "routing.consent_purpose", &x->purpose, err) !=
          0 ||
      sb_conf_int(kit->conf, "routing.consent_wait_ms", &x->consent_wait_ms,
                  err) != 0 ||
      rt__rules_parse(rt__default_rules_json, RT_DEFAULT_VERSION, &x->defaults,
                      err) != 0 ||
      rt__forward_init(x, kit->schemas, err) != 0 ||
      rt__queues_init(x, kit->schemas, err) != 0) {
    destroy(x);
    return err->code;
  }
  *state = x;
  return 0;
}

/* ---- dispatch ------------------------------------------------------------ */

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  routing_t *x = state;
  int t = rt__type(x, ev);
  if (t < 0)
    return sb_event_type_is(ev, x->t_queue) ? rt__queue_event(x, b, ev, err)
                                            : 0;
  if (t == RT_RULES)
    return rt__rules_event(x, b, ev, err);
  if (t <= RT_CALL_DISPO &&
      (t <= RT_AGENT_SKILLS || rt__str(x, ev, t, RF_AGENT_ID) != NULL) &&
      rt__agents_event(x, b, ev, t, err) != 0)
    return err->code;
  if (t == RT_CALL_ENDED || t >= RT_LEAD_CREATED)
    return rt__leads_event(x, b, ev, t, err);
  return 0;
}

static int timer(void *state, sb_batch_t *b, const sb_timer_t *t,
                 sb_err_t *err) {
  return rt__leads_timer(state, b, t, err);
}

static int begin(void *state, sb_batch_t *b, sb_err_t *err) {
  (void)b;
  (void)err;
  rt__agents_forget(state);
  return 0;
}

static int commit(void *state, sb_batch_t *b, sb_err_t *err) {
  return rt__agents_commit(state, b, err);
}

static void forget(void *state) { rt__agents_forget(state); }

static const sb_conf_prop_t conf_rows[] = {
    {"routing.max_agents_per_tenant", SB_CT_INT, 0, 1, 100000, "5000",
     "SWITCHBOARD_ROUTING_MAX_AGENTS_PER_TENANT", "N", NULL, 0,
     "Agents the routing processor keeps per tenant (every instance holds "
     "them all); an agent past it is refused, logged."},
    {"routing.decay_clock", SB_CT_ENUM, 0, 0, 0, "event",
     "SWITCHBOARD_ROUTING_DECAY_CLOCK", "CLOCK", "event,wall", 0,
     "What moves a lead's score as it ages: event (the lead's partition's "
     "event time: a replay decays as the first run did) or wall (the wall "
     "clock: decays while no events arrive)."},
    {"routing.consent_purpose", SB_CT_STR, 0, 0, 0, "sales_outreach",
     "SWITCHBOARD_ROUTING_CONSENT_PURPOSE", "PURPOSE", NULL, 0,
     "The consent purpose a lead must have given (for the voice channel) to "
     "be scored contactable."},
    {"routing.consent_wait_ms", SB_CT_INT, 0, 0, 600000, "10000",
     "SWITCHBOARD_ROUTING_CONSENT_WAIT_MS", "MS", NULL, 0,
     "How long a new lead refused for want of consent is looked at again "
     "(every 500 ms, by the wall clock): the consent table is read from its "
     "own topic, so a consent posted just before its lead may reach it "
     "after the lead (0: never look again before the lead's next event)."},
    {0},
};

const sb_processor_vt_t sb_routing_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "routing",
    .topics =
        (const char *const[]){SB_TOPIC_LEADS, SB_TOPIC_AGENTS, SB_TOPIC_CALLS,
                              SB_TOPIC_MESSAGES, SB_TOPIC_TENANTS, NULL},
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .destroy = destroy,
    .commit = commit,
    .abort = forget,
    .committed = forget,
    .begin = begin,
    .timer = timer,
    .flags = SB_PROCESSOR_KEYED_STATE,
    .globals = rt__globals,
    .conf = conf_rows,
    .views = views,
};
