/* comms: messages from request to final status.
 *
 * Reads sb.messages (message.requested, and the statuses: comms' own
 * message.blocked / message.status_updated 'queued', the dispatcher's
 * message.submitted and reports, the providers' callbacks) and sb.tenants
 * (template.published, provider.configured), with two global tables: its
 * own "config" (templates and provider accounts, comms_cfg.c) and the
 * compliance processor's consent table (consent.h).
 *
 * Tables (schema comms; row-level security on tenant_id, as every
 * projection):
 *   templates        every template version and locale published
 *   providers        provider accounts, secrets sealed as ingest sealed
 *                    them (never in a read view: provider_accounts is the
 *                    view without them)
 *   outbox           THE handoff to the dispatcher: one row per message
 *                    that passed the checks (comms_request.c), written in
 *                    the batch's transaction; a row once there is never
 *                    rewritten by comms (every column SB_MERGE_KEEP), and
 *                    its state .. sent_at columns are the dispatcher's
 *   messages         a message's current status (comms_status.c)
 *   message_statuses every status report, applied or not
 *   delivery_daily   counts by local day, channel, provider, template,
 *                    campaign */
#include "comms.h"
#include "comms_int.h"
#include "consent.h"

#include <stdlib.h>
#include <string.h>

/* ---- tables ---------------------------------------------------------------- */

#define K 0u
#define R SB_MERGE_REPLACE
#define KEEP SB_MERGE_KEEP
#define SUM SB_MERGE_SUM

const sb_table_def_t comms__templates = {
    .name = "templates",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, K},
            {"template_id", SB_COL_TEXT, K},
            {"version", SB_COL_INT4, K},
            {"locale", SB_COL_TEXT, K},
            {"channel", SB_COL_TEXT, R},
            {"subject_template", SB_COL_TEXT, R},
            {"body_template", SB_COL_TEXT, R},
            {"max_length", SB_COL_INT4, R},
            {"published_at", SB_COL_TIMESTAMPTZ, R},
            {"event_id", SB_COL_TEXT, R},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "template_id", "version",
                                 "locale", NULL},
};

const sb_table_def_t comms__outbox = {
    .name = "outbox",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, K},
            {"message_id", SB_COL_TEXT, K},
            {"channel", SB_COL_TEXT, KEEP},
            {"account_id", SB_COL_TEXT, KEEP},
            {"to_sealed", SB_COL_TEXT, KEEP},
            {"from_address", SB_COL_TEXT, KEEP},
            {"subject_sealed", SB_COL_TEXT, KEEP},
            {"body_sealed", SB_COL_TEXT, KEEP},
            {"template_id", SB_COL_TEXT, KEEP},
            {"template_version", SB_COL_TEXT, KEEP},
            {"variables_sealed", SB_COL_TEXT, KEEP},
            {"request_event_id", SB_COL_TEXT, KEEP},
            {"lead_id", SB_COL_TEXT, KEEP},
            {"agent_id", SB_COL_TEXT, KEEP},
            {"campaign_id", SB_COL_TEXT, KEEP},
            {"not_before", SB_COL_TIMESTAMPTZ, KEEP},
            {"created_at", SB_COL_TIMESTAMPTZ, KEEP},
            /* the envelope's origin ("lead.created:phone": a lead's
             * address, comms_lead.c); NULL: message.requested:to_address */
            {"to_origin", SB_COL_TEXT, KEEP},
            /* state, attempts, claimed_by, claimed_until, last_error,
             * provider_message_id, sent_at: the dispatcher's */
            {0},
        },
    .key = (const char *const[]){"tenant_id", "message_id", NULL},
    .retention_class = "message",
    .retention_col = "created_at",
};

