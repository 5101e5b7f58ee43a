/* GET /v1/analytics[/VIEW] and GET /v1/projections[/PROCESSOR/VIEW]: the
 * read views processors declare (vt->views, sb_view_def_t), as JSON
 * (sb_api_views.h). */
#include "sb_api_views.h"

#include "sb_api_read_int.h"
#include "sb_log.h"
#include "sb_pii.h"
#include "sb_processor.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ORDER 6 /* columns of a view's order */

/* ---- the declarations ---------------------------------------------------- */

/* The i-th "a,b,c" item of list into out: 1, or 0 past the end. */
static int list_item(const char *list, int i, char *out, size_t cap) {
  const char *p = list ? list : "";
  for (; i > 0 && p; i--)
    if ((p = strchr(p, ',')) != NULL)
      p++;
  if (p == NULL || *p == '\0')
    return 0;
  size_t n = strcspn(p, ",");
  snprintf(out, cap, "%.*s", (int)n, p);
  return 1;
}

/* The column of filter parameter param in v's "param=column" list, into
 * col: 1, or 0 when the view takes no such parameter. */
static int filter_col(const sb_view_def_t *v, const char *param, char *col,
                      size_t cap) {
  char item[2 * SB_RDQ_NAME_MAX + 2];
  for (int i = 0; list_item(v->filters, i, item, sizeof item); i++) {
    char *eq = strchr(item, '=');
    if (eq && (size_t)(eq - item) == strlen(param) &&
        strncmp(item, param, strlen(param)) == 0) {
      snprintf(col, cap, "%s", eq + 1);
      return 1;
    }
  }
  return 0;
}

static const sb_view_def_t *view_find(const char *processor,
                                      const char *name) {
  const sb_processor_vt_t *vt = sb_processor_find(processor);
  for (const sb_view_def_t *v = vt ? vt->views : NULL; v && v->name; v++)
    if (strcmp(v->name, name) == 0)
      return v;
  return NULL;
}

/* ---- parameters ---------------------------------------------------------- */

