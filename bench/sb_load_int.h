/* The inside of the network load generators (sb_load.h), shared by their
 * files: sb_load.c (the run: histogram, answers, clock, set-up, the HTTP
 * load), sb_load_req.c (requests), sb_load_conn.c (HTTP connections),
 * sb_load_ws.c (the WebSocket client), sb_load_fresh.c (the freshness
 * load). Not for use outside them. */
#ifndef SB_LOAD_INT_H
#define SB_LOAD_INT_H

#include "sb_load.h"

#include "sb_hub.h" /* sb_ws_accept_key */
#include "sb_time.h"
#include "sb_ulid.h"

#include <cjson/cJSON.h>
#include <http_parser.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>
#include <wslay/wslay.h>

#define READ_BUF (256 * 1024) /* one read of any connection; shared */
#define SLACK 64              /* kept free after an event: ',' ']' an id */
#define ID_INSERT 34          /* "id":"<26>", */
#define MIN_EVENT_ROOM 1024
#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 1000
#define RECONNECT_MS 100
#define HTTP_TICK_MS 5
#define MAX_SERVER_BATCH 10000
#define NS 1000000000ull
#define MS 1000000ull

typedef struct run_s run_t;

/* ---- latency histogram (sb_load.c) */

#define H_SUB 6
#define H_MAXE 40
#define H_N ((H_MAXE - H_SUB + 2) << H_SUB)

typedef struct {
  uint64_t n, max, b[H_N];
} hist_t;

/* ---- requests -------------------------------------------------------------
 * A request's buffer holds room for the head, then the body; the head is
 * written right-aligned in front of the body once its length is known, so
 * the wire bytes are buf[start, end) without copying. Each event's bytes are
 * remembered, so that the items a server asks to retry are sent again
 * alone. */

typedef struct {
  uint32_t off, len; /* the event's bytes in buf */
  uint32_t tag;      /* freshness: index in the run's event table */
} item_t;

typedef struct req_s {
  struct req_s *next;
  uv_write_t wr;
  int writing; /* a uv_write holds it */
  int done;    /* answered or handed on: recycled once not writing */
  int array;   /* a batch content type */
  char *buf;
  size_t cap, start, end;
  item_t *items;
  int n, items_cap;
  int attempts;
  uint64_t sent_ns, ready_ns;
} req_t;

enum { C_DOWN, C_CONNECTING, C_UP, C_CLOSING };

typedef struct conn_s {
  run_t *r;
  uv_tcp_t tcp;
  uv_connect_t creq;
  http_parser hp;
  int state, handle_open, ever_up;
  req_t *head, *tail; /* written, answered in this order */
  int inflight;
  char *body;
  size_t body_len, body_cap;
  uint64_t retry_at_ns;
} conn_t;

/* ---- freshness state ---------------------------------------------------- */

enum { E_NEW, E_ACKED, E_DUP, E_REJECTED };

typedef struct {
  char id[SB_ULID_LEN + 1];
  uint8_t state;
  uint64_t sent_ns, ack_ns, arr_ns; /* 0: not yet */
} fev_t;

enum { W_CONNECTING, W_HANDSHAKE, W_WELCOME, W_SUBSCRIBING, W_SUBSCRIBED };

typedef struct ws_s {
  run_t *r;
  uv_tcp_t tcp;
  uv_connect_t creq;
  int state, handle_open, upgraded;
  http_parser hp;
  char want_accept[29];
  char hname[64], hval[128];
  size_t hname_len, hval_len;
  int in_value, accept_ok, headers_done;
  char errbody[512];
  size_t errbody_len;
  int message_done;
  wslay_event_context_ptr ctx;
  const uint8_t *in;
  size_t in_len;
  uint64_t read_ns; /* when the bytes being fed arrived */
} ws_t;

