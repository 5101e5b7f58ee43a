/* Schema migrations: the files sql/NNNN_name.sql, compiled into the binary,
 * applied in order, each once, each in its own transaction, recorded with
 * its SHA-256 in sb_schema_migrations. Concurrent migrators serialise on an
 * advisory lock. A recorded migration whose text changed, or one this binary
 * does not know, stops the run: the database and the binary disagree. */
#ifndef SB_MIGRATE_H
#define SB_MIGRATE_H

#include "sb_err.h"
#include "sb_pg.h"

#include <stddef.h>

typedef struct sb_migration_s {
  int version;
  const char *name; /* "0001_foundation" */
  const char *sql;
} sb_migration_t;

/* The migrations compiled in, ordered by version. */
extern const sb_migration_t sb_migrations[];
extern const size_t sb_migrations_n;

/* Applies the migrations in m[0..n) that are not yet recorded; *applied
 * (may be NULL) counts those applied by this call. */
int sb_migrate(sb_pg_t *pg, const sb_migration_t *m, size_t n, int *applied,
               sb_err_t *err);

/* Checks a migration list: versions strictly increasing and positive. */
int sb_migrations_check(const sb_migration_t *m, size_t n, sb_err_t *err);

#endif
