#include "sb_tail.h"

#include "sb_journal.h"
#include "sb_kafka.h"
#include "sb_util.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sb_tail_s {
  const sb_conf_t *c;
  rd_kafka_t *rk;
  sb_tail_topic_t *topics; /* a copy; the names borrowed */
  size_t ntopics;
  int nparts; /* assigned */
  /* per topic index and partition, the end of the log at open of the
   * partitions read from their start or a time (records below it are
   * history); NULL when none is */
  int64_t *end;
  int maxp;    /* partitions per topic in end */
  int warming; /* partitions whose history is still being read */
  rd_kafka_message_t *km; /* the record handed out last */
};

static int topic_of(const sb_tail_t *t, const char *name) {
  for (size_t i = 0; i < t->ntopics; i++)
    if (strcmp(t->topics[i].name, name) == 0)
      return (int)i;
  return -1;
}

/* 1 when a record of topic ti is history (below the end its partition had
 * at open), 2 when it is history older than the topic's time (skipped), 0
 * when it is news. The last record of a partition's history ends its
 * warm-up. */
static int is_history(sb_tail_t *t, int ti, const rd_kafka_message_t *km) {
  if (t->end == NULL || t->warming == 0 || km->partition < 0 ||
      km->partition >= t->maxp)
    return 0;
  int64_t end = t->end[(size_t)ti * (size_t)t->maxp + (size_t)km->partition];
  if (km->offset >= end)
    return 0;
  if (km->offset == end - 1)
    t->warming--;
  /* read from the log's start (a broker that cannot find offsets by time):
   * what is older than the topic's time is skipped */
  return t->topics[ti].from == SB_TAIL_TIME &&
                 rd_kafka_message_timestamp(km, NULL) < t->topics[ti].since_ms
             ? 2
             : 1;
}

/* Starts the partitions of the topics read from their start or a time
 * there, and notes where each ends now: what lies between is history. A
 * partition whose start cannot be found starts at its end, as the others
 * do (warn says why). */
static void starts(sb_tail_t *t, rd_kafka_topic_partition_list_t *parts,
                   sb_err_t *warn) {
  int bytime = 0, any = 0;
  for (int i = 0; i < parts->cnt; i++) {
    sb_tail_from_t from = t->topics[topic_of(t, parts->elems[i].topic)].from;
    any |= from != SB_TAIL_END;
    bytime |= from == SB_TAIL_TIME;
  }
  if (!any)
    return;
  t->end = calloc(t->ntopics * (size_t)t->maxp, sizeof *t->end);
  if (t->end == NULL)
    return;
  /* the embedded broker (librdkafka's mock cluster) finds no offset by
   * time, and holds little: it is read from the start, records older than
   * the time skipped; real brokers start at the offset of the time */
  char epoch[160];
  sb_err_t ignore = SB_ERR_INIT;
  int embedded = bytime &&
                 sb_log_epoch(t->c, t->rk, epoch, sizeof epoch, &ignore) == 0 &&
                 strncmp(epoch, "journal:", 8) == 0;
  rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_new(32);
  rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(32);
  for (int i = 0; i < parts->cnt; i++) {
    const char *name = parts->elems[i].topic;
    const sb_tail_topic_t *tp = &t->topics[topic_of(t, name)];
    if (tp->from == SB_TAIL_END)
      continue;
    int first = tp->from == SB_TAIL_START || embedded;
    rd_kafka_topic_partition_list_add(at, name, parts->elems[i].partition)
        ->offset = first ? RD_KAFKA_OFFSET_BEGINNING : tp->since_ms;
    if (!first)
      rd_kafka_topic_partition_list_add(q, name, parts->elems[i].partition)
          ->offset = tp->since_ms;
  }
  rd_kafka_resp_err_t kerr =
      q->cnt ? rd_kafka_offsets_for_times(t->rk, q, t->c->kafka_timeout_ms)
             : RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int i = 0; kerr == RD_KAFKA_RESP_ERR_NO_ERROR && i < q->cnt; i++) {
    rd_kafka_topic_partition_t *a = rd_kafka_topic_partition_list_find(
        at, q->elems[i].topic, q->elems[i].partition);
    a->offset = q->elems[i].offset;
    a->err = q->elems[i].err;
  }
  int warming = 0;
  for (int i = 0; kerr == RD_KAFKA_RESP_ERR_NO_ERROR && i < at->cnt; i++) {
    rd_kafka_topic_partition_t *a = &at->elems[i];
    int64_t lo = 0, hi = 0;
    if (a->err || (a->offset < 0 && a->offset != RD_KAFKA_OFFSET_BEGINNING) ||
        rd_kafka_query_watermark_offsets(t->rk, a->topic, a->partition, &lo,
                                         &hi, t->c->kafka_timeout_ms) != 0)
      continue; /* not told: from the end */
    if (a->offset == RD_KAFKA_OFFSET_BEGINNING)
      a->offset = lo;
    if (a->offset >= hi)
      continue; /* nothing since then */
    int ti = topic_of(t, a->topic);
    t->end[(size_t)ti * (size_t)t->maxp + (size_t)a->partition] = hi;
    rd_kafka_topic_partition_list_find(parts, a->topic, a->partition)->offset =
        a->offset;
    warming++;
  }
  if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR && warn != NULL)
    sb_err_set(warn, SB_EKAFKA, "%s", rd_kafka_err2str(kerr));
  t->warming = warming;
  rd_kafka_topic_partition_list_destroy(q);
  rd_kafka_topic_partition_list_destroy(at);
}

