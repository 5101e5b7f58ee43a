/* Retention in the kit: tables declare the class of their rows and the
 * column that dates them (sb_table_def_t.retention_class, .retention_col);
 * a purge (sb_retention_purge) raises a tenant's cutoff for a class in
 * sb.retention_cutoffs and deletes the rows dated before it, and every
 * pipeline drops such rows when a processor adds them (the cutoffs are
 * read at each batch's start), so a replay never brings them back.
 * Subjects idle past their cutoff are crypto-shredded (sb_retention_shred).
 *
 * Purges and writers meet on one advisory lock: a batch of a pipeline
 * writing tables with a class holds it shared from its start (and reads the
 * cutoffs then); a purge takes it exclusive before it raises a cutoff. So a
 * purge waits for the batches in flight (it then deletes what they wrote),
 * and a batch starting after it sees its cutoff. */
#include "sb_pipeline_int.h"

#include "sb_log.h"
#include "sb_tenant.h"
#include "sb_time.h"
#include "sb_util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RET_LOCK "6008455448563641972" /* "SbRetent" */
#define DAY_US 86400000000LL

static const char *const classes[] = {SB_RETENTION_CLASSES};

int sb_retention_class_ok(const char *cls) {
  for (size_t i = 0; cls && i < SB_ARRAY_LEN(classes); i++)
    if (strcmp(cls, classes[i]) == 0)
      return 1;
  return 0;
}

/* One (tenant, class) cutoff, as read at the batch's start. */
typedef struct {
  char tenant[72];
  char cls[40];
  int64_t cutoff_us;
} cut_t;

struct sb__ret_s {
  int tables;  /* 1: a processor of the pipeline declares a class */
  cut_t *cuts; /* sorted by (tenant, class) */
  size_t n, cap;
};

static int col_of(const sb_table_def_t *t, const char *name) {
  for (int i = 0; t->cols[i].name; i++)
    if (strcmp(t->cols[i].name, name) == 0)
      return i;
  return -1;
}

int sb__retention_check(const sb_processor_vt_t *vt, const sb_table_def_t *t,
                        sb_err_t *err) {
  if (t->retention_class == NULL && t->retention_col == NULL)
    return 0;
  if (!sb_retention_class_ok(t->retention_class) ||
      strcmp(t->retention_class, "subject") == 0)
    return sb_err_set(err, SB_EINVAL,
                      "processor %s: table %s: retention_class '%s' is not "
                      "one of lead, call, agent, message, campaign, consent, "
                      "access, security, gamification",
                      vt->name, t->name,
                      t->retention_class ? t->retention_class : "(null)");
  int c = t->retention_col ? col_of(t, t->retention_col) : -1;
  if (c < 0 ||
      (t->cols[c].type != SB_COL_TIMESTAMPTZ && t->cols[c].type != SB_COL_DATE))
    return sb_err_set(err, SB_EINVAL,
                      "processor %s: table %s: retention_col '%s' is not one "
                      "of its timestamptz or date columns",
                      vt->name, t->name,
                      t->retention_col ? t->retention_col : "(null)");
  return 0;
}

void sb__retention_free(sb_pipeline_t *p) {
  if (p->ret) {
    free(p->ret->cuts);
    free(p->ret);
    p->ret = NULL;
  }
}

static int cut_cmp(const void *a, const void *b) {
  const cut_t *x = a, *y = b;
  int c = strcmp(x->tenant, y->tenant);
  return c ? c : strcmp(x->cls, y->cls);
}

