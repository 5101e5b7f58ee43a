/* A tenant's routing book (book.h). */
#include "book_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- sorted vectors of records whose first bytes are their id ------------ */

static size_t vec_lower(const vec_t *v, const char *id, int *found) {
  size_t lo = 0, hi = v->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp((const char *)v->v[mid], id);
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = 0;
  return lo;
}

void *routing__vec_find(const vec_t *v, const char *id) {
  int found;
  size_t i = vec_lower(v, id, &found);
  return found ? v->v[i] : NULL;
}

/* The record of id, made (zeroed, id set) when new; NULL out of memory. */
void *routing__vec_get(vec_t *v, const char *id, size_t size, int *made) {
  int found;
  size_t i = vec_lower(v, id, &found);
  *made = 0;
  if (found)
    return v->v[i];
  if (v->n == v->cap) {
    size_t cap = v->cap ? 2 * v->cap : 16;
    void **nv = realloc(v->v, cap * sizeof *nv);
    if (nv == NULL)
      return NULL;
    v->v = nv;
    v->cap = cap;
  }
  void *rec = calloc(1, size);
  if (rec == NULL)
    return NULL;
  memcpy(rec, id, strlen(id) + 1);
  memmove(&v->v[i + 1], &v->v[i], (v->n - i) * sizeof *v->v);
  v->v[i] = rec;
  v->n++;
  *made = 1;
  return rec;
}

static void vec_remove(vec_t *v, const char *id) {
  int found;
  size_t i = vec_lower(v, id, &found);
  if (!found)
    return;
  free(v->v[i]);
  memmove(&v->v[i], &v->v[i + 1], (v->n - i - 1) * sizeof *v->v);
  v->n--;
}

static void vec_free(vec_t *v) {
  for (size_t i = 0; i < v->n; i++)
    free(v->v[i]);
  free(v->v);
}

/* ---- life ---------------------------------------------------------------- */

routing_book_t *routing_book_new(const routing_book_conf_t *conf) {
  routing_book_t *b = calloc(1, sizeof *b);
  if (b != NULL)
    b->conf = *conf;
  return b;
}

void routing_book_free(routing_book_t *b) {
  if (b == NULL)
    return;
  vec_free(&b->agents);
  vec_free(&b->queues);
  vec_free(&b->leads);
  free(b->gone);
  free(b->view);
  free(b->verdicts);
  free(b);
}

const routing_agent_rec_t *routing_book_agent(const routing_book_t *b,
                                              const char *id) {
  const agent_t *a = routing__vec_find(&b->agents, id);
  return a ? &a->r : NULL;
}
const routing_lead_rec_t *routing_book_lead(const routing_book_t *b,
                                            const char *id) {
  const lead_t *l = routing__vec_find(&b->leads, id);
  return l ? &l->r : NULL;
}
size_t routing_book_waiting(const routing_book_t *b) { return b->leads.n; }

/* ---- checks -------------------------------------------------------------- */

static int name_ok(const char *s, size_t cap, int empty_ok) {
  size_t n = strnlen(s, cap);
  return n < cap && (empty_ok || n > 0);
}

static int skills_ok(const routing_named_skill_t *s, int n) {
  if (n < 0 || n > ROUTING_SKILLS_MAX)
    return 0;
  for (int i = 0; i < n; i++)
    if (!name_ok(s[i].name, sizeof s[i].name, 0) || s[i].level < 0)
      return 0;
  return 1;
}

static int agent_ok(const routing_agent_rec_t *a, sb_err_t *err) {
  int ok = name_ok(a->id, sizeof a->id, 0) &&
           (unsigned)a->state <= ROUTING_PAUSED &&
           (unsigned)a->call_state <= ROUTING_PAUSED && a->nqueues >= 0 &&
           a->nqueues <= ROUTING_QUEUES_MAX && skills_ok(a->skills, a->nskills);
  for (int i = 0; ok && i < a->nqueues; i++)
    ok = name_ok(a->queues[i], sizeof a->queues[i], 0);
  for (int c = 0; ok && c < ROUTING_CH_N; c++)
    ok = a->capacity[c] >= 0 && a->load[c] >= 0 && a->reserved[c] >= 0;
  return ok ? 0
            : sb_err_set(err, SB_EINVAL,
                         "routing: an agent record out of bounds (id, state, "
                         "%d queues, %d skills, capacity and load >= 0)",
                         ROUTING_QUEUES_MAX, ROUTING_SKILLS_MAX);
}

