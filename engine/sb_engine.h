/* The engine: runs one processor on a thread of its own, with its own
 * Kafka consumer, PostgreSQL connection and codec.
 *
 *   poll -> decode -> processor.event ... -> BEGIN; processor.commit;
 *   offsets upsert; (dead letters and derived events acknowledged); COMMIT
 *   -> offsets to Kafka too, for lag tools.
 *
 * On start and on every partition assignment the consumer seeks to the
 * offsets stored in PostgreSQL. A record that does not decode, or that the
 * processor rejects after processor.retries attempts, goes to sb.deadletter
 * with its provenance and the partition moves on. */
#ifndef SB_ENGINE_H
#define SB_ENGINE_H

#include "sb_conf.h"
#include "sb_err.h"
#include "sb_processor.h"
#include "sb_schema.h"

#include <stdint.h>

typedef struct sb_engine_s sb_engine_t;

typedef struct sb_engine_opts_s {
  const sb_processor_vt_t *vt;
  /* A rebuild (replay) runs beside the live projection: its own schema,
   * consumer group and offsets; NULL for the live projection. */
  const char *rebuild_schema;
  const char *rebuild_group;
  /* Stop once every assigned partition has reached its end (replay). */
  int stop_at_end;
} sb_engine_opts_t;

typedef struct sb_engine_stats_s {
  uint64_t events;      /* handed to the processor and committed */
  uint64_t deadletters; /* sent to sb.deadletter */
  uint64_t batches;
  uint64_t reseeks;     /* batches replayed after a failure or a swap */
  uint64_t offset_resets; /* stored offsets of another log, read from the
                             start instead (sb.consumer_offsets.log_epoch) */
  /* live histograms, valid while the engine runs: events per committed
   * batch, seconds from BEGIN to COMMIT */
  struct sb_hist_s *batch_events, *commit_seconds;
} sb_engine_stats_t;

typedef struct sb_engine_lag_s {
  const char *topic; /* valid while the engine runs */
  int32_t partition;
  int64_t lag; /* records behind the partition's high watermark */
} sb_engine_lag_t;

/* Starts a worker thread. Borrows c and schemas until sb_engine_join. */
int sb_engine_start(const sb_conf_t *c, const sb_schemas_t *schemas,
                    const sb_engine_opts_t *opts, sb_engine_t **out,
                    sb_err_t *err);
/* Asks the worker to finish its batch and stop; returns at once. */
void sb_engine_stop(sb_engine_t *e);
/* 1 once the worker has stopped (by request, at the end, or failing). */
int sb_engine_done(sb_engine_t *e);
/* The counters so far, from any thread. */
void sb_engine_snapshot(sb_engine_t *e, sb_engine_stats_t *out);
const char *sb_engine_processor(const sb_engine_t *e);
/* Consumer lag of each assigned partition (refreshed every second), at
 * most cap of them; how many were written. From any thread. */
size_t sb_engine_lags(sb_engine_t *e, sb_engine_lag_t *out, size_t cap);

/* Waits for the worker, frees it, and reports how it ended. */
int sb_engine_join(sb_engine_t *e, sb_engine_stats_t *stats, sb_err_t *err);

/* Creates the live schema and tables of vt and its sb.processors row when
 * missing. */
int sb_engine_ensure_live(sb_pg_t *pg, const sb_processor_vt_t *vt,
                          sb_err_t *err);
/* Runs vt->ddl in schema. */
int sb_engine_create_tables(sb_pg_t *pg, const sb_processor_vt_t *vt,
                            const char *schema, sb_err_t *err);

#endif
