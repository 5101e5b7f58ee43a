#include "sb_http.h"

#include "sb_log.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_URL 8192
#define MAX_HEADER_BYTES 16384
#define MAX_HEADERS 64
#define MAX_INFLIGHT 32 /* pipelined requests per connection */
#define DEFAULT_MAX_PENDING (1u << 20) /* sb_http_opts_t.max_pending of 0 */

typedef struct conn_s conn_t;

struct sb_http_req_s {
  conn_t *conn; /* NULL once the client is gone */
  sb_http_req_t *next;
  char method[16];
  char *url, *path, *query;
  size_t url_len;
  char *names[MAX_HEADERS], *values[MAX_HEADERS];
  int nheaders;
  char *body;
  size_t body_len, body_cap;
  char peer[64];
  void *user;
  char *response; /* set once answered */
  size_t response_len;
  int close_after;
  int upgrade; /* the client asked for another protocol */
};

struct conn_s {
  uv_tcp_t tcp;
  uv_timer_t timer;
  http_parser parser;
  sb_http_t *srv;
  conn_t *prev, *next;
  sb_http_req_t *cur;         /* being parsed */
  sb_http_req_t *head, *tail; /* parsed, answered in this order */
  int inflight;
  size_t header_bytes;
  int last_was_value; /* header callbacks may come in pieces */
  int closing, want_close, paused;
  int eof; /* the client has sent all it will (EOF, a half-close) */
  /* input read and not yet parsed: what followed the request at which the
   * parser was paused (at most one read) */
  char *rest;
  size_t rest_len;
  int wreqs; /* socket writes queued in libuv, not yet completed */
  int held;  /* upgraded: what the client sends is dropped (sb_http_conn_hold) */
  int refusal; /* the HTTP status a callback refused the request with */
  int handles; /* open uv handles of this connection */
  char peer[64];
  /* once upgraded, the connection belongs to another protocol */
  int upgraded, shutting;
  const sb_http_upgrade_cb_t *ucb;
  void *uud;
  /* TLS, when the server has it: the socket carries ciphertext, and
   * everything from conn_feed / conn_send up is the same plaintext path as
   * for a plain connection. rbio takes the client's ciphertext, wbio holds
   * ours until flushed to the socket; both owned by ssl. */
  SSL *ssl;
  BIO *rbio, *wbio;
  uv_timer_t drain; /* after a pause: parses the rest, reads what is left in
                     * the TLS layer */
  int tls_up;       /* handshake finished */
  int tls_failed;   /* fatal TLS error: closing, the session unusable */
  int draining;     /* inside tls_drain */
};

struct sb_http_s {
  uv_loop_t *loop;
  uv_tcp_t listener;
  sb_http_opts_t o;
  http_parser_settings settings;
  conn_t *conns;
  char url[96];
  SSL_CTX *tls; /* NULL: plain HTTP */
  int stopping;
  void (*done)(void *);
  void *done_arg;
  int listener_open;
};

static void resume(conn_t *c);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);
static void refuse(conn_t *c, int status, const char *code, const char *msg);
static int tls_flush(conn_t *c, int close_after);

static const char *reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 202:
    return "Accepted";
  case 207:
    return "Multi-Status";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  default:
    return "Unknown";
  }
}

/* ---- requests ----------------------------------------------------------- */

static void req_free(sb_http_req_t *r) {
  if (r == NULL)
    return;
  free(r->url);
  free(r->path);
  for (int i = 0; i < r->nheaders; i++) {
    free(r->names[i]);
    free(r->values[i]);
  }
  free(r->body);
  free(r->response);
  free(r);
}

const char *sb_http_method(const sb_http_req_t *r) { return r->method; }
const char *sb_http_path(const sb_http_req_t *r) { return r->path; }
const char *sb_http_query(const sb_http_req_t *r) {
  return r->query ? r->query : "";
}
const char *sb_http_peer(const sb_http_req_t *r) { return r->peer; }
void sb_http_set_user(sb_http_req_t *r, void *user) { r->user = user; }
void *sb_http_user(const sb_http_req_t *r) { return r->user; }
int sb_http_gone(const sb_http_req_t *r) { return r->conn == NULL; }

const char *sb_http_body(const sb_http_req_t *r, size_t *len) {
  if (len)
    *len = r->body_len;
  return r->body ? r->body : "";
}

const char *sb_http_header(const sb_http_req_t *r, const char *name) {
  for (int i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->names[i], name) == 0)
      return r->values[i];
  return NULL;
}

