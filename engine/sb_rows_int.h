/* Inside the table writer (sb_rows.c: definitions, values, COPY; and
 * sb_rows_keyed.c: upserts and deletes). Not for other modules. */
#ifndef SB_ROWS_INT_H
#define SB_ROWS_INT_H

#include "sb_rows.h"
#include "sb_text.h"

#include <stdint.h>

/* A key pending in the batch: the row to upsert (has_row) and whether the
 * key is deleted first. row is one block the writer owns: ncols values,
 * then the bytes of their strings; a deleted key's block holds the key's
 * values (the other columns NULL). */
typedef struct sb__rows_ent_s {
  uint64_t hash;
  sb_val_t *row;
  size_t row_bytes;
  unsigned char has_row, deleted;
} sb__rows_ent_t;

struct sb_rows_s {
  const sb_table_def_t *def;
  char schema[64];
  char qname[140]; /* "schema"."table" */
  int ncols, nkey, tenant_col;
  int *keyidx; /* column of each key column, in the key's order */
  size_t budget;

  /* appends: rows in COPY's binary format, not yet sent */
  unsigned char *copy;
  size_t copy_len, copy_cap, nappend;
  int copy_open; /* this writer's COPY is open on the connection */
  char *copy_sql;

  /* upserts and deletes, by key: entries and an open-addressing index
   * (1 + entry, 0 empty; at most half full) */
  sb__rows_ent_t *ents;
  size_t nents, ents_cap;
  uint32_t *index;
  size_t index_cap;
  size_t ent_bytes; /* the entries' blocks */
  sb_val_t *tmp;    /* ncols values of scratch */
  size_t *sizes;    /* ncols sizes of scratch */
  char *upsert_sql, *delete_sql, *lock_sql;
};

/* 1 when v is SQL NULL: marked so, or a NULL string or bytes pointer. */
static inline int sb__null(const sb_val_t *v) {
  return v->null ||
         ((v->type == SB_COL_TEXT || v->type == SB_COL_JSONB) && !v->s) ||
         (v->type == SB_COL_BYTEA && !v->p);
}

/* The value's type and bounds against its column; text as UTF-8.
 * Errors name the table and the column. *size: the bytes of its binary
 * form (0 for NULL). */
int sb__rows_check_val(const sb_rows_t *w, int col, const sb_val_t *v,
                       size_t *size, sb_err_t *err);

/* Builds the writer's upsert and delete statements (at creation). */
int sb__rows_keyed_sql(sb_rows_t *w, sb_err_t *err);
/* Writes the pending deletes then upserts; drops them on success. */
int sb__rows_keyed_flush(sb_rows_t *w, sb_pg_t *pg, sb_err_t *err);
/* Drops pending upserts and deletes; frees everything at the end. */
void sb__rows_keyed_reset(sb_rows_t *w);
void sb__rows_keyed_free(sb_rows_t *w);
size_t sb__rows_keyed_count(const sb_rows_t *w);

/* PostgreSQL's name of a column type ("bigint"). */
const char *sb__rows_pgtype(sb_coltype_t t);

#endif
