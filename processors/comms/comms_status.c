/* Statuses: message.blocked, message.submitted and message.status_updated
 * (comms' own decisions, the dispatcher's reports, the providers'
 * callbacks) applied to a message by rank:
 *
 *   queued 10, submitted 20, sent 30, delivered 40, read 50;
 *   rejected, failed, undelivered and blocked: 90 when no delivered or
 *   read came before, else recorded with failed_after_delivery and the
 *   status stays.
 *
 * Every report is a row of message_statuses (by event id: a repeated
 * event is one row; applied says whether it moved the message); a lower
 * rank than the current never moves comms.messages back. A message's
 * events share its partition (keyed by message id), so its state is keyed
 * state: "m|tenant|message_id".
 *
 * delivery_daily counts each message once per level, in the row of its
 * request's local day (the tenant's zone) and its channel, provider,
 * template and campaign: requested (when comms decided it, queued or
 * blocked), queued, blocked by reason, sent (sent or beyond), delivered,
 * read, failed (moved to a failure), failed_after_delivery; and the time
 * from request to the first proof of delivery (the provider's time when it
 * gives one). */
#include "comms_int.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  int rank;
} statuses[CS_N] = {
    [CS_NONE] = {"requested", 0},      [CS_QUEUED] = {"queued", 10},
    [CS_SUBMITTED] = {"submitted", 20}, [CS_SENT] = {"sent", 30},
    [CS_DELIVERED] = {"delivered", 40}, [CS_READ] = {"read", 50},
    [CS_REJECTED] = {"rejected", 90},   [CS_FAILED] = {"failed", 90},
    [CS_UNDELIVERED] = {"undelivered", 90}, [CS_BLOCKED] = {"blocked", 90},
};

const char *comms__status_name(int s) {
  return s >= 0 && s < CS_N ? statuses[s].name : "unknown";
}
int comms__status_rank(int s) { return s >= 0 && s < CS_N ? statuses[s].rank : 0; }

static int status_of(const char *name) {
  for (int i = 0; name && i < CS_N; i++)
    if (strcmp(statuses[i].name, name) == 0)
      return i;
  return -1;
}

static int is_failure(int s) { return statuses[s].rank == 90; }

/* ---- keyed state ---------------------------------------------------------- */

/* the state as stored: the numbers, then the strings, NUL-ended each */
typedef struct {
  uint32_t flags;
  int32_t status, day;
  int64_t requested_at, status_at, submitted_at, delivered_at, read_at;
} packed_t;

#define STRS(m)                                                                \
  {m->channel, m->provider, m->account_id, m->template_id, m->campaign_id,     \
   m->provider_message_id, m->provider_status, m->error_code,                 \
   m->blocked_reason, m->decision}
#define STR_SIZES(m)                                                           \
  {sizeof m->channel, sizeof m->provider, sizeof m->account_id,                \
   sizeof m->template_id, sizeof m->campaign_id,                               \
   sizeof m->provider_message_id, sizeof m->provider_status,                   \
   sizeof m->error_code, sizeof m->blocked_reason, sizeof m->decision}
#define NSTRS 10

static int key_of(char *key, size_t n, const char *tenant, const char *mid) {
  int k = snprintf(key, n, "m|%s|%s", tenant, mid ? mid : "");
  return k < 0 || (size_t)k >= n ? -1 : 0;
}

int comms__msg_get(sb_batch_t *b, const char *tenant, const char *mid,
                   comms_msg_t *m) {
  memset(m, 0, sizeof *m);
  char key[300];
  const void *v;
  size_t len;
  if (key_of(key, sizeof key, tenant, mid) != 0 ||
      sb_state_get(b, key, &v, &len) != 0 || len < sizeof(packed_t))
    return SB_ENOENT;
  packed_t p;
  memcpy(&p, v, sizeof p);
  m->flags = p.flags;
  m->status = p.status >= 0 && p.status < CS_N ? p.status : CS_NONE;
  m->day = p.day;
  m->requested_at = p.requested_at;
  m->status_at = p.status_at;
  m->submitted_at = p.submitted_at;
  m->delivered_at = p.delivered_at;
  m->read_at = p.read_at;
  char *dst[] = STRS(m);
  size_t sz[] = STR_SIZES(m);
  const char *s = (const char *)v + sizeof p, *end = (const char *)v + len;
  for (int i = 0; i < NSTRS && s < end; i++) {
    const char *nul = memchr(s, '\0', (size_t)(end - s));
    if (nul == NULL)
      break;
    comms__copy(dst[i], sz[i], s);
    s = nul + 1;
  }
  return 0;
}