/* ---- connections -------------------------------------------------------- */

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
      req_free(r);
  }
  req_free(c->cur);
  free(c->rest);
  if (c->upgraded && c->ucb->on_close)
    c->ucb->on_close(c->uud);
  SSL_free(c->ssl); /* and its BIOs */
  free(c);
  if (s->stopping && s->conns == NULL && !s->listener_open && s->done)
    s->done(s->done_arg);
}

static void conn_close(conn_t *c) {
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

static void on_timeout(uv_timer_t *t) {
  conn_t *c = t->data;
  if (c->upgraded) { /* a graceful close the client did not complete */
    conn_close(c);
    return;
  }
  if (c->ssl && !c->tls_up) {
    sb_log(SB_LOG_DEBUG, "http", "TLS handshake did not complete in time",
           SB_F_STR("peer", c->peer),
           SB_F_INT("timeout_ms", c->srv->o.request_timeout_ms), SB_F_END);
    conn_close(c);
    return;
  }
  if (c->head != NULL)
    return;           /* the server owes an answer: not the client's fault */
  if (c->cur != NULL) /* a request started and did not finish: slow client */
    refuse(c, 408, "timeout", "the request took too long to arrive");
  else
    conn_close(c); /* idle keep-alive connection */
}

static void arm_timer(conn_t *c) {
  if (c->closing || c->upgraded)
    return;
  /* a handshake is bounded like a request */
  int ms = c->cur || (c->ssl && !c->tls_up) ? c->srv->o.request_timeout_ms
                                             : c->srv->o.idle_timeout_ms;
  if (c->head != NULL)
    uv_timer_stop(&c->timer); /* the server owes an answer: no timeout */
  else
    uv_timer_start(&c->timer, on_timeout, (uint64_t)ms, 0);
}

typedef struct {
  uv_write_t w;
  char *data;
  conn_t *c;
  int close_after;
} write_t;

/* What a write waiting in libuv costs beside its bytes (the request, the
 * allocator's share): counted as queued, so that a client sent many small
 * frames holds no more memory than one sent a few large ones. */
#define WRITE_COST (sizeof(write_t) + 64)

static void flush(conn_t *c);
static void maybe_resume(conn_t *c);

/* Bytes the client has not taken yet and the server holds for it: in
 * libuv's queue, in the TLS layer, and the bookkeeping of each write. */
static size_t out_queued(const conn_t *c) {
  return c->tcp.write_queue_size + (c->wbio ? BIO_ctrl_pending(c->wbio) : 0) +
         (size_t)c->wreqs * WRITE_COST;
}

static void on_written(uv_write_t *w, int status) {
  write_t *wr = (write_t *)w;
  conn_t *c = wr->c;
  c->wreqs--;
  free(wr->data);
  if (status != 0 || wr->close_after) {
    free(wr);
    conn_close(c);
    return;
  }
  free(wr);
  maybe_resume(c); /* the client took some: it may send more */
}

/* Queues bytes on the socket as they are: what the kernel takes at once is
 * written at once (no request held), the rest waits in libuv. data:
 * malloc'd, taken (freed in every case). close_after: the connection closes
 * once everything queued is written. -1, and the connection closing, when
 * it cannot. */
static int sock_write(conn_t *c, char *data, size_t len, int close_after) {
  if (c->closing) {
    free(data);
    return -1;
  }
  size_t off = 0;
  if (len > 0 && len <= UINT_MAX) {
    /* UV_EAGAIN while earlier writes wait: the order holds */
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n > 0)
      off = (size_t)n;
    else if (n != UV_EAGAIN) { /* the client has gone */
      free(data);
      conn_close(c);
      return -1;
    }
  }
  if (off == len && c->tcp.write_queue_size == 0) {
    free(data); /* all with the kernel */
    if (close_after)
      conn_close(c);
    return 0;
  }
  write_t *wr = calloc(1, sizeof *wr);
  if (wr == NULL || len - off > UINT_MAX) {
    free(wr);
    free(data);
    conn_close(c);
    return -1;
  }
  wr->data = data;
  wr->c = c;
  wr->close_after = close_after;
  uv_buf_t b = uv_buf_init(data + off, (unsigned)(len - off));
  if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
    free(data);
    free(wr);
    conn_close(c);
    return -1;
  }
  c->wreqs++;
  return 0;
}

/* Sends plaintext, the same for every connection: as it is, or through TLS.
 * data: malloc'd, taken. close_after: the connection closes once it is
 * written (after TLS's close_notify). -1 when the connection is closing. */
