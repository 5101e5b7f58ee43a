#include "sb_replay.h"

#include "sb_kstate.h"
#include "sb_timers.h"

#include "sb_journal.h"

#include "sb_kafka.h"
#include "sb_log.h"
#include "sb_util.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char topic[64];
  int32_t partition;
  int64_t start; /* where the rebuild reads it from */
  int64_t lo, hi; /* the log's start and end, as last asked */
} part_t;

struct sb_replay_log_s {
  const sb_conf_t *c;
  const sb_processor_vt_t *vt;
  rd_kafka_t *rk;
  part_t *parts;
  size_t n, cap;
};

void sb_replay_log_free(sb_replay_log_t *l) {
  if (l == NULL)
    return;
  if (l->rk)
    rd_kafka_destroy(l->rk);
  free(l->parts);
  free(l);
}

static part_t *find_part(sb_replay_log_t *l, const char *topic, int32_t p) {
  for (size_t i = 0; i < l->n; i++)
    if (l->parts[i].partition == p && strcmp(l->parts[i].topic, topic) == 0)
      return &l->parts[i];
  return NULL;
}

static int reads(const sb_processor_vt_t *vt, const char *topic) {
  for (const char *const *t = vt->topics; *t; t++)
    if (strcmp(*t, topic) == 0)
      return 1;
  return 0;
}

int sb_replay_log_open(const sb_conf_t *c, const sb_processor_vt_t *vt,
                       sb_replay_log_t **out, sb_err_t *err) {
  char errstr[512];
  *out = NULL;
  sb_replay_log_t *l = calloc(1, sizeof *l);
  if (l == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  l->c = c;
  l->vt = vt;
  rd_kafka_conf_t *conf = sb_kafka_conf_new(c, err);
  int rc = conf == NULL ? err->code : 0;
  if (rc == 0 && (l->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr,
                                       sizeof errstr)) == NULL) {
    rd_kafka_conf_destroy(conf);
    rc = sb_err_set(err, SB_EKAFKA, "kafka: %s", errstr);
  }
  for (const char *const *t = vt->topics; rc == 0 && *t; t++) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(l->rk, *t, NULL);
    rd_kafka_resp_err_t kerr =
        rd_kafka_metadata(l->rk, 0, rkt, &md, c->kafka_timeout_ms);
    if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR)
      rc = sb_kafka_err(err, kerr, "reading partitions");
    else if (md->topic_cnt != 1 || md->topics[0].err)
      rc = sb_err_set(err, SB_EKAFKA, "kafka: topic %s: %s", *t,
                      rd_kafka_err2str(md->topic_cnt == 1
                                           ? md->topics[0].err
                                           : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
    for (int p = 0; rc == 0 && p < md->topics[0].partition_cnt; p++) {
      if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        part_t *np = realloc(l->parts, cap * sizeof *np);
        if (np == NULL) {
          rc = sb_err_set(err, SB_ENOMEM, "out of memory");
          break;
        }
        l->parts = np;
        l->cap = cap;
      }
      part_t *pt = &l->parts[l->n++];
      memset(pt, 0, sizeof *pt);
      snprintf(pt->topic, sizeof pt->topic, "%s", *t);
      pt->partition = md->topics[0].partitions[p].id;
    }
    if (md)
      rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
  }
  if (rc != 0) {
    sb_replay_log_free(l);
    return rc;
  }
  *out = l;
  return 0;
}

/* Asks the brokers where every partition starts and ends now. */
static int watermarks(sb_replay_log_t *l, sb_err_t *err) {
  for (size_t i = 0; i < l->n; i++) {
    part_t *p = &l->parts[i];
    rd_kafka_resp_err_t kerr = rd_kafka_query_watermark_offsets(
        l->rk, p->topic, p->partition, &p->lo, &p->hi, l->c->kafka_timeout_ms);
    if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
      sb_kafka_err(err, kerr, "reading where the log starts and ends");
      sb_err_prefix(err, "%s[%d]: ", p->topic, p->partition);
      return err->code;
    }
  }
  return 0;
}

/* Each row of sb.consumer_offsets for group, of the topics vt reads. */
typedef int (*offset_fn)(sb_replay_log_t *l, void *ctx, const char *topic,
                         int32_t partition, int64_t next, sb_err_t *err);