const sb_table_def_t comms__messages = {
    .name = "messages",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, K},
            {"message_id", SB_COL_TEXT, K},
            {"channel", SB_COL_TEXT, R},
            {"account_id", SB_COL_TEXT, R},
            {"provider", SB_COL_TEXT, R},
            {"template_id", SB_COL_TEXT, R},
            {"campaign_id", SB_COL_TEXT, R},
            {"lead_id", SB_COL_TEXT, KEEP},
            {"agent_id", SB_COL_TEXT, KEEP | SB_COL_OWNER},
            {"purpose", SB_COL_TEXT, KEEP},
            {"template_version", SB_COL_TEXT, KEEP},
            {"request_event_id", SB_COL_TEXT, KEEP},
            {"requested_at", SB_COL_TIMESTAMPTZ, R},
            {"status", SB_COL_TEXT, R},
            {"status_rank", SB_COL_INT4, R},
            {"status_at", SB_COL_TIMESTAMPTZ, R},
            {"blocked_reason", SB_COL_TEXT, R},
            {"provider_message_id", SB_COL_TEXT, R},
            {"provider_status", SB_COL_TEXT, R},
            {"error_code", SB_COL_TEXT, R},
            {"failed_after_delivery", SB_COL_BOOL, R},
            {"submitted_at", SB_COL_TIMESTAMPTZ, R},
            {"delivered_at", SB_COL_TIMESTAMPTZ, R},
            {"read_at", SB_COL_TIMESTAMPTZ, R},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "message_id", NULL},
    .retention_class = "message",
    .retention_col = "requested_at",
};

const sb_table_def_t comms__statuses = {
    .name = "message_statuses",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, K},
            {"message_id", SB_COL_TEXT, K},
            {"event_id", SB_COL_TEXT, K},
            {"status", SB_COL_TEXT, R},
            {"rank", SB_COL_INT4, R},
            {"applied", SB_COL_BOOL, SB_MERGE_MAX},
            {"failed_after_delivery", SB_COL_BOOL, SB_MERGE_MAX},
            {"provider", SB_COL_TEXT, R},
            {"provider_message_id", SB_COL_TEXT, R},
            {"provider_status", SB_COL_TEXT, R},
            {"error_code", SB_COL_TEXT, R},
            {"error_message", SB_COL_TEXT, R},
            {"occurred_at", SB_COL_TIMESTAMPTZ, R},
            {"provider_reported_at", SB_COL_TIMESTAMPTZ, R},
            {"retry_after", SB_COL_TIMESTAMPTZ, R},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "message_id", "event_id", NULL},
    .retention_class = "message",
    .retention_col = "occurred_at",
};

const sb_table_def_t comms__daily = {
    .name = "delivery_daily",
    .cols =
        (const sb_col_t[]){
            {"tenant_id", SB_COL_TEXT, K},
            {"day", SB_COL_DATE, K},
            {"channel", SB_COL_TEXT, K},
            {"provider", SB_COL_TEXT, K},
            {"template_id", SB_COL_TEXT, K},
            {"campaign_id", SB_COL_TEXT, K},
            {"requested", SB_COL_INT8, SUM},
            {"queued", SB_COL_INT8, SUM},
            {"blocked", SB_COL_INT8, SUM},
            {"sent", SB_COL_INT8, SUM},
            {"delivered", SB_COL_INT8, SUM},
            {"read", SB_COL_INT8, SUM},
            {"failed", SB_COL_INT8, SUM},
            {"failed_after_delivery", SB_COL_INT8, SUM},
            {"blocked_no_consent", SB_COL_INT8, SUM},
            {"blocked_dnc", SB_COL_INT8, SUM},
            {"blocked_quiet_hours", SB_COL_INT8, SUM},
            {"blocked_opted_out", SB_COL_INT8, SUM},
            {"blocked_invalid_address", SB_COL_INT8, SUM},
            {"blocked_other", SB_COL_INT8, SUM},
            {"blocked_template_missing", SB_COL_INT8, SUM},
            {"blocked_template_variable_missing", SB_COL_INT8, SUM},
            {"blocked_too_long", SB_COL_INT8, SUM},
            {"blocked_no_provider", SB_COL_INT8, SUM},
            {"delivery_ms_sum", SB_COL_INT8, SUM},
            {"delivery_count", SB_COL_INT8, SUM},
            {0},
        },
    .key = (const char *const[]){"tenant_id", "day", "channel", "provider",
                                 "template_id", "campaign_id", NULL},
    .retention_class = "message",
    .retention_col = "day",
};

static const sb_table_def_t *const tables[] = {
    &comms__templates, &comms__outbox,  &comms__messages,
    &comms__statuses,  &comms__daily, NULL};

