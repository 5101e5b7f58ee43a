/* One PBX's manager session on a libuv loop (sb_ami_int.h).
 *
 *   resolve -> connect -> banner -> [Challenge] -> Login -> live
 *                                                 + QueueStatus and
 *                                                   CoreShowChannels
 *
 * Reading never waits for anything: every read is parsed at once and its
 * messages handed over synchronously (Asterisk cuts a session whose
 * writes stall for about 100 ms). Each action carries an ActionID of this
 * connection ("sb-<connection>-<n>"), so an answer meant for an earlier
 * connection never matches; a list action's items are the events carrying
 * its ActionID up to its EventList: Complete. Any failure (closed, timed
 * out, refused login, a Ping unanswered for ping_ms, Event: Shutdown, the
 * PBX not reading what we write) closes the connection and retries after
 * a backoff: reconnect_min_ms doubled per failure in a row up to
 * reconnect_max_ms, of which a random half to all (jitter); a session that
 * got resynchronised starts from the minimum again. */
#include "sb_ami_int.h"

#include "sb_log.h"
#include "sb_time.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_ACTIONS 8
#define BANNER_PREFIX "Asterisk Call Manager/"

typedef enum { A_CHALLENGE = 1, A_LOGIN, A_PING, A_LIST, A_LOGOFF } akind_t;

typedef struct {
  akind_t kind; /* 0: free */
  char id[32];
  const char *name; /* the action, for logs */
  int listing;      /* its EventList started */
  uint64_t deadline_ms;
} action_t;

typedef enum {
  S_WAIT = 1, /* backing off (or not started) */
  S_RESOLVE,
  S_CONNECT,
  S_BANNER,
  S_AUTH,
  S_LIVE,
} state_t;

/* A connection: its handle outlives the session's interest in it. */
typedef struct conn_s {
  uv_tcp_t tcp;
  uv_connect_t req;
  uv_shutdown_t shut;
  sb__ami_sess_t *s;
} conn_t;

typedef struct {
  uv_write_t req;
  size_t len;
  char buf[];
} wreq_t;

struct sb__ami_sess_s {
  uv_loop_t *loop;
  const sb_ami_pbx_t *pbx;
  sb__ami_opts_t o;
  sb__ami_handler_t h;
  void *ud;
  sb_ami_parser_t *parser;
  conn_t *conn; /* the current connection; NULL between them */
  uv_getaddrinfo_t gai;
  int resolving;
  uv_timer_t timer; /* backoff, and the deadline of the state */
  uv_timer_t tick;  /* keepalive and actions' deadlines */
  state_t state;
  int closing, open_handles;
  unsigned conn_no, seq;
  int attempt;          /* failures in a row */
  int lists_pending;    /* of the resynchronisation */
  int ping_out;         /* a Ping unanswered */
  unsigned rand_seed;
  action_t act[MAX_ACTIONS];
  sb__ami_stats_t st;
  char rbuf[64 * 1024];
};

static void connect_start(sb__ami_sess_t *s);
static void fail(sb__ami_sess_t *s, const char *why);

static uint64_t now_ms(const sb__ami_sess_t *s) { return uv_now(s->loop); }

/* ---- writing ------------------------------------------------------------*/

static void on_written(uv_write_t *req, int status) {
  (void)status; /* a failed write shows as a failed read too */
  wreq_t *w = (wreq_t *)req;
  OPENSSL_cleanse(w->buf, w->len); /* a login holds the secret */
  free(w);
}

/* Sends text (an action, with its empty line); 0, or -1 with the session
 * failed. */
static int send_text(sb__ami_sess_t *s, const char *text, size_t len) {
  if (s->conn == NULL)
    return -1;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&s->conn->tcp) + len >
      s->o.max_write_bytes) {
    fail(s, "the PBX is not reading what is sent to it");
    return -1;
  }
  wreq_t *w = malloc(sizeof *w + len);
  if (w == NULL) {
    fail(s, "out of memory");
    return -1;
  }
  memcpy(w->buf, text, len);
  w->len = len;
  uv_buf_t b = uv_buf_init(w->buf, (unsigned)len);
  int rc = uv_write(&w->req, (uv_stream_t *)&s->conn->tcp, &b, 1, on_written);
  if (rc != 0) {
    OPENSSL_cleanse(w->buf, len);
    free(w);
    fail(s, uv_strerror(rc));
    return -1;
  }
  return 0;
}

