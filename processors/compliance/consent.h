/* Consent and do-not-call state, as other processors read it (routing,
 * comms): a global table over sb.compliance kept by the kit in every
 * instance of the reading processor, so every subject of a tenant is there
 * whichever partition its events are on.
 *
 * The table folds consent.given and consent.withdrawn (the latest per
 * tenant, subject, purpose and channel by occurred_at, ties broken by event
 * id: out-of-order and repeated events change nothing) and the compliance
 * processor's decisions consent.opt_out_honoured (an opt-out or a
 * do-not-call flag applied; by the HMAC of each address it names and by
 * subject). It holds no PII: subjects are ids, addresses HMACs, so a
 * suppression survives the subject's erasure.
 *
 * To read it, a processor lists the table among its globals and asks:
 *
 *   .globals = sb_consent_globals,           (its only global table), or
 *   .globals = (const sb_global_def_t[]){ {"agents", ...}, SB_CONSENT_GLOBAL,
 *                                          {0} },
 *   ...
 *   sb_consent_reason_t why;
 *   if (!sb_consent_allows(b, tenant, lead, phone_hmac, "marketing", "sms",
 *                          now_us, &why)) ... refuse, saying
 *                          sb_consent_reason_name(why)
 *
 * (with its own array, sb_consent_allows_in(b, &globals[1], ...)). A
 * processor that does not list the table is refused everything
 * (no_consent): the check fails closed.
 *
 * What is answered is the state as folded so far (everything the table's
 * reader has read, up to the batch being handled), with expiries judged at
 * at_us. The kit folds the topic between batches: an event is seen by the
 * batches that start after it reached the table. */
#ifndef SB_CONSENT_H
#define SB_CONSENT_H

#include "sb_processor.h"

#include <stdint.h>

typedef enum {
  SB_CONSENT_ALLOWED = 0,   /* a consent given, not lapsed, nothing against */
  SB_CONSENT_NO_CONSENT,    /* none given for the purpose and channel */
  SB_CONSENT_WITHDRAWN,     /* the latest for them is a withdrawal */
  SB_CONSENT_EXPIRED,       /* given, with expires_at at or before at_us */
  SB_CONSENT_DNC,           /* a do-not-call flag on the address or subject */
  SB_CONSENT_OPTED_OUT,     /* an opt-out on the address or subject not
                               followed by a consent given after it */
} sb_consent_reason_t;

/* The table's definition, to list among a processor's globals. */
int sb_consent_reduce(void *state, sb_global_t *g, const sb_event_t *ev,
                      sb_err_t *err);
#define SB_CONSENT_GLOBAL                                                      \
  { "consent", SB_TOPIC_COMPLIANCE, sb_consent_reduce }
/* { SB_CONSENT_GLOBAL, {0} }: for a processor with no other global table */
extern const sb_global_def_t sb_consent_globals[];

/* 1 when contacting subject of tenant (and, when address_hmac is given, the
 * phone or e-mail whose HMAC it is) for purpose on channel is allowed at
 * at_us (micros), else 0 with *reason saying why (reason may be NULL).
 * purpose: marketing, sales_outreach, transactional, ...; channel: voice,
 * sms, email, whatsapp, push, postal_mail, slack. A consent given for every
 * channel counts for each; a withdrawal for every channel withdraws each;
 * of a channel's own and the every-channel one the later decides. A
 * missing tenant, subject, purpose or channel is refused (0,
 * no_consent). Borrows everything; reads only (kit calls). */
int sb_consent_allows(sb_batch_t *b, const char *tenant_id,
                      const char *subject, const char *address_hmac,
                      const char *purpose, const char *channel, int64_t at_us,
                      sb_consent_reason_t *reason);
/* The same against the table def (an element of the caller's globals). */
int sb_consent_allows_in(sb_batch_t *b, const sb_global_def_t *def,
                         const char *tenant_id, const char *subject,
                         const char *address_hmac, const char *purpose,
                         const char *channel, int64_t at_us,
                         sb_consent_reason_t *reason);

/* "allowed", "no_consent", "withdrawn", "expired", "dnc", "opted_out". */
const char *sb_consent_reason_name(sb_consent_reason_t r);

#endif
