/* Replay's guards and its swap. A projection rebuilt from the log replaces
 * the live one only when the log still holds what the live one was built
 * from, the rebuild has consumed at least everything the live one has, and
 * (where the processor can tell) the rebuild equals the live projection for
 * all it holds. Otherwise the live projection is left as it was and the
 * caller is told why, in one line naming the partition or row.
 *
 *   sb_replay_log_open -> offsets of the rebuild stored -> sb_replay_log_starts
 *   -> sb_replay_check_log (refuse early) -> rebuild runs to the end of the
 *   log -> sb_replay_swap (behind: run the rebuild further, swap again)
 */
#ifndef SB_REPLAY_H
#define SB_REPLAY_H

#include "sb_conf.h"
#include "sb_err.h"
#include "sb_pg.h"
#include "sb_processor.h"

#include <stdint.h>

typedef struct sb_replay_log_s sb_replay_log_t;

/* Opens a Kafka client on c's brokers and lists the partitions vt reads.
 * Borrows c and vt until sb_replay_log_free; *out is owned by the caller
 * (sb_replay_log_free accepts NULL). */
int sb_replay_log_open(const sb_conf_t *c, const sb_processor_vt_t *vt,
                       sb_replay_log_t **out, sb_err_t *err);
void sb_replay_log_free(sb_replay_log_t *l);

/* Notes where the rebuild starts in every partition: the offsets stored
 * for group in sb.consumer_offsets, the start of the log (0) where none is.
 * Call once the rebuild's offsets are stored, before it runs. */
int sb_replay_log_starts(sb_replay_log_t *l, sb_pg_t *pg, const char *group,
                         sb_err_t *err);

/* 0 when the log can reproduce the live projection (its offsets are those
 * of live_group); SB_ESTATE naming the partition otherwise: one that now
 * starts past the offset the rebuild must read it from (records deleted by
 * retention), one that ends before the offsets the live projection has
 * consumed or no longer exists (another incarnation of the topics: a
 * broker that came back empty, topics deleted and created again). */
int sb_replay_check_log(sb_replay_log_t *l, sb_pg_t *pg,
                        const char *live_group, sb_err_t *err);

typedef struct sb_replay_swap_s {
  const sb_processor_vt_t *vt;
  int old_gen, gen;       /* the live generation, and the rebuilt one */
  const char *schema;     /* where the rebuild is (NAME_gGEN) */
  const char *group;      /* the rebuild's offsets */
  const char *live_group; /* the live projection's offsets */
} sb_replay_swap_t;

/* Checks the log again (sb_replay_check_log), that the rebuild has
 * consumed every partition at least as far as the live projection, and
 * vt->same_as_live: first in a snapshot while the live projection goes on
 * (the full comparison), then in one transaction with the live projection
 * held still (the quick one), where it renames the live schema (NAME_gen_OLD, kept and closed to every role
 * but its owner, for SB_PROCESSOR_KEEP_GENERATIONS; dropped after the
 * commit otherwise), renames the rebuild to NAME and points sb.processors
 * at its group and generation. *behind is set, and nothing changed, when
 * the rebuild has not yet consumed all the live projection has: run it
 * further and call again. On an error nothing changed either, and the
 * rebuild is left where it is for inspection. */
int sb_replay_swap(sb_replay_log_t *l, sb_pg_t *pg, const sb_replay_swap_t *s,
                   int *behind, sb_err_t *err);

/* Records that the rebuild's group starts topic's partition at offset (one
 * row of sb.consumer_offsets, in pg's transaction). */
int sb_replay_store_offset(sb_pg_t *pg, const char *group, const char *topic,
                           int32_t partition, int64_t offset, sb_err_t *err);

/* --from TIME: stores, for every partition of the topics vt reads, the first
 * offset at or after micros (the partition's end when there is none) as
 * group's starting offset. */
int sb_replay_offsets_for_time(const sb_conf_t *c, sb_pg_t *pg,
                               const sb_processor_vt_t *vt, const char *group,
                               int64_t micros, sb_err_t *err);

#endif
