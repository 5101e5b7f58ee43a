/* The engine's live reader (sb_tail.h) against the embedded broker: a
 * topic read from a time, one from its start, one from its end, one the
 * brokers do not have; history told from news; keys, headers, timestamps;
 * and a reader whose brokers do not answer. */
#include "sb_test.h"
#include "sb_tests.h"

#include "sb_conf.h"
#include "sb_journal.h"
#include "sb_kafka.h"
#include "sb_tail.h"
#include "sb_time.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PARTS 2

static int produce(rd_kafka_t *p, const char *topic, int32_t partition,
                   const char *value, int64_t ts_ms, const char *type) {
  char key[64];
  snprintf(key, sizeof key, "acme:%s", value);
  rd_kafka_headers_t *h = NULL;
  if (type != NULL) {
    h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "sb-type", -1, type, -1);
  }
  rd_kafka_resp_err_t e = rd_kafka_producev(
      p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
      RD_KAFKA_V_KEY(key, strlen(key)),
      RD_KAFKA_V_VALUE((void *)value, strlen(value)),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts_ms),
      RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_headers_destroy(h);
    fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
    return -1;
  }
  return 0;
}

/* What a test reads: each record's value, and how it came. */
typedef struct {
  char value[32];
  int topic_index, history;
  int32_t partition;
  int64_t timestamp_ms;
  char key[64], type[32]; /* type: the sb-type header, "" when none */
} seen_t;

/* Reads until want records came (or 30 s passed); returns how many. */
static int read_some(sb_tail_t *t, seen_t *out, int want) {
  int n = 0;
  long long deadline = sb_now_ms() + 30000;
  while (n < want && sb_now_ms() < deadline) {
    sb_tail_rec_t rec;
    sb_err_t err = SB_ERR_INIT;
    int rc = sb_tail_next(t, 100, &rec, &err);
    if (rc < 0)
      fprintf(stderr, "reading: %s\n", err.msg);
    if (rc != 1)
      continue;
    seen_t *s = &out[n++];
    memset(s, 0, sizeof *s);
    snprintf(s->value, sizeof s->value, "%.*s", (int)rec.value_len,
             (const char *)rec.value);
    snprintf(s->key, sizeof s->key, "%.*s", (int)rec.key_len,
             (const char *)rec.key);
    s->topic_index = rec.topic_index;
    s->history = rec.history;
    s->partition = rec.partition;
    s->timestamp_ms = rec.timestamp_ms;
    const void *v = NULL;
    size_t vn = 0;
    if (sb_tail_header(&rec, "sb-type", &v, &vn) == 0)
      snprintf(s->type, sizeof s->type, "%.*s", (int)vn, (const char *)v);
    if (sb_tail_header(&rec, "no-such-header", &v, &vn) != -1)
      return -1;
  }
  return n;
}

static const seen_t *find(const seen_t *s, int n, const char *value) {
  for (int i = 0; i < n; i++)
    if (strcmp(s[i].value, value) == 0)
      return &s[i];
  return NULL;
}