int routing__lead_ok(const routing_lead_rec_t *l, sb_err_t *err) {
  int ok = name_ok(l->id, sizeof l->id, 0) &&
           name_ok(l->queue, sizeof l->queue, 1) &&
           name_ok(l->zone, sizeof l->zone, 1) &&
           (unsigned)l->channel < ROUTING_CH_N && l->units >= 1 &&
           skills_ok(l->required, l->nrequired) &&
           skills_ok(l->optional, l->noptional);
  return ok ? 0
            : sb_err_set(err, SB_EINVAL,
                         "routing: a lead record out of bounds (id, queue, "
                         "channel, units >= 1, %d skills)",
                         ROUTING_SKILLS_MAX);
}

int routing__queue_ok(const routing_queue_rec_t *q, sb_err_t *err) {
  int ok = name_ok(q->id, sizeof q->id, 0) &&
           (unsigned)q->strategy <= ROUTING_CAPACITY &&
           q->relax_after_us >= 0 && q->max_waiting >= 0 &&
           q->service_level_s >= 0 && skills_ok(q->required, q->nrequired) &&
           name_ok(q->rr_last, sizeof q->rr_last, 1) &&
           name_ok(q->window, sizeof q->window, 1) &&
           name_ok(q->zone, sizeof q->zone, 1);
  return ok ? 0
            : sb_err_set(err, SB_EINVAL,
                         "routing: a queue record out of bounds");
}

/* ---- the view routing_decide reads --------------------------------------- */

/* The state an agent is in: the later of its own side and its calls'
 * (as routing's board: a call newer than the agent's last event says
 * ringing, on_call or wrapup, or, done, available unless the agent went
 * offline or paused), and since when it has been idle. */
static routing_state_t effective(const routing_agent_rec_t *r,
                                 int64_t *idle_since) {
  routing_state_t st = r->state;
  if (r->state_at_us == 0 && r->call_at_us == 0) { /* a snapshot */
    *idle_since = r->idle_since_us;
    return st;
  }
  int64_t since = r->state_at_us;
  if (r->call_at_us > 0 && r->call_at_us <= r->as_of_us &&
      r->call_at_us > since)
    since = r->as_of_us; /* a call came between: back since */
  if (r->call_at_us > r->as_of_us) {
    since = r->call_at_us;
    if (r->call_state != ROUTING_AVAILABLE)
      st = r->call_state;
    else if (st != ROUTING_OFFLINE && st != ROUTING_PAUSED)
      st = ROUTING_AVAILABLE;
  }
  *idle_since = st == ROUTING_AVAILABLE ? since : 0;
  return st;
}

static void view_of(agent_t *a, routing_cand_t *v) {
  routing_agent_rec_t *r = &a->r;
  for (int i = 0; i < r->nqueues; i++)
    a->qp[i] = r->queues[i];
  for (int i = 0; i < r->nskills; i++)
    a->sk[i] = (routing_skill_t){r->skills[i].name, r->skills[i].level};
  int64_t idle = 0;
  routing_state_t st = effective(r, &idle);
  *v = (routing_cand_t){.agent_id = r->id,
                        .state = st,
                        .idle_since_us = idle,
                        .calls_today = r->calls_today,
                        .queues = a->qp,
                        .nqueues = (size_t)r->nqueues,
                        .skills = a->sk,
                        .nskills = (size_t)r->nskills};
  for (int c = 0; c < ROUTING_CH_N; c++) {
    v->capacity[c] = r->capacity[c];
    v->load[c] = r->load[c] + r->reserved[c];
  }
}