/* An action: "Action: name", an ActionID of this connection, then the
 * lines of extra (each "Key: value\r\n", may be ""). */
static action_t *send_action(sb__ami_sess_t *s, akind_t kind, const char *name,
                             const char *extra) {
  action_t *a = NULL;
  for (int i = 0; i < MAX_ACTIONS && a == NULL; i++)
    if (s->act[i].kind == 0)
      a = &s->act[i];
  if (a == NULL) {
    fail(s, "too many actions unanswered");
    return NULL;
  }
  a->kind = kind;
  a->name = name;
  a->listing = 0;
  a->deadline_ms = now_ms(s) + (uint64_t)s->o.timeout_ms;
  snprintf(a->id, sizeof a->id, "sb-%u-%u", s->conn_no, ++s->seq);
  char text[1024];
  int n = snprintf(text, sizeof text, "Action: %s\r\nActionID: %s\r\n%s\r\n",
                   name, a->id, extra);
  int rc = n > 0 && (size_t)n < sizeof text ? send_text(s, text, (size_t)n)
                                            : (fail(s, "an action too long"), -1);
  OPENSSL_cleanse(text, sizeof text);
  if (rc != 0) {
    a->kind = 0;
    return NULL;
  }
  return a;
}

static action_t *find_action(sb__ami_sess_t *s, const sb_ami_msg_t *m) {
  const char *id = sb_ami_get(m, "ActionID");
  if (id == NULL)
    return NULL;
  for (int i = 0; i < MAX_ACTIONS; i++)
    if (s->act[i].kind != 0 && strcmp(s->act[i].id, id) == 0)
      return &s->act[i];
  return NULL;
}

/* ---- the connection's life ----------------------------------------------*/

static void on_handle_closed(uv_handle_t *h) {
  sb__ami_sess_t *s = h->data;
  if (--s->open_handles == 0 && !s->resolving) {
    sb_ami_parser_free(s->parser);
    free(s);
  }
}

static void on_conn_closed(uv_handle_t *h) { free(h->data); }

