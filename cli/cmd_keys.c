/* switchboard keys rotate --tenant T | keys status [--tenant T]: the
 * tenant keys that seal PII (engine/sb_keys.h). */
#include "sb_cmds.h"
#include "sb_keys.h"
#include "sb_tenant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int status_line(sb_keys_t *k, const char *tenant, sb_err_t *err) {
  sb_keys_status_t st;
  if (sb_keys_status(k, tenant, &st, err) != 0)
    return err->code;
  printf("tenant %s: KEK version%s", tenant, st.nkek > 1 ? "s" : "");
  for (int i = 0; i < st.nkek; i++)
    printf("%s%d", i ? "," : " ", st.kek_versions[i]);
  printf("; data keys: %ld live, %ld erased", st.live, st.erased);
  if (st.stale > 0 || st.nkek > 1)
    printf("; %ld wrapped under an older version: a rotation did not "
           "finish, run 'switchboard keys rotate --tenant %s' again",
           st.stale, tenant);
  printf("\n");
  return 0;
}

static int run_keys(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  const char *action = cli->argv[0];
  const char *tenant = sb_cli_opt(cli, "tenant");
  sb_keys_t *k = NULL;
  int rc = 0;
  if (strcmp(action, "rotate") != 0 && strcmp(action, "status") != 0) {
    sb_err_set(&err, SB_EUSAGE, "unknown action '%s': use rotate or status",
               action);
    return sb_cli_fail(cli, &err);
  }
  if (strcmp(action, "rotate") == 0 && tenant == NULL) {
    sb_err_set(&err, SB_EUSAGE, "rotate needs --tenant");
    return sb_cli_fail(cli, &err);
  }
  if (tenant != NULL && !sb_tenant_valid(tenant)) {
    sb_err_set(&err, SB_EUSAGE, "--tenant: must be 1 to 64 of A-Z a-z 0-9 . "
                                "_ -");
    return sb_cli_fail(cli, &err);
  }
  if ((rc = sb_cli_database_url(cli, &err)) != 0 ||
      (rc = sb_keys_open(&cli->conf, &k, &err)) != 0)
    return sb_cli_fail(cli, &err);
  if (strcmp(action, "rotate") == 0) {
    int version = 0;
    long n = 0;
    rc = sb_keys_rotate(k, tenant, &version, &n, &err);
    if (rc == 0)
      printf("tenant %s: KEK version %d; %ld data keys re-wrapped; older "
             "versions removed from the key file\n",
             tenant, version, n);
  } else if (tenant != NULL) {
    rc = status_line(k, tenant, &err);
  } else {
    char **ts = NULL;
    rc = sb_keys_tenants(k, &ts, &err);
    for (size_t i = 0; rc == 0 && ts[i]; i++)
      rc = status_line(k, ts[i], &err);
    if (rc == 0 && ts[0] == NULL)
      printf("no tenant keys yet (a tenant's are made with its first event "
             "holding PII)\n");
    for (size_t i = 0; ts && ts[i]; i++)
      free(ts[i]);
    free(ts);
  }
  sb_keys_free(k);
  return rc == 0 ? 0 : sb_cli_fail(cli, &err);
}

static const char *const keys_keys[] = {"database_url", "pii.key_file",
                                        "pii.key_command", NULL};

const sb_cmd_t sb_cmd_keys = {
    .name = "keys",
    .summary = "Rotate a tenant's PII key, or show the key store",
    .usage = "keys rotate --tenant T | keys status [--tenant T]",
    .about = "rotate makes a new key-encryption key (KEK) version for the "
             "tenant in the key file,\nre-wraps every data key of the tenant "
             "under it in one PostgreSQL transaction,\nthen removes the older "
             "versions from the key file: copies of the database taken\nbefore "
             "(backups) hold data keys only the destroyed KEK unwraps. Safe to "
             "run while\nSwitchboard runs; run it again if it was interrupted. "
             "status prints each tenant's\nKEK versions and its data keys, live "
             "and erased. Keys are never printed.",
    .conf_keys = keys_keys,
    .opts = (const sb_opt_t[]){{"tenant", "T", "The tenant"},
                               {NULL, NULL, NULL}},
    .min_args = 1,
    .max_args = 1,
    .run = run_keys,
};
