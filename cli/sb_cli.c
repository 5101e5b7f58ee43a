#include "sb_cli.h"

#include "sb_kafka.h"
#include "sb_log.h"
#include "sb_pg.h"
#include "sb_pgserver.h"
#include "sb_instance.h"
#include "sb_util.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#ifndef SB_VERSION
#define SB_VERSION "0.0.0"
#endif

/* Offered as flags by every command. */
static const char *const common_keys[] = {"data_dir", "log.level",
                                          "log.format", NULL};

typedef struct {
  const char *key;
  const char *val;
  char where[160];
} pending_t;

void sb_cli_print_version(void) {
  printf("switchboard %s (librdkafka %s, libpq %d, libuv %s, %s, cJSON %s)\n",
         SB_VERSION, sb_kafka_version(), sb_pg_libversion(),
         uv_version_string(), OpenSSL_version(OPENSSL_VERSION),
         cJSON_Version());
}

static int offers_key(const sb_cmd_t *cmd, const char *key) {
  for (const char *const *k = common_keys; *k; k++)
    if (strcmp(*k, key) == 0)
      return 1;
  for (const char *const *k = cmd->conf_keys; k && *k; k++)
    if (strcmp(*k, key) == 0)
      return 1;
  const sb_conf_prop_t *p = sb_conf_find(key);
  return cmd->processor_keys && p != NULL && sb_conf_is_processors(p) &&
         strcmp(p->name, key) == 0;
}

/* "  --flag ARG     help text" with the help wrapped at 79 columns. */
static void print_flag_line(const char *flag, const char *arg, const char *help) {
  enum { INDENT = 29, WIDTH = 79 };
  char left[64];
  snprintf(left, sizeof left, "%s%s%s", flag, arg ? " " : "", arg ? arg : "");
  if (strlen(left) < INDENT - 3)
    printf("  %-*s ", INDENT - 3, left);
  else
    printf("  %s\n%*s", left, INDENT, "");
  const char *p = help;
  while (*p) {
    size_t room = WIDTH - INDENT, n = strlen(p);
    if (n > room) {
      n = room;
      while (n > 0 && p[n] != ' ')
        n--;
      if (n == 0)
        n = room;
    }
    printf("%.*s\n", (int)n, p);
    p += n;
    while (*p == ' ')
      p++;
    if (*p)
      printf("%*s", INDENT, "");
  }
  if (*help == '\0')
    printf("\n");
}

static void print_conf_flag(const char *key) {
  const sb_conf_prop_t *p = sb_conf_find(key);
  if (p == NULL)
    return;
  char flag[64], help[512];
  sb_conf_flag_name(p, flag, sizeof flag);
  if (p->def)
    snprintf(help, sizeof help, "%s [%s; default %s]", p->desc, p->name, p->def);
  else
    snprintf(help, sizeof help, "%s [%s]", p->desc, p->name);
  print_flag_line(flag, p->arg, help);
}

static void print_cmd_help(const sb_cmd_t *cmd) {
  printf("usage: switchboard %s\n\n%s\n", cmd->usage, cmd->about);
  if (cmd->opts && cmd->opts[0].name) {
    printf("\noptions:\n");
    for (const sb_opt_t *o = cmd->opts; o->name; o++) {
      char flag[64];
      snprintf(flag, sizeof flag, "--%s", o->name);
      print_flag_line(flag, o->arg, o->help);
    }
  }
  printf("\nconfiguration (also settable in the config file and environment):\n");
  for (const char *const *k = cmd->conf_keys; k && *k; k++)
    print_conf_flag(*k);
  for (const char *const *k = common_keys; *k; k++)
    print_conf_flag(*k);
  print_flag_line("--config", "FILE",
                  "Read `key = value` configuration from FILE "
                  "[$SWITCHBOARD_CONFIG]");
  print_flag_line("--set", "KEY=VALUE",
                  "Set any configuration key, including kafka.<property>");
  print_flag_line("-h, --help", NULL, "Show this help");
  print_flag_line("--version", NULL, "Show the version");
  if (cmd->processor_keys) {
    printf("\nprocessors' configuration:\n");
    for (size_t i = 0; i < sb_conf_count(); i++)
      if (sb_conf_is_processors(sb_conf_prop(i)))
        print_conf_flag(sb_conf_prop(i)->name);
  }
  printf("\nSee 'switchboard config --reference' for every key.\n");
}

