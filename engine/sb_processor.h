/* The processor kit: the one header a processor includes.
 *
 * A processor is domain logic only: a const vtable plus opaque state. The
 * pipeline (sb_pipeline.h) hands it decoded events of the topics it reads,
 * per partition, in micro-batches; the kit owns Kafka, PostgreSQL, state,
 * timers and ids:
 *
 *   typed fields  handles resolved once in init (sb_kit_field), read per
 *                 event without lookup (sb_event_i64, sb_event_str, ...)
 *   rows          tables declared once (vt->tables, sb_table_def_t); rows
 *                 added during event (sb_rows_add: appends streamed by
 *                 binary COPY, upserts merged per key, deletes), written by
 *                 the kit at the batch's commit
 *   keyed state   per partition, get/put/del by key and scan by prefix
 *                 (sb_state_*), loaded on assignment, pending until the
 *                 batch commits
 *   timers        set/cancel per key, by wall clock or event time
 *                 (sb_timer_set); due ones fired in a batch of their own
 *                 through vt->timer
 *   emit          typed, no JSON (sb_emit_begin ... sb_emit_end); the id is
 *                 derived from (cause, processor, discriminator) or (timer
 *                 key, due time), so a retried batch gives the same ids; a
 *                 rebuild (replay) emits nothing: its events are in the log
 *   migrations    ordered DDL steps (vt->migrations) recorded per schema;
 *                 every table has tenant_id and row-level security
 *
 * Each batch is one PostgreSQL transaction, with a savepoint per processor
 * when the pipeline runs several: begin, event for every event in
 * partition order, then the kit writes the processor's rows, state and
 * timers and calls commit (optional: for writes of its own); the pipeline
 * stores the offsets in the same transaction. An event that fails with
 * SB_EPG fails the batch (or this processor's part of it), not the event;
 * any other failure sends the event to sb.deadletter for this processor.
 * After a failure the kit drops the batch's rows, state and timers, calls
 * abort, and the batch is replayed from the stored offsets.
 *
 * The projection tables live in a PostgreSQL schema the pipeline chooses
 * (sb_batch_schema): the processor's name for the live projection, another
 * one while a replay rebuilds it beside the live one; "{schema}" in a
 * migration step stands for it. */
#ifndef SB_PROCESSOR_H
#define SB_PROCESSOR_H

#include "sb_codec.h"
#include "sb_conf.h"
#include "sb_err.h"
#include "sb_log.h"
#include "sb_pg.h"
#include "sb_projection.h"
#include "sb_rows.h"
#include "sb_text.h"
#include "sb_time.h"
#include "sb_timers.h"
#include "sb_topics.h"
#include "sb_tz.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define SB_PROCESSOR_ABI 2

typedef struct sb_batch_s sb_batch_t;
typedef struct sb_global_s sb_global_t;

/* A global table: every event of topic, from every partition, folded by
 * reduce into a table by key that every event of the processor can read
 * (sb_global_get), whichever partition it came from. reduce changes the
 * table with sb_global_put/del (and reads it with sb_global_find); it
 * must depend on the table and the event only. A refusal (non-zero) skips
 * the event, logged. */
typedef struct sb_global_def_s {
  const char *name;  /* [a-z][a-z0-9_]* */
  const char *topic; /* read in full by every instance */
  int (*reduce)(void *state, sb_global_t *g, const sb_event_t *ev,
                sb_err_t *err);
} sb_global_def_t;

/* What init receives: the configuration and the schemas, to resolve field
 * handles and event types once. Borrowed for the processor's life. */
typedef struct sb_kit_s {
  const sb_conf_t *conf;
  const sb_schemas_t *schemas;
  const char *schema; /* where its tables are: live or a rebuild's */
} sb_kit_t;