int comms__msg_put(sb_batch_t *b, const char *tenant, const char *mid,
                   const comms_msg_t *m, sb_err_t *err) {
  char key[300];
  if (key_of(key, sizeof key, tenant, mid) != 0)
    return sb_err_set(err, SB_EVALIDATE, "comms: message id too long");
  packed_t p = {.flags = m->flags,
                .status = m->status,
                .day = m->day,
                .requested_at = m->requested_at,
                .status_at = m->status_at,
                .submitted_at = m->submitted_at,
                .delivered_at = m->delivered_at,
                .read_at = m->read_at};
  char buf[sizeof p + sizeof *m];
  memcpy(buf, &p, sizeof p);
  size_t n = sizeof p;
  const char *src[] = STRS(m);
  for (int i = 0; i < NSTRS; i++) {
    size_t l = strlen(src[i]);
    memcpy(buf + n, src[i], l + 1);
    n += l + 1;
  }
  return sb_state_put(b, key, buf, n, err);
}

static const char *nz(const char *s) { return s && s[0] ? s : NULL; }

int comms__msg_row(comms_t *x, sb_batch_t *b, const char *tenant,
                   const char *mid, const comms_msg_t *m,
                   const sb_event_t *rq, sb_err_t *err) {
  const sb_field_t *F = x->f;
  sb_val_t tnull = SB_V_NULL;
#define TS(v) ((v) != 0 ? (sb_val_t)SB_V_TIMESTAMPTZ(v) : tnull)
  return sb_rows_add(
      b, &comms__messages,
      (const sb_val_t[]){
          SB_V_TEXT(tenant),
          SB_V_TEXT(mid),
          SB_V_TEXT(nz(m->channel)),
          SB_V_TEXT(nz(m->account_id)),
          SB_V_TEXT(nz(m->provider)),
          SB_V_TEXT(nz(m->template_id)),
          SB_V_TEXT(nz(m->campaign_id)),
          SB_V_TEXT(rq ? sb_event_str(rq, F[RF_LEAD]) : NULL),
          SB_V_TEXT(rq ? sb_event_str(rq, F[RF_AGENT]) : NULL),
          SB_V_TEXT(rq ? (sb_event_enum_name(rq, F[RF_PURPOSE])
                              ? sb_event_enum_name(rq, F[RF_PURPOSE])
                              : "marketing")
                       : NULL),
          SB_V_TEXT(rq ? sb_event_str(rq, F[RF_TEMPLATE_VERSION]) : NULL),
          SB_V_TEXT(rq ? rq->event_id : NULL),
          TS(m->requested_at),
          SB_V_TEXT(comms__status_name(m->status)),
          SB_V_INT4(comms__status_rank(m->status)),
          TS(m->status_at),
          SB_V_TEXT(nz(m->blocked_reason)),
          SB_V_TEXT(nz(m->provider_message_id)),
          SB_V_TEXT(nz(m->provider_status)),
          SB_V_TEXT(nz(m->error_code)),
          SB_V_BOOL((m->flags & COMMS_S_FAD) != 0),
          TS(m->submitted_at),
          TS(m->delivered_at),
          TS(m->read_at),
      },
      err);
#undef TS
}

/* ---- delivery_daily --------------------------------------------------------- */

enum {
  D_REQUESTED, D_QUEUED, D_BLOCKED, D_SENT, D_DELIVERED, D_READ, D_FAILED,
  D_FAD, D_N
};
static const char *const block_reasons[] = {
    "no_consent",       "dnc",
    "quiet_hours",      "opted_out",
    "invalid_address",  "other",
    "template_missing", "template_variable_missing",
    "too_long",         "no_provider"};
#define NREASONS (sizeof block_reasons / sizeof block_reasons[0])

static int daily(sb_batch_t *b, const char *tenant, const comms_msg_t *m,
                 const int64_t d[D_N], const char *reason, int64_t ttd_ms,
                 int64_t at, sb_err_t *err) {
  sb_val_t v[6 + D_N + NREASONS + 2];
  size_t n = 0;
  v[n++] = (sb_val_t)SB_V_TEXT(tenant);
  v[n++] = (sb_val_t)SB_V_DATE(m->requested_at ? m->day
                                               : sb_tenant_day(b, tenant, at));
  v[n++] = (sb_val_t)SB_V_TEXT(m->channel);
  v[n++] = (sb_val_t)SB_V_TEXT(m->provider);
  v[n++] = (sb_val_t)SB_V_TEXT(m->template_id);
  v[n++] = (sb_val_t)SB_V_TEXT(m->campaign_id);
  for (int i = 0; i < D_N; i++)
    v[n++] = (sb_val_t)SB_V_INT8(d[i]);
  for (size_t i = 0; i < NREASONS; i++)
    v[n++] = (sb_val_t)SB_V_INT8(reason && d[D_BLOCKED] &&
                                 strcmp(reason, block_reasons[i]) == 0);
  v[n++] = (sb_val_t)SB_V_INT8(ttd_ms >= 0 ? ttd_ms : 0);
  v[n++] = (sb_val_t)SB_V_INT8(ttd_ms >= 0 ? 1 : 0);
  return sb_rows_add(b, &comms__daily, v, err);
}

