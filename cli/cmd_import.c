/* switchboard import FILE|-: CloudEvents NDJSON through the same converter
 * as live ingest; each rejected line is reported with its number and reason;
 * the rest are produced and acknowledged. */
#include "sb_auth.h"
#include "sb_cmds.h"
#include "sb_codec.h"
#include "sb_keys.h"
#include "sb_log.h"
#include "sb_pii_event.h"
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
#define CHUNK 512 /* events whose PII is sealed together (one key round trip) */

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

typedef struct {
  sb_cli_t *cli;
  sb_schemas_t *schemas;
  sb_codec_t *codec;
  sb_producer_t *prod;
  sb_keys_t *keys;
  tally_t t;
  long long bad;
  cJSON *ev[CHUNK];
  char *why[CHUNK];
  long long lineno[CHUNK];
  int n;
} imp_t;

/* Seals the PII of the chunk's events (one round trip for their data
 * keys), then encodes and produces each. */
static int flush_chunk(imp_t *x, sb_err_t *err) {
  int rc = sb_pii_seal_events(x->keys, x->schemas, x->ev, (size_t)x->n,
                              x->why, err);
  for (int i = 0; i < x->n; i++) {
    cJSON *j = x->ev[i];
    long long lineno = x->lineno[i];
    sb_record_t r;
    sb_err_t why = SB_ERR_INIT;
    if (rc != 0) {
      /* nothing of the chunk is produced: the key store failed */
    } else if (x->why[i] != NULL) {
      fprintf(stderr, "line %lld: %s\n", lineno, x->why[i]);
      free(x->why[i]);
      x->bad++;
    } else if (sb_codec_from_ce(x->codec, j, SB_CE_GENERATE_ID, &r, &why) != 0) {
      fprintf(stderr, "line %lld: %s\n", lineno, why.msg);
      x->bad++;
    } else if (sb_tenant_reserved(cJSON_GetStringValue(
                   cJSON_GetObjectItemCaseSensitive(j, "tenantid")))) {
      fprintf(stderr,
              "line %lld: tenantid: names beginning with '_' are reserved "
              "for the engine\n",
              lineno);
      sb_record_clear(&r);
      x->bad++;
    } else if (sb_event_time_check(r.occurred_at, sb_time_now_micros(), -1,
                                   x->cli->conf.ingest_max_future_s, &why) != 0) {
      /* history of any age is the import's purpose; the future is not */
      fprintf(stderr, "line %lld: %s\n", lineno, why.msg);
      sb_record_clear(&r);
      x->bad++;
    } else {
      pending_t *p = malloc(sizeof *p);
      if (p == NULL) {
        rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      } else {
        *p = (pending_t){&x->t, lineno};
        rc = sb_producer_send_record(x->prod, &r, on_delivery, p, err);
        if (rc != 0)
          free(p);
      }
      sb_record_clear(&r);
    }
    cJSON_Delete(j);
    x->ev[i] = NULL;
    x->why[i] = NULL;
  }
  x->n = 0;
  sb_producer_poll(x->prod);
  return rc;
}

