/* Golden tests: a processor's projection for given input events.
 *
 * tests/golden/<processor>/<case>/ holds input.ndjson (CloudEvents, one a
 * line, with their ids) and expected/<table>.tsv: a first line naming the
 * columns compared, then the table's rows as text, tab-separated (\N for
 * NULL), in the order of those columns. Each case runs the real pipeline
 * (all partitions taken at once: no consumer group to wait for) against
 * the embedded broker and a database of its own, to the end of the log,
 * derived events included; a line "#wait" ends a part of the input: the
 * part is run to its end (every derived event too) before the next part
 * is produced, for cases whose outcome depends on what arrives first; an optional conf file (key = value lines) sets
 * the configuration the case runs with. SB_GOLDEN_UPDATE=1 writes what the run gives
 * into the expected files (review the diff before committing it);
 * SB_GOLDEN_ONLY=<processor> runs that processor's cases only. */
#include "sb_codec.h"
#include "sb_kafka.h"
#include "sb_migrate.h"
#include "sb_pg.h"
#include "sb_pipeline.h"
#include "sb_producer.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_text.h"
#include "sb_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SB_GOLDEN_DIR
#error "SB_GOLDEN_DIR: the tests/golden folder"
#endif

/* Reads a file into a NUL-terminated buffer (caller frees). */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  sb_text_t t = {0};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    sb_text_add(&t, "%.*s", (int)n, buf);
  fclose(f);
  if (t.s == NULL)
    sb_text_add(&t, "%s", "");
  return t.failed ? (sb_text_free(&t), NULL) : t.s;
}

/* Produces one part of a case's input: the lines from *at up to a line
 * "#wait" or the end; *at moves past them (NULL at the end). */
static int produce_part(const sb_conf_t *c, sb_codec_t *codec,
                        const char *path, char **at, int *line, int *count) {
  sb_err_t err = SB_ERR_INIT;
  sb_producer_t *p = NULL;
  int rc = sb_producer_new(c, &p, &err);
  char *l = *at;
  while (rc == 0 && l != NULL) {
    char *nl = strchr(l, '\n');
    if (nl)
      *nl = '\0';
    (*line)++;
    char *next = nl ? nl + 1 : NULL;
    if (strcmp(l, "#wait") == 0) {
      l = next;
      break;
    }
    if (l[0] != '\0' && l[0] != '#') {
      cJSON *j = NULL;
      sb_record_t r;
      rc = sb_json_parse(l, strlen(l), &j, &err);
      if (rc == 0)
        rc = sb_codec_from_ce(codec, j, 0, &r, &err);
      cJSON_Delete(j);
      if (rc == 0) {
        rc = sb_producer_send_record(p, &r, NULL, NULL, &err);
        sb_record_clear(&r);
        (*count)++;
      }
      if (rc != 0)
        fprintf(stderr, "golden: %s:%d: %s\n", path, *line, err.msg);
    }
    l = next;
  }
  *at = l;
  if (rc == 0 && (rc = sb_producer_flush(p, 10000, &err)) != 0)
    fprintf(stderr, "golden: %s\n", err.msg);
  sb_producer_free(p);
  return rc;
}

/* Runs the processor to the end of every partition it reads, derived
 * events included, and stops it. */
static int run_to_end(const sb_conf_t *c, sb_schemas_t *schemas,
                      const sb_processor_vt_t *vt, const char *dir) {
  sb_err_t err = SB_ERR_INIT;
  sb_pipeline_t *p = NULL;
  sb_pipeline_opts_t o = {
      .vts = &vt, .n = 1, .stop_at_end = 1, .all_partitions = 1};
  if (sb_pipeline_start(c, schemas, &o, &p, &err) != 0) {
    fprintf(stderr, "golden: %s\n", err.msg);
    return -1;
  }
  for (int i = 0; i < 600 && !sb_pipeline_done(p); i++)
    usleep(100 * 1000);
  sb_pipeline_stop(p);
  if (sb_pipeline_join(p, NULL, &err) != 0) {
    fprintf(stderr, "golden: %s: %s\n", dir, err.msg);
    return -1;
  }
  return 0;
}

