#include "sb_engine.h"

#include "sb_codec.h"
#include "sb_journal.h"
#include "sb_kafka.h"
#include "sb_log.h"
#include "sb_metrics.h"
#include "sb_pg.h"
#include "sb_producer.h"
#include "sb_topics.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TP 4096 /* partitions one worker tracks */

typedef struct {
  char topic[64];
  int32_t partition;
  int64_t next;  /* next offset to read, once the batch commits */
  int eof;       /* reached the end since its last record */
  int assigned;
  int64_t isolate_end; /* below this offset, batches hold one event */
  _Atomic int64_t lag; /* records behind the high watermark; -1 unknown */
  int64_t stored; /* next_offset as PostgreSQL has it for offsets_group;
                     -1: no row (or not known) */
} tp_t;

struct sb_batch_s {
  sb_engine_t *e;
  int open; /* inside the transaction */
};

struct sb_engine_s {
  const sb_conf_t *c;
  const sb_schemas_t *schemas;
  sb_engine_opts_t o;
  const sb_processor_vt_t *vt;
  char schema[64];
  char kafka_group[128];
  char offsets_group[128];
  int generation; /* of the live projection, as last seen */
  char epoch[96];  /* the log's incarnation (sb_log_epoch) */
  sb_durable_t *durable; /* the embedded broker's journal, or NULL */

  pthread_t thread;
  atomic_int stop;
  atomic_int done;
  int started;
  sb_err_t err; /* why the worker failed */

  void *state;
  rd_kafka_t *rk;
  /* an assignment that failed for a passing reason (PostgreSQL away):
   * retried from the loop */
  rd_kafka_topic_partition_list_t *pending_assign;
  sb_pg_t *pg;
  sb_codec_t *codec;
  sb_producer_t *producer;
  sb_batch_t batch;

  tp_t *tps;
  size_t ntp;
  tp_t *last_tp; /* find_tp's last answer */
  int pending;       /* events in the open batch */
  long long opened;  /* when the batch got its first event */
  /* counters, read by other threads (metrics) */
  struct {
    atomic_ullong events, deadletters, batches, reseeks, offset_resets;
  } stats;
  sb_hist_t batch_events, commit_seconds;
  atomic_size_t ntp_seen; /* tps[0..ntp_seen) readable by other threads */
  long long lag_at;       /* when lags were last refreshed */
};

static const double batch_bounds[] = {1, 10, 50, 100, 500, 1000, 2000, 5000, 10000};
static const double commit_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,   0.25,   0.5,   1,    2.5,   10};

/* ---- small helpers ---------------------------------------------------- */

const char *sb_batch_schema(const sb_batch_t *b) { return b->e->schema; }
sb_pg_t *sb_batch_pg(sb_batch_t *b) { return b->e->pg; }
const char *sb_batch_processor(const sb_batch_t *b) { return b->e->vt->name; }
const sb_conf_t *sb_batch_conf(const sb_batch_t *b) { return b->e->c; }

int sb_batch_publish_record(sb_batch_t *b, const char *topic, const char *key,
                            const void *value, size_t len, sb_err_t *err) {
  sb_engine_t *e = b->e;
  if (e->batch.open || e->pending > 0)
    return sb_err_set(err, SB_ESTATE, "processor %s: publish inside a batch",
                      e->vt->name);
  if (sb_producer_send(e->producer, topic, key, strlen(key), value, len, NULL,
                       0, NULL, NULL, err) != 0)
    return err->code;
  return sb_producer_flush(e->producer, e->c->kafka_timeout_ms, err);
}

/* Lets the processor publish what is durable (see publish in
 * sb_processor.h); the live projection only. */
static void publish(sb_engine_t *e, int final) {
  if (e->vt->publish == NULL || e->o.rebuild_schema != NULL ||
      e->batch.open || e->pending > 0)
    return;
  sb_err_t err = SB_ERR_INIT;
  if (e->vt->publish(e->state, &e->batch, final, &err) != 0)
    sb_log(SB_LOG_WARN, "engine", "publishing failed; retried later",
           SB_F_STR("processor", e->vt->name), SB_F_STR("error", err.msg),
           SB_F_END);
}

