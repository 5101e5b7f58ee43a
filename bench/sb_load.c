#define _GNU_SOURCE /* RUSAGE_THREAD */
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

/* ---- latency histogram: 64 sub-buckets a power of two (within 1.6 %),
 * microseconds up to 2^40 (12 days); bounded memory however long the run */

#define H_SUB 6
#define H_MAXE 40
#define H_N ((H_MAXE - H_SUB + 2) << H_SUB)

typedef struct {
  uint64_t n, max, b[H_N];
} hist_t;

static size_t h_index(uint64_t v) {
  if (v >= (1ull << H_MAXE))
    v = (1ull << H_MAXE) - 1;
  if (v < (1u << H_SUB))
    return (size_t)v;
  int e = 63 - __builtin_clzll(v); /* >= H_SUB */
  return ((size_t)(e - H_SUB + 1) << H_SUB) +
         (size_t)((v >> (e - H_SUB)) - (1u << H_SUB));
}

static void hist_add(hist_t *h, uint64_t v) {
  h->b[h_index(v)]++;
  h->n++;
  if (v > h->max)
    h->max = v;
}

/* The middle of the bucket holding the q-quantile, never above the max. */
static uint64_t hist_q(const hist_t *h, double q) {
  if (h->n == 0)
    return 0;
  uint64_t rank = (uint64_t)(q * (double)h->n + 0.999999), seen = 0;
  if (rank < 1)
    rank = 1;
  for (size_t i = 0; i < H_N; i++) {
    seen += h->b[i];
    if (seen < rank)
      continue;
    if (i < (1u << H_SUB))
      return i;
    int e = (int)(i >> H_SUB) + H_SUB - 1;
    uint64_t lo = ((i & ((1u << H_SUB) - 1)) + (1u << H_SUB)) << (e - H_SUB);
    uint64_t mid = lo + ((1ull << (e - H_SUB)) >> 1);
    return mid < h->max ? mid : h->max;
  }
  return h->max;
}

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

static void finish(run_t *r);
static void conn_fill(conn_t *c);
static void maybe_finish(run_t *r);

