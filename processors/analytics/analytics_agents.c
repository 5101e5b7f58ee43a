/* analytics: agents (sb.agents) -> agents_hour, pauses_hour.
 *
 * Each agent.state_changed says how long the agent was in the state it
 * leaves (previous_state_ms): that interval, [occurred_at - ms,
 * occurred_at), is added to the previous state's column, split at the
 * tenant's local hours. So each event stands alone and the order does
 * not matter; a duplicate (same event id, within
 * analytics.dedupe_window_s) counts once. agent.logged_in and
 * agent.logged_out count sign-ins and sign-outs in their hour, and a
 * sign-out's session_ms is split like a state's interval.
 *
 * Paused time by reason: the reason is on the event entering the pause
 * (pause_reason), the duration on the event leaving it. The agent's keyed
 * state ("a/<tenant>/<agent>") pairs them by the pause's start (within a
 * millisecond: previous_state_ms is whole milliseconds): a leaving event
 * whose entry is known adds its time under the entry's reason; one whose
 * entry has not arrived adds it under "" and waits, and the entry, when it
 * comes, moves that time to its reason. Either order ends in the same
 * rows. At most AG_PENDING unpaired entries and exits are kept per agent
 * (the oldest dropped past that: its time stays where it is). */
#include "analytics_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AG_VER 1u
#define AG_PENDING 16
#define AG_REASON_MAX 64
#define AG_SPAN_MAX_US (INT64_C(31) * 86400 * AN_US_PER_S)

typedef struct {
  int64_t start_us;
  int64_t dur_ms; /* an exit: its length; an entry: 0 */
  char reason[AG_REASON_MAX];
} ag_half_t;

typedef struct {
  uint32_t ver, nent, nexit, pad;
  ag_half_t ent[AG_PENDING], exit[AG_PENDING];
} ag_state_t;

typedef struct an_agents_s {
  sb_etype_ref_t login, logout, state;
  sb_field_t li_agent, lo_agent, lo_session, sc_agent, sc_state, sc_prev,
      sc_prev_ms, sc_reason;
} an_agents_t;

/* the columns a state's time goes to, after tenant_id, hour_start,
 * agent_id, day, logins, logouts */
enum { COL_SESSION = 6, COL_AVAILABLE, COL_RINGING, COL_ON_CALL, COL_WRAPUP,
       COL_PAUSED, COL_PAUSES, NCOLS };

const sb_table_def_t an_agents_hour = {
    .name = "agents_hour",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"hour_start", SB_COL_TIMESTAMPTZ, 0},
            {"agent_id", SB_COL_TEXT, SB_COL_OWNER},
            {"day", SB_COL_DATE, SB_MERGE_REPLACE},
            {"logins", SB_COL_INT8, SB_MERGE_SUM},
            {"logouts", SB_COL_INT8, SB_MERGE_SUM},
            {"session_ms", SB_COL_INT8, SB_MERGE_SUM},
            {"available_ms", SB_COL_INT8, SB_MERGE_SUM},
            {"ringing_ms", SB_COL_INT8, SB_MERGE_SUM},
            {"on_call_ms", SB_COL_INT8, SB_MERGE_SUM},
            {"wrapup_ms", SB_COL_INT8, SB_MERGE_SUM},
            {"paused_ms", SB_COL_INT8, SB_MERGE_SUM},
            {"pauses", SB_COL_INT8, SB_MERGE_SUM},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "hour_start", "agent_id", NULL},
    .retention_class = "agent",
    .retention_col = "hour_start",
};

const sb_table_def_t an_pauses_hour = {
    .name = "pauses_hour",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"hour_start", SB_COL_TIMESTAMPTZ, 0},
            {"agent_id", SB_COL_TEXT, SB_COL_OWNER},
            {"reason", SB_COL_TEXT, 0},
            {"day", SB_COL_DATE, SB_MERGE_REPLACE},
            {"pauses", SB_COL_INT8, SB_MERGE_SUM},
            {"paused_ms", SB_COL_INT8, SB_MERGE_SUM},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "hour_start", "agent_id",
                                 "reason", NULL},
    .retention_class = "agent",
    .retention_col = "hour_start",
};

