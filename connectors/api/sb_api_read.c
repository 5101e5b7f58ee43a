/* GET /v1/projection (sb_api_read.h). */
#include "sb_api_read_int.h"

#include "sb_access.h"
#include "sb_processor.h"
#include "sb_auth.h"
#include "sb_log.h"
#include "sb_keys.h"
#include "sb_pg.h"
#include "sb_pii_rows.h"
#include "sb_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILTERS SB_RDQ_MAX_FILTERS
#define MAX_VALUE SB_RDQ_MAX_VALUE
#define MAX_LIMIT SB_RDQ_MAX_LIMIT
#define DEFAULT_LIMIT SB_RDQ_DEFAULT_LIMIT
#define MAX_BODY SB_RDQ_MAX_BODY
#define NAME_MAX_LEN SB_RDQ_NAME_MAX

typedef sb_rdq_t read_t;
typedef sb_rdq_conn_t conn_t;

void sb_rdq_free(read_t *q) {
  for (int i = 0; i < q->nfilters; i++)
    free(q->filters[i]);
  free(q->rows);
  free(q->next);
  free(q);
}

int sb_rdq_note(read_t *q, const char *what) {
  if (q->nfilters >= (int)(sizeof q->filters / sizeof q->filters[0]))
    return -1;
  if ((q->filters[q->nfilters] = strdup(what)) == NULL)
    return -1;
  q->nfilters++;
  return 0;
}

int sb_rdq_ident_ok(const char *s, size_t n) {
  if (n == 0 || n > NAME_MAX_LEN || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
          s[i] == '_'))
      return 0;
  return 1;
}

/* Reads the query string into q: 0, or -1 with q->msg saying which
 * parameter is wrong. */
static int parse_query(const char *qs, read_t *q) {
  q->limit = DEFAULT_LIMIT;
  int have_name = 0, have_limit = 0;
  for (const char *p = qs; *p;) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    if (len == 0) {
      p += amp ? 1 : 0;
      if (!amp)
        break;
      continue;
    }
    char key[NAME_MAX_LEN + 1], val[MAX_VALUE + 1];
    size_t klen = eq ? (size_t)(eq - p) : len;
    int kn = sb_rdq_url_decode(p, klen, key, sizeof key);
    if (kn < 0) {
      snprintf(q->msg, sizeof q->msg,
               "a parameter's name is not a column name ([a-z_][a-z0-9_]*, "
               "at most %d bytes)", NAME_MAX_LEN);
      return -1;
    }
    int vn = eq ? sb_rdq_url_decode(eq + 1, len - klen - 1, val, sizeof val) : -1;
    if (vn < 0) {
      snprintf(q->msg, sizeof q->msg,
               "%s: %s", key,
               !eq ? "needs a value (name=value)"
               : vn == -2 ? "longer than 128 bytes"
                          : "not a valid percent-encoded value (no control "
                            "characters)");
      return -1;
    }
    if (strcmp(key, "name") == 0) {
      const char *dot = strchr(val, '.');
      if (have_name++ || dot == NULL || !sb_rdq_ident_ok(val, (size_t)(dot - val)) ||
          !sb_rdq_ident_ok(dot + 1, strlen(dot + 1))) {
        snprintf(q->msg, sizeof q->msg,
                 "name: one projection table, as schema.table "
                 "(audit.events)");
        return -1;
      }
      snprintf(q->schema, sizeof q->schema, "%.*s", (int)(dot - val), val);
      snprintf(q->table, sizeof q->table, "%s", dot + 1);
      snprintf(q->name, sizeof q->name, "%s", val);
    } else if (strcmp(key, "limit") == 0) {
      long long v;
      if (have_limit++ || sb_parse_ll(val, &v) != 0 || v < 1 || v > MAX_LIMIT) {
        snprintf(q->msg, sizeof q->msg,
                 "limit: a whole number of rows from 1 to %d, given once",
                 MAX_LIMIT);
        return -1;
      }
      q->limit = (int)v;
    } else {
      if (!sb_rdq_ident_ok(key, (size_t)kn)) {
        snprintf(q->msg, sizeof q->msg,
                 "a filter names a column ([a-z_][a-z0-9_]*); '%.40s' is not "
                 "one", key);
        return -1;
      }
      for (int i = 0; i < q->nf; i++)
        if (strcmp(q->col[i], key) == 0) {
          snprintf(q->msg, sizeof q->msg, "%s: given twice", key);
          return -1;
        }
      if (q->nf == MAX_FILTERS) {
        snprintf(q->msg, sizeof q->msg, "at most %d filters", MAX_FILTERS);
        return -1;
      }
      snprintf(q->col[q->nf], sizeof q->col[0], "%s", key);
      snprintf(q->val[q->nf], sizeof q->val[0], "%s", val);
      q->nf++;
    }
    if (!amp)
      break;
    p = amp + 1;
  }
  if (!have_name) {
    snprintf(q->msg, sizeof q->msg,
             "name: required, the projection table as schema.table "
             "(audit.events)");
    return -1;
  }
  return 0;
}

