/* Inside the HTTP server (sb_http.h), shared by its files only:
 *
 *   sb_http_server.c   listening, stopping
 *   sb_http_conn.c     a connection's life: accepted, read, paused and
 *                      resumed, timed out, closed
 *   sb_http_request.c  a request parsed within the limits, routed, and read
 *                      by its handler
 *   sb_http_respond.c  answers, in order, and the write path to the socket
 *   sb_http_tls.c      HTTPS: the TLS layer under the same plaintext path
 *   sb_http_upgrade.c  connections taken over by another protocol
 *
 * Everything runs on the loop's thread. */
#ifndef SB_HTTP_INT_H
#define SB_HTTP_INT_H

#include "sb_http.h"

#include <http_parser.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <uv.h>

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
  sb_http_error_fn error_form; /* sb_http_set_error_form; NULL: our own */
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
  int held; /* upgraded: what the client sends is dropped (sb_http_conn_hold) */
  int refusal; /* the HTTP status a callback refused the request with */
  int handles; /* open uv handles of this connection */
  char peer[64];
  /* once upgraded, the connection belongs to another protocol */
  int upgraded, shutting;
  const sb_http_upgrade_cb_t *ucb;
  void *uud;
  /* TLS, when the server has it: the socket carries ciphertext, and
   * everything from sb__http_conn_feed / sb__http_conn_send up is the same
   * plaintext path as for a plain connection. rbio takes the client's
   * ciphertext, wbio holds ours until flushed to the socket; both owned by ssl.
   */
  SSL *ssl;
  BIO *rbio, *wbio;
  uv_timer_t drain; /* after a pause: parses the rest, reads what is left in
                     * the TLS layer */
  int tls_up;       /* handshake finished */
  int tls_failed;   /* fatal TLS error: closing, the session unusable */
  int draining;     /* inside sb__http_tls_drain */
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

/* ---- between the server's files ---------------------------------------- */

/* sb_http_conn.c */
void sb__http_on_connection(uv_stream_t *server, int status);
void sb__http_conn_close(conn_t *c);
void sb__http_on_timeout(uv_timer_t *t);
void sb__http_arm_timer(conn_t *c);
int sb__http_must_pause(const conn_t *c);
void sb__http_maybe_resume(conn_t *c);
void sb__http_resume(conn_t *c);
void sb__http_conn_feed(conn_t *c, const char *data, size_t len);

/* sb_http_request.c */
void sb__http_req_free(sb_http_req_t *r); /* accepts NULL */
/* Points the parser's callbacks at the request's. */
void sb__http_parser_settings(http_parser_settings *s);

/* sb_http_respond.c */
size_t sb__http_out_queued(const conn_t *c);
int sb__http_sock_write(conn_t *c, char *data, size_t len, int close_after);
int sb__http_conn_send(conn_t *c, char *data, size_t len, int close_after);

/* sb_http_tls.c */
int sb__http_tls_flush(conn_t *c, int close_after);
void sb__http_tls_drain(conn_t *c);
int sb__http_tls_conn_init(conn_t *c);
int sb__http_tls_ctx_new(const char *cert, const char *key, SSL_CTX **out,
                         sb_err_t *err);

#endif
