/* The PostgreSQL sink ceiling of `switchboard bench` (stage sink): the rows
 * the audit processor writes for the generated records, built before the
 * clock starts, then written by binary COPY into a table made by the audit
 * processor's own DDL, as the application role, in batches of
 * batch.max_events, one transaction a batch, as the engine does. No Kafka,
 * no decoding, no hashing while the clock runs: the most this machine's
 * PostgreSQL takes of the end-to-end stage's writes.
 *
 * The rows are written partition after partition (read_order). They are
 * those the audit processor writes (except recorded_at): the
 * partition of each record is librdkafka's default partitioner's
 * (CRC-32 of the key modulo the partitions), its offset the next of its
 * partition in production order, its chain sequence and hash the audit
 * chain's. After the e2e stage, sb_bench_sink_compare checks the live
 * audit chain heads against the sink's: equal heads mean equal chains, row
 * for row. */
#include "sb_bench.h"
#include "sb_log.h"
#include "sb_pg.h"
#include "sb_pgserver.h"
#include "sb_schema.h"
#include "sb_tenant.h"
#include "sb_time.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SINK_SCHEMA "bench_sink"
#define FLUSH_BYTES (64 * 1024) /* COPY chunks, as the audit processor's */
#define COPY_FIELDS 15
#define PG_EPOCH_MICROS 946684800000000LL /* 2000-01-01, PostgreSQL's epoch */

static const char copy_signature[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

/* ---- chains ------------------------------------------------------------ */

typedef struct {
  char tenant[SB_TENANT_MAX + 1];
  int topic; /* index of sb_topics */
  int32_t partition;
  int64_t seq;
  unsigned char hash[32];
} chain_t;

struct sb_bench_chains_s {
  chain_t *c;
  size_t n, cap; /* cap a power of two; open addressing, seq 0 = empty */
};

static uint64_t chain_key(const char *tenant, int topic, int32_t partition) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const char *p = tenant; *p; p++)
    h = (h ^ (uint8_t)*p) * 1099511628211ull;
  h = (h ^ (uint32_t)topic) * 1099511628211ull;
  return (h ^ (uint32_t)partition) * 1099511628211ull;
}

static chain_t *chain_slot(struct sb_bench_chains_s *t, const char *tenant,
                           int topic, int32_t partition) {
  size_t k = chain_key(tenant, topic, partition) & (t->cap - 1);
  while (t->c[k].seq != 0 &&
         !(t->c[k].topic == topic && t->c[k].partition == partition &&
           strcmp(t->c[k].tenant, tenant) == 0))
    k = (k + 1) & (t->cap - 1);
  return &t->c[k];
}

/* The chain of (tenant, topic, partition), made when new; NULL out of
 * memory. */
static chain_t *chain_get(struct sb_bench_chains_s *t, const char *tenant,
                          int topic, int32_t partition) {
  if (2 * (t->n + 1) > t->cap) {
    struct sb_bench_chains_s g = {.cap = t->cap ? 2 * t->cap : 1024};
    if ((g.c = calloc(g.cap, sizeof *g.c)) == NULL)
      return NULL;
    for (size_t i = 0; i < t->cap; i++)
      if (t->c[i].seq != 0)
        *chain_slot(&g, t->c[i].tenant, t->c[i].topic, t->c[i].partition) =
            t->c[i];
    g.n = t->n;
    free(t->c);
    *t = g;
  }
  chain_t *c = chain_slot(t, tenant, topic, partition);
  if (c->seq == 0) {
    snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
    c->topic = topic;
    c->partition = partition;
    t->n++;
  }
  return c;
}

void sb_bench_sink_clear(sb_bench_sink_t *s) {
  if (s->chains != NULL)
    free(s->chains->c);
  free(s->chains);
  s->chains = NULL;
}

/* ---- the rows ---------------------------------------------------------- */