static int scratch(routing_book_t *b, sb_err_t *err) {
  if (b->scratch_cap >= b->agents.n && b->view != NULL)
    return 0;
  size_t cap = b->agents.n + 16;
  routing_cand_t *v = realloc(b->view, cap * sizeof *v);
  if (v != NULL)
    b->view = v;
  routing_verdict_t *vd = realloc(b->verdicts, cap * sizeof *vd);
  if (vd != NULL)
    b->verdicts = vd;
  if (v == NULL || vd == NULL)
    return sb_err_set(err, SB_ENOMEM, "routing: out of memory");
  b->scratch_cap = cap;
  return 0;
}

/* some agent could take some work */
static int any_room(const routing_book_t *b) {
  for (size_t i = 0; i < b->agents.n; i++) {
    const routing_cand_t *v = &b->view[i];
    if (v->state == ROUTING_OFFLINE || v->state == ROUTING_PAUSED)
      continue;
    for (int c = 0; c < ROUTING_CH_N; c++)
      if (v->load[c] < v->capacity[c])
        return 1;
  }
  return 0;
}

/* The most units any agent could still take on each channel: its state
 * lets it (voice: available; other channels: not offline or paused) and
 * capacity minus load. A lead asking for more on its channel qualifies
 * for nobody, whatever else it asks (routing_decide's filters). */
static void room_of(const routing_book_t *b, int room[ROUTING_CH_N]) {
  memset(room, 0, sizeof(int) * ROUTING_CH_N);
  for (size_t i = 0; i < b->agents.n; i++) {
    const routing_cand_t *v = &b->view[i];
    if (v->state == ROUTING_OFFLINE || v->state == ROUTING_PAUSED)
      continue;
    for (int c = 0; c < ROUTING_CH_N; c++)
      if ((c != ROUTING_CH_VOICE || v->state == ROUTING_AVAILABLE) &&
          v->capacity[c] - v->load[c] > room[c])
        room[c] = v->capacity[c] - v->load[c];
  }
}

/* ---- draining ------------------------------------------------------------ */

static const queue_t *queue_of(const routing_book_t *b, const char *id) {
  return *id ? routing__vec_find(&b->queues, id) : NULL;
}

static int queue_priority(const routing_book_t *b, const lead_t *l) {
  const queue_t *q = queue_of(b, l->r.queue);
  return q ? q->r.priority : 0;
}

static const routing_book_t *sort_book; /* qsort has no argument */

static int by_turn(const void *x, const void *y) {
  const lead_t *a = *(lead_t *const *)x, *b = *(lead_t *const *)y;
  if (a->r.recycled != b->r.recycled)
    return b->r.recycled - a->r.recycled;
  int pa = queue_priority(sort_book, a), pb = queue_priority(sort_book, b);
  if (pa != pb)
    return pb > pa ? 1 : -1;
  if (a->r.score != b->r.score)
    return b->r.score > a->r.score ? 1 : -1;
  if (a->r.ready_at_us != b->r.ready_at_us)
    return a->r.ready_at_us > b->r.ready_at_us ? 1 : -1;
  return strcmp(a->r.id, b->r.id);
}

static int note_gone(routing_book_t *b, const char *id, sb_err_t *err) {
  if (b->ngone == b->capgone) {
    size_t cap = b->capgone ? 2 * b->capgone : 16;
    void *g = realloc(b->gone, cap * sizeof *b->gone);
    if (g == NULL)
      return sb_err_set(err, SB_ENOMEM, "routing: out of memory");
    b->gone = g;
    b->capgone = cap;
  }
  memcpy(b->gone[b->ngone++], id, strlen(id) + 1);
  return 0;
}

/* req holds REQ_MAX: the lead's required skills and its queue's (the
 * higher level of a skill both name) */
