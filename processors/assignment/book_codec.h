/* The routing book's records as the routing processor keeps them in its
 * keyed state: one JSON object each, named fields (a record saved by an
 * older build reads in a newer one; an absent field is 0 or empty).
 *
 * encode: 0 with *out (malloc'd, NUL-terminated, *len bytes without the
 * NUL; the caller frees it), or SB_ENOMEM. decode: 0, or SB_EDECODE naming
 * what is wrong (not JSON, a field of the wrong type, a name too long, too
 * many queues or skills, an unknown state, strategy or channel). */
#ifndef ROUTING_BOOK_CODEC_H
#define ROUTING_BOOK_CODEC_H

#include "book.h"

int routing_agent_encode(const routing_agent_rec_t *a, char **out, size_t *len,
                         sb_err_t *err);
int routing_agent_decode(const void *buf, size_t len, routing_agent_rec_t *a,
                         sb_err_t *err);
int routing_queue_encode(const routing_queue_rec_t *q, char **out, size_t *len,
                         sb_err_t *err);
int routing_queue_decode(const void *buf, size_t len, routing_queue_rec_t *q,
                         sb_err_t *err);
int routing_lead_encode(const routing_lead_rec_t *l, char **out, size_t *len,
                        sb_err_t *err);
int routing_lead_decode(const void *buf, size_t len, routing_lead_rec_t *l,
                        sb_err_t *err);

#endif
