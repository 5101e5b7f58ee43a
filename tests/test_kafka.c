/* Tests against the embedded broker (librdkafka's mock cluster). */
#include "sb_conf.h"
#include "sb_kafka.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>
#include <string.h>

static int start(sb_conf_t *c, sb_embedded_t **e, int partitions) {
  sb_err_t err = SB_ERR_INIT;
  char n[16];
  snprintf(n, sizeof n, "%d", partitions);
  sb_conf_init(c, NULL);
  sb_conf_set(c, "partitions", n, SB_CO_FLAG, NULL, NULL);
  if (sb_embedded_start(c, e, &err) != 0) {
    fprintf(stderr, "embedded broker: %s\n", err.msg);
    return -1;
  }
  sb_conf_set(c, "brokers", sb_embedded_bootstraps(*e), SB_CO_RUNTIME, NULL,
              NULL);
  return 0;
}

/* The partition count of topic in md, or -1 when it is absent. */
static int partitions_of(const struct rd_kafka_metadata *md, const char *topic) {
  for (int t = 0; t < md->topic_cnt; t++)
    if (strcmp(md->topics[t].topic, topic) == 0)
      return md->topics[t].partition_cnt;
  return -1;
}

int test_kafka_embedded_topics(void) {
  sb_conf_t c;
  sb_embedded_t *e = NULL;
  sb_err_t err = SB_ERR_INIT;
  CHECK(start(&c, &e, 3) == 0);
  CHECK_HAS(sb_embedded_bootstraps(e), "127.0.0.1:");
  /* the broker check sees every topic already there and creates none */
  CHECK_OK(sb_kafka_check_brokers(&c, &err), &err);
  rd_kafka_conf_t *kc = sb_kafka_conf_new(&c, &err);
  CHECK(kc != NULL);
  char errstr[256];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof errstr);
  CHECK(rk != NULL);
  const struct rd_kafka_metadata *md = NULL;
  CHECK_INT(rd_kafka_metadata(rk, 1, NULL, &md, 5000), 0);
  for (size_t i = 0; i < sb_topics_n; i++)
    CHECK_INT(partitions_of(md, sb_topics[i]), 3);
  rd_kafka_metadata_destroy(md);
  rd_kafka_destroy(rk);
  sb_embedded_stop(e);
  sb_conf_free(&c);
  return 0;
}

#define N_MSGS 2000

int test_kafka_roundtrip(void) {
  sb_conf_t c;
  sb_embedded_t *e = NULL;
  sb_err_t err = SB_ERR_INIT;
  char errstr[256];
  CHECK(start(&c, &e, 4) == 0);

  /* produce: keys tenant:entity, headers sb-type and sb-event-id */
  rd_kafka_conf_t *pc = sb_kafka_conf_new(&c, &err);
  CHECK(pc != NULL);
  CHECK(rd_kafka_conf_set(pc, "enable.idempotence", "true", errstr,
                          sizeof errstr) == RD_KAFKA_CONF_OK);
  rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
  CHECK(p != NULL);
  for (int i = 0; i < N_MSGS; i++) {
    char key[64], val[64], id[32];
    snprintf(key, sizeof key, "t1:lead-%d", i % 50);
    snprintf(val, sizeof val, "payload-%d", i);
    snprintf(id, sizeof id, "ev-%d", i);
    rd_kafka_resp_err_t kerr = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC(SB_TOPIC_LEADS), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(val, strlen(val)),
        RD_KAFKA_V_HEADER("sb-type", "lead.created", -1),
        RD_KAFKA_V_HEADER("sb-event-id", id, -1),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    CHECK_INT(kerr, 0);
    rd_kafka_poll(p, 0);
  }
  CHECK_INT(rd_kafka_flush(p, 10000), 0);
  rd_kafka_destroy(p);

  /* consume every partition from the start */
  rd_kafka_conf_t *cc = sb_kafka_conf_new(&c, &err);
  CHECK(cc != NULL);
  CHECK(rd_kafka_conf_set(cc, "group.id", "sbt-roundtrip", errstr,
                          sizeof errstr) == RD_KAFKA_CONF_OK);
  rd_kafka_t *k = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof errstr);
  CHECK(k != NULL);
  rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
  for (int i = 0; i < 4; i++)
    rd_kafka_topic_partition_list_add(parts, SB_TOPIC_LEADS, i)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  CHECK_INT(rd_kafka_assign(k, parts), 0);
  rd_kafka_topic_partition_list_destroy(parts);

  static int seen[N_MSGS];
  static int last_for_key[50];
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < 50; i++)
    last_for_key[i] = -1;
  int got = 0;
  long long deadline = sb_now_ms() + 20000;
  while (got < N_MSGS && sb_now_ms() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(k, 100);
    if (m == NULL)
      continue;
    if (m->err) {
      rd_kafka_message_destroy(m);
      continue;
    }
    char val[64];
    snprintf(val, sizeof val, "%.*s", (int)m->len, (const char *)m->payload);
    int n = atoi(val + strlen("payload-"));
    CHECK(n >= 0 && n < N_MSGS);
    seen[n]++;
    /* per key, order is kept (one key, one partition) */
    CHECK(last_for_key[n % 50] < n);
    last_for_key[n % 50] = n;
    rd_kafka_headers_t *hdrs = NULL;
    const void *hv;
    size_t hl;
    CHECK_INT(rd_kafka_message_headers(m, &hdrs), 0);
    CHECK_INT(rd_kafka_header_get_last(hdrs, "sb-type", &hv, &hl), 0);
    CHECK(hl == strlen("lead.created") && memcmp(hv, "lead.created", hl) == 0);
    got++;
    rd_kafka_message_destroy(m);
  }
  CHECK_INT(got, N_MSGS);
  for (int i = 0; i < N_MSGS; i++)
    CHECK_INT(seen[i], 1);
  rd_kafka_consumer_close(k);
  rd_kafka_destroy(k);
  sb_embedded_stop(e);
  sb_conf_free(&c);
  return 0;
}

