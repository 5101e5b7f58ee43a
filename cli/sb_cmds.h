/* The commands of the switchboard binary. */
#ifndef SB_CMDS_H
#define SB_CMDS_H

#include "sb_cli.h"

extern const sb_cmd_t sb_cmd_up;
extern const sb_cmd_t sb_cmd_migrate;
extern const sb_cmd_t sb_cmd_postgres;
extern const sb_cmd_t sb_cmd_config;
extern const sb_cmd_t sb_cmd_run;
extern const sb_cmd_t sb_cmd_import;
extern const sb_cmd_t sb_cmd_replay;
extern const sb_cmd_t sb_cmd_audit;
extern const sb_cmd_t sb_cmd_token;
extern const sb_cmd_t sb_cmd_serve;
extern const sb_cmd_t sb_cmd_bench;
extern const sb_cmd_t sb_cmd_generate;
extern const sb_cmd_t sb_cmd_keys;
extern const sb_cmd_t sb_cmd_gdpr;
extern const sb_cmd_t sb_cmd_analytics;
extern const sb_cmd_t sb_cmd_dispatch;
extern const sb_cmd_t sb_cmd_ami;

/* The configuration keys `up` offers as flags. */
extern const char *const sb_cmd_up_keys[];

/* Connects to database_url (the owner's: it runs DDL), applies the
 * compiled-in migrations and creates the built-in processors' live
 * projections where missing; *applied counts the new migrations (may be
 * NULL). With everything in place it runs no DDL, so the application role
 * passes too. */
int sb_cmd_apply_migrations(const char *database_url, int *applied,
                            sb_err_t *err);

#endif