#define REQ_MAX (2 * ROUTING_SKILLS_MAX)
static void request_of(const routing_book_t *b, const lead_t *l, int64_t now_us,
                       routing_skill_t *req, routing_skill_t *opt,
                       routing_request_t *rq, routing_strategy_t *s) {
  const queue_t *q = queue_of(b, l->r.queue);
  int nreq = l->r.nrequired;
  for (int i = 0; i < l->r.nrequired; i++)
    req[i] = (routing_skill_t){l->r.required[i].name, l->r.required[i].level};
  for (int i = 0; q != NULL && i < q->r.nrequired; i++) {
    const routing_named_skill_t *k = &q->r.required[i];
    int j = 0;
    while (j < nreq && strcmp(req[j].name, k->name) != 0)
      j++;
    if (j == nreq)
      req[nreq++] = (routing_skill_t){k->name, k->level};
    else if (k->level > req[j].level)
      req[j].level = k->level;
  }
  for (int i = 0; i < l->r.noptional; i++)
    opt[i] = (routing_skill_t){l->r.optional[i].name, l->r.optional[i].level};
  *rq = (routing_request_t){.queue = l->r.queue,
                            .channel = l->r.channel,
                            .units = l->r.units,
                            .required = req,
                            .nrequired = (size_t)nreq,
                            .optional = opt,
                            .noptional = (size_t)l->r.noptional,
                            .waited_us = now_us - l->r.ready_at_us,
                            .relax_after_us = q ? q->r.relax_after_us : 0,
                            .rr_last =
                                q && q->r.rr_last[0] ? q->r.rr_last : NULL};
  *s = q ? q->r.strategy : b->conf.default_strategy;
}

/* The queue's record, made with the book's defaults when the queue was
 * never configured (its round-robin position needs a home). */
queue_t *routing__queue_for(routing_book_t *b, const char *id, sb_err_t *err) {
  int made;
  queue_t *q = routing__vec_get(&b->queues, id, sizeof *q, &made);
  if (q == NULL) {
    sb_err_set(err, SB_ENOMEM, "routing: out of memory");
    return NULL;
  }
  if (made)
    q->r.strategy = b->conf.default_strategy;
  return q;
}

/* Whether lead l may be offered at now: its queue not paused, and inside
 * the queue's dial window and the TCPA's calling hours in the lead's zone
 * (else its queue's, else UTC). A lead that names no zone and asks for
 * no TCPA check (routing's e-mail and chat leads) is gated only by its
 * queue's pause: neither the dial window nor the calling hours. When not:
 * *opens is the next opening (0: none within the horizon, or paused). */
static int lead_open(const routing_book_t *b, const lead_t *l, int64_t now,
                     int64_t *opens) {
  const queue_t *q = queue_of(b, l->r.queue);
  *opens = 0;
  if (q != NULL && q->r.gated && q->r.paused)
    return 0;
  int gated = q != NULL && q->r.gated;
  if (l->r.zone[0] == '\0' && !l->r.tcpa)
    return 1; /* e-mail, chat: a dial window is for dialling */
  sb_cw_window_t all;
  const sb_cw_window_t *w = gated ? &q->w : &all;
  if (!gated)
    sb_cw_all_day(&all, NULL);
  if (sb_cw_callable_at(w, l->tz, now))
    return 1;
  if (sb_cw_next_opening(w, l->tz, now, opens) != 0)
    *opens = 0;
  return 0;
}

/* Says "held" once for a lead its gate keeps waiting. */
static int held(lead_t *l, int64_t now_us, routing_outcome_cb cb, void *arg,
                sb_err_t *err) {
  if (l->r.queued_said)
    return 0;
  l->r.queued_said = 1;
  l->dirty = 1;
  routing_outcome_t o = {.what = "held", .lead = &l->r, .at_us = now_us};
  return cb(arg, &o, err);
}

