/* Following topics live, outside any consumer group: every partition of
 * the topics named is assigned to one client (no group joined, nothing
 * committed), each read from its end, from its start or from a time, and
 * each record handed over as (topic, partition, offset, key, value,
 * headers, timestamp). For readers that keep no offsets of their own and
 * want the freshest records first (the WebSocket hub).
 *
 *   sb_tail_topic_t topics[] = {{"sb.calls", 0, since_ms}, {"sb.agents"}};
 *   sb_tail_open(c, "hub", topics, 2, &t, &warn, &err);
 *   while (running)
 *     if (sb_tail_next(t, 100, &rec, &err) == 1)
 *       ... rec.value, rec.history ...
 *   sb_tail_close(t);
 *
 * A record already in the log when the reader opened, of a partition read
 * from its start or a time, is history (rec.history): what a reader learns
 * from and does not pass on as news. One thread at a time per reader. */
#ifndef SB_TAIL_H
#define SB_TAIL_H

#include "sb_conf.h"
#include "sb_err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sb_tail_s sb_tail_t;

/* Where a topic is read from. */
typedef enum {
  SB_TAIL_END = 0, /* only what is written after sb_tail_open */
  SB_TAIL_START,   /* from the first record the log still holds */
  SB_TAIL_TIME,    /* from the first record at or after since_ms */
} sb_tail_from_t;

typedef struct sb_tail_topic_s {
  const char *name;
  sb_tail_from_t from;
  /* SB_TAIL_TIME: milliseconds since the epoch; history records stamped
   * before it are skipped (a broker that cannot find offsets by time, as
   * the embedded one, is read from the start) */
  int64_t since_ms;
} sb_tail_topic_t;

/* One record; its buffers are valid until the next sb_tail_next or
 * sb_tail_close. */
typedef struct sb_tail_rec_s {
  const char *topic;
  int topic_index; /* into the topics given to sb_tail_open */
  int32_t partition;
  int64_t offset;
  const void *key; /* NULL when none */
  size_t key_len;
  const void *value; /* NULL when none (a tombstone) */
  size_t value_len;
  int64_t timestamp_ms; /* -1 when the record has none */
  int history;          /* in the log when the reader opened */
  const void *msg;      /* the reader's; for sb_tail_header */
} sb_tail_rec_t;

/* Opens a reader of c->brokers named name ("hub": its client is
 * switchboard-<name>, and errors start with it) over every partition the
 * brokers have of topics[0..n); topics the brokers do not have are left
 * out. Borrows c until sb_tail_close; *out is the caller's
 * (sb_tail_close accepts NULL). warn (may be NULL) is set, and those
 * partitions read from their end instead, when where a topic starts by
 * time cannot be found; err when the brokers cannot be asked. */
int sb_tail_open(const sb_conf_t *c, const char *name,
                 const sb_tail_topic_t *topics, size_t n, sb_tail_t **out,
                 sb_err_t *warn, sb_err_t *err);
/* The partitions assigned (0: none of the topics exists yet). */
int sb_tail_partitions(const sb_tail_t *t);
/* Waits up to timeout_ms for the next record: 1 and *rec filled, 0 when
 * none came (or one was skipped), negative with err set when the brokers
 * gave an error instead (librdkafka retries by itself: call again). */
int sb_tail_next(sb_tail_t *t, int timeout_ms, sb_tail_rec_t *rec,
                 sb_err_t *err);
/* The last header of rec named name: 0 and *value, *len (valid as rec's
 * buffers), or -1 when rec has none such. */
int sb_tail_header(const sb_tail_rec_t *rec, const char *name,
                   const void **value, size_t *len);
/* Leaves the brokers and frees. Accepts NULL. */
void sb_tail_close(sb_tail_t *t);

#endif
