/* gdpr: data subject requests and erasures, as the log says.
 *
 * Reads sb.compliance and keeps:
 *   gdpr.requests  per request (tenant, request id): its subject, kind,
 *                  when it was received, when it is due (the request's
 *                  due_at, else one calendar month after receipt, GDPR
 *                  Art. 12(3)), when and how it was completed, the records
 *                  counted and the export's SHA-256, and whether it was
 *                  completed after its due date. A request still open past
 *                  its due date is overdue: readers compute it from due_at
 *                  and completed_at at the time they ask (no stored flag
 *                  goes stale), e.g. `switchboard gdpr status`.
 *   gdpr.erasures  every subject.erased: the subject, the data key
 *                  destroyed, what triggered it, the request, when.
 * dsar.received and dsar.completed of one request are merged in keyed
 * state (they share a partition: both are keyed by tenant and subject),
 * in whichever order they come; a duplicate changes nothing. Nothing here
 * is personal data: subject ids are the system's ids (a lead id), the
 * requester's name and contact stay sealed in the log. */
#include "gdpr.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const sb_table_def_t requests_table = {
    .name = "requests",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"request_id", SB_COL_TEXT, 0},
            {"subject_id", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"kind", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"received_at", SB_COL_TIMESTAMPTZ, SB_MERGE_REPLACE},
            {"due_at", SB_COL_TIMESTAMPTZ, SB_MERGE_REPLACE},
            {"identity_verified", SB_COL_BOOL, SB_MERGE_REPLACE},
            {"completed_at", SB_COL_TIMESTAMPTZ, SB_MERGE_REPLACE},
            {"outcome", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"records_count", SB_COL_INT8, SB_MERGE_REPLACE},
            {"export_sha256", SB_COL_TEXT, SB_MERGE_REPLACE},
            {"completed_late", SB_COL_BOOL, SB_MERGE_REPLACE},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "request_id", NULL},
};

static const sb_table_def_t erasures_table = {
    .name = "erasures",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, 0},
            {"event_id", SB_COL_TEXT, 0},
            {"subject_id", SB_COL_TEXT, SB_MERGE_KEEP},
            {"key_id", SB_COL_TEXT, SB_MERGE_KEEP},
            {"trigger", SB_COL_TEXT, SB_MERGE_KEEP},
            {"request_id", SB_COL_TEXT, SB_MERGE_KEEP},
            {"erased_at", SB_COL_TIMESTAMPTZ, SB_MERGE_KEEP},
            {0},
        },
    /* keyed: a request carried out again repeats its subject.erased */
    .key = (const char *const[]){"tenant_id", "event_id", NULL},
};

static const sb_table_def_t *const tables[] = {&requests_table,
                                               &erasures_table, NULL};

static const sb_proj_step_t migrations[] = {
    {1, "CREATE TABLE {schema}.requests (tenant_id text NOT NULL, request_id "
        "text NOT NULL, subject_id text, kind text, received_at timestamptz, "
        "due_at timestamptz, identity_verified boolean, completed_at "
        "timestamptz, outcome text, records_count bigint, export_sha256 text, "
        "completed_late boolean, PRIMARY KEY (tenant_id, request_id));\n"
        "CREATE INDEX ON {schema}.requests (tenant_id, subject_id);\n"
        "CREATE TABLE {schema}.erasures (tenant_id text NOT NULL, event_id "
        "text NOT NULL, subject_id text NOT NULL, key_id text, trigger text, "
        "request_id text, erased_at timestamptz NOT NULL, PRIMARY KEY "
        "(tenant_id, event_id));\n"
        "GRANT SELECT, INSERT, UPDATE ON {schema}.requests TO "
        "switchboard_app;\n"
        "GRANT SELECT, INSERT, UPDATE ON {schema}.erasures TO "
        "switchboard_app;"},
    {0, NULL},
};

typedef struct {
  sb_etype_ref_t received, completed, erased;
  struct {
    sb_field_t subject, request, kind, due, verified;
  } r;
  struct {
    sb_field_t subject, request, kind, outcome, records, sha;
  } c;
  struct {
    sb_field_t subject, key, trigger, request;
  } e;
} gdpr_t;

/* A request as merged so far (kept in keyed state as JSON). */
typedef struct {
  char subject[129], kind[32], outcome[32], sha[65];
  int64_t received_at, due_at, completed_at, records; /* -1: none */
  int verified;                                       /* -1: unknown */
} req_t;

