/* The campaigns processor: campaign schedules, dial windows, calling
 * hours, attempts and recycling.
 *
 * Reads sb.campaigns (campaign.created, campaign.updated,
 * campaign.state_changed), sb.leads (lead.created, lead.updated, and its
 * own lead.attempt_recorded) and sb.calls (call.dispositioned), and keeps,
 * in schema campaigns:
 *
 *   schedule        per campaign: state and since when, start and end,
 *                   the next transition the schedule will make and when,
 *                   the dial windows (normalised text), attempts and retry
 *                   delay.
 *   transitions     every lifecycle move, applied or refused, with who
 *                   asked (the schedule, a manager) and why; a refused one
 *                   is a decision recorded here, not a dead letter: the
 *                   event is well formed, the move is not allowed.
 *   lead_attempts   per lead: campaign, the zone its calling hours are
 *                   judged in and where that came from, attempts, recycles,
 *                   status (ready, held, waiting, done, exhausted, never),
 *                   when it may next be dialled, recycled (ahead of fresh
 *                   leads).
 *
 * The lifecycle runs on wall-clock timers (sb_timer_set SB_TIMER_WALL),
 * not event time: a campaign starts when its start time comes whether or
 * not any event arrives on its partition (event time only moves with
 * events, and sb.campaigns is quiet). A replay fires the timers whose time
 * has passed at once; the events they emit take their id from (timer key,
 * due time) and their time from the due time, so a replay emits the same
 * events with the same ids. Lifecycle state is keyed state on the
 * campaign's partition; the settings the lead side needs (zone, windows,
 * attempts, retry delay) are a global table of sb.campaigns, since a
 * lead's partition is not its campaign's. */
#include "campaigns.h"
#include "campaigns_int.h"

#include "book_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables ------------------------------------------------------------ */

#define R SB_MERGE_REPLACE
#define K SB_MERGE_KEEP

static const sb_table_def_t schedule_table = {
    .name = "schedule",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"campaign_id", SB_COL_TEXT, 0},
                               {"name", SB_COL_TEXT, R},
                               {"state", SB_COL_TEXT, R},
                               {"state_since", SB_COL_TIMESTAMPTZ, R},
                               {"time_zone", SB_COL_TEXT, R},
                               {"starts_at", SB_COL_TIMESTAMPTZ, R},
                               {"ends_at", SB_COL_TIMESTAMPTZ, R},
                               {"next_transition", SB_COL_TEXT, R},
                               {"next_transition_at", SB_COL_TIMESTAMPTZ, R},
                               {"dial_windows", SB_COL_TEXT, R},
                               {"max_attempts", SB_COL_INT4, R},
                               {"retry_delay_s", SB_COL_INT4, R},
                               {0}},
    .key = (const char *const[]){"tenant_id", "campaign_id", NULL},
};

static const sb_table_def_t transitions_table = {
    .name = "transitions",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"campaign_id", SB_COL_TEXT, 0},
                               {"at", SB_COL_TIMESTAMPTZ, 0},
                               {"cause", SB_COL_TEXT, 0},
                               {"from_state", SB_COL_TEXT, K},
                               {"to_state", SB_COL_TEXT, K},
                               {"requested_by", SB_COL_TEXT, K},
                               {"outcome", SB_COL_TEXT, K},
                               {"reason", SB_COL_TEXT, K},
                               {0}},
    .key = (const char *const[]){"tenant_id", "campaign_id", "at", "cause",
                                 NULL},
};

static const sb_table_def_t *const tables[] = {
    &schedule_table, &transitions_table, &cp_lead_table, NULL};

#define GRANT(t)                                                               \
  "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}." t " TO switchboard_app;\n"