/* The table's rows as the expected file spells them, for its columns. */
static int dump(sb_pg_t *pg, const char *schema, const char *table,
                const char *header, sb_text_t *out) {
  sb_text_t sql = {0};
  char cols[1024];
  snprintf(cols, sizeof cols, "%s", header);
  sb_text_add(&sql, "SELECT ");
  int n = 0;
  for (char *save = NULL, *c = strtok_r(cols, "\t", &save); c;
       c = strtok_r(NULL, "\t", &save))
    sb_text_add(&sql, "%s%s::text", n++ ? ", " : "", c);
  sb_text_add(&sql, " FROM %s.%s ORDER BY ", schema, table);
  for (int i = 1; i <= n; i++)
    sb_text_add(&sql, "%s%d", i > 1 ? ", " : "", i);
  sb_err_t err = SB_ERR_INIT;
  sb_pg_rows_t *rows = NULL;
  int rc = sb_pg_rows(pg, sql.s, 0, NULL, &rows, &err);
  sb_text_free(&sql);
  if (rc != 0) {
    fprintf(stderr, "golden: %s.%s: %s\n", schema, table, err.msg);
    return -1;
  }
  sb_text_add(out, "%s\n", header);
  for (int r = 0; r < sb_pg_rows_count(rows); r++)
    for (int c = 0; c < n; c++) {
      const char *v = sb_pg_rows_get(rows, r, c);
      sb_text_add(out, "%s%s", v ? v : "\\N", c + 1 < n ? "\t" : "\n");
    }
  sb_pg_rows_free(rows);
  return 0;
}

/* The first line where a and b differ, for the failure message. */
static void first_difference(const char *a, const char *b, const char *what) {
  int line = 1;
  while (*a && *a == *b) {
    if (*a == '\n')
      line++;
    a++, b++;
  }
  const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
  fprintf(stderr, "golden: %s differs at line %d:\n  want: %.*s\n  got:  %.*s\n",
          what, line, ea ? (int)(ea - a) : (int)strlen(a), a,
          eb ? (int)(eb - b) : (int)strlen(b), b);
}

