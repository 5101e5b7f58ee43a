/* The compliance processor: consent and do-not-call state.
 *
 * Reads sb.compliance (consent.given, consent.withdrawn, and its own
 * consent.opt_out_honoured), sb.messages (message.opt_out) and sb.leads
 * (lead.dnc_flagged), and keeps, in schema compliance:
 *
 *   consent         per (tenant, subject, purpose, channel; '*' for every
 *                   channel): the latest consent.given / consent.withdrawn
 *                   by occurred_at (ties: the greater event id), with its
 *                   evidence (text version, method, time, evidence URL and
 *                   IP as the ciphertext they arrive as) and expires_at. The
 *                   latest is known from keyed state, so an event older
 *                   than the one applied, or one seen twice, changes
 *                   nothing here.
 *   consent_events  every consent event once (by id): the evidence trail.
 *   suppression     every opt-out and do-not-call flag once per what it
 *                   matches: the HMAC of each address it names
 *                   (phone_hmac, email_hmac: never the plaintext) and the
 *                   subject, so it outlives the subject's erasure.
 *   opt_outs        every withdrawal, opt-out and do-not-call flag once:
 *                   received_at (its occurred_at), honoured_at (when this
 *                   processor applied it, by its clock), the business days
 *                   between them in the tenant's time zone, and late when
 *                   over the TCPA's 10.
 *
 * Applying one is a decision, so it is an event: consent.opt_out_honoured
 * (derived id; no PII), which the table other processors read
 * (consent.h) folds, and which this processor reads back into opt_outs.
 * honoured_at, business_days and late merge by MIN, so a replay, whose
 * clock is later, keeps the times of the first application (the decision
 * events already in the log), and a repeated opt-out is applied once
 * (keyed state remembers its id). */
#include "compliance.h"
#include "consent.h"
#include "consent_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables ------------------------------------------------------------ */

#define K SB_MERGE_KEEP
#define R SB_MERGE_REPLACE

static const sb_table_def_t consent_table = {
    .name = "consent",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"subject_id", SB_COL_TEXT, 0},
                               {"purpose", SB_COL_TEXT, 0},
                               {"channel", SB_COL_TEXT, 0},
                               {"status", SB_COL_TEXT, R},
                               {"changed_at", SB_COL_TIMESTAMPTZ, R},
                               {"expires_at", SB_COL_TIMESTAMPTZ, R},
                               {"event_id", SB_COL_TEXT, R},
                               {"method", SB_COL_TEXT, R},
                               {"text_version", SB_COL_TEXT, R},
                               {"evidence_url", SB_COL_TEXT, R},
                               {"subject_ip", SB_COL_TEXT, R},
                               {"jurisdiction", SB_COL_TEXT, R},
                               {"phone_hmac", SB_COL_TEXT, R},
                               {"email_hmac", SB_COL_TEXT, R},
                               {0}},
    .key = (const char *const[]){"tenant_id", "subject_id", "purpose",
                                 "channel", NULL},
};

static const sb_table_def_t events_table = {
    .name = "consent_events",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"event_id", SB_COL_TEXT, 0},
                               {"subject_id", SB_COL_TEXT, K},
                               {"purpose", SB_COL_TEXT, K},
                               {"channel", SB_COL_TEXT, K},
                               {"status", SB_COL_TEXT, K},
                               {"occurred_at", SB_COL_TIMESTAMPTZ, K},
                               {"method", SB_COL_TEXT, K},
                               {"text_version", SB_COL_TEXT, K},
                               {"consent_text", SB_COL_TEXT, K},
                               {"evidence_url", SB_COL_TEXT, K},
                               {"subject_ip", SB_COL_TEXT, K},
                               {"subject_user_agent", SB_COL_TEXT, K},
                               {"jurisdiction", SB_COL_TEXT, K},
                               {"expires_at", SB_COL_TIMESTAMPTZ, K},
                               {"call_id", SB_COL_TEXT, K},
                               {"campaign_id", SB_COL_TEXT, K},
                               {"message_id", SB_COL_TEXT, K},
                               {"reason", SB_COL_TEXT, K},
                               {"phone_hmac", SB_COL_TEXT, K},
                               {"email_hmac", SB_COL_TEXT, K},
                               {0}},
    .key = (const char *const[]){"tenant_id", "event_id", NULL},
    /* the evidence trail: the current state (consent), suppressions and
     * opt-outs (the TCPA record) are kept whatever the policy */
    .retention_class = "consent",
    .retention_col = "occurred_at",
};

