/* The pipeline's batch: one PostgreSQL transaction holding every
 * processor's writes (a savepoint each when there are several, or while a
 * batch is replayed one record at a time), every processor's offsets in
 * one compare-and-set statement, dead letters and derived events. */
#include "sb_pipeline_int.h"

#include "sb_kafka.h"
#include "sb_log.h"
#include "sb_text.h"
#include "sb_topics.h"
#include "sb_ulid.h"
#include "sb_util.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- what a processor may ask of its batch ----------------------------- */

const char *sb_batch_schema(const sb_batch_t *b) { return b->slot->schema; }
const char *sb_batch_processor(const sb_batch_t *b) {
  return b->slot->vt->name;
}
const sb_conf_t *sb_batch_conf(const sb_batch_t *b) { return b->p->c; }

/* During event, the connection belongs to the pipeline's first processor
 * (the one flagged SB_PROCESSOR_EVENT_SQL, if any, is put first): its
 * appends stream to the server while the batch fills, inside its
 * savepoint, and it may run statements of its own (the kit ends its COPY
 * first). Another processor asking during event is a bug (its rows wait
 * for commit): the batch fails loudly. */
sb_pg_t *sb_batch_pg(sb_batch_t *b) {
  sb_pipeline_t *p = b->p;
  sb__slot_t *s = b->slot;
  if (p->phase != SB__PHASE_EVENT)
    return p->pg;
  if (s->ix != 0 && !(s->vt->flags & SB_PROCESSOR_EVENT_SQL)) {
    sb_err_set(&p->misuse, SB_EINTERNAL,
               "processor %s used the connection during event without the "
               "flag SB_PROCESSOR_EVENT_SQL (write at commit, or through "
               "sb_rows_add)",
               s->vt->name);
    return p->pg;
  }
  if (sb__kit_hold(p, s, &p->misuse) != 0)
    return p->pg;
  if (s->streaming != NULL) { /* the kit's COPY ends: one statement at a time */
    sb_rows_t *w = s->streaming;
    s->streaming = NULL;
    sb_rows_finish(w, p->pg, &p->misuse);
  }
  return p->pg;
}

/* The first processor takes the connection for the batch: its savepoint
 * opens before its first statement or COPY. */
int sb__kit_hold(sb_pipeline_t *p, sb__slot_t *s, sb_err_t *err) {
  p->owner = s;
  if (!p->use_sp || s->sp_open)
    return 0;
  char sql[64];
  snprintf(sql, sizeof sql, "SAVEPOINT sb_p%zu", s->ix);
  if (sb_pg_exec(p->pg, sql, 0, NULL, err) != 0)
    return err->code;
  s->sp_open = 1;
  return 0;
}

int sb_batch_publish_record(sb_batch_t *b, const char *topic, const char *key,
                            const void *value, size_t len, sb_err_t *err) {
  sb_pipeline_t *p = b->p;
  if (p->open || p->pending > 0)
    return sb_err_set(err, SB_ESTATE, "processor %s: publish inside a batch",
                      b->slot->vt->name);
  if (sb_producer_send(p->producer, topic, key, strlen(key), value, len, NULL,
                       0, NULL, NULL, err) != 0)
    return err->code;
  return sb_producer_flush(p->producer, p->c->kafka_timeout_ms, err);
}

/* An event's derived id: a ULID keeping the cause's time, with 80 bits from
 * SHA-256(cause id "/" processor ["/" discriminator]). */
void sb__derive_id(const char *cause, int64_t cause_us, const char *processor,
                   const char *disc, char out[SB_ULID_LEN + 1]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char seed[SB_ULID_LEN + 64 + 512];
  int n = disc && disc[0]
              ? snprintf(seed, sizeof seed, "%s/%s/%s", cause, processor, disc)
              : snprintf(seed, sizeof seed, "%s/%s", cause, processor);
  size_t len = n < 0                     ? 0
               : (size_t)n < sizeof seed ? (size_t)n
                                         : sizeof seed - 1;
  EVP_Digest(seed, len, md, &mdlen, EVP_sha256(), NULL);
  sb_ulid_make((uint64_t)(cause_us / 1000), md, out);
}

