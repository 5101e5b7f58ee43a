/* switchboard config: the effective configuration, or the reference. */
#include "sb_cmds.h"

#include <stdio.h>

static int run_config(sb_cli_t *cli) {
  if (sb_cli_opt(cli, "reference"))
    sb_conf_print_reference(stdout);
  else
    sb_conf_print_effective(&cli->conf, stdout);
  return 0;
}

const sb_cmd_t sb_cmd_config = {
    .name = "config",
    .summary = "Show the effective configuration, or the reference",
    .usage = "config [--reference] [options]",
    .about = "Prints every configuration key with its value and where the "
             "value came from\n(secrets masked), after applying the config "
             "file, the environment and the\nflags. With --reference, prints "
             "the table of every key as Markdown.",
    .conf_keys = sb_cmd_up_keys, /* up takes every key */
    .opts = (const sb_opt_t[]){{"reference", NULL,
                                "Print the reference of every key (Markdown)"},
                               {NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_config,
};
