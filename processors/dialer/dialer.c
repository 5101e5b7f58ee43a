/* The dialer processor (issue 18, item 4): a progressive dialer's
 * requests to the PBX.
 *
 *   call.dial_requested -> an intent in {schema}.outbox, written in the
 *                          batch's transaction: THE handoff to the AMI
 *                          connector's dialer (connectors/ami/
 *                          sb_ami_dial.c), which claims it, marks it sent
 *                          and only then sends Action: Originate;
 *                          and a row in {schema}.dials.
 *   call.dial_result    -> a row in {schema}.dial_results.
 *
 * Never twice: both tables are keyed by (tenant_id, dial_id) and every
 * column keeps its first value (SB_MERGE_KEEP), so a request delivered
 * again (a duplicate of its event, a redelivery after a crash before the
 * commit, a second event with the same dial_id) writes nothing new: the
 * intent's state, which only the connector moves (pending -> sent ->
 * done), is never reset. The first result of a dial stands likewise (the
 * connector derives its id from the request's: a later "unknown" for a
 * dial whose result was produced is a duplicate at ingest anyway).
 *
 * A rebuild (replay) writes no outbox rows: the live outbox, with its
 * states, is carried over into the rebuilt schema at the swap
 * (same_as_live), so nothing is dialled again and nothing pending is
 * lost. */
#include "dialer.h"


#include <stdlib.h>
#include <string.h>

enum { T_REQUESTED, T_RESULT, T_N };
enum {
  F_DIAL,
  F_PBX,
  F_NUMBER,
  F_LEAD,
  F_CAMPAIGN,
  F_CALLER,
  F_CONTEXT,
  F_EXTEN,
  F_TIMEOUT,
  R_DIAL,
  R_REQUEST,
  R_PBX,
  R_OUTCOME,
  R_REASON,
  R_DETAIL,
  R_CALL,
  F_N
};

typedef struct {
  sb_etype_ref_t t[T_N];
  sb_field_t f[F_N];
} dialer_t;

#define K 0u
#define KEEP SB_MERGE_KEEP

static const sb_table_def_t outbox = {
    .name = "outbox",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, K},
            {"dial_id", SB_COL_TEXT, K},
            {"pbx", SB_COL_TEXT, KEEP},
            {"number_sealed", SB_COL_TEXT, KEEP},
            {"caller_id", SB_COL_TEXT, KEEP},
            {"context", SB_COL_TEXT, KEEP},
            {"exten", SB_COL_TEXT, KEEP},
            {"timeout_ms", SB_COL_INT4, KEEP},
            {"lead_id", SB_COL_TEXT, KEEP},
            {"campaign_id", SB_COL_TEXT, KEEP},
            {"request_event_id", SB_COL_TEXT, KEEP},
            {"created_at", SB_COL_TIMESTAMPTZ, KEEP},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "dial_id", NULL},
};

static const sb_table_def_t dials = {
    .name = "dials",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, K},
            {"dial_id", SB_COL_TEXT, K},
            {"pbx", SB_COL_TEXT, KEEP},
            {"lead_id", SB_COL_TEXT, KEEP},
            {"campaign_id", SB_COL_TEXT, KEEP},
            {"request_event_id", SB_COL_TEXT, KEEP},
            {"requested_at", SB_COL_TIMESTAMPTZ, KEEP},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "dial_id", NULL},
    .retention_class = "call",
    .retention_col = "requested_at",
};

static const sb_table_def_t results = {
    .name = "dial_results",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, K},
            {"dial_id", SB_COL_TEXT, K},
            {"outcome", SB_COL_TEXT, KEEP},
            {"reason", SB_COL_INT4, KEEP},
            {"detail", SB_COL_TEXT, KEEP},
            {"call_id", SB_COL_TEXT, KEEP},
            {"event_id", SB_COL_TEXT, KEEP},
            {"result_at", SB_COL_TIMESTAMPTZ, KEEP},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "dial_id", NULL},
    .retention_class = "call",
    .retention_col = "result_at",
};

static const sb_table_def_t *const tables[] = {&outbox, &dials, &results,
                                               NULL};

#define GRANT(t)                                                               \
  "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}." t " TO "                 \
  "switchboard_app;\n"