static int conn_send(conn_t *c, char *data, size_t len, int close_after) {
  if (c->ssl == NULL)
    return sock_write(c, data, len, close_after);
  int ok = !c->closing && c->tls_up && !c->tls_failed && len <= INT_MAX;
  if (ok && len > 0) {
    ERR_clear_error();
    /* a memory BIO takes everything: no partial writes, no retries */
    ok = SSL_write(c->ssl, data, (int)len) == (int)len;
  }
  free(data);
  if (!ok) {
    ERR_clear_error();
    conn_close(c);
    return -1;
  }
  if (close_after) {
    ERR_clear_error();
    SSL_shutdown(c->ssl); /* close_notify, written with the rest */
  }
  return tls_flush(c, close_after);
}

/* Writes answered requests at the head of the queue, in order. */
static void flush(conn_t *c) {
  while (c->head && c->head->response && !c->closing) {
    sb_http_req_t *r = c->head;
    c->head = r->next;
    if (c->head == NULL)
      c->tail = NULL;
    c->inflight--;
    char *data = r->response;
    size_t len = r->response_len;
    r->response = NULL; /* ownership moves to conn_send */
    int close_after = r->close_after || (c->want_close && c->head == NULL);
    req_free(r);
    if (conn_send(c, data, len, close_after) != 0 || close_after)
      return;
  }
  maybe_resume(c);
  arm_timer(c);
}

/* Reading stops while a connection owes MAX_INFLIGHT answers or holds more
 * than max_pending bytes of answers its client has not taken: a client
 * that pipelines requests and reads nothing holds a bounded amount. It
 * goes on once half of that was taken. */
static int must_pause(const conn_t *c) {
  return c->inflight >= MAX_INFLIGHT || out_queued(c) > c->srv->o.max_pending;
}

static void maybe_resume(conn_t *c) {
  if (!c->paused || c->closing || c->upgraded || c->inflight >= MAX_INFLIGHT ||
      out_queued(c) > c->srv->o.max_pending / 2)
    return;
  c->paused = 0;
  resume(c);
}

/* The client sent all it will: it closed, or half-closed after its
 * requests (shutdown(SHUT_WR)). The answers it is owed are still written,
 * then the connection closes. */
static void peer_done(conn_t *c) {
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->eof = 1;
  c->want_close = 1;
  if (c->head == NULL) /* nothing owed: close once what is queued is out */
    conn_send(c, NULL, 0, 1);
}

void sb_http_respond(sb_http_req_t *r, int status, const char *content_type,
                     const char *body, size_t len, const char *extra_headers) {
  if (r->response != NULL)
    return;              /* answered already */
  if (r->conn == NULL) { /* the client has gone */
    req_free(r);
    return;
  }
  conn_t *c = r->conn;
  /* want_close: no more requests are read; those queued after r are
   * still answered on this connection */
  int keep = !r->close_after && !(c->want_close && r->next == NULL) &&
             !c->srv->stopping;
  r->close_after = !keep;
  char head[1024];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: "
                   "%zu\r\n%s%s\r\n",
                   status, reason(status), content_type, len,
                   keep ? "" : "Connection: close\r\n",
                   extra_headers ? extra_headers : "");
  if (n < 0 || (size_t)n >= sizeof head)
    n = snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "\r\n",
                 status, reason(status), content_type, len);
  r->response = malloc((size_t)n + len);
  if (r->response == NULL) {
    conn_close(c);
    return;
  }
  memcpy(r->response, head, (size_t)n);
  /* HEAD: the same head, Content-Length included, and no body */
  size_t blen = strcmp(r->method, "HEAD") == 0 ? 0 : len;
  memcpy(r->response + n, body, blen);
  r->response_len = (size_t)n + blen;
  flush(c);
}

void sb_http_error(sb_http_req_t *r, int status, const char *code,
                   const char *message, const char *extra_headers) {
  cJSON *o = cJSON_CreateObject();
  cJSON *e = cJSON_AddObjectToObject(o, "error");
  cJSON_AddNumberToObject(e, "status", status);
  cJSON_AddStringToObject(e, "code", code);
  cJSON_AddStringToObject(e, "message", message);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (text == NULL) {
    sb_http_respond(r, status, "application/json", "{}\n", 3, extra_headers);
    return;
  }
  size_t n = strlen(text);
  char *body = malloc(n + 2);
  if (body != NULL) {
    memcpy(body, text, n);
    body[n] = '\n';
    sb_http_respond(r, status, "application/json", body, n + 1, extra_headers);
    free(body);
  }
  cJSON_free(text);
}

/* ---- parsing ---------------------------------------------------------- */

static conn_t *conn_of(http_parser *p) { return p->data; }

static int on_message_begin(http_parser *p) {
  conn_t *c = conn_of(p);
  sb_http_req_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return -1;
  r->conn = c;
  snprintf(r->peer, sizeof r->peer, "%s", c->peer);
  c->cur = r;
  c->header_bytes = 0;
  c->last_was_value = 0;
  arm_timer(c);
  return 0;
}