static void drop_conn(sb__ami_sess_t *s) {
  conn_t *c = s->conn;
  if (c == NULL)
    return;
  s->conn = NULL;
  c->s = NULL; /* its callbacks from now on are stale */
  c->tcp.data = c;
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_timer(uv_timer_t *t);

static void arm(sb__ami_sess_t *s, uint64_t ms) {
  uv_timer_start(&s->timer, on_timer, ms, 0);
}

/* What kind of failure why is, in state st (for /v1/health: a class,
 * never the text, which may quote the PBX). */
static const char *error_class(state_t st, const char *why) {
  if (strcmp(why, "the PBX closed the connection") == 0)
    return SB_AMI_ERR_CLOSED;
  if (strcmp(why, "the PBX is shutting down") == 0)
    return SB_AMI_ERR_SHUTDOWN;
  if (strncmp(why, "no answer", 9) == 0 || strcmp(why, "connect timed out") == 0 ||
      strcmp(why, "no banner from the PBX") == 0)
    return SB_AMI_ERR_TIMEOUT;
  if (strcmp(why, "the PBX is not reading what is sent to it") == 0)
    return SB_AMI_ERR_STALLED;
  switch (st) {
  case S_RESOLVE:
  case S_CONNECT:
    return SB_AMI_ERR_CONNECT;
  case S_BANNER:
    return SB_AMI_ERR_BANNER;
  case S_AUTH:
    return SB_AMI_ERR_LOGIN;
  default:
    return SB_AMI_ERR_IO;
  }
}

/* Closes the connection and tries again after the backoff. */
static void fail(sb__ami_sess_t *s, const char *why) {
  if (s->closing || s->state == S_WAIT)
    return;
  int was_live = s->state == S_LIVE;
  snprintf(s->st.last_error, sizeof s->st.last_error, "%s",
           error_class(s->state, why));
  sb_log(was_live ? SB_LOG_WARN : SB_LOG_INFO, "ami",
         was_live ? "session lost; reconnecting" : "cannot log in; retrying",
         SB_F_STR("pbx", s->pbx->name), SB_F_STR("why", why), SB_F_END);
  drop_conn(s);
  if (s->resolving)
    uv_cancel((uv_req_t *)&s->gai);
  uv_timer_stop(&s->tick);
  memset(s->act, 0, sizeof s->act);
  s->lists_pending = 0;
  s->ping_out = 0;
  s->state = S_WAIT;
  if (was_live) {
    s->st.disconnects++;
    s->st.connected = 0;
    s->st.since_us = sb_time_now_micros();
    s->st.synced = 0;
    if (s->h.lost)
      s->h.lost(s->ud, s);
  }
  /* min doubled per failure in a row, up to max; a random half to all */
  uint64_t base = (uint64_t)s->o.reconnect_min_ms;
  for (int i = 0; i < s->attempt && base < (uint64_t)s->o.reconnect_max_ms; i++)
    base *= 2;
  if (base > (uint64_t)s->o.reconnect_max_ms)
    base = (uint64_t)s->o.reconnect_max_ms;
  if (s->attempt < 30)
    s->attempt++;
  uint64_t delay = base / 2 + (uint64_t)rand_r(&s->rand_seed) % (base / 2 + 1);
  arm(s, delay);
}

static void on_timer(uv_timer_t *t) {
  sb__ami_sess_t *s = t->data;
  switch (s->state) {
  case S_WAIT:
    connect_start(s);
    break;
  case S_RESOLVE:
  case S_CONNECT:
    fail(s, "connect timed out");
    break;
  case S_BANNER:
    fail(s, "no banner from the PBX");
    break;
  case S_AUTH:
    fail(s, "no answer to the login");
    break;
  case S_LIVE:
    break;
  }
}

/* Keepalive: a Ping each ping_ms, the previous one answered; and no
 * action waits past its deadline (a list's moves on with each item). */
static void on_tick(uv_timer_t *t) {
  sb__ami_sess_t *s = t->data;
  uint64_t now = now_ms(s);
  for (int i = 0; i < MAX_ACTIONS; i++)
    if (s->act[i].kind != 0 && s->act[i].kind != A_PING &&
        now > s->act[i].deadline_ms) {
      char why[96];
      snprintf(why, sizeof why, "no answer to %s", s->act[i].name);
      fail(s, why);
      return;
    }
  if (s->ping_out) {
    fail(s, "no answer to Ping");
    return;
  }
  if (send_action(s, A_PING, "Ping", "") != NULL)
    s->ping_out = 1;
}

/* ---- messages -----------------------------------------------------------*/

static void maybe_synced(sb__ami_sess_t *s) {
  if (s->lists_pending > 0 || s->state != S_LIVE || s->st.synced)
    return;
  s->st.synced = 1;
  s->st.resyncs++;
  s->attempt = 0;
  sb_log(SB_LOG_INFO, "ami", "resynchronised", SB_F_STR("pbx", s->pbx->name),
         SB_F_END);
  if (s->h.synced)
    s->h.synced(s->ud, s);
}

static void logged_in(sb__ami_sess_t *s) {
  s->state = S_LIVE;
  s->st.logins++;
  s->st.connected = 1;
  s->st.since_us = sb_time_now_micros();
  s->st.synced = 0;
  uv_timer_stop(&s->timer);
  uv_timer_start(&s->tick, on_tick, (uint64_t)s->o.ping_ms,
                 (uint64_t)s->o.ping_ms);
  sb_log(SB_LOG_INFO, "ami", "logged in", SB_F_STR("pbx", s->pbx->name),
         SB_F_STR("tenant", s->pbx->tenant), SB_F_END);
  /* what was missed while away: queues' members and callers, channels */
  if (s->h.resync)
    s->h.resync(s->ud, s);
  s->lists_pending = 2;
  if (send_action(s, A_LIST, "QueueStatus", "") == NULL ||
      send_action(s, A_LIST, "CoreShowChannels", "") == NULL)
    return;
}

static void login(sb__ami_sess_t *s, const char *challenge) {
  char extra[512], key[33];
  sb_err_t err = SB_ERR_INIT;
  const sb_ami_pbx_t *p = s->pbx;
  if (challenge != NULL) {
    if (sb__ami_md5_key(challenge, p->secret, key, &err) != 0) {
      fail(s, err.msg);
      return;
    }
    snprintf(extra, sizeof extra,
             "AuthType: MD5\r\nUsername: %s\r\nKey: %s\r\nEvents: %s\r\n",
             p->user, key, p->events);
    OPENSSL_cleanse(key, sizeof key);
  } else {
    snprintf(extra, sizeof extra,
             "Username: %s\r\nSecret: %s\r\nEvents: %s\r\n", p->user,
             p->secret, p->events);
  }
  send_action(s, A_LOGIN, "Login", extra);
  OPENSSL_cleanse(extra, sizeof extra);
}

static void on_response(sb__ami_sess_t *s, const sb_ami_msg_t *m) {
  action_t *a = find_action(s, m);
  if (a == NULL) { /* sb__ami_sess_send's, or of an action given up */
    if (s->state == S_LIVE && s->h.reply)
      s->h.reply(s->ud, s, m);
    return;
  }
  int ok = sb_ami_is(m, "Response", "Success");
  const char *msg = sb_ami_get(m, "Message");
  char why[256];
  switch (a->kind) {
  case A_CHALLENGE: {
    const char *ch = sb_ami_get(m, "Challenge");
    a->kind = 0;
    if (!ok || ch == NULL || *ch == '\0') {
      snprintf(why, sizeof why, "MD5 challenge refused: %.128s",
               msg ? msg : "no challenge");
      s->st.login_failures++;
      fail(s, why);
      return;
    }
    login(s, ch);
    return;
  }
  case A_LOGIN:
    a->kind = 0;
    if (!ok) {
      snprintf(why, sizeof why, "login refused: %.128s",
               msg ? msg : "no message");
      s->st.login_failures++;
      fail(s, why);
      return;
    }
    logged_in(s);
    return;
  case A_PING:
    a->kind = 0;
    s->ping_out = 0;
    return;
  case A_LIST:
    if (ok && sb_ami_is(m, "EventList", "start")) {
      a->listing = 1;
      a->deadline_ms = now_ms(s) + (uint64_t)s->o.timeout_ms;
      return;
    }
    if (!ok)
      sb_log(SB_LOG_WARN, "ami", "a resynchronisation list was refused",
             SB_F_STR("pbx", s->pbx->name), SB_F_STR("action", a->name),
             SB_F_STR("message", msg ? msg : ""), SB_F_END);
    a->kind = 0;
    s->lists_pending--;
    maybe_synced(s);
    return;
  case A_LOGOFF:
    a->kind = 0;
    return;
  }
}

static void on_event(sb__ami_sess_t *s, const sb_ami_msg_t *m) {
  action_t *a = find_action(s, m);
  if (a != NULL && a->kind == A_LIST) {
    const char *el = sb_ami_get(m, "EventList");
    if (el && (strcasecmp(el, "Complete") == 0 ||
               strcasecmp(el, "cancelled") == 0)) {
      a->kind = 0;
      s->lists_pending--;
      maybe_synced(s);
      return;
    }
    a->deadline_ms = now_ms(s) + (uint64_t)s->o.timeout_ms;
    s->st.list_items++;
    if (s->h.message)
      s->h.message(s->ud, s, SB__AMI_SYNC, m);
    return;
  }
  if (s->state != S_LIVE)
    return; /* FullyBooted and the like before the login's answer */
  if (sb_ami_is(m, "Event", "Shutdown")) {
    fail(s, "the PBX is shutting down");
    return;
  }
  s->st.events++;
  if (s->h.message)
    s->h.message(s->ud, s, SB__AMI_LIVE, m);
}

static int on_msg(void *ud, const sb_ami_msg_t *m) {
  sb__ami_sess_t *s = ud;
  unsigned conn = s->conn_no;
  switch (m->kind) {
  case SB_AMI_BANNER: {
    const char *b = m->fields[0].value;
    if (s->state != S_BANNER)
      break;
    if (strncmp(b, BANNER_PREFIX, sizeof BANNER_PREFIX - 1) != 0) {
      char why[160];
      snprintf(why, sizeof why, "not an Asterisk manager: banner '%.64s'", b);
      fail(s, why);
      break;
    }
    sb_log(SB_LOG_INFO, "ami", "connected", SB_F_STR("pbx", s->pbx->name),
           SB_F_STR("ami_version", b + sizeof BANNER_PREFIX - 1), SB_F_END);
    s->state = S_AUTH;
    if (s->pbx->md5)
      send_action(s, A_CHALLENGE, "Challenge", "AuthType: MD5\r\n");
    else
      login(s, NULL);
    break;
  }
  case SB_AMI_REFUSED: {
    s->st.refused++;
    /* what it was, when its first line says (never its values: PII) */
    const char *head = m->fields[0].value;
    char name[64] = "";
    if (strncasecmp(head, "Event: ", 7) == 0)
      snprintf(name, sizeof name, "%.48s", head + 7);
    sb_log(SB_LOG_WARN, "ami", "a message over ami.max_event_bytes was refused",
           SB_F_STR("pbx", s->pbx->name), SB_F_STR("event", name),
           SB_F_INT("bytes", (long long)m->bytes), SB_F_END);
    if (s->state == S_BANNER)
      fail(s, "the banner is too long");
    break;
  }
  case SB_AMI_RESPONSE:
    on_response(s, m);
    break;
  case SB_AMI_EVENT:
    on_event(s, m);
    break;
  case SB_AMI_OTHER:
    break;
  }
  /* a failure above dropped the connection: the rest of the read is
   * not its */
  return s->conn_no != conn || s->conn == NULL ? 1 : 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)hint;
  conn_t *c = h->data;
  if (c->s == NULL) {
    *b = uv_buf_init(NULL, 0);
    return;
  }
  *b = uv_buf_init(c->s->rbuf, sizeof c->s->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  conn_t *c = st->data;
  sb__ami_sess_t *s = c->s;
  (void)b;
  if (s == NULL || n == 0)
    return;
  if (n < 0) {
    fail(s, n == UV_EOF ? "the PBX closed the connection" : uv_strerror((int)n));
    return;
  }
  s->st.bytes_read += (uint64_t)n;
  int rc = sb_ami_parser_feed(s->parser, s->rbuf, (size_t)n, on_msg, s);
  if (rc == SB_ENOMEM)
    fail(s, "out of memory");
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  sb__ami_sess_t *s = c->s;
  if (s == NULL)
    return; /* given up meanwhile */
  if (status != 0) {
    fail(s, uv_strerror(status));
    return;
  }
  s->st.connects++;
  s->conn_no++;
  s->seq = 0;
  s->state = S_BANNER;
  sb_ami_parser_reset(s->parser);
  arm(s, (uint64_t)s->o.timeout_ms);
  int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc != 0)
    fail(s, uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai) {
  sb__ami_sess_t *s = g->data;
  s->resolving = 0;
  if (s->closing) {
    uv_freeaddrinfo(ai);
    if (s->open_handles == 0) {
      sb_ami_parser_free(s->parser);
      free(s);
    }
    return;
  }
  if (s->state != S_RESOLVE) { /* given up (timed out) meanwhile */
    uv_freeaddrinfo(ai);
    return;
  }
  if (status != 0 || ai == NULL) {
    uv_freeaddrinfo(ai);
    char why[160];
    snprintf(why, sizeof why, "cannot resolve '%.64s': %s", s->pbx->host,
             uv_strerror(status));
    fail(s, why);
    return;
  }
  conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) {
    uv_freeaddrinfo(ai);
    fail(s, "out of memory");
    return;
  }
  c->s = s;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  c->req.data = c;
  s->conn = c;
  s->state = S_CONNECT;
  uv_tcp_nodelay(&c->tcp, 1);
  int rc = uv_tcp_connect(&c->req, &c->tcp, ai->ai_addr, on_connect);
  uv_freeaddrinfo(ai);
  if (rc != 0)
    fail(s, uv_strerror(rc));
}

