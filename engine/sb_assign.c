/* The pipeline's partitions: which it takes (assigned by its consumer
 * group, or all of them without one), where each processor stands on each
 * (its offsets in PostgreSQL, checked against the log; the lowest sought),
 * the processors' state for them, and what happens when they are revoked
 * or read again from the stored offsets. */
#include "sb_pipeline_int.h"

#include "sb_kafka.h"
#include "sb_log.h"
#include "sb_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- assignment -------------------------------------------------------- */

/* A stored offset that does not belong to the log as it is now (another
 * incarnation of it, or past its end) would skip new records: it is
 * reported loudly, counted, and replaced at once by the partition's start
 * in this log, where reading resumes. *offset is the offset to read from. */
static int check_offset(sb_pipeline_t *p, sb__slot_t *s, const char *topic,
                        int32_t partition, int64_t *offset,
                        const char *stored_epoch, sb_err_t *err) {
  char why[256], part[16], lo_s[32];
  int64_t lo = 0, hi = 0, stored = *offset;
  rd_kafka_resp_err_t kerr = rd_kafka_query_watermark_offsets(
      p->rk, topic, partition, &lo, &hi, p->c->kafka_timeout_ms);
  if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    sb_kafka_err(err, kerr, "reading a partition's ends");
    err->retriable = true;
    return err->code;
  }
  if (stored_epoch[0] != '\0' && p->epoch[0] != '\0' &&
      strcmp(stored_epoch, p->epoch) != 0)
    snprintf(why, sizeof why, "stored for log %s, the log is %s", stored_epoch,
             p->epoch);
  else if (stored > hi)
    snprintf(why, sizeof why, "past the partition's end, offset %lld",
             (long long)hi);
  else
    return 0;
  snprintf(part, sizeof part, "%d", partition);
  snprintf(lo_s, sizeof lo_s, "%lld", (long long)lo);
  if (sb_pg_exec(
          p->pg,
          "UPDATE sb.consumer_offsets SET next_offset = $4, log_epoch = "
          "NULLIF($5, ''), updated_at = now() WHERE consumer_group = $1 AND "
          "topic = $2 AND partition = $3",
          5,
          (const char *const[]){s->offsets_group, topic, part, lo_s, p->epoch},
          err) != 0)
    return err->code;
  atomic_fetch_add(&s->stats.offset_resets, 1);
  sb_log(SB_LOG_ERROR, "engine",
         "stored offset does not belong to this log (a new or recreated "
         "topic, or a lost embedded broker journal): reading the partition "
         "from its start so that no new event is skipped",
         SB_F_STR("processor", s->vt->name),
         SB_F_STR("group", s->offsets_group), SB_F_STR("topic", topic),
         SB_F_INT("partition", partition), SB_F_INT("stored_offset", stored),
         SB_F_STR("found", why), SB_F_INT("reading_from", lo), SB_F_END);
  *offset = lo;
  return 0;
}

/* Where processor s stands on a partition: the offset stored in
 * PostgreSQL (checked against the log), or -1 for none. */
static int stored_offset(sb_pipeline_t *p, sb__slot_t *s, const char *topic,
                         int32_t partition, int64_t *at, sb_err_t *err) {
  char part[16], row[160];
  int found = 0;
  snprintf(part, sizeof part, "%d", partition);
  *at = -1;
  if (sb_pg_query1(p->pg,
                   "SELECT next_offset || ' ' || coalesce(log_epoch, '') "
                   "FROM sb.consumer_offsets WHERE "
                   "consumer_group = $1 AND topic = $2 AND partition = $3",
                   3, (const char *const[]){s->offsets_group, topic, part}, row,
                   sizeof row, &found, NULL, err) != 0)
    return err->code;
  if (!found)
    return 0;
  int64_t v = atoll(row);
  char *sp = strchr(row, ' ');
  if (check_offset(p, s, topic, partition, &v, sp ? sp + 1 : "", err) != 0)
    return err->code;
  *at = v;
  return 0;
}

/* Each processor's keyed state and timers of the assigned partitions: one
 * load per processor and topic. */
