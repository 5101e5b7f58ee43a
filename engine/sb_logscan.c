#include "sb_logscan.h"

#include "sb_kafka.h"
#include "sb_util.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

#define SCAN_BATCH 4096

static int wanted(const char *const *topics, const char *name) {
  for (; *topics; topics++)
    if (strcmp(*topics, name) == 0)
      return 1;
  return 0;
}

int sb_logscan(const sb_conf_t *c, const char *const *topics, uint64_t expect,
               int idle_ms, sb_logscan_fn fn, void *ctx, uint64_t *records,
               uint64_t *bytes, sb_err_t *err) {
  *records = *bytes = 0;
  rd_kafka_conf_t *kc = sb_kafka_conf_new(c, err);
  if (kc == NULL)
    return err->code;
  char errstr[512];
  /* partitions are assigned by hand: the group (librdkafka wants one) is
   * never joined, and nothing is committed */
  rd_kafka_conf_set(kc, "group.id", "switchboard-bench-ceiling", NULL, 0);
  rd_kafka_conf_set(kc, "enable.auto.commit", "false", NULL, 0);
  rd_kafka_conf_set(kc, "enable.partition.eof", "false", NULL, 0);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof errstr);
  if (rk == NULL) {
    rd_kafka_conf_destroy(kc);
    return sb_err_set(err, SB_EKAFKA, "kafka: consumer: %s", errstr);
  }
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t kerr =
      rd_kafka_metadata(rk, 1, NULL, &md, c->kafka_timeout_ms);
  if (kerr) {
    rd_kafka_destroy(rk);
    return sb_kafka_err(err, kerr, "scanning the log: metadata");
  }
  rd_kafka_topic_partition_list_t *parts =
      rd_kafka_topic_partition_list_new(256);
  for (int t = 0; t < md->topic_cnt; t++) {
    if (!wanted(topics, md->topics[t].topic))
      continue;
    for (int p = 0; p < md->topics[t].partition_cnt; p++)
      rd_kafka_topic_partition_list_add(parts, md->topics[t].topic,
                                        md->topics[t].partitions[p].id)
          ->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_metadata_destroy(md);
  kerr = rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  if (kerr) {
    rd_kafka_destroy(rk);
    return sb_kafka_err(err, kerr, "scanning the log: assigning partitions");
  }
  rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
  rd_kafka_message_t *batch[SCAN_BATCH];
  long long last = sb_now_ms();
  int rc = 0;
  while (rc == 0 && *records < expect && sb_now_ms() - last < idle_ms) {
    ssize_t n = rd_kafka_consume_batch_queue(q, 200, batch, SCAN_BATCH);
    for (ssize_t i = 0; i < n; i++) {
      if (!batch[i]->err) {
        (*records)++;
        *bytes += batch[i]->len + batch[i]->key_len;
      }
      rd_kafka_message_destroy(batch[i]);
    }
    if (n > 0) {
      last = sb_now_ms();
      if (fn != NULL)
        rc = fn(ctx, *records, *bytes, err);
    }
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return rc;
}
