/* The idempotency store of HTTP ingest: which event ids of a tenant were
 * produced within the window, shared by every `up` and `serve` process of
 * an instance through its PostgreSQL (sb.idempotency, sql/0004).
 *
 * A request's events are claimed before they are produced; a key is
 *   claimed    by this attempt: produce it, then finish (done or release);
 *   duplicate  done within the window (from its claim): acknowledge, do not
 *              produce;
 *   in flight  claimed by an attempt that has not finished (here or in
 *              another process), within its lease: the client retries later;
 *   unavailable the store did not answer: produce nothing, 503.
 * A claim whose process died is taken as abandoned once its lease passed
 * (longer than the producer's delivery timeout, so a live attempt always
 * finishes first). Rows leave only by age, in bounded batches.
 *
 * The loop never waits on PostgreSQL: a thread with its own connection
 * takes every claim and finish queued since its last round trip and sends
 * them in one statement; answers come back on the loop through a
 * uv_async. The queue is bounded in bytes (claims past it: SB_EBUSY).
 *
 * @locality sb_idem_new, _claim, _finish, _close and the callbacks: the
 * loop's thread. */
#ifndef SB_IDEM_H
#define SB_IDEM_H

#include "sb_conf.h"
#include "sb_err.h"
#include "sb_metrics.h"

#include <stddef.h>
#include <uv.h>

#define SB_IDEM_KEY_LEN 16 /* the first 128 bits of a SHA-256 */

typedef struct sb_idem_key_s {
  unsigned char b[SB_IDEM_KEY_LEN];
} sb_idem_key_t;

typedef enum {
  SB_IDEM_CLAIMED = 0,
  SB_IDEM_DUPLICATE,
  SB_IDEM_IN_FLIGHT,
  SB_IDEM_UNAVAILABLE,
} sb_idem_state_t;

typedef struct sb_idem_s sb_idem_t;

/* The key of event id (a ULID, either case) of tenant: SHA-256 over a tag,
 * the tenant and the id in upper case (its first 128 bits: a collision
 * takes 2^64 tries, a second preimage 2^128). */
void sb_idem_event_key(const char *tenant, const char *event_id,
                       sb_idem_key_t *out);

/* Normalises a ULID to upper case in place (Crockford base32 is
 * case-insensitive). */
void sb_idem_ulid_upper(char *id);

/* For a claim: states[i] for keys[i], error the store's when some are
 * SB_IDEM_UNAVAILABLE (else NULL). For a finish: states NULL, error NULL
 * when the marks were recorded. Both borrowed for the call. */
typedef void (*sb_idem_cb)(void *arg, const sb_idem_state_t *states,
                           const char *error);

/* Connects to c->database_url (failing at once when it does not answer or
 * lacks sb.idempotency) and starts the thread. *out is owned by the
 * caller: sb_idem_close, run the loop, then sb_idem_free. */
int sb_idem_new(uv_loop_t *loop, const sb_conf_t *c, sb_idem_t **out,
                sb_err_t *err);

/* Claims n distinct keys (copied) under a new attempt, written to
 * *attempt (the request's: its finish names it). cb runs later on the
 * loop, once. SB_EBUSY when the queue is full, SB_EUNAVAIL when closing:
 * cb will not run then. */
int sb_idem_claim(sb_idem_t *s, const sb_idem_key_t *keys, size_t n,
                  sb_idem_cb cb, void *arg, long long *attempt, sb_err_t *err);

/* Finishes an attempt: done (nd keys) are its claimed events Kafka
 * acknowledged, recorded by marking the attempt done (one row); released
 * (nr keys) the claimed events not produced, whose claims are deleted so
 * that a retry may claim them at once. Keys are borrowed for the call. cb
 * (may be NULL) runs on the loop once recorded or failed. A done mark that
 * fails is tried again in later round trips (up to a bound), since the
 * events are in Kafka already; a release that fails expires with the
 * lease. */
void sb_idem_finish(sb_idem_t *s, long long attempt,
                    const sb_idem_key_t *done, size_t nd,
                    const sb_idem_key_t *released, size_t nr, sb_idem_cb cb,
                    void *arg);

/* No new claims; what is queued is still sent and answered; the loop's
 * handle closes once the queue is empty. */
void sb_idem_close(sb_idem_t *s);
/* After the loop ran dry; accepts NULL. */
void sb_idem_free(sb_idem_t *s);

/* Appends the store's metrics (Prometheus text). */
void sb_idem_metrics(sb_idem_t *s, sb_text_t *t);

#endif