static int fail(run_t *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(run_t *r, int code, const char *fmt, ...) {
  char msg[SB_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sb_err_set(&r->err, code, "%s", msg);
  finish(r);
  return code;
}

static void note_error(run_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note_error(run_t *r, const char *fmt, ...) {
  if (r->first_error[0])
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->first_error, sizeof r->first_error, fmt, ap);
  va_end(ap);
}

/* ---- the default events ------------------------------------------------- */

void sb_load_default_init(sb_load_default_t *d) {
  unsigned char b[4] = {0};
  memset(d, 0, sizeof *d);
  if (RAND_bytes(b, sizeof b) != 1) {
    uint64_t t = uv_hrtime();
    memcpy(b, &t, sizeof b);
  }
  snprintf(d->prefix, sizeof d->prefix, "%02x%02x%02x%02x", b[0], b[1], b[2],
           b[3]);
}

int sb_load_default_event(void *arg, char *buf, size_t cap, size_t *len) {
  static const char *const sources[] = {
      "web_form", "landing_page", "facebook",     "google_ads",
      "referral", "api",          "inbound_call", "email"};
  sb_load_default_t *d = arg;
  char ts[40];
  sb_time_format(sb_time_now_micros() / 1000000 * 1000000, ts, sizeof ts);
  unsigned long long k = (unsigned long long)d->n;
  int n = snprintf(buf, cap,
                   "{\"specversion\":\"1.0\",\"type\":\"lead.created\","
                   "\"source\":\"crm://bench\",\"subject\":\"lead-%s-%llu\","
                   "\"time\":\"%s\",\"data\":{\"lead_source\":\"%s\","
                   "\"email\":\"lead-%llu@example.com\"}}",
                   d->prefix, k, ts,
                   sources[k % (sizeof sources / sizeof sources[0])], k);
  if (n < 0)
    return SB_EINTERNAL;
  *len = (size_t)n;
  if ((size_t)n >= cap)
    return SB_EINVAL;
  d->n++;
  return 0;
}

/* ---- freshness: the event table ----------------------------------------- */

static uint64_t id_hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static void ht_put(fresh_t *f, uint64_t idx) {
  const char *id = f->ev[idx].id;
  size_t i = (size_t)id_hash(id, strlen(id)) & f->ht_mask;
  while (f->ht[i] != 0)
    i = (i + 1) & f->ht_mask;
  f->ht[i] = (uint32_t)(idx + 1);
}

static int64_t ht_get(const fresh_t *f, const char *id, size_t n) {
  size_t i = (size_t)id_hash(id, n) & f->ht_mask;
  while (f->ht[i] != 0) {
    const char *have = f->ev[f->ht[i] - 1].id;
    if (strlen(have) == n && memcmp(have, id, n) == 0)
      return (int64_t)f->ht[i] - 1;
    i = (i + 1) & f->ht_mask;
  }
  return -1;
}

/* Registers the event just written at buf: its own id, or a new ULID
 * inserted after the opening brace (the caller left SLACK bytes free). */
static int fresh_register(run_t *r, char *buf, size_t *len, uint32_t *tag) {
  fresh_t *f = r->f;
  cJSON *j = cJSON_ParseWithLength(buf, *len);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return fail(r, SB_EINVAL,
                "the event source wrote something that is not "
                "a JSON object: %.80s",
                buf);
  }
  fev_t *e = &f->ev[f->nev];
  memset(e, 0, sizeof *e);
  cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
  if (cJSON_IsString(id)) {
    if (strlen(id->valuestring) > SB_ULID_LEN) {
      cJSON_Delete(j);
      return fail(r, SB_EINVAL, "event id '%.40s' is not a ULID",
                  id->valuestring);
    }
    snprintf(e->id, sizeof e->id, "%s", id->valuestring);
  } else if (id == NULL) {
    sb_err_t uerr = SB_ERR_INIT;
    char *brace = memchr(buf, '{', *len);
    if (sb_ulid_new(e->id, &uerr) != 0 || brace == NULL) {
      cJSON_Delete(j);
      return fail(r, uerr.code ? uerr.code : SB_EINTERNAL, "%s", uerr.msg);
    }
    size_t at = (size_t)(brace - buf) + 1;
    memmove(buf + at + ID_INSERT, buf + at, *len - at);
    memcpy(buf + at, "\"id\":\"", 6);
    memcpy(buf + at + 6, e->id, SB_ULID_LEN);
    memcpy(buf + at + 6 + SB_ULID_LEN, "\",", 2);
    *len += ID_INSERT;
  } else {
    cJSON_Delete(j);
    return fail(r, SB_EINVAL, "an event's id is not a string");
  }
  cJSON_Delete(j);
  *tag = (uint32_t)f->nev;
  ht_put(f, f->nev++);
  return 0;
}

/* ---- requests --------------------------------------------------------- */

static req_t *req_get(run_t *r) {
  req_t *q = r->free_reqs;
  if (q) {
    r->free_reqs = q->next;
  } else if ((q = calloc(1, sizeof *q)) == NULL) {
    return NULL;
  }
  q->next = NULL;
  q->writing = q->done = q->array = 0;
  q->n = 0;
  q->attempts = 0;
  q->start = q->end = 0;
  q->sent_ns = q->ready_ns = 0;
  return q;
}

static void req_put(run_t *r, req_t *q) {
  q->done = 1;
  if (q->writing)
    return; /* on_written recycles it */
  q->next = r->free_reqs;
  r->free_reqs = q;
}

static void req_free_all(req_t *q) {
  while (q) {
    req_t *n = q->next;
    free(q->buf);
    free(q->items);
    free(q);
    q = n;
  }
}

static int req_reserve(req_t *q, size_t need) {
  if (need <= q->cap)
    return 0;
  size_t cap = q->cap ? q->cap : 16384;
  while (cap < need)
    cap *= 2;
  char *b = realloc(q->buf, cap);
  if (b == NULL)
    return -1;
  q->buf = b;
  q->cap = cap;
  return 0;
}

static int req_item(req_t *q, size_t off, size_t len, uint32_t tag) {
  if (q->n == q->items_cap) {
    int cap = q->items_cap ? q->items_cap * 2 : 128;
    item_t *it = realloc(q->items, (size_t)cap * sizeof *it);
    if (it == NULL)
      return -1;
    q->items = it;
    q->items_cap = cap;
  }
  q->items[q->n++] = (item_t){(uint32_t)off, (uint32_t)len, tag};
  return 0;
}

/* Writes the head in front of the body, which ends at pos. */
static void req_seal(run_t *r, req_t *q, size_t pos) {
  char cl[32];
  int cn = snprintf(cl, sizeof cl, "%zu\r\n\r\n", pos - r->room);
  const char *h = q->array ? r->head_batch : r->head_single;
  size_t hl = q->array ? r->head_batch_len : r->head_single_len;
  q->start = r->room - hl - (size_t)cn;
  memcpy(q->buf + q->start, h, hl);
  memcpy(q->buf + q->start + hl, cl, (size_t)cn);
  q->end = pos;
}

/* A new request of up to k events from the source; *out NULL when the
 * source has none left. */
static int req_build(run_t *r, int k, req_t **out) {
  *out = NULL;
  req_t *q = req_get(r);
  int rc = 0;
  if (q == NULL)
    return fail(r, SB_ENOMEM, "out of memory");
  q->array = r->f != NULL || r->batch > 1;
  int json_array = q->array && !r->ndjson;
  size_t pos = r->room;
  if (req_reserve(q, pos + MIN_EVENT_ROOM + SLACK) != 0)
    goto nomem;
  if (json_array)
    q->buf[pos++] = '[';
  for (int i = 0; i < k && !r->exhausted; i++) {
    if (r->f == NULL && r->offered >= r->to_offer)
      break;
    if (req_reserve(q, pos + MIN_EVENT_ROOM + SLACK) != 0)
      goto nomem;
    size_t sep = json_array && q->n > 0 ? 1 : 0;
    size_t len = 0;
    uint32_t tag = 0;
    for (;;) {
      size_t avail = q->cap - pos - sep - SLACK;
      rc = r->next(r->next_arg, q->buf + pos + sep, avail, &len);
      if (rc != SB_EINVAL || len < avail)
        break;
      if (req_reserve(q, pos + sep + len + SLACK + 1) != 0)
        goto nomem;
    }
    if (rc == 1) {
      r->exhausted = 1;
      rc = 0;
      break;
    }
    if (rc != 0) {
      rc = fail(r, rc < 0 ? rc : SB_EINTERNAL, "the event source failed (%s)",
                sb_strerror(rc));
      goto bad;
    }
    if (sep)
      q->buf[pos++] = ',';
    if (r->f && (rc = fresh_register(r, q->buf + pos, &len, &tag)) != 0)
      goto bad;
    if (req_item(q, pos, len, tag) != 0)
      goto nomem;
    pos += len;
    if (q->array && r->ndjson)
      q->buf[pos++] = '\n';
    r->offered++;
  }
  if (q->n == 0) {
    req_put(r, q);
    return 0;
  }
  if (json_array)
    q->buf[pos++] = ']';
  req_seal(r, q, pos);
  *out = q;
  return 0;
nomem:
  rc = fail(r, SB_ENOMEM, "out of memory");
bad:
  req_put(r, q);
  return rc;
}

/* A request of the items which[0..n) of old, to send again. */
static req_t *req_rebuild(run_t *r, const req_t *old, const int *which, int n) {
  req_t *q = req_get(r);
  if (q == NULL)
    return NULL;
  q->array = old->array;
  int json_array = q->array && !r->ndjson;
  size_t need = r->room + 2;
  for (int i = 0; i < n; i++)
    need += old->items[which[i]].len + 2;
  if (req_reserve(q, need) != 0) {
    req_put(r, q);
    return NULL;
  }
  size_t pos = r->room;
  if (json_array)
    q->buf[pos++] = '[';
  for (int i = 0; i < n; i++) {
    const item_t *it = &old->items[which[i]];
    if (json_array && i > 0)
      q->buf[pos++] = ',';
    memcpy(q->buf + pos, old->buf + it->off, it->len);
    if (req_item(q, pos, it->len, it->tag) != 0) {
      req_put(r, q);
      return NULL;
    }
    pos += it->len;
    if (q->array && r->ndjson)
      q->buf[pos++] = '\n';
  }
  if (json_array)
    q->buf[pos++] = ']';
  req_seal(r, q, pos);
  q->attempts = old->attempts;
  return q;
}

/* Queues q to be sent once ready_ns has come, in order of readiness. */
static void wait_insert(run_t *r, req_t *q) {
  req_t **pp = &r->wait_head;
  if (r->wait_tail && r->wait_tail->ready_ns <= q->ready_ns)
    pp = &r->wait_tail->next; /* the usual case: at the end */
  else
    while (*pp && (*pp)->ready_ns <= q->ready_ns)
      pp = &(*pp)->next;
  q->next = *pp;
  *pp = q;
  if (q->next == NULL)
    r->wait_tail = q;
}

static req_t *wait_pop_ready(run_t *r, uint64_t now) {
  req_t *q = r->wait_head;
  if (q == NULL || q->ready_ns > now)
    return NULL;
  r->wait_head = q->next;
  if (r->wait_head == NULL)
    r->wait_tail = NULL;
  q->next = NULL;
  return q;
}

static void fresh_mark(run_t *r, const req_t *q, int i, int state,
                       uint64_t now) {
  fev_t *e = &r->f->ev[q->items[i].tag];
  e->state = (uint8_t)state;
  if (state == E_ACKED) {
    e->ack_ns = now;
    e->sent_ns = q->sent_ns;
    r->f->last_ack_ns = now;
    r->f->acked++;
    r->f->acked_arrived += e->arr_ns != 0;
  } else if (state == E_DUP) {
    r->f->duplicates++;
  } else if (state == E_REJECTED) {
    r->f->rejected++;
  }
}

/* Sends which[0..n) of q again after a back-off (none: at once); or, past
 * max_retries, counts them rejected. */
static void retry(run_t *r, const req_t *q, const int *which, int n,
                  int backoff) {
  uint64_t now = uv_hrtime();
  int attempts = q->attempts + 1;
  if (attempts > r->max_retries) {
    r->rejected += (uint64_t)n;
    note_error(r, "gave up on %d event(s) after %d retries", n, r->max_retries);
    if (r->f)
      for (int i = 0; i < n; i++)
        fresh_mark(r, q, which[i], E_REJECTED, now);
    return;
  }
  req_t *nq = req_rebuild(r, q, which, n);
  if (nq == NULL) {
    fail(r, SB_ENOMEM, "out of memory");
    return;
  }
  nq->attempts = attempts;
  uint64_t ms = 0;
  if (backoff) {
    int sh = attempts - 1 < 7 ? attempts - 1 : 7;
    ms = (uint64_t)BACKOFF_MIN_MS << sh;
    if (ms > BACKOFF_MAX_MS)
      ms = BACKOFF_MAX_MS;
  }
  nq->ready_ns = now + ms * MS;
  wait_insert(r, nq);
  r->retries++;
}

/* Freshness: the events due by now that are not out yet, in one request
 * (up to max_batch). Open loop: a connection free every tick takes
 * rate * tick events; when the server falls behind, the events due
 * meanwhile go out together in larger batches, and max_behind says by how
 * much the posting lagged the schedule. */
static req_t *fresh_next(run_t *r, uint64_t now) {
  fresh_t *f = r->f;
  if (!f->posting || f->posted_all)
    return NULL;
  double el = (double)(now - f->t0) / 1e9;
  uint64_t due = el >= f->seconds ? f->total : (uint64_t)(f->rate * el);
  if (due > f->total)
    due = f->total;
  if (due <= r->offered)
    return NULL;
  uint64_t k = due - r->offered;
  uint64_t sched = f->t0 + (uint64_t)((double)r->offered / f->rate * 1e9);
  if (now > sched && now - sched > f->max_behind_ns)
    f->max_behind_ns = now - sched;
  req_t *q = NULL;
  req_build(r, (int)(k < (uint64_t)f->max_batch ? k : (uint64_t)f->max_batch),
            &q);
  if (r->offered >= f->total || r->exhausted)
    f->posted_all = 1;
  return q;
}

/* The next request to send: a ready one waiting, else a new one; NULL
 * when there is none now. */
static req_t *next_req(run_t *r) {
  if (r->finishing)
    return NULL;
  uint64_t now = uv_hrtime();
  req_t *q = wait_pop_ready(r, now);
  if (q != NULL)
    return q;
  if (r->f != NULL)
    return fresh_next(r, now);
  if (r->exhausted || r->offered >= r->to_offer)
    return NULL;
  req_build(r, r->batch, &q);
  return q;
}

/* ---- answers ------------------------------------------------------------ */

static int all_idx(const req_t *q, int *which) {
  for (int i = 0; i < q->n; i++)
    which[i] = i;
  return q->n;
}

/* The server's message from an error body, for people. */
static void body_message(const char *body, size_t len, char *out, size_t cap) {
  cJSON *j = cJSON_ParseWithLength(body, len);
  cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
  cJSON *m = e ? cJSON_GetObjectItemCaseSensitive(e, "message") : NULL;
  if (cJSON_IsString(m))
    snprintf(out, cap, "%s", m->valuestring);
  else
    snprintf(out, cap, "%.*s", (int)(len > 200 ? 200 : len), body);
  cJSON_Delete(j);
  size_t n = strlen(out);
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
    out[--n] = '\0';
}

static void answer(run_t *r, req_t *q, int status, const char *body,
                   size_t len) {
  uint64_t now = uv_hrtime();
  r->requests++;
  r->last_answer_ns = now;
  r->t_end = now;
  hist_add(&r->lat, (now - q->sent_ns) / 1000);
  int *which = malloc((size_t)q->n * sizeof *which);
  if (which == NULL) {
    fail(r, SB_ENOMEM, "out of memory");
    return;
  }
  if (status == 409 || status == 429 || status == 503 || status == 408 ||
      status == 502 || status == 504) {
    /* nothing was produced: the same request again, after a while */
    r->errors++;
    char msg[200];
    body_message(body, len, msg, sizeof msg);
    note_error(r, "%d: %s", status, msg);
    retry(r, q, which, all_idx(q, which), 1);
  } else if (status == 202 || status == 207 || status == 400 || status == 403) {
    if (status != 202 && status != 207)
      r->errors++;
    cJSON *j = cJSON_ParseWithLength(body, len);
    cJSON *acc = j ? cJSON_GetObjectItemCaseSensitive(j, "accepted") : NULL;
    cJSON *rej = j ? cJSON_GetObjectItemCaseSensitive(j, "rejected") : NULL;
    int nretry = 0;
    if (!cJSON_IsArray(acc) || !cJSON_IsArray(rej)) {
      char msg[200];
      body_message(body, len, msg, sizeof msg);
      if (status == 202 || status == 207) {
        cJSON_Delete(j);
        free(which);
        fail(r, SB_EDECODE, "a %d answer without accepted/rejected lists: %s",
             status, msg);
        return;
      }
      /* the whole request refused (malformed JSON, not an array...) */
      r->rejected += (uint64_t)q->n;
      note_error(r, "%d: %s", status, msg);
      if (r->f)
        for (int i = 0; i < q->n; i++)
          fresh_mark(r, q, i, E_REJECTED, now);
    } else {
      cJSON *it;
      cJSON_ArrayForEach(it, acc) {
        cJSON *ix = cJSON_GetObjectItemCaseSensitive(it, "index");
        int i = cJSON_IsNumber(ix) ? ix->valueint : -1;
        if (i < 0 || i >= q->n)
          continue;
        int dup =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "duplicate"));
        r->accepted++;
        r->duplicates += (uint64_t)dup;
        if (r->f)
          fresh_mark(r, q, i, dup ? E_DUP : E_ACKED, now);
      }
      cJSON_ArrayForEach(it, rej) {
        cJSON *ix = cJSON_GetObjectItemCaseSensitive(it, "index");
        cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "status");
        int i = cJSON_IsNumber(ix) ? ix->valueint : -1;
        int s = cJSON_IsNumber(st) ? st->valueint : 0;
        if (i < 0 || i >= q->n)
          continue;
        if (s == 409 || s == 429 || s == 503) { /* 409: in flight */
          which[nretry++] = i;
          continue;
        }
        r->rejected++;
        cJSON *msg = cJSON_GetObjectItemCaseSensitive(it, "error");
        note_error(r, "%d: %s", s, cJSON_IsString(msg) ? msg->valuestring : "");
        if (r->f)
          fresh_mark(r, q, i, E_REJECTED, now);
      }
    }
    cJSON_Delete(j);
    if (nretry > 0)
      retry(r, q, which, nretry, 1);
  } else {
    /* no retry mends a bad token, URL, size or content type */
    char msg[200];
    body_message(body, len, msg, sizeof msg);
    free(which);
    fail(r, SB_EUNAVAIL, "POST %s/v1/events answered %d: %s", r->url, status,
         msg);
    return;
  }
  free(which);
}

