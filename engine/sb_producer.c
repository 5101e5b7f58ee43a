#include "sb_producer.h"

#include "sb_journal.h"
#include "sb_kafka.h"
#include "sb_log.h"
#include "sb_time.h"
#include "sb_util.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  sb_delivery_cb cb;
  void *opaque;
} dr_t;

/* A record the broker acknowledged, waiting for the embedded broker's
 * journal to have it on disk. */
typedef struct {
  dr_t *d; /* NULL: nobody to tell */
  int ti;
  int32_t partition;
  int64_t offset;
  long long deadline;
} held_t;

struct sb_producer_s {
  rd_kafka_t *rk;
  int timeout_ms;
  int failed;              /* deliveries failed since the last flush */
  int nonblocking;
  char first_error[512];   /* the first of them */
  /* on the embedded broker of a `up` with a journal: acknowledged means
   * acknowledged by the broker and durable in the journal */
  sb_durable_t *durable;
  held_t *held;
  size_t nheld, capheld;
};

static void fail_record(sb_producer_t *p, const char *topic, const char *error) {
  if (p->failed++ == 0)
    snprintf(p->first_error, sizeof p->first_error, "%s: %.400s", topic, error);
}

/* Tells the held records that are durable now (or never will be). */
static void release_held(sb_producer_t *p, int give_up) {
  size_t k = 0;
  long long now = sb_now_ms();
  for (size_t i = 0; i < p->nheld; i++) {
    held_t *h = &p->held[i];
    sb_err_t why = SB_ERR_INIT;
    int st = sb_durable_check(p->durable, h->ti, h->partition, h->offset, &why);
    if (st == 0 && (give_up || now > h->deadline)) {
      st = -1;
      sb_err_set(&why, SB_ETIMEDOUT,
                 "the embedded broker's journal did not make the record "
                 "durable within %d ms",
                 p->timeout_ms * 3);
    }
    if (st == 0) {
      p->held[k++] = *h;
      continue;
    }
    if (st < 0)
      fail_record(p, "journal", why.msg);
    if (h->d != NULL) {
      if (h->d->cb)
        h->d->cb(h->d->opaque, st < 0 ? why.msg : NULL);
      free(h->d);
    }
  }
  p->nheld = k;
}

/* Holds a delivered record until it is durable: 1 held, 0 when it need
 * not be, -1 when it cannot be (out of memory: reported failed). */
static int hold(sb_producer_t *p, const rd_kafka_message_t *m, dr_t *d) {
  if (p->durable == NULL)
    return 0;
  int ti = sb_durable_topic(rd_kafka_topic_name(m->rkt));
  if (ti < 0 || sb_durable_check(p->durable, ti, m->partition, m->offset,
                                 NULL) == 1)
    return 0;
  if (p->nheld == p->capheld) {
    size_t cap = p->capheld ? p->capheld * 2 : 1024;
    held_t *n = realloc(p->held, cap * sizeof *n);
    if (n == NULL)
      return -1;
    p->held = n;
    p->capheld = cap;
  }
  p->held[p->nheld++] = (held_t){d, ti, m->partition, m->offset,
                                 sb_now_ms() + p->timeout_ms * 3};
  return 1;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *popaque) {
  (void)rk;
  sb_producer_t *p = popaque;
  dr_t *d = m->_private;
  const char *error = NULL;
  if (m->err) {
    error = rd_kafka_err2str(m->err);
    fail_record(p, rd_kafka_topic_name(m->rkt), error);
  } else {
    int held = hold(p, m, d);
    if (held > 0)
      return;
    if (held < 0) {
      error = "out of memory while waiting for the embedded broker's journal";
      fail_record(p, rd_kafka_topic_name(m->rkt), error);
    }
  }
  if (d != NULL) {
    if (d->cb)
      d->cb(d->opaque, error);
    free(d);
  }
}