static int drain(routing_book_t *b, int64_t now_us, routing_outcome_cb cb,
                 void *arg, sb_err_t *err) {
  if (b->leads.n == 0)
    return 0;
  if (scratch(b, err) != 0)
    return err->code;
  for (size_t i = 0; i < b->agents.n; i++)
    view_of(b->agents.v[i], &b->view[i]);
  if (!any_room(b)) { /* still say "queued" for leads that never heard it */
    for (size_t i = 0; i < b->leads.n; i++) {
      lead_t *l = b->leads.v[i];
      if (l->r.queued_said)
        continue;
      int64_t opens;
      if (!lead_open(b, l, now_us, &opens)) {
        int rc = held(l, now_us, cb, arg, err);
        if (rc != 0)
          return rc;
        continue;
      }
      routing_decision_t d = {.chosen = -1, .n = 0, .verdicts = b->verdicts};
      routing_skill_t req[REQ_MAX], opt[ROUTING_SKILLS_MAX];
      routing_request_t rq;
      request_of(b, l, now_us, req, opt, &rq, &d.strategy);
      int rc = routing_decide(d.strategy, &rq, b->view, b->agents.n,
                              b->verdicts, &d, err);
      if (rc != 0)
        return rc;
      l->r.queued_said = 1;
      l->dirty = 1;
      routing_outcome_t o = {
          .what = "queued", .lead = &l->r, .decision = &d, .at_us = now_us};
      if ((rc = cb(arg, &o, err)) != 0)
        return rc;
    }
    return 0;
  }
  /* A lead that already heard "queued" and whose channel has no room
   * anywhere would only be decided again to the same "nobody": skipped
   * (room only shrinks while draining), and not even sorted. */
  int room[ROUTING_CH_N];
  room_of(b, room);
  size_t n = 0;
  lead_t **order = malloc(b->leads.n * sizeof *order);
  if (order == NULL)
    return sb_err_set(err, SB_ENOMEM, "routing: out of memory");
  for (size_t i = 0; i < b->leads.n; i++) {
    lead_t *l = b->leads.v[i];
    if (!l->r.queued_said || room[l->r.channel] >= l->r.units)
      order[n++] = l;
  }
  sort_book = b;
  qsort(order, n, sizeof *order, by_turn);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    lead_t *l = order[i];
    int64_t opens;
    if (l->r.queued_said && room[l->r.channel] < l->r.units)
      continue; /* nobody, again (said already: "held" too) */
    if (!lead_open(b, l, now_us, &opens)) {
      rc = held(l, now_us, cb, arg, err);
      continue;
    }
    routing_skill_t req[REQ_MAX], opt[ROUTING_SKILLS_MAX];
    routing_request_t rq;
    routing_decision_t d;
    routing_strategy_t s;
    request_of(b, l, now_us, req, opt, &rq, &s);
    if ((rc = routing_decide(s, &rq, b->view, b->agents.n, b->verdicts, &d,
                             err)) != 0)
      break;
    if (d.chosen < 0) {
      if (!l->r.queued_said) {
        l->r.queued_said = 1;
        l->dirty = 1;
        routing_outcome_t o = {
            .what = "queued", .lead = &l->r, .decision = &d, .at_us = now_us};
        rc = cb(arg, &o, err);
      }
      continue;
    }
    size_t ix = d.verdicts[d.chosen].index;
    agent_t *a = b->agents.v[ix];
    a->r.reserved[l->r.channel] += l->r.units;
    a->r.reserved_at_us = now_us;
    a->dirty = 1;
    b->view[ix].load[l->r.channel] += l->r.units;
    room_of(b, room);
    if (l->r.queue[0]) {
      queue_t *q = routing__queue_for(b, l->r.queue, err);
      if (q == NULL) {
        rc = err->code;
        break;
      }
      memcpy(q->r.rr_last, a->r.id, strlen(a->r.id) + 1);
      q->dirty = 1;
    }
    routing_outcome_t o = {.what = "assigned",
                           .lead = &l->r,
                           .agent_id = a->r.id,
                           .decision = &d,
                           .at_us = now_us};
    rc = cb(arg, &o, err);
    if (rc == 0 && (rc = note_gone(b, l->r.id, err)) == 0)
      vec_remove(&b->leads, l->r.id); /* frees l: order[i] not read again */
    if (rc == 0 && !any_room(b))
      break;
  }
  free(order);
  return rc;
}

