/* POST /v1/events: producers post CloudEvents; every event goes through the
 * same converter as `switchboard import`, under the tenant and role of the
 * caller's token, and is answered once Kafka acknowledged it.
 *
 *   application/cloudevents+json, application/json   one event
 *   application/cloudevents-batch+json               a JSON array of events
 *   application/x-ndjson                             one event a line
 *
 * Answers (JSON): 202 when every event was accepted; 207 when some were and
 * some not; 400, 403 or 503 when none was. The body lists
 * {"accepted": [{"index", "id", "duplicate"?}], "rejected": [{"index",
 * "status", "code", "error"}]}: each rejected item by index, with its field
 * path and reason. 401 for a missing or bad token, 413 past the body limit,
 * 415 for another content type, 503 with Retry-After when the producer
 * queue is full or the brokers do not acknowledge.
 *
 * Retries are safe: an event id seen within the idempotency window (10 min)
 * is acknowledged again, not produced twice; events without an id get one
 * derived from the Idempotency-Key header and their index when the header
 * is present. Failed authentications and denied events are recorded on
 * sb.compliance (security.login_failed, security.access_denied) with the
 * client's address and user agent, never the token. */
#ifndef SB_INGEST_H
#define SB_INGEST_H

#include "sb_conf.h"
#include "sb_err.h"
#include "sb_http.h"

typedef struct sb_ingest_s sb_ingest_t;

/* Loads the token secret of c->data_dir and starts a producer; polls it
 * from loop. */
int sb_ingest_new(uv_loop_t *loop, const sb_conf_t *c, sb_ingest_t **out,
                  sb_err_t *err);
void sb_ingest_post(sb_http_req_t *r, sb_ingest_t *in);
/* Stops polling (answers in flight are completed first by a final flush). */
void sb_ingest_close(sb_ingest_t *in);
void sb_ingest_free(sb_ingest_t *in);
/* Records a refused authentication ("security.login_failed") or access
 * ("security.access_denied") on sb.compliance: who (when known), the
 * client's address and user agent, reason and detail; never the token. */
void sb_ingest_record_security(sb_ingest_t *in, sb_http_req_t *r,
                               const char *type, const char *tenant,
                               const char *user, const char *reason,
                               const char *detail);

#endif