static void print_top_help(const sb_cmd_t *const *cmds) {
  printf("usage: switchboard COMMAND [options]\n\n"
         "Switchboard: an event-sourced stream-processing engine for "
         "contact-centre\nand lead-management platforms. Kafka holds the log; "
         "processors keep\nprojections in PostgreSQL, effectively once.\n\n"
         "commands:\n");
  for (const sb_cmd_t *const *c = cmds; *c; c++)
    printf("  %-12s %s\n", (*c)->name, (*c)->summary);
  printf("\nRun 'switchboard COMMAND --help' for a command's options.\n");
}

static const sb_cmd_t *find_cmd(const sb_cmd_t *const *cmds, const char *name) {
  for (const sb_cmd_t *const *c = cmds; *c; c++)
    if (strcmp((*c)->name, name) == 0)
      return *c;
  return NULL;
}

static int usage_error(const sb_cmd_t *cmd, const char *fmt, const char *a) {
  fprintf(stderr, "switchboard %s: ", cmd->name);
  fprintf(stderr, fmt, a);
  fprintf(stderr, " (see 'switchboard %s --help')\n", cmd->name);
  return 2;
}

int sb_cli_fail(const sb_cli_t *cli, const sb_err_t *err) {
  fprintf(stderr, "switchboard %s: %s\n", cli->cmd->name,
          err->msg[0] ? err->msg : sb_strerror(err->code));
  return (err->code == SB_ECONFIG || err->code == SB_EUSAGE) ? 2 : 1;
}

const char *sb_cli_opt(const sb_cli_t *cli, const char *name) {
  for (int i = 0; cli->cmd->opts && cli->cmd->opts[i].name &&
                  i < SB_CLI_MAX_OPTS;
       i++)
    if (strcmp(cli->cmd->opts[i].name, name) == 0)
      return cli->opt[i];
  return NULL;
}

/* Applies the configuration layers: defaults, file, environment, flags. */
static int load_conf(sb_cli_t *cli, const char *config_file, pending_t *sets,
                     int nsets, sb_err_t *err) {
  if (sb_conf_init(&cli->conf, err) != 0)
    return err->code;
  if (config_file == NULL)
    config_file = getenv("SWITCHBOARD_CONFIG");
  if (config_file != NULL) {
    if (sb_conf_load_file(&cli->conf, config_file, SB_CO_FILE, err) != 0)
      return err->code;
    cli->conf.config_file = strdup(config_file);
  }
  if (sb_conf_load_env(&cli->conf, err) != 0)
    return err->code;
  for (int i = 0; i < nsets; i++)
    if (sb_conf_set(&cli->conf, sets[i].key, sets[i].val, SB_CO_FLAG,
                    sets[i].where, err) != 0)
      return err->code;
  sb_log_setup((sb_log_level_t)cli->conf.log_level,
               (sb_log_format_t)cli->conf.log_format);
  return 0;
}

