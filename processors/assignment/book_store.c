/* Restoring a routing book from its saved records, and saving what
 * changed (book.h). */
#include "book_int.h"

#include <stdlib.h>
#include <string.h>

int routing_book_restore_agent(routing_book_t *b, const routing_agent_rec_t *a,
                               sb_err_t *err) {
  agent_t *r = routing__agent_put(b, a, err);
  if (r == NULL)
    return err->code;
  r->r = *a;
  return 0;
}

int routing_book_restore_queue(routing_book_t *b, const routing_queue_rec_t *q,
                               sb_err_t *err) {
  if (routing__queue_ok(q, err) != 0)
    return err->code;
  queue_t *r = routing__queue_for(b, q->id, err);
  if (r == NULL)
    return err->code;
  r->r = *q;
  return routing__gate_parse(r, err);
}

int routing_book_restore_lead(routing_book_t *b, const routing_lead_rec_t *l,
                              sb_err_t *err) {
  if (routing__lead_ok(l, err) != 0)
    return err->code;
  int made;
  lead_t *r = routing__vec_get(&b->leads, l->id, sizeof *r, &made);
  if (r == NULL)
    return sb_err_set(err, SB_ENOMEM, "routing: out of memory");
  r->r = *l;
  return routing__lead_zone(r, err);
}

static int by_name(const void *x, const void *y) {
  return strcmp((const char *)x, (const char *)y);
}

int routing_book_flush(routing_book_t *b, const routing_dirty_t *d, void *arg,
                       sb_err_t *err) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < b->agents.n; i++) {
    agent_t *a = b->agents.v[i];
    if (a->dirty && (rc = d->agent(arg, &a->r, err)) == 0)
      a->dirty = 0;
  }
  for (size_t i = 0; rc == 0 && i < b->queues.n; i++) {
    queue_t *q = b->queues.v[i];
    if (q->dirty && (rc = d->queue(arg, &q->r, err)) == 0)
      q->dirty = 0;
  }
  for (size_t i = 0; rc == 0 && i < b->leads.n; i++) {
    lead_t *l = b->leads.v[i];
    if (l->dirty && (rc = d->lead(arg, l->r.id, &l->r, err)) == 0)
      l->dirty = 0;
  }
  if (rc != 0)
    return rc;
  if (b->ngone > 1) /* qsort takes no NULL, even for none */
    qsort(b->gone, b->ngone, sizeof *b->gone, by_name);
  for (size_t i = 0; rc == 0 && i < b->ngone; i++) {
    if (i > 0 && strcmp(b->gone[i], b->gone[i - 1]) == 0)
      continue;
    if (routing__vec_find(&b->leads, b->gone[i]) != NULL)
      continue; /* came back since: saved above */
    rc = d->lead(arg, b->gone[i], NULL, err);
  }
  if (rc == 0)
    b->ngone = 0;
  return rc;
}
