/* Reading the Kafka log directly, outside any consumer group: one
 * partition's records in an offset range, and its watermarks. For checks
 * that compare what PostgreSQL holds with the log (`audit verify`). */
#ifndef SB_LOGREAD_H
#define SB_LOGREAD_H

#include "sb_conf.h"
#include "sb_err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sb_logread_s sb_logread_t;

/* Connects to c->brokers and checks they answer within c->kafka_timeout_ms
 * (SB_EUNAVAIL or SB_ETIMEDOUT when not). Borrows c until
 * sb_logread_close. */
int sb_logread_open(const sb_conf_t *c, sb_logread_t **out, sb_err_t *err);
void sb_logread_close(sb_logread_t *r); /* accepts NULL */

/* The number of partitions of topic; 0 when the topic does not exist. */
int sb_logread_partitions(sb_logread_t *r, const char *topic, int *n,
                          sb_err_t *err);

/* The first offset the log still holds (lo) and the next to be written (hi),
 * as the brokers answer now. */
int sb_logread_watermarks(sb_logread_t *r, const char *topic, int32_t partition,
                          int64_t *lo, int64_t *hi, sb_err_t *err);

/* Called for each record, in offset order; the buffers are valid during
 * the call only. A non-zero return stops the reading and is returned. */
typedef int (*sb_logread_fn)(void *ctx, int64_t offset, const void *key,
                             size_t klen, const void *value, size_t vlen,
                             sb_err_t *err);

/* During fn: the last header name of the record being handed, as a C
 * string into out (cap bytes); 0 when it has none or it does not fit. */
int sb_logread_header(sb_logread_t *r, const char *name, char *out,
                      size_t cap);

/* During fn: the record's Kafka timestamp (milliseconds since 1970: the
 * producer's create time, or the broker's append time); -1 when none. */
int64_t sb_logread_timestamp(sb_logread_t *r);

/* Every record of the partition in [from, to), in order. Offsets the log
 * does not hold are skipped without a call. SB_ETIMEDOUT when the brokers
 * give nothing for c->kafka_timeout_ms before to is reached. */
int sb_logread_range(sb_logread_t *r, const char *topic, int32_t partition,
                     int64_t from, int64_t to, sb_logread_fn fn, void *ctx,
                     sb_err_t *err);

#endif