static int each_offset(sb_replay_log_t *l, sb_pg_t *pg, const char *group,
                       offset_fn fn, void *ctx, sb_err_t *err) {
  sb_pg_rows_t *rows = NULL;
  int rc = sb_pg_rows(pg, "SELECT topic, partition, next_offset FROM "
                          "sb.consumer_offsets WHERE consumer_group = $1 "
                          "ORDER BY 1, 2",
                      1, &group, &rows, err);
  for (int i = 0; rc == 0 && i < sb_pg_rows_count(rows); i++) {
    const char *topic = sb_pg_rows_get(rows, i, 0);
    if (reads(l->vt, topic))
      rc = fn(l, ctx, topic, (int32_t)atoi(sb_pg_rows_get(rows, i, 1)),
              atoll(sb_pg_rows_get(rows, i, 2)), err);
  }
  sb_pg_rows_free(rows);
  return rc;
}

static int note_start(sb_replay_log_t *l, void *ctx, const char *topic,
                      int32_t partition, int64_t next, sb_err_t *err) {
  (void)ctx;
  (void)err;
  part_t *p = find_part(l, topic, partition);
  if (p != NULL)
    p->start = next;
  return 0;
}

int sb_replay_log_starts(sb_replay_log_t *l, sb_pg_t *pg, const char *group,
                         sb_err_t *err) {
  for (size_t i = 0; i < l->n; i++)
    l->parts[i].start = 0;
  return each_offset(l, pg, group, note_start, NULL, err);
}

/* The live projection consumed topic[partition] up to next: the log must
 * still hold that much. */
static int live_held(sb_replay_log_t *l, void *ctx, const char *topic,
                     int32_t partition, int64_t next, sb_err_t *err) {
  (void)ctx;
  part_t *p = find_part(l, topic, partition);
  if (p == NULL && next > 0)
    return sb_err_set(err, SB_ESTATE,
                      "%s[%d] no longer exists, but the live projection has "
                      "consumed it up to offset %lld: the log is not the one "
                      "the live projection was built from (topics deleted and "
                      "created again)",
                      topic, partition, (long long)next);
  if (p != NULL && p->hi < next)
    return sb_err_set(err, SB_ESTATE,
                      "%s[%d] ends at offset %lld, but the live projection "
                      "has consumed it up to offset %lld: the log is not the "
                      "one the live projection was built from (a broker that "
                      "came back empty, or topics deleted and created again)",
                      topic, partition, (long long)p->hi, (long long)next);
  return 0;
}

/* The live offsets must belong to the incarnation of the log the rebuild
 * reads (sb.consumer_offsets.log_epoch: the embedded broker's journal epoch
 * or the cluster's id), even when that log is long enough: a log made anew
 * since (a journal moved away, a cluster replaced) holds other records at
 * the same offsets. Rows written before epochs were recorded (NULL) are
 * judged by the watermarks alone; so is every row when the brokers tell no
 * epoch. */
static int same_incarnation(sb_replay_log_t *l, sb_pg_t *pg,
                            const char *live_group, sb_err_t *err) {
  char epoch[160], stored[160];
  sb_err_t ignore = SB_ERR_INIT;
  if (sb_log_epoch(l->c, l->rk, epoch, sizeof epoch, &ignore) != 0 ||
      epoch[0] == '\0')
    return 0;
  int found = 0;
  const char *params[2] = {live_group, epoch};
  if (sb_pg_query1(pg,
                   "SELECT log_epoch FROM sb.consumer_offsets WHERE "
                   "consumer_group = $1 AND log_epoch IS NOT NULL AND "
                   "log_epoch <> $2 LIMIT 1",
                   2, params, stored, sizeof stored, &found, NULL, err) != 0)
    return err->code;
  if (!found)
    return 0;
  return sb_err_set(err, SB_ESTATE,
                    "the live projection's offsets were read from another "
                    "incarnation of the log (%s) than the one the brokers "
                    "serve now (%s): the log is not the one the live "
                    "projection was built from; nothing was rebuilt and the "
                    "live projection is unchanged",
                    stored, epoch);
}

