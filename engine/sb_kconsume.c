#include "sb_kconsume.h"

#include "sb_journal.h"
#include "sb_kafka.h"
#include "sb_log.h"
#include "sb_pg.h"
#include "sb_util.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sb_kconsumer_s {
  const sb_conf_t *c;
  rd_kafka_t *rk;
  sb_pg_t *pg;
  char group[128];
  char epoch[96];           /* the log's incarnation (sb_log_epoch) */
  rd_kafka_message_t *last; /* handed, not yet released */
};

/* Where to read a partition: its stored offset when it belongs to this log
 * and lies within it, else its start. */
static int64_t start_of(sb_kconsumer_t *k, const char *topic, int32_t part) {
  char ps[16], row[160];
  int found = 0;
  sb_err_t err = SB_ERR_INIT;
  snprintf(ps, sizeof ps, "%d", (int)part);
  if (sb_pg_query1(k->pg,
                   "SELECT next_offset || ' ' || coalesce(log_epoch, '') "
                   "FROM sb.consumer_offsets WHERE consumer_group = $1 AND "
                   "topic = $2 AND partition = $3",
                   3, (const char *const[]){k->group, topic, ps}, row,
                   sizeof row, &found, NULL, &err) != 0) {
    sb_log(SB_LOG_ERROR, "engine",
           "cannot read a stored offset: reading the partition from its "
           "start (what was done is recognised by event id)",
           SB_F_STR("group", k->group), SB_F_STR("topic", topic),
           SB_F_INT("partition", part), SB_F_STR("error", err.msg), SB_F_END);
    return RD_KAFKA_OFFSET_BEGINNING;
  }
  if (!found)
    return RD_KAFKA_OFFSET_BEGINNING;
  char *end = NULL;
  long long at = strtoll(row, &end, 10);
  const char *ep = end && *end == ' ' ? end + 1 : "";
  int64_t lo = 0, hi = 0;
  if ((ep[0] != '\0' && k->epoch[0] != '\0' && strcmp(ep, k->epoch) != 0) ||
      (rd_kafka_query_watermark_offsets(k->rk, topic, part, &lo, &hi,
                                        k->c->kafka_timeout_ms) ==
           RD_KAFKA_RESP_ERR_NO_ERROR &&
       at > hi)) {
    sb_log(SB_LOG_ERROR, "engine",
           "stored offset does not belong to this log: reading the "
           "partition from its start",
           SB_F_STR("group", k->group), SB_F_STR("topic", topic),
           SB_F_INT("partition", part), SB_F_INT("stored_offset", at),
           SB_F_END);
    return RD_KAFKA_OFFSET_BEGINNING;
  }
  return at;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
  sb_kconsumer_t *k = opaque;
  if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int i = 0; i < parts->cnt; i++)
      parts->elems[i].offset =
          start_of(k, parts->elems[i].topic, parts->elems[i].partition);
    rd_kafka_assign(rk, parts);
  } else {
    rd_kafka_assign(rk, NULL);
  }
}

int sb_kconsumer_new(const sb_conf_t *c, const char *group, const char *topic,
                     sb_kconsumer_t **out, sb_err_t *err) {
  *out = NULL;
  char errstr[512];
  sb_kconsumer_t *k = calloc(1, sizeof *k);
  if (k == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  k->c = c;
  snprintf(k->group, sizeof k->group, "%s", group);
  if (sb_pg_connect(c->database_url, &k->pg, err) != 0) {
    free(k);
    return err->code;
  }
  rd_kafka_conf_t *conf = sb_kafka_conf_new(c, err);
  if (conf == NULL) {
    sb_kconsumer_free(k);
    return err->code;
  }
  const char *const props[][2] = {
      {"group.id", group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
  };
  for (size_t i = 0; i < SB_ARRAY_LEN(props); i++)
    if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr,
                          sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      sb_kconsumer_free(k);
      return sb_err_set(err, SB_EINTERNAL, "consumer of %s: %s", topic, errstr);
    }
  sb_kafka_conf_fetch_wait(conf, c);
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  rd_kafka_conf_set_opaque(conf, k);
  k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (k->rk == NULL) {
    rd_kafka_conf_destroy(conf);
    sb_kconsumer_free(k);
    return sb_err_set(err, SB_EKAFKA, "consumer of %s: %s", topic, errstr);
  }
  sb_err_t eerr = SB_ERR_INIT;
  if (sb_log_epoch(c, k->rk, k->epoch, sizeof k->epoch, &eerr) != 0)
    k->epoch[0] = '\0'; /* then only the partition's end is checked */
  rd_kafka_poll_set_consumer(k->rk);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t kerr = rd_kafka_subscribe(k->rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    sb_kconsumer_free(k);
    return sb_kafka_err(err, kerr, "subscribing");
  }
  *out = k;
  return 0;
}

int sb_kconsumer_poll(sb_kconsumer_t *k, int timeout_ms, sb_krec_t *rec,
                      sb_err_t *err) {
  if (k->last != NULL) {
    rd_kafka_message_destroy(k->last);
    k->last = NULL;
  }
  rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, timeout_ms);
  if (m == NULL)
    return 0;
  if (m->err) {
    int rc = sb_err_set(err, SB_EKAFKA, "kafka: consuming %s: %s",
                        m->rkt ? rd_kafka_topic_name(m->rkt) : "?",
                        rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
    return rc;
  }
  k->last = m;
  memset(rec, 0, sizeof *rec);
  rec->msg = m;
  rec->topic = rd_kafka_topic_name(m->rkt);
  rec->partition = m->partition;
  rec->offset = m->offset;
  rec->key = m->key;
  rec->klen = m->key_len;
  rec->value = m->payload;
  rec->vlen = m->len;
  rd_kafka_headers_t *h = NULL;
  if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char *name;
    const void *v;
    size_t n;
    for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &v, &n) ==
                       RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
      if (rec->nhdrs == SB_KREC_HEADERS) {
        rec->nhdrs_over = 1;
        break;
      }
      rec->hdrs[rec->nhdrs++] =
          (sb_ce_header_t){name, v ? (const char *)v : "", v ? n : 0};
    }
  }
  return 1;
}

int sb_kconsumer_commit(sb_kconsumer_t *k, const sb_krec_t *rec,
                        sb_err_t *err) {
  char ps[16], os[32];
  snprintf(ps, sizeof ps, "%d", (int)rec->partition);
  snprintf(os, sizeof os, "%lld", (long long)rec->offset + 1);
  return sb_pg_exec(
      k->pg,
      "INSERT INTO sb.consumer_offsets (consumer_group, topic, partition, "
      "next_offset, log_epoch) VALUES ($1, $2, $3, $4, NULLIF($5, '')) "
      "ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET "
      "next_offset = EXCLUDED.next_offset, log_epoch = EXCLUDED.log_epoch, "
      "updated_at = now()",
      5, (const char *const[]){k->group, rec->topic, ps, os, k->epoch}, err);
}

void sb_kconsumer_free(sb_kconsumer_t *k) {
  if (k == NULL)
    return;
  if (k->last != NULL)
    rd_kafka_message_destroy(k->last);
  if (k->rk != NULL) {
    rd_kafka_consumer_close(k->rk);
    rd_kafka_destroy(k->rk);
  }
  sb_pg_close(k->pg);
  free(k);
}
