/* Processors as the engine sees them before running them: the vtable's
 * check, the built-in registry's lookup, and the projection's tables. */
#include "sb_pipeline.h"

#include "sb_log.h"
#include "sb_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sb_processor_check(const sb_processor_vt_t *vt, sb_err_t *err) {
  if (vt == NULL)
    return sb_err_set(err, SB_EINVAL, "processor: NULL vtable");
  const char *n = vt->name ? vt->name : "(unnamed)";
  if (vt->abi != SB_PROCESSOR_ABI)
    return sb_err_set(err, SB_EINVAL, "processor %s: ABI %u, engine has %d", n,
                      vt->abi, SB_PROCESSOR_ABI);
  if (vt->name == NULL || vt->name[0] < 'a' || vt->name[0] > 'z' ||
      strspn(vt->name, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
          strlen(vt->name) ||
      strlen(vt->name) > 40)
    return sb_err_set(err, SB_EINVAL,
                      "processor %s: name must match "
                      "[a-z][a-z0-9_]{0,39}",
                      n);
  if (vt->topics == NULL || vt->topics[0] == NULL)
    return sb_err_set(err, SB_EINVAL, "processor %s: reads no topics", n);
  const char *missing = !vt->ddl       ? "ddl"
                        : !vt->init    ? "init"
                        : !vt->event   ? "event"
                        : !vt->commit  ? "commit"
                        : !vt->abort   ? "abort"
                        : !vt->destroy ? "destroy"
                                       : NULL;
  if (missing)
    return sb_err_set(err, SB_EINVAL,
                      "processor %s: the required %s is "
                      "missing",
                      n, missing);
  return 0;
}

const sb_processor_vt_t *sb_processor_find(const char *name) {
  for (const sb_processor_vt_t *const *p = sb_builtin_processors; *p; p++)
    if (strcmp((*p)->name, name) == 0)
      return *p;
  return NULL;
}

/* Replaces every "{schema}" of vt->ddl and runs it. */
int sb_processor_create_tables(sb_pg_t *pg, const sb_processor_vt_t *vt,
                               const char *schema, sb_err_t *err) {
  /* room for every "{schema}" spelled out, and for the statements around */
  size_t uses = 0;
  for (const char *p = strstr(vt->ddl, "{schema}"); p;
       p = strstr(p + 8, "{schema}"))
    uses++;
  size_t cap = strlen(vt->ddl) + (uses + 4) * strlen(schema) + 512;
  char *sql = malloc(cap);
  if (sql == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  size_t n = (size_t)snprintf(sql, cap,
                              "CREATE SCHEMA %s; GRANT USAGE ON "
                              "SCHEMA %s TO switchboard_app;\n",
                              schema, schema);
  for (const char *p = vt->ddl; *p;) {
    if (strncmp(p, "{schema}", 8) == 0) {
      n += (size_t)snprintf(sql + n, cap - n, "%s", schema);
      p += 8;
    } else {
      sql[n++] = *p++;
    }
  }
  /* readers (dashboards) see their tenant's rows: row-level security on
   * every table with a tenant_id (sql/0006_roles.sql) */
  n += (size_t)snprintf(sql + n, cap - n,
                        "\nDO $$ BEGIN IF to_regprocedure("
                        "'sb.protect_projection(text)') IS NOT NULL THEN "
                        "PERFORM sb.protect_projection('%s'); END IF; "
                        "END $$;\n",
                        schema);
  sql[n] = '\0';
  int rc = sb_pg_exec(pg, sql, 0, NULL, err);
  free(sql);
  if (rc != 0 && sb_err_sqlstate_is(err, "42501"))
    sb_err_prefix(err,
                  "processor %s: creating its tables in %s needs the "
                  "database owner (run `switchboard migrate` with the "
                  "owner's URL; the application role runs no DDL): ",
                  vt->name, schema);
  else if (rc != 0)
    sb_err_prefix(err, "processor %s: creating its tables in %s: ", vt->name,
                  schema);
  return rc;
}

int sb_processor_ensure_live(sb_pg_t *pg, const sb_processor_vt_t *vt,
                             sb_err_t *err) {
  char row[16];
  int found = 0;
  const char *name = vt->name;
  int rc = sb_pg_exec(pg, "BEGIN", 0, NULL, err);
  if (rc == 0) /* one creator at a time across workers */
    rc = sb_pg_exec(pg,
                    "SELECT pg_advisory_xact_lock(hashtext('sb.processors'))",
                    0, NULL, err);
  if (rc == 0)
    rc =
        sb_pg_query1(pg, "SELECT generation FROM sb.processors WHERE name = $1",
                     1, &name, row, sizeof row, &found, NULL, err);
  if (rc == 0 && !found) {
    char group[128];
    snprintf(group, sizeof group, "switchboard.%s", name);
    rc = sb_processor_create_tables(pg, vt, name, err);
    if (rc == 0)
      rc = sb_pg_exec(pg,
                      "INSERT INTO sb.processors (name, consumer_group) "
                      "VALUES ($1, $2)",
                      2, (const char *const[]){name, group}, err);
    if (rc == 0)
      sb_log(SB_LOG_INFO, "engine", "created the projection tables",
             SB_F_STR("processor", name), SB_F_END);
  }
  if (rc == 0)
    rc = sb_pg_exec(pg, "COMMIT", 0, NULL, err);
  if (rc != 0)
    sb_pg_exec(pg, "ROLLBACK", 0, NULL, NULL);
  return rc;
}
