/* A connection's life: accepted, read, paused and resumed, timed out,
 * closed. */
#include "sb_http_int.h"

#include "sb_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);
static void refuse(conn_t *c, int status, const char *code, const char *msg);

static void on_conn_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  if (--c->handles > 0)
    return;
  sb_http_t *s = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  /* answers still owed are dropped by their handlers when they come */
  for (sb_http_req_t *r = c->head, *n; r; r = n) {
    n = r->next;
    r->conn = NULL;
    if (r->response) /* answered, not yet written */
      sb__http_req_free(r);
  }
  sb__http_req_free(c->cur);
  free(c->rest);
  if (c->upgraded && c->ucb->on_close)
    c->ucb->on_close(c->uud);
  SSL_free(c->ssl); /* and its BIOs */
  free(c);
  if (s->stopping && s->conns == NULL && !s->listener_open && s->done)
    s->done(s->done_arg);
}

void sb__http_conn_close(conn_t *c) {
  if (c->closing)
    return;
  c->closing = 1;
  uv_timer_stop(&c->timer);
  /* a handle may be closing already when the loop's owner closed every
   * handle as a last resort */
  if (!uv_is_closing((uv_handle_t *)&c->timer))
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
  if (!uv_is_closing((uv_handle_t *)&c->drain))
    uv_close((uv_handle_t *)&c->drain, on_conn_closed);
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

void sb__http_on_timeout(uv_timer_t *t) {
  conn_t *c = t->data;
  if (c->upgraded) { /* a graceful close the client did not complete */
    sb__http_conn_close(c);
    return;
  }
  if (c->ssl && !c->tls_up) {
    sb_log(SB_LOG_DEBUG, "http", "TLS handshake did not complete in time",
           SB_F_STR("peer", c->peer),
           SB_F_INT("timeout_ms", c->srv->o.request_timeout_ms), SB_F_END);
    sb__http_conn_close(c);
    return;
  }
  if (c->head != NULL)
    return;           /* the server owes an answer: not the client's fault */
  if (c->cur != NULL) /* a request started and did not finish: slow client */
    refuse(c, 408, "timeout", "the request took too long to arrive");
  else
    sb__http_conn_close(c); /* idle keep-alive connection */
}

void sb__http_arm_timer(conn_t *c) {
  if (c->closing || c->upgraded)
    return;
  /* a handshake is bounded like a request */
  int ms = c->cur || (c->ssl && !c->tls_up) ? c->srv->o.request_timeout_ms
                                             : c->srv->o.idle_timeout_ms;
  if (c->head != NULL)
    uv_timer_stop(&c->timer); /* the server owes an answer: no timeout */
  else
    uv_timer_start(&c->timer, sb__http_on_timeout, (uint64_t)ms, 0);
}

/* Reading stops while a connection owes MAX_INFLIGHT answers or holds more
 * than max_pending bytes of answers its client has not taken: a client
 * that pipelines requests and reads nothing holds a bounded amount. It
 * goes on once half of that was taken. */
int sb__http_must_pause(const conn_t *c) {
  return c->inflight >= MAX_INFLIGHT ||
         sb__http_out_queued(c) > c->srv->o.max_pending;
}

void sb__http_maybe_resume(conn_t *c) {
  if (!c->paused || c->closing || c->upgraded || c->inflight >= MAX_INFLIGHT ||
      sb__http_out_queued(c) > c->srv->o.max_pending / 2)
    return;
  c->paused = 0;
  sb__http_resume(c);
}

/* The client sent all it will: it closed, or half-closed after its
 * requests (shutdown(SHUT_WR)). The answers it is owed are still written,
 * then the connection closes. */
static void peer_done(conn_t *c) {
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->eof = 1;
  c->want_close = 1;
  if (c->head == NULL) /* nothing owed: close once what is queued is out */
    sb__http_conn_send(c, NULL, 0, 1);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

/* Answers a request the parser refused, then closes. */
static void refuse(conn_t *c, int status, const char *code, const char *msg) {
  sb_http_req_t *r = c->cur ? c->cur : calloc(1, sizeof *r);
  c->cur = NULL;
  if (r == NULL) {
    sb__http_conn_close(c);
    return;
  }
  r->conn = c;
  r->close_after = 1;
  r->next = NULL;
  if (c->tail)
    c->tail->next = r;
  else
    c->head = r;
  c->tail = r;
  c->inflight++;
  c->want_close = 1;
  sb_http_error(r, status, code, msg, NULL);
}

/* Plaintext from the client, the same for every connection: to the parser,
 * or to the protocol that took the connection over. */
void sb__http_conn_feed(conn_t *c, const char *data, size_t len) {
  if (c->upgraded) {
    if (!c->closing && !c->shutting && !c->held)
      c->ucb->on_data(c->uud, data, len);
    return;
  }
  if (c->closing || c->want_close)
    return;
  size_t done = http_parser_execute(&c->parser, &c->srv->settings, data, len);
  enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
  if (e == HPE_PAUSED) { /* on_message_complete: at the end of a request */
    http_parser_pause(&c->parser, 0);
    if (c->closing)
      return;
    if (done < len) { /* kept for resume, in order before any new read */
      if ((c->rest = malloc(len - done)) == NULL) {
        sb__http_conn_close(c);
        return;
      }
      memcpy(c->rest, data + done, len - done);
      c->rest_len = len - done;
    }
    c->paused = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    return;
  }
  if (c->upgraded) { /* the handler took it: the rest is the new protocol */
    if (done < len && !c->closing)
      c->ucb->on_data(c->uud, data + done, len - done);
  } else if (c->want_close) {
    /* an upgrade the handler refused: answered, closing; ignore the rest */
  } else if (e != HPE_OK || done != len) {
    if (c->refusal == 431)
      refuse(c, 431, "headers_too_large", "the request headers are too large");
    else if (c->refusal == 414)
      refuse(c, 414, "uri_too_long", "the URL is too long");
    else if (c->refusal == 413)
      refuse(c, 413, "too_large", "the request body is larger than allowed");
    else if (c->parser.upgrade)
      refuse(c, 400, "bad_request", "protocol upgrade is not offered here");
    else {
      char msg[160];
      snprintf(msg, sizeof msg, "malformed HTTP: %s",
               http_errno_description(e));
      refuse(c, 400, "bad_request", msg);
    }
  } else if (!c->closing && sb__http_must_pause(c)) {
    c->paused = 1; /* enough owed: read on once answers went out */
    uv_read_stop((uv_stream_t *)&c->tcp);
  }
}

/* After a pause: the rest of the last read first, then plaintext waiting
 * in the TLS layer, then the socket again. */
static void on_drain(uv_timer_t *t) {
  conn_t *c = t->data;
  if (c->closing || c->paused)
    return;
  if (c->rest != NULL) {
    char *rest = c->rest;
    size_t n = c->rest_len;
    c->rest = NULL;
    c->rest_len = 0;
    sb__http_conn_feed(c, rest,
                       n); /* may pause again, keeping a copy of its rest */
    free(rest);
    if (c->closing || c->paused)
      return;
    if (!c->eof)
      uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
  }
  if (c->ssl)
    sb__http_tls_drain(c);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = st->data;
  if (n > 0 && c->ssl == NULL) {
    sb__http_conn_feed(c, buf->base, (size_t)n);
  } else if (n > 0 && !c->closing && !c->tls_failed) {
    if (BIO_write(c->rbio, buf->base, (int)n) == (int)n)
      sb__http_tls_drain(c);
    else
      sb__http_conn_close(c);
  } else if (n == UV_EOF && !c->upgraded && !c->closing) {
    peer_done(c); /* answers owed are still written */
  } else if (n < 0) {
    sb__http_conn_close(c); /* an error, or an upgraded client gone */
  }
  free(buf->base);
}

void sb__http_resume(conn_t *c) {
  /* the rest of the last read goes first (on_drain reads on after it) */
  if (c->rest == NULL && !c->eof)
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
  /* that rest, or plaintext waiting in the TLS layer with no new bytes
   * coming to fetch it: on the loop's next turn, not inside the answer
   * that resumed us */
  if (c->rest != NULL || c->ssl)
    uv_timer_start(&c->drain, on_drain, 0, 0);
}

void sb__http_on_connection(uv_stream_t *server, int status) {
  sb_http_t *s = server->data;
  if (status != 0 || s->stopping)
    return;
  conn_t *c = calloc(1, sizeof *c);
  if (c == NULL)
    return;
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  uv_timer_init(s->loop, &c->drain);
  c->handles = 3;
  c->tcp.data = c->timer.data = c->drain.data = c;
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    sb__http_conn_close(c);
    return;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET)
      uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
    else
      uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
  }
  uv_tcp_nodelay(&c->tcp, 1);
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  if (s->tls != NULL && sb__http_tls_conn_init(c) != 0) {
    sb__http_conn_close(c);
    return;
  }
  sb__http_arm_timer(c);
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}
