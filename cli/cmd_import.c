/* switchboard import FILE|-: CloudEvents NDJSON through the same converter
 * as live ingest; each rejected line is reported with its number and reason;
 * the rest are produced and acknowledged. */
#include "sb_auth.h"
#include "sb_cmds.h"
#include "sb_codec.h"
#include "sb_log.h"
#include "sb_producer.h"
#include "sb_schema.h"
#include "sb_time.h"
#include "sb_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LINE (1 << 20)

typedef struct {
  long long accepted, rejected;
} tally_t;

typedef struct {
  tally_t *t;
  long long line;
} pending_t;

static void on_delivery(void *opaque, const char *error) {
  pending_t *p = opaque;
  if (error == NULL) {
    p->t->accepted++;
  } else {
    p->t->rejected++;
    fprintf(stderr, "line %lld: kafka: %s\n", p->line, error);
  }
  free(p);
}

static void progress(long long lines, const tally_t *t, long long rejected_early,
                     long long t0, int final) {
  double secs = (double)(sb_now_ms() - t0) / 1000.0;
  fprintf(stderr, "%simport: %lld lines, %lld accepted, %lld rejected, %.0f "
                  "lines/s%s",
          isatty(2) ? "\r" : "", lines, t->accepted, t->rejected + rejected_early,
          secs > 0 ? (double)lines / secs : 0.0, final || !isatty(2) ? "\n" : "");
  fflush(stderr);
}

static int run_import(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  const char *path = cli->argv[0];
  FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  sb_schemas_t *schemas = NULL;
  sb_codec_t *codec = NULL;
  sb_producer_t *prod = NULL;
  char *line = NULL;
  size_t cap = 0;
  tally_t t = {0, 0};
  long long lineno = 0, bad = 0;
  int rc = 0;
  if (in == NULL) {
    sb_err_set(&err, SB_ENOENT, "cannot open %s: %s", path, strerror(errno));
    return sb_cli_fail(cli, &err);
  }
  if ((rc = sb_cli_need_instance(cli, 0, &err)) != 0 ||
      (rc = sb_schemas_load(&schemas, &err)) != 0 ||
      (rc = sb_codec_new(schemas, &codec, &err)) != 0 ||
      (rc = sb_producer_new(&cli->conf, &prod, &err)) != 0)
    goto out;
  long long t0 = sb_now_ms(), last = t0;
  ssize_t n;
  while ((n = getline(&line, &cap, in)) >= 0) {
    lineno++;
    if (n > MAX_LINE) {
      fprintf(stderr, "line %lld: longer than %d bytes\n", lineno, MAX_LINE);
      bad++;
      continue;
    }
    char *s = sb_trim(line);
    if (*s == '\0')
      continue;
    cJSON *j = NULL;
    sb_record_t r;
    sb_err_t why = SB_ERR_INIT;
    if (sb_json_parse(s, strlen(s), &j, &why) != 0) {
      fprintf(stderr, "line %lld: %s\n", lineno, why.msg);
      bad++;
    } else if (sb_codec_from_ce(codec, j, SB_CE_GENERATE_ID, &r, &why) != 0) {
      fprintf(stderr, "line %lld: %s\n", lineno, why.msg);
      bad++;
    } else if (sb_tenant_reserved(cJSON_GetStringValue(
                   cJSON_GetObjectItemCaseSensitive(j, "tenantid")))) {
      fprintf(stderr,
              "line %lld: tenantid: names beginning with '_' are reserved "
              "for the engine\n",
              lineno);
      sb_record_clear(&r);
      bad++;
    } else if (sb_event_time_check(r.occurred_at, sb_time_now_micros(), -1,
                                   cli->conf.ingest_max_future_s, &why) != 0) {
      /* history of any age is the import's purpose; the future is not */
      fprintf(stderr, "line %lld: %s\n", lineno, why.msg);
      sb_record_clear(&r);
      bad++;
    } else {
      pending_t *p = malloc(sizeof *p);
      if (p == NULL) {
        rc = sb_err_set(&err, SB_ENOMEM, "out of memory");
      } else {
        *p = (pending_t){&t, lineno};
        rc = sb_producer_send_record(prod, &r, on_delivery, p, &err);
        if (rc != 0)
          free(p);
      }
      sb_record_clear(&r);
    }
    cJSON_Delete(j);
    if (rc != 0)
      break;
    sb_producer_poll(prod);
    if (sb_now_ms() - last >= 2000) {
      last = sb_now_ms();
      progress(lineno, &t, bad, t0, 0);
    }
  }
  /* failed deliveries are counted per line; what Kafka has not
   * acknowledged by the deadline is given up and counted the same way */
  sb_err_t ferr = SB_ERR_INIT;
  if (sb_producer_flush(prod, cli->conf.kafka_timeout_ms * 3, &ferr) != 0 &&
      sb_producer_outstanding(prod) > 0) {
    int lost = sb_producer_purge(prod);
    fprintf(stderr, "import: Kafka did not acknowledge %d events within %d ms; "
                    "they are counted as rejected: check that the brokers "
                    "are reachable and import them again\n",
            lost, cli->conf.kafka_timeout_ms * 3);
  }
  if (sb_now_ms() - t0 >= 2000)
    progress(lineno, &t, bad, t0, 1);
  printf("accepted: %lld, rejected: %lld\n", t.accepted, t.rejected + bad);
out:
  free(line);
  if (in != stdin)
    fclose(in);
  sb_producer_free(prod);
  sb_codec_free(codec);
  sb_schemas_free(schemas);
  if (rc != 0)
    return sb_cli_fail(cli, &err);
  return t.rejected + bad > 0 ? 1 : 0;
}

static const char *const import_keys[] = {"brokers", "ingest.max_future_seconds",
                                          NULL};

const sb_cmd_t sb_cmd_import = {
    .name = "import",
    .summary = "Import CloudEvents NDJSON (backfill) through validation",
    .usage = "import FILE|- [options]",
    .about = "Reads CloudEvents JSON, one per line, validates each through "
             "the same converter as\nlive ingest (an event without an id gets "
             "a new ULID), and produces the valid\nones. Each rejected line is "
             "reported on stderr as 'line N: reason'. Prints\n'accepted: N, "
             "rejected: M' and exits 1 if anything was rejected.",
    .conf_keys = import_keys,
    .opts = (const sb_opt_t[]){{NULL, NULL, NULL}},
    .min_args = 1,
    .max_args = 1,
    .run = run_import,
};
