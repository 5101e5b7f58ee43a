/* Projection migrations and row-level security by construction
 * (sb_projection) against the fixture's PostgreSQL. */
#include "sb_migrate.h"
#include "sb_pg.h"
#include "sb_projection.h"
#include "sb_rows.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <stdlib.h>
#include <string.h>

static int q1(sb_pg_t *pg, const char *sql, char *out, size_t n) {
  int found = 0, isnull = 0;
  sb_err_t err = SB_ERR_INIT;
  if (sb_pg_query1(pg, sql, 0, NULL, out, n, &found, &isnull, &err) != 0) {
    snprintf(out, n, "error %s", err.sqlstate);
    return 0;
  }
  if (!found || isnull)
    snprintf(out, n, "%s", found ? "<null>" : "<none>");
  return 0;
}

/* A migrated database, as its owner. */
static int setup(char *url, size_t urlsz, char *db, size_t dbsz, sb_pg_t **pg) {
  sb_err_t err = SB_ERR_INIT;
  CHECK(sbt_pg_create_db(url, urlsz, db, dbsz) == 0);
  CHECK_OK(sb_pg_connect(url, pg, &err), &err);
  CHECK_OK(sb_migrate(*pg, sb_migrations, sb_migrations_n, NULL, &err), &err);
  return 0;
}

/* migrate in a transaction of its own; the rollback on failure is the
 * caller's, as in the pipeline */
static int migrate(sb_pg_t *pg, const char *proc, const char *schema,
                   const sb_proj_step_t *steps, int *applied, sb_err_t *err) {
  sb_err_clear(err);
  int rc = sb_pg_exec(pg, "BEGIN", 0, NULL, err);
  if (rc == 0)
    rc = sb_projection_migrate(pg, proc, schema, steps, applied, err);
  if (rc == 0)
    rc = sb_pg_exec(pg, "COMMIT", 0, NULL, err);
  if (rc != 0)
    sb_pg_exec(pg, "ROLLBACK", 0, NULL, NULL);
  return rc;
}

#define STEP1                                                                  \
  {                                                                            \
    1, "CREATE TABLE {schema}.a (tenant_id text NOT NULL, x integer); "        \
       "GRANT SELECT, INSERT ON {schema}.a TO switchboard_app"                 \
  }
#define STEP2                                                                  \
  {                                                                            \
    2, "CREATE TABLE {schema}.b (tenant_id text NOT NULL, k text, "            \
       "PRIMARY KEY (tenant_id, k))"                                           \
  }
#define STEP3                                                                  \
  { 3, "ALTER TABLE {schema}.a ADD COLUMN y integer" }

