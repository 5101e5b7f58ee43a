/* Fuzz target: the HTTP request path (sb_http.h), the real server on
 * 127.0.0.1 over real sockets, one libuv loop for the whole process.
 *
 * The input is what a client sends, after one control byte:
 *   bits 0-1  when the client half-closes (shutdown SHUT_WR):
 *             0 at once; 1 once answers stopped coming; 2 never (the
 *             server's request and idle timeouts close); 3 never, the
 *             server is stopped (gracefully) once it read everything, and
 *             a new one started
 *   bits 2-4  the bytes are written in pieces, the loop running between
 *   bits 5-7  them: cut at k/8 of the input, then at k/8 of the rest
 * Then the client reads until the server closes (200 ms at most, or 50 ms
 * of silence once all is sent and nothing is owed) and checks every answer
 * is well-formed HTTP/1.1 with a Content-Length, JSON when it says so. A
 * second client sends the first piece and resets the connection.
 * After each input every connection of the server must be gone (2 s at
 * most), and with it everything it allocated: leaks show under ASan.
 *
 * Routes: GET /v1/health (answers at once: query, header lookups), GET
 * /later (answers from a timer), POST /echo (the body back), GET /upgrade
 * (takes the connection over: echoes, 'q' closes), POST /v1/events (the
 * Authorization header's JWT verified with a fixed secret at a fixed time;
 * the body parsed like ingest does, single, batch or NDJSON, each event
 * through sb_codec_from_ce; "?later" answers from a timer).
 *
 * SB_FUZZ_HTTP_SHOW=1 prints what each input was answered. */
#include "sb_auth.h"
#include "sb_codec.h"
#include "sb_http.h"
#include "sb_log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Tokens of the seed corpus are signed with this, valid at FUZZ_NOW. */
#define FUZZ_SECRET "switchboard-fuzz-secret-32-byte!"
#define FUZZ_NOW 1767225600 /* 2026-01-01T00:00:00Z */
#define MAX_BODY 8192
#define EXCHANGE_MS 200
#define IDLE_MS 50 /* nothing more comes (server timeouts are 5 ms) */
#define DRAIN_MS 2000
#define MAX_READ (4 << 20)

static struct {
  uv_loop_t loop;
  sb_http_t *http;
  struct sockaddr_in addr;
  int handles;  /* the loop's handles when no client is connected */
  int owed;     /* answers owed from timers */
  int upgraded; /* upgraded connections open */
  int stopping; /* sb_http_stop called */
  int stopped;  /* and completed */
  sb_codec_t *codec;
} g;

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_http: %s%s%s\n", what, detail ? ": " : "",
          detail ? detail : "");
  abort();
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- handlers ---------------------------------------------------------- */

typedef struct {
  uv_timer_t timer;
  sb_http_req_t *r;
  int status;
  char *body;
} later_t;

static void later_freed(uv_handle_t *h) {
  later_t *l = h->data;
  free(l->body);
  free(l);
  g.owed--;
}

static void later_fire(uv_timer_t *t) {
  later_t *l = t->data;
  /* frees r instead when its client has gone */
  sb_http_respond(l->r, l->status, "application/json", l->body, strlen(l->body),
                  NULL);
  uv_close((uv_handle_t *)&l->timer, later_freed);
}

/* Answers r with body (taken) now, or from a timer when later. */
static void answer(sb_http_req_t *r, int status, char *body, int later) {
  later_t *l = later && body ? calloc(1, sizeof *l) : NULL;
  if (l == NULL) {
    if (body == NULL)
      sb_http_error(r, 500, "oom", "out of memory", NULL);
    else
      sb_http_respond(r, status, "application/json", body, strlen(body), NULL);
    free(body);
    return;
  }
  l->r = r;
  l->status = status;
  l->body = body;
  uv_timer_init(&g.loop, &l->timer);
  l->timer.data = l;
  uv_timer_start(&l->timer, later_fire, 0, 0);
  g.owed++;
}

