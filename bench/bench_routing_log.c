/* What the log says about the routing stage's leads (bench_routing_int.h):
 * sb.leads and sb.routing read from their beginning, outside any consumer
 * group (sb_logread), keeping of each lead event, routing.input and
 * lead.assigned its id, its cause, its lead and its Kafka timestamp; then
 * the latencies, each between two Kafka timestamps (milliseconds: the
 * broker's clock is this machine's). */
#include "bench_routing_int.h"

#include "sb_codec.h"
#include "sb_logread.h"
#include "sb_schema.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTOPICS 2
#define MAX_PARTS 1024

enum { K_LEAD, K_READY, K_INPUT, K_ASSIGNED };

typedef struct {
  char id[27], cause[27];
  char tenant[65], lead[129];
  int64_t ts_ms;
  uint8_t kind;
} rec_t;

struct rt_log_s {
  sb_logread_t *lr;
  sb_schemas_t *schemas;
  sb_codec_t *codec;
  sb_field_t f_kind, f_ref, f_lead;
  int nparts[NTOPICS];
  int64_t *next[NTOPICS];
  rec_t *v;
  size_t n, cap;
  uint64_t assigned_backlog, assigned_steady;
  /* Kafka timestamps (ms) of the backlog's first lead_ready and last
   * lead.assigned */
  int64_t backlog_first, backlog_last;
  int topic; /* of the record being read */
};

static const char *const topics[NTOPICS] = {"sb.leads", "sb.routing"};

int rt_log_open(const sb_conf_t *c, rt_log_t **out, sb_err_t *err) {
  rt_log_t *l = *out = calloc(1, sizeof *l);
  if (l == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = sb_schemas_load(&l->schemas, err);
  if (rc == 0)
    rc = sb_codec_new(l->schemas, &l->codec, err);
  if (rc == 0)
    rc = sb_codec_field(l->schemas, "routing.input", "kind", &l->f_kind, err);
  if (rc == 0)
    rc = sb_codec_field(l->schemas, "routing.input", "ref_id", &l->f_ref, err);
  if (rc == 0)
    rc = sb_codec_field(l->schemas, "lead.assigned", "lead_id", &l->f_lead,
                        err);
  if (rc == 0)
    rc = sb_logread_open(c, &l->lr, err);
  return rc;
}

void rt_log_close(rt_log_t *l) {
  if (l == NULL)
    return;
  sb_logread_close(l->lr);
  sb_codec_free(l->codec);
  sb_schemas_free(l->schemas);
  for (int t = 0; t < NTOPICS; t++)
    free(l->next[t]);
  free(l->v);
  free(l);
}

static rec_t *add(rt_log_t *l, sb_err_t *err) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4096;
    rec_t *v = realloc(l->v, cap * sizeof *v);
    if (v == NULL) {
      sb_err_set(err, SB_ENOMEM, "out of memory");
      return NULL;
    }
    l->v = v, l->cap = cap;
  }
  rec_t *r = &l->v[l->n];
  memset(r, 0, sizeof *r);
  r->ts_ms = sb_logread_timestamp(l->lr);
  return r;
}

static void copy(char *dst, size_t cap, const char *s) {
  snprintf(dst, cap, "%s", s ? s : "");
}

/* One record: kept when it is a lead event, a routing.input or a
 * lead.assigned. */
static int on_record(void *ctx, int64_t offset, const void *key, size_t klen,
                     const void *value, size_t vlen, sb_err_t *err) {
  (void)offset;
  rt_log_t *l = ctx;
  char type[64];
  if (!sb_logread_header(l->lr, "ce_type", type, sizeof type))
    return 0;
  if (l->topic == 0 && strcmp(type, "lead.created") == 0) {
    /* the lead event: its id and its key are enough */
    const char *colon = memchr(key, ':', klen);
    rec_t *r = add(l, err);
    if (r == NULL)
      return err->code;
    /* the event's ULID: sb-event-id beside a producer's own id, else ce_id */
    if (colon == NULL ||
        (!sb_logread_header(l->lr, "sb-event-id", r->id, sizeof r->id) &&
         !sb_logread_header(l->lr, "ce_id", r->id, sizeof r->id)))
      return 0;
    size_t tl = (size_t)(colon - (const char *)key);
    snprintf(r->tenant, sizeof r->tenant, "%.*s", (int)tl, (const char *)key);
    snprintf(r->lead, sizeof r->lead, "%.*s", (int)(klen - tl - 1), colon + 1);
    r->kind = K_LEAD;
    l->n++;
    return 0;
  }
  int assigned = l->topic == 0 && strcmp(type, "lead.assigned") == 0;
  if (!assigned && !(l->topic == 1 && strcmp(type, "routing.input") == 0))
    return 0;
  sb_event_t ev;
  if (sb_codec_decode(l->codec, value, vlen, &ev, err) != 0) {
    sb_err_prefix(err, "%s: ", type);
    return err->code;
  }
  rec_t *r = add(l, err);
  if (r == NULL)
    return err->code;
  copy(r->id, sizeof r->id, ev.event_id);
  copy(r->cause, sizeof r->cause, sb_event_str_path(&ev, "causation_id"));
  copy(r->tenant, sizeof r->tenant, ev.tenant_id);
  if (assigned) {
    r->kind = K_ASSIGNED;
    copy(r->lead, sizeof r->lead, sb_event_str(&ev, l->f_lead));
    if (strcmp(r->tenant, RT_STEADY_TENANT) == 0)
      l->assigned_steady++;
    else if (strncmp(r->tenant, RT_BACKLOG_PREFIX,
                     strlen(RT_BACKLOG_PREFIX)) == 0) {
      l->assigned_backlog++;
      if (r->ts_ms > l->backlog_last)
        l->backlog_last = r->ts_ms;
    }
  } else {
    const char *kind = sb_event_enum_name(&ev, l->f_kind);
    r->kind = kind && strcmp(kind, "lead_ready") == 0 ? K_READY : K_INPUT;
    if (r->kind == K_READY &&
        strncmp(r->tenant, RT_BACKLOG_PREFIX, strlen(RT_BACKLOG_PREFIX)) == 0 &&
        (l->backlog_first == 0 || r->ts_ms < l->backlog_first))
      l->backlog_first = r->ts_ms;
    copy(r->lead, sizeof r->lead, sb_event_str(&ev, l->f_ref));
  }
  l->n++;
  return 0;
}