static int digits(const char *s, int n) {
  for (int i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

/* YYYY-MM-DD, or RFC 3339 (YYYY-MM-DDTHH:MM[:SS[.frac]](Z|+HH:MM)): 1 (a
 * date), 2 (a timestamp), 0 neither. PostgreSQL checks the ranges. */
int sb_api_views_time_kind(const char *s) {
  size_t n = strlen(s);
  if (n < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
      s[7] != '-' || !digits(s + 8, 2))
    return 0;
  if (n == 10)
    return 1;
  const char *p = s + 10;
  if ((*p != 'T' && *p != 't' && *p != ' ') || !digits(p + 1, 2) ||
      p[3] != ':' || !digits(p + 4, 2))
    return 0;
  p += 6;
  if (*p == ':') {
    if (!digits(p + 1, 2))
      return 0;
    p += 3;
    if (*p == '.') {
      int k = 0;
      for (p++; *p >= '0' && *p <= '9'; p++)
        k++;
      if (k < 1 || k > 6)
        return 0;
    }
  }
  if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
    return 2;
  if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' &&
      digits(p + 4, 2) && p[6] == '\0')
    return 2;
  return 0;
}

/* The query string into q for view v: 0, or -1 with q->msg naming the bad
 * parameter. */
static int parse_params(const char *qs, const sb_view_def_t *v, sb_rdq_t *q) {
  q->limit = SB_RDQ_DEFAULT_LIMIT;
  int seen_limit = 0;
  for (const char *p = qs; *p;) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    const char *next = amp ? amp + 1 : p + len;
    if (len == 0) {
      p = next;
      continue;
    }
    const char *eq = memchr(p, '=', len);
    char key[SB_RDQ_NAME_MAX + 1], val[SB_RDQ_CURSOR_MAX + 1];
    size_t klen = eq ? (size_t)(eq - p) : len;
    if (sb_rdq_url_decode(p, klen, key, sizeof key) < 0 ||
        !sb_rdq_ident_ok(key, strlen(key))) {
      snprintf(q->msg, sizeof q->msg,
               "a parameter's name is [a-z_][a-z0-9_]* (at most %d bytes)",
               SB_RDQ_NAME_MAX);
      return -1;
    }
    int vn = eq ? sb_rdq_url_decode(eq + 1, len - klen - 1, val, sizeof val)
                : -1;
    size_t cap = strcmp(key, "after") == 0 ? SB_RDQ_CURSOR_MAX
                                           : SB_RDQ_MAX_VALUE;
    if (vn < 0 || (size_t)vn > cap || (vn == 0 && eq)) {
      snprintf(q->msg, sizeof q->msg, "%s: %s", key,
               !eq       ? "needs a value (name=value)"
               : vn == 0 ? "empty"
               : vn == -1
                   ? "not a valid percent-encoded value (no control "
                     "characters)"
                   : "too long");
      return -1;
    }
    char col[SB_RDQ_NAME_MAX + 1];
    if (strcmp(key, "from") == 0 || strcmp(key, "to") == 0) {
      char *dst = key[0] == 'f' ? q->from_v : q->to_v;
      if (v->time_col == NULL) {
        snprintf(q->msg, sizeof q->msg,
                 "%s: the view %s is not by time (it takes: %s)", key,
                 v->name, v->filters ? v->filters : "limit, after");
        return -1;
      }
      if (*dst || strlen(val) >= sizeof q->from_v ||
          sb_api_views_time_kind(val) == 0) {
        snprintf(q->msg, sizeof q->msg,
                 "%s: one date (2026-12-01) or RFC 3339 time "
                 "(2026-12-01T09:00:00Z), given once", key);
        return -1;
      }
      snprintf(dst, sizeof q->from_v, "%.*s", (int)sizeof q->from_v - 1, val);
    } else if (strcmp(key, "bucket") == 0) {
      if (!q->bucketed) {
        snprintf(q->msg, sizeof q->msg, "bucket: the view %s has no buckets",
                 v->name);
        return -1;
      }
      if (*q->bucket || (strcmp(val, "hour") != 0 && strcmp(val, "day") != 0)) {
        snprintf(q->msg, sizeof q->msg, "bucket: hour or day, given once");
        return -1;
      }
      snprintf(q->bucket, sizeof q->bucket, "%s", val[0] == 'h' ? "hour" : "day");
    } else if (strcmp(key, "limit") == 0) {
      long long n;
      if (seen_limit++ || sb_parse_ll(val, &n) != 0 || n < 1 ||
          n > SB_RDQ_MAX_LIMIT) {
        snprintf(q->msg, sizeof q->msg,
                 "limit: a whole number of rows from 1 to %d, given once",
                 SB_RDQ_MAX_LIMIT);
        return -1;
      }
      q->limit = (int)n;
    } else if (strcmp(key, "after") == 0) {
      if (*q->after) {
        snprintf(q->msg, sizeof q->msg, "after: given twice");
        return -1;
      }
      snprintf(q->after, sizeof q->after, "%s", val);
    } else if (filter_col(v, key, col, sizeof col)) {
      for (int i = 0; i < q->nf; i++)
        if (strcmp(q->col[i], col) == 0) {
          snprintf(q->msg, sizeof q->msg, "%s: given twice", key);
          return -1;
        }
      if (q->nf == SB_RDQ_MAX_FILTERS) {
        snprintf(q->msg, sizeof q->msg, "at most %d filters",
                 SB_RDQ_MAX_FILTERS);
        return -1;
      }
      snprintf(q->col[q->nf], sizeof q->col[0], "%s", col);
      snprintf(q->val[q->nf], sizeof q->val[0], "%.*s",
               (int)sizeof q->val[0] - 1, val);
      q->nf++;
    } else {
      snprintf(q->msg, sizeof q->msg,
               "%s: not a parameter of the view %s (it takes: %s%s%s%s"
               "limit, after)", key, v->name,
               v->time_col ? "from, to, " : "",
               q->bucketed ? "bucket, " : "",
               v->filters ? v->filters : "", v->filters ? ", " : "");
      return -1;
    }
    p = next;
  }
  /* two dates compare as text (times with offsets are PostgreSQL's) */
  if (sb_api_views_time_kind(q->from_v) == 1 &&
      sb_api_views_time_kind(q->to_v) == 1 &&
      strcmp(q->from_v, q->to_v) >= 0) {
    snprintf(q->msg, sizeof q->msg, "from: before to (to is exclusive)");
    return -1;
  }
  return 0;
}

/* ---- on the thread pool -------------------------------------------------- */

/* The cursor (base64url of a JSON array of the order columns' values as
 * text) into vals: their number, or -1 when it is not one this view gave. */