/* librdkafka's default partitioner (consistent_random) for a keyed record:
 * CRC-32 (ISO-HDLC, zlib's) of the key, modulo the partitions. */
static uint32_t crc32_iso(const void *buf, size_t n) {
  static uint32_t table[256];
  static int ready;
  if (!ready) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++)
        c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    ready = 1;
  }
  uint32_t crc = 0xffffffffu;
  for (const uint8_t *p = buf; n--; p++)
    crc = table[(crc ^ *p) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

typedef struct {
  char *buf;
  size_t len, cap;
  size_t *batch_at; /* where each batch's rows start, and the end */
  size_t nbatches;
  int months[64]; /* YYYYMM the rows fall in */
  size_t nmonths;
} rows_t;

static int reserve(rows_t *w, size_t more) {
  if (w->len + more <= w->cap)
    return 0;
  size_t cap = w->cap ? w->cap : 1 << 20;
  while (cap < w->len + more)
    cap *= 2;
  char *b = realloc(w->buf, cap);
  if (b == NULL)
    return -1;
  w->buf = b;
  w->cap = cap;
  return 0;
}

static void put_int(rows_t *w, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--)
    w->buf[w->len++] = (char)(uint8_t)(v >> (8 * i));
}

static void put_field(rows_t *w, const void *p, size_t n) {
  put_int(w, n, 4);
  memcpy(w->buf + w->len, p, n);
  w->len += n;
}

static void put_str_field(rows_t *w, const char *s) {
  if (s == NULL)
    put_int(w, 0xffffffffu, 4);
  else
    put_field(w, s, strlen(s));
}

static void put_int_field(rows_t *w, uint64_t v, int bytes) {
  put_int(w, (uint64_t)bytes, 4);
  put_int(w, v, bytes);
}

static void add_month(rows_t *w, int64_t at) {
  int64_t lo, hi;
  int m = sb_time_month(at, &lo, &hi);
  for (size_t i = 0; i < w->nmonths; i++)
    if (w->months[i] == m)
      return;
  if (w->nmonths < SB_ARRAY_LEN(w->months))
    w->months[w->nmonths++] = m;
}

static int32_t partition_of(const sb_record_t *r, int partitions) {
  return (int32_t)(crc32_iso(r->key, r->key_len) % (uint32_t)partitions);
}

/* The records' indexes in the order a consumer of the full log reads them
 * at best: partition after partition, each in offset order (a counting
 * sort by topic and partition, stable). Rows of one chain then arrive
 * together, as they do at the engine when it reads a backlog: the
 * friendliest order for the primary key's B-tree, so the figure is a
 * ceiling. NULL out of memory. */
static size_t *read_order(const sb_bench_records_t *rs, int partitions) {
  size_t nb = 17 * (size_t)partitions; /* 16 topics, and the unknown */
  size_t *start = calloc(nb + 1, sizeof *start);
  size_t *order = malloc((rs->n ? rs->n : 1) * sizeof *order);
  uint32_t *bucket = malloc((rs->n ? rs->n : 1) * sizeof *bucket);
  if (start == NULL || order == NULL || bucket == NULL) {
    free(start);
    free(order);
    free(bucket);
    return NULL;
  }
  for (size_t i = 0; i < rs->n; i++) {
    int ti = sb_bench_topic_index(sb_evtype_topic(rs->r[i].type));
    bucket[i] = (uint32_t)((ti < 0 ? 16 : ti) * partitions +
                           partition_of(&rs->r[i], partitions));
    start[bucket[i] + 1]++;
  }
  for (size_t b = 0; b < nb; b++)
    start[b + 1] += start[b];
  for (size_t i = 0; i < rs->n; i++)
    order[start[bucket[i]]++] = i;
  free(start);
  free(bucket);
  return order;
}

/* Every record's audit row in COPY's binary format, batch after batch, in
 * read_order. */
