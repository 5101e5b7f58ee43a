/* Between the pipeline's files (sb_pipeline.c: the consumer, assignment
 * and the loop; sb_batch.c: the batch's transaction, offsets, dead letters
 * and derived events). Not for use outside engine/. */
#ifndef SB_PIPELINE_INT_H
#define SB_PIPELINE_INT_H

#include "sb_codec.h"
#include "sb_journal.h"
#include "sb_kstate.h"
#include "sb_metrics.h"
#include "sb_pg.h"
#include "sb_pipeline.h"
#include "sb_producer.h"
#include "sb_text.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#define SB__MAX_TP 4096 /* partitions one pipeline tracks */
/* The source of every derived event: this, then the processor's name. */
#define SB_DERIVED_SOURCE "switchboard://processor/"

/* One partition, and where each processor reading it stands. */
typedef struct {
  char topic[64];
  int32_t partition;
  int eof; /* reached the end since its last record */
  int assigned;
  uint32_t readers; /* bit i: processor i reads this topic */
  /* per processor: next offset to read once the batch commits (-1: from
   * the start), as PostgreSQL has it (-1: no row), and the end of a batch
   * being replayed to it one record at a time */
  int64_t next[SB_PIPELINE_MAX];
  int64_t stored[SB_PIPELINE_MAX];
  int64_t isolate_end[SB_PIPELINE_MAX];
  _Atomic int64_t lag[SB_PIPELINE_MAX]; /* -1 unknown */
} sb__tp_t;

struct sb_batch_s {
  struct sb_pipeline_s *p;
  struct sb__slot_s *slot;
  /* what is being handled: an event or a timer, and its partition */
  const sb_event_t *ev;
  const sb_timer_t *timer;
  const char *topic;
  int32_t partition;
};

#define SB__MAX_TABLES 32 /* declared tables of one processor */
#define SB__MAX_GLOBALS 8 /* global tables of one processor */

/* One processor of the pipeline. */
typedef struct sb__slot_s {
  size_t ix;
  const sb_processor_vt_t *vt;
  void *state;
  char schema[64];
  char offsets_group[128];
  int generation; /* of the live projection, as last seen */
  sb_batch_t batch;
  sb_kit_t kit;
  /* the kit's writers, one per declared table (vt->tables order), the
   * one whose COPY is open, keyed state and timers (NULL: not used) */
  sb_rows_t *rows[SB__MAX_TABLES];
  size_t nrows;
  sb_rows_t *streaming;
  sb_kstate_t *kstate;
  sb_timers_t *timers;
  struct sb_global_s *globals[SB__MAX_GLOBALS];
  size_t nglobals;
  /* in the open batch */
  int events;  /* events handed to it */
  int fired;   /* timers fired */
  int emitted; /* derived events emitted */
  int sp_open; /* its savepoint is open */
  int failed;  /* its part was rolled back (a data error) */
  struct {
    atomic_ullong events, deadletters, batches, reseeks, offset_resets;
  } stats;
  sb_hist_t batch_events, commit_seconds;
} sb__slot_t;

enum { SB__PHASE_IDLE, SB__PHASE_EVENT, SB__PHASE_COMMIT };

struct sb_pipeline_s {
  const sb_conf_t *c;
  const sb_schemas_t *schemas;
  sb_pipeline_opts_t o;
  sb__slot_t slots[SB_PIPELINE_MAX];
  size_t n;
  char kafka_group[256];
  char epoch[96];        /* the log's incarnation (sb_log_epoch) */
  sb_durable_t *durable; /* the embedded broker's journal, or NULL */

  pthread_t thread;
  atomic_int stop;
  atomic_int done;
  int started;
  sb_err_t err; /* why the pipeline failed */

  rd_kafka_t *rk;
  /* an assignment that failed for a passing reason (PostgreSQL away):
   * retried from the loop */
  rd_kafka_topic_partition_list_t *pending_assign;
  sb_pg_t *pg;
  rd_kafka_t *grk; /* the global tables' reader (no group), or NULL */
  struct sb_global_s *gl[64]; /* every global table, the tenants' first */
  size_t ngl;
  struct sb_global_s *tenants; /* the tenants' settings, or NULL */
  struct {
    sb_etype_ref_t created, changed;
    sb_field_t tz[2], locale[2], currency[2], name[2], week[2];
  } tf; /* the tenant events' fields, resolved once */
  sb_codec_t *codec;
  /* the decoded record's ce_id header, when it is not its event_id
   * (sb_event_t.ce_id points here until the next record) */
  char ce_id[SB_CE_ID_MAX + 1];
  sb_producer_t *producer;