/* Pins the partitions read from their end to where each ends now (one
 * request to each broker), so that all written after sb_tail_open is read,
 * however late the first fetch goes out. Where the brokers do not say,
 * the end stays logical (resolved by that first fetch). */
static void pin_ends(sb_tail_t *t, rd_kafka_topic_partition_list_t *parts) {
  rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(64);
  for (int i = 0; i < parts->cnt; i++)
    if (parts->elems[i].offset == RD_KAFKA_OFFSET_END)
      rd_kafka_topic_partition_list_add(q, parts->elems[i].topic,
                                        parts->elems[i].partition)
          ->offset = RD_KAFKA_OFFSET_END; /* as a time: the latest */
  if (q->cnt > 0 &&
      rd_kafka_offsets_for_times(t->rk, q, t->c->kafka_timeout_ms) ==
          RD_KAFKA_RESP_ERR_NO_ERROR)
    for (int i = 0; i < q->cnt; i++)
      if (q->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
          q->elems[i].offset >= 0)
        rd_kafka_topic_partition_list_find(parts, q->elems[i].topic,
                                           q->elems[i].partition)
            ->offset = q->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(q);
}

/* The client: partitions assigned by hand, nothing committed (the group,
 * which librdkafka wants, is never joined), freshness over fewer fetches. */
static int client_new(sb_tail_t *t, const char *name, sb_err_t *err) {
  rd_kafka_conf_t *kc = sb_kafka_conf_new(t->c, err);
  if (kc == NULL)
    return err->code;
  char errstr[512], group[96];
  snprintf(group, sizeof group, "switchboard-%s", name);
  const char *const props[][2] = {
      {"group.id", group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "latest"},
      {"fetch.wait.max.ms", "5"},
      {"fetch.error.backoff.ms", "50"},
  };
  for (size_t i = 0; i < SB_ARRAY_LEN(props); i++)
    if (rd_kafka_conf_set(kc, props[i][0], props[i][1], errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(kc);
      return sb_err_set(err, SB_ECONFIG, "%s consumer: %s", name, errstr);
    }
  t->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof errstr);
  if (t->rk == NULL) {
    rd_kafka_conf_destroy(kc);
    return sb_err_set(err, SB_EKAFKA, "%s consumer: %s", name, errstr);
  }
  return 0;
}