static const sb_table_def_t supp_table = {
    .name = "suppression",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"event_id", SB_COL_TEXT, 0},
                               {"match", SB_COL_TEXT, 0},
                               {"value", SB_COL_TEXT, K},
                               {"kind", SB_COL_TEXT, K},
                               {"subject_id", SB_COL_TEXT, K},
                               {"channel", SB_COL_TEXT, K},
                               {"purpose", SB_COL_TEXT, K},
                               {"received_at", SB_COL_TIMESTAMPTZ, K},
                               {"expires_at", SB_COL_TIMESTAMPTZ, K},
                               {"dnc_list", SB_COL_TEXT, K},
                               {0}},
    .key = (const char *const[]){"tenant_id", "event_id", "match", NULL},
};

static const sb_table_def_t optouts_table = {
    .name = "opt_outs",
    .cols = (const sb_col_t[]){{"tenant_id", SB_COL_TEXT, 0},
                               {"event_id", SB_COL_TEXT, 0},
                               {"kind", SB_COL_TEXT, K},
                               {"source_type", SB_COL_TEXT, K},
                               {"subject_id", SB_COL_TEXT, K},
                               {"channel", SB_COL_TEXT, K},
                               {"purpose", SB_COL_TEXT, K},
                               {"received_at", SB_COL_TIMESTAMPTZ, SB_MERGE_MIN},
                               {"honoured_at", SB_COL_TIMESTAMPTZ, SB_MERGE_MIN},
                               {"business_days", SB_COL_INT4, SB_MERGE_MIN},
                               {"late", SB_COL_BOOL, SB_MERGE_MIN},
                               {0}},
    .key = (const char *const[]){"tenant_id", "event_id", NULL},
};

/* the consent evidence is sealed PII of consent.given: the read API
 * reveals it to whom may see PII, masks it for the others */
static const sb_pii_col_t pii_cols[] = {
    {"consent", "evidence_url", "consent.given:evidence_url"},
    {"consent", "subject_ip", "consent.given:subject_ip"},
    {"consent_events", "evidence_url", "consent.given:evidence_url"},
    {"consent_events", "subject_ip", "consent.given:subject_ip"},
    {"consent_events", "subject_user_agent", "consent.given:subject_user_agent"},
    {0},
};

static const sb_table_def_t *const tables[] = {
    &consent_table, &events_table, &supp_table, &optouts_table, NULL};

#define GRANT(t)                                                               \
  "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}." t " TO switchboard_app;\n"

static const sb_proj_step_t migrations[] = {
    {1,
     "CREATE TABLE {schema}.consent (tenant_id text NOT NULL, subject_id text "
     "NOT NULL, purpose text NOT NULL, channel text NOT NULL, status text NOT "
     "NULL CHECK (status IN ('given', 'withdrawn')), changed_at timestamptz "
     "NOT NULL, expires_at timestamptz, event_id text NOT NULL, method text, "
     "text_version text, evidence_url text, subject_ip text, jurisdiction "
     "text, phone_hmac text, email_hmac text, PRIMARY KEY (tenant_id, "
     "subject_id, purpose, channel));\n"
     "CREATE TABLE {schema}.consent_events (tenant_id text NOT NULL, event_id "
     "text NOT NULL, subject_id text NOT NULL, purpose text NOT NULL, channel "
     "text NOT NULL, status text NOT NULL, occurred_at timestamptz NOT NULL, "
     "method text, text_version text, consent_text text, evidence_url text, "
     "subject_ip text, subject_user_agent text, jurisdiction text, expires_at "
     "timestamptz, call_id text, campaign_id text, message_id text, reason "
     "text, phone_hmac text, email_hmac text, PRIMARY KEY (tenant_id, "
     "event_id));\n"
     "CREATE INDEX ON {schema}.consent_events (tenant_id, subject_id, "
     "occurred_at);\n"
     "CREATE TABLE {schema}.suppression (tenant_id text NOT NULL, event_id "
     "text NOT NULL, match text NOT NULL CHECK (match IN ('phone_hmac', "
     "'email_hmac', 'subject')), value text NOT NULL, kind text NOT NULL, "
     "subject_id text NOT NULL, channel text NOT NULL, purpose text NOT NULL, "
     "received_at timestamptz NOT NULL, expires_at timestamptz, dnc_list "
     "text, PRIMARY KEY (tenant_id, event_id, match));\n"
     "CREATE INDEX ON {schema}.suppression (tenant_id, value);\n"
     "CREATE TABLE {schema}.opt_outs (tenant_id text NOT NULL, event_id text "
     "NOT NULL, kind text NOT NULL, source_type text NOT NULL, subject_id "
     "text NOT NULL, channel text NOT NULL, purpose text NOT NULL, "
     "received_at timestamptz NOT NULL, honoured_at timestamptz, "
     "business_days integer, late boolean, PRIMARY KEY (tenant_id, "
     "event_id));\n" GRANT("consent") GRANT("consent_events")
         GRANT("suppression") GRANT("opt_outs")},
    {0, NULL},
};