int sb_processor_check(const sb_processor_vt_t *vt, sb_err_t *err) {
  if (vt == NULL)
    return sb_err_set(err, SB_EINVAL, "processor: NULL vtable");
  const char *n = vt->name ? vt->name : "(unnamed)";
  if (vt->abi != SB_PROCESSOR_ABI)
    return sb_err_set(err, SB_EINVAL, "processor %s: ABI %u, engine has %d", n,
                      vt->abi, SB_PROCESSOR_ABI);
  if (vt->name == NULL || vt->name[0] < 'a' || vt->name[0] > 'z' ||
      strspn(vt->name, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
          strlen(vt->name) ||
      strlen(vt->name) > 40)
    return sb_err_set(err, SB_EINVAL, "processor %s: name must match "
                                      "[a-z][a-z0-9_]{0,39}", n);
  if (vt->topics == NULL || vt->topics[0] == NULL)
    return sb_err_set(err, SB_EINVAL, "processor %s: reads no topics", n);
  const char *missing = !vt->ddl       ? "ddl"
                        : !vt->init    ? "init"
                        : !vt->event   ? "event"
                        : !vt->commit  ? "commit"
                        : !vt->abort   ? "abort"
                        : !vt->destroy ? "destroy"
                                       : NULL;
  if (missing)
    return sb_err_set(err, SB_EINVAL, "processor %s: the required %s is "
                                      "missing", n, missing);
  return 0;
}

const sb_processor_vt_t *sb_processor_find(const char *name) {
  for (const sb_processor_vt_t *const *p = sb_builtin_processors; *p; p++)
    if (strcmp((*p)->name, name) == 0)
      return *p;
  return NULL;
}

/* Replaces every "{schema}" of vt->ddl and runs it. */
int sb_engine_create_tables(sb_pg_t *pg, const sb_processor_vt_t *vt,
                            const char *schema, sb_err_t *err) {
  /* room for every "{schema}" spelled out, and for the statements around */
  size_t uses = 0;
  for (const char *p = strstr(vt->ddl, "{schema}"); p; p = strstr(p + 8, "{schema}"))
    uses++;
  size_t cap = strlen(vt->ddl) + (uses + 4) * strlen(schema) + 512;
  char *sql = malloc(cap);
  if (sql == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  size_t n = (size_t)snprintf(sql, cap, "CREATE SCHEMA %s; GRANT USAGE ON "
                                        "SCHEMA %s TO switchboard_app;\n",
                              schema, schema);
  for (const char *p = vt->ddl; *p;) {
    if (strncmp(p, "{schema}", 8) == 0) {
      n += (size_t)snprintf(sql + n, cap - n, "%s", schema);
      p += 8;
    } else {
      sql[n++] = *p++;
    }
  }
  /* readers (dashboards) see their tenant's rows: row-level security on
   * every table with a tenant_id (sql/0006_roles.sql) */
  n += (size_t)snprintf(sql + n, cap - n,
                        "\nDO $$ BEGIN IF to_regprocedure("
                        "'sb.protect_projection(text)') IS NOT NULL THEN "
                        "PERFORM sb.protect_projection('%s'); END IF; "
                        "END $$;\n",
                        schema);
  sql[n] = '\0';
  int rc = sb_pg_exec(pg, sql, 0, NULL, err);
  free(sql);
  if (rc != 0 && sb_err_sqlstate_is(err, "42501"))
    sb_err_prefix(err, "processor %s: creating its tables in %s needs the "
                       "database owner (run `switchboard migrate` with the "
                       "owner's URL; the application role runs no DDL): ",
                  vt->name, schema);
  else if (rc != 0)
    sb_err_prefix(err, "processor %s: creating its tables in %s: ", vt->name,
                  schema);
  return rc;
}

int sb_engine_ensure_live(sb_pg_t *pg, const sb_processor_vt_t *vt,
                          sb_err_t *err) {
  char row[16];
  int found = 0;
  const char *name = vt->name;
  int rc = sb_pg_exec(pg, "BEGIN", 0, NULL, err);
  if (rc == 0) /* one creator at a time across workers */
    rc = sb_pg_exec(pg, "SELECT pg_advisory_xact_lock(hashtext('sb.processors'))",
                    0, NULL, err);
  if (rc == 0)
    rc = sb_pg_query1(pg, "SELECT generation FROM sb.processors WHERE name = $1",
                      1, &name, row, sizeof row, &found, NULL, err);
  if (rc == 0 && !found) {
    char group[128];
    snprintf(group, sizeof group, "switchboard.%s", name);
    rc = sb_engine_create_tables(pg, vt, name, err);
    if (rc == 0)
      rc = sb_pg_exec(pg, "INSERT INTO sb.processors (name, consumer_group) "
                          "VALUES ($1, $2)",
                      2, (const char *const[]){name, group}, err);
    if (rc == 0)
      sb_log(SB_LOG_INFO, "engine", "created the projection tables",
             SB_F_STR("processor", name), SB_F_END);
  }
  if (rc == 0)
    rc = sb_pg_exec(pg, "COMMIT", 0, NULL, err);
  if (rc != 0)
    sb_pg_exec(pg, "ROLLBACK", 0, NULL, NULL);
  return rc;
}

/* Reads the live group and generation. */
static int load_live(sb_engine_t *e, sb_err_t *err) {
  char gen[16];
  int found = 0;
  const char *name = e->vt->name;
  if (sb_pg_query1(e->pg, "SELECT consumer_group FROM sb.processors WHERE "
                          "name = $1",
                   1, &name, e->offsets_group, sizeof e->offsets_group, &found,
                   NULL, err) != 0 ||
      sb_pg_query1(e->pg, "SELECT generation FROM sb.processors WHERE name = $1",
                   1, &name, gen, sizeof gen, &found, NULL, err) != 0)
    return err->code;
  if (!found)
    return sb_err_set(err, SB_ESTATE, "processor %s has no sb.processors row",
                      name);
  e->generation = atoi(gen);
  return 0;
}

static tp_t *find_tp(sb_engine_t *e, const char *topic, int32_t partition,
                     int create) {
  /* messages come in runs of one partition: the last one found first
   * (entries never move or go, so the pointer stays good) */
  tp_t *last = e->last_tp;
  if (last && last->partition == partition && strcmp(last->topic, topic) == 0)
    return last;
  for (size_t i = 0; i < e->ntp; i++)
    if (e->tps[i].partition == partition &&
        strcmp(e->tps[i].topic, topic) == 0)
      return e->last_tp = &e->tps[i];
  if (!create || e->ntp >= MAX_TP)
    return NULL;
  tp_t *t = &e->tps[e->ntp++];
  memset(t, 0, sizeof *t);
  snprintf(t->topic, sizeof t->topic, "%s", topic);
  t->partition = partition;
  t->next = -1;
  atomic_store(&t->lag, -1);
  atomic_store(&e->ntp_seen, e->ntp);
  return t;
}

/* ---- assignment -------------------------------------------------------- */

/* A stored offset that does not belong to the log as it is now (another
 * incarnation of it, or past its end) would skip new records: it is
 * reported loudly, counted, and replaced at once by the partition's start
 * in this log, where reading resumes. *offset is the offset to read from. */
static int check_offset(sb_engine_t *e, const char *topic, int32_t partition,
                        int64_t *offset, const char *stored_epoch,
                        sb_err_t *err) {
  char why[256], part[16], lo_s[32];
  int64_t lo = 0, hi = 0, stored = *offset;
  rd_kafka_resp_err_t kerr = rd_kafka_query_watermark_offsets(
      e->rk, topic, partition, &lo, &hi, e->c->kafka_timeout_ms);
  if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    sb_kafka_err(err, kerr, "reading a partition's ends");
    err->retriable = true;
    return err->code;
  }
  if (stored_epoch[0] != '\0' && e->epoch[0] != '\0' &&
      strcmp(stored_epoch, e->epoch) != 0)
    snprintf(why, sizeof why, "stored for log %s, the log is %s", stored_epoch,
             e->epoch);
  else if (stored > hi)
    snprintf(why, sizeof why, "past the partition's end, offset %lld",
             (long long)hi);
  else
    return 0;
  snprintf(part, sizeof part, "%d", partition);
  snprintf(lo_s, sizeof lo_s, "%lld", (long long)lo);
  if (sb_pg_exec(e->pg,
                 "UPDATE sb.consumer_offsets SET next_offset = $4, log_epoch = "
                 "NULLIF($5, ''), updated_at = now() WHERE consumer_group = $1 AND "
                 "topic = $2 AND partition = $3",
                 5,
                 (const char *const[]){e->offsets_group, topic, part, lo_s,
                                       e->epoch},
                 err) != 0)
    return err->code;
  atomic_fetch_add(&e->stats.offset_resets, 1);
  sb_log(SB_LOG_ERROR, "engine",
         "stored offset does not belong to this log (a new or recreated "
         "topic, or a lost embedded broker journal): reading the partition "
         "from its start so that no new event is skipped",
         SB_F_STR("processor", e->vt->name),
         SB_F_STR("group", e->offsets_group), SB_F_STR("topic", topic),
         SB_F_INT("partition", partition), SB_F_INT("stored_offset", stored),
         SB_F_STR("found", why), SB_F_INT("reading_from", lo), SB_F_END);
  *offset = lo;
  return 0;
}

/* Sets each partition's offset to the one stored in PostgreSQL (the start
 * when none is, or when it belongs to another log), loads the processor's
 * state for it, and assigns. */
static int assign(sb_engine_t *e, rd_kafka_topic_partition_list_t *parts,
                  sb_err_t *err) {
  for (int i = 0; i < parts->cnt; i++) {
    rd_kafka_topic_partition_t *p = &parts->elems[i];
    char part[16], row[160];
    int found = 0;
    snprintf(part, sizeof part, "%d", p->partition);
    if (sb_pg_query1(e->pg,
                     "SELECT next_offset || ' ' || coalesce(log_epoch, '') "
                     "FROM sb.consumer_offsets WHERE "
                     "consumer_group = $1 AND topic = $2 AND partition = $3",
                     3, (const char *const[]){e->offsets_group, p->topic, part},
                     row, sizeof row, &found, NULL, err) != 0)
      return err->code;
    int64_t at = atoll(row);
    if (found) {
      char *sp = strchr(row, ' ');
      if (check_offset(e, p->topic, p->partition, &at, sp ? sp + 1 : "",
                       err) != 0)
        return err->code;
    }
    p->offset = found ? at : RD_KAFKA_OFFSET_BEGINNING;
    tp_t *t = find_tp(e, p->topic, p->partition, 1);
    if (t == NULL)
      return sb_err_set(err, SB_EINTERNAL, "too many partitions");
    t->assigned = 1;
    t->eof = 0;
    t->next = found ? p->offset : -1;
    t->stored = t->next;
    if (e->vt->assign &&
        e->vt->assign(e->state, &e->batch, p->topic, p->partition, err) != 0) {
      sb_err_prefix(err, "processor %s, in assign, %s[%d]: ", e->vt->name,
                    p->topic, p->partition);
      return err->code;
    }
  }
  rd_kafka_error_t *kerr = NULL;
  rd_kafka_resp_err_t r = rd_kafka_assign(e->rk, parts);
  (void)kerr;
  if (r != RD_KAFKA_RESP_ERR_NO_ERROR)
    return sb_kafka_err(err, r, "assigning partitions");
  sb_log(SB_LOG_INFO, "engine", "partitions assigned",
         SB_F_STR("processor", e->vt->name), SB_F_INT("count", parts->cnt),
         SB_F_STR("offsets_group", e->offsets_group), SB_F_END);
  return 0;
}

/* Entries stay (unassigned): a reseek keeps what isolate_end says. */
static void unassign_all(sb_engine_t *e) {
  for (size_t i = 0; i < e->ntp; i++) {
    if (e->tps[i].assigned && e->vt->revoke)
      e->vt->revoke(e->state, e->tps[i].topic, e->tps[i].partition);
    e->tps[i].assigned = 0;
  }
  rd_kafka_assign(e->rk, NULL);
}

static int commit_batch(sb_engine_t *e, sb_err_t *err);

/* Rolls back the batch's transaction, if one is open (an unfinished COPY
 * of the processor's included). */
static void close_batch(sb_engine_t *e) {
  if (e->batch.open)
    sb_pg_rollback(e->pg);
  e->batch.open = 0;
}

static void drop_pending(sb_engine_t *e) {
  if (e->pending_assign != NULL)
    rd_kafka_topic_partition_list_destroy(e->pending_assign);
  e->pending_assign = NULL;
}

/* Drops the open batch and starts again from the stored offsets, with the
 * processor's state reloaded. */
static int reseek(sb_engine_t *e, sb_err_t *err) {
  e->vt->abort(e->state);
  close_batch(e);
  e->pending = 0;
  atomic_fetch_add(&e->stats.reseeks, 1);
  rd_kafka_topic_partition_list_t *cur = NULL;
  rd_kafka_resp_err_t r = rd_kafka_assignment(e->rk, &cur);
  if (r != RD_KAFKA_RESP_ERR_NO_ERROR)
    return sb_kafka_err(err, r, "reading the assignment");
  unassign_all(e);
  int rc = cur->cnt > 0 ? assign(e, cur, err) : 0;
  if (rc != 0 && err->retriable) { /* the loop retries it */
    for (size_t i = 0; i < e->ntp; i++)
      e->tps[i].assigned = 0;
    drop_pending(e);
    e->pending_assign = cur;
    return rc;
  }
  rd_kafka_topic_partition_list_destroy(cur);
  return rc;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t kerr,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  (void)rk;
  sb_engine_t *e = opaque;
  sb_err_t err = SB_ERR_INIT;
  if (kerr == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (assign(e, parts, &err) == 0)
      return;
    if (err.retriable) { /* try again from the loop, reconnecting */
      sb_log(SB_LOG_WARN, "engine", "cannot take the assigned partitions yet; "
                                    "retrying",
             SB_F_STR("processor", e->vt->name), SB_F_STR("error", err.msg),
             SB_F_END);
      for (size_t i = 0; i < e->ntp; i++)
        e->tps[i].assigned = 0;
      drop_pending(e);
      e->pending_assign = rd_kafka_topic_partition_list_copy(parts);
      return;
    }
    sb_log(SB_LOG_ERROR, "engine", err.msg, SB_F_STR("processor", e->vt->name),
           SB_F_END);
    sb_err_set(&e->err, err.code, "%s", err.msg);
    atomic_store(&e->stop, 1);
    return;
  }
  drop_pending(e);
  /* revoked: what was processed is committed before the partitions go */
  if (e->pending > 0 && commit_batch(e, &err) != 0) {
    sb_log(SB_LOG_WARN, "engine", "batch dropped at revocation; it will be "
                                  "processed again by the new owner",
           SB_F_STR("processor", e->vt->name), SB_F_STR("error", err.msg),
           SB_F_END);
    e->vt->abort(e->state);
    e->pending = 0;
  }
  publish(e, 1);
  unassign_all(e);
}

/* ---- dead letters and derived events ---------------------------------- */

static int dead_letter(sb_engine_t *e, const rd_kafka_message_t *m,
                       const char *cls, const char *why, int attempts,
                       sb_err_t *err) {
  char part[16], off[32], att[16];
  snprintf(part, sizeof part, "%d", m->partition);
  snprintf(off, sizeof off, "%lld", (long long)m->offset);
  snprintf(att, sizeof att, "%d", attempts);
  sb_header_t h[16];
  size_t n = 0;
  h[n++] = (sb_header_t){"sb-source-topic", rd_kafka_topic_name(m->rkt), -1};
  h[n++] = (sb_header_t){"sb-source-partition", part, -1};
  h[n++] = (sb_header_t){"sb-source-offset", off, -1};
  h[n++] = (sb_header_t){"sb-error-class", cls, -1};
  h[n++] = (sb_header_t){"sb-error", why, -1};
  h[n++] = (sb_header_t){"sb-attempts", att, -1};
  h[n++] = (sb_header_t){"sb-processor", e->vt->name, -1};
  rd_kafka_headers_t *orig = NULL;
  if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char *name;
    const void *val;
    size_t len;
    for (size_t i = 0; n < SB_ARRAY_LEN(h) &&
                       rd_kafka_header_get_all(orig, i, &name, &val, &len) == 0;
         i++)
      if (strncmp(name, "sb-source-", 10) != 0 && strncmp(name, "sb-error", 8) != 0)
        h[n++] = (sb_header_t){name, val, (ssize_t)len};
  }
  sb_log(SB_LOG_WARN, "engine", "record sent to sb.deadletter",
         SB_F_STR("processor", e->vt->name),
         SB_F_STR("topic", rd_kafka_topic_name(m->rkt)),
         SB_F_INT("partition", m->partition), SB_F_INT("offset", m->offset),
         SB_F_STR("class", cls), SB_F_STR("error", why), SB_F_END);
  atomic_fetch_add(&e->stats.deadletters, 1);
  return sb_producer_send(e->producer, SB_TOPIC_DEADLETTER, m->key, m->key_len,
                          m->payload, m->len, h, n, NULL, NULL, err);
}