int sb_tail_open(const sb_conf_t *c, const char *name,
                 const sb_tail_topic_t *topics, size_t n, sb_tail_t **out,
                 sb_err_t *warn, sb_err_t *err) {
  *out = NULL;
  sb_tail_t *t = calloc(1, sizeof *t);
  if (t == NULL || (t->topics = calloc(n ? n : 1, sizeof *topics)) == NULL) {
    free(t);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  t->c = c;
  memcpy(t->topics, topics, n * sizeof *topics);
  t->ntopics = n;
  char what[128];
  rd_kafka_topic_partition_list_t *parts = NULL;
  int rc = client_new(t, name, err);
  if (rc != 0)
    goto out;
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t kerr =
      rd_kafka_metadata(t->rk, 1, NULL, &md, c->kafka_timeout_ms);
  if (kerr) {
    snprintf(what, sizeof what, "%s: reading the topics' partitions", name);
    rc = sb_kafka_err(err, kerr, what);
    goto out;
  }
  parts = rd_kafka_topic_partition_list_new(64);
  for (int i = 0; i < md->topic_cnt; i++) {
    if (topic_of(t, md->topics[i].topic) < 0 || md->topics[i].err)
      continue;
    for (int p = 0; p < md->topics[i].partition_cnt; p++) {
      int32_t id = md->topics[i].partitions[p].id;
      rd_kafka_topic_partition_list_add(parts, md->topics[i].topic, id)
          ->offset = RD_KAFKA_OFFSET_END;
      if (id + 1 > t->maxp)
        t->maxp = id + 1;
    }
  }
  rd_kafka_metadata_destroy(md);
  starts(t, parts, warn);
  pin_ends(t, parts);
  t->nparts = parts->cnt;
  kerr = rd_kafka_assign(t->rk, parts);
  if (kerr) {
    snprintf(what, sizeof what, "%s: assigning partitions", name);
    rc = sb_kafka_err(err, kerr, what);
  }
out:
  if (parts != NULL)
    rd_kafka_topic_partition_list_destroy(parts);
  if (rc != 0) {
    sb_tail_close(t);
    return rc;
  }
  *out = t;
  return 0;
}

int sb_tail_partitions(const sb_tail_t *t) { return t->nparts; }

int sb_tail_next(sb_tail_t *t, int timeout_ms, sb_tail_rec_t *rec,
                 sb_err_t *err) {
  if (t->km != NULL) {
    rd_kafka_message_destroy(t->km);
    t->km = NULL;
  }
  rd_kafka_message_t *km = rd_kafka_consumer_poll(t->rk, timeout_ms);
  if (km == NULL)
    return 0;
  if (km->err) {
    int rc =
        km->err == RD_KAFKA_RESP_ERR__PARTITION_EOF
            ? 0
            : sb_err_set(err, SB_EKAFKA, "%s", rd_kafka_message_errstr(km));
    rd_kafka_message_destroy(km);
    return rc;
  }
  const char *topic = rd_kafka_topic_name(km->rkt);
  int ti = topic_of(t, topic);
  int history = ti >= 0 ? is_history(t, ti, km) : 0;
  if (ti < 0 || history == 2) {
    rd_kafka_message_destroy(km);
    return 0;
  }
  *rec = (sb_tail_rec_t){
      .topic = topic,
      .topic_index = ti,
      .partition = km->partition,
      .offset = km->offset,
      .key = km->key,
      .key_len = km->key_len,
      .value = km->payload,
      .value_len = km->len,
      .timestamp_ms = rd_kafka_message_timestamp(km, NULL),
      .history = history,
      .msg = km,
  };
  t->km = km; /* destroyed by the next call */
  return 1;
}

int sb_tail_header(const sb_tail_rec_t *rec, const char *name,
                   const void **value, size_t *len) {
  rd_kafka_headers_t *hdrs = NULL;
  if (rec->msg == NULL ||
      rd_kafka_message_headers(rec->msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(hdrs, name, value, len) !=
          RD_KAFKA_RESP_ERR_NO_ERROR)
    return -1;
  return 0;
}

void sb_tail_close(sb_tail_t *t) {
  if (t == NULL)
    return;
  if (t->km != NULL)
    rd_kafka_message_destroy(t->km);
  if (t->rk != NULL) {
    rd_kafka_consumer_close(t->rk);
    rd_kafka_destroy(t->rk);
  }
  free(t->end);
  free(t->topics);
  free(t);
}
