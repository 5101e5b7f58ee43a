/* switchboard analytics check: the recomputation check. Decodes the audit
 * log's events (audit.events keeps each event's Avro payload) with the
 * engine's codec into a temporary table, streamed (one cursor walk, COPY
 * into a second connection: memory bounded whatever the log's size),
 * recomputes every family's table with plain SQL (cmd_analytics_sql.c)
 * and compares it with the analytics projection, EXCEPT ALL both ways. */
#include "cmd_analytics.h"
#include "sb_cmds.h"
#include "sb_codec.h"
#include "sb_pg.h"
#include "sb_schema.h"
#include "sb_time.h"
#include "sb_util.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHK_LINE_MAX (1024 * 1024) /* one event's COPY line, at most */
#define CHK_SQL_MAX 16384

typedef struct {
  sb_codec_t *codec;
  sb_pg_t *dst;
  unsigned char *buf;
  size_t cap;
  char *line; /* CHK_LINE_MAX bytes */
  long long rows;
  int progress;
} load_t;

/* Appends s to line at *at, escaped for COPY's text format; -1 when it
 * does not fit. */
static int put_field(char *line, size_t *at, const char *s) {
  for (; s && *s; s++) {
    const char *esc = NULL;
    switch (*s) {
    case '\\': esc = "\\\\"; break;
    case '\t': esc = "\\t"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    default: break;
    }
    size_t n = esc ? 2 : 1;
    if (*at + n + 2 > CHK_LINE_MAX)
      return -1;
    if (esc)
      memcpy(line + *at, esc, 2);
    else
      line[*at] = *s;
    *at += n;
  }
  if (s == NULL) { /* NULL */
    if (*at + 4 > CHK_LINE_MAX)
      return -1;
    memcpy(line + *at, "\\N", 2);
    *at += 2;
  }
  return 0;
}