int sb_batch_emit(sb_batch_t *b, const sb_event_t *ev, cJSON *ce,
                  sb_err_t *err) {
  sb_engine_t *e = b->e;
  /* id: a ULID keeping the cause's time, with 80 bits from
   * SHA-256(cause id "/" processor) */
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char seed[160], id[SB_ULID_LEN + 1];
  snprintf(seed, sizeof seed, "%s/%s", ev->event_id, e->vt->name);
  EVP_Digest(seed, strlen(seed), md, &mdlen, EVP_sha256(), NULL);
  sb_ulid_make((uint64_t)(ev->occurred_at / 1000), md, id);
  cJSON_DeleteItemFromObjectCaseSensitive(ce, "id");
  cJSON_DeleteItemFromObjectCaseSensitive(ce, "causationid");
  cJSON_AddStringToObject(ce, "id", id);
  cJSON_AddStringToObject(ce, "causationid", ev->event_id);
  if (!cJSON_GetObjectItemCaseSensitive(ce, "correlationid"))
    cJSON_AddStringToObject(ce, "correlationid", ev->event_id);
  sb_record_t r;
  if (sb_codec_from_ce(e->codec, ce, 0, &r, err) != 0) {
    sb_err_prefix(err, "processor %s emitted an invalid event: ", e->vt->name);
    return err->code;
  }
  int rc = sb_producer_send_record(e->producer, &r, NULL, NULL, err);
  sb_record_clear(&r);
  return rc;
}

