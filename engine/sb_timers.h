/* Timers: one processor's timers, one per (topic, partition, key), kept in
 * PostgreSQL (sb.processor_timers, sql/0008) and in memory, pending vs
 * committed like its keyed state (sb_kstate.h).
 *
 * A timer is due by the wall clock (SB_TIMER_WALL: due_us <= the now the
 * pipeline passes) or by event time (SB_TIMER_EVENT: due_us <= its
 * partition's event time, the greatest occurred_at the pipeline reported
 * for that partition with sb_timers_advance). Event time is stored per
 * partition (sb.processor_event_time) with the timers, so a restart fires
 * event timers exactly where the run before it would have.
 *
 *   assignment   sb_timers_load(t, pg, topic, partitions, n)    one query
 *   each event   sb_timers_advance(t, topic, partition, occurred_at_us)
 *                sb_timers_set / sb_timers_cancel                pending
 *   timers       sb_timers_due(t, now_us, cb, arg): every due timer, in
 *                order (due, key, topic, partition), each deleted (pending)
 *                before cb sees it; cb may set timers again
 *   commit       sb_timers_flush(t, pg)      one statement, in the batch's
 *                                            transaction
 *   after COMMIT sb_timers_committed(t)      pending becomes committed
 *   on failure   sb_timers_abort(t)          pending dropped: fired timers
 *                                            and event time come back
 *   revocation   sb_timers_drop(t, topic, partition)
 *
 * Nothing here opens, commits or rolls back a transaction. Times are
 * microseconds since the Unix epoch; a due time is 0 to SB_TIMER_DUE_MAX.
 * Keys are 1 to SB_TIMER_KEY_MAX bytes of UTF-8. Memory (timers, keys,
 * partitions) never exceeds the budget given to sb_timers_new
 * (processor.timers_max_bytes): a set or load past it fails with SB_ENOMEM
 * naming the schema and that key.
 *
 * Costs: set, cancel and advance are O(1) on average; sb_timers_due is
 * O(1) while nothing is due (it keeps the earliest due time of each kind),
 * otherwise O(n + f log f) for n timers of which f fire; flush
 * O(d log d) for d changed. Not thread-safe: one pipeline thread. */
#ifndef SB_TIMERS_H
#define SB_TIMERS_H

#include "sb_err.h"
#include "sb_pg.h"
#include "sb_ulid.h"

#include <stddef.h>
#include <stdint.h>

#define SB_TIMER_KEY_MAX 1024
/* 9999-12-31T23:59:59.999999Z */
#define SB_TIMER_DUE_MAX INT64_C(253402300799999999)
/* The budget's configuration key, named in the error past it. */
#define SB_TIMERS_BUDGET_KEY "processor.timers_max_bytes"

typedef enum {
  SB_TIMER_WALL = 0,  /* due by the wall clock */
  SB_TIMER_EVENT = 1, /* due by its partition's event time */
} sb_timer_kind_t;

/* A timer handed to sb_timers_due's callback; borrowed for the call. */
typedef struct sb_timer_s {
  const char *topic;
  int32_t partition;
  const char *key;
  int64_t due_us;
  sb_timer_kind_t kind;
} sb_timer_t;

typedef struct sb_timers_s sb_timers_t;

/* New timers for the processor writing to schema ([a-z][a-z0-9_]*, at
 * most 63 bytes; copied); byte_budget bounds their memory. *out is the
 * caller's: sb_timers_free (accepts NULL). */
int sb_timers_new(const char *schema, size_t byte_budget, sb_timers_t **out,
                  sb_err_t *err);
void sb_timers_free(sb_timers_t *t);

/* Loads the timers and event times of topic's partitions (n of them) in
 * one query, as committed, replacing what was held for them. On failure
 * those partitions hold nothing. */
int sb_timers_load(sb_timers_t *t, sb_pg_t *pg, const char *topic,
                   const int32_t *partitions, size_t n, sb_err_t *err);

/* Sets the key's timer (pending), replacing the one it had. */
int sb_timers_set(sb_timers_t *t, const char *topic, int32_t partition,
                  const char *key, int64_t due_us, sb_timer_kind_t kind,
                  sb_err_t *err);
/* Cancels the key's timer (pending); none is not an error. */
int sb_timers_cancel(sb_timers_t *t, const char *topic, int32_t partition,
                     const char *key, sb_err_t *err);
/* The key's timer as this batch sees it: 0 with *due_us and *kind (either
 * may be NULL), or SB_ENOENT. */
int sb_timers_get(const sb_timers_t *t, const char *topic, int32_t partition,
                  const char *key, int64_t *due_us, sb_timer_kind_t *kind);

/* The partition saw an event of this time: its event time becomes the
 * greater of the two (pending). */
int sb_timers_advance(sb_timers_t *t, const char *topic, int32_t partition,
                      int64_t event_time_us, sb_err_t *err);
/* The partition's event time as this batch sees it, or -1 before any
 * event. */
int64_t sb_timers_event_time(const sb_timers_t *t, const char *topic,
                             int32_t partition);

/* Calls cb for every timer due at wall-clock now_us (wall timers) or at
 * its partition's event time (event timers), in the order (due, key,
 * topic, partition), deleting each (pending) just before its call. The
 * timers due are listed before the first call: one that cb sets to a time
 * already due fires at the next sb_timers_due. Stops at the first cb that
 * returns non-zero and returns that (the caller aborts the batch, and the
 * fired timers come back). *fired (may be NULL): the calls made. cb may
 * set, cancel, get and advance, never load, drop, flush, committed or
 * abort; a timer an earlier call cancelled or moved is not fired. */
typedef int (*sb_timer_cb)(void *arg, const sb_timer_t *timer);
/* 0 when no timer can be due at now_us (O(1), from what the last
 * sb_timers_due learnt and what changed since); 1 when one may be: call
 * sb_timers_due. */
int sb_timers_maybe_due(const sb_timers_t *t, int64_t now_us);
int sb_timers_due(sb_timers_t *t, int64_t now_us, sb_timer_cb cb, void *arg,
                  size_t *fired);

/* Writes the timers and event times changed since the last committed or
 * abort in one statement (keys sorted), inside the caller's transaction.
 * No round trip when nothing changed. */
int sb_timers_flush(sb_timers_t *t, sb_pg_t *pg, sb_err_t *err);
void sb_timers_committed(sb_timers_t *t);
void sb_timers_abort(sb_timers_t *t);
/* The partition was revoked: its timers and event time go. */
void sb_timers_drop(sb_timers_t *t, const char *topic, int32_t partition);

/* Timers held (committed or pending); memory held, in bytes. */
size_t sb_timers_count(const sb_timers_t *t);
size_t sb_timers_bytes(const sb_timers_t *t);

/* Replay's swap, in its transaction: the timers and event times stored for
 * schema from become schema to's (whose own are deleted first). */
int sb_timers_rename_schema(sb_pg_t *pg, const char *from, const char *to,
                            sb_err_t *err);

/* The id of an event a timer emits: a ULID whose time is the due time's
 * millisecond and whose 80 other bits come from SHA-256 of (processor,
 * key, due_us, discriminator), so a replay, or a retried batch, emits the
 * same id, and two events of one firing differ by their discriminator
 * (any text, "" for one). processor is the processor's name, not its
 * schema: a rebuild gives the live projection's ids. out gets 26
 * characters and a NUL. SB_EINVAL for a due time out of range or a NULL
 * argument. */
int sb_timer_event_id(const char *processor, const char *key, int64_t due_us,
                      const char *discriminator, char out[SB_ULID_LEN + 1],
                      sb_err_t *err);

#endif