int sb_replay_check_log(sb_replay_log_t *l, sb_pg_t *pg,
                        const char *live_group, sb_err_t *err) {
  if (watermarks(l, err) != 0)
    return err->code;
  if (each_offset(l, pg, live_group, live_held, NULL, err) != 0 ||
      same_incarnation(l, pg, live_group, err) != 0)
    return err->code;
  for (size_t i = 0; i < l->n; i++) {
    part_t *p = &l->parts[i];
    if (p->lo > p->start)
      return sb_err_set(
          err, SB_ESTATE,
          "%s[%d] now starts at offset %lld (the records before it were "
          "deleted by retention or the broker's size bound), but the rebuild "
          "must read it from offset %lld: it could not reproduce the live "
          "projection",
          p->topic, p->partition, (long long)p->lo, (long long)p->start);
  }
  return 0;
}

/* ---- the swap ---------------------------------------------------------- */

typedef struct {
  sb_pg_t *pg;
  const char *group;
  int behind;
  char where[160];
} behind_t;

/* The live projection consumed topic[partition] up to next: has the
 * rebuild? */
static int rebuild_caught_up(sb_replay_log_t *l, void *ctx, const char *topic,
                             int32_t partition, int64_t next, sb_err_t *err) {
  behind_t *b = ctx;
  part_t *p = find_part(l, topic, partition);
  char part[16], off[32];
  int found = 0;
  snprintf(part, sizeof part, "%d", partition);
  if (sb_pg_query1(b->pg, "SELECT next_offset FROM sb.consumer_offsets WHERE "
                          "consumer_group = $1 AND topic = $2 AND partition "
                          "= $3",
                   3, (const char *const[]){b->group, topic, part}, off,
                   sizeof off, &found, NULL, err) != 0)
    return err->code;
  int64_t at = found ? atoll(off) : (p ? p->start : 0);
  if (at < next && !b->behind) {
    b->behind = 1;
    snprintf(b->where, sizeof b->where, "%s[%d] at %lld of %lld", topic,
             partition, (long long)at, (long long)next);
  }
  return 0;
}

/* Closes an old generation to every role but its owner: without USAGE on
 * the schema nothing in it can be reached; the table grants go too. */
static int close_generation(sb_pg_t *pg, const char *schema, sb_err_t *err) {
  char sql[1536];
  snprintf(sql, sizeof sql,
           "DO $$DECLARE g text; BEGIN "
           "FOR g IN SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE "
           "quote_ident(pg_get_userbyid(a.grantee)) END FROM pg_namespace n, "
           "aclexplode(n.nspacl) a WHERE n.nspname = '%s' AND a.grantee <> "
           "n.nspowner LOOP "
           "EXECUTE format('REVOKE ALL ON SCHEMA %%I FROM %%s', '%s', g); "
           "EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %%I FROM %%s', "
           "'%s', g); "
           "EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA %%I FROM "
           "%%s', '%s', g); "
           "END LOOP; END$$; "
           "REVOKE ALL ON ALL TABLES IN SCHEMA %s FROM PUBLIC, switchboard_app; "
           "REVOKE ALL ON ALL FUNCTIONS IN SCHEMA %s FROM PUBLIC, "
           "switchboard_app",
           schema, schema, schema, schema, schema, schema);
  return sb_pg_exec(pg, sql, 0, NULL, err);
}

/* What must hold before a swap: the log, the rebuild caught up with the
 * live projection (else *behind), and the processor's comparison. */
static int checks(sb_replay_log_t *l, sb_pg_t *pg, const sb_replay_swap_t *s,
                  int quick, int *behind, sb_err_t *err) {
  const char *name = s->vt->name;
  if (sb_replay_check_log(l, pg, s->live_group, err) != 0)
    return err->code;
  behind_t b = {.pg = pg, .group = s->group};
  if (each_offset(l, pg, s->live_group, rebuild_caught_up, &b, err) != 0)
    return err->code;
  if (b.behind) {
    *behind = 1;
    sb_log(SB_LOG_INFO, "replay", "the live projection is ahead of the "
                                  "rebuild; rebuilding further",
           SB_F_STR("processor", name), SB_F_STR("partition", b.where),
           SB_F_END);
    return 0;
  }
  if (s->vt->same_as_live) {
    long long t0 = sb_now_ms();
    if (s->vt->same_as_live(pg, name, s->schema, s->live_group, quick,
                            err) != 0)
      return err->code;
    sb_log(SB_LOG_INFO, "replay", quick ? "the rebuild still equals the "
                                          "live projection"
                                        : "the rebuild equals the live "
                                          "projection",
           SB_F_STR("processor", name),
           SB_F_INT("check_ms", sb_now_ms() - t0), SB_F_END);
  }
  return 0;
}

