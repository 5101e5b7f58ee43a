/* The comms processor's parts (comms.c: tables, init, the vtable;
 * comms_cfg.c: templates and provider accounts; comms_request.c: the checks
 * of a message.requested; comms_status.c: statuses, messages and delivery
 * statistics). */
#ifndef SB_COMMS_INT_H
#define SB_COMMS_INT_H

#include "sb_processor.h"

#include <stdint.h>

/* event types read or emitted */
enum {
  CT_REQUESTED, /* message.requested */
  CT_BLOCKED,   /* message.blocked */
  CT_SUBMITTED, /* message.submitted */
  CT_STATUS,    /* message.status_updated */
  CT_TEMPLATE,  /* template.published */
  CT_PROVIDER,  /* provider.configured */
  CT_LEAD_CREATED, /* lead.created (the leads table) */
  CT_LEAD_UPDATED, /* lead.updated */
  CT_N
};

/* fields, by event type (a handle of another type reads as absent) */
enum {
  /* message.requested */
  RF_CHANNEL, RF_TO, RF_TO_HMAC, RF_FROM, RF_PURPOSE, RF_LEAD, RF_AGENT,
  RF_CAMPAIGN, RF_TEMPLATE, RF_TEMPLATE_VERSION, RF_VARIABLES, RF_SUBJECT,
  RF_BODY, RF_SCHEDULED, RF_TO_TZ, RF_RECIPIENT_TZ,
  /* message.blocked */
  BF_MESSAGE, BF_REASON, BF_CHANNEL, BF_PURPOSE, BF_DETAIL, BF_LEAD,
  BF_CAMPAIGN, BF_RETRY_AFTER, BF_SOURCE,
  /* message.submitted */
  SF_PROVIDER, SF_CHANNEL, SF_PMID,
  /* message.status_updated */
  UF_MESSAGE, UF_STATUS, UF_CHANNEL, UF_PROVIDER, UF_PMID, UF_PSTATUS,
  UF_REPORTED_AT, UF_ERROR_CODE, UF_ERROR_MESSAGE, UF_SOURCE,
  /* template.published */
  TF_ID, TF_VERSION, TF_CHANNEL, TF_LOCALE, TF_SUBJECT, TF_BODY, TF_MAXLEN,
  /* provider.configured */
  PF_ACCOUNT, PF_PROVIDER, PF_BASE_URL, PF_FROM, PF_USERNAME, PF_SECRET,
  PF_SECRET2, PF_CHANNELS, PF_DEFAULT,
  /* lead.created, lead.updated */
  LF_C_LEAD, LF_C_PHONE, LF_C_PHMAC, LF_C_PTZ, LF_C_EMAIL, LF_C_EHMAC,
  LF_U_LEAD, LF_U_PHONE, LF_U_PHMAC, LF_U_PTZ, LF_U_EMAIL, LF_U_EHMAC,
  LF_U_CHANGED,
  CF_N
};

typedef enum { QH_BLOCK = 0, QH_DEFER = 1 } comms_qh_action_t;

typedef struct comms_s {
  sb_etype_ref_t t[CT_N];
  sb_field_t f[CF_N];
  int quiet_start, quiet_end; /* minutes after local midnight */
  int quiet_action;           /* comms_qh_action_t */
  /* the provider accounts the batch configured, for commit:
   * [{tenant_id, account_id, ...}, ...] (comms_cfg.c) */
  void *providers; /* cJSON array */
  int64_t lead_wait_us; /* comms.lead_wait_ms: see comms_lead.c */
  sb_codec_t *codec;    /* parked requests' records, decoded again */
} comms_t;

/* the global tables: templates and provider accounts (sb.tenants),
 * consent (consent.h), and leads' sealed addresses (sb.leads) */
extern const sb_global_def_t comms__globals[];
#define COMMS_G_CONFIG (&comms__globals[0])
#define COMMS_G_CONSENT (&comms__globals[1])
#define COMMS_G_LEADS (&comms__globals[2])

extern const sb_table_def_t comms__templates, comms__outbox, comms__messages,
    comms__statuses, comms__daily;

/* ---- comms_cfg.c ---------------------------------------------------------- */

int comms__reduce_config(void *state, sb_global_t *g, const sb_event_t *ev,
                         sb_err_t *err);
/* template.published and provider.configured on the processor's own
 * partition: the templates and providers tables. */
int comms__template_event(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                          sb_err_t *err);
int comms__provider_event(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                          sb_err_t *err);
/* writes the providers the batch configured (commit) */
int comms__providers_flush(comms_t *x, sb_batch_t *b, sb_err_t *err);
void comms__providers_forget(comms_t *x);

/* The template version a message of channel gets: the one named (version,
 * decimal text) when published for the channel, else (version NULL) the
 * highest published for the channel. 0 with *out, or SB_ENOENT. */
int comms__template_find(sb_batch_t *b, const char *tenant, const char *id,
                         const char *version, const char *channel, int *out);