static const sb_proj_step_t migrations[] = {
    {1,
     "CREATE TABLE {schema}.schedule (tenant_id text NOT NULL, campaign_id "
     "text NOT NULL, name text, state text NOT NULL, state_since timestamptz "
     "NOT NULL, time_zone text, starts_at timestamptz, ends_at timestamptz, "
     "next_transition text, next_transition_at timestamptz, dial_windows "
     "text NOT NULL, max_attempts integer NOT NULL, retry_delay_s integer "
     "NOT NULL, PRIMARY KEY (tenant_id, campaign_id));\n"
     "CREATE TABLE {schema}.transitions (tenant_id text NOT NULL, "
     "campaign_id text NOT NULL, at timestamptz NOT NULL, cause text NOT "
     "NULL, from_state text, to_state text NOT NULL, requested_by text NOT "
     "NULL, outcome text NOT NULL CHECK (outcome IN ('applied', 'refused')), "
     "reason text, PRIMARY KEY (tenant_id, campaign_id, at, cause));\n"
     "CREATE TABLE {schema}.lead_attempts (tenant_id text NOT NULL, lead_id "
     "text NOT NULL, campaign_id text, zone text NOT NULL, zone_source text "
     "NOT NULL, attempts integer NOT NULL, max_attempts integer NOT NULL, "
     "recycles integer NOT NULL, status text NOT NULL, next_attempt_at "
     "timestamptz, last_disposition text, last_attempt_at timestamptz, "
     "recycled boolean NOT NULL, priority integer, PRIMARY KEY (tenant_id, "
     "lead_id));\n"
     "CREATE INDEX ON {schema}.lead_attempts (tenant_id, campaign_id, "
     "status, recycled DESC, next_attempt_at);\n" GRANT("schedule")
         GRANT("transitions") GRANT("lead_attempts")},
    {0, NULL},
};

/* ---- fields ------------------------------------------------------------ */

static const char *const type_names[T_N] = {
    "campaign.created", "campaign.updated",  "campaign.state_changed",
    "lead.created",     "lead.updated",      "call.dispositioned",
    "lead.attempt_recorded", "lead.recycled"};

static const char *const field_names[F_N] = {
    "campaign_id", "name", "state", "previous_state", "reason", "starts_at",
    "ends_at", "time_zone", "dial_window_start_minute",
    "dial_window_end_minute", "dial_days", "dial_windows", "max_attempts",
    "retry_delay_seconds", "changed_fields", "source", "lead_id", "phone_tz",
    "call_id", "disposition", "final", "agent_id", "callback_at", "priority",
    "status", "recycle_count", "attempt_count", "next_attempt_at"};

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  cp_t *x = calloc(1, sizeof *x);
  if (x == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  for (int t = 0; t < T_N; t++) {
    if (sb_codec_type(kit->schemas, type_names[t], &x->t[t], err) != 0) {
      free(x);
      return err->code;
    }
    for (int f = 0; f < F_N; f++) {
      sb_err_t e = SB_ERR_INIT; /* a field the type lacks reads as absent */
      sb_codec_field(kit->schemas, type_names[t], field_names[f], &x->f[t][f],
                     &e);
    }
  }
  static const char *const in[4] = {"route_key", "kind", "ref_id", "payload"};
  int rc = sb_codec_type(kit->schemas, "routing.input", &x->t_input, err);
  for (int i = 0; rc == 0 && i < 4; i++)
    rc = sb_codec_field(kit->schemas, "routing.input", in[i], &x->fin[i], err);
  if (rc != 0) {
    free(x);
    return rc;
  }
  *state = x;
  return 0;
}

static void destroy(void *state) { free(state); }

const char *cp_str(const cp_t *x, const sb_event_t *ev, int t, int f) {
  sb_field_t h = x->f[t][f];
  const char *v = h.kind == SB_FIELD_ENUM ? sb_event_enum_name(ev, h)
                                          : sb_event_str(ev, h);
  return v != NULL && v[0] != '\0' ? v : NULL;
}

int cp_own(const cp_t *x, const sb_event_t *ev, int t) {
  const char *s = cp_str(x, ev, t, F_SOURCE);
  return s != NULL && strcmp(s, CP_SOURCE) == 0;
}

int cp_key(char *buf, size_t sz, char kind, const char *tenant,
           const char *id, sb_err_t *err) {
  int n = snprintf(buf, sz, "%c|%s|%s", kind, tenant, id);
  if (n < 0 || (size_t)n >= sz)
    return sb_err_set(err, SB_EVALIDATE, "campaigns: key of %s/%s too long",
                      tenant, id);
  return 0;
}

int cp_key_split(const char *key, char *tenant, size_t tsz, char *id,
                 size_t isz) {
  const char *a = strchr(key, '|'), *b = a ? strchr(a + 1, '|') : NULL;
  if (b == NULL || (size_t)(b - a - 1) >= tsz || strlen(b + 1) >= isz)
    return -1;
  memcpy(tenant, a + 1, (size_t)(b - a - 1));
  tenant[b - a - 1] = '\0';
  snprintf(id, isz, "%s", b + 1);
  return 0;
}

