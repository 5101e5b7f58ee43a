#include "sb_kafka.h"

#include "sb_log.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>
#include <string.h>

struct sb_embedded_s {
  rd_kafka_t *rk; /* hosts the mock cluster's threads */
  rd_kafka_mock_cluster_t *mcluster;
  char *bootstraps;
};

int sb_kafka_err(sb_err_t *err, int kerr, const char *what) {
  int code = SB_EKAFKA;
  if (kerr == RD_KAFKA_RESP_ERR__TIMED_OUT)
    code = SB_ETIMEDOUT;
  else if (kerr == RD_KAFKA_RESP_ERR__TRANSPORT ||
           kerr == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
    code = SB_EUNAVAIL;
  return sb_err_set(err, code, "kafka: %s: %s", what, rd_kafka_err2str(kerr));
}

const char *sb_kafka_version(void) { return rd_kafka_version_str(); }

int sb_kafka_conf_check(const char *name, const char *value, sb_err_t *err) {
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_res_t res =
      rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr);
  rd_kafka_conf_destroy(conf);
  if (res == RD_KAFKA_CONF_OK)
    return 0;
  return sb_err_set(err, SB_ECONFIG, "librdkafka: %s", errstr);
}

/* librdkafka's syslog levels onto ours. Connection chatter is debug: the
 * caller reports what matters as one error. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
  (void)rk;
  sb_log_level_t l = level <= 2 ? SB_LOG_ERROR : SB_LOG_DEBUG;
  sb_log(l, "kafka", buf, SB_F_STR("facility", fac), SB_F_END);
}

static void error_cb(rd_kafka_t *rk, int kerr, const char *reason,
                     void *opaque) {
  (void)rk;
  (void)opaque;
  sb_log_level_t l =
      rd_kafka_fatal_error(rk, NULL, 0) ? SB_LOG_ERROR : SB_LOG_DEBUG;
  sb_log(l, "kafka", reason, SB_F_STR("error", rd_kafka_err2name(kerr)),
         SB_F_END);
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v,
                    sb_err_t *err) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
    return sb_err_set(err, SB_ECONFIG, "kafka.%s: %s", k, errstr);
  return 0;
}

rd_kafka_conf_t *sb_kafka_conf_new(const sb_conf_t *c, sb_err_t *err) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, log_cb);
  rd_kafka_conf_set_error_cb(conf, error_cb);
  if (conf_set(conf, "log.connection.close", "false", err) != 0)
    goto fail;
  if (c->brokers != NULL &&
      conf_set(conf, "bootstrap.servers", c->brokers, err) != 0)
    goto fail;
  for (size_t i = 0; i < c->kafka_n; i++)
    if (conf_set(conf, c->kafka_keys[i], c->kafka_vals[i], err) != 0)
      goto fail;
  return conf;
fail:
  rd_kafka_conf_destroy(conf);
  return NULL;
}

void sb_kafka_conf_fetch_wait(rd_kafka_conf_t *conf, const sb_conf_t *c) {
  /* Measured (bench routing, 2 loaded cores): at librdkafka's 500 ms each
   * hop through the embedded broker waited up to 500 ms (lead event ->
   * lead.assigned p50 784 ms; global tables 9 s to catch up at a worker's
   * start); at 5 ms p50 81 ms and 0.15 s. 10 ms: an idle consumer's
   * fetches cost a few percent of a core (sb_journal.c measured 5 ms at
   * 7%). Real brokers answer a fetch when records arrive: untouched. */
  if (c->kafka_embedded)
    sb_kafka_conf_default(conf, c, "fetch.wait.max.ms", "10");
}

void sb_kafka_conf_default(rd_kafka_conf_t *conf, const sb_conf_t *c,
                           const char *name, const char *value) {
  char errstr[256];
  for (size_t i = 0; i < c->kafka_n; i++)
    if (strcmp(c->kafka_keys[i], name) == 0)
      return;
  rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr);
}