/* ---- connections ------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)hint;
  run_t *r = h->loop->data;
  *b = uv_buf_init(r->rbuf, READ_BUF);
}

static void on_conn_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  c->handle_open = 0;
  c->state = C_DOWN;
  c->retry_at_ns = uv_hrtime() + RECONNECT_MS * MS;
}

/* Closes c; what it had in flight is sent again (ready at once), not lost. */
static void conn_lost(conn_t *c, int status) {
  run_t *r = c->r;
  if (c->state == C_CLOSING || c->state == C_DOWN)
    return;
  int was_up = c->state == C_UP;
  c->state = C_CLOSING;
  for (req_t *q = c->head, *n; q; q = n) {
    n = q->next;
    if (!r->finishing) {
      int *which = malloc((size_t)q->n * sizeof *which);
      if (which == NULL) {
        fail(r, SB_ENOMEM, "out of memory");
      } else {
        retry(r, q, which, all_idx(q, which), 0);
        free(which);
      }
    }
    req_put(r, q);
  }
  r->inflight -= (uint64_t)c->inflight;
  c->head = c->tail = NULL;
  c->inflight = 0;
  if (was_up && !r->finishing) {
    r->reconnects++;
    if (status < 0)
      note_error(r, "connection lost: %s", uv_strerror(status));
  }
  if (c->handle_open && !uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_written(uv_write_t *w, int status) {
  (void)status; /* a failed write shows as a failed read */
  req_t *q = w->data;
  run_t *r = w->handle->loop->data;
  q->writing = 0;
  if (q->done)
    req_put(r, q);
}

static void conn_send(conn_t *c, req_t *q) {
  run_t *r = c->r;
  q->next = NULL;
  if (c->tail)
    c->tail->next = q;
  else
    c->head = q;
  c->tail = q;
  c->inflight++;
  r->inflight++;
  q->sent_ns = uv_hrtime();
  uv_buf_t b = uv_buf_init(q->buf + q->start, (unsigned)(q->end - q->start));
  r->bytes_sent += b.len;
  int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (n == (int)b.len)
    return;
  if (n < 0 && n != UV_EAGAIN) {
    conn_lost(c, n);
    return;
  }
  if (n > 0) {
    b.base += n;
    b.len -= (unsigned)n;
  }
  q->writing = 1;
  q->wr.data = q;
  int rc = uv_write(&q->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written);
  if (rc != 0) {
    q->writing = 0;
    conn_lost(c, rc);
  }
}

static void conn_fill(conn_t *c) {
  run_t *r = c->r;
  while (c->state == C_UP && c->inflight < r->pipeline && !r->finishing) {
    req_t *q = next_req(r);
    if (q == NULL)
      break;
    conn_send(c, q);
  }
}

static int hp_begin(http_parser *p) {
  ((conn_t *)p->data)->body_len = 0;
  return 0;
}

static int hp_body(http_parser *p, const char *at, size_t len) {
  conn_t *c = p->data;
  if (c->body_len + len + 1 > c->body_cap) {
    size_t cap = c->body_cap ? c->body_cap : 65536;
    while (cap < c->body_len + len + 1)
      cap *= 2;
    char *b = realloc(c->body, cap);
    if (b == NULL)
      return -1;
    c->body = b;
    c->body_cap = cap;
  }
  memcpy(c->body + c->body_len, at, len);
  c->body_len += len;
  return 0;
}

static int hp_complete(http_parser *p) {
  conn_t *c = p->data;
  run_t *r = c->r;
  req_t *q = c->head;
  if (q == NULL) {
    fail(r, SB_EDECODE, "an answer came for no request");
    return -1;
  }
  c->head = q->next;
  if (c->head == NULL)
    c->tail = NULL;
  c->inflight--;
  r->inflight--;
  int keep = http_should_keep_alive(p);
  answer(r, q, (int)p->status_code, c->body ? c->body : "", c->body_len);
  req_put(r, q);
  if (!keep || r->finishing) {
    conn_lost(c, 0);
    return -1; /* stop parsing: the connection is gone */
  }
  return 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  conn_t *c = s->data;
  run_t *r = c->r;
  if (n == 0)
    return;
  if (n < 0) {
    conn_lost(c, (int)n);
    return;
  }
  r->bytes_recv += (uint64_t)n;
  size_t used = http_parser_execute(&c->hp, &r->hps, b->base, (size_t)n);
  if (c->state != C_UP)
    return; /* closed from a callback */
  if (c->hp.http_errno != HPE_OK || used != (size_t)n) {
    fail(r, SB_EDECODE, "bad HTTP answer from %s: %s", r->url,
         http_errno_description(HTTP_PARSER_ERRNO(&c->hp)));
    return;
  }
  conn_fill(c);
  if (r->f == NULL)
    maybe_finish(r);
}

static void on_connect(uv_connect_t *cr, int status) {
  conn_t *c = cr->data;
  run_t *r = c->r;
  if (r->finishing || c->state != C_CONNECTING)
    return;
  if (status < 0) {
    if (!r->any_up) {
      fail(r, SB_EIO, "cannot connect to %s: %s", r->url, uv_strerror(status));
      return;
    }
    note_error(r, "connect: %s", uv_strerror(status));
    c->state = C_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    return;
  }
  c->state = C_UP;
  c->ever_up = r->any_up = 1;
  http_parser_init(&c->hp, HTTP_RESPONSE);
  c->hp.data = c;
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  conn_fill(c);
}

static int conn_connect(conn_t *c) {
  run_t *r = c->r;
  uv_tcp_init(&r->loop, &c->tcp);
  c->tcp.data = c;
  c->handle_open = 1;
  uv_tcp_nodelay(&c->tcp, 1);
  c->creq.data = c;
  c->state = C_CONNECTING;
  int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&r->addr,
                          on_connect);
  if (rc != 0) {
    c->state = C_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    return fail(r, SB_EIO, "cannot connect to %s: %s", r->url, uv_strerror(rc));
  }
  return 0;
}

/* ---- the WebSocket client ------------------------------------------------ */

static void ws_write_done(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

/* Writes what the kernel takes now, a copy of the rest later. */
static int ws_write(ws_t *w, const void *data, size_t len) {
  if (!w->handle_open || uv_is_closing((uv_handle_t *)&w->tcp))
    return -1;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int n = uv_try_write((uv_stream_t *)&w->tcp, &b, 1);
  if (n == (int)len)
    return 0;
  if (n < 0 && n != UV_EAGAIN)
    return -1;
  size_t done = n > 0 ? (size_t)n : 0;
  uv_write_t *wr = malloc(sizeof *wr + len - done);
  if (wr == NULL)
    return -1;
  char *copy = (char *)(wr + 1);
  memcpy(copy, (const char *)data + done, len - done);
  b = uv_buf_init(copy, (unsigned)(len - done));
  if (uv_write(wr, (uv_stream_t *)&w->tcp, &b, 1, ws_write_done) != 0) {
    free(wr);
    return -1;
  }
  return 0;
}

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                          int flags, void *ud) {
  (void)flags;
  ws_t *w = ud;
  if (w->in_len == 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = len < w->in_len ? len : w->in_len;
  memcpy(buf, w->in, n);
  w->in += n;
  w->in_len -= n;
  return (ssize_t)n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data,
                          size_t len, int flags, void *ud) {
  (void)flags;
  if (ws_write(ud, data, len) != 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return (ssize_t)len;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                         void *ud) {
  (void)ctx;
  (void)ud;
  return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static void ws_send_text(ws_t *w, const char *text) {
  struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text,
                              strlen(text)};
  if (wslay_event_queue_msg(w->ctx, &m) == 0)
    wslay_event_send(w->ctx);
}

static void ws_subscribe(ws_t *w) {
  run_t *r = w->r;
  const sb_load_fresh_opts_t *o = r->f->o;
  static const char *const def_topics[] = {"sb.leads", NULL};
  static const char *const def_types[] = {"lead.created", NULL};
  const char *const *topics = o->topics ? o->topics : def_topics;
  const char *const *types = o->topics ? o->types : def_types;
  cJSON *doc = cJSON_CreateObject();
  cJSON *s = cJSON_AddObjectToObject(doc, "subscribe");
  cJSON *t = cJSON_AddArrayToObject(s, "topics");
  for (size_t i = 0; topics[i]; i++)
    cJSON_AddItemToArray(t, cJSON_CreateString(topics[i]));
  if (types) {
    cJSON *ty = cJSON_AddArrayToObject(s, "types");
    for (size_t i = 0; types[i]; i++)
      cJSON_AddItemToArray(ty, cJSON_CreateString(types[i]));
  }
  char *text = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  if (text == NULL) {
    fail(r, SB_ENOMEM, "out of memory");
    return;
  }
  ws_send_text(w, text);
  cJSON_free(text);
  w->state = W_SUBSCRIBING;
}

/* A live event: matched by id to what this run posted. */
static void fresh_arrival(run_t *r, const uint8_t *msg, size_t len) {
  fresh_t *f = r->f;
  cJSON *j = cJSON_ParseWithLength((const char *)msg, len);
  cJSON *id = j ? cJSON_GetObjectItemCaseSensitive(j, "id") : NULL;
  int64_t i = cJSON_IsString(id)
                  ? ht_get(f, id->valuestring, strlen(id->valuestring))
                  : -1;
  if (i < 0) {
    cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    if (e != NULL) {
      cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
      note_error(r, "hub: %s", cJSON_IsString(m) ? m->valuestring : "error");
    } else {
      f->foreign++;
    }
  } else if (f->ev[i].arr_ns == 0) {
    f->ev[i].arr_ns = f->ws.read_ns;
    f->arrived++;
    f->acked_arrived += f->ev[i].state == E_ACKED;
  }
  cJSON_Delete(j);
}

static void ws_on_msg(wslay_event_context_ptr ctx,
                      const struct wslay_event_on_msg_recv_arg *arg, void *ud) {
  (void)ctx;
  ws_t *w = ud;
  run_t *r = w->r;
  if (r->finishing)
    return;
  if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
    size_t rl = arg->msg_length > 2 ? arg->msg_length - 2 : 0;
    fail(r, SB_EUNAVAIL, "the hub closed the stream: %u %.*s",
         (unsigned)arg->status_code, (int)rl, (const char *)arg->msg + 2);
    return;
  }
  if (arg->opcode != WSLAY_TEXT_FRAME)
    return;
  if (w->state == W_SUBSCRIBED) {
    fresh_arrival(r, arg->msg, arg->msg_length);
    return;
  }
  cJSON *j = cJSON_ParseWithLength((const char *)arg->msg, arg->msg_length);
  cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
  if (e != NULL) {
    cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    fail(r, SB_EUNAVAIL, "the hub refused the subscription: %s",
         cJSON_IsString(m) ? m->valuestring : "(no message)");
  } else if (j && w->state == W_WELCOME &&
             cJSON_GetObjectItemCaseSensitive(j, "welcome")) {
    ws_subscribe(w);
  } else if (j && w->state == W_SUBSCRIBING &&
             cJSON_GetObjectItemCaseSensitive(j, "subscribed")) {
    w->state = W_SUBSCRIBED;
    r->f->posting = 1;
    r->f->t0 = r->t0 = r->last_answer_ns = r->prog_last_ns = uv_hrtime();
  }
  cJSON_Delete(j);
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .genmask_callback = ws_genmask_cb,
    .on_msg_recv_callback = ws_on_msg,
};

/* The handshake's answer, through http-parser. */
static void ws_header_done(ws_t *w) {
  if (w->hname_len == 0)
    return;
  w->hname[w->hname_len] = w->hval[w->hval_len] = '\0';
  if (strcasecmp(w->hname, "Sec-WebSocket-Accept") == 0)
    w->accept_ok = strcmp(w->hval, w->want_accept) == 0;
  w->hname_len = w->hval_len = 0;
  w->in_value = 0;
}

static int ws_hp_field(http_parser *p, const char *at, size_t len) {
  ws_t *w = p->data;
  if (w->in_value)
    ws_header_done(w);
  size_t n = len < sizeof w->hname - 1 - w->hname_len
                 ? len
                 : sizeof w->hname - 1 - w->hname_len;
  memcpy(w->hname + w->hname_len, at, n);
  w->hname_len += n;
  return 0;
}

static int ws_hp_value(http_parser *p, const char *at, size_t len) {
  ws_t *w = p->data;
  size_t n = len < sizeof w->hval - 1 - w->hval_len
                 ? len
                 : sizeof w->hval - 1 - w->hval_len;
  memcpy(w->hval + w->hval_len, at, n);
  w->hval_len += n;
  w->in_value = 1;
  return 0;
}

static int ws_hp_headers(http_parser *p) {
  ws_t *w = p->data;
  ws_header_done(w);
  w->headers_done = 1;
  return p->status_code == 101 ? 1 : 0; /* no body after a 101 */
}

static int ws_hp_body(http_parser *p, const char *at, size_t len) {
  ws_t *w = p->data;
  size_t n = len < sizeof w->errbody - 1 - w->errbody_len
                 ? len
                 : sizeof w->errbody - 1 - w->errbody_len;
  memcpy(w->errbody + w->errbody_len, at, n);
  w->errbody_len += n;
  return 0;
}

static int ws_hp_complete(http_parser *p) {
  ((ws_t *)p->data)->message_done = 1;
  return 0;
}

static const http_parser_settings ws_hps = {
    .on_header_field = ws_hp_field,
    .on_header_value = ws_hp_value,
    .on_headers_complete = ws_hp_headers,
    .on_body = ws_hp_body,
    .on_message_complete = ws_hp_complete,
};

static void ws_closed(uv_handle_t *h) { ((ws_t *)h->data)->handle_open = 0; }

static void ws_feed(ws_t *w, const char *data, size_t len) {
  run_t *r = w->r;
  w->in = (const uint8_t *)data;
  w->in_len = len;
  int rc = wslay_event_recv(w->ctx);
  w->in = NULL;
  w->in_len = 0;
  if (r->finishing)
    return;
  if (rc != 0) {
    fail(r, SB_EDECODE, "the WebSocket stream broke (wslay error %d)", rc);
    return;
  }
  wslay_event_send(w->ctx); /* pongs */
}

static void ws_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  ws_t *w = s->data;
  run_t *r = w->r;
  if (n == 0 || r->finishing)
    return;
  if (n < 0) {
    fail(r, SB_EIO, "the WebSocket connection to %s/v1/stream closed: %s",
         r->url, uv_strerror((int)n));
    return;
  }
  w->read_ns = uv_hrtime();
  r->bytes_recv += (uint64_t)n;
  if (w->upgraded) {
    ws_feed(w, b->base, (size_t)n);
    return;
  }
  size_t used = http_parser_execute(&w->hp, &ws_hps, b->base, (size_t)n);
  if (!w->hp.upgrade) {
    if (w->hp.http_errno != HPE_OK)
      fail(r, SB_EDECODE, "bad handshake answer from %s/v1/stream: %s", r->url,
           http_errno_description(HTTP_PARSER_ERRNO(&w->hp)));
    else if (w->message_done || (w->headers_done && w->hp.status_code != 101 &&
                                 w->errbody_len == sizeof w->errbody - 1)) {
      char msg[200];
      body_message(w->errbody, w->errbody_len, msg, sizeof msg);
      fail(r, SB_EUNAVAIL, "GET %s/v1/stream answered %d: %s", r->url,
           (int)w->hp.status_code, msg);
    }
    return; /* more of the head to come */
  }
  if (w->hp.status_code != 101 || !w->accept_ok) {
    fail(r, SB_EUNAVAIL,
         "GET %s/v1/stream: the upgrade answer (%d) lacks the right "
         "Sec-WebSocket-Accept",
         r->url, (int)w->hp.status_code);
    return;
  }
  if (wslay_event_context_client_init(&w->ctx, &ws_callbacks, w) != 0) {
    fail(r, SB_ENOMEM, "out of memory");
    return;
  }
  wslay_event_config_set_max_recv_msg_length(w->ctx, 16u << 20);
  w->upgraded = 1;
  w->state = W_WELCOME;
  if (used < (size_t)n)
    ws_feed(w, b->base + used, (size_t)n - used);
}

static void ws_on_connect(uv_connect_t *cr, int status) {
  ws_t *w = cr->data;
  run_t *r = w->r;
  if (r->finishing)
    return;
  if (status < 0) {
    fail(r, SB_EIO, "cannot connect to %s: %s", r->url, uv_strerror(status));
    return;
  }
  unsigned char raw[16];
  char key[32];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    fail(r, SB_ECRYPTO, "OpenSSL RAND_bytes failed");
    return;
  }
  EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw); /* 24 chars */
  if (sb_ws_accept_key(key, w->want_accept) != 0) {
    fail(r, SB_EINTERNAL, "cannot compute Sec-WebSocket-Accept");
    return;
  }
  size_t cap = 512 + strlen(r->token) + strlen(r->hostport);
  char *req = malloc(cap);
  if (req == NULL) {
    fail(r, SB_ENOMEM, "out of memory");
    return;
  }
  int n =
      snprintf(req, cap,
               "GET /v1/stream HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n"
               "User-Agent: switchboard-bench/%s\r\n\r\n",
               r->hostport, key, r->token, SB_VERSION);
  http_parser_init(&w->hp, HTTP_RESPONSE);
  w->hp.data = w;
  w->state = W_HANDSHAKE;
  uv_tcp_nodelay(&w->tcp, 1);
  uv_read_start((uv_stream_t *)&w->tcp, on_alloc, ws_on_read);
  if (ws_write(w, req, (size_t)n) != 0)
    fail(r, SB_EIO, "cannot write to %s", r->url);
  free(req);
}