#define GRANT(t)                                                               \
  "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}." t " TO "                 \
  "switchboard_app;\n"
#define N0 " bigint NOT NULL DEFAULT 0, "

static const sb_proj_step_t migrations[] = {
    {1,
     "CREATE TABLE {schema}.templates (tenant_id text NOT NULL, template_id "
     "text NOT NULL, version integer NOT NULL, locale text NOT NULL, channel "
     "text NOT NULL, subject_template text, body_template text NOT NULL, "
     "max_length integer NOT NULL, published_at timestamptz NOT NULL, "
     "event_id text NOT NULL, PRIMARY KEY (tenant_id, template_id, version, "
     "locale));\n"
     "CREATE TABLE {schema}.providers (tenant_id text NOT NULL, account_id "
     "text NOT NULL, provider text NOT NULL, base_url text, from_address "
     "text, username text, secret_sealed text NOT NULL, secret2_sealed text, "
     "channels text[] NOT NULL, is_default boolean NOT NULL, event_id text "
     "NOT NULL, configured_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, "
     "account_id));\n"
     "CREATE VIEW {schema}.provider_accounts WITH (security_invoker = true) "
     "AS SELECT tenant_id, account_id, provider, base_url, from_address, "
     "username, channels, is_default, event_id, configured_at FROM "
     "{schema}.providers;\n"
     "CREATE TABLE {schema}.outbox (tenant_id text NOT NULL, message_id text "
     "NOT NULL, channel text NOT NULL, account_id text NOT NULL, to_sealed "
     "text NOT NULL, from_address text, subject_sealed text, body_sealed "
     "text, template_id text, template_version text, variables_sealed text, "
     "request_event_id text NOT NULL, lead_id text, agent_id text, "
     "campaign_id text, not_before timestamptz NOT NULL, created_at "
     "timestamptz NOT NULL, state text NOT NULL DEFAULT 'pending' CHECK "
     "(state IN ('pending', 'sending', 'sent', 'failed')), attempts integer "
     "NOT NULL DEFAULT 0, claimed_by text, claimed_until timestamptz, "
     "last_error text, provider_message_id text, sent_at timestamptz, "
     "PRIMARY KEY (tenant_id, message_id));\n"
     "CREATE INDEX ON {schema}.outbox (state, not_before);\n"
     "CREATE VIEW {schema}.outbox_state WITH (security_invoker = true) AS "
     "SELECT tenant_id, message_id, channel, account_id, template_id, "
     "template_version, lead_id, agent_id, campaign_id, not_before, "
     "created_at, state, attempts, claimed_until, last_error, "
     "provider_message_id, sent_at FROM {schema}.outbox;\n"
     "CREATE TABLE {schema}.messages (tenant_id text NOT NULL, message_id "
     "text NOT NULL, channel text, account_id text, provider text, "
     "template_id text, campaign_id text, lead_id text, agent_id text, "
     "purpose text, template_version text, request_event_id text, "
     "requested_at timestamptz, status text NOT NULL, status_rank integer "
     "NOT NULL, status_at timestamptz, blocked_reason text, "
     "provider_message_id text, provider_status text, error_code text, "
     "failed_after_delivery boolean NOT NULL DEFAULT false, submitted_at "
     "timestamptz, delivered_at timestamptz, read_at timestamptz, PRIMARY "
     "KEY (tenant_id, message_id));\n"
     "CREATE INDEX ON {schema}.messages (tenant_id, requested_at);\n"
     "CREATE TABLE {schema}.message_statuses (tenant_id text NOT NULL, "
     "message_id text NOT NULL, event_id text NOT NULL, status text NOT "
     "NULL, rank integer NOT NULL, applied boolean NOT NULL, "
     "failed_after_delivery boolean NOT NULL, provider text, "
     "provider_message_id text, provider_status text, error_code text, "
     "error_message text, occurred_at timestamptz NOT NULL, "
     "provider_reported_at timestamptz, retry_after timestamptz, PRIMARY KEY "
     "(tenant_id, message_id, event_id));\n"
     "CREATE INDEX ON {schema}.message_statuses (tenant_id, occurred_at);\n"
     "CREATE TABLE {schema}.delivery_daily (tenant_id text NOT NULL, day "
     "date NOT NULL, channel text NOT NULL, provider text NOT NULL, "
     "template_id text NOT NULL, campaign_id text NOT NULL, requested" N0
     "queued" N0 "blocked" N0 "sent" N0 "delivered" N0 "read" N0 "failed" N0
     "failed_after_delivery" N0 "blocked_no_consent" N0 "blocked_dnc" N0
     "blocked_quiet_hours" N0 "blocked_opted_out" N0
     "blocked_invalid_address" N0 "blocked_other" N0
     "blocked_template_missing" N0 "blocked_template_variable_missing" N0
     "blocked_too_long" N0 "blocked_no_provider" N0 "delivery_ms_sum" N0
     "delivery_count" N0 "PRIMARY KEY (tenant_id, day, channel, provider, "
     "template_id, campaign_id));\n" GRANT("templates") GRANT("providers")
         GRANT("outbox") GRANT("messages") GRANT("message_statuses")
             GRANT("delivery_daily") "GRANT SELECT ON "
                                     "{schema}.provider_accounts, "
                                     "{schema}.outbox_state TO "
                                     "switchboard_reader, switchboard_app;"},
    {2, "ALTER TABLE {schema}.outbox ADD COLUMN to_origin text;"},
    {0, NULL},
};

