/* The GDPR endpoints: data subject requests carried out (engine/sb_dsar.h)
 * for admins of the token's tenant; any other role is refused 403 and
 * recorded as security.access_denied.
 *
 *   POST /v1/gdpr  {"action": "export" | "erase", "subject": "lead-42",
 *                   "request_id": "..." (optional: a new one)}
 *        200 {"request_id", "action", "events", "rows", "sha256",
 *             "download": "/v1/gdpr/export?request=..."} for an export,
 *        200 {"request_id", "action", "keys_erased", "files_removed"} for
 *        an erasure; every step is an event under the request id, so a
 *        request posted again (a retry) repeats the same events.
 *   GET  /v1/gdpr?subject=S  the tenant's requests (one subject's) and
 *        erasures, overdue ones flagged (sb_dsar_status).
 *   GET  /v1/gdpr/export?request=R  the export's JSON document.
 *
 * The two reads are recorded (access.recorded READ, sb_access.h) before
 * they are answered; the export records its own reading. Requests run on
 * libuv's thread pool.
 *
 * @locality the loop's thread, but for the requests. */
#ifndef SB_API_GDPR_H
#define SB_API_GDPR_H

#include "sb_conf.h"
#include "sb_http.h"
#include "sb_ingest.h"

#include <uv.h>

typedef struct sb_api_gdpr_s {
  uv_loop_t *loop;
  const sb_conf_t *c;
  sb_ingest_t *in; /* authenticates and records */
} sb_api_gdpr_t;

void sb_api_post_gdpr(sb_http_req_t *r, sb_api_gdpr_t *g);
void sb_api_get_gdpr(sb_http_req_t *r, sb_api_gdpr_t *g);
void sb_api_get_gdpr_export(sb_http_req_t *r, sb_api_gdpr_t *g);

#endif
