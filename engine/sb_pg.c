#include "sb_pg.h"

#include "sb_log.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

struct sb_pg_s {
  PGconn *conn;
  int copying; /* inside COPY ... FROM STDIN */
};

static void notice_cb(void *arg, const char *message) {
  (void)arg;
  char line[1024];
  snprintf(line, sizeof line, "%s", message);
  size_t n = strlen(line);
  if (n > 0 && line[n - 1] == '\n')
    line[n - 1] = '\0';
  sb_log(SB_LOG_DEBUG, "pg", line, SB_F_END);
}

/* libpq's messages end with a newline and may span lines; keep one line. */
static void one_line(const char *in, char *out, size_t sz) {
  snprintf(out, sz, "%s", in ? in : "");
  for (char *p = out; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  size_t n = strlen(out);
  while (n > 0 && out[n - 1] == ' ')
    out[--n] = '\0';
}

int sb_pg_connect(const char *url, sb_pg_t **out, sb_err_t *err) {
  *out = NULL;
  sb_pg_t *pg = calloc(1, sizeof *pg);
  if (pg == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  pg->conn = PQconnectdb(url);
  if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK) {
    char msg[512], safe[256];
    one_line(pg->conn ? PQerrorMessage(pg->conn) : "out of memory", msg,
             sizeof msg);
    sb_url_redact(url, safe, sizeof safe);
    sb_pg_close(pg);
    return sb_err_set(err, SB_EUNAVAIL, "postgres: cannot connect to %s: %s",
                      safe, msg);
  }
  PQsetNoticeProcessor(pg->conn, notice_cb, NULL);
  *out = pg;
  return 0;
}

void sb_pg_close(sb_pg_t *pg) {
  if (pg == NULL)
    return;
  if (pg->conn != NULL)
    PQfinish(pg->conn);
  free(pg);
}

int sb_pg_libversion(void) { return PQlibVersion(); }

int sb_pg_set_password(sb_pg_t *pg, const char *role, const char *password,
                       sb_err_t *err) {
  char *verifier = PQencryptPasswordConn(pg->conn, password, role,
                                         "scram-sha-256");
  if (verifier == NULL) {
    char msg[512];
    one_line(PQerrorMessage(pg->conn), msg, sizeof msg);
    return sb_err_set(err, SB_EPG, "postgres: cannot hash the password of "
                                   "role %s: %s", role, msg);
  }
  char *ident = PQescapeIdentifier(pg->conn, role, strlen(role));
  char *lit = PQescapeLiteral(pg->conn, verifier, strlen(verifier));
  PQfreemem(verifier);
  int rc;
  if (ident == NULL || lit == NULL) {
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  } else {
    size_t cap = strlen(ident) + strlen(lit) + 32;
    char *sql = malloc(cap);
    if (sql == NULL) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    } else {
      snprintf(sql, cap, "ALTER ROLE %s PASSWORD %s", ident, lit);
      rc = sb_pg_exec(pg, sql, 0, NULL, err);
      free(sql);
    }
  }
  PQfreemem(ident);
  PQfreemem(lit);
  return rc;
}

void *sb_pg_conn(sb_pg_t *pg) { return pg->conn; }

static int result_err(sb_pg_t *pg, PGresult *res, sb_err_t *err) {
  char msg[768];
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  one_line(res ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn), msg,
           sizeof msg);
  int code = SB_EPG;
  /* connection failures are retriable; data and syntax errors are not */
  int rc = sb_err_set(err, code, "postgres: %s%s%s%s", msg,
                      state ? " (SQLSTATE " : "", state ? state : "",
                      state ? ")" : "");
  if (err != NULL && err->code == code && state && err->sqlstate[0] == '\0')
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", state);
  if (err != NULL && err->code == code)
    err->retriable = PQstatus(pg->conn) != CONNECTION_OK ||
                     (state && (strncmp(state, "08", 2) == 0 ||
                                strcmp(state, "40001") == 0 ||
                                strcmp(state, "40P01") == 0));
  return rc;
}

static PGresult *run(sb_pg_t *pg, const char *sql, int nparams,
                     const char *const *params) {
  if (nparams == 0)
    return PQexec(pg->conn, sql);
  return PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

int sb_pg_exec(sb_pg_t *pg, const char *sql, int nparams,
               const char *const *params, sb_err_t *err) {
  PGresult *res = run(pg, sql, nparams, params);
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  int rc = 0;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    rc = result_err(pg, res, err);
  PQclear(res);
  return rc;
}

int sb_pg_query1(sb_pg_t *pg, const char *sql, int nparams,
                 const char *const *params, char *out, size_t outsz,
                 int *found, int *isnull, sb_err_t *err) {
  *found = 0;
  if (outsz > 0)
    out[0] = '\0';
  if (isnull)
    *isnull = 0;
  PGresult *res = run(pg, sql, nparams, params);
  int rc = 0;
  if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
    rc = result_err(pg, res, err);
    goto out;
  }
  if (PQntuples(res) == 0)
    goto out;
  *found = 1;
  if (PQgetisnull(res, 0, 0)) {
    if (isnull)
      *isnull = 1;
    goto out;
  }
  snprintf(out, outsz, "%s", PQgetvalue(res, 0, 0));
out:
  PQclear(res);
  return rc;
}

