/* switchboard generate: realistic CloudEvents from the seeded generator
 * (sb_gen.h), as NDJSON on stdout or a file, or produced straight to the
 * running instance's Kafka through the same converter as import. */
#include "sb_cmds.h"
#include "sb_codec.h"
#include "sb_gen.h"
#include "sb_keys.h"
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

#define DEFAULT_EVENTS 10000
#define OUT_BUFFER (1 << 20)
#define CLOCK_EVERY 1024 /* events between looks at the clock */

typedef struct {
  long long events; /* 0: until interrupted */
  sb_gen_opts_t gen;
  const char *out; /* NULL: stdout */
  int kafka;
} gen_args_t;

typedef struct {
  long long acked, failed;
  char first_error[256];
} tally_t;

/* Reads the options; SB_EUSAGE naming the one that is wrong. */
static int args_from_opts(const sb_cli_t *cli, gen_args_t *a, sb_err_t *err) {
  const char *events = sb_cli_opt(cli, "events");
  const char *seed = sb_cli_opt(cli, "seed");
  const char *tenants = sb_cli_opt(cli, "tenants");
  const char *start = sb_cli_opt(cli, "start");
  long long v;
  memset(a, 0, sizeof *a);
  a->events = DEFAULT_EVENTS;
  a->gen.seed = 1;
  a->gen.tenants = 1;
  a->gen.mix = sb_cli_opt(cli, "mix");
  a->out = sb_cli_opt(cli, "out");
  a->kafka = sb_cli_opt(cli, "kafka") != NULL;
  if (events != NULL) {
    if (sb_parse_ll(events, &v) != 0 || v < 0)
      return sb_err_set(err, SB_EUSAGE,
                        "--events must be a whole number, 0 for no end "
                        "(got '%.64s')",
                        events);
    a->events = v;
  }
  if (seed != NULL) {
    char *end = NULL;
    errno = 0;
    unsigned long long s = strtoull(seed, &end, 10);
    if (seed[0] < '0' || seed[0] > '9' || *end != '\0' || errno == ERANGE)
      return sb_err_set(err, SB_EUSAGE,
                        "--seed must be a whole number from 0 to "
                        "18446744073709551615 (got '%.64s')",
                        seed);
    a->gen.seed = (uint64_t)s;
  }
  if (tenants != NULL) {
    if (sb_parse_ll(tenants, &v) != 0 || v < 1 || v > SB_GEN_MAX_TENANTS)
      return sb_err_set(err, SB_EUSAGE,
                        "--tenants must be 1 to %d (got '%.64s')",
                        SB_GEN_MAX_TENANTS, tenants);
    a->gen.tenants = (int)v;
  }
  if (start != NULL) {
    int64_t us;
    char why[160];
    if (strcmp(start, "now") == 0)
      us = sb_time_now_micros();
    else if (sb_time_parse(start, &us, why, sizeof why) != 0)
      return sb_err_set(err, SB_EUSAGE, "--start: %s", why);
    if (us <= 0)
      return sb_err_set(err, SB_EUSAGE, "--start must be after 1970");
    a->gen.start_us = us;
  }
  if (a->kafka && a->out != NULL)
    return sb_err_set(err, SB_EUSAGE,
                      "--out and --kafka exclude each other: write the "
                      "events, or produce them");
  return 0;
}

static void progress(const char *what, long long n, long long t0, int final) {
  double secs = (double)(sb_now_ms() - t0) / 1000.0;
  int tty = isatty(2);
  fprintf(stderr, "%sgenerate: %lld events %s, %.0f events/s%s",
          tty ? "\r" : "", n, what, secs > 0 ? (double)n / secs : 0.0,
          final || !tty ? "\n" : "");
  fflush(stderr);
}

