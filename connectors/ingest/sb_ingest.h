/* POST /v1/events: producers post CloudEvents; every event goes through the
 * same converter as `switchboard import`, under the tenant and role of the
 * caller's token, and is answered once Kafka acknowledged it.
 *
 *   application/cloudevents+json, application/json   one event
 *   application/cloudevents-batch+json               a JSON array of events
 *   application/x-ndjson                             one event a line
 *
 * Answers (JSON): 202 when every event was accepted; 207 when some were and
 * some not; 400, 403, 409 or 503 when none was. The body lists
 * {"accepted": [{"index", "id", "duplicate"?}], "rejected": [{"index",
 * "status", "code", "id"?, "error"}]}: each rejected item by index, with its
 * field path and reason. 401 for a missing or bad token, 413 past the body
 * limit, 415 for another content type, Retry-After with 409 (in flight) and
 * 503 (producer queue full, brokers or PostgreSQL not answering).
 *
 * A body is one JSON document, or one a line for NDJSON: data after it, raw
 * control characters and more than 10,000 events refuse the whole request
 * (400, 413); NDJSON errors name the line counted as an editor does. Event
 * times lie within ingest.max_past_seconds / ingest.max_future_seconds of
 * the clock. The actor (actoruserid, actorrole, actorip, actoruseragent) is
 * set from the token and the connection; a client's disagreeing one is 403.
 * Agents act only on themselves and their own calls and leads
 * (sb_auth_agent_object_check, owners from sb_ingest_set_owners). Tokens
 * living longer than auth.max_token_ttl_seconds are 401.
 *
 * Retries are safe (sb_idem.h): an event id is claimed in the instance's
 * PostgreSQL per tenant before it is produced and marked done before the
 * 202, so an id produced within ingest.idempotency_window_ms is
 * acknowledged again as a duplicate by any process, after any restart; a
 * retry while the first attempt is in flight is answered 409 in_flight.
 * ULIDs are kept in upper case. Events without an id get one derived from
 * the whole Idempotency-Key header (at most 1 KiB), the token's tenant and
 * subject and their index. Failed authentications and denied events are
 * recorded on sb.compliance (security.login_failed, security.access_denied)
 * with the client's address and user agent, never the token: once per
 * source, reason and user per window (security.refusal_window_ms), the rest
 * of the window as one event with their count in attempts (sb_refusals.h). */
#ifndef SB_INGEST_H
#define SB_INGEST_H

#include "sb_auth.h"
#include "sb_conf.h"
#include "sb_err.h"
#include "sb_http.h"
#include "sb_metrics.h"

typedef struct sb_ingest_s sb_ingest_t;

/* Loads the token secret of c->data_dir, starts a producer (polled from
 * loop) and the idempotency store on c->database_url (required). */
int sb_ingest_new(uv_loop_t *loop, const sb_conf_t *c, sb_ingest_t **out,
                  sb_err_t *err);
void sb_ingest_post(sb_http_req_t *r, sb_ingest_t *in);
/* Stops polling (answers in flight are completed first by a final flush). */
void sb_ingest_close(sb_ingest_t *in);
void sb_ingest_free(sb_ingest_t *in);
/* Appends the ingest metrics (Prometheus text). On the loop's thread. */
void sb_ingest_metrics(sb_ingest_t *in, sb_text_t *t);
/* Verifies token (NULL or "": missing, then the session cookie counts)
 * for request r, and that its user holds its role now. 0 with *who
 * filled; else r has been answered 401, 403 or 503 (naming why) and the
 * failure recorded. */
int sb_ingest_authenticate(sb_ingest_t *in, sb_http_req_t *r,
                           const char *token, sb_claims_t *who);

/* As sb_ingest_authenticate, and more: without a token, the session
 * cookie authenticates (from an allowed Origin only); either way the user
 * must hold the role now (sb_authz.h: 403 role_not_held, or 503 when that
 * cannot be known). session_hash (32 bytes, may be NULL) receives the
 * session's hash, zeros for a token. sb_ingest_authenticate is this with
 * NULL. */
int sb_ingest_authenticate_ex(sb_ingest_t *in, sb_http_req_t *r,
                              const char *token, sb_claims_t *who,
                              unsigned char *session_hash);
