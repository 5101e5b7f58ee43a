/* Global tables: a topic read in full by every instance of a processor,
 * folded by the processor's reducer into a table by key, readable from
 * every event whichever partition it came from (routing needs every agent
 * of a tenant).
 *
 * Each table lives in memory and in PostgreSQL (sb.processor_state, under
 * the processor's schema and the pseudo-topic "#global.NAME", partition
 * 0), with the offsets it has read (sb.consumer_offsets, group
 * "<processor's group>.global.NAME"), written together in one transaction:
 * a restart loads both and reads on from there, never the whole log again.
 * On start the pipeline reads each table's topic up to the high watermark
 * it had then, before its first batch; afterwards, between batches, it
 * folds what arrived, in transactions of their own. The offsets are stored
 * by compare-and-set: an instance that finds them moved by another (two
 * instances of a processor both keep the table) loads the other's and
 * reads on from there, so what is stored is always one reader's
 * consistent state. */
#include "sb_pipeline_int.h"

#include "sb_kafka.h"
#include "sb_log.h"
#include "sb_text.h"
#include "sb_topics.h"
#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GLOBAL_PART 0 /* the pseudo-partition a table's keys are kept under */

struct sb_global_s {
  sb_pipeline_t *p;
  sb__slot_t *slot; /* its processor; NULL for the pipeline's own */
  void *arg;        /* the reducer's first argument */
  const sb_global_def_t *def;
  char state_topic[80]; /* "#global.NAME" */
  char group[200];      /* its offsets' consumer group */
  sb_kstate_t *ks;
  int nparts;
  int64_t *next;   /* per partition: next offset to fold */
  int64_t *stored; /* as PostgreSQL has it (-1: no row) */
  int dirty;       /* folded records not yet stored */
};

/* ---- what a processor calls ------------------------------------------- */

int sb_global_put(sb_global_t *g, const char *key, const void *val, size_t len,
                  sb_err_t *err) {
  g->dirty = 1;
  return sb_kstate_put(g->ks, g->state_topic, GLOBAL_PART, key, val, len, err);
}

int sb_global_del(sb_global_t *g, const char *key, sb_err_t *err) {
  g->dirty = 1;
  return sb_kstate_del(g->ks, g->state_topic, GLOBAL_PART, key, err);
}

int sb_global_find(const sb_global_t *g, const char *key, const void **val,
                   size_t *len) {
  return sb_kstate_get(g->ks, g->state_topic, GLOBAL_PART, key, val, len);
}

int sb_global_get(sb_batch_t *b, const sb_global_def_t *def, const char *key,
                  const void **val, size_t *len) {
  sb__slot_t *s = b->slot;
  for (size_t i = 0; i < s->nglobals; i++)
    if (s->globals[i]->def == def)
      return sb_global_find(s->globals[i], key, val, len);
  return SB_ENOENT;
}

/* ---- storing ------------------------------------------------------------- */

/* The folded keys and the offsets, in the open transaction: the offsets by
 * compare-and-set on what this reader last stored (or loaded). 1 when
 * another reader moved them meanwhile. */
static int store(sb_global_t *g, sb_pg_t *pg, sb_err_t *err) {
  sb__offs_t o = {0};
  for (int i = 0; i < g->nparts; i++)
    if (g->next[i] >= 0 && g->next[i] != g->stored[i])
      sb__offs_add(&o, g->group, g->def->topic, i, g->next[i], g->stored[i]);
  size_t moved = o.n, matched = 0;
  if (sb__offs_store(g->p, &o, &matched, err) != 0)
    return err->code;
  if (matched != moved)
    return 1;
  return sb_kstate_flush(g->ks, pg, err);
}

/* ---- loading and reading ----------------------------------------------- */

static int load(sb_global_t *g, sb_err_t *err) {
  sb_pipeline_t *p = g->p;
  int32_t part = GLOBAL_PART;
  if (sb_kstate_load(g->ks, p->pg, g->state_topic, &part, 1, err) != 0)
    return err->code;
  for (int i = 0; i < g->nparts; i++)
    g->next[i] = g->stored[i] = -1;
  sb_pg_rows_t *rows = NULL;
  if (sb_pg_rows(p->pg,
                 "SELECT partition, next_offset FROM sb.consumer_offsets "
                 "WHERE consumer_group = $1 AND topic = $2",
                 2, (const char *const[]){g->group, g->def->topic}, &rows,
                 err) != 0)
    return err->code;
  for (int r = 0; r < sb_pg_rows_count(rows); r++) {
    int i = atoi(sb_pg_rows_get(rows, r, 0));
    if (i >= 0 && i < g->nparts)
      g->next[i] = g->stored[i] = atoll(sb_pg_rows_get(rows, r, 1));
  }
  sb_pg_rows_free(rows);
  g->dirty = 0;
  return 0;
}