/* Writes NDJSON to path (NULL or "-": stdout). */
static int write_events(sb_gen_t *g, const gen_args_t *a, sb_err_t *err) {
  int to_stdout = a->out == NULL || strcmp(a->out, "-") == 0;
  FILE *out = to_stdout ? stdout : fopen(a->out, "w");
  static char buf[SB_GEN_MAX_EVENT + 1];
  long long n = 0, t0 = sb_now_ms(), last = t0;
  size_t len, bytes = 0;
  int rc = 0;
  if (out == NULL)
    return sb_err_set(err, SB_EIO, "cannot open %s: %s", a->out,
                      strerror(errno));
  setvbuf(out, NULL, _IOFBF, OUT_BUFFER);
  while (a->events == 0 || n < a->events) {
    if ((rc = sb_gen_next(g, buf, sizeof buf - 1, &len, NULL)) != 0) {
      sb_err_set(err, rc, "generator failed after %lld events", n);
      break;
    }
    buf[len] = '\n';
    if (fwrite(buf, 1, len + 1, out) != len + 1) {
      rc = sb_err_set(err, SB_EIO, "cannot write %s: %s",
                      to_stdout ? "stdout" : a->out, strerror(errno));
      break;
    }
    bytes += len + 1;
    if (++n % CLOCK_EVERY == 0 && sb_now_ms() - last >= 1000) {
      last = sb_now_ms();
      progress("written", n, t0, 0);
    }
  }
  if (fflush(out) != 0 && rc == 0)
    rc = sb_err_set(err, SB_EIO, "cannot write %s: %s",
                    to_stdout ? "stdout" : a->out, strerror(errno));
  if (!to_stdout && fclose(out) != 0 && rc == 0)
    rc =
        sb_err_set(err, SB_EIO, "cannot write %s: %s", a->out, strerror(errno));
  if (rc == 0 && last != t0) {
    double secs = (double)(sb_now_ms() - t0) / 1000.0;
    progress("written", n, t0, 1);
    fprintf(stderr, "generate: %.1f MB in %.2f s (%.1f MB/s)\n",
            (double)bytes / 1e6, secs,
            secs > 0 ? (double)bytes / 1e6 / secs : 0);
  }
  return rc;
}

static void on_delivery(void *opaque, const char *error) {
  tally_t *t = opaque;
  if (error == NULL) {
    t->acked++;
    return;
  }
  if (t->failed++ == 0)
    snprintf(t->first_error, sizeof t->first_error, "%s", error);
}

#define SEAL_CHUNK 512 /* events whose PII is sealed together */

/* Seals the PII of a chunk (as ingest does), encodes and produces it. */
static int produce_chunk(sb_keys_t *keys, const sb_schemas_t *schemas,
                         sb_codec_t *codec, sb_producer_t *prod, tally_t *t,
                         cJSON **evs, int m, long long first, sb_err_t *err) {
  char *why[SEAL_CHUNK] = {0};
  int rc = sb_pii_seal_events(keys, schemas, evs, (size_t)m, why, err);
  for (int i = 0; i < m && rc == 0; i++) {
    sb_record_t r;
    sb_err_t e = SB_ERR_INIT;
    if (why[i] != NULL) {
      /* a generator bug: every event it writes must be valid */
      rc = sb_err_set(err, SB_EINTERNAL, "event %lld rejected: %s",
                      first + i + 1, why[i]);
    } else if (sb_codec_from_ce(codec, evs[i], 0, &r, &e) != 0) {
      rc = sb_err_set(err, SB_EINTERNAL, "event %lld rejected: %s",
                      first + i + 1, e.msg);
    } else {
      rc = sb_producer_send_record(prod, &r, on_delivery, t, err);
      sb_record_clear(&r);
    }
  }
  for (int i = 0; i < m; i++) {
    free(why[i]);
    cJSON_Delete(evs[i]);
    evs[i] = NULL;
  }
  sb_producer_poll(prod);
  return rc;
}

/* Produces every event through the codec to the instance's Kafka, PII
 * sealed as ingest seals it. */