/* For connections that outlive their request (the WebSocket feed): 0 while
 * who still holds its role and its session (session_hash, may be NULL) is
 * live; SB_EPERM with why once not. While the roles cannot be checked
 * (stale), 0: new requests are the ones refused. */
int sb_ingest_recheck(sb_ingest_t *in, const sb_claims_t *who,
                      const unsigned char *session_hash, sb_err_t *err);

/* The dashboards' sessions (sb_ingest_session.c): POST /v1/session signs
 * in with Authorization: Bearer <token> (201, Set-Cookie: sb_session, or
 * __Host-sb_session under TLS: HttpOnly, SameSite=Strict, Secure under
 * TLS; access.recorded LOGIN acknowledged by Kafka first), GET says who
 * the caller is, DELETE signs out (the cookie cleared, access.recorded
 * LOGOUT). */
void sb_ingest_session_post(sb_http_req_t *r, sb_ingest_t *in);
void sb_ingest_session_get(sb_http_req_t *r, sb_ingest_t *in);
void sb_ingest_session_delete(sb_http_req_t *r, sb_ingest_t *in);

/* Where an agent's calls and leads are looked up (sb_auth_agent_object_
 * check): fn(ctx, ...) on the loop's thread. Unset, every call and lead is
 * unknown and agents may post only about themselves. */
void sb_ingest_set_owners(sb_ingest_t *in, sb_auth_owner_fn fn, void *ctx);

/* For connectors that authenticate their callers otherwise (the providers'
 * webhooks: their signature): events (a JSON array of CloudEvents, taken)
 * go through what POST /v1/events does after authentication (checks as
 * who's role, tenant and actor, PII sealed, ids claimed, produced); done
 * then gets the outcome, on the loop's thread, and answers r itself.
 * r may be NULL for a connector without a request (the AMI connector):
 * the events then carry no actorip or actoruseragent, and done gets NULL.
 * status: 202 when every event was accepted (duplicates included), else
 * the status of a refused one (a 5xx or 409 first: the caller should be
 * retried), with its code and error (valid during the call). */
typedef struct sb_ingest_outcome_s {
  int status, accepted, duplicates, refused;
  const char *code, *error;
} sb_ingest_outcome_t;
typedef void (*sb_ingest_done_fn)(void *ud, sb_http_req_t *r,
                                  const sb_ingest_outcome_t *o);
void sb_ingest_submit(sb_ingest_t *in, sb_http_req_t *r, const sb_claims_t *who,
                      cJSON *events, sb_ingest_done_fn done, void *ud);

/* The reader of sb.ingest (sb_ingest_kafka.c): CloudEvents producers wrote
 * straight to Kafka go through sb_ingest_submit, as user "kafka:sb.ingest"
 * with role manager in the tenant each event names, or to sb.deadletter.
 * start: on the loop's thread (the worker hands records to it); stop: on
 * the loop's thread, before sb_ingest_close (no new record is taken);
 * free: once the loop has ended. */
typedef struct sb_ingest_kafka_s sb_ingest_kafka_t;
int sb_ingest_kafka_start(sb_ingest_t *in, uv_loop_t *loop,
                          sb_ingest_kafka_t **out, sb_err_t *err);
void sb_ingest_kafka_stop(sb_ingest_kafka_t *w);
void sb_ingest_kafka_free(sb_ingest_kafka_t *w);

/* Where a request came from, for security events. */
typedef struct sb_client_info_s {
  const char *ip, *user_agent; /* user_agent may be NULL */
  const char *method, *path;
} sb_client_info_t;

sb_client_info_t sb_client_info(const sb_http_req_t *r);

/* Records a refused authentication ("security.login_failed") or access
 * ("security.access_denied") on sb.compliance: who (when known), the
 * client's address and user agent, reason and detail; never the token. The
 * first of its source, reason and user in a window is produced at once; the
 * others are counted and produced as one event at the window's end. */
void sb_ingest_record_security(sb_ingest_t *in, const sb_client_info_t *from,
                               const char *type, const char *tenant,
                               const char *user, const char *reason,
                               const char *detail);

#endif