/* ---- changes ------------------------------------------------------------- */

agent_t *routing__agent_put(routing_book_t *b, const routing_agent_rec_t *a,
                            sb_err_t *err) {
  if (agent_ok(a, err) != 0)
    return NULL;
  int made;
  if (routing__vec_find(&b->agents, a->id) == NULL &&
      b->agents.n >= ROUTING_BOOK_AGENTS) {
    sb_err_set(err, SB_EINVAL, "routing: a tenant has more than %d agents",
               ROUTING_BOOK_AGENTS);
    return NULL;
  }
  agent_t *r = routing__vec_get(&b->agents, a->id, sizeof *r, &made);
  if (r == NULL)
    sb_err_set(err, SB_ENOMEM, "routing: out of memory");
  return r;
}

int routing_book_agent_set(routing_book_t *b, const routing_agent_rec_t *a,
                           int64_t now_us, routing_outcome_cb cb, void *arg,
                           sb_err_t *err) {
  agent_t *r = routing__agent_put(b, a, err);
  if (r == NULL)
    return err->code;
  int reserved[ROUTING_CH_N];
  int64_t at = r->r.reserved_at_us;
  memcpy(reserved, r->r.reserved, sizeof reserved);
  r->r = *a;
  /* a snapshot newer than the last assignment says what the agent does */
  if (at != 0 && a->as_of_us < at) {
    memcpy(r->r.reserved, reserved, sizeof reserved);
    r->r.reserved_at_us = at;
  } else {
    memset(r->r.reserved, 0, sizeof r->r.reserved);
    r->r.reserved_at_us = 0;
  }
  r->dirty = 1;
  return drain(b, now_us, cb, arg, err);
}

/* q's window in q's zone, when it has a gate: SB_EINVAL naming what does
 * not parse. */
int routing__gate_parse(queue_t *q, sb_err_t *err) {
  memset(&q->w, 0, sizeof q->w);
  if (!q->r.gated)
    return 0;
  const sb_tz_t *tz = NULL;
  if (q->r.zone[0] && sb_tz_load(q->r.zone, &tz, err) != 0)
    return err->code;
  if (q->r.window[0] == '\0') {
    sb_cw_all_day(&q->w, tz);
    return 0;
  }
  q->w.tz = tz;
  char item[64];
  for (const char *p = q->r.window; *p;) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n >= sizeof item)
      return sb_err_set(err, SB_EINVAL,
                        "routing: queue %s: a window item too long", q->r.id);
    memcpy(item, p, n);
    item[n] = '\0';
    if (sb_cw_add(&q->w, item, err) != 0)
      return err->code;
    p = e ? e + 1 : p + n;
  }
  return 0;
}

int routing__lead_zone(lead_t *l, sb_err_t *err) {
  l->tz = NULL;
  return l->r.zone[0] ? sb_tz_load(l->r.zone, &l->tz, err) : 0;
}