/* Appends piece to *dst (NUL-terminated), bounded by limit. */
static int append(char **dst, size_t *len, const char *piece, size_t n,
                  size_t limit) {
  if (*len + n > limit)
    return -1;
  char *d = realloc(*dst, *len + n + 1);
  if (d == NULL)
    return -1;
  memcpy(d + *len, piece, n);
  *len += n;
  d[*len] = '\0';
  *dst = d;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  sb_http_req_t *r = conn_of(p)->cur;
  if (append(&r->url, &r->url_len, at, n, MAX_URL) != 0)
    return conn_of(p)->refusal = 414, -1;
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
  conn_t *c = conn_of(p);
  sb_http_req_t *r = c->cur;
  c->header_bytes += n;
  if (c->header_bytes > MAX_HEADER_BYTES)
    return c->refusal = 431, -1;
  if (c->last_was_value || r->nheaders == 0) {
    if (r->nheaders >= MAX_HEADERS)
      return c->refusal = 431, -1;
    r->nheaders++;
    c->last_was_value = 0;
  }
  size_t len =
      r->names[r->nheaders - 1] ? strlen(r->names[r->nheaders - 1]) : 0;
  return append(&r->names[r->nheaders - 1], &len, at, n, 256);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  conn_t *c = conn_of(p);
  sb_http_req_t *r = c->cur;
  c->header_bytes += n;
  if (c->header_bytes > MAX_HEADER_BYTES)
    return c->refusal = 431, -1;
  if (r->nheaders == 0)
    return -1;
  c->last_was_value = 1;
  char **v = &r->values[r->nheaders - 1];
  size_t len = *v ? strlen(*v) : 0;
  return append(v, &len, at, n, MAX_HEADER_BYTES);
}

static int on_headers_complete(http_parser *p) {
  conn_t *c = conn_of(p);
  sb_http_req_t *r = c->cur;
  snprintf(r->method, sizeof r->method, "%s",
           http_method_str((enum http_method)p->method));
  for (int i = 0; i < r->nheaders; i++)
    if (r->values[i] == NULL && (r->values[i] = strdup("")) == NULL)
      return -1;
  struct http_parser_url u;
  http_parser_url_init(&u);
  if (r->url == NULL || http_parser_parse_url(r->url, r->url_len, 0, &u) != 0)
    return -1;
  if (u.field_set & (1 << UF_PATH))
    r->path =
        strndup(r->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
  else
    r->path = strdup("/");
  if (u.field_set & (1 << UF_QUERY))
    r->query = r->url + u.field_data[UF_QUERY].off; /* inside url */
  if (r->path == NULL)
    return -1;
  if (p->content_length != ULLONG_MAX && p->content_length > c->srv->o.max_body)
    return c->refusal = 413, -1; /* say so before the body is sent */
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  sb_http_req_t *r = conn_of(p)->cur;
  if (r->body_len + n > conn_of(p)->srv->o.max_body)
    return conn_of(p)->refusal = 413, -1; /* chunked, past the limit */
  return append(&r->body, &r->body_len, at, n, conn_of(p)->srv->o.max_body);
}

static void dispatch(conn_t *c, sb_http_req_t *r) {
  const sb_http_route_t *match = NULL;
  int path_known = 0;
  char allow[128] = "";
  for (const sb_http_route_t *rt = c->srv->o.routes; rt && rt->method; rt++) {
    if (strcmp(rt->path, r->path) != 0)
      continue;
    path_known = 1;
    size_t used = strlen(allow);
    snprintf(allow + used, sizeof allow - used, "%s%s", used ? ", " : "",
             rt->method);
    if (strcmp(rt->method, r->method) == 0)
      match = rt;
  }
  if (match) {
    match->fn(r, c->srv->o.ud);
  } else if (path_known) {
    char hdr[160];
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    sb_http_error(r, 405, "method_not_allowed",
                  "this path takes another method", hdr);
  } else {
    sb_http_error(r, 404, "not_found", "no such path", NULL);
  }
}

static int on_message_complete(http_parser *p) {
  conn_t *c = conn_of(p);
  sb_http_req_t *r = c->cur;
  c->cur = NULL;
  r->close_after = !http_should_keep_alive(p);
  r->upgrade = p->upgrade;
  if (r->upgrade)
    c->want_close = 1; /* unless a handler takes the connection over */
  if (c->tail)
    c->tail->next = r;
  else
    c->head = r;
  c->tail = r;
  c->inflight++;
  arm_timer(c);
  dispatch(c, r); /* may answer, and even free r, right away */
  /* enough owed or unwritten: the next request waits (conn_feed keeps it) */
  if (!c->closing && !c->upgraded && !c->want_close && must_pause(c))
    http_parser_pause(p, 1);
  return 0;
}

/* ---- sockets ------------------------------------------------------------ */

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
    conn_close(c);
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
static void conn_feed(conn_t *c, const char *data, size_t len) {
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
        conn_close(c);
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
  } else if (!c->closing && must_pause(c)) {
    c->paused = 1; /* enough owed: read on once answers went out */
    uv_read_stop((uv_stream_t *)&c->tcp);
  }
}

