/* switchboard up: everything in one process.
 *
 * Order of start: instance lock, Kafka (embedded or checked), PostgreSQL
 * (private or checked), migrations, then the facts on stdout and in
 * runtime.conf. Stop (SIGINT/SIGTERM) undoes it in reverse. */
#include "sb_cmds.h"
#include "sb_ami.h"
#include "sb_auth.h"
#include "sb_dispatch.h"
#include "sb_http.h"
#include "sb_journal.h"
#include "sb_kafka.h"
#include "sb_keys.h"
#include "sb_log.h"
#include "sb_pg.h"
#include "sb_pgserver.h"
#include "sb_instance.h"
#include "sb_workers.h"

#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  sb_conf_t *c;
  int applied;
  int failed;
  sb_err_t err;
} up_ready_t;

/* Everything listens: say where, on stdout and in runtime.conf. */
static void on_ready(const char *http_url, void *arg) {
  up_ready_t *u = arg;
  if (sb_instance_write(u->c, u->c->brokers, u->c->database_url, http_url,
                       &u->err) != 0) {
    u->failed = 1;
    raise(SIGTERM); /* stop what was started */
    return;
  }
  /* the database URL's password is never printed: the full URL is in
   * runtime.conf (0600), where `switchboard` commands find it */
  char safe[1024], path[1200];
  sb_url_redact(u->c->database_url, safe, sizeof safe);
  snprintf(path, sizeof path, "%s/runtime.conf", u->c->data_dir);
  printf("kafka: %s\npostgres: %s\nruntime: %s\n", u->c->brokers, safe, path);
  if (http_url)
    printf("http: %s\n", http_url);
  fflush(stdout);
  sb_log(SB_LOG_INFO, "up", "switchboard is up; stop with Ctrl-C or SIGTERM",
         SB_F_STR("data_dir", u->c->data_dir),
         SB_F_INT("migrations_applied", u->applied), SB_F_END);
}