int cp_window(const camp_t *c, sb_cw_window_t *w, sb_err_t *err) {
  memset(w, 0, sizeof *w);
  if (c->tz[0] != '\0' && sb_tz_load(c->tz, &w->tz, err) != 0)
    return err->code;
  char buf[SB_CW_TEXT_MAX];
  snprintf(buf, sizeof buf, "%s", c->windows);
  for (char *save = NULL, *it = strtok_r(buf, ",", &save); it;
       it = strtok_r(NULL, ",", &save))
    if (sb_cw_add(w, it, err) != 0)
      return err->code;
  return 0;
}

/* ---- settings from campaign.created / campaign.updated ------------------ */

static int listed(const cp_t *x, const sb_event_t *ev, int t,
                  const char *name) {
  if (t == T_CREATED)
    return 1;
  sb_field_t h = x->f[t][F_CHANGED];
  for (size_t i = 0, n = sb_event_count(ev, h); i < n; i++)
    if (strcmp(sb_event_str_at(ev, h, i), name) == 0)
      return 1;
  return 0;
}

static int64_t ts_or_0(const cp_t *x, const sb_event_t *ev, int t, int f) {
  return sb_event_has(ev, x->f[t][f]) ? sb_event_i64(ev, x->f[t][f]) : 0;
}

/* Applies the settings the event sets to c (created: all of them, from a
 * zeroed c). SB_EVALIDATE naming the event and field for a bad one. */
static int camp_apply(const cp_t *x, const sb_event_t *ev, int t, camp_t *c,
                      sb_err_t *err) {
  const char *id = cp_str(x, ev, t, F_CAMPAIGN_ID);
  const char *what = type_names[t];
  if (t == T_CREATED) {
    memset(c, 0, sizeof *c);
    c->ver = CAMP_VER;
    const char *st = cp_str(x, ev, t, F_STATE);
    c->state = st ? sb_cw_state_of(st) : SB_CW_DRAFT;
    if (c->state < 0)
      return sb_err_set(err, SB_EVALIDATE, "%s %s: unknown state %s", what,
                        id, st);
    c->state_at = ev->occurred_at;
    c->retry_s = -1;
    sb_cw_window_t w;
    sb_cw_all_day(&w, NULL);
    sb_cw_format(&w, c->windows);
  }
  if (listed(x, ev, t, "name"))
    snprintf(c->name, sizeof c->name, "%s",
             cp_str(x, ev, t, F_NAME) ? cp_str(x, ev, t, F_NAME) : "");
  if (listed(x, ev, t, "starts_at"))
    c->starts_at = ts_or_0(x, ev, t, F_STARTS_AT);
  if (listed(x, ev, t, "ends_at"))
    c->ends_at = ts_or_0(x, ev, t, F_ENDS_AT);
  if (c->starts_at && c->ends_at && c->ends_at <= c->starts_at)
    return sb_err_set(err, SB_EVALIDATE,
                      "%s %s: ends_at is not after starts_at", what, id);
  if (listed(x, ev, t, "max_attempts")) {
    int64_t v = sb_event_i64(ev, x->f[t][F_MAX_ATTEMPTS]);
    if (sb_event_has(ev, x->f[t][F_MAX_ATTEMPTS]) && (v < 1 || v > 1000))
      return sb_err_set(err, SB_EVALIDATE,
                        "%s %s: max_attempts %lld: want 1 to 1000", what, id,
                        (long long)v);
    c->max_attempts = sb_event_has(ev, x->f[t][F_MAX_ATTEMPTS]) ? (int32_t)v : 0;
  }
  if (listed(x, ev, t, "retry_delay_seconds")) {
    int64_t v = sb_event_i64(ev, x->f[t][F_RETRY_S]);
    if (sb_event_has(ev, x->f[t][F_RETRY_S]) && (v < 0 || v > 366 * 86400))
      return sb_err_set(err, SB_EVALIDATE,
                        "%s %s: retry_delay_seconds %lld: want 0 to a year",
                        what, id, (long long)v);
    c->retry_s = sb_event_has(ev, x->f[t][F_RETRY_S]) ? (int32_t)v : -1;
  }
  if (listed(x, ev, t, "time_zone")) {
    const char *tz = cp_str(x, ev, t, F_TIME_ZONE);
    const sb_tz_t *z;
    sb_err_t e = SB_ERR_INIT;
    if (tz != NULL && sb_tz_load(tz, &z, &e) != 0)
      return sb_err_set(err, SB_EVALIDATE, "%s %s: time_zone: %s", what, id,
                        e.msg);
    snprintf(c->tz, sizeof c->tz, "%s", tz ? tz : "");
  }
  int win = listed(x, ev, t, "dial_windows") ||
            listed(x, ev, t, "dial_window_start_minute") ||
            listed(x, ev, t, "dial_window_end_minute") ||
            listed(x, ev, t, "dial_days");
  if (win) {
    sb_cw_window_t w;
    sb_err_t e = SB_ERR_INIT;
    memset(&w, 0, sizeof w);
    sb_field_t dw = x->f[t][F_DIAL_WINDOWS], dd = x->f[t][F_DIAL_DAYS];
    sb_field_t ws = x->f[t][F_WIN_START], we = x->f[t][F_WIN_END];
    int rc = 0;
    if (sb_event_count(ev, dw) > 0) {
      for (size_t i = 0, n = sb_event_count(ev, dw); rc == 0 && i < n; i++)
        rc = sb_cw_add(&w, sb_event_str_at(ev, dw, i), &e);
    } else if (sb_event_has(ev, ws) || sb_event_has(ev, we) ||
               sb_event_count(ev, dd) > 0) {
      const char *days[7];
      size_t n = sb_event_count(ev, dd);
      for (size_t i = 0; i < n && i < 7; i++)
        days[i] = sb_event_str_at(ev, dd, i);
      rc = sb_cw_add_days(&w, sb_event_has(ev, ws) ? (int)sb_event_i64(ev, ws) : 0,
                          sb_event_has(ev, we) ? (int)sb_event_i64(ev, we) : 1440,
                          days, n > 7 ? 7 : n, &e);
    } else {
      sb_cw_all_day(&w, NULL);
    }
    if (rc != 0)
      return sb_err_set(err, SB_EVALIDATE, "%s %s: %s", what, id, e.msg);
    sb_cw_format(&w, c->windows);
  }
  return 0;
}