typedef struct sb_processor_vt_s {
  uint32_t abi;              /* SB_PROCESSOR_ABI; fields are only appended */
  const char *name;          /* [a-z][a-z0-9_]*: also the schema name */
  const char *const *topics; /* NULL-terminated */
  /* the projection's DDL steps, in order, ending with {0}; required */
  const sb_proj_step_t *migrations;
  /* the tables the kit writes for it (sb_rows_add), NULL-terminated; may
   * be NULL */
  const sb_table_def_t *const *tables;

  /* required */
  int (*init)(void **state, const sb_kit_t *kit, sb_err_t *err);
  int (*event)(void *state, sb_batch_t *b, const sb_event_t *ev, sb_err_t *err);
  void (*destroy)(void *state);

  /* optional */
  /* after the kit wrote the batch's rows, state and timers, in the same
   * transaction (and savepoint): writes of the processor's own */
  int (*commit)(void *state, sb_batch_t *b, sb_err_t *err);
  void (*abort)(void *state); /* the batch is dropped */
  int (*assign)(void *state, sb_batch_t *b, const char *topic,
                int32_t partition, sb_err_t *err); /* load partition state */
  void (*revoke)(void *state, const char *topic, int32_t partition);
  int (*begin)(void *state, sb_batch_t *b, sb_err_t *err);
  void (*committed)(void *state); /* the batch is durable */
  /* a timer it set is due (required when it sets timers): in a batch of
   * timers of their own; state and emit work as in event, on the timer's
   * partition */
  int (*timer)(void *state, sb_batch_t *b, const sb_timer_t *t, sb_err_t *err);

  unsigned flags; /* SB_PROCESSOR_* */

  /* optional: publishes, outside PostgreSQL, what the committed batches
   * made durable (the audit log's signed checkpoints). Called on the
   * pipeline's thread outside any transaction: while idle or after a
   * commit (final 0: the processor decides whether it is time), and
   * before its partitions go or the pipeline stops cleanly (final 1).
   * Not called for a rebuild (replay). A failure is logged; the pipeline
   * goes on. */
  int (*publish)(void *state, sb_batch_t *b, int final, sb_err_t *err);
  /* optional: replay's check before it swaps a rebuilt projection in, once
   * the rebuild has consumed at least the offsets the live projection has
   * (those of live_group in sb.consumer_offsets). 0 when the projection in
   * schema rebuilt equals the one in schema live for everything the live
   * one holds; otherwise SB_ESTATE with the first difference, and replay
   * refuses to swap. Called twice: with quick 0 in a REPEATABLE READ
   * snapshot while the live projection goes on (the full comparison), then
   * with quick 1 in the swap transaction, the live projection held still:
   * only what the live projection can have added since needs checking (the
   * audit log: its chain heads). */
  int (*same_as_live)(sb_pg_t *pg, const char *live, const char *rebuilt,
                      const char *live_group, int quick, sb_err_t *err);
  /* optional: its global tables, ending with {0}: each read to the end of
   * its topic before the first batch, kept in PostgreSQL with its own
   * offsets (a restart reads on from there) */
  const sb_global_def_t *globals;
  /* optional: its configuration keys, ending with {0}: rows of the one
   * configuration table (engine/sb_conf.h; offset unused), each named
   * "<processor name>.<key>", set like any other key (file, environment,
   * --set, and as flags of run and up), listed by --help and `config
   * --reference`. Read them in init with sb_conf_int / sb_conf_str on
   * kit->conf. */
  const sb_conf_prop_t *conf;
  /* optional: the columns of its tables that hold PII, ending with {0}
   * (sb_pii_col_t, sb_rows.h): what the read API reveals or masks */
  const sb_pii_col_t *pii_cols;
  /* optional: its read views, ending with {0} (sb_view_def_t): what
   * GET /v1/analytics/<name> (the analytics processor's) and
   * GET /v1/projections/<processor>/<name> answer (connectors/api) */
  const struct sb_view_def_s *views;
} sb_processor_vt_t;

/* A read view: a table or SQL view of the processor's live schema answered
 * by the read API with the parameters it declares. Every column it names
 * is a column of the relation, which has tenant_id (a read is always of
 * the caller's tenant); the read API refuses the view (500 naming it)
 * otherwise, and the test cli_views reads every declared view. */