static int build_rows(sb_bench_sink_t *s, const sb_bench_records_t *rs,
                      int partitions, int batch, rows_t *w, sb_err_t *err) {
  sb_codec_t *codec = NULL;
  int64_t *next = calloc(16 * (size_t)partitions, sizeof *next);
  w->batch_at = calloc(rs->n / (size_t)batch + 2, sizeof *w->batch_at);
  s->chains = calloc(1, sizeof *s->chains);
  size_t *order = read_order(rs, partitions);
  int rc = next && w->batch_at && s->chains && order
               ? sb_codec_new(rs->schemas, &codec, err)
               : sb_err_set(err, SB_ENOMEM, "out of memory");
  sb_bench_progress_t pr = {0};
  for (size_t j = 0; rc == 0 && j < rs->n; j++) {
    size_t i = order[j];
    const sb_record_t *r = &rs->r[i];
    sb_event_t ev;
    if ((rc = sb_codec_decode(codec, r->value, r->value_len, &ev, err)) != 0)
      break;
    const char *topic = sb_evtype_topic(r->type);
    int ti = sb_bench_topic_index(topic);
    if (ti < 0 || strlen(ev.tenant_id) > SB_TENANT_MAX) {
      rc = sb_err_set(err, SB_EINTERNAL,
                      "sink: record %zu: topic %s, tenant "
                      "%.40s out of range",
                      i, topic, ev.tenant_id);
      break;
    }
    int32_t part = partition_of(r, partitions);
    int64_t offset = next[ti * partitions + part]++;
    chain_t *c = chain_get(s->chains, ev.tenant_id, ti, part);
    if (c == NULL) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      break;
    }
    const char *type = sb_evtype_name(r->type);
    sb_bench_row_t row = {.prev_hash = c->hash,
                          .seq = c->seq + 1,
                          .tenant_id = ev.tenant_id,
                          .topic = topic,
                          .partition = part,
                          .offset = offset,
                          .event_id = ev.event_id,
                          .type = type,
                          .subject = ev.subject,
                          .occurred_at = ev.occurred_at,
                          .payload = r->value,
                          .payload_len = r->value_len};
    unsigned char hash[32];
    s->hash(&row, hash);
    const char *corr = sb_event_str(&ev, "correlation_id");
    const char *actor = sb_event_str(&ev, "actor.user_id");
    size_t need = 2 + COPY_FIELDS * 4 + strlen(ev.tenant_id) + strlen(topic) +
                  4 + 8 + 8 + strlen(ev.event_id) + strlen(type) +
                  strlen(ev.subject) + 8 + 4 + (corr ? strlen(corr) : 0) +
                  (actor ? strlen(actor) : 0) + r->value_len + 32 + 32;
    if (j % (size_t)batch == 0)
      w->batch_at[w->nbatches++] = w->len;
    if (reserve(w, need) != 0) {
      rc = sb_err_set(err, SB_ENOMEM, "out of memory");
      break;
    }
    put_int(w, COPY_FIELDS, 2);
    put_str_field(w, ev.tenant_id);
    put_str_field(w, topic);
    put_int_field(w, (uint32_t)part, 4);
    put_int_field(w, (uint64_t)offset, 8);
    put_int_field(w, (uint64_t)row.seq, 8);
    put_str_field(w, ev.event_id);
    put_str_field(w, type);
    put_str_field(w, ev.subject);
    put_int_field(w, (uint64_t)(ev.occurred_at - PG_EPOCH_MICROS), 8);
    put_int_field(w, (uint32_t)sb_evtype_id(r->type), 4);
    put_str_field(w, corr);
    put_str_field(w, actor);
    put_field(w, r->value, r->value_len);
    put_field(w, c->hash, 32);
    put_field(w, hash, 32);
    c->seq = row.seq;
    memcpy(c->hash, hash, 32);
    add_month(w, ev.occurred_at);
    if ((j & 8191) == 0 || j + 1 == rs->n)
      sb_bench_progress(&pr, "sink rows", j + 1, rs->n);
  }
  if (w->batch_at != NULL)
    w->batch_at[w->nbatches] = w->len;
  sb_codec_free(codec);
  free(next);
  free(order);
  return rc;
}

