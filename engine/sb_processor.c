/* Processors as the engine sees them before running them: the vtable's
 * check, the built-in registry's lookup, and the projection's tables. */
#include "sb_pipeline.h"

#include "sb_log.h"
#include "sb_pg.h"
#include "sb_pii_rows.h"
#include "sb_util.h"

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
  const char *missing = !vt->migrations ? "migrations"
                        : !vt->init     ? "init"
                        : !vt->event    ? "event"
                        : !vt->destroy  ? "destroy"
                                        : NULL;
  if (missing)
    return sb_err_set(err, SB_EINVAL,
                      "processor %s: the required %s is "
                      "missing",
                      n, missing);
  if (sb_pii_cols_check(vt, err) != 0)
    return err->code;
  for (const sb_view_def_t *v = vt->views; v && v->name; v++)
    if (v->name[0] < 'a' || v->name[0] > 'z' ||
        strspn(v->name, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
            strlen(v->name) ||
        strlen(v->name) > 63 || v->relation == NULL || v->order == NULL ||
        v->order[0] == '\0' || (v->flags & ~SB_VIEW_AGENTS_ALL) != 0)
      return sb_err_set(err, SB_EINVAL,
                        "processor %s: view '%s' needs a name "
                        "[a-z][a-z0-9_]*, a relation and an order", n,
                        v->name);
  size_t nl = strlen(vt->name);
  for (const sb_conf_prop_t *c = vt->conf; c && c->name; c++)
    if (strncmp(c->name, vt->name, nl) != 0 || c->name[nl] != '.' ||
        c->name[nl + 1] == '\0' || c->desc == NULL)
      return sb_err_set(err, SB_EINVAL,
                        "processor %s: configuration key '%s' must be named "
                        "'%s.<key>' and described",
                        n, c->name, vt->name);
  return 0;
}

int sb_processors_add_conf(sb_err_t *err) {
  for (const sb_processor_vt_t *const *p = sb_builtin_processors; *p; p++) {
    int rc = sb_processor_check(*p, err);
    if (rc == 0)
      rc = sb_conf_add_rows((*p)->conf, err);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int sb_processor_conf_check(const sb_processor_vt_t *vt, const sb_conf_t *c,
                            sb_err_t *err) {
  for (const sb_conf_prop_t *r = vt->conf; r && r->name; r++)
    if (sb_conf_find(r->name) != r ||
        (r->def != NULL && sb_conf_origin(c, r->name) == SB_CO_UNSET))
      return sb_err_set(err, SB_EINVAL,
                        "processor %s: its configuration key '%s' was not in "
                        "the table when the configuration was read (call "
                        "sb_processors_add_conf before sb_conf_init)",
                        vt->name, r->name);
  return 0;
}

const sb_processor_vt_t *sb_processor_find(const char *name) {
  for (const sb_processor_vt_t *const *p = sb_builtin_processors; *p; p++)
    if (strcmp((*p)->name, name) == 0)
      return *p;
  return NULL;
}

/* Brings schema up to vt's migration steps (creating it when missing). */
int sb_processor_create_tables(sb_pg_t *pg, const sb_processor_vt_t *vt,
                               const char *schema, sb_err_t *err) {
  int rc =
      sb_projection_migrate(pg, vt->name, schema, vt->migrations, NULL, err);
  if (rc != 0 && sb_err_sqlstate_is(err, "42501"))
    sb_err_prefix(err,
                  "processor %s: migrating its tables in %s needs the "
                  "database owner (run `switchboard migrate` with the "
                  "owner's URL; the application role runs no DDL): ",
                  vt->name, schema);
  return rc;
}

/* A live projection created by the DDL of a binary that recorded no
 * steps (before sql/0007) was made by what is now its step 1: recorded as
 * such, once, so that later steps apply on top of it. */
static int adopt(sb_pg_t *pg, const sb_processor_vt_t *vt, const char *schema,
                 sb_err_t *err) {
  char row[8], hex[65];
  int found = 0;
  if (sb_pg_query1(pg,
                   "SELECT 1 FROM pg_namespace n WHERE n.nspname = $1 AND NOT "
                   "EXISTS (SELECT 1 FROM sb.projection_steps s WHERE "
                   "s.schema_oid = n.oid)",
                   1, &schema, row, sizeof row, &found, NULL, err) != 0)
    return err->code;
  if (!found || vt->migrations[0].version != 1)
    return 0;
  if (sb_sha256_hex(vt->migrations[0].ddl, hex, err) != 0)
    return err->code;
  int rc = sb_pg_exec(pg,
                      "INSERT INTO sb.projection_steps (schema_oid, version, "
                      "schema_name, processor, sha256) SELECT oid, 1, $1, $2, "
                      "$3 FROM pg_namespace WHERE nspname = $1",
                      3, (const char *const[]){schema, vt->name, hex}, err);
  if (rc == 0)
    sb_log(SB_LOG_INFO, "engine",
           "an existing projection recorded as its "
           "migration step 1",
           SB_F_STR("processor", vt->name), SB_F_STR("schema", schema),
           SB_F_END);
  else if (sb_err_sqlstate_is(err, "42501"))
    sb_err_prefix(err,
                  "processor %s: recording its existing projection's "
                  "step 1 needs the database owner (run `switchboard "
                  "migrate` with the owner's URL): ",
                  vt->name);
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
  } else if (rc == 0) {
    /* a projection made before steps were recorded holds step 1 */
    rc = adopt(pg, vt, name, err);
    if (rc == 0)
      rc = sb_processor_create_tables(pg, vt, name, err);
  }
  if (rc == 0)
    rc = sb_pg_exec(pg, "COMMIT", 0, NULL, err);
  if (rc != 0)
    sb_pg_exec(pg, "ROLLBACK", 0, NULL, NULL);
  return rc;
}