/* the outbox holds what message.requested sealed */
static const sb_pii_col_t pii_cols[] = {
    {"outbox", "to_sealed",
     "message.requested:to_address,lead.created:phone,lead.updated:phone,"
     "lead.created:email,lead.updated:email"},
    {"outbox", "subject_sealed", "message.requested:subject_line"},
    {"outbox", "body_sealed", "message.requested:body"},
    {"outbox", "variables_sealed", "message.requested:template_variables_json"},
    {0},
};

/* what GET /v1/projections/comms/VIEW answers */
static const sb_view_def_t views[] = {
    {.name = "messages",
     .relation = "messages",
     .about = "each message's current status, provider and timings",
     .time_col = "requested_at",
     .order = "message_id",
     .filters = "status=status,channel=channel,campaign=campaign_id,lead="
                "lead_id,template=template_id",
     .owner_col = "agent_id"},
    {.name = "message_statuses",
     .relation = "message_statuses",
     .about = "every status report of a message, applied or not",
     .time_col = "occurred_at",
     .order = "message_id,event_id",
     .filters = "message=message_id,status=status"},
    {.name = "delivery_daily",
     .relation = "delivery_daily",
     .about = "requested, blocked by reason, sent, delivered, read, failed "
              "and time to delivery by day, channel, provider, template, "
              "campaign",
     .time_col = "day",
     .order = "day,channel,provider,template_id,campaign_id",
     .filters = "channel=channel,provider=provider,template=template_id,"
                "campaign=campaign_id"},
    {.name = "templates",
     .relation = "templates",
     .about = "the message templates published",
     .time_col = "published_at",
     .order = "template_id,version,locale",
     .filters = "template=template_id,channel=channel"},
    {.name = "providers",
     .relation = "provider_accounts",
     .about = "the provider accounts configured (never their secrets)",
     .order = "account_id"},
    {.name = "outbox",
     .relation = "outbox_state",
     .about = "the dispatch queue: state, attempts, last error",
     .time_col = "created_at",
     .order = "message_id",
     .filters = "state=state,channel=channel"},
    {0},
};

/* ---- init ------------------------------------------------------------------ */

static void destroy(void *state) {
  comms_t *x = state;
  if (x == NULL)
    return;
  cJSON_Delete(x->providers);
  sb_codec_free(x->codec);
  free(x);
}