/* ---- on the thread pool ------------------------------------------------- */

conn_t sb_rdq_pool_get(sb_api_reader_t *rd, sb_err_t *err) {
  conn_t cn = {0};
  pthread_mutex_lock(&rd->lock);
  if (rd->nidle > 0)
    cn = rd->idle[--rd->nidle];
  pthread_mutex_unlock(&rd->lock);
  if (cn.pg == NULL && sb_pg_connect(rd->c->database_url, &cn.pg, err) == 0 &&
      sb_pg_exec(cn.pg, "SET statement_timeout = '10s'", 0, NULL, err) != 0) {
    sb_pg_close(cn.pg);
    cn.pg = NULL;
  }
  return cn;
}

static void conn_close(conn_t *cn) {
  sb_pg_close(cn->pg);
  sb_keys_free(cn->keys);
  cn->pg = NULL;
  cn->keys = NULL;
}

/* Back to the pool; a connection that may be broken is closed (pg NULL),
 * the key store kept. */
void sb_rdq_pool_put(sb_api_reader_t *rd, conn_t cn) {
  if (cn.pg == NULL) {
    conn_close(&cn);
    return;
  }
  pthread_mutex_lock(&rd->lock);
  if (rd->nidle < SB_RDQ_POOL_MAX) {
    rd->idle[rd->nidle++] = cn;
    cn.pg = NULL;
    cn.keys = NULL;
  }
  pthread_mutex_unlock(&rd->lock);
  conn_close(&cn);
}

void sb_rdq_fail(read_t *q, int status, const char *code,
                  const char *msg) {
  q->status = status;
  snprintf(q->code, sizeof q->code, "%s", code);
  snprintf(q->msg, sizeof q->msg, "%.*s", (int)sizeof q->msg - 1, msg);
}

/* The column of schema's table naming the agent its rows belong to
 * (SB_COL_OWNER in a built-in processor's table), or NULL. */
static const char *owner_col(const char *schema, const char *table) {
  const sb_processor_vt_t *vt = sb_processor_find(schema);
  for (const sb_table_def_t *const *t = vt ? vt->tables : NULL; t && *t; t++)
    if (strcmp((*t)->name, table) == 0)
      for (const sb_col_t *c = (*t)->cols; c->name; c++)
        if (c->flags & SB_COL_OWNER)
          return c->name;
  return NULL;
}