int test_tail_history_and_news(void) {
  sb_conf_t c;
  sb_err_t err = SB_ERR_INIT;
  sb_embedded_t *e = NULL;
  sb_durable_t *w = NULL;
  char dir[] = "/tmp/sb-tail-XXXXXX", kdir[64], errstr[256];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(kdir, sizeof kdir, "%s/kafka", dir);
  CHECK_OK(sb_mkdir_p(kdir, 0700, &err), &err);
  CHECK_OK(sb_conf_init(&c, &err), &err);
  CHECK_OK(sb_conf_set(&c, "partitions", "2", SB_CO_FLAG, NULL, &err), &err);
  CHECK_OK(sb_conf_set(&c, "data_dir", dir, SB_CO_FLAG, NULL, &err), &err);
  CHECK_OK(sb_embedded_start(&c, &e, &err), &err);
  const char *boot = sb_embedded_bootstraps(e);
  CHECK_OK(sb_conf_set(&c, "brokers", boot, SB_CO_RUNTIME, NULL, &err), &err);
  /* the broker is the journaled one of the data directory (as `up`'s),
   * which cannot find offsets by time: a topic read from a time is read
   * from its start, what is older skipped */
  int64_t next[64] = {0};
  CHECK(sb_topics_n * PARTS <= 64);
  CHECK_OK(sb__durable_create(kdir, "00ff", boot, PARTS, 1 << 20, next, &w,
                              &err),
           &err);
  char epoch[96];
  CHECK_OK(sb_log_epoch(&c, NULL, epoch, sizeof epoch, &err), &err);
  CHECK_STR(epoch, "journal:00ff");

  rd_kafka_conf_t *pc = sb_kafka_conf_new(&c, &err);
  CHECK(pc != NULL);
  rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
  CHECK(p != NULL);
  int64_t now = sb_time_now_micros() / 1000;
  const char *old[] = {"old-0", "old-1", "old-2"};
  const char *recent[] = {"recent-0", "recent-1", "recent-2"};
  for (int i = 0; i < 3; i++)
    CHECK(produce(p, SB_TOPIC_CALLS, 0, old[i], now - 3600000 + i,
                  "call.started") == 0);
  for (int i = 0; i < 3; i++)
    CHECK(produce(p, SB_TOPIC_CALLS, 0, recent[i], now - 60000 + i,
                  "call.started") == 0);
  CHECK(produce(p, SB_TOPIC_LEADS, 1, "lead-0", now - 7200000, NULL) == 0);
  CHECK(produce(p, SB_TOPIC_LEADS, 1, "lead-1", now - 1000, NULL) == 0);
  CHECK(produce(p, SB_TOPIC_AGENTS, 0, "agent-0", now - 1000, NULL) == 0);
  CHECK_INT(rd_kafka_flush(p, 10000), 0);

  sb_tail_topic_t topics[] = {
      {SB_TOPIC_CALLS, SB_TAIL_TIME, now - 600000},
      {SB_TOPIC_LEADS, SB_TAIL_START, 0},
      {SB_TOPIC_AGENTS, SB_TAIL_END, 0},
      {"sb.no-such-topic", SB_TAIL_START, 0},
  };
  sb_tail_t *t = NULL;
  sb_err_t warn = SB_ERR_INIT;
  CHECK_OK(sb_tail_open(&c, "test", topics, SB_ARRAY_LEN(topics), &t, &warn,
                        &err),
           &err);
  CHECK_INT(warn.code, 0);
  CHECK_INT(sb_tail_partitions(t), 3 * PARTS); /* the missing topic left out */

  /* history: the recent calls (not the old ones) and every lead; no agent
   * written before the reader opened */
  seen_t s[16];
  int n = read_some(t, s, 5);
  CHECK_INT(n, 5);
  for (int i = 0; i < 3; i++)
    CHECK(find(s, n, old[i]) == NULL);
  CHECK(find(s, n, "agent-0") == NULL);
  for (int i = 0; i < 3; i++) {
    const seen_t *r = find(s, n, recent[i]);
    CHECK(r != NULL);
    CHECK_INT(r->history, 1);
    CHECK_INT(r->topic_index, 0);
    CHECK_INT(r->partition, 0);
    CHECK_INT(r->timestamp_ms, now - 60000 + i);
    CHECK_STR(r->type, "call.started");
    char key[64];
    snprintf(key, sizeof key, "acme:%s", recent[i]);
    CHECK_STR(r->key, key);
  }
  for (int i = 0; i < 2; i++) {
    const seen_t *r = find(s, n, i ? "lead-1" : "lead-0");
    CHECK(r != NULL);
    CHECK_INT(r->history, 1);
    CHECK_INT(r->topic_index, 1);
    CHECK_INT(r->partition, 1);
    CHECK_STR(r->type, "");
  }
  /* news: whatever is written now, on every topic, history or not before */
  CHECK(produce(p, SB_TOPIC_AGENTS, 1, "agent-1", now, NULL) == 0);
  CHECK(produce(p, SB_TOPIC_CALLS, 0, "call-new", now, "call.ended") == 0);
  CHECK(produce(p, SB_TOPIC_LEADS, 0, "lead-new", now, NULL) == 0);
  CHECK_INT(rd_kafka_flush(p, 10000), 0);
  n = read_some(t, s, 3);
  CHECK_INT(n, 3);
  const char *news[] = {"call-new", "lead-new", "agent-1"}; /* by topic */
  for (int i = 0; i < 3; i++) {
    const seen_t *r = find(s, n, news[i]);
    CHECK(r != NULL);
    CHECK_INT(r->history, 0);
    CHECK_INT(r->topic_index, i);
  }
  CHECK_STR(find(s, n, "call-new")->type, "call.ended");
  sb_tail_close(t);

  /* brokers that do not answer: the error says what was asked */
  sb_conf_t bad;
  CHECK_OK(sb_conf_init(&bad, &err), &err);
  CHECK_OK(sb_conf_set(&bad, "brokers", "127.0.0.1:1", SB_CO_FLAG, NULL, &err),
           &err);
  CHECK_OK(sb_conf_set(&bad, "kafka_timeout_ms", "500", SB_CO_FLAG, NULL, &err),
           &err);
  sb_err_t down = SB_ERR_INIT;
  t = NULL;
  CHECK(sb_tail_open(&bad, "test", topics, 1, &t, NULL, &down) < 0);
  CHECK(t == NULL);
  CHECK_HAS(down.msg, "test: reading the topics' partitions");
  sb_conf_free(&bad);

  rd_kafka_destroy(p);
  sb_durable_detach(w);
  sb_embedded_stop(e);
  sb_conf_free(&c);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK_INT(system(cmd), 0);
  return 0;
}
