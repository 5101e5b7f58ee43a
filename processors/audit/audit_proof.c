#include "audit_proof.h"

#include "sb_processor_tools.h"

#include "audit.h"
#include "audit_checkpoint.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FETCH_ROWS 2000

static void finding(sb_audit_proof_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void finding(sb_audit_proof_t *p, const char *fmt, ...) {
  p->broken = 1;
  if (p->findings++ >= SB_AUDIT_FINDINGS_SHOWN)
    return;
  va_list ap;
  va_start(ap, fmt);
  fputs("audit verify: FAILED ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
}

static void hex32(const unsigned char *b, char out[65]) {
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* ---- checkpoints ------------------------------------------------------- */

/* A line that is not a validly signed checkpoint is a finding. */
static void bad_line(void *ctx, const char *src, const char *why) {
  finding(ctx, "checkpoint %s: %s", src, why);
}

typedef struct {
  sb_ckpt_set_t *s;
  int32_t partition;
  long long records;
} cp_kafka_t;

static int cp_kafka_record(void *ctx, int64_t offset, const void *key,
                           size_t klen, const void *value, size_t vlen,
                           sb_err_t *err) {
  (void)key;
  (void)klen;
  cp_kafka_t *k = ctx;
  char src[96];
  snprintf(src, sizeof src, "%s[%d]@%lld", SB_TOPIC_AUDIT_CHECKPOINTS,
           k->partition, (long long)offset);
  k->records++;
  return sb_ckpt_set_line(k->s, value ? value : "", value ? vlen : 0, src,
                          err);
}

static int cp_read_kafka(sb_ckpt_set_t *s, sb_logread_t *log,
                         long long *records, sb_err_t *err) {
  int n = 0, rc = sb_logread_partitions(log, SB_TOPIC_AUDIT_CHECKPOINTS, &n, err);
  for (int32_t part = 0; rc == 0 && part < n; part++) {
    int64_t lo, hi;
    cp_kafka_t k = {s, part, 0};
    rc = sb_logread_watermarks(log, SB_TOPIC_AUDIT_CHECKPOINTS, part, &lo, &hi,
                               err);
    if (rc == 0)
      rc = sb_logread_range(log, SB_TOPIC_AUDIT_CHECKPOINTS, part, lo, hi,
                            cp_kafka_record, &k, err);
    *records += k.records;
  }
  return rc;
}

/* The chain's row at the checkpointed seq has the checkpointed hash. */
static int cp_check(sb_audit_proof_t *p, const sb_ckpt_entry_t *e,
                    sb_err_t *err) {
  const sb_ckpt_chain_t *c = &e->c;
  char part[16], seq[32], row[128], want[65];
  int found = 0;
  snprintf(part, sizeof part, "%d", c->partition);
  snprintf(seq, sizeof seq, "%lld", (long long)c->seq);
  if (sb_pg_query1(p->pg,
                   "SELECT encode(hash, 'hex') FROM audit.events WHERE "
                   "tenant_id = $1 AND topic = $2 AND kafka_partition = $3 AND "
                   "chain_seq = $4 LIMIT 1",
                   4, (const char *const[]){c->tenant, c->topic, part, seq},
                   row, sizeof row, &found, NULL, err) != 0)
    return err->code;
  hex32(c->hash, want);
  if (!found)
    finding(p, "at tenant=%s topic=%s partition=%d seq=%lld: the chain has no "
               "row at this seq, which the signed checkpoint of %s (%s) "
               "covers: rows were cut from its end",
            c->tenant, c->topic, c->partition, (long long)c->seq, e->time,
            e->src);
  else if (strcmp(row, want) != 0)
    finding(p, "at tenant=%s topic=%s partition=%d seq=%lld: the row's hash "
               "%.16s... differs from the signed checkpoint of %s (%s), "
               "%.16s...: the chain was rewritten",
            c->tenant, c->topic, c->partition, (long long)c->seq, row, e->time,
            e->src, want);
  return 0;
}

int sb_audit_check_checkpoints(sb_audit_proof_t *p, sb_err_t *err) {
  char path[PATH_MAX];
  sb_ckpt_set_t s;
  memset(&s, 0, sizeof s);
  s.tenant = p->tenant;
  s.bad = bad_line;
  s.ctx = p;
  sb_sigkey_t *key = NULL;
  sb_err_t why = SB_ERR_INIT;
  int rc = sb_fmt(path, sizeof path, err, "%s/%s", p->conf->data_dir,
                  SB_CKPT_FILE);
  if (rc != 0)
    return rc;
  int have_file = access(path, F_OK) == 0;
  if (sb_sigkey_load_public(p->conf->data_dir, &key, &why) != 0) {
    if (why.code == SB_ENOENT && !have_file) {
      printf("audit verify: checkpoints: none yet (no signing key in %s: the "
             "audit worker makes one at its first checkpoint)\n",
             p->conf->data_dir);
      return 0;
    }
    printf("audit verify: INCOMPLETE: checkpoints cannot be checked: %s\n",
           why.msg);
    p->incomplete = 1;
    return 0;
  }
  s.key = key;
  int torn = 0;
  long long from_kafka = 0, from_file;
  rc = sb_ckpt_set_read_file(&s, p->conf->data_dir, 0, &torn, err);
  from_file = s.lines;
  if (rc == 0 && torn)
    printf("audit verify: note: %s ends in an incomplete line (a worker "
           "stopped while writing it?); ignored\n", SB_CKPT_FILE);
  if (rc == 0 && p->log != NULL)
    rc = cp_read_kafka(&s, p->log, &from_kafka, err);
  for (size_t i = 0; rc == 0 && i < s.n; i++)
    rc = cp_check(p, &s.e[i], err);
  if (rc == 0) {
    if (s.lines == 0)
      printf("audit verify: checkpoints: none yet\n");
    else
      printf("audit verify: checkpoints: %zu chains checked against their "
             "newest signed checkpoint (%lld checkpoints read: %lld from %s, "
             "%lld from %s%s; newest %s; key %s)\n",
             s.n, s.lines, from_file, SB_CKPT_FILE, from_kafka,
             SB_TOPIC_AUDIT_CHECKPOINTS, p->log ? "" : " (not reachable)",
             s.newest[0] ? s.newest : "-", sb_sigkey_id(key));
  }
  sb_ckpt_set_clear(&s);
  sb_sigkey_free(key);
  return rc;
}

/* ---- the Kafka log ----------------------------------------------------- */

/* Rows of one partition in offset order, through a cursor. */
typedef struct {
  sb_pg_t *pg;
  sb_pg_rows_t *rows;
  int i, n;
  int last; /* the last fetch was short: no more after rows */
} rowit_t;

enum { R_OFFSET, R_TENANT, R_EVENT, R_TYPE, R_SUBJECT, R_AT, R_PAYLOAD, R_SEQ,
       R_CE_ID };

static int rowit_next(rowit_t *it, sb_err_t *err) {
  if (it->rows != NULL && ++it->i < it->n)
    return 0;
  sb_pg_rows_free(it->rows);
  it->rows = NULL;
  it->i = it->n = 0;
  if (it->last)
    return 0;
  char sql[64];
  snprintf(sql, sizeof sql, "FETCH %d FROM xc", FETCH_ROWS);
  if (sb_pg_rows(it->pg, sql, 0, NULL, &it->rows, err) != 0)
    return err->code;
  it->n = sb_pg_rows_count(it->rows);
  it->last = it->n < FETCH_ROWS;
  return 0;
}

static int rowit_has(const rowit_t *it) { return it->i < it->n; }
static const char *col(const rowit_t *it, int c) {
  return sb_pg_rows_get(it->rows, it->i, c);
}
static int64_t row_offset(const rowit_t *it) { return atoll(col(it, R_OFFSET)); }

typedef struct {
  sb_audit_proof_t *p;
  sb_codec_t *codec;
  rowit_t it;
  const char *topic;
  int32_t partition;
  unsigned char *buf;
  size_t cap;
  long long records, undecodable, other_tenant, dropped;
} xc_t;

/* 1 when the record being read is a copy of a derived event whose
 * emitting processor's part of its batch did not commit: the pipeline
 * drops those before any processor sees them. */
static int dropped_copy(xc_t *x, sb_err_t *err) {
  char txid[24], by[48];
  if (!sb_logread_header(x->p->log, "sb-txid", txid, sizeof txid) ||
      !sb_logread_header(x->p->log, "sb-emitted-by", by, sizeof by))
    return 0;
  int c = sb_derived_committed(x->p->pg, txid, by, err);
  if (c == SB_EBUSY) { /* still in progress: not yet audited either */
    sb_err_clear(err);
    return 1;
  }
  return c == 0;
}

static void row_finding(xc_t *x, const char *why) {
  finding(x->p, "at tenant=%s topic=%s partition=%d seq=%s offset=%s "
                "event_id=%s: %s",
          col(&x->it, R_TENANT), x->topic, x->partition, col(&x->it, R_SEQ),
          col(&x->it, R_OFFSET), col(&x->it, R_EVENT), why);
}

/* Rows before offset have no record: the log holds none at their offset. */
static int rows_before(xc_t *x, int64_t offset, const char *why,
                       sb_err_t *err) {
  while (rowit_has(&x->it) && row_offset(&x->it) < offset) {
    row_finding(x, why);
    if (rowit_next(&x->it, err) != 0)
      return err->code;
  }
  return 0;
}

/* Which column of the row differs from the decoded record, or NULL. */
static const char *row_differs(xc_t *x, const sb_event_t *ev,
                               const void *value, size_t vlen,
                               sb_err_t *err) {
  const char *hex = col(&x->it, R_PAYLOAD);
  size_t need = strlen(hex) / 2 + 1;
  if (need > x->cap) {
    unsigned char *b = realloc(x->buf, need);
    if (b == NULL) {
      sb_err_set(err, SB_ENOMEM, "out of memory");
      return "";
    }
    x->buf = b;
    x->cap = need;
  }
  long n = sb_bytea_unhex(hex, x->buf, x->cap);
  if (n < 0 || (size_t)n != vlen || memcmp(x->buf, value, vlen) != 0)
    return "payload";
  if (strcmp(col(&x->it, R_TENANT), ev->tenant_id) != 0)
    return "tenant_id";
  if (strcmp(col(&x->it, R_EVENT), ev->event_id) != 0)
    return "event_id";
  if (strcmp(col(&x->it, R_TYPE), sb_evtype_name(ev->type)) != 0)
    return "event_type";
  if (strcmp(col(&x->it, R_SUBJECT), ev->subject) != 0)
    return "subject";
  if (atoll(col(&x->it, R_AT)) != ev->occurred_at)
    return "occurred_at";
  /* the producer's id, as the pipeline read it from the record's header */
  char hv[SB_CE_ID_MAX + 1], id[SB_CE_ID_MAX + 1];
  const char *want = NULL, *have = col(&x->it, R_CE_ID);
  if (sb_logread_header(x->p->log, "ce_id", hv, sizeof hv))
    want = sb_ce_producer_id(hv, strlen(hv), ev->event_id, id);
  if ((want == NULL) != (have == NULL) ||
      (want != NULL && strcmp(want, have) != 0))
    return "ce_id (the producer's id)";
  return NULL;
}

static int xc_record(void *ctx, int64_t offset, const void *key, size_t klen,
                     const void *value, size_t vlen, sb_err_t *err) {
  (void)key;
  (void)klen;
  xc_t *x = ctx;
  if (rows_before(x, offset, "no Kafka record behind it: the log holds no "
                             "record at its offset (a forged row)",
                  err) != 0)
    return err->code;
  int here = rowit_has(&x->it) && row_offset(&x->it) == offset;
  sb_event_t ev;
  sb_err_t why = SB_ERR_INIT;
  x->records++;
  if (sb_codec_decode(x->codec, value, vlen, &ev, &why) != 0) {
    x->undecodable++; /* a dead letter: never audited */
    if (here)
      row_finding(x, "the Kafka record at its offset does not decode (a dead "
                     "letter), so no event is behind this row (a forged row)");
  } else if (x->p->tenant != NULL && strcmp(ev.tenant_id, x->p->tenant) != 0) {
    x->other_tenant++;
    if (here)
      row_finding(x, "the Kafka record at its offset belongs to another "
                     "tenant (a forged row)");
  } else if (!here && dropped_copy(x, err)) {
    x->dropped++; /* a copy of a derived event whose batch did not commit:
                     never audited */
  } else if (err->code != 0) {
    return err->code;
  } else if (!here) {
    finding(x->p, "at topic=%s partition=%d offset=%lld: the Kafka record "
                  "(event_id=%s, tenant=%s, type=%s) is missing from the "
                  "audit log",
            x->topic, x->partition, (long long)offset, ev.event_id,
            ev.tenant_id, sb_evtype_name(ev.type));
  } else {
    const char *field = row_differs(x, &ev, value, vlen, err);
    if (err->code != 0)
      return err->code;
    if (field != NULL) {
      char msg[160];
      snprintf(msg, sizeof msg, "its %s differs from the Kafka record at its "
                                "offset (a changed or forged row)", field);
      row_finding(x, msg);
    }
  }
  if (here) { /* a second row claiming the same record is forged */
    if (rowit_next(&x->it, err) != 0 ||
        rows_before(x, offset + 1, "a second row for the same Kafka record "
                                   "(a forged row)", err) != 0)
      return err->code;
  }
  return 0;
}

/* One partition: rows below the log's start are unchecked, rows at or past
 * the committed offset have no processed record behind them. */
static int xc_partition(sb_audit_proof_t *p, sb_codec_t *codec,
                        const char *group, const char *topic, int32_t part,
                        long long *rows_checked, long long *records,
                        long long *undecodable, long long *unchecked,
                        sb_err_t *err) {
  char parts[16], off[200];
  int found = 0;
  int64_t lo = 0, hi = 0;
  snprintf(parts, sizeof parts, "%d", part);
  /* the committed offset, then (after a space) the incarnation of the log
   * it was read from, if recorded */
  int rc = sb_pg_query1(p->pg,
                        "SELECT next_offset || coalesce(' ' || log_epoch, '') "
                        "FROM sb.consumer_offsets WHERE consumer_group = $1 "
                        "AND topic = $2 AND partition = $3",
                        3, (const char *const[]){group, topic, parts}, off,
                        sizeof off, &found, NULL, err);
  if (rc == 0)
    rc = sb_logread_watermarks(p->log, topic, part, &lo, &hi, err);
  if (rc != 0)
    return rc;
  int64_t committed = found ? atoll(off) : 0;
  const char *stored = found ? strchr(off, ' ') : NULL;
  int other_log = stored != NULL && p->epoch[0] != '\0' &&
                  strcmp(stored + 1, p->epoch) != 0;
  /* a log never shrinks at its end: one that ends below the committed
   * offset is not the log the rows were read from (a topic recreated, an
   * embedded broker's log lost), and none of it is compared with them; nor
   * is a log of another incarnation than the offsets were committed in */
  int reset = hi < committed || other_log;
  if (other_log) {
    printf("audit verify: unchecked: %s[%d]: the audit processor committed "
           "offsets in another incarnation of the log (%s) than the brokers "
           "serve now (%s): its rows are not compared with this log\n",
           topic, part, stored + 1, p->epoch);
    hi = lo; /* nothing of this log is theirs */
  }
  int64_t end = reset ? lo : committed;
  xc_t x;
  memset(&x, 0, sizeof x);
  x.p = p;
  x.codec = codec;
  x.it.pg = p->pg;
  x.topic = topic;
  x.partition = part;
  rc = sb_pg_exec(p->pg,
                  "DECLARE xc NO SCROLL CURSOR FOR SELECT kafka_offset, "
                  "tenant_id, event_id, event_type, subject, (extract(epoch "
                  "FROM occurred_at) * 1000000)::bigint, payload, chain_seq, "
                  "ce_id FROM audit.events WHERE topic = $1 AND kafka_partition = $2 "
                  "AND ($3::text IS NULL OR tenant_id = $3) ORDER BY "
                  "kafka_offset, chain_seq",
                  3, (const char *const[]){topic, parts, p->tenant}, err);
  if (rc == 0)
    rc = rowit_next(&x.it, err);
  /* below the log's start: trimmed (retention), not checkable */
  long long below = 0;
  int64_t first = -1, last = -1;
  while (rc == 0 && rowit_has(&x.it) && row_offset(&x.it) < lo) {
    if (first < 0)
      first = row_offset(&x.it);
    last = row_offset(&x.it);
    below++;
    rc = rowit_next(&x.it, err);
  }
  if (rc == 0 && below > 0) {
    printf("audit verify: unchecked: %s[%d] offsets %lld-%lld: %lld rows the "
           "log no longer holds (trimmed; it starts at %lld)\n",
           topic, part, (long long)first, (long long)last, below, (long long)lo);
    *unchecked += below;
  }
  long long before = 0;
  if (rc == 0)
    rc = sb_logread_range(p->log, topic, part, lo, end, xc_record, &x, err);
  if (rc == 0)
    rc = rows_before(&x, end, "no Kafka record behind it: the log holds no "
                              "record at its offset (a forged row)", err);
  /* what the log does not hold up to the committed offset */
  first = -1;
  while (rc == 0 && rowit_has(&x.it) && row_offset(&x.it) < committed) {
    if (first < 0)
      first = row_offset(&x.it);
    last = row_offset(&x.it);
    before++;
    rc = rowit_next(&x.it, err);
  }
  if (rc == 0 && before > 0) {
    printf("audit verify: unchecked: %s[%d] offsets %lld-%lld: %lld rows; "
           "the log ends at %lld, below the offset the audit processor "
           "committed (%lld): it is not the log they were read from (a "
           "recreated topic, or a lost log)\n",
           topic, part, (long long)first, (long long)last, before,
           (long long)hi, (long long)committed);
    *unchecked += before;
  }
  if (rc == 0) {
    char why[200];
    snprintf(why, sizeof why,
             "no Kafka record behind it: at or past the offset the audit "
             "processor committed for %s[%d] (%lld) (a forged row)",
             topic, part, (long long)committed);
    rc = rows_before(&x, INT64_MAX, why, err);
  }
  sb_pg_rows_free(x.it.rows);
  free(x.buf);
  sb_pg_exec(p->pg, "CLOSE xc", 0, NULL, NULL);
  *records += x.records;
  *undecodable += x.undecodable;
  *rows_checked += x.records - x.undecodable - x.other_tenant;
  return rc;
}

int sb_audit_crosscheck(sb_audit_proof_t *p, sb_err_t *err) {
  sb_schemas_t *schemas = NULL;
  sb_codec_t *codec = NULL;
  char group[128];
  const char *name = "audit";
  int found = 0, in_txn = 0;
  long long rows = 0, records = 0, undecodable = 0, unchecked = 0, parts = 0;
  sb_err_t ignore = SB_ERR_INIT;
  if (sb_log_epoch(p->conf, NULL, p->epoch, sizeof p->epoch, &ignore) != 0)
    p->epoch[0] = '\0'; /* not told: judged by the log's ends alone */
  int rc = sb_schemas_load(&schemas, err);
  if (rc == 0)
    rc = sb_codec_new(schemas, &codec, err);
  if (rc == 0)
    rc = sb_pg_exec(p->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                    0, NULL, err);
  in_txn = rc == 0;
  if (rc == 0)
    rc = sb_pg_query1(p->pg, "SELECT consumer_group FROM sb.processors WHERE "
                             "name = $1",
                      1, &name, group, sizeof group, &found, NULL, err);
  if (rc == 0 && !found)
    snprintf(group, sizeof group, "switchboard.audit");
  for (const char *const *t = sb_audit_processor.topics; rc == 0 && *t; t++) {
    int n = 0;
    rc = sb_logread_partitions(p->log, *t, &n, err);
    for (int32_t part = 0; rc == 0 && part < n; part++, parts++)
      rc = xc_partition(p, codec, group, *t, part, &rows, &records,
                        &undecodable, &unchecked, err);
    if (rc != 0)
      break;
    /* rows of partitions the log does not have */
    char nparts[16], row[256];
    int any = 0;
    snprintf(nparts, sizeof nparts, "%d", n);
    rc = sb_pg_query1(
        p->pg,
        "SELECT e.kafka_partition || ' ' || count(*) || ' ' || "
        "coalesce(max(o.next_offset)::text, 'none') FROM audit.events e LEFT "
        "JOIN sb.consumer_offsets o ON o.consumer_group = $1 AND o.topic = "
        "e.topic AND o.partition = e.kafka_partition WHERE e.topic = $2 AND "
        "e.kafka_partition >= $3::int AND ($4::text IS NULL OR e.tenant_id = "
        "$4) GROUP BY e.kafka_partition ORDER BY 1 LIMIT 1",
        4, (const char *const[]){group, *t, nparts, p->tenant}, row,
        sizeof row, &any, NULL, err);
    if (rc == 0 && any) {
      int32_t bad = atoi(row);
      if (strstr(row, " none") != NULL)
        finding(p, "at topic=%s partition=%d: rows of a partition the audit "
                   "processor never committed (%s has %d partitions): no "
                   "Kafka record behind them (forged rows)",
                *t, bad, *t, n);
      else {
        printf("audit verify: unchecked: %s[%d]: rows of a partition the log "
               "does not have (it has %d)\n", *t, bad, n);
        p->incomplete = 1;
      }
    }
  }
  if (in_txn)
    sb_pg_exec(p->pg, rc == 0 ? "COMMIT" : "ROLLBACK", 0, NULL, NULL);
  if (rc == 0)
    printf("audit verify: cross-checked against Kafka: %lld rows against "
           "their records in %lld partitions, from each log's start to the "
           "offset the audit processor committed; %lld records do not "
           "decode (dead letters, never audited); %lld rows unchecked\n",
           rows, parts, undecodable, unchecked);
  sb_codec_free(codec);
  sb_schemas_free(schemas);
  return rc;
}
