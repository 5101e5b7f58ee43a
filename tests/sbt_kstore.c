/* Helpers for the tests of keyed state and timers: see sbt_kstore.h. */
#include "sbt_kstore.h"

#include "sb_migrate.h"
#include "sb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sbt_kdb_open(sbt_kdb_t *d) {
  sb_err_t err = SB_ERR_INIT;
  memset(d, 0, sizeof *d);
  if (sbt_pg_create_db(d->url, sizeof d->url, d->db, sizeof d->db) != 0)
    return -1;
  if (sb_pg_connect(d->url, &d->pg, &err) != 0 ||
      sb_migrate(d->pg, sb_migrations, sb_migrations_n, NULL, &err) != 0) {
    fprintf(stderr, "database %s: %s\n", d->db, err.msg);
    sbt_kdb_close(d);
    return -1;
  }
  return 0;
}

void sbt_kdb_close(sbt_kdb_t *d) {
  sb_pg_close(d->pg);
  d->pg = NULL;
  sbt_pg_drop_db(d->db);
}

int sbt_begin_app(sb_pg_t *pg, sb_err_t *err) {
  if (sb_pg_exec(pg, "BEGIN", 0, NULL, err) != 0)
    return err->code;
  return sb_pg_exec(pg, "SET LOCAL ROLE switchboard_app", 0, NULL, err);
}

long long sbt_scalar(sb_pg_t *pg, const char *sql) {
  char v[64];
  int found = 0;
  if (sb_pg_query1(pg, sql, 0, NULL, v, sizeof v, &found, NULL, NULL) != 0 ||
      !found)
    return -1;
  return strtoll(v, NULL, 10);
}

int sbt_kstore_commit(sb_kstate_t *ks, sb_timers_t *t, sb_pg_t *pg,
                      sb_err_t *err) {
  if (sbt_begin_app(pg, err) != 0 ||
      (ks != NULL && sb_kstate_flush(ks, pg, err) != 0) ||
      (t != NULL && sb_timers_flush(t, pg, err) != 0) ||
      sb_pg_exec(pg, "COMMIT", 0, NULL, err) != 0) {
    sb_pg_rollback(pg);
    if (ks != NULL)
      sb_kstate_abort(ks);
    if (t != NULL)
      sb_timers_abort(t);
    return err->code;
  }
  if (ks != NULL)
    sb_kstate_committed(ks);
  if (t != NULL)
    sb_timers_committed(t);
  return 0;
}

int sbt_kstore_load(sb_kstate_t *ks, sb_timers_t *t, sb_pg_t *pg,
                    const char *topic, const int32_t *parts, size_t n,
                    sb_err_t *err) {
  int rc = sbt_begin_app(pg, err);
  if (rc == 0 && ks != NULL)
    rc = sb_kstate_load(ks, pg, topic, parts, n, err);
  if (rc == 0 && t != NULL)
    rc = sb_timers_load(t, pg, topic, parts, n, err);
  sb_pg_rollback(pg); /* a read: nothing to commit */
  return rc;
}