/* ---- fields ------------------------------------------------------------ */

enum { T_GIVEN, T_WITHDRAWN, T_OPT_OUT, T_DNC, T_HONOURED, T_N };
static const char *const type_names[T_N] = {
    "consent.given", "consent.withdrawn", "message.opt_out",
    "lead.dnc_flagged", "consent.opt_out_honoured"};

enum {
  F_PURPOSE, F_CHANNEL, F_METHOD, F_TEXT, F_TEXT_VERSION, F_EVIDENCE_URL,
  F_SUBJECT_IP, F_SUBJECT_UA, F_JURISDICTION, F_EXPIRES_AT, F_CALL_ID,
  F_CAMPAIGN_ID, F_PHONE_HMAC, F_EMAIL_HMAC, F_REASON, F_MESSAGE_ID,
  F_LEAD_ID, F_DNC_LIST, F_SUBJECT_ID, F_SOURCE_EVENT_ID, F_SOURCE_TYPE,
  F_KIND, F_HONOURED_AT, F_BUSINESS_DAYS, F_LATE, F_N
};
static const char *const field_names[F_N] = {
    "purpose", "channel", "method", "consent_text", "consent_text_version",
    "evidence_url", "subject_ip", "subject_user_agent", "jurisdiction",
    "expires_at", "call_id", "campaign_id", "phone_hmac", "email_hmac",
    "reason", "message_id", "lead_id", "dnc_list", "subject_id",
    "source_event_id", "source_type", "kind", "honoured_at", "business_days",
    "late"};

typedef struct {
  sb_etype_ref_t t[T_N];
  sb_field_t f[T_N][F_N]; /* zero where the type has no such field */
  /* opt-outs this batch honoured past the TCPA window: logged once a
   * batch when it commits (an import of old history would be thousands) */
  long long late;
  char late_tenant[65], late_id[27];
  int64_t late_days;
} cp_t;

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
  *state = x;
  return 0;
}

static void destroy(void *state) { free(state); }

/* A string or enum field's text; NULL when absent. */
static const char *str(const cp_t *x, const sb_event_t *ev, int t, int f) {
  sb_field_t h = x->f[t][f];
  const char *v = h.kind == SB_FIELD_ENUM ? sb_event_enum_name(ev, h)
                                          : sb_event_str(ev, h);
  return v != NULL && v[0] != '\0' ? v : NULL;
}

static sb_val_t ts_or_null(const cp_t *x, const sb_event_t *ev, int t, int f) {
  sb_field_t h = x->f[t][f];
  if (!sb_event_has(ev, h))
    return (sb_val_t)SB_V_NULL;
  return (sb_val_t)SB_V_TIMESTAMPTZ(sb_event_i64(ev, h));
}

/* ---- business days ------------------------------------------------------ */

static int weekday(int64_t day) { /* 0 Sunday .. 6 Saturday; 1970-01-01 Thu */
  return (int)(((day % 7) + 7 + 4) % 7);
}

