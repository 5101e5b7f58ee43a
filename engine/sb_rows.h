/* Table writers: a processor declares a projection table once (its columns,
 * their types, its key) and hands rows to a writer; the writer encodes them
 * and writes them in the transaction the caller has open, in as few
 * statements as it can:
 *
 *   appends  rows encoded in PostgreSQL's binary COPY format, sent as
 *            COPY schema.table (cols) FROM STDIN (FORMAT binary), either
 *            at the end (sb_rows_flush_appends) or streamed in ~64 KiB
 *            chunks while the caller decodes more (sb_rows_stream), so the
 *            server inserts while the engine works;
 *   upserts  rows merged in memory per key first (a column's merge says
 *            how: replace, sum, max, min, keep), then written in ONE
 *            INSERT ... SELECT FROM unnest(...) ON CONFLICT (key) DO UPDATE
 *            per flush, keys sorted so that two writers of one table lock
 *            rows in the same order and never deadlock each other;
 *   deletes  by key, one statement per flush, rows locked in key order
 *            (a flush with deletes and upserts first locks the stored rows
 *            of all its keys in one ordered pass: one statement more).
 *
 * A flush writes deletes before upserts: a key deleted then upserted in one
 * batch ends up holding only the rows upserted after the delete. Appends
 * and upserts of the same key in one table are not reconciled: a table is
 * written either by appends or by upserts and deletes.
 *
 * Every projection table has a tenant_id text column, never NULL in a row,
 * and a declared key includes it (rows of two tenants never merge). Names
 * (table, schema, columns) match [a-z_][a-z0-9_]{0,62} and are quoted in
 * the SQL the writer makes.
 *
 * The connection carries one thing at a time: while a writer's COPY is
 * open (after sb_rows_stream sent something) nothing else may run on it,
 * not another writer's statements nor the engine's: finish it
 * (sb_rows_finish or sb_rows_flush) first. Writers never open, commit or
 * roll back transactions; after a rollback (sb_pg_rollback abandons an open
 * COPY) the caller drops what the writer holds with sb_rows_reset.
 *
 * A writer is used by one thread at a time. Its memory is bounded: past
 * its byte budget it refuses more rows (SB_EBUSY, retriable: flush, then
 * add again). */
#ifndef SB_ROWS_H
#define SB_ROWS_H

#include "sb_err.h"
#include "sb_pg.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
  SB_COL_TEXT,        /* const char *, UTF-8 */
  SB_COL_INT8,        /* int64_t */
  SB_COL_INT4,        /* int32_t */
  SB_COL_BOOL,        /* 0 or 1 */
  SB_COL_FLOAT8,      /* double */
  SB_COL_TIMESTAMPTZ, /* int64_t microseconds since 1970-01-01 UTC */
  SB_COL_DATE,        /* int32_t days since 1970-01-01 */
  SB_COL_BYTEA,       /* bytes and a length */
  SB_COL_JSONB,       /* const char *, a JSON text */
} sb_coltype_t;

/* A column's merge, in sb_col_t.flags: how an upsert combines a row with
 * the one already there (in the batch, then in the table). NULL counts as
 * nothing for SUM, MAX and MIN (sum(NULL, 5) = 5). */
#define SB_MERGE_REPLACE 0u /* the new value (NULL included) */
#define SB_MERGE_SUM 1u     /* int8, int4, float8 */
#define SB_MERGE_MAX 2u     /* numbers, bool, timestamptz, date */
#define SB_MERGE_MIN 3u
#define SB_MERGE_KEEP 4u /* the first value; the table's row keeps its own */
#define SB_MERGE_MASK 0xfu
/* Also in sb_col_t.flags, beside the merge: the text column holds the id
 * of the agent a row belongs to, for the read API's rule "an agent sees the
 * PII of its own rows" (sb_pii_rows.h). At most one per table; a key
 * column may carry it. */
#define SB_COL_OWNER 0x10u

/* A column of a declared table that holds PII, for the read API (GET
 * /v1/projection), which reveals or masks it per the caller's role
 * (sb_pii_rows.h). A text column holding sealed values (sb_pii.h) lists
 * in pii the origins its values are copied from, "type:field" pairs
 * separated by commas ("lead.created:phone,lead.updated:phone"): a value
 * is revealed only under an origin listed (its GCM tag says which). A
 * JSONB column holding an event's whole data says "event:<column>", the
 * text column of its row that holds the event's type: its fields are
 * revealed as that type's schema marks them. A processor lists them in
 * its vtable (pii_cols, ending with {0}). */
typedef struct sb_pii_col_s {
  const char *table, *column, *pii;
} sb_pii_col_t;

typedef struct sb_col_s {
  const char *name;
  sb_coltype_t type;
  unsigned flags; /* SB_MERGE_*; 0 for key columns */
} sb_col_t;

typedef struct sb_table_def_s {
  const char *name;
  const sb_col_t *cols;   /* ends with {0} (a NULL name) */
  const char *const *key; /* NULL-terminated; NULL: appends only */
  /* Retention (engine/sb_retention.h), for a processor's table: the class
   * its rows belong to ("call", "security", ...: see sb_retention_class_ok)
   * and the timestamptz or date column that dates a row. A purge of the
   * class deletes the rows of a tenant dated before its cutoff, and the kit
   * never writes such a row again (a replay does not bring it back). NULL:
   * kept for ever. */
  const char *retention_class;
  const char *retention_col;
} sb_table_def_t;