static int produce_events(sb_cli_t *cli, sb_gen_t *g, const gen_args_t *a,
                          sb_err_t *err) {
  sb_schemas_t *schemas = NULL;
  sb_codec_t *codec = NULL;
  sb_producer_t *prod = NULL;
  sb_keys_t *keys = NULL;
  static char buf[SB_GEN_MAX_EVENT];
  cJSON *evs[SEAL_CHUNK] = {0};
  int m = 0;
  tally_t t = {0, 0, {0}};
  long long n = 0, t0 = 0, last = 0;
  int rc;
  if ((rc = sb_cli_need_instance(cli, 1, err)) != 0 ||
      (rc = sb_schemas_load(&schemas, err)) != 0 ||
      (rc = sb_codec_new(schemas, &codec, err)) != 0 ||
      (rc = sb_keys_open(&cli->conf, &keys, err)) != 0 ||
      (rc = sb_producer_new(&cli->conf, &prod, err)) != 0)
    goto out;
  t0 = last = sb_now_ms();
  while (a->events == 0 || n < a->events) {
    size_t len;
    const char *type;
    if ((rc = sb_gen_next(g, buf, sizeof buf, &len, &type)) != 0) {
      sb_err_set(err, rc, "generator failed after %lld events", n);
      goto out;
    }
    sb_err_t why = SB_ERR_INIT;
    if (sb_json_parse(buf, len, &evs[m], &why) != 0) {
      rc = sb_err_set(err, SB_EINTERNAL, "event %lld (%s) is not JSON: %s",
                      n + 1, type, why.msg);
      goto out;
    }
    m++;
    if (m == SEAL_CHUNK) {
      if ((rc = produce_chunk(keys, schemas, codec, prod, &t, evs, m,
                              n + 1 - m, err)) != 0)
        goto out;
      m = 0;
    }
    if (++n % CLOCK_EVERY == 0 && sb_now_ms() - last >= 1000) {
      last = sb_now_ms();
      progress("produced", n, t0, 0);
    }
  }
  if (m > 0 && (rc = produce_chunk(keys, schemas, codec, prod, &t, evs, m,
                                   n - m, err)) != 0)
    goto out;
  m = 0;
  sb_err_t ferr = SB_ERR_INIT;
  if (sb_producer_flush(prod, cli->conf.kafka_timeout_ms * 3, &ferr) != 0 &&
      sb_producer_outstanding(prod) > 0) {
    int lost = sb_producer_purge(prod);
    fprintf(stderr,
            "generate: Kafka did not acknowledge %d events within %d ms\n",
            lost, cli->conf.kafka_timeout_ms * 3);
  }
  double secs = (double)(sb_now_ms() - t0) / 1000.0;
  if (last != t0)
    progress("produced", n, t0, 1);
  printf("produced: %lld in %.2f s (%.0f events/s)\n", t.acked, secs,
         secs > 0 ? (double)t.acked / secs : 0.0);
  if (t.failed > 0)
    rc = sb_err_set(err, SB_EKAFKA, "%lld events were not produced: %s",
                    t.failed, t.first_error[0] ? t.first_error : "timed out");
out:
  for (int i = 0; i < m; i++)
    cJSON_Delete(evs[i]);
  if (rc != 0 && prod != NULL) { /* what was sent is flushed, not purged */
    sb_err_t ferr2 = SB_ERR_INIT;
    sb_producer_flush(prod, cli->conf.kafka_timeout_ms * 3, &ferr2);
  }
  sb_producer_free(prod);
  sb_keys_free(keys);
  sb_codec_free(codec);
  sb_schemas_free(schemas);
  return rc;
}

static int run_generate(sb_cli_t *cli) {
  sb_err_t err = SB_ERR_INIT;
  gen_args_t a;
  sb_gen_t *g = NULL;
  int rc;
  if ((rc = args_from_opts(cli, &a, &err)) == 0 &&
      (rc = sb_gen_new(&a.gen, &g, &err)) == 0)
    rc = a.kafka ? produce_events(cli, g, &a, &err) : write_events(g, &a, &err);
  sb_gen_free(g);
  if (rc != 0)
    return sb_cli_fail(cli, &err);
  return fflush(stdout) == 0 ? 0 : 1;
}

static const char *const generate_keys[] = {"brokers", "database_url", NULL};

const sb_cmd_t sb_cmd_generate = {
    .name = "generate",
    .summary = "Generate realistic events (NDJSON, or straight to Kafka)",
    .usage = "generate [--events N] [--seed S] [--tenants T] [options]",
    .about =
        "Simulates contact centres and writes their events as CloudEvents "
        "NDJSON, one per\nline, on stdout or --out FILE: tenants with "
        "campaigns and staffed agents working\nshifts, leads from paid and "
        "organic sources, inbound calls through IVR and queue\n(some "
        "abandoned), outbound dialer calls, holds, transfers, dispositions "
        "moving\nleads through the funnel, messages with delivery receipts "
        "and replies, consents\nand ad spend. Every event passes the same "
        "validation as 'switchboard import'.\nThe same options give the "
        "same bytes: times start at --start and only advance,\nand event "
        "ids are ULIDs drawn from the seed. With --kafka the events are\n"
        "produced to the running instance instead, and 'produced: N' "
        "printed. Progress\ngoes to stderr every second.\n\n"
        "  switchboard generate --events 100000 --tenants 5 | switchboard "
        "import -",
    .conf_keys = generate_keys,
    .opts =
        (const sb_opt_t[]){
            {"events", "N", "How many events (default 10000; 0: no end)"},
            {"seed", "S", "Seed of the simulation (default 1)"},
            {"tenants", "T", "Tenants, 1 to 1000 (default 1)"},
            {"mix", "NAME",
             "default, calls, leads or messages; or weights such as "
             "inbound=5,lead=2 over inbound, outbound, lead, lead_update, "
             "message, consent, spend and campaign"},
            {"start", "TIME",
             "Time of the first event, RFC 3339 or 'now' (default "
             "2026-01-05T08:00:00Z)"},
            {"out", "FILE", "Write to FILE instead of stdout ('-': stdout)"},
            {"kafka", NULL,
             "Produce to the running instance's Kafka instead of writing"},
            {NULL, NULL, NULL}},
    .min_args = 0,
    .max_args = 0,
    .run = run_generate,
};
