/* security: the security_events projection, from sb.compliance.
 *
 *   security.failures   every failed login (security.login_failed) and
 *                       denied access (security.access_denied), one row an
 *                       event (attempts: the refusals it stands for, 1 when
 *                       null), with anomaly set when its address failed
 *                       security.anomaly_failures times or more within
 *                       security.anomaly_window_ms up to it (by event
 *                       time, the window's both ends included, attempts
 *                       counted)
 *   security.anomalies  per tenant and address that had such a failure:
 *                       the first and last failures flagged, how many
 *                       were, and the attempts of all its failures
 *   security.access     per tenant, user and local day (the tenant's time
 *                       zone): reads recorded (access.recorded READ, their
 *                       attempts and records), sign-ins, sign-outs
 *
 * Determinism. One address's failures arrive on several partitions (the
 * events are keyed by user), in any order across them and, for imported
 * history, out of order within one. So the flag is not decided as events
 * arrive: it is a function of the set of failures in the table, computed
 * in commit for the addresses the batch touched, after the kit wrote the
 * batch's rows, with the table's window functions. Adding failures only
 * adds flags, so "set once, never cleared" converges to the same rows
 * whatever the order and the batching, and a replay gives the same rows.
 * Two instances touching one address take a transaction-level advisory
 * lock on it (in one sorted order) before computing, so the later one sees
 * the earlier one's committed rows. */
#include "sb_processor.h"

#include <stdlib.h>
#include <string.h>

static const sb_table_def_t failures_table = {
    .name = "failures",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"event_id", SB_COL_TEXT, 0},
            {"kind", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"occurred_at", SB_COL_TIMESTAMPTZ, SB_MERGE_REPLACE},
            {"user_id", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"ip", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"user_agent", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"reason", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"attempts", SB_COL_INT8, SB_MERGE_REPLACE},
            {"resource_type", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"request_path", SB_COL_TEXT, SB_MERGE_REPLACE},
            /* anomaly: set by commit, never by the kit */
            {0},
        },
    .key = (const char *const[]){"tenant_id", "event_id", NULL},
    .retention_class = "security",
    .retention_col = "occurred_at",
};

static const sb_table_def_t access_table = {
    .name = "access",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"user_id", SB_COL_TEXT, 0},
            {"day", SB_COL_DATE, 0},
            {"reads", SB_COL_INT8, SB_MERGE_SUM},
            {"records", SB_COL_INT8, SB_MERGE_SUM},
            {"logins", SB_COL_INT8, SB_MERGE_SUM},
            {"logouts", SB_COL_INT8, SB_MERGE_SUM},
            {"last_at", SB_COL_TIMESTAMPTZ, SB_MERGE_MAX},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "user_id", "day", NULL},
    .retention_class = "access",
    .retention_col = "day",
};

static const sb_table_def_t *const tables[] = {&failures_table, &access_table,
                                               NULL};

static const sb_proj_step_t migrations[] = {
    {1, "CREATE TABLE {schema}.failures (tenant_id text NOT NULL, event_id "
        "text NOT NULL, kind text NOT NULL, occurred_at timestamptz NOT NULL, "
        "user_id text, ip text, user_agent text, reason text, attempts bigint "
        "NOT NULL DEFAULT 1, resource_type text, request_path text, anomaly "
        "boolean NOT NULL DEFAULT false, PRIMARY KEY (tenant_id, event_id));\n"
        "CREATE INDEX ON {schema}.failures (tenant_id, ip, occurred_at);\n"
        "CREATE TABLE {schema}.anomalies (tenant_id text NOT NULL, ip text NOT "
        "NULL, first_flagged_at timestamptz NOT NULL, last_flagged_at "
        "timestamptz NOT NULL, flagged bigint NOT NULL, attempts bigint NOT "
        "NULL, PRIMARY KEY (tenant_id, ip));\n"
        "CREATE TABLE {schema}.access (tenant_id text NOT NULL, user_id text "
        "NOT NULL, day date NOT NULL, reads bigint NOT NULL DEFAULT 0, records "
        "bigint NOT NULL DEFAULT 0, logins bigint NOT NULL DEFAULT 0, logouts "
        "bigint NOT NULL DEFAULT 0, last_at timestamptz, PRIMARY KEY "
        "(tenant_id, user_id, day));\n"
        "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.failures, "
        "{schema}.anomalies, {schema}.access TO switchboard_app;"},
    {0, NULL},
};

