/* Inbound webhooks of the messaging providers (issue 16, part W): what
 * Twilio, the WhatsApp Cloud API and SendGrid post back about the messages
 * Switchboard sent (delivery statuses) and the ones contacts send (inbound
 * messages, STOP replies, unsubscribes).
 *
 *   sb_webhook_parse.c  the bodies: Twilio's form, WhatsApp's JSON,
 *                       SendGrid's JSON array -> items (pure, bounded)
 *   sb_webhook_sign.c   the providers' signatures (pure, OpenSSL EVP)
 *   sb_webhook_route.c  the routes on the HTTP API: the account's signing
 *                       secret (comms.providers, unsealed), the check, the
 *                       items as events through ingest, the answer
 *
 * Nothing here trusts a body before its signature verified; the parsers
 * are fuzzed (tests/fuzz/fuzz_webhook_*.c) all the same. No message this
 * module writes holds a secret or a signature. */
#ifndef SB_WEBHOOK_H
#define SB_WEBHOOK_H

#include "sb_err.h"
#include "sb_http.h"

#include <stddef.h>
#include <uv.h>

#define SB_WHK_FORM_MAX (64 * 1024) /* bytes of a Twilio form body */
#define SB_WHK_FORM_PARAMS 128      /* parameters of a form */
#define SB_WHK_JSON_MAX (1024 * 1024) /* bytes of a JSON body */
#define SB_WHK_MAX_ITEMS 1000         /* statuses/messages of one body */
#define SB_WHK_MEDIA_MAX 10           /* media URLs of an inbound message */

/* ---- Twilio's application/x-www-form-urlencoded body ------------------- */
typedef struct sb_whk_param_s {
  const char *name, *value; /* decoded, NUL-terminated; in buf */
} sb_whk_param_t;

typedef struct sb_whk_form_s {
  sb_whk_param_t p[SB_WHK_FORM_PARAMS];
  size_t n;
  char *buf; /* owned */
} sb_whk_form_t;

/* Decodes body (at most SB_WHK_FORM_MAX bytes: '+' is a space, %XX a
 * byte; a name without '=' has the value ""). SB_EVALIDATE naming what is
 * wrong (bad %-escape, a NUL, too many parameters, a parameter twice, not
 * UTF-8), SB_ENOMEM. *out is the caller's: sb_whk_form_free (also after a
 * failure). */
int sb_whk_form_parse(const char *body, size_t len, sb_whk_form_t *out,
                      sb_err_t *err);
/* The value of name (case-sensitive), NULL when absent. */
const char *sb_whk_form_get(const sb_whk_form_t *f, const char *name);
void sb_whk_form_free(sb_whk_form_t *f);

/* ---- items: what a body says ------------------------------------------- */
typedef enum {
  SB_WHK_STATUS = 1, /* -> message.status_updated */
  SB_WHK_INBOUND,    /* -> message.inbound (+ message.opt_out on STOP) */
  SB_WHK_OPT_OUT,    /* -> message.opt_out (SendGrid unsubscribe/spam) */
} sb_whk_kind_t;

typedef struct sb_whk_item_s {
  sb_whk_kind_t kind;
  const char *channel; /* MessageChannel: "sms", "whatsapp", "email" */
  /* the provider's identity of this callback: what the event id derives
   * from, so a repeat is the same event ("SM..:delivered", sg_event_id) */
  const char *event_key;
  const char *message_id; /* ours (the callback carried it); NULL unknown */
  const char *provider_message_id;
  const char *status;     /* MessageStatus symbol (STATUS) */
  const char *raw_status; /* as the provider said it */
  const char *error_code, *error_message; /* NULL when none */
  long long reported_at_us; /* the provider's time; 0 unknown */
  /* INBOUND: the sender (E.164 for phones), the tenant's number, text */
  const char *from, *to, *body;
  const char *media[SB_WHK_MEDIA_MAX];
  int nmedia;
  /* INBOUND with a STOP-family body, OPT_OUT: the keyword (upper case) or
   * NULL; method: OptOutMethod ("keyword", "unsubscribe_link",
   * "spam_complaint"); address: who opted out */
  const char *keyword, *method, *address;
} sb_whk_item_t;

typedef struct sb_whk_batch_s {
  sb_whk_item_t *items;
  size_t n;
  size_t ignored; /* provider events that are neither (clicks, ...) */
  char *arena;    /* owned: the items' strings */
  size_t used, cap;
} sb_whk_batch_t;

void sb_whk_batch_free(sb_whk_batch_t *b);

/* MessageStatus of a provider's status, NULL when unknown:
 *   Twilio   accepted/scheduled/queued -> queued, sending -> submitted,
 *            sent, delivered, read, undelivered, failed, canceled -> failed
 *   WhatsApp sent, delivered, read, failed
 *   SendGrid processed -> submitted, deferred -> queued, delivered,
 *            open -> read, bounce -> undelivered, dropped -> rejected */
const char *sb_whk_twilio_status(const char *raw);
const char *sb_whk_whatsapp_status(const char *raw);
const char *sb_whk_sendgrid_status(const char *raw);