void sb_rdq_keep_rows(read_t *q, conn_t *cn, const char *json,
                       long long count) {
  sb_err_t err = SB_ERR_INIT;
  char msg[SB_ERR_MSG_MAX + 64];
  cJSON *rows = NULL;
  char *revealed = NULL;
  /* PII cells revealed or masked for the caller (sb_pii_rows.h) */
  sb_pii_table_t pt;
  if (json && sb_pii_table_find(q->schema, q->table, &pt)) {
    int failed = 0;
    if (q->rd->schemas == NULL) {
      sb_rdq_fail(q, 503, "unavailable", "the schemas could not be loaded");
      goto out;
    }
    if ((rows = cJSON_Parse(json)) == NULL) {
      sb_rdq_fail(q, 503, "unavailable", "out of memory; retry later");
      goto out;
    }
    if ((cn->keys == NULL && sb_keys_open(q->rd->c, &cn->keys, &err) != 0) ||
        sb_pii_reveal_rows(cn->keys, q->rd->schemas, &pt, q->who.tenant,
                           sb_role_name(q->who.role), q->who.sub, rows,
                           &failed, &err) != 0) {
      snprintf(msg, sizeof msg,
               "the keys to reveal PII could not be reached: %.900s; retry "
               "later", err.msg);
      sb_rdq_fail(q, 503, "unavailable", msg);
      goto out;
    }
    if ((revealed = cJSON_PrintUnformatted(rows)) == NULL) {
      sb_rdq_fail(q, 503, "unavailable", "out of memory; retry later");
      goto out;
    }
    json = revealed;
  }
  size_t n = json ? strlen(json) : 0;
  if (n > MAX_BODY) {
    snprintf(msg, sizeof msg,
             "the rows take more than %u MiB: lower limit or add filters",
             MAX_BODY >> 20);
    sb_rdq_fail(q, 413, "too_large", msg);
    goto out;
  }
  if ((q->rows = strdup(json ? json : "[]")) == NULL) {
    sb_rdq_fail(q, 503, "unavailable", "out of memory; retry later");
    goto out;
  }
  q->count = count;
  q->status = 200;
out:
  if (revealed) {
    sb_pii_wipe(revealed, strlen(revealed));
    free(revealed);
  }
  cJSON_Delete(rows); /* (cJSON frees its strings unwiped) */
}

static void run_query(uv_work_t *w) {
  read_t *q = w->data;
  sb_err_t err = SB_ERR_INIT;
  sb_pg_rows_t *res = NULL;
  char msg[SB_ERR_MSG_MAX + 64];
  conn_t cn = sb_rdq_pool_get(q->rd, &err);
  sb_pg_t *pg = cn.pg;
  if (pg == NULL) {
    snprintf(msg, sizeof msg, "PostgreSQL did not answer: %s; retry later",
             err.msg);
    sb_rdq_fail(q, 503, "unavailable", msg);
    return;
  }
  /* a table of a processor's projection, and its columns */
  const char *cat[] = {q->schema, q->table};
  char cols[8192];
  int found = 0, isnull = 0;
  if (sb_pg_query1(pg,
                   "SELECT string_agg(a.attname, ',') FROM pg_attribute a "
                   "JOIN pg_class c ON c.oid = a.attrelid "
                   "JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = $1 AND c.relname = $2 "
                   "AND c.relkind IN ('r', 'p') AND a.attnum > 0 "
                   "AND NOT a.attisdropped AND EXISTS (SELECT 1 FROM "
                   "sb.projection_steps s WHERE s.schema_oid = n.oid)",
                   2, cat, cols, sizeof cols, &found, &isnull, &err) != 0)
    goto pg_failed;
  if (!found || isnull) {
    snprintf(msg, sizeof msg, "no projection table %s", q->name);
    sb_rdq_fail(q, 404, "not_found", msg);
    goto out;
  }
  char list[sizeof cols + 2];
  snprintf(list, sizeof list, ",%s,", cols);
  char want[NAME_MAX_LEN + 3];
  snprintf(want, sizeof want, ",tenant_id,");
  if (strstr(list, want) == NULL) {
    snprintf(msg, sizeof msg, "%s has no tenant_id: not readable here",
             q->name);
    sb_rdq_fail(q, 404, "not_found", msg);
    goto out;
  }
  for (int i = 0; i < q->nf; i++) {
    snprintf(want, sizeof want, ",%s,", q->col[i]);
    if (strstr(list, want) == NULL) {
      snprintf(msg, sizeof msg, "%s: not a column of %s", q->col[i], q->name);
      sb_rdq_fail(q, 400, "invalid", msg);
      goto out;
    }
  }
  /* identifiers checked above ([a-z_][a-z0-9_]*), quoted all the same */
  sb_text_t sql = {0};
  sb_text_add(&sql,
              "SELECT coalesce(json_agg(t), '[]'::json)::text, count(*) FROM "
              "(SELECT * FROM \"%s\".\"%s\" WHERE tenant_id = $1",
              q->schema, q->table);
  const char *params[MAX_FILTERS + 2] = {q->who.tenant};
  for (int i = 0; i < q->nf; i++) {
    sb_text_add(&sql, " AND \"%s\"::text = $%d", q->col[i], i + 2);
    params[i + 1] = q->val[i];
  }
  int np = q->nf + 1;
  /* an agent reads the rows that are its own (the table's owner column) */
  const char *owner = owner_col(q->schema, q->table);
  if (q->who.role == SB_ROLE_AGENT) { /* (checked: it has one) */
    sb_text_add(&sql, " AND \"%s\" = $%d", owner, np + 1);
    params[np++] = q->who.sub;
  }
  sb_text_add(&sql, " LIMIT %d) t", q->limit);
  if (sql.failed) {
    sb_text_free(&sql);
    sb_rdq_fail(q, 503, "unavailable", "out of memory; retry later");
    goto out;
  }
  int rc = sb_pg_rows(pg, sql.s, np, params, &res, &err);
  sb_text_free(&sql);
  if (rc != 0)
    goto pg_failed;
  long long cnt = 0;
  sb_parse_ll(sb_pg_rows_get(res, 0, 1), &cnt);
  sb_rdq_keep_rows(q, &cn, sb_pg_rows_get(res, 0, 0), cnt);
out:
  sb_pg_rows_free(res);
  sb_rdq_pool_put(q->rd, cn);
  return;
pg_failed:
  sb_pg_rows_free(res);
  sb_pg_close(pg); /* it may be broken: a new one next time */
  cn.pg = NULL;
  sb_rdq_pool_put(q->rd, cn);
  snprintf(msg, sizeof msg, "the projection could not be read: %s", err.msg);
  sb_rdq_fail(q, 503, "unavailable", msg);
}