typedef struct {
  sb_etype_ref_t login_failed, denied, access;
  /* security.login_failed */
  sb_field_t lf_user, lf_reason, lf_ip, lf_ua, lf_attempts;
  /* security.access_denied */
  sb_field_t ad_user, ad_reason, ad_ip, ad_ua, ad_attempts, ad_resource,
      ad_path;
  /* access.recorded */
  sb_field_t ac_user, ac_action, ac_records, ac_attempts;
  int anomaly_failures, anomaly_window_ms;
  /* the (tenant, ip) the batch's failures came from:
   * [{"t": tenant, "ip": ip}, ...] */
  cJSON *touched;
} sec_t;

static void destroy(void *state) {
  sec_t *s = state;
  if (s == NULL)
    return;
  cJSON_Delete(s->touched);
  free(s);
}

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  sec_t *s = calloc(1, sizeof *s);
  if (s == NULL || (s->touched = cJSON_CreateArray()) == NULL) {
    free(s);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  const sb_schemas_t *sc = kit->schemas;
  static const char *const lf = "security.login_failed",
                           *const ad = "security.access_denied",
                           *const ac = "access.recorded";
  struct {
    const char *type, *path;
    sb_field_t *f;
  } fields[] = {
      {lf, "user_id", &s->lf_user},        {lf, "reason", &s->lf_reason},
      {lf, "ip", &s->lf_ip},               {lf, "user_agent", &s->lf_ua},
      {lf, "attempts", &s->lf_attempts},   {ad, "user_id", &s->ad_user},
      {ad, "reason", &s->ad_reason},       {ad, "ip", &s->ad_ip},
      {ad, "user_agent", &s->ad_ua},       {ad, "attempts", &s->ad_attempts},
      {ad, "resource_type", &s->ad_resource},
      {ad, "request_path", &s->ad_path},   {ac, "user_id", &s->ac_user},
      {ac, "action", &s->ac_action},       {ac, "records_count", &s->ac_records},
      {ac, "attempts", &s->ac_attempts},
  };
  int rc = sb_codec_type(sc, lf, &s->login_failed, err);
  if (rc == 0)
    rc = sb_codec_type(sc, ad, &s->denied, err);
  if (rc == 0)
    rc = sb_codec_type(sc, ac, &s->access, err);
  for (size_t i = 0; rc == 0 && i < sizeof fields / sizeof fields[0]; i++)
    rc = sb_codec_field(sc, fields[i].type, fields[i].path, fields[i].f, err);
  if (rc == 0)
    rc = sb_conf_int(kit->conf, "security.anomaly_failures",
                     &s->anomaly_failures, err);
  if (rc == 0)
    rc = sb_conf_int(kit->conf, "security.anomaly_window_ms",
                     &s->anomaly_window_ms, err);
  if (rc != 0) {
    destroy(s);
    return rc;
  }
  *state = s;
  return 0;
}

/* attempts as recorded: null (events before the field) is one */
static int64_t attempts_of(const sb_event_t *ev, sb_field_t f) {
  int64_t n = sb_event_has(ev, f) ? sb_event_i64(ev, f) : 1;
  return n > 0 ? n : 1;
}