#define COMMS_ID_MAX 513 /* 128 characters of UTF-8 */
typedef struct comms_account_s {
  char account_id[COMMS_ID_MAX];
  char provider[24];
  char from_address[1281];
} comms_account_t;

/* The account a message of channel goes through: the tenant's default for
 * the channel, else the lowest account id configured for it. 0, or
 * SB_ENOENT. */
int comms__account_for(sb_batch_t *b, const char *tenant, const char *channel,
                       comms_account_t *out);

/* ---- comms_lead.c --------------------------------------------------------- */

/* "lead:<lead id>": a recipient automation names by its lead */
#define COMMS_LEAD_PREFIX "lead:"

int comms__reduce_lead(void *state, sb_global_t *g, const sb_event_t *ev,
                       sb_err_t *err);

/* a lead's address for a channel, as ingest sealed it */
typedef struct comms_to_s {
  char origin[32];  /* "lead.created:phone", ...: the envelope's AAD */
  char sealed[1200];
  char hmac[65];
  char tz[65];
} comms_to_t;

/* The sealed phone (sms, whatsapp) or e-mail address (email) of lead:
 * 0 with *out, or SB_ENOENT with why (the lead unknown, without that
 * address, or a channel a lead has no address on). */
int comms__lead_address(sb_batch_t *b, const char *tenant, const char *lead,
                        const char *channel, comms_to_t *out, char *why,
                        size_t whysz);

/* Parks ev (a live request for a lead the table does not know yet) when
 * comms.lead_wait_ms allows, since: when it was first parked (0: now).
 * *parked 1 when it was. */
int comms__park(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                int64_t since, int *parked, sb_err_t *err);
/* vt->timer: a parked request looked at again */
int comms__parked_timer(comms_t *x, sb_batch_t *b, const sb_timer_t *t,
                        sb_err_t *err);

/* ---- comms_request.c ------------------------------------------------------ */

int comms__request_event(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                         sb_err_t *err);
/* The same, for a request parked since parked_since (wall clock) */
int comms__request_decide(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                          int64_t parked_since, sb_err_t *err);
/* "HH:MM" (00:00 to 24:00) as minutes; -1 when it is not one. */
int comms__parse_hhmm(const char *s);

/* ---- comms_status.c ------------------------------------------------------- */

/* a message's state, in keyed state under "m|tenant|message_id" */
#define COMMS_S_REQUESTED 0x01u /* its message.requested was handled */
#define COMMS_S_DECIDED 0x02u   /* comms' own decision (queued/blocked) seen */
#define COMMS_S_SENT 0x04u      /* counted in delivery_daily: */
#define COMMS_S_DELIVERED 0x08u
#define COMMS_S_READ 0x10u
#define COMMS_S_FAILED 0x20u
#define COMMS_S_BLOCKED 0x40u
#define COMMS_S_FAD 0x80u /* a failure after delivery was reported */

typedef struct comms_msg_s {
  unsigned flags;
  int status;           /* comms_status_t */
  int32_t day;          /* local day of the request (the tenant's zone) */
  int64_t requested_at; /* 0: its request was not seen */
  int64_t status_at, submitted_at, delivered_at, read_at;
  char channel[16], provider[COMMS_ID_MAX], account_id[COMMS_ID_MAX],
      template_id[COMMS_ID_MAX], campaign_id[COMMS_ID_MAX],
      provider_message_id[COMMS_ID_MAX], provider_status[COMMS_ID_MAX],
      error_code[COMMS_ID_MAX], blocked_reason[32];
  /* the decision the batch that handled the request committed: "queued"
   * or "blocked:<reason>" ("" in a rebuild: the first in the log) */
  char decision[48];
} comms_msg_t;

/* the source of the events comms emits (the kit's for derived events) */
#define COMMS_SOURCE "switchboard://processor/comms"

typedef enum {
  CS_NONE = 0, /* requested, not decided */
  CS_QUEUED,
  CS_SUBMITTED,
  CS_SENT,
  CS_DELIVERED,
  CS_READ,
  CS_REJECTED,
  CS_FAILED,
  CS_UNDELIVERED,
  CS_BLOCKED,
  CS_N
} comms_status_t;

const char *comms__status_name(int s);
int comms__status_rank(int s);

/* 0 with *m (SB_ENOENT: a zeroed *m) */
int comms__msg_get(sb_batch_t *b, const char *tenant, const char *message_id,
                   comms_msg_t *m);
int comms__msg_put(sb_batch_t *b, const char *tenant, const char *message_id,
                   const comms_msg_t *m, sb_err_t *err);
/* the messages row of m (request columns NULL unless ev is its request) */
int comms__msg_row(comms_t *x, sb_batch_t *b, const char *tenant,
                   const char *message_id, const comms_msg_t *m,
                   const sb_event_t *request, sb_err_t *err);

int comms__blocked_event(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                         sb_err_t *err);
int comms__status_event(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                        sb_err_t *err);

/* copies src (NULL: "") into dst of n bytes, cut at n - 1 */
void comms__copy(char *dst, size_t n, const char *src);

#endif