int64_t sb_compliance_business_days(int64_t from, int64_t to) {
  if (to <= from)
    return 0;
  int64_t weeks = (to - from) / 7, n = weeks * 5;
  for (int64_t d = from + weeks * 7 + 1; d <= to; d++)
    n += weekday(d) >= 1 && weekday(d) <= 5;
  return n;
}

/* ---- applying an opt-out, withdrawal or do-not-call flag -------------- */

typedef struct {
  const char *kind;  /* withdrawn, opt_out, dnc */
  const char *subject, *purpose, *channel; /* purpose/channel: '*' for all */
  const char *phone_hmac, *email_hmac, *dnc_list;
  int has_expires;
  int64_t expires;
  int no_subject; /* subject is the carrying event's, not a data subject */
} revoke_t;

static int suppress(sb_batch_t *b, const sb_event_t *ev, const revoke_t *r,
                    const char *match, const char *value, sb_err_t *err) {
  if (value == NULL)
    return 0;
  return sb_rows_add(
      b, &supp_table,
      (const sb_val_t[]){
          SB_V_TEXT(ev->tenant_id), SB_V_TEXT(ev->event_id), SB_V_TEXT(match),
          SB_V_TEXT(value), SB_V_TEXT(r->kind), SB_V_TEXT(r->subject),
          SB_V_TEXT(r->channel), SB_V_TEXT(r->purpose),
          SB_V_TIMESTAMPTZ(ev->occurred_at),
          r->has_expires ? (sb_val_t)SB_V_TIMESTAMPTZ(r->expires)
                         : (sb_val_t)SB_V_NULL,
          SB_V_TEXT(r->dnc_list)},
      err);
}

/* The opt_outs row of source event id: honoured at `at` (0: not yet). */
static int optout_row(sb_batch_t *b, const char *tenant, const char *id,
                      const char *type, const revoke_t *r, int64_t received,
                      int64_t at, int64_t days, sb_err_t *err) {
  sb_val_t none = SB_V_NULL;
  return sb_rows_add(
      b, &optouts_table,
      (const sb_val_t[]){SB_V_TEXT(tenant), SB_V_TEXT(id), SB_V_TEXT(r->kind),
                         SB_V_TEXT(type), SB_V_TEXT(r->subject),
                         SB_V_TEXT(r->channel), SB_V_TEXT(r->purpose),
                         SB_V_TIMESTAMPTZ(received),
                         at ? (sb_val_t)SB_V_TIMESTAMPTZ(at) : none,
                         at ? (sb_val_t)SB_V_INT4(days) : none,
                         at ? (sb_val_t)SB_V_BOOL(days > SB_COMPLIANCE_TCPA_DAYS)
                            : none},
      err);
}

/* Records it (suppression rows, its opt_outs row) and, the first time its
 * id is seen, applies it: consent.opt_out_honoured, now. */