static char *json_text(cJSON *o) {
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return text;
}

static void on_health(sb_http_req_t *r, void *ud) {
  static const char *const names[] = {"Host", "user-agent", "CONTENT-TYPE",
                                      "Authorization", "X-Missing"};
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "query", sb_http_query(r));
  cJSON_AddStringToObject(o, "path", sb_http_path(r));
  cJSON_AddStringToObject(o, "peer", sb_http_peer(r));
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const char *v = sb_http_header(r, names[i]);
    cJSON_AddNumberToObject(o, names[i], v ? (double)strlen(v) : -1);
  }
  answer(r, 200, json_text(o), 0);
}

static void on_later(sb_http_req_t *r, void *ud) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "query", sb_http_query(r));
  answer(r, 200, json_text(o), 1);
}

static void on_echo(sb_http_req_t *r, void *ud) {
  size_t len;
  const char *body = sb_http_body(r, &len);
  sb_http_respond(r, 200, "application/octet-stream", body, len, NULL);
}

typedef struct {
  sb_http_conn_t *c;
} upgraded_t;

static void up_data(void *ud, const char *data, size_t len) {
  upgraded_t *u = ud;
  if (sb_http_conn_write(u->c, data, len) != 0)
    return; /* closing: up_close follows */
  if (memchr(data, 'Q', len) != NULL)
    sb_http_conn_close(u->c, 0);
  else if (memchr(data, 'q', len) != NULL || sb_http_conn_queued(u->c) > 65536)
    sb_http_conn_close(u->c, 10);
}

static void up_close(void *ud) {
  free(ud);
  g.upgraded--;
}

static const sb_http_upgrade_cb_t up_cb = {up_data, up_close};

static void on_upgrade(sb_http_req_t *r, void *ud) {
  static const char head[] = "HTTP/1.1 101 Switching Protocols\r\n"
                             "Upgrade: echo\r\nConnection: Upgrade\r\n\r\n";
  upgraded_t *u = sb_http_wants_upgrade(r) ? calloc(1, sizeof *u) : NULL;
  if (u == NULL) {
    sb_http_error(r, 426, "upgrade_required", "ask for Upgrade: echo", NULL);
    return;
  }
  u->c = sb_http_upgrade(r, head, sizeof head - 1, &up_cb, u);
  if (u->c == NULL) {
    free(u);
    sb_http_error(r, 409, "cannot_upgrade", "not now", NULL);
    return;
  }
  g.upgraded++;
  (void)sb_http_conn_peer(u->c);
  sb_http_conn_sndbuf(u->c, 4096); /* a small one: writes queue up */
}

