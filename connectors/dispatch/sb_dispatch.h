/* The dispatcher: sends the messages the comms processor leaves in
 * comms.outbox (issue 16) and records what became of them as events.
 *
 * One thread with its own libuv loop. Every tick it claims due rows
 * (UPDATE .. state 'sending', attempts + 1, a lease; FOR UPDATE SKIP
 * LOCKED: many dispatchers share the outbox), committed before anything is
 * sent; opens the sealed fields (sb_pii_open_field), renders the template,
 * and sends through libcurl's multi interface driven by the loop
 * (curl_multi_socket_action with uv_poll and uv_timer). Answers become
 * outcomes: sent (message.submitted + message.status_updated 'submitted'),
 * failed for good (message.status_updated 'failed' with the provider's
 * status and error code), blocked before sending (message.blocked), or
 * retried later (back to 'pending' with not_before = now + backoff with
 * jitter, or the provider's Retry-After). Events are produced and flushed
 * first, then the rows updated in one transaction, fenced by (claimed_by,
 * attempts): a dispatcher that lost its lease changes nothing.
 *
 * Per provider account: a circuit breaker (5 transient failures in a row
 * open it for 30 s, then one message probes) and a rate limit (Slack: one
 * message a second per channel; a 429 pauses the account for its
 * Retry-After); a message that may not go yet goes back to 'pending' with
 * its attempt given back. */
#ifndef SB_DISPATCH_H
#define SB_DISPATCH_H

#include "sb_conf.h"
#include "sb_err.h"
#include "sb_text.h"

typedef struct sb_dispatch_s sb_dispatch_t;

typedef struct sb_dispatch_stats_s {
  long claimed;  /* rows claimed */
  long sent;     /* accepted by the provider */
  long failed;   /* failed for good (permanent error, attempts exhausted) */
  long blocked;  /* refused before sending (template, length, account) */
  long retried;  /* transient failures put back with a backoff */
  long deferred; /* put back by a breaker or rate limit, attempt returned */
} sb_dispatch_stats_t;

/* Starts a dispatcher for c (database_url, brokers, pii keys, dispatch.*)
 * on a thread of its own. c is borrowed until sb_dispatch_join; *out is
 * the caller's, for sb_dispatch_join.
 * Checks the configuration (SB_ECONFIG) and connects before returning. */
int sb_dispatch_start(const sb_conf_t *c, sb_dispatch_t **out, sb_err_t *err);

/* Asks it to drain: no new claims; the transfers in flight finish (within
 * dispatch.timeout_ms) and are recorded. Safe from any thread and a signal
 * handler's loop; idempotent. */
void sb_dispatch_stop(sb_dispatch_t *d);

/* 1 once its thread has ended (stopped, or failed). */
int sb_dispatch_done(sb_dispatch_t *d);

/* Counters so far (any thread). */
void sb_dispatch_snapshot(sb_dispatch_t *d, sb_dispatch_stats_t *out);

/* Appends to t, in Prometheus' text format, the counters of the
 * dispatchers running in this process (summed; nothing when none runs),
 * per provider (smtp, twilio, whatsapp_cloud, slack, fcm, sendgrid, and
 * "none" for a message refused before its account was known):
 *   switchboard_dispatch_messages_total{provider, outcome}  outcome sent,
 *     failed, blocked, retried, throttled (a 429's pause or Slack's pace),
 *     circuit_open (held back by an open breaker)
 *   switchboard_dispatch_circuit_opened_total{provider}
 *   switchboard_dispatch_circuits_open{provider}  accounts open now
 *   switchboard_dispatch_claimed_total
 * No tenant, account, recipient or secret: the label set is fixed. Any
 * thread. */
void sb_dispatch_metrics(sb_text_t *t);

/* Stops it when still running, waits for its thread and frees it (NULL
 * accepted); st (may be NULL) gets the final counters; the thread's error,
 * if it failed, in err. */
int sb_dispatch_join(sb_dispatch_t *d, sb_dispatch_stats_t *st, sb_err_t *err);

#endif