static int run_cmd(const sb_cmd_t *cmd, int argc, char **argv) {
  sb_cli_t cli;
  memset(&cli, 0, sizeof cli);
  cli.cmd = cmd;
  pending_t *sets = calloc((size_t)argc + 1, sizeof *sets);
  char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int nsets = 0, npos = 0, rc = 2;
  const char *config_file = NULL;
  if (sets == NULL || pos == NULL)
    goto out;

  for (int i = 0; i < argc; i++) {
    char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      while (++i < argc)
        pos[npos++] = argv[i];
      break;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      print_cmd_help(cmd);
      rc = 0;
      goto out;
    }
    if (strcmp(a, "--version") == 0) {
      sb_cli_print_version();
      rc = 0;
      goto out;
    }
    if (a[0] != '-' || a[1] == '\0') {
      pos[npos++] = a;
      continue;
    }
    if (a[1] != '-') {
      rc = usage_error(cmd, "unknown option '%s'", a);
      goto out;
    }
    /* --name or --name=value */
    char name[128];
    const char *eq = strchr(a + 2, '=');
    size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (nlen >= sizeof name) {
      rc = usage_error(cmd, "unknown option '%s'", a);
      goto out;
    }
    memcpy(name, a + 2, nlen);
    name[nlen] = '\0';
    const char *val = eq ? eq + 1 : NULL;

    int own = -1;
    /* cli.opt holds SB_CLI_MAX_OPTS: an option past it is unknown */
    for (int k = 0; cmd->opts && cmd->opts[k].name && k < SB_CLI_MAX_OPTS;
         k++)
      if (strcmp(cmd->opts[k].name, name) == 0)
        own = k;
    const sb_conf_prop_t *prop = NULL;
    if (own < 0 && strcmp(name, "config") != 0 && strcmp(name, "set") != 0) {
      prop = sb_conf_find(name);
      if (prop == NULL || !offers_key(cmd, prop->name)) {
        rc = usage_error(cmd, "unknown option '%s'", a);
        goto out;
      }
    }
    int takes_arg = own < 0 || cmd->opts[own].arg != NULL;
    if (!takes_arg && val != NULL) {
      rc = usage_error(cmd, "option '--%s' takes no value", name);
      goto out;
    }
    if (takes_arg && val == NULL) {
      if (i + 1 >= argc) {
        rc = usage_error(cmd, "option '--%s' needs a value", name);
        goto out;
      }
      val = argv[++i];
    }
    if (own >= 0) {
      cli.opt[own] = takes_arg ? val : "1";
    } else if (strcmp(name, "config") == 0) {
      config_file = val;
    } else if (strcmp(name, "set") == 0) {
      const char *e2 = strchr(val, '=');
      if (e2 == NULL || e2 == val) {
        rc = usage_error(cmd, "--set takes KEY=VALUE, got '%s'", val);
        goto out;
      }
      /* split into our own copy: argv stays as it was */
      size_t klen = (size_t)(e2 - val);
      char *k = malloc(klen + 1);
      if (k == NULL)
        goto out;
      memcpy(k, val, klen);
      k[klen] = '\0';
      sets[nsets].key = k;
      sets[nsets].val = e2 + 1;
      snprintf(sets[nsets].where, sizeof sets[nsets].where, "--set %s", k);
      nsets++;
    } else {
      sets[nsets].key = prop->name;
      sets[nsets].val = val;
      snprintf(sets[nsets].where, sizeof sets[nsets].where, "--%s", name);
      nsets++;
    }
  }
  if (npos < cmd->min_args) {
    rc = usage_error(cmd, "missing argument%s", cmd->min_args > 1 ? "s" : "");
    goto out;
  }
  if (npos > cmd->max_args) {
    rc = usage_error(cmd, "unexpected argument '%s'", pos[cmd->max_args]);
    goto out;
  }
  cli.argc = npos;
  cli.argv = pos;
  sb_err_t err = SB_ERR_INIT;
  if (load_conf(&cli, config_file, sets, nsets, &err) != 0) {
    rc = sb_cli_fail(&cli, &err);
    goto out;
  }
  rc = cmd->run(&cli);
out:
  for (int i = 0; sets && i < nsets; i++)
    if (strncmp(sets[i].where, "--set ", 6) == 0)
      free((char *)sets[i].key);
  free(sets);
  free(pos);
  sb_conf_free(&cli.conf);
  return rc;
}

