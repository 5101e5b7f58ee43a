/* The table writer (sb_rows) against the fixture's PostgreSQL: binary COPY
 * and the upserts' arrays give back every value as written; merges, deletes,
 * sorted keys, the byte budget and the refusals. */
#include "sb_pg.h"
#include "sb_rows.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int q1(sb_pg_t *pg, const char *sql, char *out, size_t n) {
  int found = 0, isnull = 0;
  sb_err_t err = SB_ERR_INIT;
  if (sb_pg_query1(pg, sql, 0, NULL, out, n, &found, &isnull, &err) != 0) {
    fprintf(stderr, "%s: %s\n", sql, err.msg);
    return -1;
  }
  if (!found || isnull)
    snprintf(out, n, "%s", found ? "<null>" : "<none>");
  return 0;
}

/* ---- every type, both ways ------------------------------------------- */

static const sb_col_t every_cols[] = {
    {"tenant_id", SB_COL_TEXT, 0}, {"id", SB_COL_INT4, 0},
    {"t", SB_COL_TEXT, 0},         {"i8", SB_COL_INT8, 0},
    {"i4", SB_COL_INT4, 0},        {"b", SB_COL_BOOL, 0},
    {"f", SB_COL_FLOAT8, 0},       {"ts", SB_COL_TIMESTAMPTZ, 0},
    {"d", SB_COL_DATE, 0},         {"by", SB_COL_BYTEA, 0},
    {"j", SB_COL_JSONB, 0},        {0}};
static const char *const every_key[] = {"tenant_id", "id", NULL};

static const char every_ddl[] =
    "(tenant_id text NOT NULL, id integer, t text, i8 bigint, i4 integer, "
    "b boolean, f double precision, ts timestamptz, d date, \"by\" bytea, "
    "j jsonb, PRIMARY KEY (tenant_id, id))";

#define NROWS 7
static const char tricky[] = "it's \"quoted\" \\ back\\slash, {braces} NULL "
                             "\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac "
                             "\xf0\x9f\x8e\x89\ttab\nnewline";

static void every_rows(sb_val_t rows[NROWS][11]) {
  static const unsigned char bytes1[] = {0x00, 0xff, '\\', '"', ','};
  static const unsigned char bytes4[] = {0x01};
  sb_val_t r[NROWS][11] = {
      {SB_V_TEXT("acme"), SB_V_INT4(1), SB_V_TEXT(tricky), SB_V_INT8(INT64_MIN),
       SB_V_INT4(INT32_MIN), SB_V_BOOL(0), SB_V_FLOAT8(-1.5),
       SB_V_TIMESTAMPTZ(-1), SB_V_DATE(-1), SB_V_BYTEA(bytes1, sizeof bytes1),
       SB_V_JSONB("{\"b\": null, \"a\": [1, \"x\\\"y\"]}")},
      {SB_V_TEXT("acme"), SB_V_INT4(2), SB_V_NULL, SB_V_NULL, SB_V_NULL,
       SB_V_NULL, SB_V_NULL, SB_V_NULL, SB_V_NULL, SB_V_NULL, SB_V_NULL},
      {SB_V_TEXT("acme"), SB_V_INT4(3), SB_V_TEXT(""), SB_V_INT8(INT64_MAX),
       SB_V_INT4(INT32_MAX), SB_V_BOOL(1), SB_V_FLOAT8(1e-300),
       SB_V_TIMESTAMPTZ(0), SB_V_DATE(-25567), SB_V_BYTEA(bytes1, 0),
       SB_V_JSONB("[]")},
      {SB_V_TEXT("acme"), SB_V_INT4(4), SB_V_TEXT("NULL"), SB_V_INT8(-42),
       SB_V_INT4(-7), SB_V_BOOL(0), SB_V_FLOAT8(NAN),
       SB_V_TIMESTAMPTZ(946684799999999LL), SB_V_DATE(-735160),
       SB_V_BYTEA(bytes4, 1), SB_V_JSONB("\"s\"")},
      {SB_V_TEXT("acme"), SB_V_INT4(5), SB_V_TEXT("\\"), SB_V_INT8(0),
       SB_V_INT4(0), SB_V_BOOL(1), SB_V_FLOAT8(-INFINITY),
       SB_V_TIMESTAMPTZ(253402300799999999LL), SB_V_DATE(2932896), SB_V_NULL,
       SB_V_JSONB("{\"k\": \"\\u00e9\\\\\"}")},
      {SB_V_TEXT("acme"), SB_V_INT4(6), SB_V_TEXT("\""), SB_V_INT8(1),
       SB_V_INT4(1), SB_V_BOOL(0), SB_V_FLOAT8(INFINITY),
       SB_V_TIMESTAMPTZ(-62135596800000001LL), SB_V_DATE(-719162), SB_V_NULL,
       SB_V_NULL},
      {SB_V_TEXT("globex"), SB_V_INT4(7), SB_V_TEXT("{}"),
       SB_V_INT8(-9000000000LL), SB_V_INT4(123456), SB_V_NULL,
       SB_V_FLOAT8(-0.0), SB_V_TIMESTAMPTZ(-2208988800000000LL - 123456),
       SB_V_DATE(-719163), SB_V_NULL, SB_V_NULL},
  };
  memcpy(rows, r, sizeof r);
}