/* ---- the global table of campaign settings ------------------------------ */

static int reduce(void *state, sb_global_t *g, const sb_event_t *ev,
                  sb_err_t *err) {
  cp_t *x = state;
  int t = sb_event_type_is(ev, x->t[T_CREATED])   ? T_CREATED
          : sb_event_type_is(ev, x->t[T_UPDATED]) ? T_UPDATED
                                                  : -1;
  if (t < 0)
    return 0;
  const char *id = cp_str(x, ev, t, F_CAMPAIGN_ID);
  char key[CP_ID_MAX * 2 + 8];
  if (id == NULL || cp_key(key, sizeof key, 'G', ev->tenant_id, id, err) != 0)
    return id == NULL ? sb_err_set(err, SB_EVALIDATE, "no campaign_id")
                      : err->code;
  camp_t c;
  const void *v;
  size_t len;
  memset(&c, 0, sizeof c);
  if (t == T_UPDATED) {
    if (sb_global_find(g, key, &v, &len) != 0 || len != sizeof c)
      return sb_err_set(err, SB_ENOENT, "campaign.updated %s: no "
                        "campaign.created before it", id);
    memcpy(&c, v, sizeof c);
  }
  if (camp_apply(x, ev, t, &c, err) != 0)
    return err->code;
  c.name[0] = '\0'; /* the lead side needs the settings only */
  return sb_global_put(g, key, &c, sizeof c, err);
}

const sb_global_def_t cp_globals[] = {
    {"campaigns", SB_TOPIC_CAMPAIGNS, reduce},
    {0},
};

int cp_campaign_find(sb_batch_t *b, const char *tenant, const char *id,
                     camp_t *out) {
  char key[CP_ID_MAX * 2 + 8];
  sb_err_t e = SB_ERR_INIT;
  const void *v;
  size_t len;
  if (id == NULL || cp_key(key, sizeof key, 'G', tenant, id, &e) != 0 ||
      sb_global_get(b, &cp_globals[0], key, &v, &len) != 0 ||
      len != sizeof *out)
    return SB_ENOENT;
  memcpy(out, v, sizeof *out);
  return 0;
}

/* ---- the lifecycle -------------------------------------------------------- */