int routing_book_agent_update(routing_book_t *b, int side,
                              const routing_agent_rec_t *a, int64_t now_us,
                              routing_outcome_cb cb, void *arg, sb_err_t *err) {
  if (side != ROUTING_SIDE_AGENT && side != ROUTING_SIDE_CALL)
    return sb_err_set(err, SB_EINVAL, "routing: agent side %d", side);
  int known = routing__vec_find(&b->agents, a->id) != NULL;
  agent_t *r = routing__agent_put(b, a, err);
  if (r == NULL)
    return err->code;
  routing_agent_rec_t *c = &r->r;
  if (!known) { /* nothing said yet of the other side */
    memset(c, 0, sizeof *c);
    memcpy(c->id, a->id, strlen(a->id) + 1);
    c->state = ROUTING_OFFLINE;
  }
  int64_t at;
  if (side == ROUTING_SIDE_AGENT) {
    if (known && a->as_of_us < c->as_of_us)
      return 0; /* older than what the book has */
    c->state = a->state;
    c->state_at_us = a->state_at_us;
    c->idle_since_us = a->idle_since_us;
    c->nqueues = a->nqueues;
    memcpy(c->queues, a->queues, sizeof c->queues);
    c->nskills = a->nskills;
    memcpy(c->skills, a->skills, sizeof c->skills);
    memcpy(c->capacity, a->capacity, sizeof c->capacity);
    memcpy(c->load, a->load, sizeof c->load);
    c->as_of_us = at = a->as_of_us;
  } else {
    if (a->calls_day > c->calls_day)
      c->calls_day = a->calls_day, c->calls_today = 0;
    if (a->call_ended && a->calls_day == c->calls_day)
      c->calls_today++;
    at = a->call_at_us;
    if (a->call_at_us >= c->call_at_us)
      c->call_state = a->call_state, c->call_at_us = a->call_at_us;
  }
  /* news of the agent newer than the last assignment says what it does */
  if (c->reserved_at_us != 0 && at >= c->reserved_at_us) {
    memset(c->reserved, 0, sizeof c->reserved);
    c->reserved_at_us = 0;
  }
  r->dirty = 1;
  return drain(b, now_us, cb, arg, err);
}

int routing_book_queue_gate(routing_book_t *b, const routing_queue_rec_t *q,
                            int64_t now_us, routing_outcome_cb cb, void *arg,
                            sb_err_t *err) {
  if (routing__queue_ok(q, err) != 0)
    return err->code;
  if (routing__vec_find(&b->queues, q->id) == NULL &&
      b->queues.n >= ROUTING_BOOK_QUEUES)
    return sb_err_set(err, SB_EINVAL,
                      "routing: a tenant has more than %d queues",
                      ROUTING_BOOK_QUEUES);
  queue_t t = {.r = *q};
  t.r.gated = 1;
  if (routing__gate_parse(&t, err) != 0)
    return err->code;
  queue_t *r = routing__queue_for(b, q->id, err);
  if (r == NULL)
    return err->code;
  r->r.gated = 1, r->r.paused = q->paused;
  memcpy(r->r.window, q->window, sizeof q->window);
  memcpy(r->r.zone, q->zone, sizeof q->zone);
  r->w = t.w;
  r->dirty = 1;
  return drain(b, now_us, cb, arg, err);
}

int routing_book_queue_set(routing_book_t *b, const routing_queue_rec_t *q,
                           int64_t now_us, routing_outcome_cb cb, void *arg,
                           sb_err_t *err) {
  if (routing__queue_ok(q, err) != 0)
    return err->code;
  if (routing__vec_find(&b->queues, q->id) == NULL &&
      b->queues.n >= ROUTING_BOOK_QUEUES)
    return sb_err_set(err, SB_EINVAL,
                      "routing: a tenant has more than %d "
                      "queues",
                      ROUTING_BOOK_QUEUES);
  queue_t *r = routing__queue_for(b, q->id, err);
  if (r == NULL)
    return err->code;
  routing_queue_rec_t kept = r->r;
  r->r = *q;
  /* the position is the book's own; the gate is the campaign's */
  memcpy(r->r.rr_last, kept.rr_last, sizeof kept.rr_last);
  r->r.gated = kept.gated, r->r.paused = kept.paused;
  memcpy(r->r.window, kept.window, sizeof kept.window);
  memcpy(r->r.zone, kept.zone, sizeof kept.zone);
  r->dirty = 1;
  return drain(b, now_us, cb, arg, err);
}

/* l's queue has its own bound of waiting leads, reached */
static int queue_full(const routing_book_t *b, const routing_lead_rec_t *l) {
  const queue_t *q = queue_of(b, l->queue);
  if (q == NULL || q->r.max_waiting == 0)
    return 0;
  int n = 0;
  for (size_t i = 0; i < b->leads.n && n < q->r.max_waiting; i++)
    n += strcmp(((const lead_t *)b->leads.v[i])->r.queue, l->queue) == 0;
  return n >= q->r.max_waiting;
}

