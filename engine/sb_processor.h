/* Processors: plug-ins the engine feeds decoded events, per partition, in
 * micro-batches. A processor is a const vtable plus opaque state; it never
 * talks to Kafka or PostgreSQL itself, only through the batch it is handed.
 *
 * For each batch the engine opens one PostgreSQL transaction (before the
 * first event), calls begin, event for every event in partition order,
 * then commit, where the processor finishes writing its projection rows;
 * the engine writes the consumed offsets in the same transaction and
 * commits. A processor may write during event already (streaming a COPY,
 * so that the server works while the engine decodes), as long as commit
 * leaves the connection free for the engine's statements. An event that
 * fails with SB_EPG fails the batch (its transaction is lost), not the
 * event. If anything fails, the engine rolls back (an open COPY included),
 * abort is called and the batch is replayed from the stored offsets: a
 * processor keeps what it changed during a batch apart from what is
 * committed, or reloads its state in assign.
 *
 * The projection tables live in a PostgreSQL schema the engine chooses
 * (sb_batch_schema): the processor's name for the live projection, another
 * one while a replay rebuilds it beside the live one. The vtable's ddl
 * creates them; "{schema}" in it stands for that schema. */
#ifndef SB_PROCESSOR_H
#define SB_PROCESSOR_H

#include "sb_codec.h"
#include "sb_conf.h"
#include "sb_err.h"
#include "sb_pg.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define SB_PROCESSOR_ABI 1

typedef struct sb_batch_s sb_batch_t;

typedef struct sb_processor_vt_s {
  uint32_t abi;               /* SB_PROCESSOR_ABI; fields are only appended */
  const char *name;           /* [a-z][a-z0-9_]*: also the schema name */
  const char *const *topics;  /* NULL-terminated */
  const char *ddl;            /* projection tables in "{schema}"; required */

  /* required */
  int (*init)(void **state, sb_err_t *err);
  int (*event)(void *state, sb_batch_t *b, const sb_event_t *ev,
               sb_err_t *err);
  int (*commit)(void *state, sb_batch_t *b, sb_err_t *err);
  void (*abort)(void *state);
  void (*destroy)(void *state);

  /* optional */
  int (*assign)(void *state, sb_batch_t *b, const char *topic,
                int32_t partition, sb_err_t *err); /* load partition state */
  void (*revoke)(void *state, const char *topic, int32_t partition);
  int (*begin)(void *state, sb_batch_t *b, sb_err_t *err);
  void (*committed)(void *state); /* the batch is durable */

  unsigned flags; /* SB_PROCESSOR_* */

  /* optional: publishes, outside PostgreSQL, what the committed batches
   * made durable (the audit log's signed checkpoints). Called on the
   * worker's thread outside any transaction: while idle or after a
   * commit (final 0: the processor decides whether it is time), and
   * before its partitions go or the worker stops cleanly (final 1).
   * Not called for a rebuild (replay). A failure is logged; the worker
   * goes on. */
  int (*publish)(void *state, sb_batch_t *b, int final, sb_err_t *err);
  /* optional (appended): replay's check before it swaps a rebuilt
   * projection in, once the rebuild has consumed at least the offsets the
   * live projection has (those of live_group in sb.consumer_offsets). 0
   * when the projection in schema rebuilt equals the one in schema live
   * for everything the live one holds; otherwise SB_ESTATE with the first
   * difference, and replay refuses to swap. Called twice: with quick 0 in
   * a REPEATABLE READ snapshot while the live projection goes on (the full
   * comparison), then with quick 1 in the swap transaction, the live
   * projection held still: only what the live projection can have added
   * since needs checking (the audit log: its chain heads). */
  int (*same_as_live)(sb_pg_t *pg, const char *live, const char *rebuilt,
                      const char *live_group, int quick, sb_err_t *err);
} sb_processor_vt_t;

/* The projection is only meaningful built from the start of the log (the
 * audit log: a rebuild from a later point would drop history): replay
 * refuses --from other than earliest. */
#define SB_PROCESSOR_FULL_REPLAY_ONLY 0x1u
/* A replay keeps the projection it replaces, renamed NAME_gen_G (G its
 * generation), out of the application role's reach, instead of dropping
 * it (the audit log: no command destroys a generation of it). */
#define SB_PROCESSOR_KEEP_GENERATIONS 0x2u

/* The schema holding this processor's tables for this run. */
const char *sb_batch_schema(const sb_batch_t *b);
/* The connection, inside the batch's transaction. */
sb_pg_t *sb_batch_pg(sb_batch_t *b);
const char *sb_batch_processor(const sb_batch_t *b);
/* The configuration the worker runs with (borrowed). */
const sb_conf_t *sb_batch_conf(const sb_batch_t *b);

/* For publish only: sends one record to topic through the worker's
 * producer and waits until the brokers acknowledged it (up to
 * kafka_timeout_ms). key and value are borrowed. */
int sb_batch_publish_record(sb_batch_t *b, const char *topic, const char *key,
                            const void *value, size_t len, sb_err_t *err);

/* Emits a derived event caused by ev: ce is a CloudEvent without id (the
 * engine derives it from ev's id and the processor's name, so replays give
 * the same id), causationid and correlationid (taken from ev). ce is
 * borrowed. The event is acknowledged by Kafka before the batch commits. */
int sb_batch_emit(sb_batch_t *b, const sb_event_t *ev, cJSON *ce,
                  sb_err_t *err);

/* Checks a vtable: ABI, name, topics, required callbacks. */
int sb_processor_check(const sb_processor_vt_t *vt, sb_err_t *err);

/* The processors built into this binary, NULL-terminated. */
extern const sb_processor_vt_t *const sb_builtin_processors[];
const sb_processor_vt_t *sb_processor_find(const char *name);

#endif