/* ---- the stage --------------------------------------------------------- */

/* The owner's connection to the instance's private server. */
static int connect_owner(const sb_conf_t *c, const sb_bench_env_t *env,
                         sb_pg_t **out, sb_err_t *err) {
  sb_conf_t oc = *c; /* shallow: only data_dir differs, nothing is freed */
  char url[1024];
  oc.data_dir = (char *)env->data_dir;
  if (sb_pgserver_owner_url(&oc, url, sizeof url, err) != 0)
    return err->code;
  int rc = sb_pg_connect(url, out, err);
  OPENSSL_cleanse(url, sizeof url);
  return rc;
}

/* As the owner: the audit tables in SINK_SCHEMA (again, when a run left
 * them), with the month partitions of the rows. */
static int make_table(sb_bench_sink_t *s, sb_pg_t *owner, const rows_t *w,
                      sb_err_t *err) {
  int rc = sb_pg_exec(owner, "DROP SCHEMA IF EXISTS " SINK_SCHEMA " CASCADE", 0,
                      NULL, err);
  if (rc == 0)
    rc = s->create(owner, SINK_SCHEMA, err);
  for (size_t i = 0; rc == 0 && i < w->nmonths; i++) {
    char m[16];
    snprintf(m, sizeof m, "%d", w->months[i]);
    rc = sb_pg_exec(owner, "SELECT " SINK_SCHEMA ".ensure_month($1, $2)", 2,
                    (const char *const[]){SINK_SCHEMA, m}, err);
  }
  return rc;
}

/* One batch: its transaction, its COPY streamed in FLUSH_BYTES chunks. */
static int write_batch(sb_pg_t *pg, const char *rows, size_t len,
                       sb_err_t *err) {
  static const unsigned char trailer[2] = {0xff, 0xff};
  int rc = sb_pg_exec(pg, "BEGIN", 0, NULL, err);
  if (rc == 0)
    rc = sb_pg_copy_begin(
        pg,
        "COPY " SINK_SCHEMA ".events (tenant_id, topic, kafka_partition, "
        "kafka_offset, chain_seq, event_id, event_type, subject, occurred_at, "
        "schema_id, correlation_id, actor_user_id, payload, prev_hash, hash) "
        "FROM STDIN (FORMAT binary)",
        err);
  if (rc == 0)
    rc = sb_pg_copy_put(pg, copy_signature, sizeof copy_signature, err);
  for (size_t at = 0; rc == 0 && at < len; at += FLUSH_BYTES)
    rc = sb_pg_copy_put(pg, rows + at,
                        len - at < FLUSH_BYTES ? len - at : FLUSH_BYTES, err);
  if (rc == 0)
    rc = sb_pg_copy_put(pg, trailer, sizeof trailer, err);
  if (rc == 0)
    rc = sb_pg_copy_end(pg, err);
  if (rc == 0)
    rc = sb_pg_exec(pg, "COMMIT", 0, NULL, err);
  if (rc != 0)
    sb_pg_rollback(pg);
  return rc;
}