/* ---- the batch ------------------------------------------------------ */

/* The offsets of the partitions that moved since PostgreSQL last had them,
 * in one statement (arrays unnested into one upsert), in the open
 * transaction: a batch costs one round trip for its offsets, however many
 * partitions are assigned. */
static int upsert_offsets(sb_engine_t *e, sb_err_t *err) {
  sb_text_t topics = {0}, parts = {0}, offs = {0};
  sb_text_add(&topics, "{");
  sb_text_add(&parts, "{");
  sb_text_add(&offs, "{");
  size_t moved = 0;
  for (size_t i = 0; i < e->ntp; i++) {
    tp_t *t = &e->tps[i];
    if (!t->assigned || t->next < 0 || t->next == t->stored)
      continue;
    char num[32];
    sb_text_pg_elem(&topics, t->topic);
    snprintf(num, sizeof num, "%d", t->partition);
    sb_text_pg_elem(&parts, num);
    snprintf(num, sizeof num, "%lld", (long long)t->next);
    sb_text_pg_elem(&offs, num);
    moved++;
  }
  sb_text_add(&topics, "}");
  sb_text_add(&parts, "}");
  sb_text_add(&offs, "}");
  int rc = 0;
  if (topics.failed || parts.failed || offs.failed)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  else if (moved > 0)
    rc = sb_pg_exec(
        e->pg,
        "INSERT INTO sb.consumer_offsets (consumer_group, topic, partition, "
        "next_offset, log_epoch) SELECT $1, t, p, o, NULLIF($5, '') FROM "
        "unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, o) "
        "ON CONFLICT (consumer_group, topic, partition) DO UPDATE "
        "SET next_offset = EXCLUDED.next_offset, log_epoch = "
        "EXCLUDED.log_epoch, updated_at = now()",
        5,
        (const char *const[]){e->offsets_group, topics.s, parts.s, offs.s,
                              e->epoch},
        err);
  sb_text_free(&topics);
  sb_text_free(&parts);
  sb_text_free(&offs);
  return rc;
}

