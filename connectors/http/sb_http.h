/* The HTTP/1.1 server: libuv for the sockets, Debian's http-parser for the
 * protocol. Keep-alive and pipelining: requests of a connection are parsed
 * in order and answered in order, whenever each handler answers (handlers
 * may answer later, e.g. after Kafka acknowledged). Bounded: URL, headers,
 * body, requests in flight per connection, bytes of answers a connection
 * holds unwritten (reading pauses past it); a slow client is timed out; stop
 * is graceful (no new connections, answers in flight are written, idle
 * connections closed).
 *
 * Optionally HTTPS (OpenSSL, TLS 1.2 at least): a layer under the HTTP
 * parser and the upgraded connections, which see the same plaintext either
 * way. A handshake is bounded by request_timeout_ms.
 *
 * Everything runs on the loop's thread. */
#ifndef SB_HTTP_H
#define SB_HTTP_H

#include "sb_err.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <uv.h>

typedef struct sb_http_s sb_http_t;
typedef struct sb_http_req_s sb_http_req_t;

typedef void (*sb_http_handler_t)(sb_http_req_t *req, void *ud);

typedef struct sb_http_route_s {
  const char *method; /* "POST" */
  /* "/v1/events", exact; or a prefix ending in '/' ("/v1/analytics/"),
   * matching longer paths when no exact path does */
  const char *path;
  sb_http_handler_t fn;
} sb_http_route_t;

typedef struct sb_http_opts_s {
  const char *listen;            /* "127.0.0.1:8080" */
  size_t max_body;               /* 413 past it */
  /* bytes of answers a connection may hold unwritten (its client not
   * reading) before the server stops reading its next requests; 0: 1 MiB */
  size_t max_pending;
  int request_timeout_ms;        /* from a request's first byte to its end */
  int idle_timeout_ms;           /* keep-alive connection with nothing to do */
  const sb_http_route_t *routes; /* ends with {NULL} */
  void *ud;                      /* handed to the handlers */
  /* PEM files, read at start: the certificate chain (the server's first)
   * and its unencrypted private key. Both NULL: plain HTTP. */
  const char *tls_cert, *tls_key;
} sb_http_opts_t;

/* Listens. *out is owned by the caller: sb_http_stop then, from the done
 * callback or after the loop ran dry, sb_http_free. */
int sb_http_start(uv_loop_t *loop, const sb_http_opts_t *o, sb_http_t **out,
                  sb_err_t *err);
/* Loads the TLS certificate and key as sb_http_start will, and lets them
 * go: to fail at once, before anything is started. Both NULL: 0. The error
 * names the configuration key, the file and what to do. */
int sb_http_tls_check(const char *cert, const char *key, sb_err_t *err);
/* The bound address as "http://127.0.0.1:PORT", "https://..." with TLS
 * (port 0 picks one). */
const char *sb_http_url(const sb_http_t *s);
/* Stops accepting and closes connections once their answers are written;
 * done (may be NULL) runs when the last one is closed. */
void sb_http_stop(sb_http_t *s, void (*done)(void *), void *arg);
void sb_http_free(sb_http_t *s);

/* The request. Valid until answered. */
const char *sb_http_method(const sb_http_req_t *r);
const char *sb_http_path(const sb_http_req_t *r);
const char *sb_http_query(const sb_http_req_t *r); /* "" when none */
/* A header by name, case-insensitive; NULL when absent. */
const char *sb_http_header(const sb_http_req_t *r, const char *name);
/* The request's i-th header (0 <= i < sb_http_header_count), as sent:
 * 0 and *name, *value, or -1 past the end. */
int sb_http_header_count(const sb_http_req_t *r);
int sb_http_header_at(const sb_http_req_t *r, int i, const char **name,
                      const char **value);
