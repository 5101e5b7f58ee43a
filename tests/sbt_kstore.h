/* Helpers for the tests of keyed state and timers (test_kstate.c,
 * test_timers.c): a migrated throw-away database on the fixture's
 * PostgreSQL, and the batch ends and assignments the pipeline drives them
 * through, in transactions as switchboard_app (the grants are part of what
 * is tested). */
#ifndef SBT_KSTORE_H
#define SBT_KSTORE_H

#include "sb_err.h"
#include "sb_kstate.h"
#include "sb_pg.h"
#include "sb_timers.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sbt_kdb_s {
  char url[600], db[64];
  sb_pg_t *pg; /* as the database's owner */
} sbt_kdb_t;

/* Creates and migrates a database and connects to it; 0 or -1 (said on
 * stderr). Close with sbt_kdb_close, which drops it. */
int sbt_kdb_open(sbt_kdb_t *d);
void sbt_kdb_close(sbt_kdb_t *d);

/* BEGIN, then SET LOCAL ROLE switchboard_app. */
int sbt_begin_app(sb_pg_t *pg, sb_err_t *err);
/* The first column of the first row of sql as a number, or -1. */
long long sbt_scalar(sb_pg_t *pg, const char *sql);

/* A batch's end, as the pipeline's: flush ks and t (either may be NULL) in
 * one transaction, COMMIT, then committed; on failure roll back and
 * abort. */
int sbt_kstore_commit(sb_kstate_t *ks, sb_timers_t *t, sb_pg_t *pg,
                      sb_err_t *err);
/* An assignment: load topic's partitions (n) into ks and t (either may be
 * NULL) in a transaction that reads and rolls back. */
int sbt_kstore_load(sb_kstate_t *ks, sb_timers_t *t, sb_pg_t *pg,
                    const char *topic, const int32_t *parts, size_t n,
                    sb_err_t *err);

#endif