int sb__retention_open(sb_pipeline_t *p, sb_err_t *err) {
  if (p->ret == NULL) {
    if ((p->ret = calloc(1, sizeof *p->ret)) == NULL)
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->n; i++)
      for (size_t j = 0; p->slots[i].vt->tables && p->slots[i].vt->tables[j];
           j++)
        if (p->slots[i].vt->tables[j]->retention_class)
          p->ret->tables = 1;
  }
  struct sb__ret_s *r = p->ret;
  if (!r->tables)
    return 0;
  sb_pg_rows_t *rows = NULL;
  if (sb_pg_rows(p->pg,
                 "SELECT c.tenant_id, c.class, "
                 "(extract(epoch FROM c.cutoff) * 1000000)::bigint "
                 "FROM (SELECT pg_advisory_xact_lock_shared(" RET_LOCK
                 ")) l LEFT JOIN sb.retention_cutoffs c ON true",
                 0, NULL, &rows, err) != 0) {
    sb_err_prefix(err, "retention: reading the cutoffs: ");
    return err->code;
  }
  int n = sb_pg_rows_count(rows);
  r->n = 0;
  if ((size_t)n > r->cap) {
    cut_t *c = realloc(r->cuts, (size_t)n * sizeof *c);
    if (c == NULL) {
      sb_pg_rows_free(rows);
      return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    r->cuts = c;
    r->cap = (size_t)n;
  }
  for (int i = 0; i < n; i++) {
    const char *t = sb_pg_rows_get(rows, i, 0);
    long long us = 0;
    if (t == NULL || sb_parse_ll(sb_pg_rows_get(rows, i, 2), &us) != 0)
      continue; /* the LEFT JOIN's row when there is none */
    cut_t *c = &r->cuts[r->n++];
    snprintf(c->tenant, sizeof c->tenant, "%s", t);
    snprintf(c->cls, sizeof c->cls, "%s", sb_pg_rows_get(rows, i, 1));
    c->cutoff_us = us;
  }
  sb_pg_rows_free(rows);
  qsort(r->cuts, r->n, sizeof *r->cuts, cut_cmp);
  return 0;
}