static void ws_close(ws_t *w) {
  if (w->ctx && w->handle_open && !uv_is_closing((uv_handle_t *)&w->tcp)) {
    wslay_event_queue_close(w->ctx, WSLAY_CODE_NORMAL_CLOSURE,
                            (const uint8_t *)"done", 4);
    wslay_event_send(w->ctx);
  }
  if (w->handle_open && !uv_is_closing((uv_handle_t *)&w->tcp))
    uv_close((uv_handle_t *)&w->tcp, ws_closed);
}

/* ---- the run's clock ----------------------------------------------------- */

static void maybe_finish(run_t *r) {
  if (r->finishing || r->inflight > 0 || r->wait_head != NULL)
    return;
  if (r->f == NULL) {
    if (r->exhausted || r->offered >= r->to_offer)
      finish(r);
    return;
  }
  fresh_t *f = r->f;
  if (!f->posted_all)
    return;
  if (f->acked_arrived == f->acked ||
      uv_hrtime() - f->last_ack_ns > (uint64_t)f->grace_ms * MS)
    finish(r);
}

static void report(run_t *r, uint64_t now) {
  if (r->progress == NULL || now <= r->prog_last_ns)
    return;
  sb_load_progress_t p = {
      .seconds = (double)(now - r->t0) / 1e9,
      .events = r->accepted,
      .rate = (double)(r->accepted - r->prog_last_events) /
              ((double)(now - r->prog_last_ns) / 1e9),
      .received = r->f ? r->f->arrived : 0,
      .inflight = r->inflight,
  };
  r->prog_last_ns = now;
  r->prog_last_events = r->accepted;
  r->progress(r->progress_arg, &p);
}