static int schedule_row(sb_batch_t *b, const char *tenant, const char *id,
                        const camp_t *c, sb_err_t *err) {
  const char *next = NULL;
  int64_t next_at = 0;
  if (c->state == SB_CW_SCHEDULED && c->starts_at)
    next = "active", next_at = c->starts_at;
  else if ((c->state == SB_CW_SCHEDULED || c->state == SB_CW_ACTIVE ||
            c->state == SB_CW_PAUSED) && c->ends_at)
    next = "completed", next_at = c->ends_at;
  sb_val_t none = SB_V_NULL;
  return sb_rows_add(
      b, &schedule_table,
      (const sb_val_t[]){
          SB_V_TEXT(tenant), SB_V_TEXT(id),
          SB_V_TEXT(c->name[0] ? c->name : NULL),
          SB_V_TEXT(sb_cw_state_name(c->state)), SB_V_TIMESTAMPTZ(c->state_at),
          SB_V_TEXT(c->tz[0] ? c->tz : NULL),
          c->starts_at ? (sb_val_t)SB_V_TIMESTAMPTZ(c->starts_at) : none,
          c->ends_at ? (sb_val_t)SB_V_TIMESTAMPTZ(c->ends_at) : none,
          SB_V_TEXT(next), next ? (sb_val_t)SB_V_TIMESTAMPTZ(next_at) : none,
          SB_V_TEXT(c->windows),
          SB_V_INT4(cp_max_attempts(c)), SB_V_INT4(cp_retry_s(c))},
      err);
}

static int transition_row(sb_batch_t *b, const char *tenant, const char *id,
                          int64_t at, const char *cause, int from, int to,
                          const char *by, int applied, const char *reason,
                          sb_err_t *err) {
  return sb_rows_add(
      b, &transitions_table,
      (const sb_val_t[]){
          SB_V_TEXT(tenant), SB_V_TEXT(id), SB_V_TIMESTAMPTZ(at),
          SB_V_TEXT(cause), SB_V_TEXT(from < 0 ? NULL : sb_cw_state_name(from)),
          SB_V_TEXT(sb_cw_state_name(to)), SB_V_TEXT(by),
          SB_V_TEXT(applied ? "applied" : "refused"), SB_V_TEXT(reason)},
      err);
}

/* The start and end timers the state calls for. */
static int set_timers(sb_batch_t *b, const char *tenant, const char *id,
                      const camp_t *c, sb_err_t *err) {
  char ks[CP_ID_MAX * 2 + 8], ke[CP_ID_MAX * 2 + 8];
  if (cp_key(ks, sizeof ks, 'S', tenant, id, err) != 0 ||
      cp_key(ke, sizeof ke, 'E', tenant, id, err) != 0)
    return err->code;
  int start = c->state == SB_CW_SCHEDULED && c->starts_at;
  int end = (c->state == SB_CW_SCHEDULED || c->state == SB_CW_ACTIVE ||
             c->state == SB_CW_PAUSED) && c->ends_at;
  if ((start ? sb_timer_set(b, ks, c->starts_at, SB_TIMER_WALL, err)
             : sb_timer_cancel(b, ks, err)) != 0 ||
      (end ? sb_timer_set(b, ke, c->ends_at, SB_TIMER_WALL, err)
           : sb_timer_cancel(b, ke, err)) != 0)
    return err->code;
  return 0;
}

static int load_camp(sb_batch_t *b, const char *key, camp_t *c) {
  const void *v;
  size_t len;
  if (sb_state_get(b, key, &v, &len) != 0 || len != sizeof *c)
    return SB_ENOENT;
  memcpy(c, v, sizeof *c);
  return 0;
}

/* The campaign's gate, as routing.input kind campaign: closed unless the
 * campaign is active; its dial window in its zone (the assignment
 * processor holds its leads outside it and outside their calling hours).
 * disc tells two gates one cause sends apart (a timer's). */
static int gate(const cp_t *x, sb_batch_t *b, const char *tenant,
                const char *id, const camp_t *c, const char *disc,
                sb_err_t *err) {
  routing_queue_rec_t q;
  memset(&q, 0, sizeof q);
  snprintf(q.id, sizeof q.id, "%.*s", ROUTING_NAME_MAX, id);
  q.strategy = ROUTING_LONGEST_WAIT; /* not the gate's: kept by the book */
  q.gated = 1;
  q.paused = c->state != SB_CW_ACTIVE;
  snprintf(q.window, sizeof q.window, "%s", c->windows);
  snprintf(q.zone, sizeof q.zone, "%s", c->tz);
  char *payload;
  size_t len;
  if (routing_queue_encode(&q, &payload, &len, err) != 0)
    return err->code;
  sb_build_t *e = sb_emit_begin(b, x->t_input);
  sb_build_str(e, x->fin[0], tenant);
  sb_build_enum(e, x->fin[1], "campaign");
  sb_build_str(e, x->fin[2], q.id);
  sb_build_str(e, x->fin[3], payload);
  sb_emit_t o = {.tenant_id = tenant, .discriminator = disc};
  int rc = sb_emit_end(b, e, &o, err);
  cJSON_free(payload);
  return rc;
}