/* ---- back on the loop ---------------------------------------------------- */

static void on_recorded(void *ud, int status, const char *message) {
  read_t *q = ud;
  if (status != 0) {
    if (status == SB_EINVAL)
      sb_http_error(q->req, 400, "invalid", message, NULL);
    else
      sb_http_error(q->req, 503, "unavailable", message, "Retry-After: 1\r\n");
    sb_rdq_free(q);
    return;
  }
  sb_text_t t = {0};
  sb_text_add(&t, "{\"%s\":\"%s\",\"count\":%lld,\"rows\":", q->kind,
              q->name, q->count);
  sb_text_put(&t, q->rows, strlen(q->rows));
  if (q->view != NULL) /* a view's page: the next one's cursor, or null */
    sb_text_add(&t, ",\"next\":%s%s%s", q->next ? "\"" : "",
                q->next ? q->next : "null", q->next ? "\"" : "");
  sb_text_put(&t, "}\n", 2);
  if (t.failed)
    sb_http_error(q->req, 503, "unavailable", "out of memory; retry later",
                  "Retry-After: 1\r\n");
  else
    sb_http_respond(q->req, 200, "application/json", t.s, t.len,
                    "Cache-Control: no-store\r\n");
  sb_text_free(&t);
  sb_rdq_free(q);
}

void sb_rdq_after(uv_work_t *w, int status) {
  read_t *q = w->data;
  if (status != 0 || q->status != 200) { /* nothing was read */
    if (status != 0)
      sb_rdq_fail(q, 503, "unavailable", "the server is stopping; retry");
    sb_http_error(q->req, q->status, q->code, q->msg,
                  q->status == 503 ? "Retry-After: 1\r\n" : NULL);
    sb_rdq_free(q);
    return;
  }
  /* the rows are answered once the read is recorded (sb_access.h) */
  sb_read_t rd = {
      .tenant = q->who.tenant,
      .user = q->who.sub,
      .role = sb_role_name(q->who.role),
      .ip = q->from.ip,
      .user_agent = q->from.user_agent,
      .method = q->from.method,
      .route = q->from.path,
      .resource_type = q->kind,
      .resource_id = q->name,
      .filters = (const char *const *)q->filters,
      .nfilters = (size_t)q->nfilters,
      .rows = (uint64_t)q->count,
  };
  sb_ingest_record_read(q->rd->in, &rd, on_recorded, q);
}