static int media_is(const char *ct, const char *want) {
  size_t n = strlen(want);
  return ct && strncasecmp(ct, want, n) == 0 &&
         (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* One event under the token's tenant: 1 when the codec took it. */
static int one_event(cJSON *ev, const sb_claims_t *who, cJSON *rejected) {
  sb_err_t err = SB_ERR_INIT;
  sb_record_t rec;
  if (cJSON_IsObject(ev) &&
      cJSON_GetObjectItemCaseSensitive(ev, "tenantid") == NULL)
    cJSON_AddStringToObject(ev, "tenantid", who->tenant);
  if (sb_codec_from_ce(g.codec, ev, SB_CE_GENERATE_ID, &rec, &err) == 0) {
    sb_record_clear(&rec);
    return 1;
  }
  cJSON_AddItemToArray(rejected, cJSON_CreateString(err.msg));
  return 0;
}

static void on_events(sb_http_req_t *r, void *ud) {
  const char *auth = sb_http_header(r, "Authorization");
  const char *token =
      auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
  sb_claims_t who;
  sb_err_t err = SB_ERR_INIT;
  memset(&who, 0, sizeof who);
  if (sb_jwt_verify((const unsigned char *)FUZZ_SECRET, strlen(FUZZ_SECRET),
                    token, FUZZ_NOW, &who, &err) != 0) {
    sb_http_error(r, 401, sb_auth_reason_name(who.reason), err.msg,
                  "WWW-Authenticate: Bearer realm=\"fuzz\"\r\n");
    return;
  }
  const char *ct = sb_http_header(r, "Content-Type");
  int ndjson = media_is(ct, "application/x-ndjson");
  int batch = media_is(ct, "application/cloudevents-batch+json");
  if (!ndjson && !batch && !media_is(ct, "application/json")) {
    sb_http_error(r, 415, "unsupported_media_type", "not JSON", NULL);
    return;
  }
  size_t len;
  const char *body = sb_http_body(r, &len);
  int accepted = 0;
  cJSON *rejected = cJSON_CreateArray(), *doc = NULL;
  if (ndjson) {
    for (const char *p = body, *end = body + len; p < end;) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
      sb_err_clear(&err);
      if (sb_json_parse(p, ll, &doc, &err) != 0)
        cJSON_AddItemToArray(rejected, cJSON_CreateString(err.msg));
      else
        accepted += one_event(doc, &who, rejected);
      cJSON_Delete(doc);
      doc = NULL;
      p += ll + 1;
    }
  } else if (sb_json_parse(body, len, &doc, &err) != 0) {
    cJSON_Delete(rejected);
    sb_http_error(r, 400, "malformed_json", err.msg, NULL);
    return;
  } else if (batch && cJSON_IsArray(doc)) {
    cJSON *ev;
    cJSON_ArrayForEach(ev, doc) accepted += one_event(ev, &who, rejected);
  } else {
    accepted += one_event(doc, &who, rejected);
  }
  cJSON_Delete(doc);
  int nrej = cJSON_GetArraySize(rejected);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "tenant", who.tenant);
  cJSON_AddNumberToObject(o, "accepted", accepted);
  cJSON_AddItemToObject(o, "rejected", rejected);
  int status = nrej == 0 ? 202 : accepted ? 207 : 400;
  answer(r, status, json_text(o), strstr(sb_http_query(r), "later") != NULL);
}

static const sb_http_route_t routes[] = {
    {"GET", "/v1/health", on_health},  {"GET", "/later", on_later},
    {"POST", "/echo", on_echo},        {"GET", "/upgrade", on_upgrade},
    {"POST", "/v1/events", on_events}, {NULL, NULL, NULL},
};

/* ---- the server -------------------------------------------------------- */

static void count_handle(uv_handle_t *h, void *arg) { (*(int *)arg)++; }

static int loop_handles(void) {
  int n = 0;
  uv_walk(&g.loop, count_handle, &n);
  return n;
}

static void start_server(void) {
  sb_http_opts_t o = {.listen = "127.0.0.1:0",
                      .max_body = MAX_BODY,
                      .request_timeout_ms = 5,
                      .idle_timeout_ms = 5,
                      .routes = routes};
  sb_err_t err = SB_ERR_INIT;
  if (sb_http_start(&g.loop, &o, &g.http, &err) != 0)
    die("sb_http_start", err.msg);
  const char *url = sb_http_url(g.http); /* http://127.0.0.1:PORT */
  memset(&g.addr, 0, sizeof g.addr);
  g.addr.sin_family = AF_INET;
  g.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  g.addr.sin_port = htons((uint16_t)strtol(strrchr(url, ':') + 1, NULL, 10));
  g.handles = loop_handles();
}

static void init(void) {
  static int done;
  if (done++)
    return;
  signal(SIGPIPE, SIG_IGN);
  sb_log_setup(SB_LOG_ERROR, SB_LOG_TEXT);
  sb_schemas_t *schemas;
  sb_err_t err = SB_ERR_INIT;
  if (sb_schemas_load(&schemas, &err) != 0 ||
      sb_codec_new(schemas, &g.codec, &err) != 0)
    die("codec", err.msg);
  uv_loop_init(&g.loop);
  start_server();
}