static int revoke(cp_t *x, sb_batch_t *b, const sb_event_t *ev,
                  const revoke_t *r, sb_err_t *err) {
  if (strcmp(r->kind, "withdrawn") != 0 &&
      (suppress(b, ev, r, "phone_hmac", r->phone_hmac, err) != 0 ||
       suppress(b, ev, r, "email_hmac", r->email_hmac, err) != 0 ||
       suppress(b, ev, r, "subject", r->no_subject ? NULL : r->subject,
                err) != 0))
    return err->code;
  char key[256];
  const void *v;
  size_t len;
  snprintf(key, sizeof key, "H|%s|%s", ev->tenant_id, ev->event_id);
  if (sb_state_get(b, key, &v, &len) == 0) /* applied before: repeated */
    return optout_row(b, ev->tenant_id, ev->event_id, sb_evtype_name(ev->type),
                      r, ev->occurred_at, 0, 0, err);
  int64_t now = sb_time_now_micros();
  int64_t days = sb_compliance_business_days(
      sb_tenant_day(b, ev->tenant_id, ev->occurred_at),
      sb_tenant_day(b, ev->tenant_id, now));
  if (days > INT32_MAX)
    days = INT32_MAX;
  int late = days > SB_COMPLIANCE_TCPA_DAYS;
  if (late && x->late++ == 0) {
    snprintf(x->late_tenant, sizeof x->late_tenant, "%s", ev->tenant_id);
    snprintf(x->late_id, sizeof x->late_id, "%s", ev->event_id);
    x->late_days = days;
  }
  sb_field_t *f = x->f[T_HONOURED];
  sb_build_t *e = sb_emit_begin(b, x->t[T_HONOURED]);
  sb_build_str(e, f[F_SUBJECT_ID], r->subject);
  sb_build_str(e, f[F_SOURCE_EVENT_ID], ev->event_id);
  sb_build_str(e, f[F_SOURCE_TYPE], sb_evtype_name(ev->type));
  sb_build_enum(e, f[F_KIND], r->kind);
  if (strcmp(r->purpose, CONSENT_ALL) != 0)
    sb_build_enum(e, f[F_PURPOSE], r->purpose);
  if (strcmp(r->channel, CONSENT_ALL) != 0)
    sb_build_str(e, f[F_CHANNEL], r->channel);
  if (r->phone_hmac)
    sb_build_str(e, f[F_PHONE_HMAC], r->phone_hmac);
  if (r->email_hmac)
    sb_build_str(e, f[F_EMAIL_HMAC], r->email_hmac);
  sb_build_i64(e, f[F_HONOURED_AT], now);
  sb_build_i64(e, f[F_BUSINESS_DAYS], days);
  sb_build_bool(e, f[F_LATE], late);
  if (r->has_expires)
    sb_build_i64(e, f[F_EXPIRES_AT], r->expires);
  if (r->dnc_list)
    sb_build_str(e, f[F_DNC_LIST], r->dnc_list);
  if (sb_emit_end(b, e, NULL, err) != 0 ||
      sb_state_put(b, key, "1", 1, err) != 0)
    return err->code;
  return optout_row(b, ev->tenant_id, ev->event_id, sb_evtype_name(ev->type),
                    r, ev->occurred_at, now, days, err);
}

/* ---- events ------------------------------------------------------------- */

static int on_consent(cp_t *x, sb_batch_t *b, const sb_event_t *ev, int t,
                      sb_err_t *err) {
  int given = t == T_GIVEN;
  const char *purpose = str(x, ev, t, F_PURPOSE);
  const char *channel = str(x, ev, t, F_CHANNEL);
  if (channel == NULL)
    channel = CONSENT_ALL;
  if (purpose == NULL || ev->subject == NULL)
    return sb_err_set(err, SB_EVALIDATE, "%s: no purpose or subject",
                      type_names[t]);
  const char *status = given ? "given" : "withdrawn";
  const char *phone = str(x, ev, t, F_PHONE_HMAC),
             *email = str(x, ev, t, F_EMAIL_HMAC);
  sb_val_t expires = given ? ts_or_null(x, ev, t, F_EXPIRES_AT)
                           : (sb_val_t)SB_V_NULL;
  if (sb_rows_add(
          b, &events_table,
          (const sb_val_t[]){
              SB_V_TEXT(ev->tenant_id), SB_V_TEXT(ev->event_id),
              SB_V_TEXT(ev->subject), SB_V_TEXT(purpose), SB_V_TEXT(channel),
              SB_V_TEXT(status), SB_V_TIMESTAMPTZ(ev->occurred_at),
              SB_V_TEXT(str(x, ev, t, F_METHOD)),
              SB_V_TEXT(str(x, ev, t, F_TEXT_VERSION)),
              SB_V_TEXT(str(x, ev, t, F_TEXT)),
              SB_V_TEXT(str(x, ev, t, F_EVIDENCE_URL)),
              SB_V_TEXT(str(x, ev, t, F_SUBJECT_IP)),
              SB_V_TEXT(str(x, ev, t, F_SUBJECT_UA)),
              SB_V_TEXT(str(x, ev, t, F_JURISDICTION)), expires,
              SB_V_TEXT(str(x, ev, t, F_CALL_ID)),
              SB_V_TEXT(str(x, ev, t, F_CAMPAIGN_ID)),
              SB_V_TEXT(str(x, ev, t, F_MESSAGE_ID)),
              SB_V_TEXT(str(x, ev, t, F_REASON)), SB_V_TEXT(phone),
              SB_V_TEXT(email)},
          err) != 0)
    return err->code;
  /* the latest per key, as keyed state knows it */
  char key[512], val[128];
  const void *v;
  size_t len;
  consent_rec_t r;
  if (consent__key(key, sizeof key, ev->tenant_id, purpose, channel,
                   ev->subject) != 0)
    return sb_err_set(err, SB_EVALIDATE, "%s: key too long", type_names[t]);
  int newer = sb_state_get(b, key, &v, &len) != 0 ||
              consent__parse(v, len, &r) != 0 ||
              consent__newer(&r, ev->occurred_at, ev->event_id);
  if (newer) {
    memset(&r, 0, sizeof r);
    r.status = given ? 'g' : 'w';
    r.at = ev->occurred_at;
    r.expires = expires.null ? 0 : expires.i;
    snprintf(r.event_id, sizeof r.event_id, "%s", ev->event_id);
    size_t n = consent__format(&r, val, sizeof val);
    if (sb_state_put(b, key, val, n, err) != 0 ||
        sb_rows_add(
            b, &consent_table,
            (const sb_val_t[]){
                SB_V_TEXT(ev->tenant_id), SB_V_TEXT(ev->subject),
                SB_V_TEXT(purpose), SB_V_TEXT(channel), SB_V_TEXT(status),
                SB_V_TIMESTAMPTZ(ev->occurred_at), expires,
                SB_V_TEXT(ev->event_id), SB_V_TEXT(str(x, ev, t, F_METHOD)),
                SB_V_TEXT(given ? str(x, ev, t, F_TEXT_VERSION) : NULL),
                SB_V_TEXT(str(x, ev, t, F_EVIDENCE_URL)),
                SB_V_TEXT(str(x, ev, t, F_SUBJECT_IP)),
                SB_V_TEXT(str(x, ev, t, F_JURISDICTION)), SB_V_TEXT(phone),
                SB_V_TEXT(email)},
            err) != 0)
      return err->code;
  }
  if (given)
    return 0;
  revoke_t rv = {.kind = "withdrawn", .subject = ev->subject,
                 .purpose = purpose, .channel = channel,
                 .phone_hmac = phone, .email_hmac = email};
  return revoke(x, b, ev, &rv, err);
}