typedef struct sb_view_def_s {
  const char *name;     /* [a-z][a-z0-9_]*, in the URL */
  const char *relation; /* a table or view of the processor's schema */
  const char *about;    /* one line for the list endpoint */
  /* a timestamptz or date column: ?from= (inclusive) and ?to= (exclusive)
   * bound it; NULL: the view takes neither */
  const char *time_col;
  /* the name of the view (of the same processor) answering ?bucket=hour
   * for this one, which answers ?bucket=day (the default); NULL: the view
   * takes no bucket */
  const char *hourly;
  /* "c1,c2": columns ordering a tenant's rows uniquely, none NULL (the
   * pages are keyset pages: ?after= the cursor the previous page gave) */
  const char *order;
  /* "campaign=campaign_id,queue=queue_id": query parameters that are an
   * equality on a column; NULL: none */
  const char *filters;
  /* the column naming the agent a row belongs to: an agent reads its own
   * rows only; NULL: agents read the view only with SB_VIEW_AGENTS_ALL */
  const char *owner_col;
  unsigned flags;
} sb_view_def_t;

/* Agents read every row of the tenant (leaderboards), not only their own. */
#define SB_VIEW_AGENTS_ALL 0x1u

/* The projection is only meaningful built from the start of the log (the
 * audit log: a rebuild from a later point would drop history): replay
 * refuses --from other than earliest. */
#define SB_PROCESSOR_FULL_REPLAY_ONLY 0x1u
/* A replay keeps the projection it replaces, renamed NAME_gen_G (G its
 * generation), out of the application role's reach, instead of dropping
 * it (the audit log: no command destroys a generation of it). */
#define SB_PROCESSOR_KEEP_GENERATIONS 0x2u
/* It keeps keyed state (sb_state_*): loaded on assignment. */
#define SB_PROCESSOR_KEYED_STATE 0x4u
/* Built for the test suite only: runs when named, never as part of
 * "all". */
#define SB_PROCESSOR_TEST_ONLY 0x8u
/* It runs statements of its own on the connection during event
 * (sb_batch_pg; the audit log makes its month partitions): the pipeline
 * puts it first, the one processor that holds the connection then. Two
 * such processors cannot share a pipeline (run them in two processes). */
#define SB_PROCESSOR_EVENT_SQL 0x10u

/* ---- the batch ----------------------------------------------------------- */

/* The schema holding this processor's tables for this run. */
const char *sb_batch_schema(const sb_batch_t *b);
const char *sb_batch_processor(const sb_batch_t *b);
/* The partition of the event or timer being handled (-1 outside them). */
int32_t sb_batch_partition(const sb_batch_t *b);
/* The configuration the pipeline runs with (borrowed). */
const sb_conf_t *sb_batch_conf(const sb_batch_t *b);
/* The connection, inside the batch's transaction: for assign, commit and
 * publish; during event only for a processor flagged
 * SB_PROCESSOR_EVENT_SQL (rows go through sb_rows_add instead). */
sb_pg_t *sb_batch_pg(sb_batch_t *b);

/* ---- rows ---------------------------------------------------------------- */

/* Adds a row to table t (one of vt->tables): an append for a table without
 * a key, an upsert merged per key (the columns' SB_MERGE_*) for one with.
 * vals: one per column, in t's order; borrowed for the call. */
int sb_rows_add(sb_batch_t *b, const sb_table_def_t *t, const sb_val_t *vals,
                sb_err_t *err);
/* Deletes a row of table t by key (one value per key column). */
int sb_rows_del(sb_batch_t *b, const sb_table_def_t *t, const sb_val_t *key,
                sb_err_t *err);

/* ---- keyed state (SB_PROCESSOR_KEYED_STATE) ------------------------------ */

/* The value of key on the current partition (the event's or the timer's),
 * as this batch sees it: 0 with *val and *len borrowed until the next
 * change, or SB_ENOENT. */
int sb_state_get(sb_batch_t *b, const char *key, const void **val, size_t *len);
int sb_state_put(sb_batch_t *b, const char *key, const void *val, size_t len,
                 sb_err_t *err);
int sb_state_del(sb_batch_t *b, const char *key, sb_err_t *err);
/* Calls cb for every key of the current partition beginning with prefix,
 * in byte order, with its value as sb_state_get gives it; stops at (and
 * returns) cb's first non-zero. cb must not change the state. It costs a
 * pass over all the state held: for rebuilding an index of the
 * partition's keys once (after assign or abort), not for every event. */