int sb_batch_emit(sb_batch_t *b, const sb_event_t *ev, cJSON *ce,
                  sb_err_t *err) {
  sb_pipeline_t *p = b->p;
  char id[SB_ULID_LEN + 1], source[96];
  sb__derive_id(ev->event_id, ev->occurred_at, b->slot->vt->name, NULL, id);
  snprintf(source, sizeof source, SB_DERIVED_SOURCE "%s", b->slot->vt->name);
  cJSON_DeleteItemFromObjectCaseSensitive(ce, "id");
  cJSON_DeleteItemFromObjectCaseSensitive(ce, "causationid");
  cJSON_DeleteItemFromObjectCaseSensitive(ce, "source");
  cJSON_AddStringToObject(ce, "source", source);
  cJSON_AddStringToObject(ce, "id", id);
  cJSON_AddStringToObject(ce, "causationid", ev->event_id);
  if (!cJSON_GetObjectItemCaseSensitive(ce, "correlationid"))
    cJSON_AddStringToObject(ce, "correlationid", ev->event_id);
  sb_record_t r;
  if (sb_codec_from_ce(p->codec, ce, 0, &r, err) != 0) {
    sb_err_prefix(err,
                  "processor %s emitted an invalid event: ", b->slot->vt->name);
    return err->code;
  }
  /* a rebuild's derived events are in the log already (sb_emit_end) */
  int rc = p->o.rebuild_schema != NULL
               ? 0
               : sb_producer_send_derived(p->producer, &r, p->txid,
                                          b->slot->vt->name, err);
  sb_record_clear(&r);
  b->slot->emitted |= rc == 0 && p->o.rebuild_schema == NULL;
  return rc;
}

/* ---- partitions ---------------------------------------------------------- */

int sb__reads(const sb__slot_t *s, const char *topic) {
  for (const char *const *t = s->vt->topics; *t; t++)
    if (strcmp(*t, topic) == 0)
      return 1;
  return 0;
}

sb__tp_t *sb__find_tp(sb_pipeline_t *p, const char *topic, int32_t partition,
                      int create) {
  /* records come in runs of one partition: the last one found first
   * (entries never move or go, so the pointer stays good) */
  sb__tp_t *last = p->last_tp;
  if (last && last->partition == partition && strcmp(last->topic, topic) == 0)
    return last;
  for (size_t i = 0; i < p->ntp; i++)
    if (p->tps[i].partition == partition && strcmp(p->tps[i].topic, topic) == 0)
      return p->last_tp = &p->tps[i];
  if (!create || p->ntp >= SB__MAX_TP)
    return NULL;
  sb__tp_t *t = &p->tps[p->ntp++];
  memset(t, 0, sizeof *t);
  snprintf(t->topic, sizeof t->topic, "%s", topic);
  t->partition = partition;
  for (size_t i = 0; i < p->n; i++) {
    t->next[i] = t->stored[i] = -1;
    atomic_store(&t->lag[i], -1);
    if (sb__reads(&p->slots[i], topic))
      t->readers |= 1u << i;
  }
  atomic_store(&p->ntp_seen, p->ntp);
  return t;
}

/* ---- dead letters -------------------------------------------------------- */

int sb__dead_letter(sb_pipeline_t *p, const rd_kafka_message_t *m,
                    uint32_t slots, const char *cls, const char *why,
                    int attempts, sb_err_t *err) {
  char part[16], off[32], att[16], processors[SB_PIPELINE_MAX * 42] = "";
  for (size_t i = 0; i < p->n; i++)
    if (slots & (1u << i)) {
      size_t used = strlen(processors);
      snprintf(processors + used, sizeof processors - used, "%s%s",
               used ? "," : "", p->slots[i].vt->name);
      atomic_fetch_add(&p->slots[i].stats.deadletters, 1);
    }
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
  h[n++] = (sb_header_t){"sb-processor", processors, -1};
  rd_kafka_headers_t *orig = NULL;
  if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char *name;
    const void *val;
    size_t len;
    for (size_t i = 0; n < SB_ARRAY_LEN(h) &&
                       rd_kafka_header_get_all(orig, i, &name, &val, &len) == 0;
         i++)
      if (strncmp(name, "sb-source-", 10) != 0 &&
          strncmp(name, "sb-error", 8) != 0)
        h[n++] = (sb_header_t){name, val, (ssize_t)len};
  }
  sb_log(SB_LOG_WARN, "engine", "record sent to sb.deadletter",
         SB_F_STR("processor", processors),
         SB_F_STR("topic", rd_kafka_topic_name(m->rkt)),
         SB_F_INT("partition", m->partition), SB_F_INT("offset", m->offset),
         SB_F_STR("class", cls), SB_F_STR("error", why), SB_F_END);
  return sb_producer_send(p->producer, SB_TOPIC_DEADLETTER, m->key, m->key_len,
                          m->payload, m->len, h, n, NULL, NULL, err);
}