static int64_t floor_div(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int sb__retention_drop(sb_batch_t *b, const sb_table_def_t *t,
                       const sb_val_t *vals) {
  const struct sb__ret_s *r = b->p->ret;
  if (t->retention_class == NULL || r == NULL || r->n == 0)
    return 0;
  int tc = col_of(t, "tenant_id"), dc = col_of(t, t->retention_col);
  if (tc < 0 || dc < 0 || vals[tc].null || vals[tc].s == NULL || vals[dc].null)
    return 0;
  cut_t key;
  snprintf(key.tenant, sizeof key.tenant, "%s", vals[tc].s);
  snprintf(key.cls, sizeof key.cls, "%s", t->retention_class);
  const cut_t *c = bsearch(&key, r->cuts, r->n, sizeof *r->cuts, cut_cmp);
  if (c == NULL)
    return 0;
  if (t->cols[dc].type == SB_COL_DATE)
    return vals[dc].i < floor_div(c->cutoff_us, DAY_US);
  return vals[dc].i < c->cutoff_us;
}

/* The connection for a kit call in a timer: the processor's savepoint
 * opened (it then holds the connection for the batch, committed first). */
static sb_pg_t *hold(sb_batch_t *b, const char *what, sb_err_t *err) {
  sb_pipeline_t *p = b->p;
  sb__slot_t *s = b->slot;
  if (b->timer == NULL || p->phase != SB__PHASE_EVENT) {
    sb_err_set(err, SB_ESTATE, "processor %s: %s outside a timer", s->vt->name,
               what);
    return NULL;
  }
  if (p->owner != NULL && p->owner != s) {
    sb_err_set(err, SB_ESTATE,
               "processor %s: %s: processor %s holds the connection in this "
               "batch (run them in two processes)",
               s->vt->name, what, p->owner->vt->name);
    return NULL;
  }
  if (sb__kit_hold(p, s, err) != 0)
    return NULL;
  if (s->streaming != NULL) {
    sb_rows_t *w = s->streaming;
    s->streaming = NULL;
    if (sb_rows_finish(w, p->pg, err) != 0)
      return NULL;
  }
  return p->pg;
}

#define AT_US "('epoch'::timestamptz + $%d::bigint * interval '1 microsecond')"

/* Deletes tenant's rows of t dated before cutoff in every schema holding
 * t of processor name (the live one, and rebuilds NAME_gN beside it). */
static int purge_table(sb_pg_t *pg, const char *name, const sb_table_def_t *t,
                       const char *tenant, const char *cut,
                       sb_retention_counts_t *out, sb_err_t *err) {
  sb_pg_rows_t *sch = NULL;
  if (sb_pg_rows(pg,
                 "SELECT n.nspname FROM pg_namespace n WHERE (n.nspname = $1 "
                 "OR n.nspname ~ ('^' || $1 || '_g[0-9]+$')) AND "
                 "to_regclass(quote_ident(n.nspname) || '.' || "
                 "quote_ident($2)) IS NOT NULL ORDER BY 1",
                 2, (const char *const[]){name, t->name}, &sch, err) != 0)
    return err->code;
  int rc = 0;
  for (int i = 0; rc == 0 && i < sb_pg_rows_count(sch); i++) {
    const char *schema = sb_pg_rows_get(sch, i, 0);
    char sql[512], got[32];
    int found = 0;
    int date = t->cols[col_of(t, t->retention_col)].type == SB_COL_DATE;
    snprintf(sql, sizeof sql,
             "WITH d AS (DELETE FROM \"%s\".\"%s\" WHERE tenant_id = $1 AND "
             "\"%s\" < %s" AT_US "%s RETURNING 1) SELECT count(*) FROM d",
             schema, t->name, t->retention_col, date ? "(" : "", 2,
             date ? " AT TIME ZONE 'UTC')::date" : "");
    rc = sb_pg_query1(pg, sql, 2, (const char *const[]){tenant, cut}, got,
                      sizeof got, &found, NULL, err);
    if (rc != 0)
      break;
    long long n = 0;
    sb_parse_ll(got, &n);
    out->rows += n;
    if (out->ntables < SB_RETENTION_TABLES_MAX) {
      snprintf(out->tables[out->ntables].table,
               sizeof out->tables[out->ntables].table, "%s.%s", schema,
               t->name);
      out->tables[out->ntables++].rows = n;
    }
  }
  sb_pg_rows_free(sch);
  return rc;
}

int sb_retention_purge(sb_batch_t *b, const char *tenant, const char *cls,
                       int64_t cutoff_us, sb_retention_counts_t *out,
                       sb_err_t *err) {
  memset(out, 0, sizeof *out);
  if (!sb_tenant_valid(tenant) || !sb_retention_class_ok(cls) ||
      strcmp(cls, "subject") == 0)
    return sb_err_set(err, SB_EINVAL,
                      "retention: purge: a tenant and a class of tables, "
                      "not '%.40s' / '%.40s'",
                      tenant ? tenant : "(null)", cls ? cls : "(null)");
  sb_pg_t *pg = hold(b, "sb_retention_purge", err);
  if (pg == NULL)
    return err->code;
  char cut[32], eff[32];
  int found = 0;
  snprintf(cut, sizeof cut, "%lld", (long long)cutoff_us);
  /* the batches in flight finish first; the cutoff only moves forward,
   * and the rows go by the cutoff stored */
  int rc = sb_pg_exec(pg, "SELECT pg_advisory_xact_lock(" RET_LOCK ")", 0, NULL,
                      err);
  if (rc == 0)
    rc = sb_pg_query1(
        pg,
        "INSERT INTO sb.retention_cutoffs AS r (tenant_id, class, cutoff) "
        "VALUES ($1, $2, ('epoch'::timestamptz + $3::bigint * interval '1 "
        "microsecond')) ON CONFLICT (tenant_id, class) DO UPDATE SET "
        "cutoff = GREATEST(r.cutoff, EXCLUDED.cutoff), updated_at = now() "
        "RETURNING (extract(epoch FROM r.cutoff) * 1000000)::bigint",
        3, (const char *const[]){tenant, cls, cut}, eff, sizeof eff, &found,
        NULL, err);
  for (const sb_processor_vt_t *const *v = sb_builtin_processors; rc == 0 && *v;
       v++)
    for (size_t j = 0; rc == 0 && (*v)->tables && (*v)->tables[j]; j++) {
      const sb_table_def_t *t = (*v)->tables[j];
      if (t->retention_class && strcmp(t->retention_class, cls) == 0 &&
          sb__retention_check(*v, t, err) == 0)
        rc = purge_table(pg, (*v)->name, t, tenant, eff, out, err);
      else if (err->code != 0)
        rc = err->code;
    }
  if (rc != 0) {
    sb_err_prefix(err, "retention: purging %s of tenant %s: ", cls, tenant);
    return rc;
  }
  char at[40];
  long long e = 0;
  sb_parse_ll(eff, &e);
  sb_time_format((int64_t)e, at, sizeof at);
  sb_log(SB_LOG_INFO, "retention", "purged", SB_F_STR("tenant", tenant),
         SB_F_STR("class", cls), SB_F_STR("cutoff", at),
         SB_F_INT("tables", (long long)out->ntables),
         SB_F_INT("rows", out->rows), SB_F_END);
  return 0;
}

/* Removes the export files of a shredded subject, as an erasure does
 * (<data_dir>/exports/<tenant>/<hash>-*). */
static int remove_exports(const sb_conf_t *c, const char *tenant,
                          const char *hash, sb_err_t *err) {
  char dir[PATH_MAX];
  if (c->data_dir == NULL ||
      sb_fmt(dir, sizeof dir, err, "%s/exports/%s", c->data_dir, tenant) != 0)
    return err->code;
  DIR *dh = opendir(dir);
  if (dh == NULL)
    return errno == ENOENT
               ? 0
               : sb_err_set(err, SB_EIO, "%s: %s", dir, strerror(errno));
  size_t hl = strlen(hash);
  int rc = 0;
  for (struct dirent *e; rc == 0 && (e = readdir(dh)) != NULL;) {
    char path[PATH_MAX];
    if (strncmp(e->d_name, hash, hl) != 0 || e->d_name[hl] != '-')
      continue;
    if (sb_fmt(path, sizeof path, err, "%s/%s", dir, e->d_name) != 0)
      rc = err->code;
    else if (unlink(path) != 0 && errno != ENOENT)
      rc = sb_err_set(err, SB_EIO, "removing %s: %s", path, strerror(errno));
  }
  closedir(dh);
  return rc;
}

int sb_retention_shred(sb_batch_t *b, const char *tenant, int64_t cutoff_us,
                       size_t max, char (*hashes)[SB_RETENTION_HASH_LEN + 1],
                       size_t *n, int *more, sb_err_t *err) {
  *n = 0;
  *more = 0;
  if (!sb_tenant_valid(tenant) || max == 0 || max > 100000)
    return sb_err_set(err, SB_EINVAL,
                      "retention: shred: a tenant and 1 to "
                      "100000 subjects a run");
  sb_pg_t *pg = hold(b, "sb_retention_shred", err);
  if (pg == NULL)
    return err->code;
  char cut[32], lim[24], any[8];
  snprintf(cut, sizeof cut, "%lld", (long long)cutoff_us);
  snprintf(lim, sizeof lim, "%zu", max);
  sb_pg_rows_t *rows = NULL;
  /* the idle subjects' keys locked in one order (ingest marks keys in the
   * same order); a key marked used meanwhile is no longer idle (the lock
   * re-checks it) */
  int rc = sb_pg_rows(
      pg,
      "WITH idle AS (SELECT subject_hash FROM sb.data_keys WHERE tenant_id = "
      "$1 AND erased_at IS NULL GROUP BY subject_hash HAVING "
      "max(last_sealed_at) < "
      "('epoch'::timestamptz + $2::bigint * "
      "interval '1 microsecond') ORDER BY subject_hash LIMIT $3::bigint), "
      "l AS (SELECT d.subject_hash, d.gen FROM sb.data_keys d JOIN idle i ON "
      "i.subject_hash = d.subject_hash WHERE d.tenant_id = $1 AND "
      "d.erased_at IS NULL AND d.last_sealed_at < ('epoch'::timestamptz + "
      "$2::bigint * interval '1 microsecond') ORDER BY 1, 2 FOR UPDATE OF d), "
      "e AS (UPDATE sb.data_keys d SET wrapped = NULL, erased_at = now() "
      "FROM l WHERE d.tenant_id = $1 AND d.subject_hash = l.subject_hash AND "
      "d.gen = l.gen RETURNING d.subject_hash) "
      "SELECT DISTINCT subject_hash FROM e ORDER BY 1",
      3, (const char *const[]){tenant, cut, lim}, &rows, err);
  for (int i = 0; rc == 0 && i < sb_pg_rows_count(rows) && *n < max; i++) {
    snprintf(hashes[*n], SB_RETENTION_HASH_LEN + 1, "%s",
             sb_pg_rows_get(rows, i, 0));
    rc = remove_exports(b->p->c, tenant, hashes[*n], err);
    (*n)++;
  }
  sb_pg_rows_free(rows);
  int found = 0;
  if (rc == 0)
    rc = sb_pg_query1(
        pg,
        "SELECT EXISTS (SELECT 1 FROM sb.data_keys WHERE tenant_id = $1 AND "
        "erased_at IS NULL GROUP BY subject_hash HAVING max(last_sealed_at) "
        "< ('epoch'::timestamptz + $2::bigint * interval '1 microsecond'))",
        2, (const char *const[]){tenant, cut}, any, sizeof any, &found, NULL,
        err);
  if (rc != 0) {
    sb_err_prefix(err,
                  "retention: shredding idle subjects of tenant %s: ", tenant);
    return rc;
  }
  *more = any[0] == 't';
  if (*n > 0)
    sb_log(SB_LOG_INFO, "retention", "idle subjects shredded",
           SB_F_STR("tenant", tenant), SB_F_INT("subjects", (long long)*n),
           SB_F_INT("more", *more), SB_F_END);
  return 0;
}