static const sb_proj_step_t migrations[] = {
    {1,
     "CREATE TABLE {schema}.outbox (tenant_id text NOT NULL, dial_id text NOT "
     "NULL, pbx text NOT NULL, number_sealed text NOT NULL, caller_id text, "
     "context text, exten text, timeout_ms integer, lead_id text, "
     "campaign_id text, request_event_id text NOT NULL, created_at "
     "timestamptz NOT NULL, state text NOT NULL DEFAULT 'pending' CHECK "
     "(state IN ('pending', 'sent', 'done')), claimed_by text, sent_at "
     "timestamptz, outcome text, done_at timestamptz, PRIMARY KEY "
     "(tenant_id, dial_id));\n"
     "CREATE INDEX ON {schema}.outbox (pbx, state);\n"
     "CREATE TABLE {schema}.dials (tenant_id text NOT NULL, dial_id text NOT "
     "NULL, pbx text NOT NULL, lead_id text, campaign_id text, "
     "request_event_id text NOT NULL, requested_at timestamptz NOT NULL, "
     "PRIMARY KEY (tenant_id, dial_id));\n"
     "CREATE TABLE {schema}.dial_results (tenant_id text NOT NULL, dial_id "
     "text NOT NULL, outcome text NOT NULL, reason integer, detail text, "
     "call_id text, event_id text NOT NULL, result_at timestamptz NOT NULL, "
     "PRIMARY KEY (tenant_id, dial_id));\n" GRANT("outbox") GRANT("dials")
         GRANT("dial_results")},
    {0, NULL},
};

static const sb_pii_col_t pii_cols[] = {
    {"outbox", "number_sealed", "call.dial_requested:number"},
    {0},
};

static int is_rebuild(sb_batch_t *b) {
  return strcmp(sb_batch_schema(b), sb_batch_processor(b)) != 0;
}

static int requested(dialer_t *x, sb_batch_t *b, const sb_event_t *ev,
                     sb_err_t *err) {
  const sb_field_t *F = x->f;
  const char *dial = sb_event_str(ev, F[F_DIAL]);
  const char *pbx = sb_event_str(ev, F[F_PBX]);
  const char *lead = sb_event_str(ev, F[F_LEAD]);
  const char *campaign = sb_event_str(ev, F[F_CAMPAIGN]);
  sb_val_t timeout = SB_V_INT4((int32_t)sb_event_i64(ev, F[F_TIMEOUT]));
  if (!sb_event_has(ev, F[F_TIMEOUT]))
    timeout.null = 1;
  if (!is_rebuild(b) &&
      sb_rows_add(b, &outbox,
                  (const sb_val_t[]){
                      SB_V_TEXT(ev->tenant_id),
                      SB_V_TEXT(dial),
                      SB_V_TEXT(pbx),
                      SB_V_TEXT(sb_event_str(ev, F[F_NUMBER])),
                      SB_V_TEXT(sb_event_str(ev, F[F_CALLER])),
                      SB_V_TEXT(sb_event_str(ev, F[F_CONTEXT])),
                      SB_V_TEXT(sb_event_str(ev, F[F_EXTEN])),
                      timeout,
                      SB_V_TEXT(lead),
                      SB_V_TEXT(campaign),
                      SB_V_TEXT(ev->event_id),
                      SB_V_TIMESTAMPTZ(ev->occurred_at),
                  },
                  err) != 0)
    return err->code;
  return sb_rows_add(b, &dials,
                     (const sb_val_t[]){
                         SB_V_TEXT(ev->tenant_id),
                         SB_V_TEXT(dial),
                         SB_V_TEXT(pbx),
                         SB_V_TEXT(lead),
                         SB_V_TEXT(campaign),
                         SB_V_TEXT(ev->event_id),
                         SB_V_TIMESTAMPTZ(ev->occurred_at),
                     },
                     err);
}

