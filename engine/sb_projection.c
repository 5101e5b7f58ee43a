#include "sb_projection.h"

#include "sb_log.h"
#include "sb_util.h"
#include "sb_rows.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_steps(const char *processor, const char *schema,
                       const sb_proj_step_t *steps, size_t *n, sb_err_t *err) {
  if (!sb_rows_name_ok(processor))
    return sb_err_set(err, SB_EINVAL,
                      "projection: processor name '%s' must "
                      "match [a-z_][a-z0-9_]{0,62}",
                      processor ? processor : "(null)");
  if (!sb_rows_name_ok(schema))
    return sb_err_set(err, SB_EINVAL,
                      "processor %s: schema name '%s' must "
                      "match [a-z_][a-z0-9_]{0,62}",
                      processor, schema ? schema : "(null)");
  if (steps == NULL)
    return sb_err_set(err, SB_EINVAL, "processor %s: no projection steps",
                      processor);
  size_t i = 0;
  for (; steps[i].version != 0 || steps[i].ddl != NULL; i++) {
    if (steps[i].version <= 0 ||
        (i > 0 && steps[i].version <= steps[i - 1].version))
      return sb_err_set(err, SB_EINVAL,
                        "processor %s: projection step %d "
                        "must be > 0 and follow step %d",
                        processor, steps[i].version,
                        i > 0 ? steps[i - 1].version : 0);
    if (steps[i].ddl == NULL || steps[i].ddl[0] == '\0')
      return sb_err_set(err, SB_EINVAL,
                        "processor %s: projection step %d "
                        "has no DDL",
                        processor, steps[i].version);
  }
  *n = i;
  return 0;
}