static int init(void **state, const sb_kit_t *kit, sb_err_t *err) {
  comms_t *x = calloc(1, sizeof *x);
  if (x == NULL || (x->providers = cJSON_CreateArray()) == NULL) {
    free(x);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  static const char *const types[CT_N] = {
      [CT_REQUESTED] = "message.requested", [CT_BLOCKED] = "message.blocked",
      [CT_SUBMITTED] = "message.submitted", [CT_STATUS] = "message.status_updated",
      [CT_TEMPLATE] = "template.published", [CT_PROVIDER] = "provider.configured",
      [CT_LEAD_CREATED] = "lead.created", [CT_LEAD_UPDATED] = "lead.updated",
  };
  static const struct {
    int type, f;
    const char *path;
  } fields[] = {
      {CT_REQUESTED, RF_CHANNEL, "channel"},
      {CT_REQUESTED, RF_TO, "to_address"},
      {CT_REQUESTED, RF_TO_HMAC, "to_address_hmac"},
      {CT_REQUESTED, RF_FROM, "from_address"},
      {CT_REQUESTED, RF_PURPOSE, "purpose"},
      {CT_REQUESTED, RF_LEAD, "lead_id"},
      {CT_REQUESTED, RF_AGENT, "agent_id"},
      {CT_REQUESTED, RF_CAMPAIGN, "campaign_id"},
      {CT_REQUESTED, RF_TEMPLATE, "template_id"},
      {CT_REQUESTED, RF_TEMPLATE_VERSION, "template_version"},
      {CT_REQUESTED, RF_VARIABLES, "template_variables_json"},
      {CT_REQUESTED, RF_SUBJECT, "subject_line"},
      {CT_REQUESTED, RF_BODY, "body"},
      {CT_REQUESTED, RF_SCHEDULED, "scheduled_at"},
      {CT_REQUESTED, RF_TO_TZ, "to_address_tz"},
      {CT_REQUESTED, RF_RECIPIENT_TZ, "recipient_time_zone"},
      {CT_BLOCKED, BF_MESSAGE, "message_id"},
      {CT_BLOCKED, BF_REASON, "reason"},
      {CT_BLOCKED, BF_CHANNEL, "channel"},
      {CT_BLOCKED, BF_PURPOSE, "purpose"},
      {CT_BLOCKED, BF_DETAIL, "detail"},
      {CT_BLOCKED, BF_LEAD, "lead_id"},
      {CT_BLOCKED, BF_CAMPAIGN, "campaign_id"},
      {CT_BLOCKED, BF_RETRY_AFTER, "retry_after"},
      {CT_BLOCKED, BF_SOURCE, "source"},
      {CT_SUBMITTED, SF_PROVIDER, "provider"},
      {CT_SUBMITTED, SF_CHANNEL, "channel"},
      {CT_SUBMITTED, SF_PMID, "provider_message_id"},
      {CT_STATUS, UF_MESSAGE, "message_id"},
      {CT_STATUS, UF_STATUS, "status"},
      {CT_STATUS, UF_CHANNEL, "channel"},
      {CT_STATUS, UF_PROVIDER, "provider"},
      {CT_STATUS, UF_PMID, "provider_message_id"},
      {CT_STATUS, UF_PSTATUS, "provider_status"},
      {CT_STATUS, UF_REPORTED_AT, "provider_reported_at"},
      {CT_STATUS, UF_ERROR_CODE, "error_code"},
      {CT_STATUS, UF_ERROR_MESSAGE, "error_message"},
      {CT_STATUS, UF_SOURCE, "source"},
      {CT_TEMPLATE, TF_ID, "template_id"},
      {CT_TEMPLATE, TF_VERSION, "version"},
      {CT_TEMPLATE, TF_CHANNEL, "channel"},
      {CT_TEMPLATE, TF_LOCALE, "locale"},
      {CT_TEMPLATE, TF_SUBJECT, "subject_template"},
      {CT_TEMPLATE, TF_BODY, "body_template"},
      {CT_TEMPLATE, TF_MAXLEN, "max_length"},
      {CT_PROVIDER, PF_ACCOUNT, "account_id"},
      {CT_PROVIDER, PF_PROVIDER, "provider"},
      {CT_PROVIDER, PF_BASE_URL, "base_url"},
      {CT_PROVIDER, PF_FROM, "from_address"},
      {CT_PROVIDER, PF_USERNAME, "username"},
      {CT_PROVIDER, PF_SECRET, "secret"},
      {CT_PROVIDER, PF_SECRET2, "secret2"},
      {CT_PROVIDER, PF_CHANNELS, "channels"},
      {CT_PROVIDER, PF_DEFAULT, "default"},
      {CT_LEAD_CREATED, LF_C_LEAD, "lead_id"},
      {CT_LEAD_CREATED, LF_C_PHONE, "phone"},
      {CT_LEAD_CREATED, LF_C_PHMAC, "phone_hmac"},
      {CT_LEAD_CREATED, LF_C_PTZ, "phone_tz"},
      {CT_LEAD_CREATED, LF_C_EMAIL, "email"},
      {CT_LEAD_CREATED, LF_C_EHMAC, "email_hmac"},
      {CT_LEAD_UPDATED, LF_U_LEAD, "lead_id"},
      {CT_LEAD_UPDATED, LF_U_PHONE, "phone"},
      {CT_LEAD_UPDATED, LF_U_PHMAC, "phone_hmac"},
      {CT_LEAD_UPDATED, LF_U_PTZ, "phone_tz"},
      {CT_LEAD_UPDATED, LF_U_EMAIL, "email"},
      {CT_LEAD_UPDATED, LF_U_EHMAC, "email_hmac"},
      {CT_LEAD_UPDATED, LF_U_CHANGED, "changed_fields"},
  };
  int rc = 0;
  for (int i = 0; rc == 0 && i < CT_N; i++)
    rc = sb_codec_type(kit->schemas, types[i], &x->t[i], err);
  for (size_t i = 0; rc == 0 && i < sizeof fields / sizeof fields[0]; i++)
    rc = sb_codec_field(kit->schemas, types[fields[i].type], fields[i].path,
                        &x->f[fields[i].f], err);
  const char *qs = NULL, *qe = NULL;
  if (rc == 0)
    rc = sb_conf_str(kit->conf, "comms.quiet_start", &qs, err);
  if (rc == 0)
    rc = sb_conf_str(kit->conf, "comms.quiet_end", &qe, err);
  if (rc == 0)
    rc = sb_conf_int(kit->conf, "comms.quiet_hours_action", &x->quiet_action,
                     err);
  int wait_ms = 0;
  if (rc == 0)
    rc = sb_conf_int(kit->conf, "comms.lead_wait_ms", &wait_ms, err);
  x->lead_wait_us = (int64_t)wait_ms * 1000;
  if (rc == 0)
    rc = sb_codec_new(kit->schemas, &x->codec, err);
  if (rc == 0 && ((x->quiet_start = comms__parse_hhmm(qs)) < 0 ||
                  (x->quiet_end = comms__parse_hhmm(qe)) < 0))
    rc = sb_err_set(err, SB_EINVAL, "comms.quiet_start and comms.quiet_end "
                    "are HH:MM, 00:00 to 24:00 (given '%s' and '%s')",
                    qs ? qs : "", qe ? qe : "");
  if (rc != 0) {
    destroy(x);
    return rc;
  }
  *state = x;
  return 0;
}

/* ---- events ---------------------------------------------------------------- */

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  comms_t *x = state;
  if (sb_event_type_is(ev, x->t[CT_REQUESTED]))
    return comms__request_event(x, b, ev, err);
  if (sb_event_type_is(ev, x->t[CT_BLOCKED]))
    return comms__blocked_event(x, b, ev, err);
  if (sb_event_type_is(ev, x->t[CT_SUBMITTED]) ||
      sb_event_type_is(ev, x->t[CT_STATUS]))
    return comms__status_event(x, b, ev, err);
  if (sb_event_type_is(ev, x->t[CT_TEMPLATE]))
    return comms__template_event(x, b, ev, err);
  if (sb_event_type_is(ev, x->t[CT_PROVIDER]))
    return comms__provider_event(x, b, ev, err);
  return 0;
}

