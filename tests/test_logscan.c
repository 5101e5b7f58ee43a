/* sb_logscan against the embedded broker: whole topics read from the
 * beginning, outside any group (the benchmark's consumer ceiling). */
#include "sb_conf.h"
#include "sb_kafka.h"
#include "sb_logscan.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_topics.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  int calls;
  uint64_t last_records, last_bytes;
  int monotonic;
  uint64_t stop_after; /* fail the scan once this many were read; 0 never */
} tally_t;

static int on_batch(void *ctx, uint64_t records, uint64_t bytes,
                    sb_err_t *err) {
  tally_t *t = ctx;
  if (records < t->last_records || bytes < t->last_bytes)
    t->monotonic = 0;
  t->calls++;
  t->last_records = records;
  t->last_bytes = bytes;
  if (t->stop_after && records >= t->stop_after)
    return sb_err_set(err, SB_ESTATE, "enough");
  return 0;
}

/* n records of topic, keys "t1:k<i>" and values "value-<i>"; adds their
 * bytes to *bytes. */
static int produce(rd_kafka_t *p, const char *topic, int n, uint64_t *bytes) {
  for (int i = 0; i < n; i++) {
    char key[32], val[32];
    snprintf(key, sizeof key, "t1:k%d", i);
    snprintf(val, sizeof val, "value-%d", i);
    if (rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(val, strlen(val)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) != 0)
      return -1;
    *bytes += strlen(key) + strlen(val);
    rd_kafka_poll(p, 0);
  }
  return 0;
}

int test_logscan_reads_whole_topics(void) {
  sb_conf_t c;
  sb_embedded_t *e = NULL;
  sb_err_t err = SB_ERR_INIT;
  char errstr[256];
  sb_conf_init(&c, NULL);
  sb_conf_set(&c, "partitions", "3", SB_CO_FLAG, NULL, NULL);
  CHECK(sb_embedded_start(&c, &e, &err) == 0);
  sb_conf_set(&c, "brokers", sb_embedded_bootstraps(e), SB_CO_RUNTIME, NULL,
              NULL);

  rd_kafka_conf_t *pc = sb_kafka_conf_new(&c, &err);
  CHECK(pc != NULL);
  rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
  CHECK(p != NULL);
  uint64_t want_bytes = 0, other = 0;
  CHECK(produce(p, SB_TOPIC_LEADS, 300, &want_bytes) == 0);
  CHECK(produce(p, SB_TOPIC_CALLS, 200, &want_bytes) == 0);
  CHECK(produce(p, SB_TOPIC_DEADLETTER, 50, &other) == 0); /* not scanned */
  CHECK_INT(rd_kafka_flush(p, 10000), 0);
  rd_kafka_destroy(p);

  /* every record of the two topics; a topic the brokers lack is skipped */
  const char *topics[] = {SB_TOPIC_LEADS, SB_TOPIC_CALLS, "sb.no_such_topic",
                          NULL};
  tally_t t = {.monotonic = 1};
  uint64_t records = 0, bytes = 0;
  CHECK_INT(
      sb_logscan(&c, topics, 500, 10000, on_batch, &t, &records, &bytes, &err),
      0);
  CHECK_INT((long long)records, 500);
  CHECK_INT((long long)bytes, (long long)want_bytes);
  CHECK(t.calls >= 1 && t.monotonic);
  CHECK_INT((long long)t.last_records, 500);
  CHECK_INT((long long)t.last_bytes, (long long)want_bytes);

  /* more expected than the log holds: it ends when nothing comes for
   * idle_ms, with what it read; the caller judges */
  records = bytes = 0;
  CHECK_INT(
      sb_logscan(&c, topics, 100000, 1500, NULL, NULL, &records, &bytes, &err),
      0);
  CHECK_INT((long long)records, 500);

  /* the callback stops the scan, and its error is returned */
  tally_t s = {.monotonic = 1, .stop_after = 1};
  sb_err_t e2 = SB_ERR_INIT;
  CHECK_INT(
      sb_logscan(&c, topics, 500, 10000, on_batch, &s, &records, &bytes, &e2),
      SB_ESTATE);
  CHECK(strstr(e2.msg, "enough") != NULL);
  CHECK_INT(s.calls, 1);

  sb_embedded_stop(e);
  sb_conf_free(&c);
  return 0;
}