static void on_tick(uv_timer_t *t) {
  run_t *r = t->data;
  uint64_t now = uv_hrtime();
  if (r->finishing)
    return;
  int started = r->f == NULL || r->f->posting;
  for (int i = 0; i < r->nconns && !r->finishing; i++) {
    conn_t *c = &r->conns[i];
    if (c->state == C_DOWN && now >= c->retry_at_ns)
      conn_connect(c);
    else if (c->state == C_UP)
      conn_fill(c);
  }
  if (r->finishing)
    return;
  if (started && now - r->prog_last_ns >= NS)
    report(r, now);
  int busy = r->inflight > 0 || r->wait_head != NULL ||
             (r->f == NULL && !r->exhausted && r->offered < r->to_offer) ||
             (r->f && !r->f->posting);
  if (busy && now - r->last_answer_ns > (uint64_t)r->stall_ms * MS) {
    if (r->f && !r->f->posting)
      fail(r, SB_ETIMEDOUT,
           "no subscription acknowledged by %s/v1/stream "
           "within %d ms",
           r->url, r->stall_ms);
    else
      fail(r, SB_ETIMEDOUT,
           "nothing answered by %s for %d ms (%llu requests "
           "in flight)",
           r->url, r->stall_ms, (unsigned long long)r->inflight);
    return;
  }
  maybe_finish(r);
}