static int load_kit(sb_pipeline_t *p, rd_kafka_topic_partition_list_t *parts,
                    sb_err_t *err) {
  int32_t *ids =
      malloc(sizeof *ids * (size_t)(parts->cnt > 0 ? parts->cnt : 1));
  if (ids == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  int rc = 0;
  for (size_t s = 0; rc == 0 && s < p->n; s++) {
    sb__slot_t *sl = &p->slots[s];
    if (sl->kstate == NULL && sl->timers == NULL)
      continue;
    for (const char *const *topic = sl->vt->topics; rc == 0 && *topic;
         topic++) {
      size_t n = 0;
      for (int i = 0; i < parts->cnt; i++)
        if (strcmp(parts->elems[i].topic, *topic) == 0)
          ids[n++] = parts->elems[i].partition;
      if (n > 0)
        rc = sb__kit_load(p, sl, *topic, ids, n, err);
    }
  }
  free(ids);
  return rc;
}

/* Sets each partition's offset to the lowest stored among the processors
 * reading it (the start when one of them has none), loads each
 * processor's state for it, and assigns. */
int sb__assign(sb_pipeline_t *p, rd_kafka_topic_partition_list_t *parts,
               sb_err_t *err) {
  for (int i = 0; i < parts->cnt; i++) {
    rd_kafka_topic_partition_t *kp = &parts->elems[i];
    sb__tp_t *t = sb__find_tp(p, kp->topic, kp->partition, 1);
    if (t == NULL)
      return sb_err_set(err, SB_EINTERNAL, "too many partitions");
    int64_t seek = -2; /* none yet */
    for (size_t s = 0; s < p->n; s++) {
      if (!(t->readers & (1u << s)))
        continue;
      int64_t at;
      if (stored_offset(p, &p->slots[s], kp->topic, kp->partition, &at, err))
        return err->code;
      t->next[s] = t->stored[s] = at;
      if (seek == -2 || (seek >= 0 && (at < 0 || at < seek)))
        seek = at;
    }
    kp->offset = seek >= 0 ? seek : RD_KAFKA_OFFSET_BEGINNING;
    t->assigned = 1;
    t->eof = 0;
    for (size_t s = 0; s < p->n; s++) {
      sb__slot_t *sl = &p->slots[s];
      if ((t->readers & (1u << s)) && sl->vt->assign &&
          sl->vt->assign(sl->state, &sl->batch, kp->topic, kp->partition,
                         err) != 0) {
        sb_err_prefix(err, "processor %s, in assign, %s[%d]: ", sl->vt->name,
                      kp->topic, kp->partition);
        return err->code;
      }
    }
  }
  if (load_kit(p, parts, err) != 0)
    return err->code;
  rd_kafka_resp_err_t r = rd_kafka_assign(p->rk, parts);
  if (r != RD_KAFKA_RESP_ERR_NO_ERROR)
    return sb_kafka_err(err, r, "assigning partitions");
  sb_log(SB_LOG_INFO, "engine", "partitions assigned",
         SB_F_STR("group", p->kafka_group), SB_F_INT("count", parts->cnt),
         SB_F_END);
  return 0;
}

/* Entries stay (unassigned): a reseek keeps what isolate_end says. */
void sb__unassign_all(sb_pipeline_t *p) {
  for (size_t i = 0; i < p->ntp; i++) {
    sb__tp_t *t = &p->tps[i];
    for (size_t s = 0; s < p->n; s++) {
      if (!t->assigned || !(t->readers & (1u << s)))
        continue;
      sb__kit_drop(&p->slots[s], t->topic, t->partition);
      if (p->slots[s].vt->revoke)
        p->slots[s].vt->revoke(p->slots[s].state, t->topic, t->partition);
    }
    t->assigned = 0;
  }
  rd_kafka_assign(p->rk, NULL);
}

void sb__drop_pending(sb_pipeline_t *p) {
  if (p->pending_assign != NULL)
    rd_kafka_topic_partition_list_destroy(p->pending_assign);
  p->pending_assign = NULL;
}

void sb__abort_all(sb_pipeline_t *p) {
  for (size_t i = 0; i < p->n; i++) {
    sb__kit_abort(&p->slots[i]);
    if (p->slots[i].vt->abort)
      p->slots[i].vt->abort(p->slots[i].state);
  }
}

/* Drops the open batch and starts again from the stored offsets, with the
 * processors' state reloaded. */
int sb__reseek(sb_pipeline_t *p, sb_err_t *err) {
  sb__abort_all(p);
  sb__close_batch(p);
  p->pending = 0;
  for (size_t i = 0; i < p->n; i++)
    atomic_fetch_add(&p->slots[i].stats.reseeks, 1);
  rd_kafka_topic_partition_list_t *cur = NULL;
  rd_kafka_resp_err_t r = rd_kafka_assignment(p->rk, &cur);
  if (r != RD_KAFKA_RESP_ERR_NO_ERROR)
    return sb_kafka_err(err, r, "reading the assignment");
  sb__unassign_all(p);
  int rc = cur->cnt > 0 ? sb__assign(p, cur, err) : 0;
  if (rc != 0 && err->retriable) { /* the loop retries it */
    for (size_t i = 0; i < p->ntp; i++)
      p->tps[i].assigned = 0;
    sb__drop_pending(p);
    p->pending_assign = cur;
    return rc;
  }
  rd_kafka_topic_partition_list_destroy(cur);
  return rc;
}

void sb__on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t kerr,
                      rd_kafka_topic_partition_list_t *parts, void *opaque) {
  (void)rk;
  sb_pipeline_t *p = opaque;
  sb_err_t err = SB_ERR_INIT;
  if (kerr == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (sb__assign(p, parts, &err) == 0)
      return;
    if (err.retriable) { /* try again from the loop, reconnecting */
      sb_log(SB_LOG_WARN, "engine",
             "cannot take the assigned partitions yet; "
             "retrying",
             SB_F_STR("group", p->kafka_group), SB_F_STR("error", err.msg),
             SB_F_END);
      for (size_t i = 0; i < p->ntp; i++)
        p->tps[i].assigned = 0;
      sb__drop_pending(p);
      p->pending_assign = rd_kafka_topic_partition_list_copy(parts);
      return;
    }
    sb_log(SB_LOG_ERROR, "engine", err.msg, SB_F_STR("group", p->kafka_group),
           SB_F_END);
    sb_err_set(&p->err, err.code, "%s", err.msg);
    atomic_store(&p->stop, 1);
    return;
  }
  sb__drop_pending(p);
  /* revoked: what was processed is committed before the partitions go */
  if (p->pending > 0 && sb__commit_batch(p, &err) != 0) {
    sb_log(SB_LOG_WARN, "engine",
           "batch dropped at revocation; it will be "
           "processed again by the new owner",
           SB_F_STR("group", p->kafka_group), SB_F_STR("error", err.msg),
           SB_F_END);
    sb__close_batch(p);
    sb__abort_all(p);
    p->pending = 0;
  }
  sb__publish(p, 1);
  sb__unassign_all(p);
  p->need_reseek = 0; /* the next assignment reads the stored offsets */
}

/* All partitions of the processors' topics, assigned without a group. */
int sb__assign_everything(sb_pipeline_t *p, sb_err_t *err) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t r =
      rd_kafka_metadata(p->rk, 1, NULL, &md, p->c->kafka_timeout_ms);
  if (r != RD_KAFKA_RESP_ERR_NO_ERROR)
    return sb_kafka_err(err, r, "reading the topics' partitions");
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
  for (int i = 0; i < md->topic_cnt; i++) {
    int wanted = 0;
    for (size_t s = 0; s < p->n; s++)
      wanted |= sb__reads(&p->slots[s], md->topics[i].topic);
    for (int k = 0; wanted && k < md->topics[i].partition_cnt; k++)
      rd_kafka_topic_partition_list_add(l, md->topics[i].topic,
                                        md->topics[i].partitions[k].id);
  }
  rd_kafka_metadata_destroy(md);
  int rc = sb__assign(p, l, err);
  rd_kafka_topic_partition_list_destroy(l);
  return rc;
}