static int resolve(const sb_schemas_t *s, const char *type, const char *field,
                   sb_field_t *f, sb_err_t *err) {
  return sb_codec_field(s, type, field, f, err);
}

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  gdpr_t *g = calloc(1, sizeof *g);
  if (g == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  const sb_schemas_t *s = kit->schemas;
  if (sb_codec_type(s, "dsar.received", &g->received, err) != 0 ||
      sb_codec_type(s, "dsar.completed", &g->completed, err) != 0 ||
      sb_codec_type(s, "subject.erased", &g->erased, err) != 0 ||
      resolve(s, "dsar.received", "subject_id", &g->r.subject, err) != 0 ||
      resolve(s, "dsar.received", "request_id", &g->r.request, err) != 0 ||
      resolve(s, "dsar.received", "kind", &g->r.kind, err) != 0 ||
      resolve(s, "dsar.received", "due_at", &g->r.due, err) != 0 ||
      resolve(s, "dsar.received", "identity_verified", &g->r.verified, err) !=
          0 ||
      resolve(s, "dsar.completed", "subject_id", &g->c.subject, err) != 0 ||
      resolve(s, "dsar.completed", "request_id", &g->c.request, err) != 0 ||
      resolve(s, "dsar.completed", "kind", &g->c.kind, err) != 0 ||
      resolve(s, "dsar.completed", "outcome", &g->c.outcome, err) != 0 ||
      resolve(s, "dsar.completed", "records_count", &g->c.records, err) != 0 ||
      resolve(s, "dsar.completed", "export_sha256", &g->c.sha, err) != 0 ||
      resolve(s, "subject.erased", "subject_id", &g->e.subject, err) != 0 ||
      resolve(s, "subject.erased", "key_id", &g->e.key, err) != 0 ||
      resolve(s, "subject.erased", "trigger", &g->e.trigger, err) != 0 ||
      resolve(s, "subject.erased", "request_id", &g->e.request, err) != 0) {
    free(g);
    return err->code;
  }
  *state = g;
  return 0;
}

static void destroy(void *state) { free(state); }

/* One calendar month after t (UTC), the day clamped to the month's end
 * (received 31 January: due 28 or 29 February). */
int64_t sb_gdpr_one_month_after(int64_t t_us) {
  time_t s = (time_t)(t_us / 1000000);
  int64_t frac = t_us % 1000000;
  struct tm tm;
  gmtime_r(&s, &tm);
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int mon = tm.tm_mon + 1, year = tm.tm_year + 1900;
  if (mon == 12) {
    mon = 0;
    year++;
  }
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  int last = days[mon] + (mon == 1 && leap);
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  if (tm.tm_mday > last)
    tm.tm_mday = last;
  return (int64_t)timegm(&tm) * 1000000 + frac;
}

static void req_load(const void *val, size_t len, req_t *q) {
  memset(q, 0, sizeof *q);
  q->received_at = q->due_at = q->completed_at = q->records = -1;
  q->verified = -1;
  cJSON *j = val ? cJSON_ParseWithLength(val, len) : NULL;
  if (j == NULL)
    return;
  const cJSON *x;
#define STR(name, dst)                                                         \
  if ((x = cJSON_GetObjectItemCaseSensitive(j, name)) && cJSON_IsString(x))    \
  snprintf(dst, sizeof dst, "%s", x->valuestring)
#define NUM(name, dst)                                                         \
  if ((x = cJSON_GetObjectItemCaseSensitive(j, name)) && cJSON_IsNumber(x))    \
  dst = (int64_t)x->valuedouble
  STR("s", q->subject);
  STR("k", q->kind);
  STR("o", q->outcome);
  STR("h", q->sha);
  NUM("r", q->received_at);
  NUM("d", q->due_at);
  NUM("c", q->completed_at);
  NUM("n", q->records);
#undef STR
#undef NUM
  if ((x = cJSON_GetObjectItemCaseSensitive(j, "v")) && cJSON_IsNumber(x))
    q->verified = x->valueint;
  cJSON_Delete(j);
}

/* Timestamps in keyed state as JSON numbers: exact below 2^53 µs (the
 * year 2255). */
static char *req_json(const req_t *q) {
  cJSON *j = cJSON_CreateObject();
  if (j == NULL)
    return NULL;
  cJSON_AddStringToObject(j, "s", q->subject);
  cJSON_AddStringToObject(j, "k", q->kind);
  cJSON_AddStringToObject(j, "o", q->outcome);
  cJSON_AddStringToObject(j, "h", q->sha);
  cJSON_AddNumberToObject(j, "r", (double)q->received_at);
  cJSON_AddNumberToObject(j, "d", (double)q->due_at);
  cJSON_AddNumberToObject(j, "c", (double)q->completed_at);
  cJSON_AddNumberToObject(j, "n", (double)q->records);
  cJSON_AddNumberToObject(j, "v", q->verified);
  char *s = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  return s;
}

#define TS_OR_NULL(v) ((v) >= 0 ? (sb_val_t)SB_V_TIMESTAMPTZ(v) : (sb_val_t)SB_V_NULL)
#define TEXT_OR_NULL(s) ((s)[0] ? (sb_val_t)SB_V_TEXT(s) : (sb_val_t)SB_V_NULL)

