/* Ingest-to-WebSocket freshness (sb_load_freshness): the table of the
 * events posted, and the figures from their acknowledgements and
 * arrivals. */
#include "sb_load_int.h"

#include <time.h>

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

int64_t sb__load_ht_get(const fresh_t *f, const char *id, size_t n) {
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
int sb__load_fresh_register(run_t *r, char *buf, size_t *len, uint32_t *tag) {
  fresh_t *f = r->f;
  cJSON *j = cJSON_ParseWithLength(buf, *len);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return sb__load_fail(r, SB_EINVAL,
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
      return sb__load_fail(r, SB_EINVAL, "event id '%.40s' is not a ULID",
                           id->valuestring);
    }
    snprintf(e->id, sizeof e->id, "%s", id->valuestring);
  } else if (id == NULL) {
    sb_err_t uerr = SB_ERR_INIT;
    char *brace = memchr(buf, '{', *len);
    if (sb_ulid_new(e->id, &uerr) != 0 || brace == NULL) {
      cJSON_Delete(j);
      return sb__load_fail(r, uerr.code ? uerr.code : SB_EINTERNAL, "%s",
                           uerr.msg);
    }
    size_t at = (size_t)(brace - buf) + 1;
    memmove(buf + at + ID_INSERT, buf + at, *len - at);
    memcpy(buf + at, "\"id\":\"", 6);
    memcpy(buf + at + 6, e->id, SB_ULID_LEN);
    memcpy(buf + at + 6 + SB_ULID_LEN, "\",", 2);
    *len += ID_INSERT;
  } else {
    cJSON_Delete(j);
    return sb__load_fail(r, SB_EINVAL, "an event's id is not a string");
  }
  cJSON_Delete(j);
  *tag = (uint32_t)f->nev;
  ht_put(f, f->nev++);
  return 0;
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
  int rc = sb__load_run_init(r, o->url, o->token, nconns, pipeline, 0, err);
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
  sb__load_use_source(r, o->next, o->next_arg);
  ws_t *w = &f->ws;
  w->r = r;
  r->t0 = r->last_answer_ns = r->prog_last_ns = uv_hrtime();
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  f->unix_minus_hr_ns = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec -
                        (int64_t)uv_hrtime();
  sb__load_start_timer(r, r->tick_ms);
  uv_tcp_init(&r->loop, &w->tcp);
  w->tcp.data = w;
  w->handle_open = 1;
  w->creq.data = w;
  w->state = W_CONNECTING;
  if ((rc = uv_tcp_connect(&w->creq, &w->tcp, (const struct sockaddr *)&r->addr,
                           sb__load_ws_on_connect)) != 0)
    sb__load_fail(r, SB_EIO, "cannot connect to %s: %s", r->url,
                  uv_strerror(rc));
  for (int i = 0; i < nconns && !r->finishing; i++)
    sb__load_conn_connect(&r->conns[i]);
  sb__load_run_loop(r, &out->cpu);

  fresh_results(r, out);
  out->offered = r->offered;
  out->rejected = f->rejected;
  out->duplicates = f->duplicates;
  out->foreign = f->foreign;
  out->retries = r->retries;
  out->max_behind_ms = (double)f->max_behind_ns / 1e6;
  out->post_p50_ms = sb__load_ms_of_us(sb__load_hist_q(&r->lat, 0.50));
  out->post_p99_ms = sb__load_ms_of_us(sb__load_hist_q(&r->lat, 0.99));
  snprintf(out->first_error, sizeof out->first_error, "%s", r->first_error);
  rc = r->err.code != 0 ? sb_err_set(err, r->err.code, "%s", r->err.msg) : 0;
out:
  sb__load_run_free(r);
  free(r);
  return rc;
}
