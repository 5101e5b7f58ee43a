#ifndef SB_DASHBOARD_H
#define SB_DASHBOARD_H

/* The live dashboard (issue 19): the page and its scripts, written in
 * connectors/dashboard/www/ and compiled in, served by the HTTP API at `/`
 * and `/ui/NAME` with a strict Content-Security-Policy. The page holds no
 * data: it signs in (POST /v1/session) and reads the read API and the
 * WebSocket feed with the session cookie, scoped on the server like any
 * other client. */

#include "sb_http.h"

/* GET / (the page) and GET /ui/NAME (a file of www/); 404 for any other. */
void sb_dashboard_get(sb_http_req_t *r, void *ud);

/* The Content-Security-Policy every dashboard answer carries. */
const char *sb_dashboard_csp(void);

#endif