int an_agents_new(an_t *a, an_agents_t **out, sb_err_t *err) {
  an_agents_t *g = calloc(1, sizeof *g);
  if (g == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  static const char *const li = "agent.logged_in", *const lo =
                                                       "agent.logged_out",
                           *const sc = "agent.state_changed";
  const an_field_t fields[] = {
      {li, "agent_id", &g->li_agent},     {lo, "agent_id", &g->lo_agent},
      {lo, "session_ms", &g->lo_session}, {sc, "agent_id", &g->sc_agent},
      {sc, "state", &g->sc_state},        {sc, "previous_state", &g->sc_prev},
      {sc, "previous_state_ms", &g->sc_prev_ms},
      {sc, "pause_reason", &g->sc_reason},
  };
  int rc = sb_codec_type(a->schemas, li, &g->login, err);
  if (rc == 0)
    rc = sb_codec_type(a->schemas, lo, &g->logout, err);
  if (rc == 0)
    rc = sb_codec_type(a->schemas, sc, &g->state, err);
  if (rc == 0)
    rc = an_resolve(a->schemas, fields, sizeof fields / sizeof fields[0], err);
  if (rc != 0) {
    free(g);
    return rc;
  }
  *out = g;
  return 0;
}

void an_agents_free(an_agents_t *g) { free(g); }

/* One agents_hour row: n in column col (and 0 elsewhere) at at's hour. */
static int add_at(sb_batch_t *b, const char *tenant, const char *agent,
                  int64_t at, int col, int64_t n, sb_err_t *err) {
  sb_val_t v[NCOLS];
  v[0] = (sb_val_t)SB_V_TEXT(tenant);
  v[1] = (sb_val_t)SB_V_TIMESTAMPTZ(sb_tenant_hour_start(b, tenant, at));
  v[2] = (sb_val_t)SB_V_TEXT(agent);
  v[3] = (sb_val_t)SB_V_DATE(sb_tenant_day(b, tenant, at));
  for (int i = 4; i < NCOLS; i++)
    v[i] = (sb_val_t)SB_V_INT8(i == col ? n : 0);
  return sb_rows_add(b, &an_agents_hour, v, err);
}

/* [start, end) split at local hours: into agents_hour's column col, or
 * (reason not NULL) into pauses_hour under reason; times sign. */
static int add_span(sb_batch_t *b, const char *tenant, const char *agent,
                    int64_t start, int64_t end, int col, const char *reason,
                    int64_t sign, sb_err_t *err) {
  if (end - start > AG_SPAN_MAX_US)
    start = end - AG_SPAN_MAX_US;
  for (int64_t cur = start; cur < end;) {
    int64_t hs = sb_tenant_hour_start(b, tenant, cur);
    int64_t next = hs + 3600 * AN_US_PER_S;
    if (next <= cur)
      next = cur + 3600 * AN_US_PER_S;
    if (next > end)
      next = end;
    int rc;
    if (reason == NULL)
      rc = add_at(b, tenant, agent, cur, col, sign * ((next - cur) / 1000),
                  err);
    else
      rc = sb_rows_add(b, &an_pauses_hour,
                       (const sb_val_t[]){
                           SB_V_TEXT(tenant), SB_V_TIMESTAMPTZ(hs),
                           SB_V_TEXT(agent), SB_V_TEXT(reason),
                           SB_V_DATE(sb_tenant_day(b, tenant, cur)),
                           SB_V_INT8(0), SB_V_INT8(sign * ((next - cur) / 1000)),
                       },
                       err);
    if (rc != 0)
      return rc;
    cur = next;
  }
  return 0;
}

static int col_of(const char *state) {
  static const struct {
    const char *name;
    int col;
  } m[] = {{"available", COL_AVAILABLE}, {"ringing", COL_RINGING},
           {"on_call", COL_ON_CALL},     {"wrapup", COL_WRAPUP},
           {"paused", COL_PAUSED}};
  for (size_t i = 0; state && i < sizeof m / sizeof m[0]; i++)
    if (strcmp(state, m[i].name) == 0)
      return m[i].col;
  return -1; /* offline: not logged in */
}

static int near(int64_t a, int64_t b) {
  int64_t d = a - b;
  return d > -1000 && d < 1000;
}

static void push(ag_half_t *arr, uint32_t *n, const ag_half_t *h) {
  if (*n == AG_PENDING) { /* full: the oldest goes */
    uint32_t oldest = 0;
    for (uint32_t i = 1; i < *n; i++)
      if (arr[i].start_us < arr[oldest].start_us)
        oldest = i;
    arr[oldest] = arr[--*n];
  }
  arr[(*n)++] = *h;
}

/* The pause pairing (see the top of the file). */
static int pause_pair(sb_batch_t *b, const char *tenant, const char *agent,
                      const sb_event_t *ev, int enter, int64_t start,
                      int64_t dur_ms, const char *reason, sb_err_t *err) {
  char key[2 * AN_ID_MAX + 8];
  snprintf(key, sizeof key, "a/%s/%s", tenant, agent);
  ag_state_t s;
  const void *v;
  size_t len;
  if (sb_state_get(b, key, &v, &len) == 0 && len == sizeof s)
    memcpy(&s, v, sizeof s);
  else
    memset(&s, 0, sizeof s);
  s.ver = AG_VER;
  int rc = 0;
  if (enter) {
    for (uint32_t i = 0; i < s.nexit; i++)
      if (near(s.exit[i].start_us, start)) { /* its exit came first */
        int64_t end = s.exit[i].start_us + s.exit[i].dur_ms * 1000;
        if ((rc = add_span(b, tenant, agent, s.exit[i].start_us, end, 0, "",
                           -1, err)) != 0 ||
            (rc = add_span(b, tenant, agent, s.exit[i].start_us, end, 0,
                           reason, 1, err)) != 0)
          return rc;
        s.exit[i] = s.exit[--s.nexit];
        return sb_state_put(b, key, &s, sizeof s, err);
      }
    ag_half_t h = {.start_us = start};
    an_copy(h.reason, sizeof h.reason, reason);
    push(s.ent, &s.nent, &h);
    return sb_state_put(b, key, &s, sizeof s, err);
  }
  const char *why = "";
  int found = -1;
  for (uint32_t i = 0; i < s.nent; i++)
    if (near(s.ent[i].start_us, start))
      found = (int)i;
  ag_half_t h = {.start_us = start, .dur_ms = dur_ms};
  char r[AG_REASON_MAX] = "";
  if (found >= 0) {
    an_copy(r, sizeof r, s.ent[found].reason);
    s.ent[found] = s.ent[--s.nent];
    why = r;
  } else {
    push(s.exit, &s.nexit, &h);
  }
  (void)ev;
  if ((rc = add_span(b, tenant, agent, start, start + dur_ms * 1000, 0, why, 1,
                     err)) != 0)
    return rc;
  return sb_state_put(b, key, &s, sizeof s, err);
}

int an_agents_event(an_t *a, sb_batch_t *b, const sb_event_t *ev, int *mine,
                    sb_err_t *err) {
  an_agents_t *g = a->agents;
  int login = sb_event_type_is(ev, g->login),
      logout = sb_event_type_is(ev, g->logout),
      state = sb_event_type_is(ev, g->state);
  *mine = login || logout || state;
  if (!*mine)
    return 0;
  int seen;
  if (an_seen(a, b, ev, &seen, err) != 0)
    return err->code;
  if (seen)
    return 0;
  const char *tenant = ev->tenant_id;
  int64_t t = ev->occurred_at;
  if (login) {
    const char *agent = sb_event_str(ev, g->li_agent);
    return agent ? add_at(b, tenant, agent, t, 4, 1, err) : 0;
  }
  if (logout) {
    const char *agent = sb_event_str(ev, g->lo_agent);
    if (agent == NULL)
      return 0;
    if (add_at(b, tenant, agent, t, 5, 1, err) != 0)
      return err->code;
    if (!sb_event_has(ev, g->lo_session))
      return 0;
    int64_t ms = sb_event_i64(ev, g->lo_session);
    return ms > 0 ? add_span(b, tenant, agent, t - ms * 1000, t, COL_SESSION,
                             NULL, 1, err)
                  : 0;
  }
  const char *agent = sb_event_str(ev, g->sc_agent);
  if (agent == NULL)
    return 0;
  const char *now = sb_event_enum_name(ev, g->sc_state);
  const char *prev = sb_event_enum_name(ev, g->sc_prev);
  if (now && strcmp(now, "paused") == 0) {
    const char *reason = sb_event_str(ev, g->sc_reason);
    if (add_at(b, tenant, agent, t, COL_PAUSES, 1, err) != 0 ||
        sb_rows_add(b, &an_pauses_hour,
                    (const sb_val_t[]){
                        SB_V_TEXT(tenant),
                        SB_V_TIMESTAMPTZ(sb_tenant_hour_start(b, tenant, t)),
                        SB_V_TEXT(agent),
                        SB_V_TEXT(reason ? reason : ""),
                        SB_V_DATE(sb_tenant_day(b, tenant, t)),
                        SB_V_INT8(1),
                        SB_V_INT8(0),
                    },
                    err) != 0 ||
        pause_pair(b, tenant, agent, ev, 1, t, 0, reason ? reason : "", err) !=
            0)
      return err->code;
  }
  int col = col_of(prev);
  if (col < 0 || !sb_event_has(ev, g->sc_prev_ms))
    return 0;
  int64_t ms = sb_event_i64(ev, g->sc_prev_ms);
  if (ms <= 0)
    return 0;
  if (add_span(b, tenant, agent, t - ms * 1000, t, col, NULL, 1, err) != 0)
    return err->code;
  if (col == COL_PAUSED)
    return pause_pair(b, tenant, agent, ev, 0, t - ms * 1000, ms, NULL, err);
  return 0;
}