  sb__tp_t *tps;
  size_t ntp;
  sb__tp_t *last_tp; /* find_tp's last answer */

  /* the open batch */
  int open;          /* inside the transaction */
  int use_sp;        /* a savepoint per processor */
  int phase;         /* SB__PHASE_* */
  sb__slot_t *owner; /* the processor that used the connection in event */
  sb_err_t misuse;   /* a second processor did too: a bug, stops */
  /* a timer whose callback failed for good: its batch is rolled back and,
   * fired again, it goes to sb.deadletter instead of to its processor */
  struct {
    int set;
    size_t slot;
    char topic[256];
    int32_t partition;
    char key[SB_TIMER_KEY_MAX + 1];
    int64_t due_us;
    int attempts;
    char why[SB_ERR_MSG_MAX];
  } poison_timer;
  int pending;       /* records in the open batch */
  long long opened;  /* when the batch got its first record */
  const rd_kafka_message_t *single; /* the record of a one-record batch */
  int need_reseek;   /* a processor's part failed: re-read from the offsets */
  int isolation;     /* an isolation (isolate_end) may be under way */
  int emitted_since; /* a committed batch emitted derived events since the
                        ends were last confirmed (stop_at_end) */
  char txid[24];     /* the open batch's transaction id */
  /* derived events counted once: the emitting batches' outcomes, asked on
   * a connection of their own (the batch's may be streaming a COPY) */
  sb_pg_t *pg_aux;
  struct {
    char txid[24];
    char processor[48];
    int committed;
  } seen[64];
  size_t seen_next;

  struct {
    atomic_ullong records, decoded, delivered, dropped;
  } totals;
  atomic_size_t ntp_seen; /* tps[0..ntp_seen) readable by other threads */
  long long lag_at;       /* when lags were last refreshed */
  /* retention: the cutoffs read at the batch's start (sb_retention.c) */
  struct sb__ret_s *ret;
};

/* sb_batch.c */
/* Offsets to store by compare-and-set: each row moves from prev (-1: no
 * row yet) to next, in one statement; matched counts the rows that were
 * as prev says (fewer: another writer moved them). Store frees them. */
typedef struct sb__offs_s {
  sb_text_t g, t, p, o, prev;
  size_t n;
} sb__offs_t;
void sb__offs_add(sb__offs_t *o, const char *group, const char *topic,
                  int32_t partition, int64_t next, int64_t prev);
int sb__offs_store(sb_pipeline_t *p, sb__offs_t *o, size_t *matched,
                   sb_err_t *err);
/* A derived event's id: a ULID keeping the cause's time (micros), with 80
 * bits of SHA-256(cause id "/" processor ["/" discriminator]). */
void sb__derive_id(const char *cause, int64_t cause_us, const char *processor,
                   const char *disc, char out[27]);
sb__tp_t *sb__find_tp(sb_pipeline_t *p, const char *topic, int32_t partition,
                      int create);
int sb__reads(const sb__slot_t *s, const char *topic);
int sb__open_batch(sb_pipeline_t *p, int *moved, sb_err_t *err);
int sb__commit_batch(sb_pipeline_t *p, sb_err_t *err);
void sb__close_batch(sb_pipeline_t *p);
/* m to sb.deadletter, for the processors of the bit mask slots. */
int sb__dead_letter(sb_pipeline_t *p, const rd_kafka_message_t *m,
                    uint32_t slots, const char *cls, const char *why,
                    int attempts, sb_err_t *err);
int sb__is_data_error(const sb_err_t *err);
/* A timer of processor s to sb.deadletter (its callback failed for good):
 * headers as sb__dead_letter's, with sb-timer-key and sb-timer-due; the
 * value a JSON description of the timer. */
