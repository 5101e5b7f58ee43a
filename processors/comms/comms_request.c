/* The checks of a message.requested, in this order; the first that fails
 * blocks the message (message.blocked v2 with that reason), else it is
 * queued (an outbox row, written in the batch's transaction, and
 * message.status_updated 'queued'):
 *
 *   0. a recipient "lead:<id>" (automation's) is the lead's phone (sms,
 *      whatsapp) or e-mail address (email), sealed as ingest sealed it
 *      (comms_lead.c); an unknown lead, a lead without that address, or
 *      another channel: invalid_address.
 *   1. consent and do-not-call (consent.h's global table): the lead
 *      (lead_id) and the address (to_address_hmac) for the purpose
 *      (the request's; null counts as marketing, the strictest) on the
 *      channel, at the request's time: no_consent (none, withdrawn or
 *      lapsed: detail says which), dnc, opted_out. Every purpose is
 *      checked, transactional included (its consent is a consent given
 *      for transactional). Slack is exempt: it reaches the tenant's own
 *      workspace, not a contact.
 *   2. quiet hours: the local time of the recipient at the time the
 *      message would go (scheduled_at when later than the request) in
 *      [comms.quiet_start, comms.quiet_end) (default 21:00-08:00; equal
 *      values: no quiet hours), in the recipient's zone: recipient_time_zone,
 *      else to_address_tz, else the tenant's. Not for the transactional
 *      purpose (TCPA-style hours restrict solicitations, not the
 *      receipts and codes a person asked for), nor Slack. Blocked
 *      quiet_hours with retry_after = the end of the quiet hours
 *      (comms.quiet_hours_action = block, the default), or queued with
 *      not_before = that end (defer).
 *   3. the template (template_id): published for the channel, in the
 *      version named or (none named) any: template_missing. A request
 *      with neither template nor body: other.
 *   4. a provider account for the channel (provider.configured):
 *      no_provider.
 *
 * A message is decided once: a second message.requested for a message id
 * already requested (a retry with another event id) is ignored. A rebuild
 * (replay) decides again but emits nothing and writes no outbox row (its
 * decisions are in the log, and only the live outbox is dispatched).
 *
 * A batch that fails after emitting (a crash before its commit) is handled
 * again, and the global tables may have moved on in between: its second
 * decision can differ from the first, which is in the log all the same.
 * The decision the committed batch made (its outbox row, if queued) is
 * kept in the message's keyed state, and comms_status.c applies only that
 * one of comms' decisions; their ids differ (discriminator "queued" or
 * "blocked:<reason>"), so consumers deduplicating by id see both. */
#include "comms_int.h"

#include "consent.h"

#include <stdio.h>
#include <string.h>

int comms__parse_hhmm(const char *s) {
  if (s == NULL || strlen(s) != 5 || s[2] != ':')
    return -1;
  for (int i = 0; i < 5; i++)
    if (i != 2 && (s[i] < '0' || s[i] > '9'))
      return -1;
  int h = (s[0] - '0') * 10 + (s[1] - '0');
  int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0))
    return -1;
  return h * 60 + m;
}

static const char *block_reason_of(sb_consent_reason_t why) {
  switch (why) {
  case SB_CONSENT_DNC:
    return "dnc";
  case SB_CONSENT_OPTED_OUT:
    return "opted_out";
  default:
    return "no_consent";
  }
}

/* The recipient's zone (see the top of the file); NULL: UTC. */
static const sb_tz_t *recipient_tz(comms_t *x, sb_batch_t *b,
                                   const sb_event_t *ev, const char *lead_tz,
                                   const char **name) {
  const char *to_tz = sb_event_str(ev, x->f[RF_TO_TZ]);
  const char *names[] = {sb_event_str(ev, x->f[RF_RECIPIENT_TZ]),
                         lead_tz && lead_tz[0] ? lead_tz : to_tz};
  for (size_t i = 0; i < 2; i++) {
    const sb_tz_t *tz = NULL;
    sb_err_t e = SB_ERR_INIT;
    if (names[i] != NULL && sb_tz_load(names[i], &tz, &e) == 0) {
      *name = names[i];
      return tz;
    }
  }
  sb_tenant_t t;
  sb_tenant_settings(b, ev->tenant_id, &t);
  *name = t.tz ? sb_tz_name(t.tz) : "UTC";
  return t.tz;
}

