/* PostgreSQL through libpq. Only this file and the runtime's transaction
 * writer include libpq; errors are translated here, with the SQLSTATE. */
#ifndef SB_PG_H
#define SB_PG_H

#include "sb_err.h"

#include <stddef.h>

typedef struct sb_pg_s sb_pg_t;

/* Connects to url. *out is owned by the caller (sb_pg_close accepts NULL).
 * Errors never contain the password. */
int sb_pg_connect(const char *url, sb_pg_t **out, sb_err_t *err);
void sb_pg_close(sb_pg_t *pg);

/* Runs sql (may hold several statements when nparams is 0), discarding any
 * rows. params are text values; NULL entries are SQL NULL. */
int sb_pg_exec(sb_pg_t *pg, const char *sql, int nparams,
               const char *const *params, sb_err_t *err);

/* Runs a query expected to return at most one row and copies its first
 * column into out. *found is 0 for no row, 1 otherwise; a NULL value gives
 * found 1 and an empty out with *isnull set (isnull may be NULL). */
int sb_pg_query1(sb_pg_t *pg, const char *sql, int nparams,
                 const char *const *params, char *out, size_t outsz,
                 int *found, int *isnull, sb_err_t *err);

/* Rows of a query, as text. */
typedef struct sb_pg_rows_s sb_pg_rows_t;
int sb_pg_rows(sb_pg_t *pg, const char *sql, int nparams,
               const char *const *params, sb_pg_rows_t **out, sb_err_t *err);
int sb_pg_rows_count(const sb_pg_rows_t *r);
/* The value at (row, col); NULL for SQL NULL. Borrowed from r. */
const char *sb_pg_rows_get(const sb_pg_rows_t *r, int row, int col);

/* Walks a query's rows through a cursor, 5000 rows a FETCH, in one
 * REPEATABLE READ READ ONLY transaction (a consistent snapshot however long
 * the walk), calling fn for each row; stops at fn's first non-zero. The
 * connection must have no transaction open. */
typedef int (*sb_pg_row_fn)(void *ctx, const sb_pg_rows_t *rows, int i,
                            sb_err_t *err);
int sb_pg_each_row(sb_pg_t *pg, const char *query, int nparams,
                   const char *const *params, sb_pg_row_fn fn, void *ctx,
                   sb_err_t *err);
void sb_pg_rows_free(sb_pg_rows_t *r);

/* COPY ... FROM STDIN streamed: the server parses and inserts what it was
 * sent while the caller prepares the rest. Between begin and end the
 * connection takes nothing else. Errors in the data surface at end (or at
 * a later put, once the server has given up). */
int sb_pg_copy_begin(sb_pg_t *pg, const char *copy_sql, sb_err_t *err);
int sb_pg_copy_put(sb_pg_t *pg, const void *data, size_t len, sb_err_t *err);
int sb_pg_copy_end(sb_pg_t *pg, sb_err_t *err);
int sb_pg_copying(const sb_pg_t *pg);
/* Ends an open COPY as failed: the transaction is left in error, for a
 * ROLLBACK TO SAVEPOINT or a ROLLBACK. Never fails. */
void sb_pg_copy_abandon(sb_pg_t *pg);

/* Abandons an open COPY, if any, and rolls the transaction back. Never
 * fails (a broken connection shows at its next use). */
void sb_pg_rollback(sb_pg_t *pg);

/* Sets role's password to a SCRAM-SHA-256 verifier computed here, so the
 * password itself never reaches the server (nor its logs). Needs the
 * privilege to ALTER ROLE role (a superuser, CREATEROLE, or role itself). */
int sb_pg_set_password(sb_pg_t *pg, const char *role, const char *password,
                       sb_err_t *err);

/* libpq's version number (e.g. 150018). */
int sb_pg_libversion(void);

/* The underlying PGconn, for modules that wrap libpq themselves. */
void *sb_pg_conn(sb_pg_t *pg);

#endif
