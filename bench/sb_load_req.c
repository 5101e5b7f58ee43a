/* The load generators' requests: built into one buffer each, head in
 * front of the body, sent again alone for the items a server asks to
 * retry. */
#include "sb_load_int.h"

/* ---- requests --------------------------------------------------------- */

static req_t *req_get(run_t *r) {
  req_t *q = r->free_reqs;
  if (q) {
    r->free_reqs = q->next;
  } else if ((q = calloc(1, sizeof *q)) == NULL) {
    return NULL;
  }
  q->next = NULL;
  q->writing = q->done = q->array = 0;
  q->n = 0;
  q->attempts = 0;
  q->start = q->end = 0;
  q->sent_ns = q->ready_ns = 0;
  return q;
}

void sb__load_req_put(run_t *r, req_t *q) {
  q->done = 1;
  if (q->writing)
    return; /* on_written recycles it */
  q->next = r->free_reqs;
  r->free_reqs = q;
}

void sb__load_req_free_all(req_t *q) {
  while (q) {
    req_t *n = q->next;
    free(q->buf);
    free(q->items);
    free(q);
    q = n;
  }
}

static int req_reserve(req_t *q, size_t need) {
  if (need <= q->cap)
    return 0;
  size_t cap = q->cap ? q->cap : 16384;
  while (cap < need)
    cap *= 2;
  char *b = realloc(q->buf, cap);
  if (b == NULL)
    return -1;
  q->buf = b;
  q->cap = cap;
  return 0;
}

static int req_item(req_t *q, size_t off, size_t len, uint32_t tag) {
  if (q->n == q->items_cap) {
    int cap = q->items_cap ? q->items_cap * 2 : 128;
    item_t *it = realloc(q->items, (size_t)cap * sizeof *it);
    if (it == NULL)
      return -1;
    q->items = it;
    q->items_cap = cap;
  }
  q->items[q->n++] = (item_t){(uint32_t)off, (uint32_t)len, tag};
  return 0;
}

/* Writes the head in front of the body, which ends at pos. */
static void req_seal(run_t *r, req_t *q, size_t pos) {
  char cl[32];
  int cn = snprintf(cl, sizeof cl, "%zu\r\n\r\n", pos - r->room);
  const char *h = q->array ? r->head_batch : r->head_single;
  size_t hl = q->array ? r->head_batch_len : r->head_single_len;
  q->start = r->room - hl - (size_t)cn;
  memcpy(q->buf + q->start, h, hl);
  memcpy(q->buf + q->start + hl, cl, (size_t)cn);
  q->end = pos;
}

/* A new request of up to k events from the source; *out NULL when the
 * source has none left. */
static int req_build(run_t *r, int k, req_t **out) {
  *out = NULL;
  req_t *q = req_get(r);
  int rc = 0;
  if (q == NULL)
    return sb__load_fail(r, SB_ENOMEM, "out of memory");
  q->array = r->f != NULL || r->batch > 1;
  int json_array = q->array && !r->ndjson;
  size_t pos = r->room;
  if (req_reserve(q, pos + MIN_EVENT_ROOM + SLACK) != 0)
    goto nomem;
  if (json_array)
    q->buf[pos++] = '[';
  for (int i = 0; i < k && !r->exhausted; i++) {
    if (r->f == NULL && r->offered >= r->to_offer)
      break;
    if (req_reserve(q, pos + MIN_EVENT_ROOM + SLACK) != 0)
      goto nomem;
    size_t sep = json_array && q->n > 0 ? 1 : 0;
    size_t len = 0;
    uint32_t tag = 0;
    for (;;) {
      size_t avail = q->cap - pos - sep - SLACK;
      rc = r->next(r->next_arg, q->buf + pos + sep, avail, &len);
      if (rc != SB_EINVAL || len < avail)
        break;
      if (req_reserve(q, pos + sep + len + SLACK + 1) != 0)
        goto nomem;
    }
    if (rc == 1) {
      r->exhausted = 1;
      rc = 0;
      break;
    }
    if (rc != 0) {
      rc = sb__load_fail(r, rc < 0 ? rc : SB_EINTERNAL,
                         "the event source failed (%s)", sb_strerror(rc));
      goto bad;
    }
    if (sep)
      q->buf[pos++] = ',';
    if (r->f &&
        (rc = sb__load_fresh_register(r, q->buf + pos, &len, &tag)) != 0)
      goto bad;
    if (req_item(q, pos, len, tag) != 0)
      goto nomem;
    pos += len;
    if (q->array && r->ndjson)
      q->buf[pos++] = '\n';
    r->offered++;
  }
  if (q->n == 0) {
    sb__load_req_put(r, q);
    return 0;
  }
  if (json_array)
    q->buf[pos++] = ']';
  req_seal(r, q, pos);
  *out = q;
  return 0;
nomem:
  rc = sb__load_fail(r, SB_ENOMEM, "out of memory");
bad:
  sb__load_req_put(r, q);
  return rc;
}