/* A value: its type and the value. The strings and bytes are borrowed for
 * the call only (the writer copies what it keeps). */
typedef struct sb_val_s {
  sb_coltype_t type;
  int null;   /* 1: SQL NULL, whatever the type */
  size_t len; /* SB_COL_BYTEA */
  union {
    int64_t i; /* INT8, INT4, BOOL, TIMESTAMPTZ, DATE */
    double d;
    const char *s; /* TEXT, JSONB */
    const void *p; /* BYTEA */
  };
} sb_val_t;

/* Initializers: (sb_val_t[]){ SB_V_TEXT(t), SB_V_INT8(n), SB_V_NULL }.
 * SB_V_TEXT(NULL), SB_V_JSONB(NULL) and SB_V_BYTEA(NULL, 0) are NULL;
 * SB_V_BYTEA(p, 0) with p not NULL is empty. */
#define SB_V_NULL                                                              \
  { .null = 1 }
#define SB_V_TEXT(v)                                                           \
  { .type = SB_COL_TEXT, .s = (v) }
#define SB_V_JSONB(v)                                                          \
  { .type = SB_COL_JSONB, .s = (v) }
#define SB_V_INT8(v)                                                           \
  { .type = SB_COL_INT8, .i = (int64_t)(v) }
#define SB_V_INT4(v)                                                           \
  { .type = SB_COL_INT4, .i = (int32_t)(v) }
#define SB_V_BOOL(v)                                                           \
  { .type = SB_COL_BOOL, .i = (v) ? 1 : 0 }
#define SB_V_FLOAT8(v)                                                         \
  { .type = SB_COL_FLOAT8, .d = (double)(v) }
#define SB_V_TIMESTAMPTZ(us)                                                   \
  { .type = SB_COL_TIMESTAMPTZ, .i = (int64_t)(us) }
#define SB_V_DATE(days)                                                        \
  { .type = SB_COL_DATE, .i = (int32_t)(days) }
#define SB_V_BYTEA(ptr, n)                                                     \
  { .type = SB_COL_BYTEA, .p = (ptr), .len = (n) }

typedef struct sb_rows_s sb_rows_t;

#define SB_ROWS_DEFAULT_BUDGET (64u << 20)

/* Checks def (a tenant_id text column, key columns that exist and include
 * tenant_id, merges that fit their column's type, names) and makes a writer
 * of schema.def->name holding at most max_bytes (0: SB_ROWS_DEFAULT_BUDGET)
 * of pending rows. Borrows def (and its strings) for the writer's life;
 * copies schema. *out is owned by the caller: sb_rows_free. */
int sb_rows_new(const sb_table_def_t *def, const char *schema, size_t max_bytes,
                sb_rows_t **out, sb_err_t *err);
void sb_rows_free(sb_rows_t *w); /* accepts NULL */

/* Buffers one row for COPY: vals has one value per column, in the def's
 * order. A value of another type than its column, a NULL tenant_id, text
 * that is not UTF-8 or a row past the budget is refused (the error names
 * the table and the column) and nothing is buffered. */
int sb_rows_append(sb_rows_t *w, const sb_val_t *vals, sb_err_t *err);

/* Sends the buffered rows to the writer's COPY once they pass ~64 KiB,
 * opening the COPY at the first send. Does nothing below that, or while
 * the connection has another COPY open. */
int sb_rows_stream(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err);

/* Sends what is buffered and ends the writer's COPY (opening one only if
 * there are rows). Nothing to do is not an error. The two names are one
 * function: finish after streaming, flush_appends when nothing streamed. */
int sb_rows_finish(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err);
int sb_rows_flush_appends(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err);

/* Merges one row (one value per column) into the pending upserts: a key
 * already pending in the batch is merged column by column. Needs a key. */
int sb_rows_upsert(sb_rows_t *w, const sb_val_t *vals, sb_err_t *err);

/* Marks a key (one value per key column, in the key's order) for deletion,
 * dropping the key's pending upsert. Needs a key. */
int sb_rows_delete(sb_rows_t *w, const sb_val_t *key, sb_err_t *err);

/* Writes everything pending: ends the COPY of the appends, then the
 * deletes, then the upserts (one statement each, keys sorted). On success
 * the writer holds nothing; on failure the transaction is lost and the
 * caller resets the writer after its rollback. */
int sb_rows_flush(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err);

/* Drops everything pending (the batch was rolled back). */
void sb_rows_reset(sb_rows_t *w);

/* Checks the writer's declaration against the table in the database: the
 * table exists, has every declared column with the declared type, and (for
 * a key) a unique index on exactly the key's columns, which ON CONFLICT
 * needs. SB_ENOENT or SB_ESTATE naming the table and the column; run it
 * once, after the projection's migrations, so that a declaration and its
 * DDL that disagree stop the processor at its start, not at a batch. */
int sb_rows_check(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err);

/* Bytes held for pending rows; rows pending (appends + upserts + deletes). */
size_t sb_rows_pending_bytes(const sb_rows_t *w);
size_t sb_rows_pending_rows(const sb_rows_t *w);

/* 1 when a name matches [a-z_][a-z0-9_]{0,62}. */
int sb_rows_name_ok(const char *name);

#endif