int sb_pg_copy_begin(sb_pg_t *pg, const char *copy_sql, sb_err_t *err) {
  if (pg->copying)
    return sb_err_set(err, SB_EINTERNAL, "postgres: a COPY is already open");
  PGresult *res = PQexec(pg->conn, copy_sql);
  int rc = 0;
  if (res == NULL || PQresultStatus(res) != PGRES_COPY_IN)
    rc = result_err(pg, res, err);
  else
    pg->copying = 1;
  PQclear(res);
  return rc;
}

/* The COPY statement's outcome, once the server has ended it: the first
 * error among its results, with the SQLSTATE. */
static int copy_outcome(sb_pg_t *pg, sb_err_t *err) {
  pg->copying = 0;
  int rc = 0;
  PGresult *res;
  while ((res = PQgetResult(pg->conn)) != NULL) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0)
      rc = result_err(pg, res, err);
    PQclear(res);
  }
  return rc;
}

int sb_pg_copy_put(sb_pg_t *pg, const void *data, size_t len, sb_err_t *err) {
  const char *p = data;
  while (len > 0) { /* CopyData messages carry an int length */
    int n = len > (1u << 30) ? 1 << 30 : (int)len;
    if (PQputCopyData(pg->conn, p, n) != 1) {
      /* the server gave up on the COPY (bad data): its error is the
       * statement's result */
      int rc = copy_outcome(pg, err);
      return rc != 0 ? rc : result_err(pg, NULL, err);
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Ends the COPY; fail_msg non-NULL abandons it (the server reports it as
 * the statement's error). Returns the statement's outcome. */
static int copy_finish(sb_pg_t *pg, const char *fail_msg, sb_err_t *err) {
  pg->copying = 0;
  if (PQputCopyEnd(pg->conn, fail_msg) != 1)
    return result_err(pg, NULL, err);
  return copy_outcome(pg, err);
}

int sb_pg_copy_end(sb_pg_t *pg, sb_err_t *err) {
  if (!pg->copying)
    return sb_err_set(err, SB_EINTERNAL, "postgres: no COPY is open");
  return copy_finish(pg, NULL, err);
}

int sb_pg_copying(const sb_pg_t *pg) { return pg->copying; }

void sb_pg_copy_abandon(sb_pg_t *pg) {
  if (pg != NULL && pg->copying)
    copy_finish(pg, "abandoned: the processor's part was rolled back", NULL);
}

void sb_pg_rollback(sb_pg_t *pg) {
  if (pg == NULL)
    return;
  if (pg->copying)
    copy_finish(pg, "abandoned: the batch was rolled back", NULL);
  sb_pg_exec(pg, "ROLLBACK", 0, NULL, NULL);
}

int sb_pg_rows(sb_pg_t *pg, const char *sql, int nparams,
               const char *const *params, sb_pg_rows_t **out, sb_err_t *err) {
  *out = NULL;
  PGresult *res = run(pg, sql, nparams, params);
  if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
    int rc = result_err(pg, res, err);
    PQclear(res);
    return rc;
  }
  *out = (sb_pg_rows_t *)res;
  return 0;
}

int sb_pg_rows_count(const sb_pg_rows_t *r) {
  return r ? PQntuples((const PGresult *)r) : 0;
}

const char *sb_pg_rows_get(const sb_pg_rows_t *r, int row, int col) {
  const PGresult *res = (const PGresult *)r;
  if (PQgetisnull(res, row, col))
    return NULL;
  return PQgetvalue(res, row, col);
}

void sb_pg_rows_free(sb_pg_rows_t *r) { PQclear((PGresult *)r); }

int sb_pg_each_row(sb_pg_t *pg, const char *query, int nparams,
                   const char *const *params, sb_pg_row_fn fn, void *ctx,
                   sb_err_t *err) {
  enum { FETCH = 5000 };
  size_t len = strlen(query) + 64;
  char *decl = malloc(len);
  if (decl == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  snprintf(decl, len, "DECLARE c NO SCROLL CURSOR FOR %s", query);
  int rc = sb_pg_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
                      NULL, err);
  if (rc == 0)
    rc = sb_pg_exec(pg, decl, nparams, params, err);
  free(decl);
  while (rc == 0) {
    sb_pg_rows_t *rows = NULL;
    rc = sb_pg_rows(pg, "FETCH 5000 FROM c", 0, NULL, &rows, err);
    int n = sb_pg_rows_count(rows);
    for (int i = 0; rc == 0 && i < n; i++)
      rc = fn(ctx, rows, i, err);
    sb_pg_rows_free(rows);
    if (n < FETCH)
      break;
  }
  sb_pg_exec(pg, rc == 0 ? "COMMIT" : "ROLLBACK", 0, NULL, NULL);
  return rc;
}
