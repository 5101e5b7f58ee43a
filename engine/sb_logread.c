#include "sb_logread.h"

#include "sb_kafka.h"
#include "sb_util.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

struct sb_logread_s {
  const sb_conf_t *c;
  rd_kafka_t *rk;
  const rd_kafka_message_t *cur; /* the record fn is handed */
};

void sb_logread_close(sb_logread_t *r) {
  if (r == NULL)
    return;
  if (r->rk != NULL) {
    rd_kafka_consumer_close(r->rk);
    rd_kafka_destroy(r->rk);
  }
  free(r);
}

int sb_logread_open(const sb_conf_t *c, sb_logread_t **out, sb_err_t *err) {
  char errstr[512];
  *out = NULL;
  sb_logread_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  r->c = c;
  rd_kafka_conf_t *conf = sb_kafka_conf_new(c, err);
  if (conf == NULL) {
    free(r);
    return err->code;
  }
  /* partitions are assigned by hand and nothing is committed: the group
   * (librdkafka wants one) is never joined */
  static const char *const fixed[][2] = {
      {"group.id", "switchboard.logread"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "true"},
      {"auto.offset.reset", "error"},
      {"fetch.wait.max.ms", "10"}, /* one partition after another: no idling */
  };
  for (size_t i = 0; i < SB_ARRAY_LEN(fixed); i++)
    rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], errstr, sizeof errstr);
  r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (r->rk == NULL) {
    rd_kafka_conf_destroy(conf);
    free(r);
    return sb_err_set(err, SB_EKAFKA, "kafka: consumer: %s", errstr);
  }
  rd_kafka_poll_set_consumer(r->rk);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t k =
      rd_kafka_metadata(r->rk, 0, NULL, &md, c->kafka_timeout_ms);
  if (k != RD_KAFKA_RESP_ERR_NO_ERROR) {
    sb_logread_close(r);
    return sb_kafka_err(err, k, "brokers do not answer");
  }
  rd_kafka_metadata_destroy(md);
  *out = r;
  return 0;
}

int sb_logread_partitions(sb_logread_t *r, const char *topic, int *n,
                          sb_err_t *err) {
  *n = 0;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, topic, NULL);
  if (rkt == NULL)
    return sb_err_set(err, SB_EKAFKA, "kafka: topic %s: %s", topic,
                      rd_kafka_err2str(rd_kafka_last_error()));
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t k =
      rd_kafka_metadata(r->rk, 0, rkt, &md, r->c->kafka_timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (k != RD_KAFKA_RESP_ERR_NO_ERROR)
    return sb_kafka_err(err, k, topic);
  if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
    *n = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  return 0;
}

int sb_logread_watermarks(sb_logread_t *r, const char *topic, int32_t partition,
                          int64_t *lo, int64_t *hi, sb_err_t *err) {
  rd_kafka_resp_err_t k = rd_kafka_query_watermark_offsets(
      r->rk, topic, partition, lo, hi, r->c->kafka_timeout_ms);
  if (k != RD_KAFKA_RESP_ERR_NO_ERROR) {
    char what[128];
    snprintf(what, sizeof what, "watermarks of %s[%d]", topic, partition);
    return sb_kafka_err(err, k, what);
  }
  return 0;
}

int sb_logread_header(sb_logread_t *r, const char *name, char *out,
                      size_t cap) {
  return sb_kafka_header(r->cur, name, out, cap);
}

int64_t sb_logread_timestamp(sb_logread_t *r) {
  if (r->cur == NULL)
    return -1;
  return rd_kafka_message_timestamp(r->cur, NULL);
}

int sb_logread_range(sb_logread_t *r, const char *topic, int32_t partition,
                     int64_t from, int64_t to, sb_logread_fn fn, void *ctx,
                     sb_err_t *err) {
  if (from >= to)
    return 0;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, partition)->offset = from;
  rd_kafka_resp_err_t k = rd_kafka_assign(r->rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (k != RD_KAFKA_RESP_ERR_NO_ERROR)
    return sb_kafka_err(err, k, "assigning a partition to read");
  int rc = 0;
  int64_t next = from;
  long long quiet_since = sb_now_ms();
  while (rc == 0 && next < to) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 100);
    if (m == NULL) {
      if (sb_now_ms() - quiet_since > r->c->kafka_timeout_ms)
        rc = sb_err_set(err, SB_ETIMEDOUT,
                        "kafka: reading %s[%d]: nothing for %d ms at offset "
                        "%lld (want up to %lld)",
                        topic, partition, r->c->kafka_timeout_ms,
                        (long long)next, (long long)to);
      continue;
    }
    quiet_since = sb_now_ms();
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      next = to; /* the log holds nothing more: the rest is not there */
    } else if (m->err) {
      char what[128];
      snprintf(what, sizeof what, "reading %s[%d]", topic, partition);
      rc = sb_kafka_err(err, m->err, what);
    } else if (m->offset >= next && m->offset < to) {
      r->cur = m;
      rc = fn(ctx, m->offset, m->key, m->key_len, m->payload, m->len, err);
      r->cur = NULL;
      next = m->offset + 1;
    } else if (m->offset >= to) {
      next = to;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(r->rk, NULL);
  return rc;
}