int test_kafka_unreachable_brokers(void) {
  sb_conf_t c;
  sb_err_t err = SB_ERR_INIT;
  sb_conf_init(&c, NULL);
  sb_conf_set(&c, "brokers", "127.0.0.1:1", SB_CO_FLAG, NULL, NULL);
  sb_conf_set(&c, "kafka_timeout_ms", "1000", SB_CO_FLAG, NULL, NULL);
  long long t0 = sb_now_ms();
  CHECK_INT(sb_kafka_check_brokers(&c, &err), SB_EUNAVAIL);
  CHECK(sb_now_ms() - t0 < 5000);
  CHECK_HAS(err.msg, "brokers '127.0.0.1:1' did not answer within 1000 ms");
  CHECK(err.retriable);
  sb_conf_free(&c);
  return 0;
}

/* Brokers without Switchboard's topics: the start-up check tries to create
 * them through the Admin API. librdkafka 2.0.2's mock cluster does not serve
 * CreateTopics, so here the attempt must fail within the timeout and the
 * error must name exactly the missing topics and what to do. */
int test_kafka_check_missing_topics(void) {
  char errstr[256];
  rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(),
                                  errstr, sizeof errstr);
  CHECK(host != NULL);
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(host, 1);
  CHECK(mc != NULL);
  for (size_t i = 0; i < sb_topics_n; i++)
    if (strcmp(sb_topics[i], SB_TOPIC_CALLS) != 0 &&
        strcmp(sb_topics[i], SB_TOPIC_DEADLETTER) != 0)
      CHECK_INT(rd_kafka_mock_topic_create(mc, sb_topics[i], 2, 1), 0);

  sb_conf_t c;
  sb_err_t err = SB_ERR_INIT;
  sb_conf_init(&c, NULL);
  sb_conf_set(&c, "brokers", rd_kafka_mock_cluster_bootstraps(mc), SB_CO_FLAG,
              NULL, NULL);
  sb_conf_set(&c, "partitions", "5", SB_CO_FLAG, NULL, NULL);
  sb_conf_set(&c, "kafka_timeout_ms", "1500", SB_CO_FLAG, NULL, NULL);
  long long t0 = sb_now_ms();
  int rc = sb_kafka_check_brokers(&c, &err);
  CHECK(rc == SB_ETIMEDOUT || rc == SB_EKAFKA);
  CHECK(sb_now_ms() - t0 < 8000);
  CHECK_HAS(err.msg, "topics sb.calls, sb.deadletter are missing");
  CHECK_HAS(err.msg, "create them with 5 partitions");
  sb_conf_free(&c);

  /* with every topic present the check passes and changes nothing */
  CHECK_INT(rd_kafka_mock_topic_create(mc, SB_TOPIC_CALLS, 2, 1), 0);
  CHECK_INT(rd_kafka_mock_topic_create(mc, SB_TOPIC_DEADLETTER, 2, 1), 0);
  sb_conf_init(&c, NULL);
  sb_err_clear(&err);
  sb_conf_set(&c, "brokers", rd_kafka_mock_cluster_bootstraps(mc), SB_CO_FLAG,
              NULL, NULL);
  CHECK_OK(sb_kafka_check_brokers(&c, &err), &err);
  sb_conf_free(&c);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(host);
  return 0;
}
