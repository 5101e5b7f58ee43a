#include "sb_cmds.h"

static const sb_cmd_t *const commands[] = {
    &sb_cmd_up,     &sb_cmd_run,      &sb_cmd_serve,      &sb_cmd_import,
    &sb_cmd_replay, &sb_cmd_audit,    &sb_cmd_migrate,
    &sb_cmd_postgres, &sb_cmd_config, &sb_cmd_token, &sb_cmd_generate, &sb_cmd_bench,
    &sb_cmd_keys, NULL,
};

int main(int argc, char **argv) { return sb_cli_main(commands, argc, argv); }