static int run_import(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  const char *path = cli->argv[0];
  FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  imp_t *x = calloc(1, sizeof *x);
  char *line = NULL;
  size_t cap = 0;
  long long lineno = 0;
  int rc = 0;
  if (in == NULL || x == NULL) {
    if (in == NULL)
      sb_err_set(&err, SB_ENOENT, "cannot open %s: %s", path, strerror(errno));
    else
      sb_err_set(&err, SB_ENOMEM, "out of memory");
    if (in != NULL && in != stdin)
      fclose(in);
    free(x);
    return sb_cli_fail(cli, &err);
  }
  x->cli = cli;
  /* the database too: the data keys of the PII live there */
  if ((rc = sb_cli_need_instance(cli, 1, &err)) != 0 ||
      (rc = sb_schemas_load(&x->schemas, &err)) != 0 ||
      (rc = sb_codec_new(x->schemas, &x->codec, &err)) != 0 ||
      (rc = sb_keys_open(&cli->conf, &x->keys, &err)) != 0 ||
      (rc = sb_producer_new(&cli->conf, &x->prod, &err)) != 0)
    goto out;
  long long t0 = sb_now_ms(), last = t0;
  ssize_t n;
  while ((n = getline(&line, &cap, in)) >= 0) {
    lineno++;
    if (n > MAX_LINE) {
      fprintf(stderr, "line %lld: longer than %d bytes\n", lineno, MAX_LINE);
      x->bad++;
      continue;
    }
    char *s = sb_trim(line);
    if (*s == '\0')
      continue;
    cJSON *j = NULL;
    sb_err_t why = SB_ERR_INIT;
    if (sb_json_parse(s, strlen(s), &j, &why) != 0) {
      fprintf(stderr, "line %lld: %s\n", lineno, why.msg);
      x->bad++;
      continue;
    }
    x->ev[x->n] = j;
    x->lineno[x->n++] = lineno;
    if (x->n == CHUNK && (rc = flush_chunk(x, &err)) != 0)
      break;
    if (sb_now_ms() - last >= 2000) {
      last = sb_now_ms();
      progress(lineno, &x->t, x->bad, t0, 0);
    }
  }
  if (rc == 0 && x->n > 0)
    rc = flush_chunk(x, &err);
  if (rc != 0)
    goto out;
  /* failed deliveries are counted per line; what Kafka has not
   * acknowledged by the deadline is given up and counted the same way */
  sb_err_t ferr = SB_ERR_INIT;
  if (sb_producer_flush(x->prod, cli->conf.kafka_timeout_ms * 3, &ferr) != 0 &&
      sb_producer_outstanding(x->prod) > 0) {
    int lost = sb_producer_purge(x->prod);
    fprintf(stderr, "import: Kafka did not acknowledge %d events within %d ms; "
                    "they are counted as rejected: check that the brokers "
                    "are reachable and import them again\n",
            lost, cli->conf.kafka_timeout_ms * 3);
  }
  if (sb_now_ms() - t0 >= 2000)
    progress(lineno, &x->t, x->bad, t0, 1);
  printf("accepted: %lld, rejected: %lld\n", x->t.accepted,
         x->t.rejected + x->bad);
out:
  free(line);
  if (in != stdin)
    fclose(in);
  for (int i = 0; i < x->n; i++) {
    cJSON_Delete(x->ev[i]);
    free(x->why[i]);
  }
  if (rc != 0 && x->prod != NULL) {
    /* what was sent before the failure is flushed: its lines were counted */
    sb_err_t ferr2 = SB_ERR_INIT;
    sb_producer_flush(x->prod, cli->conf.kafka_timeout_ms * 3, &ferr2);
  }
  sb_producer_free(x->prod);
  sb_keys_free(x->keys);
  sb_codec_free(x->codec);
  sb_schemas_free(x->schemas);
  long long rejected = x->t.rejected + x->bad;
  free(x);
  if (rc != 0)
    return sb_cli_fail(cli, &err);
  return rejected > 0 ? 1 : 0;
}

static const char *const import_keys[] = {"brokers", "database_url",
                                          "ingest.max_future_seconds",
                                          "pii.key_file", "pii.key_command",
                                          NULL};

const sb_cmd_t sb_cmd_import = {
    .name = "import",
    .summary = "Import CloudEvents NDJSON (backfill) through validation",
    .usage = "import FILE|- [options]",
    .about = "Reads CloudEvents JSON, one per line, validates each through "
             "the same converter as\nlive ingest (an event without an id gets "
             "a new ULID), and produces the valid\nones. Each rejected line is "
             "reported on stderr as 'line N: reason'. Prints\n'accepted: N, "
             "rejected: M' and exits 1 if anything was rejected.\nPII fields (sb.pii) "
             "are sealed as on live ingest (see README: PII).",
    .conf_keys = import_keys,
    .opts = (const sb_opt_t[]){{NULL, NULL, NULL}},
    .min_args = 1,
    .max_args = 1,
    .run = run_import,
};