/* As PostgreSQL prints them (UTC, ISO dates, hex bytea). */
static const char *const every_want[NROWS] = {
    "acme|1|it's \"quoted\" \\ back\\slash, {braces} NULL \xc3\xa9 "
    "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89\ttab\nnewline|"
    "-9223372036854775808|-2147483648|false|-1.5|"
    "1969-12-31 23:59:59.999999+00|1969-12-31|\\x00ff5c222c|"
    "{\"a\": [1, \"x\\\"y\"], \"b\": null}",
    "acme|2|<null>|<null>|<null>|<null>|<null>|<null>|<null>|<null>|<null>",
    "acme|3||9223372036854775807|2147483647|true|1e-300|"
    "1970-01-01 00:00:00+00|1900-01-01|\\x|[]",
    "acme|4|NULL|-42|-7|false|NaN|1999-12-31 23:59:59.999999+00|"
    "0044-03-15 BC|\\x01|\"s\"",
    "acme|5|\\|0|0|true|-Infinity|9999-12-31 23:59:59.999999+00|9999-12-31|"
    "<null>|{\"k\": \"\xc3\xa9\\\\\"}",
    "acme|6|\"|1|1|false|Infinity|0001-12-31 23:59:59.999999+00 BC|"
    "0001-01-01|<null>|<null>",
    "globex|7|{}|-9000000000|123456|<null>|-0|"
    "1899-12-31 23:59:59.876544+00|0001-12-31 BC|<null>|<null>",
};

static int check_every(sb_pg_t *pg, const char *table) {
  char sql[1024], got[2048];
  for (int i = 0; i < NROWS; i++) {
    snprintf(sql, sizeof sql,
             "SELECT concat_ws('|', tenant_id, id, coalesce(t, '<null>'), "
             "coalesce(i8::text, '<null>'), coalesce(i4::text, '<null>'), "
             "coalesce(b::text, '<null>'), coalesce(f::text, '<null>'), "
             "coalesce(ts::text, '<null>'), coalesce(d::text, '<null>'), "
             "coalesce(\"by\"::text, '<null>'), coalesce(j::text, '<null>')) "
             "FROM rt.%s WHERE id = %d",
             table, i + 1);
    CHECK(q1(pg, sql, got, sizeof got) == 0);
    CHECK_STR(got, every_want[i]);
  }
  return 0;
}

static int make_every(const char *url, sb_pg_t **pg) {
  sb_err_t err = SB_ERR_INIT;
  char sql[1024];
  CHECK_OK(sb_pg_connect(url, pg, &err), &err);
  snprintf(sql, sizeof sql,
           "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
           "SET bytea_output = 'hex'; CREATE SCHEMA rt; "
           "CREATE TABLE rt.every_a %s; CREATE TABLE rt.every_b %s",
           every_ddl, every_ddl);
  CHECK_OK(sb_pg_exec(*pg, sql, 0, NULL, &err), &err);
  return 0;
}