/* On the embedded broker: the offsets about to be stored pass only records
 * its journal has on disk, so that a restart never finds the projection
 * ahead of the log. */
static int wait_durable(sb_engine_t *e, sb_err_t *err) {
  if (e->durable == NULL)
    return 0;
  for (size_t i = 0; i < e->ntp; i++) {
    tp_t *t = &e->tps[i];
    if (t->assigned && t->next > 0 && t->next != t->stored &&
        sb_durable_wait(e->durable, t->topic, t->partition, t->next,
                        e->c->kafka_timeout_ms, err) != 0) {
      err->retriable = true; /* the batch is replayed, loudly, until it is */
      return err->code;
    }
  }
  return 0;
}

/* After a COMMIT that carried upsert_offsets: PostgreSQL has them now. */
static void offsets_stored(sb_engine_t *e) {
  for (size_t i = 0; i < e->ntp; i++)
    if (e->tps[i].assigned && e->tps[i].next >= 0)
      e->tps[i].stored = e->tps[i].next;
}

/* 1 when a replay swapped the projection since we last looked. */
static int generation_moved(sb_engine_t *e, sb_err_t *err) {
  if (e->o.rebuild_schema != NULL)
    return 0;
  char gen[16];
  int found = 0;
  const char *name = e->vt->name;
  if (sb_pg_query1(e->pg, "SELECT generation FROM sb.processors WHERE name = "
                          "$1 FOR SHARE",
                   1, &name, gen, sizeof gen, &found, NULL, err) != 0)
    return -1;
  return found && atoi(gen) != e->generation;
}

/* Records behind the high watermark of each assigned partition, from the
 * offsets librdkafka last saw (no request to the brokers). */
