#include "sb_cmds.h"
#include "sb_processor.h"

#include <stdio.h>

static const sb_cmd_t *const commands[] = {
    &sb_cmd_up,     &sb_cmd_run,      &sb_cmd_serve,      &sb_cmd_import,
    &sb_cmd_replay, &sb_cmd_audit,    &sb_cmd_migrate,
    &sb_cmd_postgres, &sb_cmd_config, &sb_cmd_token, &sb_cmd_generate, &sb_cmd_bench,
    &sb_cmd_keys, &sb_cmd_gdpr, &sb_cmd_analytics, &sb_cmd_dispatch, &sb_cmd_ami, NULL,
};

int main(int argc, char **argv) {
  /* the processors' keys join the configuration table before it is read */
  sb_err_t err = SB_ERR_INIT;
  if (sb_processors_add_conf(&err) != 0) {
    fprintf(stderr, "switchboard: %s\n", err.msg);
    return 1;
  }
  return sb_cli_main(commands, argc, argv);
}