const char *sb_http_body(const sb_http_req_t *r, size_t *len);
const char *sb_http_peer(const sb_http_req_t *r); /* client address */
/* Per-request data for a handler that answers later. */
void sb_http_set_user(sb_http_req_t *r, void *user);
void *sb_http_user(const sb_http_req_t *r);

/* Answers; the request is freed once written (or at once when its client
 * has gone). extra_headers: complete "Name: value\r\n" lines, or NULL. */
void sb_http_respond(sb_http_req_t *r, int status, const char *content_type,
                     const char *body, size_t len, const char *extra_headers);
/* Answers the JSON text of o (taken: deleted), one document and a
 * newline; 500 when it cannot be printed. */
void sb_http_respond_json(sb_http_req_t *r, int status, cJSON *o,
                          const char *extra_headers);
/* Answers {"error": {"status": N, "code": code, "message": message}}. */
void sb_http_error(sb_http_req_t *r, int status, const char *code,
                   const char *message, const char *extra_headers);

/* How sb_http_error answers r instead of its own form, for a handler that
 * serves another API's error bodies (the Schema Registry API's) and calls
 * code answering through sb_http_error (authentication). fn answers r; it
 * may call sb_http_error, which then answers in the own form. */
typedef void (*sb_http_error_fn)(sb_http_req_t *r, int status,
                                 const char *code, const char *message,
                                 const char *extra_headers);
void sb_http_set_error_form(sb_http_req_t *r, sb_http_error_fn fn);

/* 1 when the client of r has gone (answering is then harmless). */
int sb_http_gone(const sb_http_req_t *r);

/* ---- upgraded connections (WebSocket) ------------------------------------
 * A request carrying "Connection: Upgrade" is dispatched like any other; its
 * handler either answers it (an error: the connection is then closed after
 * the answer) or, synchronously, takes the connection over with
 * sb_http_upgrade. From then on the client's bytes go to on_data and
 * sb_http_conn_write sends; the HTTP timeouts no longer apply. on_close runs
 * once, when the connection is gone, whoever closed it; the connection must
 * not be used after. */
typedef struct conn_s sb_http_conn_t;

typedef struct sb_http_upgrade_cb_s {
  void (*on_data)(void *ud, const char *data, size_t len);
  void (*on_close)(void *ud);
} sb_http_upgrade_cb_t;

/* 1 when the client asked for a protocol upgrade. */
int sb_http_wants_upgrade(const sb_http_req_t *r);
/* Writes head (the complete "HTTP/1.1 101 ..." answer) and hands the
 * connection over; r is freed. NULL when it cannot be taken over (requests
 * pipelined before or after it, the server stopping): answer r then. cb
 * must outlive the connection. */
sb_http_conn_t *sb_http_upgrade(sb_http_req_t *r, const char *head, size_t len,
                                const sb_http_upgrade_cb_t *cb, void *ud);
/* Queues a copy of data. -1 when the connection is closing. */
int sb_http_conn_write(sb_http_conn_t *c, const char *data, size_t len);
/* Bytes queued and not yet taken by the kernel: how far the client lags
 * (with TLS, ciphertext bytes), each write waiting counted with its
 * bookkeeping. */
size_t sb_http_conn_queued(const sb_http_conn_t *c);
/* From now on what the client sends is read and dropped, never handed to
 * on_data: for a client being closed that must cost nothing more. (Read
 * rather than left with the kernel, so that closing the socket does not
 * reset the connection before the client has read its close frame.) */
void sb_http_conn_hold(sb_http_conn_t *c);
const char *sb_http_conn_peer(const sb_http_conn_t *c);
/* Fixes the kernel's send buffer of the connection (no autotuning), so a
 * client that stops reading holds a known amount. 0 or a libuv error. */
int sb_http_conn_sndbuf(sb_http_conn_t *c, int bytes);
/* Closes once what is queued is written (with TLS, then a close_notify),
 * or after linger_ms regardless (0: at once). on_close follows. */
void sb_http_conn_close(sb_http_conn_t *c, int linger_ms);

#endif