static int run_up(sb_cli_t *cli) {
  sb_conf_t *c = &cli->conf;
  sb_err_t err = SB_ERR_INIT;
  sb_embedded_t *embedded = NULL;
  sb_journal_t *journal = NULL;
  sb_dispatch_t *dispatch = NULL;
  sb_ami_t *ami = NULL;
  int lock = -1, private_pg = 0, wrote_runtime = 0, rc;
  char url[1024];

  const sb_processor_vt_t *vts[SB_MAX_PROCESSORS];
  size_t nvts = 0;
  const char *list = sb_cli_opt(cli, "processors");
  signal(SIGPIPE, SIG_IGN);
  if ((rc = sb_workers_parse(list ? list : "all", vts, &nvts, &err)) != 0)
    goto out;
  /* the HTTPS certificate and key are read now: a bad one fails alone */
  if ((rc = sb_conf_check(c, &err)) != 0 ||
      (rc = sb_http_tls_check(c->http_tls_cert, c->http_tls_key, &err)) != 0)
    goto out;
  if ((rc = sb_instance_lock(c, &lock, &err)) != 0)
    goto out;
  /* the token secret exists from the first up on (0600, never logged) */
  unsigned char secret[SB_AUTH_SECRET_MAX];
  size_t secret_len = sizeof secret;
  if ((rc = sb_auth_secret_load(c->data_dir, 1, secret, &secret_len, &err)) != 0)
    goto out;
  OPENSSL_cleanse(secret, sizeof secret);
  /* so is the tenant key file (0600; one readable by others stops up) */
  if ((rc = sb_keys_file_ensure(c, &err)) != 0)
    goto out;

  /* Check everything that can be checked before starting anything, so
   * that bad configuration fails alone, in one line. */
  if (c->brokers != NULL && (rc = sb_kafka_check_brokers(c, &err)) != 0)
    goto out;
  if (c->database_url != NULL) {
    sb_pg_t *pg = NULL;
    rc = sb_pg_connect(c->database_url, &pg, &err);
    sb_pg_close(pg);
    if (rc != 0)
      goto out;
  } else if ((rc = sb_pgserver_check(c, &err)) != 0) {
    goto out;
  }

  if (c->brokers == NULL) {
    /* the embedded broker's log comes back from its journal before anything
     * else can connect (runtime.conf and the API come last) */
    if ((rc = sb_journal_prepare(c, &err)) != 0 ||
        (rc = sb_embedded_start(c, &embedded, &err)) != 0)
      goto out;
    c->kafka_embedded = 1;
    sb_conf_set(c, "brokers", sb_embedded_bootstraps(embedded), SB_CO_RUNTIME,
                NULL, NULL);
    if ((rc = sb_journal_start(c, c->brokers, &journal, &err)) != 0)
      goto out;
    sb_log(SB_LOG_WARN, "kafka",
           "no brokers configured: running the embedded broker (librdkafka's "
           "mock cluster). It serves about 5 MiB per partition and journals "
           "every record to data_dir/kafka (up to embedded.partition_max_bytes "
           "a partition), restored on the next start: for development only; "
           "set 'brokers' for production",
           SB_F_STR("bootstrap", c->brokers), SB_F_INT("partitions", c->partitions),
           SB_F_END);
  }
  /* migrations and projections' DDL run as the owner (the private
   * server's superuser, or whoever database_url names); everything after
   * works as database_url, on the private server the application role */
  int applied = 0;
  if (c->database_url == NULL) {
    if ((rc = sb_pgserver_start(c, url, sizeof url, &err)) != 0)
      goto out;
    private_pg = 1;
    sb_conf_set(c, "database_url", url, SB_CO_RUNTIME, NULL, NULL);
    OPENSSL_cleanse(url, sizeof url);
    rc = sb_pgserver_owner_url(c, url, sizeof url, &err);
    if (rc == 0)
      rc = sb_cmd_apply_migrations(url, &applied, &err);
    OPENSSL_cleanse(url, sizeof url);
  } else {
    rc = sb_cmd_apply_migrations(c->database_url, &applied, &err);
  }
  if (rc != 0)
    goto out;

  /* the dispatcher (dispatch.enabled) sends comms.outbox beside the
   * processors, on its own thread; it drains after them */
  if (c->dispatch_enabled && (rc = sb_dispatch_start(c, &dispatch, &err)) != 0)
    goto out;
  /* the AMI connector (ami.pbx_file set): the PBXs' events through
   * ingest, on its own thread; stopped after the processors */
  if (c->ami_pbx_file != NULL && (rc = sb_ami_start(c, &ami, &err)) != 0)
    goto out;
  up_ready_t ready = {c, applied, 0, {0}};
  rc = sb_workers_serve(c, vts, nvts, on_ready, &ready, &err);
  sb_ami_join(ami, NULL, 0, NULL);
  ami = NULL;
  sb_err_t derr = SB_ERR_INIT;
  if (sb_dispatch_join(dispatch, NULL, &derr) != 0 && rc == 0)
    rc = sb_err_set(&err, derr.code, "%s", derr.msg);
  dispatch = NULL;
  if (rc == 0 && ready.failed)
    rc = sb_err_set(&err, ready.err.code, "%s", ready.err.msg);
  wrote_runtime = 1;

out:
  sb_ami_join(ami, NULL, 0, NULL);
  sb_dispatch_join(dispatch, NULL, NULL);
  if (wrote_runtime)
    sb_instance_remove(c);
  if (private_pg) {
    sb_err_t stop_err = SB_ERR_INIT;
    if (sb_pgserver_stop(c, &stop_err) != 0)
      sb_log(SB_LOG_ERROR, "pg", stop_err.msg, SB_F_END);
  }
  sb_journal_stop(journal); /* what the broker took is journaled */
  sb_embedded_stop(embedded);
  if (lock >= 0)
    close(lock);
  return rc == 0 ? 0 : sb_cli_fail(cli, &err);
}

const char *const sb_cmd_up_keys[] = {
    "brokers",         "database_url",     "partitions", "kafka_timeout_ms",
    "postgres.bindir", "postgres.os_user", "postgres.port", "http.listen",
    "http.tls_cert",   "http.tls_key",     "embedded.partition_max_bytes",
    "ingest.max_past_seconds", "ingest.max_future_seconds",
    "auth.max_token_ttl_seconds", "pii.key_file", "pii.key_command",
    "dispatch.enabled", "webhooks.public_url", "dispatch.ca_file",
    "ami.pbx_file", "ami.secrets_file", NULL};

const sb_cmd_t sb_cmd_up = {
    .name = "up",
    .summary = "Run Switchboard in one process (embedded defaults)",
    .usage = "up [options]",
    .about =
        "Starts Switchboard. With no brokers configured it hosts the embedded "
        "Kafka\nbroker (development only; its log is journaled to "
        "<data_dir>/kafka and restored on\nthe next start) and creates the topics; "
        "with no database\nconfigured it starts a private PostgreSQL under the "
        "data directory (as the\nunprivileged postgres.os_user when run as "
        "root). It applies the migrations, runs the processors,\nprints 'kafka: <bootstrap>', "
        "'postgres: <url>' (the application role's, never the\nsuperuser's) and 'http: <url>', "
        "writes the same to <data_dir>/runtime.conf for\nother commands, and runs until SIGINT "
        "or SIGTERM.",
    .conf_keys = sb_cmd_up_keys,
    .processor_keys = 1,
    .opts = (const sb_opt_t[]){{"processors", "LIST",
                                "Processors to run here: a comma list, all "
                                "(default) or none (only the broker and the "
                                "database, for separate `run` workers)"},
                               {NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_up,
};