/* (Re)assigns the global consumer every partition of every table, each
 * once (two tables may read one topic: two processors of the pipeline
 * listing the same table), from where the table furthest behind on it
 * stands; fold skips what a table has already read. */
static int assign_all(sb_pipeline_t *p, sb_err_t *err) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
  for (size_t k = 0; k < p->ngl; k++) {
    sb_global_t *g = p->gl[k];
    for (int i = 0; i < g->nparts; i++) {
      int64_t from = g->next[i] >= 0 ? g->next[i] : RD_KAFKA_OFFSET_BEGINNING;
      rd_kafka_topic_partition_t *tp =
          rd_kafka_topic_partition_list_find(l, g->def->topic, i);
      if (tp == NULL)
        rd_kafka_topic_partition_list_add(l, g->def->topic, i)->offset = from;
      else if (tp->offset != RD_KAFKA_OFFSET_BEGINNING &&
               (from == RD_KAFKA_OFFSET_BEGINNING || from < tp->offset))
        tp->offset = from;
    }
  }
  rd_kafka_resp_err_t r = rd_kafka_assign(p->grk, l);
  rd_kafka_topic_partition_list_destroy(l);
  return r == RD_KAFKA_RESP_ERR_NO_ERROR
             ? 0
             : sb_kafka_err(err, r, "assigning the global tables' topics");
}

/* Folds one record into every table reading its topic. */
static int fold(sb_pipeline_t *p, const rd_kafka_message_t *m, sb_err_t *err) {
  const char *topic = rd_kafka_topic_name(m->rkt);
  sb_event_t ev;
  sb_err_t why = SB_ERR_INIT;
  int decoded = -1;
  for (size_t k = 0; k < p->ngl; k++) {
    sb_global_t *g = p->gl[k];
    if (strcmp(g->def->topic, topic) != 0 || m->partition >= g->nparts ||
        (g->next[m->partition] >= 0 && m->offset < g->next[m->partition]))
      continue;
    if (decoded < 0)
      decoded = sb_codec_decode(p->codec, m->payload, m->len, &ev, &why) == 0;
    if (decoded) {
      ev.topic = topic;
      ev.partition = m->partition;
      ev.offset = m->offset;
      if (g->def->reduce(g->slot ? g->slot->state : g->arg, g, &ev, &why) !=
          0) {
        /* a reducer's refusal skips the event (it is in the dead-letter
         * topic only if the processor's own partitions reject it) */
        sb_log(SB_LOG_WARN, "engine", "global table skipped an event",
               SB_F_STR("processor", g->slot ? g->slot->vt->name : "-"),
               SB_F_STR("table", g->def->name), SB_F_STR("topic", topic),
               SB_F_INT("partition", m->partition),
               SB_F_INT("offset", m->offset), SB_F_STR("error", why.msg),
               SB_F_END);
        sb_err_clear(&why);
        if (err->code != 0)
          return err->code;
      }
    }
    g->next[m->partition] = m->offset + 1;
    g->dirty = 1;
  }
  return 0;
}

/* Stores every table that moved, in one transaction; a table whose offsets
 * another reader moved is loaded again and read on from there. */
static int store_all(sb_pipeline_t *p, sb_err_t *err) {
  int any = 0, raced = 0;
  for (size_t k = 0; k < p->ngl; k++)
    any |= p->gl[k]->dirty;
  if (!any)
    return 0;
  int rc = sb_pg_exec(p->pg, "BEGIN", 0, NULL, err);
  for (size_t k = 0; rc == 0 && k < p->ngl; k++) {
    sb_global_t *g = p->gl[k];
    if (!g->dirty)
      continue;
    int r = store(g, p->pg, err);
    if (r < 0)
      rc = r;
    raced |= r == 1;
  }
  if (rc == 0 && raced) {
    sb_pg_exec(p->pg, "ROLLBACK", 0, NULL, NULL);
    sb_log(SB_LOG_INFO, "engine",
           "a global table was stored by another "
           "reader; loading it and reading on",
           SB_F_END);
    for (size_t k = 0; k < p->ngl; k++)
      if ((rc = load(p->gl[k], err)) != 0)
        return rc;
    return assign_all(p, err);
  }
  if (rc == 0)
    rc = sb_pg_exec(p->pg, "COMMIT", 0, NULL, err);
  if (rc != 0) {
    sb_pg_rollback(p->pg);
    for (size_t k = 0; k < p->ngl; k++)
      sb_kstate_abort(p->gl[k]->ks);
    return rc;
  }
  for (size_t k = 0; k < p->ngl; k++) {
    sb_global_t *g = p->gl[k];
    if (!g->dirty)
      continue;
    sb_kstate_committed(g->ks);
    memcpy(g->stored, g->next, sizeof *g->next * (size_t)g->nparts);
    g->dirty = 0;
  }
  return 0;
}