static int cursor_open(const char *cursor, int want,
                       char vals[][SB_RDQ_MAX_VALUE + 1]) {
  unsigned char raw[SB_RDQ_CURSOR_MAX];
  long n = sb_b64url_decode(cursor, strlen(cursor), raw, sizeof raw - 1);
  if (n <= 0)
    return -1;
  raw[n] = '\0';
  cJSON *a = cJSON_Parse((const char *)raw);
  int k = 0, ok = cJSON_IsArray(a) && cJSON_GetArraySize(a) == want;
  const cJSON *it;
  cJSON_ArrayForEach(it, a) {
    if (!ok || !cJSON_IsString(it) ||
        strlen(it->valuestring) > SB_RDQ_MAX_VALUE) {
      ok = 0;
      break;
    }
    snprintf(vals[k++], SB_RDQ_MAX_VALUE + 1, "%s", it->valuestring);
  }
  cJSON_Delete(a);
  return ok ? k : -1;
}

/* The columns of schema.relation and their types, as "name type;..." into
 * out (a table or a view of a processor's schema): 1, 0 when there is no
 * such relation. */
static int relation_cols(sb_pg_t *pg, const char *schema, const char *rel,
                         char *out, size_t cap, sb_err_t *err) {
  const char *cat[] = {schema, rel};
  int found = 0, isnull = 0;
  if (sb_pg_query1(pg,
                   "SELECT string_agg(a.attname || ' ' || "
                   "format_type(a.atttypid, a.atttypmod), ';' ORDER BY "
                   "a.attnum) || ';' FROM pg_attribute a "
                   "JOIN pg_class c ON c.oid = a.attrelid "
                   "JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = $1 AND c.relname = $2 "
                   "AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 "
                   "AND NOT a.attisdropped",
                   2, cat, out, cap, &found, &isnull, err) != 0)
    return -1;
  return found && !isnull;
}

/* The type of column col in cols ("name type;..."), into type: 1, or 0. */
static int col_type(const char *cols, const char *col, char *type,
                    size_t cap) {
  size_t n = strlen(col);
  for (const char *p = cols; *p;) {
    const char *end = strchr(p, ';');
    if (end == NULL)
      break;
    if (strncmp(p, col, n) == 0 && p[n] == ' ') {
      snprintf(type, cap, "%.*s", (int)(end - p - n - 1), p + n + 1);
      return 1;
    }
    p = end + 1;
  }
  return 0;
}

