/* bench_rows: what the table writer (engine/sb_rows) costs and sustains
 * against a PostgreSQL server, outside any pipeline.
 *
 *   bench_rows --data-dir DIR [--rows N]   the private server of DIR
 *                                          (switchboard postgres start)
 *   bench_rows --url URL [--rows N]        any server, as a role that may
 *                                          create a schema
 *
 * Stages (each in a schema of its own, dropped at the end):
 *   encode   µs per row to encode an audit-shaped row (15 columns, a
 *            300-byte payload): the writer's generic sb_rows_append, and
 *            the hand-written encoder the audit processor uses today
 *   append   rows/s through sb_rows_append + sb_rows_stream + finish,
 *            5,000 rows per transaction, into the audit-shaped table with
 *            its primary key and subject index
 *   upsert   rows/s of sb_rows_upsert + flush, distinct keys (5,000 per
 *            transaction), and merging (each key 10 times per batch)
 *   delete   rows/s of sb_rows_delete + flush, 5,000 keys per transaction */
#include "sb_conf.h"
#include "sb_pg.h"
#include "sb_pgserver.h"
#include "sb_rows.h"
#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 5000

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const sb_col_t ev_cols[] = {{"tenant_id", SB_COL_TEXT, 0},
                                   {"topic", SB_COL_TEXT, 0},
                                   {"kafka_partition", SB_COL_INT4, 0},
                                   {"kafka_offset", SB_COL_INT8, 0},
                                   {"chain_seq", SB_COL_INT8, 0},
                                   {"event_id", SB_COL_TEXT, 0},
                                   {"event_type", SB_COL_TEXT, 0},
                                   {"subject", SB_COL_TEXT, 0},
                                   {"occurred_at", SB_COL_TIMESTAMPTZ, 0},
                                   {"schema_id", SB_COL_INT4, 0},
                                   {"correlation_id", SB_COL_TEXT, 0},
                                   {"actor_user_id", SB_COL_TEXT, 0},
                                   {"payload", SB_COL_BYTEA, 0},
                                   {"prev_hash", SB_COL_BYTEA, 0},
                                   {"hash", SB_COL_BYTEA, 0},
                                   {0}};
static const sb_table_def_t ev_def = {
    .name = "events", .cols = ev_cols, .key = NULL};

static const sb_col_t day_cols[] = {{"tenant_id", SB_COL_TEXT, 0},
                                    {"agent", SB_COL_TEXT, 0},
                                    {"day", SB_COL_DATE, 0},
                                    {"calls", SB_COL_INT8, SB_MERGE_SUM},
                                    {"talk_s", SB_COL_INT8, SB_MERGE_SUM},
                                    {"best", SB_COL_INT4, SB_MERGE_MAX},
                                    {"name", SB_COL_TEXT, 0},
                                    {0}};
static const char *const day_key[] = {"tenant_id", "agent", "day", NULL};
static const sb_table_def_t day_def = {
    .name = "agent_day", .cols = day_cols, .key = day_key};

typedef struct {
  char tenant[16], event_id[32], subject[48], corr[32];
  unsigned char payload[300], hash[32];
} ev_t;

static void make_event(ev_t *e, long i) {
  snprintf(e->tenant, sizeof e->tenant, "tenant%ld", i % 20);
  snprintf(e->event_id, sizeof e->event_id, "01JDXZ%020ld", i);
  snprintf(e->subject, sizeof e->subject, "lead-%ld", i % 100000);
  snprintf(e->corr, sizeof e->corr, "corr-%ld", i / 3);
  for (size_t k = 0; k < sizeof e->payload; k++)
    e->payload[k] = (unsigned char)(i * 31 + (long)k);
  for (size_t k = 0; k < sizeof e->hash; k++)
    e->hash[k] = (unsigned char)(i * 7 + (long)k);
}

static void ev_vals(const ev_t *e, long i, sb_val_t *v) {
  sb_val_t r[] = {SB_V_TEXT(e->tenant),
                  SB_V_TEXT("sb.calls"),
                  SB_V_INT4(i % 12),
                  SB_V_INT8(i),
                  SB_V_INT8(i),
                  SB_V_TEXT(e->event_id),
                  SB_V_TEXT("call.ended"),
                  SB_V_TEXT(e->subject),
                  SB_V_TIMESTAMPTZ(1764000000000000LL + i * 1000),
                  SB_V_INT4(17),
                  SB_V_TEXT(e->corr),
                  SB_V_TEXT(NULL),
                  SB_V_BYTEA(e->payload, sizeof e->payload),
                  SB_V_BYTEA(e->hash, 32),
                  SB_V_BYTEA(e->hash, 32)};
  memcpy(v, r, sizeof r);
}

/* ---- the audit processor's hand-written encoder, for comparison ------- */