int sb__global_poll(sb_pipeline_t *p, int max, sb_err_t *err) {
  if (p->grk == NULL)
    return 0;
  int n = 0;
  for (; n < max; n++) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(p->grk, 0);
    if (m == NULL)
      break;
    int rc = m->err ? 0 : fold(p, m, err);
    rd_kafka_message_destroy(m);
    if (rc != 0)
      return rc;
  }
  return n > 0 ? store_all(p, err) : 0;
}

/* Reads every table's topic to the high watermark it has now: the ends
 * are asked once, each (topic, partition) once however many tables read
 * it (every ask is a round trip to its broker, hundreds of ms on some). */
static int catch_up(sb_pipeline_t *p, sb_err_t *err) {
  size_t n = 0;
  for (size_t k = 0; k < p->ngl; k++)
    n += (size_t)p->gl[k]->nparts;
  int64_t *lo = calloc(n + 1, sizeof *lo), *hi = calloc(n + 1, sizeof *hi);
  int rc = lo && hi ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
  for (size_t k = 0, at = 0; rc == 0 && k < p->ngl; k++) {
    const sb_global_t *g = p->gl[k];
    for (int i = 0; rc == 0 && i < g->nparts; i++, at++) {
      size_t same = at;
      for (size_t k2 = 0, at2 = 0; k2 < k && same == at; k2++) {
        if (strcmp(p->gl[k2]->def->topic, g->def->topic) == 0 &&
            i < p->gl[k2]->nparts)
          same = at2 + (size_t)i;
        at2 += (size_t)p->gl[k2]->nparts;
      }
      if (same != at) {
        lo[at] = lo[same];
        hi[at] = hi[same];
        continue;
      }
      rd_kafka_resp_err_t r = rd_kafka_query_watermark_offsets(
          p->grk, g->def->topic, i, &lo[at], &hi[at], p->c->kafka_timeout_ms);
      if (r != RD_KAFKA_RESP_ERR_NO_ERROR)
        rc = sb_kafka_err(err, r, "reading a global table's ends");
    }
  }
  long long last_store = sb_now_ms(), quiet = sb_now_ms();
  while (rc == 0) {
    int behind = 0;
    for (size_t k = 0, at = 0; k < p->ngl; k++) {
      const sb_global_t *g = p->gl[k];
      for (int i = 0; i < g->nparts; i++, at++)
        if ((g->next[i] < 0 ? lo[at] : g->next[i]) < hi[at])
          behind = 1;
    }
    if (!behind)
      break;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(p->grk, 100);
    if (m == NULL) {
      if (sb_now_ms() - quiet > p->c->kafka_timeout_ms)
        rc = sb_err_set(err, SB_ETIMEDOUT,
                        "global tables: nothing read for %d ms before "
                        "reaching the topics' ends",
                        p->c->kafka_timeout_ms);
      continue;
    }
    quiet = sb_now_ms();
    rc = m->err ? 0 : fold(p, m, err);
    rd_kafka_message_destroy(m);
    if (rc == 0 && sb_now_ms() - last_store > 1000) {
      rc = store_all(p, err); /* progress survives a crash mid-way */
      last_store = sb_now_ms();
    }
  }
  free(lo);
  free(hi);
  return rc == 0 ? store_all(p, err) : rc;
}

/* A table reading topic (nparts partitions), kept under schema with its
 * offsets in group; appended to the pipeline's list (and slot's, if any). */