static int on_opt_out(cp_t *x, sb_batch_t *b, const sb_event_t *ev,
                      sb_err_t *err) {
  const char *lead = str(x, ev, T_OPT_OUT, F_LEAD_ID);
  const char *purpose = str(x, ev, T_OPT_OUT, F_PURPOSE);
  const char *channel = str(x, ev, T_OPT_OUT, F_CHANNEL);
  revoke_t r = {.kind = "opt_out",
                .subject = lead ? lead : ev->subject,
                .no_subject = lead == NULL,
                .purpose = purpose ? purpose : CONSENT_ALL,
                .channel = channel ? channel : CONSENT_ALL,
                .phone_hmac = str(x, ev, T_OPT_OUT, F_PHONE_HMAC),
                .email_hmac = str(x, ev, T_OPT_OUT, F_EMAIL_HMAC)};
  return revoke(x, b, ev, &r, err);
}

static int on_dnc(cp_t *x, sb_batch_t *b, const sb_event_t *ev,
                  sb_err_t *err) {
  const char *channel = str(x, ev, T_DNC, F_CHANNEL);
  sb_field_t ex = x->f[T_DNC][F_EXPIRES_AT];
  revoke_t r = {.kind = "dnc",
                .subject = ev->subject,
                .purpose = CONSENT_ALL,
                .channel = channel ? channel : CONSENT_ALL,
                .phone_hmac = str(x, ev, T_DNC, F_PHONE_HMAC),
                .email_hmac = str(x, ev, T_DNC, F_EMAIL_HMAC),
                .dnc_list = str(x, ev, T_DNC, F_DNC_LIST),
                .has_expires = sb_event_has(ev, ex),
                .expires = sb_event_i64(ev, ex)};
  return revoke(x, b, ev, &r, err);
}

/* Its own decision read back: the opt_outs row as applied (MIN keeps the
 * first application's times when a replay applies it again later). */