int sb__dead_letter_timer(sb_pipeline_t *p, const sb__slot_t *s,
                          const sb_timer_t *t, const char *why, int attempts,
                          sb_err_t *err) {
  char part[16], due[32], att[16];
  snprintf(part, sizeof part, "%d", t->partition);
  snprintf(due, sizeof due, "%lld", (long long)t->due_us);
  snprintf(att, sizeof att, "%d", attempts);
  atomic_fetch_add(&((sb__slot_t *)s)->stats.deadletters, 1);
  cJSON *o = cJSON_CreateObject();
  if (o == NULL || !cJSON_AddStringToObject(o, "timer_key", t->key) ||
      !cJSON_AddStringToObject(o, "processor", s->vt->name) ||
      !cJSON_AddStringToObject(o, "topic", t->topic) ||
      !cJSON_AddNumberToObject(o, "partition", t->partition) ||
      !cJSON_AddNumberToObject(o, "due_us", (double)t->due_us) ||
      !cJSON_AddStringToObject(o, "kind",
                               t->kind == SB_TIMER_EVENT ? "event" : "wall")) {
    cJSON_Delete(o);
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  }
  char *val = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (val == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  sb_header_t h[] = {
      {"sb-source-topic", t->topic, -1},   {"sb-source-partition", part, -1},
      {"sb-error-class", "timer", -1},     {"sb-error", why, -1},
      {"sb-attempts", att, -1},            {"sb-processor", s->vt->name, -1},
      {"sb-timer-key", t->key, -1},        {"sb-timer-due", due, -1},
  };
  sb_log(SB_LOG_WARN, "engine", "timer sent to sb.deadletter",
         SB_F_STR("processor", s->vt->name), SB_F_STR("topic", t->topic),
         SB_F_INT("partition", t->partition), SB_F_STR("key", t->key),
         SB_F_INT("due_us", t->due_us), SB_F_STR("error", why), SB_F_END);
  int rc = sb_producer_send(p->producer, SB_TOPIC_DEADLETTER, t->key,
                            strlen(t->key), val, strlen(val), h,
                            SB_ARRAY_LEN(h), NULL, NULL, err);
  free(val);
  return rc;
}

/* ---- the transaction ----------------------------------------------------- */

/* The offsets that moved since PostgreSQL last had them, of every
 * processor, in one statement (arrays unnested), in the open transaction:
 * a batch costs one round trip for its offsets. Each row is a
 * compare-and-set on the offset this pipeline read: a row another writer
 * moved (or created) meanwhile fails the batch, which is re-read from what
 * is stored. */
void sb__offs_add(sb__offs_t *o, const char *group, const char *topic,
                  int32_t partition, int64_t next, int64_t prev) {
  sb_text_t *all[] = {&o->g, &o->t, &o->p, &o->o, &o->prev};
  if (o->n == 0)
    for (size_t k = 0; k < SB_ARRAY_LEN(all); k++)
      sb_text_add(all[k], "{");
  char num[32];
  sb_text_pg_elem(&o->g, group);
  sb_text_pg_elem(&o->t, topic);
  snprintf(num, sizeof num, "%d", partition);
  sb_text_pg_elem(&o->p, num);
  snprintf(num, sizeof num, "%lld", (long long)next);
  sb_text_pg_elem(&o->o, num);
  snprintf(num, sizeof num, "%lld", (long long)prev);
  sb_text_pg_elem(&o->prev, num);
  o->n++;
}

int sb__offs_store(sb_pipeline_t *p, sb__offs_t *o, size_t *matched,
                   sb_err_t *err) {
  sb_text_t *all[] = {&o->g, &o->t, &o->p, &o->o, &o->prev};
  int rc = 0, failed = 0;
  char count[32] = "";
  int found = 0;
  *matched = 0;
  for (size_t k = 0; o->n > 0 && k < SB_ARRAY_LEN(all); k++) {
    sb_text_add(all[k], "}");
    failed |= all[k]->failed;
  }
  if (failed)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  else if (o->n > 0)
    rc = sb_pg_query1(
        p->pg,
        "WITH u AS (SELECT * FROM unnest($2::text[], $3::text[], $4::int[], "
        "$5::bigint[], $6::bigint[]) AS u(g, t, p, o, prev)), "
        "up AS (UPDATE sb.consumer_offsets c SET next_offset = u.o, "
        "log_epoch = NULLIF($1, ''), updated_at = now() FROM u WHERE "
        "u.prev >= 0 AND c.consumer_group = u.g AND c.topic = u.t AND "
        "c.partition = u.p AND c.next_offset = u.prev RETURNING 1), "
        "ins AS (INSERT INTO sb.consumer_offsets (consumer_group, topic, "
        "partition, next_offset, log_epoch) SELECT u.g, u.t, u.p, u.o, "
        "NULLIF($1, '') FROM u WHERE u.prev < 0 ON CONFLICT DO NOTHING "
        "RETURNING 1) "
        "SELECT (SELECT count(*) FROM up) + (SELECT count(*) FROM ins)",
        6,
        (const char *const[]){p->epoch, o->g.s, o->t.s, o->p.s, o->o.s,
                              o->prev.s},
        count, sizeof count, &found, NULL, err);
  if (rc == 0)
    *matched = (size_t)atoll(count);
  for (size_t k = 0; k < SB_ARRAY_LEN(all); k++)
    sb_text_free(all[k]);
  o->n = 0;
  return rc;
}

/* The derived events of each processor whose part commits count: the
 * batch's transaction id and the processor, with it. */
static int record_emitted(sb_pipeline_t *p, sb_err_t *err) {
  sb_text_t em = {0};
  size_t nem = 0;
  sb_text_add(&em, "{");
  for (size_t s = 0; s < p->n; s++)
    if (p->slots[s].emitted && !p->slots[s].failed) {
      sb_text_pg_elem(&em, p->slots[s].vt->name);
      nem++;
    }
  sb_text_add(&em, "}");
  int rc = 0;
  if (em.failed)
    rc = sb_err_set(err, SB_ENOMEM, "out of memory");
  else if (nem > 0)
    rc = sb_pg_exec(p->pg,
                    "INSERT INTO sb.emitted_batches (txid, processor) "
                    "SELECT pg_current_xact_id(), unnest($1::text[])",
                    1, (const char *const[]){em.s}, err);
  sb_text_free(&em);
  return rc;
}

static int upsert_offsets(sb_pipeline_t *p, sb_err_t *err) {
  int rc = record_emitted(p, err);
  if (rc != 0)
    return rc;
  sb__offs_t o = {0};
  for (size_t i = 0; i < p->ntp; i++) {
    sb__tp_t *t = &p->tps[i];
    if (!t->assigned)
      continue;
    for (size_t s = 0; s < p->n; s++)
      if ((t->readers & (1u << s)) && !p->slots[s].failed && t->next[s] >= 0 &&
          t->next[s] != t->stored[s])
        sb__offs_add(&o, p->slots[s].offsets_group, t->topic, t->partition,
                     t->next[s], t->stored[s]);
  }
  size_t moved = o.n, matched = 0;
  rc = sb__offs_store(p, &o, &matched, err);
  if (rc == 0 && matched != moved) {
    rc = sb_err_set(err, SB_EBUSY,
                    "another worker stored offsets of these processors "
                    "meanwhile (%zu of %zu rows were as this one read them: "
                    "a second process with another processor list, or a "
                    "partition that moved); the batch is dropped and read "
                    "again from the stored offsets",
                    moved - matched, moved);
    err->retriable = true;
  }
  return rc;
}

/* On the embedded broker: the offsets about to be stored pass only records
 * its journal has on disk, so that a restart never finds the projection
 * ahead of the log. */
static int wait_durable(sb_pipeline_t *p, sb_err_t *err) {
  if (p->durable == NULL)
    return 0;
  for (size_t i = 0; i < p->ntp; i++) {
    sb__tp_t *t = &p->tps[i];
    if (!t->assigned)
      continue;
    int64_t hi = -1;
    for (size_t s = 0; s < p->n; s++)
      if ((t->readers & (1u << s)) && t->next[s] != t->stored[s] &&
          t->next[s] > hi)
        hi = t->next[s];
    if (hi > 0 && sb_durable_wait(p->durable, t->topic, t->partition, hi,
                                  p->c->kafka_timeout_ms, err) != 0) {
      err->retriable = true; /* the batch is replayed, loudly, until it is */
      return err->code;
    }
  }
  return 0;
}

/* After a COMMIT that carried upsert_offsets: PostgreSQL has them now. */
static void offsets_stored(sb_pipeline_t *p) {
  for (size_t i = 0; i < p->ntp; i++)
    if (p->tps[i].assigned)
      for (size_t s = 0; s < p->n; s++)
        if (!p->slots[s].failed && p->tps[i].next[s] >= 0)
          p->tps[i].stored[s] = p->tps[i].next[s];
}

/* 1 when a replay swapped a projection since we last looked; its slot's
 * live group and generation are reloaded. */
static int generation_moved(sb_pipeline_t *p, sb_err_t *err) {
  if (p->o.rebuild_schema != NULL)
    return 0;
  sb_text_t names = {0};
  sb_text_add(&names, "{");
  for (size_t i = 0; i < p->n; i++)
    sb_text_pg_elem(&names, p->slots[i].vt->name);
  sb_text_add(&names, "}");
  sb_pg_rows_t *rows = NULL;
  int rc = names.failed
               ? sb_err_set(err, SB_ENOMEM, "out of memory")
               : sb_pg_rows(p->pg,
                            "SELECT name, generation FROM "
                            "sb.processors WHERE name = ANY($1) "
                            "ORDER BY name FOR SHARE",
                            1, (const char *const[]){names.s}, &rows, err);
  sb_text_free(&names);
  if (rc != 0)
    return -1;
  int moved = 0;
  for (int r = 0; r < sb_pg_rows_count(rows); r++)
    for (size_t i = 0; i < p->n; i++)
      if (strcmp(sb_pg_rows_get(rows, r, 0), p->slots[i].vt->name) == 0 &&
          atoi(sb_pg_rows_get(rows, r, 1)) != p->slots[i].generation)
        moved = 1;
  sb_pg_rows_free(rows);
  return moved;
}

void sb__close_batch(sb_pipeline_t *p) {
  if (p->open)
    sb_pg_rollback(p->pg);
  p->open = 0;
  p->txid[0] = '\0';
  p->owner = NULL;
  p->phase = SB__PHASE_IDLE;
  for (size_t i = 0; i < p->n; i++) {
    p->slots[i].sp_open = 0;
    p->slots[i].failed = 0;
    p->slots[i].events = 0;
    p->slots[i].fired = 0;
    p->slots[i].emitted = 0;
  }
}

/* Whether some processor is being handed a failed batch again one record
 * at a time. Scanned only while an isolation may be under way (set when
 * one starts, cleared by the scan that finds none): a record costs nothing
 * otherwise, however many partitions are assigned. */
int sb__isolating(sb_pipeline_t *p) {
  if (!p->isolation)
    return 0;
  for (size_t i = 0; i < p->ntp; i++) {
    const sb__tp_t *t = &p->tps[i];
    if (!t->assigned)
      continue;
    for (size_t s = 0; s < p->n; s++)
      if (t->isolate_end[s] > 0 && t->next[s] < t->isolate_end[s])
        return 1;
  }
  p->isolation = 0;
  return 0;
}

/* Opens the batch's transaction, before its first record: a processor may
 * stream rows to PostgreSQL while the batch fills (the server works while
 * this thread decodes), and a replay cannot swap a projection under it
 * (the generation rows are held FOR SHARE). *moved is set when a swap
 * happened since the last batch: the batch is not opened, the pipeline
 * continues from the new projection's offsets. */
int sb__open_batch(sb_pipeline_t *p, int *moved, sb_err_t *err) {
  *moved = 0;
  int found = 0;
  p->open = 1; /* even when the SELECT fails: rolled back by the caller */
  int rc = sb_pg_query1(p->pg, "BEGIN; SELECT pg_current_xact_id()::text", 0,
                        NULL, p->txid, sizeof p->txid, &found, NULL, err);
  if (rc != 0)
    return rc;
  p->use_sp = p->n > 1 || sb__isolating(p);
  sb_err_clear(&p->misuse);
  int m = generation_moved(p, err);
  if (m == 0)
    return sb__retention_open(p, err);
  sb__close_batch(p);
  if (m < 0)
    return err->code;
  *moved = 1;
  sb_log(SB_LOG_INFO, "engine",
         "a projection was swapped by a replay; "
         "continuing from the new offsets",
         SB_F_END);
  for (size_t i = 0; i < p->n; i++)
    if ((rc = sb__load_live(p, &p->slots[i], err)) != 0)
      return rc;
  return sb__reseek(p, err);
}

int sb__is_data_error(const sb_err_t *err) {
  return sb_err_sqlstate_is(err, "22") || sb_err_sqlstate_is(err, "23");
}

/* Processor s's part of the open batch is rolled back to its savepoint.
 * In a one-record batch that record is the poison: it goes to
 * sb.deadletter for s, and s moves past it. Otherwise s's offsets stay
 * where they are stored and the records it missed are handed to it again,
 * one per batch, after this batch commits for the others. */
int sb__slot_fail(sb_pipeline_t *p, sb__slot_t *s, const sb_err_t *why,
                  sb_err_t *err) {
  char sql[64];
  if (sb_pg_copying(p->pg))
    sb_pg_copy_abandon(p->pg);
  snprintf(sql, sizeof sql, "ROLLBACK TO SAVEPOINT sb_p%zu", s->ix);
  if (sb_pg_exec(p->pg, sql, 0, NULL, err) != 0)
    return err->code;
  s->sp_open = 0;
  s->emitted = 0; /* what it emitted in this batch does not count */
  sb__kit_abort(s);
  if (s->vt->abort)
    s->vt->abort(s->state);
  if (p->single != NULL) {
    const rd_kafka_message_t *m = p->single;
    char msg[SB_ERR_MSG_MAX + 64];
    snprintf(msg, sizeof msg, "processor %s could not commit this event: %s",
             s->vt->name, why->msg);
    /* the record stays counted as handled: s moves past it */
    s->events = 0;
    return sb__dead_letter(p, m, 1u << s->ix, "processor", msg, 1, err);
  }
  s->failed = 1;
  sb_log(SB_LOG_WARN, "engine",
         "a processor's part of the batch failed; the others commit, and "
         "the batch is handed to it again one event at a time to find the "
         "event",
         SB_F_STR("processor", s->vt->name), SB_F_STR("error", why->msg),
         SB_F_END);
  for (size_t i = 0; i < p->ntp; i++) {
    sb__tp_t *t = &p->tps[i];
    if (!t->assigned || !(t->readers & (1u << s->ix)))
      continue;
    if (t->next[s->ix] > t->isolate_end[s->ix])
      t->isolate_end[s->ix] = t->next[s->ix];
    p->isolation = 1;
    t->next[s->ix] = t->stored[s->ix];
  }
  return 0;
}

/* Processor s's commit, inside its savepoint when there is one. A data
 * error with a savepoint fails s alone; anything else fails the batch. */
static int commit_slot(sb_pipeline_t *p, sb__slot_t *s, sb_err_t *err) {
  char sql[64];
  if (p->use_sp && !s->sp_open) {
    snprintf(sql, sizeof sql, "SAVEPOINT sb_p%zu", s->ix);
    if (sb_pg_exec(p->pg, sql, 0, NULL, err) != 0)
      return err->code;
    s->sp_open = 1;
  }
  sb_err_t why = SB_ERR_INIT;
  s->batch.ev = NULL;
  s->batch.topic = NULL;
  if (sb__kit_flush(p, s, &why) != 0 ||
      (s->vt->commit && s->vt->commit(s->state, &s->batch, &why) != 0)) {
    sb_err_prefix(&why, "processor %s, in commit: ", s->vt->name);
    if (s->sp_open && sb__is_data_error(&why))
      return sb__slot_fail(p, s, &why, err);
    *err = why;
    return err->code;
  }
  if (s->sp_open) {
    snprintf(sql, sizeof sql, "RELEASE SAVEPOINT sb_p%zu", s->ix);
    if (sb_pg_exec(p->pg, sql, 0, NULL, err) != 0)
      return err->code;
    s->sp_open = 0;
  }
  return 0;
}

int sb__commit_batch(sb_pipeline_t *p, sb_err_t *err) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc;
  if (!p->open) {
    int moved;
    if ((rc = sb__open_batch(p, &moved, err)) != 0 || moved)
      return rc;
  }
  p->phase = SB__PHASE_COMMIT;
  /* the processor that used the connection during event first: its
   * savepoint is the outermost one still open */
  if (p->owner != NULL && p->owner->events + p->owner->fired > 0 &&
      !p->owner->failed && (rc = commit_slot(p, p->owner, err)) != 0)
    return rc;
  for (size_t i = 0; i < p->n; i++) {
    sb__slot_t *s = &p->slots[i];
    if (s != p->owner && s->events + s->fired > 0 && !s->failed &&
        (rc = commit_slot(p, s, err)) != 0)
      return rc;
  }
  int any_failed = 0;
  for (size_t i = 0; i < p->n; i++)
    any_failed |= p->slots[i].failed;
  rc = upsert_offsets(p, err);
  /* dead letters and derived events must be in Kafka before the offsets
   * that pass their sources are */
  if (rc == 0)
    rc = sb_producer_flush(p->producer, p->c->kafka_timeout_ms, err);
  if (rc == 0)
    rc = wait_durable(p, err);
  if (rc == 0)
    rc = sb_pg_exec(p->pg, "COMMIT", 0, NULL, err);
  if (rc != 0)
    return rc; /* the caller closes the batch and replays it */
  p->open = 0;
  offsets_stored(p);
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs =
      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  for (size_t i = 0; i < p->n; i++) {
    sb__slot_t *s = &p->slots[i];
    if (s->events + s->fired > 0 && !s->failed) {
      p->emitted_since |= s->emitted;
      sb__kit_committed(s);
      if (s->vt->committed)
        s->vt->committed(s->state);
      sb_hist_observe(&s->commit_seconds, secs);
      sb_hist_observe(&s->batch_events, (double)s->events);
      atomic_fetch_add(&s->stats.events, (unsigned long long)s->events);
      atomic_fetch_add(&s->stats.batches, 1);
    }
  }
  p->pending = 0;
  sb__close_batch(p); /* resets the batch's marks; nothing is open */
  /* offsets to Kafka as well, for lag tools (the lowest among the
   * processors); PostgreSQL stays the truth */
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
  for (size_t i = 0; i < p->ntp; i++) {
    sb__tp_t *t = &p->tps[i];
    int64_t lo = -1;
    for (size_t s = 0; t->assigned && s < p->n; s++)
      if ((t->readers & (1u << s)) && t->next[s] >= 0 &&
          (lo < 0 || t->next[s] < lo))
        lo = t->next[s];
    if (lo >= 0)
      rd_kafka_topic_partition_list_add(l, t->topic, t->partition)->offset = lo;
  }
  if (l->cnt > 0)
    rd_kafka_commit(p->rk, l, 1);
  rd_kafka_topic_partition_list_destroy(l);
  /* a processor whose part failed reads its records again, once the loop
   * is back (not inside a rebalance) */
  if (any_failed)
    p->need_reseek = 1;
  return 0;
}

