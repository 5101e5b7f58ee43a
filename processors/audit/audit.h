/* The audit processor: every event of every domain topic, appended to
 * audit.events with a SHA-256 hash chain per (tenant, topic, partition).
 *
 * A row's hash covers the previous hash of its chain and the row's
 * canonical content: its chain sequence, tenant, topic, partition, offset,
 * event id, type, subject, occurred_at, the Kafka value as stored and,
 * when the producer's CloudEvents id is not the event id, that id. None
 * of it varies between runs, so a replay of the same log gives the same
 * chains, and encrypted PII stays verifiable after its key is destroyed. */
#ifndef SB_AUDIT_H
#define SB_AUDIT_H

#include "sb_processor.h"

#include <stddef.h>
#include <stdint.h>

extern const sb_processor_vt_t sb_audit_processor;

/* The canonical content of one audit row, as hashed. */
typedef struct sb_audit_row_s {
  const unsigned char *prev_hash; /* 32 bytes */
  int64_t seq;
  const char *tenant_id, *topic;
  int32_t partition;
  int64_t offset;
  const char *event_id, *type, *subject;
  int64_t occurred_at; /* microseconds */
  const void *payload;
  size_t payload_len;
  const char *ce_id; /* the producer's id (events.ce_id), or NULL */
} sb_audit_row_t;

/* SHA-256 of a row's canonical encoding: each integer big-endian, each
 * string and the payload prefixed by its 4-byte big-endian length, the
 * producer's id appended last only when there is one. */
void sb_audit_hash(const sb_audit_row_t *row, unsigned char out[32]);

/* The audit processor's same_as_live (sb_processor.h): the rebuilt log in
 * schema rebuilt equals the live one in schema live, row for row, for all
 * the live one holds; quick: every live chain head is a row of the rebuild
 * (audit_replay.c). */
int sb__audit_same_as_live(sb_pg_t *pg, const char *live, const char *rebuilt,
                           const char *live_group, int quick, sb_err_t *err);

#endif
