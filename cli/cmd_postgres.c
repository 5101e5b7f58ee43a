/* switchboard postgres start|stop|status|url: the private PostgreSQL of a
 * data directory, on its own (the test fixture uses it). The URLs it prints
 * are the application role's or a tenant's dashboard login's, never the
 * owner's (superuser's): that one stays in <data_dir>/postgres.state. */
#include "sb_cmds.h"
#include "sb_pgserver.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

/* postgres url [--role app|reader --tenant T] */
static int print_url(sb_cli_t *cli, sb_err_t *err) {
  const char *role = sb_cli_opt(cli, "role");
  const char *tenant = sb_cli_opt(cli, "tenant");
  char url[1024];
  int rc;
  if (role == NULL || strcmp(role, "app") == 0) {
    if (tenant != NULL)
      return sb_err_set(err, SB_EUSAGE, "--tenant goes with --role reader: "
                                        "the application role serves every "
                                        "tenant");
    rc = sb_pgserver_url(&cli->conf, url, sizeof url, err);
  } else if (strcmp(role, "reader") == 0) {
    if (tenant == NULL)
      return sb_err_set(err, SB_EUSAGE, "--role reader needs --tenant T: a "
                                        "dashboard login sees one tenant's "
                                        "rows");
    if (!sb_pgserver_running(&cli->conf))
      return sb_err_set(err, SB_ESTATE,
                        "the private PostgreSQL of %s is not running: start "
                        "'switchboard up' (or 'switchboard postgres start')",
                        cli->conf.data_dir);
    rc = sb_pgserver_reader_url(&cli->conf, tenant, url, sizeof url, err);
  } else {
    return sb_err_set(err, SB_EUSAGE,
                      "--role: '%s' is not app or reader (the owner's URL is "
                      "never printed: migrations and DDL read it from %s/"
                      "postgres.state themselves)",
                      role, cli->conf.data_dir);
  }
  if (rc == 0)
    printf("%s\n", url);
  OPENSSL_cleanse(url, sizeof url);
  return rc;
}

static int run_postgres(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  const char *action = cli->argv[0];
  char url[1024];
  if (strcmp(action, "url") != 0 &&
      (sb_cli_opt(cli, "role") != NULL || sb_cli_opt(cli, "tenant") != NULL)) {
    sb_err_set(&err, SB_EUSAGE, "--role and --tenant go with 'url'");
    return sb_cli_fail(cli, &err);
  }
  if (strcmp(action, "start") == 0) {
    if (sb_pgserver_start(&cli->conf, url, sizeof url, &err) != 0)
      return sb_cli_fail(cli, &err);
    printf("postgres: %s\n", url);
    return 0;
  }
  if (strcmp(action, "stop") == 0)
    return sb_pgserver_stop(&cli->conf, &err) == 0 ? 0 : sb_cli_fail(cli, &err);
  if (strcmp(action, "status") == 0) {
    int up = sb_pgserver_running(&cli->conf);
    printf("postgres: %s\n", up ? "running" : "stopped");
    return up ? 0 : 3;
  }
  if (strcmp(action, "url") == 0)
    return print_url(cli, &err) == 0 ? 0 : sb_cli_fail(cli, &err);
  sb_err_set(&err, SB_EUSAGE,
             "unknown action '%s': use start, stop, status or url", action);
  return sb_cli_fail(cli, &err);
}

static const char *const postgres_keys[] = {"postgres.bindir", "postgres.os_user",
                                            "postgres.port", NULL};

const sb_cmd_t sb_cmd_postgres = {
    .name = "postgres",
    .summary = "Start, stop or locate the private PostgreSQL server",
    .usage = "postgres start|stop|status|url [--role app|reader --tenant T] "
             "[options]",
    .about = "Manages the private PostgreSQL server of the data directory "
             "without the rest\nof Switchboard. 'start' creates it if needed "
             "and prints 'postgres: <url>' (the\napplication role's); "
             "'status' exits 0 when it runs and 3 when it does not.\n'url' "
             "prints the application role's URL, or with --role reader "
             "--tenant T\nthe URL of T's dashboard login (created on first "
             "use; it reads T's rows of\nthe projections and nothing else). "
             "The superuser's URL is never printed.",
    .conf_keys = postgres_keys,
    .opts = (const sb_opt_t[]){{"role", "ROLE",
                                "url: app (default) or reader"},
                               {"tenant", "TENANT",
                                "url --role reader: the tenant the login "
                                "reads"},
                               {NULL, NULL, NULL}},
    .min_args = 1,
    .max_args = 1,
    .run = run_postgres,
};
