/* Reads recorded as access.recorded (sb_access.h): keyed and folded by the
 * refusals' windows (sb_refusals.h), produced through ingest's producer. */
#include "sb_access.h"

#include "sb_ingest_int.h"
#include "sb_log.h"
#include "sb_time.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TYPE "access.recorded"

struct sb_access_s {
  sb_ingest_t *in;
  sb_refusals_t *win;
  uv_timer_t retry;
  int retry_open;
  /* window records that failed, to produce again before reads go on */
  char *owed[SB_ACCESS_OWED_MAX];
  size_t nowed;
  int failing; /* the last record failed: folded reads wait for a success */
  /* metrics */
  uint64_t recorded, folded, refused, records_failed, lost;
};

/* A record in flight: the read waiting for it, or a window's. */
typedef struct {
  sb_access_t *a;
  sb_access_done_t done; /* NULL for a window's record */
  void *ud;
  char *json; /* a window's record, kept to produce again if it fails */
} flight_t;

static void owe(sb_access_t *a, char *json) {
  if (a->nowed < SB_ACCESS_OWED_MAX) {
    a->owed[a->nowed++] = json;
    return;
  }
  a->lost++;
  sb_log(SB_LOG_ERROR, "http",
         "a window's access.recorded could not be produced and too many are "
         "owed already: its reads are not recorded",
         SB_F_END);
  free(json);
}

static void on_delivery(void *opaque, const char *error) {
  flight_t *f = opaque;
  sb_access_t *a = f->a;
  if (error == NULL) {
    a->failing = 0;
    free(f->json);
  } else {
    a->failing = 1;
    a->records_failed++;
    sb_log(SB_LOG_WARN, "http", "access.recorded not acknowledged",
           SB_F_STR("error", error), SB_F_END);
    if (f->json != NULL)
      owe(a, f->json);
  }
  if (f->done != NULL) {
    char msg[400];
    snprintf(msg, sizeof msg,
             "the read could not be recorded in the audit log (Kafka did not "
             "acknowledge access.recorded: %.200s); nothing was answered, "
             "retry later",
             error ? error : "");
    f->done(f->ud, error ? SB_EUNAVAIL : 0, error ? msg : NULL);
  }
  free(f);
}

/* Encodes the CloudEvent text json and hands it to the producer; the
 * outcome goes to f (freed there). 0, or the error (f freed, json not). */
static int produce(sb_access_t *a, const char *json, flight_t *f,
                   sb_err_t *err) {
  cJSON *ce = cJSON_Parse(json);
  sb_record_t rec;
  int rc;
  if (ce == NULL)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  else if ((rc = sb_codec_from_ce(a->in->codec, ce, SB_CE_GENERATE_ID, &rec,
                                  err)) == 0) {
    rc = sb_producer_send_record(a->in->producer, &rec, on_delivery, f, err);
    sb_record_clear(&rec);
  }
  cJSON_Delete(ce);
  if (rc != 0)
    free(f);
  return rc;
}

static void add_str(cJSON *o, const char *k, const char *v) {
  if (v != NULL && *v)
    cJSON_AddStringToObject(o, k, v);
}

/* The CloudEvent of a read (or of a window's reads), as text: owned by the
 * caller. Its id is made here, so a record produced again keeps it.
 * Over-long attributes from outside are cut, not a reason to lose the
 * record. */
static char *make_ce(const sb_read_t *rd, uint64_t attempts) {
  char ts[40], ua[501], id[SB_ULID_LEN + 1];
  sb_err_t err = SB_ERR_INIT;
  if (sb_ulid_new(id, &err) != 0)
    return NULL;
  cJSON *ce = cJSON_CreateObject();
  sb_time_format(sb_time_now_micros(), ts, sizeof ts);
  cJSON_AddStringToObject(ce, "specversion", "1.0");
  cJSON_AddStringToObject(ce, "id", id);
  cJSON_AddStringToObject(ce, "type", TYPE);
  cJSON_AddStringToObject(ce, "source", "switchboard://http");
  cJSON_AddStringToObject(ce, "subject", rd->user);
  cJSON_AddStringToObject(ce, "tenantid", rd->tenant);
  cJSON_AddStringToObject(ce, "time", ts);
  cJSON_AddStringToObject(ce, "actoruserid", rd->user);
  add_str(ce, "actorrole", rd->role);
  add_str(ce, "actorip", rd->ip);
  if (rd->user_agent != NULL && *rd->user_agent) {
    snprintf(ua, sizeof ua, "%s", rd->user_agent);
    cJSON_AddStringToObject(ce, "actoruseragent", ua);
  }
  cJSON *data = cJSON_AddObjectToObject(ce, "data");
  cJSON_AddStringToObject(data, "user_id", rd->user);
  cJSON_AddStringToObject(data, "action", "READ");
  add_str(data, "resource_type", rd->resource_type);
  add_str(data, "resource_id", rd->resource_id);
  add_str(data, "subject_id", rd->subject_id);
  cJSON_AddNumberToObject(data, "records_count",
                          (double)(rd->rows > INT32_MAX ? INT32_MAX : rd->rows));
  add_str(data, "request_method", rd->method);
  add_str(data, "request_path", rd->route);
  if (rd->nfilters > 0) {
    cJSON *fl = cJSON_AddArrayToObject(data, "filters");
    for (size_t i = 0; i < rd->nfilters; i++)
      cJSON_AddItemToArray(fl, cJSON_CreateString(rd->filters[i]));
  }
  cJSON_AddNumberToObject(data, "attempts",
                          (double)(attempts > INT32_MAX ? INT32_MAX : attempts));
  char *text = cJSON_PrintUnformatted(ce);
  cJSON_Delete(ce);
  return text;
}