/* 1 when at_us is in the quiet hours in tz, with *end the instant they
 * end (the next local quiet_end). */
static int quiet_at(const comms_t *x, const sb_tz_t *tz, int64_t at_us,
                    int64_t *end) {
  int start = x->quiet_start % 1440, stop = x->quiet_end % 1440;
  if (start == stop)
    return 0;
  int y, mon, d, h, mi;
  if (tz != NULL)
    sb_tz_local(tz, at_us, &y, &mon, &d, &h, &mi, NULL);
  else {
    int64_t days = at_us >= 0 ? at_us / 86400000000LL
                              : -((-at_us + 86399999999LL) / 86400000000LL);
    int64_t yy;
    sb_tz_civil_from_days(days, &yy, &mon, &d);
    y = (int)yy;
    int64_t in_day = at_us - days * 86400000000LL;
    h = (int)(in_day / 3600000000LL);
    mi = (int)(in_day / 60000000LL % 60);
  }
  int m = h * 60 + mi;
  int quiet = start < stop ? (m >= start && m < stop) : (m >= start || m < stop);
  if (!quiet)
    return 0;
  /* the end: today's stop when still ahead, else tomorrow's */
  int64_t day = sb_tz_days_from_civil(y, mon, d);
  if (m >= stop)
    day++;
  int64_t yy;
  sb_tz_civil_from_days(day, &yy, &mon, &d);
  sb_err_t e = SB_ERR_INIT;
  if (tz == NULL ||
      sb_tz_utc_of_local(tz, (int)yy, mon, d, stop / 60, stop % 60, 0, end,
                         &e) != 0)
    *end = day * 86400000000LL + (int64_t)stop * 60000000LL;
  return 1;
}

static int is_rebuild(sb_batch_t *b) {
  return strcmp(sb_batch_schema(b), sb_batch_processor(b)) != 0;
}

static int emit_blocked(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                        const char *reason, const char *detail,
                        const char *purpose, int64_t retry_after,
                        sb_err_t *err) {
  const sb_field_t *F = x->f;
  sb_build_t *e = sb_emit_begin(b, x->t[CT_BLOCKED]);
  sb_build_str(e, F[BF_MESSAGE], ev->subject);
  sb_build_enum(e, F[BF_REASON], reason);
  sb_build_enum(e, F[BF_CHANNEL], sb_event_enum_name(ev, F[RF_CHANNEL]));
  sb_build_enum(e, F[BF_PURPOSE], purpose);
  if (detail != NULL)
    sb_build_str(e, F[BF_DETAIL], detail);
  if (sb_event_has(ev, F[RF_LEAD]))
    sb_build_str(e, F[BF_LEAD], sb_event_str(ev, F[RF_LEAD]));
  if (sb_event_has(ev, F[RF_CAMPAIGN]))
    sb_build_str(e, F[BF_CAMPAIGN], sb_event_str(ev, F[RF_CAMPAIGN]));
  if (retry_after > 0)
    sb_build_i64(e, F[BF_RETRY_AFTER], retry_after);
  char disc[48];
  snprintf(disc, sizeof disc, "blocked:%s", reason);
  return sb_emit_end(b, e, &(sb_emit_t){.discriminator = disc, .tenant_id = ev->tenant_id}, err);
}