int rt_log_poll(rt_log_t *l, sb_err_t *err) {
  int rc = 0;
  for (int t = 0; rc == 0 && t < NTOPICS; t++) {
    int n = 0;
    if ((rc = sb_logread_partitions(l->lr, topics[t], &n, err)) != 0)
      break;
    if (n > MAX_PARTS)
      return sb_err_set(err, SB_EINVAL, "%s has %d partitions (at most %d)",
                        topics[t], n, MAX_PARTS);
    if (n > l->nparts[t]) {
      int64_t *next = realloc(l->next[t], (size_t)n * sizeof *next);
      if (next == NULL)
        return sb_err_set(err, SB_ENOMEM, "out of memory");
      for (int p = l->nparts[t]; p < n; p++)
        next[p] = 0;
      l->next[t] = next, l->nparts[t] = n;
    }
    l->topic = t;
    for (int p = 0; rc == 0 && p < n; p++) {
      int64_t lo, hi;
      rc = sb_logread_watermarks(l->lr, topics[t], p, &lo, &hi, err);
      if (rc == 0 && lo > l->next[t][p])
        rc = sb_err_set(err, SB_EKAFKA,
                        "%s[%d] starts at offset %lld: the broker dropped "
                        "records (raise --partitions)",
                        topics[t], p, (long long)lo);
      if (rc == 0 && hi > l->next[t][p])
        rc = sb_logread_range(l->lr, topics[t], p, l->next[t][p], hi,
                              on_record, l, err);
      if (rc == 0 && hi > l->next[t][p])
        l->next[t][p] = hi;
    }
  }
  return rc;
}

uint64_t rt_log_records(const rt_log_t *l) {
  uint64_t n = 0;
  for (int t = 0; t < NTOPICS; t++)
    for (int p = 0; p < l->nparts[t]; p++)
      n += (uint64_t)l->next[t][p];
  return n;
}

void rt_log_assigned(const rt_log_t *l, uint64_t *backlog, uint64_t *steady) {
  *backlog = l->assigned_backlog;
  *steady = l->assigned_steady;
}

void rt_log_backlog_span(const rt_log_t *l, int64_t *first, int64_t *last) {
  *first = l->backlog_first;
  *last = l->backlog_last;
}

/* ---- the figures ---------------------------------------------------------- */

static int by_id(const void *a, const void *b) {
  return strcmp(((const rec_t *)a)->id, ((const rec_t *)b)->id);
}

static const rec_t *find(const rt_log_t *l, const char *id) {
  if (id == NULL || id[0] == '\0')
    return NULL;
  rec_t k;
  snprintf(k.id, sizeof k.id, "%s", id);
  return bsearch(&k, l->v, l->n, sizeof k, by_id);
}

/* the steady tenant's lead events, by lead */
static int by_lead(const void *a, const void *b) {
  const rec_t *x = *(const rec_t *const *)a, *y = *(const rec_t *const *)b;
  return strcmp(x->lead, y->lead);
}

static const rec_t *find_lead(const rec_t **leads, size_t n, const char *lead) {
  rec_t k;
  const rec_t *kp = &k;
  snprintf(k.lead, sizeof k.lead, "%s", lead);
  const rec_t **hit = bsearch(&kp, leads, n, sizeof *leads, by_lead);
  return hit ? *hit : NULL;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double q) {
  if (n == 0)
    return 0;
  size_t rank = (size_t)(q * (double)n + 0.999999);
  rank = rank < 1 ? 1 : rank > n ? n : rank;
  return v[rank - 1];
}

static int by_tenant_lead(const void *a, const void *b) {
  const rec_t *x = *(const rec_t *const *)a, *y = *(const rec_t *const *)b;
  int c = strcmp(x->tenant, y->tenant);
  return c ? c : strcmp(x->lead, y->lead);
}

