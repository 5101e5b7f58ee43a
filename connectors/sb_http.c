#include "sb_http.h"

#include "sb_log.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <http_parser.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAX_URL 8192
#define MAX_HEADER_BYTES 16384
#define MAX_HEADERS 64
#define MAX_INFLIGHT 32 /* pipelined requests per connection */

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
  int refusal; /* the HTTP status a callback refused the request with */
  int handles; /* open uv handles of this connection */
  char peer[64];
  /* once upgraded, the connection belongs to another protocol */
  int upgraded, shutting;
  const sb_http_upgrade_cb_t *ucb;
  void *uud;
};

struct sb_http_s {
  uv_loop_t *loop;
  uv_tcp_t listener;
  sb_http_opts_t o;
  http_parser_settings settings;
  conn_t *conns;
  char url[96];
  int stopping;
  void (*done)(void *);
  void *done_arg;
  int listener_open;
};

static void resume(conn_t *c);
static void refuse(conn_t *c, int status, const char *code, const char *msg);

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
  if (c->upgraded && c->ucb->on_close)
    c->ucb->on_close(c->uud);
  free(c);
  if (s->stopping && s->conns == NULL && !s->listener_open && s->done)
    s->done(s->done_arg);
}

static void conn_close(conn_t *c) {
  if (c->closing)
    return;
  c->closing = 1;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_conn_closed);
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_timeout(uv_timer_t *t) {
  conn_t *c = t->data;
  if (c->upgraded) { /* a graceful close the client did not complete */
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
  int ms = c->cur ? c->srv->o.request_timeout_ms : c->srv->o.idle_timeout_ms;
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

static void flush(conn_t *c);

static void on_written(uv_write_t *w, int status) {
  write_t *wr = (write_t *)w;
  conn_t *c = wr->c;
  free(wr->data);
  if (status != 0 || wr->close_after) {
    free(wr);
    conn_close(c);
    return;
  }
  free(wr);
}

/* Writes answered requests at the head of the queue, in order. */
static void flush(conn_t *c) {
  while (c->head && c->head->response && !c->closing) {
    sb_http_req_t *r = c->head;
    c->head = r->next;
    if (c->head == NULL)
      c->tail = NULL;
    c->inflight--;
    write_t *wr = calloc(1, sizeof *wr);
    if (wr == NULL) {
      req_free(r);
      conn_close(c);
      return;
    }
    wr->data = r->response;
    r->response = NULL;
    wr->c = c;
    wr->close_after = r->close_after || (c->want_close && c->head == NULL);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)r->response_len);
    req_free(r);
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
      free(wr->data);
      free(wr);
      conn_close(c);
      return;
    }
    if (wr->close_after)
      return;
  }
  if (c->paused && c->inflight < MAX_INFLIGHT && !c->closing) {
    c->paused = 0;
    resume(c);
  }
  arm_timer(c);
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
  int keep = !r->close_after && !c->want_close && !c->srv->stopping;
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
  memcpy(r->response + n, body, len);
  r->response_len = (size_t)n + len;
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

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = st->data;
  if (n > 0 && c->upgraded) {
    if (!c->closing && !c->shutting)
      c->ucb->on_data(c->uud, buf->base, (size_t)n);
  } else if (n > 0 && !c->closing && !c->want_close) {
    size_t done = http_parser_execute(&c->parser, &c->srv->settings, buf->base,
                                      (size_t)n);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (c->upgraded) { /* the handler took it: the rest is the new protocol */
      if (done < (size_t)n && !c->closing)
        c->ucb->on_data(c->uud, buf->base + done, (size_t)n - done);
    } else if (c->want_close) {
      /* an upgrade the handler refused: answered, closing; ignore the rest */
    } else if (e != HPE_OK || done != (size_t)n) {
      if (c->refusal == 431)
        refuse(c, 431, "headers_too_large",
               "the request headers are too large");
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
    } else if (c->inflight >= MAX_INFLIGHT) {
      c->paused = 1; /* enough pipelined: read on once answers went out */
      uv_read_stop(st);
    }
  } else if (n < 0) {
    conn_close(c); /* EOF or error */
  }
  free(buf->base);
}

static void resume(conn_t *c) {
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
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
  c->handles = 2;
  c->tcp.data = c->timer.data = c;
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
  arm_timer(c);
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
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
  sb_http_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  s->loop = loop;
  s->o = *o;
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
    snprintf(s->url, sizeof s->url, "http://%s:%d", ip, bport);
  } else {
    uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
    bport = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    snprintf(s->url, sizeof s->url, "http://[%s]:%d", ip, bport);
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
    if (c->upgraded && c->shutting)
      continue; /* closing gracefully, bounded by its timer */
    if (c->head == NULL)
      conn_close(c); /* nothing owed */
  }
  if (s->listener_open && !uv_is_closing((uv_handle_t *)&s->listener))
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
  else if (s->conns == NULL && done)
    done(arg);
}

void sb_http_free(sb_http_t *s) { free(s); }

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
  req_free(r);
  uv_timer_stop(&c->timer);
  if (sb_http_conn_write(c, head, len) != 0)
    return NULL; /* closing; on_close will be called */
  if (c->paused) {
    c->paused = 0;
    resume(c);
  }
  return c;
}

int sb_http_conn_write(sb_http_conn_t *c, const char *data, size_t len) {
  if (c->closing || c->shutting)
    return -1;
  write_t *wr = calloc(1, sizeof *wr);
  char *copy = malloc(len ? len : 1);
  if (wr == NULL || copy == NULL) {
    free(wr);
    free(copy);
    conn_close(c);
    return -1;
  }
  memcpy(copy, data, len);
  wr->data = copy;
  wr->c = c;
  uv_buf_t b = uv_buf_init(copy, (unsigned)len);
  if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
    free(copy);
    free(wr);
    conn_close(c);
    return -1;
  }
  return 0;
}

size_t sb_http_conn_queued(const sb_http_conn_t *c) {
  return c->closing ? 0 : c->tcp.write_queue_size;
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
  if (uv_shutdown(sh, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    free(sh);
    conn_close(c);
    return;
  }
  /* a client that reads nothing cannot hold it: on_timeout closes */
  uv_timer_start(&c->timer, on_timeout, (uint64_t)linger_ms, 0);
}