int routing_book_lead_ready(routing_book_t *b, const routing_lead_rec_t *l,
                            int64_t now_us, routing_outcome_cb cb, void *arg,
                            sb_err_t *err) {
  if (routing__lead_ok(l, err) != 0)
    return err->code;
  lead_t *r = routing__vec_find(&b->leads, l->id);
  if (r == NULL && (b->leads.n >= b->conf.max_waiting || queue_full(b, l))) {
    routing_outcome_t o = {.what = "queue_full", .lead = l, .at_us = now_us};
    return cb(arg, &o, err);
  }
  int made = 0;
  if (r == NULL &&
      (r = routing__vec_get(&b->leads, l->id, sizeof *r, &made)) == NULL)
    return sb_err_set(err, SB_ENOMEM, "routing: out of memory");
  int64_t ready = made ? now_us : r->r.ready_at_us;
  int said = made ? 0 : r->r.queued_said;
  r->r = *l;
  r->r.ready_at_us = ready; /* a re-score keeps its place in time */
  r->r.queued_said = said;
  r->dirty = 1;
  if (routing__lead_zone(r, err) != 0)
    return err->code;
  return drain(b, now_us, cb, arg, err);
}

int routing_book_lead_remove(routing_book_t *b, const char *lead_id,
                             int64_t now_us, routing_outcome_cb cb, void *arg,
                             sb_err_t *err) {
  lead_t *r = routing__vec_find(&b->leads, lead_id);
  if (r == NULL)
    return 0;
  routing_outcome_t o = {.what = "withdrawn", .lead = &r->r, .at_us = now_us};
  int rc = cb(arg, &o, err);
  if (rc == 0 && (rc = note_gone(b, lead_id, err)) == 0)
    vec_remove(&b->leads, lead_id);
  return rc;
}

int routing_book_tick(routing_book_t *b, int64_t now_us, routing_outcome_cb cb,
                      void *arg, sb_err_t *err) {
  for (size_t i = 0; i < b->agents.n; i++) {
    agent_t *a = b->agents.v[i];
    if (a->r.reserved_at_us == 0 ||
        now_us - a->r.reserved_at_us < b->conf.reserve_timeout_us)
      continue;
    memset(a->r.reserved, 0, sizeof a->r.reserved);
    a->r.reserved_at_us = 0;
    a->dirty = 1;
    routing_outcome_t o = {
        .what = "released", .agent_id = a->r.id, .at_us = now_us};
    int rc = cb(arg, &o, err);
    if (rc != 0)
      return rc;
  }
  return drain(b, now_us, cb, arg, err);
}

int64_t routing_book_next_due(const routing_book_t *b, int64_t after_us) {
  int64_t due = 0;
  for (size_t i = 0; i < b->agents.n; i++) {
    const agent_t *a = b->agents.v[i];
    if (a->r.reserved_at_us == 0)
      continue;
    int64_t t = a->r.reserved_at_us + b->conf.reserve_timeout_us;
    if (t > after_us && (due == 0 || t < due))
      due = t;
  }
  for (size_t i = 0; i < b->leads.n; i++) {
    const lead_t *l = b->leads.v[i];
    int64_t opens;
    if (!lead_open(b, l, after_us, &opens) && opens > after_us &&
        (due == 0 || opens < due))
      due = opens;
  }
  for (size_t i = 0; i < b->leads.n; i++) {
    const lead_t *l = b->leads.v[i];
    const queue_t *q = queue_of(b, l->r.queue);
    if (l->r.noptional == 0 || q == NULL || q->r.relax_after_us == 0)
      continue;
    int64_t t = l->r.ready_at_us + q->r.relax_after_us;
    if (t > after_us && (due == 0 || t < due))
      due = t;
  }
  return due;
}
