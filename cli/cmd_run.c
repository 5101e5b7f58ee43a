/* switchboard run: processors only, in their consumer groups, for
 * scale-out: start more of these with the same processors and Kafka spreads
 * the partitions among them. */
#include "sb_cmds.h"
#include "sb_ami.h"
#include "sb_dispatch.h"
#include "sb_workers.h"

#include <signal.h>

static int run_run(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  const sb_processor_vt_t *vts[SB_MAX_PROCESSORS];
  size_t n = 0;
  const char *list = sb_cli_opt(cli, "processors");
  signal(SIGPIPE, SIG_IGN);
  sb_dispatch_t *dispatch = NULL;
  if (sb_workers_parse(list ? list : "all", vts, &n, &err) != 0 ||
      sb_cli_need_instance(cli, 1, &err) != 0)
    return sb_cli_fail(cli, &err);
  /* the dispatcher (dispatch.enabled) beside the processors */
  if (cli->conf.dispatch_enabled &&
      sb_dispatch_start(&cli->conf, &dispatch, &err) != 0)
    return sb_cli_fail(cli, &err);
  /* the AMI connector (ami.pbx_file set) beside them */
  sb_ami_t *ami = NULL;
  if (cli->conf.ami_pbx_file != NULL &&
      sb_ami_start(&cli->conf, &ami, &err) != 0) {
    sb_dispatch_join(dispatch, NULL, NULL);
    return sb_cli_fail(cli, &err);
  }
  int rc = sb_workers_run(&cli->conf, vts, n, &err);
  sb_ami_join(ami, NULL, 0, NULL);
  sb_err_t derr = SB_ERR_INIT;
  if (sb_dispatch_join(dispatch, NULL, &derr) != 0 && rc == 0)
    rc = sb_err_set(&err, derr.code, "%s", derr.msg);
  return rc == 0 ? 0 : sb_cli_fail(cli, &err);
}

static const char *const run_keys[] = {"brokers",          "database_url",
                                       "batch.max_events", "batch.max_ms",
                                       "processor.retries", "dispatch.enabled",
                                       "ami.pbx_file", "ami.secrets_file",
                                       NULL};

const sb_cmd_t sb_cmd_run = {
    .name = "run",
    .summary = "Run processors as a worker of the consumer groups",
    .usage = "run [--processors LIST] [options]",
    .about = "Runs the named processors (default all) against the running "
             "instance's Kafka and\nPostgreSQL, or --brokers and "
             "--database-url. Each processor is its own consumer\ngroup: run "
             "more workers to spread the partitions. SIGINT or SIGTERM "
             "finishes and\ncommits the batch in flight, then stops.",
    .conf_keys = run_keys,
    .processor_keys = 1,
    .opts = (const sb_opt_t[]){{"processors", "LIST",
                                "Comma list of processors, or all (default)"},
                               {NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_run,
};
