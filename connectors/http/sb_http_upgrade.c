/* Connections taken over by another protocol (WebSocket). */
#include "sb_http_int.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

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
  sb__http_req_free(r);
  if (c->paused) {
    c->paused = 0;
    sb__http_resume(c);
  }
  return c;
}

int sb_http_conn_write(sb_http_conn_t *c, const char *data, size_t len) {
  if (c->closing || c->shutting)
    return -1;
  char *copy = malloc(len ? len : 1);
  if (copy == NULL) {
    sb__http_conn_close(c);
    return -1;
  }
  memcpy(copy, data, len);
  return sb__http_conn_send(c, copy, len, 0);
}

/* With TLS: ciphertext, which sb__http_tls_flush hands to libuv as it is made.
 */
size_t sb_http_conn_queued(const sb_http_conn_t *c) {
  return c->closing ? 0 : sb__http_out_queued(c);
}

void sb_http_conn_hold(sb_http_conn_t *c) {
  c->held = 1; /* sb__http_conn_feed drops what comes */
}

const char *sb_http_conn_peer(const sb_http_conn_t *c) { return c->peer; }

static void on_shutdown(uv_shutdown_t *sh, int status) {
  conn_t *c = sh->data;
  (void)status;
  free(sh);
  sb__http_conn_close(c);
}

void sb_http_conn_close(sb_http_conn_t *c, int linger_ms) {
  if (c->closing || c->shutting)
    return;
  c->shutting = 1;
  uv_shutdown_t *sh = linger_ms > 0 ? calloc(1, sizeof *sh) : NULL;
  if (sh == NULL) {
    sb__http_conn_close(c);
    return;
  }
  sh->data = c;
  if (c->ssl && c->tls_up && !c->tls_failed) {
    ERR_clear_error();
    SSL_shutdown(c->ssl); /* close_notify, before the TCP shutdown */
    ERR_clear_error();
    if (sb__http_tls_flush(c, 0) != 0) {
      free(sh);
      return; /* closing */
    }
  }
  if (uv_shutdown(sh, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    free(sh);
    sb__http_conn_close(c);
    return;
  }
  /* a client that reads nothing cannot hold it: sb__http_on_timeout closes */
  uv_timer_start(&c->timer, sb__http_on_timeout, (uint64_t)linger_ms, 0);
}

int sb_http_conn_sndbuf(sb_http_conn_t *c, int bytes) {
  int v = bytes;
  return c->closing ? -1 : uv_send_buffer_size((uv_handle_t *)&c->tcp, &v);
}