/* The key's "what": resource, then the filters, separated by US (0x1f),
 * which no filter holds. SB_EINVAL when it does not fit. */
static int what_of(const sb_read_t *rd, char *out, size_t cap, sb_err_t *err) {
  size_t n = 0;
  int w = snprintf(out, cap, "%s", rd->resource_id ? rd->resource_id : "");
  if (w < 0 || (size_t)w >= cap)
    return sb_err_set(err, SB_EINVAL, "resource name too long");
  n = (size_t)w;
  if (rd->nfilters > SB_ACCESS_FILTERS_MAX)
    return sb_err_set(err, SB_EINVAL, "at most %d filters",
                      SB_ACCESS_FILTERS_MAX);
  for (size_t i = 0; i < rd->nfilters; i++) {
    if (strchr(rd->filters[i], '\x1f') != NULL)
      return sb_err_set(err, SB_EINVAL, "a filter holds a control character");
    w = snprintf(out + n, cap - n, "\x1f%s", rd->filters[i]);
    if (w < 0 || (size_t)w >= cap - n)
      return sb_err_set(err, SB_EINVAL,
                        "the filters take more than %d bytes together",
                        SB_ACCESS_WHAT_MAX);
    n += (size_t)w;
  }
  return 0;
}

void sb_ingest_record_read(sb_ingest_t *in, const sb_read_t *rd,
                           sb_access_done_t done, void *ud) {
  sb_access_t *a = in->access;
  sb_err_t err = SB_ERR_INIT;
  char what[SB_ACCESS_WHAT_MAX + 1];
  if (a == NULL || !in->polling) {
    done(ud, SB_EUNAVAIL, "the server is stopping; retry");
    return;
  }
  if (what_of(rd, what, sizeof what, &err) != 0) {
    done(ud, SB_EINVAL, err.msg);
    return;
  }
  /* the window's key: tenant, user, address, route (type/reason/path) and
   * what; the role rides along as the detail */
  sb_refusal_t key = {TYPE,           rd->tenant,    rd->user,
                      rd->resource_type, rd->role,   rd->ip,
                      rd->user_agent, rd->method,    rd->route,
                      1,              what,          rd->rows};
  uint64_t unrecorded = sb_refusals_unrecorded(a->win);
  int now = sb_refusals_note(a->win, &key);
  if (!now) {
    if (sb_refusals_unrecorded(a->win) != unrecorded) {
      a->refused++;
      done(ud, SB_EUNAVAIL,
           "too many distinct reads this window to record them all; the read "
           "was refused rather than left unrecorded: retry later");
      return;
    }
    if (a->failing || a->nowed > 0) {
      a->refused++;
      done(ud, SB_EUNAVAIL,
           "the audit log is not taking access records (Kafka did not "
           "acknowledge the last one); the read was refused rather than left "
           "unrecorded: retry later");
      return;
    }
    a->folded++; /* recorded with its count at the window's end */
    done(ud, 0, NULL);
    return;
  }
  char *json = make_ce(rd, 1);
  flight_t *f = calloc(1, sizeof *f);
  if (json == NULL || f == NULL) {
    free(json);
    free(f);
    a->refused++;
    done(ud, SB_EUNAVAIL, "out of memory; retry later");
    return;
  }
  *f = (flight_t){a, done, ud, NULL};
  if (produce(a, json, f, &err) != 0) { /* f freed */
    a->failing = 1;
    a->refused++;
    char msg[SB_ERR_MSG_MAX + 120];
    snprintf(msg, sizeof msg,
             "the read could not be recorded in the audit log (%s); nothing "
             "was answered, retry later",
             err.msg);
    done(ud, SB_EUNAVAIL, msg);
  } else {
    a->recorded++;
  }
  free(json);
}

/* A window's end: the reads of a key counted since its first, as one
 * record (the filters come back from the key's what). */