typedef int (*sb_state_scan_cb)(void *arg, const char *key, const void *val,
                                size_t len, sb_err_t *err);
int sb_state_scan(sb_batch_t *b, const char *prefix, sb_state_scan_cb cb,
                  void *arg, sb_err_t *err);

/* ---- timers (vt->timer) -------------------------------------------------- */

/* Sets key's timer on the current partition (replacing the one it had):
 * due_us by the wall clock or by the partition's event time. */
int sb_timer_set(sb_batch_t *b, const char *key, int64_t due_us,
                 sb_timer_kind_t kind, sb_err_t *err);
int sb_timer_cancel(sb_batch_t *b, const char *key, sb_err_t *err);
/* The wall clock now, microseconds since the epoch (CLOCK_REALTIME): for
 * wall-clock timers of live work only; decisions go by event time. */
int64_t sb_wall_us(void);

/* ---- global tables (vt->globals) ---------------------------------------- */

/* The value of key in global table def as it stands (every event of its
 * topic read up to what arrived before this batch): 0 with *val and *len
 * borrowed until the table next changes, or SB_ENOENT. */
int sb_global_get(sb_batch_t *b, const sb_global_def_t *def, const char *key,
                  const void **val, size_t *len);
/* In a reducer. */
int sb_global_put(sb_global_t *g, const char *key, const void *val, size_t len,
                  sb_err_t *err);
int sb_global_del(sb_global_t *g, const char *key, sb_err_t *err);
int sb_global_find(const sb_global_t *g, const char *key, const void **val,
                   size_t *len);

/* ---- tenants' settings -------------------------------------------------- */

/* A tenant's settings as its events say (tenant.created,
 * tenant.settings_changed on sb.tenants, read by every pipeline before its
 * first batch): strings borrowed until the settings next change; tz its
 * zone (NULL only where the system has no zone files). */
typedef struct sb_tenant_s {
  const char *time_zone, *locale, *currency, *display_name, *week_start;
  const sb_tz_t *tz;
} sb_tenant_t;

/* 0, or SB_ENOENT for a tenant no event described yet: then the defaults,
 * UTC, en, USD, monday. */
int sb_tenant_settings(sb_batch_t *b, const char *tenant_id, sb_tenant_t *out);
/* The local day (days since 1970-01-01) of a time in the tenant's zone,
 * and where its local hour and day began (micros, UTC). Windows and
 * buckets users see are these. */
int64_t sb_tenant_day(sb_batch_t *b, const char *tenant_id, int64_t utc_us);
int64_t sb_tenant_hour_start(sb_batch_t *b, const char *tenant_id,
                             int64_t utc_us);
int64_t sb_tenant_day_start(sb_batch_t *b, const char *tenant_id,
                            int64_t utc_us);

/* ---- emit ---------------------------------------------------------------- */

typedef struct sb_emit_s {
  /* distinguishes two events one cause emits (NULL: none): the id is
   * derived from (cause id, processor, discriminator), or from (processor,
   * timer key, due time, discriminator) in a timer */
  const char *discriminator;
  /* the tenant: the cause's when NULL (required in a timer) */
  const char *tenant_id;
  /* micros; 0: the cause's occurred_at, or the timer's due time */
  int64_t occurred_at;
} sb_emit_t;

/* Starts an event of type t caused by the event (or timer) being handled;
 * set its fields with sb_build_* (sb_codec.h), then sb_emit_end. Never
 * NULL. */
sb_build_t *sb_emit_begin(sb_batch_t *b, sb_etype_ref_t t);
/* Encodes and produces it (acknowledged by Kafka before the batch commits);
 * causation_id is the cause's id, correlation_id the cause's (or its id).
 * o may be NULL. SB_EVALIDATE naming the type and field when it does not
 * fit its schema. */
int sb_emit_end(sb_batch_t *b, sb_build_t *bld, const sb_emit_t *o,
                sb_err_t *err);