/* The processor's keyed state and timers follow its tables' schema. */
static int rename_kit(sb_pg_t *pg, const char *from, const char *to,
                      sb_err_t *err) {
  if (sb_kstate_rename_schema(pg, from, to, err) != 0 ||
      sb_timers_rename_schema(pg, from, to, err) != 0)
    return err->code;
  return 0;
}

static int swap_txn(sb_replay_log_t *l, sb_pg_t *pg, const sb_replay_swap_t *s,
                    int *behind, char *dropped, size_t dropped_len,
                    sb_err_t *err) {
  const char *name = s->vt->name;
  char sql[512], gen[16];
  int found = 0;
  /* waits for live batches in flight, then holds them off */
  if (sb_pg_query1(pg, "SELECT generation FROM sb.processors WHERE name = $1 "
                       "FOR UPDATE",
                   1, &name, gen, sizeof gen, &found, NULL, err) != 0)
    return err->code;
  if (!found || atoi(gen) != s->old_gen)
    return sb_err_set(err, SB_ESTATE,
                      "generation %s of %s was swapped in while this replay "
                      "ran; run the replay again",
                      found ? gen : "(none)", name);
  if (checks(l, pg, s, 1, behind, err) != 0 || *behind)
    return err->code;
  if (s->vt->flags & SB_PROCESSOR_KEEP_GENERATIONS) {
    char old[96];
    snprintf(old, sizeof old, "%s_gen_%d", name, s->old_gen);
    if (sb_pg_query1(pg, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1,
                     (const char *const[]){old}, gen, sizeof gen, &found, NULL,
                     err) != 0)
      return err->code;
    if (found)
      return sb_err_set(err, SB_ESTATE,
                        "schema %s exists already and an old generation is "
                        "never overwritten: rename it (ALTER SCHEMA %s RENAME "
                        "TO ...) and run the replay again",
                        old, old);
    snprintf(sql, sizeof sql, "ALTER SCHEMA %s RENAME TO %s", name, old);
    if (sb_pg_exec(pg, sql, 0, NULL, err) != 0 ||
        close_generation(pg, old, err) != 0 ||
        rename_kit(pg, name, old, err) != 0)
      return err->code;
  } else {
    snprintf(dropped, dropped_len, "%s_old_g%d", name, s->old_gen);
    snprintf(sql, sizeof sql, "ALTER SCHEMA %s RENAME TO %s", name, dropped);
    if (sb_pg_exec(pg, sql, 0, NULL, err) != 0 ||
        rename_kit(pg, name, dropped, err) != 0)
      return err->code;
  }
  char gentxt[16];
  snprintf(gentxt, sizeof gentxt, "%d", s->gen);
  snprintf(sql, sizeof sql, "ALTER SCHEMA %s RENAME TO %s", s->schema, name);
  if (sb_pg_exec(pg, sql, 0, NULL, err) != 0 ||
      rename_kit(pg, s->schema, name, err) != 0 ||
      sb_pg_exec(pg, "UPDATE sb.processors SET consumer_group = $2, "
                     "generation = $3, swapped_at = now() WHERE name = $1",
                 3, (const char *const[]){name, s->group, gentxt}, err) != 0)
    return err->code;
  return 0;
}

