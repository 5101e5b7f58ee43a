/* Inside ingest (sb_ingest.h), shared by its files only:
 *
 *   sb_ingest.c       life, metrics, authentication, security events
 *   sb_ingest_post.c  POST /v1/events: each event checked, sealed,
 *                     claimed, produced, and the request answered
 *   sb_ingest_seal.c  the sealer: threads sealing requests' PII with the
 *                     data keys of all queued in one round trip
 *
 * Everything runs on the loop's thread but the sealer's threads. */
#ifndef SB_INGEST_INT_H
#define SB_INGEST_INT_H

#include "sb_authz.h"
#include "sb_codec.h"
#include "sb_idem.h"
#include "sb_keys.h"
#include "sb_ingest.h"
#include "sb_metrics.h"
#include "sb_producer.h"
#include "sb_refusals.h"
#include "sb_schema.h"
#include "sb_tenant.h"

#include <stddef.h>
#include <stdint.h>

struct sb_ingest_s {
  const sb_conf_t *c;
  unsigned char secret[SB_AUTH_SECRET_MAX];
  size_t secret_len;
  sb_schemas_t *schemas;
  sb_codec_t *codec;
  sb_producer_t *producer;
  uv_timer_t poll;
  int polling;
  sb_auth_owner_fn owner; /* an agent's calls and leads; may be NULL */
  void *owner_ctx;
  sb_idem_t *idem; /* which event ids were produced: PostgreSQL */
  struct sb__sealer_s *sealer; /* PII: sb_ingest_seal.c */
  /* metrics; touched on the loop's thread only */
  uint64_t accepted, duplicates;
  uint64_t rejected[18]; /* by index of reject_codes */
  sb_hist_t produce_seconds;
  sb_refusals_t *refusals;          /* what refusals are recorded */
  const sb_refusal_t *refusal_flush; /* a window's count being recorded */
  struct sb_access_s *access;        /* reads recorded (sb_access.h) */
  sb_authz_t *authz; /* the users' current roles and the sessions */
  /* sign-ins (each recorded LOGIN) per source address and per tenant:
   * token buckets (sb_rate.h); those refused, for /metrics */
  struct sb_rate_s *signin_addr, *signin_tenant;
  uint64_t signins_limited;
};

/* A request's events while their PII is sealed (sb_ingest_seal.c): made
 * by sb_ingest_post.c, sealed on the sealer's thread together with every
 * request queued meanwhile (one round trip to the data keys for all), then
 * handed back on the loop. */
typedef struct sb__seal_s {
  struct sb__seal_s *next;
  struct post_s *p;
  int n;                /* items of the request */
  cJSON *doc, **events; /* what to free once encoded (NDJSON: events) */
  char **lines_err;
  int *lines_no, ndjson;
  cJSON **evs; /* the events checked, ready for sealing; NULL others */
  char **why;  /* the seal's refusals */
  char tenant[SB_TENANT_MAX + 1];
  int rc;
  sb_err_t err;
} sb__seal_t;

/* sb_ingest_seal.c: the sealer's thread and its hand-back to the loop */
int sb__sealer_start(sb_ingest_t *in, uv_loop_t *loop, sb_err_t *err);
/* Queues a job (owned by the sealer until it is handed back); -1 when
 * closing (the job is the caller's still). */
int sb__sealer_submit(sb_ingest_t *in, sb__seal_t *j);
/* No new jobs; the loop's handle closes once the last is handed back. */
void sb__sealer_close(sb_ingest_t *in);
void sb__sealer_free(sb_ingest_t *in); /* after the loop ran out */

/* sb_ingest_post.c: a sealed job back on the loop: its events encoded and
 * claimed (ran 0: it was never sealed). Frees the job's arrays, not j. */
void sb__ingest_sealed(sb__seal_t *j, int ran);

/* sb_ingest_ndjson.c: an NDJSON body's events, a line each, blank lines
 * skipped: each parsed on its own (a bad one's error in lines_err, its
 * line number as an editor counts in lines_no); *n is max + 1 past max
 * events (reading stops). The arrays are the caller's. -1 when out of
 * memory (nothing kept). */
int sb__ingest_ndjson(const char *body, size_t len, int max, cJSON ***events,
                      char ***lines_err, int **lines_no, int *n);

/* sb_ingest.c: counts an event or a request refused with code. */
void sb__ingest_count_reject(sb_ingest_t *in, const char *code);

/* sb_ingest_binary.c: whether the request is one CloudEvent in binary
 * content mode (a ce-specversion header), and that event as a structured
 * CloudEvent (*out owned by the caller); errors as sb_ce_from_binary:
 * SB_EINVAL for data of a media type other than JSON. */
int sb__ingest_is_binary(const sb_http_req_t *r);
int sb__ingest_binary(const sb_http_req_t *r, const char *content_type,
                      const char *body, size_t len, cJSON **out,
                      sb_err_t *err);

/* sb_ingest.c: verifies a token (answers 401 and records the failure). */
int sb__ingest_verify_token(sb_ingest_t *in, sb_http_req_t *r,
                            const char *token, sb_claims_t *who);

/* sb_ingest_session.c */
void sb__ingest_authz_metrics(sb_ingest_t *in, sb_text_t *t);
/* 1 when r carries the session cookie: its value (cut: refused later) in
 * out. */
int sb__ingest_cookie(const sb_ingest_t *in, const sb_http_req_t *r,
                      char out[SB_SESSION_SECRET_LEN + 1]);
/* who may act with its role now (sb_authz_check): 0, or -1 with r answered
 * 403 (recorded: security.access_denied, or security.login_failed when
 * signin) or 503. */
int sb__ingest_authorize(sb_ingest_t *in, sb_http_req_t *r,
                         const sb_claims_t *who, int signin);
/* The session of the cookie's value secret, from an allowed Origin, whose
 * user holds its role: 0 with *who (and *out, may be NULL), or -1 with r
 * answered 401, 403 or 503. */
int sb__ingest_auth_session(sb_ingest_t *in, sb_http_req_t *r,
                            const char *secret, sb_claims_t *who,
                            sb_session_t *out);

#endif