int test_rows_roundtrip_all_types(void) {
  char url[600], db[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  sb_rows_t *a = NULL, *b = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK(make_every(url, &pg) == 0);
  sb_table_def_t da = {.name = "every_a", .cols = every_cols, .key = every_key};
  sb_table_def_t dbb = {
      .name = "every_b", .cols = every_cols, .key = every_key};
  CHECK_OK(sb_rows_new(&da, "rt", 0, &a, &err), &err);
  CHECK_OK(sb_rows_new(&dbb, "rt", 0, &b, &err), &err);
  sb_val_t rows[NROWS][11];
  every_rows(rows);
  CHECK_OK(sb_pg_exec(pg, "BEGIN", 0, NULL, &err), &err);
  for (int i = 0; i < NROWS; i++) {
    CHECK_OK(sb_rows_append(a, rows[i], &err), &err); /* binary COPY */
    CHECK_OK(sb_rows_upsert(b, rows[NROWS - 1 - i], &err), &err); /* arrays */
  }
  CHECK_INT(sb_rows_pending_rows(a), NROWS);
  CHECK_INT(sb_rows_pending_rows(b), NROWS);
  CHECK_OK(sb_rows_flush_appends(a, pg, &err), &err);
  CHECK_OK(sb_rows_flush(b, pg, &err), &err);
  CHECK_OK(sb_pg_exec(pg, "COMMIT", 0, NULL, &err), &err);
  CHECK_INT(sb_rows_pending_rows(a) + sb_rows_pending_bytes(a), 0);
  CHECK_INT(sb_rows_pending_rows(b) + sb_rows_pending_bytes(b), 0);
  if (check_every(pg, "every_a") != 0)
    return 1;
  if (check_every(pg, "every_b") != 0)
    return 1;
  /* the same again as upserts: every row replaced by itself */
  for (int i = 0; i < NROWS; i++)
    CHECK_OK(sb_rows_upsert(b, rows[i], &err), &err);
  CHECK_OK(sb_rows_flush(b, pg, &err), &err);
  if (check_every(pg, "every_b") != 0)
    return 1;
  sb_rows_free(a);
  sb_rows_free(b);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

/* ---- streaming -------------------------------------------------------- */

int test_rows_streamed_copy(void) {
  char url[600], db[64], got[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  sb_rows_t *a = NULL, *b = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK(make_every(url, &pg) == 0);
  sb_table_def_t da = {.name = "every_a", .cols = every_cols, .key = NULL};
  sb_table_def_t dbb = {.name = "every_b", .cols = every_cols, .key = NULL};
  CHECK_OK(sb_rows_new(&da, "rt", 0, &a, &err), &err);
  CHECK_OK(sb_rows_new(&dbb, "rt", 0, &b, &err), &err);
  CHECK_OK(sb_pg_exec(pg, "BEGIN", 0, NULL, &err), &err);
  char text[200];
  memset(text, 'x', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  int streamed = 0;
  for (int i = 1; i <= 5000; i++) {
    sb_val_t row[11] = {SB_V_TEXT("acme"), SB_V_INT4(i), SB_V_TEXT(text),
                        SB_V_INT8(i),      SB_V_NULL,    SB_V_NULL,
                        SB_V_NULL,         SB_V_NULL,    SB_V_NULL,
                        SB_V_NULL,         SB_V_NULL};
    CHECK_OK(sb_rows_append(a, row, &err), &err);
    CHECK_OK(sb_rows_append(b, row, &err), &err);
    CHECK_OK(sb_rows_stream(a, pg, &err), &err);
    /* a's COPY holds the connection: b keeps buffering */
    CHECK_OK(sb_rows_stream(b, pg, &err), &err);
    streamed |= sb_pg_copying(pg);
    CHECK(sb_rows_pending_bytes(a) < 64 * 1024 + 512);
  }
  CHECK(streamed);
  CHECK(sb_rows_pending_bytes(b) > 5000 * 200);
  /* a statement of b's while a's COPY is open is refused */
  sb_table_def_t dk = {.name = "every_b", .cols = every_cols, .key = every_key};
  sb_rows_t *k = NULL;
  CHECK_OK(sb_rows_new(&dk, "rt", 0, &k, &err), &err);
  sb_val_t one[11] = {SB_V_TEXT("acme"), SB_V_INT4(1), SB_V_NULL, SB_V_NULL,
                      SB_V_NULL,         SB_V_NULL,    SB_V_NULL, SB_V_NULL,
                      SB_V_NULL,         SB_V_NULL,    SB_V_NULL};
  CHECK_OK(sb_rows_upsert(k, one, &err), &err);
  CHECK_INT(sb_rows_flush(k, pg, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "COPY open");
  sb_err_clear(&err);
  CHECK_OK(sb_rows_finish(a, pg, &err), &err);
  CHECK(!sb_pg_copying(pg));
  CHECK_OK(sb_rows_finish(b, pg, &err), &err);
  CHECK_OK(sb_pg_exec(pg, "COMMIT", 0, NULL, &err), &err);
  CHECK(q1(pg,
           "SELECT count(*) || ' ' || sum(i8) || ' ' || "
           "min(length(t)) FROM rt.every_a",
           got, sizeof got) == 0);
  CHECK_STR(got, "5000 12502500 199");
  CHECK(q1(pg, "SELECT count(*) FROM rt.every_b", got, sizeof got) == 0);
  CHECK_STR(got, "5000");
  /* a rolled-back COPY: reset drops what the writer held */
  CHECK_OK(sb_pg_exec(pg, "BEGIN", 0, NULL, &err), &err);
  for (int i = 0; i < 2000; i++) {
    sb_val_t row[11] = {SB_V_TEXT("acme"), SB_V_INT4(10000 + i),
                        SB_V_TEXT(text),   SB_V_NULL,
                        SB_V_NULL,         SB_V_NULL,
                        SB_V_NULL,         SB_V_NULL,
                        SB_V_NULL,         SB_V_NULL,
                        SB_V_NULL};
    CHECK_OK(sb_rows_append(a, row, &err), &err);
    CHECK_OK(sb_rows_stream(a, pg, &err), &err);
  }
  CHECK(sb_pg_copying(pg));
  sb_pg_rollback(pg);
  CHECK_INT(sb_rows_finish(a, pg, &err), SB_ESTATE);
  CHECK_HAS(err.msg, "its COPY was ended by a rollback");
  sb_err_clear(&err);
  sb_rows_reset(a);
  CHECK_INT(sb_rows_pending_rows(a), 0);
  CHECK_OK(sb_pg_exec(pg, "BEGIN", 0, NULL, &err), &err);
  one[1] = (sb_val_t)SB_V_INT4(99999);
  CHECK_OK(sb_rows_append(a, one, &err), &err);
  CHECK_OK(sb_rows_finish(a, pg, &err), &err);
  CHECK_OK(sb_pg_exec(pg, "COMMIT", 0, NULL, &err), &err);
  CHECK(q1(pg, "SELECT count(*) FROM rt.every_a", got, sizeof got) == 0);
  CHECK_STR(got, "5001");
  sb_rows_free(a);
  sb_rows_free(b);
  sb_rows_free(k);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

/* ---- merges ----------------------------------------------------------- */

static const sb_col_t day_cols[] = {
    {"tenant_id", SB_COL_TEXT, 0},
    {"agent", SB_COL_TEXT, 0},
    {"day", SB_COL_DATE, 0},
    {"calls", SB_COL_INT8, SB_MERGE_SUM},
    {"talk", SB_COL_FLOAT8, SB_MERGE_SUM},
    {"best", SB_COL_INT4, SB_MERGE_MAX},
    {"first_at", SB_COL_TIMESTAMPTZ, SB_MERGE_MIN},
    {"name", SB_COL_TEXT, SB_MERGE_REPLACE},
    {"created", SB_COL_TEXT, SB_MERGE_KEEP},
    {0}};
static const char *const day_key[] = {"tenant_id", "agent", "day", NULL};
static const sb_table_def_t day_def = {
    .name = "agent_day", .cols = day_cols, .key = day_key};

#define DAY(t, a, d, calls, talk, best, at, name, created)                     \
  (sb_val_t[]) {                                                               \
    SB_V_TEXT(t), SB_V_TEXT(a), SB_V_DATE(d), calls, talk, best, at,           \
        SB_V_TEXT(name), SB_V_TEXT(created)                                    \
  }

static const char day_ddl[] =
    "CREATE SCHEMA m; CREATE TABLE m.agent_day (tenant_id text, agent text, "
    "day date, calls bigint, talk double precision, best integer, first_at "
    "timestamptz, name text, created text, PRIMARY KEY (tenant_id, agent, "
    "day)); SET TimeZone = 'UTC'";

static const char day_q[] =
    "SELECT string_agg(concat_ws(',', tenant_id, agent, day, "
    "coalesce(calls::text, '-'), coalesce(talk::text, '-'), "
    "coalesce(best::text, '-'), coalesce(first_at::text, '-'), "
    "coalesce(name, '-'), coalesce(created, '-')), ' ; ' ORDER BY tenant_id, "
    "agent, day) FROM m.agent_day";

int test_rows_upsert_merges(void) {
  char url[600], db[64], got[1024];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  sb_rows_t *w = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  CHECK_OK(sb_pg_exec(pg, day_ddl, 0, NULL, &err), &err);
  CHECK_OK(sb_rows_new(&day_def, "m", 0, &w, &err), &err);
  sb_val_t n = SB_V_NULL;
  /* one key three times in the batch (merged in memory: ON CONFLICT
   * cannot touch a row twice in one statement), another once, another
   * tenant with the same agent and day apart */
  CHECK_OK(sb_rows_upsert(w,
                          DAY("acme", "a1", 100, SB_V_INT8(1), SB_V_FLOAT8(1.5),
                              SB_V_INT4(5), SB_V_TIMESTAMPTZ(3000000), "Ann",
                              "first"),
                          &err),
           &err);
  CHECK_OK(
      sb_rows_upsert(w,
                     DAY("acme", "a1", 100, n, SB_V_FLOAT8(2.25), SB_V_INT4(9),
                         SB_V_TIMESTAMPTZ(1000000), "Anne", "second"),
                     &err),
      &err);
  CHECK_OK(sb_rows_upsert(w,
                          DAY("acme", "a1", 100, SB_V_INT8(4), n, n,
                              SB_V_TIMESTAMPTZ(2000000), "Annie", NULL),
                          &err),
           &err);
  CHECK_OK(
      sb_rows_upsert(w, DAY("acme", "a2", 100, n, n, n, n, NULL, NULL), &err),
      &err);
  CHECK_OK(sb_rows_upsert(w,
                          DAY("globex", "a1", 100, SB_V_INT8(7), SB_V_FLOAT8(1),
                              SB_V_INT4(1), SB_V_TIMESTAMPTZ(0), "G", "g"),
                          &err),
           &err);
  CHECK_INT(sb_rows_pending_rows(w), 3);
  CHECK_OK(sb_pg_exec(pg, "BEGIN", 0, NULL, &err), &err);
  CHECK_OK(sb_rows_flush(w, pg, &err), &err);
  CHECK_OK(sb_pg_exec(pg, "COMMIT", 0, NULL, &err), &err);
  CHECK(q1(pg, day_q, got, sizeof got) == 0);
  CHECK_STR(got, "acme,a1,1970-04-11,5,3.75,9,1970-01-01 00:00:01+00,Annie,"
                 "first ; acme,a2,1970-04-11,-,-,-,-,-,- ; "
                 "globex,a1,1970-04-11,7,1,1,1970-01-01 00:00:00+00,G,g");
  /* the next batch merges with the rows in the table, by the same rules */
  CHECK_OK(sb_rows_upsert(w,
                          DAY("acme", "a1", 100, SB_V_INT8(10),
                              SB_V_FLOAT8(0.25), SB_V_INT4(7),
                              SB_V_TIMESTAMPTZ(500000), "Ana", "third"),
                          &err),
           &err);
  CHECK_OK(sb_rows_upsert(w,
                          DAY("acme", "a2", 100, SB_V_INT8(2), SB_V_FLOAT8(2),
                              SB_V_INT4(-3), SB_V_TIMESTAMPTZ(-1), "B", "b"),
                          &err),
           &err);
  CHECK_OK(sb_rows_upsert(w,
                          DAY("acme", "a2", 100, SB_V_INT8(3), n, SB_V_INT4(-4),
                              n, "C", "c"),
                          &err),
           &err);
  CHECK_OK(sb_pg_exec(pg, "BEGIN", 0, NULL, &err), &err);
  CHECK_OK(sb_rows_flush(w, pg, &err), &err);
  CHECK_OK(sb_pg_exec(pg, "COMMIT", 0, NULL, &err), &err);
  CHECK(q1(pg, day_q, got, sizeof got) == 0);
  CHECK_STR(got, "acme,a1,1970-04-11,15,4,9,1970-01-01 00:00:00.5+00,Ana,"
                 "first ; acme,a2,1970-04-11,5,2,-3,"
                 "1969-12-31 23:59:59.999999+00,C,- ; "
                 "globex,a1,1970-04-11,7,1,1,1970-01-01 00:00:00+00,G,g");
  /* a sum past the column's range is refused, in memory or by the server */
  CHECK_OK(sb_rows_upsert(
               w,
               DAY("acme", "a3", 1, SB_V_INT8(INT64_MAX), n, n, n, NULL, NULL),
               &err),
           &err);
  CHECK_INT(
      sb_rows_upsert(w, DAY("acme", "a3", 1, SB_V_INT8(1), n, n, n, NULL, NULL),
                     &err),
      SB_EINVAL);
  CHECK_HAS(err.msg, "agent_day: column calls: the sum");
  sb_rows_free(w);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

int test_rows_deletes(void) {
  char url[600], db[64], got[1024];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  sb_rows_t *w = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  CHECK_OK(sb_pg_exec(pg, day_ddl, 0, NULL, &err), &err);
  CHECK_OK(sb_rows_new(&day_def, "m", 0, &w, &err), &err);
  sb_val_t n = SB_V_NULL;
  for (int i = 0; i < 4; i++) {
    char a[8];
    snprintf(a, sizeof a, "a%d", i);
    CHECK_OK(sb_rows_upsert(
                 w, DAY("acme", a, 1, SB_V_INT8(10), n, n, n, "x", "k"), &err),
             &err);
  }
  CHECK_OK(sb_rows_flush(w, pg, &err), &err);
  /* a0: deleted; a1: deleted then upserted (starts afresh, no sum with the
   * old row); a2: upserted then deleted; a3 untouched; a9: never existed */
  sb_val_t k0[] = {SB_V_TEXT("acme"), SB_V_TEXT("a0"), SB_V_DATE(1)};
  sb_val_t k1[] = {SB_V_TEXT("acme"), SB_V_TEXT("a1"), SB_V_DATE(1)};
  sb_val_t k2[] = {SB_V_TEXT("acme"), SB_V_TEXT("a2"), SB_V_DATE(1)};
  sb_val_t k9[] = {SB_V_TEXT("acme"), SB_V_TEXT("a9"), SB_V_DATE(1)};
  CHECK_OK(sb_rows_delete(w, k0, &err), &err);
  CHECK_OK(sb_rows_delete(w, k1, &err), &err);
  CHECK_OK(
      sb_rows_upsert(w, DAY("acme", "a1", 1, SB_V_INT8(1), n, n, n, "y", "new"),
                     &err),
      &err);
  CHECK_OK(
      sb_rows_upsert(
          w, DAY("acme", "a1", 1, SB_V_INT8(2), n, n, n, "z", "newer"), &err),
      &err);
  CHECK_OK(sb_rows_upsert(
               w, DAY("acme", "a2", 1, SB_V_INT8(5), n, n, n, "w", NULL), &err),
           &err);
  CHECK_OK(sb_rows_delete(w, k2, &err), &err);
  CHECK_OK(sb_rows_delete(w, k9, &err), &err);
  sb_val_t knull[] = {SB_V_TEXT("acme"), SB_V_NULL, SB_V_DATE(1)};
  CHECK_INT(sb_rows_delete(w, knull, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "key column agent is NULL");
  sb_err_clear(&err);
  CHECK_OK(sb_pg_exec(pg, "BEGIN", 0, NULL, &err), &err);
  CHECK_OK(sb_rows_flush(w, pg, &err), &err);
  CHECK_OK(sb_pg_exec(pg, "COMMIT", 0, NULL, &err), &err);
  CHECK(q1(pg,
           "SELECT string_agg(agent || '=' || calls || name || created, "
           "' ' ORDER BY agent) FROM m.agent_day",
           got, sizeof got) == 0);
  CHECK_STR(got, "a1=3znew a3=10xk");
  /* a batch dropped: nothing of it is written */
  CHECK_OK(sb_rows_delete(w, k1, &err), &err);
  sb_rows_reset(w);
  CHECK_OK(sb_rows_flush(w, pg, &err), &err);
  CHECK(q1(pg, "SELECT count(*) FROM m.agent_day", got, sizeof got) == 0);
  CHECK_STR(got, "2");
  sb_rows_free(w);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

/* ---- sorted keys ------------------------------------------------------ */

#define NKEYS 300

typedef struct {
  const char *url;
  int reverse, deletes, rounds;
  int mixed; /* 1 or 2: deletes the keys of that parity, upserts the rest */
  int rc;
  char msg[SB_ERR_MSG_MAX];
} racer_t;

/* Upserts (or deletes) the same keys as the other racer, given in another
 * order, in transactions that overlap. */
static void *racer(void *arg) {
  racer_t *r = arg;
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  sb_rows_t *w = NULL;
  r->rc = sb_pg_connect(r->url, &pg, &err);
  if (r->rc == 0)
    r->rc = sb_rows_new(&day_def, "m", 0, &w, &err);
  for (int round = 0; round < r->rounds && r->rc == 0; round++) {
    for (int i = 0; i < NKEYS && r->rc == 0; i++) {
      /* 0..N-1, N-1..0, or a stride through them: the orders differ */
      int k = r->reverse == 1   ? NKEYS - 1 - i
              : r->reverse == 2 ? (i * 7) % NKEYS
                                : i;
      char a[16];
      snprintf(a, sizeof a, "agent%03d", k);
      sb_val_t n = SB_V_NULL;
      sb_val_t key[] = {SB_V_TEXT("acme"), SB_V_TEXT(a), SB_V_DATE(1)};
      int del = r->deletes || (r->mixed && k % 2 == r->mixed - 1);
      r->rc = del ? sb_rows_delete(w, key, &err)
                  : sb_rows_upsert(
                        w, DAY("acme", a, 1, SB_V_INT8(1), n, n, n, "n", "c"),
                        &err);
    }
    if (r->rc == 0)
      r->rc = sb_pg_exec(pg, "BEGIN", 0, NULL, &err);
    if (r->rc == 0)
      r->rc = sb_rows_flush(w, pg, &err);
    if (r->rc == 0) /* hold the locks a moment so that the racers overlap */
      r->rc = sb_pg_exec(pg, "SELECT pg_sleep(0.05)", 0, NULL, &err);
    if (r->rc == 0)
      r->rc = sb_pg_exec(pg, "COMMIT", 0, NULL, &err);
  }
  snprintf(r->msg, sizeof r->msg, "%s", err.msg);
  sb_rows_free(w);
  sb_pg_close(pg);
  return NULL;
}

int test_rows_sorted_keys(void) {
  char url[600], db[64], got[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  sb_rows_t *w = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  CHECK_OK(sb_pg_exec(pg, day_ddl, 0, NULL, &err), &err);
  /* the order rows reach the table: a trigger numbers them */
  CHECK_OK(sb_pg_exec(pg,
                      "CREATE TABLE m.seen (n serial, agent text); "
                      "CREATE FUNCTION m.log() RETURNS trigger LANGUAGE "
                      "plpgsql AS $$ BEGIN INSERT INTO m.seen (agent) VALUES "
                      "(NEW.agent); RETURN NEW; END $$; "
                      "CREATE TRIGGER log BEFORE INSERT ON m.agent_day FOR "
                      "EACH ROW EXECUTE FUNCTION m.log()",
                      0, NULL, &err),
           &err);
  CHECK_OK(sb_rows_new(&day_def, "m", 0, &w, &err), &err);
  const char *order[] = {"b", "a10", "a9", "", "a1", "B", "\xc3\xa9", "a"};
  sb_val_t n = SB_V_NULL;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
    CHECK_OK(sb_rows_upsert(w, DAY("acme", order[i], 1, n, n, n, n, NULL, NULL),
                            &err),
             &err);
  CHECK_OK(sb_rows_flush(w, pg, &err), &err);
  CHECK(q1(pg, "SELECT string_agg(agent, ',' ORDER BY n) FROM m.seen", got,
           sizeof got) == 0);
  CHECK_STR(got, ",B,a,a1,a10,a9,b,\xc3\xa9"); /* byte order */
  CHECK_OK(sb_pg_exec(pg,
                      "DROP TRIGGER log ON m.agent_day; DELETE FROM "
                      "m.agent_day",
                      0, NULL, &err),
           &err);
  /* writers given the keys in different orders wait for each other but
   * never deadlock: upserts against upserts, and against deletes */
  racer_t r[3] = {{.url = url, .reverse = 0, .rounds = 6},
                  {.url = url, .reverse = 1, .rounds = 6},
                  {.url = url, .reverse = 2, .deletes = 1, .rounds = 6}};
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    CHECK(pthread_create(&th[i], NULL, racer, &r[i]) == 0);
  for (int i = 0; i < 3; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < 3; i++) {
    if (r[i].rc != 0)
      fprintf(stderr, "racer %d: %s\n", i, r[i].msg);
    CHECK_INT(r[i].rc, 0);
  }
  /* writers that each delete some keys and upsert the others in one flush
   * (two statements) lock all their rows in one ordered pass first */
  racer_t m[2] = {{.url = url, .reverse = 0, .mixed = 1, .rounds = 8},
                  {.url = url, .reverse = 1, .mixed = 2, .rounds = 8}};
  for (int i = 0; i < 2; i++)
    CHECK(pthread_create(&th[i], NULL, racer, &m[i]) == 0);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < 2; i++) {
    if (m[i].rc != 0)
      fprintf(stderr, "mixed racer %d: %s\n", i, m[i].msg);
    CHECK_INT(m[i].rc, 0);
  }
  sb_rows_free(w);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

/* ---- bounds and refusals ---------------------------------------------- */

int test_rows_budget(void) {
  char url[600], db[64], got[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  sb_rows_t *a = NULL, *u = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK_OK(sb_pg_connect(url, &pg, &err), &err);
  CHECK_OK(sb_pg_exec(pg, day_ddl, 0, NULL, &err), &err);
  sb_table_def_t ad = {.name = "agent_day", .cols = day_cols, .key = NULL};
  CHECK_OK(sb_rows_new(&ad, "m", 4096, &a, &err), &err);
  CHECK_OK(sb_rows_new(&day_def, "m", 4096, &u, &err), &err);
  sb_val_t n = SB_V_NULL;
  int added = 0, rc = 0;
  char name[16];
  for (int i = 0; i < 1000 && rc == 0; i++) {
    snprintf(name, sizeof name, "a%d", i);
    rc = sb_rows_append(a, DAY("acme", name, i, n, n, n, n, "x", "y"), &err);
    added += rc == 0;
    CHECK(sb_rows_pending_bytes(a) <= 4096);
  }
  CHECK_INT(rc, SB_EBUSY);
  CHECK(err.retriable);
  CHECK_HAS(err.msg, "agent_day: the writer holds");
  CHECK_HAS(err.msg, "budget of 4096: flush first");
  CHECK(added > 10 && added < 1000);
  sb_err_clear(&err);
  for (int i = 0, urc = 0; i < 1000 && urc == 0; i++) {
    snprintf(name, sizeof name, "a%d", i);
    urc = sb_rows_upsert(u, DAY("acme", name, i, n, n, n, n, "x", "y"), &err);
    CHECK(sb_rows_pending_bytes(u) <= 4096);
    if (urc != 0)
      CHECK_INT(urc, SB_EBUSY);
  }
  sb_err_clear(&err);
  /* merging into a pending key needs no room */
  CHECK_OK(sb_rows_upsert(u, DAY("acme", "a0", 0, n, n, n, n, "x", "y"), &err),
           &err);
  CHECK_OK(sb_pg_exec(pg, "BEGIN", 0, NULL, &err), &err);
  CHECK_OK(sb_rows_flush(a, pg, &err), &err);
  CHECK_OK(sb_pg_exec(pg, "COMMIT", 0, NULL, &err), &err);
  CHECK_INT(sb_rows_pending_bytes(a), 0);
  CHECK_OK(sb_rows_append(a, DAY("acme", "z", 0, n, n, n, n, "x", "y"), &err),
           &err);
  snprintf(got, sizeof got, "%d", added);
  char cnt[32];
  CHECK(q1(pg, "SELECT count(*) FROM m.agent_day", cnt, sizeof cnt) == 0);
  CHECK_STR(cnt, got);
  /* a row larger than the whole budget */
  char big[5000];
  memset(big, 'b', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  sb_rows_reset(a);
  CHECK_INT(sb_rows_append(a, DAY("acme", big, 0, n, n, n, n, "x", "y"), &err),
            SB_EBUSY);
  sb_rows_free(a);
  sb_rows_free(u);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}

#define REFUSE(def, schema, needle)                                            \
  do {                                                                         \
    sb_err_t e_ = SB_ERR_INIT;                                                 \
    sb_rows_t *w_ = NULL;                                                      \
    CHECK_INT(sb_rows_new(def, schema, 0, &w_, &e_), SB_EINVAL);               \
    CHECK(w_ == NULL);                                                         \
    CHECK_HAS(e_.msg, needle);                                                 \
  } while (0)

int test_rows_refusals(void) {
  static const sb_col_t no_tenant[] = {{"id", SB_COL_INT8, 0}, {0}};
  static const sb_col_t tenant_int[] = {{"tenant_id", SB_COL_INT8, 0}, {0}};
  static const sb_col_t bad_name[] = {
      {"tenant_id", SB_COL_TEXT, 0}, {"Bad", SB_COL_INT8, 0}, {0}};
  static const sb_col_t twice[] = {{"tenant_id", SB_COL_TEXT, 0},
                                   {"x", SB_COL_INT8, 0},
                                   {"x", SB_COL_INT8, 0},
                                   {0}};
  static const sb_col_t sum_text[] = {
      {"tenant_id", SB_COL_TEXT, 0}, {"x", SB_COL_TEXT, SB_MERGE_SUM}, {0}};
  static const sb_col_t ok[] = {{"tenant_id", SB_COL_TEXT, 0},
                                {"id", SB_COL_INT8, 0},
                                {"f", SB_COL_FLOAT8, 0},
                                {"t", SB_COL_TEXT, 0},
                                {0}};
  static const sb_col_t max_text[] = {
      {"tenant_id", SB_COL_TEXT, 0}, {"t", SB_COL_TEXT, SB_MERGE_MAX}, {0}};
  static const char *const k_missing[] = {"tenant_id", "nope", NULL};
  static const char *const k_no_tenant[] = {"id", NULL};
  static const char *const k_float[] = {"tenant_id", "f", NULL};
  static const char *const k_good[] = {"tenant_id", "id", NULL};
  static const sb_col_t good[] = {{"tenant_id", SB_COL_TEXT, 0},
                                  {"id", SB_COL_INT8, 0},
                                  {"v", SB_COL_INT4, SB_MERGE_SUM},
                                  {0}};
  sb_table_def_t d1 = {.name = "lonely", .cols = no_tenant, .key = NULL};
  REFUSE(&d1, "p", "table lonely has no tenant_id text column");
  sb_table_def_t d2 = {.name = "numbered", .cols = tenant_int, .key = NULL};
  REFUSE(&d2, "p", "table numbered has no tenant_id text column");
  sb_table_def_t d3 = {.name = "t", .cols = bad_name, .key = NULL};
  REFUSE(&d3, "p", "column name 'Bad'");
  sb_table_def_t d4 = {.name = "t; drop", .cols = good, .key = NULL};
  REFUSE(&d4, "p", "table name 't; drop'");
  sb_table_def_t d5 = {.name = "t", .cols = good, .key = NULL};
  REFUSE(&d5, "P\"x", "schema name 'P\"x'");
  sb_table_def_t d6 = {.name = "t", .cols = twice, .key = NULL};
  REFUSE(&d6, "p", "column x is declared twice");
  sb_table_def_t d7 = {.name = "t", .cols = sum_text, .key = NULL};
  REFUSE(&d7, "p", "column x (text) cannot take merge 1");
  sb_table_def_t d8 = {.name = "t", .cols = ok, .key = k_missing};
  REFUSE(&d8, "p", "key column nope is not a column");
  sb_table_def_t d9 = {.name = "t", .cols = ok, .key = k_no_tenant};
  REFUSE(&d9, "p", "its key must include tenant_id");
  sb_table_def_t d10 = {.name = "t", .cols = ok, .key = k_float};
  REFUSE(&d10, "p", "key column f is double precision");
  sb_table_def_t d11 = {.name = "t", .cols = max_text, .key = NULL};
  REFUSE(&d11, "p", "column t (text) cannot take merge 2");

  /* values */
  sb_table_def_t g = {.name = "good", .cols = good, .key = k_good};
  sb_err_t err = SB_ERR_INIT;
  sb_rows_t *w = NULL;
  CHECK_OK(sb_rows_new(&g, "p", 0, &w, &err), &err);
  sb_val_t wrong[] = {SB_V_TEXT("acme"), SB_V_TEXT("1"), SB_V_INT4(1)};
  CHECK_INT(sb_rows_append(w, wrong, &err), SB_EINVAL);
  CHECK_HAS(err.msg,
            "table good: column id is bigint, the value given is text");
  sb_err_clear(&err);
  sb_val_t no_tenant_v[] = {SB_V_NULL, SB_V_INT8(1), SB_V_INT4(1)};
  CHECK_INT(sb_rows_upsert(w, no_tenant_v, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "table good: tenant_id is NULL");
  sb_err_clear(&err);
  sb_val_t bad_utf8[] = {SB_V_TEXT("ac\xc3\x28me"), SB_V_INT8(1), SB_V_INT4(1)};
  CHECK_INT(sb_rows_append(w, bad_utf8, &err), SB_EINVAL);
  CHECK_HAS(err.msg,
            "table good: column tenant_id: the text is not valid UTF-8");
  sb_err_clear(&err);
  sb_val_t big4[] = {
      SB_V_TEXT("acme"), SB_V_INT8(1), {.type = SB_COL_INT4, .i = 1LL << 40}};
  CHECK_INT(sb_rows_append(w, big4, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "column v: 1099511627776 is out of integer range");
  sb_err_clear(&err);
  CHECK_INT(sb_rows_pending_rows(w), 0);
  CHECK_INT(sb_rows_pending_bytes(w), 0);
  sb_rows_free(w);
  sb_table_def_t appends = {.name = "good", .cols = good, .key = NULL};
  CHECK_OK(sb_rows_new(&appends, "p", 0, &w, &err), &err);
  sb_val_t row[] = {SB_V_TEXT("acme"), SB_V_INT8(1), SB_V_INT4(1)};
  CHECK_INT(sb_rows_upsert(w, row, &err), SB_EINVAL);
  CHECK_HAS(err.msg, "table good declares no key");
  sb_rows_free(w);
  sb_rows_free(NULL);
  return 0;
}

int test_rows_check_against_table(void) {
  char url[600], db[64];
  sb_err_t err = SB_ERR_INIT;
  sb_pg_t *pg = NULL;
  sb_rows_t *w = NULL;
  CHECK(sbt_pg_create_db(url, sizeof url, db, sizeof db) == 0);
  CHECK(make_every(url, &pg) == 0);
  sb_table_def_t da = {.name = "every_a", .cols = every_cols, .key = every_key};
  CHECK_OK(sb_rows_new(&da, "rt", 0, &w, &err), &err);
  CHECK_OK(sb_rows_check(w, pg, &err), &err);
  static const struct {
    const char *breaks, *mends, *why;
  } cases[] = {
      {"ALTER TABLE rt.every_a RENAME COLUMN ts TO ts2",
       "ALTER TABLE rt.every_a RENAME COLUMN ts2 TO ts",
       "rows: table rt.every_a has no column ts (declared timestamp with "
       "time zone)"},
      {"ALTER TABLE rt.every_a ALTER COLUMN i8 TYPE integer",
       "ALTER TABLE rt.every_a ALTER COLUMN i8 TYPE bigint",
       "rows: table rt.every_a: column i8 is integer in the database, "
       "declared bigint"},
      {"ALTER TABLE rt.every_a DROP CONSTRAINT every_a_pkey; ALTER TABLE "
       "rt.every_a ADD PRIMARY KEY (tenant_id, id, i4)",
       "ALTER TABLE rt.every_a DROP CONSTRAINT every_a_pkey; ALTER TABLE "
       "rt.every_a ADD PRIMARY KEY (id, tenant_id)",
       "rows: table rt.every_a has no unique index on exactly its declared "
       "key"},
      {"ALTER TABLE rt.every_a RENAME TO gone",
       "ALTER TABLE rt.gone RENAME TO every_a",
       "rows: table rt.every_a does not exist"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CHECK_OK(sb_pg_exec(pg, cases[i].breaks, 0, NULL, &err), &err);
    CHECK(sb_rows_check(w, pg, &err) != 0);
    CHECK_HAS(err.msg, cases[i].why);
    sb_err_clear(&err);
    CHECK_OK(sb_pg_exec(pg, cases[i].mends, 0, NULL, &err), &err);
    CHECK_OK(sb_rows_check(w, pg, &err), &err); /* key order is free */
  }
  sb_rows_free(w);
  sb_pg_close(pg);
  sbt_pg_drop_db(db);
  return 0;
}
