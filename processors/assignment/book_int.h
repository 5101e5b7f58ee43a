/* The routing book's insides, shared by its files (book.c: the records,
 * checks and decisions; book_store.c: restoring and saving). Internal to
 * processors/assignment. */
#ifndef ROUTING_BOOK_INT_H
#define ROUTING_BOOK_INT_H

#include "book.h"
#include "callwindow.h"

typedef struct {
  routing_agent_rec_t r; /* first: the id leads every record */
  int dirty;
  /* the view routing_decide reads, pointing into r */
  const char *qp[ROUTING_QUEUES_MAX];
  routing_skill_t sk[ROUTING_SKILLS_MAX];
} agent_t;

typedef struct {
  routing_queue_rec_t r;
  int dirty;
  sb_cw_window_t w; /* r's window parsed, in r's zone (gated) */
} queue_t;

typedef struct {
  routing_lead_rec_t r;
  int dirty;
  const sb_tz_t *tz; /* r.zone loaded; NULL: its queue's */
} lead_t;

typedef struct {
  void **v;
  size_t n, cap;
} vec_t; /* records sorted by id */

struct routing_book_s {
  routing_book_conf_t conf;
  vec_t agents, queues, leads;
  char (*gone)[ROUTING_NAME_MAX + 1]; /* leads gone since the last flush */
  size_t ngone, capgone;
  /* scratch, sized to the agents */
  routing_cand_t *view;
  routing_verdict_t *verdicts;
  size_t scratch_cap;
};

/* The record of id in v (sorted by id), or NULL. */
void *routing__vec_find(const vec_t *v, const char *id);
/* The record of id, made (zeroed, id set) when new; NULL out of memory. */
void *routing__vec_get(vec_t *v, const char *id, size_t size, int *made);
/* a's record in b (made when new; checked, bounded): NULL and err. */
agent_t *routing__agent_put(routing_book_t *b, const routing_agent_rec_t *a,
                            sb_err_t *err);
/* The queue's record, made with the book's defaults when new; NULL out of
 * memory. */
queue_t *routing__queue_for(routing_book_t *b, const char *id, sb_err_t *err);
/* 0, or SB_EINVAL for a record out of bounds. */
int routing__queue_ok(const routing_queue_rec_t *q, sb_err_t *err);
int routing__lead_ok(const routing_lead_rec_t *l, sb_err_t *err);
/* q's window in q's zone, when it has a gate; l's zone loaded. */
int routing__gate_parse(queue_t *q, sb_err_t *err);
int routing__lead_zone(lead_t *l, sb_err_t *err);

#endif