int sb_cli_main(const sb_cmd_t *const *cmds, int argc, char **argv) {
  if (argc < 2) {
    print_top_help(cmds);
    return 2;
  }
  const char *name = argv[1];
  if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
    print_top_help(cmds);
    return 0;
  }
  if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
    sb_cli_print_version();
    return 0;
  }
  if (strcmp(name, "help") == 0) {
    if (argc < 3) {
      print_top_help(cmds);
      return 0;
    }
    const sb_cmd_t *cmd = find_cmd(cmds, argv[2]);
    if (cmd == NULL) {
      fprintf(stderr, "switchboard: unknown command '%s' (see 'switchboard "
                      "--help')\n", argv[2]);
      return 2;
    }
    print_cmd_help(cmd);
    return 0;
  }
  const sb_cmd_t *cmd = find_cmd(cmds, name);
  if (cmd == NULL) {
    const char *hint = NULL;
    int best = 3;
    for (const sb_cmd_t *const *c = cmds; *c; c++) {
      int d = sb_edit_distance(name, (*c)->name);
      if (d < best) {
        best = d;
        hint = (*c)->name;
      }
    }
    fprintf(stderr, "switchboard: unknown command '%s'%s%s%s (see "
                    "'switchboard --help')\n",
            name, hint ? "; did you mean '" : "", hint ? hint : "",
            hint ? "'?" : "");
    return 2;
  }
  return run_cmd(cmd, argc - 2, argv + 2);
}

int sb_cli_database_url(sb_cli_t *cli, sb_err_t *err) {
  if (sb_instance_discover(&cli->conf, err) != 0)
    return err->code;
  if (cli->conf.database_url != NULL)
    return 0;
  if (sb_pgserver_running(&cli->conf)) {
    char url[512];
    if (sb_pgserver_url(&cli->conf, url, sizeof url, err) != 0)
      return err->code;
    return sb_conf_set(&cli->conf, "database_url", url, SB_CO_RUNTIME, NULL,
                       err);
  }
  return sb_err_set(err, SB_ECONFIG,
                    "no database: pass --database-url, or start 'switchboard "
                    "up' (data directory %s)",
                    cli->conf.data_dir);
}

int sb_cli_owner_url(sb_cli_t *cli, char *url, size_t urlsz, sb_err_t *err) {
  sb_conf_t *c = &cli->conf;
  sb_conf_origin_t o = sb_conf_origin(c, "database_url");
  if (c->database_url != NULL && o != SB_CO_RUNTIME && o != SB_CO_DEFAULT)
    return sb_fmt(url, urlsz, err, "%s", c->database_url);
  if (sb_instance_discover(c, err) != 0)
    return err->code;
  char app[1024];
  sb_err_t ignore = SB_ERR_INIT;
  int private_db = sb_pgserver_url(c, app, sizeof app, &ignore) == 0 &&
                   (c->database_url == NULL ||
                    strcmp(c->database_url, app) == 0);
  OPENSSL_cleanse(app, sizeof app);
  if (private_db && (c->database_url != NULL || sb_pgserver_running(c)))
    return sb_pgserver_owner_url(c, url, urlsz, err);
  if (c->database_url != NULL)
    return sb_fmt(url, urlsz, err, "%s", c->database_url);
  return sb_err_set(err, SB_ECONFIG,
                    "no database: pass --database-url, or start 'switchboard "
                    "up' (data directory %s)",
                    c->data_dir);
}

int sb_cli_need_instance(sb_cli_t *cli, int need_db, sb_err_t *err) {
  if (sb_instance_discover(&cli->conf, err) != 0)
    return err->code;
  if (cli->conf.brokers != NULL && (!need_db || cli->conf.database_url != NULL))
    return 0;
  return sb_err_set(err, SB_ECONFIG,
                    "no running switchboard up in %s and no %s configured: "
                    "start 'switchboard up' or pass --brokers%s",
                    cli->conf.data_dir,
                    cli->conf.brokers == NULL ? "brokers" : "database_url",
                    need_db ? " and --database-url" : "");
}