/* The STOP-family keyword of an inbound text (trimmed, case-insensitive:
 * STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) in upper case, or NULL. */
const char *sb_whk_stop_keyword(const char *body);

/* Twilio: a status callback (MessageSid, MessageStatus, ErrorCode, ...;
 * message_id: ours, from the callback URL's ?m=, may be NULL) or an
 * inbound message (MessageSid, From, To, Body, NumMedia, MediaUrlN;
 * "whatsapp:" addresses are the whatsapp channel). One item into *out (the
 * caller's: sb_whk_batch_free). SB_EVALIDATE naming the missing or bad
 * parameter. */
int sb_whk_twilio_parse_status(const sb_whk_form_t *f, const char *message_id,
                               sb_whk_batch_t *out, sb_err_t *err);
int sb_whk_twilio_parse_inbound(const sb_whk_form_t *f, sb_whk_batch_t *out,
                                sb_err_t *err);
/* WhatsApp Cloud API: {"object":"whatsapp_business_account","entry":[{
 * "changes":[{"field":"messages","value":{"statuses":[..],"messages":[..]}
 * }]}]}: every status (biz_opaque_callback_data is our message id) and
 * message (text, button or interactive reply as body); other changes
 * counted in ignored. At most SB_WHK_JSON_MAX bytes and SB_WHK_MAX_ITEMS
 * items. */
int sb_whk_whatsapp_parse(const char *body, size_t len, sb_whk_batch_t *out,
                          sb_err_t *err);
/* SendGrid's event webhook: a JSON array of events (event, sg_event_id,
 * sg_message_id, timestamp, email; custom argument sb_message_id is our
 * message id); statuses, unsubscribe / spamreport as opt-outs, the rest
 * (click, group_*) ignored. Bounded as WhatsApp's. */
int sb_whk_sendgrid_parse(const char *body, size_t len, sb_whk_batch_t *out,
                          sb_err_t *err);

/* ---- signatures: 0 when good, SB_EPERM saying what did not match
 * (never the signature or the secret), SB_ECRYPTO when OpenSSL fails ---- */

/* X-Twilio-Signature: base64 HMAC-SHA1, key the auth token, over url (the
 * full URL Twilio called, query included) then each parameter's name and
 * value sorted by name (bytewise). */
int sb_whk_twilio_verify(const char *auth_token, const char *url,
                         const sb_whk_form_t *f, const char *signature,
                         sb_err_t *err);
/* The signature Twilio would send, into out (at least 29 bytes). */
int sb_whk_twilio_sign(const char *auth_token, const char *url,
                       const sb_whk_form_t *f, char *out, size_t outsz,
                       sb_err_t *err);
/* X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the raw body, key
 * the app secret. */
int sb_whk_hub_verify(const char *app_secret, const char *body, size_t len,
                      const char *header, sb_err_t *err);
/* SendGrid: base64 DER ECDSA (P-256, SHA-256) signature over timestamp
 * then body; public_key the verification key as SendGrid shows it (base64
 * of the DER SubjectPublicKeyInfo) or as PEM. */
int sb_whk_sendgrid_verify(const char *public_key, const char *timestamp,
                           const char *body, size_t len, const char *signature,
                           sb_err_t *err);

/* The hub.verify_token of WhatsApp's subscription handshake (GET) for an
 * account: not the app secret itself (the token travels in a URL), but
 * the first 32 hex digits of HMAC-SHA256(app secret,
 * "sb-whatsapp-verify:<tenant>:<account>"), into out. */
int sb_whk_whatsapp_verify_token(const char *app_secret, const char *tenant,
                                 const char *account, char out[33],
                                 sb_err_t *err);

/* ---- the routes (sb_webhook_route.c) -------------------------------------
 *   POST /v1/webhooks/twilio/<tenant>/<account>/status[?m=<message id>]
 *   POST /v1/webhooks/twilio/<tenant>/<account>/inbound
 *   GET  /v1/webhooks/whatsapp/<tenant>/<account>   (the handshake)
 *   POST /v1/webhooks/whatsapp/<tenant>/<account>
 *   POST /v1/webhooks/sendgrid/<tenant>/<account>
 * No token: the provider's signature under the account's secret
 * (comms.providers, unsealed) authenticates. The events go through ingest
 * (sb_ingest_submit) as user "webhook:<provider>:<account>", role
 * supervisor; the answer follows Kafka's acknowledgement. */
struct sb_ingest_s;
struct sb_conf_s;
typedef struct sb_webhooks_s sb_webhooks_t;

/* in and c are borrowed until sb_webhooks_free; tls: the API serves
 * HTTPS (the scheme of the URL Twilio signs when webhooks.public_url is
 * unset). */
int sb_webhooks_new(uv_loop_t *loop, const struct sb_conf_s *c,
                    struct sb_ingest_s *in, int tls, sb_webhooks_t **out,
                    sb_err_t *err);
/* The handler of the routes "/v1/webhooks/" (GET and POST). */
void sb_webhooks_handle(sb_http_req_t *r, void *w);
/* After the loop ran dry (lookups in flight are done). Accepts NULL. */
void sb_webhooks_free(sb_webhooks_t *w);

#endif
