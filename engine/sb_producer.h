/* The idempotent producer: every record is acknowledged or fails
 * individually through its delivery callback; sb_producer_flush waits for
 * all of them. Used by import, HTTP ingest, the dead-letter path and
 * derived events. */
#ifndef SB_PRODUCER_H
#define SB_PRODUCER_H

#include "sb_codec.h"
#include "sb_conf.h"
#include "sb_err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sb_producer_s sb_producer_t;

typedef struct sb_header_s {
  const char *name;
  const void *value;
  ssize_t len; /* -1: value is a C string */
} sb_header_t;

/* Called once per record from sb_producer_poll/flush: error is NULL when
 * the brokers acknowledged it. */
typedef void (*sb_delivery_cb)(void *opaque, const char *error);

int sb_producer_new(const sb_conf_t *c, sb_producer_t **out, sb_err_t *err);
/* Flushes (up to 10 s) and frees; accepts NULL. */
void sb_producer_free(sb_producer_t *p);

/* Queues a record. Blocks (serving deliveries) while the local queue is
 * full, up to c->kafka_timeout_ms. cb may be NULL. */
int sb_producer_send(sb_producer_t *p, const char *topic, const void *key,
                     size_t klen, const void *value, size_t vlen,
                     const sb_header_t *hdrs, size_t nhdrs, sb_delivery_cb cb,
                     void *opaque, sb_err_t *err);

/* Queues an encoded event on its type's topic, with the sb-type and
 * sb-event-id headers. */
int sb_producer_send_record(sb_producer_t *p, const sb_record_t *r,
                            sb_delivery_cb cb, void *opaque, sb_err_t *err);

/* A derived event: as sb_producer_send_record, with the headers sb-txid
 * and sb-emitted-by naming the batch's transaction and the processor
 * (sql/0009_emitted_batches.sql). */
int sb_producer_send_derived(sb_producer_t *p, const sb_record_t *r,
                             const char *txid, const char *processor,
                             sb_err_t *err);
/* From now on, a full local queue makes sends fail at once with SB_EBUSY
 * instead of waiting (for the event loop, which must not block). */
void sb_producer_set_nonblocking(sb_producer_t *p);

/* Serves delivery callbacks without waiting. */
void sb_producer_poll(sb_producer_t *p);

/* Waits until every queued record is delivered or failed. Fails when any
 * record since the last flush failed, naming the first error. */
int sb_producer_flush(sb_producer_t *p, int timeout_ms, sb_err_t *err);

/* Gives up on every record not yet acknowledged: each gets its delivery
 * callback with an error. Returns how many there were. */
int sb_producer_purge(sb_producer_t *p);

/* Records queued and not yet reported. */
int sb_producer_outstanding(sb_producer_t *p);

#endif