static void run_view(uv_work_t *w) {
  sb_rdq_t *q = w->data;
  const sb_view_def_t *v = q->view;
  sb_err_t err = SB_ERR_INIT;
  sb_pg_rows_t *res = NULL;
  sb_text_t sql = {0};
  char msg[SB_ERR_MSG_MAX + 64];
  char ord[MAX_ORDER][SB_RDQ_NAME_MAX + 1];
  char after[MAX_ORDER][SB_RDQ_MAX_VALUE + 1];
  const char *params[SB_RDQ_MAX_FILTERS + MAX_ORDER + 6];
  int np = 0, nord = 0;
  sb_rdq_conn_t cn = sb_rdq_pool_get(q->rd, &err);
  if (cn.pg == NULL) {
    snprintf(msg, sizeof msg, "PostgreSQL did not answer: %s; retry later",
             err.msg);
    sb_rdq_fail(q, 503, "unavailable", msg);
    return;
  }
  char cols[8192], type[64];
  int rc = relation_cols(cn.pg, q->schema, q->table, cols, sizeof cols, &err);
  if (rc < 0)
    goto pg_failed;
  /* every column the declaration names is there, or the view is refused */
  const char *bad = NULL;
  if (rc == 0 || !col_type(cols, "tenant_id", type, sizeof type))
    bad = "tenant_id";
  if (!bad && v->time_col && !col_type(cols, v->time_col, type, sizeof type))
    bad = v->time_col;
  if (!bad && v->owner_col && !col_type(cols, v->owner_col, type, sizeof type))
    bad = v->owner_col;
  for (; !bad && nord < MAX_ORDER &&
         list_item(v->order, nord, ord[nord], sizeof ord[0]);
       nord++)
    if (!sb_rdq_ident_ok(ord[nord], strlen(ord[nord])) ||
        !col_type(cols, ord[nord], type, sizeof type))
      bad = ord[nord];
  for (int i = 0; !bad && i < q->nf; i++)
    if (!col_type(cols, q->col[i], type, sizeof type))
      bad = q->col[i];
  if (bad || nord == 0) {
    snprintf(msg, sizeof msg,
             "the view %s is misdeclared: %s.%s has no column %s (or no "
             "order); tell its maintainers",
             v->name, q->schema, q->table, bad ? bad : "to order by");
    sb_log(SB_LOG_ERROR, "api", "a read view is misdeclared",
           SB_F_STR("view", v->name), SB_F_STR("column", bad ? bad : "-"),
           SB_F_END);
    sb_rdq_fail(q, 500, "internal", msg);
    goto out;
  }
  /* identifiers: from the declarations, checked against the catalog */
  sb_text_add(&sql, "WITH page AS (SELECT * FROM \"%s\".\"%s\" WHERE "
              "tenant_id = $1", q->schema, q->table);
  params[np++] = q->who.tenant;
  if (v->time_col && *q->from_v) {
    col_type(cols, v->time_col, type, sizeof type);
    sb_text_add(&sql, " AND \"%s\" >= $%d::%s", v->time_col, np + 1, type);
    params[np++] = q->from_v;
  }
  if (v->time_col && *q->to_v) {
    col_type(cols, v->time_col, type, sizeof type);
    sb_text_add(&sql, " AND \"%s\" < $%d::%s", v->time_col, np + 1, type);
    params[np++] = q->to_v;
  }
  for (int i = 0; i < q->nf; i++) {
    sb_text_add(&sql, " AND \"%s\"::text = $%d", q->col[i], np + 1);
    params[np++] = q->val[i];
  }
  if (q->who.role == SB_ROLE_AGENT && v->owner_col) {
    sb_text_add(&sql, " AND \"%s\" = $%d", v->owner_col, np + 1);
    params[np++] = q->who.sub;
  }
  if (*q->after) {
    if (cursor_open(q->after, nord, after) != nord) {
      sb_rdq_fail(q, 400, "invalid",
                  "after: not a cursor this view gave (take it from the "
                  "previous page's next)");
      goto out;
    }
    sb_text_add(&sql, " AND (");
    for (int i = 0; i < nord; i++)
      sb_text_add(&sql, "%s\"%s\"", i ? ", " : "", ord[i]);
    sb_text_add(&sql, ") > (");
    for (int i = 0; i < nord; i++) {
      col_type(cols, ord[i], type, sizeof type);
      sb_text_add(&sql, "%s$%d::%s", i ? ", " : "", np + 1, type);
      params[np++] = after[i];
    }
    sb_text_add(&sql, ")");
  }
  /* the page in key order, and the last row's key (the next cursor) */
  char orderby[MAX_ORDER * (SB_RDQ_NAME_MAX + 8)] = "";
  char desc[MAX_ORDER * (SB_RDQ_NAME_MAX + 8)] = "", cur[1024] = "";
  for (int i = 0; i < nord; i++) {
    size_t u = strlen(orderby), d = strlen(desc), c = strlen(cur);
    snprintf(orderby + u, sizeof orderby - u, "%s\"%s\"", i ? ", " : "",
             ord[i]);
    snprintf(desc + d, sizeof desc - d, "%s\"%s\" DESC", i ? ", " : "",
             ord[i]);
    snprintf(cur + c, sizeof cur - c, "%s\"%s\"::text", i ? ", " : "",
             ord[i]);
  }
  sb_text_add(&sql,
              " ORDER BY %s LIMIT %d) SELECT coalesce((SELECT json_agg(p "
              "ORDER BY %s) FROM page p), '[]'::json)::text, (SELECT "
              "count(*) FROM page), (SELECT json_build_array(%s)::text FROM "
              "page ORDER BY %s LIMIT 1)",
              orderby, q->limit, orderby, cur, desc);
  if (sql.failed) {
    sb_rdq_fail(q, 503, "unavailable", "out of memory; retry later");
    goto out;
  }
  if (sb_pg_rows(cn.pg, sql.s, np, params, &res, &err) != 0) {
    if (strncmp(err.sqlstate, "22", 2) == 0) { /* a value PostgreSQL refused */
      snprintf(msg, sizeof msg, "a parameter's value: %s", err.msg);
      sb_rdq_fail(q, 400, "invalid", msg);
      goto out;
    }
    goto pg_failed;
  }
  long long count = 0;
  sb_parse_ll(sb_pg_rows_get(res, 0, 1), &count);
  const char *last = sb_pg_rows_get(res, 0, 2);
  if (count == q->limit && last != NULL) { /* there may be more */
    size_t ln = strlen(last);
    char *b = malloc(ln * 4 / 3 + 8);
    if (b == NULL || sb_b64url_encode((const unsigned char *)last, ln, b,
                                      ln * 4 / 3 + 8) < 0 ||
        strlen(b) > SB_RDQ_CURSOR_MAX) {
      free(b); /* a key past the cursor's bound: no next page offered */
      b = NULL;
    }
    q->next = b;
  }
  sb_rdq_keep_rows(q, &cn, sb_pg_rows_get(res, 0, 0), count);
out:
  sb_text_free(&sql);
  sb_pg_rows_free(res);
  sb_rdq_pool_put(q->rd, cn);
  return;
pg_failed:
  sb_text_free(&sql);
  sb_pg_rows_free(res);
  sb_pg_close(cn.pg); /* it may be broken: a new one next time */
  cn.pg = NULL;
  sb_rdq_pool_put(q->rd, cn);
  snprintf(msg, sizeof msg, "the view could not be read: %s", err.msg);
  sb_rdq_fail(q, 503, "unavailable", msg);
}