static void record_window(void *ud, const sb_refusal_t *r) {
  sb_access_t *a = ud;
  char what[SB_REFUSAL_WHAT_MAX + 1];
  const char *filters[SB_ACCESS_FILTERS_MAX];
  size_t nf = 0;
  snprintf(what, sizeof what, "%s", r->what ? r->what : "");
  char *sep = strchr(what, '\x1f');
  if (sep != NULL)
    *sep = '\0';
  while (sep != NULL && nf < SB_ACCESS_FILTERS_MAX) {
    filters[nf++] = sep + 1;
    if ((sep = strchr(sep + 1, '\x1f')) != NULL)
      *sep = '\0';
  }
  /* past the table's keys (the overflow entry) there is no user: the
   * record names the reads of many as "*" */
  sb_read_t rd = {r->tenant,   r->user ? r->user : "*",
                  r->detail,   r->ip,
                  r->user_agent, r->method,
                  r->path,     r->reason,
                  *what ? what : NULL, NULL,
                  filters,     nf,
                  r->amount};
  char *json = make_ce(&rd, r->attempts);
  flight_t *f = calloc(1, sizeof *f);
  sb_err_t err = SB_ERR_INIT;
  if (json == NULL || f == NULL) {
    free(f);
    if (json != NULL)
      owe(a, json);
    else
      a->lost++;
    return;
  }
  *f = (flight_t){a, NULL, NULL, json};
  if (produce(a, json, f, &err) != 0) { /* f freed: json stays ours */
    a->failing = 1;
    a->records_failed++;
    owe(a, json);
  }
}

/* Every second: the window records owed, produced again in order. */
static void on_retry(uv_timer_t *t) {
  sb_access_t *a = t->data;
  size_t done = 0;
  for (; done < a->nowed; done++) {
    flight_t *f = calloc(1, sizeof *f);
    sb_err_t err = SB_ERR_INIT;
    if (f == NULL)
      break;
    *f = (flight_t){a, NULL, NULL, a->owed[done]};
    if (produce(a, a->owed[done], f, &err) != 0)
      break; /* still failing: the rest wait too */
  }
  memmove(a->owed, a->owed + done, (a->nowed - done) * sizeof *a->owed);
  a->nowed -= done;
}

int sb__access_new(sb_ingest_t *in, uv_loop_t *loop, sb_access_t **out,
                   sb_err_t *err) {
  *out = NULL;
  sb_access_t *a = calloc(1, sizeof *a);
  if (a == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  a->in = in;
  int rc = sb_refusals_new(loop, in->c->access_window_ms,
                           (size_t)in->c->access_max_keys, record_window, a,
                           &a->win, err);
  if (rc == 0)
    sb_refusals_set_limits(a->win,
                           (size_t)in->c->security_records_per_address,
                           (size_t)in->c->security_records_per_tenant);
  if (rc != 0) {
    free(a);
    return rc;
  }
  uv_timer_init(loop, &a->retry);
  a->retry.data = a;
  uv_timer_start(&a->retry, on_retry, 1000, 1000);
  a->retry_open = 1;
  *out = a;
  return 0;
}

void sb__access_close(sb_access_t *a) {
  if (a == NULL)
    return;
  sb_refusals_close(a->win); /* the windows' counts */
  if (a->retry_open) {
    on_retry(&a->retry); /* a last try; ingest's flush waits for them */
    a->retry_open = 0;
    uv_timer_stop(&a->retry);
    uv_close((uv_handle_t *)&a->retry, NULL);
  }
}

void sb__access_free(sb_access_t *a) {
  if (a == NULL)
    return;
  if (a->nowed > 0)
    sb_log(SB_LOG_ERROR, "http",
           "stopping with window records of reads not produced: those reads "
           "are not recorded",
           SB_F_INT("records", (long long)a->nowed), SB_F_END);
  for (size_t i = 0; i < a->nowed; i++)
    free(a->owed[i]);
  sb_refusals_free(a->win);
  free(a);
}

uint64_t sb__access_suppressed(const sb_access_t *a) {
  return a ? sb_refusals_suppressed(a->win) : 0;
}

void sb__access_metrics(sb_access_t *a, sb_text_t *t) {
  if (a == NULL)
    return;
  sb_metric_head(t, "switchboard_access_reads_total", "counter",
                 "Reads of protected data through the API, by how they were "
                 "recorded: at once (the read waited for its record), folded "
                 "into a window's record, or refused 503 because they could "
                 "not be recorded.");
  sb_text_add(t,
              "switchboard_access_reads_total{result=\"recorded\"} %llu\n"
              "switchboard_access_reads_total{result=\"folded\"} %llu\n"
              "switchboard_access_reads_total{result=\"refused\"} %llu\n",
              (unsigned long long)a->recorded, (unsigned long long)a->folded,
              (unsigned long long)a->refused);
  sb_metric_head(t, "switchboard_access_records_failed_total", "counter",
                 "access.recorded events Kafka did not take (produced again "
                 "when they were a window's).");
  sb_text_add(t, "switchboard_access_records_failed_total %llu\n",
              (unsigned long long)a->records_failed);
  sb_metric_head(t, "switchboard_access_records_lost_total", "counter",
                 "Window records of reads given up (too many owed, or the "
                 "process stopped with them owed).");
  sb_text_add(t, "switchboard_access_records_lost_total %llu\n",
              (unsigned long long)(a->lost + a->nowed));

}