/* ---- applying a report ------------------------------------------------------ */

typedef struct {
  int status; /* comms_status_t */
  const char *channel, *provider, *pmid, *pstatus, *ecode, *emsg, *reason;
  int64_t reported_at; /* 0: none */
  int64_t retry_after; /* message.blocked's; 0: none */
  int own; /* comms' own decision (its source is comms') */
} report_t;

static int apply(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                 const report_t *r, sb_err_t *err) {
  const char *tenant = ev->tenant_id, *mid = ev->subject;
  comms_msg_t m;
  comms__msg_get(b, tenant, mid, &m);
  int cur = m.status, s = r->status, applied = 0, fad = 0;
  int64_t at = r->reported_at ? r->reported_at : ev->occurred_at;
  /* comms' decisions: only the one its committed batch made (an emitted
   * decision of a batch that failed, decided otherwise when handled
   * again, is recorded, not applied); in a rebuild, the first */
  int orphan = 0;
  if (r->own) {
    char key[48];
    if (s == CS_BLOCKED)
      snprintf(key, sizeof key, "blocked:%s", r->reason ? r->reason : "");
    else
      snprintf(key, sizeof key, "queued");
    if (m.decision[0] == '\0')
      comms__copy(m.decision, sizeof m.decision, key);
    else
      orphan = strcmp(m.decision, key) != 0;
  }
  if (orphan)
    ; /* recorded only */
  else if (is_failure(s)) {
    if (cur == CS_DELIVERED || cur == CS_READ ||
        (m.flags & COMMS_S_DELIVERED))
      fad = 1;
    else
      applied = comms__status_rank(cur) < 90;
  } else
    applied = comms__status_rank(s) > comms__status_rank(cur);
  int64_t d[D_N] = {0};
  int64_t ttd = -1;
  const char *reason = NULL;
  /* comms' own decision: the message counts as requested once */
  if (!orphan && (s == CS_QUEUED || s == CS_BLOCKED) &&
      !(m.flags & COMMS_S_DECIDED)) {
    m.flags |= COMMS_S_DECIDED;
    d[D_REQUESTED] = 1;
    d[s == CS_QUEUED ? D_QUEUED : D_BLOCKED] = s == CS_QUEUED;
  }
  if (orphan)
    goto record;
  if (r->channel && !m.channel[0]) /* its request not seen */
    comms__copy(m.channel, sizeof m.channel, r->channel);
  if (r->provider && !m.provider[0])
    comms__copy(m.provider, sizeof m.provider, r->provider);
  if (r->pmid)
    comms__copy(m.provider_message_id, sizeof m.provider_message_id, r->pmid);
  if (s == CS_SUBMITTED && !m.submitted_at)
    m.submitted_at = at;
  if (applied) {
    m.status = s;
    m.status_at = at;
    comms__copy(m.provider_status, sizeof m.provider_status, r->pstatus);
    comms__copy(m.error_code, sizeof m.error_code, r->ecode);
    if (s == CS_BLOCKED && !(m.flags & COMMS_S_BLOCKED)) {
      m.flags |= COMMS_S_BLOCKED;
      d[D_BLOCKED] = 1;
      reason = r->reason;
      comms__copy(m.blocked_reason, sizeof m.blocked_reason, r->reason);
    }
    if (s != CS_BLOCKED && is_failure(s) && !(m.flags & COMMS_S_FAILED)) {
      m.flags |= COMMS_S_FAILED;
      d[D_FAILED] = 1;
    }
    if (!is_failure(s) && comms__status_rank(s) >= 30 &&
        !(m.flags & COMMS_S_SENT)) {
      m.flags |= COMMS_S_SENT;
      d[D_SENT] = 1;
    }
    if (!is_failure(s) && comms__status_rank(s) >= 40 &&
        !(m.flags & COMMS_S_DELIVERED)) {
      m.flags |= COMMS_S_DELIVERED;
      d[D_DELIVERED] = 1;
      m.delivered_at = at;
      if (m.requested_at)
        ttd = (at - m.requested_at) / 1000;
    }
    if (s == CS_READ && !(m.flags & COMMS_S_READ)) {
      m.flags |= COMMS_S_READ;
      d[D_READ] = 1;
      m.read_at = at;
    }
  }
  if (fad && !(m.flags & COMMS_S_FAD)) {
    m.flags |= COMMS_S_FAD;
    d[D_FAD] = 1;
  }
record:;
  int any = 0;
  for (int i = 0; i < D_N; i++)
    any |= d[i] != 0;
  int rc = sb_rows_add(
      b, &comms__statuses,
      (const sb_val_t[]){
          SB_V_TEXT(tenant),
          SB_V_TEXT(mid),
          SB_V_TEXT(ev->event_id),
          SB_V_TEXT(comms__status_name(s)),
          SB_V_INT4(comms__status_rank(s)),
          SB_V_BOOL(applied),
          SB_V_BOOL(fad),
          SB_V_TEXT(r->provider),
          SB_V_TEXT(r->pmid),
          SB_V_TEXT(r->pstatus),
          SB_V_TEXT(r->ecode),
          SB_V_TEXT(r->emsg),
          SB_V_TIMESTAMPTZ(ev->occurred_at),
          r->reported_at ? (sb_val_t)SB_V_TIMESTAMPTZ(r->reported_at)
                         : (sb_val_t)SB_V_NULL,
          r->retry_after ? (sb_val_t)SB_V_TIMESTAMPTZ(r->retry_after)
                         : (sb_val_t)SB_V_NULL,
      },
      err);
  if (rc == 0 && any)
    rc = daily(b, tenant, &m, d, reason, ttd, ev->occurred_at, err);
  if (rc == 0)
    rc = comms__msg_put(b, tenant, mid, &m, err);
  if (rc == 0)
    rc = comms__msg_row(x, b, tenant, mid, &m, NULL, err);
  return rc;
}

