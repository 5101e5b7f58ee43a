/* A consumer-group reader of one topic that hands records one at a time,
 * with their headers, and commits each record's offset only when told:
 * for a worker that must finish a record (produce what it makes of it)
 * before the log may move past it. Offsets live where the processors'
 * do, in sb.consumer_offsets (the embedded broker forgets a group's Kafka
 * offsets when it restarts), with the log's epoch: on each assignment a
 * partition is read from its stored offset, or from its start when none
 * is stored or the stored one belongs to another log. */
#ifndef SB_KCONSUME_H
#define SB_KCONSUME_H

#include "sb_ce.h"
#include "sb_conf.h"
#include "sb_err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sb_kconsumer_s sb_kconsumer_t;

#define SB_KREC_HEADERS 64 /* headers of a record kept; more: nhdrs_over */

/* A record, borrowed from the consumer until the next poll or free. */
typedef struct sb_krec_s {
  const char *topic;
  int32_t partition;
  int64_t offset;
  const void *key, *value;
  size_t klen, vlen;
  sb_ce_header_t hdrs[SB_KREC_HEADERS];
  size_t nhdrs;
  int nhdrs_over; /* it had more than SB_KREC_HEADERS */
  void *msg;      /* the consumer's */
} sb_krec_t;

/* Joins group on topic from c->brokers, with its own connection to
 * c->database_url for the offsets. Borrows c until sb_kconsumer_free. The
 * consumer is used from one thread (assignments happen inside poll). */
int sb_kconsumer_new(const sb_conf_t *c, const char *group, const char *topic,
                     sb_kconsumer_t **out, sb_err_t *err);
/* The next record: 1 and *rec, 0 when none came within timeout_ms, or an
 * error (SB_EKAFKA). The last record handed is released first. */
int sb_kconsumer_poll(sb_kconsumer_t *k, int timeout_ms, sb_krec_t *rec,
                      sb_err_t *err);
/* Stores rec's offset + 1 for its partition in sb.consumer_offsets. */
int sb_kconsumer_commit(sb_kconsumer_t *k, const sb_krec_t *rec,
                        sb_err_t *err);
/* Leaves the group and frees; accepts NULL. */
void sb_kconsumer_free(sb_kconsumer_t *k);

#endif
