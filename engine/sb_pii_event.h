/* PII of whole events: sealing a batch of CloudEvents on the way in
 * (ingest, import, any connector that builds events from JSON) and
 * revealing or masking one on the way out (the WebSocket feed, audit
 * export, the read API).
 *
 * Sealed fields are those the schemas mark "sb.pii" (a string, each string
 * of an array of strings, each string field of an sb.pii record), by the
 * newest schema of the event's type; see sb_pii.h for the envelope and
 * sb_keys.h for the keys. The data subject (whose data key seals the
 * event's PII, and whose erasure shreds it) is the person the event is
 * about: see sb_pii_data_subject. */
#ifndef SB_PII_EVENT_H
#define SB_PII_EVENT_H

#include "sb_err.h"
#include "sb_keys.h"
#include "sb_schema.h"

#include <cjson/cJSON.h>
#include <stddef.h>

/* The data subject of a CloudEvent whose data is data and subject
 * subject: the lead its data names (lead_id: a call's, a message's, the
 * lead's own), else the data subject it names (subject_id: consent,
 * requests), else its subject. Borrowed from the arguments. */
const char *sb_pii_data_subject(const cJSON *data, const char *subject);

/* Seals the PII of n CloudEvents in place, before sb_codec_from_ce: for
 * each sb.match field it first sets data.<field>_hmac. evs[i] may be NULL
 * (skipped). An event refused is left as it was, with why[i] set to the
 * reason (malloc'd, the caller frees; else NULL), e.g.
 *   "data.phone: is not an E.164 phone number: ..."
 *   "data.email: longer than 320 characters (400)"
 *   "data.phone: holds an sbx1. value: PII is sealed by the server; send
 *    the plaintext"
 *   "data.phone_hmac: is computed by the server from data.phone; leave it
 *    out"
 *   "data.notes: looks like a payment card number: ..." (events of
 *    sb.leads and payment.* types: any string field)
 * Anything else wrong with an event (unknown type, no subject) is left to
 * the codec. The data keys of all events come in one round trip
 * (sb_keys_for_seal). Returns 0, or an error for the whole batch (the key
 * store unavailable: SB_EPG, SB_EIO, ...) with nothing sealed. */
int sb_pii_seal_events(sb_keys_t *k, const sb_schemas_t *s, cJSON *const *evs,
                       size_t n, char **why, sb_err_t *err);

/* 1 when sb_pii_seal_events has something to do for ev (its type has
 * sb.pii fields, or is checked for card numbers), 0 when it would leave it
 * as it is. */
int sb_pii_event_needs_seal(const sb_schemas_t *s, const cJSON *ev);

typedef enum {
  SB_PII_VIEW_CLEAR = 0, /* decrypted */
  SB_PII_VIEW_MASKED,    /* decrypted, then masked (sb_pii_mask) */
  SB_PII_VIEW_SEALED,    /* left as stored */
} sb_pii_view_t;

/* Who sees what: admin and manager the plaintext; agent the plaintext of
 * the leads and calls it owns (owns: the event's lead or call is the
 * caller's), masked otherwise; supervisor and any other role masked. */
sb_pii_view_t sb_pii_view_for(const char *role, int owns);

/* Rewrites the sealed fields of a CloudEvent (as sb_codec_to_ce gives it)
 * for view: decrypted, or masked (a plaintext value in an sb.pii field,
 * written before sealing, is masked too); a field whose key was erased reads
 * "sbx1.erased", and so does one that does not open (its GCM tag fails:
 * counted in *failed, may be NULL). 0, or an error reaching the keys
 * (nothing is left half-revealed then: the sealed values stay). */
int sb_pii_reveal(sb_keys_t *k, const sb_schemas_t *s, cJSON *ce,
                  sb_pii_view_t view, int *failed, sb_err_t *err);

/* One value of a field, for code that reads events by field handle (a
 * processor that must act on the plaintext: comms sending the SMS). v is
 * the stored value of field (its path, "phone") of an event of type and
 * tenant; out gets the plaintext (outsz at least strlen(v) + 1). Returns
 * 0 (out the plaintext), 1 when the subject's key was erased (out
 * "sbx1.erased"), 2 when v is not sealed (out a copy of it), or an error:
 * SB_ECRYPTO when it does not open (altered), or reaching the keys. */
int sb_pii_open_field(sb_keys_t *k, const char *tenant, const char *type,
                      const char *field, const char *v, char *out,
                      size_t outsz, sb_err_t *err);

#endif
