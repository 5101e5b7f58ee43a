#include "sb_migrate.h"

#include "sb_log.h"
#include "sb_util.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* Any constant works; it only has to be the same in every process. */
#define MIGRATE_LOCK_KEY "7311530117"

int sb_migrations_check(const sb_migration_t *m, size_t n, sb_err_t *err) {
  for (size_t i = 0; i < n; i++) {
    if (m[i].version <= 0)
      return sb_err_set(err, SB_EINVAL, "migration %s: version must be > 0",
                        m[i].name);
    if (i > 0 && m[i].version <= m[i - 1].version)
      return sb_err_set(err, SB_EINVAL,
                        "migration %s: version %d does not follow %s",
                        m[i].name, m[i].version, m[i - 1].name);
  }
  return 0;
}

static const char bootstrap_sql[] =
    "CREATE TABLE IF NOT EXISTS sb_schema_migrations ("
    "  version    integer PRIMARY KEY,"
    "  name       text NOT NULL,"
    "  sha256     text NOT NULL,"
    "  applied_at timestamptz NOT NULL DEFAULT now())";

static int apply_one(sb_pg_t *pg, const sb_migration_t *m, int *did,
                     sb_err_t *err) {
  char sum[65], have[80], ver[16];
  int found = 0;
  *did = 0;
  if (sb_sha256_hex(m->sql, sum, err) != 0)
    return err->code;
  snprintf(ver, sizeof ver, "%d", m->version);
  if (sb_pg_exec(pg, "BEGIN", 0, NULL, err) != 0)
    return err->code;
  int rc = sb_pg_exec(pg, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")",
                      0, NULL, err);
  if (rc == 0)
    rc = sb_pg_query1(pg,
                      "SELECT sha256 FROM sb_schema_migrations WHERE version = "
                      "$1",
                      1, (const char *const[]){ver}, have, sizeof have, &found,
                      NULL, err);
  if (rc == 0 && found && strcmp(have, sum) != 0)
    rc = sb_err_set(err, SB_ESTATE,
                    "migration %s was changed after it was applied (recorded "
                    "sha256 %.12s..., now %.12s...): add a new migration "
                    "instead of editing a released one",
                    m->name, have, sum);
  if (rc == 0 && !found) {
    rc = sb_pg_exec(pg, m->sql, 0, NULL, err);
    if (rc != 0 && sb_err_sqlstate_is(err, "42501"))
      sb_err_prefix(err, "migration %s is not applied and this login may not "
                         "apply it (run `switchboard migrate` with the "
                         "database owner's URL): ",
                    m->name);
    else if (rc != 0)
      sb_err_prefix(err, "migration %s: ", m->name);
  }
  if (rc == 0 && !found)
    rc = sb_pg_exec(pg,
                    "INSERT INTO sb_schema_migrations (version, name, sha256) "
                    "VALUES ($1, $2, $3)",
                    3, (const char *const[]){ver, m->name, sum}, err);
  if (rc == 0)
    rc = sb_pg_exec(pg, "COMMIT", 0, NULL, err);
  if (rc != 0) {
    sb_pg_exec(pg, "ROLLBACK", 0, NULL, NULL);
    return rc;
  }
  *did = !found;
  if (!found)
    sb_log(SB_LOG_INFO, "migrate", "applied migration",
           SB_F_STR("name", m->name), SB_F_END);
  return 0;
}

int sb_migrate(sb_pg_t *pg, const sb_migration_t *m, size_t n, int *applied,
               sb_err_t *err) {
  int count = 0;
  if (applied)
    *applied = 0;
  if (sb_migrations_check(m, n, err) != 0)
    return err->code;
  /* CREATE TABLE IF NOT EXISTS races with itself; the lock orders it.
   * Where the table exists it is not run at all: the application role,
   * which may create nothing, checks an up-to-date database too. */
  char exists[8] = "";
  int found = 0;
  int rc = sb_pg_exec(pg, "BEGIN", 0, NULL, err);
  if (rc == 0)
    rc = sb_pg_exec(pg, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")",
                    0, NULL, err);
  if (rc == 0)
    rc = sb_pg_query1(pg, "SELECT to_regclass('sb_schema_migrations') IS NOT "
                          "NULL",
                      0, NULL, exists, sizeof exists, &found, NULL, err);
  if (rc == 0 && strcmp(exists, "t") != 0) {
    rc = sb_pg_exec(pg, bootstrap_sql, 0, NULL, err);
    if (rc != 0 && sb_err_sqlstate_is(err, "42501"))
      sb_err_prefix(err, "the database has no migrations yet and this login "
                         "may not apply them (run `switchboard migrate` "
                         "with the database owner's URL): ");
  }
  if (rc == 0)
    rc = sb_pg_exec(pg, "COMMIT", 0, NULL, err);
  if (rc != 0) {
    sb_pg_exec(pg, "ROLLBACK", 0, NULL, NULL);
    return rc;
  }
  char newest[16], row[16];
  snprintf(newest, sizeof newest, "%d", n > 0 ? m[n - 1].version : 0);
  rc = sb_pg_query1(pg,
                    "SELECT name FROM sb_schema_migrations WHERE version > $1 "
                    "ORDER BY version LIMIT 1",
                    1, (const char *const[]){newest}, row, sizeof row, &found,
                    NULL, err);
  if (rc != 0)
    return rc;
  if (found)
    return sb_err_set(err, SB_ESTATE,
                      "the database has migration %s, which this switchboard "
                      "does not know: run a newer switchboard",
                      row);
  for (size_t i = 0; i < n; i++) {
    int did;
    if ((rc = apply_one(pg, &m[i], &did, err)) != 0)
      return rc;
    count += did;
  }
  if (applied)
    *applied = count;
  return 0;
}