static int queue(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                 const comms_account_t *a, const comms_to_t *to,
                 int tpl_version, int64_t not_before, sb_err_t *err) {
  const sb_field_t *F = x->f;
  const char *from = sb_event_str(ev, F[RF_FROM]);
  char ver[16];
  snprintf(ver, sizeof ver, "%d", tpl_version);
  if (!is_rebuild(b) &&
      sb_rows_add(
          b, &comms__outbox,
          (const sb_val_t[]){
              SB_V_TEXT(ev->tenant_id),
              SB_V_TEXT(ev->subject),
              SB_V_TEXT(sb_event_enum_name(ev, F[RF_CHANNEL])),
              SB_V_TEXT(a->account_id),
              SB_V_TEXT(to->origin[0] ? to->sealed : sb_event_str(ev, F[RF_TO])),
              SB_V_TEXT(from ? from : a->from_address[0] ? a->from_address
                                                         : NULL),
              SB_V_TEXT(sb_event_str(ev, F[RF_SUBJECT])),
              SB_V_TEXT(sb_event_str(ev, F[RF_BODY])),
              SB_V_TEXT(sb_event_str(ev, F[RF_TEMPLATE])),
              SB_V_TEXT(tpl_version > 0 ? ver : NULL),
              SB_V_TEXT(sb_event_str(ev, F[RF_VARIABLES])),
              SB_V_TEXT(ev->event_id),
              SB_V_TEXT(sb_event_str(ev, F[RF_LEAD])),
              SB_V_TEXT(sb_event_str(ev, F[RF_AGENT])),
              SB_V_TEXT(sb_event_str(ev, F[RF_CAMPAIGN])),
              SB_V_TIMESTAMPTZ(not_before),
              SB_V_TIMESTAMPTZ(ev->occurred_at),
              SB_V_TEXT(to->origin[0] ? to->origin : NULL),
          },
          err) != 0)
    return err->code;
  sb_build_t *e = sb_emit_begin(b, x->t[CT_STATUS]);
  sb_build_str(e, F[UF_MESSAGE], ev->subject);
  sb_build_enum(e, F[UF_STATUS], "queued");
  sb_build_enum(e, F[UF_CHANNEL], sb_event_enum_name(ev, F[RF_CHANNEL]));
  sb_build_str(e, F[UF_PROVIDER], a->provider);
  return sb_emit_end(b, e, &(sb_emit_t){.discriminator = "queued", .tenant_id = ev->tenant_id}, err);
}

int comms__request_event(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                         sb_err_t *err) {
  return comms__request_decide(x, b, ev, 0, err);
}

