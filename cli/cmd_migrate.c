/* switchboard migrate: apply the compiled-in migrations, create the live
 * projections of the built-in processors, and stop. All DDL happens here
 * (and in replay), as the owner: the application role owns nothing. */
#include "sb_cmds.h"
#include "sb_pipeline.h"
#include "sb_log.h"
#include "sb_migrate.h"
#include "sb_pg.h"

#include <openssl/crypto.h>
#include <stdio.h>

int sb_cmd_apply_migrations(const char *database_url, int *applied,
                            sb_err_t *err) {
  sb_pg_t *pg = NULL;
  int rc = sb_pg_connect(database_url, &pg, err);
  if (rc == 0)
    rc = sb_migrate(pg, sb_migrations, sb_migrations_n, applied, err);
  /* the projections are part of the schema: created by whoever migrates,
   * so that workers, which log in as the application role, never need to */
  for (const sb_processor_vt_t *const *p = sb_builtin_processors;
       rc == 0 && *p; p++)
    rc = sb_processor_ensure_live(pg, *p, err);
  sb_pg_close(pg);
  return rc;
}

static int run_migrate(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  int applied = 0;
  char url[1024];
  int rc = sb_cli_owner_url(cli, url, sizeof url, &err);
  if (rc == 0)
    rc = sb_cmd_apply_migrations(url, &applied, &err);
  OPENSSL_cleanse(url, sizeof url);
  if (rc != 0)
    return sb_cli_fail(cli, &err);
  printf("migrations: %d applied, %zu known\n", applied, sb_migrations_n);
  return 0;
}

static const char *const migrate_keys[] = {"database_url", NULL};

const sb_cmd_t sb_cmd_migrate = {
    .name = "migrate",
    .summary = "Apply the database migrations",
    .usage = "migrate [options]",
    .about = "Applies the migrations compiled into this binary (from sql/) "
             "that the database\nlacks, in order, each once and in its own "
             "transaction, and creates the\nbuilt-in processors' projection "
             "tables. Run it as the database's owner:\n--database-url (in "
             "production the owner role's URL), or, on the running\n"
             "instance's private server, its superuser (read from "
             "postgres.state).",
    .conf_keys = migrate_keys,
    .opts = (const sb_opt_t[]){{NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_migrate,
};