static unsigned char *put_be(unsigned char *p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--)
    *p++ = (unsigned char)(v >> (8 * i));
  return p;
}
static unsigned char *put_str(unsigned char *p, const char *s) {
  if (s == NULL)
    return put_be(p, 0xffffffffu, 4);
  size_t n = strlen(s);
  p = put_be(p, n, 4);
  memcpy(p, s, n);
  return p + n;
}
static unsigned char *put_bytes(unsigned char *p, const void *b, size_t n) {
  p = put_be(p, n, 4);
  memcpy(p, b, n);
  return p + n;
}
static size_t hand_encode(unsigned char *p0, const ev_t *e, long i) {
  unsigned char *p = put_be(p0, 15, 2);
  p = put_str(p, e->tenant);
  p = put_str(p, "sb.calls");
  p = put_be(put_be(p, 4, 4), (uint64_t)(i % 12), 4);
  p = put_be(put_be(p, 8, 4), (uint64_t)i, 8);
  p = put_be(put_be(p, 8, 4), (uint64_t)i, 8);
  p = put_str(p, e->event_id);
  p = put_str(p, "call.ended");
  p = put_str(p, e->subject);
  p = put_be(put_be(p, 8, 4),
             (uint64_t)(1764000000000000LL + i * 1000 - 946684800000000LL), 8);
  p = put_be(put_be(p, 4, 4), 17, 4);
  p = put_str(p, e->corr);
  p = put_str(p, NULL);
  p = put_bytes(p, e->payload, sizeof e->payload);
  p = put_bytes(p, e->hash, 32);
  p = put_bytes(p, e->hash, 32);
  return (size_t)(p - p0);
}

/* ---- stages ------------------------------------------------------------ */

static int fail(const char *what, const sb_err_t *err) {
  fprintf(stderr, "bench_rows: %s: %s\n", what, err->msg);
  return 1;
}

static int stage_encode(long n) {
  sb_err_t err = SB_ERR_INIT;
  sb_rows_t *w = NULL;
  if (sb_rows_new(&ev_def, "bench", 256u << 20, &w, &err) != 0)
    return fail("encode", &err);
  ev_t e;
  sb_val_t v[15];
  double t0 = now_s();
  for (long i = 0; i < n; i++) {
    make_event(&e, i);
    ev_vals(&e, i, v);
    if (sb_rows_append(w, v, &err) != 0)
      return fail("encode", &err);
    if (sb_rows_pending_bytes(w) > (1u << 20)) /* as the other */
      sb_rows_reset(w);
  }
  double generic = now_s() - t0;
  unsigned char *buf = malloc(1 << 20);
  size_t used = 0, total = 0;
  t0 = now_s();
  for (long i = 0; i < n; i++) {
    make_event(&e, i);
    used += hand_encode(buf + used, &e, i);
    if (used > (1 << 20) - 2048) {
      total += used;
      used = 0;
    }
  }
  double hand = now_s() - t0;
  /* the row set-up (make_event) is in both */
  printf("encode   %9.3f us/row generic (sb_rows_append)   %9.3f us/row "
         "hand-written (audit today)   [%zu bytes]\n",
         generic * 1e6 / (double)n, hand * 1e6 / (double)n, total + used);
  free(buf);
  sb_rows_free(w);
  return 0;
}

static int stage_append(sb_pg_t *pg, const char *schema, long n) {
  sb_err_t err = SB_ERR_INIT;
  sb_rows_t *w = NULL;
  if (sb_rows_new(&ev_def, schema, 0, &w, &err) != 0)
    return fail("append", &err);
  ev_t e;
  sb_val_t v[15];
  double t0 = now_s();
  for (long i = 0; i < n;) {
    if (sb_pg_exec(pg, "BEGIN", 0, NULL, &err) != 0)
      return fail("append", &err);
    for (long k = 0; k < BATCH && i < n; k++, i++) {
      make_event(&e, i);
      ev_vals(&e, i, v);
      if (sb_rows_append(w, v, &err) != 0 || sb_rows_stream(w, pg, &err) != 0)
        return fail("append", &err);
    }
    if (sb_rows_finish(w, pg, &err) != 0 ||
        sb_pg_exec(pg, "COMMIT", 0, NULL, &err) != 0)
      return fail("append", &err);
  }
  double dt = now_s() - t0;
  printf("append   %9.0f rows/s  (%ld rows, binary COPY streamed, %d per "
         "transaction)\n",
         (double)n / dt, n, BATCH);
  sb_rows_free(w);
  return 0;
}