static void on_stopped(void *arg) { g.stopped = 1; }

static void stop_server(void) {
  if (!g.stopping)
    sb_http_stop(g.http, on_stopped, NULL);
  g.stopping = 1;
}

/* Runs the loop until the server holds no connection and owes nothing (or,
 * stopping, has closed everything). */
static void drain(void) {
  long long deadline = now_ms() + DRAIN_MS;
  while (g.owed != 0 || g.upgraded != 0 ||
         (g.stopping ? !g.stopped || loop_handles() != 0
                     : loop_handles() != g.handles)) {
    uv_run(&g.loop, UV_RUN_NOWAIT);
    if (now_ms() > deadline)
      die("the server kept a connection after its client left", NULL);
  }
}

/* ---- the client -------------------------------------------------------- */

static int client(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0)
    die("socket", strerror(errno));
  if (connect(fd, (struct sockaddr *)&g.addr, sizeof g.addr) != 0 &&
      errno != EINPROGRESS)
    die("connect", strerror(errno));
  return fd;
}

/* Closes with a reset: no TIME_WAIT left behind by millions of clients. */
static void client_reset(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

static void bad_answer(const char *why, const char *a, size_t left) {
  fprintf(stderr, "fuzz_http: %s:\n%.*s\n", why, (int)(left < 400 ? left : 400),
          a);
  abort();
}

/* The first "\r\n\r\n" in [a, a + n), or NULL (memmem is not POSIX). */
static const char *head_end(const char *a, size_t n) {
  const char *end = a + n;
  for (const char *p = a; end - p >= 4; p++) {
    if ((p = memchr(p, '\r', (size_t)(end - p) - 3)) == NULL)
      return NULL;
    if (memcmp(p, "\r\n\r\n", 4) == 0)
      return p;
  }
  return NULL;
}

/* The value of header name (with ": ") in the head [a, end) of an answer,
 * or NULL. */
static const char *head_value(const char *a, const char *end,
                              const char *name) {
  size_t n = strlen(name);
  for (const char *p = a; p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
      break;
    p = nl + 1; /* the next line; the first is the status line */
    if ((size_t)(end - p) > n && strncasecmp(p, name, n) == 0)
      return p + n;
  }
  return NULL;
}

/* Checks the bytes a client received: answers one after another, each
 * "HTTP/1.1 NNN ...", headers, Content-Length, that many bytes; after a 101
 * the connection speaks another protocol. complete: the server closed
 * cleanly, so the last answer must be whole. */
static void check_answers(const char *buf, size_t len, int complete) {
  size_t at = 0;
  while (at < len) {
    const char *a = buf + at;
    size_t left = len - at;
    if (memcmp(a, "HTTP/1.1 ", left < 9 ? left : 9) != 0)
      bad_answer("an answer does not start with HTTP/1.1", a, left);
    const char *end = head_end(a, left);
    if (end == NULL) {
      if (complete)
        bad_answer("an answer's head is cut short", a, left);
      return;
    }
    size_t head = (size_t)(end + 4 - a);
    if (head < 16 || a[9] < '1' || a[9] > '5' || a[10] < '0' || a[10] > '9' ||
        a[11] < '0' || a[11] > '9' || a[12] != ' ')
      bad_answer("bad status line", a, left);
    if (memcmp(a + 9, "101", 3) == 0)
      return;
    const char *cl = head_value(a, end, "Content-Length: ");
    if (cl == NULL)
      bad_answer("an answer without Content-Length", a, left);
    size_t n = strtoul(cl, NULL, 10);
    if (left - head < n) {
      if (complete)
        bad_answer("an answer's body is cut short", a, left);
      return;
    }
    const char *ct = head_value(a, end, "Content-Type: ");
    if (ct != NULL && strncmp(ct, "application/json\r\n", 18) == 0) {
      cJSON *j = cJSON_ParseWithLength(a + head, n);
      if (j == NULL)
        bad_answer("an answer says JSON and is not", a, left);
      cJSON_Delete(j);
    }
    at += head + n;
  }
}

/* Sends the pieces, half-closes as the control byte says, reads until the
 * server closes or EXCHANGE_MS passed. */
static void exchange(int mode, const uint8_t *data, const size_t cuts[3]) {
  static char *in; /* what the client received */
  int fd = client();
  size_t got = 0, sent = 0;
  int piece = 0, settle = 0, quiet = 0, shut = 0, eof = 0;
  long long last = now_ms(), deadline = last + EXCHANGE_MS;
  if (in == NULL && (in = malloc(MAX_READ)) == NULL)
    die("out of memory", NULL);
  while (now_ms() < deadline) {
    if (piece < 3 && settle == 0) {
      ssize_t n = sent < cuts[piece]
                      ? send(fd, data + sent, cuts[piece] - sent, MSG_NOSIGNAL)
                      : 0;
      if (n > 0)
        sent += (size_t)n, last = now_ms();
      else if (n < 0 && errno != EAGAIN && errno != ENOTCONN)
        break; /* the server closed and reset */
      if (sent == cuts[piece])
        piece++, settle = 2; /* let the server read this piece alone */
    } else if (settle > 0) {
      settle--;
    }
    if (piece == 3 && !shut &&
        (mode == 0 || (mode == 1 && quiet >= 4 && g.owed == 0))) {
      shutdown(fd, SHUT_WR);
      shut = 1;
    }
    if (piece == 3 && mode == 3 && settle <= 1)
      stop_server(); /* requests dispatched, answers from timers owed */
    uv_run(&g.loop, UV_RUN_NOWAIT);
    ssize_t n = recv(fd, in + got, MAX_READ - got, 0);
    if (n > 0) {
      got += (size_t)n, quiet = 0, last = now_ms();
      if (got == MAX_READ)
        die("the server answered more than 4 MiB", NULL);
    } else if (n == 0) {
      eof = 1;
      break;
    } else if (errno == EAGAIN || errno == ENOTCONN) {
      quiet++;
      if (piece == 3 && g.owed == 0 && now_ms() - last > IDLE_MS)
        break; /* e.g. an upgraded connection: no timeouts */
    } else {
      break; /* reset: the last answer may be cut */
    }
  }
  if (getenv("SB_FUZZ_HTTP_SHOW") != NULL) /* for looking at the corpus */
    fprintf(stderr, "---- mode %d, %s, %zu of %zu bytes sent, answers:\n%.*s\n",
            mode, eof ? "closed" : "not closed", sent, cuts[2], (int)got, in);
  check_answers(in, got, eof);
  client_reset(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init();
  if (size < 1)
    return 0;
  int mode = data[0] & 3;
  data++, size--;
  size_t cuts[3];
  cuts[0] = size * ((data[-1] >> 2) & 7) / 8;
  cuts[1] = cuts[0] + (size - cuts[0]) * ((data[-1] >> 5) & 7) / 8;
  cuts[2] = size;

  exchange(mode, data, cuts);
  if (mode == 3)
    stop_server();
  drain();
  if (g.stopping) { /* a new server for the next input */
    sb_http_free(g.http);
    g.stopping = g.stopped = 0;
    start_server();
  }

  /* a client that goes away mid-request */
  int fd = client();
  size_t part = cuts[0] ? cuts[0] : size / 2;
  for (int i = 0; i < 3; i++)
    uv_run(&g.loop, UV_RUN_NOWAIT); /* accepted */
  if (send(fd, data, part, MSG_NOSIGNAL) > 0)
    uv_run(&g.loop, UV_RUN_NOWAIT);
  client_reset(fd);
  drain();
  return 0;
}