/* ---- derived events counted once -------------------------------------- */

int sb_derived_committed(sb_pg_t *pg, const char *txid, const char *processor,
                         sb_err_t *err) {
  char status[32] = "", row[8];
  int found = 0, isnull = 0;
  sb_err_t e = SB_ERR_INIT;
  /* status first: a transaction seen committed has its row visible to the
   * next statement */
  if (sb_pg_query1(pg, "SELECT pg_xact_status($1::xid8)", 1,
                   (const char *const[]){txid}, status, sizeof status, &found,
                   &isnull, &e) != 0) {
    if (!sb_err_sqlstate_is(&e, "22")) {
      *err = e;
      return err->code;
    }
    status[0] = '\0'; /* an id of another cluster: the table decides */
  }
  if (strcmp(status, "in progress") == 0) {
    sb_err_set(err, SB_EBUSY,
               "the batch that emitted it (transaction %s) is "
               "in progress",
               txid);
    err->retriable = true;
    return err->code;
  }
  if (sb_pg_query1(pg,
                   "SELECT 1 FROM sb.emitted_batches WHERE txid = $1::xid8 "
                   "AND processor = $2",
                   2, (const char *const[]){txid, processor}, row, sizeof row,
                   &found, NULL, err) != 0)
    return err->code;
  return found;
}

