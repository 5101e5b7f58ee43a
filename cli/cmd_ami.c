/* switchboard ami: the Asterisk manager connector alone (connectors/ami):
 * logs in to every PBX of ami.pbx_file and keeps the sessions up until
 * SIGINT or SIGTERM, printing each PBX's counters. */
#include "sb_ami.h"
#include "sb_cmds.h"
#include "sb_log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  uv_timer_t tick;
  sb_ami_t *a;
  sb_ami_pbx_stats_t last[SB_AMI_MAX_PBX];
  long long since_ms, every_ms;
} actl_t;

static void print_stats(const sb_ami_pbx_stats_t *s, size_t n,
                        const char *when) {
  for (size_t i = 0; i < n; i++)
    printf("ami%s: pbx %s (tenant %s): connected %d, synced %d, connects "
           "%llu, logins %llu, login failures %llu, disconnects %llu, "
           "resyncs %llu, events %llu, list items %llu, refused %llu, "
           "replaced %llu, decoded %llu, mapped %llu, unmapped %llu, "
           "produced %llu, accepted %llu, duplicates %llu, ingest refused "
           "%llu, dropped %llu, waiting %llu\n",
           when, s[i].name, s[i].tenant, s[i].connected, s[i].synced,
           (unsigned long long)s[i].connects, (unsigned long long)s[i].logins,
           (unsigned long long)s[i].login_failures,
           (unsigned long long)s[i].disconnects,
           (unsigned long long)s[i].resyncs, (unsigned long long)s[i].events,
           (unsigned long long)s[i].list_items,
           (unsigned long long)s[i].refused, (unsigned long long)s[i].replaced,
           (unsigned long long)s[i].decoded, (unsigned long long)s[i].mapped,
           (unsigned long long)s[i].unmapped,
           (unsigned long long)s[i].produced,
           (unsigned long long)s[i].accepted,
           (unsigned long long)s[i].duplicates,
           (unsigned long long)s[i].ingest_refused,
           (unsigned long long)s[i].dropped, (unsigned long long)s[i].waiting);
  /* a line of its own ("ami dialer:"), so that "ami: pbx" lines stay one
   * a PBX */
  for (size_t i = 0; i < n; i++)
    if (s[i].dials)
      printf("ami dialer%s: pbx %s: originates %llu, answered %llu, failed "
             "%llu, unknown %llu\n",
             when, s[i].name, (unsigned long long)s[i].originates,
             (unsigned long long)s[i].dial_answered,
             (unsigned long long)s[i].dial_failed,
             (unsigned long long)s[i].dial_unknown);
  fflush(stdout);
}

static void on_signal(uv_signal_t *h, int signum) {
  actl_t *x = h->data;
  sb_log(SB_LOG_INFO, "ami", "stopping", SB_F_STR("signal", strsignal(signum)),
         SB_F_END);
  sb_ami_stop(x->a);
}

static void on_tick(uv_timer_t *t) {
  actl_t *x = t->data;
  if (sb_ami_done(x->a)) {
    uv_stop(&x->loop);
    return;
  }
  x->since_ms += 200;
  if (x->every_ms > 0 && x->since_ms >= x->every_ms) {
    x->since_ms = 0;
    sb_ami_pbx_stats_t s[SB_AMI_MAX_PBX];
    size_t n = sb_ami_snapshot(x->a, s, SB_AMI_MAX_PBX);
    if (memcmp(s, x->last, n * sizeof *s) != 0)
      print_stats(s, n, "");
    memcpy(x->last, s, n * sizeof *s);
  }
}

