/* switchboard gdpr export|erase|status: data subject requests carried out
 * (engine/sb_dsar.h) from the command line. */
#include "sb_cli.h"
#include "sb_cmds.h"

#include "sb_dsar.h"
#include "sb_tenant.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Who runs the command: --actor, else "cli:<login name>". */
static const char *actor(const sb_cli_t *cli, char *buf, size_t sz) {
  const char *a = sb_cli_opt(cli, "actor");
  if (a != NULL)
    return a;
  struct passwd *pw = getpwuid(getuid());
  snprintf(buf, sz, "cli:%s", pw && pw->pw_name ? pw->pw_name : "unknown");
  return buf;
}

static int run_gdpr(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  const char *action = cli->argv[0];
  const char *tenant = sb_cli_opt(cli, "tenant");
  const char *subject = sb_cli_opt(cli, "subject");
  int is_export = strcmp(action, "export") == 0;
  int is_erase = strcmp(action, "erase") == 0;
  if (!is_export && !is_erase && strcmp(action, "status") != 0) {
    sb_err_set(&err, SB_EUSAGE,
               "unknown action '%s': use export, erase or status", action);
    return sb_cli_fail(cli, &err);
  }
  if (tenant == NULL || (subject == NULL && (is_export || is_erase))) {
    sb_err_set(&err, SB_EUSAGE, "%s needs --tenant%s", action,
               is_export || is_erase ? " and --subject" : "");
    return sb_cli_fail(cli, &err);
  }
  if (!sb_tenant_valid(tenant)) {
    sb_err_set(&err, SB_EUSAGE,
               "--tenant: must be 1 to 64 of A-Z a-z 0-9 . _ -");
    return sb_cli_fail(cli, &err);
  }
  sb_dsar_t *d = NULL;
  int rc = sb_cli_need_instance(cli, 1, &err);
  if (rc == 0)
    rc = sb_dsar_open(&cli->conf, &d, &err);
  if (rc != 0)
    return sb_cli_fail(cli, &err);
  char who[160];
  sb_dsar_req_t q = {.tenant = tenant,
                     .subject = subject,
                     .request_id = sb_cli_opt(cli, "request"),
                     .actor = actor(cli, who, sizeof who),
                     .actor_role = "admin",
                     .via = "cli"};
  sb_dsar_result_t res = {0};
  if (is_export) {
    rc = sb_dsar_export(d, &q, &res, &err);
    if (rc == 0) {
      printf("request %s: %lld events and %lld projection rows of subject "
             "%s\n  %s\n  %s\n  sha256 %s\n",
             res.request_id, res.events, res.rows, subject, res.path,
             res.ndjson, res.sha256);
      if (res.unopened > 0)
        printf("  %lld sealed values did not open (altered) and read "
               "sbx1.erased\n",
               res.unopened);
    }
  } else if (is_erase) {
    rc = sb_dsar_erase(d, &q, &res, &err);
    if (rc == 0)
      printf("request %s: subject %s erased: %ld data keys destroyed now, %d "
             "export files removed; their fields read sbx1.erased from now "
             "on\n",
             res.request_id, subject, res.keys_erased, res.files_removed);
  } else {
    cJSON *st = NULL;
    rc = sb_dsar_status(d, tenant, subject, &st, &err);
    char *text = rc == 0 ? cJSON_Print(st) : NULL;
    if (text != NULL)
      printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(st);
  }
  sb_dsar_close(d);
  if (rc != 0 && (is_export || is_erase) && res.request_id[0])
    fprintf(stderr,
            "switchboard gdpr: carry request %s out again with --request %s "
            "(its steps are not repeated twice)\n",
            res.request_id, res.request_id);
  return rc == 0 ? 0 : sb_cli_fail(cli, &err);
}

static const char *const gdpr_keys[] = {"database_url", "brokers",
                                        "kafka_timeout_ms", "pii.key_file",
                                        "pii.key_command", NULL};

const sb_cmd_t sb_cmd_gdpr = {
    .name = "gdpr",
    .summary = "Carry out data subject requests: export, erase, status",
    .usage = "gdpr export|erase --tenant T --subject S [--request ID] "
             "[--actor USER] | gdpr status --tenant T [--subject S]",
    .about =
        "export writes every event of the data subject in the audit log "
        "(PII decrypted)\nand every projection row naming them as one JSON "
        "document, and the events as\nNDJSON, under <data_dir>/exports/<tenant>/ "
        "(mode 0600); the reading is recorded\n(access.recorded) and the "
        "request completed (dsar.completed with the SHA-256).\nerase destroys "
        "the subject's data keys (crypto-shredding: their PII in Kafka,\nthe "
        "audit log and every projection can no longer be read; the audit "
        "chain still\nverifies), removes their export files, and records "
        "subject.erased and\ndsar.completed. status prints the tenant's "
        "requests (one subject's with\n--subject): due dates, outcomes, "
        "overdue ones, erasures. Every step is an event\non sb.compliance "
        "under the request id (new unless --request names one): a request\n"
        "carried out again repeats the same events.",
    .conf_keys = gdpr_keys,
    .opts = (const sb_opt_t[]){{"tenant", "T", "The tenant"},
                               {"subject", "S",
                                "The data subject's id (a lead id)"},
                               {"request", "ID",
                                "The request's id (default: a new one)"},
                               {"actor", "USER",
                                "Who carries it out (default cli:<login>)"},
                               {NULL, NULL, NULL}},
    .min_args = 1,
    .max_args = 1,
    .run = run_gdpr,
};