int sb_bench_sink(const sb_conf_t *c, sb_bench_env_t *env, sb_bench_sink_t *s,
                  const sb_bench_records_t *rs, sb_bench_result_t *res,
                  sb_err_t *err) {
  rows_t w = {0};
  sb_pg_t *owner = NULL, *pg = NULL;
  int batch = env->o->batch_events > 0 ? env->o->batch_events : 5000;
  sb_bench_sink_clear(s);
  int rc = build_rows(s, rs, res->partitions, batch, &w, err);
  if (rc == 0)
    rc = connect_owner(c, env, &owner, err);
  if (rc == 0)
    rc = make_table(s, owner, &w, err);
  if (rc == 0)
    rc = sb_pg_connect(env->database_url, &pg, err);
  sb_bench_progress_t pr = {0};
  double t0 = sb_bench_now();
  for (size_t b = 0; rc == 0 && b < w.nbatches; b++) {
    rc = write_batch(pg, w.buf + w.batch_at[b],
                     w.batch_at[b + 1] - w.batch_at[b], err);
    size_t done = (b + 1) * (size_t)batch;
    sb_bench_progress(&pr, "sink", done < rs->n ? done : rs->n, rs->n);
  }
  double secs = sb_bench_now() - t0;
  char v[32] = "0";
  int found = 0;
  if (rc == 0)
    rc = sb_pg_query1(pg, "SELECT count(*) FROM " SINK_SCHEMA ".events", 0,
                      NULL, v, sizeof v, &found, NULL, err);
  if (rc == 0 && strtoull(v, NULL, 10) != rs->n)
    rc = sb_err_set(err, SB_EINTERNAL,
                    "sink: " SINK_SCHEMA ".events holds "
                    "%s rows for %zu records",
                    v, rs->n);
  sb_pg_close(pg);
  /* the later stages find the server as they would without this one */
  if (owner != NULL) {
    sb_err_t e2 = SB_ERR_INIT;
    if (sb_pg_exec(owner,
                   "DROP SCHEMA IF EXISTS " SINK_SCHEMA " CASCADE; "
                   "CHECKPOINT",
                   0, NULL, &e2) != 0)
      sb_log(SB_LOG_WARN, "bench", "could not drop the sink's table",
             SB_F_STR("error", e2.msg), SB_F_END);
  }
  sb_pg_close(owner);
  if (rc == 0) {
    res->sink_eps = (double)rs->n / secs;
    res->sink_mbps = (double)w.len / secs / 1e6;
    res->sink_seconds = secs;
    res->sink_batches = w.nbatches;
    res->sink_bytes = w.len;
  }
  free(w.buf);
  free(w.batch_at);
  return rc;
}

int sb_bench_sink_compare(sb_bench_env_t *env, sb_bench_sink_t *s,
                          const char *schema, sb_bench_result_t *res,
                          sb_err_t *err) {
  if (s->chains == NULL)
    return 0;
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT tenant_id, topic, kafka_partition, last_seq, last_hash "
           "FROM %s.chain_heads",
           schema);
  sb_pg_t *pg = NULL;
  sb_pg_rows_t *rows = NULL;
  int rc = sb_pg_connect(env->database_url, &pg, err);
  if (rc == 0)
    rc = sb_pg_rows(pg, sql, 0, NULL, &rows, err);
  uint64_t same = 0;
  for (int i = 0; rc == 0 && i < sb_pg_rows_count(rows); i++) {
    const char *tenant = sb_pg_rows_get(rows, i, 0);
    int ti = sb_bench_topic_index(sb_pg_rows_get(rows, i, 1));
    int32_t part = (int32_t)atoi(sb_pg_rows_get(rows, i, 2));
    if (ti < 0 || strlen(tenant) > SB_TENANT_MAX)
      continue;
    chain_t *c = chain_slot(s->chains, tenant, ti, part);
    unsigned char h[32];
    if (c->seq == atoll(sb_pg_rows_get(rows, i, 3)) &&
        sb_bytea_unhex(sb_pg_rows_get(rows, i, 4), h, sizeof h) == 32 &&
        memcmp(h, c->hash, 32) == 0)
      same++;
  }
  if (rc == 0) {
    res->sink_chains = s->chains->n;
    res->sink_chains_same =
        sb_pg_rows_count(rows) == (int)s->chains->n ? same : 0;
    res->sink_compared = 1;
  }
  sb_pg_rows_free(rows);
  sb_pg_close(pg);
  return rc;
}