/* A request of the items which[0..n) of old, to send again. */
static req_t *req_rebuild(run_t *r, const req_t *old, const int *which, int n) {
  req_t *q = req_get(r);
  if (q == NULL)
    return NULL;
  q->array = old->array;
  int json_array = q->array && !r->ndjson;
  size_t need = r->room + 2;
  for (int i = 0; i < n; i++)
    need += old->items[which[i]].len + 2;
  if (req_reserve(q, need) != 0) {
    sb__load_req_put(r, q);
    return NULL;
  }
  size_t pos = r->room;
  if (json_array)
    q->buf[pos++] = '[';
  for (int i = 0; i < n; i++) {
    const item_t *it = &old->items[which[i]];
    if (json_array && i > 0)
      q->buf[pos++] = ',';
    memcpy(q->buf + pos, old->buf + it->off, it->len);
    if (req_item(q, pos, it->len, it->tag) != 0) {
      sb__load_req_put(r, q);
      return NULL;
    }
    pos += it->len;
    if (q->array && r->ndjson)
      q->buf[pos++] = '\n';
  }
  if (json_array)
    q->buf[pos++] = ']';
  req_seal(r, q, pos);
  q->attempts = old->attempts;
  return q;
}

/* Queues q to be sent once ready_ns has come, in order of readiness. */
static void wait_insert(run_t *r, req_t *q) {
  req_t **pp = &r->wait_head;
  if (r->wait_tail && r->wait_tail->ready_ns <= q->ready_ns)
    pp = &r->wait_tail->next; /* the usual case: at the end */
  else
    while (*pp && (*pp)->ready_ns <= q->ready_ns)
      pp = &(*pp)->next;
  q->next = *pp;
  *pp = q;
  if (q->next == NULL)
    r->wait_tail = q;
}

static req_t *wait_pop_ready(run_t *r, uint64_t now) {
  req_t *q = r->wait_head;
  if (q == NULL || q->ready_ns > now)
    return NULL;
  r->wait_head = q->next;
  if (r->wait_head == NULL)
    r->wait_tail = NULL;
  q->next = NULL;
  return q;
}

void sb__load_fresh_mark(run_t *r, const req_t *q, int i, int state,
                         uint64_t now) {
  fev_t *e = &r->f->ev[q->items[i].tag];
  e->state = (uint8_t)state;
  if (state == E_ACKED) {
    e->ack_ns = now;
    e->sent_ns = q->sent_ns;
    r->f->last_ack_ns = now;
    r->f->acked++;
    r->f->acked_arrived += e->arr_ns != 0;
  } else if (state == E_DUP) {
    r->f->duplicates++;
  } else if (state == E_REJECTED) {
    r->f->rejected++;
  }
}

/* Sends which[0..n) of q again after a back-off (none: at once); or, past
 * max_retries, counts them rejected. */
void sb__load_retry(run_t *r, const req_t *q, const int *which, int n,
                    int backoff) {
  uint64_t now = uv_hrtime();
  int attempts = q->attempts + 1;
  if (attempts > r->max_retries) {
    r->rejected += (uint64_t)n;
    sb__load_note_error(r, "gave up on %d event(s) after %d retries", n,
                        r->max_retries);
    if (r->f)
      for (int i = 0; i < n; i++)
        sb__load_fresh_mark(r, q, which[i], E_REJECTED, now);
    return;
  }
  req_t *nq = req_rebuild(r, q, which, n);
  if (nq == NULL) {
    sb__load_fail(r, SB_ENOMEM, "out of memory");
    return;
  }
  nq->attempts = attempts;
  uint64_t ms = 0;
  if (backoff) {
    int sh = attempts - 1 < 7 ? attempts - 1 : 7;
    ms = (uint64_t)BACKOFF_MIN_MS << sh;
    if (ms > BACKOFF_MAX_MS)
      ms = BACKOFF_MAX_MS;
  }
  nq->ready_ns = now + ms * MS;
  wait_insert(r, nq);
  r->retries++;
}

/* Freshness: the events due by now that are not out yet, in one request
 * (up to max_batch). Open loop: a connection free every tick takes
 * rate * tick events; when the server falls behind, the events due
 * meanwhile go out together in larger batches, and max_behind says by how
 * much the posting lagged the schedule. */
static req_t *fresh_next(run_t *r, uint64_t now) {
  fresh_t *f = r->f;
  if (!f->posting || f->posted_all)
    return NULL;
  double el = (double)(now - f->t0) / 1e9;
  uint64_t due = el >= f->seconds ? f->total : (uint64_t)(f->rate * el);
  if (due > f->total)
    due = f->total;
  if (due <= r->offered)
    return NULL;
  uint64_t k = due - r->offered;
  uint64_t sched = f->t0 + (uint64_t)((double)r->offered / f->rate * 1e9);
  if (now > sched && now - sched > f->max_behind_ns)
    f->max_behind_ns = now - sched;
  req_t *q = NULL;
  req_build(r, (int)(k < (uint64_t)f->max_batch ? k : (uint64_t)f->max_batch),
            &q);
  if (r->offered >= f->total || r->exhausted)
    f->posted_all = 1;
  return q;
}

/* The next request to send: a ready one waiting, else a new one; NULL
 * when there is none now. */
req_t *sb__load_next_req(run_t *r) {
  if (r->finishing)
    return NULL;
  uint64_t now = uv_hrtime();
  req_t *q = wait_pop_ready(r, now);
  if (q != NULL)
    return q;
  if (r->f != NULL)
    return fresh_next(r, now);
  if (r->exhausted || r->offered >= r->to_offer)
    return NULL;
  req_build(r, r->batch, &q);
  return q;
}