static int store(const cp_t *x, sb_batch_t *b, const char *key,
                 const char *tenant, const char *id, const camp_t *c,
                 const char *disc, sb_err_t *err) {
  if (sb_state_put(b, key, c, sizeof *c, err) != 0 ||
      set_timers(b, tenant, id, c, err) != 0 ||
      gate(x, b, tenant, id, c, disc, err) != 0)
    return err->code;
  return schedule_row(b, tenant, id, c, err);
}

static int on_campaign(cp_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                       sb_err_t *err) {
  const char *id = cp_str(x, ev, t, F_CAMPAIGN_ID);
  char key[CP_ID_MAX * 2 + 8];
  camp_t c;
  if (id == NULL)
    return sb_err_set(err, SB_EVALIDATE, "%s: no campaign_id", type_names[t]);
  if (cp_key(key, sizeof key, 'C', ev->tenant_id, id, err) != 0)
    return err->code;
  if (t == T_UPDATED && load_camp(b, key, &c) != 0)
    return sb_err_set(err, SB_EVALIDATE,
                      "campaign.updated %s: no campaign.created before it", id);
  if (camp_apply(x, ev, t, &c, err) != 0)
    return err->code;
  if (t == T_CREATED &&
      transition_row(b, ev->tenant_id, id, ev->occurred_at, ev->event_id, -1,
                     c.state, "created", 1, NULL, err) != 0)
    return err->code;
  return store(x, b, key, ev->tenant_id, id, &c, "gate", err);
}

/* A manager's campaign.state_changed: applied when the move is legal,
 * recorded as refused (with the reason) otherwise. Its own, read back,
 * were applied when emitted. */
static int on_state(cp_t *x, sb_batch_t *b, const sb_event_t *ev,
                    sb_err_t *err) {
  if (cp_own(x, ev, T_STATE))
    return 0;
  const char *id = cp_str(x, ev, T_STATE, F_CAMPAIGN_ID);
  const char *to_s = cp_str(x, ev, T_STATE, F_STATE);
  char key[CP_ID_MAX * 2 + 8], why[256];
  camp_t c;
  int to = sb_cw_state_of(to_s);
  if (id == NULL || to < 0)
    return sb_err_set(err, SB_EVALIDATE,
                      "campaign.state_changed: no campaign_id or state");
  if (cp_key(key, sizeof key, 'C', ev->tenant_id, id, err) != 0)
    return err->code;
  if (load_camp(b, key, &c) != 0)
    return transition_row(b, ev->tenant_id, id, ev->occurred_at, ev->event_id,
                          -1, to, "manager", 0,
                          "no campaign.created for this campaign", err);
  if (!sb_cw_transition_ok(c.state, to, why, sizeof why)) {
    sb_log(SB_LOG_WARN, CP_NAME, "campaign state change refused",
           SB_F_STR("tenant", ev->tenant_id), SB_F_STR("campaign", id),
           SB_F_STR("event", ev->event_id), SB_F_STR("reason", why), SB_F_END);
    return transition_row(b, ev->tenant_id, id, ev->occurred_at, ev->event_id,
                          c.state, to, "manager", 0, why, err);
  }
  const char *reason = cp_str(x, ev, T_STATE, F_REASON);
  if (transition_row(b, ev->tenant_id, id, ev->occurred_at, ev->event_id,
                     c.state, to, "manager", 1, reason, err) != 0)
    return err->code;
  c.state = to;
  c.state_at = ev->occurred_at;
  return store(x, b, key, ev->tenant_id, id, &c, "gate", err);
}

/* A start or end time came: the schedule moves the campaign on and says
 * so with campaign.state_changed. */