/* ---- on the loop ------------------------------------------------------------ */

/* Whether role may read view v of processor p: 0, or -1 with err. */
static int may_read(const sb_claims_t *who, const char *processor,
                    const sb_view_def_t *v, sb_err_t *err) {
  char what[2 * SB_RDQ_NAME_MAX + 2];
  snprintf(what, sizeof what, "%s.%s", processor, v->relation);
  if (sb_auth_check(who->role, SB_PERM_READ_PROJECTION, what, err) != 0)
    return -1;
  if (who->role == SB_ROLE_AGENT && v->owner_col == NULL &&
      !(v->flags & SB_VIEW_AGENTS_ALL))
    return sb_err_set(err, SB_EPERM,
                      "%s: an agent reads its own figures only, and this "
                      "view is not per agent", v->name);
  return 0;
}

static void list_views(sb_http_req_t *r, sb_api_reader_t *rd,
                       const char *only) {
  sb_rdq_t *q = sb_rdq_start(r, rd, "views");
  if (q == NULL)
    return;
  cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "views");
  for (const sb_processor_vt_t *const *vt = sb_builtin_processors; *vt; vt++) {
    if (only && strcmp((*vt)->name, only) != 0)
      continue;
    for (const sb_view_def_t *v = (*vt)->views; v && v->name; v++) {
      sb_err_t err = SB_ERR_INIT;
      if (may_read(&q->who, (*vt)->name, v, &err) != 0)
        continue; /* only what the caller may read */
      cJSON *o = cJSON_CreateObject();
      char path[160], params[400];
      snprintf(path, sizeof path, only ? "/v1/analytics/%s"
                                       : "/v1/projections/%s/%s",
               only ? v->name : (*vt)->name, v->name);
      snprintf(params, sizeof params, "%s%s%s%slimit,after",
               v->time_col ? "from,to," : "", v->hourly ? "bucket," : "",
               v->filters ? v->filters : "", v->filters ? "," : "");
      cJSON_AddStringToObject(o, "name", v->name);
      cJSON_AddStringToObject(o, "processor", (*vt)->name);
      cJSON_AddStringToObject(o, "path", path);
      cJSON_AddStringToObject(o, "about", v->about ? v->about : "");
      cJSON_AddStringToObject(o, "parameters", params);
      cJSON_AddStringToObject(o, "order", v->order);
      cJSON_AddBoolToObject(o, "per_agent", v->owner_col != NULL);
      cJSON_AddItemToArray(arr, o);
    }
  }
  char *s = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  if (s == NULL)
    sb_http_error(r, 503, "unavailable", "out of memory", "Retry-After: 1\r\n");
  else
    sb_http_respond(r, 200, "application/json", s, strlen(s),
                    "Cache-Control: no-store\r\n");
  free(s);
  sb_rdq_free(q);
}