static int run_case(const char *processor, const char *dir) {
  const sb_processor_vt_t *vt = sb_processor_find(processor);
  if (vt == NULL) {
    fprintf(stderr, "golden: no processor %s\n", processor);
    return -1;
  }
  sb_conf_t c;
  sb_err_t err = SB_ERR_INIT;
  sb_embedded_t *broker = NULL;
  sb_schemas_t *schemas = NULL;
  sb_codec_t *codec = NULL;
  sb_pg_t *pg = NULL;
  char url[600], db[64], path[2200];
  int rc = -1, events = 0;
  sb_conf_init(&c, NULL);
  sb_conf_set(&c, "partitions", "2", SB_CO_FLAG, NULL, NULL);
  sb_conf_set(&c, "batch.max_ms", "50", SB_CO_FLAG, NULL, NULL);
  /* derived events go round in several hops: no 500 ms idle fetch each */
  sb_conf_set(&c, "kafka.fetch.wait.max.ms", "10", SB_CO_FLAG, NULL, NULL);
  /* a case may set configuration: <case>/conf, key = value lines */
  snprintf(path, sizeof path, "%s/conf", dir);
  if (access(path, F_OK) == 0 &&
      sb_conf_load_file(&c, path, SB_CO_FILE, &err) != 0) {
    fprintf(stderr, "golden: %s\n", err.msg);
    goto out_conf;
  }
  if (sbt_pg_create_db(url, sizeof url, db, sizeof db) != 0)
    goto out_conf;
  sb_conf_set(&c, "database_url", url, SB_CO_FLAG, NULL, NULL);
  if (sb_embedded_start(&c, &broker, &err) != 0 ||
      sb_conf_set(&c, "brokers", sb_embedded_bootstraps(broker), SB_CO_FLAG,
                  NULL, &err) != 0 ||
      sb_pg_connect(url, &pg, &err) != 0 ||
      sb_migrate(pg, sb_migrations, sb_migrations_n, NULL, &err) != 0 ||
      sb_schemas_load(&schemas, &err) != 0 ||
      sb_codec_new(schemas, &codec, &err) != 0) {
    fprintf(stderr, "golden: %s\n", err.msg);
    goto out;
  }
  /* the input in parts: each part produced, then run to its end (the
   * processor stopped and started again, as by a restart), so that a case
   * can say which events reach the processor before which ("#wait") */
  snprintf(path, sizeof path, "%s/input.ndjson", dir);
  char *text = slurp(path), *at = text;
  int line = 0;
  if (text == NULL)
    fprintf(stderr, "golden: cannot read %s\n", path);
  int ok = text != NULL;
  while (ok && at != NULL)
    ok = produce_part(&c, codec, path, &at, &line, &events) == 0 &&
         run_to_end(&c, schemas, vt, dir) == 0;
  free(text);
  if (!ok)
    goto out;
  /* every expected table, as the run left it */
  snprintf(path, sizeof path, "%s/expected", dir);
  DIR *d = opendir(path);
  if (d == NULL) {
    fprintf(stderr, "golden: no %s\n", path);
    goto out;
  }
  int tables = 0, bad = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".tsv") != 0)
      continue;
    char table[256], file[2600];
    snprintf(table, sizeof table, "%.*s", (int)(len - 4), e->d_name);
    snprintf(file, sizeof file, "%s/%s", path, e->d_name);
    char *want = slurp(file);
    char *nl = want ? strchr(want, '\n') : NULL;
    if (nl == NULL) {
      fprintf(stderr, "golden: %s: no header line\n", file);
      bad = 1;
      free(want);
      continue;
    }
    char header[1024];
    snprintf(header, sizeof header, "%.*s", (int)(nl - want), want);
    sb_text_t got = {0};
    if (dump(pg, vt->name, table, header, &got) != 0) {
      bad = 1;
    } else if (getenv("SB_GOLDEN_UPDATE")) {
      FILE *f = fopen(file, "w");
      if (f)
        fputs(got.s, f), fclose(f);
    } else if (strcmp(got.s, want) != 0) {
      char what[2700];
      snprintf(what, sizeof what, "%s", file);
      first_difference(want, got.s, what);
      bad = 1;
    }
    tables++;
    sb_text_free(&got);
    free(want);
  }
  closedir(d);
  if (tables == 0)
    fprintf(stderr, "golden: %s holds no expected/*.tsv\n", path);
  else if (!bad)
    rc = 0;
  printf("golden: %s %s: %d events, %d tables %s\n", processor, dir, events,
         tables, rc == 0 ? "as expected" : "DIFFER");
out:
  sb_codec_free(codec);
  sb_schemas_free(schemas);
  sb_pg_close(pg);
  sb_embedded_stop(broker);
  sbt_pg_drop_db(db);
out_conf:
  sb_conf_free(&c);
  return rc;
}

/* Every case of every processor under tests/golden. */
int test_golden_projections(void) {
  int cases = 0, failed = 0;
  DIR *top = opendir(SB_GOLDEN_DIR);
  CHECK(top != NULL);
  for (struct dirent *pe; (pe = readdir(top)) != NULL;) {
    /* SB_GOLDEN_ONLY=NAME: that processor's cases alone (a quicker loop
     * while writing them; the suite runs them all) */
    const char *only = getenv("SB_GOLDEN_ONLY");
    if (pe->d_name[0] == '.' || (only && strcmp(only, pe->d_name) != 0))
      continue;
    char pdir[1024];
    snprintf(pdir, sizeof pdir, "%s/%s", SB_GOLDEN_DIR, pe->d_name);
    DIR *pd = opendir(pdir);
    if (pd == NULL)
      continue;
    for (struct dirent *ce; (ce = readdir(pd)) != NULL;) {
      if (ce->d_name[0] == '.')
        continue;
      char cdir[2100];
      snprintf(cdir, sizeof cdir, "%s/%s", pdir, ce->d_name);
      cases++;
      if (run_case(pe->d_name, cdir) != 0)
        failed++;
    }
    closedir(pd);
  }
  closedir(top);
  CHECK(cases >= (getenv("SB_GOLDEN_ONLY") ? 1 : 2));
  CHECK_INT(failed, 0);
  return 0;
}