int test_projection_migrate_once_and_resume(void) {
  char url[600], db[64], got[256];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  if (setup(url, sizeof url, db, sizeof db, &pg) != 0)
    return 1;
  const sb_proj_step_t v1[] = {STEP1, STEP2, {0}};
  int applied = -1;
  CHECK_OK(migrate(pg, "proc", "proc", v1, &applied, &err), &err);
  CHECK_INT(applied, 2);
  CHECK_OK(migrate(pg, "proc", "proc", v1, &applied, &err), &err);
  CHECK_INT(applied, 0);
  CHECK(q1(pg,
           "SELECT string_agg(schema_name || ':' || version || ':' || "
           "processor, ' ' ORDER BY version) FROM sb.projection_steps",
           got, sizeof got) == 0);
  CHECK_STR(got, "proc:1:proc proc:2:proc");
  /* a run that fails at step 4 leaves nothing of steps 3 and 4 */
  const sb_proj_step_t bad[] = {
      STEP1,
      STEP2,
      STEP3,
      {4, "CREATE TABLE {schema}.c (tenant_id text); SELECT 1 / 0"},
      {0}};
  CHECK_INT(migrate(pg, "proc", "proc", bad, &applied, &err), SB_EPG);
  CHECK_HAS(err.msg, "processor proc: step 4 of its projection in proc: ");
  CHECK_HAS(err.msg, "division by zero");
  CHECK_STR(err.sqlstate, "22012");
  CHECK(q1(pg, "SELECT count(*) FROM sb.projection_steps", got, sizeof got) ==
        0);
  CHECK_STR(got, "2");
  CHECK(q1(pg,
           "SELECT count(*) FROM information_schema.columns WHERE "
           "table_schema = 'proc' AND column_name = 'y'",
           got, sizeof got) == 0);
  CHECK_STR(got, "0");
  /* the next run resumes after step 2 */
  const sb_proj_step_t v4[] = {
      STEP1,
      STEP2,
      STEP3,
      {4, "CREATE TABLE {schema}.c (tenant_id text, n bigint)"},
      {0}};
  CHECK_OK(migrate(pg, "proc", "proc", v4, &applied, &err), &err);
  CHECK_INT(applied, 2);
  CHECK(q1(pg,
           "SELECT string_agg(version::text, ',' ORDER BY version) FROM "
           "sb.projection_steps",
           got, sizeof got) == 0);
  CHECK_STR(got, "1,2,3,4");
  /* each schema has its own record: a replay's generation beside the live
   * one; renamed (a swap), it keeps its record */
  CHECK_OK(migrate(pg, "proc", "proc_gen_2", v4, &applied, &err), &err);
  CHECK_INT(applied, 4);
  CHECK_OK(sb_pg_exec(pg,
                      "ALTER SCHEMA proc RENAME TO proc_old; ALTER "
                      "SCHEMA proc_gen_2 RENAME TO proc; DROP SCHEMA "
                      "proc_old CASCADE",
                      0, NULL, &err),
           &err);
  CHECK_OK(migrate(pg, "proc", "proc", v4, &applied, &err), &err);
  CHECK_INT(applied, 0);
  /* the dropped schema's records go at the next schema made */
  CHECK_OK(migrate(pg, "proc", "proc_gen_3", v1, &applied, &err), &err);
  CHECK(q1(pg, "SELECT count(*) FROM sb.projection_steps", got, sizeof got) ==
        0);
  CHECK_STR(got, "6");
  /* the tables are readers' by row-level security, the app's by the
   * steps' grants */
  CHECK_OK(sb_projection_check_rls(pg, "proc", &err), &err);
  CHECK(q1(pg,
           "SELECT has_schema_privilege('switchboard_app', 'proc', "
           "'USAGE') AND has_table_privilege('switchboard_app', 'proc.a', "
           "'INSERT')",
           got, sizeof got) == 0);
  CHECK_STR(got, "t");
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

int test_projection_refusals(void) {
  char url[600], db[64], got[256];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  int applied = 0;
  if (setup(url, sizeof url, db, sizeof db, &pg) != 0)
    return 1;
  const sb_proj_step_t v2[] = {STEP1, STEP2, {0}};
  CHECK_OK(migrate(pg, "proc", "proc", v2, &applied, &err), &err);
  /* a step changed after it was applied */
  const sb_proj_step_t changed[] = {
      STEP1,
      {2, "CREATE TABLE {schema}.b (tenant_id text NOT NULL, k text)"},
      STEP3,
      {0}};
  CHECK_INT(migrate(pg, "proc", "proc", changed, &applied, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "processor proc: step 2 of its projection in proc was "
                     "changed after it was applied");
  /* a schema a newer binary built */
  const sb_proj_step_t v1[] = {STEP1, {0}};
  CHECK_INT(migrate(pg, "proc", "proc", v1, &applied, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "processor proc: its projection in proc has step 2, "
                     "which this switchboard does not know");
  CHECK_HAS(err.msg, "built by a newer switchboard");
  /* a step removed from the list */
  const sb_proj_step_t gap[] = {STEP1, STEP3, {0}};
  CHECK_INT(migrate(pg, "proc", "proc", gap, &applied, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "has step 2, which this switchboard does not list");
  /* another processor's schema */
  CHECK_INT(migrate(pg, "other", "proc", v2, &applied, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "schema proc holds the projection of processor proc");
  /* a table without tenant_id: refused, named, nothing left */
  const sb_proj_step_t lacks[] = {
      STEP1, {2, "CREATE TABLE {schema}.lacks (id integer)"}, {0}};
  CHECK_INT(migrate(pg, "nt", "nt", lacks, &applied, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "processor nt: after step 2 of its projection, table "
                     "nt.lacks has no tenant_id column");
  CHECK(q1(pg, "SELECT to_regnamespace('nt') IS NULL", got, sizeof got) == 0);
  CHECK_STR(got, "t");
  /* steps out of order, names that are not names */
  const sb_proj_step_t order[] = {STEP2, STEP1, {0}};
  CHECK_INT(migrate(pg, "proc", "proc", order, &applied, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "projection step 1 must be > 0 and follow step 2");
  CHECK_INT(migrate(pg, "proc", "pro c", v2, &applied, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "schema name 'pro c'");
  /* the application role runs no DDL: an up-to-date projection passes, a
   * missing step names the owner */
  CHECK_OK(sb_pg_exec(pg, "SET SESSION AUTHORIZATION switchboard_app", 0, NULL,
                      &err),
           &err);
  CHECK_OK(migrate(pg, "proc", "proc", v2, &applied, &err), &err);
  CHECK_INT(applied, 0);
  const sb_proj_step_t v3[] = {STEP1, STEP2, STEP3, {0}};
  CHECK_INT(migrate(pg, "proc", "proc", v3, &applied, &err), SB_EPG);
  CHECK_STR(err.sqlstate, "42501");
  CHECK_HAS(err.msg, "processor proc: step 3 of its projection in proc needs "
                     "the database owner (run `switchboard migrate` with the "
                     "owner's URL; the application role runs no DDL)");
  CHECK_INT(migrate(pg, "fresh", "fresh", v2, &applied, &err), SB_EPG);
  CHECK_STR(err.sqlstate, "42501");
  CHECK_HAS(err.msg, "processor fresh: creating its projection in fresh "
                     "needs the database owner");
  CHECK_OK(sb_pg_exec(pg, "RESET SESSION AUTHORIZATION", 0, NULL, &err), &err);
  CHECK_OK(migrate(pg, "proc", "proc", v3, &applied, &err), &err);
  CHECK_INT(applied, 1);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

/* Runs sql as login (a member of switchboard_reader), then as the owner
 * again; out gets the first column or "error SQLSTATE". */
static int as_login(sb_pg_t *pg, const char *login, const char *sql, char *out,
                    size_t n) {
  char set[160];
  sb_err_t err = SB_ERR_INIT;
  snprintf(set, sizeof set, "SET SESSION AUTHORIZATION %s", login);
  CHECK_OK(sb_pg_exec(pg, set, 0, NULL, &err), &err);
  q1(pg, sql, out, n);
  CHECK_OK(sb_pg_exec(pg, "RESET SESSION AUTHORIZATION", 0, NULL, &err), &err);
  return 0;
}

int test_projection_rls_reader(void) {
  char url[600], db[64], got[256], sql[1024];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  if (setup(url, sizeof url, db, sizeof db, &pg) != 0)
    return 1;
  const sb_proj_step_t steps[] = {
      {1, "CREATE TABLE {schema}.t (tenant_id text NOT NULL, v integer); "
          "GRANT SELECT, INSERT ON {schema}.t TO switchboard_app"},
      {2, "CREATE TABLE {schema}.p (tenant_id text NOT NULL, at date) "
          "PARTITION BY RANGE (at); CREATE TABLE {schema}.p_all PARTITION OF "
          "{schema}.p FOR VALUES FROM ('2000-01-01') TO ('3000-01-01')"},
      {0}};
  int applied = 0;
  CHECK_OK(migrate(pg, "proc", "proc", steps, &applied, &err), &err);
  /* rows of two tenants, through a writer */
  static const sb_col_t cols[] = {
      {"tenant_id", SB_COL_TEXT, 0}, {"v", SB_COL_INT4, 0}, {0}};
  static const sb_col_t pcols[] = {
      {"tenant_id", SB_COL_TEXT, 0}, {"at", SB_COL_DATE, 0}, {0}};
  const sb_table_def_t tdef = {.name = "t", .cols = cols, .key = NULL},
                       pdef = {.name = "p", .cols = pcols, .key = NULL};
  sb_rows_t *w = NULL, *pw = NULL;
  CHECK_OK(sb_rows_new(&tdef, "proc", 0, &w, &err), &err);
  CHECK_OK(sb_rows_new(&pdef, "proc", 0, &pw, &err), &err);
  const char *tenants[] = {"acme", "acme", "acme", "globex", "globex"};
  for (int i = 0; i < 5; i++) {
    sb_val_t row[] = {SB_V_TEXT(tenants[i]), SB_V_INT4(i)};
    sb_val_t prow[] = {SB_V_TEXT(tenants[i]), SB_V_DATE(11000 + i)};
    CHECK_OK(sb_rows_append(w, row, &err), &err);
    CHECK_OK(sb_rows_append(pw, prow, &err), &err);
  }
  CHECK_OK(sb_rows_flush(w, pg, &err), &err);
  CHECK_OK(sb_rows_flush(pw, pg, &err), &err);
  sb_rows_free(w);
  sb_rows_free(pw);
  /* dashboard logins: members of the reader role mapped to a tenant, and
   * one that is not mapped */
  char acme[80], globex[80], stray[80];
  snprintf(acme, sizeof acme, "%s_acme", db);
  snprintf(globex, sizeof globex, "%s_globex", db);
  snprintf(stray, sizeof stray, "%s_stray", db);
  snprintf(sql, sizeof sql,
           "CREATE ROLE %s LOGIN IN ROLE switchboard_reader; CREATE ROLE %s "
           "LOGIN IN ROLE switchboard_reader; CREATE ROLE %s LOGIN IN ROLE "
           "switchboard_reader; INSERT INTO sb.reader_logins VALUES ('%s', "
           "'acme'), ('%s', 'globex')",
           acme, globex, stray, acme, globex);
  CHECK_OK(sb_pg_exec(pg, sql, 0, NULL, &err), &err);
  int rc = 0;
#define READS(login, q, want)                                                  \
  do {                                                                         \
    if (as_login(pg, login, q, got, sizeof got) != 0 ||                        \
        strcmp(got, want) != 0) {                                              \
      fprintf(stderr, "%s:%d: as %s, %s gave \"%s\", want \"%s\"\n", __FILE__, \
              __LINE__, login, q, got, want);                                  \
      rc = 1;                                                                  \
      goto out;                                                                \
    }                                                                          \
  } while (0)
  READS(acme,
        "SELECT count(*) || ' ' || string_agg(DISTINCT tenant_id, ',') "
        "FROM proc.t",
        "3 acme");
  READS(acme, "SELECT count(*) FROM proc.t WHERE tenant_id = 'globex'", "0");
  READS(acme, "SELECT count(*) FROM proc.p", "3");
  READS(globex,
        "SELECT count(*) || ' ' || string_agg(DISTINCT tenant_id, "
        "',') FROM proc.t",
        "2 globex");
  READS(stray, "SELECT count(*) FROM proc.t", "0");
  /* readers write nothing and reach no partition directly */
  READS(acme, "INSERT INTO proc.t VALUES ('acme', 9) RETURNING 1",
        "error 42501");
  READS(acme, "SELECT count(*) FROM proc.p_all", "error 42501");
  CHECK_OK(sb_projection_check_rls(pg, "proc", &err), &err);
  /* the check finds each way of breaking it, naming the table */
  static const struct {
    const char *breaks, *mends, *why;
  } cases[] = {
      {"ALTER TABLE proc.t DISABLE ROW LEVEL SECURITY",
       "ALTER TABLE proc.t ENABLE ROW LEVEL SECURITY",
       "table proc.t has no row-level security"},
      {"DROP POLICY reader_tenant ON proc.t",
       "SELECT sb.protect_projection('proc')",
       "table proc.t has no policy binding switchboard_reader by tenant_id"},
      {"GRANT UPDATE ON proc.p TO switchboard_reader",
       "REVOKE UPDATE ON proc.p FROM switchboard_reader",
       "table proc.p may be written by switchboard_reader"},
      {"GRANT SELECT ON proc.p_all TO switchboard_reader",
       "REVOKE SELECT ON proc.p_all FROM switchboard_reader",
       "table proc.p_all is a partition that readers may select directly"},
      {"CREATE VIEW proc.v AS SELECT * FROM proc.t; GRANT SELECT ON proc.v "
       "TO switchboard_reader",
       "DROP VIEW proc.v",
       "table proc.v is a relation (kind v) that readers may select"},
      {"CREATE TABLE proc.lacks (id int)", "DROP TABLE proc.lacks",
       "table proc.lacks has no tenant_id column"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CHECK_OK(sb_pg_exec(pg, cases[i].breaks, 0, NULL, &err), &err);
    CHECK_INT(sb_projection_check_rls(pg, "proc", &err), SB_ESTATE);
    CHECK_HAS(err.msg, cases[i].why);
    sb_err_clear(&err);
    CHECK_OK(sb_pg_exec(pg, cases[i].mends, 0, NULL, &err), &err);
    CHECK_OK(sb_projection_check_rls(pg, "proc", &err), &err);
  }
  /* a view readers cannot select is not theirs to worry about */
  CHECK_OK(sb_pg_exec(pg, "CREATE VIEW proc.inner_v AS SELECT 1 AS one", 0,
                      NULL, &err),
           &err);
  CHECK_OK(sb_projection_check_rls(pg, "proc", &err), &err);
  CHECK_INT(sb_projection_check_rls(pg, "nothere", &err), SB_ENOENT);
out:
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  /* logins are the cluster's: dropped from another database */
  char admin[640];
  snprintf(admin, sizeof admin, "%s", url);
  char *slash = strrchr(admin, '/');
  if (slash != NULL) {
    snprintf(slash + 1, sizeof admin - (size_t)(slash + 1 - admin), "postgres");
    sb_pg_t *ad = NULL;
    sb_err_t e2 = SB_ERR_INIT;
    snprintf(sql, sizeof sql, "DROP ROLE IF EXISTS %s, %s, %s", acme, globex,
             stray);
    if (sb_pg_connect(admin, &ad, &e2) != 0 ||
        sb_pg_exec(ad, sql, 0, NULL, &e2) != 0)
      fprintf(stderr, "dropping the test logins: %s\n", e2.msg);
    sb_pg_close(ad);
  }
  return rc;
}