static int result(dialer_t *x, sb_batch_t *b, const sb_event_t *ev,
                  sb_err_t *err) {
  const sb_field_t *F = x->f;
  sb_val_t reason = SB_V_INT4((int32_t)sb_event_i64(ev, F[R_REASON]));
  if (!sb_event_has(ev, F[R_REASON]))
    reason.null = 1;
  return sb_rows_add(b, &results,
                     (const sb_val_t[]){
                         SB_V_TEXT(ev->tenant_id),
                         SB_V_TEXT(sb_event_str(ev, F[R_DIAL])),
                         SB_V_TEXT(sb_event_enum_name(ev, F[R_OUTCOME])),
                         reason,
                         SB_V_TEXT(sb_event_str(ev, F[R_DETAIL])),
                         SB_V_TEXT(sb_event_str(ev, F[R_CALL])),
                         SB_V_TEXT(ev->event_id),
                         SB_V_TIMESTAMPTZ(ev->occurred_at),
                     },
                     err);
}

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  dialer_t *x = state;
  if (sb_event_type_is(ev, x->t[T_REQUESTED]))
    return requested(x, b, ev, err);
  if (sb_event_type_is(ev, x->t[T_RESULT]))
    return result(x, b, ev, err);
  return 0;
}

static void destroy(void *state) { free(state); }

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  dialer_t *x = calloc(1, sizeof *x);
  if (x == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  static const char *const types[T_N] = {[T_REQUESTED] = "call.dial_requested",
                                         [T_RESULT] = "call.dial_result"};
  static const struct {
    int type, f;
    const char *path;
  } fields[] = {
      {T_REQUESTED, F_DIAL, "dial_id"},
      {T_REQUESTED, F_PBX, "pbx"},
      {T_REQUESTED, F_NUMBER, "number"},
      {T_REQUESTED, F_LEAD, "lead_id"},
      {T_REQUESTED, F_CAMPAIGN, "campaign_id"},
      {T_REQUESTED, F_CALLER, "caller_id"},
      {T_REQUESTED, F_CONTEXT, "context"},
      {T_REQUESTED, F_EXTEN, "exten"},
      {T_REQUESTED, F_TIMEOUT, "timeout_ms"},
      {T_RESULT, R_DIAL, "dial_id"},
      {T_RESULT, R_REQUEST, "request_event_id"},
      {T_RESULT, R_PBX, "pbx"},
      {T_RESULT, R_OUTCOME, "outcome"},
      {T_RESULT, R_REASON, "reason"},
      {T_RESULT, R_DETAIL, "detail"},
      {T_RESULT, R_CALL, "call_id"},
  };
  int rc = 0;
  for (int i = 0; rc == 0 && i < T_N; i++)
    rc = sb_codec_type(kit->schemas, types[i], &x->t[i], err);
  for (size_t i = 0; rc == 0 && i < sizeof fields / sizeof fields[0]; i++)
    rc = sb_codec_field(kit->schemas, types[fields[i].type], fields[i].path,
                        &x->f[fields[i].f], err);
  if (rc != 0) {
    free(x);
    return rc;
  }
  *state = x;
  return 0;
}

/* See the top of the file: the live outbox, states and all, goes on in
 * the rebuilt schema. */
static int same_as_live(sb_pg_t *pg, const char *live, const char *rebuilt,
                        const char *live_group, int quick, sb_err_t *err) {
  (void)live_group;
  if (!quick)
    return 0;
  static const char cols[] =
      "tenant_id, dial_id, pbx, number_sealed, caller_id, context, exten, "
      "timeout_ms, lead_id, campaign_id, request_event_id, created_at, state, "
      "claimed_by, sent_at, outcome, done_at";
  sb_text_t sql = {0};
  sb_text_add(&sql,
              "INSERT INTO %s.outbox (%s) SELECT %s FROM %s.outbox ON "
              "CONFLICT (tenant_id, dial_id) DO NOTHING",
              rebuilt, cols, cols, live);
  int rc = sql.failed ? sb_err_set(err, SB_ENOMEM, "out of memory")
                      : sb_pg_exec(pg, sql.s, 0, NULL, err);
  sb_text_free(&sql);
  return rc;
}

const sb_processor_vt_t sb_dialer_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "dialer",
    .topics = (const char *const[]){SB_TOPIC_CALLS, NULL},
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .destroy = destroy,
    .same_as_live = same_as_live,
    .pii_cols = pii_cols,
};