/* Emits a derived event given as a CloudEvent without id (the JSON path,
 * for processors written before typed emit): the id is derived from ev's
 * id and the processor's name; the source is the processor's
 * ("switchboard://processor/NAME"), as for every derived event. ce is
 * borrowed. */
int sb_batch_emit(sb_batch_t *b, const sb_event_t *ev, cJSON *ce,
                  sb_err_t *err);

/* For publish only: sends one record to topic through the pipeline's
 * producer and waits until the brokers acknowledged it (up to
 * kafka_timeout_ms). key and value are borrowed. */
int sb_batch_publish_record(sb_batch_t *b, const char *topic, const char *key,
                            const void *value, size_t len, sb_err_t *err);

/* ---- retention (engine/sb_retention.c) ---------------------------------- */

/* The classes of data a tenant's retention policies name: the prefixes of
 * the event types ("call" covers call.* and voicemail.*), and "subject"
 * for data subjects whose data keys sealed nothing for that long. A table
 * declares one (sb_table_def_t.retention_class), never "subject". */
#define SB_RETENTION_CLASSES                                                   \
  "lead", "call", "agent", "message", "campaign", "consent", "access",         \
      "security", "gamification", "subject"
/* 1 when cls is one of SB_RETENTION_CLASSES. */
int sb_retention_class_ok(const char *cls);

#define SB_RETENTION_TABLES_MAX 32
#define SB_RETENTION_HASH_LEN 16 /* a subject hash: hex digits */

typedef struct sb_retention_counts_s {
  long long rows; /* every table together */
  size_t ntables; /* tables of the class that exist */
  struct {
    char table[136]; /* "schema.table" */
    long long rows;
  } tables[SB_RETENTION_TABLES_MAX];
} sb_retention_counts_t;

/* Enforces cls for tenant, in the batch's transaction (the processor's
 * savepoint): raises the stored cutoff of (tenant, cls) to cutoff_us
 * (sb.retention_cutoffs; it never moves back) and deletes the rows of
 * tenant dated before it from every table declaring cls of every built-in
 * processor (the live projection and any rebuild beside it), counted in
 * *out. From then on the kit drops such rows when a processor adds them
 * (a replay does not bring them back). Waits for the batches in flight
 * of every pipeline writing such tables, and holds theirs off until this
 * batch ends. For a timer (the connection is the processor's in its timer
 * batch); SB_ESTATE when another processor of the batch holds it. */
int sb_retention_purge(sb_batch_t *b, const char *tenant, const char *cls,
                       int64_t cutoff_us, sb_retention_counts_t *out,
                       sb_err_t *err);

/* Crypto-shreds, in the batch's transaction, at most max data subjects of
 * tenant whose live data keys all last sealed a value before cutoff_us
 * (sb.data_keys.last_sealed_at, moved by the key store at most once a day):
 * every key of theirs wiped and marked erased, as a GDPR erasure does, and
 * their export files removed. hashes (max entries) gets the subject hashes
 * shredded, in order, *n their number; *more is 1 when more idle subjects
 * are left (a next run goes on). Timer only, as sb_retention_purge. */
int sb_retention_shred(sb_batch_t *b, const char *tenant, int64_t cutoff_us,
                       size_t max, char (*hashes)[SB_RETENTION_HASH_LEN + 1],
                       size_t *n, int *more, sb_err_t *err);

/* ---- registry ------------------------------------------------------------ */

/* Checks a vtable: ABI, name, topics, migrations, tables, required
 * callbacks. */
int sb_processor_check(const sb_processor_vt_t *vt, sb_err_t *err);

/* The processors built into this binary, NULL-terminated. */
extern const sb_processor_vt_t *const sb_builtin_processors[];
const sb_processor_vt_t *sb_processor_find(const char *name);

/* Adds every built-in processor's configuration rows (vt->conf) to the one
 * table (sb_conf_add_rows): called by main (and the test runner) before
 * any configuration is read. */
int sb_processors_add_conf(sb_err_t *err);
/* SB_EINVAL naming the key when vt's rows were not in the table when c was
 * read (checked by the pipeline before init). */
int sb_processor_conf_check(const sb_processor_vt_t *vt, const sb_conf_t *c,
                            sb_err_t *err);

#endif
