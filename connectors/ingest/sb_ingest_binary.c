/* Binary content mode of POST /v1/events (sb_ingest_int.h): the request's
 * ce-* headers handed to the CloudEvents HTTP binding (sb_ce.h). */
#include "sb_ingest_int.h"

#include "sb_ce.h"

#include <string.h>

/* The request's headers as the binding reads them; at most max. */
static size_t headers_of(const sb_http_req_t *r, sb_ce_header_t *h,
                         size_t max) {
  size_t n = 0;
  int count = sb_http_header_count(r);
  for (int i = 0; i < count && n < max; i++) {
    const char *name, *value;
    if (sb_http_header_at(r, i, &name, &value) != 0)
      break;
    h[n++] = (sb_ce_header_t){name, value, strlen(value)};
  }
  return n;
}

#define MAX_REQ_HEADERS 64 /* the HTTP server keeps no more */

int sb__ingest_is_binary(const sb_http_req_t *r) {
  sb_ce_header_t h[MAX_REQ_HEADERS];
  size_t n = headers_of(r, h, MAX_REQ_HEADERS);
  return sb_ce_is_binary(SB_CE_HTTP, h, n);
}

int sb__ingest_binary(const sb_http_req_t *r, const char *content_type,
                      const char *body, size_t len, cJSON **out,
                      sb_err_t *err) {
  sb_ce_header_t h[MAX_REQ_HEADERS];
  size_t n = headers_of(r, h, MAX_REQ_HEADERS);
  return sb_ce_from_binary(SB_CE_HTTP, h, n, content_type, body, len, out,
                           err);
}