int comms__blocked_event(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                         sb_err_t *err) {
  const sb_field_t *F = x->f;
  report_t r = {.status = CS_BLOCKED,
                .reason = sb_event_enum_name(ev, F[BF_REASON]),
                .emsg = sb_event_str(ev, F[BF_DETAIL]),
                .channel = sb_event_enum_name(ev, F[BF_CHANNEL])};
  r.ecode = r.reason;
  const char *src = sb_event_str(ev, F[BF_SOURCE]);
  r.own = src != NULL && strcmp(src, COMMS_SOURCE) == 0;
  if (sb_event_has(ev, F[BF_RETRY_AFTER]))
    r.retry_after = sb_event_i64(ev, F[BF_RETRY_AFTER]);
  return apply(x, b, ev, &r, err);
}

int comms__status_event(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                        sb_err_t *err) {
  const sb_field_t *F = x->f;
  report_t r = {0};
  if (sb_event_type_is(ev, x->t[CT_SUBMITTED])) {
    r.status = CS_SUBMITTED;
    r.provider = sb_event_str(ev, F[SF_PROVIDER]);
    r.pmid = sb_event_str(ev, F[SF_PMID]);
    r.channel = sb_event_enum_name(ev, F[SF_CHANNEL]);
  } else {
    r.status = status_of(sb_event_enum_name(ev, F[UF_STATUS]));
    if (r.status < 0)
      return sb_err_set(err, SB_EVALIDATE, "comms: status '%s' unknown",
                        sb_event_enum_name(ev, F[UF_STATUS]));
    r.provider = sb_event_str(ev, F[UF_PROVIDER]);
    r.channel = sb_event_enum_name(ev, F[UF_CHANNEL]);
    r.pmid = sb_event_str(ev, F[UF_PMID]);
    r.pstatus = sb_event_str(ev, F[UF_PSTATUS]);
    r.ecode = sb_event_str(ev, F[UF_ERROR_CODE]);
    r.emsg = sb_event_str(ev, F[UF_ERROR_MESSAGE]);
    if (sb_event_has(ev, F[UF_REPORTED_AT]))
      r.reported_at = sb_event_i64(ev, F[UF_REPORTED_AT]);
    const char *src = sb_event_str(ev, F[UF_SOURCE]);
    r.own = r.status == CS_QUEUED && src != NULL &&
            strcmp(src, COMMS_SOURCE) == 0;
  }
  return apply(x, b, ev, &r, err);
}
