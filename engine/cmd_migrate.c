/* switchboard migrate: apply the compiled-in migrations and stop. */
#include "sb_cmds.h"
#include "sb_log.h"
#include "sb_migrate.h"
#include "sb_pg.h"

#include <stdio.h>

int sb_cmd_apply_migrations(const char *database_url, int *applied,
                            sb_err_t *err) {
  sb_pg_t *pg = NULL;
  int rc = sb_pg_connect(database_url, &pg, err);
  if (rc == 0)
    rc = sb_migrate(pg, sb_migrations, sb_migrations_n, applied, err);
  sb_pg_close(pg);
  return rc;
}

static int run_migrate(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  int applied = 0;
  if (sb_cli_database_url(cli, &err) != 0 ||
      sb_cmd_apply_migrations(cli->conf.database_url, &applied, &err) != 0)
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
             "transaction. Uses --database-url,\nor the running instance's "
             "database.",
    .conf_keys = migrate_keys,
    .opts = (const sb_opt_t[]){{NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_migrate,
};