static int failure(sec_t *s, sb_batch_t *b, const sb_event_t *ev, int denied,
                   sb_err_t *err) {
  const char *ip = sb_event_str(ev, denied ? s->ad_ip : s->lf_ip);
  if (sb_rows_add(
          b, &failures_table,
          (const sb_val_t[]){
              SB_V_TEXT(ev->tenant_id),
              SB_V_TEXT(ev->event_id),
              SB_V_TEXT(denied ? "access_denied" : "login_failed"),
              SB_V_TIMESTAMPTZ(ev->occurred_at),
              SB_V_TEXT(sb_event_str(ev, denied ? s->ad_user : s->lf_user)),
              SB_V_TEXT(ip),
              SB_V_TEXT(sb_event_str(ev, denied ? s->ad_ua : s->lf_ua)),
              SB_V_TEXT(
                  sb_event_enum_name(ev, denied ? s->ad_reason : s->lf_reason)),
              SB_V_INT8(attempts_of(ev, denied ? s->ad_attempts
                                               : s->lf_attempts)),
              SB_V_TEXT(denied ? sb_event_str(ev, s->ad_resource) : NULL),
              SB_V_TEXT(denied ? sb_event_str(ev, s->ad_path) : NULL),
          },
          err) != 0)
    return err->code;
  if (ip == NULL) /* no address: nothing to count it against */
    return 0;
  cJSON *t = cJSON_CreateObject();
  if (t == NULL || cJSON_AddStringToObject(t, "t", ev->tenant_id) == NULL ||
      cJSON_AddStringToObject(t, "ip", ip) == NULL) {
    cJSON_Delete(t);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  cJSON_AddItemToArray(s->touched, t);
  return 0;
}

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  sec_t *s = state;
  if (sb_event_type_is(ev, s->login_failed))
    return failure(s, b, ev, 0, err);
  if (sb_event_type_is(ev, s->denied))
    return failure(s, b, ev, 1, err);
  if (!sb_event_type_is(ev, s->access))
    return 0;
  const char *action = sb_event_enum_name(ev, s->ac_action);
  int read = action && strcmp(action, "READ") == 0;
  int login = action && strcmp(action, "LOGIN") == 0;
  int logout = action && strcmp(action, "LOGOUT") == 0;
  int64_t n = attempts_of(ev, s->ac_attempts);
  int64_t records =
      read && sb_event_has(ev, s->ac_records) ? sb_event_i64(ev, s->ac_records)
                                              : 0;
  return sb_rows_add(
      b, &access_table,
      (const sb_val_t[]){
          SB_V_TEXT(ev->tenant_id),
          SB_V_TEXT(sb_event_str(ev, s->ac_user)),
          SB_V_DATE(sb_tenant_day(b, ev->tenant_id, ev->occurred_at)),
          SB_V_INT8(read ? n : 0),
          SB_V_INT8(records),
          SB_V_INT8(login ? n : 0),
          SB_V_INT8(logout ? n : 0),
          SB_V_TIMESTAMPTZ(ev->occurred_at),
      },
      err);
}

static void forget(sec_t *s) {
  while (cJSON_GetArraySize(s->touched) > 0)
    cJSON_DeleteItemFromArray(s->touched, 0);
}

static int begin(void *state, sb_batch_t *b, sb_err_t *err) {
  (void)b;
  (void)err;
  forget(state);
  return 0;
}

/* The addresses the batch's failures came from: their flags and their
 * anomalies, as the whole table says (see the top of the file). */
