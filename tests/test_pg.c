/* Tests against the real PostgreSQL server of the fixture. Each test makes
 * its own throw-away database. */
#include "sb_conf.h"
#include "sb_migrate.h"
#include "sb_pg.h"
#include "sb_pgserver.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fixture server's URL for database db, as its superuser (the tests
 * create databases and run migrations). */
static int fixture_url(const char *db, char *url, size_t sz) {
  const char *dir = getenv("SB_TEST_PG_DIR");
  if (dir == NULL) {
    fprintf(stderr, "SB_TEST_PG_DIR is not set: run through ctest, which "
                    "starts the PostgreSQL fixture\n");
    return -1;
  }
  sb_conf_t c;
  sb_err_t err = SB_ERR_INIT;
  sb_conf_init(&c, NULL);
  sb_conf_set(&c, "data_dir", dir, SB_CO_FLAG, NULL, NULL);
  char base[512];
  int rc = sb_pgserver_owner_url(&c, base, sizeof base, &err);
  sb_conf_free(&c);
  if (rc != 0) {
    fprintf(stderr, "fixture: %s\n", err.msg);
    return -1;
  }
  /* swap the database name at the end of the URL */
  char *slash = strrchr(base, '/');
  *slash = '\0';
  snprintf(url, sz, "%s/%s", base, db);
  return 0;
}

static int admin_exec(const char *sql) {
  char url[600];
  sb_pg_t *pg = NULL;
  sb_err_t err = SB_ERR_INIT;
  if (fixture_url("postgres", url, sizeof url) != 0)
    return -1;
  int rc = sb_pg_connect(url, &pg, &err);
  if (rc == 0)
    rc = sb_pg_exec(pg, sql, 0, NULL, &err);
  if (rc != 0)
    fprintf(stderr, "fixture: %s\n", err.msg);
  sb_pg_close(pg);
  return rc;
}

int sbt_pg_create_db(char *url, size_t urlsz, char *name, size_t namesz) {
  char hex[17], sql[128];
  if (sb_random_hex(hex, sizeof hex, 8, NULL) != 0)
    return -1;
  snprintf(name, namesz, "sbt_%s", hex);
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
  if (admin_exec(sql) != 0)
    return -1;
  return fixture_url(name, url, urlsz);
}

void sbt_pg_drop_db(const char *name) {
  char sql[128];
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
  admin_exec(sql);
}

static int count_rows(sb_pg_t *pg, const char *sql) {
  char v[32];
  int found;
  if (sb_pg_query1(pg, sql, 0, NULL, v, sizeof v, &found, NULL, NULL) != 0 ||
      !found)
    return -1;
  return atoi(v); /* digits from count(*) */
}

