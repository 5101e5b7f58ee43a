/* GET /v1/projection: a projection's rows of the caller's tenant, as JSON,
 * each read recorded (access.recorded, READ: sb_access.h) before it is
 * answered.
 *
 *   GET /v1/projection?name=SCHEMA.TABLE[&limit=N][&COLUMN=VALUE...]
 *
 * name: a table of a processor's projection (a schema with migration steps
 * in sb.projection_steps); the role needs read_projection on it
 * (sb_auth_check, "audit.events"; refused 403 and recorded as
 * security.access_denied). limit: 1 to 1000 rows (default 100). Every
 * other parameter is an equality filter on a column (compared as text), at
 * most 8, values at most 128 bytes. Answers 200 {"projection", "count",
 * "rows": [{column: value}]}, 400 naming the parameter, 404 for no such
 * projection, 413 past 16 MiB of rows, 503 when PostgreSQL does not answer
 * or the read could not be recorded.
 *
 * Queries run on libuv's thread pool, each on a connection of a small pool
 * of the application role's (which bypasses row-level security: the
 * tenant is always a condition of the query, the token's).
 *
 * PII cells of the columns the table's processor declares (vt->pii_cols)
 * are revealed or masked per row for the caller's role and user
 * (sb_pii_rows.h), with a key store per pooled connection; the keys out
 * of reach is 503, never an unrevealed answer.
 *
 * @locality the loop's thread, but for the queries. */
#ifndef SB_API_READ_H
#define SB_API_READ_H

#include "sb_conf.h"
#include "sb_err.h"
#include "sb_http.h"
#include "sb_ingest.h"

#include <uv.h>

typedef struct sb_api_reader_s sb_api_reader_t;

/* in (borrowed until sb_api_reader_free) authenticates and records. */
int sb_api_reader_new(uv_loop_t *loop, const sb_conf_t *c, sb_ingest_t *in,
                      sb_api_reader_t **out, sb_err_t *err);
void sb_api_get_projection(sb_http_req_t *r, sb_api_reader_t *rd);
/* The first value of parameter name in a query string, percent-decoded
 * into out: 1, 0 when absent, -1 when bad (an escape, a control character)
 * or longer than cap - 1 bytes. */
int sb_api_query_param(const char *qs, const char *name, char *out,
                       size_t cap);
/* After the loop ran dry (no query in flight). Accepts NULL. */
void sb_api_reader_free(sb_api_reader_t *rd);

#endif