static int add_table(sb_pipeline_t *p, sb__slot_t *sl, void *arg,
                     const sb_global_def_t *d, const char *schema,
                     const char *group, int nparts, sb_err_t *err) {
  if (p->ngl >= SB_ARRAY_LEN(p->gl) ||
      (sl != NULL && sl->nglobals >= SB__MAX_GLOBALS))
    return sb_err_set(err, SB_EINVAL,
                      "processor %s declares more than %d "
                      "global tables",
                      sl ? sl->vt->name : "-", SB__MAX_GLOBALS);
  sb_global_t *g = calloc(1, sizeof *g);
  if (g == NULL || (g->next = calloc((size_t)nparts, 8)) == NULL ||
      (g->stored = calloc((size_t)nparts, 8)) == NULL) {
    if (g)
      free(g->next), free(g);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  g->p = p;
  g->slot = sl;
  g->arg = arg;
  g->def = d;
  g->nparts = nparts;
  snprintf(g->state_topic, sizeof g->state_topic, "#global.%s", d->name);
  snprintf(g->group, sizeof g->group, "%s", group);
  p->gl[p->ngl++] = g;
  if (sl != NULL)
    sl->globals[sl->nglobals++] = g;
  if (sb_kstate_new(schema, (size_t)p->c->processor_state_max_bytes, &g->ks,
                    err) != 0)
    return err->code;
  return load(g, err);
}

static int topic_partitions(const struct rd_kafka_metadata *md,
                            const char *topic) {
  for (int i = 0; i < md->topic_cnt; i++)
    if (strcmp(md->topics[i].topic, topic) == 0)
      return md->topics[i].partition_cnt;
  return 0;
}

int sb__global_setup(sb_pipeline_t *p, sb_err_t *err) {
  char errstr[512];
  rd_kafka_conf_t *conf = sb_kafka_conf_new(p->c, err);
  if (conf == NULL)
    return err->code;
  rd_kafka_conf_set(conf, "group.id", "switchboard.globals", errstr,
                    sizeof errstr);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "enable.partition.eof", "false", errstr,
                    sizeof errstr);
  sb_kafka_conf_fetch_wait(conf, p->c);
  p->grk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (p->grk == NULL) {
    rd_kafka_conf_destroy(conf);
    return sb_err_set(err, SB_EKAFKA, "kafka: global tables' consumer: %s",
                      errstr);
  }
  rd_kafka_poll_set_consumer(p->grk);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t r =
      rd_kafka_metadata(p->grk, 1, NULL, &md, p->c->kafka_timeout_ms);
  if (r != RD_KAFKA_RESP_ERR_NO_ERROR)
    return sb_kafka_err(err, r, "reading the global tables' topics");
  int rc = 0;
  /* the tenants' settings, for every processor (sb_tenant_*) */
  int nt = topic_partitions(md, SB_TOPIC_TENANTS);
  if (nt > 0) {
    char group[200];
    snprintf(group, sizeof group, "%s.tenants",
             p->o.rebuild_group ? p->o.rebuild_group : "switchboard");
    rc = add_table(p, NULL, p, &sb__tenants_def,
                   p->o.rebuild_schema ? p->o.rebuild_schema : "sb_tenants",
                   group, nt, err);
    if (rc == 0)
      p->tenants = p->gl[p->ngl - 1];
  } else {
    sb_log(SB_LOG_WARN, "engine",
           "no topic " SB_TOPIC_TENANTS ": every "
           "tenant's time zone is UTC",
           SB_F_END);
  }
  for (size_t s = 0; rc == 0 && s < p->n; s++) {
    sb__slot_t *sl = &p->slots[s];
    for (const sb_global_def_t *d = sl->vt->globals; rc == 0 && d && d->name;
         d++) {
      int nparts = topic_partitions(md, d->topic);
      char group[200];
      if (nparts <= 0) {
        rc = sb_err_set(err, SB_ENOENT,
                        "processor %s: global table %s reads "
                        "topic %s, which the brokers lack",
                        sl->vt->name, d->name, d->topic);
        break;
      }
      snprintf(group, sizeof group, "%s.global.%s", sl->offsets_group, d->name);
      rc = add_table(p, sl, NULL, d, sl->schema, group, nparts, err);
    }
  }
  rd_kafka_metadata_destroy(md);
  if (rc == 0)
    rc = assign_all(p, err);
  if (rc == 0)
    rc = catch_up(p, err);
  for (size_t k = 0; rc == 0 && k < p->ngl; k++)
    sb_log(
        SB_LOG_INFO, "engine", "global table caught up",
        SB_F_STR("processor", p->gl[k]->slot ? p->gl[k]->slot->vt->name : "-"),
        SB_F_STR("table", p->gl[k]->def->name),
        SB_F_INT("keys", (long long)sb_kstate_count(p->gl[k]->ks)), SB_F_END);
  return rc;
}

void sb__global_free(sb_pipeline_t *p) {
  for (size_t k = 0; k < p->ngl; k++) {
    sb_global_t *g = p->gl[k];
    sb_kstate_free(g->ks);
    free(g->next);
    free(g->stored);
    free(g);
  }
  p->ngl = 0;
  p->tenants = NULL;
  for (size_t s = 0; s < p->n; s++)
    p->slots[s].nglobals = 0;
  if (p->grk != NULL) {
    rd_kafka_consumer_close(p->grk);
    rd_kafka_destroy(p->grk);
    p->grk = NULL;
  }
}