int sb__dead_letter_timer(sb_pipeline_t *p, const struct sb__slot_s *s,
                          const sb_timer_t *t, const char *why, int attempts,
                          sb_err_t *err);
int sb__isolating(sb_pipeline_t *p);
/* 1 when m is a derived event whose emitting batch did not commit (a
 * copy of one a retry emitted again): it is dropped; 0 to hand it over. */
int sb__derived_dropped(sb_pipeline_t *p, const rd_kafka_message_t *m,
                        sb_err_t *err);
/* 1 when m was emitted by this pipeline's open batch. */
int sb__emitted_here(const sb_pipeline_t *p, const rd_kafka_message_t *m);
/* Processor s's part of the open batch could not be written (err): its
 * savepoint is rolled back; s will be handed those records again. */
int sb__slot_fail(sb_pipeline_t *p, sb__slot_t *s, const sb_err_t *why,
                  sb_err_t *err);

/* sb_kit.c: the kit's parts of a processor, driven by the pipeline */
int sb__kit_setup(sb_pipeline_t *p, sb__slot_t *s, sb_err_t *err);
void sb__kit_free(sb__slot_t *s);
int sb__kit_load(sb_pipeline_t *p, sb__slot_t *s, const char *topic,
                 const int32_t *parts, size_t n, sb_err_t *err);
void sb__kit_drop(sb__slot_t *s, const char *topic, int32_t partition);
/* the batch's rows, state and timers, in the open transaction */
int sb__kit_flush(sb_pipeline_t *p, sb__slot_t *s, sb_err_t *err);
void sb__kit_committed(sb__slot_t *s);
void sb__kit_abort(sb__slot_t *s);
/* Processor s (the first) takes the connection during event. */
int sb__kit_hold(sb_pipeline_t *p, sb__slot_t *s, sb_err_t *err);
/* Fires the timers due now in a batch of their own; *fired: how many. */
int sb__kit_fire_timers(sb_pipeline_t *p, size_t *fired, sb_err_t *err);

/* sb_global.c: reads every global table to its topic's end (before the
 * first batch), folds what arrived since (up to max records, between
 * batches, stored in a transaction of its own), frees them. */
int sb__global_setup(sb_pipeline_t *p, sb_err_t *err);
/* The tenants' table (sb_tenant.c). */
extern const sb_global_def_t sb__tenants_def;
int sb__global_poll(sb_pipeline_t *p, int max, sb_err_t *err);
void sb__global_free(sb_pipeline_t *p);

/* sb_assign.c */
/* Takes the partitions: each processor's stored offset (checked against
 * the log), the lowest sought, state and timers loaded. */
int sb__assign(sb_pipeline_t *p, rd_kafka_topic_partition_list_t *parts,
               sb_err_t *err);
int sb__assign_everything(sb_pipeline_t *p, sb_err_t *err);
void sb__unassign_all(sb_pipeline_t *p);
void sb__drop_pending(sb_pipeline_t *p);
void sb__abort_all(sb_pipeline_t *p);
int sb__reseek(sb_pipeline_t *p, sb_err_t *err);
void sb__on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t kerr,
                      rd_kafka_topic_partition_list_t *parts, void *opaque);

/* sb_pipeline.c */
int sb__load_live(sb_pipeline_t *p, sb__slot_t *s, sb_err_t *err);
/* Lets each processor publish what is durable (live projections only). */
void sb__publish(sb_pipeline_t *p, int final);

/* sb_retention.c */
/* A table's retention declaration: a class of tables and a timestamptz or
 * date column of it (checked when the kit makes its writer). */
int sb__retention_check(const sb_processor_vt_t *vt, const sb_table_def_t *t,
                        sb_err_t *err);
/* At a batch's start, when a processor declares a class: the purges' lock
 * shared, and the cutoffs read. */
int sb__retention_open(sb_pipeline_t *p, sb_err_t *err);
/* 1 when the row vals of t is dated before its tenant's cutoff for t's
 * class: the kit does not write it. */
int sb__retention_drop(sb_batch_t *b, const sb_table_def_t *t,
                       const sb_val_t *vals);
void sb__retention_free(sb_pipeline_t *p);

#endif
