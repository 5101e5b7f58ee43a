/* Answers, in order, and the write path to the socket. */
#include "sb_http_int.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 201:
    return "Created";
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

/* Bytes the client has not taken yet and the server holds for it: in
 * libuv's queue, in the TLS layer, and the bookkeeping of each write. */
size_t sb__http_out_queued(const conn_t *c) {
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
    sb__http_conn_close(c);
    return;
  }
  free(wr);
  sb__http_maybe_resume(c); /* the client took some: it may send more */
}

/* Queues bytes on the socket as they are: what the kernel takes at once is
 * written at once (no request held), the rest waits in libuv. data:
 * malloc'd, taken (freed in every case). close_after: the connection closes
 * once everything queued is written. -1, and the connection closing, when
 * it cannot. */
int sb__http_sock_write(conn_t *c, char *data, size_t len, int close_after) {
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
      sb__http_conn_close(c);
      return -1;
    }
  }
  if (off == len && c->tcp.write_queue_size == 0) {
    free(data); /* all with the kernel */
    if (close_after)
      sb__http_conn_close(c);
    return 0;
  }
  write_t *wr = calloc(1, sizeof *wr);
  if (wr == NULL || len - off > UINT_MAX) {
    free(wr);
    free(data);
    sb__http_conn_close(c);
    return -1;
  }
  wr->data = data;
  wr->c = c;
  wr->close_after = close_after;
  uv_buf_t b = uv_buf_init(data + off, (unsigned)(len - off));
  if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
    free(data);
    free(wr);
    sb__http_conn_close(c);
    return -1;
  }
  c->wreqs++;
  return 0;
}

/* Sends plaintext, the same for every connection: as it is, or through TLS.
 * data: malloc'd, taken. close_after: the connection closes once it is
 * written (after TLS's close_notify). -1 when the connection is closing. */
int sb__http_conn_send(conn_t *c, char *data, size_t len, int close_after) {
  if (c->ssl == NULL)
    return sb__http_sock_write(c, data, len, close_after);
  int ok = !c->closing && c->tls_up && !c->tls_failed && len <= INT_MAX;
  if (ok && len > 0) {
    ERR_clear_error();
    /* a memory BIO takes everything: no partial writes, no retries */
    ok = SSL_write(c->ssl, data, (int)len) == (int)len;
  }
  free(data);
  if (!ok) {
    ERR_clear_error();
    sb__http_conn_close(c);
    return -1;
  }
  if (close_after) {
    ERR_clear_error();
    SSL_shutdown(c->ssl); /* close_notify, written with the rest */
  }
  return sb__http_tls_flush(c, close_after);
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
    r->response = NULL; /* ownership moves to sb__http_conn_send */
    int close_after = r->close_after || (c->want_close && c->head == NULL);
    sb__http_req_free(r);
    if (sb__http_conn_send(c, data, len, close_after) != 0 || close_after)
      return;
  }
  sb__http_maybe_resume(c);
  sb__http_arm_timer(c);
}

void sb_http_respond(sb_http_req_t *r, int status, const char *content_type,
                     const char *body, size_t len, const char *extra_headers) {
  if (r->response != NULL)
    return;              /* answered already */
  if (r->conn == NULL) { /* the client has gone */
    sb__http_req_free(r);
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
    sb__http_conn_close(c);
    return;
  }
  memcpy(r->response, head, (size_t)n);
  /* HEAD: the same head, Content-Length included, and no body */
  size_t blen = strcmp(r->method, "HEAD") == 0 ? 0 : len;
  memcpy(r->response + n, body, blen);
  r->response_len = (size_t)n + blen;
  flush(c);
}

void sb_http_set_error_form(sb_http_req_t *r, sb_http_error_fn fn) {
  r->error_form = fn;
}

void sb_http_error(sb_http_req_t *r, int status, const char *code,
                   const char *message, const char *extra_headers) {
  if (r->error_form != NULL) {
    sb_http_error_fn fn = r->error_form;
    r->error_form = NULL; /* fn may answer through here */
    fn(r, status, code, message, extra_headers);
    return;
  }
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

void sb_http_respond_json(sb_http_req_t *r, int status, cJSON *o,
                          const char *extra_headers) {
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  size_t n = text ? strlen(text) : 0;
  char *body = text ? malloc(n + 1) : NULL;
  if (body == NULL) {
    cJSON_free(text);
    sb_http_error(r, 500, "internal", "out of memory", NULL);
    return;
  }
  memcpy(body, text, n);
  cJSON_free(text);
  body[n] = '\n'; /* one JSON document a line, like the errors */
  sb_http_respond(r, status, "application/json", body, n + 1, extra_headers);
  free(body);
}