int rt_log_check_backlog(const rt_log_t *l, uint64_t leads, sb_err_t *err) {
  const rec_t **v = malloc((l->n + 1) * sizeof *v);
  size_t n = 0;
  if (v == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  for (size_t i = 0; i < l->n; i++)
    if (l->v[i].kind == K_ASSIGNED &&
        strncmp(l->v[i].tenant, RT_BACKLOG_PREFIX,
                strlen(RT_BACKLOG_PREFIX)) == 0)
      v[n++] = &l->v[i];
  qsort(v, n, sizeof *v, by_tenant_lead);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i + 1 < n; i++)
    if (by_tenant_lead(&v[i], &v[i + 1]) == 0)
      rc = sb_err_set(err, SB_EINTERNAL, "routing: lead %s of tenant %s was "
                                         "assigned twice",
                      v[i]->lead, v[i]->tenant);
  if (rc == 0 && n != leads)
    rc = sb_err_set(err, SB_EINTERNAL, "routing: %zu of the backlog's %llu "
                                       "leads assigned",
                    n, (unsigned long long)leads);
  free(v);
  return rc;
}

int rt_log_figures(rt_log_t *l, const rt_arrival_t *arr, size_t narr,
                   sb_bench_result_t *res, sb_err_t *err) {
  qsort(l->v, l->n, sizeof *l->v, by_id);
  const rec_t **leads = malloc((l->n + 1) * sizeof *leads);
  double *lat = malloc((l->n + narr + 1) * sizeof *lat);
  size_t nl = 0, nlat = 0;
  int rc = leads && lat ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
  for (size_t i = 0; rc == 0 && i < l->n; i++)
    if (l->v[i].kind == K_LEAD && strcmp(l->v[i].tenant, RT_STEADY_TENANT) == 0)
      leads[nl++] = &l->v[i];
  if (rc == 0)
    qsort(leads, nl, sizeof *leads, by_lead);
  for (size_t i = 0; rc == 0 && i + 1 < nl; i++)
    if (strcmp(leads[i]->lead, leads[i + 1]->lead) == 0)
      rc = sb_err_set(err, SB_EINTERNAL, "routing: lead %s was created twice",
                      leads[i]->lead);
  /* each lead.assigned: lead event -> decision */
  uint8_t *seen = calloc(nl + 1, 1);
  if (rc == 0 && seen == NULL)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  res->rt_assigned = res->rt_direct = res->rt_waited = 0;
  for (size_t i = 0; rc == 0 && i < l->n; i++) {
    const rec_t *a = &l->v[i];
    if (a->kind != K_ASSIGNED || strcmp(a->tenant, RT_STEADY_TENANT) != 0)
      continue;
    const rec_t *in = find(l, a->cause);
    const rec_t *ev = in && in->kind == K_READY ? find(l, in->cause) : NULL;
    if (ev && ev->kind == K_LEAD && strcmp(ev->lead, a->lead) == 0) {
      res->rt_direct++;
    } else { /* it waited: another input (an agent, a tick) assigned it */
      ev = find_lead(leads, nl, a->lead);
      res->rt_waited++;
    }
    if (ev == NULL) {
      rc = sb_err_set(err, SB_EINTERNAL, "routing: lead.assigned %s for "
                                         "lead %s: no lead event in the log",
                      a->id, a->lead);
      break;
    }
    const rec_t **hit = bsearch(&ev, leads, nl, sizeof *leads, by_lead);
    size_t at = hit ? (size_t)(hit - leads) : nl;
    if (at < nl && seen[at]++)
      rc = sb_err_set(err, SB_EINTERNAL, "routing: lead %s was assigned "
                                         "twice",
                      a->lead);
    res->rt_assigned++;
    double ms = (double)(a->ts_ms - ev->ts_ms);
    lat[nlat++] = ms > 0 ? ms : 0;
  }
  free(seen);
  free(leads);
  if (rc == 0) {
    qsort(lat, nlat, sizeof *lat, cmp_d);
    res->rt_p50_ms = pct(lat, nlat, 0.50);
    res->rt_p99_ms = pct(lat, nlat, 0.99);
    res->rt_p999_ms = pct(lat, nlat, 0.999);
    res->rt_max_ms = nlat ? lat[nlat - 1] : 0;
    /* the feed: lead.assigned's timestamp -> the WebSocket */
    nlat = 0;
    for (size_t i = 0; i < narr; i++) {
      const rec_t *a = find(l, arr[i].id);
      if (a == NULL || a->kind != K_ASSIGNED)
        continue;
      double ms = (double)arr[i].unix_ns / 1e6 - (double)a->ts_ms;
      lat[nlat++] = ms > 0 ? ms : 0;
    }
    qsort(lat, nlat, sizeof *lat, cmp_d);
    res->rt_feed_received = nlat;
    res->rt_feed_p50_ms = pct(lat, nlat, 0.50);
    res->rt_feed_p99_ms = pct(lat, nlat, 0.99);
    res->rt_feed_max_ms = nlat ? lat[nlat - 1] : 0;
  }
  free(lat);
  return rc;
}