/* ---- TLS ------------------------------------------------------------------
 * A layer between the socket and conn_feed / conn_send, through two memory
 * BIOs: the client's ciphertext goes into rbio, the handshake and SSL_read
 * turn it into plaintext for conn_feed; SSL_write puts ciphertext in wbio,
 * which tls_flush hands to the socket. OpenSSL never touches the socket. */

/* The reason of the first OpenSSL error queued (never key material), and
 * the queue emptied. */
static void tls_reason(char *buf, size_t sz) {
  unsigned long e = ERR_peek_error();
  const char *why = e ? ERR_reason_error_string(e) : NULL;
  if (why != NULL)
    snprintf(buf, sz, "%s", why);
  else if (e != 0)
    snprintf(buf, sz, "OpenSSL error %lu", e);
  else
    snprintf(buf, sz, "unknown");
  ERR_clear_error();
}

/* Hands the ciphertext waiting in wbio to the socket. */
static int tls_flush(conn_t *c, int close_after) {
  if (c->closing)
    return -1;
  size_t n = BIO_ctrl_pending(c->wbio);
  if (n == 0 && !close_after)
    return 0;
  char *buf = malloc(n ? n : 1);
  if (buf == NULL || (n > 0 && BIO_read(c->wbio, buf, (int)n) != (int)n)) {
    free(buf);
    conn_close(c);
    return -1;
  }
  return sock_write(c, buf, n, close_after);
}

/* Plain HTTP sent to the TLS port: the answer, in plain HTTP. */
static void tls_required(conn_t *c) {
  static const char body[] =
      "{\"error\":{\"status\":400,\"code\":\"tls_required\",\"message\":"
      "\"this port speaks HTTPS: use https://\"}}\n";
  char head[160];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 400 Bad Request\r\nContent-Type: "
                   "application/json\r\nContent-Length: %zu\r\nConnection: "
                   "close\r\n\r\n",
                   sizeof body - 1);
  char *msg = malloc((size_t)n + sizeof body - 1);
  if (msg == NULL) {
    conn_close(c);
    return;
  }
  memcpy(msg, head, (size_t)n);
  memcpy(msg + n, body, sizeof body - 1);
  sock_write(c, msg, (size_t)n + sizeof body - 1, 1);
}

/* A fatal TLS error: logged (peer and reason), the alert OpenSSL wrote if
 * any sent, then closed. */
static void tls_fail(conn_t *c, int rc) {
  int e = SSL_get_error(c->ssl, rc);
  unsigned long first = ERR_peek_error();
  char why[160];
  if (first == 0)
    snprintf(why, sizeof why, "SSL_get_error %d", e);
  else
    tls_reason(why, sizeof why);
  ERR_clear_error();
  sb_log(SB_LOG_DEBUG, "http",
         c->tls_up ? "TLS error: closing the connection"
                   : "TLS handshake failed: closing the connection",
         SB_F_STR("peer", c->peer), SB_F_STR("reason", why), SB_F_END);
  c->tls_failed = 1;
  if (ERR_GET_LIB(first) == ERR_LIB_SSL &&
      ERR_GET_REASON(first) == SSL_R_HTTP_REQUEST)
    tls_required(c);
  else
    tls_flush(c, 1);
}

/* Runs the handshake, then hands plaintext to conn_feed until the TLS layer
 * has no more, the parser is paused or the connection closes. Not
 * re-entered: a conn_feed that leads back here leaves it to the loop. */
