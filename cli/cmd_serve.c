/* switchboard serve: the HTTP API alone (ingest, the WebSocket live feed,
 * health, metrics), for scale-out: run several behind a load balancer, each
 * reading Kafka for its own WebSocket clients. */
#include "sb_cmds.h"
#include "sb_http.h"
#include "sb_log.h"
#include "sb_workers.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void on_ready(const char *http_url, void *arg) {
  (void)arg;
  printf("http: %s\n", http_url);
  fflush(stdout);
  sb_log(SB_LOG_INFO, "serve", "serving; stop with Ctrl-C or SIGTERM",
         SB_F_STR("url", http_url), SB_F_END);
}

static int run_serve(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  signal(SIGPIPE, SIG_IGN);
  const char *listen = cli->conf.http_listen;
  if (listen == NULL || strcmp(listen, "off") == 0) {
    sb_err_set(&err, SB_ECONFIG,
               "http.listen is off: serve needs an address (--http-listen "
               "HOST:PORT)");
    return sb_cli_fail(cli, &err);
  }
  /* bad certificates fail before anything starts */
  if (sb_conf_check(&cli->conf, &err) != 0 ||
      sb_http_tls_check(cli->conf.http_tls_cert, cli->conf.http_tls_key,
                        &err) != 0 ||
      sb_cli_need_instance(cli, 1, &err) != 0 ||
      sb_workers_serve(&cli->conf, NULL, 0, on_ready, NULL, &err) != 0)
    return sb_cli_fail(cli, &err);
  return 0;
}

static const char *const serve_keys[] = {"brokers",
                                         "database_url",
                                         "http.listen",
                                         "http.tls_cert",
                                         "http.tls_key",
                                         "http.max_body",
                                         "hub.send_queue_bytes",
                                         "hub.max_message",
                                         "hub.max_clients",
                                         "hub.ownership_history_seconds",
                                         "ingest.max_past_seconds",
                                         "ingest.max_future_seconds",
                                         "auth.max_token_ttl_seconds",
                                         "ingest.idempotency_window_ms",
                                         NULL};

const sb_cmd_t sb_cmd_serve = {
    .name = "serve",
    .summary = "Serve the HTTP API and the live WebSocket feed only",
    .usage = "serve [options]",
    .about = "Serves POST /v1/events, GET /v1/stream (WebSocket), /v1/health "
             "and /metrics against the\nrunning instance's Kafka and "
             "PostgreSQL, or --brokers and --database-url, without\n"
             "processors: run several for more producers and dashboards. "
             "Tokens are checked with\nthe secret in the data directory "
             "(jwt.secret; copy it to every server). Prints\n"
             "`http: URL` once listening. SIGINT or SIGTERM answers what is "
             "in flight, says\ngoodbye to WebSocket clients, then stops.",
    .conf_keys = serve_keys,
    .opts = (const sb_opt_t[]){{NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_serve,
};
