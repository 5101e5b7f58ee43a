/* The network load generators (sb_load.h), the run itself: the latency
 * histogram, the answers to requests, the run's clock, set-up and
 * tear-down, and the HTTP ingest load. Requests, connections, the
 * WebSocket client and the freshness load are in sb_load_*.c. */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "sb_load_int.h"

static void finish(run_t *r);

/* ---- latency histogram: 64 sub-buckets a power of two (within 1.6 %),
 * microseconds up to 2^40 (12 days); bounded memory however long the run */

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
uint64_t sb__load_hist_q(const hist_t *h, double q) {
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

int sb__load_fail(run_t *r, int code, const char *fmt, ...) {
  char msg[SB_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sb_err_set(&r->err, code, "%s", msg);
  finish(r);
  return code;
}

void sb__load_note_error(run_t *r, const char *fmt, ...) {
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

/* ---- answers ------------------------------------------------------------ */

int sb__load_all_idx(const req_t *q, int *which) {
  for (int i = 0; i < q->n; i++)
    which[i] = i;
  return q->n;
}

/* The server's message from an error body, for people. */
void sb__load_body_message(const char *body, size_t len, char *out,
                           size_t cap) {
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

void sb__load_answer(run_t *r, req_t *q, int status, const char *body,
                     size_t len) {
  uint64_t now = uv_hrtime();
  r->requests++;
  r->last_answer_ns = now;
  r->t_end = now;
  hist_add(&r->lat, (now - q->sent_ns) / 1000);
  int *which = malloc((size_t)q->n * sizeof *which);
  if (which == NULL) {
    sb__load_fail(r, SB_ENOMEM, "out of memory");
    return;
  }
  if (status == 409 || status == 429 || status == 503 || status == 408 ||
      status == 502 || status == 504) {
    /* nothing was produced: the same request again, after a while */
    r->errors++;
    char msg[200];
    sb__load_body_message(body, len, msg, sizeof msg);
    sb__load_note_error(r, "%d: %s", status, msg);
    sb__load_retry(r, q, which, sb__load_all_idx(q, which), 1);
  } else if (status == 202 || status == 207 || status == 400 || status == 403) {
    if (status != 202 && status != 207)
      r->errors++;
    cJSON *j = cJSON_ParseWithLength(body, len);
    cJSON *acc = j ? cJSON_GetObjectItemCaseSensitive(j, "accepted") : NULL;
    cJSON *rej = j ? cJSON_GetObjectItemCaseSensitive(j, "rejected") : NULL;
    int nretry = 0;
    if (!cJSON_IsArray(acc) || !cJSON_IsArray(rej)) {
      char msg[200];
      sb__load_body_message(body, len, msg, sizeof msg);
      if (status == 202 || status == 207) {
        cJSON_Delete(j);
        free(which);
        sb__load_fail(r, SB_EDECODE,
                      "a %d answer without accepted/rejected lists: %s", status,
                      msg);
        return;
      }
      /* the whole request refused (malformed JSON, not an array...) */
      r->rejected += (uint64_t)q->n;
      sb__load_note_error(r, "%d: %s", status, msg);
      if (r->f)
        for (int i = 0; i < q->n; i++)
          sb__load_fresh_mark(r, q, i, E_REJECTED, now);
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
          sb__load_fresh_mark(r, q, i, dup ? E_DUP : E_ACKED, now);
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
        sb__load_note_error(r, "%d: %s", s,
                            cJSON_IsString(msg) ? msg->valuestring : "");
        if (r->f)
          sb__load_fresh_mark(r, q, i, E_REJECTED, now);
      }
    }
    cJSON_Delete(j);
    if (nretry > 0)
      sb__load_retry(r, q, which, nretry, 1);
  } else {
    /* no retry mends a bad token, URL, size or content type */
    char msg[200];
    sb__load_body_message(body, len, msg, sizeof msg);
    free(which);
    sb__load_fail(r, SB_EUNAVAIL, "POST %s/v1/events answered %d: %s", r->url,
                  status, msg);
    return;
  }
  free(which);
}

/* ---- the run's clock ----------------------------------------------------- */

void sb__load_maybe_finish(run_t *r) {
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
  if ((f->acked_arrived == f->acked &&
       (f->o->more == NULL || !f->o->more(f->o->other_arg))) ||
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
      sb__load_conn_connect(c);
    else if (c->state == C_UP)
      sb__load_conn_fill(c);
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
      sb__load_fail(r, SB_ETIMEDOUT,
                    "no subscription acknowledged by %s/v1/stream "
                    "within %d ms",
                    r->url, r->stall_ms);
    else
      sb__load_fail(r, SB_ETIMEDOUT,
                    "nothing answered by %s for %d ms (%llu requests "
                    "in flight)",
                    r->url, r->stall_ms, (unsigned long long)r->inflight);
    return;
  }
  sb__load_maybe_finish(r);
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
      sb__load_req_put(r, q);
    }
    r->inflight -= (uint64_t)c->inflight;
    c->head = c->tail = NULL;
    c->inflight = 0;
    if (c->handle_open && !uv_is_closing((uv_handle_t *)&c->tcp))
      uv_close((uv_handle_t *)&c->tcp, sb__load_on_conn_closed);
    if (c->state != C_DOWN)
      c->state = C_CLOSING;
  }
  for (req_t *q = r->wait_head, *n; q; q = n) {
    n = q->next;
    sb__load_req_put(r, q);
  }
  r->wait_head = r->wait_tail = NULL;
  if (r->f)
    sb__load_ws_close(&r->f->ws);
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
void sb__load_use_source(run_t *r, sb_load_next_cb next, void *arg) {
  if (next) {
    r->next = next;
    r->next_arg = arg;
  } else {
    sb_load_default_init(&r->def);
    r->next = sb_load_default_event;
    r->next_arg = &r->def;
  }
}

int sb__load_run_init(run_t *r, const char *url, const char *token, int nconns,
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
  r->hps.on_message_begin = sb__load_hp_begin;
  r->hps.on_body = sb__load_hp_body;
  r->hps.on_message_complete = sb__load_hp_complete;
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
void sb__load_run_loop(run_t *r, sb_load_cpu_t *cpu) {
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

void sb__load_run_free(run_t *r) {
  if (r->loop.data == r) {
    uv_run(&r->loop, UV_RUN_DEFAULT); /* close callbacks */
    uv_walk(&r->loop, close_left, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
  }
  for (int i = 0; r->conns && i < r->nconns; i++)
    free(r->conns[i].body);
  free(r->conns);
  sb__load_req_free_all(r->free_reqs);
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

void sb__load_start_timer(run_t *r, int ms) {
  uv_timer_init(&r->loop, &r->timer);
  r->timer.data = r;
  r->timer_open = 1;
  uv_timer_start(&r->timer, on_tick, (uint64_t)ms, (uint64_t)ms);
}

double sb__load_ms_of_us(uint64_t us) { return (double)us / 1000.0; }

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
  if ((rc = sb__load_run_init(r, o->url, o->token, nconns, pipeline,
                              o->ndjson != 0, err)) != 0)
    goto out;
  r->batch = batch;
  r->max_retries = o->max_retries ? o->max_retries : 100;
  r->stall_ms = o->stall_ms ? o->stall_ms : 30000;
  r->to_offer = o->events;
  r->progress = o->progress;
  r->progress_arg = o->progress_arg;
  sb__load_use_source(r, o->next, o->next_arg);
  r->t0 = r->last_answer_ns = r->prog_last_ns = r->t_end = uv_hrtime();
  sb__load_start_timer(r, HTTP_TICK_MS);
  for (int i = 0; i < nconns && !r->finishing; i++)
    sb__load_conn_connect(&r->conns[i]);
  sb__load_run_loop(r, &out->cpu);

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
  out->latency_p50_ms = sb__load_ms_of_us(sb__load_hist_q(&r->lat, 0.50));
  out->latency_p99_ms = sb__load_ms_of_us(sb__load_hist_q(&r->lat, 0.99));
  out->latency_max_ms = sb__load_ms_of_us(r->lat.max);
  out->bytes_sent = r->bytes_sent;
  out->bytes_received = r->bytes_recv;
  snprintf(out->first_error, sizeof out->first_error, "%s", r->first_error);
  if (r->err.code != 0)
    rc = sb_err_set(err, r->err.code, "%s", r->err.msg);
out:
  sb__load_run_free(r);
  free(r);
  return rc;
}