typedef struct {
  ws_t ws;
  const sb_load_fresh_opts_t *o;
  double rate, seconds;
  int max_batch, grace_ms;
  fev_t *ev;
  uint64_t nev, total;
  uint32_t *ht; /* id hash -> index + 1 */
  size_t ht_mask;
  int posting, posted_all;
  uint64_t t0, last_ack_ns, arrived;
  uint64_t acked, acked_arrived; /* E_ACKED events, and those seen */
  uint64_t max_behind_ns;
  uint64_t foreign, rejected, duplicates;
  int64_t unix_minus_hr_ns; /* CLOCK_REALTIME - uv_hrtime() at the start */
} fresh_t;

/* ---- the run ------------------------------------------------------------ */

struct run_s {
  uv_loop_t loop;
  uv_timer_t timer;
  int timer_open;
  http_parser_settings hps;
  char url[512];
  char hostport[300];
  struct sockaddr_storage addr;
  const char *token;
  char *head_single, *head_batch; /* up to "Content-Length: " */
  size_t head_single_len, head_batch_len, room;
  int nconns, pipeline, batch, ndjson, max_retries, stall_ms, tick_ms;
  sb_load_next_cb next;
  void *next_arg;
  sb_load_default_t def;
  sb_load_progress_cb progress;
  void *progress_arg;
  conn_t *conns;
  req_t *free_reqs;
  req_t *wait_head, *wait_tail; /* to send, by ready_ns */
  uint64_t inflight;
  uint64_t to_offer, offered;
  int exhausted, any_up;
  /* counters */
  uint64_t accepted, duplicates, rejected, requests, retries, errors,
      reconnects, bytes_sent, bytes_recv;
  hist_t lat;
  uint64_t t0, t_end, last_answer_ns;
  uint64_t prog_last_ns, prog_last_events;
  int finishing;
  sb_err_t err;
  char first_error[256];
  char *rbuf;
  fresh_t *f; /* NULL: the HTTP load */
};

/* sb_load.c */
int sb__load_all_idx(const req_t *q, int *which);
void sb__load_answer(run_t *r, req_t *q, int status, const char *body,
                     size_t len);
void sb__load_body_message(const char *body, size_t len, char *out, size_t cap);
int sb__load_fail(run_t *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t sb__load_hist_q(const hist_t *h, double q);
void sb__load_maybe_finish(run_t *r);
double sb__load_ms_of_us(uint64_t us);
void sb__load_note_error(run_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sb__load_run_free(run_t *r);
int sb__load_run_init(run_t *r, const char *url, const char *token, int nconns,
                      int pipeline, int ndjson, sb_err_t *err);
void sb__load_run_loop(run_t *r, sb_load_cpu_t *cpu);
void sb__load_start_timer(run_t *r, int ms);
void sb__load_use_source(run_t *r, sb_load_next_cb next, void *arg);
/* sb_load_req.c */
void sb__load_fresh_mark(run_t *r, const req_t *q, int i, int state,
                         uint64_t now);
req_t *sb__load_next_req(run_t *r);
void sb__load_req_free_all(req_t *q);
void sb__load_req_put(run_t *r, req_t *q);
void sb__load_retry(run_t *r, const req_t *q, const int *which, int n,
                    int backoff);
/* sb_load_conn.c */
int sb__load_conn_connect(conn_t *c);
void sb__load_conn_fill(conn_t *c);
int sb__load_hp_begin(http_parser *p);
int sb__load_hp_body(http_parser *p, const char *at, size_t len);
int sb__load_hp_complete(http_parser *p);
void sb__load_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
void sb__load_on_conn_closed(uv_handle_t *h);
void sb__load_on_written(uv_write_t *w, int status);
/* sb_load_ws.c */
void sb__load_ws_close(ws_t *w);
void sb__load_ws_on_connect(uv_connect_t *cr, int status);
/* sb_load_fresh.c */
int sb__load_fresh_register(run_t *r, char *buf, size_t *len, uint32_t *tag);
int64_t sb__load_ht_get(const fresh_t *f, const char *id, size_t n);

#endif
