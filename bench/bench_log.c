/* The Kafka stages of `switchboard bench`: produce the generated records
 * (sb_producer) and read them all back with a bare consumer (sb_logscan),
 * the ceiling of any consumer here. */
#include "sb_bench.h"
#include "sb_logscan.h"
#include "sb_producer.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <stdio.h>
#include <string.h>

/* ---- stages ------------------------------------------------------------ */

typedef struct {
  uint64_t acked;
  char error[256];
} produce_tally_t;

static void on_produced(void *opaque, const char *error) {
  produce_tally_t *t = opaque;
  if (error == NULL)
    t->acked++;
  else if (t->error[0] == '\0')
    snprintf(t->error, sizeof t->error, "%s", error);
}

int sb_bench_produce(const sb_conf_t *c, const sb_bench_records_t *rs,
                         sb_bench_result_t *res, sb_err_t *err) {
  sb_producer_t *p = NULL;
  produce_tally_t tally = {0};
  int rc = sb_producer_new(c, &p, err);
  sb_bench_progress_t pr = {0};
  double t0 = sb_bench_now();
  for (size_t i = 0; rc == 0 && i < rs->n; i++) {
    rc = sb_producer_send_record(p, &rs->r[i], on_produced, &tally, err);
    if ((i & 8191) == 0)
      sb_bench_progress(&pr, "produce", i, rs->n);
  }
  if (rc == 0)
    rc = sb_producer_flush(p, 120000, err);
  double secs = sb_bench_now() - t0;
  sb_bench_progress(&pr, "produce", tally.acked, rs->n);
  sb_producer_free(p);
  if (rc == 0 && tally.acked != rs->n)
    rc = sb_err_set(err, SB_EKAFKA, "produce: %llu of %zu records acknowledged "
                                    "(%s)",
                    (unsigned long long)tally.acked, rs->n, tally.error);
  res->produce_eps = (double)rs->n / secs;
  res->produce_mbps = (double)rs->bytes / secs / 1e6;
  res->produce_seconds = secs;
  return rc;
}

/* Every partition of the domain topics from the beginning, no processing:
 * the most this machine's broker and librdkafka deliver (sb_logscan). */
typedef struct {
  uint64_t total;
  double first, last; /* when the first and the latest records came */
  sb_bench_progress_t pr;
} scan_tally_t;

static int on_scanned(void *ctx, uint64_t records, uint64_t bytes,
                      sb_err_t *err) {
  (void)bytes;
  (void)err;
  scan_tally_t *t = ctx;
  t->last = sb_bench_now();
  if (t->first == 0)
    t->first = t->last;
  sb_bench_progress(&t->pr, "ceiling", records, t->total);
  return 0;
}

int sb_bench_ceiling(const sb_conf_t *c, const sb_bench_records_t *rs,
                         sb_bench_result_t *res, sb_err_t *err) {
  const char *topics[17];
  size_t nt = 0;
  for (size_t i = 0; i < sb_topics_n && i < 16; i++)
    if (strcmp(sb_topics[i], SB_TOPIC_DEADLETTER) != 0)
      topics[nt++] = sb_topics[i];
  topics[nt] = NULL;
  scan_tally_t t = {.total = rs->n};
  uint64_t seen = 0, bytes = 0;
  double started = sb_bench_now();
  int rc = sb_logscan(c, topics, rs->n, 30000, on_scanned, &t, &seen, &bytes,
                      err);
  if (rc != 0)
    return rc;
  if (seen != rs->n)
    return sb_err_set(err, SB_EKAFKA,
                      "ceiling: read %llu of %zu records; the broker dropped "
                      "some (raise --partitions)",
                      (unsigned long long)seen, rs->n);
  /* from the first record to the last; all in one batch (a small run):
   * from the start of the scan */
  double secs = t.last > t.first ? t.last - t.first : t.last - started;
  res->ceiling_eps = (double)seen / secs;
  res->ceiling_mbps = (double)bytes / secs / 1e6;
  return 0;
}