static int commit(void *state, sb_batch_t *b, sb_err_t *err) {
  sec_t *s = state;
  if (cJSON_GetArraySize(s->touched) == 0)
    return 0;
  char *json = cJSON_PrintUnformatted(s->touched);
  if (json == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  const char *params[] = {json};
  const char *schema = sb_batch_schema(b);
  sb_pg_t *pg = sb_batch_pg(b);
  static const char touched[] =
      "touched AS (SELECT DISTINCT u.t, u.ip FROM jsonb_to_recordset($1::jsonb) "
      "AS u(t text, ip text))";
  sb_text_t lock = {0}, flag = {0}, anomalies = {0};
  /* one sorted order of locks: two instances wait, never deadlock */
  sb_text_add(&lock,
              "WITH %s SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT "
              "hashtextextended('sb.security' || chr(31) || t || chr(31) || ip, "
              "0) AS k FROM touched ORDER BY 1) l",
              touched);
  sb_text_add(&flag,
              "WITH %s, w AS (SELECT f.tenant_id, f.event_id, sum(f.attempts) "
              "OVER (PARTITION BY f.tenant_id, f.ip ORDER BY f.occurred_at "
              "RANGE BETWEEN interval '%d milliseconds' PRECEDING AND CURRENT "
              "ROW) AS n FROM %s.failures f JOIN touched ON f.tenant_id = "
              "touched.t AND f.ip = touched.ip) "
              "UPDATE %s.failures f SET anomaly = true FROM w WHERE "
              "f.tenant_id = w.tenant_id AND f.event_id = w.event_id AND w.n "
              ">= %d AND NOT f.anomaly",
              touched, s->anomaly_window_ms, schema, schema,
              s->anomaly_failures);
  sb_text_add(&anomalies,
              "WITH %s INSERT INTO %s.anomalies (tenant_id, ip, "
              "first_flagged_at, last_flagged_at, flagged, attempts) "
              "SELECT f.tenant_id, f.ip, min(f.occurred_at) FILTER (WHERE "
              "f.anomaly), max(f.occurred_at) FILTER (WHERE f.anomaly), "
              "count(*) FILTER (WHERE f.anomaly), sum(f.attempts) FROM "
              "%s.failures f JOIN touched ON f.tenant_id = touched.t AND f.ip "
              "= touched.ip GROUP BY 1, 2 HAVING bool_or(f.anomaly) "
              "ON CONFLICT (tenant_id, ip) DO UPDATE SET first_flagged_at = "
              "EXCLUDED.first_flagged_at, last_flagged_at = "
              "EXCLUDED.last_flagged_at, flagged = EXCLUDED.flagged, "
              "attempts = EXCLUDED.attempts",
              touched, schema, schema);
  int rc;
  if (lock.failed || flag.failed || anomalies.failed)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  else if ((rc = sb_pg_exec(pg, lock.s, 1, params, err)) == 0 &&
           (rc = sb_pg_exec(pg, flag.s, 1, params, err)) == 0)
    rc = sb_pg_exec(pg, anomalies.s, 1, params, err);
  sb_text_free(&lock);
  sb_text_free(&flag);
  sb_text_free(&anomalies);
  cJSON_free(json);
  return rc;
}

static void abort_batch(void *state) { forget(state); }
static void committed(void *state) { forget(state); }

static const sb_conf_prop_t conf_rows[] = {
    {"security.anomaly_failures", SB_CT_INT, 0, 2, 1000000, "5",
     "SWITCHBOARD_SECURITY_ANOMALY_FAILURES", "N", NULL, 0,
     "Failed logins and denied requests from one address within "
     "security.anomaly_window_ms (by event time) that the security "
     "processor flags as an anomaly."},
    {"security.anomaly_window_ms", SB_CT_INT, 0, 1000, 604800000, "300000",
     "SWITCHBOARD_SECURITY_ANOMALY_WINDOW_MS", "MS", NULL, 0,
     "The window, in event time, within which security.anomaly_failures "
     "failures from one address are an anomaly."},
    {0},
};

/* What the read API answers (admins only: security.* is in no other
 * role's read_projection patterns). */
static const sb_view_def_t views[] = {
    {.name = "failures",
     .relation = "failures",
     .about = "failed logins and denied accesses, with the anomaly flag",
     .time_col = "occurred_at",
     .order = "occurred_at,event_id",
     .filters = "kind=kind,user=user_id,ip=ip,reason=reason"},
    {.name = "anomalies",
     .relation = "anomalies",
     .about = "per address that failed too often: first and last flagged, "
              "how many, the attempts",
     .time_col = "last_flagged_at",
     .order = "ip",
     .filters = "ip=ip"},
    {.name = "access",
     .relation = "access",
     .about = "per user and local day: reads recorded, their records, "
              "sign-ins and sign-outs",
     .time_col = "day",
     .order = "day,user_id",
     .filters = "user=user_id"},
    {0},
};

const sb_processor_vt_t sb_security_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "security",
    .topics = (const char *const[]){"sb.compliance", NULL},
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .destroy = destroy,
    .commit = commit,
    .abort = abort_batch,
    .begin = begin,
    .committed = committed,
    .conf = conf_rows,
    .views = views,
};
