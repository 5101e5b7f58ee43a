/* Kafka through librdkafka: the embedded broker (librdkafka's mock cluster,
 * hosted in this process), client configuration with kafka.* pass-through,
 * and the start-up check of real brokers. Only this file and the runtime's
 * log I/O include librdkafka. */
#ifndef SB_KAFKA_H
#define SB_KAFKA_H

#include "sb_conf.h"
#include "sb_err.h"

/* librdkafka's handles, by name only: a file that calls librdkafka includes
 * <librdkafka/rdkafka.h> itself (scripts/check_layers.sh sees who does). */
typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_conf_s rd_kafka_conf_t;

typedef struct sb_embedded_s sb_embedded_t;

/* Starts the embedded broker on loopback and creates Switchboard's topics
 * with c->partitions partitions. *out is owned by the caller: stop it with
 * sb_embedded_stop (accepts NULL). */
int sb_embedded_start(const sb_conf_t *c, sb_embedded_t **out, sb_err_t *err);
/* "127.0.0.1:PORT,..."; borrowed, valid until sb_embedded_stop. */
const char *sb_embedded_bootstraps(const sb_embedded_t *e);
void sb_embedded_stop(sb_embedded_t *e);

/* A client configuration for c->brokers, carrying every kafka.* property and
 * Switchboard's log callback. The caller owns the result (hand it to
 * rd_kafka_new, which takes ownership on success). */
rd_kafka_conf_t *sb_kafka_conf_new(const sb_conf_t *c, sb_err_t *err);

/* Sets name to value in conf unless the operator gave kafka.<name>. */
/* A consumer's fetch.wait.max.ms on the embedded broker (c->kafka_embedded):
 * 10 ms unless kafka.fetch.wait.max.ms says otherwise; real brokers keep
 * librdkafka's default. */
void sb_kafka_conf_fetch_wait(rd_kafka_conf_t *conf, const sb_conf_t *c);
void sb_kafka_conf_default(rd_kafka_conf_t *conf, const sb_conf_t *c,
                           const char *name, const char *value);

/* Checks that c->brokers answer within c->kafka_timeout_ms and creates the
 * Switchboard topics that are missing (c->partitions partitions). */
int sb_kafka_check_brokers(const sb_conf_t *c, sb_err_t *err);

/* A client that only asks the brokers for metadata: the health check's.
 * The caller owns *out (free with sb_kafka_probe_free, which accepts NULL). */
typedef struct sb_kafka_probe_s sb_kafka_probe_t;
int sb_kafka_probe_new(const sb_conf_t *c, sb_kafka_probe_t **out,
                       sb_err_t *err);
/* 0 when the brokers answered within timeout_ms; otherwise err holds
 * librdkafka's reason. */
int sb_kafka_probe(sb_kafka_probe_t *p, int timeout_ms, sb_err_t *err);
void sb_kafka_probe_free(sb_kafka_probe_t *p);

/* The last header name of a consumed message, as a C string into out
 * (cap bytes); 0 when it has none or it does not fit. */
struct rd_kafka_message_s;
int sb_kafka_header(const struct rd_kafka_message_s *m, const char *name,
                    char *out, size_t cap);

/* librdkafka's version string. */
const char *sb_kafka_version(void);

/* Translates a librdkafka error into err, with context. */
/* kerr: an rd_kafka_resp_err_t. */
int sb_kafka_err(sb_err_t *err, int kerr, const char *what);

#endif
