/* The HTTP API of a Switchboard process: health and metrics now; event
 * ingest and the live WebSocket feed build on it. Runs on the workers'
 * libuv loop. */
#ifndef SB_API_H
#define SB_API_H

#include "sb_conf.h"
#include "sb_pipeline.h"
#include "sb_err.h"

#include <uv.h>

typedef struct sb_api_s sb_api_t;

/* Listens on c->http.listen. pipeline (may be NULL: no processors) feeds
 * /metrics; borrowed until sb_api_free. */
int sb_api_start(uv_loop_t *loop, const sb_conf_t *c, sb_pipeline_t *pipeline,
                 sb_api_t **out, sb_err_t *err);
/* "http://127.0.0.1:8080" */
const char *sb_api_url(const sb_api_t *a);
/* Stops listening, lets answers in flight finish; the loop then runs dry.
 * Free with sb_api_free after the loop has run. */
void sb_api_stop(sb_api_t *a);
void sb_api_free(sb_api_t *a);

/* The route table ({NULL}-terminated) and its OpenAPI 3.1 document
 * (connectors/api/openapi.json, compiled in; len bytes): what
 * GET /v1/openapi.json serves. */
struct sb_http_route_s;
const struct sb_http_route_s *sb_api_routes(void);
const char *sb_api_openapi(size_t *len);

#endif