static int stage_upsert(sb_pg_t *pg, const char *schema, long n, int repeat,
                        int del) {
  sb_err_t err = SB_ERR_INIT;
  sb_rows_t *w = NULL;
  if (sb_rows_new(&day_def, schema, 0, &w, &err) != 0)
    return fail("upsert", &err);
  char agent[32], tenant[16];
  double t0 = now_s();
  for (long i = 0; i < n;) {
    if (sb_pg_exec(pg, "BEGIN", 0, NULL, &err) != 0)
      return fail("upsert", &err);
    for (long k = 0; k < BATCH && i < n; k++, i++) {
      long key = repeat > 1 ? (i / BATCH) * BATCH + k % (BATCH / repeat) : i;
      snprintf(tenant, sizeof tenant, "tenant%ld", key % 20);
      snprintf(agent, sizeof agent, "agent-%ld", key);
      sb_val_t kv[] = {SB_V_TEXT(tenant), SB_V_TEXT(agent),
                       SB_V_DATE(20000 + key % 7)};
      sb_val_t row[] = {SB_V_TEXT(tenant),          SB_V_TEXT(agent),
                        SB_V_DATE(20000 + key % 7), SB_V_INT8(1),
                        SB_V_INT8(i % 300),         SB_V_INT4(i % 1000),
                        SB_V_TEXT("Agent Name")};
      if ((del ? sb_rows_delete(w, kv, &err) : sb_rows_upsert(w, row, &err)) !=
          0)
        return fail("upsert", &err);
    }
    if (sb_rows_flush(w, pg, &err) != 0 ||
        sb_pg_exec(pg, "COMMIT", 0, NULL, &err) != 0)
      return fail("upsert", &err);
  }
  double dt = now_s() - t0;
  if (del)
    printf("delete   %9.0f rows/s  (%ld keys, %d per transaction)\n",
           (double)n / dt, n, BATCH);
  else
    printf("upsert   %9.0f rows/s  (%ld rows, %s, %d per transaction)\n",
           (double)n / dt, n,
           repeat > 1 ? "each key 10 times a batch" : "distinct keys", BATCH);
  sb_rows_free(w);
  return 0;
}

int main(int argc, char **argv) {
  const char *url = NULL, *dir = NULL;
  long n = 200000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--url") == 0)
      url = argv[i + 1];
    else if (strcmp(argv[i], "--data-dir") == 0)
      dir = argv[i + 1];
    else if (strcmp(argv[i], "--rows") == 0)
      n = strtol(argv[i + 1], NULL, 10);
  }
  if ((url == NULL) == (dir == NULL) || n <= 0) {
    fprintf(stderr, "usage: bench_rows (--url URL | --data-dir DIR) "
                    "[--rows N]\n");
    return 2;
  }
  sb_err_t err = SB_ERR_INIT;
  char owner[512];
  if (dir != NULL) {
    sb_conf_t c;
    sb_conf_init(&c, NULL);
    sb_conf_set(&c, "data_dir", dir, SB_CO_FLAG, NULL, NULL);
    int rc = sb_pgserver_owner_url(&c, owner, sizeof owner, &err);
    sb_conf_free(&c);
    if (rc != 0)
      return fail("the private server", &err);
    url = owner;
  }
  sb_pg_t *pg = NULL;
  if (sb_pg_connect(url, &pg, &err) != 0)
    return fail("connect", &err);
  char schema[64], sql[1024];
  snprintf(schema, sizeof schema, "bench_rows_%d", (int)getpid());
  snprintf(sql, sizeof sql,
           "CREATE SCHEMA %s; CREATE TABLE %s.events (tenant_id text NOT "
           "NULL, topic text NOT NULL, kafka_partition integer NOT NULL, "
           "kafka_offset bigint NOT NULL, chain_seq bigint NOT NULL, event_id "
           "text NOT NULL, event_type text NOT NULL, subject text NOT NULL, "
           "occurred_at timestamptz NOT NULL, schema_id integer NOT NULL, "
           "correlation_id text, actor_user_id text, payload bytea NOT NULL, "
           "prev_hash bytea NOT NULL, hash bytea NOT NULL, PRIMARY KEY "
           "(tenant_id, topic, kafka_partition, chain_seq)); CREATE INDEX ON "
           "%s.events (tenant_id, subject, occurred_at); CREATE TABLE "
           "%s.agent_day (tenant_id text, agent text, day date, calls bigint, "
           "talk_s bigint, best integer, name text, PRIMARY KEY (tenant_id, "
           "agent, day))",
           schema, schema, schema, schema);
  int rc = sb_pg_exec(pg, sql, 0, NULL, &err) != 0 ? fail("schema", &err) : 0;
  if (rc == 0)
    rc = stage_encode(n);
  if (rc == 0)
    rc = stage_append(pg, schema, n);
  if (rc == 0)
    rc = stage_upsert(pg, schema, n, 1, 0);
  if (rc == 0)
    rc = stage_upsert(pg, schema, n, 10, 0);
  if (rc == 0)
    rc = stage_upsert(pg, schema, n, 1, 1);
  snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
  sb_pg_exec(pg, sql, 0, NULL, NULL);
  sb_pg_close(pg);
  return rc;
}