read_t *sb_rdq_start(sb_http_req_t *r, sb_api_reader_t *rd,
                      const char *kind) {
  const char *auth = sb_http_header(r, "Authorization");
  const char *token =
      auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
  read_t *q = calloc(1, sizeof *q);
  if (q == NULL) {
    sb_http_error(r, 503, "unavailable", "out of memory", "Retry-After: 1\r\n");
    return NULL;
  }
  if (sb_ingest_authenticate(rd->in, r, token, &q->who) != 0) {
    free(q); /* answered 401 and recorded */
    return NULL;
  }
  q->rd = rd;
  q->req = r;
  q->kind = kind;
  q->from = sb_client_info(r);
  return q;
}

void sb_api_get_projection(sb_http_req_t *r, sb_api_reader_t *rd) {
  read_t *q = sb_rdq_start(r, rd, "projection");
  if (q == NULL)
    return;
  if (parse_query(sb_http_query(r), q) != 0) {
    sb_http_error(r, 400, "invalid", q->msg, NULL);
    sb_rdq_free(q);
    return;
  }
  sb_err_t err = SB_ERR_INIT;
  if (sb_auth_check(q->who.role, SB_PERM_READ_PROJECTION, q->name, &err) ==
          0 &&
      q->who.role == SB_ROLE_AGENT && owner_col(q->schema, q->table) == NULL)
    sb_err_set(&err, SB_EPERM,
               "%s: an agent reads only tables whose rows belong to an agent "
               "(this one has no owner column); GET /v1/projections lists "
               "the views an agent may read", q->name);
  if (err.code != 0) {
    sb_ingest_record_security(rd->in, &q->from, "security.access_denied",
                              q->who.tenant, q->who.sub, "insufficient_role",
                              "projection");
    sb_http_error(r, 403, "forbidden", err.msg, NULL);
    sb_rdq_free(q);
    return;
  }
  /* what the read asks for, as its record says it */
  char buf[NAME_MAX_LEN + MAX_VALUE + 2];
  for (int i = 0; i <= q->nf; i++) {
    if (i < q->nf)
      snprintf(buf, sizeof buf, "%s=%s", q->col[i], q->val[i]);
    else
      snprintf(buf, sizeof buf, "limit=%d", q->limit);
    if ((q->filters[q->nfilters] = strdup(buf)) == NULL) {
      sb_http_error(r, 503, "unavailable", "out of memory",
                    "Retry-After: 1\r\n");
      sb_rdq_free(q);
      return;
    }
    q->nfilters++;
  }
  q->work.data = q;
  if (uv_queue_work(rd->loop, &q->work, run_query, sb_rdq_after) != 0) {
    sb_http_error(r, 503, "unavailable", "the server is stopping; retry",
                  "Retry-After: 1\r\n");
    sb_rdq_free(q);
  }
}

int sb_api_reader_new(uv_loop_t *loop, const sb_conf_t *c, sb_ingest_t *in,
                      sb_api_reader_t **out, sb_err_t *err) {
  *out = NULL;
  sb_api_reader_t *rd = calloc(1, sizeof *rd);
  if (rd == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  rd->c = c;
  rd->loop = loop;
  rd->in = in;
  /* without the schemas, reads of tables with PII fail 503 (never answered
   * unrevealed-and-unmasked to whom may not see it: they stay sealed) */
  sb_err_t serr = SB_ERR_INIT;
  if (sb_schemas_load(&rd->schemas, &serr) != 0)
    sb_log(SB_LOG_ERROR, "api", "cannot load the schemas: reads of tables "
           "with PII will fail", SB_F_STR("error", serr.msg), SB_F_END);
  pthread_mutex_init(&rd->lock, NULL);
  *out = rd;
  return 0;
}

void sb_api_reader_free(sb_api_reader_t *rd) {
  if (rd == NULL)
    return;
  for (int i = 0; i < rd->nidle; i++)
    conn_close(&rd->idle[i]);
  sb_schemas_free(rd->schemas);
  pthread_mutex_destroy(&rd->lock);
  free(rd);
}