int sb_replay_swap(sb_replay_log_t *l, sb_pg_t *pg, const sb_replay_swap_t *s,
                   int *behind, sb_err_t *err) {
  char dropped[96] = "";
  *behind = 0;
  int rc = 0;
  if (s->vt->same_as_live) {
    /* the full comparison in a snapshot, the live projection going on:
     * the swap's lock then holds it off only for the quick one */
    rc = sb_pg_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                    0, NULL, err);
    if (rc == 0)
      rc = checks(l, pg, s, 0, behind, err);
    sb_pg_exec(pg, "ROLLBACK", 0, NULL, NULL);
  }
  if (rc == 0 && !*behind)
    rc = sb_pg_exec(pg, "BEGIN", 0, NULL, err);
  if (rc == 0 && !*behind)
    rc = swap_txn(l, pg, s, behind, dropped, sizeof dropped, err);
  if (rc == 0 && !*behind)
    rc = sb_pg_exec(pg, "COMMIT", 0, NULL, err);
  if (rc != 0 || *behind) {
    sb_pg_exec(pg, "ROLLBACK", 0, NULL, NULL);
    if (rc != 0 && err->code == SB_ESTATE)
      sb_err_prefix(err, "refusing to swap the rebuilt %s projection in: ",
                    s->vt->name);
    size_t used = strlen(err->msg);
    if (rc != 0 && used < sizeof err->msg)
      snprintf(err->msg + used, sizeof err->msg - used,
               "; the live projection is unchanged, the rebuild is left in "
               "schema %s for inspection (the next replay drops it)",
               s->schema);
    return rc;
  }
  if (dropped[0]) { /* a projection that may be rebuilt at will */
    char sql[160];
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", dropped);
    /* its keyed state and timers (moved to its name at the swap) too:
     * renamed to itself, a schema's rows go (the target's own are
     * deleted first) */
    if (sb_pg_exec(pg, sql, 0, NULL, err) != 0 ||
        sb_kstate_rename_schema(pg, dropped, dropped, err) != 0 ||
        sb_timers_rename_schema(pg, dropped, dropped, err) != 0)
      sb_log(SB_LOG_WARN, "replay", "the old projection could not be dropped",
             SB_F_STR("error", err->msg), SB_F_END);
    sb_err_clear(err);
  }
  return 0;
}

/* ---- where a rebuild starts ------------------------------------------- */

int sb_replay_store_offset(sb_pg_t *pg, const char *group, const char *topic,
                        int32_t partition, int64_t offset, sb_err_t *err) {
  char part[16], off[32];
  snprintf(part, sizeof part, "%d", partition);
  snprintf(off, sizeof off, "%lld", (long long)offset);
  return sb_pg_exec(pg,
                    "INSERT INTO sb.consumer_offsets (consumer_group, topic, "
                    "partition, next_offset) VALUES ($1, $2, $3, $4)",
                    4, (const char *const[]){group, topic, part, off}, err);
}

/* --from TIME: the first offset at or after TIME in every partition. */
int sb_replay_offsets_for_time(const sb_conf_t *c, sb_pg_t *pg,
                            const sb_processor_vt_t *vt, const char *group,
                            int64_t micros, sb_err_t *err) {
  char errstr[512];
  rd_kafka_conf_t *conf = sb_kafka_conf_new(c, err);
  if (conf == NULL)
    return err->code;
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (rk == NULL) {
    rd_kafka_conf_destroy(conf);
    return sb_err_set(err, SB_EKAFKA, "kafka: %s", errstr);
  }
  int rc = 0;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(64);
  for (const char *const *t = vt->topics; *t && rc == 0; t++) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, *t, NULL);
    rd_kafka_resp_err_t kerr = rd_kafka_metadata(rk, 0, rkt, &md, c->kafka_timeout_ms);
    if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR)
      rc = sb_kafka_err(err, kerr, "reading partitions");
    for (int p = 0; rc == 0 && md && md->topic_cnt == 1 &&
                    p < md->topics[0].partition_cnt;
         p++)
      rd_kafka_topic_partition_list_add(l, *t, md->topics[0].partitions[p].id)
          ->offset = micros / 1000;
    if (md)
      rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
  }
  if (rc == 0) {
    rd_kafka_resp_err_t kerr = rd_kafka_offsets_for_times(rk, l, c->kafka_timeout_ms);
    if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR)
      rc = sb_kafka_err(err, kerr, "looking up offsets for the time");
  }
  for (int i = 0; rc == 0 && i < l->cnt; i++) {
    int64_t off = l->elems[i].offset;
    if (off < 0) { /* nothing at or after: start at the end */
      int64_t lo, hi;
      rd_kafka_query_watermark_offsets(rk, l->elems[i].topic, l->elems[i].partition,
                                       &lo, &hi, c->kafka_timeout_ms);
      off = hi;
    }
    rc = sb_replay_store_offset(pg, group, l->elems[i].topic, l->elems[i].partition, off, err);
  }
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_destroy(rk);
  return rc;
}