int sb_producer_new(const sb_conf_t *c, sb_producer_t **out, sb_err_t *err) {
  char errstr[512];
  *out = NULL;
  sb_producer_t *p = calloc(1, sizeof *p);
  if (p == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  p->timeout_ms = c->kafka_timeout_ms;
  rd_kafka_conf_t *conf = sb_kafka_conf_new(c, err);
  if (conf == NULL) {
    free(p);
    return err->code;
  }
  /* idempotent: retries never duplicate or reorder within a partition;
   * our defaults first, so kafka.* settings given by the operator win */
  static const char *const defaults[][2] = {
      {"enable.idempotence", "true"}, {"acks", "all"},
      {"linger.ms", "5"},             {"compression.codec", "lz4"},
  };
  for (size_t i = 0; i < SB_ARRAY_LEN(defaults); i++)
    sb_kafka_conf_default(conf, c, defaults[i][0], defaults[i][1]);
  /* a record Kafka cannot take is reported failed after this long, rather
   * than librdkafka's five minutes */
  char mto[32];
  snprintf(mto, sizeof mto, "%d", c->kafka_timeout_ms * 3);
  sb_kafka_conf_default(conf, c, "message.timeout.ms", mto);
  if (sb_durable_attach(c, &p->durable, err) != 0) {
    rd_kafka_conf_destroy(conf);
    free(p);
    return err->code;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, p);
  p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (p->rk == NULL) {
    rd_kafka_conf_destroy(conf);
    sb_durable_detach(p->durable);
    free(p);
    return sb_err_set(err, SB_EKAFKA, "kafka: producer: %s", errstr);
  }
  *out = p;
  return 0;
}

void sb_producer_free(sb_producer_t *p) {
  if (p == NULL)
    return;
  sb_producer_flush(p, 10000, NULL);
  rd_kafka_destroy(p->rk);
  release_held(p, 1);
  free(p->held);
  sb_durable_detach(p->durable);
  free(p);
}

int sb_producer_send(sb_producer_t *p, const char *topic, const void *key,
                     size_t klen, const void *value, size_t vlen,
                     const sb_header_t *hdrs, size_t nhdrs, sb_delivery_cb cb,
                     void *opaque, sb_err_t *err) {
  dr_t *d = NULL;
  if (cb != NULL) {
    d = malloc(sizeof *d);
    if (d == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    d->cb = cb;
    d->opaque = opaque;
  }
  rd_kafka_headers_t *h = rd_kafka_headers_new(nhdrs ? nhdrs : 1);
  for (size_t i = 0; i < nhdrs; i++)
    rd_kafka_header_add(h, hdrs[i].name, -1, hdrs[i].value, hdrs[i].len);
  long long deadline = sb_now_ms() + p->timeout_ms;
  for (;;) {
    rd_kafka_resp_err_t kerr = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
        RD_KAFKA_V_VALUE((void *)value, vlen),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (kerr == RD_KAFKA_RESP_ERR_NO_ERROR)
      return 0; /* the headers belong to the message now */
    if (kerr == RD_KAFKA_RESP_ERR__QUEUE_FULL && p->nonblocking) {
      rd_kafka_headers_destroy(h);
      free(d);
      return sb_err_set(err, SB_EBUSY, "kafka: the producer queue is full");
    }
    if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL || sb_now_ms() > deadline) {
      rd_kafka_headers_destroy(h);
      free(d);
      return sb_kafka_err(err, kerr, "producing");
    }
    rd_kafka_poll(p->rk, 10); /* make room by serving deliveries */
  }
}

/* The headers of an event's record: the CloudEvents Kafka protocol binding
 * 1.0 in binary mode (ce_specversion, ce_id, ce_source, ce_type, ce_time,
 * ce_subject, ce_tenantid, content-type), so CloudEvents-aware consumers
 * read the record as the event, and sb-event-id only when ce_id is the
 * producer's own id (not the event's ULID); then extra. The type is
 * ce_type alone (records before this carry sb-type: readers take either).
 * Every header is a malloc in librdkafka and bytes in the log: measured in
 * bench/README.md. ts holds the time's text. Returns the count. */
#define EVENT_HEADERS 9
static size_t event_headers(const sb_record_t *r, char ts[40],
                            sb_header_t *h, const sb_header_t *extra,
                            size_t nextra) {
  size_t n = 0;
  const char *colon = r->key ? memchr(r->key, ':', r->key_len) : NULL;
  sb_time_format(r->occurred_at, ts, 40);
  h[n++] = (sb_header_t){"ce_specversion", "1.0", 3};
  if (r->ce_id != NULL && strcmp(r->ce_id, r->event_id) != 0) {
    h[n++] = (sb_header_t){"ce_id", r->ce_id, -1};
    h[n++] = (sb_header_t){"sb-event-id", r->event_id, -1};
  } else {
    h[n++] = (sb_header_t){"ce_id", r->event_id, -1};
  }
  if (r->source != NULL && r->source[0] != '\0')
    h[n++] = (sb_header_t){"ce_source", r->source, -1};
  h[n++] = (sb_header_t){"ce_type", sb_evtype_name(r->type), -1};
  h[n++] = (sb_header_t){"ce_time", ts, -1};
  if (colon != NULL) { /* the key is "tenant:subject" */
    h[n++] = (sb_header_t){"ce_subject", colon + 1,
                           (ssize_t)(r->key_len - (size_t)(colon + 1 - r->key))};
    h[n++] = (sb_header_t){"ce_tenantid", r->key,
                           (ssize_t)(colon - r->key)};
  }
  h[n++] = (sb_header_t){"content-type", "application/avro", 16};
  for (size_t i = 0; i < nextra; i++)
    h[n++] = extra[i];
  return n;
}

int sb_producer_send_record(sb_producer_t *p, const sb_record_t *r,
                            sb_delivery_cb cb, void *opaque, sb_err_t *err) {
  sb_header_t hdrs[EVENT_HEADERS];
  char ts[40];
  size_t n = event_headers(r, ts, hdrs, NULL, 0);
  return sb_producer_send(p, sb_evtype_topic(r->type), r->key, r->key_len,
                          r->value, r->value_len, hdrs, n, cb, opaque, err);
}

int sb_producer_send_derived(sb_producer_t *p, const sb_record_t *r,
                             const char *txid, const char *processor,
                             sb_err_t *err) {
  const sb_header_t extra[] = {
      {"sb-txid", txid, -1},
      {"sb-emitted-by", processor, -1},
  };
  sb_header_t hdrs[EVENT_HEADERS + SB_ARRAY_LEN(extra)];
  char ts[40];
  size_t n = event_headers(r, ts, hdrs, extra, SB_ARRAY_LEN(extra));
  return sb_producer_send(p, sb_evtype_topic(r->type), r->key, r->key_len,
                          r->value, r->value_len, hdrs, n, NULL, NULL, err);
}

void sb_producer_poll(sb_producer_t *p) {
  rd_kafka_poll(p->rk, 0);
  if (p->nheld > 0)
    release_held(p, 0);
}

void sb_producer_set_nonblocking(sb_producer_t *p) { p->nonblocking = 1; }

int sb_producer_outstanding(sb_producer_t *p) {
  return rd_kafka_outq_len(p->rk) + (int)p->nheld;
}

int sb_producer_flush(sb_producer_t *p, int timeout_ms, sb_err_t *err) {
  long long deadline = sb_now_ms() + timeout_ms;
  rd_kafka_resp_err_t kerr = rd_kafka_flush(p->rk, timeout_ms);
  /* and, on the embedded broker, until the journal has them on disk */
  while (p->nheld > 0) {
    release_held(p, sb_now_ms() >= deadline);
    if (p->nheld > 0)
      usleep(500);
  }
  int failed = p->failed;
  p->failed = 0;
  if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR)
    return sb_err_set(err, SB_ETIMEDOUT,
                      "kafka: %d records not acknowledged within %d ms",
                      rd_kafka_outq_len(p->rk), timeout_ms);
  if (failed)
    return sb_err_set(err, SB_EKAFKA, "kafka: %d records failed, first: %s",
                      failed, p->first_error);
  return 0;
}

int sb_producer_purge(sb_producer_t *p) {
  int n = rd_kafka_outq_len(p->rk);
  rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  /* the purged records' delivery reports come through poll */
  for (int i = 0; i < 100 && rd_kafka_outq_len(p->rk) > 0; i++)
    rd_kafka_poll(p->rk, 10);
  rd_kafka_poll(p->rk, 0);
  n += (int)p->nheld;
  release_held(p, 1);
  p->failed = 0;
  return n;
}