static int timer(void *state, sb_batch_t *b, const sb_timer_t *t,
                 sb_err_t *err) {
  return comms__parked_timer(state, b, t, err);
}

static int begin(void *state, sb_batch_t *b, sb_err_t *err) {
  (void)b;
  (void)err;
  comms__providers_forget(state);
  return 0;
}

static int commit(void *state, sb_batch_t *b, sb_err_t *err) {
  return comms__providers_flush(state, b, err);
}

static void abort_batch(void *state) { comms__providers_forget(state); }
static void committed(void *state) { comms__providers_forget(state); }

/* A replay's rebuild writes no outbox rows (only the live outbox is
 * dispatched, and a decision replayed must not be sent again): the intents
 * and their dispatch state are carried over instead, in the swap's
 * transaction (quick 1: the live projection's batches held off), so the
 * swapped-in projection goes on with exactly the live outbox: nothing
 * pending lost, nothing sent re-queued. The projection itself is rebuilt
 * from the log and not compared (quick 0 checks nothing). */
static int same_as_live(sb_pg_t *pg, const char *live, const char *rebuilt,
                        const char *live_group, int quick, sb_err_t *err) {
  (void)live_group;
  if (!quick)
    return 0;
  static const char cols[] =
      "tenant_id, message_id, channel, account_id, to_sealed, from_address, "
      "subject_sealed, body_sealed, template_id, template_version, "
      "variables_sealed, request_event_id, lead_id, agent_id, campaign_id, "
      "not_before, created_at, state, attempts, claimed_by, claimed_until, "
      "last_error, provider_message_id, sent_at, to_origin";
  sb_text_t sql = {0};
  sb_text_add(&sql,
              "INSERT INTO %s.outbox (%s) SELECT %s FROM %s.outbox ON "
              "CONFLICT (tenant_id, message_id) DO NOTHING",
              rebuilt, cols, cols, live);
  int rc = sql.failed ? sb_err_set(err, SB_ENOMEM, "out of memory")
                      : sb_pg_exec(pg, sql.s, 0, NULL, err);
  sb_text_free(&sql);
  return rc;
}