int sb_embedded_start(const sb_conf_t *c, sb_embedded_t **out, sb_err_t *err) {
  char errstr[512];
  *out = NULL;
  sb_embedded_t *e = calloc(1, sizeof *e);
  if (e == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, log_cb);
  e->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (e->rk == NULL) {
    rd_kafka_conf_destroy(conf);
    sb_err_set(err, SB_EKAFKA, "embedded broker: %s", errstr);
    goto fail;
  }
  e->mcluster = rd_kafka_mock_cluster_new(e->rk, 1);
  if (e->mcluster == NULL) {
    sb_err_set(err, SB_EKAFKA,
               "embedded broker: cannot start the mock cluster "
               "(is loopback networking available?)");
    goto fail;
  }
  for (size_t i = 0; i < sb_topics_n; i++) {
    rd_kafka_resp_err_t kerr =
        rd_kafka_mock_topic_create(e->mcluster, sb_topics[i], c->partitions, 1);
    if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
      sb_kafka_err(err, kerr, "embedded broker: creating a topic");
      goto fail;
    }
  }
  e->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(e->mcluster));
  if (e->bootstraps == NULL) {
    sb_err_set(err, SB_ENOMEM, "out of memory");
    goto fail;
  }
  *out = e;
  return 0;
fail:
  sb_embedded_stop(e);
  return err ? err->code : SB_EKAFKA;
}

const char *sb_embedded_bootstraps(const sb_embedded_t *e) {
  return e->bootstraps;
}

void sb_embedded_stop(sb_embedded_t *e) {
  if (e == NULL)
    return;
  if (e->mcluster != NULL)
    rd_kafka_mock_cluster_destroy(e->mcluster);
  if (e->rk != NULL)
    rd_kafka_destroy(e->rk);
  free(e->bootstraps);
  free(e);
}

/* Creates the topics in missing[] through the Admin API, waiting at most
 * kafka_timeout_ms. */
static int create_topics(rd_kafka_t *rk, const sb_conf_t *c,
                         const char **missing, size_t n, sb_err_t *err) {
  char errstr[512], names[512] = "";
  int rc = 0;
  rd_kafka_NewTopic_t *nt[16] = {0};
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_event_t *ev = NULL;
  rd_kafka_AdminOptions_t *opts =
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  for (size_t i = 0; i < n; i++) {
    size_t used = strlen(names);
    snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
             missing[i]);
    nt[i] = rd_kafka_NewTopic_new(missing[i], c->partitions, -1, errstr,
                                  sizeof errstr);
    if (nt[i] == NULL) {
      rc =
          sb_err_set(err, SB_EKAFKA, "kafka: topic %s: %s", missing[i], errstr);
      goto out;
    }
  }
  rd_kafka_AdminOptions_set_request_timeout(opts, c->kafka_timeout_ms, errstr,
                                            sizeof errstr);
  rd_kafka_AdminOptions_set_operation_timeout(opts, c->kafka_timeout_ms, errstr,
                                              sizeof errstr);
  rd_kafka_CreateTopics(rk, nt, n, opts, q);
  ev = rd_kafka_queue_poll(q, c->kafka_timeout_ms + 2000);
  rd_kafka_resp_err_t kerr =
      ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
  if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rc = sb_err_set(
        err, kerr == RD_KAFKA_RESP_ERR__TIMED_OUT ? SB_ETIMEDOUT : SB_EKAFKA,
        "kafka: topics %s are missing and creating them failed "
        "(%s): create them with %d partitions, or allow this "
        "client to create topics",
        names, rd_kafka_err2str(kerr), c->partitions);
    goto out;
  }
  size_t cnt;
  const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
      rd_kafka_event_CreateTopics_result(ev), &cnt);
  for (size_t i = 0; i < cnt; i++) {
    rd_kafka_resp_err_t terr = rd_kafka_topic_result_error(res[i]);
    if (terr != RD_KAFKA_RESP_ERR_NO_ERROR &&
        terr != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      rc = sb_err_set(err, SB_EKAFKA, "kafka: cannot create topic %s: %s",
                      rd_kafka_topic_result_name(res[i]),
                      rd_kafka_topic_result_error_string(res[i]));
      goto out;
    }
    sb_log(SB_LOG_INFO, "kafka", "created topic",
           SB_F_STR("topic", rd_kafka_topic_result_name(res[i])),
           SB_F_INT("partitions", c->partitions), SB_F_END);
  }