static void get_view(sb_http_req_t *r, sb_api_reader_t *rd,
                     const char *processor, const char *name) {
  const sb_view_def_t *v = view_find(processor, name);
  sb_rdq_t *q = sb_rdq_start(r, rd, "view");
  if (q == NULL)
    return;
  char msg[400];
  if (v == NULL) {
    snprintf(msg, sizeof msg,
             "no view %.64s of %.64s (GET %s lists them)", name, processor,
             strcmp(processor, "analytics") == 0 ? "/v1/analytics"
                                                 : "/v1/projections");
    sb_http_error(r, 404, "not_found", msg, NULL);
    sb_rdq_free(q);
    return;
  }
  /* ?bucket=hour: the view's hourly sibling answers (same parameters) */
  char b[8];
  q->bucketed = v->hourly != NULL;
  if (q->bucketed && sb_api_query_param(sb_http_query(r), "bucket", b,
                                        sizeof b) == 1 &&
      strcmp(b, "hour") == 0) {
    const sb_view_def_t *h = view_find(processor, v->hourly);
    if (h == NULL) {
      sb_http_error(r, 500, "internal", "the view's hourly rows are not "
                    "declared; tell its maintainers", NULL);
      sb_rdq_free(q);
      return;
    }
    v = h;
  }
  q->view = v;
  snprintf(q->schema, sizeof q->schema, "%s", processor);
  snprintf(q->table, sizeof q->table, "%s", v->relation);
  snprintf(q->name, sizeof q->name, "%s/%s", processor, v->name);
  if (parse_params(sb_http_query(r), v, q) != 0) {
    sb_http_error(r, 400, "invalid", q->msg, NULL);
    sb_rdq_free(q);
    return;
  }
  sb_err_t err = SB_ERR_INIT;
  if (may_read(&q->who, processor, v, &err) != 0) {
    sb_ingest_record_security(rd->in, &q->from, "security.access_denied",
                              q->who.tenant, q->who.sub, "insufficient_role",
                              "view");
    sb_http_error(r, 403, "forbidden", err.msg, NULL);
    sb_rdq_free(q);
    return;
  }
  /* what the read asks for, as its record says it */
  char buf[SB_RDQ_NAME_MAX + SB_RDQ_MAX_VALUE + 2];
  int oom = 0;
  for (int i = 0; i < q->nf; i++) {
    snprintf(buf, sizeof buf, "%s=%s", q->col[i], q->val[i]);
    oom |= sb_rdq_note(q, buf);
  }
  if (*q->from_v)
    snprintf(buf, sizeof buf, "from=%s", q->from_v), oom |= sb_rdq_note(q, buf);
  if (*q->to_v)
    snprintf(buf, sizeof buf, "to=%s", q->to_v), oom |= sb_rdq_note(q, buf);
  if (*q->bucket)
    snprintf(buf, sizeof buf, "bucket=%s", q->bucket),
        oom |= sb_rdq_note(q, buf);
  snprintf(buf, sizeof buf, "limit=%d%s", q->limit, *q->after ? " after" : "");
  oom |= sb_rdq_note(q, buf);
  q->work.data = q;
  if (oom || uv_queue_work(rd->loop, &q->work, run_view, sb_rdq_after) != 0) {
    sb_http_error(r, 503, "unavailable", "out of memory or stopping; retry",
                  "Retry-After: 1\r\n");
    sb_rdq_free(q);
  }
}

void sb_api_get_analytics(sb_http_req_t *r, sb_api_reader_t *rd) {
  const char *path = sb_http_path(r);
  const char *name = strncmp(path, "/v1/analytics/", 14) == 0 ? path + 14 : "";
  if (*name == '\0')
    list_views(r, rd, "analytics");
  else
    get_view(r, rd, "analytics", name);
}

void sb_api_get_projections(sb_http_req_t *r, sb_api_reader_t *rd) {
  const char *path = sb_http_path(r);
  const char *rest =
      strncmp(path, "/v1/projections/", 16) == 0 ? path + 16 : "";
  if (*rest == '\0') {
    list_views(r, rd, NULL);
    return;
  }
  char processor[SB_RDQ_NAME_MAX + 1];
  const char *slash = strchr(rest, '/');
  if (slash == NULL || (size_t)(slash - rest) > SB_RDQ_NAME_MAX ||
      strchr(slash + 1, '/') != NULL) {
    sb_http_error(r, 404, "not_found",
                  "a view is /v1/projections/PROCESSOR/VIEW (GET "
                  "/v1/projections lists them)", NULL);
    return;
  }
  snprintf(processor, sizeof processor, "%.*s", (int)(slash - rest), rest);
  get_view(r, rd, processor, slash + 1);
}
