/* The load generators' HTTP connections: keep-alive, pipelined, answers
 * parsed with http-parser and handed to answer. */
#include "sb_load_int.h"

/* ---- connections ------------------------------------------------------- */

void sb__load_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)hint;
  run_t *r = h->loop->data;
  *b = uv_buf_init(r->rbuf, READ_BUF);
}

void sb__load_on_conn_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  c->handle_open = 0;
  c->state = C_DOWN;
  c->retry_at_ns = uv_hrtime() + RECONNECT_MS * MS;
}

/* Closes c; what it had in flight is sent again (ready at once), not lost. */
static void conn_lost(conn_t *c, int status) {
  run_t *r = c->r;
  if (c->state == C_CLOSING || c->state == C_DOWN)
    return;
  int was_up = c->state == C_UP;
  c->state = C_CLOSING;
  for (req_t *q = c->head, *n; q; q = n) {
    n = q->next;
    if (!r->finishing) {
      int *which = malloc((size_t)q->n * sizeof *which);
      if (which == NULL) {
        sb__load_fail(r, SB_ENOMEM, "out of memory");
      } else {
        sb__load_retry(r, q, which, sb__load_all_idx(q, which), 0);
        free(which);
      }
    }
    sb__load_req_put(r, q);
  }
  r->inflight -= (uint64_t)c->inflight;
  c->head = c->tail = NULL;
  c->inflight = 0;
  if (was_up && !r->finishing) {
    r->reconnects++;
    if (status < 0)
      sb__load_note_error(r, "connection lost: %s", uv_strerror(status));
  }
  if (c->handle_open && !uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, sb__load_on_conn_closed);
}

void sb__load_on_written(uv_write_t *w, int status) {
  (void)status; /* a failed write shows as a failed read */
  req_t *q = w->data;
  run_t *r = w->handle->loop->data;
  q->writing = 0;
  if (q->done)
    sb__load_req_put(r, q);
}

static void conn_send(conn_t *c, req_t *q) {
  run_t *r = c->r;
  q->next = NULL;
  if (c->tail)
    c->tail->next = q;
  else
    c->head = q;
  c->tail = q;
  c->inflight++;
  r->inflight++;
  q->sent_ns = uv_hrtime();
  uv_buf_t b = uv_buf_init(q->buf + q->start, (unsigned)(q->end - q->start));
  r->bytes_sent += b.len;
  int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (n == (int)b.len)
    return;
  if (n < 0 && n != UV_EAGAIN) {
    conn_lost(c, n);
    return;
  }
  if (n > 0) {
    b.base += n;
    b.len -= (unsigned)n;
  }
  q->writing = 1;
  q->wr.data = q;
  int rc = uv_write(&q->wr, (uv_stream_t *)&c->tcp, &b, 1, sb__load_on_written);
  if (rc != 0) {
    q->writing = 0;
    conn_lost(c, rc);
  }
}

void sb__load_conn_fill(conn_t *c) {
  run_t *r = c->r;
  while (c->state == C_UP && c->inflight < r->pipeline && !r->finishing) {
    req_t *q = sb__load_next_req(r);
    if (q == NULL)
      break;
    conn_send(c, q);
  }
}

int sb__load_hp_begin(http_parser *p) {
  ((conn_t *)p->data)->body_len = 0;
  return 0;
}

int sb__load_hp_body(http_parser *p, const char *at, size_t len) {
  conn_t *c = p->data;
  if (c->body_len + len + 1 > c->body_cap) {
    size_t cap = c->body_cap ? c->body_cap : 65536;
    while (cap < c->body_len + len + 1)
      cap *= 2;
    char *b = realloc(c->body, cap);
    if (b == NULL)
      return -1;
    c->body = b;
    c->body_cap = cap;
  }
  memcpy(c->body + c->body_len, at, len);
  c->body_len += len;
  return 0;
}

int sb__load_hp_complete(http_parser *p) {
  conn_t *c = p->data;
  run_t *r = c->r;
  req_t *q = c->head;
  if (q == NULL) {
    sb__load_fail(r, SB_EDECODE, "an answer came for no request");
    return -1;
  }
  c->head = q->next;
  if (c->head == NULL)
    c->tail = NULL;
  c->inflight--;
  r->inflight--;
  int keep = http_should_keep_alive(p);
  sb__load_answer(r, q, (int)p->status_code, c->body ? c->body : "",
                  c->body_len);
  sb__load_req_put(r, q);
  if (!keep || r->finishing) {
    conn_lost(c, 0);
    return -1; /* stop parsing: the connection is gone */
  }
  return 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  conn_t *c = s->data;
  run_t *r = c->r;
  if (n == 0)
    return;
  if (n < 0) {
    conn_lost(c, (int)n);
    return;
  }
  r->bytes_recv += (uint64_t)n;
  size_t used = http_parser_execute(&c->hp, &r->hps, b->base, (size_t)n);
  if (c->state != C_UP)
    return; /* closed from a callback */
  if (c->hp.http_errno != HPE_OK || used != (size_t)n) {
    sb__load_fail(r, SB_EDECODE, "bad HTTP answer from %s: %s", r->url,
                  http_errno_description(HTTP_PARSER_ERRNO(&c->hp)));
    return;
  }
  sb__load_conn_fill(c);
  if (r->f == NULL)
    sb__load_maybe_finish(r);
}

static void on_connect(uv_connect_t *cr, int status) {
  conn_t *c = cr->data;
  run_t *r = c->r;
  if (r->finishing || c->state != C_CONNECTING)
    return;
  if (status < 0) {
    if (!r->any_up) {
      sb__load_fail(r, SB_EIO, "cannot connect to %s: %s", r->url,
                    uv_strerror(status));
      return;
    }
    sb__load_note_error(r, "connect: %s", uv_strerror(status));
    c->state = C_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, sb__load_on_conn_closed);
    return;
  }
  c->state = C_UP;
  c->ever_up = r->any_up = 1;
  http_parser_init(&c->hp, HTTP_RESPONSE);
  c->hp.data = c;
  uv_read_start((uv_stream_t *)&c->tcp, sb__load_on_alloc, on_read);
  sb__load_conn_fill(c);
}

int sb__load_conn_connect(conn_t *c) {
  run_t *r = c->r;
  uv_tcp_init(&r->loop, &c->tcp);
  c->tcp.data = c;
  c->handle_open = 1;
  uv_tcp_nodelay(&c->tcp, 1);
  c->creq.data = c;
  c->state = C_CONNECTING;
  int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&r->addr,
                          on_connect);
  if (rc != 0) {
    c->state = C_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, sb__load_on_conn_closed);
    return sb__load_fail(r, SB_EIO, "cannot connect to %s: %s", r->url,
                         uv_strerror(rc));
  }
  return 0;
}
