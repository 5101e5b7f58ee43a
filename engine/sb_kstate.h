/* Keyed state: what one processor remembers per key, per Kafka partition,
 * kept in PostgreSQL (sb.processor_state, sql/0008) and in memory.
 *
 * The pipeline drives it with the batch:
 *
 *   assignment   sb_kstate_load(ks, pg, topic, partitions, n)   one query
 *   each event   sb_kstate_get / sb_kstate_put / sb_kstate_del  pending
 *   commit       sb_kstate_flush(ks, pg)        one statement, in the
 *                                               batch's transaction
 *   after COMMIT sb_kstate_committed(ks)        pending becomes committed
 *   on failure   sb_kstate_abort(ks)            pending dropped
 *   revocation   sb_kstate_drop(ks, topic, partition)
 *
 * A get sees the batch's pending value of a key if it has one, else the
 * committed one. Nothing here opens, commits or rolls back a transaction:
 * the caller does, on the connection it passes. A rollback after a flush
 * needs sb_kstate_abort, and then memory and PostgreSQL agree again.
 *
 * Rows are keyed by the processor's schema (its live projection, or a
 * replay's), so a rebuild has state of its own; replay's swap moves it
 * with sb_kstate_rename_schema.
 *
 * Bounds: a key is 1 to SB_KSTATE_KEY_MAX bytes of UTF-8 (no NUL); a value
 * 0 to SB_KSTATE_VALUE_MAX bytes, opaque. The memory the state takes (keys,
 * committed and pending values, and about 85 bytes of bookkeeping a
 * key) never exceeds the budget given to sb_kstate_new
 * (processor.state_max_bytes): a put or load past it fails with SB_ENOMEM
 * naming the schema and that key, and changes nothing.
 *
 * Costs: get, put and del are O(1) on average (a hash map); flush sorts
 * the dirty keys (O(d log d)); committed and abort are O(d); drop and load
 * O(n) over the keys held. Not thread-safe: one pipeline thread. */
#ifndef SB_KSTATE_H
#define SB_KSTATE_H

#include "sb_err.h"
#include "sb_pg.h"

#include <stddef.h>
#include <stdint.h>

#define SB_KSTATE_KEY_MAX 1024          /* bytes of a key */
#define SB_KSTATE_VALUE_MAX (1u << 20)  /* bytes of a value: 1 MiB */

typedef struct sb_kstate_s sb_kstate_t;

/* New, empty state for the processor writing to schema ([a-z][a-z0-9_]*,
 * at most 63 bytes; copied). byte_budget: the most memory it may take
 * (processor.state_max_bytes). *out is the caller's: sb_kstate_free. */
int sb_kstate_new(const char *schema, size_t byte_budget, sb_kstate_t **out,
                  sb_err_t *err);
/* The budget's configuration key, named in the error past it. */
#define SB_KSTATE_BUDGET_KEY "processor.state_max_bytes"

/* Accepts NULL. */
void sb_kstate_free(sb_kstate_t *ks);

/* Loads every key of topic's partitions (n of them) in one query, as
 * committed values, replacing what the state held for those partitions
 * (pending changes included). On failure those partitions hold nothing. */
int sb_kstate_load(sb_kstate_t *ks, sb_pg_t *pg, const char *topic,
                   const int32_t *partitions, size_t n, sb_err_t *err);

/* The key's value as this batch sees it: 0 with *val and *len (borrowed:
 * valid until the next put, del, committed, abort, drop or load; *val is
 * not NULL even for an empty value), or SB_ENOENT. */
int sb_kstate_get(const sb_kstate_t *ks, const char *topic, int32_t partition,
                  const char *key, const void **val, size_t *len);
/* Sets the key's pending value (len bytes of val, copied). */
int sb_kstate_put(sb_kstate_t *ks, const char *topic, int32_t partition,
                  const char *key, const void *val, size_t len, sb_err_t *err);
/* Deletes the key (pending); deleting an absent key is not an error. */
int sb_kstate_del(sb_kstate_t *ks, const char *topic, int32_t partition,
                  const char *key, sb_err_t *err);

/* Calls cb for every key of the partition that begins with prefix ("" for
 * all), with its value as sb_kstate_get would give it, in byte order of the
 * keys; stops at the first non-zero cb returns, and returns it. cb must not
 * change the state. O(n) over every key held (of every partition): for
 * rebuilding a processor's own index of a partition, not for each event.
 * SB_ENOMEM when the list of matches cannot be made. */
typedef int (*sb_kstate_scan_cb)(void *arg, const char *key, const void *val,
                                 size_t len, sb_err_t *err);
int sb_kstate_scan(const sb_kstate_t *ks, const char *topic, int32_t partition,
                   const char *prefix, sb_kstate_scan_cb cb, void *arg,
                   sb_err_t *err);

/* Writes the keys changed since the last committed/abort in one statement
 * (upserts and deletes, keys sorted by topic, partition and key so that
 * writers lock rows in one order), inside the caller's transaction. No
 * round trip when nothing changed. */
int sb_kstate_flush(sb_kstate_t *ks, sb_pg_t *pg, sb_err_t *err);
/* The transaction that flushed committed: pending values become the
 * committed ones. */
void sb_kstate_committed(sb_kstate_t *ks);
/* The batch failed: pending values are dropped. */
void sb_kstate_abort(sb_kstate_t *ks);
/* The partition was revoked: its keys (committed and pending) go. */
void sb_kstate_drop(sb_kstate_t *ks, const char *topic, int32_t partition);

/* Memory held now, in bytes (what the budget bounds); keys held (with a
 * committed or a pending value); keys changed since the last commit. */
size_t sb_kstate_bytes(const sb_kstate_t *ks);
size_t sb_kstate_count(const sb_kstate_t *ks);
size_t sb_kstate_dirty(const sb_kstate_t *ks);

/* Replay's swap, in its transaction: the state stored for schema from
 * becomes schema to's (whose own rows, if any, are deleted first). */
int sb_kstate_rename_schema(sb_pg_t *pg, const char *from, const char *to,
                            sb_err_t *err);

#endif