/* Stops everything; the loop then runs dry. */
static void finish(run_t *r) {
  if (r->finishing)
    return;
  r->finishing = 1;
  if (r->err.code == 0 && (r->f == NULL || r->f->posting))
    report(r, uv_hrtime()); /* the last word */
  if (r->timer_open) {
    uv_close((uv_handle_t *)&r->timer, NULL);
    r->timer_open = 0;
  }
  for (int i = 0; r->conns && i < r->nconns; i++) {
    conn_t *c = &r->conns[i];
    for (req_t *q = c->head, *n; q; q = n) {
      n = q->next;
      req_put(r, q);
    }
    r->inflight -= (uint64_t)c->inflight;
    c->head = c->tail = NULL;
    c->inflight = 0;
    if (c->handle_open && !uv_is_closing((uv_handle_t *)&c->tcp))
      uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    if (c->state != C_DOWN)
      c->state = C_CLOSING;
  }
  for (req_t *q = r->wait_head, *n; q; q = n) {
    n = q->next;
    req_put(r, q);
  }
  r->wait_head = r->wait_tail = NULL;
  if (r->f)
    ws_close(&r->f->ws);
}

/* ---- set-up and tear-down ---------------------------------------------- */

static int parse_url(run_t *r, const char *url, sb_err_t *err) {
  struct http_parser_url u;
  http_parser_url_init(&u);
  if (url == NULL || http_parser_parse_url(url, strlen(url), 0, &u) != 0 ||
      !(u.field_set & (1u << UF_HOST)) || !(u.field_set & (1u << UF_SCHEMA)))
    return sb_err_set(err, SB_EINVAL,
                      "url: expected http://HOST:PORT, got '%s'",
                      url ? url : "(null)");
  const char *schema = url + u.field_data[UF_SCHEMA].off;
  size_t sl = u.field_data[UF_SCHEMA].len;
  if (sl == 5 && strncasecmp(schema, "https", 5) == 0)
    return sb_err_set(err, SB_EINVAL,
                      "url %s: the load generator speaks plain HTTP only; "
                      "point it at a listener without TLS",
                      url);
  if (sl != 4 || strncasecmp(schema, "http", 4) != 0)
    return sb_err_set(err, SB_EINVAL,
                      "url: expected http://HOST:PORT, got '%s'", url);
  char host[256], port[8];
  size_t hl = u.field_data[UF_HOST].len;
  if (hl >= sizeof host)
    return sb_err_set(err, SB_EINVAL, "url %s: host name too long", url);
  memcpy(host, url + u.field_data[UF_HOST].off, hl);
  host[hl] = '\0';
  unsigned p = u.field_set & (1u << UF_PORT) ? u.port : 80;
  snprintf(port, sizeof port, "%u", p);
  snprintf(r->url, sizeof r->url, "http://%s%s%s:%u",
           strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", p);
  snprintf(r->hostport, sizeof r->hostport, "%s", r->url + 7);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM},
                  *ai = NULL;
  int rc = getaddrinfo(host, port, &hints, &ai);
  if (rc != 0 || ai == NULL)
    return sb_err_set(err, SB_EIO, "url %s: cannot resolve %s: %s", url, host,
                      gai_strerror(rc));
  memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);
  return 0;
}