/* ddl with every "{schema}" replaced; the caller frees it. */
static char *expand(const char *ddl, const char *schema) {
  size_t uses = 0, sl = strlen(schema);
  for (const char *p = strstr(ddl, "{schema}"); p;
       p = strstr(p + 8, "{schema}"))
    uses++;
  size_t cap = strlen(ddl) + uses * sl + 1;
  char *sql = malloc(cap), *o = sql;
  if (sql == NULL)
    return NULL;
  for (const char *p = ddl; *p;) {
    if (strncmp(p, "{schema}", 8) == 0) {
      memcpy(o, schema, sl);
      o += sl;
      p += 8;
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  return sql;
}

/* SB_ESTATE naming the first table of schema without tenant_id. */
static int tenant_everywhere(sb_pg_t *pg, const char *processor,
                             const char *schema, int version, sb_err_t *err) {
  char table[128];
  int found = 0;
  int rc = sb_pg_query1(
      pg,
      "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
      "c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND "
      "NOT c.relispartition AND NOT EXISTS (SELECT 1 FROM pg_attribute a "
      "WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT "
      "a.attisdropped) ORDER BY c.relname LIMIT 1",
      1, (const char *const[]){schema}, table, sizeof table, &found, NULL, err);
  if (rc != 0)
    return rc;
  if (!found)
    return 0;
  if (version > 0)
    return sb_err_set(err, SB_ESTATE,
                      "processor %s: after step %d of its "
                      "projection, table %s.%s has no "
                      "tenant_id column: every projection "
                      "table needs one (row-level security "
                      "binds readers by it)",
                      processor, version, schema, table);
  return sb_err_set(err, SB_ESTATE,
                    "processor %s: table %s.%s of its "
                    "projection has no tenant_id column: "
                    "every projection table needs one "
                    "(row-level security binds readers by "
                    "it)",
                    processor, schema, table);
}

/* The records of schema (by oid) against the binary's steps: how many of
 * the steps are applied, or SB_ESTATE. */
static int compare(sb_pg_t *pg, const char *processor, const char *schema,
                   const char *oid, const sb_proj_step_t *steps, size_t n,
                   size_t *done, sb_err_t *err) {
  sb_pg_rows_t *r = NULL;
  *done = 0;
  int rc = sb_pg_rows(pg,
                      "SELECT version, sha256, processor FROM "
                      "sb.projection_steps WHERE schema_oid = $1 ORDER "
                      "BY version",
                      1, (const char *const[]){oid}, &r, err);
  if (rc != 0)
    return rc;
  int rows = sb_pg_rows_count(r);
  int newest = n > 0 ? steps[n - 1].version : 0;
  for (int i = 0; i < rows && rc == 0; i++) {
    int v = atoi(sb_pg_rows_get(r, i, 0)); /* an integer column */
    const char *sum = sb_pg_rows_get(r, i, 1);
    const char *owner = sb_pg_rows_get(r, i, 2);
    char now[65];
    if (strcmp(owner, processor) != 0) {
      rc = sb_err_set(err, SB_ESTATE,
                      "processor %s: schema %s holds the "
                      "projection of processor %s, not its "
                      "own",
                      processor, schema, owner);
    } else if (v > newest) {
      rc = sb_err_set(err, SB_ESTATE,
                      "processor %s: its projection in %s "
                      "has step %d, which this switchboard "
                      "does not know (it knows steps up to "
                      "%d): it was built by a newer "
                      "switchboard; run that one",
                      processor, schema, v, newest);
    } else if ((size_t)i >= n || steps[i].version != v) {
      rc = sb_err_set(err, SB_ESTATE,
                      "processor %s: its projection in %s "
                      "has step %d, which this switchboard "
                      "does not list (its step %d is "
                      "missing there)",
                      processor, schema, v,
                      (size_t)i < n ? steps[i].version : v);
    } else if ((rc = sb_sha256_hex(steps[i].ddl, now, err)) == 0 &&
               strcmp(now, sum) != 0) {
      rc = sb_err_set(err, SB_ESTATE,
                      "processor %s: step %d of its "
                      "projection in %s was changed after "
                      "it was applied (recorded sha256 "
                      "%.12s..., now %.12s...): add a new "
                      "step instead of editing an applied "
                      "one",
                      processor, v, schema, sum, now);
    }
  }
  sb_pg_rows_free(r);
  if (rc == 0)
    *done = (size_t)rows;
  return rc;
}

static int schema_oid(sb_pg_t *pg, const char *schema, char *oid, size_t sz,
                      int *found, sb_err_t *err) {
  return sb_pg_query1(pg, "SELECT oid FROM pg_namespace WHERE nspname = $1", 1,
                      (const char *const[]){schema}, oid, sz, found, NULL, err);
}

static int apply_step(sb_pg_t *pg, const char *processor, const char *schema,
                      const char *oid, const sb_proj_step_t *s, sb_err_t *err) {
  char sum[65], ver[16];
  if (sb_sha256_hex(s->ddl, sum, err) != 0)
    return err->code;
  snprintf(ver, sizeof ver, "%d", s->version);
  char *sql = expand(s->ddl, schema);
  if (sql == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = sb_pg_exec(pg, sql, 0, NULL, err);
  free(sql);
  if (rc != 0 && sb_err_sqlstate_is(err, "42501"))
    sb_err_prefix(err,
                  "processor %s: step %d of its projection in %s needs "
                  "the database owner (run `switchboard migrate` with "
                  "the owner's URL; the application role runs no DDL): ",
                  processor, s->version, schema);
  else if (rc != 0)
    sb_err_prefix(err,
                  "processor %s: step %d of its projection in %s: ", processor,
                  s->version, schema);
  if (rc == 0)
    rc = tenant_everywhere(pg, processor, schema, s->version, err);
  /* readers (dashboards) see their tenant's rows (sql/0006_roles.sql) */
  if (rc == 0)
    rc = sb_pg_exec(pg, "SELECT sb.protect_projection($1)", 1,
                    (const char *const[]){schema}, err);
  if (rc == 0)
    rc = sb_pg_exec(pg,
                    "INSERT INTO sb.projection_steps (schema_oid, "
                    "version, schema_name, processor, sha256) VALUES ($1, "
                    "$2, $3, $4, $5)",
                    5, (const char *const[]){oid, ver, schema, processor, sum},
                    err);
  return rc;
}

int sb_projection_migrate(sb_pg_t *pg, const char *processor,
                          const char *schema, const sb_proj_step_t *steps,
                          int *applied, sb_err_t *err) {
  size_t n = 0, done = 0;
  char oid[32] = "";
  int found = 0, rc;
  if (applied)
    *applied = 0;
  if (check_steps(processor, schema, steps, &n, err) != 0)
    return err->code;
  /* one migrator per schema at a time, until the caller's commit */
  rc = sb_pg_exec(pg,
                  "SELECT pg_advisory_xact_lock(hashtext('sb.projection'),"
                  " hashtext($1))",
                  1, (const char *const[]){schema}, err);
  if (rc == 0)
    rc = schema_oid(pg, schema, oid, sizeof oid, &found, err);
  if (rc == 0 && found)
    rc = compare(pg, processor, schema, oid, steps, n, &done, err);
  if (rc != 0)
    return rc;
  if (done == n) /* up to date: read only, which the application role may */
    return tenant_everywhere(pg, processor, schema, 0, err);
  if (!found) {
    char sql[256];
    snprintf(sql, sizeof sql,
             "CREATE SCHEMA %s; GRANT USAGE ON SCHEMA %s TO "
             "switchboard_app",
             schema, schema);
    rc = sb_pg_exec(pg, sql, 0, NULL, err);
    if (rc != 0 && sb_err_sqlstate_is(err, "42501"))
      sb_err_prefix(err,
                    "processor %s: creating its projection in %s needs "
                    "the database owner (run `switchboard migrate` with "
                    "the owner's URL; the application role runs no "
                    "DDL): ",
                    processor, schema);
    if (rc == 0)
      rc = schema_oid(pg, schema, oid, sizeof oid, &found, err);
    /* records of dropped schemas go; an oid used again starts afresh */
    if (rc == 0)
      rc = sb_pg_exec(pg,
                      "DELETE FROM sb.projection_steps p WHERE "
                      "schema_oid = $1 OR NOT EXISTS (SELECT 1 FROM "
                      "pg_namespace n WHERE n.oid = p.schema_oid)",
                      1, (const char *const[]){oid}, err);
    if (rc != 0)
      return rc;
  }
  for (size_t i = done; i < n; i++) {
    if ((rc = apply_step(pg, processor, schema, oid, &steps[i], err)) != 0)
      return rc;
    if (applied)
      (*applied)++;
    sb_log(SB_LOG_INFO, "projection", "applied a projection step",
           SB_F_STR("processor", processor), SB_F_STR("schema", schema),
           SB_F_INT("step", steps[i].version), SB_F_END);
  }
  return 0;
}

int sb_projection_check_rls(sb_pg_t *pg, const char *schema, sb_err_t *err) {
  char oid[32];
  int found = 0;
  if (!sb_rows_name_ok(schema))
    return sb_err_set(err, SB_EINVAL,
                      "projection: schema name '%s' must "
                      "match [a-z_][a-z0-9_]{0,62}",
                      schema ? schema : "(null)");
  if (schema_oid(pg, schema, oid, sizeof oid, &found, err) != 0)
    return err->code;
  if (!found)
    return sb_err_set(err, SB_ENOENT, "projection: schema %s does not exist",
                      schema);
  /* one row per relation that fails, with why; the first one is reported */
  sb_pg_rows_t *r = NULL;
  int rc = sb_pg_rows(
      pg,
      "SELECT c.relname, CASE "
      "WHEN c.relkind NOT IN ('r', 'p') OR c.relispartition THEN CASE WHEN "
      "has_table_privilege('switchboard_reader', c.oid, 'SELECT') AND NOT "
      "(c.relkind = 'v' AND 'security_invoker=true' = ANY "
      "(COALESCE(c.reloptions, '{}'))) THEN "
      "CASE WHEN c.relispartition THEN 'is a partition that readers may "
      "select directly, past its parent''s row-level security' ELSE 'is a "
      "relation (kind ' || c.relkind::text || ') that readers may select, "
      "which row-level security does not bind' END END "
      "WHEN NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = "
      "c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) THEN 'has "
      "no tenant_id column' "
      "WHEN NOT c.relrowsecurity THEN 'has no row-level security' "
      "WHEN NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid "
      "AND p.polcmd IN ('r', '*') AND (SELECT oid FROM pg_roles WHERE "
      "rolname = 'switchboard_reader') = ANY (p.polroles) AND "
      "pg_get_expr(p.polqual, p.polrelid) LIKE '%tenant_id%') THEN 'has no "
      "policy binding switchboard_reader by tenant_id' "
      "WHEN has_table_privilege('switchboard_reader', c.oid, 'INSERT, "
      "UPDATE, DELETE, TRUNCATE') THEN 'may be written by "
      "switchboard_reader' END "
      "FROM pg_class c WHERE c.relnamespace = $1::oid AND c.relkind IN ('r', "
      "'p', 'v', 'm', 'f') ORDER BY c.relname",
      1, (const char *const[]){oid}, &r, err);
  if (rc != 0)
    return rc;
  for (int i = 0; i < sb_pg_rows_count(r) && rc == 0; i++) {
    const char *why = sb_pg_rows_get(r, i, 1);
    if (why != NULL)
      rc = sb_err_set(err, SB_ESTATE, "projection %s: table %s.%s %s", schema,
                      schema, sb_pg_rows_get(r, i, 0), why);
  }
  sb_pg_rows_free(r);
  return rc;
}