out:
  if (ev)
    rd_kafka_event_destroy(ev);
  for (size_t i = 0; i < n; i++)
    if (nt[i])
      rd_kafka_NewTopic_destroy(nt[i]);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
  return rc;
}

int sb_kafka_check_brokers(const sb_conf_t *c, sb_err_t *err) {
  char errstr[512];
  int rc = 0;
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_conf_t *conf = sb_kafka_conf_new(c, err);
  if (conf == NULL)
    return err ? err->code : SB_ECONFIG;
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == NULL) {
    rd_kafka_conf_destroy(conf);
    return sb_err_set(err, SB_ECONFIG, "kafka: %s", errstr);
  }
  rd_kafka_resp_err_t kerr =
      rd_kafka_metadata(rk, 1, NULL, &md, c->kafka_timeout_ms);
  if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rc = sb_err_set(err, SB_EUNAVAIL,
                    "kafka: brokers '%s' did not answer within %d ms (%s): "
                    "check 'brokers' and that Kafka is running",
                    c->brokers, c->kafka_timeout_ms, rd_kafka_err2str(kerr));
    goto out;
  }
  const char *missing[16];
  size_t n_missing = 0;
  for (size_t i = 0; i < sb_topics_n; i++) {
    int found = 0;
    for (int t = 0; t < md->topic_cnt && !found; t++)
      found = strcmp(md->topics[t].topic, sb_topics[i]) == 0 &&
              md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!found)
      missing[n_missing++] = sb_topics[i];
  }
  if (n_missing > 0)
    rc = create_topics(rk, c, missing, n_missing, err);
out:
  if (md)
    rd_kafka_metadata_destroy(md);
  rd_kafka_destroy(rk);
  return rc;
}

struct sb_kafka_probe_s {
  rd_kafka_t *rk;
};

int sb_kafka_probe_new(const sb_conf_t *c, sb_kafka_probe_t **out,
                       sb_err_t *err) {
  char errstr[512];
  *out = NULL;
  sb_kafka_probe_t *p = calloc(1, sizeof *p);
  if (p == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  rd_kafka_conf_t *conf = sb_kafka_conf_new(c, err);
  if (conf == NULL) {
    free(p);
    return err->code;
  }
  p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (p->rk == NULL) {
    rd_kafka_conf_destroy(conf);
    free(p);
    return sb_err_set(err, SB_ECONFIG, "kafka: %s", errstr);
  }
  *out = p;
  return 0;
}

int sb_kafka_probe(sb_kafka_probe_t *p, int timeout_ms, sb_err_t *err) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t kerr =
      p ? rd_kafka_metadata(p->rk, 0, NULL, &md, timeout_ms)
        : RD_KAFKA_RESP_ERR__STATE;
  if (md)
    rd_kafka_metadata_destroy(md);
  if (kerr == RD_KAFKA_RESP_ERR_NO_ERROR)
    return 0;
  return sb_err_set(err, SB_EUNAVAIL, "%s", rd_kafka_err2str(kerr));
}

void sb_kafka_probe_free(sb_kafka_probe_t *p) {
  if (p == NULL)
    return;
  rd_kafka_destroy(p->rk);
  free(p);
}

int sb_kafka_header(const rd_kafka_message_t *m, const char *name, char *out,
                    size_t cap) {
  rd_kafka_headers_t *h = NULL;
  const void *val = NULL;
  size_t len = 0;
  if (m == NULL ||
      rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(h, name, &val, &len) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      val == NULL || len == 0 || len >= cap)
    return 0;
  memcpy(out, val, len);
  out[len] = '\0';
  return 1;
}