static int lifecycle_timer(cp_t *x, sb_batch_t *b, const sb_timer_t *tm,
                           sb_err_t *err) {
  char tenant[72], id[CP_ID_MAX + 1], key[CP_ID_MAX * 2 + 8];
  camp_t c;
  if (cp_key_split(tm->key, tenant, sizeof tenant, id, sizeof id) != 0)
    return sb_err_set(err, SB_EINVAL, "campaigns: timer key %s", tm->key);
  if (cp_key(key, sizeof key, 'C', tenant, id, err) != 0)
    return err->code;
  if (load_camp(b, key, &c) != 0)
    return 0; /* gone: nothing to move */
  int start = tm->key[0] == 'S';
  int to = start ? SB_CW_ACTIVE : SB_CW_COMPLETED;
  const char *reason = start ? "starts_at reached" : "ends_at reached";
  if (!sb_cw_transition_ok(c.state, to, NULL, 0) ||
      (start && c.state != SB_CW_SCHEDULED))
    return 0; /* moved meanwhile by hand: the schedule has nothing to do */
  int from = c.state;
  int64_t since = c.state_at;
  c.state = to;
  c.state_at = tm->due_us;
  sb_field_t *f = x->f[T_STATE];
  sb_build_t *e = sb_emit_begin(b, x->t[T_STATE]);
  sb_build_str(e, f[F_CAMPAIGN_ID], id);
  sb_build_enum(e, f[F_STATE], sb_cw_state_name(to));
  sb_build_enum(e, f[F_PREV_STATE], sb_cw_state_name(from));
  sb_build_str(e, f[F_REASON], reason);
  /* the id: (timer key, due time, when the state it leaves began): a
   * campaign set back to draft and scheduled again for the same start
   * makes a new decision, not the same one again */
  char disc[40];
  snprintf(disc, sizeof disc, "from-%lld", (long long)since);
  sb_emit_t o = {.tenant_id = tenant, .discriminator = disc};
  if (sb_emit_end(b, e, &o, err) != 0 ||
      transition_row(b, tenant, id, tm->due_us, start ? "schedule:start"
                                                      : "schedule:end",
                     from, to, "schedule", 1, reason, err) != 0)
    return err->code;
  snprintf(disc, sizeof disc, "gate-from-%lld", (long long)since);
  return store(x, b, key, tenant, id, &c, disc, err);
}

/* ---- dispatch ----------------------------------------------------------- */

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  cp_t *x = state;
  for (int t = 0; t < T_N; t++) {
    if (!sb_event_type_is(ev, x->t[t]))
      continue;
    switch (t) {
    case T_CREATED:
    case T_UPDATED:
      return on_campaign(x, b, ev, t, err);
    case T_STATE:
      return on_state(x, b, ev, err);
    default:
      return cp_lead_event(x, b, ev, t, err);
    }
  }
  return 0;
}

static int timer(void *state, sb_batch_t *b, const sb_timer_t *tm,
                 sb_err_t *err) {
  cp_t *x = state;
  if (tm->key[0] == 'S' || tm->key[0] == 'E')
    return lifecycle_timer(x, b, tm, err);
  if (tm->key[0] == 'L')
    return cp_lead_timer(x, b, tm, err);
  return sb_err_set(err, SB_EINVAL, "campaigns: unknown timer %s", tm->key);
}

/* what GET /v1/projections/campaigns/VIEW answers (sb_view_def_t) */
static const sb_view_def_t views[] = {
    {.name = "schedule",
     .relation = "schedule",
     .about = "each campaign's state, schedule, dial windows and next "
              "transition",
     .order = "campaign_id",
     .filters = "campaign=campaign_id,state=state"},
    {.name = "transitions",
     .relation = "transitions",
     .about = "every campaign state change, applied or refused",
     .time_col = "at",
     .order = "at,campaign_id,cause",
     .filters = "campaign=campaign_id"},
    {.name = "lead_attempts",
     .relation = "lead_attempts",
     .about = "each lead's attempts, recycles and next attempt",
     .order = "lead_id",
     .filters = "campaign=campaign_id,status=status,lead=lead_id"},
    {0},
};

const sb_processor_vt_t sb_campaigns_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = CP_NAME,
    .topics = (const char *const[]){SB_TOPIC_CAMPAIGNS, SB_TOPIC_LEADS,
                                    SB_TOPIC_CALLS, NULL},
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .timer = timer,
    .destroy = destroy,
    .globals = cp_globals,
    .flags = SB_PROCESSOR_KEYED_STATE,
    .views = views,
};