static void tls_drain(conn_t *c) {
  if (c->draining)
    return;
  c->draining = 1;
  char plain[16384];
  while (!c->closing && !c->tls_failed) {
    ERR_clear_error();
    if (!c->tls_up) {
      int rc = SSL_do_handshake(c->ssl);
      if (rc == 1) {
        c->tls_up = 1;
        arm_timer(c); /* from the handshake's bound to the idle one */
        continue;
      }
      if (SSL_get_error(c->ssl, rc) != SSL_ERROR_WANT_READ)
        tls_fail(c, rc);
      break;
    }
    if (c->paused || c->rest)
      break; /* the rest waits in the TLS layer; resume comes back */
    int n = SSL_read(c->ssl, plain, (int)sizeof plain);
    if (n > 0) {
      conn_feed(c, plain, (size_t)n);
      continue;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN)
      conn_close(c); /* the client's close_notify: its end, like EOF */
    else if (e != SSL_ERROR_WANT_READ)
      tls_fail(c, n);
    break;
  }
  if (!c->closing && !c->tls_failed)
    tls_flush(c, 0); /* handshake flights, session tickets, alerts */
  c->draining = 0;
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
    conn_feed(c, rest, n); /* may pause again, keeping a copy of its rest */
    free(rest);
    if (c->closing || c->paused)
      return;
    if (!c->eof)
      uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
  }
  if (c->ssl)
    tls_drain(c);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = st->data;
  if (n > 0 && c->ssl == NULL) {
    conn_feed(c, buf->base, (size_t)n);
  } else if (n > 0 && !c->closing && !c->tls_failed) {
    if (BIO_write(c->rbio, buf->base, (int)n) == (int)n)
      tls_drain(c);
    else
      conn_close(c);
  } else if (n == UV_EOF && !c->upgraded && !c->closing) {
    peer_done(c); /* answers owed are still written */
  } else if (n < 0) {
    conn_close(c); /* an error, or an upgraded client gone */
  }
  free(buf->base);
}

static void resume(conn_t *c) {
  /* the rest of the last read goes first (on_drain reads on after it) */
  if (c->rest == NULL && !c->eof)
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
  /* that rest, or plaintext waiting in the TLS layer with no new bytes
   * coming to fetch it: on the loop's next turn, not inside the answer
   * that resumed us */
  if (c->rest != NULL || c->ssl)
    uv_timer_start(&c->drain, on_drain, 0, 0);
}

/* The connection's TLS session, server side. */
static int tls_conn_init(conn_t *c) {
  ERR_clear_error();
  c->ssl = SSL_new(c->srv->tls);
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
    BIO_free(c->rbio);
    BIO_free(c->wbio);
    SSL_free(c->ssl);
    c->ssl = NULL;
    ERR_clear_error();
    return -1;
  }
  /* empty is "more to come", not end of stream */
  BIO_set_mem_eof_return(c->rbio, -1);
  BIO_set_mem_eof_return(c->wbio, -1);
  SSL_set_bio(c->ssl, c->rbio, c->wbio); /* ownership moves to ssl */
  SSL_set_accept_state(c->ssl);
  return 0;
}

static void on_connection(uv_stream_t *server, int status) {
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
    conn_close(c);
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
  if (s->tls != NULL && tls_conn_init(c) != 0) {
    conn_close(c);
    return;
  }
  arm_timer(c);
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}

/* An encrypted key would make OpenSSL ask on the terminal: refuse it. */
static int no_passphrase(char *buf, int size, int rwflag, void *ud) {
  (void)buf, (void)size, (void)rwflag, (void)ud;
  return 0;
}