int comms__request_decide(comms_t *x, sb_batch_t *b, const sb_event_t *ev,
                          int64_t parked_since, sb_err_t *err) {
  const sb_field_t *F = x->f;
  const char *tenant = ev->tenant_id, *mid = ev->subject;
  comms_msg_t m;
  comms__msg_get(b, tenant, mid, &m);
  if (m.flags & COMMS_S_REQUESTED)
    return 0; /* decided once (see the top of the file) */
  const char *channel = sb_event_enum_name(ev, F[RF_CHANNEL]);
  const char *purpose = sb_event_enum_name(ev, F[RF_PURPOSE]);
  const char *tpl = sb_event_str(ev, F[RF_TEMPLATE]);
  if (purpose == NULL)
    purpose = "marketing";
  m.flags |= COMMS_S_REQUESTED;
  m.requested_at = ev->occurred_at;
  m.day = (int32_t)sb_tenant_day(b, tenant, ev->occurred_at);
  comms__copy(m.channel, sizeof m.channel, channel);
  comms__copy(m.template_id, sizeof m.template_id, tpl);
  comms__copy(m.campaign_id, sizeof m.campaign_id,
              sb_event_str(ev, F[RF_CAMPAIGN]));

  int contact = channel != NULL && strcmp(channel, "slack") != 0;
  const char *reason = NULL;
  char detail[256] = "";
  /* "lead:<id>" (automation's): the lead's own address for the channel,
   * its HMAC for the consent checks, its zone for the quiet hours */
  comms_to_t to = {0};
  const char *to_hmac = sb_event_str(ev, F[RF_TO_HMAC]);
  const char *to_addr = sb_event_str(ev, F[RF_TO]);
  const char *lead = sb_event_str(ev, F[RF_LEAD]);
  if (to_addr != NULL && strncmp(to_addr, COMMS_LEAD_PREFIX,
                                 strlen(COMMS_LEAD_PREFIX)) == 0) {
    lead = to_addr + strlen(COMMS_LEAD_PREFIX);
    int lrc = comms__lead_address(b, tenant, lead, channel, &to, detail,
                                  sizeof detail);
    if (lrc == SB_ENOENT && !is_rebuild(b)) { /* not yet in the table? */
      int parked = 0;
      if (comms__park(x, b, ev, parked_since, &parked, err) != 0)
        return err->code;
      if (parked)
        return 0; /* decided later (comms_lead.c) */
    }
    if (lrc != 0)
      reason = "invalid_address";
    to_hmac = to.hmac[0] ? to.hmac : NULL;
  }
  int64_t retry_after = 0, send_at = ev->occurred_at;
  if (sb_event_has(ev, F[RF_SCHEDULED]) &&
      sb_event_i64(ev, F[RF_SCHEDULED]) > send_at)
    send_at = sb_event_i64(ev, F[RF_SCHEDULED]);
  int64_t not_before = send_at;
  if (reason == NULL && contact) {
    sb_consent_reason_t why = SB_CONSENT_ALLOWED;
    if (!sb_consent_allows_in(b, COMMS_G_CONSENT, tenant, lead, to_hmac,
                              purpose, channel, ev->occurred_at, &why)) {
      reason = block_reason_of(why);
      snprintf(detail, sizeof detail, "%s for %s on %s",
               sb_consent_reason_name(why), purpose, channel);
    }
  }
  int64_t end = 0;
  const char *zone = NULL;
  if (reason == NULL && contact && strcmp(purpose, "transactional") != 0 &&
      quiet_at(x, recipient_tz(x, b, ev, to.tz, &zone), send_at, &end)) {
    if (x->quiet_action == QH_DEFER)
      not_before = end;
    else {
      reason = "quiet_hours";
      retry_after = end;
      snprintf(detail, sizeof detail, "%02d:%02d-%02d:%02d in %s",
               x->quiet_start / 60, x->quiet_start % 60, x->quiet_end / 60,
               x->quiet_end % 60, zone);
    }
  }
  int version = 0;
  if (reason == NULL && tpl != NULL) {
    const char *want = sb_event_str(ev, F[RF_TEMPLATE_VERSION]);
    if (comms__template_find(b, tenant, tpl, want, channel, &version) != 0) {
      /* cut on characters: detail is at most 256 of them */
      char t[101], v[21];
      comms__copy(t, sizeof t, tpl);
      comms__copy(v, sizeof v, want);
      reason = "template_missing";
      snprintf(detail, sizeof detail, "%s%s%s for %s", t, want ? " version " : "",
               v, channel);
    }
  } else if (reason == NULL && !sb_event_has(ev, F[RF_BODY])) {
    reason = "other";
    snprintf(detail, sizeof detail, "neither template_id nor body");
  }
  comms_account_t acct;
  if (reason == NULL &&
      comms__account_for(b, tenant, channel, &acct) != 0) {
    reason = "no_provider";
    snprintf(detail, sizeof detail, "no provider account for %s", channel);
  }
  int rc;
  if (!is_rebuild(b)) { /* see comms_status.c: the decision committed */
    if (reason != NULL)
      snprintf(m.decision, sizeof m.decision, "blocked:%s", reason);
    else
      snprintf(m.decision, sizeof m.decision, "queued");
  }
  if (reason != NULL)
    rc = emit_blocked(x, b, ev, reason, detail, purpose, retry_after, err);
  else {
    comms__copy(m.account_id, sizeof m.account_id, acct.account_id);
    comms__copy(m.provider, sizeof m.provider, acct.provider);
    rc = queue(x, b, ev, &acct, &to, version, not_before, err);
  }
  if (rc == 0)
    rc = comms__msg_put(b, tenant, mid, &m, err);
  if (rc == 0)
    rc = comms__msg_row(x, b, tenant, mid, &m, ev, err);
  return rc;
}
