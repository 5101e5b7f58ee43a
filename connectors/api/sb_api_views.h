/* The read views processors declare (vt->views, sb_view_def_t in
 * sb_processor.h), answered as JSON:
 *
 *   GET /v1/analytics                   the analytics processor's views
 *   GET /v1/analytics/VIEW?from=&to=&bucket=hour|day&campaign=&queue=
 *       &agent=&limit=&after=
 *   GET /v1/projections                 every processor's views
 *   GET /v1/projections/PROCESSOR/VIEW?...   (the same parameters)
 *
 * A view takes the parameters its declaration names, and no others (400
 * naming the parameter and listing those it takes): from (inclusive) and
 * to (exclusive) bound its time column (a date, or an RFC 3339 time);
 * bucket=hour answers the view's hourly sibling (its declaration's
 * hourly), bucket=day (the default) the view itself; filters are equalities
 * on columns; limit 1 to 1000 rows (default 100); after is the cursor the
 * previous page answered as next (keyset pages in the view's order: rows
 * written meanwhile are not skipped or repeated before the cursor).
 *
 * Scoping: the caller's tenant always; the role needs read_projection on
 * "<processor>.<relation>" (sb_auth_check; 403 recorded as
 * security.access_denied); an agent reads a per-agent view (owner_col)
 * for its own rows only, a view flagged SB_VIEW_AGENTS_ALL whole, and no
 * other. Each read is recorded (access.recorded, READ) before it is
 * answered: 200 {"view": "PROCESSOR/VIEW", "count", "rows", "next": cursor
 * or null}. The lists answer only the views the caller may read.
 *
 * @locality the loop's thread, but for the queries (libuv's pool). */
#ifndef SB_API_VIEWS_H
#define SB_API_VIEWS_H

#include "sb_api_read.h"
#include "sb_http.h"

void sb_api_get_analytics(sb_http_req_t *r, sb_api_reader_t *rd);
void sb_api_get_projections(sb_http_req_t *r, sb_api_reader_t *rd);
/* A time bound's form: 1 a date (YYYY-MM-DD), 2 an RFC 3339 time, 0
 * neither (for the tests). */
int sb_api_views_time_kind(const char *s);

#endif