const sb_global_def_t comms__globals[] = {
    {"config", SB_TOPIC_TENANTS, comms__reduce_config},
    SB_CONSENT_GLOBAL,
    {"leads", SB_TOPIC_LEADS, comms__reduce_lead},
    {0},
};

static const sb_conf_prop_t conf_rows[] = {
    {"comms.quiet_start", SB_CT_STR, 0, 0, 0, "21:00",
     "SWITCHBOARD_COMMS_QUIET_START", "HH:MM", NULL, 0,
     "Start of the quiet hours, in the recipient's local time: a marketing "
     "(any purpose but transactional) SMS, e-mail, WhatsApp or push message "
     "due from then until comms.quiet_end is blocked (quiet_hours) or "
     "deferred (comms.quiet_hours_action)."},
    {"comms.quiet_end", SB_CT_STR, 0, 0, 0, "08:00",
     "SWITCHBOARD_COMMS_QUIET_END", "HH:MM", NULL, 0,
     "End of the quiet hours (exclusive), in the recipient's local time; "
     "equal to comms.quiet_start: no quiet hours."},
    {"comms.quiet_hours_action", SB_CT_ENUM, 0, 0, 0, "block",
     "SWITCHBOARD_COMMS_QUIET_HOURS_ACTION", "block|defer", "block,defer", 0,
     "What a message due in the recipient's quiet hours gets: block "
     "(message.blocked quiet_hours, retry_after the end of the quiet hours) "
     "or defer (queued, dispatched from the end of the quiet hours)."},
    {"comms.lead_wait_ms", SB_CT_INT, 0, 0, 600000, "30000",
     "SWITCHBOARD_COMMS_LEAD_WAIT_MS", "MS", NULL, 0,
     "How long a live message to lead:<id> (automation's) whose lead the "
     "comms processor does not know yet waits for the lead's events to "
     "reach it (looked at again every 0.5 s) before it is blocked "
     "invalid_address. 0: never waits (decided at once)."},
    {0},
};

const sb_processor_vt_t sb_comms_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "comms",
    .topics = (const char *const[]){SB_TOPIC_MESSAGES, SB_TOPIC_TENANTS, NULL},
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .timer = timer,
    .destroy = destroy,
    .commit = commit,
    .abort = abort_batch,
    .begin = begin,
    .committed = committed,
    .same_as_live = same_as_live,
    .flags = SB_PROCESSOR_KEYED_STATE,
    .globals = comms__globals,
    .conf = conf_rows,
    .pii_cols = pii_cols,
    .views = views,
};
