/* The pipeline: runs the processors of a process on one thread, with one
 * Kafka consumer, one producer, one PostgreSQL connection and one decode
 * per record.
 *
 *   poll -> decode once -> each processor reading the topic: event ...
 *   -> BEGIN; per processor (a savepoint each): commit; every processor's
 *   offsets in one statement; dead letters and derived events acknowledged;
 *   COMMIT -> offsets to Kafka too, for lag tools.
 *
 * Offsets stay per processor (sb.consumer_offsets, under the processor's
 * consumer group), so one processor can be rebuilt, or added later and
 * start from the beginning, while the others run: on assignment the
 * consumer seeks to the lowest offset stored among the processors reading
 * the partition, and a record is not handed to a processor whose own
 * offset is already past it. Storing offsets is a compare-and-set on what
 * the pipeline last read: a second process writing the same processor's
 * offsets (a different processor list, a zombie after a rebalance) makes
 * one of the two batches roll back and re-read, never both commit.
 *
 * A record that does not decode goes to sb.deadletter once; one that a
 * processor rejects after processor.retries attempts goes there with that
 * processor's name, and the processor moves on. A data error (SQLSTATE
 * class 22 or 23) in one processor's writes rolls back that processor's
 * part of the batch only (its savepoint); the pipeline then replays the
 * batch to that processor alone one record at a time, dead-letters the
 * record it cannot write, and goes on. */
#ifndef SB_PIPELINE_H
#define SB_PIPELINE_H

#include "sb_conf.h"
#include "sb_err.h"
#include "sb_processor.h"
#include "sb_schema.h"

#include <stddef.h>
#include <stdint.h>

#define SB_PIPELINE_MAX 16 /* processors in one pipeline */

typedef struct sb_pipeline_s sb_pipeline_t;

typedef struct sb_pipeline_opts_s {
  const sb_processor_vt_t *const *vts; /* n of them, borrowed */
  size_t n;
  /* A rebuild (replay) of one processor (n == 1) runs beside the live
   * projection: its own schema, consumer group and offsets; NULL for the
   * live projections. */
  const char *rebuild_schema;
  const char *rebuild_group;
  /* Stop once every assigned partition has reached its end (replay). */
  int stop_at_end;
  /* Take every partition of the processors' topics at once, without
   * joining a consumer group (golden tests, a lone rebuild): no waiting
   * for a group to form, and no other member to share with. */
  int all_partitions;
} sb_pipeline_opts_t;

/* One processor's counters. */
typedef struct sb_pipeline_stats_s {
  uint64_t events;        /* handed to the processor and committed */
  uint64_t deadletters;   /* sent to sb.deadletter for this processor */
  uint64_t batches;       /* committed batches the processor took part in */
  uint64_t reseeks;       /* batches replayed after a failure or a swap */
  uint64_t offset_resets; /* stored offsets of another log (or past the
                             end), read from the start instead */
  /* live histograms, valid while the pipeline runs: the processor's events
   * per committed batch, seconds from BEGIN to COMMIT */
  struct sb_hist_s *batch_events, *commit_seconds;
} sb_pipeline_stats_t;

/* The pipeline's own counters: every record consumed is decoded at most
 * once, whatever the number of processors reading it. */
typedef struct sb_pipeline_totals_s {
  uint64_t records;   /* consumed (data records, not partition ends) */
  uint64_t decoded;   /* decoded (records no processor needed are not) */
  uint64_t delivered; /* (record, processor) hand-overs */
  uint64_t dropped;   /* copies of derived events whose emitting batch did
                         not commit, dropped */
} sb_pipeline_totals_t;

typedef struct sb_pipeline_lag_s {
  const char *topic; /* valid while the pipeline runs */
  int32_t partition;
  int64_t lag; /* records behind the partition's high watermark */
} sb_pipeline_lag_t;

/* Starts the pipeline's thread. Borrows c, schemas and opts->vts until
 * sb_pipeline_join. */
int sb_pipeline_start(const sb_conf_t *c, const sb_schemas_t *schemas,
                      const sb_pipeline_opts_t *opts, sb_pipeline_t **out,
                      sb_err_t *err);
/* Asks the pipeline to finish its batch and stop; returns at once. */
void sb_pipeline_stop(sb_pipeline_t *p);
/* 1 once the thread has stopped (by request, at the end, or failing). */
int sb_pipeline_done(sb_pipeline_t *p);

/* The processors it runs, and their counters so far (any thread). */
size_t sb_pipeline_count(const sb_pipeline_t *p);
const char *sb_pipeline_processor(const sb_pipeline_t *p, size_t i);
void sb_pipeline_snapshot(sb_pipeline_t *p, size_t i, sb_pipeline_stats_t *out);
void sb_pipeline_totals(sb_pipeline_t *p, sb_pipeline_totals_t *out);
/* Processor i's lag on each partition it reads (refreshed every second),
 * at most cap of them; how many were written. From any thread. */
size_t sb_pipeline_lags(sb_pipeline_t *p, size_t i, sb_pipeline_lag_t *out,
                        size_t cap);

/* Waits for the thread, frees the pipeline, and reports how it ended;
 * stats (may be NULL) receives processor 0's counters. */
int sb_pipeline_join(sb_pipeline_t *p, sb_pipeline_stats_t *stats,
                     sb_err_t *err);

/* Whether the copy of a derived event emitted in transaction txid by
 * processor (its headers sb-txid and sb-emitted-by) counts: 1 when that
 * processor's part of the batch committed, 0 when it did not (rolled back,
 * or never recorded), SB_EBUSY (retriable) while the batch is still in
 * progress. pg is any connection outside a transaction of its own. */
int sb_derived_committed(sb_pg_t *pg, const char *txid, const char *processor,
                         sb_err_t *err);

/* Creates the live schema and tables of vt and its sb.processors row when
 * missing. */
int sb_processor_ensure_live(sb_pg_t *pg, const sb_processor_vt_t *vt,
                             sb_err_t *err);
/* Brings schema up to vt's migration steps (creating it when missing). */
int sb_processor_create_tables(sb_pg_t *pg, const sb_processor_vt_t *vt,
                               const char *schema, sb_err_t *err);

#endif