static char *make_head(run_t *r, const char *ctype, size_t *len) {
  size_t cap = 256 + strlen(r->token) + strlen(r->hostport);
  char *h = malloc(cap);
  if (h == NULL)
    return NULL;
  int n =
      snprintf(h, cap,
               "POST /v1/events HTTP/1.1\r\nHost: %s\r\n"
               "Authorization: Bearer %s\r\nUser-Agent: switchboard-bench/%s"
               "\r\nContent-Type: %s\r\nContent-Length: ",
               r->hostport, r->token, SB_VERSION, ctype);
  *len = (size_t)n;
  return h;
}

/* The common part of both loads: URL, heads, loop, connections. */
/* The events to post: the caller's source, or the built-in one. */
static void use_source(run_t *r, sb_load_next_cb next, void *arg) {
  if (next) {
    r->next = next;
    r->next_arg = arg;
  } else {
    sb_load_default_init(&r->def);
    r->next = sb_load_default_event;
    r->next_arg = &r->def;
  }
}

static int run_init(run_t *r, const char *url, const char *token, int nconns,
                    int pipeline, int ndjson, sb_err_t *err) {
  memset(r, 0, sizeof *r);
  r->ndjson = ndjson;
  if (token == NULL || *token == '\0')
    return sb_err_set(err, SB_EINVAL,
                      "a token is required (switchboard "
                      "token --tenant T --role manager)");
  if (strpbrk(token, "\r\n ") != NULL)
    return sb_err_set(err, SB_EINVAL, "the token holds white space");
  r->token = token;
  int rc = parse_url(r, url, err);
  if (rc != 0)
    return rc;
  r->nconns = nconns;
  r->pipeline = pipeline;
  r->head_single =
      make_head(r, "application/cloudevents+json", &r->head_single_len);
  r->head_batch = make_head(r,
                            r->ndjson ? "application/x-ndjson"
                                      : "application/cloudevents-batch+json",
                            &r->head_batch_len);
  r->room = (r->head_single_len > r->head_batch_len ? r->head_single_len
                                                    : r->head_batch_len) +
            32;
  r->rbuf = malloc(READ_BUF);
  r->conns = calloc((size_t)nconns, sizeof *r->conns);
  if (!r->head_single || !r->head_batch || !r->rbuf || !r->conns)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  r->hps.on_message_begin = hp_begin;
  r->hps.on_body = hp_body;
  r->hps.on_message_complete = hp_complete;
  if ((rc = uv_loop_init(&r->loop)) != 0)
    return sb_err_set(err, SB_EIO, "uv_loop_init: %s", uv_strerror(rc));
  r->loop.data = r;
  for (int i = 0; i < nconns; i++)
    r->conns[i].r = r;
  return 0;
}

static void cpu_now(struct rusage *ru) {
  if (getrusage(RUSAGE_THREAD, ru) != 0)
    memset(ru, 0, sizeof *ru);
}

static double tv_s(struct timeval a, struct timeval b) {
  return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_usec - a.tv_usec) / 1e6;
}

/* A peer that closes while we write must be an error, not the end of the
 * process: SIGPIPE is ignored unless the program handles it itself. */
static void ignore_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
    signal(SIGPIPE, SIG_IGN);
}

/* Runs the loop until finished; *cpu what this thread used. */
static void run_loop(run_t *r, sb_load_cpu_t *cpu) {
  struct rusage a, b;
  ignore_sigpipe();
  cpu_now(&a);
  uint64_t w0 = uv_hrtime();
  uv_run(&r->loop, UV_RUN_DEFAULT);
  cpu_now(&b);
  double wall = (double)(uv_hrtime() - w0) / 1e9;
  cpu->user_s = tv_s(a.ru_utime, b.ru_utime);
  cpu->sys_s = tv_s(a.ru_stime, b.ru_stime);
  cpu->percent = wall > 0 ? 100.0 * (cpu->user_s + cpu->sys_s) / wall : 0;
}