static int load_row(void *ctx, const sb_pg_rows_t *r, int i, sb_err_t *err) {
  load_t *x = ctx;
  const char *hex = sb_pg_rows_get(r, i, 0);
  const char *id = sb_pg_rows_get(r, i, 1);
  size_t need = strlen(hex) / 2 + 1;
  if (need > x->cap) {
    unsigned char *b = realloc(x->buf, need);
    if (b == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    x->buf = b;
    x->cap = need;
  }
  long n = sb_bytea_unhex(hex, x->buf, x->cap);
  sb_event_t ev;
  cJSON *ce = NULL;
  if (n < 0 || sb_codec_decode(x->codec, x->buf, (size_t)n, &ev, err) != 0 ||
      sb_codec_to_ce(x->codec, &ev, &ce, err) != 0) {
    sb_err_prefix(err, "audit row of event %s: ", id);
    return err->code ? err->code : SB_EDECODE;
  }
  cJSON *data = cJSON_GetObjectItemCaseSensitive(ce, "data");
  char *json = data ? cJSON_PrintUnformatted(data) : NULL;
  cJSON_Delete(ce);
  if (data != NULL && json == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  size_t at = 0;
  int rc = 0;
  static const int cols[5] = {2, 1, 3, 4, 5}; /* tenant, id, type, subject, t */
  for (int c = 0; c < 5 && rc == 0; c++) {
    if (put_field(x->line, &at, sb_pg_rows_get(r, i, cols[c])) != 0)
      rc = -1;
    x->line[at++] = '\t';
  }
  if (rc == 0 && put_field(x->line, &at, json ? json : "{}") != 0)
    rc = -1;
  cJSON_free(json);
  if (rc != 0)
    return sb_err_set(err, SB_EINVAL, "event %s: over %d bytes as a COPY "
                      "line", id, CHK_LINE_MAX);
  x->line[at++] = '\n';
  if (sb_pg_copy_put(x->dst, x->line, at, err) != 0)
    return err->code;
  if (++x->rows % 100000 == 0 && x->progress)
    fprintf(stderr, "analytics check: %lld events decoded\n", x->rows);
  return 0;
}

/* Appends printf output to sql[CHK_SQL_MAX]; SB_EINVAL when it does not
 * fit. */
static int cat(char *sql, sb_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cat(char *sql, sb_err_t *err, const char *fmt, ...) {
  size_t at = strlen(sql);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(sql + at, CHK_SQL_MAX - at, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= CHK_SQL_MAX - at)
    return sb_err_set(err, SB_EINVAL, "analytics check: a query over %d "
                      "bytes", CHK_SQL_MAX);
  return 0;
}

/* "c1 <> 0 OR c2 <> 0 ..." of a comma-separated column list. */
static int nonzero(char *sql, const char *sums, sb_err_t *err) {
  const char *p = sums;
  int first = 1;
  while (*p) {
    while (*p == ' ' || *p == ',')
      p++;
    size_t n = strcspn(p, ",");
    while (n > 0 && p[n - 1] == ' ')
      n--;
    if (n == 0)
      break;
    if (cat(sql, err, "%s%.*s <> 0", first ? "" : " OR ", (int)n, p) != 0)
      return err->code;
    first = 0;
    p += n;
  }
  return 0;
}

/* Compares one family; *diffs its differing rows (both ways). */
static int check_family(sb_pg_t *pg, const an_family_t *f, const char *tenant,
                        const char *from, const char *to, int show,
                        long long *diffs, sb_err_t *err) {
  char *sql = calloc(1, CHK_SQL_MAX);
  if (sql == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  sb_pg_rows_t *r = NULL;
  int rc;
  /* the projection's rows of the tenants checked, in the range; the
   * recomputed ones. A family of sums: rows of zeros left out. */
  const char *const params[3] = {tenant, from, to};
  /* (settings, not sums, have no hour: every row compared) */
  const char *range = f->sums ? " AND ($2::timestamptz IS NULL OR "
                                "hour_start >= $2) AND ($3::timestamptz IS "
                                "NULL OR hour_start < $3)"
                              : " AND num_nulls($2::text, $3::text) >= 0";
  if ((rc = sb_pg_exec(pg, "DROP TABLE IF EXISTS p, r", 0, NULL, err)) != 0)
    goto out;
  for (int side = 0; side < 2; side++) {
    sql[0] = '\0';
    if (side == 0)
      rc = cat(sql, err, "CREATE TEMP TABLE p AS SELECT %s%s%s FROM "
               "analytics.%s WHERE ($1::text IS NULL OR tenant_id = $1)",
               f->keys, f->sums ? ", " : "", f->sums ? f->sums : "", f->table);
    else
      rc = cat(sql, err, "CREATE TEMP TABLE r AS SELECT * FROM (%s) q (%s%s%s) "
               "WHERE ($1::text IS NULL OR tenant_id = $1)",
               f->query, f->keys, f->sums ? ", " : "", f->sums ? f->sums : "");
    if (rc == 0 && f->sums != NULL) {
      if ((rc = cat(sql, err, " AND (")) == 0 &&
          (rc = nonzero(sql, f->sums, err)) == 0)
        rc = cat(sql, err, ")");
    }
    if (rc == 0)
      rc = cat(sql, err, "%s", range);
    if (rc != 0 || (rc = sb_pg_exec(pg, sql, 3, params, err)) != 0)
      goto out;
  }
  rc = sb_pg_rows(pg,
                  "SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM r), "
                  "(SELECT count(*) FROM (SELECT * FROM p EXCEPT ALL SELECT * "
                  "FROM r) a), (SELECT count(*) FROM (SELECT * FROM r EXCEPT "
                  "ALL SELECT * FROM p) b)",
                  0, NULL, &r, err);
  if (rc != 0)
    goto out;
  long long np = atoll(sb_pg_rows_get(r, 0, 0)),
            nr = atoll(sb_pg_rows_get(r, 0, 1)),
            pa = atoll(sb_pg_rows_get(r, 0, 2)),
            ra = atoll(sb_pg_rows_get(r, 0, 3));
  sb_pg_rows_free(r);
  r = NULL;
  *diffs = pa + ra;
  printf("%-12s %-17s %8lld rows in the projection, %8lld recomputed, "
         "%lld differences\n",
         f->name, f->table, np, nr, pa + ra);
  if (pa + ra > 0) {
    char lim[24];
    snprintf(lim, sizeof lim, "%d", show);
    sql[0] = '\0';
    if ((rc = cat(sql, err,
                  "(SELECT 'projection only', x::text FROM (SELECT * FROM p "
                  "EXCEPT ALL SELECT * FROM r) x ORDER BY 2 LIMIT $1) UNION "
                  "ALL (SELECT 'recomputed only', x::text FROM (SELECT * "
                  "FROM r EXCEPT ALL SELECT * FROM p) x ORDER BY 2 LIMIT "
                  "$1) ORDER BY 2, 1")) != 0 ||
        (rc = sb_pg_rows(pg, sql, 1, (const char *const[]){lim}, &r, err)) !=
            0)
      goto out;
    printf("  columns: (%s%s%s)\n", f->keys, f->sums ? ", " : "",
           f->sums ? f->sums : "");
    for (int i = 0; i < sb_pg_rows_count(r); i++)
      printf("  %-15s %s\n", sb_pg_rows_get(r, i, 0), sb_pg_rows_get(r, i, 1));
  }
out:
  sb_pg_rows_free(r);
  free(sql);
  return rc;
}

static int analytics_check(sb_cli_t *cli, sb_err_t *err) {
  const char *tenant = sb_cli_opt(cli, "tenant");
  const char *from = sb_cli_opt(cli, "from");
  const char *to = sb_cli_opt(cli, "to");
  const char *show_s = sb_cli_opt(cli, "show");
  const char *only = sb_cli_opt(cli, "family");
  int64_t us;
  char why[160];
  long long show = 5;
  if (from && sb_time_parse(from, &us, why, sizeof why) != 0)
    return sb_err_set(err, SB_EUSAGE, "--from: %s", why);
  if (to && sb_time_parse(to, &us, why, sizeof why) != 0)
    return sb_err_set(err, SB_EUSAGE, "--to: %s", why);
  if (show_s && (sb_parse_ll(show_s, &show) != 0 || show < 0 || show > 1000))
    return sb_err_set(err, SB_EUSAGE, "--show must be 0 to 1000 (got '%.64s')",
                      show_s);
  const an_family_t *fams = an_check_families;
  if (only != NULL) {
    int found = 0;
    for (const an_family_t *f = fams; f->name; f++)
      found |= strcmp(f->name, only) == 0;
    if (!found)
      return sb_err_set(err, SB_EUSAGE, "--family: '%.64s' is no family "
                        "(calls, dispositions, agents, pauses, leads, "
                        "stages, spend, messages, points)", only);
  }
  sb_schemas_t *schemas = NULL;
  sb_pg_t *src = NULL, *dst = NULL;
  load_t x;
  memset(&x, 0, sizeof x);
  x.progress = 1;
  int rc = sb_cli_database_url(cli, err);
  if (rc == 0)
    rc = sb_pg_connect(cli->conf.database_url, &src, err);
  if (rc == 0)
    rc = sb_pg_connect(cli->conf.database_url, &dst, err);
  if (rc == 0)
    rc = sb_schemas_load(&schemas, err);
  if (rc == 0)
    rc = sb_codec_new(schemas, &x.codec, err);
  if (rc == 0 && (x.line = malloc(CHK_LINE_MAX)) == NULL)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  x.dst = dst;
  if (rc == 0)
    rc = sb_pg_exec(dst,
                    "SET work_mem = '64MB'; CREATE TEMP TABLE ev (tenant_id "
                    "text NOT NULL, event_id text NOT NULL, type text NOT "
                    "NULL, subject text NOT NULL, t timestamptz NOT NULL, "
                    "data jsonb NOT NULL)",
                    0, NULL, err);
  if (rc == 0)
    rc = sb_pg_copy_begin(dst, "COPY ev FROM STDIN", err);
  /* the families' events, the tenants' settings and the queues' */
  if (rc == 0)
    rc = sb_pg_each_row(
        src,
        "SELECT payload, event_id, tenant_id, event_type, subject, "
        "occurred_at FROM audit.events WHERE ($1::text IS NULL OR tenant_id "
        "= $1) AND (split_part(event_type, '.', 1) IN ('call', 'agent', "
        "'lead', 'campaign', 'message', 'points', 'tenant') OR event_type = "
        "'routing.queue_configured')",
        1, (const char *const[]){tenant}, load_row, &x, err);
  if (rc == 0)
    rc = sb_pg_copy_end(dst, err);
  else if (sb_pg_copying(dst))
    sb_pg_copy_abandon(dst);
  if (rc == 0) {
    fprintf(stderr, "analytics check: %lld events decoded; recomputing\n",
            x.rows);
    rc = sb_pg_exec(dst, an_check_prelude, 0, NULL, err);
  }
  long long total = 0;
  for (const an_family_t *f = fams; rc == 0 && f->name; f++) {
    if (only && strcmp(f->name, only) != 0)
      continue;
    long long d = 0;
    rc = check_family(dst, f, tenant, from, to, (int)show, &d, err);
    total += d;
    fflush(stdout);
  }
  if (rc == 0)
    printf("analytics check: %lld events, %lld differences\n", x.rows, total);
  free(x.line);
  free(x.buf);
  sb_codec_free(x.codec);
  sb_schemas_free(schemas);
  sb_pg_close(src);
  sb_pg_close(dst);
  if (rc == 0 && total > 0)
    return 1;
  return rc;
}

static int run_analytics(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  if (strcmp(cli->argv[0], "check") != 0) {
    sb_err_set(&err, SB_EUSAGE, "unknown action '%s': use check",
               cli->argv[0]);
    return sb_cli_fail(cli, &err);
  }
  int rc = analytics_check(cli, &err);
  if (rc == 1 && err.code == 0)
    return 1; /* differences, each family's shown */
  return rc == 0 ? 0 : sb_cli_fail(cli, &err);
}

static const char *const analytics_keys[] = {"database_url", NULL};

const sb_cmd_t sb_cmd_analytics = {
    .name = "analytics",
    .summary = "Recompute the analytics figures from the audit log and "
               "compare",
    .usage = "analytics check [--tenant T] [--from TIME] [--to TIME] "
             "[--family F] [--show N]",
    .about =
        "check decodes the audit log's events (every tenant's, or --tenant's)"
        "\ninto a temporary table, recomputes every analytics table with "
        "plain SQL from\nthe events' meaning (README: \"Analytics: figures, "
        "buckets and views\") and\ncompares the result with the projection "
        "row for row (EXCEPT ALL both ways;\n--from/--to limit the rows "
        "compared by hour_start, never the events read).\nPrints per family "
        "the rows compared and the differences, the first --show\n(default "
        "5) of each side. Progress on stderr. Run it once the processors\n"
        "have caught up (a call counts once its disposition came or its "
        "wait ended).\nExit 0: no difference; 1: differences.",
    .conf_keys = analytics_keys,
    .opts = (const sb_opt_t[]){{"tenant", "T", "Only this tenant"},
                               {"from", "TIME",
                                "Compare rows from this hour on"},
                               {"to", "TIME", "Compare rows before this hour"},
                               {"family", "F", "Only this family"},
                               {"show", "N",
                                "Differences shown per family and side "
                                "(default 5)"},
                               {NULL, NULL, NULL}},
    .min_args = 1,
    .max_args = 1,
    .run = run_analytics,
};