static int request_event(gdpr_t *g, sb_batch_t *b, const sb_event_t *ev,
                         int received, sb_err_t *err) {
  const char *request = sb_event_str(ev, received ? g->r.request : g->c.request);
  const char *subject = sb_event_str(ev, received ? g->r.subject : g->c.subject);
  const char *kind =
      sb_event_enum_name(ev, received ? g->r.kind : g->c.kind);
  if (request == NULL || request[0] == '\0')
    return sb_err_set(err, SB_EVALIDATE, "gdpr: %s without a request_id",
                      received ? "dsar.received" : "dsar.completed");
  char key[512];
  if ((size_t)snprintf(key, sizeof key, "%s/%s", ev->tenant_id, request) >=
      sizeof key)
    return sb_err_set(err, SB_EVALIDATE, "gdpr: request_id too long");
  const void *val = NULL;
  size_t len = 0;
  req_t q;
  if (sb_state_get(b, key, &val, &len) != 0)
    val = NULL;
  req_load(val, len, &q);
  if (subject)
    snprintf(q.subject, sizeof q.subject, "%s", subject);
  if (kind && (received || q.kind[0] == '\0'))
    snprintf(q.kind, sizeof q.kind, "%s", kind);
  if (received) {
    /* the first receipt counts: a duplicate changes nothing */
    if (q.received_at < 0 || ev->occurred_at < q.received_at) {
      q.received_at = ev->occurred_at;
      q.due_at = sb_event_has(ev, g->r.due)
                     ? sb_event_i64(ev, g->r.due)
                     : sb_gdpr_one_month_after(ev->occurred_at);
    }
    if (sb_event_has(ev, g->r.verified))
      q.verified = sb_event_bool(ev, g->r.verified);
  } else {
    q.completed_at = ev->occurred_at;
    const char *o = sb_event_enum_name(ev, g->c.outcome);
    const char *h = sb_event_str(ev, g->c.sha);
    snprintf(q.outcome, sizeof q.outcome, "%s", o ? o : "");
    snprintf(q.sha, sizeof q.sha, "%s", h ? h : "");
    q.records = sb_event_has(ev, g->c.records) ? sb_event_i64(ev, g->c.records)
                                               : -1;
  }
  char *js = req_json(&q);
  if (js == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = sb_state_put(b, key, js, strlen(js), err);
  free(js);
  if (rc != 0)
    return rc;
  int late = q.completed_at >= 0 && q.due_at >= 0 && q.completed_at > q.due_at;
  return sb_rows_add(
      b, &requests_table,
      (const sb_val_t[]){
          SB_V_TEXT(ev->tenant_id), SB_V_TEXT(request),
          TEXT_OR_NULL(q.subject), TEXT_OR_NULL(q.kind),
          TS_OR_NULL(q.received_at), TS_OR_NULL(q.due_at),
          q.verified >= 0 ? (sb_val_t)SB_V_BOOL(q.verified)
                          : (sb_val_t)SB_V_NULL,
          TS_OR_NULL(q.completed_at), TEXT_OR_NULL(q.outcome),
          q.records >= 0 ? (sb_val_t)SB_V_INT8(q.records) : (sb_val_t)SB_V_NULL,
          TEXT_OR_NULL(q.sha),
          q.completed_at >= 0 ? (sb_val_t)SB_V_BOOL(late) : (sb_val_t)SB_V_NULL},
      err);
}

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  gdpr_t *g = state;
  if (sb_event_type_is(ev, g->received))
    return request_event(g, b, ev, 1, err);
  if (sb_event_type_is(ev, g->completed))
    return request_event(g, b, ev, 0, err);
  if (!sb_event_type_is(ev, g->erased))
    return 0;
  const char *subject = sb_event_str(ev, g->e.subject);
  const char *trigger = sb_event_enum_name(ev, g->e.trigger);
  return sb_rows_add(b, &erasures_table,
                     (const sb_val_t[]){
                         SB_V_TEXT(ev->tenant_id), SB_V_TEXT(ev->event_id),
                         SB_V_TEXT(subject), SB_V_TEXT(sb_event_str(ev, g->e.key)),
                         SB_V_TEXT(trigger),
                         SB_V_TEXT(sb_event_str(ev, g->e.request)),
                         SB_V_TIMESTAMPTZ(ev->occurred_at)},
                     err);
}

/* What the read API answers (admins only: gdpr.* is in no other role's
 * read_projection patterns). */
static const sb_view_def_t views[] = {
    {.name = "requests",
     .relation = "requests",
     .about = "data subject requests: received, due, completed, outcome "
              "(overdue: open past due_at at the time of reading)",
     .time_col = "received_at",
     .order = "request_id",
     .filters = "subject=subject_id,kind=kind"},
    {.name = "erasures",
     .relation = "erasures",
     .about = "every subject.erased: the subject, the key destroyed, why",
     .time_col = "erased_at",
     .order = "erased_at,event_id",
     .filters = "subject=subject_id,request=request_id"},
    {0},
};

const sb_processor_vt_t sb_gdpr_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "gdpr",
    .topics = (const char *const[]){"sb.compliance", NULL},
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .destroy = destroy,
    .flags = SB_PROCESSOR_KEYED_STATE,
    .views = views,
};