static void close_left(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void run_free(run_t *r) {
  if (r->loop.data == r) {
    uv_run(&r->loop, UV_RUN_DEFAULT); /* close callbacks */
    uv_walk(&r->loop, close_left, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
  }
  for (int i = 0; r->conns && i < r->nconns; i++)
    free(r->conns[i].body);
  free(r->conns);
  req_free_all(r->free_reqs);
  free(r->head_single);
  free(r->head_batch);
  free(r->rbuf);
  if (r->f) {
    if (r->f->ws.ctx)
      wslay_event_context_free(r->f->ws.ctx);
    free(r->f->ev);
    free(r->f->ht);
    free(r->f);
  }
}

static void start_timer(run_t *r, int ms) {
  uv_timer_init(&r->loop, &r->timer);
  r->timer.data = r;
  r->timer_open = 1;
  uv_timer_start(&r->timer, on_tick, (uint64_t)ms, (uint64_t)ms);
}

static double ms_of_us(uint64_t us) { return (double)us / 1000.0; }

/* ---- the HTTP ingest load ------------------------------------------------ */

int sb_load_http(const sb_load_http_opts_t *o, sb_load_http_result_t *out,
                 sb_err_t *err) {
  memset(out, 0, sizeof *out);
  int nconns = o->connections ? o->connections : 4;
  int pipeline = o->pipeline ? o->pipeline : 1;
  int batch = o->batch ? o->batch : 100;
  if (nconns < 1 || nconns > 4096 || pipeline < 1 || pipeline > 1024 ||
      batch < 1 || batch > MAX_SERVER_BATCH || o->events == 0 ||
      o->max_retries < 0 || o->stall_ms < 0)
    return sb_err_set(err, SB_EINVAL,
                      "load options: events >= 1, connections 1..4096, "
                      "pipeline 1..1024, batch 1..%d",
                      MAX_SERVER_BATCH);
  run_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc;
  if ((rc = run_init(r, o->url, o->token, nconns, pipeline, o->ndjson != 0,
                     err)) != 0)
    goto out;
  r->batch = batch;
  r->max_retries = o->max_retries ? o->max_retries : 100;
  r->stall_ms = o->stall_ms ? o->stall_ms : 30000;
  r->to_offer = o->events;
  r->progress = o->progress;
  r->progress_arg = o->progress_arg;
  use_source(r, o->next, o->next_arg);
  r->t0 = r->last_answer_ns = r->prog_last_ns = r->t_end = uv_hrtime();
  start_timer(r, HTTP_TICK_MS);
  for (int i = 0; i < nconns && !r->finishing; i++)
    conn_connect(&r->conns[i]);
  run_loop(r, &out->cpu);

  out->offered = r->offered;
  out->accepted = r->accepted;
  out->duplicates = r->duplicates;
  out->rejected = r->rejected;
  out->requests = r->requests;
  out->retries = r->retries;
  out->errors = r->errors;
  out->reconnects = r->reconnects;
  out->seconds = (double)(r->t_end - r->t0) / 1e9;
  if (out->seconds > 0) {
    out->events_per_s = (double)r->accepted / out->seconds;
    out->requests_per_s = (double)r->requests / out->seconds;
  }
  out->latency_p50_ms = ms_of_us(hist_q(&r->lat, 0.50));
  out->latency_p99_ms = ms_of_us(hist_q(&r->lat, 0.99));
  out->latency_max_ms = ms_of_us(r->lat.max);
  out->bytes_sent = r->bytes_sent;
  out->bytes_received = r->bytes_recv;
  snprintf(out->first_error, sizeof out->first_error, "%s", r->first_error);
  if (r->err.code != 0)
    rc = sb_err_set(err, r->err.code, "%s", r->err.msg);
out:
  run_free(r);
  free(r);
  return rc;
}

/* ---- ingest-to-WebSocket freshness --------------------------------------- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *v, uint64_t n, double q) {
  if (n == 0)
    return 0;
  uint64_t rank = (uint64_t)(q * (double)n + 0.999999);
  if (rank < 1)
    rank = 1;
  if (rank > n)
    rank = n;
  return (double)v[rank - 1] / 1e6;
}

static void fresh_results(run_t *r, sb_load_fresh_result_t *out) {
  fresh_t *f = r->f;
  uint64_t *lat = malloc((f->nev + 1) * sizeof *lat);
  uint64_t *e2e = malloc((f->nev + 1) * sizeof *e2e);
  uint64_t nl = 0, last_ack = f->t0;
  if (lat == NULL || e2e == NULL) {
    free(lat);
    free(e2e);
    sb_err_set(&r->err, SB_ENOMEM, "out of memory");
    return;
  }
  for (uint64_t i = 0; i < f->nev; i++) {
    const fev_t *e = &f->ev[i];
    if (e->state != E_ACKED)
      continue;
    out->sent++;
    if (e->ack_ns > last_ack)
      last_ack = e->ack_ns;
    if (e->arr_ns == 0)
      continue;
    if (e->arr_ns < e->ack_ns) {
      out->early++;
      lat[nl] = 0;
    } else {
      lat[nl] = e->arr_ns - e->ack_ns;
    }
    e2e[nl++] = e->arr_ns > e->sent_ns ? e->arr_ns - e->sent_ns : 0;
  }
  out->received = nl;
  out->lost = out->sent - nl;
  qsort(lat, nl, sizeof *lat, cmp_u64);
  qsort(e2e, nl, sizeof *e2e, cmp_u64);
  out->p50_ms = pct_ms(lat, nl, 0.50);
  out->p99_ms = pct_ms(lat, nl, 0.99);
  out->p999_ms = pct_ms(lat, nl, 0.999);
  out->max_ms = nl ? (double)lat[nl - 1] / 1e6 : 0;
  out->e2e_p50_ms = pct_ms(e2e, nl, 0.50);
  out->e2e_p99_ms = pct_ms(e2e, nl, 0.99);
  free(lat);
  free(e2e);
  out->seconds = f->posting ? (double)(last_ack - f->t0) / 1e9 : 0;
  if (out->seconds > 0) {
    out->offered_rate = (double)r->offered / out->seconds;
    out->accepted_rate = (double)out->sent / out->seconds;
  }
}

int sb_load_freshness(const sb_load_fresh_opts_t *o,
                      sb_load_fresh_result_t *out, sb_err_t *err) {
  memset(out, 0, sizeof *out);
  int nconns = o->connections ? o->connections : 4;
  int pipeline = o->pipeline ? o->pipeline : 8;
  int max_batch = o->max_batch ? o->max_batch : 100;
  double total = o->rate * o->seconds;
  if (!(o->rate > 0) || !(o->seconds > 0) || total < 1 || total > 1e8 ||
      nconns < 1 || nconns > 4096 || pipeline < 1 || pipeline > 1024 ||
      max_batch < 1 || max_batch > MAX_SERVER_BATCH || o->tick_ms < 0 ||
      o->grace_ms < 0 || o->stall_ms < 0 || (o->topics && o->topics[0] == NULL))
    return sb_err_set(err, SB_EINVAL,
                      "freshness options: rate > 0, seconds > 0, rate * "
                      "seconds 1..1e8 events, connections 1..4096, pipeline "
                      "1..1024, max_batch 1..%d, topics not empty",
                      MAX_SERVER_BATCH);
  run_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = run_init(r, o->url, o->token, nconns, pipeline, 0, err);
  fresh_t *f = NULL;
  if (rc == 0 && (f = r->f = calloc(1, sizeof *f)) == NULL)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  if (rc != 0)
    goto out;
  f->o = o;
  f->rate = o->rate;
  f->seconds = o->seconds;
  f->total = (uint64_t)(total + 0.5);
  f->max_batch = max_batch;
  f->grace_ms = o->grace_ms ? o->grace_ms : 5000;
  size_t slots = 16;
  while (slots < 2 * f->total)
    slots *= 2;
  f->ev = calloc(f->total, sizeof *f->ev);
  f->ht = calloc(slots, sizeof *f->ht);
  f->ht_mask = slots - 1;
  if (f->ev == NULL || f->ht == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    goto out;
  }
  r->batch = max_batch;
  r->max_retries = 100;
  r->stall_ms = o->stall_ms ? o->stall_ms : 30000;
  r->tick_ms = o->tick_ms ? o->tick_ms : 1;
  r->progress = o->progress;
  r->progress_arg = o->progress_arg;
  use_source(r, o->next, o->next_arg);
  ws_t *w = &f->ws;
  w->r = r;
  r->t0 = r->last_answer_ns = r->prog_last_ns = uv_hrtime();
  start_timer(r, r->tick_ms);
  uv_tcp_init(&r->loop, &w->tcp);
  w->tcp.data = w;
  w->handle_open = 1;
  w->creq.data = w;
  w->state = W_CONNECTING;
  if ((rc = uv_tcp_connect(&w->creq, &w->tcp, (const struct sockaddr *)&r->addr,
                           ws_on_connect)) != 0)
    fail(r, SB_EIO, "cannot connect to %s: %s", r->url, uv_strerror(rc));
  for (int i = 0; i < nconns && !r->finishing; i++)
    conn_connect(&r->conns[i]);
  run_loop(r, &out->cpu);

  fresh_results(r, out);
  out->offered = r->offered;
  out->rejected = f->rejected;
  out->duplicates = f->duplicates;
  out->foreign = f->foreign;
  out->retries = r->retries;
  out->max_behind_ms = (double)f->max_behind_ns / 1e6;
  out->post_p50_ms = ms_of_us(hist_q(&r->lat, 0.50));
  out->post_p99_ms = ms_of_us(hist_q(&r->lat, 0.99));
  snprintf(out->first_error, sizeof out->first_error, "%s", r->first_error);
  rc = r->err.code != 0 ? sb_err_set(err, r->err.code, "%s", r->err.msg) : 0;
out:
  run_free(r);
  free(r);
  return rc;
}