/* HTTP/1.1 is all we speak: say so to clients that ask (ALPN). */
static int select_alpn(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *ud) {
  static const unsigned char ours[] = "\x08http/1.1";
  unsigned char *sel = NULL;
  (void)ssl, (void)ud;
  if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK; /* no ALPN then; HTTP/1.1 all the same */
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

/* 0 when path can be opened for reading, else the error naming key, path
 * and what to do. */
static int readable(const char *key, const char *flag, const char *path,
                    const char *what, sb_err_t *err) {
  FILE *f = fopen(path, "r");
  if (f != NULL) {
    fclose(f);
    return 0;
  }
  return sb_err_set(err, SB_ECONFIG, "%s: cannot read '%s': %s (point %s at %s)",
                    key, path, strerror(errno), flag, what);
}

/* 1 when the PEM file at path holds an encrypted key (both PEM forms). */
static int pem_encrypted(const char *path) {
  char buf[8192];
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strstr(buf, "BEGIN ENCRYPTED PRIVATE KEY") != NULL ||
         strstr(buf, "Proc-Type: 4,ENCRYPTED") != NULL;
}

/* The server's TLS context from a PEM certificate chain and its key; *out
 * owned by the caller (SSL_CTX_free). Both NULL: *out NULL, plain HTTP. */
static int tls_ctx_new(const char *cert, const char *key, SSL_CTX **out,
                       sb_err_t *err) {
  *out = NULL;
  if (cert == NULL && key == NULL)
    return 0;
  if (cert == NULL || key == NULL)
    return sb_err_set(err, SB_ECONFIG,
                      "%s is set but %s is not: HTTPS needs both (--tls-cert "
                      "FILE --tls-key FILE), plain HTTP neither",
                      cert ? "http.tls_cert" : "http.tls_key",
                      cert ? "http.tls_key" : "http.tls_cert");
  if (readable("http.tls_cert", "--tls-cert", cert,
               "the server's PEM certificate chain", err) != 0 ||
      readable("http.tls_key", "--tls-key", key, "the server's PEM private key",
               err) != 0)
    return err->code;
  char why[160];
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) {
    tls_reason(why, sizeof why);
    return sb_err_set(err, SB_ECRYPTO, "http: cannot create a TLS context: %s",
                      why);
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* idle connections */
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
  int rc = 0;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
    tls_reason(why, sizeof why);
    rc = sb_err_set(err, SB_ECONFIG,
                    "http.tls_cert: no certificate in '%s' (%s): give the "
                    "server's certificate, then any intermediates, in PEM",
                    cert, why);
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    unsigned long e = ERR_peek_error();
    tls_reason(why, sizeof why);
    if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
        ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
      rc = sb_err_set(err, SB_ECONFIG,
                      "http.tls_key: the key in '%s' does not match the "
                      "certificate in '%s': give the key the certificate was "
                      "issued for",
                      key, cert);
    else if (pem_encrypted(key))
      rc = sb_err_set(err, SB_ECONFIG,
                      "http.tls_key: the key in '%s' is encrypted: give it "
                      "unencrypted ('openssl pkey -in KEY -out NEW.pem' "
                      "decrypts it; keep that file mode 0600)",
                      key);
    else
      rc = sb_err_set(err, SB_ECONFIG,
                      "http.tls_key: no private key in '%s' (%s): give the "
                      "certificate's key, unencrypted, in PEM",
                      key, why);
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    rc = sb_err_set(err, SB_ECONFIG,
                    "http.tls_key: the key in '%s' does not match the "
                    "certificate in '%s': give the key the certificate was "
                    "issued for",
                    key, cert);
  }
  if (rc != 0) {
    SSL_CTX_free(ctx);
    return rc;
  }
  *out = ctx;
  return 0;
}

int sb_http_tls_check(const char *cert, const char *key, sb_err_t *err) {
  SSL_CTX *ctx = NULL;
  int rc = tls_ctx_new(cert, key, &ctx, err);
  SSL_CTX_free(ctx);
  return rc;
}

int sb_http_start(uv_loop_t *loop, const sb_http_opts_t *o, sb_http_t **out,
                  sb_err_t *err) {
  *out = NULL;
  char host[64];
  const char *colon = strrchr(o->listen, ':');
  long long port;
  if (colon == NULL || (size_t)(colon - o->listen) >= sizeof host ||
      sb_parse_ll(colon + 1, &port) != 0 || port < 0 || port > 65535)
    return sb_err_set(err, SB_ECONFIG, "http.listen: '%s' is not HOST:PORT",
                      o->listen);
  snprintf(host, sizeof host, "%.*s", (int)(colon - o->listen), o->listen);
  struct sockaddr_storage addr;
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr) != 0)
    return sb_err_set(err, SB_ECONFIG, "http.listen: '%s' is not an IP address",
                      host);
  SSL_CTX *tls = NULL;
  int rc = tls_ctx_new(o->tls_cert, o->tls_key, &tls, err);
  if (rc != 0)
    return rc;
  sb_http_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    SSL_CTX_free(tls);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  s->loop = loop;
  s->o = *o;
  if (s->o.max_pending == 0)
    s->o.max_pending = DEFAULT_MAX_PENDING;
  s->tls = tls; /* ownership moved */
  http_parser_settings_init(&s->settings);
  s->settings.on_message_begin = on_message_begin;
  s->settings.on_url = on_url;
  s->settings.on_header_field = on_header_field;
  s->settings.on_header_value = on_header_value;
  s->settings.on_headers_complete = on_headers_complete;
  s->settings.on_body = on_body;
  s->settings.on_message_complete = on_message_complete;
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  s->listener_open = 1;
  int r = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
  const char *scheme = s->tls ? "https" : "http";
  if (r == 0)
    r = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
  if (r != 0) {
    sb_err_set(err, SB_EBUSY,
               "http: cannot listen on %s: %s (is another "
               "server there? choose --http-listen)",
               o->listen, uv_strerror(r));
    uv_close((uv_handle_t *)&s->listener, NULL);
    s->listener_open = 0;
    *out = s; /* freed by the caller after the loop closes the handle */
    return err->code;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  char ip[64] = "";
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
  int bport = 0;
  if (bound.ss_family == AF_INET) {
    uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof ip);
    bport = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    snprintf(s->url, sizeof s->url, "%s://%s:%d", scheme, ip, bport);
  } else {
    uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
    bport = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    snprintf(s->url, sizeof s->url, "%s://[%s]:%d", scheme, ip, bport);
  }
  *out = s;
  return 0;
}