/* The outcome of the emitting batch txid of processor, waiting while it is
 * in progress; cached. */
static int txid_committed(sb_pipeline_t *p, const char *txid,
                          const char *processor, sb_err_t *err) {
  for (size_t i = 0; i < SB_ARRAY_LEN(p->seen); i++)
    if (strcmp(p->seen[i].txid, txid) == 0 &&
        strcmp(p->seen[i].processor, processor) == 0)
      return p->seen[i].committed;
  if (p->pg_aux == NULL &&
      sb_pg_connect(p->c->database_url, &p->pg_aux, err) != 0)
    return err->code;
  long long warned = sb_now_ms();
  for (;;) {
    sb_err_t e = SB_ERR_INIT;
    int c = sb_derived_committed(p->pg_aux, txid, processor, &e);
    if (c == SB_EBUSY) {
      if (atomic_load(&p->stop))
        return sb_err_set(err, SB_EBUSY, "stopping while %s", e.msg);
      if (sb_now_ms() - warned >= 5000) {
        warned = sb_now_ms();
        sb_log(SB_LOG_WARN, "engine",
               "waiting for the batch that emitted a derived event to end",
               SB_F_STR("txid", txid), SB_F_STR("processor", processor),
               SB_F_END);
      }
      usleep(5 * 1000);
      continue;
    }
    if (c < 0) {
      *err = e;
      sb_pg_close(p->pg_aux); /* connected again at the next need */
      p->pg_aux = NULL;
      return err->code;
    }
    size_t k = p->seen_next++ % SB_ARRAY_LEN(p->seen);
    snprintf(p->seen[k].txid, sizeof p->seen[k].txid, "%s", txid);
    snprintf(p->seen[k].processor, sizeof p->seen[k].processor, "%s",
             processor);
    p->seen[k].committed = c;
    return c;
  }
}

/* The sb-txid header of m into txid; 0 when it has none (not derived). */
static int txid_of(const rd_kafka_message_t *m, char *txid, size_t cap) {
  return sb_kafka_header(m, "sb-txid", txid, cap) &&
         strspn(txid, "0123456789") == strlen(txid);
}

int sb__emitted_here(const sb_pipeline_t *p, const rd_kafka_message_t *m) {
  char txid[24];
  return p->open && txid_of(m, txid, sizeof txid) && strcmp(txid, p->txid) == 0;
}

int sb__derived_dropped(sb_pipeline_t *p, const rd_kafka_message_t *m,
                        sb_err_t *err) {
  char txid[24], by[48];
  if (!txid_of(m, txid, sizeof txid) ||
      !sb_kafka_header(m, "sb-emitted-by", by, sizeof by))
    return 0;
  int c = txid_committed(p, txid, by, err);
  if (c < 0)
    return c;
  if (c)
    return 0;
  atomic_fetch_add(&p->totals.dropped, 1);
  return 1;
}
