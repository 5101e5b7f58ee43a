/* The embedded broker's journal: what `up` keeps of the embedded broker's
 * log in <data_dir>/kafka/, so that a restart or a SIGKILL of `up` loses
 * nothing acknowledged and every record comes back at its own offset.
 *
 *   kafka/meta     this incarnation of the log: its epoch (random, made with
 *                  a new journal, kept with it) and partitions per topic
 *   kafka/journal  append-only: per record u32 length, u32 CRC-32C, then
 *                  topic, partition, offset, timestamp, key, value, headers
 *   kafka/durable  per partition, the next offset that is on disk (fsynced);
 *                  rewritten by every `up`, mapped by every process that
 *                  uses this broker (producers wait on it before they call
 *                  a record acknowledged; workers before they commit)
 *   kafka/wake     a futex word every such process may bump: the journal
 *                  rests (its partitions paused) when nothing arrived for
 *                  JOURNAL_REST_MS, and wakes as soon as anyone finds a
 *                  record not yet durable (sb_durable_check), or after
 *                  JOURNAL_NAP_MS for records nobody waits for
 *
 * Writer (`up` only): a consumer reads every partition of Switchboard's
 * topics as records arrive, whoever produced them, appends them and
 * fdatasyncs in groups. On start an existing journal is replayed into the
 * fresh embedded broker, in order per partition, before anything else
 * connects; a torn tail (a record cut by a crash) is cut off. Each
 * partition keeps at most embedded.partition_max_bytes of records (record
 * bytes plus 64 per record): past it the partition is full, the records it
 * gets are not durable, and producers and workers are told so.
 *
 * Reader (any process): sb_durable_*, attached when c->brokers is the
 * embedded broker of c->data_dir's running `up`. */
#ifndef SB_JOURNAL_H
#define SB_JOURNAL_H

#include "sb_conf.h"
#include "sb_err.h"
#include "sb_kafka.h" /* rd_kafka_t, by name */

#include <stdint.h>

/* ---- the writer, in `up` ---------------------------------------------- */

typedef struct sb_journal_s sb_journal_t;

/* Before the embedded broker starts: with an existing journal, makes
 * c->partitions the journal's (a conflicting --partitions fails, naming
 * both). */
int sb_journal_prepare(sb_conf_t *c, sb_err_t *err);

/* Opens or creates the journal of c->data_dir, cuts a torn tail, replays
 * every record into the (empty) embedded broker at bootstraps, checks that
 * each partition's high watermark is the journal's, and starts journaling.
 * *out is the caller's: stop it with sb_journal_stop (accepts NULL). */
int sb_journal_start(const sb_conf_t *c, const char *bootstraps,
                     sb_journal_t **out, sb_err_t *err);
/* Journals what has arrived, stops the thread, frees. */
void sb_journal_stop(sb_journal_t *j);

/* CRC-32C (Castagnoli) of n bytes, continuing from crc (0 to start). */
uint32_t sb_crc32c(uint32_t crc, const void *buf, size_t n);
/* The same without the CPU's instruction (for the tests to compare). */
uint32_t sb__crc32c_table(uint32_t crc, const void *buf, size_t n);

/* ---- the readers, in any process -------------------------------------- */

typedef struct sb_durable_s sb_durable_t;

/* Attaches to the durable offsets of c->data_dir's `up` when c->brokers is
 * its embedded broker; *out stays NULL otherwise (real Kafka, or no such
 * `up`), which is not an error. Detach with sb_durable_detach (NULL ok). */
int sb_durable_attach(const sb_conf_t *c, sb_durable_t **out, sb_err_t *err);
void sb_durable_detach(sb_durable_t *d);

/* Index of a journaled topic, -1 for another. */
int sb_durable_topic(const char *topic);

/* Whether the record at offset of topic index ti, partition is durable:
 * 1 yes, 0 not yet, negative (err says why: partition full, journal
 * stopped) never will be. Records of topics not journaled are durable. */
int sb_durable_check(const sb_durable_t *d, int ti, int32_t partition,
                     int64_t offset, sb_err_t *err);

/* Waits up to timeout_ms until every record of topic[partition] before
 * next is durable. */
int sb_durable_wait(const sb_durable_t *d, const char *topic,
                    int32_t partition, int64_t next, int timeout_ms,
                    sb_err_t *err);

/* ---- which log ---------------------------------------------------------- */

/* The incarnation of the log c->brokers serve, as text stored beside
 * consumer offsets: "journal:<epoch>" for the embedded broker of
 * c->data_dir's `up` (the same across its restarts while its journal
 * lives), else "kafka:<cluster id>" (a mock cluster without journal has a
 * new id every start). rk: a client of c->brokers to ask, or NULL (one is
 * made for the question). */
int sb_log_epoch(const sb_conf_t *c, rd_kafka_t *rk, char *out, size_t cap,
                 sb_err_t *err);

/* ---- between sb_journal.c and sb_durable.c (internal) ------------------ */

/* Creates <dir>/durable (through a temporary file and rename) with every
 * partition's next durable offset from next[ntopics * nparts] and maps it
 * for writing. */
int sb__durable_create(const char *dir, const char *epoch,
                       const char *bootstraps, int nparts, int64_t bound,
                       const int64_t *next, sb_durable_t **out, sb_err_t *err);
void sb__durable_publish(sb_durable_t *d, int ti, int32_t partition,
                         int64_t next);
/* The partition is full from offset at on. */
void sb__durable_full(sb_durable_t *d, int ti, int32_t partition, int64_t at);
/* The journal stopped: every wait fails with reason from now on. */
void sb__durable_fail(sb_durable_t *d, const char *reason);
/* Resting (idle CPU): the journal says it rests (returns the demand count
 * seen before, for sleep), sleeps up to ms or until a waiter's demand
 * (1: woken by demand), says it is awake again; wake wakes it (stop). */
uint32_t sb__durable_rest(sb_durable_t *d);
int sb__durable_sleep(sb_durable_t *d, uint32_t seen, int ms);
void sb__durable_awake(sb_durable_t *d);
void sb__durable_wake(sb_durable_t *d);

#endif