static void refresh_lag(sb_engine_t *e) {
  for (size_t i = 0; i < e->ntp; i++) {
    tp_t *t = &e->tps[i];
    int64_t lo = 0, hi = 0;
    if (!t->assigned ||
        rd_kafka_get_watermark_offsets(e->rk, t->topic, t->partition, &lo,
                                       &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0) {
      atomic_store(&t->lag, -1);
      continue;
    }
    int64_t at = t->next >= 0 ? t->next : lo;
    atomic_store(&t->lag, hi > at ? hi - at : 0);
  }
  e->lag_at = sb_now_ms();
}

/* Opens the batch's transaction, before its first event: the processor
 * may stream rows to PostgreSQL while the batch fills (the server works
 * while this thread decodes), and a replay cannot swap the projection
 * under it (the generation row is held FOR SHARE). *moved is set when a
 * swap happened since the last batch: the batch is not opened, the worker
 * continues from the new projection's offsets. */
static int open_batch(sb_engine_t *e, int *moved, sb_err_t *err) {
  *moved = 0;
  int rc = sb_pg_exec(e->pg, "BEGIN", 0, NULL, err);
  if (rc != 0)
    return rc;
  e->batch.open = 1;
  int m = generation_moved(e, err);
  if (m == 0)
    return 0;
  close_batch(e);
  if (m < 0)
    return err->code;
  *moved = 1;
  sb_log(SB_LOG_INFO, "engine", "the projection was swapped by a replay; "
                                "continuing from the new offsets",
         SB_F_STR("processor", e->vt->name), SB_F_END);
  if ((rc = load_live(e, err)) != 0)
    return rc;
  return reseek(e, err);
}

static int commit_batch(sb_engine_t *e, sb_err_t *err) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int batch_size = e->pending;
  int rc;
  if (!e->batch.open) {
    int moved;
    if ((rc = open_batch(e, &moved, err)) != 0 || moved)
      return rc;
  }
  rc = e->vt->commit(e->state, &e->batch, err);
  if (rc != 0)
    sb_err_prefix(err, "processor %s, in commit: ", e->vt->name);
  if (rc == 0)
    rc = upsert_offsets(e, err);
  /* dead letters and derived events must be in Kafka before the offsets
   * that pass their sources are */
  if (rc == 0)
    rc = sb_producer_flush(e->producer, e->c->kafka_timeout_ms, err);
  if (rc == 0)
    rc = wait_durable(e, err);
  if (rc == 0)
    rc = sb_pg_exec(e->pg, "COMMIT", 0, NULL, err);
  if (rc != 0) {
    close_batch(e);
    return rc;
  }
  e->batch.open = 0;
  offsets_stored(e);
  if (e->vt->committed)
    e->vt->committed(e->state);
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  sb_hist_observe(&e->commit_seconds, (double)(t1.tv_sec - t0.tv_sec) +
                                          (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  sb_hist_observe(&e->batch_events, (double)batch_size);
  atomic_fetch_add(&e->stats.events, (unsigned long long)e->pending);
  atomic_fetch_add(&e->stats.batches, 1);
  e->pending = 0;
  /* offsets to Kafka as well, for lag tools; PostgreSQL stays the truth */
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
  for (size_t i = 0; i < e->ntp; i++)
    if (e->tps[i].assigned && e->tps[i].next >= 0)
      rd_kafka_topic_partition_list_add(l, e->tps[i].topic, e->tps[i].partition)
          ->offset = e->tps[i].next;
  if (l->cnt > 0)
    rd_kafka_commit(e->rk, l, 1);
  rd_kafka_topic_partition_list_destroy(l);
  return 0;
}

static int handle(sb_engine_t *e, rd_kafka_message_t *m, sb_err_t *err) {
  tp_t *t = find_tp(e, rd_kafka_topic_name(m->rkt), m->partition, 0);
  if (t == NULL || !t->assigned)
    return 0; /* a straggler from a revoked partition */
  if (e->pending == 0) {
    int moved;
    if (open_batch(e, &moved, err) != 0)
      return err->code;
    if (moved)
      return 0; /* m is read again from the new offsets */
    e->opened = sb_now_ms();
    if (e->vt->begin && e->vt->begin(e->state, &e->batch, err) != 0) {
      sb_err_prefix(err, "processor %s, in begin: ", e->vt->name);
      return err->code;
    }
  }
  t->eof = 0;
  sb_event_t ev;
  sb_err_t why = SB_ERR_INIT;
  if (sb_codec_decode(e->codec, m->payload, m->len, &ev, &why) != 0) {
    const char *cls = why.code == SB_EVALIDATE ? "validate" : "decode";
    if (dead_letter(e, m, cls, why.msg, 1, err) != 0)
      return err->code;
  } else {
    ev.topic = t->topic;
    ev.partition = m->partition;
    ev.offset = m->offset;
    int attempts = 0, rc;
    do {
      sb_err_clear(&why);
      rc = e->vt->event(e->state, &e->batch, &ev, &why);
      attempts++;
    } while (rc != 0 && why.retriable && why.code != SB_EPG &&
             attempts <= e->c->processor_retries);
    if (rc != 0 && why.code == SB_EPG) {
      /* the batch's transaction failed, not the event: the batch goes
       * (next covers m, so that an isolation replay includes it) */
      t->next = m->offset + 1;
      *err = why;
      sb_err_prefix(err, "processor %s, in event: ", e->vt->name);
      return err->code;
    }
    if (rc != 0) {
      char msg[SB_ERR_MSG_MAX + 128];
      snprintf(msg, sizeof msg, "processor %s, in event, %s[%d]@%lld: %s",
               e->vt->name, t->topic, m->partition, (long long)m->offset,
               why.msg);
      if (dead_letter(e, m, "processor", msg, attempts, err) != 0)
        return err->code;
    }
  }
  t->next = m->offset + 1;
  e->pending++;
  return 0;
}

static int all_at_end(sb_engine_t *e) {
  int any = 0;
  for (size_t i = 0; i < e->ntp; i++) {
    if (!e->tps[i].assigned)
      continue;
    any = 1;
    if (!e->tps[i].eof)
      return 0;
  }
  return any;
}

/* ---- isolating a poison event ----------------------------------------- */

/* A data exception or integrity violation (SQLSTATE classes 22, 23) in
 * commit is about some event of the batch; anything else non-retriable is
 * about the setup, and stops the worker. */
static int is_data_error(const sb_err_t *err) {
  return sb_err_sqlstate_is(err, "22") || sb_err_sqlstate_is(err, "23");
}

static int isolating(const sb_engine_t *e) {
  for (size_t i = 0; i < e->ntp; i++)
    if (e->tps[i].assigned && e->tps[i].isolate_end > 0 &&
        e->tps[i].next < e->tps[i].isolate_end)
      return 1;
  return 0;
}

/* The batch of one event m failed in commit: m goes to sb.deadletter and
 * the offsets move past it, in a transaction of their own. */
static int skip_poison(sb_engine_t *e, const rd_kafka_message_t *m,
                       const char *why, sb_err_t *err) {
  e->vt->abort(e->state);
  close_batch(e);
  e->pending = 0;
  tp_t *t = find_tp(e, rd_kafka_topic_name(m->rkt), m->partition, 0);
  if (t != NULL)
    t->next = m->offset + 1;
  char msg[SB_ERR_MSG_MAX + 64];
  snprintf(msg, sizeof msg, "processor %s could not commit this event: %s",
           e->vt->name, why);
  int rc = dead_letter(e, m, "processor", msg, 1, err);
  if (rc == 0)
    rc = sb_pg_exec(e->pg, "BEGIN", 0, NULL, err);
  if (rc == 0)
    rc = upsert_offsets(e, err);
  if (rc == 0)
    rc = sb_producer_flush(e->producer, e->c->kafka_timeout_ms, err);
  if (rc == 0)
    rc = wait_durable(e, err);
  if (rc == 0)
    rc = sb_pg_exec(e->pg, "COMMIT", 0, NULL, err);
  if (rc != 0)
    sb_pg_rollback(e->pg);
  else
    offsets_stored(e);
  return rc;
}

/* ---- the worker ------------------------------------------------------- */

/* Workers work as the user of database_url, which should be the
 * application role (it logs in as itself: no SET ROLE that a RESET ROLE
 * would undo). A superuser could rewrite the audit log unseen by the
 * grants: say so once. */
static void check_role(sb_engine_t *e) {
  static atomic_int warned;
  char su[8] = "";
  int found = 0;
  if (sb_pg_query1(e->pg, "SELECT rolsuper FROM pg_roles WHERE rolname = "
                          "current_user",
                   0, NULL, su, sizeof su, &found, NULL, NULL) == 0 &&
      strcmp(su, "t") == 0 && atomic_exchange(&warned, 1) == 0)
    sb_log(SB_LOG_WARN, "engine", "working as a PostgreSQL superuser: give "
                                  "workers the application role's URL "
                                  "(switchboard_app) instead",
           SB_F_STR("processor", e->vt->name), SB_F_END);
}

static int connect_pg(sb_engine_t *e, sb_err_t *err) {
  return sb_pg_connect(e->c->database_url, &e->pg, err);
}

static int setup(sb_engine_t *e, sb_err_t *err) {
  char errstr[512];
  int rc = sb_pg_connect(e->c->database_url, &e->pg, err);
  if (rc != 0)
    return rc;
  if (e->o.rebuild_schema == NULL) {
    if ((rc = sb_engine_ensure_live(e->pg, e->vt, err)) != 0 ||
        (rc = load_live(e, err)) != 0)
      return rc;
  }
  check_role(e);
  if ((rc = e->vt->init(&e->state, err)) != 0) {
    sb_err_prefix(err, "processor %s, in init: ", e->vt->name);
    return rc;
  }
  if ((rc = sb_codec_new(e->schemas, &e->codec, err)) != 0 ||
      (rc = sb_producer_new(e->c, &e->producer, err)) != 0)
    return rc;
  rd_kafka_conf_t *conf = sb_kafka_conf_new(e->c, err);
  if (conf == NULL)
    return err->code;
  /* what the engine's guarantees rest on: not overridable */
  static const char *const fixed[][2] = {
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "true"},
  };
  /* defaults an operator may override with kafka.*: a killed worker's
   * partitions move on after 10 s rather than librdkafka's 45 s; the
   * prefetch queue holds 16 MiB rather than 64 (over 5M events: the same
   * throughput, the worker's RSS flat at 136-147 MiB instead of 179) */
  static const char *const defaults[][2] = {
      {"session.timeout.ms", "10000"},
      {"heartbeat.interval.ms", "1000"},
      {"queued.max.messages.kbytes", "16384"},
  };
  rd_kafka_conf_set(conf, "group.id", e->kafka_group, errstr, sizeof errstr);
  for (size_t i = 0; i < SB_ARRAY_LEN(fixed); i++)
    rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], errstr, sizeof errstr);
  for (size_t i = 0; i < SB_ARRAY_LEN(defaults); i++)
    sb_kafka_conf_default(conf, e->c, defaults[i][0], defaults[i][1]);
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  rd_kafka_conf_set_opaque(conf, e);
  e->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (e->rk == NULL) {
    rd_kafka_conf_destroy(conf);
    return sb_err_set(err, SB_EKAFKA, "kafka: consumer: %s", errstr);
  }
  rd_kafka_poll_set_consumer(e->rk);
  /* which log the offsets are of, asked before any assignment */
  if ((rc = sb_durable_attach(e->c, &e->durable, err)) != 0)
    return rc;
  sb_err_t eerr = SB_ERR_INIT;
  if (sb_log_epoch(e->c, e->rk, e->epoch, sizeof e->epoch, &eerr) != 0) {
    /* offsets are then checked against the partitions' ends only */
    e->epoch[0] = '\0';
    sb_log(SB_LOG_WARN, "engine", "cannot tell which log the brokers serve; "
                                  "stored offsets are checked against the "
                                  "partitions' ends only",
           SB_F_STR("processor", e->vt->name), SB_F_STR("error", eerr.msg),
           SB_F_END);
  }
  rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(8);
  for (const char *const *t = e->vt->topics; *t; t++)
    rd_kafka_topic_partition_list_add(topics, *t, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t r = rd_kafka_subscribe(e->rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (r != RD_KAFKA_RESP_ERR_NO_ERROR)
    return sb_kafka_err(err, r, "subscribing");
  return 0;
}

static int run_loop(sb_engine_t *e, sb_err_t *err) {
  int backoff_ms = 100;
  while (!atomic_load(&e->stop)) {
    int rc = 0;
    if (e->pending_assign != NULL) {
      if (e->pg == NULL || sb_pg_exec(e->pg, "SELECT 1", 0, NULL, NULL) != 0) {
        sb_pg_close(e->pg);
        e->pg = NULL;
        connect_pg(e, err);
        sb_err_clear(err);
      }
      if (e->pg != NULL && assign(e, e->pending_assign, err) == 0) {
        drop_pending(e);
        backoff_ms = 100;
      } else if (e->pg != NULL && !err->retriable) {
        return err->code;
      } else {
        sb_err_clear(err);
        usleep((useconds_t)backoff_ms * 1000);
        backoff_ms = backoff_ms < 2000 ? backoff_ms * 2 : 2000;
        continue;
      }
    }
    if (sb_now_ms() - e->lag_at >= 1000)
      refresh_lag(e);
    rd_kafka_message_t *m = rd_kafka_consumer_poll(e->rk, 50);
    if (m != NULL) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        tp_t *t = find_tp(e, rd_kafka_topic_name(m->rkt), m->partition, 0);
        if (t) {
          t->eof = 1;
          if (t->next < 0)
            t->next = m->offset;
        }
      } else if (m->err) {
        sb_log(SB_LOG_WARN, "engine", rd_kafka_message_errstr(m),
               SB_F_STR("processor", e->vt->name), SB_F_END);
      } else if (isolating(e)) {
        /* one event a batch, until past the batch that failed */
        rc = handle(e, m, err);
        if (rc == 0 && e->pending > 0)
          rc = commit_batch(e, err);
        if (rc != 0 && !err->retriable && is_data_error(err)) {
          char why[SB_ERR_MSG_MAX];
          snprintf(why, sizeof why, "%s", err->msg);
          sb_err_clear(err);
          rc = skip_poison(e, m, why, err);
        }
      } else {
        rc = handle(e, m, err);
      }
      rd_kafka_message_destroy(m);
    }
    if (rc == 0 && e->pending > 0 &&
        (e->pending >= e->c->batch_max_events ||
         sb_now_ms() - e->opened >= e->c->batch_max_ms || m == NULL))
      rc = commit_batch(e, err);
    if (rc != 0)
      close_batch(e); /* the processor's abort follows, in reseek */
    if (rc != 0 && !err->retriable && is_data_error(err) && !isolating(e)) {
      /* some event of the batch cannot be written: find it by replaying
       * the batch one event at a time */
      sb_log(SB_LOG_WARN, "engine", "batch failed in commit; replaying it one "
                                    "event at a time to find the event",
             SB_F_STR("processor", e->vt->name), SB_F_STR("error", err->msg),
             SB_F_END);
      for (size_t i = 0; i < e->ntp; i++)
        if (e->tps[i].assigned && e->tps[i].next > e->tps[i].isolate_end)
          e->tps[i].isolate_end = e->tps[i].next;
      sb_err_clear(err);
      if (reseek(e, err) != 0)
        return err->code;
      continue;
    }
    if (rc != 0) {
      if (!err->retriable)
        return rc; /* a bug or bad configuration: stop loudly */
      sb_log(SB_LOG_WARN, "engine", "batch failed; replaying it from the "
                                    "stored offsets",
             SB_F_STR("processor", e->vt->name), SB_F_STR("error", err->msg),
             SB_F_INT("retry_in_ms", backoff_ms), SB_F_END);
      usleep((useconds_t)backoff_ms * 1000);
      backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
      sb_err_clear(err);
      if (sb_pg_exec(e->pg, "SELECT 1", 0, NULL, NULL) != 0) {
        sb_pg_close(e->pg); /* reconnect */
        e->pg = NULL;
        if (connect_pg(e, err) != 0) {
          sb_err_clear(err);
          continue;
        }
      }
      if (reseek(e, err) != 0)
        sb_err_clear(err);
      continue;
    }
    backoff_ms = 100;
    if (e->pending == 0)
      publish(e, 0);
    if (e->o.stop_at_end && e->pending == 0 && all_at_end(e))
      break;
  }
  int rc = e->pending > 0 ? commit_batch(e, err) : 0;
  if (rc == 0)
    publish(e, 1);
  return rc;
}