int test_migrate_twice_applies_once(void) {
  char url[600], db[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  int applied = -1;
  CHECK_OK(sb_migrate(pg, sb_migrations, sb_migrations_n, &applied, &err), &err);
  CHECK_INT(applied, sb_migrations_n);
  CHECK_OK(sb_migrate(pg, sb_migrations, sb_migrations_n, &applied, &err), &err);
  CHECK_INT(applied, 0);
  CHECK_INT(count_rows(pg, "SELECT count(*) FROM sb_schema_migrations"),
            sb_migrations_n);
  /* the foundation's table exists and works */
  CHECK_OK(sb_pg_exec(pg,
                      "INSERT INTO sb.consumer_offsets (consumer_group, topic, "
                      "partition, next_offset) VALUES ('g', 'sb.leads', 0, 5)",
                      0, NULL, &err),
           &err);
  CHECK(sb_pg_exec(pg,
                   "INSERT INTO sb.consumer_offsets (consumer_group, topic, "
                   "partition, next_offset) VALUES ('g', 'sb.leads', 1, -1)",
                   0, NULL, &err) != 0);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

int test_migrate_changed_is_refused(void) {
  char url[600], db[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  const sb_migration_t v1[] = {{1, "0001_t", "CREATE TABLE t (a int)"}};
  const sb_migration_t v1b[] = {{1, "0001_t", "CREATE TABLE t (a bigint)"}};
  CHECK_OK(sb_migrate(pg, v1, 1, NULL, &err), &err);
  CHECK_INT(sb_migrate(pg, v1b, 1, NULL, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "0001_t was changed after it was applied");
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

int test_migrate_unknown_newer_is_refused(void) {
  char url[600], db[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  const sb_migration_t two[] = {{1, "0001_a", "CREATE TABLE a (x int)"},
                                {2, "0002_b", "CREATE TABLE b (x int)"}};
  CHECK_OK(sb_migrate(pg, two, 2, NULL, &err), &err);
  CHECK_INT(sb_migrate(pg, two, 1, NULL, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "0002_b");
  CHECK_HAS(err.msg, "newer switchboard");
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

typedef struct {
  const char *url;
  int applied;
  int rc;
  char msg[SB_ERR_MSG_MAX];
} migrator_t;

static void *migrator(void *arg) {
  migrator_t *m = arg;
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  static const sb_migration_t list[] = {
      {1, "0001_a", "CREATE TABLE a (x int); SELECT pg_sleep(0.2)"},
      {2, "0002_b", "CREATE TABLE b (x int); INSERT INTO b VALUES (1)"},
      {3, "0003_c", "INSERT INTO b VALUES (2)"}};
  m->rc = sb_pg_connect(m->url, &pg, &err);
  if (m->rc == 0)
    m->rc = sb_migrate(pg, list, 3, &m->applied, &err);
  snprintf(m->msg, sizeof m->msg, "%s", err.msg);
  sb_pg_close(pg);
  return NULL;
}

int test_migrate_concurrent(void) {
  char url[600], db[64];
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  migrator_t m[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    memset(&m[i], 0, sizeof m[i]);
    m[i].url = url;
    CHECK(pthread_create(&th[i], NULL, migrator, &m[i]) == 0);
  }
  int total = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    if (m[i].rc != 0)
      fprintf(stderr, "migrator %d: %s\n", i, m[i].msg);
    CHECK_INT(m[i].rc, 0);
    total += m[i].applied;
  }
  CHECK_INT(total, 3); /* each migration applied by exactly one of them */
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  CHECK_INT(count_rows(pg, "SELECT count(*) FROM b"), 2);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

int test_migrate_failure_rolls_back(void) {
  char url[600], db[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  const sb_migration_t list[] = {
      {1, "0001_ok", "CREATE TABLE ok (x int)"},
      {2, "0002_broken", "CREATE TABLE half (x int); SELECT no_such_fn()"}};
  CHECK_INT(sb_migrate(pg, list, 2, NULL, &err), SB_EPG);
  CHECK_HAS(err.msg, "migration 0002_broken: ");
  CHECK_HAS(err.msg, "no_such_fn");
  CHECK_HAS(err.msg, "SQLSTATE 42883");
  /* the first stays applied; nothing of the second remains */
  CHECK_INT(count_rows(pg, "SELECT count(*) FROM sb_schema_migrations"), 1);
  CHECK_INT(count_rows(pg, "SELECT count(*) FROM pg_tables WHERE tablename = "
                           "'half'"),
            0);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

int test_pg_errors_are_translated(void) {
  char url[600], db[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  CHECK_INT(sb_pg_exec(pg, "SELEC 1", 0, NULL, &err), SB_EPG);
  CHECK_HAS(err.msg, "SQLSTATE 42601");
  /* the SQLSTATE is a field: decisions never parse the message */
  CHECK_STR(err.sqlstate, "42601");
  CHECK(sb_err_sqlstate_is(&err, "42"));
  CHECK(!sb_err_sqlstate_is(&err, "23"));
  CHECK(!err.retriable);
  CHECK(strchr(err.msg, '\n') == NULL);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);

  /* a wrong password: the error names the server but not the password */
  char bad[700];
  char *at = strchr(url, '@');
  CHECK(at != NULL);
  snprintf(bad, sizeof bad, "postgresql://switchboard:wrongpass%s", at);
  sb_err_clear(&err);
  CHECK_INT(sb_pg_connect(bad, &pg, &err), SB_EUNAVAIL);
  CHECK(pg == NULL);
  CHECK_HAS(err.msg, "password authentication failed");
  CHECK(strstr(err.msg, "wrongpass") == NULL);
  CHECK(strchr(err.msg, '\n') == NULL);
  return 0;
}
