/* switchboard postgres start|stop|status|url: the private PostgreSQL of a
 * data directory, on its own (the test fixture uses it). */
#include "sb_cmds.h"
#include "sb_pgserver.h"

#include <stdio.h>
#include <string.h>

static int run_postgres(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  const char *action = cli->argv[0];
  char url[1024];
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
  if (strcmp(action, "url") == 0) {
    if (sb_pgserver_url(&cli->conf, url, sizeof url, &err) != 0)
      return sb_cli_fail(cli, &err);
    printf("%s\n", url);
    return 0;
  }
  sb_err_set(&err, SB_EUSAGE,
             "unknown action '%s': use start, stop, status or url", action);
  return sb_cli_fail(cli, &err);
}

static const char *const postgres_keys[] = {"postgres.bindir", "postgres.os_user",
                                            "postgres.port", NULL};

const sb_cmd_t sb_cmd_postgres = {
    .name = "postgres",
    .summary = "Start, stop or locate the private PostgreSQL server",
    .usage = "postgres start|stop|status|url [options]",
    .about = "Manages the private PostgreSQL server of the data directory "
             "without the rest\nof Switchboard. 'start' creates it if needed "
             "and prints 'postgres: <url>';\n'status' exits 0 when it runs and "
             "3 when it does not.",
    .conf_keys = postgres_keys,
    .opts = (const sb_opt_t[]){{NULL, NULL, NULL}},
    .min_args = 1,
    .max_args = 1,
    .run = run_postgres,
};