const char *sb_http_url(const sb_http_t *s) { return s->url; }

static void on_listener_closed(uv_handle_t *h) {
  sb_http_t *s = h->data;
  s->listener_open = 0;
  if (s->conns == NULL && s->done)
    s->done(s->done_arg);
}

void sb_http_stop(sb_http_t *s, void (*done)(void *), void *arg) {
  if (s == NULL || s->stopping)
    return;
  s->stopping = 1;
  s->done = done;
  s->done_arg = arg;
  for (conn_t *c = s->conns, *n; c; c = n) {
    n = c->next;
    c->want_close = 1;
    if (c->upgraded && c->shutting) { /* closing gracefully: not for long */
      if (!c->closing)
        uv_timer_start(&c->timer, on_timeout, 500, 0);
      continue;
    }
    if (c->head == NULL)
      conn_close(c); /* nothing owed */
  }
  if (s->listener_open && !uv_is_closing((uv_handle_t *)&s->listener))
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
  else if (s->conns == NULL && done)
    done(arg);
}

void sb_http_free(sb_http_t *s) {
  if (s == NULL)
    return;
  SSL_CTX_free(s->tls);
  free(s);
}

/* ---- upgraded connections ---------------------------------------------- */

int sb_http_wants_upgrade(const sb_http_req_t *r) { return r->upgrade; }

sb_http_conn_t *sb_http_upgrade(sb_http_req_t *r, const char *head, size_t len,
                                const sb_http_upgrade_cb_t *cb, void *ud) {
  conn_t *c = r->conn;
  /* only the last request of its connection, and only once */
  if (c == NULL || c->closing || c->upgraded || c->srv->stopping ||
      c->head != r || r->next != NULL || !r->upgrade || r->response != NULL)
    return NULL;
  c->head = c->tail = NULL;
  c->inflight = 0;
  c->upgraded = 1;
  c->want_close = 0;
  c->ucb = cb;
  c->uud = ud;
  uv_timer_stop(&c->timer);
  if (sb_http_conn_write(c, head, len) != 0) {
    /* out of memory: the connection is closing; r is answered as the
     * request of a client that has gone, which frees it */
    c->upgraded = 0;
    r->conn = NULL;
    return NULL;
  }
  req_free(r);
  if (c->paused) {
    c->paused = 0;
    resume(c);
  }
  return c;
}

int sb_http_conn_write(sb_http_conn_t *c, const char *data, size_t len) {
  if (c->closing || c->shutting)
    return -1;
  char *copy = malloc(len ? len : 1);
  if (copy == NULL) {
    conn_close(c);
    return -1;
  }
  memcpy(copy, data, len);
  return conn_send(c, copy, len, 0);
}

/* With TLS: ciphertext, which tls_flush hands to libuv as it is made. */
size_t sb_http_conn_queued(const sb_http_conn_t *c) {
  return c->closing ? 0 : out_queued(c);
}

void sb_http_conn_hold(sb_http_conn_t *c) {
  c->held = 1; /* conn_feed drops what comes */
}

const char *sb_http_conn_peer(const sb_http_conn_t *c) { return c->peer; }

static void on_shutdown(uv_shutdown_t *sh, int status) {
  conn_t *c = sh->data;
  (void)status;
  free(sh);
  conn_close(c);
}

void sb_http_conn_close(sb_http_conn_t *c, int linger_ms) {
  if (c->closing || c->shutting)
    return;
  c->shutting = 1;
  uv_shutdown_t *sh = linger_ms > 0 ? calloc(1, sizeof *sh) : NULL;
  if (sh == NULL) {
    conn_close(c);
    return;
  }
  sh->data = c;
  if (c->ssl && c->tls_up && !c->tls_failed) {
    ERR_clear_error();
    SSL_shutdown(c->ssl); /* close_notify, before the TCP shutdown */
    ERR_clear_error();
    if (tls_flush(c, 0) != 0) {
      free(sh);
      return; /* closing */
    }
  }
  if (uv_shutdown(sh, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    free(sh);
    conn_close(c);
    return;
  }
  /* a client that reads nothing cannot hold it: on_timeout closes */
  uv_timer_start(&c->timer, on_timeout, (uint64_t)linger_ms, 0);
}

int sb_http_conn_sndbuf(sb_http_conn_t *c, int bytes) {
  int v = bytes;
  return c->closing ? -1 : uv_send_buffer_size((uv_handle_t *)&c->tcp, &v);
}