static void *worker(void *arg) {
  sb_engine_t *e = arg;
  sb_err_t err = SB_ERR_INIT;
  int rc = setup(e, &err);
  if (rc == 0)
    rc = run_loop(e, &err);
  drop_pending(e);
  if (e->rk != NULL) {
    rd_kafka_consumer_close(e->rk); /* revokes: commits what is pending */
    rd_kafka_destroy(e->rk);
    e->rk = NULL;
  }
  if (rc != 0 && e->err.code == 0)
    e->err = err;
  if (e->err.code != 0)
    sb_log(SB_LOG_ERROR, "engine", e->err.msg, SB_F_STR("processor", e->vt->name),
           SB_F_END);
  atomic_store(&e->done, 1);
  return NULL;
}

int sb_engine_start(const sb_conf_t *c, const sb_schemas_t *schemas,
                    const sb_engine_opts_t *opts, sb_engine_t **out,
                    sb_err_t *err) {
  *out = NULL;
  if (sb_processor_check(opts->vt, err) != 0)
    return err->code;
  sb_engine_t *e = calloc(1, sizeof *e);
  if (e == NULL || (e->tps = calloc(MAX_TP, sizeof *e->tps)) == NULL) {
    free(e);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  e->batch_events.bounds = batch_bounds;
  e->batch_events.n = SB_ARRAY_LEN(batch_bounds);
  e->commit_seconds.bounds = commit_bounds;
  e->commit_seconds.n = SB_ARRAY_LEN(commit_bounds);
  e->c = c;
  e->schemas = schemas;
  e->o = *opts;
  e->vt = opts->vt;
  e->batch.e = e;
  snprintf(e->schema, sizeof e->schema, "%s",
           opts->rebuild_schema ? opts->rebuild_schema : e->vt->name);
  if (opts->rebuild_group) {
    snprintf(e->kafka_group, sizeof e->kafka_group, "%s", opts->rebuild_group);
    snprintf(e->offsets_group, sizeof e->offsets_group, "%s", opts->rebuild_group);
  } else {
    snprintf(e->kafka_group, sizeof e->kafka_group, "switchboard.%s",
             e->vt->name);
  }
  if (pthread_create(&e->thread, NULL, worker, e) != 0) {
    free(e->tps);
    free(e);
    return sb_err_set(err, SB_EINTERNAL, "cannot start a worker thread");
  }
  e->started = 1;
  *out = e;
  return 0;
}

void sb_engine_snapshot(sb_engine_t *e, sb_engine_stats_t *out) {
  out->events = atomic_load(&e->stats.events);
  out->deadletters = atomic_load(&e->stats.deadletters);
  out->batches = atomic_load(&e->stats.batches);
  out->reseeks = atomic_load(&e->stats.reseeks);
  out->offset_resets = atomic_load(&e->stats.offset_resets);
  out->batch_events = &e->batch_events;
  out->commit_seconds = &e->commit_seconds;
}

size_t sb_engine_lags(sb_engine_t *e, sb_engine_lag_t *out, size_t cap) {
  size_t n = atomic_load(&e->ntp_seen), k = 0;
  for (size_t i = 0; i < n && k < cap; i++) {
    int64_t lag = atomic_load(&e->tps[i].lag);
    if (lag < 0)
      continue;
    out[k].topic = e->tps[i].topic;
    out[k].partition = e->tps[i].partition;
    out[k].lag = lag;
    k++;
  }
  return k;
}

const char *sb_engine_processor(const sb_engine_t *e) { return e->vt->name; }

void sb_engine_stop(sb_engine_t *e) {
  if (e)
    atomic_store(&e->stop, 1);
}

int sb_engine_done(sb_engine_t *e) { return atomic_load(&e->done); }

int sb_engine_join(sb_engine_t *e, sb_engine_stats_t *stats, sb_err_t *err) {
  if (e == NULL)
    return 0;
  if (e->started)
    pthread_join(e->thread, NULL);
  int rc = 0;
  if (e->err.code != 0)
    rc = sb_err_set(err, e->err.code, "%s", e->err.msg);
  if (stats)
    sb_engine_snapshot(e, stats);
  if (e->state)
    e->vt->destroy(e->state);
  sb_producer_free(e->producer);
  sb_codec_free(e->codec);
  sb_pg_close(e->pg);
  sb_durable_detach(e->durable);
  free(e->tps);
  free(e);
  return rc;
}