static void connect_start(sb__ami_sess_t *s) {
  if (s->resolving) { /* a lookup given up has not come back yet */
    arm(s, 100);
    return;
  }
  char port[8];
  snprintf(port, sizeof port, "%d", s->pbx->port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  s->state = S_RESOLVE;
  arm(s, (uint64_t)s->o.timeout_ms);
  s->gai.data = s;
  int rc = uv_getaddrinfo(s->loop, &s->gai, on_resolved, s->pbx->host, port,
                          &hints);
  if (rc != 0) {
    fail(s, uv_strerror(rc));
    return;
  }
  s->resolving = 1;
}

/* ---- life ---------------------------------------------------------------*/

int sb__ami_sess_new(uv_loop_t *loop, const sb_ami_pbx_t *pbx,
                     const sb__ami_opts_t *o, const sb__ami_handler_t *h,
                     void *ud, sb__ami_sess_t **out, sb_err_t *err) {
  *out = NULL;
  sb__ami_sess_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  sb_ami_parser_opts_t po = {.max_bytes = o->max_event_bytes,
                             .charset = pbx->charset[0] ? pbx->charset : NULL};
  int rc = sb_ami_parser_new(&po, &s->parser, err);
  if (rc != 0) {
    sb_err_prefix(err, "PBX %s: ", pbx->name);
    free(s);
    return rc;
  }
  s->loop = loop;
  s->pbx = pbx;
  s->o = *o;
  s->h = *h;
  s->ud = ud;
  s->rand_seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)s;
  uv_timer_init(loop, &s->timer);
  uv_timer_init(loop, &s->tick);
  s->timer.data = s->tick.data = s;
  s->open_handles = 2;
  s->state = S_WAIT;
  s->st.since_us = sb_time_now_micros();
  connect_start(s);
  *out = s;
  return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  conn_t *c = req->data;
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

void sb__ami_sess_close(sb__ami_sess_t *s) {
  if (s == NULL || s->closing)
    return;
  s->closing = 1;
  conn_t *c = s->conn;
  if (c != NULL && s->state == S_LIVE) {
    /* a Logoff, flushed before the connection is closed */
    send_action(s, A_LOGOFF, "Logoff", "");
    s->conn = NULL;
    c->s = NULL;
    c->tcp.data = c;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
      uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
  } else {
    drop_conn(s);
  }
  if (s->resolving)
    uv_cancel((uv_req_t *)&s->gai);
  uv_close((uv_handle_t *)&s->timer, on_handle_closed);
  uv_close((uv_handle_t *)&s->tick, on_handle_closed);
}

int sb__ami_sess_live(const sb__ami_sess_t *s) {
  return s != NULL && !s->closing && s->state == S_LIVE && s->conn != NULL;
}

int sb__ami_sess_send(sb__ami_sess_t *s, const char *text, size_t len) {
  if (!sb__ami_sess_live(s))
    return -1;
  return send_text(s, text, len);
}

const sb_ami_pbx_t *sb__ami_sess_pbx(const sb__ami_sess_t *s) { return s->pbx; }

void sb__ami_sess_stats(const sb__ami_sess_t *s, sb__ami_stats_t *out) {
  *out = s->st;
}

void sb__ami_sess_parse_stats(const sb__ami_sess_t *s,
                              sb_ami_parse_stats_t *out) {
  sb_ami_parser_stats(s->parser, out);
}

int sb__ami_md5_key(const char *challenge, const char *secret, char out[33],
                    sb_err_t *err) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
           EVP_DigestUpdate(ctx, challenge, strlen(challenge)) == 1 &&
           EVP_DigestUpdate(ctx, secret, strlen(secret)) == 1 &&
           EVP_DigestFinal_ex(ctx, md, &len) == 1 && len == 16;
  EVP_MD_CTX_free(ctx);
  if (!ok)
    return sb_err_set(err, SB_ECRYPTO, "MD5 is not available from OpenSSL");
  for (unsigned i = 0; i < 16; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
  OPENSSL_cleanse(md, sizeof md);
  return 0;
}
