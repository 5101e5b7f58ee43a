/* switchboard dispatch: the dispatcher alone (connectors/dispatch): sends
 * comms.outbox's messages until SIGINT or SIGTERM, then drains (the
 * transfers in flight finish and are recorded). */
#include "sb_cmds.h"
#include "sb_dispatch.h"
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
  sb_dispatch_t *d;
  sb_dispatch_stats_t last;
  long long since_ms, every_ms;
} dctl_t;

static void print_stats(const sb_dispatch_stats_t *s, const char *when) {
  printf("dispatch%s: claimed %ld, sent %ld, failed %ld, blocked %ld, "
         "retried %ld, deferred %ld\n",
         when, s->claimed, s->sent, s->failed, s->blocked, s->retried,
         s->deferred);
  fflush(stdout);
}

static void on_signal(uv_signal_t *h, int signum) {
  dctl_t *x = h->data;
  sb_log(SB_LOG_INFO, "dispatch", "draining",
         SB_F_STR("signal", strsignal(signum)), SB_F_END);
  sb_dispatch_stop(x->d);
}

static void on_tick(uv_timer_t *t) {
  dctl_t *x = t->data;
  if (sb_dispatch_done(x->d)) {
    uv_stop(&x->loop);
    return;
  }
  x->since_ms += 200;
  if (x->every_ms > 0 && x->since_ms >= x->every_ms) {
    x->since_ms = 0;
    sb_dispatch_stats_t s;
    sb_dispatch_snapshot(x->d, &s);
    if (memcmp(&s, &x->last, sizeof s) != 0)
      print_stats(&s, "");
    x->last = s;
  }
}

static int run_dispatch(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  signal(SIGPIPE, SIG_IGN);
  dctl_t x;
  memset(&x, 0, sizeof x);
  x.every_ms = 5000;
  const char *every = sb_cli_opt(cli, "progress-ms");
  if (every) {
    char *end = NULL;
    x.every_ms = strtoll(every, &end, 10);
    if (end == every || *end || x.every_ms < 0)
      return sb_err_set(&err, SB_EUSAGE,
                        "--progress-ms: not a number of milliseconds: '%s'",
                        every),
             sb_cli_fail(cli, &err);
  }
  if (sb_conf_check(&cli->conf, &err) != 0 ||
      sb_cli_need_instance(cli, 1, &err) != 0 ||
      sb_dispatch_start(&cli->conf, &x.d, &err) != 0)
    return sb_cli_fail(cli, &err);
  printf("dispatch: running; stop with Ctrl-C or SIGTERM\n");
  fflush(stdout);
  uv_loop_init(&x.loop);
  uv_signal_init(&x.loop, &x.sigint);
  uv_signal_init(&x.loop, &x.sigterm);
  uv_timer_init(&x.loop, &x.tick);
  x.sigint.data = x.sigterm.data = x.tick.data = &x;
  uv_signal_start(&x.sigint, on_signal, SIGINT);
  uv_signal_start(&x.sigterm, on_signal, SIGTERM);
  uv_timer_start(&x.tick, on_tick, 200, 200);
  uv_run(&x.loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&x.sigint, NULL);
  uv_close((uv_handle_t *)&x.sigterm, NULL);
  uv_close((uv_handle_t *)&x.tick, NULL);
  uv_run(&x.loop, UV_RUN_DEFAULT);
  uv_loop_close(&x.loop);
  sb_dispatch_stats_t st;
  int rc = sb_dispatch_join(x.d, &st, &err);
  print_stats(&st, " stopped");
  return rc == 0 ? 0 : sb_cli_fail(cli, &err);
}

static const char *const dispatch_keys[] = {
    "brokers",           "database_url",         "pii.key_file",
    "pii.key_command",   "webhooks.public_url",  "dispatch.ca_file",
    "dispatch.concurrency", "dispatch.timeout_ms", "dispatch.lease_ms",
    "dispatch.max_attempts", "dispatch.backoff_max_ms", NULL};

const sb_cmd_t sb_cmd_dispatch = {
    .name = "dispatch",
    .summary = "Send the comms processor's outbox to the providers",
    .usage = "dispatch [options]",
    .about =
        "Claims due messages from comms.outbox (FOR UPDATE SKIP LOCKED: run "
        "several), renders\ntheir templates and sends them through their "
        "provider accounts (SMTP, Twilio,\nWhatsApp Cloud, Slack, FCM, "
        "SendGrid), recording each outcome as events\n(message.submitted, "
        "message.status_updated, message.blocked). Works against the\nrunning "
        "instance's Kafka and PostgreSQL, or --brokers and --database-url. "
        "Prints\nits counters every --progress-ms (when they changed). SIGINT "
        "or SIGTERM stops claiming,\nlets the sends in flight finish and "
        "records them, then exits.",
    .conf_keys = dispatch_keys,
    .opts = (const sb_opt_t[]){{"progress-ms", "MS",
                                "Counters printed this often (default 5000; "
                                "0: only at the end)"},
                               {NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_dispatch,
};
