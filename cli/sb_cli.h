/* Commands: a table of sb_cmd_t. Each command names the configuration
 * properties it offers as flags and its own options; parsing, the layering
 * of configuration and the --help text all come from those tables.
 *
 * Exit codes: 0 success, 1 failure, 2 bad usage or configuration. */
#ifndef SB_CLI_H
#define SB_CLI_H

#include "sb_conf.h"
#include "sb_err.h"

#define SB_CLI_MAX_OPTS 32

typedef struct sb_opt_s {
  const char *name; /* spelled --name */
  const char *arg;  /* metavar; NULL for a switch */
  const char *help;
} sb_opt_t;

typedef struct sb_cli_s sb_cli_t;

typedef struct sb_cmd_s {
  const char *name;
  const char *summary; /* one line, for the command list */
  const char *usage;   /* "up [options]" */
  const char *about;   /* what it does, for --help */
  const char *const *conf_keys; /* properties offered as flags; NULL-ended */
  int processor_keys; /* also offers every processor's keys (run, up) */
  const sb_opt_t *opts;         /* own options, ending with {NULL} */
  int min_args, max_args;       /* positional arguments */
  int (*run)(sb_cli_t *cli);
} sb_cmd_t;

struct sb_cli_s {
  const sb_cmd_t *cmd;
  sb_conf_t conf;
  const char *opt[SB_CLI_MAX_OPTS]; /* by index of cmd->opts; switches "1" */
  int argc;
  char **argv; /* positional arguments */
};

/* Runs the command named by argv[1]; returns the process exit code. */
int sb_cli_main(const sb_cmd_t *const *cmds, int argc, char **argv);

/* The value of the command's own option name, or NULL. */
const char *sb_cli_opt(const sb_cli_t *cli, const char *name);

/* Prints "switchboard CMD: message" for err and returns the exit code
 * (2 for configuration and usage errors, 1 otherwise). */
int sb_cli_fail(const sb_cli_t *cli, const sb_err_t *err);

/* The database URL for commands that talk to PostgreSQL: the configured one,
 * the running instance's, or the private server's when it runs. */
int sb_cli_database_url(sb_cli_t *cli, sb_err_t *err);

/* The URL for migrations and DDL (migrate, replay): a database_url given
 * by flag, environment or file as it is (production: the owner's); else,
 * where the database is this data directory's private server, its owner's
 * (superuser's) URL, read from postgres.state. Never print or log it (but
 * through sb_url_redact). cli->conf.database_url is left as it was. */
int sb_cli_owner_url(sb_cli_t *cli, char *url, size_t urlsz, sb_err_t *err);

/* Brokers and database for commands that work against a running Switchboard:
 * the configured ones, else the running instance's in the data directory.
 * need_db 0: brokers only. */
int sb_cli_need_instance(sb_cli_t *cli, int need_db, sb_err_t *err);

/* The version line, with the libraries' versions. */
void sb_cli_print_version(void);

#endif