static int run_ami(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  signal(SIGPIPE, SIG_IGN);
  actl_t *x = calloc(1, sizeof *x);
  if (x == NULL)
    return sb_err_set(&err, SB_ENOMEM, "out of memory"), sb_cli_fail(cli, &err);
  x->every_ms = 5000;
  const char *every = sb_cli_opt(cli, "progress-ms");
  if (every) {
    char *end = NULL;
    x->every_ms = strtoll(every, &end, 10);
    if (end == every || *end || x->every_ms < 0) {
      free(x);
      return sb_err_set(&err, SB_EUSAGE,
                        "--progress-ms: not a number of milliseconds: '%s'",
                        every),
             sb_cli_fail(cli, &err);
    }
  }
  if (cli->conf.ami_pbx_file == NULL) {
    free(x);
    return sb_err_set(&err, SB_ECONFIG,
                      "ami.pbx_file is not set: name the PBXs to connect to "
                      "(--set ami.pbx_file=FILE; see --help)"),
           sb_cli_fail(cli, &err);
  }
  /* --dry-run: the PBXs' events mapped and counted, nothing produced
   * (no instance needed) */
  int dry = sb_cli_opt(cli, "dry-run") != NULL;
  if (sb_conf_check(&cli->conf, &err) != 0 ||
      (!dry && sb_cli_need_instance(cli, 1, &err) != 0) ||
      sb_ami_start(&cli->conf, &x->a, &err) != 0) {
    free(x);
    return sb_cli_fail(cli, &err);
  }
  printf("ami: running; stop with Ctrl-C or SIGTERM\n");
  fflush(stdout);
  uv_loop_init(&x->loop);
  uv_signal_init(&x->loop, &x->sigint);
  uv_signal_init(&x->loop, &x->sigterm);
  uv_timer_init(&x->loop, &x->tick);
  x->sigint.data = x->sigterm.data = x->tick.data = x;
  uv_signal_start(&x->sigint, on_signal, SIGINT);
  uv_signal_start(&x->sigterm, on_signal, SIGTERM);
  uv_timer_start(&x->tick, on_tick, 200, 200);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&x->sigint, NULL);
  uv_close((uv_handle_t *)&x->sigterm, NULL);
  uv_close((uv_handle_t *)&x->tick, NULL);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  uv_loop_close(&x->loop);
  sb_ami_pbx_stats_t st[SB_AMI_MAX_PBX];
  size_t n = sb_ami_snapshot(x->a, st, SB_AMI_MAX_PBX);
  int rc = sb_ami_join(x->a, NULL, 0, &err);
  print_stats(st, n < SB_AMI_MAX_PBX ? n : SB_AMI_MAX_PBX, " stopped");
  free(x);
  return rc == 0 ? 0 : sb_cli_fail(cli, &err);
}

static const char *const ami_keys[] = {
    "brokers", "database_url", "pii.key_file", "pii.key_command",
    "ami.pbx_file",         "ami.secrets_file",     "ami.ping_ms",
    "ami.timeout_ms",       "ami.reconnect_min_ms", "ami.reconnect_max_ms",
    "ami.max_event_bytes",  NULL};

const sb_cmd_t sb_cmd_ami = {
    .name = "ami",
    .summary = "Connect to Asterisk PBXs through the manager interface (AMI)",
    .usage = "ami [options]",
    .about =
        "Logs in to every PBX of ami.pbx_file (one a line: name=, host=, "
        "port=, tenant=,\nuser=, auth=md5|plain, events=, charset=; the "
        "mapping's ivr_contexts=,\noutbound_contexts=, lead_var=, "
        "campaign_var=, direction_var=, tenant_var=,\ntenants=, "
        "agents_file=: README's AMI section) with its "
        "secret from ami.secrets_file\n('name secret' lines, mode 0600), "
        "keeps each session alive (Ping every\nami.ping_ms), reconnects with "
        "backoff and jitter, and resynchronises after\nevery login "
        "(QueueStatus, CoreShowChannels). What the PBXs say becomes call.* and "
        "agent.*\nevents, produced through ingest (checks, PII sealing, "
        "idempotency) to the running\ninstance's Kafka, or --brokers and "
        "--database-url. Prints each PBX's counters\nevery --progress-ms "
        "(when they changed). SIGINT or SIGTERM logs off, hands what\nwas "
        "made to Kafka and exits.\nA PBX with originate_channel= (and "
        "originate_context=, originate_exten=) also\ndials the dialer "
        "processor's call.dial_requested (Action: Originate, once) and\n"
        "reports each as call.dial_result.",
    .conf_keys = ami_keys,
    .opts = (const sb_opt_t[]){{"progress-ms", "MS",
                                "Counters printed this often (default 5000; "
                                "0: only at the end)"},
                               {"dry-run", NULL,
                                "Map and count the PBXs' events without "
                                "producing them (no instance needed): to try "
                                "a PBX's configuration"},
                               {NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_ami,
};