static int on_honoured(cp_t *x, sb_batch_t *b, const sb_event_t *ev,
                       sb_err_t *err) {
  const char *id = str(x, ev, T_HONOURED, F_SOURCE_EVENT_ID);
  const char *type = str(x, ev, T_HONOURED, F_SOURCE_TYPE);
  const char *purpose = str(x, ev, T_HONOURED, F_PURPOSE);
  const char *channel = str(x, ev, T_HONOURED, F_CHANNEL);
  revoke_t r = {.kind = str(x, ev, T_HONOURED, F_KIND),
                .subject = ev->subject,
                .purpose = purpose ? purpose : CONSENT_ALL,
                .channel = channel ? channel : CONSENT_ALL};
  if (id == NULL || type == NULL || r.kind == NULL || r.subject == NULL)
    return sb_err_set(err, SB_EVALIDATE, "consent.opt_out_honoured %s: "
                      "incomplete", ev->event_id);
  int64_t at = sb_event_i64(ev, x->f[T_HONOURED][F_HONOURED_AT]);
  int64_t days = sb_event_i64(ev, x->f[T_HONOURED][F_BUSINESS_DAYS]);
  return optout_row(b, ev->tenant_id, id, type, &r, ev->occurred_at, at, days,
                    err);
}

static void committed(void *state) {
  cp_t *x = state;
  if (x->late > 0)
    sb_log(SB_LOG_WARN, "compliance",
           "opt-outs honoured past the TCPA window of 10 business days",
           SB_F_INT("count", x->late), SB_F_STR("first_tenant", x->late_tenant),
           SB_F_STR("first_event", x->late_id),
           SB_F_INT("business_days", (long long)x->late_days), SB_F_END);
  x->late = 0;
}

static void aborted(void *state) { ((cp_t *)state)->late = 0; }

static int event(void *state, sb_batch_t *b, const sb_event_t *ev,
                 sb_err_t *err) {
  cp_t *x = state;
  if (sb_event_type_is(ev, x->t[T_GIVEN]))
    return on_consent(x, b, ev, T_GIVEN, err);
  if (sb_event_type_is(ev, x->t[T_WITHDRAWN]))
    return on_consent(x, b, ev, T_WITHDRAWN, err);
  if (sb_event_type_is(ev, x->t[T_OPT_OUT]))
    return on_opt_out(x, b, ev, err);
  if (sb_event_type_is(ev, x->t[T_DNC]))
    return on_dnc(x, b, ev, err);
  if (sb_event_type_is(ev, x->t[T_HONOURED]))
    return on_honoured(x, b, ev, err);
  return 0;
}

/* What the read API answers (admins; managers read compliance.* too). The
 * consent evidence is revealed or masked by pii_cols' rule. */
static const sb_view_def_t views[] = {
    {.name = "consent",
     .relation = "consent",
     .about = "each subject's current consent per purpose and channel",
     .time_col = "changed_at",
     .order = "subject_id,purpose,channel",
     .filters = "subject=subject_id,purpose=purpose,channel=channel,"
                "status=status"},
    {.name = "consent_events",
     .relation = "consent_events",
     .about = "every consent given or withdrawn, with its evidence",
     .time_col = "occurred_at",
     .order = "occurred_at,event_id",
     .filters = "subject=subject_id,purpose=purpose,channel=channel"},
    {.name = "suppression",
     .relation = "suppression",
     .about = "opt-outs and DNC flags by what they match (an address's "
              "HMAC, or the subject)",
     .time_col = "received_at",
     .order = "received_at,event_id,match",
     .filters = "subject=subject_id,value=value,kind=kind,channel=channel"},
    {.name = "opt_outs",
     .relation = "opt_outs",
     .about = "every withdrawal, opt-out and DNC flag: received, honoured, "
              "business days between, late",
     .time_col = "received_at",
     .order = "received_at,event_id",
     .filters = "subject=subject_id,kind=kind,late=late"},
    {0},
};

const sb_processor_vt_t sb_compliance_processor = {
    .abi = SB_PROCESSOR_ABI,
    .name = "compliance",
    .topics = (const char *const[]){SB_TOPIC_COMPLIANCE, SB_TOPIC_MESSAGES,
                                    SB_TOPIC_LEADS, NULL},
    .migrations = migrations,
    .tables = tables,
    .init = init,
    .event = event,
    .destroy = destroy,
    .abort = aborted,
    .committed = committed,
    .flags = SB_PROCESSOR_KEYED_STATE,
    .pii_cols = pii_cols,
    .views = views,
};
